/*
 * kbisect/analyze.h - audit of a syzkaller bisection log (`kbisect analyze`).
 *
 * Owns: parsing a syzbot/syz-bisect log into its tested commits, verdicts, runs and
 * signatures (kb_analyze_log), re-evaluating that evidence with kbisect's bisection
 * model (kb_analysis) and writing the audit as text, JSON or a self-contained HTML page.
 * Not: the model itself (kbisect/model.h), crash titles (kbisect/report.h).
 */
#ifndef KBISECT_ANALYZE_H
#define KBISECT_ANALYZE_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed bisection log (opaque). */
typedef struct kb_analyze_log kb_analyze_log;

/** The audit of one log (opaque). */
typedef struct kb_analysis kb_analysis;

/** Parse len bytes of log text; name is used in messages (NULL: "<log>"). Unknown lines
 * are skipped. On success *out is yours: kb_analyze_log_free() it.
 * @return 0, KB_EINVAL (not a syzkaller bisection log: no "testing commit" line, or
 *         NULL arguments), KB_ERROR (out of memory) */
int kb_analyze_log_parse(kb_analyze_log **out, const char *text, size_t len, const char *name);

/** Read and parse the log file at path ("-" is stdin).
 * @return 0, KB_ENOTFOUND (no such file), KB_EINVAL (not a bisection log), KB_ERROR */
int kb_analyze_log_load(kb_analyze_log **out, const char *path);

/** Number of tested commits in the log. */
int kb_analyze_log_nsteps(const kb_analyze_log *log);

/** Free a parsed log (NULL ok). */
void kb_analyze_log_free(kb_analyze_log *log);

/** Options of kb_analyze_run(); all-zero gives the defaults. */
typedef struct {
	const char *title;   /**< target crash title; NULL: the titles seen on the original
				  commit */
	unsigned workers;    /**< parallel test workers for the cost estimate (0: 4) */
	int other_crash_bad; /**< 1: crashes with other (non-infra) titles count as the
				  target crash; 0 (default): they are censored */
	const char *commit_url; /**< the HTML page links commits through this pattern with
				     one %s (e.g. https://git.kernel.org/torvalds/c/%s);
				     NULL: no links. Borrowed until kb_analyze_free(). */
} kb_analyze_opts;

/** Re-evaluate the evidence of log with kbisect's model. opts NULL gives the defaults.
 * On success *out is yours: kb_analyze_free() it; it borrows log (free log after it).
 * A log whose original commit showed no kernel crash (and no title given) is audited
 * too: never "supported", a finding says what the original commit showed.
 * @return 0, KB_EINVAL (NULL log), KB_ERROR (model failure, out of memory) */
int kb_analyze_run(kb_analysis **out, const kb_analyze_log *log, const kb_analyze_opts *opts);

/** Probability (0-1) under the model that the reported culprit is the right commit
 * (0 when the log reports none). */
double kb_analyze_culprit_probability(const kb_analysis *a);

/** 1 when the evidence backs the reported culprit, else 0. */
int kb_analyze_supported(const kb_analysis *a);

/** The audit as a JSON document (malloc'd, NUL-terminated; free() it).
 * @return 0, KB_ERROR (out of memory) */
int kb_analyze_json(char **out, const kb_analysis *a);

/** Write the audit for humans to f. @return 0, KB_ERROR (write error) */
int kb_analyze_write_text(FILE *f, const kb_analysis *a);

/** Write the audit as a self-contained HTML page to path (replaced atomically), with
 * the template of `kbisect bisect --html` (kbisect/html.h).
 * @return 0, KB_ERROR (cannot write the file; the message names it) */
int kb_analyze_write_html(const kb_analysis *a, const char *path);

/** Free an analysis (NULL ok). */
void kb_analyze_free(kb_analysis *a);

#ifdef __cplusplus
}
#endif
#endif
