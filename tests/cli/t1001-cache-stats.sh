#!/usr/bin/env bash
# tests/cli/t1001-cache-stats.sh - `kbisect cache stats`: the human table and --json
# (parsed with python3) agree with what was put and read: objects and bytes per kind,
# hits and misses, dedup savings, LMDB file facts.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export KBISECT_CACHE="$tmp/c"

python3 -c 'import os; open(os.sys.argv[1], "wb").write(os.urandom(2 << 20) + b"\0" * (1 << 20))' "$tmp/a"
cp "$tmp/a" "$tmp/b"; printf 'tail' >> "$tmp/b"       # shares the first 2 chunks
ida=$("$KBISECT" cache put --kind vmlinux --no-delta "$tmp/a")
"$KBISECT" cache put --kind blob "$tmp/b" >/dev/null
"$KBISECT" cache get "$ida" -o "$tmp/out"
"$KBISECT" cache get "$ida" -o "$tmp/out"
"$KBISECT" cache get 0000000000000000000000000000000000000000000000000000000000000000 -o "$tmp/x" 2>/dev/null \
  && fail "get of a missing id must fail"

"$KBISECT" cache stats --json > "$tmp/s.json"
python3 - "$tmp/s.json" <<'PY' || fail "stats --json: $(cat "$tmp/s.json")"
import json, sys
s = json.load(open(sys.argv[1]))
k = s["kinds"]
assert k["vmlinux"]["objects"] == 1 and k["blob"]["objects"] == 1, k
assert k["vmlinux"]["bytes"] == 3 << 20, k["vmlinux"]
assert k["vmlinux"]["hits"] == 2, k["vmlinux"]
assert s["misses"] == 1, s
assert s["saved"]["dedup"] >= 2 << 20, s["saved"]
assert s["saved"]["compression"] > 0, s["saved"]       # the zero MiB compresses
assert s["chunks"] == 4, s["chunks"]                     # 2 shared + zeros + tail
assert s["lmdb"]["file_size"] > 0 and s["lmdb"]["live_bytes"] > 0, s["lmdb"]
assert s["lmdb"]["max_readers"] >= 126, s["lmdb"]
assert s["builds"]["records"] == 0 and s["tests"]["runs"] == 0
assert s["limit"] == 0
PY
"$KBISECT" cache stats > "$tmp/s.txt"
grep -q '^vmlinux  *1 ' "$tmp/s.txt" || fail "human table: $(cat "$tmp/s.txt")"
grep -q '^saved by dedup:' "$tmp/s.txt" || fail "no dedup line"
grep -q '^data.mdb:' "$tmp/s.txt" || fail "no LMDB line"
"$KBISECT" cache gc --limit 1M >/dev/null
"$KBISECT" cache stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["limit"] == 1 << 20 and s["evictions"] >= 1, s' \
  || fail "limit and evictions"
exit 0
