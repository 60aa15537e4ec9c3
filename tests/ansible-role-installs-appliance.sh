#!/bin/bash
# The Ansible role (ansible/roles/blockwatch), run for real against
# localhost into a scratch root: it installs the make install tree,
# creates the blockwatch user, deploys a configuration blockwatchd
# accepts, the TLS files with the owners and modes their services need,
# mosquitto's configuration and ACL, a unit drop-in fitting the disks,
# and an nftables table that loads and opens only the needed ports.
# A second run changes nothing; a configuration blockwatchd refuses is
# not installed; the disks' TLS may use a PSK file instead.  The
# example playbook passes --syntax-check, and ansible-lint (where
# installed) passes the role and playbook.
. "$(dirname "$0")/lib.sh"
. "$BW_SRC/tests/mqtt-lib.sh"

require ansible-playbook nft systemd-sysusers unshare
require_root

say "the install tree and a scratch root"
make -s -C "$BW_SRC" BUILD="$BW_BUILD" install DESTDIR="$T/stage" PREFIX=/usr \
  > "$T/make.log" 2>&1 || { cat "$T/make.log"; fail "make install failed"; }
root=$T/root
mkdir -p "$root/etc"
# The users a Debian 12 machine with mosquitto has; the role adds
# blockwatch from sysusers.d.
printf 'root:x:0:0:root:/root:/bin/bash\nmosquitto:x:101:102::/var/lib/mosquitto:/usr/sbin/nologin\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\ndisk:x:6:\nmosquitto:x:102:\n' > "$root/etc/group"

make_pki
cat > "$T/inventory" <<EOF
localhost ansible_connection=local ansible_python_interpreter=$(command -v python3)
EOF
cat > "$T/play.yml" <<EOF
---
- name: A blockwatch appliance in a scratch root
  hosts: localhost
  gather_facts: false
  vars:
    blockwatch_root: $root
    blockwatch_stage_dir: $T/stage
    blockwatch_appliance:
      host: kvm-07
      metrics: 0.0.0.0:9810
    blockwatch_metrics_allow: [203.0.113.5]
    blockwatch_broker_local: true
    blockwatch_broker:
      uri: mqtts://localhost:8883
      qos: 1
    blockwatch_tls: {ca: $PKI/ca.crt, cert: $PKI/appliance.crt, key: $PKI/appliance.key}
    blockwatch_broker_tls: {ca: $PKI/ca.crt, cert: $PKI/server.crt, key: $PKI/server.key}
    blockwatch_broker_allow: [192.0.2.0/24, "2001:db8::/64"]
    blockwatch_nbd_tls: {ca: $PKI/ca.crt, cert: $PKI/server.crt, key: $PKI/server.key}
    blockwatch_disks:
      - name: web-1-root
        vm: web-1
        backend: /srv/vm/web-1-root.img
        listen: unix:/run/blockwatch/web-1-root/nbd.sock
        events-file: /var/log/blockwatch/web-1-root.jsonl
        readonly: true
      - name: nas-share
        vm: nas-1
        backend: /dev/vdb
        listen: tcp:10809
        tls: require
        data: bytes:4096
        allow: [198.51.100.0/24]
      - name: share
        vm: nas-2
        backend: nbd://storage.example.com/share
        reconnect-timeout: 120
        listen: unix:/run/blockwatch/share/nbd.sock
  roles:
    - blockwatch
EOF
export ANSIBLE_ROLES_PATH=$BW_SRC/ansible/roles ANSIBLE_NOCOLOR=1 \
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_RETRY_FILES_ENABLED=false
play() { ansible-playbook -i "$T/inventory" "$@"; }

say "syntax of the example playbook and the test's"
(cd "$BW_SRC/ansible" && ansible-playbook --syntax-check site.yml) > "$T/syntax.log" 2>&1 ||
  { cat "$T/syntax.log"; fail "site.yml: syntax"; }
play --syntax-check "$T/play.yml" > "$T/syntax.log" 2>&1 ||
  { cat "$T/syntax.log"; fail "play.yml: syntax"; }

say "first run"
play "$T/play.yml" > "$T/run1.log" 2>&1 || { tail -40 "$T/run1.log"; fail "the role failed"; }
grep -A3 '^PLAY RECAP' "$T/run1.log" | grep localhost

conf=$root/etc/blockwatch/blockwatch.conf
"$root/usr/bin/blockwatchd" --check --root "$root" -c "$conf" > "$T/check.out" 2>&1 ||
  { cat "$T/check.out" "$conf"; fail "blockwatchd refuses the role's configuration"; }
grep -q 'configuration OK, 3 disks' "$T/check.out" || fail "$(cat "$T/check.out")"
for line in 'host = kvm-07' 'ca-file = /etc/blockwatch/tls/ca.crt' \
    'key = /etc/blockwatch/tls/appliance.key' 'readonly = yes' 'tls = require' \
    'tls-certificates = /etc/blockwatch/tls/nbd' 'tap-buffer = 64M' \
    'reconnect-timeout = 120'; do
  grep -qx -- "$line" "$conf" || { cat "$conf"; fail "the configuration lacks '$line'"; }
done
grep -q '^allow' "$conf" && fail "the role's own key allow is in the configuration"
say "blockwatchd accepts the configuration"

uid=$(awk -F: '$1 == "blockwatch" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "blockwatch" { print $3 }' "$root/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || fail "no blockwatch user in the root"
mode() {   # mode FILE MODE UID GID
  local got
  got=$(stat -c '%a %u %g' "$root/$1") || fail "$1 is missing"
  [ "$got" = "$2 $3 $4" ] || fail "$1: mode, owner, group $got, expected $2 $3 $4"
}
mode etc/blockwatch/blockwatch.conf 640 0 "$gid"
mode etc/blockwatch/tls 750 0 "$gid"
mode etc/blockwatch/tls/ca.crt 644 0 "$gid"
mode etc/blockwatch/tls/appliance.crt 644 0 "$gid"
mode etc/blockwatch/tls/appliance.key 640 0 "$gid"
mode etc/blockwatch/tls/nbd/server-cert.pem 644 0 "$gid"
mode etc/blockwatch/tls/nbd/server-key.pem 640 0 "$gid"
mode etc/mosquitto/blockwatch/server.key 640 0 102
mode etc/mosquitto/blockwatch/server.crt 644 0 0
mode etc/mosquitto/blockwatch/blockwatch.acl 644 0 0
mode etc/mosquitto/conf.d/blockwatch.conf 644 0 0
mode usr/bin/blockwatchd 755 0 0
mode "$(pkg-config --variable=plugindir nbdkit)/nbdkit-blockwatch-plugin.so" 755 0 0
mode usr/lib/systemd/system/blockwatchd.service 644 0 0
mode usr/lib/systemd/system/mosquitto.service.d/blockwatch.conf 644 0 0
cmp "$PKI/server.key" "$root/etc/mosquitto/blockwatch/server.key" || fail "broker key differs"
cmp "$BW_SRC/appliance/mosquitto/blockwatch.acl" "$root/etc/mosquitto/blockwatch/blockwatch.acl" ||
  fail "the ACL is not the data firewall's"
say "owners and modes: keys 0640 to their service's group, no one else"

dropin=$root/etc/systemd/system/blockwatchd.service.d/ansible.conf
grep -qx 'SupplementaryGroups=disk' "$dropin" || fail "no group disk for /dev/vdb: $(cat "$dropin")"
grep -qx 'ReadWritePaths=/srv/vm/web-1-root.img' "$dropin" || fail "backend not writable: $(cat "$dropin")"
[ "$(grep -c '^ReadWritePaths=' "$dropin")" = 1 ] || fail "extra paths: $(cat "$dropin")"
say "the unit's drop-in lets the disks' backends through"

say "the firewall table, loaded in a network namespace of its own"
grep -qx 'include "/etc/nftables.d/\*.nft"' "$root/etc/nftables.conf" || fail "nftables.conf does not include the table"
unshare -n sh -c "nft -f '$root/etc/nftables.d/blockwatch.nft' && nft -f '$root/etc/nftables.d/blockwatch.nft' && nft list table inet blockwatch" \
  > "$T/nft.out" 2>&1 || { cat "$T/nft.out"; fail "the table does not load (twice)"; }
for rule in 'policy drop;' 'tcp dport 22 accept' \
    'ip saddr 192.0.2.0/24 tcp dport 8883 accept' 'ip6 saddr 2001:db8::/64 tcp dport 8883 accept' \
    'ip saddr 198.51.100.0/24 tcp dport 10809 accept' 'ip saddr 203.0.113.5 tcp dport 9810 accept'; do
  grep -qF -- "$rule" "$T/nft.out" || { cat "$T/nft.out"; fail "no rule '$rule'"; }
done
[ "$(grep -c 'dport' "$T/nft.out")" = 5 ] || { cat "$T/nft.out"; fail "other ports open"; }
say "only ssh, the broker, the TCP export and metrics are open, to their sources"

say "second run: nothing to change"
play "$T/play.yml" > "$T/run2.log" 2>&1 || { tail -40 "$T/run2.log"; fail "the second run failed"; }
grep -E -q 'localhost +: ok=[0-9]+ +changed=0 ' "$T/run2.log" ||
  { grep -B2 -A3 'changed:' "$T/run2.log" | head -40; fail "the second run changed something"; }

say "a configuration blockwatchd refuses is not installed"
cp "$conf" "$T/conf.before"
play "$T/play.yml" --tags blockwatch_config -e '{"blockwatch_policy": {"tap-buffer": "1K"}}' \
  > "$T/run3.log" 2>&1 &&
  fail "the role installed tap-buffer = 1K"
grep -q 'tap-buffer = 1K: expected a size' "$T/run3.log" || { tail -20 "$T/run3.log"; fail "no error from blockwatchd --check"; }
cmp -s "$conf" "$T/conf.before" || fail "the refused configuration replaced the old one"

say "the disks' TLS with a pre-shared key instead of certificates"
printf 'alice:%s\n' "$(openssl rand -hex 32)" > "$T/nbd.psk"
play "$T/play.yml" --tags blockwatch_tls,blockwatch_config \
  -e "{\"blockwatch_nbd_tls\": {\"psk\": \"$T/nbd.psk\"}}" > "$T/run4.log" 2>&1 ||
  { tail -40 "$T/run4.log"; fail "the role failed with a PSK"; }
"$root/usr/bin/blockwatchd" --check --root "$root" -c "$conf" > "$T/check.out" 2>&1 ||
  { cat "$T/check.out" "$conf"; fail "blockwatchd refuses the role's PSK configuration"; }
grep -qx 'tls-psk = /etc/blockwatch/tls/nbd/keys.psk' "$conf" || { cat "$conf"; fail "no tls-psk for nas-share"; }
grep -q '^tls-certificates' "$conf" && { cat "$conf"; fail "tls-certificates as well as tls-psk"; }
mode etc/blockwatch/tls/nbd/keys.psk 640 0 "$gid"
cmp "$T/nbd.psk" "$root/etc/blockwatch/tls/nbd/keys.psk" || fail "the PSK file differs"
play "$T/play.yml" --tags blockwatch_config \
  -e "{\"blockwatch_nbd_tls\": {\"psk\": \"$T/nbd.psk\", \"cert\": \"$PKI/server.crt\", \"key\": \"$PKI/server.key\"}}" \
  > "$T/run5.log" 2>&1 && fail "the role took both X.509 files and a PSK for the disks' TLS"
grep -q 'or a PSK file (psk), not both' "$T/run5.log" || { tail -20 "$T/run5.log"; fail "no message for X.509 and PSK both"; }
say "a PSK file is installed, named by the disk and accepted; a PSK and certificates both are refused"

if command -v ansible-lint >/dev/null; then
  say "ansible-lint"
  (cd "$BW_SRC/ansible" && ansible-lint --offline -q site.yml roles/blockwatch) > "$T/lint.log" 2>&1 ||
    { cat "$T/lint.log"; fail "ansible-lint"; }
else
  say "ansible-lint is not installed: lint not run"
fi
