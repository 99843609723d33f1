/*
 * cache/tier.c - the store's second tier: read-through and write-through of the public
 * get/put/record calls to a kb_cache_tier (a shared cache server, filled in by net/).
 * Owns: the tier of a handle, local mode (a thread inside a tier call touches the local
 * store only), what is asked locally and what remotely for each call.
 * Not: HTTP and the wire format (net/remote.c), the local store itself (object.c,
 * records.c): their public functions call in here with one line when a tier is set.
 * DESIGN: a tier never fails a caller. A local hit never asks the tier; a local miss
 * asks it once and stores what it gets locally before answering; a write goes to the
 * local store first and, when that worked, to the tier. A tier that fails (host
 * failure) counts it and answers KB_ENOTFOUND or nothing: the caller gets the local
 * verdict, and a host failure never turns into a record.
 */
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "common/error_internal.h"

static _Thread_local int local_mode; /* > 0: inside a tier call */

void kb_cache_set_tier(kb_cache *c, const kb_cache_tier *t)
{
	if (t)
		c->tier = *t;
	else
		memset(&c->tier, 0, sizeof(c->tier));
}

int kb_cache__tier_on(const kb_cache *c)
{
	return c->tier.ctx && !local_mode;
}

void kb_cache__tier_object(kb_cache *c, const kb_key *id)
{
	local_mode++;
	if (!kb_cache_has(c, id) && c->tier.object_fetch)
		c->tier.object_fetch(c->tier.ctx, c, id);
	local_mode--;
}

int kb_cache_fetch(kb_cache *c, const kb_key *id)
{
	char s[16];

	if (kb_cache__tier_on(c))
		kb_cache__tier_object(c, id);
	if (kb_cache_has(c, id))
		return 0;
	return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
			     "object %s is not in cache '%s'%s", kb_cache__short(s, id), c->dir,
			     c->tier.ctx ? " nor on the remote" : " (no remote attached)");
}

int kb_cache_push(kb_cache *c, const kb_key *id)
{
	char s[16];

	if (!kb_cache_has(c, id))
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "object %s is not in cache '%s'; nothing to push",
				     kb_cache__short(s, id), c->dir);
	if (!kb_cache__tier_on(c) || !c->tier.object_push)
		return 0;
	local_mode++;
	c->tier.object_push(c->tier.ctx, c, id);
	local_mode--;
	return 0;
}

int kb_cache__tier_ac_get(kb_key *out_id, kb_cache *c, const kb_key *key)
{
	char s[16];
	int rc;

	local_mode++;
	rc = kb_cache_ref_get(out_id, c, KB_REF_AC, key);
	if (rc == KB_ENOTFOUND && c->tier.ac_fetch) {
		kb_key id;
		if (c->tier.ac_fetch(c->tier.ctx, c, key, &id) == 0) {
			*out_id = id;
			/* a failure to keep the reference does not lose the answer */
			kb_cache_ref_set(c, KB_REF_AC, key, &id);
			rc = 0;
		} else {
			rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
					   "no reference %s in namespace %d of cache '%s' nor on "
					   "the remote", kb_cache__short(s, key), KB_REF_AC, c->dir);
		}
	}
	local_mode--;
	return rc;
}

int kb_cache__tier_ac_set(kb_cache *c, const kb_key *key, const kb_key *id)
{
	int rc;

	local_mode++;
	rc = kb_cache_ref_set(c, KB_REF_AC, key, id);
	if (rc == 0 && c->tier.ac_push)
		c->tier.ac_push(c->tier.ctx, c, key, id);
	local_mode--;
	return rc;
}

int kb_cache__tier_build_get(kb_build_record *out, kb_cache *c, const kb_key *build_key)
{
	char s[16];
	int rc;

	local_mode++;
	rc = kb_cache_build_get(out, c, build_key); /* counts the hit or the miss */
	if (rc == KB_ENOTFOUND && c->tier.build_fetch) {
		if (c->tier.build_fetch(c->tier.ctx, out, build_key) == 0) {
			/* keep a local copy (its artifacts are fetched when read); a failure
			 * to store it does not lose the answer */
			kb_cache_build_put(c, out);
			rc = 0;
		} else {
			memset(out, 0, sizeof(*out));
			rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
					   "no build record %s in cache '%s' nor on the remote",
					   kb_cache__short(s, build_key), c->dir);
		}
	}
	local_mode--;
	return rc;
}

int kb_cache__tier_build_put(kb_cache *c, const kb_build_record *rec)
{
	int rc;

	local_mode++;
	rc = kb_cache_build_put(c, rec);
	if (rc == 0 && c->tier.build_push)
		c->tier.build_push(c->tier.ctx, c, rec);
	local_mode--;
	return rc;
}

static int has_key(const kb_key *keys, size_t n, const kb_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (kb_key_equal(&keys[i], k))
			return 1;
	return 0;
}

int kb_cache__tier_by_sig(kb_key **out, size_t *n, kb_cache *c, const kb_key *sig)
{
	kb_key *rk = NULL;
	size_t nr = 0;
	int rc;

	local_mode++;
	rc = kb_cache_builds_by_signature(out, n, c, sig);
	if (rc == 0 && c->tier.sig_fetch && c->tier.sig_fetch(c->tier.ctx, &rk, &nr, sig) == 0) {
		for (size_t i = 0; i < nr; i++) {
			kb_build_record rec;
			kb_key *nk;
			if (has_key(*out, *n, &rk[i]) ||
			    c->tier.build_fetch(c->tier.ctx, &rec, &rk[i]) != 0)
				continue;
			/* copied in (read-through); listed only if it is stored */
			if (kb_cache_build_put(c, &rec) == 0 &&
			    (nk = realloc(*out, (*n + 1) * sizeof(**out)))) {
				*out = nk;
				nk[(*n)++] = rk[i];
			}
			kb_build_record_clear(&rec);
		}
	}
	free(rk);
	local_mode--;
	return rc;
}

int kb_cache__tier_test_add(kb_cache *c, const kb_key *test_key, const kb_test_run *runs,
			    size_t n)
{
	int rc;

	local_mode++;
	rc = kb_cache_test_add_many(c, test_key, runs, n);
	if (rc == 0 && c->tier.test_push)
		c->tier.test_push(c->tier.ctx, c, test_key, runs, n);
	local_mode--;
	return rc;
}

int kb_cache__tier_test_list(kb_test_run **out, size_t *n, kb_cache *c,
			     const kb_key *test_key)
{
	kb_test_run *rem = NULL;
	size_t nrem = 0;
	int rc;

	local_mode++;
	rc = kb_cache_test_list(out, n, c, test_key); /* counts the hit or the miss */
	if (rc == 0 && c->tier.test_fetch &&
	    c->tier.test_fetch(c->tier.ctx, &rem, &nrem, test_key, *out, *n) == 0 && nrem &&
	    kb_cache_test_add_many(c, test_key, rem, nrem) == 0) {
		/* merged in (read-through): answer with them, after the local runs */
		kb_test_run *all = realloc(*out, (*n + nrem) * sizeof(**out));
		if (all) {
			memcpy(all + *n, rem, nrem * sizeof(*rem));
			*out = all;
			*n += nrem;
		}
	}
	free(rem);
	local_mode--;
	return rc;
}
