/*
 * vmpool/initramfs.c - the guest initramfs: a cpio "newc" writer and the archive
 * kbisect boots (Debian's busybox-static, the guest agent, an /init script).
 * Owns: the cpio format (header, 4-byte padding, TRAILER!!!), the guest file layout.
 * Not: the agent itself (agent/agent.c), booting (snapshot.c).
 * DESIGN: written in C rather than with cpio(1), so /dev/console can be a device node
 * without root and the archive is byte-for-byte reproducible (mtime 0, fixed inodes).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/util.h"
#include "vmpool_internal.h"

struct kb_cpio {
	int fd;
	uint64_t off;
	unsigned int ino;
};

#define GUEST_INIT                                                                       \
	"#!/bin/busybox sh\n"                                                            \
	"/bin/busybox mount -t proc proc /proc\n"                                        \
	"/bin/busybox mount -t sysfs sysfs /sys\n"                                       \
	"/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null\n"                     \
	"/bin/busybox mount -t tmpfs tmpfs /tmp\n"                                       \
	"/bin/busybox mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null\n"          \
	"/bin/busybox --install -s /bin\n"                                               \
	"echo 1 > /proc/sys/kernel/sysrq\n"                                              \
	"exec /sbin/kbisect-agent /dev/ttyS1 </dev/console >/dev/console 2>&1\n"

static int write_all(kb_cpio *c, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(c->fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kb_error_os("cannot write initramfs");
		p += w;
		len -= (size_t)w;
		c->off += (uint64_t)w;
	}
	return 0;
}

static int pad4(kb_cpio *c)
{
	static const char zero[4];
	size_t n = (4 - (c->off & 3)) & 3;
	return n ? write_all(c, zero, n) : 0;
}

static int entry(kb_cpio *c, const char *name, unsigned int mode, unsigned int rmaj,
		 unsigned int rmin, const void *data, size_t len)
{
	char hdr[111];
	size_t nlen = strlen(name) + 1;
	int r;

	if (len > 0xffffffffu)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "file '%s' too large for a cpio newc archive", name);
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", c->ino++, mode,
		 0u, 0u, 1u, 0u, (unsigned int)len, 0u, 0u, rmaj, rmin, (unsigned int)nlen, 0u);
	if ((r = write_all(c, hdr, 110)) < 0 || (r = write_all(c, name, nlen)) < 0 ||
	    (r = pad4(c)) < 0)
		return r;
	if (len && (r = write_all(c, data, len)) < 0)
		return r;
	return pad4(c);
}

int kb_cpio__open(kb_cpio **out, int fd)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return kb_error_os("out of memory");
	(*out)->fd = fd;
	(*out)->ino = 1;
	return 0;
}

int kb_cpio__dir(kb_cpio *c, const char *name, unsigned int mode)
{
	return entry(c, name, S_IFDIR | (mode & 07777), 0, 0, NULL, 0);
}

int kb_cpio__file(kb_cpio *c, const char *name, unsigned int mode, const void *data,
		  size_t len)
{
	return entry(c, name, S_IFREG | (mode & 07777), 0, 0, data, len);
}

int kb_cpio__symlink(kb_cpio *c, const char *name, const char *target)
{
	return entry(c, name, S_IFLNK | 0777, 0, 0, target, strlen(target));
}

int kb_cpio__chardev(kb_cpio *c, const char *name, unsigned int mode, unsigned int major,
		     unsigned int minor)
{
	return entry(c, name, S_IFCHR | (mode & 07777), major, minor, NULL, 0);
}

int kb_cpio__finish(kb_cpio *c)
{
	static const char zero[512];
	int r = entry(c, "TRAILER!!!", 0, 0, 0, NULL, 0);
	size_t n;

	if (r == 0) {
		n = (512 - (c->off & 511)) & 511;
		if (n)
			r = write_all(c, zero, n);
	}
	free(c);
	return r;
}

void kb_cpio__abort(kb_cpio *c)
{
	free(c);
}

#ifndef KB_AGENT_REL_LIBEXEC
#define KB_AGENT_REL_LIBEXEC "../libexec/kbisect"
#endif

const char *kb_initramfs__agent_path(void)
{
	static char installed[PATH_MAX + 64];
	char self[PATH_MAX];
	const char *env = getenv("KBISECT_AGENT");
	ssize_t n;

	if (env && *env)
		return env;
	/* an installed kbisect: <prefix>/bin/kbisect -> <prefix>/libexec/kbisect/kbisect-agent */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(installed, sizeof(installed), "%s/" KB_AGENT_REL_LIBEXEC "/kbisect-agent",
				 self);
			if (access(installed, R_OK) == 0)
				return installed;
		}
	}
#ifdef KB_AGENT_BUILD_PATH
	return KB_AGENT_BUILD_PATH;
#else
	return "kbisect-agent";
#endif
}

const char *kb_vmpool_agent_path(void)
{
	return kb_initramfs__agent_path();
}

int kb_initramfs__build(const char *path, const char *busybox, const char *agent)
{
	static const char *dirs[] = { "bin", "sbin", "dev", "proc", "sys", "tmp", "etc",
				      "root", "usr", "usr/bin", "usr/sbin", NULL };
	char *bb = NULL, *ag = NULL;
	size_t bblen = 0, aglen = 0;
	char tmp[4096];
	kb_cpio *c = NULL;
	int fd = -1, r;

	if (!busybox)
		busybox = "/bin/busybox";
	if (!agent)
		agent = kb_initramfs__agent_path();
	if ((r = kb_file_read(&bb, &bblen, busybox, 0, "busybox")) < 0) {
		kb_error_prefix("cannot pack busybox into the initramfs "
				"(install it with 'apt-get install busybox-static')");
		goto out;
	}
	if ((r = kb_file_read(&ag, &aglen, agent, 0, "guest agent")) < 0) {
		kb_error_prefix("cannot pack the guest agent (set $KBISECT_AGENT or rebuild)");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = kb_error_os("cannot create initramfs '%s'", tmp);
		goto out;
	}
	if ((r = kb_cpio__open(&c, fd)) < 0)
		goto out;
	for (int i = 0; dirs[i]; i++)
		if ((r = kb_cpio__dir(c, dirs[i], 0755)) < 0)
			goto out;
	if ((r = kb_cpio__chardev(c, "dev/console", 0600, 5, 1)) < 0 ||
	    (r = kb_cpio__chardev(c, "dev/null", 0666, 1, 3)) < 0 ||
	    (r = kb_cpio__chardev(c, "dev/ttyS1", 0600, 4, 65)) < 0 ||
	    (r = kb_cpio__file(c, "bin/busybox", 0755, bb, bblen)) < 0 ||
	    (r = kb_cpio__symlink(c, "bin/sh", "busybox")) < 0 ||
	    (r = kb_cpio__file(c, "sbin/kbisect-agent", 0755, ag, aglen)) < 0 ||
	    (r = kb_cpio__file(c, "init", 0755, GUEST_INIT, strlen(GUEST_INIT))) < 0)
		goto out;
	r = kb_cpio__finish(c);
	c = NULL;
	if (r < 0)
		goto out;
	if (fsync(fd) < 0 && errno != EINVAL) {
		r = kb_error_os("cannot write initramfs '%s'", tmp);
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = kb_error_os("cannot rename '%s' to '%s'", tmp, path);
		unlink(tmp);
	}
out:
	kb_cpio__abort(c);
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(bb);
	free(ag);
	return r;
}
