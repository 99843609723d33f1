/*
 * bisect/journal.c - the journal of a real bisection: the choices of each round (commit,
 * runs, worker), appended to <cache>/journals/<key>.jsonl and, with a shared cache
 * server, stored there under /ac/<key>, so that an identical bisection (same range,
 * config, reproducer, command line, engine options) replays them.
 * Owns: the journal's key and path, reading it (cutting a damaged tail), the engine's
 * replay and record callbacks; the times each test's evidence was produced at, recorded
 * with its round and handed back to the engine when a replay takes it from the cache.
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

/* the times a test's evidence was produced at, in a journal line (seconds on the clock
 * of the bisection that produced them) */
static const char *const time_keys[4] = { "build_start", "build_end", "test_start",
					  "test_end" };

/* x rounded to 0.01 (x >= 0) */
static double cents(double x)
{
	return (double)(long long)(x * 100 + 0.5) / 100;
}

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
	if (a->journal_extra && len < sizeof(text) - 64) /* --skip, pathspec */
		len += (size_t)snprintf(text + len, sizeof(text) - 64 - len, "%s\n",
					a->journal_extra);
	if (len > sizeof(text) - 64)
		len = sizeof(text) - 64;
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

	o->cur_round = round; /* called once per round: the round the next execute() runs */
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
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_pack("{s:s, s:i, s:i}", "commit", kb_gitdag_id(o->dag, rq[i].node),
				      "runs", (int)rq[i].runs, "worker", (int)rq[i].worker);
		if (t && o->rec_times && o->rec_n == n) /* when its evidence was produced */
			for (int k = 0; k < 4; k++)
				json_object_set_new(t, time_keys[k],
						    json_real(cents(o->rec_times[i][k])));
		json_array_append_new(tests, t);
	}
	j = json_pack("{s:i, s:o}", "round", (int)round, "tests", tests);
	line = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
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

/* ---- the times the evidence was produced at (the report's timeline) ---- */

void kb_oracle__evidence_clock(kb_oracle *o)
{
	double now = kb_now_s() - o->t0;

	/* replayed rounds handed out the times of the bisection that recorded them: new
	 * work follows them on the timeline, as if this run had gone on from there */
	if (now + o->ev_shift < o->ev_seen)
		o->ev_shift = o->ev_seen - now;
}

/* the times recorded in the journal for the test of commit on worker in the round
 * running now: 1 and t[] filled, else 0 */
static int recorded_times(kb_oracle *o, const kb_engine_request *rq, double t[4])
{
	json_t *j = o->cur_round ? json_array_get(o->replay, o->cur_round - 1) : NULL, *x;
	const char *id = kb_gitdag_id(o->dag, rq->node);
	size_t i;

	json_array_foreach(json_object_get(j, "tests"), i, x) {
		const char *c = json_string_value(json_object_get(x, "commit"));
		if (!c || strcmp(c, id) ||
		    json_integer_value(json_object_get(x, "worker")) != (json_int_t)rq->worker)
			continue;
		for (int k = 0; k < 4; k++) {
			json_t *v = json_object_get(x, time_keys[k]);
			if (!json_is_number(v))
				return 0; /* a journal of before times were recorded */
			t[k] = json_number_value(v);
		}
		return 1;
	}
	return 0;
}

void kb_oracle__evidence_times(kb_oracle *o, const kb_engine_request *rq, size_t n,
			       kb_engine_outcome *out)
{
	double (*rt)[4] = realloc(o->rec_times, (n ? n : 1) * sizeof(*rt));

	if (rt)
		o->rec_times = rt, o->rec_n = n;
	else
		o->rec_n = 0;
	for (size_t i = 0; i < n; i++) {
		kb_engine_outcome *oc = &out[i];
		double t[4];
		/* nothing built and no run made now: the evidence is the cache's, and the
		 * journal of the bisection that made it knows when */
		int cached = oc->how != KB_COST_BUILD && oc->test_end == oc->test_start;
		if (!(cached && recorded_times(o, &rq[i], t))) {
			t[0] = oc->build_start + o->ev_shift, t[1] = oc->build_end + o->ev_shift;
			t[2] = oc->test_start + o->ev_shift, t[3] = oc->test_end + o->ev_shift;
		}
		for (int k = 0; k < 4; k++) /* as the journal keeps them: a replay draws the same */
			t[k] = cents(t[k] > 0 ? t[k] : 0);
		oc->has_evidence_times = 1;
		oc->ev_build_start = t[0], oc->ev_build_end = t[1];
		oc->ev_test_start = t[2], oc->ev_test_end = t[3];
		for (int k = 0; k < 4; k++)
			if (t[k] > o->ev_seen)
				o->ev_seen = t[k];
		if (rt)
			memcpy(rt[i], t, sizeof(t));
	}
}
