#!/usr/bin/env bash
# tests/cli/t2004-pool-repro-cannot-run.sh - a reproducer the guest cannot run is not a
# test of the kernel: a `#!/bin/bash` script in the busybox guest (no bash: execve
# fails) and a script whose command is missing (exit 127) are `infra` with the reason,
# not `ok`; every run reports its entropy token in --json, clones' tokens all differ.
# Real Debian cloud kernel under TCG.
# kb-test-labels: vm
# kb-test-timeout: 300
src=${KB_SOURCE_DIR:?set KB_SOURCE_DIR}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
kernel_or_skip
printf '#!/bin/bash\necho "bash ran"\n' > "$tmp/bash.sh"
printf '#!/bin/sh\nkbisect-no-such-command --go\n' > "$tmp/missing.sh"
run() { # repro out: 2 runs (clones) as JSON
  TMPDIR="$tmp" "$KBISECT" pool run --kernel "$kernel" --repro "$1" --runs 2 --vms 2 \
    --accel tcg --no-cache --json > "$2" 2>"$2.err" || fail "pool run $1: $(cat "$2.err")"
}
run "$tmp/bash.sh" "$tmp/bash.json"
run "$tmp/missing.sh" "$tmp/missing.json"
python3 - "$tmp/bash.json" "$tmp/missing.json" <<'PY'
import json, sys
bash, missing = (json.load(open(p)) for p in sys.argv[1:3])
for r in bash["runs"]:
    assert r["class"] == "infra", r
    assert r["title"].startswith("kbisect: the guest cannot run the reproducer"), r
    assert "/bin/bash" in r["title"], r
for r in missing["runs"]:
    assert r["class"] == "infra", r
    assert "exited with 127" in r["title"], r
assert bash["summary"]["ok"] == 0 and missing["summary"]["ok"] == 0
toks = [r["entropy_token"] for d in (bash, missing) for r in d["runs"]]
assert all(len(t) == 32 for t in toks), toks
assert len(set(toks)) == len(toks), toks
print("ok:", bash["runs"][0]["title"], "|", missing["runs"][0]["title"])
PY
