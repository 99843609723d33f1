/*
 * vmpool/entropy.c - fresh randomness for VMs restored from a snapshot.
 * Owns: the host side of the agent's SEED and TOKEN commands (host random bytes and
 * wall clock in, the guest's 16-byte getrandom() token out), the set of tokens seen per
 * template (a repeat means the guest did not reseed), VM generation ID GUIDs.
 * Not: what a failed reseed means for a run (run.c), the guest side (agent/agent.c).
 * DESIGN: every clone maps the template's RAM, so its kernel CRNG, per-CPU batches and
 * everything user space derives from them start equal in every clone. Before a clone's
 * program runs, the host draws 64 bytes (getrandom()) and the agent credits them to the
 * kernel (RNDADDENTROPY), forces a reseed (RNDRESEEDCRNG) and answers with 16 bytes of
 * getrandom(): equal tokens from two clones of one template prove the reseed failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/error_internal.h"
#include "vmpool_internal.h"

int kb_vm__uuid(char buf[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

/* 1 if s is 32 hex digits. */
static int is_token(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 32 && s[n] == '\0';
}

int kb_vm__seed(kb_vm *vm, char token[33], char *why, size_t why_len, double deadline)
{
	unsigned char rnd[64];
	char line[300], hex[2 * sizeof(rnd) + 1];
	struct timespec ts;
	int r;

	token[0] = '\0';
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kb_error_os("cannot draw random bytes on the host for a clone");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(line, sizeof(line), "SEED %lld %ld %s\n", (long long)ts.tv_sec, ts.tv_nsec, hex);
	r = kb_vm__agent_send(vm, line, strlen(line), deadline);
	while (r == 0) {
		r = kb_vm__agent_line(vm, line, sizeof(line), deadline);
		if (r == 0 && (!strncmp(line, "SEEDED ", 7) || !strncmp(line, "ERR", 3)))
			break;
	}
	if (r < 0)
		return r;
	if (!strncmp(line, "ERR", 3)) {
		snprintf(why, why_len, "the guest agent said: %.200s%s", line + 4,
			 strstr(line, "unknown command") ? " (an older agent: put the new one in "
			 "the disk image)" : "");
		return KB_EINVAL;
	}
	if (!is_token(line + 7)) {
		snprintf(why, why_len, "the guest agent sent a malformed token");
		return KB_EINVAL;
	}
	memcpy(token, line + 7, 32);
	token[32] = '\0';
	return 0;
}

void kb_vm__token(kb_vm *vm, char token[33], double deadline)
{
	char line[300];
	int r = kb_vm__agent_send(vm, "TOKEN\n", 6, deadline);

	token[0] = '\0';
	while (r == 0) {
		r = kb_vm__agent_line(vm, line, sizeof(line), deadline);
		if (r == 0 && !strncmp(line, "TOKEN ", 6) && is_token(line + 6)) {
			memcpy(token, line + 6, 32);
			token[32] = '\0';
			return;
		}
		if (r == 0 && !strncmp(line, "ERR", 3))
			return;
	}
}

int kb_tokens__add(kb_tokens *set, const char *token)
{
	unsigned char b[16];

	if (!is_token(token))
		return -1;
	for (int i = 0; i < 16; i++) {
		unsigned int v;
		if (sscanf(token + 2 * i, "%2x", &v) != 1)
			return -1;
		b[i] = (unsigned char)v;
	}
	for (size_t i = 0; i < set->n; i++)
		if (!memcmp(set->v[i], b, 16))
			return 1;
	if (set->n == set->cap) {
		size_t nc = set->cap ? set->cap * 2 : 64;
		void *nv = realloc(set->v, nc * sizeof(*set->v));
		if (!nv)
			return 0; /* not remembered; the check is weaker, the run is fine */
		set->v = nv;
		set->cap = nc;
	}
	memcpy(set->v[set->n++], b, 16);
	return 0;
}

void kb_tokens__free(kb_tokens *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}
