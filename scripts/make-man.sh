#!/usr/bin/env bash
# scripts/make-man.sh KBISECT OUTDIR VERSION - write man pages (section 1) generated from
# the binary's own --help, so they say what the binary says: kbisect.1, one
# kbisect-<command>.1 per command of `kbisect --help` and kbisect-cache-serve.1. The help
# text goes verbatim (.nf) under DESCRIPTION; roff's special characters are escaped.
# Run by the build (target kb_man); installed to share/man/man1.
set -euo pipefail
kb=$1 out=$2 version=$3
mkdir -p "$out"

# page NAME TITLE SUMMARY HELP-ARGS...: write $out/NAME.1 from `kbisect HELP-ARGS --help`
page() {
	local name=$1 title=$2 summary=$3
	shift 3
	local help
	help=$(ASAN_OPTIONS=detect_leaks=0 "$kb" "$@" --help 2>/dev/null) || true
	[ -n "$help" ] || { echo "make-man.sh: '$kb $* --help' printed nothing" >&2; exit 1; }
	{
		printf '.TH %s 1 "" "kbisect %s" "kbisect manual"\n' "${title^^}" "$version"
		printf '.SH NAME\n%s \\- %s\n' "$title" "$summary"
		printf '.SH DESCRIPTION\n.nf\n'
		# backslash first; a leading . or ' would be a roff request
		sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" <<<"$help"
		printf '.fi\n.SH SEE ALSO\n'
		printf '.BR kbisect (1),\nthe documentation in /usr/share/doc/kbisect (docs/*.md).\n'
	} >"$out/$name.1.tmp"
	mv "$out/$name.1.tmp" "$out/$name.1"
}

page kbisect kbisect "fast and right Linux kernel crash bisection"
ASAN_OPTIONS=detect_leaks=0 "$kb" --help | sed -n 's/^   \([a-z][a-z-]*\)  *\(.*\)/\1 \2/p' | while read -r cmd desc; do
	page "kbisect-$cmd" "kbisect-$cmd" "$desc" "$cmd"
done
page kbisect-cache-serve kbisect-cache-serve "serve the cache over HTTP to build servers" cache serve
