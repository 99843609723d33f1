/*
 * tests/fuzz/fuzz_server_request.c - fuzzes the request handling of the shared cache
 * server that is ours (net/server_route.c, net/wire.c): the input is split at
 * newlines into "METHOD PATH", an Authorization value, a Content-Length value and a
 * body, which goes through every record decoder. libmicrohttpd parses real HTTP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/cache.h"
#include "net/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *line[4] = { NULL, NULL, NULL, NULL }, *p, *sp;
	struct kb_srv_route r;
	char tok[256];
	uint64_t len;
	int n = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (p = buf; n < 4;) {
		line[n++] = p;
		if (n == 4)
			break;
		p = strchr(p, '\n');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (line[0]) {
		sp = strchr(line[0], ' ');
		if (sp) {
			*sp = '\0';
			if (kb_server__route(&r, line[0], sp + 1) == 0) {
				/* a routed request always has a valid method and target */
				if (r.target == 0 || r.method < 0 || r.method >= KB_SRV_METHOD_MAX)
					abort();
			} else if (!r.why || r.status < 400 || r.status > 499) {
				abort();
			}
		} else {
			kb_server__route(&r, line[0], NULL);
		}
	}
	if (line[1] && kb_server__auth_token(tok, sizeof(tok), line[1]) == 0 &&
	    strlen(tok) >= sizeof(tok))
		abort();
	if (line[2])
		kb_server__parse_length(line[2], &len);
	if (line[3]) {
		size_t blen = size - (size_t)(line[3] - buf);
		kb_build_record rec;
		kb_test_run *runs;
		kb_key *keys;
		size_t cnt;
		if (kb_cache__wire_build_decode(&rec, line[3], blen) == 0) {
			char *again = kb_cache__wire_build_encode(&rec);
			free(again);
			free(rec.extra_json);
		}
		if (kb_cache__wire_runs_decode(&runs, &cnt, line[3], blen) == 0)
			free(runs);
		if (kb_cache__wire_keys_decode(&keys, &cnt, line[3], blen) == 0)
			free(keys);
	}
	free(buf);
	return 0;
}
