#!/usr/bin/env bash
# tests/cli/t2000-pool-run.sh - `kbisect pool run` on a real Debian cloud kernel (TCG):
# usage errors exit 129, a crashing reproducer is reported as a crash in the live lines,
# the summary and --json, an unbootable --image is a boot failure, a damaged saved vm
# state recovers by booting again, a second run reuses the vm state from the cache (no boot),
# Ctrl-C (SIGINT) leaves no QEMU and no files behind, a QEMU killed under a run makes
# that run infra, and after a SIGKILL of kbisect its QEMUs die and its files are removed
# by its reaper process at once (not left for the next pool run).
# kb-test-labels: vm
# kb-test-timeout: 300
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
: "${KB_SOURCE_DIR:?set KB_SOURCE_DIR}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# usage errors
set +e
"$KBISECT" pool run --repro x.c >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 129 ] || fail "missing --kernel: exit $rc, want 129"
grep -q "needs --kernel" "$tmp/err" || fail "missing --kernel: message: $(cat "$tmp/err")"
set +e
"$KBISECT" pool run --kernel k --repro r --runs 0 >/dev/null 2>&1; rc=$?
[ $rc -eq 129 ] || fail "--runs 0: exit $rc, want 129"
"$KBISECT" pool frob >/dev/null 2>&1; rc=$?
[ $rc -eq 129 ] || fail "unknown subcommand: exit $rc, want 129"
"$KBISECT" pool run --kernel /nonexistent/bzImage --repro /nonexistent.c --no-cache \
  >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "missing kernel file: exit $rc, want 1"
grep -q "nonexistent" "$tmp/err" || fail "missing kernel: message: $(cat "$tmp/err")"
"$KBISECT" pool --help | grep "kbisect pool run" >/dev/null || fail "--help"

kernel=$(bash "$KB_SOURCE_DIR/scripts/fetch-kernels.sh" 2>/dev/null | awk 'NR==1{print $2}') || true
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
  echo "no kernel from scripts/fetch-kernels.sh: skipping the vm part" >&2
  exit 0
fi
cat > "$tmp/crash.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
int main(void) { int fd = open("/proc/sysrq-trigger", O_WRONLY); return write(fd, "c", 1) != 1; }
C
mkdir "$tmp/work"
export TMPDIR="$tmp/work" KBISECT_CACHE="$tmp/cache"

"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/crash.c" --runs 2 --vms 2 \
  --accel tcg --timeout 30 > "$tmp/out" 2>"$tmp/err" || fail "pool run: $(cat "$tmp/err")"
cat "$tmp/out"
[ "$(grep -c '^run ./2 vm.: crash "kernel panic: sysrq triggered crash"' "$tmp/out")" -eq 2 ] \
  || fail "live lines"
grep -q "^runs: 2  crash: 2  infra: 0  boot_failure: 0  ok: 0" "$tmp/out" || fail "summary"
grep -q "^accelerator: tcg" "$tmp/out" || fail "accelerator line"

# the second pool run on the same kernel restores its vm state from the cache: no boot
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/crash.c" --runs 1 --accel tcg \
  --timeout 30 --json -v > "$tmp/json" 2>"$tmp/err" || fail "pool run --json: $(cat "$tmp/err")"
grep -q "restored from the cache" "$tmp/err" || fail "vm state not reused: $(cat "$tmp/err")"
grep -q "booting" "$tmp/err" && fail "booted again: $(cat "$tmp/err")"
python3 - "$tmp/json" <<'PY' || fail "json: $(cat "$tmp/json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["accel"] == "tcg", d["accel"]
assert len(d["runs"]) == 1
r = d["runs"][0]
assert r["class"] == "crash" and "sysrq" in r["title"], r
assert isinstance(r["duration_s"], float) and r["duration_s"] > 0
assert len(r.get("console", "")) == 64, "console not stored in the cache"
assert d["summary"]["crash"] == 1
PY

# --image: a disk without a root file system is a boot failure titled by the panic
truncate -s 16M "$tmp/empty.raw"
"$KBISECT" pool run --kernel "$kernel" --image "$tmp/empty.raw" --repro "$tmp/crash.c" \
  --accel tcg --no-cache --timeout 30 > "$tmp/out" 2>"$tmp/err" || fail "--image: $(cat "$tmp/err")"
grep -q '^run 1/1 vm.: boot_failure "kernel panic: VFS: Unable to mount root fs' "$tmp/out" \
  || fail "--image boot failure: $(cat "$tmp/out")"

# a damaged saved vm state: a few runs fail as infra, then the kernel is booted again
printf '#!/bin/sh\nexit 0\n' > "$tmp/true.sh"
mkdir "$tmp/sd"
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/true.sh" --accel tcg --no-cache \
  --state-dir "$tmp/sd" > /dev/null 2>"$tmp/err" || fail "state dir: $(cat "$tmp/err")"
for f in "$tmp"/sd/vmstate-*/state; do head -c 1000 "$f" > "$f.x" && mv "$f.x" "$f"; done
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/true.sh" --accel tcg --no-cache \
  --state-dir "$tmp/sd" --runs 6 --vms 1 > "$tmp/out" 2>"$tmp/err" || fail "damaged state: $(cat "$tmp/err")"
grep -q "booting it again" "$tmp/err" || fail "no recovery: $(cat "$tmp/out" "$tmp/err")"
grep -q "^run 6/6 vm0: ok " "$tmp/out" || fail "not recovered: $(cat "$tmp/out")"

# Ctrl-C in the middle of a run: exit 130, no QEMU left, no files left
cat > "$tmp/hang.c" <<'C'
#include <unistd.h>
int main(void) { for (;;) pause(); }
C
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/hang.c" --runs 4 --vms 2 --accel tcg \
  --timeout 120 > "$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 600); do
  pgrep -f "qemu-system-x86_64.*$tmp/work" >/dev/null && break
  sleep 0.1
done
pgrep -f "qemu-system-x86_64.*$tmp/work" >/dev/null || fail "no qemu started"
sleep 2
kill -INT $pid
set +e
wait $pid; rc=$?
set -e
[ $rc -eq 130 ] || fail "after SIGINT: exit $rc, want 130: $(cat "$tmp/err")"
sleep 0.5
if pgrep -f "qemu-system-x86_64.*$tmp/work" >/dev/null; then fail "qemu survived SIGINT"; fi
[ -z "$(ls -A "$tmp/work")" ] || fail "files left: $(ls -A "$tmp/work")"

# QEMU killed under a run: that run is an infra error, kbisect goes on
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/hang.c" --runs 1 --vms 1 --accel tcg \
  --timeout 20 > "$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 600); do
  q=$(pgrep -f "qemu-system-x86_64.*$tmp/work.*/vm0/" | head -1) && [ -n "$q" ] && break
  sleep 0.1
done
[ -n "$q" ] || fail "no clone started"
sleep 1
kill -9 "$q"
set +e
wait $pid; rc=$?
set -e
[ $rc -eq 0 ] || fail "after qemu died: exit $rc: $(cat "$tmp/err")"
grep -q "^run 1/1 vm0: infra " "$tmp/out" || fail "qemu death not infra: $(cat "$tmp/out")"

# kbisect killed with SIGKILL: its QEMUs die with it (PR_SET_PDEATHSIG), and its reaper
# removes the pool directory (RAM files) within seconds, without another pool run
"$KBISECT" pool run --kernel "$kernel" --repro "$tmp/hang.c" --runs 2 --vms 2 --accel tcg \
  --timeout 120 > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  pgrep -f "qemu-system-x86_64.*$tmp/work.*/vm" >/dev/null && break
  sleep 0.1
done
kill -9 $pid
wait $pid 2>/dev/null || true
sleep 1
if pgrep -f "qemu-system-x86_64.*$tmp/work" >/dev/null; then fail "qemu survived SIGKILL of kbisect"; fi
for _ in $(seq 1 50); do [ -z "$(ls -A "$tmp/work")" ] && break; sleep 0.2; done
[ -z "$(ls -A "$tmp/work")" ] || fail "pool dir left after SIGKILL: $(ls -A "$tmp/work")"
echo ok
