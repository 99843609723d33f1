/*
 * bisect/model_rates.c - what the culprit model's posterior says about crash rates:
 * the shared rate and false-crash rate, the signs of misfit, a buggy kernel's own rate,
 * what a test of a kernel can tell, and how likely a buggy kernel's tests were to look
 * clean (the stop rule's frozen-test check); the binomial helpers they share.
 * Owns: the read-only rate queries of include/kbisect/model.h.
 * Not: the update that makes the posterior (bisect/model_post.c).
 */
#include <math.h>

#include "model_internal.h"

void kb_model_rates(const kb_model *m, double *q_mean, double *q_lo, double *q_hi,
		    double *eps_mean)
{
	double mean = 0, lo, hi;

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
	for (size_t i = 0; i < m->nq; i++)
		mean += m->qpost[i] * m->qgrid[i];
	lo = kb_model__grid_quantile(m->qgrid, m->qpost, m->nq, 0.05);
	hi = kb_model__grid_quantile(m->qgrid, m->qpost, m->nq, 0.95);
	if (q_mean)
		*q_mean = mean;
	if (q_lo)
		*q_lo = lo;
	if (q_hi)
		*q_hi = hi;
	if (eps_mean)
		*eps_mean = m->eps_mean;
}

void kb_model_misfit(const kb_model *m, double *eps_hi, double *rho, double *spread)
{
	int ok = m && m->updated;

	if (eps_hi)
		*eps_hi = ok ? m->eps_hi : 0;
	if (rho)
		*rho = ok ? m->rho_mean : 0;
	if (spread)
		*spread = ok ? m->spread : 0;
}

static double h2(double p)
{
	return p <= 0 || p >= 1 ? 0 : -(p * log2(p) + (1 - p) * log2(1 - p));
}

double kb_model__clean_test_p(double rate, double rho, unsigned runs)
{
	return rho * (1 - rate) + (1 - rho) * pow(1 - rate, runs);
}

double kb_model__even_info(double pb, double pc)
{
	return h2(0.5 * pb + 0.5 * pc) - 0.5 * h2(pb) - 0.5 * h2(pc);
}

double kb_model_test_clarity(const kb_model *m, size_t node, unsigned runs)
{
	const kb_model__group *g;
	double ll[256], miss[256], lk[KB_MODEL__MAX_KAPPA], pk[KB_MODEL__MAX_KAPPA];
	double pb = 0, pc, rho, e, best = -1, mk = -INFINITY, sk = 0;
	size_t mu = 0;

	if (!m || !m->updated || node >= m->n || runs == 0)
		return 1;
	g = &m->groups[m->group[node]];
	rho = m->rho_mean, e = m->eps_mean;
	for (size_t i = 0; i < m->nq; i++)
		if (m->qpost[i] > best)
			best = m->qpost[i], mu = i;
	for (size_t i = 0; i < m->nq; i++) {
		ll[i] = kb_model__tests_ll(g, m->qgrid[i], rho);
		miss[i] = kb_model__clean_test_p(m->qgrid[i], rho, runs);
	}
	/* given that this kernel is buggy: each spread weighed by how well it explains the
	 * kernel's own tests, and the kernel's rate by its tests under that spread */
	for (size_t k = 0; k < m->nk; k++) {
		double w[256], mx = -INFINITY, s = 0, p = 0;
		for (size_t i = 0; i < m->nq; i++) {
			w[i] = kb_model__floored_w(m, k * m->nq + mu, m->floor_i, i);
			if (w[i] + ll[i] > mx)
				mx = w[i] + ll[i];
		}
		if (mx == -INFINITY || !(m->kpost[k] > 0)) {
			lk[k] = -INFINITY, pk[k] = 0;
			continue;
		}
		for (size_t i = 0; i < m->nq; i++) {
			double x = exp(w[i] + ll[i] - mx);
			s += x, p += x * (1 - miss[i]);
		}
		lk[k] = log(m->kpost[k]) + mx + log(s);
		pk[k] = p / s;
		if (lk[k] > mk)
			mk = lk[k];
	}
	if (mk == -INFINITY)
		return 1;
	for (size_t k = 0; k < m->nk; k++) {
		double x = lk[k] > -INFINITY ? exp(lk[k] - mk) : 0;
		sk += x, pb += x * pk[k];
	}
	pb /= sk;
	pc = 1 - kb_model__clean_test_p(e, rho, runs);
	return kb_model__even_info(pb, pc);
}

double kb_model_kernel_rate_quantile(const kb_model *m, double quantile)
{
	double p[256] = { 0 };

	if (!m || !m->updated || m->nq == 0)
		return 0;
	for (size_t k = 0; k < m->nk; k++)
		for (size_t mu = 0; mu < m->nq; mu++) {
			double wk = m->kpost[k] * m->qpost[mu];
			if (!(wk > 1e-12))
				continue;
			for (size_t i = 0; i < m->nq; i++) {
				double w = kb_model__floored_w(m, k * m->nq + mu, m->floor_i, i);
				if (w > -INFINITY)
					p[i] += wk * exp(w);
			}
		}
	return kb_model__grid_quantile(m->qgrid, p, m->nq, quantile);
}

double kb_model__grid_quantile(const double *x, const double *w, size_t n, double quantile)
{
	double tot = 0, c = 0;

	for (size_t i = 0; i < n; i++)
		tot += w[i];
	for (size_t i = 0; i < n && tot > 0; i++) {
		c += w[i];
		if (c >= quantile * tot)
			return x[i];
	}
	return n ? x[n - 1] : 0;
}

double kb_model__binom_cdf(unsigned x, unsigned n, double p)
{
	double s = 0;

	if (x >= n)
		return 1;
	for (unsigned k = 0; k <= x; k++)
		s += exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) +
			 (n - k) * log1p(-p));
	return s > 1 ? 1 : s;
}

double kb_model__binom_upper(unsigned x, unsigned n, double alpha)
{
	double lo, hi = 1;

	if (!n || x >= n)
		return 1;
	lo = (double)x / n;
	for (int i = 0; i < 40; i++) {
		double mid = (lo + hi) / 2;
		if (kb_model__binom_cdf(x, n, mid) > alpha)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

double kb_model_buggy_miss(const kb_model *m, size_t node, double q, unsigned min_runs)
{
	const kb_model__group *g;
	double miss = 0, tot = 0;

	if (!m || !m->updated || node >= m->n || !(q > 0 && q < 1))
		return 1;
	g = &m->groups[m->group[node]];
	double indep = 1;
	size_t n = 0;
	for (size_t i = 0; i < g->n_tests; i++) {
		const kb_model__test *t = &g->tests[i];
		if (t->clean < min_runs)
			continue;
		n++;
		indep *= t->target ? kb_model__binom_cdf(t->target, t->target + t->clean, q)
				   : pow(1 - q, t->clean);
	}
	if (!n)
		return 1; /* no test tells */
	for (size_t r = 0; r < m->nr; r++) {
		double rho = m->rgrid[r], p = 1;
		for (size_t i = 0; i < g->n_tests; i++) {
			const kb_model__test *t = &g->tests[i];
			if (t->clean < min_runs)
				continue;
			if (!t->target)
				p *= kb_model__clean_test_p(q, rho, t->clean);
			else
				p *= (1 - rho) * kb_model__binom_cdf(t->target, t->target + t->clean, q);
		}
		miss += m->rpost[r] * p;
		tot += m->rpost[r];
	}
	if (!(tot > 0))
		return 1;
	miss = miss / tot - indep; /* what freezing adds to independent runs */
	return miss > 0 ? miss : 0;
}
