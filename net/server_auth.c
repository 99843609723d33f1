/*
 * net/server_auth.c - who may use the shared cache server, and reloading it: the
 * bearer tokens (SHA-256 digests, each with a name for the access log), the TLS
 * certificate and key (GnuTLS credentials handed to MHD through its certificate
 * callback), and kb_server_reload() (SIGHUP in `kbisect cache serve`).
 * Not: where requests are answered (net/server.c), token line syntax and header
 * parsing (net/server_route.c), the access log file (net/server_log.c).
 * DESIGN: libmicrohttpd 0.9.75 loads MHD_OPTION_HTTPS_MEM_CERT/KEY once into the
 * daemon's credentials, which it never lets go of; but with
 * MHD_OPTION_HTTPS_CERT_CALLBACK GnuTLS asks us for the certificate in every
 * handshake. So a reload parses the new files into a fresh credential set and makes it
 * current; handshakes from then on get it, connections already open keep their
 * session. GnuTLS keeps pointers to the set a session selected, so a replaced set is
 * freed only by a later reload that finds every connection opened before the switch
 * closed (each connection records the generation it started under,
 * net/server_guard.c), or when the server stops. The
 * callback has no closure argument: it finds its server by the session's socket among
 * the open connections of the servers registered here. Tokens are one pointer swapped
 * under a rwlock; a request checks its token once, when its headers arrive, so
 * uploads in flight are untouched by a reload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/error_internal.h"
#include "kbisect/common.h"
#include "kbisect/util.h"
#include "server_priv.h"

#define MAX_CHAIN 16      /* certificates in one PEM chain */
#define NAME_MAX_LEN 64   /* a token's name */
#define FILE_MAX (1 << 20) /* largest token or TLS file read */

/* The accepted tokens. */
struct kb_srv_tokens {
	size_t n;
	kb_key keys[MAX_TOKENS];              /* SHA-256 of each token */
	unsigned char ro[MAX_TOKENS];         /* 1: that token may only read */
	char names[MAX_TOKENS][NAME_MAX_LEN]; /* for the access log */
};

/* One certificate chain and its key. */
struct kb_srv_creds {
	gnutls_pcert_st pcert[MAX_CHAIN];
	unsigned int n;
	gnutls_privkey_t key;
	uint64_t retired_gen; /* made old when cred_gen became this (0: current) */
	struct kb_srv_creds *next;
};

/* ---- files ---- */

/* The whole of a small file (malloc'd, NUL-terminated, *len bytes), or NULL with the
 * error set (KB_EINVAL, naming path and what) */
static char *read_small(const char *path, const char *what, size_t *len)
{
	char *buf = NULL, msg[1024];
	int r = kb_file_read(&buf, len, path, FILE_MAX, what);

	if (r == KB_OK)
		return buf;
	snprintf(msg, sizeof(msg), "%s", kb_error_last()->message);
	if (r == KB_EINVAL) /* too large */
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "cannot read %s '%s': not a regular "
			      "file of at most 1 MiB", what, path);
	else
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "%s; check the path and that the "
			      "server's user may read it", msg);
	return NULL;
}

/* ---- tokens ---- */

/* Parse a token file into a new set: each line `[ro:|rw:]<token> [<name>]` (the token
 * has no blanks; the rest of the line names it; unnamed tokens are called
 * "sha256:<first 8 hex digits of the token's SHA-256>"). NULL with the error set. */
static struct kb_srv_tokens *tokens_load(const char *path)
{
	struct kb_srv_tokens *t;
	size_t len;
	char *text = read_small(path, "token file", &len), *line, *save = NULL;
	unsigned int lineno = 0;

	if (!text)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		OPENSSL_cleanse(text, len);
		free(text);
		kb_error_os("cannot allocate the token set");
		return NULL;
	}
	for (line = text; line; line = save) {
		const char *tok = NULL;
		char *name, *nl = strchr(line, '\n');
		int acc = KB_SRV_ACCESS_RW, r;
		size_t tl;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		r = kb_server__token_line(line, &tok, &acc);
		if (r == 1)
			continue;
		if (r < 0) {
			kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "token file '%s' line %u: 'ro:' or "
				      "'rw:' without a token; write the token after the prefix",
				      path, lineno);
			goto fail;
		}
		if (t->n == MAX_TOKENS) {
			kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "token file '%s' has more than %d "
				      "tokens; remove some", path, MAX_TOKENS);
			goto fail;
		}
		tl = strcspn(tok, " \t");
		name = (char *)tok + tl;
		while (*name == ' ' || *name == '\t')
			name++;
		t->ro[t->n] = acc == KB_SRV_ACCESS_RO;
		kb_sha256(&t->keys[t->n], tok, tl);
		if (*name) {
			snprintf(t->names[t->n], NAME_MAX_LEN, "%s", name);
		} else {
			char hex[KB_KEY_HEXLEN + 1];
			kb_key_to_hex(hex, &t->keys[t->n]);
			snprintf(t->names[t->n], NAME_MAX_LEN, "sha256:%.8s", hex);
		}
		t->n++;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	if (t->n == 0) {
		free(t);
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "token file '%s' has no token; add one "
			      "per line", path);
		return NULL;
	}
	return t;
fail:
	OPENSSL_cleanse(text, len);
	free(text);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
	return NULL;
}

int kb_server__has_tokens(kb_server *s)
{
	int has;
	pthread_rwlock_rdlock(&s->tok_lock);
	has = s->toks != NULL;
	pthread_rwlock_unlock(&s->tok_lock);
	return has;
}

int kb_server__authorized(kb_server *s, struct MHD_Connection *conn, int write, char *ident,
			  size_t ident_len)
{
	const char *h;
	char tok[512];
	kb_key k;
	int ok = 0, rw = 0, have;
	size_t who = 0;

	snprintf(ident, ident_len, "-");
	pthread_rwlock_rdlock(&s->tok_lock);
	have = s->toks != NULL;
	pthread_rwlock_unlock(&s->tok_lock);
	if (!have)
		return 1;
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (kb_server__auth_token(tok, sizeof(tok), h) != 0)
		return !write && s->opts.anonymous_read ? 1 : 0;
	kb_sha256(&k, tok, strlen(tok));
	OPENSSL_cleanse(tok, sizeof(tok));
	pthread_rwlock_rdlock(&s->tok_lock);
	if (s->toks) {
		/* every token, in constant time per token, without early exit */
		for (size_t i = 0; i < s->toks->n; i++) {
			int m = CRYPTO_memcmp(k.b, s->toks->keys[i].b, sizeof(k.b)) == 0;
			if (m && !ok)
				who = i;
			ok |= m;
			rw |= m & !s->toks->ro[i];
		}
		if (ok)
			snprintf(ident, ident_len, "%s", s->toks->names[who]);
	} else {
		ok = rw = 1;
	}
	pthread_rwlock_unlock(&s->tok_lock);
	if (!ok)
		return !write && s->opts.anonymous_read ? 1 : 0;
	return write && !rw ? -1 : 1;
}

/* ---- TLS credentials ---- */

static void creds_free(struct kb_srv_creds *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < c->n; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
}

/* Parse a PEM certificate chain and its key, and check that the key is the first
 * certificate's. NULL with the error set (naming the file). */
static struct kb_srv_creds *creds_load(const char *cert_path, const char *key_path)
{
	struct kb_srv_creds *c = calloc(1, sizeof(*c));
	size_t clen = 0, klen = 0;
	char *cert = NULL, *key = NULL;
	gnutls_datum_t d;
	gnutls_pubkey_t pub = NULL;
	unsigned char id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2);
	int r;

	if (!c) {
		kb_error_os("cannot allocate TLS credentials");
		return NULL;
	}
	if (!(cert = read_small(cert_path, "TLS certificate", &clen)) ||
	    !(key = read_small(key_path, "TLS key", &klen)))
		goto fail;
	c->n = MAX_CHAIN;
	d.data = (unsigned char *)cert;
	d.size = (unsigned int)clen;
	r = gnutls_pcert_list_import_x509_raw(c->pcert, &c->n, &d, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || c->n == 0) {
		c->n = 0;
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "TLS certificate '%s' is not a PEM "
			      "certificate chain (%s); check the file", cert_path,
			      r < 0 ? gnutls_strerror(r) : "no certificate in it");
		goto fail;
	}
	d.data = (unsigned char *)key;
	d.size = (unsigned int)klen;
	if ((r = gnutls_privkey_init(&c->key)) < 0 ||
	    (r = gnutls_privkey_import_x509_raw(c->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "TLS key '%s' is not an unencrypted PEM "
			      "private key (%s); check the file", key_path, gnutls_strerror(r));
		goto fail;
	}
	if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, c->key, 0, 0) < 0 ||
	    gnutls_pubkey_get_key_id(pub, 0, id1, &n1) < 0 ||
	    gnutls_pubkey_get_key_id(c->pcert[0].pubkey, 0, id2, &n2) < 0 || n1 != n2 ||
	    memcmp(id1, id2, n1) != 0) {
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET, "TLS key '%s' does not belong to the "
			      "certificate '%s'; give the key the certificate was made for",
			      key_path, cert_path);
		goto fail;
	}
	gnutls_pubkey_deinit(pub);
	free(cert);
	OPENSSL_cleanse(key, klen);
	free(key);
	return c;
fail:
	if (pub)
		gnutls_pubkey_deinit(pub);
	free(cert);
	if (key)
		OPENSSL_cleanse(key, klen);
	free(key);
	creds_free(c);
	return NULL;
}

/* Free the replaced credential sets no open connection can hold (s->cred_lock held). */
static void creds_sweep(kb_server *s)
{
	uint64_t min = kb_server__conns_min_gen(s);
	struct kb_srv_creds **pp = &s->retired;

	while (*pp) {
		struct kb_srv_creds *c = *pp;
		if (c->retired_gen <= min) {
			*pp = c->next;
			creds_free(c);
		} else {
			pp = &c->next;
		}
	}
}

/* The servers with TLS, for the certificate callback. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static kb_server *reg[64];
static size_t n_reg;

void kb_server__auth_register(kb_server *s)
{
	pthread_mutex_lock(&reg_lock);
	if (n_reg < sizeof(reg) / sizeof(reg[0])) {
		reg[n_reg++] = s;
		s->registered = 1;
	}
	pthread_mutex_unlock(&reg_lock);
}

static void unregister(kb_server *s)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_reg; i++)
		if (reg[i] == s) {
			reg[i] = reg[--n_reg];
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	s->registered = 0;
}

/* GnuTLS, in a handshake: the current certificate chain and key of the session's
 * server (found by its socket; the only TLS server when there is just one). */
int kb_server__cert_cb(gnutls_session_t sess, const gnutls_datum_t *req_ca_dn, int nreqs,
		       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		       gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	int fd = gnutls_transport_get_int(sess);
	kb_server *s = NULL;
	int rc = -1;

	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_reg && !s; i++)
		if (kb_server__has_conn_fd(reg[i], fd))
			s = reg[i];
	if (!s && n_reg == 1)
		s = reg[0];
	if (s) {
		pthread_mutex_lock(&s->cred_lock);
		if (s->creds) {
			*pcert = s->creds->pcert;
			*pcert_length = s->creds->n;
			*pkey = s->creds->key;
			rc = 0;
		}
		pthread_mutex_unlock(&s->cred_lock);
	}
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

/* ---- set up, reload, free ---- */

static char *dup_or_null(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = 1;
	return d;
}

int kb_server__auth_init(kb_server *s)
{
	int oom = 0;

	if (pthread_rwlock_init(&s->tok_lock, NULL) != 0)
		return kb_error_os("cannot create the server's token lock");
	if (pthread_mutex_init(&s->cred_lock, NULL) != 0) {
		pthread_rwlock_destroy(&s->tok_lock);
		return kb_error_os("cannot create the server's TLS lock");
	}
	s->auth_ready = 1;
	s->token_path = dup_or_null(s->opts.token_file, &oom);
	s->cert_path = dup_or_null(s->opts.tls_cert, &oom);
	s->key_path = dup_or_null(s->opts.tls_key, &oom);
	if (oom)
		return kb_error_os("cannot allocate the server's file names");
	if (s->token_path && !(s->toks = tokens_load(s->token_path)))
		return KB_EINVAL;
	if (s->cert_path || s->key_path) {
		if (!s->cert_path || !s->key_path)
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_NET,
					     "TLS needs both --tls-cert and --tls-key");
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
		    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)
			return kb_error_setc(KB_EUNSUPPORTED, KB_ERRCLASS_NET,
					     "this libmicrohttpd has no TLS support (or no "
					     "certificate callback); put a TLS proxy in front (see "
					     "docs/shared-cache.md)");
		if (!(s->creds = creds_load(s->cert_path, s->key_path)))
			return KB_EINVAL;
		s->tls = 1;
	}
	return 0;
}

void kb_server__auth_fini(kb_server *s)
{
	if (s->registered)
		unregister(s);
	if (s->toks) {
		OPENSSL_cleanse(s->toks, sizeof(*s->toks));
		free(s->toks);
	}
	creds_free(s->creds);
	while (s->retired) {
		struct kb_srv_creds *c = s->retired;
		s->retired = c->next;
		creds_free(c);
	}
	free(s->token_path);
	free(s->cert_path);
	free(s->key_path);
	if (s->auth_ready) {
		pthread_rwlock_destroy(&s->tok_lock);
		pthread_mutex_destroy(&s->cred_lock);
		s->auth_ready = 0;
	}
}

int kb_server_reload(kb_server *s)
{
	struct kb_srv_tokens *t = NULL, *old_t;
	struct kb_srv_creds *c = NULL;

	if (s->token_path && !(t = tokens_load(s->token_path)))
		goto fail;
	if (s->tls && !(c = creds_load(s->cert_path, s->key_path))) {
		if (t) {
			OPENSSL_cleanse(t, sizeof(*t));
			free(t);
		}
		goto fail;
	}
	if (s->log_owned && kb_server__log_reopen(s) != 0) {
		if (t) {
			OPENSSL_cleanse(t, sizeof(*t));
			free(t);
		}
		creds_free(c);
		goto fail;
	}
	if (t) {
		pthread_rwlock_wrlock(&s->tok_lock);
		old_t = s->toks;
		s->toks = t;
		pthread_rwlock_unlock(&s->tok_lock);
		if (old_t) {
			OPENSSL_cleanse(old_t, sizeof(*old_t));
			free(old_t);
		}
	}
	if (c) {
		pthread_mutex_lock(&s->cred_lock);
		/* connections opening from now on start under the new generation */
		uint64_t gen = atomic_fetch_add(&s->cred_gen, 1) + 1;
		s->creds->retired_gen = gen;
		s->creds->next = s->retired;
		s->retired = s->creds;
		s->creds = c;
		creds_sweep(s);
		pthread_mutex_unlock(&s->cred_lock);
	}
	kb_srv__add(&s->reloads, 1);
	return 0;
fail:
	kb_srv__add(&s->reload_failures, 1);
	return kb_error_last()->code ? kb_error_last()->code : KB_EINVAL;
}
