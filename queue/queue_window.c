/*
 * queue_window - which stored messages the queue holds in memory
 *
 * A deep queue does not live in memory. The queue holds a window of at
 * most queue { active-limit } messages (window.h keeps the count and the
 * index by queue ID); everything else waits in the store, where the due
 * index (queue_store_due_scan()) orders every message by when it is next
 * due. Three paths move messages in and out:
 *
 *  - Admission: a message made durable comes into the window when there
 *    is room; otherwise it waits in the store, and the window is marked as
 *    having a backlog.
 *  - Fill: when there is room (and at least once a tick) the queue reads
 *    the due index onward from where it last stopped, for entries due by
 *    now, and loads those not already in memory, QUEUE_FILL_BATCH at a time
 *    and one batch per turn of the event loop, so a fill never stalls the
 *    smtpd links. Entries come due in time order and new ones are written
 *    due at their arrival, so the read position only moves forward; a
 *    postmaster's command that makes a stored message due earlier (flush,
 *    release, requeue) moves it back to the start.
 *  - Eviction: a message with nothing due within QUEUE_EVICT_MS and no job
 *    out (deferred with a long retry, or held) leaves memory after its
 *    store record was written; the due index brings it back when it is due.
 *
 * So memory holds what is due now or soon, whatever the depth; inserting,
 * finding the next due message and recording an outcome cost O(log n) in
 * the store's btrees, and the scheduler's heap holds only the window.
 */
#include <string.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "queue/queue.h"
#include "queue/queue_store.h"
#include "queue/window.h"

#define QUEUE_FILL_BATCH	512
#define QUEUE_EVICT_MS		(60 * 1000)

struct queue_fill {
	unsigned int	 loaded;
	int		 full;
	int		 failed;
};

/*
 * queue_window_limit - the configured limit, which a reload may change;
 * the window is given it each time, so its room never answers by an old one
 */
static unsigned int
queue_window_limit(void)
{
	unsigned int	 limit = (unsigned int)queue->w.conf->queue_active_limit;

	if (queue->window != NULL)
		window_set_limit(queue->window, limit);
	return limit;
}

static void
queue_window_fill_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	queue_window_fill();
}

/* queue_window_init - the window, empty, its read position at the start */
void
queue_window_init(void)
{
	queue->window = window_new(queue_window_limit());
	queue->due_pos.due = -1;
	queue->fill_ev = event_new(queue->w.base, -1, 0, queue_window_fill_cb,
	    NULL);
	event_priority_set(queue->fill_ev, 2);
}

void
queue_window_free(void)
{
	if (queue->fill_ev != NULL)
		event_free(queue->fill_ev);
	queue->fill_ev = NULL;
	window_free(queue->window);
	queue->window = NULL;
}

/* queue_window_kick - a fill at the next turn of the loop, if there is room */
void
queue_window_kick(void)
{
	if (queue->fill_ev == NULL || !queue->started)
		return;
	(void)queue_window_limit();
	if (window_room(queue->window) > 0)
		event_active(queue->fill_ev, 0, 0);
}

/*
 * queue_window_rewind - a stored message may now be due before the read
 * position: read the index from its start again
 */
void
queue_window_rewind(void)
{
	queue->due_pos.due = -1;
	queue->due_pos.qid[0] = '\0';
	queue->backlog = 1;
	queue_window_kick();
}

/*
 * queue_window_back - a message leaves memory while it stays in the store,
 * due at due: if the fill has read past that time, it reads from just
 * before it again, so the message is not left behind the read position
 * (the fill may have passed it while it was in memory, not yet flushed,
 * or the clock may have gone back)
 */
static void
queue_window_back(int64_t due)
{
	if (queue->due_pos.due < 0 || due < 0 || due > queue->due_pos.due)
		return;
	queue->due_pos.due = due > 0 ? due - 1 : -1;
	memset(queue->due_pos.qid, 0, sizeof(queue->due_pos.qid));
	queue->backlog = 1;
}

/* queue_window_admit - a message just made durable: keep it, or let it wait */
void
queue_window_admit(struct queue_msg *msg)
{
	/* Its own slot is counted already. */
	if (window_count(queue->window) <= queue_window_limit()) {
		queue_sched_add(msg);
		return;
	}
	queue->backlog = 1;
	queue_window_back(queue_env_due(&msg->env));
	queue_sched_remove(msg);
}

/* queue_window_one - the fill's callback: load qid unless it is here */
static int
queue_window_one(const char *qid, int64_t due, void *arg)
{
	struct queue_fill	*f = arg;
	struct queue_env	 e;

	(void)due;
	if (window_find(queue->window, qid) != NULL)
		return 0;
	if (window_room(queue->window) == 0) {
		f->full = 1;
		return 1;
	}
	/*
	 * Gone meanwhile, or a record that does not decode (logged, left in
	 * place): the read moves past it. A read that failed stops here, to
	 * be tried again at the next fill.
	 */
	switch (queue_store_get(queue->store, qid, &e)) {
	case 1:
		break;
	case -1:
		f->failed = 1;
		return 1;
	default:
		return 0;
	}
	f->loaded++;
	queue_sched_add(queue_msg_new(qid, &e));
	return 0;
}

/*
 * queue_window_fill - one batch from the due index into the window; more
 * at the next turn while a batch comes back whole and there is room
 */
void
queue_window_fill(void)
{
	struct queue_fill	 f = { 0, 0, 0 };
	int64_t			 now, next;
	long			 n;

	if (!queue->started || queue->store == NULL)
		return;
	(void)queue_window_limit();
	if (window_room(queue->window) == 0) {
		queue->backlog = 1;
		return;
	}
	now = queue_now_ms();
	/* The clock went back: what is due now may sort before the position. */
	if (queue->due_pos.due > now)
		queue_window_back(now);
	n = queue_store_due_scan(queue->store, &queue->due_pos, now,
	    QUEUE_FILL_BATCH, queue_window_one, &f, &next);
	if (n == -1)
		return;		/* logged; the next tick tries again */
	if (f.loaded > 0)
		log_debug("queue: %u message%s brought into memory (%u held)",
		    f.loaded, f.loaded == 1 ? "" : "s",
		    window_count(queue->window));
	if (f.full || f.failed) {
		queue->backlog = 1;
	} else if (n == QUEUE_FILL_BATCH || (next >= 0 && next <= now)) {
		queue->backlog = 1;
		queue_window_kick();
	} else
		queue->backlog = 0;
	if (f.loaded > 0)
		queue_sched_run();
}

/*
 * queue_window_evictable - msg may leave memory: no job out, nothing due
 * within QUEUE_EVICT_MS (or on hold), its record written by the caller
 */
int
queue_window_evictable(const struct queue_msg *msg, int64_t now)
{
	int64_t	 due;

	if (queue_msg_busy(msg))
		return 0;
	due = queue_env_due(&msg->env);
	return due == QUEUE_DUE_HELD || (due >= 0 && due > now + QUEUE_EVICT_MS);
}

/* queue_msg_busy - msg is being stored or delivered: commands wait */
int
queue_msg_busy(const struct queue_msg *msg)
{
	return msg->pending || msg->inflight > 0;
}

/* queue_window_evict - msg leaves memory; its record is in the store */
void
queue_window_evict(struct queue_msg *msg)
{
	log_debug("%s: out of memory until due", msg->qid);
	queue_window_back(queue_env_due(&msg->env));
	queue_sched_remove(msg);
}
