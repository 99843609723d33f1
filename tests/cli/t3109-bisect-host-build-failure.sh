#!/usr/bin/env bash
# tests/cli/t3109-bisect-host-build-failure.sh - a build that fails because of the host
# during a real bisection (the first build runs a tool that is not installed, as a
# kernel build without flex does) is infra: the log says so, the commit is not made
# untestable, nothing is recorded, the build is tried again and the right commit is
# blamed (the bisect-scenario repository, real QEMU runs under TCG).
# kb-test-labels: vm
# kb-test-timeout: 600
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
# the first build on this host finds no flex; every later one does
build="if mkdir '$tmp/once' 2>/dev/null; then kbisect-test-no-such-flex -o lexer.c lexer.l; fi && sh scripts/build.sh"
set +e
"$KBISECT" bisect --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" \
	--repro "$tmp/repro.c" --build-cmd "$build" --image bzImage --cache "$tmp/cache" \
	--work-dir "$tmp/wt" --accel tcg --vms 2 --runs-per-test 2 --workers 2 --run-timeout 120 \
	--json --log "$tmp/log" >"$tmp/out" 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 0 ] || fail "bisect exit $rc: $(tail -20 "$tmp/log"; cat "$tmp/err")"
[ -d "$tmp/once" ] || fail "the failing build never ran"
grep -q "failed because of the host (infra" "$tmp/log" ||
	fail "host failure not logged as infra: $(cat "$tmp/log")"
grep -q "untestable" "$tmp/log" && fail "a host failure made a commit untestable: $(cat "$tmp/log")"
python3 - "$tmp/out" "$culprit" <<'PY' || fail "result: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["culprit"] == sys.argv[2], (o["culprit"], sys.argv[2])
assert all(t["buildable"] for t in o["tested"]), o["tested"]
PY
echo "t3109-bisect-host-build-failure: ok"
