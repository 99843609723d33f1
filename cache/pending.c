/*
 * cache/pending.c - chunks written by puts that have not committed yet, and how a
 * killed put is told from a live one.
 * Owns: the "pend" table, the writer lock files dir/writers/<token>, the stat
 * "pend_bytes", the clean-up of leftovers of killed processes (writer tokens, temporary
 * base files, get's <file>.kbtmp.<pid>.*; compact.tmp is cache.c's).
 * Not: the chunks themselves (chunk.c, object_write.c), eviction (gc.c).
 * DESIGN: a put of a large object writes its chunks in earlier txns than the one that
 * makes the object visible; until then they have no reference. Such a writer first
 * creates dir/writers/<16 random bytes hex> and holds an exclusive flock on it for its
 * life, and records each chunk it creates as "pend" token (16) + chunk id (32) ->
 * stored size (u64). Its commit (or abort) removes its entries and the file. gc
 * treats the chunks of a token whose file is not locked any more (the process died:
 * the kernel dropped the lock) as orphans at once; a killed put no longer holds space
 * for an hour. Pending bytes are not counted toward the size limit, so an upload in
 * flight (or killed) never makes gc evict live objects. A chunk with no reference and
 * no token (left by kbisect <= 440f7c9, or a writer that could not create its file)
 * still goes after ORPHAN_GRACE_S.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_internal.h"

#define STALE_TMP_S 60 /* temporary files of dead processes older than this go */

static void token_path(char *buf, size_t n, kb_cache *c, const uint8_t token[KB_TOKEN_LEN])
{
	char hex[2 * KB_TOKEN_LEN + 1];
	for (int i = 0; i < KB_TOKEN_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", token[i]);
	snprintf(buf, n, "%s/writers/%s", c->dir, hex);
}

int kb_cache__pend_register(kb_cache *c, struct kb_pend_owner *o)
{
	char path[4200];
	int fd = -1;

	if (o->registered)
		return 1;
	snprintf(path, sizeof(path), "%s/writers", c->dir);
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		return 0;
	for (int tries = 0; tries < 4 && fd < 0; tries++) {
		int rfd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (rfd < 0)
			return 0;
		if (read(rfd, o->token, KB_TOKEN_LEN) != KB_TOKEN_LEN) {
			close(rfd);
			return 0;
		}
		close(rfd);
		token_path(path, sizeof(path), c, o->token);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	}
	if (fd < 0)
		return 0;
	{
		/* a clean-up may have taken the file between open and flock: then the
		 * name is gone (or another file's) and the lock says nothing */
		struct stat a, b;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &a) != 0 ||
		    stat(path, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
			close(fd);
			return 0;
		}
	}
	o->fd = fd;
	o->registered = 1;
	return 1;
}

void kb_cache__pend_unregister(kb_cache *c, struct kb_pend_owner *o)
{
	char path[4200];

	if (!o->registered)
		return;
	token_path(path, sizeof(path), c, o->token);
	unlink(path);
	close(o->fd);
	o->fd = -1;
	o->registered = 0;
}

int kb_cache__pend_add_txn(kb_cache *c, MDB_txn *t, const struct kb_pend_owner *o,
			   const kb_key *chunk, uint64_t len)
{
	uint8_t k[KB_TOKEN_LEN + 32];
	MDB_val kv = { sizeof(k), k }, v = { sizeof(len), &len };
	int rc;

	if (!o || !o->registered || !c->have_pend)
		return 0;
	memcpy(k, o->token, KB_TOKEN_LEN);
	memcpy(k + KB_TOKEN_LEN, chunk->b, 32);
	if ((rc = kb_cache__mdb(c, mdb_put(t, c->pend, &kv, &v, 0), "cannot record a chunk")))
		return rc;
	return kb_cache__stat_add_txn(c, t, KB_ST_PEND_BYTES, (int64_t)len);
}

int kb_cache__pend_done_txn(kb_cache *c, MDB_txn *t, const uint8_t token[KB_TOKEN_LEN],
			    int drop)
{
	MDB_cursor *cur;
	MDB_val k = { KB_TOKEN_LEN, (void *)token }, v;
	kb_key *ids = NULL;
	size_t n = 0, cap = 0;
	int64_t bytes = 0;
	int rc;

	if (!c->have_pend)
		return 0;
	if ((rc = mdb_cursor_open(t, c->pend, &cur)))
		return kb_cache__mdb(c, rc, "cannot scan pending chunks");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t len = 0;
		if (k.mv_size != KB_TOKEN_LEN + 32 || memcmp(k.mv_data, token, KB_TOKEN_LEN))
			break;
		if (v.mv_size == sizeof(len))
			memcpy(&len, v.mv_data, sizeof(len));
		bytes += (int64_t)len;
		if (drop) {
			if (n == cap) {
				void *p = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof(*ids));
				if (!p) {
					mdb_cursor_close(cur);
					free(ids);
					return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS,
							     "out of memory in cache '%s'", c->dir);
				}
				ids = p;
			}
			memcpy(ids[n++].b, (uint8_t *)k.mv_data + KB_TOKEN_LEN, 32);
		}
		if ((rc = mdb_cursor_del(cur, 0)))
			break;
	}
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND) {
		free(ids);
		return kb_cache__mdb(c, rc, "cannot remove pending chunks");
	}
	rc = kb_cache__stat_add_txn(c, t, KB_ST_PEND_BYTES, -bytes);
	for (size_t i = 0; i < n && !rc; i++) {
		MDB_val ck = { 32, ids[i].b }, cv;
		struct kb_chunk_ref r;
		/* only if no object took it meanwhile (another put of the same bytes) */
		if (mdb_get(t, c->cref, &ck, &cv) == 0 && cv.mv_size == sizeof(r)) {
			memcpy(&r, cv.mv_data, sizeof(r));
			if (r.refs == 0)
				rc = kb_cache__release_chunk(c, t, ids[i].b, 1);
		}
	}
	free(ids);
	return rc;
}

/* Is the writer of token alive (its file exists and is locked)? */
static int token_alive(kb_cache *c, const uint8_t token[KB_TOKEN_LEN])
{
	char path[4200];
	int fd, alive;

	token_path(path, sizeof(path), c, token);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT; /* unreadable: assume alive */
	alive = flock(fd, LOCK_EX | LOCK_NB) != 0;
	if (!alive)
		unlink(path);
	close(fd);
	return alive;
}

int kb_cache__pend_reap_txn(kb_cache *c, MDB_txn *t)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t (*dead)[KB_TOKEN_LEN] = NULL;
	uint8_t last[KB_TOKEN_LEN];
	size_t n = 0, cap = 0;
	int rc, have_last = 0;

	if (!c->have_pend)
		return 0;
	if ((rc = mdb_cursor_open(t, c->pend, &cur)))
		return kb_cache__mdb(c, rc, "cannot scan pending chunks");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < KB_TOKEN_LEN ||
		    (have_last && !memcmp(last, k.mv_data, KB_TOKEN_LEN)))
			continue;
		memcpy(last, k.mv_data, KB_TOKEN_LEN);
		have_last = 1;
		if (token_alive(c, last))
			continue;
		if (n == cap) {
			void *p = realloc(dead, (cap = cap ? cap * 2 : 16) * sizeof(*dead));
			if (!p)
				break;
			dead = p;
		}
		memcpy(dead[n++], last, KB_TOKEN_LEN);
	}
	mdb_cursor_close(cur);
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = kb_cache__pend_done_txn(c, t, dead[i], 1);
	free(dead);
	return rc;
}

/* pid in a temporary name "<prefix><pid>.<rest>"; 0 when there is none. */
static long name_pid(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long pid;

	if (strncmp(name, prefix, n) != 0)
		return 0;
	pid = strtol(name + n, &end, 10);
	return end != name + n && *end == '.' && pid > 0 ? pid : 0;
}

void kb_cache__clean_stale_files(kb_cache *c)
{
	char path[4200];
	DIR *d;
	struct dirent *e;
	int64_t now = kb_cache__now();

	/* temporary base files of puts (dir/base/.tmp.<pid>.*, .lnk.<pid>.*) */
	snprintf(path, sizeof(path), "%s/base", c->dir);
	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			long pid = name_pid(e->d_name, ".tmp.");
			struct stat st;
			char f[4600];
			if (!pid)
				pid = name_pid(e->d_name, ".lnk.");
			if (!pid || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
				continue;
			snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
			if (lstat(f, &st) == 0 && now - (int64_t)st.st_mtime > STALE_TMP_S)
				unlink(f);
		}
		closedir(d);
	}
	/* writer files with no pending chunk (killed before its first flush) */
	snprintf(path, sizeof(path), "%s/writers", c->dir);
	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char f[4600];
			int fd;
			if (e->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
			if ((fd = open(f, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			if (flock(fd, LOCK_EX | LOCK_NB) == 0)
				unlink(f);
			close(fd);
		}
		closedir(d);
	}
}

void kb_cache__clean_stale_tmp(const char *path)
{
	char dir[4200], prefix[4200];
	const char *slash = strrchr(path, '/');
	DIR *d;
	struct dirent *e;
	int64_t now = kb_cache__now();

	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (!dir[0])
			snprintf(dir, sizeof(dir), "/");
		snprintf(prefix, sizeof(prefix), "%s.kbtmp.", slash + 1);
	} else {
		snprintf(dir, sizeof(dir), ".");
		snprintf(prefix, sizeof(prefix), "%s.kbtmp.", path);
	}
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d)) != NULL) {
		long pid = name_pid(e->d_name, prefix);
		struct stat st;
		char f[8500];
		if (!pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		if (lstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
		    now - (int64_t)st.st_mtime > STALE_TMP_S)
			unlink(f);
	}
	closedir(d);
}
