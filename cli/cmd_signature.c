/*
 * cli/cmd_signature.c - `kbisect signature`: print the kernel signature of vmlinux
 * files, comparable with the "kernel signature:" lines of syzbot bisection logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "cmd.h"
#include "options.h"

static const char *const signature_usage[] = {
	"kbisect signature [--json] [--legacy] <vmlinux>...",
	NULL,
};

static const struct kb_cmd_doc signature_doc = {
	signature_usage,
	"Print the kernel signature of each unstripped vmlinux ELF file: the SHA-256\n"
	"of the SHA-256 digests of its allocated, non-note sections, computed as\n"
	"syzkaller does (since 2022-06-23), so it can be compared with the 'kernel\n"
	"signature:' lines of syzbot bisection logs.\n"
	"With one file, prints the 64-hex signature; with several, '<signature>  <file>'.",
	NULL,
};

int cmd_signature(int argc, char **argv)
{
	int json = 0, nfiles, rc = KB_EXIT_OK, i;
	int legacy = 0;
	kb_sig_algo algo;
	const struct kb_option options[] = {
		KB_OPT_BOOL(0, "json", &json, "print one JSON object per file: {\"file\", "
			    "\"signature\", \"algorithm\": \"syzkaller\" or \"legacy\"}"),
		KB_OPT_BOOL(0, "legacy", &legacy, "syzkaller's algorithm before 2022-06-23 (one "
			    "SHA-256 over the sections' bytes), for logs older than that"),
		KB_OPT_TABLE_END,
	};

	if ((nfiles = kb_options_parse(argc, argv, options, &signature_doc, 0)) < 0)
		return kb_options_exit(nfiles);
	algo = legacy ? KB_SIG_LEGACY : KB_SIG_SYZKALLER;
	if (nfiles == 0)
		return kb_cli_usage_error(signature_usage, "no vmlinux file given");

	for (i = 0; i < nfiles; i++) {
		char hex[KB_KEY_HEXLEN + 1];
		kb_key sig;

		if (kb_signature_file_algo(&sig, argv[i], algo) != KB_OK) {
			rc = kb_cli_die_error();
			continue;
		}
		kb_key_to_hex(hex, &sig);
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s}", "file", argv[i], "signature", hex,
					      "algorithm",
					      algo == KB_SIG_LEGACY ? "legacy" : "syzkaller");
			char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
			if (!s) {
				json_decref(o);
				rc = kb_cli_error("cannot encode JSON for '%s'", argv[i]);
				continue;
			}
			printf("%s\n", s);
			free(s);
			json_decref(o);
		} else if (nfiles == 1) {
			printf("%s\n", hex);
		} else {
			printf("%s  %s\n", hex, argv[i]);
		}
	}
	if (fflush(stdout) != 0)
		return kb_cli_error("cannot write to stdout");
	return rc;
}
