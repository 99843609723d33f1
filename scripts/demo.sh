#!/usr/bin/env bash
# scripts/demo.sh - the README's first command: install what is missing, build kbisect,
# and bisect a real, flaky Linux kernel bug end to end with real builds and real QEMU runs:
#   - Debian's linux-source-6.1 imported into a git repository (once);
#   - the built-in scenario (scripts/demo-scenario/scenario.py): 30 synthetic commits on
#     top of it with the spread of upstream commits, one of which adds a NULL dereference
#     to prctl(PR_SET_TIMERSLACK) taken in ~40% of calls; a tinyconfig-based config; a
#     reproducer that also fails on its own now and then with SYZFAIL (an infra error);
#   - `kbisect bisect` from the import (good) to the head (bad), then a result block.
# All state is under ~/.cache/kbisect-demo (KB_DEMO_DIR): the repository, the scenario,
# the cache and the work trees. Run it again: it answers from the cache.
#   KB_DEMO_DIR=DIR      state directory (default ~/.cache/kbisect-demo)
#   KB_DEMO_NO_DEPS=1    skip scripts/install-deps.sh (no root needed)
#   KB_DEMO_COMMITS=N    size of the history (default 30)
#   KB_DEMO_ACCEL=A      tcg, kvm or auto (default auto: a guarded KVM probe, else TCG)
#   KB_DEMO_FRESH=1      start with an empty cache and fresh work trees (a cold run)
#   KB_DEMO_BUILD=DIR    kbisect build directory (default build)
#   KB_DEMO_COLD=1       boot a fresh VM for every run (bisect --cold) instead of clones
#   KB_DEMO_SYZFAIL=P    percent of runs the reproducer fails on its own (default 8)
#   KB_DEMO_NAME=NAME    scenario name (branch kbisect-NAME; default demo)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=${KB_DEMO_DIR:-$HOME/.cache/kbisect-demo}
commits=${KB_DEMO_COMMITS:-30}
accel=${KB_DEMO_ACCEL:-auto}
bdir=${KB_DEMO_BUILD:-build}
syzfail=${KB_DEMO_SYZFAIL:-8}
name=${KB_DEMO_NAME:-demo}
cold=()
[ -n "${KB_DEMO_COLD:-}" ] && cold=(--cold)
t_start=$(date +%s)

step() { printf '\n== [%s +%ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - t_start ))" "$*"; }

if [ -z "${KB_DEMO_NO_DEPS:-}" ]; then
  step "install dependencies (scripts/install-deps.sh)"
  bash scripts/install-deps.sh
fi

step "build kbisect (scripts/build.sh $bdir)"
bash scripts/build.sh "$bdir" | grep -v '^\[' || true
kb=$root/$bdir/cli/kbisect
[ -x "$kb" ] || { echo "demo: $kb was not built; see the messages above" >&2; exit 1; }
"$kb" --version

mkdir -p "$state"
export KB_KERNEL_REPO=$state/linux-6.1
step "kernel repository $KB_KERNEL_REPO"
shared=$HOME/.cache/kbisect/linux-6.1
if [ ! -f "$KB_KERNEL_REPO/.git/kbisect-import-done" ] && [ -f "$shared/.git/kbisect-import-done" ]; then
  # the tests' import is there already: a local clone (hard links) is much faster
  echo "cloning the import in $shared (hard links)"
  rm -rf "$KB_KERNEL_REPO.tmp"
  git clone -q "$shared" "$KB_KERNEL_REPO.tmp"
  git -C "$KB_KERNEL_REPO.tmp" config gc.auto 0
  touch "$KB_KERNEL_REPO.tmp/.git/kbisect-import-done"
  rm -rf "$KB_KERNEL_REPO"
  mv "$KB_KERNEL_REPO.tmp" "$KB_KERNEL_REPO"
fi
bash scripts/kernel-repo.sh >/dev/null
git -C "$KB_KERNEL_REPO" log -1 --format='%h %s' import

step "scenario: $commits commits, a flaky NULL dereference in one of them"
scen=$(python3 scripts/demo-scenario/scenario.py --repo "$KB_KERNEL_REPO" \
         --dir "$state/scenario" --name "$name" --commits "$commits" --syzfail "$syzfail")
python3 - "$scen" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("history: import..%s, %d commits, %d merges" % (s["bad"][:12], s["commits"], s["merges"]))
print("touched:", ", ".join("%s %d" % kv for kv in sorted(s["touched"].items())))
print("config:  %s (tinyconfig + console, initramfs, ELF)" % s["config"])
print("repro:   %s" % s["repro_a"])
PY
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$scen" "$1"; }
bad=$(field bad); culprit=$(field culprit_a); config=$(field config); repro=$(field repro_a)

if [ -n "${KB_DEMO_FRESH:-}" ]; then
  step "fresh start: removing $state/cache and $state/work"
  rm -rf "$state/cache" "$state/work"
fi
mkdir -p "$state/out"
step "kbisect bisect (progress below; the full log is in $state/out/bisect.log)"
t0=$(date +%s)
set +e
"$kb" bisect --repo "$KB_KERNEL_REPO" --good import --bad "$bad" --config "$config" \
  --repro "$repro" --cache "$state/cache" --work-dir "$state/work" --workers 1 --jobs "$(nproc)" \
  --vms 2 --accel "$accel" --run-timeout 30 "${cold[@]}" --progress 30 --json \
  --html "$state/out/report.html" \
  >"$state/out/result.json" 2> >(tee "$state/out/bisect.log" >&2)
rc=$?
set -e
t1=$(date +%s)
sleep 0.2
# 0: a culprit; 2: only a credible set (shown below); else a failure
[ $rc -eq 0 ] || [ $rc -eq 2 ] || { echo "demo: kbisect bisect failed (exit $rc); see $state/out/bisect.log" >&2; exit 1; }

step "result"
python3 - "$state/out/result.json" "$culprit" "$KB_KERNEL_REPO" "$(( t1 - t0 ))" "$(( t1 - t_start ))" <<'PY'
import json, subprocess, sys
o = json.load(open(sys.argv[1]))
want, repo, secs, total = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
c = o.get("culprit")
def subj(x):
    return subprocess.run(["git", "-C", repo, "log", "-1", "--format=%s", x],
                          stdout=subprocess.PIPE, text=True).stdout.strip()
print("+--------------------------------------------------------------------------")
if c:
    print("| culprit      %s  %s" % (c[:12], (o.get("culprit_info") or {}).get("subject") or subj(c)))
    print("| probability  %.4f" % o.get("probability", 0))
else:
    print("| no single culprit; candidates: %s" %
          ", ".join(x.get("commit", "?")[:12] for x in o.get("candidates", [])))
print("| expected     %s  -> %s" % (want[:12], "RIGHT" if c == want else "WRONG"))
t = o.get("titles") or []
if t:
    print("| crash        %s" % (t[0].get("title") if isinstance(t[0], dict) else t[0]))
q = o.get("q")
if q is not None:
    print("| flake rate   q = %.2f per run (eps %.3f)" % (q, o.get("eps", 0)))
print("| builds       %s real, %s avoided (cache or dependency skip)" %
      (o.get("builds"), o.get("builds_avoided")))
print("| test runs    %s in %d tested commits" % (o.get("test_runs"), len(o.get("tested", []))))
infra = sum(x.get("infra", 0) for x in o.get("tested", []))
print("| infra runs   %d (SYZFAIL etc., ignored)" % infra)
print("| bisect time  %dm%02ds (demo total %dm%02ds)" % (secs // 60, secs % 60, total // 60, total % 60))
print("+--------------------------------------------------------------------------")
sys.exit(0 if c == want else 1)
PY
echo "report: $state/out/report.html   log: $state/out/bisect.log"
