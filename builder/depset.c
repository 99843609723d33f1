/*
 * builder/depset.c - dependency input sets: which source paths one kernel build read,
 * and whether a changed path can change that build's output.
 * Owns: Kbuild .cmd parsing (source_, deps_ and cmd_ lines, as written by
 * scripts/basic/fixdep), the tree walk that finds them, the serialised form stored
 * in the cache, and the rules of kb_depset__affects().
 * Not: tree diffs (repo.c), build records (build.c).
 * DESIGN: the set is a sorted array of normalised relative paths plus a sorted array
 * of their basenames (for include shadowing by an added header). The rules err on
 * the side of rebuilding: every Kconfig/Makefile/Kbuild file and all of scripts/
 * count as inputs whether or not a .cmd file names them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kbisect/error.h"
#include "common/error_internal.h"
#include "build_internal.h"

struct kb_depset {
	char **paths;
	size_t n, cap;
	int sorted;
	char **bases;   /* sorted basenames (pointers into paths), valid when sorted */
	char **tools;   /* sorted "tools/<dir>/" prefixes of inputs, valid when sorted */
	size_t n_tools;
	int unsafe;     /* a path could not be represented: every change affects the build */
	unsigned *uses; /* per path (valid when sorted): how many times it was added, i.e.
			   for a scanned tree how many .cmd files (objects) read it */
};

int kb_depset__new(kb_depset **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? KB_OK : kb_error_set(KB_ERRCLASS_OS, "out of memory");
}

static void drop_index(kb_depset *d)
{
	free(d->bases);
	d->bases = NULL;
	for (size_t i = 0; i < d->n_tools; i++)
		free(d->tools[i]);
	free(d->tools);
	d->tools = NULL;
	d->n_tools = 0;
	d->sorted = 0;
}

void kb_depset__free(kb_depset *d)
{
	if (!d)
		return;
	drop_index(d);
	free(d->uses);
	for (size_t i = 0; i < d->n; i++)
		free(d->paths[i]);
	free(d->paths);
	free(d);
}

/* Normalise a relative path in place: drop "./", "//", resolve "..". Returns 0, or -1
 * when the path leaves the tree or is empty. */
static int normalise(char *p)
{
	size_t depth = 0;
	char *in = strdup(p), *cur, *out = p;

	if (!in)
		return -1;
	if (*p == '/') {
		free(in);
		return -1;
	}
	cur = in;
	while (cur && *cur) {
		char *slash = strchr(cur, '/');
		size_t n = slash ? (size_t)(slash - cur) : strlen(cur);
		if (n == 0 || (n == 1 && cur[0] == '.')) {
			/* skip */
		} else if (n == 2 && cur[0] == '.' && cur[1] == '.') {
			if (depth == 0) {
				free(in);
				return -1;
			}
			/* back up over the last component and its '/' */
			out--;
			while (out > p && out[-1] != '/')
				out--;
			depth--;
		} else {
			memcpy(out, cur, n);
			out += n;
			*out++ = '/';
			depth++;
		}
		cur = slash ? slash + 1 : NULL;
	}
	free(in);
	if (out > p && out[-1] == '/')
		out--;
	*out = '\0';
	return out > p ? 0 : -1;
}

static int add_n(kb_depset *d, const char *path, size_t len)
{
	char *p;

	if (memchr(path, '\n', len)) {
		d->unsafe = 1;
		return KB_OK;
	}
	p = malloc(len + 1);
	if (!p)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	memcpy(p, path, len);
	p[len] = '\0';
	if (normalise(p) != 0) {
		free(p);
		return KB_OK;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		char **np = realloc(d->paths, cap * sizeof(*np));
		if (!np) {
			free(p);
			return kb_error_set(KB_ERRCLASS_OS, "out of memory");
		}
		d->paths = np;
		d->cap = cap;
	}
	d->paths[d->n++] = p;
	if (d->sorted)
		drop_index(d);
	return KB_OK;
}

int kb_depset__add(kb_depset *d, const char *path)
{
	return add_n(d, path, strlen(path));
}

size_t kb_depset__count(kb_depset *d)
{
	return d->n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int cmp_base(const void *a, const void *b)
{
	return strcmp(base_of(*(char *const *)a), base_of(*(char *const *)b));
}

/* Sort paths[0..n-1] and drop repeats (freed); uses, when given, gets how many times
 * each remaining path was there. The new count. */
static size_t sort_unique(char **paths, size_t n, unsigned *uses)
{
	size_t w = 0;

	if (n > 1)
		qsort(paths, n, sizeof(*paths), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (w && !strcmp(paths[w - 1], paths[i])) {
			free(paths[i]);
			if (uses)
				uses[w - 1]++;
		} else {
			if (uses)
				uses[w] = 1;
			paths[w++] = paths[i];
		}
	}
	return w;
}

/* Sort, de-duplicate, build the basename and tools/ indexes. */
static int finalize(kb_depset *d)
{
	if (d->sorted)
		return KB_OK;
	free(d->uses);
	d->uses = calloc(d->n ? d->n : 1, sizeof(*d->uses));
	if (!d->uses)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	d->n = sort_unique(d->paths, d->n, d->uses);
	d->bases = malloc((d->n ? d->n : 1) * sizeof(*d->bases));
	d->tools = malloc((d->n ? d->n : 1) * sizeof(*d->tools));
	if (!d->bases || !d->tools) {
		drop_index(d);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	if (d->n)
		memcpy(d->bases, d->paths, d->n * sizeof(*d->bases));
	if (d->n > 1)
		qsort(d->bases, d->n, sizeof(*d->bases), cmp_base);
	d->n_tools = 0;
	for (size_t i = 0; i < d->n; i++) {
		const char *p = d->paths[i], *s;
		size_t len;
		if (strncmp(p, "tools/", 6) || !(s = strchr(p + 6, '/')))
			continue;
		len = (size_t)(s - p) + 1;
		if (d->n_tools && !strncmp(d->tools[d->n_tools - 1], p, len) &&
		    strlen(d->tools[d->n_tools - 1]) == len)
			continue;
		d->tools[d->n_tools] = strndup(p, len);
		if (!d->tools[d->n_tools]) {
			drop_index(d);
			return kb_error_set(KB_ERRCLASS_OS, "out of memory");
		}
		d->n_tools++;
	}
	d->sorted = 1;
	return KB_OK;
}

/* First index whose path is >= key. */
static size_t lower_bound(char **arr, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(arr[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int has_base(kb_depset *d, const char *base)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(base_of(d->bases[mid]), base);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

unsigned kb_depset__uses(kb_depset *d, const char *path)
{
	char buf[PATH_MAX];
	size_t i, len = strlen(path);

	if (finalize(d) != KB_OK || len + 1 > sizeof(buf))
		return 0;
	memcpy(buf, path, len + 1);
	if (normalise(buf) != 0)
		return 0;
	i = lower_bound(d->paths, d->n, buf);
	return i < d->n && !strcmp(d->paths[i], buf) ? d->uses[i] : 0;
}

int kb_depset__affects(kb_depset *d, const char *path, int added)
{
	char buf[PATH_MAX];
	const char *base;
	size_t i, len;

	if (d->unsafe || finalize(d) != KB_OK)
		return 1;
	len = strlen(path);
	if (len + 2 > sizeof(buf))
		return 1;
	memcpy(buf, path, len + 1);
	if (normalise(buf) != 0)
		return 1;
	base = base_of(buf);
	/* Build system files, wherever they are. */
	if (starts(base, "Kconfig") || starts(base, "Makefile") || starts(base, "Kbuild") ||
	    starts(base, "localversion") || starts(buf, "scripts/"))
		return 1;
	/* An input, or a directory / symlink above one. */
	i = lower_bound(d->paths, d->n, buf);
	if (i < d->n && !strcmp(d->paths[i], buf))
		return 1;
	len = strlen(buf);
	buf[len] = '/';
	buf[len + 1] = '\0';
	i = lower_bound(d->paths, d->n, buf);
	if (i < d->n && starts(d->paths[i], buf))
		return 1;
	buf[len] = '\0';
	/* Host tools the build compiled (objtool): their whole directory and the shared
	 * tools build files. */
	if (d->n_tools && starts(buf, "tools/")) {
		if (starts(buf, "tools/build/") || starts(buf, "tools/scripts/") ||
		    starts(buf, "tools/include/") || starts(buf, "tools/arch/") ||
		    starts(buf, "tools/lib/") || !strchr(buf + 6, '/'))
			return 1;
		for (size_t t = 0; t < d->n_tools; t++)
			if (starts(buf, d->tools[t]))
				return 1;
	}
	if (!added)
		return 0;
	/* A new file with the name of an input may shadow it on an include path. */
	if (has_base(d, base))
		return 1;
	/* A new file next to inputs may be found by __has_include() or a wildcard
	 * (security/landlock/errata/abi-N.h): its directory must hold no input. */
	if (base > buf) {
		size_t dl = (size_t)(base - buf); /* includes the '/' */
		char saved = buf[dl];
		buf[dl] = '\0';
		i = lower_bound(d->paths, d->n, buf);
		if (i < d->n && starts(d->paths[i], buf))
			return 1;
		buf[dl] = saved;
	}
	return 0;
}

/* ---- .cmd parsing ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\';
}

/* Add one deps_/source_ token unless it is a make function like $(wildcard ..). */
static int add_dep_token(kb_depset *d, const char *t, size_t len, const char *tree_dir,
			 size_t tree_len)
{
	if (len == 0 || t[0] == '$' || t[len - 1] == ')' || t[len - 1] == ':')
		return KB_OK;
	if (t[0] == '/') {
		if (!tree_dir || len <= tree_len + 1 || strncmp(t, tree_dir, tree_len) ||
		    t[tree_len] != '/')
			return KB_OK; /* outside the tree: compiler headers */
		t += tree_len + 1;
		len -= tree_len + 1;
	}
	return add_n(d, t, len);
}

/* Add the parts of a command-line token that name files in the tree. */
static int add_cmd_token(kb_depset *d, const char *t, size_t len, int dirfd,
			 const char *tree_dir, size_t tree_len)
{
	char part[PATH_MAX];
	size_t i = 0;

	while (i < len) {
		size_t j = i, n;
		const char *p;
		struct stat st;
		while (j < len && !strchr("=,;'\"()<>|&`", t[j]))
			j++;
		p = t + i;
		n = j - i;
		i = j + 1;
		if (n == 0 || n >= sizeof(part) || p[0] == '-' || p[0] == '$')
			continue;
		if (p[0] == '/') {
			if (n <= tree_len + 1 || strncmp(p, tree_dir, tree_len) || p[tree_len] != '/')
				continue;
			p += tree_len + 1;
			n -= tree_len + 1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		if (fstatat(dirfd, part, &st, 0) == 0 && S_ISREG(st.st_mode)) {
			int rc = add_n(d, part, n);
			if (rc < 0)
				return rc;
		}
	}
	return KB_OK;
}

static int parse_cmd_dir(kb_depset *d, const char *text, size_t len, int dirfd,
			 const char *tree_dir)
{
	const char *p = text, *end = text + len;
	size_t tree_len = tree_dir ? strlen(tree_dir) : 0;
	int in_deps = 0, rc = KB_OK;

	while (p < end && rc == KB_OK) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *q = p, *val;
		int cont = eol > p && (eol[-1] == '\\' || (eol - p > 1 && eol[-1] == '\r' &&
							    eol[-2] == '\\'));
		enum { NONE, DEPS, CMD } kind = NONE;

		if (in_deps) {
			kind = DEPS;
			val = p;
		} else {
			const char *as = NULL;
			for (const char *s = p; s + 1 < eol; s++)
				if (s[0] == ':' && s[1] == '=') {
					as = s;
					break;
				}
			val = as ? as + 2 : eol;
			if (as && (!strncmp(p, "deps_", 5) || !strncmp(p, "source_", 7)))
				kind = DEPS;
			else if (as && (!strncmp(p, "cmd_", 4) || !strncmp(p, "savedcmd_", 9)))
				kind = CMD;
		}
		in_deps = kind == DEPS && cont;
		q = val;
		while (kind != NONE && q < eol && rc == KB_OK) {
			const char *t;
			while (q < eol && is_space(*q))
				q++;
			t = q;
			while (q < eol && !is_space(*q))
				q++;
			if (q == t)
				break;
			if (kind == DEPS)
				rc = add_dep_token(d, t, (size_t)(q - t), tree_dir, tree_len);
			else if (dirfd >= 0)
				rc = add_cmd_token(d, t, (size_t)(q - t), dirfd, tree_dir, tree_len);
		}
		p = nl ? nl + 1 : end;
	}
	return rc;
}

int kb_depset__parse_cmd(kb_depset *d, const char *text, size_t len, const char *tree_dir)
{
	int dirfd = -1, rc;

	if (tree_dir) {
		dirfd = open(tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return kb_error_os("cannot open source tree '%s'", tree_dir);
	}
	rc = parse_cmd_dir(d, text, len, dirfd, tree_dir);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

static int read_all(char **out, size_t *len, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* Drop repeats among the paths added since index n0 (one .cmd file names its source
 * on the command line, as source_ and maybe again among the deps). */
static void dedupe_tail(kb_depset *d, size_t n0)
{
	d->n = n0 + sort_unique(d->paths + n0, d->n - n0, NULL);
}

struct scan {
	kb_depset *d;
	const char *tree;
	int treefd;
	size_t n_cmd;
};

static int walk(struct scan *s, const char *rel)
{
	int fd = rel[0] ? openat(s->treefd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
			: dup(s->treefd);
	DIR *dir;
	struct dirent *e;
	int rc = KB_OK;

	if (fd < 0)
		return KB_OK; /* vanished or not a directory: nothing to read */
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return KB_OK;
	}
	while (rc == KB_OK && (e = readdir(dir))) {
		char sub[PATH_MAX];
		size_t nl = strlen(e->d_name);
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, ".git"))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "",
				     e->d_name) >= sizeof(sub))
			continue;
		if (e->d_type == DT_DIR) {
			rc = walk(s, sub);
		} else if ((e->d_type == DT_REG || e->d_type == DT_UNKNOWN) &&
			   e->d_name[0] == '.' && nl > 5 && !strcmp(e->d_name + nl - 4, ".cmd")) {
			char *text;
			size_t len;
			if (read_all(&text, &len, s->treefd, sub) == 0) {
				size_t n0 = s->d->n;
				rc = parse_cmd_dir(s->d, text, len, s->treefd, s->tree);
				dedupe_tail(s->d, n0); /* uses counts .cmd files, not mentions */
				free(text);
				s->n_cmd++;
			}
		} else if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(s->treefd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode))
				rc = walk(s, sub);
		}
	}
	closedir(dir);
	return rc;
}

/* The directories checked for symlinks: open addressing, FNV-1a. */
struct strset {
	const char **key;
	signed char *val;
	size_t mask, n;
};

static size_t str_hash(const char *s, size_t len)
{
	size_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* slot of s[0..len-1] in set: its own, or the empty one where it belongs */
static size_t strset_slot(const struct strset *set, const char *s, size_t len)
{
	size_t i = str_hash(s, len) & set->mask;
	while (set->key[i] && (strncmp(set->key[i], s, len) || set->key[i][len]))
		i = (i + 1) & set->mask;
	return i;
}

/* 1 if directory dir[0..len-1] of the tree is, or lies below, a symlink (memoised) */
static int dir_via_symlink(struct strset *dirs, int treefd, const char *dir, size_t len)
{
	size_t i = strset_slot(dirs, dir, len);
	const char *slash;
	struct stat st;
	int r = 0;

	if (dirs->key[i])
		return dirs->val[i];
	if (2 * (dirs->n + 1) > dirs->mask)
		return 1; /* table full: let realpath() decide */
	slash = memrchr(dir, '/', len);
	if (slash)
		r = dir_via_symlink(dirs, treefd, dir, (size_t)(slash - dir));
	if (!r) {
		char *d = strndup(dir, len);
		r = !d || fstatat(treefd, d, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISLNK(st.st_mode);
		free(d);
	}
	i = strset_slot(dirs, dir, len); /* the recursion may have filled the table */
	if (!dirs->key[i] && (dirs->key[i] = strndup(dir, len)) != NULL) {
		dirs->val[i] = (signed char)r;
		dirs->n++;
	}
	return r;
}

int kb_depset__scan(kb_depset *d, const char *tree_dir, size_t *n_cmd)
{
	struct scan s = { d, tree_dir, -1, 0 };
	struct strset dirs = { 0 };
	char real_tree[PATH_MAX], **uniq = NULL;
	size_t n0, nu = 0, rlen, cap;
	int rc;

	s.treefd = open(tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.treefd < 0)
		return kb_error_os("cannot open build tree '%s'", tree_dir);
	rc = walk(&s, "");
	/* the distinct paths (each .cmd file names the common headers again) */
	n0 = d->n;
	uniq = malloc((n0 ? n0 : 1) * sizeof(*uniq));
	if (uniq && n0) {
		memcpy(uniq, d->paths, n0 * sizeof(*uniq));
		qsort(uniq, n0, sizeof(*uniq), cmp_str);
		for (size_t i = 0; i < n0; i++)
			if (!nu || strcmp(uniq[nu - 1], uniq[i]))
				uniq[nu++] = uniq[i];
	}
	for (cap = 64; cap < 2 * nu + 2; cap *= 2)
		;
	dirs.key = calloc(cap, sizeof(*dirs.key));
	dirs.val = calloc(cap, 1);
	dirs.mask = cap - 1;
	if (rc == KB_OK && (!uniq || !dirs.key || !dirs.val))
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory scanning '%s'", tree_dir);
	if (rc == KB_OK && realpath(tree_dir, real_tree)) {
		/* Inputs reached through a symlink count under their real path too. Most
		 * trees have none on the way to an input: each distinct path costs one
		 * fstatat() of its last component, each directory one (memoised), and only
		 * a path with a symlink on the way gets a realpath(). */
		rlen = strlen(real_tree);
		for (size_t i = 0; i < nu && rc == KB_OK; i++) {
			char full[PATH_MAX], real[PATH_MAX];
			const char *p = uniq[i], *slash = strrchr(p, '/');
			struct stat st;
			if (!(slash && dir_via_symlink(&dirs, s.treefd, p, (size_t)(slash - p))) &&
			    (fstatat(s.treefd, p, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)))
				continue; /* no symlink on the way (or no such file): its own real path */
			snprintf(full, sizeof(full), "%s/%s", real_tree, p);
			if (!realpath(full, real) || strcmp(full, real) == 0)
				continue;
			if (!strncmp(real, real_tree, rlen) && real[rlen] == '/')
				rc = kb_depset__add(d, real + rlen + 1);
			else
				d->unsafe = 1; /* an input outside the tree: cannot reason */
		}
	}
	for (size_t i = 0; dirs.key && i <= dirs.mask; i++)
		free((char *)dirs.key[i]);
	free(uniq), free(dirs.key), free(dirs.val);
	close(s.treefd);
	if (n_cmd)
		*n_cmd = s.n_cmd;
	if (rc == KB_OK)
		rc = finalize(d);
	return rc;
}

int kb_depset__serialize(char **out, size_t *len, kb_depset *d)
{
	size_t total, off;
	char *buf;
	int rc = finalize(d);

	if (rc < 0)
		return rc;
	total = 64;
	for (size_t i = 0; i < d->n; i++)
		total += strlen(d->paths[i]) + 1;
	buf = malloc(total);
	if (!buf)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	off = (size_t)snprintf(buf, total, "kbisect-depset %d%s\n", KB_DEPSET_VERSION,
			       d->unsafe ? " unsafe" : "");
	for (size_t i = 0; i < d->n; i++) {
		size_t l = strlen(d->paths[i]);
		memcpy(buf + off, d->paths[i], l);
		off += l;
		buf[off++] = '\n';
	}
	*out = buf;
	*len = off;
	return KB_OK;
}

int kb_depset__parse(kb_depset **out, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	kb_depset *d;
	int version = 0, rc;
	char head[64];

	nl = memchr(p, '\n', len);
	if (!nl || (size_t)(nl - p) >= sizeof(head))
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_BUILD,
				     "dependency set object has no header; run "
				     "'kbisect cache verify'");
	memcpy(head, p, (size_t)(nl - p));
	head[nl - p] = '\0';
	if (sscanf(head, "kbisect-depset %d", &version) != 1)
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_BUILD,
				     "dependency set object has a bad header '%.40s'", head);
	if (version != KB_DEPSET_VERSION)
		return kb_error_setc(KB_EVERSION, KB_ERRCLASS_BUILD,
				     "dependency set version %d, this kbisect knows %d", version,
				     KB_DEPSET_VERSION);
	if ((rc = kb_depset__new(&d)) < 0)
		return rc;
	d->unsafe = strstr(head, " unsafe") != NULL;
	p = nl + 1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		if (eol > p && (rc = add_n(d, p, (size_t)(eol - p))) < 0) {
			kb_depset__free(d);
			return rc;
		}
		p = nl ? nl + 1 : end;
	}
	if ((rc = finalize(d)) < 0) {
		kb_depset__free(d);
		return rc;
	}
	*out = d;
	return KB_OK;
}
