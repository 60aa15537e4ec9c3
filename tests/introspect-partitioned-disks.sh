#!/bin/bash
# The introspector on partitioned disks, against the real Linux ext4
# driver.  An MBR disk (ext3 on a primary, ext4 and ext2 on logical
# partitions of the EBR chain) and a GPT disk (two ext4 with different
# feature sets; 1k, 2k and 4k blocks among them all) are served through the plugin with the tap recording;
# each file system is mounted (a loop device with the partition's
# offset over the nbdfuse file) and gets the workload.  Then, with the
# proxy still running, the table changes: a logical partition (a new
# EBR) or a GPT entry is added through the whole-disk loop device, in
# the same batch as an in-place write to a file of partition 1; the new
# partition is made ext4 through the proxy, mounted and given the
# workload too.  The trace is replayed and, per partition, the tree
# rebuilt from that partition's events must equal its final file
# system: an event under the wrong `part` breaks two partitions.  The
# table change must be a `partition` event, must not lose the file
# events of its batch, and the new file system must be watched from
# then on.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit sfdisk sgdisk partx mkfs.ext4 e2fsck debugfs

. "$(dirname "$0")/workload.sh"

# part_of FILE N: the byte offset and size of partition N, as the table
# in FILE says (partx reads MBR, EBR chain and GPT; images have
# 512-byte sectors).  Sets off and size.
part_of() {
  local r
  r=$(partx -g -b -o START,SIZE -n "$2" "$1") || fail "no partition $2 in $1"
  set -- $r
  off=$(($1 * 512)) size=$2
}

mkfs_part() {   # mkfs_part IMAGE N MKFS-OPTIONS...
  local img=$1 n=$2; shift 2
  part_of "$img" "$n"
  mkfs.ext4 -q -F -E offset="$off" "$@" "$img" $((size / 1024))k ||
    fail "mkfs $* on partition $n"
}

# extract IMAGE N OUT: partition N of IMAGE as a file of its own
extract() {
  part_of "$1" "$2"
  dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$off" \
    count="$size" conv=sparse status=none
}

mount_ro() {   # an image, read-only, without replaying any journal
  mount -o ro,loop,noload "$1" "$2" 2>/dev/null || mount -o ro,loop "$1" "$2"
  register_mount "$2"
}

# use_part DISK N: mount partition N of the proxied disk (a loop device
# with its offset over the nbdfuse file), run the workload, unmount.
# losetup, not mount -o loop: mount refuses a loop device that overlaps
# the whole-disk one.
use_part() {
  local m=$v/mnt$2 l
  part_of "$1" "$2"
  mkdir -p "$m"
  l=$(losetup -f --show -o "$off" --sizelimit "$size" "$1")
  register_loop "$l"
  mount "$l" "$m"
  register_mount "$m"
  workload "$m"
  umount "$m"
  losetup -d "$l"
}

# check_part N [BASE-IMAGE]: partition N's events rebuild its final tree
check_part() {
  local n=$1 base=${2:-}
  mkdir -p "$v/base$n" "$v/final$n"
  [ -n "$base" ] || { base=$v/base$n.img; extract "$v/base.img" "$n" "$base"; }
  extract "$v/disk.img" "$n" "$v/final$n.img"
  e2fsck -fn "$v/final$n.img" > "$v/e2fsck$n.log" 2>&1 ||
    { cat "$v/e2fsck$n.log"; fail "$name: e2fsck of partition $n"; }
  mount_ro "$base" "$v/base$n"
  mount_ro "$v/final$n.img" "$v/final$n"
  "$BW_BUILD/tests/event-tree" --part "$n" --base "$v/base$n" \
    --check "$v/final$n" "$v/events.jsonl" > "$v/oracle$n.out" 2>&1 ||
    { head -40 "$v/oracle$n.out"; fail "$name: partition $n's events do not rebuild its tree"; }
  umount "$v/base$n" "$v/final$n"
  say "$name, partition $n: $(tail -1 "$v/oracle$n.out")"
}

# run_disk TABLE MAKE-DISK ADD-PART NEW PARTS...: MAKE-DISK IMAGE makes
# a TABLE (mbr, gpt) and the file systems on PARTS; ADD-PART DEVICE
# adds partition NEW to the table.
run_disk() {
  name=$1 v=$T/$1
  local table=$1 make=$2 add=$3 new=$4 p=p$1 fuse n blk bs; shift 4
  mkdir -p "$v"
  $make "$v/disk.img"
  cp --sparse=always "$v/disk.img" "$v/base.img"
  start_proxy "$p" "$v/disk.img" tap=record:"$v/trace.bw"
  attach_loop "$p"
  fuse=$T/$p.fuse/nbd
  for n in "$@"; do use_part "$fuse" "$n"; done

  # One batch: bytes of a file on partition 1 written in place (through
  # the nbdfuse file, not flushed), then the table change, which sfdisk
  # and sgdisk end with a flush.
  part_of "$fuse" 1
  blk=$(debugfs -R "bmap /home/u/blob 0" "$fuse?offset=$off" 2>/dev/null)
  [ "$blk" -gt 0 ] 2>/dev/null || fail "$name: no block for /home/u/blob"
  bs=$(debugfs -R "stats" "$fuse?offset=$off" 2>/dev/null | awk '/^Block size:/ { print $3 }')
  head -c 512 /dev/urandom > "$v/inplace.bin"
  dd if="$v/inplace.bin" of="$fuse" bs=512 seek=$(((off + blk * bs) / 512)) conv=notrunc status=none
  $add "$(eval echo "\$${p}_loop")" > "$v/add.log" 2>&1 || { cat "$v/add.log"; fail "$name: table change"; }

  # The new partition: ext4 made through the proxy (its state then is
  # what the introspector starts from), then the workload.
  mkfs_part "$fuse" "$new"
  extract "$fuse" "$new" "$v/base$new.img"
  use_part "$fuse" "$new"

  detach_loop "$p"
  stop_proxy "$p"
  "$BW" replay --json --data=bytes:1048576 "$v/base.img" "$v/trace.bw" \
    > "$v/events.jsonl" 2> "$v/replay.err" || { cat "$v/replay.err"; fail "$name: replay failed"; }
  check_san_log "$v/replay.err"

  for n in "$@"; do check_part "$n"; done
  check_part "$new" "$v/base$new.img"
  check_events "$table" "$new" "$@"
}

# check_events TABLE NEW PARTS...: what the per-partition oracle does
# not see.  (No grep -q at the end of a pipe: under pipefail, the
# writer's SIGPIPE would fail the check.)
check_events() {
  local table=$1 new=$2 want got pev pseq b64; shift 2
  # Every file event belongs to one of the partitions, and each has some.
  want=$(printf '%s\n' "$@" "$new" | sort -n | xargs)
  got=$(grep -v '"type":"partition"' "$v/events.jsonl" |
          grep -o '"part":[0-9]*' | cut -d: -f2 | sort -nu | xargs)
  [ "$got" = "$want" ] || fail "$name: events of partitions '$got', expected '$want'"
  # The table change: one event, table-wide, naming what came.
  pev=$(grep '"type":"partition"' "$v/events.jsonl") || fail "$name: no partition event"
  [ "$(echo "$pev" | wc -l)" = 1 ] || fail "$name: more than one partition event: $pev"
  [[ $pev == *'"part":0,"type":"partition","detail":"'"$table, $(($# + 1)) partitions; added $new\"}" ]] ||
    fail "$name: partition event: $pev"
  # The in-place write of its batch was not lost in the table change:
  # its bytes are in a write event of partition 1 (510 bytes: a whole
  # number of base64 groups, a prefix of the event's data).
  pseq=$(echo "$pev" | grep -o '"seq":[0-9]*' | cut -d: -f2)
  b64=$(head -c 510 "$v/inplace.bin" | base64 -w0)
  grep -F "\"part\":1,\"type\":\"write\",\"path\":\"/home/u/blob\",\"inode\":" "$v/events.jsonl" |
    grep -F "\"offset\":0," | grep -F "\"data\":\"$b64" > /dev/null ||
    fail "$name: the write to partition 1 in the table change's batch is missing"
  # The new file system's events all come after the change, and some
  # are the workload's.
  grep "\"part\":$new," "$v/events.jsonl" | grep -o '"seq":[0-9]*' | cut -d: -f2 |
    awk -v p="$pseq" '$1 < p { bad = 1 } END { exit bad }' ||
    fail "$name: events of partition $new before the table had it"
  grep -q "\"part\":$new,\"type\":\"create\",\"path\":\"/many/file-1500\"" "$v/events.jsonl" ||
    fail "$name: the new file system's files were not seen"
}

mbr_disk() {
  truncate -s 256M "$1"
  sfdisk -q "$1" <<EOF || fail "sfdisk"
label: dos
start=1MiB, size=56MiB, type=83
type=5
size=64MiB, type=83
size=48MiB, type=83
EOF
  mkfs_part "$1" 1 -t ext3
  mkfs_part "$1" 5 -t ext4 -b 2048
  mkfs_part "$1" 6 -t ext2
}
# a logical partition in the rest of the extended one: a new EBR, and
# the link to it in partition 6's
mbr_add() { echo 'type=83' | sfdisk --append --no-reread --no-tell-kernel "$1"; }

gpt_disk() {
  truncate -s 200M "$1"
  sgdisk -n 1:0:+64M -n 2:0:+64M "$1" > /dev/null || fail "sgdisk"
  mkfs_part "$1" 1 -t ext4 -b 4096
  mkfs_part "$1" 2 -t ext4 -b 1024 -O ^64bit,^metadata_csum
}
gpt_add() { sgdisk -n 3:0:0 "$1"; }

run_disk mbr mbr_disk mbr_add 7 1 5 6
run_disk gpt gpt_disk gpt_add 3 1 2
say "ok"
