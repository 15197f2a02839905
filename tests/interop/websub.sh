#!/usr/bin/env bash
# WebSub from the outside: feedsvc's built-in hub against a subscriber written independently
# with the Python standard library (websub_subscriber.py), and against PyPI's flask-websub
# subscriber when it installs and imports here.
#   1. A site with one article (tagged Shipping), `[websub] allow_private_callbacks = true` (every subscriber
#      listens on 127.0.0.1), served on a free loopback port; GET /websub is refused with 405
#      and `Allow: POST`, a subscription request without hub.topic with 400 naming it, and a
#      body that is not form-encoded with 415; the month's archive feed names no hub.
#   2. Four subscribers: /atom.xml, /rss.xml, /feed.json (the JSON Feed topic, its deliveries
#      answered 204) and the tag feed /tags/shipping/atom.xml. Each discovers the hub and the
#      self URL from the Link header and from the document (they must agree), checks HEAD and a
#      304, subscribes with a random secret and answers the verification. flask-websub
#      subscribes to /rss.xml too (without a secret: it sends none over plain http).
#   3. `feedsvc subscriptions --json` lists every subscription; `feedsvc add` of a first title:
#      each subscriber must get one signed delivery of the new feed body (signature,
#      Content-Type, Link headers, the body parsing as the feed with the new entry, and equal to
#      what a GET returns). The Atom subscriber then unsubscribes.
#   4. `feedsvc add` of a second title, tagged otherwise: delivered to all but the Atom
#      subscriber and the tag feed's, which must get nothing.
#   5. The server is killed (SIGKILL), a third title (tagged Shipping) is added while it is
#      down, and the server started again: the outbox delivers it to every subscriber but the
#      Atom one. `feedsvc subscriptions --json` no longer lists /atom.xml and shows each other
#      subscription's last status (200, or 204 for the JSON Feed one), no failure and nothing
#      pending.
#   6. The limit on subscription requests per client address: 70 in a row from 127.0.0.9, the
#      first 60 accepted, then 429 (and a 202 at most once a second, as the bucket refills);
#      127.0.0.10 is still served.
#   The server's logs (both runs) must hold no error or panic.
#
# usage: websub.sh FEEDSVC_BIN PYTHON     (PYTHON: the venv run.sh made; flask-websub goes there)
# Prints one PASS/FAIL line per check and a closing "N passed, M failed"; exits 1 on any
# failure. A step the rest depends on ends the script at once with a FAIL line. When
# flask-websub cannot be installed or imported, a line `# flask-websub: not usable here: ...`
# goes to stderr and that subscriber is left out. Every request stays on 127.0.0.0/8.
# About 30 seconds (plus installing flask-websub the first time).
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" websub "${1:?usage: websub.sh FEEDSVC_BIN PYTHON}"
py=${2:?usage: websub.sh FEEDSVC_BIN PYTHON}
command -v curl >/dev/null || fatal setup "curl is not installed"
"$py" -c 'import feedparser' 2>/dev/null ||
  echo "# websub: $py has no feedparser: the subscriber parses with xml.etree and json only" >&2

sub_pids=()
sub_names=()
cleanup_more() {
  local pid
  for pid in "${sub_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${sub_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

port=$(free_port)
base="http://127.0.0.1:$port/"
hub="${base}websub"
sync="$work/sync"
mkdir -p "$work/site/data" "$sync"
cat >"$work/site/config.toml" <<CONF
[site]
title = "WebSub Interop Desk"
base_url = "$base"
description = "Feeds pushed to subscribers."
author = "Interop Desk"
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = ""
[websub]
allow_private_callbacks = true
[admin]
listen = ""
CONF

# ---------------------------------------------------------------------------- 1. the site
printf 'Pilots kept watch over the harbour through the storm.\n' >"$work/seed.txt"
out=$(feedsvc add --title "Harbour pilots keep watch" --slug harbour-pilots --tag Shipping \
  "$work/seed.txt" 2>&1) ||
  fatal setup "feedsvc add of the first article failed: $out"
start_server "$work/site/config.toml"
grep -qx "feedsvc listening on $base" "$work/serve.out" ||
  fatal serve "expected 'feedsvc listening on $base': $(head -c 300 "$work/serve.out")"

# curl_hub CURL_ARGS...: prints the status of a curl request; headers in $work/headers, body in
# $work/body.
curl_hub() {
  curl -sS --max-time 10 -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" 2>&1 || true
}
status=$(curl_hub "$hub")
allow=$(grep -i '^allow:' "$work/headers" | tr -d '\r' | sed 's/^[^:]*: *//' || true)
if [ "$status" = 405 ] && [ "$allow" = POST ]; then
  pass hub-get "GET /websub: 405 with Allow: POST"
else
  fail hub-get "GET /websub: status $status, Allow '$allow' (expected 405 and POST)"
fi
status=$(curl_hub --data-urlencode hub.mode=subscribe \
  --data-urlencode "hub.callback=http://127.0.0.1:9/callback" "$hub")
if [ "$status" = 400 ] && grep -q 'hub\.topic' "$work/body"; then
  pass hub-missing-topic "400: $(head -c 200 "$work/body" | tr '\n' ' ')"
else
  fail hub-missing-topic "status $status, body '$(head -c 200 "$work/body" | tr '\n' ' ')'" \
    "(expected 400 naming hub.topic)"
fi
status=$(curl_hub -H 'Content-Type: text/plain' --data-binary "hub.mode=subscribe" "$hub")
if [ "$status" = 415 ]; then
  pass hub-content-type "a text/plain body: 415"
else
  fail hub-content-type "a text/plain body: status $status (expected 415)"
fi
# An archive document is not a subscription feed: no hub, neither in the header nor inside.
archive="${base}archive/$(date -u +%Y-%m)/atom.xml"
status=$(curl_hub "$archive")
if [ "$status" = 200 ] && ! grep -qi '^link:.*rel="\?hub' "$work/headers" &&
  ! grep -q 'rel="hub"' "$work/body"; then
  pass archive-no-hub "$archive: 200, no rel=hub in its Link header or document"
else
  fail archive-no-hub "$archive: status $status, Link: $(grep -i '^link:' "$work/headers" | tr -d '\r')," \
    "rel=\"hub\" in the document: $(grep -c 'rel="hub"' "$work/body" || true)"
fi

# ---------------------------------------------------------------------------- 2. subscribers
# Publish 1 is tagged Shipping, 2 Transport, 3 Shipping (made while the server is down).
titles=("Tidal barrier opens & ferries resume" "Night trains return to the coast"
  "Pilots' strike ends at the container port")

# start_sub NAME COMMAND FEED ARGS...: a websub_subscriber.py in the background, expecting
# each of the three titles unless ARGS has its own --titles.
start_sub() {
  local name=$1 cmd=$2 feed=$3
  shift 3
  "$py" "$here/websub_subscriber.py" "$cmd" "$base$feed" --name "$name" --sync-dir "$sync" \
    --expect-hub "$hub" --titles "${titles[@]}" "$@" >"$work/$name.out" 2>&1 </dev/null &
  sub_pids+=($!)
  sub_names+=("$name")
}

# flask-websub first: installing it may take a while, and the subscribers wait for publish 1.
flask=
if "$py" -c 'import flask_websub.subscriber' >/dev/null 2>&1; then
  flask=1
elif ! timeout 300 "$py" -m pip install -q --disable-pip-version-check flask-websub \
  >"$work/pip.log" 2>&1; then
  echo "# flask-websub: not usable here: pip install failed: $(tail -n 1 "$work/pip.log")" >&2
elif ! reason=$("$py" -c 'import flask_websub.subscriber' 2>&1); then
  echo "# flask-websub: not usable here: import failed: $(echo "$reason" | tail -n 1)" >&2
else
  flask=1
fi
start_sub atom.xml subscribe atom.xml --unsubscribe-after 1
start_sub rss.xml subscribe rss.xml
start_sub feed.json subscribe feed.json --delivery-status 204
# A tag feed is a topic of its own: publish 2 (tagged Transport) leaves it as it was.
start_sub tags-shipping-atom.xml subscribe tags/shipping/atom.xml --titles "${titles[0]}" - "${titles[2]}"

if [ -n "$flask" ]; then
  start_sub flask-websub flask-websub rss.xml
fi

# wait_ready K: every subscriber is ready for publish K (or has ended); at most 90 s.
wait_ready() {
  local i deadline=$((SECONDS + 90))
  for i in "${!sub_names[@]}"; do
    while [ ! -e "$sync/${sub_names[$i]}.ready.$1" ] && kill -0 "${sub_pids[$i]}" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        fail "ready-$1" "${sub_names[$i]} is not ready for publish $1 after 90 s"
        return 0
      fi
      sleep 0.05
    done
  done
}

# subscriptions EXPECTED: `feedsvc subscriptions --json` judged by websub_subscriber.py
# (EXPECTED: a JSON object {feed path: [last_status or null, ...]}); prints a summary, or what
# differs and then fails.
subscriptions() {
  feedsvc subscriptions --json 2>&1 | "$py" "$here/websub_subscriber.py" subscriptions "$base" "$1"
}

# ---------------------------------------------------------------------------- 3. first publish
wait_ready 1
if [ -n "$flask" ]; then rss_subs='null, null'; else rss_subs='null'; fi
expected="{\"atom.xml\": [null], \"rss.xml\": [$rss_subs], \"feed.json\": [null],"
expected+=" \"tags/shipping/atom.xml\": [null]}"
# A subscription is active once the hub has read the verification answer: allow it a moment.
deadline=$((SECONDS + 10))
until got=$(subscriptions "$expected" 2>&1); do
  if [ "$SECONDS" -ge "$deadline" ]; then break; fi
  sleep 0.2
done
if subscriptions "$expected" >/dev/null 2>&1; then
  pass subscriptions-before "feedsvc subscriptions --json: $got"
else
  fail subscriptions-before "feedsvc subscriptions --json: $got"
fi

printf 'The barrier opened at dawn and the first ferry left on time.\n' >"$work/one.txt"
out=$(feedsvc add --title "${titles[0]}" --slug tidal-barrier --tag Shipping "$work/one.txt" 2>&1) ||
  fatal add-1 "feedsvc add failed: $out"
touch "$sync/published.1"
pass add-1 "published $out"

# ---------------------------------------------------------------------------- 4. second publish
wait_ready 2
printf 'Sleeper services resume along the coast from Monday.\n' >"$work/two.txt"
out=$(feedsvc add --title "${titles[1]}" --slug night-trains --tag Transport "$work/two.txt" 2>&1) ||
  fatal add-2 "feedsvc add failed: $out"
touch "$sync/published.2"
pass add-2 "published $out"

# ---------------------------------------------------------------------------- 5. third publish
# Made while the server is down (killed with SIGKILL): the outbox must deliver it once the
# server runs again.
wait_ready 3
# The hub records the answers to publish 2 after the subscribers have it: wait until nothing is
# pending (else the kill below would make it deliver publish 2 again after the restart).
for _ in $(seq 150); do
  feedsvc subscriptions --json 2>/dev/null |
    "$py" -c 'import json, sys; sys.exit(any(s["pending"] for s in json.load(sys.stdin)))' &&
    break
  sleep 0.2
done
cp "$work/serve.err" "$work/serve-1.err"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
printf 'Cranes moved again at first light.\n' >"$work/three.txt"
out=$(feedsvc add --title "${titles[2]}" --slug pilots-strike --tag Shipping "$work/three.txt" 2>&1) ||
  fatal add-3 "feedsvc add failed: $out"
touch "$sync/published.3"
pass add-3 "published $out while the server was down (killed with SIGKILL)"
start_server "$work/site/config.toml"

# Every subscriber ends on its own (its waits are bounded); then its lines become ours.
for i in "${!sub_names[@]}"; do
  name=${sub_names[$i]}
  rc=0
  wait "${sub_pids[$i]}" || rc=$?
  if [ "$name" = flask-websub ] && [ "$rc" = 3 ]; then
    grep '^# flask-websub' "$work/$name.out" >&2 || true
    continue
  fi
  n_pass=0
  n_fail=0
  while IFS= read -r line; do
    case $line in
      PASS\ *) n_pass=$((n_pass + 1)); pass "${line#PASS }" ;;
      FAIL\ *) n_fail=$((n_fail + 1)); fail "${line#FAIL }" ;;
      '#'*) echo "$line" >&2 ;;
      '') ;;
      *) echo "    $line" ;;
    esac
  done <"$work/$name.out"
  if [ "$rc" != 0 ] && [ "$n_fail" -eq 0 ]; then
    fail "$name" "the subscriber exited with status $rc without a FAIL line"
  elif [ "$n_pass" -eq 0 ]; then
    fail "$name" "the subscriber printed no PASS line"
  fi
done
sub_pids=()

if [ -n "$flask" ]; then rss_subs='200, 200'; else rss_subs='200'; fi
expected="{\"rss.xml\": [$rss_subs], \"feed.json\": [204], \"tags/shipping/atom.xml\": [200]}"
if got=$(subscriptions "$expected" 2>&1); then
  pass subscriptions-after "atom.xml gone after its unsubscription, the others delivered: $got"
else
  fail subscriptions-after "feedsvc subscriptions --json: $got"
fi

# ---------------------------------------------------------------------------- 6. rate limit
# 70 subscription requests in a row from one client address (127.0.0.9; every callback on a
# port nobody listens on, so none becomes active). The hub takes 60 a minute from one address
# (a token bucket: one more each second), so the first 60 get 202, then 429 comes, and at most
# one more 202 per second the loop took; another address (127.0.0.10) is still served.
codes=()
t0=$(date +%s%N)
for i in $(seq 70); do
  codes+=("$(curl -sS --max-time 10 --interface 127.0.0.9 -o /dev/null -w '%{http_code}' \
    --data-urlencode hub.mode=subscribe --data-urlencode "hub.topic=${base}rss.xml" \
    --data-urlencode "hub.callback=http://127.0.0.1:9/limit/$i" "$hub" 2>&1 || true)")
done
took_ms=$((($(date +%s%N) - t0) / 1000000))
n202=0
n429=0
for code in "${codes[@]:60}"; do
  case $code in
    202) n202=$((n202 + 1)) ;;
    429) n429=$((n429 + 1)) ;;
  esac
done
first60=$(printf '%s\n' "${codes[@]:0:60}" | sort -u | tr '\n' ' ')
other=$(curl_hub --interface 127.0.0.10 --data-urlencode hub.mode=subscribe \
  --data-urlencode "hub.topic=${base}rss.xml" --data-urlencode "hub.callback=http://127.0.0.1:9/other" "$hub")
if [ "$first60" = "202 " ] && [ "$n429" -ge 1 ] && [ $((n202 + n429)) -eq 10 ] &&
  [ "$n202" -le $((took_ms / 1000 + 1)) ] && [ "$other" = 202 ]; then
  pass hub-rate-limit "70 requests from 127.0.0.9 in ${took_ms} ms: the first 60 answered 202," \
    "then $n429 x 429 and $n202 x 202; 127.0.0.10 still 202"
else
  fail hub-rate-limit "70 requests from 127.0.0.9 in ${took_ms} ms: ${codes[*]}; then 127.0.0.10:" \
    "$other (expected 60 x 202, then 429s with at most one 202 a second, then 202)"
fi

if ! kill -0 "$server_pid" 2>/dev/null; then
  fail server "feedsvc serve exited early: $(tail -c 500 "$work/serve.err")"
elif grep -qiE 'panicked|\bERROR\b' "$work/serve-1.err" "$work/serve.err"; then
  fail server "$(grep -hiE 'panicked|\bERROR\b' "$work/serve-1.err" "$work/serve.err" |
    head -n 3 | tr '\n' ' ')"
else
  pass server "both runs: no errors or panics logged"
fi
finish
