# The file-system workload the introspector tests run through the real
# kernel driver: every kind of change an event describes.  Sourced.

workload() {   # workload MOUNTPOINT
  local m=$1 i
  mkdir -p "$m/etc" "$m/var/log" "$m/home/u/docs" "$m/tmp"
  for i in $(seq 20); do echo "setting $i = $RANDOM" > "$m/etc/conf$i"; done
  echo "older" > "$m/etc/chain-b"
  echo "newer" > "$m/etc/chain-a"
  echo "left" > "$m/etc/swap-l"
  echo "right" > "$m/etc/swap-r"
  head -c 300000 /dev/urandom > "$m/home/u/blob"
  sync
  # appends, overwrites, truncation and regrowth
  for i in $(seq 50); do echo "line $i" >> "$m/var/log/app.log"; done
  printf 'XXXX' | dd of="$m/home/u/blob" bs=1 seek=1000 conv=notrunc status=none
  truncate -s 100000 "$m/home/u/blob"
  truncate -s 120000 "$m/home/u/blob"
  truncate -s 5000 "$m/etc/conf3"
  sync
  # renames within and across directories, save-by-rename, links
  mv "$m/etc/conf1" "$m/etc/conf1.old"
  mv "$m/etc/conf2" "$m/home/u/docs/conf2"
  mv "$m/etc/chain-b" "$m/etc/chain-c"          # a chain: b -> c, then a -> b
  mv "$m/etc/chain-a" "$m/etc/chain-b"
  mv "$m/etc/swap-l" "$m/etc/swap-tmp"          # a swap: a cycle of renames
  mv "$m/etc/swap-r" "$m/etc/swap-l"
  mv "$m/etc/swap-tmp" "$m/etc/swap-r"
  echo "new version" > "$m/etc/conf4.tmp" && mv "$m/etc/conf4.tmp" "$m/etc/conf4"
  ln "$m/etc/conf5" "$m/home/u/conf5.hard"
  ln "$m/etc/conf15" "$m/tmp/conf15.hard"
  ln -s ../etc/conf6 "$m/tmp/conf6.link"
  ln -s "$(printf 'x%.0s' $(seq 100))" "$m/tmp/long.link"
  mkdir "$m/tmp/gone"; rmdir "$m/tmp/gone"
  sync
  # ownership, permissions, times
  chmod 600 "$m/etc/conf7"
  chown 1234:5678 "$m/etc/conf8"
  chown 70000:80000 "$m/etc/conf9"
  touch -d '2001-02-03 04:05:06.123456789' "$m/etc/conf10"
  sync
  # a large, fragmented file: extent tree of depth >= 1
  for i in $(seq 0 2 400); do
    dd if=/dev/urandom of="$m/home/u/frag" bs=4k seek=$i count=1 conv=notrunc status=none
  done
  # preallocated (unwritten) extents, partly written; a sparse file
  fallocate -l 1M "$m/home/u/prealloc" 2>/dev/null || truncate -s 1M "$m/home/u/prealloc"  # ext2/3: no extents
  printf 'written into an unwritten extent' | dd of="$m/home/u/prealloc" bs=1 seek=5000 conv=notrunc status=none
  dd if=/dev/urandom of="$m/home/u/sparse" bs=4k seek=300 count=2 status=none
  # a written range zeroed by making its blocks unwritten (ext4 only)
  head -c 65536 /dev/urandom > "$m/home/u/zeroed"
  sync
  fallocate -z -o 4000 -l 50000 "$m/home/u/zeroed" 2>/dev/null || true
  # many files in one directory (htree), then deletes and inode reuse
  mkdir "$m/many"
  for i in $(seq 1500); do echo "$i" > "$m/many/file-$i"; done
  mkdir -p "$m/tmp/tree/sub"
  for i in $(seq 5); do echo "$i" > "$m/tmp/tree/t$i"; echo "$i" > "$m/tmp/tree/sub/s$i"; done
  sync
  # (conf15: an inode losing both its names in one barrier)
  rm -f "$m"/many/file-1?? "$m/etc/conf11" "$m/etc/conf12" "$m/etc/conf15" "$m/tmp/conf15.hard"
  rm -r "$m/tmp/tree"           # a directory with what it holds, at once
  for i in $(seq 30); do echo "reuse $i" > "$m/tmp/reuse-$i"; done
  sync
  # a file removed while open: freed at its close, nameless by then
  exec 3> "$m/tmp/open-unlinked"
  echo "still open" >&3
  sync
  rm "$m/tmp/open-unlinked"
  sync
  exec 3>&-
  sync
}


# watch_workload NAME STORAGE [WORKLOAD]: blockwatch watch reads STORAGE
# (a path or a URI, as the plugin's backend takes it) and takes the tap
# of a proxy in front of the same STORAGE, while the kernel's ext4 runs
# WORKLOAD (a function given the mount point; default workload) through
# the proxy.  STORAGE must hold an ext4 file system; the events go to
# $T/NAME.jsonl.  WATCH_ARGS (an array) are more options for watch.
watch_workload() {
  local name=$1 storage=$2
  watch_mount "$name" "$storage" "$T/$name.jsonl" --data=bytes:1048576 \
    --host lab --vm vm1 --disk "$name" ${WATCH_ARGS[@]+"${WATCH_ARGS[@]}"}
  "${3:-workload}" "$T/$name.mnt"
  umount "$T/$name.mnt"
  detach_loop "$name"
  stop_proxy "$name"
  wait $watch_pid || { cat "$T/$name.watch.err"; fail "watch on $storage failed"; }
  check_san_log "$T/$name.watch.err"
  grep -q "\"host\":\"lab\",\"vm\":\"vm1\",\"disk\":\"$name\"" "$T/$name.jsonl" ||
    fail "$name: the events do not name host, vm and disk"
}

# watch_mount NAME STORAGE OUT [WATCH-ARGS...]: blockwatch watch --json
# --once on the tap of a proxy of STORAGE (the events to OUT, stderr to
# $T/NAME.watch.err, its pid in watch_pid), the proxy attached (nbdfuse
# + loop) and mounted on $T/NAME.mnt.
watch_mount() {
  local name=$1 storage=$2 out=$3; shift 3
  "$BW" watch --json --once --storage "$storage" "$@" "unix:$T/$name.tap" \
    > "$out" 2> "$T/$name.watch.err" &
  watch_pid=$!
  register_pid $watch_pid
  wait_for 30 -S "$T/$name.tap" || { cat "$T/$name.watch.err"; fail "watch on $storage did not start"; }
  start_proxy "$name" "$storage" tap=unix:"$T/$name.tap"
  attach_loop "$name"
  mkdir -p "$T/$name.mnt"
  mount "$LOOP" "$T/$name.mnt"
  register_mount "$T/$name.mnt"
}

# check_events NAME BASE_IMAGE FINAL_IMAGE: the events in $T/NAME.jsonl,
# applied to the tree of BASE_IMAGE, rebuild the tree of FINAL_IMAGE,
# content included (tests/tools/event-tree is the oracle).
check_events() {
  local name=$1
  mkdir -p "$T/$name.base" "$T/$name.final"
  mount -o ro,loop,noload "$2" "$T/$name.base"; register_mount "$T/$name.base"
  mount -o ro,loop,noload "$3" "$T/$name.final"; register_mount "$T/$name.final"
  "$BW_BUILD/tests/event-tree" --base "$T/$name.base" --check "$T/$name.final" \
    "$T/$name.jsonl" > "$T/$name.oracle" 2>&1 ||
    { head -30 "$T/$name.oracle"; fail "$name: the events do not rebuild the final tree"; }
  say "$name: $(tail -1 "$T/$name.oracle")"
}
