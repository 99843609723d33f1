/*
 * net/remote.c - client of the shared cache server (libcurl): the second tier behind
 * a local cache (kb_cache_set_remote() fills in the cache's kb_cache_tier).
 * Owns: the CURL handle of one server, its URL and token, the failed flag and the
 * counters, streaming between the server and kb_cache readers/writers, the tier
 * functions (fetch and push of objects, /ac/ entries, build records, the signature
 * index, test runs).
 * Not: when to ask the server (cache/tier.c: a local miss, a write), which server
 * (the CLI: cli/cmd_remote_wiring.c), the server (net/server.c), the wire format of
 * records (net/wire.c).
 * DESIGN: one easy handle (keeps its connection alive) behind a mutex. Every transfer
 * has a short connect timeout and a stall limit; the first transport error, timeout,
 * 5xx or refused token marks the handle failed, after which every call is local only,
 * so a slow or dead server costs at most one timeout per run. Downloads stream into a
 * kb_cache_writer committed with the expected id, so a wrong body is never stored;
 * uploads stream from a kb_cache_reader. The tier functions are called with the cache
 * in local mode, so the kb_cache_* calls they make never come back here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/error_internal.h"
#include "kbisect/remote.h"
#include "wire.h"

#define SMALL_MAX (16u << 20) /* largest record body we accept */

struct kb_remote {
	char *url;
	char *auth;                /* "Authorization: Bearer ..." or NULL */
	char *ca_file;
	kb_remote_opts opts;
	CURL *curl;
	pthread_mutex_t lock;
	kb_remote_stats st;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- opening ---- */

static char *read_first_line(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], *p, *e;

	if (!f)
		return NULL;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	e = p + strlen(p);
	while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return *p ? strdup(p) : NULL;
}

int kb_remote_open(kb_remote **out, const char *url, const kb_remote_opts *opts)
{
	kb_remote *r;
	const char *tok;
	char *filetok = NULL;
	size_t n;

	*out = NULL;
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				     "remote '%s' is not an http:// or https:// URL; use e.g. "
				     "http://cache-host:8080", url ? url : "");
	pthread_once(&curl_once, curl_init_once);
	r = calloc(1, sizeof(*r));
	if (!r)
		return kb_error_os("cannot allocate the remote handle");
	if (opts)
		r->opts = *opts;
	if (!r->opts.connect_timeout_ms)
		r->opts.connect_timeout_ms = 1000;
	if (!r->opts.timeout_s)
		r->opts.timeout_s = 10;
	if (!r->opts.stall_s)
		r->opts.stall_s = 10;
	r->url = strdup(url);
	if (!r->url) {
		free(r);
		return kb_error_os("cannot allocate the remote handle");
	}
	n = strlen(r->url);
	while (n > 0 && r->url[n - 1] == '/')
		r->url[--n] = '\0';
	tok = r->opts.token;
	if (!tok && r->opts.token_file) {
		filetok = read_first_line(r->opts.token_file);
		if (!filetok) {
			int rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
					       "cannot read a token from '%s'; put the token on "
					       "its first line", r->opts.token_file);
			free(r->url);
			free(r);
			return rc;
		}
		tok = filetok;
	}
	if (!tok)
		tok = getenv("KBISECT_REMOTE_TOKEN");
	if (tok && *tok && asprintf(&r->auth, "Authorization: Bearer %s", tok) < 0)
		r->auth = NULL;
	free(filetok);
	if (r->opts.ca_file)
		r->ca_file = strdup(r->opts.ca_file);
	r->opts.token = r->opts.token_file = r->opts.ca_file = NULL; /* not kept */
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void kb_remote_free(kb_remote *r)
{
	if (!r)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	pthread_mutex_destroy(&r->lock);
	free(r->url);
	free(r->auth);
	free(r->ca_file);
	free(r);
}

const char *kb_remote_url(const kb_remote *r)
{
	return r ? r->url : "";
}

void kb_remote_stats_get(kb_remote_stats *out, kb_remote *r)
{
	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	*out = r->st;
	pthread_mutex_unlock(&r->lock);
}

void kb_remote_stats_print(FILE *out, kb_remote *r)
{
	kb_remote_stats s;

	if (!r)
		return;
	kb_remote_stats_get(&s, r);
	fprintf(out, "remote: %s%s\n", r->url, s.failed ? " (failed, skipped)" : "");
	fprintf(out, "remote: requests %llu, hits %llu, misses %llu, uploads %llu\n",
		(unsigned long long)s.requests, (unsigned long long)s.hits,
		(unsigned long long)s.misses, (unsigned long long)s.uploads);
	fprintf(out, "remote: errors %llu, timeouts %llu, corrupt %llu, in %llu B, out %llu B\n",
		(unsigned long long)s.errors, (unsigned long long)s.timeouts,
		(unsigned long long)s.corrupt, (unsigned long long)s.bytes_in,
		(unsigned long long)s.bytes_out);
	if (s.failed)
		fprintf(out, "remote: last error: %s\n", s.last_error);
}

/* ---- one HTTP exchange ---- */

enum body_kind { BODY_NONE, BODY_MEM, BODY_WRITER, BODY_READER };

struct xfer {
	kb_remote *r;
	/* download */
	int down;                  /* enum body_kind */
	char *mem;
	size_t len, cap;
	kb_cache_writer *w;
	int write_failed;
	/* upload */
	int up;
	const char *upmem;
	size_t uplen, uppos;
	kb_cache_reader *rd;
	int read_failed;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(x->r->curl, CURLINFO_RESPONSE_CODE, &code);
	x->r->st.bytes_in += n;
	if (code != 200)
		return n; /* error text: ignore */
	if (x->down == BODY_MEM) {
		if (x->len + n > SMALL_MAX)
			return 0;
		if (x->len + n + 1 > x->cap) {
			size_t ncap = (x->len + n + 1) * 2;
			char *nb = realloc(x->mem, ncap);
			if (!nb)
				return 0;
			x->mem = nb;
			x->cap = ncap;
		}
		memcpy(x->mem + x->len, data, n);
		x->len += n;
		x->mem[x->len] = '\0';
	} else if (x->down == BODY_WRITER) {
		if (kb_cache_writer_write(x->w, data, n) != 0) {
			x->write_failed = 1;
			return 0;
		}
	}
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (x->up == BODY_MEM) {
		if (n > x->uplen - x->uppos)
			n = x->uplen - x->uppos;
		memcpy(buf, x->upmem + x->uppos, n);
		x->uppos += n;
	} else {
		ssize_t got = kb_cache_reader_read(x->rd, buf, n);
		if (got < 0) {
			x->read_failed = 1;
			return CURL_READFUNC_ABORT;
		}
		n = (size_t)got;
	}
	x->r->st.bytes_out += n;
	return n;
}

static void mark_failed(kb_remote *r, const char *why)
{
	r->st.failed = 1;
	snprintf(r->st.last_error, sizeof(r->st.last_error), "%s", why);
}

/*
 * Perform method on url path (relative to the base URL) with r->lock held. Returns the
 * HTTP status (200, 404...), or -1 after a transport failure (the remote is then
 * marked failed). 5xx and 401/403 also mark it failed, but 503: a server that is busy
 * (too many uploads at once) refused this request only.
 */
static long perform(kb_remote *r, const char *method, const char *path, struct xfer *x,
		    uint64_t upsize, int big)
{
	char url[2048], err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	CURLcode cc;
	long code = 0;

	if (r->st.failed)
		return -1;
	if (!r->curl && !(r->curl = curl_easy_init())) {
		mark_failed(r, "cannot create a libcurl handle");
		r->st.errors++;
		return -1;
	}
	curl_easy_reset(r->curl);
	snprintf(url, sizeof(url), "%s%s", r->url, path);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)r->opts.connect_timeout_ms);
	curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_TIME, (long)r->opts.stall_s);
	if (!big)
		curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, (long)r->opts.timeout_s);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (r->ca_file)
		curl_easy_setopt(r->curl, CURLOPT_CAINFO, r->ca_file);
	if (r->auth)
		hdr = curl_slist_append(hdr, r->auth);
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, x);
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(r->curl, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "DELETE")) {
		curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (!strcmp(method, "PUT")) {
		curl_easy_setopt(r->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(r->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(r->curl, CURLOPT_READDATA, x);
		curl_easy_setopt(r->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upsize);
	}
	r->st.requests++;
	cc = curl_easy_perform(r->curl);
	curl_slist_free_all(hdr);
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		char why[256];
		if (x->write_failed || x->read_failed)
			return -2; /* local store problem, not the server's */
		if (cc == CURLE_OPERATION_TIMEDOUT)
			r->st.timeouts++;
		else
			r->st.errors++;
		snprintf(why, sizeof(why), "%s %.160s: %.80s", method, url,
			 err[0] ? err : curl_easy_strerror(cc));
		mark_failed(r, why);
		return -1;
	}
	if ((code >= 500 && code != 503) || code == 401 || code == 403) {
		char why[256];
		r->st.errors++;
		snprintf(why, sizeof(why), "%s %.160s: HTTP %ld%s", method, url, code,
			 code == 401 ? " (check the token)" : "");
		mark_failed(r, why);
		return -1;
	}
	return code;
}

static void key_path(char *buf, size_t len, const char *what, const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key_to_hex(hex, k);
	snprintf(buf, len, "/%s/%s", what, hex);
}

/* GET a small body into *out (malloc'd, NUL-terminated). 200 -> 0; 404 -> KB_ENOTFOUND;
 * else -1 (remote failed or unusable answer). entry: 1 for a cache entry (counted as a
 * hit or a miss), 0 for anything else (the /status document). Lock held by caller. */
static int get_small(kb_remote *r, const char *path, int entry, char **out, size_t *len)
{
	struct xfer x;
	long code;

	memset(&x, 0, sizeof(x));
	x.r = r;
	x.down = BODY_MEM;
	code = perform(r, "GET", path, &x, 0, 0);
	if (code == 200 && x.mem) {
		r->st.hits += (unsigned)entry;
		*out = x.mem;
		*len = x.len;
		return 0;
	}
	free(x.mem);
	if (code == 404 || code == 400 || code == 405) {
		/* 400/405: a plain Bazel cache (bazel-remote, nginx) without kbisect's
		 * record paths; a miss, and objects can still be shared */
		r->st.misses += (unsigned)entry;
		return KB_ENOTFOUND;
	}
	if (code > 0) {
		char why[256];
		r->st.errors++;
		snprintf(why, sizeof(why), "GET %s: unexpected HTTP %ld", path, code);
		mark_failed(r, why);
	}
	return -1;
}

static int put_small(kb_remote *r, const char *path, const char *body)
{
	struct xfer x;
	long code;

	memset(&x, 0, sizeof(x));
	x.r = r;
	x.up = BODY_MEM;
	x.upmem = body;
	x.uplen = strlen(body);
	code = perform(r, "PUT", path, &x, x.uplen, 0);
	free(x.mem);
	if (code == 200 || code == 201 || code == 204) {
		r->st.uploads++;
		return 0;
	}
	if (code == 400 || code == 404 || code == 405) {
		r->st.errors++; /* refused (e.g. a server without kbisect's records): go on */
		return -1;
	}
	if (code > 0) {
		char why[256];
		r->st.errors++;
		snprintf(why, sizeof(why), "PUT %s: HTTP %ld", path, code);
		mark_failed(r, why);
	}
	return -1;
}

int kb_remote_status_json(char **out, kb_remote *r)
{
	size_t len;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&r->lock);
	rc = get_small(r, "/status", 0, out, &len);
	pthread_mutex_unlock(&r->lock);
	if (rc == 0)
		return 0;
	{
		kb_remote_stats st;
		kb_remote_stats_get(&st, r);
		return kb_error_set(KB_ERRCLASS_NET,
				    "cannot get the status of '%s': %s; is 'kbisect cache serve' "
				    "running there?", r->url,
				    st.last_error[0] ? st.last_error : "no /status there");
	}
}

/* ---- objects ---- */

/* Download path into the local cache, expecting id (if not NULL); *got gets the id.
 * 0, KB_ENOTFOUND, or -1 (remote problem, counted). Lock held by caller. */
static int download(kb_remote *r, kb_cache *local, const char *path, const kb_key *expect,
		    kb_key *got)
{
	struct xfer x;
	kb_put_opts po;
	long code;
	int rc;

	memset(&x, 0, sizeof(x));
	memset(&po, 0, sizeof(po));
	x.r = r;
	x.down = BODY_WRITER;
	if (kb_cache_writer_open(&x.w, local, &po) != 0)
		return KB_ERROR;
	code = perform(r, "GET", path, &x, 0, 1);
	if (code != 200) {
		kb_cache_writer_abort(x.w);
		if (code == 404) {
			r->st.misses++;
			return KB_ENOTFOUND;
		}
		if (code > 0) {
			char why[128];
			r->st.errors++;
			snprintf(why, sizeof(why), "GET %s: unexpected HTTP %ld", path, code);
			mark_failed(r, why);
		}
		return code == -2 ? KB_ERROR : -1;
	}
	rc = kb_cache_writer_commit(got, x.w, expect);
	if (rc == KB_ECORRUPT) {
		r->st.corrupt++;
		r->st.errors++;
		mark_failed(r, "the server sent an object whose SHA-256 differs from its id");
		return -1;
	}
	if (rc != 0)
		return rc;
	r->st.hits++;
	return 0;
}

/* Upload object id under path (HEAD first when skip_if_present). Lock held. */
static int upload(kb_remote *r, kb_cache *local, const char *path, const kb_key *id,
		  int skip_if_present)
{
	struct xfer x;
	uint64_t size;
	long code;

	if (r->st.failed)
		return 0;
	memset(&x, 0, sizeof(x));
	x.r = r;
	if (skip_if_present) {
		code = perform(r, "HEAD", path, &x, 0, 0);
		if (code == 200)
			return 0;
		if (code != 404)
			return 0; /* failed: counted */
	}
	if (kb_cache_reader_open(&x.rd, &size, local, id) != 0)
		return kb_error_last()->code;
	x.up = BODY_READER;
	code = perform(r, "PUT", path, &x, size, 1);
	kb_cache_reader_free(x.rd);
	if (code == -2)
		return KB_ECORRUPT; /* local object damaged */
	if (code == 200 || code == 201 || code == 204) {
		r->st.uploads++;
	} else if (code == 503) {
		r->st.errors++; /* busy server: this object is not shared this time */
	} else if (code > 0) {
		char why[160];
		r->st.errors++;
		snprintf(why, sizeof(why), "PUT %s: HTTP %ld", path, code);
		mark_failed(r, why);
	}
	return 0;
}

/* GET the record at /<what>/<key> into *body (malloc'd): 0, KB_ENOTFOUND, KB_ERROR
 * (remote problem, counted). */
static int get_record(kb_remote *r, const char *what, const kb_key *k, char **body,
		      size_t *len)
{
	char path[128];
	int rc;

	key_path(path, sizeof(path), what, k);
	pthread_mutex_lock(&r->lock);
	rc = get_small(r, path, 1, body, len);
	pthread_mutex_unlock(&r->lock);
	return rc == -1 ? KB_ERROR : rc;
}

/* PUT body (freed) at /<what>/<key>; a refusal is counted, never returned. */
static void put_record(kb_remote *r, const char *what, const kb_key *k, char *body)
{
	char path[128];

	if (!body)
		return;
	key_path(path, sizeof(path), what, k);
	pthread_mutex_lock(&r->lock);
	put_small(r, path, body);
	pthread_mutex_unlock(&r->lock);
	free(body);
}

/* ---- the tier behind a kb_cache (kb_cache_tier; called by cache/tier.c with the
 * cache in local mode) ---- */

/* Download /<what>/<key> into c (checked against expect when not NULL; *got gets the
 * id): 0, KB_ENOTFOUND, KB_ERROR (remote problem, counted) or a local error. */
static int fetch_object(kb_remote *r, kb_cache *c, const char *what, const kb_key *key,
			const kb_key *expect, kb_key *got)
{
	char path[128];
	int rc;

	key_path(path, sizeof(path), what, key);
	pthread_mutex_lock(&r->lock);
	rc = download(r, c, path, expect, got);
	pthread_mutex_unlock(&r->lock);
	return rc == -1 ? KB_ERROR : rc;
}

/* Upload object id of c under /<what>/<key> (after a HEAD when skip_if_present). */
static int push_object(kb_remote *r, kb_cache *c, const char *what, const kb_key *key,
		       const kb_key *id, int skip_if_present)
{
	char path[128];
	int rc;

	key_path(path, sizeof(path), what, key);
	pthread_mutex_lock(&r->lock);
	rc = upload(r, c, path, id, skip_if_present);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int t_object_fetch(void *ctx, kb_cache *c, const kb_key *id)
{
	return fetch_object(ctx, c, "cas", id, id, NULL);
}

static int t_object_push(void *ctx, kb_cache *c, const kb_key *id)
{
	return push_object(ctx, c, "cas", id, id, 1);
}

static int t_ac_fetch(void *ctx, kb_cache *c, const kb_key *key, kb_key *out_id)
{
	return fetch_object(ctx, c, "ac", key, NULL, out_id);
}

static int t_ac_push(void *ctx, kb_cache *c, const kb_key *key, const kb_key *id)
{
	return push_object(ctx, c, "ac", key, id, 0);
}

static int t_build_fetch(void *ctx, kb_build_record *out, const kb_key *build_key)
{
	kb_remote *r = ctx;
	char *body = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = get_record(r, "kb/v1/build", build_key, &body, &len)) != 0)
		return rc;
	rc = kb_cache__wire_build_decode(out, body, len);
	free(body);
	if (rc != 0 || !kb_key_equal(&out->build_key, build_key)) {
		if (rc == 0)
			kb_build_record_clear(out);
		memset(out, 0, sizeof(*out));
		pthread_mutex_lock(&r->lock);
		r->st.errors++;
		mark_failed(r, "the server sent a malformed build record");
		pthread_mutex_unlock(&r->lock);
		return KB_ERROR;
	}
	return 0;
}

int kb_remote_build_push(kb_remote *r, kb_cache *local, const kb_build_record *rec)
{
	if (!r)
		return 0;
	for (size_t i = 0; i < rec->n_artifacts && i < KB_BUILD_MAX_ARTIFACTS; i++)
		if (kb_cache_has(local, &rec->artifacts[i].id))
			t_object_push(r, local, &rec->artifacts[i].id);
	put_record(r, "kb/v1/build", &rec->build_key, kb_cache__wire_build_encode(rec));
	return 0;
}

int kb_remote_build_forget(kb_remote *r, const kb_key *build_key)
{
	struct xfer x;
	char path[128];
	long code;

	memset(&x, 0, sizeof(x));
	x.r = r;
	x.down = BODY_MEM;
	key_path(path, sizeof(path), "kb/v1/build", build_key);
	pthread_mutex_lock(&r->lock);
	code = perform(r, "DELETE", path, &x, 0, 0);
	pthread_mutex_unlock(&r->lock);
	free(x.mem);
	if (code == 200 || code == 204)
		return 0;
	if (code == 404)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_NET,
				     "the server '%s' has no build record %.12s", r->url, path + 13);
	if (code == 405 || code == 400)
		return kb_error_setc(KB_EUNSUPPORTED, KB_ERRCLASS_NET,
				     "the server '%s' cannot drop build records (HTTP %ld: an older "
				     "kbisect or a plain Bazel cache); rebuild with 'kbisect build "
				     "--retry-failed --remote' to replace it", r->url, code);
	{
		kb_remote_stats st;
		kb_remote_stats_get(&st, r);
		return kb_error_set(KB_ERRCLASS_NET, "cannot drop build record %.12s on '%s': %s",
				    path + 13, r->url,
				    st.last_error[0] ? st.last_error : "unexpected answer");
	}
}

static int t_build_push(void *ctx, kb_cache *c, const kb_build_record *rec)
{
	return kb_remote_build_push(ctx, c, rec);
}

static int t_sig_fetch(void *ctx, kb_key **out, size_t *n, const kb_key *sig)
{
	char *body = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = get_record(ctx, "kb/v1/sig", sig, &body, &len);
	if (rc == 0 && kb_cache__wire_keys_decode(out, n, body, len) != 0)
		rc = KB_ECORRUPT;
	free(body);
	return rc;
}

static int t_test_fetch(void *ctx, kb_test_run **out, size_t *n, const kb_key *test_key,
			const kb_test_run *have, size_t n_have)
{
	char *body = NULL;
	kb_test_run *rem = NULL;
	unsigned char *keep = NULL;
	size_t len = 0, nrem = 0, k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = get_record(ctx, "kb/v1/test", test_key, &body, &len)) != 0)
		return rc;
	rc = kb_cache__wire_runs_decode(&rem, &nrem, body, len);
	free(body);
	if (rc != 0)
		return KB_ECORRUPT;
	if (nrem && (!(keep = calloc(nrem, 1)) ||
		     kb_cache__wire_runs_new(keep, rem, nrem, have, n_have) != 0)) {
		free(keep);
		free(rem);
		return KB_ERROR;
	}
	for (size_t i = 0; i < nrem; i++) /* only runs not stored already */
		if (keep[i])
			rem[k++] = rem[i];
	free(keep);
	*out = rem;
	*n = k;
	return 0;
}

static int t_test_push(void *ctx, kb_cache *c, const kb_key *test_key, const kb_test_run *runs,
		       size_t n)
{
	kb_remote *r = ctx;

	for (size_t i = 0; i < n; i++)
		if (runs[i].has_console && kb_cache_has(c, &runs[i].console))
			t_object_push(r, c, &runs[i].console);
	put_record(r, "kb/v1/test", test_key, kb_cache__wire_runs_encode(runs, n));
	return 0;
}

void kb_cache_set_remote(kb_cache *c, kb_remote *r)
{
	kb_cache_tier t = {
		.ctx = r,
		.object_fetch = t_object_fetch,
		.object_push = t_object_push,
		.ac_fetch = t_ac_fetch,
		.ac_push = t_ac_push,
		.build_fetch = t_build_fetch,
		.build_push = t_build_push,
		.sig_fetch = t_sig_fetch,
		.test_fetch = t_test_fetch,
		.test_push = t_test_push,
	};

	kb_cache_set_tier(c, r ? &t : NULL);
}
