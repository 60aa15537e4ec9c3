#!/bin/bash
# Fidelity under random workloads: the host's kernel's ext4 on the
# proxy's NBD export (nbdfuse + loop), `blockwatch watch` on its tap,
# and for each seed a workload of tests/tools/fs-random-ops.py (random
# creates, writes, truncates, fallocate modes, renames and exchanges,
# links, orphans, symlinks, owners, modes, times, xattrs, odd names,
# interleaved syncs and sleeps) in a directory of its own, mounted for
# it alone; after it, the events are held to the image by the fidelity
# oracle (fidelity-lib.sh: the tree they rebuild, every event against
# the tree before it, every name against the snapshots), then at the
# end the events `blockwatch replay` makes from watch's record trace.
# The same oracle as fidelity-e2e-loop without the MQTT leg, which
# those tests cover: what is found here is the introspector's.
#
# BW_FID_SEEDS="S..." (default: fixed seeds, `make check`), BW_FID_OPS
# operations per seed.  BW_SOAK=SECONDS (make soak) runs random seeds,
# a few per file system, until the time is up; the first failed runs'
# scratch directories go to BW_SOAK_KEEP (BUILD/soak-failed): tap.trace
# and base.img replay them offline (docs/fidelity.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fidelity-lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 python3 jq
OPS=${BW_FID_OPS:-300}

if [ "${BW_SOAK:-0}" -gt 0 ]; then
  end=$(($(date +%s) + BW_SOAK))
  SOAK_KEEP=${BW_SOAK_KEEP:-$BW_BUILD/soak-failed}
  runs=0 seeds=0 failed=
  while [ "$(date +%s)" -lt "$end" ]; do
    set -- $(for _ in 1 2 3 4 5; do echo $((RANDOM * 32768 + RANDOM)); done)
    runs=$((runs + 1)) seeds=$((seeds + $#))
    # The first few failures keep their scratch directories (some
    # 400 MB each, the images and the trace); the soak goes on, to find
    # what else fails.
    if BW_SOAK=0 BW_FID_SEEDS="$*" BW_KEEP_FAILED=$([ ${#failed} -lt 200 ] && echo 1 || echo 0) \
         "$0" > "$T/run.log" 2>&1; then
      say "run $runs: seeds $*: 100%"
    else
      failed="$failed $*"
      kept=$(sed -n 's/^kept scratch directory //p' "$T/run.log")
      # Out of /tmp, where nothing cleans it away.
      if [ -n "$kept" ]; then
        mkdir -p "$SOAK_KEEP"
        mv "$kept" "$SOAK_KEEP/" && kept=$SOAK_KEEP/$(basename "$kept")
        cp "$T/run.log" "$kept/run.log"
      fi
      say "run $runs: seeds $* FAILED: $(grep -E '^FAIL:' "$T/run.log" | tr '\n' ' ')${kept:+ kept in $kept}"
      grep -E '^(MISMATCH|INCONSISTENT|PHANTOM)' "$T/run.log" | sort -u | head -5 || true
    fi
  done
  say "soak: $seeds seeds of $OPS operations in $runs file systems"
  [ -z "$failed" ] || fail "failed runs had the seeds$failed (BW_FID_SEEDS=\"...\" runs them again)"
  exit 0
fi

fid_image 1G
ln -s events.jsonl "$T/sub.jsonl"     # what fid_checkpoint waits for
"$BW" watch --json --data=bytes:1048576 --once --storage "$T/disk.img" \
  --record "$T/tap.trace" --host lab --vm vm1 --disk disk "unix:$T/disk.tap" \
  > "$T/events.jsonl" 2> "$T/watch.err" &
watch_pid=$!
register_pid $watch_pid
wait_for 30 -S "$T/disk.tap" || { cat "$T/watch.err"; fail "watch did not start"; }
# Nothing may be lost (the guest waits): the oracle compares content.
start_proxy disk "$T/disk.img" tap="unix:$T/disk.tap" tap-overflow=block:60000 tap-buffer=256M

for seed in ${BW_FID_SEEDS:-1 2 3}; do
  name=random-$seed
  attach_loop disk
  mount "$LOOP" "$T/mnt"; register_mount "$T/mnt"
  "$BW_SRC/tests/tools/fs-random-ops.py" run --seed "$seed" --ops "$OPS" \
    --root "$T/mnt" --gone "$FID/$name.gone" "$T/mnt/$name" > "$FID/$name.ops" ||
    { tail "$FID/$name.ops"; fail "seed $seed: the workload failed"; }
  umount "$T/mnt"
  detach_loop disk
  say "seed $seed: $(wc -l < "$FID/$name.ops") operations," \
      "$(grep -c ' failed: ' "$FID/$name.ops" || true) refused by the kernel"
  fid_checkpoint "$name" 120
done

stop_proxy disk
wait_for 60 ! -d "/proc/$watch_pid" || fail "watch did not end with the stream"
rc=0; wait "$watch_pid" || rc=$?
check_san_log "$T/watch.err"
[ $rc = 0 ] || { tail -20 "$T/watch.err"; fail "watch exited with $rc"; }
fid_verdict
