#!/bin/bash
# The introspector's events file, while the kernel's ext4 writes:
# no event goes missing unsaid when its disk fills up and has room
# again, and none at all when logrotate rotates it.
# Full, then room again:
#  - the first event that cannot be written is said on stderr;
#  - once the file takes lines again, an overflow event stands in it
#    where the events are missing, its lost_events exactly how many
#    (the events the introspector made, less the lines of the file);
#  - the line the full disk cut short is ended: every line is JSON;
#  - the files made before and after are all there, the ones made while
#    it was full are not.
# Rotated by logrotate with the shipped configuration (create): the
# events go on in the new file within a second, the old one keeps what
# came before, and the two hold every event.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq logrotate

truncate -s 128M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
mkdir "$T/small"
mount -t tmpfs -o size=1m tmpfs "$T/small"
register_mount "$T/small"
EV=$T/small/events.jsonl

watch_mount d0 "$T/disk.img" "$EV" --data=bytes:4096 --host lab --vm vm1 \
  --disk d0 --stdout-path "$EV"

# files DIR: ten files with a line each, on disk.
files() {
  mkdir "$T/d0.mnt/$1"
  for i in $(seq 10); do echo "$1 $i" > "$T/d0.mnt/$1/f$i"; done
  sync
}
has_path() { grep -c "\"path\":\"/$1\"" "$EV" || true; }

files before
for _ in $(seq 100); do [ "$(has_path before/f10)" -ge 1 ] && break; sleep 0.1; done
[ "$(has_path before/f10)" -ge 1 ] || fail "no events before the disk filled"

dd if=/dev/zero of="$T/small/filler" bs=4k 2>/dev/null || true
files during
for _ in $(seq 100); do grep -q "events are lost until it works again" "$T/d0.watch.err" && break; sleep 0.1; done
grep -q "blockwatch: writing the events: No space left on device: events are lost until it works again" "$T/d0.watch.err" ||
  { cat "$T/d0.watch.err"; fail "the full disk was not said"; }

rm "$T/small/filler"
files after
for _ in $(seq 100); do [ "$(has_path after/f10)" -ge 1 ] && break; sleep 0.1; done
[ "$(has_path after/f10)" -ge 1 ] || { cat "$T/d0.watch.err"; fail "no events once there was room again"; }
# Rotated: the shipped configuration, for this directory and root.
sed -e "s|^/var/log/blockwatch/|$T/small/|" -e 's/blockwatch blockwatch/root root/' \
  "$BW_SRC/appliance/logrotate/blockwatch" > "$T/logrotate.conf"
grep -q "^$T/small/\*.jsonl {" "$T/logrotate.conf" || fail "the logrotate configuration names no events file"
logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" 2> "$T/logrotate.err" ||
  { cat "$T/logrotate.err"; fail "logrotate failed"; }
[ -s "$EV.1" ] && [ ! -s "$EV" ] || fail "logrotate did not rotate $EV"
sleep 1.1
files rotated
for _ in $(seq 100); do grep -q '"path":"/rotated/f10"' "$EV" && break; sleep 0.1; done
grep -q '"path":"/rotated/f10"' "$EV" || { cat "$T/d0.watch.err"; fail "no events in the new file after the rotation"; }
grep -q "blockwatch: $EV was rotated: the events go into the new file" "$T/d0.watch.err" ||
  fail "the rotation was not said"
umount "$T/d0.mnt"
detach_loop d0
stop_proxy d0
wait $watch_pid || { cat "$T/d0.watch.err"; fail "watch failed"; }
check_san_log "$T/d0.watch.err"

! grep -q '"path":"/rotated/' "$EV.1" || fail "events after the rotation went into the old file"
cat "$EV.1" "$EV" > "$T/all.jsonl"
EV=$T/all.jsonl
cp "$EV" "$T/events.jsonl"   # (kept with BW_KEEP_FAILED)
jq -e . "$EV" > /dev/null || fail "a line of the events file is not JSON"
[ "$(jq -s 'map(select(.type == "overflow")) | length' "$EV")" = 1 ] ||
  fail "not one overflow event: $(grep overflow "$EV")"
lost=$(jq -s 'map(select(.type == "overflow"))[0].lost_events' "$EV")
made=$(sed -n 's/^blockwatch watch: \([0-9]*\) events$/\1/p' "$T/d0.watch.err")
lines=$(grep -vc '"type":"overflow"' "$EV")
[ "$lost" -gt 0 ] && [ $((lines + lost)) = "$made" ] ||
  fail "$made events made, $lines in the file, the overflow says $lost missing"
grep -q "writing the events works again; $lost were lost" "$T/d0.watch.err" ||
  { cat "$T/d0.watch.err"; fail "stderr does not say the $lost lost when writing worked again"; }
grep -q "blockwatch watch: $lost events could not be written" "$T/d0.watch.err" ||
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
