/*
 * tests/common/test_error_key.c - the error convention and SHA-256 keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "common/error_internal.h"

static void test_common_error__set_returns_error_and_keeps_message(void **state)
{
	(void)state;
	assert_int_equal(kb_error_set(KB_ERRCLASS_CACHE, "cannot open '%s'", "x"), KB_ERROR);
	assert_string_equal(kb_error_last()->message, "cannot open 'x'");
	assert_int_equal(kb_error_last()->klass, KB_ERRCLASS_CACHE);
	kb_error_prefix("while testing");
	assert_string_equal(kb_error_last()->message, "while testing: cannot open 'x'");
	kb_error_clear();
	assert_string_equal(kb_error_last()->message, "");
	assert_non_null(kb_error_last());
}

static void test_common_error__strerror_covers_every_code(void **state)
{
	(void)state;
	for (int c = KB_EUNSUPPORTED; c <= KB_OK; c++)
		assert_string_not_equal(kb_strerror(c), "unknown error code");
	assert_string_equal(kb_strerror(42), "unknown error code");
}

static void test_common_key__sha256_of_abc_matches_fips_vector(void **state)
{
	kb_key k, back;
	char hex[KB_KEY_HEXLEN + 1];
	(void)state;

	kb_sha256(&k, "abc", 3);
	kb_key_to_hex(hex, &k);
	assert_string_equal(hex,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(kb_key_from_hex(&back, hex), KB_OK);
	assert_true(kb_key_equal(&k, &back));
}

static void test_common_key__bad_hex_returns_einval(void **state)
{
	kb_key k;
	(void)state;
	assert_int_equal(kb_key_from_hex(&k, "abc"), KB_EINVAL);
	assert_int_equal(kb_key_from_hex(&k, NULL), KB_EINVAL);
	assert_int_equal(kb_key_from_hex(&k,
		"zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), KB_EINVAL);
}

static void test_common_key__sha256_file_matches_buffer_and_names_missing_file(void **state)
{
	char path[] = "/tmp/kbtest-sha-XXXXXX";
	static unsigned char data[3 << 20]; /* spans several 1 MiB pieces */
	kb_key a, b;
	int fd;
	(void)state;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + (i >> 11));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(fd);
	assert_int_equal(kb_sha256_file(&a, path), 0);
	kb_sha256(&b, data, sizeof(data));
	assert_true(kb_key_equal(&a, &b));
	unlink(path);
	assert_int_equal(kb_sha256_file(&a, path), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common_error__set_returns_error_and_keeps_message),
		cmocka_unit_test(test_common_error__strerror_covers_every_code),
		cmocka_unit_test(test_common_key__sha256_of_abc_matches_fips_vector),
		cmocka_unit_test(test_common_key__bad_hex_returns_einval),
		cmocka_unit_test(test_common_key__sha256_file_matches_buffer_and_names_missing_file),
	};
	return cmocka_run_group_tests_name("common/error_key", tests, NULL, NULL);
}
