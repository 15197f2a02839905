#!/usr/bin/env bash
# The outside judges on a real `feedsvc serve`, loaded with the fixture corpus
# (tests/fixtures/articles, January to August 2026, and the XSS corpus tests/fixtures/xss) and
# with one article deleted, so the Atom feed and its month's archive carry an RFC 6721
# tombstone:
#   check-w3c   the W3C Feed Validation Service on every RSS and Atom document: the site's
#               feeds, a tag's (XSS), and each month's archive, found by following prev-archive
#               from the site feeds. Its note that the tombstones namespace is unknown (the
#               validator predates RFC 6721) is shown but does not fail.
#   check-http  REDbot (warnings fail too) on those feeds, the JSON feeds, the index, the tag's
#               page, an article page, a hostile article page (xss-nu-validity), the 404 page and
#               the assets the index and the feeds name (stylesheet, XSL).
#   check-feed  xmllint, jing, schematron, feedparser, newsboat, sfeed and its own lint on the
#               RSS and Atom documents, and the Nu HTML Checker on the pages answered with 200.
# check-w3c and check-feed judge XML only (a JSON Feed is "not well-formed" to them), so the JSON
# feeds go to check-http alone; the 404 page's HTML is judged by pages.sh, which saves it first
# (the Nu checker refuses to fetch a page that answers 404).
#
# usage: judges.sh FEEDSVC_BIN
# The judges live outside the repository: $FEEDSVC_JUDGES if set, else ../shared/tools beside
# the repository, else /work/shared/tools; they install their own Python packages. Each judge
# call has a time limit. Prints one PASS/FAIL line per judge, document and oracle (the judge's
# messages indented below it), a FAIL for a document a judge gave no verdict on, and a closing
# "N passed, M failed"; exits 1 on any failure. A step the rest depends on (no judges, the
# server, the corpus) ends the script at once with a FAIL line.
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" judges "${1:?usage: judges.sh FEEDSVC_BIN}"

# ---------------------------------------------------------------------------- judges
if [ -n "${FEEDSVC_JUDGES:-}" ]; then
  [ -d "$FEEDSVC_JUDGES" ] || fatal setup "FEEDSVC_JUDGES=$FEEDSVC_JUDGES is not a directory"
  judges=$FEEDSVC_JUDGES
elif [ -d "$repo/../shared/tools" ]; then
  judges=$(cd "$repo/../shared/tools" && pwd)
elif [ -d /work/shared/tools ]; then
  judges=/work/shared/tools
else
  fatal setup "no judges: FEEDSVC_JUDGES is unset and neither $repo/../shared/tools nor /work/shared/tools exists"
fi
for judge in check-w3c check-http check-feed; do
  [ -x "$judges/$judge" ] || fatal setup "$judges/$judge is missing or not executable"
done
echo "# judges from $judges" >&2

# ---------------------------------------------------------------------------- site
port=$(free_port)
base="http://127.0.0.1:$port/"
mkdir -p "$work/site"
cat >"$work/site/config.toml" <<CONF
[site]
title = "Judged Dispatch"
base_url = "$base"
description = "Feeds and pages judged by outside tools."
[server]
listen = "127.0.0.1:$port"
log = "warn"
[storage]
samples = ""
[admin]
listen = ""
CONF

corpus=()
for f in "$repo"/tests/fixtures/articles/*.md "$repo"/tests/fixtures/xss/*.md; do
  [ "$(basename "$f")" = README.md ] || corpus+=("$f")
done
printf '+++\ntitle = "Withdrawn report"\nslug = "withdrawn-report"\npublished = "2026-04-15T10:00:00Z"\n+++\nWithdrawn.\n' \
  >"$work/withdrawn.md"
out=$(feedsvc add "${corpus[@]}" "$work/withdrawn.md" 2>&1) ||
  fatal setup "feedsvc add of ${#corpus[@]} fixtures failed: $out"
out=$(feedsvc delete withdrawn-report 2>&1) || fatal setup "feedsvc delete failed: $out"

start_server "$work/site/config.toml"

# ---------------------------------------------------------------------------- what to judge
# get PATH: the body of base/PATH (fails unless it answers 2xx).
get() { curl -sS --fail --max-time 20 "$base$1"; }

# The chain of prev-archive links from FEED (a path), one path per line, oldest last.
archives() {
  local feed=$1 seen=" " next
  for _ in $(seq 60); do
    next=$(get "$feed" | python3 -c '
import sys, xml.etree.ElementTree as ET
for link in ET.parse(sys.stdin).iter("{http://www.w3.org/2005/Atom}link"):
    if link.get("rel") == "prev-archive":
        print(link.get("href")); break
') || return 1
    [ -n "$next" ] || return 0
    next=${next#"$base"}
    case $seen in *" $next "*) echo "# a prev-archive loop at $next" >&2; return 1 ;; esac
    seen="$seen$next "
    echo "$next"
    feed=$next
  done
}
atom_archives=$(archives atom.xml) || fatal setup "cannot follow prev-archive from /atom.xml"
rss_archives=$(archives rss.xml) || fatal setup "cannot follow prev-archive from /rss.xml"
months=$(echo "$atom_archives" | grep -c . || true)
if [ "$months" -ge 2 ] && [ "$(echo "$rss_archives" | grep -c .)" -eq "$months" ]; then
  pass archives "$months monthly archives in Atom and in RSS: $(echo "$atom_archives" | tr '\n' ' ')"
else
  fatal archives "expected the same two or more archives from both feeds;" \
    "Atom: $(echo "$atom_archives" | tr '\n' ' '), RSS: $(echo "$rss_archives" | tr '\n' ' ')"
fi

index=$(get "") || fatal setup "the index does not answer"
article=$(echo "$index" | grep -o "${base}articles/[a-z0-9-]*" | sed "s|^$base||" | grep -v '^articles/xss-' | sed -n 1p || true)
[ -n "$article" ] || fatal setup "the index links no ordinary article"
hostile=articles/xss-nu-validity
tag=tags/xss/
mapfile -t assets < <(
  {
    echo "$index" | grep -o "\(href\|src\)=\"[^\"]*/assets/[^\"]*\"" | sed 's/^[a-z]*="//; s/"$//'
    get atom.xml | grep -o '<?xml-stylesheet[^>]*href="[^"]*"' | sed 's/.*href="//; s/"$//'
  } | sed "s|^$base||; s|^/||" | sort -u
)
[ ${#assets[@]} -gt 0 ] || fatal setup "the index and the Atom feed name no asset"

xml_feeds=(atom.xml rss.xml "${tag}atom.xml" "${tag}rss.xml")
mapfile -t -O ${#xml_feeds[@]} xml_feeds < <(printf '%s\n' "$atom_archives" "$rss_archives")
json_feeds=(feed.json "${tag}feed.json")
pages=("" "$tag" "$article" "$hostile")
not_found=no/such/page
for path in "${xml_feeds[@]}" "${json_feeds[@]}" "${pages[@]}" "${assets[@]}"; do
  get "$path" >/dev/null || fatal setup "/$path does not answer 2xx"
done
status=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' "$base$not_found") || true
[ "$status" = 404 ] || fatal setup "/$not_found answered $status, expected 404"
echo "# ${#xml_feeds[@]} XML feeds, ${#json_feeds[@]} JSON feeds, ${#pages[@]} pages, the 404 page, ${#assets[@]} assets" >&2

# ---------------------------------------------------------------------------- judging
# judge LIMIT NAME COMMAND... -- URL...: runs the judge under `timeout LIMIT`; each of its
# PASS/FAIL lines becomes one of ours (its other lines are shown indented); a URL it gave no
# verdict on fails, and so does a judge that timed out or whose exit status contradicts its
# lines.
judge() {
  local limit=$1 name=$2
  shift 2
  local cmd=()
  while [ "$1" != -- ]; do cmd+=("$1"); shift; done
  shift
  local urls=("$@") rc=0 line verdict rest fails=0 url
  timeout --kill-after=10 "$limit" "${cmd[@]}" >"$work/judge.out" 2>&1 </dev/null || rc=$?
  : >"$work/verdicts"
  while IFS= read -r line; do
    case $line in
      PASS\ * | FAIL\ *)
        verdict=${line%% *}
        rest=$(echo "${line#* }" | tr -s ' ' | sed 's/^ //')
        echo "$rest" >>"$work/verdicts"
        if [ "$verdict" = PASS ]; then pass "$name $rest"; else fails=$((fails + 1)); fail "$name $rest"; fi
        ;;
      '') ;;
      *) echo "    $line" ;;
    esac
  done <"$work/judge.out"
  for url in "${urls[@]}"; do
    # Every judge writes: VERDICT ORACLE URL [details].
    awk -v url="$url" '$2 == url { found = 1 } END { exit !found }' "$work/verdicts" ||
      fail "$name $url: no verdict"
  done
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    fail "$name did not finish within ${limit}s"
  elif [ "$rc" != 0 ] && [ "$fails" -eq 0 ]; then
    fail "$name exited with status $rc without a FAIL line"
  elif [ "$rc" = 0 ] && [ "$fails" -gt 0 ]; then
    fail "$name exited with status 0 after $fails FAIL lines"
  fi
}

urls() { for p in "$@"; do echo "$base$p"; done; }
mapfile -t xml_urls < <(urls "${xml_feeds[@]}")
mapfile -t http_urls < <(urls "${xml_feeds[@]}" "${json_feeds[@]}" "${pages[@]}" "$not_found" "${assets[@]}")
mapfile -t page_urls < <(urls "${pages[@]}")

judge 900 check-w3c "$judges/check-w3c" \
  --ignore 'unknown namespace: http://purl\.org/atompub/tombstones/1\.0' "${xml_urls[@]}" \
  -- "${xml_urls[@]}"
judge 900 check-http "$judges/check-http" "${http_urls[@]}" -- "${http_urls[@]}"
judge 1200 check-feed "$judges/check-feed" "$base" "${xml_feeds[@]/#//}" --html "${pages[@]/#//}" \
  -- "${xml_urls[@]}" "${page_urls[@]}"

if ! kill -0 "$server_pid" 2>/dev/null; then
  fail server "feedsvc serve exited during the checks: $(tail -c 500 "$work/serve.err")"
elif grep -qiE 'panicked|\bERROR\b' "$work/serve.err"; then
  fail server "$(grep -iE 'panicked|\bERROR\b' "$work/serve.err" | head -n 3 | tr '\n' ' ')"
else
  pass server "still running, no errors or panics logged"
fi
finish
