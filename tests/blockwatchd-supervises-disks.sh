#!/bin/bash
# blockwatchd runs two file-backed ext4 disks exported on Unix sockets,
# their processes unprivileged, and keeps them apart:
#  - the kernel's ext4 through disk b makes events that rebuild its tree;
#  - the introspector of disk a is killed (-9) while the guest writes:
#    it is started again, the guest's writes are intact, the events say
#    overflow and resync where the new one begins, and from a snapshot
#    after that they rebuild the tree exactly;
#  - nbdkit of disk a is killed (-9) while fio verifies writes on disk b:
#    it is started again and serves a's data, b never notices, no other
#    process is restarted;
#  - SIGHUP adds disks (one on TCP with TLS; a broken one shows as down
#    in blockwatch status),
#    a bad file changes nothing, a changed disk restarts only the
#    process whose command changed, a removed one stops and its state
#    directory goes;
#  - the introspectors run at a lower CPU priority than nbdkit and are
#    the OOM killer's first choice (introspector-nice 10 and
#    introspector-oom-score-adj 500 by default), a restarted one too;
#  - /metrics has the metrics, and they count;
#  - SIGTERM stops everything in order and leaves no process or socket;
#    the disks' state directories stay, without a run mark.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 curl fio nbdcopy fsfreeze runuser
require_fio_nbd
BWD=$BW_BUILD/blockwatchd
PORT=$(free_port) || fail "no free port"

for d in a c; do
  truncate -s 128M "$T/$d.img"
  mkfs.ext4 -q -F -b 4096 "$T/$d.img"
done
# b's file system leaves the last 64 MiB of its disk to fio.
truncate -s 192M "$T/b.img"
mkfs.ext4 -q -F -b 4096 "$T/b.img" 128M
cp --sparse=always "$T/a.img" "$T/a-base.img"
cp --sparse=always "$T/b.img" "$T/b-base.img"

# Children run as nobody, if nobody can reach the programs (a checkout
# in a private home directory would not let it).
user=
if runuser -u nobody -- test -x "$BW" -a -r "$PLUGIN"; then
  user=nobody
  chmod 755 "$T"
  chown nobody "$T"/[abc].img
else
  say "nobody cannot reach $BW: the children run as root"
fi
nbdkit=$(nbdkit_program)

disk() {   # disk NAME [BACKEND] [extra lines]
  cat <<EOF

[disk $1]
vm = vm-$1
backend = ${2:-$T/$1.img}
listen = unix:$T/run/$1/nbd.sock
events-file = $T/$1.jsonl
exact-data = 8M
model-max = 1G
EOF
}
# c is exported over TCP on loopback, TLS required (a pre-shared key).
CPORT=$(free_port) || fail "no free port"
psktool -u alice -p "$T/c.psk" > /dev/null
chmod 644 "$T/c.psk"
disk_c() {
  cat <<EOF

[disk c]
vm = vm-c
backend = $T/c.img
listen = tcp:127.0.0.1:$CPORT
tls = require
tls-psk = $T/c.psk
events-file = $T/c.jsonl
EOF
}
config() {   # config DISK-SECTIONS...: the whole file
  cat > "$T/bw.conf" <<EOF
[appliance]
host = lab
run-dir = $T/run
state-dir = $T/state
metrics = 127.0.0.1:$PORT
nbdkit = $nbdkit
${user:+user = $user}
stop-timeout = 20

[policy]
tap-buffer = 64M
data = bytes:1048576
EOF
  printf '%s\n' "$@" >> "$T/bw.conf"
}

METRICS_PORT=$PORT
. "$(dirname "$0")/appliance-lib.sh"
# settle DISK: the introspector has taken and printed everything the
# plugin had (the stats are at most a second old: wait for new ones).
settle() {
  sleep 1.2
  until_metric 20 "blockwatch_tap_buffer_used_bytes{disk=\"$1\"}" 0
}
lines() { wc -l < "$1"; }

config "$(disk a)" "$(disk b)"
"$BWD" -c "$T/bw.conf" > "$T/daemon.log" 2>&1 &
daemon=$!
register_pid $daemon
for d in a b; do
  wait_for 60 -S "$T/run/$d/nbd.sock" || { cat "$T/daemon.log"; fail "disk $d is not exported"; }
  wait_for 10 -s "$T/run/$d/nbdkit.stats" || fail "no stats from nbdkit of $d"
  wait_for 10 -s "$T/run/$d/introspector.stats" || fail "no stats from the introspector of $d"
done
a_nbd=$(pid_of a nbdkit) a_intro=$(pid_of a introspector)
b_nbd=$(pid_of b nbdkit) b_intro=$(pid_of b introspector)
# (exact-data = 8M: watch --exact-data; model-max = 1G: --model-max.)
tr '\0' '\n' < "/proc/$b_intro/cmdline" | grep_all -qx -- --exact-data=8388608 ||
  fail "b's introspector was not given exact-data: $(tr '\0' ' ' < "/proc/$b_intro/cmdline")"
tr '\0' '\n' < "/proc/$b_intro/cmdline" | grep_all -qx -- --model-max=1073741824 ||
  fail "b's introspector was not given model-max: $(tr '\0' ' ' < "/proc/$b_intro/cmdline")"
for d in a b; do
  yields "$(pid_of $d introspector)" 10 500 "the introspector of $d"
  yields "$(pid_of $d nbdkit)" 0 0 "nbdkit of $d"
done
say "the introspectors yield to nbdkit (nice +10, oom_score_adj 500)"
if [ -n "$user" ]; then
  for p in $a_nbd $a_intro $b_nbd $b_intro; do
    [ "$(ps -o user= -p "$p")" = nobody ] || fail "pid $p runs as $(ps -o user= -p "$p")"
  done
  say "children run as nobody"
fi
"$BW" status -c "$T/bw.conf" > "$T/status1" || { cat "$T/status1"; fail "status says something is down"; }
grep -q "2 disks, 0 down" "$T/status1" || fail "status: $(cat "$T/status1")"
[ "$(curl -sf "http://127.0.0.1:$PORT/healthz")" = ok ] || fail "/healthz is not ok"
scrape > "$T/metrics1"
for m in blockwatch_up blockwatch_restarts_total blockwatch_nbd_requests_total \
    blockwatch_nbd_bytes_total blockwatch_tap_buffer_used_bytes \
    blockwatch_tap_buffer_size_bytes blockwatch_tap_dropped_records_total \
    blockwatch_events_total blockwatch_introspector_crawling \
    blockwatch_crawl_inodes blockwatch_stats_age_seconds blockwatch_disk_info \
    blockwatch_exact_view_evicted_reads_total blockwatch_backend_max_in_flight \
    blockwatch_tap_deferred_writes_total blockwatch_tap_kept_writes_total \
    blockwatch_introspector_deferred_payload_bytes blockwatch_events_unwritten_total; do
  grep -q "^# TYPE $m " "$T/metrics1" || fail "/metrics lacks $m"
done
grep -q '^blockwatch_events_total{disk="b",type="create"} 0$' "$T/metrics1" ||
  fail "no zero create count for b at the start"
grep -q '^blockwatch_events_unwritten_total{disk="b"} 0$' "$T/metrics1" ||
  fail "no zero count of events b could not write to its events file"

# --- disk b: the kernel's ext4 workload; the events rebuild its tree.
attach_loop b "$T/run/b/nbd.sock"
mkdir "$T/b.mnt"
mount "$LOOP" "$T/b.mnt"; register_mount "$T/b.mnt"
workload "$T/b.mnt"
umount "$T/b.mnt"
detach_loop b
settle b
check_events b "$T/b-base.img" "$T/b.img"

# --- disk a: its introspector is killed while the guest writes.
attach_loop a "$T/run/a/nbd.sock"
mkdir "$T/a.mnt"
mount "$LOOP" "$T/a.mnt"; register_mount "$T/a.mnt"
mkdir "$T/a.mnt/before" "$T/a.mnt/during"
for i in $(seq 20); do echo "before $i" > "$T/a.mnt/before/f$i"; done
sync
head -c 4M /dev/urandom > "$T/src"
# Paced, so that it writes on while the introspector is started again.
(
  for i in $(seq 12); do
    dd if="$T/src" of="$T/a.mnt/during/f$i" bs=256k oflag=direct status=none
    echo "small $i" > "$T/a.mnt/during/s$i"
    sync
    sleep 0.2
  done
) &
writer=$!
sleep 0.5
killed_at=$(lines "$T/a.jsonl")
kill -9 "$a_intro"
wait $writer || fail "the guest's writes failed while the introspector was down"
until_metric 30 'blockwatch_restarts_total{disk="a",process="introspector"}' 1
until_metric 30 'blockwatch_introspector_crawling{disk="a"}' 0
a_intro2=$(pid_of a introspector)
[ "$a_intro2" != "$a_intro" ] || fail "the introspector of a has its old pid"
yields "$a_intro2" 10 500 "the restarted introspector of a"
settle a
# The new introspector says what it could not see, where it begins.
tail -n +$((killed_at + 1)) "$T/a.jsonl" > "$T/a.after-kill"
grep -q '"type":"overflow"' "$T/a.after-kill" || fail "no overflow after the introspector restart"
# Every line whole: not cut by the kill, not joined to the next one.
! grep -v '^{"v":1,.*}$' "$T/a.jsonl" | grep_all -m3 . || fail "a.jsonl has a broken line"
! grep '{"v":1,.*{"v":1,' "$T/a.jsonl" | cut -c1-300 | grep_all -m3 . ||
  fail "a.jsonl has a line cut short by the kill, joined to the next one"
grep -q '"type":"resync"' "$T/a.after-kill" || fail "no resync after the introspector restart"
# A snapshot of the file system now; what follows must rebuild the rest.
fsfreeze -f "$T/a.mnt"
settle a
cp --sparse=always "$T/a.img" "$T/a-mid.img"
snap_at=$(lines "$T/a.jsonl")
fsfreeze -u "$T/a.mnt"
mkdir "$T/a.mnt/after"
for i in $(seq 10); do echo "after $i" > "$T/a.mnt/after/f$i"; done
mv "$T/a.mnt/before/f1" "$T/a.mnt/after/moved"
rm "$T/a.mnt/during/s1"
umount "$T/a.mnt"
detach_loop a
settle a
tail -n +$((snap_at + 1)) "$T/a.jsonl" > "$T/a.after-snap.jsonl"
mkdir "$T/a.mid" "$T/a.final"
mount -o ro,loop,noload "$T/a-mid.img" "$T/a.mid"; register_mount "$T/a.mid"
mount -o ro,loop,noload "$T/a.img" "$T/a.final"; register_mount "$T/a.final"
"$BW_BUILD/tests/event-tree" --base "$T/a.mid" --check "$T/a.final" \
  "$T/a.after-snap.jsonl" > "$T/a.oracle" 2>&1 ||
  { head -30 "$T/a.oracle"; fail "a: the events after the restart do not rebuild the tree"; }
say "a: $(tail -1 "$T/a.oracle")"
for i in $(seq 12); do
  cmp "$T/src" "$T/a.final/during/f$i" || fail "a: during/f$i differs from what the guest wrote"
done
umount "$T/a.mid" "$T/a.final"

# --- nbdkit of a is killed while fio verifies writes on b.  Writes of
# 256 KiB: their bytes reach b's introspector through the storage, not
# the tap's buffer (deferred payloads).
fio --name=b --ioengine=nbd --uri="nbd+unix:///?socket=$T/run/b/nbd.sock" \
    --offset=128M --size=32M --rw=randwrite --bs=256k --iodepth=4 --rate=8m \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
    > "$T/fio.out" 2>&1 &
fio_pid=$!
sleep 1
kill -9 "$a_nbd"
until_metric 30 'blockwatch_restarts_total{disk="a",process="nbdkit"}' 1
wait_for 30 -S "$T/run/a/nbd.sock" || fail "nbdkit of a did not come back"
wait $fio_pid || { cat "$T/fio.out"; fail "fio on b failed while nbdkit of a was killed"; }
[ "$(pid_of b nbdkit) $(pid_of b introspector) $(pid_of a introspector)" = \
  "$b_nbd $b_intro $a_intro2" ] || fail "killing nbdkit of a restarted other processes"
nbdcopy "nbd+unix:///?socket=$T/run/a/nbd.sock" - | cmp - "$T/a.img" ||
  fail "the restarted nbdkit of a does not serve a's data"
a_nbd2=$(pid_of a nbdkit)
say "a: introspector and nbdkit restarted; b untouched"

# The counters counted.
scrape > "$T/metrics2"
grep -q '^blockwatch_up{disk="a",process="nbdkit"} 1$' "$T/metrics2" || fail "nbdkit of a is not up"
before=$(awk '$1 == "blockwatch_nbd_bytes_total{disk=\"b\",op=\"write\"}" { print $2 }' "$T/metrics1")
after=$(awk '$1 == "blockwatch_nbd_bytes_total{disk=\"b\",op=\"write\"}" { print $2 }' "$T/metrics2")
[ "$after" -ge $((before + 32 * 1024 * 1024)) ] || fail "b's written bytes went from $before to $after"
# b's 128 writes of 256 KiB went to its introspector without a copy.
until_metric 5 'blockwatch_tap_deferred_writes_total{disk="b"}' 128 at-least
# Its introspector read them from the storage and let go of each once
# acknowledged: it holds a few of them, not the 32 MiB that went by.
until_metric 5 'blockwatch_introspector_deferred_payload_bytes{disk="b"}' 262144 at-least
shadow=$(metric 'blockwatch_introspector_deferred_payload_bytes{disk="b"}')
[ "$shadow" -le $((8 << 20)) ] || fail "b's introspector holds $shadow bytes of deferred payloads"
creates=$(awk '$1 == "blockwatch_events_total{disk=\"b\",type=\"create\"}" { print $2 }' "$T/metrics2")
[ "$creates" -ge 1500 ] || fail "b's create events: $creates"
[ "$(grep -c '"type":"create"' "$T/b.jsonl")" = "$creates" ] || fail "the create count is not the events file's"

# --- SIGHUP: c added (TCP, TLS), and d, whose backend is missing.
# c's events file ends in half a line, as a killed introspector leaves
# it: it is cut off before the new one appends.
printf '{"v":1,"whole":1}\n{"v":1,"to' > "$T/c.jsonl"
config "$(disk a)" "$(disk b)" "$(disk_c)" "$(disk d "$T/missing.img")"
kill -HUP $daemon
wait_for 60 -s "$T/run/c/nbdkit.pid" || { tail -20 "$T/daemon.log"; fail "disk c did not come up"; }
[ "$(nbdinfo --size "nbds://alice@127.0.0.1:$CPORT/?tls-psk-file=$T/c.psk")" = 134217728 ] ||
  fail "disk c is not served with TLS"
! nbdinfo --size "nbd://127.0.0.1:$CPORT/" > /dev/null 2>&1 || fail "disk c is served without TLS"
[ "$(cat "$T/c.jsonl")" = '{"v":1,"whole":1}' ] || fail "c.jsonl: $(cat "$T/c.jsonl")"
grep -q "c.jsonl: removed 10 bytes of a line cut short" "$T/daemon.log" || fail "the cut is not logged"
until_metric 20 'blockwatch_restarts_total{disk="d",process="nbdkit"}' 2 at-least
# (d's processes are mostly waiting to start again: ask until they are.)
for i in $(seq 10); do
  rc=0; "$BW" status -c "$T/bw.conf" > "$T/status2" || rc=$?
  [ $rc = 1 ] && break
  sleep 0.3
done
cat "$T/status2"
[ $rc = 1 ] || fail "status exits $rc with disk d down"
grep -q "^d .*DOWN" "$T/status2" || fail "status does not show d down"
grep -q "4 disks, 1 down" "$T/status2" || fail "status: $(head -1 "$T/status2")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 503 ] ||
  fail "/healthz is not 503 with d down"
pids="$(pid_of a nbdkit) $(pid_of a introspector) $(pid_of b nbdkit) $(pid_of b introspector)"
[ "$pids" = "$a_nbd2 $a_intro2 $b_nbd $b_intro" ] || fail "SIGHUP restarted running disks: $pids"

# A bad file changes nothing and says where it is wrong.
cp "$T/bw.conf" "$T/bw.conf.good"
echo "colour = blue" >> "$T/bw.conf"
bad_line=$(lines "$T/bw.conf")
kill -HUP $daemon
until_metric 10 blockwatch_config_last_reload_successful 0
grep -q "bw.conf:$bad_line: .*unknown key 'colour'" "$T/daemon.log" ||
  fail "the bad reload is not logged with its line"

# d removed, b's data policy changed: only b's introspector restarts.
config "$(disk a)" "$(disk b)
data = hash" "$(disk_c)"
c_pids="$(pid_of c nbdkit) $(pid_of c introspector)"
kill -HUP $daemon
until_metric 10 blockwatch_config_last_reload_successful 1
for i in $(seq 100); do [ ! -d "$T/run/d" ] && [ "$(pid_of b introspector)" != "$b_intro" ] && break; sleep 0.1; done
[ ! -d "$T/run/d" ] || fail "disk d was not removed"
[ ! -e "$T/state/d" ] || fail "removed disk d's state directory is left: $(find "$T/state/d")"
wait_for 30 -s "$T/run/b/introspector.stats" || fail "b's introspector did not come back"
[ "$(pid_of b introspector)" != "$b_intro" ] || fail "b's introspector kept its old command"
pids="$(pid_of a nbdkit) $(pid_of a introspector) $(pid_of b nbdkit) $(pid_of c nbdkit) $(pid_of c introspector)"
[ "$pids" = "$a_nbd2 $a_intro2 $b_nbd $c_pids" ] || fail "the reload restarted unchanged processes: $pids"
tr '\0' ' ' < "/proc/$(pid_of b introspector)/cmdline" | grep_all -q -- "--data=hash" ||
  fail "b's introspector does not have the new data policy"
"$BW" status -c "$T/bw.conf" > "$T/status3" || { cat "$T/status3"; fail "status after removing d"; }
grep -q "3 disks, 0 down" "$T/status3" || fail "status: $(head -1 "$T/status3")"
say "SIGHUP: c added; d added, shown down, removed; b's introspector alone restarted"

# --- SIGTERM: every process stops, nbdkit before its introspector.
all="$(pid_of a nbdkit) $(pid_of a introspector) $(pid_of b nbdkit) $(pid_of b introspector) $c_pids"
kill -TERM $daemon
rc=0; wait $daemon || rc=$?
[ $rc = 0 ] || { tail -30 "$T/daemon.log"; fail "blockwatchd exited with $rc"; }
for p in $all; do [ ! -d "/proc/$p" ] || fail "pid $p is still running"; done
[ ! -e "$T/run" ] || fail "the run directory is left: $(find "$T/run")"
# The state outlives blockwatchd; every run delivered everything, so
# no run mark is left in it.
[ "$(ls "$T/state")" = "$(printf '%s\n' a b c)" ] || fail "the state directories: $(ls "$T/state")"
[ -z "$(find "$T/state" -type f)" ] || fail "run marks left: $(find "$T/state" -type f)"
[ -z "$(find "$T" -type s)" ] || fail "sockets left: $(find "$T" -type s)"
for d in a b c; do
  awk -v d="disk $d: " 'index($0, d "stopping nbdkit") { n = NR }
    index($0, d "stopping introspector") { i = NR }
    END { exit !(n && i && n < i) }' "$T/daemon.log" ||
    fail "disk $d: nbdkit was not stopped before its introspector"
done
check_san_log "$T/daemon.log"
say "SIGTERM: everything stopped in order, nothing left"
