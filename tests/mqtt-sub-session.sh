#!/bin/bash
# blockwatch sub --session across broker restarts: a broker that kept
# the subscriber's session (persistence) gives it back and nothing is
# said; one restarted without its state has none, and the subscriber
# says that what was published while it was away is lost, on stderr
# and by its exit status (4), with MQTT 5 and 3.1.1 alike.  A disk's
# $status is said as the disk's state, not as a bad event.  Its
# certificate renewed in place and SIGUSR1 sent, a subscriber connects
# again at once with the new one (CN vm-a-next, which the broker's ACL
# lets read vm-a's events too), with its session: nothing missed.
# Its stdout on a full disk (/dev/full): the events it could not write
# are said, and the exit status is 5.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt-lib.sh"

make_pki vm-a
MQ_PORT=$(free_port)
mkdir -p "$T/db"
db=("persistence true" "persistence_location $T/db/")

# sub NAME [OPTIONS]: blockwatch sub with a session, client id NAME,
# in the background until it has 2 events or 30 s passed; its pid in
# NAME_pid, stdout and stderr in $T/NAME.out and .err.
sub() {
  local name=$1; shift
  # shellcheck disable=SC2046
  "$BW" sub --mqtt "$MQ_URI" $(tls_of vm-a) --client-id "$name" --session 60 \
    --json --count 2 --timeout 30 "$@" lab:vm-a > "$T/$name.out" 2> "$T/$name.err" &
  register_pid $!
  eval "${name}_pid=$!"
  wait_subscribed "$name"
}

# restart BROKER-LINES...: mosquitto stopped cleanly (saving its state
# if it persists it) and started again with those lines.
restart() {
  stop_broker
  start_broker "$@"
}

# emit FIRST LAST: events FIRST to LAST of lab:vm-a, published (QoS 1).
emit() {
  local i
  # shellcheck disable=SC2046
  for i in $(seq "$1" "$2"); do
    printf '{"v":1,"id":"%016x","seq":%d,"txn":%d,"time_ns":1795435200000000000,"part":1,"type":"write","path":"/f","inode":12,"offset":0,"length":1}\n' \
      "$i" "$i" "$i"
  done | "$BW_BUILD/tests/mqtt-emit" --mqtt "$MQ_URI" $(tls_of appliance) \
           --host lab --vm vm-a --disk d0 --stats 0 2>> "$T/emit.err" ||
    { cat "$T/emit.err"; fail "mqtt-emit failed"; }
}

# finished NAME STATUS [SEQS]: NAME exited with STATUS having received
# the events SEQS ("1 2 ").
finished() {
  local rc=0 p
  p=$(eval echo "\$${1}_pid")
  wait_for 30 ! -d "/proc/$p" || fail "$1 did not exit"
  wait "$p" || rc=$?
  check_san_log "$T/$1.err"
  [ "$rc" = "$2" ] || { cat "$T/$1.err"; fail "$1: exit status $rc, expected $2"; }
  [ "$(jq -r .seq "$T/$1.out" | sort -n | tr '\n' ' ')" = "${3:-1 2 }" ] ||
    fail "$1: received $(cat "$T/$1.out")"
}

# ---- the session kept --------------------------------------------------
start_broker "${db[@]}"
sub kept
restart "${db[@]}"
wait_subscribed kept 2
emit 1 2
finished kept 0
grep -q "no session" "$T/kept.err" && ! grep -q "kept no session" "$T/kept.err" ||
  { cat "$T/kept.err"; fail "the first connection, a new session, not said as such"; }
# The disk's $status (the publisher's online, retained, and offline)
# comes with the events of a HOST:VM channel: said as the disk's state,
# not taken for an event that is not JSON.
grep -q "^blockwatch sub: lab:vm-a disk d0 is online$" "$T/kept.err" ||
  { cat "$T/kept.err"; fail "the disk's \$status online was not said"; }
! grep -q "ignoring a message" "$T/kept.err" ||
  { cat "$T/kept.err"; fail "a \$status message taken for a bad event"; }
say "a session the broker kept: nothing said but its start"
say "the disk's \$status said as its state"

# ---- the session lost --------------------------------------------------
restart
sub lost5
sub lost3 --mqtt-version 3.1.1
restart
wait_subscribed lost5 2
wait_subscribed lost3 2
emit 1 2
for c in lost5 lost3; do
  finished $c 4
  grep -q "the broker kept no session for $c: events published while disconnected (since [0-9-]* [0-9:]*" "$T/$c.err" ||
    { cat "$T/$c.err"; fail "$c: no word of the lost session"; }
done
say "a session the broker lost: said, exit status 4 (MQTT 5 and 3.1.1)"

# ---- the certificate renewed (SIGUSR1) ---------------------------------
restart
new_cert vm-a-next vm-a-next "extendedKeyUsage=clientAuth"
n=$(grep -c "Reloading config" "$T/mosquitto.log" || true)
printf '\nuser vm-a-next\ntopic read blockwatch/+/vm-a/#\n' >> "$PKI/blockwatch.acl"
kill -HUP "$MQ_PID"
for _ in $(seq 50); do
  [ "$(grep -c "Reloading config" "$T/mosquitto.log" || true)" -gt "$n" ] && break
  sleep 0.1
done
[ "$(grep -c "Reloading config" "$T/mosquitto.log" || true)" -gt "$n" ] ||
  fail "mosquitto did not reload its ACL"
for f in crt key; do cp "$PKI/vm-a.$f" "$PKI/renewed.$f"; done
# renewing NAME [OPTIONS]: a subscriber with the files renewed.* for 4
# events (else as sub).
renewing() {
  local name=$1; shift
  "$BW" sub --mqtt "$MQ_URI" --cafile "$PKI/ca.crt" --cert "$PKI/renewed.crt" \
    --key "$PKI/renewed.key" --client-id "$name" --json --count 4 --timeout 30 \
    "$@" lab:vm-a > "$T/$name.out" 2> "$T/$name.err" &
  register_pid $!
  eval "${name}_pid=$!"
  wait_subscribed "$name"
}
renewing renew --session 60
renewing renew0
emit 1 2
wait_lines "$T/renew.out" 2 10
wait_lines "$T/renew0.out" 2 10
# What certbot or cert-manager does: the certificate rewritten in place,
# the key replaced by a rename.
cat "$PKI/vm-a-next.crt" > "$PKI/renewed.crt"
cp "$PKI/vm-a-next.key" "$PKI/renewed.key.new"
mv "$PKI/renewed.key.new" "$PKI/renewed.key"
[ "$(grep -c "u'vm-a-next'" "$T/mosquitto.log" || true)" = 0 ] ||
  fail "the new certificate was used before SIGUSR1"
kill -USR1 "$renew_pid" "$renew0_pid"
wait_subscribed renew 2
wait_subscribed renew0 2
[ "$(grep -c " as renew .*u'vm-a-next'" "$T/mosquitto.log" || true)" = 1 ] &&
  [ "$(grep -c " as renew0 .*u'vm-a-next'" "$T/mosquitto.log" || true)" = 1 ] ||
  { grep " as renew" "$T/mosquitto.log"; fail "the subscribers did not reconnect with the new certificate"; }
emit 3 4
finished renew 0 "1 2 3 4 "
finished renew0 0 "1 2 3 4 "
grep -q "SIGUSR1: reconnecting with the TLS files as they are now$" "$T/renew.err" &&
  ! grep -q "no session for renew: events published" "$T/renew.err" ||
  { cat "$T/renew.err"; fail "renew: the reconnection not said, or its session lost"; }
grep -q "SIGUSR1: reconnecting with the TLS files as they are now (without --session, events published meanwhile are not received)" "$T/renew0.err" ||
  { cat "$T/renew0.err"; fail "renew0: no word that events may be missed without a session"; }
say "SIGUSR1: reconnected with the renewed certificate at once, session kept; without one, said"

# ---- stdout full -------------------------------------------------------
# shellcheck disable=SC2046
"$BW" sub --mqtt "$MQ_URI" $(tls_of vm-a) --client-id full --json --count 2 \
  --timeout 30 lab:vm-a > /dev/full 2> "$T/full.err" &
full_pid=$!
register_pid $full_pid
wait_subscribed full
emit 5 6
rc=0
wait $full_pid || rc=$?
check_san_log "$T/full.err"
[ "$rc" = 5 ] && grep -q "writing the events: No space left on device" "$T/full.err" &&
  grep -q "blockwatch sub: 2 events could not be written" "$T/full.err" ||
  { cat "$T/full.err"; fail "stdout full: exit status $rc, not 5 with the events said lost"; }
say "stdout full: said, exit status 5"
