/*
 * tests/bisect/test_model_posterior.c - the culprit model: closure, hand-computed
 * posteriors on tiny histories, censoring, pooling by signature, credible sets,
 * learning q, identical kernels, bad input.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/model.h"

static kb_model *linear(size_t n, double none_prior)
{
	kb_model *m = NULL;
	kb_model_opts o = { .none_prior = none_prior };
	assert_int_equal(kb_model_new(&m, n, &o), 0);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(kb_model_add_parent(m, i, i - 1), 0);
	assert_int_equal(kb_model_finalize(m), 0);
	return m;
}

static void fixed_grid(kb_model *m, double q, double eps)
{
	assert_int_equal(kb_model_set_grid(m, &q, 1, &eps, 1), 0);
}

/* chain 0 <- 1 <- 2; one crash on 2, one clean run on 0; q = 0.5, eps = 0.1:
 * L(h=0) = 0.5 * 0.5, L(h=1) = L(h=2) = 0.9 * 0.5, L(none) = 0.9 * 0.1 */
static void test_bisect_model__linear3_matches_hand_computation(void **state)
{
	kb_model *m = linear(3, -1);
	(void)state;
	fixed_grid(m, 0.5, 0.1);
	assert_int_equal(kb_model_add_runs(m, 2, 1, 0, 0), 0);
	assert_int_equal(kb_model_add_runs(m, 0, 0, 1, 0), 0);
	assert_int_equal(kb_model_update(m), 0);
	assert_float_equal(kb_model_posterior(m, 0), 0.25 / 1.15, 1e-9);
	assert_float_equal(kb_model_posterior(m, 1), 0.45 / 1.15, 1e-9);
	assert_float_equal(kb_model_posterior(m, 2), 0.45 / 1.15, 1e-9);
	assert_float_equal(kb_model_posterior_none(m), 0.0, 1e-12);
	assert_float_equal(kb_model_buggy(m, 0), 0.25 / 1.15, 1e-9);
	assert_float_equal(kb_model_buggy(m, 2), 1.0, 1e-9);
	kb_model_free(m);
}

static void test_bisect_model__none_hypothesis_gets_its_share(void **state)
{
	kb_model *m = linear(3, 0.25);
	double tot = 0.25 * (0.25 + 0.45 + 0.45 + 0.09);
	(void)state;
	fixed_grid(m, 0.5, 0.1);
	kb_model_add_runs(m, 2, 1, 0, 0);
	kb_model_add_runs(m, 0, 0, 1, 0);
	assert_int_equal(kb_model_update(m), 0);
	assert_float_equal(kb_model_posterior(m, 0), 0.25 * 0.25 / tot, 1e-9);
	assert_float_equal(kb_model_posterior_none(m), 0.25 * 0.09 / tot, 1e-9);
	assert_float_equal(kb_model_posterior(m, KB_MODEL_NONE), 0.25 * 0.09 / tot, 1e-9);
	kb_model_free(m);
}

/* the seed log's failure: one SYZFAIL among clean runs must not make a kernel bad */
static void test_bisect_model__censored_runs_change_nothing(void **state)
{
	kb_model *a = linear(5, 0), *b = linear(5, 0);
	(void)state;
	kb_model_add_runs(a, 4, 8, 12, 0);
	kb_model_add_runs(b, 4, 8, 12, 0);
	/* two separately booted tests: one all-clean test could be an all-or-nothing one */
	kb_model_add_runs(a, 2, 0, 9, 0);
	kb_model_add_runs(b, 2, 0, 9, 1); /* SYZFAIL: censored */
	kb_model_add_runs(a, 2, 0, 9, 0);
	kb_model_add_runs(b, 2, 0, 9, 0);
	assert_int_equal(kb_model_update(a), 0);
	assert_int_equal(kb_model_update(b), 0);
	for (size_t i = 0; i < 5; i++)
		assert_float_equal(kb_model_posterior(a, i), kb_model_posterior(b, i), 1e-12);
	/* 18 clean runs in 2 tests at node 2 with q around 0.4: culprit is after 2 */
	assert_true(kb_model_posterior(a, 3) + kb_model_posterior(a, 4) > 0.9);
	kb_model_free(a);
	kb_model_free(b);
}

static void test_bisect_model__merge_closure_and_buggy_all(void **state)
{
	/* 0 <- 1, 0 <- 2, {1,2} <- 3 (merge), 3 <- 4 */
	kb_model *m = NULL;
	double all[5];
	(void)state;
	assert_int_equal(kb_model_new(&m, 5, NULL), 0);
	kb_model_add_parent(m, 1, 0);
	kb_model_add_parent(m, 2, 0);
	kb_model_add_parent(m, 3, 1);
	kb_model_add_parent(m, 3, 2);
	kb_model_add_parent(m, 4, 3);
	assert_int_equal(kb_model_finalize(m), 0);
	assert_true(kb_model_is_ancestor(m, 1, 3));
	assert_true(kb_model_is_ancestor(m, 0, 4));
	assert_true(kb_model_is_ancestor(m, 2, 2));
	assert_false(kb_model_is_ancestor(m, 1, 2));
	assert_false(kb_model_is_ancestor(m, 3, 1));
	assert_int_equal(kb_model_n_parents(m, 3), 2);
	assert_int_equal(kb_model_parent(m, 3, 1), 2);
	kb_model_add_runs(m, 4, 5, 5, 0);
	kb_model_add_runs(m, 1, 0, 10, 0); /* branch 1 clean: culprit on branch 2 or later */
	assert_int_equal(kb_model_update(m), 0);
	assert_int_equal(kb_model_buggy_all(all, m), 0);
	for (size_t i = 0; i < 5; i++)
		assert_float_equal(all[i], kb_model_buggy(m, i), 1e-12);
	assert_true(kb_model_posterior(m, 0) < kb_model_posterior(m, 2));
	assert_true(kb_model_posterior(m, 1) < kb_model_posterior(m, 2));
	kb_model_free(m);
}

static void test_bisect_model__pooled_signature_shares_evidence(void **state)
{
	kb_model *m = linear(4, -1);
	kb_key s1, s2;
	unsigned t, c, x;
	(void)state;
	memset(&s1, 1, sizeof(s1));
	memset(&s2, 2, sizeof(s2));
	kb_model_add_runs(m, 1, 0, 7, 1);
	assert_int_equal(kb_model_set_signature(m, 1, &s1), 0);
	assert_int_equal(kb_model_set_signature(m, 2, &s1), 0);
	kb_model_add_runs(m, 2, 0, 3, 0);
	kb_model_evidence(m, 1, &t, &c, &x);
	assert_int_equal(c, 10);
	assert_int_equal(x, 1);
	kb_model_evidence(m, 2, &t, &c, &x);
	assert_int_equal(c, 10);
	assert_int_equal(kb_model_set_signature(m, 2, &s2), KB_EINVAL);
	assert_int_equal(kb_model_signature(NULL, m, 2), 1);
	assert_int_equal(kb_model_signature(NULL, m, 0), 0);
	kb_model_free(m);
}

static void test_bisect_model__credible_set_in_topological_order(void **state)
{
	kb_model *m = linear(6, 0);
	size_t *set = NULL, n = 0;
	double mass;
	(void)state;
	fixed_grid(m, 0.5, 0.01);
	kb_model_add_runs(m, 5, 10, 10, 0);
	kb_model_add_runs(m, 3, 5, 5, 0);
	kb_model_add_runs(m, 1, 0, 40, 0);
	assert_int_equal(kb_model_update(m), 0);
	assert_int_equal(kb_model_credible_set(&set, &n, &mass, m, 0.99), 0);
	assert_int_equal(n, 2);
	assert_int_equal(set[0], 2);
	assert_int_equal(set[1], 3);
	assert_true(mass >= 0.99);
	free(set);
	assert_int_equal(kb_model_credible_set(&set, &n, NULL, m, 1.5), KB_EINVAL);
	kb_model_free(m);
}

static void test_bisect_model__learns_q_from_runs_on_bad(void **state)
{
	kb_model *m = linear(2, 0);
	double q, lo, hi, eps;
	(void)state;
	for (int t = 0; t < 10; t++) { /* 10 tests of 20 runs each, q = 0.3 */
		kb_model_add_runs(m, 1, 6, 14, 0);
		kb_model_add_runs(m, 0, 0, 20, 0);
	}
	assert_int_equal(kb_model_update(m), 0);
	kb_model_rates(m, &q, &lo, &hi, &eps);
	assert_float_equal(q, 0.3, 0.04);
	assert_true(lo < 0.3 && hi > 0.3);
	assert_true(eps > 0 && eps < 0.01);
	/* node 0 could still be buggy with a rate of its own near 0: not 0.999 */
	assert_true(kb_model_posterior(m, 1) > 0.99);
	kb_model_free(m);
}

static void test_bisect_model__weights_act_as_prior_mass(void **state)
{
	kb_model *m = linear(2, -1);
	(void)state;
	kb_model_set_weight(m, 0, 3);
	assert_int_equal(kb_model_update(m), 0);
	assert_float_equal(kb_model_posterior(m, 0), 0.75, 1e-9);
	assert_int_equal(kb_model_set_weight(m, 0, -1), KB_EINVAL);
	kb_model_free(m);
}

/* chain 0 <- 1 <- ... <- 5; nodes 1 and 3 share a kernel, node 5 touches no build input:
 * culprits 2 and 3 would make the identical kernels of 1 and 3 differ, and 5 would not
 * change its parent's kernel, so the three keep 1e-4 of the prior mass of 0, 1 and 4 */
static void test_bisect_model__identical_kernels_rule_out_what_splits_them(void **state)
{
	kb_model *m = linear(6, -1);
	kb_key s1;
	double tot = 3 + 3e-4;
	(void)state;
	memset(&s1, 1, sizeof(s1));
	assert_int_equal(kb_model_set_signature(m, 1, &s1), 0);
	assert_int_equal(kb_model_set_signature(m, 3, &s1), 0);
	assert_int_equal(kb_model_set_inert(m, 5), 0);
	assert_int_equal(kb_model_set_inert(m, 6), KB_EINVAL);
	assert_int_equal(kb_model_update(m), 0);
	for (size_t h = 0; h < 6; h++) {
		double w = h == 2 || h == 3 || h == 5 ? 1e-4 : 1;
		assert_float_equal(kb_model_posterior(m, h), w / tot, 1e-12);
	}
	kb_model_free(m);
}

/* 0 <- 1 <- 3 and 0 <- 2 <- 3 (3 merges 1 and 2); 1 and 2 share a kernel: a culprit on
 * either branch would give one of them the bug and not the other */
static void test_bisect_model__identical_kernels_on_two_branches(void **state)
{
	kb_model *m = NULL;
	kb_key s1;
	(void)state;
	memset(&s1, 1, sizeof(s1));
	assert_int_equal(kb_model_new(&m, 4, &(kb_model_opts){ .none_prior = -1 }), 0);
	kb_model_add_parent(m, 1, 0);
	kb_model_add_parent(m, 2, 0);
	kb_model_add_parent(m, 3, 1);
	kb_model_add_parent(m, 3, 2);
	assert_int_equal(kb_model_finalize(m), 0);
	assert_int_equal(kb_model_set_signature(m, 1, &s1), 0);
	assert_int_equal(kb_model_set_signature(m, 2, &s1), 0);
	assert_int_equal(kb_model_update(m), 0);
	assert_float_equal(kb_model_posterior(m, 0), 1 / (2 + 2e-4), 1e-12);
	assert_float_equal(kb_model_posterior(m, 1), 1e-4 / (2 + 2e-4), 1e-12);
	assert_float_equal(kb_model_posterior(m, 2), 1e-4 / (2 + 2e-4), 1e-12);
	assert_float_equal(kb_model_posterior(m, 3), 1 / (2 + 2e-4), 1e-12);
	kb_model_free(m);
}

static void test_bisect_model__bad_input_returns_einval(void **state)
{
	kb_model *m = NULL;
	double q = 0.01, e = 0.5;
	(void)state;
	assert_int_equal(kb_model_new(&m, 0, NULL), KB_EINVAL);
	assert_null(m);
	assert_int_equal(kb_model_new(&m, KB_MODEL_MAX_NODES + 1, NULL), KB_EINVAL);
	assert_int_equal(kb_model_new(&m, 3, NULL), 0);
	assert_int_equal(kb_model_add_parent(m, 1, 1), KB_EINVAL);
	assert_int_equal(kb_model_add_parent(m, 1, 2), KB_EINVAL);
	assert_int_equal(kb_model_add_parent(m, 7, 0), KB_EINVAL);
	assert_int_equal(kb_model_update(m), KB_EINVAL); /* not finalized */
	assert_int_equal(kb_model_finalize(m), 0);
	assert_int_equal(kb_model_add_parent(m, 2, 0), KB_EINVAL);
	assert_int_equal(kb_model_add_runs(m, 3, 1, 0, 0), KB_EINVAL);
	assert_int_equal(kb_model_set_grid(m, &q, 1, &e, 1), KB_EINVAL); /* no q > eps */
	assert_int_equal(kb_model_update(m), 0);
	kb_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_model__linear3_matches_hand_computation),
		cmocka_unit_test(test_bisect_model__none_hypothesis_gets_its_share),
		cmocka_unit_test(test_bisect_model__censored_runs_change_nothing),
		cmocka_unit_test(test_bisect_model__merge_closure_and_buggy_all),
		cmocka_unit_test(test_bisect_model__pooled_signature_shares_evidence),
		cmocka_unit_test(test_bisect_model__credible_set_in_topological_order),
		cmocka_unit_test(test_bisect_model__learns_q_from_runs_on_bad),
		cmocka_unit_test(test_bisect_model__weights_act_as_prior_mass),
		cmocka_unit_test(test_bisect_model__identical_kernels_rule_out_what_splits_them),
		cmocka_unit_test(test_bisect_model__identical_kernels_on_two_branches),
		cmocka_unit_test(test_bisect_model__bad_input_returns_einval),
	};
	return cmocka_run_group_tests_name("bisect/model_posterior", tests, NULL, NULL);
}
