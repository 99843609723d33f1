#!/usr/bin/env bash
# bench/scale/demo.sh [KBISECT] - what the demo's scenario costs through Slurm: the
# scenario of tests/cli/t3200-demo-kernel.sh (6 synthetic commits on linux-source-6.1,
# real tinyconfig builds, real QEMU runs under TCG, a flaky NULL dereference) bisected
# with --executor slurm on the local cluster (scripts/slurm-local.sh, or $KB_SLURM_DIR),
# data through a fresh cache server; KB_SCALE_DEMO="local slurm" runs --executor local
# first in the same go and prints the ratio (default "slurm"; "local" alone for a
# baseline run of its own); KB_SCALE_DEMO_ARGS adds options (e.g. --prebuild 0).
# Prints wall seconds, builds, runs, jobs and whether the culprit is right. Minutes on
# two idle cores (the kernel builds dominate); skips (exit 0) without linux-source-6.1
# or Slurm.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
KBISECT=$(realpath "${1:-$src/build/cli/kbisect}")
if [ ! -f /usr/src/linux-source-6.1.tar.xz ] &&
   [ ! -f "${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}/.git/kbisect-import-done" ]; then
	echo "bench/scale/demo: skipped: no linux-source-6.1"; exit 0
fi
tmp=$(mktemp -d)
own=
pids=()
cleanup() {
	for p in "${pids[@]}" $(cat "$tmp"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	[ -n "$own" ] && bash "$src/scripts/slurm-local.sh" stop "$KB_SLURM_DIR"
	rm -rf "$tmp"
	git -C "${repo:-/nonexistent}" worktree prune 2>/dev/null || true
	git -C "${repo:-/nonexistent}" update-ref -d refs/heads/kbisect-bscale 2>/dev/null || true
}
trap cleanup EXIT
if [ -z "${KB_SLURM_DIR:-}" ] || ! SLURM_CONF=$KB_SLURM_DIR/slurm.conf sinfo >/dev/null 2>&1; then
	KB_SLURM_DIR=$tmp/slurm
	bash "$src/scripts/slurm-local.sh" start "$KB_SLURM_DIR" >/dev/null 2>"$tmp/slurm.err" || {
		echo "bench/scale/demo: skipped: cannot start Slurm: $(tail -1 "$tmp/slurm.err")"; exit 0; }
	own=1
fi
export SLURM_CONF=$KB_SLURM_DIR/slurm.conf PATH=$PATH:/usr/sbin
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
repo=$(bash "$src/scripts/kernel-repo.sh")
scen=$(python3 "$src/scripts/demo-scenario/scenario.py" --repo "$repo" --dir "$tmp/scen" \
	--name bscale --commits 6 --bug-a-at 0.5 --bug-b-at 0.2 --seed 3200)
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$scen" "$1"; }
bad=$(field bad) culprit=$(field culprit_a)
serve() { "$KBISECT" cache serve --cache "$tmp/$1/server" --listen 127.0.0.1:0 \
		--port-file "$tmp/$1.port" --duration 7200 --quiet >/dev/null 2>&1 &
	echo $! > "$tmp/$1.pid" # (in $(...): a subshell; cleanup reads the file)
	for _ in $(seq 50); do [ -s "$tmp/$1.port" ] && break; sleep 0.1; done
	echo "http://127.0.0.1:$(cat "$tmp/$1.port")"; }
run() { local ex=$1 url t0; url=$(serve "$ex"); t0=$(date +%s.%N)
	KBISECT_SLURM_NODE_DIR=$tmp/$ex/node "$KBISECT" bisect --executor "$ex" --repo "$repo" \
		--good import --bad "$bad" --config "$(field config)" --repro "$(field repro_a)" \
		--cache "$tmp/$ex/cache" --work-dir "$tmp/$ex/work" --workers 1 --vms 2 \
		--accel tcg --run-timeout 30 --remote "$url" --json --log "$tmp/$ex.log" \
		${KB_SCALE_DEMO_ARGS:-} \
		>"$tmp/$ex.json" 2>"$tmp/$ex.err" || { tail -20 "$tmp/$ex.log"; cat "$tmp/$ex.err"; }
	python3 -c "import time; print(round(time.time() - $t0, 1))" > "$tmp/$ex.s"; }
for ex in ${KB_SCALE_DEMO:-slurm}; do run "$ex"; done
python3 - "$tmp" "$culprit" <<'PY'
import json, os, sys
d, culprit = sys.argv[1], sys.argv[2]
r = {}
for ex in ("local", "slurm"):
    if not os.path.exists(f"{d}/{ex}.s"):
        continue
    s = float(open(f"{d}/{ex}.s").read())
    try:
        o = json.load(open(f"{d}/{ex}.json"))
    except Exception:
        print(f"demo scenario, --executor {ex}: failed after {s:.0f} s"); continue
    r[ex] = s
    print(f"demo scenario, --executor {ex}: {s:.0f} s, {o['rounds']} rounds, {o['builds']} builds, "
          f"{o['test_runs']} runs, culprit {'right' if o['culprit'] == culprit else 'WRONG'}")
if len(r) == 2:
    print(f"slurm / local wall time: {r['slurm'] / r['local']:.2f}x")
PY
grep -h "^executor slurm: [0-9]" "$tmp/slurm.log" 2>/dev/null || true
