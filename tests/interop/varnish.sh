#!/usr/bin/env bash
# feedsvc behind Debian's Varnish with the shipped deploy/varnish.vcl (only its backend port
# changed), feed_max_age = 4 (so stale-while-revalidate = 8):
#   1. Hits: the second request is Varnish's (two ids in X-Varnish, an Age) and feedsvc logs one
#      request; a client's If-None-Match gets 304 from Varnish; Varnish's TTL records show the
#      grace it took from stale-while-revalidate, and the day the VCL keeps a copy for revalidation.
#   2. Codings (with http_gzip_support on, Varnish's default, then off): identity, gzip and br
#      requests for a JSON feed and an article page each get their coding, byte for byte
#      feedsvc's own, and each from the cache the second time; other spellings of
#      Accept-Encoding find the same three variants. A browser at an RSS feed's URL gets the
#      page, a reader the feed, each from the cache.
#   3. After max-age: the next request gets the stale copy at once while Varnish revalidates
#      with a conditional request that feedsvc answers 304; the copy is then fresh again, same
#      bytes.
#   4. A publish shows through Varnish within max-age (plus a poll), after one stale answer,
#      with one full fetch from feedsvc.
#   5. feedsvc gone (a server answering 500, then nothing): within grace the stale copy is
#      served and stays; past grace, 503; a 500 is not cached; feedsvc back, the kept copy is
#      revalidated with a 304.
#   6. POST /websub and requests with Authorization go to feedsvc every time.
#
# usage: varnish.sh FEEDSVC_BIN     (installs Debian's varnish when varnishd is missing)
# Prints one PASS/FAIL line per check and a closing "N passed, M failed"; exits 1 on any
# failure. A step the rest depends on ends the script at once with a FAIL line. About 30 s
# (plus the install the first time). Varnish keeps its working directory, logs included, in
# the script's temp dir; as root its processes run as Debian's varnish and vcache users.
# Functions called from traps, check and wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" varnish "${1:?usage: varnish.sh FEEDSVC_BIN}"
command -v curl >/dev/null || fatal setup "curl is not installed"

# ---------------------------------------------------------------------------- tools
varnishd=$(command -v varnishd || true)
if [ -z "$varnishd" ] && [ -x /usr/sbin/varnishd ]; then varnishd=/usr/sbin/varnishd; fi
if [ -z "$varnishd" ]; then
  echo "# installing Debian's varnish" >&2
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  { as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 varnish; } >"$work/apt.log" 2>&1 ||
    fatal setup "apt-get install varnish failed: $(tail -c 500 "$work/apt.log")"
  varnishd=/usr/sbin/varnishd
fi
[ -x "$varnishd" ] || fatal setup "no varnishd after installing varnish"
varnishlog=$(command -v varnishlog || echo /usr/bin/varnishlog)

# ---------------------------------------------------------------------------- processes
# varnish_pids: the managers of the varnishd instances started here (each stops its child).
varnish_pids=()
fake_pid=
cleanup_more() {
  local pid
  for pid in "${varnish_pids[@]}" $fake_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# sleep_until MS: sleeps until the clock reads MS (from now_ms), at once when it is past.
sleep_until() {
  local left=$(($1 - $(now_ms)))
  if [ "$left" -gt 0 ]; then sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"; fi
}

upstream=$(free_port)
public=$(free_port)
max_age=4

mkdir -p "$work/site/data"
cat >"$work/site/config.toml" <<CONF
[site]
title = "Varnish test"
base_url = "http://127.0.0.1:$public/"
[server]
listen = "127.0.0.1:$upstream"
feed_max_age = $max_age
page_max_age = $max_age
log = "info"
[storage]
samples = ""
[admin]
listen = ""
CONF

article() { # article SLUG TITLE DATE: writes the file (a body long enough to be compressed)
  {
    printf '+++\ntitle = "%s"\nslug = "%s"\npublished = "%s"\ntags = ["Cache"]\n+++\n' "$2" "$1" "$3"
    for i in $(seq 12); do printf 'Paragraph %s of %s, kept by a cache in front.\n\n' "$i" "$2"; done
  } >"$work/$1.md"
  echo "$work/$1.md"
}

publish first-story "First story" 2026-05-01T10:00:00Z || finish
start_server "$work/site/config.toml"

# The shipped VCL with the backend on this script's feedsvc port; nothing else changes.
sed "s/^\(    \.port = \)\"8080\";/\1\"$upstream\";/" "$repo/deploy/varnish.vcl" >"$work/varnish.vcl"
if [ "$(diff "$repo/deploy/varnish.vcl" "$work/varnish.vcl" | grep -c '^>')" != 1 ]; then
  fatal setup "deploy/varnish.vcl has no single backend line '    .port = \"8080\";'"
fi
# As root Varnish runs as Debian's varnish (manager, VCL compiler) and vcache (cache) users,
# which must reach the VCL in the temp dir; not as root it cannot switch: it runs as the caller.
jail=()
if [ "$(id -u)" -eq 0 ]; then chmod go+x "$work"; else jail=(-j none); fi

# healthy PORT: /healthz through the Varnish on PORT answers 200 (it listens, feedsvc answers).
healthy() {
  [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz")" = 200 ]
}
# start_varnish NAME PORT [varnishd args]: varnishd in the foreground (-F) of a background job,
# its working directory $work/NAME; ends the script unless it answers within 20 s.
start_varnish() {
  local name=$1 port=$2
  shift 2
  "$varnishd" -F "${jail[@]}" -a "127.0.0.1:$port" -f "$work/varnish.vcl" -n "$work/$name" \
    -s malloc,64m "$@" >"$work/$name.out" 2>&1 &
  varnish_pids+=($!)
  wait_for 20 healthy "$port" || fatal setup "varnishd ($name) on port $port did not answer" \
    "/healthz within 20 s: $(tail -c 500 "$work/$name.out")"
}
start_varnish varnish "$public"
# fetch_log URL TAG: the TAG records of Varnish's backend fetches of URL so far (varnishlog).
fetch_log() {
  "$varnishlog" -n "$work/varnish" -d -g vxid -q "BereqURL eq \"$1\"" -i "$2" 2>/dev/null || true
}

# ---------------------------------------------------------------------------- helpers
# fetched[NAME]: "ok" when a fetch got the status it expected, else what went wrong.
declare -A fetched=()
# fetch NAME STATUS URL [curl args]: headers to $work/NAME.h, body to $work/NAME.b.
fetch() {
  local name=$1 want=$2 url=$3 rc=0 code
  shift 3
  code=$(curl -sS --max-time 10 -D "$work/$name.h" -o "$work/$name.b" -w '%{http_code}' "$@" "$url" \
    2>"$work/$name.err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    fetched[$name]="curl exit status $rc: $(head -c 200 "$work/$name.err")"
  elif [ "$code" != "$want" ]; then
    fetched[$name]="HTTP status $code, expected $want"
  else
    fetched[$name]=ok
  fi
}
# step NAME WHY COMMAND...: a step that is not a fetch; fetched[NAME] is "ok" or WHY.
step() {
  local name=$1 why=$2
  shift 2
  if "$@"; then fetched[$name]=ok; else fetched[$name]=$why; fi
}
via() { echo "http://127.0.0.1:${port:-$public}$1"; }
direct() { echo "http://127.0.0.1:$upstream$1"; }
# seen: what the last condition saw (check's FAIL detail), set by the conditions below.
seen=
header() { grep -i "^$2:" "$work/$1.h" | sed -n 1p | cut -d' ' -f2- | tr -d '\r' || true; }
is_header() { seen="$2: '$(header "$1" "$2")'"; [ "$(header "$1" "$2")" = "$3" ]; }
# from_cache NAME: Varnish served NAME from its cache (X-Varnish holds two ids: this request's
# and the one that fetched the object).
from_cache() {
  seen="X-Varnish: '$(header "$1" x-varnish)'"
  [[ $(header "$1" x-varnish) =~ ^[0-9]+\ [0-9]+$ ]]
}
from_feedsvc() {
  seen="X-Varnish: '$(header "$1" x-varnish)'"
  [[ $(header "$1" x-varnish) =~ ^[0-9]+$ ]]
}
age_at_least() { seen="Age: '$(header "$1" age)'"; [ "$(header "$1" age)" -ge "$2" ] 2>/dev/null; }
age_below() { seen="Age: '$(header "$1" age)'"; [ "$(header "$1" age)" -lt "$2" ] 2>/dev/null; }
same_body() { seen="$1.b and $2.b differ"; cmp -s "$work/$1.b" "$work/$2.b"; }
has_text() { seen="'$2' not in $1.b"; grep -q "$2" "$work/$1.b"; }
# upstream_count PATTERN: feedsvc's access log lines matching PATTERN (`method=GET path=/x status=200`).
upstream_count() { grep -c -- "$1" "$work/serve.err" || true; }
count_is() {
  seen="feedsvc logged $(upstream_count "$1") '$1', expected $2"
  [ "$(upstream_count "$1")" = "$2" ]
}
# cached_copy NAME REF: NAME came from the cache with REF's bytes; stale_copy and fresh_copy
# also want its Age past max-age, or within it.
cached_copy() { from_cache "$1" && same_body "$1" "$2"; }
stale_copy() { cached_copy "$1" "$2" && age_at_least "$1" "$max_age"; }
fresh_copy() { cached_copy "$1" "$2" && age_below "$1" "$max_age"; }
# equals WHAT GOT WANT, at_least WHAT GOT MIN, differs WHAT A B: comparisons that say what they saw.
equals() { seen="$1: '$2', expected '$3'"; [ "$2" = "$3" ]; }
at_least() { seen="$1: '$2', expected at least $3"; [ "$2" -ge "$3" ] 2>/dev/null; }
differs() { seen="$1: '$2' and '$3'"; [ -n "$2" ] && [ -n "$3" ] && [ "$2" != "$3" ]; }

# ---------------------------------------------------------------------------- 1. hits
feed=/atom.xml
fetch miss 200 "$(via $feed)"
t_miss=$(now_ms)
check "first request is fetched from feedsvc" miss -- from_feedsvc miss
check "first request has the feed" miss -- has_text miss "First story"
fetch hit 200 "$(via $feed)"
check "second request is a cache hit (two ids in X-Varnish)" hit -- from_cache hit
check "the hit carries Age" hit -- age_at_least hit 0
check "the hit is the same bytes" miss hit -- same_body miss hit
check "feedsvc saw one request for the feed" miss hit -- count_is "path=$feed " 1
# Neither a query parameter feedsvc ignores nor a made-up Host makes a new copy.
fetch hit-query 200 "$(via "$feed?utm_source=x&r=$RANDOM")"
check "a query feedsvc ignores is a hit of the same copy" hit-query -- cached_copy hit-query miss
fetch hit-host 200 "$(via $feed)" -H "Host: made-up.example"
check "a made-up Host is a hit of the same copy" hit-host -- cached_copy hit-host miss
check "feedsvc still saw one request for the feed" hit-query hit-host -- count_is "path=$feed " 1
etag=$(header miss etag)
# feedsvc's stale-while-revalidate for feeds (twice max-age), the grace Varnish should take.
swr=$(header miss cache-control | sed -n 's/.*stale-while-revalidate=\([0-9]*\).*/\1/p')
check "feedsvc's Cache-Control has max-age=$max_age and stale-while-revalidate" miss -- \
  equals Cache-Control "$(header miss cache-control)" "max-age=$max_age, stale-while-revalidate=${swr:-?}"
swr=${swr:-0}
fetch inm 304 "$(via $feed)" -H "If-None-Match: $etag"
check "If-None-Match with the feed's ETag: 304 from Varnish" inm -- from_cache inm
check "the 304 did not reach feedsvc" inm -- count_is "path=$feed " 1
fetch inm_other 200 "$(via $feed)" -H 'If-None-Match: "not-this-one"'
check "If-None-Match with another ETag: 200 from the cache" inm_other -- from_cache inm_other
# Varnish's TTL records of the first fetch: "RFC ttl grace keep ..." as it read the response's
# headers, "VCL ttl grace keep ..." as the VCL left them.
ttl_records() {
  fetch_log $feed TTL |
    awk -v kind="$1" '/^\*/ { n++ } n == 1 && $2 == "TTL" && $3 == kind { v = $4 " " $5 " " $6 } END { print v }'
}
check "Varnish read max-age as TTL and stale-while-revalidate as grace" miss -- \
  equals "ttl grace keep in the TTL RFC record" "$(ttl_records RFC)" "$max_age $swr 0"
check "the VCL kept them, and keeps the copy a day for revalidation" miss -- \
  equals "ttl grace keep in the last TTL VCL record" "$(ttl_records VCL)" "$max_age $swr 86400"

# ---------------------------------------------------------------------------- 2. codings
# codings LABEL PORT PATH: identity, gzip and br through the Varnish on PORT, twice in
# different orders, against feedsvc's own bytes for each coding.
codings() {
  local label=$1 port=$2 path=$3 c ae
  local -A accept=([identity]='' [gzip]=gzip [br]='gzip, deflate, br')
  for c in identity gzip br; do
    fetch "direct_$c" 200 "$(direct "$path")" -H "Accept-Encoding: ${accept[$c]}"
  done
  for c in identity gzip br br gzip identity; do
    if [ -n "${fetched[v1_$c]:-}" ]; then ae=v2; else ae=v1; fi
    fetch "${ae}_$c" 200 "$(via "$path")" -H "Accept-Encoding: ${accept[$c]}"
  done
  for c in identity gzip br; do
    local want=$c
    if [ "$c" = identity ]; then want=; fi
    check "$label $path $c: Content-Encoding '$want'" "v1_$c" "direct_$c" -- \
      is_header "v1_$c" content-encoding "$want"
    check "$label $path $c: feedsvc's own bytes" "v1_$c" "direct_$c" -- same_body "v1_$c" "direct_$c"
    check "$label $path $c: again, from the cache, same bytes" "v2_$c" "direct_$c" -- \
      cached_copy "v2_$c" "direct_$c"
  done
  for ae in br 'br;q=1, gzip;q=0.5' 'gzip, br;q=0' 'x-gzip' 'identity' 'gzip;q=0, br;q=0'; do
    case $ae in br*) c=br ;; *gzip,* | x-gzip) c=gzip ;; *) c=identity ;; esac
    fetch spelled 200 "$(via "$path")" -H "Accept-Encoding: $ae"
    check "$label $path Accept-Encoding '$ae': the $c variant from the cache" spelled "v2_$c" -- \
      cached_copy spelled "v2_$c"
  done
  for c in identity gzip br; do unset "fetched[v1_$c]" "fetched[v2_$c]"; done
}
codings "gzip support on:" "$public" /feed.json
codings "gzip support on:" "$public" /articles/first-story

# A browser at the RSS feed's URL gets its HTML view, a reader the feed; each kept apart.
rss=/rss.xml
chrome='text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8'
fetch reader 200 "$(via $rss)" -H 'Accept: application/rss+xml, */*;q=0.5'
fetch browser 200 "$(via $rss)" -H "Accept: $chrome"
check "a browser at $rss gets the HTML view" browser -- \
  is_header browser content-type "text/html; charset=utf-8"
fetch browser2 200 "$(via $rss)" -H 'Accept: text/html'
check "another browser's Accept finds the cached view" browser browser2 -- \
  cached_copy browser2 browser
fetch reader2 200 "$(via $rss)" -H 'Accept: */*'
check "a reader gets the feed" reader -- has_text reader "<rss"
check "a reader after the browsers gets the cached feed" reader reader2 -- cached_copy reader2 reader

# ---------------------------------------------------------------------------- 3. grace, 304
sleep_until $((t_miss + max_age * 1000 + 500))
fetch stale 200 "$(via $feed)"
check "after max-age the stale copy is served at once (Age >= $max_age)" miss stale -- \
  stale_copy stale miss
revalidated() { [ "$(upstream_count "path=$feed status=304")" -ge 1 ]; }
step bg "feedsvc logged no 304 for $feed within 5 s" wait_for 5 revalidated
check "Varnish revalidated in the background, feedsvc answered 304" bg -- count_is "path=$feed status=304" 1
inm_sent=$(fetch_log $feed BereqHeader | grep -c "If-None-Match: $etag" || true)
check "the revalidation sent If-None-Match with the cached ETag" bg -- \
  at_least "backend requests with If-None-Match: $etag" "$inm_sent" 1
fetch fresh 200 "$(via $feed)"
check "after the 304 the copy is fresh again (Age < $max_age), 200, the same bytes" miss fresh -- \
  fresh_copy fresh miss

# ---------------------------------------------------------------------------- 4. publish
full_before=$(upstream_count "path=$feed status=200")
step publish "feedsvc add failed" publish second-story "Second story" 2026-05-02T10:00:00Z
t_pub=$(now_ms)
polls=0
first_new=
while [ $(($(now_ms) - t_pub)) -lt $(((max_age + 4) * 1000)) ]; do
  polls=$((polls + 1))
  fetch "poll$polls" 200 "$(via $feed)"
  if [ "${fetched[poll$polls]}" = ok ] && grep -q "Second story" "$work/poll$polls.b"; then
    first_new=$polls
    break
  fi
  sleep 0.2
done
t_new=$(now_ms)
step seen "the new entry never showed through Varnish in $((max_age + 4)) s" test -n "$first_new"
check "the publish shows through Varnish within max-age + 1 s ($((t_new - t_pub)) ms)" publish seen -- \
  test $((t_new - t_pub)) -le $(((max_age + 1) * 1000))
last_old=$((${first_new:-1} - 1))
fetched[last_old]=${fetched[poll$last_old]:-"no poll before the new entry"}
check "stale-while-revalidate: the request before it got the old copy at once (Age >= $max_age)" \
  seen last_old -- stale_copy "poll$last_old" fresh
check "one full fetch of the new feed from feedsvc" seen -- \
  count_is "path=$feed status=200" $((full_before + 1))
newest=poll${first_new:-0} # the first answer with the new entry
check "the new copy has a new ETag" seen -- \
  differs "ETags before and after" "$etag" "$(header "$newest" etag)"

# ---------------------------------------------------------------------------- 5. feedsvc gone
# In feedsvc's place first a server that answers 500 to everything (/healthz aside).
kill -KILL "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=
python3 - "$upstream" "$work/fake.log" <<'PY' &
import http.server, sys
class Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = (200, b"ok\n") if self.path == "/healthz" else (500, b"failing\n")
        self.send_response(status)
        self.send_header("Cache-Control", "max-age=60")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_request(self, code="-", size="-"):
        with open(sys.argv[2], "a") as log:
            log.write(f"{self.path} {code}\n")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Failing).serve_forever()
PY
fake_pid=$!
fake_up() { [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$(direct /healthz)")" = 200 ]; }
wait_for 10 fake_up || fatal setup "the failing server did not listen on port $upstream"

fetch failing 500 "$(via /sitemap.xml)"
check "a 500 from the backend goes to the client" failing -- from_feedsvc failing
sleep_until $((t_new + max_age * 1000 + 500))
fetch grace_500 200 "$(via $feed)"
failed_refresh() { grep -q "^$feed 500" "$work/fake.log" 2>/dev/null; }
step refresh_500 "no background fetch reached the failing server" wait_for 3 failed_refresh
fetch grace_500b 200 "$(via $feed)"
check "within grace the stale copy is served while the backend answers 500" grace_500 -- \
  stale_copy grace_500 "$newest"
check "the failed background refresh leaves the stale copy in place" refresh_500 grace_500b -- \
  stale_copy grace_500b "$newest"

kill "$fake_pid" 2>/dev/null || true
wait "$fake_pid" 2>/dev/null || true
fake_pid=
fetch grace_down 200 "$(via $feed)"
check "within grace the stale copy is served while nothing listens" grace_down -- \
  stale_copy grace_down "$newest"
sleep 0.5 # the background refresh that request started has failed by now
fetch grace_down2 200 "$(via $feed)"
check "the refused background refresh leaves the stale copy in place" grace_down2 -- \
  stale_copy grace_down2 "$newest"
sleep_until $((t_new + (max_age + swr) * 1000 + 1000))
fetch past_grace 503 "$(via $feed)"
check "past grace ($swr s) nothing stale is served: 503" past_grace -- from_feedsvc past_grace

# feedsvc again, its log started afresh. Not common.sh's start_server: on a loaded machine the
# restart after a SIGKILL was once seen to take over its 10 s.
"$bin" --config "$work/site/config.toml" serve >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
listening() { grep -q listening "$work/serve.out"; }
wait_for 30 listening ||
  fatal setup "feedsvc serve did not listen again within 30 s: $(head -c 500 "$work/serve.err")"
# After a refused connection Varnish leaves the backend alone for a moment
# (backend_remote_error_holddown, 0.25 s).
wait_for 5 healthy "$public" || fatal setup "Varnish did not reach feedsvc again within 5 s"
fetch back_sitemap 200 "$(via /sitemap.xml)"
check "feedsvc back: the 500 was not cached" back_sitemap -- has_text back_sitemap "<sitemapindex"
fetch back_feed 200 "$(via $feed)"
check "feedsvc back: the feed, not the 503" back_feed -- same_body back_feed "$newest"
check "the kept copy was revalidated: feedsvc answered 304" back_feed -- count_is "path=$feed status=304" 1

# ---------------------------------------------------------------------------- 6. passed
fetch post1 400 "$(via /websub)" -X POST --data 'hub.mode=subscribe'
fetch post2 400 "$(via /websub)" -X POST --data 'hub.mode=subscribe'
check "POST /websub reaches feedsvc each time" post1 post2 -- count_is "method=POST path=/websub " 2
fetch auth1 200 "$(via /feed.json)" -H 'Authorization: Bearer x'
fetch auth2 200 "$(via /feed.json)" -H 'Authorization: Bearer x'
check "requests with Authorization reach feedsvc each time" auth1 auth2 -- count_is "path=/feed.json " 2
check "the second one too was not served from the cache" auth2 -- from_feedsvc auth2

# ---------------------------------------------------------------------------- 2'. gzip off
# The same VCL under a Varnish whose gzip handling is off.
nogzip=$(free_port)
start_varnish varnish-nogzip "$nogzip" -p http_gzip_support=off
codings "gzip support off:" "$nogzip" /feed.json
codings "gzip support off:" "$nogzip" /articles/first-story

finish
