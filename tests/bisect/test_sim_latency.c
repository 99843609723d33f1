/*
 * tests/bisect/test_sim_latency.c - the simulator's per-job latency (kb_sim_opts
 * .job_latency, a batch scheduler's submission-to-start time): every build and every
 * test pays it once, choices do not change, a negative one is refused.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <cmocka.h>

#include "kbisect/simulate.h"
#include "kb_test.h"

/* syzkaller's rule at k = 1 runs one build and one test after another: the wall time
 * grows by exactly latency x (builds + tests), the work stays the same */
static void test_bisect_sim__latency_per_job(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 5; seed++) {
		kb_sim_outcome r0, r1;
		kb_sim *s0 = NULL, *s1 = NULL;
		kb_sim_opts o = { .n = 500, .q = 0.5, .seed = seed };
		assert_int_equal(kb_sim_new(&s0, &o), 0);
		o.job_latency = 2.5;
		assert_int_equal(kb_sim_new(&s1, &o), 0);
		assert_int_equal(kb_sim_run(s0, KB_SIM_SYZKALLER, 1, NULL, &r0), 0);
		assert_int_equal(kb_sim_run(s1, KB_SIM_SYZKALLER, 1, NULL, &r1), 0);
		assert_int_equal(r0.builds, r1.builds);
		assert_int_equal(r0.tests, r1.tests);
		assert_int_equal(r0.culprit, r1.culprit);
		assert_true(r1.tests > 0);
		assert_true(fabs(r1.seconds - r0.seconds - 2.5 * (r1.builds + r1.tests)) < 1e-6);
		kb_sim_free(s0);
		kb_sim_free(s1);
	}
}

/* the engine with parallel workers: slower with latency, never faster */
static void test_bisect_sim__latency_engine_slower(void **state)
{
	kb_sim_outcome r0, r1;
	kb_sim *s0 = NULL, *s1 = NULL;
	kb_sim_opts o = { .n = 2000, .q = 0.5, .seed = 7 };
	(void)state;
	assert_int_equal(kb_sim_new(&s0, &o), 0);
	o.job_latency = 30;
	assert_int_equal(kb_sim_new(&s1, &o), 0);
	assert_int_equal(kb_sim_run(s0, KB_SIM_ENGINE, 4, NULL, &r0), 0);
	assert_int_equal(kb_sim_run(s1, KB_SIM_ENGINE, 4, NULL, &r1), 0);
	assert_true(r1.seconds >= r0.seconds + 30 * r1.rounds - 1e-6);
	kb_sim_free(s0);
	kb_sim_free(s1);
}

static void test_bisect_sim__latency_negative_refused(void **state)
{
	kb_sim *s = NULL;
	kb_sim_opts o = { .n = 100, .job_latency = -1 };
	(void)state;
	assert_int_not_equal(kb_sim_new(&s, &o), 0);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_sim__latency_per_job),
		cmocka_unit_test(test_bisect_sim__latency_engine_slower),
		cmocka_unit_test(test_bisect_sim__latency_negative_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
