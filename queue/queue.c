/*
 * queue - the aval queue process
 *
 * The single owner of the Berkeley DB environment in the spool. It takes
 * messages from smtpd and stores each body as it arrives (a chunk of about
 * QUEUE_STORE_CHUNK bytes at a time, so no body is ever whole in memory:
 * a body that fits one chunk goes into the log with its envelope, a
 * larger one into a file of its own, queue_store.c), and acknowledges a
 * message only after its body and envelope have been flushed to disk.
 * Transactions commit without a sync, and one flush runs
 * after everything readable in a loop iteration has been handled, so the
 * messages arriving together share one fsync (group commit). It then hands
 * due recipients to their agent, deliver or local (queue/route.h: one
 * scheduler per agent), records each outcome, retries temporary
 * failures with backoff, and removes a message when every recipient is
 * final. At start it runs recovery and picks up everything not yet final.
 *
 * Trust: the queue trusts the master; from smtpd, deliver and local only
 * framing
 * and the limits it checks itself (a link that breaks them is closed, and
 * the master restarts the sender). What it reads back from the database is
 * decoded as untrusted (queue_rec.c).
 *
 * Runs chrooted to the spool as the unprivileged user.
 *
 * Settings read: spool, smtpd { max-recipients }, queue { max-message-size
 * retry-min retry-max }, deliver { max-jobs }, local { max-jobs },
 * transport (routing), local-domains and postmaster (the rewrite),
 * the expanded aliases (conf_local.h: expansion at receipt).
 */
#include <sys/types.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/conf_local.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "common/xtext.h"
#include "queue/queue.h"
#include "queue/queue_store.h"

/*
 * Open transactions per smtpd link. The limit has one owner, smtpd's
 * max-sessions: a session holds at most one open transaction and one
 * being committed, so a link past twice the cap (and some slack for
 * aborts still in flight) is an smtpd that broke the protocol.
 */
#define QUEUE_MAX_INCOMING(c)	(2 * (size_t)(c)->smtpd_max_sessions + 64)
#define QUEUE_DSN_MAX		1500	/* ENVID, ORCPT as sent: smtpd's limits */
#define QUEUE_TRACE_ROOM	8192	/* smtpd's Received header, beyond the size limit */
/*
 * Body bytes wait in memory until a chunk's worth (QUEUE_STORE_CHUNK) has
 * come, and are then stored. Past this many bytes waiting in all (a crowd
 * of slow senders, each with part of a chunk), each piece is stored as
 * soon as it comes: the queue's memory for bodies in receipt stays under
 * the budget and one chunk, whatever arrives.
 */
#define QUEUE_INCOMING_BUDGET	((size_t)16 * 1024 * 1024)
#define QUEUE_PEND_CAP		(QUEUE_STORE_CHUNK + IPC_MAX_PAYLOAD)
/*
 * Emptied pending buffers kept for the next receipts: a buffer grown to a
 * chunk by doubling was copied four times on the way, and freeing it gave
 * the memory back to the system only to fault it in again for the next
 * large message. At most this many (about 2.5 MiB) are kept.
 */
#define QUEUE_PEND_POOL		32
#define QUEUE_CHECKPOINT_SECS	30
#define QUEUE_REMOVED_RING	4096	/* queue IDs removed, for ASK */
#define QUEUE_LATER_MS		100	/* outcomes wait at most this for a flush */

struct queue_state	*queue;

/*
 * The queue IDs of the last messages removed since this queue started. An
 * smtpd that lost the last queue with a COMMIT unanswered asks whether
 * the message is stored (IPC_SMTPD_MSG_ASK); one that was, and has been
 * delivered and removed since, must still be answered "stored".
 */
static char		 queue_removed[QUEUE_REMOVED_RING][QID_SIZE];
static unsigned int	 queue_nremoved;

void
queue_removed_note(const char *qid)
{
	queue->nremoved++;
	if (queue->nstored > 0)
		queue->nstored--;
	strlcpy(queue_removed[queue_nremoved++ % QUEUE_REMOVED_RING], qid,
	    QID_SIZE);
}

static int
queue_removed_has(const char *qid)
{
	unsigned int	 i, n;

	n = queue_nremoved < QUEUE_REMOVED_RING ? queue_nremoved :
	    QUEUE_REMOVED_RING;
	for (i = 0; i < n; i++)
		if (strcmp(queue_removed[i], qid) == 0)
			return 1;
	return 0;
}

static void	queue_flush(evutil_socket_t, short, void *);

/*
 * queue_answer_ask - is qid stored? DURABLE if its envelope is in the
 * store (recovered and flushed at start, so on disk) or was removed after
 * delivery since; FAILED otherwise, and then it never will be: a body
 * left half-received was swept at start.
 */
static void
queue_answer_ask(struct queue_link *l, uint64_t tid, const char *qid)
{
	struct ipc_msg	*m;
	int		 rc;

	/*
	 * A message committed but not yet flushed is not in the store yet
	 * (a body file's envelope waits for the flush): flush first, so the
	 * answer is the one the disk will give.
	 */
	if (queue->dirty)
		queue_flush(-1, 0, NULL);

	rc = queue_store_exists(queue->store, qid);
	if (rc == 0 && queue_removed_has(qid))
		rc = 1;
	if (rc == 1) {
		log_info("%s: an smtpd asked after a restart: stored", qid);
		m = ipc_new(IPC_QUEUE_MSG_DURABLE);
		ipc_put_u64(m, tid);
	} else {
		log_info("%s: an smtpd asked after a restart: %s", qid,
		    rc == 0 ? "not stored" : "cannot tell");
		m = ipc_new(IPC_QUEUE_MSG_FAILED);
		ipc_put_u64(m, tid);
		ipc_put_str(m, rc == 0 ? "not stored" : "store lookup failed");
	}
	ipc_send(l->peer, m);
}

/* queue_answer_asks - the store is open: the questions held till now */
static void
queue_answer_asks(void)
{
	struct queue_link	*l;
	struct queue_ask	*a;

	TAILQ_FOREACH(l, &queue->links, entry)
		while ((a = TAILQ_FIRST(&l->asks)) != NULL) {
			TAILQ_REMOVE(&l->asks, a, entry);
			l->nasks--;
			queue_answer_ask(l, a->tid, a->qid);
			free(a);
		}
}

static void	queue_incoming_refuse(struct queue_incoming *, const char *);

/* queue_now_ms - the wall clock in milliseconds: arrivals, tries, notices */
int64_t
queue_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * queue_body_head - the first max octets of msg's body (less when it is
 * shorter or cannot be read), for a notice or avalctl show
 */
struct buf *
queue_body_head(const struct queue_msg *msg, size_t max)
{
	unsigned char	 piece[IPC_CHUNK];
	struct buf	*b;
	uint32_t	 chunk = 0, off = 0;
	size_t		 got;

	b = buf_new(4096, max + sizeof(piece));
	while (buf_len(b) < max && queue_store_body_read(queue->store,
	    msg->qid, &chunk, &off, piece, sizeof(piece), &got) == 1)
		if (buf_add(b, piece, got) == -1)
			break;
	return b;
}

/* queue_incoming_free - the receipt is over; a body not committed goes */
static void
queue_incoming_free(struct queue_link *l, struct queue_incoming *in)
{
	TAILQ_REMOVE(&l->incoming, in, entry);
	l->nincoming--;
	queue_env_clear(&in->env);
	queue_incoming_refuse(in, NULL);
	free(in);
}

static struct buf	*queue_pend_pool[QUEUE_PEND_POOL];
static unsigned int	 queue_pend_npool;

/* queue_pend_get - an empty buffer for a receipt's pending bytes */
static struct buf *
queue_pend_get(size_t len)
{
	if (queue_pend_npool > 0)
		return queue_pend_pool[--queue_pend_npool];
	return buf_new(len > 4096 ? len : 4096, QUEUE_PEND_CAP);
}

/* queue_incoming_unpend - forget the bytes held in memory */
static void
queue_incoming_unpend(struct queue_incoming *in)
{
	if (in->pend == NULL)
		return;
	queue->incoming_bytes -= buf_len(in->pend);
	if (queue_pend_npool < QUEUE_PEND_POOL) {
		buf_reset(in->pend);
		queue_pend_pool[queue_pend_npool++] = in->pend;
	} else
		buf_free(in->pend);
	in->pend = NULL;
}

/*
 * queue_incoming_refuse - drop a transaction's body (what is in memory and
 * what is stored) and remember why COMMIT must fail. Over-limit messages
 * are refused, not punished: after a reload smtpd may check a limit the
 * queue has not seen yet, or the other way. A drop that fails leaves the
 * chunks for queue_store_sweep() at the next start.
 */
static void
queue_incoming_refuse(struct queue_incoming *in, const char *why)
{
	queue_incoming_unpend(in);
	if (in->nchunks > 0) {
		(void)queue_store_drop(queue->store, in->qid);
		in->nchunks = 0;
	}
	if (in->refused == NULL)
		in->refused = why;
}

/* queue_incoming_store - the bytes held in memory become the next chunk */
static void
queue_incoming_store(struct queue_incoming *in)
{
	if (queue_store_chunk_put(queue->store, in->qid, in->nchunks,
	    buf_data(in->pend), buf_len(in->pend)) == -1) {
		queue_incoming_refuse(in, "store failed");
		return;
	}
	in->nchunks++;
	queue_incoming_unpend(in);
}

/* queue_has_8bit - 1 if an octet of p is over 127; eight at a time */
static int
queue_has_8bit(const unsigned char *p, size_t len)
{
	uint64_t	 w, acc = 0;
	size_t		 i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	if (acc & 0x8080808080808080ULL)
		return 1;
	for (; i < len; i++)
		if (p[i] & 0x80)
			return 1;
	return 0;
}

/* queue_incoming_data - a piece of body; stored once a chunk is full */
static void
queue_incoming_data(struct queue_incoming *in, const void *data, size_t len)
{
	const struct conf	*c = queue->w.conf;
	const unsigned char	*p = data;

	if (in->refused != NULL)
		return;
	if (in->size + len > (uint64_t)c->queue_max_message_size +
	    QUEUE_TRACE_ROOM) {
		queue_incoming_refuse(in, "message too big");
		return;
	}
	if (!(in->env.txflags & QUEUE_TX_8BITBODY) && queue_has_8bit(p, len))
		in->env.txflags |= QUEUE_TX_8BITBODY;
	if (in->pend == NULL)
		in->pend = queue_pend_get(len);
	/* pend is under a chunk, len under a frame: it always fits. */
	if (buf_add(in->pend, data, len) == -1)
		fatalx("%s: a frame does not fit after a partial chunk",
		    __func__);
	in->size += len;
	queue->incoming_bytes += len;
	if (buf_len(in->pend) >= QUEUE_STORE_CHUNK ||
	    queue->incoming_bytes > QUEUE_INCOMING_BUDGET)
		queue_incoming_store(in);
}

static struct queue_incoming *
queue_incoming_find(struct queue_link *l, uint64_t tid)
{
	struct queue_incoming	*in;

	TAILQ_FOREACH(in, &l->incoming, entry)
		if (in->tid == tid)
			return in;
	return NULL;
}

/* queue_flush_soon - flush once the loop has handled what is readable */
void
queue_flush_soon(void)
{
	queue->dirty = 1;
	event_active(queue->flush_ev, EV_TIMEOUT, 0);
}

/*
 * queue_flush_later - an outcome was committed: flush it soon, but not at
 * once. Messages arriving meanwhile carry it along in their group flush;
 * otherwise the timer does, so at most one extra fsync per QUEUE_LATER_MS
 * is spent on outcomes, and a crash repeats at most that much delivery.
 */
void
queue_flush_later(void)
{
	struct timeval	 tv = { 0, QUEUE_LATER_MS * 1000 };

	queue->dirty = 1;
	if (!evtimer_pending(queue->later_ev, NULL))
		evtimer_add(queue->later_ev, &tv);
}

/*
 * queue_flush - one fsync for every commit so far; then, and only then,
 * acknowledge the messages and schedule them.
 */
static void
queue_flush(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_pending	*p;
	struct ipc_msg		*m;
	int			 n = 0;

	(void)fd;
	(void)ev;
	(void)arg;
	if (!queue->dirty)
		return;
	if (queue_store_flush(queue->store) == -1) {
		/*
		 * A failed fsync leaves the log in an unknown state; only
		 * recovery at the next start can say what is on disk. A 451
		 * now could be wrong (the commit may be there after all, and
		 * a client would send it twice): the smtpds ask the next
		 * queue about each unanswered COMMIT instead.
		 */
		fatalx("log flush failed; restarting to recover");
	}
	queue->dirty = 0;
	while ((p = TAILQ_FIRST(&queue->pending)) != NULL) {
		TAILQ_REMOVE(&queue->pending, p, entry);
		if (p->link != NULL) {
			m = ipc_new(IPC_QUEUE_MSG_DURABLE);
			ipc_put_u64(m, p->tid);
			ipc_send(p->link->peer, m);
		}
		log_info("%s: from=<%s>, size=%llu, nrcpt=%u (durable)",
		    p->msg->qid, p->msg->env.sender,
		    (unsigned long long)p->msg->env.size, p->msg->env.nrcpt);
		queue->nreceived++;
		queue->nstored++;
		p->msg->pending = 0;
		queue_window_admit(p->msg);
		free(p);
		n++;
	}
	if (n > 1)
		log_debug("group commit of %d messages", n);
	queue_sched_run();
}

static void
queue_commit(struct queue_link *l, struct queue_incoming *in)
{
	struct queue_pending	*p;
	struct queue_msg	*msg;
	struct ipc_msg		*m;
	uint32_t		 i;

	in->env.arrival_ms = queue_now_ms();
	in->env.size = in->size;
	/* Due at arrival: the due index files it after everything older. */
	for (i = 0; i < in->env.nrcpt; i++)
		in->env.rcpts[i].next_try_ms = in->env.arrival_ms;
	if (queue_store_commit_env(queue->store, in->qid, &in->env,
	    in->nchunks, in->pend != NULL ? buf_data(in->pend) : NULL,
	    in->pend != NULL ? buf_len(in->pend) : 0) == -1) {
		m = ipc_new(IPC_QUEUE_MSG_FAILED);
		ipc_put_u64(m, in->tid);
		ipc_put_str(m, "store failed");
		ipc_send(l->peer, m);
		queue_incoming_free(l, in);
		return;
	}
	/* The envelope moves to the stored message; the body is on disk. */
	in->nchunks = 0;
	queue_incoming_unpend(in);
	msg = queue_msg_new(in->qid, &in->env);
	/* Until the flush: no command may touch it, nor may it leave memory. */
	msg->pending = 1;
	memset(&in->env, 0, sizeof(in->env));
	p = xcalloc(1, sizeof(*p));
	p->tid = in->tid;
	p->link = l;
	p->msg = msg;
	TAILQ_INSERT_TAIL(&queue->pending, p, entry);
	queue_incoming_free(l, in);
	queue_flush_soon();
}

/*
 * queue_xtext_ok - a DSN value as smtpd sends it (ENVID, ORCPT: xtext as
 * the client sent it, RFC 3461 4; ORCPT utf-8 may hold UTF-8, RFC 6533)
 * holds no blank and no control octet. They are stored with the message
 * (queue_rec.h) for the bounces to come.
 */
static int
queue_xtext_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

/*
 * queue_rcpt_postmaster - the recipient to store for rcpt: the
 * postmaster's mailbox for <postmaster> and postmaster@ a local domain
 * (conf_postmaster_rewrite(), RFC 5321 4.5.1: it must be accepted and
 * must reach someone), else rcpt itself; owned by the caller. The client's
 * address is kept as ORCPT when it gave none, so a DSN names what it
 * wrote; "postmaster@" a domain name needs no xtext encoding.
 */
static char *
queue_rcpt_postmaster(const struct queue_incoming *in, struct queue_rcpt *rp,
    const char *rcpt)
{
	char	 pm[ADDR_MAX + 1];

	if (conf_postmaster_rewrite(queue->w.conf, rcpt, pm, sizeof(pm)) != 1)
		return xstrdup(rcpt);
	log_info("%s: to=<%s> (postmaster: delivered to <%s>)", in->qid, rcpt,
	    pm);
	if (rp->orcpt == NULL && queue_xtext_ok(rcpt)) {
		rp->orcpt_type = QUEUE_ORCPT_RFC822;
		rp->orcpt = xstrdup(rcpt);
	}
	return xstrdup(pm);
}

/* queue_rcpt_slot - a new, zeroed recipient of in */
static struct queue_rcpt *
queue_rcpt_slot(struct queue_incoming *in)
{
	struct queue_rcpt	*rp;

	if (in->env.nrcpt == in->rcpt_alloc) {
		in->rcpt_alloc = in->rcpt_alloc ? in->rcpt_alloc * 2 : 4;
		in->env.rcpts = xreallocarray(in->env.rcpts,
		    in->rcpt_alloc, sizeof(*in->env.rcpts));
	}
	rp = &in->env.rcpts[in->env.nrcpt++];
	memset(rp, 0, sizeof(*rp));
	return rp;
}

/*
 * queue_rcpt_add - store one recipient the client gave, as rcpt (what it
 * wrote) with its DSN parameters: the postmaster rewrite first, then, when
 * the result is an alias, one recipient per final address of the alias
 * (conf_local.h: the table was expanded and checked for loops when the
 * config was loaded, so this is one lookup). Each expanded recipient keeps
 * the client's ORCPT, or what it wrote as one, so a DSN names the address
 * the sender used; an address the message has already is not added twice.
 * One log line per expanded recipient.
 */
static void
queue_rcpt_add(struct queue_incoming *in, const char *rcpt, uint32_t notify,
    uint32_t orcpt_type, const char *orcpt)
{
	const struct conf_alias	*a;
	struct queue_rcpt	 t, *rp;
	char			 x[QUEUE_DSN_MAX + 1];
	size_t			 i;
	uint32_t		 k;

	memset(&t, 0, sizeof(t));
	t.notify = notify;
	if (orcpt_type != 0 && orcpt[0] != '\0') {
		t.orcpt_type = orcpt_type;
		t.orcpt = xstrdup(orcpt);
	}
	t.addr = queue_rcpt_postmaster(in, &t, rcpt);
	if ((a = conf_alias_lookup(queue->w.conf, t.addr)) == NULL) {
		rp = queue_rcpt_slot(in);
		*rp = t;
		return;
	}
	if (in->env.nrcpt + a->nto > QUEUE_REC_MAX_RCPT) {
		log_warnx("%s: to=<%s> (alias: %zu addresses are more than "
		    "a message may have)", in->qid, t.addr, a->nto);
		queue_incoming_refuse(in, "too many recipients after alias "
		    "expansion");
		goto done;
	}
	if (t.orcpt == NULL && xtext_encode(rcpt, strlen(rcpt), x,
	    sizeof(x)) == 0) {
		t.orcpt_type = QUEUE_ORCPT_RFC822;
		t.orcpt = xstrdup(x);
	}
	for (i = 0; i < a->nto; i++) {
		for (k = 0; k < in->env.nrcpt; k++)
			if (strcasecmp(in->env.rcpts[k].addr, a->to[i]) == 0)
				break;
		if (k < in->env.nrcpt) {
			log_info("%s: to=<%s> (alias: expanded from <%s>, "
			    "already a recipient)", in->qid, a->to[i], t.addr);
			continue;
		}
		log_info("%s: to=<%s> (alias: expanded from <%s>)", in->qid,
		    a->to[i], t.addr);
		rp = queue_rcpt_slot(in);
		rp->addr = xstrdup(a->to[i]);
		rp->notify = t.notify;
		if (t.orcpt != NULL) {
			rp->orcpt_type = t.orcpt_type;
			rp->orcpt = xstrdup(t.orcpt);
		}
	}
 done:
	free(t.addr);
	free(t.orcpt);
}

/* queue_dispatch_smtpd - one frame from an smtpd; 0 or -1 (malformed) */
static int
queue_dispatch_smtpd(struct queue_link *l, struct ipc_msgin *r)
{
	const struct conf	*c = queue->w.conf;
	struct queue_incoming	*in;
	struct ipc_msg		*m;
	const char		*sender, *client, *helo, *rcpt, *envid, *orcpt;
	const void		*data;
	size_t			 len;
	uint64_t		 tid;
	uint32_t		 txflags, ret, notify, orcpt_type;

	if (ipc_get_u64(r, &tid) == -1)
		return -1;
	switch (r->type) {
	case IPC_SMTPD_MSG_OPEN:
		if (ipc_get_str(r, &sender) == -1 ||
		    ipc_get_str(r, &client) == -1 ||
		    ipc_get_str(r, &helo) == -1 ||
		    ipc_get_u32(r, &txflags) == -1 ||
		    ipc_get_u32(r, &ret) == -1 ||
		    ipc_get_str(r, &envid) == -1 || ipc_end(r) == -1 ||
		    txflags > QUEUE_TX_SMTPD_MAX || ret > QUEUE_RET_MAX ||
		    !queue_xtext_ok(envid) || strlen(envid) > QUEUE_DSN_MAX ||
		    queue_incoming_find(l, tid) != NULL ||
		    l->nincoming >= QUEUE_MAX_INCOMING(c))
			return -1;
		in = xcalloc(1, sizeof(*in));
		in->tid = tid;
		qid_new(in->qid);
		in->env.sender = xstrdup(sender);
		in->env.client = xstrdup(client);
		in->env.helo = xstrdup(helo);
		in->env.txflags = txflags;
		in->env.ret = ret;
		if (envid[0] != '\0')
			in->env.envid = xstrdup(envid);
		TAILQ_INSERT_TAIL(&l->incoming, in, entry);
		l->nincoming++;
		m = ipc_new(IPC_QUEUE_MSG_OPENED);
		ipc_put_u64(m, tid);
		ipc_put_str(m, in->qid);
		ipc_send(l->peer, m);
		return 0;
	case IPC_SMTPD_MSG_RCPT:
		if (ipc_get_str(r, &rcpt) == -1 ||
		    ipc_get_u32(r, &notify) == -1 ||
		    ipc_get_u32(r, &orcpt_type) == -1 ||
		    ipc_get_str(r, &orcpt) == -1 || ipc_end(r) == -1 ||
		    notify > QUEUE_NOTIFY_MAX ||
		    orcpt_type > QUEUE_ORCPT_TYPE_MAX || !queue_xtext_ok(orcpt) ||
		    strlen(orcpt) > QUEUE_DSN_MAX ||
		    (in = queue_incoming_find(l, tid)) == NULL ||
		    in->nclient >= QUEUE_REC_MAX_RCPT)
			return -1;
		/* The client's recipients count, not what aliases made of them. */
		if (in->nclient >= (uint32_t)c->smtpd_max_recipients) {
			queue_incoming_refuse(in, "too many recipients");
			return 0;
		}
		in->nclient++;
		if (in->refused == NULL)
			queue_rcpt_add(in, rcpt, notify, orcpt_type, orcpt);
		return 0;
	case IPC_SMTPD_MSG_DATA:
		if (ipc_get_data(r, &data, &len) == -1 || ipc_end(r) == -1 ||
		    (in = queue_incoming_find(l, tid)) == NULL)
			return -1;
		queue_incoming_data(in, data, len);
		return 0;
	case IPC_SMTPD_MSG_COMMIT:
		if (ipc_end(r) == -1 ||
		    (in = queue_incoming_find(l, tid)) == NULL ||
		    in->nclient == 0)
			return -1;
		if (in->refused != NULL) {
			log_warnx("%s: refused: %s", in->qid, in->refused);
			m = ipc_new(IPC_QUEUE_MSG_FAILED);
			ipc_put_u64(m, tid);
			ipc_put_str(m, in->refused);
			ipc_send(l->peer, m);
			queue_incoming_free(l, in);
			return 0;
		}
		queue_commit(l, in);
		return 0;
	case IPC_SMTPD_MSG_ASK:
		if (ipc_get_str(r, &rcpt) == -1 || ipc_end(r) == -1 ||
		    !qid_valid(rcpt))
			return -1;
		if (queue->started) {
			queue_answer_ask(l, tid, rcpt);
			return 0;
		}
		/* One question per session at most, as for transactions. */
		if (l->nasks >= QUEUE_MAX_INCOMING(c))
			return -1;
		{
			struct queue_ask	*a = xcalloc(1, sizeof(*a));

			a->tid = tid;
			strlcpy(a->qid, rcpt, sizeof(a->qid));
			TAILQ_INSERT_TAIL(&l->asks, a, entry);
			l->nasks++;
		}
		return 0;
	case IPC_SMTPD_MSG_ABORT:
		if (ipc_end(r) == -1)
			return -1;
		/* Unknown is fine: the smtpd may abort what it never opened. */
		if ((in = queue_incoming_find(l, tid)) != NULL)
			queue_incoming_free(l, in);
		return 0;
	}
	return -1;
}

static void
queue_dispatch_worker(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	struct queue_link	*l = arg;
	int			 rc = -1;

	switch (l->kind) {
	case PROC_SMTPD:
		rc = queue_dispatch_smtpd(l, r);
		break;
	case PROC_DELIVER:
	case PROC_LOCAL:
		/* Both agents speak the one job protocol. */
		if (r->type == IPC_DELIVER_RCPT_RESULT)
			rc = queue_sched_result(l, r);
		else if (r->type == IPC_DELIVER_JOB_DONE)
			rc = queue_sched_done(l, r);
		else if (r->type == IPC_DELIVER_JOB_READ)
			rc = queue_sched_read(l, r);
		else if (r->type == IPC_DELIVER_TLS_TAKE &&
		    l->kind == PROC_DELIVER)
			rc = queue_tls_take(l, r);
		else if (r->type == IPC_DELIVER_TLS_PUT &&
		    l->kind == PROC_DELIVER)
			rc = queue_tls_put(l, r);
		break;
	default:
		break;
	}
	if (rc == -1) {
		struct ipc_msg	*m;

		/* Punish the sender: close its link, have the master restart it. */
		log_warnx("queue: malformed %s from %s", ipc_type_name(r->type),
		    ipc_peer_name(p));
		ipc_peer_close(p);
		m = ipc_new(IPC_QUEUE_PEER_BAD);
		ipc_put_u32(m, l->kind);
		ipc_put_u32(m, l->instance);
		ipc_send(queue->w.master, m);
	}
}

static void
queue_link_closed(struct ipc_peer *p, void *arg)
{
	struct queue_link	*l = arg;
	struct queue_incoming	*in;
	struct queue_pending	*pe;
	struct queue_ask	*a;

	(void)p;
	log_debug("%s link closed", ipc_peer_name(p));
	while ((in = TAILQ_FIRST(&l->incoming)) != NULL)
		queue_incoming_free(l, in);
	while ((a = TAILQ_FIRST(&l->asks)) != NULL) {
		TAILQ_REMOVE(&l->asks, a, entry);
		free(a);
	}
	TAILQ_FOREACH(pe, &queue->pending, entry)
		if (pe->link == l)
			pe->link = NULL;
	queue_sched_link_gone(l);
	TAILQ_REMOVE(&queue->links, l, entry);
	free(l);
	queue_sched_run();
}

/* queue_space_send - tell one smtpd whether new mail may come */
static void
queue_space_send(struct queue_link *l)
{
	struct ipc_msg	*m;

	m = ipc_new(IPC_QUEUE_SPACE);
	ipc_put_u32(m, (uint32_t)queue->space_low);
	ipc_send(l->peer, m);
}

/*
 * queue_space_check - once a tick: is the spool's file system below
 * queue { min-free-space }? smtpd answers MAIL with 452 4.3.1 while it
 * is, so no client is told 250 for a message the disk may not hold, and
 * mail flows again, without a restart, once space returns. A statvfs
 * that fails counts as low: better "try later" than a lost message.
 */
static void
queue_space_check(void)
{
	struct statvfs		 sv;
	struct queue_link	*l;
	unsigned long long	 avail = 0;
	int			 low;

	if (statvfs(".", &sv) == 0)
		avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	low = avail < (unsigned long long)queue->w.conf->queue_min_free_space;
	if (low == queue->space_low)
		return;
	queue->space_low = low;
	if (low)
		log_warnx("spool has %llu MB free, below min-free-space: new "
		    "mail is refused with 452 4.3.1", avail >> 20);
	else
		log_info("spool has %llu MB free again: mail is accepted",
		    avail >> 20);
	TAILQ_FOREACH(l, &queue->links, entry)
		if (l->kind == PROC_SMTPD)
			queue_space_send(l);
}

static void
queue_link_add(int fd, uint32_t kind, uint32_t instance)
{
	struct queue_link	*l;
	char			 name[32];

	l = xcalloc(1, sizeof(*l));
	l->kind = kind;
	l->instance = instance;
	TAILQ_INIT(&l->incoming);
	TAILQ_INIT(&l->asks);
	TAILQ_INIT(&l->jobs);
	snprintf(name, sizeof(name), "%s#%u", kind == PROC_SMTPD ? "smtpd" :
	    kind == PROC_LOCAL ? "local" : "deliver", instance);
	l->peer = ipc_peer_new(queue->w.base, fd, name, queue_dispatch_worker,
	    queue_link_closed, l);
	TAILQ_INSERT_TAIL(&queue->links, l, entry);
	if (kind == PROC_DELIVER || kind == PROC_LOCAL)
		queue_sched_run();
	else
		queue_space_send(l);
}

static void
queue_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	queue_space_check();
	if (queue->dirty)
		queue_flush(-1, 0, NULL);
	if (time(NULL) - queue->last_checkpoint >= QUEUE_CHECKPOINT_SECS) {
		queue_store_checkpoint(queue->store);
		queue->last_checkpoint = time(NULL);
	}
	queue_window_fill();	/* what has come due in the store */
	queue_sched_tick();
}

static void
queue_start(void)
{
	struct timeval		 tv = { 1, 0 };
	struct queue_store_conf	 sc;
	unsigned long		 held;
	long			 n;

	if (queue->w.conf == NULL || queue->started)
		fatalx("START out of order");
	proc_privdrop(queue->w.conf, queue->w.conf->spool);
	sc.cache = (size_t)queue->w.conf->queue_cache_size;
	sc.log_buffer = (size_t)queue->w.conf->queue_log_buffer;
	queue->store = queue_store_open_conf(".", &sc);
	queue_tls_open();
	queue_sched_init();
	queue_window_init();
	queue->started = 1;
	queue->started_at = time(NULL);
	queue->last_checkpoint = time(NULL);
	if ((n = queue_store_sweep(queue->store)) == -1)
		fatalx("cannot sweep the bodies of unfinished receipts");
	if (n > 0) {
		log_info("queue: removed %ld unfinished receipt%s", n,
		    n == 1 ? "" : "s");
		queue_flush_soon();
	}
	/* Only a window of it comes into memory (queue_window.c). */
	if (queue_store_count(queue->store, &queue->nstored, &held) == -1)
		fatalx("cannot read the queue");
	log_info("queue opened: %lu message%s waiting (%lu on hold)",
	    queue->nstored, queue->nstored == 1 ? "" : "s", held);
	if ((queue->paused = queue_store_flag(queue->store, "paused")))
		log_warnx("queue: deliveries are paused (avalctl pause); mail "
		    "is accepted and queued until avalctl resume");
	/*
	 * What recovery found may sit in the page cache only (a process
	 * crash keeps written log pages): sync before any smtpd is told a
	 * message is stored.
	 */
	if (queue_store_flush(queue->store) == -1)
		fatalx("cannot sync the recovered log");
	queue_answer_asks();
	queue_space_check();
	queue->tick_ev = event_new(queue->w.base, -1, EV_PERSIST, queue_tick,
	    NULL);
	event_add(queue->tick_ev, &tv);
	queue_window_fill();
	queue_sched_run();
}

static void
queue_shutdown(void)
{
	struct queue_link	*l;

	if (!queue->started)
		exit(0);
	/*
	 * Acknowledge what the last flush makes durable, and make sure the
	 * acknowledgements leave: a message on disk must not be answered 451.
	 */
	if (queue->dirty)
		queue_flush(-1, 0, NULL);
	TAILQ_FOREACH(l, &queue->links, entry)
		ipc_peer_flush(l->peer);
	queue_sched_free();
	queue_window_free();
	queue_store_close(queue->store);
	queue_tls_close();
	log_debug("queue closed");
	exit(0);
}

static void
queue_dispatch_master(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	const char	*verb, *cmdarg;
	uint32_t	 kind, instance, req, flags;

	(void)p;
	(void)arg;
	switch (r->type) {
	case IPC_MASTER_CONF_ITEM:
	case IPC_MASTER_CONF_END:
		proc_conf_dispatch(&queue->w, r);
		return;
	case IPC_MASTER_START:
		if (ipc_end(r) == -1)
			break;
		queue_start();
		return;
	case IPC_MASTER_PEER_LINK:
		if (r->fd == -1 || ipc_get_u32(r, &kind) == -1 ||
		    ipc_get_u32(r, &instance) == -1 || ipc_end(r) == -1 ||
		    (kind != PROC_SMTPD && kind != PROC_DELIVER &&
		    kind != PROC_LOCAL) ||
		    !queue->started)
			break;
		queue_link_add(r->fd, kind, instance);
		r->fd = -1;
		return;
	case IPC_MASTER_CTL_QUEUE_LIST:
		if (ipc_get_u32(r, &req) == -1 || ipc_end(r) == -1)
			break;
		queue_ctl_list(req);
		return;
	case IPC_MASTER_CTL_FLUSH:
		if (ipc_get_u32(r, &req) == -1 || ipc_end(r) == -1)
			break;
		queue_ctl_flush(req);
		return;
	case IPC_MASTER_CTL_QUEUE_CMD:
		if (ipc_get_u32(r, &req) == -1 || ipc_get_str(r, &verb) == -1 ||
		    ipc_get_str(r, &cmdarg) == -1 ||
		    ipc_get_u32(r, &flags) == -1 || ipc_end(r) == -1)
			break;
		queue_ctl_cmd(req, verb, cmdarg, flags);
		return;
	case IPC_MASTER_SHUTDOWN:
		if (ipc_end(r) == -1)
			break;
		queue_shutdown();
		return;
	}
	fatalx("malformed %s from master", ipc_type_name(r->type));
}

int
main(int argc, char **argv)
{
	queue = xcalloc(1, sizeof(*queue));
	TAILQ_INIT(&queue->links);
	TAILQ_INIT(&queue->all);
	TAILQ_INIT(&queue->pending);
	proc_worker_init(&queue->w, argc, argv, "queue",
	    queue_dispatch_master, NULL);
	queue->w.shutdown = queue_shutdown;
	/*
	 * The flush runs after every other callback of a loop iteration:
	 * links get the middle priority (the default for new events with
	 * three queues), the flush the lowest.
	 */
	if (event_base_priority_init(queue->w.base, 3) == -1)
		fatalx("event_base_priority_init");
	queue->flush_ev = event_new(queue->w.base, -1, 0, queue_flush, NULL);
	event_priority_set(queue->flush_ev, 2);
	queue->later_ev = evtimer_new(queue->w.base, queue_flush, NULL);
	event_base_dispatch(queue->w.base);
	fatalx("event loop returned");
}
