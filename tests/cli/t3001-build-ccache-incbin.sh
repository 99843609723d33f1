#!/usr/bin/env bash
# tests/cli/t3001-build-ccache-incbin.sh - `kbisect build --ccache`: a boot image that
# embeds the kernel with the assembler's `.incbin` (as the bzImage's piggy.S does) holds
# the kernel of this build, not one that ccache's depend mode remembered for the same
# source. Two commits change only main.c; payload.S stays the same.
# kb-test-labels: integration
# kb-test-timeout: 120
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
command -v ccache >/dev/null || { echo "skip: ccache not installed (scripts/install-deps.sh)"; exit 0; }
unset CCACHE_DIR CCACHE_DEPEND CCACHE_NODEPEND

repo=$tmp/repo
mkdir -p "$repo"
cat >"$repo/build.sh" <<'EOF'
set -e
$CC -O1 -Wp,-MMD,.main.o.d -c -o main.o main.c
$CC -o vmlinux main.o
$CC -Wp,-MMD,.payload.o.d -c -o payload.o payload.S
objcopy -O binary -j .rodata payload.o bzImage
EOF
printf '.section .rodata\n.globl payload\npayload:\n.incbin "vmlinux"\n' >"$repo/payload.S"
echo 'int main(void) { return 1; }' >"$repo/main.c"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m one
echo 'int main(void) { return 2; }' >"$repo/main.c"
git -C "$repo" commit -q -am two
: >"$tmp/config"

kb() { "$KBISECT" build --repo "$repo" --config "$tmp/config" --build-cmd 'sh build.sh' \
         --image bzImage --cache "$tmp/cache" --work-dir "$tmp/work" --jobs 1 \
         --ccache ccache --no-dep-skip "$@"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["artifacts"][sys.argv[2]])' "$1" "$2"; }

check() { # check REV: the boot image of REV's build is REV's vmlinux
	out=$(kb --rev "$1" --json) || fail "build of $1"
	"$KBISECT" cache get --cache="$tmp/cache" "$(field "$out" vmlinux)" -o "$tmp/vmlinux"
	"$KBISECT" cache get --cache="$tmp/cache" "$(field "$out" bzImage)" -o "$tmp/bzImage"
	cmp -s "$tmp/vmlinux" "$tmp/bzImage" ||
		fail "the boot image of $1 embeds another build's kernel (stale ccache result)"
}
check HEAD~1
check HEAD
# a third kernel, payload.S unchanged all along
echo 'int main(void) { return 3; }' >"$repo/main.c"
git -C "$repo" commit -q -am three
check HEAD
[ -d "$tmp/cache/ccache" ] || fail "ccache was not used (no $tmp/cache/ccache)"
echo "ok: boot images embed their own kernel with ccache"
