/*
 * tests/net/test_remote.c - two kbisect clients with separate local caches share
 * builds, test results and objects through one shared cache server (kb_remote over
 * libcurl, kb_server over MHD, all on 127.0.0.1); a dead or silent server never fails
 * a caller and is counted.
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
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_remote_close(f->ra);
	kb_remote_close(f->rb);
	kb_server_stop(f->s);
	kb_cache_close(f->srv_cache);
	kb_cache_close(f->a);
	kb_cache_close(f->b);
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
	/* client A stores an artifact and a build record (write-through) */
	assert_int_equal(kb_remote_put_file(&id, f->ra, f->a, path, NULL), 0);
	assert_int_equal(kb_cache_has(f->srv_cache, &id), 1);
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
	assert_int_equal(kb_remote_build_put(f->ra, f->a, &rec), 0);

	/* client B has nothing locally, finds the build through the server */
	assert_int_equal(kb_cache_build_get(&got, f->b, &bk), KB_ENOTFOUND);
	assert_int_equal(kb_remote_build_get(&got, f->rb, f->b, &bk), 0);
	assert_string_equal(got.host, "builder-a");
	assert_memory_equal(got.artifacts[0].id.b, id.b, 32);
	kb_build_record_clear(&got);
	assert_int_equal(kb_cache_build_get(&got, f->b, &bk), 0); /* now local */
	kb_build_record_clear(&got);
	snprintf(out, sizeof(out), "%s/vmlinux.out", f->dir[2]);
	assert_int_equal(kb_remote_get_file(f->rb, f->b, &id, out), 0);
	back = kb_test_read_file(out, &len);
	assert_int_equal(len, n);
	assert_memory_equal(back, data, n);
	free(back);
	assert_int_equal(kb_remote_builds_by_signature(&keys, &nkeys, f->rb, f->b, &sig), 0);
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
	assert_int_equal(kb_remote_test_add(f->ra, f->a, &tk, &run), 0);
	assert_int_equal(kb_remote_test_list(&runs, &nruns, f->rb, f->b, &tk), 0);
	assert_int_equal(nruns, 1);
	assert_string_equal(runs[0].title, run.title);
	free(runs);
	assert_int_equal(kb_remote_test_list(&runs, &nruns, f->rb, f->b, &tk), 0);
	assert_int_equal(nruns, 1); /* merged once, not twice */
	free(runs);
	assert_int_equal(kb_remote_object_ensure(f->rb, f->b, &con), 0);

	/* /ac/ references */
	{
		kb_key ak, out_id;
		memset(ak.b, 0x34, 32);
		assert_int_equal(kb_remote_ac_set(f->ra, f->a, &ak, &con), 0);
		assert_int_equal(kb_remote_ac_get(&out_id, f->rb, f->b, &ak), 0);
		assert_memory_equal(out_id.b, con.b, 32);
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
	assert_int_equal(kb_remote_build_get(&got, f->rb, f->b, &k), KB_ENOTFOUND);
	assert_int_equal(kb_remote_object_ensure(f->rb, f->b, &k), KB_ENOTFOUND);
	kb_remote_stats_get(&st, f->rb);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.misses, 2);
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
	t0 = now();
	assert_int_equal(kb_remote_build_get(&got, r, c, &k), KB_ENOTFOUND);
	assert_true(now() - t0 < 5);
	/* later calls skip the remote: no more waiting, writes still land locally */
	t0 = now();
	assert_int_equal(kb_remote_object_ensure(r, c, &k), KB_ENOTFOUND);
	assert_int_equal(kb_remote_put_file(&id, r, c, "/proc/self/cmdline", NULL), 0);
	assert_int_equal(kb_cache_has(c, &id), 1);
	assert_true(now() - t0 < 3); /* no second 1 s timeout (slack for a loaded CI host) */
	kb_remote_stats_get(&st, r);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.requests, 1);
	assert_true(strlen(st.last_error) > 0);
	kb_remote_close(r);
	close(lfd);

	/* dead: nothing listens on the port any more */
	assert_int_equal(kb_remote_open(&r, url, &o), 0);
	assert_int_equal(kb_remote_build_get(&got, r, c, &k), KB_ENOTFOUND);
	kb_remote_stats_get(&st, r);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.errors, 1);
	kb_remote_close(r);
	kb_cache_close(c);
	kb_test_tmpdir_free(dir);
}

static void test_server_remote__configuration_sources(void **state)
{
	char *dir = kb_test_tmpdir("cfg"), cfg[512], tok[512];
	kb_remote *r;
	(void)state;

	assert_int_equal(kb_remote_open(&r, "ftp://x", NULL), KB_EINVAL);
	assert_null(r);
	setenv("KBISECT_CONFIG", "/nonexistent/config", 1);
	unsetenv("KBISECT_REMOTE");
	assert_int_equal(kb_remote_open_default(&r, NULL), 0);
	assert_null(r); /* nothing configured */
	setenv("KBISECT_REMOTE", "http://127.0.0.1:1/x/", 1);
	assert_int_equal(kb_remote_open_default(&r, NULL), 0);
	assert_string_equal(kb_remote_url(r), "http://127.0.0.1:1/x");
	kb_remote_close(r);
	assert_int_equal(kb_remote_open_default(&r, "http://127.0.0.1:2"), 0);
	assert_string_equal(kb_remote_url(r), "http://127.0.0.1:2"); /* --remote wins */
	kb_remote_close(r);
	unsetenv("KBISECT_REMOTE");
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	assert_int_equal(kb_test_write_file(tok, "s3cret\n", 7), 0);
	{
		char body[1200];
		int len = snprintf(body, sizeof(body), "# kbisect\nremote = http://127.0.0.1:3\n"
					"remote-token-file = %s\n", tok);
		assert_int_equal(kb_test_write_file(cfg, body, (size_t)len), 0);
	}
	setenv("KBISECT_CONFIG", cfg, 1);
	assert_int_equal(kb_remote_open_default(&r, NULL), 0);
	assert_string_equal(kb_remote_url(r), "http://127.0.0.1:3");
	kb_remote_close(r);
	/* the process-wide handle follows the same settings, once */
	setenv("KBISECT_REMOTE", "http://127.0.0.1:4/d", 1);
	r = kb_remote_default();
	assert_non_null(r);
	assert_string_equal(kb_remote_url(r), "http://127.0.0.1:4/d");
	setenv("KBISECT_REMOTE", "http://127.0.0.1:5", 1);
	assert_ptr_equal(kb_remote_default(), r);
	unsetenv("KBISECT_REMOTE");
	unsetenv("KBISECT_CONFIG");
	kb_test_tmpdir_free(dir);
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
		assert_int_equal(kb_cache_put_buf(&id, c, "over tls", 8, NULL), 0);
		assert_int_equal(kb_remote_object_push(r, c, &id), 0);
		assert_int_equal(kb_cache_has(sc, &id), 1);
		kb_remote_stats_get(&st, r);
		assert_int_equal(st.failed, 0);
		assert_int_equal(st.uploads, 1);
		kb_remote_close(r);
		/* without the CA the certificate is refused: the remote fails, the caller not */
		assert_int_equal(kb_remote_open(&r, url, NULL), 0);
		assert_int_equal(kb_remote_object_push(r, c, &id), 0);
		kb_remote_stats_get(&st, r);
		assert_int_equal(st.failed, 1);
		assert_int_equal(st.errors, 1);
		kb_remote_close(r);
		kb_cache_close(c);
		kb_test_tmpdir_free(d2);
	}
	kb_server_stop(s);
	kb_cache_close(sc);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_remote__two_clients_share_builds_and_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_remote__missing_everywhere_is_enotfound, setup, teardown),
		cmocka_unit_test(test_server_remote__dead_or_silent_server_never_fails_a_caller),
		cmocka_unit_test(test_server_remote__configuration_sources),
		cmocka_unit_test(test_server_remote__https_with_a_private_ca),
	};
	return cmocka_run_group_tests_name("net/remote", tests, NULL, NULL);
}
