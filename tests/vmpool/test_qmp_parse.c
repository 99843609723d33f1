/*
 * tests/vmpool/test_qmp_parse.c - parsing QMP messages (greeting, return, error,
 * event, garbage) and the SHUTDOWN reason that tells a panic reboot from a poweroff.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "vmpool/vmpool_internal.h"

static int parse(kb_qmp_msg *m, const char *s)
{
	return kb_qmp__parse(m, s, strlen(s));
}

static void test_vmpool_qmp_parse__greeting_return_error_event(void **state)
{
	kb_qmp_msg m;
	(void)state;

	assert_int_equal(parse(&m, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, "
				   "\"capabilities\": [\"oob\"]}}"), 0);
	assert_int_equal(m.kind, KB_QMP_GREETING);
	kb_qmp__msg_clear(&m);

	assert_int_equal(parse(&m, "{\"return\": {}}"), 0);
	assert_int_equal(m.kind, KB_QMP_RETURN);
	kb_qmp__msg_clear(&m);

	assert_int_equal(parse(&m, "{\"error\": {\"class\": \"CommandNotFound\", "
				   "\"desc\": \"The command foo has not been found\"}}"), 0);
	assert_int_equal(m.kind, KB_QMP_ERROR);
	assert_string_equal(m.name, "CommandNotFound");
	assert_string_equal(m.desc, "The command foo has not been found");
	kb_qmp__msg_clear(&m);

	assert_int_equal(parse(&m, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
				   "\"event\": \"RESUME\"}"), 0);
	assert_int_equal(m.kind, KB_QMP_EVENT);
	assert_string_equal(m.name, "RESUME");
	kb_qmp__msg_clear(&m);
}

static void test_vmpool_qmp_parse__shutdown_reason_tells_reset_from_poweroff(void **state)
{
	kb_qmp_msg m;
	(void)state;

	assert_int_equal(parse(&m, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, "
				   "\"reason\": \"guest-reset\"}}"), 0);
	assert_string_equal(kb_qmp__shutdown_reason(&m), "guest-reset");
	kb_qmp__msg_clear(&m);
	assert_int_equal(parse(&m, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, "
				   "\"reason\": \"guest-shutdown\"}}"), 0);
	assert_string_equal(kb_qmp__shutdown_reason(&m), "guest-shutdown");
	kb_qmp__msg_clear(&m);
	assert_int_equal(parse(&m, "{\"event\": \"SHUTDOWN\"}"), 0);
	assert_string_equal(kb_qmp__shutdown_reason(&m), "");
	kb_qmp__msg_clear(&m);
	assert_string_equal(kb_qmp__shutdown_reason(NULL), "");
}

static void test_vmpool_qmp_parse__bad_input_returns_einval(void **state)
{
	static const char *bad[] = {
		"", "{", "not json", "[1, 2]", "42", "\"str\"", "{\"foo\": 1}",
		"{\"event\": 3}", "{\"error\": \"x\"}", "{\"return\": 1, \"return\": 2}",
	};
	kb_qmp_msg m;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&m, bad[i]), KB_EINVAL);
		assert_null(m.json);
		assert_true(strlen(kb_error_last()->message) > 0);
	}
	/* an error without class or desc still parses, with defaults */
	assert_int_equal(parse(&m, "{\"error\": {}}"), 0);
	assert_string_equal(m.name, "GenericError");
	kb_qmp__msg_clear(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_qmp_parse__greeting_return_error_event),
		cmocka_unit_test(test_vmpool_qmp_parse__shutdown_reason_tells_reset_from_poweroff),
		cmocka_unit_test(test_vmpool_qmp_parse__bad_input_returns_einval),
	};
	return cmocka_run_group_tests_name("vmpool/qmp_parse", tests, NULL, NULL);
}
