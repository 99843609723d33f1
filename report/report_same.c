/*
 * report/report_same.c - the one rule for "these two crash titles name the same bug".
 * Owns: kb_report_title_relation() and kb_report_title_matches(): one rule in two
 * strengths. KB_TITLE_SAME is syzkaller's deduplication (equal after normalisation, or
 * a title or implied ALT title of one equal to the other's); the bisect engine asks for
 * it (kb_report_title_matches()). KB_TITLE_SAME_BUG adds what one bug looks like across
 * the kernels of a bisection, which `kbisect analyze` accepts when it re-judges a log.
 * Not: normalising titles or their ALT titles (report_titles.c), telling infrastructure
 * titles apart (report.c), which titles are a run's target (bisect/, analyze/).
 * DESIGN: a syzkaller title is "<kind> in <frame>". syzkaller gives some kinds an
 * alternative title ("bad-access in F", "invalid-free in F", "stall in F", "hang in F",
 * "stack-overflow in F") so that one bug reported differently (a KASAN report on one
 * kernel, a general protection fault or a NULL dereference on another) is recognised;
 * SAME_BUG holds when the frames are equal and the kinds are equal or share such a
 * class. Frames are compared without leading underscores and compiler suffixes
 * (".isra.0", ".cold"). A title whose frame syzkaller could not find ("... in
 * corrupted") matches the titles of its own kind only (a class would match too much:
 * every KASAN report of the kernel). UBSAN reports changed their header from "Undefined
 * behaviour" to the check's name ("shift-out-of-bounds"), so UBSAN titles form a class
 * too; a refcount warning is the symptom of a use-after-free and joins bad-access (as
 * real bisection logs show). A function renamed by a prefix or a middle word keeps its
 * bug: frames whose '_' words are equal but for a run of words inserted before the last
 * one (request_end and fuse_request_end, btf_tag_resolve and btf_decl_tag_resolve) are
 * one frame; a word added at the end names another function (f_data and f_data_end).
 */
#include <stdio.h>
#include <string.h>

#include "kbisect/report.h"
#include "report/report_internal.h"

/* ---- SAME: syzkaller's deduplication ------------------------------------------------ */

/* na and nb (normalised) are one crash for syzkaller: equal, or one's title or ALT
 * titles equal to the other's. */
static int same_crash(const char *na, const char *nb)
{
	char alta[KB_REPORT_ALT_MAX][KB_REPORT_TITLE_MAX], altb[KB_REPORT_ALT_MAX][KB_REPORT_TITLE_MAX];
	int ka, kb;

	if (!strcmp(na, nb))
		return 1;
	ka = rpt_alts_of(na, alta, KB_REPORT_ALT_MAX);
	kb = rpt_alts_of(nb, altb, KB_REPORT_ALT_MAX);
	for (int i = 0; i < ka; i++) {
		if (!strcmp(alta[i], nb))
			return 1;
		for (int j = 0; j < kb; j++)
			if (!strcmp(alta[i], altb[j]))
				return 1;
	}
	for (int j = 0; j < kb; j++)
		if (!strcmp(altb[j], na))
			return 1;
	return 0;
}

/* ---- SAME_BUG: one frame, related kinds --------------------------------------------- */

/* Bit flags of the alternative-title classes. */
enum {
	ALT_BAD_ACCESS = 1 << 0,
	ALT_INVALID_FREE = 1 << 1,
	ALT_STALL = 1 << 2,
	ALT_HANG = 1 << 3,
	ALT_STACK_OVERFLOW = 1 << 4,
	ALT_UBSAN = 1 << 5,
};

static int starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Classes of a title's kind (the text before " in FRAME"). */
static int kind_classes(const char *kind)
{
	int c = 0;

	if (starts(kind, "KASAN: ")) {
		if (strstr(kind, "invalid-free") || strstr(kind, "double-free"))
			c |= ALT_INVALID_FREE;
		else
			c |= ALT_BAD_ACCESS;
	}
	if (starts(kind, "KFENCE: ")) {
		if (strstr(kind, "invalid free"))
			c |= ALT_INVALID_FREE;
		else if (!strstr(kind, "memory corruption"))
			c |= ALT_BAD_ACCESS;
	}
	if (starts(kind, "KMSAN: ") || starts(kind, "general protection fault") ||
	    starts(kind, "BUG: unable to handle kernel") || starts(kind, "BUG: corrupted list") ||
	    starts(kind, "Internal error") || starts(kind, "UBSAN: array-index-out-of-bounds") ||
	    starts(kind, "WARNING: refcount bug"))
		c |= ALT_BAD_ACCESS;
	if (starts(kind, "UBSAN: "))
		c |= ALT_UBSAN;
	if (starts(kind, "INFO: rcu detected stall") || starts(kind, "BUG: soft lockup"))
		c |= ALT_STALL;
	if (starts(kind, "INFO: task hung") || starts(kind, "INFO: task can't die"))
		c |= ALT_HANG;
	if (starts(kind, "BUG: stack guard page was hit") ||
	    starts(kind, "kernel panic: corrupted stack end") ||
	    starts(kind, "kernel stack overflow"))
		c |= ALT_STACK_OVERFLOW;
	return c;
}

/* Split "KIND in FRAME" at the last " in ": kind into kbuf, frame (normalised: no leading
 * underscores, no ".suffix") into fbuf. Returns 0 when the title has no frame. */
static int split_title(const char *t, char *kbuf, size_t klen, char *fbuf, size_t flen)
{
	const char *in = NULL, *p = t, *f;
	size_t n;

	while ((p = strstr(p, " in ")) != NULL)
		in = p++;
	if (!in) {
		snprintf(kbuf, klen, "%s", t);
		fbuf[0] = '\0';
		return 0;
	}
	snprintf(kbuf, klen, "%.*s", (int)(in - t), t);
	f = in + 4;
	while (*f == '_')
		f++;
	n = strcspn(f, ". /");
	snprintf(fbuf, flen, "%.*s", (int)n, f);
	return fbuf[0] != '\0';
}

/* Words of a frame split at '_' (at most FRAME_WORDS; returns how many, -1 when more). */
#define FRAME_WORDS 16
static int frame_words(const char *f, const char *w[], size_t len[])
{
	int n = 0;

	while (*f) {
		size_t k = strcspn(f, "_");
		if (n == FRAME_WORDS)
			return -1;
		w[n] = f;
		len[n++] = k;
		f += k;
		while (*f == '_')
			f++;
	}
	return n;
}

static int word_eq(const char *a, size_t la, const char *b, size_t lb)
{
	return la == lb && !strncmp(a, b, la);
}

/* 1 when frame b is frame a with a run of words inserted before a's last word (a function
 * renamed by a prefix or a middle word: request_end -> fuse_request_end); a has >= 2
 * words and the last words are equal. */
static int renamed_frame(const char *fa, const char *fb)
{
	const char *wa[FRAME_WORDS], *wb[FRAME_WORDS];
	size_t la[FRAME_WORDS], lb[FRAME_WORDS];
	int na = frame_words(fa, wa, la), nb = frame_words(fb, wb, lb), i, j;

	if (na < 2 || nb <= na)
		return 0;
	for (i = 0; i < na && word_eq(wa[i], la[i], wb[i], lb[i]); i++)
		;
	for (j = 0; j < na - i && word_eq(wa[na - 1 - j], la[na - 1 - j], wb[nb - 1 - j],
					  lb[nb - 1 - j]); j++)
		;
	return i + j >= na && j >= 1;
}

/* na and nb (normalised) are one bug seen across kernels: equal, or one frame (or a
 * renamed one) with kinds that are equal or share an alternative-title class. */
static int same_bug(const char *na, const char *nb)
{
	char ka[KB_REPORT_TITLE_MAX], kb[KB_REPORT_TITLE_MAX];
	char fa[KB_REPORT_TITLE_MAX], fb[KB_REPORT_TITLE_MAX];
	int ca, cb, same_kind, has_a, has_b;

	if (!strcmp(na, nb))
		return 1;
	has_a = split_title(na, ka, sizeof(ka), fa, sizeof(fa));
	has_b = split_title(nb, kb, sizeof(kb), fb, sizeof(fb));
	if (!has_a || !has_b)
		return 0;
	ca = kind_classes(ka);
	cb = kind_classes(kb);
	same_kind = !strcmp(ka, kb);
	if (!same_kind && !(ca & cb))
		return 0;
	if (!strcmp(fa, "corrupted") || !strcmp(fb, "corrupted"))
		return same_kind;
	if (renamed_frame(fa, fb) || renamed_frame(fb, fa))
		return 1;
	return !strcmp(fa, fb);
}

/* ---- the rule ------------------------------------------------------------------------ */

/* The relation of a and b, SAME_BUG only looked for when loose. */
static int relation(const char *a, const char *b, int loose)
{
	char na[KB_REPORT_TITLE_MAX], nb[KB_REPORT_TITLE_MAX];
	int oka, okb;

	if (!a || !b)
		return KB_TITLE_OTHER;
	if (!strcmp(a, b))
		return KB_TITLE_SAME;
	oka = kb_report_normalize_title(na, sizeof(na), a) == 0;
	okb = kb_report_normalize_title(nb, sizeof(nb), b) == 0;
	if (oka && okb && same_crash(na, nb))
		return KB_TITLE_SAME;
	if (!loose)
		return KB_TITLE_OTHER;
	if (!oka) /* cannot happen (the patterns are built in): compare as given */
		snprintf(na, sizeof(na), "%s", a);
	if (!okb)
		snprintf(nb, sizeof(nb), "%s", b);
	return same_bug(na, nb) ? KB_TITLE_SAME_BUG : KB_TITLE_OTHER;
}

int kb_report_title_relation(const char *a, const char *b)
{
	return relation(a, b, 1);
}

int kb_report_title_matches(const char *a, const char *b)
{
	return relation(a, b, 0) == KB_TITLE_SAME;
}
