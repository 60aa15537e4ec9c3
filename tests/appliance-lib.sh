# Helpers for the tests of blockwatchd: its metrics endpoint on
# 127.0.0.1:$METRICS_PORT and its children's stats files in $T/run.
# Source after lib.sh and set METRICS_PORT.

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics"; }
metric() { scrape | awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }'; }
until_metric() {   # until_metric SECONDS KEY VALUE [at-least]
  local i v
  for i in $(seq $(($1 * 10))); do
    v=$(metric "$2" 2>/dev/null) || v=
    [ "$v" = "$3" ] && return 0
    [ "${4:-}" = at-least ] && [ -n "$v" ] && [ "$v" -ge "$3" ] && return 0
    sleep 0.1
  done
  fail "$2 is not ${4:-} $3 after $1 s: $(metric "$2" || true)"
}
# pid_of DISK ROLE: the pid in the stats file of the disk's nbdkit or
# introspector (empty while it is not running).
pid_of() { awk '$1 == "pid" { print $2 }' "$T/run/$1/$2.stats" 2>/dev/null; }
# priority PID: "NICE OOM_SCORE_ADJ" of the process; every thread's nice
# value must be the same (the introspector's threads are started after
# exec, so they inherit it), else "threads-differ".
priority() {
  local n= t tn
  for t in /proc/"$1"/task/*/stat; do
    tn=$(sed 's/.*) //' "$t" | awk '{ print $17 }') || return 1
    [ -z "$n" ] || [ "$n" = "$tn" ] || { echo threads-differ; return; }
    n=$tn
  done
  echo "$n $(cat /proc/"$1"/oom_score_adj)"
}
# yields PID INCREMENT OOM WHAT: the process runs at blockwatchd's
# ($daemon) nice value plus INCREMENT (at most 19) and an
# oom_score_adj of at least OOM (blockwatchd's, if that is higher).
yields() {
  local d n o want got
  read -r d o <<< "$(priority "$daemon")"
  n=$((d + $2)); [ $n -le 19 ] || n=19
  [ "$o" -ge "$3" ] || o=$3
  want="$n $o" got=$(priority "$1")
  [ "$got" = "$want" ] || fail "$4 (pid $1) runs at nice, oom_score_adj $got, not $want"
}
