#!/usr/bin/env bash
# t1205-remote-wiring.sh - `--remote URL` of kbisect build and kbisect cache: host A builds
# through a shared `kbisect cache serve` (write-through), host B with an empty local cache
# gets a cache_hit for the same commit without building (read-through of the record) and
# fetches its artifacts; a dead remote never fails a command and is counted in stats;
# `cache stats --remote` shows the server's store, and with --json puts it in one document.
# (Test results through the server: tests/net/test_remote.c.)
# kb-test-labels: integration
# kb-test-timeout: 180
set -euo pipefail
K=${KBISECT:?set KBISECT to the kbisect binary}
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d /tmp/kbtest-t1205-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export HOME=$T KBISECT_CONFIG=$T/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t

"$K" cache serve --cache "$T/server" --listen 127.0.0.1:0 --port-file "$T/port" \
	--duration 150 --quiet >/dev/null 2>"$T/serve.err" &
pid=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/serve.err"; fail "server did not start"; }
URL="http://127.0.0.1:$(cat "$T/port")"
# a port nobody listens on: bind one, note it, close it
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DEADURL="http://127.0.0.1:$DEAD"

repo=$T/repo
mkdir -p "$repo"
cp -r "$src/tests/builder/mini_kernel/." "$repo/"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m initial
# host <name> ...: kbisect build with the host's own local cache and work trees
host() { local h=$1; shift
	"$K" build --repo "$repo" --config "$src/tests/builder/mini_kernel.config" \
		--build-cmd 'sh scripts/build.sh' --image bzImage --cache "$T/$h/cache" \
		--work-dir "$T/$h/work" --jobs 1 --json "$@"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
art() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["artifacts"][sys.argv[2]])' "$1" "$2"; }

"$K" build --help | grep -- "--remote" >/dev/null || fail "build --help does not name --remote"

# host A builds with --remote: the record and its artifacts are written through
outa=$(host a --rev HEAD --remote "$URL" 2>"$T/a.err") || { cat "$T/a.err"; fail "host A build"; }
[ "$(field "$outa" how)" = built ] || fail "host A: $outa"
sig=$(field "$outa" signature)
cfg=$(art "$outa" config)
img=$(art "$outa" bzImage)

# host B: empty local cache, same commit: a cache hit from the server, nothing built
outb=$(host b --rev HEAD --remote "$URL" 2>"$T/b.err") || { cat "$T/b.err"; fail "host B build"; }
[ "$(field "$outb" how)" = cache_hit ] || fail "host B did not get the build of host A: $outb"
[ "$(field "$outb" signature)" = "$sig" ] || fail "host B signature differs"
[ ! -e "$T/b/work" ] || [ -z "$(find "$T/b/work" -name vmlinux)" ] || fail "host B built anyway"
# the record is now local to B: a second lookup without the server is a hit too
outb=$(host b --rev HEAD) || fail "host B, local"
[ "$(field "$outb" how)" = cache_hit ] || fail "host B did not keep the record: $outb"
# a docs-only commit on B: dependency skip from A's build (its input set read through)
echo "More docs." >> "$repo/Documentation/readme.txt"
git -C "$repo" commit -q -am "docs"
outb=$(host b --rev HEAD --remote "$URL") || fail "host B, docs commit"
[ "$(field "$outb" how)" = dependency_skip ] || fail "host B, docs commit: $outb"
[ "$(field "$outb" signature)" = "$sig" ] || fail "host B dependency skip signature"

# B fetches the artifacts the record names (objects read-through), then has them locally
"$K" cache get --cache "$T/b/cache" --remote "$URL" "$img" -o "$T/bzImage.b" \
	|| fail "cache get --remote on host B"
"$K" cache get --cache "$T/a/cache" "$img" -o "$T/bzImage.a" || fail "cache get on host A"
cmp "$T/bzImage.a" "$T/bzImage.b" || fail "bzImage differs between the hosts"
"$K" cache get --cache "$T/b/cache" "$img" -o "$T/bzImage.b2" || fail "not kept locally on B"
# (bzImage is a copy of vmlinux in the mini kernel; the config is another object)
"$K" cache get --cache "$T/b/cache" "$cfg" -o "$T/config.b" 2>/dev/null \
	&& fail "config local on B before anyone asked for it"
"$K" cache get --cache "$T/b/cache" --remote "$URL" - <<<"" >/dev/null 2>&1 && fail "bad id accepted"
"$K" cache get --cache "$T/b/cache" --remote "$URL" "$cfg" -o - >"$T/config.b" \
	|| fail "cache get --remote -o - on host B"
"$K" cache get --cache "$T/a/cache" "$cfg" -o - | cmp - "$T/config.b" || fail "config differs"

# cache put --remote on A writes through; cache get --remote on a third host reads it
head -c 300000 /dev/urandom >"$T/blob"
id=$("$K" cache put --cache "$T/a/cache" --remote "$URL" "$T/blob" | tail -1 | cut -c1-64)
[ "$id" = "$(sha256sum "$T/blob" | cut -c1-64)" ] || fail "cache put --remote id: $id"
"$K" cache get --cache "$T/c/cache" --remote "$URL" "$id" -o "$T/blob.c" || fail "get on host C"
cmp "$T/blob" "$T/blob.c" || fail "object differs on host C"
set +e
"$K" cache get --cache "$T/d/cache" "$id" -o "$T/blob.d" 2>/dev/null; rc=$?
set -e
[ $rc -eq 1 ] || fail "get without --remote on an empty cache: exit $rc, not 1"

# KBISECT_REMOTE configures it too
echo 'int lib_env(void) { return 3; }' >> "$repo/lib/lib.c"
git -C "$repo" commit -q -am "lib: env"
KBISECT_REMOTE=$URL host a --rev HEAD >/dev/null 2>&1 || fail "host A with KBISECT_REMOTE"
outb=$(KBISECT_REMOTE=$URL host b --rev HEAD 2>/dev/null) || fail "host B with KBISECT_REMOTE"
[ "$(field "$outb" how)" = cache_hit ] || fail "KBISECT_REMOTE: host B: $outb"

# a dead remote: builds, puts and gets still succeed; the warning and the counters say why
echo 'int lib_dead(void) { return 4; }' >> "$repo/lib/lib.c"
git -C "$repo" commit -q -am "lib: dead"
t0=$(date +%s)
outa=$(host a --rev HEAD --remote "$DEADURL" 2>"$T/dead.err") || { cat "$T/dead.err"; fail "build with a dead remote"; }
[ "$(field "$outa" how)" = built ] || fail "dead remote build: $outa"
grep -q "given up" "$T/dead.err" || fail "no warning about the dead remote: $(cat "$T/dead.err")"
grep -Eq "errors [1-9]" "$T/dead.err" || fail "errors not counted: $(cat "$T/dead.err")"
[ $(( $(date +%s) - t0 )) -lt 60 ] || fail "a dead remote slowed the build down"
id2=$("$K" cache put --cache "$T/a/cache" --remote "$DEADURL" "$T/blob" 2>/dev/null | tail -1 | cut -c1-64)
[ "$id2" = "$id" ] || fail "cache put with a dead remote"
"$K" cache get --cache "$T/a/cache" --remote "$DEADURL" "$id" -o "$T/blob.dead" 2>/dev/null \
	|| fail "local hit with a dead remote"
"$K" cache stats --cache "$T/a/cache" --remote "$DEADURL" >"$T/stats" 2>&1 || fail "cache stats with a dead remote"
grep -Eq "remote: errors [1-9]" "$T/stats" || fail "cache stats does not count the error: $(cat "$T/stats")"
"$K" cache stats --cache "$T/a/cache" --remote "$URL" >"$T/stats" 2>&1 || fail "cache stats"
grep -q "remote: errors 0" "$T/stats" || fail "cache stats with a live remote: $(cat "$T/stats")"
grep -Eq "^server objects: +[1-9]" "$T/stats" || fail "cache stats does not show the server's store: $(cat "$T/stats")"
# --json: one document on stdout, the remote in it (server status, client counters)
"$K" cache stats --cache "$T/a/cache" --remote "$URL" --json >"$T/stats.json" 2>"$T/stats.err" \
	|| fail "cache stats --json"
[ ! -s "$T/stats.err" ] || fail "cache stats --json wrote to stderr: $(cat "$T/stats.err")"
python3 - "$T/stats.json" "$URL" <<'PY' || fail "cache stats --json with a live remote: $(cat "$T/stats.json")"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["remote"]
assert d["kinds"] and r["url"] == sys.argv[2] and r["reachable"] is True and r["error"] is None, r
assert r["server"]["store"]["objects"] >= 1 and r["server"]["store"]["builds"] >= 1, r["server"]
c = r["client"]
assert c["requests"] == 1 and c["errors"] == 0 and c["hits"] == 0 and c["misses"] == 0, c
PY
"$K" cache stats --cache "$T/a/cache" --remote "$DEADURL" --json >"$T/stats.json" 2>"$T/stats.err" \
	|| fail "cache stats --json with a dead remote"
python3 - "$T/stats.json" <<'PY' || fail "cache stats --json with a dead remote: $(cat "$T/stats.json")"
import json, sys
r = json.load(open(sys.argv[1]))["remote"]
assert r["reachable"] is False and r["server"] is None and "cannot get the status" in r["error"], r
assert r["client"]["errors"] >= 1, r["client"]
PY

# bad input
set +e
"$K" cache get --cache "$T/a/cache" --remote "ftp://x" "$id" -o "$T/x" 2>/dev/null; rc=$?
set -e
[ $rc -ne 0 ] || fail "a bad remote URL was accepted"
set +e
"$K" build --remote >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 129 ] || fail "--remote without a value: exit $rc, not 129"
kill -0 "$pid" || fail "the server died"
echo ok
