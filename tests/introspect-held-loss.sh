#!/bin/bash
# Written data past the end of a file waits for the size that covers
# it (the data reaches the disk before the inode's new size), at most
# 65,536 such writes per file system, and what is given up is said,
# never lost silently.
#  - The kernel's ext4 gets 66,000 files of one byte, then the last one
#    is appended to: the zeroes the kernel writes after each file's end
#    are not held (they used to fill the 65,536 places, and the append's
#    data was given up), so the append is a write event with its bytes,
#    nothing is lost and event-tree --strict holds the events to the
#    final tree.
#  - A writer that leaves bytes past the ends of those files (not
#    Linux's ext4, but the guest is not trusted): each is held, until
#    the limit, and the rest is given up with an overflow event whose
#    lost_writes adds up to replay --stats' held_dropped, after which
#    event-tree compares no contents (--strict: inconsistent).
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq split python3

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
# Where each file's block is, for the second part.
python3 - "$T/mnt/d" > "$T/blocks" <<'PY'
import fcntl, os, struct, sys
FIBMAP = 1
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    print(struct.unpack("i", fcntl.ioctl(fd, FIBMAP, struct.pack("i", 0)))[0])
    os.close(fd)
PY
umount "$T/mnt"
cp --sparse=always "$T/disk.img" "$T/mid.img"
head -c "$(stat -c %s "$T/trace.bw")" "$T/trace.bw" > "$T/mid.bw"

# --- the kernel's writes: nothing given up, the append reported.
"$BW" replay --json --stats --data=bytes:1048576 "$T/base.img" "$T/mid.bw" \
  > "$T/mid.jsonl" 2> "$T/mid.err" || { cat "$T/mid.err"; fail "replay failed"; }
check_san_log "$T/mid.err"
grep -q 'held_dropped=0 ' "$T/mid.err" || { tail -1 "$T/mid.err"; fail "held writes were given up"; }
jq -c --arg p "/d/$last" 'select(.type == "write" and .path == $p and .offset == 1)' \
  "$T/mid.jsonl" > "$T/append.json"
[ -s "$T/append.json" ] || fail "no write event for the append to /d/$last"
[ "$(jq -r '.data | @base64d' "$T/append.json" | head -1)" = "appended" ] ||
  fail "the append's write event does not carry its bytes: $(head -c 300 "$T/append.json")"
mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/mid.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" "$T/mid.jsonl" \
  > "$T/mid-tree.out" 2>&1 || { tail -20 "$T/mid-tree.out"; fail "event-tree --strict on the kernel's writes"; }
umount "$T/final"
say "66,000 small files and an append: nothing held in vain, the append reported"

# --- bytes past every file's end: held up to the limit, the rest said.
python3 - "$LOOP" "$T/blocks" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for line in open(sys.argv[2]):
    os.pwrite(fd, b"Z", int(line) * 1024 + 512)
os.fsync(fd)
os.close(fd)
PY
detach_loop p
stop_proxy p
"$BW" replay --json --stats --data=bytes:1048576 "$T/base.img" "$T/trace.bw" \
  > "$T/events.jsonl" 2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay failed"; }
check_san_log "$T/replay.err"
dropped=$(sed -n 's/^stats: .*held_dropped=\([0-9]*\).*/\1/p' "$T/replay.err")
[ "${dropped:-0}" -gt 0 ] || { tail -1 "$T/replay.err"; fail "no held write was given up: the test does not test"; }
said=$(jq -s '[.[] | select(.type == "overflow") | .lost_writes // 0] | add // 0' "$T/events.jsonl")
[ "$said" = "$dropped" ] || fail "$dropped held writes given up, overflow events say $said"
bad=$(jq -s '[.[] | select(.type == "overflow" and (.lost_writes // 0) > 0) |
  select((.part | type) != "number" or ((.detail // "") | length) == 0)] | length' "$T/events.jsonl")
[ "$bad" = 0 ] || fail "$bad overflow events of lost writes without their partition or detail"

mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --base "$T/base" --check "$T/final" "$T/events.jsonl" \
  > "$T/tree.out" 2>&1 || { tail -20 "$T/tree.out"; fail "event-tree after the loss"; }
grep -q "writes lost: contents are not compared" "$T/tree.out" || fail "event-tree did not take the loss"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" "$T/events.jsonl" \
  > "$T/strict.out" 2>&1 && fail "event-tree --strict took a loss as consistent"
grep -q "^INCONSISTENT .*overflow" "$T/strict.out" || { tail "$T/strict.out"; fail "--strict: no inconsistent overflow"; }
say "$dropped held writes given up, said by overflow events"
say "ok"
