#!/bin/bash
# The tap loses records (a stalled introspector, a small buffer): the
# online introspector (blockwatch watch, reading the proxy's storage)
# turns the overflow record into an overflow event and a resync that
# re-reads the metadata from the storage, so the tree rebuilt from the
# events still converges to the final image (names, types, modes,
# owners, sizes, link counts; data written while records were lost is
# not reported, and not guessed).
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4

truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
mkdir "$T/mnt" "$T/base" "$T/final"
"$BW" watch --json --data=bytes:1048576 --once --storage "$T/disk.img" \
  "unix:$T/w.tap" > "$T/events.jsonl" 2> "$T/watch.err" &
watch_pid=$!
register_pid $watch_pid
wait_for 20 -S "$T/w.tap" || { cat "$T/watch.err"; fail "watch did not start"; }
start_proxy p "$T/disk.img" tap=unix:"$T/w.tap" tap-buffer=5M tap-overflow=drop
attach_loop p
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"

mkdir "$T/mnt/before"
for i in $(seq 20); do echo "before $i" > "$T/mnt/before/f$i"; done
sync
# The consumer stalls; the guest keeps writing far more than 5 MiB.
kill -STOP "$watch_pid"
head -c 20M /dev/urandom > "$T/mnt/big"
mkdir "$T/mnt/during"
for i in $(seq 50); do echo "during $i" > "$T/mnt/during/f$i"; done
mv "$T/mnt/before/f1" "$T/mnt/during/moved"
rm "$T/mnt/before/f2"
chmod 700 "$T/mnt/before/f3"
sync
kill -CONT "$watch_pid"
sleep 1
mkdir "$T/mnt/after"
echo "after" > "$T/mnt/after/f"
sync
umount "$T/mnt"
detach_loop p
stop_proxy p
wait $watch_pid || { cat "$T/watch.err"; fail "watch failed"; }
check_san_log "$T/watch.err"
grep -q '"type":"overflow"' "$T/events.jsonl" || fail "no overflow event"
grep -q '"type":"resync"' "$T/events.jsonl" || fail "no resync event"
mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --metadata-only --base "$T/base" --check "$T/final" \
  "$T/events.jsonl" > "$T/oracle.out" 2>&1 || { head -30 "$T/oracle.out"; fail "the tree does not converge after the resync"; }
say "$(tail -1 "$T/oracle.out")"
grep -q '"path":"/after/f"' "$T/events.jsonl" || fail "no events after the resync"
