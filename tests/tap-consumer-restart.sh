#!/bin/bash
# The tap consumer is killed (SIGKILL) and restarted while fio writes
# through the plugin with verification.
#  A. Small buffer, drop policy: guest I/O is unaffected (fio verify
#     passes), the trace holds an explicit overflow record for what was
#     lost, its sequence accounting is consistent, and everything after
#     the overflow is complete: a later full-disk write replays exactly.
#  B. Large buffer, block policy, quick restart: nothing is lost at all;
#     unacknowledged records are re-sent and the trace replays exactly.
. "$(dirname "$0")/lib.sh"
require nbdkit fio
require_fio_nbd

fio_run() {   # fio_run NAME ARGS...: verified writes through proxy p
  local name=$1; shift
  fio --name="$name" --ioengine=nbd --uri="$(uri_of p)" --size=64M \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
      --output-format=terse --terse-version=3 "$@" > "$T/fio.$name.out" 2>&1 \
    || { cat "$T/fio.$name.out"; fail "fio $name failed: guest I/O was affected"; }
}

kill_consumer() {
  kill -9 "$c_tap_pid"
  wait "$c_tap_pid" 2>/dev/null || true
}

restart_consumer() {
  start_tap c --record "$T/trace.bw"
}

scenario() {   # scenario NAME PLUGIN-ARGS... ; pause seconds in $PAUSE
  local name=$1; shift
  rm -f "$T/trace.bw"
  truncate -s 64M "$T/disk.img"
  head -c 64M /dev/urandom > "$T/disk.img"
  cp "$T/disk.img" "$T/base.img"
  start_tap c --record "$T/trace.bw"
  start_proxy p "$T/disk.img" tap=unix:"$T/c.tap" "$@"
  fio_run "$name-1" --rw=randwrite --bs=4k --iodepth=16 --rate_iops=5000 &
  local fio_pid=$!
  sleep 1
  kill_consumer
  sleep "$PAUSE"
  restart_consumer
  wait $fio_pid || fail "fio during the consumer restart failed"
  # Let the restarted consumer catch up, then overwrite the whole disk
  # in requests small enough for a 5 MiB buffer to hold them in flight,
  # at a pace a consumer writing a trace file keeps up with.
  sleep 1
  fio_run "$name-2" --rw=write --bs=64k --iodepth=4 --rate=32m
  stop_proxy p
  stop_tap c
  "$BW" trace dump "$T/trace.bw" > "$T/$name.dump"
  "$BW" trace check "$T/trace.bw" | tee "$T/$name.check"
}

# A: 5 MiB buffer (~1300 4k writes) and a 1.5 s outage at 20 MB/s.
PAUSE=1.5 scenario drop tap-buffer=5M tap-overflow=drop
grep -q "overflow lost=" "$T/drop.dump" || fail "no overflow record after the outage"
grep -q "dropping records" "$T/p.log" || fail "plugin did not log the drop"
! grep -qE '[^0-9]0 lost' "$T/drop.check" || fail "trace check reports no loss"
tail -1 "$T/drop.dump" | grep_all -q ' end$' || fail "trace does not end with the end record"
"$BW" trace apply --allow-loss "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/disk.img" || fail "records after the overflow do not replay to the final image"
say "A: overflow reported, trace consistent after it"

# B: 64 MiB buffer holds the whole outage; block policy as a backstop.
PAUSE=0.3 scenario keep tap-buffer=64M tap-overflow=block:30000 tap-drain=30000
"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace apply "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/disk.img" || fail "trace replay differs from the backend"
say "B: no loss across a consumer restart"
