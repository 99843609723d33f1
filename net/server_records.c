/*
 * net/server_records.c - the record routes of the shared cache server: kbisect's build
 * records (/kb/v1/build/), test runs (/kb/v1/test/) and the signature index
 * (/kb/v1/sig/), GET, HEAD and PUT; and the DELETEs (an /ac/ or ccache reference, a
 * build record).
 * Owns: what each of those requests does to the store and which status it answers.
 * Not: the request's life (reading the body, errors, keep-alive: net/server.c), the
 * JSON wire format (net/wire.c), routing (net/server_route.c).
 * DESIGN: a PUT of a build record asks whether one existed (200 or 201) with
 * kb_cache_build_exists(), not a lookup, so it moves no hit or miss in the stats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "kbisect/server.h"
#include "server_priv.h"

enum MHD_Result kb_server__get_record(kb_server *s, struct MHD_Connection *conn,
				      struct req *q)
{
	char *json = NULL;
	enum MHD_Result ret;

	if (q->rt.target == KB_SRV_BUILD) {
		kb_build_record rec;
		if (kb_cache_build_get(&rec, s->cache, &q->rt.key) != 0)
			return kb_server__answer_miss(s, conn, q, "no such build record");
		json = kb_cache__wire_build_encode(&rec);
		kb_build_record_clear(&rec);
	} else if (q->rt.target == KB_SRV_TEST) {
		kb_test_run *runs = NULL;
		size_t n = 0;
		if (kb_cache_test_list(&runs, &n, s->cache, &q->rt.key) != 0 || n == 0) {
			free(runs);
			return kb_server__answer_miss(s, conn, q, "no runs for this test key");
		}
		json = kb_cache__wire_runs_encode(runs, n);
		free(runs);
	} else {
		kb_key *keys = NULL;
		size_t n = 0;
		if (kb_cache_builds_by_signature(&keys, &n, s->cache, &q->rt.key) != 0 || n == 0) {
			free(keys);
			return kb_server__answer_miss(s, conn, q, "no builds with this signature");
		}
		json = kb_cache__wire_keys_encode(keys, n);
		free(keys);
	}
	if (!json)
		return kb_server__answer_error(conn, q, 500, "cannot encode record");
	kb_srv__add(&s->hits, 1);
	kb_srv__add(&s->bytes_out, strlen(json));
	ret = kb_server__answer(conn, q, 200, "application/json",
				q->rt.method == KB_SRV_HEAD ? "" : json,
				q->rt.method == KB_SRV_HEAD ? 0 : strlen(json));
	free(json);
	return ret;
}

enum MHD_Result kb_server__put_record(kb_server *s, struct MHD_Connection *conn,
				      struct req *q)
{
	if (q->rt.target == KB_SRV_BUILD) {
		kb_build_record rec;
		int existed;
		if (kb_cache__wire_build_decode(&rec, q->buf, q->len) != 0)
			return kb_server__answer_error(conn, q, 400, kb_error_last()->message);
		if (!kb_key_equal(&rec.build_key, &q->rt.key)) {
			kb_build_record_clear(&rec);
			return kb_server__answer_error(conn, q, 400, "build_key of the body differs from the path");
		}
		/* 200 or 201; not a lookup: the stats' hits and misses stay as they were */
		existed = kb_cache_build_exists(s->cache, &rec.build_key) == 1;
		if (kb_cache_build_put(s->cache, &rec) != 0) {
			kb_build_record_clear(&rec);
			return kb_server__answer_store_error(s, conn, q, q->len);
		}
		kb_build_record_clear(&rec);
		return kb_server__answer(conn, q, existed ? 200 : 201, "text/plain", "", 0);
	} else {
		kb_test_run *in = NULL, *have = NULL;
		size_t n_in = 0, n_have = 0, added = 0;
		unsigned char *keep;
		char msg[64];
		if (kb_cache__wire_runs_decode(&in, &n_in, q->buf, q->len) != 0)
			return kb_server__answer_error(conn, q, 400, kb_error_last()->message);
		if (kb_cache_test_list(&have, &n_have, s->cache, &q->rt.key) != 0) {
			have = NULL;
			n_have = 0;
		}
		keep = malloc(n_in ? n_in : 1);
		if (!keep || kb_cache__wire_runs_new(keep, in, n_in, have, n_have) != 0) {
			free(keep);
			free(in);
			free(have);
			return kb_server__answer_error(conn, q, 500, "out of memory sorting test runs");
		}
		free(have);
		/* the new runs, in the order sent, packed to the front of in */
		for (size_t i = 0; i < n_in; i++)
			if (keep[i])
				in[added++] = in[i];
		free(keep);
		/* the new runs in one store transaction (one fsync) */
		if (kb_cache_test_add_many(s->cache, &q->rt.key, in, added) != 0) {
			free(in);
			return kb_server__answer_store_error(s, conn, q, q->len);
		}
		free(in);
		snprintf(msg, sizeof(msg), "{\"added\":%zu}", added);
		return kb_server__answer(conn, q, added ? 201 : 200, "application/json", msg, strlen(msg));
	}
}

/* DELETE of an /ac/ or ccache key: the reference goes, the object stays until evicted
 * (another key may point at it). */
enum MHD_Result kb_server__delete_ref(kb_server *s, struct MHD_Connection *conn,
				      struct req *q)
{
	int rc = kb_cache_ref_del(s->cache, KB_REF_AC, &q->rt.key);
	if (rc == KB_ENOTFOUND)
		return kb_server__answer_error(conn, q, 404, "not found");
	if (rc != 0)
		return kb_server__answer_store_error(s, conn, q, 0);
	return kb_server__answer(conn, q, 200, "text/plain", "", 0);
}

/* DELETE /kb/v1/build/<key>: `kbisect cache forget --remote` (a read-write token). */
enum MHD_Result kb_server__delete_build(kb_server *s, struct MHD_Connection *conn,
					struct req *q)
{
	int rc = kb_cache_build_del(s->cache, &q->rt.key);
	if (rc == KB_ENOTFOUND)
		return kb_server__answer_error(conn, q, 404, "not found");
	if (rc != 0)
		return kb_server__answer_store_error(s, conn, q, 0);
	return kb_server__answer(conn, q, 200, "text/plain", "", 0);
}
