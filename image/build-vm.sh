#!/bin/bash
# Builds the blockwatch VM appliance: Debian 12 with systemd, the
# runtime packages, mosquitto and a `make install` tree, on one ext4
# partition that GRUB boots (BIOS), as a compressed qcow2.
#
#   image/build-vm.sh STAGE OUT.qcow2
#
# STAGE is `make install DESTDIR=STAGE PREFIX=/usr` (what `make image`
# passes).  Needs root, loop devices, mmdebstrap, sfdisk, mke2fs,
# qemu-img and a Debian mirror.  Settings (environment):
#   BW_IMAGE_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   BW_IMAGE_SECURITY security mirror (default http://deb.debian.org/debian-security)
#   BW_IMAGE_SIZE     disk size in MiB (default 2048)
#   BW_IMAGE_OVERLAY  a directory copied over the root last: the site's
#                     /etc/blockwatch/blockwatch.conf, TLS files, drop-ins
#   BW_IMAGE_SSH_KEY  a public key file authorised for root over SSH
#                     (without one nobody can log in: the root password
#                     is locked)
# The image and the choices made: docs/packaging.md.
set -euo pipefail

stage=$(realpath "${1:?usage: image/build-vm.sh STAGE OUT.qcow2}")
out=${2:?usage: image/build-vm.sh STAGE OUT.qcow2}
mirror=${BW_IMAGE_MIRROR:-http://deb.debian.org/debian}
security=${BW_IMAGE_SECURITY:-http://deb.debian.org/debian-security}
size_mib=${BW_IMAGE_SIZE:-2048}
label=blockwatch-root

[ "$(id -u)" = 0 ] || { echo "build-vm: needs root (loop devices, chroot)" >&2; exit 1; }
for tool in mmdebstrap sfdisk mke2fs losetup qemu-img; do
  command -v "$tool" >/dev/null ||
    { echo "build-vm: $tool not found (apt-get install mmdebstrap fdisk e2fsprogs mount qemu-utils)" >&2; exit 1; }
done
[ -x "$stage/usr/bin/blockwatchd" ] ||
  { echo "build-vm: $stage is not a make install DESTDIR tree with PREFIX=/usr" >&2; exit 1; }

work=$(dirname "$(realpath -m "$out")")/vm-work
root=$work/root mnt=$work/mnt raw=$work/disk.raw
loop=
cleanup () {
  for m in dev/pts dev proc sys ""; do
    mountpoint -q "$mnt/$m" 2>/dev/null && umount "$mnt/$m"
  done
  [ -z "$loop" ] || losetup -d "$loop"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work" "$mnt"

# The packages: blockwatch's (the list make install ships), the broker,
# and what makes a bootable, reachable machine.
mapfile -t pkgs < <(grep -v -e '^#' -e '^$' "$stage/usr/share/blockwatch/runtime-packages")
pkgs+=(mosquitto
       systemd-sysv udev dbus linux-image-cloud-amd64 initramfs-tools grub-pc-bin grub2-common
       systemd-resolved openssh-server iproute2 nftables e2fsprogs netbase
       python3)   # for Ansible (ansible/) to manage it

echo "build-vm: debootstrapping Debian 12 (mmdebstrap) into $root"
mmdebstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
  --aptopt='Acquire::Languages "none"' \
  bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main"

echo "build-vm: installing blockwatch"
cp -a "$stage"/. "$root"/
# The users of sysusers.d (blockwatch's), as systemd would at boot.
systemd-sysusers --root="$root"
systemctl --root="$root" enable blockwatchd.service mosquitto.service \
  systemd-networkd.service systemd-resolved.service ssh.service

echo blockwatch > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tblockwatch\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  > "$root/etc/hosts"
echo "LABEL=$label / ext4 errors=remount-ro 0 1" > "$root/etc/fstab"
# Every wired interface by DHCP: the operator's network decides.
cat > "$root/etc/systemd/network/80-wired.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=yes
EOF
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
# A new machine id at first boot: every VM made from the image differs.
: > "$root/etc/machine-id"
if [ -n "${BW_IMAGE_SSH_KEY:-}" ]; then
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$BW_IMAGE_SSH_KEY" "$root/root/.ssh/authorized_keys"
fi
# Host keys are made at the first boot, so that the VMs of one image do
# not share them, before Debian's check of sshd's configuration (which
# needs them).
rm -f "$root"/etc/ssh/ssh_host_*
install -d "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > "$root/etc/systemd/system/ssh.service.d/host-keys.conf"

# The kernel's packages keep /vmlinuz and /initrd.img pointing at the
# newest kernel, so the boot entry survives kernel upgrades.
[ -e "$root/vmlinuz" ] && [ -e "$root/initrd.img" ] ||
  { echo "build-vm: no /vmlinuz or /initrd.img in the root" >&2; exit 1; }
kver=$(readlink "$root/vmlinuz") && kver=${kver##*vmlinuz-}
install -d "$root/boot/grub"
# Console on the serial port too: a VM without a screen still shows
# its boot and the login prompt.
cat > "$root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
menuentry 'blockwatch appliance (Debian 12)' {
  search --no-floppy --label --set=root $label
  linux /vmlinuz root=LABEL=$label ro console=tty0 console=ttyS0,115200n8
  initrd /initrd.img
}
EOF
# The site's files last: they may replace any of the above.
[ -z "${BW_IMAGE_OVERLAY:-}" ] || cp -a "$BW_IMAGE_OVERLAY"/. "$root"/
# Whoever made them, the services' configurations and keys are readable
# by their service (blockwatchd runs as blockwatch; mosquitto reads its
# key after dropping to mosquitto), and by no one else.
chroot "$root" sh -e -c '
  chown -R root:blockwatch /etc/blockwatch
  chmod -R u+rwX,g+rX,g-w,o-rwx /etc/blockwatch
  for k in /etc/mosquitto/blockwatch/*.key; do
    [ ! -e "$k" ] || { chown root:mosquitto "$k"; chmod 640 "$k"; }
  done'

echo "build-vm: making the disk ($size_mib MiB)"
# One partition from 1 MiB (the gap before it holds GRUB's core).
truncate -s "${size_mib}M" "$raw"
echo 'start=2048, type=83, bootable' | sfdisk -q "$raw"
mke2fs -q -t ext4 -L "$label" -d "$root" -E offset=$((2048 * 512)) \
  "$raw" $(( (size_mib - 1) * 1024 ))k
loop=$(losetup -f --show -P "$raw")
# Some kernels scan the table but add no partition: ask again.
[ -b "${loop}p1" ] || partx -a "$loop"
mount "${loop}p1" "$mnt"
for m in dev dev/pts proc sys; do mount --bind "/$m" "$mnt/$m"; done
chroot "$mnt" grub-install --target=i386-pc --boot-directory=/boot "$loop"
cleanup
loop=
trap - EXIT

mkdir -p "$(dirname "$out")"
qemu-img convert -c -O qcow2 "$raw" "$out"
rm -rf "$work"
echo "build-vm: $out ($(du -h "$out" | cut -f1)), kernel $kver"
