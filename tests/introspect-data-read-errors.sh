#!/bin/bash
# A write event whose bytes cannot be read is said, never passed off as
# a write past the end of its file.  The introspector reads the disk
# through an NBD server (nbdkit file, with the error filter failing
# every read while a file exists) and keeps only 64K of written data
# (--exact-data), so the data of a 2 MiB file written while reads fail
# must come from the storage, and cannot: its write events go without
# their bytes, and overflow events say how many (lost_writes), why, and
# of which file.  Data written before and after the failures comes with
# its bytes, and the introspector carries on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq

truncate -s 64M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
start_upstream e nbdkit -f -U "$T/e.sock" --filter=error file "$T/disk.img" \
  error-pread=EIO error-pread-rate=1 error-pread-file="$T/inject"
"$BW" watch --json --data=bytes:1048576 --once --exact-data 64K \
  --storage "nbd+unix:///?socket=$T/e.sock" "unix:$T/w.tap" \
  > "$T/events.jsonl" 2> "$T/watch.err" &
watch=$!
register_pid $watch
wait_for 30 -S "$T/w.tap" || { cat "$T/watch.err"; fail "watch did not start"; }
start_proxy w "$T/disk.img" tap=unix:"$T/w.tap"
attach_loop w
mkdir -p "$T/mnt"
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"

# saw PATTERN: within 30 s, an event line matches PATTERN.
saw() {
  for _ in $(seq 300); do
    grep_all -q "$1" "$T/events.jsonl" && return 0
    sleep 0.1
  done
  return 1
}

head -c 2M /dev/urandom > "$T/mnt/before"
sync
saw '"type":"write","path":"/before"' || fail "no write event for /before"

touch "$T/inject"
head -c 2M /dev/urandom > "$T/mnt/during"
sync
lost=0
saw '"type":"overflow".*"lost_writes"' || lost=1
rm "$T/inject"
[ $lost = 0 ] || { tail -5 "$T/watch.err"; fail "no overflow event says the data of /during could not be read"; }

head -c 1M /dev/urandom > "$T/mnt/after"
sync
umount "$T/mnt"
detach_loop w
stop_proxy w
wait $watch || { tail -20 "$T/watch.err"; fail "watch failed"; }
check_san_log "$T/watch.err"

# Every write event of /before and /after has its bytes; some of
# /during's have none, as many as the overflow events say.
for f in before after; do
  jq -s --arg p "/$f" '[.[] | select(.type == "write" and .path == $p)] |
    length > 0 and all(.data_length == .length)' "$T/events.jsonl" | grep_all -qx true ||
    fail "/$f: write events without their bytes"
done
bare=$(jq -s '[.[] | select(.type == "write" and .path == "/during" and .data_length < .length)] | length' "$T/events.jsonl")
said=$(jq -s '[.[] | select(.type == "overflow") | .lost_writes // 0] | add // 0' "$T/events.jsonl")
[ "$bare" -gt 0 ] || fail "every write event of /during has its bytes: the test does not test"
[ "$said" = "$bare" ] || fail "$bare write events of /during went without their bytes, overflow events say $said"
jq -r 'select(.type == "overflow" and .lost_writes != null) | .detail' "$T/events.jsonl" |
  grep_all -q "could not be read.*nbd:" || fail "the overflow does not say why: $(grep overflow "$T/events.jsonl")"
# Each names the file: /during, whose inode its write events have.
ino=$(jq -s '[.[] | select(.type == "write" and .path == "/during") | .inode] | unique | .[]' "$T/events.jsonl")
jq -s -e --argjson ino "$ino" '[.[] | select(.type == "overflow" and .lost_writes != null)] |
  length > 0 and all(.path == "/during" and .inode == $ino)' "$T/events.jsonl" > /dev/null ||
  fail "an overflow of unread write data does not name /during (inode $ino): $(grep overflow "$T/events.jsonl")"
say "$bare write events without their bytes, said by overflow events"
say "ok"
