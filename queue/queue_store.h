/*
 * queue_store - the queue's Berkeley DB store
 *
 * One transactional environment in the spool directory (DB_INIT_TXN,
 * DB_INIT_LOG, DB_INIT_LOCK, DB_INIT_MPOOL, DB_RECOVER at every open), two
 * btrees: "envelopes" (qid -> queue_rec) and "bodies" ((qid, u32 chunk) ->
 * up to QUEUE_STORE_CHUNK bytes). Only the queue process links this.
 *
 * Group commit: queue_store_add(), _update() and _remove() each commit one
 * transaction without syncing the log; queue_store_flush() then writes and
 * syncs the log once for all of them. A message is durable, and may be
 * acknowledged, only after a flush that followed its add returned 0.
 *
 * Failures of one operation return -1 and are logged; an environment that
 * cannot be opened is fatal at start-up.
 */
#ifndef AVAL_QUEUE_QUEUE_STORE_H
#define AVAL_QUEUE_QUEUE_STORE_H

#include <stddef.h>

#include "queue/queue_rec.h"

#define QUEUE_STORE_CHUNK	(64 * 1024)

struct queue_store;
struct buf;

typedef void	(*queue_store_walk_cb)(const char *qid, struct queue_env *, void *);

struct queue_store *queue_store_open(const char *dir);	/* fatal on failure */
void	 queue_store_close(struct queue_store *);	/* NULL is fine; checkpoints */

/* Envelope and whole body in one transaction; -1 if qid exists or on error. */
int	 queue_store_add(struct queue_store *, const char *qid,
	    const struct queue_env *, const void *body, size_t len);
int	 queue_store_update(struct queue_store *, const char *qid,
	    const struct queue_env *);
int	 queue_store_remove(struct queue_store *, const char *qid);
int	 queue_store_flush(struct queue_store *);

/* Appends chunk number n of the body to out: 1 read, 0 no such chunk, -1 error. */
int	 queue_store_body_chunk(struct queue_store *, const char *qid,
	    unsigned int n, struct buf *out);

/*
 * Calls cb for every envelope that decodes (cb owns env's contents and must
 * queue_env_clear() or keep them). Records that fail to decode are logged
 * and left in place, never deleted. Returns the count, or -1 on error.
 */
long	 queue_store_walk(struct queue_store *, queue_store_walk_cb, void *);

/* Checkpoint and remove log files no longer needed; call now and then. */
void	 queue_store_checkpoint(struct queue_store *);

#endif
