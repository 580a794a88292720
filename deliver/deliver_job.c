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
#include "deliver/deliver_tls.h"

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
	deliver_tls_dane_clear(&job->policy);
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

/*
 * The TLSA set a job's policy holds (deliver_tls.h) is the job's to
 * free, so its reference counting lives here: aval-local links this file
 * and none of the TLS code.
 */
void
deliver_dane_ref(struct deliver_dane *d)
{
	if (d != NULL)
		d->refs++;
}

void
deliver_dane_unref(struct deliver_dane *d)
{
	size_t	 i;

	if (d == NULL || --d->refs > 0)
		return;
	for (i = 0; i < d->nrecs; i++)
		free(d->recs[i].data);
	free(d);
}

/* deliver_tls_dane_clear - p without its TLSA set */
void
deliver_tls_dane_clear(struct deliver_policy *p)
{
	deliver_dane_unref(p->dane);
	p->dane = NULL;
}

