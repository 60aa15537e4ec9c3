#!/bin/bash
# Faults of the introspector, through the whole appliance (blockwatchd,
# a 5 MiB tap buffer that drops when full, MQTT/TLS to mosquitto, a
# tenant's persistent QoS 1 subscription), while the kernel's ext4
# writes through the disk:
#  - the introspector is killed (-9) while the broker is away and the
#    guest idle, with events it made and could not deliver: the next run
#    begins with an overflow (the run mark its predecessor left);
#  - the introspector is killed (-9) mid-workload and blockwatchd starts
#    it again: the guest's writes are intact, the new run begins with an
#    overflow and a resync, and from a snapshot after it the tenant's
#    events rebuild the tree exactly;
#  - the introspector is stopped (SIGSTOP) while the guest writes far
#    more than the tap buffer (and fio verifies a file): the tap drops,
#    the guest never waits and its data is intact, the overflow events
#    count exactly the records the plugin dropped, and across the resync
#    the tenant's tree converges to the final image (metadata; the data
#    written while records were lost is not reported);
#  - every event the introspectors made reached the tenant in order, or
#    its loss is covered by an overflow event (check_gaps).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/faults-lib.sh"

fault_broker
tenant
new_disk a
fault_config -- "$(fault_disk a "" "tap-buffer = 5M
tap-overflow = drop")"
start_daemon a
mount_disk a
mkdir "$T/a.mnt/before" "$T/a.mnt/during" "$T/a.mnt/stopped" "$T/a.mnt/after"
for i in $(seq 20); do echo "before $i" > "$T/a.mnt/before/f$i"; done
sync
head -c 1M /dev/urandom > "$T/src"

# --- killed while the broker is away and the guest idle.
stop_broker
until_metric 20 'blockwatch_mqtt_connected{disk="a"}' 0
mkdir "$T/a.mnt/idle"
for i in $(seq 10); do echo "idle $i" > "$T/a.mnt/idle/f$i"; done
# Frozen: the guest writes nothing at all until the next run is up, so
# the plugin has no record from before its crawl to tell it of a loss.
fsfreeze -f "$T/a.mnt"
sleep 1.2
until_metric 30 'blockwatch_tap_buffer_used_bytes{disk="a"}' 0
for _ in $(seq 50); do
  [ "$(metric 'blockwatch_mqtt_queued_messages{disk="a"}')" -gt 0 ] && break
  sleep 0.1
done
[ "$(metric 'blockwatch_mqtt_queued_messages{disk="a"}')" -gt 0 ] || fail "the bridge holds no events"
intro=$(pid_of a introspector)
kill -9 "$intro"
until_metric 30 'blockwatch_restarts_total{disk="a",process="introspector"}' 1
until_metric 30 'blockwatch_introspector_crawling{disk="a"}' 0
start_broker "${BROKER_DB[@]}"
until_metric 30 'blockwatch_mqtt_connected{disk="a"}' 1
fsfreeze -u "$T/a.mnt"
settle a
[[ "$(received a | run_types 2)" == overflow* ]] || fail "the run after the idle kill: $(received a | run_types 2 | cut -c1-80), not an overflow first"
grep -q "an earlier run did not deliver every event" "$T/daemon.log" || fail "the new run does not say why"
say "introspector killed with events undelivered: the next run begins with an overflow"

# --- killed (-9) while the guest writes.
intro=$(pid_of a introspector)
paced_writer "$T/a.mnt/during" 12
sleep 0.6
kill -9 "$intro"
wait $writer || fail "the guest's writes failed while the introspector was down"
until_metric 30 'blockwatch_restarts_total{disk="a",process="introspector"}' 2
until_metric 30 'blockwatch_introspector_crawling{disk="a"}' 0
until_metric 30 'blockwatch_mqtt_connected{disk="a"}' 1
[ "$(pid_of a introspector)" != "$intro" ] || fail "the introspector has its old pid"
settle a
check_written "$T/a.mnt/during" 12
# The new run says what it could not see, first.
[[ "$(received a | run_types 3)" == overflow*resync* ]] ||
  fail "the restarted introspector: $(received a | run_types 3 | cut -c1-80), not an overflow first and a resync"
say "introspector killed: the new run begins with an overflow and a resync"
snapshot a killed

# --- stopped while the guest writes more than the tap holds.
dropped0=$(metric 'blockwatch_tap_dropped_records_total{disk="a"}')
lost0=$(tap_overflows a)
intro=$(pid_of a introspector)
kill -STOP "$intro"
start=$(date +%s%N)
head -c 12M /dev/urandom > "$T/big"
cp "$T/big" "$T/a.mnt/stopped/big"
fio_verify "$T/a.mnt/stopped/fio.dat" 8M
for i in $(seq 30); do echo "stopped $i" > "$T/a.mnt/stopped/f$i"; done
mv "$T/a.mnt/before/f1" "$T/a.mnt/stopped/moved"
rm "$T/a.mnt/before/f2"
chmod 700 "$T/a.mnt/before/f3"
sync
took=$(( ($(date +%s%N) - start) / 1000000 ))
sleep 1
kill -CONT "$intro"
say "introspector stopped: the guest wrote 20 MiB and fio verified 8 MiB in $took ms"
settle a
dropped=$(( $(metric 'blockwatch_tap_dropped_records_total{disk="a"}') - dropped0 ))
[ "$dropped" -gt 0 ] || fail "the tap dropped nothing: the test did not overflow it"
read -r n0 l0 <<< "$lost0"
read -r n1 l1 <<< "$(tap_overflows a)"
[ $((n1 - n0)) -ge 1 ] && [ $((l1 - l0)) = "$dropped" ] ||
  fail "the plugin dropped $dropped records; $((n1 - n0)) overflow events said $((l1 - l0))"
received a | tail -n +$(( $(cat "$T/a-killed.at") + 1 )) | jq -r .type | grep_all -qx resync ||
  fail "no resync after the overflow"
[ "$(pid_of a introspector)" = "$intro" ] || fail "the stopped introspector was restarted"
say "tap overflow: $dropped records dropped, reported by $((n1 - n0)) overflow events"
snapshot a stopped

# --- afterwards, events are whole again.
mkdir "$T/a.mnt/after/d"
for i in $(seq 10); do echo "after $i" > "$T/a.mnt/after/d/f$i"; done
mv "$T/a.mnt/during/s1" "$T/a.mnt/after/moved"
rm "$T/a.mnt/during/f2"
head -c 300k /dev/urandom > "$T/a.mnt/after/blob"
umount_disk a
settle a
check_gaps a
check_tree a killed --metadata-only
check_tree a stopped
# What reached the storage is what the guest wrote.
mount -o ro,loop "$T/a.img" "$T/a.mnt"
for i in $(seq 3 12); do cmp "$T/src" "$T/a.mnt/during/f$i" || fail "during/f$i differs"; done
cmp "$T/big" "$T/a.mnt/stopped/big" || fail "stopped/big differs"
umount "$T/a.mnt"
stop_daemon
check_san_log "$T/mosquitto.log"
say "ok"
