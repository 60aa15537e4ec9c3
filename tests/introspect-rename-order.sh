#!/bin/bash
# What the fidelity soak (fidelity-random) found, each case on its own,
# on the kernel's ext4 through the proxy (nbdfuse + loop, the tap
# recording): a case's set-up is synced, then its operations run at
# once, so that they fall in one journal transaction (the kernel
# commits every 5 s), then synced.  The events `blockwatch replay`
# makes of the trace must rebuild the image, every event fitting the
# tree before it (event-tree --strict):
#  - renames with directories moved or made in the same transaction
#    (each in an order a consumer replays, its old path as the events
#    have it then);
#  - directories removed after something was moved out of them (their
#    delete after the rename), their name or inode taken again, a file
#    renamed in the directory moved out or moved out of it;
#  - names swapped (RENAME_EXCHANGE, or through a temporary name): two
#    directories with what is below them, moved on from there; three
#    directories in a cycle; a directory and a file; a file and a
#    directory, the file then moved below the directory; a directory
#    moved below the one that takes its name (and a chain into it).
#    Each comes as exchange events (a cycle of k names as k - 1), no
#    name unlinked and linked again;
#  - a file moved below a new directory that took its name, or into
#    the name of a directory removed that it was in (an unlink and a
#    link: no name to exchange with);
#  - fallocate's insert and collapse range over written blocks and over
#    preallocated blocks written in the same transaction (the content
#    moves without a write), and a write into preallocated blocks that
#    the collapsed or inserted range cuts in two (the blocks of its
#    start freed or left where they were, the rest moved);
#  - data on the disk before the commit that it logically follows: an
#    append into the block a truncate cut (the size that cuts it off
#    comes after the data), a write over a zero range (keep size) of the
#    block that holds the end of file (its blocks marked written in the
#    next transaction, the data past the old end held).
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 python3 jq

truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
mkdir -p "$T/mnt" "$T/base" "$T/final"
start_proxy p "$T/disk.img" tap=record:"$T/trace.bw"
attach_loop p
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"

# case NAME SET-UP OPERATIONS: in directory $T/mnt/NAME ($d).
case_() {
  local d=$T/mnt/$1
  mkdir "$d"
  (cd "$d" && eval "$2") || fail "$1: set-up"
  sync
  (cd "$d" && eval "$3") || fail "$1: operations"
  sync
}

# The kernel's renameat2 (RENAME_EXCHANGE = 2) and fallocate modes.
py() { python3 -c "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); $1" "${@:2}"; }
exchange() { py 'sys.exit(libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) != 0)' "$@"; }
falloc() {   # falloc FILE MODE OFFSET LENGTH
  py 'fd = os.open(sys.argv[1], os.O_WRONLY)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
sys.exit(libc.fallocate(fd, int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4])) != 0)' "$@"
}
# writeback FILE OTHER: starts writing FILE's dirty pages (no wait),
# and at once commits the transaction with an fsync of OTHER, touched.
writeback() {
  py 'libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_long, ctypes.c_uint]
o = os.open(sys.argv[2], os.O_WRONLY); os.utime(o)
if libc.sync_file_range(os.open(sys.argv[1], os.O_WRONLY), 0, 0, 2) != 0: sys.exit(1)
os.fsync(o)' "$@"
}

case_ into-new 'echo f > f' 'mkdir -p n/m; mv f n/m/f'
case_ out-of-renamed 'mkdir d; echo f > d/f' 'mv d e; mv e/f g'
case_ nested 'mkdir -p p/q b; echo f > p/q/f; echo a > a' \
  'mv a b/; mv b c; mv p/q c/q; mv p c/q/p; mv c/q/f c/q/p/f'
case_ renamed-twice 'mkdir d; echo f > d/f; echo x > x' \
  'mkdir -p a/b/c; mv x a/b/c/; mv d e; mkdir d; mv e/f d/; mv e a/b/c/x2'
case_ out-then-rmdir 'mkdir -p a/b/c; echo f > a/b/c/f; echo x > x' \
  'mv a/b/c c; rmdir a/b; rmdir a; mv x a'
case_ out-then-rmdir-deep 'mkdir -p d/e/s; echo f > d/e/f; echo h > d/e/s/h' \
  'mv d/e/f g; mv d/e/s s2; rmdir d/e; mv d d2; rmdir d2; mkdir q'
case_ out-then-rmdir-inside 'mkdir -p d/s/u; echo f > d/s/f; echo h > d/s/u/h' \
  'mv d/s t; rmdir d; mv t/f t/g; mv t/u/h t/u/i'
# A file moved out of such a directory, and one moved out of it while it
# takes the name of the directory moved from above the removed one
# (soak seeds 312854566, 262708251: the file's new name as a second link).
case_ out-then-rmdir-away 'mkdir -p d/s; echo f > d/s/f' 'mv d/s/f g; mv d/s t; rmdir d'
case_ out-then-rmdir-taken 'mkdir -p a/d/s; echo f > a/d/s/f' \
  'mv a/d/s/f g; mv a b; mv b/d/s a; rmdir b/d'
# A file moved out of a directory removed, to that directory's name
# (from one below it too): the rename and the delete waited for each
# other.
case_ file-takes-removed 'mkdir -p d e/s; echo f > d/f; echo g > e/s/g' \
  'mv d/f t; rmdir d; mv t d; mv e/s/g u; rmdir e/s e; mv u e'
case_ swap-file-dir 'mkdir x; echo y > x/y; echo f > f; echo z > z' 'exchange f x; exchange z f/y'
case_ swap-then-move 'mkdir -p a/s; echo f > f' 'exchange a f; mv a f/s/g'
case_ below-own-name 'echo f > f' 'mv f t; mkdir -p f/s; mv t f/s/g'
case_ swap-dirs 'mkdir -p a/s b; echo f > a/f; echo h > a/s/h; echo g > b/g' \
  'exchange a b; mv a/g a/g2; mv b/s/h h; mv b/f a/f'
case_ cycle-dirs 'mkdir -p a/s b c; echo f > a/f; echo g > b/g; echo h > c/h' \
  'mv a t; mv b a; mv c b; mv t c'
case_ swap-dir-file 'mkdir -p d/s; echo x > d/s/x; echo f > f' 'exchange d f; mv f/s/x f/x2'
case_ dir-below-taker 'mkdir -p a/s b/c; echo f > a/s/f' 'mv a t; mv b a; mv t a/c/x'
case_ dir-below-chain 'mkdir -p d0/d1 d2/d3; echo f > d2/d3/f' \
  'mv d2 t; mv d0 d2; mv t/d3 d0; mv t d2/d1/f1'
case_ insert-range 'head -c 300000 /dev/urandom > w; fallocate -l 1048576 u' \
  'falloc w 0x20 4096 65536; printf data | dd of=u bs=1 seek=70000 conv=notrunc status=none; falloc u 0x20 0 131072; echo tail >> u'
case_ collapse-range 'head -c 400000 /dev/urandom > w; fallocate -l 1048576 u' \
  'falloc w 0x8 8192 131072; head -c 9000 /dev/urandom | dd of=u bs=1 seek=300000 conv=notrunc status=none; falloc u 0x8 0 262144'
# One write (direct: one request, whatever the page cache's folios)
# from the last block of the collapsed range on; one across the offset
# of an inserted range.
case_ collapse-across 'fallocate -l 1048576 u' \
  'head -c 65536 /dev/urandom | dd of=u bs=65536 iflag=fullblock oflag=direct,seek_bytes seek=261120 conv=notrunc status=none; falloc u 0x8 0 262144'
case_ insert-across 'fallocate -l 1048576 u' \
  'head -c 65536 /dev/urandom | dd of=u bs=65536 iflag=fullblock oflag=direct,seek_bytes seek=61440 conv=notrunc status=none; falloc u 0x20 65536 131072'
# A truncate into a block, then an append into that block: the
# transaction's commit (forced by an fsync of another file) writes the
# block's page, appended bytes and all, before the size that cuts them
# off; the block after is allocated in the next transaction, which
# grows the size over them (soak seed 287446504).
case_ truncate-append 'head -c 16384 /dev/urandom > f; echo o > o' \
  'truncate -s 6000 f; head -c 3000 /dev/urandom >> f; touch o; sync o'
# A zero range (keep size) over the block that holds the end of file,
# then a write over it, its writeback started (sync_file_range) before
# an fsync of another file commits the range: the commit waits for the
# data (the range's partial blocks are ordered data), and the blocks
# are marked written in the next transaction (soak seed 85348643).
case_ zero-then-write 'head -c 20000 /dev/urandom > z; echo o > o' \
  'falloc z 0x11 4196 20280; head -c 20480 /dev/urandom | dd of=z bs=4096 seek=1 conv=notrunc status=none; writeback z o'

umount "$T/mnt"
detach_loop p
stop_proxy p
"$BW" replay --json --data=bytes:1048576 "$T/base.img" "$T/trace.bw" \
  > "$T/events.jsonl" 2> "$T/replay.err" || { cat "$T/replay.err"; fail "replay failed"; }
check_san_log "$T/replay.err"
mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" \
  "$T/events.jsonl" > "$T/oracle.out" 2>&1 ||
  { head -30 "$T/oracle.out"; fail "the events do not replay onto the image"; }
# Not hollow: the cases made the events they are about.
for t in rename delete write; do
  grep -q "\"type\":\"$t\"" "$T/events.jsonl" || fail "no $t event"
done
# Names swapped: as many exchanges as it takes, and no name unlinked
# and linked again (the cases make no links).
swapped() {   # swapped NAME EXCHANGES
  local got
  got=$(jq -r --arg d "/$1/" 'select((.path // "") | startswith($d)) | .type' \
          "$T/events.jsonl" | sort | uniq -c | tr -s ' \n' ' ')
  [ "$(jq -c --arg d "/$1/" 'select(.type == "exchange" and (.path | startswith($d)))' \
         "$T/events.jsonl" | wc -l)" = "$2" ] || fail "$1: not $2 exchange events: $got"
  # jq 1.6's -e is the status of the last input's output alone: count.
  jq -n -e --arg d "/$1/" '[inputs | select((.type == "unlink" or .type == "link") and
                                          ((.path // "") | startswith($d)))] | length == 0' \
      "$T/events.jsonl" > /dev/null || fail "$1: a name unlinked or linked: $got"
}
swapped swap-file-dir 2
swapped swap-then-move 1
swapped swap-dirs 1
swapped cycle-dirs 2
swapped swap-dir-file 1
swapped dir-below-taker 1
swapped dir-below-chain 1
# A file moved below a new directory that takes its name, or into the
# name of a directory removed that it was in, has no name to be
# exchanged with: an unlink, then a link.
renamed_as() {   # renamed_as NAME TYPES: its renames, links, unlinks, exchanges
  [ "$(jq -r --arg d "/$1/" 'select((.path // "") | startswith($d)) |
            select(.type | test("^(un)?link$|^rename$|^exchange$")) | .type' \
         "$T/events.jsonl" | tr '\n' ' ')" = "$2" ] || fail "$1: not $2"
}
renamed_as below-own-name 'unlink link '
renamed_as file-takes-removed 'unlink link unlink link '
# The oracle holds an exchange to the tree: one of a directory with a
# name below it cannot be.
{ cat "$T/events.jsonl"
  printf '{"v":1,"type":"exchange","path":"/swap-dirs/a","inode":%s,"old_path":"/swap-dirs/a/f"}\n' \
    "$(stat -c %i "$T/final/swap-dirs/a/f")"
} > "$T/bad.jsonl"
! "$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/final" \
  "$T/bad.jsonl" > "$T/bad.out" 2>&1 &&
  grep -q '^INCONSISTENT /swap-dirs/a: .*exchange.*one below the other' "$T/bad.out" ||
  { cat "$T/bad.out"; fail "event-tree took an exchange of a name and one below it"; }
say "$(tail -1 "$T/oracle.out")"
