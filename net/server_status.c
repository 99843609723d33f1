/*
 * net/server_status.c - what the shared cache server says about itself: GET /status
 * (JSON: version, limits, store sizes, request counts) and GET /metrics (Prometheus
 * text), and the per-method, per-code request counters behind them.
 * Not: the requests themselves (net/server.c), the connection defences whose
 * counters it shows (net/server_guard.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "server_priv.h"

const int kb_srv__codes[KB_SRV_N_CODES - 1] = { 200, 201, 400, 401, 403, 404, 405, 408,
						413, 500, 503, 507 };

const char *const kb_srv__method_names[KB_SRV_METHOD_MAX] = { "GET", "HEAD", "PUT", "DELETE",
								 "OTHER" };

static int code_index(int status)
{
	for (size_t i = 0; i < KB_SRV_N_CODES - 1; i++)
		if (kb_srv__codes[i] == status)
			return (int)i;
	return (int)KB_SRV_N_CODES - 1;
}

void kb_server__count(kb_server *s, int method, int status)
{
	kb_srv__add(&s->requests[method][code_index(status)], 1);
}

static json_t *status_doc(kb_server *s)
{
	kb_cache_stats st;
	json_t *o = json_object(), *store = json_object(), *req = json_object();
	uint64_t objects = 0, stored = 0, bytes = 0;

	memset(&st, 0, sizeof(st));
	kb_cache_stats_get(&st, s->cache);
	for (int k = 0; k < KB_OBJ_KIND_MAX; k++) {
		objects += st.objects[k];
		stored += st.stored_bytes[k];
		bytes += st.object_bytes[k];
	}
	json_object_set_new(o, "version", json_string(kb_version()));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)(time(NULL) - s->started)));
	json_object_set_new(o, "listen", json_string(s->host));
	json_object_set_new(o, "port", json_integer(s->port));
	json_object_set_new(o, "tls", json_boolean(s->tls));
	json_object_set_new(o, "auth", json_boolean(s->n_tokens > 0));
	json_object_set_new(o, "anonymous_read", json_boolean(s->opts.anonymous_read));
	json_object_set_new(o, "max_blob_size", json_integer((json_int_t)s->opts.max_blob_size));
	json_object_set_new(o, "max_connections", json_integer((json_int_t)s->opts.max_connections));
	json_object_set_new(o, "max_connections_per_ip",
			    json_integer((json_int_t)s->opts.max_per_ip));
	json_object_set_new(o, "timeout_s", json_integer((json_int_t)s->opts.timeout_s));
	json_object_set_new(o, "max_uploads", json_integer((json_int_t)s->opts.max_uploads));
	json_object_set_new(o, "header_timeout_s",
			    json_integer((json_int_t)s->opts.header_timeout_s));
	json_object_set_new(o, "header_timeouts",
			    json_integer((json_int_t)kb_srv__get(&s->header_timeouts)));
	json_object_set_new(store, "dir", json_string(kb_cache_dir(s->cache)));
	json_object_set_new(store, "limit", json_integer((json_int_t)st.limit));
	json_object_set_new(store, "objects", json_integer((json_int_t)objects));
	json_object_set_new(store, "object_bytes", json_integer((json_int_t)bytes));
	json_object_set_new(store, "stored_bytes", json_integer((json_int_t)stored));
	json_object_set_new(store, "refs", json_integer((json_int_t)st.refs));
	json_object_set_new(store, "builds", json_integer((json_int_t)st.builds));
	json_object_set_new(store, "tests", json_integer((json_int_t)st.tests));
	json_object_set_new(store, "test_runs", json_integer((json_int_t)st.test_runs));
	json_object_set_new(store, "evictions", json_integer((json_int_t)st.evictions));
	json_object_set_new(store, "file_size", json_integer((json_int_t)st.file_size));
	json_object_set_new(store, "live_bytes", json_integer((json_int_t)st.live_bytes));
	json_object_set_new(o, "store", store);
	for (int m = 0; m < KB_SRV_METHOD_MAX; m++) {
		uint64_t t = 0;
		for (size_t c = 0; c < KB_SRV_N_CODES; c++)
			t += kb_srv__get(&s->requests[m][c]);
		json_object_set_new(req, kb_srv__method_names[m], json_integer((json_int_t)t));
	}
	json_object_set_new(o, "requests", req);
	json_object_set_new(o, "bytes_in", json_integer((json_int_t)kb_srv__get(&s->bytes_in)));
	json_object_set_new(o, "bytes_out", json_integer((json_int_t)kb_srv__get(&s->bytes_out)));
	json_object_set_new(o, "hits", json_integer((json_int_t)kb_srv__get(&s->hits)));
	json_object_set_new(o, "misses", json_integer((json_int_t)kb_srv__get(&s->misses)));
	json_object_set_new(o, "corrupt_reads", json_integer((json_int_t)kb_srv__get(&s->corrupt)));
	json_object_set_new(o, "evicted_reads",
			    json_integer((json_int_t)kb_srv__get(&s->evicted_reads)));
	json_object_set_new(o, "rejected_uploads", json_integer((json_int_t)kb_srv__get(&s->rejected_hash)));
	return o;
}

int kb_server_status_json(char **out, kb_server *s)
{
	json_t *o = status_doc(s);
	*out = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return *out ? 0 : kb_error_set(KB_ERRCLASS_NET, "cannot encode the server status");
}

/* Append to a growing buffer; the buffer stays NUL-terminated. */
static void bprintf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void bprintf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (*buf && *len + (size_t)n < *cap) {
			*len += (size_t)n;
			return;
		}
		size_t ncap = (*cap ? *cap * 2 : 4096) + (size_t)n;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return;
		*buf = nb;
		*cap = ncap;
	}
}

char *kb_server__metrics_text(kb_server *s)
{
	kb_cache_stats st;
	char *b = NULL;
	size_t len = 0, cap = 0;
	uint64_t objects = 0, stored = 0;

	memset(&st, 0, sizeof(st));
	kb_cache_stats_get(&st, s->cache);
	for (int k = 0; k < KB_OBJ_KIND_MAX; k++) {
		objects += st.objects[k];
		stored += st.stored_bytes[k];
	}
	bprintf(&b, &len, &cap, "# HELP kbisect_requests_total HTTP requests by method and status code.\n"
				"# TYPE kbisect_requests_total counter\n");
	for (int m = 0; m < KB_SRV_METHOD_MAX; m++)
		for (size_t c = 0; c < KB_SRV_N_CODES; c++) {
			uint64_t v = kb_srv__get(&s->requests[m][c]);
			char code[8];
			if (c < KB_SRV_N_CODES - 1)
				snprintf(code, sizeof(code), "%d", kb_srv__codes[c]);
			else
				snprintf(code, sizeof(code), "other");
			if (v || c == 0)
				bprintf(&b, &len, &cap,
					"kbisect_requests_total{method=\"%s\",code=\"%s\"} %llu\n",
					kb_srv__method_names[m], code, (unsigned long long)v);
		}
#define METRIC(name, type, help, val)                                                        \
	bprintf(&b, &len, &cap, "# HELP " name " " help "\n# TYPE " name " " type "\n" name    \
				" %llu\n", (unsigned long long)(val))
	METRIC("kbisect_received_bytes_total", "counter", "Body bytes received.", kb_srv__get(&s->bytes_in));
	METRIC("kbisect_sent_bytes_total", "counter", "Body bytes sent.", kb_srv__get(&s->bytes_out));
	METRIC("kbisect_cache_hits_total", "counter", "GET/HEAD that found the entry.", kb_srv__get(&s->hits));
	METRIC("kbisect_cache_misses_total", "counter", "GET/HEAD that did not.", kb_srv__get(&s->misses));
	METRIC("kbisect_corrupt_reads_total", "counter", "Objects that failed their checksum.",
	       kb_srv__get(&s->corrupt));
	METRIC("kbisect_evicted_reads_total", "counter",
	       "GETs cut short because the object was evicted while being sent.",
	       kb_srv__get(&s->evicted_reads));
	METRIC("kbisect_rejected_uploads_total", "counter", "CAS uploads whose SHA-256 did not match.",
	       kb_srv__get(&s->rejected_hash));
	METRIC("kbisect_header_timeouts_total", "counter",
	       "Connections shut because their request headers were not complete in time.",
	       kb_srv__get(&s->header_timeouts));
	METRIC("kbisect_upload_waits_total", "counter",
	       "Uploads that waited for a slot (--max-uploads writers at once).", kb_srv__get(&s->up_waited));
	METRIC("kbisect_upload_busy_total", "counter",
	       "Uploads refused with 503 after waiting for a slot.", kb_srv__get(&s->up_refused));
	METRIC("kbisect_evictions_total", "counter", "Objects evicted from the store.", st.evictions);
	METRIC("kbisect_store_objects", "gauge", "Objects in the store.", objects);
	METRIC("kbisect_store_stored_bytes", "gauge", "Bytes of stored object data.", stored);
	METRIC("kbisect_store_file_bytes", "gauge", "Size of data.mdb.", st.file_size);
	METRIC("kbisect_store_limit_bytes", "gauge", "Size limit (0: none).", st.limit);
	METRIC("kbisect_uptime_seconds", "gauge", "Seconds since start.",
	       (uint64_t)(time(NULL) - s->started));
#undef METRIC
	return b;
}
