# tests/cli/lib/bisect-scenario.sh - sourced by the real-bisect CLI tests (t3101, t3103,
# t3104, t3105). make_bisect_scenario DIR: a 14-commit git repository in DIR/repo whose
# "build" installs one of the two real Debian kernels of scripts/fetch-kernels.sh (the
# 9th commit, the culprit, switches to the newer one), DIR/config, DIR/repro.c that
# crashes the newer kernel through sysrq, and DIR/work as $TMPDIR. Sets repo and
# culprit. Returns 1 when no kernels can be fetched (the caller skips). Needs $src (the
# source tree) and git's author variables.

make_bisect_scenario() {
	local tmp=$1
mapfile -t kernels < <(bash "$src/scripts/fetch-kernels.sh" 2>/dev/null || true)
if [ ${#kernels[@]} -lt 2 ]; then
	echo "no kernels from scripts/fetch-kernels.sh: skipping" >&2
	return 1
fi
local old_name old_bz old_vmlinux new_name new_bz new_vmlinux
read -r old_name old_bz old_vmlinux <<<"${kernels[0]}"
read -r new_name new_bz new_vmlinux <<<"${kernels[1]}"

repo=$tmp/repo
mkdir -p "$repo/scripts"
# scripts/ is an input of every build (see builder/depset.c), so the builder rebuilds
# when scripts/kernel changes and reuses builds (dependency skip) for notes.txt changes
cat > "$repo/scripts/build.sh" <<SH
#!/bin/sh
# installs the kernel named in scripts/kernel (stands in for compiling it); compiles
# one small file with \$CC, so the tests can see whether ccache wrapped the compiler
set -e
printf 'const char *kb_kernel = "%s";\\n' "\$(cat scripts/kernel)" > helper.c
\$CC -c helper.c -o helper.o
case "\$(cat scripts/kernel)" in
old) cp "$old_bz" bzImage; cp "$old_vmlinux" vmlinux ;;
new) cp "$new_bz" bzImage; cp "$new_vmlinux" vmlinux ;;
*) echo "kernel.c:1: error: unknown kernel" >&2; exit 1 ;;
esac
SH
echo old > "$repo/scripts/kernel"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m "base"
git -C "$repo" tag v1.0
for i in $(seq 1 13); do
	if [ "$i" -eq 9 ]; then
		echo new > "$repo/scripts/kernel"
		msg="switch to the new kernel (culprit)"
	else
		echo "change $i" >> "$repo/notes.txt"
		msg="change $i"
	fi
	git -C "$repo" add -A
	git -C "$repo" commit -q -m "$msg"
done
culprit=$(git -C "$repo" log --format=%H -1 --grep=culprit)
echo "CONFIG_X=y" > "$tmp/config"

# crashes (sysrq) on the new kernel only
new_release=${new_name}
cat > "$tmp/repro.c" <<C
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
int main(void)
{
	struct utsname u;
	if (uname(&u) == 0 && strcmp(u.release, "$new_release") == 0) {
		int fd = open("/proc/sysrq-trigger", O_WRONLY);
		return write(fd, "c", 1) != 1;
	}
	return 0;
}
C
# the bisection's own temporary files (QEMU's, the pool's) stay under DIR/work
mkdir -p "$tmp/work"
export TMPDIR="$tmp/work"
}
