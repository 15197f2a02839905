#!/usr/bin/env bash
# The admin dashboard's screenshot for the README: a site with the sample articles, six weeks of
# generated polling (bench/stats_traffic.py) in its stats tables, `feedsvc serve` with the admin
# listener on loopback, and headless Chromium saving the dashboard as a PNG.
#
# usage: bash bench/dashboard_screenshot.sh [OUT.png]     (default docs/dashboard.png)
#
# Environment (all optional):
#   FEEDSVC_BIN     use this binary instead of `cargo build --release --locked`
#   DASHBOARD_SIZE  Chromium's window, WIDTH,HEIGHT (default 1280,4800); the screenshot is then
#                   cut below the page's last line (plus a margin), so it shows the whole page
#   STATS_DAYS      days of generated traffic (default 42); STATS_SEED its seed (default 15: the
#                   same picture each time)
#   KEEP_TMP=1      keep the site (config, database, server logs)
# Needs chromium (apt-get install chromium fonts-dejavu-core) and curl. Every address is on
# 127.0.0.1. About 10 seconds once built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/docs/dashboard.png}
case $out in /*) ;; *) out=$PWD/$out ;; esac
die() { printf 'dashboard: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'dashboard: %s\n' "$*" >&2; }
command -v chromium >/dev/null || die "chromium is not installed (apt-get install chromium fonts-dejavu-core)"
command -v curl >/dev/null || die "curl is not installed"

if [ -n "${FEEDSVC_BIN:-}" ]; then
  bin=$FEEDSVC_BIN
else
  (cd "$root" && cargo build --release --locked -q) || die "cargo build --release --locked failed"
  target=${CARGO_TARGET_DIR:-$root/target}
  case $target in /*) ;; *) target=$root/$target ;; esac
  bin=$target/release/feedsvc
fi
[ -x "$bin" ] || die "no executable at $bin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/feedsvc-dashboard.XXXXXX")
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
cleanup() {
  stop_server
  if [ "${KEEP_TMP:-}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin_port=$(free_port)
cat >"$tmp/config.toml" <<CONF
[site]
title = "The Meridian Dispatch"
base_url = "https://meridian.example/"
description = "Independent world news."
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = "$root/data/samples"
[admin]
listen = "127.0.0.1:$admin_port"
CONF

start_server() {
  "$bin" --config "$tmp/config.toml" serve >"$tmp/serve.out" 2>>"$tmp/serve.err" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^feedsvc admin listening' "$tmp/serve.out" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  die "feedsvc serve did not print its admin listening line: $(head -c 500 "$tmp/serve.err")"
}

# The first start creates the database (schema and sample articles); the rows go in while the
# server is stopped (it adds its own counts of today at each flush).
start_server
stop_server
python3 "$here/stats_traffic.py" "$tmp/data/feedsvc-stats.db" --seed "${STATS_SEED:-15}" \
  --days "${STATS_DAYS:-42}" >&2 ||
  die "bench/stats_traffic.py failed"
start_server
url="http://127.0.0.1:$admin_port/"
code=$(curl -sS --max-time 10 -o "$tmp/dashboard.html" -w '%{http_code}' "$url") || code=curl-failed
[ "$code" = 200 ] || die "GET $url answered $code"

mkdir -p "$(dirname "$out")"
rc=0
timeout --kill-after=5 90 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --no-first-run --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/chrome" --window-size="${DASHBOARD_SIZE:-1280,4800}" \
  --screenshot="$tmp/full.png" "$url" >"$tmp/chrome.log" 2>&1 </dev/null || rc=$?
{ [ "$rc" = 0 ] && [ -s "$tmp/full.png" ]; } || die "chromium exit status $rc: $(tail -c 500 "$tmp/chrome.log")"
stop_server
# Cut the rows below the page's last line: they are all the colour of the bottom row.
python3 - "$tmp/full.png" "$out" "$root/tests/interop" <<'PY' || die "cutting the screenshot failed"
import struct, sys, zlib
sys.path.insert(0, sys.argv[3])
import png_check  # tests/interop/png_check.py: its PNG decoder
width, height, bpp, rows = png_check.rows(sys.argv[1])
background = rows[-1]
last = max((y for y, row in enumerate(rows) if row != background), default=height - 1)
keep = min(height, last + 1 + 32)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
header = struct.pack(">IIBBBBB", width, keep, 8, 2 if bpp == 3 else 6, 0, 0, 0)
pixels = zlib.compress(b"".join(b"\0" + row for row in rows[:keep]), 9)
with open(sys.argv[2], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
if last + 1 >= height:
    print(f"dashboard: the page is taller than the window ({height} px): raise DASHBOARD_SIZE",
          file=sys.stderr)
print(f"dashboard: {width}x{keep} px", file=sys.stderr)
PY
log "saved $out ($(wc -c <"$out") bytes) of $url"
echo "$out"
