/*
 * net/server_guard.c - the shared cache server's defences against clients that
 * hold resources: the header deadline (a watchdog thread shuts connections whose
 * request headers are overdue, which MHD's idle timeout cannot catch when a client
 * sends one byte just often enough), the upload gate (at most --max-uploads store
 * writers at once: their chunk buffers, not connections, are what costs memory), and
 * giving freed memory back to the system once the server is idle.
 * Not: the per-address connection limit and the idle timeout (MHD options set in
 * net/server.c), request handling (net/server.c).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "server_priv.h"

/* One open connection (MHD's socket context), watched for its header deadline. */
struct conn_ent {
	struct conn_ent *prev, *next;
	int fd;
	int in_request;            /* headers complete, a request is being handled */
	int shut;                  /* the watchdog has shut it */
	uint64_t gen;              /* TLS certificate generation when it opened */
	struct timespec deadline;  /* headers complete by then, unless in_request */
};

int kb_server__guard_init(kb_server *s)
{
	pthread_condattr_t ca;
	int bad;

	if (!s->opts.max_per_ip) /* the rest is a reserve for everyone else */
		s->opts.max_per_ip = s->opts.max_connections >= 4 ? s->opts.max_connections / 4 : 1;
	if (!s->opts.header_timeout_s)
		s->opts.header_timeout_s = s->opts.timeout_s < 10 ? s->opts.timeout_s : 10;
	if (!s->opts.max_uploads)
		s->opts.max_uploads = 4;
	bad = pthread_condattr_init(&ca) != 0;
	bad = bad || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0;
	bad = bad || pthread_mutex_init(&s->conns_lock, NULL) != 0;
	bad = bad || pthread_cond_init(&s->wd_cond, NULL) != 0;
	bad = bad || pthread_mutex_init(&s->up_lock, NULL) != 0;
	bad = bad || pthread_cond_init(&s->up_cond, &ca) != 0;
	pthread_condattr_destroy(&ca);
	if (bad)
		return kb_error_os("cannot create the server's locks");
	s->locks_ready = 1;
	return 0;
}

/* MHD: a connection was accepted or closed. Keeps s->conns. */
void kb_server__conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			    enum MHD_ConnectionNotificationCode toe)
{
	kb_server *s = cls;
	struct conn_ent *e = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		e = calloc(1, sizeof(*e));
		if (!e || !ci) {
			free(e);
			return; /* out of memory: MHD's idle timeout still applies */
		}
		e->fd = ci->connect_fd;
		e->gen = kb_srv__get(&s->cred_gen);
		clock_gettime(CLOCK_MONOTONIC, &e->deadline);
		e->deadline.tv_sec += (time_t)s->opts.header_timeout_s;
		pthread_mutex_lock(&s->conns_lock);
		e->next = s->conns;
		if (s->conns)
			s->conns->prev = e;
		s->conns = e;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = e;
		return;
	}
	if (!e)
		return;
	/* closed: MHD closes the socket only after this, so the watchdog (which shuts
	 * sockets under the same lock) never touches a reused descriptor */
	pthread_mutex_lock(&s->conns_lock);
	if (e->prev)
		e->prev->next = e->next;
	else
		s->conns = e->next;
	if (e->next)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&s->conns_lock);
	free(e);
	*socket_context = NULL;
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Every 200 ms: shut the sockets of connections whose headers are overdue; once no
 * request has been in flight for a second after some finished, give the memory their
 * buffers used back to the system (glibc keeps freed blocks of every arena). */
static void *watchdog(void *arg)
{
	kb_server *s = arg;
	uint64_t trimmed_at = 0, seen = 0;
	int idle_ticks = 0;

	pthread_mutex_lock(&s->conns_lock);
	while (!s->wd_stop) {
		struct timespec now, until;
		uint64_t fin = kb_srv__get(&s->finished);
		if (atomic_load(&s->in_flight) > 0 || fin != seen) {
			idle_ticks = 0;
			seen = fin;
		} else if (fin != trimmed_at && ++idle_ticks >= 5) {
			pthread_mutex_unlock(&s->conns_lock);
			malloc_trim(0);
			pthread_mutex_lock(&s->conns_lock);
			trimmed_at = fin;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (struct conn_ent *e = s->conns; e; e = e->next) {
			if (e->in_request || e->shut || !ts_before(&e->deadline, &now))
				continue;
			shutdown(e->fd, SHUT_RDWR);
			e->shut = 1;
			kb_srv__add(&s->header_timeouts, 1);
		}
		clock_gettime(CLOCK_REALTIME, &until); /* the condvar's clock */
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->wd_cond, &s->conns_lock, &until);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

int kb_server__guard_start(kb_server *s)
{
	if (pthread_create(&s->wd, NULL, watchdog, s) != 0)
		return kb_error_os("cannot start the server's watchdog thread");
	s->wd_running = 1;
	return 0;
}

void kb_server__guard_stop(kb_server *s)
{
	if (s->wd_running) {
		pthread_mutex_lock(&s->conns_lock);
		s->wd_stop = 1;
		pthread_cond_signal(&s->wd_cond);
		pthread_mutex_unlock(&s->conns_lock);
		pthread_join(s->wd, NULL);
		s->wd_running = 0;
	}
	if (s->locks_ready) {
		/* uploads waiting for a slot would hold MHD_stop_daemon up to 120 s */
		pthread_mutex_lock(&s->up_lock);
		s->up_closing = 1;
		pthread_cond_broadcast(&s->up_cond);
		pthread_mutex_unlock(&s->up_lock);
	}
}

void kb_server__guard_fini(kb_server *s)
{
	if (!s->locks_ready)
		return;
	pthread_mutex_destroy(&s->conns_lock);
	pthread_cond_destroy(&s->wd_cond);
	pthread_mutex_destroy(&s->up_lock);
	pthread_cond_destroy(&s->up_cond);
	s->locks_ready = 0;
}

/* Mark the connection's headers complete: its header deadline no longer applies. */
void kb_server__headers_done(kb_server *s, struct MHD_Connection *conn, int in_request)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_ent *e = ci ? ci->socket_context : NULL;
	struct timespec now;

	if (!e)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->conns_lock);
	e->in_request = in_request;
	if (!in_request) {
		/* kept alive: idle up to --timeout, then the next headers' deadline */
		e->deadline = now;
		e->deadline.tv_sec += (time_t)s->opts.timeout_s + (time_t)s->opts.header_timeout_s;
	}
	pthread_mutex_unlock(&s->conns_lock);
}

/* 1 if one of s's open connections has socket fd. */
int kb_server__has_conn_fd(kb_server *s, int fd)
{
	int found = 0;

	pthread_mutex_lock(&s->conns_lock);
	for (struct conn_ent *e = s->conns; e && !found; e = e->next)
		found = e->fd == fd;
	pthread_mutex_unlock(&s->conns_lock);
	return found;
}

/* The smallest certificate generation of the open connections (UINT64_MAX: none). */
uint64_t kb_server__conns_min_gen(kb_server *s)
{
	uint64_t min = UINT64_MAX;

	pthread_mutex_lock(&s->conns_lock);
	for (struct conn_ent *e = s->conns; e; e = e->next)
		if (e->gen < min)
			min = e->gen;
	pthread_mutex_unlock(&s->conns_lock);
	return min;
}

/* Longest wait for a slot of the upload gate before answering 503. Waiting uploads
 * cost a thread and MHD's small connection buffer; the client's TCP send blocks. */
#define UPLOAD_WAIT_S 120

/* Take a slot of the upload gate, waiting up to UPLOAD_WAIT_S. A store writer holds
 * up to ~150 MiB of chunk buffers until its commit, so the number of writers, not of
 * connections, bounds the server's memory. 0, or -1 (busy). */
int kb_server__upload_enter(kb_server *s, int *gated)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += UPLOAD_WAIT_S;
	pthread_mutex_lock(&s->up_lock);
	if (s->up_active >= s->opts.max_uploads)
		kb_srv__add(&s->up_waited, 1);
	while (s->up_active >= s->opts.max_uploads && rc == 0 && !s->up_closing)
		rc = pthread_cond_timedwait(&s->up_cond, &s->up_lock, &until);
	if (s->up_active < s->opts.max_uploads && !s->up_closing) {
		s->up_active++;
		*gated = 1;
		rc = 0;
	}
	pthread_mutex_unlock(&s->up_lock);
	if (!*gated)
		kb_srv__add(&s->up_refused, 1);
	return *gated ? 0 : -1;
}

/* Give back the slot of the upload gate, if it holds one. */
void kb_server__upload_leave(kb_server *s, int *gated)
{
	if (!*gated)
		return;
	pthread_mutex_lock(&s->up_lock);
	s->up_active--;
	pthread_cond_signal(&s->up_cond);
	pthread_mutex_unlock(&s->up_lock);
	*gated = 0;
}
