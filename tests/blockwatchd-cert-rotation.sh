#!/bin/bash
# Client certificates rotated in place (new files at the same paths, as
# certbot, cert-manager or an Ansible run leave them) and blockwatchd
# reloaded (SIGHUP): the command lines are the same, so nothing is
# restarted; blockwatchd sees the files changed and has every bridge
# reconnect with them, the introspectors' (SIGUSR1) and its own.
# Certificate A has CN blockwatch-appliance, B blockwatch-appliance-next;
# mosquitto takes the CN as the user name (use_identity_as_username) and
# logs it with each connection.  While the kernel's ext4 writes on the
# disk, A is replaced by B and blockwatchd reloaded:
#  - the introspector keeps its pid, is not counted as restarted, and
#    its run has no overflow or resync;
#  - the broker sees the introspector's client and blockwatchd's
#    connect with B;
#  - then A is revoked (the broker's ACL lets only B publish) and the
#    guest writes more: the tenant receives every event the
#    introspector made, in order, once each or more (QoS 1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/faults-lib.sh"

fault_broker
new_cert appliance-next blockwatch-appliance-next "extendedKeyUsage=clientAuth"
acl_a=$(cat "$PKI/blockwatch.acl")
# acl USER...: the broker's ACL with these users writing the events, read
# again by mosquitto (SIGHUP).
acl() {
  local u n
  n=$(grep -c "Reloading config" "$T/mosquitto.log" || true)
  { printf '%s\n' "$acl_a" | sed '/^user blockwatch-appliance$/,/^$/d'
    for u in "$@"; do printf '\nuser %s\ntopic write blockwatch/#\n' "$u"; done
  } > "$PKI/blockwatch.acl.new"
  mv "$PKI/blockwatch.acl.new" "$PKI/blockwatch.acl"
  kill -HUP "$MQ_PID"
  for _ in $(seq 50); do
    [ "$(grep -c "Reloading config" "$T/mosquitto.log" || true)" -gt "$n" ] && return 0
    sleep 0.1
  done
  fail "mosquitto did not reload its ACL"
}
acl blockwatch-appliance blockwatch-appliance-next
# with_cn CN: the broker's connections made with that certificate.
with_cn() { grep -c "u'$1')" "$T/mosquitto.log" || true; }
tenant
new_disk a
fault_config -- "$(fault_disk a)"
start_daemon a
mount_disk a
head -c 200k /dev/urandom > "$T/src"

mkdir "$T/a.mnt/before"
for i in $(seq 10); do echo "before $i" > "$T/a.mnt/before/f$i"; done
sync
intro=$(pid_of a introspector)
[ -n "$intro" ] || fail "no introspector pid"
[ "$(with_cn blockwatch-appliance)" -ge 2 ] || fail "blockwatchd and its introspector did not connect with certificate A"
[ "$(with_cn blockwatch-appliance-next)" = 0 ] || fail "certificate B was used before the rotation"
connects=$(metric 'blockwatch_mqtt_connects_total{disk="a"}')

# The rotation, while the guest writes: the certificate rewritten in
# place (same inode), the key replaced by a rename (a new one).
mkdir "$T/a.mnt/during"
paced_writer "$T/a.mnt/during" 15
sleep 0.5
cat "$PKI/appliance-next.crt" > "$PKI/appliance.crt"
cp "$PKI/appliance-next.key" "$PKI/appliance.key.new"
mv "$PKI/appliance.key.new" "$PKI/appliance.key"
kill -HUP "$daemon"
for _ in $(seq 100); do
  [ "$(with_cn blockwatch-appliance-next)" -ge 2 ] && break
  sleep 0.1
done
[ "$(with_cn blockwatch-appliance-next)" -ge 2 ] ||
  { grep -i "certificate\|SIGHUP\|reconnect" "$T/daemon.log" | tail; fail "the bridges did not reconnect with certificate B"; }
wait $writer || fail "the guest's writes failed during the rotation"
grep -q "the introspector reconnects with the new certificate files" "$T/daemon.log" ||
  fail "blockwatchd did not say it told the introspector"
say "rotated: $(with_cn blockwatch-appliance-next) connections with certificate B"

# Only B may publish now: what follows reaches the tenant through B.
acl blockwatch-appliance-next
mkdir "$T/a.mnt/after"
for i in $(seq 10); do echo "after $i" > "$T/a.mnt/after/f$i"; done
mv "$T/a.mnt/before/f1" "$T/a.mnt/after/moved"
rm "$T/a.mnt/during/f2"
umount_disk a
settle a

[ "$(pid_of a introspector)" = "$intro" ] || fail "the introspector was restarted (pid $intro, now $(pid_of a introspector))"
[ "$(metric 'blockwatch_restarts_total{disk="a",process="introspector"}')" = 0 ] ||
  fail "blockwatch_restarts_total of the introspector is not 0"
# (The introspector's stats file is at most a second old.)
until_metric 10 'blockwatch_mqtt_connects_total{disk="a"}' $((connects + 1))
types=$(received a | jq -r .type | sort -u | tr '\n' ' ')
[[ " $types " != *" overflow "* && " $types " != *" resync "* ]] || fail "an overflow or a resync: $types"
check_gaps a
grep -q "in 1 runs, .* 0 dropped by a bridge" "$T/a.gaps" || fail "not one run with nothing dropped: $(cat "$T/a.gaps")"
# Every file the guest made was announced.
for f in before/f10 during/f15 during/s15 after/f10 after/moved; do
  [ "$(received a | jq -r .path | grep -cx "/$f")" -ge 1 ] || fail "no event for /$f"
done
until_status_online() {
  local s
  for _ in $(seq 50); do
    # shellcheck disable=SC2046
    s=$(mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of vm-a) -C 1 -W 5 -t 'blockwatch/lab/vm-a/a/$status' 2>/dev/null) || s=
    [ "$s" = online ] && return 0
    sleep 0.2
  done
  fail "the disk's \$status is '$s', not online"
}
until_status_online
stop_daemon
check_san_log "$T/mosquitto.log"
say "ok"
