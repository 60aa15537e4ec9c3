#!/bin/bash
# make demo: blockwatch end to end on one machine.  A fresh ext4 disk
# image behind the appliance (blockwatchd: the proxy and its
# introspector), mosquitto with the shipped configuration (TLS, client
# certificates, the data firewall) and certificates made for the demo,
# a real Linux ext4 mount through the proxy (nbdfuse + loop), a small
# scripted workload in the "guest", and what a tenant receives:
# blockwatch sub 'demo:*:/**', one line per file event.
#
#   appliance/demo.sh            run it (make demo builds first)
#   appliance/demo.sh --check    only say whether this machine can
#
# Ctrl-C, or DEMO_SECONDS=N, ends it (without either it runs until
# Ctrl-C on a terminal, 60 s otherwise); everything is torn down in
# order, and nothing is left: processes, mounts, loop devices, sockets,
# the work directory.
# Environment: BUILD (default build/), NBDKIT (the nbdkit blockwatchd
# runs; tests give one that preloads the sanitizer), DEMO_LOGS (a
# directory to keep the logs of the broker, blockwatchd, the subscriber
# and nbdfuse in).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
BW=$BUILD/blockwatch
BWD=$BUILD/blockwatchd
NBDKIT=${NBDKIT:-nbdkit}

no() { echo "make demo: $*" >&2; exit 1; }

# What the machine must offer; said before anything is installed.
[ "$(id -u)" = 0 ] ||
  no "needs root: it attaches the disk image to a loop device and mounts it with the kernel's ext4 (sudo make demo)"
[ -c /dev/fuse ] ||
  no "needs /dev/fuse: nbdfuse makes the proxied disk a file with FUSE (load the fuse module; a container needs --device /dev/fuse)"
losetup -f > /dev/null 2>&1 ||
  no "needs a free loop device (losetup -f finds none; modprobe loop, or a container needs the loop devices)"
[ "${1:-}" = --check ] && exit 0

PATH=$PATH:/usr/sbin:/sbin
for p in "$BW" "$BWD" "$BUILD/nbdkit-blockwatch-plugin.so"; do
  [ -e "$p" ] || no "$p is missing: build first (make)"
done
for c in "$NBDKIT" nbdfuse mosquitto mosquitto_sub mosquitto_passwd openssl mkfs.ext4 e2fsck curl; do
  command -v "$c" > /dev/null || no "$c is not installed (make deps)"
done
if [ -n "${DEMO_SECONDS:-}" ]; then
  total=$DEMO_SECONDS
elif [ -t 0 ]; then
  total=0                     # until Ctrl-C
else
  total=60
fi

W=$(mktemp -d /tmp/blockwatch-demo.XXXXXX)
PKI=$W/pki
MNT=$W/mnt
LOOP= BROKER= DAEMON= SUB= NBDFUSE= MQ_PORT=
CONF=$W/blockwatch.conf

blue() { printf '\033[1;34m%s\033[0m\n' "$*"; }
say() { printf '== %s\n' "$*"; }
step() { printf '\n'; blue "guest\$ $*"; }
# A loopback TCP port the kernel has free (perl-base is essential).
free_port() {
  perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new (Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'
}
# stop PID SECONDS: SIGTERM, and SIGKILL if it is still there then.
stop() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill "$1" 2>/dev/null
  for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  echo "   pid $1 did not stop in $2 s: killed" >&2
  kill -9 "$1" 2>/dev/null
}
# The appliance's retained status, as the monitoring certificate reads it.
appliance_status() {
  mosquitto_sub -h localhost -p "$MQ_PORT" --cafile "$PKI/ca.crt" \
    --cert "$PKI/monitor.crt" --key "$PKI/monitor.key" -C 1 -W 3 \
    -t 'blockwatch/demo/$status' 2>/dev/null || echo "(none)"
}

# In order: the guest's mount, the disk's file, the appliance (nbdkit
# hands the introspector the rest of the tap, its bridge delivers it),
# the subscriber, the broker.  A second Ctrl-C waits for this.
cleanup() {
  local rc=$?
  set +e
  trap '' INT TERM
  trap - EXIT
  echo
  say "tearing down"
  mountpoint -q "$MNT" && umount "$MNT"
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  mountpoint -q "$W/fuse" && umount "$W/fuse"
  stop "$NBDFUSE" 10
  if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
    echo "   blockwatch status:"
    "$BW" status -c "$CONF" 2>&1 | sed 's/^/   │ /'
    stop "$DAEMON" 40
    wait "$DAEMON" 2>/dev/null
    echo "   blockwatch/demo/\$status: $(appliance_status)"
  fi
  sleep 0.5                   # the subscriber prints the last events
  stop "$SUB" 10
  stop "$BROKER" 10
  wait 2>/dev/null
  if [ -f "$W/disk.img" ] && e2fsck -fn "$W/disk.img" > /dev/null 2>&1; then
    echo "   e2fsck -fn of the disk image: clean"
  fi
  if [ $rc -ne 0 ] && [ $rc -ne 130 ]; then
    for f in "$W"/*.log; do
      [ -s "$f" ] && { echo "   --- $f"; tail -15 "$f" | sed 's/^/   /'; }
    done
  fi
  [ -n "${DEMO_LOGS:-}" ] && cp "$W"/*.log "$DEMO_LOGS"/ 2>/dev/null
  rm -rf "$W"
  say "done: no process, mount, loop device or socket left ($W removed)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "blockwatch demo: a disk behind the proxy, its file events over MQTT"
echo "   work dir $W; $([ "$total" = 0 ] && echo "Ctrl-C ends it" ||
  echo "ends after $total s (DEMO_SECONDS), or at Ctrl-C")"

# Certificates: the broker's (localhost), the appliance's, the
# tenant's (CN = its VM's name: the ACL lets it read that VM), and the
# monitor's.
mkdir -m 700 "$PKI"
cert() {   # cert NAME CN EXTENSIONS
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$3" > "$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -out "$PKI/$1.crt" -days 1 -extfile "$PKI/$1.ext" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 1 -subj "/CN=blockwatch demo CA" 2>/dev/null
cert server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
cert appliance blockwatch-appliance extendedKeyUsage=clientAuth
cert tenant demo-vm extendedKeyUsage=clientAuth
cert monitor blockwatch-monitor extendedKeyUsage=clientAuth
say "certificates: a demo CA; the broker (localhost), the appliance (CN blockwatch-appliance),"
echo "   the tenant (CN demo-vm), the monitor (CN blockwatch-monitor)"

# mosquitto: the shipped configuration, on loopback, with the demo's
# files, and the web view's WebSockets listener, where the tenant logs
# in with a password.  It drops root for user mosquitto, who gets its
# own copies.
MQ_PORT=$(free_port) && WS_PORT=$(free_port) && WEB_PORT=$(free_port) ||
  no "no free port"
WEB_PASSWORD=demo-$(openssl rand -hex 4)
mkdir -m 755 "$W/broker"
cp "$top/appliance/mosquitto/blockwatch.acl" "$PKI/ca.crt" "$PKI/server.crt" \
   "$PKI/server.key" "$W/broker/"
mosquitto_passwd -c -b "$W/broker/web.passwd" demo-vm "$WEB_PASSWORD"
sed -e "s|/etc/mosquitto/blockwatch/|$W/broker/|g" \
    -e "s|^listener 8883$|listener $MQ_PORT 127.0.0.1|" \
    -e "s|^listener 8884$|listener $WS_PORT 127.0.0.1|" \
    "$top/appliance/mosquitto/blockwatch.conf" \
    "$top/appliance/mosquitto/web.conf" > "$W/broker/mosquitto.conf"
printf '%s\n' "log_dest stderr" "log_type error" "log_type warning" \
  "log_type notice" "log_type subscribe" >> "$W/broker/mosquitto.conf"
if id mosquitto > /dev/null 2>&1; then
  chmod 711 "$W"
  chown -R mosquitto "$W/broker"
else
  echo "user root" >> "$W/broker/mosquitto.conf"
fi
# Daemons get a session of their own: a Ctrl-C on the terminal reaches
# this script only, which stops them in order.  (Without job control a
# background command is no group leader, so setsid does not fork and
# $! is the daemon.)
setsid mosquitto -c "$W/broker/mosquitto.conf" 2> "$W/mosquitto.log" &
BROKER=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$MQ_PORT") 2>/dev/null && break
  kill -0 $BROKER 2>/dev/null || no "mosquitto did not start: $(tail -3 "$W/mosquitto.log")"
  sleep 0.1
done
say "mosquitto (appliance/mosquitto: TLS 1.2+, client certificates, the data firewall) on mqtts://localhost:$MQ_PORT"

# The disk and the appliance.
truncate -s 256M "$W/disk.img"
mkfs.ext4 -q -F -b 4096 -L demo "$W/disk.img"
METRICS_PORT=$(free_port) || no "no free port"
cat > "$CONF" <<EOF
[appliance]
host = demo
run-dir = $W/run
state-dir = $W/state
metrics = 127.0.0.1:$METRICS_PORT
# The live web view's page (the broker's certificate serves it too).
web = 127.0.0.1:$WEB_PORT
web-cert = $PKI/server.crt
web-key = $PKI/server.key
web-dir = $top/appliance/web
nbdkit = $NBDKIT
log-level = warning
stop-timeout = 20

[broker]
uri = mqtts://localhost:$MQ_PORT
ca-file = $PKI/ca.crt
cert = $PKI/appliance.crt
key = $PKI/appliance.key
drain = 5

[policy]
# Writes carry their bytes (up to 4 KiB): the text shows.
data = bytes:4096

[disk demo-disk]
vm = demo-vm
backend = $W/disk.img
listen = unix:$W/run/demo-disk/nbd.sock
EOF
setsid "$BWD" -c "$CONF" 2> "$W/blockwatchd.log" &
DAEMON=$!
for _ in $(seq 300); do
  [ -S "$W/run/demo-disk/nbd.sock" ] && break
  kill -0 $DAEMON 2>/dev/null || no "blockwatchd stopped: $(tail -5 "$W/blockwatchd.log")"
  sleep 0.1
done
[ -S "$W/run/demo-disk/nbd.sock" ] || no "the disk is not exported: $(tail -5 "$W/blockwatchd.log")"
say "blockwatchd ($CONF): disk demo-disk of VM demo-vm, a fresh 256 MiB ext4 image,"
echo "   proxied by nbdkit + the blockwatch plugin, introspected, published; appliance \$status: $(appliance_status)"

# The tenant: every file of every VM of host demo it may read.
setsid "$BW" sub --mqtt "mqtts://localhost:$MQ_PORT" --cafile "$PKI/ca.crt" \
  --cert "$PKI/tenant.crt" --key "$PKI/tenant.key" --client-id demo-tenant \
  'demo:*:/**' > >(trap '' INT; exec sed -u 's/^/  event │ /') 2> "$W/sub.log" &
SUB=$!
for _ in $(seq 50); do
  grep -q ": demo-tenant [0-2] " "$W/mosquitto.log" && break
  sleep 0.1
done
say "the tenant (CN demo-vm) follows: blockwatch sub 'demo:*:/**'"
say "the same in a browser (the live web view; trust $PKI/ca.crt, or accept the warning):"
echo "   https://localhost:$WEB_PORT/?channel=demo:*:/**&broker=wss://localhost:$WS_PORT/mqtt&user=demo-vm"
echo "   password $WEB_PASSWORD"

# The guest: the kernel's ext4 on the proxied disk.
mkdir "$W/fuse" "$MNT"
setsid nbdfuse "$W/fuse/nbd" --unix "$W/run/demo-disk/nbd.sock" 2> "$W/nbdfuse.log" &
NBDFUSE=$!
for _ in $(seq 50); do [ -f "$W/fuse/nbd" ] && break; sleep 0.1; done
LOOP=$(losetup -f --show "$W/fuse/nbd")
mount -t ext4 "$LOOP" "$MNT"
say "the guest: kernel ext4 mounted from $LOOP (nbdfuse -> the proxy) at $MNT"

step "mkdir -p /etc /var/log; echo 'port=80' > /etc/app.conf"
mkdir -p "$MNT/etc" "$MNT/var/log"
echo "port=80" > "$MNT/etc/app.conf"; sync
step "chmod 600 /etc/app.conf"
chmod 600 "$MNT/etc/app.conf"; sync

i=0 end=$((SECONDS + total))
while [ "$total" = 0 ] || [ $SECONDS -lt $end ]; do
  i=$((i + 1))
  step "echo 'request $i served' >> /var/log/app.log"
  echo "$(date +%T) request $i served" >> "$MNT/var/log/app.log"; sync
  case $((i % 6)) in
    2) step "sed -i s/port=.*/port=$((8000 + i))/ /etc/app.conf   (an editor: new file, renamed over)"
       sed -i "s/port=.*/port=$((8000 + i))/" "$MNT/etc/app.conf"; sync;;
    4) step "mv /var/log/app.log /var/log/app.log.$i   (log rotation)"
       mv "$MNT/var/log/app.log" "$MNT/var/log/app.log.$i"; sync;;
    5) step "rm /var/log/app.log.*"
       rm -f "$MNT/var/log/app.log."*; sync;;
  esac
  sleep 1
done
