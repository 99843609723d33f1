/*
 * net/server_internal.h - module-internal parts of the shared cache server: request
 * routing/validation (a pure function, unit-tested and fuzzed), header parsing, tokens.
 * The wire bodies the server shares with its client are in net/wire.h (included here
 * for the server's files and its tests; the client includes only wire.h).
 */
#ifndef KB_CACHE_SERVER_INTERNAL_H
#define KB_CACHE_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/cache.h"
#include "wire.h"

/** HTTP methods the server knows. */
enum kb_srv_method {
	KB_SRV_GET = 0,
	KB_SRV_HEAD = 1,
	KB_SRV_PUT = 2,
	KB_SRV_DELETE = 3,
	KB_SRV_OTHER = 4,
	KB_SRV_METHOD_MAX = 5,
};

/** What a request addresses. */
enum kb_srv_target {
	KB_SRV_NONE = 0,
	KB_SRV_CAS,      /**< /cas/<sha256>: object whose id is the key */
	KB_SRV_AC,       /**< /ac/<sha256>: reference key -> object (any bytes) */
	KB_SRV_STATUS,   /**< /status */
	KB_SRV_METRICS,  /**< /metrics */
	KB_SRV_BUILD,    /**< /kb/v1/build/<build key>: a build record (JSON) */
	KB_SRV_TEST,     /**< /kb/v1/test/<test key>: the runs of a test (JSON array) */
	KB_SRV_SIG,      /**< /kb/v1/sig/<signature>: build keys of a signature (GET) */
	KB_SRV_CCACHE,   /**< .../ccache/<path>: ccache's subdirs/flat layouts; key =
			  *   kb_server__ccache_key(<path>), stored like /ac/ */
};

/** Result of routing one request line. */
struct kb_srv_route {
	int method;            /**< enum kb_srv_method */
	int target;            /**< enum kb_srv_target */
	kb_key key;            /**< for keyed targets */
	int status;            /**< 0: routed; else the HTTP status to answer */
	const char *why;       /**< static reason when status != 0 */
};

/** Longest path prefix accepted before /cas/ etc. */
#define KB_SRV_PREFIX_MAX 256

/**
 * Route a request: method (as sent) and path (the URL path, already percent-decoded
 * by the HTTP library; a '%' left in it is rejected). Any prefix of safe segments
 * ([A-Za-z0-9_.-], not "." or "..") may come before cas/, ac/, kb/v1/...; keys must
 * be 64 lowercase hex digits (else 400). A path with a "ccache" segment followed by one
 * or two safe segments that are not a keyed target is KB_SRV_CCACHE (ccache's subdirs
 * and flat layouts). DELETE is allowed on /ac/ and ccache paths. Unknown paths get 404, unsupported methods
 * 405. Pure: no allocation, no I/O. Returns out->status.
 */
int kb_server__route(struct kb_srv_route *out, const char *method, const char *path);

/** Reference key of a ccache object: SHA-256 of "kbisect-ccache:" + its path after
 * "ccache/" (len bytes), so it never meets a Bazel /ac/ key. */
void kb_server__ccache_key(kb_key *out, const char *path, size_t len);

/** 1 if s is exactly 64 lowercase hex digits followed by NUL or '/'... (len given). */
int kb_server__is_key_hex(const char *s, size_t len);

/** 1 if an Accept-Encoding header value accepts zstd ("zstd", "gzip, zstd", not
 * "zstd;q=0"); 0 for NULL. */
int kb_server__accepts_zstd(const char *h);

/** Parse a Content-Length value strictly (digits only, no sign, <= 2^62); 0 or -1. */
int kb_server__parse_length(const char *s, uint64_t *out);

/** Extract the token of an "Authorization: Bearer <t>" or "Basic <b64(user:t)>"
 * header into buf (NUL-terminated). 0 or -1 (missing, malformed, too long). */
int kb_server__auth_token(char *buf, size_t len, const char *header);

/** Copy s into out (cap bytes, always NUL-terminated) for the access log: control
 * bytes, space, DEL, bytes >= 0x80, '"' and '\\' become \xNN, so a request can never write
 * raw terminal escapes or fake log lines. Returns out. */
char *kb_server__log_escape(char *out, size_t cap, const char *s);

/** Access a token line grants. */
enum kb_srv_access {
	KB_SRV_ACCESS_RW = 0,   /**< read and write (a bare token, or "rw:<token>") */
	KB_SRV_ACCESS_RO = 1,   /**< GET/HEAD only ("ro:<token>") */
};

/** Parse one line of a token file: leading/trailing blanks are dropped; empty lines
 * and '#' comments give 1 (skip). "ro:<t>" is a read-only token, "rw:<t>" or a bare
 * "<t>" a read-write one. *tok points into line (which is modified). 0, 1, or -1 when
 * the prefix leaves an empty token. */
int kb_server__token_line(char *line, const char **tok, int *access);

struct MHD_Daemon;
typedef struct kb_server kb_server;

/** The libmicrohttpd daemon of a running server (for tests and fuzzing: hand it
 * connections with MHD_add_connection). Borrowed. */
struct MHD_Daemon *kb_server__daemon(kb_server *s);

#endif
