/*
 * vmpool/qemu.c - QEMU command lines and processes.
 * Owns: the argv of a guest (devices, serial ports, RAM backend, kernel command line),
 * starting QEMU in its own process group with PR_SET_PDEATHSIG, and killing it.
 * Not: talking to QEMU (qmp.c), what the VM is for (snapshot.c, template.c, run.c).
 * DESIGN: ttyS0 is the kernel console (a file), ttyS1 the agent channel (a unix socket
 * QEMU listens on), QMP a unix socket; all inside the VM's own directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "vmpool_internal.h"

/* What every guest kernel gets: the console on ttyS0, every oops and warning is a
 * panic, and a panic reboots at once (which -no-reboot turns into a QEMU exit with
 * SHUTDOWN reason guest-reset). no_timer_check: under TCG on a loaded host the boot's
 * IO-APIC timer check can fail ("IO-APIC + timer doesn't work!", a panic), which
 * would read as a kernel that does not boot. */
#define KB_CMDLINE_BASE                                                                  \
	"console=ttyS0 earlyprintk=serial oops=panic panic_on_warn=1 panic=-1 "          \
	"nmi_watchdog=panic softlockup_panic=1 hung_task_panic=1 printk.devkmsg=on "     \
	"net.ifnames=0 mitigations=off no_timer_check"

void kb_argv__add(kb_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (a->n + 2 > a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 32;
		char **nv = realloc(a->v, ncap * sizeof(*nv));
		if (!nv)
			abort();
		a->v = nv;
		a->cap = ncap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void kb_argv__free(kb_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

void kb_qemu__cmdline(char *buf, size_t len, const kb_qemu_cfg *cfg)
{
	snprintf(buf, len, "%s%s%s%s", KB_CMDLINE_BASE,
		 cfg->image ? " root=/dev/sda rw" : " rdinit=/init",
		 cfg->cmdline_extra && *cfg->cmdline_extra ? " " : "",
		 cfg->cmdline_extra ? cfg->cmdline_extra : "");
}

const char *kb_qemu__image_format(const char *image)
{
	unsigned char magic[4] = { 0 };
	int fd = open(image, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic))
			memset(magic, 0, sizeof(magic));
		close(fd);
	}
	return memcmp(magic, "QFI\xfb", 4) ? "raw" : "qcow2";
}

const char *kb_qemu__cpu_model(const char *accel)
{
	/* KVM clones must restore on the same CPU model: a named, migratable one. */
	return accel && !strcmp(accel, "kvm") ? "kvm64" : "max";
}

int kb_qemu__argv(kb_argv *out, const kb_qemu_cfg *cfg)
{
	char cmdline[2048];
	const char *accel = cfg->accel ? cfg->accel : "tcg";
	unsigned int mem = cfg->mem_mb ? cfg->mem_mb : 512;

	memset(out, 0, sizeof(*out));
	if (!cfg->kernel)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "no kernel to boot; pass one");
	kb_argv__add(out, "%s", cfg->qemu ? cfg->qemu : "qemu-system-x86_64");
	kb_argv__add(out, "-nodefaults");
	kb_argv__add(out, "-no-user-config");
	kb_argv__add(out, "-display");
	kb_argv__add(out, "none");
	kb_argv__add(out, "-no-reboot");
	kb_argv__add(out, "-accel");
	kb_argv__add(out, "%s", accel);
	kb_argv__add(out, "-cpu");
	kb_argv__add(out, "%s", kb_qemu__cpu_model(accel));
	kb_argv__add(out, "-m");
	kb_argv__add(out, "%u", mem);
	kb_argv__add(out, "-smp");
	kb_argv__add(out, "%u", cfg->cpus ? cfg->cpus : 1);
	if (cfg->ram_file) {
		kb_argv__add(out, "-object");
		kb_argv__add(out, "memory-backend-file,id=ram0,size=%uM,mem-path=%s,share=%s", mem,
			     cfg->ram_file, cfg->ram_shared ? "on" : "off");
		kb_argv__add(out, "-machine");
		kb_argv__add(out, "pc,memory-backend=ram0");
	} else {
		kb_argv__add(out, "-machine");
		kb_argv__add(out, "pc");
	}
	kb_argv__add(out, "-kernel");
	kb_argv__add(out, "%s", cfg->kernel);
	if (cfg->initrd && !cfg->image) {
		kb_argv__add(out, "-initrd");
		kb_argv__add(out, "%s", cfg->initrd);
	}
	if (cfg->image && cfg->disk) { /* an overlay of the image (kb_vm__overlay()) */
		kb_argv__add(out, "-drive");
		kb_argv__add(out, "file=%s,format=qcow2,index=0,media=disk", cfg->disk);
	} else if (cfg->image) {
		kb_argv__add(out, "-drive");
		kb_argv__add(out, "file=%s,format=%s,index=0,media=disk,snapshot=on", cfg->image,
			     kb_qemu__image_format(cfg->image));
	}
	kb_qemu__cmdline(cmdline, sizeof(cmdline), cfg);
	kb_argv__add(out, "-append");
	kb_argv__add(out, "%s", cmdline);
	kb_argv__add(out, "-chardev");
	kb_argv__add(out, "file,id=con0,path=%s/console.log", cfg->dir);
	kb_argv__add(out, "-serial");
	kb_argv__add(out, "chardev:con0");
	kb_argv__add(out, "-chardev");
	kb_argv__add(out, "socket,id=agent0,path=%s/agent.sock,server=on,wait=off", cfg->dir);
	kb_argv__add(out, "-serial");
	kb_argv__add(out, "chardev:agent0");
	/* the VM generation ID: QEMU writes this GUID into guest memory and notifies the
	 * guest (ACPI) when a saved state is loaded, so a kernel with CONFIG_VMGENID
	 * reseeds its RNG in every clone by itself (the agent's SEED does it too) */
	kb_argv__add(out, "-device");
	kb_argv__add(out, "vmgenid,guid=%s", cfg->vmgenid ? cfg->vmgenid : "auto");
	kb_argv__add(out, "-qmp");
	kb_argv__add(out, "unix:%s/qmp.sock,server=on,wait=off", cfg->dir);
	if (cfg->incoming) {
		kb_argv__add(out, "-incoming");
		kb_argv__add(out, "defer");
	}
	return 0;
}

int kb_qemu__spawn(pid_t *pid, char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t p;
	int logfd;

	logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return kb_error_os("cannot create qemu log '%s'", log_path);
	p = fork();
	if (p < 0) {
		close(logfd);
		return kb_error_os("cannot fork to start '%s'", argv[0]);
	}
	if (p == 0) {
		int nul = open("/dev/null", O_RDONLY);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execvp(argv[0], argv);
		dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(p, p); /* also from here: no race with kill(-pid) */
	close(logfd);
	*pid = p;
	return 0;
}

int kb_qemu__exited(pid_t pid, int *status)
{
	int st;
	pid_t r;

	if (pid <= 0)
		return 1;
	r = waitpid(pid, &st, WNOHANG);
	if (r == pid) {
		if (status)
			*status = st;
		return 1;
	}
	if (r < 0 && errno == ECHILD)
		return 1;
	return 0;
}

void kb_qemu__kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
