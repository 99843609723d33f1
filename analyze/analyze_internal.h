/*
 * analyze/analyze_internal.h - the parsed form of a syzkaller bisection log, shared by
 * the parser (analyze/analyze_log.c), the evaluation (analyze/analyze.c) and the tests.
 * Module-internal: never included from include/ or from cmd_*.c.
 *
 * A log is a list of tested commits ("steps") in log order, plus what the log says
 * about the bisection as a whole (kind, git bisect range, result, times, signatures).
 */
#ifndef KB_BISECT_ANALYZE_INTERNAL_H
#define KB_BISECT_ANALYZE_INTERNAL_H

#include <stddef.h>

#include "kbisect/analyze.h"

/** Longest commit hash we keep (sha-1 = 40, sha-256 = 64), plus NUL. */
#define KB_ALOG_HASH_MAX 65
/** Longest kernel signature we keep (syzkaller: sha-256 hex), plus NUL. */
#define KB_ALOG_SIG_MAX 129

/** Which kind of bisection the log is. */
typedef enum {
	KB_ALOG_CAUSE = 0, /**< "bisecting cause commit starting from X" */
	KB_ALOG_FIX = 1,   /**< "bisecting fixing commit since X": git verdicts are inverted */
} kb_alog_kind;

/** Why a commit was tested. */
typedef enum {
	KB_ALOG_PHASE_ORIGINAL = 0, /**< the commit the crash was found on */
	KB_ALOG_PHASE_RELEASE,      /**< "testing release vX" (cause bisection) */
	KB_ALOG_PHASE_HEAD,         /**< "testing current HEAD X" (fix bisection) */
	KB_ALOG_PHASE_BISECT,       /**< a commit picked by git bisect */
	KB_ALOG_PHASE_PARENT,       /**< "parent commit X wasn't tested": built for its signature */
	KB_ALOG_PHASE_OTHER,        /**< config minimisation, merge bases, ... */
} kb_alog_phase;

/** A verdict as git bisect words it. */
typedef enum {
	KB_ALOG_V_NONE = 0, /**< no verdict recorded */
	KB_ALOG_V_GOOD,     /**< "git bisect good" (cause: no crash; fix: still crashes) */
	KB_ALOG_V_BAD,      /**< "git bisect bad" (cause: crashes; fix: fixed) */
	KB_ALOG_V_SKIP,     /**< "git bisect skip" (build error, too few usable runs) */
} kb_alog_verdict;

/** How one run ended, as the log words it ("run #i: <outcome>"). */
typedef enum {
	KB_ALOG_RUN_OK = 0,      /**< "OK" */
	KB_ALOG_RUN_CRASHED,     /**< "crashed: TITLE" (may be an infra title such as SYZFAIL) */
	KB_ALOG_RUN_BOOT_FAILED, /**< "boot failed: ..." */
	KB_ALOG_RUN_TEST_FAILED, /**< "basic kernel testing failed: ..." */
	KB_ALOG_RUN_INFRA,       /**< "infra problem: ..." or "failed: ..." */
	KB_ALOG_RUN_IGNORED,     /**< "ignore: ..." (syzkaller dropped a transient crash) */
} kb_alog_run_kind;

/** One group of identical run outcomes of a step (runs are grouped in log order). */
typedef struct {
	int kind;    /**< a kb_alog_run_kind */
	char *title; /**< the text after "crashed: " etc.; NULL for OK */
	int count;   /**< how many runs had this outcome */
} kb_alog_outcome;

/** One tested commit ("testing commit X ..." up to the next one). */
typedef struct {
	char hash[KB_ALOG_HASH_MAX]; /**< full or abbreviated commit id, lowercase hex */
	char sig[KB_ALOG_SIG_MAX];   /**< "kernel signature: S"; "" when not logged */
	char *subject;               /**< "[hash] subject" line of git bisect; may be NULL */
	char *compiler;              /**< "with COMPILER" or "compiler: X"; may be NULL */
	char *release;               /**< tag of "testing release vX"; NULL otherwise */
	int phase;                   /**< a kb_alog_phase */
	int line;                    /**< 1-based line of "testing commit" */
	int build_failed;            /**< "failed building X: ..." or a kernel build error */
	char *build_error;           /**< first line of the build error; may be NULL */
	kb_alog_outcome *outcomes;   /**< run outcomes, grouped */
	int noutcomes;
	int nruns;                   /**< sum of outcome counts */
	int runs_estimated;          /**< 1 when "all runs: X" hid the count (estimated) */
	int git_verdict;             /**< kb_alog_verdict of "# git bisect V X"; NONE if absent */
	long left_before;            /**< N of the last "Bisecting: N revisions left" line
					  before this step (git picked it then); -1 when none */
	long left_after;             /**< N of the "Bisecting: N revisions left" line printed
					  after this step's verdict; -1 when none */
	long to_bad;                 /**< kbisect's logs: N of "commits after it up to the
					  bad commit: N" (its exact place); -1 when none */
} kb_alog_step;

/** Result that the log reports. */
typedef enum {
	KB_ALOG_RES_NONE = 0,       /**< no result line (log cut off or error) */
	KB_ALOG_RES_CULPRIT,        /**< "first bad commit: X" / "first good commit: X" */
	KB_ALOG_RES_INCONCLUSIVE,   /**< "bisection is inconclusive" / only skipped left */
	KB_ALOG_RES_OLDEST_BAD,     /**< crash already on the oldest tested release */
	KB_ALOG_RES_STILL_CRASHES,  /**< fix bisection: crash still happens on HEAD */
	KB_ALOG_RES_ERROR,          /**< "error: ..." */
} kb_alog_result;

/** A parsed bisection log (the body of the public kb_analyze_log). */
struct kb_analyze_log {
	char *name;                          /**< file name, for messages */
	int kind;                            /**< a kb_alog_kind */
	char start[KB_ALOG_HASH_MAX];        /**< commit of "bisecting ... from/since X" */
	kb_alog_step *steps;
	int nsteps;
	char bisect_bad[KB_ALOG_HASH_MAX];   /**< first argument of "# git bisect start" */
	char bisect_good[KB_ALOG_HASH_MAX];  /**< second argument (first good) */
	long left_start;                     /**< N of the "Bisecting:" line after start; -1 */
	int result;                          /**< a kb_alog_result */
	char culprit[KB_ALOG_HASH_MAX];      /**< reported first bad/good commit */
	int git_first_bad;                   /**< git printed "X is the first bad commit":
					          every other commit of its range is decided */
	int culprit_merge;                   /**< git's commit block of the culprit has a
					          "Merge:" line: the culprit is a merge */
	char *culprit_subject;               /**< its subject; may be NULL */
	char **candidates;                   /**< inconclusive: the commits listed */
	int ncandidates;
	char *error;                         /**< "error: ..." text; may be NULL */
	char parent[KB_ALOG_HASH_MAX];       /**< "parent commit X wasn't tested" */
	char culprit_sig[KB_ALOG_SIG_MAX];   /**< "culprit signature: S" */
	char parent_sig[KB_ALOG_SIG_MAX];    /**< "parent  signature: S" */
	char *final_crash;                   /**< "crash: TITLE" after the result; may be NULL */
	int flaky;                           /**< the log says the reproducer is flaky */
	long revisions_tested;               /**< "revisions tested: N"; -1 */
	double total_time, build_time, test_time; /**< seconds; -1 when not logged */
	int nlines;                          /**< lines read */
	int nknown;                          /**< lines that were understood */
};

/** Parse a Go duration ("4h21m40.66s", "1m0s", "500ms", "0s") into seconds; 0 or -1. */
int kb_analyze__parse_duration(const char *s, double *out);

/** Index of the step testing hash (prefix match either way), last one first; -1. */
int kb_analyze__find_step(const kb_analyze_log *log, const char *hash);

/** log B(x, y), the Beta function, via lgamma (analyze/analyze_walk.c). */
double kb_analyze__lbeta(double x, double y);

/* ---- evaluation (analyze/analyze.c), read by the writers (analyze/analyze_out.c) ---- */

/** A verdict in the sense of the crash, whatever the kind of bisection. */
typedef enum {
	KB_AV_NONE = 0, /**< no verdict (build only, or kbisect: no information) */
	KB_AV_CRASH,    /**< the kernel has the bug (cause: "bad"; fix: "good") */
	KB_AV_NOCRASH,  /**< the kernel is free of it (cause: "good"; fix: "bad") */
	KB_AV_SKIP,     /**< the log skipped the commit */
} kb_av;

/** How a crashed run's title relates to the target crash. */
typedef enum {
	KB_ATITLE_TARGET = 0, /**< the original crash (or one of its titles) */
	KB_ATITLE_INFRA,      /**< SYZFAIL, SYZFATAL, lost connection: not a kernel crash */
	KB_ATITLE_OTHER,      /**< another kernel crash */
} kb_atitle;

/** The audit of one step. */
typedef struct {
	unsigned target, clean, censored; /**< own runs, as fed to the model */
	unsigned infra, other, failed;    /**< censored runs: infra crashes, other crashes,
					       boot/test/infra failures and ignored runs */
	unsigned ptarget, pclean;         /**< pooled over the signature (the model's view) */
	int log_v;                        /**< kb_av of the log's verdict */
	int log_implied;                  /**< 1: no git bisect line, derived from the runs */
	int kb_v;                         /**< kb_av of kbisect (NONE = no information) */
	double llr;                       /**< ln P(runs | bug) / P(runs | no bug) */
	double p_bug;                     /**< posterior that the kernel has the bug; -1 if the
					       step is not in the model */
	int agree;                        /**< 1 agree, 0 disagree, -1 not comparable */
	int node;                         /**< chain node, -1 when not in the model */
	int sig_group;                    /**< index in kb_analysis.groups, -1 */
	int sig_dup_of;                   /**< earlier step with the same signature, -1 */
	int rests_on;                     /**< for a log "crash" verdict: kb_atitle of the
					       crashes it rests on when all are one class, -1 */
	double p_fn;                      /**< for a log "no crash" verdict with runs: the
					       probability that it is a false negative (the
					       kernel has the bug, the runs missed it); -1 */
} kb_astep;

/** One node of the linearised DAG: a tested commit or a block of untested ones. */
typedef struct {
	double lo, hi;   /**< positions of its first and last commit (0 = git's first bad) */
	double weight;   /**< commits it stands for */
	int step;        /**< step index of a tested commit, -1 for a block */
	size_t midx;     /**< model index */
	double post;     /**< posterior that the culprit is in it (fix: see analyze.c) */
} kb_anode;

/** Steps sharing one kernel signature. */
typedef struct {
	const char *sig; /**< borrowed from the log */
	int *steps;
	int nsteps;
	int ncommits;    /**< distinct commits among them */
} kb_asig_group;

struct kb_analysis {
	const kb_analyze_log *log;
	int other_crash_bad;
	char **targets;           /**< normalised target titles */
	int ntargets;
	char **companions;        /**< normalised other titles the log shows to come from
				       the target bug (analyze/analyze_companion.c) */
	int ncompanions;
	char *original_title;     /**< the title as the log wrote it; NULL when the original
				       commit showed no kernel crash (no_original_crash) */
	int no_original_crash;    /**< the original crash was never reproduced in the log:
				       nothing to follow, never "supported" */
	int original_step;
	kb_astep *st;             /**< one per log step */
	kb_anode *nodes;          /**< old -> new */
	int nnodes;
	double range_size;        /**< estimated commits in git's initial range */
	int culprit_step;         /**< step of the reported culprit, -1 */
	double culprit_prob;
	int supported;
	double none_prob, q_mean, q_lo, q_hi, eps_mean;
	double q_alpha, q_beta, eps_judge; /**< Beta(q_alpha, q_beta) fitted to the posterior of
					        q, and the eps the verdicts are judged with */
	double model_prob;        /**< the culprit's posterior under the model alone */
	int walk_step;            /**< the good release that bounds git's range, -1 */
	double walk_fn;           /**< its p_fn: the culprit's probability is
				       model_prob * (1 - walk_fn) */
	double top_prob;
	int top_node;             /**< most likely node, -1 for "no culprit" */
	double cred_mass;         /**< mass of the credible set (KB_ANALYZE_CONF) */
	int cred_none;            /**< "no culprit in range" is in the credible set */
	int *cred_nodes;          /**< chain nodes of the credible set, old -> new */
	int ncred;
	int range_after;          /**< step just below the supported range, -1: none */
	int range_through;        /**< step at its top (first affected commit), -1: none */
	double range_commits;     /**< commits in the supported range */
	kb_asig_group *groups;    /**< signature groups with >= 2 distinct commits */
	int ngroups;
	char **findings;
	int nfindings;
	/* cost */
	unsigned workers;
	int n_builds, n_tests, builds_avoided, tests_avoided;
	double avg_build, avg_test, saved_time;
	int syz_rounds, kb_rounds;
	double kb_time;
	const char *commit_url;   /**< kb_analyze_opts.commit_url (borrowed), or NULL */
};

/* ---- words shared by the writers (analyze/analyze_out.c) with the HTML page ---- */

/** "4h21m40s", "6m52s", "40.5s" ("?" when unknown) into buf; returns buf. */
const char *kb_analyze__dur(char *buf, size_t len, double s);
/** Chain node k in words ("772bc52a2c9e", "17 untested commits between ..."). */
void kb_analyze__node_words(char *buf, size_t len, const kb_analysis *a, int k);
/** The supported range in words. */
void kb_analyze__range_words(char *buf, size_t len, const kb_analysis *a);
/** The runs of step i in words ("1 x SYZFAIL: ... (infra), 19 x OK"). */
void kb_analyze__evidence_words(char *buf, size_t len, const kb_analysis *a, int i);
/** Stable name of a kb_alog_result. */
const char *kb_analyze__result_name(int r);
/** "yes", "NO" or "-" for kb_astep.agree. */
const char *kb_analyze__agree_word(int agree);

/** Confidence of the supported range (credible set). */
#define KB_ANALYZE_CONF 0.9
/** Probability above which the reported culprit counts as supported. */
#define KB_ANALYZE_SUPPORT 0.5

/** Tests an other title must share with a target crash to count as the target. */
#define KB_COMPANION_TESTS 2

/** Learn the companion titles of the log (other titles reported in the same test as the
 * target crash on at least KB_COMPANION_TESTS tests); 0 or KB_E* (out of memory). */
int kb_analyze__learn_companions(kb_analysis *a);

/** Words of a kb_av for this log's kind ("bad", "good", "skip", "no information"). */
const char *kb_analyze__verdict_word(const kb_analyze_log *log, int av);

/** Name of a step's phase ("original", "release", "head", "bisect", "parent", "other"). */
const char *kb_analyze__phase_name(int phase);

/** Why the reported culprit of a cause bisection cannot have introduced the bug by
 * itself: "merge" (git's "Merge:" line), "release" ("Linux X.Y"), or NULL. */
const char *kb_analyze__culprit_inert_reason(const kb_analysis *a);

/** The release walk (analyze/analyze_walk.c): the false-negative probability of every
 * "no crash" verdict, and the good release's reaching the culprit's probability. */
void kb_analyze__release_walk(kb_analysis *a);

/** Fill a->findings from the evaluation (analyze/analyze_findings.c).
 * @return 0, KB_ERROR (out of memory) */
int kb_analyze__findings(kb_analysis *a);

/** Classify a crash title against the analysis' targets (a kb_atitle). */
int kb_analyze__title_class(const kb_analysis *a, const char *title);

#endif
