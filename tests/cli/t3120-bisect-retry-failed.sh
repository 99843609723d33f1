#!/usr/bin/env bash
# tests/cli/t3120-bisect-retry-failed.sh - `kbisect bisect --retry-failed`: a bisection
# whose cache holds a recorded failed build of its bad commit takes the record without
# it (the build command does not run, the log says the failure was recorded) and builds
# the commit again with it (the command runs, the new failure replaces the record). The
# build command is a real one that fails like a compiler error, so no kernel boots: each
# bisection stops at "bad commit ... does not build". --retry-failed is refused with
# --simulate and --executor slurm.
# kb-test-labels: integration
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

unset KBISECT_REMOTE
export HOME="$tmp" XDG_CONFIG_HOME="$tmp"
git init -q "$tmp/r"
for i in 1 2 3 4; do
	echo "$i" >"$tmp/r/f"
	git -C "$tmp/r" add f
	git -C "$tmp/r" commit -qm "c$i"
done
good=$(git -C "$tmp/r" rev-parse HEAD~3)
bad=$(git -C "$tmp/r" rev-parse HEAD)
echo "CONFIG_X=y" >"$tmp/config"
echo "int main(void) { return 0; }" >"$tmp/repro.c"
# each build that runs leaves a line in $tmp/builds, then fails as a compile error does
build="echo \"\$(git rev-parse HEAD)\" >>'$tmp/builds'; echo 'lib/lib.c:1:5: error: expected expression' >&2; exit 1"
builds() { [ -f "$tmp/builds" ] && grep -c "$bad" "$tmp/builds" || echo 0; }

bisect() { # $1: log file; the rest: more options
	local log=$1
	shift
	set +e
	"$KBISECT" bisect --repo "$tmp/r" --bad "$bad" --good "$good" --config "$tmp/config" \
		--repro "$tmp/repro.c" --build-cmd "$build" --image bzImage --cache "$tmp/cache" \
		--work-dir "$tmp/wt" --accel tcg --vms 1 --log "$log" "$@" >/dev/null 2>"$tmp/err"
	rc=$?
	set -e
	[ $rc -eq 1 ] || fail "bisect $*: exit $rc: $(cat "$tmp/err")"
	grep -q "bad commit $bad does not build" "$tmp/err" || fail "bisect $*: $(cat "$tmp/err")"
}

# the first bisection builds the bad commit: the failure is recorded
bisect "$tmp/log1"
[ "$(builds)" -eq 1 ] || fail "first bisection: $(builds) builds of the bad commit"
"$KBISECT" cache stats --cache "$tmp/cache" --json >"$tmp/stats"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["builds"]; assert s["failures"] == 1, s' \
	"$tmp/stats" || fail "no recorded failure: $(cat "$tmp/stats")"

# without --retry-failed the record stands: nothing is built
bisect "$tmp/log2"
[ "$(builds)" -eq 1 ] || fail "without --retry-failed the bad commit was built again"
grep -q "build of $bad.*failed (recorded earlier; --retry-failed builds it again)" "$tmp/log2" ||
	fail "the log does not say the failure was recorded: $(cat "$tmp/log2")"

# with it the bad commit is built again, and the log says it was built
bisect "$tmp/log3" --retry-failed
[ "$(builds)" -eq 2 ] || fail "--retry-failed: $(builds) builds of the bad commit, want 2"
grep -q "build of $bad.*done in .*: failed$" "$tmp/log3" ||
	fail "--retry-failed log: $(cat "$tmp/log3")"
grep -q "recorded earlier" "$tmp/log3" && fail "--retry-failed took the record: $(cat "$tmp/log3")"

# refused where it cannot retry this host's builds
for mode in "--simulate" "--executor slurm"; do
	set +e
	# shellcheck disable=SC2086
	"$KBISECT" bisect $mode --retry-failed --repo "$tmp/r" --bad "$bad" --good "$good" \
		--config "$tmp/config" --repro "$tmp/repro.c" --cache "$tmp/cache" \
		--log /dev/null >/dev/null 2>"$tmp/err"
	rc=$?
	set -e
	[ $rc -ne 0 ] && grep -q -- "--retry-failed" "$tmp/err" ||
		fail "$mode --retry-failed: exit $rc: $(cat "$tmp/err")"
done
echo "t3120-bisect-retry-failed: ok"
