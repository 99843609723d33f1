/*
 * tests/vmpool/test_pool_stale.c - pool directories (RAM files of templates, up to
 * ~1 GB each in /dev/shm) do not outlive their process: a pool whose process is killed
 * with SIGKILL has its directory removed within seconds, by nobody's next run; a
 * directory whose owner is gone is swept at the next kb_pool_open() even when its pid
 * now belongs to a live process (pid reuse, another pid namespace); a live pool's
 * directory is never swept. No QEMU is started.
 * kb-test-labels: integration
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/vmpool.h"

/* The first entry of dir whose name starts with prefix into out; 1 found, 0 not. */
static int find_entry(const char *dir, const char *prefix, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(out, len, "%s/%s", dir, e->d_name);
			found = 1;
			break;
		}
	if (d)
		closedir(d);
	return found;
}

static void test_vmpool_pool_stale__killed_pool_dir_is_removed_at_once(void **state)
{
	char *work = kb_test_tmpdir("stalekill"), prefix[64], path[1024], ram[1100];
	int ready[2], st, gone = 0;
	pid_t child;
	char b;
	(void)state;

	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		kb_pool *pool = NULL;
		kb_pool_opts o = { .vms = 1, .accel = "tcg", .work_dir = work };
		close(ready[0]);
		if (kb_pool_open(&pool, &o) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause(); /* killed with SIGKILL: no clean-up of its own */
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &b, 1), 1);
	close(ready[0]);
	snprintf(prefix, sizeof(prefix), "kbisect-pool-%d-", (int)child);
	assert_true(find_entry(work, prefix, path, sizeof(path)));
	/* a stand-in for a template's RAM file */
	snprintf(ram, sizeof(ram), "%s/ram", path);
	assert_int_equal(kb_test_write_file(ram, "pages", 5), 0);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &st, 0), child);
	for (int i = 0; i < 100 && !gone; i++) { /* up to 10 s */
		struct stat sb;
		gone = stat(path, &sb) < 0;
		if (!gone)
			usleep(100000);
	}
	assert_true(gone);
	kb_test_tmpdir_free(work);
}

static void test_vmpool_pool_stale__dead_owner_swept_even_if_pid_is_reused(void **state)
{
	char *work = kb_test_tmpdir("stalereuse"), stale[1024], live[1024], path[1200];
	kb_pool *a = NULL, *b = NULL;
	kb_pool_opts o = { .vms = 1, .accel = "tcg" };
	struct stat sb;
	char prefix[64];
	(void)state;

	o.work_dir = work;
	/* a live pool: its directory must survive other pools' sweeps */
	assert_int_equal(kb_pool_open(&a, &o), 0);
	snprintf(prefix, sizeof(prefix), "kbisect-pool-%d-", (int)getpid());
	assert_true(find_entry(work, prefix, live, sizeof(live)));
	/* a directory left by a dead pool whose pid is in use again (here: ours) */
	snprintf(stale, sizeof(stale), "%s/kbisect-pool-%d-zzzzzz", work, (int)getpid());
	assert_int_equal(mkdir(stale, 0700), 0);
	snprintf(path, sizeof(path), "%s/owner.lock", stale);
	assert_int_equal(kb_test_write_file(path, "", 0), 0);
	snprintf(path, sizeof(path), "%s/ram", stale);
	assert_int_equal(kb_test_write_file(path, "pages", 5), 0);

	assert_int_equal(kb_pool_open(&b, &o), 0);
	assert_true(stat(stale, &sb) < 0);  /* swept: nobody holds its lock */
	assert_int_equal(stat(live, &sb), 0); /* kept: its owner is alive */
	kb_pool_free(b);
	kb_pool_free(a);
	assert_true(stat(live, &sb) < 0); /* a closed pool removes its own */
	kb_test_tmpdir_free(work);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_pool_stale__killed_pool_dir_is_removed_at_once),
		cmocka_unit_test(test_vmpool_pool_stale__dead_owner_swept_even_if_pid_is_reused),
	};
	return cmocka_run_group_tests_name("vmpool/pool_stale", tests, NULL, NULL);
}
