/*
 * bisect/model_internal.h - the body of kb_model, shared by the model and the engine
 * (module-internal; never in include/).
 */
#ifndef KB_BISECT_MODEL_INTERNAL_H
#define KB_BISECT_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/model.h"

/** One test (one boot of a kernel, its runs): target crashes and clean runs. */
typedef struct {
	unsigned target, clean;
} kb_model__test;

/** One pooled kernel: the nodes sharing a signature, their runs and tests. */
typedef struct {
	unsigned target, clean, censored;
	int has_sig;
	kb_key sig;
	kb_model__test *tests;  /* tests with at least one target crash or clean run */
	size_t n_tests, cap_tests;
	double *lb;             /* log lik. of the tests if this kernel is buggy, per (rho, mu, kappa) */
	double *lc;             /* ... if it is clean, per (rho, eps) */
	int dirty;              /* tests changed since lb/lc were computed */
	size_t floor_i;         /* the floor lb was computed with (model_post.c group_floor()) */
	double cx, cn;          /* its target crashes and runs weighed by P(clean) at the last
				 * update (0 before one), in m->oth_x, m->oth_n */
} kb_model__group;

/* fix mode's default largest false-crash rate (issue 22): a partial fix that lowers q
 * must not pass for a fixed kernel with false crashes */
#define KB_MODEL__FIX_EPS_MAX 0.01
/* fix mode's prior share of buggy kernels whose rate a partial fix lowered, and the
 * least fraction of the mean rate it lowers it to (bisect/model_fix.c) */
#define KB_MODEL__FIX_LOWERED_SHARE 0.2
#define KB_MODEL__FIX_LOWERED_TO 0.05

/* a buggy kernel's own rate is at least this many times the false-crash rate (as the
 * mean rate is at least Q_OVER_EPS times it, bisect/model.c): a kernel crashing less
 * often than that cannot be told from a clean one by any number of runs (settable with
 * -D to measure without it, as bench/accuracy/issue19/pass6.md does) */
#ifndef KB_MODEL__RATE_OVER_EPS
#define KB_MODEL__RATE_OVER_EPS 2.0
#endif

/* ... taken at this quantile of eps's posterior: a low estimate, since a floor from an
 * eps the data merely allow would hide a real low-rate culprit (bench/accuracy) */
#define KB_MODEL__FLOOR_EPS_Q 0.25

/* hyper-grid sizes of the over-dispersion and spread of per-kernel rates */
#define KB_MODEL__MAX_RHO 8
#define KB_MODEL__MAX_KAPPA 8

struct kb_model {
	size_t n;
	size_t words;           /* 64-bit words per closure row */
	uint64_t *anc;          /* row c: bit h set iff h is an ancestor of c or c itself */
	double *weight;         /* prior weight per node */
	double none_prior;
	int fix;                /* kb_model_opts.fix: buggy iff the hypothesis is NOT an ancestor */
	size_t *par_off;        /* CSR of parents, built at finalize */
	size_t *par;
	size_t *edge_from, *edge_to, n_edges, cap_edges; /* before finalize */
	int finalized;
	uint32_t *group;        /* node -> group index */
	kb_model__group *groups;
	size_t n_groups;
	uint8_t *untestable;
	uint8_t *inert;         /* kernel known to be its parent's (kb_model_set_inert) */
	unsigned out_target, out_clean; /* runs on outside (good) kernels */
	kb_model__group out;    /* their tests (a kernel clean under every hypothesis) */
	double *qgrid, *egrid, *gprior; /* grid values, prior per (qi, ei) */
	size_t nq, ne;
	/* issue 19: rho = share of tests whose runs share one outcome; kappa = concentration
	 * of the Beta prior of each buggy kernel's own rate around the mean rate mu (the q
	 * grid); kappa <= 0 stands for "one rate for all" */
	double rgrid[KB_MODEL__MAX_RHO], rprior[KB_MODEL__MAX_RHO]; /* prior as logs */
	double kgrid[KB_MODEL__MAX_KAPPA], kprior[KB_MODEL__MAX_KAPPA];
	size_t nr, nk;
	double *logw;           /* [kappa][mu][q_i]: log prior weight of a kernel rate q_i */
	size_t floor_i;         /* q grid points below a buggy kernel's least own rate
				 * (KB_MODEL__RATE_OVER_EPS x the previous update's eps_lo) */
	double *wsuf;           /* per row of logw and grid point f: log of the row's weight
				 * from f on (a row floored at f is logw - wsuf[f]; set_floor()) */
	double oth_x, oth_n;    /* target crashes and runs of every kernel weighed by P(clean)
				 * at the last update, and of the good end (group_floor()) */
	/* results of kb_model_update() */
	double *post;           /* per node */
	double post_none;
	double *qpost;          /* marginal posterior over q grid */
	double eps_mean, eps_hi, eps_lo;
	double rho_mean;        /* posterior mean of rho */
	double rpost[KB_MODEL__MAX_RHO]; /* posterior of each rho */
	double spread;          /* posterior probability that kernels' rates differ */
	size_t kmap;            /* kappa of highest posterior */
	double kpost[KB_MODEL__MAX_KAPPA]; /* posterior of each kappa */
	int updated;
};

/** Row of the closure of node c. */
static inline const uint64_t *kb_model__row(const kb_model *m, size_t c)
{
	return m->anc + c * m->words;
}

/* model.c: forget every kernel's cached likelihoods (the grids or the rate rows changed) */
void kb_model__groups_dirty(kb_model *m);
/* model_post.c: log weight of q grid point i in logw's row `row` floored at q grid
 * point f (the row without the points below the floor, renormalised) */
double kb_model__floored_w(const kb_model *m, size_t row, size_t f, size_t i);
/* model_rates.c: the first of the n points x (ascending) where the cumulative weight w
 * (not normalised) reaches quantile of the total; the last point if none does */
double kb_model__grid_quantile(const double *x, const double *w, size_t n, double quantile);
/* model_rates.c: P(a test of `runs` runs shows no target crash) at a per-run rate `rate`
 * when a share rho of tests is all-or-nothing (one draw for all its runs) */
double kb_model__clean_test_p(double rate, double rho, unsigned runs);
/* model_rates.c: the bits a test's outcome carries on "buggy or clean", at even odds,
 * when a buggy kernel shows the crash with probability pb and a clean one with pc */
double kb_model__even_info(double pb, double pc);
/* model_rates.c: P(X <= x) for X ~ Binomial(n, p) */
double kb_model__binom_cdf(unsigned x, unsigned n, double p);
/* model_post.c: the target crashes *t in *n runs of every kernel but g's, each weighed
 * by P(clean) at the last update, and of the good end (rounded to whole runs) */
void kb_model__others(const kb_model *m, const kb_model__group *g, unsigned *t,
		      unsigned *n);
/* model_rates.c: the Clopper-Pearson upper bound of a rate from x events in n trials at
 * one-sided level alpha (the rate where P(X <= x) = alpha); 1 when n is 0 or x >= n */
double kb_model__binom_upper(unsigned x, unsigned n, double alpha);
/* model_post.c: log P(g's tests | the kernel's rate r, a share rho of all-or-nothing
 * tests) */
double kb_model__tests_ll(const kb_model__group *g, double r, double rho);
/* model_fix.c: fix mode: mix the lowered-rate prior into g's buggy log likelihoods lb
 * (per (rho, mu, kappa)) at rho index r */
void kb_model__fix_lowered(const kb_model *m, const kb_model__group *g, size_t r, double *lb);

#endif
