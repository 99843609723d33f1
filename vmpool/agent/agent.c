/*
 * vmpool/agent/agent.c - the kbisect guest agent (static binary, runs as PID 1 in the
 * guest after /init has mounted /proc, /sys, /dev and /tmp).
 * Owns: the guest end of the agent channel (a raw serial port, /dev/ttyS1 by default)
 * and running one reproducer at a time with a time limit.
 * Not: the kernel console (ttyS0, which the reproducer's output goes to).
 *
 * Protocol (text lines, "\n"-terminated; host lines in, agent lines out):
 *   (boot)                         -> "READY" every 0.5 s until the host says anything
 *   "PING <word>"                  -> "PONG <word>"
 *   "RUN <len> <timeout_ms> <fnv>" then <len> bytes of the program
 *                                  -> "START" (program running) or "ERR <why>" (also
 *                                     when the guest cannot execute it: a missing
 *                                     interpreter or loader, a bad format)
 *                                  -> "ALIVE" every second while it runs
 *                                  -> "EXIT code <n> <ms>" | "EXIT signal <n> <ms>" |
 *                                     "EXIT timeout <ms>"
 *   "PUT <len> <fnv>" then the bytes -> "STORED <fnv>" (kept for EXEC; a template
 *                                     stores the program before it is saved)
 *   "EXEC <timeout_ms> <fnv>"       -> as RUN, with the stored program
 *   "SEED <sec> <nsec> <hex>"       -> "SEEDED <token>" | "ERR seed: <why>": set the wall
 *                                     clock, feed the bytes to the kernel's RNG (credited,
 *                                     RNDADDENTROPY on /dev/urandom), force a reseed
 *                                     (RNDRESEEDCRNG); <token> is 16 bytes of getrandom()
 *                                     read after it, in hex (a clone restored from a
 *                                     snapshot must not share its randomness with others)
 *   "TOKEN"                         -> "TOKEN <token>" (the same read, nothing fed)
 * <fnv> is the FNV-1a 32-bit hash of the bytes in hex, so a damaged transfer is caught.
 * A trailing " xz" on RUN/PUT says the bytes are xz-compressed (unpacked with busybox).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REPRO_PATH "/tmp/kbisect-repro"
#define MAX_REPRO (64u << 20)

static int chan = -1;
static char ibuf[65536];
static size_t ilen;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;
	size_t off = 0;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	while (off < (size_t)n) {
		ssize_t w = write(chan, line + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Fill ibuf with more input, waiting up to ms (-1: forever). 1 got data, 0 timeout. */
static int fill(int ms)
{
	struct pollfd p = { .fd = chan, .events = POLLIN };
	ssize_t n;
	int r;

	if (ilen == sizeof(ibuf))
		return 1;
	r = poll(&p, 1, ms);
	if (r <= 0)
		return 0;
	n = read(chan, ibuf + ilen, sizeof(ibuf) - ilen);
	if (n <= 0)
		return 0;
	ilen += (size_t)n;
	return 1;
}

/* Next line into line (without "\n"); blocks. */
static void get_line(char *line, size_t len)
{
	for (;;) {
		char *nl = memchr(ibuf, '\n', ilen);
		if (nl) {
			size_t l = (size_t)(nl - ibuf);
			size_t c = l < len - 1 ? l : len - 1;
			memcpy(line, ibuf, c);
			line[c] = '\0';
			if (c && line[c - 1] == '\r')
				line[c - 1] = '\0';
			memmove(ibuf, nl + 1, ilen - l - 1);
			ilen -= l + 1;
			return;
		}
		if (ilen == sizeof(ibuf))
			ilen = 0; /* garbage without a newline: drop it */
		if (!fill(1000))
			reap_orphans();
	}
}

static uint32_t fnv32(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t stored_hash;
static int have_stored;

/* Receive len bytes into REPRO_PATH; 0 ok, -1 (ERR said). */
static int receive(unsigned long len, unsigned long want, int xz)
{
	unsigned char *prog;
	size_t got = 0;
	int fd;

	if (len == 0 || len > MAX_REPRO) {
		say("ERR bad length %lu", len);
		return -1;
	}
	prog = malloc(len);
	if (!prog) {
		say("ERR out of memory");
		return -1;
	}
	while (got < len) {
		size_t take = ilen < len - got ? ilen : len - got;
		memcpy(prog + got, ibuf, take);
		memmove(ibuf, ibuf + take, ilen - take);
		ilen -= take;
		got += take;
		if (got < len && !fill(10000)) {
			say("ERR transfer stalled at %zu of %lu bytes", got, len);
			free(prog);
			return -1;
		}
	}
	if (fnv32(prog, len) != (uint32_t)want) {
		say("ERR checksum mismatch");
		free(prog);
		return -1;
	}
	unlink(REPRO_PATH);
	unlink(REPRO_PATH ".xz");
	fd = open(xz ? REPRO_PATH ".xz" : REPRO_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || write(fd, prog, len) != (ssize_t)len) {
		say("ERR cannot write %s: %s", REPRO_PATH, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(prog);
		return -1;
	}
	close(fd);
	free(prog);
	if (xz) { /* busybox unpacks it next to itself */
		pid_t pid = fork();
		int st = -1;
		if (pid == 0) {
			char *argv[] = { "/bin/busybox", "xz", "-d", "-f", REPRO_PATH ".xz", NULL };
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, &st, 0);
		if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) || chmod(REPRO_PATH, 0755)) {
			say("ERR cannot unpack the program with busybox xz");
			return -1;
		}
	}
	stored_hash = (uint32_t)want;
	have_stored = 1;
	return 0;
}

/* Run REPRO_PATH with a time limit, reporting START, ALIVE and EXIT. */
static void execute(unsigned long timeout_ms)
{
	double t0, deadline, next_alive;
	pid_t pid;
	int st;

	int ep[2], err = 0;
	ssize_t got;

	/* a close-on-exec pipe tells whether execve() worked: a program the guest cannot
	 * run (no interpreter for its #!, no loader, a foreign format) is not a run */
	if (pipe2(ep, O_CLOEXEC) < 0) {
		say("ERR pipe: %s", strerror(errno));
		return;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		say("ERR fork: %s", strerror(errno));
		close(ep[0]);
		close(ep[1]);
		return;
	}
	if (pid == 0) {
		char *argv[] = { REPRO_PATH, NULL };
		char *envp[] = { "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/tmp", NULL };
		close(ep[0]);
		setsid();
		close(chan);
		if (chdir("/tmp") < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execve(REPRO_PATH, argv, envp);
		err = errno;
		if (write(ep[1], &err, sizeof(err)) != (ssize_t)sizeof(err))
			_exit(127);
		_exit(127);
	}
	close(ep[1]);
	do
		got = read(ep[0], &err, sizeof(err));
	while (got < 0 && errno == EINTR);
	close(ep[0]);
	if (got == (ssize_t)sizeof(err)) {
		char first[128] = "";
		int fd = open(REPRO_PATH, O_RDONLY | O_CLOEXEC);
		waitpid(pid, &st, 0);
		if (fd >= 0) { /* name the interpreter of a script: what the guest lacks */
			ssize_t n = read(fd, first, sizeof(first) - 1);
			close(fd);
			first[n > 0 ? n : 0] = '\0';
			first[strcspn(first, "\r\n")] = '\0';
		}
		if (!strncmp(first, "#!", 2))
			say("ERR cannot run the reproducer: %s (its interpreter '%.80s' is not in "
			    "the guest)", strerror(err), first + 2);
		else
			say("ERR cannot run the reproducer: %s", strerror(err));
		return;
	}
	say("START");
	deadline = t0 + (double)timeout_ms / 1000.0;
	next_alive = t0 + 1.0;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		double t = now();
		if (r == pid) {
			unsigned long ms = (unsigned long)((t - t0) * 1000);
			if (WIFEXITED(st))
				say("EXIT code %d %lu", WEXITSTATUS(st), ms);
			else
				say("EXIT signal %d %lu", WTERMSIG(st), ms);
			break;
		}
		if (t >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			say("EXIT timeout %lu", (unsigned long)((t - t0) * 1000));
			break;
		}
		if (t >= next_alive) {
			say("ALIVE");
			next_alive += 1.0;
		}
		usleep(20000);
	}
	kill(-pid, SIGKILL); /* leftovers of the program's session */
	reap_orphans();
}

static int unhex(unsigned char *out, size_t cap, const char *hex, size_t *n)
{
	size_t i = 0;
	while (hex[0] && hex[1] && hex[0] != ' ' && i < cap) {
		unsigned int v;
		if (sscanf(hex, "%2x", &v) != 1)
			return -1;
		out[i++] = (unsigned char)v;
		hex += 2;
	}
	*n = i;
	return hex[0] && hex[0] != ' ' ? -1 : 0;
}

/* 16 bytes of getrandom() in hex into tok (33 bytes); 0 or -1 (errno). */
static int read_token(char *tok)
{
	unsigned char b[16];
	ssize_t n;
	do
		n = getrandom(b, sizeof(b), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(b))
		return -1;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(tok + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* SEED: the host's clock and fresh random bytes, before a clone's program runs. */
static void seed(unsigned long long sec, unsigned long nsec, const char *hex)
{
	union {
		struct rand_pool_info info;
		unsigned char raw[sizeof(struct rand_pool_info) + 128];
	} e;
	unsigned char bytes[128];
	struct timespec ts = { .tv_sec = (time_t)sec, .tv_nsec = (long)nsec };
	size_t n = 0;
	char tok[33];
	int fd;

	memset(&e, 0, sizeof(e));
	if (unhex(bytes, sizeof(bytes), hex, &n) < 0 || n < 16) {
		say("ERR seed: bad random bytes from the host");
		return;
	}
	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		say("ERR seed: cannot set the clock: %s", strerror(errno));
		return;
	}
	memcpy(e.raw + sizeof(struct rand_pool_info), bytes, n); /* = info.buf[] */
	e.info.buf_size = (int)n;
	e.info.entropy_count = (int)(n * 8);
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		say("ERR seed: cannot open /dev/urandom: %s", strerror(errno));
		return;
	}
	if (ioctl(fd, RNDADDENTROPY, &e.info) < 0) {
		say("ERR seed: RNDADDENTROPY on /dev/urandom: %s", strerror(errno));
		close(fd);
		return;
	}
	if (ioctl(fd, RNDRESEEDCRNG) < 0) {
		say("ERR seed: RNDRESEEDCRNG on /dev/urandom: %s", strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	if (read_token(tok) < 0) {
		say("ERR seed: getrandom: %s", strerror(errno));
		return;
	}
	say("SEEDED %s", tok);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/ttyS1";
	struct termios t;
	char line[256];

	signal(SIGPIPE, SIG_IGN);
	chan = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (chan < 0) {
		fprintf(stderr, "kbisect-agent: cannot open '%s': %s\n", dev, strerror(errno));
		for (;;)
			pause(); /* PID 1 must not exit */
	}
	if (tcgetattr(chan, &t) == 0) {
		cfmakeraw(&t);
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		t.c_cflag |= CLOCAL | CREAD;
		tcsetattr(chan, TCSANOW, &t);
	}
	{
		/* a higher receive FIFO trigger level: fewer interrupts per byte received */
		const char *base = strrchr(dev, '/');
		char path[128];
		int fd;
		snprintf(path, sizeof(path), "/sys/class/tty/%s/rx_trig_bytes", base ? base + 1 : dev);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "14", 2) != 2) {
				/* older kernels: keep the default */
			}
			close(fd);
		}
	}
	printf("kbisect-agent: ready on %s\n", dev);
	fflush(stdout);
	/* READY until the host speaks (it may connect after we start). */
	do
		say("READY");
	while (!fill(500));
	for (;;) {
		unsigned long a, b, c;
		char word[64];

		get_line(line, sizeof(line));
		if (sscanf(line, "PING %63s", word) == 1)
			say("PONG %s", word);
		else if (sscanf(line, "RUN %lu %lu %lx", &a, &b, &c) == 3) {
			if (receive(a, c, strstr(line, " xz") != NULL) == 0)
				execute(b);
		} else if (sscanf(line, "PUT %lu %lx", &a, &c) == 2) {
			if (receive(a, c, strstr(line, " xz") != NULL) == 0)
				say("STORED %08lx", c);
		} else if (!strncmp(line, "SEED ", 5)) {
			unsigned long long sec;
			int off = 0;
			if (sscanf(line, "SEED %llu %lu %n", &sec, &a, &off) == 2 && off > 0)
				seed(sec, a, line + off);
			else
				say("ERR seed: bad SEED line");
		} else if (!strcmp(line, "TOKEN")) {
			char tok[33];
			if (read_token(tok) == 0)
				say("TOKEN %s", tok);
			else
				say("ERR token: getrandom: %s", strerror(errno));
		} else if (sscanf(line, "EXEC %lu %lx", &b, &c) == 2) {
			if (have_stored && stored_hash == (uint32_t)c)
				execute(b);
			else
				say("ERR no stored program with hash %08lx", c);
		}
		else if (line[0])
			say("ERR unknown command");
		reap_orphans();
	}
}
