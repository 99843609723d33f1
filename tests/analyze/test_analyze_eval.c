/*
 * tests/analyze/test_analyze_eval.c - re-evaluation of bisection logs with the model
 * (analyze/analyze.c) and the JSON/HTML writers (analyze/analyze_out.c).
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"
#include "analyze_internal.h"
#include "kb_test.h"

struct fx {
	kb_analyze_log *log;
	kb_analysis *a;
};

static void analyze(struct fx *fx, const char *name, const kb_analyze_opts *opts)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/tests/data/logs/%s", kb_test_source_dir(), name);
	assert_int_equal(kb_analyze_log_load(&fx->log, path), KB_OK);
	assert_int_equal(kb_analyze_run(&fx->a, fx->log, opts), KB_OK);
}

static void fx_free(struct fx *fx)
{
	kb_analyze_free(fx->a);
	kb_analyze_log_free(fx->log);
}

static int step_of(const struct fx *fx, const char *prefix)
{
	int i = kb_analyze__find_step(fx->log, prefix);
	assert_true(i >= 0);
	return i;
}

static void test_analyze_eval__seed_original_crash_only_on_first_commit(void **state)
{
	struct fx fx = { 0 };
	(void)state;
	analyze(&fx, "seed-vmx_vcpu_run.log", NULL);
	assert_string_equal(fx.a->original_title, "general protection fault in vmx_vcpu_run");
	assert_true(fx.a->st[0].target > 0);
	for (int i = 1; i < fx.log->nsteps; i++)
		assert_int_equal(fx.a->st[i].target, 0);
	fx_free(&fx);
}

static void test_analyze_eval__seed_bad_verdicts_rest_on_one_syzfail(void **state)
{
	struct fx fx = { 0 };
	int bad = 0;
	(void)state;
	analyze(&fx, "seed-vmx_vcpu_run.log", NULL);
	for (int i = 1; i < fx.log->nsteps; i++) {
		const kb_astep *s = &fx.a->st[i];
		if (fx.log->steps[i].git_verdict != KB_ALOG_V_BAD)
			continue;
		bad++;
		assert_int_equal(s->log_v, KB_AV_CRASH);
		assert_int_equal(s->rests_on, KB_ATITLE_INFRA);
		assert_int_equal(s->infra, 1);
		assert_true(fx.log->steps[i].nruns == 10 || fx.log->steps[i].nruns == 20);
		assert_int_equal(s->clean, (unsigned)fx.log->steps[i].nruns - 1);
		/* kbisect: the runs say the kernel is clean */
		assert_int_equal(s->kb_v, KB_AV_NOCRASH);
		assert_int_equal(s->agree, 0);
	}
	assert_int_equal(bad, 9);
	fx_free(&fx);
}

static void test_analyze_eval__seed_identical_signatures_found(void **state)
{
	struct fx fx = { 0 };
	int a, b;
	(void)state;
	analyze(&fx, "seed-vmx_vcpu_run.log", NULL);
	assert_int_equal(fx.a->ngroups, 1);
	a = step_of(&fx, "889231c6");
	b = step_of(&fx, "e71ba945");
	assert_int_equal(fx.a->groups[0].nsteps, 2);
	assert_int_equal(fx.a->groups[0].steps[0], a);
	assert_int_equal(fx.a->groups[0].steps[1], b);
	assert_int_equal(fx.a->st[b].sig_dup_of, a);
	/* the parent has no runs of its own but shares 889231c6's */
	assert_int_equal(fx.a->st[b].pclean, fx.a->st[a].clean);
	assert_int_equal(fx.a->builds_avoided, 1);
	fx_free(&fx);
}

static void test_analyze_eval__seed_culprit_not_supported(void **state)
{
	struct fx fx = { 0 };
	(void)state;
	analyze(&fx, "seed-vmx_vcpu_run.log", NULL);
	assert_false(kb_analyze_supported(fx.a));
	assert_true(kb_analyze_culprit_probability(fx.a) < 0.01);
	/* the evidence points between the last commit called bad and the original commit */
	assert_int_equal(fx.a->range_after, step_of(&fx, "5bbb336b"));
	assert_int_equal(fx.a->range_through, 0);
	assert_true(fx.a->range_commits > 4000 && fx.a->range_commits < 4300);
	/* cost: the log's own times */
	assert_int_equal(fx.a->n_builds, 17);
	assert_int_equal(fx.a->n_tests, 16);
	assert_true(fx.a->avg_build > 412 && fx.a->avg_build < 414);
	assert_true(fx.a->kb_rounds < fx.a->syz_rounds);
	fx_free(&fx);
}

static void test_analyze_eval__clean_bisection_is_supported(void **state)
{
	struct fx fx = { 0 };
	(void)state;
	analyze(&fx, "cause-supported.log", NULL);
	assert_true(kb_analyze_supported(fx.a));
	assert_true(kb_analyze_culprit_probability(fx.a) > 0.9);
	for (int i = 0; i < fx.log->nsteps; i++)
		assert_int_equal(fx.a->st[i].agree, 1);
	assert_int_equal(fx.a->ngroups, 0);
	fx_free(&fx);
}

static void test_analyze_eval__fix_bisection_is_supported(void **state)
{
	struct fx fx = { 0 };
	(void)state;
	analyze(&fx, "fix.log", NULL);
	assert_true(kb_analyze_supported(fx.a));
	assert_true(kb_analyze_culprit_probability(fx.a) > 0.9);
	/* verdicts are in git's words for a fix bisection: crashing = good */
	assert_string_equal(kb_analyze__verdict_word(fx.log, fx.a->st[2].kb_v), "good");
	assert_string_equal(kb_analyze__verdict_word(fx.log, fx.a->st[3].kb_v), "bad");
	assert_int_equal(fx.a->range_through, 3);
	fx_free(&fx);
}

static void test_analyze_eval__merges_flaky_pools_identical_kernels(void **state)
{
	struct fx fx = { 0 };
	int m0, m2;
	(void)state;
	analyze(&fx, "merges-flaky.log", NULL);
	m0 = step_of(&fx, "7ec66e5c");
	m2 = step_of(&fx, "98a027ca");
	assert_int_equal(fx.a->ngroups, 1);
	assert_int_equal(fx.a->st[m2].sig_dup_of, m0);
	assert_int_equal(fx.a->st[m2].ptarget, fx.a->st[m0].target + fx.a->st[m2].target);
	/* flaky (q about 0.5) but consistent. M2's kernel equals M0's, so the commits
	 * between them cannot hold the culprit (the two identical kernels would disagree
	 * on it): the credible set is the culprit alone, likely but not certain, since
	 * its parent rests on 9 clean runs of a flaky reproducer */
	assert_true(kb_analyze_supported(fx.a));
	assert_true(fx.a->culprit_prob > 0.9 && fx.a->culprit_prob < 0.99);
	assert_true(fx.a->q_mean > 0.3 && fx.a->q_mean < 0.8);
	assert_int_equal(fx.a->ncred, 1);
	assert_int_equal(fx.a->nodes[fx.a->cred_nodes[0]].step, fx.a->culprit_step);
	assert_int_equal(fx.a->builds_avoided, 1);
	assert_int_equal(fx.a->tests_avoided, 1);
	fx_free(&fx);
}

static void test_analyze_eval__lone_target_crash_is_a_false_positive(void **state)
{
	/* the original commit crashes in 20 of 20 runs; the culprit rests on 1 of 20 */
	char text[8192];
	size_t n = 0;
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	const char *O = "1111111111111111111111111111111111111111",
		   *G = "2222222222222222222222222222222222222222",
		   *M0 = "3333333333333333333333333333333333333333",
		   *M1 = "4444444444444444444444444444444444444444",
		   *M2 = "5555555555555555555555555555555555555555";
	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n,
		"bisecting cause commit starting from %s\ntesting commit %s\n", O, O);
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "run #%d: crashed: BUG in foo\n", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
		"testing release v1.0\ntesting commit %s\nall runs: OK\n"
		"# git bisect start %s %s\nBisecting: 3 revisions left to test after this\n"
		"testing commit %s\nrun #0: crashed: BUG in foo\n", G, O, G, M0);
	for (int i = 1; i < 20; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "run #%d: OK\n", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
		"# git bisect bad %s\nBisecting: 1 revision left to test after this\n"
		"testing commit %s\nall runs: OK\n# git bisect good %s\n"
		"Bisecting: 0 revisions left to test after this\n"
		"testing commit %s\nall runs: OK\n# git bisect good %s\n"
		"%s is the first bad commit\n", M0, M1, M1, M2, M2, M0);
	assert_int_equal(kb_analyze_log_parse(&log, text, n, "lone.log"), KB_OK);
	assert_int_equal(kb_analyze_run(&a, log, NULL), KB_OK);
	assert_string_equal(log->culprit, M0);
	assert_int_equal(a->st[2].target, 1);
	assert_true(a->st[2].p_bug < 0.5);
	assert_false(kb_analyze_supported(a));
	{
		int found = 0;
		for (int i = 0; i < a->nfindings; i++)
			found |= strstr(a->findings[i], "as false positives") != NULL;
		assert_true(found);
	}
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

static void test_analyze_eval__fix_still_crashing_on_head_points_past_head(void **state)
{
	const char *text = "bisecting fixing commit since aaaaaaaaaaaa\n"
			   "testing commit aaaaaaaaaaaa\nall runs: crashed: T\n"
			   "testing current HEAD bbbbbbbbbbbb\n"
			   "testing commit bbbbbbbbbbbb\nall runs: crashed: T\n"
			   "the crash still happens on HEAD\n";
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	(void)state;
	assert_int_equal(kb_analyze_log_parse(&log, text, strlen(text), "t.log"), KB_OK);
	assert_int_equal(log->result, KB_ALOG_RES_STILL_CRASHES);
	assert_int_equal(kb_analyze_run(&a, log, NULL), KB_OK);
	assert_int_equal(a->st[1].node >= 0, 1);    /* HEAD is in the model */
	assert_int_equal(a->range_after, 1);        /* the fix is newer than HEAD */
	assert_int_equal(a->range_through, -1);
	assert_false(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

static void test_analyze_eval__wrong_title_changes_the_answer(void **state)
{
	struct fx fx = { 0 };
	kb_analyze_opts o = { .title = "WARNING in something_else" };
	(void)state;
	/* with a title never seen, no run is evidence for the bug */
	analyze(&fx, "cause-supported.log", &o);
	assert_false(kb_analyze_supported(fx.a));
	for (int i = 0; i < fx.log->nsteps; i++)
		assert_int_equal(fx.a->st[i].target, 0);
	fx_free(&fx);
	/* an infrastructure title given explicitly is the target: the seed's SYZFAIL runs
	 * then count, and the original commit (no SYZFAIL) counts as clean */
	memset(&fx, 0, sizeof(fx));
	o.title = "SYZFAIL: wrong response packet";
	analyze(&fx, "seed-vmx_vcpu_run.log", &o);
	assert_int_equal(fx.a->st[2].target, 1);
	assert_int_equal(fx.a->st[2].rests_on, KB_ATITLE_TARGET);
	assert_int_equal(fx.a->st[0].target, 0);
	fx_free(&fx);
}

static void test_analyze_eval__other_titles_censored_unless_asked(void **state)
{
	struct fx fx = { 0 };
	kb_analyze_opts o = { .other_crash_bad = 1 };
	int s2;
	(void)state;
	analyze(&fx, "skips-builderrors.log", NULL);
	s2 = step_of(&fx, "599717c8");
	assert_int_equal(fx.a->st[s2].rests_on, KB_ATITLE_OTHER);
	assert_int_equal(fx.a->st[s2].target, 0);
	assert_int_equal(fx.a->st[s2].agree, 0);
	/* the build failure is no information, not a verdict */
	assert_int_equal(fx.a->st[step_of(&fx, "b9f68ea8")].kb_v, KB_AV_NONE);
	assert_false(kb_analyze_supported(fx.a)); /* inconclusive: no culprit to support */
	fx_free(&fx);
	memset(&fx, 0, sizeof(fx));
	analyze(&fx, "skips-builderrors.log", &o);
	assert_int_equal(fx.a->st[s2].target, 1);
	fx_free(&fx);
}

static void test_analyze_eval__no_crash_on_original_is_unsupported(void **state)
{
	const char *text = "bisecting cause commit starting from "
			   "0123456789abcdef0123456789abcdef01234567\n"
			   "testing commit 0123456789abcdef0123456789abcdef01234567\n"
			   "run #0: crashed: SYZFAIL: wrong response packet\n"
			   "run #1: OK\n";
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	int found = 0;
	(void)state;
	assert_int_equal(kb_analyze_log_parse(&log, text, strlen(text), "t.log"), KB_OK);
	assert_int_equal(kb_analyze_run(&a, log, NULL), KB_OK);
	assert_true(a->no_original_crash);
	assert_null(a->original_title);
	assert_false(kb_analyze_supported(a));
	for (int i = 0; i < a->nfindings; i++)
		found |= strstr(a->findings[i], "never reproduced") != NULL;
	assert_true(found);
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

static void test_analyze_eval__json_has_the_required_fields(void **state)
{
	struct fx fx = { 0 };
	char *s = NULL;
	json_t *o, *v;
	json_error_t err;
	(void)state;
	analyze(&fx, "seed-vmx_vcpu_run.log", NULL);
	assert_int_equal(kb_analyze_json(&s, fx.a), KB_OK);
	o = json_loads(s, 0, &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "original_title")),
			    "general protection fault in vmx_vcpu_run");
	assert_string_equal(json_string_value(json_object_get(o, "reported_culprit")),
			    "167dcfc08b0b1f964ea95d410aa496fd78adf475");
	assert_true(json_is_number(json_object_get(o, "culprit_probability")));
	assert_true(json_number_value(json_object_get(o, "culprit_probability")) < 0.01);
	assert_true(json_is_false(json_object_get(o, "supported")));
	v = json_object_get(o, "verdicts");
	assert_int_equal(json_array_size(v), 17);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 2),
							      "log_verdict")), "bad");
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 2),
							      "kbisect_verdict")), "good");
	assert_true(json_is_array(json_object_get(json_array_get(v, 2), "titles")));
	v = json_object_get(o, "identical_signatures");
	assert_int_equal(json_array_size(v), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(v, 0), "commits")), 2);
	json_decref(o);
	free(s);
	fx_free(&fx);
}

static void test_analyze_eval__html_is_written_and_escaped(void **state)
{
	struct fx fx = { 0 };
	char *dir = kb_test_tmpdir("analyze-html"), path[4096], *html;
	size_t len;
	(void)state;
	analyze(&fx, "seed-vmx_vcpu_run.log", NULL);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	assert_int_equal(kb_analyze_write_html(fx.a, path), KB_OK);
	html = kb_test_read_file(path, &len);
	assert_non_null(html);
	assert_non_null(strstr(html, "NOT SUPPORTED"));
	assert_non_null(strstr(html, "general protection fault in vmx_vcpu_run"));
	assert_non_null(strstr(html, "</html>"));
	assert_null(strstr(html, "<script")); /* self-contained, static */
	free(html);
	/* a directory that does not exist: a clear error, nothing half-written */
	snprintf(path, sizeof(path), "%s/no/such/dir/report.html", dir);
	assert_int_not_equal(kb_analyze_write_html(fx.a, path), KB_OK);
	assert_non_null(strstr(kb_error_last()->message, "report.html"));
	kb_test_tmpdir_free(dir);
	fx_free(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_analyze_eval__seed_original_crash_only_on_first_commit),
		cmocka_unit_test(test_analyze_eval__seed_bad_verdicts_rest_on_one_syzfail),
		cmocka_unit_test(test_analyze_eval__seed_identical_signatures_found),
		cmocka_unit_test(test_analyze_eval__seed_culprit_not_supported),
		cmocka_unit_test(test_analyze_eval__clean_bisection_is_supported),
		cmocka_unit_test(test_analyze_eval__fix_bisection_is_supported),
		cmocka_unit_test(test_analyze_eval__merges_flaky_pools_identical_kernels),
		cmocka_unit_test(test_analyze_eval__lone_target_crash_is_a_false_positive),
		cmocka_unit_test(test_analyze_eval__fix_still_crashing_on_head_points_past_head),
		cmocka_unit_test(test_analyze_eval__wrong_title_changes_the_answer),
		cmocka_unit_test(test_analyze_eval__other_titles_censored_unless_asked),
		cmocka_unit_test(test_analyze_eval__no_crash_on_original_is_unsupported),
		cmocka_unit_test(test_analyze_eval__json_has_the_required_fields),
		cmocka_unit_test(test_analyze_eval__html_is_written_and_escaped),
	};
	return cmocka_run_group_tests_name("analyze/analyze_eval", tests, NULL, NULL);
}
