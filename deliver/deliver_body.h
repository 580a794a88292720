/*
 * deliver_body - a job's body, read a piece at a time
 *
 * No body is ever whole in deliver. A transport takes bytes with
 * deliver_body_get(): DELIVER_BODY_DATA hands it the rest of the piece at
 * hand (at most IPC_CHUNK bytes, CRLF text, not dot-stuffed), which stays
 * valid until the next call; DELIVER_BODY_WAIT means the next piece has
 * been asked for and the transport's wake callback runs once it is in;
 * DELIVER_BODY_END and DELIVER_BODY_ERROR end the pass.
 * deliver_body_rewind() starts the body over, for a second pass (nothing
 * happens when nothing of the body has been taken yet).
 *
 * Where pieces come from is a small interface, struct deliver_body_src:
 * deliver_intake.c asks the queue (IPC_DELIVER_JOB_READ, answered by
 * IPC_QUEUE_JOB_DATA), a body file the queue passed is read here
 * (deliver_body_new_file()), the unit tests serve a string in pieces of a
 * size they choose. A source answers a read, at once or later, with
 * deliver_body_piece(): the bytes at the position asked, the position of
 * the next piece (opaque here: the queue's chunk number and offset), and
 * whether the body ends there or could not be read. At most one read per
 * body is outstanding; a piece nobody asked for, or one that is empty
 * with data or full at the end, is the source's fault, and
 * deliver_body_piece() says so (-1) so the caller can treat the source as
 * broken. A body that runs short of or past the size the queue announced
 * is a damaged store: it reads as DELIVER_BODY_ERROR and is logged.
 *
 * Memory: one piece per job, never more.
 */
#ifndef AVAL_DELIVER_DELIVER_BODY_H
#define AVAL_DELIVER_DELIVER_BODY_H

#include <stddef.h>
#include <stdint.h>

struct deliver_job;
struct deliver_body;

enum deliver_body_rc {
	DELIVER_BODY_DATA = 0,
	DELIVER_BODY_WAIT,
	DELIVER_BODY_END,
	DELIVER_BODY_ERROR,
};

/* How a source answers: a piece, the end, or a failure to read. */
enum deliver_piece_status {
	DELIVER_PIECE_DATA = 0,		/* bytes; more may follow */
	DELIVER_PIECE_END,		/* no bytes: the body ended before */
	DELIVER_PIECE_ERROR,		/* the stored body cannot be read */
	DELIVER_PIECE_LAST,		/* bytes, and the body ends with them */
};
#define DELIVER_PIECE_STATUS_MAX	DELIVER_PIECE_LAST

struct deliver_body_src {
	/* Ask for the piece at (chunk, off); (0, 0) is the start. */
	void	(*read)(struct deliver_job *, uint32_t chunk, uint32_t off,
		    void *arg);
	void	*arg;
};

typedef void	(*deliver_body_wake_cb)(struct deliver_job *, void *);

/*
 * A reader for job (job->size bytes), from src; freed with the job. With
 * asked, the first piece is already on its way (the queue sends it with
 * the job, unasked), and the first get waits for it rather than ask.
 */
struct deliver_body *deliver_body_new(struct deliver_job *,
		    const struct deliver_body_src *, int asked);
/*
 * A reader of a body the queue passed as a file (its body file, opened
 * read-only; the reader owns fd and closes it when freed): it reads the
 * pieces itself, each get answered at once, with no round trip to the
 * queue for every piece of a large body.
 */
struct deliver_body *deliver_body_new_file(struct deliver_job *, int fd);
void		 deliver_body_free(struct deliver_body *);	/* NULL: fine */

void		 deliver_body_set_wake(struct deliver_job *,
		    deliver_body_wake_cb, void *);
enum deliver_body_rc deliver_body_get(struct deliver_job *, const void **,
		    size_t *);
void		 deliver_body_rewind(struct deliver_job *);
/* 1 while a read is out (the source may still answer), else 0. */
int		 deliver_body_asked(const struct deliver_job *);

/* A source's answer; 0, or -1 when the source broke the rules above. */
int		 deliver_body_piece(struct deliver_job *,
		    enum deliver_piece_status, uint32_t next_chunk,
		    uint32_t next_off, const void *, size_t);

#endif
