/*
 * bisect/executor_slurm.h - jobs on a Slurm cluster through its commands (sbatch,
 * squeue, scancel, sacct): submit a shell script with a time limit, follow its state,
 * cancel it, and resubmit it when Slurm lost it (node failure, preemption).
 * Module-internal (kb_oracle); the oracle's rounds on it are bisect/oracle_slurm.c.
 */
#ifndef KB_BISECT_EXECUTOR_SLURM_H
#define KB_BISECT_EXECUTOR_SLURM_H

#include <stddef.h>

typedef struct kb_slurm kb_slurm;

/* How jobs are submitted; strings are copied. */
typedef struct {
	const char *partition; /* --partition, or NULL (the cluster's default) */
	const char *args;      /* more sbatch options, split on blanks (quotes kept), or NULL */
	void (*log)(void *ctx, const char *line); /* the bisection log (required) */
	void *log_ctx;
} kb_slurm_opts;

/* Where a job is. */
enum kb_slurm_phase {
	KB_SLURM_UNSUBMITTED = 0,
	KB_SLURM_QUEUED,   /* submitted, pending or running */
	KB_SLURM_DONE,     /* ended; state says how */
};

/* One job: the caller fills name, script and time_min; the executor the rest. */
typedef struct {
	char name[64];        /* in: job name (shown by squeue/sacct) */
	char *script;         /* in: the body of a /bin/sh script (borrowed until done) */
	unsigned time_min;    /* in: --time in minutes */
	long id;              /* out: Slurm job id of the last submission (0: none) */
	int phase;            /* out: kb_slurm_phase */
	char state[32];       /* out: Slurm's state (COMPLETED, FAILED, CANCELLED, ...) */
	int exit_code;        /* out: the script's exit code when known, else -1 */
	unsigned resubmits;   /* out: submissions after Slurm lost the job */
	unsigned lost;        /* out: times Slurm lost it (NODE_FAIL, PREEMPTED, BOOT_FAIL) */
	int cancelled;        /* out: cancelled through kb_slurm_cancel() */
	double submitted_at;  /* out: kb_now_s() of the first submission */
	double queued_at;     /* out: kb_now_s() of the last submission */
	double ended_at;      /* out: kb_now_s() when seen ended */
} kb_slurm_job;

/* Open the executor: finds sbatch, squeue, scancel and asks Slurm to validate a job
 * (sbatch --test-only) with these options, so a bad partition or no munge is an error
 * here, before the first round. KB_ENOTFOUND (no Slurm), KB_EINVAL (rejected). */
int kb_slurm_open(kb_slurm **out, const kb_slurm_opts *opts);

/* Submit j (its phase becomes KB_SLURM_QUEUED); 0 or the error (sbatch's message). */
int kb_slurm_submit(kb_slurm *s, kb_slurm_job *j);

/* Look at the jobs once (one squeue, sacct for those squeue forgot): ended jobs become
 * KB_SLURM_DONE, those Slurm lost are resubmitted (at most 3 times, then DONE with their
 * state). Returns 0 or an error of squeue that lasted past a minute. */
int kb_slurm_poll(kb_slurm *s, kb_slurm_job *const *jobs, size_t n);

/* Poll until every job is KB_SLURM_DONE (or stop() says 1): one squeue for all of them
 * each time, every kb_slurm_poll_interval() of the youngest's age. 0 or the error. */
int kb_slurm_wait(kb_slurm *s, kb_slurm_job *const *jobs, size_t n,
		  int (*stop)(void *ctx), void *ctx);

/* Cancel j when queued (scancel); it becomes DONE with state CANCELLED. */
void kb_slurm_cancel(kb_slurm *s, kb_slurm_job *j);

/* 1 when state is one where Slurm lost the job through no fault of the job. */
int kb_slurm_state_lost(const char *state);

/* Seconds between two looks at jobs the youngest of which was submitted age_s ago:
 * 0.25 s while young, a twentieth of the age after 5 s, at most 2 s. */
double kb_slurm_poll_interval(double age_s);

/* Jobs submitted so far (resubmissions included). */
unsigned kb_slurm_submitted(const kb_slurm *s);

/* squeue calls so far. */
unsigned kb_slurm_squeue_calls(const kb_slurm *s);

/* The second Ctrl-C: scancel every job this process submitted and has not seen end
 * (whatever kb_slurm it came from), waiting up to 3 s for scancel. Async-signal-safe
 * (atomics, static buffers, fork/execv/waitpid). The number of jobs given to scancel. */
int kb_slurm_abort_all(void);

/* Free s (queued jobs are left alone: cancel them first); NULL ok. */
void kb_slurm_free(kb_slurm *s);

#endif
