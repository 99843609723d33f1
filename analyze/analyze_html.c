/*
 * analyze/analyze_html.c - the audit of a bisection log as a self-contained HTML page,
 * written with the template of `kbisect bisect --html` (kbisect/html.h): the crash and
 * the reported result with the verdict, the supported range, the findings, the evidence
 * per tested commit (runs per class and title), the posterior over the range, the
 * identical kernels and the cost.
 * Owns: what the analyze page shows.
 * Not: the look of the page (common/html.c), any judgement (analyze/analyze.c), the
 * words (analyze/analyze_out.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/analyze.h"
#include "kbisect/html.h"
#include "common/error_internal.h"
#include "analyze_internal.h"

static int html_verdict(int av)
{
	return av == KB_AV_CRASH ? KB_HTML_V_BAD : av == KB_AV_NOCRASH ? KB_HTML_V_GOOD :
	       av == KB_AV_SKIP ? KB_HTML_V_SKIP : KB_HTML_V_NONE;
}

static int run_class(const kb_analysis *a, const kb_alog_outcome *oc)
{
	switch (oc->kind) {
	case KB_ALOG_RUN_OK:
		return KB_HTML_RUN_OK;
	case KB_ALOG_RUN_CRASHED: {
		int c = kb_analyze__title_class(a, oc->title);
		return c == KB_ATITLE_TARGET ? KB_HTML_RUN_TARGET :
		       c == KB_ATITLE_INFRA ? KB_HTML_RUN_INFRA : KB_HTML_RUN_OTHER;
	}
	case KB_ALOG_RUN_BOOT_FAILED:
	case KB_ALOG_RUN_TEST_FAILED:
		return KB_HTML_RUN_BOOT;
	default:
		return KB_HTML_RUN_INFRA;
	}
}

static void result(FILE *f, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	kb_html_result h = { 0 };
	const char *titles[1], *flags[2];
	char heading[300], summary[2300], range[2048], facts[300], b1[32];
	size_t nf = 0;

	snprintf(heading, sizeof(heading), "kbisect analyze: %.250s", log->name);
	h.heading = heading;
	titles[0] = a->original_title ? a->original_title :
		    "none (never reproduced in this log)";
	h.titles = titles, h.n_titles = 1;
	h.commit_url = a->commit_url;
	h.probability = -1;
	kb_analyze__range_words(range, sizeof(range), a);
	if (log->culprit[0]) {
		h.what = log->kind == KB_ALOG_FIX ? "reported fix" : "reported culprit";
		h.commit = log->culprit;
		h.subject = log->culprit_subject;
		h.badge = a->supported ? "SUPPORTED" : "NOT SUPPORTED";
		h.badge_good = a->supported;
		h.probability = a->culprit_prob;
		snprintf(summary, sizeof(summary), "%s bisection, %d tested commits. The evidence "
			 "supports: %s.", log->kind == KB_ALOG_FIX ? "Fix" : "Cause", log->nsteps,
			 range);
	} else {
		snprintf(summary, sizeof(summary), "%s bisection, %d tested commits. Reported "
			 "result: %s. The evidence supports: %s.",
			 log->kind == KB_ALOG_FIX ? "Fix" : "Cause", log->nsteps,
			 kb_analyze__result_name(log->result), range);
	}
	h.summary = summary;
	h.q = a->q_mean, h.q_lo = a->q_lo, h.q_hi = a->q_hi, h.eps = a->eps_mean;
	if (log->flaky)
		flags[nf++] = "flaky reproducer (the log says)";
	if (log->culprit_merge)
		flags[nf++] = "merge commit";
	h.flags = flags, h.n_flags = nf;
	snprintf(facts, sizeof(facts), "%d builds and %d tests in the log, %s in total.",
		 a->n_builds, a->n_tests, kb_analyze__dur(b1, sizeof(b1), log->total_time));
	h.facts = facts;
	kb_html_result_block(f, &h);
}

static void candidates(FILE *f, const kb_analysis *a)
{
	char buf[256];

	if (a->ncred <= 1)
		return;
	kb_html_section(f, "candidates", "Candidates (the supported range)");
	fputs("<table id=candidates><tr><th>commits</th><th>probability</th></tr>\n", f);
	for (int j = 0; j < a->ncred; j++) {
		kb_analyze__node_words(buf, sizeof(buf), a, a->cred_nodes[j]);
		fputs("<tr><td>", f);
		kb_html_text(f, buf);
		fprintf(f, "</td><td>%.4f</td></tr>\n", a->nodes[a->cred_nodes[j]].post);
	}
	fputs("</table>\n", f);
}

static int evidence(FILE *f, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	static const char *cols[] = { "#", "phase", "log's verdict", "agree" };

	kb_html_section(f, "evidence", "Evidence per tested commit");
	kb_html_run_legend(f);
	kb_html_evidence_begin(f, cols, 4, "P(bug)");
	for (int i = 0; i < log->nsteps; i++) {
		const kb_alog_step *st = &log->steps[i];
		const kb_astep *s = &a->st[i];
		kb_html_run *runs = calloc(st->noutcomes ? (size_t)st->noutcomes : 1, sizeof(*runs));
		kb_html_test test = { .runs = runs, .n_runs = (size_t)st->noutcomes };
		kb_html_row row = { 0 };
		char num[16], phase[128], logv[64], note[2048];
		const char *extra[4] = { num, phase, logv, kb_analyze__agree_word(s->agree) };

		if (!runs)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory writing the html page");
		for (int k = 0; k < st->noutcomes; k++) {
			runs[k].cls = run_class(a, &st->outcomes[k]);
			runs[k].title = st->outcomes[k].title;
			runs[k].count = st->outcomes[k].count > 0 ? (unsigned)st->outcomes[k].count : 1;
		}
		snprintf(num, sizeof(num), "%d", i + 1);
		snprintf(phase, sizeof(phase), "%s%s%.100s", kb_analyze__phase_name(st->phase),
			 st->release ? " " : "", st->release ? st->release : "");
		snprintf(logv, sizeof(logv), "%s%s", s->log_v == KB_AV_NONE ? "-" :
			 kb_analyze__verdict_word(log, s->log_v), s->log_implied ? "*" : "");
		kb_analyze__evidence_words(note, sizeof(note), a, i);
		row.commit = st->hash;
		row.subject = st->subject;
		row.commit_url = a->commit_url;
		row.signature = st->sig;
		row.verdict = html_verdict(s->kb_v);
		row.verdict_word = kb_analyze__verdict_word(log, s->kb_v);
		row.tests = &test, row.n_tests = st->noutcomes ? 1 : 0;
		row.p = s->p_bug;
		row.note = note;
		row.extra = extra, row.n_extra = 4;
		row.highlight = i == a->culprit_step;
		kb_html_evidence_row(f, &row);
		free(runs);
	}
	kb_html_evidence_end(f);
	fputs("<p class=note>Verdict: kbisect's reading of the runs under the model; "
	      "* no 'git bisect' line: the log's verdict is derived from the runs.</p>\n", f);
	return 0;
}

/* The posterior over the linearised range: one bar per chain node, old to new. */
static void chain(FILE *f, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	double maxp = 0;

	kb_html_section(f, "chain", "Posterior over the linearised range (old \xe2\x86\x92 new)");
	fputs("<div class=chain id=chain>", f);
	for (int k = 0; k < a->nnodes; k++)
		if (a->nodes[k].post > maxp)
			maxp = a->nodes[k].post;
	for (int k = 0; k < a->nnodes; k++) {
		const kb_anode *nd = &a->nodes[k];
		int is_culprit = nd->step >= 0 && nd->step == a->culprit_step;
		double h = maxp > 0 ? 130.0 * nd->post / maxp : 0;
		fprintf(f, "<div class=col><div class=area><div class='node%s%s' "
			   "style='height:%.1fpx' title='",
			nd->step < 0 ? " block" : "", is_culprit ? " culprit" : "", h < 1 ? 1 : h);
		if (nd->step >= 0)
			fprintf(f, "%.12s", log->steps[nd->step].hash);
		else
			fprintf(f, "%.0f untested commits", nd->weight);
		fprintf(f, ": P=%.4f'></div></div><div class='lab%s'>", nd->post,
			is_culprit ? " culprit" : "");
		if (nd->step >= 0)
			fprintf(f, "%.7s%s", log->steps[nd->step].hash, is_culprit ? " culprit" : "");
		else
			fprintf(f, "%.0f", nd->weight);
		fputs("</div></div>", f);
	}
	fputs("</div>\n<p class=note>Dark bars: tested commits; light bars: blocks of untested "
	      "commits (hover for details; the label is their count); red: the reported "
	      "culprit. Positions come from git's &quot;Bisecting: N revisions left&quot; "
	      "lines.</p>\n", f);
}

/* The identical kernel signatures and the cost table. */
static void cost(FILE *f, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	char b1[32], b2[32];

	kb_html_section(f, "signatures", "Identical kernel signatures");
	if (!a->ngroups)
		fputs("<p>none</p>\n", f);
	for (int g = 0; g < a->ngroups; g++) {
		fprintf(f, "<p class=mono>%.16s&hellip;:", a->groups[g].sig);
		for (int j = 0; j < a->groups[g].nsteps; j++) {
			const kb_alog_step *st = &log->steps[a->groups[g].steps[j]];
			fprintf(f, " %.12s (%s)", st->hash, kb_analyze__phase_name(st->phase));
		}
		fputs("</p>\n", f);
	}
	kb_html_section(f, "cost", "Cost");
	fputs("<table id=cost>\n", f);
	fprintf(f, "<tr><td>syzbot</td><td>%s total for %d builds and %d tests</td></tr>\n",
		kb_analyze__dur(b1, sizeof(b1), log->total_time), a->n_builds, a->n_tests);
	fprintf(f, "<tr><td>averages</td><td>%s per build, %s per test</td></tr>\n",
		kb_analyze__dur(b1, sizeof(b1), a->avg_build),
		kb_analyze__dur(b2, sizeof(b2), a->avg_test));
	fprintf(f, "<tr><td>identical signatures</td><td>%d builds, %d tests avoided (%s)"
		   "</td></tr>\n",
		a->builds_avoided, a->tests_avoided, kb_analyze__dur(b1, sizeof(b1), a->saved_time));
	fprintf(f, "<tr><td>%u parallel workers</td><td>%d test rounds instead of %d, about %s"
		   "</td></tr>\n</table>\n",
		a->workers, a->kb_rounds, a->syz_rounds,
		kb_analyze__dur(b1, sizeof(b1), a->kb_time));
}

static int page(FILE *f, void *ctx)
{
	const kb_analysis *a = ctx;
	char title[300];
	int rc;

	snprintf(title, sizeof(title), "kbisect analyze: %.250s", a->log->name);
	kb_html_begin(f, title);
	result(f, a);
	candidates(f, a);
	kb_html_section(f, "findings", "Findings");
	fputs("<ul id=findings>\n", f);
	for (int i = 0; i < a->nfindings; i++) {
		fputs("<li>", f);
		kb_html_text(f, a->findings[i]);
		fputs("</li>\n", f);
	}
	fputs("</ul>\n", f);
	if ((rc = evidence(f, a)) != 0)
		return rc;
	chain(f, a);
	cost(f, a);
	kb_html_end(f, "kbisect analyze");
	return 0;
}

int kb_analyze_write_html(const kb_analysis *a, const char *path)
{
	if (!a || !path)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "kb_analyze_write_html: NULL argument");
	return kb_html_write_file(path, page, (void *)a);
}
