/*
 * kbisect/report.h - kernel console output -> crash reports with syzkaller-style titles.
 *
 * Owns: finding kernel crash reports (oopses) in a console stream, their titles
 * ("general protection fault in vmx_vcpu_run", "WARNING in foo", "SYZFAIL: ..."), title
 * normalisation (addresses, numbers, ".isra.0" suffixes) and the one place where a run
 * is classified: crash (with title) > infra error > boot failure > ok.
 * Also: ALT titles (syzkaller's alternative titles of one bug, "bad-access in F"), the
 * one rule for "same bug" in two strengths (kb_report_title_relation(),
 * kb_report_title_matches()), and a streaming parser whose memory does not grow with the
 * console.
 * Not: running VMs (vmpool/run.c feeds the console), which titles are the target (the
 * bisect engine and analyze keep them and ask kb_report_title_matches() or
 * kb_report_title_relation()).
 * Titles follow syzkaller's pkg/report so they compare equal to syzbot's titles.
 */
#ifndef KBISECT_REPORT_H
#define KBISECT_REPORT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest title, including the terminating NUL (longer ones are cut). */
#define KB_REPORT_TITLE_MAX 256

/** Most ALT titles kept per report. */
#define KB_REPORT_ALT_MAX 8

/** How a run ended, as the VM pool saw it (input of kb_report_parse()). */
typedef enum {
	KB_REPORT_END_EXITED = 0, /**< the guest agent reported the program's exit status */
	KB_REPORT_END_TIMEOUT,    /**< the run reached its deadline with the agent alive (ok) */
	KB_REPORT_END_STOPPED,    /**< the pool stopped the VM after kb_report_scan_chunk() */
	KB_REPORT_END_NO_BOOT,    /**< the guest agent never said ready: boot failure */
	KB_REPORT_END_QEMU_DIED,  /**< QEMU failed to start or exited by itself: infra */
	KB_REPORT_END_NO_OUTPUT,  /**< no console output and no agent answer for too long */
	KB_REPORT_END_LOST_CONN,  /**< the connection to the guest agent broke: infra */
} kb_report_end;

/** What the pool knows about how a run ended; all-zero means "program exited with 0". */
typedef struct {
	int end;                 /**< a kb_report_end */
	int exit_status;         /**< program exit status (KB_REPORT_END_EXITED); informative */
	const char *prog_output; /**< output of the test program, scanned for SYZFAIL/SYZFATAL
				      lines (NULL when it went to the console) */
	size_t prog_output_len;  /**< bytes in prog_output */
} kb_report_ctx;

/** A classified run. Fields are valid after kb_report_parse() returned 0. */
typedef struct {
	int klass;                       /**< a kb_run_class (kbisect/common.h) */
	char title[KB_REPORT_TITLE_MAX]; /**< crash or infra title; "" for ok / boot failure
					      without a kernel message */
	size_t start, end;               /**< byte offsets [start, end) of the report in the
					      console (both 0 when there is none) */
	char *report;                    /**< the report text, malloc'd (kb_report_free());
					      NULL when there is none */
	int corrupted;                   /**< 1 if the crash report looks truncated or mixed
					      (no stack frame for the title, "Fatal exception"
					      without its oops...) */
	char alt[KB_REPORT_ALT_MAX][KB_REPORT_TITLE_MAX]; /**< ALT titles of a crash, normalised
					      ("bad-access in F", the title with unstripped
					      syscall frames...) */
	int nalt;                        /**< ALT titles in alt */
} kb_report;

/** Find the first crash report in console[0, len) and classify the run; ctx NULL means
 * a clean exit. On success free out with kb_report_free(). Never fails on garbage input:
 * text without a crash report gives KB_RUN_OK.
 * @return 0, KB_EINVAL (out NULL, or console NULL with len > 0), KB_ERROR (out of memory) */
int kb_report_parse(kb_report *out, const char *console, size_t len, const kb_report_ctx *ctx);

/** A streaming console parser: feed the console in chunks of any size, then finish; the
 * memory it holds is bounded (a report window of at most 2,000 lines / 1 MiB and an 8 KiB
 * console tail), whatever the console's size (opaque). */
typedef struct kb_report_parser kb_report_parser;

/** A new parser; on success *out is yours: kb_report_parser_free() it.
 * @return 0, KB_EINVAL (out NULL), KB_ERROR (out of memory) */
int kb_report_parser_new(kb_report_parser **out);

/** Feed the next len bytes of console (chunks may split lines anywhere).
 * @return 0, KB_EINVAL (p NULL, or buf NULL with len > 0) */
int kb_report_parser_feed(kb_report_parser *p, const char *buf, size_t len);

/** Classify what was fed, like kb_report_parse() (ctx NULL: a clean exit); out is filled
 * as there and must be kb_report_free()d. The parser can only be freed afterwards.
 * @return 0, KB_EINVAL (NULL p or out), KB_ERROR (out of memory) */
int kb_report_parser_finish(kb_report *out, kb_report_parser *p, const kb_report_ctx *ctx);

/** Free a parser (NULL ok). */
void kb_report_parser_free(kb_report_parser *p);

/** How closely two crash titles name one bug (kb_report_title_relation()); the one rule
 * for "same bug", in two strengths (report/report_same.c). */
enum {
	KB_TITLE_OTHER = 0,    /**< different bugs (or a NULL title) */
	KB_TITLE_SAME_BUG = 1, /**< not SAME, but one bug seen across kernels: one frame (or
				    one renamed by a prefix or a middle word) with kinds that
				    are equal or share syzkaller's alternative-title class
				    ("KASAN: use-after-free Read in f", "general protection
				    fault in f") */
	KB_TITLE_SAME = 2,     /**< the same crash the way syzkaller deduplicates: equal after
				    normalisation, or one's title or implied ALT titles
				    (kb_report_alt_titles()) equal to the other's */
};

/** The relation of crash titles a and b: KB_TITLE_SAME, KB_TITLE_SAME_BUG or
 * KB_TITLE_OTHER. `kbisect analyze` counts both SAME and SAME_BUG as its target bug. */
int kb_report_title_relation(const char *a, const char *b);

/** 1 if kb_report_title_relation(a, b) is KB_TITLE_SAME (the same crash the way
 * syzkaller deduplicates), else 0 (NULL gives 0); cheaper, it never looks for
 * SAME_BUG. The bisect engine uses this. */
int kb_report_title_matches(const char *a, const char *b);

/** The ALT titles a bare title implies by its format ("KASAN: use-after-free Read in f"
 * -> "bad-access in f", "INFO: task hung in f" -> "hang in f"), normalised; at most max
 * into out. @return how many (0 for none or bad arguments) */
int kb_report_alt_titles(const char *title, char out[][KB_REPORT_TITLE_MAX], int max);

/** Free the report text of r and reset it (NULL ok; r itself is not freed). */
void kb_report_free(kb_report *r);

/** Normalise a title the way kb_report_parse() does (hex addresses, numbers, "+0x1/0x2"
 * offsets, ".isra.0"/".constprop.0" suffixes, spaces), e.g. one read from a syzbot log;
 * writes at most outsz bytes (NUL-terminated).
 * @return 0, KB_EINVAL (NULL arguments or outsz == 0) */
int kb_report_normalize_title(char *out, size_t outsz, const char *title);

/** 1 if title names a failure of the test setup rather than of the kernel ("SYZFAIL:",
 * "SYZFATAL:", "lost connection to test machine", "no output from test machine", QEMU
 * failures), else 0 (NULL gives 0). */
int kb_report_title_is_infra(const char *title);

/** A streaming crash detector over a console, fed chunk by chunk (opaque). */
typedef struct kb_report_scanner kb_report_scanner;

/** What kb_report_scan_chunk() has seen so far. */
typedef enum {
	KB_SCAN_QUIET = 0,   /**< no crash report start seen */
	KB_SCAN_STARTED = 1, /**< a report started: keep reading a few seconds, then stop */
	KB_SCAN_DONE = 2,    /**< report complete (or SYZFAIL/SYZFATAL seen): stop the VM */
} kb_report_scan_state;

/** A new scanner; on success *out is yours: kb_report_scanner_free() it.
 * @return 0, KB_EINVAL (out NULL), KB_ERROR (out of memory) */
int kb_report_scanner_new(kb_report_scanner **out);

/** Feed the next len bytes of console; returns the kb_report_scan_state after them
 * (it never goes back), or KB_EINVAL (s NULL, or buf NULL with len > 0). */
int kb_report_scan_chunk(kb_report_scanner *s, const char *buf, size_t len);

/** Free a scanner (NULL ok). */
void kb_report_scanner_free(kb_report_scanner *s);

#ifdef __cplusplus
}
#endif
#endif
