/*
 * net/server_priv.h - the state of a running shared cache server, shared by the
 * files that make it: net/server.c (requests), net/server_guard.c (connection
 * defences, the upload gate, the idle trim) and net/server_status.c (/status and
 * /metrics). Only net/server*.c include it.
 */
#ifndef KB_CACHE_SERVER_PRIV_H
#define KB_CACHE_SERVER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

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

struct kb_server {
	struct MHD_Daemon *d;
	kb_cache *cache;
	kb_server_opts opts;
	char host[128];
	uint16_t port;
	int tls;
	char *cert_pem, *key_pem;
	kb_key tokens[MAX_TOKENS]; /* SHA-256 of each accepted token */
	int token_ro[MAX_TOKENS];  /* 1: that token may only read */
	size_t n_tokens;
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

/** The Prometheus text of /metrics (malloc'd; NULL when out of memory). */
char *kb_server__metrics_text(kb_server *s);

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

/* ---- net/server.c and net/server_zstd.c: a streamed GET ---- */

/** Body of a streamed GET (MHD_create_response_from_callback). */
struct kb_srv_get {
	kb_server *s;
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

#endif
