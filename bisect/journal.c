/*
 * bisect/journal.c - the journal of a real bisection: the choices of each round (commit,
 * runs, worker), appended to <cache>/journals/<key>.jsonl and, with a shared cache
 * server, stored there under /ac/<key>, so that an identical bisection (same range,
 * config, reproducer, command line, engine options) replays them.
 * Owns: the journal's key and path, reading it (cutting a damaged tail), the engine's
 * replay and record callbacks.
 * Not: what a replayed round does (bisect/engine.c), the builds and tests (oracle.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "oracle_internal.h"

/* Key of a bisection: everything its choices depend on (range, config, reproducer,
 * command line, engine options). */
void kb_oracle__journal_path(kb_oracle *o, const kb_engine_opts *eo)
{
	char text[8192], hex[KB_KEY_HEXLEN + 1], cfg[KB_KEY_HEXLEN + 1] = "", rep[KB_KEY_HEXLEN + 1];
	const kb_oracle_opts *a = &o->a;
	kb_key k;
	size_t len = 0, n = kb_gitdag_size(o->dag);

	if (kb_sha256_file(&k, a->config) == 0)
		kb_key_to_hex(cfg, &k);
	else
		kb_error_clear();
	kb_key_to_hex(rep, &o->repro_key);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"kbisect-journal-1\nbad %s\nnodes %zu\nconfig %s\nrepro %s\n"
				"cmdline %s\nbuild-cmd %s\nimage %s\nworkers %u runs %u calib %u "
				"confidence %.6f any %d title %s\n",
				kb_gitdag_id(o->dag, n - 1), n, cfg, rep, a->cmdline ? a->cmdline : "",
				a->build_cmd ? a->build_cmd : "", a->image ? a->image : "",
				eo->workers, eo->runs_per_test, eo->calib_runs, eo->confidence,
				eo->any_crash, eo->target_title ? eo->target_title : "");
	if (eo->fix) /* fix bisection (issue 22): its own journal; cause keys unchanged */
		len += (size_t)snprintf(text + len, sizeof(text) - len, "mode fix crashing %s\n",
					kb_gitdag_id(o->dag, eo->bad));
	for (size_t i = 0; i < n && len < sizeof(text) - 64; i += n > 64 ? n / 64 : 1)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
					kb_gitdag_id(o->dag, i)); /* a sample of the range */
	kb_sha256(&k, text, len);
	o->journal_key = k;
	kb_key_to_hex(hex, &k);
	snprintf(o->journal, sizeof(o->journal), "%s/journals", a->cache_dir);
	mkdir(o->journal, 0755);
	snprintf(o->journal, sizeof(o->journal), "%s/journals/%.32s.jsonl", a->cache_dir, hex);
}

/* the same bisection on another build server: its journal, from the shared cache
 * (/ac/<journal key>), so this one makes the same choices; the open file or NULL */
static FILE *journal_from_remote(kb_oracle *o)
{
	FILE *f = NULL;
	kb_key id;

	if (kb_cache_ref_get(&id, o->cache, KB_REF_AC, &o->journal_key) == 0 &&
	    kb_cache_get_file(o->cache, &id, o->journal) == 0) {
		kb_oracle__log(o, "journal of this bisection from the shared cache server: %s",
			       o->journal);
		f = fopen(o->journal, "r");
	}
	kb_error_clear();
	return f;
}

/* read the journal (one JSON object per round); a damaged line ends it there and is
 * cut off, with what follows, so that new rounds append to the good part */
void kb_oracle__journal_load(kb_oracle *o)
{
	FILE *f = fopen(o->journal, "r");
	char line[16384];
	long good = 0;
	int damaged = 0;

	o->replay = json_array();
	if (!f && o->remote)
		f = journal_from_remote(o);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		if (!j || !json_is_array(json_object_get(j, "tests")) ||
		    json_integer_value(json_object_get(j, "round")) !=
			    (json_int_t)json_array_size(o->replay) + 1) {
			json_decref(j);
			damaged = 1;
			break;
		}
		json_array_append_new(o->replay, j);
		good = ftell(f);
	}
	fclose(f);
	if (damaged) {
		kb_oracle__log(o, "journal %s is damaged after round %zu; replaying up to there "
			       "and cutting the rest", o->journal, json_array_size(o->replay));
		if (truncate(o->journal, good) != 0)
			o->journal[0] = '\0'; /* cannot repair: record nothing more */
	}
}

int kb_oracle__journal_replay(void *ctx, unsigned round, kb_engine_request *rq, size_t *n)
{
	kb_oracle *o = ctx;
	json_t *j = json_array_get(o->replay, round - 1), *t;
	size_t i, k = 0;

	if (!j)
		return 0;
	json_array_foreach(json_object_get(j, "tests"), i, t) {
		const char *id = json_string_value(json_object_get(t, "commit"));
		size_t node = SIZE_MAX;
		if (!id || k == 64)
			return 0;
		for (size_t c = 0; c < kb_gitdag_size(o->dag); c++)
			if (!strcmp(kb_gitdag_id(o->dag, c), id)) {
				node = c;
				break;
			}
		if (node == SIZE_MAX)
			return 0;
		rq[k].node = node;
		rq[k].runs = (unsigned)json_integer_value(json_object_get(t, "runs"));
		rq[k].worker = (unsigned)json_integer_value(json_object_get(t, "worker"));
		k++;
	}
	*n = k;
	return 1;
}

/* the journal's file for the same bisection on other build servers */
static void journal_to_remote(kb_oracle *o)
{
	kb_put_opts po = { .kind = KB_OBJ_BLOB };
	kb_key id;

	if (kb_cache_put_file(&id, o->cache, o->journal, &po) == 0)
		kb_cache_ref_set(o->cache, KB_REF_AC, &o->journal_key, &id);
	kb_error_clear();
}

void kb_oracle__journal_record(void *ctx, unsigned round, const kb_engine_request *rq, size_t n)
{
	kb_oracle *o = ctx;
	json_t *j, *tests;
	char *line;
	FILE *f;

	if (round <= json_array_size(o->replay))
		return; /* replayed: already in the journal */
	if (round != json_array_size(o->replay) + 1)
		return; /* a gap (an earlier round was not recorded): keep the journal as is */
	tests = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(tests, json_pack("{s:s, s:i, s:i}", "commit",
						       kb_gitdag_id(o->dag, rq[i].node), "runs",
						       (int)rq[i].runs, "worker", (int)rq[i].worker));
	j = json_pack("{s:i, s:o}", "round", (int)round, "tests", tests);
	line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	f = line && o->journal[0] ? fopen(o->journal, "a") : NULL;
	if (f) {
		int ok = fprintf(f, "%s\n", line) > 0;
		ok = fclose(f) == 0 && ok;
		json_array_append(o->replay, j);
		if (ok && o->remote)
			journal_to_remote(o);
	}
	free(line);
	json_decref(j);
}
