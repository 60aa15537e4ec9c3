#!/bin/bash
# blockwatch's jbd2 reader (introspector/jbd2/) reads journals the real
# kernel wrote exactly as e2fsprogs does.  For each journal flavour
# (checksum v3 with 64-bit tags, no checksums, 32-bit tags, the v1
# "compat" crc32 of journal_checksum and journal_async_commit, ext3,
# data=journal with escaped blocks, fast_commit, and a small log that
# wraps around) the kernel's ext4 driver runs a workload on a loop
# mount; snapshots of the image taken while it is mounted (committed,
# not checkpointed) are read by tests/tools/jbd2-replay and by debugfs:
#  * the transactions, their blocks and revokes must be the same as
#    `debugfs -R "logdump -a"` lists;
#  * the image with our committed blocks written home must be byte for
#    byte the image debugfs's own replay (`jr`) makes, but for the two
#    superblocks, which a replay marks clean;
#  * hostile blocks (bad checksums of commit, copy, descriptor and revoke
#    blocks, a lost magic) are never applied (see "hostile" below).
. "$(dirname "$0")/lib.sh"
require_loop
require mkfs.ext4 debugfs
TOOL=$BW_BUILD/tests/jbd2-replay

# The magic number at the start of a data block: jbd2 must escape it.
magic_block() { printf '\xc0\x3b\x39\x98'; head -c 4092 /dev/urandom; }

workload() {   # workload MOUNTPOINT ROUND
  local m=$1 r=$2 i
  mkdir -p "$m/d$r" "$m/gone$r"
  for i in $(seq 40); do echo "round $r file $i" > "$m/d$r/f$i"; done
  for i in $(seq 200); do echo "$i" > "$m/gone$r/file-with-a-long-name-$i"; done
  for i in $(seq 0 2 120); do
    dd if=/dev/urandom of="$m/frag$r" bs=1k seek=$i count=1 conv=notrunc status=none
  done
  magic_block > "$m/magic$r"
  sync
  # deletes: freed directory and extent blocks are revoked
  rm -rf "$m/gone$r" "$m/frag$r"
  mv "$m/magic$r" "$m/d$r/magic"
  for i in $(seq 5); do echo "fsync $i" > "$m/d$r/s$i"; sync "$m/d$r/s$i"; done
  sync
}

# logdump's words, without flags: what jbd2-replay --dump prints.
logdump() {
  debugfs -R "logdump -a" "$1" 2>/dev/null | awk '
    /^Journal starts at/ { print; next }
    /logged at journal block/ { sub(/^ */, ""); sub(/ \(flags.*/, ""); print; next }
    /Revoke FS block/ { sub(/^ */, ""); print; next }
    /type 2 \(commit block\)/ { s = $4; sub(/,/, "", s); print "commit " s " at block " $NF }'
}

# same_outside_journal A B IMAGE: A and B are the same but for the ext4
# superblock (a replay marks it clean) and IMAGE's journal blocks.
same_outside_journal() {
  local bs
  bs=$(dumpe2fs -h "$3" 2>/dev/null | awk '/^Block size:/ { print $3 }')
  # (cmp says 1 when the files differ at all: pipefail must not see it)
  { debugfs -R "blocks <8>" "$3" 2>/dev/null | tr ' ' '\n' | awk 'NF { print "J", $1 }'
    cmp -l "$1" "$2" || true; } | awk -v bs="$bs" '
      $1 == "J" { j[$2] = 1; next }
      { o = $1 - 1
        if ((o >= 1024 && o < 2048) || (int(o / bs) in j)) next
        bad++ }
      END { exit bad > 0 }'
}

check_snapshot() {   # check_snapshot NAME IMAGE
  local name=$1 img=$2
  "$TOOL" --dump "$img" "$img.ours" > "$img.dump" 2> "$img.err" ||
    { cat "$img.err"; fail "$name: jbd2-replay failed"; }
  check_san_log "$img.err"
  logdump "$img" > "$img.logdump"
  [ "$(grep -c '^commit' "$img.logdump")" -gt 0 ] || fail "$name: the snapshot has no committed transaction"
  diff <(sort "$img.logdump") <(sort "$img.dump") > "$img.diff" ||
    { head -20 "$img.diff"; fail "$name: transactions differ from logdump (< logdump, > ours)"; }
  cp --sparse=always "$img" "$img.e2"
  debugfs -w -R jr "$img.e2" > /dev/null 2>&1 || fail "$name: debugfs could not replay"
  same_outside_journal "$img.ours" "$img.e2" "$img" ||
    fail "$name: our replay differs from debugfs's outside the superblocks"
  say "$name: $(grep -c '^commit' "$img.dump") transactions, $(grep -c 'logged at' "$img.dump") blocks, $(grep -c '^Revoke' "$img.dump") revokes agree"
}

run_variant() {   # run_variant NAME ROUNDS "MOUNT-OPTIONS" FEATURES MKFS-ARGS...
  local name=$1 rounds=$2 opts=$3 features=$4 v=$T/$1 r
  shift 4
  mkdir -p "$v/mnt"
  truncate -s 96M "$v/disk.img"
  mkfs.ext4 -q -F "$@" "$v/disk.img" || fail "$name: mkfs $*"
  mount -o "loop,commit=1${opts:+,$opts}" "$v/disk.img" "$v/mnt" || fail "$name: mount"
  register_mount "$v/mnt"
  for r in $(seq "$rounds"); do
    workload "$v/mnt" "$r"
    cp --sparse=always "$v/disk.img" "$v/snap$r.img"
  done
  umount "$v/mnt"
  # The journal flavour this variant is about really is in the log.
  dumpe2fs -h "$v/snap1.img" 2>/dev/null | grep '^Journal features:' | grep -E -- "$features" > /dev/null ||
    fail "$name: journal features are not /$features/: $(dumpe2fs -h "$v/snap1.img" 2>/dev/null | grep '^Journal features:')"
  for r in $(seq "$rounds"); do check_snapshot "$name round $r" "$v/snap$r.img"; done
}

run_variant csum-v3 1 "" 'journal_checksum_v3' -b 4096
run_variant no-csum-64bit 1 "" 'journal_64bit' -b 1024 -O ^metadata_csum
run_variant tags-32bit-compat-crc 1 journal_checksum 'journal_checksum( |$)' \
  -b 1024 -O ^metadata_csum,^64bit
run_variant async-commit 1 journal_async_commit,data=writeback 'journal_async_commit' \
  -b 4096 -O ^metadata_csum
run_variant ext3 1 "" '' -t ext3
run_variant data-journal 1 data=journal 'journal_checksum_v3' -b 1024
# jbd2 escaped the data blocks that began with its magic number.
debugfs -R "logdump -a" "$T/data-journal/snap1.img" 2>/dev/null |
  grep -E 'flags 0x[0-9a-f]*[13579bdf]\)' > /dev/null || fail "data-journal: no escaped block in the log"
run_variant fast-commit 1 "" 'fast_commit|FEATURE_I5' -b 4096 -O fast_commit

# A 1024-block log that the workload goes round more than once: some
# snapshot must hold a log that wraps (a commit before its start).
run_variant wrap 6 "" '' -b 1024 -J size=1
wrapped=0
for r in $(seq 6); do
  awk 'NR == 1 { start = $5 + 0 } /^commit/ && $4 + 0 < start { w = 1 } END { exit !w }' \
    "$T/wrap/snap$r.img.dump" && wrapped=1
done
[ $wrapped = 1 ] || fail "wrap: no snapshot caught the log wrapping around"
# Hostile journal blocks: what fails its checks is never applied.
# Where e2fsprogs and the kernel agree (a commit or a copy that fails
# its checksum: the log ends before that transaction; the copy is
# skipped) our replay equals debugfs's.  A descriptor or revoke block
# that fails its checksum, or a block without the magic, makes the
# kernel refuse the whole journal, and e2fsprogs goes on to other
# repairs; we keep what was committed before it and stop there: the
# same as our replay of the sound log cut before that transaction
# (whose equality with debugfs's is shown above).
hostile() {   # hostile NAME JBLK OFFSET BYTES [CUT-AT-JBLK]
  local name=$1 jblk=$2 off=$3 bytes=$4 cut=${5:-} src=$T/csum-v3/snap1.img img=$T/hostile-$1.img
  local bs
  bs=$(dumpe2fs -h "$src" 2>/dev/null | awk '/^Block size:/ { print $3 }')
  jphys() { debugfs -R "bmap <8> $1" "$src" 2>/dev/null; }
  cp --sparse=always "$src" "$img"
  printf "$bytes" | dd of="$img" bs=1 seek=$(( $(jphys "$jblk") * bs + off )) conv=notrunc status=none
  "$TOOL" "$img" "$img.ours" > /dev/null 2> "$img.err" || true
  check_san_log "$img.err"
  if [ -z "$cut" ]; then
    cp --sparse=always "$img" "$img.e2"
    debugfs -w -R jr "$img.e2" > /dev/null 2>&1 || true
  else
    cp --sparse=always "$src" "$img.cut"
    dd if=/dev/zero of="$img.cut" bs="$bs" seek="$(jphys "$cut")" count=1 conv=notrunc status=none
    "$TOOL" "$img.cut" "$img.e2" 2> /dev/null || fail "hostile $name: the cut log does not replay"
  fi
  same_outside_journal "$img.ours" "$img.e2" "$src" ||
    fail "hostile $name: our replay differs from the expected one"
  say "hostile $name: $(tail -1 "$img.err")"
}
d=$T/csum-v3/snap1.img.dump
commits=($(awk '/^commit/ { print $NF }' "$d"))
[ ${#commits[@]} -ge 4 ] || fail "hostile: the csum-v3 snapshot has too few transactions"
c2=${commits[1]} c3=${commits[2]} last=${commits[-1]}
hostile commit-checksum "$last" 100 '\x55'
hostile copy-checksum $((c2 + 2)) 100 '\x55'
hostile descriptor-checksum $((c2 + 1)) 20 '\x55' "$c3"
hostile bad-magic $((c2 + 1)) 0 '\x00\x00' "$c3"
rev=$(debugfs -R "logdump" "$T/csum-v3/snap1.img" 2>/dev/null | awk '!r && /type 5 \(revoke table\)/ { r = $NF } END { print r }')
if [ -n "$rev" ]; then
  # the commit that ends the revoke block's transaction
  rc=$(printf '%s\n' "${commits[@]}" | awk -v r="$rev" '!c && $1 > r { c = $0 } END { print c }')
  hostile revoke-count "$rev" 14 '\x7f' "$rc"
fi
say "ok"
