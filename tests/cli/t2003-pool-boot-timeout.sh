#!/usr/bin/env bash
# tests/cli/t2003-pool-boot-timeout.sh - `kbisect pool run --boot-timeout`: a bad value
# is a usage error (129); a boot that runs into the deadline is infra "kbisect: boot
# timed out after S s (machine overloaded?)" for every run (one boot), nothing is cached,
# and the next pool run on the same kernel and cache boots and runs fine; a kernel that
# panics at boot is boot_failure (the panic's title), booted once for all its runs.
# kb-test-labels: vm
# kb-test-timeout: 300
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
: "${KB_SOURCE_DIR:?set KB_SOURCE_DIR}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for bad in 0 -1 x 1e9 ""; do
  set +e
  "$KBISECT" pool run --kernel k --repro r --boot-timeout "$bad" >/dev/null 2>"$tmp/err"; rc=$?
  set -e
  [ $rc -eq 129 ] || fail "--boot-timeout '$bad': exit $rc, want 129"
  grep -q "bad --boot-timeout" "$tmp/err" || fail "--boot-timeout '$bad': $(cat "$tmp/err")"
done
"$KBISECT" pool run --help | grep -- "--boot-timeout" >/dev/null || fail "--help lacks --boot-timeout"

kernel=$(bash "$KB_SOURCE_DIR/scripts/fetch-kernels.sh" 2>/dev/null | awk 'NR==1{print $2}') || true
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
  echo "no kernel from scripts/fetch-kernels.sh: skipping the vm part" >&2
  exit 0
fi
printf '#!/bin/sh\nexit 0\n' > "$tmp/true.sh"
mkdir "$tmp/work"
export TMPDIR="$tmp/work" KBISECT_CACHE="$tmp/cache"
check() { # check NAME PYTHON (d = the JSON, v = d["vms"], runs = d["runs"])
  python3 - "$tmp/$1.json" "$2" <<'PY' || fail "$1: $(cat "$tmp/$1.json")"
import json, sys
d = json.load(open(sys.argv[1])); v = d["vms"]; runs = d["runs"]
exec(sys.argv[2])
PY
}

# no Debian kernel boots under TCG in 0.5 s: the runs are infra, not boot failures
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/true.sh" --runs 3 --vms 2 \
  --accel tcg --boot-timeout 0.5 --json > "$tmp/slow.json" 2>"$tmp/err" ||
  fail "pool run --boot-timeout 0.5: $(cat "$tmp/err")"
check slow "
assert [r['class'] for r in runs] == ['infra'] * 3, runs
assert all(r['title'] == 'kbisect: boot timed out after 0.5 s (machine overloaded?)' for r in runs), runs
assert d['summary']['boot_failure'] == 0 and d['summary']['infra'] == 3, d['summary']
assert v['boots'] == 1, v"
# same kernel, same cache, a normal deadline: nothing failed was cached, it boots
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/true.sh" --runs 2 --vms 2 \
  --accel tcg --json > "$tmp/ok.json" 2>"$tmp/err" || fail "pool run: $(cat "$tmp/err")"
check ok "
assert [(r['class'], r['exit_code'], r['cloned']) for r in runs] == [('ok', 0, True)] * 2, runs
assert v['boots'] == 1 and v['cache_loads'] == 0, v"

# a kernel that panics at boot (no init in the initramfs) is a boot failure, booted once
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/true.sh" --runs 3 --vms 2 \
  --accel tcg --cmdline rdinit=/nonexistent --json > "$tmp/panic.json" 2>"$tmp/err" ||
  fail "pool run rdinit=/nonexistent: $(cat "$tmp/err")"
check panic "
assert [r['class'] for r in runs] == ['boot_failure'] * 3, runs
assert all(r['title'].startswith('kernel panic: VFS: Unable to mount root fs') for r in runs), runs
assert v['boots'] == 1, v"
[ -z "$(ls -A "$tmp/work")" ] || fail "files left: $(ls -AR "$tmp/work" | head)"
echo ok
