#!/bin/bash
# The introspector against the real Linux ext4 driver.  For each
# mke2fs feature set: make the file system, mount it through the plugin
# (nbdfuse + loop) with the tap recording, run a workload (creates,
# appends, overwrites, truncates, mkdir/rmdir, renames across
# directories, hard and symbolic links, chmod/chown/touch, a large
# fragmented file, thousands of files in one directory, delete and
# inode reuse), unmount, replay the trace through `blockwatch replay`,
# and rebuild the tree from the events: it must equal the final image
# (names, types, modes, owners, sizes, link counts, written content).
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 e2fsck

workload() {   # workload MOUNTPOINT
  local m=$1 i
  mkdir -p "$m/etc" "$m/var/log" "$m/home/u/docs" "$m/tmp"
  for i in $(seq 20); do echo "setting $i = $RANDOM" > "$m/etc/conf$i"; done
  head -c 300000 /dev/urandom > "$m/home/u/blob"
  sync
  # appends, overwrites, truncation and regrowth
  for i in $(seq 50); do echo "line $i" >> "$m/var/log/app.log"; done
  printf 'XXXX' | dd of="$m/home/u/blob" bs=1 seek=1000 conv=notrunc status=none
  truncate -s 100000 "$m/home/u/blob"
  truncate -s 120000 "$m/home/u/blob"
  truncate -s 5000 "$m/etc/conf3"
  sync
  # renames within and across directories, save-by-rename, links
  mv "$m/etc/conf1" "$m/etc/conf1.old"
  mv "$m/etc/conf2" "$m/home/u/docs/conf2"
  echo "new version" > "$m/etc/conf4.tmp" && mv "$m/etc/conf4.tmp" "$m/etc/conf4"
  ln "$m/etc/conf5" "$m/home/u/conf5.hard"
  ln -s ../etc/conf6 "$m/tmp/conf6.link"
  ln -s "$(printf 'x%.0s' $(seq 100))" "$m/tmp/long.link"
  mkdir "$m/tmp/gone"; rmdir "$m/tmp/gone"
  sync
  # ownership, permissions, times
  chmod 600 "$m/etc/conf7"
  chown 1234:5678 "$m/etc/conf8"
  chown 70000:80000 "$m/etc/conf9"
  touch -d '2001-02-03 04:05:06.123456789' "$m/etc/conf10"
  sync
  # a large, fragmented file: extent tree of depth >= 1
  for i in $(seq 0 2 400); do
    dd if=/dev/urandom of="$m/home/u/frag" bs=4k seek=$i count=1 conv=notrunc status=none
  done
  # preallocated (unwritten) extents, partly written; a sparse file
  fallocate -l 1M "$m/home/u/prealloc" 2>/dev/null || truncate -s 1M "$m/home/u/prealloc"  # ext2/3: no extents
  printf 'written into an unwritten extent' | dd of="$m/home/u/prealloc" bs=1 seek=5000 conv=notrunc status=none
  dd if=/dev/urandom of="$m/home/u/sparse" bs=4k seek=300 count=2 status=none
  # many files in one directory (htree), then deletes and inode reuse
  mkdir "$m/many"
  for i in $(seq 1500); do echo "$i" > "$m/many/file-$i"; done
  sync
  rm -f "$m"/many/file-1?? "$m/etc/conf11" "$m/etc/conf12"
  for i in $(seq 30); do echo "reuse $i" > "$m/tmp/reuse-$i"; done
  sync
}

mount_ro() {   # an image, read-only, without replaying any journal
  mount -o ro,loop,noload "$1" "$2" 2>/dev/null || mount -o ro,loop "$1" "$2"
  register_mount "$2"
}

run_variant() {   # run_variant NAME MKFS-OPTIONS...
  local name=$1 v=$T/$1 p=p${1//-/_}; shift
  mkdir -p "$v/mnt" "$v/base" "$v/final"
  truncate -s 256M "$v/disk.img"
  mkfs.ext4 -q -F "$@" "$v/disk.img" || fail "$name: mkfs $*"
  cp --sparse=always "$v/disk.img" "$v/base.img"
  start_proxy "$p" "$v/disk.img" tap=record:"$v/trace.bw"
  attach_loop "$p"
  mount "$LOOP" "$v/mnt"
  register_mount "$v/mnt"
  workload "$v/mnt"
  umount "$v/mnt"
  detach_loop "$p"
  stop_proxy "$p"
  e2fsck -fn "$v/disk.img" > "$v/e2fsck.log" 2>&1 || { cat "$v/e2fsck.log"; fail "$name: e2fsck"; }

  "$BW" replay --json --data=bytes:1048576 "$v/base.img" "$v/trace.bw" \
    > "$v/events.jsonl" 2> "$v/replay.err" || { cat "$v/replay.err"; fail "$name: replay failed"; }
  check_san_log "$v/replay.err"
  mount_ro "$v/base.img" "$v/base"
  mount_ro "$v/disk.img" "$v/final"
  "$BW_BUILD/tests/event-tree" --base "$v/base" --check "$v/final" \
    "$v/events.jsonl" > "$v/oracle.out" 2>&1 || { head -40 "$v/oracle.out"; fail "$name: the events do not rebuild the final tree"; }
  umount "$v/base" "$v/final"
  say "$name: $(tail -1 "$v/oracle.out")"
  # Spot checks the oracle does not make: types of events present.
  for t in create delete rename link metadata write truncate mount unmount; do
    grep -q "\"type\":\"$t\"" "$v/events.jsonl" || fail "$name: no $t event"
  done
  grep -q '"field":"mtime","old":{[^}]*},"new":{"sec":981173106,"nsec":123456789}' "$v/events.jsonl" ||
    fail "$name: the touch -d mtime change (with nanoseconds) is missing"
  grep -q '"field":"uid","old":0,"new":70000' "$v/events.jsonl" || fail "$name: 32-bit uid change missing"
}

variants=${BW_EXT4_VARIANTS:-"ext4 ext4-1k ext4-old ext4-nocsum ext4-inline ext4-metabg ext3 ext2"}
for v in $variants; do
  case $v in
    ext4)        run_variant ext4 -b 4096;;
    ext4-1k)     run_variant ext4-1k -b 1024;;
    ext4-old)    run_variant ext4-old -O ^64bit,^flex_bg,^metadata_csum;;
    ext4-nocsum) run_variant ext4-nocsum -O ^metadata_csum,^huge_file;;
    ext4-inline) run_variant ext4-inline -O inline_data;;
    ext4-metabg) run_variant ext4-metabg -O meta_bg,^resize_inode;;
    ext3)        run_variant ext3 -t ext3;;
    ext2)        run_variant ext2 -t ext2;;
  esac
done
say "ok"
