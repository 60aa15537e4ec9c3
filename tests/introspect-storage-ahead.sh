#!/bin/bash
# Online, the storage runs ahead of the records that reach the
# introspector, further than the records it has been told of (the
# plugin announces a write after the storage has it).  A metadata
# block whose committed image has left the overlay is then read as the
# storage has it now, newer than the commits read so far; a commit read
# later must not lay its older image over it.  Files replaced by new
# ones that take their inode numbers, in the kernel's ext4 (blocks
# allocated unwritten and made written by the next transaction, the
# checkpoint writing them home), replayed with the storage N records
# ahead and the engine told of K of them: the events rebuild the final
# tree every time (a view gone back in time reported the files' data
# as zeroes).
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4

. "$(dirname "$0")/fidelity-workloads.sh"

mkdir -p "$T/mnt" "$T/base" "$T/final"
truncate -s 128M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img" || fail "mkfs"
cp --sparse=always "$T/disk.img" "$T/base.img"
start_proxy p "$T/disk.img" tap=record:"$T/trace.bw"
attach_loop p
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"
export WL_GONE=$T/gone
wl_edit "$T/mnt"
wl_reuse "$T/mnt"
umount "$T/mnt"
detach_loop p
stop_proxy p

mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
# Without read-ahead the events are held to the tree strictly.  With
# it, events of inconsistent order (a link of a name that exists) are
# a known, separate limit of --ahead even when the engine is told of
# every record; what this test holds is the content: no write that did
# not happen.
for nk in 0:0 16:4 16:8 24:6 24:12 32:8; do
  n=${nk%:*} k=${nk#*:}
  "$BW" replay --json --data=bytes:1048576 --ahead "$n" --known "$k" \
    "$T/base.img" "$T/trace.bw" > "$T/events.$n.$k" 2> "$T/replay.err" ||
    { cat "$T/replay.err"; fail "replay --ahead $n --known $k failed"; }
  check_san_log "$T/replay.err"
  ok=true
  "$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" \
    "$T/events.$n.$k" > "$T/oracle.$n.$k" 2>&1 || ok=false
  grep -q '^event-tree: ' "$T/oracle.$n.$k" || { cat "$T/oracle.$n.$k"; fail "event-tree failed"; }
  if grep -q '^MISMATCH ' "$T/oracle.$n.$k" || { [ "$n" = 0 ] && ! $ok; }; then
    head -20 "$T/oracle.$n.$k"
    fail "--ahead $n --known $k: the events do not rebuild the final tree"
  fi
  say "--ahead $n --known $k: $(tail -1 "$T/oracle.$n.$k")"
done
say "ok"
