#!/usr/bin/env bash
# scripts/install-deps.sh - install the Debian 12 packages kbisect needs to build, test
# and run (skips apt when everything is present already). Needs root or sudo.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev git
  liblmdb-dev lmdb-utils libzstd-dev zstd libxxhash-dev libssl-dev libgit2-dev
  libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev libelf-dev
  qemu-system-x86 qemu-utils busybox-static cpio ccache nginx-light curl
  bc bison flex libncurses-dev dwarves kmod xz-utils python3 linux-source-6.1 openssl
  chromium strace systemd groff-base dpkg-dev slurm-wlm munge libslurm-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
