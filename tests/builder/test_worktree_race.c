/*
 * tests/builder/test_worktree_race.c - worker trees made at the same time
 * (builder/repo.c, kb_repo__checkout()): six threads, each with its own kb_repo on one
 * git repository, each creating its worker tree <work>/w<N>/src at once (as the builds
 * of a bisection round do), round after round with the trees of the last round gone
 * (so `git worktree prune` has entries to drop), the starts a few ms apart so that one
 * tree's prune meets another's add. Every checkout succeeds. Without the worktree lock
 * (registry_lock()), a `git worktree prune` deletes another's half-made
 * .git/worktrees/<name> and two `git worktree add` of the same base name read each
 * other's half-written entry: git dies (exit 128). Without the lock, on 2 loaded cores,
 * 7 of 10 runs of 20 rounds failed, 3 of 5 of 30, 8 of 8 of 40; these 40 rounds take
 * ~35 s with it (each git call costs >= 50 ms: kb_spawn polls at that rate).
 * kb-test-labels: integration
 * kb-test-timeout: 300
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "kbisect/error.h"
#include "build_internal.h"
#include "kb_test.h"

#define THREADS 6
#define ROUNDS 40

struct job {
	kb_repo *repo;
	pthread_barrier_t *go;
	char dir[4200];
	const char *commit;
	unsigned delay_us; /* after the common start: one tree's prune meets another's add */
	int rc;
	char err[1024];
};

static void *checkout_thread(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(j->go);
	usleep(j->delay_us);
	j->rc = kb_repo__checkout(j->repo, j->dir, j->commit, 60);
	if (j->rc)
		snprintf(j->err, sizeof(j->err), "%s", kb_error_last()->message);
	return NULL;
}

static void test_builder_worktree_race__trees_made_at_once_all_succeed(void **state)
{
	char *tmp = kb_test_tmpdir("worktree-race");
	char repo[4096], commit[41];
	git_repository *git;
	struct job jobs[THREADS];
	pthread_barrier_t go;
	int failed = 0;

	(void)state;
	git_libgit2_init();
	snprintf(repo, sizeof(repo), "%s/repo", tmp);
	assert_int_equal(kb_test_sh("mkdir -p '%s' && cp -r '%s/tests/builder/mini_kernel/.' '%s/'",
				    repo, kb_test_source_dir(), repo), 0);
	assert_int_equal(git_repository_init(&git, repo, 0), 0);
	kb_test_git_commit_all(git, 0, "initial", commit);
	memset(jobs, 0, sizeof(jobs));
	for (int t = 0; t < THREADS; t++) {
		assert_int_equal(kb_repo__open(&jobs[t].repo, repo), KB_OK);
		snprintf(jobs[t].dir, sizeof(jobs[t].dir), "%s/work/w%d/src", tmp, t);
		jobs[t].commit = commit;
		jobs[t].go = &go;
	}
	for (int round = 0; round < ROUNDS; round++) {
		pthread_t tid[THREADS];
		assert_int_equal(kb_test_sh("rm -rf '%s/work' && mkdir -p '%s/work'", tmp, tmp), 0);
		for (int t = 0; t < THREADS; t++)
			assert_int_equal(kb_test_sh("mkdir -p '%s/work/w%d'", tmp, t), 0);
		pthread_barrier_init(&go, NULL, THREADS);
		for (int t = 0; t < THREADS; t++)
			jobs[t].delay_us = (unsigned)((round * 7 + t * 3) % 8) * 1000;
		for (int t = 0; t < THREADS; t++)
			assert_int_equal(pthread_create(&tid[t], NULL, checkout_thread, &jobs[t]), 0);
		for (int t = 0; t < THREADS; t++)
			pthread_join(tid[t], NULL);
		pthread_barrier_destroy(&go);
		for (int t = 0; t < THREADS; t++) {
			char head[4300];
			struct stat st;
			if (jobs[t].rc) {
				print_message("round %d, tree %d: rc %d: %s\n", round, t, jobs[t].rc,
					      jobs[t].err);
				failed++;
				continue;
			}
			snprintf(head, sizeof(head), "%s/lib/lib.c", jobs[t].dir);
			assert_int_equal(stat(head, &st), 0); /* checked out */
		}
	}
	assert_int_equal(failed, 0);
	for (int t = 0; t < THREADS; t++)
		kb_repo__free(jobs[t].repo);
	git_repository_free(git);
	git_libgit2_shutdown();
	kb_test_tmpdir_free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_worktree_race__trees_made_at_once_all_succeed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
