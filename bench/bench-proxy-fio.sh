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
    none) nbdkit -f -U "$W/$c.sock" -P "$W/$c.pid" "$PLUGIN" "$W/disk.img" tap=none &;;
    tap)  # A fresh consumer per run; the block policy makes the guest
          # wait for it instead of dropping, so the figure is the speed
          # of the whole tap path, and any loss would show below.
          "$BW" tap-recv --once "unix:$W/consumer.sock" 2> "$W/recv.err" &
          RECV=$!
          for _ in $(seq 50); do [ -S "$W/consumer.sock" ] && break; sleep 0.1; done
          nbdkit -f -U "$W/$c.sock" -P "$W/$c.pid" "$PLUGIN" "$W/disk.img" \
            tap=unix:"$W/consumer.sock" tap-overflow=block:60000 tap-drain=60000 \
            stats="$W/tap.stats" &;;
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

# server_ticks CONFIG: CPU time so far, in clock ticks, of everything
# that serves CONFIG: nbdkit and, for tap, the consumer (all threads,
# those that already ended included).
server_ticks() {
  local pids p t=0
  pids=$(cat "$W/$1.pid")
  [ "$1" = tap ] && pids+=" $RECV"
  for p in $pids; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$t"
}

RAMP=2
# fio_metric CONFIG KIND: two numbers for one run: IOPS (rand4k) or
# KiB/s (seq1m), and the server's CPU time per request in microseconds
# over the same measured period (after the ramp).  The CPU time does
# not depend on what else the machine runs nearly as much as the rate.
fio_metric() {
  local c=$1 kind=$2 args bs fio_pid t0 t1
  case $kind in
    rand4k) args="--rw=randwrite --bs=4k --iodepth=32"; bs=4096;;
    seq1m)  args="--rw=write --bs=1M --iodepth=8"; bs=1048576;;
  esac
  # shellcheck disable=SC2086
  fio --name="$kind" --ioengine=nbd --uri="nbd+unix:///?socket=$W/$c.sock" \
      --size="$SIZE" $args --time_based --runtime="$RUNTIME" --ramp_time=$RAMP \
      --output-format=terse --terse-version=3 > "$W/fio.out" 2>/dev/null &
  fio_pid=$!
  sleep $RAMP
  t0=$(server_ticks "$c")
  wait "$fio_pid"
  t1=$(server_ticks "$c")
  # Field 47: KiB written in the measured period, 48: KiB/s, 49: IOPS.
  awk -F';' -v k="$kind" -v bs=$bs -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
    /^3;/ { printf "%s %.1f\n", (k == "rand4k") ? $49 : $48, ticks / hz * 1e6 / ($47 * 1024 / bs) }' "$W/fio.out"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# paired KIND CONFIG: the median over rounds of CONFIG's rate / the
# baseline's in the same round (a round runs the three back to back, so
# drifts of a shared machine's speed cancel out).
paired() {
  paste <(echo ${R[$1.base]} | tr ' ' '\n') <(echo ${R[$1.$2]} | tr ' ' '\n') |
    awk '$1 > 0 { print $2 / $1 }' | median | awk '{ printf "%.3f", $1 }'
}
# medians ARRAY KIND: sets b, n and t to the medians of KIND's runs of
# base, none and tap in ARRAY.
medians() {
  local -n runs=$1
  b=$(echo ${runs[$2.base]} | tr ' ' '\n' | median)
  n=$(echo ${runs[$2.none]} | tr ' ' '\n' | median)
  t=$(echo ${runs[$2.tap]} | tr ' ' '\n' | median)
}

declare -A R CPU DEFER
for kind in rand4k seq1m; do
  for run in $(seq "$RUNS"); do
    for c in base none tap; do
      serve "$c"
      read -r v cpu < <(fio_metric "$c" "$kind")
      if [ "$c" = tap ]; then
        sleep 1.1             # the stats file is written every second
        DEFER[$kind]+="$(awk '$1 == "tap.deferred" { d = $2 } $1 == "tap.kept" { k = $2 }
          $1 == "tap.records" { r = $2 } END { printf "%s/%s/%s", d, k, r }' "$W/tap.stats") "
      fi
      unserve "$c"
      R[$kind.$c]+="$v "
      CPU[$kind.$c]+="$cpu "
      echo "  $kind $c run $run: $v (server CPU $cpu us per request)"
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
  echo "| workload | nbdkit file | plugin tap=none | ratio | plugin tap=unix | ratio | target |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  cpu_rows=
  for kind in rand4k seq1m; do
    medians R "$kind"
    case $kind in
      rand4k) label="4k random write, QD32 (IOPS)"; target=0.95; fmt() { echo "$1"; };;
      seq1m)  label="1M sequential write, QD8 (MB/s)"; target=0.97; fmt() { awk -v v="$1" 'BEGIN { printf "%.0f", v * 1024 / 1e6 }'; };;
    esac
    rn=$(awk -v a="$n" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    rt=$(awk -v a="$t" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    echo "| $label | $(fmt "$b") | $(fmt "$n") | $rn ($(paired "$kind" none)) | $(fmt "$t") | $rt ($(paired "$kind" tap)) | ≥ $target |"
    medians CPU "$kind"
    cpu_rows+="| ${label%%,*} | $b | $n | $t | $(awk -v a="$t" -v b="$n" 'BEGIN { printf "%+.1f (%+.0f %%)", a - b, (a - b) / b * 100 }') |"$'\n'
  done
  echo
  echo "Server CPU time per request in µs (nbdkit, and for \`tap=unix\` the consumer too; from \`/proc/PID/stat\`"
  echo "over the measured period; medians). Other load on the machine moves it much less than the rates (though"
  echo "some: a busier server batches more per wake-up), so the last column is the tap's cost even when the"
  echo "ratios above are mostly noise:"
  echo
  echo "| workload | nbdkit file | plugin tap=none | plugin tap=unix | tap=unix − tap=none |"
  echo "|---|---:|---:|---:|---:|"
  printf %s "$cpu_rows"
  echo
  echo "Raw runs (IOPS for rand4k, KiB/s for seq1m; server CPU µs per request):"
  echo
  for k in rand4k seq1m; do for c in base none tap; do echo "- $k $c: ${R[$k.$c]}"; done; done
  for k in rand4k seq1m; do for c in base none tap; do echo "- $k $c CPU: ${CPU[$k.$c]}"; done; done
  for k in rand4k seq1m; do echo "- $k tap, records deferred/kept/all: ${DEFER[$k]}"; done
  echo
  machine_facts
  echo "<!-- proxy-fio:end -->"
} > "$out"
cat "$out"
write_section proxy-fio "$out"
