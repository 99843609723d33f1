/*
 * cache/keys.c - build keys and test keys: SHA-256 of canonical manifests.
 * Owns: the manifest formats (documented in docs/architecture.md, section "Keys").
 * DESIGN: a manifest is text, one field per line in a fixed order, each value written
 * as "<name> <length>:<bytes>\n" so that no value can be confused with another field;
 * a missing value is written as "<name> -\n". The .config enters as its SHA-256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cache_internal.h"

static void field(EVP_MD_CTX *md, const char *name, const char *val, size_t len)
{
	char head[96];
	int n;

	if (!val) {
		n = snprintf(head, sizeof(head), "%s -\n", name);
		EVP_DigestUpdate(md, head, (size_t)n);
		return;
	}
	n = snprintf(head, sizeof(head), "%s %zu:", name, len);
	EVP_DigestUpdate(md, head, (size_t)n);
	EVP_DigestUpdate(md, val, len);
	EVP_DigestUpdate(md, "\n", 1);
}

static void sfield(EVP_MD_CTX *md, const char *name, const char *val)
{
	field(md, name, val, val ? strlen(val) : 0);
}

static void kfield(EVP_MD_CTX *md, const char *name, const kb_key *k)
{
	char hex[KB_KEY_HEXLEN + 1];
	if (!k) {
		field(md, name, NULL, 0);
		return;
	}
	kb_key_to_hex(hex, k);
	field(md, name, hex, KB_KEY_HEXLEN);
}

void kb_build_key_compute(kb_key *out, const kb_build_inputs *in)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char schema[16];
	unsigned int n = 0;
	kb_key cfg;

	snprintf(schema, sizeof(schema), "%d", KB_BUILD_SCHEMA);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	sfield(md, "kbisect-build-manifest", schema);
	sfield(md, "git_tree", in->git_tree);
	if (in->config) {
		kb_sha256(&cfg, in->config, in->config_len);
		kfield(md, "config_sha256", &cfg);
	} else {
		kfield(md, "config_sha256", NULL);
	}
	sfield(md, "arch", in->arch);
	sfield(md, "compiler", in->compiler);
	kfield(md, "compiler_sha256", in->compiler_hash);
	sfield(md, "make_targets", in->make_targets);
	sfield(md, "make_args", in->make_args);
	sfield(md, "kbuild_env", in->kbuild_env);
	EVP_DigestFinal_ex(md, out->b, &n);
	EVP_MD_CTX_free(md);
}

void kb_test_key_compute(kb_key *out, const kb_test_inputs *in)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char schema[16];
	unsigned int n = 0;

	snprintf(schema, sizeof(schema), "%d", KB_TEST_SCHEMA);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	sfield(md, "kbisect-test-manifest", schema);
	kfield(md, "signature", in->signature);
	kfield(md, "repro_sha256", in->repro);
	kfield(md, "guest_sha256", in->guest);
	sfield(md, "cmdline", in->cmdline);
	sfield(md, "vm_settings", in->vm_settings);
	EVP_DigestFinal_ex(md, out->b, &n);
	EVP_MD_CTX_free(md);
}
