# MQTT helpers for the tests: certificates made on the spot and
# mosquitto run with the appliance's own configuration
# (appliance/mosquitto/), on a free loopback port.  Source after lib.sh.

require mosquitto mosquitto_sub mosquitto_pub openssl jq

PKI=$T/pki

_key_and_csr() {   # NAME CN
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$2" 2>/dev/null
}

# new_ca NAME: a CA (EC keys: fast to make)
new_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 2 -subj "/CN=$1 test CA" \
    2>/dev/null || fail "openssl: cannot make CA $1"
}

# new_cert NAME CN EXTENSIONS [CA]: a certificate of CA (default ca)
new_cert() {
  local ca=${4:-ca}
  _key_and_csr "$1" "$2"
  printf '%s\n' "$3" > "$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -CAcreateserial -out "$PKI/$1.crt" -days 2 -extfile "$PKI/$1.ext" \
    2>/dev/null || fail "openssl: cannot make certificate $1"
}

# make_pki CLIENT...: the CA, the broker's certificate (localhost,
# 127.0.0.1), the appliance's (CN blockwatch-appliance), one per CLIENT
# (CN = CLIENT, a VM's name for a tenant), and "stranger", CN vm-a but
# from another CA.
make_pki() {
  local c
  mkdir -p "$PKI"
  new_ca ca
  new_ca other-ca
  new_cert server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
  new_cert appliance blockwatch-appliance "extendedKeyUsage=clientAuth"
  new_cert stranger vm-a "extendedKeyUsage=clientAuth" other-ca
  for c in "$@"; do new_cert "$c" "$c" "extendedKeyUsage=clientAuth"; done
}

# tls_of NAME: the TLS options for a client with certificate NAME;
# blockwatch and mosquitto_sub/pub spell them the same.
tls_of() { echo "--cafile $PKI/ca.crt --cert $PKI/$1.crt --key $PKI/$1.key"; }

# start_broker [CONFIG LINE...]: mosquitto with the shipped
# configuration; the same port again after stop_broker.  Sets MQ_PORT,
# MQ_URI (mqtts://localhost:PORT), MQ_PID; log in $T/mosquitto.log.
start_broker() {
  local line
  MQ_PORT=${MQ_PORT:-$(free_port)}
  cp "$BW_SRC/appliance/mosquitto/blockwatch.acl" "$PKI/"
  sed -e "s|/etc/mosquitto/blockwatch/|$PKI/|g" \
      -e "s|^listener 8883$|listener $MQ_PORT 127.0.0.1|" \
      "$BW_SRC/appliance/mosquitto/blockwatch.conf" > "$T/mosquitto.conf"
  grep -q "^listener $MQ_PORT 127.0.0.1$" "$T/mosquitto.conf" || fail "no listener line in blockwatch.conf"
  {
    # Started as root, mosquitto would drop to user mosquitto, which
    # cannot read the test's keys.
    echo "user root"
    echo "log_dest stderr"
    echo "log_type error"; echo "log_type warning"; echo "log_type notice"
    echo "log_type information"; echo "log_type subscribe"
    for line in "$@"; do echo "$line"; done
  } >> "$T/mosquitto.conf"
  mosquitto -c "$T/mosquitto.conf" >> "$T/mosquitto.log" 2>&1 &
  MQ_PID=$!
  register_pid $MQ_PID
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MQ_PORT") 2>/dev/null && break
    kill -0 $MQ_PID 2>/dev/null || { cat "$T/mosquitto.log" >&2; fail "mosquitto did not start"; }
    sleep 0.1
  done
  MQ_URI=mqtts://localhost:$MQ_PORT
}

# broker_section: blockwatchd's [broker] section for this broker, with
# the appliance's certificate.
broker_section() {
  printf '%s\n' "[broker]" "uri = $MQ_URI" "ca-file = $PKI/ca.crt" \
    "cert = $PKI/appliance.crt" "key = $PKI/appliance.key"
}

stop_broker() {
  kill "$MQ_PID"
  wait_for 10 ! -d "/proc/$MQ_PID" || fail "mosquitto did not stop"
  wait "$MQ_PID" 2>/dev/null || true
}

# wait_subscribed CLIENT-ID [COUNT]: until the broker has logged COUNT
# (1) subscriptions of that client ("CLIENT QOS FILTER" lines).
wait_subscribed() {
  local n
  for _ in $(seq 100); do
    n=$(grep -c "^[0-9]*: $1 [0-2] " "$T/mosquitto.log" || true)
    [ "$n" -ge "${2:-1}" ] && return 0
    sleep 0.1
  done
  fail "$1 did not subscribe"
}

# wait_lines FILE N SECONDS [PATTERN]: until FILE has N lines (matching
# PATTERN).
wait_lines() {
  local n=0
  for _ in $(seq $(($3 * 10))); do
    n=$(grep -c -- "${4:-}" "$1" 2>/dev/null || true)
    [ "$n" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "$1: $n lines of ${4:-any kind}, expected $2"
}

# sub_of NAME: a mosquitto_sub of tenant NAME's in the background, MQTT
# 3.1.1, QoS 1, printing TOPIC<tab>PAYLOAD; the rest of the arguments
# are topic filters (-t) and options.  Output in $T/NAME.sub.
sub_of() {
  local name=$1; shift
  # shellcheck disable=SC2046
  mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of "$name") -q 1 -i "sub-$name" \
    -F '%t\t%p' "$@" > "$T/$name.sub" 2> "$T/$name.sub.err" &
  register_pid $!
  wait_subscribed "sub-$name"
}

# appliance_conf METRICS-PORT STOP-TIMEOUT: for a blockwatchd
# configuration, its [appliance] section (host lab, run directory
# $T/run, state directory $T/state) and the start of [broker]: the
# broker started here, the appliance's certificate, QoS 1.  The test
# adds the rest.
appliance_conf() {
  cat <<EOF
[appliance]
host = lab
run-dir = $T/run
state-dir = $T/state
metrics = 127.0.0.1:$1
nbdkit = $(nbdkit_program)
stop-timeout = $2

[broker]
uri = $MQ_URI
ca-file = $PKI/ca.crt
cert = $PKI/appliance.crt
key = $PKI/appliance.key
qos = 1
EOF
}
