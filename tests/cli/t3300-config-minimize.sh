#!/usr/bin/env bash
# tests/cli/t3300-config-minimize.sh - `kbisect config minimize` end to end with real QEMU
# runs (TCG) and a stand-in build (a --build-cmd that resolves the config by copying it
# to .config and installs one of the two real Debian kernels of
# scripts/fetch-kernels.sh: the newer, which the reproducer crashes, when the config has
# CONFIG_BUGGY_DRIVER=y and CONFIG_BUGGY_BUS=y, the bug needing both together).
# BIG = SMALL + 24 options: the search must find exactly the two, in about 2 log2(24)
# tests; the same command again must answer from the cache (no build, no VM run); and
# bad input: a BIG that does not crash, a SMALL that does not build, a missing file:
# exit 1, a clear message, no --out written, nothing half-written in the cache; and
# `kbisect bisect --minimize-config` (the third of five commits adds the driver)
# minimizes on --bad, then blames the right commit with the minimized config.
# kb-test-labels: vm
# kb-test-timeout: 900
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

mapfile -t kernels < <(bash "$src/scripts/fetch-kernels.sh" 2>/dev/null || true)
if [ ${#kernels[@]} -lt 2 ]; then
	echo "no kernels from scripts/fetch-kernels.sh: skipping" >&2
	exit 0
fi
read -r _ old_bz old_vmlinux <<<"${kernels[0]}"
read -r new_name new_bz new_vmlinux <<<"${kernels[1]}"

repo=$tmp/repo
mkdir -p "$repo/scripts" "$tmp/work"
export TMPDIR=$tmp/work
cat > "$repo/scripts/build.sh" <<SH
#!/bin/sh
# "make olddefconfig": the config as it is; "make bzImage": one of two real kernels
set -e
cp "\$KBISECT_CONFIG" .config
if grep -q '^CONFIG_BROKEN=y' .config; then
	echo "drivers/broken.c:1:1: error: expected ';' before '}' token" >&2
	exit 2
fi
if [ -f scripts/buggy-driver ] && grep -q '^CONFIG_BUGGY_DRIVER=y' .config &&
   grep -q '^CONFIG_BUGGY_BUS=y' .config; then
	cp "$new_bz" bzImage; cp "$new_vmlinux" vmlinux
else
	cp "$old_bz" bzImage; cp "$old_vmlinux" vmlinux
fi
SH
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m base
git -C "$repo" tag v1.0
# scripts/ is an input of every build (builder/depset.c): the builder sees the change
for i in 1 2 3 4 5; do
	if [ "$i" = 3 ]; then
		echo "buggy" > "$repo/scripts/buggy-driver"
		msg="drivers: add the buggy driver (culprit)"
	else
		echo "change $i" >> "$repo/notes.txt"
		msg="change $i"
	fi
	git -C "$repo" add -A
	git -C "$repo" commit -q -m "$msg"
done
culprit=$(git -C "$repo" log --format=%H -1 --grep=culprit)
cat > "$tmp/repro.c" <<C
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
int main(void)
{
	struct utsname u;
	if (uname(&u) == 0 && strcmp(u.release, "$new_name") == 0) {
		int fd = open("/proc/sysrq-trigger", O_WRONLY);
		return write(fd, "c", 1) != 1;
	}
	return 0;
}
C
printf 'CONFIG_64BIT=y\n# CONFIG_BUGGY_DRIVER is not set\nCONFIG_SERIAL=y\n' > "$tmp/small"
{
	cat "$tmp/small"
	for i in $(seq 1 22); do
		case $i in
		5) echo "CONFIG_BUGGY_BUS=y" ;;
		17) echo "CONFIG_BUGGY_DRIVER=y" ;;
		*) printf 'CONFIG_OPT_%02d=y\n' "$i" ;;
		esac
	done
	echo "CONFIG_NR_THINGS=64"
	echo "CONFIG_NAME=\"big\""
} > "$tmp/big"

kb() {
	"$KBISECT" config minimize --repo "$repo" --rev HEAD --repro "$tmp/repro.c" \
		--build-cmd 'sh scripts/build.sh' --image bzImage --cache "$tmp/cache" \
		--work-dir "$tmp/wt" --accel tcg --vms 2 --run-timeout 120 "$@"
}

# ---- the search ----
start=$(date +%s)
kb --config "$tmp/big" --baseline "$tmp/small" --json --out "$tmp/min.config" \
	--log "$tmp/log" >"$tmp/out" 2>"$tmp/err" || fail "minimize: $(tail -30 "$tmp/log"; cat "$tmp/err")"
echo "minimize: $(( $(date +%s) - start ))s"
cat "$tmp/log"
cat "$tmp/out"
python3 - "$tmp/out" <<'PY' || fail "result: $(cat "$tmp/out")"
import json, math, sys
o = json.load(open(sys.argv[1]))
names = sorted(x["name"] for x in o["options"])
assert names == ["CONFIG_BUGGY_BUS", "CONFIG_BUGGY_DRIVER"], names
assert o["confirmed"] is True
assert o["n_diff"] == 24, o["n_diff"]
# SMALL, BIG, 2 searches of ~log2(24) each, SMALL + the needed ones
assert o["tests"] <= 2 + 1 + 2 * math.ceil(math.log2(24)) + 1, o["tests"]
assert o["big_crashes"] == 10 and o["q"] > 0.8, o
assert "sysrq" in o["title"].lower() or "crash" in o["title"].lower() or o["title"], o["title"]
assert o["builds"] >= 3 and o["runs"] >= 10
PY
grep -q '^CONFIG_BUGGY_DRIVER=y' "$tmp/min.config" || fail "--out lacks the driver"
grep -q '^CONFIG_BUGGY_BUS=y' "$tmp/min.config" || fail "--out lacks the bus"
if grep -q '^CONFIG_OPT_' "$tmp/min.config"; then fail "--out keeps options not needed"; fi
grep -q '^CONFIG_SERIAL=y' "$tmp/min.config" || fail "--out lost SMALL's options"
grep -q "verdict: does not crash" "$tmp/log" || fail "no clean verdict in the log"

# ---- the same again: from the cache ----
kb --config "$tmp/big" --baseline "$tmp/small" --json >"$tmp/out2" 2>"$tmp/err" ||
	fail "second minimize: $(cat "$tmp/err")"
python3 - "$tmp/out2" <<'PY' || fail "second: $(cat "$tmp/out2")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["builds"] == 0, o["builds"]
assert sorted(x["name"] for x in o["options"]) == ["CONFIG_BUGGY_BUS", "CONFIG_BUGGY_DRIVER"]
PY
# text output
kb --config "$tmp/big" --baseline "$tmp/small" >"$tmp/text" 2>/dev/null || fail "text output"
grep -q "options that matter (2 of the 24" "$tmp/text" || fail "text: $(cat "$tmp/text")"
grep -q "^    CONFIG_BUGGY_DRIVER=y" "$tmp/text" || fail "text: $(cat "$tmp/text")"

# ---- bad input ----
ls "$tmp/cache/minimize" > "$tmp/before"
# a BIG that does not crash (it lacks the bus)
grep -v BUGGY_BUS "$tmp/big" > "$tmp/big-nocrash"
if kb --config "$tmp/big-nocrash" --baseline "$tmp/small" --out "$tmp/no1" \
	--log "$tmp/log-bad" >"$tmp/o1" 2>"$tmp/e1"; then fail "a BIG that does not crash: exit 0"; fi
grep -q "BIG (--config .*big-nocrash) does not crash at HEAD: no crash in 10 runs" "$tmp/e1" ||
	fail "message: $(cat "$tmp/e1")"
[ ! -e "$tmp/no1" ] || fail "--out written for a BIG that does not crash"
# a SMALL that does not build
printf 'CONFIG_64BIT=y\nCONFIG_BROKEN=y\n' > "$tmp/small-broken"
set +e
kb --config "$tmp/big" --baseline "$tmp/small-broken" --out "$tmp/no2" >"$tmp/o2" 2>"$tmp/e2"
rc=$?
set -e
[ "$rc" = 1 ] || fail "a SMALL that does not build: exit $rc"
grep -q "SMALL (--baseline .*small-broken) does not build at HEAD: .*error: expected" "$tmp/e2" ||
	fail "message: $(cat "$tmp/e2")"
[ ! -e "$tmp/no2" ] || fail "--out written for a SMALL that does not build"
# a missing file: nothing created
set +e
"$KBISECT" config minimize --repo "$repo" --rev HEAD --repro "$tmp/repro.c" \
	--config "$tmp/big" --baseline "$tmp/nope" --cache "$tmp/cache-new" >/dev/null 2>"$tmp/e3"
rc=$?
set -e
[ "$rc" = 1 ] || fail "a missing SMALL: exit $rc"
grep -q "cannot read SMALL '.*nope'" "$tmp/e3" || fail "message: $(cat "$tmp/e3")"
[ ! -e "$tmp/cache-new" ] || fail "a cache was made for a missing SMALL"
# nothing half-written: no temporary files, the store verifies
if ls "$tmp/cache/minimize" | grep '\.tmp' >/dev/null; then fail "temporary files left"; fi
"$KBISECT" cache verify --cache "$tmp/cache" >/dev/null || fail "cache verify"
# ---- bisect --minimize-config: minimize on --bad, then bisect with the result ----
"$KBISECT" bisect --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/big" \
	--minimize-config --baseline "$tmp/small" --repro "$tmp/repro.c" \
	--build-cmd 'sh scripts/build.sh' --image bzImage --cache "$tmp/cache" \
	--work-dir "$tmp/wt" --accel tcg --vms 2 --run-timeout 120 --runs-per-test 2 --json \
	--log "$tmp/blog" >"$tmp/bout" 2>"$tmp/berr" || fail "bisect: $(tail -20 "$tmp/blog"; cat "$tmp/berr")"
grep -q "option that matters: CONFIG_BUGGY_DRIVER=y" "$tmp/blog" || fail "bisect log: $(cat "$tmp/blog")"
grep -q "minimized config: 2 of 24 options kept" "$tmp/blog" || fail "bisect log: $(cat "$tmp/blog")"
python3 - "$tmp/bout" "$culprit" <<'PY' || fail "bisect result: $(cat "$tmp/bout")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["culprit"] == sys.argv[2], (o["culprit"], sys.argv[2])
PY
mincfg=$(sed -n 's/.*bisecting with \(.*minimized-.*\.config\)$/\1/p' "$tmp/blog")
[ -f "$mincfg" ] || fail "no minimized config file: $mincfg"
if grep -q '^CONFIG_OPT_' "$mincfg"; then fail "the bisection's config keeps options"; fi
set +e
"$KBISECT" bisect --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/big" \
	--repro "$tmp/repro.c" --minimize-config >/dev/null 2>"$tmp/e4"
[ $? = 129 ] || fail "--minimize-config without --baseline: not a usage error"
grep -q "needs --baseline" "$tmp/e4" || fail "message: $(cat "$tmp/e4")"
set -e
# usage
set +e
"$KBISECT" config minimize --repo "$repo" >/dev/null 2>&1
[ $? = 129 ] || fail "missing options: not a usage error"
"$KBISECT" config minimize --help | grep -- "--baseline" >/dev/null || fail "--help"
set -e
echo ok
