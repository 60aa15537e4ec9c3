#!/bin/bash
# blockwatch's partition-table parser finds what sfdisk and sgdisk
# wrote: an MBR with primaries and logicals, a GPT, the same GPT with
# its primary header or entry array damaged (the backup is used and the
# note says so; both copies damaged is an error), a whole-disk ext4 with
# a stale MBR in front (no table), and, where loop devices allow
# 4096-byte sectors, both tables with 4 KiB sectors.
. "$(dirname "$0")/lib.sh"
require sfdisk sgdisk mkfs.ext4
TOOL=$BW_BUILD/tests/bw-partitions

# ours IMAGE [TOOL-ARGS]: "N START SIZE" (bytes) as blockwatch reads it
ours() { "$TOOL" "$@" | grep -v '^#'; }

# sfdisk_says DEV: the same from sfdisk --dump, without the extended
# partitions (containers, which blockwatch does not list)
sfdisk_says() {
  sfdisk --dump "$1" | awk -v dev="$1" -F '[ ,=]+' '
    /^sector-size:/ { ss = $2 }
    index($0, dev) == 1 && $0 !~ /type=(5|f|85)(,|$)/ {
      n = substr($1, length(dev) + 1); sub(/^p/, "", n)
      print n, $4 * ss, $6 * ss
    }'
}

# sgdisk_says DEV: the same from sgdisk -p (start and end sectors)
sgdisk_says() {
  sgdisk -p "$1" | awk '
    /^Sector size/ { split($4, ss_, "/"); ss = ss_[1] }
    table { print $1, $2 * ss, ($3 - $2 + 1) * ss }
    /^Number/ { table = 1 }'
}

# same WHAT EXPECTED-FILE OURS-FILE
same() {
  if ! diff -u "$2" "$3"; then fail "$1: blockwatch disagrees (above: - expected, + ours)"; fi
  [ -s "$2" ] || fail "$1: the reference lists no partitions"
  say "$1: $(wc -l < "$3") partitions agree"
}

mbr_script='label: dos
start=1MiB, size=10MiB, type=83
size=20MiB, type=7
type=5
size=5MiB, type=83
size=5MiB, type=82
type=83'

truncate -s 64M "$T/mbr.img"
echo "$mbr_script" | sfdisk -q "$T/mbr.img"
sfdisk_says "$T/mbr.img" > "$T/mbr.want"
ours "$T/mbr.img" > "$T/mbr.ours"
same "MBR, 2 primaries and 3 logicals" "$T/mbr.want" "$T/mbr.ours"
[ "$(cut -d' ' -f1 "$T/mbr.ours" | xargs)" = "1 2 5 6 7" ] || fail "MBR partition numbers"
[ "$("$TOOL" "$T/mbr.img" | head -1)" = "# table mbr" ] || fail "MBR not named mbr"

truncate -s 64M "$T/gpt.img"
sgdisk -n 1:2048:+10M -c 1:"EFI system" -t 1:ef00 -n 2:0:+20M -c 2:"Données" \
  "$T/gpt.img" > "$T/sgdisk.log"
sgdisk_says "$T/gpt.img" > "$T/gpt.want"
ours "$T/gpt.img" > "$T/gpt.ours"
same "GPT, 2 partitions" "$T/gpt.want" "$T/gpt.ours"
"$TOOL" "$T/gpt.img" > "$T/gpt.out"
grep -qx '# table gpt' "$T/gpt.out" || fail "GPT not named gpt"
! grep -q '^# note' "$T/gpt.out" || fail "a note on a sound GPT: $(grep '^# note' "$T/gpt.out")"

# One bit of the disk GUID in the primary header: its CRC fails.
cp "$T/gpt.img" "$T/gpt-hdr.img"
printf '\x01' | dd of="$T/gpt-hdr.img" bs=1 seek=$((512 + 60)) conv=notrunc status=none
sgdisk -v "$T/gpt-hdr.img" > "$T/gpt-hdr.sgdisk" 2>&1 || true
grep -qi 'invalid main GPT header' "$T/gpt-hdr.sgdisk" \
  || fail "sgdisk does not see the primary header damaged"
"$TOOL" "$T/gpt-hdr.img" > "$T/gpt-hdr.out"
grep -q '^# note GPT primary damaged (header CRC .*); backup at LBA 131071 used' "$T/gpt-hdr.out" \
  || fail "no note of the backup header used: $(cat "$T/gpt-hdr.out")"
grep -v '^#' "$T/gpt-hdr.out" > "$T/gpt-hdr.ours"
same "GPT, damaged primary header" "$T/gpt.want" "$T/gpt-hdr.ours"

# A byte of entry 1's name: the entry array's CRC fails.
cp "$T/gpt.img" "$T/gpt-array.img"
printf 'X' | dd of="$T/gpt-array.img" bs=1 seek=$((1024 + 56)) conv=notrunc status=none
"$TOOL" "$T/gpt-array.img" > "$T/gpt-array.out"
grep -q '^# note GPT primary damaged (entry array CRC' "$T/gpt-array.out" \
  || fail "no note of the damaged entry array: $(cat "$T/gpt-array.out")"
grep -v '^#' "$T/gpt-array.out" > "$T/gpt-array.ours"
same "GPT, damaged primary entry array" "$T/gpt.want" "$T/gpt-array.ours"

# Both headers damaged: nothing to trust, and the tool says why.
printf '\x01' | dd of="$T/gpt-hdr.img" bs=1 seek=$((131071 * 512 + 60)) conv=notrunc status=none
if "$TOOL" "$T/gpt-hdr.img" > /dev/null 2> "$T/gpt-both.err"; then
  fail "a GPT with both headers damaged was trusted"
fi
grep -q 'no usable GPT: primary: header CRC .*; backup at LBA 131071: header CRC' "$T/gpt-both.err" \
  || fail "unclear error: $(cat "$T/gpt-both.err")"
say "GPT, both headers damaged: refused ($(cat "$T/gpt-both.err"))"

# A whole-disk ext4, then an old MBR written back over its boot block.
truncate -s 64M "$T/ext4.img"
mkfs.ext4 -q -F "$T/ext4.img"
[ "$("$TOOL" "$T/ext4.img")" = "# table none" ] || fail "whole-disk ext4 taken for a table"
dd if="$T/mbr.img" of="$T/ext4.img" bs=512 count=1 conv=notrunc status=none
"$TOOL" "$T/ext4.img" > "$T/ext4.out"
grep -qx '# table none' "$T/ext4.out" || fail "stale MBR before ext4 trusted: $(cat "$T/ext4.out")"
grep -q '^# note ext superblock at byte 1024' "$T/ext4.out" || fail "no note of the stale MBR"
say "whole-disk ext4 with a stale MBR: no table, noted"

# attach_4k IMAGE: a loop device with 4096-byte sectors over IMAGE,
# detached at exit if the test dies before it does (only if it still
# is ours: the number may be someone else's by then).  Sets loop.
attach_4k() {
  loop=$(losetup -f --show -b 4096 "$1")
  at_exit "losetup -j '$1' | grep_all -q '^$loop:' && losetup -d '$loop'"
}

# 4 KiB sectors: the tools write through a loop device that has them.
if [ "$(id -u)" = 0 ] && losetup -f > /dev/null 2>&1; then
  truncate -s 64M "$T/mbr4k.img" "$T/gpt4k.img"
  attach_4k "$T/mbr4k.img"
  echo "$mbr_script" | sfdisk -q --no-reread --no-tell-kernel "$loop"
  sfdisk_says "$loop" > "$T/mbr4k.want"
  losetup -d "$loop"
  ours --sector-size 4096 "$T/mbr4k.img" > "$T/mbr4k.ours"
  same "MBR, 4096-byte sectors" "$T/mbr4k.want" "$T/mbr4k.ours"

  attach_4k "$T/gpt4k.img"
  sgdisk -n 1:256:+10M -n 2:0:+20M "$loop" > "$T/sgdisk4k.log"
  sgdisk_says "$loop" > "$T/gpt4k.want"
  losetup -d "$loop"
  ours --sector-size 4096 "$T/gpt4k.img" > "$T/gpt4k.ours"
  same "GPT, 4096-byte sectors" "$T/gpt4k.want" "$T/gpt4k.ours"
else
  say "4096-byte sectors not tested: they need root and a free loop device"
fi
say "ok"
