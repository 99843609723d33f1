/*
 * cli/cmd_cache_serve.c - `kbisect cache serve`: serve one cache over HTTP/1.1 to a
 * team of build servers (Bazel remote-cache protocol, ccache's bazel layout, kbisect
 * records). The server itself is net/server.c (include/kbisect/server.h).
 * Owns: the flags, the config file's settings (read by common/conf.c) and
 * KBISECT_SERVE_* variables (flag > env > file),
 * the sd_notify datagrams (READY=1, STOPPING=1) for a Type=notify systemd unit.
 */
#include <errno.h>
#include <stddef.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kbisect/cache.h"
#include "kbisect/conf.h"
#include "kbisect/error.h"
#include "kbisect/server.h"
#include "cmd.h"
#include "options.h"

static const char *const serve_usage[] = {
	"kbisect cache serve [--config <file>] [--listen <host>:<port>] [--cache <dir>] [<options>]",
	NULL,
};

/* sd_notify(3) without libsystemd: one datagram to the unix socket named by
 * $NOTIFY_SOCKET (a leading '@' is the abstract namespace). Quietly does nothing outside
 * systemd; a failure is only worth a warning, the server still serves. */
static void notify_systemd(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (!path || !*path)
		return;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "kbisect: warning: ignoring NOTIFY_SOCKET '%.64s' (not a unix "
				"socket path)\n", path);
		return;
	}
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		fprintf(stderr, "kbisect: warning: cannot notify systemd on '%.64s': %s\n", path,
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

static const struct kb_cmd_doc serve_doc = {
	serve_usage,
	"Serve the cache over HTTP/1.1 until SIGINT or SIGTERM (or --duration).\n"
	"Speaks the Bazel HTTP remote-cache protocol (GET/HEAD/PUT /cas/<sha256> and\n"
	"/ac/<sha256>, any path prefix) and ccache's layouts under .../ccache/ (subdirs,\n"
	"flat, bazel; DELETE too), so ccache (remote_storage=http://host:port/ccache),\n"
	"Bazel and kbisect (--remote) share it; bodies may travel zstd-compressed\n"
	"(Content-Encoding / Accept-Encoding: zstd). GET /status (JSON) and\n"
	"GET /metrics (Prometheus). See docs/shared-cache.md.",
	"SIGHUP reloads the token file and the TLS certificate and key and reopens the\n"
	"access log file, keeping open connections; a reload that fails keeps the old\n"
	"ones and logs why. Under systemd (Type=notify) it sends READY=1 to\n"
	"$NOTIFY_SOCKET once it listens (RELOADING=1 / READY=1 around a reload).",
};

/* A size option (--max-size, --max-blob-size): the value and whether it was given. */
struct size_opt {
	unsigned long long v;
	int set;
};

/* --access-log-format combined|json -> kb_server_opts.access_log_format (0, 1) */
static const char *set_log_format(const struct kb_option *opt, const char *arg)
{
	if (strcmp(arg, "combined") && strcmp(arg, "json"))
		return "use combined or json";
	*(int *)opt->value = !strcmp(arg, "json");
	return NULL;
}

static const char *set_size(const struct kb_option *opt, const char *arg)
{
	struct size_opt *z = opt->value;
	if (kb_cli_parse_size(arg, &z->v) != 0)
		return "bad size; use e.g. 500M or 20G";
	z->set = 1;
	return NULL;
}

/* Split "host:port", "[v6]:port" or ":port" / "port". 0 or -1. */
static int parse_listen(const char *s, char *host, size_t hlen, unsigned int *port)
{
	const char *colon;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= hlen)
			return -1;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(host, hlen, "127.0.0.1");
			colon = s - 1;
		} else {
			if ((size_t)(colon - s) >= hlen)
				return -1;
			memcpy(host, s, (size_t)(colon - s));
			host[colon - s] = '\0';
			if (!host[0])
				snprintf(host, hlen, "127.0.0.1");
		}
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p > 65535)
		return -1;
	*port = (unsigned int)p;
	return 0;
}

/* What `cache serve` was asked to do: its options, then what follows from them. */
struct serve_args {
	kb_server_opts o;
	const char *listen, *dir, *port_file, *config;
	struct size_opt max_opt, blob_opt;
	double duration, timeout, header_timeout, max_conn, max_per_ip, max_uploads;
	char host[128]; /* of --listen */
	unsigned int port;
};

/* The checks and conclusions after parsing (server options from the flags): 0 to go
 * on, else the exit code. */
static int serve_check(struct serve_args *a)
{
	kb_server_opts *o = &a->o;

	if (a->blob_opt.set && !a->blob_opt.v)
		return kb_cli_usage_error(serve_usage, "bad --max-blob-size '0'; give a size "
					  "above 0");
	o->max_blob_size = a->blob_opt.v;
	o->timeout_s = (unsigned int)a->timeout;
	o->max_uploads = a->max_uploads == 0 ? 0 : a->max_uploads < 1 ? 1
					       : (unsigned int)a->max_uploads;
	o->header_timeout_s = a->header_timeout == 0 ? 0 : a->header_timeout < 1 ? 1
							   : (unsigned int)a->header_timeout;
	o->max_connections = (unsigned int)a->max_conn;
	o->max_per_ip = (unsigned int)a->max_per_ip;
	if (parse_listen(a->listen, a->host, sizeof(a->host), &a->port) != 0)
		return kb_cli_usage_error(serve_usage,
					  "bad --listen '%.128s'; use <host>:<port>, e.g. "
					  "127.0.0.1:8080", a->listen);
	o->host = a->host;
	o->port = (uint16_t)a->port;
	return 0;
}

/* Open the cache, block the stop signals (set) in every thread and start the server;
 * write the port file, say where it serves (stdout, systemd). 0, or the exit code
 * with nothing left open. */
static int serve_start(struct serve_args *a, kb_cache **cp, kb_server **sp, sigset_t *set)
{
	kb_cache *c = NULL;
	kb_server *srv = NULL;
	char ready[128];
	const char *host = a->host;

	if (kb_cache_open(&c, kb_cli_cache_dir(a->dir), KB_CACHE_CREATE) != 0)
		return kb_cli_die_error();
	if (a->max_opt.set && kb_cache_set_limit(c, a->max_opt.v) != 0) {
		kb_cache_free(c);
		return kb_cli_die_error();
	}
	/* Every GET and PUT allocates and frees MiB-sized buffers (chunks, MHD's response
	 * block); keep them in the heap instead of mmap/munmap + page faults each time.
	 * With one thread per connection glibc would give up to 8 x cores arenas, each
	 * keeping its freed blocks: 4 arenas bound that, and the server gives the free
	 * memory back (malloc_trim) once it is idle. */
	mallopt(M_ARENA_MAX, 4);
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	/* Block the stop signals in every thread; the main thread waits for them. */
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (kb_server_start(&srv, c, &a->o) != 0) {
		kb_cache_free(c);
		return kb_cli_die_error();
	}
	if (a->port_file) {
		FILE *f = fopen(a->port_file, "w");
		if (!f || fprintf(f, "%u\n", (unsigned)kb_server_port(srv)) < 0 || fclose(f) != 0) {
			kb_server_stop(srv);
			kb_cache_free(c);
			return kb_cli_error("cannot write port file '%s'; check the directory",
					    a->port_file);
		}
	}
	printf("kbisect: serving '%s' on %s://%s%s%s:%u/\n", kb_cache_dir(c),
	       a->o.tls_cert ? "https" : "http", strchr(host, ':') ? "[" : "", host,
	       strchr(host, ':') ? "]" : "", (unsigned)kb_server_port(srv));
	fflush(stdout);
	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving on port %u\nMAINPID=%ld",
		 (unsigned)kb_server_port(srv), (long)getpid());
	notify_systemd(ready);
	*cp = c;
	*sp = srv;
	return 0;
}

/* Serve until SIGINT or SIGTERM (or duration seconds, if > 0); SIGHUP reloads. */
static void serve_wait(kb_server *srv, const sigset_t *set, double duration)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec wait = { 1, 0 }, now;
		int sig = sigtimedwait(set, NULL, &wait);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (sig == SIGHUP) {
			notify_systemd("RELOADING=1");
			if (kb_server_reload(srv) == 0)
				fprintf(stderr, "kbisect-serve: reloaded tokens and TLS files (SIGHUP)\n");
			else
				fprintf(stderr, "kbisect-serve: error: reload (SIGHUP) failed, keeping "
						"the old tokens and certificate: %s\n",
					kb_error_last()->message);
			notify_systemd("READY=1");
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (duration > 0 && (double)(now.tv_sec - t0.tv_sec) +
						(double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= duration)
			break;
	}
}

/* `kbisect cache serve` once its config file and environment are in argv: parse,
 * check, serve, stop. */
static int serve_main(int argc, char **argv)
{
	struct serve_args a = { .listen = "127.0.0.1:8080" };
	kb_server_opts *o = &a.o;
	kb_cache *c = NULL;
	kb_server *srv = NULL;
	sigset_t set;
	int n;
	const struct kb_option options[] = {
		KB_OPT_STR(0, "listen", &a.listen, "<host>:<port>", "numeric address and port "
			   "(default 127.0.0.1:8080; [::1]:8080 for IPv6; port 0 picks a free port)"),
		KB_OPT_STR(0, "cache", &a.dir, "dir", "the cache to serve (default $KBISECT_CACHE or "
			   "~/.cache/kbisect; created if missing)"),
		KB_OPT_CALL(0, "max-size", &a.max_opt, "size",
			    "set the cache size limit (LRU eviction), e.g. 200G", set_size),
		KB_OPT_CALL(0, "max-blob-size", &a.blob_opt, "size",
			    "largest accepted upload (default 1G); larger: 413", set_size),
		KB_OPT_STR(0, "auth-token-file", &o->token_file, "file", "accepted bearer tokens, "
			   "one per line; a line 'ro:<token>' may only GET/HEAD; without a file "
			   "anyone who can connect may read and write"),
		KB_OPT_BOOL(0, "allow-anonymous-read", &o->anonymous_read,
			    "with tokens: GET/HEAD need none, PUT still does"),
		KB_OPT_STR(0, "tls-cert", &o->tls_cert, "file",
			   "PEM certificate: serve HTTPS (GnuTLS inside MHD)"),
		KB_OPT_STR(0, "tls-key", &o->tls_key, "file", "PEM key of --tls-cert"),
		KB_OPT_NUMBER(0, "timeout", &a.timeout, 0, 1e7, "s", "close idle connections after s "
			      "seconds, and uploads under 1 KiB/s after that long (30)"),
		KB_OPT_NUMBER(0, "header-timeout", &a.header_timeout, 0, 1e7, "s", "a request's "
			      "headers must be complete s seconds after the connection opened (10, "
			      "at most --timeout)"),
		KB_OPT_NUMBER(0, "max-connections", &a.max_conn, 0, 1e7, "n",
			      "concurrent connections (256)"),
		KB_OPT_NUMBER(0, "max-uploads", &a.max_uploads, 0, 1e7, "n", "uploads written to the "
			      "store at once (4); more wait up to 120 s, then get 503 (bounds memory)"),
		KB_OPT_NUMBER(0, "max-connections-per-ip", &a.max_per_ip, 0, 1e7, "n", "from one "
			      "address (default: a quarter of --max-connections; the rest stays for "
			      "others)"),
		KB_OPT_STR(0, "port-file", &a.port_file, "file", "write the port listened on (for port 0)"),
		KB_OPT_NUMBER(0, "duration", &a.duration, 0, 1e7, "s", "stop by itself after s seconds"),
		KB_OPT_BOOL(0, "quiet", &o->quiet, "no access log on stderr"),
		KB_OPT_STR(0, "access-log", &o->access_log, "file|-", "write the access log to file "
			   "(appended; reopened on SIGHUP) or stdout, not stderr"),
		KB_OPT_CALL(0, "access-log-format", &o->access_log_format, "combined|json",
			    "Apache/nginx combined + duration (s), or one JSON object per line "
			    "(default combined)", set_log_format),
		KB_OPT_STR(0, "config", &a.config, "file", "'key = value' lines, keys the flags above "
			   "without '--' (quiet = true); also $KBISECT_SERVE_CONFIG. "
			   "$KBISECT_SERVE_<FLAG> (e.g. KBISECT_SERVE_MAX_SIZE) set any flag; flag > "
			   "env > file > default"),
		KB_OPT_TABLE_END,
	};

	/* the config file was read before (serve_args): its settings are in argv */
	if ((n = kb_options_parse(argc, argv, options, &serve_doc, 0)) < 0)
		return kb_options_exit(n);
	if (n > 0)
		return kb_cli_usage_error(serve_usage, "unexpected argument '%.128s'", argv[0]);
	if ((n = serve_check(&a)) != 0 || (n = serve_start(&a, &c, &srv, &set)) != 0)
		return n;
	serve_wait(srv, &set, a.duration);
	notify_systemd("STOPPING=1");
	kb_server_stop(srv);
	kb_cache_free(c);
	return KB_EXIT_OK;
}

/* ---- settings from a config file and KBISECT_SERVE_* (flag > env > file > default) ---- */

/* The long flags a config file key or a KBISECT_SERVE_<FLAG> variable may name; flag 1
 * takes no value (true/yes/1 sets it, false/no/0 leaves it unset). */
static const struct serve_key {
	const char *name;
	int flag;
} serve_keys[] = {
	{ "listen", 0 },	{ "cache", 0 },		 { "max-size", 0 },
	{ "max-blob-size", 0 }, { "auth-token-file", 0 }, { "allow-anonymous-read", 1 },
	{ "tls-cert", 0 },	{ "tls-key", 0 },	 { "timeout", 0 },
	{ "header-timeout", 0 }, { "max-connections", 0 }, { "max-uploads", 0 },
	{ "max-connections-per-ip", 0 }, { "port-file", 0 }, { "duration", 0 },
	{ "quiet", 1 },	{ "access-log", 0 }, { "access-log-format", 0 },
	{ NULL, 0 },
};

struct argvec {
	char **v;
	int n, cap;
};

/* Append s (malloc'd, owned from now on; NULL: out of memory). 0 or -1. */
static int argvec_add(struct argvec *a, char *s)
{
	if (!s)
		return -1;
	if (a->n + 2 > a->cap) {
		int cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, (size_t)cap * sizeof(*v));
		if (!v) {
			free(s);
			return -1;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

static int argvec_push(struct argvec *a, const char *name, const char *value)
{
	char *s;
	if (value ? asprintf(&s, "--%s=%s", name, value) < 0 : asprintf(&s, "--%s", name) < 0)
		return -1;
	return argvec_add(a, s);
}

/* Append the setting key=value (from `where`, for the message) as a flag; 0 or the exit
 * code of the error printed. */
static int add_setting(struct argvec *a, const char *key, const char *value, const char *where)
{
	for (const struct serve_key *k = serve_keys; k->name; k++) {
		if (strcmp(k->name, key))
			continue;
		if (!k->flag)
			return argvec_push(a, key, value) ? kb_cli_error("out of memory") : 0;
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
			return argvec_push(a, key, NULL) ? kb_cli_error("out of memory") : 0;
		if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
			return 0;
		return kb_cli_usage_error(serve_usage, "%s: '%.64s' takes true or false, not "
					  "'%.64s'", where, key, value);
	}
	return kb_cli_usage_error(serve_usage, "%s: unknown setting '%.64s' (settings are the "
				  "long flags of 'kbisect cache serve' without '--', e.g. "
				  "'listen = 0.0.0.0:8080')", where, key);
}

struct conf_ctx {
	struct argvec *a;
	const char *path;
};

/* One line of the config file (kb_conf_foreach): a setting, or a line without '='. */
static int conf_line(const char *key, const char *value, unsigned int line, void *arg)
{
	struct conf_ctx *x = arg;
	char where[512];

	snprintf(where, sizeof(where), "config file '%s' line %u", x->path, line);
	if (!key)
		return kb_cli_usage_error(serve_usage, "%s: expected 'key = value', got '%.64s'",
					  where, value);
	return add_setting(x->a, key, value, where);
}

/* Read `key = value` lines (# comments, blank lines) of the config file into a
 * (common/conf.c reads them). */
static int read_config(struct argvec *a, const char *path)
{
	struct conf_ctx x = { a, path };
	int r = kb_conf_foreach(path, conf_line, &x);

	if (r < 0) /* the file itself: kb_conf_foreach's message names it */
		return kb_cli_error("%s; check the path given by --config or "
				    "$KBISECT_SERVE_CONFIG", kb_error_last()->message);
	return r;
}

/* The argument vector serve_main parses: argv[0], the config file's settings, the
 * KBISECT_SERVE_* variables, then the command line; the parser keeps the last value of
 * each option, which gives flag > env > file > default. 0 or an exit code. */
static int serve_args(int argc, char **argv, struct argvec *a)
{
	extern char **environ;
	const char *config = getenv("KBISECT_SERVE_CONFIG");
	char where[128];
	int r, environ_skip = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
		else if (!strcmp(argv[i], "--config"))
			return kb_cli_usage_error(serve_usage, "option '--config' needs a value");
	}
	if (argvec_push(a, "serve", NULL) != 0)
		return kb_cli_error("out of memory");
	if (kb_cli_wants_help(argc, argv))
		config = NULL, environ_skip = 1;
	if (config && *config && (r = read_config(a, config)) != 0)
		return r;
	for (char **e = environ; !environ_skip && *e; e++) {
		const char *eq = strchr(*e, '=');
		char key[64];
		size_t n;
		if (strncmp(*e, "KBISECT_SERVE_", 14) || !eq || !strncmp(*e, "KBISECT_SERVE_CONFIG=", 21))
			continue;
		n = (size_t)(eq - *e) - 14;
		if (n >= sizeof(key) || !eq[1])
			continue;
		for (size_t j = 0; j < n; j++)
			key[j] = (*e)[14 + j] == '_' ? '-' : (char)((*e)[14 + j] | 0x20);
		key[n] = '\0';
		snprintf(where, sizeof(where), "environment variable %.*s", (int)(eq - *e), *e);
		if ((r = add_setting(a, key, eq + 1, where)) != 0)
			return r;
	}
	for (int i = 1; i < argc; i++)
		if (argvec_add(a, strdup(argv[i])) != 0)
			return kb_cli_error("out of memory");
	return 0;
}

int cache_serve(int argc, char **argv)
{
	struct argvec a = { 0 };
	int r = serve_args(argc, argv, &a);

	if (r == 0) { /* the parser reorders its argv: give it a copy of a.v */
		char **v = calloc((size_t)a.n + 1, sizeof(*v));
		if (!v)
			r = kb_cli_error("out of memory");
		else
			memcpy(v, a.v, (size_t)a.n * sizeof(*v)), r = serve_main(a.n, v);
		free(v);
	}
	for (int i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	return r;
}
