/*
 * report/report_titles.c - the title and ALT titles of a crash report, and title
 * normalisation.
 * Owns: choosing the format of a report (the one whose title pattern matches earliest;
 * ties: table order), filling its title and ALT templates from the pattern groups and the
 * guilty frames, the ALT titles of partly stripped frames, syzkaller's dynamic title
 * replacements (addresses, numbers, line numbers, executor ids) and sanitising, deriving
 * the ALT titles of a bare title (for titles read back from records and logs).
 * Not: finding the frames (report_frames.c), the oops table (report_linux.c), whether
 * two titles name one bug (report_same.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "report/report_internal.h"
#include "common/error_internal.h"

#define TITLE_MAX_LEN 120 /* syzkaller's maxTitleLen */

/* ---- normalisation ------------------------------------------------------------------ */

struct repl {
	const char *re;
	const char *with; /* \1..\3 are groups */
	regex_t rx;
};

/* syzkaller's dynamicTitleReplacement, in its order, each applied until stable */
static struct repl title_repls[] = {
	{ "syz-executor\\.?[0-9]+((/|:)[0-9]+)?", "syz-executor", { 0 } },
	{ "syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller", { 0 } },
	{ "([^a-zA-Z0-9])(0x)?[0-9a-f]{6,}", "\\1ADDR", { 0 } },
	{ "([0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3})", "IP", { 0 } },
	{ "(\\.[A-Za-z0-9_]+)(:[0-9]+)+", "\\1:LINE", { 0 } },
	{ "([a-zA-Z][a-zA-Z0-9_.]+)\\+0x[0-9a-z]+/0x[0-9a-z]+", "\\1", { 0 } },
	{ "CPU#[0-9]+", "CPU", { 0 } },
	{ "([^A-Za-z0-9_])([0-9]+)([^A-Za-z0-9_]|$)", "\\1NUM\\3", { 0 } },
	{ "[0-9]{7,}", "NUM", { 0 } },
};
#define NREPLS (sizeof(title_repls) / sizeof(title_repls[0]))

/* kbisect's addition for titles typed by hand or read from other tools: compiler clones */
static struct repl clone_repl = {
	"([A-Za-z0-9_])\\.(isra|constprop|part|cold|llvm|lto_priv)(\\.[0-9]+)*", "\\1", { 0 }
};

static pthread_once_t repl_once = PTHREAD_ONCE_INIT;
static int repl_failed;

static void repl_init(void)
{
	for (size_t i = 0; i < NREPLS; i++)
		if (regcomp(&title_repls[i].rx, title_repls[i].re, REG_EXTENDED))
			repl_failed = 1;
	if (regcomp(&clone_repl.rx, clone_repl.re, REG_EXTENDED))
		repl_failed = 1;
}

static void append(char *out, size_t outsz, size_t *o, const char *s, size_t n)
{
	while (n-- && *s && *o + 1 < outsz)
		out[(*o)++] = *s++;
	out[*o] = '\0';
}

/* Replace every match of r in s (a buffer of sz bytes) until nothing changes. */
static void replace_all(char *s, size_t sz, const struct repl *r)
{
	char *tmp = malloc(sz);
	if (!tmp)
		return;
	for (int round = 0; round < 32; round++) {
		size_t o = 0;
		const char *p = s;
		int eflags = 0;
		regmatch_t m[4];

		tmp[0] = '\0';
		while (*p && regexec(&r->rx, p, 4, m, eflags) == 0) {
			size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
			append(tmp, sz, &o, p, so);
			for (const char *w = r->with; *w; w++) {
				if (w[0] == '\\' && w[1] >= '1' && w[1] <= '3') {
					const regmatch_t *g = &m[w[1] - '0'];
					if (g->rm_so >= 0)
						append(tmp, sz, &o, p + g->rm_so,
						       (size_t)(g->rm_eo - g->rm_so));
					w++;
				} else {
					append(tmp, sz, &o, w, 1);
				}
			}
			if (eo == 0) { /* empty match: copy one byte to make progress */
				append(tmp, sz, &o, p, 1);
				eo = 1;
			}
			p += eo;
			eflags = REG_NOTBOL;
		}
		append(tmp, sz, &o, p, (size_t)-1);
		if (strcmp(tmp, s) == 0)
			break;
		memcpy(s, tmp, o + 1);
	}
	free(tmp);
}

/* Replacements, then sanitising: tabs to spaces, no control or non-ASCII bytes, single
 * spaces, at most 120 characters, trimmed. clones: also drop ".isra.0"-like suffixes. */
static int normalize(char *out, size_t outsz, const char *title, int clones)
{
	char buf[KB_REPORT_TITLE_MAX * 4];
	size_t o = 0;
	char prev = ' ';

	pthread_once(&repl_once, repl_init);
	if (repl_failed)
		return kb_error_set(KB_ERRCLASS_VMPOOL,
				    "cannot compile the title patterns; this is a bug in "
				    "report/report_titles.c, please report it");
	snprintf(buf, sizeof(buf), "%.*s", (int)(sizeof(buf) / 2 - 1), title);
	if (clones)
		replace_all(buf, sizeof(buf), &clone_repl);
	for (size_t i = 0; i < NREPLS; i++)
		replace_all(buf, sizeof(buf), &title_repls[i]);
	for (size_t i = 0; buf[i] && i < TITLE_MAX_LEN && o + 1 < outsz; i++) {
		char c = buf[i];
		if (c == '\t')
			c = ' ';
		else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
			continue;
		if (c == ' ' && prev == ' ')
			continue;
		out[o++] = c;
		prev = c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return 0;
}

int kb_report_normalize_title(char *out, size_t outsz, const char *title)
{
	if (!out || !title || outsz == 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_normalize_title: NULL title or empty output "
				     "buffer; pass a title and a buffer of at least 1 byte");
	return normalize(out, outsz, title, 1);
}

/* ---- titles of a report ------------------------------------------------------------- */

/* Fill template t ("KASAN: %1 %3 in %4") with args. */
static void fill(char *out, size_t outsz, const char *t, char args[][RPT_ARG_LEN], int nargs)
{
	size_t o = 0;

	out[0] = '\0';
	for (; *t; t++) {
		if (t[0] == '%' && t[1] >= '1' && t[1] <= '9') {
			int k = t[1] - '1';
			append(out, outsz, &o, k < nargs ? args[k] : "%!v(BADINDEX)", (size_t)-1);
			t++;
		} else {
			append(out, outsz, &o, t, 1);
		}
	}
}

static void add_alt(char alts[][KB_REPORT_TITLE_MAX], int *nalt, const char *raw)
{
	char t[KB_REPORT_TITLE_MAX];

	if (normalize(t, sizeof(t), raw, 0) != 0 || !t[0])
		return;
	for (int i = 0; i < *nalt; i++)
		if (!strcmp(alts[i], t))
			return;
	if (*nalt < KB_REPORT_ALT_MAX)
		snprintf(alts[(*nalt)++], KB_REPORT_TITLE_MAX, "%s", t);
}

static int before(size_t l1, size_t c1, size_t l2, size_t c2)
{
	return l1 < l2 || (l1 == l2 && c1 < c2);
}

struct desc_state {
	char args[RPT_ARG_MAX][RPT_ARG_LEN];
	char raw[RPT_ARG_MAX][RPT_ARG_LEN];
	char canon[RPT_ARG_MAX][RPT_ARG_LEN];
	char tmp[RPT_ARG_LEN * 2];
};

/** The title of the report lines[0, n) (lines[0, nfull) is the whole report kept) of
 * oops o, already normalised; ALT titles to alts; *corrupted when the report is
 * truncated or mixed. 0, or a negative error. */
int rpt_title(const struct oops *o, char *const *lines, size_t n, size_t nfull, char *title,
	      size_t tsz, char alts[][KB_REPORT_TITLE_MAX], int *nalt, int *corrupted)
{
	struct desc_state *d = calloc(1, sizeof(*d));
	char desc[RPT_ARG_LEN * 2] = "";
	size_t sl = n, sc = 0;
	const struct oops_fmt *fmt = NULL;
	int matched_title = 0, corr = 0, rc;

	if (!d)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory titling a crash report");
	*nalt = 0;
	for (size_t k = 0; k < o->nfmts; k++) {
		const struct oops_fmt *f = &o->fmts[k];
		struct rx_match tm, rm;
		int nargs, nfr = 0, ok = 1;
		if (!rpt_rx_search(&f->title_rx, lines, n, 0, &tm))
			continue;
		if (before(sl, sc, tm.line, tm.col) || (tm.line == sl && tm.col == sc && desc[0]))
			continue;
		if (before(tm.line, tm.col, sl, sc)) {
			desc[0] = '\0';
			fmt = NULL;
			*nalt = 0;
			sl = tm.line;
			sc = tm.col;
		}
		matched_title = 1;
		rm = tm;
		if (f->report && !rpt_rx_search(&f->report_rx, lines, n, 0, &rm))
			continue;
		nargs = rm.ngroups;
		for (int g = 0; g < nargs; g++)
			memcpy(d->args[g], rm.g[g], RPT_ARG_LEN);
		if (f->stack)
			ok = rpt_stack_extract(f->stack, lines, n, rm.line, rm.col, d->canon, d->raw,
					       RPT_ARG_MAX - nargs, &nfr);
		corr = !ok;
		for (int j = 0; j < nfr; j++)
			memcpy(d->args[nargs + j], d->canon[j], RPT_ARG_LEN);
		fill(desc, sizeof(desc), f->fmt, d->args, nargs + nfr);
		for (int a = 0; a < 2 && f->alt[a]; a++) {
			fill(d->tmp, sizeof(d->tmp), f->alt[a], d->args, nargs + nfr);
			add_alt(alts, nalt, d->tmp);
		}
		/* the same title with raw or partly stripped frames: one bug, other arches */
		for (int i = 0; nfr && (i == 0 || rpt_strip_prefixes[i - 1]); i++) {
			const char *pfx = i ? rpt_strip_prefixes[i - 1] : "";
			int changed = i == 0;
			for (int j = 0; j < nfr; j++) {
				const char *r = d->raw[j];
				if (*pfx && !strncmp(r, pfx, strlen(pfx))) {
					r += strlen(pfx);
					changed = 1;
				}
				memmove(d->args[nargs + j], r, strlen(r) + 1);
			}
			if (!changed)
				continue;
			fill(d->tmp, sizeof(d->tmp), f->fmt, d->args, nargs + nfr);
			if (strcmp(d->tmp, desc))
				add_alt(alts, nalt, d->tmp);
			for (int a = 0; a < 2 && f->alt[a]; a++) {
				fill(d->tmp, sizeof(d->tmp), f->alt[a], d->args, nargs + nfr);
				add_alt(alts, nalt, d->tmp);
			}
		}
		fmt = f;
	}
	if (!desc[0]) { /* no format: the header line from the header on */
		corr = matched_title;
		for (size_t i = 0; i < nfull; i++) {
			const char *p = strstr(lines[i], o->header);
			if (p) {
				snprintf(desc, sizeof(desc), "%s", p);
				break;
			}
		}
	}
	if (!corr && fmt && fmt->corrupted)
		corr = 1;
	if (!corr)
		corr = rpt_report_corrupted(desc, lines, nfull, fmt);
	*corrupted = corr;
	rc = normalize(title, tsz, desc, 0);
	/* an ALT equal to the title says nothing */
	for (int i = 0; i < *nalt; i++)
		if (!strcmp(alts[i], title)) {
			memmove(alts[i], alts[i + 1], (size_t)(*nalt - i - 1) * KB_REPORT_TITLE_MAX);
			(*nalt)--;
			i--;
		}
	free(d);
	return rc;
}

/* ---- titles without their report ---------------------------------------------------- */

/* Match title t against template f; placeholders take the shortest run that lets the
 * rest match (the last one takes the remainder). args[k] gets placeholder %k+1. */
static int unfill(const char *f, const char *t, char args[][RPT_ARG_LEN], int depth)
{
	if (depth > 16)
		return 0;
	while (*f && !(f[0] == '%' && f[1] >= '1' && f[1] <= '9')) {
		if (*f != *t)
			return 0;
		f++;
		t++;
	}
	if (!*f)
		return *t == '\0';
	{
		int k = f[1] - '1';
		size_t len = strlen(t);
		for (size_t n = 1; n <= len && n < RPT_ARG_LEN; n++) {
			if (args[k][0] && (strncmp(args[k], t, n) || args[k][n]))
				continue; /* the same placeholder twice must agree */
			char save[RPT_ARG_LEN];
			memcpy(save, args[k], RPT_ARG_LEN);
			memcpy(args[k], t, n);
			args[k][n] = '\0';
			if (unfill(f + 2, t + n, args, depth + 1))
				return 1;
			memcpy(args[k], save, RPT_ARG_LEN);
		}
	}
	return 0;
}

/** The ALT titles of an already normalised title (templates hold no numbers or
 * addresses, so what they make of normalised parts is normalised too). */
int rpt_alts_of(const char *norm, char out[][KB_REPORT_TITLE_MAX], int max)
{
	char (*args)[RPT_ARG_LEN];
	int n = 0;

	if (rpt_tables_init() != 0 || !(args = calloc(9, RPT_ARG_LEN)))
		return 0;
	for (size_t i = 0; i < rpt_noopses; i++)
		for (size_t k = 0; k < rpt_oopses[i].nfmts; k++) {
			const struct oops_fmt *f = &rpt_oopses[i].fmts[k];
			if (!f->alt[0] || f->fmt[0] != norm[0]) /* templates start with text */
				continue;
			memset(args, 0, 9 * RPT_ARG_LEN);
			if (!unfill(f->fmt, norm, args, 0))
				continue;
			for (int a = 0; a < 2 && f->alt[a]; a++) {
				char alt[RPT_ARG_LEN * 2];
				int missing = 0, dup;
				for (const char *p = f->alt[a]; *p; p++)
					if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' &&
					    !args[p[1] - '1'][0])
						missing = 1;
				if (missing)
					continue;
				fill(alt, sizeof(alt), f->alt[a], args, 9);
				alt[KB_REPORT_TITLE_MAX - 1] = '\0';
				dup = !strcmp(alt, norm);
				for (int j = 0; j < n && !dup; j++)
					dup = !strcmp(out[j], alt);
				if (!dup && n < max)
					memcpy(out[n++], alt, strlen(alt) + 1);
			}
		}
	free(args);
	return n;
}

/** The ALT titles a bare title implies (a KASAN/GPF/paging title: "bad-access in F",
 * a task hung: "hang in F", a stall: "stall in F"...): up to max into out; the count. */
int kb_report_alt_titles(const char *title, char out[][KB_REPORT_TITLE_MAX], int max)
{
	char norm[KB_REPORT_TITLE_MAX];

	if (!title || !out || max <= 0 || normalize(norm, sizeof(norm), title, 1) != 0)
		return 0;
	return rpt_alts_of(norm, out, max);
}
