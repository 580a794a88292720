/*
 * queue_sched - the simple scheduler: due recipients to deliver, outcomes
 * back into the store
 *
 * A message is ready when one of its recipients is due and not with
 * deliver; the ready list is served first come, first served, one job per
 * (message, domain), to the deliver process with the fewest jobs under
 * its cap. A deferred recipient waits retry-min << (attempts - 1), at most
 * retry-max, plus up to a tenth more so retries spread out. Each outcome
 * is committed without a sync; the next group flush, or a timer within
 * QUEUE_LATER_MS, makes it durable: a crash in between delivers that
 * recipient again, it never loses one.
 *
 * The full scheduler (per-destination concurrency, expiry and bounces)
 * replaces this file in a later issue; its interface is queue.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_store.h"

/* queue_rcpt_state_name - for logs and avalctl */
const char *
queue_rcpt_state_name(unsigned int state)
{
	switch (state) {
	case RCPT_PENDING:	return "pending";
	case RCPT_DEFERRED:	return "deferred";
	case RCPT_DELIVERED:	return "delivered";
	case RCPT_BOUNCED:	return "bounced";
	}
	return "?";
}

static int
queue_rcpt_final(const struct queue_rcpt *r)
{
	return r->state == RCPT_DELIVERED || r->state == RCPT_BOUNCED;
}

/* queue_msg_new - a stored message; takes what e owns */
struct queue_msg *
queue_msg_new(const char *qid, struct queue_env *e)
{
	struct queue_msg	*msg;

	msg = xcalloc(1, sizeof(*msg));
	strlcpy(msg->qid, qid, sizeof(msg->qid));
	msg->env = *e;
	msg->busy = xcalloc(e->nrcpt ? e->nrcpt : 1, 1);
	msg->where = QUEUE_W_NONE;
	TAILQ_INSERT_TAIL(&queue->all, msg, entry);
	queue->nmsgs++;
	return msg;
}

static void
queue_msg_unsched(struct queue_msg *msg)
{
	if (msg->where == QUEUE_W_READY)
		TAILQ_REMOVE(&queue->ready, msg, sched);
	else if (msg->where == QUEUE_W_WAITING)
		TAILQ_REMOVE(&queue->waiting, msg, sched);
	msg->where = QUEUE_W_NONE;
}

static void
queue_msg_free(struct queue_msg *msg)
{
	queue_msg_unsched(msg);
	TAILQ_REMOVE(&queue->all, msg, entry);
	queue->nmsgs--;
	queue_env_clear(&msg->env);
	free(msg->busy);
	free(msg);
}

static int
queue_msg_final(const struct queue_msg *msg)
{
	uint32_t	 i;

	for (i = 0; i < msg->env.nrcpt; i++)
		if (!queue_rcpt_final(&msg->env.rcpts[i]))
			return 0;
	return 1;
}

/* queue_sched_add - file a message with nothing in flight by its due time */
void
queue_sched_add(struct queue_msg *msg)
{
	time_t		 now = time(NULL), due = 0;
	uint32_t	 i;
	int		 any = 0;

	queue_msg_unsched(msg);
	if (queue_msg_final(msg)) {
		if (queue_store_remove(queue->store, msg->qid) == 0) {
			log_info("%s: removed", msg->qid);
			queue_flush_later();
		}
		queue_msg_free(msg);
		return;
	}
	for (i = 0; i < msg->env.nrcpt; i++) {
		const struct queue_rcpt	*r = &msg->env.rcpts[i];

		if (queue_rcpt_final(r) || msg->busy[i])
			continue;
		if (!any || r->next_try < due)
			due = r->next_try;
		any = 1;
	}
	if (!any)
		return;		/* everything left is in flight */
	msg->next_due = due;
	if (due <= now) {
		TAILQ_INSERT_TAIL(&queue->ready, msg, sched);
		msg->where = QUEUE_W_READY;
	} else {
		TAILQ_INSERT_TAIL(&queue->waiting, msg, sched);
		msg->where = QUEUE_W_WAITING;
	}
}

static struct queue_link *
queue_sched_pick_link(void)
{
	struct queue_link	*l, *best = NULL;

	TAILQ_FOREACH(l, &queue->links, entry) {
		if (l->kind != PROC_DELIVER ||
		    l->njobs >= (unsigned int)queue->w.conf->deliver_max_jobs)
			continue;
		if (best == NULL || l->njobs < best->njobs)
			best = l;
	}
	return best;
}

static int
queue_rcpt_due(const struct queue_msg *msg, uint32_t i, time_t now)
{
	return !msg->busy[i] && !queue_rcpt_final(&msg->env.rcpts[i]) &&
	    msg->env.rcpts[i].next_try <= now;
}

static void	queue_job_finish(struct queue_job *);

static void
queue_rcpt_defer(struct queue_rcpt *r, const char *why)
{
	const struct conf	*c = queue->w.conf;
	long long		 delay = c->queue_retry_min;
	uint32_t		 i;

	r->state = RCPT_DEFERRED;
	r->attempts++;
	for (i = 1; i < r->attempts && delay < c->queue_retry_max; i++)
		delay *= 2;
	if (delay > c->queue_retry_max)
		delay = c->queue_retry_max;
	delay += random() % (delay / 10 + 1);
	r->next_try = time(NULL) + delay;
	free(r->last_error);
	r->last_error = xstrdup(why);
}

/*
 * queue_job_piece - JOB_DATA: the piece of the job's body at (chunk, off),
 * read from the store. A read from the start begins a new pass; the piece
 * that brings the bytes sent in this pass to the message's size says it is
 * the last (status 3), which spares deliver a read that would only find
 * the end. A body the store cannot read is answered "unreadable" (deliver
 * defers the job) and logged.
 */
static void
queue_job_piece(struct queue_job *job, uint32_t chunk, uint32_t off)
{
	static unsigned char	 piece[IPC_CHUNK];
	struct queue_msg	*msg = job->msg;
	struct ipc_msg		*m;
	uint32_t		 status;
	size_t			 got = 0;
	int			 rc;

	if (chunk == 0 && off == 0)
		job->served = 0;
	rc = queue_store_body_read(queue->store, msg->qid, &chunk, &off,
	    piece, sizeof(piece), &got);
	if (rc == 1) {
		job->served += got;
		status = job->served == msg->env.size ? 3 : 0;
	} else if (rc == 0)
		status = 1;
	else {
		status = 2;
		log_warnx("%s: stored body unreadable at chunk %u, offset %u",
		    msg->qid, chunk, off);
	}
	m = ipc_new(IPC_QUEUE_JOB_DATA);
	ipc_put_u64(m, job->id);
	ipc_put_u32(m, status);
	ipc_put_u32(m, chunk);
	ipc_put_u32(m, off);
	ipc_put_data(m, piece, rc == 1 ? got : 0);
	ipc_send(job->link->peer, m);
}

/*
 * queue_job_send - a job's envelope to its deliver process. The body is
 * not sent: deliver reads it a piece at a time (queue_sched_read()), so it
 * is never whole in the queue, on the link or in deliver, whatever its
 * size and however many domains it goes to.
 */
static void
queue_job_send(struct queue_job *job, const char *domain)
{
	struct queue_msg	*msg = job->msg;
	struct ipc_peer		*p = job->link->peer;
	struct ipc_msg		*m;
	uint32_t		 i;

	m = ipc_new(IPC_QUEUE_JOB_START);
	ipc_put_u64(m, job->id);
	ipc_put_str(m, msg->qid);
	ipc_put_str(m, msg->env.sender);
	ipc_put_str(m, domain);
	ipc_put_u64(m, msg->env.size);
	ipc_put_u64(m, (uint64_t)msg->env.arrival_ms);
	ipc_put_u32(m, job->nrcpt);
	ipc_put_u32(m, (msg->env.txflags & QUEUE_TX_8BITBODY) ? 1 : 0);
	ipc_send(p, m);
	for (i = 0; i < job->nrcpt; i++) {
		m = ipc_new(IPC_QUEUE_JOB_RCPT);
		ipc_put_u64(m, job->id);
		ipc_put_u32(m, i);
		ipc_put_str(m, msg->env.rcpts[job->idx[i]].addr);
		ipc_send(p, m);
	}
	m = ipc_new(IPC_QUEUE_JOB_GO);
	ipc_put_u64(m, job->id);
	ipc_send(p, m);
	/* The first piece comes unasked: most bodies are that one piece. */
	queue_job_piece(job, 0, 0);
}

/*
 * queue_sched_dispatch - hand out every due recipient of one message;
 * 0 when no deliver process can take a job now.
 */
static int
queue_sched_dispatch(struct queue_msg *msg)
{
	struct queue_job	*job;
	struct queue_link	*l;
	const char		*domain;
	time_t			 now = time(NULL);
	uint32_t		 i, j;

	for (i = 0; i < msg->env.nrcpt; i++) {
		if (!queue_rcpt_due(msg, i, now))
			continue;
		if ((l = queue_sched_pick_link()) == NULL)
			return 0;
		domain = addr_domain(msg->env.rcpts[i].addr);
		job = xcalloc(1, sizeof(*job));
		job->id = ++queue->next_job;
		job->msg = msg;
		job->link = l;
		job->started = now;
		job->idx = xcalloc(msg->env.nrcpt, sizeof(*job->idx));
		job->answered = xcalloc(msg->env.nrcpt, 1);
		for (j = i; j < msg->env.nrcpt; j++) {
			if (!queue_rcpt_due(msg, j, now) || strcasecmp(domain,
			    addr_domain(msg->env.rcpts[j].addr)) != 0)
				continue;
			job->idx[job->nrcpt++] = j;
			msg->busy[j] = 1;
		}
		TAILQ_INSERT_TAIL(&l->jobs, job, entry);
		l->njobs++;
		msg->inflight++;
		queue_job_send(job, domain);
	}
	queue_msg_unsched(msg);
	if (msg->inflight == 0)
		queue_sched_add(msg);
	return 1;
}

/* queue_sched_run - serve the ready list while deliver has room */
void
queue_sched_run(void)
{
	struct queue_msg	*msg;

	if (!queue->started)
		return;
	while ((msg = TAILQ_FIRST(&queue->ready)) != NULL)
		if (queue_sched_dispatch(msg) == 0)
			break;
}

/* queue_sched_tick - move what has come due from waiting to ready */
void
queue_sched_tick(void)
{
	struct queue_msg	*msg, *next;
	time_t			 now = time(NULL);

	for (msg = TAILQ_FIRST(&queue->waiting); msg != NULL; msg = next) {
		next = TAILQ_NEXT(msg, sched);
		if (msg->next_due <= now)
			queue_sched_add(msg);
	}
	queue_sched_run();
}

/* queue_sched_flush_all - every deferred recipient is due now */
unsigned int
queue_sched_flush_all(void)
{
	struct queue_msg	*msg, *next;
	unsigned int		 n = 0;
	uint32_t		 i;

	for (msg = TAILQ_FIRST(&queue->all); msg != NULL; msg = next) {
		next = TAILQ_NEXT(msg, entry);
		for (i = 0; i < msg->env.nrcpt; i++) {
			if (msg->busy[i] ||
			    queue_rcpt_final(&msg->env.rcpts[i]))
				continue;
			msg->env.rcpts[i].next_try = 0;
			n++;
		}
		if (msg->where == QUEUE_W_WAITING)
			queue_sched_add(msg);
	}
	queue_sched_run();
	return n;
}

static struct queue_job *
queue_job_find(struct queue_link *l, uint64_t id)
{
	struct queue_job	*job;

	TAILQ_FOREACH(job, &l->jobs, entry)
		if (job->id == id)
			return job;
	return NULL;
}

/* queue_job_finish - a job is over: store the outcomes, reschedule */
static void
queue_job_finish(struct queue_job *job)
{
	struct queue_msg	*msg = job->msg;
	uint32_t		 i;

	for (i = 0; i < job->nrcpt; i++) {
		if (!job->answered[i])
			queue_rcpt_defer(&msg->env.rcpts[job->idx[i]],
			    "4.3.0 no result from the delivery agent");
		msg->busy[job->idx[i]] = 0;
	}
	TAILQ_REMOVE(&job->link->jobs, job, entry);
	job->link->njobs--;
	msg->inflight--;
	free(job->idx);
	free(job->answered);
	free(job);

	if (!queue_msg_final(msg)) {
		if (queue_store_update(queue->store, msg->qid, &msg->env) == 0)
			queue_flush_later();
	}
	if (msg->inflight == 0)
		queue_sched_add(msg);
}

/* queue_sched_result - one recipient's outcome; -1 if malformed */
int
queue_sched_result(struct queue_link *l, struct ipc_msgin *r)
{
	struct queue_job	*job;
	struct queue_rcpt	*rc;
	const char		*dsn, *text;
	char			*why;
	uint64_t		 id;
	uint32_t		 idx, status;

	if (ipc_get_u64(r, &id) == -1 || ipc_get_u32(r, &idx) == -1 ||
	    ipc_get_u32(r, &status) == -1 || ipc_get_str(r, &dsn) == -1 ||
	    ipc_get_str(r, &text) == -1 || ipc_end(r) == -1 ||
	    (job = queue_job_find(l, id)) == NULL || idx >= job->nrcpt ||
	    job->answered[idx] || status > DELIVER_STATUS_MAX)
		return -1;
	job->answered[idx] = 1;
	rc = &job->msg->env.rcpts[job->idx[idx]];
	xasprintf(&why, "%s %s", dsn, text);
	if (strlen(why) > 1000)
		why[1000] = '\0';
	switch (status) {
	case DELIVER_SENT:
		rc->state = RCPT_DELIVERED;
		free(rc->last_error);
		rc->last_error = NULL;
		break;
	case DELIVER_BOUNCED:
		/* The DSN to the sender comes with the bounce issue. */
		rc->state = RCPT_BOUNCED;
		free(rc->last_error);
		rc->last_error = xstrdup(why);
		break;
	case DELIVER_DEFERRED:
		queue_rcpt_defer(rc, why);
		break;
	}
	free(why);
	return 0;
}

/* queue_sched_done - deliver is through with a job; -1 if malformed */
int
queue_sched_done(struct queue_link *l, struct ipc_msgin *r)
{
	struct queue_job	*job;
	uint64_t		 id;

	if (ipc_get_u64(r, &id) == -1 || ipc_end(r) == -1 ||
	    (job = queue_job_find(l, id)) == NULL)
		return -1;
	queue_job_finish(job);
	queue_sched_run();
	return 0;
}

/*
 * Replies to JOB_READ a deliver process has not read yet: at most one per
 * job it runs (it asks again only after the answer), the frames of the
 * jobs it was given, and room. More is a deliver that asks without
 * reading, and its link is closed before it can make the queue buffer
 * bodies for it.
 */
#define QUEUE_READ_BACKLOG(c)	(((size_t)(c)->deliver_max_jobs + 16) * \
				    (IPC_MAX_PAYLOAD + IPC_HDR_LEN) + \
				    (size_t)4 * 1024 * 1024)

/* queue_sched_read - JOB_READ: the piece asked for; -1 if malformed */
int
queue_sched_read(struct queue_link *l, struct ipc_msgin *r)
{
	struct queue_job	*job;
	uint64_t		 id;
	uint32_t		 chunk, off;

	if (ipc_get_u64(r, &id) == -1 || ipc_get_u32(r, &chunk) == -1 ||
	    ipc_get_u32(r, &off) == -1 || ipc_end(r) == -1 ||
	    (job = queue_job_find(l, id)) == NULL)
		return -1;
	if (ipc_peer_queued(l->peer) > QUEUE_READ_BACKLOG(queue->w.conf)) {
		log_warnx("queue: %s asks for body pieces faster than it "
		    "reads them", ipc_peer_name(l->peer));
		return -1;
	}
	queue_job_piece(job, chunk, off);
	return 0;
}

/* queue_sched_link_gone - a deliver died: its jobs come back deferred */
void
queue_sched_link_gone(struct queue_link *l)
{
	struct queue_job	*job;

	while ((job = TAILQ_FIRST(&l->jobs)) != NULL)
		queue_job_finish(job);
}
