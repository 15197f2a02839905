#!/usr/bin/env bash
# A static export served by Debian's nginx with the shipped deploy/nginx-static.conf answers like
# `feedsvc serve` itself:
#   1. A site: the fixture articles, a tag with enough articles for three list pages, one
#      article renamed with `edit --slug` (a 301), one deleted (a 410), and a WordPress archive
#      imported (its old URLs, with and without a query, answer 301). `feedsvc serve` runs
#      on one free loopback port, `feedsvc export DIR` writes the export, and nginx (not a
#      daemon, its pid, logs and temp files in the temp dir) serves DIR on another with the
#      shipped config (root, listen and server_name put in by sed) and the export's maps.
#   2. export_nginx.py finds every URL from serve (sitemap index -> months' sitemaps -> URLs,
#      the site's and each tag's feeds in three formats, each month's archived feeds, the index
#      and tag pages with every page number, robots.txt, the assets, the 404 page) and asks both
#      servers with no Accept-Encoding, gzip and br: same status, Content-Type, Cache-Control,
#      Last-Modified, Vary: Accept-Encoding, security headers and bytes; nginx's gzip and br
#      bodies decode to serve's identity bytes; If-None-Match with nginx's ETag and
#      If-Modified-Since with its Last-Modified get 304; the old slug and old URLs get serve's
#      301 (Location, Cache-Control), the deleted article serve's 410 page; _feedsvc/, _redirects,
#      _headers, the .html/.gz/.br file names are not served; /tags/T and /articles/SLUG/
#      redirect like serve.
#   3. Incremental: one `feedsvc add`, export again: the summary line counts what changed on
#      disk, unchanged files keep their mtime, few files are written, the new page exists, and
#      nginx serves the new feeds and page as serve does. Then one article deleted and one
#      renamed, and the only article of a tag deleted, export again: their old files are
#      removed, and nginx, reloaded for the new maps, answers the new 410s (the article, the
#      tag's page and feeds) and 301 (and every other URL) as serve does.
#
# usage: export_nginx.sh FEEDSVC_BIN
# Installs nginx, libnginx-mod-http-brotli-static (when the archive has it) and brotli (to decode
# br bodies) when missing. Prints one PASS/FAIL line per check and a closing "N passed, M
# failed"; exits 1 on any failure. A step the rest depends on ends the script at once with a
# FAIL line. About 10 seconds once the packages are there. Every request stays on 127.0.0.1.
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" export "${1:?usage: export_nginx.sh FEEDSVC_BIN}"
py=python3
conf="$repo/deploy/nginx-static.conf"

nginx_pid=
cleanup_more() {
  if [ -n "$nginx_pid" ]; then
    # The master stops its workers on TERM; wait for it before the temp dir goes.
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------------------- packages
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so
want=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || want+=(nginx)
command -v brotli >/dev/null || want+=(brotli)
command -v curl >/dev/null || want+=(curl)
if [ ${#want[@]} -gt 0 ] || [ ! -f "$brotli_module" ]; then
  # Offline with everything but the module is fine: br is then not compared.
  if ! as_root apt-get update -qq >"$work/apt.log" 2>&1 && [ ${#want[@]} -gt 0 ]; then
    fatal setup "apt-get update failed: $(tail -c 500 "$work/apt.log")"
  fi
  # The module where the archive has it (Debian 12 and later).
  if [ ! -f "$brotli_module" ] && apt-cache show libnginx-mod-http-brotli-static >/dev/null 2>&1; then
    want+=(libnginx-mod-http-brotli-static)
  fi
fi
if [ ${#want[@]} -gt 0 ]; then
  echo "# installing Debian packages: ${want[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${want[@]}" >>"$work/apt.log" 2>&1 ||
    fatal setup "apt-get install ${want[*]} failed: $(tail -c 500 "$work/apt.log")"
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || fatal setup "nginx is not installed"
[ -f "$conf" ] || fatal setup "no $conf"

# ---------------------------------------------------------------------------- the site
port=$(free_port)
nport=$(free_port)
while [ "$nport" = "$port" ]; do nport=$(free_port); done
base="http://127.0.0.1:$port/"
mkdir -p "$work/site/data" "$work/articles"
cat >"$work/site/config.toml" <<CONF
[site]
title = "Static Dispatch"
base_url = "$base"
description = "An export served by nginx."
author = "Static Desk"
language = "en"
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = ""
[feeds]
items = 50
page_size = 3
# A static host serves no hub: the feeds name none.
[websub]
hub = ""
[stats]
enabled = false
[admin]
listen = ""
CONF

fixtures=()
for f in "$repo"/tests/fixtures/articles/*.md; do
  [ "$(basename "$f")" = README.md ] || fixtures+=("$f")
done
# wire SLUG PUBLISHED: writes an article tagged Wire, prints its file's path.
wire() {
  printf '+++\ntitle = "Wire story %s"\nslug = "%s"\npublished = "%s"\ntags = ["Wire"]\n+++\nCopy.\n' \
    "$1" "$1" "$2" >"$work/articles/$1.md"
  echo "$work/articles/$1.md"
}
# Seven wire stories over two months: the tag's list runs to a third page (page_size = 3).
for i in 1 2 3 4 5 6 7; do
  fixtures+=("$(wire "wire-$i" "2026-0$((8 + i / 4))-1${i}T08:00:00Z")")
done
out=$(feedsvc add "${fixtures[@]}" 2>&1) || fatal setup "feedsvc add of ${#fixtures[@]} articles failed: $out"
out=$(feedsvc add --title "Plain text with flags" --tag Flags --slug plain-text-flags \
  "$repo/tests/fixtures/articles/no-front-matter.txt" 2>&1) ||
  fatal setup "feedsvc add (plain text) failed: $out"
out=$(feedsvc edit emoji --slug emoji-rally 2>&1) || fatal setup "feedsvc edit --slug failed: $out"
out=$(feedsvc delete cdata-end 2>&1) || fatal setup "feedsvc delete failed: $out"
# A WordPress archive: its old URLs (a path with Greek letters, /?p=N, /?feed=…, /feed/) answer 301.
out=$(feedsvc import "$repo/tests/fixtures/import/wordpress-1.2.xml" 2>&1) ||
  fatal setup "feedsvc import failed: $(tail -c 500 <<<"$out")"

start_server "$work/site/config.toml"

export_dir="$work/export"
# export_site: `feedsvc export`, whose last line is the summary (in `summary`).
export_site() {
  local out
  out=$(feedsvc export "$export_dir" 2>&1) || fatal export "feedsvc export failed: $(tail -c 500 <<<"$out")"
  summary=$(tail -n 1 <<<"$out")
}
export_site
summary_form='^exported [0-9]+ files to .+: [0-9]+ written, [0-9]+ unchanged, [0-9]+ removed$'
if [[ $summary =~ $summary_form ]]; then
  pass export "$summary"
else
  fail export "unexpected summary line '$summary'"
fi
[ -f "$export_dir/_feedsvc/nginx-maps.conf" ] || fatal export "no _feedsvc/nginx-maps.conf in the export"

# ---------------------------------------------------------------------------- nginx
mkdir -p "$work/nginx/logs" "$work/nginx/temp"
sed -e "s#/srv/feedsvc/site#$export_dir#g" \
  -e "s#^\( *\)listen 80;#\1listen 127.0.0.1:$nport;#" \
  -e '/listen \[::\]:80;/d' \
  -e "s#server_name news.example.org;#server_name 127.0.0.1;#" \
  "$conf" >"$work/nginx/server.conf"
load_brotli=
without_br=()
if [ -f "$brotli_module" ]; then
  load_brotli="load_module $brotli_module;"
else
  # The shipped config says to drop the line without the module; nginx then sends no br.
  echo "# no brotli_static module here: br is not compared" >&2
  sed -i '/brotli_static on;/d' "$work/nginx/server.conf"
  without_br=(--without-br)
fi
if ! grep -q "listen 127.0.0.1:$nport;" "$work/nginx/server.conf" ||
  ! grep -q "root $export_dir;" "$work/nginx/server.conf"; then
  fatal setup "the shipped config no longer has 'listen 80;' and 'root /srv/feedsvc/site;' to replace"
fi
user=
[ "$(id -u)" -ne 0 ] || user="user root;" # the workers read the temp dir, which is root's alone
cat >"$work/nginx/nginx.conf" <<CONF
$load_brotli
$user
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log $work/nginx/logs/access.log;
  client_body_temp_path $work/nginx/temp/body;
  proxy_temp_path $work/nginx/temp/proxy;
  fastcgi_temp_path $work/nginx/temp/fastcgi;
  uwsgi_temp_path $work/nginx/temp/uwsgi;
  scgi_temp_path $work/nginx/temp/scgi;
  include $export_dir/_feedsvc/nginx-maps.conf;
  include $work/nginx/server.conf;
}
CONF
nginx_args=(-p "$work/nginx" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf")
if ! "$nginx" -t -q "${nginx_args[@]}" >"$work/nginx/test.out" 2>&1; then
  fatal nginx-config "nginx -t refuses the config: $(tail -c 800 "$work/nginx/test.out")"
fi
pass nginx-config "nginx -t accepts the shipped server {} with the export's maps"
"$nginx" "${nginx_args[@]}" -g 'daemon off;' >"$work/nginx/out" 2>&1 &
nginx_pid=$!
nbase="http://127.0.0.1:$nport/"
status_of() { curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$1"; }
up=
for _ in $(seq 100); do
  if [ "$(status_of "${nbase}robots.txt")" = 200 ]; then up=1; break; fi
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] ||
  fatal nginx "nginx did not answer /robots.txt within 10 s: $(tail -c 500 "$work/nginx/logs/error.log")"


run_py export_nginx.py compare "$base" "$nbase" "${without_br[@]}" --gone /articles/cdata-end --export "$export_dir" \
  --moved /articles/emoji --moved '/2025/09/13/αθήνα-καύσωνας/' --moved '/?p=101' \
  --moved '/?feed=atom' --moved /feed/ --moved /tag/coast-road/feed/atom/

# ---------------------------------------------------------------------------- incremental
"$py" "$here/export_nginx.py" snapshot "$export_dir" "$work/before.json" || fatal incremental "snapshot failed"
out=$(feedsvc add "$(wire wire-late 2026-11-20T09:00:00Z)" 2>&1) || fatal incremental "feedsvc add failed: $out"
export_site
run_py export_nginx.py incremental "$export_dir" "$work/before.json" "$summary" --new articles/wire-late.html \
  --label after-add
# serve notices the publish at its next look at the database; wait for the new feed.
for _ in $(seq 100); do
  if curl -s --max-time 2 "${base}atom.xml" | grep -q "Wire story wire-late"; then break; fi
  sleep 0.1
done
run_py export_nginx.py paths "$base" "$nbase" "${without_br[@]}" after-add /atom.xml /rss.xml /feed.json /tags/wire/atom.xml \
  /tags/wire/rss.xml /tags/wire/feed.json /articles/wire-late / /tags/wire/ /sitemap.xml \
  /archive/2026-11/atom.xml /archive/2026-11/sitemap.xml

# One article deleted and one renamed: their files go, the maps change, and nginx, reloaded
# (SIGHUP), answers the new 410 and 301 as serve does, and everything else as before.
"$py" "$here/export_nginx.py" snapshot "$export_dir" "$work/before.json" || fatal incremental "snapshot failed"
sleep 1 # a second after the add: a Last-Modified the change moves is seen to move
out=$(feedsvc delete wire-1 2>&1) || fatal incremental "feedsvc delete failed: $out"
out=$(feedsvc edit wire-2 --slug wire-second 2>&1) || fatal incremental "feedsvc edit --slug failed: $out"
# The only article tagged Flags: the tag's page and feeds answer 410 too.
out=$(feedsvc delete plain-text-flags 2>&1) || fatal incremental "feedsvc delete failed: $out"
export_site
run_py export_nginx.py incremental "$export_dir" "$work/before.json" "$summary" --new articles/wire-second.html \
  --absent articles/wire-1.html --absent articles/wire-2.html --label after-delete
kill -HUP "$nginx_pid"
# The reload and serve's look at the database both take a moment.
for _ in $(seq 100); do
  if [ "$(status_of "${nbase}articles/wire-1")" = 410 ] && [ "$(status_of "${base}articles/wire-1")" = 410 ]
  then break; fi
  sleep 0.1
done
run_py export_nginx.py compare "$base" "$nbase" "${without_br[@]}" --export "$export_dir" --label after-delete \
  --gone /articles/wire-1 --gone /articles/cdata-end --gone /tags/flags/ --gone /tags/flags/atom.xml \
  --gone /tags/flags/rss.xml --gone /tags/flags/feed.json \
  --moved /articles/wire-2 --moved /articles/emoji

if grep -qE '\[(emerg|alert|crit|error)\]' "$work/nginx/logs/error.log"; then
  fail nginx-log "$(grep -E '\[(emerg|alert|crit|error)\]' "$work/nginx/logs/error.log" | head -n 3 |
    tr '\n' ' ')"
else
  pass nginx-log "no errors logged"
fi
finish
