#!/bin/bash
# A real Linux ext4 driver writes through the plugin (nbdfuse + loop):
# mkfs, a mixed workload, unmount.  The backend image is e2fsck-clean,
# every file reads back identical, and the tap trace received by a
# socket consumer replays onto the initial image to exactly the final
# image.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 e2fsck

truncate -s 256M "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
start_tap c --record "$T/trace.bw"
start_proxy p "$T/disk.img" tap=unix:"$T/c.tap"
attach_loop p
mkfs.ext4 -q -F "$LOOP"
mkdir "$T/mnt"
mount -t ext4 "$LOOP" "$T/mnt"
register_mount "$T/mnt"

# The reference tree: what the file system must hold at the end.
mkdir -p "$T/src/etc" "$T/src/log" "$T/src/bin" "$T/src/deep/a/b/c/d"
cp /bin/bash /bin/ls "$T/src/bin/"
head -c 5M /dev/urandom > "$T/src/random.bin"
for i in $(seq 200); do echo "config line $i" > "$T/src/etc/f$i.conf"; done
: > "$T/src/log/app.log"
cp -a "$T/src/." "$T/mnt/"
sync
for i in $(seq 300); do
  echo "log entry $i $(date +%s.%N)" | tee -a "$T/src/log/app.log" >> "$T/mnt/log/app.log"
done
# Editors save by rename; deletes; hard and symbolic links; truncation.
echo "new config" > "$T/mnt/etc/f1.conf.tmp"; mv "$T/mnt/etc/f1.conf.tmp" "$T/mnt/etc/f1.conf"
echo "new config" > "$T/src/etc/f1.conf"
rm "$T/mnt"/etc/f1[0-9]*.conf "$T/src"/etc/f1[0-9]*.conf
ln "$T/mnt/bin/ls" "$T/mnt/bin/ls.hard"; ln "$T/src/bin/ls" "$T/src/bin/ls.hard"
ln -s ../random.bin "$T/mnt/deep/link"; ln -s ../random.bin "$T/src/deep/link"
truncate -s 1M "$T/mnt/random.bin"; truncate -s 1M "$T/src/random.bin"
dd if=/dev/urandom of="$T/src/deep/a/b/c/d/sparse" bs=4k seek=1000 count=3 status=none
cp --sparse=always "$T/src/deep/a/b/c/d/sparse" "$T/mnt/deep/a/b/c/d/sparse"
sync

umount "$T/mnt"
detach_loop p
stop_proxy p
stop_tap c

e2fsck -fn "$T/disk.img" > "$T/e2fsck.log" 2>&1 || { cat "$T/e2fsck.log"; fail "e2fsck -fn found problems"; }
say "e2fsck -fn: clean"

# Read the backend image directly (not through the proxy) and compare.
mkdir "$T/check"
mount -t ext4 -o ro,loop,noload "$T/disk.img" "$T/check"
register_mount "$T/check"
diff -r --no-dereference "$T/src" "$T/check" -x lost+found || fail "file tree differs from the reference"
umount "$T/check"
say "all files identical"

"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace apply "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/disk.img" || fail "trace replay differs from the backend"
grep -q "flush" <("$BW" trace dump "$T/trace.bw") || fail "no flush in the trace"
say "trace replays to the final image"
