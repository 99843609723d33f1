/*
 * kbisect/common.h - small value types shared by every kbisect module: the 32-byte
 * SHA-256 key and its hex form, version information.
 */
#ifndef KBISECT_COMMON_H
#define KBISECT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KB_VERSION_STRING "0.1.0"

/** A SHA-256 digest: object id, build key, test key or kernel signature. */
typedef struct {
	uint8_t b[32];
} kb_key;

/** Length of a key in hex, without the terminating NUL. */
#define KB_KEY_HEXLEN 64

/** Write key as 64 lowercase hex digits plus NUL into out (65 bytes). */
void kb_key_to_hex(char out[KB_KEY_HEXLEN + 1], const kb_key *key);

/** Parse exactly 64 hex digits (either case) into *out; 0 or KB_EINVAL. */
int kb_key_from_hex(kb_key *out, const char *hex);

/** 1 if the two keys are equal, else 0. */
int kb_key_equal(const kb_key *a, const kb_key *b);

/** SHA-256 of a memory buffer (OpenSSL). */
void kb_sha256(kb_key *out, const void *data, size_t len);

/** How one run of a reproducer ended (shared by vmpool, the cache and the engine).
 * Whether a crash is the *target* crash is decided by the bisect engine from its
 * title; the cache and the pool only record class and title. */
typedef enum {
	KB_RUN_OK = 0,           /**< reproducer finished, no crash report */
	KB_RUN_CRASH = 1,        /**< kernel crash report (title set) */
	KB_RUN_INFRA = 2,        /**< failure of the test setup: SYZFAIL, lost connection, QEMU died */
	KB_RUN_BOOT_FAILURE = 3, /**< the kernel did not boot to the agent */
} kb_run_class;

/** Stable lowercase name of a kb_run_class ("ok", "crash", "infra", "boot_failure"). */
const char *kb_run_class_name(int klass);

/** Parse a name of kb_run_class_name(); the class, or -1. */
int kb_run_class_parse(const char *name);

/** SHA-256 of a file's bytes, read in 1 MiB pieces. @return 0, or KB_ENOTFOUND /
 * KB_ERROR with a message naming the file */
int kb_sha256_file(kb_key *out, const char *path);

/** The version string of this build of kbisect ("0.1.0"). */
const char *kb_version(void);

#ifdef __cplusplus
}
#endif
#endif
