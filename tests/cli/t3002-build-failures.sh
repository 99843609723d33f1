#!/usr/bin/env bash
# tests/cli/t3002-build-failures.sh - failed builds of the mini kernel (real builds, a
# real `kbisect cache serve`): a tree with a syntax error is remembered (cached_failure)
# and written through to the server; failures of the host (a missing tool, via sh and
# via make; a build killed by a signal; ccache misconfigured; a full disk, on a small
# tmpfs when root) are infra: exit 1 saying "because of the host", "infra": true, not
# recorded, not written through, built again next time. A script of the tree that is
# missing is the tree's. `kbisect build --retry-failed` replaces a recorded failure (on
# the server too); `kbisect cache forget --build-key|--rev` drops records, locally and
# with --remote on the server, saying which. $KBISECT_KCONFIG and its old name.
# kb-test-labels: integration
# kb-test-timeout: 180
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
export HOME=$tmp KBISECT_CONFIG=$tmp/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE

repo=$tmp/repo
mkdir -p "$repo"
cp -r "$src/tests/builder/mini_kernel/." "$repo/"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m initial
serve_start --cache "$tmp/server" --quiet

# kb CACHE ARGS...: kbisect build of the mini kernel into cache CACHE
kb() { local c=$1; shift
  "$KBISECT" build --repo "$repo" --config "$src/tests/builder/mini_kernel.config" \
    --image bzImage --cache "$tmp/$c" --work-dir "$tmp/work" --jobs 1 "$@"; }
field() { python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o.get(sys.argv[2]))' "$1" "$2"; }
# expect_host CACHE ARGS...: the build fails because of the host; nothing recorded
expect_host() {
  set +e; out=$(kb "$@" --json 2>"$tmp/err"); rc=$?; set -e
  [ $rc -eq 1 ] || fail "host failure ($*): exit $rc: $out $(cat "$tmp/err")"
  grep -q "because of the host" "$tmp/err" || fail "host failure ($*) not said: $(cat "$tmp/err")"
  [ "$(field "$out" infra)" = True ] || fail "host failure ($*) not infra: $out"
  [ "$(field "$out" how)" = built ] || fail "host failure ($*): $out"
  out=$(kb "$@" --json --predict)
  [ "$(field "$out" how)" = needs_build ] || fail "host failure ($*) was recorded: $out"
}
build='sh scripts/build.sh'

# --- the tree's failure: remembered, shared ---
echo 'int broken(void) { return nope; }' >> "$repo/lib/lib.c"
git -C "$repo" commit -q -am "broken"
broken=$(git -C "$repo" rev-parse HEAD)
set +e; out=$(kb a --rev HEAD --build-cmd "$build" --remote "$URL" --json 2>"$tmp/err"); rc=$?; set -e
[ $rc -eq 1 ] || fail "broken tree: exit $rc"
[ "$(field "$out" infra)" = False ] || fail "tree failure called infra: $out"
[[ "$(field "$out" error)" == *"lib/lib.c"*"nope"* ]] || fail "first error: $out"
set +e; out=$(kb b --rev HEAD --build-cmd "$build" --remote "$URL" --json 2>/dev/null); set -e
[ "$(field "$out" how)" = cached_failure ] || fail "tree failure not shared through the server: $out"
# --retry-failed builds again (and fails again: the same record)
set +e; out=$(kb a --rev HEAD --build-cmd "$build" --retry-failed --json 2>/dev/null); set -e
[ "$(field "$out" how)" = built ] || fail "--retry-failed did not build: $out"
git -C "$repo" reset -q --hard HEAD~1

# --- host failures: infra, not recorded, not written through ---
expect_host a --rev HEAD --build-cmd "kbisect-test-no-such-flex x.l && $build" --remote "$URL"
grep -q "kbisect-test-no-such-flex: not found" "$tmp/err" || fail "missing tool not named: $(cat "$tmp/err")"
out=$(kb c --rev HEAD --build-cmd "kbisect-test-no-such-flex x.l && $build" --remote "$URL" --json --predict)
[ "$(field "$out" how)" = needs_build ] || fail "host failure written through to the server: $out"
printf 'all:\n\tkbisect-test-no-such-flex x.l\n' > "$tmp/flex.mk"
expect_host a --rev HEAD --build-cmd "make -s -f $tmp/flex.mk"
expect_host a --rev HEAD --build-cmd "$build && kill -KILL \$\$"
grep -q "killed by signal 9" "$tmp/err" || fail "signal not named: $(cat "$tmp/err")"
if command -v ccache >/dev/null; then
  CCACHE_MAXSIZE=bogus expect_host a --rev HEAD --build-cmd "$build" --ccache ccache --remote "$URL"
  grep -q "ccache" "$tmp/err" || fail "ccache not named: $(cat "$tmp/err")"
fi
mnt=$tmp/mnt
mkdir -p "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m tmpfs "$mnt" 2>/dev/null; then
  serve_exit_hook() { umount "$mnt" 2>/dev/null || true; }
  set +e
  out=$("$KBISECT" build --repo "$repo" --config "$src/tests/builder/mini_kernel.config" \
    --image bzImage --cache "$tmp/a" --work-dir "$mnt/work" --jobs 1 --rev HEAD --json \
    --build-cmd "head -c 4000000 /dev/zero > big.bin; $build" 2>"$tmp/err"); rc=$?
  set -e
  umount "$mnt"
  [ $rc -eq 1 ] && [ "$(field "$out" infra)" = True ] || fail "full disk: exit $rc: $out $(cat "$tmp/err")"
  grep -q "disk full" "$tmp/err" || fail "full disk not said: $(cat "$tmp/err")"
else
  echo "skip: the full-disk case needs root (mount -t tmpfs)"
fi

# --- the tree's own script missing: the tree's failure ---
set +e; out=$(kb a --rev HEAD --build-cmd "scripts/nonexistent.sh" --json 2>/dev/null); set -e
[ "$(field "$out" infra)" = False ] || fail "missing tree script called infra: $out"
[[ "$(field "$out" error)" == *"scripts/nonexistent.sh: not found"* ]] || fail "error: $out"

# --- a failure recorded wrongly (a flaky step an older kbisect kept): --retry-failed
# replaces it, on the server too; forget drops one ---
flaky="test -e $tmp/fixed || { echo 'lib/lib.c:1:1: error: flaky'; exit 2; }; $build"
set +e; out=$(kb a --rev HEAD --build-cmd "$flaky" --remote "$URL" --json 2>/dev/null); set -e
[ "$(field "$out" infra)" = False ] || fail "flaky: $out"
key=$(field "$out" build_key)
touch "$tmp/fixed"
set +e; out=$(kb d --rev HEAD --build-cmd "$flaky" --remote "$URL" --json 2>/dev/null); set -e
[ "$(field "$out" how)" = cached_failure ] || fail "flaky failure not on the server: $out"
out=$(kb d --rev HEAD --build-cmd "$flaky" --remote "$URL" --retry-failed --json)
[ "$(field "$out" how)" = built ] && [ "$(field "$out" ok)" = True ] || fail "--retry-failed: $out"
out=$(kb e --rev HEAD --build-cmd "$flaky" --remote "$URL" --json)
[ "$(field "$out" how)" = cache_hit ] || fail "the server kept the old failure: $out"
set +e; out=$(kb a --rev HEAD --build-cmd "$flaky" --json 2>/dev/null); set -e
[ "$(field "$out" how)" = cached_failure ] || fail "a: $out"

# forget --build-key: local and server
"$KBISECT" cache forget --cache="$tmp/a" --remote="$URL" --build-key="$key" > "$tmp/out"
grep -q "$key build record: dropped; remote: dropped" "$tmp/out" || fail "forget: $(cat "$tmp/out")"
out=$(kb a --rev HEAD --build-cmd "$flaky" --json --predict)
[ "$(field "$out" how)" = needs_build ] || fail "forgotten record still used: $out"
out=$(kb f --rev HEAD --build-cmd "$flaky" --remote "$URL" --json --predict)
[ "$(field "$out" how)" = needs_build ] || fail "forgotten on the server, still there: $out"
set +e
"$KBISECT" cache forget --cache="$tmp/a" --remote="$URL" --build-key="$key" > "$tmp/out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "not in the local cache; remote: not there" "$tmp/out" ||
  fail "forget twice: exit $rc: $(cat "$tmp/out")"

# forget --rev: every record of that revision's tree (default --repo: the current
# directory's repository); with --remote on the server too
(cd "$repo" && "$KBISECT" cache forget --cache "$tmp/d" --rev HEAD) > "$tmp/out" 2>&1 ||
  fail "forget --rev: $(cat "$tmp/out")"
grep -q "(build of HEAD, tree .*): dropped" "$tmp/out" || fail "forget --rev: $(cat "$tmp/out")"
set +e
(cd "$repo" && "$KBISECT" cache forget --cache "$tmp/d" --rev HEAD) > "$tmp/out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "no build recorded" "$tmp/out" || fail "forget --rev twice: $(cat "$tmp/out")"
"$KBISECT" cache forget --cache "$tmp/a" --repo "$repo" --rev "$broken" --remote "$URL" > "$tmp/out"
grep -q "(failed build of $broken, tree .*): dropped; remote: dropped" "$tmp/out" ||
  fail "forget --rev --remote of the broken commit: $(cat "$tmp/out")"
out=$(kb h --rev "$broken" --build-cmd "$build" --remote "$URL" --json --predict)
[ "$(field "$out" how)" = needs_build ] || fail "broken commit still recorded on the server: $out"

# usage
set +e
"$KBISECT" cache forget --cache "$tmp/a" >/dev/null 2>&1; rc1=$?
"$KBISECT" cache forget --cache "$tmp/a" --build-key=xyz >/dev/null 2>&1; rc2=$?
set -e
[ $rc1 -eq 129 ] && [ $rc2 -eq 129 ] || fail "forget usage exits $rc1 $rc2"
"$KBISECT" cache forget --help | grep -- "--build-key=<key>.*build key to drop" >/dev/null ||
  "$KBISECT" cache forget --help | grep -- "build key to drop" >/dev/null || fail "forget --help"

# the kernel config of a custom build command: $KBISECT_KCONFIG, and $KBISECT_CONFIG
# (its old name) still set to the same file
out=$(kb g --rev HEAD --build-cmd 'cmp "$KBISECT_KCONFIG" "$KBISECT_CONFIG" && sh scripts/build.sh' --json)
[ "$(field "$out" ok)" = True ] || fail "KBISECT_KCONFIG: $out"
echo "t3002-build-failures: ok"
