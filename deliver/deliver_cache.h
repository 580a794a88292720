/*
 * deliver_cache - idle SMTP connections kept for the next job
 *
 * After a transaction ends cleanly, the session offers its connection to
 * the cache under its destination ("[addr]:port"); the next job for that
 * destination takes it and skips connect, greeting and EHLO. This is the
 * "SMTP connection reuse to busy peers" of DESIGN.md, as Postfix's scache
 * does it in-process.
 *
 * The cache holds opaque connections and never looks inside them. It is
 * bounded three ways: at most per_dest idle connections per destination,
 * at most total in all, and each for at most idle_ms; a connection that
 * waits longer is taken out and handed to the evict callback, whose owner
 * closes it (politely: QUIT). The session itself bounds transactions per
 * connection and notices connections that die while idle.
 *
 * Ownership: deliver_cache_put() that returns 1 holds the connection until
 * it is taken, removed or evicted; the caller keeps it otherwise.
 * deliver_cache_free() forgets every connection it holds without calling
 * the evict callback: the owner frees those itself.
 */
#ifndef AVAL_DELIVER_DELIVER_CACHE_H
#define AVAL_DELIVER_DELIVER_CACHE_H

#include <stddef.h>

struct event_base;
struct deliver_cache;

typedef void	(*deliver_cache_evict_cb)(void *conn, void *arg);

struct deliver_cache *deliver_cache_new(struct event_base *, size_t per_dest,
		    size_t total, unsigned int idle_ms,
		    deliver_cache_evict_cb, void *arg);
void		 deliver_cache_free(struct deliver_cache *);	/* NULL: fine */
/* A new per-destination bound; what is parked beyond it leaves as it idles. */
void		 deliver_cache_set_per_dest(struct deliver_cache *, size_t);

/* 1 if kept, 0 if the cache is full for dest (the caller still owns conn). */
int		 deliver_cache_put(struct deliver_cache *, const char *dest,
		    void *conn);
/* The most recently parked connection for dest, or NULL. */
void		*deliver_cache_take(struct deliver_cache *, const char *dest);
/* 1 if conn was held (it died while idle) and is no longer, else 0. */
int		 deliver_cache_remove(struct deliver_cache *, void *conn);
/* Idle connections held for dest, or in all when dest is NULL. */
size_t		 deliver_cache_count(const struct deliver_cache *,
		    const char *dest);

#endif
