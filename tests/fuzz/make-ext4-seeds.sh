#!/bin/bash
# Regenerates the seed corpora of fuzz-ext4 (tests/fuzz/corpus/ext4/)
# and fuzz-ext4-live (corpus/ext4-live/): tiny images made by mke2fs
# across feature sets, holding a few files, directories, links and
# symlinks, each followed by a tail of tap records that rewrite
# metadata and flush (the input format is in ext4-feed.h); for
# fuzz-ext4-live, each with a byte saying how far the storage runs ahead
# (fuzz-ext4-live.c).  Each seed stays at most 256 KiB (but one, below).
#   tests/fuzz/make-ext4-seeds.sh [OUTDIR [LIVE-OUTDIR]]
# mke2fs -d makes the content; e2fsck -fyD indexes the directories
# (htree); debugfs finds the blocks the tails write over.  Images differ
# from run to run (UUIDs, times, hash seeds): regenerate only to change
# the set, and run the fuzzer over the new seeds before committing.
set -euo pipefail
out=${1:-$(cd "$(dirname "$0")" && pwd)/corpus/ext4}
live=${2:-$out-live}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$out" "$live"
export E2FSPROGS_FAKE_TIME=1700000000

# The tree every image holds (what fits).
d=$W/tree
mkdir -p "$d/dir/sub" "$d/many"
for i in $(seq 20); do echo "file $i" > "$d/dir/f$i"; done
for i in $(seq 40); do : > "$d/many/a-rather-long-name-to-fill-blocks-$i"; done
echo hello > "$d/dir/sub/hello"
ln "$d/dir/sub/hello" "$d/dir/hardlink"
ln -s hello "$d/dir/sub/fast-symlink"
ln -s "$(printf 'long/%.0s' $(seq 16))target" "$d/dir/slow-symlink"
mkfifo "$d/dir/fifo"
# Eight data blocks with holes between them: an extent tree with an
# index level on extent file systems, indirect blocks elsewhere.
for i in $(seq 0 7); do
  echo "chunk $i" | dd of="$d/sparse" bs=1k seek=$((i * 16)) conv=notrunc status=none
done
small=$W/small
mkdir -p "$small/d"
echo tiny > "$small/d/inline-file"
echo "x" > "$small/f"
ln -s f "$small/link"

# An operation's byte (ext4-feed.h): opb OP PLUS (9: fixed up).
opb() { printf "\\x$(printf %02x $(($1 + $2)))"; }
# Little-endian bytes as \x escapes for printf.
le() { local v=$1 n=$2 s=; for ((i = 0; i < n; i++)); do s+=$(printf '\\x%02x' $((v & 255))); v=$((v >> 8)); done; printf '%s' "$s"; }

# tail IMAGE OPS...: appends the tap operations (ext4-feed.h) and the
# tail's length.  OPS: "w OFF BYTES" (BYTES is printf text), "c DST SRC
# LEN", "z OFF LEN", "f" (flush), "o" (overflow), "t OFF LEN FLAGS"
# (trim), "l OFF BYTES" (a write whose bytes are lost), "b" (events
# before may be lost), "r FLAGS" (the stream starts again), and "W OFF
# FILE": the file's bytes, as writes of 128 aligned bytes, the last
# first (a journal block counts once its header is there: the kernel
# writes it whole, and it has to be whole when its header comes; and
# no checksum is cut in two).  "w+", "c+" and "z+" are w, c and z with
# the checksums of what they wrote fixed up after (ext4-feed.h).
tail_ops() {
  local img=$1 t=$W/tail op plus; shift
  : > "$t"
  while [ $# -gt 0 ]; do
    set -- $1 "${@:2}"
    op=${1%+} plus=0
    [ "$op" = "$1" ] || plus=9
    case $op in
      w|l) local bytes; bytes=$(printf "$3" | wc -c)
         { if [ "$op" = w ]; then opb 0 "$plus"; else printf '\x06'; fi
           printf "$(le "$2" 4)$(le "$bytes" 1)"; printf "$3"; } >> "$t"; shift 3;;
      c) { opb 1 "$plus"; printf "$(le "$2" 4)$(le "$3" 4)$(le "$4" 2)"; } >> "$t"; shift 4;;
      z) { opb 2 "$plus"; printf "$(le "$2" 4)$(le "$3" 2)"; } >> "$t"; shift 3;;
      f) printf '\x03' >> "$t"; shift;;
      o) printf '\x04' >> "$t"; shift;;
      t) printf "\\x05$(le "$2" 4)$(le "$3" 2)$(le "$4" 1)" >> "$t"; shift 4;;
      b) printf '\x07' >> "$t"; shift;;
      r) printf "\\x08$(le "$2" 1)" >> "$t"; shift 2;;
      W) local n o c; n=$(stat -c %s "$3")
         for ((o = (n - 1) / 128 * 128; o >= 0; o -= 128)); do
           c=$((n - o < 128 ? n - o : 128))
           { printf "\\x00$(le $(($2 + o)) 4)$(le $c 1)"
             tail -c +$((o + 1)) "$3" | head -c $c; } >> "$t"
         done
         shift 3;;
    esac
  done
  cat "$t" >> "$img"
  printf "$(le "$(stat -c %s "$t")" 2)" >> "$img"
}

# Byte offset of an inode on disk, and of a file's first block.
inode_off() {
  local b o
  read -r b o < <(debugfs -R "imap <$2>" "$1" 2>/dev/null |
                  sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1 \2/p')
  echo $((b * $3 + o))
}
block_off() { debugfs -R "bmap $2 0" "$1" 2>/dev/null | awk -v bs="$3" '{ print $1 * bs }'; }
# The byte at an offset, in hex; the inode number of a path.
byte_at() { od -An -tx1 -j "$2" -N 1 "$1" | tr -d ' '; }
ino_of() { debugfs -R "stat $2" "$1" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }

# seed NAME SIZE BLOCKSIZE CONTENT MKE2FS-ARGS...
seed() {
  local name=$1 size=$2 bs=$3 content=$4 img=$W/$1; shift 4
  rm -f "$img"
  truncate -s "$size" "$img"
  # (quiet: on ext4, mke2fs says the image is too small for a journal)
  mke2fs -q -F -b "$bs" -N 96 -d "$content" "$@" "$img" 2> "$W/err" ||
    { cat "$W/err" >&2; exit 1; }
  e2fsck -fyD "$img" > /dev/null 2>&1 || [ $? -le 2 ] || { echo "e2fsck failed on $name" >&2; exit 1; }
  local root ino12 file
  root=$(block_off "$img" / "$bs")
  ino12=$(inode_off "$img" 12 "$bs")
  file=$(inode_off "$img" 13 "$bs")
  # A name renamed in place, an inode's mode and size changed, the
  # root directory block copied over an inode table block, a flush; then
  # lost records and a zeroed inode.
  cp "$img" "$W/$name.img"
  tail_ops "$img" "w $((root + 24 + 8)) XY" "w $ino12 \x80\x81" \
    "w $((file + 4)) \x00\x10\x00\x00" "f" "c $((ino12 - ino12 % bs)) $root $bs" \
    "f" "o" "z $file 256" "f"
  cp "$img" "$out/$name"
}

seed ext2-1k 128K 1024 "$d" -t ext2
seed ext4-default 252K 4096 "$d" -t ext4
seed ext4-1k 160K 1024 "$d" -t ext4
seed ext4-no-csum-no-64bit 160K 1024 "$d" -t ext4 -O ^metadata_csum,^64bit,^flex_bg
seed ext4-inline-data 96K 1024 "$small" -t ext4 -O inline_data -I 256
seed ext4-meta-bg 160K 1024 "$d" -t ext4 -O meta_bg,^resize_inode

# ext3: mke2fs will not put a journal (1024 blocks at least) on an image
# this small, so the journal is a 16-block file moved to inode 8: a jbd2
# superblock (v2, clean) in its first block, bytes of 1 after (debugfs
# would leave blocks of zeroes out, and the log must all be there).
# add_journal IMAGE [SUPERBLOCK]: the superblock (a file of one block)
# made by jsb_plain unless given.
jsb_plain() {
  { printf '\xc0\x3b\x39\x98\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x04\x00'
    printf '\x00\x00\x00\x10\x00\x00\x00\x01\x00\x00\x00\x01'; } > "$1"
  truncate -s 1K "$1"
}
add_journal() {
  local j=$1 jino stat8
  if [ $# -gt 1 ]; then cp "$2" "$W/jsb"; else jsb_plain "$W/jsb"; fi
  head -c 15K /dev/zero | tr '\0' '\1' >> "$W/jsb"
  debugfs -w -R "write $W/jsb journal" "$j" > /dev/null 2>&1
  jino=$(ino_of "$j" /journal)
  debugfs -w -f - "$j" > /dev/null 2>&1 <<EOF
copy_inode <$jino> <8>
unlink /journal
clri <$jino>
freei <$jino>
ssv journal_inum 8
feature has_journal
EOF
  # (No e2fsck from here: it would find the journal too small and clear
  # it.)
  # (Its output taken whole: grep -q at the end of a pipe can kill
  # debugfs with SIGPIPE, which pipefail reports.)
  stat8=$(debugfs -R "stat <8>" "$j" 2>/dev/null)
  grep -q 'Size: 16384' <<< "$stat8" || { echo "journal not made" >&2; exit 1; }
}
j=$W/ext3
truncate -s 160K "$j"
mke2fs -q -F -b 1024 -N 96 -d "$d" -t ext2 "$j"
e2fsck -fyD "$j" > /dev/null 2>&1 || true
add_journal "$j"
cp "$j" "$W/ext3-1k"
root=$(block_off "$j" / 1024)
tail_ops "$W/ext3-1k" "w $((root + 32)) XY" "f" "c $root $(block_off "$j" /dir 1024) 1024" "f"
cp "$W/ext3-1k" "$out/ext3-1k"

# The journal followed: one transaction written into the log as the
# kernel writes it (the journal superblock says where the log starts,
# a descriptor, the copies, a commit), then its checkpoint (the copies
# written home) and the log emptied.  In it, a rename in the root and a
# file's block pointer moved to a free block whose data was written
# before the transaction (held until the mapping comes).
# jblk N: the byte offset of the journal's block N.
jblk() { echo $(($(debugfs -R "bmap <8> $1" "$j" 2>/dev/null) * 1024)); }
be() { local v=$1 n=$2 s=; for ((i = n - 1; i >= 0; i--)); do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done; printf '%s' "$s"; }
f1=$(inode_off "$j" "$(ino_of "$j" /dir/f1)" 1024)
itb=$((f1 / 1024))
free=$(debugfs -R "ffb 1 100" "$j" 2>/dev/null | sed -n 's/^Free blocks found: \([0-9]*\).*/\1/p')
[ -n "$free" ] || { echo "ext3: no free block" >&2; exit 1; }
hdr() { printf '\\xc0\\x3b\\x39\\x98%s%s' "$(be "$1" 4)" "$(be "$2" 4)"; }
cp "$j" "$W/ext3-journal"
tail_ops "$W/ext3-journal" "w $((free * 1024)) new-data" \
  "w $(($(jblk 0) + 0x18)) $(be 2 4)$(be 1 4)" \
  "w $(jblk 1) $(hdr 1 2)$(be $((root / 1024)) 4)\x00\x00$(be 2 2)$(be $itb 4)\x00\x00$(be 10 2)" \
  "c $(jblk 2) $root 1024" "w $(($(jblk 2) + 32)) XY" \
  "c $(jblk 3) $((itb * 1024)) 1024" \
  "w $(($(jblk 3) + f1 % 1024 + 4)) $(le 9 4)" \
  "w $(($(jblk 3) + f1 % 1024 + 40)) $(le "$free" 4)" \
  "w $(jblk 4) $(hdr 2 2)" "f" \
  "c $root $(jblk 2) 1024" "c $((itb * 1024)) $(jblk 3) 1024" \
  "w $(($(jblk 0) + 0x18)) $(be 3 4)$(be 0 4)" "f"
cp "$W/ext3-journal" "$out/ext3-journal"
# The same transaction, then one that revokes the root's block before
# the checkpoint (its image leaves the view: the root is read from home
# again), then the checkpoint and the log emptied.
cp "$j" "$W/ext3-journal-revoke"
tail_ops "$W/ext3-journal-revoke" \
  "w $(($(jblk 0) + 0x18)) $(be 2 4)$(be 1 4)" \
  "w $(jblk 1) $(hdr 1 2)$(be $((root / 1024)) 4)\x00\x00$(be 10 2)" \
  "c $(jblk 2) $root 1024" "w $(($(jblk 2) + 32)) XY" "w $(jblk 3) $(hdr 2 2)" "f" \
  "w $(jblk 4) $(hdr 5 3)$(be 20 4)$(be $((root / 1024)) 4)" "w $(jblk 5) $(hdr 2 3)" "f" \
  "c $root $(jblk 2) 1024" "w $(($(jblk 0) + 0x18)) $(be 4 4)$(be 0 4)" "f"
cp "$W/ext3-journal-revoke" "$out/ext3-journal-revoke"

# The journal as the crawl finds it in use: transaction 2 (the rename)
# committed and not yet home, transaction 3 (the block pointer) half
# written, its commit still to come.  The tail writes the data, then
# that commit; moves the log's tail past 2 with its copy never written
# home (the root as it is at home is read again); checkpoints 3 and
# empties the log.
# put IMAGE OFF BYTES (printf text); cpb IMAGE DST SRC LEN
put() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
cpb() { dd if="$1" bs=1 skip="$3" count="$4" status=none | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
jo=$W/ext3-journal-open
cp "$j" "$jo"
put "$jo" $(($(jblk 0) + 0x18)) "$(be 2 4)$(be 1 4)"
put "$jo" "$(jblk 1)" "$(hdr 1 2)$(be $((root / 1024)) 4)\x00\x00$(be 10 2)"
cpb "$jo" "$(jblk 2)" "$root" 1024
put "$jo" $(($(jblk 2) + 32)) XY
put "$jo" "$(jblk 3)" "$(hdr 2 2)"
put "$jo" "$(jblk 4)" "$(hdr 1 3)$(be $itb 4)\x00\x00$(be 10 2)"
cpb "$jo" "$(jblk 5)" $((itb * 1024)) 1024
put "$jo" $(($(jblk 5) + f1 % 1024 + 4)) "$(le 9 4)"
put "$jo" $(($(jblk 5) + f1 % 1024 + 40)) "$(le "$free" 4)"
tail_ops "$jo" "w $((free * 1024)) new-data" "w $(jblk 6) $(hdr 2 3)" "f" \
  "w $(($(jblk 0) + 0x18)) $(be 3 4)$(be 4 4)" "f" \
  "c $((itb * 1024)) $(jblk 5) 1024" "w $(($(jblk 0) + 0x18)) $(be 4 4)$(be 0 4)" "f"
cp "$jo" "$out/ext3-journal-open"

# The records that say something was lost, and trims, on ext4-1k: a
# trim that reads as zeroes over an inode (a delete), one that does not
# over the root's block (nothing changes), one whose range the backend
# zeroed anyway; events before lost (before any record, and later), a
# write whose bytes are lost over an inode, and the stream started
# again: by a new instance after one without END (a loss), after one
# with END, and by the same instance reconnecting.
img=$W/ext4-1k.img
root=$(block_off "$img" / 1024)
ino12=$(inode_off "$img" 12 1024)
file=$(inode_off "$img" 13 1024)
data=$(block_off "$img" /dir/f3 1024)
cp "$img" "$W/ext4-1k-trim"
tail_ops "$W/ext4-1k-trim" "t $file 256 1" "t $root 1024 0" "f" \
  "t $data 1024 1" "f" "t $ino12 256 2" "f"
cp "$W/ext4-1k-trim" "$out/ext4-1k-trim"
cp "$img" "$W/ext4-1k-loss"
tail_ops "$W/ext4-1k-loss" "b" "w $((root + 32)) XY" "f" "l $ino12 \x80\x81" "f" \
  "r 0" "w $((root + 33)) Z" "f" "r 1" "w $((file + 4)) \x00\x10" "f" \
  "r 2" "b" "w $((root + 32)) ab" "f"
cp "$W/ext4-1k-loss" "$out/ext4-1k-loss"

# Hostile metadata with its checksums right (metadata_csum), as a guest
# that knows its checksum seed writes it: each write fixed up (w+).  A
# name renamed in the root (its directory block's tail), a mode and a
# size changed (the inodes' checksums), a hash in /many's htree root
# (its dx tail), an extent moved in /sparse's leaf block (its tail), a
# descriptor's free count and the superblock's mount count (their
# checksums: the descriptors are read again, the superblock with them).
# The same writes without the fix-up fail those checksums.
leaf=$(debugfs -R "ex /sparse" "$img" 2>/dev/null | awk '$1 == "0/" { print $8; exit }')
many=$(block_off "$img" /many 1024)
[ -n "$leaf" ] || { echo "ext4-1k: no extent index in /sparse" >&2; exit 1; }
cp "$img" "$W/ext4-1k-fixup"
tail_ops "$W/ext4-1k-fixup" "w+ $((root + 32)) XY" "f" "w+ $ino12 \x80\x81" \
  "w+ $((file + 4)) \x00\x10\x00\x00" "f" "w+ $((many + 0x30)) \x01" \
  "w+ $((leaf * 1024 + 12 + 7 * 12)) \x71" "f" "w+ $((2048 + 0x0c)) \x05" \
  "w+ $((1024 + 0x34)) \x07" "f" "z+ $file 256" "f"
cp "$W/ext4-1k-fixup" "$out/ext4-1k-fixup"
# An extent moved to other blocks: /sparse's last chunk (its leaf
# block's eighth extent, file block 112) pointed at a free block, the
# leaf's tail fixed up (w+), then data written there and flushed.  The
# write event for /sparse's last chunk read from the new block
# (fixed_extent_events) is the engine following the fixed leaf: with
# its checksum wrong, libext2fs stops at the leaf and the block is no
# file's.
moved=$(debugfs -R "ffb 1 $((leaf + 1))" "$img" 2>/dev/null |
        sed -n 's/^Free blocks found: \([0-9]*\).*/\1/p')
[ -n "$moved" ] || { echo "ext4-1k: no free block" >&2; exit 1; }
[ "$(debugfs -R "ex /sparse" "$img" 2>/dev/null | awk '$1 == "1/" && $3 == "8/" { print $5 }')" = 112 ] ||
  { echo "ext4-1k: /sparse's eighth extent is not file block 112" >&2; exit 1; }
cp "$img" "$W/ext4-1k-fixup-extent"
tail_ops "$W/ext4-1k-fixup-extent" "w+ $((leaf * 1024 + 12 + 7 * 12 + 8)) $(le "$moved" 4)" \
  "f" "w $((moved * 1024)) chunk-7-moved" "f"
cp "$W/ext4-1k-fixup-extent" "$out/ext4-1k-fixup-extent"

# Journals with checksums (the kernel's on metadata_csum file systems:
# csum v3; v2, its older form; the compat crc32 of journal_checksum
# without metadata_csum), each with a transaction as the kernel writes
# it: the journal superblock moved to it, a descriptor whose tags carry
# the copies' checksums, the copies, a commit block; then the copies
# written home and the log emptied.  The transaction holds the blocks
# debugfs changed for a rename and a chmod, checksums and all.
# jseed NAME SIZE CONTENT COMPAT INCOMPAT RENAME CHMOD MKE2FS-ARGS...:
# leaves $W/NAME.img (the image before) and $W/NAME.after (the blocks
# of the transaction, in their places), $W/NAME.jsb (the superblock)
# and $W/NAME.homes (the home blocks changed).
jseed() {
  local name=$1 size=$2 content=$3 compat=$4 incompat=$5 from=$6 to=$7 chmod=$8
  local img=$W/$1.img
  shift 8
  rm -f "$img"
  truncate -s "$size" "$img"
  mke2fs -q -F -b 1024 -N 96 -d "$content" -t ext4 -O ^has_journal "$@" "$img"
  e2fsck -fyD "$img" > /dev/null 2>&1 || [ $? -le 2 ] || { echo "e2fsck failed on $name" >&2; exit 1; }
  jsb_plain "$W/$name.jsb0"
  # a UUID of its own: the seed of every crc32c
  printf '\x5e\xed\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d' |
    dd of="$W/$name.jsb0" bs=1 seek=$((0x30)) conv=notrunc status=none
  "$jb" super "$W/$name.jsb0" "$compat" "$incompat" 1 0 > "$W/$name.jsb"
  add_journal "$img" "$W/$name.jsb"
  cp "$img" "$W/$name.after"
  debugfs -w -f - "$W/$name.after" > /dev/null 2>&1 <<EOF
ln $from $to
unlink $from
sif $chmod mode 0100600
EOF
  # (cmp says 1 when the files differ)
  cmp -l "$img" "$W/$name.after" > "$W/$name.cmp" || [ $? = 1 ]
  awk '{ print int(($1 - 1) / 1024) }' "$W/$name.cmp" | uniq > "$W/$name.homes"
  [ -s "$W/$name.homes" ] || { echo "$name: debugfs changed nothing" >&2; exit 1; }
}
# jtxn NAME TID FIRST-JBLK: the ops (in jops) writing transaction TID of
# NAME at journal block FIRST-JBLK on: its blocks, one W each.
jblk_in() { echo $(($(debugfs -R "bmap <8> $2" "$1" 2>/dev/null) * 1024)); }
jops=()
jwrite() {   # jwrite NAME FILE FIRST-JBLK
  local i n
  n=$(($(stat -c %s "$2") / 1024))
  for ((i = 0; i < n; i++)); do
    dd if="$2" of="$2.$i" bs=1024 skip=$i count=1 status=none
    jops+=("W $(jblk_in "$W/$1.img" $((i + $3))) $2.$i")
  done
}
jb=$(cd "$(dirname "$0")" && pwd)/jbd2-blocks.py
# jcheckpoint NAME: the ops writing the transaction's copies home.
jcheckpoint() {
  local i=2 h
  while read -r h; do
    jops+=("c $((h * 1024)) $(jblk_in "$W/$1.img" $i) 1024")
    i=$((i + 1))
  done < "$W/$1.homes"
}
# jsuper NAME SEQUENCE START COMPAT INCOMPAT: the op writing the
# journal superblock so.
jsuper() {
  "$jb" super "$W/$1.jsb" "$4" "$5" "$2" "$3" > "$W/$1.jsb.$2.$3"
  jops+=("W $(jblk_in "$W/$1.img" 0) $W/$1.jsb.$2.$3")
}
# (INCOMPAT_64BIT 0x2, CSUM_V2 0x8, CSUM_V3 0x10; COMPAT_CHECKSUM 0x1)
for v in "ext4-journal-csum-v3 160K $d 0 0x12 /dir/f1 /dir/renamed /dir/f2" \
         "ext4-journal-csum-v2 96K $small 0 0x8 /f /g /d/inline-file -O ^64bit" \
         "ext4-journal-crc32 96K $small 1 0 /f /g /d/inline-file -O ^metadata_csum,^64bit"; do
  set -- $v
  name=$1 compat=$4 incompat=$5
  jseed "$@"
  # shellcheck disable=SC2046
  "$jb" txn "$W/$name.jsb" 2 "$W/$name.after" $(cat "$W/$name.homes") > "$W/$name.t2"
  jops=()
  jsuper "$name" 2 1 "$compat" "$incompat"
  jwrite "$name" "$W/$name.t2" 1
  jops+=("f")
  jcheckpoint "$name"
  jsuper "$name" 3 0 "$compat" "$incompat"
  jops+=("f")
  cp "$W/$name.img" "$W/$name"
  tail_ops "$W/$name" "${jops[@]}"
  cp "$W/$name" "$out/$name"
done
# v3 again, with a second transaction that revokes the first block of
# the first before its checkpoint (its image leaves the view).
name=ext4-journal-csum-v3
"$jb" revoke "$W/$name.jsb" 3 "$(head -1 "$W/$name.homes")" > "$W/$name.t3"
ntags=$(wc -l < "$W/$name.homes")
jops=()
jsuper "$name" 2 1 0 0x12
jwrite "$name" "$W/$name.t2" 1
jops+=("f")
jwrite "$name" "$W/$name.t3" $((ntags + 3))
jops+=("f")
jcheckpoint "$name"
jsuper "$name" 4 0 0 0x12
jops+=("f")
cp "$W/$name.img" "$W/$name-revoke"
tail_ops "$W/$name-revoke" "${jops[@]}"
cp "$W/$name-revoke" "$out/$name-revoke"
# v3 as the crawl finds it in use: the transaction committed and not
# yet home (the crawl takes it, its checksums checked); the tail writes
# it home and empties the log.
cp "$W/$name.img" "$W/$name-open"
"$jb" super "$W/$name.jsb" 0 0x12 2 1 | dd of="$W/$name-open" bs=1024 \
  seek=$(($(jblk_in "$W/$name.img" 0) / 1024)) conv=notrunc status=none
for ((i = 0; i < ntags + 2; i++)); do
  dd if="$W/$name.t2" bs=1024 skip=$i count=1 status=none |
    dd of="$W/$name-open" bs=1024 seek=$(($(jblk_in "$W/$name.img" $((i + 1))) / 1024)) \
      conv=notrunc status=none
done
jops=()
jcheckpoint "$name"
jsuper "$name" 3 0 0 0x12
jops+=("f")
cp "$W/$name-open" "$W/$name-open.base"
tail_ops "$W/$name-open" "${jops[@]}"
cp "$W/$name-open" "$out/$name-open"
# v3 with a name renamed in a copy in the log before the commit (f2, in
# /dir's block, becomes XY), fixed up as the guest would: the copy's
# own tail (as /dir's block), its tag's checksum, the descriptor's tail.
# Its checkpoint writes the copy home.
dirb=$(($(block_off "$W/$name.img" /dir 1024) / 1024))
k=$(grep -nx "$dirb" "$W/$name.homes" | cut -d: -f1)
[ -n "$k" ] || { echo "$name: /dir's block is not in the transaction" >&2; exit 1; }
at=$(dd if="$W/$name.after" bs=1024 skip="$dirb" count=1 status=none |
     LC_ALL=C grep -obUaP '\x02\x01f2' | head -1 | cut -d: -f1)
[ -n "$at" ] || { echo "$name: no f2 in /dir" >&2; exit 1; }
jops=()
jsuper "$name" 2 1 0 0x12
for ((i = 0; i <= ntags; i++)); do
  jops+=("W $(jblk_in "$W/$name.img" $((i + 1))) $W/$name.t2.$i")
done
jops+=("w+ $(($(jblk_in "$W/$name.img" $((k + 1))) + at + 2)) XY")
jops+=("W $(jblk_in "$W/$name.img" $((ntags + 2))) $W/$name.t2.$((ntags + 1))" "f")
jcheckpoint "$name"
jsuper "$name" 3 0 0 0x12
jops+=("f")
cp "$W/$name.img" "$W/$name-fixup"
tail_ops "$W/$name-fixup" "${jops[@]}"
cp "$W/$name-fixup" "$out/$name-fixup"

# Regression seeds: what the fuzzer found, as the simplest input that
# shows it (a tiny image and a tail).
# regress NAME BASE-SEED OPS...
regress() {
  cp "$W/$2.img" "$W/$1"
  tail_ops "$W/$1" "${@:3}"
  cp "$W/$1" "$out/$1"
}
seed tiny 64K 1024 "$small" -t ext4 -N 16
rm "$out/tiny"
# The superblock unreadable when the descriptors are re-read: the old
# handle stays (it was freed, and reconcile used a NULL one).
root=$(block_off "$W/tiny.img" / 1024)
regress regress-reopen-fails tiny "z 1024 1024" "w 2048 XY" "w $((root + 32)) XY" \
  "f" "f"

# Two more on a tiny ext2 image (no checksums to get past).
seed tiny2 64K 1024 "$small" -t ext2 -N 16
rm "$out/tiny2"
# A name with a NUL byte in it ("link" becomes "\0ink", then "xink"):
# the path it had was copied as a C string, shorter than its length.
root=$(block_off "$W/tiny2.img" / 1024)
name=$(dd if="$W/tiny2.img" bs=1024 skip=$((root / 1024)) count=1 status=none |
       LC_ALL=C grep -obUaP '\x04\x07link' | head -1 | cut -d: -f1)
regress regress-nul-in-name tiny2 "w $((root + name + 2)) \x00" "f" \
  "w $((root + name + 2)) x" "f"
# A directory named twice, the second time inside a directory of its
# own (/d/e/x2 is /d), then renamed (/D, the name its path takes), and
# both freed in one barrier: deleting /D/e emptied /D, which emptied
# /D/e again, and so on until the stack overflowed.
cp "$W/tiny2.img" "$W/loop.img"
debugfs -w -f - "$W/loop.img" > /dev/null 2>&1 <<EOF
mkdir /d/e
link /d /d/e/x2
EOF
name=$(dd if="$W/loop.img" bs=1024 skip=$((root / 1024)) count=1 status=none |
       LC_ALL=C grep -obUaP '\x01\x02d' | head -1 | cut -d: -f1)
regress regress-dir-loop-delete loop "w $((root + name + 2)) D" "f" \
  "z $(inode_off "$W/loop.img" "$(ino_of "$W/loop.img" /d)" 1024) 128" \
  "z $(inode_off "$W/loop.img" "$(ino_of "$W/loop.img" /d/e)" 1024) 128" "f"
# The same through the root, whose path is "/" whatever names it has:
# /d/x2 links the root (a name the crawl leaves out, taken when /d is
# read again), then the root and /d are freed in one barrier.
cp "$W/tiny2.img" "$W/root.img"
debugfs -w -R "link <2> /d/x2" "$W/root.img" > /dev/null 2>&1
dblk=$(block_off "$W/root.img" /d 1024)
regress regress-root-loop-delete root "w $dblk \x$(byte_at "$W/root.img" "$dblk")" "f" \
  "z $(inode_off "$W/root.img" 2 1024) 128" \
  "z $(inode_off "$W/root.img" "$(ino_of "$W/root.img" /d)" 1024) 128" "f"
# A loop of the names paths take: /a/b/x links /a, the newest name of
# /a and so the one its path takes, which goes through /a itself (no
# path for either).  Both freed in one barrier: deleting /a emptied
# /a/b, which deleted /a again from inside, a level deeper each time
# until the bound (1024), and each level deleted it once more on the
# way out (a rule fuzz-ext4 holds: no inode deleted twice).
# (An empty image of its own: tiny2's 16 inodes are all taken.)
truncate -s 64K "$W/pathloop.img"
mke2fs -q -F -b 1024 -N 16 -t ext2 "$W/pathloop.img"
debugfs -w -f - "$W/pathloop.img" > /dev/null 2>&1 <<EOF
mkdir /a
mkdir /a/b
link /a /a/b/x
EOF
regress regress-path-loop-delete pathloop \
  "z $(inode_off "$W/pathloop.img" "$(ino_of "$W/pathloop.img" /a)" 1024) 128" \
  "z $(inode_off "$W/pathloop.img" "$(ino_of "$W/pathloop.img" /a/b)" 1024) 128" "f"
# Indirect blocks that lead to one block over and over: /d (a directory)
# and /f share a triple-indirect tree whose every pointer, at every
# level, is the next block of 60..63, and 63 is an empty directory
# block.  The directory was read 16M times (a hang: now as far as its
# size), and every inode sharing the tree took a million ranges into
# the owner map (now the map stops at twice the blocks there are).
ptrs() { for _ in $(seq 256); do printf "$(le "$1" 4)"; done; }
{ ptrs 61; ptrs 62; ptrs 63; printf "$(le 0 4)$(le 1024 2)"; } |
  dd of="$W/tiny2.img" bs=1024 seek=60 conv=notrunc status=none
debugfs -w -f - "$W/tiny2.img" > /dev/null 2>&1 <<EOF
setb 60 4
sif /d block[TIND] 60
sif /f block[TIND] 60
EOF
regress regress-shared-indirect tiny2 "f" "o" "f"

# A write past the end of a file longer than a write event (1 MiB):
# /big's last extent is 1084 blocks, its size cut to 1 byte, and the
# extent zeroed.  Whether those bytes read as zeroes was read whole
# into a 1 MiB buffer (a heap overflow).  The one seed over 256 KiB:
# it takes a run of blocks over 1 MiB (its bytes compress to nothing).
b=$W/big
mkdir -p "$b"
yes x | head -c 1100K > "$b/big" || true
truncate -s 1280K "$W/big.img"
mke2fs -q -F -b 1024 -N 16 -t ext4 -O ^has_journal -d "$b" "$W/big.img"
debugfs -w -R "sif /big size 1" "$W/big.img" > /dev/null 2>&1
first=$(debugfs -R "ex /big" "$W/big.img" 2>/dev/null | awk '$11 > 1024 { print $8 }')
[ -n "$first" ] || { echo "no extent over 1 MiB in big" >&2; exit 1; }
ops=()
for i in $(seq 0 33); do ops+=("z $((first * 1024 + i * 32768)) 32768"); done
regress regress-long-write-past-eof big "${ops[@]}" "f"

# A superblock and descriptors rewritten for 4 KiB blocks on a 1 KiB
# file system whose journal is followed (an old descriptor block
# written as it was, so that they are read again), then a byte written
# to the journal's first block, by its number as a 4 KiB block: the new
# block size was taken, and the journal's 1 KiB buffers and images were
# copied 4 KiB at a time (a heap overflow).
b4=$W/bs4.img
truncate -s 256K "$b4"
mke2fs -q -F -b 1024 -N 16 -t ext2 "$b4"
add_journal "$b4"
jb=$(debugfs -R "bmap <8> 0" "$b4" 2>/dev/null)
[ "$jb" -lt 64 ] || { echo "bs4: journal at block $jb, past 256K in 4 KiB blocks" >&2; exit 1; }
# blocks count, free blocks, first data block, log block and cluster
# sizes, blocks and clusters per group; the descriptor at 4096: bitmaps
# at 2 and 3, the inode table at 4
regress regress-block-size-change bs4 "w $((1024 + 0x04)) $(le 64 4)" \
  "w $((1024 + 0x0c)) $(le 10 4)" "w $((1024 + 0x14)) $(le 0 4)" \
  "w $((1024 + 0x18)) $(le 2 4)" "w $((1024 + 0x1c)) $(le 2 4)" \
  "w $((1024 + 0x20)) $(le 32768 4)" "w $((1024 + 0x24)) $(le 32768 4)" \
  "w 2048 \x$(byte_at "$b4" 2048)" "w 4096 $(le 2 4)$(le 3 4)$(le 4 4)" "f" \
  "w $((jb * 4096)) x" "f"

# fuzz-ext4-live: the seeds but the one over 256 KiB, each with a byte
# (fuzz-ext4-live.c) that has the storage ahead by a few records and
# the exact view's bounds small (blocks give way); the journal's with
# the storage at each step of its transaction when the engine sees the
# one before.
# online NAME HOW...: NAME-HOW for each HOW (hex)
online() {
  local h
  for h in "${@:2}"; do
    { cat "$out/$1"; printf "\\x$h"; } > "$live/$1-$h"
  done
}
online ext2-1k 03
online ext3-1k 21
online ext3-journal 00 01 02 04 08 e5
online ext3-journal-open 00 02 e1
online ext3-journal-revoke 00 03
online ext4-1k 45
online ext4-default 02
online ext4-inline-data 63
online ext4-meta-bg 84
online ext4-1k-trim 00 23
online ext4-1k-loss 00 13 e4
online ext4-1k-fixup 00 03 e2
online ext4-1k-fixup-extent 00 03
online ext4-journal-csum-v3 00 02 e5
online ext4-journal-csum-v3-revoke 00 03
online ext4-journal-csum-v3-open 00 01
online ext4-journal-csum-v3-fixup 00 02
online ext4-journal-csum-v2 00 02
online ext4-journal-crc32 00 02
online ext4-no-csum-no-64bit 17
online regress-block-size-change 01
online regress-nul-in-name 02
online regress-reopen-fails 03
online regress-root-loop-delete 03
online regress-shared-indirect 01
# A directory whose every name is on its own path (/d is named x2 in
# /d/e, the path it takes), freed, read ahead of the rename that came
# before: /d emptied /d/e, which emptied /d again, and so on as deep
# as the nesting goes (1024), each a delete again.
online regress-dir-loop-delete 03

ls -l "$out" "$live"
du -cb "$out"/* "$live"/* | tail -1
