#!/bin/bash
# make demo: a fresh ext4 disk image behind the blockwatch proxy, a real
# Linux ext4 mount on it (nbdfuse + loop), a small scripted workload, and
# the introspector's live file events on screen (blockwatch watch on the
# plugin's tap).  Ctrl-C, or DEMO_SECONDS (default 30), ends it;
# everything is torn down and the file system checked.
#
# The MQTT bridge and the appliance daemon plug in here as they land.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
PLUGIN=$BUILD/nbdkit-blockwatch-plugin.so
BW=$BUILD/blockwatch
SECONDS_TOTAL=${DEMO_SECONDS:-30}

[ "$(id -u)" = 0 ] || { echo "make demo: needs root (loop device and mount)" >&2; exit 1; }
[ -c /dev/fuse ] || { echo "make demo: needs /dev/fuse (FUSE) for nbdfuse" >&2; exit 1; }

W=$(mktemp -d /tmp/blockwatch-demo.XXXXXX)
LOOP= PIDS=() RECV=
cleanup() {
  set +e
  trap - INT TERM EXIT
  mountpoint -q "$W/mnt" && umount "$W/mnt"
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  mountpoint -q "$W/fuse" && umount "$W/fuse"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  # nbdkit hands the consumer what is left and an end record; the
  # consumer (--once) exits when the stream ends.
  for p in "${PIDS[@]}" $RECV; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  [ -n "$RECV" ] && kill "$RECV" 2>/dev/null
  echo
  echo "== teardown done"
  e2fsck -fn "$W/disk.img" >/dev/null 2>&1 && echo "   e2fsck -fn disk.img: clean"
  grep -h "events$" "$W/watch.err" 2>/dev/null | sed 's/^/   /'
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

step() { printf '\n\033[1;34mguest$ %s\033[0m\n' "$*"; }

echo "== blockwatch proxy demo (work dir $W)"
truncate -s 256M "$W/disk.img"
mkfs.ext4 -q -F -b 4096 -L demo "$W/disk.img"
mkdir "$W/fuse" "$W/mnt"

# The introspector: crawls the disk, then turns the tap into events.
"$BW" watch --once --host demo --vm demo-vm --disk demo-disk \
  --storage "$W/disk.img" "unix:$W/tap.sock" \
  2>"$W/watch.err" > >(sed -u 's/^/  event │ /') &
RECV=$!
for _ in $(seq 100); do [ -S "$W/tap.sock" ] && break; sleep 0.1; done

nbdkit -f -U "$W/nbd.sock" -P "$W/nbdkit.pid" "$PLUGIN" "$W/disk.img" \
  tap=unix:"$W/tap.sock" disk-id=demo-disk 2>"$W/nbdkit.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$W/nbd.sock" ] && break; sleep 0.1; done
echo "== nbdkit + blockwatch plugin serving $W/disk.img on $W/nbd.sock"

nbdfuse "$W/fuse/nbd" --unix "$W/nbd.sock" &
PIDS+=($!)
for _ in $(seq 50); do [ -f "$W/fuse/nbd" ] && break; sleep 0.1; done
LOOP=$(losetup -f --show "$W/fuse/nbd")
mount -t ext4 -o commit=1 "$LOOP" "$W/mnt"
echo "== kernel ext4 mounted from $LOOP (nbdfuse -> proxy) at $W/mnt"

step "mkdir -p /etc /var/log; echo 'port=80' > /etc/app.conf"
mkdir -p "$W/mnt/etc" "$W/mnt/var/log"
echo "port=80" > "$W/mnt/etc/app.conf"; sync

end=$((SECONDS + SECONDS_TOTAL)) i=0
while [ $SECONDS -lt $end ]; do
  i=$((i + 1))
  step "echo 'request $i served' >> /var/log/app.log; sync"
  echo "$(date -Is) request $i served" >> "$W/mnt/var/log/app.log"; sync
  case $((i % 6)) in
    2) step "sed -i s/port=.*/port=$((8000 + i))/ /etc/app.conf   (editor: write + rename)"
       sed -i "s/port=.*/port=$((8000 + i))/" "$W/mnt/etc/app.conf"; sync;;
    4) step "mv /var/log/app.log /var/log/app.log.$i   (log rotation)"
       mv "$W/mnt/var/log/app.log" "$W/mnt/var/log/app.log.$i"; sync;;
    5) step "rm /var/log/app.log.*"
       rm -f "$W/mnt/var/log/app.log."*; sync;;
  esac
  sleep 1
done
