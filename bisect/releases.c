/*
 * bisect/releases.c - the release walk of `kbisect bisect --find-good`: syzbot's way to
 * a good commit when none is given.
 * Owns: which release tags are tried (below bad, newest first, at most 8) and what
 * makes one good (it builds and no run of the reproducer crashes with the target).
 * Not: listing the tags (bisect/gitdag.c), builds and tests (oracle.c, oracle_test.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "oracle_internal.h"

#define RELEASES_TRIED 8

unsigned kb_oracle__target_crashes(kb_oracle *o, const kb_engine_opts *eo,
				   const kb_engine_outcome *oc)
{
	unsigned crashes = 0;

	for (size_t k = 0; k < oc->n_runs; k++) {
		const char *t = oc->runs[k].title;
		if (oc->runs[k].klass == KB_RUN_CRASH &&
		    (eo->any_crash || !eo->target_title || !strcmp(t, eo->target_title)))
			crashes++;
		kb_oracle__log(o, "run #%zu: %s%s", k,
			       oc->runs[k].klass == KB_RUN_CRASH ? "crashed: " :
			       oc->runs[k].klass == KB_RUN_OK ? "OK" : "infra: ", t);
	}
	return crashes;
}

/* build and test release tag: 0 with *clean set (1: it builds and did not crash) */
static int try_release(kb_oracle *o, const kb_engine_opts *eo, const char *tag,
		       kb_engine_outcome *oc, int *clean)
{
	kb_build_job j = { .builder = o->builders[0], .rev = tag };
	int rc;

	*clean = 0;
	kb_oracle__log(o, "testing release %s", tag);
	if ((rc = kb_oracle__build_rev(o, &j)) != 0) /* here, or a Slurm job */
		return rc;
	if (!j.res.ok) {
		kb_oracle__log(o, "release %s does not build; trying an older one", tag);
		return 0;
	}
	memset(oc, 0, sizeof(*oc));
	rc = kb_oracle__test_kernel(o, &j.res, eo->runs_per_test ? eo->runs_per_test : 10, oc);
	if (rc)
		return rc;
	*clean = kb_oracle__target_crashes(o, eo, oc) == 0;
	return 0;
}

int kb_oracle_find_good(char **good_out, kb_oracle *o, const kb_engine_opts *eo)
{
	char **tags = NULL;
	size_t n = 0;
	int rc;
	kb_engine_outcome *oc = calloc(1, sizeof(*oc));

	*good_out = NULL;
	if (!oc)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	rc = kb_gitdag_release_tags(&tags, &n, o->a.repo, o->a.bad);
	if (rc) {
		free(oc);
		return rc;
	}
	for (size_t i = 0; i < n && i < RELEASES_TRIED && !*good_out; i++) {
		int clean = 0;
		if ((rc = try_release(o, eo, tags[i], oc, &clean)) != 0)
			break;
		if (clean)
			*good_out = strdup(tags[i]);
	}
	kb_gitdag_tags_free(tags, n);
	free(oc);
	if (rc)
		return rc;
	if (!*good_out)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "no release tag below '%s' "
				     "ran clean; give --good explicitly", o->a.bad);
	kb_oracle__log(o, "good release: %s", *good_out);
	return 0;
}
