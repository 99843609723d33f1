#!/usr/bin/env python3
"""bench/report/conformance.py [KBISECT] [DIR] - how closely `kbisect report` speaks syzkaller.

Reads syzkaller's Linux report test suite (the external conformance data, by default
../shared/conformance/syzkaller-report/ next to the project checkout; see its README),
runs `kbisect report --json` on the console log of every file and compares with what
syzkaller expects: the exact TITLE, the crash/no-crash decision, the CORRUPTED flag and
whether the title is among TITLE+ALT. Prints the ratios and the failing files by kind.
When the data is not there it says so and exits 0. Exit status 0 in every other case
too: this measures, it does not gate (the targets are in docs/crash-titles.md).
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.dirname(os.path.dirname(here))
kbisect = sys.argv[1] if len(sys.argv) > 1 else os.path.join(src, "build", "bisect", "kbisect")
data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(src), "shared", "conformance", "syzkaller-report")
if not os.path.isdir(data):
    data = "/work/shared/conformance/syzkaller-report"
if not os.path.isdir(data):
    print("conformance data not found (../shared/conformance/syzkaller-report); skipped")
    sys.exit(0)
if not os.access(kbisect, os.X_OK):
    print("no kbisect binary at %s; build first (scripts/build.sh build)" % kbisect)
    sys.exit(0)


def parse_case(path):
    with open(path, "rb") as f:
        raw = f.read().replace(b"\r", b"")
    head, _, log = raw.partition(b"\n\n")
    exp = {"title": None, "alt": [], "corrupted": False}
    for line in head.decode("utf-8", "replace").split("\n"):
        if line.startswith("TITLE: "):
            exp["title"] = line[7:] or None  # an empty TITLE: no crash
        elif line.startswith("ALT: "):
            exp["alt"].append(line[5:])
        elif line.startswith("CORRUPTED: Y"):
            exp["corrupted"] = True
    # the expected extracted report, if any, is not part of the console log
    idx = log.find(b"\nREPORT:\n")
    if log.startswith(b"REPORT:\n"):
        log = b""
    elif idx >= 0:
        log = log[:idx + 1]
    return exp, log


def run(name):
    exp, log = parse_case(os.path.join(data, name))
    p = subprocess.run([kbisect, "report", "--json", "-"], input=log, capture_output=True)
    got = {"class": "error", "title": "", "alt": [], "corrupted": False}
    if p.returncode == 0:
        try:
            got = json.loads(p.stdout)
        except ValueError:
            pass
    return name, exp, got, p.returncode


names = sorted((n for n in os.listdir(data) if n != "README.md" and not n.startswith(".")),
               key=lambda n: (len(n), n))
with ThreadPoolExecutor(max_workers=2) as ex:
    results = list(ex.map(run, names))

n = len(results)
title_ok = crash_ok = alt_ok = corr_ok = corr_n = crashes = errors = 0
fails = {"title": [], "crash": [], "corrupted": [], "error": []}
for name, exp, got, rc in results:
    if rc != 0:
        errors += 1
        fails["error"].append((name, "exit %d" % rc, ""))
    want_crash = exp["title"] is not None
    # kbisect classifies SYZFAIL/SYZFATAL as an infra error (a failure of the test
    # setup), syzkaller as a crash titled the same: both mean "a report was found"
    is_crash = got.get("class") == "crash" or (
        got.get("class") == "infra" and got.get("title", "").startswith("SYZF"))
    if want_crash == is_crash:
        crash_ok += 1
    else:
        fails["crash"].append((name, exp["title"] or "(no crash)", got.get("title") or "(no crash)"))
    if not want_crash:
        if not is_crash:
            title_ok += 1
            alt_ok += 1
        continue
    crashes += 1
    gt = got.get("title", "") if is_crash else ""
    if gt == exp["title"]:
        title_ok += 1
    elif is_crash:
        fails["title"].append((name, exp["title"], gt))
    if gt == exp["title"] or gt in exp["alt"] or exp["title"] in got.get("alt", []):
        alt_ok += 1
    if is_crash:
        corr_n += 1
        if bool(got.get("corrupted")) == exp["corrupted"]:
            corr_ok += 1
        else:
            fails["corrupted"].append((name, "want %s" % exp["corrupted"], gt))

verbose = os.environ.get("VERBOSE", "1") != "0"
if verbose:
    for kind in ("crash", "title", "corrupted", "error"):
        for name, want, got in fails[kind]:
            print("%-9s %-5s want: %s\n%-15s  got: %s" % (kind, name, want, "", got))
print("files: %d (%d with a crash), kbisect: %s" % (n, crashes, kbisect))
print("exact title:       %4d/%d = %.1f%%  (target >= 98%%)" % (title_ok, n, 100.0 * title_ok / n))
print("title or ALT:      %4d/%d = %.1f%%" % (alt_ok, n, 100.0 * alt_ok / n))
print("crash/no-crash:    %4d/%d = %.1f%%  (target >= 99.5%%)" % (crash_ok, n, 100.0 * crash_ok / n))
if corr_n:
    print("corrupted flag:    %4d/%d = %.1f%%  (target >= 97%%)" % (corr_ok, corr_n, 100.0 * corr_ok / corr_n))
print("kbisect errors:    %4d" % errors)
