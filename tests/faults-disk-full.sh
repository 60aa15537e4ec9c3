#!/bin/bash
# The storage fills up under the whole appliance (blockwatchd, MQTT/TLS,
# the tenant): the disk's backing file lives on a small tmpfs, and the
# kernel's ext4 on it believes it has far more room than the tmpfs has.
#  - the backend's ENOSPC reaches the guest as failed writes (not as
#    success, not as a hang), and is counted and logged;
#  - nothing the backend refused is tapped: the events rebuild the final
#    image exactly, data included (a refused write reported as written
#    would show as content the image does not have);
#  - what the guest was told was written is on the storage;
#  - once there is room again, the guest writes on and fio verifies;
#  - the plugin alone, recording its tap: a write the full tmpfs refuses
#    fails with ENOSPC and leaves no record, the one before it does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/faults-lib.sh"
require dumpe2fs fallocate qemu-io

fault_broker
tenant
mkdir "$T/small"
mount -t tmpfs -o size=40M tmpfs "$T/small"
register_mount "$T/small"
truncate -s 128M "$T/small/a.img"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$T/small/a.img"
# mkfs leaves its zeroed metadata (inode tables, journal) as holes; give
# every block in use room on the tmpfs, so that only data runs out of
# space, as it would on a thin-provisioned volume that ext4's own
# metadata already sits on.
dumpe2fs "$T/small/a.img" 2>/dev/null | awk '
  function flush(   i, n, a, b, r) {
    if (first == "") return
    n = split(free, f, ", ")
    at = first
    for (i = 1; i <= n; i++) {
      if (f[i] == "") continue
      split(f[i], r, "-"); a = r[1]; b = (2 in r) ? r[2] : r[1]; delete r
      if (a > at) print at, a - at
      at = b + 1
    }
    if (last >= at) print at, last - at + 1
    first = ""
  }
  /^Group [0-9]+: \(Blocks / { flush(); split($4, r, "[-)]"); first = r[1]; last = r[2]; free = "" }
  /^  Free blocks: / { free = substr($0, 16) }
  END { flush() }' | while read -r start count; do
  fallocate -o $((start * 4096)) -l $((count * 4096)) "$T/small/a.img"
done
cp --sparse=always "$T/small/a.img" "$T/a-base.img"
say "metadata: $(du -k "$T/small/a.img" | cut -f1) KiB on the tmpfs"

fault_config -- "$(fault_disk a "$T/small/a.img")"
start_daemon a
mount_disk a
mkdir "$T/a.mnt/full" "$T/a.mnt/after"
for i in $(seq 12); do : > "$T/a.mnt/full/f$i"; done
sync
# Leave 6 MiB on the tmpfs.
avail=$(df -B1 --output=avail "$T/small" | tail -1)
fallocate -l $((avail - 6 * 1024 * 1024)) "$T/small/ballast"
head -c 1M /dev/urandom > "$T/src"

ok=() failed=0
for i in $(seq 12); do
  if dd if="$T/src" of="$T/a.mnt/full/f$i" bs=256k oflag=direct conv=notrunc,fsync \
      status=none 2> "$T/dd.err"; then
    ok+=("$i")
  else
    failed=$((failed + 1))
    [ $failed != 1 ] || say "f$i: $(head -1 "$T/dd.err")"
    grep -q "Input/output error\|No space left on device" "$T/dd.err" ||
      fail "f$i: not an I/O error: $(cat "$T/dd.err")"
  fi
done
[ "$failed" -gt 0 ] || fail "no write failed: the tmpfs did not fill up"
[ "${#ok[@]}" -gt 0 ] || fail "every write failed"
say "storage full: ${#ok[@]} files written, $failed writes failed"
sleep 1.2
[ "$(metric 'blockwatch_nbd_failed_requests_total{disk="a",op="write"}')" -gt 0 ] ||
  fail "no failed write counted"
grep -q "No space left on device" "$T/daemon.log" || fail "nbdkit did not log ENOSPC"

# Room again: the guest writes on.
rm "$T/small/ballast"
for i in $(seq 10); do echo "after $i" > "$T/a.mnt/after/s$i"; done
cp "$T/src" "$T/a.mnt/after/big"
fio_verify "$T/a.mnt/after/fio.dat" 4M
umount_disk a
settle a
cp --sparse=always "$T/small/a.img" "$T/a.img"
check_gaps a
check_tree a base
mkdir "$T/a.check"
mount -o ro,loop "$T/a.img" "$T/a.check"; register_mount "$T/a.check"
for i in "${ok[@]}"; do cmp "$T/src" "$T/a.check/full/f$i" || fail "full/f$i, written, differs on the storage"; done
cmp "$T/src" "$T/a.check/after/big" || fail "after/big differs on the storage"
umount "$T/a.check"
stop_daemon

# The plugin alone: one write with room, one without.
truncate -s 16M "$T/small/raw.img"
start_proxy raw "$T/small/raw.img" tap=record:"$T/raw.bw"
qemu-io -f raw -c 'write -P 0x55 0 64k' "$(uri_of raw)" > "$T/qemu-io.out" 2>&1 ||
  { cat "$T/qemu-io.out"; fail "a write with room failed"; }
fallocate -l "$(df -B1 --output=avail "$T/small" | tail -1)" "$T/small/ballast"
! qemu-io -f raw -c 'write -P 0xaa 8M 1M' "$(uri_of raw)" > "$T/qemu-io.out" 2>&1 ||
  grep -q "write failed: No space left on device" "$T/qemu-io.out" ||
  { cat "$T/qemu-io.out"; fail "the write without room did not fail with ENOSPC"; }
stop_proxy raw
"$BW" trace dump "$T/raw.bw" > "$T/raw.dump"
[ "$(grep -c ' write ' "$T/raw.dump")" = 1 ] && grep -q ' write offset=0 length=65536' "$T/raw.dump" ||
  { cat "$T/raw.dump"; fail "the tap does not hold exactly the write the backend took"; }
say "ok"
