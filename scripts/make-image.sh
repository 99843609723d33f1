#!/usr/bin/env bash
# scripts/make-image.sh OUT AGENT [SIZE_MB] - a small bootable raw ext4 disk image for
# `kbisect pool run --image`: Debian's static busybox, the kbisect guest agent AGENT
# (build-dir/vmpool/kbisect-agent) and an /sbin/init that mounts /proc, /sys, /dev and
# /tmp and hands PID 1 to the agent on /dev/ttyS1. Made with `mkfs.ext4 -d` (e2fsprogs):
# no root, no loop mount. /sbin/kbisect-init is the same script, for images whose own
# init should stay (boot them with --cmdline init=/sbin/kbisect-init).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: make-image.sh OUT AGENT [SIZE_MB]" >&2; exit 129; }
out=$1 agent=$2 size=${3:-64}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$agent" ] || { echo "make-image: no agent at '$agent'; build kbisect first" >&2; exit 1; }
[ -x "$busybox" ] || { echo "make-image: no '$busybox'; apt-get install busybox-static" >&2; exit 1; }
command -v mkfs.ext4 >/dev/null || command -v /sbin/mkfs.ext4 >/dev/null ||
  { echo "make-image: no mkfs.ext4; apt-get install e2fsprogs" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/kbisect-image.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,root}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$agent" "$root/sbin/kbisect-agent"
cat > "$root/sbin/kbisect-init" <<'INIT'
#!/bin/busybox sh
# kbisect guest init: mount what the agent needs, then the agent becomes PID 1
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox mount -t tmpfs tmpfs /tmp
echo 1 > /proc/sys/kernel/sysrq
exec /sbin/kbisect-agent /dev/ttyS1 </dev/console >/dev/console 2>&1
INIT
chmod 755 "$root/sbin/kbisect-init" "$root/sbin/kbisect-agent" "$root/bin/busybox"
cp "$root/sbin/kbisect-init" "$root/sbin/init"
rm -f "$out"
PATH=$PATH:/sbin:/usr/sbin mkfs.ext4 -q -F -L kbisect-root -d "$root" "$out" "${size}M"
