/*
 * cli/cmd_report.c - `kbisect report`: classify a saved console log the way the VM
 * pool does (crash title, infra error, boot failure or ok), and normalise titles, so a
 * console.log or a syzbot title can be checked by hand or from scripts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/report.h"
#include "cmd.h"
#include "options.h"

static const char *const report_usage[] = {
	"kbisect report [--json] [--text] [--end=<how>] <console-file | ->",
	"kbisect report --title <title>...",
	NULL,
};

static const char *const end_names[] = { "exited", "timeout", "stopped", "no_boot",
					 "qemu_died", "no_output", "lost_conn", NULL };

static const struct kb_cmd_doc report_doc = {
	report_usage,
	"Find the first kernel crash report in a console log and print its\n"
	"syzkaller-style title and the class of the run: crash, infra, boot_failure\n"
	"or ok (see docs/crash-titles.md). Prints '<class>\\t<title>'.",
	NULL,
};

/* --end=<how>: the index of how in end_names into the int at opt->value. */
static const char *set_end(const struct kb_option *opt, const char *arg)
{
	for (int k = 0; end_names[k]; k++)
		if (!strcmp(end_names[k], arg)) {
			*(int *)opt->value = k;
			return NULL;
		}
	return "unknown run end; give exited, timeout, stopped, no_boot, qemu_died, "
	       "no_output or lost_conn";
}

/* Stream the console log through a parser: memory stays bounded whatever its size. */
static int parse_file(const char *path, const kb_report_ctx *ctx, kb_report *r)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	kb_report_parser *p = NULL;
	char buf[1 << 16];
	size_t k;
	int rc;

	if (!f)
		return kb_cli_error("cannot open console log '%s': %s", path, strerror(errno));
	if ((rc = kb_report_parser_new(&p)) != 0) {
		if (f != stdin)
			fclose(f);
		return kb_cli_die_error();
	}
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		kb_report_parser_feed(p, buf, k);
	if (ferror(f)) {
		kb_report_parser_free(p);
		if (f != stdin)
			fclose(f);
		return kb_cli_error("cannot read console log '%s': %s; check the file", path,
				    strerror(errno));
	}
	if (f != stdin)
		fclose(f);
	rc = kb_report_parser_finish(r, p, ctx);
	kb_report_parser_free(p);
	return rc != 0 ? kb_cli_die_error() : KB_EXIT_OK;
}

static int report_titles(int argc, char **argv, int first)
{
	for (int i = first; i < argc; i++) {
		char out[KB_REPORT_TITLE_MAX];
		if (kb_report_normalize_title(out, sizeof(out), argv[i]) != 0)
			return kb_cli_die_error();
		printf("%s\n", out);
	}
	return fflush(stdout) ? kb_cli_error("cannot write to stdout") : KB_EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
	int json = 0, text = 0, titles = 0, end = 0, n, rc;
	const char *file = NULL;
	kb_report_ctx ctx = { 0 };
	kb_report r;
	const struct kb_option options[] = {
		KB_OPT_BOOL(0, "json", &json, "print {\"class\", \"title\", \"alt\", "
			    "\"corrupted\", \"start\", \"end\"} (alt: syzkaller's ALT titles "
			    "of the crash)"),
		KB_OPT_BOOL(0, "text", &text, "also print the report text"),
		KB_OPT_CALL(0, "end", &end, "how", "how the run ended: exited (default), timeout, "
			    "stopped, no_boot, qemu_died, no_output, lost_conn", set_end),
		{ .type = KB_OPT_FLAG, .long_name = "title", .value = &titles, .defval = 1,
		  .flags = KB_OPTF_LAST,
		  .help = "normalise the given titles instead (one per line); the arguments "
			  "after it are all titles" },
		KB_OPT_TABLE_END,
	};

	if ((n = kb_options_parse(argc, argv, options, &report_doc, 0)) < 0)
		return kb_options_exit(n);
	if (titles) {
		if (n == 0)
			return kb_cli_usage_error(report_usage, "--title needs a title");
		return report_titles(n, argv, 0);
	}
	ctx.end = end;
	if (n > 1)
		return kb_cli_usage_error(report_usage, "more than one console log given");
	if (n == 0)
		return kb_cli_usage_error(report_usage, "no console log given");
	file = argv[0];
	if ((rc = parse_file(file, &ctx, &r)) != KB_EXIT_OK)
		return rc;
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I}", "class",
				      kb_run_class_name(r.klass), "title", r.title, "corrupted",
				      r.corrupted, "start", (json_int_t)r.start, "end",
				      (json_int_t)r.end);
		json_t *alt = json_array();
		char *s;
		for (int k = 0; alt && k < r.nalt; k++)
			json_array_append_new(alt, json_string(r.alt[k]));
		if (o && alt)
			json_object_set_new(o, "alt", alt);
		else
			json_decref(alt);
		if (o && text)
			json_object_set_new(o, "report", json_string(r.report ? r.report : ""));
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!s) {
			kb_report_free(&r);
			return kb_cli_error("cannot encode the report of '%s' as JSON", file);
		}
		printf("%s\n", s);
		free(s);
	} else {
		printf("%s\t%s\n", kb_run_class_name(r.klass), r.title);
		if (text && r.report)
			printf("%s", r.report);
	}
	kb_report_free(&r);
	return fflush(stdout) ? kb_cli_error("cannot write to stdout") : KB_EXIT_OK;
}
