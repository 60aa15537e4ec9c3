#!/bin/bash
# Written data the introspector gives up is said, never lost silently.
# Writes past the end of a file wait for the size that covers it, and
# at most 65,536 wait per file system; the tail of each file's last
# block, past its end, is one of them until the file grows.  So the
# kernel's ext4 gets 66,000 files of one byte, then one of them (the
# last made, whose held write sorts last) is appended to: its data
# reaches the disk before the inode's new size, is held, and given up.
# The replay must say so with an overflow event whose lost_writes adds
# up to replay --stats' held_dropped, after which event-tree compares
# no contents (and --strict calls the loss inconsistent); before, the
# appended bytes were simply missing from the events.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq split

truncate -s 200M "$T/disk.img"
mkfs.ext4 -q -F -b 1024 -N 70000 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
start_proxy p "$T/disk.img" tap=record:"$T/trace.bw"
attach_loop p
mkdir -p "$T/mnt" "$T/base" "$T/final"
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"
mkdir "$T/mnt/d"
head -c 66000 /dev/zero | tr '\0' x > "$T/src"
(cd "$T/mnt/d" && split -b 1 -a 5 "$T/src" f)
sync
last=$(ls "$T/mnt/d" | tail -1)
echo "appended" >> "$T/mnt/d/$last"
sync
umount "$T/mnt"
detach_loop p
stop_proxy p

"$BW" replay --json --stats --data=bytes:1048576 "$T/base.img" "$T/trace.bw" \
  > "$T/events.jsonl" 2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay failed"; }
check_san_log "$T/replay.err"
dropped=$(sed -n 's/^stats: .*held_dropped=\([0-9]*\).*/\1/p' "$T/replay.err")
[ "${dropped:-0}" -gt 0 ] || { cat "$T/replay.err"; fail "no held write was given up: the test does not test"; }
said=$(jq -s '[.[] | select(.type == "overflow") | .lost_writes // 0] | add // 0' "$T/events.jsonl")
[ "$said" = "$dropped" ] || fail "$dropped held writes given up, overflow events say $said"
jq -e 'select(.type == "overflow" and .lost_writes > 0) | .part == 0 or (.detail | length) == 0' \
  "$T/events.jsonl" > /dev/null && fail "an overflow of lost writes without its partition or detail"

mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --base "$T/base" --check "$T/final" "$T/events.jsonl" \
  > "$T/tree.out" 2>&1 || { tail -20 "$T/tree.out"; fail "event-tree after the loss"; }
grep -q "writes lost: contents are not compared" "$T/tree.out" || fail "event-tree did not take the loss"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" "$T/events.jsonl" \
  > "$T/strict.out" 2>&1 && fail "event-tree --strict took a loss as consistent"
grep -q "^INCONSISTENT .*overflow" "$T/strict.out" || { tail "$T/strict.out"; fail "--strict: no inconsistent overflow"; }
say "$dropped held writes given up, said by overflow events"
say "ok"
