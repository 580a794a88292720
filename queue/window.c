/*
 * window - the queue's in-memory messages by queue ID (see window.h)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/qid.h"
#include "common/xmalloc.h"
#include "queue/window.h"

#define WINDOW_MIN_BUCKETS	256

struct window_slot {
	char			 qid[QID_SIZE];
	void			*obj;
	struct window_slot	*next;
};

struct window {
	struct window_slot	**b;
	size_t			 nb;		/* a power of two */
	unsigned int		 count;
	unsigned int		 limit;
};

/* window_hash - FNV-1a of the queue ID */
static size_t
window_hash(const char *qid)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	for (; *qid != '\0'; qid++) {
		h ^= (unsigned char)*qid;
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

struct window *
window_new(unsigned int limit)
{
	struct window	*w;

	w = xcalloc(1, sizeof(*w));
	w->nb = WINDOW_MIN_BUCKETS;
	w->b = xcalloc(w->nb, sizeof(*w->b));
	w->limit = limit;
	return w;
}

void
window_free(struct window *w)
{
	struct window_slot	*s, *next;
	size_t			 i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nb; i++)
		for (s = w->b[i]; s != NULL; s = next) {
			next = s->next;
			free(s);
		}
	free(w->b);
	free(w);
}

void
window_set_limit(struct window *w, unsigned int limit)
{
	w->limit = limit;
}

/* window_grow - twice the buckets, every slot moved */
static void
window_grow(struct window *w)
{
	struct window_slot	**nb, *s, *next;
	size_t			 n = w->nb * 2, i;

	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < w->nb; i++)
		for (s = w->b[i]; s != NULL; s = next) {
			size_t	 h = window_hash(s->qid) & (n - 1);

			next = s->next;
			s->next = nb[h];
			nb[h] = s;
		}
	free(w->b);
	w->b = nb;
	w->nb = n;
}

int
window_add(struct window *w, const char *qid, void *obj)
{
	struct window_slot	*s;
	size_t			 h;

	if (window_find(w, qid) != NULL)
		return -1;
	if (w->count >= w->nb)
		window_grow(w);
	h = window_hash(qid) & (w->nb - 1);
	s = xcalloc(1, sizeof(*s));
	strlcpy(s->qid, qid, sizeof(s->qid));
	s->obj = obj;
	s->next = w->b[h];
	w->b[h] = s;
	w->count++;
	return 0;
}

void *
window_find(const struct window *w, const char *qid)
{
	const struct window_slot	*s;

	for (s = w->b[window_hash(qid) & (w->nb - 1)]; s != NULL; s = s->next)
		if (strcmp(s->qid, qid) == 0)
			return s->obj;
	return NULL;
}

void *
window_del(struct window *w, const char *qid)
{
	struct window_slot	**sp, *s;
	void			*obj;

	for (sp = &w->b[window_hash(qid) & (w->nb - 1)]; (s = *sp) != NULL;
	    sp = &s->next)
		if (strcmp(s->qid, qid) == 0) {
			*sp = s->next;
			obj = s->obj;
			free(s);
			w->count--;
			return obj;
		}
	return NULL;
}

unsigned int
window_count(const struct window *w)
{
	return w->count;
}

unsigned int
window_room(const struct window *w)
{
	return w->count >= w->limit ? 0 : w->limit - w->count;
}
