/*
 * tests/fuzz/fuzz_elf_signature.c - fuzz the kernel-signature ELF walk
 * (kb_signature_buf): any input must give 0 or KB_EINVAL, never a crash or a read
 * outside the buffer (ASan).
 */
#include <stdint.h>
#include <stdlib.h>

#include "kbisect/error.h"
#include "kbisect/signature.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kb_key sig;
	size_t n = 0;
	int rc = kb_signature_buf(&sig, &n, data, size, "fuzz");

	if (rc != KB_OK && rc != KB_EINVAL)
		abort();
	return 0;
}
