/*
 * tests/helpers/kb_test.h - sandboxes for tests: temporary directories that are
 * removed afterwards, paths of the source and build trees, small file helpers, a
 * libgit2 commit of a test repository.
 * Include after <stdarg.h>, <stddef.h>, <setjmp.h> and <cmocka.h>.
 */
#ifndef KB_TEST_H
#define KB_TEST_H

#include <stddef.h>

/** Create a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *kb_test_tmpdir(const char *tag);

/** Remove a directory tree (rm -rf); NULL ok. */
void kb_test_rmrf(const char *path);

/** Remove a tree made by kb_test_tmpdir() and free the path. */
void kb_test_tmpdir_free(char *path);

/** The source tree ($KB_SOURCE_DIR, set by ctest), or "." when unset. */
const char *kb_test_source_dir(void);

/** The kbisect binary ($KBISECT, set by ctest), or NULL when unset. */
const char *kb_test_kbisect(void);

/** Write len bytes to path (creating it); 0 or -1. */
int kb_test_write_file(const char *path, const void *data, size_t len);

/** Read a whole file; *len gets its size; malloc'd, NULL on error. */
void *kb_test_read_file(const char *path, size_t *len);

/** Fill buf with deterministic pseudo-random bytes from seed. */
void kb_test_fill_random(void *buf, size_t len, unsigned int seed);

struct kb_cache;
struct git_repository;

/** Commit every file of git's work directory (added, changed or removed) on HEAD, by
 * "kbisect test" at time 1700000000 + seq; out gets the commit id (cmocka asserts). */
void kb_test_git_commit_all(struct git_repository *git, int seq, const char *msg, char out[41]);

/** A cache sandbox: a fresh directory with an open cache in it (cmocka fixture state). */
struct kb_test_cache {
	char *dir;
	struct kb_cache *c;
};

/** cmocka setup: *state becomes a struct kb_test_cache with a created cache. */
int kb_test_cache_setup(void **state);

/** cmocka teardown of kb_test_cache_setup(): closes the cache, removes the directory. */
int kb_test_cache_teardown(void **state);

/** Run a shell command; returns its exit status, or -1. */
int kb_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** The older Debian cloud kernel of scripts/fetch-kernels.sh: its bzImage into bz and
 * vmlinux into vmlinux (each of size len). 0, or -1 when none can be had (skip). */
int kb_test_kernel(char *bz, char *vmlinux, size_t len);

#endif
