/*
 * kbisect/signature.h - kernel signatures: a hash of what a kernel does at run time.
 *
 * Computed exactly as syzkaller's elfBinarySignature (pkg/build/linux.go), so that our
 * signatures compare equal to the "kernel signature:" lines of syzbot bisection logs:
 * walk the sections of the unstripped vmlinux in section-header order, skip those
 * without SHF_ALLOC and those of type SHT_NOBITS or SHT_NOTE, feed the file bytes of
 * every remaining section into one SHA-256, in that order. Debug info, symbols, .bss
 * and the build-id note do not count, so two builds that differ only in those have
 * the same signature.
 */
#ifndef KBISECT_SIGNATURE_H
#define KBISECT_SIGNATURE_H

#include <stddef.h>

#include "kbisect/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Kernel signature of the ELF file at vmlinux_path into *out (the file is mapped, not
 * read into memory).
 * @return 0, KB_ENOTFOUND (no such file), KB_EINVAL (not an ELF file, truncated, a
 *         section outside the file, no section headers), KB_ERROR (I/O error) */
int kb_signature_file(kb_key *out, const char *vmlinux_path);

/** Kernel signature of an ELF image in memory; name (may be NULL) is used in error
 * messages; *n_sections (may be NULL) gets the number of sections hashed.
 * @return 0, KB_EINVAL (malformed, as for kb_signature_file()) */
int kb_signature_buf(kb_key *out, size_t *n_sections, const void *data, size_t len,
		     const char *name);

#ifdef __cplusplus
}
#endif
#endif
