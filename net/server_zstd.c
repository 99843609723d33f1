/*
 * net/server_zstd.c - zstd on the wire of the shared cache server.
 * Owns: whether a client accepts zstd (Accept-Encoding), the streaming compression of a
 * GET body (MHD content-reader callback) and the streaming decompression of a PUT body
 * sent with "Content-Encoding: zstd".
 * Not: the store's own chunk compression (cache/object.c), request handling
 * (net/server.c).
 * DESIGN: objects are stored zstd-chunked, but a stored chunk is not a wire frame (its
 * layout belongs to the store), so GET compresses the reader's bytes again at a fast
 * level (1) into one frame, sent chunked (its size is unknown in advance). The end-of-
 * object checksum verdict is asked before the last input block is compressed, so a
 * corrupt object never ends in a complete frame. PUT decompresses as the body arrives:
 * memory stays bounded (one window) whatever the size.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zstd.h>

#include "server_priv.h"

#define ZIN_SIZE (128 * 1024)

int kb_server__accepts_zstd(const char *h)
{
	while (h && *h) {
		size_t n;
		const char *q;
		while (*h == ' ' || *h == '\t' || *h == ',')
			h++;
		n = strcspn(h, ",");
		if (n >= 4 && !strncasecmp(h, "zstd", 4) &&
		    (n == 4 || h[4] == ';' || h[4] == ' ' || h[4] == '\t')) {
			/* "zstd;q=0" refuses it */
			q = memchr(h, ';', n);
			if (!q)
				return 1;
			q++;
			while (*q == ' ')
				q++;
			if (strncasecmp(q, "q=", 2) != 0)
				return 1;
			return strtod(q + 2, NULL) > 0.0;
		}
		h += n;
	}
	return 0;
}

int kb_server__zstd_get_init(struct kb_srv_get *g)
{
	g->z = ZSTD_createCCtx();
	g->zin = malloc(ZIN_SIZE);
	if (!g->z || !g->zin)
		return -1;
	ZSTD_CCtx_setParameter(g->z, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(g->z, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setPledgedSrcSize(g->z, g->size);
	return 0;
}

void kb_server__zstd_get_free(struct kb_srv_get *g)
{
	ZSTD_freeCCtx(g->z);
	free(g->zin);
	g->z = NULL;
	g->zin = NULL;
}

ssize_t kb_server__zstd_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct kb_srv_get *g = cls;
	ZSTD_outBuffer out = { buf, max, 0 };

	(void)pos;
	if (g->zdone)
		return MHD_CONTENT_READER_END_OF_STREAM;
	while (out.pos == 0) {
		ZSTD_inBuffer in;
		size_t left;
		int last;
		if (g->zin_pos == g->zin_len && g->pos < g->size) {
			ssize_t n = kb_server__get_read(g, g->zin, ZIN_SIZE);
			if (n < 0)
				return n;
			g->zin_len = (size_t)n;
			g->zin_pos = 0;
		}
		last = g->pos >= g->size;
		in.src = g->zin;
		in.size = g->zin_len;
		in.pos = g->zin_pos;
		left = ZSTD_compressStream2(g->z, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
		g->zin_pos = in.pos;
		if (ZSTD_isError(left))
			return kb_server__read_failed(g, KB_ERROR);
		if (last && left == 0 && in.pos == in.size) {
			g->zdone = 1;
			break;
		}
	}
	kb_srv__add(&g->s->bytes_out, out.pos);
	if (g->sent)
		*g->sent += out.pos;
	return out.pos ? (ssize_t)out.pos : MHD_CONTENT_READER_END_OF_STREAM;
}

struct kb_srv_unz {
	ZSTD_DCtx *d;
	char *out;
	size_t hint; /* last ZSTD_decompressStream result: 0 = a frame just ended */
	int started;
};

struct kb_srv_unz *kb_server__unz_new(void)
{
	struct kb_srv_unz *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->d = ZSTD_createDCtx();
	u->out = malloc(ZSTD_DStreamOutSize());
	if (!u->d || !u->out) {
		kb_server__unz_free(u);
		return NULL;
	}
	/* a frame may not ask for more than a 128 MiB window (zstd --long=27) */
	ZSTD_DCtx_setParameter(u->d, ZSTD_d_windowLogMax, 27);
	return u;
}

int kb_server__unz_feed(struct kb_srv_unz *u, const void *data, size_t n,
			int (*sink)(void *arg, const void *p, size_t n), void *arg)
{
	ZSTD_inBuffer in = { data, n, 0 };

	while (in.pos < in.size) {
		ZSTD_outBuffer out = { u->out, ZSTD_DStreamOutSize(), 0 };
		size_t r = ZSTD_decompressStream(u->d, &out, &in);
		int rc;
		if (ZSTD_isError(r))
			return -1;
		u->hint = r;
		u->started = 1;
		if (out.pos && (rc = sink(arg, u->out, out.pos)) != 0)
			return rc;
		if (out.pos == 0 && in.pos == in.size)
			break;
	}
	/* drain what the decoder still holds for this input */
	for (;;) {
		ZSTD_outBuffer out = { u->out, ZSTD_DStreamOutSize(), 0 };
		ZSTD_inBuffer none = { NULL, 0, 0 };
		size_t r;
		int rc;
		if (u->hint == 0)
			break;
		r = ZSTD_decompressStream(u->d, &out, &none);
		if (ZSTD_isError(r))
			return -1;
		u->hint = r;
		if (!out.pos)
			break;
		if ((rc = sink(arg, u->out, out.pos)) != 0)
			return rc;
	}
	return 0;
}

int kb_server__unz_done(const struct kb_srv_unz *u)
{
	return u->started && u->hint == 0;
}

void kb_server__unz_free(struct kb_srv_unz *u)
{
	if (!u)
		return;
	ZSTD_freeDCtx(u->d);
	free(u->out);
	free(u);
}
