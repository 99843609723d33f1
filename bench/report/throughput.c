/*
 * bench/report/throughput.c - console parsing speed: kb_report_parse() and the streaming
 * scanner over a large console (real boot logs repeated, a real oops at the end), against
 * a same-run baseline that only splits lines and looks for one header with strstr().
 * usage: throughput <boot-log> <oops-log> [MiB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kbisect/report.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	char *b;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc(*n + 1);
	if (fread(b, 1, *n, f) != *n)
		*n = 0;
	fclose(f);
	return b;
}

static size_t baseline(const char *buf, size_t len)
{
	char line[4097];
	size_t hits = 0, pos = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, k = end - pos;
		if (k > 4096)
			k = 4096;
		memcpy(line, buf + pos, k);
		line[k] = '\0';
		hits += strstr(line, "BUG:") != NULL;
		pos = end + 1;
	}
	return hits;
}

static double median(double *v, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (v[j] < v[i]) {
				double t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	return v[n / 2];
}

int main(int argc, char **argv)
{
	size_t bn, on, len = 0, want;
	char *boot, *oops, *con;
	double tb[5], tp[5], ts[5];
	kb_report r;
	volatile size_t sink = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: throughput <boot-log> <oops-log> [MiB]\n");
		return 129;
	}
	boot = slurp(argv[1], &bn);
	oops = slurp(argv[2], &on);
	if (!boot || !oops || !bn || !on) {
		fprintf(stderr, "throughput: cannot read '%s' or '%s'\n", argv[1], argv[2]);
		return 1;
	}
	want = (size_t)(argc > 3 ? atof(argv[3]) : 10) << 20;
	con = malloc(want + on + 1);
	while (len + bn < want) {
		memcpy(con + len, boot, bn);
		len += bn;
	}
	memcpy(con + len, oops, on);
	len += on;

	for (int i = 0; i < 5; i++) {
		double t0 = now();
		sink += baseline(con, len);
		tb[i] = now() - t0;

		t0 = now();
		if (kb_report_parse(&r, con, len, NULL) != 0 || r.klass != 1) {
			fprintf(stderr, "throughput: no crash found in the test console\n");
			return 1;
		}
		tp[i] = now() - t0;
		if (i == 0)
			printf("title: %s\n", r.title);
		kb_report_free(&r);

		t0 = now();
		{
			kb_report_scanner *s;
			kb_report_scanner_new(&s);
			for (size_t p = 0; p < len; p += 65536)
				kb_report_scan_chunk(s, con + p, len - p < 65536 ? len - p : 65536);
			kb_report_scanner_free(s);
		}
		ts[i] = now() - t0;
	}
	{
		double mb = len / 1048576.0, b = median(tb, 5), p = median(tp, 5),
		       s = median(ts, 5);
		printf("console: %.1f MiB, %zu-byte oops at the end\n", mb, on);
		printf("baseline (split lines + strstr \"BUG:\"): %8.1f MiB/s\n", mb / b);
		printf("kb_report_parse:                        %8.1f MiB/s  (%.2fx baseline time)\n",
		       mb / p, p / b);
		printf("kb_report_scan_chunk (64 KiB chunks):   %8.1f MiB/s  (%.2fx baseline time)\n",
		       mb / s, s / b);
	}
	free(con);
	free(boot);
	free(oops);
	return (int)(sink & 0);
}
