/*
 * deliver_cache - idle SMTP connections kept for the next job
 *
 * A short list, newest first: with a few connections per destination and
 * a small total, a linear walk is cheaper than any index. Each entry has
 * its own timer for the idle limit.
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver_cache.h"

struct deliver_cache_entry {
	char				*dest;
	void				*conn;
	struct event			*timer;
	struct deliver_cache		*cache;
	TAILQ_ENTRY(deliver_cache_entry) entry;
};

TAILQ_HEAD(deliver_cache_entries, deliver_cache_entry);

struct deliver_cache {
	struct event_base		*base;
	size_t				 per_dest;
	size_t				 total;
	unsigned int			 idle_ms;
	deliver_cache_evict_cb		 evict;
	void				*arg;
	size_t				 count;
	struct deliver_cache_entries	 entries;
};

static void	deliver_cache_expire(evutil_socket_t, short, void *);

void
deliver_cache_set_per_dest(struct deliver_cache *c, size_t per_dest)
{
	c->per_dest = per_dest;
}

/* deliver_cache_new - an empty cache with its bounds */
struct deliver_cache *
deliver_cache_new(struct event_base *base, size_t per_dest, size_t total,
    unsigned int idle_ms, deliver_cache_evict_cb evict, void *arg)
{
	struct deliver_cache	*c;

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->per_dest = per_dest;
	c->total = total;
	c->idle_ms = idle_ms;
	c->evict = evict;
	c->arg = arg;
	TAILQ_INIT(&c->entries);
	return c;
}

/* deliver_cache_unlink - take an entry out and free it; returns its conn */
static void *
deliver_cache_unlink(struct deliver_cache *c, struct deliver_cache_entry *e)
{
	void	*conn = e->conn;

	TAILQ_REMOVE(&c->entries, e, entry);
	c->count--;
	event_free(e->timer);
	free(e->dest);
	free(e);
	return conn;
}

/* deliver_cache_free - forget every connection (not evicted) and free */
void
deliver_cache_free(struct deliver_cache *c)
{
	struct deliver_cache_entry	*e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->entries)) != NULL)
		deliver_cache_unlink(c, e);
	free(c);
}

/* deliver_cache_count - idle connections for dest, or all */
size_t
deliver_cache_count(const struct deliver_cache *c, const char *dest)
{
	const struct deliver_cache_entry	*e;
	size_t					 n = 0;

	if (dest == NULL)
		return c->count;
	TAILQ_FOREACH(e, &c->entries, entry)
		if (strcmp(e->dest, dest) == 0)
			n++;
	return n;
}

/* deliver_cache_put - park an idle connection; 1 kept, 0 full */
int
deliver_cache_put(struct deliver_cache *c, const char *dest, void *conn)
{
	struct deliver_cache_entry	*e;
	struct timeval			 tv;

	if (c->count >= c->total || deliver_cache_count(c, dest) >= c->per_dest)
		return 0;
	e = xcalloc(1, sizeof(*e));
	e->dest = xstrdup(dest);
	e->conn = conn;
	e->cache = c;
	if ((e->timer = evtimer_new(c->base, deliver_cache_expire, e)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	tv.tv_sec = c->idle_ms / 1000;
	tv.tv_usec = (c->idle_ms % 1000) * 1000;
	evtimer_add(e->timer, &tv);
	TAILQ_INSERT_HEAD(&c->entries, e, entry);
	c->count++;
	return 1;
}

/* deliver_cache_take - the newest idle connection for dest, or NULL */
void *
deliver_cache_take(struct deliver_cache *c, const char *dest)
{
	struct deliver_cache_entry	*e;

	TAILQ_FOREACH(e, &c->entries, entry)
		if (strcmp(e->dest, dest) == 0)
			return deliver_cache_unlink(c, e);
	return NULL;
}

/* deliver_cache_remove - drop a connection that died while idle */
int
deliver_cache_remove(struct deliver_cache *c, void *conn)
{
	struct deliver_cache_entry	*e;

	TAILQ_FOREACH(e, &c->entries, entry)
		if (e->conn == conn) {
			deliver_cache_unlink(c, e);
			return 1;
		}
	return 0;
}

/* deliver_cache_expire - idle too long: hand it back to be closed */
static void
deliver_cache_expire(evutil_socket_t fd, short ev, void *arg)
{
	struct deliver_cache_entry	*e = arg;
	struct deliver_cache		*c = e->cache;
	void				*conn;

	(void)fd;
	(void)ev;
	conn = deliver_cache_unlink(c, e);
	c->evict(conn, c->arg);
}
