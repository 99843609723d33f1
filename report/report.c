/*
 * report/report.c - kernel console output -> crash report, syzkaller-style title, run class.
 * Owns: the streaming console parser (kb_report_parser_*: bounded memory whatever the
 * console's size), which lines make the report (the first oops line, then the lines of
 * the same printk caller, up to the next unrelated report), the run classification
 * (crash > infra > boot failure > ok), kb_report_parse() and the streaming crash
 * detector the pool uses to stop a VM early (kb_report_scan_chunk()).
 * Not: running VMs or reading the console (vmpool/run.c), the oops table
 * (report_linux.c), titles (report_titles.c), frames (report_frames.c), line cleaning
 * (report_lines.c), deciding whether a crash is the target (kb_report_title_matches()).
 * DESIGN: the console is read line by line once. Before the first oops header only the
 * console tail (for boot failures) and the first SYZFAIL line are kept; from the header
 * on, the report's lines are kept up to RPT_MAX_LINES / RPT_MAX_BYTES. Memory is
 * O(report window), never O(console).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/report.h"
#include "common/error_internal.h"
#include "report/report_internal.h"

#define SCAN_DONE_LINES 100 /* scanner: lines after an oops start before "done" */
#define BOOT_TAIL 8192      /* bytes of console kept as report of a boot failure */

static int ensure_init(void)
{
	if (rpt_tables_init() != 0)
		return kb_error_set(KB_ERRCLASS_VMPOOL,
				    "cannot compile the crash report patterns; this is a bug in "
				    "report/report_linux.c, please report it");
	return 0;
}

void kb_report_free(kb_report *r)
{
	if (!r)
		return;
	free(r->report);
	memset(r, 0, sizeof(*r));
}

int kb_report_title_is_infra(const char *title)
{
	static const char *const prefixes[] = { "SYZFAIL:", "SYZFATAL:",
						"lost connection to test machine",
						"no output from test machine", "test machine failure",
						NULL };
	if (!title)
		return 0;
	for (size_t i = 0; prefixes[i]; i++)
		if (!strncmp(title, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The streaming parser                                                                  */

struct kb_report_parser {
	char raw[RPT_LINE_MAX + 1]; /* the current line (cut at RPT_LINE_MAX bytes) */
	size_t rawlen;
	size_t off;                 /* console bytes consumed */
	size_t line_off;            /* offset of the current line */
	char tail[BOOT_TAIL];       /* ring: the last BOOT_TAIL bytes of console */
	int failed;                 /* out of memory while feeding: reported by finish */
	char infra[KB_REPORT_TITLE_MAX];
	int hangup;                 /* the console connection broke mid-report */
	int booted;                 /* the kernel has printed: a new boot is a reboot */
	/* the report */
	struct oops *oops;
	char ctx[32];
	size_t start, end;
	char **lines;
	size_t nlines, cap, bytes, report_end;
	int second, text_lines, skip_text, cpu_traceback, min_lines, full;
};

int kb_report_parser_new(kb_report_parser **out)
{
	int rc;
	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parser_new: NULL output pointer");
	if ((rc = ensure_init()) < 0)
		return rc;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory creating a console parser");
	return 0;
}

void kb_report_parser_free(kb_report_parser *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nlines; i++)
		free(p->lines[i]);
	free(p->lines);
	free(p);
}

static void keep_line(kb_report_parser *p, const char *msg)
{
	size_t k = strlen(msg);
	char *s;

	if (p->nlines >= RPT_MAX_LINES || p->bytes + k + 1 > RPT_MAX_BYTES) {
		p->full = 1;
		return;
	}
	if (p->nlines == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 128;
		char **v = realloc(p->lines, cap * sizeof(*v));
		if (!v) {
			p->failed = 1;
			return;
		}
		p->lines = v;
		p->cap = cap;
	}
	if (!(s = malloc(k + 1))) {
		p->failed = 1;
		return;
	}
	memcpy(s, msg, k + 1);
	p->lines[p->nlines++] = s;
	p->bytes += k + 1;
}

static int is_cpu_ctx(const char *ctx)
{
	const char *p = ctx;
	if (*p++ != '[')
		return 0;
	while (*p == ' ')
		p++;
	return *p == 'C';
}

/* One console line [line_off, next): the report-building rules. */
static void parser_line(kb_report_parser *p, size_t next)
{
	char clean[RPT_LINE_MAX + 1];
	struct rpt_line_info li;
	struct oops *o;
	int skip;

	rpt_clean_line(clean, p->raw, p->rawlen);
	if (!p->infra[0]) {
		const char *m = rpt_infra_marker(clean);
		if (m)
			snprintf(p->infra, sizeof(p->infra), "%s", m);
	}
	if (strstr(clean, "serialport: VM disconnected."))
		p->hangup = 1;
	if (!p->oops) {
		o = rpt_match_oops(clean, p->booted);
		p->booted |= rpt_line_is_kernel(clean);
		if (!o)
			return;
		rpt_line_parse(clean, &li);
		p->oops = o;
		snprintf(p->ctx, sizeof(p->ctx), "%s", li.ctx);
		p->start = p->line_off;
		p->end = next;
		/* KMSAN reports have no "Call Trace" and fewer lines before their panic */
		p->min_lines = strstr(clean, "BUG: KMSAN:") ? 16 : 22;
		p->text_lines = 1;
		keep_line(p, li.msg);
		p->report_end = p->nlines;
		return;
	}
	if (p->full)
		return;
	if ((o = rpt_match_oops(clean, 1))) {
		p->end = next;
		if (!p->second && !rpt_has_any(clean, rpt_report_start_ignores))
			p->second = 1;
	} else if (!p->second && rpt_has_any(clean, rpt_info_with_stack)) {
		p->second = 1;
	}
	rpt_line_parse(clean, &li);
	if (li.questionable ||
	    (strcmp(li.ctx, p->ctx) && !(p->cpu_traceback && is_cpu_ctx(li.ctx))))
		return;
	p->text_lines++;
	skip = p->skip_text;
	if (strstr(clean, "Disabling lock debugging due to kernel taint")) {
		skip = 1;
	} else if (strstr(clean, "Sending NMI from CPU")) {
		/* a traceback of all CPUs: keep the other CPUs' output too */
		p->cpu_traceback = 1;
	} else if ((strstr(clean, "Kernel panic - not syncing") ||
		    strstr(clean, "WARNING: possible circular locking dependency detected")) &&
		   p->text_lines > p->min_lines) {
		/* panic_on_warn repeats the stack; a deadlock report caused by the oops
		 * itself: with enough of the report, the rest is noise */
		p->skip_text = 1;
		skip = 1;
	}
	if (skip)
		return;
	keep_line(p, li.msg);
	if (!p->second || (p->ctx[0] && strcmp(p->ctx, "console")))
		p->report_end = p->nlines;
}

int kb_report_parser_feed(kb_report_parser *p, const char *buf, size_t len)
{
	if (!p || (!buf && len > 0))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parser_feed: NULL parser or buffer");
	for (size_t i = 0; i < len; i++) {
		p->tail[(p->off + i) % BOOT_TAIL] = buf[i];
		if (buf[i] == '\n') {
			parser_line(p, p->off + i + 1);
			p->rawlen = 0;
			p->line_off = p->off + i + 1;
			continue;
		}
		if (p->rawlen < RPT_LINE_MAX)
			p->raw[p->rawlen++] = buf[i];
	}
	p->off += len;
	return 0;
}

/* The first SYZFAIL/SYZFATAL line of buf as a title; 1 if found. */
static int find_infra(char *title, size_t tsz, const char *buf, size_t len)
{
	char clean[RPT_LINE_MAX + 1];
	size_t pos = 0;

	while (buf && pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		const char *m;
		rpt_clean_line(clean, buf + pos, end - pos);
		if ((m = rpt_infra_marker(clean))) {
			snprintf(title, tsz, "%s", m);
			return 1;
		}
		pos = end + 1;
	}
	return 0;
}

static int report_crash(kb_report_parser *p, kb_report *out)
{
	size_t sz = 0, w = 0;
	int rc;

	rc = rpt_title(p->oops, p->lines, p->report_end, p->nlines, out->title,
		       sizeof(out->title), out->alt, &out->nalt, &out->corrupted);
	if (rc < 0)
		return rc;
	out->corrupted |= p->hangup;
	out->klass = KB_RUN_CRASH;
	out->start = p->start;
	out->end = p->end;
	for (size_t i = 0; i < p->nlines; i++)
		sz += strlen(p->lines[i]) + 1;
	if (!(out->report = malloc(sz + 1)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory copying a %zu-byte crash "
				    "report; free memory and retry", sz);
	for (size_t i = 0; i < p->nlines; i++) {
		size_t k = strlen(p->lines[i]);
		memcpy(out->report + w, p->lines[i], k);
		w += k;
		out->report[w++] = '\n';
	}
	out->report[w] = '\0';
	return 0;
}

int kb_report_parser_finish(kb_report *out, kb_report_parser *p, const kb_report_ctx *ctx)
{
	static const kb_report_ctx clean_exit = { 0 };
	char title[KB_REPORT_TITLE_MAX];
	int rc;

	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parser_finish: NULL output; pass a kb_report");
	memset(out, 0, sizeof(*out));
	if (!p)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parser_finish: NULL parser");
	if (!ctx)
		ctx = &clean_exit;
	if (p->rawlen > 0) { /* a last line without '\n' */
		parser_line(p, p->off);
		p->rawlen = 0;
		p->line_off = p->off;
	}
	if (p->failed)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory while reading %zu bytes of "
				    "console; free memory and retry", p->off);

	/* 1. a kernel crash report wins */
	if (p->oops) {
		if ((rc = report_crash(p, out)) < 0)
			kb_report_free(out);
		return rc;
	}

	/* 2. infrastructure: SYZFAIL/SYZFATAL, lost connection, QEMU, no output */
	snprintf(title, sizeof(title), "%s", p->infra);
	if (!title[0])
		find_infra(title, sizeof(title), ctx->prog_output, ctx->prog_output_len);
	if (!title[0]) {
		switch (ctx->end) {
		case KB_REPORT_END_LOST_CONN:
			snprintf(title, sizeof(title), "lost connection to test machine");
			break;
		case KB_REPORT_END_QEMU_DIED:
			snprintf(title, sizeof(title), "test machine failure: qemu exited");
			break;
		case KB_REPORT_END_NO_OUTPUT:
			snprintf(title, sizeof(title), "no output from test machine");
			break;
		default:
			break;
		}
	}
	if (title[0]) {
		out->klass = KB_RUN_INFRA;
		return kb_report_normalize_title(out->title, sizeof(out->title), title);
	}

	/* 3. boot failure: keep the console tail as the report */
	if (ctx->end == KB_REPORT_END_NO_BOOT) {
		size_t n = p->off < BOOT_TAIL ? p->off : BOOT_TAIL;
		out->klass = KB_RUN_BOOT_FAILURE;
		out->start = p->off - n;
		out->end = p->off;
		if (n > 0) {
			if (!(out->report = malloc(n + 1)))
				return kb_error_set(KB_ERRCLASS_OS, "out of memory copying the "
						    "console tail of a boot failure");
			for (size_t i = 0; i < n; i++)
				out->report[i] = p->tail[(out->start + i) % BOOT_TAIL];
			out->report[n] = '\0';
		}
		return 0;
	}

	/* 4. ok */
	out->klass = KB_RUN_OK;
	return 0;
}

int kb_report_parse(kb_report *out, const char *console, size_t len, const kb_report_ctx *ctx)
{
	kb_report_parser *p;
	int rc;

	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parse: NULL output; pass a kb_report to fill");
	memset(out, 0, sizeof(*out));
	if (!console && len > 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parse: NULL console with length %zu; pass the "
				     "console text or a length of 0", len);
	if ((rc = kb_report_parser_new(&p)) < 0)
		return rc;
	rc = kb_report_parser_feed(p, console ? console : "", len);
	if (rc == 0)
		rc = kb_report_parser_finish(out, p, ctx);
	kb_report_parser_free(p);
	return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Streaming scanner                                                                     */

struct kb_report_scanner {
	char line[RPT_LINE_MAX + 1]; /* the current partial line */
	size_t len;                  /* raw bytes buffered (capped at RPT_LINE_MAX) */
	int state;                   /* kb_report_scan_state */
	size_t after;                /* lines since the oops header */
	int bracketed;               /* sanitizer report: ends with a "=====" line */
	int booted;                  /* the kernel has printed (see rpt_match_oops()) */
};

int kb_report_scanner_new(kb_report_scanner **out)
{
	int rc;
	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_scanner_new: NULL output pointer");
	if ((rc = ensure_init()) < 0)
		return rc;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory creating a console scanner");
	return 0;
}

static void scan_line(kb_report_scanner *s)
{
	char clean[RPT_LINE_MAX + 1];
	struct rpt_line_info li;
	const char *msg;

	rpt_clean_line(clean, s->line, s->len);
	s->len = 0;
	if (s->state == KB_SCAN_DONE)
		return;
	if (rpt_infra_marker(clean)) {
		s->state = KB_SCAN_DONE;
		return;
	}
	if (s->state == KB_SCAN_QUIET) {
		struct oops *o = rpt_match_oops(clean, s->booted);
		s->booted |= rpt_line_is_kernel(clean);
		if (o) {
			s->state = KB_SCAN_STARTED;
			s->after = 0;
			s->bracketed = strstr(clean, "KASAN:") || strstr(clean, "UBSAN:") ||
				       strstr(clean, "KFENCE:") || strstr(clean, "KMSAN:") ||
				       strstr(clean, "KCSAN:");
		}
		return;
	}
	rpt_line_parse(clean, &li);
	msg = li.msg;
	s->after++;
	if (s->bracketed && !strncmp(msg, "==========================================", 42)) {
		s->state = KB_SCAN_DONE;
		return;
	}
	if (strstr(msg, "---[ end trace") || strstr(msg, "---[ end Kernel panic") ||
	    strstr(msg, "Kernel panic - not syncing") || strstr(msg, "Rebooting in ") ||
	    s->after >= SCAN_DONE_LINES)
		s->state = KB_SCAN_DONE;
}

int kb_report_scan_chunk(kb_report_scanner *s, const char *buf, size_t len)
{
	if (!s || (!buf && len > 0))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_scan_chunk: NULL scanner or buffer");
	for (size_t i = 0; i < len && s->state != KB_SCAN_DONE; i++) {
		if (buf[i] == '\n') {
			scan_line(s);
			continue;
		}
		if (s->len < RPT_LINE_MAX)
			s->line[s->len++] = buf[i];
	}
	return s->state;
}

void kb_report_scanner_free(kb_report_scanner *s)
{
	free(s);
}
