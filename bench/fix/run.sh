#!/usr/bin/env bash
# bench/fix/run.sh - fix bisection (issue 22) on simulated histories: kbisect --fix vs
# git bisect (--term-old crashing --term-new fixed, any crash = crashing) and syzkaller's
# rule, with and without a partial fix before the fix. See bench/fix/README.md.
#   bench/fix/run.sh [BUILD_DIR] [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/../.."
b=${1:-build}
trials=${2:-100}
cmake --build "$b" --target kb-fix-accuracy >/dev/null
for shape in linear merges; do
	for q in 0.5 0.2; do
		"$b/bench/kb-fix-accuracy" --trials "$trials" --shape "$shape" --q "$q"
	done
	"$b/bench/kb-fix-accuracy" --trials "$trials" --shape "$shape" --q 0.6 --partial-q 0.15
	# partial fixes to a 10th and a 20th of q (issue 22, t3201's defect)
	for pq in "0.5 0.05" "0.5 0.025" "0.2 0.02" "0.2 0.01"; do
		set -- $pq
		"$b/bench/kb-fix-accuracy" --trials "$trials" --shape "$shape" --q "$1" --partial-q "$2"
	done
	"$b/bench/kb-fix-accuracy" --trials "$trials" --shape "$shape" --q 0.5 --eps 0.01
	"$b/bench/kb-fix-accuracy" --trials "$trials" --shape "$shape" --q 0.5 --k 4
done
