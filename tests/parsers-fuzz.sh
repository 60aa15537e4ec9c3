#!/bin/bash
# Every parser of wire or on-disk data survives its fuzz target under
# ASan/UBSan: the kept corpus replays clean, then a short fresh run
# (BW_FUZZ_SECONDS, default 20 s per target) finds nothing new.
# Long runs: make fuzz.
. "$(dirname "$0")/lib.sh"
require clang
secs=${BW_FUZZ_SECONDS:-20}
make -C "$BW_SRC" -s fuzz-targets > "$T/build.log" 2>&1 || { cat "$T/build.log"; fail "fuzz targets do not build"; }
for f in "$BW_SRC"/build/fuzz/fuzz-*; do
  name=$(basename "$f"); name=${name#fuzz-}
  corpus=$BW_SRC/tests/fuzz/corpus/$name
  [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || fail "no seed corpus for $name"
  mkdir -p "$T/new-$name"
  "$f" -runs=0 "$corpus" > "$T/$name.replay.log" 2>&1 || { tail -30 "$T/$name.replay.log"; fail "$name: corpus replay crashed"; }
  "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$T/$name-" "$T/new-$name" "$corpus" > "$T/$name.log" 2>&1 \
    || { tail -40 "$T/$name.log"; fail "$name: fuzzing found a crash"; }
  say "$name: $(grep -E '^Done [0-9]+ runs' "$T/$name.log" | head -1)"
done
