/*
 * tests/bisect/test_engine_log.c - the engine's log in syzbot's bisect.txt shape and
 * the commits it is told to skip, on simulated bisections: "# git bisect" verdicts, the
 * culprit with its commit header (kb_engine_set_node_info()), signatures and totals;
 * kb_engine_skip_node() commits are never tested and are listed in the JSON.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "kbisect/engine.h"
#include "kbisect/simulate.h"

/* the simulator's oracle, watched: which nodes were executed, and the log */
struct watch {
	kb_engine_oracle inner;
	unsigned char executed[4096];
	char *log;
	size_t len, cap;
};

static int watch_exec(void *ctx, const kb_engine_request *rq, size_t n, kb_engine_outcome *out)
{
	struct watch *w = ctx;
	for (size_t i = 0; i < n; i++)
		w->executed[rq[i].node] = 1;
	return w->inner.execute(w->inner.ctx, rq, n, out);
}

static int watch_cost(void *ctx, size_t node, int *kind)
{
	struct watch *w = ctx;
	return w->inner.cost(w->inner.ctx, node, kind);
}

static int watch_prefetch(void *ctx, const size_t *nodes, size_t n, unsigned *built)
{
	struct watch *w = ctx;
	return w->inner.prefetch ? w->inner.prefetch(w->inner.ctx, nodes, n, built) : 0;
}

static int watch_signature(void *ctx, size_t node, kb_key *out)
{
	struct watch *w = ctx;
	return w->inner.signature ? w->inner.signature(w->inner.ctx, node, out) : 0;
}

static void watch_log(void *ctx, const char *line)
{
	struct watch *w = ctx;
	size_t n = strlen(line) + 1;
	if (w->len + n + 1 > w->cap) {
		w->cap = (w->len + n + 1) * 2;
		w->log = realloc(w->log, w->cap);
		assert_non_null(w->log);
	}
	memcpy(w->log + w->len, line, n - 1);
	w->len += n;
	w->log[w->len - 1] = '\n';
	w->log[w->len] = '\0';
}

/* 1 when the log has line as a whole line */
static int has_line(const struct watch *w, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = w->log; p && (p = strstr(p, line)); p++)
		if ((p == w->log || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

/* a bisection of n simulated commits with seed; skip[] nodes skipped (SIZE_MAX ends) */
static void run(struct watch *w, kb_engine **e, kb_model **m, kb_sim **s, size_t n,
		unsigned long long seed, const size_t *skip)
{
	kb_sim_opts so = { .n = n, .q = 0.6, .seed = seed };
	kb_engine_oracle o = { 0 };
	kb_engine_opts eo = { .workers = 2 };

	memset(w, 0, sizeof(*w));
	assert_int_equal(kb_sim_new(s, &so), 0);
	assert_int_equal(kb_sim_model(m, *s, NULL), 0);
	kb_sim_oracle(&w->inner, *s, 1);
	o.ctx = w;
	o.execute = watch_exec;
	o.cost = watch_cost;
	o.prefetch = watch_prefetch;
	o.signature = watch_signature;
	o.log = watch_log;
	o.log_ctx = w;
	eo.bad = kb_sim_size(*s) - 1;
	assert_int_equal(kb_engine_new(e, *m, &o, &eo), 0);
	for (size_t i = 0; i < kb_sim_size(*s); i++) {
		char name[48];
		snprintf(name, sizeof(name), "%040zx", i + 1);
		assert_int_equal(kb_engine_set_node(*e, i, name, kb_sim_is_merge(*s, i)), 0);
	}
	assert_int_equal(kb_engine_set_node_info(*e, kb_sim_culprit(*s), "mm: the culprit",
						 "A U Thor <a@example.org>",
						 "Tue Dec 15 20:56:41 2020 +0000"), 0);
	for (size_t i = 0; skip && skip[i] != SIZE_MAX; i++)
		assert_int_equal(kb_engine_skip_node(*e, skip[i]), 0);
	assert_int_equal(kb_engine_run(*e), 0);
}

static void test_bisect_engine_log__syzbot_shape(void **state)
{
	struct watch w;
	kb_engine *e;
	kb_model *m;
	kb_sim *s;
	kb_bisect_result r;
	char line[256];
	const char *c;

	(void)state;
	run(&w, &e, &m, &s, 200, 11, NULL);
	kb_engine_result(&r, e);
	assert_int_equal(r.culprit, kb_sim_culprit(s));
	c = kb_engine_node_name(e, r.culprit);
	snprintf(line, sizeof(line), "bisecting cause commit starting from %s",
		 kb_engine_node_name(e, kb_sim_size(s) - 1));
	assert_true(has_line(&w, line));
	snprintf(line, sizeof(line), "# git bisect bad %s", c);
	assert_true(has_line(&w, line));
	snprintf(line, sizeof(line), "%s is the first bad commit", c);
	assert_true(has_line(&w, line));
	assert_true(has_line(&w, "Author: A U Thor <a@example.org>"));
	assert_true(has_line(&w, "Date:   Tue Dec 15 20:56:41 2020 +0000"));
	assert_true(has_line(&w, "    mm: the culprit"));
	snprintf(line, sizeof(line), "first bad commit: %s mm: the culprit", c);
	assert_true(has_line(&w, line));
	assert_non_null(strstr(w.log, "\nculprit signature: "));
	assert_non_null(strstr(w.log, "\nrevisions tested: "));
	assert_non_null(strstr(w.log, "\n# git bisect good "));
	/* the culprit's verdict line comes once, before it is named */
	assert_true(strstr(w.log, "# git bisect bad ") < strstr(w.log, " is the first bad commit"));
	{
		const char *subject, *author, *date;
		kb_engine_node_info(e, r.culprit, &subject, &author, &date);
		assert_string_equal(subject, "mm: the culprit");
		kb_engine_node_info(e, 0, &subject, &author, &date);
		assert_null(subject);
		assert_null(date);
	}
	free(w.log);
	kb_engine_free(e);
	kb_model_free(m);
	kb_sim_free(s);
}

static void test_bisect_engine_log__skipped_commits_are_never_tested(void **state)
{
	struct watch w;
	kb_engine *e;
	kb_model *m;
	kb_sim *s, *probe;
	kb_sim_opts so = { .n = 200, .q = 0.6, .seed = 12 };
	size_t skip[8], ns = 0, culprit;
	char *js = NULL;
	json_t *o, *sk;

	(void)state;
	assert_int_equal(kb_sim_new(&probe, &so), 0); /* where the culprit is, to skip near it */
	culprit = kb_sim_culprit(probe);
	kb_sim_free(probe);
	for (size_t d = 2; d < 7; d++)
		if (culprit + d < 199)
			skip[ns++] = culprit + d;
	if (culprit >= 3)
		skip[ns++] = culprit - 3;
	skip[ns] = SIZE_MAX;
	run(&w, &e, &m, &s, 200, 12, skip);
	assert_int_equal(kb_sim_culprit(s), culprit);
	for (size_t i = 0; i < ns; i++) {
		assert_false(w.executed[skip[i]]);
		assert_true(kb_engine_is_skipped(e, skip[i]));
	}
	assert_int_equal(kb_engine_json(&js, e), 0);
	o = json_loads(js, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "schema")), 1);
	sk = json_object_get(o, "skipped");
	assert_int_equal(json_array_size(sk), ns);
	for (size_t i = 0; i < json_array_size(json_object_get(o, "tested")); i++) {
		json_t *t = json_array_get(json_object_get(o, "tested"), i);
		const char *cm = json_string_value(json_object_get(t, "commit"));
		for (size_t k = 0; k < ns; k++)
			assert_string_not_equal(cm, kb_engine_node_name(e, skip[k]));
	}
	json_decref(o);
	free(js);
	/* the bad commit cannot be skipped */
	assert_int_equal(kb_engine_skip_node(e, kb_sim_size(s) - 1), KB_EINVAL);
	free(w.log);
	kb_engine_free(e);
	kb_model_free(m);
	kb_sim_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_engine_log__syzbot_shape),
		cmocka_unit_test(test_bisect_engine_log__skipped_commits_are_never_tested),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
