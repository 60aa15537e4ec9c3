#!/bin/bash
# Large writes reach a tap consumer without the plugin copying their
# bytes (file storage: the consumer reads them from the storage), and
# nothing the consumer has not read yet is lost when it is overwritten:
#  1. 1 MiB writes while the consumer keeps up: deferred, not kept.
#  2. The consumer stopped (SIGSTOP) while 1 MiB writes land again and
#     again on the same 8 MiB: the plugin keeps the bytes of records
#     the consumer has not read before each overwrite.
# Oracle for both: the consumer's trace replays onto the initial image
# to exactly the final image, and fio verifies every block it wrote.
. "$(dirname "$0")/lib.sh"
require nbdkit fio
require_fio_nbd

truncate -s 64M "$T/disk.img"
head -c 8M /dev/urandom | dd of="$T/disk.img" conv=notrunc status=none
cp "$T/disk.img" "$T/base.img"
start_tap c --record "$T/trace.bw"
start_proxy p "$T/disk.img" tap=unix:"$T/c.tap" tap-overflow=block:60000 \
  tap-drain=60000 tap-buffer=64M stats="$T/p.stats"
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$T/p.stats"; }
# settled_stats N: waits until the stats file (written every second)
# counts at least N records, all acknowledged by the consumer.
settled_stats() {
  local a
  for _ in $(seq 100); do
    a=$(stat_of tap.acked_seq)
    [ -n "$a" ] && [ "$a" -ge "$1" ] && [ "$a" = "$(stat_of tap.records)" ] && return 0
    sleep 0.2
  done
  fail "the consumer did not acknowledge every record: $(cat "$T/p.stats")"
}

fio_verify p seq --rw=write --bs=1M --size=32M --iodepth=8
settled_stats 32
deferred=$(stat_of tap.deferred)
[ "$deferred" -ge 32 ] || fail "32 writes of 1 MiB, but only $deferred were deferred"
say "1 MiB writes deferred ($deferred); kept: $(stat_of tap.kept)"

# One request at a time, so that no two writes race at the backend (the
# storage then holds the later one's bytes, and so does the replay).
kill -STOP "$c_tap_pid"
fio_verify p overwrite --rw=randwrite --bs=1M --offset=32M --size=8M --io_size=48M \
  --iodepth=1 --do_verify=0
kill -CONT "$c_tap_pid"
settled_stats 80
kept=$(stat_of tap.kept)
[ "$kept" -gt 0 ] || fail "writes overwrote records the stopped consumer had not read, but none was kept: $(cat "$T/p.stats")"
[ "$(stat_of tap.keep_failed)" = 0 ] || fail "the plugin could not keep some records"
say "overwrites of unread records: $kept kept"

stop_proxy p
stop_tap c
trace_replays "$T/trace.bw" "$T/base.img" "$T/disk.img"
