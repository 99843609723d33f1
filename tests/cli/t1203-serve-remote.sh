#!/usr/bin/env bash
# t1203-serve-remote.sh - two kbisect clients with separate local caches share objects
# through one `kbisect cache serve` (`kbisect remote push/get/status`), configured by
# --remote, $KBISECT_REMOTE or the config file; a dead remote never breaks a local hit.
# (Build records and test results through the server: tests/net/test_remote.c.)
# kb-test-labels: integration
# kb-test-timeout: 120
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
K=$KBISECT T=$tmp
export HOME=$T KBISECT_CONFIG=$T/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE

printf 'team-token\n' >"$T/tokens"
printf 'team-token\n' >"$T/my-token"
serve_start --cache "$T/server" --auth-token-file "$T/tokens" --duration 100 --quiet
URL="$URL/team"

set +e
"$K" remote status >/dev/null 2>&1; [ $? -eq 129 ] || fail "no remote configured: not 129"
"$K" remote frobnicate --remote "$URL" >/dev/null 2>&1; [ $? -eq 129 ] || fail "bad subcommand: not 129"
set -e
"$K" remote --help | grep "kbisect remote push" >/dev/null || fail "help"

head -c 2500000 /dev/urandom >"$T/vmlinux"
ID=$("$K" cache put --cache="$T/a" "$T/vmlinux" | tail -1 | cut -c1-64)
[ "$ID" = "$(sha256sum "$T/vmlinux" | cut -c1-64)" ] || fail "cache put did not print the id"

# client A pushes with --remote and a token from the environment; without it: 401
set +e
"$K" remote push --cache="$T/a" --remote "$URL" "$ID" 2>"$T/push.err"
[ $? -eq 1 ] || fail "push without token did not fail"
set -e
grep -q "401" "$T/push.err" || fail "push without token: no 401 in '$(cat "$T/push.err")'"
KBISECT_REMOTE_TOKEN=team-token "$K" remote push --cache="$T/a" --remote "$URL" "$ID" 2>"$T/push.err" \
	|| { cat "$T/push.err"; fail "push"; }
grep -q "uploads 1" "$T/push.err" || fail "push did not upload"

# client B, configured by the config file, gets it through the server
printf 'remote = %s\nremote-token-file = %s\n' "$URL" "$T/my-token" >"$T/config"
KBISECT_CONFIG=$T/config "$K" remote get --cache="$T/b" "$ID" -o "$T/out" 2>"$T/get.err" \
	|| { cat "$T/get.err"; fail "get through the server"; }
cmp "$T/vmlinux" "$T/out" || fail "object differs"
grep -q "hits 1" "$T/get.err" || fail "not a remote hit"
"$K" cache get --cache="$T/b" "$ID" -o "$T/out2" || fail "not stored locally by the read-through"
cmp "$T/vmlinux" "$T/out2" || fail "local copy differs"

# status, with the environment variable
KBISECT_REMOTE=$URL KBISECT_REMOTE_TOKEN=team-token "$K" remote status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["store"]["objects"] == 1, d
assert d["auth"] is True, d
' || fail "status"

# a dead remote: a local hit still works, a miss fails cleanly and says why
"$K" remote get --cache="$T/b" --remote http://127.0.0.1:1 "$ID" -o "$T/out3" 2>/dev/null || fail "local hit with dead remote"
set +e
"$K" remote get --cache="$T/b" --remote http://127.0.0.1:1 \
	0000000000000000000000000000000000000000000000000000000000000000 -o "$T/x" 2>"$T/dead.err"
[ $? -eq 1 ] || fail "miss with dead remote not exit 1"
set -e
grep -q "errors 1" "$T/dead.err" || fail "dead remote error not counted"
[ ! -e "$T/x" ] || fail "file written for a missing object"
echo "ok t1203"
