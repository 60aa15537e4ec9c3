#!/bin/bash
# The disk's storage is another NBD server (qemu-nbd), and it is killed
# (-9) and started again while the kernel's ext4 writes through the
# appliance (blockwatchd, MQTT/TLS, the tenant) and fio verifies writes
# on the raw end of the same disk:
#  - the plugin reconnects and sends again what was in flight: the
#    guest sees a pause, no error; its files and fio's blocks are
#    intact;
#  - the introspector's own connection to the storage reconnects too:
#    no event is lost, every one reaches the tenant in order, and they
#    rebuild the final tree, data included;
#  - a server that stays away: the guest's requests fail after the
#    disk's reconnect-timeout (6 s, passed to the plugin and to the
#    introspector), not the plugin's default of 30 s;
# (A server that stays away: proxy-nbd-backend.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/faults-lib.sh"
require qemu-nbd
require_fio_nbd

fault_broker
tenant
# The file system leaves the last 64 MiB of the disk to fio.
truncate -s 192M "$T/a.img"
mkfs.ext4 -q -F -b 4096 "$T/a.img" 128M
cp --sparse=always "$T/a.img" "$T/a-base.img"
upstream() {
  start_upstream q qemu-nbd -f raw -t -e 0 -k "$T/q.sock" "$T/a.img"
}
upstream
fault_config -- "$(fault_disk a "nbd+unix:///?socket=$T/q.sock" "reconnect-timeout = 6")"
start_daemon a
tr '\0' ' ' < "/proc/$(pid_of a nbdkit)/cmdline" > "$T/nbdkit.cmdline"
grep -q -- " reconnect-timeout=6 " "$T/nbdkit.cmdline" ||
  fail "nbdkit of a lacks reconnect-timeout=6: $(cat "$T/nbdkit.cmdline")"
tr '\0' ' ' < "/proc/$(pid_of a introspector)/cmdline" > "$T/watch.cmdline"
grep -q -- " --reconnect-timeout=6 " "$T/watch.cmdline" ||
  fail "the introspector of a lacks --reconnect-timeout=6: $(cat "$T/watch.cmdline")"
mount_disk a
mkdir "$T/a.mnt/during"
head -c 1M /dev/urandom > "$T/src"
fio_raw() {   # fio_raw SECONDS: writes and verifies the raw end, paced
  fio --name=raw --ioengine=nbd --uri="nbd+unix:///?socket=$T/run/a/nbd.sock" \
      --offset=128M --size=24M --rw=randwrite --bs=64k --iodepth=4 --rate=4m \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
      > "$T/fio-raw.out" 2>&1
}

# --- killed and back within a second and a half, twice.
fio_raw &
fio_pid=$!
paced_writer "$T/a.mnt/during" 16
for round in 1 2; do
  sleep 1
  kill -9 "$q_pid"
  wait "$q_pid" 2>/dev/null || true
  sleep 1.5
  upstream
  say "upstream killed and back ($round)"
done
wait $writer || fail "the guest's writes failed across the upstream's restarts"
wait $fio_pid || { cat "$T/fio-raw.out"; fail "fio on the raw end failed across the upstream's restarts"; }
check_written "$T/a.mnt/during" 16
grep -q "reconnected" "$T/daemon.log" || fail "the plugin does not say it reconnected"
[ "$(metric 'blockwatch_restarts_total{disk="a",process="introspector"}')" = 0 ] ||
  fail "the introspector was restarted"
[ "$(metric 'blockwatch_restarts_total{disk="a",process="nbdkit"}')" = 0 ] ||
  fail "nbdkit was restarted"
umount_disk a
settle a
check_gaps a
grep -q ' 0 dropped by a bridge (0 overflow events saying 0, 0 unconfirmed), 0 lost' "$T/a.gaps" || fail "events were lost"
! received a | grep_all -q '"type":"overflow"' || fail "the tenant got an overflow"
check_tree a base
mkdir "$T/a.check"
mount -o ro,loop "$T/a.img" "$T/a.check"; register_mount "$T/a.check"
for i in $(seq 16); do cmp "$T/src" "$T/a.check/during/f$i" || fail "during/f$i differs on the storage"; done
umount "$T/a.check"

nbdcopy "nbd+unix:///?socket=$T/run/a/nbd.sock" - | cmp - "$T/a.img" ||
  fail "the disk does not read as its storage"

# --- killed for good while a client reads the raw end: its reads wait
# for reconnect-timeout, then fail.
read_bytes() { metric 'blockwatch_nbd_bytes_total{disk="a",op="read"}'; }
# The metric comes from a stats file written every second: taken before
# it has counted nbdcopy's reads, a later count of them would pass for
# the reader's, and the upstream would go before the reader connected.
before=$(read_bytes)
for _ in $(seq 20); do
  sleep 1.2
  [ "$(read_bytes)" = "$before" ] && break
  before=$(read_bytes)
done
timeout 60 fio --name=reader --ioengine=nbd --uri="nbd+unix:///?socket=$T/run/a/nbd.sock" \
  --offset=128M --size=24M --rw=randread --bs=64k --time_based --runtime=50 \
  > "$T/fio-read.out" 2>&1 &
fio_pid=$!
for _ in $(seq 100); do [ "$(read_bytes)" -gt "$before" ] && break; sleep 0.1; done
[ "$(read_bytes)" -gt "$before" ] || fail "the reader does not read"
kill -9 "$q_pid"
wait "$q_pid" 2>/dev/null || true
start=$(date +%s.%N)
rc=0; wait $fio_pid || rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "Input/output error" "$T/fio-read.out" ||
  { cat "$T/fio-read.out"; tail -20 "$T/daemon.log"; fail "the reader did not get EIO once the upstream was gone (exit $rc)"; }
awk -v s="$secs" 'BEGIN { exit !(s >= 5 && s < 20) }' ||
  fail "the reader's requests failed after $secs s, not after reconnect-timeout = 6"
grep -q "no connection within 6 s" "$T/daemon.log" || fail "the plugin does not say it gave up after 6 s"
say "upstream gone: requests failed after $secs s (reconnect-timeout = 6)"
upstream
stop_daemon
check_san_log "$T/mosquitto.log"
say "ok"
