/*
 * deliver_job - what a struct deliver_job owns
 *
 * deliver_job_free() frees a job's recipients, body and strings, the
 * TLSA set of its policy, and the job itself (NULL is fine). It does
 * not unlink the job from any list or stop its session: the caller does
 * that first.
 */
#ifndef AVAL_DELIVER_DELIVER_JOB_H
#define AVAL_DELIVER_DELIVER_JOB_H

struct deliver_job;

void	 deliver_job_free(struct deliver_job *);

#endif
