/*
 * kbisect/remote.h - the client of a shared cache server (`kbisect cache serve`, or any
 * Bazel HTTP remote cache for objects): a second tier behind the local cache.
 *
 * The two-tier functions below take the local cache and a remote handle that may be
 * NULL (local only). Reads go to the local cache first and, on a miss, to the server
 * (read-through: what is found is stored locally). Writes go to the local cache and
 * then to the server (write-through). The remote can never fail a caller: the first
 * transport error, timeout or server error marks the handle failed for the rest of the
 * run, and from then on it is skipped; errors and timeouts are counted in
 * kb_remote_stats. A handle is safe to use from several threads (calls are serialized).
 * Ownership: kb_remote_open() gives you the handle; kb_remote_close() it.
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

/** Open the configured remote: url_opt (a --remote option) if not NULL, else
 * $KBISECT_REMOTE, else "remote = URL" in $KBISECT_CONFIG or ~/.config/kbisect/config
 * (which may also set "remote-token-file" and "remote-ca"). *out is NULL (and 0 is
 * returned) when no remote is configured. */
int kb_remote_open_default(kb_remote **out, const char *url_opt);

/** The process-wide remote: opened on first use from $KBISECT_REMOTE or the config
 * file (as kb_remote_open_default(NULL)), closed at exit; NULL when none is configured
 * (or the configuration is bad: a warning goes to stderr once). Thread-safe. Lets any
 * module go two-tier by passing kb_remote_default() to the functions below. */
kb_remote *kb_remote_default(void);

/** Close the handle; NULL ok. */
void kb_remote_close(kb_remote *r);

/** The base URL (borrowed), without a trailing '/'. */
const char *kb_remote_url(const kb_remote *r);

/** Copy the counters of r into *out (all zero for NULL). */
void kb_remote_stats_get(kb_remote_stats *out, kb_remote *r);

/** Print the counters as "remote: ..." lines to out; NULL r ok (prints nothing). */
void kb_remote_stats_print(FILE *out, kb_remote *r);

/** GET the server's /status document into *out (malloc'd JSON; free() it).
 * @return 0, KB_ERROR (unreachable or refused: kb_error_last() says why) */
int kb_remote_status_json(char **out, kb_remote *r);

/* ---- objects ---- */

/** Make object id present locally: local hit, else download /cas/<id> into the local
 * cache (checked against id). @return 0, KB_ENOTFOUND (nowhere), or a local error */
int kb_remote_object_ensure(kb_remote *r, kb_cache *local, const kb_key *id);

/** Send object id from the local cache to the server unless it has it already (HEAD).
 * @return 0 (also when the remote is failed or NULL), KB_ENOTFOUND (not local) */
int kb_remote_object_push(kb_remote *r, kb_cache *local, const kb_key *id);

/** kb_cache_get_file() with read-through. */
int kb_remote_get_file(kb_remote *r, kb_cache *local, const kb_key *id, const char *path);

/** kb_cache_put_file() with write-through. */
int kb_remote_put_file(kb_key *out_id, kb_remote *r, kb_cache *local, const char *path,
		       const kb_put_opts *opts);

/* ---- action cache (/ac/): key -> object, as ccache and Bazel use it ---- */

/** Look up reference key in KB_REF_AC: local, else the server's /ac/<key> (whose body
 * is stored locally and the reference set). @return 0, KB_ENOTFOUND */
int kb_remote_ac_get(kb_key *out_id, kb_remote *r, kb_cache *local, const kb_key *key);

/** Set reference key -> id locally and upload the object under /ac/<key>. */
int kb_remote_ac_set(kb_remote *r, kb_cache *local, const kb_key *key, const kb_key *id);

/* ---- records ---- */

/** kb_cache_build_get() with read-through: a record found on the server is stored
 * locally (its artifacts are fetched later, by kb_remote_get_file()). */
int kb_remote_build_get(kb_build_record *out, kb_remote *r, kb_cache *local,
			const kb_key *build_key);

/** kb_cache_build_put() with write-through: artifacts first, then the record. */
int kb_remote_build_put(kb_remote *r, kb_cache *local, const kb_build_record *rec);

/** Send a build record (and its artifacts found locally) to the server only. */
int kb_remote_build_push(kb_remote *r, kb_cache *local, const kb_build_record *rec);

/** kb_cache_builds_by_signature() over both tiers (union; remote records copied in). */
int kb_remote_builds_by_signature(kb_key **out, size_t *n, kb_remote *r, kb_cache *local,
				  const kb_key *sig);

/** kb_cache_test_add() with write-through (the console object is pushed too). */
int kb_remote_test_add(kb_remote *r, kb_cache *local, const kb_key *test_key,
		       const kb_test_run *run);

/** kb_cache_test_list() after merging the server's runs of test_key into the local
 * cache (runs already present are not added twice). */
int kb_remote_test_list(kb_test_run **out, size_t *n, kb_remote *r, kb_cache *local,
			const kb_key *test_key);

#ifdef __cplusplus
}
#endif
#endif
