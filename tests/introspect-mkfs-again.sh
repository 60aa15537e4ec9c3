#!/bin/bash
# A guest makes a new file system over the one the introspector follows
# (mkfs.ext4 on the mounted-before device, through the proxy), with the
# same block size and with another one, then writes files in it: the
# introspector follows the new file system, and the files made in it
# have their events.  The same block size is followed as the changes
# mkfs makes (/old deleted); another one cannot be (the model is in
# blocks of the old size): the new file system is read anew, which a
# resync event says.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq

# again NAME BLOCK-SIZE: 4 KiB blocks first, then mkfs with BLOCK-SIZE.
again() {
  local name=$1 bs=$2 ev=$T/$1.jsonl
  truncate -s 64M "$T/$name.img"
  mkfs.ext4 -q -F -b 4096 "$T/$name.img"
  watch_mount "$name" "$T/$name.img" "$ev" --data=bytes:4096 --host lab \
    --vm vm1 --disk "$name"
  echo old > "$T/$name.mnt/old"
  umount "$T/$name.mnt"
  mkfs.ext4 -q -F -b "$bs" "$LOOP"
  # What the introspector makes of the mkfs, before the new file system
  # is used: read later, the storage would be ahead of the records (a
  # crawl then finds /new/file made, and it has no create event).
  if [ "$bs" = 4096 ]; then seen='"type":"delete","path":"/old"'; else seen='"type":"resync"'; fi
  for _ in $(seq 100); do grep -q "$seen" "$ev" && break; sleep 0.1; done
  grep -q "$seen" "$ev" || { cat "$T/$name.watch.err"; fail "$name: nothing made of mkfs -b $bs"; }
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
  # Nothing read from the new one's blocks with the old one's layout.
  ! grep -qx '\["delete","/"\]' "$T/$name.paths" || fail "$name: the root was deleted"
  grep -qx '\["create","/new/file"\]' "$T/$name.paths" ||
    { cat "$T/$name.watch.err"; tail -5 "$T/$name.paths"; fail "$name: no create of /new/file, made after mkfs -b $bs"; }
  [ "$(jq -r 'select(.type == "write" and .path == "/new/file") | .data | @base64d' "$ev")" = \
    "made after mkfs" ] || fail "$name: no write of /new/file with its bytes"
  if [ "$bs" = 4096 ]; then
    grep -qx '\["delete","/old"\]' "$T/$name.paths" || fail "$name: no delete of /old"
  else
    [ "$(jq -r 'select(.type == "resync") | .detail' "$ev")" = \
      "a new file system of another block size was made here (mkfs): it is read anew, and the files of the old one are gone" ] ||
      fail "$name: not one resync event that says the file system is new"
  fi
  say "$name: mkfs -b $bs followed: $(wc -l < "$ev") events"
}

again same 4096
again other 1024
