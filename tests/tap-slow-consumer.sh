#!/bin/bash
# A stalled consumer (SIGSTOP) never stalls guest I/O beyond the policy:
#  - drop: fio runs to completion with verification, the loss is
#    reported by an overflow record once the consumer resumes;
#  - block:500: requests wait at most ~0.5 s once, then the tap drops
#    (one bounded stall, not one per request), and the loss is reported.
. "$(dirname "$0")/lib.sh"
require nbdkit fio
require_fio_nbd

for policy in drop block:500; do
  truncate -s 64M "$T/disk.img"
  rm -f "$T/trace.bw"
  start_tap c --record "$T/trace.bw"
  start_proxy p "$T/disk.img" tap=unix:"$T/c.tap" tap-buffer=5M tap-overflow=$policy
  # Let the consumer connect, then freeze it.
  nbdinfo --size "$(uri_of p)" >/dev/null
  sleep 0.3
  kill -STOP "$c_tap_pid"
  timeout 120 fio --name=stall --ioengine=nbd --uri="$(uri_of p)" --size=32M \
      --rw=randwrite --bs=4k --iodepth=16 --verify=crc32c --do_verify=1 \
      --verify_fatal=1 --output-format=terse --terse-version=3 > "$T/fio.out" 2> "$T/fio.err" \
    || { cat "$T/fio.err"; fail "$policy: fio failed or hung with a stalled consumer"; }
  # Longest single write completion (terse v3 field 56, in µs), in ms.
  max_ms=$(( $(grep '^3;' "$T/fio.out" | cut -d';' -f56) / 1000 ))
  say "$policy: longest write took ${max_ms} ms"
  case $policy in
    drop)  [ "$max_ms" -lt 400 ] || fail "drop policy stalled a write for ${max_ms} ms";;
    block:500) [ "$max_ms" -ge 450 ] || fail "block:500 did not wait for the consumer"
               [ "$max_ms" -lt 3000 ] || fail "block:500 stalled a write for ${max_ms} ms";;
  esac
  kill -CONT "$c_tap_pid"
  stop_proxy p
  stop_tap c
  "$BW" trace dump "$T/trace.bw" > "$T/dump"
  grep -q "overflow lost=" "$T/dump" || fail "$policy: loss not reported by an overflow record"
  "$BW" trace check "$T/trace.bw"
  tail -1 "$T/dump" | grep_all -q ' end$' || fail "$policy: no end record"
done
say "ok"
