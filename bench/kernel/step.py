#!/usr/bin/env python3
"""bench/kernel/step.py - one `git bisect run` step of the classic workflows of bench/kernel.

Run by `git bisect run` in a plain kernel work tree (the commit is checked out):
  --mode a  what a kernel developer does today: incremental `make olddefconfig bzImage`
            in this tree, then N runs of the reproducer, each in a freshly booted VM;
            any crash (or failing reproducer) counts as bad
  --mode b  syzbot's way: `make distclean` first (a clean build), N runs in fresh VMs
            (2N while the reproducer looked flaky, and 2N on the first commit),
            syzkaller's verdict: bad if at least max(N/6, 2) runs crashed, good if none
            crashed and at least N/2 ran clean, else skip
Exit 0 good, 1 bad, 125 skip (unbuildable / undecided), as git bisect run wants.
--fix (fix bisection, `git bisect start --term-old crashing --term-new fixed`): exit 0
when the verdict is bad (still crashing: the old term), 1 when good (fixed: the new).
Appends one JSON line per step to --stats (build and test seconds, runs, verdict).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ENV = {"KBUILD_BUILD_HOST": "kbisect", "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 1970",
       "KBUILD_BUILD_USER": "kbisect", "KBUILD_BUILD_VERSION": "0", "LC_ALL": "C"}
MAKE_ARGS = ["KERNELVERSION=kbisect", "KERNELRELEASE=kbisect", "LOCALVERSION=-kbisect"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["a", "b"], required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--repro", required=True)
    ap.add_argument("--kbisect", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--vms", type=int, default=2)
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--first", action="store_true", help="the first step (b: 2N runs)")
    ap.add_argument("--fix", action="store_true",
                    help="fix bisection: crashing is the old term (exit 0), fixed the new")
    a = ap.parse_args()
    env = dict(os.environ)
    for k in ("ARCH", "CROSS_COMPILE", "KCFLAGS", "O", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(k, None)
    env.update(ENV)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], stdout=subprocess.PIPE, text=True,
                         check=True).stdout.strip()
    st = {"mode": a.mode, "commit": rev}
    t0 = time.time()
    ok = True
    with open("build.log", "w") as log:
        if a.mode == "b":
            ok = subprocess.run(["make", "distclean"], stdout=log, stderr=log, env=env).returncode == 0
        shutil.copy(a.config, ".config")
        for target in (["olddefconfig"], ["-j%d" % a.jobs, "bzImage"]):
            if ok:
                ok = subprocess.run(["make"] + MAKE_ARGS + target, stdout=log, stderr=log,
                                    env=env).returncode == 0
    st["build_s"] = time.time() - t0
    st["built"] = ok
    if not ok:
        st["verdict"] = "skip"
        write(a.stats, st)
        return 125
    flaky_file = a.stats + ".flaky"
    runs = a.runs
    if a.mode == "b" and (a.first or os.path.exists(flaky_file)):
        runs = 2 * a.runs
    t1 = time.time()
    r = subprocess.run([a.kbisect, "pool", "run", "--kernel", "arch/x86/boot/bzImage",
                        "--repro", a.repro, "--runs", str(runs), "--vms", str(a.vms),
                        "--cold", "--accel", a.accel, "--timeout", "30", "--no-cache",
                        "--json"], stdout=subprocess.PIPE, text=True)
    st["test_s"] = time.time() - t1
    st["boots"] = runs
    if r.returncode != 0:
        st["verdict"] = "skip"
        st["error"] = "pool run exit %d" % r.returncode
        write(a.stats, st)
        return 125
    s = json.loads(r.stdout)["summary"]
    crash, infra, clean = s.get("crash", 0), s.get("infra", 0), s.get("ok", 0)
    boot = s.get("boot_failure", 0)
    st.update({"runs": runs, "crash": crash, "infra": infra, "clean": clean, "boot_failure": boot})
    if a.mode == "a":
        verdict = "bad" if crash + infra + boot else "good"
    else:
        need = max(runs // 6, 2)
        if crash >= need:
            verdict = "bad"
            if clean:
                open(flaky_file, "w").close()
        elif crash == 0 and clean >= runs // 2:
            verdict = "good"
        else:
            verdict = "skip"
            if crash:
                open(flaky_file, "w").close()
    st["verdict"] = verdict
    write(a.stats, st)
    if a.fix:
        return {"bad": 0, "good": 1, "skip": 125}[verdict]
    return {"good": 0, "bad": 1, "skip": 125}[verdict]


def write(path, st):
    with open(path, "a") as fp:
        fp.write(json.dumps(st) + "\n")
    print("step: %s" % json.dumps(st), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
