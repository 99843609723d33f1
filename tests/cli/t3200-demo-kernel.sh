#!/usr/bin/env bash
# tests/cli/t3200-demo-kernel.sh - end to end on a REAL kernel: the demo's scenario
# (scripts/demo-scenario/scenario.py) at CI size - 6 synthetic commits on top of
# linux-source-6.1, one of them adding a flaky NULL dereference to prctl() - bisected by
# `kbisect bisect` with real tinyconfig builds and real QEMU runs (TCG) of a reproducer
# that also fails on its own with SYZFAIL now and then. It must blame the right commit,
# and the same command again must answer from the cache (no build).
# kb-test-labels: vm slow demo
# kb-test-timeout: 2400
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ ! -f /usr/src/linux-source-6.1.tar.xz ] &&
   [ ! -f "${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}/.git/kbisect-import-done" ]; then
	echo "no linux-source-6.1 (scripts/install-deps.sh installs it): skipping" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; git -C "${repo:-/nonexistent}" worktree prune 2>/dev/null || true' EXIT
repo=$(bash "$src/scripts/kernel-repo.sh")
scen=$(python3 "$src/scripts/demo-scenario/scenario.py" --repo "$repo" --dir "$tmp/scen" \
	--name t3200 --commits 6 --bug-a-at 0.5 --bug-b-at 0.2 --seed 3200)
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$scen" "$1"; }
bad=$(field bad) culprit=$(field culprit_a)
[ "$(git -C "$repo" rev-list --count "import..$bad")" = 6 ] || fail "scenario: not 6 commits"
git -C "$repo" show "$culprit" -- kernel/sys.c | grep '^+.*leader = NULL' >/dev/null ||
	fail "scenario: the culprit does not add the bug"

kb() {
	"$KBISECT" bisect --repo "$repo" --good import --bad "$bad" --config "$(field config)" \
		--repro "$(field repro_a)" --cache "$tmp/cache" --work-dir "$tmp/work" \
		--workers 1 --vms 2 --accel tcg --run-timeout 30 --json "$@"
}
start=$(date +%s)
kb --log "$tmp/log" >"$tmp/out" 2>"$tmp/err" || fail "bisect: $(tail -30 "$tmp/log"; cat "$tmp/err")"
echo "first bisection: $(( $(date +%s) - start ))s"
cat "$tmp/log"
# the right commit, surely, from real crashes of the kernel (tests/cli/lib/bisect-result.py)
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/out" "$culprit" ||
	fail "result: $(cat "$tmp/out")"
grep -q "run #.*: crashed: " "$tmp/log" || fail "no crash in the log"

start=$(date +%s)
kb --log "$tmp/log2" >"$tmp/out2" 2>"$tmp/err" ||
	fail "second bisect: $(tail -20 "$tmp/log2"; cat "$tmp/err")"
echo "second bisection: $(( $(date +%s) - start ))s"
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/out2" "$culprit" --culprit-only --builds 0 ||
	fail "resume: $(cat "$tmp/out2")"
git -C "$repo" update-ref -d refs/heads/kbisect-t3200 || true
echo ok
