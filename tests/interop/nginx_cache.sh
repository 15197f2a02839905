#!/usr/bin/env bash
# feedsvc behind Debian's nginx as a caching reverse proxy (proxy_cache + revalidation):
# nginx serves cached copies, revalidates expired ones with a conditional request that feedsvc
# answers 304, picks up a publish at the next revalidation, and keeps the feed and the page a
# browser gets at its URL apart.
#
# usage: nginx_cache.sh FEEDSVC_BIN     (nginx must be installed; run.sh installs it)
# Prints PASS/FAIL lines and a closing "N passed, M failed"; exits 1 on any failure. A step the
# rest depends on (feedsvc or nginx not starting) ends the script at once with a FAIL line.
# Functions called from traps, check and wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" nginx "${1:?usage: nginx_cache.sh FEEDSVC_BIN}"
nginx_started=
cleanup_more() {
  if [ -n "$nginx_started" ] && [ -s "$work/nginx.pid" ]; then
    local npid
    npid=$(cat "$work/nginx.pid" 2>/dev/null || true)
    if [ -n "$npid" ] && kill "$npid" 2>/dev/null; then
      # nginx daemonized itself (not our child): wait for it to go before removing its files.
      for _ in $(seq 50); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
}


nginx=$(command -v nginx || true)
if [ -z "$nginx" ] && [ -x /usr/sbin/nginx ]; then nginx=/usr/sbin/nginx; fi
[ -n "$nginx" ] || fatal setup "nginx is not installed"

upstream=$(free_port)
public=$(free_port)

mkdir -p "$work/site/data" "$work/cache" "$work/logs"
cat >"$work/site/config.toml" <<CONF
[site]
title = "Proxy test"
base_url = "http://127.0.0.1:$public/"
[server]
listen = "127.0.0.1:$upstream"
feed_max_age = 2
page_max_age = 2
log = "info"
[storage]
samples = ""
[admin]
listen = ""
CONF

article() { # article SLUG TITLE DATE: writes the file, prints its path
  printf '+++\ntitle = "%s"\nslug = "%s"\npublished = "%s"\ntags = ["Proxy"]\n+++\nBody of %s.\n' \
    "$2" "$1" "$3" "$2" >"$work/$1.md"
  echo "$work/$1.md"
}


publish first-story "First story" 2026-05-01T10:00:00Z || finish

start_server "$work/site/config.toml"

cat >"$work/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log $work/logs/access.log;
  proxy_cache_path $work/cache levels=1:2 keys_zone=feeds:1m max_size=64m inactive=10m use_temp_path=off;
  server {
    listen 127.0.0.1:$public;
    location / {
      proxy_pass http://127.0.0.1:$upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache feeds;
      proxy_cache_revalidate on;
      proxy_cache_lock on;
      add_header X-Cache-Status \$upstream_cache_status always;
    }
  }
}
CONF
if ! "$nginx" -p "$work" -c "$work/nginx.conf" -g 'daemon on;' >"$work/nginx.start" 2>&1; then
  fatal setup "nginx did not start: $(head -c 500 "$work/nginx.start")"
fi
nginx_started=1
# /healthz through nginx answers 200 only once nginx listens and reaches feedsvc.
healthy() { [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$public/healthz")" = 200 ]; }
if ! wait_for 10 healthy; then
  fatal setup "nginx on port $public did not answer /healthz with 200 within 10 s:" \
    "$(tail -c 500 "$work/logs/error.log" 2>/dev/null)"
fi

url="http://127.0.0.1:$public/atom.xml"
# fetched[STEP] is "ok" when a step (a fetch, the second publish) succeeded, else why it failed.
declare -A fetched=()
# fetch NAME [curl args]: GET the feed through nginx, headers and body saved under NAME;
# fetched[NAME] is "ok" for a 200.
fetch() {
  local name=$1 rc=0 code
  shift
  code=$(curl -sS --max-time 10 -D "$work/$name.h" -o "$work/$name.b" -w '%{http_code}' "$@" "$url" \
    2>"$work/$name.err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    fetched[$name]="curl exit status $rc: $(head -c 200 "$work/$name.err")"
  elif [ "$code" != 200 ]; then
    fetched[$name]="HTTP status $code, expected 200"
  else
    fetched[$name]=ok
  fi
}
header() { grep -i "^$2:" "$work/$1.h" | sed -n 1p | cut -d' ' -f2- | tr -d '\r' || true; }
is_header() { [ "$(header "$1" "$2")" = "$3" ]; }
upstream_count() { grep -c "path=/atom.xml.* status=$1" "$work/serve.err" || true; }
gunzips_to() { gzip -dc "$work/$1.b" | cmp -s - "$work/$2.b"; }
varies_on_encoding() { grep -qi '^vary:.*accept-encoding' "$work/$1.h"; }
no_content_encoding() { ! grep -qi '^content-encoding' "$work/$1.h"; }
same_etag() { # same_etag A B: both responses carry an ETag and it is the same
  local a b
  a=$(header "$1" etag)
  b=$(header "$2" etag)
  [ -n "$a" ] && [ "$a" = "$b" ]
}
etag_changed() { # etag_changed A B: both responses carry an ETag and they differ
  [ -n "$(header "$1" etag)" ] && [ -n "$(header "$2" etag)" ] && ! same_etag "$1" "$2"
}

fetch miss
check "first request goes upstream (MISS)" miss -- is_header miss x-cache-status MISS
check "first request is 200 with the feed" miss -- grep -q "First story" "$work/miss.b"
fetch hit
check "second request is served from the cache (HIT)" hit -- is_header hit x-cache-status HIT
check "cached copy has feedsvc's ETag" miss hit -- same_etag miss hit
before=$(upstream_count 200)
check "a cache hit does not reach feedsvc" miss hit -- test "$before" = 1

sleep 3 # the cached copy's max-age (feed_max_age = 2) runs out
fetch revalidated
check "expired copy is revalidated (REVALIDATED)" revalidated -- \
  is_header revalidated x-cache-status REVALIDATED
check "feedsvc answered the revalidation with 304" revalidated -- test "$(upstream_count 304)" -ge 1
check "revalidated copy is the same bytes" miss revalidated -- cmp -s "$work/miss.b" "$work/revalidated.b"

if publish second-story "Second story" 2026-05-02T10:00:00Z; then published=ok; else published="feedsvc add failed"; fi
fetched[publish]=$published
sleep 3 # the copy cached after the revalidation expires
fetch after_publish
check "after a publish nginx fetches the new feed (EXPIRED)" publish after_publish -- \
  is_header after_publish x-cache-status EXPIRED
check "the new entry is there" publish after_publish -- grep -q "Second story" "$work/after_publish.b"
check "the ETag changed" publish miss after_publish -- \
  etag_changed miss after_publish
fetch hit_again
check "the new copy is cached (HIT)" hit_again -- is_header hit_again x-cache-status HIT

fetch gzip -H 'Accept-Encoding: gzip'
check "gzip variant through the cache" gzip -- is_header gzip content-encoding gzip
check "gzip variant decodes to the identity bytes" gzip hit_again -- gunzips_to gzip hit_again
check "Vary: Accept-Encoding passes through" gzip -- varies_on_encoding gzip
fetch plain_after_gzip
check "a client without gzip still gets identity from the cache" plain_after_gzip -- \
  no_content_encoding plain_after_gzip
check "the identity copy after gzip is the feed" plain_after_gzip hit_again -- \
  cmp -s "$work/plain_after_gzip.b" "$work/hit_again.b"

# A browser at the feed's URL gets the feed's page; nginx keeps it apart from the feed by
# `Vary: Accept`, so neither is ever served in place of the other.
browser_accept='text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
fetch browser -H "Accept: $browser_accept"
check "a browser through the cache gets the feed's page" browser -- \
  is_header browser content-type "text/html; charset=utf-8"
check "the page lists the feed's entries" browser -- grep -q "Second story" "$work/browser.b"
fetch browser_hit -H "Accept: $browser_accept"
check "the page is cached beside the feed (HIT)" browser_hit -- \
  is_header browser_hit x-cache-status HIT
check "the cached page is the page" browser browser_hit -- cmp -s "$work/browser.b" "$work/browser_hit.b"
fetch reader_after_browser
check "a reader after a browser gets the feed from the cache" reader_after_browser hit_again -- \
  cmp -s "$work/reader_after_browser.b" "$work/hit_again.b"

finish
