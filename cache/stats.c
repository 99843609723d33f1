/*
 * cache/stats.c - what `kbisect cache stats` reports: entries and bytes per kind,
 * hits and misses, savings by compression, dedup and deltas, build time saved, and
 * the LMDB file: size, pages in use, free pages, readers.
 * DESIGN: counts come from scanning the tables (exact, fine for the thousands of
 * objects a cache holds); hits/misses/evictions/saved time are persistent counters.
 * Savings: compression = raw - stored over unique zstd chunks; dedup = sum of the
 * objects' stored sizes - unique chunk bytes; delta = size - stored over delta objects.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cache_internal.h"

static int count_reader(const char *msg, void *ctx)
{
	(void)msg;
	(*(int *)ctx)++;
	return 0;
}

/* Objects per kind and their savings by delta; returns the sum of their stored sizes. */
static uint64_t stats_objects(kb_cache_stats *out, kb_cache *c, MDB_txn *t)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t sum_stored = 0;

	if (mdb_cursor_open(t, c->obj, &cur) != 0)
		return 0;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct kb_obj_hdr h;
		if (v.mv_size < sizeof(h))
			continue;
		memcpy(&h, v.mv_data, sizeof(h));
		if (h.kind >= KB_OBJ_KIND_MAX)
			continue;
		out->objects[h.kind]++;
		out->object_bytes[h.kind] += h.size;
		out->stored_bytes[h.kind] += h.stored;
		sum_stored += h.stored;
		if ((h.flags & KB_OBJF_DELTA) && h.size > h.stored)
			out->saved_delta += h.size - h.stored;
	}
	mdb_cursor_close(cur);
	return sum_stored;
}

/* Unique chunks, their bytes and the savings by compression. */
static void stats_chunks(kb_cache_stats *out, kb_cache *c, MDB_txn *t)
{
	MDB_cursor *cur;
	MDB_val k, v;

	if (mdb_cursor_open(t, c->chunk, &cur) != 0)
		return;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct kb_chunk_hdr h;
		out->chunks++;
		out->chunk_bytes += v.mv_size;
		if (v.mv_size < sizeof(h))
			continue;
		memcpy(&h, v.mv_data, sizeof(h));
		if (h.codec == KB_CODEC_ZSTD && h.raw_len > v.mv_size)
			out->saved_compression += h.raw_len - v.mv_size;
	}
	mdb_cursor_close(cur);
}

/* Build records (and failures), tests and their runs, references. */
static void stats_records(kb_cache_stats *out, kb_cache *c, MDB_txn *t)
{
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat st;
	uint8_t last_test[32];
	int have_last = 0;

	if (mdb_cursor_open(t, c->build, &cur) == 0) {
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			out->builds++;
			if (memmem(v.mv_data, v.mv_size, "\"ok\":false", 10))
				out->build_failures++;
		}
		mdb_cursor_close(cur);
	}
	if (mdb_cursor_open(t, c->test, &cur) == 0) {
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			out->test_runs++;
			if (k.mv_size >= 32 && (!have_last || memcmp(last_test, k.mv_data, 32))) {
				memcpy(last_test, k.mv_data, 32);
				have_last = 1;
				out->tests++;
			}
		}
		mdb_cursor_close(cur);
	}
	if (mdb_stat(t, c->ref, &st) == 0)
		out->refs = st.ms_entries;
}

/* The persistent counters and the limit. */
static void stats_counters(kb_cache_stats *out, kb_cache *c, MDB_txn *t)
{
	for (int i = 0; i < KB_OBJ_KIND_MAX; i++) {
		out->hits[i] = kb_cache__stat_get(c, t, KB_ST_HIT0 + i);
		out->misses[i] = kb_cache__stat_get(c, t, KB_ST_MISS0 + i);
	}
	out->build_hits = kb_cache__stat_get(c, t, KB_ST_BUILD_HITS);
	out->build_misses = kb_cache__stat_get(c, t, KB_ST_BUILD_MISSES);
	out->test_hits = kb_cache__stat_get(c, t, KB_ST_TEST_HITS);
	out->test_misses = kb_cache__stat_get(c, t, KB_ST_TEST_MISSES);
	out->evictions = kb_cache__stat_get(c, t, KB_ST_EVICTIONS);
	out->build_seconds_saved = (double)kb_cache__stat_get(c, t, KB_ST_SAVED_MS) / 1000.0;
	out->limit = kb_cache__meta_u64(c, t, "limit");
	out->record_bytes = kb_cache__stat_get(c, t, KB_ST_RECORD_BYTES);
	out->pending_bytes = kb_cache__stat_get(c, t, KB_ST_PEND_BYTES);
	out->limit_used = kb_cache__used_bytes_txn(c, t);
}

/* LMDB pages in use (every table, the main DB) and on the free list, as bytes. */
static void stats_pages(kb_cache_stats *out, kb_cache *c, MDB_txn *t)
{
	MDB_dbi dbis[10];
	MDB_stat est, st;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t pages = 0, free_pages = 0;

	dbis[0] = c->meta; dbis[1] = c->obj; dbis[2] = c->atime; dbis[3] = c->chunk;
	dbis[4] = c->cref; dbis[5] = c->dep; dbis[6] = c->build; dbis[7] = c->bysig;
	dbis[8] = c->test; dbis[9] = c->ref;
	mdb_env_stat(c->env, &est);
	for (int i = 0; i < 10; i++)
		if (mdb_stat(t, dbis[i], &st) == 0)
			pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	if (mdb_stat(t, 1, &st) == 0) /* MAIN_DBI: the table of tables */
		pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	if (mdb_cursor_open(t, 0, &cur) == 0) { /* FREE_DBI, as mdb_stat -f does */
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			size_t first;
			if (v.mv_size < sizeof(size_t))
				continue;
			memcpy(&first, v.mv_data, sizeof(first));
			free_pages += first;
		}
		mdb_cursor_close(cur);
	}
	out->live_bytes = pages * est.ms_psize;
	out->free_bytes = free_pages * est.ms_psize;
}

/* The LMDB file: map size, file size, readers. */
static void stats_file(kb_cache_stats *out, kb_cache *c)
{
	MDB_envinfo info;
	char path[4200];
	struct stat fst;
	int lines = 0;
	unsigned int maxr = 0;

	mdb_env_info(c->env, &info);
	out->map_size = info.me_mapsize;
	snprintf(path, sizeof(path), "%s/data.mdb", c->dir);
	if (stat(path, &fst) == 0)
		out->file_size = (uint64_t)fst.st_size;
	mdb_reader_list(c->env, count_reader, &lines);
	/* mdb_reader_list prints a header line, or "(no active readers)" */
	out->readers = lines > 1 ? (unsigned int)(lines - 1) : 0;
	mdb_env_get_maxreaders(c->env, &maxr);
	out->max_readers = maxr;
}

int kb_cache_stats_get(kb_cache_stats *out, kb_cache *c)
{
	MDB_txn *t;
	uint64_t sum_stored;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	sum_stored = stats_objects(out, c, t);
	stats_chunks(out, c, t);
	out->saved_dedup = sum_stored > out->chunk_bytes ? sum_stored - out->chunk_bytes : 0;
	stats_records(out, c, t);
	stats_counters(out, c, t);
	stats_pages(out, c, t);
	kb_cache__txn_end(c, t);
	stats_file(out, c);
	return 0;
}
