/*
 * tests/fuzz/fuzz_cache_records.c - what the cache reads back from disk: build records
 * and test runs (JSON) and chunk values (header, checksum, zstd frame, delta window).
 * First byte picks the parser; the rest is its input. Must never crash or overread;
 * a chunk that decodes must have passed its checksum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/cache.h"
#include "cache/cache_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t base[65536], out[KB_CHUNK_SIZE];
	kb_build_record rec;
	kb_test_run run;
	size_t n = 0;

	if (size < 1)
		return 0;
	for (size_t i = 0; i < sizeof(base); i++)
		base[i] = (uint8_t)(i * 131 + 7);
	switch (data[0] % 3) {
	case 0:
		if (kb_cache__build_parse(&rec, data + 1, size - 1) == 0) {
			if (rec.n_artifacts > KB_BUILD_MAX_ARTIFACTS)
				abort();
			kb_build_record_clear(&rec);
		}
		break;
	case 1:
		if (kb_cache__run_parse(&run, data + 1, size - 1) == 0 &&
		    (run.klass < KB_RUN_OK || run.klass > KB_RUN_BOOT_FAILURE))
			abort();
		break;
	case 2:
		if (kb_cache__chunk_check(data + 1, size - 1, base, sizeof(base), out, sizeof(out),
					  &n) == 0 && n > sizeof(out))
			abort();
		break;
	}
	return 0;
}
