#!/usr/bin/env bash
# tests/cli/t3210-bisect-slurm-kernel.sh - a REAL kernel bisected with --executor slurm on
# the local Slurm (scripts/slurm-local.sh; the one scripts/test.sh started, else its own):
# the demo's scenario (scripts/demo-scenario/scenario.py, as t3200) made small - 3
# synthetic commits on top of linux-source-6.1, one of them adding a flaky NULL
# dereference to prctl() - with every build a Slurm job running `kbisect build` of the
# real kernel tree (tinyconfig) and every test a job running `kbisect pool run` (QEMU,
# TCG) of a reproducer that also fails on its own now and then (SYZFAIL). Checks:
#   - the culprit is the commit the scenario added the bug in;
#   - every build and every test of the log is a job in sacct (job completion log), and
#     there is at least one of each;
#   - nothing shared between the coordinator and the jobs but the cache server: no path
#     of the coordinator (its cache, work trees, config, reproducer, scenario) in any
#     job's script, no kernel built in the coordinator's work trees, and the jobs' node
#     directory is not the coordinator's;
#   - the same culprit as --executor local: a local coordinator (its own fresh cache, the
#     same --remote) on the same scenario, which finds the kernels and runs the Slurm
#     jobs pushed to the cache server (what a second user of the team's server sees:
#     the local run is a cached reference, not a second real bisection; t3200, label
#     demo, bisects this scenario locally from nothing).
# CI cost (2 cores, no KVM): two build jobs, incremental in the node's persistent work
# tree (below), and ~70-100 QEMU runs in the test jobs; see docs/scale-out.md.
# kb-test-labels: vm slow slurm
# kb-test-timeout: 1500
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
if [ ! -f /usr/src/linux-source-6.1.tar.xz ] &&
   [ ! -f "${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}/.git/kbisect-import-done" ]; then
	echo "SKIP: no linux-source-6.1 (scripts/install-deps.sh installs it)" >&2
	exit 0
fi
repo=$(bash "$src/scripts/kernel-repo.sh")
# The build node's directory (KBISECT_SLURM_NODE_DIR: its work trees, and here its
# compiler cache) persists across runs, as on a real build node (the kernel repository
# does too, under the same ~/.cache/kbisect): a host's first run checks out and compiles
# the whole tree (9 min of building on a loaded 2-CPU host), later ones build in the
# work tree the last run left, incrementally (~30 s for both). The node's kbisect cache
# is emptied first, so every build is a real `kbisect build` (make in the tree), not a
# hit of the last run's records. Only the jobs use the directory (the coordinator
# compiles nothing and never reads it); their data go through the cache server.
node=${KB_SLURM_NODE_DIR:-$HOME/.cache/kbisect/slurm-node}
mkdir -p "$node"
rm -rf "${node:?}/cache"
export CCACHE_DIR=$node/ccache CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-2G}
export HOME=$tmp KBISECT_CONFIG=$tmp/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE
unset KBISECT_SLURM_BIN

# the cluster: scripts/test.sh's (KB_SLURM_DIR), else one of our own
# shellcheck source=lib/slurm.sh
. "$src/tests/cli/lib/slurm.sh"
name=t3210-$$
# the cache server (lib/serve.sh: serve_start; its EXIT trap stops the server, then calls
# serve_exit_hook below)
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
serve_log=$tmp/serve.err
serve_exit_hook() {
	# jobs still queued (a failure half way) and the output files of failed jobs; no job
	# in the logs (or no log) must not end the hook under set -e and pipefail
	cat "$tmp"/*.log 2>/dev/null | grep -o "as job [0-9]*" | while read -r _ _ id; do
		scancel "$id" 2>/dev/null || true; rm -f "/tmp/kbisect-slurm-$id.log"; done || true
	if [ -n "$own" ]; then bash "$src/scripts/slurm-local.sh" stop "$KB_SLURM_DIR"; fi
	rm -rf "${node:?}/cache" # this run's kernels and VM states (~0.5 GB); the tree stays
	git -C "$repo" worktree prune 2>/dev/null || true
	git -C "$repo" update-ref -d "refs/heads/kbisect-$name" 2>/dev/null || true
}

scen=$(python3 "$src/scripts/demo-scenario/scenario.py" --repo "$repo" --dir "$tmp/scen" \
	--name "$name" --commits 3 --bug-a-at 0.5 --bug-b-at 0.2 --seed 3210)
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$scen" "$1"; }
bad=$(field bad) culprit=$(field culprit_a)
[ "$(git -C "$repo" rev-list --count "import..$bad")" = 3 ] || fail "scenario: not 3 commits"
git -C "$repo" show "$culprit" -- kernel/sys.c | grep '^+.*leader = NULL' >/dev/null ||
	fail "scenario: the culprit does not add the bug"

serve_start --cache "$tmp/server" --duration 1500 --quiet

# one coordinator: its own cache and work trees ($1); --workers 1 and --prebuild 0 (a
# one-node, 2-CPU cluster: one build job at a time, each incremental in the node's tree)
kb() { local who=$1; shift
	"$KBISECT" bisect --repo "$repo" --good import --bad "$bad" --config "$(field config)" \
		--repro "$(field repro_a)" --cache "$tmp/$who/cache" --work-dir "$tmp/$who/work" \
		--workers 1 --prebuild 0 --vms 2 --accel tcg --run-timeout 30 --remote "$URL" \
		--json --log "$tmp/$who.log" "$@"; }

start=$(date +%s)
KBISECT_SLURM_NODE_DIR=$node kb slurm --executor slurm >"$tmp/slurm.json" 2>"$tmp/slurm.err" ||
	fail "slurm bisect: $(tail -30 "$tmp/slurm.log"; cat "$tmp/slurm.err")"
echo "bisection through Slurm: $(( $(date +%s) - start ))s"
grep -E "^(round|executor|slurm:|revisions tested)" "$tmp/slurm.log" || true
# the right commit, surely, from real crashes of the kernel (tests/cli/lib/bisect-result.py)
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/slurm.json" "$culprit" --name slurm ||
	fail "slurm result: $(cat "$tmp/slurm.json")"

# every build and every test a job, each in sacct
builds=$(grep -Eo "slurm: (building|building again|building meanwhile) [0-9a-f]+ as job [0-9]+" \
	"$tmp/slurm.log" | awk '{print $NF}' | sort -u)
tests=$(grep -Eo "slurm: testing [0-9a-f]+ \([0-9]+ runs\) as job [0-9]+" "$tmp/slurm.log" |
	awk '{print $NF}' | sort -u)
[ -n "$builds" ] || fail "no build job in the log"
[ -n "$tests" ] || fail "no test job in the log"
acct=$(sacct -c -n -P -o JobID,JobName,State 2>/dev/null ||
	sacct -X -n -P -o JobID,JobName,State -S now-1hour)
for id in $builds; do
	grep -Eq "^$id\|kbisect-build-[0-9a-f]+\|COMPLETED" <<<"$acct" ||
		fail "build job $id is not COMPLETED in sacct: $(echo "$acct" | grep "^$id|")"
done
for id in $tests; do
	grep -Eq "^$id\|kbisect-test-[0-9a-f]+\|" <<<"$acct" ||
		fail "test job $id is not in sacct"
done
echo "sacct: $(echo "$builds" | wc -l) build jobs, $(echo "$tests" | wc -l) test jobs"
# the builds the bisection counted were these jobs (none made by the coordinator)
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/slurm.json" "$culprit" --culprit-only \
	--max-builds "$(echo "$builds" | wc -l)" || fail "builds vs jobs"

# nothing shared but the cache server
for id in $builds $tests; do
	scontrol write batch_script "$id" "$tmp/job.sh" >/dev/null 2>&1 ||
		fail "no batch script for job $id"
	grep -Eq "$tmp/(slurm|local)/|$tmp/scen|$(field config)|$(field repro_a)" "$tmp/job.sh" &&
		fail "job $id reads a coordinator's file: $(cat "$tmp/job.sh")"
	grep -q "$URL" "$tmp/job.sh" || fail "job $id does not use the cache server"
done
find "$tmp/slurm/work" -name bzImage -o -name vmlinux 2>/dev/null | grep . >/dev/null &&
	fail "the coordinator built a kernel itself: $(find "$tmp/slurm/work" -name bzImage)"
find "$node/work" -maxdepth 8 -path "*/arch/x86/boot/bzImage" -newer "$tmp/port" 2>/dev/null |
	grep . >/dev/null || fail "no kernel was built in the jobs' node directory during this run"

# --executor local on the same scenario and server: the same culprit
start=$(date +%s)
kb local --executor local >"$tmp/local.json" 2>"$tmp/local.err" ||
	fail "local bisect: $(tail -30 "$tmp/local.log"; cat "$tmp/local.err")"
echo "the same with --executor local: $(( $(date +%s) - start ))s"
# (the culprit of the Slurm run, checked above)
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/local.json" "$culprit" --culprit-only \
	--name local || fail "local result: $(cat "$tmp/local.json")"
grep -h "^executor slurm: [0-9]" "$tmp/slurm.log"
echo ok
