#!/usr/bin/env python3
"""scripts/demo-scenario/scenario.py - the built-in scenario of the demo and of bench/kernel.

On a real Linux kernel git repository (Debian's linux-source-6.1, tag `import`, see
scripts/kernel-repo.sh) writes a synthetic history of N commits with the spread of
upstream commits (other architectures, drivers a tinyconfig does not build,
Documentation, tools, and files it does build), optionally with merged topic branches,
and in it two real, flaky kernel bugs, each added by one commit:

  bug A  kernel/sys.c prctl(PR_SET_TIMERSLACK, 0): a NULL dereference taken in ~40% of calls
  bug B  kernel/sys.c uname() under personality(UNAME26): a NULL dereference in ~40%

plus a tinyconfig-based config for the VM pool, and the reproducers repro-a.c and
repro-b.c. For fix bisection (issue 22), --fix-a-at adds a later commit that fixes bug A
(the prctl reset no longer goes through the group leader), and --partial-fix-a-at one
before it that only narrows the race (the NULL dereference taken in ~10% of calls);
scenario.json then names them fix_a and partial_fix_a. Each reproducer also fails on its own in ~8% of runs (--syzfail) with
`SYZFAIL: wrong response packet`, as syzkaller's executor does.

Both bugs and the reproducers draw their randomness the ordinary way: the kernel's
get_random_u32(), user space's getrandom(). (VMs cloned from one snapshot share the
RNG state of the snapshot; the pool reseeds every clone, so this is what it tests.)

Idempotent: the history is written with one `git fast-import` under
refs/heads/kbisect-<name>; if <dir>/scenario.json exists for the same parameters,
nothing is done. Prints the path of scenario.json.

usage: scenario.py --repo DIR --dir OUT [--name demo] [--commits 30] [--merges 0]
                   [--seed 1] [--bug-a-at 0.55] [--bug-b-at 0.3] [--syzfail 8]
                   [--fix-a-at F [--partial-fix-a-at P]]
"""
import argparse
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KREPO = os.path.join(ROOT, "scripts", "kernel-repo.sh")

# Top-level spread of upstream commits (approximate, v5.x-v6.x); "built" are files a
# tinyconfig x86_64 kernel compiles, so a change there changes the kernel.
SPREAD = [("drivers/", 44), ("arch/", 11), ("arch/x86/", 3), ("tools/", 7), ("net/", 7),
          ("fs/", 5), ("Documentation/", 6), ("include/", 4), ("sound/", 3), ("mm/", 1),
          ("lib/", 1), ("security/", 1), ("BUILT", 7)]
BUILT = ["kernel/fork.c", "kernel/exit.c", "kernel/signal.c", "kernel/sched/core.c",
         "mm/memory.c", "mm/mmap.c", "fs/exec.c", "fs/namei.c", "fs/open.c",
         "fs/read_write.c", "lib/string.c", "lib/vsprintf.c", "kernel/printk/printk.c",
         "init/main.c", "kernel/time/time.c", "kernel/panic.c", "mm/page_alloc.c",
         "fs/super.c", "kernel/resource.c", "lib/kstrtox.c"]
EXTS = {".c": "\nint kbisect_demo_%d(void);\nint kbisect_demo_%d(void) { return %d; }\n",
        ".h": "\n/* kbisect demo change %d */\n", ".rst": "\nkbisect demo change %d\n",
        ".txt": "\nkbisect demo change %d\n", ".yaml": "\n# kbisect demo change %d\n"}
SUBJECTS = {"drivers/": "driver fix", "arch/": "arch cleanup", "arch/x86/": "x86 tweak",
            "tools/": "tools update", "net/": "net fix", "fs/": "fs fix",
            "Documentation/": "docs update", "include/": "header comment",
            "sound/": "sound fix", "mm/": "mm fix", "lib/": "lib fix",
            "security/": "security fix", "kernel/": "core fix", "init/": "init fix"}

BUG_A = ("\t\tif (arg2 <= 0)\n\t\t\tcurrent->timer_slack_ns =\n"
         "\t\t\t\t\tcurrent->default_timer_slack_ns;\n",
         "\t\tif (arg2 <= 0) {\n"
         "\t\t\t/* reset from the group leader, which may be going away */\n"
         "\t\t\tstruct task_struct *leader = current->group_leader;\n\n"
         "\t\t\tif (get_random_u32() % 10 < 4)\n"
         "\t\t\t\tleader = NULL; /* lost the race with exit */\n"
         "\t\t\tcurrent->timer_slack_ns = leader->default_timer_slack_ns;\n"
         "\t\t}\n")
BUG_B = ("\t\tcopy = clamp_t(size_t, len, 1, sizeof(buf));\n",
         "\t\tcopy = clamp_t(size_t, len, 1, sizeof(buf));\n"
         "\t\t{\n"
         "\t\t\t/* the namespace's release string, when it has one */\n"
         "\t\t\tconst char *ns_rel = utsname()->release;\n\n"
         "\t\t\tif (get_random_u32() % 10 < 4)\n"
         "\t\t\t\tns_rel = NULL; /* not set up yet */\n"
         "\t\t\tif (ns_rel[0] == 0)\n"
         "\t\t\t\trest = \"\";\n"
         "\t\t}\n")

# the fix of bug A: reset from the task's own default, as before bug A; the partial fix
# only narrows the race (a smaller window: ~10% of calls instead of ~40%)
FIX_A = (BUG_A[1], "\t\tif (arg2 <= 0) {\n"
         "\t\t\t/* the group leader may be going away: use our own default */\n"
         "\t\t\tcurrent->timer_slack_ns = current->default_timer_slack_ns;\n"
         "\t\t}\n")
PARTIAL_A = ("\t\t\tif (get_random_u32() % 10 < 4)\n\t\t\t\tleader = NULL; /* lost the race with exit */\n",
             "\t\t\tif (get_random_u32() % 10 < 1)\n\t\t\t\tleader = NULL; /* lost the race with exit */\n")

REPRO = r'''// %(name)s: reproducer of kbisect demo bug %(bug)s (%(what)s).
// Like syzkaller's executor it sometimes fails on its own: SYZFAIL, not a kernel bug.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/utsname.h>

int main(void)
{
	unsigned int x = 0;

	if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
		x = 0;
	if (x %% 100 < %(syzfail)d) {
		fprintf(stderr, "SYZFAIL: wrong response packet\n (errno 11: Resource temporarily unavailable)\n");
		return 67;
	}
%(body)s
	return 0;
}
'''
BODY_A = "\tprctl(PR_SET_TIMERSLACK, 0, 0, 0, 0);\n"
BODY_B = ("\tstruct utsname u;\n\n\tpersonality(PER_LINUX | UNAME26);\n"
          "\tuname(&u);\n\tprintf(\"release %s\\n\", u.release);\n")

CONFIG_EXTRA = """CONFIG_64BIT=y
CONFIG_PRINTK=y
CONFIG_BUG=y
CONFIG_KALLSYMS=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_SERIAL_8250_NR_UARTS=4
CONFIG_SERIAL_8250_RUNTIME_UARTS=4
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_RD_XZ=y
CONFIG_DEVTMPFS=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_MULTIUSER=y
CONFIG_FUTEX=y
"""


def git(repo, *args, inp=None):
    r = subprocess.run(["git", "-C", repo] + list(args), input=inp, check=True,
                       stdout=subprocess.PIPE)
    return r.stdout


def blob(repo, rev, path):
    return git(repo, "cat-file", "blob", "%s:%s" % (rev, path))


def pick_files(repo, n, rng):
    files = git(repo, "ls-tree", "-r", "--name-only", "import").decode().split("\n")
    by = {}
    for f in files:
        if os.path.splitext(f)[1] not in EXTS or f in BUILT or f == "kernel/sys.c":
            continue
        for prefix in sorted((p for p, _ in SPREAD), key=len, reverse=True):
            if f.startswith(prefix):
                by.setdefault(prefix, []).append(f)
                break
    by["BUILT"] = list(BUILT)
    prefixes = [p for p, _ in SPREAD]
    weights = [w for _, w in SPREAD]
    used, picks = set(), []
    while len(picks) < n:
        p = rng.choices(prefixes, weights)[0]
        f = rng.choice(by[p])
        if f in used and p != "BUILT":
            continue
        used.add(f)
        picks.append(f)
    return picks


def subject(path, i):
    for prefix in sorted(SUBJECTS, key=len, reverse=True):
        if path.startswith(prefix):
            top = path.split("/")[1] if "/" in path else path
            return "%s: %s %d" % (top, SUBJECTS[prefix], i)
    return "misc: change %d" % i


class Writer:
    """git fast-import stream; marks :1.. for commits."""

    def __init__(self):
        self.parts, self.mark, self.t = [], 0, 1700000000

    def data(self, b):
        self.parts.append(b"data %d\n" % len(b) + b + b"\n")

    def commit(self, ref, msg, parents, changes):
        self.mark += 1
        self.t += 60
        p = self.parts
        p.append(b"commit %s\nmark :%d\n" % (ref.encode(), self.mark))
        who = b"kbisect demo <kbisect@localhost> %d +0000\n" % self.t
        p.append(b"author " + who + b"committer " + who)
        self.data(msg.encode())
        p.append(b"from %s\n" % parents[0].encode())
        for m in parents[1:]:
            p.append(b"merge %s\n" % m.encode())
        for path, content in changes:
            p.append(b"M 100644 inline %s\n" % path.encode())
            self.data(content)
        return ":%d" % self.mark


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--name", default="demo")
    ap.add_argument("--commits", type=int, default=30)
    ap.add_argument("--merges", type=int, default=0, help="topic branches merged back")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bug-a-at", type=float, default=0.55)
    ap.add_argument("--bug-b-at", type=float, default=0.3)
    ap.add_argument("--syzfail", type=int, default=8,
                    help="percent of runs a reproducer fails on its own (SYZFAIL)")
    ap.add_argument("--fix-a-at", type=float, default=None,
                    help="a later commit fixes bug A (fix bisection)")
    ap.add_argument("--partial-fix-a-at", type=float, default=None,
                    help="with --fix-a-at: an earlier commit only narrows bug A's race")
    a = ap.parse_args()
    params = {k: getattr(a, k) for k in ("name", "commits", "merges", "seed", "bug_a_at",
                                          "bug_b_at", "syzfail")}
    for k in ("fix_a_at", "partial_fix_a_at"):  # only when given: old scenarios stay valid
        if getattr(a, k) is not None:
            params[k] = getattr(a, k)
    if a.partial_fix_a_at is not None and a.fix_a_at is None:
        ap.error("--partial-fix-a-at needs --fix-a-at")
    a.dir = os.path.abspath(a.dir)
    os.makedirs(a.dir, exist_ok=True)
    out = os.path.join(a.dir, "scenario.json")
    ref = "refs/heads/kbisect-" + a.name
    if os.path.exists(out):
        old = json.load(open(out))
        if old.get("params") == params and old.get("repo") == os.path.abspath(a.repo):
            try:
                if git(a.repo, "rev-parse", ref).decode().strip() == old["bad"]:
                    print(out)
                    return 0
            except subprocess.CalledProcessError:
                pass

    rng = random.Random(a.seed)
    n = a.commits
    files = pick_files(a.repo, n, rng)
    ia = max(1, min(n - 2, int(n * a.bug_a_at)))
    ib = max(1, min(n - 2, int(n * a.bug_b_at)))
    if ib == ia:
        ib = ia - 1
    # fix bisection: the partial fix and the fix of bug A come after it
    fixes = {}

    def free_index(at):  # the first index from n * at not taken by a bug or a fix
        i = max(1, min(n - 1, int(n * at)))
        while i < n - 1 and (i in (ia, ib) or i in fixes):
            i += 1
        return i
    if a.fix_a_at is not None:
        if a.partial_fix_a_at is not None:
            fixes[free_index(a.partial_fix_a_at)] = "partial"
        fixes[free_index(a.fix_a_at)] = "fix"
        if (len(fixes) != (2 if a.partial_fix_a_at is not None else 1) or
                any(i in (ia, ib) for i in fixes) or
                not all(ia < i for i in fixes) or
                (len(fixes) == 2 and min(fixes) != [i for i in fixes if fixes[i] == "partial"][0])):
            ap.error("need bug A < partial fix < fix, each at its own commit")
    # layout: a mainline of commits; `merges` topic branches, each forked from an
    # earlier mainline commit and merged back (their commits are part of the n)
    topic_of = {}
    if a.merges:
        # each topic: `per` commits drawn from a window of 3*per consecutive indices
        per = max(1, min((n - 4) // (2 * a.merges), 8))
        for t in range(a.merges):
            for _ in range(100):
                start = rng.randint(2, max(2, n - 3 - 3 * per))
                win = [i for i in range(start, min(n - 2, start + 3 * per))
                       if i not in (ia, ib) and i not in fixes and i not in topic_of]
                if len(win) >= per:
                    break
            for i in sorted(rng.sample(win, min(per, len(win)))):
                topic_of[i] = t
        used_topics = sorted(set(topic_of.values()))
        topic_of = {i: used_topics.index(t) for i, t in topic_of.items()}
        a.merges = len(used_topics)
    base = {}

    def content(path, state):
        if path not in state:
            state[path] = base.get(path)
            if state[path] is None:
                state[path] = base[path] = blob(a.repo, "import", path)
        return state[path]

    def merged(p, tp):
        # every change appends to a file: the merge is the mainline's version plus
        # what the topic appended since its fork (a clean 3-way merge)
        forked = content(p, tp["fork"])
        return content(p, main_state) + tp["state"][p][len(forked):]

    w = Writer()
    main_head = git(a.repo, "rev-parse", "import^{commit}").decode().strip()
    main_state = {}
    topics = {}  # t -> [head, state, fork_index, changed paths, last index]
    for t in range(a.merges):
        members = sorted(i for i in topic_of if topic_of[i] == t)
        topics[t] = {"first": members[0], "last": members[-1], "head": None,
                     "state": None, "paths": set()}
    index_to_mark, culprit = {}, {}
    pending_merges = {}
    for i in range(n):
        if i in (ia, ib):
            bug = "a" if i == ia else "b"
            old, new = BUG_A if bug == "a" else BUG_B
            c = content("kernel/sys.c", main_state).decode()
            assert old in c, "kernel/sys.c: anchor of bug %s not found" % bug
            main_state["kernel/sys.c"] = c.replace(old, new, 1).encode()
            msg = ("prctl: PR_SET_TIMERSLACK: reset from the group leader\n" if bug == "a"
                   else "uname: honour the namespace's release in UNAME26\n")
            main_head = w.commit(ref, msg, [main_head], [("kernel/sys.c",
                                                          main_state["kernel/sys.c"])])
            culprit[bug] = main_head
            index_to_mark[i] = main_head
        elif i in fixes:
            old, new = FIX_A if fixes[i] == "fix" else PARTIAL_A
            c = content("kernel/sys.c", main_state).decode()
            if fixes[i] == "fix" and old not in c:  # after the partial fix
                old = old.replace(PARTIAL_A[0], PARTIAL_A[1])
            assert old in c, "kernel/sys.c: anchor of the %s of bug a not found" % fixes[i]
            main_state["kernel/sys.c"] = c.replace(old, new, 1).encode()
            msg = ("prctl: PR_SET_TIMERSLACK: do not reset from the group leader\n"
                   if fixes[i] == "fix" else
                   "prctl: PR_SET_TIMERSLACK: narrow the group leader race\n")
            main_head = w.commit(ref, msg, [main_head], [("kernel/sys.c",
                                                          main_state["kernel/sys.c"])])
            culprit[fixes[i]] = main_head
            index_to_mark[i] = main_head
        elif i in topic_of:
            tp = topics[topic_of[i]]
            if tp["head"] is None:
                # fork from the mainline as it is now
                tp["head"], tp["state"] = main_head, dict(main_state)
                tp["fork"] = dict(main_state)
            f = files[i]
            tail = EXTS[os.path.splitext(f)[1]].replace("%d", str(i)).encode()
            tp["state"][f] = content(f, tp["state"]) + tail
            tp["paths"].add(f)
            tp["head"] = w.commit("refs/heads/kbisect-%s-topic%d" % (a.name, topic_of[i]),
                                  subject(f, i) + "\n", [tp["head"]], [(f, tp["state"][f])])
            index_to_mark[i] = tp["head"]
            if i == tp["last"]:
                pending_merges[topic_of[i]] = i + 1 + rng.randint(0, 3)
        else:
            f = files[i]
            tail = EXTS[os.path.splitext(f)[1]].replace("%d", str(i)).encode()
            main_state[f] = content(f, main_state) + tail
            main_head = w.commit(ref, subject(f, i) + "\n", [main_head], [(f, main_state[f])])
            index_to_mark[i] = main_head
        for t, at in list(pending_merges.items()):
            if at <= i or i == n - 1:
                tp = topics[t]
                ch = []
                for p in sorted(tp["paths"]):
                    main_state[p] = merged(p, tp)
                    ch.append((p, main_state[p]))
                main_head = w.commit(ref, "Merge branch 'topic%d'\n" % t,
                                     [main_head, tp["head"]], ch)
                del pending_merges[t]
    for t, at in list(pending_merges.items()):
        tp = topics[t]
        ch = []
        for p in sorted(tp["paths"]):
            main_state[p] = merged(p, tp)
            ch.append((p, main_state[p]))
        main_head = w.commit(ref, "Merge branch 'topic%d'\n" % t, [main_head, tp["head"]], ch)
    w.parts.append(b"reset %s\nfrom %s\n\n" % (ref.encode(), main_head.encode()))
    marks = os.path.join(a.dir, "marks")
    subprocess.run(["git", "-C", a.repo, "fast-import", "--quiet", "--force",
                    "--export-marks=" + marks], input=b"".join(w.parts), check=True)
    m = {}
    for line in open(marks):
        k, v = line.split()
        m[k] = v

    def sha(x):
        return m[x] if x.startswith(":") else x
    bad = git(a.repo, "rev-parse", ref).decode().strip()
    assert git(a.repo, "rev-parse", culprit["a"]).decode().strip() if False else True
    cfg = os.path.join(a.dir, "config")
    if not os.path.exists(cfg):
        tmp = cfg + ".tmp"
        subprocess.run(["bash", KREPO, "tinyconfig", tmp], check=True, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, KB_KERNEL_REPO=os.path.abspath(a.repo)))
        with open(tmp, "a") as fp:
            fp.write(CONFIG_EXTRA)
        os.rename(tmp, cfg)
    for bug, body, what in (("a", BODY_A, "prctl(PR_SET_TIMERSLACK, 0)"),
                            ("b", BODY_B, "uname() under UNAME26")):
        with open(os.path.join(a.dir, "repro-%s.c" % bug), "w") as fp:
            fp.write(REPRO % {"name": "repro-%s.c" % bug, "bug": bug.upper(), "what": what,
                              "body": body, "syzfail": a.syzfail})
    touched = {}
    for i, f in enumerate(files):
        if i in (ia, ib) or i in fixes:
            continue
        k = "built" if f in BUILT else f.split("/")[0] + "/"
        touched[k] = touched.get(k, 0) + 1
    nmerges = int(git(a.repo, "rev-list", "--count", "--merges", "import.." + bad))
    total = int(git(a.repo, "rev-list", "--count", "import.." + bad))
    res = {"params": params, "repo": os.path.abspath(a.repo), "good": "import", "bad": bad,
           "culprit_a": sha(culprit["a"]), "culprit_b": sha(culprit["b"]),
           "config": cfg, "repro_a": os.path.join(a.dir, "repro-a.c"),
           "repro_b": os.path.join(a.dir, "repro-b.c"), "commits": total,
           "merges": nmerges, "touched": touched}
    if "fix" in culprit:
        res["fix_a"] = sha(culprit["fix"])
    if "partial" in culprit:
        res["partial_fix_a"] = sha(culprit["partial"])
    with open(out + ".tmp", "w") as fp:
        json.dump(res, fp, indent=1)
    os.rename(out + ".tmp", out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
