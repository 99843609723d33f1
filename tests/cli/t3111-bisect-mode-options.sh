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

# --fix with a pathspec the crashing commit does not touch: it stays (it is calibrated
# on), the bisection starts; builds fail at once here (--build-cmd false): the crashing
# commit does not build, said as such
echo 1 >"$tmp/r/b"
git -C "$tmp/r" add b
git -C "$tmp/r" commit -qm "touches b only"
echo 4 >"$tmp/r/f"
git -C "$tmp/r" commit -qam "touches f"
fixopts=(--fix --repo "$tmp/r" --crashing HEAD~1 --fixed HEAD --config "$tmp/config"
	--repro "$tmp/repro.c" --cache "$tmp/cache" --build-cmd false --image bzImage
	--work-dir "$tmp/wt" --prebuild 0)
set +e
"$KBISECT" bisect "${fixopts[@]}" --log "$tmp/log2" -- f >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "--fix -- f: exit $rc: $(cat "$tmp/err")"
grep -q "^pathspec: 0 of 2 commits left out" "$tmp/log2" ||
	fail "--fix -- f: $(cat "$tmp/err"; cat "$tmp/log2")"
grep -q "crashing commit [0-9a-f]* does not build; give a --crashing" "$tmp/err" ||
	fail "--fix -- f: $(cat "$tmp/err")"
grep -q "^bisecting fixing commit since " "$tmp/log2" || fail "--fix log: $(head -5 "$tmp/log2")"
# a --skip range leaves in the ends the bisection tests (the crashing, the fixed commit)
set +e
"$KBISECT" bisect "${fixopts[@]}" --log "$tmp/log5" --skip HEAD~2..HEAD >/dev/null 2>"$tmp/err"
set -e
grep -q "^--skip HEAD~2..HEAD: 0 commits of the range left out" "$tmp/log5" ||
	fail "--fix --skip HEAD~2..HEAD: $(cat "$tmp/err")"
# the fixed commit cannot be skipped by name: fix bisection checks it
set +e
"$KBISECT" bisect "${fixopts[@]}" --log "$tmp/log3" --skip HEAD >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "--fix --skip HEAD: exit $rc: $(cat "$tmp/err")"
grep -q "cannot skip the fixed commit" "$tmp/err" || fail "--fix --skip HEAD: $(cat "$tmp/err")"

# Ctrl-C before the rounds (here in --minimize-config's first build): aborts at once,
# exit 130, the build it was running killed (not left behind, still building)
mark="t3111-build-$$"
cp "$tmp/config" "$tmp/small"
"$KBISECT" bisect --repo "$tmp/r" HEAD~2..HEAD --config "$tmp/config" --repro "$tmp/repro.c" \
	--cache "$tmp/cache" --build-cmd "sleep 60; : $mark" --image bzImage \
	--work-dir "$tmp/wt" --prebuild 0 --minimize-config --baseline "$tmp/small" \
	--log "$tmp/log4" >/dev/null 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do # the build has started
	pgrep -f "sh -c sleep 60; : $mark" >/dev/null && break
	sleep 0.2
done
pgrep -f "sh -c sleep 60; : $mark" >/dev/null || { kill $pid; fail "the build did not start"; }
kill -INT $pid
set +e
wait $pid; rc=$?
set -e
[ $rc -eq 130 ] || fail "Ctrl-C in --minimize-config: exit $rc: $(cat "$tmp/err")"
sleep 0.5 # (the pool's reaper, also a kbisect with $mark in its arguments, lives on 1 s)
! pgrep -f "sh -c sleep 60; : $mark" >/dev/null ||
	{ kill -- -"$(pgrep -f "sh -c sleep 60; : $mark")"; fail "Ctrl-C left the build running"; }

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
usage "--simulate --fix --crashing" --simulate --fix --crashing c00001
usage "--partial-q without --fix" --simulate --partial-q 0.2
usage "--minimize-config without --baseline" --repo "$tmp/r" HEAD~1..HEAD \
	--config "$tmp/config" --repro "$tmp/repro.c" --minimize-config
echo ok
