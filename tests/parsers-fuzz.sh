#!/bin/bash
# Every parser of untrusted input (docs/introspector.md, Untrusted
# input, lists them) survives its fuzz target under ASan/UBSan: the
# kept corpus replays clean, then a short fresh run (BW_FUZZ_SECONDS,
# default 20 s per target) finds nothing new.  Two targets at a time,
# one per core.  Long runs: make fuzz.
. "$(dirname "$0")/lib.sh"
require clang xargs
secs=${BW_FUZZ_SECONDS:-20}
make -C "$BW_SRC" -s -j2 fuzz-targets > "$T/build.log" 2>&1 || { cat "$T/build.log"; fail "fuzz targets do not build"; }

# one TARGET: leaves "PASS detail" or "FAIL why" in $T/NAME.result.
one() {
  local f=$1 name corpus
  name=$(basename "$f"); name=${name#fuzz-}
  corpus=$BW_SRC/tests/fuzz/corpus/$name
  if ! [ -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
    echo "FAIL no seed corpus"
  # (Whole: libFuzzer cuts inputs to 1 MiB unless told, and an ext4
  # regression seed is longer.  The same time and memory bounds as the
  # fresh run: a slowdown that breaks no check is a finding too, e.g. a
  # hostile loop of names that once took over 10 s per input.)
  elif ! "$f" -runs=0 -max_len=$((8 << 20)) -timeout=10 -rss_limit_mb=2048 \
         "$corpus" > "$T/$name.replay.log" 2>&1; then
    echo "FAIL corpus replay crashed or timed out (log: $name.replay.log)"
  else
    mkdir -p "$T/new-$name"
    if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$T/$name-" "$T/new-$name" "$corpus" > "$T/$name.log" 2>&1; then
      echo "PASS $(grep -E '^Done [0-9]+ runs' "$T/$name.log" | head -1)"
    else
      echo "FAIL fuzzing found a crash (log: $name.log)"
    fi
  fi > "$T/$name.result"
}
export -f one
export T secs BW_SRC

ls "$BW_SRC"/build/fuzz/fuzz-* | xargs -P2 -n1 bash -c 'one "$1"' one

failed=0
for r in "$T"/*.result; do
  name=$(basename "$r" .result)
  read -r status detail < "$r"
  if [ "$status" = PASS ]; then
    say "$name: $detail"
  else
    failed=$((failed + 1))
    echo "$name: $detail" >&2
    log=$T/$name.log
    [ -s "$log" ] || log=$T/$name.replay.log
    tail -40 "$log" >&2
  fi
done
[ "$failed" = 0 ] || fail "$failed fuzz targets failed (above)"
