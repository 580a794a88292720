/*
 * buf - bounded, growable byte buffer
 *
 * A buf owns its bytes. It grows on demand up to the cap given to buf_new()
 * and never beyond: at the cap buf_add() returns -1 and changes nothing.
 * The bytes are always followed by a NUL that buf_len() does not count, so
 * buf_data() of text can be handed to string functions.
 *
 * A buf made by buf_new_secret() (keys, password hashes) wipes every byte
 * it lets go of: on growth, drain, reset and free. What buf_release()
 * hands over is the caller's to wipe.
 */
#ifndef AVAL_COMMON_BUF_H
#define AVAL_COMMON_BUF_H

#include <stddef.h>

struct buf;

struct buf	*buf_new(size_t initial, size_t cap);
struct buf	*buf_new_secret(size_t initial, size_t cap);
void		 buf_free(struct buf *);		/* NULL is fine */
int		 buf_add(struct buf *, const void *, size_t);
int		 buf_addstr(struct buf *, const char *);
int		 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 buf_drain(struct buf *, size_t);	/* from the front */
void		 buf_reset(struct buf *);
const char	*buf_data(const struct buf *);		/* borrowed until next change */
size_t		 buf_len(const struct buf *);
size_t		 buf_cap(const struct buf *);
char		*buf_release(struct buf *);		/* frees the buf, caller owns the bytes */

#endif
