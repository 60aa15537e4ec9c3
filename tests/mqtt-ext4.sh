#!/bin/bash
# The MQTT bridge end to end: blockwatch watch --mqtt publishes the
# events of a real kernel ext4 workload through the proxy to mosquitto
# (the appliance's configuration: TLS, client certificates, the ACL).
# A tenant's mosquitto_sub receives every event, in order, and they
# rebuild the final tree; odd names (spaces, +, #, %, a file called
# $fs, invalid UTF-8, 255 bytes, a path deeper than mosquitto's 200
# levels) arrive on topics that parse back to their paths; blockwatch
# sub channels get exactly the events their globs match; $status and
# $stats say what they should.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
. "$(dirname "$0")/mqtt-lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4

odd_names() {   # odd_names MOUNTPOINT
  local m=$1 d i
  mkdir -p "$m/odd"
  echo a > "$m/odd/sp ace"
  echo b > "$m/odd/plus+hash#per%cent"
  echo c > "$m/\$fs"
  echo d > "$m/odd/$(printf 'bad\xff\xfe')"
  echo e > "$m/odd/$(head -c 255 /dev/zero | tr '\0' x)"
  d=$m/deep
  for i in $(seq 205); do d=$d/d; done
  mkdir -p "$d"
  echo deep > "$d/leaf"
  sync
}

everything() { workload "$1"; odd_names "$1"; }

make_pki vm1
start_broker
sub_of vm1 -t 'blockwatch/lab/vm1/#'
# blockwatch sub, on channels whose events are known below.
bsub() {   # bsub NAME ARGS...: in the background, output in $T/NAME.bsub
  local name=$1; shift
  # shellcheck disable=SC2046
  "$BW" sub --mqtt "$MQ_URI" $(tls_of vm1) --client-id "bsub-$name" "$@" \
    > "$T/$name.bsub" 2> "$T/$name.bsub.err" &
  register_pid $!
  eval "bsub_$name=$!"
  wait_subscribed "bsub-$name"
}
bsub etc --json 'lab:vm1:/etc/*'
bsub home --json --type write 'lab:vm?:/home/**'
bsub many --json '*:vm1:/many/file-1?' 'lab:*:/many/file-1?'
bsub log 'lab:vm1:/var/log/app.log'

truncate -s 256M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
cp --sparse=always "$T/disk.img" "$T/base.img"
# shellcheck disable=SC2207
WATCH_ARGS=(--mqtt "$MQ_URI" $(tls_of appliance) --stats 1)
watch_workload d0 "$T/disk.img" everything
grep -q "mqtt: connected to $MQ_URI" "$T/d0.watch.err" || { cat "$T/d0.watch.err"; fail "watch did not connect"; }
events=$(wc -l < "$T/d0.jsonl")
say "watch printed $events events and published them"
grep -q " 0 dropped, 0 refused" "$T/d0.watch.err" || { cat "$T/d0.watch.err"; fail "events were lost"; }

# Every event arrived (some maybe twice: QoS 1), in order.
wait_lines "$T/vm1.sub" "$events" 30 '{"v":1,'
cut -f2- "$T/vm1.sub" | grep '^{"v":1,' | awk '!seen[$0]++' > "$T/mq.jsonl"
diff "$T/d0.jsonl" "$T/mq.jsonl" > "$T/mq.diff" || { head "$T/mq.diff"; fail "the events received differ from those published"; }
check_events mq "$T/base.img" "$T/disk.img"

# Topics: what the layout says, and back to the paths.
"$BW_BUILD/tests/mqtt-topics" < "$T/vm1.sub" > "$T/topics.out" || fail "wrong topics"
say "topics: $(cat "$T/topics.out")"
grep -q " [1-9][0-9]* folded" "$T/topics.out" || fail "the deep path did not fold"
# (a file system on the whole disk: partition 0)
for t in '/0/odd/sp ace' '/0/odd/plus%2Bhash%23per%25cent' '/0/%24fs' \
         '/0/odd/bad%FF%FE' "/0/odd/$(head -c 255 /dev/zero | tr '\0' x)"; do
  grep -q "^blockwatch/lab/vm1/d0$t	" "$T/vm1.sub" || fail "no event on ...$t"
done
grep -q '^blockwatch/lab/vm1/d0/0/$fs/mount	' "$T/vm1.sub" || fail "no mount event on \$fs/mount"

# $stats came every second, $status is retained: offline now.
grep -q '^blockwatch/lab/vm1/d0/$stats	{"time_ns":.*"events":' "$T/vm1.sub" || fail "no \$stats"
grep -q '^blockwatch/lab/vm1/d0/$status	online' "$T/vm1.sub" || fail "no online \$status"
# shellcheck disable=SC2046
status=$(mosquitto_sub -h localhost -p "$MQ_PORT" $(tls_of vm1) -C 1 -W 5 \
           -t 'blockwatch/lab/vm1/d0/$status')
[ "$status" = offline ] || fail "retained \$status is '$status', not offline"

# blockwatch sub: exactly the events of each channel (fs-wide ones
# included, unless a type says otherwise; an overflow that names a file
# is that file's), by id, in order.
fs='(.type | IN("mount","unmount","partition","overflow","resync")) and .inode == null'
expect() {   # expect NAME JQ-FILTER
  local name=$1 pid n
  jq -r "select($2) | .id" "$T/d0.jsonl" > "$T/$name.want"
  n=$(wc -l < "$T/$name.want")
  [ "$n" -gt 0 ] || fail "$name: the workload has no such events"
  wait_lines "$T/$name.bsub" "$n" 20
  sleep 0.5                     # nothing more must come
  jq -r .id "$T/$name.bsub" > "$T/$name.got" || fail "$name: not JSON lines"
  diff "$T/$name.want" "$T/$name.got" > "$T/$name.diff" || { head "$T/$name.diff"; fail "blockwatch sub $name: wrong events"; }
  pid=$(eval echo "\$bsub_$name")
  kill "$pid"; wait "$pid" || true
  check_san_log "$T/$name.bsub.err"
  say "sub $name: $n events"
}
expect etc "(.path // \"\" | test(\"^/etc/[^/]*\$\")) or ($fs)"
expect home '.type == "write" and (.path // "" | test("^/home(/.*)?$"))'
expect many "(.path // \"\" | test(\"^/many/file-1.\$\")) or ($fs)"

# The human form: a tail -f of the file (the 50 appends of one sync are
# one write).
wait_lines "$T/log.bsub" 1 10 'write .*app.log  bytes'
grep -q 'write .*app.log  bytes 0\.\.[0-9]* "line 1\\nline 2\\n' "$T/log.bsub" || { cat "$T/log.bsub"; fail "the log's text is not shown"; }
kill "$bsub_log"; wait "$bsub_log" || true
check_san_log "$T/log.bsub.err"
