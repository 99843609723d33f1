/*
 * analyze/analyze_findings.c - the findings of `kbisect analyze`: one sentence each for
 * what the audit of a log found (where the original crash was seen, verdicts resting on
 * infrastructure failures or other crashes, disagreements, identical kernels, merge or
 * release culprits, good verdicts that may be false negatives, the culprit's support).
 * Owns: the wording of the findings (kb_analysis.findings).
 * Not: the evaluation they describe (analyze/analyze.c, analyze/analyze_walk.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "common/error_internal.h"
#include "analyze_internal.h"

static int add_finding(kb_analysis *a, const char *fmt, ...) KB_PRINTF(2, 3);

static int add_finding(kb_analysis *a, const char *fmt, ...)
{
	va_list ap;
	char buf[2048], *d, **f;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!(d = strdup(buf)))
		return -1;
	if (!(f = realloc(a->findings, (size_t)(a->nfindings + 1) * sizeof(*f)))) {
		free(d);
		return -1;
	}
	a->findings = f;
	f[a->nfindings++] = d;
	return 0;
}

/* Append short hashes of the steps with flag[i] set to buf, comma separated. */
static void list_steps(char *buf, size_t len, const kb_analyze_log *log, const int *flag)
{
	size_t used = 0;
	int n = 0;

	buf[0] = '\0';
	for (int i = 0; i < log->nsteps && used + 16 < len; i++) {
		if (!flag[i])
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%.8s", n++ ? ", " : "",
					 log->steps[i].hash);
	}
}

/* What the original commit showed when it showed no kernel crash. */
static int no_original_finding(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	const kb_alog_step *st;
	unsigned ok = 0, infra = 0, boot = 0, other = 0;
	const char *infra_title = NULL;

	if (a->original_step < 0)
		return add_finding(a, "the original commit %.12s is not tested in this log: the "
				   "bisection followed no reproduced crash: unsupported",
				   log->start[0] ? log->start : "?");
	st = &log->steps[a->original_step];
	for (int k = 0; k < st->noutcomes; k++) {
		const kb_alog_outcome *oc = &st->outcomes[k];
		unsigned c = oc->count > 0 ? (unsigned)oc->count : 0;
		if (oc->kind == KB_ALOG_RUN_OK) {
			ok += c;
		} else if (oc->kind == KB_ALOG_RUN_CRASHED) {
			infra += c;
			if (!infra_title)
				infra_title = oc->title;
		} else if (oc->kind == KB_ALOG_RUN_BOOT_FAILED ||
			   oc->kind == KB_ALOG_RUN_TEST_FAILED) {
			boot += c;
		} else {
			other += c;
		}
	}
	return add_finding(a, "the original crash was never reproduced in this log: the "
			   "original commit %.12s showed %u clean run%s, %u infrastructure "
			   "failure%s%s%s%s, %u boot/test failure%s and %u other result%s, no "
			   "kernel crash: unsupported (give --title to audit against a title)",
			   st->hash, ok, ok == 1 ? "" : "s", infra, infra == 1 ? "" : "s",
			   infra_title ? " ('" : "", infra_title ? infra_title : "",
			   infra_title ? "')" : "", boot, boot == 1 ? "" : "s", other,
			   other == 1 ? "" : "s");
}

/* The findings about the log's verdicts: those resting only on infrastructure failures
 * or on other titles, those kbisect disagrees with or that carry no information, and
 * original-crash runs the model explains as false positives. flag (n + 1 ints) and list
 * (lsz bytes) are scratch. Nonzero when out of memory. */
static int verdict_findings(kb_analysis *a, int *flag, char *list, size_t lsz)
{
	const kb_analyze_log *log = a->log;
	int n = log->nsteps, infra_bad = 0, other_bad = 0, disagree = 0, noinfo = 0, rc = 0;
	const char *infra_title = NULL;

	for (int i = 0; i < n; i++) {
		const kb_alog_step *st = &log->steps[i];
		flag[i] = a->st[i].rests_on == KB_ATITLE_INFRA && !a->st[i].log_implied;
		if (flag[i]) {
			infra_bad++;
			for (int k = 0; k < st->noutcomes && !infra_title; k++)
				if (st->outcomes[k].kind == KB_ALOG_RUN_CRASHED)
					infra_title = st->outcomes[k].title;
		}
	}
	if (infra_bad) {
		list_steps(list, lsz, log, flag);
		rc |= add_finding(a, "%d '%s' verdict%s (%s) rest%s only on test-infrastructure "
				  "failures such as '%s', not on kernel crashes",
				  infra_bad, kb_analyze__verdict_word(log, KB_AV_CRASH),
				  infra_bad > 1 ? "s" : "", list, infra_bad > 1 ? "" : "s",
				  infra_title ? infra_title : "?");
	}
	for (int i = 0; i < n; i++)
		if ((flag[i] = a->st[i].rests_on == KB_ATITLE_OTHER && !a->st[i].log_implied))
			other_bad++;
	if (other_bad) {
		list_steps(list, lsz, log, flag);
		rc |= add_finding(a, "%d '%s' verdict%s (%s) rest%s only on crashes with other "
				  "titles than the original",
				  other_bad, kb_analyze__verdict_word(log, KB_AV_CRASH),
				  other_bad > 1 ? "s" : "", list, other_bad > 1 ? "" : "s");
	}
	for (int i = 0; i < n; i++) {
		flag[i] = a->st[i].agree == 0;
		disagree += flag[i];
		noinfo += a->st[i].agree < 0 && (a->st[i].log_v == KB_AV_CRASH ||
						 a->st[i].log_v == KB_AV_NOCRASH);
	}
	if (disagree) {
		list_steps(list, lsz, log, flag);
		rc |= add_finding(a, "kbisect disagrees with %d verdict%s of the log: %s", disagree,
				  disagree > 1 ? "s" : "", list);
	}
	if (noinfo)
		rc |= add_finding(a, "%d verdict%s of the log rest%s on runs that carry no "
				  "information under the model", noinfo, noinfo > 1 ? "s" : "",
				  noinfo > 1 ? "" : "s");
	{
		int fp = 0;
		for (int i = 0; i < n; i++)
			fp += (flag[i] = a->st[i].target > 0 && a->st[i].p_bug >= 0 &&
					 a->st[i].p_bug < 0.5);
		if (fp) {
			list_steps(list, lsz, log, flag);
			rc |= add_finding(a, "the model explains the original-crash runs on %s as "
					  "false positives (one reproduction rate q = %.2f for all "
					  "buggy kernels; eps = %.4f)", list, a->q_mean, a->eps_mean);
		}
	}
	return rc;
}

/* The findings about the cost and the culprit: identical signatures, a culprit that
 * changes no binary or no code, likely false negatives, the release walk's end. flag and
 * list as for verdict_findings(). Nonzero when out of memory. */
static int culprit_findings(kb_analysis *a, int *flag, char *list, size_t lsz)
{
	const kb_analyze_log *log = a->log;
	int n = log->nsteps, rc = 0;

	for (int g = 0; g < a->ngroups; g++) {
		memset(flag, 0, (size_t)n * sizeof(int));
		for (int j = 0; j < a->groups[g].nsteps; j++)
			flag[a->groups[g].steps[j]] = 1;
		list_steps(list, lsz, log, flag);
		rc |= add_finding(a, "commits %s have the same kernel signature %.16s: one build "
				  "and one test would have served them all", list, a->groups[g].sig);
	}
	if (log->culprit_sig[0] && log->parent_sig[0] && !strcmp(log->culprit_sig, log->parent_sig))
		rc |= add_finding(a, "the reported culprit does not change the kernel binary "
				  "(culprit and parent signatures are equal): it cannot be the "
				  "culprit");
	if (kb_analyze__culprit_inert_reason(a))
		rc |= add_finding(a, "the reported culprit is a %s commit (%s): it changes no code "
				  "of its own, so it cannot have introduced the bug alone; verdicts "
				  "that point at it are inconsistent (syzkaller marks such results "
				  "unreliable): not supported",
				  kb_analyze__culprit_inert_reason(a),
				  !strcmp(kb_analyze__culprit_inert_reason(a), "merge") ? "a 'Merge:' line"
									     : "its subject is a version");
	{
		int weak = 0;
		for (int i = 0; i < n; i++)
			weak += (flag[i] = a->st[i].p_fn >= 0.05 && i != a->walk_step);
		if (weak) {
			list_steps(list, lsz, log, flag);
			rc |= add_finding(a, "%d '%s' verdict%s (%s) may be false negative%s (p >= "
					  "0.05): the reproducer (q = %.2f) can miss the bug in that "
					  "many runs", weak, kb_analyze__verdict_word(log, KB_AV_NOCRASH),
					  weak > 1 ? "s" : "", list, weak > 1 ? "s" : "", a->q_mean);
		}
	}
	if (a->walk_step >= 0 && a->walk_fn >= 0.001) {
		const kb_alog_step *ws = &log->steps[a->walk_step];
		rc |= add_finding(a, "the release walk ended on the good release %s (%.12s) with "
				  "%u clean runs; at the log's reproduction rate (q = %.2f) the "
				  "chance that this kernel has the bug and the runs missed it is "
				  "%.4f, and then the culprit is older than the whole range: the "
				  "culprit's probability is %.4f x (1 - %.4f)",
				  ws->release ? ws->release : "?", ws->hash,
				  a->st[a->walk_step].pclean, a->q_mean, a->walk_fn, a->model_prob,
				  a->walk_fn);
	}
	return rc;
}

int kb_analyze__findings(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	int n = log->nsteps, seen = 0;
	int *flag = calloc((size_t)n + 1, sizeof(int));
	char list[1024];
	int rc = 0;

	if (!flag)
		return -1;
	for (int i = 0; i < n; i++)
		if ((flag[i] = a->st[i].target > 0))
			seen++;
	list_steps(list, sizeof(list), log, flag);
	if (a->no_original_crash)
		rc |= no_original_finding(a);
	else if (seen == 0)
		rc |= add_finding(a, "the original crash '%s' was not seen on any tested commit",
				  a->original_title);
	else if (seen == 1 && a->st[a->original_step >= 0 ? a->original_step : 0].target)
		rc |= add_finding(a, "the original crash '%s' was seen only on the first tested "
				  "commit %s", a->original_title, list);
	else
		rc |= add_finding(a, "the original crash '%s' was seen on %d tested commits: %s",
				  a->original_title, seen, list);
	for (int i = 0; i < a->ncompanions; i++)
		rc |= add_finding(a, "'%s' was reported in the same test as the original crash "
				  "on %d or more tests: counted as the original crash (a "
				  "companion title)", a->companions[i], KB_COMPANION_TESTS);
	rc |= verdict_findings(a, flag, list, sizeof(list));
	rc |= culprit_findings(a, flag, list, sizeof(list));
	if (log->culprit[0]) {
		rc |= add_finding(a, "the reported %s %.12s has probability %.4f under the "
				  "model: %s", log->kind == KB_ALOG_FIX ? "fix" : "culprit",
				  log->culprit, a->culprit_prob,
				  a->supported ? "supported"
				  : a->culprit_prob >= KB_ANALYZE_SUPPORT
					  ? "NOT supported (a merge or release commit)"
					  : "NOT supported by the evidence");
	} else if (log->result == KB_ALOG_RES_INCONCLUSIVE) {
		rc |= add_finding(a, "the log reports an inconclusive bisection (%d candidates)",
				  log->ncandidates);
	}
	free(flag);
	return rc ? kb_error_set(KB_ERRCLASS_OS, "out of memory") : 0;
}

