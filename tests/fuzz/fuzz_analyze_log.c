/*
 * tests/fuzz/fuzz_analyze_log.c - libFuzzer target for the bisection log parser and the
 * whole audit behind it (analyze/analyze_log.c, analyze/analyze.c, analyze/analyze_out.c):
 * any bytes must parse or fail cleanly, and any parsed log must evaluate or fail cleanly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kb_analyze_log *log = NULL;
	kb_analysis *a = NULL;
	kb_analyze_opts o = { 0 };
	char *json = NULL;

	if (kb_analyze_log_parse(&log, (const char *)data, size, "fuzz") != KB_OK)
		return 0;
	o.workers = 1 + (unsigned)(size % 7);
	if (kb_analyze_run(&a, log, &o) == KB_OK) {
		if (kb_analyze_json(&json, a) != KB_OK || !json)
			abort();
		free(json);
		{
			FILE *f = fopen("/dev/null", "w");
			if (f) {
				kb_analyze_write_text(f, a);
				fclose(f);
			}
		}
	}
	kb_analyze_free(a);
	kb_analyze_log_free(log);
	return 0;
}
