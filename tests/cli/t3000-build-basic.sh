#!/usr/bin/env bash
# tests/cli/t3000-build-basic.sh - `kbisect build` on a small kernel-like git repository
# (tests/builder/mini_kernel, custom build command): built, cache_hit, dependency_skip,
# --predict, cached_failure, --json fields, bad input and usage.
# kb-test-labels: integration
# kb-test-timeout: 300
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

repo=$tmp/repo
mkdir -p "$repo"
cp -r "$src/tests/builder/mini_kernel/." "$repo/"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m initial
kb() { "$KBISECT" build --repo "$repo" --config "$src/tests/builder/mini_kernel.config" \
         --build-cmd 'sh scripts/build.sh' --image bzImage --cache "$tmp/cache" \
         --work-dir "$tmp/work" --jobs 1 "$@"; }
field() { python3 -c 'import json,sys; o=json.loads(sys.argv[1]); v=o
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1" "$2"; }

out=$(kb --rev HEAD --json)
[ "$(field "$out" how)" = built ] || fail "first build: $out"
sig=$(field "$out" signature)
[[ "$sig" =~ ^[0-9a-f]{64}$ ]] || fail "signature: $sig"
for a in vmlinux bzImage config log; do
  [[ "$(field "$out" artifacts.$a)" =~ ^[0-9a-f]{64}$ ]] || fail "artifact $a: $out"
done
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["seconds"] > 0' "$out"

out=$(kb --rev HEAD --json)
[ "$(field "$out" how)" = cache_hit ] || fail "second build: $out"
[ "$(field "$out" signature)" = "$sig" ] || fail "cache hit signature"

echo "More docs." >> "$repo/Documentation/readme.txt"
git -C "$repo" commit -q -am "docs"
out=$(kb --rev HEAD --predict --json)
[ "$(field "$out" how)" = dependency_skip ] || fail "predict: $out"
out=$(kb --rev HEAD --json)
[ "$(field "$out" how)" = dependency_skip ] || fail "docs commit: $out"
[ "$(field "$out" signature)" = "$sig" ] || fail "dependency skip signature"

# text output names how and the signature
kb --rev HEAD | grep "cache_hit" >/dev/null || fail "text output"
kb --rev HEAD | grep "$sig" >/dev/null || fail "text output signature"

# another compiler is another build key; ccache is not part of the key but is used
if command -v clang >/dev/null; then
  out=$(kb --rev HEAD --json --cc clang)
  [ "$(field "$out" how)" = built ] || fail "clang build: $out"
  [ "$(field "$out" signature)" != "$sig" ] || fail "clang kernel has the gcc signature"
fi
if command -v ccache >/dev/null; then
  export CCACHE_DIR=$tmp/ccache
  out=$(kb --rev HEAD --json --ccache ccache)
  [ "$(field "$out" how)" = cache_hit ] || fail "ccache changed the build key: $out"
  echo 'int lib_extra(void) { return 5; }' >> "$repo/lib/lib.c"
  git -C "$repo" commit -q -am "lib: extra"
  out=$(kb --rev HEAD --json --ccache ccache)
  [ "$(field "$out" how)" = built ] || fail "ccache build: $out"
  [ "$(find "$CCACHE_DIR" -type f | wc -l)" -gt 1 ] || fail "ccache was not used"
  unset CCACHE_DIR
  # without $CCACHE_DIR: ccache's files go to <cache>/ccache; a relative --work-dir
  # still gives ccache an absolute base directory (else ccache refuses to run)
  echo 'int lib_rel(void) { return 6; }' >> "$repo/lib/lib.c"
  git -C "$repo" commit -q -am "lib: rel"
  out=$(cd "$tmp" && "$KBISECT" build --repo "$repo" --config "$src/tests/builder/mini_kernel.config" --cache "$tmp/relcache" \
	--work-dir relwork --build-cmd 'sh scripts/build.sh' --image bzImage --jobs 1 --rev HEAD \
	--json --ccache ccache) || fail "relative --work-dir with ccache: $out"
  [ "$(field "$out" how)" = built ] || fail "relative --work-dir with ccache: $out"
  [ "$(find "$tmp/relcache/ccache" -type f -name '*R' | wc -l)" -ge 1 ] ||
	fail "no ccache results in <cache>/ccache"
  [ -d "$tmp/relwork" ] || fail "the relative work dir is not below the current directory"
fi

# two workers build two commits at the same time: own work trees, one cache
echo 'int lib_a(void) { return 11; }' >> "$repo/lib/lib.c"
git -C "$repo" commit -q -am "lib: a"
ca=$(git -C "$repo" rev-parse HEAD)
echo 'int lib_b(void) { return 12; }' >> "$repo/lib/lib.c"
git -C "$repo" commit -q -am "lib: b"
kb --rev "$ca" --worker 1 --json > "$tmp/a.json" & pa=$!
kb --rev HEAD --worker 2 --json > "$tmp/b.json" & pb=$!
wait $pa || fail "worker 1 failed"
wait $pb || fail "worker 2 failed"
[ "$(field "$(cat "$tmp/a.json")" how)" = built ] || fail "worker 1: $(cat "$tmp/a.json")"
[ "$(field "$(cat "$tmp/b.json")" how)" = built ] || fail "worker 2: $(cat "$tmp/b.json")"
[ "$(field "$(cat "$tmp/a.json")" signature)" != "$(field "$(cat "$tmp/b.json")" signature)" ] ||
  fail "two different commits, one signature"
[ "$(kb --rev "$ca" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["how"])')" = cache_hit ] ||
  fail "parallel build not recorded"

# a commit that does not build: exit 1 with the first error, then a cached failure
echo 'int broken(void) { return nope; }' >> "$repo/lib/lib.c"
git -C "$repo" commit -q -am "broken"
set +e
kb --rev HEAD >"$tmp/out" 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "broken build exit $rc"
grep -q "nope" "$tmp/err" || fail "first error not shown: $(cat "$tmp/err")"
[ "$(wc -l < "$tmp/err")" -lt 5 ] || fail "too much error output"
set +e
out=$(kb --rev HEAD --json); rc=$?
set -e
[ $rc -eq 1 ] || fail "cached failure exit $rc"
[ "$(field "$out" how)" = cached_failure ] || fail "cached failure: $out"

# bad input: exit 1 and a message naming the problem
expect_error() { # pattern, args...
  local pat=$1; shift
  set +e
  "$KBISECT" build "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  set -e
  [ $rc -eq 1 ] || fail "exit $rc for $* (want 1)"
  grep -q -- "$pat" "$tmp/err" || fail "no '$pat' in: $(cat "$tmp/err")"
}
expect_error "not a git repository" --repo "$tmp/work" --rev HEAD \
  --config "$src/tests/builder/mini_kernel.config" --cache "$tmp/cache"
expect_error "unknown revision 'nosuchrev'" --repo "$repo" --rev nosuchrev \
  --config "$src/tests/builder/mini_kernel.config" --cache "$tmp/cache" --build-cmd true
expect_error "missing.config" --repo "$repo" --rev HEAD --config "$tmp/missing.config" \
  --cache "$tmp/cache"

# usage
set +e
"$KBISECT" build --repo "$repo" >/dev/null 2>&1; rc1=$?
"$KBISECT" build --bogus >/dev/null 2>&1; rc2=$?
"$KBISECT" build --repo "$repo" --rev HEAD --config x --jobs zero >/dev/null 2>&1; rc3=$?
set -e
[ $rc1 -eq 129 ] && [ $rc2 -eq 129 ] && [ $rc3 -eq 129 ] || fail "usage exits $rc1 $rc2 $rc3"
"$KBISECT" build --help | grep -- "--predict" >/dev/null || fail "--help"
echo "t3000-build-basic: ok"
