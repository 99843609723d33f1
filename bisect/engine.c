/*
 * bisect/engine.c - the bisection engine: calibration, rounds of tests, the progress
 * line. Its stop rule is in bisect/engine_stop.c, its result and reports (text of a
 * stop, JSON, HTML) in bisect/engine_report.c, its choice of tests in
 * bisect/engine_choose.c, its state in bisect/engine_internal.h.
 * Owns: classification of runs (target crash or not), the evidence a test adds, the
 * record of what was done (timeline, mass per round).
 * Not: the choice of tests (bisect/engine_choose.c), the posterior (bisect/model.c),
 * builds and VMs (the oracle's callbacks).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "kbisect/engine.h"
#include "kbisect/report.h"
#include "model_internal.h"
#include "engine_internal.h"

#define CALIB_ROUNDS 3 /* rounds on bad before giving up on the reproducer */
#define BUDGET_ROUNDS 60 /* default budget in rounds, see kb_engine__budget() */



static const char *nname(const kb_engine *e, size_t node)
{
	static __thread char buf[32];
	if (node == KB_MODEL_NONE)
		return "none";
	if (node < e->n && e->names[node])
		return e->names[node];
	snprintf(buf, sizeof(buf), "#%zu", node);
	return buf;
}

int kb_engine_new(kb_engine **out, kb_model *m, const kb_engine_oracle *oracle,
		  const kb_engine_opts *opts)
{
	kb_engine *e;
	kb_engine_opts o = { 0 };

	if (!out || !m || !oracle || !oracle->execute || !m->finalized)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine needs a finalized model and an oracle with execute()");
	*out = NULL;
	if (opts)
		o = *opts;
	if (!opts || (o.bad == 0 && m->n > 1 && !opts->bad && !o.fix))
		o.bad = m->n - 1;
	if (o.bad >= m->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad node %zu is not in the model of %zu nodes", o.bad, m->n);
	if (!o.workers)
		o.workers = 1;
	if (!o.runs_per_test)
		o.runs_per_test = 10;
	if (!o.calib_runs)
		o.calib_runs = 2 * o.runs_per_test;
	if (o.confidence == 0)
		o.confidence = 0.99;
	int auto_budget = !o.max_rounds;
	if (!o.max_rounds)
		o.max_rounds = BUDGET_ROUNDS;
	if (o.build_seconds == 0)
		o.build_seconds = 420;
	if (o.test_seconds == 0)
		o.test_seconds = 540;
	if (o.fix && (!m->fix || o.bad == m->n - 1)) /* fix mode: issue 22 */
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "fix bisection needs a model made in fix mode and a crashing "
				     "node other than the fixed (last) one");
	if (o.workers > 64 || o.runs_per_test > KB_ENGINE_MAX_RUNS ||
	    o.calib_runs > KB_ENGINE_MAX_RUNS || !(o.confidence > 0 && o.confidence < 1))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad engine options: need 1..64 workers, 1..%d runs per test "
				     "and a confidence in (0,1)", KB_ENGINE_MAX_RUNS);
	e = calloc(1, sizeof(*e));
	if (!e)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the engine");
	e->m = m;
	e->auto_budget = auto_budget;
	e->conf_asked = o.confidence;
	e->o = *oracle;
	e->opt = o;
	e->n = m->n;
	e->names = calloc(e->n, sizeof(*e->names));
	e->is_merge = calloc(e->n, 1);
	e->rec = calloc(e->n, sizeof(*e->rec));
	e->buggy = calloc(e->n, sizeof(double));
	e->clar = calloc(e->n, sizeof(double));
	e->cellmass = calloc(2 * (e->n + 1) + 2, sizeof(double));
	e->in = calloc(2 * (e->n + 1) + 2, sizeof(double));
	e->cell = calloc(e->n + 1, sizeof(uint32_t));
	e->remap = calloc(2 * (e->n + 1) + 2, sizeof(uint32_t));
	e->gcount = calloc(e->n, sizeof(uint32_t));
	e->urow = calloc(m->words, sizeof(uint64_t));
	if (!e->clar || !e->gcount || !e->urow || !e->names || !e->is_merge || !e->rec || !e->buggy || !e->cellmass || !e->in ||
	    !e->cell || !e->remap) {
		kb_engine_free(e);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the engine");
	}
	if (o.fix) /* the crashing commit cannot be the fix */
		kb_model_set_weight(m, o.bad, 0);
	if (o.target_title && *o.target_title) {
		snprintf(e->titles[0], KB_ENGINE_TITLE_MAX, "%s", o.target_title);
		e->n_titles = 1;
	}
	*out = e;
	return 0;
}

void kb_engine_free(kb_engine *e)
{
	if (!e)
		return;
	if (e->names)
		for (size_t i = 0; i < e->n; i++)
			free(e->names[i]);
	if (e->info)
		for (size_t i = 0; i < e->n; i++)
			free(e->info[i].subject), free(e->info[i].author), free(e->info[i].date);
	free(e->info);
	free(e->names), free(e->is_merge), free(e->rec), free(e->buggy), free(e->clar);
	free(e->cellmass), free(e->in), free(e->cell), free(e->remap);
	free(e->gcount), free(e->urow);
	kb_engine__free_info(e); /* the reports' runs and commit info */
	free(e->spans), free(e->rounds), free(e->set);
	free(e);
}

int kb_engine_set_node(kb_engine *e, size_t node, const char *name, int is_merge)
{
	if (!e || node >= e->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine node %zu out of range", node);
	if (name) {
		char *d = strdup(name);
		if (!d)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for a node name");
		free(e->names[node]);
		e->names[node] = d;
	}
	e->is_merge[node] = is_merge ? 1 : 0;
	return 0;
}

const char *kb_engine_node_name(const kb_engine *e, size_t node)
{
	return e ? nname(e, node) : "";
}

/* ---- evidence ---- */

static int is_target(const kb_engine *e, const kb_repro_run *r)
{
	if (r->klass != KB_RUN_CRASH)
		return 0;
	if (e->opt.any_crash)
		return 1;
	for (size_t i = 0; i < e->n_titles; i++) /* title or ALT title (syzkaller's rule) */
		if (kb_report_title_matches(e->titles[i], r->title))
			return 1;
	return 0;
}

static void add_title(kb_engine *e, const char *t)
{
	for (size_t i = 0; i < e->n_titles; i++)
		if (!strcmp(e->titles[i], t))
			return;
	if (e->n_titles < MAX_TITLES)
		snprintf(e->titles[e->n_titles++], KB_ENGINE_TITLE_MAX, "%s", t);
}

/* Crash titles of the target: the original title and every title seen on the bad
 * commit (an unrelated crash seen there only raises the learned eps a little). */
static void learn_titles(kb_engine *e, const kb_engine_outcome *oc)
{
	for (size_t i = 0; i < oc->n_runs; i++)
		if (oc->runs[i].klass == KB_RUN_CRASH)
			add_title(e, oc->runs[i].title);
}

static int push_span(kb_engine *e, const struct span *s)
{
	if (e->n_spans == e->cap_spans) {
		size_t cap = e->cap_spans ? e->cap_spans * 2 : 32;
		struct span *p = realloc(e->spans, cap * sizeof(*p));
		if (!p)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the timeline");
		e->spans = p, e->cap_spans = cap;
	}
	e->spans[e->n_spans++] = *s;
	return 0;
}

/* Planning times: what the oracle's rounds took so far, else the options' guesses. */
double kb_engine__plan_test_s(const kb_engine *e)
{
	return e->n_test ? e->sum_test / e->n_test : e->opt.test_seconds;
}

double kb_engine__plan_build_s(const kb_engine *e)
{
	return e->n_build ? e->sum_build / e->n_build : e->opt.build_seconds;
}

/* weighed only with per-commit build costs (real runs: rounds of seconds, where
 * choosing is a visible share); in the simulator the gaps are waits for speculative
 * builds, not a cost of the next round */
double kb_engine__plan_gap_s(const kb_engine *e)
{
	return e->o.build_seconds && e->n_gap ? e->sum_gap / e->n_gap : 0;
}

/* When the oracle started on an outcome: its build, or its test when nothing was built. */
static double outcome_start(const kb_engine_outcome *oc)
{
	return oc->build_start < oc->test_start ? oc->build_start : oc->test_start;
}

static void note_time(kb_engine *e, double a, double b)
{
	if (!e->have_t0 || a < e->t0)
		e->t0 = a, e->have_t0 = 1;
	if (b > e->tmax)
		e->tmax = b;
}

/* Note which commits have their parent's kernel (for the result's flags). The model
 * itself gives a culprit that identical kernels would disagree on a small prior; a
 * commit that touches no build input is declared to it, since its parent's signature
 * may be unknown. Checked for every tested commit, since the parent may be tested later. */
void kb_engine__note_same_kernels(kb_engine *e)
{
	kb_key ks, ps;

	for (size_t c = 0; c < e->n; c++) {
		struct node_rec *nr = &e->rec[c];
		if (nr->built < 0 || nr->same_as_parent)
			continue; /* untested nodes count once their signature is known */
		if (kb_model_signature(&ks, e->m, c))
			for (size_t i = 0; i < kb_model_n_parents(e->m, c); i++)
				if (kb_model_signature(&ps, e->m, kb_model_parent(e->m, c, i)) &&
				    kb_key_equal(&ps, &ks))
					nr->same_as_parent = 1;
	}
}

static int absorb(kb_engine *e, const kb_engine_request *rq, const kb_engine_outcome *oc)
{
	struct node_rec *nr = &e->rec[rq->node];
	struct span s = { .round = e->round, .worker = rq->worker, .node = rq->node,
			  .how = oc->how, .buildable = oc->buildable,
			  .build_start = oc->build_start, .build_end = oc->build_end,
			  .test_start = oc->test_start, .test_end = oc->test_end };
	unsigned t = 0, c = 0, x = 0;
	char hex[KB_KEY_HEXLEN + 1] = "unknown";

	note_time(e, outcome_start(oc), oc->test_end > oc->build_end ? oc->test_end : oc->build_end);
	if (oc->n_runs && oc->test_end > oc->test_start)
		e->sum_test += oc->test_end - oc->test_start, e->n_test++;
	if (oc->how == KB_COST_BUILD && oc->build_end > oc->build_start)
		e->sum_build += oc->build_end - oc->build_start, e->n_build++;
	if (oc->how == KB_COST_BUILD)
		e->builds++;
	else if (nr->built == 0 && oc->prebuilt) {
		e->prefetch_used++; /* built meanwhile: neither a build now nor one avoided */
	} else if (nr->built == 0) {
		e->builds_avoided++;
		e->saved += kb_engine__plan_build_s(e);
	}
	if (oc->has_signature)
		kb_key_to_hex(hex, &oc->signature);
	kb_engine__log(e, "testing commit %s", nname(e, rq->node));
	/* its place in the range, for `kbisect analyze` (which has no DAG): commits after
	 * it in topological order up to the bad commit */
	if (rq->node <= e->opt.bad)
		kb_engine__log(e, "commits after it up to the bad commit: %zu", e->opt.bad - rq->node);
	if (!oc->buildable) {
		nr->built = -1;
		kb_model_set_untestable(e->m, rq->node, 1);
		kb_engine__log(e, "commit %s failed to build: untestable", nname(e, rq->node));
		int prc = push_span(e, &s);
		return prc ? prc : kb_engine__span_evidence(e, oc);
	}
	nr->built = 1;
	if (oc->has_signature) {
		kb_engine__log(e, "kernel signature: %s", hex);
		int rc = kb_model_set_signature(e->m, rq->node, &oc->signature);
		if (rc)
			return rc;
	}
	if (oc->same_as_parent) {
		nr->same_as_parent = 2;
		kb_model_set_inert(e->m, rq->node);
	}
	kb_engine__note_same_kernels(e);
	nr->tests++;
	e->tests++;
	for (size_t i = 0; i < oc->n_runs && i < KB_ENGINE_MAX_RUNS; i++) {
		const kb_repro_run *r = &oc->runs[i];
		e->runs++;
		if (is_target(e, r)) {
			t++, nr->target++;
			kb_engine__log(e, "run #%zu: crashed: %s", i, r->title);
		} else if (r->klass == KB_RUN_OK) {
			c++, nr->clean++;
			kb_engine__log(e, "run #%zu: OK", i);
		} else {
			x++;
			if (r->klass == KB_RUN_CRASH) {
				nr->other++;
				kb_engine__log(e, "run #%zu: crashed: %s (other crash, ignored)", i, r->title);
			} else if (r->klass == KB_RUN_BOOT_FAILURE) {
				nr->boot++;
				kb_engine__log(e, "run #%zu: boot failed: %s", i,
				     r->title[0] ? r->title : "no boot");
			} else {
				nr->infra++, s.infra++;
				kb_engine__log(e, "run #%zu: infra problem: %s", i,
				     r->title[0] ? r->title : "no reason");
			}
		}
	}
	if (oc->n_runs < rq->runs) {
		kb_engine__log(e, "%u runs of %u lost", rq->runs - (unsigned)oc->n_runs, rq->runs);
		s.infra += rq->runs - (unsigned)oc->n_runs;
	}
	s.asked = oc->n_runs > rq->runs ? (unsigned)oc->n_runs : rq->runs;
	/* a kernel that never boots cannot be tested: like a failed build */
	if (oc->n_runs > 0 && nr->boot == nr->target + nr->clean + nr->other + nr->infra + nr->boot &&
	    t + c == 0) {
		nr->built = -1;
		kb_model_set_untestable(e->m, rq->node, 1);
		kb_engine__log(e, "commit %s: kernel does not boot: untestable", nname(e, rq->node));
	}
	e->runs_asked += rq->runs, e->runs_told += t + c;
	s.target = t, s.clean = c, s.other = x;
	int rc = kb_model_add_runs(e->m, rq->node, t, c, x);
	rc = rc ? rc : push_span(e, &s);
	return rc ? rc : kb_engine__span_evidence(e, oc);
}

/* ---- rounds ---- */

static int push_round(kb_engine *e)
{
	struct round_rec r = { .round = e->round, .seconds = e->tmax - e->t0 };
	size_t *set = NULL, n = 0;
	double mass;

	if (e->n_rounds == e->cap_rounds) {
		size_t cap = e->cap_rounds ? e->cap_rounds * 2 : 16;
		struct round_rec *p = realloc(e->rounds, cap * sizeof(*p));
		if (!p)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the round log");
		e->rounds = p, e->cap_rounds = cap;
	}
	r.none = e->m->post_none;
	for (size_t h = 0; h < e->n; h++) {
		double p = e->m->post[h];
		size_t k = r.n_top;
		if (k == ROUND_TOP && p <= r.p[ROUND_TOP - 1])
			continue;
		if (k < ROUND_TOP)
			r.n_top++;
		else
			k = ROUND_TOP - 1;
		while (k > 0 && r.p[k - 1] < p)
			r.top[k] = r.top[k - 1], r.p[k] = r.p[k - 1], k--;
		r.top[k] = h, r.p[k] = p;
	}
	if (kb_model_credible_set(&set, &n, &mass, e->m, e->opt.confidence) == 0) {
		free(e->set);
		e->set = set, e->n_set = n, e->set_mass = mass;
		r.n_set = n;
	}
	e->rounds[e->n_rounds++] = r;
	{
		char line[512];
		int off = snprintf(line, sizeof(line), "posterior after round %u:", e->round);
		for (size_t i = 0; i < r.n_top && i < 5 && off < (int)sizeof(line); i++)
			off += snprintf(line + off, sizeof(line) - (size_t)off, " %s %.3f",
					nname(e, r.top[i]), r.p[i]);
		if (off < (int)sizeof(line))
			snprintf(line + off, sizeof(line) - (size_t)off, " (none %.3f, %zu hold %.0f%%)",
				 r.none, r.n_set, e->opt.confidence * 100);
		kb_engine__log(e, "%s", line);
	}
	return 0;
}

static int execute(kb_engine *e, kb_engine_request *rq, size_t n, kb_engine_outcome **out)
{
	kb_engine_outcome *oc = calloc(n ? n : 1, sizeof(*oc));
	int rc;

	*out = NULL;
	if (!oc)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for test outcomes");
	rc = e->o.execute(e->o.ctx, rq, n, oc);
	if (rc) {
		free(oc);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		if (oc[i].n_runs > KB_ENGINE_MAX_RUNS)
			oc[i].n_runs = KB_ENGINE_MAX_RUNS;
	*out = oc;
	return 0;
}

/* the oracle's journal of an identical earlier bisection, if it has this round: 1 and
 * rq/n filled, else 0 */
static int replayed(kb_engine *e, kb_engine_request *rq, size_t *n)
{
	size_t m = 0;

	if (!e->o.replay || e->o.replay(e->o.ctx, e->round, rq, &m) != 1 || m == 0 || m > 64)
		return 0;
	for (size_t i = 0; i < m; i++)
		if (rq[i].node >= e->n || rq[i].runs == 0 || rq[i].runs > KB_ENGINE_MAX_RUNS)
			return 0; /* not this DAG's journal after all */
	*n = m;
	kb_engine__log(e, "round %u as recorded earlier (%zu test%s)", e->round, m, m == 1 ? "" : "s");
	return 1;
}

/* hand the speculative builds of this round to the oracle */
static int start_prefetch(kb_engine *e, const size_t *pre, size_t n_pre)
{
	char buf[512];
	size_t len = 0;
	int rc;

	if (!n_pre || !e->o.prefetch)
		return 0;
	for (size_t i = 0; i < n_pre && len < sizeof(buf) - 48; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s", nname(e, pre[i]));
	kb_engine__log(e, "preparing meanwhile:%s", buf);
	unsigned built = 0;
	rc = e->o.prefetch(e->o.ctx, pre, n_pre, &built);
	if (rc == 0)
		e->prefetched += built;
	for (size_t i = 0; rc == 0 && i < n_pre; i++)
		e->rec[pre[i]].ready = 1; /* build_pool offers it among the kernels at hand */
	return rc;
}

/* "20 runs on BAD: 0 target crashes, 18 ok, 2 infra (SYZFAIL: ... x2)": what the
 * calibration runs of oc were, into buf. */
static void calib_summary(char *buf, size_t len, const kb_engine *e, const kb_engine_outcome *oc)
{
	unsigned n[4] = { 0 };
	size_t off = 0;
	int w;

	unsigned target = 0, listed = 0;

	for (size_t i = 0; i < oc->n_runs; i++) {
		if (oc->runs[i].klass >= 0 && oc->runs[i].klass < 4)
			n[oc->runs[i].klass]++;
		target += is_target(e, &oc->runs[i]);
	}
	w = snprintf(buf, len, "%zu runs on %s: %u target crashes, %u ok, %u infra", oc->n_runs,
		     nname(e, e->opt.bad), target, n[KB_RUN_OK], n[KB_RUN_INFRA]);
	off = w > 0 && (size_t)w < len ? (size_t)w : len - 1;
	/* the infra titles, each once with its count */
	for (size_t i = 0; i < oc->n_runs && off + 8 < len; i++) {
		unsigned same = 0;
		int seen = 0;
		if (oc->runs[i].klass != KB_RUN_INFRA)
			continue;
		for (size_t j = 0; j < oc->n_runs; j++)
			if (oc->runs[j].klass == KB_RUN_INFRA &&
			    !strcmp(oc->runs[j].title, oc->runs[i].title)) {
				seen |= j < i;
				same++;
			}
		if (seen)
			continue;
		w = snprintf(buf + off, len - off, "%s%.80s x%u", listed++ ? ", " : " (",
			     oc->runs[i].title[0] ? oc->runs[i].title : "no reason", same);
		off = w > 0 && (size_t)w < len - off ? off + (size_t)w : len - 1;
	}
	if (n[KB_RUN_INFRA] && off + 2 < len)
		snprintf(buf + off, len - off, ")");
	if (n[KB_RUN_BOOT_FAILURE]) {
		off = strlen(buf);
		snprintf(buf + off, len - off, ", %u boot failures", n[KB_RUN_BOOT_FAILURE]);
	}
	if (n[KB_RUN_CRASH] > target) {
		off = strlen(buf);
		snprintf(buf + off, len - off, ", %u other crashes", n[KB_RUN_CRASH] - target);
	}
}

static int calibrate(kb_engine *e)
{
	kb_engine_request rq[65];
	kb_engine_outcome *oc;
	size_t n = 1, pre[64], n_pre = 0;
	unsigned t;
	int rc;

	rq[0].node = e->opt.bad, rq[0].runs = e->opt.calib_runs, rq[0].worker = 0;
	/* the other workers test by the prior meanwhile, with as many runs as the bad
	 * commit gets (q is not known yet: at q = 0.2, 10 runs miss a buggy kernel one
	 * time in 9); their runs are classified once the bad commit told us the crash
	 * titles. With one worker, the prior's first picks are built meanwhile instead. */
	kb_engine_request jr[64];
	size_t jn = 0;
	int from_journal = replayed(e, jr, &jn) && jr[0].node == e->opt.bad;

	/* a journal round still goes through kb_engine__choose(): what it learns on the way (the
	 * signatures of kernels at hand) is part of the state the recorded run had */
	if (e->opt.workers > 1 || kb_engine__prefetch_n(e) || from_journal) {
		size_t m = 0;
		rc = kb_model_update(e->m);
		if (rc)
			return rc;
		rc = kb_engine__choose(e, rq + 1, &m, pre, &n_pre);
		if (rc)
			return rc;
		if (e->opt.workers == 1) {
			n_pre = 0;
			for (size_t i = 0; i < m && n_pre < kb_engine__prefetch_n(e); i++)
				if (rq[1 + i].node != e->opt.bad)
					pre[n_pre++] = rq[1 + i].node;
			m = 0;
		}
		for (size_t i = 0; i < m && n < e->opt.workers; i++)
			if (rq[1 + i].node != e->opt.bad) {
				rq[n] = rq[1 + i];
				rq[n].worker = (unsigned)n;
				rq[n].runs = e->opt.calib_runs;
				n++;
			}
	}
	if (from_journal) { /* as recorded: all kernels cached, nothing to prepare */
		memcpy(rq, jr, jn * sizeof(*jr));
		n = jn;
		n_pre = 0;
	}
	if (e->round == 1) /* syzbot's words for the two kinds */
		kb_engine__log(e, e->opt.fix ? "bisecting fixing commit since %s" :
		     "bisecting cause commit starting from %s", nname(e, e->opt.bad));
	kb_engine__log(e, "calibrating: %u runs on %s commit %s", rq[0].runs, e->opt.fix ? "crashing" : "bad",
	     nname(e, e->opt.bad));
	if ((rc = start_prefetch(e, pre, n_pre)) != 0)
		return rc;
	rc = execute(e, rq, n, &oc);
	if (rc)
		return rc;
	if (!oc[0].buildable) {
		free(oc);
		e->stop = KB_STOP_NO_REPRO;
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "%s commit %s does not build; give a %s commit that builds",
				     e->opt.fix ? "crashing" : "bad", nname(e, e->opt.bad),
				     e->opt.fix ? "--crashing" : "bad");
	}
	learn_titles(e, &oc[0]);
	{
		char sum[900];
		calib_summary(sum, sizeof(sum), e, &oc[0]);
		kb_engine__log(e, "%s", sum);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		rc = absorb(e, &rq[i], &oc[i]);
		if (i == 0 && e->round == 1) /* syzbot's words: the bisection proper starts */
			kb_engine__log(e, "# git bisect start %s", nname(e, e->opt.bad));
	}
	free(oc);
	if (rc)
		return rc;
	if (e->o.record)
		e->o.record(e->o.ctx, e->round, rq, n);
	kb_model_evidence(e->m, e->opt.bad, &t, NULL, NULL);
	if (t == 0 && e->round >= CALIB_ROUNDS) {
		e->stop = KB_STOP_NO_REPRO;
		kb_engine__log(e, "the reproducer did not crash %s commit %s in %u runs",
		     e->opt.fix ? "crashing" : "bad", nname(e, e->opt.bad),
		     e->opt.calib_runs * e->round);
	}
	for (size_t i = 0; i < e->n_titles; i++)
		kb_engine__log(e, "target crash title: %s", e->titles[i]);
	return 0;
}

/* Fix mode (issue 22): the round after calibration tests the fixed commit (the last
 * node) alone, with the calibration's runs. Target crashes there beyond what false
 * crashes at the model's largest rate explain (P < KB_ENGINE__EXPLAINED_TAIL) mean it is not
 * fixed: bad input, an error that says what was seen (the test stays in the cache: it
 * is true evidence about that commit). Fewer stay evidence for the model (a fixed
 * commit with a crash cannot be named the fix by the stop rule). */
static int check_fixed(kb_engine *e)
{
	kb_engine_request rq = { .node = e->n - 1, .runs = e->opt.calib_runs, .worker = 0 };
	kb_engine_outcome *oc;
	unsigned t, c, x;
	int rc;

	kb_engine__log(e, "checking the fixed commit %s: %u runs", nname(e, rq.node), rq.runs);
	if ((rc = execute(e, &rq, 1, &oc)) != 0)
		return rc;
	if (!oc[0].buildable) {
		free(oc);
		e->stop = KB_STOP_NO_REPRO;
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "fixed commit %s does not build; give a --fixed that builds",
				     nname(e, rq.node));
	}
	rc = absorb(e, &rq, &oc[0]);
	free(oc);
	if (rc)
		return rc;
	if (e->o.record)
		e->o.record(e->o.ctx, e->round, &rq, 1);
	e->fix_checked = 1;
	kb_model_evidence(e->m, rq.node, &t, &c, &x);
	kb_engine__log(e, "fixed commit %s: %u target crashes, %u clean, %u other runs", nname(e, rq.node),
	     t, c, x);
	if (t > 0 && kb_engine__binom_tail(t, t + c, e->m->egrid[e->m->ne - 1]) < KB_ENGINE__EXPLAINED_TAIL) {
		e->stop = KB_STOP_NONE;
		snprintf(e->why, sizeof(e->why), "the fixed commit still crashes");
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "the fixed commit %s still crashes: %u of its %u runs showed "
				     "the target crash (%s); give a later --fixed (or --find-fixed), "
				     "or check --title",
				     nname(e, rq.node), t, t + c + x, e->n_titles ? e->titles[0] : "?");
	}
	return 0;
}

int kb_engine_step(kb_engine *e, int *done)
{
	kb_engine_request rq[64];
	kb_engine_outcome *oc = NULL;
	size_t n = 0, pre[64], n_pre = 0;
	int rc = 0;

	if (done)
		*done = 0;
	if (!e)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no engine");
	if (e->stop != KB_STOP_RUNNING)
		goto finished;
	e->round++;
	if (!e->calibrated) {
		unsigned t;
		rc = calibrate(e);
		kb_model_evidence(e->m, e->opt.bad, &t, NULL, NULL);
		e->calibrated = t > 0;
		if (rc)
			return rc;
	} else if (e->opt.fix && !e->fix_checked) {
		if ((rc = check_fixed(e)) != 0)
			return rc;
	} else {
		kb_engine_request jr[64];
		size_t jn = 0;
		int from_journal = replayed(e, jr, &jn);
		/* kb_engine__choose() even for a journal round: it learns what the recorded run learned */
		if ((rc = kb_engine__choose(e, rq, &n, pre, &n_pre)) != 0)
			return rc;
		if (e->stop != KB_STOP_RUNNING)
			goto finished;
		if (from_journal) {
			memcpy(rq, jr, jn * sizeof(*jr));
			n = jn;
			n_pre = 0;
		}
		if (n == 0) {
			/* signatures learned while choosing may have settled it already */
			kb_engine__check_stop(e);
			if (e->stop == KB_STOP_RUNNING) {
				e->stop = KB_STOP_UNTESTABLE;
				kb_engine__log(e, "nothing left worth testing");
			}
			goto finished;
		}
		if ((rc = start_prefetch(e, pre, n_pre)) != 0)
			return rc;
		double prev_end = e->tmax;
		int had_t0 = e->have_t0;
		rc = execute(e, rq, n, &oc);
		if (rc)
			return rc;
		if (had_t0 && n) { /* time between rounds: choosing, the oracle's bookkeeping */
			double first = outcome_start(&oc[0]);
			for (size_t i = 1; i < n; i++)
				if (outcome_start(&oc[i]) < first)
					first = outcome_start(&oc[i]);
			if (first >= prev_end)
				e->sum_gap += first - prev_end, e->n_gap++;
		}
		for (size_t i = 0; i < n && !rc; i++)
			rc = absorb(e, &rq[i], &oc[i]);
		free(oc);
		if (rc)
			return rc;
		if (e->o.record)
			e->o.record(e->o.ctx, e->round, rq, n);
	}
	rc = kb_model_update(e->m);
	if (rc)
		return rc;
	rc = push_round(e);
	if (rc)
		return rc;
	if (e->stop == KB_STOP_RUNNING)
		kb_engine__check_stop(e);
	kb_engine__log_verdicts(e);
	if (e->o.log) {
		char buf[256];
		kb_engine_progress(e, buf, sizeof(buf));
		kb_engine__log(e, "%s", buf);
	}
finished:
	if (e->stop != KB_STOP_RUNNING)
		kb_engine__log_result(e);
	if (done)
		*done = e->stop != KB_STOP_RUNNING;
	return 0;
}

int kb_engine_run(kb_engine *e)
{
	int done = 0;

	while (!done) {
		int rc = kb_engine_step(e, &done);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- progress ---- */

void kb_engine__dur(char *buf, size_t len, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
	else if (t >= 60)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, len, "%lds", t);
}

void kb_engine_progress(const kb_engine *e, char *buf, size_t len)
{
	double p;
	size_t top;
	char el[32], left[32];
	double rounds_left;

	if (!e || !len)
		return;
	top = kb_model_top(e->m, &p);
	kb_engine__dur(el, sizeof(el), e->tmax - e->t0);
	rounds_left = e->n_set > 1 ? ceil(log((double)e->n_set) / log(e->opt.workers + 1.0)) + 1 : 1;
	if (e->stop != KB_STOP_RUNNING)
		rounds_left = 0;
	kb_engine__dur(left, sizeof(left),
		rounds_left * (kb_engine__plan_gap_s(e) + kb_engine__plan_build_s(e) +
			       kb_engine__plan_test_s(e)));
	snprintf(buf, len, "round %u: %zu candidates left, top %s %.3f, elapsed %s, ~%s left",
		 e->round, e->n_set, nname(e, top), p, el, left);
}
