#!/bin/bash
# MQTT publishing, to mosquitto over TLS with client certificates (the
# appliance's configuration, appliance/mosquitto/):
#   throughput  events/s at QoS 0 and QoS 1 through the bridge, against a
#               bare Paho MQTTAsync publisher of the same payloads (same
#               topics, window, QoS and MQTT 5 properties) in the same run,
#               runs interleaved, the median counting; goal: ratio >= 0.8;
#   latency     from the bridge's sink to a subscriber, p50 and p99, at
#               RATE events/s.
#   EVENTS=200000 RUNS=5 RATE=10000 LATENCY_SECONDS=20 bench/bench-mqtt.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
export BW_BUILD=$BUILD BW_SRC=$top
. "$top/bench/lib.sh"
. "$top/tests/lib.sh"         # a scratch directory, servers stopped at exit
. "$top/tests/mqtt-lib.sh"    # certificates, mosquitto
EVENTS=${EVENTS:-200000}
RUNS=${RUNS:-5}
RATE=${RATE:-10000}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}
TOOL=$BUILD/bench/mqtt-bench
[ -x "$TOOL" ] || fail "$TOOL is not built (make bench builds it)"

make_pki bench-vm
start_broker "persistence false"
# shellcheck disable=SC2046
set -- --mqtt "$MQ_URI" $(tls_of appliance)

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A R
for qos in 0 1; do
  for run in $(seq "$RUNS"); do
    for mode in bare bridge; do
      v=$("$TOOL" "$mode" --qos "$qos" --events "$EVENTS" "$@" | awk '{ print $5 }')
      R[$mode.$qos]+="$v "
      echo "  qos $qos $mode run $run: $v events/s"
    done
  done
done
declare -A L
for qos in 0 1; do
  L[$qos]=$("$TOOL" latency --qos "$qos" --rate "$RATE" --seconds "$LATENCY_SECONDS" \
              --sub-cert "$PKI/bench-vm.crt" --sub-key "$PKI/bench-vm.key" "$@")
  echo "  $RATE events/s, qos $qos: ${L[$qos]}"
done

out=$T/section.md
{
  echo "<!-- mqtt:begin -->"
  echo "## MQTT: bridge vs bare Paho publisher"
  echo
  echo "Command: \`EVENTS=$EVENTS RUNS=$RUNS RATE=$RATE LATENCY_SECONDS=$LATENCY_SECONDS bench/bench-mqtt.sh\` (part of \`make bench\`)."
  echo "mosquitto on loopback with the appliance's configuration (TLS, client certificates, the ACL; receive"
  echo "maximum 64), MQTT 5, the bridge's default window (64) and data policy (none). $EVENTS made-up events"
  echo "shaped like a busy disk's (writes, metadata, creates, renames, truncates; about 340 bytes of JSON each)."
  echo "**bare**: a plain Paho MQTTAsync publisher, the JSON and topics made beforehand, the same window, QoS and"
  echo "MQTT 5 properties; **bridge**: the same events given to the bridge's sink, which makes the JSON and topics,"
  echo "queues, publishes and counts acknowledgements; both timed until the last message is acknowledged"
  echo "(QoS 0: written). Median of $RUNS interleaved runs; goal: ratio ≥ 0.8."
  echo
  echo "| QoS | bare Paho (events/s) | bridge (events/s) | ratio | goal |"
  echo "|---|---:|---:|---:|---:|"
  for qos in 0 1; do
    b=$(echo ${R[bare.$qos]} | tr ' ' '\n' | median)
    g=$(echo ${R[bridge.$qos]} | tr ' ' '\n' | median)
    echo "| $qos | $b | $g | $(awk -v a="$g" -v b="$b" 'BEGIN { printf "%.3f", a / b }') | ≥ 0.8 |"
  done
  echo
  echo "Latency from the bridge's sink to a subscriber in the same process (its own TLS connection), $RATE"
  echo "events/s for ${LATENCY_SECONDS}s, every event timed:"
  echo
  echo "| QoS | received | p50 (ms) | p99 (ms) | max (ms) |"
  echo "|---|---:|---:|---:|---:|"
  for qos in 0 1; do
    # shellcheck disable=SC2086
    set -- ${L[$qos]}
    echo "| $qos | $3 | $4 | $5 | $6 |"
  done
  echo
  echo "Raw runs (events/s):"
  echo
  for k in bare.0 bridge.0 bare.1 bridge.1; do echo "- $k: ${R[$k]}"; done
  echo
  machine_facts
  echo "- MQTT: $(mosquitto -h 2>&1 | head -1 | sed 's/ is an.*//'), Paho C $(dpkg-query -W -f='${Version}' libpaho-mqtt-dev 2>/dev/null), $(openssl version | cut -d' ' -f1-2)"
  echo "<!-- mqtt:end -->"
} > "$out"
cat "$out"
write_section mqtt "$out"
