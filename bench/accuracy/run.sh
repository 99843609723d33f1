#!/usr/bin/env bash
# bench/accuracy/run.sh [BUILD_DIR] [TRIALS] [misspec] - the accuracy table of issue 6:
# kbisect's engine, plain git bisect (any crash = bad, N = 10) and syzkaller's rule on
# synthetic linear and merge-heavy histories of 500-5,000 commits, q in {0.9, 0.5, 0.2,
# 0.1}, 5% SYZFAIL-like infra errors, 2% lost runs, 1% unrelated crashes, 1% unbuildable
# commits, k in {1, 4, 8}. Simulated wall time: 7 min per build, 9 min per test round.
# The column t/syz is the wall-time ratio against syzkaller's rule at the same k, measured
# in the same run; bound_h is the least mean wall time any always-right strategy could
# take (README.md, "The bound"). Runs the two shapes in parallel (2 cores).
# With "misspec" (issue 19): the engine alone at q in {0.5, 0.2}, k in {1, 4}, under each
# condition of a reproducer that does not behave like the model (control, eps1, eps3,
# drift, aon, burst, all; see kb-accuracy --help and README.md); wrong% is the share of
# trials naming a single wrong culprit at the engine's confidence.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
trials=${2:-300}
mode=${3:-}
bin="$build/bench/kb-accuracy"
[ -x "$bin" ] || { echo "run.sh: no '$bin'; build first: bash scripts/build.sh $build" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=()
if [ "$mode" = misspec ]; then
	args=(--engine-only --q 0.5,0.2 --k 1,4 --cond control,eps1,eps3,drift,aon,burst,all)
fi
"$bin" --trials "$trials" --shape linear --verbose "${args[@]}" >"$out/linear" 2>"$out/linear.miss" &
"$bin" --trials "$trials" --shape merges --verbose "${args[@]}" >"$out/merges" 2>"$out/merges.miss" &
wait
cat "$out/linear"
tail -n +2 "$out/merges"
echo
echo "misses of kbisect (history seed, culprit, what was reported; -1 = only a set):"
grep -h "kbisect" "$out/linear.miss" "$out/merges.miss" || echo "none"
