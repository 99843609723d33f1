/*
 * tests/vmpool/test_vmstate_key.c - the key of a saved VM state (kb_vmstate__key()):
 * two bzImages with the same kernel signature share it, without a signature the
 * bzImage hash decides, and every VM setting that changes the saved state changes it;
 * a snapshot with a disk overlay goes into the cache and comes back with it, and a
 * damaged disk line in its manifest is KB_ECORRUPT.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/cache.h"
#include "vmpool/vmpool_internal.h"

static kb_key sig, sig2, bz_a, bz_b, initrd, image;

static int setup(void **state)
{
	(void)state;
	kb_sha256(&sig, "signature", 9);
	kb_sha256(&sig2, "signature 2", 11);
	kb_sha256(&bz_a, "bzImage a", 9);
	kb_sha256(&bz_b, "bzImage b", 9);
	kb_sha256(&initrd, "initrd", 6);
	kb_sha256(&image, "image", 5);
	return 0;
}

static kb_vmstate_key_in base_in(void)
{
	kb_vmstate_key_in in = { .signature = &sig, .kernel_hash = &bz_a, .initrd_hash = &initrd,
				 .mem_mb = 512, .cpus = 1, .accel = "tcg", .cpu_model = "max",
				 .machine = "pc", .qemu_version = "QEMU emulator version 7.2.22",
				 .cmdline = "console=ttyS0 rdinit=/init" };
	return in;
}

static kb_key key_of(const kb_vmstate_key_in *in)
{
	kb_key k;
	kb_vmstate__key(&k, in);
	return k;
}

static void test_vmpool_vmstate_key__same_signature_other_bzimage_same_key(void **state)
{
	kb_vmstate_key_in a = base_in(), b = base_in();
	kb_key ka, kb;
	(void)state;

	b.kernel_hash = &bz_b; /* rebuilt: other bytes, same signature */
	ka = key_of(&a);
	kb = key_of(&b);
	assert_true(kb_key_equal(&ka, &kb));
	b.signature = &sig2;
	kb = key_of(&b);
	assert_false(kb_key_equal(&ka, &kb));
}

static void test_vmpool_vmstate_key__no_signature_falls_back_to_bzimage_hash(void **state)
{
	kb_vmstate_key_in a = base_in(), b = base_in();
	kb_key ka, kb, ks;
	(void)state;

	a.signature = b.signature = NULL;
	b.kernel_hash = &bz_b;
	ka = key_of(&a);
	kb = key_of(&b);
	assert_false(kb_key_equal(&ka, &kb));
	b.kernel_hash = &bz_a;
	kb = key_of(&b);
	assert_true(kb_key_equal(&ka, &kb));
	/* a signature equal to some bzImage hash is still another key */
	b.signature = &bz_a;
	ks = key_of(&b);
	assert_false(kb_key_equal(&ka, &ks));
}

static void test_vmpool_vmstate_key__every_vm_setting_changes_the_key(void **state)
{
	kb_vmstate_key_in in = base_in();
	kb_key ref = key_of(&in), k[11];
	(void)state;

	in = base_in(); in.mem_mb = 384; k[0] = key_of(&in);
	in = base_in(); in.cpus = 2; k[1] = key_of(&in);
	in = base_in(); in.accel = "kvm"; k[2] = key_of(&in);
	in = base_in(); in.cpu_model = "kvm64"; k[3] = key_of(&in);
	in = base_in(); in.machine = "q35"; k[4] = key_of(&in);
	in = base_in(); in.qemu_version = "QEMU emulator version 8.0.0"; k[5] = key_of(&in);
	in = base_in(); in.cmdline = "console=ttyS0 rdinit=/init nokaslr"; k[6] = key_of(&in);
	in = base_in(); in.initrd_hash = &image; k[7] = key_of(&in); /* other agent */
	in = base_in(); in.initrd_hash = NULL; in.image_hash = &image; k[8] = key_of(&in);
	in = base_in(); in.initrd_hash = NULL; in.image_hash = &initrd; k[9] = key_of(&in);
	in = base_in(); in.cmdline = NULL; k[10] = key_of(&in);
	for (int i = 0; i < 11; i++) {
		assert_false(kb_key_equal(&ref, &k[i]));
		for (int j = 0; j < i; j++)
			assert_false(kb_key_equal(&k[j], &k[i]));
	}
	/* and the same inputs give the same key */
	in = base_in();
	k[0] = key_of(&in);
	assert_true(kb_key_equal(&ref, &k[0]));
}

static void test_vmpool_vmstate_key__disk_overlay_round_trips_through_the_cache(void **state)
{
	char *dir = kb_test_tmpdir("vmstate-key");
	char cdir[600];
	kb_cache *c = NULL;
	kb_snapshot a = { 0 }, b = { 0 }, n = { 0 };
	kb_key key, nkey;
	(void)state;

	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	assert_int_equal(kb_cache_open(&c, cdir, KB_CACHE_CREATE), 0);
	snprintf(a.dir, sizeof(a.dir), "%s/a", dir);
	snprintf(b.dir, sizeof(b.dir), "%s/b", dir);
	snprintf(n.dir, sizeof(n.dir), "%s/n", dir);
	assert_int_equal(mkdir(a.dir, 0700), 0);
	assert_int_equal(mkdir(b.dir, 0700), 0);
	assert_int_equal(mkdir(n.dir, 0700), 0);
	snprintf(a.ram, sizeof(a.ram), "%s/ram", a.dir);
	snprintf(a.state, sizeof(a.state), "%s/state", a.dir);
	snprintf(a.disk, sizeof(a.disk), "%s/disk.qcow2", a.dir);
	assert_int_equal(kb_test_write_file(a.ram, "ram pages", 9), 0);
	assert_int_equal(kb_test_write_file(a.state, "QEVM device state", 17), 0);
	assert_int_equal(kb_test_write_file(a.disk, "QFI\xfb overlay bytes", 19), 0);
	kb_sha256(&key, "with disk", 9);
	assert_int_equal(kb_vmstate__store(c, &key, &a), 0);
	assert_int_equal(kb_vmstate__load(c, &key, &b), 0);
	assert_string_not_equal(b.disk, "");
	assert_int_equal(kb_test_sh("cmp -s '%s' '%s'", a.disk, b.disk), 0);
	assert_int_equal(kb_test_sh("cmp -s '%s' '%s'", a.state, b.state), 0);

	/* without a disk: none comes back */
	a.disk[0] = '\0';
	kb_sha256(&nkey, "without disk", 12);
	assert_int_equal(kb_vmstate__store(c, &nkey, &a), 0);
	assert_int_equal(kb_vmstate__load(c, &nkey, &n), 0);
	assert_string_equal(n.disk, "");
	assert_int_not_equal(access(b.dir, F_OK), -1);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_vmstate_key__bad_disk_line_is_ecorrupt(void **state)
{
	char *dir = kb_test_tmpdir("vmstate-key");
	char cdir[600];
	kb_cache *c = NULL;
	kb_snapshot b = { 0 };
	kb_key key, id;
	kb_put_opts po = { .kind = KB_OBJ_VMSTATE, .no_delta = 1 };
	static const char man[] =
		"kbisect-vmstate 1\n"
		"ram 0000000000000000000000000000000000000000000000000000000000000000\n"
		"state 0000000000000000000000000000000000000000000000000000000000000000\n"
		"boot_s 1.000\n"
		"disk not-a-key\n";
	(void)state;

	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	assert_int_equal(kb_cache_open(&c, cdir, KB_CACHE_CREATE), 0);
	snprintf(b.dir, sizeof(b.dir), "%s", dir);
	kb_sha256(&key, "bad disk", 8);
	assert_int_equal(kb_cache_put_buf(&id, c, man, sizeof(man) - 1, &po), 0);
	assert_int_equal(kb_cache_ref_set(c, KB_REF_VMSTATE, &key, &id), 0);
	assert_int_equal(kb_vmstate__load(c, &key, &b), KB_ECORRUPT);
	assert_non_null(strstr(kb_error_last()->message, "disk line"));
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_vmstate_key__image_format_by_magic(void **state)
{
	char *dir = kb_test_tmpdir("vmstate-key");
	char q[600], r[600];
	(void)state;

	snprintf(q, sizeof(q), "%s/q.img", dir);
	snprintf(r, sizeof(r), "%s/r.img", dir);
	assert_int_equal(kb_test_write_file(q, "QFI\xfb\0\0\0\3", 8), 0);
	assert_int_equal(kb_test_write_file(r, "\353\220 boot sector", 14), 0);
	assert_string_equal(kb_qemu__image_format(q), "qcow2");
	assert_string_equal(kb_qemu__image_format(r), "raw");
	assert_string_equal(kb_qemu__cpu_model("kvm"), "kvm64");
	assert_string_equal(kb_qemu__cpu_model("tcg"), "max");
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_vmstate_key__same_signature_other_bzimage_same_key),
		cmocka_unit_test(test_vmpool_vmstate_key__no_signature_falls_back_to_bzimage_hash),
		cmocka_unit_test(test_vmpool_vmstate_key__every_vm_setting_changes_the_key),
		cmocka_unit_test(test_vmpool_vmstate_key__disk_overlay_round_trips_through_the_cache),
		cmocka_unit_test(test_vmpool_vmstate_key__bad_disk_line_is_ecorrupt),
		cmocka_unit_test(test_vmpool_vmstate_key__image_format_by_magic),
	};
	return cmocka_run_group_tests_name("vmpool/vmstate_key", tests, setup, NULL);
}
