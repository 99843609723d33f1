/*
 * tests/net/test_http.c - the shared cache server for real: kb_server on 127.0.0.1
 * with an ephemeral port over a temporary cache, driven with libcurl (the Bazel
 * protocol, records, auth, /status, /metrics) and with raw sockets (malformed and
 * hostile requests). After the abuse the store must verify clean and every entry
 * put before must still read back intact.
 * kb-test-labels: integration
 * kb-test-timeout: 120
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"
#include "kbisect/server.h"
#include "kb_test.h"

struct fixture {
	char *dir;
	kb_cache *c;
	kb_server *s;
	char base[64];
};

struct buf {
	char *p;
	size_t len;
};

static size_t sink(char *d, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	char *np = realloc(b->p, b->len + sz * n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, d, sz * n);
	b->len += sz * n;
	b->p[b->len] = '\0';
	return sz * n;
}

/* One request; returns the HTTP status (or -1), body in *out (may be NULL). */
static long req(const char *method, const char *url, const void *body, long blen,
		const char *auth, struct buf *out, double *clen)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct buf tmp = { NULL, 0 };
	long code = -1;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &tmp);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, blen);
	}
	if (auth)
		hdr = curl_slist_append(hdr, auth);
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (clen) {
		curl_off_t cl = -1;
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		*clen = (double)cl;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(tmp.p);
	return code;
}

static void url_of(char *out, size_t len, struct fixture *f, const char *what, const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key_to_hex(hex, k);
	snprintf(out, len, "%s%s%s", f->base, what, hex);
}

static int start(void **state, const kb_server_opts *o)
{
	struct fixture *f = calloc(1, sizeof(*f));
	kb_server_opts opts;

	f->dir = kb_test_tmpdir("server");
	if (kb_cache_open(&f->c, f->dir, KB_CACHE_CREATE) != 0)
		return -1;
	memset(&opts, 0, sizeof(opts));
	if (o)
		opts = *o;
	opts.host = "127.0.0.1";
	opts.port = 0;
	opts.quiet = 1;
	if (!opts.timeout_s)
		opts.timeout_s = 2;
	if (kb_server_start(&f->s, f->c, &opts) != 0) {
		fprintf(stderr, "%s\n", kb_error_last()->message);
		return -1;
	}
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", kb_server_port(f->s));
	*state = f;
	return 0;
}

static int setup(void **state)
{
	kb_server_opts o;
	memset(&o, 0, sizeof(o));
	o.max_blob_size = 8u << 20;
	return start(state, &o);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kb_server_stop(f->s);
	kb_cache_free(f->c);
	kb_test_tmpdir_free(f->dir);
	free(f);
	return 0;
}

static void test_server_http__cas_put_get_head_roundtrip(void **state)
{
	struct fixture *f = *state;
	size_t n = 3u << 20;
	char *data = malloc(n), url[256];
	struct buf got = { NULL, 0 };
	double clen = 0;
	kb_key id;

	kb_test_fill_random(data, n, 1);
	kb_sha256(&id, data, n);
	url_of(url, sizeof(url), f, "/cas/", &id);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 404);
	assert_int_equal(req("HEAD", url, NULL, 0, NULL, NULL, NULL), 404);
	assert_int_equal(req("PUT", url, data, (long)n, NULL, NULL, NULL), 201);
	assert_int_equal(req("PUT", url, data, (long)n, NULL, NULL, NULL), 200);
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	assert_int_equal(got.len, n);
	assert_memory_equal(got.p, data, n);
	assert_int_equal(req("HEAD", url, NULL, 0, NULL, NULL, &clen), 200);
	assert_true(clen == (double)n);
	assert_int_equal(kb_cache_has(f->c, &id), 1);
	/* with a path prefix, same entry */
	{
		char hex[KB_KEY_HEXLEN + 1], u2[256];
		kb_key_to_hex(hex, &id);
		snprintf(u2, sizeof(u2), "%s/team/a/cas/%s", f->base, hex);
		assert_int_equal(req("HEAD", u2, NULL, 0, NULL, NULL, NULL), 200);
	}
	free(got.p);
	free(data);
}

static void test_server_http__cas_wrong_hash_stores_nothing(void **state)
{
	struct fixture *f = *state;
	char data[5000], url[256];
	kb_key id, wrong;

	kb_test_fill_random(data, sizeof(data), 2);
	kb_sha256(&id, data, sizeof(data));
	wrong = id;
	wrong.b[0] ^= 1;
	url_of(url, sizeof(url), f, "/cas/", &wrong);
	assert_int_equal(req("PUT", url, data, sizeof(data), NULL, NULL, NULL), 400);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 404);
	assert_int_equal(kb_cache_has(f->c, &id), 0);
	assert_int_equal(kb_cache_has(f->c, &wrong), 0);
}

static void test_server_http__ac_accepts_any_body_under_any_key(void **state)
{
	struct fixture *f = *state;
	const char *body = "ccache result bytes";
	struct buf got = { NULL, 0 };
	char url[256];
	kb_key key;

	memset(key.b, 0xab, 32);
	url_of(url, sizeof(url), f, "/ccache/ac/", &key);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 404);
	assert_int_equal(req("PUT", url, body, (long)strlen(body), NULL, NULL, NULL), 201);
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	assert_int_equal(got.len, strlen(body));
	assert_memory_equal(got.p, body, strlen(body));
	free(got.p);
}

static void test_server_http__oversized_and_bad_requests_get_4xx(void **state)
{
	struct fixture *f = *state;
	size_t n = 9u << 20;
	char *data = calloc(1, n), url[512];
	kb_key k;

	kb_sha256(&k, data, n);
	url_of(url, sizeof(url), f, "/cas/", &k);
	/* sent without "Expect: 100-continue", the body comes anyway: the client must
	 * still read the 413, not a connection reset under its upload (refuse_put) */
	for (int i = 0; i < 20; i++)
		assert_int_equal(req("PUT", url, data, (long)n, NULL, NULL, NULL), 413);
	assert_int_equal(kb_cache_has(f->c, &k), 0);
	snprintf(url, sizeof(url), "%s/cas/0123", f->base);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 400);
	snprintf(url, sizeof(url), "%s/cas/%%2e%%2e/%%2e%%2e/etc/passwd", f->base);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL) / 100, 4);
	snprintf(url, sizeof(url), "%s/nope", f->base);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 404);
	url_of(url, sizeof(url), f, "/cas/", &k);
	assert_int_equal(req("DELETE", url, NULL, 0, NULL, NULL, NULL), 405);
	free(data);
}

static void test_server_http__status_and_metrics(void **state)
{
	struct fixture *f = *state;
	struct buf got = { NULL, 0 };
	char url[256];
	json_t *j;

	snprintf(url, sizeof(url), "%s/status", f->base);
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	j = json_loads(got.p, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_integer(json_object_get(j, "uptime_s")));
	assert_true(json_is_object(json_object_get(j, "store")));
	assert_true(json_is_object(json_object_get(j, "requests")));
	json_decref(j);
	free(got.p);
	got.p = NULL;
	got.len = 0;
	snprintf(url, sizeof(url), "%s/metrics", f->base);
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	assert_non_null(strstr(got.p, "# TYPE kbisect_requests_total counter"));
	assert_non_null(strstr(got.p, "kbisect_requests_total{method=\"GET\",code=\"200\"}"));
	assert_non_null(strstr(got.p, "kbisect_store_objects "));
	free(got.p);
}

static void test_server_http__records_roundtrip(void **state)
{
	struct fixture *f = *state;
	char url[256], body[1024], hexk[65], hexs[65];
	struct buf got = { NULL, 0 };
	kb_cache_stats st;
	kb_key bk, sig;

	memset(bk.b, 0x21, 32);
	memset(sig.b, 0x42, 32);
	kb_key_to_hex(hexk, &bk);
	kb_key_to_hex(hexs, &sig);
	snprintf(body, sizeof(body),
		 "{\"build_key\":\"%s\",\"ok\":true,\"signature\":\"%s\",\"artifacts\":[],"
		 "\"duration_s\":61.5,\"host\":\"b1\",\"time\":5,\"git_tree\":\"\",\"error\":\"\"}",
		 hexk, hexs);
	url_of(url, sizeof(url), f, "/kb/v1/build/", &bk);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 404);
	assert_int_equal(req("PUT", url, body, (long)strlen(body), NULL, NULL, NULL), 201);
	assert_int_equal(req("PUT", url, body, (long)strlen(body), NULL, NULL, NULL), 200);
	/* the PUTs asked whether the record existed without a lookup: the GET's miss only */
	assert_int_equal(kb_cache_stats_get(&st, f->c), 0);
	assert_int_equal(st.build_hits, 0);
	assert_int_equal(st.build_misses, 1);
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	assert_int_equal(kb_cache_stats_get(&st, f->c), 0);
	assert_int_equal(st.build_hits, 1);
	assert_int_equal(st.build_misses, 1);
	assert_non_null(strstr(got.p, hexs));
	free(got.p);
	got.p = NULL;
	got.len = 0;
	url_of(url, sizeof(url), f, "/kb/v1/sig/", &sig);
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	assert_non_null(strstr(got.p, hexk));
	free(got.p);
	/* a record whose key differs from the path is refused */
	memset(bk.b, 0x22, 32);
	url_of(url, sizeof(url), f, "/kb/v1/build/", &bk);
	assert_int_equal(req("PUT", url, body, (long)strlen(body), NULL, NULL, NULL), 400);
	assert_int_equal(req("PUT", url, "{bad json", 9, NULL, NULL, NULL), 400);
	/* test runs merge without duplicates */
	url_of(url, sizeof(url), f, "/kb/v1/test/", &bk);
	snprintf(body, sizeof(body), "[{\"class\":\"crash\",\"title\":\"KASAN: x\",\"duration_s\":2,"
				     "\"time\":7}]");
	assert_int_equal(req("PUT", url, body, (long)strlen(body), NULL, NULL, NULL), 201);
	assert_int_equal(req("PUT", url, body, (long)strlen(body), NULL, NULL, NULL), 200);
	{
		kb_test_run *runs = NULL;
		size_t n = 0;
		assert_int_equal(kb_cache_test_list(&runs, &n, f->c, &bk), 0);
		assert_int_equal(n, 1);
		assert_string_equal(runs[0].title, "KASAN: x");
		free(runs);
	}
}

/* ---- raw sockets ---- */

static int dial(struct fixture *f)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(kb_server_port(f->s));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send raw bytes, optionally half-close, read the answer for up to ms; returns the
 * status of the first response line, 0 if the server closed without answering. */
static int raw(struct fixture *f, const char *bytes, size_t len, int shut, int ms)
{
	char resp[4096];
	size_t got = 0;
	int fd = dial(f), status = 0;
	struct pollfd p;

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	p.fd = fd;
	p.events = POLLIN;
	while (got < sizeof(resp) - 1 && poll(&p, 1, ms) == 1) {
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	return status;
}

static void test_server_http__hostile_requests_leave_the_store_intact(void **state)
{
	struct fixture *f = *state;
	char data[70000], url[256], hex[65], msg[1024];
	struct buf got = { NULL, 0 };
	uint64_t bad = 99;
	kb_key id;
	int st;

	kb_test_fill_random(data, sizeof(data), 3);
	kb_sha256(&id, data, sizeof(data));
	kb_key_to_hex(hex, &id);
	url_of(url, sizeof(url), f, "/cas/", &id);
	assert_int_equal(req("PUT", url, data, sizeof(data), NULL, NULL, NULL), 201);

	/* malformed request line and headers */
	st = raw(f, "GARBAGE\r\n\r\n", 11, 1, 2000);
	assert_true(st == 0 || st / 100 == 4);
	st = raw(f, "GET /cas/x HTTP/9.9\r\n\r\n", 23, 1, 2000);
	assert_true(st == 0 || st / 100 == 4 || st == 505);
	st = raw(f, "GET /status HTTP/1.1\r\nHost: x\r\nBad header without colon\r\n\r\n", 59, 1,
		 2000);
	assert_true(st == 0 || st / 100 == 4 || st == 200);
	/* PUT without Content-Length (chunked) */
	snprintf(msg, sizeof(msg),
		 "PUT /cas/%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		 hex);
	assert_int_equal(raw(f, msg, strlen(msg), 1, 2000), 400);
	/* lying Content-Length: promises 70000 bytes of another object, sends 10, closes */
	{
		kb_key other;
		char ohex[65];
		memset(other.b, 0x77, 32);
		kb_key_to_hex(ohex, &other);
		snprintf(msg, sizeof(msg),
			 "PUT /cas/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n0123456789",
			 ohex);
		raw(f, msg, strlen(msg), 1, 1000);
		assert_int_equal(kb_cache_has(f->c, &other), 0);
		/* a Content-Length that is not a number */
		snprintf(msg, sizeof(msg),
			 "PUT /cas/%s HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", ohex);
		st = raw(f, msg, strlen(msg), 1, 2000);
		assert_true(st == 0 || st / 100 == 4);
	}
	/* truncated body of the existing object under its own key: nothing changes */
	snprintf(msg, sizeof(msg), "PUT /cas/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
		 hex, sizeof(data));
	{
		int fd = dial(f);
		assert_true(fd >= 0);
		send(fd, msg, strlen(msg), MSG_NOSIGNAL);
		send(fd, data, 1000, MSG_NOSIGNAL);
		close(fd);
	}
	/* path tricks and an oversized key */
	assert_int_equal(raw(f, "GET /../cas/x HTTP/1.1\r\nHost: x\r\n\r\n", 35, 1, 2000) / 100, 4);
	assert_int_equal(raw(f, "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 51, 1, 2000) / 100, 4);
	{
		char *big = malloc(20000);
		int n = snprintf(big, 20000, "GET /cas/");
		memset(big + n, 'a', 10000);
		n += 10000;
		n += snprintf(big + n, (size_t)(20000 - n), " HTTP/1.1\r\nHost: x\r\n\r\n");
		st = raw(f, big, (size_t)n, 1, 2000);
		assert_true(st / 100 == 4);
		free(big);
	}
	/* a slow client that sends half a request line and then nothing: dropped after
	 * the idle timeout (2 s here) while others are served */
	{
		int slow = dial(f);
		char c;
		struct pollfd p = { slow, POLLIN, 0 };
		assert_true(slow >= 0);
		send(slow, "GET /sta", 8, MSG_NOSIGNAL);
		assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 200);
		assert_int_equal(poll(&p, 1, 6000), 1); /* closed by the server */
		assert_true(recv(slow, &c, 1, 0) <= 0);
		close(slow);
	}
	/* the server is still up and the object intact; the store verifies clean */
	assert_int_equal(req("GET", url, NULL, 0, NULL, &got, NULL), 200);
	assert_int_equal(got.len, sizeof(data));
	assert_memory_equal(got.p, data, sizeof(data));
	free(got.p);
	assert_int_equal(kb_cache_verify(f->c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
}

static void test_server_http__tokens_guard_writes_and_reads(void **state)
{
	struct fixture *f;
	kb_server_opts o;
	char *tdir = kb_test_tmpdir("tok"), tokfile[512], url[256], data[100];
	kb_key id;
	(void)state;

	snprintf(tokfile, sizeof(tokfile), "%s/tokens", tdir);
	assert_int_equal(kb_test_write_file(tokfile, "# team\nalpha-token\n  beta-token  \n", 34), 0);
	memset(&o, 0, sizeof(o));
	o.token_file = tokfile;
	o.anonymous_read = 0;
	assert_int_equal(start((void **)&f, &o), 0);
	kb_test_fill_random(data, sizeof(data), 4);
	kb_sha256(&id, data, sizeof(data));
	url_of(url, sizeof(url), f, "/cas/", &id);
	assert_int_equal(req("PUT", url, data, sizeof(data), NULL, NULL, NULL), 401);
	assert_int_equal(req("PUT", url, data, sizeof(data), "Authorization: Bearer wrong", NULL, NULL), 401);
	assert_int_equal(req("PUT", url, data, sizeof(data), "Authorization: Bearer beta-token", NULL, NULL), 201);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 401);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer alpha-token", NULL, NULL), 200);
	/* Basic auth with the token as password (ccache's user:password@host) */
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Basic Y2NhY2hlOmFscGhhLXRva2Vu", NULL, NULL), 200);
	teardown((void **)&f);

	o.anonymous_read = 1;
	assert_int_equal(start((void **)&f, &o), 0);
	url_of(url, sizeof(url), f, "/cas/", &id);
	assert_int_equal(req("GET", url, NULL, 0, NULL, NULL, NULL), 404);
	assert_int_equal(req("PUT", url, data, sizeof(data), NULL, NULL, NULL), 401);
	teardown((void **)&f);

	/* read-only tokens ("ro:" lines): GET/HEAD yes, PUT 403; "rw:" is read-write */
	o.anonymous_read = 0;
	assert_int_equal(kb_test_write_file(tokfile, "ro:reader-token\nrw:ro:writer\n", 28), 0);
	assert_int_equal(start((void **)&f, &o), 0);
	url_of(url, sizeof(url), f, "/cas/", &id);
	assert_int_equal(req("PUT", url, data, sizeof(data), "Authorization: Bearer reader-token", NULL, NULL), 403);
	assert_int_equal(req("PUT", url, data, sizeof(data), "Authorization: Bearer ro:reader-token", NULL, NULL), 401);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer reader-token", NULL, NULL), 404);
	assert_int_equal(req("PUT", url, data, sizeof(data), "Authorization: Bearer ro:writer", NULL, NULL), 201);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer reader-token", NULL, NULL), 200);
	assert_int_equal(req("HEAD", url, NULL, 0, "Authorization: Bearer reader-token", NULL, NULL), 200);
	teardown((void **)&f);
	/* "ro:" alone is refused with the line number */
	assert_int_equal(kb_test_write_file(tokfile, "good\nro:\n", 9), 0);
	{
		kb_cache *c;
		kb_server *s;
		char *d = kb_test_tmpdir("tok3");
		assert_int_equal(kb_cache_open(&c, d, KB_CACHE_CREATE), 0);
		assert_int_equal(kb_server_start(&s, c, &o), KB_EINVAL);
		assert_non_null(strstr(kb_error_last()->message, "line 2"));
		kb_cache_free(c);
		kb_test_tmpdir_free(d);
	}

	/* a missing token file is a clear error */
	o.token_file = "/nonexistent/tokens";
	{
		kb_cache *c;
		kb_server *s;
		char *d = kb_test_tmpdir("tok2");
		assert_int_equal(kb_cache_open(&c, d, KB_CACHE_CREATE), 0);
		assert_int_equal(kb_server_start(&s, c, &o), KB_EINVAL);
		assert_non_null(strstr(kb_error_last()->message, "/nonexistent/tokens"));
		kb_cache_free(c);
		kb_test_tmpdir_free(d);
	}
	kb_test_tmpdir_free(tdir);
}

/* ---- concurrency: many clients putting and getting at once ---- */

#define CONC_THREADS 16
#define CONC_OPS 12

struct conc {
	struct fixture *f;
	int idx;
	int bad;
};

static void *conc_worker(void *arg)
{
	struct conc *c = arg;
	for (int i = 0; i < CONC_OPS; i++) {
		/* sizes 1 KiB .. ~2.5 MiB, shared between threads so PUTs collide */
		unsigned int seed = (unsigned int)((c->idx + i) % 10);
		size_t n = ((size_t)1024 << (seed % 12)) + seed;
		char *data = malloc(n), url[256];
		struct buf got = { NULL, 0 };
		kb_key id;
		long code;
		kb_test_fill_random(data, n, seed + 100);
		kb_sha256(&id, data, n);
		url_of(url, sizeof(url), c->f, "/cas/", &id);
		code = req("PUT", url, data, (long)n, NULL, NULL, NULL);
		if (code != 200 && code != 201)
			c->bad++;
		if (req("GET", url, NULL, 0, NULL, &got, NULL) != 200 || got.len != n ||
		    memcmp(got.p, data, n) != 0)
			c->bad++;
		free(got.p);
		free(data);
	}
	return NULL;
}

/* kb_server_reload: a new token file replaces the old one; a failed reload (missing or
 * empty file) keeps the tokens the server had. */
static void test_server_http__reload_swaps_tokens_or_keeps_them(void **state)
{
	struct fixture *f;
	kb_server_opts o;
	char *tdir = kb_test_tmpdir("reload"), tokfile[512], url[256];
	(void)state;

	snprintf(tokfile, sizeof(tokfile), "%s/tokens", tdir);
	assert_int_equal(kb_test_write_file(tokfile, "old-token first\n", 16), 0);
	memset(&o, 0, sizeof(o));
	o.token_file = tokfile;
	o.quiet = 1;
	assert_int_equal(start((void **)&f, &o), 0);
	snprintf(url, sizeof(url), "%s/status", f->base);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer old-token", NULL, NULL), 200);
	assert_int_equal(kb_test_write_file(tokfile, "new-token second\n", 17), 0);
	assert_int_equal(kb_server_reload(f->s), 0);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer old-token", NULL, NULL), 401);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer new-token", NULL, NULL), 200);
	/* an empty file, then no file: refused, the new token stays */
	assert_int_equal(kb_test_write_file(tokfile, "# nothing\n", 10), 0);
	assert_int_equal(kb_server_reload(f->s), KB_EINVAL);
	assert_non_null(strstr(kb_error_last()->message, tokfile));
	assert_int_equal(unlink(tokfile), 0);
	assert_int_equal(kb_server_reload(f->s), KB_EINVAL);
	assert_non_null(strstr(kb_error_last()->message, tokfile));
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer new-token", NULL, NULL), 200);
	assert_int_equal(req("GET", url, NULL, 0, "Authorization: Bearer old-token", NULL, NULL), 401);
	teardown((void **)&f);
	kb_test_tmpdir_free(tdir);
}

static void test_server_http__concurrent_put_get_lose_nothing(void **state)
{
	struct fixture *f = *state;
	pthread_t th[CONC_THREADS];
	struct conc c[CONC_THREADS];
	uint64_t bad = 1;

	for (int i = 0; i < CONC_THREADS; i++) {
		c[i].f = f;
		c[i].idx = i;
		c[i].bad = 0;
		assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &c[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].bad, 0);
	}
	assert_int_equal(kb_cache_verify(f->c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_http__cas_put_get_head_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_http__cas_wrong_hash_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_http__ac_accepts_any_body_under_any_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_http__oversized_and_bad_requests_get_4xx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_http__status_and_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_http__records_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_http__hostile_requests_leave_the_store_intact, setup, teardown),
		cmocka_unit_test(test_server_http__tokens_guard_writes_and_reads),
		cmocka_unit_test(test_server_http__reload_swaps_tokens_or_keeps_them),
		cmocka_unit_test_setup_teardown(test_server_http__concurrent_put_get_lose_nothing, setup, teardown),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("net/http", tests, NULL, NULL);
}
