#!/bin/bash
# The disk of the introspector's events file fills up while the guest
# writes, and then has room again: no event goes missing unsaid.
#  - the first event that cannot be written is said on stderr;
#  - once the file takes lines again, an overflow event stands in it
#    where the events are missing, its lost_events exactly how many
#    (the events the introspector made, less the lines of the file);
#  - the line the full disk cut short is ended: every line is JSON;
#  - the files made before and after are all there, the ones made while
#    it was full are not.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq

truncate -s 128M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
mkdir "$T/small" "$T/mnt"
mount -t tmpfs -o size=1m tmpfs "$T/small"
register_mount "$T/small"
EV=$T/small/events.jsonl

"$BW" watch --json --data=bytes:4096 --once --storage "$T/disk.img" \
  --host lab --vm vm1 --disk d0 "unix:$T/d0.tap" > "$EV" 2> "$T/watch.err" &
watch=$!
register_pid $watch
wait_for 30 -S "$T/d0.tap" || { cat "$T/watch.err"; fail "watch did not start"; }
start_proxy d0 "$T/disk.img" tap=unix:"$T/d0.tap"
attach_loop d0
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"

# files DIR: ten files with a line each, on disk.
files() {
  mkdir "$T/mnt/$1"
  for i in $(seq 10); do echo "$1 $i" > "$T/mnt/$1/f$i"; done
  sync
}
has_path() { grep -c "\"path\":\"/$1\"" "$EV" || true; }

files before
for _ in $(seq 100); do [ "$(has_path before/f10)" -ge 1 ] && break; sleep 0.1; done
[ "$(has_path before/f10)" -ge 1 ] || fail "no events before the disk filled"

dd if=/dev/zero of="$T/small/filler" bs=4k 2>/dev/null || true
files during
for _ in $(seq 100); do grep -q "events are lost until it works again" "$T/watch.err" && break; sleep 0.1; done
grep -q "blockwatch: writing the events: No space left on device: events are lost until it works again" "$T/watch.err" ||
  { cat "$T/watch.err"; fail "the full disk was not said"; }

rm "$T/small/filler"
files after
for _ in $(seq 100); do [ "$(has_path after/f10)" -ge 1 ] && break; sleep 0.1; done
[ "$(has_path after/f10)" -ge 1 ] || { cat "$T/watch.err"; fail "no events once there was room again"; }
umount "$T/mnt"
detach_loop d0
stop_proxy d0
wait $watch || { cat "$T/watch.err"; fail "watch failed"; }
check_san_log "$T/watch.err"

cp "$EV" "$T/events.jsonl"   # (kept with BW_KEEP_FAILED)
jq -e . "$EV" > /dev/null || fail "a line of the events file is not JSON"
[ "$(jq -s 'map(select(.type == "overflow")) | length' "$EV")" = 1 ] ||
  fail "not one overflow event: $(grep overflow "$EV")"
lost=$(jq -s 'map(select(.type == "overflow"))[0].lost_events' "$EV")
made=$(sed -n 's/^blockwatch watch: \([0-9]*\) events$/\1/p' "$T/watch.err")
lines=$(grep -vc '"type":"overflow"' "$EV")
[ "$lost" -gt 0 ] && [ $((lines + lost)) = "$made" ] ||
  fail "$made events made, $lines in the file, the overflow says $lost missing"
grep -q "writing the events works again; $lost were lost" "$T/watch.err" ||
  { cat "$T/watch.err"; fail "stderr does not say the $lost lost when writing worked again"; }
grep -q "blockwatch watch: $lost events could not be written" "$T/watch.err" ||
  fail "the count at exit is not $lost"
# Where: after every file made before, before every file made after.
over=$(grep -n '"type":"overflow"' "$EV" | cut -d: -f1)
for i in $(seq 10); do
  b=$(grep -n "\"path\":\"/before/f$i\"" "$EV" | head -1 | cut -d: -f1)
  a=$(grep -n "\"path\":\"/after/f$i\"" "$EV" | head -1 | cut -d: -f1)
  [ -n "$b" ] && [ "$b" -lt "$over" ] || fail "before/f$i: not before the overflow (line ${b:-none}, overflow $over)"
  [ -n "$a" ] && [ "$a" -gt "$over" ] || fail "after/f$i: not after the overflow (line ${a:-none}, overflow $over)"
done
# (The full disk's last page may have taken a few lines of the first.)
during=$(jq -r 'select(.type == "create") | .path' "$EV" | grep -c "^/during/f" || true)
[ "$during" -lt 10 ] || fail "every file made while the disk was full has its event"
say "$made events: $lines written, $lost missing where the overflow event says so"
