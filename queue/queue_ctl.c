/*
 * queue_ctl - what avalctl asks of the queue, by way of the master
 *
 * Replies carry the master's request id first, so the master can pass
 * them to the right avalctl unchanged.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "queue/queue.h"

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
