/*
 * bisect/model.c - the Bayesian culprit model: DAG closure, pooled evidence per kernel
 * and per test, the hyper-grid (mean rate mu, spread kappa, all-or-nothing share rho,
 * false-crash rate eps).
 * Owns: the ancestor closure (bitset rows), signature groups and their tests, the grids.
 * Not: the posterior and its queries (bisect/model_post.c, bisect/model_rates.c),
 * choosing tests or stopping (bisect/engine.c), classifying runs (the engine).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "model_internal.h"

#define NODE_CHECK(m, node)                                                              \
	do {                                                                             \
		if (!(m) || (node) >= (m)->n)                                            \
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,              \
					     "model node %zu out of range; the model has %zu " \
					     "nodes", (size_t)(node), (m) ? (m)->n : 0);   \
	} while (0)

/* The bug makes the target crash at least this many times likelier than without it;
 * without such a margin a flaky reproducer (q = 0.1) and a noisy clean kernel
 * (eps = 0.05) cannot be told apart. */
#define Q_OVER_EPS 5.0
/* prior weight of eps grid point j (ascending): smaller false-positive rates likelier.
 * 0.8 per step of the 0.0005..0.1 grid (~1.8x): 3% false crashes are 5x less likely a
 * priori than 0.05%. At 0.6 they were ~35x less likely, and a few false crashes on clean
 * kernels early in a bisection were read as a bug with a low rate of its own rather than
 * as false crashes (issue 19: 3% false crashes at q = 0.2 left the posterior spread over
 * most of the range for dozens of rounds). */
#define EPS_PRIOR_DECAY 0.8
/* Least first shape parameter of the Beta over a buggy kernel's own rate: where mu kappa
 * is below it, kappa is raised to MIN_RATE_SHAPE / mu (same mean, less spread). With a
 * shape below 1 the density grows without bound toward a rate of 0: a "buggy" kernel
 * whose bug almost never fires is as likely as one near the mean, and such a kernel
 * explains any number of clean tests (or a few false crashes) as well as a clean one
 * does, so no test can tell buggy from clean (at mu 0.15, kappa 5: Beta(0.75, 4.25)).
 * At 2 the density falls linearly to 0 at a rate of 0: a low rate of its own stays
 * possible (at mu 0.2: Beta(2, 8), 7% of kernels below mu / 4), a vanishing one does not. */
#define MIN_RATE_SHAPE 2.0

/* Default hyper-grids (issue 19). rho: share of tests whose runs share one outcome (a
 * snapshot's frozen randomness, one boot's state); most reproducers have none. kappa:
 * concentration of each buggy kernel's own rate around the mean (0: one rate for all;
 * 5: rates from about mu/4 to 2 mu are common). Priors favour the simple case; the
 * data move them (an all-crash test at q = 0.5 is 100x likelier with rho = 0.3). A rho
 * of 0.6 was tried (bench/accuracy/issue19/pass8.md): better where half the tests
 * freeze, worse at 30% with its prior taken from 0.35, and a cost in control. */
static const double RHO_GRID[] = { 0, 0.05, 0.15, 0.35 };
static const double RHO_PRIOR[] = { 0.4, 0.2, 0.2, 0.2 };
static const double KAPPA_GRID[] = { 0, 40, 12, 5 };
static const double KAPPA_PRIOR[] = { 0.55, 0.2, 0.15, 0.1 };

/* the hyper-grids: rho and kappa values with their prior weights (normalised here) */
static void set_hyper(kb_model *m, const double *rho, const double *rp, size_t nr,
		      const double *kap, const double *kp, size_t nk)
{
	double tr = 0, tk = 0;

	for (size_t i = 0; i < nr; i++)
		tr += rp[i];
	for (size_t i = 0; i < nk; i++)
		tk += kp[i];
	for (size_t i = 0; i < nr; i++)
		m->rgrid[i] = rho[i], m->rprior[i] = log(rp[i] / tr);
	for (size_t i = 0; i < nk; i++)
		m->kgrid[i] = kap[i], m->kprior[i] = log(kp[i] / tk);
	m->nr = nr, m->nk = nk;
}

/* one rate for every buggy kernel, independent runs */
static void set_hyper_iid(kb_model *m)
{
	const double zero = 0, one = 1;

	set_hyper(m, &zero, &one, 1, &zero, &one, 1);
}

/* log weights of a kernel's own rate q_i given mu and kappa (a Beta(mu kappa,
 * (1 - mu) kappa) on the q grid, kappa no lower than MIN_RATE_SHAPE / mu); NULL on out
 * of memory */
static double *make_logw(const kb_model *m, const double *q, size_t nq)
{
	double *w = malloc(m->nk * nq * nq * sizeof(*w));

	if (!w)
		return NULL;
	for (size_t k = 0; k < m->nk; k++)
		for (size_t mu = 0; mu < nq; mu++) {
			double *row = w + (k * nq + mu) * nq, kap = m->kgrid[k];
			if (kap <= 0) {
				for (size_t i = 0; i < nq; i++)
					row[i] = i == mu ? 0 : -INFINITY;
				continue;
			}
			if (q[mu] * kap < MIN_RATE_SHAPE)
				kap = MIN_RATE_SHAPE / q[mu];
			double a = q[mu] * kap, b = (1 - q[mu]) * kap, mx = -INFINITY, s = 0;
			for (size_t i = 0; i < nq; i++) {
				row[i] = (a - 1) * log(q[i]) + (b - 1) * log1p(-q[i]);
				if (row[i] > mx)
					mx = row[i];
			}
			for (size_t i = 0; i < nq; i++)
				s += exp(row[i] - mx);
			for (size_t i = 0; i < nq; i++)
				row[i] -= mx + log(s);
		}
	return w;
}

/* forget the cached likelihoods (the grids or the floored rate rows changed) */
void kb_model__groups_dirty(kb_model *m)
{
	for (size_t g = 0; g < m->n_groups; g++) {
		free(m->groups[g].lb), free(m->groups[g].lc);
		m->groups[g].lb = m->groups[g].lc = NULL;
	}
	free(m->out.lb), free(m->out.lc);
	m->out.lb = m->out.lc = NULL;
}

static int build_grid(kb_model *m, const double *q, size_t nq, const double *e, size_t ne)
{
	double *qg = malloc(nq * sizeof(*qg)), *eg = malloc(ne * sizeof(*eg));
	double *gp = malloc(nq * ne * sizeof(*gp)), *qp = calloc(nq, sizeof(*qp));
	double *lw = make_logw(m, q, nq);
	double tot = 0;

	if (!qg || !eg || !gp || !qp || !lw) {
		free(qg), free(eg), free(gp), free(qp), free(lw);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the model grid");
	}
	memcpy(qg, q, nq * sizeof(*qg));
	memcpy(eg, e, ne * sizeof(*eg));
	for (size_t i = 0; i < nq; i++)
		for (size_t j = 0; j < ne; j++) {
			gp[i * ne + j] = q[i] >= Q_OVER_EPS * e[j] ? pow(EPS_PRIOR_DECAY, (double)j) : 0.0;
			tot += gp[i * ne + j];
		}
	if (tot <= 0) {
		free(qg), free(eg), free(gp), free(qp), free(lw);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model grid has no pair with q > eps; give larger q values");
	}
	for (size_t k = 0; k < nq * ne; k++)
		gp[k] = gp[k] > 0 ? log(gp[k] / tot) : -INFINITY;
	free(m->qgrid), free(m->egrid), free(m->gprior), free(m->qpost), free(m->logw);
	free(m->wsuf); /* set_floor() makes it again from the new rows */
	m->qgrid = qg, m->egrid = eg, m->gprior = gp, m->qpost = qp, m->logw = lw;
	m->wsuf = NULL;
	m->nq = nq, m->ne = ne;
	kb_model__groups_dirty(m);
	m->updated = 0;
	return 0;
}

int kb_model_new(kb_model **out, size_t n, const kb_model_opts *opts)
{
	kb_model_opts o = { 0 };
	kb_model *m;
	double qv[256], ev[64];
	int rc;

	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_model_new: out is NULL");
	*out = NULL;
	if (n == 0 || n > KB_MODEL_MAX_NODES)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "cannot model %zu candidate commits; the limit is %d "
				     "(narrow the range with a closer good commit)",
				     n, KB_MODEL_MAX_NODES);
	if (opts)
		o = *opts;
	if (o.none_prior == 0)
		o.none_prior = 0.05;
	if (o.none_prior < 0)
		o.none_prior = 0;
	if (o.eps_min == 0)
		o.eps_min = 0.0005;
	if (o.eps_max == 0) /* fix mode: a crash shows the bug is still there (see model.h) */
		o.eps_max = o.iid_runs ? 0.02 : o.fix ? KB_MODEL__FIX_EPS_MAX : 0.1;
	if (o.eps_steps == 0)
		o.eps_steps = o.iid_runs ? 8 : 10;
	if (o.q_steps == 0)
		o.q_steps = 40;
	if (o.none_prior >= 1 || o.eps_min <= 0 || o.eps_max < o.eps_min || o.eps_max >= 1 ||
	    o.eps_steps < 1 || o.eps_steps > 64 || o.q_steps < 1 || o.q_steps > 256)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad model options: need 0 <= none_prior < 1, "
				     "0 < eps_min <= eps_max < 1, 1..64 eps steps, 1..256 q steps");
	m = calloc(1, sizeof(*m));
	if (!m)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a model of %zu nodes", n);
	m->n = n;
	m->words = (n + 63) / 64;
	m->none_prior = o.none_prior;
	m->fix = o.fix ? 1 : 0;
	m->weight = malloc(n * sizeof(*m->weight));
	m->group = malloc(n * sizeof(*m->group));
	m->groups = calloc(n, sizeof(*m->groups));
	m->untestable = calloc(n, 1);
	m->inert = calloc(n, 1);
	m->post = calloc(n, sizeof(*m->post));
	if (!m->weight || !m->group || !m->groups || !m->untestable || !m->inert ||
	    !m->post) {
		kb_model_free(m);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a model of %zu nodes", n);
	}
	m->n_groups = n;
	for (size_t i = 0; i < n; i++) {
		m->weight[i] = 1.0;
		m->group[i] = (uint32_t)i;
	}
	if (o.iid_runs)
		set_hyper_iid(m);
	else
		set_hyper(m, RHO_GRID, RHO_PRIOR, sizeof(RHO_GRID) / sizeof(RHO_GRID[0]),
			  KAPPA_GRID, KAPPA_PRIOR, sizeof(KAPPA_GRID) / sizeof(KAPPA_GRID[0]));
	for (int i = 0; i < o.q_steps; i++)
		qv[i] = (i + 0.5) / o.q_steps;
	for (int i = 0; i < o.eps_steps; i++)
		ev[i] = o.eps_steps == 1 ? o.eps_min
					 : o.eps_min * pow(o.eps_max / o.eps_min,
							   (double)i / (o.eps_steps - 1));
	rc = build_grid(m, qv, (size_t)o.q_steps, ev, (size_t)o.eps_steps);
	if (rc) {
		kb_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void kb_model_free(kb_model *m)
{
	if (!m)
		return;
	free(m->anc), free(m->weight), free(m->par_off), free(m->par);
	if (m->groups) {
		kb_model__groups_dirty(m);
		for (size_t g = 0; g < m->n_groups; g++)
			free(m->groups[g].tests);
	}
	free(m->out.tests), free(m->out.lb), free(m->out.lc);
	free(m->edge_from), free(m->edge_to), free(m->group), free(m->groups);
	free(m->untestable), free(m->inert), free(m->qgrid), free(m->egrid), free(m->gprior);
	free(m->post), free(m->qpost), free(m->logw), free(m->wsuf);
	free(m);
}

size_t kb_model_size(const kb_model *m)
{
	return m ? m->n : 0;
}

int kb_model_set_weight(kb_model *m, size_t node, double weight)
{
	NODE_CHECK(m, node);
	if (!(weight >= 0) || isinf(weight))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "weight of model node %zu must be finite and >= 0", node);
	m->weight[node] = weight;
	m->updated = 0;
	return 0;
}

int kb_model_add_parent(kb_model *m, size_t node, size_t parent)
{
	NODE_CHECK(m, node);
	if (m->finalized)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "cannot add an edge to a finalized model; add all edges "
				     "before kb_model_finalize()");
	if (parent >= node)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "parent %zu of model node %zu must have a smaller index "
				     "(give nodes in topological order)", parent, node);
	if (m->n_edges == m->cap_edges) {
		size_t cap = m->cap_edges ? m->cap_edges * 2 : 64;
		size_t *f = realloc(m->edge_from, cap * sizeof(*f));
		if (f)
			m->edge_from = f;
		size_t *t = f ? realloc(m->edge_to, cap * sizeof(*t)) : NULL;
		if (!f || !t)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for model edges");
		m->edge_to = t;
		m->cap_edges = cap;
	}
	m->edge_from[m->n_edges] = node;
	m->edge_to[m->n_edges] = parent;
	m->n_edges++;
	return 0;
}

int kb_model_finalize(kb_model *m)
{
	if (!m)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_model_finalize: no model");
	if (m->finalized)
		return 0;
	m->anc = calloc(m->n * m->words, sizeof(uint64_t));
	m->par_off = calloc(m->n + 1, sizeof(size_t));
	m->par = malloc((m->n_edges ? m->n_edges : 1) * sizeof(size_t));
	if (!m->anc || !m->par_off || !m->par)
		return kb_error_set(KB_ERRCLASS_OS,
				    "out of memory for the ancestor closure of %zu nodes (%zu MiB)",
				    m->n, m->n * m->words * 8 >> 20);
	for (size_t e = 0; e < m->n_edges; e++)
		m->par_off[m->edge_from[e] + 1]++;
	for (size_t i = 0; i < m->n; i++)
		m->par_off[i + 1] += m->par_off[i];
	{
		size_t *fill = calloc(m->n, sizeof(size_t));
		if (!fill)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for model edges");
		for (size_t e = 0; e < m->n_edges; e++) {
			size_t c = m->edge_from[e];
			m->par[m->par_off[c] + fill[c]++] = m->edge_to[e];
		}
		free(fill);
	}
	for (size_t c = 0; c < m->n; c++) {
		uint64_t *row = m->anc + c * m->words;
		size_t lim = c / 64 + 1;
		row[c / 64] |= 1ull << (c % 64);
		for (size_t i = m->par_off[c]; i < m->par_off[c + 1]; i++) {
			const uint64_t *pr = m->anc + m->par[i] * m->words;
			for (size_t w = 0; w < lim; w++)
				row[w] |= pr[w];
		}
	}
	free(m->edge_from), free(m->edge_to);
	m->edge_from = m->edge_to = NULL;
	m->finalized = 1;
	m->updated = 0;
	return 0;
}

int kb_model_is_ancestor(const kb_model *m, size_t a, size_t c)
{
	if (!m || !m->finalized || a >= m->n || c >= m->n)
		return 0;
	return (int)((kb_model__row(m, c)[a / 64] >> (a % 64)) & 1);
}

size_t kb_model_n_parents(const kb_model *m, size_t node)
{
	if (!m || !m->finalized || node >= m->n)
		return 0;
	return m->par_off[node + 1] - m->par_off[node];
}

size_t kb_model_parent(const kb_model *m, size_t node, size_t i)
{
	if (i >= kb_model_n_parents(m, node))
		return KB_MODEL_NONE;
	return m->par[m->par_off[node] + i];
}

/* append one test to g (nothing when it has neither a target crash nor a clean run) */
static int push_test(kb_model__group *g, unsigned target, unsigned clean)
{
	if (!target && !clean)
		return 0;
	if (g->n_tests == g->cap_tests) {
		size_t cap = g->cap_tests ? 2 * g->cap_tests : 4;
		kb_model__test *t = realloc(g->tests, cap * sizeof(*t));
		if (!t)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the model's tests");
		g->tests = t, g->cap_tests = cap;
	}
	g->tests[g->n_tests].target = target, g->tests[g->n_tests].clean = clean;
	g->n_tests++;
	g->dirty = 1;
	return 0;
}

int kb_model_set_signature(kb_model *m, size_t node, const kb_key *sig)
{
	kb_model__group *own;

	NODE_CHECK(m, node);
	if (!sig)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no signature for node %zu",
				     node);
	own = &m->groups[m->group[node]];
	if (own->has_sig) {
		if (kb_key_equal(&own->sig, sig))
			return 0;
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model node %zu already has another kernel signature; "
				     "a commit's kernel cannot change", node);
	}
	for (size_t g = 0; g < m->n_groups; g++) {
		kb_model__group *o = &m->groups[g];
		if (!o->has_sig || !kb_key_equal(&o->sig, sig))
			continue;
		/* node's own group is a singleton without signature: merge it */
		for (size_t t = 0; t < own->n_tests; t++) {
			int rc = push_test(o, own->tests[t].target, own->tests[t].clean);
			if (rc)
				return rc;
		}
		own->n_tests = 0;
		own->dirty = 1;
		o->target += own->target, o->clean += own->clean, o->censored += own->censored;
		own->target = own->clean = own->censored = 0;
		m->group[node] = (uint32_t)g;
		m->updated = 0;
		return 0;
	}
	own->has_sig = 1;
	own->sig = *sig;
	return 0;
}

int kb_model_signature(kb_key *out, const kb_model *m, size_t node)
{
	const kb_model__group *g;

	if (!m || node >= m->n)
		return 0;
	g = &m->groups[m->group[node]];
	if (!g->has_sig)
		return 0;
	if (out)
		*out = g->sig;
	return 1;
}

int kb_model_add_runs(kb_model *m, size_t node, unsigned target, unsigned clean,
		      unsigned censored)
{
	kb_model__group *g;

	NODE_CHECK(m, node);
	g = &m->groups[m->group[node]];
	int rc = push_test(g, target, clean);
	if (rc)
		return rc;
	g->target += target, g->clean += clean, g->censored += censored;
	m->updated = 0;
	return 0;
}

int kb_model_add_outside_runs(kb_model *m, unsigned target, unsigned clean)
{
	if (!m)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no model");
	int rc = push_test(&m->out, target, clean);
	if (rc)
		return rc;
	m->out_target += target, m->out_clean += clean;
	m->updated = 0;
	return 0;
}

void kb_model_evidence(const kb_model *m, size_t node, unsigned *target, unsigned *clean,
		       unsigned *censored)
{
	const kb_model__group *g = NULL;

	if (m && node < m->n)
		g = &m->groups[m->group[node]];
	if (target)
		*target = g ? g->target : 0;
	if (clean)
		*clean = g ? g->clean : 0;
	if (censored)
		*censored = g ? g->censored : 0;
}

void kb_model_tests(const kb_model *m, size_t node, unsigned *tests, unsigned *clean_tests,
		    unsigned *target_tests)
{
	const kb_model__group *g = m && node < m->n ? &m->groups[m->group[node]] : NULL;
	unsigned n = 0, c = 0, t = 0;

	for (size_t i = 0; g && i < g->n_tests; i++) {
		n++;
		c += g->tests[i].target == 0;
		t += g->tests[i].target > 0;
	}
	if (tests)
		*tests = n;
	if (clean_tests)
		*clean_tests = c;
	if (target_tests)
		*target_tests = t;
}

int kb_model_set_untestable(kb_model *m, size_t node, int untestable)
{
	NODE_CHECK(m, node);
	m->untestable[node] = untestable ? 1 : 0;
	return 0;
}

int kb_model_set_inert(kb_model *m, size_t node)
{
	NODE_CHECK(m, node);
	if (!m->inert[node])
		m->updated = 0;
	m->inert[node] = 1;
	return 0;
}

int kb_model_untestable(const kb_model *m, size_t node)
{
	return m && node < m->n ? m->untestable[node] : 0;
}

int kb_model_set_grid(kb_model *m, const double *q, size_t nq, const double *eps,
		      size_t neps)
{
	if (!m || !q || !eps || nq == 0 || neps == 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model grid needs at least one q and one eps value");
	if (nq > 256 || neps > 64) /* the sizes kb_model_new() allows */
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model grid of %zu q and %zu eps values is too large; the "
				     "limits are 256 and 64", nq, neps);
	for (size_t i = 0; i < nq; i++)
		if (!(q[i] > 0 && q[i] < 1))
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
					     "model grid value q=%g is not in (0,1)", q[i]);
	for (size_t i = 0; i < neps; i++)
		if (!(eps[i] > 0 && eps[i] < 1))
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
					     "model grid value eps=%g is not in (0,1)", eps[i]);
	set_hyper_iid(m); /* known rates */
	return build_grid(m, q, nq, eps, neps);
}

