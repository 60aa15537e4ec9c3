#!/bin/bash
# e2fsprogs' corrupted test images (tests/data/e2fsprogs-images/, see its
# README.md) as hostile input to the introspector.  Each image is
#  1. crawled with `blockwatch crawl`: it passes when the crawl succeeds
#     (exit 0), or refuses the image (exit 1) with one clear line on
#     stderr; a crash, a sanitizer report, a hang or an unclear message
#     (none, or a bare error number) fails;
#  2. when it could be crawled, replayed with `blockwatch replay` against
#     a trace from tests/tools/hostile-trace.c that rewrites its
#     metadata with damage and flushes, so that reconcile meets hostile
#     blocks too: exit 0 and no sanitizer report.
# Most of these images are repairable damage, and blockwatch follows
# them: fewer than MIN_CRAWLED crawls means it became stricter than it
# should (see the refusals in the log).
. "$(dirname "$0")/lib.sh"
require zcat bzcat timeout
HT=$BW_BUILD/tests/hostile-trace
DATA=$BW_SRC/tests/data/e2fsprogs-images
MIN_CRAWLED=200
[ -x "$HT" ] || fail "$HT is not built (make test-progs)"
mkdir "$T/res"

# one IMAGE: prints nothing, leaves "STATUS detail" in $T/res/NAME.
one() {
  local f=$1 name img out rc msg
  # The whole file name: a few tests ship an image both raw and gzipped.
  name=$(basename "$f")
  img=$T/$name.raw out=$T/$name
  case $f in
    *.gz) zcat "$f";;
    *.bz2) bzcat "$f";;
    *) cat "$f";;
  esac | dd of="$img" bs=64k conv=sparse status=none
  timeout 60 "$BW" crawl "$img" > "$out.crawl" 2> "$out.err"
  rc=$?
  # Progress lines aside, what did it say?
  msg=$(grep -Ev '^blockwatch crawl: partition [0-9]+: (crawling|[0-9]+ inodes scanned)' "$out.err")
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out.err"; then
    echo "FAIL crawl: sanitizer report: $(grep -m1 -E 'ERROR|runtime error' "$out.err")"
  elif [ $rc = 124 ]; then
    echo "FAIL crawl: no answer in 60 s"
  elif [ $rc = 0 ]; then
    if "$HT" "$img" "$out.bw" 2> "$out.ht.err"; then
      timeout 60 "$BW" replay --json --data=bytes:64 "$img" "$out.bw" \
        > /dev/null 2> "$out.replay.err"
      rc=$?
      if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out.replay.err"; then
        echo "FAIL replay: sanitizer report: $(grep -m1 -E 'ERROR|runtime error' "$out.replay.err")"
      elif [ $rc != 0 ]; then
        echo "FAIL replay: exit $rc: $(tail -1 "$out.replay.err")"
      else
        echo "CRAWLED replayed: $(tail -1 "$out.replay.err")"
      fi
    else
      echo "FAIL hostile-trace: $(head -3 "$out.ht.err" | tr '\n' ' ')"
    fi
  elif [ $rc != 1 ]; then
    echo "FAIL crawl: exit $rc: $(tail -3 "$out.err" | tr '\n' ' ')"
  elif [ "$(printf '%s\n' "$msg" | grep -c .)" != 1 ]; then
    echo "FAIL crawl: refused without one line of reason: '$msg'"
  elif ! grep -q "^blockwatch crawl: $img: ." <<< "$msg" ||
       grep -qE 'Unknown code|[:(] *-?[0-9]+\)?$' <<< "$msg"; then
    echo "FAIL crawl: refused with an unclear message: '$msg'"
  else
    echo "REFUSED ${msg#"blockwatch crawl: $img: "}"
  fi > "$T/res/$name"
  rm -f "$img" "$out.bw"
}
export -f one
export BW HT T ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

ls "$DATA"/*.img* | xargs -P2 -n1 bash -c 'one "$1"' one

n=0 crawled=0 refused=0 failed=0
for r in "$T"/res/*; do
  name=$(basename "$r")
  read -r status detail < "$r"
  n=$((n + 1))
  case $status in
    CRAWLED) crawled=$((crawled + 1));;
    REFUSED) refused=$((refused + 1)); say "$name: refused: $detail";;
    *)       failed=$((failed + 1)); echo "$name: $status $detail" >&2;;
  esac
done
reasons=$(cat "$T"/res/* | sed -n 's/^REFUSED //p' | sed 's/^partition [0-9]*: //' |
          sort | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; printf "%s%d x%s", sep, n, $0; sep = "; " }')
events=$(sed -n 's/^CRAWLED replayed: blockwatch replay: \([0-9]*\) events$/\1/p' "$T"/res/* |
         awk '{ n += $1 } END { print n + 0 }')
say "$n images: $crawled crawled (and replayed with a hostile trace: $events events)," \
    "$refused refused ($reasons), $failed failed"
[ "$n" -gt 200 ] || fail "only $n images found in $DATA"
[ $failed = 0 ] || fail "$failed images broke the introspector (above)"
[ $crawled -ge $MIN_CRAWLED ] || fail "only $crawled images crawled, expected at least $MIN_CRAWLED"

# A name that holds '/' (the kernel never writes one) is one name, not
# a path: it must not take the path of another file.
say "a name with a '/' in it"
img=$T/slash.img
truncate -s 8M "$img"
mkfs.ext4 -q -F -O ^metadata_csum "$img"
for c in "write /etc/hostname slashXname" "mkdir slash" "write /etc/hostname slash/name"; do
  debugfs -w -R "$c" "$img" > /dev/null 2>&1 || fail "debugfs $c"
done
python3 - "$img" <<'PY' || fail "no single slashXname in the image"
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.find(b'slashXname')
assert i >= 0 and d.find(b'slashXname', i + 1) == -1
d[i + 5] = ord('/')
open(sys.argv[1], 'wb').write(d)
PY
"$BW" crawl --list "$img" 2>&1 | awk '$1 == "list:" { print $NF }' | sort > "$T/slash.list"
printf '%s\n' /lost+found /slash /slash%00name /slash/name | sort | diff - "$T/slash.list" ||
  fail "the name with a '/' is not /slash%00name"
