/*
 * bisect/engine_html.c - the HTML report of a bisection (kb_engine_html), written with
 * the template shared with `kbisect analyze` (kbisect/html.h): the crash and the result,
 * the candidates, the evidence per tested commit with its runs and their consoles
 * (written to <report>.consoles/), the timeline per worker at the times the evidence
 * was produced, the probability mass per round.
 * Owns: what the bisection report shows and where its console files go.
 * Not: the look of the page (common/html.c, common/html_chart.c), the result itself
 * (bisect/engine_report.c), the commit info (handed over by the oracle).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error_internal.h"
#include "kbisect/html.h"
#include "kbisect/report.h"
#include "engine_internal.h"

struct page {
	const kb_engine *e;
	const char *path;
	char cons_dir[4200];     /* <path>.consoles */
	const char *cons_rel;    /* its name relative to the page */
	int cons_ok;             /* the directory exists */
};

/* which: 0 subject, 1 author, 2 date of node (kb_engine_node_info()), or NULL */
static const char *info(const kb_engine *e, int which, size_t node)
{
	const char *v[3];

	kb_engine_node_info(e, node, &v[0], &v[1], &v[2]);
	return v[which];
}

static int run_class(const kb_engine *e, const kb_repro_run *r)
{
	if (r->klass == KB_RUN_OK)
		return KB_HTML_RUN_OK;
	if (r->klass == KB_RUN_BOOT_FAILURE)
		return KB_HTML_RUN_BOOT;
	if (r->klass == KB_RUN_INFRA)
		return KB_HTML_RUN_INFRA;
	if (e->opt.any_crash)
		return KB_HTML_RUN_TARGET;
	for (size_t i = 0; i < e->n_titles; i++)
		if (kb_report_title_matches(e->titles[i], r->title))
			return KB_HTML_RUN_TARGET;
	return KB_HTML_RUN_OTHER;
}

/* the evidence's times of span i: as produced (ev) when known, else this run's */
static void span_times(const kb_engine *e, size_t i, double t[4])
{
	const struct span *s = &e->spans[i];

	if (e->ev && i < e->cap_ev && e->ev[i].has_times) {
		const struct span_ev *v = &e->ev[i];
		t[0] = v->build_start, t[1] = v->build_end, t[2] = v->test_start, t[3] = v->test_end;
	} else {
		t[0] = s->build_start, t[1] = s->build_end, t[2] = s->test_start, t[3] = s->test_end;
	}
}

static void result_block(FILE *f, const kb_engine *e, const kb_bisect_result *r,
			 double ev_seconds)
{
	kb_html_result h = { 0 };
	const char *titles[MAX_TITLES], *flags[6];
	char summary[700], facts[400], t1[32], t2[32], t3[32], badge[40], release[100];
	size_t nf = 0;

	for (size_t i = 0; i < e->n_titles; i++)
		titles[i] = e->titles[i];
	h.titles = titles, h.n_titles = e->n_titles;
	h.commit_url = e->commit_url;
	h.probability = -1;
	if (r->culprit != KB_MODEL_NONE) {
		h.heading = e->opt.fix ? "kbisect bisect --fix: fix found" :
			    "kbisect bisect: first bad commit found";
		h.what = e->opt.fix ? "fix (first commit that no longer crashes)" :
			 "first bad commit";
		h.commit = kb_engine_node_name(e, r->culprit);
		h.subject = info(e, 0, r->culprit);
		h.author = info(e, 1, r->culprit);
		h.date = info(e, 2, r->culprit);
		h.badge = "FOUND", h.badge_good = 1;
		h.probability = r->probability;
	} else {
		h.heading = e->opt.fix ? "kbisect bisect --fix: no single fix" :
			    "kbisect bisect: no single culprit";
		snprintf(badge, sizeof(badge), "%s", kb_engine_stop_name(r->stop));
		for (char *p = badge; *p; p++)
			*p = *p == '_' ? ' ' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		h.badge = badge, h.badge_good = 0;
		if (r->stop == KB_STOP_NO_REPRO)
			snprintf(summary, sizeof(summary), "The reproducer did not crash the %s "
				 "commit %s.", e->opt.fix ? "crashing" : "bad",
				 kb_engine_node_name(e, e->opt.bad));
		else
			snprintf(summary, sizeof(summary), "Stopped (%s) with %zu candidate commits "
				 "holding %.4f (below).%s%s", kb_engine_stop_name(r->stop), r->n_set,
				 r->probability, e->why[0] ? " Why: " : "", e->why);
		h.summary = summary;
	}
	h.q = r->q, h.q_lo = r->q_lo, h.q_hi = r->q_hi, h.eps = r->eps;
	if (r->flags & KB_FLAG_SAME_KERNEL_AS_PARENT)
		flags[nf++] = "same kernel as parent";
	if (r->flags & KB_FLAG_MERGE)
		flags[nf++] = "merge commit";
	if (r->flags & KB_FLAG_OUTSIDE_BUILD)
		flags[nf++] = "touches no build input";
	if (r->flags & KB_FLAG_FLAKY)
		flags[nf++] = "flaky reproducer";
	if (r->flags & KB_FLAG_UNTESTABLE_AFTER) /* fix mode, as the text and JSON say */
		flags[nf++] = "nothing from it on could be tested";
	if (e->opt.fix && e->release && r->culprit != KB_MODEL_NONE) { /* as text and JSON */
		snprintf(release, sizeof(release), "release (%.80s)", e->release);
		flags[nf++] = release;
	}
	h.flags = flags, h.n_flags = nf;
	kb_engine__dur(t1, sizeof(t1), ev_seconds);
	kb_engine__dur(t2, sizeof(t2), r->seconds);
	kb_engine__dur(t3, sizeof(t3), r->seconds_saved);
	snprintf(facts, sizeof(facts), "%u rounds, %u tests, %u runs, %u builds (%u avoided, "
		 "%s saved); the evidence took %s, this run %s.", r->rounds, r->tests, r->runs,
		 r->builds, r->builds_avoided, t3, t1, t2);
	h.facts = facts;
	kb_html_result_block(f, &h);
}

static void candidates(FILE *f, const kb_engine *e, const kb_bisect_result *r)
{
	kb_html_section(f, "candidates", "Candidates");
	fputs("<table id=candidates><tr><th>commit</th><th>subject</th><th>probability</th>"
	      "</tr>\n", f);
	for (size_t i = 0; i < r->n_set; i++) {
		size_t c = r->set[i];
		fputs("<tr><td>", f);
		if (c == KB_MODEL_NONE)
			fputs(e->opt.fix ? "(no fix in the range)</td><td>" :
			      "(no culprit in the range)</td><td>", f);
		else {
			kb_html_commit(f, kb_engine_node_name(e, c), e->commit_url, 12);
			fputs("</td><td>", f);
			kb_html_text(f, info(e, 0, c));
		}
		fprintf(f, "</td><td>%.4f</td></tr>\n", kb_model_posterior(e->m, c));
	}
	fputs("</table>\n", f);
}

/* the console of run k of span i, written next to the page: its link, or NULL */
static const char *console_link(struct page *pg, size_t i, size_t k, char *href, size_t len)
{
	const kb_engine *e = pg->e;
	const kb_repro_run *run = &e->ev[i].runs[k];
	const struct span *s = &e->spans[i];
	char file[4400], name[96];

	if (!run->has_console || !e->o.console)
		return NULL;
	if (!pg->cons_ok) {
		if (mkdir(pg->cons_dir, 0755) != 0 && errno != EEXIST)
			return NULL;
		pg->cons_ok = 1;
	}
	snprintf(name, sizeof(name), "%.12s-r%u-%zu.txt", kb_engine_node_name(e, s->node),
		 s->round, k);
	snprintf(file, sizeof(file), "%s/%s", pg->cons_dir, name);
	if (e->o.console(e->o.ctx, &run->console, file) != 0) {
		kb_error_clear(); /* the report goes on without this console */
		return NULL;
	}
	snprintf(href, len, "%s/%s", pg->cons_rel, name);
	return href;
}

/* one row of the evidence table: node c and its tests */
static int evidence_row(FILE *f, struct page *pg, size_t c, size_t culprit)
{
	const kb_engine *e = pg->e;
	const struct node_rec *nr = &e->rec[c];
	kb_html_row row = { 0 };
	kb_html_test tests[64];
	kb_html_run *runs;
	char (*hrefs)[4400];
	char sig[KB_KEY_HEXLEN + 1], label[64][24], pb[32];
	const char *extra[1];
	size_t nt = 0, nr_all = 0, used = 0;
	kb_key k;
	double p_buggy = kb_model_buggy(e->m, c);

	for (size_t i = 0; i < e->n_spans; i++)
		if (e->spans[i].node == c && e->ev && i < e->cap_ev)
			nr_all += e->ev[i].n_runs;
	runs = calloc(nr_all ? nr_all : 1, sizeof(*runs));
	hrefs = calloc(nr_all ? nr_all : 1, sizeof(*hrefs));
	if (!runs || !hrefs) {
		free(runs), free(hrefs);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing the html report");
	}
	for (size_t i = 0; i < e->n_spans && nt < 64; i++) {
		const struct span_ev *v = e->ev && i < e->cap_ev ? &e->ev[i] : NULL;
		if (e->spans[i].node != c || !e->spans[i].buildable)
			continue;
		snprintf(label[nt], sizeof(label[nt]), "round %u", e->spans[i].round);
		tests[nt].label = label[nt];
		tests[nt].runs = runs + used;
		tests[nt].n_runs = 0;
		for (size_t r = 0; v && r < v->n_runs; r++) {
			kb_html_run *h = &runs[used];
			h->cls = run_class(e, &v->runs[r]);
			h->title = v->runs[r].title;
			h->count = 1;
			h->href = console_link(pg, i, r, hrefs[used], sizeof(hrefs[used]));
			used++, tests[nt].n_runs++;
		}
		nt++;
	}
	row.commit = kb_engine_node_name(e, c);
	row.subject = info(e, 0, c);
	row.commit_url = e->commit_url;
	if (kb_model_signature(&k, e->m, c)) {
		kb_key_to_hex(sig, &k);
		row.signature = sig;
	}
	if (nr->built < 0)
		row.verdict = KB_HTML_V_SKIP, row.verdict_word = "untestable";
	else if (p_buggy >= 0.95)
		row.verdict = KB_HTML_V_BAD, row.verdict_word = "bad";
	else if (p_buggy <= 0.05)
		row.verdict = KB_HTML_V_GOOD, row.verdict_word = "good";
	else
		row.verdict = KB_HTML_V_NONE, row.verdict_word = "unsure";
	snprintf(pb, sizeof(pb), "%.3f", p_buggy);
	extra[0] = pb;
	row.extra = extra, row.n_extra = 1;
	row.tests = tests, row.n_tests = nt;
	row.p = kb_model_posterior(e->m, c);
	row.note = nr->built < 0 ? (nr->boot ? "kernel does not boot" : "failed to build") :
		   nr->same_as_parent == 2 ? "touches no build input (parent's kernel)" :
		   nr->same_as_parent ? "same kernel as a parent" :
		   c == e->opt.bad ? (e->opt.fix ? "the crashing commit (calibration)" :
				      "the bad commit (calibration)") : NULL;
	row.highlight = c == culprit;
	kb_html_evidence_row(f, &row);
	free(runs), free(hrefs);
	return 0;
}

static int evidence(FILE *f, struct page *pg, size_t culprit)
{
	const kb_engine *e = pg->e;
	static const char *cols[] = { "P(bug)" };
	uint8_t *shown = calloc(e->n ? e->n : 1, 1);
	int rc = 0;

	if (!shown)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing the html report");
	kb_html_section(f, "evidence", "Evidence per tested commit");
	kb_html_run_legend(f);
	kb_html_evidence_begin(f, cols, 1, e->opt.fix ? "P(fix)" : "P(culprit)");
	for (size_t i = 0; i < e->n_spans && !rc; i++) { /* in the order they were tested */
		size_t c = e->spans[i].node;
		if (shown[c])
			continue;
		shown[c] = 1;
		rc = evidence_row(f, pg, c, culprit);
	}
	kb_html_evidence_end(f);
	fputs("<p class=note>Verdict: the model's probability that the commit's kernel has "
	      "the bug (P(bug) &ge; 0.95: bad, &le; 0.05: good). One bar per test (a boot of "
	      "the kernel), one segment per run; a segment links to that run's console.</p>\n",
	      f);
	free(shown);
	return rc;
}

/* the first start and the last end of the evidence's times; 1 if any came recorded */
static int ev_range(const kb_engine *e, double *t0, double *tmax)
{
	int have = 0, recorded = 0;

	*t0 = *tmax = 0;
	for (size_t i = 0; i < e->n_spans; i++) {
		double t[4];
		span_times(e, i, t);
		double a = t[0] < t[2] ? t[0] : t[2], b = t[1] > t[3] ? t[1] : t[3];
		if (!have || a < *t0)
			*t0 = a;
		if (!have || b > *tmax)
			*tmax = b;
		have = 1;
		recorded |= e->ev && i < e->cap_ev && e->ev[i].has_times;
	}
	return recorded;
}

static int timeline(FILE *f, const kb_engine *e)
{
	kb_html_bar *bars = calloc(e->n_spans ? e->n_spans : 1, sizeof(*bars));
	char (*tips)[200] = calloc(e->n_spans ? e->n_spans : 1, sizeof(*tips));
	double t0, tmax;
	int recorded = ev_range(e, &t0, &tmax);

	if (!bars || !tips) {
		free(bars), free(tips);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing the html report");
	}
	for (size_t i = 0; i < e->n_spans; i++) {
		const struct span *s = &e->spans[i];
		const char *sub = info(e, 0, s->node);
		double t[4];
		span_times(e, i, t);
		bars[i].worker = s->worker;
		bars[i].build_start = t[0] - t0, bars[i].build_end = t[1] - t0;
		bars[i].test_start = t[2] - t0, bars[i].test_end = t[3] - t0;
		bars[i].buildable = s->buildable;
		bars[i].cls = s->target ? KB_HTML_RUN_TARGET : s->clean ? KB_HTML_RUN_OK :
			      KB_HTML_RUN_OTHER;
		snprintf(tips[i], sizeof(tips[i]), "round %u: %.12s %.60s (%s kernel): %u target "
			 "crashes, %u clean, %u other", s->round, kb_engine_node_name(e, s->node),
			 sub ? sub : "", s->how == KB_COST_FREE ? "cached" : s->how == KB_COST_TEST ?
			 "reused" : "built", s->target, s->clean, s->other);
		bars[i].label = tips[i];
	}
	kb_html_section(f, "timeline", "Timeline per worker");
	kb_html_timeline(f, bars, e->n_spans, e->opt.workers, NULL, 0, NULL,
			 recorded ? "Times at which the evidence was produced: a kernel or runs "
				    "taken from the cache of an identical earlier bisection keep "
				    "the times recorded then; new work follows them." : NULL);
	free(bars), free(tips);
	return 0;
}

static const char *subject_by_name(void *ctx, const char *id)
{
	const kb_engine *e = ctx;

	for (size_t i = 0; i < e->n; i++)
		if (e->names[i] && !strcmp(e->names[i], id))
			return info(e, 0, i);
	return NULL;
}

static int mass(FILE *f, const kb_engine *e)
{
	kb_html_round *rd = calloc(e->n_rounds ? e->n_rounds : 1, sizeof(*rd));
	const char **ids = calloc(e->n_rounds * ROUND_TOP + 1, sizeof(*ids));

	if (!rd || !ids) {
		free(rd), free(ids);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing the html report");
	}
	for (size_t i = 0; i < e->n_rounds; i++) {
		const struct round_rec *r = &e->rounds[i];
		for (size_t k = 0; k < r->n_top; k++)
			ids[i * ROUND_TOP + k] = kb_engine_node_name(e, r->top[k]);
		rd[i].round = r->round;
		rd[i].n_top = r->n_top;
		rd[i].commit = ids + i * ROUND_TOP;
		rd[i].p = r->p;
		rd[i].none = r->none;
	}
	kb_html_section(f, "mass", "Probability mass per round");
	kb_html_mass(f, rd, e->n_rounds, e->commit_url, subject_by_name, (void *)e,
		     e->opt.fix ? "no fix in the range" : "no culprit in the range");
	free(rd), free(ids);
	return 0;
}

static int page_body(FILE *f, void *ctx)
{
	struct page *pg = ctx;
	const kb_engine *e = pg->e;
	kb_bisect_result r;
	double ev_seconds = 0;
	char title[200];
	int rc;

	kb_engine_result(&r, e);
	snprintf(title, sizeof(title), "kbisect bisect%s: %s%.60s", e->opt.fix ? " --fix" : "",
		 r.culprit != KB_MODEL_NONE ? "" : e->opt.fix ? "no single fix" : "no single culprit",
		 r.culprit != KB_MODEL_NONE ? kb_engine_node_name(e, r.culprit) : "");
	kb_html_begin(f, title);
	{
		double t0, tmax;
		ev_range(e, &t0, &tmax);
		ev_seconds = tmax - t0;
	}
	result_block(f, e, &r, ev_seconds);
	candidates(f, e, &r);
	if ((rc = evidence(f, pg, r.culprit)) != 0 || (rc = timeline(f, e)) != 0 ||
	    (rc = mass(f, e)) != 0)
		return rc;
	kb_html_end(f, "kbisect bisect");
	return 0;
}

int kb_engine_html(const kb_engine *e, const char *path)
{
	struct page pg = { 0 };
	const char *slash;

	if (!e || !path)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_engine_html: no engine or path");
	pg.e = e;
	pg.path = path;
	snprintf(pg.cons_dir, sizeof(pg.cons_dir), "%s.consoles", path);
	slash = strrchr(pg.cons_dir, '/');
	pg.cons_rel = slash ? slash + 1 : pg.cons_dir;
	return kb_html_write_file(path, page_body, &pg);
}
