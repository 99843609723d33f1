/*
 * net/server_priv.h - the state of a running shared cache server, shared by the
 * files that make it: net/server.c (requests), net/server_guard.c (connection
 * defences, the upload gate, the idle trim), net/server_status.c (/status and
 * /metrics), net/server_auth.c (tokens, TLS credentials, SIGHUP reload) and
 * net/server_log.c (the access log), net/server_records.c (the record routes). Only
 * net/server*.c include it.
 */
#ifndef KB_CACHE_SERVER_PRIV_H
#define KB_CACHE_SERVER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "kbisect/server.h"
#include "server_internal.h"

#define MAX_TOKENS 64
#define KB_SRV_N_CODES 13 /* status codes counted in /metrics, and "other" */

/** The status codes counted one by one (KB_SRV_N_CODES - 1 of them). */
extern const int kb_srv__codes[KB_SRV_N_CODES - 1];
/** Names of enum kb_srv_method. */
extern const char *const kb_srv__method_names[KB_SRV_METHOD_MAX];

struct conn_ent;
struct kb_srv_tokens;
struct kb_srv_creds;

/** Latency histogram buckets (seconds) of /metrics; +Inf is implied. */
#define KB_SRV_N_BUCKETS 14
extern const double kb_srv__buckets[KB_SRV_N_BUCKETS];
/** Routes of /metrics: enum kb_srv_target values (KB_SRV_NONE is "other"). */
#define KB_SRV_N_ROUTES 9
extern const char *const kb_srv__route_names[KB_SRV_N_ROUTES];

/** Access log formats (--access-log-format). */
enum kb_srv_log_format { KB_SRV_LOG_COMBINED = 0, KB_SRV_LOG_JSON = 1 };

struct kb_server {
	struct MHD_Daemon *d;
	kb_cache *cache;
	kb_server_opts opts;
	char host[128];
	uint16_t port;
	int tls;
	/* what SIGHUP reloads (net/server_auth.c): the paths are kept (malloc'd) */
	char *token_path, *cert_path, *key_path;
	pthread_rwlock_t tok_lock;     /* guards toks (readers: every request) */
	struct kb_srv_tokens *toks;    /* NULL: no auth */
	pthread_mutex_t cred_lock;     /* guards creds, retired, cred_gen */
	struct kb_srv_creds *creds;    /* the certificate handshakes get now */
	struct kb_srv_creds *retired;  /* older ones, until no connection may hold them */
	atomic_uint_fast64_t cred_gen; /* +1 per certificate reload */
	int auth_ready, registered;
	atomic_uint_fast64_t reloads, reload_failures;
	/* the access log (net/server_log.c) */
	pthread_mutex_t log_lock;
	int log_fd;                    /* -1: none */
	int log_owned;                 /* log_fd is a file we opened (reopened on reload) */
	int log_ready;                 /* kb_server__log_open has run */
	char *log_path;
	/* /metrics: latency per route, hits and misses per route */
	atomic_uint_fast64_t lat_bucket[KB_SRV_N_ROUTES][KB_SRV_N_BUCKETS];
	atomic_uint_fast64_t lat_count[KB_SRV_N_ROUTES], lat_sum_us[KB_SRV_N_ROUTES];
	atomic_uint_fast64_t route_hits[KB_SRV_N_ROUTES], route_misses[KB_SRV_N_ROUTES];
	time_t started;
	atomic_uint_fast64_t requests[KB_SRV_METHOD_MAX][KB_SRV_N_CODES];
	atomic_uint_fast64_t bytes_in, bytes_out, hits, misses, corrupt, rejected_hash;
	atomic_uint_fast64_t evicted_reads; /* GETs cut short: evicted while streamed */
	atomic_uint_fast64_t header_timeouts;
	atomic_int in_flight;      /* requests between uri_seen() and completed() */
	atomic_uint_fast64_t finished; /* requests completed (for the idle trim) */
	/* the header-deadline watchdog */
	pthread_mutex_t conns_lock;
	pthread_cond_t wd_cond;
	struct conn_ent *conns;    /* every open connection */
	pthread_t wd;
	int wd_running, wd_stop, locks_ready;
	/* the upload gate: at most opts.max_uploads store writers at once */
	pthread_mutex_t up_lock;
	pthread_cond_t up_cond;    /* CLOCK_MONOTONIC */
	unsigned int up_active;
	int up_closing;            /* the server is stopping: waiters give up */
	atomic_uint_fast64_t up_waited, up_refused;
};

/** Add n to a counter. */
static inline void kb_srv__add(atomic_uint_fast64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

/** Read a counter. */
static inline uint64_t kb_srv__get(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* ---- net/server_status.c ---- */

/** Count one answered request in /metrics. */
void kb_server__count(kb_server *s, int method, int status);

/** Count one finished request of route (enum kb_srv_target) in the latency histogram,
 * and as a hit (200) or miss (404) when it was a GET/HEAD of a cache entry. */
void kb_server__observe(kb_server *s, int route, int method, int status, double seconds);

/** The Prometheus text of /metrics (malloc'd; NULL when out of memory). */
char *kb_server__metrics_text(kb_server *s);

/* ---- net/server_auth.c ---- */

/** Set up the locks and load the token file and TLS files named by s->opts (kept for
 * reloads). 0, or KB_EINVAL naming the file. */
int kb_server__auth_init(kb_server *s);

/** After MHD_stop_daemon: free tokens, credentials and locks. */
void kb_server__auth_fini(kb_server *s);

/** MHD_OPTION_HTTPS_CERT_CALLBACK (a gnutls_certificate_retrieve_function2): the
 * current certificate chain and key of the session's server. */
int kb_server__cert_cb(gnutls_session_t sess, const gnutls_datum_t *req_ca_dn, int nreqs,
		       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		       gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey);

/** Register s so that the certificate callback finds it (after MHD_start_daemon). */
void kb_server__auth_register(kb_server *s);

/** May the request write (write 1) or read? 1 allowed, 0 no/unknown token (401), -1 a
 * read-only token tried to write (403). The token's name (or "-") goes to ident. */
int kb_server__authorized(kb_server *s, struct MHD_Connection *conn, int write,
			  char *ident, size_t ident_len);

/** 1 if the server checks tokens. */
int kb_server__has_tokens(kb_server *s);

/* ---- net/server_log.c ---- */

/** One finished request, as the access log writes it. */
struct kb_srv_logrec {
	struct timespec when;      /* CLOCK_REALTIME when the request arrived */
	const struct sockaddr *addr; /* client; NULL: unknown */
	const char *ident;         /* token name or "-" */
	const char *method, *path, *version, *user_agent, *referer;
	int status;
	uint64_t bytes_sent, bytes_received;
	double seconds;
};

/** Open the access log of s->opts (access_log; NULL: stderr unless quiet). 0 or KB_EINVAL. */
int kb_server__log_open(kb_server *s);

/** Reopen a file access log (log rotation): 0, or KB_EINVAL and the old one stays. */
int kb_server__log_reopen(kb_server *s);

/** Write one request's line (one write(2): lines never interleave). */
void kb_server__log_request(kb_server *s, const struct kb_srv_logrec *r);

/** Close the access log. */
void kb_server__log_close(kb_server *s);

/** Format one access log line (with its newline) into buf; its length (< cap). */
size_t kb_server__log_format(char *buf, size_t cap, int format, const struct kb_srv_logrec *r);

/* ---- net/server_guard.c ---- */

/** Defaults of the defences and their locks; before MHD starts. 0 or KB_ERROR. */
int kb_server__guard_init(kb_server *s);

/** Start the watchdog thread (header deadlines, idle trim). 0 or KB_ERROR. */
int kb_server__guard_start(kb_server *s);

/** Before MHD_stop_daemon: stop the watchdog, make uploads waiting for a slot give up. */
void kb_server__guard_stop(kb_server *s);

/** After MHD_stop_daemon: free the locks. */
void kb_server__guard_fini(kb_server *s);

/** MHD_OPTION_NOTIFY_CONNECTION: keep the list of open connections (cls: the server). */
void kb_server__conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			    enum MHD_ConnectionNotificationCode toe);

/** The connection's request headers are complete (in_request 1), or its request has
 * finished (0: the next headers' deadline starts). */
void kb_server__headers_done(kb_server *s, struct MHD_Connection *conn, int in_request);

/** Take a slot of the upload gate (*gated = 1), waiting for one. 0, or -1 (busy). */
int kb_server__upload_enter(kb_server *s, int *gated);

/** Give back the slot, if *gated. */
void kb_server__upload_leave(kb_server *s, int *gated);

/** 1 if one of s's open connections has socket fd. */
int kb_server__has_conn_fd(kb_server *s, int fd);

/** Smallest certificate generation of s's open connections (UINT64_MAX: none). */
uint64_t kb_server__conns_min_gen(kb_server *s);

/* ---- net/server.c and net/server_zstd.c: a streamed GET ---- */

/** Body of a streamed GET (MHD_create_response_from_callback). */
struct kb_srv_get {
	kb_server *s;
	uint64_t *sent;          /* the request's byte count for the access log (NULL:
				  * the request is gone), see net/server.c */
	void *req;               /* that request (net/server.c's struct req) or NULL */
	kb_cache_reader *r;
	kb_key id;
	uint64_t size, pos;      /* object size, bytes read from the store */
	void *z;                 /* ZSTD_CCtx when the body is sent zstd-compressed */
	char *zin;               /* store bytes not yet compressed */
	size_t zin_len, zin_pos;
	int zdone;               /* the zstd frame is complete */
};

/** A GET cut short by the store (rc: KB_ENOTFOUND evicted, else damage): count, log,
 * and end the response with an error (the client sees a truncated body). */
ssize_t kb_server__read_failed(struct kb_srv_get *g, ssize_t rc);

/** Read up to max bytes of g's object from the store (advancing g->pos); with the last
 * byte, the reader's end-of-object checksum verdict. The byte count (> 0), or the end
 * of the response with an error (kb_server__read_failed). Needs g->pos < g->size. */
ssize_t kb_server__get_read(struct kb_srv_get *g, char *buf, size_t max);

/* ---- net/server_zstd.c ---- */

/** Set up zstd compression of g's body. 0, or -1 out of memory. */
int kb_server__zstd_get_init(struct kb_srv_get *g);

/** Free what kb_server__zstd_get_init() set up. */
void kb_server__zstd_get_free(struct kb_srv_get *g);

/** MHD content reader of a zstd-compressed GET body (cls: struct kb_srv_get). */
ssize_t kb_server__zstd_read_cb(void *cls, uint64_t pos, char *buf, size_t max);

/** Streaming zstd decoder of a PUT body. */
struct kb_srv_unz;

/** A new decoder; NULL when out of memory. */
struct kb_srv_unz *kb_server__unz_new(void);

/** Decode n bytes, handing the output to sink (which returns 0 or a nonzero that is
 * passed back). 0, -1 (not zstd / corrupt), or sink's value. */
int kb_server__unz_feed(struct kb_srv_unz *u, const void *data, size_t n,
			int (*sink)(void *arg, const void *p, size_t n), void *arg);

/** 1 if the input so far ends at the end of a complete frame. */
int kb_server__unz_done(const struct kb_srv_unz *u);

/** Free; NULL ok. */
void kb_server__unz_free(struct kb_srv_unz *u);

/** Per-request state (MHD's con_cls): net/server.c makes it, the routes answer it. */
struct req {
	struct kb_srv_route rt;
	kb_server *srv;
	int started;            /* the first call has been handled */
	int status;             /* error to answer at the end of the body (0: none) */
	const char *why;
	kb_cache_writer *w;     /* PUT /cas/, /ac/ */
	char *buf;              /* PUT of a record */
	size_t len, cap;
	uint64_t clen, received;
	int existed;            /* the object was stored before this PUT */
	int answered_status;    /* for the access log */
	int raw_percent;        /* the raw request target had a '%' escape */
	int close;              /* answer with "Connection: close" (framing in doubt) */
	int gated;              /* holds a slot of the upload gate */
	struct kb_srv_unz *unz; /* PUT sent with Content-Encoding: zstd */
	uint64_t plain;         /* bytes after decoding (zstd PUT) */
	struct timespec t0;
	struct timespec when;   /* CLOCK_REALTIME of arrival, for the access log */
	uint64_t sent;          /* body bytes sent (the access log) */
	struct kb_srv_get *g;   /* the streamed GET body, while both exist */
	char ident[64];         /* the token's name, or "-" */
	char method[16];        /* as sent (the access log) */
	char version[16];
	char path[512];
	char errmsg[512];       /* the store's error, kept until the answer */
};

/** Queue the answer of q: status, content type (NULL: none) and body (copied). */
enum MHD_Result kb_server__answer(struct MHD_Connection *conn, struct req *q, int status,
				  const char *ctype, const char *body, size_t len);

/** Answer an error; a 5xx other than 503 is logged, the client told less. */
enum MHD_Result kb_server__answer_error(struct MHD_Connection *conn, struct req *q,
					int status, const char *why);

/** Count a lookup miss and answer 404 with why. */
enum MHD_Result kb_server__answer_miss(kb_server *s, struct MHD_Connection *conn,
				       struct req *q, const char *why);

/** Answer the calling thread's last store error (after a write of need bytes). */
enum MHD_Result kb_server__answer_store_error(kb_server *s, struct MHD_Connection *conn,
					      struct req *q, uint64_t need);

/** GET / HEAD of a build record, a test key's runs or a signature's builds. */
enum MHD_Result kb_server__get_record(kb_server *s, struct MHD_Connection *conn,
				      struct req *q);

/** PUT of a build record (q->buf: its JSON) or of test runs (merged, no duplicates). */
enum MHD_Result kb_server__put_record(kb_server *s, struct MHD_Connection *conn,
				      struct req *q);

/** DELETE of an /ac/ or ccache key (the object stays until evicted). */
enum MHD_Result kb_server__delete_ref(kb_server *s, struct MHD_Connection *conn,
				      struct req *q);

/** DELETE /kb/v1/build/<key>: `kbisect cache forget --remote`. */
enum MHD_Result kb_server__delete_build(kb_server *s, struct MHD_Connection *conn,
					struct req *q);

#endif
