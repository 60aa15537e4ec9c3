#!/bin/bash
# A guest makes a new file system over the one the introspector follows
# (mkfs.ext4 on the mounted-before device, through the proxy), with the
# same block size and with another one, then writes files in it: the
# introspector follows the new file system, and the files made in it
# have their events.  Whatever its block size, a new file system (a new
# creation time or hash seed in the superblock) is read anew, which a
# resync event says: the old one's files are gone without events of
# their own (no deletes, no inode numbers of the new one taken for the
# old files).  A new UUID alone (tune2fs -U, which rewrites checksums
# and keeps every inode) is the same file system, followed as changes;
# its superblock holds its checksum (not seeded by the UUID).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 e2fsck tune2fs jq

# new_uuid DEVICE: tune2fs -U, which wants a file system checked since
# its last mount (metadata_csum: every checksum is rewritten).
new_uuid() { e2fsck -fp "$1" > /dev/null && tune2fs -U random "$1" > /dev/null; }

# again NAME COMMAND...: 4 KiB blocks first, then COMMAND on the device.
again() {
  local name=$1 ev=$T/$1.jsonl crawls; shift
  truncate -s 64M "$T/$name.img"
  mkfs.ext4 -q -F -b 4096 "$T/$name.img"
  watch_mount "$name" "$T/$name.img" "$ev" --data=bytes:4096 --host lab \
    --vm vm1 --disk "$name"
  echo old > "$T/$name.mnt/old"
  umount "$T/$name.mnt"
  "$@" "$LOOP" || fail "$name: $*"
  # What the introspector makes of the mkfs, before the new file system
  # is used: read later, the storage would be ahead of the records (a
  # crawl then finds /new/file made, and it has no create event).
  if [ "$1" = mkfs.ext4 ]; then
    for _ in $(seq 100); do grep -q '"type":"resync"' "$ev" && break; sleep 0.1; done
    grep -q '"type":"resync"' "$ev" || { cat "$T/$name.watch.err"; fail "$name: no resync after $*"; }
  fi
  mount "$LOOP" "$T/$name.mnt"
  mkdir "$T/$name.mnt/new"
  echo "made after mkfs" > "$T/$name.mnt/new/file"
  umount "$T/$name.mnt"
  detach_loop "$name"
  stop_proxy "$name"
  wait $watch_pid || { cat "$T/$name.watch.err"; fail "$name: watch failed"; }
  check_san_log "$T/$name.watch.err"
  jq -e . "$ev" > /dev/null || fail "$name: an event is not JSON"
  jq -c 'select(.path != null) | [.type, .path]' "$ev" > "$T/$name.paths"
  grep -qx '\["create","/old"\]' "$T/$name.paths" || fail "$name: no create of /old"
  # Nothing of the old file system is deleted: /old went with it (a
  # mkfs), or stays (tune2fs -U); and nothing is read from the new one's
  # blocks with the old one's layout (that made 'delete /').
  ! jq -r .type "$ev" | grep -qx delete ||
    { grep delete "$T/$name.paths" | head -5; fail "$name: delete events after $*"; }
  grep -qx '\["create","/new/file"\]' "$T/$name.paths" ||
    { cat "$T/$name.watch.err"; tail -5 "$T/$name.paths"; fail "$name: no create of /new/file, made after $*"; }
  [ "$(jq -r 'select(.type == "write" and .path == "/new/file") | .data | @base64d' "$ev")" = \
    "made after mkfs" ] || fail "$name: no write of /new/file with its bytes"
  # Each crawl says what it found: the first one, before /old, and one
  # after a mkfs the same (the root, lost+found and the journal, which
  # is followed for its blocks); the old tree would have /old too.
  crawls=$(grep -o 'ext2/3/4, [0-9]* inodes and [0-9]* names' "$T/$name.watch.err" | tr '\n' ';')
  if [ "$1" = mkfs.ext4 ]; then
    [ "$(jq -r 'select(.type == "resync") | .detail' "$ev")" = \
      "a new file system was made here (mkfs): it is read anew, and the files of the old one are gone" ] ||
      fail "$name: not one resync event that says the file system is new"
    [ "$crawls" = "ext2/3/4, 3 inodes and 1 names;ext2/3/4, 3 inodes and 1 names;" ] ||
      { cat "$T/$name.watch.err"; fail "$name: not a crawl of the new file system after $* (crawls: $crawls)"; }
    # A mkfs is nothing alarming: its wiped superblock is said as such
    # (not as a layout kept that may make events wrong), and its
    # journal superblock, rewritten several times, at most once.
    ! grep -q "the layout read before is kept" "$T/$name.watch.err" ||
      { cat "$T/$name.watch.err"; fail "$name: the mkfs said as a broken layout"; }
    [ "$(grep -c "journal superblock: no journal superblock" "$T/$name.watch.err")" -le 1 ] ||
      { cat "$T/$name.watch.err"; fail "$name: the mkfs's journal superblock said more than once"; }
    # The new file system's events come after the resync that starts it.
    [ "$(jq -r 'select(.type == "resync" or .path == "/new/file") | .type' "$ev" | head -1)" = resync ] ||
      fail "$name: events of /new/file before the resync"
  else
    ! grep -q '"type":"resync"' "$ev" || fail "$name: a resync after $*: followed anew, not as changes"
    [ "$crawls" = "ext2/3/4, 3 inodes and 1 names;" ] ||
      { cat "$T/$name.watch.err"; fail "$name: crawled again after $* (crawls: $crawls)"; }
    # The superblock's checksum is not seeded by the UUID: the new one
    # holds it, and is not taken for a torn write.
    ! grep -q "the superblock fails its checksum" "$T/$name.watch.err" ||
      { cat "$T/$name.watch.err"; fail "$name: the superblock after $* taken for a torn one"; }
  fi
  say "$name: $* followed: $(wc -l < "$ev") events"
}

again same mkfs.ext4 -q -F -b 4096
again other mkfs.ext4 -q -F -b 1024
again uuid new_uuid
