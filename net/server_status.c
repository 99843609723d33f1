/*
 * net/server_status.c - what the shared cache server says about itself: GET /status
 * (JSON: version, limits, store sizes, request counts) and GET /metrics (Prometheus
 * text format 0.0.4: request counts, latency histograms and hits/misses per route,
 * process memory, fds and CPU from /proc/self), and the counters behind them.
 * Not: the requests themselves (net/server.c), the connection defences whose
 * counters it shows (net/server_guard.c).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "server_priv.h"

const int kb_srv__codes[KB_SRV_N_CODES - 1] = { 200, 201, 400, 401, 403, 404, 405, 408,
						413, 500, 503, 507 };

const char *const kb_srv__method_names[KB_SRV_METHOD_MAX] = { "GET", "HEAD", "PUT", "DELETE",
								 "OTHER" };

const double kb_srv__buckets[KB_SRV_N_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
						    0.05,   0.1,   0.25,   0.5,   1,    2.5,
						    10,     60 };

/* by enum kb_srv_target */
const char *const kb_srv__route_names[KB_SRV_N_ROUTES] = { "other",    "cas",	"ac",
							    "status",	"metrics",	"kb_build",
							    "kb_test", "kb_sig",	"ccache" };

void kb_server__observe(kb_server *s, int route, int method, int status, double seconds)
{
	size_t b = 0;

	if (route < 0 || route >= KB_SRV_N_ROUTES)
		route = 0;
	while (b < KB_SRV_N_BUCKETS && seconds > kb_srv__buckets[b])
		b++;
	if (b < KB_SRV_N_BUCKETS) /* cumulative buckets are summed when printed */
		kb_srv__add(&s->lat_bucket[route][b], 1);
	kb_srv__add(&s->lat_count[route], 1);
	kb_srv__add(&s->lat_sum_us[route], (uint64_t)(seconds * 1e6 + 0.5));
	if (method == KB_SRV_GET || method == KB_SRV_HEAD) {
		if (status == 200)
			kb_srv__add(&s->route_hits[route], 1);
		else if (status == 404)
			kb_srv__add(&s->route_misses[route], 1);
	}
}

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
	json_object_set_new(o, "auth", json_boolean(kb_server__has_tokens(s)));
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
	json_object_set_new(o, "reloads", json_integer((json_int_t)kb_srv__get(&s->reloads)));
	json_object_set_new(o, "reload_failures",
			    json_integer((json_int_t)kb_srv__get(&s->reload_failures)));
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

/* Latency histograms, hits, misses and hit ratio per route. */
static void route_metrics(kb_server *s, char **b, size_t *len, size_t *cap)
{
	bprintf(b, len, cap, "# HELP kbisect_request_duration_seconds Time from a request's "
			     "arrival to its last byte sent, by route.\n"
			     "# TYPE kbisect_request_duration_seconds histogram\n");
	for (int r = 0; r < KB_SRV_N_ROUTES; r++) {
		uint64_t cum = 0, count = kb_srv__get(&s->lat_count[r]);
		if (!count && r != 1) /* unused routes stay out; cas always shows */
			continue;
		for (size_t i = 0; i < KB_SRV_N_BUCKETS; i++) {
			cum += kb_srv__get(&s->lat_bucket[r][i]);
			bprintf(b, len, cap,
				"kbisect_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				kb_srv__route_names[r], kb_srv__buckets[i], (unsigned long long)cum);
		}
		/* count is read after the buckets: +Inf >= every finite bucket */
		count = kb_srv__get(&s->lat_count[r]);
		if (count < cum)
			count = cum;
		bprintf(b, len, cap,
			"kbisect_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
			"kbisect_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
			"kbisect_request_duration_seconds_count{route=\"%s\"} %llu\n",
			kb_srv__route_names[r], (unsigned long long)count, kb_srv__route_names[r],
			(double)kb_srv__get(&s->lat_sum_us[r]) / 1e6, kb_srv__route_names[r],
			(unsigned long long)count);
	}
	static const int cached[] = { KB_SRV_CAS, KB_SRV_AC, KB_SRV_CCACHE, KB_SRV_BUILD,
				      KB_SRV_TEST, KB_SRV_SIG };
	static const struct {
		const char *name, *help;
		int ratio;
	} fam[] = {
		{ "kbisect_route_hits_total", "GET/HEAD of a cache entry answered 200, by route.", 0 },
		{ "kbisect_route_misses_total", "GET/HEAD of a cache entry answered 404, by route.", 0 },
		{ "kbisect_cache_hit_ratio", "Hits / (hits + misses) since start, by route "
					     "(routes with lookups only).", 1 },
	};
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		bprintf(b, len, cap, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
			fam[f].name, fam[f].ratio ? "gauge" : "counter");
		for (size_t i = 0; i < sizeof(cached) / sizeof(cached[0]); i++) {
			int r = cached[i];
			uint64_t h = kb_srv__get(&s->route_hits[r]), m = kb_srv__get(&s->route_misses[r]);
			if (!fam[f].ratio)
				bprintf(b, len, cap, "%s{route=\"%s\"} %llu\n", fam[f].name,
					kb_srv__route_names[r], (unsigned long long)(f == 0 ? h : m));
			else if (h + m)
				bprintf(b, len, cap, "%s{route=\"%s\"} %.6f\n", fam[f].name,
					kb_srv__route_names[r], (double)h / (double)(h + m));
		}
	}
}

/* The standard process_* metrics, from /proc/self (Linux). */
static void process_metrics(char **b, size_t *len, size_t *cap)
{
	FILE *f;
	unsigned long long vsz = 0, rss = 0, ut = 0, st = 0;
	long page = sysconf(_SC_PAGESIZE), tick = sysconf(_SC_CLK_TCK);
	struct rlimit rl;
	DIR *d;

	if ((f = fopen("/proc/self/statm", "r"))) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(f);
	}
	if ((f = fopen("/proc/self/stat", "r"))) {
		char buf[1024], *p;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		/* after the command name "(...)": state is field 3, utime 14, stime 15 */
		if ((p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
			ut = st = 0;
		fclose(f);
	}
	bprintf(b, len, cap,
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes %llu\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes %llu\n"
		"# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total %.2f\n",
		rss * (unsigned long long)(page > 0 ? page : 4096),
		vsz * (unsigned long long)(page > 0 ? page : 4096),
		(double)(ut + st) / (double)(tick > 0 ? tick : 100));
	if ((d = opendir("/proc/self/fd"))) {
		unsigned long long n = 0;
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		bprintf(b, len, cap, "# HELP process_open_fds Number of open file descriptors.\n"
				     "# TYPE process_open_fds gauge\nprocess_open_fds %llu\n",
			n > 0 ? n - 1 : 0 /* not the one reading the directory */);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		bprintf(b, len, cap, "# HELP process_max_fds Maximum number of open file descriptors.\n"
				     "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
			(unsigned long long)rl.rlim_cur);
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
	METRIC("kbisect_reloads_total", "counter", "Successful reloads (SIGHUP) of tokens and TLS files.",
	       kb_srv__get(&s->reloads));
	METRIC("kbisect_reload_failures_total", "counter",
	       "Reloads refused (unreadable or bad file); the old tokens and certificate stay.",
	       kb_srv__get(&s->reload_failures));
#undef METRIC
	route_metrics(s, &b, &len, &cap);
	process_metrics(&b, &len, &cap);
	return b;
}
