#!/bin/bash
# The introspector reaches the storage behind the proxy whatever it is,
# as the plugin's backends do.  Read through bw_reader_open_uri, an NBD
# export (qemu-nbd; nbdkit insisting on 4 KiB-aligned requests of at
# most 64 KiB; nbdkit over TLS-PSK) and an iSCSI LUN (tgtd: 512- and
# 4096-byte blocks, CHAP) give exactly the bytes of the ext4 image they
# serve, at any offset and length.  Unreachable servers, unknown
# targets, bad URIs, wrong CHAP secrets and writable network storage
# fail at once with errors that name the storage and hide passwords;
# an NBD server gone for good fails the reads after --reconnect-timeout.
# Then blockwatch watch --storage URI runs on an NBD export and on an
# iSCSI LUN while the plugin proxies the same URI to the kernel's ext4:
# the events rebuild the final tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workload.sh"
require_fuse
require_loop
require nbdkit qemu-nbd mkfs.ext4 openssl

IQN=iqn.2024-01.io.blockwatch.test:readers        # tid 1
IQN_CHAP=iqn.2024-01.io.blockwatch.test:chap       # tid 2
CHAP_USER=bwreader
CHAP_PASS=Reader-Secret-17x
WRONG_PASS=Not-The-Secret-99

bw_read() { "$BW_BUILD/tests/bw-read" "$@"; }
nbd_uri() { echo "nbd+unix:///?socket=$T/$1.sock"; }

# same_bytes WHAT URI [bw-read args]: random reads of URI equal the image.
same_bytes() {
  local what=$1; shift
  bw_read --compare "$T/fs.img" "$@" > "$T/read.out" 2>&1 ||
    { cat "$T/read.out" >&2; fail "$what: the reader does not give the image's bytes"; }
  check_san_log "$T/read.out"
  say "$what: $(cat "$T/read.out")"
}

# open_fails WHAT PATTERN [bw-read args] URI: the open fails within 20 s
# with an error matching PATTERN.
open_fails() {
  local what=$1 pattern=$2 rc=0
  shift 2
  timeout 20 "$BW_BUILD/tests/bw-read" "$@" > "$T/open.out" 2>&1 || rc=$?
  check_san_log "$T/open.out"
  [ $rc = 1 ] || { cat "$T/open.out" >&2; fail "$what: expected a failed open (exit 1), got exit $rc"; }
  grep -qE "^bw-read: $pattern" "$T/open.out" || { cat "$T/open.out" >&2; fail "$what: no clear error"; }
  ! grep -qF -e "$CHAP_PASS" -e "$WRONG_PASS" "$T/open.out" || fail "$what: the error shows a password"
  say "$what: $(cat "$T/open.out")"
}

### 1. An ext4 image with some files, read through every kind of storage.
mkdir -p "$T/files/etc" "$T/files/data"
for i in $(seq 50); do echo "file $i" > "$T/files/etc/f$i"; done
head -c 3M /dev/urandom > "$T/files/data/blob"
truncate -s 64M "$T/fs.img"
mkfs.ext4 -q -F -b 1024 -d "$T/files" "$T/fs.img"
[ "$(bw_read "$T/fs.img")" = "size 67108864 sector 512" ] || fail "the image does not open as a path"
[ "$(bw_read "file://$T/fs.img")" = "size 67108864 sector 512" ] || fail "the image does not open as a file:// URI"

start_upstream q qemu-nbd -f raw -r -t -e 0 -k "$T/q.sock" "$T/fs.img"
same_bytes "nbd (qemu-nbd)" "$(nbd_uri q)"
start_upstream b nbdkit -f -r -U "$T/b.sock" --filter=blocksize-policy file "$T/fs.img" \
  blocksize-minimum=4096 blocksize-preferred=4096 blocksize-maximum=65536 blocksize-error-policy=error
[ "$(bw_read "$(nbd_uri b)")" = "size 67108864 sector 4096" ] || fail "nbd: the 4 KiB minimum block is not the sector size"
same_bytes "nbd, 4 KiB minimum, 64 KiB maximum" --max-len 300000 "$(nbd_uri b)"
stop_upstream b
printf 'alice:%s\n' "$(openssl rand -hex 32)" > "$T/psk"
chmod 600 "$T/psk"
start_upstream tls nbdkit -f -r -U "$T/tls.sock" --tls=require --tls-psk="$T/psk" file "$T/fs.img"
same_bytes "nbds (TLS-PSK)" "nbds+unix://alice@/?socket=$T/tls.sock&tls-psk-file=$T/psk"
open_fails "TLS server, plain URI" "nbd: nbd\+unix://.*: cannot connect: .*TLS" "$(nbd_uri tls)"
stop_upstream tls

start_tgtd
new_target 1 "$IQN"
new_lun 1 1 "$T/fs.img"
tgt --lld iscsi --op new --mode logicalunit --tid 1 --lun 2 -b "$T/fs.img" --blocksize=4096
new_target 2 "$IQN_CHAP" "$CHAP_USER" "$CHAP_PASS"
new_lun 2 1 "$T/fs.img"
LUN=iscsi://127.0.0.1:$PORT/$IQN
same_bytes "iscsi, 512-byte blocks" "$LUN/1"
[ "$(bw_read "$LUN/2")" = "size 67108864 sector 4096" ] || fail "iscsi: the LUN's 4096-byte block is not the sector size"
same_bytes "iscsi, 4096-byte blocks" "$LUN/2"
same_bytes "iscsi, CHAP" "iscsi://$CHAP_USER%$CHAP_PASS@127.0.0.1:$PORT/$IQN_CHAP/1"

### 2. Clear errors.
open_fails "nbd, refused" "nbd: nbd://127.0.0.1:[0-9]+: cannot connect: .*refused" "nbd://127.0.0.1:$(free_port)"
open_fails "nbd, no socket" "nbd: .*cannot connect: .*No such file" "$(nbd_uri nowhere)"
open_fails "nbd, writable" "nbd: network storage is opened read-only" --writable "$(nbd_uri q)"
open_fails "iscsi, refused" "iscsi: cannot log in to iscsi://127.0.0.1:[0-9]+/.*refused" \
  "iscsi://127.0.0.1:$(free_port)/$IQN/1"
open_fails "iscsi, no such target" "iscsi: cannot log in to .*:nope/1: .*Target not found" \
  "iscsi://127.0.0.1:$PORT/iqn.2024-01.io.blockwatch.test:nope/1"
open_fails "iscsi, no such LUN" "iscsi: cannot log in to $LUN/9: .*LOGICAL_UNIT_NOT_SUPPORTED" "$LUN/9"
open_fails "iscsi, bad URI" "iscsi: bad URI 'iscsi://127.0.0.1/no-lun'" "iscsi://$CHAP_USER%$CHAP_PASS@127.0.0.1/no-lun"
open_fails "iscsi, no CHAP" "iscsi: cannot log in to .*Authentication failure" "iscsi://127.0.0.1:$PORT/$IQN_CHAP/1"
open_fails "iscsi, wrong CHAP" "iscsi: cannot log in to .*Authentication failure" \
  "iscsi://$CHAP_USER%$WRONG_PASS@127.0.0.1:$PORT/$IQN_CHAP/1"
open_fails "iscsi, writable" "iscsi: network storage is opened read-only" --writable "$LUN/1"
open_fails "unknown scheme" "unknown storage URI scheme 'ftp'" "ftp://u:$CHAP_PASS@example/x"
# watch says the same and stops before it listens.
rc=0
"$BW" watch --storage "nbd://127.0.0.1:$(free_port)" "unix:$T/never.tap" > /dev/null 2> "$T/never.err" || rc=$?
[ $rc = 1 ] && grep -q "^blockwatch watch: nbd: .*cannot connect" "$T/never.err" && [ ! -e "$T/never.tap" ] ||
  { cat "$T/never.err" >&2; fail "watch does not fail clearly on unreachable storage"; }
stop_upstream q

### 2b. A server that goes away for good: the NBD reader tries again
# for --reconnect-timeout seconds (not its default 30), then fails.
start_upstream g qemu-nbd -f raw -r -t -e 0 -k "$T/g.sock" "$T/fs.img"
bw_read --compare "$T/fs.img" --reads 4000000000 --reconnect-timeout 3 \
  "$(nbd_uri g)" > "$T/gone.out" 2>&1 &
reader=$!
sleep 1
kill -9 "$g_pid"
wait "$g_pid" 2>/dev/null || true
start=$(date +%s.%N)
rc=0
wait $reader || rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
check_san_log "$T/gone.out"
[ $rc = 1 ] && grep -q "nbd: nbd+unix://.*: read of" "$T/gone.out" ||
  { cat "$T/gone.out" >&2; fail "a reader whose server is gone: exit $rc, no clear error"; }
awk -v s="$secs" 'BEGIN { exit !(s >= 2.5 && s < 15) }' ||
  fail "the reader gave up $secs s after its server went away, not after --reconnect-timeout 3"
say "server gone: the reader failed after $secs s (--reconnect-timeout 3)"
# watch takes the option, and refuses a value the plugin would refuse.
rc=0
"$BW" watch --reconnect-timeout 3601 --storage "$T/fs.img" "unix:$T/never.tap" > /dev/null 2> "$T/rt.err" || rc=$?
[ $rc = 2 ] && grep -q "^blockwatch watch: --reconnect-timeout 3601: expected seconds from 0 to 3600" "$T/rt.err" ||
  { cat "$T/rt.err" >&2; fail "watch --reconnect-timeout 3601: exit $rc"; }

### 3. The online introspector on the storage behind the proxy.
# NBD: qemu-nbd serves the image to the proxy and to watch.
truncate -s 256M "$T/nbd.img"
mkfs.ext4 -q -F -b 4096 "$T/nbd.img"
cp --sparse=always "$T/nbd.img" "$T/nbd-base.img"
start_upstream qn qemu-nbd -f raw -t -e 0 -k "$T/qn.sock" "$T/nbd.img"
watch_workload watchnbd "$(nbd_uri qn)"
stop_upstream qn
check_events watchnbd "$T/nbd-base.img" "$T/nbd.img"

# iSCSI: a LUN of tgtd's, proxied and watched.
truncate -s 256M "$T/iscsi.img"
mkfs.ext4 -q -F -b 4096 "$T/iscsi.img"
cp --sparse=always "$T/iscsi.img" "$T/iscsi-base.img"
new_lun 1 3 "$T/iscsi.img"
watch_workload watchiscsi "$LUN/3"
check_events watchiscsi "$T/iscsi-base.img" "$T/iscsi.img"
say "ok"
