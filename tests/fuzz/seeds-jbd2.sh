#!/bin/bash
# Remakes the seed corpus of fuzz-jbd2 (tests/fuzz/corpus/jbd2/): the
# first 48 blocks of journals the kernel wrote on 1 KiB-block ext4 file
# systems of several journal flavours, taken while mounted (committed,
# not checkpointed).  Needs root and loop devices.
#   tests/fuzz/seeds-jbd2.sh
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/corpus/jbd2
w=$(mktemp -d)
trap 'umount "$w/m" 2>/dev/null; rm -rf "$w"' EXIT
mkdir -p "$w/m" "$out"
seed() {   # seed NAME MOUNT-OPTIONS MKFS-ARGS...
  local name=$1 opts=$2
  shift 2
  truncate -s 32M "$w/d.img"
  mkfs.ext4 -q -F -b 1024 "$@" "$w/d.img"
  mount -o "loop,commit=1${opts:+,$opts}" "$w/d.img" "$w/m"
  mkdir "$w/m/a"; for i in $(seq 20); do echo "$i" > "$w/m/a/f$i"; done
  printf '\xc0\x3b\x39\x98escaped' > "$w/m/magic"
  sync; rm -rf "$w/m/a"; sync
  cp "$w/d.img" "$w/snap.img"
  umount "$w/m"
  debugfs -R "dump <8> $w/journal" "$w/snap.img" 2>/dev/null
  { printf '\0'; head -c $((48 * 1024)) "$w/journal"; } > "$out/$name"
  { printf '\1'; head -c $((48 * 1024)) "$w/journal"; } > "$out/$name-fixcsum"
}
seed csum-v3 ""
seed no-csum "" -O ^metadata_csum
seed compat-crc32-tags32 journal_checksum -O ^metadata_csum,^64bit
seed data-journal data=journal
