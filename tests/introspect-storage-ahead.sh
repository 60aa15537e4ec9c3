#!/bin/bash
# Online, the storage runs ahead of the records that reach the
# introspector (the plugin writes the storage first and announces the
# record after).  Whatever it reads of a block a handled record wrote
# must be that record's bytes (the exact view, disk/reader-exact.h),
# not the storage's newer ones: a directory block with names from the
# future makes links and unlinks out of order, a data block already
# given to another file makes a write of the wrong bytes, a commit's
# image not laid over a block the storage holds newer shows the future,
# and laid over it later, the past again.  The fidelity workloads
# (editors' saves, inode and block reuse, hard links, sparse and
# preallocated files with punched and zeroed ranges, fio and
# stress-ng's link, rename, dentry and fallocate stressors) in the
# kernel's ext4, replayed with the storage N records ahead: the events
# are those of the exact replay, which rebuild the final tree.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 fio stress-ng

. "$(dirname "$0")/fidelity-workloads.sh"

mkdir -p "$T/mnt" "$T/base" "$T/final"
truncate -s 128M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img" || fail "mkfs"
cp --sparse=always "$T/disk.img" "$T/base.img"
start_proxy p "$T/disk.img" tap=record:"$T/trace.bw"
attach_loop p
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"
export WL_GONE=$T/gone WL_HOST=1
for w in edit reuse links sparse churn; do
  "wl_$w" "$T/mnt"
done
umount "$T/mnt"
detach_loop p
stop_proxy p

mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
# The exact replay (the engine writes each record before it reads) is
# held to the tree strictly; with the storage N records ahead, the
# events must be the same, line for line, the data's hashes included
# (seq and txn aside: a barrier may be taken with a later record).
replay() {   # replay N OUT [replay options...]
  local n=$1 out=$2; shift 2
  "$BW" replay --ahead "$n" "$@" "$T/base.img" "$T/trace.bw" > "$out" \
    2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay --ahead $n failed"; }
  check_san_log "$T/replay.err"
}
replay 0 "$T/events.json" --json --data=bytes:1048576
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" \
  "$T/events.json" > "$T/oracle" 2>&1 || { head -20 "$T/oracle"; fail "the exact replay does not rebuild the final tree"; }
say "exact replay: $(tail -1 "$T/oracle")"
strip() { sed 's/ *\[seq [0-9]* txn [0-9]*\]$//' "$1"; }
for n in 0 8 32 128; do
  replay "$n" "$T/events.$n" --data=hash --stats
  grep -q '^stats: .*exact_blocks=' "$T/replay.err" || fail "no exact_* in replay --stats"
  [ "$n" = 0 ] && continue
  if ! diff <(strip "$T/events.0") <(strip "$T/events.$n") > "$T/diff.$n"; then
    head -20 "$T/diff.$n"
    fail "--ahead $n: $(grep -c '^[<>]' "$T/diff.$n") lines differ from the exact replay's events"
  fi
  say "--ahead $n: the exact replay's $(wc -l < "$T/events.0") events;" \
    "$(grep -o 'exact_blocks=[0-9]* exact_bytes=[0-9]* exact_evicted=[0-9]*' "$T/replay.err")"
done
say "ok"
