#!/bin/bash
# The VM appliance image (make image) boots in QEMU (TCG) through its
# own boot loader, unconfigured: blockwatchd and mosquitto are skipped,
# SSH answers with the key built in.  The Ansible role then makes it an
# appliance over SSH, on a real systemd: blockwatchd serves two disks
# (second and third virtio drives holding ext4), the introspector
# crawls them and publishes over TLS to the VM's mosquitto, where the
# disk's tenant reads its status and another tenant nothing; /healthz
# and /metrics answer; the nftables table lets through what it allows
# and drops the rest, and a change to it leaves blockwatchd alone; a
# power-off stops blockwatchd's disks in order.  (The role's second run
# changing nothing is tests/ansible-role-installs-appliance.sh's.)
#
# Takes several minutes (debootstrap from the Debian mirror, a
# software-emulated machine), so it runs in `make image-check`, not in `make check`
# (and BW_TEST_TIMEOUT=1200 for tests/run on a busy machine).
. "$(dirname "$0")/../../tests/lib.sh"
. "$BW_SRC/tests/mqtt-lib.sh"

require_loop
require qemu-system-x86_64 mmdebstrap qemu-img sfdisk curl mkfs.ext4 nbdinfo \
  ssh ssh-keygen ansible-playbook

say "make image, with an SSH key and a drop-in that copies blockwatchd's log to the console"
ssh-keygen -q -t ed25519 -N '' -f "$T/id"
ov=$T/overlay
install -d "$ov/etc/systemd/system/blockwatchd.service.d"
printf '[Service]\nStandardError=journal+console\n' \
  > "$ov/etc/systemd/system/blockwatchd.service.d/console.conf"
BW_IMAGE_OVERLAY=$ov BW_IMAGE_SSH_KEY=$T/id.pub \
  make -C "$BW_SRC" BUILD=build image IMAGE="$T/vm.qcow2" > "$T/image.log" 2>&1 ||
  { tail -30 "$T/image.log"; fail "make image failed"; }
tail -1 "$T/image.log"

say "booting it (TCG)"
for d in a b; do
  mkdir "$T/$d"
  echo "hello from disk $d" > "$T/$d/hello.txt"
  mkfs.ext4 -q -d "$T/$d" "$T/$d.img" 32M
done
SSH_PORT=$(free_port) MPORT=$(free_port) MQ_PORT=$(free_port) NBD_PORT=$(free_port)
[ "$(printf '%s\n' $SSH_PORT $MPORT $MQ_PORT $NBD_PORT | sort -u | wc -l)" = 4 ] ||
  fail "free_port gave one port twice"
mkfifo "$T/monitor.in" "$T/monitor.out"
fwd() { echo "hostfwd=tcp:127.0.0.1:$1-:$2"; }
qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -display none -no-reboot \
  -drive "file=$T/vm.qcow2,if=virtio,snapshot=on" \
  -drive "file=$T/a.img,if=virtio,format=raw" -drive "file=$T/b.img,if=virtio,format=raw" \
  -netdev "user,id=n0,$(fwd $SSH_PORT 22),$(fwd $MPORT 9810),$(fwd $MQ_PORT 8883),$(fwd $NBD_PORT 10809)" \
  -device virtio-net-pci,netdev=n0 \
  -serial "file:$T/console.log" -chardev "pipe,id=mon,path=$T/monitor" -mon chardev=mon &
qemu=$!
register_pid $qemu
cat "$T/monitor.out" > /dev/null &
register_pid $!

vm() {
  ssh -q -i "$T/id" -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=10 -o BatchMode=yes root@127.0.0.1 "$@"
}
ok=0
for _ in $(seq 60); do
  kill -0 $qemu 2>/dev/null || { tail -40 "$T/console.log"; fail "qemu exited"; }
  if vm true 2>/dev/null; then ok=1; break; fi
  sleep 5
done
[ $ok = 1 ] || { tail -60 "$T/console.log"; fail "no SSH into the VM in 300 s"; }
vm systemctl is-system-running --wait > "$T/state" 2>&1 || true
say "booted: system $(cat "$T/state")"
for u in blockwatchd mosquitto; do
  vm systemctl show -P ConditionResult $u > "$T/cond" || fail "systemctl show $u"
  [ "$(cat "$T/cond")" = no ] || fail "$u was not skipped without its files"
done
vm systemctl is-active ssh > /dev/null || fail "ssh is not active"
say "unconfigured: blockwatchd and mosquitto skipped, SSH up (host keys made at boot)"

say "the role makes it an appliance"
make_pki guest-1 guest-2
make -s -C "$BW_SRC" BUILD=build install DESTDIR="$T/stage" PREFIX=/usr > "$T/make.log" 2>&1 ||
  { cat "$T/make.log"; fail "make install"; }
cat > "$T/inventory" <<EOF
vm ansible_host=127.0.0.1 ansible_port=$SSH_PORT ansible_user=root ansible_ssh_private_key_file=$T/id ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' ansible_python_interpreter=/usr/bin/python3
EOF
# QEMU's user network: connections forwarded from the host come from
# 10.0.2.2.
cat > "$T/play.yml" <<EOF
---
- name: The VM image made an appliance
  hosts: vm
  gather_facts: false
  vars:
    blockwatch_stage_dir: $T/stage
    # The image has the packages; its apt lists are not needed here.
    blockwatch_manage_packages: false
    blockwatch_appliance:
      host: vm-test
      metrics: 0.0.0.0:9810
    blockwatch_metrics_allow: [10.0.2.2]
    blockwatch_broker_local: true
    blockwatch_broker: {uri: "mqtts://localhost:8883", qos: 1}
    blockwatch_broker_allow: [10.0.2.2]
    blockwatch_tls: {ca: $PKI/ca.crt, cert: $PKI/appliance.crt, key: $PKI/appliance.key}
    blockwatch_broker_tls: {ca: $PKI/ca.crt, cert: $PKI/server.crt, key: $PKI/server.key}
    blockwatch_disks:
      - name: data
        vm: guest-1
        backend: /dev/vdb
        listen: unix:/run/blockwatch/data/nbd.sock
      - name: pub
        vm: guest-1
        backend: /dev/vdc
        listen: tcp:10809
        allow: "{{ pub_allow | default(['10.0.2.2']) }}"
  roles:
    - blockwatch
EOF
export ANSIBLE_ROLES_PATH=$BW_SRC/ansible/roles ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false
play() { ansible-playbook -i "$T/inventory" "$T/play.yml" "$@"; }
play > "$T/run1.log" 2>&1 || { tail -40 "$T/run1.log"; fail "the role failed on the VM"; }
grep -A2 '^PLAY RECAP' "$T/run1.log" | grep 'vm '

ok=0
for _ in $(seq 120); do
  if [ "$(curl -sf --max-time 5 "http://127.0.0.1:$MPORT/healthz")" = ok ]; then ok=1; break; fi
  sleep 1
done
[ $ok = 1 ] || { tail -40 "$T/console.log"; fail "no /healthz ok from the VM"; }
# journald's copy on the console: "blockwatchd[PID]: ..." is systemd's.
grep -a -E -q 'blockwatchd\[[0-9]+\]: started: 2 disks, configuration /etc/blockwatch/blockwatch.conf' \
  "$T/console.log" || fail "the console has no start line of blockwatchd.service"
# shellcheck disable=SC2016
[ "$(vm 'stat -c %U /proc/$(systemctl show -P MainPID blockwatchd)')" = blockwatch ] ||
  fail "blockwatchd does not run as blockwatch"
say "blockwatchd started by systemd, as blockwatch, and is healthy"

scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics" > "$T/metrics" || fail "no /metrics"; }
for _ in $(seq 60); do
  scrape
  [ "$(grep -c '^blockwatch_introspector_filesystems{disk="[a-z]*"} 1$' "$T/metrics")" = 2 ] && break
  sleep 1
done
for d in data pub; do
  for p in nbdkit introspector; do
    grep -q "^blockwatch_up{disk=\"$d\",process=\"$p\"} 1$" "$T/metrics" ||
      fail "$p of disk $d is not up: $(grep blockwatch_up "$T/metrics")"
  done
  grep -q "^blockwatch_introspector_filesystems{disk=\"$d\"} 1$" "$T/metrics" ||
    fail "the introspector of $d found no file system"
done
say "both disks: nbdkit and the introspector up, ext4 crawled"

# The bridge's retained $status reaches guest-1, the disks' VM, through
# the VM's broker (TLS, client certificates, ACL); guest-2 reads none.
sub() {   # sub NAME SECONDS: what NAME may read of blockwatch/# (status lines)
  # shellcheck disable=SC2046
  timeout 60 mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of "$1") -i "sub-$1" \
    -F '%t %p' -t 'blockwatch/#' -W "$2" 2> "$T/$1.err" | sort || true
}
got=
for _ in $(seq 10); do
  got=$(sub guest-1 5)
  [ "$(echo "$got" | grep -c online)" = 2 ] && break
  sleep 2
done
[ "$got" = 'blockwatch/vm-test/guest-1/data/$status online
blockwatch/vm-test/guest-1/pub/$status online' ] ||
  fail "guest-1 read '$got' ($(cat "$T/guest-1.err"))"
[ -z "$(sub guest-2 3)" ] || fail "guest-2 read guest-1's status"
say "mosquitto: guest-1 reads both disks' status, guest-2 nothing"

nbdinfo --size "nbd://127.0.0.1:$NBD_PORT" > "$T/size" 2>&1 || { cat "$T/size"; fail "export pub not reachable"; }
[ "$(cat "$T/size")" = $((32 * 1024 * 1024)) ] || fail "export pub: size $(cat "$T/size")"
vm nft list table inet blockwatch > "$T/nft.out" || fail "no table inet blockwatch in the VM"
say "the firewall lets 10.0.2.2 reach the export, metrics and the broker"

# The first install starts blockwatchd once (no restart after the start).
[ "$(grep -a -c 'blockwatchd\[[0-9]*\]: started: ' "$T/console.log")" = 1 ] ||
  fail "blockwatchd was started more than once by the first run"
pid=$(vm systemctl show -P MainPID blockwatchd)

say "the export closed to the host: only the firewall's table is reloaded"
play --tags blockwatch_firewall -e '{"pub_allow": ["192.0.2.0/24"]}' > "$T/run3.log" 2>&1 ||
  { tail -40 "$T/run3.log"; fail "the firewall run failed"; }
timeout 20 nbdinfo --size "nbd://127.0.0.1:$NBD_PORT" > "$T/size" 2>&1 &&
  fail "export pub still reachable from 10.0.2.2"
[ "$(curl -sf --max-time 5 "http://127.0.0.1:$MPORT/healthz")" = ok ] ||
  fail "metrics no longer reachable"
[ "$(vm systemctl show -P MainPID blockwatchd)" = "$pid" ] || fail "blockwatchd was restarted"
say "dropped: the export; still open: metrics; blockwatchd untouched"

say "powering off"
echo system_powerdown > "$T/monitor.in"
for _ in $(seq 120); do kill -0 $qemu 2>/dev/null || break; sleep 1; done
kill -0 $qemu 2>/dev/null && fail "the VM did not power off in 120 s"
# SIGTERM to blockwatchd alone (KillMode=mixed), which stops each disk's
# nbdkit first, so that the tap drains, then its introspector.
tr -d '\r' < "$T/console.log" |
  grep -a -E -o 'blockwatchd\[[0-9]+\]: (Terminated: stopping every disk|disk [a-z]+: stopping [a-z]+|stopped$)' |
  sed 's/^blockwatchd\[[0-9]*\]: //' | tac | sed '/^Terminated/q' | tac > "$T/stop.log"
cat "$T/stop.log"
for d in data pub; do
  [ "$(grep "^disk $d: " "$T/stop.log" | cut -d' ' -f4)" = "nbdkit
introspector" ] || fail "disk $d did not stop nbdkit, then the introspector"
done
[ "$(head -1 "$T/stop.log")" = "Terminated: stopping every disk" ] &&
  [ "$(tail -1 "$T/stop.log")" = stopped ] || fail "blockwatchd did not stop cleanly"
say "the VM powered off; blockwatchd stopped its disks in order"
