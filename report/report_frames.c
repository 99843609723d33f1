/*
 * report/report_frames.c - patterns, stack frames and the guilty frame of a report.
 * Owns: compiling the table's patterns (Go-like notation -> POSIX ERE, multi-line steps,
 * group numbering), searching them in a report's lines, stack trace lines and frames
 * (x86 "  func+0x1/0x2", "[<pc>] func", arm "[<pc>] (func) from [<pc>] (caller)"), the
 * skip rules and syscall-prefix stripping, the stall and hung-task frame choice, the
 * "stack parts" walk that finds a format's frame, and the check whether a report lost its
 * stack trace (corrupted).
 * Not: the table itself (report_linux.c), titles (report_titles.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"

/* ---- patterns -------------------------------------------------------------------- */

static const struct {
	const char *name, *with;
} macros[] = {
	{ "{{PC}}", "\\[<?(?:0x)?[0-9a-f]+>?\\]" },
	{ "{{FUNC}}", "([a-zA-Z0-9_]+)(?:\\.|\\+)" },
	{ "{{SRC}}", "([a-zA-Z0-9_/.-]+\\.[a-z]+:[0-9]+)" },
	{ "{{ADDR}}", "0x[0-9a-f]+" },
};

/* Expand macros of src[0, n) into a malloc'd string. */
static char *expand(const char *src, size_t n)
{
	size_t cap = n * 8 + 64, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k, len = 0;
		for (k = 0; k < sizeof(macros) / sizeof(macros[0]); k++) {
			len = strlen(macros[k].name);
			if (i + len <= n && !strncmp(src + i, macros[k].name, len))
				break;
		}
		if (k < sizeof(macros) / sizeof(macros[0])) {
			size_t w = strlen(macros[k].with);
			if (o + w + 1 >= cap)
				break;
			memcpy(out + o, macros[k].with, w);
			o += w;
			i += len;
			continue;
		}
		if (o + 2 >= cap)
			break;
		out[o++] = src[i++];
	}
	out[o] = '\0';
	return out;
}

/* Translate one expanded step to POSIX ERE; fills the capture map. */
static char *translate(const char *s, int *ngroups, int map[RX_MAX_GROUPS])
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n * 6 + 16); /* \w (2 bytes) becomes 12 */
	int posix = 0;

	if (!out)
		return NULL;
	*ngroups = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < n) {
			char d = s[++i];
			if (d == 'd') {
				memcpy(out + o, "[0-9]", 5);
				o += 5;
			} else if (d == 'w') {
				memcpy(out + o, "[a-zA-Z0-9_]", 12);
				o += 12;
			} else if (d == '<' || d == '>') {
				out[o++] = d;
			} else {
				out[o++] = '\\';
				out[o++] = d;
			}
			continue;
		}
		if (c == '[') { /* bracket expression: copy as is */
			out[o++] = s[i++];
			if (i < n && s[i] == '^')
				out[o++] = s[i++];
			if (i < n && s[i] == ']')
				out[o++] = s[i++];
			while (i < n && s[i] != ']') {
				if (s[i] == '[' && i + 1 < n && s[i + 1] == ':') {
					const char *e = strstr(s + i + 2, ":]");
					size_t k = e ? (size_t)(e - s) + 2 : n;
					while (i < k)
						out[o++] = s[i++];
					continue;
				}
				out[o++] = s[i++];
			}
			if (i < n)
				out[o++] = s[i];
			continue;
		}
		if (c == '(') {
			posix++;
			if (i + 2 < n && s[i + 1] == '?' && s[i + 2] == ':') {
				i += 2;
			} else if (*ngroups < RX_MAX_GROUPS) {
				map[(*ngroups)++] = posix;
			}
			out[o++] = '(';
			continue;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

/** Compile a pattern of the table's notation; 0 or -1 (bad pattern: a bug). */
int rpt_rx_compile(struct rx *rx, const char *src)
{
	const char *p = src;

	memset(rx, 0, sizeof(*rx));
	while (rx->nsteps < RX_MAX_STEPS) {
		size_t n = strcspn(p, "\n\r");
		char *e = expand(p, n), *t;
		int rc;
		if (!e)
			return -1;
		t = translate(e, &rx->ngroups[rx->nsteps], rx->map[rx->nsteps]);
		free(e);
		if (!t)
			return -1;
		rc = regcomp(&rx->re[rx->nsteps], t, REG_EXTENDED);
		free(t);
		if (rc) {
			rpt_rx_free(rx);
			return -1;
		}
		rx->nsteps++;
		for (int g = 0; g < rx->ngroups[rx->nsteps - 1]; g++)
			if (rx->map[rx->nsteps - 1][g] >= RX_MAX_SUB) { /* a table bug */
				rpt_rx_free(rx);
				return -1;
			}
		if (!p[n])
			break;
		rx->next_line[rx->nsteps] = p[n] == '\r';
		p += n + 1;
	}
	rx->ok = 1;
	return 0;
}

/** Free a compiled pattern (also a failed or zeroed one). */
void rpt_rx_free(struct rx *rx)
{
	for (int i = 0; i < rx->nsteps; i++)
		regfree(&rx->re[i]);
	rx->nsteps = 0;
	rx->ok = 0;
}

/** 1 if step of rx matches s (m gets the POSIX subexpressions), else 0. */
int rpt_rx_match_line(const struct rx *rx, int step, const char *s, regmatch_t *m, size_t nm)
{
	if (!rx->ok || step >= rx->nsteps)
		return 0;
	return regexec(&rx->re[step], s, nm, m, 0) == 0;
}

static void take_groups(const struct rx *rx, int step, const char *s, const regmatch_t *m,
			struct rx_match *out)
{
	if (step < 0 || step >= RX_MAX_STEPS)
		return;
	for (int g = 0; g < rx->ngroups[step] && out->ngroups < RX_MAX_GROUPS; g++) {
		int sub = rx->map[step][g];
		const regmatch_t *r = sub < RX_MAX_SUB ? &m[sub] : NULL;
		char *d = out->g[out->ngroups++];
		size_t k = 0;
		if (r && r->rm_so >= 0) {
			k = (size_t)(r->rm_eo - r->rm_so);
			if (k >= RPT_ARG_LEN)
				k = RPT_ARG_LEN - 1;
			memcpy(d, s + r->rm_so, k);
		}
		d[k] = '\0';
	}
}

/* Steps step.. on lines after line `after`; the lazy "(?:.*\n)+?" of the original. */
static int match_steps(const struct rx *rx, int step, char *const *lines, size_t n,
		       size_t after, struct rx_match *out)
{
	regmatch_t m[RX_MAX_SUB];
	int saved = out->ngroups;

	if (step >= rx->nsteps || step >= RX_MAX_STEPS) /* the bound, for the optimiser */
		return 1;
	for (size_t i = after + 1; i < n; i++) {
		if (rx->next_line[step] && i != after + 1)
			break;
		if (regexec(&rx->re[step], lines[i], RX_MAX_SUB, m, 0) != 0)
			continue;
		take_groups(rx, step, lines[i], m, out);
		if (match_steps(rx, step + 1, lines, n, i, out))
			return 1;
		out->ngroups = saved;
	}
	return 0;
}

/** The first match of rx in lines[from, n): 1 and *out filled, or 0. */
int rpt_rx_search(const struct rx *rx, char *const *lines, size_t n, size_t from,
		  struct rx_match *out)
{
	regmatch_t m[RX_MAX_SUB];

	if (!rx->ok)
		return 0;
	for (size_t i = from; i < n; i++) {
		if (regexec(&rx->re[0], lines[i], RX_MAX_SUB, m, 0) != 0)
			continue;
		out->ngroups = 0;
		out->line = i;
		out->col = (size_t)m[0].rm_so;
		take_groups(rx, 0, lines[i], m, out);
		if (match_steps(rx, 1, lines, n, i, out))
			return 1;
	}
	return 0;
}

/* ---- stack lines ------------------------------------------------------------------ */

static struct rx frame_rx[2], start_rx[9], corrupt_rx, global_skip_rx, anchor_rx, stamp_rx;
static int riscv_start = 8; /* index of the RISC-V register dump in start_rx */

static const char *const stack_starts[] = {
	"Call (?:T|t)race", "Allocated:", "Allocated by task [0-9]+:", "Freed:",
	"Freed by task [0-9]+:",
	/* "backtrace:" but not lockdep's "stack backtrace:"; kmemleak may add a crc */
	"[^k] backtrace(?: \\(crc [[:xdigit:]]*\\))?:", "Backtrace:",
	"Uninit was stored to memory at",
	/* RISC-V prints a kernel-mode stack right after its register dump */
	"status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}", NULL,
};

static char *alternation(const char *const *list)
{
	size_t n = 1;
	char *s;

	for (size_t i = 0; list[i]; i++)
		n += strlen(list[i]) + 3;
	if (!(s = malloc(n)))
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; list[i]; i++) {
		if (i)
			strcat(s, "|");
		strcat(s, "(");
		strcat(s, list[i]);
		strcat(s, ")");
	}
	return s;
}

static int compile_list(struct rx *rx, const char *const *list)
{
	char *s = alternation(list);
	int rc = s ? rpt_rx_compile(rx, s) : -1;
	free(s);
	return rc;
}

static int compile_stack(struct stack_fmt *st)
{
	const char *own[17];
	size_t k = 0;

	for (int i = 0; i < 6 && st->parts[i]; i++, st->nparts++)
		if (strcmp(st->parts[i], PART_PARSE) && rpt_rx_compile(&st->parts_rx[i], st->parts[i]))
			return -1;
	for (int i = 0; i < 4 && st->parts2[i]; i++, st->nparts2++)
		if (strcmp(st->parts2[i], PART_PARSE) &&
		    rpt_rx_compile(&st->parts2_rx[i], st->parts2[i]))
			return -1;
	for (; k < 16 && st->skip[k]; k++)
		own[k] = st->skip[k];
	own[k] = NULL;
	if (k) {
		char *s = alternation(own);
		struct rx tmp;
		int rc = s ? rpt_rx_compile(&tmp, s) : -1;
		free(s);
		if (rc)
			return -1;
		st->skip_rx = tmp.re[0]; /* single step */
		st->ok = 2;
	} else {
		st->ok = 1;
	}
	return 0;
}

static int init_failed;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_all(void)
{
	int bad = 0;

	bad |= rpt_rx_compile(&frame_rx[0], "^ *(?:{{PC}} ){0,2}{{FUNC}}");
	bad |= rpt_rx_compile(&frame_rx[1],
			      "^ *{{PC}} \\(([a-zA-Z0-9_.]+)\\) from {{PC}} \\({{FUNC}}");
	for (int i = 0; stack_starts[i]; i++)
		bad |= rpt_rx_compile(&start_rx[i], stack_starts[i]);
	/* fault-injection stacks interleave with reports; the symbol may carry suffixes */
	bad |= rpt_rx_compile(&corrupt_rx, "^( \\[<?(?:0x)?[0-9a-f]+>?\\])? "
					   "should_fail(slab)?(\\.[a-z0-9.]+)?\\+0x");
	/* a time stamp merged into a title: the title line was cut by other output */
	bad |= rpt_rx_compile(&stamp_rx, "\\[ *[0-9]+\\.[0-9]+\\]");
	bad |= compile_list(&global_skip_rx, rpt_skip_patterns);
	bad |= compile_list(&anchor_rx, rpt_stall_anchors);
	for (size_t i = 0; i < rpt_noopses; i++) {
		struct oops *o = &rpt_oopses[i];
		for (size_t k = 0; k < 12 && o->suppress[k]; k++, o->nsuppress++)
			bad |= rpt_rx_compile(&o->suppress_rx[k], o->suppress[k]);
		for (size_t j = 0; j < o->nfmts; j++) {
			struct oops_fmt *f = &o->fmts[j];
			bad |= rpt_rx_compile(&f->title_rx, f->title);
			if (f->report)
				bad |= rpt_rx_compile(&f->report_rx, f->report);
			if (f->stack && !f->stack->ok)
				bad |= compile_stack(f->stack);
		}
	}
	init_failed = bad != 0;
}

/** Compile every table once (thread-safe); 0, or -1 if a pattern does not compile. */
int rpt_tables_init(void)
{
	pthread_once(&init_once, init_all);
	return init_failed ? -1 : 0;
}

/** 1 if s starts a stack trace ("Call Trace:", "Allocated by task 1:", "backtrace:"...). */
int rpt_line_is_stack_start(const char *s)
{
	for (int i = 0; stack_starts[i]; i++)
		if (rpt_rx_match_line(&start_rx[i], 0, s, NULL, 0))
			return 1;
	return 0;
}

/** The function(s) a stack trace line names (arm lines name two); their count. */
int rpt_line_frame(const char *s, char frames[2][RPT_FRAME_MAX])
{
	regmatch_t m[RX_MAX_SUB];

	for (int r = 0; r < 2; r++) {
		struct rx_match mm = { 0 };
		int k = 0;
		if (!rpt_rx_match_line(&frame_rx[r], 0, s, m, RX_MAX_SUB))
			continue;
		take_groups(&frame_rx[r], 0, s, m, &mm);
		for (int g = 0; g < mm.ngroups && k < 2; g++)
			snprintf(frames[k++], RPT_FRAME_MAX, "%s", mm.g[g]);
		return k;
	}
	return 0;
}

/** 1 if s is a line whose presence makes the frames around it unreliable (should_fail). */
int rpt_line_is_corrupting(const char *s)
{
	return rpt_rx_match_line(&corrupt_rx, 0, s, NULL, 0);
}

/** frame without its syscall prefix (the shortest of the single-prefix strips). */
const char *rpt_strip_frame(const char *frame)
{
	const char *best = frame;
	for (size_t i = 0; rpt_strip_prefixes[i]; i++) {
		size_t k = strlen(rpt_strip_prefixes[i]);
		if (!strncmp(frame, rpt_strip_prefixes[i], k) && strlen(frame + k) < strlen(best))
			best = frame + k;
	}
	return best;
}

/* ---- the guilty frame --------------------------------------------------------------- */

struct frames {
	char raw[RPT_MAX_FRAMES][RPT_FRAME_MAX];
	size_t n;
};

static void add_groups(struct frames *fr, const struct stack_fmt *st, const struct rx_match *m)
{
	for (int g = 0; g < m->ngroups && fr->n < RPT_MAX_FRAMES; g++) {
		char f[RPT_FRAME_MAX];
		if (!m->g[g][0])
			continue;
		rpt_demangle(m->g[g], f, sizeof(f));
		if (rpt_rx_match_line(&global_skip_rx, 0, f, NULL, 0))
			continue;
		if (st->ok == 2 && regexec(&st->skip_rx, f, 0, NULL, 0) == 0)
			continue;
		snprintf(fr->raw[fr->n++], RPT_FRAME_MAX, "%s", f);
	}
}

/* The key frame of fr by the format's extractor: its index, or -1. canon gets it. */
static int pick(const struct stack_fmt *st, const struct frames *fr, char *canon)
{
	static const char *const hung_skip[] = { "sched", "_lock", "_slowlock", "down", "rwsem",
						 "completion", "kthread", "wait", "synchronize",
						 "context_switch", "__switch_to",
						 "cancel_delayed_work", "rcu_barrier", NULL };
	if (fr->n == 0)
		return -1;
	if (st->extractor == EX_STALL) {
		const char *prev = rpt_strip_frame(fr->raw[0]);
		size_t prev_i = 0;
		for (size_t i = 0; i < fr->n; i++) {
			const char *f = rpt_strip_frame(fr->raw[i]);
			if (rpt_rx_match_line(&anchor_rx, 0, f, NULL, 0)) {
				if (strstr(f, "smp_call_function")) {
					prev = "smp_call_function";
					prev_i = i;
				}
				snprintf(canon, RPT_ARG_LEN, "%s", prev);
				return (int)prev_i;
			}
			prev = f;
			prev_i = i;
		}
		return -1;
	}
	if (st->extractor == EX_HUNG) {
		for (size_t i = 0; i < fr->n; i++) {
			const char *f = rpt_strip_frame(fr->raw[i]);
			if (strstr(f, "rtnl_lock")) {
				snprintf(canon, RPT_ARG_LEN, "%s", f);
				return (int)i;
			}
			if (strstr(f, "synchronize_rcu") || strstr(f, "synchronize_srcu") ||
			    strstr(f, "synchronize_net") || strstr(f, "synchronize_sched")) {
				snprintf(canon, RPT_ARG_LEN, "synchronize_rcu");
				return (int)i;
			}
		}
		for (size_t i = 0; i < fr->n; i++) {
			const char *f = rpt_strip_frame(fr->raw[i]);
			if (!rpt_has_any(f, hung_skip)) {
				snprintf(canon, RPT_ARG_LEN, "%s", f);
				return (int)i;
			}
		}
		return -1;
	}
	snprintf(canon, RPT_ARG_LEN, "%s", rpt_strip_frame(fr->raw[0]));
	return 0;
}

struct walk {
	char *const *lines;
	size_t n, first, col;
};

static const char *wline(const struct walk *w, size_t i)
{
	return i == w->first ? w->lines[i] + w->col : w->lines[i];
}

/* One attempt with parts[0, np); the frames of each stack go to canon/raw. */
static int walk_parts(const struct stack_fmt *st, const char *const *parts, const struct rx *prx,
		      int np, const struct walk *w, char canon[][RPT_ARG_LEN],
		      char raw[][RPT_ARG_LEN], int max, int *nout)
{
	struct frames *fr = calloc(1, sizeof(*fr));
	size_t li = w->first;
	int ok = 1, nstacks = 0;
	regmatch_t m[RX_MAX_SUB];

	*nout = 0;
	if (!fr)
		return 0;
	for (int p = 0;; p++) {
		if (p == np || (!strcmp(parts[p], PART_PARSE) && nstacks > 0)) {
			int idx = pick(st, fr, *nout < max ? canon[*nout] : canon[max - 1]);
			if (*nout < max) {
				if (idx < 0) {
					snprintf(canon[*nout], RPT_ARG_LEN, "corrupted");
					snprintf(raw[*nout], RPT_ARG_LEN, "corrupted");
					ok = 0;
				} else {
					snprintf(raw[*nout], RPT_ARG_LEN, "%s", fr->raw[idx]);
				}
				(*nout)++;
			} else if (idx < 0) {
				ok = 0;
			}
			fr->n = 0;
		}
		if (p == np)
			break;
		if (!strcmp(parts[p], PART_PARSE)) {
			nstacks++;
			while (li < w->n) {
				const char *ln = wline(w, li++);
				char f2[2][RPT_FRAME_MAX];
				int k;
				if (rpt_line_is_corrupting(ln)) {
					ok = 0;
					goto next_part;
				}
				if (rpt_line_is_stack_start(ln))
					goto next_part;
				if (p + 1 < np && strcmp(parts[p + 1], PART_PARSE) &&
				    rpt_rx_match_line(&prx[p + 1], 0, ln, m, RX_MAX_SUB)) {
					struct rx_match mm = { 0 };
					take_groups(&prx[p + 1], 0, ln, m, &mm);
					add_groups(fr, st, &mm);
					p++;
					goto next_part;
				}
				k = rpt_line_frame(ln, f2);
				if (k) {
					struct rx_match mm = { 0 };
					for (int j = 0; j < k; j++)
						snprintf(mm.g[mm.ngroups++], RPT_ARG_LEN, "%s", f2[j]);
					add_groups(fr, st, &mm);
				}
			}
		} else {
			while (li < w->n) {
				const char *ln = wline(w, li++);
				struct rx_match mm = { 0 };
				if (rpt_line_is_corrupting(ln)) {
					ok = 0;
					goto next_part;
				}
				if (!rpt_rx_match_line(&prx[p], 0, ln, m, RX_MAX_SUB))
					continue;
				take_groups(&prx[p], 0, ln, m, &mm);
				add_groups(fr, st, &mm);
				break;
			}
		}
next_part:;
	}
	free(fr);
	return ok;
}

/** The frames of st in lines[line, n) (the first line from col): one per stack parsed,
 * canonical (prefix-stripped, as titles use them) and raw. 1, or 0 when a frame was not
 * found or the report is unreliable (its slot then says "corrupted"). */
int rpt_stack_extract(const struct stack_fmt *st, char *const *lines, size_t n, size_t line,
		      size_t col, char canon[][RPT_ARG_LEN], char raw[][RPT_ARG_LEN], int max,
		      int *nframes)
{
	struct walk w = { lines, n, line, col };
	int ok = walk_parts(st, st->parts, st->parts_rx, st->nparts, &w, canon, raw, max, nframes);

	if (ok || st->nparts2 == 0)
		return ok;
	return walk_parts(st, st->parts2, st->parts2_rx, st->nparts2, &w, canon, raw, max, nframes);
}

/** 1 if a report titled title, found with format f (NULL: none matched), lost its
 * stack: a timestamp inside the title, or a stack trace keyword without a frame after it,
 * or no stack trace at all where the format expects one. */
int rpt_report_corrupted(const char *title, char *const *lines, size_t n,
			 const struct oops_fmt *f)
{
	int has_stack = 0;

	if (rpt_rx_match_line(&stamp_rx, 0, title, NULL, 0))
		return 1;
	if (!f || f->no_stack_trace)
		return 0;
	for (int k = 0; stack_starts[k]; k++) {
		size_t i;
		int corrupted = 1;
		for (i = 0; i < n; i++)
			if (rpt_rx_match_line(&start_rx[k], 0, lines[i], NULL, 0) ||
			    (k == 5 && !strncmp(lines[i], " backtrace", 10)))
				break;
		if (i == n)
			continue;
		if (n - i + 1 < 4) /* the keyword line, then fewer than 2 lines */
			return 1;
		for (size_t j = i + 1; j < n && j < i + 16; j++) {
			char f2[2][RPT_FRAME_MAX];
			if (rpt_line_is_stack_start(lines[j]))
				break;
			if (strstr(lines[j], "(stack is not available)") ||
			    rpt_line_frame(lines[j], f2)) {
				has_stack = 1;
				corrupted = 0;
				break;
			}
		}
		if (k != riscv_start && corrupted)
			return 1;
	}
	return !has_stack;
}
