#!/usr/bin/env bash
# tests/cli/t3101-bisect-real.sh - end to end: `kbisect bisect` on a real git repository
# with real builds (a build command that installs one of two real Debian kernels,
# depending on a file the culprit commit changes) and real QEMU runs (TCG) of a
# reproducer that crashes only on the newer kernel. It must blame the right commit,
# Ctrl-C after the first round and the same command again must resume from the cache,
# and a third run must replay the second one's choices (its journal) with no build and
# no VM run; --find-good finds v1.0 by itself.
# kb-test-labels: vm
# kb-test-timeout: 600
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
args=(--repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" --repro "$tmp/repro.c"
	--build-cmd 'sh scripts/build.sh' --image bzImage --cache "$tmp/cache" --work-dir "$tmp/wt"
	--accel tcg --vms 2 --runs-per-test 2 --workers 2 --run-timeout 120)
kb() { "$KBISECT" bisect "${args[@]}" "$@"; }
# Ctrl-C twice while the first round's VMs run: acknowledged at once, then aborted at
# once (exit 130), no build or VM left behind
"$KBISECT" bisect "${args[@]}" --json --log "$tmp/logA" >"$tmp/outA" 2>"$tmp/errA" &
pid=$!
for _ in $(seq 1 6000); do
	grep -q "^build of .* done in" "$tmp/logA" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
grep -q "^build of .* started (work tree " "$tmp/logA" || fail "no build start in the log: $(cat "$tmp/logA")"
sleep 2
kill -INT $pid 2>/dev/null || true
sleep 0.5
grep -q "stopping after the running builds and tests; Ctrl-C again to abort now" "$tmp/errA" ||
	fail "first Ctrl-C not acknowledged at once: $(cat "$tmp/errA")"
t_abort=$(date +%s)
kill -INT $pid 2>/dev/null || true
set +e
wait $pid; rc=$?
set -e
[ $rc -eq 130 ] || fail "aborted bisect: exit $rc, want 130; $(cat "$tmp/errA")"
[ $(( $(date +%s) - t_abort )) -le 5 ] || fail "the second Ctrl-C took $(( $(date +%s) - t_abort ))s"
grep -q "aborted; builds and VMs killed" "$tmp/errA" || fail "abort message: $(cat "$tmp/errA")"
for _ in $(seq 1 100); do pgrep -f -- "$tmp/" >/dev/null || break; sleep 0.05; done
pgrep -af -- "$tmp/" && fail "processes left after the abort"

# Ctrl-C once the first round is logged: the current round ends, exit 130 with
# a hint to re-run; plain progress lines every second (stderr is no terminal)
"$KBISECT" bisect "${args[@]}" --json --progress 1 --log "$tmp/log0" >"$tmp/out0" 2>"$tmp/err0" &
pid=$!
for _ in $(seq 1 6000); do
	grep -q "^testing commit" "$tmp/log0" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
kill -INT $pid 2>/dev/null || true
set +e
wait $pid; rc=$?
set -e
[ $rc -eq 130 ] || fail "interrupted bisect: exit $rc, want 130; $(cat "$tmp/err0")"
grep -q "stopping after the running builds and tests" "$tmp/err0" || fail "no acknowledgement: $(cat "$tmp/err0")"
grep -q "interrupted; run the same command again" "$tmp/err0" || fail "interrupt message: $(cat "$tmp/err0")"
grep -q "^round 3:" "$tmp/log0" && fail "the interrupt did not stop after the round"
grep -q "^interrupted (Ctrl-C)" "$tmp/log0" || fail "the log does not say it was interrupted"
grep -Eq "^progress: \[[0-9hm]+s?\] round 1: (calibrating|building|testing)" "$tmp/err0" ||
	fail "no plain progress lines: $(cat "$tmp/err0")"

# the same command resumes: the first rounds come from the cache
start=$(date +%s)
kb --json --html "$tmp/r.html" --log "$tmp/log" >"$tmp/out" 2>"$tmp/err" ||
	fail "bisect: $(tail -20 "$tmp/log"; cat "$tmp/err")"
echo "resumed bisection: $(( $(date +%s) - start ))s"
cat "$tmp/log"
python3 - "$tmp/out" "$culprit" <<'PY' || fail "result: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["culprit"] == sys.argv[2], (o["culprit"], sys.argv[2])
assert o["probability"] >= 0.99
assert all(t["buildable"] for t in o["tested"])
# the first round (calibration) was not built again
assert all(t["kernel"] != "built" for t in o["timeline"] if t["round"] == 1), o["timeline"]
PY
grep -q "^run #.*: crashed: .*sysrq" "$tmp/log" || fail "no sysrq crash in the log"
grep -q 'id="timeline"' "$tmp/r.html" || fail "html"
# the log in syzbot's shape: kbisect analyze reads it and supports the same culprit
grep -q "^$culprit is the first bad commit\$" "$tmp/log" || fail "log: no first bad commit"
grep -q "^Author: t <t@t>\$" "$tmp/log" || fail "log: no commit header"
grep -q "^    switch to the new kernel (culprit)\$" "$tmp/log" || fail "log: no subject"
grep -q "^# git bisect bad $culprit\$" "$tmp/log" || fail "log: no bad verdict"
grep -q "^revisions tested: [0-9]*, total time: " "$tmp/log" || fail "log: no totals"
"$KBISECT" analyze --json "$tmp/log" >"$tmp/an.json" || fail "analyze: $(cat "$tmp/an.json")"
python3 - "$tmp/an.json" "$culprit" "$tmp/out" <<'PY' || fail "analyze of kbisect's log: $(head -c 1500 "$tmp/an.json")"
import json, sys
a = json.load(open(sys.argv[1]))
o = json.load(open(sys.argv[3]))
assert a["supported"] is True, a.get("findings")
assert a["reported_culprit"] == sys.argv[2], a["reported_culprit"]
assert a["reported_culprit_subject"] == "switch to the new kernel (culprit)"
# the result names the culprit with subject, author and date
ci = o["culprit_info"]
assert ci["commit"] == sys.argv[2] and ci["subject"] == "switch to the new kernel (culprit)", ci
assert ci["author"] == "t <t@t>" and ci["date"], ci
assert o["schema"] == 1 and o["stop"] == "confident"
PY

# the same command again: everything comes from the cache
start=$(date +%s)
kb --json --html "$tmp/r2.html" --log "$tmp/log2" >"$tmp/out2" 2>"$tmp/err" ||
	fail "second bisect: $(tail -20 "$tmp/log2"; cat "$tmp/err")"
echo "second bisection: $(( $(date +%s) - start ))s"
python3 - "$tmp/out2" "$culprit" "$tmp/out" <<'PY' || fail "resume: $(cat "$tmp/out2")"
import json, sys
o = json.load(open(sys.argv[1]))
first = json.load(open(sys.argv[3]))
assert o["culprit"] == sys.argv[2]
assert o["builds"] == 0, o["builds"]
assert all(t["kernel"] != "built" for t in o["timeline"])
# the journal replays the earlier bisection's choices: the same commits, and every run
# from the cache (no VM run: tests take no time)
assert [t["commit"] for t in o["timeline"]] == [t["commit"] for t in first["timeline"]], \
    ([t["commit"] for t in o["timeline"]], [t["commit"] for t in first["timeline"]])
assert all(t["test_end"] - t["test_start"] < 1 for t in o["timeline"]), o["timeline"]
PY
grep -q "^replaying [0-9]* rounds of an identical earlier bisection" "$tmp/log2" ||
	fail "no journal replay: $(head -5 "$tmp/log2")"
# the replay's HTML report: the culprit's subject, the consoles of the runs next to it,
# and the timeline of the runs that produced the evidence (recorded in the journal),
# drawn the same as in the resumed run's report, not an empty "0 s" one
grep -q "switch to the new kernel (culprit)" "$tmp/r2.html" || fail "no culprit subject in the report"
ls "$tmp"/r2.html.consoles/*-r1-0.txt >/dev/null 2>&1 || fail "no consoles next to the report"
grep -q 'href="r2.html.consoles/' "$tmp/r2.html" || fail "no console links in the report"
python3 - "$tmp/r.html" "$tmp/r2.html" <<'PY' || fail "replayed timeline"
import re, sys
t = [float(re.search(r'id="timeline"[^>]*data-seconds="([0-9.]+)"', open(p).read()).group(1))
     for p in sys.argv[1:]]
assert t[0] == t[1] and t[1] >= 10, t
PY
if browser=$(command -v chromium); then
	python3 "$src/tests/cli/lib/html-check.py" "$browser" "$tmp/r.html" "$tmp/shots" \
		--save timeline="$tmp/timeline.json" --builds no || fail "screenshot of the resumed run's report"
	python3 "$src/tests/cli/lib/html-check.py" "$browser" "$tmp/r2.html" "$tmp/shots" \
		--compare timeline="$tmp/timeline.json" --builds no || fail "screenshot of the replay's report"
fi

# a damaged journal (second line garbage) replays up to the damage, then chooses again
j=$(ls "$tmp"/cache/journals/*.jsonl)
[ "$(wc -l <"$j")" -ge 2 ] || fail "journal too short: $(cat "$j")"
sed -i '2s/.*/{"round": 2, "tests": [{"commit": "not-a-commit"/' "$j"
kb --json --log "$tmp/log2b" >"$tmp/out2b" 2>"$tmp/err" ||
	fail "bisect with a damaged journal: $(tail -20 "$tmp/log2b"; cat "$tmp/err")"
grep -q "^replaying 1 rounds" "$tmp/log2b" || fail "damaged journal: $(head -3 "$tmp/log2b")"
grep -q "is damaged after round 1" "$tmp/log2b" || fail "damaged journal not reported"
grep -q "not-a-commit" "$j" && fail "the damaged line was kept: $(cat "$j")"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["culprit"] == sys.argv[2], o["culprit"]' \
	"$tmp/out2b" "$culprit" || fail "damaged journal: wrong result $(cat "$tmp/out2b")"

# --find-good instead of --good: release tag v1.0 runs clean and becomes the good commit
fg_args=()
for a in "${args[@]}"; do [ "$a" = "--good" ] || [ "$a" = "v1.0" ] || fg_args+=("$a"); done
"$KBISECT" bisect "${fg_args[@]}" --find-good --json --log "$tmp/log3" >"$tmp/out3" 2>"$tmp/err" ||
	fail "--find-good: $(tail -20 "$tmp/log3"; cat "$tmp/err")"
grep -q "^good release: v1.0" "$tmp/log3" || fail "--find-good log: $(head -20 "$tmp/log3")"
python3 - "$tmp/out3" "$culprit" <<'PY' || fail "--find-good result: $(cat "$tmp/out3")"
import json, sys
assert json.load(open(sys.argv[1]))["culprit"] == sys.argv[2]
PY
echo ok
