/*
 * common/html_chart.c - the charts of kbisect's report pages (kbisect/html.h), drawn as
 * inline SVG: the timeline per worker (builds and tests on a time axis with ticks, a
 * legend, dashed marks such as "resumed") and the probability mass per round (a
 * stacked bar per round, a colour per top commit, a legend naming them).
 * Owns: the geometry and colours of the charts.
 * Not: the rest of the page (common/html.c), what the bars stand for (the callers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/html.h"
#include "html_internal.h"

#define LEFT 80.0   /* room for the row labels */
#define PLOT 1000.0 /* width of the time or probability axis */
#define ROW 24.0    /* height of a worker's or a round's row */

#define BUILD_COLOUR "#4a78c2"
#define FAILED_COLOUR "#424242"

/* mass chart: a colour per top commit (at most MASS_COLOURS), grey for the rest */
#define MASS_COLOURS 8
static const char *mass_palette[MASS_COLOURS] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
};
#define MASS_REST "#c7c7c7"
#define MASS_MIN 0.01 /* a commit that never held this much gets no colour of its own */

/* smallest whole number >= x (x >= 0; no libm in kb_common) */
static double up(double x)
{
	double w = (double)(long long)x;
	return w < x ? w + 1 : w;
}

/* a tick step of 1, 2 or 5 x 10^k seconds giving at most 10 ticks over T */
static double tick_step(double T)
{
	static const double steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
					3600, 7200, 10800, 21600, 43200, 86400 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (T / steps[i] <= 10)
			return steps[i];
	return 86400 * up(T / 86400 / 10);
}

static void fmt_time(char *buf, size_t len, double s)
{
	long t = (long)(s + 0.5);

	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, t % 60 ? "%ldm%02lds" : "%ldm", t / 60, t % 60);
	else
		snprintf(buf, len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
}

static void svg_rect(FILE *f, const char *cls, const char *fill, double x, double y, double w,
		     double h, const char *tip)
{
	if (w < 1.5)
		w = 1.5; /* a test taken from the cache still shows */
	fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		   "fill=\"%s\"><title>", cls, x, y, w, h, fill);
	kb_html_text(f, tip);
	fputs("</title></rect>\n", f);
}

void kb_html_timeline(FILE *f, const kb_html_bar *bars, size_t n, unsigned workers,
		      const double *marks, size_t n_marks, const char *mark_label,
		      const char *note)
{
	double T = 0, step, top = 4, H;
	char buf[64];

	for (size_t i = 0; i < n; i++) {
		if (bars[i].build_end > T)
			T = bars[i].build_end;
		if (bars[i].test_end > T)
			T = bars[i].test_end;
		if (bars[i].worker + 1 > workers)
			workers = bars[i].worker + 1;
	}
	if (!workers)
		workers = 1;
	if (T <= 0)
		T = 1;
	step = tick_step(T);
	T = step * up(T / step - 1e-9); /* the axis ends on a tick */
	H = top + ROW * workers;
	fprintf(f, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		   "height=\"%.0f\" data-seconds=\"%.1f\">\n", LEFT + PLOT + 20, H + 34, T);
	fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#f5f5f5\"/>\n",
		LEFT, top, PLOT, ROW * workers);
	for (unsigned w = 0; w < workers; w++)
		fprintf(f, "<text x=\"0\" y=\"%.0f\">worker %u</text>\n", top + ROW * w + 16, w);
	for (double t = 0; t <= T + step / 2; t += step) {
		double x = LEFT + PLOT * t / T;
		fmt_time(buf, sizeof(buf), t);
		fprintf(f, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
			   "stroke=\"#ccc\"/><text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s"
			   "</text>\n", x, top, x, H + 4, x, H + 17, buf);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">time since the first "
		   "build</text>\n", LEFT + PLOT, H + 31);
	for (size_t i = 0; i < n; i++) {
		const kb_html_bar *b = &bars[i];
		double y = top + ROW * b->worker + 3, h = ROW - 6;
		if (b->build_end > b->build_start || !b->buildable)
			svg_rect(f, b->buildable ? "b" : "f", b->buildable ? BUILD_COLOUR : FAILED_COLOUR,
				 LEFT + PLOT * b->build_start / T, y,
				 PLOT * (b->build_end - b->build_start) / T, h, b->label);
		if (b->buildable) {
			int c = b->cls;
			const char *cls = c == KB_HTML_RUN_TARGET ? "x" : c == KB_HTML_RUN_OK ? "t" : "o";
			svg_rect(f, cls, kb_html__run_colour(c), LEFT + PLOT * b->test_start / T, y,
				 PLOT * (b->test_end - b->test_start) / T, h, b->label);
		}
	}
	for (size_t i = 0; i < n_marks; i++) {
		double x = LEFT + PLOT * marks[i] / T;
		fprintf(f, "<line class=\"mark\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
			   "stroke=\"#000\" stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%.0f\">",
			x, top, x, H, x + 3, top + 10);
		kb_html_text(f, mark_label);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n<div class=legend id=timeline-legend>", f);
	fprintf(f, "<span class=sw style='background:%s'></span>build", BUILD_COLOUR);
	fprintf(f, "<span class=sw style='background:%s'></span>test with the target crash",
		kb_html__run_colour(KB_HTML_RUN_TARGET));
	fprintf(f, "<span class=sw style='background:%s'></span>test without it",
		kb_html__run_colour(KB_HTML_RUN_OK));
	fprintf(f, "<span class=sw style='background:%s'></span>test with other crashes or "
		   "failures only", kb_html__run_colour(KB_HTML_RUN_OTHER));
	fprintf(f, "<span class=sw style='background:%s'></span>failed build", FAILED_COLOUR);
	if (n_marks) {
		fputs("<span class=sw style='background:#fff;border-style:dashed'></span>", f);
		kb_html_text(f, mark_label);
	}
	fputs("</div>\n", f);
	if (note) {
		fputs("<p class=note>", f);
		kb_html_text(f, note);
		fputs("</p>\n", f);
	}
}

/* the commits that get a colour: the likeliest of any round (at least MASS_MIN in one),
 * at most MASS_COLOURS */
static size_t mass_commits(const kb_html_round *rounds, size_t n, const char **ids,
			   double *best)
{
	size_t m = 0;

	for (size_t r = 0; r < n; r++)
		for (size_t k = 0; k < rounds[r].n_top; k++) {
			const char *id = rounds[r].commit[k];
			double p = rounds[r].p[k];
			size_t j = 0;
			while (j < m && strcmp(ids[j], id))
				j++;
			if (j < m) {
				if (p > best[j])
					best[j] = p;
			} else if (p < MASS_MIN) {
				continue; /* never a likely one: drawn with the rest */
			} else if (m < MASS_COLOURS) {
				ids[m] = id, best[m++] = p;
			} else {
				size_t low = 0;
				for (size_t i = 1; i < m; i++)
					if (best[i] < best[low])
						low = i;
				if (p > best[low])
					ids[low] = id, best[low] = p;
			}
		}
	/* likeliest first: legend order, and stable colours */
	for (size_t i = 1; i < m; i++)
		for (size_t j = i; j > 0 && best[j] > best[j - 1]; j--) {
			const char *t = ids[j];
			double b = best[j];
			ids[j] = ids[j - 1], best[j] = best[j - 1];
			ids[j - 1] = t, best[j - 1] = b;
		}
	return m;
}

void kb_html_mass(FILE *f, const kb_html_round *rounds, size_t n, const char *commit_url,
		  const char *(*subject_of)(void *ctx, const char *id), void *ctx,
		  const char *none_label)
{
	const char *ids[MASS_COLOURS];
	double best[MASS_COLOURS];
	size_t m = mass_commits(rounds, n, ids, best);
	double H = ROW * n + 4;

	if (!none_label)
		none_label = "no culprit in the range";

	fprintf(f, "<svg id=\"mass\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
		   "height=\"%.0f\">\n<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" "
		   "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect "
		   "width=\"6\" height=\"6\" fill=\"#fff\"/><rect width=\"3\" height=\"6\" "
		   "fill=\"#9e9e9e\"/></pattern></defs>\n", LEFT + PLOT + 20, H + 20);
	for (size_t r = 0; r < n; r++) {
		const kb_html_round *rd = &rounds[r];
		double x = LEFT, y = ROW * r + 4, rest = 1 - rd->none;
		fprintf(f, "<text x=\"0\" y=\"%.0f\">round %u</text>\n", y + 14, rd->round);
		for (size_t k = 0; k < rd->n_top; k++) {
			const char *fill = NULL;
			char tip[160];
			for (size_t j = 0; j < m; j++)
				if (!strcmp(ids[j], rd->commit[k]))
					fill = mass_palette[j];
			if (!fill)
				continue; /* drawn with the rest */
			snprintf(tip, sizeof(tip), "%.40s: %.4f", rd->commit[k], rd->p[k]);
			svg_rect(f, "m", fill, x, y, PLOT * rd->p[k], ROW - 6, tip);
			x += PLOT * rd->p[k];
			rest -= rd->p[k];
		}
		if (rest > 0.0005) {
			char tip[64];
			snprintf(tip, sizeof(tip), "other commits: %.4f", rest);
			svg_rect(f, "m rest", MASS_REST, x, y, PLOT * rest, ROW - 6, tip);
			x += PLOT * rest;
		}
		if (rd->none > 0.0005) {
			char tip[128];
			snprintf(tip, sizeof(tip), "%.80s: %.4f", none_label, rd->none);
			svg_rect(f, "m none", "url(#hatch)", x, y, PLOT * rd->none, ROW - 6, tip);
		}
	}
	for (int t = 0; t <= 4; t++) {
		double x = LEFT + PLOT * t / 4;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#999\"/>"
			   "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.2g</text>\n",
			x, H - 2, x, H + 3, x, H + 15, t / 4.0);
	}
	fputs("</svg>\n<div class=legend id=mass-legend>", f);
	for (size_t j = 0; j < m; j++) {
		const char *s = subject_of ? subject_of(ctx, ids[j]) : NULL;
		fprintf(f, "<div><span class=sw style='background:%s'></span>", mass_palette[j]);
		kb_html_commit(f, ids[j], commit_url, 12);
		if (s && *s) {
			fputs(" ", f);
			kb_html_text(f, s);
		}
		fprintf(f, " <span class=note>(up to %.4f)</span></div>", best[j]);
	}
	fprintf(f, "<div><span class=sw style='background:%s'></span>other commits</div>"
		   "<div><span class=sw style='background:repeating-linear-gradient(45deg,#9e9e9e 0 "
		   "2px,#fff 2px 4px)'></span>", MASS_REST);
	kb_html_text(f, none_label);
	fputs("</div></div>\n", f);
}
