/*
 * kbisect/util.h - host helpers every component shares: read a whole file, find a
 * program on $PATH, run a program with a time limit, the monotonic clock.
 * Owns: the one copy of each (common/util.c), their errors (kbisect/error.h).
 * Not: streaming readers (console logs, hashing: they never hold a whole file),
 *      long-lived children such as QEMU (vmpool/), the HTTP client (net/).
 */
#ifndef KBISECT_UTIL_H
#define KBISECT_UTIL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default limit of kb_file_read() when max is 0 (64 MiB). */
#define KB_FILE_READ_MAX ((size_t)64 << 20)

/** Read the whole file at path ("-": standard input) into *out (malloc'd, NUL-terminated,
 * *len bytes without the NUL; free it). what names the file in errors ("config file").
 * KB_ENOTFOUND when it does not exist, KB_EINVAL when it holds more than max bytes
 * (0: KB_FILE_READ_MAX), KB_ERROR on other read errors; *out is NULL then. */
int kb_file_read(char **out, size_t *len, const char *path, size_t max, const char *what);

/** Find the executable prog on $PATH (a prog with a '/' is checked as it is) and write
 * its path to buf. KB_OK, or KB_ENOTFOUND (with the error set) when there is none. */
int kb_path_find(char *buf, size_t len, const char *prog);

/** In and out of kb_spawn(). */
typedef struct {
	double timeout_s;   /**< in: kill the program (its process group) after this
			         many seconds; 0: no limit */
	size_t capture_max; /**< in: > 0: collect its stdout and stderr, keeping the first
			         capture_max bytes; 0: they go to out_fd */
	int out_fd;         /**< in: > 0 (and no capture): stdout and stderr go to this fd
			         (a log file); < 0: to /dev/null; 0: they are the caller's */
	const char *cwd;    /**< in: directory to run in, or NULL */
	const char *const *env_set;   /**< in: "NAME=value" to set, NULL-terminated, or NULL */
	const char *const *env_unset; /**< in: names to remove from the environment, or NULL */
	char *output;       /**< out: what was collected, NUL-terminated, or NULL (free it) */
	size_t output_len;  /**< out: bytes in output */
	int status;         /**< out: its exit code, or 128 + the signal that ended it */
	int timed_out;      /**< out: 1 when it was killed at timeout_s */
} kb_spawn_opts;

/** Run argv[0] (searched on $PATH) with the arguments argv (NULL-terminated) in a
 * process group of its own, stdin from /dev/null, and wait for it; what is left of its
 * group when it ends (background children) is killed too. KB_OK when it ran to its end,
 * whatever its exit code (o->status); KB_ETIMEOUT when it was killed at o->timeout_s;
 * KB_ENOTFOUND when the program does not exist; KB_ERROR when it could not be started
 * (or o->cwd cannot be entered). */
int kb_spawn(const char *const *argv, kb_spawn_opts *o);

/** Send sig to the process group of every child that kb_spawn() runs now, in any
 * thread (builds: make and the compilers under it). Async-signal-safe: for the handler
 * of a second Ctrl-C. */
void kb_spawn_signal_all(int sig);

/** Seconds on the monotonic clock (for durations and deadlines). */
double kb_now_s(void);

#ifdef __cplusplus
}
#endif
#endif
