#!/bin/bash
# Fidelity, end to end, with a virtual machine as the guest: QEMU (TCG)
# boots Debian's kernel with its virtio disk on blockwatchd's NBD
# export, as a hypervisor attaches a disk through blockwatch, and the
# guest's busybox runs each workload of fidelity-workloads.sh, one boot
# per workload (the file system mounted for that workload alone).  The
# tenant's blockwatch sub receives the events over MQTT/TLS, and after
# each workload they are held to the image (fidelity-lib.sh).  Prints a
# fidelity score per workload and fails below 100%.  The workloads that
# need fio and stress-ng run in fidelity-e2e-loop only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/fidelity-lib.sh"
. "$(dirname "$0")/guest-lib.sh"
require nbdkit mkfs.ext4 curl
guest_kernel

# The package: documentation files of this machine (plain names, no
# larger than 64 KiB), fewer than on the host: the guest's CPU is
# emulated.
find /usr/share/doc -regextype posix-extended -regex '[A-Za-z0-9._+/,=@-]*' \
  \( -type d -o -type l -o -type f -size -64k \) 2>/dev/null | sort |
  awk "NR <= ${FID_PKG_FILES:-3000}" > "$T/pkg.list"   # (reads all: no SIGPIPE)
[ "$(wc -l < "$T/pkg.list")" -ge 1000 ] || skip "fewer than 1000 files in /usr/share/doc"
tar -cf "$T/pkg.tar" --no-recursion -T "$T/pkg.list" 2>/dev/null

# The guest's /init: the workload named on the kernel's command line,
# on /dev/vda; the names it made and removed (wl_gone) go to the
# console, where the host takes them.
cat > "$T/guest-init" <<'EOF'
wl=$(sed -n 's/.* wl=\([a-z]*\).*/\1/p' /proc/cmdline)
mount -t ext4 /dev/vda /mnt || { echo "GUEST: mount failed"; poweroff -f; }
. /fidelity-workloads.sh
if WL_GONE=/gone WL_TAR=/pkg.tar "wl_$wl" /mnt; then
  echo "GUEST: workload $wl done"
fi
umount /mnt && echo "GUEST: unmounted"
sed 's/^/GONE: /' /gone 2>/dev/null
poweroff -f
EOF
guest_initramfs "$T/initramfs.gz" "$T/guest-init" \
  "$(dirname "$0")/fidelity-workloads.sh" "$T/pkg.tar"
say "guest: $(basename "$GUEST_KERNEL"), initramfs $(du -h "$T/initramfs.gz" | cut -f1)"

fid_appliance 1G

run_workload() {   # run_workload NAME SECONDS: in the guest, then checked
  local t0=$SECONDS
  guest_boot "$T/initramfs.gz" "$T/run/disk/nbd.sock" "$FID/$1.console" 600 "wl=$1"
  grep -q "GUEST: workload $1 done" "$FID/$1.console" &&
    grep -q "GUEST: unmounted" "$FID/$1.console" ||
    { tail -30 "$FID/$1.console"; fail "$1: the workload did not complete in the guest"; }
  sed -n "s/.*GONE: //p" "$FID/$1.console" > "$FID/$1.gone"
  say "$1: booted, ran and powered off in $((SECONDS - t0)) s"
  fid_checkpoint "$1" "$2"
}

# NAME:SECONDS, SECONDS for its events to arrive (under ASan).
for w in ${FID_WORKLOADS:-log:60 pkg:120 edit:60 links:60 sparse:60 trunc:60 reuse:60 bigdir:180}; do
  run_workload "${w%:*}" "${w#*:}"
done
fid_selftest
fid_finish
