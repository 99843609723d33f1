#!/usr/bin/env python3
"""bench/kernel/bench.py - wall time of a real kernel bisection: classic workflows vs kbisect.

On the built-in scenario of scripts/demo-scenario/scenario.py, larger (default 520
commits, 20 merged topic branches), with real builds of linux-source-6.1 (tinyconfig)
and real QEMU runs (TCG), runs in one go:
  (a) git bisect run, incremental builds in one tree, a fresh VM per run, N runs per
      commit, any crash counts as bad (bench/kernel/step.py --mode a);
  (b) syzbot's way: git bisect run with a clean build (make distclean) of every tested
      commit, N fresh VMs per commit (2N on the bad commit and while flaky), syzkaller's
      verdict rule (step.py --mode b);
  kbisect cold (empty cache and work trees), warm (the same bisect again), and bug B
      (a different bug in the same range, with the cache left by the first);
and prints wall time, builds, boots, test runs, whether each found the right culprit,
and the ratios kbisect/(a) and kbisect/(b). Results also go to <dir>/results.json.

Fix bisection (issue 22; --only fix,fixa,fixb, none of them by default): the same kind
of scenario with a later commit fixing bug A, after a partial fix that only narrows its
race (scenario.py --fix-a-at, --partial-fix-a-at), bisected from the commit adding bug A
(crashing) to the tip (fixed) by
  fixa  git bisect run --term-old crashing --term-new fixed, as (a) (step.py --fix);
  fixb  the same with syzkaller's verdict rule and clean builds, as (b);
  fix   kbisect bisect --fix, cold (its own empty cache and work trees).

usage: bench.py [--seed 1] [--commits 520] [--merges 20] [--runs 10] [--jobs 2]
                [--only cold,warm,bugb,a,b] [--dir DIR] [--kbisect PATH] [--accel tcg]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCEN = os.path.join(ROOT, "scripts", "demo-scenario", "scenario.py")
STEP = os.path.join(HERE, "step.py")


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def git(repo, *args, check=True):
    return subprocess.run(["git", "-C", repo] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=check).stdout.strip()


def classic(mode, s, a, d, fix=False):
    """git bisect run in a fresh worktree (fix: from crashing culprit_a to fixed bad, with
    the terms crashing/fixed); returns the result dict."""
    wt = os.path.join(d, "tree-" + mode + ("-fix" if fix else ""))
    stats = os.path.join(d, "steps-%s%s.jsonl" % (mode, "-fix" if fix else ""))
    repo = s["repo"]
    if os.path.exists(wt):
        subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", wt])
        shutil.rmtree(wt, ignore_errors=True)
    git(repo, "worktree", "prune")
    for f in (stats, stats + ".flaky"):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.time()
    git(repo, "worktree", "add", "--detach", wt, s["bad"])
    repro = s["repro_b"] if a.bug == "b" else s["repro_a"]
    cmd = [sys.executable, STEP, "--mode", mode, "--config", s["config"], "--repro", repro,
           "--kbisect", a.kbisect, "--stats", stats, "--runs", str(a.runs),
           "--jobs", str(a.jobs), "--accel", a.accel] + (["--fix"] if fix else [])
    culprit = None
    crashes = 0 if fix else 1  # step.py's exit when the commit crashes
    if mode == "b":
        # syzkaller first checks that the bad (fix: crashing) commit crashes (2N runs,
        # clean build)
        if fix:
            git(wt, "checkout", "-q", "--detach", s["culprit_a"])
        r = subprocess.run(cmd + ["--first"], cwd=wt)
        if r.returncode != crashes:
            log("(b): the %s commit did not reproduce (exit %d): no bisection" %
                ("crashing" if fix else "bad", r.returncode))
    if mode == "a" or r.returncode == crashes:
        start = (["git", "bisect", "start", "--term-old", "crashing", "--term-new", "fixed",
                  s["bad"], s["culprit_a"]] if fix else
                 ["git", "bisect", "start", s["bad"], s["good"]])
        subprocess.run(start, cwd=wt, stdout=subprocess.DEVNULL, check=True)
        out = subprocess.run(["git", "bisect", "run"] + cmd, cwd=wt, stdout=subprocess.PIPE,
                             text=True).stdout
        with open(os.path.join(d, "bisect-%s%s.out" % (mode, "-fix" if fix else "")),
                  "w") as fp:
            fp.write(out)
        for line in out.splitlines():
            if line.endswith(" is the first bad commit") or \
                    line.endswith(" is the first fixed commit"):
                culprit = line.split()[0]
        subprocess.run(["git", "bisect", "reset"], cwd=wt, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    secs = time.time() - t0
    steps = [json.loads(l) for l in open(stats)] if os.path.exists(stats) else []
    res = {"seconds": secs, "builds": sum(1 for x in steps if "build_s" in x),
           "build_s": sum(x.get("build_s", 0) for x in steps),
           "first_build_s": steps[0]["build_s"] if steps else 0,
           "test_s": sum(x.get("test_s", 0) for x in steps),
           "boots": sum(x.get("boots", 0) for x in steps),
           "runs": sum(x.get("runs", 0) for x in steps), "culprit": culprit,
           "steps": len(steps)}
    subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", wt])
    return res


def kbisect(s, a, d, name, repro, fresh, fix=False):
    cache, work = os.path.join(d, "kb-cache"), os.path.join(d, "kb-work")
    if fix:  # its own cache: a cold fix bisection
        cache, work = os.path.join(d, "kb-cache-fix"), os.path.join(d, "kb-work-fix")
    ends = (["--fix", "--crashing", s["culprit_a"], "--fixed", s["bad"]] if fix else
            ["--good", s["good"], "--bad", s["bad"]])
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    out, logf = os.path.join(d, "kb-%s.json" % name), os.path.join(d, "kb-%s.log" % name)
    t0 = time.time()
    with open(out, "w") as o, open(logf, "w") as e:
        r = subprocess.run([a.kbisect, "bisect", "--repo", s["repo"]] + ends +
                           ["--config", s["config"], "--repro", repro,
                            "--cache", cache, "--work-dir", work, "--workers", "1",
                            "--jobs", str(a.jobs), "--vms", "2", "--accel", a.accel,
                            "--runs-per-test", str(a.runs), "--run-timeout", "30", "--json"],
                           stdout=o, stderr=e)
    secs = time.time() - t0
    if r.returncode not in (0, 2):  # 2: only a credible set (culprit null)
        log("kbisect %s failed (exit %d), see %s" % (name, r.returncode, logf))
        return {"seconds": secs, "culprit": None, "error": r.returncode}
    j = json.load(open(out))
    boots = sum(1 for t in j.get("tested", []) if t.get("tests"))
    return {"seconds": secs, "builds": j.get("builds"), "builds_avoided": j.get("builds_avoided"),
            "runs": j.get("test_runs"), "boots": boots, "culprit": j.get("culprit"),
            "probability": j.get("probability")}


def fmt(secs):
    secs = int(round(secs))
    return "%dm%02ds" % (secs // 60, secs % 60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--commits", type=int, default=520)
    ap.add_argument("--merges", type=int, default=20)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--only", default="cold,warm,bugb,a,b")
    ap.add_argument("--dir")
    ap.add_argument("--kbisect", default=os.path.join(ROOT, "build", "bisect", "kbisect"))
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--repo", default=os.environ.get(
        "KB_KERNEL_REPO", os.path.expanduser("~/.cache/kbisect-demo/linux-6.1")))
    a = ap.parse_args()
    a.bug = "a"
    a.kbisect = os.path.abspath(a.kbisect)
    d = os.path.abspath(a.dir or os.path.expanduser("~/.cache/kbisect-demo/bench-s%d" % a.seed))
    os.makedirs(d, exist_ok=True)
    rng = random.Random(a.seed)
    at_a, at_b = 0.35 + 0.5 * rng.random(), 0.1 + 0.5 * rng.random()
    log("scenario: %d commits, %d merges, seed %d" % (a.commits, a.merges, a.seed))
    sj = subprocess.run([sys.executable, SCEN, "--repo", a.repo, "--dir", os.path.join(d, "scenario"),
                         "--name", "bench-s%d" % a.seed, "--commits", str(a.commits),
                         "--merges", str(a.merges), "--seed", str(a.seed),
                         "--bug-a-at", "%.3f" % at_a, "--bug-b-at", "%.3f" % at_b],
                        stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    s = json.load(open(sj))
    log("history import..%s: %d commits, %d merges; culprit A %s, B %s" %
        (s["bad"][:12], s["commits"], s["merges"], s["culprit_a"][:12], s["culprit_b"][:12]))
    resf = os.path.join(d, "results.json")
    res = json.load(open(resf)) if os.path.exists(resf) else {}
    res["scenario"] = s
    only = a.only.split(",")
    if any(x in only for x in ("fix", "fixa", "fixb")):
        # fix bisection: bug A, then a partial fix and the fix later in the history
        at_p = at_a + (0.95 - at_a) * (0.3 + 0.2 * rng.random())
        at_f = at_p + (0.97 - at_p) * (0.4 + 0.4 * rng.random())
        fj = subprocess.run([sys.executable, SCEN, "--repo", a.repo, "--dir",
                             os.path.join(d, "scenario-fix"), "--name", "bench-fix-s%d" % a.seed,
                             "--commits", str(a.commits), "--merges", str(a.merges),
                             "--seed", str(a.seed), "--bug-a-at", "%.3f" % at_a,
                             "--bug-b-at", "%.3f" % at_b, "--partial-fix-a-at", "%.3f" % at_p,
                             "--fix-a-at", "%.3f" % at_f],
                            stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        sf = json.load(open(fj))
        res["scenario_fix"] = sf
        log("fix history import..%s: bug A %s, partial fix %s, fix %s" %
            (sf["bad"][:12], sf["culprit_a"][:12], sf["partial_fix_a"][:12], sf["fix_a"][:12]))
    plan = [("cold", lambda: kbisect(s, a, d, "cold", s["repro_a"], True), "culprit_a"),
            ("warm", lambda: kbisect(s, a, d, "warm", s["repro_a"], False), "culprit_a"),
            ("bugb", lambda: kbisect(s, a, d, "bugb", s["repro_b"], False), "culprit_b"),
            ("a", lambda: classic("a", s, a, d), "culprit_a"),
            ("b", lambda: classic("b", s, a, d), "culprit_a"),
            ("fixa", lambda: classic("a", sf, a, d, fix=True), "fix_a"),
            ("fixb", lambda: classic("b", sf, a, d, fix=True), "fix_a"),
            ("fix", lambda: kbisect(sf, a, d, "fix", sf["repro_a"], True, fix=True), "fix_a")]
    for name, fn, want in plan:
        if name not in only:
            continue
        log("running %s" % name)
        r = fn()
        r["right"] = r.get("culprit") == (sf if name.startswith("fix") else s)[want]
        res[name] = r
        log("%s: %s" % (name, json.dumps(r)))
        with open(resf, "w") as fp:
            json.dump(res, fp, indent=1)
    report(res)


def report(res):
    names = {"a": "(a) git bisect, incremental", "b": "(b) syzbot, clean builds",
             "cold": "kbisect cold", "warm": "kbisect warm", "bugb": "kbisect bug B (cache)",
             "fixa": "fix: (a) git bisect --term-*", "fixb": "fix: (b) syzbot rule",
             "fix": "fix: kbisect --fix cold"}
    print("\n%-30s %9s %7s %6s %6s %s" % ("", "wall", "builds", "boots", "runs", "culprit"))
    for k in ("a", "b", "cold", "warm", "bugb", "fixa", "fixb", "fix"):
        r = res.get(k)
        if not r:
            continue
        print("%-30s %9s %7s %6s %6s %s" % (names[k], fmt(r["seconds"]), r.get("builds", "-"),
                                            r.get("boots", "-"), r.get("runs", "-"),
                                            "right" if r["right"] else
                                            "WRONG (%s)" % (r.get("culprit") or "none")[:12]))
    for k in ("cold", "warm", "bugb"):
        for base in ("a", "b"):
            if k in res and base in res:
                print("ratio %-5s / (%s) = %.3f" % (k, base, res[k]["seconds"] / res[base]["seconds"]))
    for base in ("fixa", "fixb"):
        if "fix" in res and base in res:
            print("ratio fix   / (%s) = %.3f" % (base, res["fix"]["seconds"] / res[base]["seconds"]))
    if "a" in res:
        print("(a) first build (full, in the timing): %s" % fmt(res["a"]["first_build_s"]))


if __name__ == "__main__":
    sys.exit(main())
