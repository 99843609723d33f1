/*
 * cache/record_codec.c - build records and test runs as JSON, both directions of
 * both forms (stored in the cache, sent on the wire).
 * Owns: the field names of build records and test runs, the stored form's "v" and key
 * order, the wire form's array of runs and its errors.
 * Not: where records are kept (records.c), key lists and the rest of the wire bodies
 * (net/wire.c), HTTP (net/).
 * DESIGN: jansson; keys are lowercase hex. One encoder and one decoder per record
 * type; the form only changes the framing and how strict the decoder is: what the
 * cache reads back is trusted to have been written by kbisect (a damaged optional
 * field is skipped, as before), while the wire is checked field by field. Unknown
 * fields are ignored in both, so newer writers and peers can add some. The bytes
 * produced are those of the two encoders this file replaces (cache/records.c and
 * net/wire.c at a0d28c4): stores and servers of either side keep working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "record_codec.h"

/* jansson's dump flags of a form. */
static size_t dump_flags(enum kb_rec_form form)
{
	return form == KB_REC_STORED ? JSON_COMPACT | JSON_SORT_KEYS : JSON_COMPACT;
}

static char *dump(json_t *j, enum kb_rec_form form)
{
	char *s;

	if (!j)
		return NULL;
	s = json_dumps(j, dump_flags(form));
	json_decref(j);
	return s;
}

static json_t *key_json(const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	kb_key_to_hex(hex, k);
	return json_string(hex);
}

/* Hex key field of o into out: 0, else KB_ECORRUPT (stored form, no message) or
 * KB_EINVAL naming the field (wire form). */
static int get_key(kb_key *out, json_t *o, const char *field, enum kb_rec_form form)
{
	const char *s = json_string_value(json_object_get(o, field));

	if (s && kb_key_from_hex(out, s) == 0)
		return 0;
	if (form == KB_REC_STORED)
		return KB_ECORRUPT;
	return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
			     "record field '%s' is not a 64-digit hex key; the peer speaks "
			     "another wire format", field);
}

/* Optional hex key field of o: *has = 1 when present and valid; a bad one is skipped
 * in the stored form, KB_EINVAL in the wire form. */
static int opt_key(kb_key *out, int *has, json_t *o, const char *field, enum kb_rec_form form)
{
	if (!json_object_get(o, field))
		return 0;
	if (get_key(out, o, field, form) == 0)
		*has = 1;
	else if (form == KB_REC_WIRE)
		return KB_EINVAL;
	return 0;
}

/* String field of o into buf ("" when missing or not a string). */
static void get_str(char *buf, size_t len, json_t *o, const char *field)
{
	const char *s = json_string_value(json_object_get(o, field));
	snprintf(buf, len, "%s", s ? s : "");
}

/* ---- build records ---- */

static json_t *build_to_json(const kb_build_record *rec)
{
	json_t *o = json_object(), *arts = json_array();

	if (!o || !arts) {
		json_decref(o);
		json_decref(arts);
		return NULL;
	}
	json_object_set_new(o, "build_key", key_json(&rec->build_key));
	json_object_set_new(o, "ok", json_boolean(rec->ok));
	if (rec->has_signature)
		json_object_set_new(o, "signature", key_json(&rec->signature));
	for (size_t i = 0; i < rec->n_artifacts && i < KB_BUILD_MAX_ARTIFACTS; i++) {
		json_t *a = json_object();
		json_object_set_new(a, "name", json_string(rec->artifacts[i].name));
		json_object_set_new(a, "id", key_json(&rec->artifacts[i].id));
		json_array_append_new(arts, a);
	}
	json_object_set_new(o, "artifacts", arts);
	json_object_set_new(o, "duration_s", json_real(rec->duration_s));
	json_object_set_new(o, "host", json_string(rec->host));
	json_object_set_new(o, "time", json_integer(rec->time));
	json_object_set_new(o, "git_tree", json_string(rec->git_tree));
	json_object_set_new(o, "error", json_string(rec->error));
	if (rec->extra_json) {
		json_t *x = json_loads(rec->extra_json, 0, NULL);
		if (x)
			json_object_set_new(o, "extra", x);
	}
	return o;
}

char *kb_cache__rec_build_encode(const kb_build_record *rec, enum kb_rec_form form)
{
	json_t *o = build_to_json(rec);

	if (o && form == KB_REC_STORED)
		json_object_set_new(o, "v", json_integer(1));
	return dump(o, form);
}

/* The artifacts of a build record: the stored form keeps those with a valid id (at
 * most KB_BUILD_MAX_ARTIFACTS), the wire form wants every one valid. */
static int artifacts_from_json(kb_build_record *out, json_t *arts, enum kb_rec_form form)
{
	const int wire = form == KB_REC_WIRE;

	if (!json_is_array(arts)) {
		if (arts && wire)
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
					     "record field 'artifacts' is not an array");
		return 0;
	}
	for (size_t i = 0; i < json_array_size(arts); i++) {
		json_t *a = json_array_get(arts, i);
		if (out->n_artifacts >= KB_BUILD_MAX_ARTIFACTS) {
			if (!wire)
				break;
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
					     "build record has more than %d artifacts",
					     KB_BUILD_MAX_ARTIFACTS);
		}
		get_str(out->artifacts[out->n_artifacts].name,
			sizeof(out->artifacts[0].name), a, "name");
		if (get_key(&out->artifacts[out->n_artifacts].id, a, "id", form) == 0)
			out->n_artifacts++;
		else if (wire)
			return KB_EINVAL;
	}
	return 0;
}

static int build_from_json(kb_build_record *out, json_t *o, enum kb_rec_form form)
{
	json_t *x;
	int rc;

	if ((rc = get_key(&out->build_key, o, "build_key", form)))
		return rc;
	out->ok = json_is_true(json_object_get(o, "ok"));
	if ((rc = opt_key(&out->signature, &out->has_signature, o, "signature", form)) ||
	    (rc = artifacts_from_json(out, json_object_get(o, "artifacts"), form)))
		return rc;
	out->duration_s = json_number_value(json_object_get(o, "duration_s"));
	get_str(out->host, sizeof(out->host), o, "host");
	out->time = (int64_t)json_integer_value(json_object_get(o, "time"));
	get_str(out->git_tree, sizeof(out->git_tree), o, "git_tree");
	get_str(out->error, sizeof(out->error), o, "error");
	if ((x = json_object_get(o, "extra")))
		out->extra_json = json_dumps(x, dump_flags(form));
	return 0;
}

int kb_cache__rec_build_decode(kb_build_record *out, const void *data, size_t len,
			       enum kb_rec_form form)
{
	json_error_t jerr;
	json_t *o = json_loadb(data, len, 0, &jerr);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o)) {
		json_decref(o);
		if (form == KB_REC_STORED)
			return KB_ECORRUPT;
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				     "build record is not a JSON object (%s, line %d); "
				     "the peer speaks another wire format", jerr.text, jerr.line);
	}
	rc = build_from_json(out, o, form);
	json_decref(o);
	return rc;
}

/* ---- test runs ---- */

static json_t *run_to_json(const kb_test_run *run)
{
	json_t *o = json_object();

	json_object_set_new(o, "class", json_string(kb_run_class_name(run->klass)));
	json_object_set_new(o, "title", json_string(run->title));
	json_object_set_new(o, "duration_s", json_real(run->duration_s));
	if (run->has_console)
		json_object_set_new(o, "console", key_json(&run->console));
	json_object_set_new(o, "time", json_integer(run->time));
	return o;
}

/* Run number i of its list (for messages) from o. The stored form reads a class it
 * does not know as KB_RUN_INFRA and skips a bad console key; the wire form wants both
 * valid. */
static int run_from_json(kb_test_run *out, json_t *o, enum kb_rec_form form, size_t i)
{
	const char *cls = json_string_value(json_object_get(o, "class"));
	int k = cls ? kb_run_class_parse(cls) : -1;

	memset(out, 0, sizeof(*out));
	if (form == KB_REC_WIRE && (!json_is_object(o) || k < 0))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
				     "test run %zu has no valid 'class'", i);
	if (!json_is_object(o))
		return KB_ECORRUPT;
	out->klass = k < 0 ? KB_RUN_INFRA : k;
	get_str(out->title, sizeof(out->title), o, "title");
	out->duration_s = json_number_value(json_object_get(o, "duration_s"));
	if (opt_key(&out->console, &out->has_console, o, "console", form))
		return KB_EINVAL;
	out->time = (int64_t)json_integer_value(json_object_get(o, "time"));
	return 0;
}

char *kb_cache__rec_run_encode(const kb_test_run *run)
{
	return dump(run_to_json(run), KB_REC_STORED);
}

int kb_cache__rec_run_decode(kb_test_run *out, const void *data, size_t len)
{
	json_t *o = json_loadb(data, len, 0, NULL);
	int rc = run_from_json(out, o, KB_REC_STORED, 0);

	json_decref(o);
	return rc;
}

char *kb_cache__rec_runs_encode(const kb_test_run *runs, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, run_to_json(&runs[i]));
	return dump(a, KB_REC_WIRE);
}

int kb_cache__rec_array_load(json_t **arr, void **items, size_t *cnt, size_t size,
			     const void *data, size_t len, const char *not_array,
			     const char *what)
{
	json_t *a = json_loadb(data, len, 0, NULL);

	*arr = NULL;
	*items = NULL;
	*cnt = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "%s", not_array);
	}
	*cnt = json_array_size(a);
	*items = calloc(*cnt ? *cnt : 1, size);
	if (!*items) {
		json_decref(a);
		return kb_error_os("cannot allocate %zu %s", *cnt, what);
	}
	*arr = a;
	return 0;
}

int kb_cache__rec_runs_decode(kb_test_run **out, size_t *n, const void *data, size_t len)
{
	json_t *a;
	void *items;
	kb_test_run *runs;
	size_t cnt;
	int lrc;

	*out = NULL;
	*n = 0;
	lrc = kb_cache__rec_array_load(&a, &items, &cnt, sizeof(*runs), data, len,
				       "test runs are not a JSON array; the peer speaks "
				       "another wire format", "test runs");
	if (lrc)
		return lrc;
	runs = items;
	for (size_t i = 0; i < cnt; i++) {
		int rc = run_from_json(&runs[i], json_array_get(a, i), KB_REC_WIRE, i);
		if (rc) {
			free(runs);
			json_decref(a);
			return rc;
		}
	}
	json_decref(a);
	*out = runs;
	*n = cnt;
	return 0;
}
