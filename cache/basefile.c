/*
 * cache/basefile.c - decoded copies of delta bases: dir/base/<id hex>.
 * Owns: the files in dir/base, meta "basefile:<id hex>" (their XXH3-128 and size).
 * Not: choosing a base (object_write.c), using the file to read (object_read.c).
 * DESIGN: dir/base/<id hex> holds the raw bytes of a plain object that is the current
 * delta base of its kind, written by the put that stored it. Readers of a delta map it
 * instead of decoding the base (which costs as much as decoding the delta itself).
 * Derived data, outside LMDB: a damaged or stale file can only make the SHA-256 of a
 * dependant fail; the reader then removes it and decodes the base from the store.
 * Writers use it only after checking each 1 MiB piece against the SHA-256 chunk ids of
 * the base (a wrong base would make them store wrong deltas); verify never does. At
 * most BASE_FILES are kept; the eviction of an object (object.c) removes its file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "object_internal.h"

#define BASE_FILES 2

void kb_cache__base_file_path(char *buf, size_t n, kb_cache *c, const kb_key *id)
{
	char hex[KB_KEY_HEXLEN + 1];

	if (id) {
		kb_key_to_hex(hex, id);
		snprintf(buf, n, "%s/base/%s", c->dir, hex);
	} else {
		snprintf(buf, n, "%s/base", c->dir);
	}
}

/* Meta key of the XXH3-128 and size of the base file of id, recorded by the put
 * that wrote the file: writers check the file against it (a few ms) before using it. */
static void base_file_sum_key(char *buf, size_t n, const kb_key *id)
{
	char hex[KB_KEY_HEXLEN + 1];

	kb_key_to_hex(hex, id);
	snprintf(buf, n, "basefile:%s", hex);
}

void kb_cache__base_file_forget(kb_cache *c, MDB_txn *t, const kb_key *id)
{
	char name[80];
	MDB_val k;

	base_file_sum_key(name, sizeof(name), id);
	k.mv_size = strlen(name);
	k.mv_data = name;
	mdb_del(t, c->meta, &k, NULL);
}

int kb_cache__base_file_sum_put(kb_cache *c, MDB_txn *t, const kb_key *id,
				const uint8_t sum[24])
{
	char name[80];
	MDB_val mk, mv = { 24, (void *)sum };

	base_file_sum_key(name, sizeof(name), id);
	mk.mv_size = strlen(name);
	mk.mv_data = name;
	return kb_cache__mdb(c, mdb_put(t, c->meta, &mk, &mv, 0), "cannot record a delta base");
}

void kb_cache__base_file_remove(kb_cache *c, const kb_key *id)
{
	char path[4200];

	kb_cache__base_file_path(path, sizeof(path), c, id);
	unlink(path);
}

/* Map the base file of id when it has the expected size; NULL otherwise. */
uint8_t *kb_cache__base_file_map(kb_cache *c, const kb_key *id, uint64_t size, int *linked)
{
	char path[4200];
	struct stat st;
	void *p;
	int fd;

	kb_cache__base_file_path(path, sizeof(path), c, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ||
	    size == 0) {
		close(fd);
		return NULL;
	}
	if (linked)
		*linked = st.st_nlink > 1; /* a link to the input of its put (or a copy of it) */
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Does the mapped base file of id match the XXH3-128 recorded by the put that wrote
 * it? 1 yes, 0 no, -1 nothing recorded (a cache of an older kbisect). */
int kb_cache__base_file_sum_ok(kb_cache *c, const kb_key *id, const uint8_t *map, uint64_t size)
{
	uint8_t want[24], got[24];
	char name[80];
	MDB_val mk, mv;
	XXH128_hash_t x;
	MDB_txn *t;
	int have = 0;

	base_file_sum_key(name, sizeof(name), id);
	mk.mv_size = strlen(name);
	mk.mv_data = name;
	if (kb_cache__rtxn(c, &t) != 0) {
		kb_error_clear();
		return -1;
	}
	if (mdb_get(t, c->meta, &mk, &mv) == 0 && mv.mv_size == 24) {
		memcpy(want, mv.mv_data, 24);
		have = 1;
	}
	kb_cache__txn_end(c, t);
	if (!have)
		return -1;
	x = XXH3_128bits(map, (size_t)size);
	memcpy(got, &x.low64, 8);
	memcpy(got + 8, &x.high64, 8);
	memcpy(got + 16, &size, 8);
	return memcmp(got, want, 24) == 0;
}

/* Keep the BASE_FILES newest base files, newest being the one of id (just written);
 * drop temporaries of killed writers. */
void kb_cache__base_files_prune(kb_cache *c, const kb_key *id)
{
	char hex[KB_KEY_HEXLEN + 1];
	char dir[4200], path[4600];
	struct { char name[80]; int64_t t; } keep[BASE_FILES + 1];
	size_t nkeep = 0;
	struct dirent *e;
	DIR *d;

	kb_key_to_hex(hex, id);
	kb_cache__base_file_path(dir, sizeof(dir), c, NULL);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		struct stat st;
		int64_t t;
		if (e->d_name[0] == '.' && (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		/* ctime: a link to an input keeps the input's mtime, its ctime is the link */
		t = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
		if (!strcmp(e->d_name, hex))
			t = INT64_MAX; /* times are coarse: never drop the one just written */
		if (e->d_name[0] == '.' || strlen(e->d_name) != KB_KEY_HEXLEN) {
			if (st.st_ctime < time(NULL) - 3600)
				unlink(path); /* a temporary of a writer killed long ago */
			continue;
		}
		/* insert into keep, newest first; what falls off the end is removed */
		size_t i = nkeep < BASE_FILES + 1 ? nkeep++ : BASE_FILES;
		while (i > 0 && keep[i - 1].t < t) {
			keep[i] = keep[i - 1];
			i--;
		}
		snprintf(keep[i].name, sizeof(keep[i].name), "%s", e->d_name);
		keep[i].t = t;
		if (nkeep == BASE_FILES + 1) {
			snprintf(path, sizeof(path), "%s/%s", dir, keep[BASE_FILES].name);
			unlink(path);
			nkeep = BASE_FILES;
		}
	}
	closedir(d);
}
