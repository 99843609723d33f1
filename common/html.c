/*
 * common/html.c - the one HTML template of kbisect's reports (kbisect/html.h): the
 * style sheet, escaping, commit links, the result block, the evidence table with a bar
 * per test (a segment per run: class, title, console link), legends, the footer, and
 * writing a page atomically.
 * Owns: the look of every report page (class names, colours) and the commit-url rule.
 * Not: the charts (common/html_chart.c), what a report says (bisect/engine_html.c,
 * analyze/analyze_html.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kbisect/html.h"
#include "error_internal.h"
#include "html_internal.h"

/* run classes: css class, colour, legend text (the timeline uses the same colours) */
static const struct {
	const char *cls, *colour, *text;
} run_style[KB_HTML_RUN_N] = {
	[KB_HTML_RUN_TARGET] = { "target", "#e53935", "target crash" },
	[KB_HTML_RUN_OK] = { "ok", "#81c784", "OK (no crash)" },
	[KB_HTML_RUN_OTHER] = { "other", "#8e24aa", "other crash (ignored)" },
	[KB_HTML_RUN_INFRA] = { "infra", "#ffb300", "infrastructure failure (ignored)" },
	[KB_HTML_RUN_BOOT] = { "boot", "#9e9e9e", "boot/test failure" },
};

static int run_cls(int c)
{
	return c >= 0 && c < KB_HTML_RUN_N ? c : KB_HTML_RUN_INFRA;
}

const char *kb_html__run_colour(int cls)
{
	return run_style[run_cls(cls)].colour;
}

int kb_html_commit_url_check(const char *pattern, char *why, size_t len)
{
	int n_s = 0;

	if (!pattern || !*pattern) {
		snprintf(why, len, "empty commit URL");
		return -1;
	}
	if (strncmp(pattern, "https://", 8) && strncmp(pattern, "http://", 7) &&
	    strncmp(pattern, "file://", 7)) {
		snprintf(why, len, "commit URL '%.200s' is not an http(s):// or file:// URL", pattern);
		return -1;
	}
	for (const char *p = pattern; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 's')
			n_s++, p++;
		else if (p[1] == '%')
			p++;
		else {
			snprintf(why, len, "commit URL '%.200s' has a '%%' that is not %%s or %%%%",
				 pattern);
			return -1;
		}
	}
	if (n_s != 1) {
		snprintf(why, len, "commit URL '%.200s' needs exactly one %%s where the commit id "
			 "goes (e.g. https://git.kernel.org/torvalds/c/%%s)", pattern);
		return -1;
	}
	return 0;
}

void kb_html_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* the commit URL of id by pattern (checked: one %s), escaped; nothing when invalid */
static void commit_href(FILE *f, const char *pattern, const char *id)
{
	char why[256];

	if (kb_html_commit_url_check(pattern, why, sizeof(why)) != 0)
		return;
	for (const char *p = pattern; *p; p++) {
		char c[2] = { *p, 0 };
		if (*p == '%' && p[1] == 's')
			kb_html_text(f, id), p++;
		else if (*p == '%' && p[1] == '%')
			kb_html_text(f, "%"), p++;
		else
			kb_html_text(f, c);
	}
}

void kb_html_commit(FILE *f, const char *id, const char *pattern, size_t abbrev)
{
	char buf[72];
	char why[256];
	int link = pattern && id && kb_html_commit_url_check(pattern, why, sizeof(why)) == 0;

	snprintf(buf, sizeof(buf), "%s", id ? id : "");
	if (abbrev && abbrev < sizeof(buf) && strlen(buf) > abbrev)
		buf[abbrev] = '\0';
	if (link) {
		fputs("<a class=commit href=\"", f);
		commit_href(f, pattern, id);
		fputs("\">", f);
	}
	fputs("<code title=\"", f);
	kb_html_text(f, id);
	fputs("\">", f);
	kb_html_text(f, buf);
	fputs("</code>", f);
	if (link)
		fputs("</a>", f);
}

void kb_html_begin(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=\"utf-8\">\n<title>", f);
	kb_html_text(f, title);
	fputs("</title>\n<style>\n"
	      "body{font:14px/1.45 system-ui,'DejaVu Sans',sans-serif;margin:24px;color:#222;"
	      "max-width:1240px;background:#fff}\n"
	      "h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 8px;"
	      "border-bottom:1px solid #ddd;padding-bottom:2px}\n"
	      "code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace}\n"
	      "a.commit{text-decoration:none}a.commit code{color:#1a4fa0}\n"
	      ".result{border:1px solid #ccc;border-radius:8px;padding:12px 16px;background:#fafafa}\n"
	      ".result .crash{font-weight:bold;color:#b71c1c}\n"
	      ".result .subject{font-weight:bold}\n"
	      ".verdict{display:inline-block;padding:4px 10px;border-radius:6px;color:#fff;"
	      "font-weight:bold;margin-right:8px}\n"
	      ".yes{background:#2e7d32}.no{background:#c62828}\n"
	      ".flag{display:inline-block;border:1px solid #c62828;color:#c62828;border-radius:4px;"
	      "padding:0 6px;margin-right:6px;font-size:12px}\n"
	      ".facts{color:#555}\n"
	      "table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;"
	      "border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\n"
	      "tr.culprit td{background:#fdecea}\n"
	      "#evidence{font-size:13px}#evidence td.subj{max-width:260px}"
	      "#evidence td.note{min-width:170px}\n"
	      ".b{display:inline-block;min-width:64px;text-align:center;border-radius:4px;"
	      "padding:0 4px;color:#fff}\n"
	      ".b.crash{background:#c62828}.b.clean{background:#2e7d32}.b.skip{background:#757575}"
	      ".b.none{background:#bdbdbd;color:#222}\n"
	      ".test{display:flex;flex-wrap:wrap;align-items:center;gap:2px 6px;margin:1px 0}"
	      ".test .tlab{font-size:11px;color:#666;min-width:56px}\n"
	      ".bar{display:flex;flex:none;width:180px;height:14px;border:1px solid #999;background:#eee}\n"
	      ".seg{height:100%;display:block;box-sizing:border-box;border-right:1px solid #fff}\n"
	      ".cons{font-size:11px;max-width:240px}\n", f);
	for (int c = 0; c < KB_HTML_RUN_N; c++)
		fprintf(f, ".seg.%s{background:%s}", run_style[c].cls, run_style[c].colour);
	fputs("\n.legend{margin:4px 0;font-size:13px}.legend span.sw{display:inline-block;"
	      "width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle;"
	      "border:1px solid #888}\n"
	      "svg text{font:11px system-ui,'DejaVu Sans',sans-serif;fill:#333}\n"
	      ".note{color:#555;font-size:13px}\n"
	      ".chain{display:flex;align-items:flex-start;gap:2px;overflow-x:auto}\n"
	      ".col{display:flex;flex-direction:column;align-items:center;width:22px}\n"
	      ".area{height:130px;width:100%;display:flex;align-items:flex-end;"
	      "border-bottom:1px solid #999}\n"
	      ".node{width:100%;background:#1565c0;min-height:1px}\n"
	      ".node.block{background:#90caf9}.node.culprit{background:#c62828}\n"
	      ".lab{writing-mode:vertical-rl;font:10px ui-monospace,monospace;margin-top:3px;"
	      "white-space:nowrap}.lab.culprit{color:#c62828;font-weight:bold}\n"
	      "footer{margin-top:32px;color:#777;font-size:12px}\n"
	      "</style></head><body>\n", f);
}

void kb_html_section(FILE *f, const char *id, const char *heading)
{
	fputs("<h2", f);
	if (id) {
		fputs(" id=\"h-", f);
		kb_html_text(f, id);
		fputs("\"", f);
	}
	fputs(">", f);
	kb_html_text(f, heading);
	fputs("</h2>\n", f);
}

void kb_html_result_block(FILE *f, const kb_html_result *r)
{
	fputs("<div class=result id=result>\n<h1>", f);
	kb_html_text(f, r->heading);
	fputs("</h1>\n", f);
	if (r->n_titles) {
		fputs("<p id=crash>Crash: <span class=crash>", f);
		kb_html_text(f, r->titles[0]);
		fputs("</span>", f);
		if (r->n_titles > 1) {
			fputs(" <span class=note>(also counted as the same crash:", f);
			for (size_t i = 1; i < r->n_titles; i++) {
				fputs(i > 1 ? "; " : " ", f);
				kb_html_text(f, r->titles[i]);
			}
			fputs(")</span>", f);
		}
		fputs("</p>\n", f);
	}
	fputs("<p id=culprit>", f);
	if (r->badge) {
		fprintf(f, "<span class='verdict %s'>", r->badge_good ? "yes" : "no");
		kb_html_text(f, r->badge);
		fputs("</span>", f);
	}
	if (r->commit) {
		kb_html_text(f, r->what ? r->what : "culprit");
		fputs(": ", f);
		kb_html_commit(f, r->commit, r->commit_url, 0);
		if (r->subject && *r->subject) {
			fputs("<br><span class=subject>", f);
			kb_html_text(f, r->subject);
			fputs("</span>", f);
		}
		if ((r->author && *r->author) || (r->date && *r->date)) {
			fputs("<br><span class=note>", f);
			if (r->author && *r->author) {
				fputs("Author: ", f);
				kb_html_text(f, r->author);
			}
			if (r->date && *r->date) {
				fputs(r->author && *r->author ? "; date: " : "Date: ", f);
				kb_html_text(f, r->date);
			}
			fputs("</span>", f);
		}
		if (r->probability >= 0) {
			char pt[32];
			if (r->probability >= 0.99995)
				snprintf(pt, sizeof(pt), "&gt; 0.9999");
			else
				snprintf(pt, sizeof(pt), "%.4f", r->probability);
			fprintf(f, "<br>probability %s", pt);
		}
	}
	if (r->summary && *r->summary) {
		fputs(r->commit ? "<br>" : "", f);
		kb_html_text(f, r->summary);
	}
	fputs("</p>\n", f);
	if (r->q >= 0)
		fprintf(f, "<p id=rates>Reproducer: crashes a buggy kernel with rate q = %.2f "
			   "(90%%: %.2f&ndash;%.2f); false crashes eps = %.4f.</p>\n",
			r->q, r->q_lo, r->q_hi, r->eps);
	fputs("<p id=flags>Flags: ", f);
	if (!r->n_flags)
		fputs("none", f);
	for (size_t i = 0; i < r->n_flags; i++) {
		fputs("<span class=flag>", f);
		kb_html_text(f, r->flags[i]);
		fputs("</span>", f);
	}
	fputs("</p>\n", f);
	if (r->facts) {
		fputs("<p class=facts id=facts>", f);
		kb_html_text(f, r->facts);
		fputs("</p>\n", f);
	}
	fputs("</div>\n", f);
}

void kb_html_run_legend(FILE *f)
{
	fputs("<div class=legend id=run-legend>runs:", f);
	for (int c = 0; c < KB_HTML_RUN_N; c++)
		fprintf(f, "<span class=sw style='background:%s'></span>%s", run_style[c].colour,
			run_style[c].text);
	fputs("</div>\n", f);
}

void kb_html_evidence_begin(FILE *f, const char *const *extra_cols, size_t n_extra,
			    const char *p_col)
{
	fputs("<table id=evidence><tr><th>commit</th><th>subject</th><th>signature</th>", f);
	for (size_t i = 0; i < n_extra; i++) {
		fputs("<th>", f);
		kb_html_text(f, extra_cols[i]);
		fputs("</th>", f);
	}
	fputs("<th>verdict</th><th>tests and runs</th><th>", f);
	kb_html_text(f, p_col ? p_col : "P");
	fputs("</th><th>note</th></tr>\n", f);
}

static void test_bar(FILE *f, const kb_html_test *t)
{
	unsigned total = 0;

	for (size_t k = 0; k < t->n_runs; k++)
		total += t->runs[k].count ? t->runs[k].count : 1;
	fputs("<div class=test>", f);
	if (t->label) {
		fputs("<span class=tlab>", f);
		kb_html_text(f, t->label);
		fputs("</span>", f);
	}
	fputs("<div class=bar>", f);
	for (size_t k = 0; k < t->n_runs; k++) {
		const kb_html_run *r = &t->runs[k];
		unsigned n = r->count ? r->count : 1;
		const char *tag = r->href ? "a" : "span";
		fprintf(f, "<%s class='seg %s' style='width:%.2f%%'", tag,
			run_style[run_cls(r->cls)].cls, total ? 100.0 * n / total : 0);
		if (r->href) {
			fputs(" href=\"", f);
			kb_html_text(f, r->href);
			fputs("\"", f);
		}
		fputs(" title=\"", f);
		if (n > 1)
			fprintf(f, "%u x ", n);
		kb_html_text(f, r->title && *r->title ? r->title : run_style[run_cls(r->cls)].text);
		fprintf(f, "\"></%s>", tag);
	}
	fputs("</div>", f);
	/* the runs in words, for reading without hovering (crash titles once each) */
	fputs("<span class=cons>", f);
	for (size_t k = 0, shown = 0; k < t->n_runs && shown < 3; k++) {
		const kb_html_run *r = &t->runs[k];
		int dup = 0;
		if (run_cls(r->cls) == KB_HTML_RUN_OK || !r->title || !*r->title)
			continue;
		for (size_t j = 0; j < k; j++)
			dup |= t->runs[j].title && !strcmp(t->runs[j].title, r->title);
		if (dup)
			continue;
		fputs(shown++ ? "; " : "", f);
		kb_html_text(f, r->title);
	}
	fputs("</span></div>", f);
}

void kb_html_evidence_row(FILE *f, const kb_html_row *r)
{
	static const char *vcls[] = { "none", "crash", "clean", "skip" };
	int v = r->verdict >= 0 && r->verdict <= KB_HTML_V_SKIP ? r->verdict : 0;

	fprintf(f, "<tr%s><td>", r->highlight ? " class=culprit" : "");
	kb_html_commit(f, r->commit, r->commit_url, 12);
	fputs("</td><td class=subj>", f);
	kb_html_text(f, r->subject);
	fputs("</td><td class=mono>", f);
	if (r->signature && *r->signature) {
		fputs("<span title=\"", f);
		kb_html_text(f, r->signature);
		fprintf(f, "\">%.12s</span>", r->signature);
	} else {
		fputs("-", f);
	}
	fputs("</td>", f);
	for (size_t i = 0; i < r->n_extra; i++) {
		fputs("<td>", f);
		kb_html_text(f, r->extra[i]);
		fputs("</td>", f);
	}
	fprintf(f, "<td><span class='b %s'>", vcls[v]);
	kb_html_text(f, r->verdict_word ? r->verdict_word : "-");
	fputs("</span></td><td>", f);
	for (size_t t = 0; t < r->n_tests; t++)
		test_bar(f, &r->tests[t]);
	if (r->p >= 0)
		fprintf(f, "</td><td>%.4f</td><td class=note>", r->p);
	else
		fputs("</td><td>-</td><td class=note>", f);
	kb_html_text(f, r->note);
	fputs("</td></tr>\n", f);
}

void kb_html_evidence_end(FILE *f)
{
	fputs("</table>\n", f);
}

void kb_html_end(FILE *f, const char *generator)
{
	fputs("<footer>Generated by ", f);
	kb_html_text(f, generator);
	fputs(".</footer>\n</body></html>\n", f);
}

int kb_html_write_file(const char *path, int (*body)(FILE *f, void *ctx), void *ctx)
{
	char tmp[4200];
	FILE *f;
	int fd, rc;

	if (!path || !body)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_OS, "kb_html_write_file: no path");
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_OS,
				     "html file name '%.64s...' is too long", path);
	if ((fd = mkstemp(tmp)) < 0)
		return kb_error_os("cannot create html report '%s'; check that its directory "
				   "exists and is writable", path);
	if (!(f = fdopen(fd, "w"))) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return kb_error_os("cannot write html report '%s'", path);
	}
	rc = body(f, ctx);
	if (rc) {
		fclose(f);
		unlink(tmp);
		return rc;
	}
	if (ferror(f) | fclose(f)) {
		unlink(tmp);
		return kb_error_os("cannot write html report '%s'", path);
	}
	if (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return kb_error_os("cannot replace html report '%s'", path);
	}
	return 0;
}
