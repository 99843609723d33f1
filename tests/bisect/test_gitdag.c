/*
 * tests/bisect/test_gitdag.c - the candidate commits of good..bad read with libgit2:
 * topological order, merges, in-range parents, the model built from them, release
 * tags below bad, and bad input (unknown revision, empty range, not a repository).
 * kb-test-labels: integration
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/gitdag.h"
#include "kb_test.h"

static char *repo;

static int setup(void **state)
{
	(void)state;
	repo = kb_test_tmpdir("gitdag");
	/* base(v1.0) - a1(v1.1) - a2 ------ M - c1 (bad)
	 *               \- b1 - b2(v1.2-rc1) -/                                  */
	return kb_test_sh(
		"set -e; cd '%s'; export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t "
		"GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t; git init -q -b main .; "
		"c() { echo $1 > f_$1; git add -A; GIT_COMMITTER_DATE=\"$2 +0000\" "
		"GIT_AUTHOR_DATE=\"$2 +0000\" git commit -q -m $1; }; "
		"c base '2024-01-01 00:00:00'; git tag v1.0; "
		"c a1 '2024-01-02 00:00:00'; git tag v1.1; "
		"git checkout -q -b side; c b1 '2024-01-03 00:00:00'; c b2 '2024-01-04 00:00:00'; "
		"git tag v1.2-rc1; git checkout -q main; c a2 '2024-01-05 00:00:00'; "
		"GIT_COMMITTER_DATE='2024-01-06 00:00:00 +0000' git merge -q --no-ff -m M side; "
		"c c1 '2024-01-07 00:00:00'",
		repo) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	kb_test_tmpdir_free(repo);
	return 0;
}

static size_t find(const kb_gitdag *d, const char *summary)
{
	for (size_t i = 0; i < kb_gitdag_size(d); i++)
		if (!strcmp(kb_gitdag_summary(d, i), summary))
			return i;
	fail_msg("no commit '%s' in the range", summary);
	return 0;
}

static void test_bisect_gitdag__range_with_merge_in_topological_order(void **state)
{
	kb_gitdag *d = NULL;
	kb_model *m = NULL;
	const char *good[] = { "v1.0" };
	(void)state;
	assert_int_equal(kb_gitdag_open(&d, repo, "main", good, 1), 0);
	assert_int_equal(kb_gitdag_size(d), 6);
	assert_string_equal(kb_gitdag_summary(d, 5), "c1");
	assert_int_equal(strlen(kb_gitdag_id(d, 0)), 40);
	size_t a1 = find(d, "a1"), a2 = find(d, "a2"), b1 = find(d, "b1"), b2 = find(d, "b2");
	size_t M = find(d, "M"), c1 = find(d, "c1");
	assert_true(a1 < a2 && a1 < b1 && b1 < b2 && b2 < M && a2 < M && M < c1);
	assert_true(kb_gitdag_is_merge(d, M));
	assert_false(kb_gitdag_is_merge(d, b1));
	assert_int_equal(kb_gitdag_model(&m, d, NULL), 0);
	assert_true(kb_model_is_ancestor(m, b1, M));
	assert_true(kb_model_is_ancestor(m, a1, c1));
	assert_false(kb_model_is_ancestor(m, b1, a2));
	assert_int_equal(kb_model_n_parents(m, M), 2);
	assert_int_equal(kb_model_n_parents(m, a1), 0); /* its parent is the good commit */
	kb_model_free(m);
	kb_gitdag_free(d);
}

static void test_bisect_gitdag__two_goods_hide_both_sides(void **state)
{
	kb_gitdag *d = NULL;
	const char *good[] = { "v1.0", "side" };
	(void)state;
	assert_int_equal(kb_gitdag_open(&d, repo, "main", good, 2), 0);
	assert_int_equal(kb_gitdag_size(d), 3); /* a2, M, c1: a1 is below side */
	kb_gitdag_free(d);
}

static void test_bisect_gitdag__release_tags_newest_first_without_rc(void **state)
{
	char **tags = NULL;
	size_t n = 0;
	(void)state;
	assert_int_equal(kb_gitdag_release_tags(&tags, &n, repo, "main"), 0);
	assert_int_equal(n, 2);
	assert_string_equal(tags[0], "v1.1");
	assert_string_equal(tags[1], "v1.0");
	kb_gitdag_tags_free(tags, n);
}

static void test_bisect_gitdag__bad_input_is_reported(void **state)
{
	kb_gitdag *d = NULL;
	const char *good[] = { "v1.0" }, *later[] = { "main" }, *nosuch[] = { "nosuch" };
	(void)state;
	assert_int_equal(kb_gitdag_open(&d, repo, "nosuch", good, 1), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "nosuch"));
	assert_int_equal(kb_gitdag_open(&d, repo, "main", nosuch, 1), KB_ENOTFOUND);
	assert_int_equal(kb_gitdag_open(&d, repo, "v1.1", later, 1), KB_EINVAL);
	assert_int_equal(kb_gitdag_open(&d, "/nonexistent/repo", "main", good, 1), KB_ENOTFOUND);
	assert_null(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_gitdag__range_with_merge_in_topological_order),
		cmocka_unit_test(test_bisect_gitdag__two_goods_hide_both_sides),
		cmocka_unit_test(test_bisect_gitdag__release_tags_newest_first_without_rc),
		cmocka_unit_test(test_bisect_gitdag__bad_input_is_reported),
	};
	return cmocka_run_group_tests_name("bisect/gitdag", tests, setup, teardown);
}
