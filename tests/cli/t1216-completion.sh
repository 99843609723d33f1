#!/usr/bin/env bash
# t1216-completion.sh - the bash completion (dist/bash-completion/kbisect) completes
# commands, subcommands and flags from the binary's own --help: "ca" -> cache,
# "cache se" -> serve, "cache serve --max-u" -> --max-uploads, "bisect --go" -> --good,
# a file name after a flag; nothing for an unknown prefix.
# kb-test-labels: cli
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=../../dist/bash-completion/kbisect
. "$src/dist/bash-completion/kbisect"
# (grep reads all of it, not -q: under pipefail an early exit would kill printf by SIGPIPE)
complete_words() { # WORD...: complete the last word; prints COMPREPLY one per line
	COMP_WORDS=("$KBISECT" "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	_kbisect
	printf '%s\n' "${COMPREPLY[@]}"
}
[ "$(complete_words ca)" = cache ] || fail "'ca' -> '$(complete_words ca)', want cache"
complete_words "" | grep -x bisect >/dev/null || fail "no 'bisect' among the commands"
complete_words "" | grep -x -- --version >/dev/null || fail "no --version among the first words"
[ "$(complete_words cache se)" = serve ] || fail "'cache se' -> '$(complete_words cache se)'"
[ "$(complete_words cache serve --max-u)" = --max-uploads ] ||
	fail "'cache serve --max-u' -> '$(complete_words cache serve --max-u)'"
complete_words cache serve --co | grep -x -- --config >/dev/null || fail "no --config for cache serve"
complete_words cache put --ki | grep -x -- --kind >/dev/null || fail "no --kind for cache put"
complete_words bisect --go | grep -x -- --good >/dev/null || fail "no --good for bisect"
[ -z "$(complete_words zzz)" ] || fail "'zzz' completed to something"
touch "$tmp/some-file"
cd "$tmp"
[ "$(complete_words cache put some-)" = some-file ] || fail "no file name completion"
echo "ok: completion"
