#!/bin/bash
# blockwatchd's configuration file: every mistake is refused before
# anything starts, with the file, the line and what is wrong (control
# characters from the file escaped, as are the labels blockwatch status
# shows); the shipped example and a minimal file are accepted.
. "$(dirname "$0")/lib.sh"
BWD=$BW_BUILD/blockwatchd

# A disk section that is complete, to build broken files around.
disk() {
  cat <<EOF
[disk $1]
vm = vm1
backend = $T/$1.img
listen = unix:$T/$1.sock
EOF
}

# bad LINE PHRASE: the file on stdin is refused, and the message names
# FILE:LINE and contains PHRASE (by --check, as the daemon would).
n=0
bad() {
  local line=$1 phrase=$2 f out rc=0
  n=$((n + 1))
  f=$T/bad$n.conf
  cat > "$f"
  out=$("$BWD" --check -c "$f" 2>&1) || rc=$?
  [ $rc = 1 ] || fail "case $n: exit status $rc, not 1: $out"
  case $out in
    *"$f:$line: "*"$phrase"*) say "case $n: $out";;
    *) fail "case $n: expected '$f:$line: ...$phrase...', got: $out";;
  esac
  check_san_log <(echo "$out")
}

bad 6 "unknown key 'colour'" <<EOF
[disk a]
vm = vm1
backend = /srv/a.img
listen = unix:/run/a.sock

colour = blue
EOF

bad 5 "unknown section [disks b]" <<EOF
$(disk a)
[disks b]
vm = vm2
EOF

bad 4 "vm given twice" <<EOF
[disk a]
vm = vm1
backend = /srv/a.img
vm = vm2
listen = unix:/run/a.sock
EOF

# The introspectors' priority: only lower than blockwatchd's.
bad 5 "[appliance] introspector-nice = -5: expected a nice increment, 0 to 19" <<EOF
[appliance]
host = lab
metrics = off

introspector-nice = -5
$(disk a)
EOF
bad 2 "introspector-nice = 20: expected a nice increment, 0 to 19" <<EOF
[appliance]
introspector-nice = 20
EOF
bad 3 "introspector-oom-score-adj = 1001: expected an OOM score adjustment, 0 to 1000" <<EOF
[appliance]
introspector-nice = 19
introspector-oom-score-adj = 1001
EOF
bad 2 "introspector-oom-score-adj = -100: expected an OOM score adjustment" <<EOF
[appliance]
introspector-oom-score-adj = -100
EOF

# The bound of a file system's model: 1M to 1T.
bad 5 "[disk a] model-max = 512K: expected a size from 1M to 1T (suffix K, M, G or T)" <<EOF
$(disk a)
model-max = 512K
EOF

# The introspector's kept writes: 64K to 1G.
bad 5 "[disk a] exact-metadata = 32K: expected a size from 64K to 1G (suffix K, M or G)" <<EOF
$(disk a)
exact-metadata = 32K
EOF

bad 6 "[disk a] exact-data = 2G: expected a size from 64K to 1G" <<EOF
$(disk a)
exact-metadata = 1G
exact-data = 2G
EOF

bad 5 "[disk a] exact-data = 4MB: expected a size from 64K to 1G" <<EOF
$(disk a)
exact-data = 4MB
EOF

bad 7 "tap-buffer = 1K: expected a size from 5M to 1T" <<EOF
$(disk a)

[policy]
tap-buffer = 1K
EOF

bad 3 "expected [section], key = value, or a comment" <<EOF
[appliance]
# a comment, then a line that is neither
this line has no equals sign
$(disk a)
EOF

bad 2 "[disk b]: needs vm, backend and listen" <<EOF
# b has no backend
[disk b]
vm = vm2
listen = unix:/run/b.sock
$(disk a)
EOF

bad 5 "events-file = events.jsonl: expected an absolute path" <<EOF
[disk a]
vm = vm1
backend = /srv/a.img
listen = unix:/run/a.sock
events-file = events.jsonl
EOF

bad 6 "[disk b]: record-trace is [disk a]'s" <<EOF
$(disk a)
record-trace = /srv/a.trace
[disk b]
vm = vm2
backend = /srv/b.img
listen = unix:/run/b.sock
record-trace = /srv/a.trace
EOF

bad 4 "no host names" <<EOF
[disk a]
vm = vm1
backend = /srv/a.img
listen = tcp:localhost:10809
EOF

bad 5 "[disk b]: listens where [disk a] does" <<EOF
$(disk a)
[disk b]
vm = vm2
backend = /srv/b.img
listen = unix:$T/a.sock
EOF

bad 1 "outside any section" <<EOF
vm = vm1
$(disk a)
EOF

bad 1 "a disk name is 1 to 64 letters" <<EOF
[disk a/b]
vm = vm1
EOF

bad 5 "[disk a] again (first at line 1)" <<EOF
$(disk a)
[disk a]
vm = vm2
EOF

bad 1 "tls = on needs tls-certificates or tls-psk" <<EOF
$(disk a)
tls = on
EOF

bad 1 "[appliance]: web needs web-cert and web-key" <<EOF
[appliance]
web = 127.0.0.1:8443
web-cert = /etc/blockwatch/web.crt
$(disk a)
EOF

bad 5 "backend = ftp://x/y: expected a path, file:, nbd://" <<EOF
[disk a]
vm = vm1
listen = unix:/run/a.sock
# not a kind of storage the proxy knows
backend = ftp://x/y
EOF

bad 4 "[disk a] reconnect-timeout = 1h: expected seconds, 0 to 3600" <<EOF
[disk a]
vm = vm1
backend = nbd+unix:///?socket=/run/storage.sock
reconnect-timeout = 1h
listen = unix:/run/a.sock
EOF

bad 1 "[disk a]: reconnect-timeout is for NBD storage (nbd://, nbds://, nbd+unix://, nbds+unix://), not backend $T/a.img" <<EOF
$(disk a)
reconnect-timeout = 60
EOF

bad 5 "[broker]: uri mqtt://127.0.0.1:1883 is not TLS" <<EOF
$(disk a)
[broker]
uri = mqtt://127.0.0.1:1883
EOF

bad 2 "user = no-such-user-blockwatch: no such user" <<EOF
[appliance]
user = no-such-user-blockwatch
$(disk a)
EOF

bad 2 "state-dir = var/lib/blockwatch: expected an absolute path" <<EOF
[appliance]
state-dir = var/lib/blockwatch
$(disk a)
EOF

# The state would live in the run directories, or next to them.
bad 1 "[appliance]: state-dir (/run/blockwatch/state) and run-dir (/run/blockwatch) overlap" <<EOF
[appliance]
state-dir = /run/blockwatch/state
$(disk a)
EOF

bad 1 "[appliance]: state-dir (/srv/bw/) and run-dir (/srv/bw) overlap" <<EOF
[appliance]
run-dir = /srv/bw
state-dir = /srv/bw/
$(disk a)
EOF

bad 6 "log-level = loud: expected error, warning, info or debug" <<EOF
$(disk a)
[appliance]
log-level = loud
EOF

bad 2 "include = var/log/**: expected a path glob starting with '/'" <<EOF
[policy]
include = var/log/**
$(disk a)
[broker]
uri = mqtts://localhost
EOF

bad 6 "type = writes: matches no event type" <<EOF
$(disk a)
type = write
type = writes
[broker]
uri = mqtts://localhost
EOF

bad 1 "[policy]: include, exclude, type, not-type and data-for choose what is published: they need [broker]" <<EOF
[policy]
exclude = /tmp/**
$(disk a)
EOF

bad 1 "[disk a]: include, exclude, type, not-type and data-for choose what is published" <<EOF
$(disk a)
data-for = /var/log/** = bytes:100
EOF

bad 5 "data-for = /etc/**: expected PATH-GLOB = none, hash, bytes or bytes:N" <<EOF
$(disk a)
data-for = /etc/**
[broker]
uri = mqtts://localhost
EOF

bad 8 "buffer-bytes = 100: expected a size from 1K" <<EOF
$(disk a)
[broker]
uri = mqtts://localhost
buffer-messages = 1000
buffer-bytes = 100
EOF

bad 5 "[broker]: drain (30 s) must be shorter than stop-timeout (30 s)" <<EOF
$(disk a)
[broker]
uri = mqtts://localhost
drain = 30
EOF

bad 5 "[broker]: expiry needs mqtt-version 5" <<EOF
$(disk a)
[broker]
uri = mqtts://localhost
mqtt-version = 3.1.1
expiry = 60
EOF

bad 4 "[broker] window given twice" <<EOF
[broker]
uri = mqtts://localhost
window = 10
window = 20
$(disk a)
EOF

# The iSCSI front end's keys.
iscsi_disk() {   # iscsi_disk NAME IQN PORTAL
  cat <<EOF
[disk $1]
vm = vm1
backend = $T/$1.img
iscsi = $2
iscsi-portal = $3
EOF
}
IQN=iqn.2024-01.io.blockwatch.test

bad 1 "[disk a]: iscsi needs iscsi-portal" <<EOF
[disk a]
vm = vm1
backend = /srv/a.img
iscsi = $IQN:a
EOF

bad 1 "[disk a]: listen and iscsi: a disk is exported once" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
listen = unix:/run/a.sock
EOF

bad 4 "iscsi = iqn.2024-01.io.Blockwatch:a: expected an iSCSI name" <<EOF
[disk a]
vm = vm1
backend = /srv/a.img
iscsi = iqn.2024-01.io.Blockwatch:a
EOF

bad 5 "iscsi-portal = localhost:3260: expected an IPv4 address" <<EOF
$(iscsi_disk a $IQN:a localhost:3260)
EOF

bad 1 "iscsi-chap-user and iscsi-chap-password-file go together" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
iscsi-chap-user = alice
EOF

bad 6 "iscsi-chap-user = al,ice: a CHAP user name is printable, without" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
iscsi-chap-user = al,ice
EOF

bad 6 "10.0.0.0/33: the prefix after '/' is 0 to 32" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
iscsi-initiator-addresses = 192.0.2.7, 10.0.0.0/33
EOF

bad 6 "an empty item: expected items separated by commas" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
iscsi-initiator-names = $IQN:host1, , $IQN:host2
EOF

bad 1 "[disk a]: iscsi-* keys without iscsi = IQN" <<EOF
$(disk a)
iscsi-portal = 127.0.0.1:3260
EOF

bad 1 "[disk a]: tls is for the NBD listen address" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
tls = require
tls-psk = /etc/psk
EOF

bad 6 "[disk b]: iscsi names [disk a]'s target" <<EOF
$(iscsi_disk a $IQN:a 127.0.0.1:3260)
$(iscsi_disk b $IQN:a 127.0.0.1:3261)
EOF

# Every address on a port clashes with one address on it, NBD or iSCSI.
bad 6 "[disk b]: listens where [disk a] does" <<EOF
$(iscsi_disk a $IQN:a 0.0.0.0:3260)
[disk b]
vm = vm1
backend = /srv/b.img
listen = tcp:192.0.2.1:3260
EOF

# Bytes that are not text: inih would end the line at the NUL and
# number the rest as another line (tests/fuzz/fuzz-config.c found it).
bad 2 "a NUL byte: not a text file" < <(printf '%s\n#\0x\n%s\n' "[disk a]" "$(disk b)")

# Control characters and bytes that are not UTF-8 in the file are shown
# escaped (%1B, %0D, %FF), never raw: an escape sequence in a value would
# otherwise be played by the operator's terminal.
raw_control() { LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f\x80-\xff]' "$1"; }
bad 1 "[disk a%1B[2Jb%0Dc]: a disk name is" < <(printf '[disk a\033[2Jb\rc]\nvm = vm1\n')
"$BWD" --check -c "$T/bad$n.conf" > "$T/esc.out" 2>&1 && fail "a bad disk name was accepted"
raw_control "$T/esc.out" && fail "a raw control character in: $(cat -v "$T/esc.out")"
bad 5 "tap-overflow = drop%1B]0;owned%07%0Dx%FF: expected drop" \
  < <(printf '%s\ntap-overflow = drop\033]0;owned\a\rx\377\n' "$(disk a)")
"$BWD" --check -c "$T/bad$n.conf" > "$T/esc.out" 2>&1 && fail "a bad tap-overflow was accepted"
raw_control "$T/esc.out" && fail "a raw control character in: $(cat -v "$T/esc.out")"
# A '%' is shown as it is (a URI's "%20" would read "%2520" otherwise);
# only what a terminal would play is escaped.
bad 5 "tap-overflow = 50%20off%1B: expected drop" \
  < <(printf '%s\ntap-overflow = 50%%20off\033\n' "$(disk a)")

# No disk at all, and no file at all: said without a line.
: > "$T/empty.conf"
out=$("$BWD" --check -c "$T/empty.conf" 2>&1) && fail "an empty file was accepted"
[[ $out == *"$T/empty.conf: no [disk NAME] section"* ]] || fail "empty file: $out"
out=$("$BWD" --check -c "$T/missing.conf" 2>&1) && fail "a missing file was accepted"
[[ $out == *"$T/missing.conf: No such file or directory"* ]] || fail "missing file: $out"

# The daemon itself refuses to start on a bad file, with the same words,
# and blockwatch status cannot find an endpoint in it.
rc=0; out=$("$BWD" -c "$T/bad1.conf" 2>&1) || rc=$?
[ $rc = 1 ] && [[ $out == *"$T/bad1.conf:6: "*"unknown key 'colour'"* ]] ||
  fail "blockwatchd started on a bad file, or said: $out"
rc=0; out=$("$BW" status -c "$T/bad1.conf" 2>&1) || rc=$?
[ $rc = 2 ] && [[ $out == *"$T/bad1.conf:6: "* ]] || fail "blockwatch status on a bad file: $out"

# Under systemd (stderr is the journal stream $JOURNAL_STREAM names) a
# line starts with its syslog priority instead of the program's name.
: > "$T/journal"
JOURNAL_STREAM=$(stat -c %d:%i "$T/journal") "$BWD" --check -c "$T/bad1.conf" 2>> "$T/journal" &&
  fail "a bad file was accepted"
grep -q "^<3>$T/bad1.conf:6: " "$T/journal" || fail "no journal priority: $(cat "$T/journal")"

# The broker's files are read before anything starts.
printf '%s\n' "$(disk a)" "[broker]" "uri = mqtts://localhost" \
  "ca-file = $T/no-ca.pem" > "$T/noca.conf"
out=$("$BWD" --check -c "$T/noca.conf" 2>&1) && fail "a missing CA file was accepted"
[[ $out == *"$T/noca.conf: [broker]: CA file $T/no-ca.pem: No such file or directory"* ]] ||
  fail "missing CA file: $out"

# What is accepted: the shipped example (with TLS files where it says),
# and a disk alone.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$T/tls.key" -out "$T/tls.pem" -days 1 -subj /CN=blockwatch-appliance 2>/dev/null ||
  fail "openssl cannot make a certificate"
sed -e "s|^ca-file = .*|ca-file = $T/tls.pem|" -e "s|^cert = .*|cert = $T/tls.pem|" \
    -e "s|^key = .*|key = $T/tls.key|" "$BW_SRC/appliance/blockwatch.conf.example" > "$T/example.conf"
"$BWD" --check -c "$T/example.conf"
disk a > "$T/good.conf"
"$BWD" --check -c "$T/good.conf" | grep_all -q "configuration OK, 1 disks" ||
  fail "a minimal file was refused"
# A disk name of 64 bytes, the most there is (inih cuts section names
# at 49: its keys must still be the disk's).
disk "$(printf 'd%.0s' $(seq 64))" > "$T/long.conf"
"$BWD" --check -c "$T/long.conf" | grep_all -q "configuration OK, 1 disks" ||
  fail "a disk with a long name was refused"
say "$n bad files refused with their line; the example accepted"

# blockwatch status shows the labels of whatever answers at its URL
# escaped the same way: a disk or VM name with an escape sequence, a CR,
# a BEL or a byte that is not UTF-8 is not played by the terminal.
mkdir -p "$T/www"
{ printf 'blockwatch_disk_info{disk="d\033[2J\r",vm="v\033]0;x\a\377"} 1\n'
  printf 'blockwatch_up{disk="d\033[2J\r",process="nbdkit"} 1\n'; } > "$T/www/metrics"
wport=$(free_port) || fail "no free port"
python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$wport" > "$T/www.log" 2>&1 &
register_pid $!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$wport/metrics" && break; sleep 0.1; done
"$BW" status --url "http://127.0.0.1:$wport/metrics" > "$T/status.out" 2>&1 ||
  fail "blockwatch status: $(cat -v "$T/status.out")"
grep -qF 'd%1B[2J%0D' "$T/status.out" && grep -qF 'v%1B]0;x%07%FF' "$T/status.out" ||
  fail "blockwatch status: labels not escaped: $(cat -v "$T/status.out")"
raw_control "$T/status.out" && fail "blockwatch status: a raw control character in: $(cat -v "$T/status.out")"
check_san_log "$T/status.out"
say "control characters from the file or a metrics endpoint are shown escaped"

# A metrics port that another program holds: blockwatchd stops at once
# with the address in its message, and frees what it had (a leak on
# this path was caught by LeakSanitizer).
port=$(free_port) || fail "no free port"
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$port" &
register_pid $!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
{ printf '[appliance]\nrun-dir = %s\nstate-dir = %s\nmetrics = 127.0.0.1:%s\n' \
    "$T/run-busy" "$T/state-busy" "$port"; disk a; } > "$T/busy.conf"
rc=0
"$BWD" -c "$T/busy.conf" > "$T/busy.out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$T/busy.out"; fail "a metrics port in use: exit $rc, not 1"; }
grep -q "cannot listen on 127.0.0.1:$port" "$T/busy.out" || fail "a metrics port in use: $(cat "$T/busy.out")"
check_san_log "$T/busy.out"
say "a metrics port in use is refused, nothing leaked"

# A state directory that cannot be made: nothing starts (no run mark
# could say that a run lost events).
{ printf '[appliance]\nrun-dir = %s\nstate-dir = %s\nmetrics = off\n' \
    "$T/run-nostate" "$T/no/state"; disk a; } > "$T/nostate.conf"
rc=0
"$BWD" -c "$T/nostate.conf" > "$T/nostate.out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$T/nostate.out"; fail "a state-dir that cannot be made: exit $rc, not 1"; }
grep -q "state-dir $T/no/state: No such file or directory" "$T/nostate.out" ||
  fail "a state-dir that cannot be made: $(cat "$T/nostate.out")"
[ ! -e "$T/run-nostate" ] || fail "the run directory was made all the same"
check_san_log "$T/nostate.out"
say "a state-dir that cannot be made is refused"
