#!/usr/bin/env bash
# bench/builder/minimize.sh [WORK_DIR] - time saved by `kbisect config minimize` on a
# real kernel: the scenario of tests/cli/t3301 (scripts/demo-scenario/
# minimize_scenario.py: BIG = a tinyconfig + 100 real options, the crash needs
# CONFIG_PROC_CHILDREN), minimized with kbisect (tests, builds, runs, wall time), then
# one clean build of BIG and one of the minimized config from scratch, each in an empty
# O= directory of the same source tree, both at once (half the CPUs each), same
# machine: the ratio is what every
# build of a bisection with --minimize-config saves. Takes tens of minutes on 2 cores.
# A WORK_DIR holding out.json and min.config of an earlier run reuses them.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
[ -x build/cli/kbisect ] || bash scripts/build.sh build
if [ ! -f /usr/src/linux-source-6.1.tar.xz ] &&
   [ ! -f "${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}/.git/kbisect-import-done" ]; then
	echo "no linux-source-6.1: skipping" >&2
	exit 0
fi
work=${1:-$(mktemp -d)}
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
repo=$(bash scripts/kernel-repo.sh)
scen=$(python3 scripts/demo-scenario/minimize_scenario.py --repo "$repo" --dir "$work/scen" \
	--name bench-minimize --extra 100 --seed 1)
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$scen" "$1"; }
rev=$(field rev)

start=$(date +%s)
if [ -s "$work/out.json" ] && [ -s "$work/min.config" ]; then
	echo "reusing the minimization in $work (out.json, min.config)"
else
build/cli/kbisect config minimize --repo "$repo" --rev "$rev" --config "$(field big)" \
	--baseline "$(field small)" --repro "$(field repro)" --cache "$work/cache" \
	--work-dir "$work/wt" --accel tcg --vms 2 --run-timeout 30 --json \
	--out "$work/min.config" --log "$work/log" >"$work/out.json"
echo "kbisect config minimize: $(( $(date +%s) - start ))s"
fi

# clean builds: one source tree (git archive, no checkout in the shared repository),
# an empty O= directory per config
rm -rf "$work/src"
mkdir -p "$work/src"
git -C "$repo" archive "$rev" | tar -x -C "$work/src"
# both at once, half the CPUs each: the two see the same load on a shared machine
jobs=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
clean_build() { # config name: seconds into $work/<name>.seconds
	local o=$work/o-$2
	rm -rf "$o"
	mkdir -p "$o"
	cp "$1" "$o/.config"
	make -s -C "$work/src" O="$o" olddefconfig >/dev/null 2>&1
	local t0
	t0=$(date +%s.%N)
	make -s -C "$work/src" O="$o" -j"$jobs" bzImage >/dev/null 2>&1
	python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" \
		"$(date +%s.%N)" "$t0" > "$work/$2.seconds"
}
clean_build "$(field big)" big &
clean_build "$work/min.config" min &
wait
big_s=$(cat "$work/big.seconds")
min_s=$(cat "$work/min.seconds")
python3 - "$work/out.json" "$big_s" "$min_s" <<'PY'
import json, math, sys
o = json.load(open(sys.argv[1]))
big, mn = float(sys.argv[2]), float(sys.argv[3])
print("options that matter: %s (of %d)" % (", ".join(x["name"] for x in o["options"]),
                                           o["n_diff"]))
print("minimize: %d tests (log2 %d = %.1f), %d builds, %d runs, %.0fs" %
      (o["tests"], o["n_diff"], math.log2(max(o["n_diff"], 1)), o["builds"], o["runs"],
       o["seconds"]))
print("one clean build: BIG %.1fs, minimized %.1fs: %.2fx faster" % (big, mn, big / mn))
PY
rm -rf "$work/src" "$work/o-big" "$work/o-min"
git -C "$repo" update-ref -d refs/heads/kbisect-bench-minimize || true
cd "$root"
