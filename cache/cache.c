/*
 * cache/cache.c - the LMDB environment of a kbisect cache.
 * Owns: opening/creating the cache directory, the format version, the named
 * databases, map growth on MDB_MAP_FULL, stale reader cleanup, the shared/exclusive
 * directory lock (kbisect.lock), persistent counters and their in-memory buffer.
 * Not: objects (object*.c), records (records.c), eviction and the limit (gc.c), stats
 * (stats.c). The bottom layer of cache/: it calls no other file of cache/ but damage.c.
 * DESIGN: every write goes through kb_cache__write(), which retries the whole txn
 * after growing the map, so callers never see MDB_MAP_FULL. Readers never write:
 * their hit/miss counts and last-use times are buffered and flushed with the next
 * write txn of the handle (or at close).
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cache_internal.h"

#define KB_MAP_INITIAL (1ull << 30)

void (*kb_cache__test_hook)(const char *point, kb_cache *c);
#define KB_MAP_MAX (1ull << 42)

static const char *const stat_names[KB_ST_MAX] = {
	[KB_ST_HIT0 + 0] = "hit:blob", [KB_ST_HIT0 + 1] = "hit:vmlinux",
	[KB_ST_HIT0 + 2] = "hit:bzimage", [KB_ST_HIT0 + 3] = "hit:config",
	[KB_ST_HIT0 + 4] = "hit:buildlog", [KB_ST_HIT0 + 5] = "hit:console",
	[KB_ST_HIT0 + 6] = "hit:vmstate", [KB_ST_HIT0 + 7] = "hit:repro",
	[KB_ST_MISS0 + 0] = "miss:blob", [KB_ST_MISS0 + 1] = "miss:vmlinux",
	[KB_ST_MISS0 + 2] = "miss:bzimage", [KB_ST_MISS0 + 3] = "miss:config",
	[KB_ST_MISS0 + 4] = "miss:buildlog", [KB_ST_MISS0 + 5] = "miss:console",
	[KB_ST_MISS0 + 6] = "miss:vmstate", [KB_ST_MISS0 + 7] = "miss:repro",
	[KB_ST_BUILD_HITS] = "build_hits", [KB_ST_BUILD_MISSES] = "build_misses",
	[KB_ST_TEST_HITS] = "test_hits", [KB_ST_TEST_MISSES] = "test_misses",
	[KB_ST_EVICTIONS] = "evictions", [KB_ST_SAVED_MS] = "build_saved_ms",
	[KB_ST_CHUNKS] = "chunks", [KB_ST_CHUNK_BYTES] = "chunk_bytes",
	[KB_ST_PEND_BYTES] = "pend_bytes", [KB_ST_RECORD_BYTES] = "record_bytes",
};

const char *kb_object_kind_name(int kind)
{
	static const char *const names[KB_OBJ_KIND_MAX] = {
		"blob", "vmlinux", "bzimage", "config", "buildlog", "console", "vmstate", "repro",
	};
	if (kind < 0 || kind >= KB_OBJ_KIND_MAX)
		return "unknown";
	return names[kind];
}

static pthread_once_t file_mode_once = PTHREAD_ONCE_INIT;
static mode_t file_mode;

/* file_mode from the umask, without changing it (umask(2) would race other threads) */
static void read_file_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned int m = 022;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Umask: %o", &m) == 1)
				break;
		fclose(f);
	}
	file_mode = (mode_t)(0666 & ~m);
}

mode_t kb_cache__file_mode(void)
{
	/* read once per process, not once per object written */
	pthread_once(&file_mode_once, read_file_mode);
	return file_mode;
}

int64_t kb_cache__now(void)
{
	return (int64_t)time(NULL);
}

int64_t kb_cache__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *kb_cache__short(char buf[16], const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key_to_hex(hex, k);
	memcpy(buf, hex, 12);
	buf[12] = '\0';
	return buf;
}

int kb_cache__oom(kb_cache *c)
{
	return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory in cache '%s'", c->dir);
}

/* Is the file system of dir (nearly) full? LMDB reports a short write (what a full
 * disk gives) as EIO; the write that fell short has used up what was left. */
static int disk_full(const char *dir)
{
	struct statvfs sv;
	return dir && statvfs(dir, &sv) == 0 &&
	       (uint64_t)sv.f_bavail * sv.f_frsize < (uint64_t)KB_CHUNK_SIZE * 4;
}

int kb_cache__mdb(kb_cache *c, int rc, const char *what)
{
	const char *dir = c ? c->dir : "?";

	if (rc == EIO && c && disk_full(c->dir))
		rc = ENOSPC;

	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
		return KB__MAPFULL;
	case MDB_NOTFOUND:
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE, "%s: not found in cache '%s'",
				     what, dir);
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_BAD_TXN:
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "%s: cache '%s' is damaged (%s); run 'kbisect cache verify', "
				     "or move the directory away to start afresh",
				     what, dir, mdb_strerror(rc));
	case MDB_VERSION_MISMATCH:
		return kb_error_setc(KB_EVERSION, KB_ERRCLASS_CACHE,
				     "%s: cache '%s' was written by another LMDB version (%s); "
				     "use the kbisect that created it", what, dir, mdb_strerror(rc));
	case MDB_READERS_FULL:
		return kb_error_setc(KB_ELOCKED, KB_ERRCLASS_CACHE,
				     "%s: too many processes read cache '%s'; retry when some exit",
				     what, dir);
	case EACCES:
	case EROFS:
		return kb_error_setc(KB_EREADONLY, KB_ERRCLASS_CACHE,
				     "%s: cache '%s' is not writable (%s); fix permissions or use "
				     "another --cache", what, dir, strerror(rc));
	case ENOSPC:
		return kb_error_setc(KB_EFULL, KB_ERRCLASS_CACHE,
				     "%s: no space left on the disk of cache '%s'; nothing was "
				     "stored: free disk space, or set a limit with 'kbisect cache "
				     "gc --limit'", what, dir);
	}
	return kb_error_set(KB_ERRCLASS_CACHE, "%s: cache '%s': %s", what, dir, mdb_strerror(rc));
}

int kb_cache__rtxn(kb_cache *c, MDB_txn **out)
{
	int rc;

	pthread_rwlock_rdlock(&c->txn_lock);
	for (int i = 0; i < 3; i++) {
		rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, out);
		if (rc == MDB_READERS_FULL) {
			int dead = 0;
			/* slots of killed processes: clear them and retry */
			if (mdb_reader_check(c->env, &dead) == 0 && dead > 0)
				continue;
			break;
		}
		if (rc != MDB_MAP_RESIZED)
			break;
		pthread_rwlock_unlock(&c->txn_lock);
		pthread_rwlock_wrlock(&c->txn_lock);
		mdb_env_set_mapsize(c->env, 0);
		pthread_rwlock_unlock(&c->txn_lock);
		pthread_rwlock_rdlock(&c->txn_lock);
	}
	if (rc) {
		pthread_rwlock_unlock(&c->txn_lock);
		return kb_cache__mdb(c, rc, "cannot start a read transaction");
	}
	kb_cache__guard_enter(c);
	return 0;
}

void kb_cache__txn_end(kb_cache *c, MDB_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t);
	kb_cache__guard_leave();
	pthread_rwlock_unlock(&c->txn_lock);
}

/* The map size this handle uses now. */
static size_t map_size(kb_cache *c)
{
	MDB_envinfo info;
	return mdb_env_info(c->env, &info) == 0 ? info.me_mapsize : 0;
}

/* Double the map after a txn begun with map size seen ran out of room. Threads whose
 * txns failed together each call this: only the first doubles, the others find the
 * map grown already (without the check, 20 uploads at once made it 2^20 times larger
 * and reach KB_MAP_MAX on a cache with no limit). */
static int grow_map(kb_cache *c, size_t seen)
{
	MDB_envinfo info;
	size_t want;
	int rc;

	pthread_rwlock_wrlock(&c->txn_lock);
	mdb_env_info(c->env, &info);
	if (info.me_mapsize > seen) {
		pthread_rwlock_unlock(&c->txn_lock);
		return 0;
	}
	want = seen * 2;
	if (want > KB_MAP_MAX) {
		pthread_rwlock_unlock(&c->txn_lock);
		return kb_error_setc(KB_EFULL, KB_ERRCLASS_CACHE,
				     "cache '%s' reached its maximum map size (%llu GiB); run "
				     "'kbisect cache gc' or set a limit", c->dir,
				     (unsigned long long)(KB_MAP_MAX >> 30));
	}
	rc = mdb_env_set_mapsize(c->env, want);
	pthread_rwlock_unlock(&c->txn_lock);
	if (rc)
		return kb_cache__mdb(c, rc, "cannot grow the map");
	return 0;
}

uint64_t kb_cache__meta_u64(kb_cache *c, MDB_txn *t, const char *name)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	uint64_t x = 0;

	if (mdb_get(t, c->meta, &k, &v) == 0 && v.mv_size == sizeof(x))
		memcpy(&x, v.mv_data, sizeof(x));
	return x;
}

int kb_cache__meta_put_u64(kb_cache *c, MDB_txn *t, const char *name, uint64_t x)
{
	MDB_val k = { strlen(name), (void *)name }, v = { sizeof(x), &x };
	return kb_cache__mdb(c, mdb_put(t, c->meta, &k, &v, 0), "cannot write cache metadata");
}

int kb_cache__stat_add_txn(kb_cache *c, MDB_txn *t, int stat, int64_t delta)
{
	char name[64];
	uint64_t v;

	if (!delta)
		return 0;
	snprintf(name, sizeof(name), "stat:%s", stat_names[stat]);
	v = kb_cache__meta_u64(c, t, name);
	if (delta < 0 && (uint64_t)-delta > v)
		v = 0;
	else
		v += (uint64_t)delta;
	return kb_cache__meta_put_u64(c, t, name, v);
}

uint64_t kb_cache__stat_get(kb_cache *c, MDB_txn *t, int stat)
{
	char name[64];
	int64_t pend;

	snprintf(name, sizeof(name), "stat:%s", stat_names[stat]);
	pthread_mutex_lock(&c->pend_lock);
	pend = c->pend_stat[stat];
	pthread_mutex_unlock(&c->pend_lock);
	return kb_cache__meta_u64(c, t, name) + (uint64_t)pend;
}

void kb_cache__stat_add(kb_cache *c, int stat, int64_t delta)
{
	if (c->flags & KB_CACHE_RDONLY)
		return; /* could never be written */
	pthread_mutex_lock(&c->pend_lock);
	c->pend_stat[stat] += delta;
	pthread_mutex_unlock(&c->pend_lock);
}

void kb_cache__touch(kb_cache *c, const kb_key *id)
{
	int64_t now = kb_cache__now_ns();

	if (c->flags & KB_CACHE_RDONLY)
		return;
	pthread_mutex_lock(&c->pend_lock);
	for (size_t i = 0; i < c->n_pend_atime; i++) {
		if (kb_key_equal(&c->pend_atime[i].id, id)) {
			c->pend_atime[i].t = now;
			pthread_mutex_unlock(&c->pend_lock);
			return;
		}
	}
	if (c->n_pend_atime == c->cap_pend_atime) {
		size_t cap = c->cap_pend_atime ? c->cap_pend_atime * 2 : 16;
		void *p = realloc(c->pend_atime, cap * sizeof(*c->pend_atime));
		if (!p) {
			pthread_mutex_unlock(&c->pend_lock);
			return; /* last-use times are advisory */
		}
		c->pend_atime = p;
		c->cap_pend_atime = cap;
	}
	c->pend_atime[c->n_pend_atime].id = *id;
	c->pend_atime[c->n_pend_atime].t = now;
	c->n_pend_atime++;
	pthread_mutex_unlock(&c->pend_lock);
}

/* Pending counters and last-use times taken out of the handle for one txn. If the
 * txn does not commit they are put back, so no flush counts anything twice. */
struct pend_take {
	int64_t stat[KB_ST_MAX];
	struct kb_atime_pend *atime;
	size_t n_atime;
};

static void pending_take(kb_cache *c, struct pend_take *p)
{
	pthread_mutex_lock(&c->pend_lock);
	memcpy(p->stat, c->pend_stat, sizeof(p->stat));
	memset(c->pend_stat, 0, sizeof(c->pend_stat));
	p->atime = c->pend_atime;
	p->n_atime = c->n_pend_atime;
	c->pend_atime = NULL;
	c->n_pend_atime = c->cap_pend_atime = 0;
	c->last_flush = kb_cache__now();
	pthread_mutex_unlock(&c->pend_lock);
}

static void pending_put_back(kb_cache *c, struct pend_take *p)
{
	pthread_mutex_lock(&c->pend_lock);
	for (int i = 0; i < KB_ST_MAX; i++)
		c->pend_stat[i] += p->stat[i];
	pthread_mutex_unlock(&c->pend_lock);
	for (size_t i = 0; i < p->n_atime; i++) /* advisory: newer touches win */
		kb_cache__touch(c, &p->atime[i].id);
	free(p->atime);
	p->atime = NULL;
	p->n_atime = 0;
}

/* Write taken counters and last-use times into t. */
static int pending_write(kb_cache *c, MDB_txn *t, const struct pend_take *p)
{
	int rc;

	for (int i = 0; i < KB_ST_MAX; i++)
		if ((rc = kb_cache__stat_add_txn(c, t, i, p->stat[i])))
			return rc;
	for (size_t i = 0; i < p->n_atime; i++) {
		MDB_val k = { 32, (void *)p->atime[i].id.b }, v, old;
		if (mdb_get(t, c->obj, &k, &old))
			continue; /* evicted meanwhile */
		v.mv_size = sizeof(p->atime[i].t);
		v.mv_data = (void *)&p->atime[i].t;
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0), "cannot record use")))
			return rc;
	}
	return 0;
}

int kb_cache__write(kb_cache *c, int (*fn)(kb_cache *c, MDB_txn *t, void *arg), void *arg)
{
	if (c->flags & KB_CACHE_RDONLY)
		return kb_error_setc(KB_EREADONLY, KB_ERRCLASS_CACHE,
				     "cache '%s' was opened read-only; open it without "
				     "KB_CACHE_RDONLY to change it", c->dir);
	for (int attempt = 0; attempt < 40; attempt++) {
		MDB_txn *t = NULL;
		struct pend_take p;
		size_t seen;
		int rc;

		pthread_rwlock_rdlock(&c->txn_lock);
		rc = mdb_txn_begin(c->env, NULL, 0, &t);
		if (rc == MDB_MAP_RESIZED) {
			pthread_rwlock_unlock(&c->txn_lock);
			pthread_rwlock_wrlock(&c->txn_lock);
			mdb_env_set_mapsize(c->env, 0);
			pthread_rwlock_unlock(&c->txn_lock);
			continue;
		}
		if (rc) {
			pthread_rwlock_unlock(&c->txn_lock);
			return kb_cache__mdb(c, rc, "cannot start a write transaction");
		}
		seen = map_size(c);
		pending_take(c, &p);
		kb_cache__guard_enter(c);
		rc = fn ? fn(c, t, arg) : 0;
		if (!rc)
			rc = pending_write(c, t, &p);
		if (rc) {
			mdb_txn_abort(t);
			kb_cache__guard_leave();
			pthread_rwlock_unlock(&c->txn_lock);
			pending_put_back(c, &p);
			if (rc != KB__MAPFULL)
				return rc;
			if ((rc = grow_map(c, seen)))
				return rc;
			continue;
		}
		rc = mdb_txn_commit(t);
		kb_cache__guard_leave();
		pthread_rwlock_unlock(&c->txn_lock);
		if (rc) {
			pending_put_back(c, &p);
			if (rc == MDB_MAP_FULL) {
				if ((rc = grow_map(c, seen)))
					return rc;
				continue;
			}
			return kb_cache__mdb(c, rc, "cannot commit to the cache");
		}
		free(p.atime);
		return 0;
	}
	return kb_error_set(KB_ERRCLASS_CACHE, "cache '%s': the map kept filling up while "
			    "writing; run 'kbisect cache gc' and retry", c->dir);
}

void kb_cache__maybe_flush(kb_cache *c)
{
	int due;

	if (c->flags & KB_CACHE_RDONLY)
		return;
	pthread_mutex_lock(&c->pend_lock);
	due = c->n_pend_atime >= 1000 || kb_cache__now() - c->last_flush >= 30;
	pthread_mutex_unlock(&c->pend_lock);
	if (due && kb_cache__write(c, NULL, NULL))
		kb_error_clear(); /* counters are advisory */
}

static int open_dbis(kb_cache *c, MDB_txn *t, unsigned int flags)
{
	static const struct { const char *name; size_t off; } dbs[] = {
		{ "meta", offsetof(kb_cache, meta) },   { "obj", offsetof(kb_cache, obj) },
		{ "atime", offsetof(kb_cache, atime) }, { "chunk", offsetof(kb_cache, chunk) },
		{ "cref", offsetof(kb_cache, cref) },   { "dep", offsetof(kb_cache, dep) },
		{ "build", offsetof(kb_cache, build) }, { "bysig", offsetof(kb_cache, bysig) },
		{ "test", offsetof(kb_cache, test) },   { "ref", offsetof(kb_cache, ref) },
		{ "pend", offsetof(kb_cache, pend) },
	};
	c->have_pend = 0;
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		MDB_dbi *d = (MDB_dbi *)((char *)c + dbs[i].off);
		int rc = mdb_dbi_open(t, dbs[i].name, flags, d);
		if (rc == MDB_NOTFOUND && !strcmp(dbs[i].name, "pend"))
			continue; /* added after format 1: missing in a read-only old cache */
		if (!rc && !strcmp(dbs[i].name, "pend"))
			c->have_pend = 1;
		if (rc == MDB_NOTFOUND)
			return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					     "cache '%s' has no '%s' table: it is not a kbisect cache "
					     "or is damaged; move it away and retry", c->dir,
					     dbs[i].name);
		if (rc == MDB_INCOMPATIBLE)
			return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					     "cache '%s': table '%s' has the wrong layout: not a "
					     "kbisect cache; move it away and retry", c->dir,
					     dbs[i].name);
		if (rc)
			return kb_cache__mdb(c, rc, "cannot open the cache tables");
	}
	return 0;
}

static int init_tables(kb_cache *c, MDB_txn *t, void *arg)
{
	MDB_val k = { 6, "format" }, v;
	uint32_t fmt = KB_CACHE_FORMAT;
	int rc;

	(void)arg;
	if ((rc = open_dbis(c, t, MDB_CREATE)))
		return rc;
	if (mdb_get(t, c->meta, &k, &v) == MDB_NOTFOUND) {
		v.mv_size = sizeof(fmt);
		v.mv_data = &fmt;
		return kb_cache__mdb(c, mdb_put(t, c->meta, &k, &v, 0), "cannot initialise cache");
	}
	return 0;
}

static int check_format(kb_cache *c)
{
	MDB_txn *t;
	MDB_val k = { 6, "format" }, v;
	uint32_t fmt = 0;
	int rc;

	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	rc = mdb_get(t, c->meta, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(fmt))
		memcpy(&fmt, v.mv_data, sizeof(fmt));
	kb_cache__txn_end(c, t);
	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != sizeof(fmt)))
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "cache '%s' has no format version: not a kbisect cache; "
				     "move it away and retry", c->dir);
	if (rc)
		return kb_cache__mdb(c, rc, "cannot read the format version");
	if (fmt > KB_CACHE_FORMAT)
		return kb_error_setc(KB_EVERSION, KB_ERRCLASS_CACHE,
				     "cache '%s' has format %u, newer than this kbisect (%u); "
				     "upgrade kbisect or use another --cache", c->dir, fmt,
				     KB_CACHE_FORMAT);
	return 0;
}

/* Create c->env with the guard, the table and reader counts, and mapsize. */
static int env_create(kb_cache *c, size_t mapsize)
{
	int rc;

	if ((rc = mdb_env_create(&c->env)))
		return kb_cache__mdb(c, rc, "cannot create the LMDB environment");
	kb_cache__guard_install(c);
	mdb_env_set_maxdbs(c->env, 16);
	mdb_env_set_maxreaders(c->env, 256);
	mdb_env_set_mapsize(c->env, mapsize);
	return 0;
}

/* Open the LMDB env and the tables of c (c->dir, c->flags set). */
static int env_open(kb_cache *c)
{
	/* NOMETASYNC: a system crash may lose the last commit, never consistency (a
	 * process crash loses nothing); saves one fsync per put */
	unsigned int ef = MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC;
	const char *nosync = getenv("KBISECT_CACHE_NOSYNC");
	int rc, dead = 0, fresh;
	struct stat fst;
	char fpath[4200];

	/* KBISECT_CACHE_NOSYNC=1: no fsync at all (throw-away caches, CI); a system crash
	 * may then damage the store, a process crash still cannot */
	if (nosync && !strcmp(nosync, "1"))
		ef |= MDB_NOSYNC;

	snprintf(fpath, sizeof(fpath), "%s/data.mdb", c->dir);
	fresh = stat(fpath, &fst) != 0 || fst.st_size == 0;
	{
		/* KBISECT_CACHE_MAPSIZE: initial map size for tests of map growth */
		const char *m = getenv("KBISECT_CACHE_MAPSIZE");
		unsigned long long sz = m && *m ? strtoull(m, NULL, 10) : 0;
		if ((rc = env_create(c, sz >= 65536 ? (size_t)sz : KB_MAP_INITIAL)))
			return rc;
	}
	if (c->flags & KB_CACHE_RDONLY)
		ef |= MDB_RDONLY;
	/* 0666 less the umask: a group (umask 002) can share the cache */
	rc = mdb_env_open(c->env, c->dir, ef, 0666);
	if ((rc == EACCES || rc == EROFS) && (c->flags & KB_CACHE_RDONLY)) {
		/* a reader that may not write lock.mdb (another user's cache, a read-only
		 * mount): read without LMDB's reader table. The owner may then reuse pages
		 * under a read; the checksums turn that into an error, never into bytes */
		mdb_env_close(c->env);
		if ((rc = env_create(c, KB_MAP_INITIAL)))
			return rc;
		rc = mdb_env_open(c->env, c->dir, ef | MDB_NOLOCK, 0666);
	}
	if (rc) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/data.mdb", c->dir);
		mdb_env_close(c->env);
		c->env = NULL;
		if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH)
			return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					     "'%s' is not a valid LMDB file (%s); move the cache "
					     "directory away (or delete it) and retry", path,
					     mdb_strerror(rc));
		if (rc == ENOENT)
			return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
					     "no cache in '%s'; create one with 'kbisect cache put' "
					     "or pass an existing --cache", c->dir);
		return kb_cache__mdb(c, rc, "cannot open the cache");
	}
	{
		/* a data.mdb cut short (disk full, a bad copy) would make LMDB fault on
		 * pages past its end: refuse it */
		MDB_envinfo info;
		MDB_stat est;
		struct stat st;
		char path[4200];
		snprintf(path, sizeof(path), "%s/data.mdb", c->dir);
		if (mdb_env_info(c->env, &info) == 0 && mdb_env_stat(c->env, &est) == 0 &&
		    stat(path, &st) == 0 &&
		    (uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * est.ms_psize) {
			mdb_env_close(c->env);
			c->env = NULL;
			return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					     "'%s' is truncated (%llu bytes, needs %llu); move the "
					     "cache directory away and retry", path,
					     (unsigned long long)st.st_size,
					     (unsigned long long)(info.me_last_pgno + 1) * est.ms_psize);
		}
	}
	if (!(c->flags & KB_CACHE_RDONLY))
		mdb_reader_check(c->env, &dead);
	if (c->flags & KB_CACHE_RDONLY) {
		MDB_txn *t;
		if ((rc = kb_cache__rtxn(c, &t)))
			return rc;
		rc = open_dbis(c, t, 0);
		/* handles opened in a txn survive only if it commits */
		if (!rc && (rc = mdb_txn_commit(t)) != 0)
			rc = kb_cache__mdb(c, rc, "cannot open the cache tables");
		else if (rc)
			mdb_txn_abort(t);
		kb_cache__guard_leave();
		pthread_rwlock_unlock(&c->txn_lock);
		if (rc)
			return rc;
	} else {
		/* The tables of a new data.mdb are not worth an fsync of their own (a
		 * journal commit, 10-80 ms on a busy disk): the first synced commit (the
		 * put that created the cache) makes them durable with its data. A system
		 * crash before that leaves an empty data.mdb or one without tables, never
		 * a lost object. */
		int lazy = fresh && !(ef & MDB_NOSYNC);
		if (lazy)
			mdb_env_set_flags(c->env, MDB_NOSYNC, 1);
		rc = kb_cache__write(c, init_tables, NULL);
		if (lazy)
			mdb_env_set_flags(c->env, MDB_NOSYNC, 0);
		if (rc)
			return rc;
	}
	return check_format(c);
}

int kb_cache_open(kb_cache **out, const char *dir, unsigned int flags)
{
	kb_cache *c;
	char path[4200];
	struct stat st;
	int rc;

	*out = NULL;
	if (!dir || !*dir)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
				     "no cache directory given; pass --cache DIR or set "
				     "KBISECT_CACHE");
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || !(flags & KB_CACHE_CREATE))
			return errno == ENOENT
				? kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
						"no cache directory '%s'; check --cache or "
						"KBISECT_CACHE", dir)
				: kb_error_os("cannot access cache directory '%s'", dir);
		/* mkdir -p */
		snprintf(path, sizeof(path), "%s", dir);
		for (char *p = path + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(path, 0777) != 0 && errno != EEXIST)
				return kb_error_os("cannot create directory '%s'", path);
			*p = '/';
		}
		if (mkdir(path, 0777) != 0 && errno != EEXIST)
			return kb_error_os("cannot create cache directory '%s'", dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
				     "cache path '%s' is not a directory; pass a directory to "
				     "--cache", dir);
	}
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (!(flags & KB_CACHE_CREATE) && access(path, F_OK) != 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "no cache in '%s' (no data.mdb); put something first or pass "
				     "an existing --cache", dir);

	c = calloc(1, sizeof(*c));
	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory opening cache '%s'",
				     dir);
	}
	c->flags = flags;
	c->lockfd = -1;
	c->last_flush = kb_cache__now();
	pthread_rwlock_init(&c->txn_lock, NULL);
	pthread_mutex_init(&c->pend_lock, NULL);

	snprintf(path, sizeof(path), "%s/kbisect.lock", dir);
	c->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (c->lockfd < 0 && (flags & KB_CACHE_RDONLY))
		c->lockfd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->lockfd >= 0 && flock(c->lockfd, LOCK_SH) != 0) {
		rc = kb_error_os("cannot lock '%s'", path);
		kb_cache_free(c);
		return rc;
	}
	if (c->lockfd >= 0 && !(flags & KB_CACHE_RDONLY)) {
		/* compact writes compact.tmp holding the lock exclusively: with our shared
		 * lock, one found there is what a killed compact left (often as large as
		 * the cache) */
		char tmp[4200];
		snprintf(path, sizeof(path), "%s/compact.tmp/data.mdb", dir);
		snprintf(tmp, sizeof(tmp), "%s/compact.tmp", dir);
		if (unlink(path) == 0 || errno != ENOENT || access(tmp, F_OK) == 0)
			rmdir(tmp);
	}
	if ((rc = env_open(c))) {
		kb_cache_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

const char *kb_cache_dir(const kb_cache *c)
{
	return c->dir;
}

void kb_cache_free(kb_cache *c)
{
	if (!c)
		return;
	if (c->env) {
		int pending = c->n_pend_atime > 0;
		for (int i = 0; i < KB_ST_MAX; i++)
			pending |= c->pend_stat[i] != 0;
		if (pending && !(c->flags & KB_CACHE_RDONLY)) {
			/* counters and last-use times only: not worth an fsync; the next
			 * synced commit of anyone makes them durable */
			mdb_env_set_flags(c->env, MDB_NOSYNC, 1);
			kb_cache__write(c, NULL, NULL); /* best effort */
		}
		mdb_env_close(c->env);
	}
	if (c->lockfd >= 0)
		close(c->lockfd);
	pthread_rwlock_destroy(&c->txn_lock);
	pthread_mutex_destroy(&c->pend_lock);
	free(c->pend_atime);
	free(c->dir);
	free(c);
}

/* Swap in a compacted copy of data.mdb. Needs the exclusive directory lock. */
int kb_cache_compact(kb_cache *c, uint64_t *before, uint64_t *after)
{
	char tmp[4200], src[4200], dst[4200];
	struct stat st;
	int rc;

	if (c->flags & KB_CACHE_RDONLY)
		return kb_error_setc(KB_EREADONLY, KB_ERRCLASS_CACHE,
				     "cannot compact cache '%s' opened read-only", c->dir);
	if (c->lockfd < 0 || flock(c->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (c->lockfd >= 0)
			flock(c->lockfd, LOCK_SH);
		return kb_error_setc(KB_ELOCKED, KB_ERRCLASS_CACHE,
				     "cache '%s' is in use by another process; stop it and retry "
				     "'kbisect cache compact'", c->dir);
	}
	kb_cache__write(c, NULL, NULL); /* flush pending counters */
	snprintf(dst, sizeof(dst), "%s/data.mdb", c->dir);
	if (before)
		*before = stat(dst, &st) == 0 ? (uint64_t)st.st_size : 0;
	snprintf(tmp, sizeof(tmp), "%s/compact.tmp", c->dir);
	snprintf(src, sizeof(src), "%s/compact.tmp/data.mdb", c->dir);
	unlink(src);
	if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
		rc = kb_error_os("cannot create '%s'", tmp);
		goto out;
	}
	kb_cache__guard_enter(c); /* the copy reads every page */
	rc = mdb_env_copy2(c->env, tmp, MDB_CP_COMPACT);
	kb_cache__guard_leave();
	if (rc) {
		rc = kb_cache__mdb(c, rc, "cannot write the compacted copy");
		unlink(src);
		rmdir(tmp);
		goto out;
	}
	mdb_env_close(c->env);
	c->env = NULL;
	c->map_addr = NULL;
	if (rename(src, dst) != 0) {
		rc = kb_error_os("cannot move '%s' over '%s'", src, dst);
		unlink(src);
	}
	rmdir(tmp);
	if (env_open(c) && !rc)
		rc = KB_ERROR;
	if (after)
		*after = stat(dst, &st) == 0 ? (uint64_t)st.st_size : 0;
out:
	flock(c->lockfd, LOCK_SH);
	return rc;
}
