/*
 * kbisect/error.h - the one error convention of kbisect.
 *
 * Every function that can fail returns an int: 0 (KB_OK) on success, or one of the
 * negative codes below. The human-readable reason, with context (which file, which
 * key, what to do next), is kept per thread and read with kb_error_last().
 * Codes of libraries underneath (LMDB, libgit2, libcurl, errno) are translated at
 * module edges and never appear in include/.
 */
#ifndef KBISECT_ERROR_H
#define KBISECT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/** Return codes of every kbisect function (0 or negative). */
typedef enum {
	KB_OK = 0,              /**< success */
	KB_ERROR = -1,          /**< generic failure; kb_error_last() says what and why */
	KB_ENOTFOUND = -2,      /**< the object, key, file or revision does not exist */
	KB_EEXISTS = -3,        /**< the thing to create exists already */
	KB_ELOCKED = -4,        /**< another process holds a lock we need */
	KB_EFULL = -5,          /**< no space left (cache over its limit, disk full) */
	KB_ECORRUPT = -6,       /**< stored data failed its checksum or is malformed */
	KB_ETIMEOUT = -7,       /**< an operation ran past its deadline */
	KB_EVERSION = -8,       /**< on-disk format is newer than this binary */
	KB_EREADONLY = -9,      /**< write attempted on a read-only handle */
	KB_EINVAL = -10,        /**< bad argument or malformed input */
	KB_EUNSUPPORTED = -11,  /**< feature not available on this host or build */
} kb_error_code;

/** Which part of kbisect raised an error. */
typedef enum {
	KB_ERRCLASS_NONE = 0,   /**< no error recorded */
	KB_ERRCLASS_OS,         /**< system call, file system, memory */
	KB_ERRCLASS_CACHE,      /**< the LMDB object store and its records */
	KB_ERRCLASS_VMPOOL,     /**< QEMU, QMP, guest agent */
	KB_ERRCLASS_GIT,        /**< libgit2, repositories, revisions */
	KB_ERRCLASS_BUILD,      /**< kernel builds */
	KB_ERRCLASS_BISECT,     /**< the bisection engine and its model */
	KB_ERRCLASS_ANALYZE,    /**< bisection log parsing */
	KB_ERRCLASS_NET,        /**< HTTP client and server */
	KB_ERRCLASS_ELF,        /**< ELF parsing (kernel signatures) */
} kb_error_class;

/** The last error of the calling thread. */
typedef struct {
	const char *message;    /**< one line, lowercase, names the subject and the fix */
	int klass;              /**< a kb_error_class */
	int code;               /**< the kb_error_code that was returned with it */
} kb_error;

/** The calling thread's last error; never NULL, owned by kbisect (do not free). */
const kb_error *kb_error_last(void);

/** Forget the calling thread's last error. */
void kb_error_clear(void);

/** Static description of a kb_error_code (never NULL). */
const char *kb_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
