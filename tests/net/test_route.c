/*
 * tests/net/test_route.c - routing and validation of shared cache server requests
 * (pure functions of net/server_route.c) and the record wire format (net/wire.c).
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "net/server_internal.h"

#define K64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int route(const char *m, const char *p, struct kb_srv_route *r)
{
	return kb_server__route(r, m, p);
}

static void test_server_route__cas_and_ac_with_and_without_prefix(void **state)
{
	struct kb_srv_route r;
	(void)state;
	assert_int_equal(route("GET", "/cas/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_CAS);
	assert_int_equal(r.method, KB_SRV_GET);
	assert_int_equal(r.key.b[0], 0x01);
	assert_int_equal(r.key.b[31], 0xef);
	assert_int_equal(route("PUT", "/ac/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_AC);
	assert_int_equal(r.method, KB_SRV_PUT);
	assert_int_equal(route("HEAD", "/team-a/ccache/ac/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_AC);
	assert_int_equal(route("GET", "/p.x_y/cas/" K64, &r), 0);
	assert_int_equal(route("GET", "/kb/v1/build/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_BUILD);
	assert_int_equal(route("PUT", "/pre/kb/v1/test/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_TEST);
	assert_int_equal(route("GET", "/kb/v1/sig/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_SIG);
	assert_int_equal(route("GET", "/status", &r), 0);
	assert_int_equal(r.target, KB_SRV_STATUS);
	assert_int_equal(route("GET", "/metrics", &r), 0);
	assert_int_equal(r.target, KB_SRV_METRICS);
	assert_int_equal(route("GET", "/team/status", &r), 0);
	assert_int_equal(r.target, KB_SRV_STATUS);
	assert_int_equal(route("GET", "/../status", &r), 400);
}

static void test_server_route__bad_keys_return_400(void **state)
{
	struct kb_srv_route r;
	(void)state;
	/* uppercase, short, long, non-hex, empty */
	assert_int_equal(route("GET", "/cas/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", &r), 400);
	assert_int_equal(route("GET", "/cas/0123", &r), 400);
	assert_int_equal(route("GET", "/cas/" K64 "0", &r), 400);
	assert_int_equal(route("GET", "/ac/g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &r), 400);
	assert_int_equal(route("PUT", "/kb/v1/build/xyz", &r), 400);
	assert_non_null(r.why);
	{
		/* an oversized key (4 KiB) */
		char *p = malloc(5000);
		strcpy(p, "/cas/");
		memset(p + 5, 'a', 4096);
		p[5 + 4096] = '\0';
		assert_int_equal(route("GET", p, &r), 400);
		free(p);
	}
}

static void test_server_route__path_tricks_are_rejected(void **state)
{
	struct kb_srv_route r;
	(void)state;
	assert_int_equal(route("GET", "/../cas/" K64, &r), 400);
	assert_int_equal(route("GET", "/x/./cas/" K64, &r), 400);
	assert_int_equal(route("GET", "/%2e%2e/cas/" K64, &r), 400);
	assert_int_equal(route("GET", "/cas/%30123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", &r), 400);
	assert_int_equal(route("GET", "/a b/cas/" K64, &r), 400);
	assert_int_equal(route("GET", "/cas/../../etc/passwd", &r), 400);
	assert_int_equal(route("GET", "cas/" K64, &r), 400);
	assert_int_equal(route("GET", "", &r), 400);
	assert_int_equal(route("GET", NULL, &r), 400);
	assert_int_not_equal(route("GET", "//cas/" K64, &r), 0);
	assert_int_not_equal(route("GET", "/cas/" K64 "/", &r), 0);
	assert_int_not_equal(route("GET", "/cas//" K64, &r), 0);
}

static void test_server_route__unknown_paths_404_and_methods_405(void **state)
{
	struct kb_srv_route r;
	(void)state;
	assert_int_equal(route("GET", "/", &r), 404);
	assert_int_equal(route("GET", "/foo", &r), 404);
	assert_int_equal(route("GET", "/foo/bar/" K64, &r), 404);
	assert_int_equal(route("DELETE", "/cas/" K64, &r), 405);
	assert_int_equal(route("POST", "/ac/" K64, &r), 405);
	assert_int_equal(route("PUT", "/status", &r), 405);
	assert_int_equal(route("PUT", "/kb/v1/sig/" K64, &r), 405);
	assert_int_equal(route("get", "/cas/" K64, &r), 405);
}

static void test_server_route__ccache_layouts_are_keys(void **state)
{
	struct kb_srv_route r, r2;
	kb_key k;
	(void)state;
	/* subdirs (ccache's default) and flat: whatever ccache names, under .../ccache/ */
	assert_int_equal(route("GET", "/ccache/b6/5dsitkfs51k01oerv8u2tirc8vfpu7k", &r), 0);
	assert_int_equal(r.target, KB_SRV_CCACHE);
	kb_server__ccache_key(&k, "b6/5dsitkfs51k01oerv8u2tirc8vfpu7k", 34);
	assert_true(kb_key_equal(&k, &r.key));
	assert_int_equal(route("PUT", "/team/ccache/b65dsitkfs51k01oerv8u2tirc8vfpu7k", &r2), 0);
	assert_int_equal(r2.target, KB_SRV_CCACHE);
	assert_false(kb_key_equal(&r.key, &r2.key));
	/* a subdirs directory named "ac" is not Bazel's /ac/ */
	assert_int_equal(route("GET", "/ccache/ac/5dsitkfs51k01oerv8u2tirc8vfpu7k", &r), 0);
	assert_int_equal(r.target, KB_SRV_CCACHE);
	assert_int_equal(route("GET", "/ccache/ac/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_AC);
	/* DELETE on ccache keys, /ac/ and build records (kbisect cache forget), not on
	 * /cas/ or the other records */
	assert_int_equal(route("DELETE", "/ccache/ab/cd", &r), 0);
	assert_int_equal(r.method, KB_SRV_DELETE);
	assert_int_equal(route("DELETE", "/x/ac/" K64, &r), 0);
	assert_int_equal(route("DELETE", "/kb/v1/build/" K64, &r), 0);
	assert_int_equal(r.target, KB_SRV_BUILD);
	assert_int_equal(route("DELETE", "/kb/v1/sig/" K64, &r), 405);
	assert_int_equal(route("POST", "/ccache/ab/cd", &r), 405);
	/* the key's segments are checked like any other */
	assert_int_equal(route("GET", "/ccache/ab/..", &r), 400);
	assert_int_equal(route("GET", "/ccache/a b", &r), 400);
	assert_int_equal(route("GET", "/ccache/", &r), 404);
	assert_int_equal(route("GET", "/ccache/a/b/c", &r), 404);
}

static void test_server_route__accept_encoding_zstd(void **state)
{
	(void)state;
	assert_true(kb_server__accepts_zstd("zstd"));
	assert_true(kb_server__accepts_zstd("gzip, deflate, zstd"));
	assert_true(kb_server__accepts_zstd("ZSTD;q=0.5"));
	assert_true(kb_server__accepts_zstd("br,zstd ; q=1"));
	assert_false(kb_server__accepts_zstd("zstd;q=0"));
	assert_false(kb_server__accepts_zstd("gzip, br"));
	assert_false(kb_server__accepts_zstd("zstdx, xzstd"));
	assert_false(kb_server__accepts_zstd(""));
	assert_false(kb_server__accepts_zstd(NULL));
}

static void test_server_route__content_length_is_strict(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(kb_server__parse_length("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(kb_server__parse_length("52428800", &v), 0);
	assert_int_equal(v, 52428800);
	assert_int_equal(kb_server__parse_length("", &v), -1);
	assert_int_equal(kb_server__parse_length("-1", &v), -1);
	assert_int_equal(kb_server__parse_length("12 ", &v), -1);
	assert_int_equal(kb_server__parse_length("0x10", &v), -1);
	assert_int_equal(kb_server__parse_length("99999999999999999999999", &v), -1);
	assert_int_equal(kb_server__parse_length(NULL, &v), -1);
}

static void test_server_route__auth_header_bearer_and_basic(void **state)
{
	char t[64];
	(void)state;
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "Bearer s3cret"), 0);
	assert_string_equal(t, "s3cret");
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "bearer   s3cret  "), 0);
	assert_string_equal(t, "s3cret");
	/* "ccache:s3cret" */
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "Basic Y2NhY2hlOnMzY3JldA=="), 0);
	assert_string_equal(t, "s3cret");
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "Basic !!!"), -1);
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "Basic dXNlcg=="), -1); /* "user" */
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "Bearer "), -1);
	assert_int_equal(kb_server__auth_token(t, sizeof(t), "Digest x"), -1);
	assert_int_equal(kb_server__auth_token(t, sizeof(t), NULL), -1);
	assert_int_equal(kb_server__auth_token(t, 4, "Bearer toolongtoken"), -1);
}

static void test_server_wire__build_record_round_trips(void **state)
{
	kb_build_record rec, back;
	char *js;
	(void)state;
	memset(&rec, 0, sizeof(rec));
	memset(rec.build_key.b, 0x11, 32);
	rec.ok = 1;
	rec.has_signature = 1;
	memset(rec.signature.b, 0x22, 32);
	rec.n_artifacts = 2;
	strcpy(rec.artifacts[0].name, "vmlinux");
	memset(rec.artifacts[0].id.b, 0x33, 32);
	strcpy(rec.artifacts[1].name, "bzImage");
	memset(rec.artifacts[1].id.b, 0x44, 32);
	rec.duration_s = 123.25;
	strcpy(rec.host, "builder-1");
	rec.time = 1700000000;
	strcpy(rec.git_tree, "0123456789012345678901234567890123456789");
	rec.extra_json = strdup("{\"skip\":[1,2]}");
	js = kb_cache__wire_build_encode(&rec);
	assert_non_null(js);
	assert_int_equal(kb_cache__wire_build_decode(&back, js, strlen(js)), 0);
	assert_memory_equal(back.build_key.b, rec.build_key.b, 32);
	assert_int_equal(back.ok, 1);
	assert_int_equal(back.has_signature, 1);
	assert_memory_equal(back.signature.b, rec.signature.b, 32);
	assert_int_equal(back.n_artifacts, 2);
	assert_string_equal(back.artifacts[1].name, "bzImage");
	assert_memory_equal(back.artifacts[1].id.b, rec.artifacts[1].id.b, 32);
	assert_true(back.duration_s == 123.25);
	assert_string_equal(back.host, "builder-1");
	assert_int_equal(back.time, 1700000000);
	assert_string_equal(back.git_tree, rec.git_tree);
	assert_string_equal(back.extra_json, "{\"skip\":[1,2]}");
	free(js);
	free(back.extra_json);
	free(rec.extra_json);
}

static void test_server_wire__malformed_records_return_einval(void **state)
{
	kb_build_record rec;
	kb_test_run *runs;
	kb_key *keys;
	size_t n;
	(void)state;
	assert_int_equal(kb_cache__wire_build_decode(&rec, "nope", 4), KB_EINVAL);
	assert_int_equal(kb_cache__wire_build_decode(&rec, "{}", 2), KB_EINVAL);
	assert_int_equal(kb_cache__wire_build_decode(&rec, "{\"build_key\":\"12\"}", 18), KB_EINVAL);
	assert_int_equal(kb_cache__wire_runs_decode(&runs, &n, "{}", 2), KB_EINVAL);
	assert_int_equal(kb_cache__wire_runs_decode(&runs, &n, "[{\"class\":\"bogus\"}]", 19),
			 KB_EINVAL);
	assert_int_equal(kb_cache__wire_keys_decode(&keys, &n, "[\"zz\"]", 6), KB_EINVAL);
}

static void test_server_wire__runs_round_trip_and_compare(void **state)
{
	kb_test_run in[2], *out;
	size_t n;
	char *js;
	(void)state;
	memset(in, 0, sizeof(in));
	in[0].klass = KB_RUN_CRASH;
	strcpy(in[0].title, "KASAN: use-after-free Read in vmx_vcpu_run");
	in[0].duration_s = 12.5;
	in[0].has_console = 1;
	memset(in[0].console.b, 0x55, 32);
	in[0].time = 1700000001;
	in[1].klass = KB_RUN_OK;
	in[1].time = 1700000002;
	js = kb_cache__wire_runs_encode(in, 2);
	assert_non_null(js);
	assert_int_equal(kb_cache__wire_runs_decode(&out, &n, js, strlen(js)), 0);
	assert_int_equal(n, 2);
	assert_true(kb_cache__wire_run_equal(&in[0], &out[0]));
	assert_true(kb_cache__wire_run_equal(&in[1], &out[1]));
	assert_false(kb_cache__wire_run_equal(&in[0], &out[1]));
	free(out);
	free(js);
}

static void test_server_route__log_escape_leaves_no_control_bytes(void **state)
{
	char out[64];
	(void)state;
	assert_string_equal(kb_server__log_escape(out, sizeof(out), "/cas/ab-c_d.e"), "/cas/ab-c_d.e");
	assert_string_equal(kb_server__log_escape(out, sizeof(out), "/a\nb\x1b[31m"),
			    "/a\\x0ab\\x1b[31m");
	assert_string_equal(kb_server__log_escape(out, sizeof(out), "a b\"\\\x7f\xff"),
			    "a\\x20b\\x22\\x5c\\x7f\\xff");
	/* truncation never splits an escape */
	assert_string_equal(kb_server__log_escape(out, 6, "ab\ncd"), "ab");
	assert_string_equal(kb_server__log_escape(out, 7, "ab\ncd"), "ab\\x0a");
	assert_string_equal(kb_server__log_escape(out, 1, "abc"), "");
}

static void test_server_route__token_lines(void **state)
{
	char l1[] = "  secret-1 \r\n", l2[] = "ro:reader\n", l3[] = "rw:ro:x", l4[] = "# c",
	     l5[] = "   \n", l6[] = "ro:", l7[] = "rw:  ";
	const char *t = NULL;
	int acc = -1;
	(void)state;
	assert_int_equal(kb_server__token_line(l1, &t, &acc), 0);
	assert_string_equal(t, "secret-1");
	assert_int_equal(acc, KB_SRV_ACCESS_RW);
	assert_int_equal(kb_server__token_line(l2, &t, &acc), 0);
	assert_string_equal(t, "reader");
	assert_int_equal(acc, KB_SRV_ACCESS_RO);
	assert_int_equal(kb_server__token_line(l3, &t, &acc), 0);
	assert_string_equal(t, "ro:x");
	assert_int_equal(acc, KB_SRV_ACCESS_RW);
	assert_int_equal(kb_server__token_line(l4, &t, &acc), 1);
	assert_int_equal(kb_server__token_line(l5, &t, &acc), 1);
	assert_int_equal(kb_server__token_line(l6, &t, &acc), -1);
	assert_int_equal(kb_server__token_line(l7, &t, &acc), -1);
}

static void test_server_route__new_runs_dedup(void **state)
{
	kb_test_run in[6], have[2];
	unsigned char keep[6];
	(void)state;
	memset(in, 0, sizeof(in));
	memset(have, 0, sizeof(have));
	for (int i = 0; i < 6; i++) {
		in[i].klass = KB_RUN_CRASH;
		in[i].time = 1700000000 + i;
		in[i].duration_s = 10.5;
		snprintf(in[i].title, sizeof(in[i].title), "KASAN: use-after-free in f%d", i);
	}
	in[2] = in[0];                 /* a repeat within the upload */
	in[2].duration_s += 1e-7;      /* equal within the wire's tolerance */
	have[0] = in[1];               /* stored already */
	have[1] = in[3];
	have[1].has_console = 1;       /* differs: console recorded */
	in[5] = in[4];
	in[5].klass = KB_RUN_OK;       /* differs: class */
	assert_int_equal(kb_cache__wire_runs_new(keep, in, 6, have, 2), 0);
	assert_int_equal(keep[0], 1);
	assert_int_equal(keep[1], 0);
	assert_int_equal(keep[2], 0);
	assert_int_equal(keep[3], 1);
	assert_int_equal(keep[4], 1);
	assert_int_equal(keep[5], 1);
	assert_int_equal(kb_cache__wire_runs_new(keep, in, 0, have, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_route__log_escape_leaves_no_control_bytes),
		cmocka_unit_test(test_server_route__token_lines),
		cmocka_unit_test(test_server_route__new_runs_dedup),
		cmocka_unit_test(test_server_route__cas_and_ac_with_and_without_prefix),
		cmocka_unit_test(test_server_route__bad_keys_return_400),
		cmocka_unit_test(test_server_route__path_tricks_are_rejected),
		cmocka_unit_test(test_server_route__unknown_paths_404_and_methods_405),
		cmocka_unit_test(test_server_route__content_length_is_strict),
		cmocka_unit_test(test_server_route__ccache_layouts_are_keys),
		cmocka_unit_test(test_server_route__accept_encoding_zstd),
		cmocka_unit_test(test_server_route__auth_header_bearer_and_basic),
		cmocka_unit_test(test_server_wire__build_record_round_trips),
		cmocka_unit_test(test_server_wire__malformed_records_return_einval),
		cmocka_unit_test(test_server_wire__runs_round_trip_and_compare),
	};
	return cmocka_run_group_tests_name("net/route", tests, NULL, NULL);
}
