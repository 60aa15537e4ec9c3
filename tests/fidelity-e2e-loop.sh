#!/bin/bash
# Fidelity, end to end, with the host's kernel as the guest: its ext4
# on blockwatchd's NBD export (nbdfuse + loop) runs each workload of
# fidelity-workloads.sh, mounted for that workload alone; the tenant's
# blockwatch sub receives the events over MQTT/TLS, and after each
# workload they are held to the image (fidelity-lib.sh): the tree they
# rebuild, every event against the tree before it, every name against
# what the workload did.  Prints a fidelity score per workload and fails
# below 100%.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt-lib.sh"
. "$(dirname "$0")/fidelity-lib.sh"
. "$(dirname "$0")/fidelity-workloads.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 curl fio stress-ng

# The package: ~3000 documentation files and headers of this machine
# (no larger than 64 KiB each; names of plain characters, which the
# events carry unescaped and the listings print as they are).
{
  for src in /usr/share/doc /usr/include; do
    find "$src" -regextype posix-extended -regex '[A-Za-z0-9._+/,=@-]*' \
      \( -type d -o -type l -o -type f -size -64k \) 2>/dev/null | sort
  done
} | awk "NR <= 3000" > "$T/pkg.list"   # (reads all: no SIGPIPE)
[ "$(wc -l < "$T/pkg.list")" -ge 1000 ] || skip "fewer than 1000 files in /usr/share/doc and /usr/include"
tar -cf "$T/pkg.tar" --no-recursion -T "$T/pkg.list" 2>/dev/null
export WL_TAR=$T/pkg.tar WL_HOST=1

fid_appliance 1G

run_workload() {   # run_workload NAME SECONDS: on the kernel's ext4, then checked
  attach_loop disk "$T/run/disk/nbd.sock"
  mount "$LOOP" "$T/mnt"; register_mount "$T/mnt"
  WL_GONE=$FID/$1.gone "wl_$1" "$T/mnt"
  umount "$T/mnt"
  detach_loop disk
  fid_checkpoint "$1" "$2"
}

# NAME:SECONDS, SECONDS for its events to arrive (under ASan); a
# subset for debugging: FID_WORKLOADS="bigdir:240 churn:120".
for w in ${FID_WORKLOADS:-log:60 pkg:120 edit:60 links:60 sparse:60 trunc:60 reuse:60 bigdir:240 churn:120}; do
  run_workload "${w%:*}" "${w#*:}"
done
fid_selftest
fid_finish
