#!/bin/bash
# Every parser of untrusted input (docs/introspector.md, Untrusted
# input, lists them) survives its fuzz target under ASan/UBSan: the
# kept corpus replays clean, then a short fresh run (BW_FUZZ_SECONDS,
# default 20 s per target) finds nothing new.  Two targets at a time,
# one per core.  The ext4 targets' replays must reach every operation
# of their input and the engine's answers to it (ext4-feed.h): among
# them, the fix-up of checksums (ext4-fixup.h) and events about what it
# fixed, which the engine took past its checksum checks (inodes, names
# in directory blocks, copies in the journal, data written through the
# extents of an extent block; with the checksums wrong, there are none).
# The journals with checksums among their seeds must have transactions
# taken.  And the fix-up must agree with the tools that wrote the seeds:
# over every block of their images and journals it changes nothing
# (fixup-agree.c), having set each kind of checksum somewhere.  Long
# runs: make fuzz.
. "$(dirname "$0")/lib.sh"
require clang xargs dumpe2fs
secs=${BW_FUZZ_SECONDS:-20}
make -C "$BW_SRC" -s -j2 fuzz-targets > "$T/build.log" 2>&1 || { cat "$T/build.log"; fail "fuzz targets do not build"; }

# The fix-up of checksums over what real tools wrote: the images of
# the ext4 seeds (mke2fs, e2fsck, debugfs); the journal seeds' tails
# too, whose transactions jbd2-blocks.py wrote and debugfs's blocks
# their checkpoints; the journals seeds-jbd2.sh took from the kernel
# (by name: the corpus may hold the fuzzer's finds too).
c=$BW_SRC/tests/fuzz/corpus
"$BW_SRC/build/fuzz/fixup-agree" --ext4 "$c"/ext4/* \
  --ext4-tail "$c"/ext4/ext4-journal-{csum-v3,csum-v3-revoke,csum-v3-open,csum-v2,crc32} \
  --jbd2 "$c"/jbd2/{csum-v3,no-csum,compat-crc32-tags32,data-journal} \
  > "$T/agree" 2> "$T/agree.err" ||
  { cat "$T/agree.err"; fail "the fix-up changed seeds that real tools wrote right"; }
never=$(awk '$2 == 0 { printf " %s", $1 }' "$T/agree")
[ -z "$never" ] || fail "the fix-up's agreement check never set:$never"
say "the fix-up agrees with the seeds: $(paste -sd' ' "$T/agree")"

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
  elif ! BW_FEED_STATS=$T/$name.feed "$f" -runs=0 -max_len=$((8 << 20)) \
         -timeout=10 -rss_limit_mb=2048 "$corpus" > "$T/$name.replay.log" 2>&1; then
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

# The ext4 targets' corpus replays: what of the feed never happened
# (ext4-feed.h: an operation never handed to the engine, or an answer
# of the engine never checked).
for name in ext4 ext4-live; do
  [ -s "$T/$name.feed" ] || fail "$name: the replay wrote no BW_FEED_STATS"
  never=$(awk '$2 == 0 { printf " %s", $1 }' "$T/$name.feed")
  [ -z "$never" ] || fail "$name: the corpus replay never reached:$never"
  say "$name replay reached: $(paste -sd' ' "$T/$name.feed")"
done

# Each journal with checksums among the ext4 seeds (the image before
# its tail: ext4-feed.h) has transactions taken, so their checksums
# were checked and held; and every flavour is there.
flavours=
for seed in "$BW_SRC"/tests/fuzz/corpus/ext4/*; do
  size=$(stat -c %s "$seed")
  tail=$(od -An -tu2 -j $((size - 2)) -N 2 "$seed" | tr -d ' ')
  head -c $((size - 2 - tail)) "$seed" > "$T/image"
  features=$(dumpe2fs -h "$T/image" 2>/dev/null | sed -n 's/^Journal features: *//p')
  flavour=$(grep -oE 'journal_checksum(_v[23])?' <<< "$features" || true)
  [ -n "$flavour" ] || continue
  BW_FEED_STATS=$T/one.feed "$BW_SRC/build/fuzz/fuzz-ext4" -runs=0 "$seed" > "$T/one.log" 2>&1 ||
    { cat "$T/one.log"; fail "$(basename "$seed"): replay failed"; }
  txns=$(awk '$1 == "journal_txns" { print $2 }' "$T/one.feed")
  [ "$txns" -gt 0 ] || fail "$(basename "$seed"): a journal with $flavour, no transaction taken"
  say "$(basename "$seed"): $flavour, journal_txns $txns"
  flavours+=" $flavour"
done
for want in journal_checksum journal_checksum_v2 journal_checksum_v3; do
  grep -qw -- "$want" <<< "$flavours" || fail "no ext4 seed whose journal has $want"
done

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
