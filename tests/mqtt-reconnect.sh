#!/bin/bash
# The bridge across broker restarts: QoS 1 events published while the
# broker is down wait in the bridge's buffer and, once it is back,
# arrive all of them and in order (some twice, as QoS 1 allows); with
# a buffer too small, the oldest are dropped and an overflow event
# says how many, ahead of the rest, never a silent loss, and how many of
# them were sent, unacknowledged, when the connection broke.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt-lib.sh"

make_pki vm1
MQ_PORT=$(free_port)
mkdir -p "$T/db"
# The broker keeps the subscriber's session across its restarts.
db=("persistence true" "persistence_location $T/db/")
start_broker "${db[@]}"
sub_of vm1 -V mqttv311 -c -t 'blockwatch/lab/vm1/d0/+/#'

gen() {   # gen FIRST LAST: write events whose ids count from FIRST
  local i
  for i in $(seq "$1" "$2"); do
    printf '{"v":1,"id":"%016x","seq":%d,"txn":%d,"time_ns":1795435200000000000,"part":1,"type":"write","path":"/var/log/app.log","inode":12,"offset":%d,"length":10}\n' \
      "$i" "$i" "$i" $((i * 10))
  done
}

# The events received, first copies only.
received() { cut -f2- "$T/vm1.sub" | grep '^{"v":1,' | awk '!seen[$0]++'; }

# wait_exit PID SECONDS: its exit status, or a failure if it runs on.
wait_exit() {
  wait_for "$2" ! -d "/proc/$1" || fail "process $1 did not exit in $2 s"
  wait "$1"
}

emit() {   # emit NAME [OPTIONS]: mqtt-emit in the background, stdin from $T/NAME.in
  local name=$1; shift
  # shellcheck disable=SC2046
  "$BW_BUILD/tests/mqtt-emit" --mqtt "$MQ_URI" $(tls_of appliance) --host lab \
    --vm vm1 --disk d0 --stats 0 "$@" < "$T/$name.in" 2> "$T/$name.err" &
  register_pid $!
  eval "${name}_pid=$!"
}

# ---- a restart, nothing lost ------------------------------------------
mkfifo "$T/live.in"
# $stats every second: the broker stays down longer, and a bridge whose
# stats fell due while it was connecting once spun with its lock held
# and never connected again.
emit live --drain 30 --mqtt-version 3.1.1 --stats 1   # (the overflow below: MQTT 5)
exec 3> "$T/live.in"
gen 1 100 >&3
wait_lines "$T/vm1.sub" 100 20 '"v":1'
stop_broker
wait_lines "$T/live.err" 1 10 "connection to .* lost"
gen 101 200 >&3             # into the buffer
sleep 2
# Not with the FIFO open: mqtt-emit would never see its end.
start_broker "${db[@]}" 3>&-
gen 201 300 >&3
exec 3>&-
wait_exit "$live_pid" 40 || { cat "$T/live.err"; fail "mqtt-emit did not deliver everything"; }
check_san_log "$T/live.err"
grep -q "300 events, 300 published, 0 filtered out, 0 dropped," "$T/live.err" || { cat "$T/live.err"; fail "wrong counts"; }
[ "$(grep -c "connected to $MQ_URI" "$T/live.err")" -ge 2 ] || fail "no reconnection"
for _ in $(seq 100); do [ "$(received | wc -l)" -ge 300 ] && break; sleep 0.1; done
received | jq -r .seq > "$T/live.seq"
seq 1 300 | diff - "$T/live.seq" > "$T/live.diff" || { head "$T/live.diff"; fail "events lost or out of order across the restart"; }
say "restart: 300 events, in order ($(grep -c '"v":1' "$T/vm1.sub") copies received)"

# ---- a buffer too small -----------------------------------------------
stop_broker
gen 301 500 > "$T/small.in"
emit small --buffer-messages 50 --drain 30
wait_lines "$T/small.err" 1 10 "the buffer is full"
start_broker "${db[@]}"
rc=0
wait_exit "$small_pid" 40 || rc=$?
check_san_log "$T/small.err"
[ $rc = 1 ] || { cat "$T/small.err"; fail "mqtt-emit did not report the loss"; }
grep -q "150 events were dropped from the full buffer" "$T/small.err" || { cat "$T/small.err"; fail "no word of the drops"; }
grep -q "200 events, 50 published, 0 filtered out, 150 dropped," "$T/small.err" || { cat "$T/small.err"; fail "wrong counts"; }
for _ in $(seq 100); do [ "$(received | wc -l)" -ge 351 ] && break; sleep 0.1; done
received | tail -n +301 > "$T/small.got"
jq -e -s '.[0].type == "overflow" and .[0].lost_events == 150 and .[0].seq == 450
          and ([.[1:][].seq] == [range(451; 501)]) and length == 51' "$T/small.got" > /dev/null ||
  { head -3 "$T/small.got"; fail "not an overflow event of 150 and then the last 50 in order"; }
say "small buffer: overflow event (150 lost), then the last 50 in order"

# ---- sent, never acknowledged, then dropped ----------------------------
# The broker stopped (it reads nothing, acknowledges nothing) while the
# bridge sends, then killed: what was in flight goes back to the queue,
# the full buffer drops it with the oldest, and the overflow event says
# how many of those it had sent (the broker might have had them; here
# it never read them, so the subscriber misses them all).
mkfifo "$T/unacked.in"
emit unacked --buffer-messages 50 --drain 30
exec 3> "$T/unacked.in"
wait_lines "$T/unacked.err" 1 10 "connected to"
kill -STOP "$MQ_PID"
gen 501 510 >&3
# In flight: bytes waiting, unread, in one of the broker's connections.
port=$(printf '%04X' "$MQ_PORT")
for _ in $(seq 100); do
  awk -v p=":$port" '$2 ~ p "$" && $4 == "01" && $5 !~ /:00000000$/ { f = 1 } END { exit !f }' /proc/net/tcp && break
  sleep 0.1
done || fail "the bridge sent nothing to the stopped broker"
kill -KILL "$MQ_PID"
wait "$MQ_PID" 2>/dev/null || true
wait_lines "$T/unacked.err" 1 10 "connection to .* lost"
gen 511 570 >&3             # 70 in all for 50 places: the 20 oldest go
wait_lines "$T/unacked.err" 1 10 "the buffer is full"
start_broker "${db[@]}" 3>&-
# The tenant's mosquitto_sub gives up when its broker is killed: it
# comes again, to its session (from the broker's last save).
n=$(grep -c '^[0-9]*: sub-vm1 [0-2] ' "$T/mosquitto.log")
sub_of vm1 -V mqttv311 -c -t 'blockwatch/lab/vm1/d0/+/#' 3>&-
wait_subscribed sub-vm1 $((n + 1))
exec 3>&-
rc=0
wait_exit "$unacked_pid" 40 || rc=$?
check_san_log "$T/unacked.err"
[ $rc = 1 ] || { cat "$T/unacked.err"; fail "mqtt-emit did not report the loss"; }
for _ in $(seq 100); do [ "$(received | wc -l)" -ge 51 ] && break; sleep 0.1; done
received > "$T/unacked.got"
jq -e -s '.[0].type == "overflow" and .[0].lost_events == 20 and .[0].seq == 520
          and .[0].unconfirmed_events >= 1 and .[0].unconfirmed_events <= 10
          and ([.[1:][].seq] == [range(521; 571)]) and length == 51' "$T/unacked.got" > /dev/null ||
  { head -3 "$T/unacked.got"; fail "not an overflow event of 20, up to 10 of them unconfirmed, and then the last 50 in order"; }
# The bridge's own summary line says the same.
u=$(jq -r -s '.[0].unconfirmed_events' "$T/unacked.got")
grep -q "70 events, 50 published, 0 filtered out, 20 dropped ($u of them sent before, perhaps received)," "$T/unacked.err" ||
  { cat "$T/unacked.err"; fail "the summary does not say that $u of the dropped had been sent"; }
say "unacknowledged: overflow event ($(jq -r -s '.[0] | "\(.lost_events) lost, \(.unconfirmed_events) unconfirmed"' "$T/unacked.got")), then the last 50 in order"
