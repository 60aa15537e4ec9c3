# A Linux guest under QEMU (TCG) whose disk is an NBD export: the way a
# hypervisor attaches a disk through blockwatch.  The guest is Debian's
# cloud kernel (fetched once with apt-get download and kept in
# $BW_BUILD/guest) and an initramfs of busybox, the virtio modules and
# a /init that runs a script on the disk's file system.  Software
# emulation, not KVM: this machine's KVM cannot boot a stock guest
# (../shared/rig/README.md), and CI machines need not have it.
# Source after lib.sh.

GUEST_DIR=$BW_BUILD/guest

# guest_kernel: $GUEST_KERNEL and $GUEST_MODULES of the newest cloud
# kernel Debian has, fetched into $GUEST_DIR unless already there.
guest_kernel() {
  local pkg deb
  require qemu-system-x86_64 busybox cpio apt-get dpkg-deb
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
          awk '!p && /Depends: linux-image-/ { p = $2 } END { print p }')
  [ -n "$pkg" ] || skip "apt-cache knows no linux-image-cloud-amd64 (no Debian package lists): no guest kernel"
  if [ ! -d "$GUEST_DIR/$pkg" ]; then
    mkdir -p "$GUEST_DIR/dl"
    # (apt-get warns that it downloads as root, unsandboxed: harmless.)
    (cd "$GUEST_DIR/dl" && apt-get download -q "$pkg" > download.log 2>&1) ||
      skip "apt-get download $pkg failed (no package mirror reachable): $(tail -1 "$GUEST_DIR/dl/download.log")"
    deb=$(ls "$GUEST_DIR/dl/${pkg}_"*.deb)
    rm -rf "$GUEST_DIR/$pkg.tmp"
    dpkg-deb -x "$deb" "$GUEST_DIR/$pkg.tmp"
    mv "$GUEST_DIR/$pkg.tmp" "$GUEST_DIR/$pkg"
    rm -rf "$GUEST_DIR/dl"
  fi
  GUEST_KERNEL=$(ls "$GUEST_DIR/$pkg"/boot/vmlinuz-*)
  GUEST_MODULES=$(ls -d "$GUEST_DIR/$pkg"/lib/modules/*)
}

# guest_initramfs OUT INIT [FILE...]: an initramfs with busybox, the
# modules for a virtio disk (those the cloud kernel does not have built
# in: ext4 and jbd2 are), INIT as /init, and each FILE in its root.
# /init gets the modules loaded and /dev/vda present.
guest_initramfs() {
  local out=$1 init=$2 r=$T/initramfs m f
  shift 2
  rm -rf "$r"
  mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/mnt" "$r/lib/modules"
  cp "$(command -v busybox)" "$r/bin/busybox"
  ln -s busybox "$r/bin/sh"
  # Leaves first: each module after those it needs.
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    f=$(find "$GUEST_MODULES/kernel" -name "$m.ko*" | awk 'NR == 1')
    [ -n "$f" ] || continue           # built in
    case $f in
      *.xz) xz -dc "$f" > "$r/lib/modules/$m.ko";;
      *) cp "$f" "$r/lib/modules/$m.ko";;
    esac
    echo "$m.ko" >> "$r/modules"
  done
  { cat <<'EOF'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules 2>/dev/null); do insmod "/lib/modules/$m" || echo "GUEST: insmod $m failed"; done
for i in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done
[ -b /dev/vda ] || { echo "GUEST: no /dev/vda"; poweroff -f; }
EOF
    cat "$init"; } > "$r/init"
  chmod +x "$r/init"
  for f in "$@"; do cp "$f" "$r/"; done
  (cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$out"
  rm -rf "$r"
}

# guest_boot INITRAMFS NBD-SOCKET LOG SECONDS [KERNEL-ARGS]: boots the
# guest with its disk (/dev/vda, virtio-blk) on the NBD server at
# NBD-SOCKET, until it powers off; its console in LOG (without the
# carriage returns).  Fails if it does not power off within SECONDS.
guest_boot() {
  local rc=0
  timeout "$4" qemu-system-x86_64 -accel tcg -m 768 -smp 1 \
    -nodefaults -nographic -no-reboot -serial stdio -display none \
    -kernel "$GUEST_KERNEL" -initrd "$1" \
    -append "console=ttyS0 quiet panic=-1 ${5:-}" \
    -blockdev driver=nbd,node-name=disk0,server.type=unix,server.path="$2",cache.direct=on \
    -device virtio-blk-pci,drive=disk0 < /dev/null 2> "$3.qemu" | tr -d '\r' > "$3" || rc=$?
  [ $rc = 0 ] || { tail -20 "$3" "$3.qemu"; fail "the guest did not power off in $4 s (rc $rc)"; }
}
