/*
 * buf - bounded, growable byte buffer
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"

struct buf {
	char	*data;
	size_t	 len;
	size_t	 size;		/* allocated, including the NUL */
	size_t	 cap;		/* most bytes it may ever hold */
	int	 secret;	/* wipe every byte it lets go of */
};

/* buf_new - an empty buf of the given initial size and hard cap */
struct buf *
buf_new(size_t initial, size_t cap)
{
	struct buf	*b;

	if (initial > cap)
		initial = cap;
	b = xcalloc(1, sizeof(*b));
	b->size = initial + 1;
	b->data = xmalloc(b->size);
	b->data[0] = '\0';
	b->cap = cap;
	return b;
}

/* buf_new_secret - as buf_new, for key material: wiped as it goes */
struct buf *
buf_new_secret(size_t initial, size_t cap)
{
	struct buf	*b = buf_new(initial, cap);

	b->secret = 1;
	return b;
}

/* buf_free - release a buf and its bytes */
void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	if (b->secret)
		explicit_bzero(b->data, b->size);
	free(b->data);
	free(b);
}

/* buf_reserve - make room for n more bytes, respecting the cap */
static int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 want;

	if (n > b->cap || b->len > b->cap - n)
		return -1;
	want = b->len + n + 1;
	if (want <= b->size)
		return 0;
	/* Double, so appending n bytes costs O(n) in all; the cap still holds. */
	if (want < b->size * 2)
		want = b->size * 2;
	if (want > b->cap + 1)
		want = b->cap + 1;
	if (b->secret) {
		/* realloc would leave the old copy in freed memory. */
		char	*p = xmalloc(want);

		memcpy(p, b->data, b->len + 1);
		explicit_bzero(b->data, b->size);
		free(b->data);
		b->data = p;
	} else
		b->data = xreallocarray(b->data, want, 1);
	b->size = want;
	return 0;
}

/* buf_add - append, respecting the cap */
int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* buf_addstr - append a C string */
int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* buf_printf - append formatted text; -1 and no change past the cap */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* buf_drain - drop n bytes from the front */
void
buf_drain(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->secret)
		explicit_bzero(b->data + b->len, b->size - b->len);
	b->data[b->len] = '\0';
}

/* buf_reset - forget the contents, keep the allocation */
void
buf_reset(struct buf *b)
{
	if (b->secret)
		explicit_bzero(b->data, b->size);
	b->len = 0;
	b->data[0] = '\0';
}

/* buf_data - the bytes, NUL-terminated */
const char *
buf_data(const struct buf *b)
{
	return b->data;
}

/* buf_len - how many bytes are held */
size_t
buf_len(const struct buf *b)
{
	return b->len;
}

/* buf_cap - the most bytes this buf may hold */
size_t
buf_cap(const struct buf *b)
{
	return b->cap;
}

/* buf_release - hand the bytes to the caller and free the buf */
char *
buf_release(struct buf *b)
{
	char	*p = b->data;

	free(b);
	return p;
}
