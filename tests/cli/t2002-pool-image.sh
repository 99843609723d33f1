#!/usr/bin/env bash
# tests/cli/t2002-pool-image.sh - `kbisect pool run --image` with a real bootable disk:
# a raw ext4 image made by scripts/make-image.sh (busybox + agent, /sbin/init starts the
# agent) and a small kernel with the disk stack built in (scripts/disk-kernel.sh, built
# once from linux-source-6.1 and cached). A crashing and a clean reproducer run in
# pre-booted clones (raw and qcow2 images), a cold run boots the image, a second pool
# restores the saved state + disk overlay from the cache (and the state dir) through
# another path of the image, the image is never written, no file is left; a kernel
# without the disk driver (Debian's cloud kernel: ATA_PIIX=m) and an image whose init
# does not start the agent are boot failures with the kernel's panic as title.
# kb-test-labels: vm slow
# kb-test-timeout: 1200
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
: "${KB_SOURCE_DIR:?set KB_SOURCE_DIR}"
: "${KB_BUILD_DIR:?set KB_BUILD_DIR}"
tmp=$(mktemp -d); trap '[ -n "${KB_TEST_KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ ! -f /usr/src/linux-source-6.1.tar.xz ] && [ ! -d "${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}/.git" ]; then
  echo "no linux-source-6.1: skipping (apt-get install linux-source-6.1)" >&2
  exit 0
fi
t0=$(date +%s)
kernel=$(bash "$KB_SOURCE_DIR/scripts/disk-kernel.sh") || fail "scripts/disk-kernel.sh"
echo "disk kernel: $kernel ($(( $(date +%s) - t0 )) s)"
agent=${KBISECT_AGENT:-$KB_BUILD_DIR/vmpool/kbisect-agent}
bash "$KB_SOURCE_DIR/scripts/make-image.sh" "$tmp/disk.raw" "$agent" >/dev/null 2>&1 ||
  fail "make-image.sh"
qemu-img convert -f raw -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"
sum_raw=$(sha256sum < "$tmp/disk.raw")
sum_qcow=$(sha256sum < "$tmp/disk.qcow2")

cat > "$tmp/crash.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
int main(void) { int fd = open("/proc/sysrq-trigger", O_WRONLY); return write(fd, "c", 1) != 1; }
C
# ok only when / is the disk (ext4, written through the overlay)
cat > "$tmp/ok.sh" <<'SH'
#!/bin/sh
grep -q '^/dev/root / ext4 rw' /proc/mounts || { echo "root is not the disk"; exit 3; }
echo run > /root/written || exit 4
exit 0
SH
mkdir "$tmp/work"
export TMPDIR="$tmp/work" KBISECT_CACHE="$tmp/cache"
run() { # run NAME ARGS... -> $tmp/NAME.json
  local name=$1; shift
  "$KBISECT" pool run --kernel "$kernel" --accel tcg --timeout 30 --json "$@" \
    > "$tmp/$name.json" 2>"$tmp/$name.err" || fail "$name: $(cat "$tmp/$name.err")"
}
check() { # check NAME PYTHON (d = the JSON, v = d["vms"], runs = d["runs"])
  python3 - "$tmp/$1.json" "$2" <<'PY' || fail "$1: $(cat "$tmp/$1.json")"
import json, sys
d = json.load(open(sys.argv[1])); v = d["vms"]; runs = d["runs"]
exec(sys.argv[2])
PY
}

# a crash and a clean run, each in pre-booted clones of the raw image
run crash --image "$tmp/disk.raw" --repro "$tmp/crash.c" --runs 2 --vms 2
check crash "
assert [r['class'] for r in runs] == ['crash'] * 2, runs
assert all(r['title'] == 'kernel panic: sysrq triggered crash' and r['cloned'] for r in runs), runs
assert v['boots'] == 1, v"
run ok --image "$tmp/disk.raw" --repro "$tmp/ok.sh" --runs 2 --vms 2
check ok "
assert [(r['class'], r['exit_code'], r['cloned']) for r in runs] == [('ok', 0, True)] * 2, runs
assert v['boots'] == 0 and v['cache_loads'] == 1, v"   # the kernel+image state from the cache

# qcow2 image, another path of the same bytes for raw: the state comes from the cache
cp "$tmp/disk.raw" "$tmp/copy.raw"
run copy --image "$tmp/copy.raw" --repro "$tmp/crash.c"
check copy "assert runs[0]['class'] == 'crash' and runs[0]['cloned'], runs; assert v['boots'] == 0, v"
run qcow --image "$tmp/disk.qcow2" --repro "$tmp/ok.sh"
check qcow "assert runs[0]['class'] == 'ok' and runs[0]['cloned'], runs; assert v['boots'] == 1, v"

# --state-dir keeps the state + disk overlay; the next pool (other image path) uses it
run sd1 --image "$tmp/disk.raw" --repro "$tmp/ok.sh" --no-cache --state-dir "$tmp/sd"
check sd1 "assert runs[0]['class'] == 'ok', runs; assert v['boots'] == 1, v"
run sd2 --image "$tmp/copy.raw" --repro "$tmp/ok.sh" --no-cache --state-dir "$tmp/sd"
check sd2 "assert runs[0]['class'] == 'ok' and runs[0]['cloned'], runs
assert v['boots'] == 0 and v['state_dir_loads'] >= 1, v"

# cold: every run boots the image
run cold --image "$tmp/disk.raw" --repro "$tmp/ok.sh" --cold
check cold "assert runs[0]['class'] == 'ok' and not runs[0]['cloned'], runs; assert v['cold_boots'] == 1, v"

# the images were never written, and nothing is left in the work dir
[ "$(sha256sum < "$tmp/disk.raw")" = "$sum_raw" ] || fail "raw image was written"
[ "$(sha256sum < "$tmp/disk.qcow2")" = "$sum_qcow" ] || fail "qcow2 image was written"
[ -z "$(ls -A "$tmp/work")" ] || fail "files left: $(ls -AR "$tmp/work" | head)"

# bad input: a kernel whose disk driver is a module cannot mount the root fs
read -r _ debian _ < <(bash "$KB_SOURCE_DIR/scripts/fetch-kernels.sh" 2>/dev/null | head -1) || true
if [ -n "${debian:-}" ] && [ -r "$debian" ]; then
  "$KBISECT" pool run --kernel "$debian" --image "$tmp/disk.raw" --repro "$tmp/ok.sh" \
    --accel tcg --no-cache > "$tmp/out" 2>"$tmp/err" || fail "no driver: $(cat "$tmp/err")"
  grep -q '^run 1/1 vm.: boot_failure "kernel panic: VFS: Unable to mount root fs' "$tmp/out" \
    || fail "no driver: $(cat "$tmp/out")"
fi
# bad input: an image whose init exits instead of starting the agent
mkdir -p "$tmp/noagent/sbin"
printf '#!/bin/sh\necho no agent here\n' > "$tmp/noagent/sbin/init"
chmod 755 "$tmp/noagent/sbin/init"
mkdir -p "$tmp/noagent/bin" && cp /bin/busybox "$tmp/noagent/bin/sh"
PATH=$PATH:/sbin:/usr/sbin mkfs.ext4 -q -F -d "$tmp/noagent" "$tmp/noagent.raw" 16M >/dev/null 2>&1
"$KBISECT" pool run --kernel "$kernel" --image "$tmp/noagent.raw" --repro "$tmp/ok.sh" \
  --accel tcg --no-cache > "$tmp/out" 2>"$tmp/err" || fail "no agent: $(cat "$tmp/err")"
grep -q '^run 1/1 vm.: boot_failure "kernel panic: Attempted to kill init' "$tmp/out" \
  || fail "no agent: $(cat "$tmp/out")"
echo "ok ($(( $(date +%s) - t0 )) s)"
