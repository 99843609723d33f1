/*
 * vmpool/pooldir.c - the pool's temporary directory outliving nothing.
 * Owns: owner.lock (flock()ed by the live pool), sweeping kbisect-pool-* directories
 * whose owner is gone, and the reaper process that removes a pool's directory as soon
 * as its process dies without kb_pool_free() (kill -9 included).
 * Not: what is in the directory (template.c, run.c, snapshot.c).
 * DESIGN: the templates' RAM files (up to ~1 GB) live in /dev/shm; a process killed
 * with SIGKILL cannot clean up, so a child forked at kb_pool_open() waits on a pipe
 * whose write end only the pool's process holds (close-on-exec, so QEMU and other
 * exec'd helpers do not) and removes the directory when it reads EOF. A pid in the
 * directory's name is not proof of life (pids are reused, and /dev/shm may be shared
 * across pid namespaces): the lock is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "vmpool_internal.h"

#define OWNER_LOCK "owner.lock"

/* 1 if the pool directory path has no live owner: its owner.lock can be locked (its
 * owner holds it while it lives, whatever its pid is now), or, for a directory without
 * one, no process has the pid in its name. */
static int pool_dir_stale(const char *path, int pid)
{
	char lock[1300];
	int fd, stale;

	snprintf(lock, sizeof(lock), "%s/" OWNER_LOCK, path);
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && kill(pid, 0) < 0 && errno == ESRCH;
	stale = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return stale;
}

void kb_pooldir__sweep(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		int pid;
		char path[1200];
		if (sscanf(e->d_name, "kbisect-pool-%d-", &pid) != 1 || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		if (pool_dir_stale(path, pid))
			kb_vm__rmrf(path);
	}
	if (d)
		closedir(d);
}

int kb_pooldir__lock(const char *dir, int *fd)
{
	char path[700];
	snprintf(path, sizeof(path), "%.600s/" OWNER_LOCK, dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0 || flock(*fd, LOCK_EX | LOCK_NB) < 0)
		return kb_error_os("cannot lock '%s'", path);
	return 0;
}

pid_t kb_pooldir__reaper(const char *dir)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int rd = fcntl(fds[0], F_DUPFD, 3), nul; /* above stdin..stderr */
		char b;
		ssize_t n;
		signal(SIGINT, SIG_IGN); /* a Ctrl-C or kill of the group is for the parent */
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		if (rd < 0)
			_exit(1);
		close(fds[0]);
		close(fds[1]); /* else we would keep our own pipe open */
		if ((nul = open("/dev/null", O_RDWR)) >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		/* hold nothing of the parent's (sockets, the cache, owner.lock) */
		if (rd > 3)
			close_range(3, (unsigned int)rd - 1, 0);
		close_range((unsigned int)rd + 1, ~0u, 0);
		do
			n = read(rd, &b, 1);
		while (n < 0 && errno == EINTR);
		/* the parent is gone: its QEMUs die with it; a second pass catches files a
		 * dying helper (a state file being written) created meanwhile */
		kb_vm__rmrf(dir);
		sleep(1);
		kb_vm__rmrf(dir);
		_exit(0);
	}
	close(fds[0]);
	if (pid < 0) {
		close(fds[1]);
		return -1;
	}
	/* fds[1] stays open (close-on-exec) until this process ends */
	return pid;
}
