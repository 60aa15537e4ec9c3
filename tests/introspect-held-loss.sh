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
#    the limit, and the rest is given up with overflow events whose
#    lost_writes add up to replay --stats' held_dropped.  Each names
#    its file (inode and path), for up to 64 files a barrier: the named
#    files are exactly those whose bytes were given up, and event-tree
#    --strict compares the contents of all the others.  Past 64 files in
#    a barrier, one more event counts the writes of the rest, naming
#    none, after which event-tree compares no contents (--strict:
#    inconsistent).
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
# Each file's inode, block and name, by inode, for the second part.
python3 - "$T/mnt/d" > "$T/files" <<'PY'
import fcntl, os, struct, sys
FIBMAP = 1
d = sys.argv[1]
files = []
for name in os.listdir(d):
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    blk = struct.unpack("i", fcntl.ioctl(fd, FIBMAP, struct.pack("i", 0)))[0]
    files.append((os.fstat(fd).st_ino, blk, name))
    os.close(fd)
for f in sorted(files):
    print(*f)
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

# --- bytes past every file's end: held up to the limit, the rest given
# up, each file's loss named.  One sector a file (O_DIRECT: no other
# file's block is written again with it), past its one byte; a barrier
# (fsync) after each batch.  The 65,536 files of the lowest inodes first:
# they fill the held writes.  Then 364 files, 52 a barrier: each barrier
# gives up 52 writes, 52 files, each named by an overflow event.  Then
# the last 100 in one barrier: 64 files named, the rest counted by one
# event that names none.
cat > "$T/past-eof.py" <<'PY'
import mmap, os, sys
dev, files, first, end, batch = sys.argv[1:3] + [int(a) for a in sys.argv[3:]]
sector = mmap.mmap(-1, 512)
sector.write(b"Z")
blocks = [int(line.split()[1]) for line in open(files)][first:end]
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
for i, blk in enumerate(blocks):
    os.pwrite(fd, sector, blk * 1024 + 512)
    if (i + 1) % batch == 0 or i + 1 == len(blocks):
        os.fsync(fd)
os.close(fd)
PY
[ "$(wc -l < "$T/files")" = 66000 ] || fail "$(wc -l < "$T/files") files, not 66,000"
python3 "$T/past-eof.py" "$LOOP" "$T/files" 0 65536 65536
python3 "$T/past-eof.py" "$LOOP" "$T/files" 65536 65900 52
cp --sparse=always "$T/disk.img" "$T/named.img"
python3 "$T/past-eof.py" "$LOOP" "$T/files" 65900 66000 100
detach_loop p
stop_proxy p

"$BW" replay --json --stats --data=bytes:1048576 "$T/base.img" "$T/trace.bw" \
  > "$T/events.jsonl" 2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay failed"; }
check_san_log "$T/replay.err"
dropped=$(sed -n 's/^stats: .*held_dropped=\([0-9]*\).*/\1/p' "$T/replay.err")
[ "$dropped" = 464 ] || fail "464 writes past the ends of files beyond the 65,536 held, ${dropped:-none} given up"
{ grep '"type":"overflow"' "$T/events.jsonl" || true; } > "$T/overflows.jsonl"
said=$(jq -s '[.[] | .lost_writes // 0] | add // 0' "$T/overflows.jsonl")
[ "$said" = "$dropped" ] || fail "$dropped held writes given up, overflow events say $said"
bad=$(jq -s '[.[] | select((.lost_writes // 0) > 0) |
  select((.part | type) != "number" or ((.detail // "") | length) == 0)] | length' "$T/overflows.jsonl")
[ "$bad" = 0 ] || fail "$bad overflow events of lost writes without their partition or detail"

# named_files [SEQ]: "inode path" of each file an overflow before SEQ
# names, by inode.
named_files() {
  jq -r --argjson upto "${1:-1e300}" 'select(.seq < $upto and .inode != null) |
    "\(.inode) \(.path)"' "$T/overflows.jsonl" | sort -n
}
# given_up COUNT: "inode /d/name" of the first COUNT files past the
# 65,536 held, by inode.
given_up() {
  awk -v n="$1" 'NR > 65536 && NR <= 65536 + n { print $1, "/d/" $3 }' "$T/files"
}

# Until the last barrier (the overflow that names no file has its seq,
# and only its 64 named files' overflows share it).
last=$(jq -rs 'map(select(.lost_writes != null and .inode == null)) |
  if length == 1 and .[0].lost_writes == 36 then .[0].seq else "none" end' "$T/overflows.jsonl")
[ "$last" != none ] || fail "not one overflow for the 36 writes of files not named: $(grep -v inode "$T/overflows.jsonl")"
jq -c "select(.seq < $last)" "$T/events.jsonl" > "$T/named.jsonl"
[ "$(jq -s "map(select(.seq >= $last and .lost_writes != null)) | length" "$T/overflows.jsonl")" = 65 ] &&
  [ "$(wc -l < "$T/named.jsonl")" = $(($(wc -l < "$T/events.jsonl") - 65)) ] ||
  fail "the last barrier's events are not 65 overflows"
said=$(jq -s --argjson upto "$last" '[.[] | select(.seq < $upto) | .lost_writes // 0] | add' "$T/overflows.jsonl")
[ "$said" = 364 ] || fail "364 writes given up 52 files a barrier, overflow events say $said"
named_files "$last" > "$T/named.got"
given_up 364 > "$T/named.want"
diff "$T/named.want" "$T/named.got" > "$T/named.diff" ||
  { head "$T/named.diff"; fail "the overflow events do not name exactly the 364 files whose bytes were given up"; }
mount -o ro,loop,noload "$T/named.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" "$T/named.jsonl" \
  > "$T/named-tree.out" 2>&1 || { tail -20 "$T/named-tree.out"; fail "event-tree --strict after losses that name their files"; }
grep -q " $((66000 - 364)) contents compared, 0 mismatches" "$T/named-tree.out" ||
  { tail -1 "$T/named-tree.out"; fail "event-tree did not compare the contents of the 65,636 files that lost nothing"; }
umount "$T/final"
say "364 held writes given up, 52 files a barrier, each file named: event-tree --strict compares the other 65,636 files"

# The last barrier: 100 files, the 64 of the lowest inodes named.
named_files > "$T/events.got"
given_up 428 > "$T/events.want"
diff "$T/events.want" "$T/events.got" > "$T/events.diff" ||
  { head "$T/events.diff"; fail "the last barrier's overflow events do not name the 64 files of the lowest inodes"; }
mount -o ro,loop,noload "$T/disk.img" "$T/final"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" "$T/events.jsonl" \
  > "$T/strict.out" 2>&1 && fail "event-tree --strict took a loss of files not named as consistent"
grep -q "writes lost: contents are not compared" "$T/strict.out" || fail "event-tree did not take the loss"
grep -q "^INCONSISTENT .*overflow" "$T/strict.out" && grep -q " 0 contents compared, 0 mismatches, 1 inconsistent" "$T/strict.out" ||
  { tail "$T/strict.out"; fail "--strict: not the overflow that names no file alone inconsistent, and no contents compared"; }
say "100 more in one barrier: 64 files named, the 36 others' writes in one event, after which no content is compared"
say "ok"
