/*
 * kbisect/server.h - the shared cache server: one kbisect cache served over HTTP/1.1
 * (libmicrohttpd) with the Bazel HTTP remote-cache protocol (/cas/<sha256>,
 * /ac/<sha256>, any path prefix), kbisect's own records (/kb/v1/...), /status (JSON)
 * and /metrics (Prometheus text). Bodies are streamed to and from the store.
 * Ownership: kb_server_start() gives you the server; kb_server_stop() it. The cache
 * handle passed to it stays yours and must outlive the server.
 */
#ifndef KBISECT_SERVER_H
#define KBISECT_SERVER_H

#include <stdint.h>

#include "kbisect/cache.h"
#include "kbisect/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_server kb_server; /* a running server (one MHD daemon) */

/** Options of kb_server_start(); zero-initialise and set what you need. */
typedef struct {
	const char *host;          /**< address to bind ("127.0.0.1", "::1", "0.0.0.0");
				       NULL: 127.0.0.1 */
	uint16_t port;             /**< 0: an ephemeral port (see kb_server_port()) */
	const char *tls_cert;      /**< PEM certificate file: serve HTTPS (with tls_key) */
	const char *tls_key;       /**< PEM private key file */
	const char *token_file;    /**< bearer tokens, one per line ('#' comments; a line
				       "ro:<t>" is a read-only token); NULL: no auth */
	int anonymous_read;        /**< 1: GET/HEAD need no token (writes still do) */
	uint64_t max_blob_size;    /**< largest accepted PUT body; 0: 1 GiB */
	unsigned int timeout_s;    /**< idle connection timeout, and uploads averaging under
				       1 KiB/s after this long are dropped; 0: 30 s */
	unsigned int max_connections; /**< 0: 256 */
	unsigned int max_per_ip;   /**< connections from one address; 0: a quarter of
				       max_connections (the rest stays for other clients) */
	unsigned int header_timeout_s; /**< a connection's request headers must be
				       complete this long after it opened (after the previous
				       request + timeout_s when kept alive); 0: min(10, timeout_s) */
	unsigned int max_uploads;  /**< store writers at once (each up to ~150 MiB of
				       buffers); more uploads wait up to 120 s, then 503; 0: 4 */
	int quiet;                 /**< 1: no access log on stderr (an access_log file
				       is still written) */
	const char *access_log;    /**< access log file (appended to; reopened by
				       kb_server_reload), "-" for stdout; NULL: stderr */
	int access_log_format;     /**< 0: combined (Apache/nginx) + duration, 1: JSON lines */
} kb_server_opts;

/** Start serving cache c in background threads. On success *out is yours:
 * kb_server_stop() it. @return 0, KB_EINVAL (bad option, unreadable token or TLS
 * file), KB_ERROR (cannot bind: kb_error_last() names the address) */
int kb_server_start(kb_server **out, kb_cache *c, const kb_server_opts *opts);

/** The TCP port the server listens on (useful with port 0). */
uint16_t kb_server_port(const kb_server *s);

/** Write the /status JSON document into a malloc'd string (*out; free() it). */
int kb_server_status_json(char **out, kb_server *s);

/** Reload the token file and the TLS certificate and key named at start, and reopen
 * a file access log, without touching open connections or requests in flight. All or
 * nothing: on failure the server keeps what it had. @return 0, or KB_EINVAL
 * (kb_error_last() names the file and what is wrong with it) */
int kb_server_reload(kb_server *s);

/** Stop accepting, finish or drop open connections, free s; NULL ok. */
void kb_server_stop(kb_server *s);

#ifdef __cplusplus
}
#endif
#endif
