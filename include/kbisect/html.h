/*
 * kbisect/html.h - the one HTML template of kbisect's reports: `kbisect bisect --html`
 * (bisect/engine_html.c) and `kbisect analyze --html` (analyze/analyze_html.c) write
 * their pages with these pieces, so both look and read the same: the result block
 * (crash title, culprit with subject, author, date and link, verdict, q, flags), the
 * evidence table (per tested commit: subject, signature, verdict, one bar per test with
 * a segment per run, its class, title and console), the timeline per worker (axis,
 * legend), the probability mass per round (legend of the top commits), the footer.
 *
 * Pages are self-contained: no script, no external font, style sheet or image.
 * Text arguments are plain text (escaped here) unless a comment says HTML.
 */
#ifndef KBISECT_HTML_H
#define KBISECT_HTML_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Class of one run (or a group of equal runs) of the reproducer, for its colour. */
typedef enum {
	KB_HTML_RUN_TARGET = 0, /**< the target crash */
	KB_HTML_RUN_OK,         /**< no crash */
	KB_HTML_RUN_OTHER,      /**< another kernel crash */
	KB_HTML_RUN_INFRA,      /**< failure of the test setup */
	KB_HTML_RUN_BOOT,       /**< boot or basic test failure */
	KB_HTML_RUN_N
} kb_html_run_class;

/** Verdict about a tested commit, for its badge. */
typedef enum {
	KB_HTML_V_NONE = 0, /**< no verdict */
	KB_HTML_V_BAD,      /**< has the bug */
	KB_HTML_V_GOOD,     /**< free of it */
	KB_HTML_V_SKIP,     /**< untestable / skipped */
} kb_html_verdict;

/** One run, or count equal runs, of a test. */
typedef struct {
	int cls;            /**< kb_html_run_class */
	const char *title;  /**< crash or infra title; NULL or "" for none */
	unsigned count;     /**< runs it stands for (0 counts as 1) */
	const char *href;   /**< link to its console (relative URL), or NULL */
} kb_html_run;

/** One test (a boot of a kernel and its runs) of a tested commit. */
typedef struct {
	const char *label;        /**< e.g. "round 3" (plain text), or NULL */
	const kb_html_run *runs;
	size_t n_runs;
} kb_html_test;

/** The result block at the top of a page. */
typedef struct {
	const char *heading;      /**< h1 text */
	const char *const *titles; /**< crash titles, the original first */
	size_t n_titles;
	const char *what;         /**< "culprit", "fix", "reported culprit", ... */
	const char *commit;       /**< the commit named, or NULL (none: see summary) */
	const char *subject, *author, *date; /**< of commit; NULL: not known */
	const char *commit_url;   /**< pattern with one %s for the commit id, or NULL */
	const char *badge;        /**< verdict badge text ("FOUND", "SUPPORTED"), or NULL */
	int badge_good;           /**< 1 green badge, 0 red */
	double probability;       /**< of commit; < 0: not shown */
	const char *summary;      /**< a sentence under it (e.g. why no single culprit) */
	double q, q_lo, q_hi, eps; /**< reproduction rate and its interval, false crashes;
				       q < 0: not shown */
	const char *const *flags; /**< flag names ("flaky", "merge", ...) */
	size_t n_flags;
	const char *facts;        /**< one line of counts and times, or NULL */
} kb_html_result;

/** One row of the evidence table: a tested commit. */
typedef struct {
	const char *commit;       /**< id (shown abbreviated to 12, linked) */
	const char *subject;      /**< or NULL */
	const char *commit_url;   /**< pattern with one %s, or NULL */
	const char *signature;    /**< kernel signature (hex), or NULL */
	int verdict;              /**< kb_html_verdict */
	const char *verdict_word; /**< its text ("bad", "good", "skip", ...) */
	const kb_html_test *tests;
	size_t n_tests;
	double p;                 /**< probability shown in the P column; < 0: "-" */
	const char *note;         /**< last column (plain text), or NULL */
	const char *const *extra; /**< cells of the extra columns (plain text) */
	size_t n_extra;
	int highlight;            /**< 1: the culprit's row */
} kb_html_row;

/** A bar of the timeline: a build and/or a test on a worker (seconds from 0). */
typedef struct {
	unsigned worker;
	double build_start, build_end; /**< equal: no build (kernel at hand) */
	double test_start, test_end;
	int buildable;            /**< 0: the build failed */
	int cls;                  /**< kb_html_run_class of the test as a whole: TARGET if
				       any target crash, OK if clean, else OTHER/INFRA/BOOT */
	const char *label;        /**< tooltip (plain text): commit, round, runs */
} kb_html_bar;

/** The probability mass after one round: the top commits and their share. */
typedef struct {
	unsigned round;
	size_t n_top;
	const char *const *commit; /**< ids of the top commits, likeliest first */
	const double *p;           /**< their probabilities */
	double none;               /**< mass on "no culprit (fix) in the range" */
} kb_html_round;

/** Check a --commit-url pattern: exactly one "%s" and no other '%' directive, an
 * http(s) or file URL. 0, or -1 with why[] set. */
int kb_html_commit_url_check(const char *pattern, char *why, size_t len);

/** Write s escaped for HTML text and attribute values; NULL writes nothing. */
void kb_html_text(FILE *f, const char *s);

/** The commit id (abbreviated to abbrev characters, 0: in full) as code, linked
 * through pattern (NULL: not linked). */
void kb_html_commit(FILE *f, const char *id, const char *pattern, size_t abbrev);

/** The document's head (title, the shared style sheet) and the opening body. */
void kb_html_begin(FILE *f, const char *title);

/** A section heading (h2) with an id for the section that follows. */
void kb_html_section(FILE *f, const char *id, const char *heading);

/** The result block. */
void kb_html_result_block(FILE *f, const kb_html_result *r);

/** The legend of run colours (used by the evidence table and the timeline). */
void kb_html_run_legend(FILE *f);

/** Open the evidence table (id "evidence") with the extra columns' names. */
void kb_html_evidence_begin(FILE *f, const char *const *extra_cols, size_t n_extra,
			    const char *p_col);

/** One row of the evidence table. */
void kb_html_evidence_row(FILE *f, const kb_html_row *r);

/** Close the evidence table. */
void kb_html_evidence_end(FILE *f);

/** The timeline (svg id "timeline"): a row per worker, bars for builds and tests, a
 * time axis with ticks, the legend below; marks[] (seconds) draw dashed lines labelled
 * mark_label (e.g. "resumed"). note: a sentence under it, or NULL. */
void kb_html_timeline(FILE *f, const kb_html_bar *bars, size_t n, unsigned workers,
		      const double *marks, size_t n_marks, const char *mark_label,
		      const char *note);

/** The mass per round (svg id "mass"): a stacked bar per round, a colour per commit
 * among the top ones (legend id "mass-legend" with their subjects: subject_of(ctx, id)
 * may be NULL), grey for the rest, hatched for the mass on none of them, named by
 * none_label (e.g. "no fix in the range"; NULL: "no culprit in the range"). */
void kb_html_mass(FILE *f, const kb_html_round *rounds, size_t n, const char *commit_url,
		  const char *(*subject_of)(void *ctx, const char *id), void *ctx,
		  const char *none_label);

/** The footer (who made the page) and the end of the document. */
void kb_html_end(FILE *f, const char *generator);

/** Write a page to path atomically (a temporary file renamed over it): body(f, ctx)
 * writes it, returning 0 or an error code (kb_error set). 0, or KB_ERROR with the
 * file named in the message. */
int kb_html_write_file(const char *path, int (*body)(FILE *f, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
