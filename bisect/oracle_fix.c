/*
 * bisect/oracle_fix.c - the real oracle's part of fix bisection (issue 22): the range
 * from the crashing commit (itself a node) to the fixed one on a model in fix mode,
 * the release walk forward (--find-fixed), and dropping the journal of a bisection
 * that stopped on bad input.
 * Owns: kb_oracle_fix_range(), kb_oracle_find_fixed(), kb_oracle_forget_journal().
 * Not: the cause range and engine wiring (oracle.c), the release walk back
 * (releases.c), the repository queries (bisect/gitdag_fix.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "oracle_internal.h"

#define RELEASES_TRIED 8

int kb_oracle_fix_range(kb_oracle *o, const char *crashing, size_t *crash_node)
{
	char **par = NULL, hex[41];
	size_t np = 0, n;
	kb_model *m = NULL;
	kb_model_opts mo = { .fix = 1 };
	int rc;

	*crash_node = SIZE_MAX;
	if ((rc = kb_gitdag_fix_ends(&par, &np, hex, o->a.repo, crashing, o->a.bad)) != 0)
		return rc;
	rc = kb_oracle_range(o, (const char *const *)par, np);
	kb_gitdag_tags_free(par, np);
	if (rc)
		return rc;
	/* the same DAG, its model in fix mode */
	if ((rc = kb_gitdag_model(&m, o->dag, &mo)) != 0)
		return rc;
	kb_model_free(o->m);
	o->m = m;
	n = kb_gitdag_size(o->dag);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kb_gitdag_id(o->dag, i), hex))
			*crash_node = i;
	if (*crash_node == SIZE_MAX || *crash_node == n - 1)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "crashing commit %s is not in the walk to %s; give --fixed a "
				     "descendant of --crashing", hex, o->a.bad);
	kb_oracle__log(o, "fix bisection: %zu commits from crashing %s to fixed %s", n, hex,
		       kb_gitdag_id(o->dag, n - 1));
	return 0;
}

int kb_oracle_find_fixed(char **fixed_out, kb_oracle *o, const kb_engine_opts *eo,
			 const char *crashing)
{
	char **tags = NULL;
	size_t n = 0;
	unsigned runs = eo->calib_runs ? eo->calib_runs :
			2 * (eo->runs_per_test ? eo->runs_per_test : 10);
	kb_engine_outcome *oc = calloc(1, sizeof(*oc));
	int rc;

	*fixed_out = NULL;
	if (!oc)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	if (runs > KB_ENGINE_MAX_RUNS)
		runs = KB_ENGINE_MAX_RUNS;
	if ((rc = kb_gitdag_release_tags_after(&tags, &n, o->a.repo, crashing)) != 0) {
		free(oc);
		return rc;
	}
	for (size_t i = 0; i < n && i < RELEASES_TRIED && !*fixed_out && !rc; i++) {
		kb_build_job j = { .builder = o->builders[0], .rev = tags[i] };
		kb_oracle__log(o, "testing release %s", tags[i]);
		if ((rc = kb_oracle__build_rev(o, &j)) != 0) /* here, or a Slurm job */
			break;
		if (!j.res.ok) {
			kb_oracle__log(o, "release %s does not build; trying a newer one", tags[i]);
			continue;
		}
		memset(oc, 0, sizeof(*oc));
		if ((rc = kb_oracle__test_kernel(o, &j.res, runs, oc)) != 0)
			break;
		if (kb_oracle__target_crashes(o, eo, oc) == 0 && oc->n_runs > 0)
			*fixed_out = strdup(tags[i]);
		else
			kb_oracle__log(o, "release %s still crashes; trying a newer one", tags[i]);
	}
	kb_gitdag_tags_free(tags, n);
	free(oc);
	if (rc)
		return rc;
	if (!*fixed_out)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT,
				     "no release tag above '%s' ran clean (of %zu tried); give "
				     "--fixed explicitly", crashing, n < RELEASES_TRIED ? n :
				     (size_t)RELEASES_TRIED);
	o->a.bad = *fixed_out; /* the range ends there */
	kb_oracle__log(o, "fixed release: %s", *fixed_out);
	return 0;
}

void kb_oracle_forget_journal(kb_oracle *o)
{
	if (!o || !o->journal[0])
		return;
	if (unlink(o->journal) == 0)
		kb_oracle__log(o, "journal %s removed: the bisection stopped on bad input",
			       o->journal);
	kb_cache_ref_del(o->cache, KB_REF_AC, &o->journal_key);
	kb_error_clear();
}
