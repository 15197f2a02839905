#!/usr/bin/env bash
# The hardened service unit, deploy/feedsvc.service, judged by systemd's own tools, and feedsvc
# run the way the unit confines it.
#   1. `systemd-analyze verify` passes on the unit (ExecStart pointed at FEEDSVC_BIN) and says
#      nothing; `systemd-analyze security --offline=true` rates its exposure below 2.0.
#   2. The unit names its own user (DynamicUser=yes), StateDirectory=feedsvc,
#      ProtectSystem=strict, NoNewPrivileges=yes, an empty CapabilityBoundingSet, an allow list
#      of address families (no AF_NETLINK or AF_PACKET) and of system calls, Restart=on-failure,
#      KillSignal=SIGTERM with a TimeoutStopSec, and a LimitNOFILE that holds
#      server.max_connections (10000 by default) with its waiting room.
#   3. Without systemd as PID 1, the confinement is reproduced by hand: `feedsvc add`, `serve`
#      and `stats` run as nobody without capabilities, with no_new_privs, in a mount namespace
#      where everything but the state directory is read-only, under strace. The server answers
#      (a 200, a 304, a publish made while it runs); SIGTERM with a keep-alive connection open
#      makes it exit 0 within the unit's TimeoutStopSec, having written the poll counts.
#   4. From the traces: nothing was opened for writing, created, renamed or removed outside the
#      state directory; every socket was of a family the unit allows; every system call made is
#      one the unit's SystemCallFilter lets through (resolved with `systemd-analyze
#      syscall-filter`, plus the @default set systemd adds to an allow list).
#   5. Under systemd itself: systemd 252 as PID 1 of a container (systemd-nspawn --volatile=yes:
#      a tmpfs root over the host's /usr, the host's network) boots with the unit enabled;
#      feedsvc.service answers on loopback, runs as a dynamic user without capabilities, with
#      no_new_privs and a seccomp filter; `feedsvc add` through `systemd-run` as the service's
#      user publishes; a probe service with the unit's settings finds /etc, /usr, /home, /var/lib
#      read-only and the state directory writable, AF_NETLINK and AF_PACKET refused (and a name
#      with two addresses still resolving), chown, sched_setaffinity and writable-executable
#      memory refused, setpriority allowed, /proc holding its own process only; `systemctl
#      stop` with a keep-alive connection open ends in Result=success, exit status 0, within
#      TimeoutStopSec; a SIGKILL is followed by a restart.
#   The server's log must hold no error or panic.
#
# Only the paths these commands take are traced and probed (no WebSub delivery, no import).
#
# usage: service.sh FEEDSVC_BIN          (FEEDSVC_UNIT=FILE judges another unit file)
# Needs root (a mount namespace, another user, a container) and a merged /usr. Installs Debian's
# systemd, systemd-container and strace when missing. Without a systemd on the host, the
# container runs in a control group of its own, removed at the end. Prints one PASS/FAIL line
# per check and a closing "N passed, M failed"; exits 1 on any failure. About 10 s.
# Functions called from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/interop/common.sh
. "$here/common.sh" service "${1:?usage: service.sh FEEDSVC_BIN}"
unit_src=${FEEDSVC_UNIT:-$repo/deploy/feedsvc.service}
[ -f "$unit_src" ] || fatal setup "no unit file at $unit_src"
[ "$(id -u)" -eq 0 ] || fatal setup "needs root: a mount namespace and another user"
command -v curl >/dev/null || fatal setup "curl is not installed"

holder_pid=
nspawn_pid=
leader=
cgroups=()
cleanup_more() {
  if [ -n "$holder_pid" ]; then kill "$holder_pid" 2>/dev/null || true; fi
  # strace ignores SIGTERM while it traces: stop what it traces (this script's copy of
  # feedsvc, running as nobody) instead.
  if [ -n "$server_pid" ]; then
    pkill -TERM -u 65534 -f "^$work/bin/feedsvc " 2>/dev/null || true
    for _ in $(seq 100); do
      pgrep -u 65534 -f "^$work/bin/feedsvc " >/dev/null || break
      sleep 0.1
    done
    pkill -KILL -u 65534 -f "^$work/bin/feedsvc " 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  if [ -n "$nspawn_pid" ]; then
    if [ -n "$leader" ]; then nsenter -t "$leader" -a systemctl poweroff >/dev/null 2>&1 || true; fi
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  local dir
  for dir in "${cgroups[@]}"; do
    if [ -d "$dir" ]; then find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
}

# ---------------------------------------------------------------------------- tools
need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
if [ ${#need[@]} -gt 0 ]; then
  echo "# installing Debian packages: ${need[*]}" >&2
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${need[@]}"; } >"$work/apt.log" 2>&1 ||
    fatal setup "apt-get install ${need[*]} failed: $(tail -c 500 "$work/apt.log")"
fi
for cmd in unshare setpriv python3; do
  command -v "$cmd" >/dev/null || fatal setup "$cmd is not installed"
done

# ---------------------------------------------------------------------------- the unit
# The unit as written, but for ExecStart's program: verify wants it to exist.
mkdir -p "$work/unit"
unit="$work/unit/feedsvc.service"
sed -E "s|^(ExecStart=[-@:+!]*)[^ ]+|\1$(realpath "$bin")|" "$unit_src" >"$unit"
grep -q "^ExecStart=$(realpath "$bin") " "$unit" || fatal setup "no ExecStart line in $unit_src"

# setting NAME: the value of NAME's last assignment in the unit ("" when absent or emptied).
setting() { sed -n "s/^$1=//p" "$unit" | tail -n 1 | sed 's/[[:space:]]*$//'; }
# named NAME: the unit assigns NAME at least once.
named() { grep -q "^$1=" "$unit"; }

if out=$(cd "$work/unit" && systemd-analyze verify feedsvc.service 2>&1) && [ -z "$out" ]; then
  pass verify "systemd-analyze verify: no error, no warning"
else
  fail verify "systemd-analyze verify: $(printf '%s' "$out" | head -c 400 | tr '\n' ' ')"
fi

security=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1 || true)
exposure=$(printf '%s\n' "$security" |
  sed -n 's/.*Overall exposure level for feedsvc\.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
  fail exposure "no 'Overall exposure level' line: $(printf '%s' "$security" | tail -c 300)"
elif awk -v e="$exposure" 'BEGIN { exit !(e < 2.0) }'; then
  pass exposure "systemd-analyze security: $exposure (below 2.0)"
else
  fail exposure "systemd-analyze security: $exposure, not below 2.0; still open:" \
    "$(printf '%s\n' "$security" | grep '✗' | awk '{print $2}' | head -n 8 | tr '\n' ' ')…"
fi

# expect NAME REGEX WHY: PASS when NAME's last assignment matches REGEX (extended, whole value).
expect() {
  local value
  value=$(setting "$1")
  if named "$1" && [[ $value =~ ^($2)$ ]]; then
    pass "unit/$1" "$1=$value: $3"
  else
    fail "unit/$1" "$1=${value:-(not set)}, expected /$2/: $3"
  fi
}
yes='yes|true|on|1'
expect DynamicUser "$yes" "a user of its own, made up at start"
expect StateDirectory "feedsvc" "the database lives in /var/lib/feedsvc"
expect ProtectSystem "strict" "the whole file system read-only but the state directory"
expect NoNewPrivileges "$yes" "no setuid or file capabilities"
if named CapabilityBoundingSet && [ -z "$(setting CapabilityBoundingSet)" ]; then
  pass unit/CapabilityBoundingSet "empty: no capabilities"
else
  fail unit/CapabilityBoundingSet "'$(setting CapabilityBoundingSet)': expected empty"
fi
families=$(setting RestrictAddressFamilies)
if [ -n "$families" ] && [[ $families != ~* ]] && [[ ! $families =~ AF_NETLINK|AF_PACKET ]]; then
  pass unit/RestrictAddressFamilies "allow list: $families"
else
  fail unit/RestrictAddressFamilies "'$families': expected an allow list without AF_NETLINK and AF_PACKET"
fi
first_filter=$(sed -n 's/^SystemCallFilter=//p' "$unit" | head -n 1)
if [ -n "$first_filter" ] && [[ $first_filter != ~* ]]; then
  pass unit/SystemCallFilter "an allow list: $(sed -n 's/^SystemCallFilter=//p' "$unit" | tr '\n' ' ')"
else
  fail unit/SystemCallFilter "'$first_filter': expected an allow list first"
fi
expect SystemCallArchitectures native "no other ABI's system calls"
expect Restart on-failure "restarted when it dies"
expect KillSignal "SIGTERM|TERM|15" "feedsvc stops gracefully on SIGTERM"
stop_usec=
if named TimeoutStopSec; then
  stop_usec=$(systemd-analyze timespan "$(setting TimeoutStopSec)" 2>/dev/null |
    sed -n 's/^ *μs: *//p' || true)
fi
if [[ $stop_usec =~ ^[0-9]{1,12}$ ]] && [ "$stop_usec" -gt 0 ]; then
  pass unit/TimeoutStopSec "TimeoutStopSec=$(setting TimeoutStopSec): $((stop_usec / 1000000)) s"
else
  fail unit/TimeoutStopSec "'$(setting TimeoutStopSec)': expected a finite time"
  stop_usec=
fi
# feedsvc needs max_connections places, twice a waiting room of a quarter of them (16 … 4096)
# and 64 descriptors more; it raises its soft limit to the hard one.
room=$((10000 / 4))
needed=$((10000 + 2 * room + 64))
nofile=$(setting LimitNOFILE)
hard=${nofile##*:}
if [[ $hard = infinity ]] || { [[ $hard =~ ^[0-9]+$ ]] && [ "$hard" -ge "$needed" ]; }; then
  pass unit/LimitNOFILE "LimitNOFILE=$nofile, at least the $needed descriptors 10000 connections take"
else
  fail unit/LimitNOFILE "LimitNOFILE=${nofile:-(not set)}: 10000 connections take $needed descriptors"
fi

# ---------------------------------------------------------------------------- confined by hand
# /tmp's directories are 0700: nobody must reach the binary and the config.
chmod 755 "$work"
mkdir -p "$work/bin" "$work/etc" "$work/state" "$work/trace" "$work/articles"
cp "$bin" "$work/bin/feedsvc"
state="$work/state"
chown 65534:65534 "$state"
chmod 750 "$state"
port=$(free_port)
base="http://127.0.0.1:$port"
cfg="$work/etc/config.toml"
cat >"$cfg" <<CONF
[site]
title = "Service Dispatch"
base_url = "$base/"
[server]
listen = "127.0.0.1:$port"
log = "info"
[storage]
database = "$state/feedsvc.db"
samples = ""
[admin]
listen = ""
CONF
for n in 1 2; do
  printf '+++\ntitle = "Story %s"\nslug = "story-%s"\n+++\nThe body of story %s.\n' "$n" "$n" "$n" \
    >"$work/articles/story-$n.md"
done

# hold_connection PORT: a keep-alive connection to PORT that has had its answer and stays open
# (for a minute, or until cleanup), across the stop that follows; sets holder_pid.
hold_connection() {
  python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
s.recv(4096)
time.sleep(60)' "$1" &
  holder_pid=$!
  sleep 0.3
}

# confined NAME ARGS...: `feedsvc --config CFG ARGS` as nobody, without capabilities, with
# no_new_privs, from the state directory, with every mount read-only but the state directory
# and the trace directory; strace writes $work/trace/NAME.trace. Exits as feedsvc does.
confined() {
  local name=$1
  shift
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  (cd "$state" && exec unshare --mount --propagation private -- sh -c '
    mount --bind "$1" "$1" && mount --bind "$2" "$2" && mount -o remount,bind,ro / || exit 97
    trace=$2/$3.trace
    shift 3
    exec strace -f -y -qq -o "$trace" setpriv --reuid=65534 --regid=65534 --clear-groups \
      --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"' \
    sh "$state" "$work/trace" "$name" "$work/bin/feedsvc" --config "$cfg" "$@")
}

if out=$(confined add-1 add "$work/articles/story-1.md" 2>&1); then
  pass confined/add "as nobody on a read-only system: $out"
else
  fatal confined/add "feedsvc add failed: $out"
fi

confined serve serve >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$! # strace's (it exits with feedsvc's status); feedsvc is its child, as nobody
for _ in $(seq 100); do
  if grep -q listening "$work/serve.out" 2>/dev/null || ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
grep -q listening "$work/serve.out" ||
  fatal confined/serve "feedsvc serve did not listen within 10 s: $(head -c 500 "$work/serve.err")"
feedsvc_pid=$(pgrep -u 65534 -f "^$work/bin/feedsvc --config $cfg serve" | head -n 1 || true)
[ -n "$feedsvc_pid" ] || fatal confined/serve "no feedsvc serve process running as nobody"

etag=$(curl -s --max-time 5 -D - -o "$work/atom.xml" -H 'Accept-Encoding: gzip' "$base/atom.xml" |
  sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' \
  -H "If-None-Match: $etag" "$base/atom.xml" || true)
if [ -n "$etag" ] && [ "$code" = 304 ]; then
  pass confined/serve "/atom.xml 200 with ETag $etag, then 304 for it"
else
  fail confined/serve "/atom.xml: ETag '$etag', conditional GET answered '$code', expected 304"
fi
if out=$(confined add-2 add "$work/articles/story-2.md" 2>&1); then
  seen=
  for _ in $(seq 50); do
    if curl -s --max-time 5 "$base/atom.xml" | grep -q 'Story 2'; then seen=1; break; fi
    sleep 0.1
  done
  if [ -n "$seen" ]; then
    pass confined/publish "an add while serving shows in /atom.xml"
  else
    fail confined/publish "story 2 missing from /atom.xml 5 s after its add"
  fi
else
  fail confined/publish "feedsvc add while serving failed: $out"
fi

hold_connection "$port"
t0=$(date +%s%N)
kill -TERM "$feedsvc_pid"
# Waits at most TimeoutStopSec (30 s without one), then kills it as systemd would.
limit_ms=$((${stop_usec:-30000000} / 1000))
while kill -0 "$server_pid" 2>/dev/null && [ $((($(date +%s%N) - t0) / 1000000)) -le "$limit_ms" ]; do
  sleep 0.05
done
kill -KILL "$feedsvc_pid" 2>/dev/null || true
rc=0
wait "$server_pid" || rc=$?
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
server_pid=
kill "$holder_pid" 2>/dev/null || true
if [ "$rc" -eq 0 ] && [ -n "$stop_usec" ] && [ "$elapsed_ms" -le $((stop_usec / 1000)) ]; then
  pass confined/sigterm "exit status 0, $elapsed_ms ms after SIGTERM with a keep-alive connection open" \
    "(TimeoutStopSec: $((stop_usec / 1000000)) s)"
else
  fail confined/sigterm "exit status $rc, $elapsed_ms ms after SIGTERM (TimeoutStopSec: ${stop_usec:-?} µs)"
fi
# The counts are written at shutdown (the default flush is every 60 s).
requests=$(confined stats stats --json 2>"$work/stats.err" | python3 -c '
import json, sys
print(sum(f["requests"] for f in json.load(sys.stdin)["feeds"] if f["path"] == "/atom.xml"))' 2>&1 ||
  true)
if [[ $requests =~ ^[0-9]+$ ]] && [ "$requests" -ge 3 ]; then
  pass confined/counts-flushed "feedsvc stats: $requests requests of /atom.xml, written at the stop"
else
  fail confined/counts-flushed "feedsvc stats: '$requests' requests of /atom.xml, expected at least 3" \
    "$(head -c 200 "$work/stats.err")"
fi
if grep -qiE 'panicked|\bERROR\b' "$work/serve.err"; then
  fail confined/log "$(grep -iE 'panicked|\bERROR\b' "$work/serve.err" | head -n 3 | tr '\n' ' ')"
else
  pass confined/log "no errors or panics logged"
fi

# ---------------------------------------------------------------------------- the traces
systemd-analyze syscall-filter --no-pager >"$work/syscall-groups" 2>/dev/null ||
  fatal traces "systemd-analyze syscall-filter failed"
sed -n 's/^SystemCallFilter=//p' "$unit" >"$work/filters"
# Prints "CHECK<TAB>ok|bad<TAB>detail" for writes, sockets and syscalls.
python3 - "$work/trace" "$state" "$work/bin/feedsvc" "$families" "$work/syscall-groups" \
  "$work/filters" >"$work/verdicts" <<'PY'
import os, re, sys

trace_dir, state, binary, families, groups_file, filters_file = sys.argv[1:7]
state = os.path.realpath(state)

# Each pid's lines, but setpriv's before it became feedsvc (its execve of the binary).
line_re = re.compile(r"^(\d+) +(?:<\.\.\. )?([a-z0-9_]+)[( ](.*)$")
calls = []  # (file, syscall, rest)
for name in sorted(os.listdir(trace_dir)):
    lines = open(os.path.join(trace_dir, name), errors="replace").read().splitlines()
    became = {}
    for i, line in enumerate(lines):
        m = line_re.match(line)
        if m and m.group(2) == "execve" and f'"{binary}"' in m.group(3) and "= 0" in line:
            became[m.group(1)] = i
    for i, line in enumerate(lines):
        m = line_re.match(line)
        if not m or i <= became.get(m.group(1), -1):
            continue
        calls.append((name, m.group(2), m.group(3)))

# Writes: opens for writing or creating, and every call that makes, moves or removes a name.
writing_open = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
changers = {"mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir",
            "link", "linkat", "symlink", "symlinkat", "truncate", "chmod", "fchmodat", "chown",
            "fchownat", "lchown", "mknod", "mknodat", "utimensat", "utimes", "setxattr",
            "lsetxattr", "creat"}
path_arg = re.compile(r'(?:(AT_FDCWD|\d+)<([^>]*)>, )?"([^"]*)"')
outside = set()
for name, call, rest in calls:
    if call in ("open", "openat", "openat2"):
        if not writing_open.search(rest):
            continue
    elif call not in changers:
        continue
    for m in path_arg.finditer(rest):
        base, path = m.group(2), m.group(3)
        full = os.path.normpath(os.path.join(base or state, path))
        if full != state and not full.startswith(state + os.sep):
            outside.add(f"{call} {full} ({name})")
print("writes\t" + ("bad\t" + "; ".join(sorted(outside)[:5]) if outside else "ok\tnone"))

# Sockets: the families used against RestrictAddressFamilies.
allowed = set(families.split())
used = {m.group(1) for _, call, rest in calls if call == "socket"
        for m in [re.match(r"(AF_[A-Z0-9]+)", rest)] if m}
bad = used - allowed
if allowed:
    print("sockets\t" + ("bad\t" if bad else "ok\t") +
          f"used {' '.join(sorted(used)) or 'none'}; allowed {' '.join(sorted(allowed))}")
else:
    print("sockets\tbad\tthe unit sets no RestrictAddressFamilies")

# System calls: the unit's filter resolved into names. An allow list starts from @default,
# which systemd adds itself; later lines add names, "~" lines take them away.
groups, current = {}, None
for line in open(groups_file):
    if line.startswith("@"):
        current = groups.setdefault(line.split()[0], [])
    elif current is not None and line.strip() and not line.strip().startswith("#"):
        current.append(line.split()[0])
    elif not line.strip():
        current = None

def expand(item, seen=()):
    if not item.startswith("@"):
        return {item}
    names = set()
    for member in groups.get(item, []):
        if member not in seen:
            names |= expand(member, seen + (item,))
    return names

permitted, allow_list = set(), None
for line in open(filters_file):
    line = line.strip()
    if not line:
        permitted, allow_list = set(), None
        continue
    deny = line.startswith("~")
    items = line.lstrip("~").split()
    if allow_list is None:
        allow_list = not deny
        if allow_list:
            permitted |= expand("@default")
    names = set().union(*(expand(i) for i in items))
    if allow_list == deny:  # an allow list's "~" line, or a deny list's plain one
        permitted -= names
    else:
        permitted |= names
made = {call for _, call, _ in calls if call not in ("exited", "killed", "resumed")}
if allow_list is None:
    print("syscalls\tbad\tthe unit has no SystemCallFilter")
elif allow_list:
    refused = made - permitted
    print("syscalls\t" + ("bad\trefused by the filter: " + " ".join(sorted(refused)) if refused
                         else f"ok\tall {len(made)} system calls made are in the filter's "
                              f"{len(permitted)}"))
else:
    refused = made & permitted
    print("syscalls\t" + ("bad\tdenied by the filter: " + " ".join(sorted(refused)) if refused
                         else f"ok\tnone of the {len(made)} system calls made is denied"))
PY
while IFS=$'\t' read -r check verdict detail; do
  case $check in
    writes) what="nothing written outside the state directory (add, serve, stop, stats)" ;;
    sockets) what="socket families within RestrictAddressFamilies" ;;
    syscalls) what="system calls within SystemCallFilter" ;;
    *) what=$check ;;
  esac
  if [ "$verdict" = ok ]; then pass "traces/$check" "$what: $detail"; else fail "traces/$check" "$what: $detail"; fi
done <"$work/verdicts"
[ "$(wc -l <"$work/verdicts")" -eq 3 ] || fail traces "the trace analysis printed $(wc -l <"$work/verdicts") verdicts, expected 3"

# ---------------------------------------------------------------------------- under systemd
# systemd itself applying the unit: systemd 252 as PID 1 of a container (systemd-nspawn
# --volatile=yes: a tmpfs root with the host's /usr read-only, the host's network), the unit as
# written but for the program's path, enabled at boot; the checks reach the container's
# manager with nsenter. A probe service with the unit's settings tries what feedsvc must not do.
for link in /bin /lib /sbin; do
  [ -L "$link" ] || fatal real/setup "$link is not a symbolic link into /usr: the container needs a merged /usr"
done
real="$work/real"
mkdir -p "$real/units/multi-user.target.wants" "$real/etc" "$real/bin"
cp "$bin" "$real/bin/feedsvc"
sed -E 's|^(ExecStart=[-@:+!]*)[^ ]+|\1/opt/feedsvc/bin/feedsvc|' "$unit_src" >"$real/units/feedsvc.service"
ln -s ../feedsvc.service "$real/units/multi-user.target.wants/feedsvc.service"
sed -E -e 's|^ExecStart=.*|ExecStart=/opt/feedsvc/bin/probe|' -e 's|^Type=.*|Type=oneshot|' \
  -e 's|^Restart=.*|Restart=no|' -e '/^WantedBy=/d' "$unit_src" >"$real/units/probe.service"
real_port=$(free_port)
while [ "$real_port" = "$port" ]; do real_port=$(free_port); done
real_base="http://127.0.0.1:$real_port"
cat >"$real/etc/config.toml" <<CONF
[site]
title = "Service Dispatch under systemd"
base_url = "$real_base/"
[server]
listen = "127.0.0.1:$real_port"
log = "info"
[storage]
database = "/var/lib/feedsvc/feedsvc.db"
samples = ""
[admin]
listen = ""
CONF
printf '127.0.0.1 localhost\n::1 localhost\n127.0.0.1 dual.feedsvc.test\n::1 dual.feedsvc.test\n' >"$real/hosts"
printf 'hosts: files\n' >"$real/nsswitch.conf"
printf 'multi on\n' >"$real/host.conf" # every address of a name in the hosts file, not the first
# The probe prints NAME=allowed|refused lines.
cat >"$real/bin/probe" <<'PROBE'
#!/bin/sh
for f in /etc /usr/lib /home /root /opt/feedsvc/bin /var/lib /var/lib/feedsvc /tmp; do
  if touch "$f/.probe" 2>/dev/null; then echo "write:$f=allowed"; rm -f "$f/.probe"; else echo "write:$f=refused"; fi
done
exec python3 - <<'PY'
import mmap, os, socket
def attempt(name, call):
    try:
        call()
        print(f"{name}=allowed")
    except (OSError, ValueError) as e:
        print(f"{name}=refused")
for family in ("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET"):
    kind = socket.SOCK_RAW if family == "AF_NETLINK" else socket.SOCK_DGRAM
    attempt(f"socket:{family}", lambda: socket.socket(getattr(socket, family), kind).close())
found = {a[4][0] for a in socket.getaddrinfo("dual.feedsvc.test", 80, type=socket.SOCK_STREAM)}
print("resolve:dual=" + ("both" if found == {"127.0.0.1", "::1"} else ",".join(sorted(found))))
attempt("call:setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 10))
attempt("call:sched_setaffinity", lambda: os.sched_setaffinity(0, {0}))
attempt("call:chown", lambda: os.chown("/var/lib/feedsvc", os.getuid(), os.getgid()))
attempt("call:mmap-wx", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))
attempt("read:/proc/meminfo", lambda: open("/proc/meminfo").read())
pids = [d for d in os.listdir("/proc") if d.isdigit()]
print("proc:others=" + ("hidden" if len(pids) <= 2 else f"{len(pids)} processes visible"))
print("id:uid=" + str(os.getuid()))
PY
PROBE
chmod -R a+rX "$real"
chmod 755 "$real/bin/feedsvc" "$real/bin/probe"

# Without a systemd on the host, nspawn keeps to the control group it starts in: give it one of
# its own (removed on exit), so that it never shares one with anything else.
keep_unit=()
if [ ! -d /run/systemd/system ]; then
  keep_unit=(--keep-unit)
  while IFS=: read -r _ controllers path; do
    case $controllers in
      '') mount=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts) ;;
      name=systemd) mount=$(awk '$3 == "cgroup" && $4 ~ /name=systemd/ { print $2; exit }' /proc/self/mounts) ;;
      *) continue ;;
    esac
    [ -n "$mount" ] && cgroups+=("$mount${path%/}/feedsvc-service-test.$$")
  done </proc/self/cgroup
fi
(
  for dir in "${cgroups[@]}"; do mkdir -p "$dir" && echo "$BASHPID" >"$dir/cgroup.procs"; done
  exec timeout 120 systemd-nspawn -D / --volatile=yes --register=no "${keep_unit[@]}" --console=pipe \
    --bind-ro="$real/units:/etc/systemd/system" --bind-ro="$real/etc:/etc/feedsvc" \
    --bind-ro="$real/bin:/opt/feedsvc/bin" --bind-ro="$real/hosts:/etc/hosts" \
    --bind-ro="$real/nsswitch.conf:/etc/nsswitch.conf" --bind-ro="$real/host.conf:/etc/host.conf" -b
) >"$work/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
inside() { nsenter -t "$leader" -a "$@"; }
for _ in $(seq 300); do
  if [ -z "$leader" ]; then
    for child in $(pgrep -P "$(pgrep -P "$nspawn_pid" | head -n 1)" 2>/dev/null); do
      if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then leader=$child; fi
    done
  fi
  if [ -n "$leader" ] && [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$real_base/healthz")" = 200 ]; then
    break
  fi
  kill -0 "$nspawn_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$leader" ] || [ "$(inside systemctl is-active feedsvc 2>/dev/null)" != active ]; then
  fatal real/boot "feedsvc.service not active under systemd in a container within 30 s:" \
    "$(tail -c 400 "$work/nspawn.log" | tr '\n' ' ') $(inside systemctl status feedsvc --no-pager 2>&1 | tail -n 5 | tr '\n' ' ')"
fi
pass real/boot "systemd $(inside systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1 in a container started feedsvc.service; $real_base/healthz answers 200"

main_pid=$(inside systemctl show -p MainPID --value feedsvc)
status=$(inside cat "/proc/$main_pid/status")
field() { printf '%s\n' "$status" | sed -n "s/^$1:[[:space:]]*//p" | awk '{print $1}'; }
nofile=$(inside cat "/proc/$main_pid/limits" | awk '/open files/ { print $4 }')
if [ "$(field Uid)" != 0 ] && [ "$(field CapEff)" = 0000000000000000 ] && [ "$(field CapBnd)" = 0000000000000000 ] &&
  [ "$(field NoNewPrivs)" = 1 ] && [ "$(field Seccomp)" = 2 ]; then
  pass real/process "uid $(field Uid), no capabilities (effective and bounding), no_new_privs, a seccomp filter; open files $nofile"
else
  fail real/process "uid $(field Uid), CapEff $(field CapEff), CapBnd $(field CapBnd), NoNewPrivs $(field NoNewPrivs), Seccomp $(field Seccomp)"
fi

# A command as the service's own user, in the same state directory (the README's way).
if out=$(inside systemd-run --quiet --wait --pipe --collect -p DynamicUser=yes -p User=feedsvc \
  -p StateDirectory=feedsvc -p StateDirectoryMode=0750 -p ProtectSystem=strict \
  /opt/feedsvc/bin/feedsvc --config /etc/feedsvc/config.toml add - <"$work/articles/story-1.md" 2>&1) &&
  curl -s --max-time 5 "$real_base/atom.xml" | grep -q 'Story 1'; then
  pass real/publish "systemd-run as the service's user: $out, and /atom.xml has it"
else
  fail real/publish "feedsvc add through systemd-run: $out"
fi

if ! inside systemctl start probe.service >"$work/probe.err" 2>&1; then
  fail real/probe "the probe service failed: $(inside journalctl -u probe.service --no-pager -o cat 2>&1 | tail -n 5 | tr '\n' ' ')"
fi
inside journalctl -u probe.service --no-pager -o cat 2>/dev/null | grep -E '^[a-z]+:[^=]+=' >"$work/probe.out" || true
probe() { sed -n "s|^$1=||p" "$work/probe.out" | tail -n 1; }
# expect_probe CHECK DETAIL NAME=VALUE...: PASS when the probe printed each NAME=VALUE.
expect_probe() {
  local check=$1 detail=$2 pair wrong=()
  shift 2
  for pair in "$@"; do
    [ "$(probe "${pair%%=*}")" = "${pair#*=}" ] || wrong+=("${pair%%=*}=$(probe "${pair%%=*}")")
  done
  if [ ${#wrong[@]} -eq 0 ]; then pass "real/$check" "$detail"; else fail "real/$check" "$detail; but ${wrong[*]}"; fi
}
expect_probe read-only "the unit's sandbox: /etc, /usr, /home, /root, /var/lib and the program refuse writes; the state directory and a private /tmp take them" \
  write:/etc=refused write:/usr/lib=refused write:/home=refused write:/root=refused \
  write:/opt/feedsvc/bin=refused write:/var/lib=refused write:/var/lib/feedsvc=allowed write:/tmp=allowed
expect_probe address-families "AF_INET, AF_INET6, AF_UNIX open; AF_NETLINK and AF_PACKET refused; a name with an IPv4 and an IPv6 address still resolves to both without netlink" \
  socket:AF_INET=allowed socket:AF_INET6=allowed socket:AF_UNIX=allowed \
  socket:AF_NETLINK=refused socket:AF_PACKET=refused resolve:dual=both
expect_probe system-calls "setpriority (the hub's threads) allowed; sched_setaffinity (@resources), chown (@privileged) and writable-executable memory refused" \
  call:setpriority=allowed call:sched_setaffinity=refused call:chown=refused call:mmap-wx=refused
expect_probe proc "/proc shows the service's own processes only (ProtectProc=invisible, ProcSubset=pid)" \
  read:/proc/meminfo=refused proc:others=hidden

hold_connection "$real_port"
t0=$(date +%s%N)
inside systemctl stop feedsvc || true
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
kill "$holder_pid" 2>/dev/null || true
shown=$(inside systemctl show feedsvc -p Result -p ExecMainCode -p ExecMainStatus | sort | tr '\n' ' ')
if [ "$shown" = "ExecMainCode=1 ExecMainStatus=0 Result=success " ] && [ -n "$stop_usec" ] &&
  [ "$elapsed_ms" -le $((stop_usec / 1000)) ]; then
  pass real/stop "systemctl stop with a keep-alive connection open: exited 0 after $elapsed_ms ms, Result=success"
else
  fail real/stop "systemctl stop: $shown after $elapsed_ms ms (TimeoutStopSec: ${stop_usec:-?} µs)"
fi

inside systemctl start feedsvc || true
old_pid=$(inside systemctl show -p MainPID --value feedsvc)
inside kill -KILL "$old_pid" || true
restarted=
for _ in $(seq 100); do
  new_pid=$(inside systemctl show -p MainPID --value feedsvc)
  if [ "$new_pid" != 0 ] && [ "$new_pid" != "$old_pid" ] &&
    [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$real_base/healthz")" = 200 ]; then
    restarted=1
    break
  fi
  sleep 0.1
done
restarts=$(inside systemctl show -p NRestarts --value feedsvc)
if [ -n "$restarted" ] && [ "$restarts" = 1 ]; then
  pass real/restart "SIGKILL: restarted (NRestarts=1) and serving again"
else
  fail real/restart "after SIGKILL: MainPID ${new_pid:-?} (was $old_pid), NRestarts=$restarts"
fi

finish
