/*
 * bisect/model_internal.h - the body of kb_model, shared by the model and the engine
 * (module-internal; never in include/).
 */
#ifndef KB_BISECT_MODEL_INTERNAL_H
#define KB_BISECT_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/model.h"

/** One pooled kernel: the nodes sharing a signature and their runs. */
typedef struct {
	unsigned target, clean, censored;
	int has_sig;
	kb_key sig;
} kb_model__group;

struct kb_model {
	size_t n;
	size_t words;           /* 64-bit words per closure row */
	uint64_t *anc;          /* row c: bit h set iff h is an ancestor of c or c itself */
	double *weight;         /* prior weight per node */
	double none_prior;
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
	double *qgrid, *egrid, *gprior; /* grid values, prior per (qi, ei) */
	size_t nq, ne;
	/* results of kb_model_update() */
	double *post;           /* per node */
	double post_none;
	double *qpost;          /* marginal posterior over q grid */
	double eps_mean;
	int updated;
};

/** Row of the closure of node c. */
static inline const uint64_t *kb_model__row(const kb_model *m, size_t c)
{
	return m->anc + c * m->words;
}

#endif
