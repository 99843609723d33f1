/*
 * net/wire.h - the bodies of the shared cache's kbisect routes (/kb/v1/...), shared by
 * the server (net/server.c) and its client (net/remote.c): build records, test runs,
 * key lists, and which uploaded runs are new. Records are encoded by the cache's one
 * codec (cache/record_codec.h) in its wire form.
 */
#ifndef KB_NET_WIRE_H
#define KB_NET_WIRE_H

#include <stddef.h>

#include "kbisect/cache.h"

/** Encode a build record as a JSON object (malloc'd string). NULL on failure. */
char *kb_cache__wire_build_encode(const kb_build_record *rec);

/** Decode a build record; *out must be cleared with kb_build_record_clear().
 * @return 0, KB_EINVAL (malformed: kb_error_last() says which field) */
int kb_cache__wire_build_decode(kb_build_record *out, const char *json, size_t len);

/** Encode n test runs as a JSON array (malloc'd string). NULL on failure. */
char *kb_cache__wire_runs_encode(const kb_test_run *runs, size_t n);

/** Decode a JSON array of test runs (*out malloc'd, free() it). 0 or KB_EINVAL. */
int kb_cache__wire_runs_decode(kb_test_run **out, size_t *n, const char *json, size_t len);

/** Encode keys as a JSON array of hex strings (malloc'd). NULL on failure. */
char *kb_cache__wire_keys_encode(const kb_key *keys, size_t n);

/** Decode a JSON array of hex keys (*out malloc'd). 0 or KB_EINVAL. */
int kb_cache__wire_keys_decode(kb_key **out, size_t *n, const char *json, size_t len);

/** 1 if two runs are the same evidence (all fields equal), else 0. */
int kb_cache__wire_run_equal(const kb_test_run *a, const kb_test_run *b);

/** Which of n_in uploaded runs are new: keep[i] = 1 for the first of each group of
 * equal runs (kb_cache__wire_run_equal) that has no equal among the n_have stored
 * ones, else 0. O(n log n). 0, or KB_ERROR (out of memory). */
int kb_cache__wire_runs_new(unsigned char *keep, const kb_test_run *in, size_t n_in,
			    const kb_test_run *have, size_t n_have);

#endif
