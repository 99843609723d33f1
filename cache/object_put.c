/*
 * cache/object_put.c - the commit of a writer, which makes its object visible, and
 * the puts of a whole input (fd, file, buffer) on top of the writer.
 * Owns: kb_cache_writer_commit, kb_cache_put_fd/put_file/put_buf, the final txn of a
 * put (object header, chunk references, delta base records).
 * Not: chunking and compressing (object_write.c), eviction (gc.c: a put past the limit
 * calls kb_cache__enforce_limit after its commit).
 * DESIGN: nothing is visible before the final write txn (see object_write.c). A put
 * whose object is stored already only touches it; one whose object is stored with
 * parts missing replaces it; one whose reused chunks or base were evicted meanwhile
 * fails with *vanished set, and the puts of a whole input then put again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "object_internal.h"

struct commit_ctx {
	kb_cache_writer *w;
	kb_key id;
	int existed;
	int repaired;             /* a damaged copy of the object was replaced */
	int vanished;             /* failed: a chunk or base it reused was evicted meanwhile */
	int keep_raw;             /* the base file will be renamed into place */
	uint8_t raw_sum[24];      /* its XXH3-128 and size */
};

/* Is the stored header v of an object of size bytes whole: its parts cover size and
 * every chunk it names is stored? (A put that finds such an object only touches it.) */
static int obj_intact(kb_cache *c, MDB_txn *t, const MDB_val *v, uint64_t size)
{
	struct kb_obj_hdr h;
	const uint8_t *parts;

	if (v->mv_size < sizeof(h))
		return 0;
	memcpy(&h, v->mv_data, sizeof(h));
	if (h.magic != KB_OBJ_MAGIC || v->mv_size != sizeof(h) + (size_t)h.nparts * 32 ||
	    h.size != size || h.nparts != (size + KB_CHUNK_SIZE - 1) / KB_CHUNK_SIZE)
		return 0;
	parts = (const uint8_t *)v->mv_data + sizeof(h);
	for (uint32_t i = 0; i < h.nparts; i++) {
		MDB_val ck = { 32, (void *)(parts + 32 * (size_t)i) }, cv;
		if (mdb_get(t, c->chunk, &ck, &cv) != 0 || mdb_get(t, c->cref, &ck, &cv) != 0)
			return 0;
	}
	return 1;
}

/* Record the checksum of the base file the commit will rename into place. */
static int base_sum_put(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	if (!cc->keep_raw)
		return 0;
	return kb_cache__base_file_sum_put(c, t, &cc->id, cc->raw_sum);
}

/* The object is stored whole already: only its last use changes, and the chunks this
 * put wrote early are not needed. */
static int commit_touch(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	kb_cache_writer *w = cc->w;
	int64_t now_ns = kb_cache__now_ns();
	MDB_val k = { 32, cc->id.b }, v = { sizeof(now_ns), &now_ns };
	int rc;

	cc->existed = 1;
	if (w->owner.registered && (rc = kb_cache__pend_done_txn(c, t, w->owner.token, 1)))
		return rc;
	return kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0), "cannot record use");
}

/* The base of a delta must still be there (a concurrent gc may have taken it). */
static int commit_base_check(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	kb_cache_writer *w = cc->w;
	MDB_val bk = { 32, w->base.b }, bv;
	char s[16];

	if (!w->used_delta || mdb_get(t, c->obj, &bk, &bv) == 0)
		return 0;
	cc->vanished = 1;
	return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
			     "delta base %s vanished from cache '%s' during the put; put the "
			     "object again", kb_cache__short(s, &w->base), c->dir);
}

/* Add one reference to every chunk of the object; a chunk evicted meanwhile fails the
 * put (vanished). */
static int commit_refs(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	kb_cache_writer *w = cc->w;
	int rc;

	for (size_t i = 0; i < w->n_pend; i++) {
		MDB_val ck = { 32, w->pend[i].id.b }, cv;
		struct kb_chunk_ref r;
		if (mdb_get(t, c->cref, &ck, &cv) != 0 || cv.mv_size != sizeof(r)) {
			char s[16];
			cc->vanished = 1;
			return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
					     "chunk %s vanished from cache '%s' during the put "
					     "(a concurrent gc?); put the object again",
					     kb_cache__short(s, &w->pend[i].id), c->dir);
		}
		memcpy(&r, cv.mv_data, sizeof(r));
		r.refs++;
		cv.mv_size = sizeof(r);
		cv.mv_data = &r;
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->cref, &ck, &cv, 0),
					"cannot update a chunk reference")))
			return rc;
	}
	return 0;
}

/* Store the object header (which makes the object visible) and its last use. */
static int commit_header(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	kb_cache_writer *w = cc->w;
	MDB_val k = { 32, cc->id.b }, v;
	struct kb_obj_hdr h;
	int64_t now_ns;
	uint8_t *val;
	size_t vlen;
	int rc;

	memset(&h, 0, sizeof(h));
	h.magic = KB_OBJ_MAGIC;
	h.kind = (uint8_t)w->opts.kind;
	h.flags = (w->opts.pin ? KB_OBJF_PINNED : 0) | (w->used_delta ? KB_OBJF_DELTA : 0);
	h.nparts = (uint32_t)w->n_pend;
	h.size = w->size;
	h.stored = w->stored;
	h.created = kb_cache__now();
	if (w->used_delta)
		memcpy(h.base, w->base.b, 32);
	vlen = sizeof(h) + w->n_pend * 32;
	if (!(val = malloc(vlen)))
		return kb_cache__oom(c);
	memcpy(val, &h, sizeof(h));
	for (size_t i = 0; i < w->n_pend; i++)
		memcpy(val + sizeof(h) + i * 32, w->pend[i].id.b, 32);
	v.mv_size = vlen;
	v.mv_data = val;
	rc = mdb_put(t, c->obj, &k, &v, 0);
	free(val);
	if ((rc = kb_cache__mdb(c, rc, "cannot store the object header")))
		return rc;
	now_ns = kb_cache__now_ns();
	v.mv_size = sizeof(now_ns);
	v.mv_data = &now_ns;
	return kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0), "cannot record use");
}

/* A delta is recorded as a dependant of its base ("dep"); a plain object of a delta
 * kind becomes the base of the next put of its kind (meta "base:<kind>"). */
static int commit_base_record(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	kb_cache_writer *w = cc->w;

	if (w->used_delta) {
		uint8_t dk[64];
		MDB_val dkv = { 64, dk }, e = { 0, "" };
		memcpy(dk, w->base.b, 32);
		memcpy(dk + 32, cc->id.b, 32);
		return kb_cache__mdb(c, mdb_put(t, c->dep, &dkv, &e, 0),
				     "cannot record a delta base");
	}
	if (kb_cache__is_delta_kind(w->opts.kind) && w->size >= DELTA_MIN_BASE &&
	    !w->opts.no_delta) {
		char name[32];
		MDB_val mk, mv = { 32, cc->id.b };
		snprintf(name, sizeof(name), "base:%s", kb_object_kind_name(w->opts.kind));
		mk.mv_size = strlen(name);
		mk.mv_data = name;
		return kb_cache__mdb(c, mdb_put(t, c->meta, &mk, &mv, 0),
				     "cannot record a delta base");
	}
	return 0;
}

/* The final txn of a put. */
static int commit_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct commit_ctx *cc = arg;
	kb_cache_writer *w = cc->w;
	MDB_val k = { 32, cc->id.b }, v;
	int rc;

	cc->existed = 0;
	cc->repaired = 0;
	if ((rc = base_sum_put(c, t, cc)))
		return rc;
	if (mdb_get(t, c->obj, &k, &v) == 0) {
		if (obj_intact(c, t, &v, w->size))
			return commit_touch(c, t, cc);
		/* stored with parts missing (e.g. by kbisect <= 440f7c9, whose re-put
		 * raced an eviction): this put replaces it */
		if (w->tail_skipped)
			return KB__NEEDTAIL;
		cc->repaired = 1; /* evicted below, once our chunks hold references */
	} else if (w->tail_skipped) {
		/* evicted since commit looked: the last batch must be stored after all */
		return KB__NEEDTAIL;
	}
	if ((rc = commit_base_check(c, t, cc)) || (rc = kb_cache__write_chunks_txn(c, t, w, 1)))
		return rc;
	if (w->owner.registered &&
	    (rc = kb_cache__pend_done_txn(c, t, w->owner.token, 0)))
		return rc;
	if ((rc = commit_refs(c, t, cc)))
		return rc;
	if (cc->repaired && ((rc = kb_cache__evict_txn(c, t, &cc->id)) ||
			     (rc = base_sum_put(c, t, cc))))
		return rc;
	if ((rc = commit_header(c, t, cc)))
		return rc;
	return commit_base_record(c, t, cc);
}

/* Finish the object's SHA-256 (the last, partial batch first: already-stored objects
 * skip the chunking) and compare it with expect (may be NULL). */
static int commit_hash(kb_cache_writer *w, struct commit_ctx *cc, const kb_key *expect)
{
	unsigned int n = 0;

	if (w->batch_len)
		EVP_DigestUpdate(w->sha, w->batch, w->batch_len);
	EVP_DigestFinal_ex(w->sha, cc->id.b, &n);
	if (expect && !kb_key_equal(expect, &cc->id)) {
		char a[KB_KEY_HEXLEN + 1], b[KB_KEY_HEXLEN + 1];
		kb_key_to_hex(a, expect);
		kb_key_to_hex(b, &cc->id);
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "upload should have SHA-256 %s but has %s; nothing stored, "
				     "send it again", a, b);
	}
	return 0;
}

/* Chunk the last batch, unless the object is stored already: then the commit only
 * touches it, unless it is gone by then (KB__NEEDTAIL); the batch is kept for that. */
static int commit_tail(kb_cache_writer *w, struct commit_ctx *cc)
{
	int rc;

	if (!w->batch_len)
		return 0;
	if (kb_cache_has(w->c, &cc->id)) {
		w->tail_skipped = 1;
		return 0;
	}
	rc = kb_cache__add_parts(w, w->batch, w->batch_len, 0);
	w->batch_len = 0;
	return rc;
}

/* An object larger than the limit of the cache (*limit, 0: none) is KB_EFULL. */
static int commit_limit(kb_cache_writer *w, uint64_t *limit)
{
	kb_cache *c = w->c;
	MDB_txn *t;

	if (kb_cache__rtxn(c, &t) == 0) {
		*limit = kb_cache__meta_u64(c, t, "limit");
		kb_cache__txn_end(c, t);
	}
	if (*limit && w->stored > *limit)
		return kb_error_setc(KB_EFULL, KB_ERRCLASS_CACHE,
				     "object of %llu stored bytes is larger than the limit of "
				     "cache '%s' (%llu); raise it with 'kbisect cache gc "
				     "--limit'", (unsigned long long)w->stored, c->dir,
				     (unsigned long long)*limit);
	return 0;
}

/* Will the raw copy of the input become the next base file? Then cc records its sum. */
static void commit_keep_raw(kb_cache_writer *w, struct commit_ctx *cc)
{
	if (w->raw_linked) {
		struct stat st;
		if (lstat(w->raw_tmp, &st) != 0 || (uint64_t)st.st_size != w->size)
			w->raw_err = 1; /* the input changed size meanwhile */
	}
	cc->keep_raw = (w->raw_fd >= 0 || w->raw_linked) && !w->raw_err &&
		       w->raw_written == w->size &&
		       !w->used_delta && w->size >= DELTA_MIN_BASE && w->raw_xxh;
	if (cc->keep_raw) {
		XXH128_hash_t x = XXH3_128bits_digest(w->raw_xxh);
		memcpy(cc->raw_sum, &x.low64, 8);
		memcpy(cc->raw_sum + 8, &x.high64, 8);
		memcpy(cc->raw_sum + 16, &w->size, 8);
	}
}

/* Run the final txn; when the object vanished (or was damaged) since it was looked up,
 * store the last batch too and commit again. */
static int commit_write(kb_cache_writer *w, struct commit_ctx *cc)
{
	kb_cache *c = w->c;
	int rc = kb_cache__bg_join(w);

	if (!rc && kb_cache__test_hook)
		kb_cache__test_hook("commit", c); /* tests: evict between check and commit */
	if (!rc)
		rc = kb_cache__write(c, commit_fn, cc);
	if (rc != KB__NEEDTAIL)
		return rc;
	w->tail_skipped = 0;
	rc = kb_cache__add_parts(w, w->batch, w->batch_len, 0);
	w->batch_len = 0;
	if (!rc)
		rc = kb_cache__bg_join(w);
	if (!rc)
		rc = kb_cache__write(c, commit_fn, cc);
	if (rc == KB__NEEDTAIL)
		rc = kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE, "internal: the last "
				   "batch of a put into '%s' was dropped twice", c->dir);
	return rc;
}

/* After the commit: rename the raw copy into place as the base file of the object. */
static void commit_base_file(kb_cache_writer *w, struct commit_ctx *cc)
{
	char path[4200];

	kb_cache__base_file_path(path, sizeof(path), w->c, &cc->id);
	if (w->raw_fd >= 0)
		fchmod(w->raw_fd, kb_cache__file_mode());
	if ((w->raw_fd < 0 || close(w->raw_fd) == 0) && rename(w->raw_tmp, path) == 0) {
		free(w->raw_tmp);
		w->raw_tmp = NULL;
	}
	w->raw_fd = -1;
	kb_cache__base_files_prune(w->c, &cc->id);
}

/* kb_cache_writer_commit; *vanished (may be NULL) tells a failure because a chunk or
 * delta base the put reused was evicted meanwhile: putting the bytes again works. */
static int writer_commit_ex(kb_key *out_id, kb_cache_writer *w, const kb_key *expect,
			    int *vanished)
{
	kb_cache *c = w->c;
	struct commit_ctx cc = { w, { { 0 } }, 0, 0, 0, 0, { 0 } };
	uint64_t limit = 0;
	int rc = 0;

	if (w->failed) {
		kb_cache_writer_abort(w);
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
				     "commit of a failed cache writer; put the object again");
	}
	if ((rc = commit_hash(w, &cc, expect))) {
		kb_cache_writer_abort(w);
		return rc;
	}
	rc = commit_tail(w, &cc);
	if (!rc)
		rc = commit_limit(w, &limit);
	commit_keep_raw(w, &cc);
	if (!rc)
		rc = commit_write(w, &cc);
	if (!rc && out_id)
		*out_id = cc.id;
	if (!rc)
		kb_cache__pend_unregister(c, &w->owner); /* its entries went with the commit */
	if (!rc && cc.keep_raw)
		commit_base_file(w, &cc);
	kb_cache_writer_abort(w);
	if (!rc && limit)
		rc = kb_cache__enforce_limit(c, &cc.id);
	if (vanished)
		*vanished = rc && cc.vanished;
	return rc;
}

int kb_cache_writer_commit(kb_key *out_id, kb_cache_writer *w, const kb_key *expect)
{
	return writer_commit_ex(out_id, w, expect, NULL);
}

/* put_fd reads the next batch while the writer hashes and compresses this one. */
struct readahead {
	struct side_job job; /* first: the writer calls job.fn(&job) */
	int fd;
	uint8_t *buf;
	size_t cap, have;
	int eof, err;
};

/* Fill ra->buf up to its capacity, or to the end of the input. */
static void readahead_fill(struct side_job *j)
{
	struct readahead *ra = (struct readahead *)j;

	ra->have = 0;
	ra->eof = 0;
	ra->err = 0;
	while (ra->have < ra->cap) {
		ssize_t r = read(ra->fd, ra->buf + ra->have, ra->cap - ra->have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ra->err = errno;
			break;
		}
		if (r == 0) {
			ra->eof = 1;
			break;
		}
		ra->have += (size_t)r;
	}
}

static int put_fd_once(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts,
		       const char *src, const struct stat *st, int *vanished)
{
	kb_cache_writer *w;
	const size_t cap = (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE;
	struct readahead ra[2];
	int rc = 0, cur = 0;

	if ((rc = kb_cache__writer_open_ex(&w, c, opts, src, st)))
		return rc;
	memset(ra, 0, sizeof(ra));
	for (int i = 0; i < 2; i++) {
		ra[i].job.fn = readahead_fill;
		ra[i].fd = fd;
		ra[i].cap = cap;
		/* whole batches, so that each goes to the writer without a copy */
		if (!(ra[i].buf = kb_cache__big_alloc(cap))) {
			free(ra[0].buf);
			kb_cache_writer_abort(w);
			return kb_cache__oom(c);
		}
	}
	readahead_fill(&ra[0].job);
	for (;;) {
		struct readahead *a = &ra[cur], *next = &ra[1 - cur];
		if (a->err) {
			errno = a->err;
			rc = kb_error_os("cannot read the data to put into cache '%s'", c->dir);
			break;
		}
		if (!a->have)
			break;
		if (!a->eof) {
			next->job.done = 0;
			w->side = &next->job;
		}
		rc = kb_cache_writer_write(w, a->buf, a->have);
		w->side = NULL;
		if (!a->eof && !next->job.done)
			readahead_fill(&next->job); /* the writer had no batch to run it with */
		if (rc || a->eof)
			break;
		cur = 1 - cur;
	}
	free(ra[0].buf);
	free(ra[1].buf);
	if (rc) {
		kb_cache_writer_abort(w);
		return rc;
	}
	return writer_commit_ex(out_id, w, NULL, vanished);
}

/* A put whose reused chunks were evicted under it (a busy cache at its limit) is
 * done again, when the input can be read again. */
#define PUT_TRIES 3

static int put_fd_ex(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts,
		     const char *src, const struct stat *st)
{
	int rc = 0, vanished = 0;

	for (int i = 0; i < PUT_TRIES; i++) {
		rc = put_fd_once(out_id, c, fd, opts, src, st, &vanished);
		if (!rc || !vanished || !st || lseek(fd, 0, SEEK_SET) != 0)
			break;
	}
	return rc;
}

int kb_cache_put_fd(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts)
{
	return put_fd_ex(out_id, c, fd, opts, NULL, NULL);
}

int kb_cache_put_file(kb_key *out_id, kb_cache *c, const char *path, const kb_put_opts *opts)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (fd < 0)
		return kb_error_os("cannot open '%s' to put it into the cache", path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
				     "'%s' is a directory; put files one by one", path);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = put_fd_ex(out_id, c, fd, opts, path, S_ISREG(st.st_mode) ? &st : NULL);
	close(fd);
	if (rc && kb_error_last()->klass == KB_ERRCLASS_OS)
		kb_error_prefix("while putting '%s'", path);
	return rc;
}

int kb_cache_put_buf(kb_key *out_id, kb_cache *c, const void *data, size_t len,
		     const kb_put_opts *opts)
{
	int rc = 0, vanished = 0;

	for (int i = 0; i < PUT_TRIES; i++) {
		kb_cache_writer *w;
		if ((rc = kb_cache_writer_open(&w, c, opts)))
			return rc;
		if ((rc = kb_cache_writer_write(w, data, len))) {
			kb_cache_writer_abort(w);
			return rc;
		}
		rc = writer_commit_ex(out_id, w, NULL, &vanished);
		if (!rc || !vanished)
			break;
	}
	return rc;
}
