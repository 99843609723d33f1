/*
 * bisect/engine_nodes.c - what the engine is told about commits besides their names:
 * the repository's words for each (subject, author, date: kb_engine_set_node_info(),
 * for the log's commit header, the text result, the JSON and the HTML report) and the
 * commits never to test (kb_engine_skip_node(): --skip, outside a pathspec).
 * Owns: those per-node records.
 * Not: names and merges (engine.c, kb_engine_set_node()), what a skip means to the
 * choice of tests (a skipped commit is recorded as one that does not build).
 */
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "engine_internal.h"

/* a copy of s into *dst (NULL stays NULL); 0 or -1 (memory) */
static int set_text(char **dst, const char *s)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

int kb_engine_set_node_info(kb_engine *e, size_t node, const char *subject, const char *author,
			    const char *date)
{
	if (!e || node >= e->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine node %zu out of range", node);
	if (!e->info && !(e->info = calloc(e->n, sizeof(*e->info))))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for commit details");
	if (set_text(&e->info[node].subject, subject) || set_text(&e->info[node].author, author) ||
	    set_text(&e->info[node].date, date))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for commit details");
	return 0;
}

void kb_engine_node_info(const kb_engine *e, size_t node, const char **subject,
			 const char **author, const char **date)
{
	const struct node_info *in = e && e->info && node < e->n ? &e->info[node] : NULL;

	if (subject)
		*subject = in ? in->subject : NULL;
	if (author)
		*author = in ? in->author : NULL;
	if (date)
		*date = in ? in->date : NULL;
}

int kb_engine_skip_node(kb_engine *e, size_t node)
{
	if (!e || node >= e->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine node %zu out of range", node);
	if (node == e->opt.bad)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "cannot skip the %s commit "
				     "%s: the bisection starts by testing it; give another %s",
				     e->opt.fix ? "crashing" : "bad", kb_engine_node_name(e, node),
				     e->opt.fix ? "--crashing" : "--bad");
	if (e->opt.fix && node == e->n - 1)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "cannot skip the fixed commit "
				     "%s: fix bisection checks it first; give another --fixed",
				     kb_engine_node_name(e, node));
	e->rec[node].built = -1; /* never chosen, as a commit that does not build */
	e->rec[node].skipped = 1;
	return kb_model_set_untestable(e->m, node, 1);
}

int kb_engine_is_skipped(const kb_engine *e, size_t node)
{
	return e && node < e->n && e->rec[node].skipped;
}
