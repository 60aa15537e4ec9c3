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

. "$(dirname "$0")/workload.sh"

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
  "$BW_BUILD/tests/event-tree" --strict --base "$v/base" --check "$v/final" \
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
