/*
 * report/report_lines.c - console lines as the crash parser sees them.
 * Owns: cleaning a raw console line (ANSI escapes, NUL and control bytes, '\r'), the
 * printk prefix ("[  12.345678][    T1] ", optionally after "<6>", "syzkaller login: " or
 * "** 5 printk messages dropped ** ") and the caller context it names, unreliable frames
 * (" ? func+0x1/0x2", "(unreliable)"), whether a line starts a crash report (oops header
 * and its suppressions) and the SYZFAIL/SYZFATAL markers.
 * Not: what happens with the lines (report.c), titles (report_titles.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

/** Copy raw[0, n) into out cleaned: no '\r', NUL or other control bytes (tabs stay), no
 * ANSI escape sequences; at most RPT_LINE_MAX bytes. Returns the cleaned length. */
size_t rpt_clean_line(char *out, const char *raw, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < RPT_LINE_MAX; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == 0x1b) { /* ESC [ params final, or ESC + one byte */
			if (i + 1 < n && raw[i + 1] == '[') {
				i += 2;
				while (i < n && ((unsigned char)raw[i] < 0x40 ||
						 (unsigned char)raw[i] > 0x7e))
					i++;
			} else {
				i++;
			}
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			continue;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o;
}

/* "[  12.345678]" then optionally "[  T12]"/"[ C0]", then a space, at p: the caller id
 * goes to ctx ("" when absent). Returns 1 when the prefix is there. */
static int parse_stamp(const char *p, char *ctx, size_t ctxsz)
{
	const char *q;

	ctx[0] = '\0';
	if (*p == '<') {
		q = p + 1;
		while (isdigit((unsigned char)*q))
			q++;
		if (q > p + 1 && *q == '>')
			p = q + 1;
	}
	if (*p++ != '[')
		return 0;
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != '.' || !isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != ']')
		return 0;
	if (*p == '[') {
		q = p + 1;
		while (*q == ' ')
			q++;
		if ((*q == 'T' || *q == 'C') && isdigit((unsigned char)q[1])) {
			q++;
			while (isdigit((unsigned char)*q))
				q++;
			if (*q == ']' && (size_t)(q + 1 - p) < ctxsz) {
				memcpy(ctx, p, (size_t)(q + 1 - p));
				ctx[q + 1 - p] = '\0';
				p = q + 1;
			}
		}
	}
	return *p == ' ';
}

/** Split the cleaned line s (modified: an "(unreliable)" suffix is cut) into its caller
 * context and message, and say whether it is an unreliable frame. */
void rpt_line_parse(char *s, struct rpt_line_info *li)
{
	const char *p = s, *q, *cands[16];
	size_t nc = 0;
	char ctx[32];
	int found = 0;

	li->ctx[0] = '\0';
	li->msg = s;
	li->questionable = 0;
	if (!strncmp(p, "** ", 3)) {
		q = p + 3;
		while (isdigit((unsigned char)*q))
			q++;
		if (q > p + 3 && !strncmp(q, " printk messages dropped ** ", 28))
			p = q + 28;
	}
	/* "syzkaller login: [ ...": the last " login: " after which a stamp follows */
	cands[nc++] = p;
	for (q = strstr(p, " login: "); q && nc < 16; q = strstr(q + 1, " login: "))
		cands[nc++] = q + 8;
	while (nc > 0 && !found) {
		found = parse_stamp(cands[--nc], ctx, sizeof(ctx));
	}
	if (!found)
		return;
	snprintf(li->ctx, sizeof(li->ctx), "%s", ctx[0] ? ctx : "console");
	q = strstr(s, "] ");
	if (!q)
		return;
	li->msg = q + 2;
	if (!strstr(li->msg, "<EOI>")) {
		const char *qm = strstr(li->msg, " ? ");
		size_t n = strlen(li->msg);
		if (qm) {
			li->msg = qm + 2;
			li->questionable = 1;
		} else if (n >= 13 && !strcmp(li->msg + n - 13, " (unreliable)")) {
			s[(size_t)(li->msg - s) + n - 13] = '\0';
			li->questionable = 1;
		}
	}
}

/** 1 if the cleaned line s is the kernel's own output (it carries a printk time stamp). */
int rpt_line_is_kernel(const char *s)
{
	char ctx[32];
	const char *p = s;

	if (!strncmp(p, "** ", 3) || strstr(p, " login: ")) { /* rare: the full rules */
		struct rpt_line_info li;
		char tmp[RPT_LINE_MAX + 1];
		snprintf(tmp, sizeof(tmp), "%s", s);
		rpt_line_parse(tmp, &li);
		return li.ctx[0] != '\0';
	}
	return (*p == '[' || *p == '<') && parse_stamp(p, ctx, sizeof(ctx));
}

/** 1 if s holds one of the strings of the NULL-terminated list. */
int rpt_has_any(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strstr(s, list[i]))
			return 1;
	return 0;
}

/** The oops whose header the (cleaned, whole) line holds, none of its suppressions, or NULL.
 * booted: whether the kernel has printed before; the decompressor's "Booting the
 * kernel." is a reboot only then (a console that starts with a boot is no crash). */
struct oops *rpt_match_oops(const char *line, int booted)
{
	for (size_t i = 0; i < rpt_noopses; i++) {
		struct oops *o = &rpt_oopses[i];
		size_t k;
		if (!strstr(line, o->header))
			continue;
		if (!booted && !strcmp(o->header, RPT_REBOOT_HEADER))
			continue;
		for (k = 0; k < o->nsuppress; k++)
			if (rpt_rx_match_line(&o->suppress_rx[k], 0, line, NULL, 0))
				break;
		if (k < o->nsuppress)
			continue;
		return o;
	}
	return NULL;
}

/** Where s holds "SYZFAIL:" or "SYZFATAL:" (a failure of the test program), or NULL. */
const char *rpt_infra_marker(const char *s)
{
	const char *p = strstr(s, "SYZFAIL:");
	return p ? p : strstr(s, "SYZFATAL:");
}
