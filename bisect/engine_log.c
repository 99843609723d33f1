/*
 * bisect/engine_log.c - the lines of the bisection log that give it the shape of
 * syzbot's bisect.txt (so that `kbisect analyze` and existing tooling read it): the
 * "# git bisect good|bad|skip X" verdicts as the engine settles them, and the end of
 * the log ("X is the first bad commit" with the commit header, or the set of an
 * inconclusive result; in fix mode git's words for --term-old crashing --term-new
 * fixed: "# git bisect crashing|fixed X", "X is the first fixed commit"; "culprit signature:", "parent  signature:", "revisions tested:
 * N, total time: ... (build: ..., test: ...)", "first bad commit: X subject").
 * Owns: those lines and their words.
 * Not: the per-test lines ("testing commit", "kernel signature:", "run #i:"), which
 * engine.c writes as it absorbs each outcome; deciding anything.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

enum { V_NONE, V_GOOD, V_BAD, V_SKIP };

void kb_engine__log(kb_engine *e, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!e->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->o.log(e->o.log_ctx ? e->o.log_ctx : e->o.ctx, buf);
}

/* the verdict the evidence settled on node: bad or good once the posterior that its
 * kernel is buggy is past the confidence either way, skip for a commit that did not
 * build or boot; V_NONE while unsettled or untested */
static int settled(const kb_engine *e, size_t node)
{
	const struct node_rec *nr = &e->rec[node];
	double b;

	if (nr->skipped)
		return V_NONE;
	if (nr->built < 0)
		return V_SKIP;
	if (!nr->tests)
		return V_NONE;
	b = kb_model_buggy(e->m, node);
	if (b >= e->opt.confidence)
		return V_BAD;
	if (b <= 1 - e->opt.confidence)
		return V_GOOD;
	return V_NONE;
}

static const char *const verdict_word[] = { "", "good", "bad", "skip" };
/* fix mode: git bisect's words with --term-old crashing --term-new fixed */
static const char *const verdict_word_fix[] = { "", "fixed", "crashing", "skip" };

static const char *word(const kb_engine *e, int v)
{
	return e->opt.fix ? verdict_word_fix[v] : verdict_word[v];
}

void kb_engine__log_verdicts(kb_engine *e)
{
	for (size_t c = 0; c < e->n; c++) {
		int v = settled(e, c);
		if (v == V_NONE || v == e->rec[c].verdict)
			continue;
		e->rec[c].verdict = v;
		kb_engine__log(e, "# git bisect %s %s", word(e, v), kb_engine_node_name(e, c));
	}
}

/* s seconds as Go prints a duration ("4h21m40s", "9m0s", "12.5s"): syzbot's form, which
 * `kbisect analyze` reads back */
static void go_duration(char *buf, size_t len, double s)
{
	long long t;

	if (!(s > 0))
		s = 0;
	if (s < 60) {
		snprintf(buf, len, "%.1fs", s);
		return;
	}
	t = llround(s);
	if (t >= 3600)
		snprintf(buf, len, "%lldh%lldm%llds", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%lldm%llds", t / 60, t % 60);
}

/* "culprit signature:" and "parent  signature:" (the first parent with a known one) */
static void log_signatures(kb_engine *e, size_t culprit)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key k;

	if (!kb_model_signature(&k, e->m, culprit))
		return;
	kb_key_to_hex(hex, &k);
	kb_engine__log(e, "culprit signature: %s", hex);
	for (size_t i = 0; i < kb_model_n_parents(e->m, culprit); i++)
		if (kb_model_signature(&k, e->m, kb_model_parent(e->m, culprit, i))) {
			kb_key_to_hex(hex, &k);
			kb_engine__log(e, "parent  signature: %s", hex);
			break;
		}
}

/* A commit the result rests on but that was never tested itself (its kernel is one
 * that was: learned from a cached build or a dependency skip): a step of its own in
 * the log, with no runs, so that readers of the log (kbisect analyze) pool it with the
 * tested kernel of the same signature. */
static void log_untested(kb_engine *e, size_t node)
{
	const struct node_rec *nr = &e->rec[node];
	char hex[KB_KEY_HEXLEN + 1];
	kb_key k;

	if (nr->tests || nr->skipped || nr->built < 0 || !kb_model_signature(&k, e->m, node))
		return;
	kb_key_to_hex(hex, &k);
	kb_engine__log(e, "testing commit %s (kernel identical to a tested one: no runs of its "
		       "own)", kb_engine_node_name(e, node));
	if (node <= e->opt.bad)
		kb_engine__log(e, "commits after it up to the bad commit: %zu", e->opt.bad - node);
	kb_engine__log(e, "kernel signature: %s", hex);
}

/* "X is the first bad commit" and git's commit header */
static void log_culprit(kb_engine *e, size_t c)
{
	const char *subject, *author, *date, *name = kb_engine_node_name(e, c);

	for (size_t i = 0; i < kb_model_n_parents(e->m, c); i++)
		log_untested(e, kb_model_parent(e->m, c, i));
	if (!e->rec[c].tests) {
		log_untested(e, c);
		e->rec[c].verdict = V_NONE; /* its verdict line goes after its step */
	}
	kb_engine_node_info(e, c, &subject, &author, &date);
	/* the verdict that names it, as git bisect has it (a fix: its kernel is clean) */
	if (e->rec[c].verdict != (e->opt.fix ? V_GOOD : V_BAD)) {
		e->rec[c].verdict = e->opt.fix ? V_GOOD : V_BAD;
		kb_engine__log(e, "# git bisect %s %s", word(e, e->rec[c].verdict), name);
	}
	kb_engine__log(e, "%s is the first %s commit", name, e->opt.fix ? "fixed" : "bad");
	kb_engine__log(e, "commit %s", name);
	if (author)
		kb_engine__log(e, "Author: %s", author);
	if (date)
		kb_engine__log(e, "Date:   %s", date);
	if (subject) {
		kb_engine__log(e, "%s", "");
		kb_engine__log(e, "    %s", subject);
	}
	kb_engine__log(e, "%s", "");
	log_signatures(e, c);
}

void kb_engine__log_result(kb_engine *e)
{
	kb_bisect_result r;
	unsigned tested = 0;
	char total[48], build[48], test[48];
	double p;
	size_t top;

	if (e->result_logged || e->stop == KB_STOP_RUNNING)
		return;
	e->result_logged = 1;
	kb_engine__log_verdicts(e);
	kb_engine_result(&r, e);
	top = kb_model_top(e->m, &p);
	if (r.culprit != KB_MODEL_NONE) {
		log_culprit(e, r.culprit);
	} else if (r.stop == KB_STOP_NO_REPRO) {
		kb_engine__log(e, "error: the reproducer did not crash %s commit %s",
			       e->opt.fix ? "crashing" : "bad", kb_engine_node_name(e, e->opt.bad));
	} else if (r.stop == KB_STOP_NONE && e->opt.fix) {
		kb_engine__log(e, "the crash is still there on the fixed commit: no fix in this "
			       "range (probability %.4f)", p);
	} else if (r.stop == KB_STOP_NONE) {
		kb_engine__log(e, "the crash already happened on the good commit: no culprit in "
			       "this range (probability %.4f)", p);
	} else {
		kb_engine__log(e, "bisection is inconclusive, the first %s commit could be any "
			       "of (%s, together %.4f):", e->opt.fix ? "fixed" : "bad",
			       kb_engine_stop_name(r.stop), r.probability);
		for (size_t i = 0; i < r.n_set; i++)
			if (r.set[i] != KB_MODEL_NONE)
				kb_engine__log(e, "%s", kb_engine_node_name(e, r.set[i]));
		if (top != KB_MODEL_NONE)
			kb_engine__log(e, "most likely: %s %.4f", kb_engine_node_name(e, top), p);
	}
	for (size_t c = 0; c < e->n; c++)
		tested += !e->rec[c].skipped && (e->rec[c].tests || e->rec[c].built < 0);
	go_duration(total, sizeof(total), r.seconds);
	go_duration(build, sizeof(build), e->sum_build);
	go_duration(test, sizeof(test), e->sum_test);
	if (r.flags & KB_FLAG_FLAKY)
		kb_engine__log(e, "reproducer is flaky (q = %.2f [%.2f, %.2f])", r.q, r.q_lo, r.q_hi);
	kb_engine__log(e, "revisions tested: %u, total time: %s (build: %s, test: %s)", tested,
		       total, build, test);
	if (r.culprit != KB_MODEL_NONE) {
		const char *subject;
		kb_engine_node_info(e, r.culprit, &subject, NULL, NULL);
		kb_engine__log(e, "%s probability: %.4f", e->opt.fix ? "fix" : "culprit",
			       r.probability);
		kb_engine__log(e, "first %s commit: %s%s%s", e->opt.fix ? "fixed" : "bad",
			       kb_engine_node_name(e, r.culprit),
			       subject ? " " : "", subject ? subject : "");
	}
}
