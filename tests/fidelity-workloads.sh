# The workloads of the end-to-end fidelity tests (fidelity-e2e-*.sh),
# one function each: wl_NAME MOUNTPOINT works in MOUNTPOINT/NAME only,
# so that the events of a workload are the events under /NAME.  Sourced
# by bash on the host (nbdfuse + loop) and by busybox sh in the QEMU
# guest, so: POSIX sh plus `local`, and commands busybox has (the
# host-only extras are behind WL_HOST=1).
#
# A name a workload makes and removes again (or renames away) before it
# ends is in neither snapshot the test compares the events with; the
# workload says so with wl_gone PATTERN (a path from the file system's
# root; '*' and '?' within a name, a trailing '/**' for everything
# below).  Any other name an event gives must be in a snapshot: events
# may describe only what happened.

wl_gone() {
  printf '%s\n' "$@" >> "${WL_GONE:?}"
}

# Many small writes into the same blocks, each made durable: a log
# appended a line at a time with an fsync (busybox and coreutils sync
# FILE), so that every line is its own journal transaction; a burst of
# lines without; a rotation (rename, a new log, the old one
# compressed); a second log kept open by one writer.
wl_log() {
  local d=$1/log i
  mkdir "$d"
  i=0
  while [ $i -lt 120 ]; do
    i=$((i + 1))
    echo "$(date '+%H:%M:%S') app[42]: request $i served in ${i}ms" >> "$d/app.log"
    sync "$d/app.log"
  done
  i=0
  while [ $i -lt 2000 ]; do
    i=$((i + 1))
    echo "debug: cache lookup $i"
  done >> "$d/app.log"
  mv "$d/app.log" "$d/app.log.1"
  echo "log reopened" > "$d/app.log"
  gzip -c "$d/app.log.1" > "$d/app.log.1.gz"
  i=0
  while [ $i -lt 200 ]; do
    i=$((i + 1))
    echo "audit $i: uid=$i op=open"
    [ $((i % 20)) -ne 0 ] || sync "$d/audit.log"
  done >> "$d/audit.log"
}

# A package install: a tar archive of thousands of files (WL_TAR)
# extracted with owners and modes, then a trigger's cache written
# beside them.
wl_pkg() {
  local d=$1/pkg
  mkdir "$d"
  tar -xf "${WL_TAR:?}" -C "$d"
  find "$d" -type f | wc -l > "$d/.files"
}

# Editors saving: write a new copy beside the file and rename it over
# (gedit, vim with backupcopy=no), keep a backup by renaming the old
# file away (emacs), keep the file's mode; a swap file made and
# removed.  Some saves fall in one journal transaction, some in
# several.
wl_edit() {
  local d=$1/edit f v
  mkdir "$d"
  for f in notes.txt main.c config.yaml; do
    echo "first version of $f" > "$d/$f"
  done
  chmod 600 "$d/config.yaml"
  sync
  v=0
  while [ $v -lt 15 ]; do
    v=$((v + 1))
    # atomic save: a temporary, then rename over the file
    { cat "$d/notes.txt"; echo "line added in save $v"; } > "$d/.notes.txt.tmp"
    mv "$d/.notes.txt.tmp" "$d/notes.txt"
    # emacs: the old file becomes the backup, the new one is written
    echo "swap $v" > "$d/.main.c.swp"
    mv "$d/main.c" "$d/main.c~"
    { cat "$d/main.c~"; echo "int f$v (void);"; } > "$d/main.c"
    rm "$d/.main.c.swp"
    # a mode kept across the rename
    { cat "$d/config.yaml"; echo "key$v: $v"; } > "$d/.config.yaml.new"
    chmod 600 "$d/.config.yaml.new"
    mv "$d/.config.yaml.new" "$d/config.yaml"
    [ $((v % 4)) -ne 0 ] || sync
  done
  wl_gone "/edit/.notes.txt.tmp" "/edit/.main.c.swp" "/edit/.config.yaml.new"
}

# Hard links: names in two directories for one inode, a third name,
# the first names removed (the inode lives on), a write through another
# name, one inode losing all its names, a symbolic link.
wl_links() {
  local d=$1/links i
  mkdir "$d" "$d/a" "$d/b"
  i=0
  while [ $i -lt 20 ]; do
    i=$((i + 1))
    echo "shared $i" > "$d/a/f$i"
    ln "$d/a/f$i" "$d/b/f$i"
  done
  sync
  i=0
  while [ $i -lt 10 ]; do
    i=$((i + 1))
    ln "$d/a/f$i" "$d/a/third$i"
  done
  rm "$d/a/f1" "$d/a/f2" "$d/a/f3" "$d/a/f4" "$d/a/f5"
  mv "$d/b/f6" "$d/b/moved6"
  echo "appended through b" >> "$d/b/f7"
  rm "$d/a/f20" "$d/b/f20"
  ln -s ../a/f8 "$d/b/sym8"
  sync
  ln "$d/b/f9" "$d/hardlink-at-top"
  rm "$d/a/f9"
  wl_gone "/links/a/f[1-5]" "/links/a/f9" "/links/a/f20" "/links/b/f20" \
          "/links/b/f6"
}

# Sparse files and preallocation: data far past holes, a file that is
# all hole, fallocate'd (unwritten) extents written into in the middle
# and at the end, preallocation past the size.  On the host, also
# fallocate's punch-hole and zero-range.
wl_sparse() {
  local d=$1/sparse
  mkdir "$d"
  head -c 4096 /dev/urandom | dd of="$d/holes" bs=4096 seek=100 conv=notrunc 2>/dev/null
  head -c 12288 /dev/urandom | dd of="$d/holes" bs=4096 seek=1000 conv=notrunc 2>/dev/null
  truncate -s 10M "$d/all-hole"
  fallocate -l 2097152 "$d/prealloc"
  printf 'written into an unwritten extent' |
    dd of="$d/prealloc" bs=1 seek=1000000 conv=notrunc 2>/dev/null
  sync
  head -c 5000 /dev/urandom | dd of="$d/prealloc" bs=1 seek=2095000 conv=notrunc 2>/dev/null
  echo "small" > "$d/grown"
  fallocate -o 65536 -l 1048576 "$d/grown"
  if [ "${WL_HOST:-0}" = 1 ]; then
    head -c 262144 /dev/urandom > "$d/punched"
    sync
    fallocate -p -o 8192 -l 65536 "$d/punched"
    head -c 262144 /dev/urandom > "$d/zeroed"
    sync
    fallocate -z -o 4000 -l 100000 "$d/zeroed"
    echo "start" > "$d/keep-size"
    fallocate -n -l 1048576 "$d/keep-size"
    echo "into the preallocation past the size" >> "$d/keep-size"
  fi
}

# Truncate and regrow: shorter, then longer within one transaction and
# across transactions (the tail must read as zeros, not the old bytes),
# cut inside a block and grown past it, emptied by O_TRUNC and
# rewritten, cut to nothing and grown again without a write.
wl_trunc() {
  local d=$1/trunc
  mkdir "$d"
  head -c 100000 /dev/urandom > "$d/a"
  head -c 100000 /dev/urandom > "$d/b"
  head -c 50000 /dev/urandom > "$d/c"
  head -c 9000 /dev/urandom > "$d/d"
  sync
  truncate -s 50000 "$d/a"
  truncate -s 80000 "$d/a"
  truncate -s 30000 "$d/b"
  sync
  truncate -s 70000 "$d/b"
  echo "after regrow" >> "$d/b"
  truncate -s 4097 "$d/c"
  truncate -s 12288 "$d/c"
  printf 'X' | dd of="$d/c" bs=1 seek=10000 conv=notrunc 2>/dev/null
  echo "rewritten from the start" > "$d/d"
  sync
  truncate -s 0 "$d/a"
  truncate -s 20000 "$d/a"
}

# Deletes and inode reuse: a tree removed, then new files that take
# the freed inodes, the same names again for new inodes, and deletes
# and creates in one transaction.
wl_reuse() {
  local d=$1/reuse i
  mkdir "$d" "$d/old" "$d/tree" "$d/tree/x" "$d/tree/x/y"
  i=0
  while [ $i -lt 100 ]; do
    i=$((i + 1))
    echo "old $i" > "$d/old/f$i"
    [ $((i % 10)) -ne 0 ] || echo "deep $i" > "$d/tree/x/y/g$i"
  done
  sync
  rm -r "$d/old" "$d/tree"
  sync
  mkdir "$d/new" "$d/old"
  i=0
  while [ $i -lt 100 ]; do
    i=$((i + 1))
    echo "new $i, another inode" > "$d/new/g$i"
  done
  echo "same name, new inode" > "$d/old/f1"
  sync
  i=0
  while [ $i -lt 30 ]; do
    i=$((i + 1))
    rm "$d/new/g$i"
    echo "replacement $i" > "$d/new/h$i"
  done
  wl_gone "/reuse/old/f*" "/reuse/tree" "/reuse/tree/**" "/reuse/new/g*"
}

# A directory of WL_BIGDIR entries (50000 by default), made by xargs
# touch (hashed-tree directory blocks split as it grows), a few
# written, every tenth removed, some renamed.
wl_bigdir() {
  local d=$1/bigdir n=${WL_BIGDIR:-50000} i
  mkdir "$d"
  (cd "$d" && seq 1 "$n" | awk '{ printf "entry-%05d\n", $1 }' | xargs touch)
  i=0
  while [ $i -lt 50 ]; do
    i=$((i + 1))
    echo "content of entry $i" > "$d/$(printf 'entry-%05d' $i)"
  done
  sync
  (cd "$d" && seq 10 10 "$n" | awk '{ printf "entry-%05d\n", $1 }' | xargs rm)
  for i in 1 2 3 4 5 6 7 8 9; do
    mv "$d/entry-0000$i" "$d/renamed-$i"
  done
  wl_gone "/bigdir/entry-????0" "/bigdir/entry-0000?"
}

# Load generators on files (host only): fio writing files at random
# with verification, stress-ng's file stressors (their files live in
# their temporary directory, which they remove).
wl_churn() {
  local d=$1/churn
  mkdir "$d"
  fio --name=churn --directory="$d" --rw=randwrite --bs=4k --size=2M \
      --numjobs=2 --ioengine=psync --fsync=32 --verify=crc32c \
      --randrepeat=0 --output=/dev/null
  stress-ng --temp-path "$d" --timeout 3 --metrics-brief --quiet \
      --hdd 1 --hdd-bytes 1M --link 1 --rename 1 --dentry 1 \
      --fallocate 1 --fallocate-bytes 1M >/dev/null
  wl_gone "/churn/tmp-stress-ng-*" "/churn/tmp-stress-ng-*/**"
}
