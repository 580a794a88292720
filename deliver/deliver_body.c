/*
 * deliver_body - a job's body, read from the queue a piece at a time
 *
 * See deliver_body.h. The state is one piece and a position; a pass is
 * "asked" (a read is out), "ready" (bytes at hand), or over.
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"

struct deliver_body {
	const struct deliver_body_src *src;
	struct buf		*piece;		/* at hand, from used on */
	size_t			 used;
	uint32_t		 chunk, off;	/* where the next piece starts */
	uint64_t		 got;		/* bytes this pass */
	int			 asked;		/* a read is out */
	int			 taken;		/* get gave bytes this pass */
	int			 in_get;	/* inside deliver_body_get() */
	int			 waiting;	/* the transport wants a wake */
	enum deliver_body_rc	 over;		/* END or ERROR once over */
	uint64_t		 pass;		/* answers to an old pass are stale */
	uint64_t		 asked_pass;
	deliver_body_wake_cb	 wake;
	void			*wake_arg;
	int			 fd;		/* a body file, or -1 */
};

struct deliver_body *
deliver_body_new(struct deliver_job *job, const struct deliver_body_src *src,
    int asked)
{
	struct deliver_body	*b;

	(void)job;
	b = xcalloc(1, sizeof(*b));
	b->src = src;
	b->piece = buf_new(IPC_CHUNK, IPC_MAX_PAYLOAD);
	b->over = DELIVER_BODY_DATA;
	b->asked = asked != 0;
	b->fd = -1;
	return b;
}

/*
 * deliver_body_file_read - the file source: the piece at off, read now.
 * A position is chunk 0 and the offset, as the queue gives it for a body
 * file; the last piece is the one that brings the pass to the size.
 */
static void
deliver_body_file_read(struct deliver_job *job, uint32_t chunk, uint32_t off,
    void *arg)
{
	static unsigned char	 piece[IPC_CHUNK];
	struct deliver_body	*b = job->body;
	enum deliver_piece_status st;
	ssize_t			 n;

	(void)arg;
	if (chunk != 0) {
		(void)deliver_body_piece(job, DELIVER_PIECE_ERROR, 0, 0, NULL, 0);
		return;
	}
	do
		n = pread(b->fd, piece, sizeof(piece), (off_t)off);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		log_warn("%s: body file: read at %u", job->qid, off);
		(void)deliver_body_piece(job, DELIVER_PIECE_ERROR, 0, 0, NULL, 0);
		return;
	}
	if (n == 0) {
		(void)deliver_body_piece(job, DELIVER_PIECE_END, 0, off, NULL, 0);
		return;
	}
	st = b->got + (uint64_t)n >= job->size ? DELIVER_PIECE_LAST :
	    DELIVER_PIECE_DATA;
	(void)deliver_body_piece(job, st, 0, off + (uint32_t)n, piece,
	    (size_t)n);
}

static const struct deliver_body_src deliver_body_file_src = {
	deliver_body_file_read, NULL
};

struct deliver_body *
deliver_body_new_file(struct deliver_job *job, int fd)
{
	struct deliver_body	*b;

	b = deliver_body_new(job, &deliver_body_file_src, 0);
	b->fd = fd;
	return b;
}

void
deliver_body_free(struct deliver_body *b)
{
	if (b == NULL)
		return;
	if (b->fd != -1)
		close(b->fd);
	buf_free(b->piece);
	free(b);
}

void
deliver_body_set_wake(struct deliver_job *job, deliver_body_wake_cb cb,
    void *arg)
{
	job->body->wake = cb;
	job->body->wake_arg = arg;
}

int
deliver_body_asked(const struct deliver_job *job)
{
	return job->body->asked;
}

/* deliver_body_rewind - the next get starts the body over */
void
deliver_body_rewind(struct deliver_job *job)
{
	struct deliver_body	*b = job->body;

	/* Nothing taken yet: what is at hand or on its way is the start. */
	if (!b->taken && b->over == DELIVER_BODY_DATA)
		return;
	buf_reset(b->piece);
	b->taken = 0;
	b->used = 0;
	b->chunk = 0;
	b->off = 0;
	b->got = 0;
	b->over = DELIVER_BODY_DATA;
	b->waiting = 0;
	/* A read still out belongs to the old pass: its answer is stale. */
	b->pass++;
}

enum deliver_body_rc
deliver_body_get(struct deliver_job *job, const void **p, size_t *n)
{
	struct deliver_body	*b = job->body;

	*p = NULL;
	*n = 0;
	if (b->used < buf_len(b->piece)) {
		*p = buf_data(b->piece) + b->used;
		*n = buf_len(b->piece) - b->used;
		b->used = buf_len(b->piece);
		b->taken = 1;
		return DELIVER_BODY_DATA;
	}
	if (b->over != DELIVER_BODY_DATA)
		return b->over;
	b->waiting = 1;
	if (b->asked)
		return DELIVER_BODY_WAIT;	/* an old pass's read is out */
	b->asked = 1;
	b->asked_pass = b->pass;
	b->in_get = 1;
	b->src->read(job, b->chunk, b->off, b->src->arg);
	b->in_get = 0;
	/* A source that answered at once: take what it gave. */
	if (!b->asked && (b->used < buf_len(b->piece) ||
	    b->over != DELIVER_BODY_DATA)) {
		b->waiting = 0;
		return deliver_body_get(job, p, n);
	}
	return DELIVER_BODY_WAIT;
}

/* deliver_body_short - the body ended before its size: a damaged store */
static enum deliver_body_rc
deliver_body_short(const struct deliver_job *job)
{
	log_warnx("%s: stored body ends after %llu of %llu bytes", job->qid,
	    (unsigned long long)job->body->got, (unsigned long long)job->size);
	return DELIVER_BODY_ERROR;
}

int
deliver_body_piece(struct deliver_job *job, enum deliver_piece_status st,
    uint32_t next_chunk, uint32_t next_off, const void *p, size_t n)
{
	struct deliver_body	*b = job->body;
	int			 stale;

	int			 data = st == DELIVER_PIECE_DATA ||
				    st == DELIVER_PIECE_LAST;

	if (!b->asked || n > IPC_MAX_PAYLOAD || (data != (n > 0)))
		return -1;
	/* A piece comes only once the one at hand has been taken. */
	if (b->used < buf_len(b->piece))
		return -1;
	b->asked = 0;
	stale = b->asked_pass != b->pass;
	if (!stale) {
		switch (st) {
		case DELIVER_PIECE_DATA:
		case DELIVER_PIECE_LAST:
			/* More than announced: a damaged store, not a lie. */
			if (n > job->size - b->got) {
				log_warnx("%s: stored body longer than its "
				    "%llu bytes", job->qid,
				    (unsigned long long)job->size);
				b->over = DELIVER_BODY_ERROR;
				break;
			}
			buf_reset(b->piece);
			if (buf_add(b->piece, p, n) == -1)
				fatalx("%s: a piece does not fit", __func__);
			b->used = 0;
			b->got += n;
			b->chunk = next_chunk;
			b->off = next_off;
			if (st == DELIVER_PIECE_LAST)
				b->over = b->got == job->size ?
				    DELIVER_BODY_END : deliver_body_short(job);
			break;
		case DELIVER_PIECE_END:
			b->over = b->got == job->size ? DELIVER_BODY_END :
			    deliver_body_short(job);
			break;
		case DELIVER_PIECE_ERROR:
			b->over = DELIVER_BODY_ERROR;
			break;
		}
	}
	if (b->in_get || !b->waiting)
		return 0;
	if (stale) {
		/* The new pass still wants its first piece: ask for it. */
		b->asked = 1;
		b->asked_pass = b->pass;
		b->src->read(job, b->chunk, b->off, b->src->arg);
		return 0;
	}
	b->waiting = 0;
	if (b->wake != NULL)
		b->wake(job, b->wake_arg);
	return 0;
}
