/*
 * net/server_log.c - the shared cache server's access log: one line per finished
 * request in a standard format, to stderr (the default), stdout ("-") or a file
 * (--access-log; reopened by kb_server_reload, for log rotation).
 * Formats: "combined" (Apache/nginx: client, identity, [time], "request line",
 * status, bytes sent, "referer", "user agent") followed by the duration in seconds (as
 * nginx's $request_time); "json" (one object per line). The identity is the name of the
 * request's token (net/server_auth.c), never the token. Request fields are escaped
 * with kb_server__log_escape, so a request cannot forge lines or send terminal escapes.
 * Not: what the server counts (net/server_status.c), its error messages (stderr,
 * net/server.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "server_priv.h"

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "cannot open access log '%s': %s; check "
			      "the directory and that the server's user may write there", path,
			      strerror(errno));
	return fd;
}

int kb_server__log_open(kb_server *s)
{
	if (pthread_mutex_init(&s->log_lock, NULL) != 0)
		return kb_error_os("cannot create the access log's lock");
	s->log_fd = -1;
	if (s->opts.access_log && !strcmp(s->opts.access_log, "-")) {
		s->log_fd = STDOUT_FILENO;
	} else if (s->opts.access_log) {
		if (!(s->log_path = strdup(s->opts.access_log)))
			return kb_error_os("cannot allocate the access log's name");
		if ((s->log_fd = open_file(s->log_path)) < 0)
			return KB_EINVAL;
		s->log_owned = 1;
	} else if (!s->opts.quiet) {
		s->log_fd = STDERR_FILENO;
	}
	s->opts.access_log = NULL; /* not kept */
	return 0;
}

int kb_server__log_reopen(kb_server *s)
{
	int fd, old;

	if (!s->log_owned)
		return 0;
	if ((fd = open_file(s->log_path)) < 0)
		return KB_EINVAL;
	pthread_mutex_lock(&s->log_lock);
	old = s->log_fd;
	s->log_fd = fd;
	pthread_mutex_unlock(&s->log_lock);
	close(old);
	return 0;
}

void kb_server__log_close(kb_server *s)
{
	if (s->log_owned && s->log_fd >= 0)
		close(s->log_fd);
	s->log_fd = -1;
	s->log_owned = 0;
	free(s->log_path);
	s->log_path = NULL;
	pthread_mutex_destroy(&s->log_lock);
}

/* kb_server__log_escape for a quoted field (user agent, referer): spaces stay. */
static void escape_quoted(char *out, size_t cap, const char *s)
{
	char part[512];
	size_t n = 0;

	out[0] = '\0';
	while (s && *s && n + 1 < cap) {
		size_t k = strcspn(s, " "), m;
		char seg[256];
		if (k >= sizeof(seg))
			k = sizeof(seg) - 1;
		memcpy(seg, s, k);
		seg[k] = '\0';
		kb_server__log_escape(part, sizeof(part), seg);
		m = strlen(part);
		if (n + m + 1 >= cap)
			break;
		memcpy(out + n, part, m);
		n += m;
		s += k;
		while (*s == ' ' && n + 1 < cap) {
			out[n++] = ' ';
			s++;
		}
		out[n] = '\0';
	}
}

/* The client's address as text ("-" when unknown). */
static void addr_text(char *out, size_t cap, const struct sockaddr *a)
{
	snprintf(out, cap, "-");
	if (!a)
		return;
	if (a->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, (socklen_t)cap);
	else if (a->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out,
			  (socklen_t)cap);
}

size_t kb_server__log_format(char *buf, size_t cap, int format, const struct kb_srv_logrec *r)
{
	char addr[INET6_ADDRSTRLEN + 1], ident[256], method[64], path[1024], version[64],
		ua[512], ref[512], when[64];
	struct tm tm;
	int n;

	addr_text(addr, sizeof(addr), r->addr);
	kb_server__log_escape(ident, sizeof(ident), r->ident && *r->ident ? r->ident : "-");
	kb_server__log_escape(method, sizeof(method), r->method ? r->method : "-");
	kb_server__log_escape(path, sizeof(path), r->path ? r->path : "-");
	kb_server__log_escape(version, sizeof(version), r->version ? r->version : "-");
	escape_quoted(ua, sizeof(ua), r->user_agent ? r->user_agent : "-");
	escape_quoted(ref, sizeof(ref), r->referer ? r->referer : "-");
	gmtime_r(&r->when.tv_sec, &tm);
	if (format == KB_SRV_LOG_JSON) {
		char *js;
		json_t *o;
		snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 r->when.tv_nsec / 1000000);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:f, s:s, s:s}", "time",
			      when, "client", addr, "identity", ident, "method", method, "path", path,
			      "protocol", version, "status", r->status, "bytes_sent",
			      (json_int_t)r->bytes_sent, "bytes_received",
			      (json_int_t)r->bytes_received, "duration_s", r->seconds, "referer",
			      ref, "user_agent", ua);
		js = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		n = snprintf(buf, cap, "%s\n", js ? js : "{}");
		free(js);
	} else {
		strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
		n = snprintf(buf, cap, "%s - %s [%s] \"%s %s %s\" %d %llu \"%s\" \"%s\" %.6f\n", addr,
			     ident, when, method, path, version, r->status,
			     (unsigned long long)r->bytes_sent, ref, ua, r->seconds);
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= cap) { /* cut short: keep it one line */
		n = (int)cap - 1;
		buf[n - 1] = '\n';
		buf[n] = '\0';
	}
	return (size_t)n;
}

void kb_server__log_request(kb_server *s, const struct kb_srv_logrec *r)
{
	char line[4096];
	size_t n;

	if (s->log_fd < 0)
		return;
	n = kb_server__log_format(line, sizeof(line), s->opts.access_log_format, r);
	pthread_mutex_lock(&s->log_lock);
	if (s->log_fd >= 0 && write(s->log_fd, line, n) < 0) {
		/* nowhere better to say it; the request itself is done */
	}
	pthread_mutex_unlock(&s->log_lock);
}
