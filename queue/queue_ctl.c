/*
 * queue_ctl - what avalctl asks of the queue, by way of the master
 *
 * Replies carry the master's request id first, so the master can pass
 * them to the right avalctl unchanged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_store.h"
#include "queue/sched.h"
#include "queue/window.h"

/*
 * queue_ctl_last - the last outcome as one string for avalctl's list:
 * "status text (remote)", from the parts the queue keeps apart
 */
static void
queue_ctl_last(struct ipc_msg *m, const struct queue_rcpt *r)
{
	char	 s[1200];

	if (r->last_error == NULL && r->last_status == NULL) {
		ipc_put_str(m, "");
		return;
	}
	snprintf(s, sizeof(s), "%s%s%s", r->last_status ? r->last_status : "",
	    r->last_status && r->last_error ? " " : "",
	    r->last_error ? r->last_error : "");
	ipc_put_str(m, s);
}

/* queue_ctl_busy - is recipient i with deliver? (never, for a stored copy) */
static int
queue_ctl_busy(const struct queue_msg *msg, uint32_t i)
{
	return msg->busy != NULL && msg->busy[i];
}

/* queue_ctl_list_one - one message and its recipients, for avalctl queue */
static void
queue_ctl_list_one(uint32_t req, const struct queue_msg *msg)
{
	struct ipc_peer		*p = queue->w.master;
	struct ipc_msg		*m;
	uint32_t		 i;

	m = ipc_new(IPC_QUEUE_CTL_MSG);
	ipc_put_u32(m, req);
	ipc_put_str(m, msg->qid);
	ipc_put_str(m, msg->env.sender);
	ipc_put_u64(m, (uint64_t)(msg->env.arrival_ms / 1000));
	ipc_put_u64(m, msg->env.size);
	ipc_put_u32(m, msg->env.nrcpt);
	ipc_put_u32(m, (msg->env.txflags & QUEUE_TX_HELD) ?
	    IPC_CTL_MSG_HELD : 0);
	ipc_send(p, m);
	for (i = 0; i < msg->env.nrcpt; i++) {
		const struct queue_rcpt	*r = &msg->env.rcpts[i];

		m = ipc_new(IPC_QUEUE_CTL_RCPT);
		ipc_put_u32(m, req);
		ipc_put_str(m, msg->qid);
		ipc_put_str(m, r->addr);
		ipc_put_u32(m, queue_ctl_busy(msg, i) ? RCPT_STATE_MAX + 1 :
		    r->state);
		ipc_put_u32(m, r->attempts);
		ipc_put_u64(m, (uint64_t)(r->next_try_ms / 1000));
		queue_ctl_last(m, r);
		ipc_send(p, m);
	}
}

/* --- commands: show, hold, release, delete, requeue, flush, stats ------- */

#define QUEUE_CTL_F_JSON	0x01
#define QUEUE_CTL_F_BOUNCE	0x02
#define QUEUE_CTL_HDR_READ	(64 * 1024)	/* of a body, for show */
#define QUEUE_CTL_HDR_LINES	200

static void
queue_ctl_line(uint32_t req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* queue_ctl_line - one line of output to avalctl */
static void
queue_ctl_line(uint32_t req, const char *fmt, ...)
{
	struct ipc_msg	*m;
	char		 line[8192];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m = ipc_new(IPC_QUEUE_CTL_LINE);
	ipc_put_u32(m, req);
	ipc_put_str(m, line);
	ipc_send(queue->w.master, m);
}

static void
queue_ctl_done(uint32_t req, uint32_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* queue_ctl_done - the command's end, with its status and a word */
static void
queue_ctl_done(uint32_t req, uint32_t st, const char *fmt, ...)
{
	struct ipc_msg	*m;
	char		 text[512];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m = ipc_new(IPC_QUEUE_CTL_DONE);
	ipc_put_u32(m, req);
	ipc_put_u32(m, st);
	ipc_put_str(m, text);
	ipc_send(queue->w.master, m);
}

/*
 * queue_ctl_quote - s as a JSON string body, or for text: printable ASCII
 * only (others as \xHH), so a stored value can never forge a line
 */
static const char *
queue_ctl_quote(char *out, size_t len, const char *s, int json)
{
	size_t	 o = 0;

	if (s == NULL)
		s = "";
	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char	 c = (unsigned char)*s;

		if (json && (c == '"' || c == '\\')) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f || (!json && c > 0x7e))
			o += (size_t)snprintf(out + o, len - o, json ?
			    "\\u%04x" : "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static const char *
queue_ctl_time(char *out, size_t len, int64_t ms)
{
	time_t		 t = (time_t)(ms / 1000);
	struct tm	 tm;

	if (ms <= 0) {
		snprintf(out, len, "-");
		return out;
	}
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

static struct queue_msg *
queue_ctl_find(const char *qid)
{
	return window_find(queue->window, qid);
}

/* queue_ctl_show - one message: envelope, recipients, outcomes, headers */
static void
queue_ctl_show(uint32_t req, struct queue_msg *msg, int json)
{
	const struct queue_env	*e = &msg->env;
	char			 a[1100], b[1100], c[1100], t1[32], t2[32];
	struct buf		*hdr;
	uint32_t		 i, j, nl = 0;
	size_t			 start;
	const char		*p, *end;

	if (json)
		queue_ctl_line(req, "{\"id\": \"%s\", \"sender\": \"%s\", "
		    "\"arrival\": \"%s\", \"size\": %llu, \"held\": %s, "
		    "\"envid\": \"%s\", \"ret\": %u, \"client\": \"%s\", "
		    "\"recipients\": [", msg->qid,
		    queue_ctl_quote(a, sizeof(a), e->sender, 1),
		    queue_ctl_time(t1, sizeof(t1), e->arrival_ms),
		    (unsigned long long)e->size,
		    (e->txflags & QUEUE_TX_HELD) ? "true" : "false",
		    queue_ctl_quote(b, sizeof(b), e->envid, 1), e->ret,
		    queue_ctl_quote(c, sizeof(c), e->client, 1));
	else {
		queue_ctl_line(req, "queue id:   %s%s", msg->qid,
		    (e->txflags & QUEUE_TX_HELD) ? " (on hold)" : "");
		queue_ctl_line(req, "sender:     <%s>",
		    queue_ctl_quote(a, sizeof(a), e->sender, 0));
		queue_ctl_line(req, "arrival:    %s",
		    queue_ctl_time(t1, sizeof(t1), e->arrival_ms));
		queue_ctl_line(req, "size:       %llu",
		    (unsigned long long)e->size);
		queue_ctl_line(req, "client:     %s",
		    queue_ctl_quote(a, sizeof(a), e->client, 0));
		if (e->envid != NULL)
			queue_ctl_line(req, "envid:      %s",
			    queue_ctl_quote(a, sizeof(a), e->envid, 0));
	}
	for (i = 0; i < e->nrcpt; i++) {
		const struct queue_rcpt	*r = &e->rcpts[i];

		if (json) {
			queue_ctl_line(req, "%s{\"address\": \"%s\", "
			    "\"state\": \"%s\", \"attempts\": %u, "
			    "\"next_try\": \"%s\", \"last\": {\"time\": \"%s\", "
			    "\"status\": \"%s\", \"remote\": \"%s\", "
			    "\"text\": \"%s\"}, \"notify\": %u, \"history\": [",
			    i ? ", " : "", queue_ctl_quote(a, sizeof(a),
			    r->addr, 1), queue_ctl_busy(msg, i) ? "active" :
			    queue_rcpt_state_name(r->state), r->attempts,
			    queue_ctl_time(t1, sizeof(t1), r->next_try_ms),
			    queue_ctl_time(t2, sizeof(t2), r->last_time_ms),
			    r->last_status ? r->last_status : "",
			    queue_ctl_quote(b, sizeof(b), r->last_remote, 1),
			    queue_ctl_quote(c, sizeof(c), r->last_error, 1),
			    r->notify);
			for (j = 0; j < r->nhistory; j++) {
				const struct queue_attempt *h = &r->history[j];

				queue_ctl_line(req, "%s{\"time\": \"%s\", "
				    "\"status\": \"%s\", \"remote\": \"%s\", "
				    "\"text\": \"%s\"}", j ? ", " : "",
				    queue_ctl_time(t1, sizeof(t1), h->time_ms),
				    queue_ctl_quote(a, sizeof(a), h->status, 1),
				    queue_ctl_quote(b, sizeof(b), h->remote, 1),
				    queue_ctl_quote(c, sizeof(c), h->text, 1));
			}
			queue_ctl_line(req, "]}");
			continue;
		}
		queue_ctl_line(req, "recipient:  <%s> %s, %u attempt%s%s%s",
		    queue_ctl_quote(a, sizeof(a), r->addr, 0),
		    queue_ctl_busy(msg, i) ? "active" :
		    queue_rcpt_state_name(r->state),
		    r->attempts, r->attempts == 1 ? "" : "s",
		    r->state == RCPT_DEFERRED ? ", next try " : "",
		    r->state == RCPT_DEFERRED ? queue_ctl_time(t1,
		    sizeof(t1), r->next_try_ms) : "");
		for (j = 0; j < r->nhistory; j++) {
			const struct queue_attempt	*h = &r->history[j];

			queue_ctl_line(req, "  tried:    %s %s %s: %s",
			    queue_ctl_time(t1, sizeof(t1), h->time_ms),
			    h->status ? queue_ctl_quote(a, sizeof(a),
			    h->status, 0) : "-",
			    h->remote ? queue_ctl_quote(b, sizeof(b),
			    h->remote, 0) : "-",
			    queue_ctl_quote(c, sizeof(c), h->text, 0));
		}
		if (r->last_time_ms != 0)
			queue_ctl_line(req, "  last:     %s %s %s: %s",
			    queue_ctl_time(t1, sizeof(t1), r->last_time_ms),
			    r->last_status ? r->last_status : "-",
			    r->last_remote ? queue_ctl_quote(b, sizeof(b),
			    r->last_remote, 0) : "-",
			    queue_ctl_quote(c, sizeof(c), r->last_error, 0));
	}
	if (json)
		queue_ctl_line(req, "], \"headers\": [");
	else
		queue_ctl_line(req, "headers:");
	/* The header block, from the first octets of the body. */
	hdr = queue_body_head(msg, QUEUE_CTL_HDR_READ);
	p = buf_data(hdr);
	end = p + buf_len(hdr);
	for (start = 0; p < end && nl < QUEUE_CTL_HDR_LINES; nl++) {
		const char	*q = memchr(p, '\n', (size_t)(end - p));
		size_t		 n = q != NULL ? (size_t)(q - p) : (size_t)(end - p);
		char		 line[1000];

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		snprintf(line, sizeof(line), "%.*s", (int)(n < 999 ? n : 999),
		    p);
		if (json)
			queue_ctl_line(req, "%s\"%s\"", start++ ? ", " : "",
			    queue_ctl_quote(a, sizeof(a), line, 1));
		else
			queue_ctl_line(req, "  %s",
			    queue_ctl_quote(a, sizeof(a), line, 0));
		if (q == NULL)
			break;
		p = q + 1;
	}
	buf_free(hdr);
	if (json)
		queue_ctl_line(req, "]}");
}

/*
 * queue_ctl_stats - depth by state and destination, age, rates. The
 * message counts are the whole spool's; the recipients by state and the
 * destinations are the window's (what is in memory: due now or soon).
 */
static void
queue_ctl_stats(uint32_t req, int json)
{
	struct sched_stats	 st;
	struct queue_msg	*msg;
	struct queue_env	 e;
	unsigned long		 held = 0, byst[RCPT_STATE_MAX + 2] = { 0 };
	int64_t			 oldest = 0, now = queue_now_ms();
	char			 t1[32], qid[QID_SIZE];
	uint32_t		 i;

	TAILQ_FOREACH(msg, &queue->all, entry)
		for (i = 0; i < msg->env.nrcpt; i++)
			byst[msg->busy[i] ? RCPT_STATE_MAX + 1 :
			    msg->env.rcpts[i].state]++;
	(void)queue_store_count_held(queue->store, &held);
	if (queue_store_edge(queue->store, 0, qid) == 0 && qid[0] != '\0') {
		if ((msg = queue_ctl_find(qid)) != NULL)
			oldest = msg->env.arrival_ms;
		else if (queue_store_get(queue->store, qid, &e) == 1) {
			oldest = e.arrival_ms;
			queue_env_clear(&e);
		}
	}
	queue_sched_stats(&st);
	if (json) {
		queue_ctl_line(req, "{\"messages\": %lu, \"held\": %lu, "
		    "\"in_memory\": %lu, \"paused\": %s, "
		    "\"recipients\": {\"pending\": %lu, \"deferred\": %lu, "
		    "\"active\": %lu}, \"destinations\": %zu, "
		    "\"entries\": {\"waiting\": %zu, \"ready\": %zu, "
		    "\"inflight\": %zu}, \"oldest\": \"%s\", "
		    "\"oldest_age_s\": %lld, \"received\": %llu, "
		    "\"removed\": %llu, \"uptime_s\": %lld}", queue->nstored,
		    held, queue->nmsgs, queue->paused ? "true" : "false",
		    byst[RCPT_PENDING], byst[RCPT_DEFERRED],
		    byst[RCPT_STATE_MAX + 1], st.dests, st.waiting, st.ready,
		    st.inflight, queue_ctl_time(t1, sizeof(t1), oldest),
		    oldest ? (long long)((now - oldest) / 1000) : 0LL,
		    (unsigned long long)queue->nreceived,
		    (unsigned long long)queue->nremoved,
		    (long long)(now / 1000 - queue->started_at));
		return;
	}
	queue_ctl_line(req, "messages:      %lu (%lu on hold), %lu in memory%s",
	    queue->nstored, held, queue->nmsgs, queue->paused ?
	    "; deliveries paused" : "");
	queue_ctl_line(req, "in memory:     %lu pending, %lu deferred, %lu "
	    "active recipients", byst[RCPT_PENDING], byst[RCPT_DEFERRED],
	    byst[RCPT_STATE_MAX + 1]);
	queue_ctl_line(req, "destinations:  %zu (%zu waiting, %zu ready, %zu "
	    "in flight)", st.dests, st.waiting, st.ready, st.inflight);
	queue_ctl_line(req, "oldest:        %s", oldest ? queue_ctl_time(t1,
	    sizeof(t1), oldest) : "-");
	queue_ctl_line(req, "since start:   %llu received, %llu removed, "
	    "in %lld s", (unsigned long long)queue->nreceived,
	    (unsigned long long)queue->nremoved,
	    (long long)(now / 1000 - queue->started_at));
}

/*
 * queue_ctl_apply - hold, release or requeue on an envelope: 1 changed,
 * 0 nothing to do. The same for a message in memory and one in the store.
 */
static int
queue_ctl_apply(const char *qid, struct queue_env *e, const uint8_t *busy,
    const char *verb)
{
	int64_t		 now = queue_now_ms();
	uint32_t	 i;

	if (strcmp(verb, "hold") == 0) {
		if (e->txflags & QUEUE_TX_HELD)
			return 0;
		e->txflags |= QUEUE_TX_HELD;
		log_info("%s: held by the postmaster", qid);
	} else if (strcmp(verb, "release") == 0) {
		if (!(e->txflags & QUEUE_TX_HELD))
			return 0;
		e->txflags &= ~QUEUE_TX_HELD;
		log_info("%s: released by the postmaster", qid);
	} else {			/* requeue */
		for (i = 0; i < e->nrcpt; i++) {
			struct queue_rcpt	*r = &e->rcpts[i];

			if ((busy != NULL && busy[i]) ||
			    r->state == RCPT_DELIVERED ||
			    r->state == RCPT_BOUNCED)
				continue;
			r->next_try_ms = now;
			r->attempts = 0;
		}
		log_info("%s: requeued by the postmaster", qid);
	}
	return 1;
}

/* queue_ctl_bounce_all - delete --bounce: every recipient not final fails */
static void
queue_ctl_bounce_all(struct queue_msg *msg)
{
	uint32_t	 i;

	for (i = 0; i < msg->env.nrcpt; i++) {
		struct queue_rcpt	*r = &msg->env.rcpts[i];

		if (r->state == RCPT_DELIVERED || r->state == RCPT_BOUNCED)
			continue;
		r->state = RCPT_BOUNCED;
		free(r->last_status);
		r->last_status = xstrdup("5.0.0");
		free(r->last_error);
		r->last_error = xstrdup("deleted by the postmaster");
		free(r->last_remote);
		r->last_remote = NULL;
	}
	log_info("%s: deleted by the postmaster, with a bounce", msg->qid);
	queue_sched_disarm(msg);
	queue_sched_add(msg);	/* final: notice, removal */
}

/* queue_ctl_remove - delete without a notice: out of the store; 1 or -1 */
static int
queue_ctl_remove(const char *qid)
{
	if (queue_store_remove(queue->store, qid) == -1)
		return -1;
	log_info("%s: deleted by the postmaster", qid);
	if (queue->nstored > 0)
		queue->nstored--;
	queue_flush_later();
	return 1;
}

/* queue_ctl_one - hold, release, delete or requeue a message in memory */
static int
queue_ctl_one(struct queue_msg *msg, const char *verb, uint32_t flags)
{
	/*
	 * Not yet flushed: its state is the flush's. A delivery in flight
	 * lets a hold or a requeue through (what runs finishes first), not
	 * a delete.
	 */
	if (msg->pending)
		return -1;
	if (strcmp(verb, "delete") == 0) {
		if (msg->inflight > 0)
			return -1;
		if (flags & QUEUE_CTL_F_BOUNCE) {
			queue_ctl_bounce_all(msg);
			return 1;
		}
		if (queue_ctl_remove(msg->qid) == -1)
			return -1;
		queue_sched_remove(msg);
		return 1;
	}
	if (queue_ctl_apply(msg->qid, &msg->env, msg->busy, verb) == 0)
		return 0;
	queue_sched_disarm(msg);
	queue_sched_arm(msg);		/* nothing, when held */
	if (queue_store_update(queue->store, msg->qid, &msg->env) == -1)
		return -1;
	queue_flush_later();
	/* Held: it need not stay in memory. */
	if (queue_window_evictable(msg, queue_now_ms()))
		queue_window_evict(msg);
	return 1;
}

/*
 * queue_ctl_stored - the same for a message only in the store, on its
 * envelope e (which this consumes): the record is rewritten, and the fill
 * reads the due index from its start again when the message may now be
 * due earlier than where it read to
 */
static int
queue_ctl_stored(const char *qid, struct queue_env *e, const char *verb,
    uint32_t flags)
{
	int	 rc;

	if (strcmp(verb, "delete") == 0) {
		if (flags & QUEUE_CTL_F_BOUNCE) {
			queue_ctl_bounce_all(queue_msg_new(qid, e));
			return 1;
		}
		queue_env_clear(e);
		return queue_ctl_remove(qid);
	}
	if ((rc = queue_ctl_apply(qid, e, NULL, verb)) == 1) {
		rc = queue_store_update(queue->store, qid, e) == -1 ? -1 : 1;
		if (rc == 1) {
			queue_flush_later();
			if (strcmp(verb, "hold") != 0)
				queue_window_rewind();
		}
	}
	queue_env_clear(e);
	return rc;
}

/* queue_ctl_flush_stored - flush [domain] for a message in the store */
static unsigned int
queue_ctl_flush_stored(const char *qid, struct queue_env *e,
    const char *domain)
{
	int64_t		 now = queue_now_ms();
	unsigned int	 n = 0;
	uint32_t	 i;

	if (e->txflags & QUEUE_TX_HELD)
		return 0;
	for (i = 0; i < e->nrcpt; i++) {
		struct queue_rcpt	*r = &e->rcpts[i];

		if (r->state != RCPT_DEFERRED && r->state != RCPT_PENDING)
			continue;
		if (domain[0] != '\0' &&
		    strcasecmp(domain, addr_domain(r->addr)) != 0)
			continue;
		if (r->next_try_ms <= now)
			continue;
		r->next_try_ms = now;
		n++;
	}
	if (n > 0 && queue_store_update(queue->store, qid, e) == -1)
		n = 0;
	if (n > 0)
		queue_flush_later();
	return n;
}

/* --- walks: commands over the whole spool, a batch at a time ------------ */

/*
 * A command over every message (queue, hold all, flush...) walks the
 * store in queue ID order, QUEUE_WALK_BATCH messages a turn of the event
 * loop, and waits while more than QUEUE_WALK_BACKLOG bytes of replies
 * wait for the master: however deep the queue, the walk neither stalls
 * the smtpd links nor buffers the queue's listing in memory. A walk stops
 * at the message that was newest when it began (notices made by a delete
 * with bounces come after, and are not for it).
 */
#define QUEUE_WALK_BATCH	256
#define QUEUE_WALK_BACKLOG	(1024 * 1024)
#define QUEUE_WALK_MAX		16	/* at once; the master has fewer clients */

enum queue_walk_kind {
	QUEUE_WALK_LIST,		/* avalctl queue */
	QUEUE_WALK_CMD,			/* hold|release|delete|requeue all */
	QUEUE_WALK_FLUSH,		/* flush [domain] (the command) */
	QUEUE_WALK_FLUSH_OLD,		/* the same, asked as IPC_MASTER_CTL_FLUSH */
};

struct queue_walk {
	enum queue_walk_kind	 kind;
	uint32_t		 req;
	char			 verb[16];
	char			 arg[256];
	uint32_t		 flags;
	char			 pos[QID_SIZE];
	char			 last[QID_SIZE];
	int			 done;
	int			 stop;		/* enough waits for the master */
	unsigned int		 n, busy, failed;
	TAILQ_ENTRY(queue_walk)	 entry;
};
static TAILQ_HEAD(, queue_walk)	 queue_walks =
				    TAILQ_HEAD_INITIALIZER(queue_walks);
static unsigned int		 queue_nwalks;
static struct event		*queue_walk_ev;

/* queue_walk_one - the walk's callback for one stored message */
static void
queue_walk_one(const char *qid, struct queue_env *e, void *arg)
{
	struct queue_walk	*w = arg;
	struct queue_msg	*msg, tmp;
	int			 rc;

	if (w->done || strcmp(qid, w->last) > 0) {
		w->done = 1;
		queue_env_clear(e);
		return;
	}
	msg = queue_ctl_find(qid);
	switch (w->kind) {
	case QUEUE_WALK_LIST:
		if (msg == NULL) {
			memset(&tmp, 0, sizeof(tmp));
			strlcpy(tmp.qid, qid, sizeof(tmp.qid));
			tmp.env = *e;
			msg = &tmp;
		}
		queue_ctl_list_one(w->req, msg);
		w->n++;
		/* A big message's frames count too: the bound is in bytes. */
		if (ipc_peer_queued(queue->w.master) > QUEUE_WALK_BACKLOG)
			w->stop = 1;
		break;
	case QUEUE_WALK_CMD:
		rc = msg != NULL ? queue_ctl_one(msg, w->verb, w->flags) :
		    queue_ctl_stored(qid, e, w->verb, w->flags);
		if (msg == NULL)
			memset(e, 0, sizeof(*e));	/* consumed */
		if (rc == 1)
			w->n++;
		else if (rc == -1 && msg != NULL && queue_msg_busy(msg))
			w->busy++;
		else if (rc == -1)
			w->failed++;
		break;
	case QUEUE_WALK_FLUSH:
	case QUEUE_WALK_FLUSH_OLD:
		/* Those in memory were flushed when the walk began. */
		if (msg == NULL)
			w->n += queue_ctl_flush_stored(qid, e, w->arg);
		break;
	}
	queue_env_clear(e);
}

/* queue_walk_finish - the walk's reply, and what it leaves to do */
static void
queue_walk_finish(struct queue_walk *w)
{
	struct ipc_msg	*m;
	const char	*a = w->arg;

	switch (w->kind) {
	case QUEUE_WALK_LIST:
		m = ipc_new(IPC_QUEUE_CTL_END);
		ipc_put_u32(m, w->req);
		ipc_put_u32(m, w->n);
		ipc_send(queue->w.master, m);
		break;
	case QUEUE_WALK_CMD:
		queue_ctl_done(w->req, w->failed ? 1 : 0, "%u message%s%s%s",
		    w->n, w->n == 1 ? "" : "s", w->busy ? "; some were being "
		    "stored or delivered, try again for those" : "", w->failed ?
		    "; the store failed for some" : "");
		break;
	case QUEUE_WALK_FLUSH:
	case QUEUE_WALK_FLUSH_OLD:
		log_info("flush%s%s: %u recipient%s made due", a[0] ? " " : "",
		    a, w->n, w->n == 1 ? "" : "s");
		if (w->kind == QUEUE_WALK_FLUSH_OLD) {
			m = ipc_new(IPC_QUEUE_CTL_FLUSHED);
			ipc_put_u32(m, w->req);
			ipc_put_u32(m, w->n);
			ipc_send(queue->w.master, m);
		} else
			queue_ctl_done(w->req, 0, "%u recipient%s scheduled "
			    "for delivery now", w->n, w->n == 1 ? "" : "s");
		queue_window_rewind();
		break;
	}
	queue_sched_run();
}

static void
queue_walk_step(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval		 soon = { 0, 20 * 1000 }, now = { 0, 0 };
	struct queue_walk	*w, *next;
	long			 n;

	(void)fd;
	(void)ev;
	(void)arg;
	if (ipc_peer_queued(queue->w.master) > QUEUE_WALK_BACKLOG) {
		evtimer_add(queue_walk_ev, &soon);
		return;
	}
	for (w = TAILQ_FIRST(&queue_walks); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (ipc_peer_queued(queue->w.master) > QUEUE_WALK_BACKLOG)
			break;		/* the rest wait with the first */
		w->stop = 0;
		n = queue_store_walk_batch(queue->store, w->pos,
		    QUEUE_WALK_BATCH, queue_walk_one, w, &w->stop);
		if (n == -1)
			w->failed++;
		if (n > 0 && !w->done)
			continue;
		TAILQ_REMOVE(&queue_walks, w, entry);
		queue_nwalks--;
		queue_walk_finish(w);
		free(w);
	}
	if (!TAILQ_EMPTY(&queue_walks))
		evtimer_add(queue_walk_ev, &now);
}

/* queue_walk_start - a walk over the spool; 0, or -1 when too many run */
static int
queue_walk_start(enum queue_walk_kind kind, uint32_t req, const char *verb,
    const char *arg, uint32_t flags)
{
	struct timeval		 now = { 0, 0 };
	struct queue_walk	*w;

	if (queue_nwalks >= QUEUE_WALK_MAX)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->kind = kind;
	w->req = req;
	strlcpy(w->verb, verb, sizeof(w->verb));
	strlcpy(w->arg, arg, sizeof(w->arg));
	w->flags = flags;
	if (queue_store_edge(queue->store, 1, w->last) == -1 ||
	    w->last[0] == '\0')
		w->done = 1;
	if (queue_walk_ev == NULL)
		queue_walk_ev = evtimer_new(queue->w.base, queue_walk_step,
		    NULL);
	TAILQ_INSERT_TAIL(&queue_walks, w, entry);
	queue_nwalks++;
	evtimer_add(queue_walk_ev, &now);
	return 0;
}

/* queue_ctl_list - every message and recipient, then the count */
void
queue_ctl_list(uint32_t req)
{
	struct ipc_msg	*m;

	if (queue_walk_start(QUEUE_WALK_LIST, req, "", "", 0) == -1) {
		m = ipc_new(IPC_QUEUE_CTL_END);
		ipc_put_u32(m, req);
		ipc_put_u32(m, 0);
		ipc_send(queue->w.master, m);
	}
}

/* queue_ctl_flush - retry everything deferred now (the older request) */
void
queue_ctl_flush(uint32_t req)
{
	struct ipc_msg	*m;
	uint32_t	 n;

	n = queue_sched_flush(NULL);
	if (queue_walk_start(QUEUE_WALK_FLUSH_OLD, req, "", "", 0) == -1) {
		m = ipc_new(IPC_QUEUE_CTL_FLUSHED);
		ipc_put_u32(m, req);
		ipc_put_u32(m, n);
		ipc_send(queue->w.master, m);
	}
}

/* queue_ctl_cmd - one of avalctl's queue commands */
void
queue_ctl_cmd(uint32_t req, const char *verb, const char *arg,
    uint32_t flags)
{
	struct queue_msg	*msg, tmp;
	struct queue_env	 e;
	int			 rc, json = (flags & QUEUE_CTL_F_JSON) != 0;

	if (strcmp(verb, "stats") == 0) {
		queue_ctl_stats(req, json);
		queue_ctl_done(req, 0, "%s", "");
		return;
	}
	if (strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0) {
		int	 p = strcmp(verb, "pause") == 0;

		/* Kept in the spool: a queue that restarts stays paused. */
		if (queue_store_set_flag(queue->store, "paused", p) == -1) {
			queue_ctl_done(req, 1, "the store failed; nothing "
			    "changed");
			return;
		}
		queue_flush_later();
		if (p != queue->paused)
			log_info("queue: deliveries %s by the postmaster",
			    p ? "paused" : "resumed");
		queue->paused = p;
		queue_sched_run();
		queue_ctl_done(req, 0, "deliveries %s", p ? "paused (mail is "
		    "still accepted and queued, also across a restart, until "
		    "avalctl resume)" : "resumed");
		return;
	}
	if (strcmp(verb, "flush") == 0) {
		(void)queue_sched_flush(arg[0] != '\0' ? arg : NULL);
		if (queue_walk_start(QUEUE_WALK_FLUSH, req, verb, arg,
		    flags) == -1)
			queue_ctl_done(req, 1, "too many commands at once; try "
			    "again");
		return;
	}
	if (strcmp(verb, "show") != 0 && strcmp(verb, "hold") != 0 &&
	    strcmp(verb, "release") != 0 && strcmp(verb, "delete") != 0 &&
	    strcmp(verb, "requeue") != 0) {
		queue_ctl_done(req, 2, "unknown command %s", verb);
		return;
	}
	if (strcmp(arg, "all") == 0 && strcmp(verb, "show") != 0) {
		if (queue_walk_start(QUEUE_WALK_CMD, req, verb, arg,
		    flags) == -1)
			queue_ctl_done(req, 1, "too many commands at once; try "
			    "again");
		return;
	}
	msg = queue_ctl_find(arg);
	if (msg == NULL && (rc = queue_store_get(queue->store, arg, &e)) != 1) {
		queue_ctl_done(req, 1, rc == 0 ? "no message %s in the queue" :
		    "%s: the store cannot read it", arg);
		return;
	}
	if (strcmp(verb, "show") == 0) {
		if (msg == NULL) {
			memset(&tmp, 0, sizeof(tmp));
			strlcpy(tmp.qid, arg, sizeof(tmp.qid));
			tmp.env = e;
			queue_ctl_show(req, &tmp, json);
			queue_env_clear(&e);
		} else
			queue_ctl_show(req, msg, json);
		queue_ctl_done(req, 0, "%s", "");
		return;
	}
	if (msg != NULL)
		rc = queue_ctl_one(msg, verb, flags);
	else
		rc = queue_ctl_stored(arg, &e, verb, flags);
	if (rc == -1)
		queue_ctl_done(req, 1, "%s: %s", arg, msg != NULL &&
		    queue_ctl_find(arg) == msg && queue_msg_busy(msg) ?
		    "being stored or delivered now; try again" :
		    "store failed");
	else
		queue_ctl_done(req, 0, "%s: %s", arg, rc ? "done" :
		    "nothing to do");
	queue_sched_run();
}
