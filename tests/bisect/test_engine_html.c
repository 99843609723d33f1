/*
 * tests/bisect/test_engine_html.c - the HTML report of a bisection (bisect/engine_html.c
 * on the template of common/html.c): commit info handed over by the oracle, commit
 * links, consoles written next to the report and linked, the timeline at the times the
 * evidence was produced (not this run's), legends; the commit-url rule and escaping;
 * in fix mode the words of a fix (mass chart) and the fix's release flag.
 * The oracle here is a small scripted one: a linear history whose culprit crashes every
 * run, with a console per run and evidence times as a replay would report them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/engine.h"
#include "kbisect/html.h"
#include "kbisect/model.h"

#define N 8
#define CULPRIT 5

struct oracle {
	double clock;      /* this run's clock: every test takes 1 s */
	double ev_clock;   /* the "recorded" clock: every test took 600 s */
	unsigned consoles; /* console() calls */
	int fix;           /* fix mode: nodes before CULPRIT crash, the fix is CULPRIT */
};

static int exec_(void *ctx, const kb_engine_request *rq, size_t n, kb_engine_outcome *out)
{
	struct oracle *o = ctx;

	for (size_t i = 0; i < n; i++) {
		kb_engine_outcome *oc = &out[i];
		oc->buildable = 1;
		oc->how = KB_COST_FREE;
		oc->build_start = oc->build_end = oc->test_start = o->clock;
		oc->test_end = o->clock + 1;
		oc->has_evidence_times = 1;
		oc->ev_build_start = o->ev_clock;
		oc->ev_build_end = oc->ev_test_start = o->ev_clock + 400;
		oc->ev_test_end = o->ev_clock + 600;
		oc->n_runs = rq[i].runs;
		for (size_t r = 0; r < oc->n_runs; r++) {
			kb_repro_run *run = &oc->runs[r];
			run->klass = (rq[i].node >= CULPRIT) != o->fix ? KB_RUN_CRASH : KB_RUN_OK;
			if (run->klass == KB_RUN_CRASH)
				snprintf(run->title, sizeof(run->title),
					 "general protection fault in <vmx_vcpu_run>");
			run->has_console = 1;
			memset(&run->console, 0, sizeof(run->console));
			run->console.b[0] = (uint8_t)rq[i].node;
			run->console.b[1] = (uint8_t)r;
		}
	}
	o->clock += 1;
	o->ev_clock += 600;
	return 0;
}

static int console_(void *ctx, const kb_key *id, const char *path)
{
	struct oracle *o = ctx;
	char text[64];
	int len = snprintf(text, sizeof(text), "console of node %u run %u\n", id->b[0], id->b[1]);

	o->consoles++;
	return kb_test_write_file(path, text, (size_t)len);
}

static kb_engine *bisect(struct oracle *o, kb_model **mo)
{
	kb_model *m = NULL;
	kb_engine *e = NULL;
	kb_engine_oracle eo = { .ctx = o, .execute = exec_, .console = console_ };
	kb_engine_opts opt = { .target_title = "general protection fault in <vmx_vcpu_run>",
			       .runs_per_test = 4, .fix = o->fix };
	kb_model_opts mopt = { .fix = o->fix };

	assert_int_equal(kb_model_new(&m, N, &mopt), 0);
	for (size_t i = 1; i < N; i++)
		assert_int_equal(kb_model_add_parent(m, i, i - 1), 0);
	assert_int_equal(kb_model_finalize(m), 0);
	assert_int_equal(kb_engine_new(&e, m, &eo, &opt), 0);
	for (size_t i = 0; i < N; i++) {
		char name[48], subject[64];
		snprintf(name, sizeof(name), "%040zx", i + 0xabc000);
		snprintf(subject, sizeof(subject), "mm: change number %zu & <more>", i);
		assert_int_equal(kb_engine_set_node(e, i, name, 0), 0);
		assert_int_equal(kb_engine_set_node_info(e, i, subject, "A. Author <a@example.org>",
							 "2024-03-01 12:00:00 +0100"), 0);
	}
	assert_int_equal(kb_engine_run(e), 0);
	*mo = m;
	return e;
}

static void test_engine_html__commit_info_links_consoles_and_recorded_times(void **state)
{
	struct oracle o = { 0 };
	kb_model *m;
	kb_engine *e = bisect(&o, &m);
	kb_bisect_result r;
	char *dir = kb_test_tmpdir("engine-html"), path[4096], cons[4200], name[80];
	size_t len;
	struct stat st;
	(void)state;

	kb_engine_result(&r, e);
	assert_int_equal(r.culprit, CULPRIT);
	assert_int_not_equal(kb_engine_set_commit_url(e, "https://example.org/c/%d"), 0);
	assert_int_equal(kb_engine_set_commit_url(e, "https://example.org/c/%s"), 0);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	assert_int_equal(kb_engine_html(e, path), 0);
	char *html = kb_test_read_file(path, &len);
	assert_non_null(html);
	/* the culprit: id, link, subject (escaped), author, date; the crash title escaped */
	assert_non_null(strstr(html, "href=\"https://example.org/c/0000000000000000000000000000000000abc005\""));
	assert_non_null(strstr(html, "mm: change number 5 &amp; &lt;more&gt;"));
	assert_non_null(strstr(html, "A. Author &lt;a@example.org&gt;"));
	assert_non_null(strstr(html, "2024-03-01 12:00:00 +0100"));
	assert_non_null(strstr(html, "general protection fault in &lt;vmx_vcpu_run&gt;"));
	assert_null(strstr(html, "<vmx_vcpu_run>"));
	/* legends and sections */
	assert_non_null(strstr(html, "id=timeline-legend"));
	assert_non_null(strstr(html, "id=mass-legend"));
	assert_non_null(strstr(html, "id=run-legend"));
	assert_non_null(strstr(html, "id=evidence"));
	assert_non_null(strstr(html, "no culprit in the range"));
	assert_null(strstr(html, "no fix in the range"));
	/* the timeline spans the recorded times (600 s per round), not this run's (1 s) */
	{
		const char *d = strstr(html, "data-seconds=\"");
		assert_non_null(d);
		double T = atof(d + strlen("data-seconds=\""));
		assert_true(T >= 600.0 * r.rounds);
	}
	/* consoles: written next to the report and linked */
	assert_true(o.consoles > 0);
	snprintf(name, sizeof(name), "%.12s-r1-0.txt", "0000000000000000000000000000000000abc007");
	snprintf(cons, sizeof(cons), "%s/report.html.consoles/%s", dir, name);
	assert_int_equal(stat(cons, &st), 0);
	char *c = kb_test_read_file(cons, &len);
	assert_non_null(c);
	assert_non_null(strstr(c, "console of node 7 run 0"));
	free(c);
	snprintf(cons, sizeof(cons), "href=\"report.html.consoles/%s\"", name);
	assert_non_null(strstr(html, cons));
	free(html);
	kb_test_tmpdir_free(dir);
	kb_engine_free(e);
	kb_model_free(m);
}

/* Fix mode: the page speaks of the fix (heading, the mass chart's "no fix in the range"),
 * never of a culprit, and flags the release the fix is, as the text and JSON do. */
static void test_engine_html__fix_mode_speaks_of_the_fix_and_its_release(void **state)
{
	struct oracle o = { .fix = 1 };
	kb_model *m;
	kb_engine *e = bisect(&o, &m);
	kb_bisect_result r;
	char *dir = kb_test_tmpdir("engine-html-fix"), path[4096], *html, *flags;
	size_t len;
	(void)state;

	kb_engine_result(&r, e);
	assert_int_equal(r.culprit, CULPRIT);
	assert_int_equal(kb_engine_set_release(e, "v6.3 <rc>"), 0);
	snprintf(path, sizeof(path), "%s/fix.html", dir);
	assert_int_equal(kb_engine_html(e, path), 0);
	html = kb_test_read_file(path, &len);
	assert_non_null(html);
	assert_non_null(strstr(html, "fix found"));
	assert_non_null(strstr(html, "id=mass-legend"));
	assert_non_null(strstr(html, "no fix in the range"));
	assert_null(strstr(html, "culprit in the range"));
	flags = strstr(html, "id=flags");
	assert_non_null(flags);
	assert_non_null(strstr(flags, "release (v6.3 &lt;rc&gt;)"));
	free(html);
	/* no release: no flag */
	assert_int_equal(kb_engine_set_release(e, NULL), 0);
	assert_int_equal(kb_engine_html(e, path), 0);
	html = kb_test_read_file(path, &len);
	assert_null(strstr(html, "release ("));
	free(html);
	kb_test_tmpdir_free(dir);
	kb_engine_free(e);
	kb_model_free(m);
}

static void test_engine_html__commit_url_rule_and_escaping(void **state)
{
	char why[256], *buf = NULL;
	size_t len = 0;
	FILE *f;
	(void)state;

	assert_int_equal(kb_html_commit_url_check("https://git.kernel.org/torvalds/c/%s", why,
						  sizeof(why)), 0);
	assert_int_equal(kb_html_commit_url_check("https://x/%s?a=100%%", why, sizeof(why)), 0);
	assert_int_not_equal(kb_html_commit_url_check("https://x/c", why, sizeof(why)), 0);
	assert_non_null(strstr(why, "exactly one %s"));
	assert_int_not_equal(kb_html_commit_url_check("https://x/%s/%s", why, sizeof(why)), 0);
	assert_int_not_equal(kb_html_commit_url_check("https://x/%n%s", why, sizeof(why)), 0);
	assert_int_not_equal(kb_html_commit_url_check("javascript:alert(%s)", why, sizeof(why)), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	kb_html_text(f, "<a href=\"x\">'&'</a>");
	kb_html_commit(f, "abc\"def", "https://x/%s", 3);
	fclose(f);
	assert_string_equal(buf, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
				 "<a class=commit href=\"https://x/abc&quot;def\"><code "
				 "title=\"abc&quot;def\">abc</code></a>");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_html__commit_info_links_consoles_and_recorded_times),
		cmocka_unit_test(test_engine_html__fix_mode_speaks_of_the_fix_and_its_release),
		cmocka_unit_test(test_engine_html__commit_url_rule_and_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
