#!/bin/bash
# The file backend on a block device (a loop device): size from
# BLKGETSIZE64, zero by punching or BLKZEROOUT, trim by punching or
# BLKDISCARD.  Every op checks against the nbd-ops model, and the trace
# replays onto the initial content to exactly the device's final content.
. "$(dirname "$0")/lib.sh"
require nbdkit
require_loop

truncate -s 64M "$T/backing.img"
head -c 16M /dev/urandom | dd of="$T/backing.img" conv=notrunc status=none
cp "$T/backing.img" "$T/base.img"
DEV=$(losetup -f --show "$T/backing.img")
register_loop "$DEV"

start_proxy p "$DEV" tap=record:"$T/trace.bw"
[ "$(nbdinfo --size "$(uri_of p)")" = $((64 << 20)) ] || fail "wrong size for $DEV"
"$BW_BUILD/tests/nbd-ops" --uri "$(uri_of p)" --ops 2000 --seed 7
stop_proxy p
losetup -d "$DEV"

"$BW" trace dump "$T/trace.bw" > "$T/dump"
grep -q " zero " "$T/dump" || fail "no zero reached the device"
grep -q " trim " "$T/dump" || fail "no trim reached the device"
"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace apply "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/backing.img" || fail "trace replay differs from the device"
say "ok"
