# Shared helpers for blockwatch's shell tests.  Source it first:
#   . "$(dirname "$0")/lib.sh"
# Every server a test starts is registered here and stopped on exit,
# every mount and loop device is undone, and the scratch directory is
# removed (keep it with BW_KEEP=1).

set -euo pipefail

BW_SRC=${BW_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BW_BUILD=${BW_BUILD:-$BW_SRC/build}
PLUGIN=$BW_BUILD/nbdkit-blockwatch-plugin.so
BW=$BW_BUILD/blockwatch
TESTNAME=$(basename "$0" .sh)

_undo=()
T=$(mktemp -d "/tmp/bw-$TESTNAME.XXXXXX")
cd "$T"     # tools that drop files in the working directory (fio) drop them here

say() { echo "[$TESTNAME] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# at_exit CMD: run CMD (a string) when the test ends, last in first out,
# so a mount on a loop on a FUSE file comes apart in the right order.
at_exit() { _undo+=("$1"); }

# A process's start time (field 22 of /proc/PID/stat): with the pid it
# names one process, so a pid reused after ours exited is left alone.
_start_time() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

_stop_pid() {   # _stop_pid PID START-TIME
  [ -n "$2" ] && [ "$(_start_time "$1")" = "$2" ] || return 0
  kill -CONT "$1" 2>/dev/null; kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
}

_cleanup() {
  local rc=$? i
  set +e
  for ((i=${#_undo[@]}-1; i>=0; i--)); do eval "${_undo[i]}" >/dev/null 2>&1; done
  if [ "${BW_KEEP:-0}" = 1 ] || { [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ "${BW_KEEP_FAILED:-0}" = 1 ]; }; then
    echo "kept scratch directory $T"
  else
    rm -rf "$T"
  fi
  exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

register_pid() { at_exit "_stop_pid $1 $(_start_time "$1")"; }
# (By /proc/mounts, not mountpoint(1): a FUSE mount whose server died
# fails every stat, and mountpoint would say it is not mounted.)
register_mount() { at_exit "grep -q ' $1 ' /proc/mounts && { umount '$1' || umount -l '$1'; }"; }
# register_loop DEV: detach DEV at exit if it is still ours (bound to
# the same file): a test may detach it itself, and by then the number
# may be another test's, even one of another run on this machine.
register_loop() {
  local f
  f=$(losetup -nO BACK-FILE "$1")
  at_exit "[ \"\$(losetup -nO BACK-FILE '$1' 2>/dev/null)\" = '$f' ] && losetup -d '$1'"
}

require() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || skip "$c is not installed"; done
}
require_root() { [ "$(id -u)" = 0 ] || skip "needs root (loop devices, mount)"; }
require_fuse() {
  [ -c /dev/fuse ] || skip "no /dev/fuse on this machine"
  require nbdfuse fusermount3
}
require_loop() {
  require_root
  losetup -f >/dev/null 2>&1 || skip "no free loop device (losetup -f failed)"
}

# grep at the end of a pipe that reads all of its input: under
# pipefail, grep -q (or grep to /dev/null, which GNU grep treats the
# same) leaving at the first match makes the writer die of SIGPIPE and
# the whole pipe fail, or, behind a "!", pass (both seen in CI).
grep_all() {
  local rc=0
  grep "$@" || rc=$?
  cat > /dev/null
  return "$rc"
}

# Sanitized builds: nbdkit itself is not instrumented, so the ASan
# runtime has to be loaded first for our plugin to run inside it, and
# initialized early (tests/preload/asan-early-init.c says why).
if ldd "$PLUGIN" 2>/dev/null | grep_all -q libasan; then
  BW_SAN=1
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$BW_SRC/tests/lsan.supp:print_suppressions=0}
  NBDKIT_PRELOAD="$(gcc -print-file-name=libasan.so) $BW_BUILD/tests/asan-early-init.so"
else
  BW_SAN=0
  NBDKIT_PRELOAD=
fi

# The environment for running nbdkit with our plugin loaded.
nbdkit_env() {
  if [ -n "$NBDKIT_PRELOAD" ]; then
    env LD_PRELOAD="$NBDKIT_PRELOAD" "$@"
  else
    "$@"
  fi
}

# nbdkit_program: the nbdkit for programs that start it themselves
# (blockwatchd, the demo): nbdkit, or in a sanitized build a script
# that preloads the sanitizer's runtime first, as nbdkit_env does, when
# our plugin is to be loaded (only then: nbdkit's own leaks, with
# stacks the sanitizer cannot unwind, are not ours to report).
nbdkit_program() {
  if [ -z "$NBDKIT_PRELOAD" ]; then
    echo nbdkit
    return
  fi
  cat > "$T/nbdkit-san" <<EOF
#!/bin/sh
case " \$* " in
  *nbdkit-blockwatch-plugin.so*) LD_PRELOAD="$NBDKIT_PRELOAD" exec nbdkit "\$@";;
  *) exec nbdkit "\$@";;
esac
EOF
  chmod 755 "$T/nbdkit-san"
  echo "$T/nbdkit-san"
}

wait_for() {   # wait_for SECONDS test-args...
  local secs=$1; shift
  local n=$((secs * 10))
  while [ $n -gt 0 ]; do
    if test "$@"; then return 0; fi
    sleep 0.1; n=$((n-1))
  done
  return 1
}

# Fails the test if a sanitizer reported anything in a log.
check_san_log() {
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"; then
    grep -E -A30 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1" | head -60 >&2
    fail "sanitizer report in $1"
  fi
}

# start_proxy NAME URI [plugin args...]: nbdkit with our plugin serving
# URI on $T/NAME.sock; its log is $T/NAME.log.
start_proxy() {
  local name=$1; shift
  rm -f "$T/$name.sock"
  nbdkit_env nbdkit -f -v -U "$T/$name.sock" -P "$T/$name.pid" "$PLUGIN" "$@" \
    > "$T/$name.log" 2>&1 &
  register_pid $!
  wait_for 20 -S "$T/$name.sock" || { cat "$T/$name.log" >&2; fail "nbdkit $name did not start"; }
  # $! may be a subshell around nbdkit: the pid file names nbdkit itself.
  wait_for 10 -s "$T/$name.pid" || fail "nbdkit $name wrote no pid file"
  eval "${name}_pid=$(cat "$T/$name.pid")"
  register_pid "$(cat "$T/$name.pid")"
}

# stop_proxy NAME: SIGTERM, wait for a clean exit, check the log.
stop_proxy() {
  local name=$1 pid
  pid=$(eval echo "\$${name}_pid")
  kill "$pid" 2>/dev/null || true
  wait_for 30 ! -d "/proc/$pid" || fail "nbdkit $name did not exit"
  check_san_log "$T/$name.log"
}

# start_tap NAME [tap-recv args...]: a consumer on $T/NAME.tap
start_tap() {
  local name=$1; shift
  rm -f "$T/$name.tap"
  "$BW" tap-recv "$@" "unix:$T/$name.tap" > "$T/$name.recv.out" 2> "$T/$name.recv.err" &
  register_pid $!
  eval "${name}_tap_pid=$!"
  wait_for 10 -S "$T/$name.tap" || { cat "$T/$name.recv.err" >&2; fail "tap-recv $name did not start"; }
}

# stop_tap NAME: SIGTERM and expect a clean exit.
stop_tap() {
  local name=$1 pid rc=0
  pid=$(eval echo "\$${name}_tap_pid")
  kill "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  check_san_log "$T/$name.recv.err"
  [ $rc -eq 0 ] || { cat "$T/$name.recv.err" >&2; fail "tap-recv $name exited with $rc"; }
}

uri_of() { echo "nbd+unix:///?socket=$T/$1.sock"; }

# trace_replays TRACE BASE FINAL: the trace accounts for every record,
# and applied onto BASE it gives exactly FINAL.
trace_replays() {
  "$BW" trace check --no-loss "$1"
  "$BW" trace apply "$1" "$2"
  cmp "$2" "$3" || fail "trace replay differs from the backend"
  say "trace replays to the final image"
}

# require_fio_nbd: skip unless fio has its nbd engine.
require_fio_nbd() {
  require fio
  fio --enghelp 2>/dev/null | grep_all -qw nbd || skip "fio was built without the nbd engine"
}

# fio_verify PROXY NAME [fio args...]: fio's nbd engine against proxy
# PROXY, every block it writes verified (crc32c); fails on any error.
fio_verify() {
  local p=$1 name=$2; shift 2
  fio --name="$name" --output-format=terse --terse-version=3 --ioengine=nbd --uri="$(uri_of "$p")" \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 "$@" \
      > "$T/fio.$name.out" 2> "$T/fio.$name.err" \
    || { cat "$T/fio.$name.out" "$T/fio.$name.err"; fail "fio $name failed"; }
  # terse v3: field 5 is the job's error code
  [ "$(grep '^3;' "$T/fio.$name.out" | cut -d';' -f5)" = 0 ] || { cat "$T/fio.$name.out"; fail "fio $name reported an error"; }
}

# attach_loop NAME [SOCKET]: expose proxy NAME's export (on SOCKET, by
# default $T/NAME.sock) to the kernel as a block device (nbdfuse file ->
# loop), the rig's "real ext4 driver" path.  Sets LOOP.  detach_loop
# NAME undoes it (also done at exit).
attach_loop() {
  local name=$1 sock=${2:-$T/$1.sock}
  mkdir -p "$T/$name.fuse"
  nbdfuse -P "$T/$name.nbdfuse.pid" "$T/$name.fuse/nbd" --unix "$sock" \
    > "$T/$name.nbdfuse.log" 2>&1 &
  register_pid $!
  wait_for 20 -f "$T/$name.fuse/nbd" || { cat "$T/$name.nbdfuse.log" >&2; fail "nbdfuse did not start"; }
  register_mount "$T/$name.fuse"
  LOOP=$(losetup -f --show "$T/$name.fuse/nbd")
  register_loop "$LOOP"
  eval "${name}_loop=$LOOP"
}

detach_loop() {
  local name=$1 loop pid
  loop=$(eval echo "\$${name}_loop")
  losetup -d "$loop"
  umount "$T/$name.fuse"
  pid=$(cat "$T/$name.nbdfuse.pid")
  wait_for 20 ! -d "/proc/$pid" || fail "nbdfuse did not exit"
}

# journal_area IMAGE: "FIRST-BYTE END-BYTE" of the journal inode, which
# mkfs makes contiguous (checked).
journal_area() {
  local img=$1 bs n first last
  bs=$(dumpe2fs -h "$img" 2>/dev/null | awk '/^Block size:/ { print $3 }')
  n=$(dumpe2fs -h "$img" 2>/dev/null | awk '/^Total journal blocks:/ { print $4 }')
  first=$(debugfs -R "bmap <8> 0" "$img" 2>/dev/null)
  last=$(debugfs -R "bmap <8> $((n - 1))" "$img" 2>/dev/null)
  [ "$last" = $((first + n - 1)) ] || fail "$img: the journal is not contiguous"
  echo $((first * bs)) $(((last + 1) * bs))
}

# journal_seqs DUMP IMAGE: the seqs of the records of a trace dump
# (blockwatch trace dump) that write into IMAGE's journal.
journal_seqs() {
  local jstart jend
  read -r jstart jend < <(journal_area "$2")
  awk -v a="$jstart" -v b="$jend" '/ write offset=/ {
      split($1, s, "="); split($3, o, "=")
      if (o[2] + 0 >= a && o[2] + 0 < b) print s[2] }' "$1"
}

# A TCP port on loopback that nothing listens on now, below the
# kernel's ephemeral range (32768 up, by default): a client's outgoing
# connection never takes it before our server binds it.
free_port() {
  local p lo
  read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range
  [ "$lo" -gt 11000 ] || lo=32768
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (lo - 10000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

# iSCSI targets: tgtd, a user-space target.  start_tgtd runs one on
# loopback and sets PORT (its portal), CPORT (its control port) and
# TGTD_PID; tgt runs tgtadm on it.
tgt() { tgtadm -C "$CPORT" "$@"; }

# stop_tgtd CPORT PID: tgtd ignores SIGTERM; it stops once its targets
# are force-deleted.  Its control socket /var/run/tgtd/socket.N stays.
stop_tgtd() {
  local tid
  for tid in $(tgtadm -C "$1" --lld iscsi --op show --mode target | sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
    tgtadm -C "$1" --lld iscsi --op delete --mode target --tid "$tid" --force || true
  done
  tgtadm -C "$1" --op delete --mode system --force || true
  wait_for 5 ! -d "/proc/$2" || kill -9 "$2" 2>/dev/null || true
  rm -f "/var/run/tgtd/socket.$1" "/var/run/tgtd/socket.$1.lock"
}

tgtd_ready() {
  local i
  for i in $(seq 50); do
    tgt --op show --mode sys > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# tgtd on a free portal port and control port (its management socket
# is /var/run/tgtd/socket.CPORT).  The portal is probed because tgtd
# keeps running when it cannot bind it.
start_tgtd() {
  local try pid
  require tgtd tgtadm
  for try in 1 2 3; do
    PORT=$(free_port) || break
    CPORT=$((10000 + RANDOM % 22000))   # tgtd takes at most 32767
    [ ! -e "/var/run/tgtd/socket.$CPORT" ] || continue
    tgtd -f -C "$CPORT" --iscsi "portal=127.0.0.1:$PORT" > "$T/tgtd.log" 2>&1 &
    pid=$!
    register_pid $pid
    at_exit "stop_tgtd $CPORT $pid"     # runs before _stop_pid: last in, first out
    if tgtd_ready && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      TGTD_PID=$pid
      return 0
    fi
    stop_tgtd "$CPORT" $pid > /dev/null 2>&1
  done
  skip "tgtd does not start: $(tail -3 "$T/tgtd.log" 2>/dev/null | tr '\n' ' ')"
}

# new_target TID IQN [USER PASSWORD]: a target open to every
# initiator, behind CHAP when USER and PASSWORD are given.
new_target() {
  tgt --lld iscsi --op new --mode target --tid "$1" -T "$2"
  if [ $# -ge 4 ]; then
    tgt --lld iscsi --op new --mode account --user "$3" --password "$4"
    tgt --lld iscsi --op bind --mode account --tid "$1" --user "$3"
  fi
  tgt --lld iscsi --op bind --mode target --tid "$1" -I ALL
}

# new_lun TID LUN FILE [PARAMS]
new_lun() {
  tgt --lld iscsi --op new --mode logicalunit --tid "$1" --lun "$2" -b "$3"
  [ -z "${4:-}" ] || tgt --lld iscsi --op update --mode logicalunit --tid "$1" --lun "$2" --params "$4"
}

# start_upstream NAME CMD...: an NBD server that listens on $T/NAME.sock
# (CMD must say so); its output goes to $T/NAME.log.
start_upstream() {
  local name=$1; shift
  rm -f "$T/$name.sock"
  "$@" > "$T/$name.log" 2>&1 &
  register_pid $!
  eval "${name}_pid=$!"
  wait_for 20 -S "$T/$name.sock" || { cat "$T/$name.log" >&2; fail "upstream $name did not start"; }
}

stop_upstream() {
  local pid
  pid=$(eval echo "\$${1}_pid")
  kill "$pid" 2>/dev/null || true
  wait_for 20 ! -d "/proc/$pid" || fail "upstream $1 did not exit"
  wait "$pid" 2>/dev/null || true
}
