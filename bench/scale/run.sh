#!/usr/bin/env bash
# bench/scale/run.sh [KBISECT] [TRIALS] [BASELINE_KBISECT] - scaling out through Slurm
# (issue 23), all in one go:
#  1. Slurm's submission latency on this host's cluster (scripts/slurm-local.sh, or the
#     one $KB_SLURM_DIR names): 10 batch jobs running `true`, submit to seen COMPLETED,
#     plus half the executor's poll interval for jobs of minutes (2 s);
#  2. kb-scale with that latency: the engine's simulated wall time at k in {1,4,8,16,64}
#     on 5,000-commit histories at q in {0.5, 0.2}, the speed-up over k = 1, and the
#     ratio to syzkaller's rule (10-20 VMs per commit) on the same histories;
#  3. one real bisection (the repository, real Debian kernels and QEMU runs of
#     tests/cli/t3101) with --executor slurm against --executor local, same options,
#     each with a fresh cache and its own cache server: the overhead ratio slurm/local;
#     with BASELINE_KBISECT (an older build), --executor slurm with that one too, in the
#     same go (before/after a change of the executor). TRIALS = 0 skips step 2;
#     KB_SCALE_REPEAT=N repeats step 3 N times (alternating, the ratios of each).
# Skips (exit 0, one line) when Slurm cannot be started or no kernels can be fetched.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
KBISECT=$(realpath "${1:-$src/build/cli/kbisect}")
trials=${2:-20}
baseline=${3:+$(realpath "$3")}
scale=$(dirname "$KBISECT")/../bench/kb-scale
[ "$trials" = 0 ] || [ -x "$scale" ] || { echo "run.sh: no $scale; build first" >&2; exit 1; }
tmp=$(mktemp -d)
own=
pids=()
cleanup() {
	for p in "${pids[@]}" $(cat "$tmp"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	[ -n "$own" ] && bash "$src/scripts/slurm-local.sh" stop "$KB_SLURM_DIR"
	rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "${KB_SLURM_DIR:-}" ] || ! SLURM_CONF=$KB_SLURM_DIR/slurm.conf sinfo >/dev/null 2>&1; then
	KB_SLURM_DIR=$tmp/slurm
	bash "$src/scripts/slurm-local.sh" start "$KB_SLURM_DIR" >/dev/null 2>"$tmp/slurm.err" || {
		echo "bench/scale: skipped: cannot start Slurm: $(tail -1 "$tmp/slurm.err")"; exit 0; }
	own=1
fi
export SLURM_CONF=$KB_SLURM_DIR/slurm.conf PATH=$PATH:/usr/sbin
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

# 1. submission latency
lat=$(python3 - <<'PY'
import subprocess, time, statistics
xs = []
for i in range(10):
    t0 = time.monotonic()
    jid = subprocess.run(["sbatch", "--parsable", "--job-name=kbisect-latency",
                          "--output=/dev/null", "--wrap=true"], check=True,
                         capture_output=True, text=True).stdout.strip().split(";")[0]
    while True:
        st = subprocess.run(["squeue", "-h", "--states=all", "-j", jid, "-o", "%T"],
                            capture_output=True, text=True).stdout.strip()
        if st in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.05)
    xs.append(time.monotonic() - t0)
print("%.3f %.3f %.3f" % (statistics.mean(xs), min(xs), max(xs)))
PY
)
read -r lat_mean lat_min lat_max <<<"$lat"
# the executor looks at a job every twentieth of its age, at most every 2 s: a job of
# minutes (the simulator's builds and test rounds) is seen ending 1 s late on average
lat_exec=$(python3 -c "print(round($lat_mean + 1.0, 3))")
echo "slurm job latency (sbatch to COMPLETED seen, 'true'): mean ${lat_mean}s, min ${lat_min}s, max ${lat_max}s; with the executor's poll of long jobs (2 s): ${lat_exec}s"

# 2. the simulator with that latency
if [ "$trials" != 0 ]; then
	echo
	"$scale" --latency "$lat_exec" --trials "$trials"
fi

# 3. one real bisection, local vs slurm
echo
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
export HOME=$tmp KBISECT_CONFIG=$tmp/none
unset KBISECT_REMOTE KBISECT_CACHE
# shellcheck source=../../tests/cli/lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" >/dev/null 2>&1 || { echo "real run: skipped (no kernels)"; exit 0; }
serve() { "$KBISECT" cache serve --cache "$tmp/$1/server" --listen 127.0.0.1:0 \
		--port-file "$tmp/$1.port" --duration 1200 --quiet >/dev/null 2>&1 &
	echo $! > "$tmp/$1.pid" # (in $(...): a subshell; cleanup reads the file)
	for _ in $(seq 50); do [ -s "$tmp/$1.port" ] && break; sleep 0.1; done
	echo "http://127.0.0.1:$(cat "$tmp/$1.port")"; }
# the coordinator's squeue calls, counted by a wrapper first on its $PATH (any kbisect)
mkdir -p "$tmp/wrap"
real_squeue=$(command -v squeue)
printf '#!/bin/sh\necho >> "$KB_SQUEUE_COUNT"\nexec %s "$@"\n' "$real_squeue" > "$tmp/wrap/squeue"
chmod +x "$tmp/wrap/squeue"
# run NAME EXECUTOR BINARY: a fresh cache, work trees, node directory and cache server
run() { local name=$1 ex=$2 bin=$3 url; rm -rf "${tmp:?}/$name"; url=$(serve "$name")
	local t0; t0=$(date +%s.%N)
	KB_SQUEUE_COUNT=$tmp/$name.squeue PATH=$tmp/wrap:$PATH \
	KBISECT_SLURM_NODE_DIR=$tmp/$name/node "$bin" bisect --executor "$ex" --repo "$repo" \
		--bad HEAD --good v1.0 --config "$tmp/config" --repro "$tmp/repro.c" \
		--build-cmd 'sh scripts/build.sh' --image bzImage --cache "$tmp/$name/cache" \
		--work-dir "$tmp/$name/wt" --accel tcg --vms 2 --runs-per-test 2 --workers 2 \
		--run-timeout 120 --remote "$url" --json --log "$tmp/$name.log" >"$tmp/$name.json"
	python3 -c "import time; print(round(time.time() - $t0, 1))" > "$tmp/$name.s"
	grep -h "^executor slurm: [0-9]" "$tmp/$name.log" | sed "s/^/  $name: /" || true; }
for i in $(seq "${KB_SCALE_REPEAT:-1}"); do
	run "local.$i" local "$KBISECT"
	[ -z "$baseline" ] || run "slurm-baseline.$i" slurm "$baseline"
	run "slurm.$i" slurm "$KBISECT"
done
python3 - "$tmp" "$culprit" "${KB_SCALE_REPEAT:-1}" <<'PY'
import json, os, sys
d, culprit, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(1, n + 1):
    r = {}
    for name in ("local", "slurm-baseline", "slurm"):
        f = f"{d}/{name}.{i}"
        if not os.path.exists(f + ".s"):
            continue
        o = json.load(open(f + ".json"))
        s = float(open(f + ".s").read())
        r[name] = s
        sq = ""
        if os.path.exists(f + ".squeue"):
            sq = f", {len(open(f + '.squeue').read().splitlines())} squeue calls"
        print(f"[{i}] real bisection, {name}: {s:.1f} s, {o['rounds']} rounds, {o['builds']} builds, "
              f"{o['test_runs']} runs, culprit {'right' if o['culprit'] == culprit else 'WRONG'}{sq}")
    for name in ("slurm-baseline", "slurm"):
        if name in r:
            print(f"[{i}] overhead of Slurm ({name} / local, same scenario, same k=2): "
                  f"{r[name] / r['local']:.2f}x")
PY
