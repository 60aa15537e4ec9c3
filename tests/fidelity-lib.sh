# The end-to-end fidelity oracle (fidelity-e2e-*.sh): a workload runs
# on the kernel's ext4 on a disk served by blockwatchd (proxy, tap,
# introspector, MQTT bridge) to mosquitto over TLS, and a tenant's
# blockwatch sub receives the events.  After each workload the file
# system is unmounted and the events received so far are held to the
# image (fid_checkpoint):
#  - event-tree --strict replays them onto the empty file system and
#    compares the tree with the image: names, types, modes, owners,
#    sizes, link counts, the content of every file written; and every
#    event must fit the tree replayed before it;
#  - every name an event of this workload gives must be explained by
#    what happened between the two snapshots (the image before and
#    after the workload): a create or link a name that is new (or
#    holds a new inode), a delete or unlink a name that went, a write
#    a file whose mtime changed, a metadata change an inode whose
#    times say it changed.  Names made and removed within the workload
#    are in neither snapshot: the workload lists them (wl_gone).
# The fidelity score of a workload is the share of the paths under its
# directory that are right on all counts.  Source after lib.sh and
# mqtt-lib.sh; the workloads are in fidelity-workloads.sh.

FID=$T/fid                    # checkpoints: listings, oracle outputs
mkdir -p "$FID"
fid_k=0                       # checkpoints made
fid_lines=0                   # events received at the last checkpoint
fid_live_failed=              # workloads the live stream got wrong
fid_names=                    # the workloads, in order

# fid_list DIR: every path of the tree mounted at DIR (from its root)
# with its inode and times: what the next workload's events are judged
# against.  Paths escaped as the events' are (a name may hold '%', a
# newline or bytes that are not UTF-8).
fid_list() {
  "$BW_SRC/tests/tools/fs-random-ops.py" list "$1"
}

# fid_image SIZE: an ext4 image of SIZE at $T/disk.img, a copy of it
# as made ($T/base.img) mounted at $T/base, and its listing: the start
# of every workload's events.
fid_image() {
  # Inode tables written now (not by the kernel's lazy init later,
  # which would be a workload of its own), and inodes for 50k entries.
  truncate -s "$1" "$T/disk.img"
  mkfs.ext4 -q -F -b 4096 -N 100000 -E lazy_itable_init=0,lazy_journal_init=0 "$T/disk.img"
  cp --sparse=always "$T/disk.img" "$T/base.img"
  mkdir -p "$T/base" "$T/snap" "$T/mnt"
  mount -o ro,loop,noload "$T/base.img" "$T/base"; register_mount "$T/base"
  fid_list "$T/base" > "$FID/0.list"
}

# fid_appliance SIZE: an ext4 image of SIZE (fid_image), and blockwatchd
# serving it as disk "disk" of VM vm1 on $T/run/disk/nbd.sock,
# publishing to mosquitto (TLS, client certificates); the tenant vm1's
# blockwatch sub writes what it receives to $T/sub.jsonl.
fid_appliance() {
  local port
  make_pki vm1
  start_broker
  fid_image "$1"
  port=$(free_port) || fail "no free port"
  { appliance_conf "$port" 60; cat <<EOF; } > "$T/bw.conf"
stats-interval = 0
drain = 30

[policy]
# Nothing may be lost (the guest waits), and every write carries its
# bytes: the oracle compares content.
tap-overflow = block:60000
tap-buffer = 256M
data = bytes:1048576

[disk disk]
vm = vm1
backend = $T/disk.img
listen = unix:$T/run/disk/nbd.sock
events-file = $T/events.jsonl
# The records the introspector took, for a failure's analysis
# (blockwatch replay); fid_finish rebuilds the disk from them.
record-trace = $T/tap.trace
EOF
  # shellcheck disable=SC2046
  "$BW" sub --mqtt "$MQ_URI" $(tls_of vm1) --client-id fid-vm1 --json lab:vm1 \
    > "$T/sub.jsonl" 2> "$T/sub.err" &
  register_pid $!
  wait_subscribed fid-vm1
  "$BW_BUILD/blockwatchd" -c "$T/bw.conf" >> "$T/daemon.log" 2>&1 &
  fid_daemon=$!
  register_pid $fid_daemon
  wait_for 60 -S "$T/run/disk/nbd.sock" || { tail -20 "$T/daemon.log"; fail "the disk is not exported"; }
  for _ in $(seq 200); do
    curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" |
      grep_all -q '^blockwatch_mqtt_connected{disk="disk"} 1$' && return 0
    sleep 0.1
  done
  tail -20 "$T/daemon.log"
  fail "the disk's bridge did not connect to the broker"
}

# The events received, each once (QoS 1 may deliver one twice).
fid_received() {
  awk '!seen[$0]++' "$T/sub.jsonl"
}

# fid_wait_events SECONDS: until the k-th unmount (the end of the
# k-th workload) has arrived, and the subscriber has every event the
# introspector wrote to its events file, which then stays put.
fid_wait_events() {
  local n=0 last=-1 got
  for _ in $(seq $(($1 * 10))); do
    got=$(grep -c '"type":"unmount"' "$T/sub.jsonl" || true)
    if [ "$got" -ge "$fid_k" ]; then
      n=$(wc -l < "$T/events.jsonl")
      if [ "$n" = "$last" ] && [ "$(fid_received | wc -l)" -ge "$n" ]; then
        return 0
      fi
      last=$n
    fi
    sleep 0.5
  done
  fail "the events of workload $fid_k did not arrive in $1 s ($(fid_received | wc -l) received, $n written)"
}

# The names an event gives that nothing between the snapshots PREV and
# CUR explains (the event lines on stdin as TSV: type, path, old path,
# field); GONE lists the patterns of the names the workload made and
# removed.
fid_phantoms() {   # fid_phantoms PREV CUR GONE
  awk -F'\t' -v prev="$1" -v cur="$2" -v gone="$3" '
    function glob_re(g,   re, tail, i, j, c) {
      tail = ""
      if (g ~ /\/\*\*$/) { g = substr(g, 1, length(g) - 3); tail = "/.*" }
      re = "^"
      for (i = 1; i <= length(g); i++) {
        c = substr(g, i, 1)
        if (c == "*") re = re "[^/]*"
        else if (c == "?") re = re "[^/]"
        else if (c == "[") { j = index(substr(g, i), "]"); re = re substr(g, i, j); i += j - 1 }
        else if (c ~ /[.+^$(){}|\\]/) re = re "\\" c
        else re = re c
      }
      return re tail "$"
    }
    function load(file, ino, at, mt, ct) {
      while ((getline < file) > 0) { ino[$1] = $2; at[$1] = $4; mt[$1] = $5; ct[$1] = $6 }
    }
    function transient(p,   i) {
      for (i = 0; i < np; i++) if (p ~ pat[i]) return 1
      return 0
    }
    function born(p) { return (p in ci) && (!(p in pi) || pi[p] != ci[p]) }
    # A name that went, or was made during the workload (and may have
    # gone and come back).
    function went(p) { return born(p) || ((p in pi) && (!(p in ci) || pi[p] != ci[p])) }
    # The inode at p changed in a way that time t (a list of times)
    # records.
    function changed(p, pt, t) { return born(p) || ((p in pi) && (p in ci) && pt[p] != t[p]) }
    BEGIN {
      while ((getline l < gone) > 0) pat[np++] = glob_re(l)
      load(prev, pi, pa, pm, pc)
      load(cur, ci, ca, cm, cc)
    }
    $2 == "" { next }          # file-system events, writes to nameless inodes
    {
      t = $1; p = $2; o = $3; f = $4
      if (transient(p) && (o == "" || transient(o))) next
      if (t == "create" || t == "link") ok = born(p)
      else if (t == "delete" || t == "unlink") ok = went(p)
      else if (t == "rename") ok = (born(p) || transient(p)) && (went(o) || transient(o))
      else if (t == "exchange") ok = (went(p) || transient(p)) && (went(o) || transient(o))
      else if (t == "write" || t == "truncate") ok = changed(p, pm, cm)
      else if (t == "metadata" && f == "atime") ok = changed(p, pa, ca)
      else if (t == "metadata" && f == "mtime") ok = changed(p, pm, cm)
      else if (t == "metadata" && f == "crtime") ok = born(p)
      else if (t == "metadata") ok = changed(p, pc, cc)
      else ok = 1
      if (!ok) printf "PHANTOM %s: %s%s%s, which the snapshots do not show\n", p, t,
                      f == "" ? "" : " of " f, o == "" ? "" : " from " o
    }'
}

# under DIR: the lines on stdin that are DIR or below it.
under() { awk -v d="$1" '$0 == d || index($0, d "/") == 1'; }

# The INCONSISTENT lines of an oracle output about events after line
# FROM up to line TO, one per event: their line numbers.
fid_inconsistent() {   # fid_inconsistent ORACLE FROM TO
  awk -v from="$2" -v to="$3" '/^INCONSISTENT / { n = $0; sub(/.*: line /, "", n); sub(/,.*/, "", n)
                                                  if (n + 0 > from && n + 0 <= to) print n + 0 }' "$1" | sort -u
}

# fid_score NAME ORACLE LIST PHANTOMS FROM TO: the fidelity of workload
# NAME, whose events are lines FROM+1..TO of the stream ORACLE judged:
# "PATHS-PERCENT RIGHT TOTAL EVENTS-PERCENT RIGHT TOTAL".  Paths: those
# under /NAME in the image (LIST), and those the events have and the
# image has not; right when the oracle found nothing wrong with them
# (type, mode, owner, size, links, content).  Events: those of the
# workload; right when they fit the tree before them and the snapshots
# explain them (PHANTOMS lists those they do not).
fid_score() {
  local bad total bad_ev ev
  sed -n 's/^MISMATCH \(.*\): .*/\1/p' "$2" | under "/$1" | sort -u > "$2.bad"
  cut -f1 "$3" | under "/$1" | sort -u - "$2.bad" | sort -u > "$2.paths"
  bad=$(wc -l < "$2.bad")
  total=$(wc -l < "$2.paths")
  bad_ev=$(($(fid_inconsistent "$2" "$5" "$6" | wc -l) + $(wc -l < "$4")))
  ev=$(($6 - $5))
  awk -v b="$bad" -v t="$total" -v be="$bad_ev" -v e="$ev" 'BEGIN {
    printf "%.2f %d %d %.2f %d %d\n", t ? 100 * (t - b) / t : 0, t - b, t, e ? 100 * (e - be) / e : 0, e - be, e }'
}

# fid_phantoms_of K NAME: the phantoms among the events on stdin, those
# of workload NAME, the K-th.
fid_phantoms_of() {
  jq -r '[.type, .path // "", .old_path // "", .field // ""] | @tsv' |
    fid_phantoms "$FID/$(($1 - 1)).list" "$FID/$1.list" "$FID/$2.gone"
}

# fid_judge NAME ORACLE LIST PHANTOMS FROM TO TABLE: scores workload NAME
# (fid_score), adds its line to TABLE; fails (status 1) when one of its
# paths or events is wrong (counted, not rounded: 1 wrong in 20 000
# prints as 100.00%), showing them.  A mismatch outside its tree is
# fid_elsewhere's.
fid_judge() {
  local pp pr pt ep er et line
  read -r pp pr pt ep er et < <(fid_score "$@")
  line=$(printf '| %s | %s%% | %d / %d | %s%% | %d / %d |' "$1" "$pp" "$pr" "$pt" "$ep" "$er" "$et")
  echo "$line" >> "$7"
  say "fidelity ($(basename "$7")) $line"
  if [ "$pr" != "$pt" ] || [ "$er" != "$et" ] || [ "$pt" = 0 ]; then
    awk -v m="MISMATCH /$1" 'index($0, m "/") == 1 || index($0, m ":") == 1 || /^INCONSISTENT /' "$2" |
      head -20 >&2
    head -20 "$4" >&2
    return 1
  fi
}

# fid_elsewhere ORACLE PREV NAME...: the oracle's mismatches at paths
# below none of the workloads NAME (/, lost+found, or an earlier
# workload's tree the later ones broke), less those the oracle PREV
# already had; fails (status 1) showing them if there are any.  No
# workload's score counts them.
fid_elsewhere() {
  local oracle=$1 prev=$2 name out
  shift 2
  out=$(sed -n 's/^MISMATCH \(.*\): .*/\1/p' "$oracle" | sort -u |
          comm -23 - <(sed -n 's/^MISMATCH \(.*\): .*/\1/p' "$prev" | sort -u))
  for name; do
    out=$(printf '%s\n' "$out" | awk -v d="/$name" 'NF && $0 != d && index($0, d "/") != 1')
  done
  [ -z "$out" ] && return 0
  printf '%s\n' "$out" | head -20 | sed 's/^/MISMATCH below no workload judged: /' >&2
  return 1
}

# fid_checkpoint NAME SECONDS: workload NAME is done and its file
# system unmounted; within SECONDS its events have arrived.  Checks
# them against the image and records NAME's live scores.
fid_checkpoint() {
  local name=$1 k
  fid_k=$((fid_k + 1))
  k=$fid_k
  fid_names="$fid_names $name"
  fid_wait_events "$2"
  fid_received > "$FID/$k.jsonl"
  fid_prev_lines=$fid_lines
  fid_lines=$(wc -l < "$FID/$k.jsonl")
  mount -o ro,loop,noload "$T/disk.img" "$T/snap"; register_mount "$T/snap"
  fid_list "$T/snap" > "$FID/$k.list"
  "$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/snap" \
    "$FID/$k.jsonl" > "$FID/$k.oracle" 2>&1 || true
  umount "$T/snap"
  grep -q '^event-tree: ' "$FID/$k.oracle" || { cat "$FID/$k.oracle"; fail "$name: event-tree failed"; }
  touch "$FID/$name.gone"
  tail -n +$((fid_prev_lines + 1)) "$FID/$k.jsonl" | fid_phantoms_of "$k" "$name" > "$FID/$k.phantoms"
  fid_judge "$name" "$FID/$k.oracle" "$FID/$k.list" "$FID/$k.phantoms" \
    "$fid_prev_lines" "$fid_lines" "$T/live" || fid_live_failed="$fid_live_failed $name"
  fid_elsewhere "$FID/$k.oracle" "$([ "$k" = 1 ] && echo /dev/null || echo "$FID/$((k - 1)).oracle")" "$name" ||
    fid_live_failed="$fid_live_failed (elsewhere-after-$name)"
}

# fid_replay: the same oracle, for the events `blockwatch replay` makes
# from the introspector's record trace: the same records, the same
# engine, but with the disk read as it was at each record, never ahead
# of it (deterministic).  Each workload's events end with its unmount.
# Sets fid_replay_failed to the workloads below 100%.
fid_replay() {
  local k=0 from=0 to name
  fid_replay_failed=
  "$BW" replay --json --data=bytes:1048576 "$T/base.img" "$T/tap.trace" \
    > "$FID/replay.jsonl" 2> "$FID/replay.err" ||
    { cat "$FID/replay.err" >&2; fail "blockwatch replay of the record trace failed"; }
  mount -o ro,loop,noload "$T/disk.img" "$T/snap"; register_mount "$T/snap"
  "$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/snap" \
    "$FID/replay.jsonl" > "$FID/replay.oracle" 2>&1 || true
  umount "$T/snap"
  grep -q '^event-tree: ' "$FID/replay.oracle" || { cat "$FID/replay.oracle" >&2; fail "event-tree failed on the replay"; }
  grep -n '"type":"unmount"' "$FID/replay.jsonl" | cut -d: -f1 > "$FID/replay.ends"
  [ "$(wc -l < "$FID/replay.ends")" = "$fid_k" ] ||
    fail "the replay has $(wc -l < "$FID/replay.ends") unmounts for $fid_k workloads"
  for name in $fid_names; do
    k=$((k + 1))
    to=$(sed -n "${k}p" "$FID/replay.ends")
    sed -n "$((from + 1)),${to}p" "$FID/replay.jsonl" | fid_phantoms_of "$k" "$name" > "$FID/replay.$k.phantoms"
    fid_judge "$name" "$FID/replay.oracle" "$FID/$fid_k.list" "$FID/replay.$k.phantoms" \
      "$from" "$to" "$T/replay" || fid_replay_failed="$fid_replay_failed $name"
    from=$to
  done
  fid_elsewhere "$FID/replay.oracle" /dev/null $fid_names ||
    fid_replay_failed="$fid_replay_failed (below-no-workload)"
}

# fid_selftest: the oracle is not blind.  The events received, with
# the one write of a file taken out (a file the final image has under
# that name), must not rebuild the final image; a create of a name no
# workload made must be a phantom.
fid_selftest() {
  local k=$fid_k p
  p=$(jq -r 'select(.type == "write" and .path != null and (.data // "" | test("[^A=]"))) | .path' \
        "$FID/$k.jsonl" | sort | uniq -u |
        awk -F'\t' -v list="$FID/$k.list" 'BEGIN { while ((getline l < list) > 0) { split(l, f, "\t"); have[f[1]] = 1 } }
                                           !p && ($0 in have) { p = $0 } END { print p }')
  [ -n "$p" ] || fail "self-test: no file written by one event"
  jq -c --arg p "$p" 'select(.type != "write" or .path != $p)' "$FID/$k.jsonl" > "$FID/self.jsonl"
  mount -o ro,loop,noload "$T/disk.img" "$T/snap"; register_mount "$T/snap"
  if "$BW_BUILD/tests/event-tree" --strict --base "$T/base" --check "$T/snap" \
       "$FID/self.jsonl" > "$FID/self.oracle" 2>&1 ||
     ! grep -q "^MISMATCH $p: content differs" "$FID/self.oracle"; then
    umount "$T/snap"
    cat "$FID/self.oracle"
    fail "self-test: the oracle did not see the write of $p missing"
  fi
  umount "$T/snap"
  printf 'create\t%s.ghost\t\t\n' "$p" |
    fid_phantoms "$FID/$((k - 1)).list" "$FID/$k.list" /dev/null | grep_all -q '^PHANTOM ' ||
    fail "self-test: a create of a name never made is not a phantom"
  # A mismatch is its own workload's, or below none: it fails that
  # workload alone, or the run.
  set -- $fid_names
  if [ $# -ge 2 ]; then
    printf 'MISMATCH /%s/x: content differs\n' "$2" > "$FID/self2.oracle"
    fid_judge "$1" "$FID/self2.oracle" "$FID/$k.list" /dev/null 0 0 /dev/null > /dev/null 2>&1 ||
      fail "self-test: a mismatch in /$2 failed workload $1"
    ! fid_judge "$2" "$FID/self2.oracle" "$FID/$k.list" /dev/null 0 0 /dev/null > /dev/null 2>&1 ||
      fail "self-test: a mismatch in /$2 did not fail workload $2"
    fid_elsewhere "$FID/self2.oracle" /dev/null "$@" 2> /dev/null ||
      fail "self-test: a mismatch in /$2 is taken for one below no workload"
  fi
  echo 'MISMATCH /lost+found: links 3 vs 2' > "$FID/self2.oracle"
  ! fid_elsewhere "$FID/self2.oracle" /dev/null $fid_names 2> /dev/null ||
    fail "self-test: a mismatch below no workload went unseen"
  fid_elsewhere "$FID/self2.oracle" "$FID/self2.oracle" $fid_names 2> /dev/null ||
    fail "self-test: a mismatch below no workload seen at the checkpoint before is counted again"
  say "self-test: the oracle sees a write missing ($p) and a create that did not happen; a mismatch fails its own workload, or the run"
}

# fid_finish: every event the introspector wrote was received, in
# order; blockwatchd stops cleanly; the record trace is every write;
# the scores of the live stream and of the replay.  Fails if any
# workload is below 100% in either; FID_LIVE_STRICT=0 makes the live
# stream's a warning (to see the replay's scores whatever the live
# stream did).
fid_finish() {
  local rc=0
  fid_received | jq -r .id > "$FID/received.ids"
  jq -r .id "$T/events.jsonl" > "$FID/written.ids"
  diff "$FID/written.ids" "$FID/received.ids" > "$FID/ids.diff" ||
    { head "$FID/ids.diff"; fail "the subscriber did not receive exactly the events written"; }
  kill -TERM "$fid_daemon"
  wait "$fid_daemon" || rc=$?
  [ $rc = 0 ] || { tail -30 "$T/daemon.log"; fail "blockwatchd exited with $rc"; }
  check_san_log "$T/daemon.log"
  check_san_log "$T/sub.err"
  fid_verdict
}

# fid_verdict: the introspector is done; its record trace
# ($T/tap.trace) rebuilds the disk, and the fidelity of the live stream
# and of the replay, printed, are 100% for every workload (else fails).
fid_verdict() {
  local t
  # The introspector's record trace holds every write: applied to the
  # image from before, it is the disk.
  cp --sparse=always "$T/base.img" "$T/applied.img"
  "$BW" trace apply "$T/tap.trace" "$T/applied.img" > /dev/null
  cmp "$T/applied.img" "$T/disk.img" ||
    fail "the record trace (record-trace) does not rebuild the disk"
  say "the record trace rebuilds the disk: $(du -h --apparent-size "$T/tap.trace" | cut -f1)"
  fid_replay
  for t in live replay; do
    say "fidelity per workload, $t (paths right in the image; events that fit and happened):"
    echo "    | workload | paths | right / all | events | right / all |"
    echo "    |---|---:|---:|---:|---:|"
    sed 's/^/    /' "$T/$t"
  done
  [ -z "$fid_replay_failed" ] || fail "fidelity of the replayed records below 100% in:$fid_replay_failed"
  if [ -n "$fid_live_failed" ]; then
    [ "${FID_LIVE_STRICT:-1}" = 0 ] ||
      fail "fidelity of the live stream below 100% in:$fid_live_failed"
    say "WARNING: the live stream is below 100% in:$fid_live_failed (docs/fidelity.md)"
  fi
}
