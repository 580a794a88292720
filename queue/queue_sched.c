/*
 * queue_sched - the queue's messages on the scheduler, jobs to deliver,
 * outcomes back into the store
 *
 * The decisions of when and how many live in sched.c, which knows nothing
 * of messages; this file maps one onto the other. Each message's
 * recipients not yet final fall in groups by domain (queue_group), and
 * each group has a scheduler entry under its destination, in the
 * scheduler of its agent: route_lookup() (queue/route.h) says which agent
 * (aval-deliver for the network, aval-local for Maildir) and which
 * destination (the relay host its transport names, "[192.0.2.1]:25",
 * "local" for Maildir, or the domain itself). One scheduler per agent, so
 * local mail never waits behind slow remote destinations, and each
 * agent's max-jobs is its own. The entry is due when the earliest of the
 * group's recipients is. A due entry at a destination with room becomes
 * a job: the group's due recipients, to the agent's process with the
 * fewest jobs under its cap.
 *
 * Outcomes. A recipient deferred waits sched_backoff() after each attempt
 * (retry-min doubling to retry-max, a tenth of jitter either way). One
 * whose message has been in the queue for max-lifetime bounces as
 * expired instead (4.4.7). One whose job came back without a result (its
 * deliver process died, or the link to it broke) is tried again within
 * QUEUE_LOST_RETRY_MS, and the attempt does not count: it was not the
 * destination's fault (after QUEUE_LOST_MAX such losses in a row it backs
 * off as any deferral: a message that kills its agent must not make it
 * die every two seconds). Every such decision of the queue's own has its
 * log line, with status=deferred or status=bounced like deliver's.
 *
 * Each outcome is committed without a sync; the next group flush, or a
 * timer within QUEUE_LATER_MS, makes it durable: a crash in between
 * delivers that recipient again, it never loses one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_store.h"
#include "queue/sched.h"
#include "queue/window.h"

#define QUEUE_LOST_RETRY_MS	2000	/* a job that came back without results */
#define QUEUE_LOST_MAX		3	/* ... that many in a row, then back off */

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

/* queue_sched_conf - the scheduler's settings, from the config */
static void
queue_sched_conf(struct sched_conf *sc)
{
	const struct conf	*c = queue->w.conf;

	sc->retry_min_ms = c->queue_retry_min * 1000;
	sc->retry_max_ms = c->queue_retry_max * 1000;
	sc->dest_initial = (unsigned int)c->queue_initial_concurrency;
	sc->dest_max = (unsigned int)c->queue_dest_concurrency;
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
	msg->lost = xcalloc(e->nrcpt ? e->nrcpt : 1, 1);
	msg->group = xcalloc(e->nrcpt ? e->nrcpt : 1, sizeof(*msg->group));
	if (window_add(queue->window, msg->qid, msg) == -1)
		fatalx("%s: in memory twice", msg->qid);
	TAILQ_INSERT_TAIL(&queue->all, msg, entry);
	queue->nmsgs++;
	return msg;
}

static void
queue_msg_free(struct queue_msg *msg)
{
	uint32_t	 i;

	for (i = 0; i < msg->ngroups; i++) {
		if (msg->groups[i].entry != NULL)
			sched_remove(queue->sched[msg->groups[i].agent],
			    msg->groups[i].entry);
		free(msg->groups[i].domain);
	}
	free(msg->groups);
	TAILQ_REMOVE(&queue->all, msg, entry);
	queue->nmsgs--;
	(void)window_del(queue->window, msg->qid);
	queue_env_clear(&msg->env);
	free(msg->busy);
	free(msg->lost);
	free(msg->group);
	free(msg);
	/* Room: what waits in the store may come in. */
	if (queue->backlog)
		queue_window_kick();
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

/* queue_msg_done - every recipient is final: the message goes */
static void
queue_msg_done(struct queue_msg *msg)
{
	int	 rc;

	/* The notice it calls for, if any, goes in with its removal. */
	if ((rc = queue_notice_final(msg)) == 0)
		rc = queue_store_remove(queue->store, msg->qid) == 0 ? 1 : -1;
	if (rc == 1) {
		log_info("%s: removed", msg->qid);
		queue_removed_note(msg->qid);
		queue_flush_later();
	}
	queue_msg_free(msg);
}

/*
 * queue_group_due - when the group's next recipient is due, or -1 when
 * none is left to try (final, or with deliver)
 */
static int64_t
queue_group_due(const struct queue_group *g)
{
	const struct queue_msg	*msg = g->msg;
	uint32_t		 gi = (uint32_t)(g - msg->groups), i;
	int64_t			 due = -1;

	for (i = 0; i < msg->env.nrcpt; i++) {
		const struct queue_rcpt	*r = &msg->env.rcpts[i];

		if (msg->group[i] != gi || queue_rcpt_final(r) || msg->busy[i])
			continue;
		if (due == -1 || r->next_try_ms < due)
			due = r->next_try_ms;
	}
	return due;
}

/* For sorting recipient indexes by domain. */
static const struct queue_msg	*queue_sort_msg;

static int
queue_cmp_domain(const void *a, const void *b)
{
	const struct queue_rcpt	*ra = &queue_sort_msg->env.rcpts[
				    *(const uint32_t *)a];
	const struct queue_rcpt	*rb = &queue_sort_msg->env.rcpts[
				    *(const uint32_t *)b];

	return strcasecmp(addr_domain(ra->addr), addr_domain(rb->addr));
}

/*
 * queue_groups_make - a group per domain among the recipients not yet
 * final, each on the scheduler by its earliest recipient. Sorting keeps
 * it O(n log n) for a message to thousands of domains.
 */
static void
queue_groups_make(struct queue_msg *msg)
{
	uint32_t	*idx, n = 0, i;

	idx = xcalloc(msg->env.nrcpt ? msg->env.nrcpt : 1, sizeof(*idx));
	for (i = 0; i < msg->env.nrcpt; i++)
		if (!queue_rcpt_final(&msg->env.rcpts[i]))
			idx[n++] = i;
	queue_sort_msg = msg;
	qsort(idx, n, sizeof(*idx), queue_cmp_domain);
	msg->groups = xcalloc(n ? n : 1, sizeof(*msg->groups));
	for (i = 0; i < n; i++) {
		const char	*d = addr_domain(msg->env.rcpts[idx[i]].addr);

		if (i == 0 || strcasecmp(d, msg->groups[msg->ngroups - 1].domain)
		    != 0) {
			msg->groups[msg->ngroups].msg = msg;
			msg->groups[msg->ngroups].domain = xstrdup(d);
			msg->ngroups++;
		}
		msg->group[idx[i]] = msg->ngroups - 1;
	}
	free(idx);
	queue_sched_arm(msg);
}

/*
 * queue_sched_arm - an entry for every group with something due and
 * none yet; nothing for a message on hold
 */
void
queue_sched_arm(struct queue_msg *msg)
{
	char		 dest[ROUTE_DEST_MAX];
	uint32_t	 g;
	int64_t		 due;

	if (msg->env.txflags & QUEUE_TX_HELD)
		return;
	for (g = 0; g < msg->ngroups; g++) {
		struct queue_group	*gr = &msg->groups[g];

		if (gr->entry != NULL || gr->job != NULL ||
		    (due = queue_group_due(gr)) < 0)
			continue;
		/* A domain is at most 255 octets: every route fits. */
		if (route_lookup(queue->w.conf, gr->domain, &gr->agent, dest,
		    sizeof(dest)) == -1)
			fatalx("%s: %s: no room for the route of %s", __func__,
			    msg->qid, gr->domain);
		gr->entry = sched_add(queue->sched[gr->agent], dest, gr, due);
	}
}

/* queue_sched_disarm - off the scheduler (what is in flight ends first) */
void
queue_sched_disarm(struct queue_msg *msg)
{
	uint32_t	 g;

	for (g = 0; g < msg->ngroups; g++) {
		struct queue_group	*gr = &msg->groups[g];

		if (gr->entry != NULL && gr->job == NULL) {
			sched_remove(queue->sched[gr->agent], gr->entry);
			gr->entry = NULL;
		}
	}
}

/* queue_sched_remove - a message deleted: from memory (store: caller) */
void
queue_sched_remove(struct queue_msg *msg)
{
	queue_msg_free(msg);
}

/* queue_sched_stats - both schedulers' counts, added up */
void
queue_sched_stats(struct sched_stats *st)
{
	struct sched_stats	 one;
	int			 a;

	memset(st, 0, sizeof(*st));
	for (a = 0; a < ROUTE_AGENTS; a++) {
		sched_stats(queue->sched[a], &one);
		st->entries += one.entries;
		st->waiting += one.waiting;
		st->ready += one.ready;
		st->inflight += one.inflight;
		st->dests += one.dests;
	}
}

/* queue_sched_add - a message is stored: onto the scheduler, or gone */
void
queue_sched_add(struct queue_msg *msg)
{
	if (queue_msg_final(msg)) {
		queue_msg_done(msg);
		return;
	}
	queue_groups_make(msg);
}

/* queue_agent_max_jobs - the jobs one process of the agent takes at once */
static unsigned int
queue_agent_max_jobs(enum route_agent a)
{
	const struct conf	*c = queue->w.conf;

	return (unsigned int)(a == ROUTE_LOCAL ? c->local_max_jobs :
	    c->deliver_max_jobs);
}

/* queue_sched_pick_link - the agent's process with the most room, or NULL */
static struct queue_link *
queue_sched_pick_link(enum route_agent a)
{
	struct queue_link	*l, *best = NULL;
	enum proc_kind		 kind = route_agent_proc(a);
	unsigned int		 max = queue_agent_max_jobs(a);

	TAILQ_FOREACH(l, &queue->links, entry) {
		if (l->kind != kind || l->njobs >= max)
			continue;
		if (best == NULL || l->njobs < best->njobs)
			best = l;
	}
	return best;
}

/* queue_secs - a duration in words for the log: "2h30m", "45s" */
static const char *
queue_secs(char *out, size_t len, int64_t ms)
{
	long long	 s = ms / 1000;

	if (s >= 86400)
		snprintf(out, len, "%lldd%lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, len, "%lldh%lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, len, "%lldm%llds", s / 60, s % 60);
	else
		snprintf(out, len, "%llds", s);
	return out;
}

/*
 * queue_rcpt_defer - a temporary failure: try again after the backoff, or
 * bounce as expired once the message has been here max-lifetime
 */
static void
queue_rcpt_defer(struct queue_msg *msg, struct queue_rcpt *r, int64_t now)
{
	const struct conf	*c = queue->w.conf;
	struct sched_conf	 sc;
	char			 age[32];

	r->attempts++;
	if (now - msg->env.arrival_ms >= c->queue_max_lifetime * 1000) {
		r->state = RCPT_BOUNCED;
		log_info("%s: to=<%s>, relay=none, dsn=4.4.7, status=bounced "
		    "(message expired after %s in the queue; last: %s %s)",
		    msg->qid, r->addr, queue_secs(age, sizeof(age),
		    now - msg->env.arrival_ms),
		    r->last_status ? r->last_status : "-",
		    r->last_error ? r->last_error : "-");
		free(r->last_status);
		r->last_status = xstrdup("4.4.7");
		return;
	}
	r->state = RCPT_DEFERRED;
	queue_sched_conf(&sc);
	r->next_try_ms = now + sched_backoff(&sc, r->attempts,
	    (uint64_t)random());
}

/*
 * queue_rcpt_lost - no result for recipient i: its agent died or went
 * away. Soon again, and not counted, unless it keeps happening.
 */
static void
queue_rcpt_lost(struct queue_msg *msg, uint32_t i, int64_t now,
    const char *why)
{
	struct queue_rcpt	*r = &msg->env.rcpts[i];
	char			 text[256], in[32];

	if (msg->lost[i] < UINT8_MAX)
		msg->lost[i]++;
	if (msg->lost[i] <= QUEUE_LOST_MAX) {
		r->next_try_ms = now + QUEUE_LOST_RETRY_MS;
		log_info("%s: to=<%s>, relay=none, dsn=4.3.0, status=deferred "
		    "(%s; trying again in %ds)", msg->qid, r->addr, why,
		    QUEUE_LOST_RETRY_MS / 1000);
		return;
	}
	snprintf(text, sizeof(text), "%s, %u times in a row", why,
	    (unsigned)msg->lost[i]);
	queue_rcpt_outcome(r, queue_rec_history_keep(msg->env.nrcpt), now,
	    "4.3.0", NULL, text);
	queue_rcpt_defer(msg, r, now);
	if (r->state == RCPT_DEFERRED)
		log_info("%s: to=<%s>, relay=none, dsn=4.3.0, status=deferred "
		    "(%s; trying again in %s)", msg->qid, r->addr, text,
		    queue_secs(in, sizeof(in), r->next_try_ms - now));
}

/* --- jobs ---------------------------------------------------------------- */

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
queue_job_send(struct queue_job *job)
{
	struct queue_msg	*msg = job->msg;
	struct ipc_peer		*p = job->link->peer;
	struct ipc_msg		*m;
	uint32_t		 i, flags = 0;
	int			 fd;

	/*
	 * A body file goes to deliver as a descriptor, which it reads
	 * itself; a body that failed to open goes the way of a stored one,
	 * whose first read then says it is unreadable.
	 */
	fd = queue_store_body_open(queue->store, msg->qid);
	if (msg->env.txflags & QUEUE_TX_8BITBODY)
		flags |= IPC_JOB_F_8BIT;
	if (fd >= 0)
		flags |= IPC_JOB_F_BODYFD;
	if (msg->env.txflags & QUEUE_TX_SMTPUTF8)
		flags |= IPC_JOB_F_SMTPUTF8;
	m = ipc_new(IPC_QUEUE_JOB_START);
	ipc_put_u64(m, job->id);
	ipc_put_str(m, msg->qid);
	ipc_put_str(m, msg->env.sender);
	ipc_put_str(m, job->group->domain);
	ipc_put_u64(m, msg->env.size);
	ipc_put_u64(m, (uint64_t)msg->env.arrival_ms);
	ipc_put_u32(m, job->nrcpt);
	ipc_put_u32(m, flags);
	ipc_put_u32(m, msg->env.ret);
	ipc_put_str(m, msg->env.envid != NULL ? msg->env.envid : "");
	if (fd >= 0)
		ipc_set_fd(m, fd);
	ipc_send(p, m);
	for (i = 0; i < job->nrcpt; i++) {
		m = ipc_new(IPC_QUEUE_JOB_RCPT);
		ipc_put_u64(m, job->id);
		ipc_put_u32(m, i);
		ipc_put_str(m, msg->env.rcpts[job->idx[i]].addr);
		ipc_put_u32(m, msg->env.rcpts[job->idx[i]].notify);
		ipc_put_u32(m, msg->env.rcpts[job->idx[i]].orcpt != NULL ?
		    msg->env.rcpts[job->idx[i]].orcpt_type : 0);
		ipc_put_str(m, msg->env.rcpts[job->idx[i]].orcpt != NULL &&
		    msg->env.rcpts[job->idx[i]].orcpt_type != 0 ?
		    msg->env.rcpts[job->idx[i]].orcpt : "");
		ipc_send(p, m);
	}
	m = ipc_new(IPC_QUEUE_JOB_GO);
	ipc_put_u64(m, job->id);
	ipc_send(p, m);
	/* The first piece comes unasked: most bodies are that one piece. */
	if (fd < 0)
		queue_job_piece(job, 0, 0);
}

/*
 * queue_sched_dispatch - the entry's group's due recipients as one job to
 * link; 0 when there were none after all (the entry goes back)
 */
static int
queue_sched_dispatch(struct sched_entry *e, struct queue_link *l,
    int64_t now)
{
	struct queue_group	*g = sched_entry_owner(e);
	struct queue_msg	*msg = g->msg;
	struct queue_job	*job;
	uint32_t		 gi = (uint32_t)(g - msg->groups), i;

	job = xcalloc(1, sizeof(*job));
	job->idx = xcalloc(msg->env.nrcpt, sizeof(*job->idx));
	for (i = 0; i < msg->env.nrcpt; i++) {
		const struct queue_rcpt	*r = &msg->env.rcpts[i];

		if (msg->group[i] != gi || msg->busy[i] ||
		    queue_rcpt_final(r) || r->next_try_ms > now)
			continue;
		job->idx[job->nrcpt++] = i;
	}
	if (job->nrcpt == 0) {
		free(job->idx);
		free(job);
		sched_done(queue->sched[g->agent], e, SCHED_NO_ATTEMPT,
		    queue_group_due(g));
		if (queue_group_due(g) < 0)
			g->entry = NULL;
		return 0;
	}
	for (i = 0; i < job->nrcpt; i++)
		msg->busy[job->idx[i]] = 1;
	job->id = ++queue->next_job;
	job->msg = msg;
	job->group = g;
	job->link = l;
	job->started = time(NULL);
	job->answered = xcalloc(msg->env.nrcpt, 1);
	g->job = job;
	TAILQ_INSERT_TAIL(&l->jobs, job, entry);
	l->njobs++;
	msg->inflight++;
	queue_job_send(job);
	return 1;
}

static void
queue_sched_due(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	queue_sched_run();
}

/*
 * queue_sched_wake_at - wake when the next entry of an agent with room
 * comes due, to the millisecond; the once-a-second tick covers an agent
 * whose links have no room
 */
static void
queue_sched_wake_at(int64_t now)
{
	struct timeval	 tv;
	int64_t		 due = -1, d, wait;
	int		 a;

	/* No room in an agent: a job's end runs the scheduler again. */
	for (a = 0; a < ROUTE_AGENTS; a++) {
		d = sched_next_due(queue->sched[a]);
		if (d < 0 || queue_sched_pick_link(a) == NULL)
			continue;
		if (due < 0 || d < due)
			due = d;
	}
	if (due < 0)
		return;
	wait = due > now ? due - now : 0;
	if (wait > 1000)
		return;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)(wait * 1000);
	evtimer_add(queue->due_ev, &tv);
}

/* queue_sched_run - hand out due work while each agent has room */
void
queue_sched_run(void)
{
	struct sched_conf	 sc;
	struct sched_entry	*e;
	struct queue_link	*l;
	int64_t			 now;
	int			 a;

	if (!queue->started || queue->paused)
		return;
	/* A reload may have changed the limits: cheap to take each time. */
	queue_sched_conf(&sc);
	now = queue_now_ms();
	for (a = 0; a < ROUTE_AGENTS; a++) {
		sched_set_conf(queue->sched[a], &sc);
		while ((l = queue_sched_pick_link(a)) != NULL &&
		    (e = sched_next(queue->sched[a], now)) != NULL)
			(void)queue_sched_dispatch(e, l, now);
	}
	queue_sched_wake_at(now);
}

/* queue_sched_tick - once a second: what has come due goes out */
void
queue_sched_tick(void)
{
	queue_sched_run();
}

/* queue_sched_flush_all - every deferred recipient is due now */
unsigned int
queue_sched_flush_all(void)
{
	return queue_sched_flush(NULL);
}

/*
 * queue_sched_flush - every recipient not in flight, of domain or of any,
 * is due now; held messages stay held
 */
unsigned int
queue_sched_flush(const char *domain)
{
	struct queue_msg	*msg;
	unsigned int		 n = 0;
	uint32_t		 i;

	TAILQ_FOREACH(msg, &queue->all, entry) {
		for (i = 0; i < msg->env.nrcpt; i++) {
			if (msg->busy[i] ||
			    queue_rcpt_final(&msg->env.rcpts[i]) ||
			    (domain != NULL && strcasecmp(domain,
			    addr_domain(msg->env.rcpts[i].addr)) != 0))
				continue;
			msg->env.rcpts[i].next_try_ms = 0;
			n++;
		}
		for (i = 0; i < msg->ngroups; i++)
			if (msg->groups[i].entry != NULL &&
			    msg->groups[i].job == NULL)
				sched_reschedule(
				    queue->sched[msg->groups[i].agent],
				    msg->groups[i].entry, 0);
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

/*
 * queue_job_result - how the job went, for its destination's concurrency:
 * reached when the server answered anything for some recipient, not
 * reached when every answer was a failure to connect or a lost
 * connection (4.4.1, 4.4.2), no attempt when nothing came back at all or
 * deliver itself declined (4.3.x)
 */
static enum sched_result
queue_job_result(const struct queue_job *job)
{
	const struct queue_msg	*msg = job->msg;
	int			 unreached = 0;
	uint32_t		 i;

	for (i = 0; i < job->nrcpt; i++) {
		const struct queue_rcpt	*r = &msg->env.rcpts[job->idx[i]];
		const char		*st = r->last_status;

		if (!job->answered[i])
			continue;
		if (r->state == RCPT_DELIVERED || st == NULL)
			return SCHED_REACHED;
		if (strcmp(st, "4.4.1") == 0 || strcmp(st, "4.4.2") == 0)
			unreached = 1;
		else if (strncmp(st, "4.3.", 4) != 0)
			return SCHED_REACHED;
	}
	return unreached ? SCHED_UNREACHED : SCHED_NO_ATTEMPT;
}

/* queue_job_finish - a job is over: store the outcomes, reschedule */
static void
queue_job_finish(struct queue_job *job, const char *lost)
{
	struct queue_msg	*msg = job->msg;
	struct queue_group	*g = job->group;
	enum sched_result	 res;
	int64_t			 now = queue_now_ms(), due;
	uint32_t		 i;

	for (i = 0; i < job->nrcpt; i++) {
		if (!job->answered[i])
			queue_rcpt_lost(msg, job->idx[i], now, lost);
		else
			msg->lost[job->idx[i]] = 0;
		msg->busy[job->idx[i]] = 0;
	}
	res = queue_job_result(job);
	TAILQ_REMOVE(&job->link->jobs, job, entry);
	job->link->njobs--;
	msg->inflight--;
	g->job = NULL;
	free(job->idx);
	free(job->answered);
	free(job);

	/* A message put on hold meanwhile leaves the scheduler now. */
	due = msg->env.txflags & QUEUE_TX_HELD ? -1 : queue_group_due(g);
	sched_done(queue->sched[g->agent], g->entry, res, due);
	if (due < 0)
		g->entry = NULL;
	if (queue_msg_final(msg)) {
		if (msg->inflight == 0)
			queue_msg_done(msg);
		return;
	}
	/* A delay notice, if one is due, goes in with the envelope. */
	if (queue_notice_delay(msg, now) ||
	    queue_store_update(queue->store, msg->qid, &msg->env) == 0) {
		queue_flush_later();
		/* Written: nothing due soon need not stay in memory. */
		if (queue_window_evictable(msg, now))
			queue_window_evict(msg);
	}
}

/* queue_sched_result - one recipient's outcome; -1 if malformed */
int
queue_sched_result(struct queue_link *l, struct ipc_msgin *r)
{
	struct queue_job	*job;
	struct queue_rcpt	*rc;
	const char		*dsn, *text, *remote;
	uint64_t		 id;
	uint32_t		 idx, status, flags;
	int64_t			 now = queue_now_ms();

	if (ipc_get_u64(r, &id) == -1 || ipc_get_u32(r, &idx) == -1 ||
	    ipc_get_u32(r, &status) == -1 || ipc_get_str(r, &dsn) == -1 ||
	    ipc_get_str(r, &text) == -1 || ipc_get_str(r, &remote) == -1 ||
	    ipc_get_u32(r, &flags) == -1 || ipc_end(r) == -1 ||
	    (job = queue_job_find(l, id)) == NULL || idx >= job->nrcpt ||
	    job->answered[idx] || status > DELIVER_STATUS_MAX ||
	    (flags & ~(uint32_t)IPC_RESULT_F_DSN_PASSED) != 0 ||
	    (flags != 0 && status != DELIVER_SENT))
		return -1;
	job->answered[idx] = 1;
	rc = &job->msg->env.rcpts[job->idx[idx]];
	queue_rcpt_outcome(rc, queue_rec_history_keep(job->msg->env.nrcpt),
	    now, dsn, remote, text);
	switch (status) {
	case DELIVER_SENT:
		rc->state = RCPT_DELIVERED;
		if (flags & IPC_RESULT_F_DSN_PASSED)
			rc->flags |= QUEUE_RCPT_F_DSN_PASSED;
		break;
	case DELIVER_BOUNCED:
		/* The DSN to the sender comes with the bounce work. */
		rc->state = RCPT_BOUNCED;
		break;
	case DELIVER_DEFERRED:
		queue_rcpt_defer(job->msg, rc, now);
		break;
	}
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
	queue_job_finish(job, "no result from the delivery agent");
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
#define QUEUE_READ_BACKLOG(c)	(((size_t)((c)->deliver_max_jobs > \
				    (c)->local_max_jobs ? (c)->deliver_max_jobs : \
				    (c)->local_max_jobs) + 16) * \
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

/*
 * queue_sched_link_gone - an agent died, or its link broke: its jobs come
 * back, their recipients due again within QUEUE_LOST_RETRY_MS
 */
void
queue_sched_link_gone(struct queue_link *l)
{
	struct queue_job	*job;
	char			 why[128];

	snprintf(why, sizeof(why), "delivery agent %s went away",
	    ipc_peer_name(l->peer));
	while ((job = TAILQ_FIRST(&l->jobs)) != NULL)
		queue_job_finish(job, why);
}

/* queue_sched_init - the scheduler, before any message is loaded */
void
queue_sched_init(void)
{
	struct sched_conf	 sc;
	int			 a;

	queue_sched_conf(&sc);
	for (a = 0; a < ROUTE_AGENTS; a++)
		queue->sched[a] = sched_new(&sc);
	queue->due_ev = evtimer_new(queue->w.base, queue_sched_due, NULL);
}

/* queue_sched_free - at exit: every message and the scheduler */
void
queue_sched_free(void)
{
	struct queue_msg	*msg;
	int			 a;

	queue->backlog = 0;
	while ((msg = TAILQ_FIRST(&queue->all)) != NULL)
		queue_msg_free(msg);
	for (a = 0; a < ROUTE_AGENTS; a++) {
		sched_free(queue->sched[a]);
		queue->sched[a] = NULL;
	}
	if (queue->due_ev != NULL)
		event_free(queue->due_ev);
	queue->due_ev = NULL;
}
