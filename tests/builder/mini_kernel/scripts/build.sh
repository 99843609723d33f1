#!/bin/sh
# scripts/build.sh - build of the mini kernel used by the builder tests: compiles each
# source listed in Kbuild with gcc -MD and writes Kbuild-style .<obj>.cmd files
# (savedcmd_, source_, deps_), links vmlinux, copies it to bzImage. Run by
# `kbisect build --build-cmd 'sh scripts/build.sh'` ($KBISECT_KCONFIG, $CC).
set -e
CC=${CC:-gcc}
cp "$KBISECT_KCONFIG" .config
mkdir -p include/generated
sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=\(.*\)$/#define \1 \2/p' .config > include/generated/autoconf.h
objs=""
for src in $(grep -v '^#' Kbuild); do
	obj=${src%.c}.o
	dir=$(dirname "$obj")
	base=$(basename "$obj")
	cmd="$CC -O1 -Iinclude -include include/generated/autoconf.h -MD -MF $dir/.$base.d -c -o $obj $src"
	$cmd
	{
		echo "savedcmd_$obj := $cmd"
		echo
		echo "source_$obj := $src"
		echo
		echo "deps_$obj := \\"
		sed -e '1s/^[^:]*://' -e 's/\\$//' "$dir/.$base.d" | tr ' ' '\n' | grep -v '^$' |
			sed -e 's/^/  /' -e 's/$/ \\/'
		echo
		echo "$obj: \$(deps_$obj)"
		echo
		echo "\$(deps_$obj):"
	} > "$dir/.$base.cmd"
	rm -f "$dir/.$base.d"
	objs="$objs $obj"
done
$CC -o vmlinux $objs
echo "savedcmd_vmlinux := $CC -o vmlinux $objs" > .vmlinux.cmd
cp vmlinux bzImage
echo "mini kernel built"
