/*
 * tests/helpers/kb_test.c - sandbox helpers for the test suite (see kb_test.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <git2.h>

#include "kbisect/cache.h"
#include "kb_test.h"

char *kb_test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/kbtest-%s-XXXXXX", base, tag ? tag : "t") < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

void kb_test_rmrf(const char *path)
{
	if (path && *path && strcmp(path, "/"))
		kb_test_sh("rm -rf '%s'", path);
}

void kb_test_tmpdir_free(char *path)
{
	if (!path)
		return;
	if (!getenv("KB_TEST_KEEP"))
		kb_test_rmrf(path);
	free(path);
}

const char *kb_test_source_dir(void)
{
	const char *s = getenv("KB_SOURCE_DIR");
	return s && *s ? s : ".";
}

const char *kb_test_kbisect(void)
{
	const char *s = getenv("KBISECT");
	return s && *s ? s : NULL;
}

int kb_test_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f)
		return -1;
	if (len && fwrite(data, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

void *kb_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

void kb_test_fill_random(void *buf, size_t len, unsigned int seed)
{
	unsigned char *p = buf;
	unsigned long long x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

int kb_test_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	rc = system(cmd);
	free(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

int kb_test_cache_setup(void **state)
{
	struct kb_test_cache *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = kb_test_tmpdir("cache");
	assert_non_null(f->dir);
	assert_int_equal(kb_cache_open(&f->c, f->dir, KB_CACHE_CREATE), 0);
	*state = f;
	return 0;
}

int kb_test_cache_teardown(void **state)
{
	struct kb_test_cache *f = *state;

	kb_cache_free(f->c);
	kb_test_tmpdir_free(f->dir);
	free(f);
	return 0;
}

int kb_test_kernel(char *bz, char *vmlinux, size_t len)
{
	char cmd[1200], name[256], b[1024], v[1024];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "bash '%s/scripts/fetch-kernels.sh' 2>/dev/null",
		 kb_test_source_dir());
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%255s %1023s %1023s", name, b, v) != 3)
		b[0] = '\0';
	pclose(f);
	if (!b[0] || access(b, R_OK) != 0 || access(v, R_OK) != 0 || strlen(b) >= len ||
	    strlen(v) >= len)
		return -1;
	snprintf(bz, len, "%s", b);
	snprintf(vmlinux, len, "%s", v);
	return 0;
}

void kb_test_git_commit_all(struct git_repository *git, int seq, const char *msg, char out[41])
{
	git_index *idx;
	git_oid tree_oid, commit_oid, head_oid;
	git_tree *tree;
	git_signature *sig;
	git_commit *parent = NULL;
	int has_parent = git_reference_name_to_id(&head_oid, git, "HEAD") == 0;

	assert_int_equal(git_repository_index(&idx, git), 0);
	assert_int_equal(git_index_add_all(idx, NULL, GIT_INDEX_ADD_FORCE, NULL, NULL), 0);
	assert_int_equal(git_index_update_all(idx, NULL, NULL, NULL), 0);
	assert_int_equal(git_index_write(idx), 0);
	assert_int_equal(git_index_write_tree(&tree_oid, idx), 0);
	git_index_free(idx);
	assert_int_equal(git_tree_lookup(&tree, git, &tree_oid), 0);
	assert_int_equal(git_signature_new(&sig, "kbisect test", "test@kbisect", 1700000000 + seq, 0),
			 0);
	if (has_parent)
		assert_int_equal(git_commit_lookup(&parent, git, &head_oid), 0);
	assert_int_equal(git_commit_create(&commit_oid, git, "HEAD", sig, sig, NULL, msg, tree,
					   has_parent ? 1 : 0,
					   (const git_commit **)(has_parent ? &parent : NULL)),
			 0);
	git_oid_tostr(out, 41, &commit_oid);
	git_commit_free(parent);
	git_tree_free(tree);
	git_signature_free(sig);
}
