#!/bin/bash
# A file system the kernel was using when its export went away (the
# proxy killed, no unmount: committed transactions still only in the
# journal, needs_recovery set) is seen by the introspector's bootstrap
# as the kernel sees it after its replay: `blockwatch crawl --list` of
# the image must list exactly what e2fsck's replay of a copy of it
# holds (mounted, listed with find: every name, type, mode, owner,
# size and link count).  With --no-journal the same crawl must differ
# (the journal was not empty: the test is not vacuous).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 e2fsck dumpe2fs

# find's view of a mounted tree, in crawl --list's words (sorted).
find_list() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %U %G %s %n /%P\n') | awk '
    BEGIN { t["f"] = "file"; t["d"] = "dir"; t["l"] = "symlink"; t["c"] = "chardev"
            t["b"] = "blockdev"; t["p"] = "fifo"; t["s"] = "socket" }
    { path = $0; for (i = 0; i < 6; i++) sub(/^[^ ]+ /, "", path)
      printf "%s %04d %s %s %s %s %s\n", t[$1], $2, $3, $4, $5, $6, path }' | sort
}

crawl_list() {   # crawl_list IMAGE OUT [--no-journal]: the names, sorted
  "$BW" crawl --list "${@:3}" "$1" > "$2" 2>&1 || return 1
  sed -n 's/^list: [0-9]* //p' "$2" | sort
}

run_variant() {   # run_variant NAME MKFS-ARGS...
  local name=$1 v=$T/$1 p=p${1//-/_}
  shift
  mkdir -p "$v/mnt" "$v/e2"
  truncate -s 128M "$v/disk.img"
  mkfs.ext4 -q -F "$@" "$v/disk.img" || fail "$name: mkfs $*"
  start_proxy "$p" "$v/disk.img" tap=none
  attach_loop "$p"
  mount -o commit=1 "$LOOP" "$v/mnt"
  register_mount "$v/mnt"
  workload "$v/mnt"
  # More changes, committed by the journal but not written home (fsync
  # of a file forces the commit of its transaction and writes nothing
  # home; sync and syncfs would write the block device's dirty metadata
  # too), then the crash: the proxy dies, and nothing the kernel does
  # after reaches the image.
  mkdir "$v/mnt/late"
  for i in $(seq 40); do echo "late $i" > "$v/mnt/late/f$i"; done
  mv "$v/mnt/etc/conf13" "$v/mnt/late/moved"
  rm -f "$v/mnt/etc/conf14"
  chmod 700 "$v/mnt/late/f1"
  sync "$v/mnt/late/f1"
  kill -9 "$(eval echo "\$${p}_pid")"
  umount -l "$v/mnt"
  cp --sparse=always "$v/disk.img" "$v/crash.img"
  dumpe2fs -h "$v/crash.img" 2>/dev/null | grep_all -q '^Filesystem features:.*needs_recovery' ||
    fail "$name: the image does not need recovery: nothing to prove"

  crawl_list "$v/crash.img" "$v/crawl.err" > "$v/ours.list" || { cat "$v/crawl.err"; fail "$name: crawl failed"; }
  check_san_log "$v/crawl.err"
  grep -q '^total:.* journal_txns=[1-9]' "$v/crawl.err" ||
    fail "$name: the crawl did not take the journal's transactions: $(grep -v '^list:' "$v/crawl.err")"
  crawl_list "$v/crash.img" "$v/home.err" --no-journal > "$v/home.list" || fail "$name: crawl --no-journal failed"

  cp --sparse=always "$v/crash.img" "$v/e2.img"
  e2fsck -fy "$v/e2.img" > "$v/e2fsck.log" 2>&1 || [ $? -le 1 ] || { cat "$v/e2fsck.log"; fail "$name: e2fsck"; }
  mount -o ro,loop "$v/e2.img" "$v/e2"
  register_mount "$v/e2"
  find_list "$v/e2" > "$v/e2fsck.list"
  umount "$v/e2"

  [ "$(wc -l < "$v/e2fsck.list")" -gt 1000 ] || fail "$name: the replayed image lists too little"
  diff "$v/e2fsck.list" "$v/ours.list" > "$v/diff" ||
    { head -20 "$v/diff"; fail "$name: the bootstrap's view differs from e2fsck's replay (< e2fsck, > ours)"; }
  ! diff -q "$v/e2fsck.list" "$v/home.list" > /dev/null ||
    fail "$name: without the journal the view is the same: the test proves nothing"
  say "$name: $(wc -l < "$v/ours.list") names as e2fsck's replay has them; without the journal $(diff "$v/e2fsck.list" "$v/home.list" | grep -c '^[<>]') lines differ; $(grep -o 'journal_txns=[0-9]*' "$v/crawl.err" | tail -1)"
}

run_variant ext4 -b 4096
run_variant ext4-1k-nocsum -b 1024 -O ^metadata_csum
run_variant ext3 -t ext3
say "ok"
