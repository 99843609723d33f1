/*
 * bisect/model.c - the Bayesian culprit model: DAG closure, pooled evidence, grid
 * posterior over (culprit, q, eps), credible sets.
 * Owns: the ancestor closure (bitset rows), signature groups, the (q, eps) grid.
 * Not: choosing tests or stopping (bisect/engine.c), classifying runs (the engine).
 * DESIGN: the likelihood of culprit h depends on the evidence only through
 * X(h), M(h) = target crashes and clean runs on the kernels that are buggy under h
 * (everything else is attributed to eps). Hypotheses are grouped by (X, M), so one
 * update costs O(evidence * n) bit operations plus O(distinct pairs * grid).
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
/* prior weight of eps grid point j (ascending): smaller false-positive rates likelier */
#define EPS_PRIOR_DECAY 0.6
/* Prior factor of a culprit that two identical kernels would disagree on: one descends
 * from it and one does not (a commit with its parent's kernel is the common case). A
 * kernel's behaviour is a function of the kernel; only a cause outside it (the bug in
 * something the build does not read) could make such a commit the culprit. */
#define KERNEL_SPLIT_PRIOR 1e-4

static int build_grid(kb_model *m, const double *q, size_t nq, const double *e, size_t ne)
{
	double *qg = malloc(nq * sizeof(*qg)), *eg = malloc(ne * sizeof(*eg));
	double *gp = malloc(nq * ne * sizeof(*gp)), *qp = calloc(nq, sizeof(*qp));
	double tot = 0;

	if (!qg || !eg || !gp || !qp) {
		free(qg), free(eg), free(gp), free(qp);
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
		free(qg), free(eg), free(gp), free(qp);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model grid has no pair with q > eps; give larger q values");
	}
	for (size_t k = 0; k < nq * ne; k++)
		gp[k] = gp[k] > 0 ? log(gp[k] / tot) : -INFINITY;
	free(m->qgrid), free(m->egrid), free(m->gprior), free(m->qpost);
	m->qgrid = qg, m->egrid = eg, m->gprior = gp, m->qpost = qp;
	m->nq = nq, m->ne = ne;
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
	if (o.eps_max == 0)
		o.eps_max = 0.02;
	if (o.eps_steps == 0)
		o.eps_steps = 8;
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
	free(m->edge_from), free(m->edge_to), free(m->group), free(m->groups);
	free(m->untestable), free(m->inert), free(m->qgrid), free(m->egrid), free(m->gprior);
	free(m->post), free(m->qpost);
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

int kb_model_signature(const kb_model *m, size_t node, kb_key *out)
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
	g->target += target, g->clean += clean, g->censored += censored;
	m->updated = 0;
	return 0;
}

int kb_model_add_outside_runs(kb_model *m, unsigned target, unsigned clean)
{
	if (!m)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no model");
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
	for (size_t i = 0; i < nq; i++)
		if (!(q[i] > 0 && q[i] < 1))
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
					     "model grid value q=%g is not in (0,1)", q[i]);
	for (size_t i = 0; i < neps; i++)
		if (!(eps[i] > 0 && eps[i] < 1))
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
					     "model grid value eps=%g is not in (0,1)", eps[i]);
	return build_grid(m, q, nq, eps, neps);
}

/* ---- posterior ---- */

struct pair {
	uint64_t key;  /* X << 32 | M, or ~0 for an empty slot */
	double lml;    /* log marginal likelihood over the grid */
	double wsum;   /* prior weight of the hypotheses with this pair */
};

static size_t pair_slot(struct pair *tab, size_t mask, uint64_t key)
{
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
	while (tab[i].key != UINT64_MAX && tab[i].key != key)
		i = (i + 1) & mask;
	return i;
}

static double pair_ll(const kb_model *m, size_t qi, size_t ei, double X, double M, double Xt,
		      double Mt)
{
	double q = m->qgrid[qi], e = m->egrid[ei];
	return X * log(q) + M * log1p(-q) + (Xt - X) * log(e) + (Mt - M) * log1p(-e);
}

/* Bitset of the hypotheses h under which two nodes of one signature group would differ
 * (h is an ancestor-or-self of some members but not of all), or that were declared
 * inert; NULL on out of memory. */
static uint64_t *split_mask(const kb_model *m)
{
	uint32_t *cnt = calloc(m->n_groups, sizeof(*cnt)), *slot = NULL;
	uint64_t *mask = calloc(m->words, sizeof(*mask)), *uni = NULL, *isect = NULL;
	size_t n_multi = 0;

	if (!cnt || !mask)
		goto fail;
	for (size_t c = 0; c < m->n; c++) {
		cnt[m->group[c]]++;
		if (m->inert[c])
			mask[c / 64] |= 1ull << (c % 64);
	}
	slot = malloc(m->n_groups * sizeof(*slot));
	if (!slot)
		goto fail;
	for (size_t g = 0; g < m->n_groups; g++)
		slot[g] = cnt[g] > 1 ? (uint32_t)n_multi++ : UINT32_MAX;
	if (n_multi) {
		uni = calloc(n_multi * m->words, sizeof(*uni));
		isect = malloc(n_multi * m->words * sizeof(*isect));
		if (!uni || !isect)
			goto fail;
		memset(isect, 0xff, n_multi * m->words * sizeof(*isect));
		for (size_t c = 0; c < m->n; c++) {
			uint32_t s = slot[m->group[c]];
			if (s == UINT32_MAX)
				continue;
			const uint64_t *row = kb_model__row(m, c);
			uint64_t *u = uni + (size_t)s * m->words, *x = isect + (size_t)s * m->words;
			for (size_t w = 0; w < m->words; w++)
				u[w] |= row[w], x[w] &= row[w];
		}
		for (size_t s = 0; s < n_multi; s++)
			for (size_t w = 0; w < m->words; w++)
				mask[w] |= uni[s * m->words + w] & ~isect[s * m->words + w];
	}
	free(cnt), free(slot), free(uni), free(isect);
	return mask;
fail:
	free(cnt), free(slot), free(uni), free(isect), free(mask);
	return NULL;
}

int kb_model_update(kb_model *m)
{
	uint32_t *X = NULL, *M = NULL;
	uint32_t *slot_of = NULL;
	size_t *ev_idx = NULL, n_ev = 0, cap, mask;
	uint64_t *uni = NULL, *split = NULL;
	double *pw = NULL; /* prior weight per hypothesis, split ones scaled down */
	struct pair *tab = NULL;
	double Xt, Mt, wtot = 0, maxl = -INFINITY, tot = 0;
	int rc = 0;

	if (!m || !m->finalized)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model is not finalized; call kb_model_finalize() first");
	X = calloc(m->n, sizeof(*X));
	M = calloc(m->n, sizeof(*M));
	slot_of = malloc(m->n * sizeof(*slot_of));
	ev_idx = malloc(m->n_groups * sizeof(*ev_idx));
	pw = malloc(m->n * sizeof(*pw));
	split = split_mask(m);
	if (!X || !M || !slot_of || !ev_idx || !pw || !split) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
		goto out;
	}
	Xt = m->out_target, Mt = m->out_clean;
	for (size_t g = 0; g < m->n_groups; g++) {
		ev_idx[g] = SIZE_MAX;
		if (m->groups[g].target || m->groups[g].clean) {
			ev_idx[g] = n_ev++;
			Xt += m->groups[g].target, Mt += m->groups[g].clean;
		}
	}
	/* union of the closure rows of each pooled kernel with evidence */
	if (n_ev) {
		uni = calloc(n_ev * m->words, sizeof(*uni));
		if (!uni) {
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
			goto out;
		}
		for (size_t c = 0; c < m->n; c++) {
			size_t e = ev_idx[m->group[c]];
			if (e == SIZE_MAX)
				continue;
			const uint64_t *row = kb_model__row(m, c);
			uint64_t *u = uni + e * m->words;
			for (size_t w = 0; w <= c / 64; w++)
				u[w] |= row[w];
		}
		for (size_t g = 0; g < m->n_groups; g++) {
			size_t e = ev_idx[g];
			if (e == SIZE_MAX)
				continue;
			const uint64_t *u = uni + e * m->words;
			for (size_t w = 0; w < m->words; w++)
				for (uint64_t b = u[w]; b; b &= b - 1) {
					size_t h = w * 64 + (size_t)__builtin_ctzll(b);
					X[h] += m->groups[g].target;
					M[h] += m->groups[g].clean;
				}
		}
	}
	/* distinct (X, M) pairs; slot 0 region also holds NONE's (0, 0) */
	for (cap = 64; cap < 2 * (m->n + 1); cap *= 2)
		;
	mask = cap - 1;
	tab = malloc(cap * sizeof(*tab));
	if (!tab) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
		goto out;
	}
	for (size_t i = 0; i < cap; i++)
		tab[i].key = UINT64_MAX, tab[i].wsum = 0;
	for (size_t i = 0; i < m->n; i++) {
		pw[i] = m->weight[i];
		if (split[i / 64] >> (i % 64) & 1)
			pw[i] *= KERNEL_SPLIT_PRIOR;
		wtot += pw[i];
	}
	for (size_t h = 0; h <= m->n; h++) {
		uint64_t key = h < m->n ? ((uint64_t)X[h] << 32 | M[h]) : 0;
		size_t s = pair_slot(tab, mask, key);
		double w;
		if (h < m->n) {
			w = wtot > 0 ? (1 - m->none_prior) * pw[h] / wtot : 0;
			slot_of[h] = (uint32_t)s;
		} else {
			w = wtot > 0 ? m->none_prior : 1.0;
		}
		tab[s].key = key;
		tab[s].wsum += w;
	}
	/* log marginal likelihood per pair, and the (q, eps) posterior */
	{
		size_t ng = m->nq * m->ne;
		double *jl = malloc(ng * sizeof(*jl));
		double *acc = calloc(ng, sizeof(*acc));
		double esum = 0, ztot = 0;
		if (!jl || !acc) {
			free(jl), free(acc);
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
			goto out;
		}
		for (size_t s = 0; s < cap; s++) {
			if (tab[s].key == UINT64_MAX)
				continue;
			double px = (double)(tab[s].key >> 32), pm = (double)(tab[s].key & 0xffffffffu);
			double mx = -INFINITY, sum = 0;
			for (size_t k = 0; k < ng; k++) {
				jl[k] = m->gprior[k] + pair_ll(m, k / m->ne, k % m->ne, px, pm, Xt, Mt);
				if (jl[k] > mx)
					mx = jl[k];
			}
			for (size_t k = 0; k < ng; k++)
				sum += exp(jl[k] - mx);
			tab[s].lml = mx + log(sum);
			if (tab[s].wsum > 0 && tab[s].lml + log(tab[s].wsum) > maxl)
				maxl = tab[s].lml + log(tab[s].wsum);
		}
		/* joint over the grid: sum_pairs wsum * exp(ll + prior), scaled by maxl */
		for (size_t s = 0; s < cap; s++) {
			if (tab[s].key == UINT64_MAX || tab[s].wsum <= 0)
				continue;
			double px = (double)(tab[s].key >> 32), pm = (double)(tab[s].key & 0xffffffffu);
			double lw = log(tab[s].wsum);
			for (size_t k = 0; k < ng; k++)
				acc[k] += exp(lw + m->gprior[k] +
					      pair_ll(m, k / m->ne, k % m->ne, px, pm, Xt, Mt) - maxl);
		}
		memset(m->qpost, 0, m->nq * sizeof(*m->qpost));
		for (size_t k = 0; k < ng; k++) {
			m->qpost[k / m->ne] += acc[k];
			esum += acc[k] * m->egrid[k % m->ne];
			ztot += acc[k];
		}
		for (size_t i = 0; i < m->nq; i++)
			m->qpost[i] = ztot > 0 ? m->qpost[i] / ztot : 1.0 / m->nq;
		m->eps_mean = ztot > 0 ? esum / ztot : m->egrid[0];
		free(jl), free(acc);
	}
	for (size_t h = 0; h < m->n; h++) {
		struct pair *p = &tab[slot_of[h]];
		double w = wtot > 0 ? (1 - m->none_prior) * pw[h] / wtot : 0;
		m->post[h] = w > 0 ? exp(log(w) + p->lml - maxl) : 0;
		tot += m->post[h];
	}
	{
		struct pair *p = &tab[pair_slot(tab, mask, 0)];
		double w = wtot > 0 ? m->none_prior : 1.0;
		m->post_none = w > 0 ? exp(log(w) + p->lml - maxl) : 0;
		tot += m->post_none;
	}
	for (size_t h = 0; h < m->n; h++)
		m->post[h] /= tot;
	m->post_none /= tot;
	m->updated = 1;
out:
	free(X), free(M), free(slot_of), free(ev_idx), free(uni), free(tab), free(pw), free(split);
	return rc;
}

double kb_model_posterior(const kb_model *m, size_t node)
{
	if (!m || !m->updated || node >= m->n)
		return node == KB_MODEL_NONE ? kb_model_posterior_none(m) : 0;
	return m->post[node];
}

double kb_model_posterior_none(const kb_model *m)
{
	return m && m->updated ? m->post_none : 0;
}

size_t kb_model_top(const kb_model *m, double *p)
{
	size_t best = KB_MODEL_NONE;
	double bp = kb_model_posterior_none(m);

	if (m && m->updated)
		for (size_t h = 0; h < m->n; h++)
			if (m->post[h] > bp)
				bp = m->post[h], best = h;
	if (p)
		*p = bp;
	return best;
}

double kb_model_buggy(const kb_model *m, size_t node)
{
	double s = 0;

	if (!m || !m->updated || !m->finalized || node >= m->n)
		return 0;
	const uint64_t *row = kb_model__row(m, node);
	for (size_t w = 0; w <= node / 64; w++)
		for (uint64_t b = row[w]; b; b &= b - 1)
			s += m->post[w * 64 + (size_t)__builtin_ctzll(b)];
	return s;
}

int kb_model_buggy_all(const kb_model *m, double *out)
{
	size_t nb;
	double *tab;

	if (!m || !m->updated || !m->finalized || !out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model has no posterior; call kb_model_update() first");
	nb = (m->n + 7) / 8;
	tab = malloc(nb * 256 * sizeof(*tab));
	if (!tab)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for model tables");
	for (size_t b = 0; b < nb; b++) {
		double *t = tab + b * 256;
		t[0] = 0;
		for (unsigned v = 1; v < 256; v++) {
			size_t h = b * 8 + (size_t)__builtin_ctz(v);
			t[v] = t[v & (v - 1)] + (h < m->n ? m->post[h] : 0);
		}
	}
	for (size_t c = 0; c < m->n; c++) {
		const uint64_t *row = kb_model__row(m, c);
		double s = 0;
		for (size_t b = 0; b <= c / 8; b++) {
			uint8_t v = (uint8_t)(row[b / 8] >> (8 * (b % 8)));
			s += tab[b * 256 + v];
		}
		out[c] = s;
	}
	free(tab);
	return 0;
}

struct ranked {
	size_t h;
	double p;
};

static int by_p_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return x->h < y->h ? -1 : x->h > y->h;
}

static int by_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int kb_model_credible_set(const kb_model *m, double conf, size_t **out, size_t *n,
			  double *mass)
{
	struct ranked *r;
	size_t k = 0, *set;
	double s = 0;

	if (!m || !out || !n || !(conf > 0 && conf <= 1))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "credible set needs a model and a confidence in (0,1]");
	if (!m->updated)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model has no posterior; call kb_model_update() first");
	r = malloc((m->n + 1) * sizeof(*r));
	set = malloc((m->n + 1) * sizeof(*set));
	if (!r || !set) {
		free(r), free(set);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a credible set");
	}
	for (size_t h = 0; h < m->n; h++)
		r[h].h = h, r[h].p = m->post[h];
	r[m->n].h = KB_MODEL_NONE, r[m->n].p = m->post_none;
	qsort(r, m->n + 1, sizeof(*r), by_p_desc);
	while (k <= m->n && (k == 0 || s < conf - 1e-12)) {
		set[k] = r[k].h;
		s += r[k].p;
		k++;
	}
	qsort(set, k, sizeof(*set), by_index); /* KB_MODEL_NONE is SIZE_MAX: last */
	free(r);
	*out = set, *n = k;
	if (mass)
		*mass = s;
	return 0;
}

void kb_model_rates(const kb_model *m, double *q_mean, double *q_lo, double *q_hi,
		    double *eps_mean)
{
	double mean = 0, c = 0, lo = 0, hi = 0;
	int have_lo = 0, have_hi = 0;

	if (!m || !m->updated) {
		if (q_mean)
			*q_mean = 0;
		if (q_lo)
			*q_lo = 0;
		if (q_hi)
			*q_hi = 0;
		if (eps_mean)
			*eps_mean = 0;
		return;
	}
	for (size_t i = 0; i < m->nq; i++) {
		mean += m->qpost[i] * m->qgrid[i];
		c += m->qpost[i];
		if (!have_lo && c >= 0.05)
			lo = m->qgrid[i], have_lo = 1;
		if (!have_hi && c >= 0.95)
			hi = m->qgrid[i], have_hi = 1;
	}
	if (!have_hi)
		hi = m->qgrid[m->nq - 1];
	if (q_mean)
		*q_mean = mean;
	if (q_lo)
		*q_lo = lo;
	if (q_hi)
		*q_hi = hi;
	if (eps_mean)
		*eps_mean = m->eps_mean;
}
