#!/bin/bash
# The online introspector (blockwatch watch) on the plugin's live tap,
# reading the proxy's storage as it changes, with the kernel's ext4
# driver writing: the events rebuild the final tree exactly, content
# included, like the offline replay does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4

truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
watch_workload d0 "$T/disk.img"
check_events d0 "$T/base.img" "$T/disk.img"
