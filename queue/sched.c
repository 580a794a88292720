/*
 * sched - when, and how many at once, the queue's work goes to deliver
 *
 * See sched.h. Three structures: a binary min-heap of waiting entries by
 * due time; per destination a FIFO of ready entries; and a list of the
 * destinations that can take a job now (ready entries and room), served
 * round-robin. A destination lives while it has entries; it is found in a
 * chained hash table keyed by its name.
 */
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/sched.h"

#define SCHED_NOWHERE	SIZE_MAX	/* heap index of an entry not in it */

enum sched_where {
	SCHED_W_WAITING = 0,
	SCHED_W_READY,
	SCHED_W_FLIGHT,
};

struct sched_dest {
	char				*name;
	uint64_t			 hash;
	unsigned int			 inflight;
	unsigned int			 limit;
	size_t				 nentries;	/* of every kind */
	TAILQ_HEAD(, sched_entry)	 ready;
	size_t				 nready;
	int				 runnable;	/* on s->runnable */
	TAILQ_ENTRY(sched_dest)		 run;
	struct sched_dest		*next;		/* hash chain */
};

struct sched_entry {
	struct sched_dest		*dest;
	void				*owner;
	int64_t				 due;
	uint64_t			 seq;	/* ties in due time: first in, first out */
	enum sched_where		 where;
	size_t				 heap_i;
	TAILQ_ENTRY(sched_entry)	 ready;
	TAILQ_ENTRY(sched_entry)	 all;
};

struct sched {
	struct sched_conf		 conf;
	struct sched_entry		**heap;
	size_t				 nheap, heap_alloc;
	struct sched_dest		**buckets;
	size_t				 nbuckets, ndests;
	TAILQ_HEAD(, sched_dest)	 runnable;
	TAILQ_HEAD(, sched_entry)	 all;
	size_t				 nentries, nready, ninflight;
	uint64_t			 seq;
};

/* sched_before - a comes out of the heap before b */
static int
sched_before(const struct sched_entry *a, const struct sched_entry *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

/* --- the heap ------------------------------------------------------------ */

static void
sched_heap_set(struct sched *s, size_t i, struct sched_entry *e)
{
	s->heap[i] = e;
	e->heap_i = i;
}

static void
sched_heap_up(struct sched *s, size_t i)
{
	struct sched_entry	*e = s->heap[i];
	size_t			 p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (!sched_before(e, s->heap[p]))
			break;
		sched_heap_set(s, i, s->heap[p]);
		i = p;
	}
	sched_heap_set(s, i, e);
}

static void
sched_heap_down(struct sched *s, size_t i)
{
	struct sched_entry	*e = s->heap[i];
	size_t			 c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && sched_before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!sched_before(s->heap[c], e))
			break;
		sched_heap_set(s, i, s->heap[c]);
		i = c;
	}
	sched_heap_set(s, i, e);
}

static void
sched_heap_push(struct sched *s, struct sched_entry *e)
{
	if (s->nheap == s->heap_alloc) {
		s->heap_alloc = s->heap_alloc ? s->heap_alloc * 2 : 64;
		s->heap = xreallocarray(s->heap, s->heap_alloc,
		    sizeof(*s->heap));
	}
	sched_heap_set(s, s->nheap++, e);
	sched_heap_up(s, e->heap_i);
}

static void
sched_heap_del(struct sched *s, struct sched_entry *e)
{
	size_t			 i = e->heap_i;
	struct sched_entry	*last;

	if (i == SCHED_NOWHERE || i >= s->nheap || s->heap[i] != e)
		fatalx("%s: entry not in the heap", __func__);
	e->heap_i = SCHED_NOWHERE;
	last = s->heap[--s->nheap];
	if (last == e)
		return;
	sched_heap_set(s, i, last);
	sched_heap_up(s, i);
	sched_heap_down(s, last->heap_i);
}

/* --- destinations -------------------------------------------------------- */

static uint64_t
sched_hash(const char *p)
{
	uint64_t	 h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
sched_rehash(struct sched *s)
{
	struct sched_dest	**nb, *d, *next;
	size_t			  n = s->nbuckets ? s->nbuckets * 2 : 64, i;

	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < s->nbuckets; i++)
		for (d = s->buckets[i]; d != NULL; d = next) {
			next = d->next;
			d->next = nb[d->hash % n];
			nb[d->hash % n] = d;
		}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = n;
}

static struct sched_dest *
sched_dest_find(const struct sched *s, const char *name)
{
	struct sched_dest	*d;
	uint64_t		 h;

	if (s->nbuckets == 0)
		return NULL;
	h = sched_hash(name);
	for (d = s->buckets[h % s->nbuckets]; d != NULL; d = d->next)
		if (d->hash == h && strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static struct sched_dest *
sched_dest_get(struct sched *s, const char *name)
{
	struct sched_dest	*d;

	if ((d = sched_dest_find(s, name)) != NULL)
		return d;
	if (s->ndests >= s->nbuckets)
		sched_rehash(s);
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->hash = sched_hash(name);
	d->limit = s->conf.dest_initial;
	TAILQ_INIT(&d->ready);
	d->next = s->buckets[d->hash % s->nbuckets];
	s->buckets[d->hash % s->nbuckets] = d;
	s->ndests++;
	return d;
}

/* sched_dest_update - on the runnable list exactly when it can take a job */
static void
sched_dest_update(struct sched *s, struct sched_dest *d)
{
	int	 can = d->nready > 0 && d->inflight < d->limit;

	if (can && !d->runnable)
		TAILQ_INSERT_TAIL(&s->runnable, d, run);
	else if (!can && d->runnable)
		TAILQ_REMOVE(&s->runnable, d, run);
	d->runnable = can;
}

/* sched_dest_unref - one entry fewer; the destination goes with its last */
static void
sched_dest_unref(struct sched *s, struct sched_dest *d)
{
	struct sched_dest	**pp;

	if (--d->nentries > 0) {
		sched_dest_update(s, d);
		return;
	}
	if (d->runnable)
		TAILQ_REMOVE(&s->runnable, d, run);
	for (pp = &s->buckets[d->hash % s->nbuckets]; *pp != d;
	    pp = &(*pp)->next)
		;
	*pp = d->next;
	s->ndests--;
	free(d->name);
	free(d);
}

/* --- entries ------------------------------------------------------------- */

/* sched_enter - file e by its due time: waiting, or ready when it is due */
static void
sched_enter(struct sched *s, struct sched_entry *e, int64_t due)
{
	e->due = due;
	e->seq = s->seq++;
	e->where = SCHED_W_WAITING;
	sched_heap_push(s, e);
}

/* sched_leave - take e out of the heap or its destination's ready FIFO */
static void
sched_leave(struct sched *s, struct sched_entry *e)
{
	switch (e->where) {
	case SCHED_W_WAITING:
		sched_heap_del(s, e);
		break;
	case SCHED_W_READY:
		TAILQ_REMOVE(&e->dest->ready, e, ready);
		e->dest->nready--;
		s->nready--;
		sched_dest_update(s, e->dest);
		break;
	case SCHED_W_FLIGHT:
		fatalx("%s: entry in flight", __func__);
	}
}

/* sched_tick - every waiting entry due by now becomes ready */
static void
sched_tick(struct sched *s, int64_t now)
{
	struct sched_entry	*e;

	while (s->nheap > 0 && s->heap[0]->due <= now) {
		e = s->heap[0];
		sched_heap_del(s, e);
		e->where = SCHED_W_READY;
		TAILQ_INSERT_TAIL(&e->dest->ready, e, ready);
		e->dest->nready++;
		s->nready++;
		sched_dest_update(s, e->dest);
	}
}

struct sched *
sched_new(const struct sched_conf *conf)
{
	struct sched	*s;

	s = xcalloc(1, sizeof(*s));
	TAILQ_INIT(&s->runnable);
	TAILQ_INIT(&s->all);
	sched_set_conf(s, conf);
	return s;
}

void
sched_set_conf(struct sched *s, const struct sched_conf *conf)
{
	s->conf = *conf;
	if (s->conf.dest_max < 1)
		s->conf.dest_max = 1;
	if (s->conf.dest_initial < 1)
		s->conf.dest_initial = 1;
	if (s->conf.dest_initial > s->conf.dest_max)
		s->conf.dest_initial = s->conf.dest_max;
	if (s->conf.retry_min_ms < 1)
		s->conf.retry_min_ms = 1;
	if (s->conf.retry_max_ms < s->conf.retry_min_ms)
		s->conf.retry_max_ms = s->conf.retry_min_ms;
}

void
sched_free(struct sched *s)
{
	struct sched_dest	*d, *next;
	struct sched_entry	*e;
	size_t			 i;

	if (s == NULL)
		return;
	/* Entries are owned here, in flight or not. */
	while ((e = TAILQ_FIRST(&s->all)) != NULL) {
		TAILQ_REMOVE(&s->all, e, all);
		free(e);
	}
	for (i = 0; i < s->nbuckets; i++)
		for (d = s->buckets[i]; d != NULL; d = next) {
			next = d->next;
			free(d->name);
			free(d);
		}
	free(s->heap);
	free(s->buckets);
	free(s);
}

struct sched_entry *
sched_add(struct sched *s, const char *dest, void *owner, int64_t due_ms)
{
	struct sched_entry	*e;

	e = xcalloc(1, sizeof(*e));
	e->dest = sched_dest_get(s, dest);
	e->dest->nentries++;
	e->owner = owner;
	e->heap_i = SCHED_NOWHERE;
	TAILQ_INSERT_TAIL(&s->all, e, all);
	s->nentries++;
	sched_enter(s, e, due_ms);
	return e;
}

void
sched_remove(struct sched *s, struct sched_entry *e)
{
	sched_leave(s, e);
	TAILQ_REMOVE(&s->all, e, all);
	s->nentries--;
	sched_dest_unref(s, e->dest);
	free(e);
}

void
sched_reschedule(struct sched *s, struct sched_entry *e, int64_t due_ms)
{
	sched_leave(s, e);
	sched_enter(s, e, due_ms);
}

struct sched_entry *
sched_next(struct sched *s, int64_t now_ms)
{
	struct sched_dest	*d;
	struct sched_entry	*e;

	sched_tick(s, now_ms);
	if ((d = TAILQ_FIRST(&s->runnable)) == NULL)
		return NULL;
	e = TAILQ_FIRST(&d->ready);
	TAILQ_REMOVE(&d->ready, e, ready);
	d->nready--;
	s->nready--;
	e->where = SCHED_W_FLIGHT;
	d->inflight++;
	s->ninflight++;
	/* Round-robin: this destination goes to the back of the line. */
	TAILQ_REMOVE(&s->runnable, d, run);
	d->runnable = 0;
	sched_dest_update(s, d);
	return e;
}

void
sched_done(struct sched *s, struct sched_entry *e, enum sched_result r,
    int64_t due_ms)
{
	struct sched_dest	*d = e->dest;

	if (e->where != SCHED_W_FLIGHT)
		fatalx("%s: entry not in flight", __func__);
	d->inflight--;
	s->ninflight--;
	switch (r) {
	case SCHED_REACHED:
		if (d->limit < s->conf.dest_max)
			d->limit++;
		break;
	case SCHED_UNREACHED:
		d->limit = 1;
		break;
	case SCHED_NO_ATTEMPT:
		break;
	}
	if (d->limit > s->conf.dest_max)
		d->limit = s->conf.dest_max;
	if (due_ms < 0) {
		TAILQ_REMOVE(&s->all, e, all);
		s->nentries--;
		sched_dest_unref(s, d);
		free(e);
		return;
	}
	sched_enter(s, e, due_ms);
	sched_dest_update(s, d);
}

int64_t
sched_next_due(const struct sched *s)
{
	return s->nheap > 0 ? s->heap[0]->due : -1;
}

void
sched_stats(const struct sched *s, struct sched_stats *st)
{
	st->entries = s->nentries;
	st->waiting = s->nheap;
	st->ready = s->nready;
	st->inflight = s->ninflight;
	st->dests = s->ndests;
}

void *
sched_entry_owner(const struct sched_entry *e)
{
	return e->owner;
}

const char *
sched_entry_dest(const struct sched_entry *e)
{
	return e->dest->name;
}

int
sched_entry_inflight(const struct sched_entry *e)
{
	return e->where == SCHED_W_FLIGHT;
}

int
sched_dest_state(const struct sched *s, const char *dest,
    unsigned int *inflight, unsigned int *limit)
{
	const struct sched_dest	*d = sched_dest_find(s, dest);

	if (d == NULL)
		return 0;
	*inflight = d->inflight;
	*limit = d->limit;
	return 1;
}

int64_t
sched_backoff(const struct sched_conf *c, uint32_t attempts, uint64_t rnd)
{
	int64_t		 d = c->retry_min_ms, spread;
	uint32_t	 i;

	for (i = 1; i < attempts && d < c->retry_max_ms; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	spread = d / 10;
	d = d - spread + (int64_t)(rnd % (uint64_t)(2 * spread + 1));
	if (d < c->retry_min_ms)
		d = c->retry_min_ms;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	return d;
}
