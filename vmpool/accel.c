/*
 * vmpool/accel.c - KVM or TCG: probe with a real boot under a short deadline, fall back
 * to TCG, remember the answer per host.
 * Owns: the probe, the file that remembers its answer (<state dir>/accel, default
 * ~/.cache/kbisect/accel), the reason text shown to users.
 * Not: the CPU model per accelerator (qemu.c).
 * DESIGN: cheap checks lie on some hosts (/dev/kvm opens, KVM_CREATE_VM works, yet QEMU
 * asserts with -cpu host or hangs minutes before "KVM internal error"), so the only
 * trustworthy probe is booting the real kernel to the agent. It gets KB_KVM_PROBE_S
 * seconds; QEMU is killed (process group, SIGKILL) when the time is up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "vmpool_internal.h"

#define KB_KVM_PROBE_S 20.0

static void host_id(char *buf, size_t len)
{
	struct utsname u;
	if (uname(&u) < 0)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%s/%s/%s", u.nodename, u.release, u.machine);
}

static void remember_path(char *buf, size_t len, const char *state_dir)
{
	const char *home = getenv("HOME");
	if (state_dir && *state_dir)
		snprintf(buf, len, "%s/accel", state_dir);
	else
		snprintf(buf, len, "%s/.cache/kbisect/accel", home && *home ? home : "/tmp");
}

static int recall(char accel[8], char *reason, size_t rlen, const char *path)
{
	char line[1024], want[300];
	FILE *f = fopen(path, "r");
	int found = 0;

	if (!f)
		return 0;
	host_id(want, sizeof(want));
	while (fgets(line, sizeof(line), f)) {
		char *t1 = strchr(line, '\t'), *t2;
		if (!t1 || !(t2 = strchr(t1 + 1, '\t')))
			continue;
		*t1 = *t2 = '\0';
		if (strcmp(line, want))
			continue;
		if (strcmp(t1 + 1, "tcg") && strcmp(t1 + 1, "kvm"))
			continue;
		snprintf(accel, 8, "%s", t1 + 1);
		t2[1 + strcspn(t2 + 1, "\n")] = '\0';
		snprintf(reason, rlen, "remembered in '%s': %s", path, t2 + 1);
		found = 1;
	}
	fclose(f);
	return found;
}

static void remember(const char *path, const char *accel, const char *reason)
{
	char id[300], dir[700], *slash;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/'))) {
		*slash = '\0';
		/* mkdir -p of one or two levels is enough for ~/.cache/kbisect */
		char *s2 = strrchr(dir, '/');
		if (s2) {
			*s2 = '\0';
			mkdir(dir, 0755);
			*s2 = '/';
		}
		mkdir(dir, 0755);
	}
	host_id(id, sizeof(id));
	f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "%s\t%s\t%s\n", id, accel, reason);
	fclose(f);
}

/* Boot kernel+initrd under KVM; 0 if the agent answered in time. */
static int probe_kvm(char *why, size_t wlen, const char *qemu, const char *kernel,
		     const char *initrd, const char *tmp_dir)
{
	char dir[700];
	kb_qemu_cfg cfg = { 0 };
	kb_vm vm;
	double t0 = kb_vm__now();
	int r;

	snprintf(dir, sizeof(dir), "%s/kvmprobe", tmp_dir);
	mkdir(dir, 0700);
	cfg.qemu = qemu;
	cfg.accel = "kvm";
	cfg.mem_mb = 256;
	cfg.cpus = 1;
	cfg.kernel = kernel;
	cfg.initrd = initrd;
	cfg.dir = dir;
	r = kb_vm__launch(&vm, &cfg, 10);
	if (r == 0)
		r = kb_vm__wait_ready(&vm, t0 + KB_KVM_PROBE_S);
	if (r < 0) {
		json_t *st = NULL;
		const char *status = NULL;
		if (vm.qmp && kb_qmp__exec(vm.qmp, "query-status", NULL, &st, 2) == 0)
			status = json_string_value(json_object_get(st, "status"));
		if (r == KB_ETIMEOUT)
			snprintf(why, wlen, "kvm probe: the kernel did not boot under kvm in %.0fs%s%s",
				 KB_KVM_PROBE_S, status ? ", vm status " : "", status ? status : "");
		else
			snprintf(why, wlen, "kvm probe failed: %s%s%s", kb_error_last()->message,
				 status ? ", vm status " : "", status ? status : "");
		json_decref(st);
	} else {
		snprintf(why, wlen, "kvm probe booted the kernel in %.1fs", kb_vm__now() - t0);
	}
	kb_vm__destroy(&vm);
	return r;
}

int kb_accel__choose(char accel[8], char *reason, size_t rlen, const char *want,
		     const char *qemu, const char *state_dir, const char *kernel,
		     const char *initrd, const char *tmp_dir)
{
	char path[700], why[600];
	int fd;

	if (want && !strcmp(want, "tcg")) {
		snprintf(accel, 8, "tcg");
		snprintf(reason, rlen, "asked for");
		return 0;
	}
	if (want && !strcmp(want, "kvm")) {
		snprintf(accel, 8, "kvm");
		snprintf(reason, rlen, "asked for (not probed)");
		return 0;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(accel, 8, "tcg");
		snprintf(reason, rlen, "no usable /dev/kvm (%s)", strerror(errno));
		return 0;
	}
	close(fd);
	remember_path(path, sizeof(path), state_dir);
	if (recall(accel, reason, rlen, path))
		return 0;
	if (!kernel || !initrd) {
		snprintf(accel, 8, "tcg");
		snprintf(reason, rlen, "kvm not probed yet (no kernel to boot)");
		return 0;
	}
	if (probe_kvm(why, sizeof(why), qemu, kernel, initrd, tmp_dir) == 0)
		snprintf(accel, 8, "kvm");
	else
		snprintf(accel, 8, "tcg");
	remember(path, accel, why);
	snprintf(reason, rlen, "%s (remembered in '%s')", why, path);
	return 0;
}
