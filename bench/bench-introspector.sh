#!/bin/bash
# Introspector throughput and crawl cost.
#  1. Replay: a trace of a kernel ext4 workload (DATA_MB of file data in
#     large files, then FILES small files) recorded through the plugin,
#     replayed with `blockwatch replay --data=none --stats`: bytes of
#     written data classified per CPU second, metadata blocks diffed per
#     CPU second.  Baseline in the same run: `blockwatch trace apply` of
#     the same trace, which only copies the writes.
#  2. Crawl: an image with CRAWL_FILES files; `blockwatch crawl` against
#     `e2fsck -fn` on the same image, and the model's bytes per file.
#   DATA_MB=1024 FILES=20000 CRAWL_FILES=1000000 bench/bench-introspector.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DATA_MB=${DATA_MB:-1024}
FILES=${FILES:-20000}
CRAWL_FILES=${CRAWL_FILES:-1000000}
BENCH_DIR=${BENCH_DIR:-/dev/shm}

kernel_workdir bench-introspector ibench
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }

# ---- 1. replay throughput --------------------------------------------
truncate -s $(( DATA_MB * 2 + 2048 ))M "$W/disk.img"
mkfs.ext4 -q -F -b 4096 "$W/disk.img"
cp --sparse=always "$W/disk.img" "$W/base.img"
nbdkit -f -U "$W/p.sock" -P "$W/p.pid" "$PLUGIN" "$W/disk.img" \
  tap=record:"$W/trace.bw" tap-overflow=block:60000 &
for _ in $(seq 50); do [ -S "$W/p.sock" ] && break; sleep 0.1; done
nbdfuse "$W/fuse/nbd" --unix "$W/p.sock" &
for _ in $(seq 50); do [ -f "$W/fuse/nbd" ] && break; sleep 0.1; done
LOOP=$(losetup -f --show "$W/fuse/nbd")
mount "$LOOP" "$W/mnt"
for i in 1 2 3 4; do
  dd if=/dev/urandom of="$W/mnt/big$i" bs=1M count=$(( DATA_MB / 4 )) status=none
done
sync
mkdir "$W/mnt/small"
seq "$FILES" | sed "s|^|$W/mnt/small/f|" | xargs touch
for i in $(seq 1 50 "$FILES"); do echo "content $i" > "$W/mnt/small/f$i"; done
sync
umount "$W/mnt"; losetup -d "$LOOP"; LOOP=; umount "$W/fuse"
sleep 0.5; kill "$(cat "$W/p.pid")"; while kill -0 "$(cat "$W/p.pid")" 2>/dev/null; do sleep 0.1; done
rm -f "$W/p.pid"
trace_mb=$(( $(stat -c %s "$W/trace.bw") / 1048576 ))

cp --sparse=always "$W/base.img" "$W/apply.img"
t0=$(date +%s.%N)
"$BW" trace apply "$W/trace.bw" "$W/apply.img" > /dev/null
apply_s=$(secs "$t0")
rm -f "$W/apply.img"
t0=$(date +%s.%N)
"$BW" replay --data=none --stats --scratch "$W" "$W/base.img" "$W/trace.bw" \
  > /dev/null 2> "$W/replay.err"
replay_s=$(secs "$t0")
cpu=$(field cpu_s "$W/replay.err")
wb=$(field write_bytes "$W/replay.err")
md=$(field metadata_diffed "$W/replay.err")
data_gbs=$(awk -v b="$wb" -v c="$cpu" 'BEGIN { printf "%.2f", b / c / 1e9 }')
md_s=$(awk -v m="$md" -v c="$cpu" 'BEGIN { printf "%.0f", m / c }')

# ---- 2. crawl against e2fsck -----------------------------------------
truncate -s 8G "$W/crawl.img"
mkfs.ext4 -q -F -b 4096 -N $(( CRAWL_FILES + 100000 )) "$W/crawl.img"
mount -o loop "$W/crawl.img" "$W/mnt"
per=1000
for d in $(seq 0 $(( (CRAWL_FILES - 1) / per ))); do
  mkdir "$W/mnt/d$d"
  ( cd "$W/mnt/d$d" && seq "$per" | sed 's/^/f/' | xargs touch )
done
umount "$W/mnt"
t0=$(date +%s.%N)
e2fsck -fn "$W/crawl.img" > /dev/null 2>&1 || true
fsck_s=$(secs "$t0")
t0=$(date +%s.%N)
"$BW" crawl "$W/crawl.img" > "$W/crawl.out" 2> "$W/crawl.err"
crawl_s=$(secs "$t0")
# The totals line: "total: filesystems=1 inodes=N ... bytes_per_file=B ..."
grep '^total:' "$W/crawl.out" > "$W/crawl.total"
per_file=$(field bytes_per_file "$W/crawl.total")
ratio=$(awk -v a="$crawl_s" -v b="$fsck_s" 'BEGIN { printf "%.2f", a / b }')

out=$W/section.md
{
  echo "<!-- introspector:begin -->"
  echo "## Introspector: replay throughput and crawl"
  echo
  echo "Command: \`DATA_MB=$DATA_MB FILES=$FILES CRAWL_FILES=$CRAWL_FILES bench/bench-introspector.sh\` (part of \`make bench\`), in $BENCH_DIR."
  echo
  echo "**Replay.** A kernel ext4 workload through the plugin (\`tap=record:\`): $DATA_MB MiB of data in four files,"
  echo "then $FILES small files; the trace is ${trace_mb} MiB. \`blockwatch replay --data=none\` applies every record"
  echo "to its view of the disk (a scratch copy of the base; writes of 64 KiB or more stay in the trace) and"
  echo "introspects it."
  echo
  echo "| measure | value |"
  echo "|---|---:|"
  echo "| written data classified per CPU second (goal ≥ 2 GB/s) | $data_gbs GB/s |"
  echo "| metadata blocks diffed per CPU second | $md_s |"
  echo "| replay wall time | ${replay_s} s |"
  echo "| \`blockwatch trace apply\` of the same trace (copy only, baseline) | ${apply_s} s |"
  echo "| replay / apply | $(awk -v a="$replay_s" -v b="$apply_s" 'BEGIN { printf "%.2f", a / b }') |"
  echo
  echo "**Crawl.** An ext4 image with $CRAWL_FILES empty files in directories of $per."
  echo
  echo "| measure | value |"
  echo "|---|---:|"
  echo "| \`e2fsck -fn\` | ${fsck_s} s |"
  echo "| \`blockwatch crawl\` | ${crawl_s} s |"
  echo "| crawl / e2fsck (goal ≤ 0.5) | $ratio |"
  echo "| model bytes per file | $per_file |"
  echo
  echo "Replay stats line: \`$(grep '^stats:' "$W/replay.err")\`"
  echo
  machine_facts
  echo "<!-- introspector:end -->"
} > "$out"
cat "$out"
write_section introspector "$out"
