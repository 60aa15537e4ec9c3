#!/bin/bash
# make demo's script (appliance/demo.sh) on this machine: with
# DEMO_SECONDS it runs the appliance, the broker, the guest's workload
# and the tenant's subscriber, shows the file events of the workload
# (the log's text, the rename and delete, metadata old -> new), and
# leaves nothing behind; a Ctrl-C (SIGINT to its process group, as a
# terminal sends it) tears everything down as cleanly.
. "$(dirname "$0")/lib.sh"
require_fuse
require_loop
require nbdkit mosquitto mosquitto_sub openssl mkfs.ext4 curl
export BUILD=$BW_BUILD NBDKIT
NBDKIT=$(nbdkit_program)

# left DIR: fails if anything of the demo in DIR is still there.
left() {
  local d=$1 p
  [ -n "$d" ] || fail "the demo did not say its work dir"
  [ ! -e "$d" ] || fail "$d is left: $(find "$d" | head)"
  ! grep -q " $d" /proc/mounts || fail "mounts left: $(grep " $d" /proc/mounts)"
  ! losetup -a | grep_all -q "$d" || fail "loop devices left: $(losetup -a | grep "$d")"
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep_all -q -- "$d"; then
      fail "a process is left: ${p#/proc/}: $(tr '\0' ' ' < "$p/cmdline")"
    fi
  done
}
workdir() { sed -n 's/^   work dir \(\/tmp\/blockwatch-demo\.[^;]*\);.*/\1/p' "$1"; }

# --- A machine that cannot run it is told why, before anything starts.
if command -v runuser > /dev/null && runuser -u nobody -- test -x "$BW_SRC/appliance/demo.sh"; then
  rc=0; out=$(runuser -u nobody -- "$BW_SRC/appliance/demo.sh" 2>&1) || rc=$?
  [ $rc = 1 ] && [[ $out == "make demo: needs root"* ]] || fail "as nobody: exit $rc: $out"
fi
if command -v unshare > /dev/null; then
  : > "$T/not-a-device"
  rc=0
  out=$(unshare -m sh -c 'mount --bind "$1" /dev/fuse && exec "$2" --check' - \
          "$T/not-a-device" "$BW_SRC/appliance/demo.sh" 2>&1) || rc=$?
  [ $rc = 1 ] && [[ $out == "make demo: needs /dev/fuse"* ]] || fail "without /dev/fuse: exit $rc: $out"
fi
say "without root or /dev/fuse it says so and stops"

# --- DEMO_SECONDS: the workload runs, then everything stops.
mkdir "$T/logs" "$T/int-logs"
rc=0
DEMO_LOGS=$T/logs DEMO_SECONDS=7 timeout 60 "$BW_SRC/appliance/demo.sh" < /dev/null > "$T/demo.out" 2>&1 || rc=$?
cat "$T/demo.out"
[ $rc = 0 ] || fail "the demo exited with $rc"
expect() {   # expect FILE PATTERN WHAT
  grep -q -- "$2" "$1" || fail "the demo did not show $3"
}
out=$T/demo.out
E='^  event │ demo:demo-vm '   # the subscriber's line: host:vm, then the event
expect "$out" "$E"'mount ' "the mount"
expect "$out" "$E"'create    /etc/app.conf ' "the creation of /etc/app.conf"
expect "$out" "$E"'write     /etc/app.conf  bytes 0\.\.8 "port=80\\n"' "the config's text"
expect "$out" "$E"'metadata  /etc/app.conf  mode 0100644 -> 0100600' "the chmod, old -> new"
expect "$out" "$E"'write     /var/log/app.log  bytes 0\.\.[0-9]* "[0-9:]* request 1 served\\n"' "the log's first line"
# (the kernel writes the file's whole block again: from 0, or from the
# old end)
expect "$out" "$E"'write     /var/log/app.log  bytes [0-9]*\.\.[0-9]* ".*request 2 served\\n"' "the log appended"
# (sed -i writes a new file and renames it over the old one within one
# journal transaction: the old file is deleted, a new one has the text)
expect "$out" "$E"'write     /etc/app.conf  bytes 0\.\.10 "port=8002\\n"' "the config edited"
expect "$out" "$E"'rename    /var/log/app.log.4  <- /var/log/app.log' "the log's rotation"
expect "$out" "$E"'delete    /var/log/app.log.4 ' "the delete"
expect "$out" "$E"'unmount ' "the unmount"
expect "$out" 'blockwatch/demo/\$status: offline' "the appliance offline at the end"
expect "$out" 'e2fsck -fn of the disk image: clean' "a clean file system"
left "$(workdir "$out")"
for f in "$T"/logs/*; do check_san_log "$f"; done
say "DEMO_SECONDS: the events shown, nothing left"

# --- Ctrl-C: the terminal sends SIGINT to the foreground process group.
set -m
DEMO_LOGS=$T/int-logs DEMO_SECONDS=60 "$BW_SRC/appliance/demo.sh" < /dev/null > "$T/int.out" 2>&1 &
demo=$!
set +m
for _ in $(seq 300); do grep -q 'request 2 served' "$T/int.out" && break; sleep 0.1; done
grep -q 'request 2 served' "$T/int.out" || { cat "$T/int.out"; fail "the demo did not get going"; }
kill -INT -- -$demo
rc=0; wait $demo || rc=$?
cat "$T/int.out"
[ $rc = 130 ] || fail "after Ctrl-C the demo exited with $rc, not 130"
expect "$T/int.out" "$E"'unmount ' "the unmount after Ctrl-C"
expect "$T/int.out" '^== done: no process' "its teardown after Ctrl-C"
left "$(workdir "$T/int.out")"
for f in "$T"/int-logs/*; do check_san_log "$f"; done
say "Ctrl-C: torn down, nothing left"
