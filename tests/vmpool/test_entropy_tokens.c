/*
 * tests/vmpool/test_entropy_tokens.c - the per-template token set that proves clones
 * got fresh randomness: a repeated token is seen as such (among hundreds), malformed
 * tokens are refused, and VM generation ID GUIDs are random version-4 UUIDs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vmpool_internal.h"

static void test_vmpool_entropy_tokens__repeat_is_found(void **state)
{
	kb_tokens set = { 0 };
	char tok[33];
	(void)state;

	for (unsigned i = 0; i < 300; i++) {
		snprintf(tok, sizeof(tok), "%08x%08x%08x%08x", i, i * 7u, 0xdeadbeefu, ~i);
		assert_int_equal(kb_tokens__add(&set, tok), 0);
	}
	assert_int_equal(set.n, 300);
	snprintf(tok, sizeof(tok), "%08x%08x%08x%08x", 123u, 123u * 7u, 0xdeadbeefu, ~123u);
	assert_int_equal(kb_tokens__add(&set, tok), 1);
	/* upper case is not what the agent sends; neither is a short or long token */
	assert_int_equal(kb_tokens__add(&set, "ABCDEF00112233445566778899aabbcc"), -1);
	assert_int_equal(kb_tokens__add(&set, "0011"), -1);
	assert_int_equal(kb_tokens__add(&set, "00112233445566778899aabbccddeeff00"), -1);
	assert_int_equal(kb_tokens__add(&set, ""), -1);
	assert_int_equal(set.n, 300);
	kb_tokens__free(&set);
	assert_null(set.v);
}

static void test_vmpool_entropy_tokens__vmgenid_guids_are_random_v4(void **state)
{
	char a[37], b[37];
	(void)state;

	assert_int_equal(kb_vm__uuid(a), 0);
	assert_int_equal(kb_vm__uuid(b), 0);
	assert_int_equal(strlen(a), 36);
	assert_string_not_equal(a, b);
	assert_int_equal(a[8], '-');
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_entropy_tokens__repeat_is_found),
		cmocka_unit_test(test_vmpool_entropy_tokens__vmgenid_guids_are_random_v4),
	};
	return cmocka_run_group_tests_name("vmpool/entropy_tokens", tests, NULL, NULL);
}
