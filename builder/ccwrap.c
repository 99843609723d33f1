/*
 * builder/ccwrap.c - kbisect-ccwrap, the compiler wrapper between make and ccache.
 * Owns: deciding, per compile, whether ccache may run in depend mode.
 *
 * The builder runs ccache in depend mode (CCACHE_DEPEND=1: no preprocessor run on a
 * miss, +11% instead of +47% on a cold tinyconfig build). But in depend mode ccache
 * (4.7.5, Debian 12) hashes only the source and the headers the compiler reports, and
 * a file pulled in by the assembler's `.incbin` is not among them: the kernel's
 * arch/x86/boot/compressed/piggy.S embeds vmlinux.bin.xz that way, so a bzImage could
 * come back from the cache holding an older kernel whenever piggy.S (two sizes) came
 * out the same. In preprocessor mode ccache sees `.incbin` in the preprocessed text and
 * refuses to cache the compile. So: assembler sources, and C sources that mention
 * `.incbin` (kernel/configs.c), go through ccache in preprocessor mode; the rest keep
 * depend mode.
 *
 * usage: kbisect-ccwrap <ccache> <compiler> <args>...   (execs <ccache> <compiler> ...)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 if path ends with suffix */
static int ends_with(const char *path, const char *suffix)
{
	size_t n = strlen(path), k = strlen(suffix);
	return n >= k && strcmp(path + n - k, suffix) == 0;
}

/* 1 if the file at path mentions ".incbin" (or cannot be read: be safe) */
static int mentions_incbin(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = 1;

	if (fd < 0)
		return errno == ENOENT ? 0 : 1; /* not a file: the compiler will say so */
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		found = 0;
	} else if (fstat(fd, &st) == 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			found = memmem(p, (size_t)st.st_size, ".incbin", 7) != NULL;
			munmap(p, (size_t)st.st_size);
		}
	}
	close(fd);
	return found;
}

/* 1 if this compile must not use ccache's depend mode */
static int needs_preprocessor_mode(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-o") || !strcmp(a, "-MF") || !strcmp(a, "-MT") ||
		    !strcmp(a, "-MQ") || !strcmp(a, "-include") || !strcmp(a, "-x")) {
			if (!strcmp(a, "-x") && i + 1 < argc && strstr(argv[i + 1], "assembler"))
				return 1;
			i++; /* the option's value is not a source */
			continue;
		}
		if (a[0] == '-')
			continue;
		if (ends_with(a, ".S") || ends_with(a, ".s") || ends_with(a, ".sx"))
			return 1;
		if (ends_with(a, ".c") && mentions_incbin(a))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: kbisect-ccwrap <ccache> <compiler> <args>...\n"
				"(run by kbisect's builder as the kernel's CC)\n");
		return 2;
	}
	if (needs_preprocessor_mode(argc, argv)) {
		unsetenv("CCACHE_DEPEND");
		setenv("CCACHE_NODEPEND", "1", 1);
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "kbisect-ccwrap: cannot run '%s': %s\n", argv[1], strerror(errno));
	return 127;
}
