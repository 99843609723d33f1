/*
 * vmpool/vmpool_internal.h - module-internal API of vmpool (never in include/):
 * QMP client (qmp.c), QEMU processes (qemu.c), KVM probe (accel.c), initramfs writer
 * (initramfs.c), templates and clones (snapshot.c), fresh randomness for clones
 * (entropy.c), the pool directory's lock and reaper (pooldir.c). The pool itself is
 * pool.c, template.c and run.c (their shared types: pool_internal.h).
 */
#ifndef KB_VMPOOL_INTERNAL_H
#define KB_VMPOOL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "kbisect/vmpool.h"

/* ---- time ---- */

/** Monotonic seconds. */
double kb_vm__now(void);

/** rm -rf path (nftw, no shell); 0 or -1. */
int kb_vm__rmrf(const char *path);

/** Run argv (no shell, kb_spawn: own process group, stdin /dev/null), its stdout and
 * stderr to out_path, else log_path, else /dev/null; its exit status (128 + signal),
 * 127 when argv[0] is not found, or -1. Leaves the last error as it was. */
int kb_vm__run(char *const argv[], const char *out_path, const char *log_path);

/* ---- QMP (qmp.c) ---- */

/** What one line received from QMP is. */
typedef enum {
	KB_QMP_GREETING = 1, /**< {"QMP": {...}} */
	KB_QMP_RETURN,       /**< {"return": ...} */
	KB_QMP_ERROR,        /**< {"error": {"class", "desc"}} */
	KB_QMP_EVENT,        /**< {"event": NAME, "data": {...}} */
} kb_qmp_kind;

/** One parsed QMP message. */
typedef struct {
	int kind;            /**< kb_qmp_kind */
	char name[64];       /**< event name, or error class */
	char desc[256];      /**< error description */
	json_t *json;        /**< the whole message (owned; kb_qmp__msg_clear()) */
} kb_qmp_msg;

/** Parse one QMP line. @return 0, KB_EINVAL (not JSON, not an object, unknown kind) */
int kb_qmp__parse(kb_qmp_msg *out, const char *line, size_t len);

/** Free what a message owns. */
void kb_qmp__msg_clear(kb_qmp_msg *m);

/** The reason of a SHUTDOWN event's data ("guest-reset", "guest-shutdown"...), or "". */
const char *kb_qmp__shutdown_reason(const kb_qmp_msg *m);

typedef struct kb_qmp kb_qmp;

/** Connect to the QMP socket at path (retrying until it exists or the deadline),
 * read the greeting and leave negotiation mode. */
int kb_qmp__connect(kb_qmp **out, const char *path, double timeout_s);

/** Execute cmd with args (a JSON object text, or NULL); *ret (may be NULL) gets the
 * "return" value (json_decref() it). @return 0, KB_ETIMEOUT, KB_ERROR (QMP error) */
int kb_qmp__exec(kb_qmp *q, const char *cmd, const char *args, json_t **ret,
		 double timeout_s);

/** Wait until event name was received (events received earlier count too; each
 * is reported once). *data (may be NULL) gets a copy of its data. */
int kb_qmp__wait_event(kb_qmp *q, const char *name, json_t **data, double timeout_s);

/** Read whatever is available without blocking (events are queued). 0, or KB_ERROR
 * when the connection is gone. */
int kb_qmp__pump(kb_qmp *q);

/** 1 if event name was received (and not yet taken), with the message in *msg
 * (borrowed until the next call) when msg is not NULL. */
int kb_qmp__has_event(kb_qmp *q, const char *name, const kb_qmp_msg **msg);

/** The socket fd (for poll). */
int kb_qmp__fd(const kb_qmp *q);

/** Close; NULL ok. */
void kb_qmp__close(kb_qmp *q);

/* ---- QEMU processes (qemu.c) ---- */

/** A growable argv. */
typedef struct {
	char **v;
	size_t n, cap;
} kb_argv;

/** Append a printf-formatted argument. */
void kb_argv__add(kb_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Free all arguments. */
void kb_argv__free(kb_argv *a);

/** How to build a QEMU command line. */
typedef struct {
	const char *qemu;        /**< binary */
	const char *accel;       /**< "tcg" / "kvm" */
	unsigned int mem_mb, cpus;
	const char *kernel, *initrd, *image, *cmdline_extra;
	const char *disk;        /**< qcow2 overlay (kb_vm__overlay()) to boot from instead
				      of image, so the image is never written; NULL: image
				      is opened with snapshot=on */
	const char *ram_file;    /**< memory-backend-file path, or NULL for anonymous RAM */
	int ram_shared;          /**< share=on (template) or off (clone) */
	int incoming;            /**< 1: -incoming defer */
	const char *dir;         /**< the VM's dir: qmp.sock, agent.sock, console.log */
	int *cancel;             /**< when *cancel becomes non-zero, waits on this VM end
				      (read atomically); may be NULL */
	const char *vmgenid;     /**< GUID of the VM generation ID device (a new one per
				      clone: an ACPI+CONFIG_VMGENID kernel reseeds at
				      restore); NULL: "auto" (QEMU draws one) */
} kb_qemu_cfg;

/** The disk format of image ("qcow2" by its magic, else "raw"). */
const char *kb_qemu__image_format(const char *image);

/** The CPU model QEMU gets for accel (KVM: a named, migratable one). */
const char *kb_qemu__cpu_model(const char *accel);

/** Build the QEMU argv for cfg into *out. */
int kb_qemu__argv(kb_argv *out, const kb_qemu_cfg *cfg);

/** The kernel command line used for cfg (static text + extra) into buf. */
void kb_qemu__cmdline(char *buf, size_t len, const kb_qemu_cfg *cfg);

/** Start argv in its own process group, dying with us (PR_SET_PDEATHSIG), stdout and
 * stderr to log_path. *pid gets its pid. */
int kb_qemu__spawn(pid_t *pid, char *const argv[], const char *log_path);

/** 1 if pid has exited (reaped; *status gets the wait status), 0 if running. */
int kb_qemu__exited(pid_t pid, int *status);

/** SIGKILL the process group of pid and reap it (no-op when pid <= 0). */
void kb_qemu__kill(pid_t pid);

/* ---- one VM: the QEMU process, its QMP and agent connections (snapshot.c) ---- */

typedef struct {
	char dir[512];           /**< its directory (removed by kb_vm__destroy) */
	pid_t pid;
	int exited;              /**< 1: QEMU exited (status valid) */
	int status;
	kb_qmp *qmp;
	int agent_fd;            /**< connected agent socket, -1 */
	int *cancel;             /**< from kb_qemu_cfg */
	char abuf[4096];         /**< agent input not yet consumed */
	size_t alen;
} kb_vm;

/** Launch QEMU for cfg (cfg->dir must exist), connect QMP and the agent socket. */
int kb_vm__launch(kb_vm *vm, const kb_qemu_cfg *cfg, double timeout_s);

/** Read one agent line (without "\n") into line within the deadline (absolute,
 * kb_vm__now() clock). @return 0, KB_ETIMEOUT, KB_ERROR (QEMU or socket gone) */
int kb_vm__agent_line(kb_vm *vm, char *line, size_t len, double deadline);

/** Send bytes to the agent. */
int kb_vm__agent_send(kb_vm *vm, const void *data, size_t len, double deadline);

/** Kill QEMU, close sockets, remove the VM dir. */
void kb_vm__destroy(kb_vm *vm);

/** Read the VM's console.log (malloc'd, *len; NULL if none); the last error is kept. */
char *kb_vm__console(const kb_vm *vm, size_t *len);

/** Size of the console log so far. */
uint64_t kb_vm__console_size(const kb_vm *vm);

/* ---- the pool's directory (pooldir.c) ---- */

/** Remove the kbisect-pool-* directories under base whose owner is gone: their
 * owner.lock can be locked (or, without one, no process has the pid in the name). */
void kb_pooldir__sweep(const char *base);

/** Create and flock() dir/owner.lock; *fd stays open (close-on-exec) while the pool
 * lives. */
int kb_pooldir__lock(const char *dir, int *fd);

/** Fork the reaper that removes dir when this process is gone; its pid, or -1 (then
 * only the next pool's sweep cleans up). Kill and reap it after removing dir. */
pid_t kb_pooldir__reaper(const char *dir);

/* ---- fresh randomness for clones (entropy.c) ---- */

/** A random version-4 UUID (from getrandom()) into buf (37 bytes). 0 or -1. */
int kb_vm__uuid(char buf[37]);

/** Give vm the host's wall clock and 64 fresh random bytes (agent SEED: credited to the
 * kernel's RNG, then a forced reseed); token gets the guest's 16-byte getrandom() token
 * after it, in hex. @return 0, KB_EINVAL (the guest could not reseed: why says so),
 * KB_ETIMEOUT / KB_ERROR (the VM or its channel failed) */
int kb_vm__seed(kb_vm *vm, char token[33], char *why, size_t why_len, double deadline);

/** The guest's token without reseeding (agent TOKEN); "" when the agent has none. */
void kb_vm__token(kb_vm *vm, char token[33], double deadline);

/** The tokens seen from one template's clones. */
typedef struct {
	unsigned char (*v)[16];
	size_t n, cap;
} kb_tokens;

/** Remember token (32 hex digits): 0 new, 1 seen before, -1 malformed. */
int kb_tokens__add(kb_tokens *set, const char *token);

/** Free the set. */
void kb_tokens__free(kb_tokens *set);

/* ---- templates (snapshot.c) ---- */

/** A booted and saved kernel. */
typedef struct {
	char dir[512];           /**< holds ram and state */
	char ram[600], state[600];
	char disk[600];          /**< qcow2 overlay of the disk image ("" without one):
				      what the guest wrote to its disk before it was saved */
	double boot_s;           /**< how long the boot took */
} kb_snapshot;

/** Why a boot did not get the guest agent ready (kb_vm__boot_end()). Only GUEST and
 * BAD_KERNEL say something about the kernel; the pool also reads the console. */
typedef enum {
	KB_BOOT_END_HOST = 0,   /**< the host's side failed: QEMU could not start, was
				     killed (OOM) or crashed, its sockets broke, saving failed */
	KB_BOOT_END_TIMEOUT,    /**< the deadline passed with the guest still running */
	KB_BOOT_END_GUEST,      /**< the guest reset or powered off by itself (QMP SHUTDOWN
				     "guest-*", or QEMU exited 0: -no-reboot) */
	KB_BOOT_END_BAD_KERNEL, /**< QEMU refused to load the kernel file at start */
	KB_BOOT_END_CANCELLED,  /**< the VM's cancel flag was set */
} kb_boot_end;

/** Classify a boot of vm that failed with r (from kb_vm__launch() when launched is 0,
 * else from kb_vm__wait_ready()); call before kb_vm__destroy(). Waits up to 2 s for a
 * QEMU whose agent channel closed to exit. why gets a short host-side reason. */
int kb_vm__boot_end(kb_vm *vm, int launched, int r, char *why, size_t why_len);

/** Boot cfg (cfg->ram_file set, shared) until the agent is ready, then save the state
 * to snap (x-ignore-shared migration) and stop QEMU. On a boot failure *console gets
 * the console text (malloc'd) and *boot_end (may be NULL) a kb_boot_end, why (may be
 * NULL) a short host-side reason. */
int kb_snapshot__create(kb_snapshot *snap, const kb_qemu_cfg *cfg, double timeout_s,
			char **console, size_t *console_len, int *boot_end, char *why,
			size_t why_len);

/** Start a clone of snap in vm (cfg->dir must exist; ram/incoming set here) and wait
 * until the guest runs and the agent answers. */
int kb_snapshot__clone(kb_vm *vm, const kb_snapshot *snap, kb_qemu_cfg *cfg,
		       double timeout_s);

/** Derive a template from base that holds program prog (sent with PUT, xz: packed with
 * xz): restore base
 * on a private copy of its RAM file (share=on), store the program, save to out
 * (out->dir must exist). */
int kb_snapshot__derive(kb_snapshot *out, const kb_snapshot *base, const kb_qemu_cfg *cfg,
			const void *prog, size_t len, int xz, double timeout_s);

/** Create the qcow2 file overlay whose backing file is backing (raw or qcow2, by its
 * magic) with qemu-img: writes go to overlay, backing is only read. */
int kb_vm__overlay(const char *backing, const char *overlay);

/** Point snap's disk overlay at image (qemu-img rebase -u): a snapshot from the
 * cache or the state dir may have been made with the image at another path. */
int kb_snapshot__rebase(const kb_snapshot *snap, const char *image);

/** Wait for READY from a freshly booted VM's agent and check it with a PING. */
int kb_vm__wait_ready(kb_vm *vm, double deadline);

/** PING the agent and wait for its PONG. */
int kb_vm__ping(kb_vm *vm, double deadline);

/* ---- snapshots in the cache (vmstate.c); cache is a kb_cache * ---- */

/** Everything a saved VM state depends on; what kb_vmstate__key() hashes. */
typedef struct {
	const kb_key *signature;   /**< kernel signature, or NULL: kernel_hash counts */
	const kb_key *kernel_hash; /**< SHA-256 of the bzImage (used without signature) */
	const kb_key *initrd_hash; /**< the initramfs (holds the agent), or NULL */
	const kb_key *image_hash;  /**< the disk image (holds the agent), or NULL */
	unsigned int mem_mb, cpus;
	const char *accel, *cpu_model, *machine;
	const char *qemu_version;  /**< first line of `qemu --version` */
	const char *cmdline;       /**< the whole kernel command line */
} kb_vmstate_key_in;

/** The template key of a booted kernel (namespace KB_REF_VMSTATE, state dir name):
 * kernel signature (or bzImage hash) + every VM setting that changes the saved state.
 * NULL strings count as "". */
void kb_vmstate__key(kb_key *out, const kb_vmstate_key_in *in);

/** Store snap's RAM, state (and disk overlay) files in the cache under key
 * (KB_REF_VMSTATE). */
int kb_vmstate__store(void *cache, const kb_key *key, const kb_snapshot *snap);

/** Restore the snapshot of key into snap->dir (must exist); fills snap.
 * @return 0, KB_ENOTFOUND (not cached), KB_ECORRUPT, KB_ERROR */
int kb_vmstate__load(void *cache, const kb_key *key, kb_snapshot *snap);

/* ---- accelerator (accel.c) ---- */

/** Decide the accelerator: want "tcg"/"kvm"/"auto"; for auto, a remembered answer
 * (in state_dir) or a real KVM boot of kernel+initrd under a short deadline.
 * accel gets "tcg"/"kvm", reason a one-line explanation. */
int kb_accel__choose(char accel[8], char *reason, size_t reason_len, const char *want,
		     const char *qemu, const char *state_dir, const char *kernel,
		     const char *initrd, const char *tmp_dir);

/* ---- initramfs (initramfs.c) ---- */

typedef struct kb_cpio kb_cpio;

/** Start a cpio "newc" archive written to fd. */
int kb_cpio__open(kb_cpio **out, int fd);
/** Add a directory. */
int kb_cpio__dir(kb_cpio *c, const char *name, unsigned int mode);
/** Add a regular file with the given bytes. */
int kb_cpio__file(kb_cpio *c, const char *name, unsigned int mode, const void *data,
		  size_t len);
/** Add a symlink name -> target. */
int kb_cpio__symlink(kb_cpio *c, const char *name, const char *target);
/** Add a character device node. */
int kb_cpio__chardev(kb_cpio *c, const char *name, unsigned int mode, unsigned int major,
		     unsigned int minor);
/** Write the trailer, pad to 512 bytes and free c (fd stays open). */
int kb_cpio__finish(kb_cpio *c);
/** Free without the trailer; NULL ok. */
void kb_cpio__abort(kb_cpio *c);

/** Write the guest initramfs (busybox + agent + /init) to path. */
int kb_initramfs__build(const char *path, const char *busybox, const char *agent);

/** The default guest agent binary path: $KBISECT_AGENT, ../libexec/kbisect/kbisect-agent
 * from the running program (an installed kbisect), else the one this build made. */
const char *kb_initramfs__agent_path(void);

/* ---- reproducers ---- */


/** FNV-1a 32-bit hash (the agent checks transfers with it). */
uint32_t kb_vm__fnv32(const void *data, size_t len);

#endif
