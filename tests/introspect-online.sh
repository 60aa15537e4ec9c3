#!/bin/bash
# The online introspector (blockwatch watch) on the plugin's live tap,
# reading the proxy's storage as it changes, with the kernel's ext4
# driver writing: the events rebuild the final tree exactly, content
# included, like the offline replay does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4

truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
mkdir "$T/mnt" "$T/base" "$T/final"
"$BW" watch --json --data=bytes:1048576 --once --storage "$T/disk.img" \
  --host lab --vm vm1 --disk d0 "unix:$T/w.tap" > "$T/events.jsonl" 2> "$T/watch.err" &
watch_pid=$!
register_pid $watch_pid
wait_for 20 -S "$T/w.tap" || { cat "$T/watch.err"; fail "watch did not start"; }
start_proxy p "$T/disk.img" tap=unix:"$T/w.tap"
attach_loop p
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"
workload "$T/mnt"
umount "$T/mnt"
detach_loop p
stop_proxy p
wait $watch_pid || { cat "$T/watch.err"; fail "watch failed"; }
check_san_log "$T/watch.err"

grep -q '"host":"lab","vm":"vm1","disk":"d0"' "$T/events.jsonl" || fail "events do not name host, vm and disk"
mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --base "$T/base" --check "$T/final" \
  "$T/events.jsonl" > "$T/oracle.out" 2>&1 || { head -30 "$T/oracle.out"; fail "the events do not rebuild the final tree"; }
say "$(tail -1 "$T/oracle.out")"
