/*
 * deliver_job - what a struct deliver_job owns, and its results
 *
 * deliver_job_free() frees a job's recipients, body and strings and the
 * job itself (NULL is fine). It does not unlink the job from any list or
 * stop its session: the caller does that first.
 *
 * deliver_job_fail() gives every recipient without a result the same one;
 * deliver_job_reset() takes every result back, for another attempt of the
 * same job (the next MX host). deliver_job_all() is 1 when every
 * recipient's result has that status.
 */
#ifndef AVAL_DELIVER_DELIVER_JOB_H
#define AVAL_DELIVER_DELIVER_JOB_H

#include "common/ipc_types.h"

struct deliver_job;

void	 deliver_job_free(struct deliver_job *);
void	 deliver_job_fail(struct deliver_job *, enum deliver_status,
	    const char *dsn, const char *text);
void	 deliver_job_reset(struct deliver_job *);
int	 deliver_job_all(const struct deliver_job *, enum deliver_status);

#endif
