#!/bin/bash
# The VM appliance image (make image) boots, through its own boot loader,
# in QEMU (TCG), and serves: blockwatchd starts under systemd with the
# site's configuration, exports a disk (a second virtio drive holding
# ext4) whose introspector crawls it and publishes over TLS to the
# image's mosquitto, where a tenant reads it through the data firewall;
# /healthz and /metrics answer; a power-off stops blockwatchd in order.
#
# Takes a few minutes (debootstrap from the Debian mirror, then a
# software-emulated boot), so it runs only when asked: BW_IMAGE_TEST=1.
. "$(dirname "$0")/lib.sh"
. "$BW_SRC/tests/mqtt-lib.sh"

[ "${BW_IMAGE_TEST:-0}" = 1 ] ||
  skip "builds and boots the VM image (minutes): set BW_IMAGE_TEST=1"
require_loop
require qemu-system-x86_64 mmdebstrap qemu-img sfdisk curl mkfs.ext4

say "the site's files: configuration, certificates, a drop-in"
make_pki guest-1 guest-2
ov=$T/overlay
install -d "$ov/etc/blockwatch/tls" "$ov/etc/mosquitto/blockwatch" \
  "$ov/etc/systemd/system/blockwatchd.service.d"
cp "$PKI/ca.crt" "$PKI/appliance.crt" "$PKI/appliance.key" "$ov/etc/blockwatch/tls/"
cp "$PKI/ca.crt" "$PKI/server.crt" "$PKI/server.key" "$ov/etc/mosquitto/blockwatch/"
cat > "$ov/etc/blockwatch/blockwatch.conf" <<'EOF'
[appliance]
host = vm-test
# Reached from the host through QEMU's port forwarding.
metrics = 0.0.0.0:9810

[broker]
uri = mqtts://localhost:8883
ca-file = /etc/blockwatch/tls/ca.crt
cert = /etc/blockwatch/tls/appliance.crt
key = /etc/blockwatch/tls/appliance.key

[disk data]
vm = guest-1
backend = /dev/vdb
listen = unix:/run/blockwatch/data/nbd.sock
EOF
# A block device backend needs group disk; the daemon's lines go to the
# serial console too, for this test to read.
cat > "$ov/etc/systemd/system/blockwatchd.service.d/test.conf" <<'EOF'
[Service]
SupplementaryGroups=disk
StandardError=journal+console
EOF

say "make image"
BW_IMAGE_OVERLAY=$ov make -C "$BW_SRC" BUILD=build image IMAGE="$T/vm.qcow2" \
  > "$T/image.log" 2>&1 || { tail -30 "$T/image.log"; fail "make image failed"; }
tail -1 "$T/image.log"

say "booting it (TCG)"
mkdir "$T/data"
echo "hello from the guest's disk" > "$T/data/hello.txt"
mkfs.ext4 -q -d "$T/data" "$T/data.img" 32M
MPORT=$(free_port)
MQ_PORT=$(free_port)
mkfifo "$T/monitor.in" "$T/monitor.out"
[ "$MPORT" != "$MQ_PORT" ] || fail "free_port gave one port twice"
qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -display none -no-reboot \
  -drive "file=$T/vm.qcow2,if=virtio,snapshot=on" \
  -drive "file=$T/data.img,if=virtio,format=raw" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$MPORT-:9810,hostfwd=tcp:127.0.0.1:$MQ_PORT-:8883" \
  -device virtio-net-pci,netdev=n0 \
  -serial "file:$T/console.log" -chardev "pipe,id=mon,path=$T/monitor" -mon chardev=mon &
qemu=$!
register_pid $qemu

# Boot to blockwatchd serving its disk: about a minute without KVM.
ok=0
for _ in $(seq 300); do
  kill -0 $qemu 2>/dev/null || { tail -40 "$T/console.log"; fail "qemu exited"; }
  if [ "$(curl -sf --max-time 5 "http://127.0.0.1:$MPORT/healthz")" = ok ]; then
    ok=1; break
  fi
  sleep 1
done
[ $ok = 1 ] || { tail -60 "$T/console.log"; fail "no /healthz ok from the VM in 300 s"; }
# journald's copy on the console: "blockwatchd[PID]: ..." is systemd's.
grep -a -E -q 'blockwatchd\[[0-9]+\]: started: 1 disks, configuration /etc/blockwatch/blockwatch.conf' \
  "$T/console.log" || fail "the console has no start line of blockwatchd.service"
say "blockwatchd started under systemd and is healthy"

curl -sf "http://127.0.0.1:$MPORT/metrics" > "$T/metrics" || fail "no /metrics"
for p in nbdkit introspector; do
  grep -q "^blockwatch_up{disk=\"data\",process=\"$p\"} 1$" "$T/metrics" ||
    fail "$p of disk data is not up: $(grep blockwatch_up "$T/metrics")"
done
# The crawl of /dev/vdb found its ext4.
for _ in $(seq 60); do
  grep -q '^blockwatch_introspector_filesystems{disk="data"} 1$' "$T/metrics" && break
  sleep 1
  curl -sf "http://127.0.0.1:$MPORT/metrics" > "$T/metrics" || fail "no /metrics"
done
grep -q '^blockwatch_introspector_filesystems{disk="data"} 1$' "$T/metrics" ||
  fail "the introspector found no file system on /dev/vdb"
say "nbdkit and the introspector run; the disk's ext4 was crawled"

# The bridge's retained $status reaches guest-1, the disk's VM, through
# the image's broker (TLS, client certificates, ACL); guest-2 reads
# nothing of it.
sub() {   # sub NAME: the first message NAME may read of blockwatch/#
  # shellcheck disable=SC2046
  timeout 60 mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of "$1") -i "sub-$1" \
    -F '%t %p' -t 'blockwatch/#' -C 1 -W "$2" 2> "$T/$1.err" || true
}
got=
for _ in $(seq 10); do
  got=$(sub guest-1 10)
  [ -n "$got" ] && break
  sleep 2
done
[ "$got" = 'blockwatch/vm-test/guest-1/data/$status online' ] ||
  fail "guest-1 read '$got' ($(cat "$T/guest-1.err"))"
[ -z "$(sub guest-2 3)" ] || fail "guest-2 read guest-1's status"
say "mosquitto in the image: guest-1 reads '$got', guest-2 nothing"

say "powering off"
cat "$T/monitor.out" > /dev/null &
register_pid $!
echo system_powerdown > "$T/monitor.in"
for _ in $(seq 120); do kill -0 $qemu 2>/dev/null || break; sleep 1; done
kill -0 $qemu 2>/dev/null && fail "the VM did not power off in 120 s"
# SIGTERM to blockwatchd alone (KillMode=mixed), which stops nbdkit
# first, so that the tap drains, then the introspector.
tr -d '\r' < "$T/console.log" |
  grep -a -E -o 'blockwatchd\[[0-9]+\]: (Terminated: stopping every disk|disk data: stopping [a-z]+|stopped$)' |
  sed 's/^blockwatchd\[[0-9]*\]: //' > "$T/stop.log"
cat "$T/stop.log"
[ "$(cat "$T/stop.log")" = "Terminated: stopping every disk
disk data: stopping nbdkit
disk data: stopping introspector
stopped" ] || fail "blockwatchd did not stop its disk in order"
say "the VM powered off; blockwatchd stopped its disk in order"
