#!/bin/bash
# A guest gone bad, live: the proxy in front of an ext4 image, the
# online introspector (blockwatch watch) on its tap, and
# tests/tools/hostile-writer writing randomly damaged copies of the file
# system's metadata through the proxy's NBD export (superblock,
# descriptors, bitmaps, inode tables, directory and htree blocks,
# extent and indirect blocks, the journal's superblock and whole fake
# transactions with valid magic and checksums, a partition table in the
# first sector), each write followed by a FLUSH.  Asserts:
#  - every write reads back as written at once, and the export (and
#    the storage behind it) holds exactly what was written at the end:
#    the data path does not care what the introspector makes of it;
#  - the plugin keeps serving afterwards (nbd-ops, checked reads);
#  - the introspector neither crashes nor trips ASan/UBSan, stays up
#    through all of it, exits 0 when the stream ends, writes events that
#    are JSON, and says what it refuses in words (no bare error codes).
# Three file systems, unmounted: ext4 with 1 KiB blocks (metadata_csum,
# a checksummed journal: most damage fails a checksum), ext4 with 4 KiB blocks without
# metadata_csum (damage is parsed), ext3 (indirect blocks, no journal
# checksums).  Then ext4 mounted by the kernel while the garbage lands,
# between bursts of its own writes, its buffers dropped so that it
# reads some of it back (the kernel may report errors and go read-only:
# that is fine); with the kernel writing metadata too, the check of the
# whole export is on a region past the file system, written alongside.
#
# The damage is pseudo-random from a seed, printed: replay a failure
# with BW_HOSTILE_SEEDS=N (the kernel's timing aside).  BW_HOSTILE_SOAK=SECONDS (make fuzz) runs
# random seeds over every file system until the time is up.
. "$(dirname "$0")/lib.sh"
require nbdkit mkfs.ext4 e2fsck debugfs dumpe2fs jq blockdev
require_fuse                  # the kernel's variant
require_loop
HW=$BW_BUILD/tests/hostile-writer
NBD_OPS=$BW_BUILD/tests/nbd-ops
[ -x "$HW" ] && [ -x "$NBD_OPS" ] || fail "tests/tools are not built (make test-progs)"
ROUNDS=${BW_HOSTILE_ROUNDS:-150}
SOAK=${BW_HOSTILE_SOAK:-0}

# A tree worth damaging: a directory of 600 entries (an htree once
# e2fsck -D has indexed it), a file of many extents (an extent tree
# with a leaf block; indirect blocks on ext3), small files, a symlink.
mkdir -p "$T/tree/many" "$T/tree/etc"
for i in $(seq 600); do echo "entry $i" > "$T/tree/many/file-with-a-longish-name-$i"; done
for i in $(seq 0 2 300); do
  dd if=/dev/urandom of="$T/tree/frag" bs=4k seek="$i" count=1 conv=notrunc status=none
done
for i in $(seq 20); do echo "setting $i" > "$T/tree/etc/conf$i"; done
ln -s etc/conf1 "$T/tree/link"
head -c 200000 /dev/urandom > "$T/tree/blob"

# new_fs IMAGE DISK-SIZE FS-SIZE MKFS-ARGS...: the tree in a new file
# system, its directories indexed.
new_fs() {
  local img=$1 disk=$2 fs=$3; shift 3
  rm -f "$img"
  truncate -s "$disk" "$img"
  mkfs.ext4 -q -F -d "$T/tree" -E lazy_itable_init=0,lazy_journal_init=0 "$@" "$img" "$fs"
  # 0: nothing to fix, 1: directories optimized
  e2fsck -fyD "$img" > "$T/e2fsck.log" 2>&1 || [ $? = 1 ] ||
    { cat "$T/e2fsck.log"; fail "e2fsck -fyD failed on a new file system"; }
}

# start_live NAME IMAGE: blockwatch watch on IMAGE, the proxy before it.
start_live() {
  local name=$1 img=$2
  "$BW" watch --json --data=bytes:64 --once --storage "$img" --host lab \
    --vm vm1 --disk "$name" "unix:$T/$name.tap" \
    > "$T/$name.jsonl" 2> "$T/$name.watch.err" &
  watch_pid=$!
  register_pid $watch_pid
  wait_for 30 -S "$T/$name.tap" || { cat "$T/$name.watch.err"; fail "$name: watch did not start"; }
  start_proxy "$name" "$img" tap="unix:$T/$name.tap"
}

# writer NAME IMAGE TEST-SEED SEED ARGS...: one hostile-writer run.
writer() {
  local name=$1 img=$2 test_seed=$3 seed=$4; shift 4
  "$HW" --uri "$(uri_of "$name")" --image "$img" --seed "$seed" \
    --rounds "$ROUNDS" "$@" > "$T/$name.writer.$seed" 2>&1 ||
    { tail -20 "$T/$name.writer.$seed"; fail "$name: the data path failed under hostile writes (replay: BW_HOSTILE_SEEDS=$test_seed)"; }
  kill -0 "$watch_pid" 2>/dev/null ||
    { tail -20 "$T/$name.watch.err"; fail "$name: the introspector died (replay: BW_HOSTILE_SEEDS=$test_seed)"; }
}

# end_live NAME SEED: the plugin still serves; the introspector ends
# cleanly, said what it had to say clearly, and its events are JSON.
end_live() {
  local name=$1 seed=$2 rc=0 msgs
  "$NBD_OPS" --uri "$(uri_of "$name")" --ops 300 --seed "$seed" --max-len 65536 \
    > "$T/$name.ops" 2>&1 || { tail "$T/$name.ops"; fail "$name: the plugin misbehaves after hostile writes (replay: BW_HOSTILE_SEEDS=$seed)"; }
  stop_proxy "$name"
  wait_for 60 ! -d "/proc/$watch_pid" || fail "$name: watch did not end with the stream"
  wait "$watch_pid" || rc=$?
  check_san_log "$T/$name.watch.err"
  [ $rc = 0 ] || { tail -20 "$T/$name.watch.err"; fail "$name: watch exited with $rc (replay: BW_HOSTILE_SEEDS=$seed)"; }
  # Not -e: jq 1.6's status is the last line's alone.
  jq -c 'select(.v != 1)' "$T/$name.jsonl" > "$T/$name.notjson" 2>&1
  [ ! -s "$T/$name.notjson" ] || fail "$name: events that are not events: $(head -3 "$T/$name.notjson")"
  jq . "$T/$name.jsonl" > /dev/null || fail "$name: its events are not JSON"
  # What it said: one line each, starting with who says it, and no bare
  # error numbers or unknown codes.
  msgs=$(grep -v '^blockwatch watch: ' "$T/$name.watch.err" || true)
  [ -z "$msgs" ] || fail "$name: unclear output: $(head -3 <<< "$msgs")"
  if grep -qE 'Unknown code|[:(] *-?[0-9]+\)?$' "$T/$name.watch.err"; then
    fail "$name: unclear message: $(grep -m1 -E 'Unknown code|[:(] *-?[0-9]+\)?$' "$T/$name.watch.err")"
  fi
  # A file system refused again for the same reason is not said again
  # at each rewrite of its superblock.
  again=$(grep 'not watched' "$T/$name.watch.err" | uniq -d | awk 'NR == 1' || true)
  [ -z "$again" ] || fail "$name: said again and again: $again"
  say "$name (seed $seed): $(cat "$T/$name".writer.* | sed -n 's/^hostile-writer: \([0-9]*\) writes.*/\1/p' | awk '{ n += $1 } END { print n + 0 }') writes read back;" \
      "events: $(jq -r .type "$T/$name.jsonl" | sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }');" \
      "$(grep -vc -e ' ready on ' -e 'partitions$' -e 'names in use' "$T/$name.watch.err" || true) messages, e.g.:" \
      "$(grep -v -e ' ready on ' -e 'partitions$' -e 'names in use' "$T/$name.watch.err" | sort | uniq -c | sort -rn | head -2 | sed 's/^ *[0-9]* blockwatch watch: //' | tr '\n' '|')"
}

# unmounted NAME SEED MKFS-ARGS...
unmounted() {
  local name=$1 seed=$2; shift 2
  new_fs "$T/$name.img" 64M 64M "$@"
  # The journal checksummed (v3) as the kernel makes it on a
  # metadata_csum file system's first mount: the fake transactions
  # then carry checksums that hold.
  if dumpe2fs -h "$T/$name.img" 2>/dev/null | grep_all -q '^Filesystem features:.*metadata_csum'; then
    printf 'jo -c\njc\n' | debugfs -w -f - "$T/$name.img" > "$T/debugfs.log" 2>&1 ||
      { cat "$T/debugfs.log"; fail "debugfs cannot checksum the journal"; }
  fi
  cp --sparse=always "$T/$name.img" "$T/$name.base"
  start_live "$name" "$T/$name.img"
  writer "$name" "$T/$name.base" "$seed" "$seed" --model "$T/$name.model"
  cmp "$T/$name.img" "$T/$name.model" > /dev/null ||
    fail "$name: the storage does not hold what was written (replay: BW_HOSTILE_SEEDS=$seed)"
  end_live "$name" "$seed"
  rm -f "$T/$name.img" "$T/$name.base" "$T/$name.model"
}

# Bursts of the kernel's own writes, each followed by sync.
burst() {
  local m=$1 i=$2
  mkdir -p "$m/burst$i" && for j in $(seq 30); do echo "burst $i file $j" > "$m/burst$i/f$j"; done &&
    ls -R "$m" > /dev/null && cat "$m"/etc/* > /dev/null && rm -f "$m/burst$i/f1"* && sync
}

# mounted NAME SEED: ext4 mounted through the proxy while the garbage
# lands; the file system is 48 MiB of a 64 MiB export, the rest the
# writer's to check.
mounted() {
  local name=$1 seed=$2 m=$T/$1.mnt i state
  new_fs "$T/$name.img" 64M 48M -b 4096
  start_live "$name" "$T/$name.img"
  attach_loop "$name"
  mkdir -p "$m"
  # errors=remount-ro whatever the damaged superblock says; no atime
  # writes, commits only at sync: between bursts the kernel is idle, so
  # what the writer reads back is its own.
  mount -o errors=remount-ro,noatime,commit=600 "$LOOP" "$m"
  register_mount "$m"
  for i in 1 2 3; do
    burst "$m" "$i" > /dev/null 2>&1 || true   # the kernel may refuse: fine
    # Where the metadata is, learnt from the storage before any damage
    # (the kernel idle after its sync).
    [ $i != 1 ] || cp --sparse=always "$T/$name.img" "$T/$name.base"
    writer "$name" "$T/$name.base" "$seed" "$((seed * 10 + i))" --data-from $((48 << 20)) \
      --verify-from $((48 << 20))
    # Forget the cached metadata, the block device's and the page
    # cache of the FUSE file under the loop: the next burst reads the
    # garbage.
    blockdev --flushbufs "$LOOP" || true
    dd if="$T/$name.fuse/nbd" iflag=nocache count=0 status=none || true
  done
  burst "$m" 4 > /dev/null 2>&1 || true
  state=$(awk -v m="$m" '$2 == m { print ($4 ~ /(^|,)ro(,|$)/) ? "read-only after errors" : "still read-write" }' /proc/mounts)
  umount "$m" || umount -l "$m"
  detach_loop "$name"
  end_live "$name" "$seed"
  say "$name: the kernel's mount was $state"
  rm -f "$T/$name.img" "$T/$name.base"
}

run_seed() {
  local s=$1
  case $((s % 4)) in
    1) unmounted "e4k1_$s" "$s" -b 1024;;
    2) unmounted "e4nocsum_$s" "$s" -b 4096 -O ^metadata_csum,^64bit;;
    3) unmounted "e3_$s" "$s" -t ext3 -b 1024;;
    0) mounted "kernel_$s" "$s";;
  esac
}

if [ "$SOAK" -gt 0 ]; then
  end=$((SECONDS + SOAK))
  while [ $SECONDS -lt $end ]; do run_seed $((RANDOM * 32768 + RANDOM)); done
else
  for s in ${BW_HOSTILE_SEEDS:-1 2 3 4 5 6 7 8}; do run_seed "$s"; done
fi
