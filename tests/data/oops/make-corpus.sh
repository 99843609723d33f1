#!/usr/bin/env bash
# ONLY="real-warn real-bug" tests/data/oops/make-corpus.sh - record real kernel crash reports for the
# report parser's test corpus (tests/data/oops/<name>.txt, console output as QEMU saw it).
#
# Boots a Debian cloud kernel (scripts/fetch-kernels.sh) under QEMU TCG (never KVM) with a
# busybox initramfs whose /init triggers one crash per boot: sysrq, or gen/kbcrash.ko, a
# tiny module (the cloud kernel has no lkdtm) built against the matching
# linux-headers-<version>-cloud-amd64 package (apt-get install it first).
# Expected titles (<name>.title) are written by hand and are NOT touched here, so a
# re-run shows, via the unit tests, whether the parser still agrees with them.
# Needs: qemu-system-x86, busybox-static, cpio, linux-headers for the kernel, ~1 min/case.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
line=$(bash "$root/scripts/fetch-kernels.sh" | tail -n 1)
kname=$(echo "$line" | awk '{print $1}')
bzimage=$(echo "$line" | awk '{print $2}')
hdrs=/usr/src/linux-headers-$kname
[ -d "$hdrs" ] || { echo "make-corpus: no $hdrs; run 'apt-get install linux-headers-$kname'" >&2; exit 1; }

work=$(mktemp -d /tmp/kb-oops.XXXXXX)
trap 'rm -rf "$work"' EXIT

# 1. the crash module
mkdir -p "$work/mod"
cp "$here/gen/kbcrash.c" "$work/mod/"
echo 'obj-m := kbcrash.o' > "$work/mod/Makefile"
make -s -C "$hdrs" M="$work/mod" modules >/dev/null 2>&1 || {
  echo "make-corpus: building kbcrash.ko failed; see 'make -C $hdrs M=$work/mod modules'" >&2; exit 1; }

# 2. the initramfs
ir=$work/root
mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev"
cp /bin/busybox "$ir/bin/busybox"
cp "$work/mod/kbcrash.ko" "$ir/kbcrash.ko"
cat > "$ir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
c=$(sed -n 's/.*kbcase=\([a-z0-9_]*\).*/\1/p' /proc/cmdline)
echo "kbcorpus: case $c"
case "$c" in
sysrq_c) echo c > /proc/sysrq-trigger ;;
sysrq_l) echo l > /proc/sysrq-trigger ;;
sysrq_t) echo t > /proc/sysrq-trigger ;;
sysrq_w) echo w > /proc/sysrq-trigger ;;
sysrq_m) echo m > /proc/sysrq-trigger ;;
hung)
  echo 1 > /proc/sys/kernel/hung_task_panic
  echo 2 > /proc/sys/kernel/hung_task_timeout_secs
  insmod /kbcrash.ko what=hung ;;
lockup)
  echo 1 > /proc/sys/kernel/softlockup_panic
  echo 1 > /proc/sys/kernel/watchdog_thresh
  insmod /kbcrash.ko what=lockup ;;
clean) ;;
init_exit) exit 0 ;;
syzfail)
  echo "executing program"
  echo "SYZFAIL: wrong response packet"
  echo " (errno 16: Device or resource busy)" ;;
*) insmod /kbcrash.ko what="$c" ;;
esac
sleep 1
echo "kbcorpus: done"
poweroff -f
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

# 3. one boot per case: <corpus name> <kbcase> <smp> [nopanic: no oops=panic/panic_on_warn]
cases=(
  "real-null-deref null 1"
  "real-paging-request paging 1"
  "real-gpf gpf 1"
  "real-warn warn 1"
  "real-bug bug 1"
  "real-divide-error divide 1"
  "real-invalid-opcode ud2 1"
  "real-list-corruption list 1"
  "real-hung-task hung 1"
  "real-soft-lockup lockup 1"
  "real-scheduling-while-atomic atomic 1"
  "real-panic panic 1"
  "real-sysrq-crash sysrq_c 1"
  "real-sysrq-backtrace sysrq_l 2"
  "real-sysrq-tasks sysrq_t 1"
  "real-sysrq-blocked sysrq_w 1"
  "real-sysrq-meminfo sysrq_m 1"
  "real-clean-boot clean 1"
  "real-init-exit init_exit 1"
  "real-syzfail syzfail 1"
  "real-warn-nopanic warn 1 nopanic"
  "real-null-deref-nopanic null 1 nopanic"
  "real-gpf-smp2 gpf 2"
)
for c in "${cases[@]}"; do
  set -- $c
  name=$1 kcase=$2 smp=$3 panic="oops=panic panic_on_warn=1"
  [ "${4:-}" = nopanic ] && panic=""
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  echo "make-corpus: $name" >&2
  timeout 120 qemu-system-x86_64 -accel tcg -m 512 -smp "$smp" -nographic -no-reboot \
    -kernel "$bzimage" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 panic=-1 $panic kbcase=$kcase" \
    </dev/null > "$here/$name.txt" 2>&1 || true
done
