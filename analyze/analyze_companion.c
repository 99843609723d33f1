/*
 * analyze/analyze_companion.c - companion titles: other kernel crash titles that the log
 * itself shows to come from the target bug.
 * Owns: kb_analysis.companions, kb_analyze__learn_companions().
 * Not: the title relation of syzkaller's alternative titles (report/report_same.c) or
 * how runs become evidence (analyze/analyze.c).
 * DESIGN: a reproducer whose bug shows under several titles (an rcu stall next to task
 * hangs, a use-after-free next to the bad usercopy it causes) leaves the evidence in the
 * log: the other title is reported in the same test as the target crash, on kernels the
 * target crash shows to have the bug. A title another bug produces shares a test with the
 * target only where both bugs are present. The rule: an other (non-infrastructure)
 * title reported in the same test as a target crash on at least KB_COMPANION_TESTS
 * tests counts as the target crash everywhere in the log. One shared test is not enough
 * (two bugs in one kernel meet once as easily: on the 668 real logs one test gains 7
 * right bisections and loses 8 wrong ones, two tests gain 6 and lose 3); counting every
 * other title as the target (syzbot's rule) loses far more (bench/analyze/run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "kbisect/report.h"
#include "common/error_internal.h"

#include "analyze_internal.h"

struct cand {
	char *title; /* normalised */
	int co;      /* tests where it shares the test with a target crash */
	int seen;    /* last step that counted it */
};

int kb_analyze__learn_companions(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	struct cand *c = NULL;
	int nc = 0, rc = 0;
	char buf[KB_REPORT_TITLE_MAX];

	if (a->ntargets == 0 || a->other_crash_bad)
		return 0;
	for (int i = 0; i < log->nsteps; i++) {
		const kb_alog_step *st = &log->steps[i];
		int has_target = 0;
		for (int k = 0; k < st->noutcomes; k++)
			if (st->outcomes[k].kind == KB_ALOG_RUN_CRASHED &&
			    kb_analyze__title_class(a, st->outcomes[k].title) == KB_ATITLE_TARGET)
				has_target = 1;
		for (int k = 0; k < st->noutcomes; k++) {
			const kb_alog_outcome *oc = &st->outcomes[k];
			int j;
			if (oc->kind != KB_ALOG_RUN_CRASHED ||
			    kb_analyze__title_class(a, oc->title) != KB_ATITLE_OTHER)
				continue;
			if (kb_report_normalize_title(buf, sizeof(buf), oc->title) != 0)
				snprintf(buf, sizeof(buf), "%s", oc->title);
			for (j = 0; j < nc; j++)
				if (!strcmp(c[j].title, buf))
					break;
			if (j == nc) {
				struct cand *t = realloc(c, (size_t)(nc + 1) * sizeof(*c));
				if (!t) {
					rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
					goto out;
				}
				c = t;
				if (!(c[nc].title = strdup(buf))) {
					rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
					goto out;
				}
				c[nc].co = 0;
				c[nc].seen = -1;
				nc++;
			}
			if (c[j].seen == i)
				continue; /* one test counts once */
			c[j].seen = i;
			c[j].co += has_target;
		}
	}
	for (int j = 0; j < nc; j++) {
		char **t;
		if (c[j].co < KB_COMPANION_TESTS)
			continue;
		if (!(t = realloc(a->companions, (size_t)(a->ncompanions + 1) * sizeof(*t)))) {
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
			goto out;
		}
		a->companions = t;
		t[a->ncompanions++] = c[j].title;
		c[j].title = NULL;
	}
out:
	for (int j = 0; j < nc; j++)
		free(c[j].title);
	free(c);
	return rc;
}
