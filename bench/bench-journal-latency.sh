#!/bin/bash
# How soon file events come, following the jbd2 journal or not.
# The kernel's ext4 (mounted commit=1) writes through the plugin, whose
# tap goes to the online introspector (blockwatch watch); tests/tools/
# fsload creates files at a steady rate, each named after the moment
# its write(2) returned, and every event line is stamped when it leaves
# the introspector (tests/tools/line-stamp).  Two latencies, p50/p99:
#   commit -> event: the tap record of the commit block (the event's
#     time_ns) to the event leaving the introspector;
#   write(2) -> event: the file's name to its create event;
# at two event rates, following the journal and, in the same run, with
# --no-journal (events at home-location writes only).
#   RATES="1000 10000" SECONDS_PER_RUN=20 bench/bench-journal-latency.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RATES=${RATES:-"1000 10000"}
SECS=${SECONDS_PER_RUN:-20}
BENCH_DIR=${BENCH_DIR:-/dev/shm}

kernel_workdir bench-journal-latency jbench

# pct FILE P: the P-th percentile of the numbers in FILE (milliseconds).
pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
  i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.1f", v[i] / 1e6 }'; }

# run MODE FILES-PER-SECOND: one mount, fsload, unmount; events in
# $W/MODE-RATE.events as "STAMP JSON".
run() {
  local mode=$1 rate=$2 out=$W/$1-$2 flag=
  [ "$mode" = home ] && flag=--no-journal
  truncate -s 2G "$W/disk.img"
  mkfs.ext4 -q -F -b 4096 "$W/disk.img"
  rm -f "$W/w.tap" "$W/p.sock"
  { "$BW" watch --json --once --data=none $flag --storage "$W/disk.img" "unix:$W/w.tap" 2> "$out.watch.err" \
      | "$BUILD/tests/line-stamp" > "$out.events"; } &
  for _ in $(seq 100); do [ -S "$W/w.tap" ] && break; sleep 0.1; done
  nbdkit -f -U "$W/p.sock" -P "$W/p.pid" "$PLUGIN" "$W/disk.img" tap=unix:"$W/w.tap" \
    tap-overflow=block:60000 &
  for _ in $(seq 100); do [ -S "$W/p.sock" ] && break; sleep 0.1; done
  nbdfuse "$W/fuse/nbd" --unix "$W/p.sock" &
  for _ in $(seq 100); do [ -f "$W/fuse/nbd" ] && break; sleep 0.1; done
  LOOP=$(losetup -f --show "$W/fuse/nbd")
  mount -o commit=1 "$LOOP" "$W/mnt"
  mkdir "$W/mnt/d"
  "$BUILD/tests/fsload" "$W/mnt/d" "$rate" "$SECS" > "$out.fsload"
  umount "$W/mnt"; losetup -d "$LOOP"; LOOP=; umount "$W/fuse"
  kill "$(cat "$W/p.pid")"; while kill -0 "$(cat "$W/p.pid")" 2>/dev/null; do sleep 0.1; done
  rm -f "$W/p.pid"
  wait
  # Differences in ns, printed whole: awk's print writes numbers past
  # 2^31 as 2e+10, which sort -n misorders (a p50 above the p99).
  # write(2) -> event: creates of /d/f-NS
  sed -n 's|^\([0-9]*\) .*"type":"create","path":"/d/f-\([0-9]*\)".*|\1 \2|p' "$out.events" |
    awk '{ printf "%.0f\n", $1 - $2 }' > "$out.guest"
  # commit -> event: every event against its tap record's time
  sed -n 's|^\([0-9]*\) .*"time_ns":\([0-9]*\),.*|\1 \2|p' "$out.events" |
    awk '{ printf "%.0f\n", $1 - $2 }' > "$out.commit"
  # events per second while fsload ran
  awk -v s="$SECS" 'END { printf "%.0f", NR / s }' "$out.events" > "$out.rate"
}

rows=
for r in $RATES; do
  # About three events a file (create, write, its size): the file
  # rate that gives r events per second.
  files=$(( r / 3 ))
  run journal "$files"
  run home "$files"
  j=$W/journal-$files h=$W/home-$files
  rows+="| $r | $(cat "$j.rate") | $(pct "$j.commit" 50) / $(pct "$j.commit" 99) | $(pct "$j.guest" 50) / $(pct "$j.guest" 99) | $(pct "$h.guest" 50) / $(pct "$h.guest" 99) | $(wc -l < "$j.guest") / $(wc -l < "$h.guest") |"$'\n'
done

out=$W/section.md
{
  echo "<!-- journal-latency:begin -->"
  echo "## Introspector: event latency with and without the journal"
  echo
  echo "Command: \`RATES=\"$RATES\" SECONDS_PER_RUN=$SECS bench/bench-journal-latency.sh\` (part of \`make bench\`), image in $BENCH_DIR."
  echo
  echo "The kernel's ext4 (\`mount -o commit=1\`) through the plugin, \`tap=unix:\` to \`blockwatch watch\`;"
  echo "\`tests/tools/fsload\` creates files at a steady rate for ${SECS}s; each event is stamped as it leaves"
  echo "the introspector. *commit → event*: from the tap record of the commit block to the event;"
  echo "*write(2) → event*: from the file's data write returning in the guest to its create event."
  echo "*home only* is the same workload with \`--no-journal\`, in the same run: events wait for the"
  echo "checkpoint or writeback of the metadata (here often the unmount). Milliseconds, p50 / p99."
  echo
  echo "| target events/s | events/s seen | commit → event | write(2) → event | write(2) → event, home only | files seen (journal / home) |"
  echo "|---:|---:|---:|---:|---:|---:|"
  printf '%s' "$rows"
  echo
  machine_facts
  echo "<!-- journal-latency:end -->"
} > "$out"
cat "$out"
write_section journal-latency "$out"
