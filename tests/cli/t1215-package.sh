#!/usr/bin/env bash
# t1215-package.sh - `cpack -G DEB` in the build folder makes a Debian package: the FHS
# layout under the configured prefix, the unit, Depends from dpkg-shlibdeps, postinst and
# prerm. Unpacked into a scratch root (dpkg-deb -x; no real install), its kbisect finds
# its own agent, and the unit's command line (its Environment= settings pointed at a
# scratch cache and port 0) serves a ccache round trip: a second build from an empty
# local ccache directory gets all its results from the server. Skips without
# cpack/dpkg-deb (and the ccache part without ccache).
# kb-test-labels: integration
# kb-test-timeout: 90
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
: "${KB_BUILD_DIR:?set KB_BUILD_DIR to the build folder}"
for p in cpack dpkg-deb dpkg-shlibdeps; do
	command -v $p >/dev/null || { echo "no $p: skipping (apt-get install dpkg-dev cmake)" >&2; exit 0; }
done
for v in $(env | sed -n 's/^\(KBISECT_SERVE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset KBISECT_AGENT

(cd "$KB_BUILD_DIR" && cpack -G DEB --config CPackConfig.cmake -B "$tmp/pkg") \
	>"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$tmp"/pkg/kbisect_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { cat "$tmp/cpack.log"; fail "cpack made no kbisect_*.deb"; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$KB_BUILD_DIR/CMakeCache.txt")
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||' >"$tmp/files"
for f in bin/kbisect bin/kbisect-ccwrap libexec/kbisect/kbisect-agent \
	lib/systemd/system/kbisect-cache-serve.service share/doc/kbisect/kbisect-cache-serve.md; do
	grep -qx "${prefix#/}/$f" "$tmp/files" || fail "the package lacks $prefix/$f"
done
dpkg-deb -f "$deb" Depends | grep libmicrohttpd >/dev/null || fail "Depends lacks libmicrohttpd"
dpkg-deb -e "$deb" "$tmp/control"
[ -x "$tmp/control/postinst" ] && grep -q 'systemctl enable kbisect-cache-serve' \
	"$tmp/control/postinst" || fail "postinst does not enable the unit"
[ -x "$tmp/control/prerm" ] || fail "no prerm"

# unpacked into a scratch root: its kbisect finds its own agent
dpkg-deb -x "$deb" "$tmp/root"
bin=$tmp/root$prefix/bin/kbisect
agent=$("$bin" version --paths | sed -n 's/^agent: //p')
[ "$(realpath "$agent")" = "$(realpath "$tmp/root$prefix/libexec/kbisect/kbisect-agent")" ] ||
	fail "the packaged kbisect uses agent '$agent'"

# the unit's command line, with its Environment= settings, serves ccache
unit=$tmp/root$prefix/lib/systemd/system/kbisect-cache-serve.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "${exec_start%% *}" = "$prefix/bin/kbisect" ] || fail "ExecStart '$exec_start' is not $prefix/bin/kbisect"
command -v ccache >/dev/null || { echo "no ccache: skipping the round trip" >&2; exit 0; }
env_line=$(sed -n 's/^Environment=//p' "$unit")
# shellcheck disable=SC2086
env $env_line KBISECT_SERVE_CACHE="$tmp/cache" KBISECT_SERVE_LISTEN=127.0.0.1:0 \
	KBISECT_SERVE_PORT_FILE="$tmp/port" KBISECT_SERVE_DURATION=40 \
	"$bin" ${exec_start#* } >/dev/null 2>"$tmp/serve.err" &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { cat "$tmp/serve.err"; fail "the unit's command line did not start"; }
mkdir "$tmp/src"
for i in 1 2 3; do
	printf '#include <stdio.h>\nint f%d(void) { return printf("%d\\n"); }\n' "$i" "$i" >"$tmp/src/f$i.c"
done
export CCACHE_CONFIGPATH=/dev/null CCACHE_REMOTE_STORAGE="http://127.0.0.1:$(cat "$tmp/port")/ccache"
build() { # build DIR: compile the three files with the local ccache directory DIR
	export CCACHE_DIR=$1
	(cd "$tmp/src" && for f in *.c; do ccache gcc -O2 -c "$f" -o "${f%.c}.o"; done)
	ccache --print-stats | awk '$1 == "remote_storage_hit" { print $2 }'
}
build "$tmp/ccache-a" >/dev/null
hits=$(build "$tmp/ccache-b")
[ "$hits" = 3 ] || { cat "$tmp/serve.err"; fail "second build: $hits remote hits, want 3"; }
echo "ok: package layout, Depends, maintainer scripts, agent, ccache round trip via the unit"
