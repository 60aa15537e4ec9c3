#!/bin/bash
# The iSCSI backend's data path: fio (nbd engine) against
#   base   qemu-nbd, its iscsi driver (libiscsi too) on the LUN
#   none   our plugin, iscsi:// backend, tap=none
#   tap    our plugin, iscsi:// backend, tap=unix: to a consumer
# on the same tgtd LUN (a file in memory), in the same run,
# configurations interleaved, each RUNS times; the median counts.
# Another NBD server of the same LUN through the same library is the
# fair baseline: tgtd, a user-space target on the same two CPUs, costs
# both the same.  No target: this says where our backend stands.
#   RUNTIME=10 RUNS=5 bench/bench-proxy-iscsi.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNTIME=${RUNTIME:-10}
RUNS=${RUNS:-5}
SIZE=${SIZE:-1G}
IQN=iqn.2026-11.io.blockwatch:bench

for cmd in tgtd tgtadm qemu-nbd fio nbdkit; do
  command -v "$cmd" > /dev/null || { echo "bench-proxy-iscsi: $cmd is missing (make deps)" >&2; exit 1; }
done
dpkg-query -W -f='${Status}' qemu-block-extra 2>/dev/null | grep -q 'ok installed' ||
  { echo "bench-proxy-iscsi: qemu-nbd has no iscsi driver (qemu-block-extra; make deps)" >&2; exit 1; }

W=$(mktemp -d /dev/shm/bw-bench-iscsi.XXXXXX)
PIDS=()
TGTD=
CPORT=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$TGTD" ]; then
    # tgtd ignores SIGTERM; it stops once its targets are gone.
    tgtadm -C "$CPORT" --lld iscsi --op delete --mode target --tid 1 --force > /dev/null 2>&1 || true
    tgtadm -C "$CPORT" --op delete --mode system --force > /dev/null 2>&1 || true
    for _ in $(seq 50); do kill -0 "$TGTD" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$TGTD" 2>/dev/null || true
    rm -f "/var/run/tgtd/socket.$CPORT" "/var/run/tgtd/socket.$CPORT.lock"
  fi
  wait 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

fallocate -l "$SIZE" "$W/lun.img"
dd if=/dev/zero of="$W/lun.img" bs=4M conv=notrunc status=none count=$(( $(stat -c %s "$W/lun.img") / 4194304 ))

# tgtd on loopback, on ports nothing else uses (its control port is at
# most 32767).
PORT=$(( 20000 + RANDOM % 10000 ))
CPORT=$(( 10000 + RANDOM % 10000 ))
tgtd -f -C "$CPORT" --iscsi "portal=127.0.0.1:$PORT" > "$W/tgtd.log" 2>&1 &
TGTD=$!
for _ in $(seq 50); do tgtadm -C "$CPORT" --op show --mode sys > /dev/null 2>&1 && break; sleep 0.1; done
tgtadm -C "$CPORT" --lld iscsi --op new --mode target --tid 1 -T "$IQN"
tgtadm -C "$CPORT" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$W/lun.img"
tgtadm -C "$CPORT" --lld iscsi --op bind --mode target --tid 1 -I ALL
URI=iscsi://127.0.0.1:$PORT/$IQN/1

serve() {   # serve CONFIG: start the server for CONFIG on $W/CONFIG.sock
  local c=$1
  rm -f "$W/$c.sock"
  case $c in
    # Persistent (-t), no host cache: like the plugin, every request
    # goes to the LUN.
    base) qemu-nbd -t -f raw --cache=none -k "$W/$c.sock" "$URI" > "$W/qemu-nbd.log" 2>&1 &
          echo $! > "$W/$c.pid";;
    *)    serve_plugin "$c" "$URI";;
  esac
  PIDS+=($!)
  for _ in $(seq 50); do [ -S "$W/$c.sock" ] && [ -s "$W/$c.pid" ] && break; sleep 0.1; done
}

run_rounds

out=$W/section.md
{
  echo "<!-- proxy-iscsi:begin -->"
  echo "## Data path on iSCSI storage: proxy vs \`qemu-nbd\`"
  echo
  echo "Command: \`RUNTIME=$RUNTIME RUNS=$RUNS SIZE=$SIZE bench/bench-proxy-iscsi.sh\` (part of \`make bench\`)."
  echo "A $SIZE LUN of \`tgtd\` (a file in /dev/shm) on loopback; fio 3 nbd engine over a Unix socket to \`qemu-nbd\`"
  echo "(its iscsi driver, \`--cache=none\`) or to our plugin with \`$URI\`-style storage,"
  echo "${RUNTIME}s per run after 2s ramp, median of $RUNS interleaved runs. \`tap=unix\` as in the section above"
  echo "(\`blockwatch tap-recv\`, \`tap-overflow=block:60000\`); nothing is deferred, there being no local storage"
  echo "to read back. tgtd runs on the same two CPUs and is not counted in the CPU times."
  echo
  echo "Ratios are of the medians; in brackets, the median of each round's ratio."
  echo
  proxy_tables "qemu-nbd"
  machine_facts
  echo "- qemu: $(qemu-nbd --version | head -1), tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null)"
  echo "<!-- proxy-iscsi:end -->"
} > "$out"
cat "$out"
write_section proxy-iscsi "$out"
