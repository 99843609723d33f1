#!/usr/bin/env bash
# tests/cli/t1221-options-help.sh - every command but bisect (signature, build, pool run,
# analyze, report, remote <sub>, cache <sub>): --help exits 0, every option named in
# its usage lines is in its option list with a description, every option there has
# one, and every option that takes a value accepts the --opt=value form (the one
# parser, cli/options.c: `kbisect CMD --opt=value --help` exits 0, or the option
# itself says the value is bad).
# kb-test-labels: cli
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
python3 - "$KBISECT" <<'PY' || fail "options and --help"
import re, subprocess, sys
K = sys.argv[1]
# every command but bisect (tested with its own options elsewhere)
cmds = [["signature"], ["build"], ["pool", "run"], ["analyze"], ["report"],
        ["remote", "status"], ["remote", "push"], ["remote", "get"], ["remote", "build"]]
cmds += [["cache", s] for s in "put get ls show stats gc verify compact recover pin unpin serve forget".split()]
bad = n_eq = 0
def value_for(argh):
    a = argh.strip("<>")
    if "|" in a:
        return a.split("|")[0]
    if a in ("n", "s", "p", "seconds", "MiB", "count", "ms", "bytes", "sec") or re.match(r"^(n|k|N)\b", a):
        return "1"
    if a == "size":
        return "1M"
    if a in ("hex", "key", "id", "sig"):
        return "0" * 64
    if a in ("host:port",):
        return "127.0.0.1:0"
    return "x"
for c in cmds:
    p = subprocess.run([K] + c + ["--help"], capture_output=True, text=True)
    if p.returncode != 0:
        print("FAIL", c, "exit", p.returncode, p.stderr[:200]); bad += 1; continue
    lines = p.stdout.splitlines()
    usage, i = [], 0
    while i < len(lines) and lines[i].strip():
        usage.append(lines[i]); i += 1
    want = set(re.findall(r"--([a-z][a-z0-9-]*)", " ".join(usage)))
    have = {}
    for i, l in enumerate(lines):
        m = re.match(r"^ {2,8}(?:-[a-zA-Z], )?--([a-z][a-z0-9-]*)(?: (<[^>]+>|\S+))?(?:\s{2,}(.*))?$", l)
        if m:
            desc = (m.group(3) or "").strip()
            if not desc and i + 1 < len(lines) and lines[i + 1].startswith(" " * 20):
                desc = lines[i + 1].strip()
            have[m.group(1)] = (m.group(2), desc)
    for o in sorted(want - {"help"}):
        if o not in have or not have[o][1]:
            print("FAIL", " ".join(c), "--" + o, "in the usage but not described"); bad += 1
    for o, (argh, desc) in sorted(have.items()):
        if not desc:
            print("FAIL", " ".join(c), "--" + o, "has no description"); bad += 1
        if not argh:
            continue
        v = value_for(argh)
        q = subprocess.run([K] + c + ["--%s=%s" % (o, v), "--help"], capture_output=True, text=True)
        n_eq += 1
        # a value the option itself refuses ("bad --end 'x'") was still parsed as --o=value
        if q.returncode != 0 and not ("bad --%s '%s'" % (o, v)) in q.stderr:
            print("FAIL", " ".join(c), "--%s=%s" % (o, v), "exit", q.returncode, q.stderr.strip()[:200]); bad += 1
print("checked", len(cmds), "commands,", n_eq, "--opt=value forms;", bad, "problems")
sys.exit(1 if bad else 0)
PY
echo "t1221-options-help: ok"
