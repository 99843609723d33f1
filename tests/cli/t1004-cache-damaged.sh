#!/usr/bin/env bash
# tests/cli/t1004-cache-damaged.sh - a real cache whose data.mdb has damaged B-tree pages
# (bit flips in branch and leaf pages, where LMDB, which keeps no page checksums, may
# read out of bounds and crash). On many damaged copies: no command dies of a signal
# (a crash becomes "cache ... is damaged; run 'kbisect cache recover'", exit 1), verify
# reports and survives, recover keeps every readable object byte for byte and says what
# was lost (copied + lost = all), and the recovered cache verifies clean and works.
# kb-test-labels: cli fault
# kb-test-timeout: 600
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KBISECT_CACHE_NOSYNC=1 # throw-away caches: no fsync
fail() { echo "FAIL: $*" >&2; exit 1; }
src="$tmp/src"

# a cache like a user's: blobs of many sizes, logs, a few kernels (deltas), pins
python3 - "$tmp" <<'PY'
import os, random, sys
r = random.Random(17)
d = sys.argv[1]
kernel = r.randbytes(700000)
for i in range(40):
    if i % 8 == 0:
        b = bytearray(kernel)
        for k in range(50):
            b[r.randrange(len(b))] ^= 1
        data = bytes(b)
    elif i % 3 == 0:
        data = "".join("line %d of log %d\n" % (k, i) for k in range(r.randrange(100, 20000))).encode()
    else:
        data = r.randbytes(r.randrange(0, 300000))
    open(os.path.join(d, "in%02d" % i), "wb").write(data)
PY
# one process per kind (ASan start-up costs): "<id>  <file>" lines
"$KBISECT" cache put --cache "$src" --kind vmlinux "$tmp"/in{00,08,16,24,32} > "$tmp/put.out"
"$KBISECT" cache put --cache "$src" --kind blob $(ls "$tmp"/in* | grep -vE 'in(00|08|16|24|32)$') >> "$tmp/put.out"
while read -r id f; do echo "$id" > "$tmp/id${f##*/in}"; done < "$tmp/put.out"
[ "$(ls "$tmp"/id* | wc -l)" = 40 ] || fail "put: $(cat "$tmp/put.out")"
sort -u "$tmp"/id[0-9]* > "$tmp/ids"
"$KBISECT" cache pin --cache "$src" "$(cat "$tmp/id03")"
total=$(wc -l < "$tmp/ids")

# flip bits in the B-tree pages (branch/leaf) of a copy; seed $1, $2 flips
flip() {
  python3 - "$1" "$2" "$3" <<'PY'
import random, struct, sys
path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
db = bytearray(open(path, "rb").read())
ps, i, tree = 4096, 2, []
while i < len(db) // ps:
    flags = struct.unpack_from("<H", db, i * ps + 10)[0]
    if flags & 4:                      # overflow run: skip its pages
        i += max(struct.unpack_from("<I", db, i * ps + 12)[0], 1)
        continue
    if flags & 3:
        tree.append(i)
    i += 1
for _ in range(n):
    pg = r.choice(tree)
    off = pg * ps + (r.randrange(64) if r.random() < 0.6 else r.randrange(ps))
    db[off] ^= 1 << r.randrange(8)
open(path, "wb").write(db)
PY
}

crashes=0 damaged=0 seeds=24
for seed in $(seq 1 $seeds); do
  d="$tmp/d$seed"
  cp -r "$src" "$d"
  flip "$d/data.mdb" $seed 8
  hit=0
  for cmd in ls verify; do
    set +e; timeout 60 "$KBISECT" cache $cmd --cache "$d" >"$tmp/out" 2>"$tmp/err"; rc=$?; set -e
    [ $rc -lt 124 ] || fail "seed $seed: 'cache $cmd' died (exit $rc): $(tail -3 "$tmp/err")"
    if grep -q "is damaged (a read of data.mdb faulted\|is damaged (LMDB" "$tmp/err"; then
      hit=1
      [ $rc = 1 ] || fail "seed $seed: a damaged store gave exit $rc"
      [ "$(wc -l < "$tmp/err")" = 1 ] || fail "seed $seed: more than one line: $(cat "$tmp/err")"
      grep -q "kbisect cache recover" "$tmp/err" || fail "seed $seed: no advice: $(cat "$tmp/err")"
    fi
    # verify reads in child processes: a crash there is a finding, and it goes on
    if grep -q "reading it crashed\|reading them crashed\|cannot be read past" "$tmp/out"; then
      hit=1
      [ $rc = 1 ] || fail "seed $seed: verify found a crash but exited $rc"
      tail -1 "$tmp/out" | grep "^damaged: " >/dev/null || fail "seed $seed: verify did not finish: $(tail -2 "$tmp/out")"
    fi
  done
  crashes=$((crashes + hit))
  set +e; timeout 120 "$KBISECT" cache recover --cache "$d" >"$tmp/rec" 2>"$tmp/err"; rc=$?; set -e
  if [ $rc != 0 ]; then
    # only a store whose very first pages are gone may be beyond recovery
    grep -q "damaged beyond reading" "$tmp/err" || fail "seed $seed: recover exit $rc: $(cat "$tmp/err")"
    continue
  fi
  line=$(grep '^recovered' "$tmp/rec")
  got=$(echo "$line" | awk '{print $2}'); lost=$(echo "$line" | awk '{print $8}')
  [ $((got + lost)) = $total ] || fail "seed $seed: $got copied + $lost lost != $total: $(cat "$tmp/rec")"
  [ "$lost" = 0 ] || damaged=$((damaged + 1))
  "$KBISECT" cache verify --cache "$d" >/dev/null || fail "seed $seed: recovered cache does not verify"
  ls "$d" | grep '^damaged-.*\.mdb$' >/dev/null || fail "seed $seed: the damaged file was not kept"
  # every object it kept is byte for byte an input: its id is one of the inputs' ids
  # (SHA-256), and verify above read each back against its id
  "$KBISECT" cache ls --cache "$d" | tail -n +2 | awk '{print $1}' | sort > "$tmp/kept"
  [ "$(wc -l < "$tmp/kept")" = "$got" ] || fail "seed $seed: ls shows $(wc -l < "$tmp/kept"), not $got"
  [ -z "$(comm -23 "$tmp/kept" "$tmp/ids")" ] || fail "seed $seed: an object that was never put"
  if [ $hit = 1 ] && [ -z "${compared:-}" ]; then
    # and, once, with cmp
    compared=1
    for i in $(seq -w 0 39); do
      id=$(cat "$tmp/id$i")
      grep -q "$id" "$tmp/kept" || continue
      "$KBISECT" cache get --cache "$d" "$id" -o "$tmp/back" && cmp -s "$tmp/back" "$tmp/in$i" \
        || fail "seed $seed: object $id differs after recover"
    done
  fi
  "$KBISECT" cache put --cache "$d" "$tmp/in01" >/dev/null || fail "seed $seed: put after recover"
  rm -rf "$d"
done
# --to: a new cache elsewhere, the old one left as it is; a sound cache loses nothing
"$KBISECT" cache recover --cache "$src" --to "$tmp/new" > "$tmp/rec" || fail "recover --to"
grep -q "^recovered $total objects .* lost 0 objects and 0 " "$tmp/rec" || fail "recover --to: $(cat "$tmp/rec")"
ls "$src" | grep damaged- >/dev/null && fail "recover --to touched the source"
"$KBISECT" cache get --cache "$tmp/new" "$(cat "$tmp/id05")" -o "$tmp/back" && cmp -s "$tmp/back" "$tmp/in05" \
  || fail "recover --to: object differs"
"$KBISECT" cache ls --cache "$tmp/new" | grep "$(cat "$tmp/id03")" | grep 'P' >/dev/null || fail "recover --to lost the pin"
set +e; "$KBISECT" cache recover --cache "$src" --to "$tmp/new" >/dev/null 2>"$tmp/err"; rc=$?; set -e
[ $rc = 1 ] && grep -q "holds a cache already" "$tmp/err" || fail "recover --to onto a cache: $rc $(cat "$tmp/err")"

echo "$crashes of $seeds damaged copies made a command meet a bad page (each answered cleanly); $damaged lost objects"
# the damage must have reached LMDB's page reads, or this test tested nothing
[ $crashes -ge 3 ] || fail "only $crashes crashes provoked: the damage missed the B-tree"
echo ok
