#!/bin/bash
# Without a journal (ext2, here served by the kernel's ext4 driver), the
# kernel writes metadata blocks home in any order, and a barrier (FLUSH)
# can fall between any two of them.  The cases force one such order: a
# new file's inode reaches the disk before the directory entry that
# names it, and a barrier comes between.  An fsync of another file
# whose inode shares the new one's inode table block writes that block
# (the new inode in it, as it is then) and flushes, without the new
# file's directory (its parent is not new: nothing else is synced).  The
# new file is then changed (appended to, chmod, chown; or shrunk), and
# a sync writes its name.  The file is created at that barrier, the
# create saying the inode as it is then, and the events must fit the
# tree before them (event-tree --strict): no change from the state of
# the earlier barrier, which no event said.  (introspect-kernel-ext4's
# ext2 variant met it by chance: "/many/file-255: size was 4/4, the
# event says from 0/0".)
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 debugfs python3 jq

truncate -s 256M "$T/disk.img"
# 4 KiB blocks: 16 inodes of 256 bytes a block, so that a directory, its
# subdirectory and their files made one after the other share one.
mkfs.ext4 -q -F -t ext2 -b 4096 -I 256 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
mkdir -p "$T/mnt" "$T/base" "$T/final"
start_proxy p "$T/disk.img" tap=record:"$T/trace.bw"
attach_loop p
mount -t ext2 "$LOOP" "$T/mnt"
register_mount "$T/mnt"

py() { python3 -c "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); $1" "${@:2}"; }
fsync() { py 'os.fsync(os.open(sys.argv[1], os.O_RDONLY))' "$1"; }
# written FILE: its data written home (block allocated, size on the
# inode in memory), nothing else synced.
written() {
  py 'libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_long, ctypes.c_uint]
sys.exit(libc.sync_file_range(os.open(sys.argv[1], os.O_WRONLY), 0, 0, 7) != 0)' "$1"
}
ino() { stat -c %i "$1"; }
# on_disk INODE: "LINKS SIZE" of the inode as the image has it now.
on_disk() {
  debugfs -R "stat <$1>" "$T/disk.img" 2>/dev/null |
    awk '/^Links:/ { l = $2 } /Size: [0-9]/ && !s { s = $NF } END { print l, s }'
}

# case NAME SET-UP BEFORE AFTER: in directory $T/mnt/NAME ($d), whose
# s/y is made and fsynced (its parents too, once) by the set-up; BEFORE
# makes the file x, whose inode s/y's fsync writes; AFTER changes it.
# What the disk has between the two is printed as "LINKS SIZE NAMES".
case_() {
  local d=$T/mnt/$1
  mkdir -p "$d/s"
  (cd "$d" && echo y > s/y && eval "$2") || fail "$1: set-up"
  fsync "$d/s/y"
  sync
  (cd "$d" && eval "$3") || fail "$1: before"
  touch "$d/s/y"
  fsync "$d/s/y"
  # Right after the barrier: nothing has written since (the kernel's
  # write-back waits 30 s for a block dirtied now).
  echo "$(on_disk "$(ino "$d/x")") $(debugfs -R "ncheck $(ino "$d/x")" "$T/disk.img" 2>/dev/null | grep -c /x)" \
    > "$T/$1.between"
  [ "$(debugfs -R "imap <$(ino "$d/x")>" "$T/disk.img" 2>/dev/null | grep located | cut -d, -f1)" = \
    "$(debugfs -R "imap <$(ino "$d/s/y")>" "$T/disk.img" 2>/dev/null | grep located | cut -d, -f1)" ] ||
    fail "$1: x and s/y are not in one inode table block"
  (cd "$d" && eval "$4") || fail "$1: after"
  sync
}

# A new empty file, then appended to, its mode and owner changed.
case_ grown '' 'touch x' 'echo data >> x; chmod 600 x; chown 1234:5678 x'
# A new file of 3 blocks (written home, its size on its inode), then
# shrunk into its first block.
case_ shrunk '' 'head -c 12000 /dev/urandom > x; written x' 'truncate -s 1000 x'

umount "$T/mnt"
detach_loop p
stop_proxy p

# Each case made the order it is about: the new inode on the disk, its
# size as then, without a name.
[ "$(cat "$T/grown.between")" = "1 0 0" ] ||
  fail "grown: the disk had '$(cat "$T/grown.between")' (links size names) after the barrier, not '1 0 0'"
[ "$(cat "$T/shrunk.between")" = "1 12000 0" ] ||
  fail "shrunk: the disk had '$(cat "$T/shrunk.between")' (links size names) after the barrier, not '1 12000 0'"

"$BW" replay --json --data=bytes:1048576 "$T/base.img" "$T/trace.bw" \
  > "$T/events.jsonl" 2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay failed"; }
check_san_log "$T/replay.err"
mount -o ro,loop "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" \
  "$T/events.jsonl" > "$T/oracle.out" 2>&1 ||
  { head -30 "$T/oracle.out"; fail "the events do not replay onto the image"; }
# The creates say the files as they are (the oracle compares what
# follows them with the tree).
created() {   # created NAME JQ-CONDITION
  jq -n -e --arg p "/$1/x" "[inputs | select(.type == \"create\" and .path == \$p and $2)] | length == 1" \
    "$T/events.jsonl" > /dev/null || fail "$1: no create of x as it is ($2)"
}
created grown '.size == 5 and .mode == "0100600" and .uid == 1234 and .gid == 5678'
created shrunk '.size == 1000'
say "$(tail -1 "$T/oracle.out")"
