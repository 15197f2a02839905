#!/usr/bin/env bash
# feedsvc behind Debian's nginx as a caching reverse proxy (proxy_cache + revalidation):
# nginx serves cached copies, revalidates expired ones with a conditional request that feedsvc
# answers 304, and picks up a publish at the next revalidation.
#
# usage: nginx_cache.sh FEEDSVC_BIN     (nginx must be installed; run.sh installs it)
# Prints PASS/FAIL lines and a closing "N passed, M failed"; exits 1 on any failure.
set -uo pipefail

bin=${1:?usage: nginx_cache.sh FEEDSVC_BIN}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS nginx $*"; passed=$((passed + 1)); }
fail() { echo "FAIL nginx $*"; failed=$((failed + 1)); }
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream=$(free_port)
public=$(free_port)

mkdir -p "$work/site/data" "$work/cache" "$work/logs"
cat > "$work/site/config.toml" <<CONF
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
CONF
feedsvc() { "$bin" --config "$work/site/config.toml" "$@"; }

article() { # article SLUG TITLE DATE
  printf '+++\ntitle = "%s"\nslug = "%s"\npublished = "%s"\ntags = ["Proxy"]\n+++\nBody of %s.\n' "$2" "$1" "$3" "$2" > "$work/$1.md"
  echo "$work/$1.md"
}

feedsvc add "$(article first-story "First story" 2026-05-01T10:00:00Z)" >/dev/null || { echo "FAIL nginx setup: feedsvc add"; echo "0 passed, 1 failed"; exit 1; }
"$bin" --config "$work/site/config.toml" serve > "$work/serve.out" 2> "$work/serve.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done

cat > "$work/nginx.conf" <<CONF
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
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon on;' || { echo "FAIL nginx setup: nginx did not start"; echo "0 passed, 1 failed"; exit 1; }
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$public/healthz" && break; sleep 0.1; done

url="http://127.0.0.1:$public/atom.xml"
fetch() { # fetch NAME [curl args]: saves headers and body under NAME
  local name=$1; shift
  curl -s -D "$work/$name.h" -o "$work/$name.b" "$@" "$url"
}
header() { grep -i "^$2:" "$work/$1.h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
status() { head -1 "$work/$1.h" | cut -d' ' -f2; }
upstream_count() { grep -c "path=/atom.xml.* status=$1" "$work/serve.err" || true; }

fetch miss
check "first request goes upstream (MISS)" test "$(header miss x-cache-status)" = MISS
check "first request is 200 with the feed" grep -q "First story" "$work/miss.b"
fetch hit
check "second request is served from the cache (HIT)" test "$(header hit x-cache-status)" = HIT
check "cached copy has feedsvc's ETag" test "$(header hit etag)" = "$(header miss etag)"
before=$(upstream_count 200)
check "a cache hit does not reach feedsvc" test "$before" = 1

sleep 3
fetch revalidated
check "expired copy is revalidated (REVALIDATED)" test "$(header revalidated x-cache-status)" = REVALIDATED
check "feedsvc answered the revalidation with 304" test "$(upstream_count 304)" -ge 1
check "revalidated copy is the same bytes" cmp -s "$work/miss.b" "$work/revalidated.b"

feedsvc add "$(article second-story "Second story" 2026-05-02T10:00:00Z)" >/dev/null
sleep 3
fetch after_publish
check "after a publish nginx fetches the new feed (EXPIRED)" test "$(header after_publish x-cache-status)" = EXPIRED
check "the new entry is there" grep -q "Second story" "$work/after_publish.b"
check "the ETag changed" test "$(header after_publish etag)" != "$(header miss etag)"
fetch hit_again
check "the new copy is cached (HIT)" test "$(header hit_again x-cache-status)" = HIT

fetch gzip -H 'Accept-Encoding: gzip'
check "gzip variant through the cache" test "$(header gzip content-encoding)" = gzip
check "gzip variant decodes to the identity bytes" bash -c "gzip -dc '$work/gzip.b' | cmp -s - '$work/hit_again.b'"
check "Vary: Accept-Encoding passes through" bash -c "grep -qi '^vary:.*accept-encoding' '$work/gzip.h'"
fetch plain_after_gzip
check "a client without gzip still gets identity from the cache" bash -c "! grep -qi '^content-encoding' '$work/plain_after_gzip.h'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
