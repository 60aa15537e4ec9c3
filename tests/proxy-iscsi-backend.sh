#!/bin/bash
# The iSCSI backend against a real target: tgtd on loopback, on a free
# high port and its own control socket.  Every NBD operation is checked
# against a model (nbd-ops) and the tap trace replays onto the initial
# image to exactly the LUN's backing file; CHAP works from the URI and
# from user=/password=; the export advertises what the LUN's VPD pages
# say it can do; start-up errors are quick and name the backend; fio
# verifies its writes; a dropped session is logged in again once, and
# SCSI errors reach the client with a fitting errno.
. "$(dirname "$0")/lib.sh"
require nbdkit nbdinfo nbdcopy tgtd tgtadm iscsi-inq iscsi-readcapacity16 fio

IQN_THIN=iqn.2024-01.io.blockwatch.test:thin     # tid 1
IQN_CHAP=iqn.2024-01.io.blockwatch.test:chap     # tid 2
CHAP_USER=bwuser
CHAP_PASS=Chap-Secret-42x
WRONG_PASS=Not-The-Secret-99

# expect_cap NAME KEY VALUE: nbdinfo's $T/NAME.json must say "KEY": VALUE.
expect_cap() {
  grep -q "\"$2\": $3" "$T/$1.json" || fail "$1: expected $2 $3, got: $(grep "\"$2\"" "$T/$1.json")"
}

bool() { if [ "$1" = 1 ]; then echo true; else echo false; fi; }

# start_fails NAME ARGS...: nbdkit must exit non-zero within 5 s and say
# that the iscsi backend failed; its output is $T/NAME.err.
start_fails() {
  local name=$1 pid rc=0; shift
  nbdkit_env nbdkit -f -U "$T/$name.sock" "$PLUGIN" "$@" > "$T/$name.err" 2>&1 &
  pid=$!
  wait_for 5 ! -d "/proc/$pid" || { kill -9 $pid; fail "$name: nbdkit did not fail within 5 s"; }
  wait $pid || rc=$?
  [ $rc -ne 0 ] || fail "$name: nbdkit did not fail"
  check_san_log "$T/$name.err"
  grep -q "iscsi backend" "$T/$name.err" || { cat "$T/$name.err" >&2; fail "$name: the error does not name the iscsi backend"; }
  say "$name: $(grep -m1 'iscsi backend' "$T/$name.err")"
}

# check_caps NAME URL: the proxy NAME advertises what the LUN at URL
# reports in its Logical Block Provisioning VPD page (0xb2 = 178) and
# READ CAPACITY(16).
check_caps() {
  local name=$1 url=$2 lbp rc16 lbpu lbpws lbpme lbprz cap
  lbp=$(iscsi-inq -e 1 -c 178 "$url")
  rc16=$(iscsi-readcapacity16 "$url")
  lbpu=$(sed -n 's/^lbpu:\([01]\)$/\1/p' <<< "$lbp")
  lbpws=$(sed -n 's/^lbpws:\([01]\)$/\1/p' <<< "$lbp")
  lbpme=$(sed -n 's/.*LBPME:\([01]\).*/\1/p' <<< "$rc16")
  lbprz=$(sed -n 's/.*LBPRZ:\([01]\).*/\1/p' <<< "$rc16")
  [ -n "$lbpu" ] && [ -n "$lbpws" ] && [ -n "$lbpme" ] && [ -n "$lbprz" ] ||
    fail "$name: cannot read the LUN's provisioning"
  nbdinfo --json "$(uri_of "$name")" > "$T/$name.json"
  for cap in can_flush can_fua can_zero can_multi_conn; do expect_cap "$name" $cap true; done
  expect_cap "$name" is_read_only false
  expect_cap "$name" can_trim "$(bool "$lbpu")"
  expect_cap "$name" can_fast_zero "$(bool $((lbpws && lbprz)))"
  expect_cap "$name" block_size_minimum 512
  # GET LBA STATUS shows holes; without it nbdkit calls everything data.
  nbdinfo --map "$(uri_of "$name")" > "$T/$name.map"
  if [ "$lbpme" = 1 ]; then
    grep -q "hole" "$T/$name.map" || fail "$name: LBPME but no hole in the map: $(cat "$T/$name.map")"
  else
    [ "$(awk '{print $3}' "$T/$name.map" | sort -u)" = 0 ] || fail "$name: no LBPME but the map is not all data"
  fi
  say "$name: lbpu=$lbpu lbpws=$lbpws lbpme=$lbpme lbprz=$lbprz, and nbdinfo agrees"
}

start_tgtd
THIN_URL=iscsi://127.0.0.1:$PORT/$IQN_THIN/1
RO_URL=iscsi://127.0.0.1:$PORT/$IQN_THIN/2
CHAP_URL=iscsi://127.0.0.1:$PORT/$IQN_CHAP/1
CHAP_FULL_URL=iscsi://$CHAP_USER%$CHAP_PASS@127.0.0.1:$PORT/$IQN_CHAP/1

# tid 1: a thin-provisioned 64M LUN with 8M of data at 4M, and a
# write-protected LUN.  tid 2: a thick 32M LUN behind CHAP.
truncate -s 64M "$T/thin.img"
head -c 8M /dev/urandom | dd of="$T/thin.img" bs=1M seek=4 conv=notrunc status=none
cp "$T/thin.img" "$T/base.img"
truncate -s 8M "$T/ro.img"
truncate -s 32M "$T/thick.img"
new_target 1 "$IQN_THIN"
new_lun 1 1 "$T/thin.img" thin_provisioning=1
new_lun 1 2 "$T/ro.img" readonly=1
new_target 2 "$IQN_CHAP" "$CHAP_USER" "$CHAP_PASS"
new_lun 2 1 "$T/thick.img"
printf '%s\n' "$CHAP_PASS" > "$T/chap.pw"
printf '%s\n' "$WRONG_PASS" > "$T/chap.wrong"

# 3 (first, while the thin LUN is still sparse). Capabilities.
start_proxy p "$THIN_URL" tap=record:"$T/trace.bw"
check_caps p "$THIN_URL"
grep -qE '^ +4194304 +8388608 +0 +data' "$T/p.map" || fail "unexpected map of the thin LUN: $(cat "$T/p.map")"

# 1. Every operation against the model, then random data that must land
# in the backing file byte for byte.
"$BW_BUILD/tests/nbd-ops" --uri "$(uri_of p)" --ops 1500 --seed 7 | tee "$T/ops.out"
grep -q ', 0 mismatches$' "$T/ops.out" || fail "nbd-ops reported mismatches"
grep -qE 'fast-zero=[1-9]' "$T/ops.out" || fail "no fast zero was exercised"
grep -qE ' trim=[1-9]' "$T/ops.out" || fail "no trim was exercised"
head -c 16M /dev/urandom > "$T/rand.bin"
nbdcopy "$T/rand.bin" "$(uri_of p)"
stop_proxy p
cmp -n 16M "$T/rand.bin" "$T/thin.img" || fail "data written through the proxy is not in the LUN's file"

# The replay oracle is exact only if every trim says what the LUN then
# holds.  tgtd's thin LUN has LBPRZ=1 and a one-block unmap granularity,
# so the backend marks each trim reads-zero.  A trim without the mark
# (UNMAP without LBPRZ) would leave old bytes in the replay where tgtd
# punched a hole: that is reported here as what it is, not as a cmp
# difference.
"$BW" trace check --no-loss "$T/trace.bw"
"$BW" trace dump "$T/trace.bw" > "$T/dump.txt"
grep -q ' trim ' "$T/dump.txt" || fail "no trim record in the trace"
! grep ' trim ' "$T/dump.txt" | grep_all -q -v 'reads-zero' ||
  fail "a trim is not marked reads-zero: the replay cannot be exact"
grep -q ' write .* fua' "$T/dump.txt" || fail "no FUA write recorded"
cp "$T/base.img" "$T/replay.img"
"$BW" trace apply "$T/trace.bw" "$T/replay.img"
cmp "$T/replay.img" "$T/thin.img" || fail "the trace replay differs from the LUN"
say "nbd-ops, nbdcopy and the trace replay match the LUN's backing file"

# A write-protected LUN is served read-only.
start_proxy ro "$RO_URL"
nbdinfo --json "$(uri_of ro)" > "$T/ro.json"
expect_cap ro is_read_only true
stop_proxy ro

# 2. CHAP: anonymous and wrong logins fail without showing a password;
# credentials work from the URI and from user= and password=+FILE,
# and the config beats the URI.
start_fails chap-none "$CHAP_URL"
start_fails chap-wrong "iscsi://$CHAP_USER%$WRONG_PASS@127.0.0.1:$PORT/$IQN_CHAP/1"
start_fails chap-wrong-file "$CHAP_URL" user="$CHAP_USER" password=+"$T/chap.wrong"
for e in chap-none chap-wrong chap-wrong-file; do
  grep -q 'Authentication failure' "$T/$e.err" || fail "$e: not reported as an authentication failure"
  ! grep -qF -e "$WRONG_PASS" -e "$CHAP_PASS" "$T/$e.err" || fail "$e: the error shows a password"
done
start_proxy c1 "$CHAP_FULL_URL" tap=record:"$T/c1.bw"
start_proxy c2 "$CHAP_URL" user="$CHAP_USER" password=+"$T/chap.pw"
start_proxy c3 "iscsi://$CHAP_USER%$WRONG_PASS@127.0.0.1:$PORT/$IQN_CHAP/1" password=+"$T/chap.pw"
head -c 1M /dev/urandom > "$T/chap.bin"
nbdcopy "$T/chap.bin" "$(uri_of c2)"
for c in c1 c3; do
  nbdcopy "$(uri_of $c)" "$T/$c.out"
  cmp -n 1M "$T/$c.out" "$T/chap.bin" || fail "$c does not read what c2 wrote"
done
check_caps c2 "$CHAP_FULL_URL"
for c in c1 c2 c3; do stop_proxy $c; done
# The disk id in the tap header names the LUN, never the password.
"$BW" trace dump "$T/c1.bw" > "$T/c1.dump"; head -1 "$T/c1.dump" > "$T/c1.hdr"
grep -qF "disk=iscsi://127.0.0.1:$PORT/$IQN_CHAP/1 " "$T/c1.hdr" || { cat "$T/c1.hdr"; fail "unexpected disk id"; }
! grep -qF -e "$CHAP_PASS" -e "$CHAP_USER" "$T/c1.bw" || fail "the trace contains the CHAP credentials"

# 4. Start-up errors: quick, and naming the backend.
start_fails closed-port "iscsi://127.0.0.1:$(free_port)/$IQN_THIN/1"
start_fails no-target "iscsi://127.0.0.1:$PORT/iqn.2024-01.io.blockwatch.test:nope/1"
start_fails no-lun "iscsi://127.0.0.1:$PORT/$IQN_THIN/7"
start_fails bad-uri "iscsi://127.0.0.1/no-lun"
grep -q 'bad URI' "$T/bad-uri.err" || fail "a malformed URI is not reported as one"

# 5. fio writes and verifies through the proxy.
start_proxy f "$THIN_URL"
fio --name=verify --ioengine=nbd --uri="$(uri_of f)" --rw=randwrite --bs=4k \
    --iodepth=8 --size=16M --verify=crc32c --do_verify=1 --verify_state_save=0 \
    --output="$T/fio.out" || { cat "$T/fio.out" >&2; fail "fio failed"; }
grep -q 'err= 0' "$T/fio.out" || { cat "$T/fio.out" >&2; fail "fio reported errors"; }
stop_proxy f
say "fio randwrite with crc32c verify: no errors"

# 6. A dropped session is logged in again, once per request: the next
# read works; with the initiator shut out it fails with EIO at once;
# let back in, the following read works again.  Then the LUN turns
# write-protected behind the proxy's back: the SCSI error reaches the
# client as EPERM and the log names it.  qemu-io keeps one NBD
# connection open across all of it.
sessions() { tgt --op show --mode conn --tid 1 | awk '/Session:/ {print $2}'; }
kill_sessions() {
  local sid i
  for sid in $(sessions); do
    tgt --op delete --mode conn --tid 1 --sid "$sid" --cid 0
  done
  for i in $(seq 50); do
    [ -z "$(sessions)" ] && return 0
    sleep 0.1
  done
  fail "tgtd keeps the proxy's session"
}
prompts() { grep -o 'qemu-io> ' "$T/qio.out" | wc -l; }
# qio COMMAND: sends it and waits for qemu-io's next prompt.
qio() {
  local n i
  n=$(prompts)
  echo "$1" >&7
  for i in $(seq 150); do
    [ "$(prompts)" -gt "$n" ] && return 0
    sleep 0.1
  done
  fail "qemu-io did not answer '$1'"
}
if command -v qemu-io > /dev/null; then
  start_proxy r "$THIN_URL"
  mkfifo "$T/qio.in"
  qemu-io -f raw "$(uri_of r)" < "$T/qio.in" > "$T/qio.out" 2>&1 &
  qio_pid=$!                    # it ends at the latest when fd 7 closes
  exec 7> "$T/qio.in"
  wait_for 10 -s "$T/qio.out" || fail "qemu-io did not start"
  qio "write -P 0x5a 0 64k"
  kill_sessions
  qio "read -P 0x5a 0 64k"
  tgt --lld iscsi --op unbind --mode target --tid 1 -I ALL
  kill_sessions
  qio "read -P 0x5a 0 64k"
  tgt --lld iscsi --op bind --mode target --tid 1 -I ALL
  qio "read -P 0x5a 0 64k"
  tgt --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 --params readonly=1
  qio "write -P 0x11 0 4k"
  tgt --lld iscsi --op update --mode logicalunit --tid 1 --lun 1 --params readonly=0
  exec 7>&-
  wait $qio_pid || true
  stop_proxy r
  [ "$(grep -c 'read 65536/65536 bytes' "$T/qio.out")" = 2 ] ||
    { cat "$T/qio.out" >&2; fail "reads after a dropped session failed"; }
  grep -q 'read failed: Input/output error' "$T/qio.out" ||
    { cat "$T/qio.out" >&2; fail "a read with no way to log in did not fail with EIO"; }
  grep -q 'logging in again failed' "$T/r.log" || fail "the failed login is not in the log"
  grep -q 'write failed: Operation not permitted' "$T/qio.out" ||
    { cat "$T/qio.out" >&2; fail "a write to a write-protected LUN did not fail with EPERM"; }
  grep -q 'WRITE(16) .*: DATA PROTECTION, WRITE_PROTECTED (ASC/ASCQ 27/00)' "$T/r.log" ||
    fail "the write-protect error is not in the log"
  say "dropped sessions are logged in again; EIO when that fails; write protect gives EPERM"
else
  say "qemu-io is not installed: reconnection not checked"
fi
say "ok"
