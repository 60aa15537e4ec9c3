#!/bin/bash
# The web view names things as blockwatch does: appliance/web/topic.js
# (escaping, topic levels, topics taken apart, globs, channels and their
# MQTT filters, which events a channel takes) gives, case for case, what
# the C code gives (tests/tools/web-topic-cases.c and .js).  The cases
# are made at random from a fixed seed, with the docs' examples and the
# deep and long paths of docs/events.md; every kind of answer must come
# up often enough that the comparison means something.
. "$(dirname "$0")/lib.sh"
require node

CASES=${BW_WEB_CASES:-4000}
JS=$BW_SRC/tests/tools/web-topic-cases.js
node "$JS" gen 20261129 "$CASES" > "$T/cases" || fail "cannot make the cases"
# The docs' examples, with the answers they give; an overflow that names
# the file whose writes were lost goes with the file's events, an
# exchange on its path's topic as a rename.
cat > "$T/known" <<'EOF'
escape	2f746d702f72e973756de9203530250a	/tmp/r%E9sum%E9 50%25%0A
level	2f7820792b7a23353025	%2Fx y%2Bz%2350%25
level	2466730a	%24fs%0A
unlevel	file:%2Fsrv%2Fweb.img	66696c653a2f7372762f7765622e696d67
unescape	%41	invalid
unescape	%C3%A9	invalid
unescape	%e9	invalid
filters	h:v:/var/log/*	-	-1	blockwatch/h/v/+/+/var/log/+ blockwatch/h/v/+/+/$fs/+
filters	h:v	-	-1	blockwatch/h/v/+/+/#
filters	h+1:v:/a b/c+d/$x/r%E9	-	0	blockwatch/h%2B1/v/+/0/a b/c%2Bd/%24x/r%E9 blockwatch/h%2B1/v/+/0/$fs/+
filters	h:v:/%41	-	1	blockwatch/h/v/+/1/+ blockwatch/h/v/+/1/$fs/+
path	/**/x	/a/b/x	1
path	/var/log/*	/var/log/apt/history.log	0
name	caf?	café	1
parse	blockwatch/kvm-07/web-1/file:%2Fsrv%2Fweb.img/1/%24fs	file 6b766d2d3037 7765622d31 66696c653a2f7372762f7765622e696d67 1 2f246673 0 - -
parse	blockwatch/h/v/d/0/$fs/mount	fs 68 76 64 0 - 0 mount -
parse	blockwatch/h/v/d/$status	status 68 76 64 -1 - 0 - -
parse	blockwatch/h/v/d/0/%24fs/%41	invalid
topic	h	v	d	{"v":1,"host":"h","vm":"v","disk":"d","part":1,"type":"overflow","path":"/var/log/app.log","inode":12,"lost_writes":3}	blockwatch/h/v/d/1/var/log/app.log
topic	h	v	d	{"v":1,"part":1,"type":"overflow","inode":12,"lost_writes":3}	blockwatch/h/v/d/1/$inode/12
topic	h	v	d	{"v":1,"part":1,"type":"overflow","lost_writes":3}	blockwatch/h/v/d/1/$fs/overflow
topic	h	v	d	{"v":1,"part":1,"type":"exchange","path":"/srv/www/current","inode":262147,"old_path":"/srv/www/next"}	blockwatch/h/v/d/1/srv/www/current
match	h:v:/etc/*	-	-1	{"v":1,"host":"h","vm":"v","disk":"d","part":1,"type":"overflow","path":"/var/log/app.log","inode":12,"lost_writes":3}	0
match	h:v:/var/log/*	-	-1	{"v":1,"host":"h","vm":"v","disk":"d","part":1,"type":"overflow","path":"/var/log/app.log","inode":12,"lost_writes":3}	1
EOF
awk -F'\t' -v OFS='\t' '{ NF--; print }' "$T/known" >> "$T/cases"
awk -F'\t' '{ print $NF }' "$T/known" > "$T/known.want"

"$BW_BUILD/tests/web-topic-cases" < "$T/cases" > "$T/c.out" 2> "$T/c.err" ||
  { cat "$T/c.err"; fail "the C side failed"; }
check_san_log "$T/c.err"
node "$JS" run < "$T/cases" > "$T/js.out" 2> "$T/js.err" ||
  { cat "$T/js.err"; fail "the JavaScript side failed"; }
[ "$(wc -l < "$T/c.out")" = "$(wc -l < "$T/cases")" ] || fail "the C side answered $(wc -l < "$T/c.out") of $(wc -l < "$T/cases") cases"

paste "$T/cases" "$T/c.out" "$T/js.out" | awk -F'\t' '
  { c = $(NF - 1); j = $NF }
  c != j { bad++; if (bad <= 10) { NF -= 2; print "case: " $0 "\n   C: " c "\n  JS: " j } }
  END { exit bad > 0 }' > "$T/diff" || { cat "$T/diff"; fail "topic.js and the C code differ on $(grep -c '^case' "$T/diff") cases (first 10 above)"; }
tail -n "$(wc -l < "$T/known")" "$T/c.out" | diff "$T/known.want" - ||
  fail "the docs' examples do not give the documented answers"

# Every kind of answer, often enough.
paste <(cut -f1 "$T/cases") "$T/c.out" | awk -F'\t' '
  { k = $1; v = $2
    if (k == "match" || k == "name" || k == "path") k = k " " v
    else if (k == "parse") k = k " " (v == "invalid" ? v : substr(v, 1, index(v, " ") - 1))
    else k = k " " (v ~ /^invalid/ ? "invalid" : "ok")
    n[k]++ }
  END { for (k in n) print n[k] "\t" k }' | sort -k2 > "$T/kinds"
say "cases: $(wc -l < "$T/cases"), equal in C and JavaScript; answers: $(awk -F'\t' '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }' "$T/kinds")"
for k in "match 1" "match 0" "match invalid event" "name 1" "path 1" "path 0" \
         "parse file" "parse fs" "parse status" "parse invalid" \
         "unescape invalid" "unlevel ok" "filters ok" "topic ok"; do
  n=$(awk -F'\t' -v k="$k" '$2 == k { print $1 }' "$T/kinds")
  [ "${n:-0}" -ge 5 ] || fail "too few cases answered '$k' (${n:-0}): the comparison proves little"
done
