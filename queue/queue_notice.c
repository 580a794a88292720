/*
 * queue_notice - the queue's own messages: bounces, delay notices and
 * success reports (RFC 3461/3464), made with queue_dsn.c
 *
 * When. A message whose every recipient is final gets one notice for the
 * recipients that failed (5xx, or expired) and asked to hear of failure,
 * together with those delivered that asked to hear of success; a message
 * with nothing of that kind gets none. A recipient still deferred when
 * its message has been queued for delay-notice gets one delay notice
 * (recipients crossing together share it), and is marked so that it gets
 * no second (QUEUE_RCPT_F_DELAY_SENT). Who gets it is queue_dsn_to():
 * the sender; for mail from <> a failure goes once to the postmaster; a
 * notice the queue sent the postmaster (QUEUE_TX_PMCOPY) gets nothing.
 *
 * Each notice is queued like any message, from <>, in the same Berkeley
 * DB transaction as the change to the message it is about (its removal,
 * or its recipients marked): a crash leaves both or neither, so a notice
 * is neither lost nor sent twice. The original is read from the store up
 * to QUEUE_NOTICE_READ octets: enough for the whole message under the
 * return limit, or its headers.
 *
 * Delivered "relayed" or "delivered": a success over SMTP to a next hop
 * without DSN is reported as relayed (RFC 3461 section 5.2.2); one into
 * a Maildir as delivered. A next hop that offers DSN was given NOTIFY
 * (QUEUE_RCPT_F_DSN_PASSED): success is its to report, and the queue
 * says nothing of it (RFC 3461 section 5.2.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/qid.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_dsn.h"
#include "queue/queue_store.h"

#define QUEUE_NOTICE_READ	(QUEUE_DSN_RETURN_LIMIT + 16 * 1024)
#define QUEUE_NOTICE_CAP	((size_t)1024 * 1024)	/* one notice, at most */

/* queue_notice_rcpt - one recipient's part of the report */
static void
queue_notice_rcpt(struct queue_dsn_rcpt *d, const struct queue_rcpt *r,
    enum queue_dsn_kind action)
{
	memset(d, 0, sizeof(*d));
	d->addr = r->addr;
	d->orcpt_type = r->orcpt_type;
	d->orcpt = r->orcpt;
	d->action = action;
	d->status = r->last_status;
	d->remote_mta = r->last_remote;
	/*
	 * deliver's words ("host ... said: ... (in reply to ... command)"),
	 * not the bare reply: an X-Aval diagnostic, not an smtp one.
	 */
	d->diagnostic = r->last_error;
	d->diag_smtp = 0;
	d->last_attempt_ms = r->last_time_ms;
}

/*
 * queue_notice_send - compose the notice about msg for these recipients
 * and store it with the change to msg (oenv NULL: msg removed); 1 when
 * done, 0 when there was no one to send it to (nothing stored), -1 when
 * it could not be stored
 */
static int
queue_notice_send(struct queue_msg *msg, struct queue_dsn_rcpt *dr,
    size_t n, enum queue_dsn_kind kind, const struct queue_env *oenv)
{
	const struct conf	*c = queue->w.conf;
	struct queue_dsn_in	 in;
	struct queue_env	 ne;
	struct queue_msg	*nm;
	struct buf		*orig, *out;
	enum queue_dsn_result	 rc;
	enum queue_dsn_to	 to;
	char			 nqid[QID_SIZE], seed[64], pm[300];
	unsigned int		 flags = 0;
	int64_t			 now = queue_now_ms();

	to = queue_dsn_to(msg->env.sender, kind,
	    (msg->env.txflags & QUEUE_TX_PMCOPY) != 0);
	if (to == QUEUE_DSN_TO_NONE || n == 0)
		return 0;
	qid_new(nqid);
	/* The configured postmaster (conf_postmaster()), as for its mail. */
	if (conf_postmaster(c, pm, sizeof(pm)) == -1)
		snprintf(pm, sizeof(pm), "postmaster@%s", c->hostname);
	snprintf(seed, sizeof(seed), "%s.%lld", nqid, (long long)now);
	orig = queue_body_head(msg, QUEUE_NOTICE_READ);
	memset(&in, 0, sizeof(in));
	in.reporting_mta = c->hostname;
	in.qid = msg->qid;
	in.sender = msg->env.sender;
	in.to = to;
	in.postmaster = pm;
	in.envid = msg->env.envid;
	in.ret = msg->env.ret;
	in.arrival_ms = msg->env.arrival_ms;
	in.now_ms = now;
	in.rcpts = dr;
	in.nrcpt = n;
	in.orig = buf_data(orig);
	in.orig_len = buf_len(orig);
	in.orig_size = msg->env.size;
	in.return_limit = QUEUE_DSN_RETURN_LIMIT;
	in.boundary_seed = seed;
	out = buf_new(8192, QUEUE_NOTICE_CAP);
	if ((rc = queue_dsn_compose(&in, out, &flags)) == QUEUE_DSN_E_SPACE) {
		in.return_limit = 0;
		rc = queue_dsn_compose(&in, out, &flags);
	}
	buf_free(orig);
	if (rc != QUEUE_DSN_OK) {
		log_warnx("%s: no notice: %s", msg->qid, rc == QUEUE_DSN_E_SPACE ?
		    "it does not fit" : "nothing to say or no one to say it to");
		buf_free(out);
		return 0;
	}

	memset(&ne, 0, sizeof(ne));
	ne.arrival_ms = now;
	ne.sender = xstrdup("");
	ne.client = xstrdup("aval (notice)");
	ne.helo = xstrdup(c->hostname);
	ne.size = buf_len(out);
	ne.nrcpt = 1;
	ne.rcpts = xcalloc(1, sizeof(*ne.rcpts));
	ne.rcpts[0].addr = xstrdup(to == QUEUE_DSN_TO_POSTMASTER ? pm :
	    msg->env.sender);
	ne.rcpts[0].next_try_ms = now;	/* due now, in the due index too */
	if (flags & QUEUE_DSN_O_8BIT)
		ne.txflags |= QUEUE_TX_8BITMIME | QUEUE_TX_8BITBODY;
	if (flags & QUEUE_DSN_O_UTF8)
		ne.txflags |= QUEUE_TX_SMTPUTF8;
	if (to == QUEUE_DSN_TO_POSTMASTER)
		ne.txflags |= QUEUE_TX_PMCOPY;
	if (queue_store_add_notice(queue->store, nqid, &ne, buf_data(out),
	    buf_len(out), msg->qid, oenv) == -1) {
		queue_env_clear(&ne);
		buf_free(out);
		return -1;
	}
	log_info("%s: %s notice %s to <%s> for %zu recipient%s", msg->qid,
	    kind == QUEUE_DSN_FAILED ? "non-delivery" :
	    kind == QUEUE_DSN_DELAYED ? "delay" : "delivery", nqid,
	    ne.rcpts[0].addr, n, n == 1 ? "" : "s");
	buf_free(out);
	queue->nstored++;
	nm = queue_msg_new(nqid, &ne);
	log_info("%s: from=<>, size=%llu, nrcpt=1 (notice about %s)", nqid,
	    (unsigned long long)nm->env.size, msg->qid);
	/* Like any message: in memory if the window has room, else stored. */
	queue_window_admit(nm);
	queue_flush_later();
	return 1;
}

/*
 * queue_notice_final - msg is final: the one notice it calls for, stored
 * with msg's removal; 1 when msg is gone that way, 0 when it needs none
 * (the caller removes it), -1 when the store failed (msg stays, and the
 * next start tries again)
 */
int
queue_notice_final(struct queue_msg *msg)
{
	struct queue_dsn_rcpt	*dr;
	size_t			 n = 0, nfail = 0;
	uint32_t		 i;
	int			 rc;

	dr = xcalloc(msg->env.nrcpt ? msg->env.nrcpt : 1, sizeof(*dr));
	for (i = 0; i < msg->env.nrcpt; i++) {
		const struct queue_rcpt	*r = &msg->env.rcpts[i];
		enum queue_dsn_kind	 k;

		if (r->state == RCPT_BOUNCED)
			k = QUEUE_DSN_FAILED;
		else if (r->state == RCPT_DELIVERED &&
		    (r->flags & QUEUE_RCPT_F_DSN_PASSED))
			continue;
		else if (r->state == RCPT_DELIVERED)
			k = r->last_remote != NULL ? QUEUE_DSN_RELAYED :
			    QUEUE_DSN_DELIVERED;
		else
			continue;
		/* A bounce of <> mail goes to the postmaster whatever NOTIFY. */
		if (msg->env.sender[0] != '\0' &&
		    !queue_dsn_wanted(r->notify, k))
			continue;
		if (msg->env.sender[0] == '\0' && k != QUEUE_DSN_FAILED)
			continue;
		queue_notice_rcpt(&dr[n++], r, k);
		if (k == QUEUE_DSN_FAILED)
			nfail++;
	}
	rc = n == 0 ? 0 : queue_notice_send(msg, dr, n, nfail > 0 ?
	    QUEUE_DSN_FAILED : dr[0].action, NULL);
	free(dr);
	return rc;
}

/*
 * queue_notice_delay - recipients deferred past delay-notice that have
 * not heard yet get one delay notice; they are marked in the same
 * transaction. 1 when msg's envelope was written that way, else 0.
 */
int
queue_notice_delay(struct queue_msg *msg, int64_t now)
{
	const struct conf	*c = queue->w.conf;
	struct queue_dsn_rcpt	*dr;
	struct queue_env	 ne;
	uint8_t			*mk;
	size_t			 n = 0;
	uint32_t		 i;
	int			 rc = 0, marked = 0;

	if (c->queue_delay_notice <= 0 ||
	    now - msg->env.arrival_ms < c->queue_delay_notice * 1000)
		return 0;
	dr = xcalloc(msg->env.nrcpt ? msg->env.nrcpt : 1, sizeof(*dr));
	mk = xcalloc(msg->env.nrcpt ? msg->env.nrcpt : 1, 1);
	for (i = 0; i < msg->env.nrcpt; i++) {
		struct queue_rcpt	*r = &msg->env.rcpts[i];

		if (r->state != RCPT_DEFERRED ||
		    (r->flags & QUEUE_RCPT_F_DELAY_SENT))
			continue;
		r->flags |= QUEUE_RCPT_F_DELAY_SENT;
		mk[i] = 1;
		marked = 1;
		if (!queue_dsn_wanted(r->notify, QUEUE_DSN_DELAYED))
			continue;
		queue_notice_rcpt(&dr[n], r, QUEUE_DSN_DELAYED);
		dr[n].retry_until_ms = msg->env.arrival_ms +
		    c->queue_max_lifetime * 1000;
		n++;
	}
	if (marked && n > 0) {
		/* The envelope to store with the notice is the marked one. */
		ne = msg->env;
		rc = queue_notice_send(msg, dr, n, QUEUE_DSN_DELAYED, &ne);
		if (rc == -1) {
			/* Not stored: unmark, the next deferral tries again. */
			for (i = 0; i < msg->env.nrcpt; i++)
				if (mk[i])
					msg->env.rcpts[i].flags &=
					    ~QUEUE_RCPT_F_DELAY_SENT;
			rc = 0;
		}
	}
	free(mk);
	free(dr);
	return rc == 1;
}
