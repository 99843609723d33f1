/*
 * cli/cmd_analyze.c - `kbisect analyze`: audit a syzbot bisection log with kbisect's
 * model (does the log support its culprit?).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"
#include "cmd.h"

static const char *const analyze_usage[] = {
	"kbisect analyze [--json] [--html <file>] [--title <crash title>] [--workers <k>]\n"
	"                       [--other-crashes-bad] <log>",
	NULL,
};

static void analyze_help(void)
{
	kb_cli_usage(stdout, analyze_usage);
	printf("\nRead a syzkaller bisection log (syzbot's 'bisect log'; '-' reads stdin),\n"
	       "re-evaluate its evidence with kbisect's Bayesian model and report: where the\n"
	       "original crash was seen again, each verdict with the runs it rested on and\n"
	       "whether kbisect agrees, commits with identical kernel signatures, the\n"
	       "probability that the reported culprit is right, the range the evidence\n"
	       "supports, and what the bisection would have cost with kbisect.\n"
	       "\n"
	       "    --json                print the audit as one JSON document\n"
	       "    --html <file>         also write a self-contained HTML report to <file>\n"
	       "    --title <title>       the target crash title (default: the crash titles\n"
	       "                          seen on the original commit)\n"
	       "    --workers <k>         parallel test workers for the cost estimate (default 4)\n"
	       "    --other-crashes-bad   count crashes with other kernel titles as the target\n"
	       "                          crash (default: they carry no information)\n"
	       "\n"
	       "Exit status: 0 when the audit was made (whatever it found), 1 when the log\n"
	       "cannot be read or is not a bisection log, 129 on a usage error.\n"
	       "See docs/kbisect-analyze.md.\n");
}

int cmd_analyze(int argc, char **argv)
{
	kb_analyze_opts opts = { 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	const char *path = NULL, *html = NULL;
	int json = 0, rc = KB_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			analyze_help();
			return KB_EXIT_OK;
		} else if (!strcmp(arg, "--json")) {
			json = 1;
		} else if (!strcmp(arg, "--other-crashes-bad")) {
			opts.other_crash_bad = 1;
		} else if (!strcmp(arg, "--html") || !strcmp(arg, "--title") ||
			   !strcmp(arg, "--workers")) {
			if (i + 1 >= argc)
				return kb_cli_usage_error(analyze_usage, "option '%s' needs a value",
							  arg);
			if (!strcmp(arg, "--html")) {
				html = argv[++i];
			} else if (!strcmp(arg, "--title")) {
				opts.title = argv[++i];
			} else {
				char *end;
				long k = strtol(argv[++i], &end, 10);
				if (*end || end == argv[i] || k < 1 || k > 1024)
					return kb_cli_usage_error(analyze_usage,
								  "--workers wants a number from 1 "
								  "to 1024, not '%.64s'",
								  argv[i]);
				opts.workers = (unsigned)k;
			}
		} else if (arg[0] == '-' && strcmp(arg, "-")) {
			return kb_cli_usage_error(analyze_usage, "unknown option '%.128s'", arg);
		} else if (path) {
			return kb_cli_usage_error(analyze_usage, "one log at a time ('%.128s' and "
						  "'%.128s')", path, arg);
		} else {
			path = arg;
		}
	}
	if (!path)
		return kb_cli_usage_error(analyze_usage, "no bisection log given");

	if (kb_analyze_log_load(&log, path) || kb_analyze_run(&a, log, &opts)) {
		rc = kb_cli_die_error();
		goto out;
	}
	if (json) {
		char *s = NULL;
		if (kb_analyze_json(&s, a)) {
			rc = kb_cli_die_error();
			goto out;
		}
		printf("%s\n", s);
		free(s);
	} else if (kb_analyze_write_text(stdout, a)) {
		rc = kb_cli_die_error();
		goto out;
	}
	if (html && kb_analyze_write_html(a, html))
		rc = kb_cli_die_error();
	if (fflush(stdout) != 0)
		rc = kb_cli_error("cannot write the analysis to stdout");
out:
	kb_analyze_free(a);
	kb_analyze_log_free(log);
	return rc;
}
