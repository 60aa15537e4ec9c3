#!/bin/bash
# TLS and the data firewall, against mosquitto with the appliance's
# configuration (appliance/mosquitto/) and certificates made here.
# - blockwatch refuses, and says why: a broker certified by another CA,
#   a certificate not for the host name connected to, a broker that
#   wants a client certificate when none is given, a server that speaks
#   only TLS 1.1 (Paho's own handshake refused too), mqtt:// unless
#   allowed, a key that is not the certificate's;
# - the broker refuses TLS 1.1, clients without a certificate and
#   certificates of another CA;
# - tenant vm-a reads vm-a's events and never vm-b's; tenants cannot
#   publish, not even on their own topics; the appliance cannot read.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt-lib.sh"

make_pki vm-a vm-b
MQ_PORT=$(free_port)
# The same broker on 127.0.0.2, whose name its certificate does not have.
start_broker "listener $MQ_PORT 127.0.0.2" "cafile $PKI/ca.crt" \
  "certfile $PKI/server.crt" "keyfile $PKI/server.key" \
  "require_certificate true" "use_identity_as_username true" \
  "tls_version tlsv1.2"

cat > "$T/events.jsonl" <<'EOF'
{"v":1,"id":"5f3a9c0100000001","seq":1,"txn":1,"time_ns":1795435200123456789,"part":1,"type":"create","path":"/etc/secret","inode":12,"file_type":"file","mode":"0100600","uid":0,"gid":0,"size":0}
{"v":1,"id":"5f3a9c0100000002","seq":2,"txn":1,"time_ns":1795435200123456789,"part":1,"type":"write","path":"/etc/secret","inode":12,"offset":0,"length":7,"data_length":7,"data":"aHVudGVyMg=="}
{"v":1,"id":"5f3a9c0100000003","seq":3,"txn":1,"time_ns":1795435200123456789,"part":1,"type":"mount","fs_state":0,"mount_count":1,"mount_time":1795435190}
EOF

emit() {   # emit CERT VM [OPTIONS...]: the events as VM's, with CERT
  local cert=$1 vm=$2; shift 2
  # shellcheck disable=SC2046
  "$BW_BUILD/tests/mqtt-emit" --mqtt "$MQ_URI" $(tls_of "$cert") --host kvm-07 \
    --vm "$vm" --disk d0 --stats 0 "$@" < "$T/events.jsonl"
}

# refused WHAT MESSAGE ARGS...: blockwatch sub with ARGS fails, saying MESSAGE
refused() {
  local what=$1 msg=$2 rc=0; shift 2
  "$BW" sub "$@" --timeout 5 'kvm-07:vm-a' > "$T/out" 2> "$T/err" || rc=$?
  check_san_log "$T/err"
  [ $rc = 1 ] || { cat "$T/err"; fail "$what: exit status $rc, not 1"; }
  grep -q -- "$msg" "$T/err" || { cat "$T/err"; fail "$what: no '$msg'"; }
  say "$what: $(cat "$T/err")"
}

# ---- the data firewall ----------------------------------------------
sub_of vm-a -t 'blockwatch/#'                   # all it may see
sub_of vm-b -t 'blockwatch/+/vm-b/#'
# shellcheck disable=SC2046
mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of vm-a) -q 1 -i spy -F '%t\t%p' \
  -t 'blockwatch/+/vm-b/#' > "$T/spy.sub" 2>&1 &
register_pid $!
wait_subscribed spy
# shellcheck disable=SC2046
mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of appliance) -q 1 -i nosy \
  -t 'blockwatch/#' > "$T/nosy.sub" 2>&1 &
register_pid $!
wait_subscribed nosy
# An MQTT 5 subscriber sees the message properties.
# shellcheck disable=SC2046
mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of vm-a) -q 1 -i props -V mqttv5 \
  -F '%C|%F|%E|%P|%t' -t 'blockwatch/+/vm-a/+/+/#' > "$T/props.sub" 2>&1 &
register_pid $!
wait_subscribed props
# shellcheck disable=SC2046
"$BW" sub --json --mqtt "$MQ_URI" $(tls_of vm-a) --client-id bsub-b \
  'kvm-07:vm-b' > "$T/bsub-b.out" 2> "$T/bsub-b.err" &
bsub_b=$!
register_pid $bsub_b
wait_subscribed bsub-b

emit appliance vm-a --data-policy-unused 2>/dev/null && fail "mqtt-emit took an unknown option"
emit appliance vm-a --expiry 3600 2> "$T/emit-a.err" || { cat "$T/emit-a.err"; fail "the appliance could not publish vm-a's events"; }
# vm-b's with QoS 0 and MQTT 3.1.1
emit appliance vm-b --qos 0 --mqtt-version 3.1.1 2> "$T/emit-b.err" || { cat "$T/emit-b.err"; fail "the appliance could not publish vm-b's events"; }
grep -q "MQTT 3.1.1, QoS 0" "$T/emit-b.err" || fail "not MQTT 3.1.1, QoS 0"
wait_lines "$T/vm-a.sub" 5 10            # 3 events, online, offline
wait_lines "$T/vm-b.sub" 5 10
sleep 1
grep -q vm-b "$T/vm-a.sub" && fail "tenant vm-a received vm-b's topics"
[ -s "$T/spy.sub" ] && { cat "$T/spy.sub"; fail "tenant vm-a read vm-b's events with a narrow filter"; }
[ -s "$T/bsub-b.out" ] && fail "blockwatch sub as vm-a got vm-b's events"
[ -s "$T/nosy.sub" ] && fail "the appliance's certificate can read"
[ "$(grep -c '"v":1' "$T/vm-a.sub")" = 3 ] || fail "vm-a did not get its 3 events"
grep -q vm-a "$T/vm-b.sub" && fail "tenant vm-b received vm-a's topics"
say "firewall: vm-a and vm-b each got their own 3 events, nothing else"
wait_lines "$T/props.sub" 3 5
grep -q '^application/json|1|3600|type:write seq:2|blockwatch/kvm-07/vm-a/d0/1/etc/secret$' "$T/props.sub" ||
  { cat "$T/props.sub"; fail "MQTT 5 properties missing"; }
grep -q '^application/json|1|3600|type:mount seq:3|blockwatch/kvm-07/vm-a/d0/1/$fs/mount$' "$T/props.sub" ||
  { cat "$T/props.sub"; fail "MQTT 5 properties missing"; }

# Selective publishing: paths and types; events without a path go by
# their type alone.
emit appliance vm-a --include '/etc/**' --exclude '/etc/*.bak' --not-type write \
  2> "$T/emit-filter.err" || { cat "$T/emit-filter.err"; fail "filtered publishing failed"; }
grep -q "3 events, 2 published, 1 filtered out" "$T/emit-filter.err" || { cat "$T/emit-filter.err"; fail "wrong filtering"; }
wait_lines "$T/vm-a.sub" 5 10 '"v":1'
[ "$(grep -c '"type":"write"' "$T/vm-a.sub")" = 1 ] || fail "a filtered event was published"

# Tenants cannot publish: MQTT 5 says so, and nothing arrives.
rc=0
emit vm-a vm-a --drain 5 2> "$T/emit-tenant.err" || rc=$?
[ $rc = 1 ] || { cat "$T/emit-tenant.err"; fail "a tenant published"; }
grep -q "refused a message on .*Not authorized" "$T/emit-tenant.err" ||
  { cat "$T/emit-tenant.err"; fail "no word of the refusal"; }
grep -q "3 refused" "$T/emit-tenant.err" || { cat "$T/emit-tenant.err"; fail "refusals not counted"; }
# shellcheck disable=SC2046
mosquitto_pub -h localhost -p "$MQ_PORT" $(tls_of vm-b) -q 1 \
  -t 'blockwatch/kvm-07/vm-b/d0/1/forged' -m '{"v":1,"id":"0000000000000bad"}' 2>/dev/null || true
sleep 1
grep -q 0000000000000bad "$T/vm-b.sub" && fail "a tenant's message was delivered"
[ "$(grep -c '"v":1' "$T/vm-a.sub")" = 5 ] || fail "vm-a got a tenant's message"
kill $bsub_b; wait $bsub_b || true
check_san_log "$T/bsub-b.err"
say "tenants cannot publish"

# ---- TLS, the broker's side -------------------------------------------
out=$(openssl s_client -connect "127.0.0.1:$MQ_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
        -CAfile "$PKI/ca.crt" < /dev/null 2>&1) && fail "the broker took TLS 1.1"
echo "$out" | grep_all -q "protocol version\|unsupported protocol\|no protocols" ||
  { echo "$out" | tail -5; fail "TLS 1.1: not refused for its version"; }
# shellcheck disable=SC2046
mosquitto_sub -h localhost -p "$MQ_PORT" --cafile "$PKI/ca.crt" -t '#' -C 1 -W 3 \
  > "$T/anon.out" 2>&1 && fail "an anonymous client got in"
# shellcheck disable=SC2046
mosquitto_sub -h localhost -p "$MQ_PORT" --cafile "$PKI/ca.crt" --cert "$PKI/stranger.crt" \
  --key "$PKI/stranger.key" -t '#' -C 1 -W 3 > "$T/stranger.out" 2>&1 &&
  fail "a certificate of another CA got in"

# ---- TLS, blockwatch's side -------------------------------------------
refused "no client certificate" "wants a client certificate" \
  --mqtt "$MQ_URI" --cafile "$PKI/ca.crt"
refused "certificate of another CA" "refused the client certificate" \
  --mqtt "$MQ_URI" --cafile "$PKI/ca.crt" --cert "$PKI/stranger.crt" --key "$PKI/stranger.key"
refused "wrong CA" "certificate is not trusted" \
  --mqtt "$MQ_URI" --cafile "$PKI/other-ca.crt" --cert "$PKI/vm-a.crt" --key "$PKI/vm-a.key"
refused "wrong host name" "certificate is not for 127.0.0.2" \
  --mqtt "mqtts://127.0.0.2:$MQ_PORT" $(tls_of vm-a)
refused "plaintext" "mqtt:// is MQTT without TLS" --mqtt "mqtt://localhost:$MQ_PORT"
refused "key of another certificate" "does not belong to the certificate" \
  --mqtt "$MQ_URI" --cafile "$PKI/ca.crt" --cert "$PKI/vm-a.crt" --key "$PKI/vm-b.key"
refused "bad cipher list" "cipher list 'NO-SUCH-CIPHER'" \
  --mqtt "$MQ_URI" $(tls_of vm-a) --ciphers NO-SUCH-CIPHER

# A server of TLS 1.1 only (with a cipher TLS 1.1 can use without the
# signatures OpenSSL 3 forbids): Paho must not even offer it.
OLD_PORT=$(free_port)
openssl s_server -www -accept "127.0.0.1:$OLD_PORT" -cert "$PKI/server.crt" \
  -key "$PKI/server.key" -tls1_1 -cipher 'AES256-SHA:@SECLEVEL=0' \
  > "$T/s_server.log" 2>&1 &
register_pid $!
wait_for 10 -s "$T/s_server.log" || true
refused "TLS 1.1 server" "no TLS version both sides accept" \
  --mqtt "mqtts://localhost:$OLD_PORT" $(tls_of vm-a)
# Both handshakes failed on the server for the version: Paho's and the
# diagnosis's.
[ "$(grep -c 'unsupported protocol' "$T/s_server.log")" -ge 2 ] ||
  { cat "$T/s_server.log"; fail "Paho's handshake was not refused for its version"; }
# The bridge says the same while it retries.
rc=0
"$BW_BUILD/tests/mqtt-emit" --mqtt "mqtts://localhost:$OLD_PORT" $(tls_of appliance) \
  --host kvm-07 --vm vm-a --disk d0 --drain 2 < "$T/events.jsonl" 2> "$T/emit-old.err" || rc=$?
check_san_log "$T/emit-old.err"
[ $rc = 1 ] || fail "events went to a TLS 1.1 server"
grep -q "no TLS version both sides accept.*retrying" "$T/emit-old.err" ||
  { cat "$T/emit-old.err"; fail "the bridge does not say why it cannot connect"; }
grep -q "closed with 3 messages not delivered" "$T/emit-old.err" ||
  { cat "$T/emit-old.err"; fail "the bridge does not say what it could not deliver"; }
