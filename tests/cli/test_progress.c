/*
 * tests/cli/test_progress.c - the progress line of `kbisect bisect`
 * (cli/bisect_progress.c), learned from the bisection log: "runs done" moves when each
 * test's runs end ("test of R done", with the count its "started: N runs" line gave),
 * not only when the engine logs the round's "run #" lines, and those lines do not count
 * the same runs twice; the round summary sets the round, top commit and ETA.
 * The log lines are those bisect/oracle_test.c and bisect/engine*.c write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bisect_progress.h"

static unsigned runs_done(struct kb_progress *p)
{
	char line[512];
	const char *r;
	unsigned n;

	kb_progress_line(p, line, sizeof(line));
	r = strstr(line, " runs done");
	assert_non_null(r);
	while (r > line && r[-1] != ' ')
		r--;
	assert_int_equal(sscanf(r, "%u", &n), 1);
	return n;
}

static void test_progress__runs_move_per_finished_test(void **state)
{
	char *buf = NULL, line[512];
	size_t len = 0;
	FILE *log = open_memstream(&buf, &len);
	struct kb_progress *p = kb_progress_start(log, 0);
	const char *a = "1111111111111111111111111111111111111111";
	const char *b = "2222222222222222222222222222222222222222";
	char l[256];
	(void)state;

	assert_non_null(p);
	assert_int_equal(runs_done(p), 0);
	kb_progress_log(p, "calibrating: 8 runs on bad commit 1111111111111111111111111111111111111111");
	snprintf(l, sizeof(l), "test of %s started: 8 runs in the pool", a);
	kb_progress_log(p, l);
	snprintf(l, sizeof(l), "test of %s started: 5 runs in the pool", b);
	kb_progress_log(p, l);
	assert_int_equal(runs_done(p), 0);
	snprintf(l, sizeof(l), "test of %s done in 40s", b);
	kb_progress_log(p, l);
	assert_int_equal(runs_done(p), 5); /* b's batch ended: its runs show at once */
	snprintf(l, sizeof(l), "test of %s done in 61s", a);
	kb_progress_log(p, l);
	assert_int_equal(runs_done(p), 13);
	/* the engine's account of the round: a's 8 runs plus 2 of b's taken from the cache
	 * (the pool ran 5 of b's 7): counted once, never more than they are */
	snprintf(l, sizeof(l), "testing commit %s", a);
	kb_progress_log(p, l);
	for (int i = 0; i < 8; i++) {
		snprintf(l, sizeof(l), "run #%d: crashed: general protection fault", i);
		kb_progress_log(p, l);
		assert_int_equal(runs_done(p), 13);
	}
	snprintf(l, sizeof(l), "testing commit %s", b);
	kb_progress_log(p, l);
	for (int i = 0; i < 7; i++) {
		snprintf(l, sizeof(l), "run #%d: OK", i);
		kb_progress_log(p, l);
		assert_int_equal(runs_done(p), 13 + (i >= 5 ? (unsigned)i - 4 : 0));
	}
	assert_int_equal(runs_done(p), 15);
	kb_progress_log(p, "round 1: 40 candidates left, top 3333333333333333333333333333333333333333 "
			   "0.412, elapsed 2m01s, ~9m left");
	assert_int_equal(runs_done(p), 15);
	kb_progress_line(p, line, sizeof(line));
	assert_non_null(strstr(line, "round 2: choosing"));
	assert_non_null(strstr(line, "top 333333333333 0.412"));
	assert_non_null(strstr(line, "ETA ~9m"));
	/* a test that ended without its "done" line (an error) adds nothing */
	snprintf(l, sizeof(l), "test of %s started: 4 runs in the pool", a);
	kb_progress_log(p, l);
	assert_int_equal(runs_done(p), 15);
	kb_progress_stop(p);
	fclose(log);
	assert_non_null(strstr(buf, "test of 2222222222222222222222222222222222222222 done in 40s\n"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress__runs_move_per_finished_test),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
