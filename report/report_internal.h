/*
 * report/report_internal.h - shared types of the console parser (report/report*.c only).
 * Owns: the pattern type (a Go-like regex notation compiled to POSIX ERE, possibly over
 * several lines), the oops/format/stack tables' types, the report window handed from the
 * streaming line reader to the title extraction.
 * Not: the public API (include/kbisect/report.h).
 * Files: report.c (classification, parser object, scanner), report_lines.c (console
 * lines: cleaning, printk prefix and caller context), report_linux.c (the Linux oops
 * table), report_frames.c (patterns, stack frames, skip rules, corruption checks),
 * report_titles.c (title and ALT titles, normalisation), report_same.c (whether two
 * titles name one bug),
 * report_demangle.c (Rust and C++ frame names).
 */
#ifndef KB_VMPOOL_REPORT_INTERNAL_H
#define KB_VMPOOL_REPORT_INTERNAL_H

#include <regex.h>
#include <stddef.h>

#include "kbisect/report.h"

#define RPT_LINE_MAX 4096       /* longer lines are cut for matching */
#define RPT_MAX_LINES 2000      /* a report window keeps at most this many lines */
#define RPT_MAX_BYTES (1 << 20) /* ... and this many bytes */
#define RPT_FRAME_MAX 128       /* longest function name kept */
#define RPT_MAX_FRAMES 256      /* frames collected per stack trace */
#define RPT_ARG_MAX 8           /* title arguments (groups + frames) */
#define RPT_ARG_LEN 256
#define RX_MAX_STEPS 4
#define RX_MAX_GROUPS 8
#define RX_MAX_SUB 32           /* POSIX subexpressions of one step (checked at compile) */

/* A pattern. Source notation: POSIX ERE plus "(?:" (non-capturing group), "\d", "\w",
 * literal "\<"/"\>", and the macros {{PC}} {{FUNC}} {{SRC}} {{ADDR}}. A '\n' in the
 * source starts a step that must match a later line ("(?:.*\n)+?" of the Go original),
 * a '\r' one that must match the very next line. */
struct rx {
	int nsteps;
	int next_line[RX_MAX_STEPS];      /* step must match the line right after */
	int ngroups[RX_MAX_STEPS];        /* capturing groups of the step */
	int map[RX_MAX_STEPS][RX_MAX_GROUPS]; /* POSIX subexpression of each group */
	regex_t re[RX_MAX_STEPS];
	int ok;
};

/* Where a pattern matched in a list of lines, and its groups. */
struct rx_match {
	size_t line, col;     /* start of the match */
	int ngroups;
	char g[RX_MAX_GROUPS][RPT_ARG_LEN];
};

#define PART_PARSE "\001" /* a stack-part: parse a stack trace from here */

enum rpt_extractor { EX_FIRST = 0, EX_STALL, EX_HUNG };

struct stack_fmt {
	const char *parts[6];
	const char *parts2[4];
	const char *skip[16];
	int extractor;
	/* compiled */
	struct rx parts_rx[6], parts2_rx[4];
	regex_t skip_rx;
	int nparts, nparts2, ok;
};

struct oops_fmt {
	const char *title;   /* pattern: where the report's title line is */
	const char *report;  /* optional pattern giving the title arguments */
	const char *fmt;     /* title: %1..%8 are arguments: groups, then frames */
	const char *alt[2];  /* ALT titles, same notation */
	struct stack_fmt *stack;
	int no_stack_trace;  /* no "Call Trace" expected: never corrupted for lack of it */
	int corrupted;       /* the format means the report is truncated */
	struct rx title_rx, report_rx;
};

struct oops {
	const char *header;        /* substring that starts a report */
	struct oops_fmt *fmts;
	size_t nfmts;
	const char *suppress[12];  /* patterns: lines holding one are not reports */
	struct rx suppress_rx[12];
	size_t nsuppress;
};

/* report_linux.c */
extern struct oops rpt_oopses[];
extern const size_t rpt_noopses;
extern const char *const rpt_skip_patterns[];   /* frames never used in titles */
extern const char *const rpt_strip_prefixes[];  /* syscall prefixes stripped from frames */
extern const char *const rpt_stall_anchors[];
extern const char *const rpt_report_start_ignores[];
extern const char *const rpt_info_with_stack[];

/* report_frames.c */
int rpt_rx_compile(struct rx *rx, const char *src);
void rpt_rx_free(struct rx *rx);
int rpt_rx_match_line(const struct rx *rx, int step, const char *s, regmatch_t *m, size_t nm);
int rpt_rx_search(const struct rx *rx, char *const *lines, size_t n, size_t from,
		  struct rx_match *out);
int rpt_tables_init(void);
int rpt_line_is_stack_start(const char *s);
int rpt_line_frame(const char *s, char frames[2][RPT_FRAME_MAX]);
int rpt_line_is_corrupting(const char *s);
int rpt_stack_extract(const struct stack_fmt *st, char *const *lines, size_t n, size_t line,
		      size_t col, char canon[][RPT_ARG_LEN], char raw[][RPT_ARG_LEN], int max,
		      int *nframes);
int rpt_report_corrupted(const char *title, char *const *lines, size_t n,
			 const struct oops_fmt *f);
const char *rpt_strip_frame(const char *frame);

/* report_demangle.c */
int rpt_demangle(const char *sym, char *out, size_t outsz);

/* report_lines.c */
struct rpt_line_info {
	char ctx[32];      /* caller id "[  T12]", "console" or "" */
	const char *msg;   /* text after the printk prefix */
	int questionable;  /* " ? func+0x1/0x2" or "(unreliable)": not a reliable frame */
};
size_t rpt_clean_line(char *out, const char *raw, size_t n);
void rpt_line_parse(char *clean, struct rpt_line_info *li);
#define RPT_REBOOT_HEADER "Booting the kernel."
struct oops *rpt_match_oops(const char *line, int booted);
int rpt_line_is_kernel(const char *s);
int rpt_has_any(const char *s, const char *const *list);
const char *rpt_infra_marker(const char *s);

/* report_titles.c */
int rpt_title(const struct oops *o, char *const *lines, size_t n, size_t nfull, char *title,
	      size_t tsz, char alts[][KB_REPORT_TITLE_MAX], int *nalt, int *corrupted);

/** The ALT titles of a title already normalised by kb_report_normalize_title(): at most
 * max into out; the count (report_titles.c). */
int rpt_alts_of(const char *norm, char out[][KB_REPORT_TITLE_MAX], int max);

#endif
