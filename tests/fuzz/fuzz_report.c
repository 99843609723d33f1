/*
 * tests/fuzz/fuzz_report.c - libFuzzer target for the console parser (report/report.c):
 * kb_report_parse() under every run end, the streaming parser fed in uneven chunks (it
 * must agree with the whole parse), the streaming scanner, ALT titles and title matching
 * of what was found, and title normalisation of the input's first line. Checks
 * invariants, not titles. The corpus holds a console per report rule (fmt-*).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/common.h"
#include "kbisect/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *con = (const char *)data;
	kb_report r;
	kb_report_ctx ctx = { 0 };
	kb_report_scanner *s;
	char line[512], title[KB_REPORT_TITLE_MAX];
	size_t n;

	ctx.end = size ? data[0] % 7 : 0;
	ctx.prog_output = con;
	ctx.prog_output_len = size / 2;
	if (kb_report_parse(&r, con, size, &ctx) == 0) {
		if (r.klass < KB_RUN_OK || r.klass > KB_RUN_BOOT_FAILURE)
			abort();
		if (r.klass == KB_RUN_CRASH && (!r.report || r.start >= r.end || r.end > size))
			abort();
		if (strlen(r.title) > 120)
			abort();
		if (r.klass == KB_RUN_INFRA && !kb_report_title_is_infra(r.title))
			abort();
		if (r.nalt < 0 || r.nalt > KB_REPORT_ALT_MAX)
			abort();
		for (int k = 0; k < r.nalt; k++)
			if (strlen(r.alt[k]) > 120 || !strcmp(r.alt[k], r.title))
				abort();
		if (r.klass == KB_RUN_CRASH) {
			char alt[KB_REPORT_ALT_MAX][KB_REPORT_TITLE_MAX];
			int na = kb_report_alt_titles(r.title, alt, KB_REPORT_ALT_MAX);
			if (na < 0 || na > KB_REPORT_ALT_MAX || !kb_report_title_matches(r.title, r.title))
				abort();
			for (int k = 0; k < na; k++)
				if (!kb_report_title_matches(r.title, alt[k]))
					abort();
		}
		/* the streaming parser, in uneven chunks, finds the same */
		{
			kb_report_parser *p;
			kb_report r2;
			if (kb_report_parser_new(&p) == 0) {
				for (size_t i = 0; i < size;) {
					size_t k = 1 + (data[i] % 61);
					if (k > size - i)
						k = size - i;
					kb_report_parser_feed(p, con + i, k);
					i += k;
				}
				if (kb_report_parser_finish(&r2, p, &ctx) == 0) {
					if (r2.klass != r.klass || strcmp(r2.title, r.title) ||
					    r2.corrupted != r.corrupted || r2.start != r.start ||
					    r2.end != r.end)
						abort();
					kb_report_free(&r2);
				}
				kb_report_parser_free(p);
			}
		}
		kb_report_free(&r);
	}

	if (kb_report_scanner_new(&s) == 0) {
		int prev = 0;
		for (size_t i = 0; i < size;) {
			size_t k = 1 + (data[i] % 97);
			int st;
			if (k > size - i)
				k = size - i;
			st = kb_report_scan_chunk(s, con + i, k);
			if (st < prev || st > KB_SCAN_DONE)
				abort();
			prev = st;
			i += k;
		}
		kb_report_scanner_free(s);
	}

	n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	if (kb_report_normalize_title(title, sizeof(title), line) == 0 && strlen(title) > 120)
		abort();
	return 0;
}
