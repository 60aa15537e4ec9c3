#!/bin/bash
# Files nested deeper than any fixed depth a tool might assume: a guest
# can chdir its way down 4300 directories (the kernel has no limit;
# only a single path given to a system call does).  Their events come
# with their whole paths, from the crawl (a tree made before the
# introspector started) and from the records (one made while it
# watches), and deleting the tree deletes every level.  Before, paths
# deeper than 4096 names were not made at all: the deepest files'
# creates, writes and deletes never came, and nothing said so.  Paths
# longer than the introspector makes (64 KiB: 300 names of 250 bytes)
# come without a path and with path_too_long, never not at all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 jq

DEPTH=4300
# down DIR NAME MAKE TEXT [N]: goes N (DEPTH) directories NAME down
# from DIR (making them if MAKE is 1) and appends TEXT to the file
# there.  Perl, because bash's cd checks its whole logical path each
# time: cubic.
down() {
  ( cd "$1" && perl -e 'my ($n, $name, $make, $text) = @ARGV;
      for (1 .. $n) {
        !$make or mkdir $name or die "mkdir: $!\n";
        chdir $name or die "chdir: $!\n";
      }
      open my $f, ">>", "file" or die "file: $!\n";
      print $f $text;
      close $f or die "file: $!\n";' "${5:-$DEPTH}" "$2" "$3" "$4" ) ||
    fail "cannot go down the $2 chain in $1"
}
# deep NAME [LAST]: the path of the chain of NAME, and LAST below it.
deep() { printf "/$1%.0s" $(seq $DEPTH); [ -z "${2:-}" ] || printf '/%s' "$2"; }

truncate -s 64M "$T/d.img"
mkfs.ext4 -q -F -N 20000 "$T/d.img"
mkdir "$T/pre.mnt"
mount -o loop "$T/d.img" "$T/pre.mnt"; register_mount "$T/pre.mnt"
down "$T/pre.mnt" p 1 "at the bottom of p
"
umount "$T/pre.mnt"

watch_mount d "$T/d.img" "$T/d.jsonl" --data=bytes:4096
# Known from the crawl: written to, it is named.
down "$T/d.mnt" p 0 "appended
"
down "$T/d.mnt" e 1 "at the bottom of e
"
LONG=$(printf 'L%.0s' $(seq 250))
down "$T/d.mnt" "$LONG" 1 "at the bottom of L
" 300
sync
rm -rf "$T/d.mnt/e" "$T/d.mnt/p" "$T/d.mnt/$LONG"
umount "$T/d.mnt"
detach_loop d
stop_proxy d
wait $watch_pid || { tail "$T/d.watch.err"; fail "watch failed"; }
check_san_log "$T/d.watch.err"

ev=$T/d.jsonl
jq -e . "$ev" > /dev/null || fail "an event is not JSON"
nopath=$(jq -c 'select(.type != "mount" and .type != "unmount" and .path == null and .path_too_long != true) | del(.time)' "$ev")
[ -z "$nopath" ] || { echo "$nopath" | head -3; fail "events without a path, and not for a path too long"; }
n=$(jq -r 'select(.type == "create" and .file_type == "dir") | .path' "$ev" | grep -c '^\(/e\)\+$' || true)
[ "$n" = $DEPTH ] || fail "$n creates of the e chain's directories, not $DEPTH"
[ "$(jq -r --arg p "$(deep e file)" 'select(.type == "create" and .path == $p) | .file_type' "$ev")" = file ] ||
  fail "no create of the file $DEPTH directories down"
[ "$(jq -r --arg p "$(deep e file)" 'select(.type == "write" and .path == $p) | .data | @base64d' "$ev")" = \
  "at the bottom of e" ] || fail "no write with its bytes of the file $DEPTH directories down"
jq -r --arg p "$(deep p file)" 'select(.type == "write" and .path == $p) | .data | @base64d' "$ev" |
  grep -qx appended || fail "no write of the crawled file $DEPTH directories down"
for c in e p; do
  n=$(jq -r 'select(.type == "delete") | .path' "$ev" | grep -c "^\(/$c\)\+\(/file\)\?\$" || true)
  [ "$n" = $((DEPTH + 1)) ] || fail "$n deletes in the $c chain, not $((DEPTH + 1))"
done
# The long chain: a name of 250 bytes and its '/' a level, so levels
# 1-261 fit 64 KiB and the other 39 and the file do not.
L=$(jq -r --arg l "/$LONG" 'select(.type == "create" and .path != null) | .path | select(startswith($l))' "$ev" | wc -l)
[ "$L" = 261 ] || fail "$L creates with a path in the long chain, not 261"
n=$(jq -r 'select(.type == "create" and .path_too_long) | .file_type' "$ev" | sort | uniq -c | tr -s ' ' | paste -sd,)
[ "$n" = " 39 dir, 1 file" ] || fail "creates without a path too long: '$n', not 39 directories and the file"
ino=$(jq -r 'select(.type == "create" and .path_too_long and .file_type == "file") | .inode' "$ev")
[ "$(jq -r --argjson i "$ino" 'select(.type == "write" and .inode == $i and .path_too_long) | .data | @base64d' "$ev")" = \
  "at the bottom of L" ] || fail "no write with its bytes of the file whose path is too long"
n=$(jq -r 'select(.type == "delete" and .path_too_long) | .file_type' "$ev" | sort | uniq -c | tr -s ' ' | paste -sd,)
[ "$n" = " 39 dir, 1 file" ] || fail "deletes without a path too long: '$n', not 39 directories and the file"
L=$(jq -r --arg l "/$LONG" 'select(.type == "delete" and .path != null) | .path | select(startswith($l))' "$ev" | wc -l)
[ "$L" = 261 ] || fail "$L deletes with a path in the long chain, not 261"
say "$DEPTH directories deep: $(wc -l < "$ev") events, every path whole"
