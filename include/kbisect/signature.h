/*
 * kbisect/signature.h - kernel signatures: a hash of what a kernel does at run time.
 *
 * Computed exactly as syzkaller's elfBinarySignature (pkg/build/linux.go), so that our
 * signatures compare equal to the "kernel signature:" lines of syzbot bisection logs:
 * walk the sections of the unstripped vmlinux in section-header order, skip those
 * without SHF_ALLOC and those of type SHT_NOBITS or SHT_NOTE; the signature is the
 * SHA-256 of the concatenated SHA-256 digests (32 raw bytes each) of the remaining
 * sections' file bytes, in that order (syzkaller since commit 7d5020531, 2022-06-23,
 * and every syzbot log since). The legacy algorithm (syzkaller before that commit, for
 * older logs) feeds the sections' bytes into one SHA-256 instead. Debug info, symbols,
 * .bss and the build-id note do not count, so two builds that differ only in those
 * have the same signature.
 */
#ifndef KBISECT_SIGNATURE_H
#define KBISECT_SIGNATURE_H

#include <stddef.h>

#include "kbisect/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which version of syzkaller's elfBinarySignature. */
typedef enum {
	KB_SIG_SYZKALLER = 0, /**< today's: SHA-256 over the sections' SHA-256 digests */
	KB_SIG_LEGACY = 1,    /**< before 2022-06-23: one SHA-256 over the sections' bytes */
} kb_sig_algo;

/** Kernel signature of the ELF file at vmlinux_path into *out (today's algorithm) (the file is mapped, not
 * read into memory).
 * @return 0, KB_ENOTFOUND (no such file), KB_EINVAL (not an ELF file, truncated, a
 *         section outside the file, no section headers), KB_ERROR (I/O error) */
int kb_signature_file(kb_key *out, const char *vmlinux_path);

/** kb_signature_file() with the algorithm of your choice. @return as there */
int kb_signature_file_algo(kb_key *out, const char *vmlinux_path, kb_sig_algo algo);

/** kb_signature_buf() with the algorithm of your choice. @return as there */
int kb_signature_buf_algo(kb_key *out, size_t *n_sections, const void *data, size_t len,
			  const char *name, kb_sig_algo algo);

/** Kernel signature (today's algorithm) of an ELF image in memory; name (may be NULL) is used in error
 * messages; *n_sections (may be NULL) gets the number of sections hashed.
 * @return 0, KB_EINVAL (malformed, as for kb_signature_file()) */
int kb_signature_buf(kb_key *out, size_t *n_sections, const void *data, size_t len,
		     const char *name);

#ifdef __cplusplus
}
#endif
#endif
