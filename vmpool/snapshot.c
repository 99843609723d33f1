/*
 * vmpool/snapshot.c - one VM (QEMU + QMP + agent channel), templates and clones.
 * Owns: launching a VM in its directory, the agent line protocol on the host side,
 * booting a template and saving it, restoring clones from it.
 * Not: the queue (pool.c), templates (template.c), the classification of runs
 * (run.c), argv details (qemu.c).
 * DESIGN (the recipe that works with QEMU 7.2 under TCG): the template's RAM is a
 * memory-backend-file with share=on; after the agent is ready we stop the guest, set
 * the x-ignore-shared capability and migrate to a state file, so the state file holds
 * only the devices and the RAM file the memory. Each clone maps the same RAM file with
 * share=off (private copy-on-write), starts with -incoming defer, sets the capability,
 * runs migrate-incoming, waits until it completed, and (as the template was stopped
 * before saving, the clone arrives paused) sends "cont" and waits for RESUME before it
 * talks to the agent (bytes sent before the restore finishes are lost).
 * A disk image is never written: the template boots from a qcow2 overlay of it (saved
 * with the state: the guest's page cache must match its disk), each clone from an
 * overlay of that overlay in its own directory, so the image can be shared and a
 * killed QEMU leaves no temporary file behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <ftw.h>
#include <limits.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/util.h"
#include "vmpool_internal.h"

uint32_t kb_vm__fnv32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int kb_vm__rmrf(const char *path)
{
	if (!path || !*path || !strcmp(path, "/"))
		return 0;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* The calling thread's last error, kept across a helper whose failure is not one. */
typedef struct {
	char msg[1024];
	int code, klass;
} saved_error;

static void error_save(saved_error *s)
{
	const kb_error *e = kb_error_last();
	s->code = e->code;
	s->klass = e->klass;
	snprintf(s->msg, sizeof(s->msg), "%s", e->message);
}

static void error_restore(const saved_error *s)
{
	if (s->code == KB_OK)
		kb_error_clear();
	else
		kb_error_setc(s->code, s->klass, "%s", s->msg);
}

int kb_vm__run(char *const argv[], const char *out_path, const char *log_path)
{
	const char *path = out_path ? out_path : log_path ? log_path : "/dev/null";
	kb_spawn_opts o = { 0 };
	saved_error se;
	int r;

	/* its output goes to a file (or nowhere), never to the caller's terminal */
	o.out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o.out_fd < 0)
		return -1;
	error_save(&se); /* callers say what failed themselves */
	r = kb_spawn((const char *const *)argv, &o);
	error_restore(&se);
	close(o.out_fd);
	if (r == KB_ENOTFOUND)
		return 127;
	return r == KB_OK ? o.status : -1;
}

/* Run qemu-img with args; on failure an error naming what and the first line of its
 * message. */
static int qemu_img(char *const argv[], const char *log, const char *what, const char *path)
{
	char msg[300] = "";
	FILE *f;
	int st = kb_vm__run(argv, NULL, log);

	if (st == 0) {
		unlink(log);
		return 0;
	}
	if ((f = fopen(log, "r"))) {
		if (!fgets(msg, sizeof(msg), f))
			msg[0] = '\0';
		fclose(f);
	}
	unlink(log);
	msg[strcspn(msg, "\n")] = '\0';
	return kb_error_set(KB_ERRCLASS_VMPOOL, "cannot %s '%s' with qemu-img: %s; check the "
			    "image, or install qemu-utils", what, path,
			    st == 127 ? "qemu-img not found" : msg[0] ? msg : "failed");
}

int kb_vm__overlay(const char *backing, const char *overlay)
{
	char abs[PATH_MAX], log[700];
	const char *fmt;

	if (!realpath(backing, abs))
		return kb_error_os("cannot read disk image '%s'", backing);
	fmt = kb_qemu__image_format(abs);
	snprintf(log, sizeof(log), "%.600s.log", overlay);
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", (char *)fmt, "-b",
			 abs, (char *)overlay, NULL };
	return qemu_img(argv, log, "create an overlay of", backing);
}

int kb_snapshot__rebase(const kb_snapshot *snap, const char *image)
{
	char abs[PATH_MAX], log[700];
	const char *fmt;

	if (!snap->disk[0])
		return 0;
	if (!realpath(image, abs))
		return kb_error_os("cannot read disk image '%s'", image);
	fmt = kb_qemu__image_format(abs);
	snprintf(log, sizeof(log), "%.600s.log", snap->disk);
	char *argv[] = { "qemu-img", "rebase", "-u", "-f", "qcow2", "-F", (char *)fmt, "-b",
			 abs, (char *)snap->disk, NULL };
	return qemu_img(argv, log, "point the saved disk overlay at", image);
}

static int connect_unix(const char *path, double deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "socket path '%s' too long; use a shorter work dir", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return kb_error_os("cannot create socket for '%s'", path);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		if (kb_vm__now() > deadline)
			return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
					     "cannot connect to agent socket '%s'", path);
		usleep(5000);
	}
}

int kb_vm__launch(kb_vm *vm, const kb_qemu_cfg *cfg, double timeout_s)
{
	double deadline = kb_vm__now() + timeout_s;
	char path[700];
	kb_argv argv;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->agent_fd = -1;
	vm->status = -1; /* no wait status yet (neither exited nor signalled) */
	vm->cancel = cfg->cancel;
	snprintf(vm->dir, sizeof(vm->dir), "%s", cfg->dir);
	if ((r = kb_qemu__argv(&argv, cfg)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/qemu.log", vm->dir);
	r = kb_qemu__spawn(&vm->pid, argv.v, path);
	kb_argv__free(&argv);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/qmp.sock", vm->dir);
	/* a QEMU that exits at start (it cannot start on this host, or refuses the
	 * kernel) is seen at once, not after the connect timeout: connect in short tries
	 * (longer each time, for a loaded host) while it lives */
	for (double step = 0.5;;) {
		double left = deadline - kb_vm__now();
		if (access(path, F_OK) == 0) {
			r = kb_qmp__connect(&vm->qmp, path, left < step ? left : step);
			if (r == 0 || r == KB_EINVAL || left <= step)
				break;
			step = step < 4 ? step * 2 : 8;
		} else {
			r = KB_ETIMEOUT;
			if (left <= 0)
				break;
		}
		if (kb_qemu__exited(vm->pid, &vm->status))
			break;
		usleep(5000);
	}
	if (r == KB_ETIMEOUT)
		r = kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL, "cannot connect to qmp socket "
				  "'%s' within %.0fs; see the qemu log next to it", path, timeout_s);
	if (r < 0) {
		usleep(50000);
		if (kb_qemu__exited(vm->pid, &vm->status)) {
			char msg[300] = "";
			FILE *f;
			vm->exited = 1;
			vm->pid = 0;
			snprintf(path, sizeof(path), "%s/qemu.log", vm->dir);
			if ((f = fopen(path, "r"))) {
				if (!fgets(msg, sizeof(msg), f))
					msg[0] = '\0';
				fclose(f);
			}
			msg[strcspn(msg, "\n")] = '\0';
			r = kb_error_set(KB_ERRCLASS_VMPOOL, "qemu exited at start: %s; check the "
					 "kernel image and the qemu options", msg[0] ? msg : "no message");
		}
		return r;
	}
	snprintf(path, sizeof(path), "%s/agent.sock", vm->dir);
	r = connect_unix(path, deadline);
	if (r < 0)
		return r;
	vm->agent_fd = r;
	return 0;
}

static int check_alive(kb_vm *vm)
{
	if (vm->cancel && __atomic_load_n(vm->cancel, __ATOMIC_RELAXED))
		return kb_error_set(KB_ERRCLASS_VMPOOL, "cancelled");
	if (!vm->exited && kb_qemu__exited(vm->pid, &vm->status)) {
		vm->exited = 1;
		vm->pid = 0;
	}
	if (vm->exited)
		return kb_error_set(KB_ERRCLASS_VMPOOL, "qemu exited; see '%s/console.log'",
				    vm->dir);
	return 0;
}

int kb_vm__agent_line(kb_vm *vm, char *line, size_t len, double deadline)
{
	for (;;) {
		char *nl = memchr(vm->abuf, '\n', vm->alen);
		struct pollfd p = { .fd = vm->agent_fd, .events = POLLIN };
		double left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - vm->abuf);
			size_t c = l < len - 1 ? l : len - 1;
			memcpy(line, vm->abuf, c);
			line[c] = '\0';
			memmove(vm->abuf, nl + 1, vm->alen - l - 1);
			vm->alen -= l + 1;
			return 0;
		}
		if (vm->alen == sizeof(vm->abuf))
			vm->alen = 0; /* noise without newline */
		left = deadline - kb_vm__now();
		if (left <= 0)
			return KB_ETIMEOUT;
		if (poll(&p, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return kb_error_os("cannot poll agent socket of '%s'", vm->dir);
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(vm->agent_fd, vm->abuf + vm->alen, sizeof(vm->abuf) - vm->alen);
			if (n > 0) {
				vm->alen += (size_t)n;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* QEMU closed the chardev: it is exiting */
				usleep(20000);
				check_alive(vm);
				return kb_error_set(KB_ERRCLASS_VMPOOL,
						    "agent channel of '%s' closed; see its console.log",
						    vm->dir);
			}
		}
		if (check_alive(vm) < 0)
			return KB_ERROR;
	}
}

int kb_vm__agent_send(kb_vm *vm, const void *data, size_t len, double deadline)
{
	const char *p = data;

	while (len) {
		ssize_t w = send(vm->agent_fd, p, len, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return kb_error_os("cannot write to the agent of '%s'", vm->dir);
		if (kb_vm__now() > deadline)
			return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
					     "agent of '%s' stopped reading", vm->dir);
		if (check_alive(vm) < 0)
			return KB_ERROR;
		struct pollfd pf = { .fd = vm->agent_fd, .events = POLLOUT };
		poll(&pf, 1, 50);
	}
	return 0;
}

int kb_vm__ping(kb_vm *vm, double deadline)
{
	static unsigned int counter;
	char line[256], want[64];
	int n = (int)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	int r;

	snprintf(want, sizeof(want), "PONG k%d", n);
	snprintf(line, sizeof(line), "PING k%d\n", n);
	if ((r = kb_vm__agent_send(vm, line, strlen(line), deadline)) < 0)
		return r;
	for (;;) {
		r = kb_vm__agent_line(vm, line, sizeof(line), deadline);
		if (r < 0)
			return r;
		if (!strcmp(line, want))
			return 0;
	}
}

int kb_vm__wait_ready(kb_vm *vm, double deadline)
{
	char line[256];
	int r;

	for (;;) {
		r = kb_vm__agent_line(vm, line, sizeof(line), deadline);
		if (r < 0)
			return r;
		if (!strcmp(line, "READY"))
			break;
	}
	return kb_vm__ping(vm, deadline);
}

/* 1 if QEMU's first error line says it could not load the kernel file (hw/i386/x86.c,
 * multiboot.c): a property of the kernel, not of the host. */
static int bad_kernel_message(const char *msg)
{
	static const char *const pats[] = { "invalid kernel header", "kernel too old",
					    "could not load kernel", "PVH ELF Note",
					    "multiboot", "Error loading uncompressed kernel", NULL };
	for (unsigned int i = 0; pats[i]; i++)
		if (strstr(msg, pats[i]))
			return 1;
	return 0;
}

int kb_vm__boot_end(kb_vm *vm, int launched, int r, char *why, size_t why_len)
{
	char err[300], first[200] = "", path[700];
	const kb_qmp_msg *m = NULL;
	const char *reason = "";
	FILE *f;

	snprintf(err, sizeof(err), "%s", kb_error_last()->message);
	if (why && why_len)
		snprintf(why, why_len, "%s", err);
	if (vm->cancel && __atomic_load_n(vm->cancel, __ATOMIC_RELAXED))
		return KB_BOOT_END_CANCELLED;
	if (vm->pid > 0 && !vm->exited) {
		/* a closed agent channel means QEMU is exiting: wait for its status */
		double until = kb_vm__now() + (launched && r != KB_ETIMEOUT ? 2.0 : 0.1);
		for (;;) {
			if (kb_qemu__exited(vm->pid, &vm->status)) {
				vm->exited = 1;
				vm->pid = 0;
				break;
			}
			if (kb_vm__now() >= until)
				break;
			usleep(20000);
		}
	}
	if (vm->qmp) {
		kb_qmp__pump(vm->qmp);
		if (kb_qmp__has_event(vm->qmp, "SHUTDOWN", &m))
			reason = kb_qmp__shutdown_reason(m);
	}
	if (vm->exited && vm->dir[0]) {
		snprintf(path, sizeof(path), "%.600s/qemu.log", vm->dir);
		if ((f = fopen(path, "r"))) {
			if (!fgets(first, sizeof(first), f))
				first[0] = '\0';
			fclose(f);
		}
		first[strcspn(first, "\n")] = '\0';
	}
	if (launched && !strncmp(reason, "guest-", 6))
		return KB_BOOT_END_GUEST;
	if (launched && vm->exited && WIFEXITED(vm->status) && WEXITSTATUS(vm->status) == 0 &&
	    !reason[0] && !strstr(first, "terminating on signal"))
		return KB_BOOT_END_GUEST; /* -no-reboot: a reset or poweroff ends QEMU */
	if (!launched && vm->exited && WIFEXITED(vm->status) && WEXITSTATUS(vm->status) != 0 &&
	    bad_kernel_message(first))
		return KB_BOOT_END_BAD_KERNEL;
	if (launched && r == KB_ETIMEOUT && !vm->exited)
		return KB_BOOT_END_TIMEOUT;
	if (why && why_len && vm->exited) {
		const char *when = launched ? "during the boot" : "at start";
		if (WIFSIGNALED(vm->status))
			snprintf(why, why_len, "qemu was killed by signal %d %s",
				 WTERMSIG(vm->status), when);
		else if (WIFEXITED(vm->status) && !launched)
			snprintf(why, why_len, "%s", err); /* "qemu exited at start: <msg>" */
		else if (WIFEXITED(vm->status))
			snprintf(why, why_len, "qemu exited with status %d %s%s%.150s",
				 WEXITSTATUS(vm->status), when, first[0] ? ": " : "", first);
	}
	return KB_BOOT_END_HOST;
}

void kb_vm__destroy(kb_vm *vm)
{
	if (vm->pid > 0)
		kb_qemu__kill(vm->pid);
	vm->pid = 0;
	kb_qmp__close(vm->qmp);
	vm->qmp = NULL;
	if (vm->agent_fd >= 0)
		close(vm->agent_fd);
	vm->agent_fd = -1;
	if (vm->dir[0] && !getenv("KBISECT_KEEP_VM"))
		kb_vm__rmrf(vm->dir);
	vm->dir[0] = '\0';
}

char *kb_vm__console(const kb_vm *vm, size_t *len)
{
	char path[700], *buf = NULL;
	saved_error se;

	*len = 0;
	snprintf(path, sizeof(path), "%s/console.log", vm->dir);
	/* callers read the console after an error of their own: keep that one */
	error_save(&se);
	/* no real limit (the flood limit stops a run long before) */
	if (kb_file_read(&buf, len, path, KB_FILE_READ_MAX << 4, "console log") == KB_OK)
		return buf;
	error_restore(&se);
	return NULL;
}

uint64_t kb_vm__console_size(const kb_vm *vm)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof(path), "%s/console.log", vm->dir);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int wait_migrated(kb_vm *vm, double deadline)
{
	for (;;) {
		json_t *ret = NULL;
		const char *st;
		int r = kb_qmp__exec(vm->qmp, "query-migrate", NULL, &ret, deadline - kb_vm__now());
		if (r < 0)
			return r;
		st = json_string_value(json_object_get(ret, "status"));
		if (st && !strcmp(st, "completed")) {
			json_decref(ret);
			return 0;
		}
		if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
			const char *why = json_string_value(json_object_get(ret, "error-desc"));
			r = kb_error_set(KB_ERRCLASS_VMPOOL, "saving the vm state failed: %s; see "
					 "'%s/qemu.log'", why ? why : st, vm->dir);
			json_decref(ret);
			return r;
		}
		json_decref(ret);
		if ((r = check_alive(vm)) < 0)
			return r;
		if (kb_vm__now() > deadline)
			return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
					     "saving the vm state did not finish in time");
		usleep(10000);
	}
}

#define IGNORE_SHARED "{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}]}"

int kb_snapshot__create(kb_snapshot *snap, const kb_qemu_cfg *cfg_in, double timeout_s,
			char **console, size_t *console_len, int *boot_end, char *why,
			size_t why_len)
{
	double t0 = kb_vm__now(), deadline = t0 + timeout_s;
	kb_qemu_cfg cfg = *cfg_in;
	char vmdir[700], args[1400];
	kb_vm vm;
	int r, launched = 0, end;

	if (console) {
		*console = NULL;
		*console_len = 0;
	}
	if (boot_end)
		*boot_end = KB_BOOT_END_HOST; /* what every failure before the launch is */
	if (why && why_len)
		why[0] = '\0';
	snprintf(snap->ram, sizeof(snap->ram), "%s/ram", snap->dir);
	snprintf(snap->state, sizeof(snap->state), "%s/state", snap->dir);
	snprintf(vmdir, sizeof(vmdir), "%s/boot", snap->dir);
	if (mkdir(vmdir, 0700) < 0 && errno != EEXIST)
		return kb_error_os("cannot create '%s'", vmdir);
	snap->disk[0] = '\0';
	if (cfg.image) {
		snprintf(snap->disk, sizeof(snap->disk), "%.500s/disk.qcow2", snap->dir);
		if ((r = kb_vm__overlay(cfg.image, snap->disk)) < 0)
			return r;
		cfg.disk = snap->disk;
	}
	cfg.ram_file = snap->ram;
	cfg.ram_shared = 1;
	cfg.incoming = 0;
	cfg.dir = vmdir;
	r = kb_vm__launch(&vm, &cfg, 30);
	if (r == 0) {
		launched = 1;
		r = kb_vm__wait_ready(&vm, deadline);
	}
	if (r < 0) {
		char reason[300];
		end = kb_vm__boot_end(&vm, launched, r, reason, sizeof(reason));
		if (boot_end)
			*boot_end = end;
		if (why && why_len)
			snprintf(why, why_len, "%s", reason);
		if (end == KB_BOOT_END_TIMEOUT)
			r = kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
					  "kernel '%s' did not boot to the agent within %.0fs; "
					  "see its console", cfg.kernel, timeout_s);
		else
			r = kb_error_set(KB_ERRCLASS_VMPOOL, "kernel '%s' did not boot to the "
					 "agent: %s", cfg.kernel, reason);
		if (console)
			*console = kb_vm__console(&vm, console_len);
		kb_vm__destroy(&vm);
		return r;
	}
	snap->boot_s = kb_vm__now() - t0;
	snprintf(args, sizeof(args), "{\"uri\": \"exec:cat > '%s'\"}", snap->state);
	if ((r = kb_qmp__exec(vm.qmp, "stop", NULL, NULL, 30)) < 0 ||
	    (r = kb_qmp__exec(vm.qmp, "migrate-set-capabilities", IGNORE_SHARED, NULL, 30)) < 0 ||
	    (r = kb_qmp__exec(vm.qmp, "migrate", args, NULL, 30)) < 0 ||
	    (r = wait_migrated(&vm, kb_vm__now() + 120)) < 0) {
		kb_error_prefix("cannot save the booted vm of '%s'", cfg.kernel);
		if (why && why_len)
			snprintf(why, why_len, "%s", kb_error_last()->message);
		if (boot_end && vm.cancel && __atomic_load_n(vm.cancel, __ATOMIC_RELAXED))
			*boot_end = KB_BOOT_END_CANCELLED;
		kb_vm__destroy(&vm);
		return r;
	}
	kb_vm__destroy(&vm);
	return 0;
}

/* Launch cfg (ram settings as given) with -incoming, restore state, resume, ping. */
static int restore(kb_vm *vm, const char *state, kb_qemu_cfg *cfg, double timeout_s)
{
	double deadline = kb_vm__now() + timeout_s;
	char args[1400];
	int r;

	cfg->incoming = 1;
	r = kb_vm__launch(vm, cfg, timeout_s);
	if (r < 0)
		return r;
	snprintf(args, sizeof(args), "{\"uri\": \"exec:cat '%s'\"}", state);
	if ((r = kb_qmp__exec(vm->qmp, "migrate-set-capabilities", IGNORE_SHARED, NULL,
			      deadline - kb_vm__now())) < 0 ||
	    (r = kb_qmp__exec(vm->qmp, "migrate-incoming", args, NULL,
			      deadline - kb_vm__now())) < 0 ||
	    (r = wait_migrated(vm, deadline)) < 0 ||
	    /* the template was stopped before it was saved, so the clone arrives paused */
	    (r = kb_qmp__exec(vm->qmp, "cont", NULL, NULL, deadline - kb_vm__now())) < 0 ||
	    (r = kb_qmp__wait_event(vm->qmp, "RESUME", NULL, deadline - kb_vm__now())) < 0) {
		kb_error_prefix("cannot restore a clone from '%s'", state);
		return r;
	}
	return kb_vm__ping(vm, deadline);
}

int kb_snapshot__clone(kb_vm *vm, const kb_snapshot *snap, kb_qemu_cfg *cfg,
		       double timeout_s)
{
	char disk[700], guid[37];
	int r;

	if (kb_vm__uuid(guid) < 0)
		return kb_error_os("cannot draw a VM generation ID for a clone");
	cfg->ram_file = snap->ram;
	cfg->ram_shared = 0;
	if (snap->disk[0]) { /* the clone writes to its own overlay of the template's */
		snprintf(disk, sizeof(disk), "%.600s/disk.qcow2", cfg->dir);
		if ((r = kb_vm__overlay(snap->disk, disk)) < 0)
			return r;
		cfg->disk = disk;
	}
	cfg->vmgenid = guid; /* new per clone: the guest sees a new generation */
	r = restore(vm, snap->state, cfg, timeout_s);
	cfg->disk = NULL; /* points into this frame */
	cfg->vmgenid = NULL;
	return r;
}

/* Copy a sparse file (the RAM file is mostly holes). */
static int copy_sparse(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	struct stat st;
	off_t data = 0, hole;

	if (in < 0)
		return kb_error_os("cannot open '%s'", from);
	if (fstat(in, &st) < 0 ||
	    (out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    ftruncate(out, st.st_size) < 0) {
		r = kb_error_os("cannot copy '%s' to '%s'", from, to);
		goto done;
	}
	while ((data = lseek(in, data, SEEK_DATA)) >= 0) {
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			hole = st.st_size;
		while (data < hole) {
			loff_t a = data, b = data;
			ssize_t n = copy_file_range(in, &a, out, &b, (size_t)(hole - data), 0);
			if (n <= 0) {
				r = kb_error_os("cannot copy '%s' to '%s'", from, to);
				goto done;
			}
			data += n;
		}
	}
	if (errno != ENXIO)
		r = kb_error_os("cannot copy '%s' to '%s'", from, to);
done:
	close(in);
	if (out >= 0)
		close(out);
	return r;
}

int kb_snapshot__derive(kb_snapshot *out, const kb_snapshot *base, const kb_qemu_cfg *cfg_in,
			const void *prog, size_t len, int xz, double timeout_s)
{
	double t0 = kb_vm__now(), deadline = t0 + timeout_s;
	kb_qemu_cfg cfg = *cfg_in;
	char vmdir[700], line[256], want[64], args[1400];
	uint32_t h = kb_vm__fnv32(prog, len);
	kb_vm vm;
	int r;

	snprintf(out->ram, sizeof(out->ram), "%s/ram", out->dir);
	snprintf(out->state, sizeof(out->state), "%s/state", out->dir);
	snprintf(vmdir, sizeof(vmdir), "%s/boot", out->dir);
	if (mkdir(vmdir, 0700) < 0 && errno != EEXIST)
		return kb_error_os("cannot create '%s'", vmdir);
	if ((r = copy_sparse(base->ram, out->ram)) < 0)
		return r;
	out->disk[0] = '\0';
	if (base->disk[0]) { /* a copy of the base's overlay (same backing image) */
		snprintf(out->disk, sizeof(out->disk), "%.500s/disk.qcow2", out->dir);
		if ((r = copy_sparse(base->disk, out->disk)) < 0)
			return r;
		cfg.disk = out->disk;
	}
	cfg.ram_file = out->ram;
	cfg.ram_shared = 1;
	cfg.dir = vmdir;
	r = restore(&vm, base->state, &cfg, 60);
	if (r == 0) {
		snprintf(line, sizeof(line), "PUT %zu %08x%s\n", len, h, xz ? " xz" : "");
		snprintf(want, sizeof(want), "STORED %08x", h);
		if ((r = kb_vm__agent_send(&vm, line, strlen(line), deadline)) == 0)
			r = kb_vm__agent_send(&vm, prog, len, deadline);
		while (r == 0) {
			r = kb_vm__agent_line(&vm, line, sizeof(line), deadline);
			if (r == 0 && !strcmp(line, want))
				break;
			if (r == 0 && !strncmp(line, "ERR", 3))
				r = kb_error_set(KB_ERRCLASS_VMPOOL, "guest agent: %s", line);
		}
	}
	if (r == 0) {
		snprintf(args, sizeof(args), "{\"uri\": \"exec:cat > '%s'\"}", out->state);
		if ((r = kb_qmp__exec(vm.qmp, "stop", NULL, NULL, 30)) == 0 &&
		    (r = kb_qmp__exec(vm.qmp, "migrate", args, NULL, 30)) == 0)
			r = wait_migrated(&vm, kb_vm__now() + 120);
	}
	if (r < 0)
		kb_error_prefix("cannot store the reproducer in a template");
	out->boot_s = kb_vm__now() - t0;
	kb_vm__destroy(&vm);
	return r;
}
