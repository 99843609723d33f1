#!/usr/bin/env bash
# scripts/kernel-repo.sh - a real kernel git repository for tests, benchmarks and demos:
# Debian's linux-source-6.1 tarball imported once into a git repository cached under
# ~/.cache/kbisect/linux-6.1 (or $KB_KERNEL_REPO), and synthetic commits on top of it
# made without a checkout (plumbing, a private index), so callers never collide.
#
#   kernel-repo.sh [path]                    import if needed; print the repository path
#   kernel-repo.sh commit BASE MSG FILE TEXT  commit on top of BASE a change appending the
#                                            line TEXT to FILE (created if missing);
#                                            print the new commit id
#   kernel-repo.sh tinyconfig [OUT]          write a tinyconfig-based x86_64 config that
#                                            boots under QEMU (console, ELF, printk)
set -euo pipefail
repo=${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}
tarball=/usr/src/linux-source-6.1.tar.xz
export GIT_AUTHOR_NAME=kbisect GIT_AUTHOR_EMAIL=kbisect@localhost
export GIT_COMMITTER_NAME=kbisect GIT_COMMITTER_EMAIL=kbisect@localhost
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE

import() {
  if [ -f "$repo/.git/kbisect-import-done" ]; then return 0; fi
  if [ ! -f "$tarball" ]; then
    echo "kernel-repo: $tarball missing; run 'apt-get install linux-source-6.1'" >&2
    exit 1
  fi
  echo "kernel-repo: importing $tarball into $repo (once; a few minutes)" >&2
  rm -rf "$repo.tmp"
  mkdir -p "$repo.tmp"
  tar -xJf "$tarball" -C "$repo.tmp" --strip-components=1
  (
    cd "$repo.tmp"
    git init -q
    git config gc.auto 0
    # The tarball's own .gitignore files hide tracked dotfiles: add everything.
    git add -f -A
    git commit -q -m "linux-source-6.1 import"
    git tag import
    touch .git/kbisect-import-done
  )
  rm -rf "$repo"
  mv "$repo.tmp" "$repo"
}

case "${1:-}" in
commit)
  [ $# -eq 5 ] || { echo "usage: kernel-repo.sh commit BASE MSG FILE TEXT" >&2; exit 129; }
  import
  base=$2 msg=$3 file=$4 text=$5
  cd "$repo"
  idx=$(mktemp "${TMPDIR:-/tmp}/kbisect-index.XXXXXX")
  trap 'rm -f "$idx"' EXIT
  export GIT_INDEX_FILE=$idx
  git read-tree "$base"
  blob=$( { git cat-file blob "$base:$file" 2>/dev/null || true; printf '%s\n' "$text"; } |
          git hash-object -w --stdin)
  mode=$(git ls-tree "$base" -- "$file" | awk '{print $1}')
  git update-index --add --cacheinfo "${mode:-100644},$blob,$file"
  tree=$(git write-tree)
  git commit-tree "$tree" -p "$(git rev-parse "$base^{commit}")" -m "$msg"
  ;;
tinyconfig)
  import
  out=${2:-/dev/stdout}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  make -s -C "$repo" O="$tmp" tinyconfig >/dev/null
  cat >> "$tmp/.config" <<'CFG'
CONFIG_64BIT=y
CONFIG_PRINTK=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_BINFMT_ELF=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_DEVTMPFS=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CFG
  make -s -C "$repo" O="$tmp" olddefconfig >/dev/null
  cp "$tmp/.config" "$out"
  ;;
""|/*|.*)
  [ -n "${1:-}" ] && repo=$1
  import
  echo "$repo"
  ;;
*)
  echo "usage: kernel-repo.sh [path] | commit BASE MSG FILE TEXT | tinyconfig [OUT]" >&2
  exit 129
  ;;
esac
