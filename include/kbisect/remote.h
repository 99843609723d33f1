/*
 * kbisect/remote.h - the client of a shared cache server (`kbisect cache serve`, or any
 * Bazel HTTP remote cache for objects): a second tier behind the local cache.
 *
 * Open a handle with kb_remote_open() and attach it to a cache with
 * kb_cache_set_remote(): from then on that cache's get/put/record calls read through
 * and write through by themselves (see kb_cache_set_tier() in kbisect/cache.h). The
 * remote can never fail a caller: the first transport error, timeout or server error
 * marks the handle failed for the rest of the run, and from then on it is skipped;
 * errors and timeouts are counted in kb_remote_stats. A handle is safe to use from
 * several threads (calls are serialized). Nothing here is picked up implicitly: the
 * command line decides which server to use (--remote, $KBISECT_REMOTE, its config).
 * Ownership: kb_remote_open() gives you the handle; kb_remote_free() it, after the
 * caches it is attached to are closed or detached.
 */
#ifndef KBISECT_REMOTE_H
#define KBISECT_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"
#include "kbisect/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_remote kb_remote; /* one server (base URL, token, connection) */

/** Options of kb_remote_open(); zero-initialise and set what you need. */
typedef struct {
	const char *token;               /**< bearer token; NULL: $KBISECT_REMOTE_TOKEN or
					    token_file or none */
	const char *token_file;          /**< file whose first line is the token */
	const char *ca_file;             /**< PEM CA bundle for https (NULL: system) */
	unsigned int connect_timeout_ms; /**< 0: 1000 */
	unsigned int timeout_s;          /**< limit for small requests (records); 0: 10 */
	unsigned int stall_s;            /**< abort a transfer below 1 KiB/s for this long;
					    0: 10 */
} kb_remote_opts;

/** Counters of one handle (what `stats` prints about the remote). */
typedef struct {
	uint64_t requests;    /**< HTTP requests sent */
	uint64_t hits;        /**< entries found on the server */
	uint64_t misses;      /**< entries the server did not have */
	uint64_t uploads;     /**< entries sent to the server */
	uint64_t errors;      /**< transport errors, server errors, refused tokens */
	uint64_t timeouts;    /**< connect or transfer timeouts */
	uint64_t corrupt;     /**< downloads whose SHA-256 did not match (not stored) */
	uint64_t bytes_in, bytes_out;
	int failed;           /**< 1: disabled for the rest of the run */
	char last_error[256]; /**< why it failed ("" if it did not) */
} kb_remote_stats;

/** Connect lazily to the server at url ("http://host:port[/prefix]" or https).
 * @return 0, KB_EINVAL (not an http(s) URL, unreadable token file) */
int kb_remote_open(kb_remote **out, const char *url, const kb_remote_opts *opts);

/** Close the handle; NULL ok. */
void kb_remote_free(kb_remote *r);

/** The base URL (borrowed), without a trailing '/'. */
const char *kb_remote_url(const kb_remote *r);

/** Copy the counters of r into *out (all zero for NULL). */
void kb_remote_stats_get(kb_remote_stats *out, kb_remote *r);

/** Print the counters as "remote: ..." lines to out; NULL r ok (prints nothing). */
void kb_remote_stats_print(FILE *out, kb_remote *r);

/** GET the server's /status document into *out (malloc'd JSON; free() it).
 * @return 0, KB_ERROR (unreachable or refused: kb_error_last() says why) */
int kb_remote_status_json(char **out, kb_remote *r);

/** Attach r as the second tier of cache c (NULL r detaches): see kb_cache_set_tier().
 * r must stay open while c uses it. */
void kb_cache_set_remote(kb_cache *c, kb_remote *r);

/** Send a build record already stored in local (and its artifacts found there) to the
 * server only: `kbisect remote push`. Not a kb_cache_* call because it must not write
 * the local record again (kb_cache_build_put() with a remote attached would). Returns 0
 * also when r is NULL or failed (counted in its stats). */
int kb_remote_build_push(kb_remote *r, kb_cache *local, const kb_build_record *rec);

/** DELETE the server's build record of build_key (`kbisect cache forget --remote`);
 * needs a read-write token. @return 0 (dropped), KB_ENOTFOUND (the server had none),
 * KB_EUNSUPPORTED (no such route there: an older server, a plain Bazel cache),
 * KB_ERROR (unreachable or refused; kb_error_last() says why) */
int kb_remote_build_forget(kb_remote *r, const kb_key *build_key);

#ifdef __cplusplus
}
#endif
#endif
