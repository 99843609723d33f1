/*
 * tests/fuzz/fuzz_qmp.c - the QMP message parser (vmpool/qmp.c) on arbitrary lines:
 * it must classify or reject every line (KB_EINVAL), never crash or leak.
 */
#include <stdint.h>
#include <string.h>

#include "vmpool/vmpool_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		kb_qmp_msg m;

		if (kb_qmp__parse(&m, p, len) == 0) {
			if (m.kind < KB_QMP_GREETING || m.kind > KB_QMP_EVENT)
				__builtin_trap();
			if (strlen(m.name) >= sizeof(m.name) || strlen(m.desc) >= sizeof(m.desc))
				__builtin_trap();
			(void)kb_qmp__shutdown_reason(&m);
			kb_qmp__msg_clear(&m);
		} else if (m.json) {
			__builtin_trap(); /* nothing owned after a failure */
		}
		p += len + 1;
	}
	return 0;
}
