#!/bin/bash
# Events come when the kernel commits a jbd2 transaction, not when the
# metadata reaches its home location much later.  The real ext4 driver
# writes through the plugin (commit=1) and the trace is replayed twice:
# following the journal, and with --no-journal (home locations only).
#  * Following the journal, every name and metadata event carries the
#    sequence number of a write into the journal area (its commit
#    block), and comes no later than the same event without the journal.
#  * Both event streams rebuild the final tree (event-tree oracle), so
#    checkpoints of the same bytes are not reported a second time; so
#    do replays that read the storage ahead of the stream (64 records,
#    and all of it), as the online introspector may; each says the
#    file system was mounted and unmounted.
# Flavours: ordered data with checksums v3; data=journal (file data
# comes out of the journal at commit); fast_commit; a 1 MiB log that
# the workload goes round many times.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 debugfs dumpe2fs

churn() {   # more metadata through a small log: rounds of creates and deletes
  local m=$1 r i
  for r in $(seq 4); do
    mkdir "$m/churn$r"
    for i in $(seq 150); do echo "$r.$i" > "$m/churn$r/f$i"; done
    sync
    rm -rf "$m/churn$((r - 1))"
    sync
  done
}

run_variant() {   # run_variant NAME "MOUNT-OPTIONS" MKFS-ARGS...
  local name=$1 opts=$2 v=$T/$1 p=p${1//-/_}
  shift 2
  mkdir -p "$v/mnt" "$v/base" "$v/final"
  truncate -s 256M "$v/disk.img"
  mkfs.ext4 -q -F "$@" "$v/disk.img" || fail "$name: mkfs $*"
  cp --sparse=always "$v/disk.img" "$v/base.img"
  start_proxy "$p" "$v/disk.img" tap=record:"$v/trace.bw"
  attach_loop "$p"
  mount -o "commit=1${opts:+,$opts}" "$LOOP" "$v/mnt"
  register_mount "$v/mnt"
  workload "$v/mnt"
  [ "$name" != wrap ] || churn "$v/mnt"
  umount "$v/mnt"
  detach_loop "$p"
  stop_proxy "$p"

  "$BW" replay --json --data=bytes:1048576 --stats "$v/base.img" "$v/trace.bw" \
    > "$v/journal.jsonl" 2> "$v/journal.err" || { cat "$v/journal.err"; fail "$name: replay failed"; }
  "$BW" replay --json --data=bytes:1048576 --no-journal "$v/base.img" "$v/trace.bw" \
    > "$v/home.jsonl" 2> "$v/home.err" || { cat "$v/home.err"; fail "$name: replay --no-journal failed"; }
  # Online, the storage read is ahead of the records that reach the
  # introspector (by up to the tap's buffer): the same tree must follow,
  # a little ahead and with all of the trace on the disk at once.
  local n
  for n in 64 1000000; do
    "$BW" replay --json --data=bytes:1048576 --ahead $n "$v/base.img" "$v/trace.bw" \
      > "$v/ahead$n.jsonl" 2> "$v/ahead$n.err" || { cat "$v/ahead$n.err"; fail "$name: replay --ahead $n failed"; }
    check_san_log "$v/ahead$n.err"
  done
  check_san_log "$v/journal.err"
  check_san_log "$v/home.err"
  grep -q 'journal_txns=[1-9]' "$v/journal.err" || fail "$name: no transaction taken from the journal: $(grep stats: "$v/journal.err")"

  mount -o ro,loop,noload "$v/base.img" "$v/base"; register_mount "$v/base"
  mount -o ro,loop,noload "$v/disk.img" "$v/final"; register_mount "$v/final"
  local mode
  for mode in journal home ahead64 ahead1000000; do
    "$BW_BUILD/tests/event-tree" --base "$v/base" --check "$v/final" "$v/$mode.jsonl" \
      > "$v/$mode.oracle" 2>&1 || { head -30 "$v/$mode.oracle"; fail "$name ($mode): the events do not rebuild the final tree"; }
    # One mount, one unmount, even when the superblock is read after both.
    [ "$(grep -c '"type":"mount"' "$v/$mode.jsonl")" = 1 ] &&
      [ "$(grep -c '"type":"unmount"' "$v/$mode.jsonl")" = 1 ] ||
      fail "$name ($mode): not one mount and one unmount event"
  done
  umount "$v/base" "$v/final"

  # Which records wrote into the journal area.
  "$BW" trace dump "$v/trace.bw" > "$v/trace.txt"
  journal_seqs "$v/trace.txt" "$v/base.img" > "$v/journal-seqs"
  # Name and metadata events: at a journal write, and no later than
  # without the journal.
  jq_lite() {   # "type path seq" of name and metadata events
    sed -n 's/.*"seq":\([0-9]*\),.*"type":"\(create\|delete\|rename\|link\|unlink\|metadata\)","path":"\([^"]*\)".*/\2 \3 \1/p' "$1"
  }
  jq_lite "$v/journal.jsonl" > "$v/journal.events"
  jq_lite "$v/home.jsonl" > "$v/home.events"
  [ -s "$v/journal.events" ] || fail "$name: no name or metadata events"
  awk 'NR == FNR { j[$1] = 1; next } !($3 in j) { bad++; if (bad < 5) print "not at a journal write:", $0 }
       END { exit bad > 0 }' "$v/journal-seqs" "$v/journal.events" ||
    fail "$name: events that do not come from a journal commit (above)"
  awk 'NR == FNR { k = $1 " " $2; if (!(k in h)) h[k] = $3; next }
       { k = $1 " " $2; if (!(k in first)) first[k] = $3 }
       END {
         for (k in first) if (k in h) { n++; if (first[k] > h[k]) { late++; print "later than home:", k } else if (first[k] < h[k]) early++ }
         printf "%d events in both, %d earlier with the journal, %d later\n", n, early, late
         exit late > 0 || early == 0 }' "$v/home.events" "$v/journal.events" > "$v/compare.out" ||
    { cat "$v/compare.out"; fail "$name: the journal did not make events earlier"; }
  say "$name: $(grep -o 'journal_txns=[0-9]*' "$v/journal.err"); $(tail -1 "$v/compare.out"); $(tail -1 "$v/journal.oracle")"
}

run_variant ordered "" -b 4096
# File data is journaled too: write events come from the journal.
run_variant data-journal data=journal -b 4096
awk 'NR == FNR { j[$1] = 1; next }
     /"type":"write"/ { n++; if (match($0, /"seq":[0-9]+/) && (substr($0, RSTART + 6, RLENGTH - 6) in j)) at++ }
     END { exit !(n > 0 && at * 2 > n) }' "$T/data-journal/journal-seqs" "$T/data-journal/journal.jsonl" ||
  fail "data-journal: write events do not come from the journal"
run_variant fast-commit "" -b 4096 -O fast_commit
grep -q 'fast commits are not read' "$T/fast-commit/journal.err" || fail "fast-commit: no word that fast commits are not read"
run_variant wrap "" -b 1024 -J size=1
# The 1 MiB log (1024 blocks) was gone round: the journal area was
# written many times over.
read -r jstart jend < <(journal_area "$T/wrap/base.img")
jw=$(awk -v a="$jstart" -v b="$jend" '/ write offset=/ {
       split($3, o, "="); split($4, l, "=")
       if (o[2] + 0 >= a && o[2] + 0 < b) n += l[2] / 1024 } END { print int(n) }' "$T/wrap/trace.txt")
[ "$jw" -gt 1024 ] || fail "wrap: only $jw journal blocks written: the log did not wrap"
say "ok"
