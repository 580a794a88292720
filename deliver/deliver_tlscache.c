/*
 * deliver_tlscache - TLS sessions kept for the next connection
 *
 * A list, newest first; lookups walk it. It is bounded (a few thousand
 * entries at most), and a walk costs far less than the handshake it saves.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "common/xmalloc.h"
#include "deliver/deliver_tlscache.h"

struct deliver_tlscache_ent {
	char				*key;
	SSL_SESSION			*sess;
	TAILQ_ENTRY(deliver_tlscache_ent) entry;
};

TAILQ_HEAD(deliver_tlscache_list, deliver_tlscache_ent);

struct deliver_tlscache {
	struct deliver_tlscache_list	 list;		/* newest first */
	size_t				 n, total;
};

struct deliver_tlscache *
deliver_tlscache_new(size_t total)
{
	struct deliver_tlscache	*c = xcalloc(1, sizeof(*c));

	TAILQ_INIT(&c->list);
	c->total = total > 0 ? total : 1;
	return c;
}

static void
deliver_tlscache_drop(struct deliver_tlscache *c,
    struct deliver_tlscache_ent *e)
{
	TAILQ_REMOVE(&c->list, e, entry);
	c->n--;
	SSL_SESSION_free(e->sess);
	free(e->key);
	free(e);
}

void
deliver_tlscache_free(struct deliver_tlscache *c)
{
	struct deliver_tlscache_ent	*e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->list)) != NULL)
		deliver_tlscache_drop(c, e);
	free(c);
}

/* deliver_tlscache_live - 1 if the session may still be offered */
static int
deliver_tlscache_live(SSL_SESSION *s, time_t now)
{
	time_t	 t = (time_t)SSL_SESSION_get_time(s);
	long	 life = SSL_SESSION_get_timeout(s);
	uint32_t hint = SSL_SESSION_get_ticket_lifetime_hint(s);

	if (hint != 0 && (long)hint < life)
		life = (long)hint;
	return SSL_SESSION_is_resumable(s) && now >= t && now - t < life;
}

void
deliver_tlscache_put(struct deliver_tlscache *c, const char *key,
    SSL_SESSION *sess)
{
	struct deliver_tlscache_ent	*e, *oldest = NULL;
	size_t				 n = 0;

	TAILQ_FOREACH(e, &c->list, entry)
		if (strcmp(e->key, key) == 0) {
			n++;
			oldest = e;
		}
	if (n >= DELIVER_TLSCACHE_PER_KEY)
		deliver_tlscache_drop(c, oldest);
	else if (c->n >= c->total)
		deliver_tlscache_drop(c, TAILQ_LAST(&c->list,
		    deliver_tlscache_list));
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->sess = sess;
	TAILQ_INSERT_HEAD(&c->list, e, entry);
	c->n++;
}

SSL_SESSION *
deliver_tlscache_take(struct deliver_tlscache *c, const char *key)
{
	struct deliver_tlscache_ent	*e, *next;
	SSL_SESSION			*s;
	time_t				 now = time(NULL);

	for (e = TAILQ_FIRST(&c->list); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (strcmp(e->key, key) != 0)
			continue;
		if (!deliver_tlscache_live(e->sess, now)) {
			deliver_tlscache_drop(c, e);
			continue;
		}
		s = e->sess;
		e->sess = NULL;
		TAILQ_REMOVE(&c->list, e, entry);
		c->n--;
		free(e->key);
		free(e);
		return s;
	}
	return NULL;
}

size_t
deliver_tlscache_count(const struct deliver_tlscache *c, const char *key)
{
	const struct deliver_tlscache_ent	*e;
	size_t					 n = 0;

	if (key == NULL)
		return c->n;
	TAILQ_FOREACH(e, &c->list, entry)
		if (strcmp(e->key, key) == 0)
			n++;
	return n;
}
