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
# trials naming a single wrong culprit at the engine's confidence (KB_ACC_CONDS=LIST: only
# those conditions).
# KB_ACC_SEED=S: other histories and noise (kb-accuracy --seed S, for the baseline too):
# a rule tuned on the default histories must hold on others (issue 19, pass10.md).
# With "misspec BASE_BUILD" also the control rows of another build's kb-accuracy (e.g. the
# engine before issue 19: same histories and noise, its own defaults) and, per row, the
# wall-time ratio of this build's control row to that one (issue 19: <= 1.15).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
trials=${2:-300}
mode=${3:-}
base=${4:-}
bin="$build/bench/kb-accuracy"
[ -x "$bin" ] || { echo "run.sh: no '$bin'; build first: bash scripts/build.sh $build" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=()
seed=()
if [ -n "${KB_ACC_SEED:-}" ]; then
	case $KB_ACC_SEED in
	*[!0-9]*) echo "run.sh: KB_ACC_SEED must be a number, not '$KB_ACC_SEED'" >&2; exit 2 ;;
	esac
	seed=(--seed "$KB_ACC_SEED")
fi
if [ "$mode" = misspec ]; then
	# shellcheck disable=SC2054 # commas: kb-accuracy's lists
	args=(--engine-only --q 0.5,0.2 --k 1,4 --cond "${KB_ACC_CONDS:-control,eps1,eps3,drift,aon,burst,all}")
fi
"$bin" --trials "$trials" "${seed[@]}" --shape linear --verbose "${args[@]}" >"$out/linear" 2>"$out/linear.miss" &
"$bin" --trials "$trials" "${seed[@]}" --shape merges --verbose "${args[@]}" >"$out/merges" 2>"$out/merges.miss" &
wait
cat "$out/linear"
tail -n +2 "$out/merges"
echo
echo "misses of kbisect (history seed, culprit, what was reported; -1 = only a set):"
grep -h "kbisect" "$out/linear.miss" "$out/merges.miss" || echo "none"
if [ "$mode" = misspec ] && [ -n "$base" ]; then
	bbin="$base/bench/kb-accuracy"
	[ -x "$bbin" ] || { echo "run.sh: no '$bbin'; build the baseline first" >&2; exit 1; }
	for s in linear merges; do
		"$bbin" --trials "$trials" "${seed[@]}" --shape $s --engine-only --q 0.5,0.2 --k 1,4 \
			>"$out/base.$s" 2>/dev/null &
	done
	wait
	echo
	echo "control wall time against $base (same histories and noise):"
	echo "shape      q  k  wall_h base  wall_h now  now/base"
	# base rows: shape q k strategy trials ... wall_h (field 11); ours: cond first (12)
	awk 'FNR == 1 { next } NR == FNR { b[$1 " " $2 " " $3] = $11; next }
	     $1 == "control" && ($2 " " $3 " " $4) in b {
		k = $2 " " $3 " " $4
		printf "%-7s %5s %2s  %11.2f  %10.2f  %8.3f\n", $2, $3, $4, b[k], $12, $12 / b[k] }' \
		<(cat "$out/base.linear"; tail -n +2 "$out/base.merges") \
		<(cat "$out/linear"; tail -n +2 "$out/merges")
fi
