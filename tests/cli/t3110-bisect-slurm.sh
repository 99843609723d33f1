#!/usr/bin/env bash
# tests/cli/t3110-bisect-slurm.sh - `kbisect bisect --executor slurm` on the local Slurm
# (scripts/slurm-local.sh: munged, slurmctld, slurmd; the one scripts/test.sh started,
# else its own): the real repository, builds and QEMU runs of t3101, every build and
# test a Slurm job whose data travels through `kbisect cache serve` only. Host A bisects
# with three faults injected (the first job fails at start, slurmd is killed during a
# build, a test job is scancel'ed mid-run) and is interrupted after its second round;
# host B (its own cache, work trees and node directory) runs the same command with the
# same --remote and finishes; host C bisects again with --find-good (the release's build
# is a Slurm job too): the culprit of t3101 (what --executor local finds), the
# lost runs counted as infra, every job of both hosts in sacct, and no path of the
# coordinator in any job's script. A bad partition, or no --remote, is an error before
# the first round; --slurm-partition without --executor slurm a usage error.
# kb-test-labels: vm slurm
# kb-test-timeout: 900
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
export HOME=$tmp KBISECT_CONFIG=$tmp/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE

# the cluster: scripts/test.sh's (KB_SLURM_DIR), else one of our own
# shellcheck source=lib/slurm.sh
. "$src/tests/cli/lib/slurm.sh"
# the cache server (lib/serve.sh: serve_start; its EXIT trap stops the server, then calls
# serve_exit_hook below)
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
serve_log=$tmp/serve.err
pids=()
serve_exit_hook() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	# slurmd must be up again whatever happened (a shared cluster)
	[ -f "$KB_SLURM_DIR/slurmd.pid" ] && kill -0 "$(cat "$KB_SLURM_DIR/slurmd.pid")" 2>/dev/null ||
		bash "$src/scripts/slurm-local.sh" start-slurmd "$KB_SLURM_DIR" 2>/dev/null || true
	# the output files jobs that failed left on the node (this host); no job in the logs
	# (or no log: the test ended early) must not end the hook under set -e and pipefail
	cat "$tmp"/log* 2>/dev/null | grep -o "as job [0-9]*" | while read -r _ _ id; do
		rm -f "/tmp/kbisect-slurm-$id.log"; done || true
	if [ -n "$own" ]; then bash "$src/scripts/slurm-local.sh" stop "$KB_SLURM_DIR"; fi
}

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
serve_start --cache "$tmp/server" --duration 850 --quiet

# host <name> ...: (in a subshell: it execs) a coordinator with its own cache and work trees; its jobs keep their
# files in a node directory of their own (as on another machine)
host() { local h=$1; shift
	KBISECT_SLURM_NODE_DIR=$tmp/$h/node exec "$KBISECT" bisect --executor slurm \
		--repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" \
		--repro "$tmp/repro.c" --build-cmd 'sh scripts/build.sh' --image bzImage \
		--cache "$tmp/$h/cache" --work-dir "$tmp/$h/wt" --accel tcg --vms 2 \
		--runs-per-test 2 --workers 2 --run-timeout 120 --remote "$URL" --json "$@"; }

# a job Slurm rejects: a clear error before the first round, no job run
set +e
(host a --slurm-partition no-such-partition --log "$tmp/logbad" >/dev/null 2>"$tmp/errbad")
rc=$?
set -e
[ $rc -eq 1 ] || fail "bad partition: exit $rc, want 1"
grep -q "Slurm rejects the jobs of this bisection.*Invalid partition" "$tmp/errbad" ||
	fail "bad partition message: $(cat "$tmp/errbad")"
grep -q "^round" "$tmp/logbad" && fail "rounds ran with a bad partition"

# no munge (the socket of the cluster's munged not there): the same, Slurm's reason given
sed "s|^AuthInfo=.*|AuthInfo=socket=$tmp/no-munge.sock|" "$SLURM_CONF" > "$tmp/nomunge.conf"
set +e
(SLURM_CONF=$tmp/nomunge.conf host a --log "$tmp/lognm" >/dev/null 2>"$tmp/errnm")
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "Slurm rejects the jobs of this bisection" "$tmp/errnm" ||
	fail "no munge: exit $rc: $(cat "$tmp/errnm")"
echo "no munge: $(cat "$tmp/errnm")"

# no cache server: an error at once; Slurm options without the executor: a usage error
set +e
"$KBISECT" bisect --executor slurm --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" \
	--repro "$tmp/repro.c" --cache "$tmp/c0" >/dev/null 2>"$tmp/err0"
rc0=$?
"$KBISECT" bisect --slurm-partition debug --repo "$repo" --bad HEAD --good v1.0 \
	--config "$tmp/config" --repro "$tmp/repro.c" >/dev/null 2>"$tmp/err1"
rc1=$?
set -e
[ $rc0 -eq 1 ] && grep -q "needs a cache server (--remote URL" "$tmp/err0" ||
	fail "slurm without --remote: exit $rc0: $(cat "$tmp/err0")"
[ $rc1 -eq 129 ] && grep -q "need --executor slurm" "$tmp/err1" ||
	fail "--slurm-partition alone: exit $rc1: $(cat "$tmp/err1")"

# faults. The program the jobs run: the first job fails at start (as on a node without
# kbisect); builds take 4 s longer, so a build job is seen running
cat > "$tmp/kb-node" <<SH
#!/bin/sh
if mkdir "$tmp/first-job" 2>/dev/null; then echo "kbisect: not found" >&2; exit 127; fi
[ "\$1" = build ] && sleep 4
exec "$KBISECT" "\$@"
SH
chmod +x "$tmp/kb-node"
export KBISECT_SLURM_BIN=$tmp/kb-node
# a running job of ours (the hosts' logs name them; other tests may share the cluster)
running() { squeue -h -t RUNNING -o '%i %j' | while read -r i n; do
	case $n in "$1"*) grep -qs "as job $i\$" "$tmp/loga" "$tmp/logb" &&
		{ echo "$i"; break; } ;; esac
	done; }
# slurmd killed (SIGKILL) while a build job runs, back 5 s later
( for _ in $(seq 1200); do
	j=$(running kbisect-build) && [ -n "$j" ] && {
		bash "$src/scripts/slurm-local.sh" kill-slurmd "$KB_SLURM_DIR"
		echo "killed slurmd during build job $j" > "$tmp/fault-slurmd"; sleep 5
		bash "$src/scripts/slurm-local.sh" start-slurmd "$KB_SLURM_DIR"; exit 0; }
	sleep 0.2; done ) &
pids+=($!)
# a test job cancelled 3 s into its run
( for _ in $(seq 3000); do
	j=$(running kbisect-test) && [ -n "$j" ] && { sleep 3; scancel "$j"
		echo "cancelled test job $j" > "$tmp/fault-scancel"; exit 0; }
	sleep 0.2; done ) &
pids+=($!)

# host A: interrupted (Ctrl-C) once its second round is logged
(host a --log "$tmp/loga" >"$tmp/outa" 2>"$tmp/erra") &
apid=$! # ($pid is the server's, lib/serve.sh)
for _ in $(seq 1 12000); do
	grep -q "^round 2:" "$tmp/loga" 2>/dev/null && break
	kill -0 $apid 2>/dev/null || break
	sleep 0.05
done
kill -INT $apid 2>/dev/null || true
set +e
wait $apid
rc=$?
set -e
if [ $rc -eq 0 ]; then
	echo "host A finished before the interrupt"
elif ! grep -q "interrupted; run the same command again" "$tmp/erra"; then
	fail "host A: exit $rc: $(tail -20 "$tmp/loga"; cat "$tmp/erra")"
fi

# host B: the same command, its own cache and node directory, the same --remote
unset KBISECT_SLURM_BIN
(host b --log "$tmp/logb" >"$tmp/outb" 2>"$tmp/errb") ||
	fail "host B: $(tail -20 "$tmp/logb"; cat "$tmp/errb")"
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/outb" "$culprit" --culprit-only ||
	fail "host B result: $(cat "$tmp/outb")"
if [ $rc -ne 0 ]; then
	grep -q "replaying" "$tmp/logb" || fail "host B did not resume host A's rounds: $(head "$tmp/logb")"
fi
wait "${pids[@]}" 2>/dev/null || true
cat "$tmp"/fault-* 2>/dev/null || true

# host C: --find-good instead of --good: the release's build is a Slurm job too
fg() { KBISECT_SLURM_NODE_DIR=$tmp/c/node exec "$KBISECT" bisect --executor slurm \
	--repo "$repo" --bad HEAD --find-good --config "$tmp/config" \
	--repro "$tmp/repro.c" --build-cmd 'sh scripts/build.sh' --image bzImage \
	--cache "$tmp/c/cache" --work-dir "$tmp/c/wt" --accel tcg --vms 2 \
	--runs-per-test 2 --workers 2 --run-timeout 120 --remote "$URL" --json "$@"; }
(fg --log "$tmp/logc" >"$tmp/outc" 2>"$tmp/errc") ||
	fail "host C (--find-good): $(tail -20 "$tmp/logc"; cat "$tmp/errc")"
grep -q "^good release: v1.0" "$tmp/logc" || fail "--find-good log: $(head -20 "$tmp/logc")"
v10=$(git -C "$repo" rev-parse "v1.0^{commit}")
grep -Eq "^slurm: building (v1.0|${v10:0:12}) as job [0-9]+" "$tmp/logc" ||
	fail "--find-good: the release was not built by a Slurm job: $(grep -E "release|slurm:" "$tmp/logc")"
# (its kernel is the one of the commits before the culprit: its runs are on the server
# already, so no test job; a test would be a job, this coordinator has no VM pool)
python3 "$src/tests/cli/lib/bisect-result.py" "$tmp/outc" "$culprit" --culprit-only ||
	fail "host C result: $(cat "$tmp/outc")"
cat "$tmp/loga" "$tmp/logb" "$tmp/logc" > "$tmp/logs"

# the faults were there and ended as infra, never as evidence
grep -q "ended FAILED without a result: infra" "$tmp/logs" ||
	fail "the job failing at start was not taken as infra: $(grep slurm: "$tmp/logs")"
[ -f "$tmp/fault-scancel" ] || fail "no test job was seen running to cancel"
grep -q "ended CANCELLED with [0-9]* of its runs missing: infra" "$tmp/logs" ||
	fail "the cancelled test job's runs were not infra: $(grep slurm: "$tmp/logs")"
[ -f "$tmp/fault-slurmd" ] || fail "no build job was seen running to kill slurmd under"

# every build and test is a job in sacct (the job completion log here)
ids=$(grep -o "as job [0-9]*" "$tmp/logs" | awk '{print $3}' | sort -u)
[ -n "$ids" ] || fail "no jobs in the logs"
acct=$(sacct -c -n -P -o JobID,JobName,State 2>/dev/null || sacct -X -n -P -o JobID,JobName,State -S now-1hour)
for id in $ids; do
	grep -Eq "^$id\|kbisect-(build|test)-" <<<"$acct" || fail "job $id is not in sacct: $acct"
done
echo "$(echo "$ids" | wc -l) jobs, all in sacct"
# nothing shared but the cache server: no path of the coordinators in a job
for id in $ids; do
	scontrol write batch_script "$id" "$tmp/job.sh" >/dev/null 2>&1 || continue
	grep -Eq "$tmp/(a|b|c)/(cache|wt)|$tmp/config|$tmp/repro" "$tmp/job.sh" &&
		fail "job $id reads a coordinator's file: $(cat "$tmp/job.sh")"
done
ls "$tmp"/a/wt/*/bzImage "$tmp"/b/wt/*/bzImage "$tmp"/c/wt/*/bzImage 2>/dev/null &&
	fail "a coordinator built a kernel itself"
grep -h "^executor slurm: [0-9]" "$tmp/logs"
echo ok
