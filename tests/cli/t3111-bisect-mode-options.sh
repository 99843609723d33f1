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
echo ok
