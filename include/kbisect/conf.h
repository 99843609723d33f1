/*
 * kbisect/conf.h - reading kbisect's `key = value` config files (common/conf.c): the
 * user's config (remote = URL, remote-token-file, remote-ca: cli/cmd_remote_wiring.c)
 * and `kbisect cache serve --config` (cli/cmd_cache_serve.c).
 * Ownership: strings returned malloc'd are the caller's (free()).
 */
#ifndef KBISECT_CONF_H
#define KBISECT_CONF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif
#endif

/** Call fn for each setting of the file at path, in order: key and value trimmed, line
 * its 1-based number. Blank lines and lines starting with '#' are skipped; a line
 * without '=' is passed with key NULL and value the trimmed line. Stops at the first
 * non-zero return of fn and returns it.
 * @return 0, fn's value, KB_ENOTFOUND/KB_ERROR (cannot read the file: kb_error_last()
 *         says "cannot read config file '<path>': <why>") */
int kb_conf_foreach(const char *path,
		    int (*fn)(const char *key, const char *value, unsigned int line, void *arg),
		    void *arg);

/** The first non-empty value of key in the file at path (malloc'd; free() it), or NULL
 * (no such setting, or no readable file). */
char *kb_conf_get(const char *path, const char *key);

/** The user's config file: $KBISECT_CONFIG, else ~/.config/kbisect/config; in buf. */
const char *kb_conf_user_path(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
