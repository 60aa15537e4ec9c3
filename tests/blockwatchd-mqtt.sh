#!/bin/bash
# blockwatchd publishes over MQTT: its [broker] section drives the MQTT
# bridge of every disk's introspector, over TLS with the appliance's
# client certificate, to mosquitto run with the shipped configuration
# (the data firewall); [policy] and the disks' own keys choose what is
# published.  Two disks, two tenants:
#  - the kernel's ext4 through disk a: tenant vm-a's blockwatch sub,
#    subscribed to every VM of the host, receives exactly vm-a's
#    events, and they rebuild the tree;
#  - disk b excludes /secret/** and publishes hashes: tenant vm-b sees
#    /public but not /secret, and nothing of vm-a;
#  - the monitor's certificate reads every $status and $stats, no event;
#  - /metrics and blockwatch status have the bridges' connection and
#    counters and blockwatchd's own connection;
#  - SIGHUP with a new policy for b restarts b's introspector alone, and
#    keeps blockwatchd's connection;
#  - blockwatch/HOST/$status, retained: online while blockwatchd runs,
#    offline after SIGTERM (said by blockwatchd, which disconnects
#    cleanly) and after SIGKILL (the broker's Last Will).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 curl
BWD=$BW_BUILD/blockwatchd
PORT=$(free_port) || fail "no free port"

make_pki vm-a vm-b blockwatch-monitor
start_broker
# shellcheck disable=SC2046
monitor() { mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of blockwatch-monitor) "$@"; }
# The retained appliance status, as a subscriber arriving now sees it.
appliance_status() { monitor -C 1 -W 5 -t 'blockwatch/lab/$status'; }
until_status() {   # until_status WORD
  local s
  for _ in $(seq 50); do
    s=$(appliance_status 2>/dev/null) || s=
    [ "$s" = "$1" ] && return 0
    sleep 0.2
  done
  fail "the appliance's \$status is '$s', not $1"
}
sub_of blockwatch-monitor -t 'blockwatch/#'
sub_of vm-b -t 'blockwatch/#'
# shellcheck disable=SC2046
"$BW" sub --mqtt "$MQ_URI" $(tls_of vm-a) --client-id bsub-vm-a --json 'lab:*:/**' \
  > "$T/vm-a.bsub" 2> "$T/vm-a.bsub.err" &
register_pid $!
bsub=$!
wait_subscribed bsub-vm-a

for d in a b; do
  truncate -s 128M "$T/$d.img"
  mkfs.ext4 -q -F -b 4096 "$T/$d.img"
done
cp --sparse=always "$T/a.img" "$T/a-base.img"

{ appliance_conf "$PORT" 20; cat <<EOF; } > "$T/bw.conf"
window = 32
buffer-messages = 100000
buffer-bytes = 64M
stats-interval = 1
drain = 5

[policy]
data = hash

[disk a]
vm = vm-a
backend = $T/a.img
listen = unix:$T/run/a/nbd.sock
events-file = $T/a.jsonl
data = bytes:1048576

[disk b]
vm = vm-b
backend = $T/b.img
listen = unix:$T/run/b/nbd.sock
events-file = $T/b.jsonl
exclude = /secret/**
EOF

METRICS_PORT=$PORT
. "$(dirname "$0")/appliance-lib.sh"
start_daemon() {
  "$BWD" -c "$T/bw.conf" >> "$T/daemon.log" 2>&1 &
  daemon=$!
  register_pid $daemon
  for d in a b; do
    wait_for 60 -S "$T/run/$d/nbd.sock" || { tail -20 "$T/daemon.log"; fail "disk $d is not exported"; }
    until_metric 20 "blockwatch_mqtt_connected{disk=\"$d\"}" 1
  done
  until_metric 20 blockwatch_appliance_mqtt_connected 1
  until_status online
}

start_daemon
tr '\0' ' ' < "/proc/$(pid_of b introspector)/cmdline" > "$T/b.cmdline"
for o in "--mqtt=$MQ_URI" "--cafile=$PKI/ca.crt" "--cert=$PKI/appliance.crt" \
    "--key=$PKI/appliance.key" "--run-mark=$T/state/b/introspector.undelivered" \
    --qos=1 --window=32 --buffer-messages=100000 \
    --buffer-bytes=67108864 --stats=1 --drain=5 --data=hash "--exclude=/secret/\*\*"; do
  grep -q -- " $o " "$T/b.cmdline" || fail "b's introspector lacks $o: $(cat "$T/b.cmdline")"
done
say "the introspectors publish as [broker] and the policies say"

# --- disk a: the kernel's ext4; vm-a receives its events, complete.
attach_loop a "$T/run/a/nbd.sock"
mkdir "$T/a.mnt"
mount "$LOOP" "$T/a.mnt"; register_mount "$T/a.mnt"
workload "$T/a.mnt"
umount "$T/a.mnt"
detach_loop a

# --- disk b: a secret and a public file.
attach_loop b "$T/run/b/nbd.sock"
mkdir "$T/b.mnt"
mount "$LOOP" "$T/b.mnt"; register_mount "$T/b.mnt"
mkdir "$T/b.mnt/secret" "$T/b.mnt/public"
echo "the key" > "$T/b.mnt/secret/key"
echo "read me" > "$T/b.mnt/public/readme"
umount "$T/b.mnt"
detach_loop b

# Everything the introspector of a printed (its events file) arrives;
# once b's unmount arrives, all of b's did.  a's events file is whole
# once its unmount is there and it has stopped growing (on a busy
# machine the introspector may still be writing it when the subscriber
# has caught up with what it wrote so far).
wait_lines "$T/a.jsonl" 1 60 '"type":"unmount"'
prev=-1
for _ in $(seq 120); do
  n=$(wc -l < "$T/a.jsonl")
  [ "$n" = "$prev" ] && [ "$(awk '!seen[$0]++' "$T/vm-a.bsub" | wc -l)" -ge "$n" ] && break
  prev=$n
  sleep 0.5
done
wait_lines "$T/vm-b.sub" 1 30 '/\$fs/unmount	'
sleep 1                     # nothing more must come
awk '!seen[$0]++' "$T/vm-a.bsub" > "$T/a-mqtt.jsonl"
jq -r .id "$T/a.jsonl" > "$T/a.ids"
jq -r .id "$T/a-mqtt.jsonl" > "$T/a-mqtt.ids" || fail "vm-a's blockwatch sub printed no JSON lines"
diff "$T/a.ids" "$T/a-mqtt.ids" > "$T/a.diff" ||
  { head "$T/a.diff"; fail "vm-a did not receive exactly disk a's events"; }
check_events a-mqtt "$T/a-base.img" "$T/a.img"
say "vm-a: $(wc -l < "$T/a.ids") events, those of disk a and only those"

# The data firewall and b's policy: vm-b sees its /public, not /secret
# (filtered before publishing, still in its events file), and nothing
# of vm-a; hashes, as [policy] says.
grep -q '^blockwatch/lab/vm-b/b/0/public/readme	{.*"type":"write".*"xxh128":' "$T/vm-b.sub" ||
  fail "vm-b did not receive the write of /public/readme with its hash"
! grep -q '"data":' "$T/vm-b.sub" || fail "vm-b received data bytes: the policy says hash"
! grep -q '/secret' "$T/vm-b.sub" || fail "vm-b received events of /secret"
grep -q '"path":"/secret/key"' "$T/b.jsonl" || fail "b's events file lacks /secret/key"
! grep -v '^blockwatch/lab/vm-b/' "$T/vm-b.sub" | grep . || fail "vm-b received another VM's topics"
[ "$(metric 'blockwatch_mqtt_filtered_total{disk="b"}')" -gt 0 ] || fail "nothing counted as filtered on b"

# The monitor: statuses and stats, no event.
grep -q '^blockwatch/lab/vm-a/a/$stats	{' "$T/blockwatch-monitor.sub" || fail "the monitor has no \$stats of a"
! grep -v '/\$status	\|/\$stats	' "$T/blockwatch-monitor.sub" | grep . ||
  fail "the monitor received events"

# The metrics count what the bridges did.
scrape > "$T/metrics"
for m in blockwatch_mqtt_connected blockwatch_mqtt_published_total blockwatch_mqtt_dropped_total \
    blockwatch_mqtt_dropped_unconfirmed_total \
    blockwatch_mqtt_queued_messages blockwatch_mqtt_refused_total blockwatch_appliance_mqtt_connected; do
  grep -q "^# TYPE $m " "$T/metrics" || fail "/metrics lacks $m"
done
# (The stats file is at most a second old, and the introspector runs at
# a lower priority than the rest: wait for it.)
until_metric 20 'blockwatch_mqtt_published_total{disk="a"}' "$(wc -l < "$T/a.ids")" at-least
scrape > "$T/metrics"
grep -q '^blockwatch_mqtt_dropped_total{disk="a"} 0$' "$T/metrics" || fail "a dropped events"

# blockwatch status says so too.
"$BW" status -c "$T/bw.conf" > "$T/status" || { cat "$T/status"; fail "status says something is down"; }
grep -q "2 disks, 0 down; broker connected$" "$T/status" || fail "status: $(head -1 "$T/status")"
grep -q "^b  *vm-b  *up  *following  *-  *up " "$T/status" || fail "status does not show b's bridge up: $(cat "$T/status")"

# --- SIGHUP: b's policy changes; b's introspector alone restarts, with
# it, and blockwatchd's own connection stays (no offline meanwhile).
a_intro=$(pid_of a introspector) b_intro=$(pid_of b introspector)
sed -i 's|^exclude = /secret/\*\*$|exclude = /public/**|' "$T/bw.conf"
kill -HUP $daemon
for _ in $(seq 100); do
  p=$(pid_of b introspector) || p=      # (between two introspectors)
  [ -n "$p" ] && [ "$p" != "$b_intro" ] && break
  sleep 0.1
done
[ "$(pid_of b introspector)" != "$b_intro" ] || fail "b's introspector kept its old policy"
tr '\0' ' ' < "/proc/$(pid_of b introspector)/cmdline" | grep_all -q -- "--exclude=/public/\*\* " ||
  fail "b's new introspector does not exclude /public"
until_metric 20 'blockwatch_mqtt_connected{disk="b"}' 1
[ "$(pid_of a introspector)" = "$a_intro" ] || fail "the reload restarted a's introspector"
[ "$(grep -c '^blockwatch/lab/\$status	' "$T/blockwatch-monitor.sub")" = 1 ] ||
  fail "the appliance's \$status changed at a reload that kept [broker]: $(grep '^blockwatch/lab/\$status' "$T/blockwatch-monitor.sub")"
say "SIGHUP: b's introspector restarted with its new policy, the rest untouched"

# --- SIGTERM: the disks stop, then blockwatchd says offline and
# disconnects; every bridge said goodbye.
kill -TERM $daemon
rc=0; wait $daemon || rc=$?
[ $rc = 0 ] || { tail -30 "$T/daemon.log"; fail "blockwatchd exited with $rc"; }
until_status offline
grep -q '^blockwatch/lab/vm-a/a/$status	offline$' "$T/blockwatch-monitor.sub" || fail "disk a's bridge did not say offline"
awk -F'\t' '$1 ~ /\$status$/ { last = $1 "=" $2 } END { print last }' "$T/blockwatch-monitor.sub" |
  grep -qx 'blockwatch/lab/$status=offline' || fail "the appliance's offline was not the last status"
# Every connection of a bridge (a's, b's two, blockwatchd's) ended
# with a DISCONNECT: mosquitto says "disconnected.", not "closed its
# connection" or "Socket error" (no DISCONNECT: the Last Will).
made=$(grep -c "New client connected .* as blockwatch-[0-9a-f]* " "$T/mosquitto.log" || true)
ended=$(grep -c "Client blockwatch-[0-9a-f]* disconnected\.$" "$T/mosquitto.log" || true)
[ "$made" = 4 ] && [ "$ended" = 4 ] ||
  fail "$made bridge connections, $ended ended cleanly, not 4: $(grep 'lient.*blockwatch-' "$T/mosquitto.log" | tail -8)"
check_san_log "$T/daemon.log"
say "SIGTERM: every disk offline, then the appliance; all disconnected cleanly"

# --- SIGKILL: the broker's Last Will says offline.
start_daemon
children="$(pid_of a nbdkit) $(pid_of a introspector) $(pid_of b nbdkit) $(pid_of b introspector)"
kill -KILL $daemon
wait $daemon 2>/dev/null || true
until_status offline
# Its children follow it (their parent-death signal) and stop cleanly.
for p in $children; do wait_for 30 ! -d "/proc/$p" || fail "pid $p outlived blockwatchd"; done
check_san_log "$T/daemon.log"
check_san_log "$T/vm-a.bsub.err"
say "SIGKILL: the Last Will says offline; the children stopped"
