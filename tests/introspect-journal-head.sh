#!/bin/bash
# The online introspector finds the jbd2 log's head where the kernel
# writes it, and follows every commit from there as it comes, in two
# cases where it used to wait at the wrong place until the journal
# superblock moved past (at a checkpoint: minutes, or never on a quiet
# disk), reporting metadata only as it reached its home location:
#  - restarted (the first run killed) while a transaction is half
#    written: its descriptor and copies on the disk, taken by the first
#    run, its commit block not yet written;
#  - after a freeze (fsfreeze empties the log while mounted; the kernel
#    then goes on where the log was, with the id the superblock kept,
#    not where a fresh mount would start).
# Nothing here hangs on timing: the kernel's ext4 (commit=600, so that
# only our fsyncs commit) writes through the plugin to an NBD server
# whose flushes wait while a file exists, so the commit of the first
# transaction stops at the flush before its commit block for as long
# as the test needs.  Files created before and after the restart and
# after the freeze must be reported at their transactions' commit
# blocks (the event's seq is a write into the journal), within 10 s,
# long before any checkpoint; and the second run's events
# rebuild the final tree from the one it crawled.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 debugfs dumpe2fs fsfreeze jq

truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$T/disk.img"
# Where the journal is, read from a copy as mkfs made it: read from the
# image while the kernel writes it, the superblock may be half written
# (a checksum error: debugfs found no journal, seen under CI load).
cp --sparse=always "$T/disk.img" "$T/mkfs.img"

# The NBD server: the image, through dd; a flush waits while $T/hold
# exists, and says so in $T/held.
cat > "$T/server.sh" <<EOF
#!/bin/sh
case "\$1" in
  get_size) stat -c %s "$T/disk.img" ;;
  can_write|can_flush) exit 0 ;;
  can_fua) echo emulate ;;
  pread) exec dd if="$T/disk.img" iflag=skip_bytes,count_bytes skip="\$4" count="\$3" status=none ;;
  pwrite) exec dd of="$T/disk.img" bs="\$3" count=1 iflag=fullblock oflag=seek_bytes seek="\$4" conv=notrunc status=none ;;
  flush) while [ -e "$T/hold" ]; do touch "$T/held"; sleep 0.05; done ;;
  *) exit 2 ;;
esac
EOF
chmod 755 "$T/server.sh"
start_upstream up nbdkit -f -U "$T/up.sock" sh "$T/server.sh"

# start_watch NAME: blockwatch watch on the tap socket, reading the
# image; events in $T/NAME.jsonl, the records it took in $T/NAME.bw,
# its counters in $T/NAME.stats.
start_watch() {
  rm -f "$T/tap"
  "$BW" watch --json --data=bytes:1048576 --once --storage "$T/disk.img" \
    --record "$T/$1.bw" --stats-file "$T/$1.stats" \
    --host lab --vm vm1 --disk d0 "unix:$T/tap" \
    > "$T/$1.jsonl" 2> "$T/$1.err" &
  watch_pid=$!
  register_pid $watch_pid
  wait_for 30 -S "$T/tap" || { cat "$T/$1.err"; fail "watch $1 did not start"; }
}

# stat_of KEY [NAME]: counter KEY of the proxy (or of watch NAME).
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$T/${2:-p}.stats" 2>/dev/null; }

# reported NAME DIR N: within 10 s, run NAME has reported the creation
# of DIR/f1..fN, each at a record that wrote into the journal.
reported() {
  local name=$1 dir=$2 n=$3 i got
  for _ in $(seq 100); do
    # (-R, fromjson?: the line being written may not be whole yet)
    got=$(jq -R -r --arg d "/$dir/" 'fromjson? | select(.type == "create" and (.path | startswith($d))) | .path' \
      "$T/$name.jsonl" | sort -u | wc -l)
    [ "$got" -ge "$n" ] && break
    sleep 0.1
  done
  [ "$got" -ge "$n" ] || { tail -5 "$T/$name.err"; fail "$name: $got of the $n files of /$dir reported within 10 s"; }
  "$BW" trace dump "$T/$name.bw" > "$T/$name.trace"
  journal_seqs "$T/$name.trace" "$T/mkfs.img" > "$T/$name.jseqs"
  for i in $(seq "$n"); do
    jq -R -r --arg p "/$dir/f$i" 'fromjson? | select(.type == "create" and .path == $p) | .seq' "$T/$name.jsonl" |
      awk 'NR == FNR { j[$1]; next } !($1 in j) { bad = 1 } END { exit bad }' "$T/$name.jseqs" - ||
      fail "$name: /$dir/f$i was not reported at a journal commit"
  done
  say "$name: the $n files of /$dir reported at their commit"
}

start_watch w1
start_proxy p "$(uri_of up)" tap=unix:"$T/tap" stats="$T/p.stats"
attach_loop p
mkdir "$T/mnt"
mount -o commit=600 "$LOOP" "$T/mnt"
register_mount "$T/mnt"

# --- The first transaction stops before its commit block; the first
# run takes its descriptor and copies, and dies.  (Empty files: data
# written before the commit is the dead run's to report, lost with it;
# under blockwatchd the run mark makes the next run say so, with an
# overflow and a resync.)
mkdir "$T/mnt/a"
for i in 1 2 3 4 5; do : > "$T/mnt/a/f$i"; done
touch "$T/hold"
sync "$T/mnt/a/f1" &
syncer=$!
wait_for 30 -e "$T/held" || fail "no flush came to hold the commit"
held_at=$(date +%s%N)
for _ in $(seq 100); do
  [ "$(stat_of time_ns)" -gt "$held_at" ] && [ "$(stat_of tap.depth_bytes)" = 0 ] && break
  sleep 0.1
done
[ "$(stat_of time_ns)" -gt "$held_at" ] && [ "$(stat_of tap.depth_bytes)" = 0 ] ||
  fail "the first run did not take every record"
kill -9 $watch_pid
wait $watch_pid 2>/dev/null || true
cp --sparse=always "$T/disk.img" "$T/start.img"
start_watch w2
for _ in $(seq 100); do [ "$(stat_of tap.connects w2)" = 1 ] && break; sleep 0.1; done
[ "$(stat_of tap.connects w2)" = 1 ] || fail "the proxy did not connect to the second run"
# The first run took what the kernel wrote of the transaction, and the
# disk has it: written, not committed.
"$BW" trace dump "$T/w1.bw" > "$T/w1.trace"
[ "$(journal_seqs "$T/w1.trace" "$T/mkfs.img" | wc -l)" -gt 0 ] ||
  fail "the first run took no write into the journal"
rm "$T/hold"
wait $syncer || fail "the fsync failed"
reported w2 a 5
# The second run's first record was the flush that was held: every
# block of the transaction before its commit block was the first run's.
[ "$(awk '/^seq=/ { print $2; exit }' "$T/w2.trace")" = flush ] ||
  fail "the second run took writes from before the flush: $(head -3 "$T/w2.trace")"

# --- Right after the start: the next transaction.
for i in 1 2 3 4 5; do echo "a $i" > "$T/mnt/a/f$i"; done
mkdir "$T/mnt/b"
for i in 1 2 3; do echo "b $i" > "$T/mnt/b/f$i"; done
sync "$T/mnt/b/f1"
reported w2 b 3

# --- After a freeze, which empties the log.
fsfreeze -f "$T/mnt"
fsfreeze -u "$T/mnt"
mkdir "$T/mnt/c"
for i in 1 2 3; do echo "c $i" > "$T/mnt/c/f$i"; done
sync "$T/mnt/c/f1"
reported w2 c 3

umount "$T/mnt"
detach_loop p
stop_proxy p
wait $watch_pid || { cat "$T/w2.err"; fail "watch w2 failed"; }
check_san_log "$T/w2.err"
if grep -q '"type":"overflow"' "$T/w2.jsonl"; then
  fail "the second run reported a loss: the first had not taken every record"
fi
# From the tree the second run crawled (the disk while the commit was
# held, as the kernel's recovery makes it: a writable mount of the
# copy), its events rebuild the final tree, data included.
mkdir "$T/start" "$T/final"
mount -o loop "$T/start.img" "$T/start"; register_mount "$T/start"
mount -o ro,loop,noload "$T/disk.img" "$T/final"; register_mount "$T/final"
"$BW_BUILD/tests/event-tree" --base "$T/start" --check "$T/final" "$T/w2.jsonl" \
  > "$T/w2.oracle" 2>&1 || { head -30 "$T/w2.oracle"; fail "the second run's events do not rebuild the final tree"; }
say "w2: $(tail -1 "$T/w2.oracle")"
umount "$T/start" "$T/final"
say "ok"
