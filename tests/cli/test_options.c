/*
 * tests/cli/test_options.c - the option parser of the kbisect commands (cli/options.c):
 * both value forms, short options, repeatable lists, "--" and "-", last value wins, unique prefixes,
 * range checks, callbacks, usage errors with their messages and exit codes, and a
 * --help list made from the same table.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmd.h"
#include "options.h"

static const char *const usage[] = { "kbisect test [--json] <file>...", NULL };
static const struct kb_cmd_doc doc = { usage, "Intro line.", "Outro line." };

/* The targets of the test table (reset by setup()). */
static int json, verbose, quiet, jobs;
static unsigned int runs;
static double timeout;
static const char *cache, *out;
static const char *seen[8];
static int nseen;
static const char *tag_v[2];
static struct kb_opt_list tags = { tag_v, 0, 2 };

static const char *collect(const struct kb_option *opt, const char *arg)
{
	(void)opt;
	if (!strcmp(arg, "bad"))
		return "give anything but bad";
	seen[nseen++] = arg;
	return NULL;
}

static const struct kb_option table[] = {
	KB_OPT_BOOL(0, "json", &json, "print JSON"),
	KB_OPT_BOOL('v', "verbose", &verbose, "say more"),
	KB_OPT_BOOL('q', NULL, &quiet, "say less"),
	KB_OPT_INTEGER(0, "jobs", &jobs, 1, 64, "n", "parallel jobs"),
	KB_OPT_UNSIGNED(0, "runs", &runs, 1, 100, "n", "how many runs"),
	KB_OPT_NUMBER(0, "timeout", &timeout, 0, 86400, "s", "seconds in (0, 86400]"),
	KB_OPT_STR(0, "cache", &cache, "dir", "cache directory"),
	KB_OPT_STR('o', "output", &out, "file", "where the output goes; a long help text that "
		   "wraps onto a second line of the option list"),
	KB_OPT_CALL(0, "rev", NULL, "rev", "a revision (repeatable)", collect),
	KB_OPT_STRS('t', "tag", &tags, "tag", "a tag (up to two)"),
	{ .type = KB_OPT_STRING, .long_name = "cached", .value = &cache, .argh = "dir",
	  .flags = KB_OPTF_HIDDEN, .help = "an alias, not listed" },
	KB_OPT_TABLE_END,
};

static int setup(void **state)
{
	(void)state;
	json = verbose = quiet = jobs = 0;
	runs = 0;
	timeout = 0;
	cache = out = NULL;
	nseen = 0;
	tags.n = 0;
	return 0;
}

/* Run the parser on a NULL-terminated list; stderr (usage errors) into err. */
static int parse_v(char *err, size_t errlen, char **argv, unsigned int flags)
{
	int argc = 0, saved = dup(2), rc;
	FILE *f = tmpfile();

	while (argv[argc])
		argc++;
	fflush(stderr);
	dup2(fileno(f), 2);
	rc = kb_options_parse(argc, argv, table, &doc, flags);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	errlen = fread(err, 1, errlen - 1, f);
	err[errlen] = '\0';
	fclose(f);
	return rc;
}

#define PARSE(err, flags, ...) parse_v(err, sizeof(err), (char *[]){ "test", __VA_ARGS__, NULL }, flags)

static void test_cli_options__both_value_forms_flags_and_arguments(void **state)
{
	char err[1024];
	char *argv[] = { "test", "a", "--cache=/c1", "--json", "b", "--jobs", "4",
			 "--timeout=2.5", "-", "--output", "-x", NULL };
	(void)state;
	assert_int_equal(parse_v(err, sizeof(err), argv, 0), 3);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "b");
	assert_string_equal(argv[2], "-"); /* "-" (stdin) is an argument */
	assert_null(argv[3]);
	assert_string_equal(cache, "/c1");
	assert_int_equal(json, 1);
	assert_int_equal(jobs, 4);
	assert_true(timeout == 2.5);
	assert_string_equal(out, "-x"); /* a value may start with '-' */
	assert_string_equal(err, "");
}

static void test_cli_options__short_options_bundles_and_attached_values(void **state)
{
	char err[1024];
	(void)state;
	assert_int_equal(PARSE(err, 0, "-vq", "-ofile1"), 0);
	assert_int_equal(verbose, 1);
	assert_int_equal(quiet, 1);
	assert_string_equal(out, "file1");
	assert_int_equal(PARSE(err, 0, "-o", "file2", "-v"), 0);
	assert_string_equal(out, "file2");
	assert_int_equal(PARSE(err, 0, "-vo", "file3"), 0);
	assert_string_equal(out, "file3");
}

static void test_cli_options__double_dash_ends_options_and_last_value_wins(void **state)
{
	char err[1024];
	char *argv[] = { "test", "--cache", "one", "--cache=two", "--", "--json", "-v", NULL };
	(void)state;
	assert_int_equal(parse_v(err, sizeof(err), argv, 0), 2);
	assert_string_equal(cache, "two");
	assert_string_equal(argv[0], "--json");
	assert_string_equal(argv[1], "-v");
	assert_int_equal(json, 0);
	assert_int_equal(verbose, 0);
}

static void test_cli_options__unique_prefix_and_hidden_alias(void **state)
{
	char err[1024];
	(void)state;
	assert_int_equal(PARSE(err, 0, "--verb", "--js"), 0);
	assert_int_equal(verbose, 1);
	assert_int_equal(json, 1);
	/* --cache is exact although --cached starts with it; --cach is ambiguous */
	assert_int_equal(PARSE(err, 0, "--cache", "x"), 0);
	assert_string_equal(cache, "x");
	assert_int_equal(PARSE(err, 0, "--cached=y"), 0);
	assert_string_equal(cache, "y");
	assert_int_equal(PARSE(err, 0, "--cach=z"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "ambiguous option '--cach=z'"));
}

static void test_cli_options__usage_errors_name_the_option(void **state)
{
	char err[1024];
	(void)state;
	assert_int_equal(PARSE(err, 0, "--bogus"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "kbisect: unknown option '--bogus'"));
	assert_non_null(strstr(err, "usage: kbisect test"));
	assert_int_equal(PARSE(err, 0, "-x"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "unknown option '-x'"));
	assert_int_equal(PARSE(err, 0, "--cache"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "option '--cache' needs a value"));
	assert_int_equal(PARSE(err, 0, "-o"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "option '-o' needs a value"));
	assert_int_equal(PARSE(err, 0, "--json=yes"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "option '--json' takes no value"));
	assert_int_equal(kb_options_exit(KB_OPTIONS_USAGE), KB_EXIT_USAGE);
	assert_int_equal(kb_options_exit(KB_OPTIONS_HELP), KB_EXIT_OK);
}

static void test_cli_options__numbers_are_checked_against_their_range(void **state)
{
	char err[1024];
	(void)state;
	assert_int_equal(PARSE(err, 0, "--jobs=64", "--runs", "1"), 0);
	assert_int_equal(jobs, 64);
	assert_int_equal(runs, 1);
	assert_int_equal(PARSE(err, 0, "--jobs=65"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "bad --jobs '65'; give a whole number in 1..64"));
	assert_int_equal(PARSE(err, 0, "--runs", "-3"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "bad --runs '-3'"));
	assert_int_equal(PARSE(err, 0, "--runs", "4x"), KB_OPTIONS_USAGE);
	assert_int_equal(PARSE(err, 0, "--runs="), KB_OPTIONS_USAGE);
	assert_int_equal(PARSE(err, 0, "--timeout", "0"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "bad --timeout '0'; give a number in (0, 86400]"));
	assert_int_equal(PARSE(err, 0, "--timeout", "nan"), KB_OPTIONS_USAGE);
	assert_int_equal(PARSE(err, 0, "--timeout", "86400"), 0);
	assert_true(timeout == 86400);
}

static void test_cli_options__callback_repeats_and_refuses_with_a_hint(void **state)
{
	char err[1024];
	(void)state;
	assert_int_equal(PARSE(err, 0, "--rev", "v1", "--rev=v2"), 0);
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[0], "v1");
	assert_string_equal(seen[1], "v2");
	assert_int_equal(PARSE(err, 0, "--rev", "bad"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "bad --rev 'bad'; give anything but bad"));
}

static void test_cli_options__list_collects_up_to_its_room(void **state)
{
	char err[1024];
	(void)state;
	assert_int_equal(PARSE(err, 0, "--tag", "a", "-tb"), 0);
	assert_int_equal(tags.n, 2);
	assert_string_equal(tag_v[0], "a");
	assert_string_equal(tag_v[1], "b");
	tags.n = 0;
	assert_int_equal(PARSE(err, 0, "--tag=a", "--tag=b", "--tag=c"), KB_OPTIONS_USAGE);
	assert_non_null(strstr(err, "bad --tag 'c'; at most 2 of them"));
}

static void test_cli_options__stop_at_first_argument(void **state)
{
	char err[1024];
	char *argv[] = { "test", "--json", "sub", "--verbose", NULL };
	(void)state;
	assert_int_equal(parse_v(err, sizeof(err), argv, KB_OPTIONS_STOP_AT_ARG), 2);
	assert_int_equal(json, 1);
	assert_int_equal(verbose, 0);
	assert_string_equal(argv[0], "sub");
	assert_string_equal(argv[1], "--verbose");
}

static void test_cli_options__help_lists_every_option_from_the_table(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	(void)state;
	kb_options_help(f, table, &doc);
	fclose(f);
	assert_non_null(strstr(buf, "usage: kbisect test [--json] <file>...\n\nIntro line.\n"));
	for (const struct kb_option *o = table; o->type != KB_OPT_END; o++) {
		char line[128];
		if (o->flags & KB_OPTF_HIDDEN) {
			assert_null(strstr(buf, o->help));
			continue;
		}
		snprintf(line, sizeof(line), "%s%s", o->long_name ? "--" : "-",
			 o->long_name ? o->long_name : (char[]){ (char)o->short_name, 0 });
		assert_non_null(strstr(buf, line));
	}
	assert_non_null(strstr(buf, "    -o, --output <file>       where the output goes; a"));
	assert_non_null(strstr(buf, "\n                              wraps onto"));
	assert_non_null(strstr(buf, "    --jobs <n>                parallel jobs\n"));
	assert_non_null(strstr(buf, "    -q                        say less\n"));
	assert_non_null(strstr(buf, "\nOutro line.\n"));
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) /* nothing past 79 columns */
		assert_true(strcspn(l, "\n") <= 79);
	free(buf);
}

static void test_cli_options__help_option_prints_help_and_stops(void **state)
{
	char err[1024];
	int saved = dup(1);
	FILE *f = tmpfile();
	char buf[4096];
	size_t n;
	int rc;
	(void)state;
	fflush(stdout);
	dup2(fileno(f), 1);
	rc = PARSE(err, 0, "--json", "--help", "--bogus");
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_int_equal(rc, KB_OPTIONS_HELP);
	assert_non_null(strstr(buf, "--timeout <s>"));
	assert_string_equal(err, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_cli_options__both_value_forms_flags_and_arguments, setup),
		cmocka_unit_test_setup(test_cli_options__short_options_bundles_and_attached_values, setup),
		cmocka_unit_test_setup(test_cli_options__double_dash_ends_options_and_last_value_wins, setup),
		cmocka_unit_test_setup(test_cli_options__unique_prefix_and_hidden_alias, setup),
		cmocka_unit_test_setup(test_cli_options__usage_errors_name_the_option, setup),
		cmocka_unit_test_setup(test_cli_options__numbers_are_checked_against_their_range, setup),
		cmocka_unit_test_setup(test_cli_options__callback_repeats_and_refuses_with_a_hint, setup),
		cmocka_unit_test_setup(test_cli_options__list_collects_up_to_its_room, setup),
		cmocka_unit_test_setup(test_cli_options__stop_at_first_argument, setup),
		cmocka_unit_test_setup(test_cli_options__help_lists_every_option_from_the_table, setup),
		cmocka_unit_test_setup(test_cli_options__help_option_prints_help_and_stops, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
