#!/bin/bash
# The nbd backend forwards every NBD operation to an upstream NBD server
# unchanged (nbd-ops against a model; the tap trace replays onto the
# initial image to exactly the upstream's final image), advertises
# exactly what the upstream does, keeps many requests in flight, speaks
# TLS when the URI asks for it, fails clearly at start-up, and fails
# requests, without hanging, when the upstream dies and stays away; a
# client that connects while the upstream restarts waits for it.
. "$(dirname "$0")/lib.sh"
require nbdkit nbdinfo qemu-nbd qemu-img qemu-io fio openssl

# What a client learns at handshake, one line per fact.
caps() {
  nbdinfo --json "$1" | grep -E '"(can_flush|can_fua|can_trim|can_zero|can_fast_zero|can_cache|can_multi_conn|is_read_only|is_rotational|export-size|block_size_[a-z]+)"|"base:allocation"'
}

# same_caps NAME: the proxy NAME advertises exactly what upstream NAME does.
same_caps() {
  caps "$(uri_of "$1")" > "$T/$1.caps"
  caps "$(uri_of "$1p")" > "$T/$1p.caps"
  diff -u "$T/$1.caps" "$T/$1p.caps" ||
    fail "proxy in front of $1 advertises other capabilities than $1"
}

# start_fails WHAT PATTERN PLUGIN-ARGS...: nbdkit must exit non-zero
# within 20 s with an error naming the nbd backend and matching PATTERN.
start_fails() {
  local what=$1 pattern=$2 rc=0
  shift 2
  nbdkit_env timeout 20 nbdkit -f -U "$T/bad.sock" "$PLUGIN" "$@" > "$T/bad.log" 2>&1 || rc=$?
  check_san_log "$T/bad.log"
  [ $rc -ne 0 ] || fail "$what: nbdkit started"
  [ $rc -ne 124 ] || fail "$what: nbdkit still running after 20 s"
  grep -qE "error: nbd backend: .*$pattern" "$T/bad.log" ||
    { cat "$T/bad.log" >&2; fail "$what: no clear error"; }
  say "$what: $(grep -m1 'nbd backend' "$T/bad.log")"
}

### 1. Every operation, checked against a model and replayed from the trace.
truncate -s 64M "$T/disk.img"
head -c 8M /dev/urandom | dd of="$T/disk.img" bs=1M seek=4 conv=notrunc status=none
cp "$T/disk.img" "$T/base.img"
# The replay oracle must stay exact although the proxy cannot know what
# an upstream's trimmed range reads as (the trace says "undefined" and
# apply keeps the old bytes).  qemu-nbd's default --discard=ignore makes
# every trim a successful no-op that keeps the old bytes too, so trims
# still travel through the proxy and the final cmp checks that claim.
# -e 0: any number of clients (setup, nbdinfo and the proxy connect).
start_upstream q qemu-nbd -f raw -t -e 0 -k "$T/q.sock" "$T/disk.img"
start_proxy qp "$(uri_of q)" tap=record:"$T/trace.bw"
same_caps q
"$BW_BUILD/tests/nbd-ops" --uri "$(uri_of qp)" --ops 2000 --seed 1 | tee "$T/ops.out"
for op in write-fua trim fast-zero block-status cache; do
  grep -qE " $op=[1-9]" "$T/ops.out" || fail "nbd-ops did no $op through the proxy"
done
stop_proxy qp
stop_upstream q
"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace apply "$T/trace.bw" "$T/base.img"
cmp "$T/base.img" "$T/disk.img" || fail "trace replay differs from the upstream's image"
"$BW" trace dump "$T/trace.bw" > "$T/dump.txt"
grep -q " write .* fua" "$T/dump.txt" || fail "no FUA write recorded"
grep -q " trim" "$T/dump.txt" || fail "no trim recorded"
if grep " trim" "$T/dump.txt" | grep_all -q reads-zero; then
  fail "an upstream's trim was recorded as reading zeroes"
fi

### 2. Capabilities of less capable upstreams pass through as they are.
# Read-only, no cache.  (A plugin cannot hide WRITE_ZEROES on a writable
# export -- nbdkit emulates it with writes -- so can_zero=false is
# tested here, where nbdkit and the upstream both drop it.)
start_upstream ro nbdkit -f -r -U "$T/ro.sock" --filter=nocache memory 16M cachemode=none
start_proxy rop "$(uri_of ro)"
same_caps ro
grep -q '"is_read_only": true' "$T/rop.caps" || fail "read-only upstream served writable"
stop_proxy rop
stop_upstream ro
# Writable, without FUA or multi-conn, and refusing every fast zero:
# nbd-ops dies unless the refusal reaches it as ENOTSUP.  (The fua
# filter hides FUA by default; this nbdkit rejects fuamode=none.)
start_upstream lo nbdkit -f -U "$T/lo.sock" --filter=nozero --filter=fua \
  --filter=multi-conn memory 16M zeromode=plugin fastzeromode=slow \
  multi-conn-mode=disable
start_proxy lop "$(uri_of lo)"
same_caps lo
grep -q '"can_fua": false' "$T/lop.caps" || fail "FUA advertised without upstream FUA"
grep -q '"can_fast_zero": true' "$T/lop.caps" || fail "fast zero not advertised"
"$BW_BUILD/tests/nbd-ops" --uri "$(uri_of lop)" --ops 500 --seed 2 | tee "$T/ops-lo.out"
grep -q " fast-zero=0 " "$T/ops-lo.out" || fail "a refused fast zero counted as done"
stop_proxy lop
stop_upstream lo

### 2b. The upstream's errors reach the client as they are, untapped.
start_upstream er nbdkit -f -U "$T/er.sock" --filter=error memory 16M \
  error-pwrite=ENOSPC error-pwrite-rate=100% error-pread=EPERM error-pread-rate=100%
start_proxy erp "$(uri_of er)" tap=record:"$T/err.bw"
qemu-io -f raw -c 'write 0 4k' -c 'read 0 4k' -c 'write -z 0 4k' "$(uri_of erp)" \
  > "$T/qemu-io.out" 2>&1 || true
stop_proxy erp
stop_upstream er
grep -q "write failed: No space left on device" "$T/qemu-io.out" &&
  grep -q "read failed: Operation not permitted" "$T/qemu-io.out" &&
  grep -q "wrote 4096/4096" "$T/qemu-io.out" ||
  { cat "$T/qemu-io.out" >&2; fail "upstream errors did not reach the client unchanged"; }
grep -q "nbd backend: pwrite: upstream replied: No space left on device" "$T/erp.log" ||
  fail "no clear error for the refused write"
"$BW" trace dump "$T/err.bw" > "$T/err.txt"
! grep -q " write" "$T/err.txt" || fail "a failed write was tapped"
grep -q " zero" "$T/err.txt" || fail "the zero was not tapped"

### 3. Many requests in flight on one upstream connection.
# The upstream logs when each write starts and ends and holds it 2 ms,
# so a proxy that forwarded one request at a time could never show two
# writes of one connection open together.
start_upstream f nbdkit -f -U "$T/f.sock" --filter=log --filter=delay memory 64M \
  logfile="$T/f.requests" delay-write=2ms
start_proxy fp "$(uri_of f)"
fio --name=t --ioengine=nbd --uri="$(uri_of fp)" --rw=randwrite --bs=4k \
  --iodepth=32 --size=32M --verify=crc32c --do_verify=1 --verify_fatal=1 \
  --output-format=terse > "$T/fio.out" 2>&1 ||
  { cat "$T/fio.out" >&2; fail "fio through the proxy failed"; }
stop_proxy fp
stop_upstream f
overlap=$(awk '/ Write id=/ { if (++open[$3] > max) max = open[$3] }
               /\.\.\.Write id=/ { open[$3]-- }
               END { print max + 0 }' "$T/f.requests")
say "fio: 32M verified; up to $overlap writes in flight on one upstream connection"
[ "$overlap" -ge 2 ] || fail "the proxy never had two requests in flight upstream"

### 4. TLS: nbds+unix with a PSK, and no way around it.
printf 'alice:%s\n' "$(openssl rand -hex 32)" > "$T/psk"
chmod 600 "$T/psk"
start_upstream tls nbdkit -f -U "$T/tls.sock" --tls=require --tls-psk="$T/psk" memory 64M
# libnbd 1.14 takes the TLS user name from the URI's authority only
# (no tls-username= parameter).
start_proxy tlsp "nbds+unix://alice@/?socket=$T/tls.sock&tls-psk-file=$T/psk"
"$BW_BUILD/tests/nbd-ops" --uri "$(uri_of tlsp)" --ops 500 --seed 3
stop_proxy tlsp
start_fails "TLS server, plain URI" "cannot connect to .*TLS" "$(uri_of tls)"
start_fails "TLS, unknown PSK user" "cannot connect to .*bob" \
  "nbds+unix://bob@/?socket=$T/tls.sock&tls-psk-file=$T/psk"
stop_upstream tls

### 5. Start-up errors.
start_fails "no such socket" "cannot connect to .*No such file" \
  "nbd+unix:///?socket=$T/nowhere.sock"
start_fails "refused" "cannot connect to nbd://127.0.0.1:1: .*refused" nbd://127.0.0.1:1
start_fails "malformed URI" "cannot connect to .*parse" "nbd://[::1"
start_fails "user= with an NBD URI" "only to iscsi" "$(uri_of nothing)" user=x
start_fails "password in the URI" "cannot connect to nbd://bob:\*\*\*@" \
  "nbd://bob:s3cret@127.0.0.1:1/"
if grep -q s3cret "$T/bad.log"; then fail "password shown in an error"; fi

### 6. The upstream dies with requests in flight.
# Writes take 1 s upstream, so no client can finish before the kill, and
# the upstream's log shows when each client is writing.  qemu-img keeps
# 16 writes of its 64M in flight; unlike nbdcopy it waits for all of
# them before it hangs up, which nbdkit 1.32 needs: a client vanishing
# while several worker threads still send replies can trip an assertion
# in nbdkit's server (connections.c: raw_send_socket: sock >= 0).
head -c 64M /dev/urandom > "$T/src.img"
start_upstream k nbdkit -f -U "$T/k.sock" --filter=log --filter=delay memory 64M \
  logfile="$T/k.requests" delay-write=1
# It is retried for a second (reconnect-timeout), then requests fail.
start_proxy kp "$(uri_of k)" reconnect-timeout=1
writers() {
  awk '/ Write id=/ { c[$3] = 1 } END { print length(c) }' "$T/k.requests" 2>/dev/null || echo 0
}
await_writers() {
  for _ in $(seq 200); do [ "$(writers)" -ge "$1" ] && return; sleep 0.1; done
  fail "only $(writers) clients got to write upstream"
}
# nbd-ops leaves through exit(1) on the expected error, leaks and all.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" timeout 30 "$BW_BUILD/tests/nbd-ops" \
  --uri "$(uri_of kp)" --ops 1000000 > "$T/k-ops.out" 2>&1 &
ops_pid=$!
register_pid $ops_pid
await_writers 1
timeout 30 qemu-img convert -n -W -m 16 -f raw -O raw "$T/src.img" "$(uri_of kp)" \
  > "$T/k-convert.out" 2>&1 &
convert_pid=$!
register_pid $convert_pid
await_writers 2
kill -9 "$k_pid"
wait "$k_pid" 2>/dev/null || true
rc=0; wait $ops_pid || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] ||
  { cat "$T/k-ops.out" >&2; fail "nbd-ops exited with $rc after the upstream died"; }
rc=0; wait $convert_pid || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] ||
  { cat "$T/k-convert.out" >&2; fail "qemu-img exited with $rc after the upstream died"; }
check_san_log "$T/k-ops.out"
for out in k-ops k-convert; do
  grep -q "Input/output error" "$T/$out.out" ||
    { cat "$T/$out.out" >&2; fail "$out: no EIO from the proxy"; }
done
say "upstream killed: $(grep -c 'Input/output error' "$T/k-convert.out") qemu-img writes failed with EIO"
# New clients are refused, quickly, while the proxy stays up.
if timeout 10 nbdinfo "$(uri_of kp)" > /dev/null 2>&1; then
  fail "a client connected to a proxy without upstream"
fi
stop_proxy kp
# One that connects while the upstream is restarting waits for it, up
# to reconnect-timeout, rather than being refused at once.
start_upstream l nbdkit -f -U "$T/l.sock" memory 64M
start_proxy lp "$(uri_of l)" reconnect-timeout=20
stop_upstream l
timeout 30 nbdinfo --size "$(uri_of lp)" > "$T/l-late.out" 2>&1 &
late=$!
sleep 1
start_upstream l nbdkit -f -U "$T/l.sock" memory 64M
wait $late || { cat "$T/l-late.out"; fail "a client connecting while the upstream restarted was refused"; }
[ "$(cat "$T/l-late.out")" = 67108864 ] || fail "the late client saw: $(cat "$T/l-late.out")"
stop_proxy lp
grep -q "nbd backend: reconnected to .*l.sock" "$T/lp.log" || fail "the late client's wait is not logged"
stop_upstream l
grep -q "nbd backend: connection to .* lost" "$T/kp.log" || fail "no clear error when the upstream died"
grep -q "nbd backend: .*: no connection within 1 s; requests fail with EIO" "$T/kp.log" ||
  fail "no clear error when the upstream stayed away"
grep -q "nbd backend: cannot connect to" "$T/kp.log" || fail "no clear error for the refused client"
say "ok"
