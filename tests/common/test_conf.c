/*
 * tests/common/test_conf.c - kbisect's `key = value` config files (common/conf.c):
 * trimming, comments, first value wins, lines without '=', a missing file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/conf.h"
#include "kbisect/error.h"

static char path[256];

static int setup(void **state)
{
	static const char text[] =
		"# kbisect\n"
		"\n"
		"  remote =  http://cache-host:8080/team \t\r\n"
		"remote-ca=\n"
		"remote = http://second:1\n"
		"no equals sign here\n"
		"\tremote-token-file\t= /etc/kbisect/token\n";
	FILE *f;
	(void)state;

	snprintf(path, sizeof(path), "/tmp/kb-test-conf-%d", (int)getpid());
	f = fopen(path, "w");
	if (!f || fwrite(text, 1, sizeof(text) - 1, f) != sizeof(text) - 1)
		return -1;
	return fclose(f);
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_common_conf__get_trims_and_first_value_wins(void **state)
{
	char *v;
	(void)state;

	v = kb_conf_get(path, "remote");
	assert_string_equal(v, "http://cache-host:8080/team");
	free(v);
	v = kb_conf_get(path, "remote-token-file");
	assert_string_equal(v, "/etc/kbisect/token");
	free(v);
	assert_null(kb_conf_get(path, "remote-ca")); /* empty: not set */
	assert_null(kb_conf_get(path, "remote-")); /* whole keys only */
	assert_null(kb_conf_get("/nonexistent/kbisect/config", "remote"));
}

struct seen {
	int settings, bad;
	unsigned int bad_line;
	char bad_text[64];
};

static int count_fn(const char *key, const char *value, unsigned int line, void *arg)
{
	struct seen *s = arg;

	if (!key) {
		s->bad++;
		s->bad_line = line;
		snprintf(s->bad_text, sizeof(s->bad_text), "%s", value);
		return 0;
	}
	s->settings++;
	return 0;
}

static int stop_fn(const char *key, const char *value, unsigned int line, void *arg)
{
	(void)key, (void)value, (void)arg;
	return line >= 3 ? 42 : 0;
}

static void test_common_conf__foreach_passes_bad_lines_and_stops(void **state)
{
	struct seen s;
	(void)state;

	memset(&s, 0, sizeof(s));
	assert_int_equal(kb_conf_foreach(path, count_fn, &s), 0);
	assert_int_equal(s.settings, 4);
	assert_int_equal(s.bad, 1);
	assert_int_equal(s.bad_line, 6);
	assert_string_equal(s.bad_text, "no equals sign here");
	assert_int_equal(kb_conf_foreach(path, stop_fn, NULL), 42);
	assert_true(kb_conf_foreach("/nonexistent/kbisect/config", count_fn, &s) < 0);
	assert_non_null(strstr(kb_error_last()->message,
			       "cannot read config file '/nonexistent/kbisect/config'"));
}

static void test_common_conf__user_path(void **state)
{
	char buf[512];
	(void)state;

	setenv("KBISECT_CONFIG", "/x/config", 1);
	assert_string_equal(kb_conf_user_path(buf, sizeof(buf)), "/x/config");
	unsetenv("KBISECT_CONFIG");
	setenv("HOME", "/home/u", 1);
	assert_string_equal(kb_conf_user_path(buf, sizeof(buf)), "/home/u/.config/kbisect/config");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common_conf__get_trims_and_first_value_wins),
		cmocka_unit_test(test_common_conf__foreach_passes_bad_lines_and_stops),
		cmocka_unit_test(test_common_conf__user_path),
	};
	return cmocka_run_group_tests_name("common/conf", tests, setup, teardown);
}
