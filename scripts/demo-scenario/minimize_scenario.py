#!/usr/bin/env python3
"""scripts/demo-scenario/minimize_scenario.py - a config-minimization scenario on a real
kernel (Debian's linux-source-6.1, tag `import`, see scripts/kernel-repo.sh).

Writes:
  - one commit on top of `import` (refs/heads/kbisect-<name>) that adds a flaky NULL
    dereference to the /proc/<pid>/task/<tid>/children file (fs/proc/array.c,
    children_seq_show(): the reader's pid namespace is lost in ~50% of reads, drawn
    with the kernel's get_random_u32()). That code is built only under the real
    option CONFIG_PROC_CHILDREN;
  - small.config: the demo's tinyconfig-based config that boots under QEMU (SMALL);
  - big.config: SMALL plus ~N real extra options of the tree (default 100), among them
    CONFIG_PROC_CHILDREN, the others chosen (seeded) among the options tinyconfig shows
    but leaves off, in drivers/ and fs/, that no header refers to and that select
    nothing (each adds its own objects; a change of one rebuilds few files);
  - repro.c: forks a child, reads the children file of its own task.

Idempotent for the same parameters. Prints the path of scenario.json.

usage: minimize_scenario.py --repo DIR --dir OUT [--name minimize] [--extra 100]
                            [--seed 1]
"""
import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KREPO = os.path.join(ROOT, "scripts", "kernel-repo.sh")
NEEDED = "PROC_CHILDREN"

OLD = ("static int children_seq_show(struct seq_file *seq, void *v)\n{\n"
       "\tstruct inode *inode = file_inode(seq->file);\n\n"
       "\tseq_printf(seq, \"%d \", pid_nr_ns(v, proc_pid_ns(inode->i_sb)));\n")
NEW = ("static int children_seq_show(struct seq_file *seq, void *v)\n{\n"
       "\tstruct inode *inode = file_inode(seq->file);\n"
       "\t/* the reader's namespace, which may be going away */\n"
       "\tstruct pid_namespace *ns = proc_pid_ns(inode->i_sb);\n"
       "\tstruct upid *upid;\n\n"
       "\tif (get_random_u32() % 10 < 5)\n"
       "\t\tns = NULL; /* lost the race with the namespace's exit */\n"
       "\tupid = &((struct pid *)v)->numbers[ns->level];\n"
       "\tseq_printf(seq, \"%d \", upid->ns == ns ? upid->nr : 0);\n")

REPRO = r'''// repro.c: reads /proc/<pid>/task/<pid>/children with one child alive
// (the kbisect config-minimization scenario; the file exists with CONFIG_PROC_CHILDREN).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

int main(void)
{
	char path[96], buf[256];
	pid_t child = fork();
	int fd;

	if (child == 0) {
		pause();
		_exit(0);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("no %s (errno %d)\n", path, errno);
	} else {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		printf("children: %.*s\n", n > 0 ? (int)n : 0, buf);
		close(fd);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
'''


def git(repo, *args, inp=None, env=None):
    r = subprocess.run(["git", "-C", repo] + list(args), input=inp, check=True,
                       stdout=subprocess.PIPE, env=env)
    return r.stdout


def kconfig_entries(repo):
    """name -> [(kind, file, body lines, in a choice)] of every Kconfig file at import"""
    files = git(repo, "ls-tree", "-r", "--name-only", "import").decode().split("\n")
    entries = {}
    for f in files:
        if not os.path.basename(f).startswith("Kconfig"):
            continue
        cur, inch = None, False
        for line in git(repo, "cat-file", "blob", "import:" + f).decode(errors="replace").split("\n"):
            m = re.match(r"^(menuconfig|config)\s+(\w+)", line)
            if m:
                cur = m.group(2)
                entries.setdefault(cur, []).append([m.group(1), f, [], inch])
                continue
            if re.match(r"^choice\b", line):
                inch = True
            if re.match(r"^endchoice\b", line):
                inch = False
            if re.match(r"^(choice|endchoice|menu|endmenu|if|endif|source|comment)\b", line):
                cur = None
                continue
            if cur:
                entries[cur][-1][2].append(line.strip())
    return entries


def pick_options(repo, small, n, rng):
    off = re.findall(r"^# CONFIG_(\w+) is not set$", small, re.M)
    in_headers = set(x[7:] for x in git(repo, "grep", "-ohE", "CONFIG_[A-Z0-9_]+", "import",
                                        "--", "include/", "arch/x86/include/")
                     .decode().replace("import:", "").split())
    entries = kconfig_entries(repo)
    cand = []
    for o in off:
        e = entries.get(o)
        if o == NEEDED or o in in_headers or not e or len(e) != 1:
            continue
        kind, f, body, inch = e[0]
        if kind != "config" or inch or not f.startswith(("drivers/", "fs/")) or \
                f.startswith("drivers/base/"):
            continue
        if any(b.startswith(("select", "imply")) for b in body):
            continue
        if not any(b.startswith(("bool", "tristate")) for b in body):
            continue
        cand.append(o)
    rng.shuffle(cand)
    return sorted(cand[:max(0, n - 1)] + [NEEDED])


def olddefconfig(repo, text):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, ".config"), "w") as fp:
            fp.write(text)
        subprocess.run(["make", "-s", "-C", repo, "O=" + tmp, "olddefconfig"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return open(os.path.join(tmp, ".config")).read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--name", default="minimize")
    ap.add_argument("--extra", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    params = {"name": a.name, "extra": a.extra, "seed": a.seed,
              "patch": hashlib.sha256((OLD + NEW + REPRO).encode()).hexdigest()[:16]}
    a.dir = os.path.abspath(a.dir)
    a.repo = os.path.abspath(a.repo)
    os.makedirs(a.dir, exist_ok=True)
    out = os.path.join(a.dir, "scenario.json")
    ref = "refs/heads/kbisect-" + a.name
    if os.path.exists(out):
        old = json.load(open(out))
        try:
            if old.get("params") == params and old.get("repo") == a.repo and \
                    git(a.repo, "rev-parse", ref).decode().strip() == old["rev"]:
                print(out)
                return 0
        except subprocess.CalledProcessError:
            pass

    # the commit: the bug, in code built only under CONFIG_PROC_CHILDREN
    src = git(a.repo, "cat-file", "blob", "import:fs/proc/array.c").decode()
    assert OLD in src, "fs/proc/array.c: children_seq_show() not found"
    src = src.replace(OLD, NEW, 1).replace("#include <linux/kthread.h>\n",
                                           "#include <linux/kthread.h>\n#include <linux/random.h>\n", 1)
    env = dict(os.environ, GIT_AUTHOR_NAME="kbisect demo", GIT_AUTHOR_EMAIL="kbisect@localhost",
               GIT_COMMITTER_NAME="kbisect demo", GIT_COMMITTER_EMAIL="kbisect@localhost",
               GIT_AUTHOR_DATE="1700000000 +0000", GIT_COMMITTER_DATE="1700000000 +0000")
    with tempfile.NamedTemporaryFile(prefix="kbisect-index.") as idx:
        env["GIT_INDEX_FILE"] = idx.name
        git(a.repo, "read-tree", "import", env=env)
        blob = git(a.repo, "hash-object", "-w", "--stdin", inp=src.encode()).decode().strip()
        git(a.repo, "update-index", "--cacheinfo", "100644,%s,fs/proc/array.c" % blob, env=env)
        tree = git(a.repo, "write-tree", env=env).decode().strip()
    rev = git(a.repo, "commit-tree", tree, "-p", "import^{commit}", "-m",
              "proc: children: read the reader's namespace once\n", env=env).decode().strip()
    git(a.repo, "update-ref", ref, rev)

    # SMALL: the demo's config (tinyconfig + what the VM pool needs)
    small_path = os.path.join(a.dir, "small.config")
    if not os.path.exists(small_path):
        sys.path.insert(0, HERE)
        import scenario  # CONFIG_EXTRA: the demo's additions to tinyconfig
        subprocess.run(["bash", KREPO, "tinyconfig", small_path + ".tmp"], check=True,
                       stderr=subprocess.DEVNULL, env=dict(os.environ, KB_KERNEL_REPO=a.repo))
        with open(small_path + ".tmp", "a") as fp:
            fp.write(scenario.CONFIG_EXTRA)
        text = olddefconfig(a.repo, open(small_path + ".tmp").read())
        os.unlink(small_path + ".tmp")
        with open(small_path, "w") as fp:
            fp.write(text)
    small = open(small_path).read()
    extra = pick_options(a.repo, small, a.extra, random.Random(a.seed))
    big = olddefconfig(a.repo, small + "".join("CONFIG_%s=y\n" % o for o in extra))
    big_path = os.path.join(a.dir, "big.config")
    with open(big_path, "w") as fp:
        fp.write(big)
    with open(os.path.join(a.dir, "repro.c"), "w") as fp:
        fp.write(REPRO)

    def opts(text):
        d = {}
        for m in re.finditer(r"^CONFIG_(\w+)=(.*)$|^# CONFIG_(\w+) is not set$", text, re.M):
            d[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
        return d
    bo, so = opts(big), opts(small)
    diff = sorted(k for k in set(bo) | set(so) if bo.get(k, "n") != so.get(k, "n"))
    res = {"params": params, "repo": a.repo, "rev": rev, "needed": "CONFIG_" + NEEDED,
           "small": small_path, "big": big_path, "repro": os.path.join(a.dir, "repro.c"),
           "extra": ["CONFIG_" + o for o in extra], "n_diff": len(diff)}
    with open(out + ".tmp", "w") as fp:
        json.dump(res, fp, indent=1)
    os.rename(out + ".tmp", out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
