#!/bin/bash
# fio's nbd engine, 32 requests in flight, random 4k writes and 1M
# sequential writes through the plugin with crc32c verification: zero
# mismatches.  The tap trace of the whole run replays onto the initial
# image to exactly the final image.
. "$(dirname "$0")/lib.sh"
require nbdkit fio
require_fio_nbd

truncate -s 128M "$T/disk.img"
head -c 16M /dev/urandom | dd of="$T/disk.img" conv=notrunc status=none
cp "$T/disk.img" "$T/base.img"
start_tap c --record "$T/trace.bw"
start_proxy p "$T/disk.img" tap=unix:"$T/c.tap" tap-overflow=block:60000 tap-drain=60000

fio_verify p rand4k --size=128M --iodepth=32 --rw=randwrite --bs=4k --io_size=48M
fio_verify p seq1m --size=128M --iodepth=32 --rw=write --bs=1M --numjobs=1
say "fio verify: no mismatches"

stop_proxy p
stop_tap c
trace_replays "$T/trace.bw" "$T/base.img" "$T/disk.img"
