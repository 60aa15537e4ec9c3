#!/bin/bash
# fio's nbd engine, 32 requests in flight, random 4k writes and 1M
# sequential writes through the plugin with crc32c verification: zero
# mismatches.  The tap trace of the whole run replays onto the initial
# image to exactly the final image.
. "$(dirname "$0")/lib.sh"
require nbdkit fio
fio --enghelp 2>/dev/null | grep_all -qw nbd || skip "fio was built without the nbd engine"

truncate -s 128M "$T/disk.img"
head -c 16M /dev/urandom | dd of="$T/disk.img" conv=notrunc status=none
cp "$T/disk.img" "$T/base.img"
start_tap c --record "$T/trace.bw"
start_proxy p "$T/disk.img" tap=unix:"$T/c.tap" tap-overflow=block:60000 tap-drain=60000

run_fio() {
  local name=$1; shift
  fio --name="$name" --output-format=terse --terse-version=3 --ioengine=nbd --uri="$(uri_of p)" \
      --size=128M --iodepth=32 --verify=crc32c --do_verify=1 --verify_fatal=1 \
      --randrepeat=0 "$@" > "$T/fio.$name.out" 2> "$T/fio.$name.err" \
    || { cat "$T/fio.$name.out" "$T/fio.$name.err"; fail "fio $name failed"; }
  # terse v3: field 5 is the job's error code
  [ "$(grep '^3;' "$T/fio.$name.out" | cut -d';' -f5)" = 0 ] || { cat "$T/fio.$name.out"; fail "fio $name reported an error"; }
}
run_fio rand4k --rw=randwrite --bs=4k --io_size=48M
run_fio seq1m --rw=write --bs=1M --numjobs=1
say "fio verify: no mismatches"

stop_proxy p
stop_tap c
"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace apply "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/disk.img" || fail "trace replay differs from the backend"
say "trace replays to the final image"
