/*
 * common/key.c - SHA-256 keys: hashing (OpenSSL) and hex conversion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "error_internal.h"

static const char hexdigits[] = "0123456789abcdef";

void kb_key_to_hex(char out[KB_KEY_HEXLEN + 1], const kb_key *key)
{
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hexdigits[key->b[i] >> 4];
		out[2 * i + 1] = hexdigits[key->b[i] & 15];
	}
	out[KB_KEY_HEXLEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int kb_key_from_hex(kb_key *out, const char *hex)
{
	if (!hex || strlen(hex) != KB_KEY_HEXLEN)
		return KB_EINVAL;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return KB_EINVAL;
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	return KB_OK;
}

int kb_key_equal(const kb_key *a, const kb_key *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

void kb_sha256(kb_key *out, const void *data, size_t len)
{
	unsigned int n = 0;
	EVP_Digest(data, len, out->b, &n, EVP_sha256(), NULL);
}

int kb_sha256_file(kb_key *out, const char *path)
{
	enum { PIECE = 1 << 20 };
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *md;
	unsigned char *buf;
	unsigned int n = 0;
	size_t got;
	int rc = 0;

	if (!f)
		return kb_error_os("cannot open '%s'", path);
	md = EVP_MD_CTX_new();
	buf = malloc(PIECE);
	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		rc = kb_error_set(KB_ERRCLASS_OS, "cannot hash '%s': out of memory", path);
		goto out;
	}
	while ((got = fread(buf, 1, PIECE, f)) > 0)
		EVP_DigestUpdate(md, buf, got);
	if (ferror(f)) {
		rc = kb_error_os("cannot read '%s'", path);
		goto out;
	}
	EVP_DigestFinal_ex(md, out->b, &n);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	fclose(f);
	return rc;
}

const char *kb_version(void)
{
	return KB_VERSION_STRING;
}

const char *kb_run_class_name(int klass)
{
	switch (klass) {
	case KB_RUN_OK: return "ok";
	case KB_RUN_CRASH: return "crash";
	case KB_RUN_INFRA: return "infra";
	case KB_RUN_BOOT_FAILURE: return "boot_failure";
	}
	return "unknown";
}

int kb_run_class_parse(const char *name)
{
	for (int k = KB_RUN_OK; k <= KB_RUN_BOOT_FAILURE; k++)
		if (name && !strcmp(name, kb_run_class_name(k)))
			return k;
	return -1;
}
