#!/bin/bash
# image/Containerfile's runtime stage, replayed without a container
# engine (none runs here): its base (debian:12-slim is a minbase Debian
# 12) made by mmdebstrap, then its COPY and RUN instructions in order,
# RUN in a chroot with the file's SHELL; the build stage's tree is
# `make install DESTDIR=... PREFIX=/usr`, the command that stage runs.
# Then the image's ENTRYPOINT and CMD run as its USER with a
# configuration of one disk: it serves, /healthz answers, and the
# HEALTHCHECK command passes.
#
# Downloads from the Debian mirror (a minute or two): runs only when
# asked: `make image-check`.
. "$(dirname "$0")/../../tests/lib.sh"

require_root
require mmdebstrap jq curl mkfs.ext4
file=$BW_SRC/image/Containerfile
mirror=${BW_IMAGE_MIRROR:-http://deb.debian.org/debian}

# The instructions of the last stage, continuation lines joined, one
# per line.
awk '/^FROM / { n = 0; delete ins } { ins[++n] = $0 } END { for (i = 1; i <= n; i++) print ins[i] }' \
  "$file" | sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' |
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' > "$T/stage"
[ "$(head -1 "$T/stage")" = "FROM docker.io/library/debian:12-slim" ] ||
  fail "the runtime stage is not debian:12-slim: $(head -1 "$T/stage")"

say "the base: Debian 12 minbase"
root=$T/root
mmdebstrap --variant=minbase --aptopt='Acquire::Languages "none"' bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" > "$T/mmdebstrap.log" 2>&1 ||
  { tail -20 "$T/mmdebstrap.log"; fail "mmdebstrap"; }
# Not the tests' (sanitized) build: the image has no sanitizer runtimes.
make -s -C "$BW_SRC" BUILD=build install DESTDIR="$T/stage-tree" PREFIX=/usr \
  > "$T/make.log" 2>&1 || { cat "$T/make.log"; fail "make install"; }
for m in dev proc; do
  mkdir -p "$root/$m"
  if [ $m = proc ]; then mount -t proc proc "$root/proc"; else mount --bind /dev "$root/dev"; fi
  register_mount "$root/$m"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"

shell=(/bin/sh -c) user=root entrypoint=() cmd=() health=()
json() { jq -r '.[]' <<< "$1"; }
while IFS= read -r line; do
  op=${line%% *} arg=${line#* }
  case $op in
    FROM) ;;
    SHELL) mapfile -t shell < <(json "$arg");;
    COPY)
      if [[ $arg == --from=build\ * ]]; then
        set -- ${arg#--from=build }
        [ "$1 $2" = "/stage/ /" ] || fail "COPY --from=build $*: not the install tree"
        cp -a "$T/stage-tree/." "$root/"
      else
        set -- $arg
        install -D -m 644 "$BW_SRC/$1" "$root/$2"
      fi;;
    RUN)
      say "RUN ${arg:0:70}..."
      chroot "$root" "${shell[@]}" "$arg" > "$T/run.log" 2>&1 ||
        { tail -20 "$T/run.log"; fail "RUN $arg"; };;
    USER) user=$arg;;
    VOLUME|STOPSIGNAL|EXPOSE|WORKDIR|LABEL) ;;
    HEALTHCHECK) mapfile -t health < <(json "${arg#*CMD }");;
    ENTRYPOINT) mapfile -t entrypoint < <(json "$arg");;
    CMD) mapfile -t cmd < <(json "$arg");;
    *) fail "the test does not know the instruction $op";;
  esac
done < <(tail -n +2 "$T/stage")
[ ${#entrypoint[@]} -gt 0 ] && [ ${#health[@]} -gt 0 ] || fail "no ENTRYPOINT or HEALTHCHECK"
uid=$(chroot "$root" id -u "$user") gid=$(chroot "$root" id -g "$user")
[ "$uid" != 0 ] || fail "the image runs as root"
say "the image runs ${entrypoint[*]} ${cmd[*]} as $user ($uid)"

say "running it with one disk"
port=$(free_port)
mkdir -p "$T/data"
echo "in the container's disk" > "$T/data/hello.txt"
mkfs.ext4 -q -d "$T/data" "$root/var/lib/blockwatch/d.img" 16M
chown "$uid:$gid" "$root/var/lib/blockwatch/d.img"
mkdir -p "$root/etc/blockwatch"
cat > "$root/etc/blockwatch/blockwatch.conf" <<EOF
[appliance]
metrics = 127.0.0.1:$port

[disk d]
vm = vm-1
backend = /var/lib/blockwatch/d.img
listen = unix:/run/blockwatch/d/nbd.sock
events-file = /var/log/blockwatch/d.jsonl
EOF
chroot --userspec="$uid:$gid" "$root" "${entrypoint[@]}" "${cmd[@]}" > "$T/daemon.log" 2>&1 &
daemon=$!
register_pid $daemon
wait_for 60 -S "$root/run/blockwatch/d/nbd.sock" || { cat "$T/daemon.log"; fail "the disk is not served"; }
for _ in $(seq 50); do
  [ "$(curl -sf "http://127.0.0.1:$port/healthz")" = ok ] && break
  sleep 0.2
done
[ "$(curl -sf "http://127.0.0.1:$port/healthz")" = ok ] || { cat "$T/daemon.log"; fail "/healthz is not ok"; }
chroot --userspec="$uid:$gid" "$root" "${health[@]}" > "$T/health.out" 2>&1 ||
  { cat "$T/health.out"; fail "the HEALTHCHECK command fails"; }
cat "$T/health.out"
kill -TERM $daemon
wait_for 30 ! -d "/proc/$daemon" || fail "blockwatchd did not stop"
grep -q 'blockwatchd: info: stopped' "$T/daemon.log" || { cat "$T/daemon.log"; fail "no clean stop"; }
say "blockwatchd served the disk as $user and stopped cleanly"
