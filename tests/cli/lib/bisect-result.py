# tests/cli/lib/bisect-result.py - checks the --json result of a real `kbisect bisect`
# against the commit its scenario added the bug in: the demo's real-kernel scenario
# (scripts/demo-scenario/scenario.py; t3200, t3210) or, the culprit only, the small one
# of lib/bisect-scenario.sh (t3110). Python 3 standard library only.
#
# usage: bisect-result.py JSON CULPRIT [--name NAME] [--culprit-only] [--builds N]
#                         [--max-builds N]
# By default the result of a bisection that did the work: the culprit is CULPRIT, with a
# probability of at least 0.99, at least one build, and crash titles of a real crash of
# the kernel (a NULL dereference or an oops), not the reproducer's own SYZFAIL.
# --culprit-only: the culprit only (a run answered from a cache, whose other figures are
# the cache's); --builds N: exactly N builds; --max-builds N: at most N builds.
# With --name, prints "NAME: culprit <12 hex>, R rounds, B builds, T runs" when all is
# well; exits 1 with the reason on the first failed check.
import json
import sys


def fail(msg):
    print("bisect-result: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def field(o, key):
    if key not in o:
        fail("no %r in the result" % key)
    return o[key]


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        fail("usage: bisect-result.py JSON CULPRIT [options]")
    path, culprit = args[:2]
    opts = {"--name": None, "--builds": None, "--max-builds": None}
    culprit_only = False
    i = 2
    while i < len(args):
        if args[i] == "--culprit-only":
            culprit_only = True
            i += 1
        elif args[i] in opts and i + 1 < len(args):
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            fail("unknown or incomplete option %r" % args[i])
    try:
        with open(path, encoding="utf-8") as f:
            o = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))
    if field(o, "culprit") != culprit:
        fail("culprit %s, want %s" % (o["culprit"], culprit))
    builds = field(o, "builds")
    if not culprit_only:
        if field(o, "probability") < 0.99:
            fail("probability %s, want at least 0.99" % o["probability"])
        if builds < 1:
            fail("no build (builds %s)" % builds)
        titles = " ".join(str(x) for x in field(o, "titles"))
        if "SYZFAIL" in titles or not ("NULL" in titles or "fault" in titles or "BUG" in titles):
            fail("the titles are not a crash of the kernel: %s" % titles)
    if opts["--builds"] is not None and builds != int(opts["--builds"]):
        fail("builds %s, want %s" % (builds, opts["--builds"]))
    if opts["--max-builds"] is not None and builds > int(opts["--max-builds"]):
        fail("builds %s, want at most %s" % (builds, opts["--max-builds"]))
    if opts["--name"]:
        print("%s: culprit %s, %d rounds, %d builds, %d runs" %
              (opts["--name"], o["culprit"][:12], field(o, "rounds"), builds,
               field(o, "test_runs")))


if __name__ == "__main__":
    main()
