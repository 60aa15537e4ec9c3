#!/bin/bash
# Bad configuration is refused at start-up, before any client connects,
# with a message that names the problem (and the backend, when it is
# the backend's).  --help shows every parameter.
. "$(dirname "$0")/lib.sh"
require nbdkit

truncate -s 1M "$T/disk.img"
mkdir "$T/dir"

# expect_error "expected message (ERE)" plugin args...
expect_error() {
  local want=$1; shift
  local rc=0
  nbdkit_env timeout 20 nbdkit -f -U "$T/x.sock" "$PLUGIN" "$@" > "$T/out" 2>&1 || rc=$?
  check_san_log "$T/out"
  [ $rc -ne 0 ] || { cat "$T/out"; fail "nbdkit started with: $*"; }
  [ $rc -ne 124 ] || fail "nbdkit hung with: $*"
  grep -qE "$want" "$T/out" || { cat "$T/out"; fail "no message matching '$want' for: $*"; }
  say "refused: $* -> $(grep -E "$want" "$T/out" | head -1)"
}

expect_error "no backend" tap=none
expect_error "file backend: .*/nonexistent.img: No such file" "$T/nonexistent.img"
expect_error "file backend: .* neither a regular file nor a block device" "$T/dir"
expect_error "file backend: .* apply only to iscsi" "$T/disk.img" user=bob
expect_error "unknown scheme 'ftp'" ftp://host/disk
expect_error "unknown parameter 'colour'" "$T/disk.img" colour=blue
expect_error "backend given twice" "$T/disk.img" backend="$T/disk.img"
expect_error "tap=tcp:1: expected none, unix:PATH or record:FILE" "$T/disk.img" tap=tcp:1
expect_error "tap-buffer=1k: must be between" "$T/disk.img" tap-buffer=1k
expect_error "tap-overflow=wait: expected drop, block or block:MS" "$T/disk.img" tap-overflow=wait
expect_error "tap-overflow" "$T/disk.img" tap-overflow=block:forever
expect_error "cannot open trace file $T/no/dir/t.bw" "$T/disk.img" tap=record:"$T/no/dir/t.bw"
expect_error "socket path too long" "$T/disk.img" tap=unix:"/tmp/$(printf 'x%.0s' $(seq 200))"
expect_error "disk-id: longer than" "$T/disk.img" disk-id="$(head -c 1100 /dev/zero | tr '\0' a)"
expect_error "stats=$T/no/dir/s: stats file $T/no/dir/s.tmp: No such file" "$T/disk.img" stats="$T/no/dir/s"
expect_error "reconnect-timeout=3601: at most 3600 seconds" "$T/disk.img" reconnect-timeout=3601
expect_error "reconnect-timeout" "$T/disk.img" reconnect-timeout=soon

# A consumer that is not there is not an error: the plugin serves and
# keeps trying.
start_proxy ok "$T/disk.img" tap=unix:"$T/nobody.tap"
nbdinfo --size "$(uri_of ok)" | grep_all -q -x 1048576 || fail "did not serve without a consumer"
stop_proxy ok

nbdkit_env nbdkit "$PLUGIN" --help > "$T/help" 2>&1
for key in backend= tap= tap-buffer= tap-overflow= tap-drain= disk-id= user= password= initiator= \
    reconnect-timeout= stats=; do
  grep -q -- "$key" "$T/help" || fail "--help does not mention $key"
done
say "ok"
