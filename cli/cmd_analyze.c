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
#include "options.h"

static const char *const analyze_usage[] = {
	"kbisect analyze [--json] [--html <file> [--commit-url <pattern>]] [--title <crash title>]\n"
	"                       [--workers <k>] [--other-crashes-bad] <log>",
	NULL,
};

static const struct kb_cmd_doc analyze_doc = {
	analyze_usage,
	"Read a syzkaller bisection log (syzbot's 'bisect log'; '-' reads stdin),\n"
	"re-evaluate its evidence with kbisect's Bayesian model and report: where the\n"
	"original crash was seen again, each verdict with the runs it rested on and\n"
	"whether kbisect agrees, commits with identical kernel signatures, the\n"
	"probability that the reported culprit is right, the range the evidence\n"
	"supports, and what the bisection would have cost with kbisect.",
	"Exit status: 0 when the audit was made (whatever it found), 1 when the log\n"
	"cannot be read or is not a bisection log, 129 on a usage error.\n"
	"See docs/kbisect-analyze.md.",
};

int cmd_analyze(int argc, char **argv)
{
	kb_analyze_opts opts = { 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	const char *path = NULL, *html = NULL;
	int json = 0, rc = KB_EXIT_OK, n;
	const struct kb_option options[] = {
		KB_OPT_BOOL(0, "json", &json, "print the audit as one JSON document"),
		KB_OPT_STR(0, "html", &html, "file", "also write a self-contained HTML report to <file>"),
		KB_OPT_STR(0, "commit-url", &opts.commit_url, "pattern",
			   "--html: link commits to pattern with %s for the commit id (e.g. "
			   "https://git.kernel.org/torvalds/c/%s; default: commit-url in the "
			   "config file)"),
		KB_OPT_STR(0, "title", &opts.title, "title", "the target crash title (default: the "
			   "crash titles seen on the original commit)"),
		KB_OPT_UNSIGNED(0, "workers", &opts.workers, 1, 1024, "k",
				"parallel test workers for the cost estimate (default 4)"),
		KB_OPT_BOOL(0, "other-crashes-bad", &opts.other_crash_bad,
			    "count crashes with other kernel titles as the target crash "
			    "(default: they carry no information)"),
		KB_OPT_TABLE_END,
	};

	if ((n = kb_options_parse(argc, argv, options, &analyze_doc, 0)) < 0)
		return kb_options_exit(n);
	if (n > 1)
		return kb_cli_usage_error(analyze_usage, "one log at a time ('%.128s' and "
					  "'%.128s')", argv[0], argv[1]);
	path = n ? argv[0] : NULL;
	if (!path)
		return kb_cli_usage_error(analyze_usage, "no bisection log given");
	if (html && (rc = kb_cli_commit_url(&opts.commit_url, opts.commit_url)) != KB_EXIT_OK)
		return rc;

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
