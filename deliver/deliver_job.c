/*
 * deliver_job - what a struct deliver_job owns
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
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

/* deliver_job_fail - the same result for every recipient without one */
void
deliver_job_fail(struct deliver_job *job, enum deliver_status status,
    const char *dsn, const char *text)
{
	struct deliver_rcpt	*r;
	uint32_t		 i;

	for (i = 0; i < job->nrcpt; i++) {
		r = &job->rcpts[i];
		if (r->final)
			continue;
		r->final = 1;
		r->status = status;
		strlcpy(r->dsn, dsn, sizeof(r->dsn));
		free(r->text);
		r->text = xstrdup(text);
	}
}

/* deliver_job_reset - no recipient has a result any more */
void
deliver_job_reset(struct deliver_job *job)
{
	uint32_t	 i;

	for (i = 0; i < job->nrcpt; i++) {
		job->rcpts[i].final = 0;
		job->rcpts[i].dsn[0] = '\0';
		free(job->rcpts[i].text);
		job->rcpts[i].text = NULL;
	}
	strlcpy(job->relay, "none", sizeof(job->relay));
	job->tlslog[0] = '\0';
	memset(&job->t_conn, 0, sizeof(job->t_conn));
}

/* deliver_job_all - 1 if every recipient has a result of that status */
int
deliver_job_all(const struct deliver_job *job, enum deliver_status status)
{
	uint32_t	 i;

	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpts[i].final || job->rcpts[i].status != status)
			return 0;
	return 1;
}
