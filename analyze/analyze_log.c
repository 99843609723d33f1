/*
 * analyze/analyze_log.c - syzkaller bisection log -> kb_analyze_log (steps, verdicts,
 * runs, signatures, result, times).
 * Owns: the line grammar of syzkaller's pkg/bisect trace and git bisect's output.
 * Not: judging the evidence (analyze/analyze.c).
 * DESIGN: one pass over the lines; only lines starting at column 0 with a known prefix
 * are used, so commit messages and crash reports (indented or after "crash:") cannot
 * be mistaken for steps. Unknown lines are counted and skipped, never fatal. A step is
 * everything from "testing commit X" up to the next one.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"
#include "kbisect/util.h"
#include "common/error_internal.h"
#include "analyze_internal.h"

/* Longest piece of text (title, subject, error) we keep from one line. */
#define TEXT_MAX 512
/* Runs per test when the log only says "all runs: X" and nothing hints at the count. */
#define DEFAULT_RUNS 10
/* Most tested commits in one log (a syzbot bisection has fewer than 50). */
#define MAX_STEPS 2000
/* Logs are text: refuse inputs larger than this (a syzbot log is < 1 MiB). */
#define MAX_LOG_BYTES (256u << 20)

struct parser {
	kb_analyze_log *log;
	int cap_steps;
	int cur;                  /* index of the step being read, -1 before the first */
	int bisect_started;       /* "# git bisect start" seen */
	int pending_phase;        /* phase of the next "testing commit", -1 none */
	char *pending_release;    /* tag of "testing release" */
	char pending_hash[KB_ALOG_HASH_MAX]; /* "[H] subject" seen, for the next step */
	char *pending_subject;
	int last_verdict_step;    /* step whose "Bisecting:" line is still due, -1 */
	int want_left_start;      /* "Bisecting:" after "git bisect start" is due */
	long last_left;           /* last "Bisecting: N" not yet given to a step, -1 */
	int in_candidates;        /* reading the hashes of an inconclusive result */
	int in_culprit_block;     /* after "X is the first bad commit": git's commit header */
	int result_step;          /* step being read when git named the culprit, -2 none */
	int tail;                 /* after the final "crash:": the rest is a report */
	int too_many;             /* more than MAX_STEPS "testing commit" lines */
	int oom;
};

static char *dup_text(struct parser *p, const char *s)
{
	size_t n = strnlen(s, TEXT_MAX);
	char *d = malloc(n + 1);

	if (!d) {
		p->oom = 1;
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	while (n > 0 && isspace((unsigned char)d[n - 1]))
		d[--n] = '\0';
	return d;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Read a hex commit id of 7..64 digits at s into out (lowercased); returns its length
 * or 0 when s does not start with one (followed by end, space, or ']'). */
static size_t read_hash(char out[KB_ALOG_HASH_MAX], const char *s)
{
	size_t n = 0;

	while (n < KB_ALOG_HASH_MAX - 1 && isxdigit((unsigned char)s[n]))
		n++;
	if (n < 7 || (s[n] && s[n] != ' ' && s[n] != ']' && s[n] != '\t' && s[n] != ','))
		return 0;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return n;
}

/* Copy a signature (non-space characters) into out. */
static void read_sig(char out[KB_ALOG_SIG_MAX], const char *s)
{
	size_t n = 0;

	while (*s == ' ')
		s++;
	while (n < KB_ALOG_SIG_MAX - 1 && s[n] && !isspace((unsigned char)s[n])) {
		out[n] = s[n];
		n++;
	}
	out[n] = '\0';
}

int kb_analyze__parse_duration(const char *s, double *out)
{
	double total = 0;
	int parts = 0;

	if (!s || !out)
		return -1;
	while (*s == ' ')
		s++;
	if (*s == '-')
		return -1;
	while (*s && (isdigit((unsigned char)*s) || *s == '.')) {
		char *end;
		double v;
		errno = 0;
		v = strtod(s, &end);
		if (end == s || errno)
			return -1;
		s = end;
		if (starts(s, "h")) {
			v *= 3600;
			s += 1;
		} else if (starts(s, "ms")) {
			v /= 1e3;
			s += 2;
		} else if (starts(s, "us")) {
			v /= 1e6;
			s += 2;
		} else if (starts(s, "\xc2\xb5s")) { /* "µs" */
			v /= 1e6;
			s += 3;
		} else if (starts(s, "ns")) {
			v /= 1e9;
			s += 2;
		} else if (starts(s, "m")) {
			v *= 60;
			s += 1;
		} else if (starts(s, "s")) {
			s += 1;
		} else {
			return -1;
		}
		total += v;
		parts++;
	}
	if (!parts)
		return -1;
	*out = total;
	return 0;
}

int kb_analyze__find_step(const kb_analyze_log *log, const char *hash)
{
	size_t hn = strlen(hash);

	if (hn == 0)
		return -1;
	for (int i = log->nsteps - 1; i >= 0; i--) {
		size_t sn = strlen(log->steps[i].hash);
		size_t n = hn < sn ? hn : sn;
		if (n >= 7 && strncmp(log->steps[i].hash, hash, n) == 0)
			return i;
	}
	return -1;
}

static kb_alog_step *cur_step(struct parser *p)
{
	return p->cur >= 0 ? &p->log->steps[p->cur] : NULL;
}

static kb_alog_step *new_step(struct parser *p, const char *hash, int line)
{
	kb_analyze_log *log = p->log;
	kb_alog_step *st;

	if (log->nsteps >= MAX_STEPS) {
		p->too_many = 1;
		return NULL;
	}
	if (log->nsteps == p->cap_steps) {
		int cap = p->cap_steps ? p->cap_steps * 2 : 16;
		kb_alog_step *n = realloc(log->steps, (size_t)cap * sizeof(*n));
		if (!n) {
			p->oom = 1;
			return NULL;
		}
		log->steps = n;
		p->cap_steps = cap;
	}
	st = &log->steps[log->nsteps];
	memset(st, 0, sizeof(*st));
	snprintf(st->hash, sizeof(st->hash), "%s", hash);
	st->line = line;
	st->left_after = -1;
	st->to_bad = -1;
	st->left_before = p->last_left;
	p->last_left = -1;
	p->cur = log->nsteps++;
	return st;
}

/* "OK", "crashed: T", "boot failed: X", ... -> kind and title (pointer into s). */
static int outcome_kind(const char *s, const char **title)
{
	static const struct {
		const char *prefix;
		int kind;
	} kinds[] = {
		{ "crashed: ", KB_ALOG_RUN_CRASHED },
		{ "boot failed: ", KB_ALOG_RUN_BOOT_FAILED },
		{ "basic kernel testing failed: ", KB_ALOG_RUN_TEST_FAILED },
		{ "infra problem: ", KB_ALOG_RUN_INFRA },
		{ "failed: ", KB_ALOG_RUN_INFRA },
		{ "ignore: ", KB_ALOG_RUN_IGNORED },
	};

	*title = NULL;
	if (!strcmp(s, "OK") || starts(s, "OK "))
		return KB_ALOG_RUN_OK;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (starts(s, kinds[i].prefix)) {
			*title = s + strlen(kinds[i].prefix);
			return kinds[i].kind;
		}
	*title = s; /* an outcome we do not know: keep it, it counts as no information */
	return KB_ALOG_RUN_INFRA;
}

static void add_outcome(struct parser *p, kb_alog_step *st, const char *text, int count,
			int estimated)
{
	const char *title;
	int kind = outcome_kind(text, &title);
	kb_alog_outcome *last = st->noutcomes ? &st->outcomes[st->noutcomes - 1] : NULL;
	size_t tl = title ? strnlen(title, TEXT_MAX) : 0;

	if (last && last->kind == kind &&
	    ((!title && !last->title) ||
	     (title && last->title && strlen(last->title) == tl &&
	      !strncmp(last->title, title, tl)))) {
		last->count += count;
	} else {
		kb_alog_outcome *n = realloc(st->outcomes, (size_t)(st->noutcomes + 1) * sizeof(*n));
		if (!n) {
			p->oom = 1;
			return;
		}
		st->outcomes = n;
		last = &n[st->noutcomes];
		last->kind = kind;
		last->count = count;
		last->title = title ? dup_text(p, title) : NULL;
		if (title && !last->title)
			return;
		st->noutcomes++;
	}
	st->nruns += count;
	if (estimated)
		st->runs_estimated = 1;
}

static int parse_verdict_word(const char *w, size_t *len)
{
	if (starts(w, "good ")) {
		*len = 5;
		return KB_ALOG_V_GOOD;
	}
	if (starts(w, "bad ")) {
		*len = 4;
		return KB_ALOG_V_BAD;
	}
	if (starts(w, "skip ")) {
		*len = 5;
		return KB_ALOG_V_SKIP;
	}
	return KB_ALOG_V_NONE;
}

static void set_result(kb_analyze_log *log, int result)
{
	if (log->result == KB_ALOG_RES_NONE || log->result == KB_ALOG_RES_ERROR)
		log->result = result;
}

/* The two blocks a result opens: git's commit header after "X is the first bad commit"
 * and the hashes of an inconclusive result. Returns 1 or 0 for a line of an open block
 * (understood or not), -1 when no block is open or the line ends it. */
static int parse_block_line(struct parser *p, const char *s)
{
	kb_analyze_log *log = p->log;
	char hash[KB_ALOG_HASH_MAX];
	size_t n;

	if (p->in_culprit_block) {
		/* "commit X", "Merge: A B", "Author: ...", "Date: ...", then the message */
		if (starts(s, "Merge: ")) {
			log->culprit_merge = 1;
			return 1;
		}
		if (starts(s, "commit ") || starts(s, "Author: ") || starts(s, "AuthorDate: ") ||
		    starts(s, "Commit: ") || starts(s, "CommitDate: "))
			return 1;
		p->in_culprit_block = 0;
	}
	if (p->in_candidates) {
		if ((n = read_hash(hash, s)) && s[n] == '\0') {
			char **c;
			for (int i = 0; i < log->ncandidates; i++)
				if (!strcmp(log->candidates[i], hash))
					return 1;
			c = realloc(log->candidates,
					   (size_t)(log->ncandidates + 1) * sizeof(*c));
			if (!c) {
				p->oom = 1;
				return 0;
			}
			log->candidates = c;
			if (!(c[log->ncandidates] = dup_text(p, hash)))
				return 0;
			log->ncandidates++;
			return 1;
		}
		p->in_candidates = 0;
	}
	return -1;
}

/* The lines that announce the phase of the next "testing commit" (and the kind of
 * bisection). Returns 1, or -1 when s is none of them. */
static int parse_phase_line(struct parser *p, const char *s)
{
	kb_analyze_log *log = p->log;

	if (starts(s, "bisecting cause commit starting from ")) {
		log->kind = KB_ALOG_CAUSE;
		read_hash(log->start, s + strlen("bisecting cause commit starting from "));
		p->pending_phase = KB_ALOG_PHASE_ORIGINAL;
		return 1;
	}
	if (starts(s, "bisecting fixing commit since ")) {
		log->kind = KB_ALOG_FIX;
		read_hash(log->start, s + strlen("bisecting fixing commit since "));
		p->pending_phase = KB_ALOG_PHASE_ORIGINAL;
		return 1;
	}
	if (starts(s, "testing release ")) {
		free(p->pending_release);
		p->pending_release = dup_text(p, s + strlen("testing release "));
		p->pending_phase = KB_ALOG_PHASE_RELEASE;
		return 1;
	}
	if (starts(s, "testing current HEAD ")) {
		p->pending_phase = KB_ALOG_PHASE_HEAD;
		return 1;
	}
	if (starts(s, "ensuring issue is reproducible on original commit ")) {
		p->pending_phase = KB_ALOG_PHASE_ORIGINAL;
		return 1;
	}
	if (starts(s, "parent commit ") && strstr(s, " wasn't tested")) {
		read_hash(log->parent, s + strlen("parent commit "));
		p->pending_phase = KB_ALOG_PHASE_PARENT;
		return 1;
	}
	if (starts(s, "checking the merge base ") || starts(s, "determining the merge base ") ||
	    strstr(s, " is a merge base, check if it has the bug")) {
		p->pending_phase = KB_ALOG_PHASE_OTHER;
		return 1;
	}
	return -1;
}

/* "testing commit X [with compiler]": a new step. Returns 1 or 0 (understood or not),
 * or -1 when s is not such a line. */
static int parse_testing_commit(struct parser *p, const char *s, int lineno)
{
	kb_analyze_log *log = p->log;
	kb_alog_step *st;
	char hash[KB_ALOG_HASH_MAX];
	const char *r;
	size_t n;

	if (starts(s, "testing commit ")) {
		const char *h = s + strlen("testing commit ");
		if (!(n = read_hash(hash, h)))
			return 0;
		if (!(st = new_step(p, hash, lineno)))
			return 0;
		r = h + n;
		while (*r == ' ')
			r++;
		if (starts(r, "with "))
			r += 5;
		if (*r)
			st->compiler = dup_text(p, r);
		if (p->pending_phase >= 0) {
			st->phase = p->pending_phase;
		} else if (p->bisect_started) {
			st->phase = KB_ALOG_PHASE_BISECT;
		} else if (log->nsteps == 1 || (log->start[0] && kb_analyze__find_step(log,
				log->start) == p->cur && !strncmp(st->hash, log->start, 7))) {
			st->phase = KB_ALOG_PHASE_ORIGINAL;
		} else {
			st->phase = KB_ALOG_PHASE_OTHER;
		}
		if (st->phase == KB_ALOG_PHASE_RELEASE) {
			st->release = p->pending_release;
			p->pending_release = NULL;
		}
		p->pending_phase = -1;
		if (p->pending_hash[0] && !strncmp(p->pending_hash, st->hash, 7)) {
			st->subject = p->pending_subject;
			p->pending_subject = NULL;
		}
		p->pending_hash[0] = '\0';
		return 1;
	}
	return -1;
}

/* The lines about the step being read: compiler, signature, runs, build failure.
 * Returns 1 or 0 (understood or not), or -1 when s is none of them. */
static int parse_step_line(struct parser *p, const char *s)
{
	kb_analyze_log *log = p->log;
	kb_alog_step *st = cur_step(p);
	const char *r;

	if (starts(s, "compiler: ")) {
		if (st) {
			free(st->compiler);
			st->compiler = dup_text(p, s + strlen("compiler: "));
		}
		return st != NULL;
	}
	if (starts(s, "kernel signature: ")) {
		/* 2019 logs end with "kernel signature: C" / "previous signature: P" for the
		 * culprit and its parent: after git named the culprit, before any new
		 * "testing commit", the line is the culprit's, not the last tested commit's */
		if (log->git_first_bad && p->cur == p->result_step)
			read_sig(log->culprit_sig, s + strlen("kernel signature: "));
		else if (st)
			read_sig(st->sig, s + strlen("kernel signature: "));
		return st != NULL;
	}
	if (starts(s, "commits after it up to the bad commit: ")) { /* kbisect's logs */
		char *end;
		long v;
		errno = 0;
		v = strtol(s + strlen("commits after it up to the bad commit: "), &end, 10);
		if (!st || errno || v < 0 || *end)
			return 0;
		st->to_bad = v;
		return 1;
	}
	if (starts(s, "previous signature: ")) {
		read_sig(log->parent_sig, s + strlen("previous signature: "));
		return 1;
	}
	if (starts(s, "all runs: ")) {
		if (!st)
			return 0;
		add_outcome(p, st, s + strlen("all runs: "), 0, 1);
		return 1;
	}
	if (starts(s, "run #")) {
		r = s + strlen("run #");
		if (!st || !isdigit((unsigned char)*r))
			return 0;
		while (isdigit((unsigned char)*r))
			r++;
		if (!starts(r, ": "))
			return 0;
		add_outcome(p, st, r + 2, 1, 0);
		return 1;
	}
	if (starts(s, "failed building ") || starts(s, "failed to build ") ||
	    starts(s, "kernel build failed") || starts(s, "failed to run [\"make\"")) {
		if (!st)
			return 0;
		st->build_failed = 1;
		r = strstr(s, ": ");
		free(st->build_error);
		st->build_error = dup_text(p, r ? r + 2 : s);
		return 1;
	}
	return -1;
}

/* git bisect's own lines: "# git bisect ...", "Bisecting: N revisions", "[H] subject",
 * "H is the first bad commit". Returns 1 or 0 (understood or not), or -1 when s is
 * none of them. */
static int parse_git_line(struct parser *p, const char *s)
{
	kb_analyze_log *log = p->log;
	char hash[KB_ALOG_HASH_MAX];
	const char *r;
	size_t n;

	if (starts(s, "# git bisect start ")) {
		r = s + strlen("# git bisect start ");
		if ((n = read_hash(log->bisect_bad, r))) {
			r += n;
			while (*r == ' ')
				r++;
			read_hash(log->bisect_good, r);
		}
		p->bisect_started = 1;
		p->want_left_start = 1;
		p->last_verdict_step = -1;
		return 1;
	}
	if (starts(s, "# git bisect ")) {
		int v = parse_verdict_word(s + strlen("# git bisect "), &n);
		int idx;
		if (v == KB_ALOG_V_NONE)
			return 0;
		if (!read_hash(hash, s + strlen("# git bisect ") + n))
			return 0;
		idx = kb_analyze__find_step(log, hash);
		if (idx < 0)
			return 0;
		log->steps[idx].git_verdict = v;
		p->last_verdict_step = idx;
		p->want_left_start = 0;
		return 1;
	}
	if (starts(s, "Bisecting: ")) {
		char *end;
		long left;
		errno = 0;
		left = strtol(s + strlen("Bisecting: "), &end, 10);
		if (end == s + strlen("Bisecting: ") || errno || left < 0 || !starts(end, " revision"))
			return 0;
		p->last_left = left;
		if (p->want_left_start) {
			log->left_start = left;
			p->want_left_start = 0;
		} else if (p->last_verdict_step >= 0) {
			log->steps[p->last_verdict_step].left_after = left;
			p->last_verdict_step = -1;
		}
		return 1;
	}
	if (s[0] == '[' && (n = read_hash(hash, s + 1)) && s[1 + n] == ']') {
		snprintf(p->pending_hash, sizeof(p->pending_hash), "%s", hash);
		free(p->pending_subject);
		r = s + 2 + n;
		while (*r == ' ')
			r++;
		p->pending_subject = dup_text(p, r);
		return 1;
	}
	if ((n = read_hash(hash, s)) && !strcmp(s + n, " is the first bad commit")) {
		if (!log->culprit[0])
			snprintf(log->culprit, sizeof(log->culprit), "%s", hash);
		log->git_first_bad = 1;
		p->in_culprit_block = 1;
		p->result_step = p->cur;
		set_result(log, KB_ALOG_RES_CULPRIT);
		return 1;
	}
	return -1;
}

/* The result lines at the end of a log (culprit, inconclusive, error, signatures,
 * times, the final crash) and the known lines that carry nothing we use. Returns 1
 * when s was understood, else 0. */
static int parse_result_line(struct parser *p, const char *s)
{
	kb_analyze_log *log = p->log;
	char hash[KB_ALOG_HASH_MAX];
	const char *r;
	size_t n;

	if (starts(s, "first bad commit: ") || starts(s, "first good commit: ")) {
		r = s + (s[6] == 'b' ? strlen("first bad commit: ") : strlen("first good commit: "));
		if (!(n = read_hash(hash, r)))
			return 0;
		snprintf(log->culprit, sizeof(log->culprit), "%s", hash);
		r += n;
		while (*r == ' ')
			r++;
		free(log->culprit_subject);
		log->culprit_subject = *r ? dup_text(p, r) : NULL;
		log->result = KB_ALOG_RES_CULPRIT;
		return 1;
	}
	if (starts(s, "bisection is inconclusive") || starts(s, "The first bad commit could be any of") ||
	    starts(s, "There are only 'skip'ped commits left to test")) {
		log->result = KB_ALOG_RES_INCONCLUSIVE;
		log->culprit[0] = '\0';
		p->in_candidates = !starts(s, "There are only");
		return 1;
	}
	if (starts(s, "the crash already happened on the oldest tested release") ||
	    starts(s, "oldest tested release already had the bug")) {
		log->result = KB_ALOG_RES_OLDEST_BAD;
		return 1;
	}
	if (starts(s, "the crash still happens on HEAD") || starts(s, "crash still not fixed")) {
		log->result = log->kind == KB_ALOG_FIX ? KB_ALOG_RES_STILL_CRASHES
						       : KB_ALOG_RES_OLDEST_BAD;
		return 1;
	}
	if (starts(s, "error: ")) {
		if (log->result == KB_ALOG_RES_NONE) {
			log->result = KB_ALOG_RES_ERROR;
			free(log->error);
			log->error = dup_text(p, s + strlen("error: "));
		}
		return 1;
	}
	if (starts(s, "culprit signature:")) {
		read_sig(log->culprit_sig, s + strlen("culprit signature:"));
		return 1;
	}
	if (starts(s, "parent ") && strstr(s, "signature:") &&
	    strspn(s + strlen("parent"), " ") + strlen("parent") ==
		    (size_t)(strstr(s, "signature:") - s)) {
		read_sig(log->parent_sig, strstr(s, "signature:") + strlen("signature:"));
		return 1;
	}
	if (starts(s, "revisions tested: ")) {
		char *end;
		errno = 0;
		log->revisions_tested = strtol(s + strlen("revisions tested: "), &end, 10);
		if (errno || log->revisions_tested < 0)
			log->revisions_tested = -1;
		if ((r = strstr(s, "total time: ")))
			kb_analyze__parse_duration(r + strlen("total time: "), &log->total_time);
		if ((r = strstr(s, "(build: ")))
			kb_analyze__parse_duration(r + strlen("(build: "), &log->build_time);
		if ((r = strstr(s, ", test: ")))
			kb_analyze__parse_duration(r + strlen(", test: "), &log->test_time);
		return 1;
	}
	if (starts(s, "reproducer seems to be flaky") || starts(s, "Reproducer flagged being flaky") ||
	    starts(s, "reproducer is flaky")) {
		log->flaky = 1;
		return 1;
	}
	if (starts(s, "crash: ")) {
		if (log->result == KB_ALOG_RES_NONE || log->final_crash)
			return 0;
		log->final_crash = dup_text(p, s + strlen("crash: "));
		p->tail = 1;
		return 1;
	}
	if (starts(s, "building syzkaller on ") || strstr(s, " starts bisection ") || starts(s, "representative crash: ") ||
	    starts(s, "false negative chance: ") || starts(s, "accumulated error probability") ||
	    starts(s, "recipients (") || starts(s, "cc: ") || starts(s, "commit msg: ") ||
	    starts(s, "picked ") || starts(s, "unable to determine the verdict") ||
	    starts(s, "We cannot bisect more!") || starts(s, "determine whether the revision"))
		return 1;
	return 0;
}

/* One line (NUL-terminated, no newline). Returns 1 when it was understood. */
static int parse_line(struct parser *p, const char *s, int lineno)
{
	int rc;

	if (p->tail)
		return 0;
	if ((rc = parse_block_line(p, s)) >= 0 || (rc = parse_phase_line(p, s)) >= 0 ||
	    (rc = parse_testing_commit(p, s, lineno)) >= 0 || (rc = parse_step_line(p, s)) >= 0 ||
	    (rc = parse_git_line(p, s)) >= 0)
		return rc;
	return parse_result_line(p, s);
}

/* Fill in run counts that "all runs: X" left out: the count of the nearest earlier step
 * that listed its runs, else of the nearest later one, else DEFAULT_RUNS. */
static void estimate_all_runs(kb_analyze_log *log)
{
	for (int i = 0; i < log->nsteps; i++) {
		kb_alog_step *st = &log->steps[i];
		int est = 0;
		if (!st->runs_estimated || st->noutcomes != 1)
			continue;
		for (int j = i - 1; j >= 0 && !est; j--)
			if (!log->steps[j].runs_estimated && log->steps[j].nruns > 0)
				est = log->steps[j].nruns;
		for (int j = i + 1; j < log->nsteps && !est; j++)
			if (!log->steps[j].runs_estimated && log->steps[j].nruns > 0)
				est = log->steps[j].nruns;
		if (!est)
			est = DEFAULT_RUNS;
		st->outcomes[0].count = est;
		st->nruns = est;
	}
}

static void step_free(kb_alog_step *st)
{
	for (int i = 0; i < st->noutcomes; i++)
		free(st->outcomes[i].title);
	free(st->outcomes);
	free(st->subject);
	free(st->compiler);
	free(st->release);
	free(st->build_error);
}

void kb_analyze_log_free(kb_analyze_log *log)
{
	if (!log)
		return;
	for (int i = 0; i < log->nsteps; i++)
		step_free(&log->steps[i]);
	for (int i = 0; i < log->ncandidates; i++)
		free(log->candidates[i]);
	free(log->candidates);
	free(log->steps);
	free(log->name);
	free(log->culprit_subject);
	free(log->error);
	free(log->final_crash);
	free(log);
}

int kb_analyze_log_nsteps(const kb_analyze_log *log)
{
	return log ? log->nsteps : 0;
}

int kb_analyze_log_parse(kb_analyze_log **out, const char *text, size_t len, const char *name)
{
	struct parser p;
	kb_analyze_log *log;
	size_t pos = 0, binary = 0, probe = len < 4096 ? len : 4096;
	char *line = NULL;
	size_t linecap = 0;

	if (!out || (!text && len))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "kb_analyze_log_parse: NULL argument; pass the log text");
	*out = NULL;
	if (!name)
		name = "<log>";
	for (size_t i = 0; i < probe; i++)
		binary += text[i] == '\0';
	if (binary)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "'%s' is not a syzkaller bisection log: it is binary; pass "
				     "the text of a bisection log (syzbot's 'bisect log' link)",
				     name);
	if (!(log = calloc(1, sizeof(*log))) || !(log->name = strdup(name))) {
		free(log);
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory reading '%s'", name);
	}
	log->left_start = -1;
	log->revisions_tested = -1;
	log->total_time = log->build_time = log->test_time = -1;
	memset(&p, 0, sizeof(p));
	p.log = log;
	p.cur = -1;
	p.pending_phase = -1;
	p.last_verdict_step = -1;
	p.last_left = -1;
	p.result_step = -2;

	while (pos < len && !p.oom && !p.too_many) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t raw = nl ? (size_t)(nl - (text + pos)) : len - pos;
		size_t n = raw;
		if (n + 1 > linecap) {
			char *b = realloc(line, n + 1);
			if (!b) {
				p.oom = 1;
				break;
			}
			line = b;
			linecap = n + 1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		log->nlines++;
		log->nknown += parse_line(&p, line, log->nlines);
		pos += raw + (nl ? 1 : 0);
	}
	free(line);
	free(p.pending_release);
	free(p.pending_subject);
	if (p.oom) {
		kb_analyze_log_free(log);
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory reading '%s'", name);
	}
	if (p.too_many) {
		kb_analyze_log_free(log);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "'%s' has more than %d 'testing commit' lines: not one "
				     "bisection log; pass the log of a single bisection",
				     name, MAX_STEPS);
	}
	if (log->nsteps == 0) {
		int nlines = log->nlines;
		kb_analyze_log_free(log);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "'%s' is not a syzkaller bisection log: no 'testing commit' "
				     "line in %d lines; pass the text of a bisection log (syzbot's "
				     "'bisect log' link)",
				     name, nlines);
	}
	estimate_all_runs(log);
	*out = log;
	return 0;
}

int kb_analyze_log_load(kb_analyze_log **out, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int rc, is_stdin;

	if (!out || !path)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "kb_analyze_log_load: NULL argument; pass a file name");
	*out = NULL;
	is_stdin = !strcmp(path, "-");
	rc = kb_file_read(&buf, &len, path, MAX_LOG_BYTES, "bisection log");
	if (rc == KB_EINVAL) /* larger than any bisection log */
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ANALYZE,
				     "'%s' is larger than %u MiB: not a bisection log; pass one "
				     "syzbot bisection log", path, MAX_LOG_BYTES >> 20);
	if (rc != KB_OK)
		return rc;
	rc = kb_analyze_log_parse(out, buf, len, is_stdin ? "<stdin>" : path);
	free(buf);
	return rc;
}
