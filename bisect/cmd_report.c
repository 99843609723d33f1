/*
 * bisect/cmd_report.c - `kbisect report`: classify a saved console log the way the VM
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

static const char *const report_usage[] = {
	"kbisect report [--json] [--text] [--end=<how>] <console-file | ->",
	"kbisect report --title <title>...",
	NULL,
};

static const char *const end_names[] = { "exited", "timeout", "stopped", "no_boot",
					 "qemu_died", "no_output", "lost_conn", NULL };

static void report_help(void)
{
	kb_cli_usage(stdout, report_usage);
	printf("\nFind the first kernel crash report in a console log and print its\n"
	       "syzkaller-style title and the class of the run: crash, infra, boot_failure\n"
	       "or ok (see docs/crash-titles.md). Prints '<class>\\t<title>'.\n"
	       "\n"
	       "    --json         print {\"class\", \"title\", \"corrupted\", \"start\", \"end\"}\n"
	       "    --text         also print the report text\n"
	       "    --end=<how>    how the run ended: exited (default), timeout, stopped,\n"
	       "                   no_boot, qemu_died, no_output, lost_conn\n"
	       "    --title        normalise the given titles instead (one per line)\n");
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (!f) {
		kb_cli_error("cannot open console log '%s': %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
		if (n == cap) {
			char *b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		kb_cli_error("cannot read console log '%s'; check the file and free memory", path);
	*len = n;
	return buf;
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
	int json = 0, text = 0, i, rc;
	const char *file = NULL;
	kb_report_ctx ctx = { 0 };
	kb_report r;
	char *con;
	size_t len;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			report_help();
			return KB_EXIT_OK;
		} else if (!strcmp(argv[i], "--title")) {
			if (i + 1 >= argc)
				return kb_cli_usage_error(report_usage, "--title needs a title");
			return report_titles(argc, argv, i + 1);
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--text")) {
			text = 1;
		} else if (!strncmp(argv[i], "--end=", 6)) {
			int k;
			for (k = 0; end_names[k] && strcmp(end_names[k], argv[i] + 6); k++)
				;
			if (!end_names[k])
				return kb_cli_usage_error(report_usage,
							  "unknown run end '%.64s'; see "
							  "'kbisect report --help'",
							  argv[i] + 6);
			ctx.end = k;
		} else if (argv[i][0] == '-' && strcmp(argv[i], "-")) {
			return kb_cli_usage_error(report_usage, "unknown option '%.128s'",
						  argv[i]);
		} else if (file) {
			return kb_cli_usage_error(report_usage, "more than one console log given");
		} else {
			file = argv[i];
		}
	}
	if (!file)
		return kb_cli_usage_error(report_usage, "no console log given");
	if (!(con = read_all(file, &len)))
		return KB_EXIT_ERROR;
	rc = kb_report_parse(&r, con, len, &ctx);
	free(con);
	if (rc != 0)
		return kb_cli_die_error();
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I}", "class",
				      kb_run_class_name(r.klass), "title", r.title, "corrupted",
				      r.corrupted, "start", (json_int_t)r.start, "end",
				      (json_int_t)r.end);
		char *s;
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
