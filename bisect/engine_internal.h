/*
 * bisect/engine_internal.h - the state of the bisection engine, shared by engine.c
 * (calibration, evidence, rounds, stopping rule), engine_choose.c (choice of tests),
 * engine_report.c (result, JSON), engine_info.c (what the reports keep: runs, commit
 * info) and engine_html.c (the HTML report). Module-internal; never in include/.
 */
#ifndef KB_BISECT_ENGINE_INTERNAL_H
#define KB_BISECT_ENGINE_INTERNAL_H

#include <stdint.h>

#include "kbisect/engine.h"
#include "kbisect/model.h"

#define MAX_TITLES 16 /* crash titles learned on the bad commit */
#define PARENT_MISS 0.01 /* see kb_engine__clean_needed() */
#define MAX_GAPS 16      /* nodes kb_engine__evidence_gap() asks for at most */
/* a kernel's target crashes are more than false crashes explain when P(>= them | its
 * runs, a false-crash rate) is below this (bisect/engine_stop.c, engine.c) */
#define KB_ENGINE__EXPLAINED_TAIL 0.01

/* what is known of one commit */
struct node_rec {
	unsigned target, clean, other, infra, boot; /* runs on this very commit */
	unsigned tests;
	int built;      /* 0 unknown, 1 built, -1 failed to build */
	int same_as_parent; /* 1: same signature as a parent, 2: touches no build input */
	int sig_asked;  /* the oracle was asked for its signature before testing */
	int ready;      /* handed to the oracle's prefetch: built (or building) ahead */
	int skipped;    /* never tested: kb_engine_skip_node() (--skip, outside a pathspec) */
	int verdict;    /* the last "# git bisect" verdict logged (enum in engine_log.c) */
};

/* what the repository says of one commit (kb_engine_set_node_info()); NULL: unknown */
struct node_info {
	char *subject, *author, *date;
};

/* one test of a round, on the timeline */
struct span {
	unsigned round, worker;
	size_t node;
	int how, buildable;
	double build_start, build_end, test_start, test_end;
	unsigned target, clean, other;
	unsigned infra, asked;  /* infra errors and lost runs; runs asked (burst_tests()) */
};

/* what the report keeps of the test behind e->spans[i] (bisect/engine_info.c) */
struct span_ev {
	kb_repro_run *runs;     /* its runs, as the oracle told them */
	size_t n_runs;
	int has_times;          /* the times the evidence was produced at (outcome ev_*) */
	double build_start, build_end, test_start, test_end;
};

#define ROUND_TOP 8
struct round_rec {
	unsigned round;
	double seconds;
	size_t n_set;
	double none;
	size_t top[ROUND_TOP];
	double p[ROUND_TOP];
	size_t n_top;
};

struct kb_engine {
	kb_model *m;
	kb_engine_oracle o;
	kb_engine_opts opt;
	size_t n;
	char **names;
	struct node_info *info; /* per node, or NULL when never set */
	uint8_t *is_merge;
	struct node_rec *rec;
	char titles[MAX_TITLES][KB_ENGINE_TITLE_MAX];
	size_t n_titles;
	unsigned round;
	int stop;
	unsigned unsettled;     /* rounds at >= confidence that evidence_gap() refused */
	char why[256];          /* why the engine stopped without a single culprit */
	int calibrated;
	int result_logged;      /* the end of the bisection.txt-shaped log was written */
	unsigned builds, tests, runs, builds_avoided, prefetched, prefetch_used;
	unsigned runs_asked, runs_told; /* runs requested; of them, target crashes or clean */
	unsigned sig_learned; /* signatures learned before testing, not yet in the posterior */
	double t0, tmax, saved;
	int have_t0;
	/* times seen so far (oracle seconds), for planning: per test, per real build, and
	 * between rounds (choosing, the oracle's own bookkeeping) */
	double sum_test, sum_build, sum_gap;
	unsigned n_test, n_build, n_gap;
	struct span *spans;
	size_t n_spans, cap_spans;
	struct round_rec *rounds;
	size_t n_rounds, cap_rounds;
	size_t *set;
	size_t n_set;
	double set_mass;
	/* scratch */
	double *buggy, *cellmass, *in;
	double *clar;           /* per node: kb_model_test_clarity() of a test now (pool only) */
	uint32_t *cell, *remap;
	uint32_t *gcount;       /* nodes per signature group, during choose() */
	uint64_t *urow;         /* scratch closure row */
	/* for the reports (bisect/engine_info.c, engine_html.c) */
	struct span_ev *ev;     /* per span: its runs and evidence times */
	size_t cap_ev;
	char *commit_url;
	char *release;          /* fix mode: the release tag the fix is (the report's flag) */
	int fix_checked;        /* fix mode: the fixed commit was tested after calibration */
	int auto_budget;        /* no max_rounds given: kb_engine__budget() follows the evidence */
	unsigned tempered;      /* checks of the stop rule that asked a higher confidence
				 * (kb_engine__confidence()) */
	double conf_asked;      /* the confidence asked at the last check (the JSON) */
};

/* engine_log.c: one line of the bisection log (printf-style) */
void kb_engine__log(kb_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* engine.c: s seconds as "1h02m", "3m05s" or "42s" (the progress line, the HTML) */
void kb_engine__dur(char *buf, size_t len, double s);
/* engine_log.c: "# git bisect good|bad|skip X" for each verdict settled since the last
 * call (after the posterior of a round) */
void kb_engine__log_verdicts(kb_engine *e);
/* engine_log.c: the end of the log once stopped: the culprit and its commit header (or
 * the set), the signatures, "revisions tested: N, total time: ..." */
void kb_engine__log_result(kb_engine *e);

/* engine.c: planning times (oracle seconds) per test, per real build, between rounds */
double kb_engine__plan_test_s(const kb_engine *e);
/* engine.c: planning time of one real build */
double kb_engine__plan_build_s(const kb_engine *e);
/* engine.c: planning time between rounds */
double kb_engine__plan_gap_s(const kb_engine *e);
/* engine.c: record which nodes have the same kernel as a parent */
void kb_engine__note_same_kernels(kb_engine *e);
/* engine_stop.c: nodes whose direct evidence must still be settled before stopping on top */
size_t kb_engine__evidence_gap(const kb_engine *e, size_t top, size_t *need, const char **why);
/* engine_stop.c: the round budget now (--max-rounds, or stretched by what a test tells) */
unsigned kb_engine__budget(const kb_engine *e);
/* engine_stop.c: set e->stop when the stopping rule is met */
void kb_engine__check_stop(kb_engine *e);
/* engine_info.c: keep the runs and evidence times of the span just pushed */
int kb_engine__span_evidence(kb_engine *e, const kb_engine_outcome *oc);
/* engine_info.c: free what the reports keep (spans' runs, commit info, commit URL) */
void kb_engine__free_info(kb_engine *e);
/* engine_choose.c: clean runs asked of a culprit's parent */
unsigned kb_engine__clean_needed(const kb_engine *e);
/* engine_choose.c: runs per test this round (N, more while q looks small) */
unsigned kb_engine__runs_now(const kb_engine *e);
/* engine_choose.c: speculative builds wanted per round (0: none) */
size_t kb_engine__prefetch_n(const kb_engine *e);
/* engine_choose.c: choose the round's tests into rq[] and commits to prefetch into pre[] */
int kb_engine__choose(kb_engine *e, kb_engine_request *rq, size_t *n_rq, size_t *pre,
		      size_t *n_pre);

/* engine_stop.c: the rate of a buggy kernel the frozen-test check assumes: the low end
 * (5% quantile) of a kernel's own rate, no lower than the rate kb_engine__clean_needed()'s
 * cap covers */
double kb_engine__frozen_rate(const kb_engine *e);
/* engine_stop.c: why node's clean evidence is short of what the stop rule asks of a kernel
 * said to be clean (a cause's parent, a fix): 0 enough, 1 too few clean runs, 2 not
 * from two separately booted tests, 3 target crashes beyond false ones, 4 could be
 * frozen tests at a buggy rate q_frz (kb_engine__frozen_rate()); eps_hi as in
 * kb_engine__evidence_gap() */
int kb_engine__clean_short(const kb_engine *e, size_t node, double eps_hi, double q_frz);
/* engine_stop.c: the confidence a culprit must reach now: opt.confidence, or a higher one
 * while the data say the reproducer misbehaves (logged the first time) */
double kb_engine__confidence(kb_engine *e);
/* engine_stop.c: z score of the dispersion of infra errors over the tests (bursts) */
double kb_engine__infra_dispersion(const kb_engine *e);
/* engine_stop.c: posterior probability that a share of 0.15 or more of the tests freeze
 * (all-or-nothing tests) */
double kb_engine__tests_freeze(const kb_engine *e);
/* engine_stop.c: P(X >= x) for X ~ Binomial(n, p) */
double kb_engine__binom_tail(unsigned x, unsigned n, double p);
/* engine_fix.c: kb_engine__evidence_gap() of fix mode */
size_t kb_engine__evidence_gap_fix(const kb_engine *e, size_t top, size_t *need,
				   const char **why);
/* engine_fix.c: top_up_parents() of fix mode: the likely fixes get their clean runs */
void kb_engine__fix_top_up(kb_engine *e, kb_engine_request *rq, size_t n);
/* engine_fix.c: the rate a partial fix may have lowered the bug's to, which the fix's
 * own kernel must rule out: KB_MODEL__FIX_LOWERED_TO times the low end (5%) of q */
double kb_engine__fix_lowered_rate(const kb_engine *e);
/* engine_fix.c: runs (target crashes among them) the fix's own kernel needs: enough
 * that a kernel at kb_engine__fix_lowered_rate() (or at the rate FIX_CLEAN_CAP clean runs
 * rule out, if higher) would have shown more target crashes with probability at least
 * the confidence */
unsigned kb_engine__fix_runs_needed(const kb_engine *e, unsigned target);
/* engine_fix.c: 1 if, in fix mode, top's kernel or every tested one from it on is
 * untestable */
int kb_engine__fix_untestable_after(const kb_engine *e, size_t top);

#endif
