/*
 * deliver_job - what a struct deliver_job owns
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <stdlib.h>

#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "deliver/deliver_job.h"

/* deliver_job_free - free a job and everything it owns */
void
deliver_job_free(struct deliver_job *job)
{
	uint32_t	 i;

	if (job == NULL)
		return;
	for (i = 0; i < job->nrcpt; i++) {
		free(job->rcpts[i].addr);
		free(job->rcpts[i].text);
		free(job->rcpts[i].orcpt);
	}
	free(job->rcpts);
	deliver_body_free(job->body);
	free(job->qid);
	free(job->sender);
	free(job->domain);
	free(job->envid);
	free(job);
}
