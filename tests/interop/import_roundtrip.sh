#!/usr/bin/env bash
# The round trip of `feedsvc import URL`: a newsroom moves from one feedsvc (site A) to another
# (site B) on the same domain, and its readers must not notice.
#   1. Site A: 297 articles from bench/generate.py, April to October 2026 (eight monthly
#      archives, since the first ones fall on 31 March in UTC), and 3 wire stories from an Atom
#      file with urn:uuid ids and an `updated` later than `published`, loaded with
#      `feedsvc import DIR FILE` and served on a free loopback port. The wire stories' ids are
#      what proves that B keeps ids: both sites have one base URL, so the `tag:` ids B would
#      mint for A's own articles are the ones A minted.
#   2. newsboat subscribes to A's /atom.xml and /rss.xml (one cache per feed: newsboat keys items
#      by guid across its feeds), stores every entry, and all are marked read.
#   3. Site B (its own database, the same base_url) imports A's /atom.xml by URL, following
#      prev-archive through the archives: the report must say 300 imported and list no skipped
#      entry. A second import must change nothing: `imported 0 articles` and `unchanged 300`.
#   4. A's feeds and archives are saved, A stops, B serves on the same port; import_compare.py
#      compares every entry of every document, A's against B's (ids, titles, links, instants,
#      offsets, tags, summary, body text: see its header), one line per format and property.
#   5. newsboat reloads the same URLs, now answered by B, into the same caches: no new item and
#      no unread one.
#   6. The outside judges on B: check-feed on /atom.xml, /rss.xml and one archive document and
#      the Nu checker on the index and an article page; check-w3c on the three documents.
# A log of either server with an error or a panic fails too.
#
# usage: import_roundtrip.sh FEEDSVC_BIN PYTHON     (PYTHON: the venv run.sh made, with feedparser)
# The judges live where judges.sh finds them ($FEEDSVC_JUDGES, ../shared/tools beside the
# repository, /work/shared/tools); run after judges.sh, which installs what they need. Prints
# one PASS/FAIL line per check and a closing "N passed, M failed"; exits 1 on any failure. A
# step the rest depends on ends the script at once with a FAIL line. Every request stays on
# 127.0.0.1. About 25 seconds on two cores.
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" import "${1:?usage: import_roundtrip.sh FEEDSVC_BIN PYTHON}"
py=${2:?usage: import_roundtrip.sh FEEDSVC_BIN PYTHON}
"$py" -c 'import feedparser' 2>/dev/null || fatal setup "$py cannot import feedparser"
command -v newsboat >/dev/null || fatal setup "newsboat is not installed"

if [ -n "${FEEDSVC_JUDGES:-}" ]; then
  judges=$FEEDSVC_JUDGES
elif [ -d "$repo/../shared/tools" ]; then
  judges=$(cd "$repo/../shared/tools" && pwd)
else
  judges=/work/shared/tools
fi
for judge in check-w3c check-feed; do
  [ -x "$judges/$judge" ] || fatal setup "$judges/$judge is missing or not executable"
done

articles=300
wire=3
port=$(free_port)
base="http://127.0.0.1:$port/"

# ---------------------------------------------------------------------------- helpers
# site NAME: $work/NAME/config.toml, the repository's config.toml with its own database, no
# samples, quiet logs and base_url $base (both sites have the same one).
site() {
  mkdir -p "$work/$1/data"
  awk -v base="$base" -v db="$work/$1/data/feedsvc.db" '
    /^\[/ { section = $0 }
    section == "[site]" && /^base_url *=/ { print "base_url = \"" base "\""; n++; next }
    section == "[storage]" && /^database *=/ { print "database = \"" db "\""; n++; next }
    section == "[storage]" && /^samples *=/ { print "samples = \"\""; n++; next }
    section == "[server]" && /^log *=/ { print "log = \"warn\""; next }
    section == "[admin]" && /^listen *=/ { print "listen = \"\""; next }
    { print }
    END { exit n != 3 }
  ' "$repo/config.toml" >"$work/$1/config.toml" ||
    fatal setup "config.toml has no site.base_url, storage.database or storage.samples to set"
}

# serve NAME: `feedsvc serve` for site NAME on $port; ends the script unless it says it listens
# on $base within 10 s.
serve() {
  "$bin" --config "$work/$1/config.toml" serve --listen "127.0.0.1:$port" \
    >"$work/$1.out" 2>"$work/$1.err" &
  server_pid=$!
  for _ in $(seq 100); do
    if grep -q listening "$work/$1.out" 2>/dev/null || ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  grep -qx "feedsvc listening on $base" "$work/$1.out" ||
    fatal "serve-$1" "feedsvc serve did not listen on $base within 10 s: $(head -c 500 "$work/$1.err")"
}

# stop NAME: checks the running server's log, then stops it.
stop() {
  if ! kill -0 "$server_pid" 2>/dev/null; then
    fail "server-$1" "feedsvc serve exited early: $(tail -c 500 "$work/$1.err")"
  elif grep -qiE 'panicked|\bERROR\b' "$work/$1.err"; then
    fail "server-$1" "$(grep -iE 'panicked|\bERROR\b' "$work/$1.err" | head -n 3 | tr '\n' ' ')"
  else
    pass "server-$1" "ran to the end, no errors or panics logged"
  fi
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# reader FEED: newsboat reloads $base/FEED into its own cache ($work/newsboat-FEED) and prints
# "ITEMS UNREAD" for that feed. `reader FEED read` marks every item read instead.
reader() {
  local home="$work/newsboat-${1%.xml}"
  mkdir -p "$home"
  if [ "${2:-}" = read ]; then
    "$py" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE rss_item SET unread = 0"); db.commit()' \
      "$home/cache.db"
    return
  fi
  echo "$base$1" >"$home/urls"
  : >"$home/config"
  HOME=$home timeout 60 newsboat -x reload -u "$home/urls" -c "$home/cache.db" -C "$home/config" \
    </dev/null >"$home/out" 2>&1 || { echo "newsboat failed: $(head -c 300 "$home/out")"; return 1; }
  "$py" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
items, unread = db.execute("SELECT count(*), coalesce(sum(unread), 0) FROM rss_item WHERE feedurl = ?",
                           (sys.argv[2],)).fetchone()
print(items, unread)' "$home/cache.db" "$base$1"
}

# judge LIMIT NAME COMMAND... -- URL...: as in judges.sh: each of the judge's PASS/FAIL lines
# becomes one of ours (its other lines indented), a URL it gave no verdict on fails, and so does
# a judge that timed out or whose exit status contradicts its lines.
judge() {
  local limit=$1 name=$2
  shift 2
  local cmd=()
  while [ "$1" != -- ]; do cmd+=("$1"); shift; done
  shift
  local rc=0 line verdict rest fails=0 url
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
  for url in "$@"; do
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

# ---------------------------------------------------------------------------- 1. site A
# generate.py spreads its articles from --start to 1 November 2026.
"$py" "$repo/bench/generate.py" $((articles - wire)) "$work/generated" --start 2026-04-01 ||
  fatal setup "bench/generate.py failed"
cat >"$work/wire.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Wire copy</title>
  <id>urn:uuid:0b7d3f52-6a1e-4c8e-9d2b-5f4a1c9e7000</id>
  <updated>2026-09-21T09:00:00-05:00</updated>
  <author><name>Wire Desk</name></author>
  <entry>
    <id>urn:uuid:0b7d3f52-6a1e-4c8e-9d2b-5f4a1c9e7001</id>
    <title>Fisheries talks &amp; quotas resume in Dakar</title>
    <link rel="alternate" href="https://wire.example.org/2026/05/fisheries-talks"/>
    <published>2026-05-12T08:30:00+05:30</published>
    <updated>2026-05-14T19:05:00+05:30</updated>
    <category term="Fisheries"/>
    <category term="Économie"/>
    <content type="html">&lt;p&gt;&lt;strong&gt;DAKAR&lt;/strong&gt; — Delegates agreed on a &lt;a href="/2026/04/quota"&gt;quota&lt;/a&gt; framework &amp;amp; a hotline.&lt;/p&gt;&lt;p&gt;Talks resume in June.&lt;/p&gt;</content>
  </entry>
  <entry>
    <id>urn:uuid:0b7d3f52-6a1e-4c8e-9d2b-5f4a1c9e7002</id>
    <title>Monsoon forecast revised</title>
    <link rel="alternate" href="https://wire.example.org/2026/07/monsoon-forecast"/>
    <published>2026-07-03T23:45:00-03:00</published>
    <updated>2026-07-04T02:10:00Z</updated>
    <category term="Climate"/>
    <content type="html">&lt;p&gt;Forecasters now expect &lt;em&gt;late&lt;/em&gt; rainfall.&lt;/p&gt;</content>
  </entry>
  <entry>
    <id>urn:uuid:0b7d3f52-6a1e-4c8e-9d2b-5f4a1c9e7003</id>
    <title>Côte d'Ivoire cocoa growers meet insurers</title>
    <link rel="alternate" href="https://wire.example.org/2026/09/cocoa-growers"/>
    <published>2026-09-20T17:45:00-05:00</published>
    <updated>2026-09-21T09:00:00-05:00</updated>
    <category term="Côte d'Ivoire"/>
    <category term="Agriculture"/>
    <content type="html">&lt;p&gt;Growers &amp;amp; insurers met in Abidjan.&lt;/p&gt;&lt;blockquote&gt;&lt;p&gt;“The season is late.”&lt;/p&gt;&lt;/blockquote&gt;</content>
  </entry>
</feed>
XML
site A
site B
out=$("$bin" --config "$work/A/config.toml" import "$work/generated" "$work/wire.xml" 2>&1) ||
  fatal import-A "feedsvc import of the generated directory and the wire file failed: $out"
case $out in
  "imported $articles articles,"*) pass import-A "$out" ;;
  *) fatal import-A "expected 'imported $articles articles': $out" ;;
esac
serve A

# ---------------------------------------------------------------------------- 2. newsboat on A
# Each feed is expected whole in newsboat's cache (the subscription feed's latest entries).
for feed in atom.xml rss.xml; do
  expected=$(curl -sS --fail --max-time 20 "$base$feed" | grep -cE '<(entry|item)>' || true)
  if ! got=$(reader "$feed"); then
    fail "newsboat-A $feed" "$got"
  elif [ "$got" = "$expected $expected" ] && [ "$expected" -gt 0 ]; then
    reader "$feed" read
    pass "newsboat-A $feed" "$expected items stored, all unread, then marked read"
  else
    fail "newsboat-A $feed" "items and unread '$got', expected $expected of each"
  fi
done

# ---------------------------------------------------------------------------- 3. site B imports A
# The report ends with a line "imported N articles, updated N, unchanged N, skipped N (SOURCE)";
# the lines before it name each item skipped or refused.
t0=$SECONDS
out=$("$bin" --config "$work/B/config.toml" import "${base}atom.xml" 2>&1) || out="(status $?) $out"
summary=$(echo "$out" | grep '^imported ' | tail -n 1 || true)
case $summary in
  "imported $articles articles,"*) pass import-url "$summary ($((SECONDS - t0))s)" ;;
  *) fail import-url "expected 'imported $articles articles' from ${base}atom.xml: $(echo "$out" | tail -n 5)" ;;
esac
# Every one of A's entries is new to B, and an entry that /atom.xml shares with its newest
# archive is one entry, taken once: nothing is to be reported as skipped.
skips=$(echo "$out" | grep -c '^skipped ' || true)
if [ "$skips" -eq 0 ] && [[ $summary == *", skipped 0 "* ]]; then
  pass import-skips "no entry reported as skipped"
else
  fail import-skips "the report lists $skips entries as skipped ('$summary'), expected none;" \
    "first: $(echo "$out" | grep -m 1 '^skipped ' || true)"
fi
out=$("$bin" --config "$work/B/config.toml" import "${base}atom.xml" 2>&1) || out="(status $?) $out"
summary=$(echo "$out" | grep '^imported ' | tail -n 1 || true)
case $summary in
  "imported 0 articles,"*"unchanged $articles,"*) pass import-again "$summary" ;;
  *) fail import-again "expected 'imported 0 articles' and 'unchanged $articles': $(echo "$out" | tail -n 5)" ;;
esac

# ---------------------------------------------------------------------------- 4. A and B compared
"$py" "$here/import_compare.py" save "$base" "$work/saved-A" || fatal save-A "cannot save A's feeds and archives"
stop A
serve B
"$py" "$here/import_compare.py" save "$base" "$work/saved-B" || fatal save-B "cannot save B's feeds and archives"
rc=0
"$py" "$here/import_compare.py" compare "$work/saved-A" "$work/saved-B" >"$work/compare.out" 2>&1 || rc=$?
fails=0
while IFS= read -r line; do
  case $line in
    PASS\ *) pass "compare ${line#PASS }" ;;
    FAIL\ *) fails=$((fails + 1)); fail "compare ${line#FAIL }" ;;
    *) echo "    $line" ;;
  esac
done <"$work/compare.out"
if [ "$rc" != 0 ] && [ "$fails" -eq 0 ]; then
  fail compare "import_compare.py exited with status $rc without a FAIL line"
fi

# ---------------------------------------------------------------------------- 5. newsboat on B
for feed in atom.xml rss.xml; do
  expected=$(grep -cE '<(entry|item)>' "$work/saved-A/$feed" || true)
  if ! got=$(reader "$feed"); then
    fail "newsboat-B $feed" "$got"
  elif [ "$got" = "$expected 0" ]; then
    pass "newsboat-B $feed" "the same $expected items, none unread, after B took over"
  else
    fail "newsboat-B $feed" "items and unread '$got', expected $expected and 0"
  fi
done

# ---------------------------------------------------------------------------- 6. judges on B
archive=$(grep -m 1 '^archive/.*/atom\.xml$' "$work/saved-A/paths" || true)
[ -n "$archive" ] || fatal judges "A's /atom.xml names no archive document"
article=articles/story-000150
feeds=(atom.xml rss.xml "$archive")
feed_urls=()
for feed in "${feeds[@]}"; do feed_urls+=("$base$feed"); done
judge 120 check-w3c "$judges/check-w3c" "${feed_urls[@]}" -- "${feed_urls[@]}"
judge 150 check-feed "$judges/check-feed" "$base" "${feeds[@]/#//}" --html / "/$article" \
  -- "${feed_urls[@]}" "$base" "$base$article"

stop B
finish
