/*
 * net/server_route.c - request routing and validation of the shared cache server.
 * Owns: which method + path is which target, key syntax, the keys of ccache's layouts, Content-Length syntax,
 * the token of an Authorization header, token-file lines, access-log escaping.
 * Not: HTTP parsing (libmicrohttpd does it), the store (include/kbisect/cache.h).
 * DESIGN: pure functions over strings, so they are unit-tested and fuzzed
 * (tests/net/test_route.c, tests/fuzz/fuzz_server_request.c). The path is matched
 * strictly: every segment is checked, so "..", "%2e" (left undecoded) or an empty
 * segment can never reach the store.
 */
#include <string.h>
#include <strings.h>

#include "kbisect/common.h"
#include "server_internal.h"

static int method_of(const char *m)
{
	if (!m)
		return KB_SRV_OTHER;
	if (!strcmp(m, "GET"))
		return KB_SRV_GET;
	if (!strcmp(m, "HEAD"))
		return KB_SRV_HEAD;
	if (!strcmp(m, "PUT"))
		return KB_SRV_PUT;
	if (!strcmp(m, "DELETE"))
		return KB_SRV_DELETE;
	return KB_SRV_OTHER;
}

int kb_server__is_key_hex(const char *s, size_t len)
{
	if (len != KB_KEY_HEXLEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return 1;
}

void kb_server__ccache_key(kb_key *out, const char *path, size_t len)
{
	static const char tag[] = "kbisect-ccache:";
	char buf[sizeof(tag) + KB_SRV_PREFIX_MAX + 128];

	if (len > sizeof(buf) - sizeof(tag))
		len = sizeof(buf) - sizeof(tag); /* the router bounds paths well below this */
	memcpy(buf, tag, sizeof(tag) - 1);
	memcpy(buf + sizeof(tag) - 1, path, len);
	kb_sha256(out, buf, sizeof(tag) - 1 + len);
}

static int safe_segment(const char *s, size_t len)
{
	if (len == 0 || len > 128)
		return 0;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int fail(struct kb_srv_route *out, int status, const char *why)
{
	out->status = status;
	out->why = why;
	return status;
}

/* Segments of the path after the prefix that name a keyed target. */
static const struct {
	const char *seg[3];
	int n;
	int target;
} keyed[] = {
	{ { "cas", NULL, NULL }, 1, KB_SRV_CAS },
	{ { "ac", NULL, NULL }, 1, KB_SRV_AC },
	{ { "kb", "v1", "build" }, 3, KB_SRV_BUILD },
	{ { "kb", "v1", "test" }, 3, KB_SRV_TEST },
	{ { "kb", "v1", "sig" }, 3, KB_SRV_SIG },
};

#define MAX_SEGS 16

static int seg_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !memcmp(s, word, len);
}

/* Index of the "ccache" segment when the one or two segments after it (the last
 * not empty) are a key of ccache's subdirs or flat layout; else -1. */
static int ccache_at(const char **seg, const size_t *seglen, int n)
{
	if (seglen[n - 1] == 0 || !safe_segment(seg[n - 1], seglen[n - 1]))
		return -1;
	for (int i = n - 2; i >= 0 && i >= n - 3; i--)
		if (seg_is(seg[i], seglen[i], "ccache"))
			return i;
	return -1;
}

int kb_server__route(struct kb_srv_route *out, const char *method, const char *path)
{
	const char *seg[MAX_SEGS];
	size_t seglen[MAX_SEGS];
	int n = 0;
	size_t plen;

	memset(out, 0, sizeof(*out));
	out->method = method_of(method);
	if (!path || path[0] != '/')
		return fail(out, 400, "path must start with '/'");
	plen = strlen(path);
	if (plen > KB_SRV_PREFIX_MAX + 100)
		return fail(out, 400, "path too long");
	if (strchr(path, '%'))
		return fail(out, 400, "percent-encoded characters are not allowed in paths");
	for (const char *p = path + 1;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (n == MAX_SEGS)
			return fail(out, 400, "too many path segments");
		seg[n] = p;
		seglen[n] = len;
		n++;
		if (!slash)
			break;
		p = slash + 1;
	}
	/* Every segment but the key must be safe; the key is checked below. */
	for (int i = 0; i < n - 1; i++)
		if (!safe_segment(seg[i], seglen[i]))
			return fail(out, seglen[i] == 0 ? 404 : 400, "bad path segment");

	/* /status and /metrics, also under a prefix (clients configured with one) */
	if (seg_is(seg[n - 1], seglen[n - 1], "status") ||
	    seg_is(seg[n - 1], seglen[n - 1], "metrics")) {
		out->target = seg_is(seg[n - 1], seglen[n - 1], "status") ? KB_SRV_STATUS
									    : KB_SRV_METRICS;
		if (out->method != KB_SRV_GET && out->method != KB_SRV_HEAD)
			return fail(out, 405, "only GET and HEAD are allowed here");
		return 0;
	}
	for (size_t k = 0; k < sizeof(keyed) / sizeof(keyed[0]); k++) {
		int m = keyed[k].n;
		int ok = n >= m + 1;
		for (int j = 0; ok && j < m; j++)
			ok = seg_is(seg[n - 1 - m + j], seglen[n - 1 - m + j], keyed[k].seg[j]);
		if (!ok)
			continue;
		if ((size_t)(seg[n - 1 - m] - path) > KB_SRV_PREFIX_MAX + 1)
			return fail(out, 400, "path prefix too long");
		out->target = keyed[k].target;
		if (!kb_server__is_key_hex(seg[n - 1], seglen[n - 1])) {
			if (ccache_at(seg, seglen, n) >= 0)
				break; /* ccache's subdirs layout, directory "ac" */
			return fail(out, 400, "key is not 64 lowercase hex digits");
		}
		if (kb_key_from_hex(&out->key, seg[n - 1]) != 0)
			return fail(out, 400, "key is not 64 lowercase hex digits");
		if (out->method == KB_SRV_OTHER ||
		    (out->target == KB_SRV_SIG && out->method == KB_SRV_PUT) ||
		    (out->target != KB_SRV_AC && out->target != KB_SRV_BUILD &&
		     out->method == KB_SRV_DELETE))
			return fail(out, 405, "method not allowed on this path");
		return 0;
	}
	if (!safe_segment(seg[n - 1], seglen[n - 1]) && seglen[n - 1] != 0)
		return fail(out, 400, "bad path segment");
	/* ccache's subdirs (<prefix>/ccache/ab/cdef...) and flat (<prefix>/ccache/abcdef...)
	 * layouts: the one or two segments after the last "ccache" are the key */
	for (int i = ccache_at(seg, seglen, n); i >= 0; i = -1) {
		if ((size_t)(seg[i] - path) > KB_SRV_PREFIX_MAX + 1)
			return fail(out, 400, "path prefix too long");
		out->target = KB_SRV_CCACHE;
		kb_server__ccache_key(&out->key, seg[i + 1], plen - (size_t)(seg[i + 1] - path));
		if (out->method == KB_SRV_OTHER)
			return fail(out, 405, "method not allowed on this path");
		return 0;
	}
	return fail(out, 404, "no such path; see docs/shared-cache.md");
}

int kb_server__parse_length(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_C(1) << 62) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode standard base64 (padding optional); -1 on bad input or overflow. */
static int b64decode(char *out, size_t cap, size_t *outlen, const char *in)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (; *in && *in != '='; in++) {
		int v = b64val(*in);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*in == '=')
		in++;
	if (*in)
		return -1;
	out[n] = '\0';
	*outlen = n;
	return 0;
}

int kb_server__auth_token(char *buf, size_t len, const char *h)
{
	if (!h || len == 0)
		return -1;
	while (*h == ' ')
		h++;
	if (!strncasecmp(h, "Bearer ", 7)) {
		size_t n;
		h += 7;
		while (*h == ' ')
			h++;
		n = strlen(h);
		while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= len)
			return -1;
		memcpy(buf, h, n);
		buf[n] = '\0';
		return 0;
	}
	if (!strncasecmp(h, "Basic ", 6)) {
		char dec[1024];
		size_t n;
		const char *colon;
		h += 6;
		while (*h == ' ')
			h++;
		if (b64decode(dec, sizeof(dec), &n, h) != 0)
			return -1;
		if (memchr(dec, '\0', n))
			return -1;
		colon = strchr(dec, ':');
		if (!colon || !colon[1] || strlen(colon + 1) >= len)
			return -1;
		strcpy(buf, colon + 1);
		return 0;
	}
	return -1;
}

char *kb_server__log_escape(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (cap == 0)
		return out;
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			if (n + 4 >= cap)
				break;
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			if (n + 1 >= cap)
				break;
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return out;
}

int kb_server__token_line(char *line, const char **tok, int *access)
{
	char *p = line, *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (!*p || *p == '#')
		return 1;
	*access = KB_SRV_ACCESS_RW;
	if (!strncmp(p, "ro:", 3)) {
		*access = KB_SRV_ACCESS_RO;
		p += 3;
	} else if (!strncmp(p, "rw:", 3)) {
		p += 3;
	}
	if (!*p)
		return -1;
	*tok = p;
	return 0;
}
