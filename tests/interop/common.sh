# Sourced by the interop sub-scripts: their PASS/FAIL lines and closing count, a free port, a
# feedsvc server that goes when the script does, and the helpers several of them share.
#   . common.sh NAME FEEDSVC_BIN    (NAME starts each PASS/FAIL line after the verdict)
# Sets `work` (a temporary directory removed on exit); a script with more to clean up defines
# `cleanup_more`, which runs first. Functions called from traps look unreachable to shellcheck.
# shellcheck shell=bash disable=SC2317

report_name=${1:?usage: . common.sh NAME FEEDSVC_BIN}
bin=${2:?usage: . common.sh NAME FEEDSVC_BIN}
work=$(mktemp -d)
server_pid=
cleanup() {
  if declare -F cleanup_more >/dev/null; then cleanup_more; fi
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

passed=0
failed=0
pass() { echo "PASS $report_name $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $report_name $*"; failed=$((failed + 1)); }
finish() {
  echo "$passed passed, $failed failed"
  if [ "$failed" -eq 0 ]; then exit 0; fi
  exit 1
}
fatal() { fail "$@"; finish; }

# free_port: a TCP port on the loopback nobody listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server CONFIG: `feedsvc serve` with CONFIG, stdout to $work/serve.out, stderr to
# $work/serve.err; ends the script with a FAIL line unless it prints its listening line within
# 30 s (it loads its samples first; a loaded machine once took longer than 10 s).
start_server() {
  "$bin" --config "$1" serve >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  for _ in $(seq 300); do
    if grep -q listening "$work/serve.out" 2>/dev/null || ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  grep -q listening "$work/serve.out" ||
    fatal setup "feedsvc serve did not listen within 30 s: $(head -c 500 "$work/serve.err")"
}

# feedsvc ARGS…: the binary with the site's configuration, $work/site/config.toml.
feedsvc() { "$bin" --config "$work/site/config.toml" "$@"; }

# publish SLUG TITLE DATE: `feedsvc add` of the file the script's `article SLUG TITLE DATE`
# writes, which must succeed and print the article's URL on port $public.
publish() {
  local out want="http://127.0.0.1:$public/articles/$1"
  if ! out=$(feedsvc add "$(article "$1" "$2" "$3")" 2>&1); then
    fail "publish $1" "feedsvc add failed: $out"
    return 1
  fi
  if [ "$out" != "$want" ]; then
    fail "publish $1" "feedsvc add printed '$out', expected '$want'"
    return 1
  fi
  pass "publish $1" "$out"
}

# run_py CHECKER COMMAND ARGS...: runs the Python checker CHECKER (a file beside this one)
# with $py, passing its `ok`/`bad` lines on as PASS/FAIL lines.
run_py() {
  local checker=$1 line out rc=0
  shift
  out=$("$py" "$(dirname "${BASH_SOURCE[0]}")/$checker" "$@" 2>&1) || rc=$?
  while IFS= read -r line; do
    case $line in
      ok\ *) pass "${line#ok }" ;;
      bad\ *) fail "${line#bad }" ;;
      '') ;;
      *) echo "# $line" >&2 ;;
    esac
  done <<<"$out"
  [ "$rc" = 0 ] || fail "$checker-$1" "exit $rc: $(tail -c 500 <<<"$out")"
}

# check NAME STEP... -- CONDITION...: PASS when each STEP succeeded (the script's
# fetched[STEP] is "ok") and CONDITION holds; a failed STEP fails the check without running
# CONDITION (a `! grep` on a failed fetch would pass). A condition may leave what it saw in
# $seen, the FAIL line's detail.
check() {
  local name=$1 f
  shift
  while [ "$1" != -- ]; do
    f=$1
    shift
    if [ "${fetched[$f]:-not done}" != ok ]; then
      fail "$name" "(not checked: step '$f' failed: ${fetched[$f]:-not done})"
      return 0
    fi
  done
  shift
  if "$@"; then pass "$name"; else fail "$name" "${seen:-}"; fi
}

# wait_for SECONDS COMMAND...: true as soon as COMMAND succeeds, false after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  while ! "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}
