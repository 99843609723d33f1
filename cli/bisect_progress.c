/*
 * cli/bisect_progress.c - where `kbisect bisect` sends its log, and the progress line:
 * phase, commit, objects compiled / estimated, runs done, ETA, the top candidate and its
 * probability; redrawn in place on stderr when it is a terminal, else a plain
 * "progress: ..." line now and then.
 * Owns: the log's sink (one lock: lines from the build threads, the engine and the
 * progress thread never interleave), the progress state and its line.
 * Not: the log's lines themselves (bisect/engine*.c, bisect/oracle*.c, builds.c).
 * DESIGN: the progress is learned from the log lines as they pass (build started/done,
 * "testing commit", "run #", the round summary), so the engine and the oracle keep one
 * channel; runs done move when each test's runs end ("test of R done", its count from
 * "test of R started: N runs"), before the engine's "run #" lines of the round confirm
 * them; objects compiled are the "  CC"/"  AS" lines of each running build's
 * build.log (kbuild's quiet output, next to the work tree), the estimate is the most a
 * finished build of this bisection compiled.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kbisect/util.h"
#include "bisect_progress.h"

#define MAX_BUILDS 16

struct running_build {
	char rev[48];
	char log[4200];   /* its build.log */
	double start;     /* kb_now_s() */
	long off;         /* bytes of the log counted */
	unsigned objects; /* compile lines seen */
	int used;
};

struct kb_progress {
	FILE *log;
	int tty;          /* stderr is a terminal: redraw in place */
	int shown;        /* a progress line is on the screen now */
	double every, t0, last_plain;
	pthread_mutex_t mu;
	pthread_t tid;
	int stop, thread;
	char phase[32], commit[48], top[48], eta[32];
	double top_p;
	unsigned round, runs, objects_est;
	unsigned early;   /* runs of tests done this round that no "run #" line counted yet */
	struct running_build b[MAX_BUILDS];
	struct {          /* tests in the pool: "test of R started: N runs in the pool" */
		char rev[48];
		unsigned runs;
	} t[MAX_BUILDS];
};

static int starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* count the compile lines added to each running build's log since the last look */
static void count_objects(struct kb_progress *p)
{
	for (int i = 0; i < MAX_BUILDS; i++) {
		struct running_build *b = &p->b[i];
		struct stat st;
		FILE *f;
		char line[512];
		if (!b->used || stat(b->log, &st) != 0)
			continue;
		if (st.st_size < b->off) /* truncated: the build started it anew */
			b->off = 0, b->objects = 0;
		if (!(f = fopen(b->log, "r")))
			continue;
		if (fseek(f, b->off, SEEK_SET) == 0)
			while (fgets(line, sizeof(line), f)) {
				size_t n = strlen(line);
				if (n && line[n - 1] != '\n')
					break; /* a line still being written: next time */
				b->off += (long)n;
				b->objects += starts(line, "  CC ") || starts(line, "  AS ");
			}
		fclose(f);
	}
}

static void fmt_dur(char *buf, size_t len, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

/* the progress line into buf (no newline) */
static void render(struct kb_progress *p, char *buf, size_t len)
{
	char el[32];
	size_t off = 0;
	unsigned objects = 0;
	int nb = 0;
	const char *rev = p->commit;

	for (int i = 0; i < MAX_BUILDS; i++)
		if (p->b[i].used) {
			objects += p->b[i].objects;
			if (!nb++)
				rev = p->b[i].rev;
		}
	fmt_dur(el, sizeof(el), kb_now_s() - p->t0);
#define ADD(...) (off += off < len ? (size_t)snprintf(buf + off, len - off, __VA_ARGS__) : 0)
	ADD("[%s] round %u: %s", el, p->round + 1, nb ? "building" : p->phase[0] ? p->phase : "starting");
	if (rev[0])
		ADD(" %.12s", rev);
	if (nb > 1)
		ADD(" (+%d)", nb - 1);
	if (nb && p->objects_est)
		ADD(", %u/~%u objects", objects, p->objects_est);
	else if (nb)
		ADD(", %u objects", objects);
	ADD(", %u runs done", p->runs + p->early);
	if (p->eta[0])
		ADD(", ETA ~%s", p->eta);
	if (p->top[0])
		ADD(", top %.12s %.3f", p->top, p->top_p);
#undef ADD
	if (off >= len && len)
		buf[len - 1] = '\0';
}

static int term_width(void)
{
	struct winsize w;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20)
		return w.ws_col;
	return 80;
}

/* under the lock: take the progress line off the screen */
static void clear_line(struct kb_progress *p)
{
	if (p->shown) {
		fputs("\r\033[K", stderr);
		p->shown = 0;
	}
}

/* under the lock: show the progress line (terminal) */
static void draw(struct kb_progress *p)
{
	char line[512];
	int w = term_width() - 1;

	render(p, line, sizeof(line));
	if ((int)strlen(line) > w)
		line[w] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->shown = 1;
}

static void *progress_thread(void *arg)
{
	struct kb_progress *p = arg;

	for (;;) {
		struct timespec ts = { 1, 0 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		count_objects(p);
		if (p->tty) {
			draw(p);
		} else if (p->every > 0 && kb_now_s() - p->last_plain >= p->every) {
			char line[512];
			render(p, line, sizeof(line));
			fprintf(stderr, "progress: %s\n", line);
			fflush(stderr);
			p->last_plain = kb_now_s();
		}
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

struct kb_progress *kb_progress_start(FILE *log, double every_s)
{
	struct kb_progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->log = log;
	p->tty = isatty(STDERR_FILENO);
	p->every = every_s;
	p->t0 = p->last_plain = kb_now_s();
	pthread_mutex_init(&p->mu, NULL);
	if ((p->tty || every_s > 0) && pthread_create(&p->tid, NULL, progress_thread, p) == 0)
		p->thread = 1;
	return p;
}

/* "build of R[ (speculative)] started (work tree W)": R and W/../build.log */
static void build_started(struct kb_progress *p, const char *line)
{
	const char *w = strstr(line, "(work tree ");
	char rev[48] = "";

	if (!w || sscanf(line, "build of %47s", rev) != 1)
		return;
	for (int i = 0; i < MAX_BUILDS; i++) {
		struct running_build *b = &p->b[i];
		char *slash;
		if (b->used)
			continue;
		memset(b, 0, sizeof(*b));
		snprintf(b->rev, sizeof(b->rev), "%s", rev);
		snprintf(b->log, sizeof(b->log), "%s", w + strlen("(work tree "));
		b->log[strcspn(b->log, ")")] = '\0';
		if ((slash = strrchr(b->log, '/')))
			snprintf(slash, sizeof(b->log) - (size_t)(slash - b->log), "/build.log");
		b->start = kb_now_s();
		b->used = 1;
		return;
	}
}

static void build_done(struct kb_progress *p, const char *line)
{
	char rev[48] = "";

	if (sscanf(line, "build of %47s", rev) != 1)
		return;
	count_objects(p);
	for (int i = 0; i < MAX_BUILDS; i++)
		if (p->b[i].used && !strcmp(p->b[i].rev, rev)) {
			if (strstr(line, ": built") && p->b[i].objects > p->objects_est)
				p->objects_est = p->b[i].objects;
			p->b[i].used = 0;
			break;
		}
	if (!strstr(line, "(speculative)")) { /* the round's builds are followed by its tests */
		snprintf(p->phase, sizeof(p->phase), "testing");
		snprintf(p->commit, sizeof(p->commit), "%s", rev);
	}
}

/* "test of R started: N runs in the pool": remember N for R (rest: after "started: ") */
static void test_started(struct kb_progress *p, const char *rev, const char *rest)
{
	unsigned n;
	int slot = -1;

	if (sscanf(rest, "%u runs", &n) != 1)
		return;
	for (int i = 0; i < MAX_BUILDS; i++)
		if (slot < 0 && (!p->t[i].rev[0] || !strcmp(p->t[i].rev, rev)))
			slot = i;
	if (slot < 0)
		return; /* more tests at once than slots: those show at the round's end */
	snprintf(p->t[slot].rev, sizeof(p->t[slot].rev), "%s", rev);
	p->t[slot].runs = n;
}

/* "test of R done in T": its runs are done, though the engine logs them ("run #")
 * only when the whole round is (rest: from R on) */
static void test_done(struct kb_progress *p, const char *rest)
{
	char rev[48];

	snprintf(rev, sizeof(rev), "%.47s", rest);
	rev[strcspn(rev, " ")] = '\0';
	for (int i = 0; i < MAX_BUILDS; i++)
		if (p->t[i].rev[0] && !strcmp(p->t[i].rev, rev)) {
			p->early += p->t[i].runs;
			p->t[i].rev[0] = '\0';
		}
}

/* learn the progress from a log line (under the lock) */
static void learn(struct kb_progress *p, const char *line)
{
	char top[48], eta[32];
	unsigned round;
	size_t left;
	double tp;

	if (starts(line, "calibrating:")) {
		snprintf(p->phase, sizeof(p->phase), "calibrating");
	} else if (starts(line, "build of ") && strstr(line, " started (work tree ")) {
		build_started(p, line);
	} else if (starts(line, "build of ") && (strstr(line, " done in ") ||
						 strstr(line, " stopped after "))) {
		build_done(p, line);
	} else if (starts(line, "test of ") && strstr(line, " started: ")) {
		snprintf(p->phase, sizeof(p->phase), "testing");
		snprintf(p->commit, sizeof(p->commit), "%.47s", line + strlen("test of "));
		p->commit[strcspn(p->commit, " ")] = '\0';
		test_started(p, p->commit, strstr(line, " started: ") + strlen(" started: "));
	} else if (starts(line, "test of ") && strstr(line, " done in ")) {
		test_done(p, line + strlen("test of "));
	} else if (starts(line, "slurm: building ") || starts(line, "slurm: testing ")) {
		/* --executor slurm: "slurm: building[ again] R as job J", "slurm: testing R (N
		 * runs) as job J" (no build log here to count objects in) */
		const char *r = line + strlen("slurm: ");
		int test = starts(r, "testing ");
		r += strlen(test ? "testing " : "building ");
		if (starts(r, "again "))
			r += strlen("again ");
		if (starts(r, "meanwhile ")) /* a speculative build: not the round's */
			return;
		snprintf(p->phase, sizeof(p->phase), "%s", test ? "testing" : "building (slurm)");
		snprintf(p->commit, sizeof(p->commit), "%.47s", r);
		p->commit[strcspn(p->commit, " ")] = '\0';
	} else if (starts(line, "testing commit ")) {
		snprintf(p->commit, sizeof(p->commit), "%.47s", line + strlen("testing commit "));
		p->commit[strcspn(p->commit, " ")] = '\0';
	} else if (starts(line, "run #")) { /* the engine's account, after the round's tests */
		p->runs++;
		if (p->early)
			p->early--; /* this run was shown when its test ended */
	} else if (sscanf(line, "round %u: %zu candidates left, top %47s %lf, elapsed %*[^,], "
			  "~%31s left", &round, &left, top, &tp, eta) == 5) {
		p->round = round;
		p->early = 0; /* the round's runs are all counted by now */
		snprintf(p->top, sizeof(p->top), "%s", top);
		snprintf(p->eta, sizeof(p->eta), "%s", eta);
		p->top_p = tp;
		snprintf(p->phase, sizeof(p->phase), "choosing");
		p->commit[0] = '\0';
	}
}

void kb_progress_log(void *ctx, const char *line)
{
	struct kb_progress *p = ctx;

	pthread_mutex_lock(&p->mu);
	learn(p, line);
	if (p->log == stderr)
		clear_line(p);
	fprintf(p->log, "%s\n", line);
	fflush(p->log);
	if (p->tty && p->log == stderr && p->thread && !p->stop)
		draw(p);
	pthread_mutex_unlock(&p->mu);
}

void kb_progress_line(struct kb_progress *p, char *buf, size_t len)
{
	pthread_mutex_lock(&p->mu);
	render(p, buf, len);
	pthread_mutex_unlock(&p->mu);
}

void kb_progress_finish(struct kb_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	clear_line(p);
	fflush(stderr);
	pthread_mutex_unlock(&p->mu);
	if (p->thread)
		pthread_join(p->tid, NULL);
	p->thread = 0;
}

void kb_progress_stop(struct kb_progress *p)
{
	if (!p)
		return;
	kb_progress_finish(p);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
