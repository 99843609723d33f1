/*
 * tests/fuzz/fuzz_depset.c - fuzz the Kbuild .cmd parser and the stored dependency-set
 * parser (builder/depset.c): no crash, no out-of-bounds read, and a parsed set always
 * survives a serialise/parse round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "builder/build_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kb_depset *d = NULL, *back = NULL;
	char *text = NULL;
	size_t len = 0;

	if (kb_depset__new(&d) != KB_OK)
		return 0;
	if (kb_depset__parse_cmd(d, (const char *)data, size, NULL) == KB_OK) {
		(void)kb_depset__affects(d, "include/linux/init.h", 1);
		if (kb_depset__serialize(&text, &len, d) == KB_OK) {
			if (kb_depset__parse(&back, text, len) != KB_OK ||
			    kb_depset__count(back) != kb_depset__count(d))
				abort();
			kb_depset__free(back);
			free(text);
		}
	}
	kb_depset__free(d);
	if (kb_depset__parse(&back, (const char *)data, size) == KB_OK)
		kb_depset__free(back);
	return 0;
}
