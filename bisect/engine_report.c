/*
 * bisect/engine_report.c - what the bisection engine tells when asked: its result
 * (culprit or credible set, flags, counters), the names of its stops, probabilities as
 * text, and its report as JSON.
 * Owns: the JSON field names of a bisection's report.
 * Not: deciding anything (bisect/engine.c), printing the CLI's text (cli/cmd_bisect.c),
 * the HTML report (bisect/engine_html.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "engine_internal.h"

static const char *nname(const kb_engine *e, size_t node)
{
	return kb_engine_node_name(e, node);
}

const char *kb_engine_stop_name(int stop)
{
	switch (stop) {
	case KB_STOP_RUNNING: return "running";
	case KB_STOP_CONFIDENT: return "confident";
	case KB_STOP_BUDGET: return "budget";
	case KB_STOP_UNTESTABLE: return "untestable";
	case KB_STOP_NO_REPRO: return "no_repro";
	case KB_STOP_NONE: return "no_culprit";
	case KB_STOP_UNSETTLED: return "unsettled";
	}
	return "unknown";
}
const char *kb_engine_prob_text(double p, char *buf, size_t n)
{
	if (p >= 0.99995)
		snprintf(buf, n, "> 0.9999");
	else
		snprintf(buf, n, "%.4f", p);
	return buf;
}

const char *kb_engine_why(const kb_engine *e)
{
	return e ? e->why : "";
}

void kb_engine_result(kb_bisect_result *out, const kb_engine *e)
{
	double p;
	size_t top;

	memset(out, 0, sizeof(*out));
	out->culprit = KB_MODEL_NONE;
	if (!e)
		return;
	out->stop = e->stop;
	top = kb_model_top(e->m, &p);
	if (e->stop == KB_STOP_CONFIDENT) {
		out->culprit = top;
		out->probability = p;
	} else {
		out->probability = e->set_mass;
	}
	out->set = e->set;
	out->n_set = e->n_set;
	kb_model_rates(e->m, &out->q, &out->q_lo, &out->q_hi, &out->eps);
	if (top != KB_MODEL_NONE) {
		kb_key ks, kp;
		if (e->is_merge[top] || kb_model_n_parents(e->m, top) > 1)
			out->flags |= KB_FLAG_MERGE;
		if (e->rec[top].same_as_parent)
			out->flags |= KB_FLAG_SAME_KERNEL_AS_PARENT;
		if (e->rec[top].same_as_parent == 2)
			out->flags |= KB_FLAG_OUTSIDE_BUILD;
		if (kb_model_signature(&ks, e->m, top))
			for (size_t i = 0; i < kb_model_n_parents(e->m, top); i++)
				if (kb_model_signature(&kp, e->m, kb_model_parent(e->m, top, i)) &&
				    kb_key_equal(&ks, &kp))
					out->flags |= KB_FLAG_SAME_KERNEL_AS_PARENT;
	}
	if (e->round > 0 && out->q < 0.9)
		out->flags |= KB_FLAG_FLAKY;
	if (kb_engine__fix_untestable_after(e, top))
		out->flags |= KB_FLAG_UNTESTABLE_AFTER;
	out->rounds = e->round;
	out->builds = e->builds;
	out->tests = e->tests;
	out->runs = e->runs;
	out->builds_avoided = e->builds_avoided;
	out->prefetched = e->prefetched;
	out->prefetch_used = e->prefetch_used;
	out->seconds = e->tmax - e->t0;
	out->seconds_saved = e->saved;
}

static const char *how_name(int how)
{
	return how == KB_COST_FREE ? "cached" : how == KB_COST_TEST ? "reused" : "built";
}

static json_t *flags_json(unsigned f)
{
	json_t *a = json_array();
	if (f & KB_FLAG_SAME_KERNEL_AS_PARENT)
		json_array_append_new(a, json_string("same_kernel_as_parent"));
	if (f & KB_FLAG_MERGE)
		json_array_append_new(a, json_string("merge"));
	if (f & KB_FLAG_OUTSIDE_BUILD)
		json_array_append_new(a, json_string("outside_build_inputs"));
	if (f & KB_FLAG_FLAKY)
		json_array_append_new(a, json_string("flaky"));
	if (f & KB_FLAG_UNTESTABLE_AFTER)
		json_array_append_new(a, json_string("untestable_after"));
	return a;
}

/* "subject", "author", "date" of node into o, those that are known */
static void info_json(json_t *o, const kb_engine *e, size_t node)
{
	const char *subject, *author, *date;

	kb_engine_node_info(e, node, &subject, &author, &date);
	if (subject)
		json_object_set_new(o, "subject", json_string(subject));
	if (author)
		json_object_set_new(o, "author", json_string(author));
	if (date)
		json_object_set_new(o, "date", json_string(date));
}

int kb_engine_json(char **out, const kb_engine *e)
{
	kb_bisect_result r;
	json_t *o, *cand, *tested, *rounds, *tl, *titles;

	if (!e || !out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_engine_json: no engine");
	kb_engine_result(&r, e);
	o = json_object();
	json_object_set_new(o, "schema", json_integer(KB_ENGINE_JSON_SCHEMA));
	json_object_set_new(o, "culprit", r.culprit == KB_MODEL_NONE ? json_null()
								   : json_string(nname(e, r.culprit)));
	if (r.culprit != KB_MODEL_NONE) {
		json_t *ci = json_object();
		json_object_set_new(ci, "commit", json_string(nname(e, r.culprit)));
		info_json(ci, e, r.culprit);
		json_object_set_new(o, "culprit_info", ci);
	} else {
		json_object_set_new(o, "culprit_info", json_null());
	}
	json_object_set_new(o, "probability", json_real(r.probability));
	json_object_set_new(o, "stop", json_string(kb_engine_stop_name(r.stop)));
	json_object_set_new(o, "mode", json_string(e->opt.fix ? "fix" : "cause"));
	cand = json_array();
	for (size_t i = 0; i < r.n_set; i++) {
		json_t *c = json_object();
		json_object_set_new(c, "commit", r.set[i] == KB_MODEL_NONE ? json_null()
									 : json_string(nname(e, r.set[i])));
		json_object_set_new(c, "probability", json_real(kb_model_posterior(e->m, r.set[i])));
		if (r.set[i] != KB_MODEL_NONE)
			info_json(c, e, r.set[i]);
		json_array_append_new(cand, c);
	}
	json_object_set_new(o, "candidates", cand);
	json_object_set_new(o, "flags", flags_json(r.flags));
	json_object_set_new(o, "q", json_real(r.q));
	json_object_set_new(o, "q_interval", json_pack("[f,f]", r.q_lo, r.q_hi));
	json_object_set_new(o, "eps", json_real(r.eps));
	{
		double eps_hi, rho, spread;
		kb_model_misfit(e->m, &eps_hi, &rho, &spread);
		json_object_set_new(o, "misfit", json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "eps_hi",
							   eps_hi, "all_or_nothing", rho,
							   "rates_differ", spread, "infra_bursts",
							   kb_engine__infra_dispersion(e),
							   "tests_freeze",
							   kb_engine__tests_freeze(e),
							   "confidence_asked",
							   e->conf_asked));
		if (e->why[0])
			json_object_set_new(o, "why", json_string(e->why));
	}
	titles = json_array();
	for (size_t i = 0; i < e->n_titles; i++)
		json_array_append_new(titles, json_string(e->titles[i]));
	json_object_set_new(o, "titles", titles);
	tested = json_array();
	for (size_t c = 0; c < e->n; c++) {
		const struct node_rec *nr = &e->rec[c];
		kb_key sig;
		char hex[KB_KEY_HEXLEN + 1];
		if (!nr->built || nr->skipped)
			continue;
		json_t *t = json_object();
		json_object_set_new(t, "commit", json_string(nname(e, c)));
		info_json(t, e, c);
		json_object_set_new(t, "buildable", json_boolean(nr->built > 0));
		if (kb_model_signature(&sig, e->m, c)) {
			kb_key_to_hex(hex, &sig);
			json_object_set_new(t, "signature", json_string(hex));
		}
		json_object_set_new(t, "same_kernel_as_parent", json_boolean(nr->same_as_parent));
		json_object_set_new(t, "outside_build_inputs", json_boolean(nr->same_as_parent == 2));
		json_object_set_new(t, "tests", json_integer(nr->tests));
		json_object_set_new(t, "target", json_integer(nr->target));
		json_object_set_new(t, "clean", json_integer(nr->clean));
		json_object_set_new(t, "other_crash", json_integer(nr->other));
		json_object_set_new(t, "infra", json_integer(nr->infra));
		json_object_set_new(t, "boot_failure", json_integer(nr->boot));
		json_object_set_new(t, "posterior", json_real(kb_model_posterior(e->m, c)));
		json_object_set_new(t, "p_buggy", json_real(kb_model_buggy(e->m, c)));
		json_array_append_new(tested, t);
	}
	json_object_set_new(o, "tested", tested);
	{
		json_t *sk = json_array();
		for (size_t c = 0; c < e->n; c++)
			if (e->rec[c].skipped)
				json_array_append_new(sk, json_string(nname(e, c)));
		json_object_set_new(o, "skipped", sk);
	}
	json_object_set_new(o, "seconds", json_real(r.seconds));
	json_object_set_new(o, "seconds_saved", json_real(r.seconds_saved));
	json_object_set_new(o, "rounds", json_integer(r.rounds));
	json_object_set_new(o, "builds", json_integer(r.builds));
	json_object_set_new(o, "builds_avoided", json_integer(r.builds_avoided));
	json_object_set_new(o, "builds_prefetched", json_integer(r.prefetched));
	json_object_set_new(o, "builds_prefetched_used", json_integer(r.prefetch_used));
	json_object_set_new(o, "tests_done", json_integer(r.tests));
	json_object_set_new(o, "test_runs", json_integer(r.runs));
	rounds = json_array();
	for (size_t i = 0; i < e->n_rounds; i++) {
		const struct round_rec *rr = &e->rounds[i];
		json_t *x = json_object(), *top = json_array();
		json_object_set_new(x, "round", json_integer(rr->round));
		json_object_set_new(x, "seconds", json_real(rr->seconds));
		json_object_set_new(x, "set_size", json_integer((json_int_t)rr->n_set));
		json_object_set_new(x, "none", json_real(rr->none));
		for (size_t k = 0; k < rr->n_top; k++)
			json_array_append_new(top, json_pack("{s:s,s:f}", "commit", nname(e, rr->top[k]),
							     "probability", rr->p[k]));
		json_object_set_new(x, "top", top);
		json_array_append_new(rounds, x);
	}
	json_object_set_new(o, "mass_per_round", rounds);
	tl = json_array();
	for (size_t i = 0; i < e->n_spans; i++) {
		const struct span *s = &e->spans[i];
		json_array_append_new(tl, json_pack("{s:i,s:i,s:s,s:s,s:b,s:f,s:f,s:f,s:f,s:i,s:i,s:i}",
			"round", (int)s->round, "worker", (int)s->worker, "commit", nname(e, s->node),
			"kernel", how_name(s->how), "buildable", s->buildable,
			"build_start", s->build_start - e->t0, "build_end", s->build_end - e->t0,
			"test_start", s->test_start - e->t0, "test_end", s->test_end - e->t0,
			"target", (int)s->target, "clean", (int)s->clean, "other", (int)s->other));
	}
	json_object_set_new(o, "timeline", tl);
	*out = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!*out)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing the result as JSON");
	return 0;
}
