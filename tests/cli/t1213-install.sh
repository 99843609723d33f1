#!/usr/bin/env bash
# t1213-install.sh - `cmake --install <build> --prefix <root>` lays kbisect out as FHS says
# (bin/kbisect, bin/kbisect-ccwrap, libexec/kbisect/kbisect-agent, share/doc/kbisect,
# lib/systemd/system/kbisect-cache-serve.service); the installed kbisect runs and finds
# the agent relative to itself (`kbisect version --paths`), $KBISECT_AGENT still wins and
# without the installed agent it falls back to the build's; the unit passes
# `systemd-analyze verify` (skipped without systemd) and allows, in SystemCallFilter, every
# system call the server makes (strace); `kbisect cache serve` sends READY=1
# then STOPPING=1 to $NOTIFY_SOCKET (a python3 datagram socket playing systemd).
# kb-test-labels: integration
# kb-test-timeout: 60
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
: "${KB_BUILD_DIR:?set KB_BUILD_DIR to the build folder}"
command -v cmake >/dev/null || { echo "no cmake: skipping" >&2; exit 0; }

root=$tmp/root
cmake --install "$KB_BUILD_DIR" --prefix "$root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "cmake --install"; }
for f in bin/kbisect bin/kbisect-ccwrap libexec/kbisect/kbisect-agent; do
	[ -x "$root/$f" ] || fail "cmake --install did not install an executable $f"
done
for f in share/doc/kbisect/README.md share/doc/kbisect/kbisect-cache-serve.md \
	share/doc/kbisect/shared-cache.md lib/systemd/system/kbisect-cache-serve.service \
	share/bash-completion/completions/kbisect share/man/man1/kbisect.1 \
	share/man/man1/kbisect-cache.1 share/man/man1/kbisect-cache-serve.1; do
	[ -s "$root/$f" ] || fail "cmake --install did not install $f"
done
# man pages: one per command of --help, each says what its --help says, and render cleanly
for cmd in $("$KBISECT" --help | sed -n 's/^   \([a-z][a-z-]*\) .*/\1/p'); do
	[ -s "$root/share/man/man1/kbisect-$cmd.1" ] || fail "no man page kbisect-$cmd.1"
done
if command -v groff >/dev/null; then
	groff -man -Tutf8 -ww -z "$root/share/man/man1/kbisect-cache-serve.1" >"$tmp/groff" 2>&1
	[ ! -s "$tmp/groff" ] || { cat "$tmp/groff"; fail "groff warns on kbisect-cache-serve.1"; }
	groff -man -Tascii -P-cbou "$root/share/man/man1/kbisect-cache-serve.1" 2>/dev/null |
		grep -- '--max-connections-per-ip' >/dev/null || fail "kbisect-cache-serve.1 lacks the --help text"
fi
cmp -s "$root/libexec/kbisect/kbisect-agent" "$KB_BUILD_DIR/vmpool/kbisect-agent" ||
	fail "the installed agent differs from the built one"

# the installed binary runs and finds the installed agent
"$root/bin/kbisect" --help >"$tmp/help" || fail "installed kbisect --help"
grep -q '^   cache ' "$tmp/help" || fail "installed kbisect --help lists no commands"
unset KBISECT_AGENT
paths=$("$root/bin/kbisect" version --paths)
agent=$(sed -n 's/^agent: //p' <<<"$paths")
[ "$(realpath "$agent")" = "$(realpath "$root/libexec/kbisect/kbisect-agent")" ] ||
	fail "installed kbisect uses agent '$agent', not $root/libexec/kbisect/kbisect-agent"
# ... also when called through a symlink on PATH (/proc/self/exe is the real file)
mkdir -p "$tmp/path"
ln -s "$root/bin/kbisect" "$tmp/path/kbisect"
agent=$(PATH="$tmp/path:$PATH" kbisect version --paths | sed -n 's/^agent: //p')
[ "$(realpath "$agent")" = "$(realpath "$root/libexec/kbisect/kbisect-agent")" ] ||
	fail "through a symlink kbisect uses agent '$agent'"
# $KBISECT_AGENT wins
agent=$(KBISECT_AGENT=/opt/agent "$root/bin/kbisect" version --paths | sed -n 's/^agent: //p')
[ "${agent%% *}" = /opt/agent ] || fail "\$KBISECT_AGENT ignored: '$agent'"
# the build tree's kbisect uses the build's agent; an install without libexec falls back to it
agent=$("$KBISECT" version --paths | sed -n 's/^agent: //p')
[ "$(realpath "$agent")" = "$(realpath "$KB_BUILD_DIR/vmpool/kbisect-agent")" ] ||
	fail "build-tree kbisect uses agent '$agent'"
mv "$root/libexec" "$tmp/libexec.away"
agent=$("$root/bin/kbisect" version --paths | sed -n 's/^agent: //p')
[ "$(realpath "$agent")" = "$(realpath "$KB_BUILD_DIR/vmpool/kbisect-agent")" ] ||
	fail "without libexec/kbisect the installed kbisect uses '$agent', not the build's"
mv "$tmp/libexec.away" "$root/libexec"

# the unit: systemd-analyze verify (ExecStart pointed at this scratch install)
unit=$root/lib/systemd/system/kbisect-cache-serve.service
grep -q '^Type=notify$' "$unit" || fail "the unit is not Type=notify"
for opt in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes StateDirectory=kbisect \
	DynamicUser=yes; do
	grep -q "^$opt\$" "$unit" || fail "the unit lacks $opt"
done
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$tmp/unit"
	sed "s|^ExecStart=[^ ]*|ExecStart=$root/bin/kbisect|" "$unit" \
		>"$tmp/unit/kbisect-cache-serve.service"
	systemd-analyze verify "$tmp/unit/kbisect-cache-serve.service" >"$tmp/verify" 2>&1 ||
		{ cat "$tmp/verify"; fail "systemd-analyze verify"; }
	[ ! -s "$tmp/verify" ] || { cat "$tmp/verify"; fail "systemd-analyze verify warns"; }
else
	echo "no systemd-analyze: not verifying the unit (apt-get install systemd)" >&2
fi

# sd_notify: the unit's command line (with a scratch cache and port 0) sends READY=1
python3 - "$tmp/notify.sock" "$tmp/notify.out" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
with open(sys.argv[2], "w") as out:
    try:
        for _ in range(2):
            out.write(s.recv(4096).decode() + "\n--\n")
            out.flush()
    except socket.timeout:
        pass
PY
py=$!
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
[ -S "$tmp/notify.sock" ] || fail "python3 notify socket did not appear"
# the unit's settings are Environment= KBISECT_SERVE_* defaults; point cache and port elsewhere
grep -q '^Environment=KBISECT_SERVE_CACHE=/var/lib/kbisect/cache ' "$unit" ||
	fail "the unit does not keep the cache in /var/lib/kbisect"
grep -q '^EnvironmentFile=-/etc/kbisect/cache-serve.env$' "$unit" || fail "no EnvironmentFile"
args=${exec_start#* }
# shellcheck disable=SC2086
NOTIFY_SOCKET=$tmp/notify.sock KBISECT_SERVE_CACHE=$tmp/cache KBISECT_SERVE_LISTEN=127.0.0.1:0 \
	KBISECT_SERVE_PORT_FILE=$tmp/port KBISECT_SERVE_QUIET=1 "$root/bin/kbisect" $args \
	>/dev/null 2>"$tmp/serve.err" &
srv=$!
for _ in $(seq 100); do grep -q READY=1 "$tmp/notify.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^READY=1$' "$tmp/notify.out" || { cat "$tmp/serve.err"; fail "no READY=1 on NOTIFY_SOCKET"; }
port=$(cat "$tmp/port")
grep -q "^STATUS=serving on port $port\$" "$tmp/notify.out" || fail "no STATUS with port $port"
grep -q "^MAINPID=$srv\$" "$tmp/notify.out" || fail "MAINPID is not the server's pid $srv"
# READY means serving: a request answers now
python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/status', timeout=5)" ||
	fail "READY=1 sent but /status does not answer"
kill -TERM "$srv"
wait "$srv" || fail "server exited non-zero on SIGTERM"
wait "$py"
grep -q '^STOPPING=1$' "$tmp/notify.out" || fail "no STOPPING=1 on SIGTERM"
# an abstract-namespace NOTIFY_SOCKET ("@name", as systemd may hand out) works too
python3 - "kbisect-t1213-$$" "$tmp/notify2.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
s.settimeout(20)
with open(sys.argv[2] + ".tmp", "w") as out:
    pass
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2] + ".bound")
try:
    open(sys.argv[2], "w").write(s.recv(4096).decode() + "\n")
except socket.timeout:
    pass
PY
py=$!
for _ in $(seq 50); do [ -e "$tmp/notify2.out.bound" ] && break; sleep 0.1; done
NOTIFY_SOCKET=@kbisect-t1213-$$ KBISECT_SERVE_CACHE=$tmp/cache KBISECT_SERVE_LISTEN=127.0.0.1:0 \
	KBISECT_SERVE_DURATION=1 KBISECT_SERVE_QUIET=1 "$root/bin/kbisect" $args >/dev/null ||
	fail "server with an abstract NOTIFY_SOCKET"
wait "$py"
grep -q '^READY=1$' "$tmp/notify2.out" || fail "no READY=1 on an abstract NOTIFY_SOCKET"

# the unit's SystemCallFilter allows every system call the server makes serving PUT, GET
# (plain and zstd), /metrics and its stop (--duration; strace; skipped without strace or
# systemd-analyze, and for sanitizer builds, whose runtime makes calls of its own)
if command -v strace >/dev/null && command -v systemd-analyze >/dev/null &&
	! grep -qa __asan_init "$root/bin/kbisect"; then
	rm -f "$tmp/port"
	KBISECT_SERVE_CACHE=$tmp/cache2 KBISECT_SERVE_LISTEN=127.0.0.1:0 \
		KBISECT_SERVE_PORT_FILE=$tmp/port KBISECT_SERVE_QUIET=1 KBISECT_SERVE_DURATION=4 \
		strace -f -qq -o "$tmp/trace" "$root/bin/kbisect" $args >/dev/null 2>&1 &
	st=$!
	for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
	[ -s "$tmp/port" ] || fail "server under strace did not start"
	python3 - "$(cat "$tmp/port")" <<'PY' || fail "requests under strace"
import hashlib, http.client, os, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
body = os.urandom(300000)
key = hashlib.sha256(body).hexdigest()
for method, path, data, hdr in (("PUT", "/cas/" + key, body, {}), ("GET", "/cas/" + key, None, {}),
                                ("GET", "/cas/" + key, None, {"Accept-Encoding": "zstd"}),
                                ("GET", "/metrics", None, {})):
    c.request(method, path, body=data, headers=hdr)
    r = c.getresponse(); r.read()
    assert r.status in (200, 201), (method, path, r.status)
PY
	wait "$st" || fail "server under strace exited non-zero"
	systemd-analyze syscall-filter >"$tmp/groups"
	filters=$(sed -n 's/^SystemCallFilter=//p' "$unit" | paste -sd'|')
	python3 - "$tmp/groups" "$tmp/trace" "$filters" <<'PY' || fail "the unit's SystemCallFilter would kill the server"
import re, sys
groups, cur = {}, None
for line in open(sys.argv[1]):
    if line.startswith("@"):
        cur = line.split()[0]; groups[cur] = []
    elif cur and line.strip() and not line.strip().startswith("#"):
        groups[cur].append(line.strip())
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups.get(n, [])) if n.startswith("@") else {n}
    return out
allow, deny = set(), set()
for line in sys.argv[3].split("|"):  # one SystemCallFilter= line each; '~' denies the line
    (deny if line.startswith("~") else allow).update(expand(line.lstrip("~").split()))
used = set()
for line in open(sys.argv[2]):
    m = re.match(r"\d+\s+([a-z0-9_]+)\(", line)
    if m and m.group(1) != "execve":
        used.add(m.group(1))
bad = sorted(s for s in used if s not in allow or s in deny)
print("server made %d distinct system calls" % len(used))
if bad:
    print("not allowed by the unit: " + " ".join(bad)); sys.exit(1)
PY
else
	echo "no strace/systemd-analyze (or a sanitizer build): not checking SystemCallFilter" >&2
fi
echo "ok: install layout, agent lookup, unit verify, sd_notify"
