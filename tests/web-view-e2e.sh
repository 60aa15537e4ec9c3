#!/bin/bash
# The live web view end to end, in a real browser: mosquitto with the
# shipped configuration and its WebSockets listener (appliance/mosquitto/
# web.conf: wss, a tenant's user name and password), blockwatchd in
# front of an ext4 image that the kernel mounts through the proxy, and
# serving the page over HTTPS; headless Chromium, which trusts the
# test's CA through its NSS database, loads the page with two channels
# in its address.  A wrong password is refused; with the right one the
# page subscribes, and the guest's writes show on the page, each in its
# channel: the written text with its byte range, a mode old -> new, a
# rename, two names swapped (RENAME_EXCHANGE), the disk's publisher
# online; a file the channel's glob leaves
# out (delivered by the broker's filter all the same) does not; a loss
# and a resync show in every channel, the lost writes of a file only in
# the file's.  The screenshot is kept in
# build/test-artifacts/.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mqtt-lib.sh"
require_fuse
require_loop
require nbdkit mkfs.ext4 mosquitto_passwd chromium certutil
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import websocket' 2>/dev/null ||
  skip "python3-websocket is not installed"

BWD=$BW_BUILD/blockwatchd
ART=${BW_ARTIFACTS:-$BW_SRC/build/test-artifacts}
PASSWORD=web-$RANDOM$RANDOM
WS_PORT=$(free_port) && WEB_PORT=$(free_port) || fail "no free port"

make_pki
mosquitto_passwd -c -b "$PKI/web.passwd" vm1 "$PASSWORD" || fail "mosquitto_passwd failed"
# The WebSockets listener as shipped, on loopback.
mapfile -t web_conf < <(sed -e "s|/etc/mosquitto/blockwatch/|$PKI/|g" \
    -e "s|^listener 8884$|listener $WS_PORT 127.0.0.1|" \
    "$BW_SRC/appliance/mosquitto/web.conf" | grep -v '^#')
printf '%s\n' "${web_conf[@]}" | grep_all -q "^listener $WS_PORT 127.0.0.1$" || fail "no listener line in web.conf"
# (debug: the log says which messages went to the page's client)
start_broker "${web_conf[@]}" "log_type debug"
tls_up() { echo | openssl s_client -connect "127.0.0.1:$WS_PORT" 2>/dev/null | grep_all -q '^New, TLS'; }
for _ in $(seq 50); do tls_up && break; sleep 0.1; done
tls_up || fail "no TLS on the WebSockets port"
# TLS 1.1 is refused there too (OpenSSL's security level: mosquitto
# cannot set a minimum for WebSockets).
if echo | openssl s_client -tls1_1 -connect "127.0.0.1:$WS_PORT" 2>/dev/null | grep_all -q '^New, TLS'; then
  fail "the WebSockets listener accepts TLS 1.1"
fi

truncate -s 128M "$T/disk.img"
mkfs.ext4 -q -F -b 4096 "$T/disk.img"
cat > "$T/bw.conf" <<EOF
[appliance]
host = lab
run-dir = $T/run
state-dir = $T/state
metrics = off
web = 127.0.0.1:$WEB_PORT
web-cert = $PKI/server.crt
web-key = $PKI/server.key
web-dir = $BW_SRC/appliance/web
nbdkit = $(nbdkit_program)
stop-timeout = 20

$(broker_section)
drain = 5

[policy]
data = bytes:4096

[disk d0]
vm = vm1
backend = $T/disk.img
listen = unix:$T/run/d0/nbd.sock
EOF
"$BWD" -c "$T/bw.conf" > "$T/daemon.log" 2>&1 &
daemon=$!
register_pid $daemon
wait_for 60 -S "$T/run/d0/nbd.sock" || { tail -20 "$T/daemon.log"; fail "the disk is not exported"; }
grep -q "web view on https://127.0.0.1:$WEB_PORT/" "$T/daemon.log" || { tail "$T/daemon.log"; fail "blockwatchd does not serve the web view"; }

# What blockwatchd serves: the page and its files, with their types and
# the page's policy; nothing outside them.
web() { curl -s --cacert "$PKI/ca.crt" "https://localhost:$WEB_PORT$1" "${@:2}"; }
web / -D "$T/index.headers" -o "$T/index.html" || fail "the page cannot be fetched over HTTPS"
cmp -s "$T/index.html" "$BW_SRC/appliance/web/index.html" || fail "/ is not index.html"
grep -qi '^content-security-policy: default-src .none.' "$T/index.headers" || fail "no Content-Security-Policy"
[ "$(web /view.js -o /dev/null -w '%{content_type}')" = "text/javascript; charset=utf-8" ] || fail "view.js is not served as JavaScript"
for bad in /paho-mqtt.LICENSE /../../etc/passwd /%2e%2e/Makefile /.hidden /nope.js; do
  [ "$(web "$bad" -o /dev/null -w '%{http_code}')" = 404 ] || fail "$bad is served"
done
curl -s -o /dev/null "http://127.0.0.1:$WEB_PORT/" && fail "the page is served without TLS"

# The browser: a fresh profile, trusting the test's CA (NSS database in
# its home), remote-controlled over the DevTools protocol.
mkdir -p "$T/home/.pki/nssdb" "$ART"
certutil -N -d "sql:$T/home/.pki/nssdb" --empty-password || fail "certutil -N failed"
certutil -A -d "sql:$T/home/.pki/nssdb" -n "blockwatch test CA" -t "C,," -i "$PKI/ca.crt" ||
  fail "certutil -A failed"
HOME=$T/home chromium --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$T/chrome" --remote-debugging-port=0 \
  --window-size=1400,900 about:blank > "$T/chromium.log" 2>&1 &
register_pid $!
wait_for 30 -s "$T/chrome/DevToolsActivePort" ||
  skip "chromium does not start here: $(grep -v -i dbus "$T/chromium.log" | tail -3 | tr '\n' ' ')"

channels='lab:vm1:/notes/*.txt lab:vm?:/etc/*'
url="https://localhost:$WEB_PORT/?channel=$(jq -rn --arg c "${channels% *}" '$c|@uri')&channel=$(jq -rn --arg c "${channels#* }" '$c|@uri')&broker=$(jq -rn --arg c "wss://localhost:$WS_PORT/mqtt" '$c|@uri')&user=vm1"
state='document.getElementById("state").dataset.state'
sections='Array.from(document.querySelectorAll(".channel"), s => s.innerText)'
/usr/bin/python3 "$BW_SRC/tests/tools/cdp-steps.py" "$T/chrome" \
  open "$url" \
  eval "document.getElementById('password').value = 'wrong'; document.getElementById('go').click()" \
  wait 20 "$state == 'failed'" print "document.getElementById('state').textContent" \
  eval "document.getElementById('password').value = '$PASSWORD'; document.getElementById('go').click()" \
  wait 20 "$state == 'subscribed'" say subscribed \
  wait 40 "['renamed from /notes/today.txt', 'swapped with /notes/', '0100600', 're-read from storage', 'writes of file data lost'].every(t => document.body.innerText.includes(t))" \
  eval 'new Promise(r => setTimeout(r, 1000))' \
  screenshot "$ART/web-view-e2e.png" print "$sections" print "$state" \
  > "$T/cdp.out" 2> "$T/cdp.err" &
cdp=$!
register_pid $cdp
for _ in $(seq 300); do
  grep -q '^subscribed$' "$T/cdp.out" && break
  kill -0 $cdp 2>/dev/null || break
  sleep 0.1
done
grep -q '^subscribed$' "$T/cdp.out" || { cat "$T/cdp.err" "$T/cdp.out"; tail "$T/mosquitto.log"; fail "the page did not subscribe"; }
grep -qi 'wrong user or password' "$T/cdp.out" || fail "a wrong password was not refused: $(head -1 "$T/cdp.out")"
say "the page refused a wrong password and subscribed with the right one"

# The guest writes through the proxy.
attach_loop d0 "$T/run/d0/nbd.sock"
mkdir -p "$T/mnt"
mount "$LOOP" "$T/mnt"
register_mount "$T/mnt"
m=$T/mnt
mkdir -p "$m/notes" "$m/etc"
echo "hello from the web view test" >> "$m/notes/today.txt"
echo "not for this channel" > "$m/notes/skip.log"
echo "port=80" > "$m/etc/app.conf"
sync
chmod 600 "$m/etc/app.conf"
sync
mv "$m/notes/today.txt" "$m/notes/done.txt"
echo a > "$m/notes/a.txt"
echo b > "$m/notes/b.txt"
sync
/usr/bin/python3 -c 'import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) != 0)' \
  "$m/notes/a.txt" "$m/notes/b.txt" || fail "cannot swap a.txt and b.txt"
sync
# A loss and a resync, as a bridge and an introspector say them (the
# workload cannot make them happen on cue): published as the appliance.
for ev in '"type":"overflow","lost_events":150,"unconfirmed_events":12,"detail":"mqtt-bridge: the offline buffer was full"' \
          '"type":"resync","detail":"after the loss"'; do
  type=$(jq -rn "{$ev}.type")
  # shellcheck disable=SC2046
  mosquitto_pub -h localhost -p "$MQ_PORT" $(tls_of appliance) -q 1 \
    -t "blockwatch/lab/vm1/d0/0/\$fs/$type" \
    -m "{\"v\":1,\"id\":\"00000000000000$([ "$type" = overflow ] && echo f1 || echo f2)\",\"seq\":99,\"txn\":99,\"time\":\"2026-11-29T12:00:00.000000000Z\",\"host\":\"lab\",\"vm\":\"vm1\",\"disk\":\"d0\",\"part\":0,$ev}" ||
    fail "cannot publish the $type event"
done
# Writes two files lost, as the introspector says them: on each file's
# topic (skip.log's first, so that it has come when done.txt's has).
for f in skip.log:e1 done.txt:e2; do
  # shellcheck disable=SC2046
  mosquitto_pub -h localhost -p "$MQ_PORT" $(tls_of appliance) -q 1 \
    -t "blockwatch/lab/vm1/d0/0/notes/${f%:*}" \
    -m "{\"v\":1,\"id\":\"00000000000000${f#*:}\",\"seq\":98,\"txn\":98,\"time\":\"2026-11-29T12:00:00.000000000Z\",\"host\":\"lab\",\"vm\":\"vm1\",\"disk\":\"d0\",\"part\":0,\"type\":\"overflow\",\"path\":\"/notes/${f%:*}\",\"inode\":4711,\"lost_writes\":3,\"detail\":\"writes held past the end of a file were given up\"}" ||
    fail "cannot publish the loss of /notes/${f%:*}"
done

wait $cdp || { cat "$T/cdp.err"; tail -5 "$T/daemon.log"; fail "the page did not show the events"; }
say "screenshot: $ART/web-view-e2e.png"
sed -n 3p "$T/cdp.out" > "$T/sections.json"
[ "$(sed -n 4p "$T/cdp.out")" = '"subscribed"' ] || fail "the page is no longer subscribed: $(sed -n 4p "$T/cdp.out")"
section() { jq -r ".[$1]" "$T/sections.json"; }
section 0 > "$T/notes.txt"
section 1 > "$T/etc.txt"
has() {   # has FILE TEXT
  grep -qF -- "$2" "$1" || { cat "$1"; fail "$(basename "$1"): no '$2'"; }
}
has "$T/notes.txt" 'lab:vm1:/notes/*.txt'
has "$T/notes.txt" '/notes/today.txt'
has "$T/notes.txt" 'bytes 0..29 (29)  "hello from the web view test\n"'
has "$T/notes.txt" 'renamed from /notes/today.txt'
has "$T/notes.txt" 'swapped with /notes/'
has "$T/notes.txt" 'lab:vm1 d0: publisher online'
has "$T/notes.txt" '150 events dropped by the publisher (12 of them sent before, perhaps received): mqtt-bridge: the offline buffer was full'
has "$T/etc.txt" 're-read from storage after a loss: after the loss'
# The loss of a file's writes in the channel of the file only (the
# glob leaves skip.log out, the /etc channel all of /notes).
has "$T/notes.txt" '3 writes of file data lost (inode 4711): writes held past the end of a file were given up'
grep -q 'skip.log' "$T/notes.txt" && fail "the page shows /notes/skip.log, which its glob leaves out"
grep -q 'blockwatch/lab/vm1/+/+/notes/+ ' "$T/notes.txt" || fail "not the channel's narrowest MQTT filter"
has "$T/etc.txt" 'lab:vm?:/etc/*'
has "$T/etc.txt" '/etc/app.conf'
has "$T/etc.txt" 'mode 0100644 → 0100600'
grep -q '/notes/' "$T/etc.txt" && fail "the /etc channel shows /notes"
# The broker delivered skip.log to the page: the glob, not the filter,
# left it out.
grep -q "Sending PUBLISH to bw-web-.*'blockwatch/lab/vm1/d0/0/notes/skip.log'" "$T/mosquitto.log" ||
  fail "the broker did not send /notes/skip.log to the page: the test proves less than it says"
say "the page shows each channel's events: $(grep -c '' "$T/notes.txt") and $(grep -c '' "$T/etc.txt") lines"

umount "$T/mnt"
detach_loop d0
kill "$daemon"
wait "$daemon" || { tail -20 "$T/daemon.log"; fail "blockwatchd did not stop cleanly"; }
check_san_log "$T/daemon.log"
