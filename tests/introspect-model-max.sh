#!/bin/bash
# A bound on the introspector's model (--model-max): a file system whose
# model takes more is not followed, never silently, and nothing of the
# guest's I/O changes.  Against the kernel's ext4 through the proxy:
#  - crawled too big: an overflow event says the file system is no
#    longer followed; files made after have no events, and the guest
#    reads back what it wrote;
#  - grown too big (the guest makes 15,000 files): the events up to the
#    barrier that outgrew the bound, then the overflow event, then no
#    more; written again and again (mounts write its superblock), it is
#    not crawled again; a new file system made there (mkfs) is followed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq xargs

given_up='this file system is no longer followed: its model takes more than 1048576 bytes'
crawls() { grep -c 'ext2/3/4, [0-9]* inodes and [0-9]* names in use' "$T/$1.watch.err"; }

# The overflow event that gives the file system up, once: part 0, lost
# unknown (0), the bound in its detail.
check_given_up() {   # check_given_up NAME
  [ "$(jq -c "select(.type == \"overflow\" and .part == 0 and .lost == 0 and
                     (.detail | startswith(\"$given_up\")))" "$T/$1.jsonl" | wc -l)" = 1 ] ||
    { cat "$T/$1.watch.err"; tail -3 "$T/$1.jsonl"; fail "$1: not one overflow event that gives the file system up"; }
  grep -q "partition 0: $given_up" "$T/$1.watch.err" ||
    { cat "$T/$1.watch.err"; fail "$1: the log does not say why it is given up"; }
}

# ---- crawled too big ---------------------------------------------------
mkdir -p "$T/tree"
(cd "$T/tree" && seq 20000 | sed 's/^/f/' | xargs touch)
truncate -s 64M "$T/big.img"
mkfs.ext4 -q -F -N 24000 -d "$T/tree" "$T/big.img"
watch_mount big "$T/big.img" "$T/big.jsonl" --model-max 1M
echo "made after" > "$T/big.mnt/after"
sync
umount "$T/big.mnt"
mount "$LOOP" "$T/big.mnt"
[ "$(cat "$T/big.mnt/after")" = "made after" ] || fail "big: the guest did not read back what it wrote"
[ "$(ls "$T/big.mnt" | wc -l)" = 20002 ] || fail "big: the guest's tree is not whole"
umount "$T/big.mnt"
detach_loop big
stop_proxy big
wait $watch_pid || { cat "$T/big.watch.err"; fail "big: watch failed"; }
check_san_log "$T/big.watch.err"
check_given_up big
! jq -r 'select(.path != null) | .path' "$T/big.jsonl" | grep -q . ||
  fail "big: events of a file system given up: $(jq -c 'select(.path != null)' "$T/big.jsonl" | head -3)"
[ "$(crawls big)" = 0 ] || fail "big: a crawl said done, though given up"
say "crawled too big: given up with an overflow event, no events after, the guest's I/O whole"

# ---- grown too big, then a new file system -----------------------------
truncate -s 64M "$T/grow.img"
mkfs.ext4 -q -F -N 40000 "$T/grow.img"
watch_mount grow "$T/grow.img" "$T/grow.jsonl" --model-max 1M --stats-file "$T/grow.st"
echo early > "$T/grow.mnt/early"
sync
# stat KEY: its value in the stats file (written every second).
stat() { awk -v k="$1" '$1 == k { print $2 }' "$T/grow.st" 2>/dev/null; }
for _ in $(seq 50); do [ "$(stat filesystems)" = 1 ] && break; sleep 0.2; done
model=$(stat model.bytes)
[ "$(stat filesystems)" = 1 ] && [ "${model:-0}" -gt 0 ] && [ "$model" -le 1048576 ] ||
  { cat "$T/grow.st"; fail "grow: the stats do not show one file system followed, its model under the bound"; }
mkdir "$T/grow.mnt/d"
(cd "$T/grow.mnt/d" && seq 15000 | sed 's/^/f/' | xargs touch)
sync
echo late > "$T/grow.mnt/late"
sync
for _ in 1 2 3; do umount "$T/grow.mnt"; mount "$LOOP" "$T/grow.mnt"; done
[ "$(cat "$T/grow.mnt/late")" = late ] || fail "grow: the guest did not read back what it wrote"
umount "$T/grow.mnt"
for _ in $(seq 100); do grep -q "$given_up" "$T/grow.watch.err" && break; sleep 0.1; done
check_given_up grow
for _ in $(seq 50); do [ "$(stat filesystems)" = 0 ] && break; sleep 0.2; done
[ "$(stat filesystems)" = 0 ] && [ "$(stat model.bytes)" = 0 ] ||
  { cat "$T/grow.st"; fail "grow: the stats still show the file system given up, or its model"; }
grep -qx '\["create","/early"\]' <(jq -c 'select(.path != null) | [.type, .path]' "$T/grow.jsonl") ||
  fail "grow: no create of /early, made before the bound was reached"
# Nothing after the overflow event, until the new file system's resync.
jq -r '.type + " " + (.path // "")' "$T/grow.jsonl" |
  awk '/^overflow/ { o = 1; next } o && $2 != "" { print; exit 1 }' > "$T/grow.after" ||
  fail "grow: events after the file system was given up: $(cat "$T/grow.after")"
[ "$(crawls grow)" = 1 ] ||
  { cat "$T/grow.watch.err"; fail "grow: crawled again ($(crawls grow) crawls) though the same file system"; }
say "grown too big: given up at a barrier, not crawled again at its superblock's writes"

mkfs.ext4 -q -F "$LOOP"
for _ in $(seq 100); do [ "$(crawls grow)" = 2 ] && break; sleep 0.1; done
[ "$(crawls grow)" = 2 ] || { cat "$T/grow.watch.err"; fail "grow: a new file system was not crawled"; }
mount "$LOOP" "$T/grow.mnt"
echo new > "$T/grow.mnt/new"
umount "$T/grow.mnt"
detach_loop grow
stop_proxy grow
wait $watch_pid || { cat "$T/grow.watch.err"; fail "grow: watch failed"; }
check_san_log "$T/grow.watch.err"
grep -qx '\["create","/new"\]' <(jq -c 'select(.path != null) | [.type, .path]' "$T/grow.jsonl") ||
  { cat "$T/grow.watch.err"; fail "grow: no create of /new on the new file system"; }
say "a new file system made over the one given up is followed"
