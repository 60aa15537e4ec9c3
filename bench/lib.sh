# Helpers for benchmarks: where the build is, machine facts, and writing a section of
# docs/benchmarks.md (between <!-- NAME:begin --> and <!-- NAME:end -->).

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DOC=$BENCH_TOP/docs/benchmarks.md
BUILD=${BUILD:-$BENCH_TOP/build}
PLUGIN=$BUILD/nbdkit-blockwatch-plugin.so
BW=$BUILD/blockwatch

machine_facts() {
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r)"
  echo "- software: $(nbdkit --version), $(fio --version), libnbd $(pkg-config --modversion libnbd), Debian $(cat /etc/debian_version)"
  echo "- commit: $(git -C "$BENCH_TOP" rev-parse --short HEAD)$(git -C "$BENCH_TOP" diff --quiet || echo ' (with local changes)')"
}

# kernel_workdir NAME TAG: for a benchmark that mounts an ext4 image
# through the proxy (nbdfuse + loop): needs root and /dev/fuse; makes W
# (in BENCH_DIR, /dev/shm by default) with mnt/ and fuse/, and cleans up
# at exit what is left: the mount, the loop device LOOP, nbdfuse and
# the servers whose pid files are W/*.pid.
kernel_workdir() {
  [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || { echo "$1: needs root and /dev/fuse" >&2; exit 1; }
  W=$(mktemp -d "${BENCH_DIR:-/dev/shm}/bw-$2.XXXXXX")
  LOOP=
  trap _kernel_cleanup EXIT
  mkdir "$W/mnt" "$W/fuse"
}
_kernel_cleanup() {
  set +e
  mountpoint -q "$W/mnt" && umount "$W/mnt"
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  mountpoint -q "$W/fuse" && umount "$W/fuse"
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  rm -rf "$W"
}

# write_section NAME FILE: replace the section NAME with FILE's content.
write_section() {
  local name=$1 file=$2 tmp
  [ -f "$BENCH_DOC" ] || printf '# Benchmarks\n\nEvery figure below was produced by `make bench` (or the command shown) on the machine described with it; ratios compare against a baseline measured in the same run.\n' > "$BENCH_DOC"
  tmp=$(mktemp)
  awk -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" -v f="$file" '
    $0 == b { while ((getline l < f) > 0) print l; skip = 1; found = 1; next }
    $0 == e { skip = 0; next }
    !skip { print }
    END { if (!found) { print ""; while ((getline l < f) > 0) print l } }' "$BENCH_DOC" > "$tmp"
  mv "$tmp" "$BENCH_DOC"
}

# ---- fio through NBD servers: bench-proxy-*.sh --------------------------
# A script sets W (its scratch directory), SIZE, RUNTIME and RUNS, and
# defines serve CONFIG (starts the server of CONFIG, one of base, none
# and tap, on $W/CONFIG.sock with its pid in $W/CONFIG.pid; for tap,
# the consumer's pid in RECV and the plugin's stats file $W/tap.stats)
# and calls unserve CONFIG below to stop it.

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

# serve_plugin CONFIG STORAGE: our plugin on STORAGE, for none or tap.
# For tap, a fresh consumer per run; the block policy makes the guest
# wait for it instead of dropping, so the figure is the speed of the
# whole tap path, and any loss shows in unserve.
serve_plugin() {
  case $1 in
    none) nbdkit -f -U "$W/$1.sock" -P "$W/$1.pid" "$PLUGIN" "$2" tap=none &;;
    tap)  "$BW" tap-recv --once "unix:$W/consumer.sock" 2> "$W/recv.err" &
          RECV=$!
          for _ in $(seq 50); do [ -S "$W/consumer.sock" ] && break; sleep 0.1; done
          nbdkit -f -U "$W/$1.sock" -P "$W/$1.pid" "$PLUGIN" "$2" \
            tap=unix:"$W/consumer.sock" tap-overflow=block:60000 tap-drain=60000 \
            stats="$W/tap.stats" &;;
  esac
}

# unserve CONFIG: stops its server (and checks the consumer lost
# nothing).
unserve() {
  local pid; pid=$(cat "$W/$1.pid")
  kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$W/$1.pid"
  if [ "$1" = tap ]; then
    wait "$RECV"
    grep -q ' 0 lost.*stream ended cleanly' "$W/recv.err" || { cat "$W/recv.err"; echo "bench: the tap lost records" >&2; exit 1; }
  fi
}

declare -A R CPU DEFER
# run_rounds: for each workload, RUNS rounds of base, none and tap back
# to back; fills R (rates), CPU (per request) and DEFER.
run_rounds() {
  local kind run c v cpu
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
}

# proxy_tables BASE_LABEL [TARGET_4K TARGET_1M]: the ratio table, the
# CPU table and the raw runs, in markdown.
proxy_tables() {
  local label target cpu_rows b n t rn rt kind k c base=$1
  echo "| workload | $base | plugin tap=none | ratio | plugin tap=unix | ratio | target |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  cpu_rows=
  for kind in rand4k seq1m; do
    medians R "$kind"
    case $kind in
      rand4k) label="4k random write, QD32 (IOPS)"; target=${2:-}; fmt() { echo "$1"; };;
      seq1m)  label="1M sequential write, QD8 (MB/s)"; target=${3:-}; fmt() { awk -v v="$1" 'BEGIN { printf "%.0f", v * 1024 / 1e6 }'; };;
    esac
    rn=$(awk -v a="$n" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    rt=$(awk -v a="$t" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    echo "| $label | $(fmt "$b") | $(fmt "$n") | $rn ($(paired "$kind" none)) | $(fmt "$t") | $rt ($(paired "$kind" tap)) | ${target:+≥ $target} |"
    medians CPU "$kind"
    cpu_rows+="| ${label%%,*} | $b | $n | $t | $(awk -v a="$t" -v b="$n" 'BEGIN { printf "%+.1f (%+.0f %%)", a - b, (a - b) / b * 100 }') |"$'\n'
  done
  echo
  echo "Server CPU time per request in µs (the baseline's server or nbdkit, and for \`tap=unix\` the consumer too; from \`/proc/PID/stat\`"
  echo "over the measured period; medians). Other load on the machine moves it much less than the rates (though"
  echo "some: a busier server batches more per wake-up), so the last column is the tap's cost even when the"
  echo "ratios above are mostly noise:"
  echo
  echo "| workload | $base | plugin tap=none | plugin tap=unix | tap=unix − tap=none |"
  echo "|---|---:|---:|---:|---:|"
  printf %s "$cpu_rows"
  echo
  echo "Raw runs (IOPS for rand4k, KiB/s for seq1m; server CPU µs per request):"
  echo
  for k in rand4k seq1m; do for c in base none tap; do echo "- $k $c: ${R[$k.$c]}"; done; done
  for k in rand4k seq1m; do for c in base none tap; do echo "- $k $c CPU: ${CPU[$k.$c]}"; done; done
  for k in rand4k seq1m; do echo "- $k tap, records deferred/kept/all: ${DEFER[$k]}"; done
  echo
}
