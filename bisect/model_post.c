/*
 * bisect/model_post.c - the posterior of the culprit model: the likelihood of each
 * kernel's tests, the marginal over the hyper-grid, and the queries on the result.
 * Owns: kb_model_update() and what reads its result about the culprit (posterior,
 * P(buggy), credible sets); what it says about crash rates is bisect/model_rates.c.
 * Not: the DAG, signatures and evidence bookkeeping (bisect/model.c).
 * DESIGN (issue 19): a kernel's runs are grouped in tests (one boot each). A test is,
 * with probability rho, all-or-nothing (its runs share one outcome), else its runs are
 * independent draws. A buggy kernel has its own rate q_g ~ Beta(mu kappa, (1-mu) kappa)
 * on the q grid (kappa "shared": q_g = mu for all); a clean one crashes at eps. rho,
 * mu, kappa and eps are summed over their grids. Under culprit h the likelihood is
 * the product over kernels of their buggy or clean likelihood, so it depends on h only
 * through the set of tested kernels buggy under h: hypotheses are grouped by that set
 * (a 64-bit XOR key), and one update costs O(evidence * n) bit operations plus
 * O(distinct sets * kernels * grid).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "model_internal.h"

/* Prior factor of a culprit that two identical kernels would disagree on: such a commit
 * cannot change the kernel, so it is kept only as a 1e-4 possibility (b925f68). */
#define KERNEL_SPLIT_PRIOR 1e-4

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


/* ---- likelihood of a kernel's tests ---- */

/* log P(one test's runs | the kernel's rate r, a share rho of tests all-or-nothing):
 * rho * P(one outcome for all runs) + (1 - rho) * P(independent runs); lr = log(r),
 * l1r = log1p(-r) */
static double test_ll(const kb_model__test *t, double lr, double l1r, double rho)
{
	double bin = t->target * lr + t->clean * l1r, aon;

	if (rho <= 0 || t->target + t->clean <= 1)
		return bin;
	if (t->target && t->clean)
		return log1p(-rho) + bin;
	aon = t->target ? lr : l1r;
	return aon + log(rho + (1 - rho) * exp(bin - aon)); /* bin <= aon */
}

/* sum of test_ll() over g's tests at rate r */
static double tests_ll(const kb_model__group *g, double r, double rho)
{
	double lr = log(r), l1r = log1p(-r), s = 0;

	for (size_t t = 0; t < g->n_tests; t++)
		s += test_ll(&g->tests[t], lr, l1r, rho);
	return s;
}

double kb_model__tests_ll(const kb_model__group *g, double r, double rho)
{
	return tests_ll(g, r, rho);
}

static double lse(const double *v, size_t n)
{
	double mx = -INFINITY, s = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] > mx)
			mx = v[i];
	if (mx == -INFINITY)
		return mx;
	for (size_t i = 0; i < n; i++)
		s += exp(v[i] - mx);
	return mx + log(s);
}

/* the first grid point of logw's row `row` a floor at q grid point f leaves (never
 * above the row's own mu) */
static size_t floor_lo(const kb_model *m, size_t row, size_t f)
{
	size_t mu = row % m->nq;

	return f < mu ? f : mu;
}

/* log weight of q grid point i in logw's row `row` floored at q grid point f: the row
 * without the points below the floor, renormalised (m->wsuf, set_floor()) */
double kb_model__floored_w(const kb_model *m, size_t row, size_t f, size_t i)
{
	size_t lo = floor_lo(m, row, f);

	return i < lo ? -INFINITY : m->logw[row * m->nq + i] - m->wsuf[row * m->nq + lo];
}

void kb_model__others(const kb_model *m, const kb_model__group *g, unsigned *t,
		      unsigned *n)
{
	double x = m->oth_x - g->cx, r = m->oth_n - g->cn;

	*t = x > 0 ? (unsigned)floor(x + 0.5) : 0, *n = r > 0 ? (unsigned)floor(r + 0.5) : 0;
	if (*t > *n)
		*t = *n;
}

/* the first q grid index at or above rate r (the last if none) */
static size_t grid_index(const kb_model *m, double r)
{
	size_t f = 0;

	while (f + 1 < m->nq && m->qgrid[f] < r)
		f++;
	return f;
}

/* The least own rate of g's kernel if buggy, as a q grid index: the shared floor
 * (m->floor_i, set_floor()), or for a kernel with target crashes, if lower, twice the
 * 95% upper bound of the false-crash rate the other kernels' runs allow (each weighed by
 * P(clean) at the last update, and the good end's: kb_model__others()). A buggy kernel
 * crashing at a low rate of its own, taken for clean, raises eps, and the shared floor
 * with it, until its own rate is below the floor: it could then never be found buggy,
 * however clean the other kernels (bench/accuracy/issue19/pass8.md). The bound
 * lowers the floor only where the others show eps low; while they have few runs the
 * kernel's own crashes are the best evidence of eps there is (a clean parent with 3%
 * false crashes). *memo keeps the last counts and their index: the buggy kernels, which
 * weigh nothing in the others' sums, all share them. */
static size_t group_floor(const kb_model *m, const kb_model__group *g, unsigned memo[3])
{
	unsigned x, n;
	size_t f;

	if (!g->target)
		return m->floor_i;
	kb_model__others(m, g, &x, &n);
	if (!n)
		return m->floor_i;
	if (memo[2] && memo[0] == x && memo[1] == n)
		f = memo[2] - 1;
	else
		f = grid_index(m, KB_MODEL__RATE_OVER_EPS * kb_model__binom_upper(x, n, 0.05));
	memo[0] = x, memo[1] = n, memo[2] = (unsigned)f + 1;
	return f < m->floor_i ? f : m->floor_i;
}

/* g->lb per (rho, mu, kappa): the kernel is buggy, its own rate drawn around mu, no
 * lower than q grid point floor (group_floor()); g->lc per (rho, eps): the kernel is
 * clean. Only lb again when just the floor moved. */
static int group_lik(const kb_model *m, kb_model__group *g, size_t floor)
{
	size_t nb = m->nr * m->nq * m->nk, nc = m->nr * m->ne;
	double llq[256], tmp[256];
	int lc_done = g->lb != NULL;

	if (!g->lb) {
		g->lb = malloc(nb * sizeof(*g->lb));
		g->lc = malloc(nc * sizeof(*g->lc));
		if (!g->lb || !g->lc) {
			free(g->lb), free(g->lc);
			g->lb = g->lc = NULL;
			return kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
		}
	}
	if (g->dirty || !lc_done)
		for (size_t r = 0; r < m->nr; r++)
			for (size_t e = 0; e < m->ne; e++)
				g->lc[r * m->ne + e] = tests_ll(g, m->egrid[e], m->rgrid[r]);
	g->floor_i = floor;
	for (size_t r = 0; r < m->nr; r++) {
		for (size_t i = 0; i < m->nq; i++)
			llq[i] = tests_ll(g, m->qgrid[i], m->rgrid[r]);
		for (size_t mu = 0; mu < m->nq; mu++)
			for (size_t k = 0; k < m->nk; k++) {
				double *out = &g->lb[(r * m->nq + mu) * m->nk + k];
				if (m->kgrid[k] <= 0) {
					*out = llq[mu];
					continue;
				}
				size_t row = k * m->nq + mu, lo = floor_lo(m, row, floor);
				const double *w = m->logw + row * m->nq;
				for (size_t i = lo; i < m->nq; i++)
					tmp[i - lo] = w[i] + llq[i];
				*out = lse(tmp, m->nq - lo) - m->wsuf[row * m->nq + lo];
			}
		if (m->fix) /* issue 22: rates a partial fix lowered (bisect/model_fix.c) */
			kb_model__fix_lowered(m, g, r, g->lb);
	}
	g->dirty = 0;
	return 0;
}

/* ---- posterior ---- */

struct pat {
	uint64_t key;  /* XOR of the keys of the kernels buggy under the pattern's hypotheses */
	size_t rep;    /* one hypothesis of the pattern (KB_MODEL_NONE: none) */
	double lml;    /* log marginal likelihood over the hyper-grid */
	double wsum;   /* prior weight of the hypotheses with this pattern */
	int used;
};

static size_t pat_slot(struct pat *tab, size_t mask, uint64_t key)
{
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
	while (tab[i].used && tab[i].key != key)
		i = (i + 1) & mask;
	return i;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* scratch of one update */
struct upd {
	size_t n_ev;
	kb_model__group **ev;   /* kernels with tests */
	const uint64_t *uni;    /* their closure unions, words per row */
	double *ctot;           /* per (rho, eps): every kernel clean (and outside runs) */
	double *A, *C, *LA, *J; /* per pattern: buggy sum, clean sum, over kappa, joint */
};

/* joint log lik. per (rho, mu, eps) of pattern p into u->J (prior included), with
 * u->A the kernels' sum per (rho, mu, kappa) and u->LA its sum over kappa; returns
 * its log sum. */
static double pat_joint(const kb_model *m, struct upd *u, const struct pat *p)
{
	size_t nb = m->nr * m->nq * m->nk, nc = m->nr * m->ne;

	memset(u->A, 0, nb * sizeof(*u->A));
	if (m->fix && m->out.n_tests) /* fix mode: the kernels outside have the bug */
		memcpy(u->A, m->out.lb, nb * sizeof(*u->A));
	memcpy(u->C, u->ctot, nc * sizeof(*u->C));
	if ((p->key && p->rep != KB_MODEL_NONE) || m->fix)
		for (size_t e = 0; e < u->n_ev; e++) {
			const uint64_t *row = u->uni + e * m->words;
			int in = p->key && p->rep != KB_MODEL_NONE &&
				 ((row[p->rep / 64] >> (p->rep % 64)) & 1);
			if (in == m->fix) /* cause: buggy iff in; fix: buggy iff not in */
				continue;
			const kb_model__group *g = u->ev[e];
			for (size_t i = 0; i < nb; i++)
				u->A[i] += g->lb[i];
			for (size_t i = 0; i < nc; i++)
				u->C[i] -= g->lc[i];
		}
	for (size_t r = 0; r < m->nr; r++)
		for (size_t mu = 0; mu < m->nq; mu++) {
			double v[KB_MODEL__MAX_KAPPA];
			const double *a = u->A + (r * m->nq + mu) * m->nk;
			for (size_t k = 0; k < m->nk; k++)
				v[k] = m->kprior[k] + a[k];
			u->LA[r * m->nq + mu] = lse(v, m->nk);
		}
	for (size_t r = 0; r < m->nr; r++)
		for (size_t mu = 0; mu < m->nq; mu++)
			for (size_t e = 0; e < m->ne; e++)
				u->J[(r * m->nq + mu) * m->ne + e] =
					m->rprior[r] + m->gprior[mu * m->ne + e] +
					u->LA[r * m->nq + mu] + u->C[r * m->ne + e];
	return lse(u->J, m->nr * m->nq * m->ne);
}

/* kb_model_update() step 1: the likelihood of each kernel's tests, buggy or clean;
 * the kernels with tests into u->ev, and per (rho, eps) every kernel clean into
 * u->ctot. */
static int upd_evidence(kb_model *m, struct upd *u, size_t nc)
{
	int rc;
	unsigned memo[3] = { 0 };

	for (size_t g = 0; g < m->n_groups; g++) {
		kb_model__group *gr = &m->groups[g];
		if (!gr->n_tests)
			continue;
		size_t f = group_floor(m, gr, memo);
		if ((gr->dirty || !gr->lb || f != gr->floor_i) && (rc = group_lik(m, gr, f)) != 0)
			return rc;
		u->ev[u->n_ev++] = gr;
	}
	memset(u->ctot, 0, nc * sizeof(*u->ctot));
	if (m->out.n_tests) {
		if ((m->out.dirty || !m->out.lb || m->out.floor_i != m->floor_i) &&
		    (rc = group_lik(m, &m->out, m->floor_i)) != 0)
			return rc;
		if (!m->fix) /* cause mode: the kernels outside are clean */
			memcpy(u->ctot, m->out.lc, nc * sizeof(*u->ctot));
	}
	for (size_t e = 0; e < u->n_ev; e++)
		for (size_t i = 0; i < nc; i++)
			u->ctot[i] += u->ev[e]->lc[i];
	return 0;
}

/* kb_model_update() step 2: union of the closure rows of each pooled kernel with
 * evidence (into *uni, set as u->uni), and per hypothesis the key of the set of
 * kernels buggy under it (into Z). */
static int upd_keys(kb_model *m, struct upd *u, uint64_t *Z, uint64_t **uni_out)
{
	uint64_t *uni;

	if (!u->n_ev)
		return 0;
	size_t *ev_of = malloc(m->n_groups * sizeof(*ev_of));
	uni = *uni_out = calloc(u->n_ev * m->words, sizeof(*uni));
	if (!uni || !ev_of) {
		free(ev_of);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
	}
	for (size_t g = 0; g < m->n_groups; g++)
		ev_of[g] = SIZE_MAX;
	for (size_t e = 0; e < u->n_ev; e++)
		ev_of[u->ev[e] - m->groups] = e;
	for (size_t c = 0; c < m->n; c++) {
		size_t e = ev_of[m->group[c]];
		if (e == SIZE_MAX)
			continue;
		const uint64_t *row = kb_model__row(m, c);
		uint64_t *x = uni + e * m->words;
		for (size_t w = 0; w <= c / 64; w++)
			x[w] |= row[w];
	}
	free(ev_of);
	for (size_t e = 0; e < u->n_ev; e++) {
		uint64_t key = mix64((uint64_t)e + 1);
		const uint64_t *x = uni + e * m->words;
		for (size_t w = 0; w < m->words; w++)
			for (uint64_t b = x[w]; b; b &= b - 1)
				Z[w * 64 + (size_t)__builtin_ctzll(b)] ^= key;
	}
	return 0;
}

/* kb_model_update() step 3: the hypotheses' prior weights into pw[] (their sum into
 * *wtot), and the distinct patterns into tab (cap slots, mask = cap - 1), each
 * hypothesis' slot into slot_of[]; the empty pattern also holds NONE. */
static void upd_patterns(kb_model *m, const uint64_t *Z, const uint64_t *split,
			 struct pat *tab, size_t mask, double *pw, uint32_t *slot_of,
			 double *wtot)
{
	for (size_t i = 0; i < m->n; i++) {
		pw[i] = m->weight[i];
		if (split[i / 64] >> (i % 64) & 1)
			pw[i] *= KERNEL_SPLIT_PRIOR;
		*wtot += pw[i];
	}
	for (size_t h = 0; h <= m->n; h++) {
		uint64_t key = h < m->n ? Z[h] : 0;
		size_t s = pat_slot(tab, mask, key);
		double w;
		if (!tab[s].used)
			tab[s].used = 1, tab[s].key = key, tab[s].rep = h < m->n ? h : KB_MODEL_NONE;
		if (h < m->n) {
			w = *wtot > 0 ? (1 - m->none_prior) * pw[h] / *wtot : 0;
			slot_of[h] = (uint32_t)s;
		} else {
			w = *wtot > 0 ? m->none_prior : 1.0;
		}
		tab[s].wsum += w;
	}
}

/* kb_model_update() step 4: the hyper-parameters' posterior, from the patterns that
 * matter (log weight above maxl - 40): unnormalized mass per (rho, mu, eps) into
 * acc[], per kappa into kacc[]. */
static void upd_hyper(const kb_model *m, struct upd *u, struct pat *tab, size_t cap,
		      double maxl, double *acc, double *kacc)
{
	size_t nj = m->nr * m->nq * m->ne;

	for (size_t s = 0; s < cap; s++) {
		if (!tab[s].used || tab[s].wsum <= 0)
			continue;
		double lw = log(tab[s].wsum) - maxl;
		if (tab[s].lml + lw < -40)
			continue;
		pat_joint(m, u, &tab[s]);
		for (size_t i = 0; i < nj; i++)
			acc[i] += exp(u->J[i] + lw);
		for (size_t r = 0; r < m->nr; r++)
			for (size_t mu = 0; mu < m->nq; mu++) {
				double a = u->LA[r * m->nq + mu], se = 0;
				const double *A = u->A + (r * m->nq + mu) * m->nk;
				for (size_t e = 0; e < m->ne; e++)
					se += exp(u->J[(r * m->nq + mu) * m->ne + e] + lw);
				for (size_t k = 0; k < m->nk && se > 0; k++)
					kacc[k] += se * exp(m->kprior[k] + A[k] - a);
			}
	}
}

/* kb_model_update() step 5: the marginals of the hyper-parameters from acc[] and
 * kacc[] (qpost, rpost, kpost, eps_mean, rho_mean, eps_hi, spread, kmap); ep is
 * scratch for the eps marginal (m->ne doubles). */
static void upd_marginals(kb_model *m, const double *acc, const double *kacc, double *ep)
{
	double ztot = 0, esum = 0, rsum = 0;
	memset(m->qpost, 0, m->nq * sizeof(*m->qpost));
	memset(ep, 0, m->ne * sizeof(*ep));
	memset(m->rpost, 0, sizeof(m->rpost));
	for (size_t r = 0; r < m->nr; r++)
		for (size_t mu = 0; mu < m->nq; mu++)
			for (size_t e = 0; e < m->ne; e++) {
				double a = acc[(r * m->nq + mu) * m->ne + e];
				m->qpost[mu] += a;
				ep[e] += a;
				esum += a * m->egrid[e];
				rsum += a * m->rgrid[r];
				m->rpost[r] += a;
				ztot += a;
			}
	for (size_t i = 0; i < m->nq; i++)
		m->qpost[i] = ztot > 0 ? m->qpost[i] / ztot : 1.0 / m->nq;
	m->eps_mean = ztot > 0 ? esum / ztot : m->egrid[0];
	m->rho_mean = ztot > 0 ? rsum / ztot : 0;
	for (size_t r = 0; r < m->nr; r++)
		m->rpost[r] = ztot > 0 ? m->rpost[r] / ztot : exp(m->rprior[r]);
	{
		double kt = 0, shared = 0, best = -1;
		for (size_t k = 0; k < m->nk; k++) {
			kt += kacc[k];
			if (m->kgrid[k] <= 0)
				shared += kacc[k];
			if (kacc[k] > best)
				best = kacc[k], m->kmap = k;
		}
		m->spread = kt > 0 ? 1 - shared / kt : 0;
		for (size_t k = 0; k < m->nk; k++)
			m->kpost[k] = kt > 0 ? kacc[k] / kt : 1.0 / m->nk;
		if (m->spread < 0)
			m->spread = 0;
	}
	m->eps_hi = kb_model__grid_quantile(m->egrid, ep, m->ne, 0.95);
	m->eps_lo = kb_model__grid_quantile(m->egrid, ep, m->ne, KB_MODEL__FLOOR_EPS_Q);
}

/* kb_model_update() step 6: the culprit's posterior per hypothesis and NONE, from
 * each one's prior weight and its pattern's marginal likelihood. */
static void upd_posterior(kb_model *m, struct pat *tab, size_t mask, const double *pw,
			  const uint32_t *slot_of, double wtot, double maxl)
{
	double tot = 0;

	for (size_t h = 0; h < m->n; h++) {
		struct pat *p = &tab[slot_of[h]];
		double w = wtot > 0 ? (1 - m->none_prior) * pw[h] / wtot : 0;
		m->post[h] = w > 0 ? exp(log(w) + p->lml - maxl) : 0;
		tot += m->post[h];
	}
	{
		struct pat *p = &tab[pat_slot(tab, mask, 0)];
		double w = wtot > 0 ? m->none_prior : 1.0;
		m->post_none = w > 0 ? exp(log(w) + p->lml - maxl) : 0;
		tot += m->post_none;
	}
	for (size_t h = 0; h < m->n; h++)
		m->post[h] /= tot;
	m->post_none /= tot;
}

/* kb_model_update() step 7: each kernel's target crashes and runs weighed by P(clean),
 * and their sums with the good end's, for the next update's group_floor() */
static void upd_others(kb_model *m)
{
	m->oth_x = m->out_target, m->oth_n = (double)m->out_target + m->out_clean;
	for (size_t g = 0; g < m->n_groups; g++)
		m->groups[g].cx = -1; /* not yet */
	for (size_t c = 0; c < m->n; c++) {
		kb_model__group *g = &m->groups[m->group[c]];
		if (g->cx >= 0)
			continue;
		double p = g->target + g->clean ? 1 - kb_model_buggy(m, c) : 0;
		g->cx = p * g->target, g->cn = p * (g->target + g->clean);
		m->oth_x += g->cx, m->oth_n += g->cn;
	}
}

/* The least own rate of a buggy kernel, KB_MODEL__RATE_OVER_EPS times the previous
 * update's low estimate of eps (eps_lo; 0 before the first update), as m->floor_i; and,
 * once per grid, m->wsuf: per row of m->logw and grid point f, the log of the row's
 * weight from f on, which renormalises a floored row (kb_model__floored_w()). A kernel's
 * likelihood is computed again when its floor moves (upd_evidence()). */
static int set_floor(kb_model *m)
{
	size_t nrow = m->nk * m->nq;

	m->floor_i = grid_index(m, KB_MODEL__RATE_OVER_EPS * m->eps_lo);
	if (m->wsuf)
		return 0;
	if (!(m->wsuf = malloc(nrow * m->nq * sizeof(*m->wsuf))))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
	for (size_t row = 0; row < nrow; row++) {
		const double *w = m->logw + row * m->nq;
		double *s = m->wsuf + row * m->nq, acc = -INFINITY;
		for (size_t i = m->nq; i-- > 0;) { /* log(exp(acc) + exp(w[i])), from the end */
			double a = acc > w[i] ? acc : w[i], b = acc > w[i] ? w[i] : acc;
			acc = a == -INFINITY ? a : a + log1p(exp(b - a));
			s[i] = acc;
		}
	}
	return 0;
}

int kb_model_update(kb_model *m)
{
	uint64_t *Z = NULL, *uni = NULL, *split = NULL;
	uint32_t *slot_of = NULL;
	double *pw = NULL, *buf = NULL, *acc = NULL, *kacc = NULL;
	struct pat *tab = NULL;
	struct upd u = { 0 };
	size_t cap, mask, nb = m ? m->nr * m->nq * m->nk : 0, nc = m ? m->nr * m->ne : 0;
	size_t nj = m ? m->nr * m->nq * m->ne : 0;
	double wtot = 0, maxl = -INFINITY;
	int rc = 0;

	if (!m || !m->finalized)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "model is not finalized; call kb_model_finalize() first");
	Z = calloc(m->n, sizeof(*Z));
	slot_of = malloc(m->n * sizeof(*slot_of));
	u.ev = malloc((m->n_groups + 1) * sizeof(*u.ev));
	pw = malloc(m->n * sizeof(*pw));
	buf = malloc((nc + nb + nc + m->nr * m->nq + nj) * sizeof(*buf));
	acc = calloc(nj, sizeof(*acc));
	kacc = calloc(KB_MODEL__MAX_KAPPA, sizeof(*kacc));
	split = split_mask(m);
	if (!Z || !slot_of || !u.ev || !pw || !buf || !acc || !kacc || !split) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
		goto out;
	}
	u.ctot = buf, u.A = buf + nc, u.C = u.A + nb, u.LA = u.C + nc;
	if (nc < m->ne) { /* the eps marginal borrows u.C */
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "model grid is empty");
		goto out;
	}
	u.J = u.LA + m->nr * m->nq;
	if ((rc = set_floor(m)) != 0 || (rc = upd_evidence(m, &u, nc)) != 0 ||
	    (rc = upd_keys(m, &u, Z, &uni)) != 0)
		goto out;
	u.uni = uni;
	/* distinct patterns; the empty one also holds NONE */
	for (cap = 64; cap < 2 * (m->n + 1); cap *= 2)
		;
	mask = cap - 1;
	tab = calloc(cap, sizeof(*tab));
	if (!tab) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory updating the model");
		goto out;
	}
	upd_patterns(m, Z, split, tab, mask, pw, slot_of, &wtot);
	/* log marginal likelihood per pattern */
	for (size_t s = 0; s < cap; s++) {
		if (!tab[s].used)
			continue;
		tab[s].lml = pat_joint(m, &u, &tab[s]);
		if (tab[s].wsum > 0 && tab[s].lml + log(tab[s].wsum) > maxl)
			maxl = tab[s].lml + log(tab[s].wsum);
	}
	upd_hyper(m, &u, tab, cap, maxl, acc, kacc);
	upd_marginals(m, acc, kacc, u.C /* eps marginal, scratch */);
	upd_posterior(m, tab, mask, pw, slot_of, wtot, maxl);
	m->updated = 1;
	upd_others(m);
out:
	free(Z), free(slot_of), free(u.ev), free(uni), free(tab), free(pw), free(split);
	free(buf), free(acc), free(kacc);
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
	return m->fix ? (s < 1 ? 1 - s : 0) : s;
}

int kb_model_buggy_all(double *out, const kb_model *m)
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
		out[c] = m->fix ? (s < 1 ? 1 - s : 0) : s;
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

int kb_model_credible_set(size_t **out, size_t *n, double *mass, const kb_model *m,
			  double conf)
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
