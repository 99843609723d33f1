/*
 * bisect/gitdag_info.c - what the reports tell of each candidate commit besides its id:
 * subject, author and date, read from the repository (libgit2).
 * Owns: the text of a commit's author ("Name <mail>") and date ("YYYY-MM-DD HH:MM:SS
 * +hhmm", the author's time and zone, as `git log --date=iso` shows it).
 * Not: the DAG itself (bisect/gitdag.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <git2.h>

#include "common/error_internal.h"
#include "kbisect/gitdag.h"

/* the author's time in the author's zone, as git prints it */
static void fmt_date(char *buf, size_t len, const git_time *t)
{
	time_t local = (time_t)(t->time + (git_time_t)t->offset * 60);
	struct tm tm;
	int off = t->offset < 0 ? -t->offset : t->offset;

	if (!gmtime_r(&local, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d %c%02d%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 t->offset < 0 ? '-' : '+', off / 60, off % 60);
}

int kb_gitdag_each_info(const kb_gitdag *d, const char *repo,
			void (*fn)(void *ctx, size_t i, const char *subject, const char *author,
				   const char *date),
			void *ctx)
{
	git_repository *r = NULL;
	int rc = 0;

	if (!d || !repo || !fn)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT, "kb_gitdag_each_info: NULL argument");
	git_libgit2_init();
	if (git_repository_open_ext(&r, repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		const git_error *ge = git_error_last();
		rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT, "cannot open repository '%s' for "
				   "commit subjects: %s", repo, ge && ge->message ? ge->message : "?");
		git_libgit2_shutdown();
		return rc;
	}
	for (size_t i = 0; i < kb_gitdag_size(d); i++) {
		git_oid id;
		git_commit *c = NULL;
		char author[512], date[96];
		const git_signature *a;

		if (git_oid_fromstr(&id, kb_gitdag_id(d, i)) < 0 ||
		    git_commit_lookup(&c, r, &id) < 0) {
			fn(ctx, i, kb_gitdag_summary(d, i), NULL, NULL);
			continue;
		}
		a = git_commit_author(c);
		snprintf(author, sizeof(author), "%s <%s>", a && a->name ? a->name : "?",
			 a && a->email ? a->email : "");
		if (a)
			fmt_date(date, sizeof(date), &a->when);
		fn(ctx, i, kb_gitdag_summary(d, i), a ? author : NULL, a ? date : NULL);
		git_commit_free(c);
	}
	git_repository_free(r);
	git_libgit2_shutdown();
	return 0;
}
