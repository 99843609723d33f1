/*
 * cache/recover.c - checking and salvaging a cache whose data.mdb may be damaged.
 * Owns: kb_cache_verify_isolated() (verify that survives what it checks) and
 * kb_cache_recover() (copy what is readable into a new store, swap it in).
 * Not: the checks themselves (verify.c), the fault guard (damage.c).
 * DESIGN: a damaged page can make LMDB fault (damage.c), which no process survives.
 * So the reads run in a child process that reports each entry before it touches it
 * ("AT <phase> <key hex>") and each finding; the parent runs children until one gets
 * to the end. When a child dies, the entry it was at is reported damaged and the next
 * child starts after it. A child that dies twice at the same place (the cursor itself
 * cannot pass a bad branch page) makes the next one skip ahead in key order (ids are
 * SHA-256: skipping 1/65536, then 1/256 of the key space loses little). The parent
 * never opens the damaged store. Recover copies objects through the normal reader
 * (chunk checksums + SHA-256, so only whole objects are copied) and writer (the id is
 * checked again), records and references as they are; the new store is verified
 * before it replaces the old file, which is kept as damaged-<time>.mdb.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache_internal.h"
#include "kbisect/util.h"

#define MAXKEY 64
#define LINE_MAX_LEN 2048

/* What a child does and where it starts. */
struct job {
	const char *dir;         /* the (maybe damaged) cache */
	const char *dest;        /* recover: the new store */
	int recover;             /* 0: verify, 1: recover */
	int phase;               /* first phase to run */
	uint8_t after[MAXKEY];   /* start after this key in that phase */
	size_t after_len;
	int has_after;
	int fd;                  /* the child's report pipe */
};

/* What the parent gathers. */
struct tally {
	uint64_t bad;            /* verify: damaged entries; recover: entries lost */
	uint64_t copied_objects, lost_objects, copied_entries, lost_entries;
	uint64_t total_objects;  /* objects the damaged store says it has */
	void (*fn)(const char *what, const char *why, void *arg);
	void *arg;
	char err[1024];          /* a child's error (not a fault) */
};

/* Phases of recover after the objects: tables copied entry by entry. */
static const char *const rec_tables[] = { "build", "bysig", "test", "ref", "meta" };
#define N_REC_TABLES (sizeof(rec_tables) / sizeof(rec_tables[0]))

static void hex_of(char *out, const uint8_t *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
	out[2 * n] = '\0';
}

static size_t unhex(uint8_t *out, size_t cap, const char *s)
{
	size_t n = 0;
	while (s[0] && s[1] && n < cap) {
		unsigned int b;
		if (sscanf(s, "%2x", &b) != 1)
			break;
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return n;
}

/* Append field f to line at *n, tabs and newlines in it blanked. */
static void field(char *line, size_t cap, size_t *n, const char *f)
{
	for (; f && *f && *n < cap; f++)
		line[(*n)++] = (*f == '\t' || *f == '\n') ? ' ' : *f;
}

/* Write one report line "a\tb\tc\n". */
static void say(int fd, const char *a, const char *b, const char *c)
{
	char line[LINE_MAX_LEN];
	size_t n = 0, cap = sizeof(line) - 3;

	field(line, cap, &n, a);
	line[n++] = '\t';
	field(line, cap, &n, b);
	line[n++] = '\t';
	field(line, cap, &n, c);
	line[n++] = '\n';
	if (write(fd, line, n) < 0) {
		/* the parent is gone */
	}
}

static void say_at(struct job *j, const char *phase, const uint8_t *k, size_t n)
{
	char hex[2 * MAXKEY + 1];
	hex_of(hex, k, n > MAXKEY ? MAXKEY : n);
	say(j->fd, "AT", phase, hex);
}

/* memcmp order of byte strings, shorter first on a tie (LMDB's default). */
static int key_cmp(const void *a, size_t na, const void *b, size_t nb)
{
	int d = memcmp(a, b, na < nb ? na : nb);
	return d ? d : (na > nb) - (na < nb);
}

/* The next key of dbi after (after_len bytes; none: the first), into out. 0, or
 * MDB_NOTFOUND at the end. */
static int next_key(kb_cache *c, MDB_dbi dbi, const uint8_t *after, size_t after_len,
		    int has_after, uint8_t *out, size_t *out_len)
{
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k = { after_len, (void *)after }, v;
	int rc;

	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if ((rc = mdb_cursor_open(t, dbi, &cur)) == 0) {
		if (!has_after) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		} else {
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && k.mv_size == after_len && !memcmp(k.mv_data, after, after_len))
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		while (rc == 0 && k.mv_size > MAXKEY) /* not ours: skip */
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		if (rc == 0 && has_after && key_cmp(k.mv_data, k.mv_size, after, after_len) <= 0)
			rc = MDB_CORRUPTED; /* out of order: a damaged branch page (a loop) */
		if (rc == 0) {
			memcpy(out, k.mv_data, k.mv_size);
			*out_len = k.mv_size;
		}
		mdb_cursor_close(cur);
	}
	kb_cache__txn_end(c, t);
	return rc;
}

/* In a child: LMDB said the page it needed is bad (MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
 * a malformed entry): handled like a fault. */
static void damaged_here(struct job *j, int rc)
{
	say(j->fd, "FAULT", "lmdb", rc < 0 && rc > -100 ? "damaged entry" : mdb_strerror(rc));
	_exit(KB_GUARD_EXIT);
}

static void report_line(const char *what, const char *why, void *arg)
{
	struct job *j = arg;
	say(j->fd, "BAD", what, why);
}

/* verify, in the child: objects (phase 0), then references and records (phase 1). */
static int verify_child(struct job *j)
{
	kb_cache *c;
	uint8_t key[MAXKEY];
	size_t klen = j->after_len;
	int has = j->has_after, rc = 0;
	void *buf = malloc(4u << 20);

	if (!buf || (rc = kb_cache_open(&c, j->dir, KB_CACHE_RDONLY))) {
		if (rc && kb_error_last()->message)
			say(j->fd, "ERR", kb_error_last()->message, "");
		free(buf);
		if (rc == KB_ECORRUPT)
			_exit(2); /* LMDB's own tables are damaged: nothing can be read */
		return rc ? rc : KB_ERROR;
	}
	memcpy(key, j->after, klen);
	if (j->phase == 0) {
		char why[1024];
		for (;;) {
			kb_key id;
			rc = next_key(c, c->obj, key, klen, has, key, &klen);
			if (rc)
				break;
			has = 1;
			if (klen != 32)
				continue;
			say_at(j, "obj", key, klen);
			memcpy(id.b, key, 32);
			{
				char what[96], hex[65];
				hex_of(hex, key, 32);
				if (kb_cache__verify_object(c, &id, buf, why, sizeof(why))) {
					snprintf(what, sizeof(what), "object %s", hex);
					say(j->fd, "BAD", what, why);
				}
				say(j->fd, "DONE", "obj", hex);
			}
		}
		if (rc != MDB_NOTFOUND && rc != KB_ENOTFOUND)
			damaged_here(j, rc);
		rc = 0;
	}
	{
		uint64_t bad = 0;
		say(j->fd, "AT", "tables", "");
		rc = kb_cache__verify_tables(c, &bad, report_line, j);
		if (rc == KB_ECORRUPT) {
			say(j->fd, "BAD", "reference counts and records",
			    kb_error_last()->message ? kb_error_last()->message : "damaged");
			rc = 0;
		}
	}
	kb_cache_free(c);
	free(buf);
	if (rc && rc != MDB_NOTFOUND && kb_error_last()->message)
		say(j->fd, "ERR", kb_error_last()->message, "");
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* recover, in the child: one object from src to dst (0 copied, 1 lost + why). */
static int copy_object(kb_cache *src, kb_cache *dst, const kb_key *id, void *buf, char *why,
		       size_t cap)
{
	kb_object_info info;
	kb_cache_reader *r = NULL;
	kb_cache_writer *w = NULL;
	kb_put_opts po;
	ssize_t n;
	int rc;

	if (kb_cache_has(dst, id))
		return 0;
	if ((rc = kb_cache_object_info(&info, src, id)))
		goto lost;
	memset(&po, 0, sizeof(po));
	po.kind = info.kind;
	po.pin = info.pinned;
	if ((rc = kb_cache__reader_open(&r, NULL, src, id, 0)) ||
	    (rc = kb_cache_writer_open(&w, dst, &po)))
		goto lost;
	while ((n = kb_cache_reader_read(r, buf, 4u << 20)) > 0)
		if ((rc = kb_cache_writer_write(w, buf, (size_t)n)))
			goto lost;
	if (n < 0) {
		rc = (int)n;
		goto lost;
	}
	kb_cache_reader_free(r);
	rc = kb_cache_writer_commit(NULL, w, id);
	w = NULL;
	if (rc)
		return -1; /* the new store failed: not the object's fault */
	return 0;
lost:
	snprintf(why, cap, "%s", kb_error_last()->message ? kb_error_last()->message : "unreadable");
	kb_cache_reader_free(r);
	kb_cache_writer_abort(w);
	return 1;
}

struct put_raw {
	MDB_dbi dbi;
	MDB_val k, v;
};

static int put_raw_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct put_raw *p = arg;
	(void)c;
	return kb_cache__mdb(c, mdb_put(t, p->dbi, &p->k, &p->v, 0), "cannot copy an entry");
}

static MDB_dbi table_dbi(kb_cache *c, const char *name)
{
	if (!strcmp(name, "build"))
		return c->build;
	if (!strcmp(name, "bysig"))
		return c->bysig;
	if (!strcmp(name, "test"))
		return c->test;
	if (!strcmp(name, "ref"))
		return c->ref;
	return c->meta;
}

/* Copy entry key of table (phase >= 1) from src to dst; 1 when it was not readable. */
static int copy_entry(kb_cache *src, kb_cache *dst, const char *table, const uint8_t *key,
		      size_t klen)
{
	MDB_txn *t;
	struct put_raw p;
	MDB_val k = { klen, (void *)key }, v;
	void *copy = NULL;
	int rc;

	if (!strcmp(table, "meta") && !(klen == 5 && !memcmp(key, "limit", 5)))
		return 2; /* counters and bases belong to the new store */
	if ((rc = kb_cache__rtxn(src, &t)))
		return 1;
	rc = mdb_get(t, table_dbi(src, table), &k, &v);
	if (rc == 0 && (copy = malloc(v.mv_size + 1)))
		memcpy(copy, v.mv_data, v.mv_size);
	kb_cache__txn_end(src, t);
	if (rc || !copy)
		return 1;
	if (!strcmp(table, "ref") && v.mv_size == 32) {
		kb_key id;
		memcpy(id.b, copy, 32);
		if (!kb_cache_has(dst, &id)) {
			free(copy);
			return 2; /* its object was lost: a reference to nothing */
		}
	}
	p.dbi = table_dbi(dst, table);
	p.k.mv_size = klen;
	p.k.mv_data = (void *)key;
	p.v.mv_size = v.mv_size;
	p.v.mv_data = copy;
	rc = kb_cache__write(dst, put_raw_fn, &p);
	free(copy);
	return rc ? -1 : 0;
}

static int recover_child(struct job *j)
{
	kb_cache *src = NULL, *dst = NULL;
	uint8_t key[MAXKEY];
	size_t klen = j->after_len;
	int has = j->has_after, rc;
	void *buf = malloc(4u << 20);
	char why[1024], hex[2 * MAXKEY + 1];

	if (!buf)
		return KB_ERROR;
	if ((rc = kb_cache_open(&src, j->dir, KB_CACHE_RDONLY))) {
		if (rc == KB_ECORRUPT) {
			say(j->fd, "ERR", kb_error_last()->message ? kb_error_last()->message : "", "");
			_exit(2); /* LMDB's own tables are damaged: nothing can be read */
		}
		goto out;
	}
	if ((rc = kb_cache_open(&dst, j->dest, KB_CACHE_CREATE)))
		goto out;
	memcpy(key, j->after, klen);
	if (j->phase == 0 && !j->has_after) {
		/* how many objects there should be, for the count of those lost */
		MDB_txn *t;
		MDB_stat ms;
		if (kb_cache__rtxn(src, &t) == 0) {
			char n[32];
			if (mdb_stat(t, src->obj, &ms) == 0) {
				snprintf(n, sizeof(n), "%zu", ms.ms_entries);
				say(j->fd, "TOTAL", "obj", n);
			}
			kb_cache__txn_end(src, t);
		}
	}
	for (int phase = j->phase; phase <= (int)N_REC_TABLES; phase++) {
		const char *name = phase == 0 ? "obj" : rec_tables[phase - 1];
		MDB_dbi dbi = phase == 0 ? src->obj : table_dbi(src, name);
		if (phase != j->phase) {
			has = 0;
			klen = 0;
		}
		for (;;) {
			int r;
			rc = next_key(src, dbi, key, klen, has, key, &klen);
			if (rc)
				break;
			has = 1;
			say_at(j, name, key, klen);
			hex_of(hex, key, klen);
			if (phase == 0) {
				kb_key id;
				if (klen != 32)
					continue;
				memcpy(id.b, key, 32);
				r = copy_object(src, dst, &id, buf, why, sizeof(why));
			} else {
				r = copy_entry(src, dst, name, key, klen);
				snprintf(why, sizeof(why), "not readable");
			}
			if (r < 0) {
				rc = KB_ERROR;
				goto out;
			}
			if (r != 2)
				say(j->fd, r ? "LOST" : "OK", name, r ? hex : "");
			if (r == 1)
				say(j->fd, "WHY", name, why);
			say(j->fd, "DONE", name, hex);
		}
		if (rc != MDB_NOTFOUND && rc != KB_ENOTFOUND)
			damaged_here(j, rc);
		rc = 0;
	}
out:
	if (rc && kb_error_last()->message)
		say(j->fd, "ERR", kb_error_last()->message, "");
	kb_cache_free(dst);
	kb_cache_free(src);
	free(buf);
	return rc;
}

/* Parse the lines of one child into t; phase, key and klen get where it last was. */
static void read_child(int fd, struct tally *t, int *phase, uint8_t *key, size_t *klen,
		       int *at_seen, int *done)
{
	char buf[64 * 1024], *line;
	size_t have = 0;
	ssize_t n;
	char lost_what[256] = "";

	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while ((line = memchr(buf, '\n', have)) != NULL) {
			char *f1, *f2, *f3, *end = line;
			*end = '\0';
			f1 = buf;
			f2 = strchr(f1, '\t');
			if (f2)
				*f2++ = '\0';
			f3 = f2 ? strchr(f2, '\t') : NULL;
			if (f3)
				*f3++ = '\0';
			if (!strcmp(f1, "AT") && f2 && f3) {
				if (!strcmp(f2, "obj"))
					*phase = 0;
				else if (!strcmp(f2, "tables"))
					*phase = 1;
				else
					for (size_t i = 0; i < N_REC_TABLES; i++)
						if (!strcmp(f2, rec_tables[i]))
							*phase = (int)i + 1;
				*klen = unhex(key, MAXKEY, f3);
				*at_seen = 1;
				*done = 0;
			} else if (!strcmp(f1, "DONE")) {
				*done = 1;
			} else if (!strcmp(f1, "BAD") && f2 && f3) {
				t->bad++;
				if (t->fn)
					t->fn(f2, f3, t->arg);
			} else if (!strcmp(f1, "OK") && f2) {
				if (!strcmp(f2, "obj"))
					t->copied_objects++;
				else
					t->copied_entries++;
			} else if (!strcmp(f1, "LOST") && f2 && f3) {
				snprintf(lost_what, sizeof(lost_what), "%s %s",
					 !strcmp(f2, "obj") ? "object" : f2, f3);
				if (!strcmp(f2, "obj"))
					t->lost_objects++;
				else
					t->lost_entries++;
				t->bad++;
			} else if (!strcmp(f1, "WHY") && f3) {
				if (t->fn)
					t->fn(lost_what, f3, t->arg);
			} else if (!strcmp(f1, "TOTAL") && f3) {
				t->total_objects = strtoull(f3, NULL, 10);
			} else if (!strcmp(f1, "ERR") && f2) {
				snprintf(t->err, sizeof(t->err), "%s", f2);
			}
			have -= (size_t)(end + 1 - buf);
			memmove(buf, end + 1, have);
		}
		if (have == sizeof(buf) - 1)
			have = 0; /* a line too long: drop it */
	}
}

/* Step key forward past a region the cursor cannot cross: +1 at byte pos. */
static void skip_ahead(uint8_t *key, size_t *klen, size_t pos)
{
	if (*klen <= pos) {
		memset(key + *klen, 0, pos + 1 - *klen);
		*klen = pos + 1;
	}
	*klen = pos + 1;
	for (size_t i = pos + 1; i-- > 0;) {
		if (++key[i] != 0)
			return;
	}
	memset(key, 0xff, *klen); /* wrapped: the end of the key space */
}

static void finding(struct job *j, struct tally *t, const char *what, const char *why,
		    int phase)
{
	t->bad++;
	if (j->recover) {
		if (phase == 0)
			t->lost_objects++;
		else
			t->lost_entries++;
	}
	if (t->fn)
		t->fn(what, why, t->arg);
}

/* Run children from phase 0 until one finishes; faults become findings. */
static int run_children(struct job *j, struct tally *t)
{
	static const char *const names[] = { "object", "build", "bysig", "test", "ref", "meta" };
	int seek_faults = 0; /* consecutive faults while looking for the next key */

	for (int round = 0; round < 100000; round++) {
		int p[2], st, phase = j->phase, at_seen = 0, done = 0;
		uint8_t key[MAXKEY];
		size_t klen = 0;
		char what[256], hex[2 * MAXKEY + 1];
		pid_t pid;

		if (pipe(p) != 0)
			return kb_error_os("cannot create a pipe");
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			close(p[0]);
			close(p[1]);
			return kb_error_os("cannot fork to read cache '%s'", j->dir);
		}
		if (pid == 0) {
			close(p[0]);
			j->fd = p[1];
			kb_cache__guard_child(p[1]);
			_exit(j->recover ? (recover_child(j) ? 1 : 0) : (verify_child(j) ? 1 : 0));
		}
		close(p[1]);
		read_child(p[0], t, &phase, key, &klen, &at_seen, &done);
		close(p[0]);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return 0;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
			if (!j->recover) {
				finding(j, t, "the cache", t->err, 0);
				return 0;
			}
			return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					     "cache '%s' is damaged beyond reading (%s); nothing "
					     "can be copied: move it away and start afresh", j->dir,
					     t->err);
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
			return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE, "%s",
					     t->err[0] ? t->err : "reading the cache failed");
		/* a fault (the guard's exit code, or a signal) */
		if (!at_seen) {
			if (j->phase == 0 && !j->has_after)
				return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
						     "cache '%s' is damaged beyond reading: even "
						     "opening it faults; move it away and start "
						     "afresh", j->dir);
			phase = j->phase;
			klen = j->after_len;
			memcpy(key, j->after, klen);
			done = 1;
		}
		if (!j->recover && phase == 1) {
			finding(j, t, "reference counts and records",
				"reading them crashed: a damaged page of data.mdb", phase);
			return 0; /* checked in one go: nothing after them */
		}
		hex_of(hex, key, klen);
		if (!done) {
			/* the entry it was at is damaged: go on after it */
			snprintf(what, sizeof(what), "%s %s", names[phase], hex);
			finding(j, t, what, "reading it crashed: a damaged page of data.mdb", phase);
			seek_faults = 0;
		} else {
			/* the cursor cannot get past key: skip ahead in key order (ids are
			 * SHA-256: 1/65536 of the key space, then 1/256), then give up on
			 * the table */
			if (seek_faults++ == 0) {
				snprintf(what, sizeof(what), "%s table after %s", names[phase],
					 klen ? hex : "its start");
				finding(j, t, what, "the table cannot be read past this point: "
					"a damaged page of data.mdb; entries there are lost", phase);
			}
			if (seek_faults > 6) {
				seek_faults = 0;
				j->phase = phase + 1;
				j->has_after = 0;
				j->after_len = 0;
				if ((!j->recover && j->phase > 1) || j->phase > (int)N_REC_TABLES)
					return 0;
				continue;
			}
			skip_ahead(key, &klen, seek_faults == 1 ? 1 : 0);
		}
		j->phase = phase;
		j->has_after = 1;
		j->after_len = klen;
		memcpy(j->after, key, klen);
	}
	return kb_error_set(KB_ERRCLASS_CACHE, "cache '%s': too many damaged entries", j->dir);
}

int kb_cache_verify_isolated(const char *dir, uint64_t *bad,
			     void (*fn)(const char *what, const char *why, void *arg), void *arg)
{
	struct job j;
	struct tally t;
	int rc;

	memset(&j, 0, sizeof(j));
	memset(&t, 0, sizeof(t));
	j.dir = dir;
	t.fn = fn;
	t.arg = arg;
	rc = run_children(&j, &t);
	*bad = t.bad;
	return rc;
}

/* Remove a and b (NULL: only a) with everything below them: `rm -rf`. */
static int rm_rf(const char *a, const char *b)
{
	const char *argv[] = { "rm", "-rf", "--", a, b, NULL };
	kb_spawn_opts o = { 0 };
	int r = kb_spawn(argv, &o);

	if (r == KB_OK && o.status != 0)
		r = kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE, "cannot remove '%s'%s%s%s: rm "
				  "exited with %d; remove it by hand", a, b ? " and '" : "",
				  b ? b : "", b ? "'" : "", o.status);
	else if (r != KB_OK)
		kb_error_prefix("cannot remove '%s'", a);
	return r;
}

/* Swap the recovered data.mdb (in tmpdir) in for the damaged one in dir. */
static int swap_in(const char *dir, const char *tmpdir, kb_recover_result *res)
{
	char lock[4300], src[4300], dst[4300], base[4300];
	int fd, rc = 0;

	snprintf(lock, sizeof(lock), "%s/kbisect.lock", dir);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return kb_error_os("cannot open '%s'", lock);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return kb_error_setc(KB_ELOCKED, KB_ERRCLASS_CACHE,
				     "cache '%s' is in use by another process; stop it (and any "
				     "'kbisect cache serve') and run 'kbisect cache recover' again",
				     dir);
	}
	snprintf(src, sizeof(src), "%s/data.mdb", dir);
	snprintf(res->damaged_path, sizeof(res->damaged_path), "%s/damaged-%lld.mdb", dir,
		 (long long)kb_cache__now());
	if (rename(src, res->damaged_path) != 0) {
		rc = kb_error_os("cannot move '%s' aside", src);
		goto out;
	}
	snprintf(src, sizeof(src), "%s/data.mdb", tmpdir);
	snprintf(dst, sizeof(dst), "%s/data.mdb", dir);
	if (rename(src, dst) != 0) {
		rc = kb_error_os("cannot move '%s' to '%s'", src, dst);
		rename(res->damaged_path, dst);
		goto out;
	}
	/* the decoded delta bases belonged to the old file's records; derived data:
	 * harmless if it stays */
	snprintf(base, sizeof(base), "%s/base", dir);
	if (rm_rf(base, tmpdir) != KB_OK)
		kb_error_clear();
out:
	flock(fd, LOCK_UN);
	close(fd);
	return rc;
}

int kb_cache_recover(const char *dir, const char *to, kb_recover_result *res,
		     void (*fn)(const char *what, const char *why, void *arg), void *arg)
{
	char tmpdir[4200];
	struct job j;
	struct tally t;
	struct stat st;
	kb_cache *c;
	int rc;

	memset(res, 0, sizeof(*res));
	snprintf(tmpdir, sizeof(tmpdir), "%s/data.mdb", dir);
	if (stat(tmpdir, &st) != 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "no cache in '%s' (no data.mdb) to recover", dir);
	if (to)
		snprintf(tmpdir, sizeof(tmpdir), "%s", to);
	else
		snprintf(tmpdir, sizeof(tmpdir), "%s/recover.tmp", dir);
	snprintf(res->new_dir, sizeof(res->new_dir), "%s", to ? to : dir);
	if (!to) {
		/* a recovery killed earlier: start over */
		if ((rc = rm_rf(tmpdir, NULL)) != KB_OK)
			return rc;
	} else if (stat(tmpdir, &st) == 0) {
		char p[4300];
		snprintf(p, sizeof(p), "%s/data.mdb", tmpdir);
		if (stat(p, &st) == 0)
			return kb_error_setc(KB_EEXISTS, KB_ERRCLASS_CACHE,
					     "'%s' holds a cache already; pass a new directory "
					     "to --to", tmpdir);
	}
	memset(&j, 0, sizeof(j));
	memset(&t, 0, sizeof(t));
	j.dir = dir;
	j.dest = tmpdir;
	j.recover = 1;
	t.fn = fn;
	t.arg = arg;
	/* the copy is synced once at the end, not at every entry */
	setenv("KBISECT_CACHE_NOSYNC", "1", 1);
	rc = run_children(&j, &t);
	unsetenv("KBISECT_CACHE_NOSYNC");
	res->objects = t.copied_objects;
	res->objects_lost = t.lost_objects;
	/* objects past a point the cursor could not cross were never seen one by one */
	if (t.total_objects > t.copied_objects + t.lost_objects)
		res->objects_lost = t.total_objects - t.copied_objects;
	res->entries = t.copied_entries;
	res->entries_lost = t.lost_entries;
	if (rc)
		return rc;
	/* the new store: created even when nothing was readable, verified, synced */
	if ((rc = kb_cache_open(&c, tmpdir, KB_CACHE_CREATE)))
		return rc;
	rc = kb_cache_verify(c, &res->bad_after, NULL, NULL);
	if (!rc)
		mdb_env_sync(c->env, 1);
	kb_cache_free(c);
	if (rc)
		return rc;
	if (res->bad_after)
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "the recovered copy in '%s' does not verify (%llu damaged "
				     "entries); the damaged cache was left as it is", tmpdir,
				     (unsigned long long)res->bad_after);
	if (to)
		return 0;
	return swap_in(dir, tmpdir, res);
}
