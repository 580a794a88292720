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
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_store.h"
#include "queue/sched.h"

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

/* queue_ctl_list - every message and recipient, then the count */
void
queue_ctl_list(uint32_t req)
{
	struct ipc_peer		*p = queue->w.master;
	struct queue_msg	*msg;
	struct ipc_msg		*m;
	uint32_t		 i, n = 0;

	TAILQ_FOREACH(msg, &queue->all, entry) {
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
			ipc_put_u32(m, msg->busy[i] ? RCPT_STATE_MAX + 1 :
			    r->state);
			ipc_put_u32(m, r->attempts);
			ipc_put_u64(m, (uint64_t)(r->next_try_ms / 1000));
			queue_ctl_last(m, r);
			ipc_send(p, m);
		}
		n++;
	}
	m = ipc_new(IPC_QUEUE_CTL_END);
	ipc_put_u32(m, req);
	ipc_put_u32(m, n);
	ipc_send(p, m);
}

/* queue_ctl_flush - retry everything deferred now */
void
queue_ctl_flush(uint32_t req)
{
	struct ipc_msg	*m;
	uint32_t	 n;

	n = queue_sched_flush_all();
	log_info("flush: %u recipients made due", n);
	m = ipc_new(IPC_QUEUE_CTL_FLUSHED);
	ipc_put_u32(m, req);
	ipc_put_u32(m, n);
	ipc_send(queue->w.master, m);
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
	char		 line[2048];
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
	struct queue_msg	*msg;

	TAILQ_FOREACH(msg, &queue->all, entry)
		if (strcmp(msg->qid, qid) == 0)
			return msg;
	return NULL;
}

/* queue_ctl_show - one message: envelope, recipients, outcomes, headers */
static void
queue_ctl_show(uint32_t req, struct queue_msg *msg, int json)
{
	const struct queue_env	*e = &msg->env;
	char			 a[1100], b[1100], c[1100], t1[32], t2[32];
	struct buf		*hdr;
	uint32_t		 i, nl = 0;
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
			    "\"text\": \"%s\"}, \"notify\": %u}",
			    i ? ", " : "", queue_ctl_quote(a, sizeof(a),
			    r->addr, 1), msg->busy[i] ? "active" :
			    queue_rcpt_state_name(r->state), r->attempts,
			    queue_ctl_time(t1, sizeof(t1), r->next_try_ms),
			    queue_ctl_time(t2, sizeof(t2), r->last_time_ms),
			    r->last_status ? r->last_status : "",
			    queue_ctl_quote(b, sizeof(b), r->last_remote, 1),
			    queue_ctl_quote(c, sizeof(c), r->last_error, 1),
			    r->notify);
			continue;
		}
		queue_ctl_line(req, "recipient:  <%s> %s, %u attempt%s%s%s",
		    queue_ctl_quote(a, sizeof(a), r->addr, 0),
		    msg->busy[i] ? "active" : queue_rcpt_state_name(r->state),
		    r->attempts, r->attempts == 1 ? "" : "s",
		    r->state == RCPT_DEFERRED ? ", next try " : "",
		    r->state == RCPT_DEFERRED ? queue_ctl_time(t1,
		    sizeof(t1), r->next_try_ms) : "");
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

/* queue_ctl_stats - depth by state and destination, age, rates */
static void
queue_ctl_stats(uint32_t req, int json)
{
	struct sched_stats	 st;
	struct queue_msg	*msg;
	unsigned long		 held = 0, byst[RCPT_STATE_MAX + 2] = { 0 };
	int64_t			 oldest = 0, now = queue_now_ms();
	char			 t1[32];
	uint32_t		 i;

	TAILQ_FOREACH(msg, &queue->all, entry) {
		if (msg->env.txflags & QUEUE_TX_HELD)
			held++;
		if (oldest == 0 || msg->env.arrival_ms < oldest)
			oldest = msg->env.arrival_ms;
		for (i = 0; i < msg->env.nrcpt; i++)
			byst[msg->busy[i] ? RCPT_STATE_MAX + 1 :
			    msg->env.rcpts[i].state]++;
	}
	queue_sched_stats(&st);
	if (json) {
		queue_ctl_line(req, "{\"messages\": %lu, \"held\": %lu, "
		    "\"recipients\": {\"pending\": %lu, \"deferred\": %lu, "
		    "\"active\": %lu}, \"destinations\": %zu, "
		    "\"entries\": {\"waiting\": %zu, \"ready\": %zu, "
		    "\"inflight\": %zu}, \"oldest\": \"%s\", "
		    "\"oldest_age_s\": %lld, \"received\": %llu, "
		    "\"removed\": %llu, \"uptime_s\": %lld}", queue->nmsgs,
		    held, byst[RCPT_PENDING], byst[RCPT_DEFERRED],
		    byst[RCPT_STATE_MAX + 1], st.dests, st.waiting, st.ready,
		    st.inflight, queue_ctl_time(t1, sizeof(t1), oldest),
		    oldest ? (long long)((now - oldest) / 1000) : 0LL,
		    (unsigned long long)queue->nreceived,
		    (unsigned long long)queue->nremoved,
		    (long long)(now / 1000 - queue->started_at));
		return;
	}
	queue_ctl_line(req, "messages:      %lu (%lu on hold)", queue->nmsgs,
	    held);
	queue_ctl_line(req, "recipients:    %lu pending, %lu deferred, %lu "
	    "active", byst[RCPT_PENDING], byst[RCPT_DEFERRED],
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

/* queue_ctl_one - hold, release, delete or requeue one message */
static int
queue_ctl_one(struct queue_msg *msg, const char *verb, uint32_t flags)
{
	uint32_t	 i;

	if (strcmp(verb, "hold") == 0) {
		if (msg->env.txflags & QUEUE_TX_HELD)
			return 0;
		msg->env.txflags |= QUEUE_TX_HELD;
		queue_sched_disarm(msg);
		log_info("%s: held by the postmaster", msg->qid);
	} else if (strcmp(verb, "release") == 0) {
		if (!(msg->env.txflags & QUEUE_TX_HELD))
			return 0;
		msg->env.txflags &= ~QUEUE_TX_HELD;
		log_info("%s: released by the postmaster", msg->qid);
		queue_sched_arm(msg);
	} else if (strcmp(verb, "requeue") == 0) {
		for (i = 0; i < msg->env.nrcpt; i++) {
			struct queue_rcpt	*r = &msg->env.rcpts[i];

			if (msg->busy[i] || r->state == RCPT_DELIVERED ||
			    r->state == RCPT_BOUNCED)
				continue;
			r->next_try_ms = 0;
			r->attempts = 0;
		}
		queue_sched_disarm(msg);
		queue_sched_arm(msg);
		log_info("%s: requeued by the postmaster", msg->qid);
	} else {			/* delete */
		if (msg->inflight > 0)
			return -1;
		if (flags & QUEUE_CTL_F_BOUNCE) {
			for (i = 0; i < msg->env.nrcpt; i++) {
				struct queue_rcpt	*r = &msg->env.rcpts[i];

				if (r->state == RCPT_DELIVERED ||
				    r->state == RCPT_BOUNCED)
					continue;
				r->state = RCPT_BOUNCED;
				free(r->last_status);
				r->last_status = xstrdup("5.0.0");
				free(r->last_error);
				r->last_error = xstrdup("deleted by the "
				    "postmaster");
				free(r->last_remote);
				r->last_remote = NULL;
			}
			log_info("%s: deleted by the postmaster, with a bounce",
			    msg->qid);
			queue_sched_disarm(msg);
			queue_sched_add(msg);	/* final: notice, removal */
			return 1;
		}
		if (queue_store_remove(queue->store, msg->qid) == -1)
			return -1;
		log_info("%s: deleted by the postmaster", msg->qid);
		queue_sched_remove(msg);
		queue_flush_later();
		return 1;
	}
	if (queue_store_update(queue->store, msg->qid, &msg->env) == -1)
		return -1;
	queue_flush_later();
	return 1;
}

/* queue_ctl_cmd - one of avalctl's queue commands */
void
queue_ctl_cmd(uint32_t req, const char *verb, const char *arg,
    uint32_t flags)
{
	struct queue_msg	*msg, *next, *last;
	unsigned int		 n = 0, busy = 0, failed = 0;
	int			 rc, json = (flags & QUEUE_CTL_F_JSON) != 0;

	if (strcmp(verb, "stats") == 0) {
		queue_ctl_stats(req, json);
		queue_ctl_done(req, 0, "%s", "");
		return;
	}
	if (strcmp(verb, "flush") == 0) {
		n = queue_sched_flush(arg[0] != '\0' ? arg : NULL);
		log_info("flush%s%s: %u recipient%s made due",
		    arg[0] ? " " : "", arg, n, n == 1 ? "" : "s");
		queue_ctl_done(req, 0, "%u recipient%s scheduled for delivery "
		    "now", n, n == 1 ? "" : "s");
		return;
	}
	if (strcmp(verb, "show") == 0) {
		if ((msg = queue_ctl_find(arg)) == NULL) {
			queue_ctl_done(req, 1, "no message %s in the queue",
			    arg);
			return;
		}
		queue_ctl_show(req, msg, json);
		queue_ctl_done(req, 0, "%s", "");
		return;
	}
	if (strcmp(verb, "hold") != 0 && strcmp(verb, "release") != 0 &&
	    strcmp(verb, "delete") != 0 && strcmp(verb, "requeue") != 0) {
		queue_ctl_done(req, 2, "unknown command %s", verb);
		return;
	}
	if (strcmp(arg, "all") != 0) {
		if ((msg = queue_ctl_find(arg)) == NULL) {
			queue_ctl_done(req, 1, "no message %s in the queue",
			    arg);
			return;
		}
		if ((rc = queue_ctl_one(msg, verb, flags)) == -1)
			queue_ctl_done(req, 1, "%s: %s", arg, msg->inflight ?
			    "being delivered now; try again" : "store failed");
		else
			queue_ctl_done(req, 0, "%s: %s", arg, rc ? "done" :
			    "nothing to do");
		queue_sched_run();
		return;
	}
	/*
	 * Up to the message that was last when the command came: a delete
	 * with bounces adds notices at the end, and those are not for it.
	 */
	last = TAILQ_LAST(&queue->all, queue_msgs);
	for (msg = TAILQ_FIRST(&queue->all); msg != NULL; msg = next) {
		int	 was_last = msg == last;

		next = was_last ? NULL : TAILQ_NEXT(msg, entry);
		if ((rc = queue_ctl_one(msg, verb, flags)) == 1)
			n++;
		else if (rc == -1 && msg->inflight)
			busy++;
		else if (rc == -1)
			failed++;
	}
	queue_sched_run();
	queue_ctl_done(req, failed ? 1 : 0, "%u message%s%s%s", n,
	    n == 1 ? "" : "s", busy ? "; some were being delivered, try "
	    "again for those" : "", failed ? "; the store failed for some" :
	    "");
}
