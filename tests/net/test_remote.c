/*
 * tests/net/test_remote.c - two kbisect clients with separate local caches share
 * builds, test results and objects through one shared cache server attached to each
 * cache as its second tier (kb_cache_set_remote: kb_remote over libcurl, kb_server over
 * MHD, all on 127.0.0.1): the plain kb_cache_* calls read through and write through;
 * a dead or silent server never fails a caller, loses nothing locally and is counted.
 * kb-test-labels: integration
 * kb-test-timeout: 120
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kbisect/remote.h"
#include "kbisect/server.h"
#include "kb_test.h"

struct fx {
	char *dir[3];
	kb_cache *srv_cache, *a, *b;
	kb_server *s;
	kb_remote *ra, *rb;
	char url[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	kb_server_opts o;

	for (int i = 0; i < 3; i++)
		f->dir[i] = kb_test_tmpdir("remote");
	if (kb_cache_open(&f->srv_cache, f->dir[0], KB_CACHE_CREATE) ||
	    kb_cache_open(&f->a, f->dir[1], KB_CACHE_CREATE) ||
	    kb_cache_open(&f->b, f->dir[2], KB_CACHE_CREATE))
		return -1;
	memset(&o, 0, sizeof(o));
	o.quiet = 1;
	if (kb_server_start(&f->s, f->srv_cache, &o))
		return -1;
	/* a path prefix, as a team would use to separate projects */
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/kbisect/", kb_server_port(f->s));
	if (kb_remote_open(&f->ra, f->url, NULL) || kb_remote_open(&f->rb, f->url, NULL))
		return -1;
	kb_cache_set_remote(f->a, f->ra);
	kb_cache_set_remote(f->b, f->rb);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_cache_free(f->a);
	kb_cache_free(f->b);
	kb_remote_free(f->ra);
	kb_remote_free(f->rb);
	kb_server_stop(f->s);
	kb_cache_free(f->srv_cache);
	for (int i = 0; i < 3; i++)
		kb_test_tmpdir_free(f->dir[i]);
	free(f);
	return 0;
}

static void test_server_remote__two_clients_share_builds_and_tests(void **state)
{
	struct fx *f = *state;
	char path[512], out[512];
	size_t n = 2u << 20, len = 0;
	char *data = malloc(n), *back;
	kb_build_record rec, got;
	kb_remote_stats st;
	kb_key id, bk, sig, tk, *keys = NULL, con;
	kb_test_run run, *runs = NULL;
	size_t nkeys = 0, nruns = 0;

	kb_test_fill_random(data, n, 11);
	snprintf(path, sizeof(path), "%s/vmlinux", f->dir[1]);
	assert_int_equal(kb_test_write_file(path, data, n), 0);
	/* client A stores an artifact (local only: objects travel with their records) */
	assert_int_equal(kb_cache_put_file(&id, f->a, path, NULL), 0);
	assert_int_equal(kb_cache_has(f->srv_cache, &id), 0);
	memset(&rec, 0, sizeof(rec));
	memset(bk.b, 0x31, 32);
	memset(sig.b, 0x32, 32);
	rec.build_key = bk;
	rec.ok = 1;
	rec.has_signature = 1;
	rec.signature = sig;
	rec.n_artifacts = 1;
	strcpy(rec.artifacts[0].name, "vmlinux");
	rec.artifacts[0].id = id;
	rec.duration_s = 300;
	strcpy(rec.host, "builder-a");
	/* the record is written through, and its artifact with it */
	assert_int_equal(kb_cache_build_put(f->a, &rec), 0);
	assert_int_equal(kb_cache_has(f->srv_cache, &id), 1);
	assert_int_equal(kb_cache_build_get(&got, f->srv_cache, &bk), 0);
	kb_build_record_clear(&got);

	/* client B has nothing locally, finds the build through the server */
	assert_int_equal(kb_cache_build_get(&got, f->b, &bk), 0);
	assert_string_equal(got.host, "builder-a");
	assert_memory_equal(got.artifacts[0].id.b, id.b, 32);
	kb_build_record_clear(&got);
	kb_cache_set_remote(f->b, NULL);
	assert_int_equal(kb_cache_build_get(&got, f->b, &bk), 0); /* stored locally */
	kb_build_record_clear(&got);
	assert_int_equal(kb_cache_has(f->b, &id), 0); /* artifacts: when read */
	kb_cache_set_remote(f->b, f->rb);
	snprintf(out, sizeof(out), "%s/vmlinux.out", f->dir[2]);
	assert_int_equal(kb_cache_get_file(f->b, &id, out), 0);
	assert_int_equal(kb_cache_has(f->b, &id), 1);
	back = kb_test_read_file(out, &len);
	assert_int_equal(len, n);
	assert_memory_equal(back, data, n);
	free(back);
	assert_int_equal(kb_cache_builds_by_signature(&keys, &nkeys, f->b, &sig), 0);
	assert_int_equal(nkeys, 1);
	assert_memory_equal(keys[0].b, bk.b, 32);
	free(keys);

	/* test results: A adds a run (with a console log), B sees it once */
	assert_int_equal(kb_cache_put_buf(&con, f->a, "console log", 11, NULL), 0);
	memset(&run, 0, sizeof(run));
	memset(tk.b, 0x33, 32);
	run.klass = KB_RUN_CRASH;
	strcpy(run.title, "KASAN: slab-use-after-free Read in vmx_vcpu_run");
	run.duration_s = 42;
	run.has_console = 1;
	run.console = con;
	run.time = 1700000000;
	assert_int_equal(kb_cache_test_add(f->a, &tk, &run), 0);
	assert_int_equal(kb_cache_has(f->srv_cache, &con), 1); /* the console went along */
	assert_int_equal(kb_cache_test_list(&runs, &nruns, f->b, &tk), 0);
	assert_int_equal(nruns, 1);
	assert_string_equal(runs[0].title, run.title);
	free(runs);
	assert_int_equal(kb_cache_test_list(&runs, &nruns, f->b, &tk), 0);
	assert_int_equal(nruns, 1); /* merged once, not twice */
	free(runs);
	kb_cache_set_remote(f->b, NULL);
	assert_int_equal(kb_cache_test_list(&runs, &nruns, f->b, &tk), 0);
	assert_int_equal(nruns, 1); /* stored locally */
	free(runs);
	kb_cache_set_remote(f->b, f->rb);
	assert_int_equal(kb_cache_fetch(f->b, &con), 0);

	/* /ac/ references */
	{
		kb_key ak, out_id;
		memset(ak.b, 0x34, 32);
		assert_int_equal(kb_cache_ref_set(f->a, KB_REF_AC, &ak, &con), 0);
		assert_int_equal(kb_cache_ref_get(&out_id, f->b, KB_REF_AC, &ak), 0);
		assert_memory_equal(out_id.b, con.b, 32);
		/* other namespaces stay local */
		assert_int_equal(kb_cache_ref_set(f->a, KB_REF_VMSTATE, &ak, &con), 0);
		assert_int_equal(kb_cache_ref_get(&out_id, f->b, KB_REF_VMSTATE, &ak),
				 KB_ENOTFOUND);
	}
	kb_remote_stats_get(&st, f->rb);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.errors, 0);
	assert_true(st.hits >= 4);
	free(data);
}

static void test_server_remote__missing_everywhere_is_enotfound(void **state)
{
	struct fx *f = *state;
	kb_build_record got;
	kb_remote_stats st;
	kb_key k;

	memset(k.b, 0x99, 32);
	assert_int_equal(kb_cache_build_get(&got, f->b, &k), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "nor on the remote"));
	assert_int_equal(kb_cache_fetch(f->b, &k), KB_ENOTFOUND);
	kb_remote_stats_get(&st, f->rb);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.requests, 2); /* one question each */
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_server_remote__dead_or_silent_server_never_fails_a_caller(void **state)
{
	char *dir = kb_test_tmpdir("dead"), url[64];
	kb_cache *c;
	kb_remote *r;
	kb_remote_opts o;
	kb_remote_stats st;
	kb_build_record got;
	kb_key k, id;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int lfd;
	double t0;
	(void)state;

	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	memset(k.b, 0x55, 32);
	/* silent: a socket that accepts connections (backlog) but never answers */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	memset(&o, 0, sizeof(o));
	o.timeout_s = 1;
	o.stall_s = 1;
	assert_int_equal(kb_remote_open(&r, url, &o), 0);
	kb_cache_set_remote(c, r);
	t0 = now();
	assert_int_equal(kb_cache_build_get(&got, c, &k), KB_ENOTFOUND);
	assert_true(now() - t0 < 5);
	/* later calls skip the remote: no more waiting, writes still land locally */
	t0 = now();
	assert_int_equal(kb_cache_fetch(c, &k), KB_ENOTFOUND);
	assert_int_equal(kb_cache_put_file(&id, c, "/proc/self/cmdline", NULL), 0);
	assert_int_equal(kb_cache_push(c, &id), 0);
	assert_int_equal(kb_cache_has(c, &id), 1);
	assert_true(now() - t0 < 3); /* no second 1 s timeout (slack for a loaded CI host) */
	kb_remote_stats_get(&st, r);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.requests, 1);
	assert_true(strlen(st.last_error) > 0);
	kb_cache_set_remote(c, NULL);
	kb_remote_free(r);
	close(lfd);

	/* dead: nothing listens on the port any more; a put of a record while it fails
	 * lands locally, the failure is counted as the remote's (never as the record's) */
	assert_int_equal(kb_remote_open(&r, url, &o), 0);
	kb_cache_set_remote(c, r);
	{
		kb_build_record rec;
		kb_test_run run;
		kb_test_run *runs = NULL;
		size_t n = 0;
		memset(&rec, 0, sizeof(rec));
		rec.build_key = k;
		rec.ok = 1;
		rec.n_artifacts = 1;
		strcpy(rec.artifacts[0].name, "log");
		rec.artifacts[0].id = id;
		assert_int_equal(kb_cache_build_put(c, &rec), 0);
		memset(&run, 0, sizeof(run));
		run.klass = KB_RUN_OK;
		run.time = 1700000001;
		assert_int_equal(kb_cache_test_add(c, &k, &run), 0);
		kb_remote_stats_get(&st, r);
		assert_int_equal(st.failed, 1);
		assert_int_equal(st.errors, 1);
		assert_int_equal(st.uploads, 0);
		kb_cache_set_remote(c, NULL);
		assert_int_equal(kb_cache_build_get(&got, c, &k), 0); /* not lost */
		assert_int_equal(got.ok, 1);
		kb_build_record_clear(&got);
		assert_int_equal(kb_cache_test_list(&runs, &n, c, &k), 0);
		assert_int_equal(n, 1);
		assert_int_equal(runs[0].klass, KB_RUN_OK);
		free(runs);
	}
	kb_remote_free(r);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

static void test_server_remote__bad_url_is_refused(void **state)
{
	kb_remote *r;
	(void)state;

	assert_int_equal(kb_remote_open(&r, "ftp://x", NULL), KB_EINVAL);
	assert_null(r);
}

static void test_server_remote__https_with_a_private_ca(void **state)
{
	char *dir = kb_test_tmpdir("tls"), cert[512], key[512], url[64];
	kb_cache *sc, *c;
	kb_server *s;
	kb_server_opts so;
	kb_remote *r;
	kb_remote_opts ro;
	kb_remote_stats st;
	kb_key id;
	(void)state;

	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (kb_test_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 "
		       "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		       key, cert) != 0) {
		kb_test_tmpdir_free(dir);
		skip(); /* no openssl command */
	}
	assert_int_equal(kb_cache_open(&sc, dir, KB_CACHE_CREATE), 0);
	memset(&so, 0, sizeof(so));
	so.quiet = 1;
	so.tls_cert = cert;
	so.tls_key = key;
	assert_int_equal(kb_server_start(&s, sc, &so), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", kb_server_port(s));
	{
		char *d2 = kb_test_tmpdir("tls2");
		assert_int_equal(kb_cache_open(&c, d2, KB_CACHE_CREATE), 0);
		memset(&ro, 0, sizeof(ro));
		ro.ca_file = cert;
		assert_int_equal(kb_remote_open(&r, url, &ro), 0);
		kb_cache_set_remote(c, r);
		assert_int_equal(kb_cache_put_buf(&id, c, "over tls", 8, NULL), 0);
		assert_int_equal(kb_cache_push(c, &id), 0);
		assert_int_equal(kb_cache_has(sc, &id), 1);
		kb_remote_stats_get(&st, r);
		assert_int_equal(st.failed, 0);
		assert_int_equal(st.uploads, 1);
		kb_remote_free(r);
		/* without the CA the certificate is refused: the remote fails, the caller not */
		assert_int_equal(kb_remote_open(&r, url, NULL), 0);
		kb_cache_set_remote(c, r);
		assert_int_equal(kb_cache_push(c, &id), 0);
		kb_remote_stats_get(&st, r);
		assert_int_equal(st.failed, 1);
		assert_int_equal(st.errors, 1);
		kb_cache_free(c);
		kb_remote_free(r);
		kb_test_tmpdir_free(d2);
	}
	kb_server_stop(s);
	kb_cache_free(sc);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_remote__two_clients_share_builds_and_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_remote__missing_everywhere_is_enotfound, setup, teardown),
		cmocka_unit_test(test_server_remote__dead_or_silent_server_never_fails_a_caller),
		cmocka_unit_test(test_server_remote__bad_url_is_refused),
		cmocka_unit_test(test_server_remote__https_with_a_private_ca),
	};
	return cmocka_run_group_tests_name("net/remote", tests, NULL, NULL);
}
