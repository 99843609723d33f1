/*
 * vmpool/qmp.c - a small QMP client: JSON lines over a unix socket (jansson).
 * Owns: the socket, the greeting/capabilities handshake, command/return matching and
 * the queue of events received while waiting for something else.
 * Not: which commands to send (snapshot.c, template.c, run.c).
 * DESIGN: synchronous; one command at a time; every wait has a deadline; events are
 * kept (up to a bound) so that a caller may ask for an event after it arrived.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "vmpool_internal.h"

#define QMP_MAX_EVENTS 64
#define QMP_LINE_MAX (1u << 20)

struct kb_qmp {
	int fd;
	char path[256];
	char *buf;
	size_t len, cap;
	kb_qmp_msg events[QMP_MAX_EVENTS];
	size_t n_events;
	int dead;
};

double kb_vm__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int kb_qmp__parse(kb_qmp_msg *out, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *j, *v;

	memset(out, 0, sizeof(*out));
	j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "malformed qmp message: %s; is this a qemu qmp socket?",
				     jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "qmp message is not a json object; is this a qemu qmp socket?");
	}
	if ((v = json_object_get(j, "QMP")) && json_is_object(v)) {
		out->kind = KB_QMP_GREETING;
	} else if (json_object_get(j, "return")) {
		out->kind = KB_QMP_RETURN;
	} else if ((v = json_object_get(j, "error")) && json_is_object(v)) {
		const char *cls = json_string_value(json_object_get(v, "class"));
		const char *desc = json_string_value(json_object_get(v, "desc"));
		out->kind = KB_QMP_ERROR;
		snprintf(out->name, sizeof(out->name), "%s", cls ? cls : "GenericError");
		snprintf(out->desc, sizeof(out->desc), "%s", desc ? desc : "(no description)");
	} else if ((v = json_object_get(j, "event")) && json_is_string(v)) {
		out->kind = KB_QMP_EVENT;
		snprintf(out->name, sizeof(out->name), "%s", json_string_value(v));
	} else {
		json_decref(j);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "qmp message has no QMP, return, error or event member; "
				     "is this a qemu qmp socket?");
	}
	out->json = j;
	return 0;
}

void kb_qmp__msg_clear(kb_qmp_msg *m)
{
	if (!m)
		return;
	json_decref(m->json);
	memset(m, 0, sizeof(*m));
}

const char *kb_qmp__shutdown_reason(const kb_qmp_msg *m)
{
	json_t *data;
	const char *r;

	if (!m || !m->json)
		return "";
	data = json_object_get(m->json, "data");
	r = json_string_value(json_object_get(data, "reason"));
	return r ? r : "";
}

static int read_more(kb_qmp *q, double deadline)
{
	struct pollfd p = { .fd = q->fd, .events = POLLIN };
	int ms = deadline < 0 ? 0 : (int)((deadline - kb_vm__now()) * 1000);
	ssize_t n;
	int r;

	if (q->dead)
		return kb_error_set(KB_ERRCLASS_VMPOOL, "qmp connection '%s' closed; "
				    "qemu exited, see its log", q->path);
	if (ms < 0)
		ms = 0;
	r = poll(&p, 1, ms);
	if (r < 0 && errno != EINTR)
		return kb_error_os("cannot poll qmp socket '%s'", q->path);
	if (r <= 0)
		return KB_ETIMEOUT;
	if (q->cap - q->len < 4096) {
		size_t ncap = q->cap ? q->cap * 2 : 8192;
		char *nb;
		if (ncap > QMP_LINE_MAX)
			return kb_error_set(KB_ERRCLASS_VMPOOL, "qmp line longer than %u bytes "
					    "from '%s'", QMP_LINE_MAX, q->path);
		nb = realloc(q->buf, ncap);
		if (!nb)
			return kb_error_os("out of memory reading qmp");
		q->buf = nb;
		q->cap = ncap;
	}
	n = read(q->fd, q->buf + q->len, q->cap - q->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		q->dead = 1;
		return kb_error_set(KB_ERRCLASS_VMPOOL, "qmp connection '%s' closed; "
				    "qemu exited, see its log", q->path);
	}
	q->len += (size_t)n;
	return 0;
}

/* Take one complete line out of the buffer and parse it; 1 if got one, 0 if none. */
static int take_line(kb_qmp *q, kb_qmp_msg *m)
{
	char *nl;
	size_t ll;
	int r;

	while (q->len && (nl = memchr(q->buf, '\n', q->len))) {
		ll = (size_t)(nl - q->buf);
		r = kb_qmp__parse(m, q->buf, ll);
		memmove(q->buf, nl + 1, q->len - ll - 1);
		q->len -= ll + 1;
		if (r == 0)
			return 1;
		/* skip blank or malformed lines */
	}
	return 0;
}

static void queue_event(kb_qmp *q, kb_qmp_msg *m)
{
	if (q->n_events == QMP_MAX_EVENTS) {
		kb_qmp__msg_clear(&q->events[0]);
		memmove(&q->events[0], &q->events[1], sizeof(q->events[0]) * (QMP_MAX_EVENTS - 1));
		q->n_events--;
	}
	q->events[q->n_events++] = *m;
	memset(m, 0, sizeof(*m));
}

/* Take every complete line already read: queue the events, drop the other messages. */
static void drain_lines(kb_qmp *q)
{
	kb_qmp_msg m;

	while (take_line(q, &m)) {
		if (m.kind == KB_QMP_EVENT)
			queue_event(q, &m);
		else
			kb_qmp__msg_clear(&m);
	}
}

/* Next non-event message (events are queued) before deadline. */
static int next_reply(kb_qmp *q, kb_qmp_msg *m, double deadline)
{
	int r;

	for (;;) {
		while (take_line(q, m)) {
			if (m->kind != KB_QMP_EVENT)
				return 0;
			queue_event(q, m);
		}
		r = read_more(q, deadline);
		if (r < 0)
			return r;
	}
}

int kb_qmp__pump(kb_qmp *q)
{
	int r;

	for (;;) {
		drain_lines(q);
		r = read_more(q, -1);
		if (r == KB_ETIMEOUT)
			return 0;
		if (r < 0)
			return r;
	}
}

int kb_qmp__connect(kb_qmp **out, const char *path, double timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double deadline = kb_vm__now() + timeout_s;
	kb_qmp *q;
	kb_qmp_msg m;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "qmp socket path '%s' too long; use a shorter work dir", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	q = calloc(1, sizeof(*q));
	if (!q)
		return kb_error_os("out of memory");
	snprintf(q->path, sizeof(q->path), "%s", path);
	for (;;) {
		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q->fd < 0) {
			free(q);
			return kb_error_os("cannot create socket for '%s'", path);
		}
		if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(q->fd);
		if (kb_vm__now() > deadline) {
			free(q);
			return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
					     "cannot connect to qmp socket '%s' within %.0fs; "
					     "see the qemu log next to it", path, timeout_s);
		}
		usleep(5000);
	}
	r = next_reply(q, &m, deadline);
	if (r < 0)
		goto fail;
	if (m.kind != KB_QMP_GREETING) {
		kb_qmp__msg_clear(&m);
		r = kb_error_set(KB_ERRCLASS_VMPOOL, "no qmp greeting on '%s'; is it a qmp socket?",
				 path);
		goto fail;
	}
	kb_qmp__msg_clear(&m);
	r = kb_qmp__exec(q, "qmp_capabilities", NULL, NULL, deadline - kb_vm__now());
	if (r < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	if (r == KB_ETIMEOUT)
		kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
			      "qmp socket '%s' did not answer within %.0fs; qemu hangs?", path,
			      timeout_s);
	kb_qmp__close(q);
	return r;
}

int kb_qmp__exec(kb_qmp *q, const char *cmd, const char *args, json_t **ret,
		 double timeout_s)
{
	char line[2048];
	double deadline = kb_vm__now() + timeout_s;
	size_t n, off = 0;
	kb_qmp_msg m;
	int r;

	if (ret)
		*ret = NULL;
	n = (size_t)snprintf(line, sizeof(line), "{\"execute\": \"%s\"%s%s}\n", cmd,
			     args ? ", \"arguments\": " : "", args ? args : "");
	if (n >= sizeof(line))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "qmp command '%s' too long",
				     cmd);
	while (off < n) {
		ssize_t w = send(q->fd, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kb_error_os("cannot send qmp command '%s' to '%s'", cmd, q->path);
		off += (size_t)w;
	}
	r = next_reply(q, &m, deadline);
	if (r == KB_ETIMEOUT)
		return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
				     "qmp command '%s' got no answer within %.0fs; qemu hangs?",
				     cmd, timeout_s);
	if (r < 0)
		return r;
	if (m.kind == KB_QMP_ERROR) {
		r = kb_error_set(KB_ERRCLASS_VMPOOL, "qmp command '%s' failed: %s (%s)", cmd,
				 m.desc, m.name);
		kb_qmp__msg_clear(&m);
		return r;
	}
	if (m.kind != KB_QMP_RETURN) {
		kb_qmp__msg_clear(&m);
		return kb_error_set(KB_ERRCLASS_VMPOOL, "unexpected qmp reply to '%s'", cmd);
	}
	if (ret)
		*ret = json_incref(json_object_get(m.json, "return"));
	kb_qmp__msg_clear(&m);
	return 0;
}

static int find_event(kb_qmp *q, const char *name)
{
	for (size_t i = 0; i < q->n_events; i++)
		if (!strcmp(q->events[i].name, name))
			return (int)i;
	return -1;
}

int kb_qmp__has_event(kb_qmp *q, const char *name, const kb_qmp_msg **msg)
{
	int i = find_event(q, name);
	if (i < 0)
		return 0;
	if (msg)
		*msg = &q->events[i];
	return 1;
}

int kb_qmp__wait_event(kb_qmp *q, const char *name, json_t **data, double timeout_s)
{
	double deadline = kb_vm__now() + timeout_s;
	int i, r;

	if (data)
		*data = NULL;
	for (;;) {
		drain_lines(q);
		if ((i = find_event(q, name)) >= 0) {
			if (data)
				*data = json_incref(json_object_get(q->events[i].json, "data"));
			kb_qmp__msg_clear(&q->events[i]);
			memmove(&q->events[i], &q->events[i + 1],
				sizeof(q->events[0]) * (q->n_events - (size_t)i - 1));
			q->n_events--;
			return 0;
		}
		r = read_more(q, deadline);
		if (r == KB_ETIMEOUT)
			return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL,
					     "qmp event '%s' did not come within %.0fs", name,
					     timeout_s);
		if (r < 0)
			return r;
	}
}

int kb_qmp__fd(const kb_qmp *q)
{
	return q->fd;
}

void kb_qmp__close(kb_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	for (size_t i = 0; i < q->n_events; i++)
		kb_qmp__msg_clear(&q->events[i]);
	free(q->buf);
	free(q);
}
