#!/usr/bin/env bash
# t1210-build-ccache-https.sh - ccache (Debian's 4.7.5) has no HTTPS client: `kbisect build
# --remote https://...` must not hand ccache an https:// remote storage (every compile
# would fail and the failure be stored as the kernel's). The build runs the real ccache
# on the mini kernel, succeeds, says on stderr that ccache stays local, and never shows
# a --ccache-remote password; an http:// remote still reaches ccache.
# kb-test-labels: integration
# kb-test-timeout: 120
set -euo pipefail
K=${KBISECT:?set KBISECT to the kbisect binary}
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v ccache >/dev/null || { echo "skip: ccache not installed (scripts/install-deps.sh)"; exit 0; }
T=$(mktemp -d /tmp/kbtest-t1210-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export HOME=$T KBISECT_CONFIG=$T/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE CCACHE_REMOTE_STORAGE
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
# a port nobody listens on: bind one, note it, close it
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

repo=$T/repo
mkdir -p "$repo"
cp -r "$src/tests/builder/mini_kernel/." "$repo/"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m initial
# run <name> ...: a build with its own cache; the build command notes ccache's remote
run() { local h=$1; shift
	"$K" build --repo "$repo" --config "$src/tests/builder/mini_kernel.config" \
		--build-cmd "echo \"\${CCACHE_REMOTE_STORAGE-unset}\" >$T/$h.ccenv; sh scripts/build.sh" \
		--image bzImage --cache "$T/$h/cache" --work-dir "$T/$h/work" --jobs 1 \
		--ccache ccache --json "$@"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

out=$(run https --rev HEAD --remote "https://127.0.0.1:$DEAD" 2>"$T/https.err") \
	|| { cat "$T/https.err"; fail "build with an https remote failed"; }
[ "$(field "$out" how)" = built ] || fail "https remote: $out"
[ "$(field "$out" ok)" = True ] || fail "https remote: the build failed: $out"
[ "$(cat "$T/https.ccenv")" = unset ] || fail "ccache was given '$(cat "$T/https.ccenv")'"
grep -q "ccache stays local for remote storage 'https://127.0.0.1:$DEAD/ccache" "$T/https.err" \
	|| { cat "$T/https.err"; fail "no note that ccache stays local"; }
[ "$(ls "$T/https/cache/ccache" | wc -l)" -gt 0 ] || fail "ccache did not run locally"

# an explicit https --ccache-remote next to an http one: the https one goes, quietly
out=$(run mixed --rev HEAD --ccache-remote "https://u:s3cret@127.0.0.1:$DEAD/ccache http://127.0.0.1:$DEAD/ccache|layout=flat" \
	2>"$T/mixed.err") || { cat "$T/mixed.err"; fail "build with a mixed --ccache-remote"; }
[ "$(cat "$T/mixed.ccenv")" = "http://127.0.0.1:$DEAD/ccache|layout=flat" ] \
	|| fail "ccache was given '$(cat "$T/mixed.ccenv")'"
grep -q "ccache stays local for remote storage 'https://127.0.0.1:$DEAD/ccache'" "$T/mixed.err" \
	|| { cat "$T/mixed.err"; fail "no note for --ccache-remote https"; }
! grep -q s3cret "$T/mixed.err" || fail "the password of the URL was printed"

# an http remote still reaches ccache (a dead one never fails the build)
out=$(run http --rev HEAD --remote "http://127.0.0.1:$DEAD" 2>"$T/http.err") \
	|| { cat "$T/http.err"; fail "build with an http remote failed"; }
[ "$(cat "$T/http.ccenv")" = "http://127.0.0.1:$DEAD/ccache|layout=bazel" ] \
	|| fail "http remote: ccache was given '$(cat "$T/http.ccenv")'"
! grep -q "ccache stays local" "$T/http.err" || fail "note for an http remote"
echo "ok t1210"
