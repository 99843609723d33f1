/*
 * vmpool/vmstate.c - booted VM snapshots kept in the kbisect cache, so that a repeated
 * bisection (another process, another day) does not boot the same kernel again.
 * Owns: the template key (kb_vmstate__key(): kernel signature, or the bzImage hash
 * when no signature is known, + every VM setting that changes the saved state), the
 * layout of a snapshot in the cache: KB_OBJ_VMSTATE objects (the RAM file, the device
 * state and, with a disk image, the disk overlay) and a small manifest object naming
 * them, referenced from namespace KB_REF_VMSTATE by the template key; restoring the
 * RAM file sparse (it is mostly zero pages).
 * Not: making snapshots (snapshot.c), the cache itself (cache/).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/cache.h"
#include "vmpool_internal.h"

#define MANIFEST_MAGIC "kbisect-vmstate 1\n"

void kb_vmstate__key(kb_key *out, const kb_vmstate_key_in *in)
{
	char kh[KB_KEY_HEXLEN + 1], ih[KB_KEY_HEXLEN + 1] = "", dh[KB_KEY_HEXLEN + 1] = "";
	char *text = NULL;
	int n;

	/* the kernel by what it does at run time (two builds with the same signature
	 * boot to the same state), else by the bytes of its bzImage */
	if (in->signature)
		kb_key_to_hex(kh, in->signature);
	else if (in->kernel_hash)
		kb_key_to_hex(kh, in->kernel_hash);
	else
		kh[0] = '\0';
	if (in->initrd_hash)
		kb_key_to_hex(ih, in->initrd_hash);
	if (in->image_hash)
		kb_key_to_hex(dh, in->image_hash);
	n = asprintf(&text, "kbisect-vmstate-2\nkernel=%s:%s\ninitrd=%s\nimage=%s\nmem=%u\n"
		     "cpus=%u\naccel=%s\ncpu=%s\nmachine=%s\nqemu=%s\ncmdline=%s\n",
		     in->signature ? "signature" : "bzimage", kh, ih, dh, in->mem_mb, in->cpus,
		     in->accel ? in->accel : "", in->cpu_model ? in->cpu_model : "",
		     in->machine ? in->machine : "", in->qemu_version ? in->qemu_version : "",
		     in->cmdline ? in->cmdline : "");
	if (n < 0)
		abort();
	kb_sha256(out, text, (size_t)n);
	free(text);
}

int kb_vmstate__store(void *cache, const kb_key *key, const kb_snapshot *snap)
{
	kb_cache *c = cache;
	kb_put_opts po = { .kind = KB_OBJ_VMSTATE };
	kb_key ram, state, disk, man;
	char text[400], rh[65], sh[65], dh[65];
	int r;

	if ((r = kb_cache_put_file(&ram, c, snap->ram, &po)) < 0 ||
	    (r = kb_cache_put_file(&state, c, snap->state, &po)) < 0 ||
	    (snap->disk[0] && (r = kb_cache_put_file(&disk, c, snap->disk, &po)) < 0))
		return r;
	kb_key_to_hex(rh, &ram);
	kb_key_to_hex(sh, &state);
	snprintf(text, sizeof(text), MANIFEST_MAGIC "ram %s\nstate %s\nboot_s %.3f\n", rh, sh,
		 snap->boot_s);
	if (snap->disk[0]) { /* a line older kbisects do not read (and need not) */
		kb_key_to_hex(dh, &disk);
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "disk %s\n", dh);
	}
	po.no_delta = 1;
	if ((r = kb_cache_put_buf(&man, c, text, strlen(text), &po)) < 0)
		return r;
	return kb_cache_ref_set(c, KB_REF_VMSTATE, key, &man);
}

/* Write object id to path, seeking over all-zero blocks so the file stays sparse. */
static int get_sparse(kb_cache *c, const kb_key *id, const char *path)
{
	static const char zero[65536];
	kb_cache_reader *rd = NULL;
	uint64_t size, off = 0;
	char *buf = malloc(sizeof(zero));
	int fd = -1, r;

	if (!buf)
		return kb_error_os("out of memory");
	if ((r = kb_cache_reader_open(&rd, &size, c, id)) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = kb_error_os("cannot create '%s'", path);
		goto out;
	}
	for (;;) {
		size_t got = 0;
		ssize_t n = 0;
		while (got < sizeof(zero) &&
		       (n = kb_cache_reader_read(rd, buf + got, sizeof(zero) - got)) > 0)
			got += (size_t)n;
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		if (got == 0)
			break;
		if (memcmp(buf, zero, got) &&
		    pwrite(fd, buf, got, (off_t)off) != (ssize_t)got) {
			r = kb_error_os("cannot write '%s'", path);
			goto out;
		}
		off += got;
		if (got < sizeof(zero))
			break;
	}
	if (off != size || ftruncate(fd, (off_t)size) < 0)
		r = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_VMPOOL,
				  "vm state object is %llu bytes, expected %llu; run 'kbisect "
				  "cache verify'", (unsigned long long)off, (unsigned long long)size);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(path);
	kb_cache_reader_free(rd);
	free(buf);
	return r;
}

int kb_vmstate__load(void *cache, const kb_key *key, kb_snapshot *snap)
{
	kb_cache *c = cache;
	kb_key man, ram, state, disk;
	char *text = NULL, rh[65], sh[65], dh[65] = "";
	const char *dl;
	size_t len;
	double boot_s = 0;
	int r;

	if ((r = kb_cache_ref_get(&man, c, KB_REF_VMSTATE, key)) < 0)
		return r;
	if ((r = kb_cache_get_buf((void **)&text, &len, c, &man)) < 0)
		return r;
	if (len < strlen(MANIFEST_MAGIC) || memcmp(text, MANIFEST_MAGIC, strlen(MANIFEST_MAGIC)) ||
	    sscanf(text + strlen(MANIFEST_MAGIC), "ram %64s\nstate %64s\nboot_s %lf", rh, sh,
		   &boot_s) < 2 ||
	    kb_key_from_hex(&ram, rh) < 0 || kb_key_from_hex(&state, sh) < 0) {
		free(text);
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_VMPOOL,
				     "malformed vm state manifest in the cache; it will be "
				     "rebuilt, or run 'kbisect cache verify'");
	}
	dl = strstr(text, "\ndisk ");
	if (dl && (sscanf(dl, "\ndisk %64s", dh) != 1 || kb_key_from_hex(&disk, dh) < 0)) {
		free(text);
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_VMPOOL,
				     "malformed disk line in a vm state manifest in the cache; "
				     "it will be rebuilt, or run 'kbisect cache verify'");
	}
	free(text);
	snprintf(snap->ram, sizeof(snap->ram), "%.500s/ram", snap->dir);
	snprintf(snap->state, sizeof(snap->state), "%.500s/state", snap->dir);
	snap->disk[0] = '\0';
	if (dh[0])
		snprintf(snap->disk, sizeof(snap->disk), "%.500s/disk.qcow2", snap->dir);
	if ((r = get_sparse(c, &ram, snap->ram)) < 0 ||
	    (r = kb_cache_get_file(c, &state, snap->state)) < 0 ||
	    (dh[0] && (r = kb_cache_get_file(c, &disk, snap->disk)) < 0))
		return r;
	snap->boot_s = boot_s;
	return 0;
}
