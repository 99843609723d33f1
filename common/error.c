/*
 * common/error.c - the per-thread last error and kb_strerror().
 * Owns: the thread-local message buffer. Messages follow git's style: lowercase, no
 * full stop, the subject quoted, ending with what to do.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error_internal.h"

#define KB_ERRMSG_MAX 1024

static _Thread_local char errbuf[KB_ERRMSG_MAX];
static _Thread_local kb_error last = { "", KB_ERRCLASS_NONE, KB_OK };

static int vset(int code, int klass, const char *fmt, va_list ap)
{
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	last.message = errbuf;
	last.klass = klass;
	last.code = code;
	return code;
}

int kb_error_set(int klass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(KB_ERROR, klass, fmt, ap);
	va_end(ap);
	return KB_ERROR;
}

int kb_error_setc(int code, int klass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(code, klass, fmt, ap);
	va_end(ap);
	return code;
}

int kb_error_os(const char *fmt, ...)
{
	int err = errno;
	int code = err == ENOSPC ? KB_EFULL : err == ENOENT ? KB_ENOTFOUND : KB_ERROR;
	char head[KB_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	snprintf(errbuf, sizeof(errbuf), "%.700s: %.300s", head, strerror(err));
	last.message = errbuf;
	last.klass = KB_ERRCLASS_OS;
	last.code = code;
	errno = err;
	return code;
}

void kb_error_prefix(const char *fmt, ...)
{
	char head[KB_ERRMSG_MAX], old[KB_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", last.message);
	snprintf(errbuf, sizeof(errbuf), "%.400s: %.600s", head, old);
	last.message = errbuf;
}

const kb_error *kb_error_last(void)
{
	return &last;
}

void kb_error_clear(void)
{
	errbuf[0] = '\0';
	last.message = errbuf;
	last.klass = KB_ERRCLASS_NONE;
	last.code = KB_OK;
}

const char *kb_strerror(int code)
{
	switch (code) {
	case KB_OK: return "success";
	case KB_ERROR: return "error";
	case KB_ENOTFOUND: return "not found";
	case KB_EEXISTS: return "already exists";
	case KB_ELOCKED: return "locked by another process";
	case KB_EFULL: return "no space left";
	case KB_ECORRUPT: return "data is corrupt";
	case KB_ETIMEOUT: return "timed out";
	case KB_EVERSION: return "format version is newer than this binary";
	case KB_EREADONLY: return "read-only";
	case KB_EINVAL: return "invalid argument or input";
	case KB_EUNSUPPORTED: return "not supported";
	}
	return "unknown error code";
}
