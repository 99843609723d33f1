/*
 * cache/record_codec.h - the one codec of build records and test runs (JSON): the
 * form stored in the cache and the form sent between the server and its client.
 * Included by cache/records.c (the store) and net/wire.c (the wire bodies); nothing
 * else encodes or decodes a record. Not a public header (include/kbisect/): the forms
 * are formats on disk and on the wire, not an API for the library's users; and not
 * cache_internal.h, so that net/ sees the codec without the body of struct kb_cache.
 */
#ifndef KB_CACHE_RECORD_CODEC_H
#define KB_CACHE_RECORD_CODEC_H

#include <stddef.h>
#include <jansson.h>

#include "kbisect/cache.h"

/** The two forms of a record: the same fields under the same names; they differ in
 * framing and in what a decoder does with a field it cannot use. */
enum kb_rec_form {
	/** A value in the store: keys sorted, a build record carries "v": 1. A bad
	 * optional field is skipped; a record that is not an object, or a build record
	 * without a valid build key, is KB_ECORRUPT without a message (the caller names
	 * the record). */
	KB_REC_STORED = 0,
	/** A body on the wire: keys in the order written. Any bad field is KB_EINVAL with
	 * a message naming it (the peer speaks another wire format). */
	KB_REC_WIRE = 1,
};

/** Encode a build record in form (malloc'd string); NULL when out of memory. */
char *kb_cache__rec_build_encode(const kb_build_record *rec, enum kb_rec_form form);

/** Decode a build record in form; *out must be cleared with kb_build_record_clear().
 * @return 0, KB_ECORRUPT (stored form) or KB_EINVAL (wire form) */
int kb_cache__rec_build_decode(kb_build_record *out, const void *data, size_t len,
			       enum kb_rec_form form);

/** Encode one test run in the stored form (one value per run; malloc'd). NULL: OOM. */
char *kb_cache__rec_run_encode(const kb_test_run *run);

/** Decode one stored test run. 0 or KB_ECORRUPT (not a JSON object); a class it does
 * not know reads as KB_RUN_INFRA. */
int kb_cache__rec_run_decode(kb_test_run *out, const void *data, size_t len);

/** Encode n test runs in the wire form: a JSON array (malloc'd). NULL: OOM. */
char *kb_cache__rec_runs_encode(const kb_test_run *runs, size_t n);

/** Decode the wire form of test runs (*out malloc'd, free() it). 0, KB_EINVAL (a run
 * without a valid class, a bad console key, not an array) or KB_ERROR (OOM). */
int kb_cache__rec_runs_decode(kb_test_run **out, size_t *n, const void *data, size_t len);

/** Parse a wire body that must be a JSON array and allocate one zeroed element of size
 * bytes per item (at least one). 0 with *arr (json_decref() it) and *items (free() it);
 * KB_EINVAL with the message not_array, or KB_ERROR "cannot allocate <n> <what>". */
int kb_cache__rec_array_load(json_t **arr, void **items, size_t *cnt, size_t size,
			     const void *data, size_t len, const char *not_array,
			     const char *what);

#endif
