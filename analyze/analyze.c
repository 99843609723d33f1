/*
 * analyze/analyze.c - re-evaluate the evidence of a parsed bisection log with kbisect's
 * model (kbisect/model.h): target titles, per-step verdicts, signature groups, the
 * probability of the reported culprit, the supported range, and the cost with kbisect.
 * Owns: the linearised synthetic DAG built from the log, and the findings.
 * Not: parsing (analyze/analyze_log.c), writing text/JSON/HTML (analyze/analyze_out.c),
 * the model itself (bisect/model.c).
 * DESIGN: the log has no DAG, but "Bisecting: N revisions left to test after this"
 * before each picked commit M says that N+1 commits lie in (M, current bad]. Placing
 * git's first bad commit at position 0 and each pick at pos(bad) - N - 1 gives every
 * tested commit a position without guessing; only the bottom of the range (below the
 * lowest pick) is estimated, as 2(N0+1) for the first pick. Tested commits become
 * weight-1 nodes of a chain, the gaps between them blocks weighted by their commit
 * counts. A fix bisection uses the same positions with the chain reversed (the model's
 * "culprit" is then the last commit that still crashes; the fix is the next one).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/analyze.h"
#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/model.h"
#include "kbisect/report.h"
#include "common/error_internal.h"
#include "analyze_internal.h"

/* ln(19): a likelihood ratio of 19:1 (95% at even odds) makes a verdict. */
#define VERDICT_LLR 2.9444389791664403
/* Default parallel workers for the cost estimate. */
#define DEFAULT_WORKERS 4
/* Most chain nodes we give the model (tested commits and the blocks between them). */
#define MAX_NODES 4100
/* Range size assumed when the log has no "Bisecting:" lines at all. */
#define DEFAULT_RANGE 10000.0

const char *kb_analyze__verdict_word(const kb_analyze_log *log, int av)
{
	int fix = log && log->kind == KB_ALOG_FIX;

	switch (av) {
	case KB_AV_CRASH:
		return fix ? "good" : "bad";
	case KB_AV_NOCRASH:
		return fix ? "bad" : "good";
	case KB_AV_SKIP:
		return "skip";
	default:
		return "no information";
	}
}

const char *kb_analyze__phase_name(int phase)
{
	static const char *const names[] = { "original", "release", "head",
					     "bisect",   "parent",  "other" };
	return phase >= 0 && phase <= KB_ALOG_PHASE_OTHER ? names[phase] : "other";
}

/* ---- titles ---- */

static char *norm_title(const char *t)
{
	char buf[KB_REPORT_TITLE_MAX];

	if (kb_report_normalize_title(buf, sizeof(buf), t) != 0)
		snprintf(buf, sizeof(buf), "%s", t);
	return strdup(buf);
}

int kb_analyze__title_class(const kb_analysis *a, const char *title)
{
	char buf[KB_REPORT_TITLE_MAX];
	int same_bug = 0;

	if (!title)
		return KB_ATITLE_OTHER;
	if (kb_report_normalize_title(buf, sizeof(buf), title) != 0)
		snprintf(buf, sizeof(buf), "%s", title);
	/* one relation per target (report/report_same.c). SAME (title or ALT title,
	 * syzkaller's rule) comes first: an infra title is a target only when --title asked
	 * for it; SAME_BUG (one bug across kernels) only for a title that is not infra */
	for (int i = 0; i < a->ntargets; i++) {
		int rel = kb_report_title_relation(a->targets[i], buf);
		if (rel == KB_TITLE_SAME)
			return KB_ATITLE_TARGET;
		same_bug |= rel == KB_TITLE_SAME_BUG;
	}
	if (kb_report_title_is_infra(title))
		return KB_ATITLE_INFRA;
	if (same_bug)
		return KB_ATITLE_TARGET;
	for (int i = 0; i < a->ncompanions; i++)
		if (!strcmp(a->companions[i], buf))
			return KB_ATITLE_TARGET;
	return KB_ATITLE_OTHER;
}

static int add_target(kb_analysis *a, const char *title)
{
	char *n = norm_title(title), **t;

	if (!n)
		return -1;
	for (int i = 0; i < a->ntargets; i++)
		if (!strcmp(a->targets[i], n)) {
			free(n);
			return 0;
		}
	if (!(t = realloc(a->targets, (size_t)(a->ntargets + 1) * sizeof(*t)))) {
		free(n);
		return -1;
	}
	a->targets = t;
	t[a->ntargets++] = n;
	return 0;
}

/* The target titles: opts' title, else every kernel crash title of the first original
 * step (the most frequent one is "the original title"). */
static int find_targets(kb_analysis *a, const kb_analyze_opts *o)
{
	const kb_analyze_log *log = a->log;
	const kb_alog_step *st;
	int best = -1;

	a->original_step = -1;
	for (int i = 0; i < log->nsteps; i++)
		if (log->steps[i].phase == KB_ALOG_PHASE_ORIGINAL) {
			a->original_step = i;
			break;
		}
	if (o->title && *o->title) {
		if (add_target(a, o->title) || !(a->original_title = strdup(o->title)))
			return kb_error_set(KB_ERRCLASS_OS, "out of memory");
		return 0;
	}
	if (a->original_step < 0) {
		a->no_original_crash = 1; /* nothing to follow: said in the findings */
		return 0;
	}
	st = &log->steps[a->original_step];
	for (int i = 0; i < st->noutcomes; i++) {
		const kb_alog_outcome *oc = &st->outcomes[i];
		if (oc->kind != KB_ALOG_RUN_CRASHED || !oc->title ||
		    kb_report_title_is_infra(oc->title))
			continue;
		if (add_target(a, oc->title))
			return kb_error_set(KB_ERRCLASS_OS, "out of memory");
		if (best < 0 || oc->count > st->outcomes[best].count)
			best = i;
	}
	if (best < 0) {
		/* only OK runs, infrastructure failures or boot failures: the bisection
		 * followed no reproduced crash; the findings say so */
		a->no_original_crash = 1;
		return 0;
	}
	if (!(a->original_title = strdup(st->outcomes[best].title)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	return 0;
}

/* ---- per-step evidence ---- */

static int crash_sense(const kb_analyze_log *log, int git_verdict)
{
	int fix = log->kind == KB_ALOG_FIX;

	switch (git_verdict) {
	case KB_ALOG_V_BAD:
		return fix ? KB_AV_NOCRASH : KB_AV_CRASH;
	case KB_ALOG_V_GOOD:
		return fix ? KB_AV_CRASH : KB_AV_NOCRASH;
	case KB_ALOG_V_SKIP:
		return KB_AV_SKIP;
	default:
		return KB_AV_NONE;
	}
}

static void classify_runs(kb_analysis *a, int i, int other_bad)
{
	const kb_alog_step *st = &a->log->steps[i];
	kb_astep *s = &a->st[i];
	unsigned crashed = 0, ok = 0;
	int classes = 0, cls = -1;

	for (int k = 0; k < st->noutcomes; k++) {
		const kb_alog_outcome *oc = &st->outcomes[k];
		unsigned c = oc->count > 0 ? (unsigned)oc->count : 0;
		switch (oc->kind) {
		case KB_ALOG_RUN_OK:
			s->clean += c;
			ok += c;
			break;
		case KB_ALOG_RUN_CRASHED: {
			int tc = kb_analyze__title_class(a, oc->title);
			crashed += c;
			if (tc == KB_ATITLE_TARGET || (tc == KB_ATITLE_OTHER && other_bad)) {
				s->target += c;
			} else {
				s->censored += c;
				if (tc == KB_ATITLE_INFRA)
					s->infra += c;
				else
					s->other += c;
			}
			if (cls != tc)
				classes++;
			cls = tc;
			break;
		}
		default:
			s->censored += c;
			s->failed += c;
			break;
		}
	}
	/* the log's verdict, in the sense of the crash */
	if (st->git_verdict != KB_ALOG_V_NONE) {
		s->log_v = crash_sense(a->log, st->git_verdict);
	} else if (st->phase == KB_ALOG_PHASE_PARENT) {
		s->log_v = KB_AV_NONE;
	} else {
		s->log_implied = 1;
		if (crashed)
			s->log_v = KB_AV_CRASH;
		else if (st->build_failed || st->nruns == 0)
			s->log_v = KB_AV_SKIP;
		else if (ok * 2 >= (unsigned)st->nruns)
			s->log_v = KB_AV_NOCRASH;
		else
			s->log_v = KB_AV_SKIP;
	}
	s->rests_on = (s->log_v == KB_AV_CRASH && classes == 1) ? cls : -1;
}

/* ---- the linearised chain ---- */

struct placed {
	double pos;
	int step;
};

static int by_pos(const void *x, const void *y)
{
	const struct placed *a = x, *b = y;
	if (a->pos != b->pos)
		return a->pos < b->pos ? -1 : 1;
	return a->step - b->step;
}

/* Place git's picks (the "bisect" steps) after the n placed so far, each by the count of
 * revisions git had left; a retest joins its first test. Lowest position in *lowest,
 * first pick's step in *first_pick. Returns the new count. */
static int place_picks(const kb_analyze_log *log, struct placed *pl, int n, int *placed_at,
		       double *lowest, int *first_pick)
{
	double b = 0, g = -INFINITY;

	for (int i = 0; i < log->nsteps; i++) {
		const kb_alog_step *st = &log->steps[i];
		long left = st->left_before;
		double p;
		int j;
		if (st->phase != KB_ALOG_PHASE_BISECT)
			continue;
		if (*first_pick < 0)
			*first_pick = i;
		for (j = 0; j < i; j++)
			if (placed_at[j] && !strcmp(log->steps[j].hash, st->hash))
				break;
		if (j < i) {
			placed_at[i] = 2; /* a retest: merged into the first test's node */
			continue;
		}
		if (st->to_bad >= 0) { /* kbisect's log: the exact place, no interval logic */
			if (st->to_bad == 0) { /* the bad commit again: its node (bad_step) */
				placed_at[i] = placed_at[i] ? placed_at[i] : 2;
				continue;
			}
			pl[n].pos = -(double)st->to_bad;
			pl[n++].step = i;
			placed_at[i] = 1;
			if (pl[n - 1].pos < *lowest)
				*lowest = pl[n - 1].pos;
			continue;
		}
		if (left >= 0)
			p = b - (double)left - 1;
		else if (isfinite(g))
			p = floor((b + g) / 2);
		else
			p = b - 1 - (DEFAULT_RANGE / 2);
		if (isfinite(g) && p <= g)
			p = (b + g) / 2; /* inconsistent counts: keep the order anyway */
		if (p >= b)
			p = b - 0.5;
		pl[n].pos = p;
		pl[n++].step = i;
		placed_at[i] = 1;
		if (p < *lowest)
			*lowest = p;
		if (st->git_verdict == KB_ALOG_V_BAD)
			b = p;
		else if (st->git_verdict == KB_ALOG_V_GOOD)
			g = p;
	}
	return n;
}

/* Place the steps that belong in the model; returns how many, bottom boundary in *bottom
 * (exclusive for a cause bisection, the original commit's position for a fix). */
static int place_steps(kb_analysis *a, struct placed *pl, double *bottom, int *good_step)
{
	const kb_analyze_log *log = a->log;
	int fix = log->kind == KB_ALOG_FIX, n = 0, bad_step, first_pick = -1;
	double lowest = 0, delta;
	int *placed_at = calloc((size_t)log->nsteps, sizeof(int));

	if (!placed_at)
		return -1;
	*good_step = log->bisect_good[0] ? kb_analyze__find_step(log, log->bisect_good) : -1;
	bad_step = log->bisect_bad[0] ? kb_analyze__find_step(log, log->bisect_bad) : -1;
	if (fix && *good_step < 0)
		*good_step = a->original_step;
	if (fix && bad_step < 0)
		for (int i = 0; i < log->nsteps; i++)
			if (log->steps[i].phase == KB_ALOG_PHASE_HEAD)
				bad_step = i;
	if (bad_step < 0 && !fix) {
		/* no bisection: the oldest release that crashed, else the original commit */
		bad_step = a->original_step;
		for (int i = 0; i < log->nsteps; i++)
			if (log->steps[i].phase == KB_ALOG_PHASE_RELEASE &&
			    a->st[i].log_v == KB_AV_CRASH)
				bad_step = i;
	}
	if (bad_step >= 0 && !(fix && bad_step == *good_step)) {
		pl[n].pos = 0;
		pl[n++].step = bad_step;
		placed_at[bad_step] = 1;
	}
	n = place_picks(log, pl, n, placed_at, &lowest, &first_pick); /* git's picks */
	/* the bottom of git's range: balanced first split, below every pick */
	if (log->left_start >= 0)
		delta = 2.0 * ((double)log->left_start + 1);
	else if (first_pick >= 0)
		delta = -2 * lowest + 2;
	else
		delta = DEFAULT_RANGE;
	if (delta < -lowest + 1)
		delta = -lowest + 1;
	a->range_size = delta;
	*bottom = -delta;
	if (fix && *good_step >= 0) {
		pl[n].pos = *bottom; /* the original commit is the oldest node */
		pl[n++].step = *good_step;
		placed_at[*good_step] = 1;
	}
	if (!fix) {
		/* the original commit and bad releases above git's bad commit, newest first in
		 * the log: one release cycle (estimated as the range) apart */
		int above = 0;
		for (int i = bad_step - 1; i >= 0; i--) {
			const kb_alog_step *st = &log->steps[i];
			if (placed_at[i] || st->phase != KB_ALOG_PHASE_RELEASE ||
			    a->st[i].log_v != KB_AV_CRASH)
				continue;
			pl[n].pos = delta * ++above;
			pl[n++].step = i;
			placed_at[i] = 1;
		}
		if (a->original_step >= 0 && !placed_at[a->original_step]) {
			pl[n].pos = delta * ++above;
			pl[n++].step = a->original_step;
			placed_at[a->original_step] = 1;
		}
	}
	/* the culprit's parent, built for its signature: just below the culprit */
	for (int i = 0; i < log->nsteps; i++) {
		int c;
		if (log->steps[i].phase != KB_ALOG_PHASE_PARENT || placed_at[i] || !log->culprit[0])
			continue;
		c = kb_analyze__find_step(log, log->culprit);
		for (int k = 0; k < n && c >= 0; k++)
			if (pl[k].step == c) {
				pl[n].pos = pl[k].pos - 0.5;
				pl[n++].step = i;
				placed_at[i] = 1;
				break;
			}
	}
	free(placed_at);
	return n;
}

static int build_chain(kb_analysis *a, double *bottom, int *good_step)
{
	const kb_analyze_log *log = a->log;
	struct placed *pl = calloc((size_t)log->nsteps + 1, sizeof(*pl));
	kb_anode *nodes;
	int n, k = 0;
	double prev;

	if (!pl)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	n = place_steps(a, pl, bottom, good_step);
	if (n < 0) {
		free(pl);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	qsort(pl, (size_t)n, sizeof(*pl), by_pos);
	nodes = calloc((size_t)(2 * n + 1), sizeof(*nodes));
	if (!nodes) {
		free(pl);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	/* cause: the range is (bottom, top]; fix: the original commit sits at bottom */
	prev = *bottom;
	if (log->kind == KB_ALOG_FIX && n > 0 && pl[0].pos <= *bottom)
		prev = pl[0].pos - 1;
	for (int i = 0; i < n; i++) {
		double gap = floor(pl[i].pos - prev - 1 + 1e-9);
		if (gap >= 1) {
			nodes[k].lo = prev + 1;
			nodes[k].hi = prev + gap;
			nodes[k].weight = gap;
			nodes[k].step = -1;
			k++;
		}
		nodes[k].lo = nodes[k].hi = pl[i].pos;
		nodes[k].weight = 1;
		nodes[k].step = pl[i].step;
		a->st[pl[i].step].node = k;
		k++;
		prev = pl[i].pos > prev ? pl[i].pos : prev;
	}
	/* retested commits share the node of their first test */
	for (int i = 0; i < log->nsteps; i++) {
		if (a->st[i].node >= 0 || log->steps[i].phase != KB_ALOG_PHASE_BISECT)
			continue;
		for (int m = 0; m < i; m++)
			if (a->st[m].node >= 0 && !strcmp(log->steps[m].hash, log->steps[i].hash)) {
				a->st[i].node = a->st[m].node;
				break;
			}
	}
	free(pl);
	a->nodes = nodes;
	a->nnodes = k;
	return 0;
}

/* When git printed "X is the first bad commit" it had decided every other commit of its
 * range: the commits between the highest good commit below X and X (an untested block
 * left by the linear approximation, the culprit's parent built for its signature, a
 * skipped commit placed there by the linear order) are not candidates. Their prior becomes 0; the parent keeps its signature and runs. */
static void git_decided_below_culprit(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	int c, k;

	if (log->kind != KB_ALOG_CAUSE || !log->git_first_bad || !log->culprit[0])
		return;
	c = kb_analyze__find_step(log, log->culprit);
	if (c < 0 || a->st[c].node < 0)
		return;
	for (k = a->st[c].node - 1; k >= 0; k--) {
		kb_anode *nd = &a->nodes[k];
		if (nd->step >= 0 && log->steps[nd->step].phase != KB_ALOG_PHASE_PARENT &&
		    log->steps[nd->step].git_verdict != KB_ALOG_V_SKIP)
			break; /* a tested commit: git's good verdict, or the range's bottom */
		nd->weight = 0; /* a block, the parent, or a skipped commit git excluded */
	}
}

/* 1 when subject is a release commit's ("Linux 5.3", "Linux 6.1-rc4"): it only bumps
 * the version. */
static int release_subject(const char *subj)
{
	const char *p;

	if (!subj || strncmp(subj, "Linux ", 6))
		return 0;
	p = subj + 6;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	if (!strncmp(p, "-rc", 3)) {
		p += 3;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

const char *kb_analyze__culprit_inert_reason(const kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	const char *subj = log->culprit_subject;

	if (log->kind != KB_ALOG_CAUSE || !log->culprit[0])
		return NULL;
	if (log->culprit_merge)
		return "merge";
	if (!subj && a->culprit_step >= 0)
		subj = log->steps[a->culprit_step].subject;
	return release_subject(subj) ? "release" : NULL;
}

static void sig_key(kb_key *out, const char *sig)
{
	if (kb_key_from_hex(out, sig) != 0)
		kb_sha256(out, sig, strlen(sig));
}

/* Model index of chain node k: cause old -> new, fix new -> old. */
static size_t midx_of(const kb_analysis *a, int k)
{
	return a->log->kind == KB_ALOG_FIX ? (size_t)(a->nnodes - 1 - k) : (size_t)k;
}

/* The supported range of the updated model m: its credible set as chain nodes
 * (a->cred_nodes), and as positions between tested commits (a->range_after,
 * a->range_through, a->range_commits). 0 or KB_E*. */
static int credible_range(kb_analysis *a, kb_model *m)
{
	const kb_analyze_log *log = a->log;
	size_t *set = NULL, nset = 0;
	double lo = INFINITY, hi = -INFINITY, shift = log->kind == KB_ALOG_FIX ? 1 : 0;
	int rc;

	if ((rc = kb_model_credible_set(&set, &nset, &a->cred_mass, m, KB_ANALYZE_CONF)))
		return rc;
	a->cred_none = 0;
	if (!(a->cred_nodes = calloc(nset + 1, sizeof(int)))) {
		free(set);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	for (int k = 0; k < a->nnodes; k++)
		for (size_t j = 0; j < nset; j++)
			if (set[j] == a->nodes[k].midx)
				a->cred_nodes[a->ncred++] = k;
	for (size_t j = 0; j < nset; j++) {
		if (set[j] == KB_MODEL_NONE) {
			a->cred_none = 1;
			continue;
		}
		for (int k = 0; k < a->nnodes; k++)
			if (a->nodes[k].midx == set[j]) {
				if (a->nodes[k].lo + shift < lo)
					lo = a->nodes[k].lo + shift;
				if (a->nodes[k].hi + shift > hi)
					hi = a->nodes[k].hi + shift;
			}
	}
	free(set);
	a->range_after = a->range_through = -1;
	a->range_commits = 0;
	if (isfinite(lo)) {
		double after = -INFINITY, through = INFINITY;
		for (int k = 0; k < a->nnodes; k++) {
			const kb_anode *nd = &a->nodes[k];
			if (nd->step < 0)
				continue;
			if (nd->hi < lo && nd->hi > after) {
				after = nd->hi;
				a->range_after = nd->step;
			}
			if (nd->lo >= hi && nd->lo < through) {
				through = nd->lo;
				a->range_through = nd->step;
			}
		}
		for (int k = 0; k < a->nnodes; k++)
			if (a->nodes[k].lo > after && a->nodes[k].hi <= through)
				a->range_commits += a->nodes[k].weight;
		if (!isfinite(through))
			a->range_commits += 1; /* fix: past the newest tested commit */
	}
	return 0;
}

/* The reported culprit's probability under the updated model (a->culprit_step,
 * a->culprit_prob) and whether it is supported (a->supported). */
static void culprit_support(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;

	a->culprit_step = log->culprit[0] ? kb_analyze__find_step(log, log->culprit) : -1;
	a->culprit_prob = 0;
	if (a->culprit_step >= 0 && a->st[a->culprit_step].node >= 0) {
		int k = a->st[a->culprit_step].node;
		if (log->kind == KB_ALOG_CAUSE) {
			a->culprit_prob = a->nodes[k].post;
		} else if (k > 0) {
			/* fix F: the last crashing commit is the one just older than F */
			a->culprit_prob = a->nodes[k - 1].post / a->nodes[k - 1].weight;
		}
	}
	/* a merge or release culprit that still holds the mass means the verdicts point at a
	 * commit that cannot be the cause alone: the log is inconsistent, not support */
	a->supported = a->culprit_prob >= KB_ANALYZE_SUPPORT && !kb_analyze__culprit_inert_reason(a) &&
		       !a->no_original_crash;
}

/* The model of the chain a->nodes fed with the runs of every step (good_step: the
 * good end of a cause bisection, outside the chain), and what it says: rates, posteriors,
 * the supported range, the culprit's probability. 0 or KB_E*. */
static int run_model(kb_analysis *a, int good_step)
{
	const kb_analyze_log *log = a->log;
	kb_model *m = NULL;
	double *buggy = NULL;
	int rc;

	if (a->nnodes == 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "'%s' has no tested commit inside the bisection range; "
				     "nothing to evaluate",
				     log->name);
	if (a->nnodes > MAX_NODES)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "'%s' has %d tested commits; kbisect analyze reads logs of at "
				     "most %d (one syzbot bisection has < 50)",
				     log->name, log->nsteps, MAX_NODES / 2);
	/* one rate, independent runs: the model the analyzer's verdicts were set on */
	if ((rc = kb_model_new(&m, (size_t)a->nnodes, &(kb_model_opts){ .iid_runs = 1 })))
		return rc;
	for (int k = 0; k < a->nnodes; k++) {
		size_t mi = midx_of(a, k);
		a->nodes[k].midx = mi;
		if ((rc = kb_model_set_weight(m, mi, a->nodes[k].weight)))
			goto out;
		if (mi > 0 && (rc = kb_model_add_parent(m, mi, mi - 1)))
			goto out;
	}
	if ((rc = kb_model_finalize(m)))
		goto out;
	for (int i = 0; i < log->nsteps; i++) {
		const kb_alog_step *st = &log->steps[i];
		kb_astep *s = &a->st[i];
		size_t mi;
		if (s->node < 0) {
			if (i == good_step && log->kind == KB_ALOG_CAUSE)
				kb_model_add_outside_runs(m, s->target, s->clean);
			continue;
		}
		mi = a->nodes[s->node].midx;
		if (st->sig[0]) {
			kb_key k;
			sig_key(&k, st->sig);
			if ((rc = kb_model_set_signature(m, mi, &k)))
				goto out;
		}
		if ((rc = kb_model_add_runs(m, mi, s->target, s->clean, s->censored)))
			goto out;
		if (st->build_failed)
			kb_model_set_untestable(m, mi, 1);
	}
	/* a merge or release culprit changes no code of its own: it holds only the small
	 * prior of an inert commit, the bug came with one of the commits it brings in */
	{
		int c = log->culprit[0] ? kb_analyze__find_step(log, log->culprit) : -1;
		a->culprit_step = c;
		if (c >= 0 && a->st[c].node >= 0 && kb_analyze__culprit_inert_reason(a) &&
		    (rc = kb_model_set_inert(m, a->nodes[a->st[c].node].midx)))
			goto out;
	}
	if ((rc = kb_model_update(m)))
		goto out;
	kb_model_rates(m, &a->q_mean, &a->q_lo, &a->q_hi, &a->eps_mean);
	a->none_prob = kb_model_posterior_none(m);
	if (!(buggy = malloc((size_t)a->nnodes * sizeof(*buggy)))) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
		goto out;
	}
	if ((rc = kb_model_buggy_all(buggy, m)))
		goto out;
	for (int k = 0; k < a->nnodes; k++)
		a->nodes[k].post = kb_model_posterior(m, a->nodes[k].midx);
	for (int i = 0; i < log->nsteps; i++) {
		kb_astep *s = &a->st[i];
		if (s->node < 0) {
			s->p_bug = -1;
			s->ptarget = s->target;
			s->pclean = s->clean;
			continue;
		}
		s->p_bug = buggy[a->nodes[s->node].midx];
		kb_model_evidence(m, a->nodes[s->node].midx, &s->ptarget, &s->pclean, NULL);
	}
	{
		size_t top = kb_model_top(m, &a->top_prob);
		a->top_node = -1;
		for (int k = 0; k < a->nnodes && top != KB_MODEL_NONE; k++)
			if (a->nodes[k].midx == top)
				a->top_node = k;
	}
	/* the supported range: the credible set, as positions, between tested commits */
	if ((rc = credible_range(a, m)))
		goto out;
	culprit_support(a); /* the reported culprit */
out:
	free(buggy);
	kb_model_free(m);
	return rc;
}

/* kbisect's verdict on one step from its pooled runs: the likelihood ratio of "this kernel
 * has the bug" (q ~ a Beta fitted to the model's posterior of q: mean and 90% interval)
 * against "it has not" (false positives at the model's eps). */
static void judge(kb_analysis *a)
{
	double m = a->q_mean, e = a->eps_mean, sd, k, qa, qb;

	if (!(m > 0 && m < 1))
		m = 0.5;
	if (!(e > 0 && e < m))
		e = m / 100;
	sd = (a->q_hi - a->q_lo) / 3.29;
	if (!(sd > 0.01))
		sd = 0.01;
	k = m * (1 - m) / (sd * sd) - 1;
	if (k < 2)
		k = 2;
	qa = m * k;
	qb = (1 - m) * k;
	a->q_alpha = qa;
	a->q_beta = qb;
	a->eps_judge = e;
	for (int i = 0; i < a->log->nsteps; i++) {
		kb_astep *s = &a->st[i];
		double t = s->ptarget, c = s->pclean;
		s->llr = kb_analyze__lbeta(qa + t, qb + c) - kb_analyze__lbeta(qa, qb) -
		         (t * log(e) + c * log1p(-e));
		if (t + c == 0)
			s->kb_v = KB_AV_NONE;
		else if (s->llr >= VERDICT_LLR)
			s->kb_v = KB_AV_CRASH;
		else if (s->llr <= -VERDICT_LLR)
			s->kb_v = KB_AV_NOCRASH;
		else
			s->kb_v = KB_AV_NONE;
		if (s->log_v == KB_AV_CRASH || s->log_v == KB_AV_NOCRASH)
			s->agree = s->kb_v == KB_AV_NONE ? -1 : s->kb_v == s->log_v;
		else
			s->agree = -1;
	}
}

/* ---- signatures and cost ---- */

static int group_signatures(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;

	for (int i = 0; i < log->nsteps; i++) {
		a->st[i].sig_dup_of = -1;
		a->st[i].sig_group = -1;
	}
	for (int i = 0; i < log->nsteps; i++) {
		const char *sig = log->steps[i].sig;
		kb_asig_group *g;
		if (!sig[0] || a->st[i].sig_group >= 0)
			continue;
		for (int j = 0; j < i; j++)
			if (!strcmp(log->steps[j].sig, sig)) {
				a->st[i].sig_dup_of = j;
				break;
			}
		if (a->st[i].sig_dup_of >= 0)
			continue;
		/* i is the first with this signature: collect the others */
		{
			int cnt = 0, distinct = 1;
			for (int j = i + 1; j < log->nsteps; j++)
				if (!strcmp(log->steps[j].sig, sig)) {
					int seen = !strcmp(log->steps[j].hash, log->steps[i].hash);
					for (int k = i + 1; k < j && !seen; k++)
						seen = !strcmp(log->steps[k].sig, sig) &&
						       !strcmp(log->steps[k].hash, log->steps[j].hash);
					cnt++;
					distinct += !seen;
				}
			if (distinct < 2)
				continue;
			g = realloc(a->groups, (size_t)(a->ngroups + 1) * sizeof(*g));
			if (!g)
				return kb_error_set(KB_ERRCLASS_OS, "out of memory");
			a->groups = g;
			g = &a->groups[a->ngroups];
			g->sig = sig;
			g->ncommits = distinct;
			g->nsteps = 0;
			if (!(g->steps = malloc((size_t)(cnt + 1) * sizeof(int))))
				return kb_error_set(KB_ERRCLASS_OS, "out of memory");
			for (int j = i; j < log->nsteps; j++)
				if (!strcmp(log->steps[j].sig, sig)) {
					g->steps[g->nsteps++] = j;
					a->st[j].sig_group = a->ngroups;
				}
			a->ngroups++;
		}
	}
	/* later steps of a group point at the first one */
	for (int i = 0; i < log->nsteps; i++)
		if (a->st[i].sig_dup_of < 0 && log->steps[i].sig[0])
			for (int j = 0; j < i; j++)
				if (!strcmp(log->steps[j].sig, log->steps[i].sig)) {
					a->st[i].sig_dup_of = j;
					break;
				}
	return 0;
}

static int ceil_div(int x, int y)
{
	return y > 0 ? (x + y - 1) / y : x;
}

static void estimate_cost(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	int pre = 0, picks = 0;
	double k1 = (double)a->workers + 1;

	a->n_builds = log->nsteps;
	for (int i = 0; i < log->nsteps; i++) {
		const kb_alog_step *st = &log->steps[i];
		int dup = a->st[i].sig_dup_of;
		if (st->nruns > 0 && !st->build_failed) {
			a->n_tests++;
			if (st->phase == KB_ALOG_PHASE_BISECT)
				picks++;
			else
				pre++;
		}
		if (dup >= 0) {
			a->builds_avoided++;
			if (st->nruns > 0 && log->steps[dup].nruns > 0)
				a->tests_avoided++;
		}
	}
	a->avg_build = log->build_time >= 0 && a->n_builds ? log->build_time / a->n_builds : -1;
	a->avg_test = log->test_time >= 0 && a->n_tests ? log->test_time / a->n_tests : -1;
	a->saved_time = 0;
	if (a->avg_build >= 0)
		a->saved_time += a->builds_avoided * a->avg_build;
	if (a->avg_test >= 0)
		a->saved_time += a->tests_avoided * a->avg_test;
	a->syz_rounds = a->n_tests;
	a->kb_rounds = ceil_div(pre, (int)a->workers);
	if (picks > 0 && a->range_size > 1)
		a->kb_rounds += (int)ceil(log2(a->range_size) / log2(k1) - 1e-9);
	a->kb_time = -1;
	if (a->avg_build >= 0 && a->avg_test >= 0)
		a->kb_time = a->kb_rounds * (a->avg_build + a->avg_test);
}

/* ---- entry points ---- */

int kb_analyze_run(kb_analysis **out, const kb_analyze_log *log, const kb_analyze_opts *opts)
{
	kb_analyze_opts o = { 0 };
	kb_analysis *a;
	double bottom = 0;
	int good_step = -1, rc;

	if (!out || !log)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "kb_analyze_run: NULL argument; parse a log first");
	*out = NULL;
	if (opts)
		o = *opts;
	if (!(a = calloc(1, sizeof(*a))) ||
	    !(a->st = calloc((size_t)log->nsteps + 1, sizeof(*a->st)))) {
		free(a);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	a->log = log;
	a->workers = o.workers ? o.workers : DEFAULT_WORKERS;
	a->other_crash_bad = o.other_crash_bad;
	a->commit_url = o.commit_url;
	a->top_node = -1;
	a->culprit_step = -1;
	a->range_after = a->range_through = -1;
	a->walk_step = -1;
	for (int i = 0; i < log->nsteps; i++) {
		a->st[i].node = -1;
		a->st[i].p_bug = -1;
		a->st[i].p_fn = -1;
	}
	if ((rc = find_targets(a, &o)) || (rc = kb_analyze__learn_companions(a)))
		goto fail;
	for (int i = 0; i < log->nsteps; i++)
		classify_runs(a, i, o.other_crash_bad);
	if ((rc = build_chain(a, &bottom, &good_step)))
		goto fail;
	git_decided_below_culprit(a);
	if ((rc = run_model(a, good_step)))
		goto fail;
	judge(a);
	kb_analyze__release_walk(a);
	if ((rc = group_signatures(a)))
		goto fail;
	estimate_cost(a);
	if ((rc = kb_analyze__findings(a)))
		goto fail;
	*out = a;
	return 0;
fail:
	kb_analyze_free(a);
	return rc;
}

double kb_analyze_culprit_probability(const kb_analysis *a)
{
	return a ? a->culprit_prob : 0;
}

int kb_analyze_supported(const kb_analysis *a)
{
	return a ? a->supported : 0;
}

void kb_analyze_free(kb_analysis *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->ntargets; i++)
		free(a->targets[i]);
	free(a->targets);
	for (int i = 0; i < a->ncompanions; i++)
		free(a->companions[i]);
	free(a->companions);
	for (int i = 0; i < a->ngroups; i++)
		free(a->groups[i].steps);
	free(a->groups);
	for (int i = 0; i < a->nfindings; i++)
		free(a->findings[i]);
	free(a->findings);
	free(a->original_title);
	free(a->st);
	free(a->nodes);
	free(a->cred_nodes);
	free(a);
}
