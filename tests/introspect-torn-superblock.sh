#!/bin/bash
# A superblock that did not land whole is not believed.  Live: the
# proxy in front of an ext4 image (metadata_csum, mke2fs's default),
# blockwatch watch on its tap, and superblocks written through the
# proxy's NBD export, each followed by a FLUSH (a barrier).  A torn
# write is the first half of a new superblock over the second half of
# the old one: what moved (mount count, state, the creation time that
# says a mkfs made the file system anew) with the old checksum.
#  - followed (4 KiB and 1 KiB blocks): first the kernel mounts and
#    unmounts it through the proxy (its mount and unmount events come);
#    then a torn write says it mounted, another that it was made anew:
#    neither makes an event (no mount, no resync, no second crawl), and
#    the log says once that the superblock fails its checksum; the
#    whole superblock written after is believed: a mount, then an
#    unmount, and the log says it holds again;
#  - lost (a stalled introspector, a small tap buffer): a torn write is
#    read, then the whole superblock is written while records are lost;
#    the barrier after the loss reads it again (the view reads the
#    storage then) and believes it: a mount; and without a torn one
#    first (lost_whole): the resync after lost records reads the
#    superblock too (what was lost may have written it);
#  - given up (--model-max): a torn write with another creation time,
#    then the same file system's superblock whole again (a mount): not
#    crawled again (libext2fs refuses the torn one, but taken as a new
#    file system it stopped being the one given up, and the whole one
#    after it was crawled, and given up, again); a whole superblock of
#    another creation time is crawled;
#  - given up while torn: a file system followed under --model-max
#    grows past it at a barrier whose superblock is torn (the files'
#    inodes and entries written with it): given up, and not crawled
#    again when the same superblock comes whole (known by the torn
#    superblock, which says nothing, it was taken for none given up:
#    the whole one after was crawled, and given up, again).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 dumpe2fs qemu-io python3 jq xargs

refused='the superblock fails its checksum'
again='the superblock holds its checksum again'
crawls() { grep -c 'ext2/3/4, [0-9]* inodes and [0-9]* names in use' "$T/$1.watch.err" || true; }

# craft IMAGE OUT MOUNTS STATE RECOVER MKFS CSUM: the primary superblock
# of IMAGE with its mount count raised by MOUNTS, its state STATE, the
# journal's needs_recovery flag RECOVER (0 or 1), its creation time
# raised by MKFS, and its checksum: "whole" (computed) or "torn" (the
# old one: the second half of the block not written).
craft() {
  python3 - "$@" << 'PY'
import struct, sys
img, out, mounts, state, recover, mkfs, csum = sys.argv[1:]
def crc32c(crc, data):        # as ext2fs_crc32c_le: no final inversion
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc
with open(img, 'rb') as f:
    f.seek(1024)
    sb = bytearray(f.read(1024))
assert struct.unpack_from('<H', sb, 0x38)[0] == 0xEF53, 'no ext4 magic'
assert struct.unpack_from('<I', sb, 0x3FC)[0] == crc32c(0xFFFFFFFF, sb[:0x3FC]), \
    'the checksum of the superblock as it is does not hold: not crc32c?'
struct.pack_into('<H', sb, 0x34, struct.unpack_from('<H', sb, 0x34)[0] + int(mounts))
struct.pack_into('<H', sb, 0x3A, int(state))
incompat = struct.unpack_from('<I', sb, 0x60)[0]
incompat = incompat | 4 if recover == '1' else incompat & ~4
struct.pack_into('<I', sb, 0x60, incompat)
struct.pack_into('<I', sb, 0x108, struct.unpack_from('<I', sb, 0x108)[0] + int(mkfs))
if csum == 'whole':
    struct.pack_into('<I', sb, 0x3FC, crc32c(0xFFFFFFFF, sb[:0x3FC]))
with open(out, 'wb') as f:
    f.write(sb)
PY
}

# put NAME FILE: FILE written as the primary superblock through proxy
# NAME, then a FLUSH.
put() {
  qemu-io -f raw -c "write -s $2 1024 1024" -c flush "$(uri_of "$1")" > "$T/qemu-io.out" 2>&1 ||
    { cat "$T/qemu-io.out"; fail "$1: cannot write the superblock through the proxy"; }
}

# ---- followed ----------------------------------------------------------
followed() {   # followed NAME MKFS-ARGS...
  local name=$1 img=$T/$1.img ev=$T/$1.jsonl got want; shift
  truncate -s 64M "$img"
  mkfs.ext4 -q -F "$@" "$img"
  dumpe2fs -h "$img" 2>/dev/null | grep_all -q '^Filesystem features:.*metadata_csum' ||
    fail "$name: mkfs.ext4 made no metadata_csum file system: nothing to check"
  watch_mount "$name" "$img" "$ev" --data=bytes:4096
  echo hello > "$T/$name.mnt/hello"
  umount "$T/$name.mnt"
  detach_loop "$name"
  # The kernel's unmount is on the image: the superblock to start from.
  craft "$img" "$T/$name.torn-mount" 1 0 1 0 torn
  craft "$img" "$T/$name.torn-mkfs" 0 1 0 4242 torn
  craft "$img" "$T/$name.mounted" 1 0 1 0 whole
  craft "$img" "$T/$name.clean" 1 1 0 0 whole
  put "$name" "$T/$name.torn-mount"
  put "$name" "$T/$name.torn-mkfs"
  put "$name" "$T/$name.torn-mount"
  put "$name" "$T/$name.mounted"
  put "$name" "$T/$name.clean"
  stop_proxy "$name"
  wait $watch_pid || { cat "$T/$name.watch.err"; fail "$name: watch failed"; }
  check_san_log "$T/$name.watch.err"
  jq -e . "$ev" > /dev/null || fail "$name: an event is not JSON"
  grep -qx '\["create","/hello"\]' <(jq -c 'select(.path != null) | [.type, .path]' "$ev") ||
    fail "$name: no create of /hello"
  # The kernel's mount and unmount (mount count 1), then those of the
  # whole superblocks (2); nothing of the torn ones.
  got=$(jq -r 'select(.type | test("mount|resync|overflow")) | "\(.type) \(.mount_count // "")"' "$ev" | tr '\n' ';')
  want='mount 1;unmount 1;mount 2;unmount 2;'
  [ "$got" = "$want" ] ||
    { cat "$T/$name.watch.err"; fail "$name: events '$got', not '$want'"; }
  [ "$(crawls "$name")" = 1 ] ||
    { cat "$T/$name.watch.err"; fail "$name: crawled again after a torn superblock"; }
  [ "$(grep -c "partition 0: $refused" "$T/$name.watch.err")" = 1 ] ||
    { cat "$T/$name.watch.err"; fail "$name: not said once that the superblock fails its checksum"; }
  [ "$(grep -c "partition 0: $again" "$T/$name.watch.err")" = 1 ] ||
    { cat "$T/$name.watch.err"; fail "$name: not said once that the superblock holds again"; }
  say "$name: torn superblocks not believed, whole ones are: $got"
}

followed b4k -b 4096
followed b1k -b 1024

# ---- lost --------------------------------------------------------------
# The file system in the first 32 MiB of the export; the writes that
# fill the tap's buffer go past it.  All records are 64 KiB writes, the
# superblock's too (the first 64 KiB of the disk as they are, the
# superblock in them whole): once one is dropped for want of room,
# every one after it is.
lost() {   # lost NAME torn|whole: a torn superblock read first, or not
  local name=$1
  truncate -s 64M "$T/$name.img"
  mkfs.ext4 -q -F -b 4096 "$T/$name.img" 32M
  "$BW" watch --json --once --storage "$T/$name.img" "unix:$T/$name.tap" \
    > "$T/$name.jsonl" 2> "$T/$name.watch.err" &
  watch_pid=$!
  register_pid $watch_pid
  wait_for 30 -S "$T/$name.tap" || { cat "$T/$name.watch.err"; fail "$name: watch did not start"; }
  start_proxy "$name" "$T/$name.img" tap=unix:"$T/$name.tap" tap-buffer=5M tap-overflow=drop
  craft "$T/$name.img" "$T/$name.sb" 1 0 1 0 whole
  dd if="$T/$name.img" of="$T/$name.head" bs=64k count=1 status=none
  dd if="$T/$name.sb" of="$T/$name.head" bs=1024 seek=1 conv=notrunc status=none
  if [ "$2" = torn ]; then
    craft "$T/$name.img" "$T/$name.torn" 1 0 1 0 torn
    put "$name" "$T/$name.torn"
    for _ in $(seq 300); do grep -q "$refused" "$T/$name.watch.err" && break; sleep 0.1; done
    grep -q "$refused" "$T/$name.watch.err" ||
      { cat "$T/$name.watch.err"; fail "$name: the torn superblock was not read"; }
  else
    # The crawl is over (the superblock it read is the old one) before
    # the watcher stalls.
    for _ in $(seq 300); do [ "$(crawls "$name")" = 1 ] && break; sleep 0.1; done
    [ "$(crawls "$name")" = 1 ] || { cat "$T/$name.watch.err"; fail "$name: no crawl"; }
  fi
  kill -STOP "$watch_pid"
  fill=()
  for i in $(seq 160); do fill+=(-c "write -P 0x5a $(((40 << 20) + i * 65536)) 64k"); done
  qemu-io -f raw "${fill[@]}" -c "write -s $T/$name.head 0 64k" -c flush "$(uri_of "$name")" \
    > "$T/qemu-io.out" 2>&1 || { tail "$T/qemu-io.out"; fail "$name: cannot write through the proxy"; }
  kill -CONT "$watch_pid"
  for _ in $(seq 300); do grep -q '"type":"overflow"' "$T/$name.jsonl" && break; sleep 0.1; done
  grep -q '"type":"overflow"' "$T/$name.jsonl" ||
    { cat "$T/$name.watch.err"; fail "$name: no overflow event: nothing was lost"; }
  qemu-io -f raw -c flush "$(uri_of "$name")" > "$T/qemu-io.out" 2>&1 || fail "$name: no flush"
  stop_proxy "$name"
  wait $watch_pid || { cat "$T/$name.watch.err"; fail "$name: watch failed"; }
  check_san_log "$T/$name.watch.err"
  grep -q 'dropping records' "$T/$name.log" || fail "$name: the proxy dropped no records"
  got=$(jq -r 'select(.type | test("mount")) | "\(.type) \(.mount_count)"' "$T/$name.jsonl" | tr '\n' ';')
  [ "$got" = 'mount 1;' ] ||
    { cat "$T/$name.watch.err"; fail "$name: events '$got', not the mount of the superblock written while records were lost"; }
}
lost lost torn
grep -q "partition 0: $again" "$T/lost.watch.err" ||
  { cat "$T/lost.watch.err"; fail "lost: not said that the superblock holds again"; }
say "lost: a torn superblock is read again after lost records, and the whole one believed"
lost lost_whole whole
say "lost_whole: a superblock written while records were lost is read at the resync after"

# ---- given up ----------------------------------------------------------
# A model of more than 1 MiB: 20,000 files (tests/introspect-model-max.sh).
mkdir -p "$T/tree"
(cd "$T/tree" && seq 20000 | sed 's/^/f/' | xargs touch)
truncate -s 64M "$T/big.img"
mkfs.ext4 -q -F -N 24000 -d "$T/tree" "$T/big.img"
# watch_max NAME: blockwatch watch of $T/NAME.img under a model-max of
# 1 MiB, behind proxy NAME.
watch_max() {
  "$BW" watch --json --once --storage "$T/$1.img" --model-max 1M \
    --stats-file "$T/$1.st" "unix:$T/$1.tap" > "$T/$1.jsonl" 2> "$T/$1.watch.err" &
  watch_pid=$!
  register_pid $watch_pid
  wait_for 30 -S "$T/$1.tap" || { cat "$T/$1.watch.err"; fail "$1: watch did not start"; }
  start_proxy "$1" "$T/$1.img" tap=unix:"$T/$1.tap"
}
watch_max big
craft "$T/big.img" "$T/big.torn" 0 1 0 4242 torn
craft "$T/big.img" "$T/big.same" 1 1 0 0 whole
craft "$T/big.img" "$T/big.new" 0 1 0 4343 whole
# handled NAME N: the introspector has handled N records (a write and a
# FLUSH each superblock): each is looked at before the next is written,
# which a storage ahead of the records would hide.
handled() {
  for _ in $(seq 300); do
    [ "$(awk '$1 == "tap.records" { print $2 }' "$T/$1.st" 2>/dev/null)" -ge "$2" ] 2>/dev/null && return
    sleep 0.1
  done
  cat "$T/$1.watch.err"; fail "$1: $2 records not handled"
}
put big "$T/big.torn"
handled big 2
put big "$T/big.same"
handled big 4
put big "$T/big.new"
stop_proxy big
wait $watch_pid || { cat "$T/big.watch.err"; fail "big: watch failed"; }
check_san_log "$T/big.watch.err"
# Given up at the crawl, and again after the crawl of the new file
# system, not after the torn superblock nor the same one whole again.
n=$(grep -c 'partition 0: this file system is no longer followed' "$T/big.watch.err" || true)
[ "$n" = 2 ] || { cat "$T/big.watch.err"; fail "big: given up $n times, not 2 (crawled again after the torn superblock?)"; }
[ "$(jq -c 'select(.type == "overflow")' "$T/big.jsonl" | wc -l)" = 2 ] ||
  { cat "$T/big.jsonl"; fail "big: not two overflow events"; }
say "big: a file system given up is not crawled again after a torn superblock, and is for a new file system"

# ---- given up while torn -------------------------------------------------
# Two images of one file system (one UUID, hash seed and creation time,
# so one layout): a few files, and the 20,000 of big.  The second is
# written over the first through the proxy, its superblock torn, then
# a FLUSH; then its superblock whole.
mkdir -p "$T/few"
touch "$T/few/a" "$T/few/b"
for v in few:few grown:tree; do
  E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -N 24000 -b 4096 \
    -U 6b3f2a04-93f8-4e5b-8c39-0d2f1c7e5a11 -E hash_seed=2d6c3b9a-1f4e-4a57-9e0b-7c8d5f3a2b61 \
    -d "$T/${v#*:}" "$T/${v%%:*}.img" 64M
done
watch_max few
for _ in $(seq 300); do [ "$(crawls few)" = 1 ] && break; sleep 0.1; done
[ "$(crawls few)" = 1 ] || { cat "$T/few.watch.err"; fail "few: not followed"; }
craft "$T/grown.img" "$T/grown.torn" 1 1 0 0 torn
craft "$T/grown.img" "$T/grown.whole" 1 1 0 0 whole
cp "$T/grown.img" "$T/grown.head"
dd if="$T/grown.torn" of="$T/grown.head" bs=1024 seek=1 conv=notrunc status=none
cmds=()
for i in $(seq 0 15); do
  dd if="$T/grown.head" of="$T/grown.$i" bs=4M skip=$i count=1 status=none
  cmds+=(-c "write -s $T/grown.$i $((i << 22)) 4M")
done
qemu-io -f raw "${cmds[@]}" -c flush "$(uri_of few)" > "$T/qemu-io.out" 2>&1 ||
  { tail "$T/qemu-io.out"; fail "few: cannot write through the proxy"; }
for _ in $(seq 300); do grep -q 'no longer followed' "$T/few.watch.err" && break; sleep 0.1; done
grep -q 'partition 0: this file system is no longer followed' "$T/few.watch.err" ||
  { cat "$T/few.watch.err"; fail "few: not given up when it grew past --model-max"; }
grep -q "partition 0: $refused" "$T/few.watch.err" ||
  { cat "$T/few.watch.err"; fail "few: the torn superblock was not read at the barrier"; }
records=$(awk '$1 == "tap.records" { print $2 }' "$T/few.st")
put few "$T/grown.whole"
handled few $((records + 2))
stop_proxy few
wait $watch_pid || { cat "$T/few.watch.err"; fail "few: watch failed"; }
check_san_log "$T/few.watch.err"
n=$(grep -c 'partition 0: this file system is no longer followed' "$T/few.watch.err" || true)
[ "$n" = 1 ] || { cat "$T/few.watch.err"; fail "few: given up $n times, not once (crawled again when its superblock came whole?)"; }
[ "$(crawls few)" = 1 ] || { cat "$T/few.watch.err"; fail "few: crawled again"; }
say "few: given up under a torn superblock, and not crawled again when it holds"
