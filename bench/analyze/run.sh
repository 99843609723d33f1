#!/usr/bin/env bash
# bench/analyze/run.sh [kbisect] [dir] - how often `kbisect analyze` agrees with the known
# outcome of real bisection logs. Runs `analyze --json` on every <x>.log of dir (default
# ../shared/conformance/syzbot-bisect-logs/ next to the source tree, or next to its
# parent directory) whose id is in
# dir/outcomes.tsv (columns: x, known right|wrong, ...), then prints the confusion table
# (right/wrong x supported/not supported/refused), the agreement (right -> supported,
# wrong -> not supported), the precision of each answer, the evidence profile of the
# logs (supported: self-consistent or not; not supported: what the culprit's crash
# verdict rests on; right/wrong in each: what a rule from the log can still separate),
# the calibration of
# culprit_probability (by bins, and of the logs with p >= 0.9 how many are right) and
# the wall time. Exits 0 without measuring when the directory is absent.
# KB_BENCH_JOBS (default: nproc) analyses run in parallel; KB_BENCH_OUT=<dir> keeps the
# JSON documents (one per log) for inspection.
# Targets (issue #20): right -> supported >= 95%, wrong -> not supported >= 75%,
# agreement >= 85%, the given set in under a minute on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
kb=${1:-$src/build/cli/kbisect}
dir=${2:-}
if [ -z "$dir" ]; then
  # ../shared next to the checkout (or next to its parent, for a worktree under wt/)
  for d in "$src/../shared" "$src/../../shared"; do
    if [ -d "$d/conformance/syzbot-bisect-logs" ]; then dir=$d/conformance/syzbot-bisect-logs; break; fi
  done
  dir=${dir:-$src/../shared/conformance/syzbot-bisect-logs}
fi
[ -x "$kb" ] || { echo "bench/analyze: no kbisect binary at $kb (build first)" >&2; exit 1; }
if [ ! -f "$dir/outcomes.tsv" ]; then
  echo "bench/analyze: no $dir/outcomes.tsv: skipped"
  exit 0
fi
command -v python3 >/dev/null || { echo "bench/analyze: needs python3" >&2; exit 1; }
out=${KB_BENCH_OUT:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/kbbench-analyze.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -n "$out" ] || out=$work/json
mkdir -p "$out"
jobs=${KB_BENCH_JOBS:-$(nproc 2>/dev/null || echo 2)}

# one job per log: JSON on stdout, exit status and stderr kept
grep -v '^#' "$dir/outcomes.tsv" | cut -f1 > "$work/ids"
t0=$(date +%s.%N)
xargs -P "$jobs" -I{} sh -c \
  '"$1" analyze --json "$2/$3.log" > "$4/$3.json" 2> "$4/$3.err"; echo $? > "$4/$3.rc"' \
  sh "$kb" "$dir" {} "$out" < "$work/ids"
t1=$(date +%s.%N)

python3 - "$dir/outcomes.tsv" "$out" "$t0" "$t1" "$jobs" <<'PY'
import json, os, sys
tsv, out, t0, t1, jobs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if not l.startswith("#") and l.strip()]
cells = {(k, v): 0 for k in ("right", "wrong") for v in ("supported", "not supported", "refused")}
probs, refusals, crashes = [], {}, []
profiles = {}

def profile(o):
    # what the log's evidence looks like, for the logs analyze decided on: a supported log
    # is 'self-consistent' when the reproducer is reliable (q >= 0.9), every crash verdict
    # rests on the target title in every run, no other title crashed anywhere, kbisect
    # agrees with every verdict and no good verdict is a likely false negative; a log not
    # supported is classed by what the culprit's own crash verdict rests on
    V = o.get("verdicts") or []
    if o["supported"]:
        clean = ((o.get("rates") or {}).get("q_mean") or 0) >= 0.9 and all(
            v["agrees"] is not False and not v["other_crashes"]
            and (v["p_false_negative"] or 0) < 0.01
            and not (v["log_verdict"] == "bad" and (v["clean_runs"] or v["rests_on"] != "target"))
            for v in V if v["phase"] != "parent")
        return "self-consistent" if clean else "some doubt in the log"
    cv = [v for v in V if v["commit"] == o.get("reported_culprit") and v["phase"] != "parent"]
    r = cv[-1]["rests_on"] if cv else None
    return "culprit rests on " + (r + " crashes" if r in ("other", "infra") else "target/mixed runs")
for r in rows:
    x, known = r[0], r[1]
    rc = int(open(f"{out}/{x}.rc").read().strip() or 1)
    if rc != 0:
        if rc != 1:
            crashes.append((x, rc))
        cells[(known, "refused")] += 1
        msg = open(f"{out}/{x}.err").read().strip().splitlines()
        refusals.setdefault(msg[-1].split("'")[0][:60] if msg else "?", []).append(x)
        continue
    o = json.load(open(f"{out}/{x}.json"))
    if o.get("supported") is None or o.get("reported_culprit") is None:
        cells[(known, "refused")] += 1
        refusals.setdefault("no verdict on a culprit (result %s)" % o.get("result"), []).append(x)
        continue
    s = "supported" if o["supported"] else "not supported"
    cells[(known, s)] += 1
    profiles.setdefault((s, profile(o)), {"right": 0, "wrong": 0})[known] += 1
    probs.append((o.get("culprit_probability") or 0.0, known))

n = len(rows)
nr = sum(1 for r in rows if r[1] == "right"); nw = n - nr
def pct(a, b): return f"{100.0*a/b:5.1f}%" if b else "   - "
print(f"bench/analyze: {n} logs from {os.path.abspath(os.path.dirname(tsv))} ({nr} right, {nw} wrong), {jobs} jobs")
print()
print(f"{'known':8} {'supported':>10} {'not supp.':>10} {'refused':>8}")
for k, tot in (("right", nr), ("wrong", nw)):
    print(f"{k:8} {cells[(k,'supported')]:10d} {cells[(k,'not supported')]:10d} {cells[(k,'refused')]:8d}")
rs, wn = cells[("right", "supported")], cells[("wrong", "not supported")]
ws, rn = cells[("wrong", "supported")], cells[("right", "not supported")]
ref = cells[("right", "refused")] + cells[("wrong", "refused")]
print()
print(f"right -> supported:      {rs}/{nr} = {pct(rs, nr)}   (target >= 95%)")
print(f"wrong -> not supported:  {wn}/{nw} = {pct(wn, nw)}   (target >= 75%)")
print(f"agreement:               {rs+wn}/{n} = {pct(rs+wn, n)}   (target >= 85%)")
print(f"precision of 'supported':     {rs}/{rs+ws} = {pct(rs, rs+ws)} right")
print(f"precision of 'not supported': {wn}/{wn+rn} = {pct(wn, wn+rn)} wrong")
print(f"refused:                 {ref}/{n}")
for m, xs in sorted(refusals.items(), key=lambda kv: -len(kv[1])):
    print(f"  {len(xs):4d}  {m}")
if crashes:
    print(f"ABNORMAL EXITS: {crashes}")
print()
print("evidence profile of the logs (right/wrong): what a rule from the log can separate")
for (s, pr), c in sorted(profiles.items()):
    print(f"  {s:13} {pr:36} right {c['right']:4d}  wrong {c['wrong']:4d}")
print()
print("calibration of culprit_probability (logs with a verdict):")
bins = [(0, 0.1), (0.1, 0.5), (0.5, 0.9), (0.9, 0.99), (0.99, 1.01)]
for lo, hi in bins:
    sel = [k for p, k in probs if lo <= p < hi]
    r = sum(1 for k in sel if k == "right")
    print(f"  p in [{lo:.2f},{min(hi,1):.2f}{']' if hi > 1 else ')'}: {len(sel):4d} logs, {r:4d} right ({pct(r, len(sel)).strip()})")
sel = [k for p, k in probs if p >= 0.9]
r = sum(1 for k in sel if k == "right")
mean = sum(p for p, _ in probs if p >= 0.9) / len(sel) if sel else 0
print(f"  p >= 0.9: {len(sel)} logs, {r} right ({pct(r, len(sel)).strip()}; mean p {mean:.3f})")
print()
print(f"wall time: {float(t1)-float(t0):.1f} s for {n} logs")
PY
