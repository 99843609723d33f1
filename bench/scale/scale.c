/*
 * bench/scale/scale.c - kb-scale: the engine's simulated wall time against the number of
 * jobs in flight k when every build and every test is a batch job that pays a
 * submission latency (kb_sim_opts.job_latency: Slurm's, measured by bench/scale/run.sh),
 * on 5,000-commit histories (7 min per build, 9 min per test round, 5% infra errors, 2%
 * lost runs, 1% other crashes, 1% unbuildable commits), next to syzkaller's rule (one
 * commit at a time, its 10-20 runs on 10-20 VMs at once: one test round per commit, no
 * scheduler latency) on the same histories.
 * Prints per q: k, mean wall hours, speed-up over k = 1 (same latency), the cost of the
 * latency (against the same k without it), share of right culprits, and the ratio to
 * syzkaller's wall time; all figures from runs of this invocation.
 *
 *   kb-scale [--latency S] [--trials N] [--commits N] [--k 1,4,8,16,64] [--q 0.5,0.2]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "kbisect/simulate.h"

#define MAX_LIST 16

/* "1,4,8" into v; the count */
static size_t parse_list(const char *s, double *v)
{
	size_t n = 0;
	char *end;

	while (*s && n < MAX_LIST) {
		v[n++] = strtod(s, &end);
		if (end == s)
			return 0;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* one bisection of history seed with strategy at k and latency; 0 or -1 */
static int one(kb_sim_outcome *r, size_t commits, double q, unsigned long long seed,
	       double latency, int strategy, unsigned k)
{
	kb_sim *s = NULL;
	kb_sim_opts o = { .n = commits, .q = q, .seed = seed, .job_latency = latency };
	int rc;

	if (kb_sim_new(&s, &o) != 0)
		return -1;
	rc = kb_sim_run(s, strategy, k, NULL, r);
	kb_sim_free(s);
	return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
	double latency = 1.0, ks[MAX_LIST] = { 1, 4, 8, 16, 64 }, qs[MAX_LIST] = { 0.5, 0.2 };
	size_t nk = 5, nq = 2, commits = 5000;
	unsigned trials = 10;

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "kb-scale: '%s' needs a value; see the header of "
				"bench/scale/scale.c\n", a);
			return 129;
		}
		if (!strcmp(a, "--latency"))
			latency = atof(v);
		else if (!strcmp(a, "--trials"))
			trials = (unsigned)atoi(v);
		else if (!strcmp(a, "--commits"))
			commits = (size_t)atol(v);
		else if (!strcmp(a, "--k"))
			nk = parse_list(v, ks);
		else if (!strcmp(a, "--q"))
			nq = parse_list(v, qs);
		else {
			fprintf(stderr, "kb-scale: unknown option '%s'\n", a);
			return 129;
		}
	}
	if (!trials || !nk || !nq || latency < 0) {
		fprintf(stderr, "kb-scale: bad --trials, --k, --q or --latency\n");
		return 129;
	}
	printf("# %zu commits, %u histories per q, job latency %.2f s (every build and test "
	       "a job), 7 min builds, 9 min test rounds\n", commits, trials, latency);
	printf("%-5s %-10s %4s %9s %9s %10s %7s %8s\n", "q", "strategy", "k", "wall_h",
	       "speedup", "lat_cost", "right%", "t/syz");
	for (size_t iq = 0; iq < nq; iq++) {
		double syz = 0, base = 0;
		unsigned syz_right = 0;
		for (unsigned t = 0; t < trials; t++) {
			kb_sim_outcome r;
			if (one(&r, commits, qs[iq], 1000 + t, 0, KB_SIM_SYZKALLER, 1) != 0) {
				fprintf(stderr, "kb-scale: %s\n", kb_error_last()->message);
				return 1;
			}
			syz += r.seconds / trials;
			syz_right += (unsigned)r.correct;
		}
		for (size_t ik = 0; ik < nk; ik++) {
			unsigned k = (unsigned)ks[ik], right = 0;
			double wall = 0, wall0 = 0;
			for (unsigned t = 0; t < trials; t++) {
				kb_sim_outcome r, r0;
				if (one(&r, commits, qs[iq], 1000 + t, latency, KB_SIM_ENGINE, k) ||
				    one(&r0, commits, qs[iq], 1000 + t, 0, KB_SIM_ENGINE, k)) {
					fprintf(stderr, "kb-scale: %s\n", kb_error_last()->message);
					return 1;
				}
				wall += r.seconds / trials;
				wall0 += r0.seconds / trials;
				right += (unsigned)r.correct;
			}
			if (ik == 0)
				base = wall;
			printf("%-5.2f %-10s %4u %9.2f %8.2fx %9.4fx %6.0f%% %8.2f\n", qs[iq], "kbisect",
			       k, wall / 3600, base / wall, wall / wall0, 100.0 * right / trials,
			       wall / syz);
			fflush(stdout);
		}
		printf("%-5.2f %-10s %4s %9.2f %9s %10s %6.0f%% %8.2f\n", qs[iq], "syzkaller",
		       "1x10", syz / 3600, "-", "-", 100.0 * syz_right / trials, 1.0);
	}
	return 0;
}
