/*
 * analyze/analyze_out.c - the audit of a bisection log as text and JSON (jansson), and
 * the words the HTML page shares with them.
 * Owns: the wording and layout of `kbisect analyze` output and the JSON field names
 * (documented in docs/kbisect-analyze.md).
 * Not: any judgement (analyze/analyze.c computes everything printed here), the HTML
 * page (analyze/analyze_html.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"
#include "common/error_internal.h"
#include "analyze_internal.h"

static const char *kind_name(const kb_analyze_log *log)
{
	return log->kind == KB_ALOG_FIX ? "fix" : "cause";
}

static const char *result_name(int r)
{
	static const char *const names[] = { "none",   "culprit",        "inconclusive",
					     "oldest_release_crashes", "head_crashes", "error" };
	return r >= 0 && r <= KB_ALOG_RES_ERROR ? names[r] : "none";
}

static const char *run_kind_name(int kind)
{
	static const char *const names[] = { "ok", "crashed", "boot_failed",
					     "test_failed", "infra", "ignored" };
	return kind >= 0 && kind <= KB_ALOG_RUN_IGNORED ? names[kind] : "infra";
}

static const char *title_class_name(int c)
{
	return c == KB_ATITLE_TARGET ? "target" : c == KB_ATITLE_INFRA ? "infra" : "other";
}

static const char *agree_word(int agree)
{
	return agree > 0 ? "yes" : agree == 0 ? "NO" : "-";
}

/* "4h21m40s", "6m52s", "40.5s" */
static const char *dur(char *buf, size_t len, double s)
{
	if (!(s >= 0)) {
		snprintf(buf, len, "?");
	} else if (s >= 1e12) {
		snprintf(buf, len, "%.3gs", s);
	} else if (s >= 3600) {
		long t = (long)(s + 0.5);
		snprintf(buf, len, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
	} else if (s >= 60) {
		long t = (long)(s + 0.5);
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	} else {
		snprintf(buf, len, "%.1fs", s);
	}
	return buf;
}

/* The tested commits just older and newer than chain node k (-1 when none). */
static void node_neighbours(const kb_analysis *a, int k, int *older, int *newer)
{
	*older = *newer = -1;
	for (int j = k - 1; j >= 0 && *older < 0; j--)
		*older = a->nodes[j].step;
	for (int j = k + 1; j < a->nnodes && *newer < 0; j++)
		*newer = a->nodes[j].step;
}

/* "772bc52a2c9e" or "1750 untested commits between 98a027ca1eec and 7ec66e5cbd30" */
static void node_words(char *buf, size_t len, const kb_analysis *a, int k)
{
	const kb_analyze_log *log = a->log;
	const kb_anode *nd = &a->nodes[k];
	int older, newer;

	if (nd->step >= 0) {
		snprintf(buf, len, "%.12s", log->steps[nd->step].hash);
		return;
	}
	node_neighbours(a, k, &older, &newer);
	snprintf(buf, len, "%.0f untested commit%s between %.12s and %.12s", nd->weight,
		 nd->weight == 1 ? "" : "s", older >= 0 ? log->steps[older].hash : "the start",
		 newer >= 0 ? log->steps[newer].hash : "the end");
}

/* Describe the supported range in words into buf. */
static void range_words(char *buf, size_t len, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	const char *what = log->kind == KB_ALOG_FIX ? "fix" : "culprit";
	char after[32] = "the start of the range", through[32] = "past the newest tested commit";

	if (a->range_after >= 0)
		snprintf(after, sizeof(after), "%.12s", log->steps[a->range_after].hash);
	if (a->range_through >= 0)
		snprintf(through, sizeof(through), "%.12s", log->steps[a->range_through].hash);
	if (a->range_through < 0 && log->kind == KB_ALOG_FIX && a->range_after >= 0 &&
	    a->range_commits <= 1)
		snprintf(buf, len, "no fix up to %s: the crash still happens on the newest tested "
			 "commit (probability %.2f)", after, a->cred_mass);
	else if (a->range_commits <= 0)
		snprintf(buf, len, "no commit in the range: the evidence points outside it");
	else
		snprintf(buf, len, "the %s is one of ~%.0f commit%s after %s up to and including "
			 "%s (probability %.2f%s)",
			 what, a->range_commits, a->range_commits == 1 ? "" : "s", after, through,
			 a->cred_mass, a->cred_none ? ", including 'no culprit in the range'" : "");
}

/* "1 x SYZFAIL: wrong response packet (infra), 19 x OK" */
static void evidence_words(char *buf, size_t len, const kb_analysis *a, int i)
{
	const kb_alog_step *st = &a->log->steps[i];
	size_t used = 0;

	buf[0] = '\0';
	if (st->build_failed)
		used += (size_t)snprintf(buf, len, "build failed%s%.80s", st->build_error ? ": " : "",
					 st->build_error ? st->build_error : "");
	for (int k = 0; k < st->noutcomes && used + 8 < len; k++) {
		const kb_alog_outcome *oc = &st->outcomes[k];
		const char *sep = used ? ", " : "";
		if (oc->kind == KB_ALOG_RUN_OK)
			used += (size_t)snprintf(buf + used, len - used, "%s%d x OK", sep, oc->count);
		else if (oc->kind == KB_ALOG_RUN_CRASHED)
			used += (size_t)snprintf(buf + used, len - used, "%s%d x '%.100s' (%s)", sep,
						 oc->count, oc->title,
						 title_class_name(kb_analyze__title_class(a, oc->title)));
		else
			used += (size_t)snprintf(buf + used, len - used, "%s%d x %s: %.60s", sep,
						 oc->count, run_kind_name(oc->kind),
						 oc->title ? oc->title : "");
	}
	if (st->runs_estimated && used + 40 < len)
		used += (size_t)snprintf(buf + used, len - used, " (\"all runs\": count estimated)");
	if ((a->st[i].ptarget != a->st[i].target || a->st[i].pclean != a->st[i].clean) &&
	    a->st[i].sig_dup_of >= -1 && used + 80 < len)
		snprintf(buf + used, len - used, "%sidentical kernel to tested commits: %u x "
			 "original crash, %u x OK pooled", used ? "; " : "", a->st[i].ptarget,
			 a->st[i].pclean);
	if (!buf[0])
		snprintf(buf, len, "no runs");
	(void)used;
}

int kb_analyze_write_text(FILE *f, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	char buf[2048], b1[32], b2[32], b3[32];

	fprintf(f, "kbisect analyze: %s (%s bisection, %d tested commits, %d of %d lines "
		   "understood)\n\n",
		log->name, kind_name(log), log->nsteps, log->nknown, log->nlines);
	fprintf(f, "original crash: %s\n",
		a->original_title ? a->original_title : "none (never reproduced in this log)");
	fprintf(f, "  seen again on:");
	{
		int any = 0;
		for (int i = 0; i < log->nsteps; i++)
			if (a->st[i].target) {
				fprintf(f, " %.12s (%s)", log->steps[i].hash,
					kb_analyze__phase_name(log->steps[i].phase));
				any = 1;
			}
		fprintf(f, "%s\n\n", any ? "" : " none");
	}
	fprintf(f, "verdicts (log vs kbisect; the runs each rests on):\n");
	fprintf(f, "  %-3s %-12s %-8s %-5s %-15s %-5s %s\n", "#", "commit", "phase", "log",
		"kbisect", "agree", "runs");
	for (int i = 0; i < log->nsteps; i++) {
		const kb_alog_step *st = &log->steps[i];
		const kb_astep *s = &a->st[i];
		char lv[24];
		snprintf(lv, sizeof(lv), "%s%s", s->log_v == KB_AV_NONE ? "-" :
			 kb_analyze__verdict_word(log, s->log_v), s->log_implied ? "*" : "");
		evidence_words(buf, sizeof(buf), a, i);
		fprintf(f, "  %-3d %-12.12s %-8s %-5s %-15s %-5s %s\n", i + 1, st->hash,
			kb_analyze__phase_name(st->phase), lv, kb_analyze__verdict_word(log, s->kb_v),
			agree_word(s->agree), buf);
	}
	fprintf(f, "  (* = no 'git bisect' line: verdict derived from the runs)\n\n");

	fprintf(f, "identical kernel signatures (builds and tests a cache would have skipped):\n");
	if (!a->ngroups)
		fprintf(f, "  none\n");
	for (int g = 0; g < a->ngroups; g++) {
		fprintf(f, "  %.16s:", a->groups[g].sig);
		for (int j = 0; j < a->groups[g].nsteps; j++) {
			const kb_alog_step *st = &log->steps[a->groups[g].steps[j]];
			fprintf(f, " %.12s (%s)", st->hash, kb_analyze__phase_name(st->phase));
		}
		fprintf(f, "\n");
	}
	fprintf(f, "\n");

	if (log->culprit[0]) {
		fprintf(f, "reported %s: %.12s %s\n", log->kind == KB_ALOG_FIX ? "fix" : "culprit",
			log->culprit, log->culprit_subject ? log->culprit_subject : "");
		fprintf(f, "  probability under the model: %.4f -> %s\n", a->culprit_prob,
			a->supported ? "supported" : "NOT SUPPORTED");
		if (a->walk_step >= 0)
			fprintf(f, "  (%.4f from the bisection, times 1 - %.4f: the chance that the "
				   "good release %s is a false negative)\n", a->model_prob, a->walk_fn,
				log->steps[a->walk_step].release ? log->steps[a->walk_step].release
								 : log->steps[a->walk_step].hash);
	} else {
		fprintf(f, "reported result: %s (no single commit)\n", result_name(log->result));
	}
	range_words(buf, sizeof(buf), a);
	fprintf(f, "  the evidence supports: %s\n", buf);
	if (a->ncred > 1) {
		fprintf(f, "  made of (model hypotheses%s):\n",
			log->kind == KB_ALOG_FIX ? ": the last commit that still crashes" : "");
		for (int j = 0; j < a->ncred; j++) {
			node_words(buf, sizeof(buf), a, a->cred_nodes[j]);
			fprintf(f, "    %.4f  %s\n", a->nodes[a->cred_nodes[j]].post, buf);
		}
	}
	fprintf(f, "  model: reproduction rate q = %.2f (90%%: %.2f-%.2f), false positives "
		   "eps = %.4f, P(no culprit in range) = %.4f\n\n",
		a->q_mean, a->q_lo, a->q_hi, a->eps_mean, a->none_prob);

	fprintf(f, "findings:\n");
	for (int i = 0; i < a->nfindings; i++)
		fprintf(f, "  - %s\n", a->findings[i]);
	fprintf(f, "\n");

	fprintf(f, "cost:\n");
	fprintf(f, "  syzbot: %s total (build %s, test %s) for %d builds and %d tests\n",
		dur(b1, sizeof(b1), log->total_time), dur(b2, sizeof(b2), log->build_time),
		dur(b3, sizeof(b3), log->test_time), a->n_builds, a->n_tests);
	fprintf(f, "  averages: %s per build, %s per test\n", dur(b1, sizeof(b1), a->avg_build),
		dur(b2, sizeof(b2), a->avg_test));
	fprintf(f, "  identical signatures: %d build%s and %d test%s avoided (%s)\n",
		a->builds_avoided, a->builds_avoided == 1 ? "" : "s", a->tests_avoided,
		a->tests_avoided == 1 ? "" : "s", dur(b1, sizeof(b1), a->saved_time));
	fprintf(f, "  with %u parallel workers: %d test rounds instead of %d, about %s\n",
		a->workers, a->kb_rounds, a->syz_rounds, dur(b1, sizeof(b1), a->kb_time));
	return ferror(f) ? kb_error_os("cannot write the analysis") : 0;
}

/* ---- JSON ---- */

static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* A quantity that is negative when unknown: null then, else the number. */
static json_t *jknown(double v)
{
	return v >= 0 ? jnum(v) : json_null();
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jhash(const kb_analyze_log *log, int step)
{
	return step >= 0 ? json_string(log->steps[step].hash) : json_null();
}

static json_t *step_json(const kb_analysis *a, int i)
{
	const kb_analyze_log *log = a->log;
	const kb_alog_step *st = &log->steps[i];
	const kb_astep *s = &a->st[i];
	json_t *o = json_object(), *titles = json_array();

	for (int k = 0; k < st->noutcomes; k++) {
		const kb_alog_outcome *oc = &st->outcomes[k];
		json_t *t = json_object();
		json_object_set_new(t, "outcome", json_string(run_kind_name(oc->kind)));
		json_object_set_new(t, "title", jstr(oc->title));
		json_object_set_new(t, "class", oc->kind == KB_ALOG_RUN_CRASHED ?
			json_string(title_class_name(kb_analyze__title_class(a, oc->title))) :
			json_string(oc->kind == KB_ALOG_RUN_OK ? "ok" : "censored"));
		json_object_set_new(t, "count", json_integer(oc->count));
		json_array_append_new(titles, t);
	}
	json_object_set_new(o, "commit", json_string(st->hash));
	json_object_set_new(o, "subject", jstr(st->subject));
	json_object_set_new(o, "phase", json_string(kb_analyze__phase_name(st->phase)));
	json_object_set_new(o, "release", jstr(st->release));
	json_object_set_new(o, "line", json_integer(st->line));
	json_object_set_new(o, "signature", st->sig[0] ? json_string(st->sig) : json_null());
	json_object_set_new(o, "log_verdict", s->log_v == KB_AV_NONE ? json_null() :
			    json_string(kb_analyze__verdict_word(log, s->log_v)));
	json_object_set_new(o, "log_verdict_implied", json_boolean(s->log_implied));
	json_object_set_new(o, "kbisect_verdict",
			    json_string(kb_analyze__verdict_word(log, s->kb_v)));
	json_object_set_new(o, "agrees", s->agree < 0 ? json_null() : json_boolean(s->agree));
	json_object_set_new(o, "rests_on", s->rests_on < 0 ? json_null() :
			    json_string(title_class_name(s->rests_on)));
	json_object_set_new(o, "runs", json_integer(st->nruns));
	json_object_set_new(o, "runs_estimated", json_boolean(st->runs_estimated));
	json_object_set_new(o, "target_crashes", json_integer(s->target));
	json_object_set_new(o, "clean_runs", json_integer(s->clean));
	json_object_set_new(o, "censored_runs", json_integer(s->censored));
	json_object_set_new(o, "infra_crashes", json_integer(s->infra));
	json_object_set_new(o, "other_crashes", json_integer(s->other));
	json_object_set_new(o, "titles", titles);
	json_object_set_new(o, "build_failed", json_boolean(st->build_failed));
	json_object_set_new(o, "build_error", jstr(st->build_error));
	json_object_set_new(o, "log_likelihood_ratio", jnum(s->llr));
	json_object_set_new(o, "p_bug", jknown(s->p_bug));
	json_object_set_new(o, "p_false_negative", jknown(s->p_fn));
	json_object_set_new(o, "in_model", json_boolean(s->node >= 0));
	json_object_set_new(o, "same_signature_as", jhash(log, s->sig_dup_of));
	return o;
}

/* The supported range, the nodes of its credible set and the most likely culprit, as
 * the keys "supported_range", "supported_set" and "most_likely" of o. */
static void range_json(json_t *o, const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	json_t *x, *arr;

	x = json_object();
	json_object_set_new(x, "after", jhash(log, a->range_after));
	json_object_set_new(x, "through", jhash(log, a->range_through));
	json_object_set_new(x, "commits", jnum(a->range_commits));
	json_object_set_new(x, "probability", jnum(a->cred_mass));
	json_object_set_new(x, "includes_no_culprit", json_boolean(a->cred_none));
	json_object_set_new(o, "supported_range", x);
	arr = json_array();
	for (int j = 0; j < a->ncred; j++) {
		const kb_anode *nd = &a->nodes[a->cred_nodes[j]];
		json_t *e = json_object();
		int older, newer;
		node_neighbours(a, a->cred_nodes[j], &older, &newer);
		json_object_set_new(e, "commit", jhash(log, nd->step));
		json_object_set_new(e, "after", nd->step >= 0 ? json_null() : jhash(log, older));
		json_object_set_new(e, "before", nd->step >= 0 ? json_null() : jhash(log, newer));
		json_object_set_new(e, "commits", jnum(nd->weight));
		json_object_set_new(e, "probability", jnum(nd->post));
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "supported_set", arr);
	x = json_object();
	if (a->top_node >= 0) {
		const kb_anode *nd = &a->nodes[a->top_node];
		int below, above;
		node_neighbours(a, a->top_node, &below, &above);
		json_object_set_new(x, "commit", jhash(log, nd->step));
		json_object_set_new(x, "commits", jnum(nd->weight));
		json_object_set_new(x, "after", jhash(log, below));
		json_object_set_new(x, "before", jhash(log, above));
	} else {
		json_object_set_new(x, "commit", json_null());
		json_object_set_new(x, "commits", json_integer(0));
	}
	json_object_set_new(x, "probability", jnum(a->top_prob));
	json_object_set_new(o, "most_likely", x);
}

/* The groups of steps with one kernel signature: [{"signature", "commits"}]. */
static json_t *signatures_json(const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	json_t *arr;

	arr = json_array();
	for (int g = 0; g < a->ngroups; g++) {
		json_t *grp = json_object(), *cs = json_array();
		for (int j = 0; j < a->groups[g].nsteps; j++) {
			const char *h = log->steps[a->groups[g].steps[j]].hash;
			int dup = 0;
			for (size_t k = 0; k < json_array_size(cs); k++)
				dup |= !strcmp(json_string_value(json_array_get(cs, k)), h);
			if (!dup)
				json_array_append_new(cs, json_string(h));
		}
		json_object_set_new(grp, "signature", json_string(a->groups[g].sig));
		json_object_set_new(grp, "commits", cs);
		json_array_append_new(arr, grp);
	}
	return arr;
}

/* What the bisection cost and what kbisect would have saved: the "cost" object. */
static json_t *cost_json(const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	json_t *x;

	x = json_object();
	json_object_set_new(x, "total_seconds", jknown(log->total_time));
	json_object_set_new(x, "build_seconds", jknown(log->build_time));
	json_object_set_new(x, "test_seconds", jknown(log->test_time));
	json_object_set_new(x, "builds", json_integer(a->n_builds));
	json_object_set_new(x, "tests", json_integer(a->n_tests));
	json_object_set_new(x, "avg_build_seconds", jknown(a->avg_build));
	json_object_set_new(x, "avg_test_seconds", jknown(a->avg_test));
	json_object_set_new(x, "builds_avoided", json_integer(a->builds_avoided));
	json_object_set_new(x, "tests_avoided", json_integer(a->tests_avoided));
	json_object_set_new(x, "seconds_saved_by_signatures", jnum(a->saved_time));
	json_object_set_new(x, "workers", json_integer(a->workers));
	json_object_set_new(x, "syzbot_test_rounds", json_integer(a->syz_rounds));
	json_object_set_new(x, "kbisect_test_rounds", json_integer(a->kb_rounds));
	json_object_set_new(x, "kbisect_seconds", jknown(a->kb_time));
	return x;
}

static json_t *analysis_json(const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	json_t *o = json_object(), *arr, *x;

	json_object_set_new(o, "log", json_string(log->name));
	json_object_set_new(o, "kind", json_string(kind_name(log)));
	json_object_set_new(o, "original_title",
			    a->original_title ? json_string(a->original_title) : json_null());
	arr = json_array();
	for (int i = 0; i < a->ntargets; i++)
		json_array_append_new(arr, json_string(a->targets[i]));
	json_object_set_new(o, "target_titles", arr);
	arr = json_array();
	for (int i = 0; i < a->ncompanions; i++)
		json_array_append_new(arr, json_string(a->companions[i]));
	json_object_set_new(o, "companion_titles", arr);
	arr = json_array();
	for (int i = 0; i < log->nsteps; i++)
		if (a->st[i].target)
			json_array_append_new(arr, json_string(log->steps[i].hash));
	json_object_set_new(o, "original_seen_on", arr);
	json_object_set_new(o, "result", json_string(result_name(log->result)));
	json_object_set_new(o, "reported_culprit", log->culprit[0] ? json_string(log->culprit) :
			    json_null());
	json_object_set_new(o, "reported_culprit_subject", jstr(log->culprit_subject));
	json_object_set_new(o, "culprit_probability", jnum(a->culprit_prob));
	json_object_set_new(o, "model_culprit_probability", jnum(a->model_prob));
	if (a->walk_step >= 0) {
		const kb_alog_step *ws = &log->steps[a->walk_step];
		x = json_object();
		json_object_set_new(x, "commit", json_string(ws->hash));
		json_object_set_new(x, "release", jstr(ws->release));
		json_object_set_new(x, "clean_runs", json_integer(a->st[a->walk_step].pclean));
		json_object_set_new(x, "probability", jnum(a->walk_fn));
		json_object_set_new(o, "release_false_negative", x);
	} else {
		json_object_set_new(o, "release_false_negative", json_null());
	}
	json_object_set_new(o, "supported", json_boolean(a->supported));
	range_json(o, a);
	json_object_set_new(o, "no_culprit_probability", jnum(a->none_prob));
	x = json_object();
	json_object_set_new(x, "q_mean", jnum(a->q_mean));
	json_object_set_new(x, "q_lo", jnum(a->q_lo));
	json_object_set_new(x, "q_hi", jnum(a->q_hi));
	json_object_set_new(x, "eps_mean", jnum(a->eps_mean));
	json_object_set_new(o, "rates", x);
	json_object_set_new(o, "range_size_estimate", jnum(a->range_size));
	arr = json_array();
	for (int i = 0; i < log->nsteps; i++)
		json_array_append_new(arr, step_json(a, i));
	json_object_set_new(o, "verdicts", arr);
	arr = signatures_json(a);
	json_object_set_new(o, "identical_signatures", arr);
	json_object_set_new(o, "culprit_signature", log->culprit_sig[0] ?
			    json_string(log->culprit_sig) : json_null());
	json_object_set_new(o, "parent_signature", log->parent_sig[0] ?
			    json_string(log->parent_sig) : json_null());
	json_object_set_new(o, "culprit_changes_kernel",
			    log->culprit_sig[0] && log->parent_sig[0] ?
			    json_boolean(strcmp(log->culprit_sig, log->parent_sig) != 0) : json_null());
	x = cost_json(a);
	json_object_set_new(o, "cost", x);
	arr = json_array();
	for (int i = 0; i < a->nfindings; i++)
		json_array_append_new(arr, json_string(a->findings[i]));
	json_object_set_new(o, "findings", arr);
	return o;
}

int kb_analyze_json(char **out, const kb_analysis *a)
{
	json_t *o;

	if (!out || !a)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE, "kb_analyze_json: NULL argument");
	if (!(o = analysis_json(a)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory building the JSON report");
	*out = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	json_decref(o);
	return *out ? 0 : kb_error_set(KB_ERRCLASS_OS, "out of memory building the JSON report");
}

/* ---- for the HTML page (analyze/analyze_html.c) ---- */

const char *kb_analyze__dur(char *buf, size_t len, double s)
{
	return dur(buf, len, s);
}

void kb_analyze__node_words(char *buf, size_t len, const kb_analysis *a, int k)
{
	node_words(buf, len, a, k);
}

void kb_analyze__range_words(char *buf, size_t len, const kb_analysis *a)
{
	range_words(buf, len, a);
}

void kb_analyze__evidence_words(char *buf, size_t len, const kb_analysis *a, int i)
{
	evidence_words(buf, len, a, i);
}

const char *kb_analyze__result_name(int r)
{
	return result_name(r);
}

const char *kb_analyze__agree_word(int agree)
{
	return agree_word(agree);
}
