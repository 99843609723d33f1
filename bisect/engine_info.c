/*
 * bisect/engine_info.c - what the bisection engine keeps for its reports only: the runs
 * of every test (class, title, console) and the times its evidence was produced, the
 * commit info the oracle hands over (subject, author, date), the commit URL pattern.
 * Owns: that storage and its setters (kb_engine_set_node_info, kb_engine_set_commit_url).
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
	for (size_t i = 0; i < e->n; i++) {
		if (e->subject)
			free(e->subject[i]);
		if (e->author)
			free(e->author[i]);
		if (e->date)
			free(e->date[i]);
	}
	free(e->subject), free(e->author), free(e->date), free(e->commit_url);
	e->subject = e->author = e->date = NULL, e->commit_url = NULL;
}

/* (*arr)[node] = a copy of s (arr allocated on first use); 0 or an error */
static int set_str(char ***arr, size_t n, size_t node, const char *s)
{
	char *d;

	if (!s)
		return 0;
	if (!*arr && !(*arr = calloc(n, sizeof(**arr))))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for commit info");
	if (!(d = strdup(s)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for commit info");
	free((*arr)[node]);
	(*arr)[node] = d;
	return 0;
}

int kb_engine_set_node_info(kb_engine *e, size_t node, const char *subject,
			    const char *author, const char *date)
{
	int rc;

	if (!e || node >= e->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine node %zu out of range", node);
	if ((rc = set_str(&e->subject, e->n, node, subject)) != 0 ||
	    (rc = set_str(&e->author, e->n, node, author)) != 0)
		return rc;
	return set_str(&e->date, e->n, node, date);
}

const char *kb_engine_node_subject(const kb_engine *e, size_t node)
{
	return e && e->subject && node < e->n ? e->subject[node] : NULL;
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
