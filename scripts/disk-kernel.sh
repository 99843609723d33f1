#!/usr/bin/env bash
# scripts/disk-kernel.sh [DIR] - build (once) a small x86-64 kernel that boots from a
# disk image the way syzkaller's kernels do: the tinyconfig of scripts/kernel-repo.sh
# plus the disk stack built in (PCI, ATA_PIIX, SCSI disk "sd", ext4, devtmpfs mounted
# at boot) and sysrq. Used by the --image tests of `kbisect pool run`.
# Prints the path of its bzImage. The result is cached under DIR (default
# $KB_KERNEL_DIR or ~/.cache/kbisect-kernels) in disk-<hash of the config>/, so only the
# first call compiles (~2-5 min on 2 cores); concurrent callers wait for it (flock).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${KB_KERNEL_DIR:-$HOME/.cache/kbisect-kernels}}
mkdir -p "$dir"

# What a kernel needs to boot `root=/dev/sda` on QEMU's pc machine (-drive ...,index=0:
# the PIIX IDE controller) and run the kbisect agent from the disk's /sbin/init.
fragment='CONFIG_BLOCK=y
CONFIG_PCI=y
CONFIG_ATA=y
CONFIG_ATA_SFF=y
CONFIG_ATA_BMDMA=y
CONFIG_ATA_PIIX=y
CONFIG_SCSI=y
CONFIG_BLK_DEV_SD=y
CONFIG_EXT4_FS=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_TMPFS=y
CONFIG_SHMEM=y
CONFIG_MAGIC_SYSRQ=y
CONFIG_PROC_SYSCTL=y
CONFIG_FUTEX=y'

repo=$(bash "$here/kernel-repo.sh")
exec 9>"$dir/disk-kernel.lock"
flock 9
tmp=$(mktemp -d "$dir/disk-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bash "$here/kernel-repo.sh" tinyconfig "$tmp/tiny.config" 2>"$tmp/config.log" ||
  { cat "$tmp/config.log" >&2; exit 1; }
key=$( { cat "$tmp/tiny.config"; echo "$fragment"; git -C "$repo" rev-parse HEAD; } |
       sha256sum | cut -c1-16)
out=$dir/disk-$key
if [ ! -s "$out/bzImage" ]; then
  echo "disk-kernel: building a small kernel with the disk stack built in (once)" >&2
  mkdir -p "$tmp/o"
  cp "$tmp/tiny.config" "$tmp/o/.config"
  echo "$fragment" >> "$tmp/o/.config"
  make -s -C "$repo" O="$tmp/o" olddefconfig >"$tmp/config.log" 2>&1 ||
    { cat "$tmp/config.log" >&2; exit 1; }
  for opt in ATA_PIIX BLK_DEV_SD EXT4_FS DEVTMPFS_MOUNT MAGIC_SYSRQ; do
    grep -q "^CONFIG_$opt=y" "$tmp/o/.config" || {
      echo "disk-kernel: CONFIG_$opt did not stick in the config" >&2; exit 1; }
  done
  if ! make -s -C "$repo" O="$tmp/o" -j"$(nproc)" bzImage >"$tmp/build.log" 2>&1; then
    tail -n 20 "$tmp/build.log" >&2
    echo "disk-kernel: kernel build failed (log above)" >&2
    exit 1
  fi
  mkdir -p "$out.tmp"
  cp "$tmp/o/arch/x86/boot/bzImage" "$out.tmp/bzImage"
  cp "$tmp/o/vmlinux" "$out.tmp/vmlinux"
  cp "$tmp/o/.config" "$out.tmp/config"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out/bzImage"
