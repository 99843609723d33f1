/*
 * common/error_internal.h - setting errors (module-internal; never in include/).
 */
#ifndef KB_COMMON_ERROR_INTERNAL_H
#define KB_COMMON_ERROR_INTERNAL_H

#include "kbisect/error.h"

#if defined(__GNUC__)
#define KB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KB_PRINTF(a, b)
#endif

/** Record an error for klass and return KB_ERROR. */
int kb_error_set(int klass, const char *fmt, ...) KB_PRINTF(2, 3);

/** Record an error with an explicit code and return that code. */
int kb_error_setc(int code, int klass, const char *fmt, ...) KB_PRINTF(3, 4);

/** Record an OS error: appends ": strerror(errno)" to the message; returns KB_ERROR
 * (KB_EFULL for ENOSPC, KB_ENOTFOUND for ENOENT). */
int kb_error_os(const char *fmt, ...) KB_PRINTF(1, 2);

/** Prefix the current error message with more context ("while X: <old message>"). */
void kb_error_prefix(const char *fmt, ...) KB_PRINTF(1, 2);

#endif
