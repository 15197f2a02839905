#!/usr/bin/env bash
# Backups and static exports of a large archive: how long `feedsvc backup` and `feedsvc export`
# take, and how many files an export after one publish writes.
#
#   bash bench/export.sh [ARTICLES] [RUNS]       (defaults: 10000 articles, 3 runs)
#
# Builds the release binary unless FEEDSVC_BIN names one, generates ARTICLES articles with
# bench/generate.py, imports them, then times, RUNS times each (median reported):
#   backup      `feedsvc backup` of the archive into a new file
#   export      a full export into an empty directory
#   again       an export into the same directory with nothing changed
#   after-add   an export after one `feedsvc add` (a new article in one tag)
# Writes the table to bench/results/export.md and prints it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
articles=${1:-10000}
runs=${2:-3}

if [ -n "${FEEDSVC_BIN:-}" ]; then
  bin=$FEEDSVC_BIN
else
  (cd "$repo" && cargo build --release --locked -q)
  bin="$repo/target/release/feedsvc"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/feedsvc-export-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
cat >"$work/config.toml" <<EOF
[site]
title = "Export bench"
base_url = "https://news.example.org/"
[server]
log = "warn"
[storage]
database = "data/feedsvc.db"
samples = ""
[websub]
hub = ""
[admin]
listen = ""
EOF
cfg=(--config "$work/config.toml")
python3 "$here/generate.py" "$articles" "$work/articles" >/dev/null
"$bin" "${cfg[@]}" import "$work/articles" >/dev/null

# seconds COMMAND…: wall-clock seconds of one run.
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/last.out"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

backup=() full=() again=() added=() written=()
for run in $(seq "$runs"); do
  rm -f "$work/backup.db" "$work/backup-stats.db"
  backup+=("$(seconds "$bin" "${cfg[@]}" backup "$work/backup.db")")
  rm -rf "$work/export"
  full+=("$(seconds "$bin" "${cfg[@]}" export "$work/export")")
  files=$(sed -n 's/^exported \([0-9]*\) files.*/\1/p' "$work/last.out")
  again+=("$(seconds "$bin" "${cfg[@]}" export "$work/export")")
  printf '+++\ntitle = "One more, run %s"\ntags = ["Fisheries"]\n+++\n\nA short body.\n' "$run" \
    >"$work/one-more-$run.md"
  "$bin" "${cfg[@]}" add "$work/one-more-$run.md" >/dev/null
  added+=("$(seconds "$bin" "${cfg[@]}" export "$work/export")")
  written+=("$(sed -n 's/.*: \([0-9]*\) written.*/\1/p' "$work/last.out")")
done
size=$(stat -c %s "$work/data/feedsvc.db")
export_bytes=$(du -sb "$work/export" | cut -f1)

out="$repo/bench/results/export.md"
{
  echo "# Backups and static exports ($(date -u +%F), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo
  echo "\`bash bench/export.sh $articles $runs\` on $(nproc) cores; median of $runs runs, wall clock."
  echo
  echo "| archive | database | export |"
  echo "| --- | --- | --- |"
  echo "| $articles articles | $((size / 1048576)) MiB | $files files, $((export_bytes / 1048576)) MiB |"
  echo
  echo "| operation | seconds | runs |"
  echo "| --- | --- | --- |"
  echo "| \`feedsvc backup\` | $(median "${backup[@]}") | ${backup[*]} |"
  echo "| full \`feedsvc export\` into an empty directory | $(median "${full[@]}") | ${full[*]} |"
  echo "| export again, nothing changed | $(median "${again[@]}") | ${again[*]} |"
  echo "| export after one \`add\` | $(median "${added[@]}") | ${added[*]} |"
  echo
  echo "Files written by the export after one \`add\`: $(median "${written[@]}") (runs: ${written[*]})."
} >"$out"
cat "$out"
