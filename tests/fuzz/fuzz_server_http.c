/*
 * tests/fuzz/fuzz_server_http.c - fuzzes the whole request path of the shared cache
 * server: each input is sent as raw bytes on a fresh connection (a socketpair handed
 * to the running MHD daemon with MHD_add_connection) to a real kb_server over a
 * temporary cache, and the answer is read until the server closes. Whatever the bytes,
 * the server must answer or close, never crash, and a known object must stay intact.
 */
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "kbisect/cache.h"
#include "kbisect/server.h"
#include "net/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kb_cache *cache;
static kb_server *srv;
static char dir[] = "/tmp/kbfuzz-http-XXXXXX";
static kb_key known;
static const char known_data[] = "the known object";

static void cleanup(void)
{
	char cmd[128];
	kb_server_stop(srv);
	kb_cache_free(cache);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int start(void)
{
	kb_server_opts o;

	if (!mkdtemp(dir) || kb_cache_open(&cache, dir, KB_CACHE_CREATE) != 0)
		return -1;
	if (kb_cache_put_buf(&known, cache, known_data, sizeof(known_data), NULL) != 0)
		return -1;
	memset(&o, 0, sizeof(o));
	o.quiet = 1;
	o.timeout_s = 1;
	o.max_blob_size = 1 << 20;
	if (kb_server_start(&srv, cache, &o) != 0)
		return -1;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int started;
	struct sockaddr_in peer;
	int sv[2];
	char buf[65536];
	struct pollfd p;

	if (!started) {
		if (start() != 0) {
			fprintf(stderr, "fuzz_server_http: cannot start the server\n");
			abort();
		}
		started = 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (MHD_add_connection(kb_server__daemon(srv), sv[1], (struct sockaddr *)&peer,
			       sizeof(peer)) != MHD_YES) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	for (size_t off = 0; off < size;) {
		ssize_t n = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(sv[0], SHUT_WR);
	p.fd = sv[0];
	p.events = POLLIN;
	/* the server answers or drops the connection within its 1 s idle timeout */
	while (poll(&p, 1, 3000) == 1 && recv(sv[0], buf, sizeof(buf), 0) > 0)
		;
	close(sv[0]);
	{
		void *back = NULL;
		size_t len = 0;
		if (kb_cache_get_buf(&back, &len, cache, &known) != 0 ||
		    len != sizeof(known_data) || memcmp(back, known_data, len) != 0)
			abort(); /* a request damaged the store */
		free(back);
	}
	return 0;
}
