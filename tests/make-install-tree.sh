#!/bin/bash
# make install lays out exactly the documented tree (docs/packaging.md)
# with its modes, again without changing a file; the runtime package
# list covers every library the installed programs link; the systemd
# units pass systemd-analyze verify (mosquitto's with blockwatch's
# drop-in) and blockwatchd.service keeps its hardening; the example
# configuration passes blockwatchd --check.
. "$(dirname "$0")/lib.sh"

require systemd-analyze dpkg-query ldconfig objdump pkg-config

inst() {   # inst DIR MAKE-ARGS...: make install into DIR (DESTDIR)
  local d=$1; shift
  make -s -C "$BW_SRC" BUILD="$BW_BUILD" install DESTDIR="$d" "$@" > "$T/make.log" 2>&1 ||
    { cat "$T/make.log"; fail "make install $*"; }
}

say "make install DESTDIR=... PREFIX=/usr"
inst "$T/d" PREFIX=/usr
plugindir=$(pkg-config --variable=plugindir nbdkit)
(cd "$T/d" && find . ! -type d -printf '%m %P\n' | LC_ALL=C sort) > "$T/tree"
{
  echo "644 etc/blockwatch/blockwatch.conf.example"
  echo "644 etc/logrotate.d/blockwatch"
  echo "644 etc/mosquitto/blockwatch/blockwatch.acl"
  echo "644 etc/mosquitto/conf.d/blockwatch.conf"
  echo "755 usr/bin/blockwatch"
  echo "755 usr/bin/blockwatchd"
  echo "755 ${plugindir#/}/nbdkit-blockwatch-plugin.so"
  echo "644 usr/lib/systemd/system/blockwatchd.service"
  echo "644 usr/lib/systemd/system/mosquitto.service.d/blockwatch.conf"
  echo "644 usr/lib/sysusers.d/blockwatch.conf"
  echo "644 usr/share/blockwatch/runtime-packages"
  for f in "$BW_SRC"/README.md "$BW_SRC"/docs/*.md; do
    echo "644 usr/share/doc/blockwatch/$(basename "$f")"
  done
  echo "644 usr/share/man/man1/nbdkit-blockwatch-plugin.1"
} | LC_ALL=C sort > "$T/expected"
diff -u "$T/expected" "$T/tree" || fail "the install tree differs (- expected, + installed)"
grep -qx 'ExecStart=/usr/bin/blockwatchd -c /etc/blockwatch/blockwatch.conf' \
  "$T/d/usr/lib/systemd/system/blockwatchd.service" || fail "the unit's ExecStart is not /usr/bin's"
grep -q '@[A-Z]*@' "$T/d/usr/lib/systemd/system/blockwatchd.service" && fail "an @VAR@ is left in the unit"
(cd "$T/d" && find . ! -type d -printf '%T@ %P\n' | LC_ALL=C sort) > "$T/times1"
inst "$T/d" PREFIX=/usr
(cd "$T/d" && find . ! -type d -printf '%T@ %P\n' | LC_ALL=C sort) > "$T/times2"
diff -u "$T/times1" "$T/times2" || fail "installing the same build again changed file times"
say "the tree has every file, with its mode; a second install changes no time"

say "the runtime packages provide every library the programs link"
grep -v -e '^#' -e '^$' "$T/d/usr/share/blockwatch/runtime-packages" | sort > "$T/listed"
for elf in "$T/d/usr/bin/blockwatch" "$T/d/usr/bin/blockwatchd" \
    "$T/d/$plugindir/nbdkit-blockwatch-plugin.so"; do
  objdump -p "$elf" | awk '$1 == "NEEDED" { print $2 }'
done | sort -u > "$T/needed"
[ -s "$T/needed" ] || fail "objdump found no libraries"
while read -r lib; do
  # The sanitizers' runtimes are the test build's, not the product's.
  case $lib in libasan.so.*|libubsan.so.*) [ "$BW_SAN" = 1 ] && continue;; esac
  path=$(ldconfig -p | awk -v l="$lib" '!p && $1 == l && /x86-64/ { p = $NF } END { print p }')
  [ -n "$path" ] || fail "$lib: not found by ldconfig"
  pkg=$(dpkg-query -S "$(readlink -f "$path")" 2>/dev/null || dpkg-query -S "$path") ||
    fail "$lib: in no package"
  pkg=${pkg%%:*}
  grep -qx "$pkg" "$T/listed" || fail "$lib is in $pkg, which image/runtime-packages lacks"
  echo "  $lib: $pkg"
done < "$T/needed"

say "the units pass systemd-analyze verify"
# Installed under a prefix that exists here, so the programs the unit
# names are found.
p=$T/p
inst "" PREFIX="$p" NBDKIT_PLUGINDIR="$p/plugins"
units=$p/lib/systemd/system
systemd-analyze verify --man=no "$units/blockwatchd.service" > "$T/verify.log" 2>&1 ||
  { cat "$T/verify.log"; fail "verify blockwatchd.service"; }
[ ! -s "$T/verify.log" ] || { cat "$T/verify.log"; fail "verify blockwatchd.service warns"; }
if [ -f /lib/systemd/system/mosquitto.service ]; then
  cp /lib/systemd/system/mosquitto.service "$units/"
  systemd-analyze verify --man=no "$units/mosquitto.service" > "$T/verify.log" 2>&1 ||
    { cat "$T/verify.log"; fail "verify mosquitto.service with the drop-in"; }
  [ ! -s "$T/verify.log" ] || { cat "$T/verify.log"; fail "verify: mosquitto.service's drop-in warns"; }
  say "mosquitto.service with blockwatch's drop-in verifies"
else
  say "mosquitto is not installed: its drop-in not verified"
fi
systemd-analyze security --offline=yes "$units/blockwatchd.service" > "$T/security.log" 2>&1 ||
  { tail "$T/security.log"; fail "systemd-analyze security"; }
level=$(sed -n 's/.*Overall exposure level for blockwatchd.service: \([0-9.]*\).*/\1/p' "$T/security.log")
say "exposure level of blockwatchd.service: $level"
awk -v l="$level" 'BEGIN { exit !(l != "" && l <= 2.0) }' ||
  fail "blockwatchd.service is exposed more than 2.0: $level (hardening dropped?)"

# The example names the broker's TLS files in /etc/blockwatch/tls: made
# there in the tree, and checked with --root as a configuration for it.
say "the installed example passes blockwatchd --check --root"
mkdir -p "$T/d/etc/blockwatch/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$T/d/etc/blockwatch/tls/appliance.key" -out "$T/d/etc/blockwatch/tls/appliance.pem" \
  -days 1 -subj /CN=blockwatch-appliance 2>/dev/null || fail "openssl cannot make a certificate"
cp "$T/d/etc/blockwatch/tls/appliance.pem" "$T/d/etc/blockwatch/tls/ca.pem"
"$p/bin/blockwatchd" --check --root "$T/d" -c "$T/d/etc/blockwatch/blockwatch.conf.example" ||
  fail "the installed example configuration is refused"
! "$p/bin/blockwatchd" --check -c "$T/d/etc/blockwatch/blockwatch.conf.example" > /dev/null 2>&1 ||
  [ -f /etc/blockwatch/tls/ca.pem ] || fail "--check found TLS files outside the tree"
