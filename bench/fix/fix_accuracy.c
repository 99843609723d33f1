/*
 * bench/fix/fix_accuracy.c - kb-fix-accuracy: fix bisection (issue 22) on simulated
 * histories: kbisect's engine in fix mode against git bisect (any crash = still crashing,
 * as `git bisect run` with --term-old crashing --term-new fixed) and syzkaller's rule,
 * on the same histories, with and without a partial fix that lowers q before the fix.
 * Owns: the fix-mode accuracy table (right, wrong, set; mean simulated wall time and the
 * ratios against the baselines, measured in the same run).
 * Not: the simulator and strategies (bisect/simulate.c), cause mode (bench/accuracy).
 *
 * usage: kb-fix-accuracy [--trials 100] [--q 0.4] [--partial-q 0] [--eps 0] [--k 1]
 *                        [--shape linear|merges] [--commits 300] [--seed 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/simulate.h"

int main(int argc, char **argv)
{
	unsigned trials = 100, k = 1, commits = 300;
	double q = 0.4, pq = 0, eps = 0;
	int shape = KB_SIM_LINEAR, verbose = 0;
	unsigned long long seed = 1;
	unsigned right[3] = { 0 }, wrong[3] = { 0 }, partial[3] = { 0 }, inset = 0, refused = 0;
	double secs[3] = { 0 }, runs[3] = { 0 };

	for (int i = 1; i < argc; i += 2) {
		if (!strcmp(argv[i], "--verbose")) { /* a line per wrong answer of the engine */
			verbose = 1, i--;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "kb-fix-accuracy: option '%s' needs a value\n", argv[i]);
			return 129;
		}
		if (!strcmp(argv[i], "--trials"))
			trials = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--q"))
			q = strtod(argv[i + 1], NULL);
		else if (!strcmp(argv[i], "--eps"))
			eps = strtod(argv[i + 1], NULL);
		else if (!strcmp(argv[i], "--partial-q"))
			pq = strtod(argv[i + 1], NULL);
		else if (!strcmp(argv[i], "--k"))
			k = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--commits"))
			commits = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--shape"))
			shape = !strcmp(argv[i + 1], "merges") ? KB_SIM_MERGES : KB_SIM_LINEAR;
		else {
			fprintf(stderr, "kb-fix-accuracy: unknown option '%s'\n", argv[i]);
			return 129;
		}
	}
	if (!trials || !k || k > 64 || !(q > 0 && q <= 1) || pq < 0 || pq >= 1) {
		fprintf(stderr, "kb-fix-accuracy: need trials >= 1, 1..64 workers, q in (0,1], "
				"partial q in [0,1)\n");
		return 129;
	}
	for (unsigned t = 0; t < trials; t++) {
		kb_sim *s = NULL;
		kb_sim_opts o = { .n = commits, .q = q, .partial_q = pq, .fix = 1, .shape = shape,
				  .eps = eps > 0 ? eps : 0,
				  .seed = seed * 100003 + t };
		if (kb_sim_new(&s, &o) != 0) {
			fprintf(stderr, "kb-fix-accuracy: %s\n", kb_error_last()->message);
			return 1;
		}
		for (int st = 0; st < 3; st++) {
			kb_sim_outcome r;
			if (kb_sim_run(s, st, k, NULL, &r) != 0) {
				/* the engine refused its input (a fixed commit that crashed
				 * beyond false crashes): no answer, counted */
				if (st != KB_SIM_ENGINE || kb_error_last()->code != KB_EINVAL) {
					fprintf(stderr, "kb-fix-accuracy: %s\n",
						kb_error_last()->message);
					kb_sim_free(s);
					return 1;
				}
				kb_error_clear();
				refused++;
				continue;
			}
			if (verbose && st == KB_SIM_ENGINE && r.found && !r.correct)
				fprintf(stderr, "miss: seed=%llu fix=%zu partial=%zd named=%zu p=%.4f\n",
					(unsigned long long)o.seed, kb_sim_culprit(s),
					kb_sim_partial(s) == KB_MODEL_NONE ? (ssize_t)-1
									   : (ssize_t)kb_sim_partial(s),
					r.culprit, r.probability);
			right[st] += (unsigned)r.correct;
			wrong[st] += r.found && !r.correct;
			partial[st] += r.found && r.culprit == kb_sim_partial(s) &&
				       kb_sim_partial(s) != KB_MODEL_NONE;
			inset += st == KB_SIM_ENGINE && !r.found && r.in_set;
			secs[st] += r.seconds;
			runs[st] += r.runs;
		}
		kb_sim_free(s);
	}
	printf("fix bisection, %u trials, %u commits, %s, q %.2f, partial q %.2f, false "
	       "crashes %.3f, k=%u (every strategy)\n",
	       trials, commits, shape == KB_SIM_MERGES ? "merges" : "linear", q, pq, eps, k);
	printf("%-14s %7s %7s %9s %10s %10s\n", "strategy", "right", "wrong", "partial", "mean wall",
	       "mean runs");
	for (int st = 0; st < 3; st++)
		printf("%-14s %6.1f%% %6.1f%% %8.1f%% %9.2fh %10.0f\n", kb_sim_strategy_name(st),
		       100.0 * right[st] / trials, 100.0 * wrong[st] / trials,
		       100.0 * partial[st] / trials, secs[st] / trials / 3600, runs[st] / trials);
	printf("kbisect: %u sets holding the fix, %u refused the fixed commit; wall time ratio vs git %.3f, vs syzkaller %.3f\n",
	       inset, refused, secs[1] > 0 ? secs[0] / secs[1] : 0, secs[2] > 0 ? secs[0] / secs[2] : 0);
	return 0;
}
