#!/usr/bin/env bash
# t1219-serve-metrics.sh - GET /metrics of `kbisect cache serve` is valid Prometheus text
# (format 0.0.4, checked by a parser here with promtool's rules: HELP/TYPE once per
# family and before its samples, families not split, valid names and labels, float
# values, no duplicate series, counters named *_total, histograms with cumulative
# buckets ending at le="+Inf" equal to _count; promtool itself too when installed) and
# counts what happened: after hits and misses on /cas, /ac, ccache paths and kbisect's
# records, the latency histogram of each route counts its requests and the hit ratio per
# route is hits / (hits + misses); process_resident_memory_bytes and process_open_fds
# agree with /proc/<pid> of the server.
# kb-test-labels: integration
# kb-test-timeout: 60
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp

serve_start --cache "$T/store" --duration 50 --quiet
python3 - "$URL" <<'PY' || fail "requests"
import hashlib, os, sys, urllib.request, urllib.error
url = sys.argv[1]
def req(method, path, body=None):
    r = urllib.request.Request(url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(r) as f:
            f.read()
            return f.status
    except urllib.error.HTTPError as e:
        return e.code
blobs = [os.urandom(1000 + 5000 * i) for i in range(3)]
keys = [hashlib.sha256(b).hexdigest() for b in blobs]
for b, k in zip(blobs, keys):
    assert req("PUT", f"/cas/{k}", b) == 201
# cas: 3 hits + 1 HEAD hit, 2 misses -> 4/6
for k in keys:
    assert req("GET", f"/cas/{k}") == 200
assert req("HEAD", f"/cas/{keys[0]}") == 200
for _ in range(2):
    assert req("GET", "/cas/" + hashlib.sha256(os.urandom(8)).hexdigest()) == 404
# ac: 1 hit, 3 misses -> 0.25
assert req("PUT", "/ac/" + "ab" * 32, blobs[0]) == 201
assert req("GET", "/ac/" + "ab" * 32) == 200
for i in range(3):
    assert req("GET", "/ac/" + ("%02x" % i) * 32) == 404
# ccache (subdirs layout): 2 hits, 1 miss -> 2/3
assert req("PUT", "/ccache/ab/cdef0123456789", blobs[1]) == 201
assert req("GET", "/ccache/ab/cdef0123456789") == 200
assert req("GET", "/ccache/ab/cdef0123456789") == 200
assert req("GET", "/ccache/ab/cdef0000000000") == 404
# kbisect's own records: 1 miss
assert req("GET", "/kb/v1/build/" + "cd" * 32) == 404
PY
curl -sf "$URL/metrics" >"$T/metrics" || fail "GET /metrics"
python3 - "$T/metrics" "$pid" <<'PY' || { cat "$T/metrics" >&2; fail "metrics (see above)"; }
import math, os, re, sys
text, pid = open(sys.argv[1]).read(), sys.argv[2]
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
errors, types, helps, samples, seen_series, done_families = [], {}, {}, {}, set(), set()
current = None
def family(name):
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[: -len(suf)]) == "histogram":
            return name[: -len(suf)]
    return name
if not text.endswith("\n"):
    errors.append("no final newline")
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("#"):
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
            name = parts[2]
            if not NAME.match(name):
                errors.append(f"{n}: bad name {name}")
            table = helps if parts[1] == "HELP" else types
            if name in table:
                errors.append(f"{n}: second {parts[1]} for {name}")
            if name in done_families or name in samples:
                errors.append(f"{n}: {parts[1]} for {name} after its samples")
            if parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    errors.append(f"{n}: bad TYPE line {line!r}")
                else:
                    types[name] = parts[3]
            elif len(parts) != 4 or not parts[3]:
                errors.append(f"{n}: empty HELP for {name}")
        continue
    m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
    if not m:
        errors.append(f"{n}: not a sample line: {line!r}")
        continue
    name, lab, val = m.groups()
    labels = {}
    if lab:
        body = lab[1:-1]
        pos = 0
        while pos < len(body):
            lm = LABEL.match(body, pos)
            if not lm:
                errors.append(f"{n}: bad labels {lab}")
                break
            if lm.group(1) in labels:
                errors.append(f"{n}: label {lm.group(1)} twice")
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
    try:
        v = float(val)
    except ValueError:
        errors.append(f"{n}: value {val!r}")
        continue
    fam = family(name)
    if fam not in types:
        errors.append(f"{n}: sample of {name} without TYPE")
    if current != fam:
        if fam in done_families:
            errors.append(f"{n}: family {fam} split")
        if current:
            done_families.add(current)
        current = fam
    key = (name, tuple(sorted(labels.items())))
    if key in seen_series:
        errors.append(f"{n}: duplicate series {key}")
    seen_series.add(key)
    samples.setdefault(fam, []).append((name, labels, v))
for fam, t in types.items():
    if t == "counter" and not fam.endswith("_total"):
        errors.append(f"counter {fam} not named *_total")
    if t == "counter" and any(v < 0 for _, _, v in samples.get(fam, [])):
        errors.append(f"negative counter {fam}")
    if t != "histogram":
        continue
    groups = {}
    for name, labels, v in samples.get(fam, []):
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        groups.setdefault(rest, {"b": [], "sum": None, "count": None})
        g = groups[rest]
        if name.endswith("_bucket"):
            g["b"].append((float(labels["le"]), v))
        elif name.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    for rest, g in groups.items():
        les = [le for le, _ in g["b"]]
        if les != sorted(les) or not les or les[-1] != math.inf:
            errors.append(f"{fam}{rest}: buckets not sorted or no +Inf")
        if any(b[1] > c[1] for b, c in zip(g["b"], g["b"][1:])):
            errors.append(f"{fam}{rest}: buckets not cumulative")
        if g["count"] is None or g["sum"] is None or (les and g["b"][-1][1] != g["count"]):
            errors.append(f"{fam}{rest}: _count/_sum missing or +Inf != _count")
if errors:
    sys.exit("invalid exposition format:\n  " + "\n  ".join(errors))

def one(fam, **labels):
    got = [v for name, l, v in samples.get(fam, []) if l == labels and name == fam]
    if len(got) != 1:
        sys.exit(f"no single {fam}{labels}: {got}")
    return got[0]
def hist_count(route):
    return [v for name, l, v in samples["kbisect_request_duration_seconds"]
            if name.endswith("_count") and l == {"route": route}][0]
checks = [
    (hist_count("cas"), 3 + 3 + 1 + 2), (hist_count("ac"), 1 + 1 + 3),
    (hist_count("ccache"), 1 + 2 + 1), (hist_count("kb_build"), 1),
    (one("kbisect_route_hits_total", route="cas"), 4), (one("kbisect_route_misses_total", route="cas"), 2),
    (one("kbisect_route_hits_total", route="ccache"), 2), (one("kbisect_route_misses_total", route="kb_build"), 1),
    (round(one("kbisect_cache_hit_ratio", route="cas"), 4), round(4 / 6, 4)),
    (one("kbisect_cache_hit_ratio", route="ac"), 0.25),
    (round(one("kbisect_cache_hit_ratio", route="ccache"), 4), round(2 / 3, 4)),
    (one("kbisect_cache_hit_ratio", route="kb_build"), 0.0),
]
for i, (got, want) in enumerate(checks):
    if got != want:
        sys.exit(f"check {i}: got {got}, want {want}")
rss = one("process_resident_memory_bytes")
vmrss = [int(l.split()[1]) * 1024 for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0]
if not (0.5 * vmrss < rss < 2 * vmrss):
    sys.exit(f"process_resident_memory_bytes {rss}, /proc says {vmrss}")
fds = one("process_open_fds")
nfds = len(os.listdir(f"/proc/{pid}/fd"))
if abs(fds - nfds) > 2 or fds < 3:
    sys.exit(f"process_open_fds {fds}, /proc/{pid}/fd has {nfds}")
if one("process_cpu_seconds_total") < 0:
    sys.exit("cpu")
print(f"ok: {len(types)} families, {len(seen_series)} series")
PY
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/metrics" || fail "promtool check metrics"
fi
echo "ok"
