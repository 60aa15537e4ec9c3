#!/bin/bash
# blockwatchd stopped cleanly (SIGTERM) while the broker is away, under
# the whole appliance (MQTT/TLS, QoS 1, mosquitto with persistence, a
# tenant's persistent session): the bridge's `drain` (1 s) runs out and
# it drops what it held, but nothing is lost silently:
#  - the disk's run mark is in state-dir, which the stop leaves alone:
#    the next start's run begins with an overflow and a resync, and
#    every event the tenant did not receive is covered by it
#    (check_gaps);
#  - a stop with everything delivered leaves no mark: the next run
#    begins without an overflow;
#  - a disk that is no longer configured when blockwatchd starts (it was
#    removed while blockwatchd was stopped) has its state directory
#    removed, its mark with a warning; other files in state-dir stay;
#  - a mark in the disk's run directory, where blockwatchd kept it
#    before state-dir, is moved to state-dir and reported;
#  - a reload that removes a disk whose last run did not deliver
#    everything removes its state directory, with a warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/faults-lib.sh"

BRIDGE_DRAIN=1
mark=$T/state/a/introspector.undelivered
fault_broker
tenant
tenant_pid=$!
new_disk a

# write_files DIR N: N small files in the guest's DIR, synced.
write_files() {
  mkdir "$T/a.mnt/$1"
  for i in $(seq "$2"); do echo "$1 $i" > "$T/a.mnt/$1/f$i"; done
  sync
}

# held_undelivered: the broker is away and the bridge holds events the
# guest made, all of them taken from the tap.
held_undelivered() {
  sleep 1.2
  until_metric 30 'blockwatch_tap_buffer_used_bytes{disk="a"}' 0
  sleep 1.2
  [ "$(metric 'blockwatch_mqtt_queued_messages{disk="a"}')" -gt 0 ] || fail "the bridge holds no events"
}

# tenant_back: the tenant back at once after the broker's outage (its
# own reconnection backs off up to 30 s); its session kept what it
# missed.
tenant_back() {
  local n
  n=$(grep -c "^[0-9]*: sub-vm-a [0-2] " "$T/mosquitto.log")
  kill "$tenant_pid"
  wait "$tenant_pid" 2>/dev/null || true
  tenant
  tenant_pid=$!
  wait_subscribed sub-vm-a $((n + 1))
}

# --- everything delivered: no mark is left, the next run has no overflow.
fault_config -- "$(fault_disk a)"
start_daemon a
wait_for 10 -e "$mark" || fail "no run mark in state-dir while the introspector runs"
mount_disk a
write_files one 20
umount_disk a
settle a
stop_daemon
[ -d "$T/state/a" ] || fail "the stop removed the disk's state directory"
[ ! -e "$mark" ] || fail "a run that delivered everything left its mark"
start_daemon a
mount_disk a
write_files two 20

# --- stopped while the broker is away: the bridge drops, the mark stays.
stop_broker
until_metric 20 'blockwatch_mqtt_connected{disk="a"}' 0
write_files away 50
umount_disk a
held_undelivered
stop_daemon
grep -Eq "disk a: introspector: blockwatch watch: mqtt: closed with [1-9][0-9]* messages not delivered" \
  "$T/daemon.log" || fail "the bridge delivered everything when it stopped"
[ -e "$mark" ] || fail "blockwatchd's stop removed the run mark of a run that dropped events"
types=$(run_types 2 < "$T/a.jsonl")
[[ "$types" == mount* ]] && [[ "$types" != *overflow* ]] ||
  fail "the run after a stop with everything delivered: $(cut -c1-80 <<< "$types"), not a mount first and no overflow"
! grep -q "an earlier run did not deliver every event" "$T/daemon.log" ||
  fail "the run after a stop with everything delivered says an earlier one did not deliver"
say "stopped with everything delivered: no mark, no overflow at the next start"

# --- the next start: an overflow and a resync first; a disk no longer
# configured is forgotten.
mkdir "$T/state/gone"
touch "$T/state/gone/introspector.undelivered" "$T/state/not-a-disk"
new_disk b
# Where a blockwatchd before state-dir left b's mark (killed, then
# upgraded without a reboot): moved, and b's first run reports it.
mkdir -p "$T/run/b"
touch "$T/run/b/introspector.undelivered"
fault_config -- "$(fault_disk a)" "$(fault_disk b)"
start_broker "${BROKER_DB[@]}"
tenant_back
start_daemon a b
[ ! -e "$T/state/gone" ] || fail "the state of disk gone, no longer configured, is left"
grep -q "disk gone: no longer configured: its last introspector did not deliver every event" "$T/daemon.log" ||
  fail "the forgotten mark of disk gone is not logged"
[ -e "$T/state/not-a-disk" ] || fail "a file in state-dir that is no disk's was removed"
grep -q "disk b: a run mark was left in the run directory by an earlier blockwatchd: moved to $T/state/b/" \
  "$T/daemon.log" || fail "disk b's mark in the run directory was not moved"
[ ! -e "$T/run/b/introspector.undelivered" ] || fail "disk b's old mark is left in the run directory"
b_first() { run_types 1 < "$T/b.jsonl" 2>/dev/null; }
for _ in $(seq 100); do [[ "$(b_first)" == overflow* ]] && break; sleep 0.1; done
[[ "$(b_first)" == overflow* ]] ||
  fail "disk b's first run after its moved mark: $(b_first | cut -c1-80), not an overflow first"
mount_disk a
write_files back 20
umount_disk a
settle a
[[ "$(run_types 3 < "$T/a.jsonl")" == overflow*resync* ]] ||
  fail "the run after a stop with events dropped: $(run_types 3 < "$T/a.jsonl" | cut -c1-80), not an overflow first and a resync"
grep -q "an earlier run did not deliver every event" "$T/daemon.log" || fail "the new run does not say why"
check_gaps a
grep -Eq " [1-9][0-9]* lost with a run that died \(covered\)" "$T/a.gaps" ||
  fail "no event of the stopped run was missing: the test did not lose any"
say "stopped with events dropped: the next start begins with an overflow and a resync"

# --- a reload removes disk a while its bridge holds events: its state goes.
stop_broker
until_metric 20 'blockwatch_mqtt_connected{disk="a"}' 0
mount_disk a
write_files removed 20
umount_disk a
held_undelivered
fault_config -- "$(fault_disk b)"
kill -HUP "$daemon"
wait_for 30 ! -e "$T/run/a" || fail "disk a did not stop"
[ ! -e "$T/state/a" ] || fail "the state of disk a, removed by a reload, is left: $(ls "$T/state/a")"
grep -q "disk a: no longer configured: its last introspector did not deliver every event" "$T/daemon.log" ||
  fail "the forgotten mark of disk a is not logged"
[ -d "$T/state/b" ] || fail "disk b's state went with disk a's"
stop_daemon
say "a disk removed (by a reload, or while blockwatchd was stopped): its mark goes, with a warning"
say "ok"
