#!/usr/bin/env bash
# tests/cli/t3111-bisect-mode-options.sh - options of `kbisect bisect` that meet another
# mode (fix bisection, --simulate, --executor slurm, --minimize-config) are honoured or
# refused, never silently ignored. No kernels: each case stops before the first build.
# kb-test-labels: unit
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

unset KBISECT_REMOTE
export HOME="$tmp" XDG_CONFIG_HOME="$tmp"
git init -q "$tmp/r"
for i in 1 2 3; do
	echo "$i" >"$tmp/r/f"
	git -C "$tmp/r" add f
	git -C "$tmp/r" commit -qm "c$i"
done
echo "CONFIG_X=y" >"$tmp/config"
echo "int main(void) { return 0; }" >"$tmp/repro.c"

# --fix with --executor slurm: the slurm executor is used (it needs --remote), not the
# local one
set +e
"$KBISECT" bisect --fix --repo "$tmp/r" --crashing HEAD~1 --fixed HEAD --config "$tmp/config" \
	--repro "$tmp/repro.c" --cache "$tmp/cache" --executor slurm --log "$tmp/log" \
	>/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "--fix --executor slurm: exit $rc: $(cat "$tmp/err")"
grep -q "executor slurm needs a cache server" "$tmp/err" ||
	fail "--fix --executor slurm ran without it: $(cat "$tmp/err")"

# --fix --minimize-config: the config is minimized on the crashing commit first (here
# its SMALL is missing: that error, not a bisection with the full config)
set +e
"$KBISECT" bisect --fix --repo "$tmp/r" --crashing HEAD~1 --fixed HEAD --config "$tmp/config" \
	--repro "$tmp/repro.c" --cache "$tmp/cache" --minimize-config --baseline "$tmp/none" \
	--log "$tmp/log" >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "--fix --minimize-config: exit $rc: $(cat "$tmp/err")"
grep -q "cannot read SMALL" "$tmp/err" ||
	fail "--fix --minimize-config did not minimize: $(cat "$tmp/err")"

# options that mean nothing in a mode are usage errors (129), found before the log is
# opened
usage() { # args: what, then the arguments
	local what=$1 rc
	shift
	set +e
	"$KBISECT" bisect "$@" --log "$tmp/ulog" >/dev/null 2>"$tmp/err"; rc=$?
	set -e
	[ $rc -eq 129 ] || fail "$what: exit $rc, want 129: $(cat "$tmp/err")"
	[ ! -e "$tmp/ulog" ] || fail "$what: the log was opened before the usage error"
}
usage "--simulate --skip" --simulate --skip c00010
usage "--simulate --executor" --simulate --executor slurm
usage "--simulate --minimize-config" --simulate --minimize-config --baseline "$tmp/config"
usage "--simulate -- path" --simulate -- kernel/
usage "--partial-q without --fix" --simulate --partial-q 0.2
usage "--minimize-config without --baseline" --repo "$tmp/r" HEAD~1..HEAD \
	--config "$tmp/config" --repro "$tmp/repro.c" --minimize-config
echo ok
