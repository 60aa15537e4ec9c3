#!/bin/bash
# Data-path cost of the proxy: fio (nbd engine) against
#   base   nbdkit file              (the baseline)
#   none   our plugin, tap=none
#   tap    our plugin, tap=unix: to a consumer that checks and discards
# on the same preallocated image, in the same run, configurations
# interleaved, each RUNS times; the median counts.  Targets: 4k random
# write IOPS >= 0.95 and 1M sequential write MB/s >= 0.97 of the baseline.
#   RUNTIME=10 RUNS=5 BENCH_DIR=/dev/shm bench/bench-proxy-fio.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-$BENCH_TOP/build}
PLUGIN=$BUILD/nbdkit-blockwatch-plugin.so
BW=$BUILD/blockwatch
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
    none) nbdkit -f -U "$W/$c.sock" -P "$W/$c.pid" "$PLUGIN" "$W/disk.img" tap=none &;;
    tap)  # A fresh consumer per run; the block policy makes the guest
          # wait for it instead of dropping, so the figure is the speed
          # of the whole tap path, and any loss would show below.
          "$BW" tap-recv --once "unix:$W/consumer.sock" 2> "$W/recv.err" &
          RECV=$!
          for _ in $(seq 50); do [ -S "$W/consumer.sock" ] && break; sleep 0.1; done
          nbdkit -f -U "$W/$c.sock" -P "$W/$c.pid" "$PLUGIN" "$W/disk.img" \
            tap=unix:"$W/consumer.sock" tap-overflow=block:60000 tap-drain=60000 &;;
  esac
  for _ in $(seq 50); do [ -S "$W/$c.sock" ] && break; sleep 0.1; done
}
unserve() {
  local pid; pid=$(cat "$W/$1.pid")
  kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  if [ "$1" = tap ]; then
    wait "$RECV"
    grep -q ' 0 lost.*stream ended cleanly' "$W/recv.err" || { cat "$W/recv.err"; echo "bench: the tap lost records" >&2; exit 1; }
  fi
}

# fio_metric CONFIG KIND: IOPS (rand4k) or KiB/s (seq1m) of one run.
fio_metric() {
  local c=$1 kind=$2 args
  case $kind in
    rand4k) args="--rw=randwrite --bs=4k --iodepth=32";;
    seq1m)  args="--rw=write --bs=1M --iodepth=8";;
  esac
  # shellcheck disable=SC2086
  fio --name="$kind" --ioengine=nbd --uri="nbd+unix:///?socket=$W/$c.sock" \
      --size="$SIZE" $args --time_based --runtime="$RUNTIME" --ramp_time=2 \
      --output-format=terse --terse-version=3 2>/dev/null |
    awk -F';' '/^3;/ { print ($1 == "3") ? ((k == "rand4k") ? $49 : $48) : 0 }' k="$kind"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A R
for kind in rand4k seq1m; do
  for run in $(seq "$RUNS"); do
    for c in base none tap; do
      serve "$c"
      v=$(fio_metric "$c" "$kind")
      unserve "$c"
      R[$kind.$c]+="$v "
      echo "  $kind $c run $run: $v"
    done
  done
done

out=$W/section.md
{
  echo "<!-- proxy-fio:begin -->"
  echo "## Data path: proxy vs \`nbdkit file\`"
  echo
  echo "Command: \`RUNTIME=$RUNTIME RUNS=$RUNS SIZE=$SIZE BENCH_DIR=$BENCH_DIR bench/bench-proxy-fio.sh\` (part of \`make bench\`)."
  echo "fio 3 nbd engine over a Unix socket, ${RUNTIME}s per run after 2s ramp, median of $RUNS interleaved runs,"
  echo "same preallocated $SIZE image in $BENCH_DIR ($(df --output=fstype "$BENCH_DIR" | tail -1)). \`tap=unix\` sends every write to \`blockwatch tap-recv\`,"
  echo "which checks every record (fields and sequence accounting; records in the shared ring carry no checksum)"
  echo "and acknowledges it (no trace file), with \`tap-overflow=block:60000\`:"
  echo "the guest waits rather than the tap dropping, so the figure is the speed of the whole tap path (every run"
  echo "is checked to have lost nothing)."
  echo
  echo "| workload | nbdkit file | plugin tap=none | ratio | plugin tap=unix | ratio | target |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for kind in rand4k seq1m; do
    b=$(echo ${R[$kind.base]} | tr ' ' '\n' | median)
    n=$(echo ${R[$kind.none]} | tr ' ' '\n' | median)
    t=$(echo ${R[$kind.tap]} | tr ' ' '\n' | median)
    case $kind in
      rand4k) label="4k random write, QD32 (IOPS)"; target=0.95; fmt() { echo "$1"; };;
      seq1m)  label="1M sequential write, QD8 (MB/s)"; target=0.97; fmt() { awk -v v="$1" 'BEGIN { printf "%.0f", v * 1024 / 1e6 }'; };;
    esac
    rn=$(awk -v a="$n" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    rt=$(awk -v a="$t" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    echo "| $label | $(fmt "$b") | $(fmt "$n") | $rn | $(fmt "$t") | $rt | ≥ $target |"
  done
  echo
  echo "Raw runs (IOPS for rand4k, KiB/s for seq1m):"
  echo
  for k in rand4k seq1m; do for c in base none tap; do echo "- $k $c: ${R[$k.$c]}"; done; done
  echo
  machine_facts
  echo "<!-- proxy-fio:end -->"
} > "$out"
cat "$out"
write_section proxy-fio "$out"
