/*
 * bisect/engine_report.c - what the bisection engine tells when asked: its result
 * (culprit or credible set, flags, counters), the names of its stops, probabilities as
 * text, and its reports as JSON and as an HTML page (timeline per worker, probability
 * mass per round, evidence per commit).
 * Owns: the JSON field names and the HTML layout of a bisection's report.
 * Not: deciding anything (bisect/engine.c), printing the CLI's text (cli/cmd_bisect.c).
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

int kb_engine_json(char **out, const kb_engine *e)
{
	kb_bisect_result r;
	json_t *o, *cand, *tested, *rounds, *tl, *titles;

	if (!e || !out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_engine_json: no engine");
	kb_engine_result(&r, e);
	o = json_object();
	json_object_set_new(o, "culprit", r.culprit == KB_MODEL_NONE ? json_null()
								   : json_string(nname(e, r.culprit)));
	json_object_set_new(o, "probability", json_real(r.probability));
	json_object_set_new(o, "stop", json_string(kb_engine_stop_name(r.stop)));
	json_object_set_new(o, "mode", json_string(e->opt.fix ? "fix" : "cause"));
	cand = json_array();
	for (size_t i = 0; i < r.n_set; i++) {
		json_t *c = json_object();
		json_object_set_new(c, "commit", r.set[i] == KB_MODEL_NONE ? json_null()
									 : json_string(nname(e, r.set[i])));
		json_object_set_new(c, "probability", json_real(kb_model_posterior(e->m, r.set[i])));
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
		json_object_set_new(o, "misfit", json_pack("{s:f,s:f,s:f}", "eps_hi", eps_hi,
							   "all_or_nothing", rho,
							   "rates_differ", spread));
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
		if (!nr->built)
			continue;
		json_t *t = json_object();
		json_object_set_new(t, "commit", json_string(nname(e, c)));
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

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

int kb_engine_html(const kb_engine *e, const char *path)
{
	kb_bisect_result r;
	FILE *f;
	double T, W = 900, rowh = 22;
	unsigned workers = e ? e->opt.workers : 1;

	if (!e || !path)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_engine_html: no engine or path");
	f = fopen(path, "w");
	if (!f)
		return kb_error_os("cannot write html report '%s'", path);
	kb_engine_result(&r, e);
	T = e->tmax - e->t0 > 0 ? e->tmax - e->t0 : 1;
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>kbisect report</title>\n"
	      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
	      "td,th{border:1px solid #ccc;padding:2px 6px}.b{fill:#6a8fd8}.t{fill:#5cb85c}"
	      ".x{fill:#d9534f}.u{fill:#999}</style></head><body>\n", f);
	fputs("<h1>kbisect result</h1>\n<p id=\"culprit\">", f);
	if (r.culprit != KB_MODEL_NONE) {
		fputs("culprit: <b>", f);
		html_escape(f, nname(e, r.culprit));
		char pt[16];
		fprintf(f, "</b> with probability %s", kb_engine_prob_text(r.probability, pt, sizeof(pt)));
	} else {
		fprintf(f, "no single culprit (%s); the set below holds %.4f",
			kb_engine_stop_name(r.stop), r.probability);
	}
	fprintf(f, "</p>\n<p>q = %.2f [%.2f, %.2f], eps = %.4f; %u rounds, %u builds (%u avoided), "
		   "%u tests, %u runs, %.0f s</p>\n",
		r.q, r.q_lo, r.q_hi, r.eps, r.rounds, r.builds, r.builds_avoided, r.tests, r.runs,
		r.seconds);
	fputs("<h2>Candidates</h2>\n<table id=\"candidates\"><tr><th>commit</th><th>probability</th></tr>\n", f);
	for (size_t i = 0; i < r.n_set; i++) {
		fputs("<tr><td>", f);
		html_escape(f, nname(e, r.set[i]));
		fprintf(f, "</td><td>%.4f</td></tr>\n", kb_model_posterior(e->m, r.set[i]));
	}
	fputs("</table>\n<h2>Timeline</h2>\n", f);
	fprintf(f, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		   "height=\"%.0f\">\n", W + 80, rowh * workers + 30);
	for (unsigned w = 0; w < workers; w++)
		fprintf(f, "<text x=\"0\" y=\"%.0f\" font-size=\"12\">worker %u</text>\n",
			rowh * w + 15, w);
	for (size_t i = 0; i < e->n_spans; i++) {
		const struct span *s = &e->spans[i];
		double y = rowh * s->worker + 2;
		if (s->build_end > s->build_start) {
			fprintf(f, "<rect class=\"b\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\">"
				   "<title>build ", 80 + W * (s->build_start - e->t0) / T, y,
				W * (s->build_end - s->build_start) / T, rowh - 4);
			html_escape(f, nname(e, s->node));
			fputs("</title></rect>\n", f);
		}
		if (s->buildable && s->test_end > s->test_start) {
			fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\">"
				   "<title>test ", s->target ? "x" : "t",
				80 + W * (s->test_start - e->t0) / T, y,
				W * (s->test_end - s->test_start) / T, rowh - 4);
			html_escape(f, nname(e, s->node));
			fprintf(f, ": %u target crashes, %u clean</title></rect>\n", s->target, s->clean);
		}
	}
	fprintf(f, "<text x=\"80\" y=\"%.0f\" font-size=\"11\">0</text><text x=\"%.0f\" y=\"%.0f\" "
		   "font-size=\"11\">%.0f s</text>\n</svg>\n", rowh * workers + 25, W + 30,
		rowh * workers + 25, T);
	fputs("<h2>Probability mass per round</h2>\n", f);
	fprintf(f, "<svg id=\"mass\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%zu\">\n",
		W + 80, 24 * e->n_rounds + 10);
	for (size_t i = 0; i < e->n_rounds; i++) {
		const struct round_rec *rr = &e->rounds[i];
		double x = 80, y = 24.0 * i + 4;
		fprintf(f, "<text x=\"0\" y=\"%.0f\" font-size=\"12\">round %u</text>\n", y + 13, rr->round);
		for (size_t k = 0; k < rr->n_top; k++) {
			double w = W * rr->p[k];
			fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"18\" "
				   "fill=\"hsl(%zu,60%%,55%%)\"><title>", x, y, w, (rr->top[k] * 47) % 360);
			html_escape(f, nname(e, rr->top[k]));
			fprintf(f, " %.4f</title></rect>\n", rr->p[k]);
			x += w;
		}
	}
	fputs("</svg>\n<h2>Evidence</h2>\n<table id=\"evidence\"><tr><th>commit</th><th>built</th>"
	      "<th>target crashes</th><th>clean</th><th>other crash</th><th>infra</th>"
	      "<th>P(culprit)</th></tr>\n", f);
	for (size_t c = 0; c < e->n; c++) {
		const struct node_rec *nr = &e->rec[c];
		if (!nr->built)
			continue;
		fputs("<tr><td>", f);
		html_escape(f, nname(e, c));
		fprintf(f, "</td><td>%s</td><td>%u</td><td>%u</td><td>%u</td><td>%u</td><td>%.4f</td></tr>\n",
			nr->built > 0 ? "yes" : "failed", nr->target, nr->clean, nr->other, nr->infra,
			kb_model_posterior(e->m, c));
	}
	fputs("</table>\n</body></html>\n", f);
	if (fclose(f) != 0)
		return kb_error_os("cannot write html report '%s'", path);
	return 0;
}
