#!/usr/bin/env bash
# tests/cli/t3103-bisect-remote.sh - `kbisect bisect --remote`: host A bisects a real
# repository (the build command and reproducer of t3101) through `kbisect cache serve`;
# host B, with an empty local cache, finds the same culprit from the server alone
# (every commit "cached": no build, no boot), replaying host A's journal from the
# server; host A again with a dead remote still
# succeeds and warns.
# kb-test-labels: vm
# kb-test-timeout: 600
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
export HOME=$tmp KBISECT_CONFIG=$tmp/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
"$KBISECT" cache serve --cache "$tmp/server" --listen 127.0.0.1:0 --port-file "$tmp/port" \
	--duration 500 --quiet >/dev/null 2>"$tmp/serve.err" &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/serve.err"; fail "server did not start"; }
url="http://127.0.0.1:$(cat "$tmp/port")"
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

# host <name> ...: a bisection with the host's own cache and work trees
host() { local h=$1; shift
	"$KBISECT" bisect --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" \
		--repro "$tmp/repro.c" --build-cmd 'sh scripts/build.sh' --image bzImage \
		--cache "$tmp/$h/cache" --work-dir "$tmp/$h/wt" --accel tcg --vms 2 \
		--runs-per-test 2 --workers 2 --run-timeout 120 --json "$@"; }
check() { python3 - "$1" "$culprit" "$2" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert o["culprit"] == sys.argv[2], (o["culprit"], sys.argv[2])
if sys.argv[3] == "replay":
    assert o["builds"] == 0, o["builds"]
    assert all(t["kernel"] == "cached" for t in o["timeline"]), o["timeline"]
PY
}

host a --remote "$url" --log "$tmp/loga" >"$tmp/outa" 2>"$tmp/erra" ||
	fail "host A: $(tail -20 "$tmp/loga"; cat "$tmp/erra")"
check "$tmp/outa" built || fail "host A result: $(cat "$tmp/outa")"
grep -q "given up" "$tmp/erra" && fail "host A gave the live remote up: $(cat "$tmp/erra")"

start=$(date +%s)
host b --remote "$url" --log "$tmp/logb" >"$tmp/outb" 2>"$tmp/errb" ||
	fail "host B: $(tail -20 "$tmp/logb"; cat "$tmp/errb")"
echo "host B (from the server): $(( $(date +%s) - start ))s"
check "$tmp/outb" replay || fail "host B did not replay from the server: $(cat "$tmp/outb")"
# host B made host A's choices: it found A's journal on the server
grep -q "journal of this bisection from the shared cache server" "$tmp/logb" ||
	fail "host B did not get the journal from the server: $(head -5 "$tmp/logb")"

# a dead remote: the bisection still succeeds from the local cache, with a warning
host a --remote "http://127.0.0.1:$dead" --log "$tmp/logd" >"$tmp/outd" 2>"$tmp/errd" ||
	fail "dead remote: $(tail -20 "$tmp/logd"; cat "$tmp/errd")"
check "$tmp/outd" replay || fail "dead remote result: $(cat "$tmp/outd")"
grep -q "given up" "$tmp/errd" || fail "no warning about the dead remote: $(cat "$tmp/errd")"
grep -Eq "errors [1-9]" "$tmp/errd" || fail "errors not counted: $(cat "$tmp/errd")"
kill -0 "$pid" || fail "the server died"
echo ok
