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

static const char *const signature_usage[] = {
	"kbisect signature [--json] [--legacy] <vmlinux>...",
	NULL,
};

static void signature_help(void)
{
	kb_cli_usage(stdout, signature_usage);
	printf("\nPrint the kernel signature of each unstripped vmlinux ELF file: the SHA-256\n"
	       "of the SHA-256 digests of its allocated, non-note sections, computed as\n"
	       "syzkaller does (since 2022-06-23), so it can be compared with the 'kernel\n"
	       "signature:' lines of syzbot bisection logs.\n"
	       "With one file, prints the 64-hex signature; with several, '<signature>  <file>'.\n"
	       "\n"
	       "    --json    print one JSON object per file: {\"file\", \"signature\",\n"
	       "              \"algorithm\": \"syzkaller\" or \"legacy\"}\n"
	       "    --legacy  syzkaller's algorithm before 2022-06-23 (one SHA-256 over the\n"
	       "              sections' bytes), for logs older than that\n");
}

int cmd_signature(int argc, char **argv)
{
	int json = 0, nfiles = 0, rc = KB_EXIT_OK, i;
	kb_sig_algo algo = KB_SIG_SYZKALLER;
	int dashdash = 0;

	for (i = 1; i < argc; i++) {
		if (dashdash || argv[i][0] != '-' || !strcmp(argv[i], "-")) {
			nfiles++;
		} else if (!strcmp(argv[i], "--")) {
			dashdash = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			signature_help();
			return KB_EXIT_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--legacy")) {
			algo = KB_SIG_LEGACY;
		} else {
			return kb_cli_usage_error(signature_usage, "unknown option '%.128s'",
						  argv[i]);
		}
	}
	if (nfiles == 0)
		return kb_cli_usage_error(signature_usage, "no vmlinux file given");

	dashdash = 0;
	for (i = 1; i < argc; i++) {
		char hex[KB_KEY_HEXLEN + 1];
		kb_key sig;

		if (!dashdash && !strcmp(argv[i], "--")) {
			dashdash = 1;
			continue;
		}
		if (!dashdash && argv[i][0] == '-' && strcmp(argv[i], "-"))
			continue;
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
