/*
 * bench/accuracy/accuracy.c - accuracy benchmark: the engine against plain git bisect
 * ("any crash = bad", N = 10) and syzkaller's rule on synthetic histories and flaky
 * reproducers (bisect/simulate.c). Prints one row per (shape, q, k, strategy):
 * accuracy, mean builds, test runs, rounds and simulated wall time, the wall-time ratio
 * against syzkaller's rule at the same k (measured in the same run), the same ratio
 * over only the trials where syzkaller's rule bisected at all (it gives up when the bad
 * commit crashes fewer than 3 of 20 times), the wall time per right answer, and
 * bound_h: the mean over the trials of kb_sim_bound_seconds(), the least mean wall time
 * any strategy that always names the culprit could take on these histories at this k.
 *
 * Conditions (--cond, issue 19; default: control only): the reproducer as the model says (control), or not:
 * false target crashes on clean kernels in 1% / 3% of runs (eps1, eps3), each buggy
 * kernel with its own rate drawn from [q/4, 2q] (drift), 30% of tests all-or-nothing
 * (aon), bursts of infra errors in 20% of tests at 60% (burst), all of these at once
 * with 1% false crashes (all). Columns wrong% (a single wrong culprit named at the
 * engine's confidence) and p_ok% (of the single culprits named, the share that is right).
 *
 * usage: kb-accuracy [--trials N] [--shape linear|merges|both] [--q 0.9,0.5,0.2,0.1]
 *                    [--k 1,4,8] [--nmin 500] [--nmax 5000] [--seed S] [--engine-only]
 *                    [--cond control,eps1,eps3,drift,aon,burst,all]
 *                    (or conditions not in the table: a '+'-joined list of eps=R,
 *                     aon=SHARE, drift=LO:HI (rates from LO q to HI q, at most 1),
 *                     burst=SHARE:RATE, e.g. --cond eps=0.02+aon=0.5)
 *                    [--max-rounds N]  (the engine's round budget; default its own)
 *                    [--no-prebuild] [--verbose]   (misses on stderr)
 *                    [--replay SEED:N]  (one trial on the history of a miss line's
 *                                        seed= and n=; KB_SIM_DEBUG_LOG=1: engine log)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "kbisect/error.h"
#include "kbisect/simulate.h"

static int parse_list(const char *s, double *out, int max)
{
	int n = 0;
	char *dup = strdup(s), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
		out[n++] = atof(t);
	free(dup);
	return n;
}

static const char *const conds[] = { "control", "eps1", "eps3", "drift", "aon", "burst", "all" };
#define N_CONDS (sizeof(conds) / sizeof(conds[0]))
#define MAX_CONDS 16

/* Put condition n's misbehaviour of the reproducer on top of o's defaults: a named
 * condition, or a '+'-joined list of eps=R, aon=S, drift=LO:HI (each buggy kernel's rate
 * from LO q to HI q, at most 1), burst=SHARE:RATE. 0, or -1 when n is none of these
 * (o then half set: check with a scratch copy first). */
static int apply_cond(kb_sim_opts *o, const char *n)
{
	int all = !strcmp(n, "all"), ok = 0;
	char *dup, *save = NULL;

	for (size_t i = 0; i < N_CONDS; i++)
		ok |= !strcmp(conds[i], n);
	if (ok) {
		if (!strcmp(n, "eps1") || all)
			o->eps = 0.01;
		if (!strcmp(n, "eps3"))
			o->eps = 0.03;
		if (!strcmp(n, "drift") || all) {
			o->q_min = o->q / 4;
			o->q_max = 2 * o->q < 1 ? 2 * o->q : 1;
		}
		if (!strcmp(n, "aon") || all)
			o->aon_share = 0.3;
		if (!strcmp(n, "burst") || all)
			o->burst_share = 0.2, o->burst_infra = 0.6;
		return 0;
	}
	if (!*n || !(dup = strdup(n)))
		return -1;
	ok = 1;
	for (char *t = strtok_r(dup, "+", &save); t && ok; t = strtok_r(NULL, "+", &save)) {
		double a = 0, b = 0;
		char c;
		if (sscanf(t, "eps=%lf%c", &a, &c) == 1 && a >= 0 && a < 1)
			o->eps = a;
		else if (sscanf(t, "aon=%lf%c", &a, &c) == 1 && a >= 0 && a < 1)
			o->aon_share = a;
		else if (sscanf(t, "drift=%lf:%lf%c", &a, &b, &c) == 2 && a > 0 && a <= b)
			o->q_min = a * o->q, o->q_max = b * o->q < 1 ? b * o->q : 1;
		else if (sscanf(t, "burst=%lf:%lf%c", &a, &b, &c) == 2 && a > 0 && a <= 1 &&
			 b > 0 && b <= 1)
			o->burst_share = a, o->burst_infra = b;
		else
			ok = 0;
	}
	free(dup);
	return ok ? 0 : -1;
}

struct acc {
	unsigned trials, correct, in_set, found;
	double builds, runs, rounds, seconds;
	double stated_miss; /* sum over the single culprits named of 1 - their probability */
	double seconds_bis; /* over the trials where syzkaller's rule went past its first
			     * test (the bad commit crashed >= 3 of 20 times) */
};

int main(int argc, char **argv)
{
	unsigned trials = 100, nmin = 500, nmax = 5000;
	unsigned long long seed = 1;
	double qs[8] = { 0.9, 0.5, 0.2, 0.1 }, ks[8] = { 1, 4, 8 };
	int nq = 4, nk = 3, shapes[2] = { KB_SIM_LINEAR, KB_SIM_MERGES }, nshapes = 2;
	unsigned long long replay_seed = 0;
	size_t replay_n = 0; /* --replay SEED:N: one trial on the history of a miss line */
	int engine_only = 0, verbose = 0, ncl = 1;
	const char *cl[MAX_CONDS] = { "control" };
	char *cond_arg = NULL;
	kb_engine_opts eo = { 0 }; /* the engine's defaults, or speculative builds off */

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("usage: kb-accuracy [--trials N] [--shape linear|merges|both] "
			       "[--q LIST] [--k LIST] [--nmin N] [--nmax N] [--seed S] [--engine-only] [--cond LIST] [--max-rounds N] [--no-prebuild] [--verbose] [--replay SEED:N]\n"
			       "  --cond: control, eps1, eps3, drift, aon, burst, all, or a '+'-joined "
			       "list of eps=R, aon=SHARE, drift=LO:HI, burst=SHARE:RATE\n");
			return 0;
		} else if (!strcmp(a, "--verbose")) {
			verbose = 1;
			continue;
		} else if (!strcmp(a, "--engine-only")) {
			engine_only = 1;
			continue;
		} else if (!strcmp(a, "--no-prebuild")) {
			eo.prefetch = -1; /* no speculative builds while a round's tests run */
			continue;
		} else if (!v) {
			fprintf(stderr, "kb-accuracy: option '%s' needs a value\n", a);
			return 129;
		} else if (!strcmp(a, "--trials")) {
			trials = (unsigned)atoi(v);
		} else if (!strcmp(a, "--max-rounds")) {
			eo.max_rounds = (unsigned)atoi(v);
		} else if (!strcmp(a, "--nmin")) {
			nmin = (unsigned)atoi(v);
		} else if (!strcmp(a, "--nmax")) {
			nmax = (unsigned)atoi(v);
		} else if (!strcmp(a, "--replay")) {
			char *colon = NULL;
			replay_seed = strtoull(v, &colon, 10);
			if (!colon || *colon != ':' || !(replay_n = strtoul(colon + 1, NULL, 10))) {
				fprintf(stderr, "kb-accuracy: --replay needs SEED:N (the seed= and n= "
					"of a miss line)\n");
				return 129;
			}
			trials = 1;
		} else if (!strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 10);
		} else if (!strcmp(a, "--q")) {
			nq = parse_list(v, qs, 8);
		} else if (!strcmp(a, "--cond")) {
			char *save = NULL;
			free(cond_arg);
			cond_arg = strdup(v);
			ncl = 0;
			for (char *t = strtok_r(cond_arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				kb_sim_opts scratch = { .q = 0.5 };
				if (apply_cond(&scratch, t) || ncl == MAX_CONDS) {
					fprintf(stderr, "kb-accuracy: unknown condition '%s' (or more than "
						"%d); use control, eps1, eps3, drift, aon, burst, all, or "
						"a '+'-joined list of eps=R, aon=S, drift=LO:HI, "
						"burst=SHARE:RATE\n", t, MAX_CONDS);
					free(cond_arg);
					return 129;
				}
				cl[ncl++] = t;
			}
		} else if (!strcmp(a, "--k")) {
			nk = parse_list(v, ks, 8);
		} else if (!strcmp(a, "--shape")) {
			if (!strcmp(v, "linear"))
				shapes[0] = KB_SIM_LINEAR, nshapes = 1;
			else if (!strcmp(v, "merges"))
				shapes[0] = KB_SIM_MERGES, nshapes = 1;
			else if (strcmp(v, "both")) {
				fprintf(stderr, "kb-accuracy: unknown shape '%s'; use linear, merges or both\n", v);
				return 129;
			}
		} else {
			fprintf(stderr, "kb-accuracy: unknown option '%s'; see --help\n", a);
			return 129;
		}
		i++;
	}
	if (!trials || nmin < 2 || nmax < nmin) {
		fprintf(stderr, "kb-accuracy: need --trials > 0 and 2 <= nmin <= nmax\n");
		return 129;
	}
	printf("%-7s %-7s %4s %2s %-14s %6s %9s %7s %7s %7s %6s %8s %6s %9s %8s %8s %7s %6s %6s\n",
	       "cond", "shape", "q", "k", "strategy", "trials", "accuracy", "in_set", "builds", "runs",
	       "rounds", "wall_h", "t/syz", "t/syz_bis", "h/right", "bound_h", "wrong%", "p_ok%", "1-p%");
	for (int ci = 0; ci < ncl; ci++)
	for (int si = 0; si < nshapes; si++)
		for (int qi = 0; qi < nq; qi++)
			for (int ki = 0; ki < nk; ki++) {
				struct acc a[3];
				unsigned n_bis = 0;
				double bound = 0; /* sum over trials of kb_sim_bound_seconds() */
				memset(a, 0, sizeof(a));
				for (unsigned t = 0; t < trials; t++) {
					double secs[3] = { 0 };
					int bisected = 1;
					kb_sim *s = NULL;
					kb_sim_opts o = { 0 };
					uint64_t x = seed * 1000003ull + t * 7919ull + (uint64_t)qi * 31 + (uint64_t)si;
					o.shape = shapes[si];
					o.q = qs[qi];
					o.n = nmin + (size_t)((x * 2654435761ull >> 7) % (nmax - nmin + 1));
					o.seed = x;
					if (replay_n)
						o.n = replay_n, o.seed = replay_seed;
					apply_cond(&o, cl[ci]);
					if (kb_sim_new(&s, &o)) {
						fprintf(stderr, "kb-accuracy: %s\n", kb_error_last()->message);
						return 1;
					}
					bound += kb_sim_bound_seconds(s, (unsigned)ks[ki]);
					for (int st = 0; st < 3; st++) {
						kb_sim_outcome r;
						if (engine_only && st != KB_SIM_ENGINE)
							continue;
						if (kb_sim_run(s, st, (unsigned)ks[ki], &eo, &r)) {
							fprintf(stderr, "kb-accuracy: %s\n", kb_error_last()->message);
							return 1;
						}
						if (verbose && !r.correct)
							fprintf(stderr, "miss: %s %s q=%.2f k=%d %s n=%zu seed=%llu culprit=%zu reported=%zd p=%.4f in_set=%d\n",
								cl[ci], shapes[si] == KB_SIM_LINEAR ? "linear" : "merges", qs[qi], (int)ks[ki],
								kb_sim_strategy_name(st), o.n, (unsigned long long)x,
								kb_sim_culprit(s), (ssize_t)r.culprit, r.probability, r.in_set);
						a[st].trials++;
						a[st].correct += (unsigned)r.correct;
						a[st].in_set += (unsigned)r.in_set;
						a[st].found += (unsigned)r.found;
						if (r.found)
							a[st].stated_miss += 1 - r.probability;
						a[st].builds += r.builds;
						a[st].runs += r.runs;
						a[st].rounds += r.rounds;
						a[st].seconds += r.seconds;
						secs[st] = r.seconds;
						if (st == KB_SIM_SYZKALLER)
							bisected = r.rounds > 1;
					}
					if (bisected) {
						n_bis++;
						for (int st = 0; st < 3; st++)
							a[st].seconds_bis += secs[st];
					}
					kb_sim_free(s);
				}
				for (int st = 0; st < 3; st++) {
					struct acc *c = &a[st];
					char ratio[16] = "-", rbis[16] = "-", hright[16] = "-", pok[16] = "-";
					char stated[16] = "-";
					if (!c->trials)
						continue;
					if (a[KB_SIM_SYZKALLER].trials)
						snprintf(ratio, sizeof(ratio), "%.2f",
							 c->seconds / a[KB_SIM_SYZKALLER].seconds);
					if (a[KB_SIM_SYZKALLER].trials && n_bis &&
					    a[KB_SIM_SYZKALLER].seconds_bis > 0)
						snprintf(rbis, sizeof(rbis), "%.2f",
							 c->seconds_bis / a[KB_SIM_SYZKALLER].seconds_bis);
					if (c->correct)
						snprintf(hright, sizeof(hright), "%.1f",
							 c->seconds / c->correct / 3600);
					if (c->found)
						snprintf(pok, sizeof(pok), "%.1f", 100.0 * c->correct / c->found);
					if (c->found && st == KB_SIM_ENGINE)
						snprintf(stated, sizeof(stated), "%.2f", 100.0 * c->stated_miss / c->found);
					printf("%-7s %-7s %4.2f %2d %-14s %6u %8.1f%% %6.1f%% %7.1f %7.1f %6.1f %8.2f %6s %9s %8s %8.2f %7.1f %6s %6s\n",
					       cl[ci], shapes[si] == KB_SIM_LINEAR ? "linear" : "merges", qs[qi],
					       (int)ks[ki], kb_sim_strategy_name(st), c->trials,
					       100.0 * c->correct / c->trials, 100.0 * c->in_set / c->trials,
					       c->builds / c->trials, c->runs / c->trials, c->rounds / c->trials,
					       c->seconds / c->trials / 3600, ratio, rbis, hright,
					       bound / trials / 3600,
					       100.0 * (c->found - c->correct) / c->trials, pok, stated);
				}
				fflush(stdout);
			}
	free(cond_arg);
	return 0;
}
