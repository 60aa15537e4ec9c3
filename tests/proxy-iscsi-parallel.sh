#!/bin/bash
# The iSCSI backend keeps many commands outstanding on one session:
# nbdkit runs it in the parallel thread model, and with the target
# frozen (SIGSTOP to tgtd, so no command can complete, however loaded
# the machine) every write a client has in flight reaches the target
# together: the plugin's stats file counts them (backend.max_in_flight),
# which a backend serving one request at a time never gets past 1.
# Then fio's random writes at iodepth 16 verify with crc32c, even with
# the session dropped under them again and again.
. "$(dirname "$0")/lib.sh"
require nbdkit tgtd tgtadm fio

IQN=iqn.2024-01.io.blockwatch.test:parallel
DEPTH=16

# max_in_flight: the stats file's backend.max_in_flight (0 before the
# file has it).
max_in_flight() { awk '$1 == "backend.max_in_flight" { print $2; f = 1 } END { if (!f) print 0 }' "$T/stats"; }

start_tgtd
tgtd_pid=$TGTD_PID
# stop_tgtd talks to tgtd: it must not be left frozen (last in, first out).
at_exit "kill -CONT $tgtd_pid 2>/dev/null || true"
URL=iscsi://127.0.0.1:$PORT/$IQN/1
truncate -s 64M "$T/lun.img"
new_target 1 "$IQN"
new_lun 1 1 "$T/lun.img"

# nbdkit's default of 16 threads lets all DEPTH requests run at once.
start_proxy p "$URL" stats="$T/stats"
grep -q 'using thread model: parallel' "$T/p.log" || fail "nbdkit does not run the backend in parallel"

# nbd-inflight connects (nbdkit logs in for it), then tgtd is frozen
# and it sends DEPTH writes at once: nothing can come back, so each
# stays outstanding until the counter has seen them all.
mkfifo "$T/go"
"$BW_BUILD/tests/nbd-inflight" "$(uri_of p)" $DEPTH < "$T/go" > "$T/inflight.out" 2>&1 &
inflight_pid=$!
register_pid $inflight_pid
exec 7> "$T/go"
wait_for 20 -s "$T/inflight.out" || fail "nbd-inflight did not connect"
grep -qx connected "$T/inflight.out" || fail "nbd-inflight: $(cat "$T/inflight.out")"
kill -STOP "$tgtd_pid"
echo go >&7
exec 7>&-
n=0
for i in $(seq 200); do
  n=$(max_in_flight)
  [ "$n" -ge $DEPTH ] && break
  sleep 0.1
done
kill -CONT "$tgtd_pid"
[ "$n" -ge $DEPTH ] || fail "at most $n commands were outstanding at once, not $DEPTH"
wait $inflight_pid || fail "nbd-inflight: $(cat "$T/inflight.out")"
say "$n commands outstanding on one session while the target was frozen; all done and read back"

# fio at iodepth DEPTH, its proxy's session dropped every 0.3 s while
# it runs: each loss cancels many outstanding commands, which are all
# sent again after one login, and the data still verifies.
sessions() { tgt --op show --mode conn --tid 1 | awk '/Session:/ {print $2}'; }
fio --name=parallel --ioengine=nbd --uri="$(uri_of p)" --rw=randwrite --bs=4k \
    --iodepth=$DEPTH --size=64M --verify=crc32c --do_verify=1 \
    --verify_state_save=0 --output="$T/fio.out" &
fio_pid=$!
drops=0
while sleep 0.3 && [ -d "/proc/$fio_pid" ]; do
  for sid in $(sessions); do
    tgt --op delete --mode conn --tid 1 --sid "$sid" --cid 0 && drops=$((drops + 1))
  done
done
wait $fio_pid || { cat "$T/fio.out" >&2; fail "fio failed"; }
grep -q 'err= 0' "$T/fio.out" || { cat "$T/fio.out" >&2; fail "fio reported errors"; }
[ $drops -gt 0 ] || fail "fio ended before its session could be dropped"
grep -q 'logging in again' "$T/p.log" || fail "no outstanding command was sent again after a drop"
stop_proxy p
say "fio randwrite at iodepth $DEPTH with crc32c verify, session dropped $drops times: no errors"
say "ok"
