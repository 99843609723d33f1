/*
 * bisect/engine_info.c - what the bisection engine keeps for its reports only: the runs
 * of every test (class, title, console) and the times its evidence was produced, the
 * commit URL pattern, the release tag of a fix (commit info is in bisect/engine_nodes.c).
 * Owns: that storage, kb_engine_set_commit_url() and kb_engine_set_release().
 * Not: the evidence itself (bisect/engine.c), the HTML (bisect/engine_html.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "kbisect/html.h"
#include "engine_internal.h"

int kb_engine__span_evidence(kb_engine *e, const kb_engine_outcome *oc)
{
	struct span_ev *ev;
	size_t i = e->n_spans - 1;

	if (e->n_spans == 0)
		return 0;
	if (e->cap_ev < e->n_spans) {
		size_t cap = e->cap_spans > e->n_spans ? e->cap_spans : e->n_spans;
		struct span_ev *p = realloc(e->ev, cap * sizeof(*p));
		if (!p)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the report's runs");
		memset(p + e->cap_ev, 0, (cap - e->cap_ev) * sizeof(*p));
		e->ev = p, e->cap_ev = cap;
	}
	ev = &e->ev[i];
	free(ev->runs);
	memset(ev, 0, sizeof(*ev));
	if (oc->n_runs) {
		size_t n = oc->n_runs < KB_ENGINE_MAX_RUNS ? oc->n_runs : KB_ENGINE_MAX_RUNS;
		ev->runs = malloc(n * sizeof(*ev->runs));
		if (!ev->runs)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the report's runs");
		memcpy(ev->runs, oc->runs, n * sizeof(*ev->runs));
		ev->n_runs = n;
	}
	if (oc->has_evidence_times) {
		ev->has_times = 1;
		ev->build_start = oc->ev_build_start, ev->build_end = oc->ev_build_end;
		ev->test_start = oc->ev_test_start, ev->test_end = oc->ev_test_end;
	}
	return 0;
}

void kb_engine__free_info(kb_engine *e)
{
	for (size_t i = 0; e->ev && i < e->cap_ev; i++)
		free(e->ev[i].runs);
	free(e->ev);
	e->ev = NULL, e->cap_ev = 0;
	free(e->commit_url);
	e->commit_url = NULL;
	free(e->release);
	e->release = NULL;
}

int kb_engine_set_commit_url(kb_engine *e, const char *url)
{
	char why[300], *d = NULL;

	if (!e)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no engine");
	if (url && kb_html_commit_url_check(url, why, sizeof(why)) != 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "%s", why);
	if (url && !(d = strdup(url)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the commit URL");
	free(e->commit_url);
	e->commit_url = d;
	return 0;
}

int kb_engine_set_release(kb_engine *e, const char *tag)
{
	char *d = NULL;

	if (!e)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no engine");
	if (tag && !(d = strdup(tag)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the release tag");
	free(e->release);
	e->release = d;
	return 0;
}
