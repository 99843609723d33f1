/*
 * bench/server/loadgen.c - bounded HTTP load generator for the shared cache server
 * benchmark (bench/server/run.sh): many concurrent keep-alive connections (libcurl
 * multi, one event loop per thread) doing GET and PUT of content-addressed blobs for a
 * fixed time; every GET body is checked against its SHA-256 name.
 *
 * usage: loadgen <base-url> <blob-dir> <connections> <seconds> <put-percent> <threads>
 *   blob-dir holds files named by the SHA-256 of their content: get/<sha>, put/<sha>.
 *   GETs pick a uniformly random blob of get/ (and of put/ once it was uploaded);
 *   PUTs pick one of put/. URLs are <base-url>/cas/<sha>.
 *   "loadgen <base-url> <blob-dir> upload" PUTs every file of get/ once.
 *   "loadgen <base-url> <blob-dir> check" GETs and checks every file of get/ and put/.
 * Prints one line of key=value results (throughput, and the p50/p99 latency of GETs and
 * PUTs: from the request's start to its last byte, libcurl's total time); exit 1 on any
 * error or corrupt body.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

struct blob {
	char sha[65];
	const unsigned char *data; /* mmap of the file */
	size_t size;
	int is_put;
	atomic_int uploaded;
};

static struct blob *blobs;
static size_t nblobs, nget;
static const char *base;
static double deadline;
static int put_pct;

static atomic_uint_fast64_t n_get, n_put, b_get, b_put, n_err, n_corrupt, n_404, n_lost;

/* Latencies (microseconds) of the phase's successful GETs and PUTs. */
#define LAT_MAX (1u << 22)
static uint32_t *lat_get, *lat_put;
static atomic_uint_fast64_t n_lat_get, n_lat_put;

static void lat_add(uint32_t *arr, atomic_uint_fast64_t *n, CURL *h)
{
	curl_off_t us = 0;
	uint64_t i;
	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
	i = atomic_fetch_add(n, 1);
	if (i < LAT_MAX)
		arr[i] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The p-th percentile (0-100) of n latencies, in ms (sorts arr); 0 when none. */
static double pct_ms(uint32_t *arr, uint64_t n, double p)
{
	size_t i;
	if (n > LAT_MAX)
		n = LAT_MAX;
	if (!n)
		return 0;
	qsort(arr, (size_t)n, sizeof(*arr), cmp_u32);
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return arr[i] / 1000.0;
}

/* Print at most 10 error lines per process. */
static atomic_int n_said;
#define SAY(...) \
	do { \
		if (atomic_fetch_add(&n_said, 1) < 10) \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void load_dir(const char *dir, const char *sub, int is_put)
{
	char path[4096];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;
		int fd;
		struct blob *b;
		if (strlen(e->d_name) != 64)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) != 0) {
			perror(path);
			exit(2);
		}
		blobs = realloc(blobs, (nblobs + 1) * sizeof(*blobs));
		b = &blobs[nblobs++];
		memset(b, 0, sizeof(*b));
		memcpy(b->sha, e->d_name, 65);
		b->size = (size_t)st.st_size;
		b->data = b->size ? mmap(NULL, b->size, PROT_READ, MAP_SHARED, fd, 0) : (void *)"";
		if (b->data == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
		b->is_put = is_put;
		close(fd);
	}
	closedir(d);
}

/* One transfer in flight. */
struct xfer {
	CURL *h;
	struct blob *b;
	int put;
	size_t off;
	EVP_MD_CTX *md;
	uint64_t got;
	char url[512];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	EVP_DigestUpdate(x->md, p, sz * n);
	x->got += sz * n;
	return sz * n;
}

static size_t on_send(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t m = sz * n;
	if (m > x->b->size - x->off)
		m = x->b->size - x->off;
	memcpy(p, x->b->data + x->off, m);
	x->off += m;
	return m;
}

static unsigned int rnd(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) & 0xffffff;
}

static void setup_xfer(struct xfer *x, struct blob *b, int put)
{
	x->b = b;
	x->put = put;
	x->off = 0;
	x->got = 0;
	snprintf(x->url, sizeof(x->url), "%s/cas/%s", base, b->sha);
	curl_easy_reset(x->h);
	curl_easy_setopt(x->h, CURLOPT_URL, x->url);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(x->h, CURLOPT_BUFFERSIZE, 512L * 1024);
	if (put) {
		curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(x->h, CURLOPT_READFUNCTION, on_send);
		curl_easy_setopt(x->h, CURLOPT_READDATA, x);
		curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->size);
		curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	} else {
		curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	}
	EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
}

/* Pick the next request; NULL when the run is over. */
static struct blob *pick(unsigned int *seed, int *put, size_t *seq, int mode)
{
	if (mode == 1) { /* upload get/ once */
		size_t i = (*seq)++;
		*put = 1;
		return i < nget ? &blobs[i] : NULL;
	}
	if (mode == 2) { /* check every blob of get/ and every uploaded one of put/ */
		*put = 0;
		while (*seq < nblobs && blobs[*seq].is_put && !atomic_load(&blobs[*seq].uploaded))
			(*seq)++;
		return *seq < nblobs ? &blobs[(*seq)++] : NULL;
	}
	if (now() >= deadline)
		return NULL;
	if ((int)(rnd(seed) % 100) < put_pct && nblobs > nget) {
		*put = 1;
		return &blobs[nget + rnd(seed) % (nblobs - nget)];
	}
	*put = 0;
	for (;;) {
		struct blob *b = &blobs[rnd(seed) % nblobs];
		if (!b->is_put || atomic_load(&b->uploaded))
			return b;
	}
}

static void finish(struct xfer *x, CURLcode cc)
{
	long code = 0;
	unsigned char md[32];
	char hex[65];
	unsigned int l = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		SAY("loadgen: %s %s: %s\n", x->put ? "PUT" : "GET", x->url,
			curl_easy_strerror(cc));
		atomic_fetch_add(&n_err, 1);
		return;
	}
	if (x->put) {
		if (code != 200 && code != 201 && code != 204) { /* 204: nginx overwrote */
			SAY("loadgen: PUT %s: HTTP %ld\n", x->url, code);
			atomic_fetch_add(&n_err, 1);
			return;
		}
		atomic_store(&x->b->uploaded, 1);
		lat_add(lat_put, &n_lat_put, x->h);
		atomic_fetch_add(&n_put, 1);
		atomic_fetch_add(&b_put, x->b->size);
		return;
	}
	if (code != 200) {
		SAY("loadgen: GET %s: HTTP %ld\n", x->url, code);
		atomic_fetch_add(code == 404 ? &n_404 : &n_err, 1);
		if (code == 404 && (!x->b->is_put || atomic_load(&x->b->uploaded)))
			atomic_fetch_add(&n_lost, 1); /* a blob known to be stored is gone */
		return;
	}
	EVP_DigestFinal_ex(x->md, md, &l);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (x->got != x->b->size || strcmp(hex, x->b->sha)) {
		SAY("loadgen: GET %s: corrupt body (%llu bytes)\n", x->url,
			(unsigned long long)x->got);
		atomic_fetch_add(&n_corrupt, 1);
		return;
	}
	lat_add(lat_get, &n_lat_get, x->h);
	atomic_fetch_add(&n_get, 1);
	atomic_fetch_add(&b_get, x->got);
}

struct worker {
	int conns;
	int mode;
	unsigned int seed;
	size_t *seq;
	pthread_mutex_t *seq_lock;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	CURLM *m = curl_multi_init();
	struct xfer *xs = calloc((size_t)w->conns, sizeof(*xs));
	int active = 0, running = 0;

	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)w->conns);
	for (int i = 0; i < w->conns; i++) {
		int put;
		struct blob *b;
		xs[i].h = curl_easy_init();
		xs[i].md = EVP_MD_CTX_new();
		pthread_mutex_lock(w->seq_lock);
		b = pick(&w->seed, &put, w->seq, w->mode);
		pthread_mutex_unlock(w->seq_lock);
		if (!b)
			break;
		setup_xfer(&xs[i], b, put);
		curl_multi_add_handle(m, xs[i].h);
		active++;
	}
	while (active > 0) {
		CURLMsg *msg;
		int left;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct xfer *x;
			struct blob *b;
			int put;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(m, x->h);
			finish(x, msg->data.result);
			active--;
			pthread_mutex_lock(w->seq_lock);
			b = pick(&w->seed, &put, w->seq, w->mode);
			pthread_mutex_unlock(w->seq_lock);
			if (b) {
				setup_xfer(x, b, put);
				curl_multi_add_handle(m, x->h);
				active++;
			}
		}
		if (active > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < w->conns; i++) {
		if (xs[i].h)
			curl_easy_cleanup(xs[i].h);
		EVP_MD_CTX_free(xs[i].md);
	}
	free(xs);
	curl_multi_cleanup(m);
	return NULL;
}

/* Run one phase and print its results line; 0 when clean. */
static int run_phase(int mode, int conns, int threads, double secs)
{
	size_t seq = 0;
	pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_t th[64];
	struct worker w[64];
	double t0, el;

	atomic_store(&n_get, 0);
	atomic_store(&n_put, 0);
	atomic_store(&b_get, 0);
	atomic_store(&b_put, 0);
	atomic_store(&n_404, 0);
	atomic_store(&n_lat_get, 0);
	atomic_store(&n_lat_put, 0);
	t0 = now();
	deadline = t0 + secs;
	for (int i = 0; i < threads; i++) {
		w[i].conns = conns / threads + (i < conns % threads);
		w[i].mode = mode;
		w[i].seed = 12345u + (unsigned int)i * 7919u;
		w[i].seq = &seq;
		w[i].seq_lock = &seq_lock;
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	el = now() - t0;
	printf("phase=%s seconds=%.2f gets=%llu get_bytes=%llu get_MBps=%.1f puts=%llu "
	       "put_bytes=%llu put_MBps=%.1f errors=%llu corrupt=%llu notfound=%llu lost=%llu "
	       "get_p50_ms=%.3f get_p99_ms=%.3f put_p50_ms=%.3f put_p99_ms=%.3f\n",
	       mode == 0 ? "load" : mode == 1 ? "upload" : "check", el,
	       (unsigned long long)n_get, (unsigned long long)b_get, (double)b_get / el / 1e6,
	       (unsigned long long)n_put, (unsigned long long)b_put, (double)b_put / el / 1e6,
	       (unsigned long long)n_err, (unsigned long long)n_corrupt,
	       (unsigned long long)n_404, (unsigned long long)n_lost,
	       pct_ms(lat_get, n_lat_get, 50), pct_ms(lat_get, n_lat_get, 99),
	       pct_ms(lat_put, n_lat_put, 50), pct_ms(lat_put, n_lat_put, 99));
	fflush(stdout);
	return (n_err || n_corrupt || n_lost) ? 1 : 0;
}

int main(int argc, char **argv)
{
	int conns = 32, threads = 2, mode = 0;
	double secs = 10;

	if (argc == 4 && !strcmp(argv[3], "upload"))
		mode = 1;
	else if (argc == 4 && !strcmp(argv[3], "check"))
		mode = 2;
	else if (argc != 7) {
		fprintf(stderr, "usage: loadgen <base-url> <blob-dir> <connections> <seconds> "
				"<put-percent> <threads> | <base-url> <blob-dir> upload|check\n");
		return 129;
	}
	base = argv[1];
	if (!mode) {
		conns = atoi(argv[3]);
		secs = atof(argv[4]);
		put_pct = atoi(argv[5]);
		threads = atoi(argv[6]);
		if (threads < 1 || threads > 64 || conns < threads)
			return 129;
	}
	lat_get = malloc(LAT_MAX * sizeof(*lat_get));
	lat_put = malloc(LAT_MAX * sizeof(*lat_put));
	if (!lat_get || !lat_put)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	load_dir(argv[2], "get", 0);
	nget = nblobs;
	load_dir(argv[2], "put", 1);
	if (!nget) {
		fprintf(stderr, "loadgen: no blobs in '%s/get'\n", argv[2]);
		return 2;
	}
	if (run_phase(mode, conns, threads, secs) != 0)
		return 1;
	if (mode == 0 && !getenv("LOADGEN_NO_CHECK")) {
		/* afterwards, read back everything that is known to be stored */
		if (run_phase(2, conns, threads, 0) != 0)
			return 1;
	}
	return 0;
}
