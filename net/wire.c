/*
 * net/wire.c - JSON wire format of kbisect's records between the shared cache server
 * (net/server.c) and its client (net/remote.c).
 * Owns: the field names of build records, test runs and key lists on the wire.
 * Not: the on-disk format of records (cache/records.c).
 * DESIGN: jansson; keys are lowercase hex; unknown fields are ignored so newer peers
 * can add some; a missing required field or a bad key is KB_EINVAL naming the field.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "cache/cache_internal.h"
#include "server_internal.h"

static json_t *hexkey(const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key_to_hex(hex, k);
	return json_string(hex);
}

static int get_key(kb_key *out, json_t *o, const char *field)
{
	const char *s = json_string_value(json_object_get(o, field));
	if (!s || kb_key_from_hex(out, s) != 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				     "record field '%s' is not a 64-digit hex key; "
				     "the peer speaks another wire format", field);
	return 0;
}

static void get_str(char *buf, size_t len, json_t *o, const char *field)
{
	const char *s = json_string_value(json_object_get(o, field));
	snprintf(buf, len, "%s", s ? s : "");
}

static char *dump(json_t *j)
{
	char *s;
	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

char *kb_cache__wire_build_encode(const kb_build_record *rec)
{
	return dump(kb_cache__build_json(rec)); /* the stored fields, without "v" */
}

int kb_cache__wire_build_decode(kb_build_record *out, const char *json, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(json, len, 0, &jerr), *arts, *x;
	int rc = KB_EINVAL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o)) {
		json_decref(o);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				     "build record is not a JSON object (%s, line %d); "
				     "the peer speaks another wire format", jerr.text, jerr.line);
	}
	if (get_key(&out->build_key, o, "build_key") != 0)
		goto out;
	out->ok = json_is_true(json_object_get(o, "ok"));
	if (json_object_get(o, "signature")) {
		if (get_key(&out->signature, o, "signature") != 0)
			goto out;
		out->has_signature = 1;
	}
	arts = json_object_get(o, "artifacts");
	if (arts && !json_is_array(arts)) {
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "record field 'artifacts' is not an array");
		goto out;
	}
	for (size_t i = 0; arts && i < json_array_size(arts); i++) {
		json_t *a = json_array_get(arts, i);
		if (i >= KB_BUILD_MAX_ARTIFACTS) {
			kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				      "build record has more than %d artifacts", KB_BUILD_MAX_ARTIFACTS);
			goto out;
		}
		get_str(out->artifacts[i].name, sizeof(out->artifacts[i].name), a, "name");
		if (get_key(&out->artifacts[i].id, a, "id") != 0)
			goto out;
		out->n_artifacts = i + 1;
	}
	out->duration_s = json_number_value(json_object_get(o, "duration_s"));
	get_str(out->host, sizeof(out->host), o, "host");
	out->time = (int64_t)json_integer_value(json_object_get(o, "time"));
	get_str(out->git_tree, sizeof(out->git_tree), o, "git_tree");
	get_str(out->error, sizeof(out->error), o, "error");
	x = json_object_get(o, "extra");
	if (x)
		out->extra_json = json_dumps(x, JSON_COMPACT);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

char *kb_cache__wire_runs_encode(const kb_test_run *runs, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "class", json_string(kb_run_class_name(runs[i].klass)));
		json_object_set_new(o, "title", json_string(runs[i].title));
		json_object_set_new(o, "duration_s", json_real(runs[i].duration_s));
		if (runs[i].has_console)
			json_object_set_new(o, "console", hexkey(&runs[i].console));
		json_object_set_new(o, "time", json_integer(runs[i].time));
		json_array_append_new(a, o);
	}
	return dump(a);
}

int kb_cache__wire_runs_decode(kb_test_run **out, size_t *n, const char *json, size_t len)
{
	json_error_t jerr;
	json_t *a = json_loadb(json, len, 0, &jerr);
	kb_test_run *runs = NULL;
	size_t cnt;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				     "test runs are not a JSON array; the peer speaks another "
				     "wire format");
	}
	cnt = json_array_size(a);
	runs = calloc(cnt ? cnt : 1, sizeof(*runs));
	if (!runs) {
		json_decref(a);
		return kb_error_os("cannot allocate %zu test runs", cnt);
	}
	for (size_t i = 0; i < cnt; i++) {
		json_t *o = json_array_get(a, i);
		const char *cls = json_string_value(json_object_get(o, "class"));
		int k = cls ? kb_run_class_parse(cls) : -1;
		if (!json_is_object(o) || k < 0) {
			free(runs);
			json_decref(a);
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
					     "test run %zu has no valid 'class'", i);
		}
		runs[i].klass = k;
		get_str(runs[i].title, sizeof(runs[i].title), o, "title");
		runs[i].duration_s = json_number_value(json_object_get(o, "duration_s"));
		if (json_object_get(o, "console")) {
			if (get_key(&runs[i].console, o, "console") != 0) {
				free(runs);
				json_decref(a);
				return KB_EINVAL;
			}
			runs[i].has_console = 1;
		}
		runs[i].time = (int64_t)json_integer_value(json_object_get(o, "time"));
	}
	json_decref(a);
	*out = runs;
	*n = cnt;
	return 0;
}

char *kb_cache__wire_keys_encode(const kb_key *keys, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, hexkey(&keys[i]));
	return dump(a);
}

int kb_cache__wire_keys_decode(kb_key **out, size_t *n, const char *json, size_t len)
{
	json_t *a = json_loadb(json, len, 0, NULL);
	kb_key *keys;
	size_t cnt;

	*out = NULL;
	*n = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "key list is not a JSON array");
	}
	cnt = json_array_size(a);
	keys = calloc(cnt ? cnt : 1, sizeof(*keys));
	if (!keys) {
		json_decref(a);
		return kb_error_os("cannot allocate %zu keys", cnt);
	}
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
