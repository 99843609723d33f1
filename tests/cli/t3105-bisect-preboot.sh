#!/usr/bin/env bash
# tests/cli/t3105-bisect-preboot.sh - next candidates whose kernel is at hand are
# pre-booted: while a round's tests run, the pool boots their kernel in the background
# and stores the reproducer in its saved state. The scenario of t3101 (real git
# repository, real builds of two real Debian kernels, real QEMU runs): a first
# bisection builds the kernels; a second one, with another reproducer (so no cached
# runs), has every kernel at hand. It must build nothing, blame the same commit, say
# `pre-booting the kernel of <commit>` in its log and count the pre-boots in its JSON
# (`preboots`) and its text output; the first one, which had nothing at hand, has
# `preboots` 0 in its JSON.
# kb-test-labels: vm
# kb-test-timeout: 600
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0

bisect() { # bisect <repro> <name> [args]: JSON to $tmp/<name>.json, log to $tmp/<name>.log
	local repro=$1 name=$2
	shift 2
	"$KBISECT" bisect --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" \
		--repro "$repro" --build-cmd 'sh scripts/build.sh' --image bzImage \
		--cache "$tmp/cache" --work-dir "$tmp/wt" --accel tcg --vms 2 --runs-per-test 2 \
		--workers 1 --run-timeout 120 --log "$tmp/$name.log" "$@" >"$tmp/$name.out" \
		2>"$tmp/$name.err" || fail "$name: $(tail -20 "$tmp/$name.log"; cat "$tmp/$name.err")"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

bisect "$tmp/repro.c" first --json
[ "$(field "$tmp/first.out" culprit)" = "$culprit" ] || fail "first: $(cat "$tmp/first.out")"
[ "$(field "$tmp/first.out" preboots)" = 0 ] || fail "first: pre-boots with nothing at hand"

# the same crash, another reproducer file: no cached runs, every kernel cached
{ cat "$tmp/repro.c"; echo "/* the second bisection's copy */"; } >"$tmp/repro2.c"
bisect "$tmp/repro2.c" second --json
cat "$tmp/second.log"
[ "$(field "$tmp/second.out" culprit)" = "$culprit" ] || fail "second: $(cat "$tmp/second.out")"
[ "$(field "$tmp/second.out" builds)" = 0 ] || fail "second: built: $(cat "$tmp/second.out")"
n=$(field "$tmp/second.out" preboots)
[ "$n" -ge 1 ] || fail "second: preboots $n, want >= 1"
grep -q "^pre-booting the kernel of [0-9a-f]\{40\}" "$tmp/second.log" ||
	fail "no pre-boot in the second bisection's log"
echo "second bisection: $n pre-boots"

# text output counts them too
{ cat "$tmp/repro.c"; echo "/* a third copy */"; } >"$tmp/repro3.c"
bisect "$tmp/repro3.c" third
grep -q "kernels pre-booted ahead of their tests" "$tmp/third.out" ||
	fail "text output: $(cat "$tmp/third.out")"
echo ok
