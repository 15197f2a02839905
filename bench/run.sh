#!/usr/bin/env bash
# feedsvc benchmark harness: serving vs nginx, publishing at scale, memory, and hugo.
#
# usage: bash bench/run.sh            (Debian, as root; see bench/README.md)
#
# Environment (all optional):
#   FEEDSVC_BIN      use this feedsvc binary instead of `cargo build --release --locked`
#   BENCH_SERVE_N    articles in the archive served to wrk (default 1000)
#   BENCH_SIZES      archive sizes for the publishing benchmark (default "1000 10000 100000")
#   BENCH_HUGO_N     posts in the hugo comparison (default 10000)
#   BENCH_DURATION   seconds per wrk run (default 10)
#   BENCH_ROUNDS     wrk rounds per server and scenario, interleaved (default 3)
#   BENCH_THREADS    wrk threads (default 2)
#   BENCH_CONNECTIONS  space-separated wrk connection counts of the serving section (default "64 1000")
#   BENCH_IDLE       idle keep-alive connections held in the idle section (default 10000)
#   BENCH_WORKERS    nginx worker_processes = feedsvc runtime threads (default: nproc)
#   BENCH_ADDS       timed `feedsvc add` calls per size (default 20)
#   BENCH_HUGO_REBUILDS  timed hugo rebuilds (default 5)
#   BENCH_MONTH_FILL=0  skip the second series of adds into a month as full as the archive's average
#   BENCH_CACHE      where generated archives are kept between runs (default /tmp/feedsvc-bench)
#   BENCH_WORK       scratch directory (default: a new one under /tmp, removed at the end)
#   BENCH_KEEP=1     keep the scratch directory (databases, wrk outputs, nginx and hugo sites)
#   BENCH_OUT        report path (default bench/results/latest.md; a .json with raw numbers beside it)
#   BENCH_SKIP       space-separated sections to skip: serve idle publish memory hugo
#
# Prints a Markdown report on stdout (progress goes to stderr) and writes it to BENCH_OUT.
# Exits non-zero only when the harness itself fails, never because a target is missed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

# --- tools ------------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v hugo >/dev/null 2>&1 || missing+=(hugo)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]} and not root: install them first"
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi
export PATH="$PATH:/usr/sbin:/sbin"
# Debian's nginx package starts a system nginx on :80; it does not disturb the benchmark (loopback
# ports chosen free), so it is left alone.

# --- open files -------------------------------------------------------------------------------
# wrk -c1000, the idle connections and the servers holding them need file descriptors; the
# harness and everything it starts inherit this limit (raising the hard limit needs root).
if ! ulimit -n 65536 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)"
  log "cannot raise the open-file limit to 65536; using the hard limit $(ulimit -n)"
fi

# --- feedsvc binary ---------------------------------------------------------------------------
if [ -n "${FEEDSVC_BIN:-}" ]; then
  [ -x "$FEEDSVC_BIN" ] || die "FEEDSVC_BIN=$FEEDSVC_BIN is not an executable file"
  bin=$(cd "$(dirname "$FEEDSVC_BIN")" && pwd)/$(basename "$FEEDSVC_BIN")
else
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust, or set FEEDSVC_BIN)"
  log "building feedsvc (cargo build --release --locked)"
  (cd "$root" && cargo build --release --locked >&2) || die "cargo build failed"
  target_dir=${CARGO_TARGET_DIR:-$root/target}
  case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
  bin=$target_dir/release/feedsvc
  [ -x "$bin" ] || die "no binary at $bin after the build"
fi

# --- scratch directory and cleanup ------------------------------------------------------------
if [ -n "${BENCH_WORK:-}" ]; then
  work=$BENCH_WORK
  mkdir -p "$work"
  keep=1
else
  work=$(mktemp -d /tmp/feedsvc-bench-work.XXXXXX)
  keep=${BENCH_KEEP:-0}
fi
pidfile=$work/pids   # the harness writes every server it starts here ("PID NAME" lines)
: > "$pidfile"

cleanup() {
  local rc=$?
  # The Python harness stops its servers itself; this is the backstop for a crash or a signal.
  if [ -f "$pidfile" ]; then
    while read -r pid name; do
      [ -n "$pid" ] || continue
      if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done < "$pidfile"
    sleep 0.5
    while read -r pid name; do
      [ -n "$pid" ] || continue
      if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$name"; then
        log "killing leftover $name (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done < "$pidfile"
  fi
  if [ "$keep" = 1 ]; then
    log "scratch directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
harness=
on_signal() { # stop the harness (it stops its servers), then leave through cleanup
  trap - INT TERM
  if [ -n "$harness" ]; then
    kill -TERM "$harness" 2>/dev/null || true
    wait "$harness" 2>/dev/null || true
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

log "feedsvc binary: $bin"
log "scratch directory: $work"
# In the background so that a signal to this script is handled at once (bash runs traps only
# between commands, and `wait` is interruptible).
python3 "$here/harness.py" --bin "$bin" --root "$root" --work "$work" --pidfile "$pidfile" &
harness=$!
rc=0
wait "$harness" || rc=$?
harness=
exit "$rc"
