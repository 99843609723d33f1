#!/usr/bin/env bash
# bench/accuracy/trace.sh - where a row's rounds go, from the engine's own log.
#
#   bash bench/accuracy/trace.sh BUILD TRIALS [kb-accuracy options...]
#   e.g. bash bench/accuracy/trace.sh build 100 --q 0.2 --k 1 --cond control
#
# Runs BUILD's kb-accuracy on linear histories (--shape linear --engine-only, plus the
# options given) with KB_SIM_DEBUG_LOG=1 and reads the engine's log of every bisection
# that named a culprit. Per bisection, on average: rounds and tests; tests of the named
# culprit's parent (on linear histories its number minus one); tests run while the top
# stood at 0.9 or more, by what they tested (the parent, a commit below it, the culprit, one
# above); bisections in which the stop rule asked one more boot of a parent whose clean
# tests could be frozen ones (FROZEN_MISS); rounds that took longer than the usual one
# (the most common round time: they waited for a build). Issue 19, ninth pass
# (bench/accuracy/issue19/pass9.md) used it on control, q = 0.2, k = 1.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD TRIALS [kb-accuracy options...]" >&2
	exit 2
fi
build=$1 trials=$2
shift 2
bin="$build/bench/kb-accuracy"
if [ ! -x "$bin" ]; then
	echo "$0: no kb-accuracy in $build/bench (build it: cmake --build $build --target kb-accuracy)" >&2
	exit 1
fi

KB_SIM_DEBUG_LOG=1 "$bin" --trials "$trials" --shape linear --engine-only "$@" 2>&1 | awk '
function secs(s,   t) {
	t = 0
	if (match(s, /[0-9]+h/)) t += 3600 * substr(s, RSTART, RLENGTH - 1)
	if (match(s, /[0-9]+m/)) t += 60 * substr(s, RSTART, RLENGTH - 1)
	if (match(s, /[0-9]+s/)) t += substr(s, RSTART, RLENGTH - 1)
	return t
}
function flush(   i, c, k) {
	if (!named) { reset(); return }
	n++
	c = named
	rounds += nd
	tests += nt
	for (i = 1; i <= nt; i++) {
		if (tested[i] == c - 1) parent++
		if (prevp[i] >= 0.9) {
			k = tested[i] == c - 1 ? "parent" : tested[i] == c ? "culprit" : \
			    tested[i] < c ? "below" : "above"
			late[k]++
		}
	}
	frozen += asked_frozen > 0
	for (i = 1; i <= nd; i++)
		dur[d[i]]++
	reset()
}
function reset() { named = 0; nt = 0; nd = 0; asked_frozen = 0; lastp = 0; last_el = 0 }
BEGIN { reset() }
/^bisecting cause commit/ { flush() }
/^testing commit #/ { sub(/^testing commit #/, ""); tested[++nt] = $1 + 0; prevp[nt] = lastp }
/^round [0-9]+: .* elapsed / {
	for (i = 1; i <= NF; i++) {
		if ($i == "top") lastp = $(i + 2) + 0
		if ($i != "elapsed")
			continue
		el = $(i + 1)
		sub(/,$/, "", el)
		e = secs(el)
		d[++nd] = e - last_el
		last_el = e
	}
}
/holds the confidence .* could each be one frozen outcome/ { asked_frozen++ }
/^#[0-9]+ is the first bad commit/ { named = substr($1, 2) + 0 }
/^cond / { hdr = 1; next }
hdr && NF > 10 { row = $0 }
END {
	flush()
	if (!n) { print "no bisection named a culprit"; exit 1 }
	mode = 0
	for (t in dur) if (!mode || dur[t] > dur[mode]) mode = t + 0
	for (t in dur)
		if (t + 0 > mode)
			slow += dur[t]
	printf "bisections that named a culprit: %d\n", n
	printf "rounds per bisection: %.2f, tests %.2f\n", rounds / n, tests / n
	printf "tests of the named culprit'"'"'s parent: %.2f\n", parent / n
	printf "tests while the top stood at 0.9 or more: parent %.2f, below it %.2f, " \
	       "culprit %.2f, above %.2f\n", late["parent"] / n, late["below"] / n,
	       late["culprit"] / n, late["above"] / n
	printf "bisections in which a frozen-test check asked one more boot: %d of %d\n", frozen, n
	printf "rounds longer than the usual %ds (waited for a build): %.2f per bisection\n",
	       mode, slow / n
	if (row != "") print "row: " row
}'
