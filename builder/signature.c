/*
 * builder/signature.c - kernel signatures of vmlinux files (libelf).
 * Owns: the ELF walk and the hash that syzkaller calls a kernel signature
 * (elfBinarySignature in syzkaller's pkg/build/linux.go), in both of its versions:
 * today's (since syzkaller 7d5020531, 2022-06-23: SHA-256 over the SHA-256 digests of
 * the sections) and the legacy one (one SHA-256 over the sections' bytes).
 * Not: which file is a vmlinux (builder/build.c), storing signatures (cache.c).
 * DESIGN: libelf only parses the headers; the bytes hashed are read straight from the
 * caller's buffer or the read-only mapping of the file, at each section's sh_offset,
 * as Go's debug/elf does. Every offset is bounds-checked against the image size
 * first, so a malformed file is an error and never a read past the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gelf.h>
#include <libelf.h>
#include <openssl/evp.h>

#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "common/error_internal.h"

static int elf_invalid(const char *name, const char *what)
{
	return kb_error_setc(KB_EINVAL, KB_ERRCLASS_ELF,
			     "cannot compute the kernel signature of '%s': %s; "
			     "pass an unstripped vmlinux ELF (not a bzImage)",
			     name, what);
}

/* 1 if [off, off+len) lies inside an image of size bytes. */
static int in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/*
 * Hash the signature sections of e; image/size are the bytes the offsets refer to.
 * KB_SIG_SYZKALLER: each section's SHA-256 digest (32 raw bytes) goes into the outer
 * SHA-256; KB_SIG_LEGACY: the sections' bytes go into it directly.
 */
static int sign_elf(kb_key *out, size_t *n_sections, Elf *e, const unsigned char *image,
		    size_t size, const char *name, kb_sig_algo algo)
{
	GElf_Ehdr eh;
	size_t shnum = 0, hashed = 0, shdr_size;
	EVP_MD_CTX *md;
	unsigned int mdlen = 0;
	int cls;

	if (elf_kind(e) != ELF_K_ELF)
		return elf_invalid(name, "not an ELF file");
	cls = gelf_getclass(e);
	if (cls != ELFCLASS32 && cls != ELFCLASS64)
		return elf_invalid(name, "unknown ELF class");
	if (!gelf_getehdr(e, &eh))
		return elf_invalid(name, "truncated or malformed ELF header");
	if (elf_getshdrnum(e, &shnum) != 0)
		return elf_invalid(name, "malformed section header table");
	if (shnum == 0)
		return elf_invalid(name, "no section headers (stripped with objcopy -S?)");
	shdr_size = cls == ELFCLASS64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	if (shnum > size / shdr_size || !in_bounds(eh.e_shoff, (uint64_t)shnum * shdr_size, size))
		return elf_invalid(name, "section header table outside the file (truncated?)");

	md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return kb_error_set(KB_ERRCLASS_OS, "cannot start SHA-256 for '%s': out of memory",
				    name);
	}
	for (size_t i = 0; i < shnum; i++) {
		Elf_Scn *scn = elf_getscn(e, i);
		GElf_Shdr sh;

		if (!scn || !gelf_getshdr(scn, &sh)) {
			EVP_MD_CTX_free(md);
			return elf_invalid(name, "unreadable section header");
		}
		/* syzkaller: allocated sections with file data, minus notes (build id). */
		if (!(sh.sh_flags & SHF_ALLOC) || sh.sh_type == SHT_NOBITS ||
		    sh.sh_type == SHT_NOTE)
			continue;
		if (!in_bounds(sh.sh_offset, sh.sh_size, size)) {
			char what[160];
			snprintf(what, sizeof(what),
				 "section %zu (offset %llu, size %llu) extends past the end of the "
				 "file (%zu bytes; truncated?)",
				 i, (unsigned long long)sh.sh_offset,
				 (unsigned long long)sh.sh_size, size);
			EVP_MD_CTX_free(md);
			return elf_invalid(name, what);
		}
		if (algo == KB_SIG_LEGACY) {
			if (sh.sh_size)
				EVP_DigestUpdate(md, image + sh.sh_offset, (size_t)sh.sh_size);
		} else {
			unsigned char d[EVP_MAX_MD_SIZE];
			unsigned int dlen = 0;
			if (!EVP_Digest(image + sh.sh_offset, (size_t)sh.sh_size, d, &dlen,
					EVP_sha256(), NULL)) {
				EVP_MD_CTX_free(md);
				return kb_error_set(KB_ERRCLASS_OS, "cannot hash section %zu of "
						    "'%s': out of memory", i, name);
			}
			EVP_DigestUpdate(md, d, dlen);
		}
		hashed++;
	}
	EVP_DigestFinal_ex(md, out->b, &mdlen);
	EVP_MD_CTX_free(md);
	if (n_sections)
		*n_sections = hashed;
	return KB_OK;
}

int kb_signature_buf(kb_key *out, size_t *n_sections, const void *data, size_t len,
		     const char *name)
{
	return kb_signature_buf_algo(out, n_sections, data, len, name, KB_SIG_SYZKALLER);
}

int kb_signature_buf_algo(kb_key *out, size_t *n_sections, const void *data, size_t len,
			  const char *name, kb_sig_algo algo)
{
	char *copy;
	Elf *e;
	int rc;

	if (!name)
		name = "<memory>";
	if (!data && len)
		return elf_invalid(name, "no data");
	elf_version(EV_CURRENT);
	/* libelf may convert headers in place: give it a private copy, hash the original. */
	copy = malloc(len ? len : 1);
	if (!copy)
		return kb_error_set(KB_ERRCLASS_OS, "cannot copy '%s' (%zu bytes): out of memory",
				    name, len);
	if (len)
		memcpy(copy, data, len);
	e = elf_memory(copy, len);
	if (!e) {
		free(copy);
		return elf_invalid(name, elf_errmsg(-1));
	}
	rc = sign_elf(out, n_sections, e, data, len, name, algo);
	elf_end(e);
	free(copy);
	return rc;
}

int kb_signature_file(kb_key *out, const char *vmlinux_path)
{
	return kb_signature_file_algo(out, vmlinux_path, KB_SIG_SYZKALLER);
}

int kb_signature_file_algo(kb_key *out, const char *vmlinux_path, kb_sig_algo algo)
{
	struct stat st;
	const char *image;
	size_t size = 0;
	Elf *e;
	int fd, rc;

	fd = open(vmlinux_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kb_error_os("cannot open '%s' for its kernel signature", vmlinux_path);
	if (fstat(fd, &st) != 0) {
		rc = kb_error_os("cannot stat '%s'", vmlinux_path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return elf_invalid(vmlinux_path, "not a regular file");
	}
	if (st.st_size == 0) {
		close(fd);
		return elf_invalid(vmlinux_path, "empty file");
	}
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e) {
		rc = elf_invalid(vmlinux_path, elf_errmsg(-1));
		close(fd);
		return rc;
	}
	image = elf_rawfile(e, &size);
	if (!image)
		rc = elf_invalid(vmlinux_path, "not an ELF file");
	else
		rc = sign_elf(out, NULL, e, (const unsigned char *)image, size, vmlinux_path,
			      algo);
	elf_end(e);
	close(fd);
	return rc;
}
