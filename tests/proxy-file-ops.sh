#!/bin/bash
# The file backend forwards every NBD operation unchanged (checked
# against a model by nbd-ops), advertises what the file can do, and its
# tap trace replays onto the initial image to exactly the final image.
. "$(dirname "$0")/lib.sh"
require nbdkit nbdinfo

truncate -s 64M "$T/disk.img"
head -c 8M /dev/urandom | dd of="$T/disk.img" bs=1M seek=4 conv=notrunc status=none
cp "$T/disk.img" "$T/base.img"

start_proxy p "$T/disk.img" tap=record:"$T/trace.bw"
nbdinfo --json "$(uri_of p)" > "$T/info.json"
for cap in can_flush can_fua can_trim can_zero can_fast_zero can_cache can_multi_conn; do
  grep -q "\"$cap\": true" "$T/info.json" || fail "file backend does not advertise $cap"
done
grep -q '"is_read_only": false' "$T/info.json" || fail "export is read-only"
"$BW_BUILD/tests/nbd-ops" --uri "$(uri_of p)" --ops 3000 --seed 1 | tee "$T/ops.out"
stop_proxy p

"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace apply "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/disk.img" || fail "trace replay differs from the backend"
"$BW" trace dump "$T/trace.bw" > "$T/dump.txt"
for t in write zero trim flush; do
  grep -q " $t" "$T/dump.txt" || fail "no $t record in the trace"
done
grep -q " write .* fua" "$T/dump.txt" || fail "no FUA write recorded"
grep -q " trim .* reads-zero" "$T/dump.txt" || fail "punched trims not marked reads-zero"

# A read-only file is served read-only, and nothing is tapped.
cp "$T/base.img" "$T/ro.img"; chmod 0444 "$T/ro.img"
start_proxy ro "$T/ro.img" tap=record:"$T/ro.bw"
if [ "$(id -u)" != 0 ]; then
  nbdinfo --json "$(uri_of ro)" | grep_all -q '"is_read_only": true' || fail "read-only file served writable"
fi
stop_proxy ro
say "ok"
