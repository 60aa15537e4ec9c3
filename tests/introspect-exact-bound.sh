#!/bin/bash
# The exact view's bounds (disk/reader-exact.h) are options, and the
# reads they cost are counted: with bounds of 64K (--exact-metadata,
# --exact-data) the kernel's ext4 through the proxy pushes blocks out
# of the view that the introspector then reads from the storage, which
# may be ahead (exact.evicted_reads in watch's stats file, and
# exact_evicted_reads in replay --stats of the trace it recorded);
# with the default bounds (4M each) the same trace reads none.  Values
# out of range are refused with what is expected.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"

# refused CMD... -- PHRASE: exit 2, and the message has PHRASE.
refused() {
  local args=() out rc=0
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  out=$("$BW" "${args[@]}" 2>&1) || rc=$?
  [ $rc = 2 ] || fail "${args[*]}: exit $rc, not 2: $out"
  [[ $out == *"$2"* ]] || fail "${args[*]}: expected '$2', got: $out"
  check_san_log <(echo "$out")
}
range="expected a size from 64K to 1G (suffix K, M or G)"
for v in 63K 65535 2G 1025M 4X 4MB -1 K ""; do
  refused watch --exact-metadata "$v" --storage /dev/null unix:/nonexistent -- \
    "blockwatch watch: --exact-metadata $v: $range"
  refused replay --ahead 8 --exact-data "$v" /dev/null /dev/null -- \
    "blockwatch replay: --exact-data $v: $range"
done
refused replay --exact-metadata 4M /dev/null /dev/null -- \
  "--exact-metadata and --exact-data are for --ahead N"
say "bad bounds refused"

require_fuse
require_loop
require nbdkit mkfs.ext4

# Renames, links, deletes and new directories (metadata), and 2.5 MiB
# of data, less than the default bound of each class.
small_workload() {
  local m=$1 i
  mkdir -p "$m/a/b" "$m/c"
  for i in $(seq 200); do echo "file $i" > "$m/a/f$i"; done
  head -c 2000000 /dev/urandom > "$m/c/big"
  sync
  for i in $(seq 1 2 200); do mv "$m/a/f$i" "$m/a/b/g$i"; done
  for i in $(seq 2 4 200); do ln "$m/a/f$i" "$m/c/l$i"; done
  rm -f "$m"/a/f*0
  head -c 500000 /dev/urandom > "$m/a/b/mid"
  sync
}

truncate -s 64M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img" || fail "mkfs"
cp --sparse=always "$T/disk.img" "$T/base.img"
WATCH_ARGS=(--exact-metadata 64K --exact-data 64K --stats-file "$T/st"
            --record "$T/trace.bw")
# The stats file is written every second.
stats_seen() {
  for _ in $(seq 100); do
    awk '$1 == "exact.evicted_reads" && $2 > 0 { ok = 1 } END { exit !ok }' \
      "$T/st" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
live_workload() {
  small_workload "$1"
  stats_seen || { cat "$T/st"; fail "watch with 64K bounds: no exact.evicted_reads in its stats file"; }
  say "watch, 64K bounds: $(grep '^exact\.' "$T/st" | tr '\n' ' ')"
}
watch_workload d0 "$T/disk.img" live_workload

# The trace watch recorded, replayed with the storage 32 records ahead.
evicted_reads() {   # evicted_reads [replay options...]
  "$BW" replay --ahead 32 --stats "$@" "$T/base.img" "$T/trace.bw" \
    > /dev/null 2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay $* failed"; }
  check_san_log "$T/replay.err"
  sed -n 's/^stats: .*exact_evicted_reads=\([0-9]*\).*/\1/p' "$T/replay.err"
}
n=$(evicted_reads --data=bytes)
[ "$n" = 0 ] || fail "default bounds: $n reads of blocks that gave way, not 0"
n=$(evicted_reads --data=bytes --exact-metadata 64K --exact-data 64K)
[ -n "$n" ] && [ "$n" -gt 0 ] || fail "64K bounds: no reads of blocks that gave way"
say "replay --ahead 32: default bounds 0 reads of blocks that gave way, 64K bounds $n"
say "ok"
