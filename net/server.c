/*
 * net/server.c - the shared cache server: one kbisect cache over HTTP/1.1.
 * Owns: the libmicrohttpd daemon and its options (idle timeout, connection and
 * per-address limits, TLS versions), per-request state (struct req, server_priv.h),
 * streaming of bodies to and from the store, mapping store errors to HTTP (507 for a
 * full cache or disk), what each finished request hands to the access log and
 * /metrics.
 * Not: routing rules (net/server_route.c), the record routes (net/server_records.c),
 * the record wire format (net/wire.c), the header deadline and upload gate
 * (net/server_guard.c), /status and /metrics (net/server_status.c), tokens, TLS
 * credentials and reloads (net/server_auth.c), the access log's format and file
 * (net/server_log.c), the store itself (through include/kbisect/cache.h).
 * DESIGN: MHD with one thread per connection, so a request's cache reader or writer
 * is always used by the thread that opened it (LMDB read txns are per thread) and a
 * slow store operation blocks only its own client. PUT bodies go straight into a
 * kb_cache_writer; a /cas/ body is committed with its key as the expected SHA-256, so
 * a mismatch stores nothing. GET bodies come from a kb_cache_reader through MHD's
 * content-reader callback; when the last byte has been read the reader is asked for
 * its end-of-object checksum verdict before that last block goes out, so a corrupt
 * object is cut short (connection closed) rather than served whole.
 * Keep-alive: MHD (0.9.75) closes a connection whose answer is queued on the first
 * call of a request, so GET/HEAD/DELETE are answered on the next call; only an
 * upload refused before its body is answered (and closed) at once.
 * Slow clients: the per-address limit (a quarter of --max-connections by default)
 * and the header deadline (net/server_guard.c) keep one address from taking the
 * connections every other client needs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "kbisect/server.h"
#include "server_priv.h"

#define RECORD_MAX (4u << 20) /* largest record body (JSON) accepted */
#define GET_BLOCK (2u << 20)  /* MHD's buffer of a plain GET body: 2 chunks */


enum MHD_Result kb_server__answer(struct MHD_Connection *conn, struct req *q, int status,
				  const char *ctype, const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"kbisect\"");
	if (status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (q->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	q->answered_status = status;
	if (q->rt.method != KB_SRV_HEAD)
		q->sent = len;
	return ret;
}

/* 1 if a store error message is about the disk (ENOSPC), not the cache's limit: the
 * store reports both as KB_EFULL, the disk case with "no space left". */
static int disk_full(const char *why)
{
	return why && strstr(why, "o space left") != NULL;
}

/* Room that must be left on the cache's file system for a failed write not to be
 * blamed on the disk (LMDB reports a write cut short by ENOSPC as EIO). */
#define DISK_SLACK (16u << 20)
#define DRAIN_MAX (64u << 20) /* largest refused body read before the answer (refuse_put) */

/* HTTP status of the calling thread's last store error, after a write of `need`
 * bytes: 507 for KB_EFULL (limit or disk) and for any error while the cache's file
 * system has less than need + 16 MiB free (the message then says so), else 500. */
static int store_status(kb_server *s, uint64_t need)
{
	const kb_error *e = kb_error_last();
	struct statvfs fs;
	char was[512];

	if (e->code == KB_EFULL || disk_full(e->message))
		return 507;
	if (statvfs(kb_cache_dir(s->cache), &fs) == 0 &&
	    (uint64_t)fs.f_bavail * fs.f_frsize < need + DISK_SLACK) {
		snprintf(was, sizeof(was), "%s", e->message);
		kb_error_setc(KB_EFULL, KB_ERRCLASS_CACHE,
			      "no space left for cache '%s' (%llu bytes free; the store said: %s); "
			      "free disk space or run 'kbisect cache gc'", kb_cache_dir(s->cache),
			      (unsigned long long)fs.f_bavail * fs.f_frsize, was);
		return 507;
	}
	return 500;
}

enum MHD_Result kb_server__answer_error(struct MHD_Connection *conn, struct req *q,
					int status, const char *why)
{
	char msg[512];

	if (status >= 500 && status != 503) {
		char path[sizeof(q->path) * 4];
		/* the store's message names server paths: log it, tell the client less */
		fprintf(stderr, "kbisect-serve: %s: %s\n",
			kb_server__log_escape(path, sizeof(path), q->path), why);
		why = status != 507 ? "internal error; see the server's log"
		      : disk_full(why) ? "no space left on the server's disk; nothing stored"
				       : "cache full and nothing can be evicted; nothing stored";
	}
	int n = snprintf(msg, sizeof(msg), "kbisect: %s\n", why);
	return kb_server__answer(conn, q, status, "text/plain; charset=utf-8", msg,
				 n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

enum MHD_Result kb_server__answer_miss(kb_server *s, struct MHD_Connection *conn,
				       struct req *q, const char *why)
{
	kb_srv__add(&s->misses, 1);
	return kb_server__answer_error(conn, q, 404, why);
}

enum MHD_Result kb_server__answer_store_error(kb_server *s, struct MHD_Connection *conn,
					      struct req *q, uint64_t need)
{
	int st = store_status(s, need);
	return kb_server__answer_error(conn, q, st, kb_error_last()->message);
}

/* ---- GET / HEAD of objects ---- */

/* A GET cut short by the store: an object evicted while it was streamed (the reader
 * takes a read transaction per batch of chunks) is not damage; anything else is. */
ssize_t kb_server__read_failed(struct kb_srv_get *g, ssize_t rc)
{
	char hex[KB_KEY_HEXLEN + 1];

	kb_key_to_hex(hex, &g->id);
	kb_srv__add(rc == KB_ENOTFOUND ? &g->s->evicted_reads : &g->s->corrupt, 1);
	fprintf(stderr, "kbisect-serve: GET %s cut short at byte %llu: %s\n", hex,
		(unsigned long long)g->pos, kb_error_last()->message);
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

ssize_t kb_server__get_read(struct kb_srv_get *g, char *buf, size_t max)
{
	ssize_t n, end;
	char tmp[1];

	if (max > g->size - g->pos)
		max = (size_t)(g->size - g->pos);
	n = kb_cache_reader_read(g->r, buf, max);
	if (n <= 0)
		return kb_server__read_failed(g, n < 0 ? n : KB_ECORRUPT);
	g->pos += (uint64_t)n;
	if (g->pos >= g->size && (end = kb_cache_reader_read(g->r, tmp, sizeof(tmp))) != 0)
		/* checksum of the whole object failed: never deliver the last block */
		return kb_server__read_failed(g, end < 0 ? end : KB_ECORRUPT);
	return n;
}

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct kb_srv_get *g = cls;
	ssize_t n;

	(void)pos;
	if (g->pos >= g->size)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = kb_server__get_read(g, buf, max);
	if (n > 0) {
		kb_srv__add(&g->s->bytes_out, (uint64_t)n);
		if (g->sent)
			*g->sent += (uint64_t)n;
	}
	return n;
}

static ssize_t no_body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* The response of a streamed GET is done with. MHD frees it in the connection's thread,
 * or after joining that thread: never at the same time as completed(). */
static void free_cb(void *cls)
{
	struct kb_srv_get *g = cls;
	if (g->req)
		((struct req *)g->req)->g = NULL;
	kb_cache_reader_free(g->r);
	kb_server__zstd_get_free(g);
	free(g);
}

/* 1 if id is the SHA-256 of no bytes (a constant: not hashed per request). */
static int is_empty_blob(const kb_key *id)
{
	static const kb_key empty = { {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 } };
	return kb_key_equal(&empty, id);
}

static enum MHD_Result serve_object(kb_server *s, struct MHD_Connection *conn, struct req *q,
				    const kb_key *id)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct kb_srv_get *g;
	uint64_t size;
	int rc;

	if (is_empty_blob(id)) {
		/* the empty blob is always there (as bazel-remote answers): clients probe it */
		kb_srv__add(&s->hits, 1);
		return kb_server__answer(conn, q, 200, "application/octet-stream", "", 0);
	}
	if (q->rt.method == KB_SRV_HEAD) {
		kb_object_info info;
		if (kb_cache_object_info(&info, s->cache, id) != 0) {
			return kb_server__answer_miss(s, conn, q, "not found");
		}
		kb_srv__add(&s->hits, 1);
		/* MHD never calls the body callback for HEAD but sends Content-Length. */
		resp = MHD_create_response_from_callback(info.size, 4096, no_body_cb, NULL, NULL);
		if (!resp)
			return MHD_NO;
		ret = MHD_queue_response(conn, 200, resp);
		MHD_destroy_response(resp);
		q->answered_status = 200;
		return ret;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return kb_server__answer_error(conn, q, 500, "out of memory");
	rc = kb_cache_reader_open(&g->r, &size, s->cache, id);
	if (rc == KB_ENOTFOUND) {
		free(g);
		return kb_server__answer_miss(s, conn, q, "not found");
	}
	if (rc != 0) {
		free(g);
		return kb_server__answer_error(conn, q, 500, kb_error_last()->message);
	}
	kb_srv__add(&s->hits, 1);
	g->s = s;
	g->id = *id;
	g->size = size;
	g->sent = &q->sent;
	g->req = q;
	q->g = g;
	if (kb_server__accepts_zstd(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_ACCEPT_ENCODING))) {
		/* compressed on the fly, sent chunked (the size is not known yet) */
		if (kb_server__zstd_get_init(g) != 0) {
			free_cb(g);
			return kb_server__answer_error(conn, q, 500, "out of memory");
		}
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256 * 1024,
							 kb_server__zstd_read_cb, g, free_cb);
	} else {
		/* 2 MiB blocks: the store's reader decodes whole chunks (1 MiB) straight
		 * into MHD's buffer, two at a time on two threads, instead of into its own
		 * batch buffer and then copying (-1 copy of every byte sent) */
		resp = MHD_create_response_from_callback(
			size, size < GET_BLOCK ? (size_t)size + 1 : GET_BLOCK, read_cb, g, free_cb);
	}
	if (!resp) {
		free_cb(g);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (g->z)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "zstd");
	ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	q->answered_status = 200;
	return ret;
}

/* ---- the request handler ---- */

/* Seconds since the request arrived (q->t0, CLOCK_MONOTONIC). */
static double elapsed_s(const struct req *q)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - q->t0.tv_sec) + (double)(t.tv_nsec - q->t0.tv_nsec) / 1e9;
}

/* An upload averaging under 1 KiB/s once it has run for the idle timeout is a client
 * holding a thread hostage (one byte just often enough to stay "active"). */
static int too_slow(kb_server *s, struct req *q)
{
	double el = elapsed_s(q);

	return el > (double)s->opts.timeout_s && (double)q->received < el * 1024.0;
}

static int start_put(kb_server *s, struct MHD_Connection *conn, struct req *q)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	kb_put_opts po;

	const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_ENCODING);

	if (te || !cl || kb_server__parse_length(cl, &q->clen) != 0) {
		q->why = "PUT needs a Content-Length header (no chunked encoding)";
		return 400;
	}
	if (ce && strcasecmp(ce, "identity") != 0) {
		if (strcasecmp(ce, "zstd") != 0) {
			q->why = "unsupported Content-Encoding; send the body plain or as zstd";
			return 415;
		}
		if (!(q->unz = kb_server__unz_new())) {
			q->why = "out of memory";
			return 500;
		}
	}
	if (q->rt.target == KB_SRV_BUILD || q->rt.target == KB_SRV_TEST) {
		if (q->clen > RECORD_MAX) {
			q->why = "record body too large";
			return 413;
		}
		q->cap = (q->unz ? RECORD_MAX : (size_t)q->clen) + 1;
		q->buf = malloc(q->cap);
		if (!q->buf) {
			q->why = "out of memory";
			return 500;
		}
		return 0;
	}
	if (q->clen > s->opts.max_blob_size) {
		q->why = "body larger than the server's --max-blob-size";
		return 413;
	}
	if (kb_server__upload_enter(s, &q->gated) != 0) {
		q->why = "too many uploads in progress; retry later";
		return 503;
	}
	/* the wait counts neither against the upload's rate (too_slow) nor as the
	 * connection being idle (MHD restarts its timer when a timeout is set on a
	 * connection that has none) */
	clock_gettime(CLOCK_MONOTONIC, &q->t0);
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->opts.timeout_s);
	if (q->rt.target == KB_SRV_CAS)
		q->existed = kb_cache_has(s->cache, &q->rt.key);
	memset(&po, 0, sizeof(po));
	po.kind = KB_OBJ_BLOB;
	if (kb_cache_writer_open(&q->w, s->cache, &po) != 0) {
		int st = store_status(s, q->clen);
		snprintf(q->errmsg, sizeof(q->errmsg), "%s", kb_error_last()->message);
		q->why = q->errmsg;
		return st;
	}
	return 0;
}

static enum MHD_Result finish_put(kb_server *s, struct MHD_Connection *conn, struct req *q)
{
	kb_key id;
	int rc;

	if (q->received != q->clen)
		return kb_server__answer_error(conn, q, 400, "body shorter than Content-Length");
	if (q->unz && !kb_server__unz_done(q->unz))
		return kb_server__answer_error(conn, q, 400, "the zstd body ends inside a frame; nothing stored");
	if (q->buf)
		return kb_server__put_record(s, conn, q);
	rc = kb_cache_writer_commit(&id, q->w, q->rt.target == KB_SRV_CAS ? &q->rt.key : NULL);
	q->w = NULL;
	kb_server__upload_leave(s, &q->gated);
	if (rc == KB_ECORRUPT) {
		kb_srv__add(&s->rejected_hash, 1);
		return kb_server__answer_error(conn, q, 400,
					       "SHA-256 of the body differs from the key; nothing stored");
	}
	if (rc != 0)
		return kb_server__answer_store_error(s, conn, q, q->clen);
	if (q->rt.target == KB_SRV_AC || q->rt.target == KB_SRV_CCACHE) {
		kb_key old;
		q->existed = kb_cache_ref_get(&old, s->cache, KB_REF_AC, &q->rt.key) == 0 &&
			     kb_key_equal(&old, &id);
		if (!q->existed && kb_cache_ref_set(s->cache, KB_REF_AC, &q->rt.key, &id) != 0)
			return kb_server__answer_store_error(s, conn, q, 0);
	}
	return kb_server__answer(conn, q, q->existed ? 200 : 201, "text/plain", "", 0);
}

/* Sink of a PUT's (decoded) body: into the record buffer or the store writer. On an
 * error q->status is set (and the rest of the body discarded); returns it. */
static int put_bytes(void *arg, const void *data, size_t n)
{
	struct req *q = arg;

	if (q->status)
		return q->status;
	q->plain += n;
	if (q->buf) {
		if (q->len + n >= q->cap) {
			q->status = 413;
			q->why = "record body too large";
			return q->status;
		}
		memcpy(q->buf + q->len, data, n);
		q->len += n;
		q->buf[q->len] = '\0';
		return 0;
	}
	if (q->plain > q->srv->opts.max_blob_size) {
		q->status = 413;
		q->why = "body larger than the server's --max-blob-size (after zstd decoding)";
		return q->status;
	}
	if (kb_cache_writer_write(q->w, data, n) != 0) {
		/* keep the store's words: answer_error tells disk from limit */
		q->status = store_status(q->srv, q->clen > q->received ? q->clen - q->received : n);
		snprintf(q->errmsg, sizeof(q->errmsg), "%s", kb_error_last()->message);
		q->why = q->errmsg;
	}
	return q->status;
}

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	(void)kind;
	(void)value;
	if (key && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		++*(int *)cls;
	return MHD_YES;
}

/* A refused upload. A client that asked "Expect: 100-continue" has sent no body:
 * answered now. One that sends its body anyway (curl without Expect, kbisect's own
 * client) would see its connection reset under the body it is still sending, and
 * the kernel drops the answer with it: the client reads "connection reset", not
 * why. So a body up to DRAIN_MAX is read and discarded (put_body, within the
 * connection's timeout) and the answer sent after it, as servers do with a
 * lingering close; a larger one is answered now. */
static enum MHD_Result refuse_put(struct MHD_Connection *conn, struct req *q, int status,
				  const char *why)
{
	const char *ex = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_EXPECT);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n;

	if ((ex && *ex) || !cl || kb_server__parse_length(cl, &n) != 0 || n > DRAIN_MAX)
		return kb_server__answer_error(conn, q, status, why);
	q->clen = n;
	q->status = status;
	q->why = why;
	return MHD_YES; /* put_body discards the body, then answers */
}

/* The first call for a request: note it, route it, check its headers and token. A PUT
 * is answered (refused) or started now; anything else waits for the next call. */
static enum MHD_Result request_start(kb_server *s, struct MHD_Connection *conn,
				     struct req *q, const char *url, const char *method,
				     const char *version)
{
	int st, n_length = 0;

	snprintf(q->path, sizeof(q->path), "%s", url ? url : "");
	snprintf(q->method, sizeof(q->method), "%s", method ? method : "");
	snprintf(q->version, sizeof(q->version), "%s", version ? version : "");
	kb_server__route(&q->rt, method, url);
	q->started = 1;
	kb_server__headers_done(s, conn, 1);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_length, &n_length);
	if (n_length > 1) {
		/* which one frames the body? a proxy in front may have picked the
		 * other: refuse, and close so no byte is read as a next request */
		q->close = 1;
		return kb_server__answer_error(conn, q, 400,
					       "more than one Content-Length header; send one");
	}
	if (!q->rt.status && q->raw_percent) {
		/* MHD has decoded %XX (a %00 would even cut the path short): keys and
		 * prefixes never need escapes, so refuse them outright */
		q->rt.status = 400;
		q->rt.why = "percent-encoded characters are not allowed in paths";
	}
	if (!q->rt.status) {
		st = kb_server__authorized(s, conn, q->rt.method == KB_SRV_PUT ||
							    q->rt.method == KB_SRV_DELETE,
					   q->ident, sizeof(q->ident));
		if (st == 0) {
			q->rt.status = 401;
			q->rt.why = "missing or invalid token; send 'Authorization: "
				    "Bearer <token>'";
		} else if (st < 0) {
			q->rt.status = 403;
			q->rt.why = "this token may only read (GET/HEAD); uploads and "
				    "deletes need a read-write token";
		}
	}
	/* Without a body (GET, HEAD, DELETE) the answer waits for MHD's next call:
	 * one queued on this first call makes MHD close the connection. An
	 * upload refused now is answered now or after its body (refuse_put). */
	if (q->rt.method != KB_SRV_PUT)
		return MHD_YES; /* answered on the next call */
	if (q->rt.status)
		return refuse_put(conn, q, q->rt.status, q->rt.why);
	st = start_put(s, conn, q);
	if (st)
		return refuse_put(conn, q, st, q->why);
	return MHD_YES; /* wait for the body */
}

/* The next calls of a PUT: a piece of its body, or (none left) its end. */
static enum MHD_Result put_body(kb_server *s, struct MHD_Connection *conn, struct req *q,
				const char *upload_data, size_t *upload_data_size)
{
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		kb_srv__add(&s->bytes_in, n);
		if (q->status)
			return MHD_YES;
		if (q->received + n > q->clen) {
			q->status = 400;
			q->why = "body longer than Content-Length";
			return MHD_YES;
		}
		q->received += n;
		if (too_slow(s, q)) {
			/* a trickle that dodges the idle timeout: drop the connection */
			q->answered_status = 408;
			return MHD_NO;
		}
		if (!q->unz) {
			put_bytes(q, upload_data, n);
		} else if (kb_server__unz_feed(q->unz, upload_data, n, put_bytes, q) < 0 &&
			   !q->status) {
			q->status = 400;
			q->why = "the body is not valid zstd (Content-Encoding: zstd)";
		}
		return MHD_YES;
	}
	if (q->status) {
		kb_cache_writer_abort(q->w);
		q->w = NULL;
		kb_server__upload_leave(s, &q->gated);
		return kb_server__answer_error(conn, q, q->status, q->why);
	}
	return finish_put(s, conn, q);
}

/* GET, HEAD and DELETE, on the call after their headers. */
static enum MHD_Result request_answer(kb_server *s, struct MHD_Connection *conn,
				      struct req *q, size_t *upload_data_size)
{
	/* GET, HEAD, DELETE: ignore any body */
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (q->rt.status)
		return kb_server__answer_error(conn, q, q->rt.status, q->rt.why);
	if (q->rt.target == KB_SRV_BUILD && q->rt.method == KB_SRV_DELETE)
		return kb_server__delete_build(s, conn, q);
	switch (q->rt.target) {
	case KB_SRV_CAS:
		return serve_object(s, conn, q, &q->rt.key);
	case KB_SRV_AC:
	case KB_SRV_CCACHE: {
		kb_key id;
		if (q->rt.method == KB_SRV_DELETE)
			return kb_server__delete_ref(s, conn, q);
		if (kb_cache_ref_get(&id, s->cache, KB_REF_AC, &q->rt.key) != 0) {
			return kb_server__answer_miss(s, conn, q, "not found");
		}
		return serve_object(s, conn, q, &id);
	}
	case KB_SRV_STATUS: {
		char *js = NULL;
		enum MHD_Result r;
		if (kb_server_status_json(&js, s) != 0)
			return kb_server__answer_error(conn, q, 500, "cannot encode status");
		r = kb_server__answer(conn, q, 200, "application/json", js,
				      q->rt.method == KB_SRV_HEAD ? 0 : strlen(js));
		free(js);
		return r;
	}
	case KB_SRV_METRICS: {
		char *t = kb_server__metrics_text(s);
		enum MHD_Result r;
		if (!t)
			return kb_server__answer_error(conn, q, 500, "cannot format metrics");
		r = kb_server__answer(conn, q, 200, "text/plain; version=0.0.4", t,
				      q->rt.method == KB_SRV_HEAD ? 0 : strlen(t));
		free(t);
		return r;
	}
	default:
		return kb_server__get_record(s, conn, q);
	}
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	kb_server *s = cls;
	struct req *q = *con_cls;

	if (!q) /* uri_seen() allocates it; only when out of memory is it missing */
		return MHD_NO;
	if (!q->started)
		return request_start(s, conn, q, url, method, version);
	if (q->answered_status) {
		*upload_data_size = 0; /* an early answer is queued; discard the rest */
		return MHD_YES;
	}
	if (q->rt.method == KB_SRV_PUT)
		return put_body(s, conn, q, upload_data, upload_data_size);
	return request_answer(s, conn, q, upload_data_size);
}

/* Called by MHD with the raw request target, before decoding: the per-request state
 * starts here so that the handler can see whether escapes were used. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *q = calloc(1, sizeof(*q));

	(void)conn;
	if (!q)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &q->t0);
	clock_gettime(CLOCK_REALTIME, &q->when);
	snprintf(q->ident, sizeof(q->ident), "-");
	q->srv = cls;
	q->raw_percent = uri && strchr(uri, '%') != NULL;
	atomic_fetch_add(&((kb_server *)cls)->in_flight, 1);
	return q;
}

/* MHD: a request is over (answered, failed or the client went away): count it in
 * /metrics, write its access log line, free its state. */
static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	kb_server *s = cls;
	struct req *q = *con_cls;
	struct kb_srv_logrec lr;
	const union MHD_ConnectionInfo *ci;
	int status;

	if (!q)
		return;
	if (q->g) { /* the response outlives the request: it must not count into q */
		q->g->sent = NULL;
		q->g->req = NULL;
		q->g = NULL;
	}
	kb_server__headers_done(s, conn, 0);
	kb_cache_writer_abort(q->w); /* an unfinished upload stores nothing */
	kb_server__upload_leave(s, &q->gated);
	status = q->answered_status ? q->answered_status : 499;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status < 400)
		status = 499; /* client went away or the body was cut short */
	if (!q->started) {
		/* refused by MHD's parser (malformed line or headers): MHD answered it */
		q->rt.method = KB_SRV_OTHER;
		q->rt.target = KB_SRV_NONE;
		status = 400;
		snprintf(q->path, sizeof(q->path), "(malformed request)");
	}
	memset(&lr, 0, sizeof(lr));
	lr.seconds = elapsed_s(q);
	kb_server__count(s, q->rt.method, status);
	kb_server__observe(s, q->rt.target, q->rt.method, status, lr.seconds);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	lr.when = q->when;
	lr.addr = ci ? ci->client_addr : NULL;
	lr.ident = q->ident;
	lr.method = q->started ? q->method : "-";
	lr.path = q->path;
	lr.version = q->started ? q->version : "-";
	lr.user_agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_USER_AGENT);
	lr.referer = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_REFERER);
	lr.status = status;
	lr.bytes_sent = q->sent;
	lr.bytes_received = q->received;
	kb_server__log_request(s, &lr);
	kb_server__unz_free(q->unz);
	free(q->buf);
	free(q);
	*con_cls = NULL;
	atomic_fetch_sub(&s->in_flight, 1);
	kb_srv__add(&s->finished, 1);
}
/* ---- start / stop ---- */

static void server_free(kb_server *s)
{
	if (!s)
		return;
	kb_server__guard_stop(s);
	if (s->d)
		MHD_stop_daemon(s->d); /* closes every connection: s->conns empties */
	kb_server__auth_fini(s); /* unregistered before its locks go */
	kb_server__guard_fini(s);
	if (s->log_ready)
		kb_server__log_close(s);
	free(s);
}

int kb_server_start(kb_server **out, kb_cache *c, const kb_server_opts *opts)
{
	kb_server *s;
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL;
	const union MHD_DaemonInfo *info;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return kb_error_os("cannot allocate the server");
	s->cache = c;
	if (opts)
		s->opts = *opts;
	if (!s->opts.max_blob_size)
		s->opts.max_blob_size = UINT64_C(1) << 30;
	if (!s->opts.timeout_s)
		s->opts.timeout_s = 30;
	if (!s->opts.max_connections)
		s->opts.max_connections = 256;
	if ((rc = kb_server__guard_init(s)) != 0) {
		free(s);
		return rc;
	}
	snprintf(s->host, sizeof(s->host), "%s", s->opts.host ? s->opts.host : "127.0.0.1");
	s->opts.host = s->host;
	s->started = time(NULL);

	memset(&ss, 0, sizeof(ss));
	if (strchr(s->host, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(s->opts.port);
		if (inet_pton(AF_INET6, s->host, &a6->sin6_addr) != 1)
			goto badhost;
		sl = sizeof(*a6);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(s->opts.port);
		if (inet_pton(AF_INET, s->host, &a4->sin_addr) != 1)
			goto badhost;
		sl = sizeof(*a4);
	}
	(void)sl;
	if ((rc = kb_server__auth_init(s)) != 0) {
		server_free(s);
		return rc;
	}
	if (s->tls)
		flags |= MHD_USE_TLS;
	rc = kb_server__log_open(s);
	s->log_ready = 1;
	if (rc != 0) {
		server_free(s);
		return rc;
	}
	s->opts.tls_cert = s->opts.tls_key = s->opts.token_file = NULL; /* copied */
	if (s->tls)
		s->d = MHD_start_daemon(flags, s->opts.port, NULL, NULL, handle, s,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					MHD_OPTION_CONNECTION_TIMEOUT, s->opts.timeout_s,
					MHD_OPTION_CONNECTION_LIMIT, s->opts.max_connections,
					MHD_OPTION_NOTIFY_COMPLETED, completed, s,
					MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->opts.max_per_ip,
					MHD_OPTION_URI_LOG_CALLBACK, uri_seen, s,
					MHD_OPTION_NOTIFY_CONNECTION, kb_server__conn_notify, s,
					/* asked in every handshake: a reload takes effect
					 * without a restart (net/server_auth.c) */
					MHD_OPTION_HTTPS_CERT_CALLBACK, &kb_server__cert_cb,
					/* TLS 1.2 and 1.3 only */
					MHD_OPTION_HTTPS_PRIORITIES,
					"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
					MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(flags, s->opts.port, NULL, NULL, handle, s,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					MHD_OPTION_CONNECTION_TIMEOUT, s->opts.timeout_s,
					MHD_OPTION_CONNECTION_LIMIT, s->opts.max_connections,
					MHD_OPTION_NOTIFY_COMPLETED, completed, s,
					MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->opts.max_per_ip,
					MHD_OPTION_URI_LOG_CALLBACK, uri_seen, s,
					MHD_OPTION_NOTIFY_CONNECTION, kb_server__conn_notify, s,
					MHD_OPTION_END);
	if (!s->d) {
		rc = kb_error_set(KB_ERRCLASS_NET,
				  "cannot listen on %s:%u; is the port in use or the address "
				  "not local? (%s)", s->host, (unsigned)s->opts.port,
				  s->tls ? "check the TLS certificate and key" : "try another port");
		server_free(s);
		return rc;
	}
	if (s->tls)
		kb_server__auth_register(s);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : s->opts.port;
	if ((rc = kb_server__guard_start(s)) != 0) {
		server_free(s);
		return rc;
	}
	*out = s;
	return 0;
badhost:
	rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
			   "'%s' is not a numeric IPv4 or IPv6 address; use e.g. 127.0.0.1 or ::1",
			   s->host);
	server_free(s);
	return rc;
}

struct MHD_Daemon *kb_server__daemon(kb_server *s)
{
	return s->d;
}

uint16_t kb_server_port(const kb_server *s)
{
	return s->port;
}

void kb_server_stop(kb_server *s)
{
	if (!s)
		return;
	server_free(s);
}
