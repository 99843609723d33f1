#!/usr/bin/env bash
# bench/vmpool/parity.sh [BUILD_DIR] - does a clone or a cold boot ever lose a crash?
# Owns: the cross-table of section 4's sysrq/UUID reproducer (crash when the first digit
# of a kernel-made UUID is odd), in a variant that prints its UUID to stdout and
# /dev/kmsg first, so every run's console (kept in a private cache, read back with
# `kbisect cache get`) shows which way it had to go. Prints, for clones and cold boots,
# digit parity (odd/even/none) x class and title; anything off the diagonal
# (odd -> not a crash, even -> crash, no UUID) is a run the pool lost or misfiled.
# Not: the rate comparison and z-test (run.sh section 4).
# Env: RUNS (100 clones), COLD_RUNS (20), VMS (nproc), KBISECT.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
kb=${KBISECT:-$build/cli/kbisect}
runs=${RUNS:-100}
cold_runs=${COLD_RUNS:-20}
vms=${VMS:-$(nproc)}
[ -x "$kb" ] || { echo "bench/vmpool: no kbisect at '$kb'; build first" >&2; exit 1; }
kernel=$(bash "$here/scripts/fetch-kernels.sh" | awk 'NR==1{print $2}')
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
cat > "$tmp/rng.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* run.sh section 4's reproducer, printing its UUID before it decides: p = 1/2 */
int main(void) {
  char u[64] = "", d[2] = "", m[100];
  FILE *f = fopen("/proc/sys/kernel/random/uuid", "r");
  if (!f || !fgets(u, sizeof u, f)) return 1;
  u[strcspn(u, "\n")] = 0;
  snprintf(m, sizeof m, "KBUUID %s\n", u);
  fputs(m, stdout);
  fflush(stdout);
  int k = open("/dev/kmsg", O_WRONLY);
  if (k >= 0) { if (write(k, m, strlen(m)) < 0) perror("kmsg"); close(k); }
  d[0] = u[0];
  if (strtol(d, NULL, 16) & 1) {
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    return write(fd, "c", 1) == 1 ? 0 : 1;
  }
  puts("no crash this time");
  return 0;
}
C
common=(--kernel "$kernel" --accel tcg --cache "$tmp/cache" --timeout 30 --json --vms "$vms"
	--repro "$tmp/rng.c")
echo "== clone/cold crash parity: $runs clones, $cold_runs cold boots (kernel $kernel)"
"$kb" pool run "${common[@]}" --runs "$runs" > "$tmp/clone.json"
[ "$cold_runs" -gt 0 ] && "$kb" pool run "${common[@]}" --runs "$cold_runs" --cold > "$tmp/cold.json"
[ "$cold_runs" -gt 0 ] || echo '{"runs": []}' > "$tmp/cold.json"
python3 - "$kb" "$tmp" <<'PY'
import collections, json, os, re, subprocess, sys
kb, tmp = sys.argv[1:3]
for name in ("clone", "cold"):
    tab, uuids = collections.Counter(), []
    for r in json.load(open(os.path.join(tmp, name + ".json")))["runs"]:
        con = ""
        if r.get("console"):
            out = os.path.join(tmp, "con")
            subprocess.run([kb, "cache", "get", "--cache=" + os.path.join(tmp, "cache"),
                            r["console"], "-o", out], check=True, capture_output=True)
            con = open(out, errors="replace").read()
        m = re.findall(r"KBUUID ([0-9a-f-]{36})", con)
        par = "none" if not m else ("odd" if int(m[0][0], 16) & 1 else "even")
        uuids += m[:1]
        tab[(par, r["class"], r["title"])] += 1
    n = sum(tab.values())
    if not n:
        continue
    off = sum(v for (p, c, _), v in tab.items()
              if not ((p == "odd" and c == "crash") or (p == "even" and c == "ok")))
    print("%s: %d runs, %d distinct UUIDs" % (name, n, len(set(uuids))))
    for (p, c, t), v in sorted(tab.items()):
        print("  %-4s digit -> %-6s %-40s %d" % (p, c, '"%s"' % t if t else "", v))
    odd = sum(v for (p, _, _), v in tab.items() if p == "odd")
    print("  odd digits %d/%d (%.2f); runs off the diagonal (lost or misfiled): %d" %
          (odd, n, odd / n, off))
PY
