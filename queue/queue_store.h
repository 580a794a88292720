/*
 * queue_store - the queue's Berkeley DB store
 *
 * One transactional environment in the spool directory (DB_INIT_TXN,
 * DB_INIT_LOG, DB_INIT_LOCK, DB_INIT_MPOOL, DB_RECOVER at every open), and
 * btrees: "envelopes" (qid -> queue_rec), "bodies" ((qid, u32 chunk) ->
 * up to QUEUE_STORE_CHUNK bytes: the bodies that came whole), "incoming"
 * (a format-2 store's bodies still arriving), "meta" ("format" -> the
 * store's format number) and the due index; beside them the folder
 * "body", where a body that came in chunks is a file (bodyfile.h). Only
 * the queue process links this.
 *
 * Group commit: queue_store_add(), _update() and _remove() each commit one
 * transaction without syncing the log; queue_store_flush() then writes and
 * syncs the log once for all of them (and first syncs the body files
 * committed since, and puts their envelopes). A message is durable, and
 * may be acknowledged, only after a flush that followed its add returned
 * 0; until then queue_store_exists() may not see it.
 *
 * Failures of one operation return -1 and are logged; an environment that
 * cannot be opened is fatal at start-up.
 */
#ifndef AVAL_QUEUE_QUEUE_STORE_H
#define AVAL_QUEUE_QUEUE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/qid.h"
#include "queue/queue_rec.h"

#define QUEUE_STORE_CHUNK	(64 * 1024)

struct queue_store;
struct buf;

typedef void	(*queue_store_walk_cb)(const char *qid, struct queue_env *, void *);

/* Sizes of the environment; 0 keeps a default. */
struct queue_store_conf {
	size_t		 cache;		/* buffer pool (default 32 MiB) */
	size_t		 log_buffer;	/* in-memory log (default 4 MiB) */
};

/*
 * Open (creating) and recover the store in dir, or die. A store written
 * by a newer aval (its format number in "meta" above QUEUE_STORE_FORMAT)
 * is refused with a message that says so.
 */
struct queue_store *queue_store_open(const char *dir);
struct queue_store *queue_store_open_conf(const char *dir,
		    const struct queue_store_conf *);
/* 1: no due index (built at open); 2: no body files (folder made at open) */
#define QUEUE_STORE_FORMAT	3
void	 queue_store_close(struct queue_store *);	/* NULL is fine; checkpoints */

/* Envelope and whole body in one transaction; -1 if qid exists or on error. */
int	 queue_store_add(struct queue_store *, const char *qid,
	    const struct queue_env *, const void *body, size_t len);
/*
 * A body stored as it arrives: chunks 0..n-1 with queue_store_chunk_put()
 * (appended to the body's file), then queue_store_commit_env() with the
 * envelope and the rest of the body; queue_store_drop() forgets a receipt
 * that will not commit. queue_store_add() is commit_env from 0: a body
 * that came whole, stored in "bodies" in the envelope's transaction.
 */
int	 queue_store_chunk_put(struct queue_store *, const char *qid,
	    uint32_t n, const void *, size_t);
int	 queue_store_commit_env(struct queue_store *, const char *qid,
	    const struct queue_env *, uint32_t first, const void *tail,
	    size_t len);
int	 queue_store_drop(struct queue_store *, const char *qid);
/*
 * A notice and what it is about, in one transaction: the new message nqid
 * (envelope and whole body), and the original oqid either rewritten with
 * oenv or, when oenv is NULL, removed. A crash leaves both changes or
 * neither, so a notice is never sent twice nor lost.
 */
int	 queue_store_add_notice(struct queue_store *, const char *nqid,
	    const struct queue_env *nenv, const void *body, size_t len,
	    const char *oqid, const struct queue_env *oenv);
/* 1 if qid's envelope is stored, 0 if not, -1 on error. */
int	 queue_store_exists(struct queue_store *, const char *qid);
/* At start: drop the bodies of receipts that never committed; count or -1. */
long	 queue_store_sweep(struct queue_store *);
int	 queue_store_update(struct queue_store *, const char *qid,
	    const struct queue_env *);
int	 queue_store_remove(struct queue_store *, const char *qid);
int	 queue_store_flush(struct queue_store *);

/*
 * Reads up to max body bytes from position (*chunk, *off), (0, 0) being
 * the start, into dst and moves the position on: 1 with *got > 0, 0 at
 * the end, -1 on error. A reader holds no more than max bytes at a time.
 */
int	 queue_store_body_read(struct queue_store *, const char *qid,
	    uint32_t *chunk, uint32_t *off, void *dst, size_t max,
	    size_t *got);
/*
 * qid's body file opened read-only, for a deliver process to read itself:
 * the descriptor, -2 when the body is kept in "bodies" (read it with
 * queue_store_body_read()), -1 on error.
 */
int	 queue_store_body_open(struct queue_store *, const char *qid);
/*
 * Appends chunk number n of a body kept in "bodies" to out: 1 read, 0 no
 * such chunk (also for a body that is a file), -1 error.
 */
int	 queue_store_body_chunk(struct queue_store *, const char *qid,
	    unsigned int n, struct buf *out);

/*
 * Calls cb for every envelope that decodes (cb owns env's contents and must
 * queue_env_clear() or keep them). Records that fail to decode are logged
 * and left in place, never deleted. Returns the count, or -1 on error.
 */
long	 queue_store_walk(struct queue_store *, queue_store_walk_cb, void *);

/*
 * The same, a batch at a time: up to max keys after pos ("" for the
 * first), pos moved to the last; the count visited (0 at the end) or -1.
 * A callback that sets *stop (stop may be NULL) ends the batch early.
 */
long	 queue_store_walk_batch(struct queue_store *, char pos[QID_SIZE],
	    unsigned int max, queue_store_walk_cb, void *, const int *stop);
/*
 * qid's envelope into env (the caller clears it): 1, 0 if absent, -1 if
 * the read failed, -2 if the record does not decode (logged, left).
 */
int	 queue_store_get(struct queue_store *, const char *qid,
	    struct queue_env *);

/*
 * The due index: every message by when it is next due (queue_env_due();
 * held ones last, at QUEUE_DUE_HELD), then by queue ID, kept by Berkeley
 * DB in the transaction of each envelope write. The queue reads it to
 * bring into memory what comes due, so memory holds a window of the
 * queue, not all of it. A position of due -1 is the start.
 */
struct queue_due_pos {
	int64_t		 due;
	char		 qid[QID_SIZE];
};
typedef int	(*queue_store_due_cb)(const char *qid, int64_t due, void *);
/*
 * cb for the entries after *pos while due <= until, at most max; *pos
 * moves past each entry cb returns 0 for, and a cb that returns non-zero
 * stops the scan before that entry. *next is the due time of the first
 * entry left (-1: none). The count passed, or -1.
 */
long	 queue_store_due_scan(struct queue_store *, struct queue_due_pos *,
	    int64_t until, unsigned int max, queue_store_due_cb, void *,
	    int64_t *next);
/* Messages stored, and how many of them are held; 0 or -1. */
int	 queue_store_count(struct queue_store *, unsigned long *total,
	    unsigned long *held);
int	 queue_store_count_held(struct queue_store *, unsigned long *held);
/* The oldest (last 0) or newest (1) queue ID, "" when empty; 0 or -1. */
int	 queue_store_edge(struct queue_store *, int last, char out[QID_SIZE]);

/* A yes/no setting kept in the spool ("paused"): 1 or 0; set: 0 or -1. */
int	 queue_store_flag(struct queue_store *, const char *name);
int	 queue_store_set_flag(struct queue_store *, const char *name, int);

/* Checkpoint and remove log files no longer needed; call now and then. */
void	 queue_store_checkpoint(struct queue_store *);

#endif
