# The fault tests' rig: the whole appliance path, blockwatchd in front
# of ext4 disks, publishing over MQTT/TLS to mosquitto (the shipped
# configuration, with persistence), and a tenant subscribed with a
# persistent QoS 1 session, so that what reaches the tenant can be
# held against what the introspectors made (their events files).
# Source after lib.sh, workload.sh and mqtt-lib.sh.

require_fuse
require_loop
require nbdkit mkfs.ext4 curl fio fsfreeze
BWD=$BW_BUILD/blockwatchd
METRICS_PORT=$(free_port) || fail "no free port"

# fault_broker: the CA and certificates (the tenant is vm-a) and
# mosquitto, which keeps sessions and queued messages across its
# restarts (saved when it stops).
BROKER_DB=("persistence true" "persistence_location $T/db/")
fault_broker() {
  make_pki vm-a
  mkdir -p "$T/db"
  MQ_PORT=$(free_port) || fail "no free port"
  start_broker "${BROKER_DB[@]}"
}

# tenant: vm-a's subscriber, blockwatch sub with a session the broker
# keeps while it is away (MQTT 5, QoS 1), every event of vm-a's disks,
# as JSON lines in $T/vm-a.sub.
tenant() {
  # shellcheck disable=SC2046
  "$BW" sub --mqtt "$MQ_URI" $(tls_of vm-a) --client-id sub-vm-a --session 3600 \
    --json lab:vm-a >> "$T/vm-a.sub" 2>> "$T/vm-a.sub.err" &
  register_pid $!
  wait_subscribed sub-vm-a
}

# fault_config [BROKER-LINES] -- DISK-SECTION...: the configuration;
# the bridges get $BRIDGE_DRAIN seconds (10) to deliver when they stop.
fault_config() {
  local broker=
  while [ $# -gt 0 ] && [ "$1" != -- ]; do broker+="$1"$'\n'; shift; done
  shift
  cat > "$T/bw.conf" <<EOF
[appliance]
host = lab
run-dir = $T/run
state-dir = $T/state
metrics = 127.0.0.1:$METRICS_PORT
nbdkit = $(nbdkit_program)
stop-timeout = 20

[broker]
uri = $MQ_URI
ca-file = $PKI/ca.crt
cert = $PKI/appliance.crt
key = $PKI/appliance.key
mqtt-version = 3.1.1
qos = 1
stats-interval = 1
drain = ${BRIDGE_DRAIN:-10}
$broker
[policy]
data = bytes:1048576
EOF
  printf '%s\n' "$@" >> "$T/bw.conf"
}

# fault_disk NAME [BACKEND] [extra lines]: a [disk] section of vm-a.
fault_disk() {
  cat <<EOF

[disk $1]
vm = vm-a
backend = ${2:-$T/$1.img}
listen = unix:$T/run/$1/nbd.sock
events-file = $T/$1.jsonl
${3:-}
EOF
}

# new_disk NAME [SIZE]: an ext4 image and a copy of it, NAME-base.img.
new_disk() {
  truncate -s "${2:-128M}" "$T/$1.img"
  mkfs.ext4 -q -F -b 4096 "$T/$1.img"
  cp --sparse=always "$T/$1.img" "$T/$1-base.img"
}

. "$(dirname "$0")/appliance-lib.sh"

# start_daemon DISK...: blockwatchd, until every disk is served,
# crawled and its bridge connected.
start_daemon() {
  local d
  "$BWD" -c "$T/bw.conf" >> "$T/daemon.log" 2>&1 &
  daemon=$!
  register_pid $daemon
  for d in "$@"; do
    wait_for 60 -S "$T/run/$d/nbd.sock" || { tail -20 "$T/daemon.log"; fail "disk $d is not exported"; }
    until_metric 60 "blockwatch_introspector_crawling{disk=\"$d\"}" 0
    until_metric 30 "blockwatch_mqtt_connected{disk=\"$d\"}" 1
  done
}

stop_daemon() {
  local rc=0
  kill -TERM "$daemon"
  wait "$daemon" || rc=$?
  [ $rc = 0 ] || { tail -30 "$T/daemon.log"; fail "blockwatchd exited with $rc"; }
  check_san_log "$T/daemon.log"
  check_san_log "$T/vm-a.sub.err"
}

# mount_disk NAME: the kernel's ext4 on the disk's export, at $T/NAME.mnt.
mount_disk() {
  attach_loop "$1" "$T/run/$1/nbd.sock"
  mkdir -p "$T/$1.mnt"
  mount "$LOOP" "$T/$1.mnt"
  register_mount "$T/$1.mnt"
}

umount_disk() {
  umount "$T/$1.mnt"
  detach_loop "$1"
}

# received DISK: the events of DISK the tenant received, first copies
# only (QoS 1 may deliver twice), in the order they came.
received() {
  jq -c -s --arg d "$1" 'reduce (.[] | select(.disk == $d)) as $e ({seen: {}, out: []};
      if .seen[$e.id] then . else .seen[$e.id] = true | .out += [$e] end) | .out[]' "$T/vm-a.sub"
}

# settle DISK: the introspector took everything the plugin had, the
# bridge has nothing left to send, and the tenant has it all (the
# stats are about a second old: wait for new ones).
settle() {
  local n m
  sleep 1.2
  until_metric 30 "blockwatch_tap_buffer_used_bytes{disk=\"$1\"}" 0
  sleep 1.2
  until_metric 30 "blockwatch_mqtt_queued_messages{disk=\"$1\"}" 0
  until_metric 30 "blockwatch_mqtt_in_flight_messages{disk=\"$1\"}" 0
  # No more events arrive for a second.
  n=-1
  for _ in $(seq 30); do
    m=$(wc -l < "$T/vm-a.sub")
    [ "$m" = "$n" ] && return 0
    n=$m
    sleep 1
  done
  fail "$1: the tenant keeps receiving"
}

# snapshot DISK NAME: the disk's image as the guest's file system has it
# now, $T/DISK-NAME.img, and how many of DISK's events the tenant had
# received by then, in $T/DISK-NAME.at.
snapshot() {
  fsfreeze -f "$T/$1.mnt"
  settle "$1"
  cp --sparse=always "$T/$1.img" "$T/$1-$2.img"
  received "$1" | wc -l > "$T/$1-$2.at"
  fsfreeze -u "$T/$1.mnt"
}

# check_tree DISK FROM [--metadata-only]: the events the tenant received
# after snapshot FROM ("base": all of them), applied to FROM's tree,
# rebuild the disk's final image (tests/tools/event-tree).
check_tree() {
  local d=$1 from=$2 at=0
  [ "$from" = base ] || at=$(cat "$T/$d-$from.at")
  received "$d" | tail -n +$((at + 1)) > "$T/$d.after-$from.jsonl"
  mkdir -p "$T/$d.$from.tree" "$T/$d.final.tree"
  mount -o ro,loop,noload "$T/$d-$from.img" "$T/$d.$from.tree"; register_mount "$T/$d.$from.tree"
  mount -o ro,loop,noload "$T/$d.img" "$T/$d.final.tree"; register_mount "$T/$d.final.tree"
  "$BW_BUILD/tests/event-tree" ${3:+"$3"} --base "$T/$d.$from.tree" --check "$T/$d.final.tree" \
    "$T/$d.after-$from.jsonl" > "$T/$d.$from.oracle" 2>&1 ||
    { head -30 "$T/$d.$from.oracle"; fail "$d: the events after $from do not rebuild the final tree"; }
  say "$d: from $from: $(tail -1 "$T/$d.$from.oracle")"
  umount "$T/$d.$from.tree" "$T/$d.final.tree"
}

# check_gaps DISK: what the tenant received of DISK against what its
# introspectors made (the events file, every run appended), by id:
#  - nothing received that no introspector made, except the bridge's
#    own overflow events (lost_events), and the last events of a run
#    that was killed before it wrote them to its events file;
#  - a run's events arrive in the order they were made;
#  - every event made and not received is covered: by bridge overflow
#    events received where it is missing whose lost_events add up to at
#    least the number missing there and at most that many plus their
#    unconfirmed_events, or, when it is the end of a run that died, by
#    the next run beginning with a tap overflow event ("lost") that was
#    received.
# Prints what it counted; fails at the first uncovered gap.
check_gaps() {
  local d=$1
  local cols='[.id, .type, (.lost // -1), (.lost_events // -1), (.unconfirmed_events // 0)] | @tsv'
  jq -r "$cols" "$T/$d.jsonl" > "$T/$d.made.tsv"
  received "$d" | jq -r "$cols" > "$T/$d.got.tsv"
  awk -F'\t' -v disk="$d" '
    function run(x) { return substr(x, 1, 8) }
    function bad(msg) { print disk ": " msg > "/dev/stderr"; failed = 1; exit 1 }
    # The events made between index from and index to (exclusive), not
    # received: those of run torun are what its bridge said it dropped;
    # those of earlier runs end a run whose successor began with a
    # received tap overflow.
    function cover(from, to, torun,    i, mine, r, f) {
      mine = 0
      for (i = from + 1; i < to; i++) {
        r = run(id[i])
        if (r == torun) { mine++; continue }
        f = next_first[r]
        if (f == "" || !got[f] || type[f] != "overflow" || lost[f] < 0)
          bad("event " id[i] " (" type[i] ") of run " r " never arrived, and the next run did not begin with a tap overflow")
        died++
      }
      # A bridge counts what it dropped from its buffer, and apart those
      # it had sent before a connection broke, unacknowledged, which may
      # have reached the broker all the same (QoS 1 cannot tell).
      if (mine > bridge_lost || mine < bridge_lost - bridge_unconfirmed)
        bad(mine " events of run " torun " missing before " (to in id ? id[to] : "the end") \
            ", the bridge reported " bridge_lost " dropped, " bridge_unconfirmed " of them unconfirmed")
      dropped += mine
      reported += bridge_lost
      unconfirmed += bridge_unconfirmed
      bridge_lost = bridge_unconfirmed = 0
    }
    FNR == NR {
      n++; id[n] = $1; type[n] = $2; lost[n] = $3; pos[$1] = n
      r = run($1)
      if (!(r in first)) {
        first[r] = n
        if (prev != "") next_first[prev] = n
        prev = r
        runs++
      }
      next
    }
    {
      if (!($1 in pos)) {
        if ($2 == "overflow" && $4 > 0) { bridge_lost += $4; bridge_unconfirmed += $5; bridge_overflows++; next }
        if (!(run($1) in first)) bad("received " $1 " (" $2 "), which no introspector made")
        unlogged[run($1)] = 1; unlogged_n++
        next
      }
      if (run($1) in unlogged) bad("event " $1 " follows events of its run missing from the events file")
      q = pos[$1]
      if (q <= p) bad("event " $1 " arrived after " id[p] ", made after it")
      got[q] = 1
      cover(p, q, run($1))
      p = q; received++
    }
    END {
      if (failed) exit 1
      cover(p, n + 1, run(id[n]))
      printf "%s: %d events made in %d runs, %d received in order, %d dropped by a bridge (%d overflow events saying %d, %d unconfirmed), %d lost with a run that died (covered), %d published by a killed run not in its events file\n",
        disk, n, runs, received, dropped, bridge_overflows, reported, unconfirmed, died, unlogged_n
    }' "$T/$d.made.tsv" "$T/$d.got.tsv" > "$T/$d.gaps" || fail "$d: a silent gap in the tenant's events"
  say "$(cat "$T/$d.gaps")"
}

# run_types N < EVENTS: the types of the events of the Nth run of the
# introspector in EVENTS (JSON lines; runs counted in the order they
# first appear), in order.
run_types() {
  jq -r -s --argjson n "$1" \
    '(map(.id[:8]) | reduce .[] as $r ([]; if index([$r]) then . else . + [$r] end)) as $runs
     | [.[] | select(.id[:8] == $runs[$n - 1]) | .type] | join(" ")'
}

# tap_overflows DISK: the tap's overflow events the tenant received,
# and their "lost" records in all.
tap_overflows() {
  received "$1" | jq -s -r '[.[] | select(.type == "overflow" and .lost != null)] |
    "\(length) \(map(.lost) | add // 0)"'
}

# paced_writer DIR N: N files of $T/src (and a small one each) written
# into DIR with O_DIRECT and synced, a fifth of a second apart, so that
# it writes on while faults come and go.  In the background; $writer.
paced_writer() {
  (
    for i in $(seq "$2"); do
      dd if="$T/src" of="$1/f$i" bs=256k oflag=direct status=none
      echo "small $i" > "$1/s$i"
      sync
      sleep 0.2
    done
  ) &
  writer=$!
}

# check_written DIR N: the files paced_writer wrote read back as written.
check_written() {
  local i
  for i in $(seq "$2"); do
    cmp "$T/src" "$1/f$i" || fail "$1/f$i differs from what the guest wrote"
    [ "$(cat "$1/s$i")" = "small $i" ] || fail "$1/s$i differs from what the guest wrote"
  done
}

# fio_verify FILE SIZE: fio writes FILE with checksums, O_DIRECT, and
# reads every block back to verify it.
fio_verify() {
  fio --name=verify --filename="$1" --size="$2" --rw=randwrite --bs=64k \
      --direct=1 --ioengine=psync --verify=crc32c --do_verify=1 \
      --verify_fatal=1 --randrepeat=0 > "$T/fio.out" 2>&1 ||
    { cat "$T/fio.out"; fail "fio verify on $1 failed"; }
}
