/*
 * tests/analyze/test_analyze_real.c - `kbisect analyze` defects found on real syzbot
 * cause-bisection logs (issue #20), each reproduced on a small log written here in the
 * same format as the real ones (the conformance logs themselves are never copied):
 * git's conclusion below the culprit, one bug under several titles, merge and release
 * culprits, the 2019 signature pair, logs whose original crash never reproduced, the
 * false negatives of the release walk, and companion titles.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"
#include "kbisect/report.h"
#include "analyze_internal.h"
#include "kb_test.h"

/* A log being written: text in a fixed buffer. */
struct lb {
	char text[65536];
	size_t n;
};

static void put(struct lb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct lb *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(b->text + b->n, sizeof(b->text) - b->n, fmt, ap);
	va_end(ap);
	assert_true(w >= 0 && (size_t)w < sizeof(b->text) - b->n);
	b->n += (size_t)w;
}

/* "run #i: ..." lines: crashes runs of title (NULL: none), then OK up to total. */
static void runs(struct lb *b, int total, int crashes, const char *title)
{
	for (int i = 0; i < total; i++)
		if (i < crashes)
			put(b, "run #%d: crashed: %s\n", i, title);
		else
			put(b, "run #%d: OK\n", i);
}

/* A 40-hex commit id made of one repeated digit and a tag (distinct per commit). */
static const char *H(int tag)
{
	static char ids[64][41];
	char *s = ids[tag & 63];
	snprintf(s, 41, "%08x%032x", 0xc0de0000u + (unsigned)tag, (unsigned)tag * 2654435761u);
	return s;
}

/* A signature for commit tag. */
static const char *S(int tag)
{
	static char sigs[64][65];
	char *s = sigs[tag & 63];
	snprintf(s, 65, "%032x%032x", (unsigned)tag * 40503u + 7u, (unsigned)tag);
	return s;
}

static void analyze_text(const struct lb *b, kb_analyze_log **log, kb_analysis **a)
{
	assert_int_equal(kb_analyze_log_parse(log, b->text, b->n, "real.log"), KB_OK);
	assert_int_equal(kb_analyze_run(a, *log, NULL), KB_OK);
}

static int has_finding(const kb_analysis *a, const char *needle)
{
	for (int i = 0; i < a->nfindings; i++)
		if (strstr(a->findings[i], needle))
			return 1;
	return 0;
}

/* The skeleton of a 2020 (E3) log: the original commit and one good release, then git
 * bisect over picks[0..npicks) ("bad"/"good" by crashes[i] > 0) with git's counts
 * left[i] printed before each pick; culprit = the last bad pick. Run titles: title. */
static void e3_log(struct lb *b, const char *title, int npicks, const int *left,
		   const int *crashes, int culprit, const char *culprit_subject, int merge)
{
	put(b, "bisecting cause commit starting from %s\n", H(1));
	put(b, "building syzkaller on %s\n", H(2));
	put(b, "testing commit %s with gcc (GCC) 10.1.0-syz 20200507\n", H(1));
	put(b, "kernel signature: %s\n", S(1));
	put(b, "all runs: crashed: %s\n", title);
	put(b, "testing release v5.8\n");
	put(b, "testing commit %s with gcc (GCC) 10.1.0-syz 20200507\n", H(3));
	put(b, "kernel signature: %s\n", S(3));
	put(b, "all runs: OK\n");
	put(b, "# git bisect start %s %s\n", H(1), H(3));
	for (int i = 0; i < npicks; i++) {
		int c = 10 + i;
		put(b, "Bisecting: %d revision%s left to test after this (roughly %d step%s)\n",
		    left[i], left[i] == 1 ? "" : "s", i, i == 1 ? "" : "s");
		put(b, "[%s] subsystem: change number %d\n", H(c), i);
		put(b, "testing commit %s with gcc (GCC) 10.1.0-syz 20200507\n", H(c));
		put(b, "kernel signature: %s\n", S(c));
		if (crashes[i] >= 10)
			put(b, "all runs: crashed: %s\n", title);
		else if (crashes[i] == 0)
			put(b, "all runs: OK\n");
		else
			runs(b, 10, crashes[i], title);
		put(b, "# git bisect %s %s\n", crashes[i] ? "bad" : "good", H(c));
	}
	put(b, "%s is the first bad commit\n", H(10 + culprit));
	put(b, "commit %s\n", H(10 + culprit));
	if (merge)
		put(b, "Merge: %.12s %.12s\n", H(40), H(41));
	put(b, "Author: A Developer <a@example.org>\n");
	put(b, "Date:   Tue Jun 2 10:00:00 2020 +0200\n\n    %s\n\n", culprit_subject);
	put(b, " net/core/dev.c | 4 ++--\n 1 file changed, 2 insertions(+), 2 deletions(-)\n");
	put(b, "parent commit %s wasn't tested\n", H(30));
	put(b, "testing commit %s with gcc (GCC) 10.1.0-syz 20200507\n", H(30));
	put(b, "kernel signature: %s\n", S(30));
	put(b, "culprit signature: %s\n", S(10 + culprit));
	put(b, "parent  signature: %s\n", S(30));
	put(b, "revisions tested: %d, total time: 3h1m2.5s (build: 1h40m1s, test: 1h10m3s)\n",
	    npicks + 3);
	put(b, "first bad commit: %s %s\n", H(10 + culprit), culprit_subject);
	put(b, "recipients (to): [\"a@example.org\"]\nrecipients (cc): []\n");
	put(b, "crash: %s\n", title);
	put(b, "==================================================================\n");
}

/* Defect 1: git concluded "X is the first bad commit" from X's bad verdict and the good
 * verdict just below it; the culprit's parent (built for the no-op check, untested)
 * must not take half of the mass. */
static void test_analyze_real__git_conclusion_leaves_no_block_below_culprit(void **state)
{
	static const int left[] = { 12, 6, 2, 0 };
	static const int crash[] = { 10, 10, 0, 10 };
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	(void)state;
	e3_log(&b, "KASAN: use-after-free Read in f_x", 4, left, crash, 3, "net: rework f_x", 0);
	analyze_text(&b, &log, &a);
	assert_true(log->git_first_bad);
	assert_true(kb_analyze_culprit_probability(a) > 0.9);
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* 1 when crash titles a and b name one bug the way analyze counts its target: report's
 * rule at its looser strength (KB_TITLE_SAME or KB_TITLE_SAME_BUG). */
static int one_bug(const char *a, const char *b)
{
	return kb_report_title_relation(a, b) != KB_TITLE_OTHER;
}

/* Defect 2: titles that syzkaller's alternative titles make one bug. */
static void test_analyze_real__same_bug_titles(void **state)
{
	(void)state;
	assert_true(one_bug("BUG: unable to handle kernel NULL pointer "
			    "dereference in f_x", "general protection fault in f_x"));
	assert_true(one_bug("WARNING: refcount bug in f_x",
			    "KASAN: use-after-free Read in f_x"));
	assert_true(one_bug("KASAN: use-after-free Read in f_x",
			    "KASAN: slab-out-of-bounds Write in f_x"));
	assert_true(one_bug("general protection fault in __f_x",
			    "general protection fault in f_x"));
	assert_true(one_bug("INFO: rcu detected stall in f_x",
			    "BUG: soft lockup in f_x"));
	assert_true(one_bug("INFO: rcu detected stall in f_x",
			    "INFO: rcu detected stall in corrupted"));
	assert_true(one_bug("UBSAN: shift-out-of-bounds in f_x",
			    "UBSAN: undefined-behaviour in f_x"));
	assert_true(one_bug("KASAN: double-free or invalid-free in f_x",
			    "KASAN: invalid-free in f_x"));
	/* a function renamed by a prefix or a middle word */
	assert_true(one_bug("KASAN: use-after-free Read in request_end",
			    "KASAN: use-after-free Read in fuse_request_end"));
	assert_true(one_bug("general protection fault in btf_tag_resolve",
			    "general protection fault in btf_decl_tag_resolve"));
	assert_true(one_bug("general protection fault in mm_cold_range",
			    "BUG: unable to handle kernel NULL pointer dereference in "
			    "mm_cold_or_page_range"));
	/* not one bug: other frame, other kind without a shared class, corrupted of
	 * another kind */
	assert_false(one_bug("general protection fault in f_x",
			     "general protection fault in g_y"));
	assert_false(one_bug("WARNING in f_x", "KASAN: use-after-free Read in f_x"));
	assert_false(one_bug("INFO: rcu detected stall in f_x",
			     "INFO: task hung in f_x"));
	assert_false(one_bug("KASAN: use-after-free Read in f_x",
			     "KASAN: slab-out-of-bounds Read in corrupted"));
	assert_false(one_bug("KASAN: use-after-free Read in f_x",
			     "KASAN: invalid-free in f_x"));
	/* a word added at the end, a one-word frame, another kind: not renamed */
	assert_false(one_bug("KASAN: use-after-free Write in f_inline_data",
			     "KASAN: use-after-free Write in f_inline_data_end"));
	assert_false(one_bug("WARNING in send", "WARNING in tcp_send"));
	assert_false(one_bug("WARNING in request_end",
			     "KASAN: use-after-free Read in fuse_request_end"));
}

/* Defect 2 end to end: the bisection's bad verdicts rest on a general protection fault
 * in the function whose NULL dereference crashed the original commit. */
static void test_analyze_real__alt_title_verdicts_support_the_culprit(void **state)
{
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	const char *orig = "BUG: unable to handle kernel NULL pointer dereference in f_x";
	(void)state;
	put(&b, "bisecting cause commit starting from %s\n", H(1));
	put(&b, "testing commit %s with gcc (GCC) 10.1.0-syz 20200507\n", H(1));
	put(&b, "kernel signature: %s\nall runs: crashed: %s\n", S(1), orig);
	put(&b, "testing release v5.8\ntesting commit %s with gcc (GCC) 8.1.0\n", H(3));
	put(&b, "kernel signature: %s\nall runs: OK\n", S(3));
	put(&b, "# git bisect start %s %s\n", H(1), H(3));
	put(&b, "Bisecting: 6 revisions left to test after this (roughly 3 steps)\n");
	put(&b, "[%s] a: one\ntesting commit %s with gcc (GCC) 8.1.0\n", H(10), H(10));
	put(&b, "kernel signature: %s\nall runs: crashed: general protection fault in f_x\n",
	    S(10));
	put(&b, "# git bisect bad %s\n", H(10));
	put(&b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(&b, "[%s] a: two\ntesting commit %s with gcc (GCC) 8.1.0\n", H(11), H(11));
	put(&b, "kernel signature: %s\nall runs: OK\n# git bisect good %s\n", S(11), H(11));
	put(&b, "Bisecting: 0 revisions left to test after this (roughly 1 step)\n");
	put(&b, "[%s] a: three\ntesting commit %s with gcc (GCC) 8.1.0\n", H(12), H(12));
	put(&b, "kernel signature: %s\n", S(12));
	runs(&b, 10, 8, "general protection fault in f_x");
	put(&b, "# git bisect bad %s\n%s is the first bad commit\n", H(12), H(12));
	put(&b, "first bad commit: %s a: three\n", H(12));
	analyze_text(&b, &log, &a);
	assert_int_equal(a->st[2].rests_on, KB_ATITLE_TARGET);
	assert_int_equal(a->st[4].target, 8);
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* A merge culprit (git's "Merge:" line) or a release culprit ("Linux 5.9"): the commit
 * changes no code of its own; syzkaller flags such results, and so does analyze. */
static void test_analyze_real__merge_and_release_culprits_not_supported(void **state)
{
	static const int left[] = { 12, 6, 2, 0 };
	static const int crash[] = { 10, 10, 0, 10 };
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	(void)state;
	e3_log(&b, "WARNING in f_x", 4, left, crash, 3, "Merge branch 'for-next'", 1);
	analyze_text(&b, &log, &a);
	assert_true(log->culprit_merge);
	assert_false(kb_analyze_supported(a));
	assert_true(has_finding(a, "merge commit"));
	kb_analyze_free(a);
	kb_analyze_log_free(log);

	memset(&b, 0, sizeof(b));
	e3_log(&b, "WARNING in f_x", 4, left, crash, 3, "Linux 5.9", 0);
	analyze_text(&b, &log, &a);
	assert_false(log->culprit_merge);
	assert_false(kb_analyze_supported(a));
	assert_true(has_finding(a, "release commit"));
	kb_analyze_free(a);
	kb_analyze_log_free(log);

	/* the same log with an ordinary subject is supported */
	memset(&b, 0, sizeof(b));
	e3_log(&b, "WARNING in f_x", 4, left, crash, 3, "Linux: fix the f_x path", 0);
	analyze_text(&b, &log, &a);
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* Defect 3: a 2019 (E2) log whose last tested commit is a good one ends with
 * "kernel signature:   C" / "previous signature: P" for the culprit and its parent;
 * C is not the last tested commit's signature (no false "identical kernel"). */
static void test_analyze_real__2019_signature_pair_is_the_culprits(void **state)
{
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	char sig1[41], sig10[41], sig11[41], sig12[41];
	const char *t = "WARNING in f_x";
	(void)state;
	/* 40-hex (SHA-1) signatures, as in that era */
	snprintf(sig1, sizeof(sig1), "%.40s", S(1));
	snprintf(sig10, sizeof(sig10), "%.40s", S(10));
	snprintf(sig11, sizeof(sig11), "%.40s", S(11));
	snprintf(sig12, sizeof(sig12), "%.40s", S(12));
	put(&b, "bisecting cause commit starting from %s\n", H(1));
	put(&b, "building syzkaller on %s\n", H(2));
	put(&b, "testing commit %s with gcc (GCC) 8.1.0\n", H(1));
	put(&b, "kernel signature: %s\nall runs: crashed: %s\n", sig1, t);
	put(&b, "testing release v5.4\ntesting commit %s with gcc (GCC) 8.1.0\n", H(3));
	put(&b, "kernel signature: %.40s\nall runs: OK\n", S(3));
	put(&b, "# git bisect start %s %s\n", H(1), H(3));
	put(&b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(&b, "[%s] a: one\ntesting commit %s with gcc (GCC) 8.1.0\n", H(10), H(10));
	put(&b, "kernel signature: %s\nall runs: crashed: %s\n# git bisect bad %s\n", sig10, t,
	    H(10));
	put(&b, "Bisecting: 0 revisions left to test after this (roughly 1 step)\n");
	put(&b, "[%s] a: two\ntesting commit %s with gcc (GCC) 8.1.0\n", H(11), H(11));
	put(&b, "kernel signature: %s\nall runs: OK\n# git bisect good %s\n", sig11, H(11));
	put(&b, "%s is the first bad commit\ncommit %s\n", H(10), H(10));
	put(&b, "Author: A <a@example.org>\nDate:   Mon Dec 2 10:00:00 2019 +0100\n\n");
	put(&b, "    a: one\n\n");
	put(&b, "kernel signature:   %s\nprevious signature: %s\n", sig10, sig12);
	put(&b, "revisions tested: 4, total time: 1h2m3s (build: 40m1s, test: 20m2s)\n");
	put(&b, "first bad commit: %s a: one\ncc: [\"a@example.org\"]\n", H(10));
	analyze_text(&b, &log, &a);
	assert_string_equal(log->steps[3].sig, sig11); /* the good commit keeps its own */
	assert_string_equal(log->culprit_sig, sig10);
	assert_string_equal(log->parent_sig, sig12);
	assert_int_equal(a->ngroups, 0);               /* no identical kernels */
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* What each era adds is read, none refused: the 2022 (E5) first line, "ensuring issue
 * is reproducible", "testing commit X gcc" with a compiler line, 20 runs, an ssh error
 * with '\r' inside a run, and a build failure as make's own message. */
static void test_analyze_real__e5_lines_are_understood(void **state)
{
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	const char *t = "KASAN: use-after-free Read in f_x";
	(void)state;
	put(&b, "ci starts bisection 2022-10-05 13:23:36.2 +0000 UTC m=+13214.5\n");
	put(&b, "bisecting cause commit starting from %s\n", H(1));
	put(&b, "building syzkaller on %s\n", H(2));
	put(&b, "ensuring issue is reproducible on original commit %s\n\n", H(1));
	put(&b, "testing commit %s gcc\n", H(1));
	put(&b, "compiler: gcc (GCC) 10.2.1 20210217, GNU ld (GNU Binutils for Debian) 2.35.2\n");
	put(&b, "kernel signature: %s\n", S(1));
	runs(&b, 19, 12, t);
	put(&b, "run #19: basic kernel testing failed: failed to copy test binary to VM: "
		"exit status 1\r\nConnection timed out during banner exchange\r\n"
		"lost connection\n");
	put(&b, "testing release v6.0\ntesting commit %s gcc\n", H(3));
	put(&b, "compiler: gcc (GCC) 10.2.1 20210217, GNU ld (GNU Binutils for Debian) 2.35.2\n");
	put(&b, "kernel signature: %s\n", S(3));
	runs(&b, 20, 0, NULL);
	put(&b, "# git bisect start %s %s\n", H(1), H(3));
	put(&b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(&b, "[%s] a: one\ntesting commit %s gcc\n", H(10), H(10));
	put(&b, "compiler: gcc (GCC) 10.2.1 20210217, GNU ld (GNU Binutils for Debian) 2.35.2\n");
	put(&b, "failed to run [\"make\" \"bzImage\" \"-j\" \"64\"]: exit status 2\n");
	put(&b, "fs/x.c:12:3: error: implicit declaration of function 'g'\n");
	put(&b, "# git bisect skip %s\n", H(10));
	analyze_text(&b, &log, &a);
	assert_int_equal(log->nsteps, 3);
	assert_int_equal(log->steps[0].phase, KB_ALOG_PHASE_ORIGINAL);
	assert_int_equal(log->steps[0].nruns, 20);
	assert_int_equal(log->steps[1].phase, KB_ALOG_PHASE_RELEASE);
	assert_int_equal(log->steps[1].nruns, 20);
	assert_true(log->steps[2].build_failed);
	assert_int_equal(log->steps[2].git_verdict, KB_ALOG_V_SKIP);
	assert_non_null(log->steps[0].compiler);
	assert_string_equal(a->original_title, t);
	assert_int_equal(a->st[0].target, 12);
	assert_int_equal(a->st[0].failed, 1);
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* Defect 1, a skipped commit: git concluded "X is the first bad commit" although a
 * commit between the last good one and X was skipped (it boots no kernel); git had
 * excluded it, so it must not split the mass with X. */
static void test_analyze_real__git_conclusion_excludes_skipped_below(void **state)
{
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	const char *t = "KASAN: use-after-free Write in f_x";
	(void)state;
	put(&b, "bisecting cause commit starting from %s\n", H(1));
	put(&b, "testing commit %s with gcc (GCC) 8.1.0\nall runs: crashed: %s\n", H(1), t);
	put(&b, "testing release v4.20\ntesting commit %s with gcc (GCC) 8.1.0\n", H(3));
	put(&b, "all runs: OK\n# git bisect start %s %s\n", H(1), H(3));
	put(&b, "Bisecting: 6 revisions left to test after this (roughly 3 steps)\n");
	put(&b, "[%s] a: one\ntesting commit %s with gcc (GCC) 8.1.0\n", H(10), H(10));
	put(&b, "all runs: OK\n# git bisect good %s\n", H(10));
	put(&b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(&b, "[%s] a: two\ntesting commit %s with gcc (GCC) 8.1.0\n", H(11), H(11));
	put(&b, "all runs: boot failed: WARNING: workqueue cpumask: online intersect > "
		"possible intersect\n# git bisect skip %s\n", H(11));
	put(&b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(&b, "[%s] a: three\ntesting commit %s with gcc (GCC) 8.1.0\n", H(12), H(12));
	put(&b, "all runs: crashed: %s\n# git bisect bad %s\n", t, H(12));
	put(&b, "Bisecting: 0 revisions left to test after this (roughly 0 steps)\n");
	put(&b, "[%s] a: four\ntesting commit %s with gcc (GCC) 8.1.0\n", H(13), H(13));
	put(&b, "all runs: OK\n# git bisect good %s\n", H(13));
	put(&b, "%s is the first bad commit\nfirst bad commit: %s a: three\n", H(12), H(12));
	analyze_text(&b, &log, &a);
	assert_true(kb_analyze_culprit_probability(a) > 0.9);
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* A release walk of a flaky reproducer: each bad commit crashed in 2 of 10 runs, so
 * the good release's 10 clean runs may be a false negative (the bug older than the
 * range); it lowers the culprit's probability. With a reproducer that crashes every
 * run, the same good release is no doubt. */
static void release_walk_log(struct lb *b, int crashes)
{
	const char *t = "general protection fault in f_x";
	put(b, "bisecting cause commit starting from %s\n", H(1));
	put(b, "testing commit %s\ncompiler: gcc (GCC) 10.2.1 20210217\n", H(1));
	runs(b, 10, crashes, t);
	put(b, "testing release v5.16\ntesting commit %s\ncompiler: gcc (GCC) 10.2.1\n", H(4));
	runs(b, 10, crashes, t);
	put(b, "testing release v5.15\ntesting commit %s\ncompiler: gcc (GCC) 10.2.1\n", H(3));
	runs(b, 10, 0, NULL);
	put(b, "# git bisect start %s %s\n", H(4), H(3));
	put(b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(b, "[%s] a: one\ntesting commit %s\ncompiler: gcc (GCC) 10.2.1\n", H(10), H(10));
	runs(b, 10, 0, NULL);
	put(b, "# git bisect good %s\n", H(10));
	put(b, "Bisecting: 0 revisions left to test after this (roughly 1 step)\n");
	put(b, "[%s] a: two\ntesting commit %s\ncompiler: gcc (GCC) 10.2.1\n", H(11), H(11));
	runs(b, 10, crashes, t);
	put(b, "# git bisect bad %s\n%s is the first bad commit\n", H(11), H(11));
	put(b, "first bad commit: %s a: two\n", H(11));
}

static void test_analyze_real__release_walk_false_negative(void **state)
{
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	double flaky_fn;
	(void)state;
	release_walk_log(&b, 2);
	analyze_text(&b, &log, &a);
	assert_int_equal(a->walk_step, 2);
	flaky_fn = a->walk_fn;
	assert_true(flaky_fn > 0.01);
	assert_true(a->st[3].p_fn > 0.01);               /* the good pick as well */
	assert_true(kb_analyze_culprit_probability(a) < a->model_prob);
	assert_true(fabs(kb_analyze_culprit_probability(a) -
			 a->model_prob * (1 - flaky_fn)) < 1e-12);
	assert_true(has_finding(a, "release walk ended on the good release v5.15"));
	kb_analyze_free(a);
	kb_analyze_log_free(log);

	memset(&b, 0, sizeof(b));
	release_walk_log(&b, 10);
	analyze_text(&b, &log, &a);
	assert_int_equal(a->walk_step, 2);
	assert_true(a->walk_fn < 1e-6);
	assert_true(a->walk_fn < flaky_fn);
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

/* "crashed: A" runs, then "crashed: B" runs, then OK runs up to total (run #i lines). */
static void runs2(struct lb *b, int total, int na, const char *ta, int nb, const char *tb)
{
	for (int i = 0; i < total; i++)
		if (i < na)
			put(b, "run #%d: crashed: %s\n", i, ta);
		else if (i < na + nb)
			put(b, "run #%d: crashed: %s\n", i, tb);
		else
			put(b, "run #%d: OK\n", i);
}

/* A 2019-format log of a bug that shows as an rcu stall and as task hangs: the original
 * commit crashed with the stall only; the release v5.4 and (shared >= 2) v5.3 report
 * both titles in one test; git's bad verdicts, the culprit's included, rest on the hangs
 * alone. */
static void companion_log(struct lb *b, int shared)
{
	const char *stall = "INFO: rcu detected stall in f_x";
	const char *hung = "INFO: task hung in g_y";
	put(b, "bisecting cause commit starting from %s\n", H(1));
	put(b, "building syzkaller on %s\n", H(2));
	put(b, "testing commit %s with gcc (GCC) 8.1.0\n", H(1));
	put(b, "all runs: crashed: %s\n", stall);
	put(b, "testing release v5.4\ntesting commit %s with gcc (GCC) 8.1.0\n", H(5));
	runs2(b, 10, 6, stall, 4, hung);
	put(b, "testing release v5.3\ntesting commit %s with gcc (GCC) 8.1.0\n", H(4));
	runs2(b, 10, shared >= 2 ? 5 : 9, stall, shared >= 2 ? 3 : 0, hung);
	put(b, "testing release v5.2\ntesting commit %s with gcc (GCC) 8.1.0\n", H(3));
	put(b, "all runs: OK\n");
	put(b, "# git bisect start %s %s\n", H(4), H(3));
	put(b, "Bisecting: 6 revisions left to test after this (roughly 3 steps)\n");
	put(b, "[%s] a: one\ntesting commit %s with gcc (GCC) 8.1.0\n", H(10), H(10));
	runs2(b, 10, 0, stall, 9, hung);
	put(b, "# git bisect bad %s\n", H(10));
	put(b, "Bisecting: 2 revisions left to test after this (roughly 2 steps)\n");
	put(b, "[%s] a: two\ntesting commit %s with gcc (GCC) 8.1.0\n", H(11), H(11));
	put(b, "all runs: OK\n# git bisect good %s\n", H(11));
	put(b, "Bisecting: 0 revisions left to test after this (roughly 1 step)\n");
	put(b, "[%s] a: three\ntesting commit %s with gcc (GCC) 8.1.0\n", H(12), H(12));
	runs2(b, 10, 0, stall, 7, hung);
	put(b, "# git bisect bad %s\n%s is the first bad commit\n", H(12), H(12));
	put(b, "commit %s\nAuthor: A Developer <a@example.org>\n", H(12));
	put(b, "Date:   Tue Jun 2 10:00:00 2019 +0200\n\n    a: three\n\n");
	put(b, "first bad commit: %s a: three\n", H(12));
	put(b, "crash: %s\n", hung);
}

/* An other title reported in the same test as the target crash on two tests is the
 * target bug's (a companion title): the verdicts that rest on it support the culprit.
 * One shared test is not enough. */
static void test_analyze_real__companion_titles(void **state)
{
	struct lb b = { .n = 0 };
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	(void)state;
	companion_log(&b, 2);
	analyze_text(&b, &log, &a);
	assert_int_equal(a->ncompanions, 1);
	assert_string_equal(a->companions[0], "INFO: task hung in g_y");
	assert_int_equal(a->st[a->culprit_step].rests_on, KB_ATITLE_TARGET);
	assert_int_equal(a->st[a->culprit_step].target, 7);
	assert_true(has_finding(a, "'INFO: task hung in g_y' was reported in the same test"));
	assert_true(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);

	b.n = 0;
	companion_log(&b, 1);
	analyze_text(&b, &log, &a);
	assert_int_equal(a->ncompanions, 0);
	assert_int_equal(a->st[a->culprit_step].rests_on, KB_ATITLE_OTHER);
	assert_false(kb_analyze_supported(a));
	kb_analyze_free(a);
	kb_analyze_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_analyze_real__git_conclusion_leaves_no_block_below_culprit),
		cmocka_unit_test(test_analyze_real__same_bug_titles),
		cmocka_unit_test(test_analyze_real__alt_title_verdicts_support_the_culprit),
		cmocka_unit_test(test_analyze_real__merge_and_release_culprits_not_supported),
		cmocka_unit_test(test_analyze_real__2019_signature_pair_is_the_culprits),
		cmocka_unit_test(test_analyze_real__e5_lines_are_understood),
		cmocka_unit_test(test_analyze_real__git_conclusion_excludes_skipped_below),
		cmocka_unit_test(test_analyze_real__release_walk_false_negative),
		cmocka_unit_test(test_analyze_real__companion_titles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
