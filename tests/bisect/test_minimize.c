/*
 * tests/bisect/test_minimize.c - config minimization's logic on a simulated predicate:
 * the subset search (one needed option, two needed together, none; flaky or not), the
 * Bayesian judge (hand-computed posteriors, monotonicity, its error rate on flaky
 * subsets), and configs as option sets (parse, diff, apply).
 * kb-test-labels: unit
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/minimize.h"

/* ---- a simulated kernel: the crash needs every option of need[]; each run crashes
 * with rate q; the judge decides as the real run does ---- */
struct sim {
	const size_t *need;
	size_t n_need;
	double q;
	uint64_t rng;
	kb_judge judge;
	unsigned runs;       /* runs spent */
	unsigned wrong;      /* clean verdicts on a subset that has the bug */
};

static double uniform(struct sim *s)
{
	s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
	return (double)(s->rng >> 11) / 9007199254740992.0;
}

static int has_bug(const struct sim *s, const size_t *set, size_t n)
{
	for (size_t i = 0; i < s->n_need; i++) {
		int in = 0;
		for (size_t k = 0; k < n && !in; k++)
			in = set[k] == s->need[i];
		if (!in)
			return 0;
	}
	return 1;
}

static int sim_test(void *ctx, const size_t *set, size_t n, int *crashes)
{
	struct sim *s = ctx;
	int bug = has_bug(s, set, n);
	unsigned crash = 0, clean = 0;

	for (size_t i = 1; i < n; i++)
		assert_true(set[i - 1] < set[i]); /* ascending, no repeats */
	for (;;) {
		int v = kb_judge_verdict(&s->judge, crash, clean);
		if (v != KB_JUDGE_MORE) {
			*crashes = v == KB_JUDGE_CRASHES;
			if (!*crashes && bug)
				s->wrong++;
			return 0;
		}
		s->runs++;
		if (bug && uniform(s) < s->q)
			crash++;
		else
			clean++;
	}
}

/* q learned as the real run does: 10 runs on BIG (at least one crash) */
static void learn(struct sim *s, double confidence)
{
	unsigned c = 0, k = 0;
	while (c == 0)
		for (c = 0, k = 0; k < 10; k++)
			c += uniform(s) < s->q;
	kb_judge_init(&s->judge, c, 10 - c, confidence);
}

static unsigned ceil_log2(size_t n)
{
	unsigned k = 0;
	while (((size_t)1 << k) < n)
		k++;
	return k;
}

static void test_minimize__one_needed_option_in_log2_tests(void **state)
{
	(void)state;
	for (size_t need = 0; need < 100; need += 7) {
		struct sim s = { .need = &need, .n_need = 1, .q = 1.0, .rng = 88172645463325252ull };
		kb_minimize_found f;
		learn(&s, 0.95);
		assert_int_equal(kb_minimize_search(&f, 100, sim_test, &s), 0);
		assert_int_equal(f.n_needed, 1);
		assert_int_equal(f.needed[0], need);
		assert_true(f.confirmed);
		/* SMALL, the binary search, SMALL + the one found */
		assert_true(f.tests <= 2 + ceil_log2(100));
		assert_true(f.tests >= 2 + ceil_log2(100) - 1);
		kb_minimize_found_free(&f);
	}
}

static void test_minimize__two_options_needed_together(void **state)
{
	const size_t pairs[][2] = { { 3, 90 }, { 40, 41 }, { 0, 99 }, { 17, 63 } };
	(void)state;
	for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		struct sim s = { .need = pairs[p], .n_need = 2, .q = 1.0, .rng = 1 + p };
		kb_minimize_found f;
		learn(&s, 0.95);
		assert_int_equal(kb_minimize_search(&f, 100, sim_test, &s), 0);
		assert_int_equal(f.n_needed, 2);
		assert_int_equal(f.needed[0], pairs[p][0]);
		assert_int_equal(f.needed[1], pairs[p][1]);
		assert_true(f.confirmed);
		assert_true(f.tests <= 3 + 2 * ceil_log2(100));
		kb_minimize_found_free(&f);
	}
}

static void test_minimize__small_alone_crashes(void **state)
{
	struct sim s = { .need = NULL, .n_need = 0, .q = 1.0, .rng = 7 };
	kb_minimize_found f;
	(void)state;
	learn(&s, 0.95);
	assert_int_equal(kb_minimize_search(&f, 50, sim_test, &s), 0);
	assert_int_equal(f.n_needed, 0);
	assert_int_equal(f.tests, 1);
	assert_true(f.confirmed);
	kb_minimize_found_free(&f);
}

/* a flaky crash (q = 0.3): the judge's clean verdicts are wrong with probability
 * < 1 - confidence (0.99) each, so the search finds the option nearly always */
static void test_minimize__flaky_predicate_finds_the_option(void **state)
{
	unsigned right = 0, tests = 0, wrong = 0, verdicts = 0, runs = 0;
	const unsigned seeds = 200;
	(void)state;
	for (unsigned seed = 1; seed <= seeds; seed++) {
		size_t need = (seed * 37) % 100;
		struct sim s = { .need = &need, .n_need = 1, .q = 0.3, .rng = 0x9e3779b97f4a7c15ull * seed };
		kb_minimize_found f;
		learn(&s, 0.99);
		assert_int_equal(kb_minimize_search(&f, 100, sim_test, &s), 0);
		right += f.n_needed == 1 && f.needed[0] == need;
		tests += f.tests;
		wrong += s.wrong;
		verdicts += f.tests;
		runs += s.runs;
		kb_minimize_found_free(&f);
	}
	print_message("flaky q = 0.3, 100 options: %u of %u searches right, %.1f tests and "
		      "%.1f runs per search, %u wrong clean verdicts of %u\n", right, seeds,
		      (double)tests / seeds, (double)runs / seeds, wrong, verdicts);
	/* ~4.5 verdicts per search on subsets with the bug, each wrong < 1% of the time:
	 * (nearly) every search right */
	assert_true(right >= seeds * 9 / 10);
	assert_true((double)wrong / verdicts < 0.01);
	/* a wrong verdict costs tests, but on average the search stays near log2 */
	assert_true((double)tests / seeds < 2 * (2 + ceil_log2(100)));
}

/* two options needed together, flaky (q = 0.4) */
static void test_minimize__flaky_two_options_needed_together(void **state)
{
	unsigned right = 0, tests = 0;
	const unsigned seeds = 100;
	(void)state;
	for (unsigned seed = 1; seed <= seeds; seed++) {
		size_t need[2] = { (seed * 13) % 50, 50 + (seed * 29) % 50 };
		struct sim s = { .need = need, .n_need = 2, .q = 0.4, .rng = 0x2545f4914f6cdd1dull * seed };
		kb_minimize_found f;
		learn(&s, 0.99);
		assert_int_equal(kb_minimize_search(&f, 100, sim_test, &s), 0);
		right += f.n_needed == 2 && f.needed[0] == need[0] && f.needed[1] == need[1];
		tests += f.tests;
		kb_minimize_found_free(&f);
	}
	print_message("flaky q = 0.4, two of 100 options needed together: %u of %u searches "
		      "right, %.1f tests per search\n", right, seeds, (double)tests / seeds);
	assert_true(right >= seeds * 85 / 100);
	assert_true((double)tests / seeds < 2 * (3 + 2 * ceil_log2(100)));
}

/* a wrong clean verdict on the needed set itself leaves it unconfirmed, not looping */
static int always_clean(void *ctx, const size_t *set, size_t n, int *crashes)
{
	(void)ctx, (void)set, (void)n;
	*crashes = 0;
	return 0;
}

static void test_minimize__inconsistent_answers_end(void **state)
{
	kb_minimize_found f;
	(void)state;
	assert_int_equal(kb_minimize_search(&f, 64, always_clean, NULL), 0);
	assert_false(f.confirmed);
	assert_true(f.tests <= 64 * 8);
	kb_minimize_found_free(&f);
}

static int fails(void *ctx, const size_t *set, size_t n, int *crashes)
{
	(void)ctx, (void)set, (void)n, (void)crashes;
	return KB_ETIMEOUT;
}

static void test_minimize__test_error_stops_the_search(void **state)
{
	kb_minimize_found f;
	(void)state;
	assert_int_equal(kb_minimize_search(&f, 10, fails, NULL), KB_ETIMEOUT);
	assert_null(f.needed);
}

/* ---- the judge ---- */

static void test_minimize__judge_hand_computed(void **state)
{
	kb_judge j;
	(void)state;
	kb_judge_init(&j, 1, 1, 0.95); /* q ~ Beta(2, 2) */
	assert_true(fabs(kb_judge_p_crashes(&j, 0) - 0.5) < 1e-12);
	/* E[1-q] = 2/4: P = 0.25 / 0.75 */
	assert_true(fabs(kb_judge_p_crashes(&j, 1) - 1.0 / 3) < 1e-12);
	/* E[(1-q)^2] = 2*3/(4*5) = 0.3: P = 0.15 / 0.65 */
	assert_true(fabs(kb_judge_p_crashes(&j, 2) - 0.15 / 0.65) < 1e-12);
	assert_int_equal(kb_judge_verdict(&j, 1, 0), KB_JUDGE_CRASHES);
	assert_int_equal(kb_judge_verdict(&j, 0, 1), KB_JUDGE_MORE);
	unsigned m = kb_judge_clean_needed(&j);
	assert_int_equal(kb_judge_verdict(&j, 0, m), KB_JUDGE_CLEAN);
	assert_int_equal(kb_judge_verdict(&j, 0, m - 1), KB_JUDGE_MORE);
}

static void test_minimize__judge_needs_more_runs_for_rarer_crashes(void **state)
{
	kb_judge often, rare, sure;
	(void)state;
	kb_judge_init(&often, 9, 1, 0.95);
	kb_judge_init(&rare, 2, 8, 0.95);
	kb_judge_init(&sure, 2, 8, 0.99);
	assert_true(kb_judge_clean_needed(&often) < kb_judge_clean_needed(&rare));
	assert_true(kb_judge_clean_needed(&rare) < kb_judge_clean_needed(&sure));
	assert_true(kb_judge_clean_needed(&often) >= 2);
	/* q known to be ~1: one clean run nearly settles it */
	kb_judge_init(&often, 200, 0, 0.95);
	assert_int_equal(kb_judge_clean_needed(&often), 1);
}

/* ---- configs ---- */

static const char SMALL[] = "#\n# comment\n#\nCONFIG_64BIT=y\n# CONFIG_A is not set\n"
			    "CONFIG_B=y\nCONFIG_S=\"x\"\n";
static const char BIG[] = "CONFIG_64BIT=y\n# CONFIG_A is not set\nCONFIG_A=y\nCONFIG_C=m\n"
			  "CONFIG_S=\"yy\"\n# CONFIG_D is not set\nCONFIG_N=12\n";

static void test_minimize__kconfig_diff_and_apply(void **state)
{
	kb_kconfig big, small, diff, got;
	char *text = NULL;
	size_t len = 0;
	(void)state;
	assert_int_equal(kb_kconfig_parse(&big, BIG, strlen(BIG)), 0);
	assert_int_equal(kb_kconfig_parse(&small, SMALL, strlen(SMALL)), 0);
	assert_int_equal(small.n, 4);
	assert_string_equal(kb_kconfig_value(&small, "A"), "n");
	assert_string_equal(kb_kconfig_value(&small, "NOPE"), "n");
	assert_int_equal(kb_kconfig_diff(&diff, &big, &small), 0);
	/* A (its last line wins), C, S, N differ (D: "n" in both); B is set in SMALL
	 * only: "n" in BIG */
	assert_int_equal(diff.n, 5);
	assert_string_equal(diff.v[0].name, "A");
	assert_string_equal(diff.v[1].name, "C");
	assert_string_equal(diff.v[2].name, "S");
	assert_string_equal(diff.v[3].name, "N");
	assert_string_equal(diff.v[4].name, "B");
	assert_string_equal(diff.v[4].value, "n");
	{
		const size_t set[] = { 0, 3, 4 }; /* A=y (replaced), N=12 (added), B=n */
		assert_int_equal(kb_kconfig_apply(&text, &len, SMALL, strlen(SMALL), &diff, set,
						  3), 0);
	}
	assert_non_null(strstr(text, "CONFIG_A=y\n"));
	assert_null(strstr(text, "# CONFIG_A is not set"));
	assert_non_null(strstr(text, "# CONFIG_B is not set\n"));
	assert_non_null(strstr(text, "CONFIG_N=12\n"));
	assert_non_null(strstr(text, "CONFIG_S=\"x\"\n")); /* not in the set: SMALL's */
	assert_non_null(strstr(text, "# comment\n"));
	assert_int_equal(kb_kconfig_parse(&got, text, len), 0);
	assert_string_equal(kb_kconfig_value(&got, "C"), "n");
	assert_string_equal(kb_kconfig_value(&got, "64BIT"), "y");
	kb_kconfig_free(&got);
	free(text);
	/* the empty subset is SMALL */
	assert_int_equal(kb_kconfig_apply(&text, &len, SMALL, strlen(SMALL), &diff, NULL, 0), 0);
	assert_int_equal(len, strlen(SMALL));
	assert_memory_equal(text, SMALL, len);
	free(text);
	kb_kconfig_free(&diff);
	kb_kconfig_free(&big);
	kb_kconfig_free(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimize__one_needed_option_in_log2_tests),
		cmocka_unit_test(test_minimize__two_options_needed_together),
		cmocka_unit_test(test_minimize__small_alone_crashes),
		cmocka_unit_test(test_minimize__flaky_predicate_finds_the_option),
		cmocka_unit_test(test_minimize__flaky_two_options_needed_together),
		cmocka_unit_test(test_minimize__inconsistent_answers_end),
		cmocka_unit_test(test_minimize__test_error_stops_the_search),
		cmocka_unit_test(test_minimize__judge_hand_computed),
		cmocka_unit_test(test_minimize__judge_needs_more_runs_for_rarer_crashes),
		cmocka_unit_test(test_minimize__kconfig_diff_and_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
