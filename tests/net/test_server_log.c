/*
 * tests/net/test_server_log.c - the access log lines of the shared cache server
 * (kb_server__log_format, net/server_log.c): the combined format plus duration and
 * JSON lines, with the token's name as identity and hostile request fields escaped.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "net/server_priv.h"

static struct kb_srv_logrec rec(struct sockaddr_in *a)
{
	struct kb_srv_logrec r;

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &a->sin_addr);
	memset(&r, 0, sizeof(r));
	r.when.tv_sec = 1700000000; /* 2023-11-14 22:13:20 UTC */
	r.when.tv_nsec = 250000000;
	r.addr = (const struct sockaddr *)a;
	r.ident = "ci-runners";
	r.method = "GET";
	r.path = "/cas/abc";
	r.version = "HTTP/1.1";
	r.user_agent = "Bazel/4.2.3 (linux)";
	r.status = 200;
	r.bytes_sent = 12345;
	r.bytes_received = 0;
	r.seconds = 0.0125;
	return r;
}

static void test_server_log__combined_line(void **state)
{
	struct sockaddr_in a;
	struct kb_srv_logrec r = rec(&a);
	char line[1024];
	(void)state;

	kb_server__log_format(line, sizeof(line), KB_SRV_LOG_COMBINED, &r);
	assert_string_equal(line, "192.0.2.7 - ci-runners [14/Nov/2023:22:13:20 +0000] "
				  "\"GET /cas/abc HTTP/1.1\" 200 12345 \"-\" "
				  "\"Bazel/4.2.3 (linux)\" 0.012500\n");
	r.ident = NULL;
	r.addr = NULL;
	r.user_agent = NULL;
	kb_server__log_format(line, sizeof(line), KB_SRV_LOG_COMBINED, &r);
	assert_string_equal(line, "- - - [14/Nov/2023:22:13:20 +0000] \"GET /cas/abc HTTP/1.1\" "
				  "200 12345 \"-\" \"-\" 0.012500\n");
}

static void test_server_log__hostile_fields_stay_on_one_line(void **state)
{
	struct sockaddr_in a;
	struct kb_srv_logrec r = rec(&a);
	char line[1024];
	(void)state;

	r.path = "/a\n127.0.0.1 - root [x] \"GET / HTTP/1.1\" 200 0\x1b[31m";
	r.user_agent = "evil\" \"agent\r\n";
	r.ident = "na me\"";
	kb_server__log_format(line, sizeof(line), KB_SRV_LOG_COMBINED, &r);
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	assert_null(strchr(line, '\x1b'));
	assert_null(strchr(line, '\r'));
	assert_non_null(strstr(line, " na\\x20me\\x22 ["));
	assert_non_null(strstr(line, "\"evil\\x22 \\x22agent\\x0d\\x0a\""));
	/* a path too long for the line is cut, still one line */
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r.path = big;
	size_t n = kb_server__log_format(line, 200, KB_SRV_LOG_COMBINED, &r);
	assert_int_equal(n, strlen(line));
	assert_true(n < 200);
	assert_int_equal(line[n - 1], '\n');
	assert_ptr_equal(strchr(line, '\n'), line + n - 1);
}

static void test_server_log__json_line(void **state)
{
	struct sockaddr_in a;
	struct kb_srv_logrec r = rec(&a);
	char line[2048];
	json_error_t err;
	json_t *o;
	(void)state;

	r.path = "/ccache/ab/\x01\xff";
	kb_server__log_format(line, sizeof(line), KB_SRV_LOG_JSON, &r);
	assert_int_equal(line[strlen(line) - 1], '\n');
	o = json_loads(line, 0, &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "time")), "2023-11-14T22:13:20.250Z");
	assert_string_equal(json_string_value(json_object_get(o, "client")), "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(o, "identity")), "ci-runners");
	assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(o, "path")), "/ccache/ab/\\x01\\xff");
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "bytes_sent")), 12345);
	assert_true(json_real_value(json_object_get(o, "duration_s")) == 0.0125);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_log__combined_line),
		cmocka_unit_test(test_server_log__hostile_fields_stay_on_one_line),
		cmocka_unit_test(test_server_log__json_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
