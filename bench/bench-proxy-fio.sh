#!/bin/bash
# Data-path cost of the proxy: fio (nbd engine) against
#   base   nbdkit file              (the baseline)
#   none   our plugin, tap=none
#   tap    our plugin, tap=unix: to a consumer that checks and discards
# on the same preallocated image, in the same run, configurations
# interleaved, each RUNS times; the median counts.  Targets: 4k random
# write IOPS >= 0.95 and 1M sequential write MB/s >= 0.97 of the baseline.
# Also the server's CPU time per request, which a shared machine's other
# load disturbs much less than the rates.
#   RUNTIME=10 RUNS=5 BENCH_DIR=/dev/shm bench/bench-proxy-fio.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNTIME=${RUNTIME:-10}
RUNS=${RUNS:-5}
SIZE=${SIZE:-1G}

# The image lives in memory (tmpfs) by default: on a disk, page-cache
# writeback of the host dominates and varies several-fold between runs,
# hiding the proxy's own cost, which is what this measures.
BENCH_DIR=${BENCH_DIR:-/dev/shm}
W=$(mktemp -d "$BENCH_DIR/bw-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

fallocate -l "$SIZE" "$W/disk.img"
# Write it once so no run pays for first-touch allocation.
dd if=/dev/zero of="$W/disk.img" bs=4M conv=notrunc,fsync status=none count=$(( $(stat -c %s "$W/disk.img") / 4194304 ))

serve() {   # serve CONFIG: start nbdkit for CONFIG on $W/CONFIG.sock
  local c=$1
  rm -f "$W/$c.sock"
  case $c in
    base) nbdkit -f -U "$W/$c.sock" -P "$W/$c.pid" file "$W/disk.img" &;;
    *)    serve_plugin "$c" "$W/disk.img";;
  esac
  PIDS+=($!)
  for _ in $(seq 50); do [ -S "$W/$c.sock" ] && break; sleep 0.1; done
}

run_rounds

out=$W/section.md
{
  echo "<!-- proxy-fio:begin -->"
  echo "## Data path: proxy vs \`nbdkit file\`"
  echo
  echo "Command: \`RUNTIME=$RUNTIME RUNS=$RUNS SIZE=$SIZE BENCH_DIR=$BENCH_DIR bench/bench-proxy-fio.sh\` (part of \`make bench\`)."
  echo "fio 3 nbd engine over a Unix socket, ${RUNTIME}s per run after 2s ramp, median of $RUNS interleaved runs,"
  echo "same preallocated $SIZE image in $BENCH_DIR ($(df --output=fstype "$BENCH_DIR" | tail -1)). \`tap=unix\` sends every write to \`blockwatch tap-recv\`,"
  echo "which checks every record (fields and sequence accounting; records in the shared ring carry no checksum)"
  echo "and acknowledges it (no trace file), with \`tap-overflow=block:60000\`."
  echo "The 1M writes are deferred (docs/tap-format.md): the plugin does not copy their bytes into the ring,"
  echo "a consumer that wants them reads them from the image (tap-recv without a trace does not), and the"
  echo "plugin copies them only when they are about to be overwritten unread (\`tap.kept\`, shown below)."
  echo "The block policy:"
  echo "the guest waits rather than the tap dropping, so the figure is the speed of the whole tap path (every run"
  echo "is checked to have lost nothing)."
  echo
  echo "Ratios are of the medians; in brackets, the median of each round's ratio (rounds run the three"
  echo "configurations back to back, so the machine's drifts cancel out)."
  echo
  proxy_tables "nbdkit file" 0.95 0.97
  machine_facts
  echo "<!-- proxy-fio:end -->"
} > "$out"
cat "$out"
write_section proxy-fio "$out"
