/*
 * net/wire.c - the bodies of the shared cache's kbisect routes between the server
 * (net/server.c) and its client (net/remote.c).
 * Owns: key lists on the wire, which uploaded test runs are new (dedup on the server).
 * Not: the fields of build records and test runs, in either direction: the cache's one
 * codec (cache/record_codec.c, wire form) encodes and decodes them; the functions below
 * only name it for net/.
 * DESIGN: jansson; keys are lowercase hex; unknown fields are ignored so newer peers
 * can add some; a missing required field or a bad key is KB_EINVAL naming the field.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache/record_codec.h"
#include "common/error_internal.h"
#include "kbisect/common.h"
#include "wire.h"

static json_t *hexkey(const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key_to_hex(hex, k);
	return json_string(hex);
}

char *kb_cache__wire_build_encode(const kb_build_record *rec)
{
	return kb_cache__rec_build_encode(rec, KB_REC_WIRE);
}

int kb_cache__wire_build_decode(kb_build_record *out, const char *json, size_t len)
{
	return kb_cache__rec_build_decode(out, json, len, KB_REC_WIRE);
}

char *kb_cache__wire_runs_encode(const kb_test_run *runs, size_t n)
{
	return kb_cache__rec_runs_encode(runs, n);
}

int kb_cache__wire_runs_decode(kb_test_run **out, size_t *n, const char *json, size_t len)
{
	return kb_cache__rec_runs_decode(out, n, json, len);
}

char *kb_cache__wire_keys_encode(const kb_key *keys, size_t n)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, hexkey(&keys[i]));
	if (!a)
		return NULL;
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

int kb_cache__wire_keys_decode(kb_key **out, size_t *n, const char *json, size_t len)
{
	json_t *a;
	void *items;
	kb_key *keys;
	size_t cnt;
	int lrc;

	*out = NULL;
	*n = 0;
	lrc = kb_cache__rec_array_load(&a, &items, &cnt, sizeof(*keys), json, len,
				       "key list is not a JSON array", "keys");
	if (lrc)
		return lrc;
	keys = items;
	for (size_t i = 0; i < cnt; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (!s || kb_key_from_hex(&keys[i], s) != 0) {
			free(keys);
			json_decref(a);
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
					     "key %zu of the list is not 64 hex digits", i);
		}
	}
	json_decref(a);
	*out = keys;
	*n = cnt;
	return 0;
}

int kb_cache__wire_run_equal(const kb_test_run *a, const kb_test_run *b)
{
	return a->klass == b->klass && !strcmp(a->title, b->title) && a->time == b->time &&
	       a->has_console == b->has_console &&
	       (!a->has_console || kb_key_equal(&a->console, &b->console)) &&
	       (a->duration_s - b->duration_s < 1e-6 && b->duration_s - a->duration_s < 1e-6);
}

/* One run in the combined, sorted list of kb_cache__wire_runs_new(). */
struct run_ref {
	const kb_test_run *r;
	size_t idx;        /* index in its array */
	int have;          /* 1: stored already */
};

/* Total order over every field run_equal compares, the duration last, so that runs
 * equal under kb_cache__wire_run_equal() end up next to each other. */
static int run_ref_cmp(const void *pa, const void *pb)
{
	const struct run_ref *a = pa, *b = pb;
	int c;

	if (a->r->klass != b->r->klass)
		return a->r->klass < b->r->klass ? -1 : 1;
	if (a->r->time != b->r->time)
		return a->r->time < b->r->time ? -1 : 1;
	if (a->r->has_console != b->r->has_console)
		return a->r->has_console < b->r->has_console ? -1 : 1;
	if (a->r->has_console && (c = memcmp(a->r->console.b, b->r->console.b, 32)) != 0)
		return c;
	if ((c = strcmp(a->r->title, b->r->title)) != 0)
		return c;
	if (a->r->duration_s != b->r->duration_s)
		return a->r->duration_s < b->r->duration_s ? -1 : 1;
	if (a->have != b->have)
		return a->have ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int kb_cache__wire_runs_new(unsigned char *keep, const kb_test_run *in, size_t n_in,
			    const kb_test_run *have, size_t n_have)
{
	struct run_ref *v;
	size_t n = n_in + n_have;

	memset(keep, 0, n_in);
	if (n_in == 0)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return kb_error_os("cannot sort %zu test runs", n);
	for (size_t i = 0; i < n_have; i++)
		v[i] = (struct run_ref){ &have[i], i, 1 };
	for (size_t i = 0; i < n_in; i++)
		v[n_have + i] = (struct run_ref){ &in[i], i, 0 };
	qsort(v, n, sizeof(*v), run_ref_cmp);
	/* a group of equal runs: stored ones sort first; keep the first new one only
	 * when none is stored */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && kb_cache__wire_run_equal(v[j - 1].r, v[j].r))
			j++;
		if (!v[i].have) {
			size_t first = v[i].idx;
			for (size_t k = i + 1; k < j; k++)
				if (!v[k].have && v[k].idx < first)
					first = v[k].idx;
			keep[first] = 1;
		}
		i = j;
	}
	free(v);
	return 0;
}
