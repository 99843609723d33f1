#!/usr/bin/env bash
# tests/cli/t2005-pool-entropy-stop.sh - `kbisect pool run` on a guest that cannot take
# fresh randomness (its /dev/urandom is /dev/null, so RNDADDENTROPY fails): clone runs
# are infra "kbisect: clone entropy not refreshed", stderr explains it once, and after
# 3 such runs the command stops with exit 1 and a clear error naming --cold, instead of
# going on with frozen randomness. The same guest booted cold (--cold) runs normally.
# Real Debian cloud kernel under TCG.
# kb-test-labels: vm
# kb-test-timeout: 300
src=${KB_SOURCE_DIR:?set KB_SOURCE_DIR}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
kernel_or_skip
printf '#include <stdio.h>\nint main(void) { puts("ran"); return 0; }\n' > "$tmp/ok.c"
# the pool's own initramfs (kept with KBISECT_KEEP_VM), then an archive whose /init
# replaces it and binds /dev/null over /dev/urandom
mkdir -p "$tmp/keep"
KBISECT_KEEP_VM=1 TMPDIR="$tmp/keep" "$KBISECT" pool run --kernel "$kernel" --repro "$tmp/ok.c" \
  --cold --runs 1 --accel tcg --no-cache > /dev/null 2>&1 || fail "cold run for the initramfs"
base=$(ls "$tmp"/keep/kbisect-pool-*/initramfs.cpio | head -1)
[ -s "$base" ] || fail "no initramfs kept"
python3 - "$base" "$tmp/broken.cpio" <<'PY'
import sys
init = b"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox --install -s /bin
/bin/busybox mount --bind /dev/null /dev/urandom
exec /sbin/kbisect-agent /dev/ttyS1 </dev/console >/dev/console 2>&1
"""
def ent(name, mode, data, ino):  # cpio newc
    n = name.encode() + b"\0"
    b = b"070701" + b"".join(b"%08X" % v for v in
                             (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0)) + n
    b += b"\0" * (-len(b) % 4)
    return b + data + b"\0" * (-len(data) % 4)
out = ent("init", 0o100755, init, 900) + ent("TRAILER!!!", 0, b"", 0)
out += b"\0" * (-len(out) % 512)
open(sys.argv[2], "wb").write(open(sys.argv[1], "rb").read() + out)
PY
rm -rf "$tmp/keep"
set +e
TMPDIR="$tmp" "$KBISECT" pool run --kernel "$kernel" --initrd "$tmp/broken.cpio" --repro "$tmp/ok.c" \
  --runs 10 --vms 1 --accel tcg --no-cache > "$tmp/out" 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "exit $rc, want 1: $(cat "$tmp/out" "$tmp/err")"
[ "$(grep -c 'infra "kbisect: clone entropy not refreshed"' "$tmp/out")" -ge 3 ] ||
  fail "runs not infra: $(cat "$tmp/out")"
grep -q ' ok ' "$tmp/out" && fail "a clone without fresh randomness ran as ok: $(cat "$tmp/out")"
[ "$(grep -c 'did not get fresh randomness' "$tmp/err")" -eq 1 ] || fail "warning not once: $(cat "$tmp/err")"
grep -q "^kbisect: 3 runs were clones whose randomness was not refreshed" "$tmp/err" ||
  fail "no stop error: $(cat "$tmp/err")"
grep -q -- "--cold" "$tmp/err" || fail "error does not name --cold"
grep -q "RNDADDENTROPY" "$tmp/err" || fail "error does not say why"
# cold boots of the same guest need no reseed
TMPDIR="$tmp" "$KBISECT" pool run --kernel "$kernel" --initrd "$tmp/broken.cpio" --repro "$tmp/ok.c" \
  --runs 1 --cold --accel tcg --no-cache > "$tmp/out" 2>&1 || fail "cold: $(cat "$tmp/out")"
grep -q "runs: 1  crash: 0  infra: 0  boot_failure: 0  ok: 1" "$tmp/out" || fail "cold: $(cat "$tmp/out")"
echo ok
