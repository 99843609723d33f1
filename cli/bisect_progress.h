/*
 * cli/bisect_progress.h - the bisection log sink of `kbisect bisect` and its progress
 * line (cli/bisect_progress.c). CLI-internal.
 */
#ifndef KB_CLI_BISECT_PROGRESS_H
#define KB_CLI_BISECT_PROGRESS_H

#include <stdio.h>

struct kb_progress;

/** Start the sink: log lines go to log (stderr or the --log file); the progress line
 * is redrawn in place on stderr when it is a terminal, else printed as a plain
 * "progress: ..." line every every_s seconds (0: never). NULL on a lack of memory. */
struct kb_progress *kb_progress_start(FILE *log, double every_s);

/** The log callback (kb_engine_oracle.log, kb_oracle_opts.log): writes the line and
 * learns from it (phase, builds running, runs, the round's summary). Thread-safe. */
void kb_progress_log(void *ctx, const char *line);

/** The progress line as it would be drawn now (no newline), into buf. */
void kb_progress_line(struct kb_progress *p, char *buf, size_t len);

/** Stop the progress line (thread joined, line cleared) before the result is printed;
 * log lines still go to the log. NULL ok. */
void kb_progress_finish(struct kb_progress *p);

/** kb_progress_finish() and free; NULL ok. */
void kb_progress_stop(struct kb_progress *p);

#endif
