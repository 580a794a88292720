/*
 * deliver_tlscache - TLS sessions kept for the next connection
 *
 * The client side of session resumption: a session is stored under the
 * key of the connection that made it ("[addr]:port" with the policy id
 * and the names checked: deliver_session.c), so a session made under a
 * weaker policy is never offered under a stronger one. A key holds up to
 * DELIVER_TLSCACHE_PER_KEY sessions, the whole cache at most total;
 * past that, the oldest go. Sessions past their lifetime are never
 * handed out.
 *
 * TLS 1.3 tickets are for one use (RFC 8446 section C.4): take() removes
 * the session it returns, and the connection that resumes with it stores
 * the new ticket the server sends. A TLS 1.2 session may be used again;
 * the caller puts it back after a resumed handshake.
 *
 * The cache holds a reference on every session it keeps (SSL_SESSION_up_ref
 * is the caller's business: put() takes over the caller's reference).
 */
#ifndef AVAL_DELIVER_DELIVER_TLSCACHE_H
#define AVAL_DELIVER_DELIVER_TLSCACHE_H

#include <stddef.h>

struct ssl_session_st;
struct deliver_tlscache;

#define DELIVER_TLSCACHE_PER_KEY	4

struct deliver_tlscache *deliver_tlscache_new(size_t total);
void		 deliver_tlscache_free(struct deliver_tlscache *); /* NULL: ok */
/* Takes over the reference; drops the oldest of key (or of all) if full. */
void		 deliver_tlscache_put(struct deliver_tlscache *, const char *key,
		    struct ssl_session_st *);
/* The newest live session for key, removed from the cache, or NULL. */
struct ssl_session_st *
		 deliver_tlscache_take(struct deliver_tlscache *, const char *key);
size_t		 deliver_tlscache_count(const struct deliver_tlscache *,
		    const char *key);	/* NULL: all */

#endif
