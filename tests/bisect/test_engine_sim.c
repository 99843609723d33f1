/*
 * tests/bisect/test_engine_sim.c - the engine on simulated bisections: a quick version
 * of bench/accuracy (must find the culprit in >= 95% of 50 trials at q = 0.5 where the
 * "any crash = bad" baseline fails), the flaky SYZFAIL pattern of the seed log, no
 * reproduction on bad, untestable commits, JSON and HTML results, speculative builds,
 * bad options, the simulator's wall-time bound.
 * kb-test-labels: unit
 * kb-test-timeout: 300
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "kbisect/engine.h"
#include "kbisect/simulate.h"
#include "kb_test.h"

static void test_bisect_engine__finds_culprit_in_95pct_at_q05(void **state)
{
	unsigned right[3] = { 0 }, trials = 50;
	(void)state;
	for (unsigned t = 0; t < trials; t++) {
		kb_sim *s = NULL;
		kb_sim_opts o = { .n = 300 + 37 * t, .q = 0.5, .seed = 1000 + t,
				  .shape = t % 2 ? KB_SIM_MERGES : KB_SIM_LINEAR };
		assert_int_equal(kb_sim_new(&s, &o), 0);
		for (int st = 0; st < 3; st++) {
			kb_sim_outcome r;
			assert_int_equal(kb_sim_run(s, st, 1 + t % 4, NULL, &r), 0);
			right[st] += (unsigned)r.correct;
		}
		kb_sim_free(s);
	}
	print_message("right: kbisect %u, git-any-crash %u, syzkaller %u of %u\n", right[0],
		      right[1], right[2], trials);
	assert_true(right[KB_SIM_ENGINE] * 100 >= 95 * trials);
	assert_true(right[KB_SIM_ENGINE] > right[KB_SIM_GIT_ANY]);
}

/* oracle over a 4-commit chain with a scripted reproducer */
struct script {
	int culprit;      /* index, or -1: the reproducer never crashes */
	int unbuildable;  /* index that fails to build, or -1 */
	int syzfail;      /* 1: one SYZFAIL per test */
	unsigned executes;
	double clock;
	const double *bcost; /* per node: build seconds (tests then take 10 s), or NULL */
	long first_pick;     /* node of the first test after calibration */
	unsigned parent_tests; /* tests of the culprit's parent */
	unsigned parent_runs0; /* runs asked of its first test */
	unsigned every;      /* a buggy kernel crashes in every such run (0: 2, q = 0.5) */
	int starved;         /* 1 + node whose every test loses all but 3 runs to infra
			      * errors (0: none) */
	size_t pend[64], n_pend; /* handed to prefetch() for the coming round */
	unsigned focused, spread; /* rounds whose prefetched commits lay in one interval
				   * between the round's tests, or in several */
};

static int script_exec(void *ctx, const kb_engine_request *rq, size_t n, kb_engine_outcome *out)
{
	struct script *sc = ctx;
	double round_end = sc->clock + 960;
	sc->executes++;
	if (sc->executes == 2)
		sc->first_pick = (long)rq[0].node;
	if (sc->n_pend > 1 && sc->executes > 2) { /* on a chain: interval = tests below it */
		size_t below0 = 0;
		int same = 1;
		for (size_t j = 0; j < sc->n_pend; j++) {
			size_t below = 0;
			for (size_t i = 0; i < n; i++)
				below += rq[i].node < sc->pend[j];
			if (j == 0)
				below0 = below;
			same &= below == below0;
		}
		sc->focused += same, sc->spread += !same;
	}
	sc->n_pend = 0;
	for (size_t i = 0; i < n; i++) {
		kb_engine_outcome *oc = &out[i];
		int buggy = sc->culprit >= 0 && (int)rq[i].node >= sc->culprit;
		if (sc->culprit > 0 && (int)rq[i].node == sc->culprit - 1 && !sc->parent_tests++)
			sc->parent_runs0 = rq[i].runs;
		oc->how = KB_COST_BUILD;
		oc->build_start = sc->clock, oc->build_end = sc->clock + 420;
		oc->test_start = oc->build_end, oc->test_end = oc->build_end + 540;
		if (sc->bcost) {
			oc->build_end = sc->clock + sc->bcost[rq[i].node];
			oc->test_start = oc->build_end, oc->test_end = oc->build_end + 10;
			round_end = i ? (oc->test_end > round_end ? oc->test_end : round_end)
				      : oc->test_end;
		}
		if ((int)rq[i].node == sc->unbuildable) {
			oc->buildable = 0;
			continue;
		}
		oc->buildable = 1;
		oc->has_signature = 1;
		memset(oc->signature.b, (int)rq[i].node + 1, sizeof(oc->signature.b));
		for (unsigned r = 0; r < rq[i].runs; r++) {
			kb_repro_run *run = &oc->runs[oc->n_runs++];
			if (sc->starved && (int)rq[i].node == sc->starved - 1 && r >= 3) {
				run->klass = KB_RUN_INFRA;
				strcpy(run->title, "SYZFAIL: wrong response packet");
			} else if (sc->syzfail && r == 0) {
				run->klass = KB_RUN_INFRA;
				strcpy(run->title, "SYZFAIL: wrong response packet");
			} else if (buggy && r % (sc->every ? sc->every : 2) == 0) {
				run->klass = KB_RUN_CRASH;
				strcpy(run->title, "general protection fault in vmx_vcpu_run");
			} else {
				run->klass = KB_RUN_OK;
			}
		}
	}
	sc->clock = round_end;
	return 0;
}

static int script_prefetch(void *ctx, const size_t *nodes, size_t n, unsigned *n_built)
{
	struct script *sc = ctx;
	for (size_t i = 0; i < n && i < 64; i++)
		sc->pend[i] = nodes[i];
	sc->n_pend = n < 64 ? n : 64;
	*n_built = (unsigned)sc->n_pend;
	return 0;
}

static double script_build_seconds(void *ctx, size_t node)
{
	struct script *sc = ctx;
	return sc->bcost ? sc->bcost[node] : -1;
}

static kb_model *chain(size_t n)
{
	kb_model *m = NULL;
	assert_int_equal(kb_model_new(&m, n, NULL), 0);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(kb_model_add_parent(m, i, i - 1), 0);
	assert_int_equal(kb_model_finalize(m), 0);
	return m;
}

static void run_script(struct script *sc, size_t n, kb_bisect_result *r, kb_engine **eo,
		       kb_model **mo)
{
	kb_model *m = chain(n);
	kb_engine *e = NULL;
	kb_engine_oracle o = { .ctx = sc, .execute = script_exec,
			       .build_seconds = sc->bcost ? script_build_seconds : NULL };
	kb_engine_opts opt = { .target_title = "general protection fault in vmx_vcpu_run" };
	assert_int_equal(kb_engine_new(&e, m, &o, &opt), 0);
	for (size_t i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%zu", i);
		assert_int_equal(kb_engine_set_node(e, i, name, 0), 0);
	}
	assert_int_equal(kb_engine_run(e), 0);
	kb_engine_result(r, e);
	*eo = e, *mo = m;
}

/* the seed log: a SYZFAIL among clean runs must not make a kernel bad */
static void test_bisect_engine__syzfail_does_not_blame_good_commits(void **state)
{
	struct script sc = { .culprit = 5, .unbuildable = -1, .syzfail = 1 };
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	(void)state;
	run_script(&sc, 8, &r, &e, &m);
	assert_int_equal(r.stop, KB_STOP_CONFIDENT);
	assert_int_equal(r.culprit, 5);
	assert_true(r.probability >= 0.99);
	assert_true(r.flags & KB_FLAG_FLAKY);
	kb_engine_free(e);
	kb_model_free(m);
}

/* The stop rule wants enough clean runs on the culprit's parent, from two separately
 * booted tests (issue 19: one boot can freeze the outcome); once the culprit is likely,
 * the parent's first test asks for more runs than a test gets (q = 0.25 here: the 19
 * runs a test gets are not enough at the low end of a kernel's rate), and the parent
 * is not tested again and again for a few more */
static void test_bisect_engine__parent_of_likely_culprit_gets_its_runs(void **state)
{
	struct script sc = { .culprit = 50, .unbuildable = -1, .every = 4 };
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	(void)state;
	run_script(&sc, 64, &r, &e, &m);
	assert_int_equal(r.stop, KB_STOP_CONFIDENT);
	assert_int_equal(r.culprit, 50);
	print_message("parent tested %u time(s), first with %u runs, %u rounds\n",
		      sc.parent_tests, sc.parent_runs0, sc.executes);
	assert_true(sc.parent_tests >= 2 && sc.parent_tests <= 3);
	assert_true(sc.parent_runs0 > 20);
	kb_engine_free(e);
	kb_model_free(m);
}

/* Issue 19: the culprit's parent can only be tested in runs that a burst of infra
 * errors leaves at 3 per test: its clean runs pile up and the culprit holds the
 * confidence, but no test of the parent has N/2 clean runs (one boot's few runs could
 * be a frozen outcome). The engine tests the parent first, then stops with a set
 * holding the culprit and its parent, and says why; never a single culprit. */
static void test_bisect_engine__unsettled_parent_leaves_a_set_and_says_why(void **state)
{
	struct script sc = { .culprit = 5, .unbuildable = -1, .starved = 5 };
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	char *js = NULL;
	int has5 = 0, has4 = 0;
	(void)state;
	run_script(&sc, 8, &r, &e, &m);
	print_message("stop %s, why: %s, parent tested %u times\n", kb_engine_stop_name(r.stop),
		      kb_engine_why(e), sc.parent_tests);
	assert_int_equal(r.stop, KB_STOP_UNSETTLED);
	assert_int_equal(r.culprit, KB_MODEL_NONE);
	for (size_t i = 0; i < r.n_set; i++)
		has5 |= r.set[i] == 5, has4 |= r.set[i] == 4;
	assert_true(has5 && has4);
	assert_true(strstr(kb_engine_why(e), "two separately booted tests") != NULL);
	assert_true(sc.parent_tests >= 8);
	assert_int_equal(kb_engine_json(&js, e), 0);
	assert_non_null(strstr(js, "\"why\""));
	assert_non_null(strstr(js, "\"unsettled\""));
	assert_non_null(strstr(js, "\"misfit\""));
	assert_non_null(strstr(js, "\"tests_freeze\""));
	assert_non_null(strstr(js, "\"confidence_asked\""));
	free(js);
	kb_engine_free(e);
	kb_model_free(m);
}

static void test_bisect_engine__no_crash_on_bad_stops_with_no_repro(void **state)
{
	struct script sc = { .culprit = -1, .unbuildable = -1 };
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	(void)state;
	run_script(&sc, 6, &r, &e, &m);
	assert_int_equal(r.stop, KB_STOP_NO_REPRO);
	assert_int_equal(r.culprit, KB_MODEL_NONE);
	assert_int_equal(sc.executes, 3); /* three calibration rounds, then it gives up */
	kb_engine_free(e);
	kb_model_free(m);
}

static void test_bisect_engine__unbuildable_parent_leaves_a_set(void **state)
{
	struct script sc = { .culprit = 4, .unbuildable = 3 };
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	int has3 = 0, has4 = 0;
	(void)state;
	run_script(&sc, 8, &r, &e, &m);
	assert_int_equal(r.culprit, KB_MODEL_NONE);
	assert_true(r.stop == KB_STOP_UNTESTABLE || r.stop == KB_STOP_BUDGET);
	for (size_t i = 0; i < r.n_set; i++)
		has3 |= r.set[i] == 3, has4 |= r.set[i] == 4;
	assert_true(has3 && has4);
	assert_true(r.n_set <= 3);
	kb_engine_free(e);
	kb_model_free(m);
}

static void test_bisect_engine__json_and_html_have_the_fields(void **state)
{
	struct script sc = { .culprit = 2, .unbuildable = -1 };
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	char *js = NULL, *dir = kb_test_tmpdir("engine-html"), path[4096];
	json_t *o;
	json_error_t jerr;
	size_t len;
	(void)state;
	run_script(&sc, 6, &r, &e, &m);
	assert_int_equal(kb_engine_json(&js, e), 0);
	o = json_loads(js, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "culprit")), "c2");
	assert_true(json_real_value(json_object_get(o, "probability")) >= 0.99);
	assert_true(json_is_array(json_object_get(o, "candidates")));
	assert_true(json_is_array(json_object_get(o, "flags")));
	assert_true(json_array_size(json_object_get(o, "tested")) >= 2);
	assert_true(json_real_value(json_object_get(o, "seconds")) > 0);
	json_decref(o);
	free(js);
	snprintf(path, sizeof(path), "%s/r.html", dir);
	assert_int_equal(kb_engine_html(e, path), 0);
	char *html = kb_test_read_file(path, &len);
	assert_non_null(html);
	assert_non_null(strstr(html, "id=\"timeline\""));
	assert_non_null(strstr(html, "id=\"mass\""));
	assert_non_null(strstr(html, "first bad commit: <code title=\"c2\">c2</code>"));
	free(html);
	snprintf(path, sizeof(path), "%s/no/such/dir/r.html", dir);
	assert_int_not_equal(kb_engine_html(e, path), 0);
	kb_test_tmpdir_free(dir);
	kb_engine_free(e);
	kb_model_free(m);
}

static void test_bisect_engine__bad_options_return_einval(void **state)
{
	kb_model *m = chain(3), *raw = NULL;
	kb_engine *e = NULL;
	struct script sc = { .culprit = 1 };
	kb_engine_oracle o = { .ctx = &sc, .execute = script_exec }, none = { 0 };
	kb_engine_opts bad = { .bad = 7 }, conf = { .confidence = 1.5 };
	(void)state;
	assert_int_equal(kb_engine_new(&e, m, &none, NULL), KB_EINVAL);
	assert_int_equal(kb_engine_new(&e, m, &o, &bad), KB_EINVAL);
	assert_int_equal(kb_engine_new(&e, m, &o, &conf), KB_EINVAL);
	assert_int_equal(kb_model_new(&raw, 3, NULL), 0);
	assert_int_equal(kb_engine_new(&e, raw, &o, NULL), KB_EINVAL); /* not finalized */
	assert_null(e);
	kb_model_free(raw);
	kb_model_free(m);
}

/* speculative builds while tests run: the same bisections, right as often, in less
 * simulated wall time; the extra builds show in the simulator's build count */
static void test_bisect_engine__prefetch_saves_wall_time(void **state)
{
	double with = 0, without = 0;
	unsigned right_with = 0, right_without = 0, builds_with = 0, builds_without = 0;
	unsigned trials = 20;
	(void)state;
	for (unsigned t = 0; t < trials; t++) {
		kb_sim *s = NULL;
		kb_sim_opts o = { .n = 500 + 41 * t, .q = 0.5, .seed = 3000 + t,
				  .shape = t % 2 ? KB_SIM_MERGES : KB_SIM_LINEAR };
		kb_engine_opts off = { .prefetch = -1 };
		kb_sim_outcome a, b;
		assert_int_equal(kb_sim_new(&s, &o), 0);
		assert_int_equal(kb_sim_run(s, KB_SIM_ENGINE, 1 + t % 2, NULL, &a), 0);
		assert_int_equal(kb_sim_run(s, KB_SIM_ENGINE, 1 + t % 2, &off, &b), 0);
		with += a.seconds, without += b.seconds;
		right_with += (unsigned)a.correct, right_without += (unsigned)b.correct;
		builds_with += a.builds, builds_without += b.builds;
		kb_sim_free(s);
	}
	print_message("prefetch: %.1f h vs %.1f h without, right %u vs %u, builds %u vs %u\n",
		      with / 3600, without / 3600, right_with, right_without, builds_with,
		      builds_without);
	assert_true(with < 0.95 * without);
	assert_true(right_with + 1 >= right_without);
	assert_true(builds_with > builds_without); /* speculation costs builds, honestly counted */
}

/* k > 1 (2 here): the speculative builds all go to the interval the round's tests are most
 * likely to leave (focus_prefetch()), not one to each interval; q = 1 here */
static void test_bisect_engine__k2_prefetch_focuses_on_one_interval(void **state)
{
	struct script sc = { .culprit = 150, .unbuildable = -1, .every = 1 };
	kb_model *m = chain(250); /* < 255: the script's signatures are one byte */
	kb_engine *e = NULL;
	kb_engine_oracle o = { .ctx = &sc, .execute = script_exec, .prefetch = script_prefetch };
	kb_engine_opts opt = { .target_title = "general protection fault in vmx_vcpu_run",
			       .workers = 2 };
	kb_bisect_result r;
	(void)state;
	assert_int_equal(kb_engine_new(&e, m, &o, &opt), 0);
	assert_int_equal(kb_engine_run(e), 0);
	kb_engine_result(&r, e);
	assert_int_equal(r.culprit, 150);
	print_message("prefetch in one interval in %u rounds, spread in %u\n", sc.focused,
		      sc.spread);
	assert_true(sc.focused >= 2);
	assert_int_equal(sc.spread, 0);
	kb_engine_free(e);
	kb_model_free(m);
}

/* a kernel handed to the prefetch counts as at hand when the next round chooses: at
 * k = 1 most later rounds test one built meanwhile (about half did when only tested
 * kernels counted, since the best split rarely is the exact commit prefetched) */
static void test_bisect_engine__prefetched_kernels_are_tested(void **state)
{
	unsigned used = 0, later = 0;
	(void)state;
	for (unsigned t = 0; t < 20; t++) {
		kb_sim *s = NULL;
		kb_sim_opts o = { .n = 1000 + 97 * t, .q = 0.9, .seed = 5000 + t,
				  .shape = t % 2 ? KB_SIM_MERGES : KB_SIM_LINEAR };
		kb_sim_outcome a;
		assert_int_equal(kb_sim_new(&s, &o), 0);
		assert_int_equal(kb_sim_run(s, KB_SIM_ENGINE, 1, NULL, &a), 0);
		assert_true(a.correct);
		used += a.prefetch_used, later += a.rounds - 1;
		kb_sim_free(s);
	}
	print_message("prefetched kernels tested in %u of %u later rounds\n", used, later);
	/* 60% before issue 19; since then a round or two per bisection re-tests the
	 * culprit's parent for a second boot, a kernel at hand that no prefetch makes */
	assert_true(used * 100 >= 55 * later);
}

/* Builds that cost what the changed files make them cost: below commit 32 of a
 * 64-commit chain every build is a full one (600 s: a header most files include
 * changed at 32), above it 20 s. Told these costs, the engine starts on the cheap
 * side (the culprit, 50, is there) and finishes sooner; both ways it is right. */
static void test_bisect_engine__build_costs_steer_the_choice(void **state)
{
	double cost[64];
	kb_bisect_result r;
	kb_engine *e;
	kb_model *m;
	double t_told, t_blind;
	(void)state;

	for (size_t i = 0; i < 64; i++)
		cost[i] = i < 32 ? 600 : 20;
	struct script told = { .culprit = 50, .unbuildable = -1, .bcost = cost };
	run_script(&told, 64, &r, &e, &m);
	assert_int_equal(r.stop, KB_STOP_CONFIDENT);
	assert_int_equal(r.culprit, 50);
	t_told = r.seconds;
	assert_true(told.first_pick >= 32);
	kb_engine_free(e);
	kb_model_free(m);

	/* the same costs, not told: every build is planned at the mean of those seen */
	struct script blind = { .culprit = 50, .unbuildable = -1, .bcost = cost };
	kb_model *m2 = chain(64);
	kb_engine_oracle o = { .ctx = &blind, .execute = script_exec };
	kb_engine_opts opt = { .target_title = "general protection fault in vmx_vcpu_run" };
	assert_int_equal(kb_engine_new(&e, m2, &o, &opt), 0);
	assert_int_equal(kb_engine_run(e), 0);
	kb_engine_result(&r, e);
	assert_int_equal(r.culprit, 50);
	t_blind = r.seconds;
	print_message("told: first pick %ld, %.0f s; blind: first pick %ld, %.0f s\n",
		      told.first_pick, t_told, blind.first_pick, t_blind);
	assert_true(blind.first_pick < 40); /* the midpoint, near 32 */
	assert_true(t_told < t_blind);
	kb_engine_free(e);
	kb_model_free(m2);
}

/* text output never rounds a probability up to certainty */
static void test_bisect_engine__prob_text_never_says_1(void **state)
{
	char b[16];
	(void)state;
	assert_string_equal(kb_engine_prob_text(0.5, b, sizeof(b)), "0.5000");
	assert_string_equal(kb_engine_prob_text(0.99994, b, sizeof(b)), "0.9999");
	assert_string_equal(kb_engine_prob_text(0.99996, b, sizeof(b)), "> 0.9999");
	assert_string_equal(kb_engine_prob_text(1.0, b, sizeof(b)), "> 0.9999");
}

static void test_bisect_sim__bad_options_return_einval(void **state)
{
	kb_sim *s = NULL;
	kb_sim_opts o = { .n = 1 }, q = { .q = 1.5 };
	(void)state;
	assert_int_equal(kb_sim_new(&s, &o), KB_EINVAL);
	assert_int_equal(kb_sim_new(&s, &q), KB_EINVAL);
	assert_null(s);
}

/* kb_sim_bound_seconds(): one build + log2(candidates) / log2(k + 1) test rounds on a
 * chain, / k on a merge-heavy history; and the engine, right every time, never beats it
 * on average (it is a bound on the mean over culprits, not on every trial) */
static void test_bisect_sim__wall_time_bound_is_shannons(void **state)
{
	double lin1, lin4, mer4, mean_engine = 0, mean_bound = 0;
	unsigned right = 0, trials = 20;
	kb_sim *s = NULL, *m = NULL;
	kb_sim_opts o = { .n = 1000, .q = 0.9, .seed = 7, .shape = KB_SIM_LINEAR };
	kb_sim_opts om = { .n = 1000, .q = 0.9, .seed = 7, .shape = KB_SIM_MERGES };
	size_t nc;
	(void)state;
	assert_int_equal(kb_sim_new(&s, &o), 0);
	assert_int_equal(kb_sim_new(&m, &om), 0);
	nc = kb_sim_candidates(s);
	/* 10% of commits do not change the kernel, ~1.5% do not build or have such a parent */
	assert_true(nc > 800 && nc < 950);
	lin1 = kb_sim_bound_seconds(s, 1), lin4 = kb_sim_bound_seconds(s, 4);
	mer4 = kb_sim_bound_seconds(m, 4);
	assert_true(fabs(lin1 - (420 + 540 * log2((double)nc))) < 1e-6);
	assert_true(fabs(lin4 - (420 + 540 * log2((double)nc) / log2(5))) < 1e-6);
	assert_true(fabs(mer4 - (420 + 540 * log2((double)kb_sim_candidates(m)) / 4)) < 1e-6);
	assert_true(kb_sim_bound_seconds(s, 0) == 0 && kb_sim_bound_seconds(NULL, 1) == 0);
	kb_sim_free(s), kb_sim_free(m);
	for (unsigned t = 0; t < trials; t++) {
		kb_sim_opts ot = { .n = 500 + 97 * t, .q = 0.9, .seed = 5000 + t };
		kb_sim_outcome r;
		assert_int_equal(kb_sim_new(&s, &ot), 0);
		assert_int_equal(kb_sim_run(s, KB_SIM_ENGINE, 4, NULL, &r), 0);
		right += (unsigned)r.correct;
		mean_engine += r.seconds / trials;
		mean_bound += kb_sim_bound_seconds(s, 4) / trials;
		kb_sim_free(s);
	}
	print_message("k = 4, q = 0.9: engine %.2f h, bound %.2f h, right %u of %u\n",
		      mean_engine / 3600, mean_bound / 3600, right, trials);
	assert_int_equal(right, trials);
	assert_true(mean_engine >= mean_bound);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_engine__finds_culprit_in_95pct_at_q05),
		cmocka_unit_test(test_bisect_engine__syzfail_does_not_blame_good_commits),
		cmocka_unit_test(test_bisect_engine__parent_of_likely_culprit_gets_its_runs),
		cmocka_unit_test(test_bisect_engine__unsettled_parent_leaves_a_set_and_says_why),
		cmocka_unit_test(test_bisect_engine__no_crash_on_bad_stops_with_no_repro),
		cmocka_unit_test(test_bisect_engine__unbuildable_parent_leaves_a_set),
		cmocka_unit_test(test_bisect_engine__json_and_html_have_the_fields),
		cmocka_unit_test(test_bisect_engine__bad_options_return_einval),
		cmocka_unit_test(test_bisect_engine__prefetch_saves_wall_time),
		cmocka_unit_test(test_bisect_engine__prefetched_kernels_are_tested),
		cmocka_unit_test(test_bisect_engine__k2_prefetch_focuses_on_one_interval),
		cmocka_unit_test(test_bisect_engine__build_costs_steer_the_choice),
		cmocka_unit_test(test_bisect_engine__prob_text_never_says_1),
		cmocka_unit_test(test_bisect_sim__bad_options_return_einval),
		cmocka_unit_test(test_bisect_sim__wall_time_bound_is_shannons),
	};
	return cmocka_run_group_tests_name("bisect/engine_sim", tests, NULL, NULL);
}
