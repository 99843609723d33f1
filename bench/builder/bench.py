#!/usr/bin/env python3
"""bench/builder/bench.py - kbisect build vs plain incremental make on a real kernel.

On the linux-source-6.1 repository (scripts/kernel-repo.sh) with a tinyconfig-based
x86_64 config, makes a chain of N synthetic commits whose touched paths follow the
spread of upstream kernel commits (drivers ~48%, arch ~14%, tools, net, fs,
Documentation, include, sound, kernel, mm, ...; one file each, a comment appended),
(a new function in .c files, a comment elsewhere), then, in the same run:
  plain: every commit built with `make olddefconfig bzImage` in one tree, checked out
         in turn (what a bisection without kbisect does, minus `make distclean`);
  cold:  `kbisect build` of every commit with an empty cache;
  warm:  the same again with the cache from the cold run.
Both trees are first built at the base commit (not timed), so both sides are
incremental from the same start. Prints the times, the ratios, the builds avoided,
and the dependency-skip precision: the fraction of skipped commits whose kernel
signature equals that of the plain build (must be 100%).

usage: bench.py [--commits N] [--jobs J] [--kbisect PATH] [--dir DIR] [--seed S]
                [--work-dir DIR]
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
KREPO = os.path.join(ROOT, "scripts", "kernel-repo.sh")

# Share of upstream commits by top-level directory (approximate, v5.x-v6.x history).
SPREAD = [("drivers/", 48), ("arch/x86/", 3), ("arch/", 11), ("tools/", 7), ("net/", 7),
          ("fs/", 6), ("Documentation/", 6), ("include/", 4), ("sound/", 3), ("kernel/", 2),
          ("mm/", 1), ("lib/", 1), ("security/", 1)]
# .c files get a new function (a code change where the file is compiled), the rest a
# comment or a line of text.
EXTS = {".c": "int kbisect_bench_%d(void) { return 1; }", ".h": "/* kbisect bench change %d */",
        ".rst": "kbisect bench change %d", ".txt": "kbisect bench change %d",
        ".yaml": "# kbisect bench change %d"}

ENV = {"KBUILD_BUILD_HOST": "kbisect", "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 1970",
       "KBUILD_BUILD_USER": "kbisect", "KBUILD_BUILD_VERSION": "0", "LC_ALL": "C"}
MAKE_ARGS = ["KERNELVERSION=kbisect", "KERNELRELEASE=kbisect", "LOCALVERSION=-kbisect"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


def out(cmd, **kw):
    return run(cmd, stdout=subprocess.PIPE, **kw).stdout.strip()


def pick_files(repo, n, rng, built_tree=None, compiled_share=0.1):
    """n files by SPREAD; with built_tree, a compiled_share of them are .c files that
    the config compiles (they have a .o there), so some commits change the kernel and
    the precision check can fail."""
    files = out(["git", "-C", repo, "ls-tree", "-r", "--name-only", "import"]).split("\n")
    compiled = [f for f in files if f.endswith(".c") and built_tree and
                os.path.exists(os.path.join(built_tree, f[:-2] + ".o"))]
    by_prefix = {}
    for f in files:
        ext = os.path.splitext(f)[1]
        if ext not in EXTS:
            continue
        for prefix, _ in SPREAD:
            if f.startswith(prefix):
                by_prefix.setdefault(prefix, []).append(f)
                break
    prefixes = [p for p, _ in SPREAD]
    weights = [w for _, w in SPREAD]
    picks = []
    for i in range(n):
        if compiled and rng.random() < compiled_share:
            picks.append(rng.choice(compiled))
            continue
        prefix = rng.choices(prefixes, weights)[0]
        picks.append(rng.choice(by_prefix[prefix]))
    return picks


def make_commits(repo, files):
    commits, base = [], "import"
    for i, f in enumerate(files):
        text = EXTS[os.path.splitext(f)[1]] % i
        base = out(["bash", KREPO, "commit", base, "bench %d: %s" % (i, f), f, text])
        commits.append(base)
    return commits


def signature(kbisect, vmlinux):
    return out([kbisect, "signature", vmlinux])


def plain_build(tree, config, jobs, env):
    shutil.copy(config, os.path.join(tree, ".config"))
    log = open(os.path.join(tree, "..", "plain.log"), "a")
    ok = True
    for target in (["olddefconfig"], ["-j%d" % jobs, "bzImage"]):
        r = subprocess.run(["make", "CC=gcc"] + MAKE_ARGS + target, cwd=tree, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
        ok = ok and r.returncode == 0
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=int(os.environ.get("KB_BENCH_COMMITS", 50)))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--kbisect", default=os.environ.get("KBISECT",
                                                        os.path.join(ROOT, "build", "bisect", "kbisect")))
    ap.add_argument("--dir", default=os.environ.get("KB_BENCH_DIR", "/tmp/kbisect-bench-builder"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work-dir", help="kbisect work trees to reuse (default DIR/work)")
    a = ap.parse_args()
    kb = os.path.abspath(a.kbisect)
    repo = out(["bash", KREPO])
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    config = os.path.join(a.dir, "tiny.config")
    run(["bash", KREPO, "tinyconfig", config], stderr=subprocess.DEVNULL)
    env = dict(os.environ)
    for k in ("ARCH", "CROSS_COMPILE", "KCFLAGS", "O", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
        env.pop(k, None)
    env.update(ENV)

    # plain tree, built at the base (not timed)
    plain_tree = os.path.join(a.dir, "plain", "src")
    run(["git", "-C", repo, "worktree", "add", "--detach", "--force", "-q", plain_tree, "import"])
    t = time.time()
    assert plain_build(plain_tree, config, a.jobs, env), "plain base build failed"
    full_build = time.time() - t
    print("  setup: plain base build (a full build) %.0fs" % full_build)
    rng = random.Random(a.seed)
    files = pick_files(repo, a.commits, rng, plain_tree)
    commits = make_commits(repo, files)
    print("bench/builder: %d commits on linux-source-6.1, tinyconfig, make -j%d" % (len(commits), a.jobs))
    # kbisect worker tree, built at the base with a throwaway cache (not timed)
    kbargs = ["--repo", repo, "--config", config, "--jobs", str(a.jobs),
              "--work-dir", a.work_dir or os.path.join(a.dir, "work"), "--json"]
    t = time.time()
    run([kb, "build", "--rev", "import", "--cache", os.path.join(a.dir, "setup-cache")] + kbargs,
        stdout=subprocess.DEVNULL)
    shutil.rmtree(os.path.join(a.dir, "setup-cache"))
    print("  setup: kbisect base build %.0fs" % (time.time() - t))

    # plain: every commit, incremental make in one tree
    plain_sig, plain_time = {}, {}
    t0 = time.time()
    for c in commits:
        t = time.time()
        run(["git", "checkout", "-q", "--detach", "--force", c], cwd=plain_tree)
        ok = plain_build(plain_tree, config, a.jobs, env)
        plain_time[c] = time.time() - t
        plain_sig[c] = signature(kb, os.path.join(plain_tree, "vmlinux")) if ok else None
    plain_total = time.time() - t0

    def kbisect_all(cache):
        res, t0 = {}, time.time()
        p = subprocess.run([kb, "build", "--cache", cache] + sum([["--rev", c] for c in commits], [])
                           + kbargs, stdout=subprocess.PIPE, text=True)
        total = time.time() - t0
        for line in p.stdout.splitlines():
            o = json.loads(line)
            res[o["commit"]] = o
        if len(res) != len(commits):
            sys.exit("bench/builder: kbisect build stopped early (exit %d)" % p.returncode)
        return res, total

    cache = os.path.join(a.dir, "cache")
    cold, cold_total = kbisect_all(cache)
    warm, warm_total = kbisect_all(cache)

    hows = {}
    for c in commits:
        hows[cold[c]["how"]] = hows.get(cold[c]["how"], 0) + 1
    skipped = [c for c in commits if cold[c]["how"] == "dependency_skip"]
    correct = [c for c in skipped if cold[c]["signature"] == plain_sig[c]]
    built = [c for c in commits if cold[c]["how"] == "built"]
    built_same = [c for c in built if cold[c]["signature"] == plain_sig[c]]
    changed = sum(1 for i, c in enumerate(commits)
                  if plain_sig[c] != plain_sig[commits[i - 1] if i else c])
    print("  touched: " + ", ".join("%s %d" % (p, sum(1 for f in files if f.startswith(p)))
                                    for p, _ in SPREAD))
    print("  plain incremental make : %7.1fs" % plain_total)
    print("  kbisect build, cold    : %7.1fs  %s" % (cold_total, json.dumps(hows, sort_keys=True)))
    print("  kbisect build, warm    : %7.1fs  (%d cache hits)" %
          (warm_total, sum(1 for c in commits if warm[c]["how"] == "cache_hit")))
    print("  ratio plain/cold       : %7.2fx" % (plain_total / cold_total))
    print("  ratio plain/warm       : %7.2fx" % (plain_total / warm_total))
    print("  builds avoided (cold)  : %d of %d" % (len(commits) - len(built), len(commits)))
    print("  (estimate, syzbot-style distclean + full build per commit: %d x %.0fs = %.0fs,"
          " %.1fx the cold run)" % (len(commits), full_build, len(commits) * full_build,
                                   len(commits) * full_build / cold_total))
    print("  signature changes (plain, vs previous commit): %d" % changed)
    print("  dependency-skip precision: %d/%d = %s" %
          (len(correct), len(skipped), "%.1f%%" % (100.0 * len(correct) / len(skipped)) if skipped else "n/a"))
    print("  built kernels identical to plain builds: %d/%d" % (len(built_same), len(built)))
    for c in skipped:
        if c not in correct:
            print("  FALSE SKIP: %s %s" % (c, files[commits.index(c)]))
    run(["git", "-C", repo, "worktree", "remove", "--force", plain_tree])
    return 0 if len(correct) == len(skipped) else 1


if __name__ == "__main__":
    sys.exit(main())
