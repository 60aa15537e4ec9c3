#!/bin/bash
# blockwatchd exports a disk over iSCSI (blockwatch iscsi-target: tgtd
# on the proxied export made a file by nbdfuse), and what an iSCSI
# initiator writes is introspected like an NBD client's writes:
#  - the introspector runs at the configured lower priority
#    (introspector-nice, introspector-oom-score-adj), the data path
#    (nbdkit, the front end) at blockwatchd's;
#  - libiscsi's tools see the target and the LUN with CHAP; a wrong
#    secret, no secret and an initiator outside the ACL are refused;
#  - a kernel ext4 workload recorded through the NBD proxy is played
#    again, block by block, by an iSCSI initiator (tests/tools/iscsi-io):
#    the events rebuild the final tree, the LUN reads back byte for byte
#    through iSCSI and the backing file is the recorded image;
#  - every SYNCHRONIZE CACHE (and FUA write) reaches the proxy as one NBD
#    FLUSH, and nothing else flushes;
#  - nbdkit killed: the front end reconnects and an initiator's reads
#    meanwhile succeed; tgtd killed: the front end is started again;
#  - SIGHUP adds an iSCSI disk, changes the ACL of the first (only its
#    front end restarts) and removes the second (target, mount, files
#    gone);
#  - SIGTERM: the target goes first, then the mount, nbdkit, the
#    introspector; nothing is left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 tgtd tgtadm iscsi-inq iscsi-ls iscsi-readcapacity16 curl
BWD=$BW_BUILD/blockwatchd
IO=$BW_BUILD/tests/iscsi-io
MPORT=$(free_port) && IPORT=$(free_port) && JPORT=$(free_port) || fail "no free port"
IQN=iqn.2024-01.io.blockwatch.test:disk-i
JQN=iqn.2024-01.io.blockwatch.test:disk-j
INIT=iqn.2024-01.io.blockwatch.test:initiator
SECRET=Initiator-Secret-42
URL="iscsi://alice%$SECRET@127.0.0.1:$IPORT/$IQN/1"

### 1. A real ext4 workload, recorded through the NBD proxy.
truncate -s 128M "$T/base.img"
mkfs.ext4 -q -F -b 4096 "$T/base.img"
cp --sparse=always "$T/base.img" "$T/rec.img"
start_proxy rec "$T/rec.img" tap=record:"$T/work.trace"
attach_loop rec
mkdir "$T/rec.mnt"
mount "$LOOP" "$T/rec.mnt"; register_mount "$T/rec.mnt"
workload "$T/rec.mnt"
umount "$T/rec.mnt"
detach_loop rec
stop_proxy rec
cp --sparse=always "$T/base.img" "$T/i.img"
cp --sparse=always "$T/base.img" "$T/j.img"

### 2. blockwatchd with disk i exported over iSCSI.
echo "$SECRET" > "$T/chap"
chmod 600 "$T/chap"
# The sanitizer's runtime preloaded only into the nbdkit that loads our
# plugin: the front end's own nbdkit (nbd plugin, retry filter) is not
# ours, and under ASan its exit (code of unloaded filters still running)
# crashed or leaked now and then.
nbdkit=$(nbdkit_program)
disk_i() {   # disk_i [more initiator names]
  cat <<EOF

[disk i]
vm = vm-i
backend = $T/i.img
iscsi = $IQN
iscsi-portal = 127.0.0.1:$IPORT
iscsi-chap-user = alice
iscsi-chap-password-file = $T/chap
iscsi-initiator-addresses = 192.0.2.0/24
iscsi-initiator-names = $INIT${1:+, $1}
events-file = $T/i.jsonl
EOF
}
disk_j() {
  cat <<EOF

[disk j]
vm = vm-j
backend = $T/j.img
iscsi = $JQN
iscsi-portal = 127.0.0.1:$JPORT
events-file = $T/j.jsonl
EOF
}
config() {
  cat > "$T/bw.conf" <<EOF
[appliance]
host = lab
run-dir = $T/run
state-dir = $T/state
metrics = 127.0.0.1:$MPORT
nbdkit = $nbdkit
stop-timeout = 20
introspector-nice = 4
introspector-oom-score-adj = 250

[policy]
data = bytes:1048576
EOF
  printf '%s\n' "$@" >> "$T/bw.conf"
}
METRICS_PORT=$MPORT
. "$(dirname "$0")/appliance-lib.sh"
# The front end writes its pid into its ready file.
front_pid() { cat "$T/run/$1/iscsi/ready" 2>/dev/null; }
settle() {
  sleep 1.2
  until_metric 20 "blockwatch_tap_buffer_used_bytes{disk=\"$1\"}" 0
}
inq() { iscsi-inq -i "$INIT" "$@"; }

config "$(disk_i)"
"$BWD" -c "$T/bw.conf" > "$T/daemon.log" 2>&1 &
daemon=$!
register_pid $daemon
wait_for 60 -s "$T/run/i/iscsi/ready" || { cat "$T/daemon.log"; fail "disk i is not exported over iSCSI"; }
wait_for 10 -s "$T/run/i/nbdkit.stats" || fail "no stats from nbdkit of i"
[ ! -e "$T/run/i/nbd.sock" ] || [ -S "$T/run/i/nbd.sock" ] || fail "nbdkit of i does not serve its socket"
grep -q "disk i: iscsi: blockwatch iscsi-target: $IQN on 127.0.0.1:$IPORT" "$T/daemon.log" ||
  fail "the front end does not say where it serves"
"$BW" status -c "$T/bw.conf" > "$T/status1" || { cat "$T/status1"; fail "status says something is down"; }
grep -q '^i .* up .* up .*iscsi 0$' "$T/status1" || fail "status: $(cat "$T/status1")"
# The introspector yields as configured; nbdkit and the front end (the
# data path) keep blockwatchd's priority.
yields "$(pid_of i introspector)" 4 250 "the introspector of i"
yields "$(pid_of i nbdkit)" 0 0 "nbdkit of i"
yields "$(front_pid i)" 0 0 "the iSCSI front end of i"

### 3. libiscsi's tools: the target, the LUN; CHAP and the ACL.
iscsi-ls -i "$INIT" "iscsi://alice%$SECRET@127.0.0.1:$IPORT" > "$T/ls.out" ||
  { cat "$T/ls.out"; fail "iscsi-ls fails"; }
grep -q "Target:$IQN Portal:127.0.0.1:$IPORT,1" "$T/ls.out" || fail "iscsi-ls: $(cat "$T/ls.out")"
inq "$URL" > "$T/inq.out" || fail "iscsi-inq fails"
grep -q '^Vendor:BLKWATCH' "$T/inq.out" && grep -q '^Product:blockwatch' "$T/inq.out" ||
  fail "iscsi-inq: $(cat "$T/inq.out")"
inq -e 1 -c 128 "$URL" > "$T/serial.out" || fail "iscsi-inq: no unit serial number"
grep -Eq '^Unit Serial Number:\[ *[0-9a-f]{16}\]$' "$T/serial.out" || fail "serial: $(cat "$T/serial.out")"
[ "$(iscsi-readcapacity16 -i "$INIT" -s "$URL")" = "$(stat -c %s "$T/i.img")" ] ||
  fail "iscsi-readcapacity16 does not give the disk's size"
refused() {   # refused WHAT PATTERN iscsi-inq-args...
  local what=$1 pattern=$2 rc=0
  shift 2
  iscsi-inq "$@" > "$T/refused.out" 2>&1 || rc=$?
  [ $rc != 0 ] && grep -q "$pattern" "$T/refused.out" ||
    { cat "$T/refused.out"; fail "$what: not refused"; }
  say "$what: refused ($(grep -o "$pattern" "$T/refused.out" | head -1))"
}
refused "wrong CHAP secret" "Authentication failure" -i "$INIT" \
  "iscsi://alice%Not-The-Secret-7@127.0.0.1:$IPORT/$IQN/1"
refused "no CHAP" "Authentication failure" -i "$INIT" "iscsi://127.0.0.1:$IPORT/$IQN/1"
refused "initiator not in the ACL" "Target not found" \
  -i iqn.2024-01.io.blockwatch.test:stranger "$URL"

### 4. The recorded workload played by an iSCSI initiator.
flush() { metric "blockwatch_nbd_requests_total{disk=\"i\",op=\"flush\"}"; }
written() { metric "blockwatch_nbd_bytes_total{disk=\"i\",op=\"write\"}"; }
settle i
flush0=$(flush) written0=$(written)
"$IO" -i "$INIT" "$URL" replay "$T/work.trace" > "$T/replay.out" ||
  { cat "$T/replay.out"; fail "the replay through iSCSI failed"; }
say "replayed through iSCSI: $(cat "$T/replay.out")"
read -r _ writes _ bytes _ fua _ zeroes _ zbytes _ syncs < "$T/replay.out"
[ "$writes" -ge 100 ] && [ "$syncs" -ge 5 ] || fail "the workload is too small to say anything"
settle i
[ "$(($(flush) - flush0))" = "$((syncs + fua))" ] ||
  fail "$syncs SYNCHRONIZE CACHE and $fua FUA writes made $(($(flush) - flush0)) NBD flushes"
[ "$(($(written) - written0))" = "$((bytes + zbytes))" ] ||
  fail "$((bytes + zbytes)) bytes written through iSCSI, $(($(written) - written0)) through the proxy"
"$IO" -i "$INIT" "$URL" compare "$T/rec.img" > "$T/compare.out" ||
  fail "the LUN does not read back what was written"
cmp "$T/i.img" "$T/rec.img" || fail "the backing file is not the recorded image"
check_events i "$T/base.img" "$T/i.img"
umount "$T/i.base" "$T/i.final"
say "the workload through iSCSI: events rebuild the tree; data and flushes reached the backend"

### 5. nbdkit killed: the front end reconnects.  tgtd killed: restarted.
front=$(front_pid i)
kill -9 "$(pid_of i nbdkit)"
"$IO" -i "$INIT" "$URL" compare "$T/i.img" > "$T/compare2.out" ||
  fail "reads through iSCSI failed while nbdkit was restarted"
until_metric 20 'blockwatch_restarts_total{disk="i",process="nbdkit"}' 1
[ "$(front_pid i)" = "$front" ] || fail "the front end was restarted with nbdkit"
until_metric 5 'blockwatch_restarts_total{disk="i",process="iscsi"}' 0
kill -9 "$(pgrep -P "$front" -x tgtd)"
until_metric 20 'blockwatch_restarts_total{disk="i",process="iscsi"}' 1
for _ in $(seq 100); do [ -n "$(front_pid i)" ] && [ "$(front_pid i)" != "$front" ] && break; sleep 0.1; done
[ -n "$(front_pid i)" ] && [ "$(front_pid i)" != "$front" ] || fail "the front end did not come back"
inq "$URL" > /dev/null || fail "the target is not served again after tgtd was killed"
grep -q "disk i: iscsi: blockwatch iscsi-target: tgtd (pid [0-9]*) was killed by signal 9" "$T/daemon.log" ||
  fail "the death of tgtd is not logged"
say "nbdkit killed: reads went on; tgtd killed: the front end is back"

### 6. SIGHUP: j added, i's ACL changed, then j removed.
i_pids="$(pid_of i nbdkit) $(pid_of i introspector)"
front=$(front_pid i)
config "$(disk_i iqn.2024-01.io.blockwatch.test:another)" "$(disk_j)"
kill -HUP $daemon
wait_for 60 -s "$T/run/j/iscsi/ready" || { tail -20 "$T/daemon.log"; fail "disk j was not added"; }
inq "iscsi://127.0.0.1:$JPORT/$JQN/1" > /dev/null || fail "disk j is not served over iSCSI"
for _ in $(seq 100); do [ -n "$(front_pid i)" ] && [ "$(front_pid i)" != "$front" ] && break; sleep 0.1; done
[ "$(front_pid i)" != "$front" ] || fail "i's front end kept its old ACL"
[ "$(pid_of i nbdkit) $(pid_of i introspector)" = "$i_pids" ] ||
  fail "a new ACL restarted more than the front end"
inq "$URL" > /dev/null || fail "disk i is not served after its ACL changed"
j_front=$(front_pid j)
config "$(disk_i iqn.2024-01.io.blockwatch.test:another)"
kill -HUP $daemon
wait_for 30 ! -d "$T/run/j" || fail "disk j was not removed"
[ ! -d "/proc/$j_front" ] || fail "j's front end still runs"
! iscsi-inq "iscsi://127.0.0.1:$JPORT/$JQN/1" > /dev/null 2>&1 || fail "disk j is still served"
! grep -q "$T/run/j" /proc/mounts || fail "j's mount is left"
# A new nbdkit command (a tap policy) restarts the front end with it.
i_nbd=$(pid_of i nbdkit) i_intro=$(pid_of i introspector) front=$(front_pid i)
config "$(disk_i iqn.2024-01.io.blockwatch.test:another)
tap-buffer = 32M"
kill -HUP $daemon
for _ in $(seq 200); do
  [ -n "$(front_pid i)" ] && [ "$(front_pid i)" != "$front" ] && [ -n "$(pid_of i nbdkit)" ] && break
  sleep 0.1
done
[ "$(pid_of i nbdkit)" != "$i_nbd" ] && [ "$(front_pid i)" != "$front" ] ||
  fail "a new nbdkit command did not restart nbdkit and the front end"
[ "$(pid_of i introspector)" = "$i_intro" ] || fail "a new tap-buffer restarted the introspector"
grep -q "disk i: stopping iscsi (pid $front) to restart it after nbdkit, which has a new command" \
  "$T/daemon.log" || fail "the front end's restart is not explained"
"$IO" -i "$INIT" "$URL" compare "$T/i.img" > /dev/null || fail "disk i is not served after nbdkit changed"
say "SIGHUP: j added and removed, i's front end alone restarted, then with nbdkit"

### 7. SIGTERM: in order, nothing left.
all="$(front_pid i) $(pgrep -P "$(front_pid i)" | tr '\n' ' ') $(pid_of i nbdkit) $(pid_of i introspector)"
kill -TERM $daemon
rc=0; wait $daemon || rc=$?
[ $rc = 0 ] || { tail -30 "$T/daemon.log"; fail "blockwatchd exited with $rc"; }
for p in $all; do [ ! -d "/proc/$p" ] || fail "pid $p is still running"; done
awk 'index($0, "disk i: stopping iscsi") { s = NR }
     index($0, "disk i: stopping nbdkit") { n = NR }
     index($0, "disk i: stopping introspector") { i = NR }
     END { exit !(s && n && i && s < n && n < i) }' "$T/daemon.log" ||
  fail "not stopped in order: iscsi, nbdkit, introspector"
[ ! -e "$T/run" ] || fail "the run directory is left: $(find "$T/run")"
! grep -q "$T/" /proc/mounts || fail "a mount is left: $(grep "$T/" /proc/mounts)"
check_san_log "$T/daemon.log"
say "SIGTERM: everything stopped in order, nothing left"
