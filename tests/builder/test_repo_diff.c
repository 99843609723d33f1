/*
 * tests/builder/test_repo_diff.c - tree-to-tree diffs (builder/repo.c): the changed paths
 * kb_repo__diff_paths() reports are exactly those `git diff-tree -r --no-renames` names
 * (modified, added, deleted files, a file turned directory, a symlink, a mode change,
 * deep and identical subtrees), with additions and deletions flagged, in both
 * directions, the same from the diff cache as from the walk, and a callback's non-zero
 * value stops the walk.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "build_internal.h"
#include "kb_test.h"

struct seen {
	char text[8192]; /* "A path\n" / "M path\n" lines, sorted afterwards */
	size_t len;
	unsigned calls, stop_after;
};

static int record(const char *path, int added, void *arg)
{
	struct seen *s = arg;
	s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "%c %s\n",
				   added ? 'A' : 'M', path);
	s->calls++;
	return s->stop_after && s->calls == s->stop_after ? 7 : 0;
}

/* lines of text, sorted, into out */
static void sorted(const char *text, char *out, size_t len)
{
	char *copy = strdup(text), *lines[512], *save = NULL;
	size_t n = 0, o = 0;

	for (char *l = strtok_r(copy, "\n", &save); l && n < 512; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1], lines[j - 1] = t;
		}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, len - o, "%s\n", lines[i]);
	free(copy);
}

/* What git says: "A path" for an added or deleted file, "M path" otherwise. */
static void git_says(const char *repo, const char *a, const char *b, char *out, size_t len)
{
	char cmd[8192], raw[8192] = "";
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd),
		 "git -C '%s' diff-tree -r --no-renames --name-status %s %s | "
		 "awk '{ s = ($1 == \"A\" || $1 == \"D\") ? \"A\" : \"M\"; print s, $2 }'",
		 repo, a, b);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(raw, 1, sizeof(raw) - 1, f);
	raw[n] = '\0';
	pclose(f);
	sorted(raw, out, len);
}

static void tree_of(const char *repo, const char *rev, char out[41])
{
	char cmd[4096];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse '%s^{tree}'", repo, rev);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(out, 41, f));
	pclose(f);
	assert_int_equal(strlen(out), 40);
}

static void test_bisect_repo__diff_paths_match_git(void **state)
{
	char *dir = kb_test_tmpdir("repo-diff"), repo[4096], t1[41], t2[41];
	char want[8192], got[8192];
	kb_repo *r;
	size_t n = 0;
	(void)state;

	snprintf(repo, sizeof(repo), "%s/r", dir);
	assert_int_equal(
		kb_test_sh("set -e; export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t "
			   "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t; "
			   "git init -q '%s'; cd '%s'; mkdir -p a/b/c same/deep lib; "
			   "echo 1 > a/b/c/x.h; echo 1 > a/b/y.c; echo s > same/deep/f; "
			   "echo l > lib/gone.c; echo f > thing; echo m > script.sh; "
			   "ln -s a/b/y.c link; echo k > keep.c; git add -A; git commit -qm one; "
			   "echo 2 > a/b/c/x.h; echo new > a/b/c/new.h; rm -r lib; rm thing; "
			   "mkdir thing; echo inside > thing/f1; echo inside > thing/f2; "
			   "chmod +x script.sh; rm link; ln -s keep.c link; git add -A; "
			   "git commit -qm two",
			   repo, repo),
		0);
	tree_of(repo, "HEAD~1", t1);
	tree_of(repo, "HEAD", t2);
	assert_int_equal(kb_repo__open(&r, repo), KB_OK);

	for (int dirn = 0; dirn < 2; dirn++) {
		const char *x = dirn ? t2 : t1, *y = dirn ? t1 : t2;
		for (int pass = 0; pass < 2; pass++) { /* the walk, then the diff cache */
			struct seen s = { .len = 0 };
			assert_int_equal(kb_repo__diff_paths(r, x, y, record, &s, &n), 0);
			sorted(s.text, got, sizeof(got));
			git_says(repo, x, y, want, sizeof(want));
			print_message("%s", got);
			assert_string_equal(got, want);
			assert_int_equal(n, s.calls);
		}
	}
	/* a callback's value stops the walk and is returned */
	struct seen s = { .stop_after = 2 };
	assert_int_equal(kb_repo__diff_paths(r, t1, t2, record, &s, &n), 7);
	assert_int_equal(s.calls, 2);
	/* identical trees: nothing */
	struct seen none = { .len = 0 };
	assert_int_equal(kb_repo__diff_paths(r, t1, t1, record, &none, &n), 0);
	assert_int_equal(none.calls, 0);
	assert_int_equal(n, 0);
	/* a tree that is not there */
	assert_int_equal(kb_repo__diff_paths(r, t1, "0123456789012345678901234567890123456789",
					     record, &none, &n),
			 KB_ENOTFOUND);
	kb_error_clear();
	kb_repo__free(r);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_repo__diff_paths_match_git),
	};
	return cmocka_run_group_tests_name("builder/repo_diff", tests, NULL, NULL);
}
