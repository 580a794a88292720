/*
 * tlsstore - the TLS client sessions every deliverer shares
 *
 * aval-deliver resumes TLS sessions with the hosts it relays to (RFC 5077
 * tickets, TLS 1.2 session ids). A session learnt by one deliverer serves
 * the others, and outlives a deliverer's restart and avald's: the queue
 * keeps them, since it already talks to every deliverer and owns the
 * spool, in a small Berkeley DB file of their own ("tls-sessions.db" in
 * the spool) outside the queue's transactional environment. It is a
 * cache: no log, no fsync; a file that cannot be opened (a crash in the
 * middle of a write) is removed and made anew, and a record that does
 * not decode is dropped.
 *
 * Key: the deliverer's cache key ("[addr]:port", the policy's id and the
 * names checked), so a session made under one policy never serves
 * another. Value: up to TLSSTORE_PER_KEY sessions, oldest first, each
 * "u64 expires, u32 length, u8 usage, the DER" (usage: how DANE verified
 * the first connection, 0, 2 or 3, which a resumption cannot show).
 *
 * take() returns the newest session that has not expired and removes it
 * while an older live one is left, so a TLS 1.3 ticket is used once
 * across all deliverers as long as there is another (RFC 8446 C.4); the
 * last one is handed out again rather than have a burst of connections
 * make full handshakes. (C.4's SHOULD NOT is about observers linking a
 * client's connections; an MTA's address links them anyway, and Postfix
 * offers its cached session again too.) Each resumption puts the fresh
 * ticket the server sends, which is then the newest. put() appends one,
 * dropping the oldest beyond TLSSTORE_PER_KEY. At most
 * max_keys keys: a put of a new key beyond that first evicts the record
 * a cursor finds first (hash order: an arbitrary one).
 *
 * Trust: the values come from deliverers, which the queue trusts for
 * framing only; tlsstore_put() refuses a key or a session outside the
 * bounds below, and an expiry is clamped to TLSSTORE_LIFETIME_MAX.
 */
#ifndef AVAL_QUEUE_TLSSTORE_H
#define AVAL_QUEUE_TLSSTORE_H

#include <stddef.h>
#include <stdint.h>

#define TLSSTORE_PER_KEY	4
#define TLSSTORE_MAX_KEYS	4096
#define TLSSTORE_KEY_MAX	2048		/* bytes of a key */
#define TLSSTORE_DER_MAX	(16 * 1024)	/* bytes of one session */
#define TLSSTORE_LIFETIME_MAX	(7 * 86400)	/* RFC 8446 4.6.1 */

struct tlsstore;

/*
 * The bounds of one session, for every side of the link to hold it to:
 * a DANE usage of 0 (none), 2 (DANE-TA) or 3 (DANE-EE), and a DER of 1
 * to TLSSTORE_DER_MAX octets.
 */
static inline int
tlsstore_usage_ok(unsigned int usage)
{
	return usage == 0 || usage == 2 || usage == 3;
}

static inline int
tlsstore_session_ok(size_t len, unsigned int usage)
{
	return len > 0 && len <= TLSSTORE_DER_MAX && tlsstore_usage_ok(usage);
}

/* Opens (making it, or making it anew when unreadable) path; NULL if not. */
struct tlsstore	*tlsstore_open(const char *path, size_t max_keys);
void		 tlsstore_close(struct tlsstore *);	/* NULL: fine */

/* 0 stored, -1 refused (out of bounds, logged) or a DB error. */
int		 tlsstore_put(struct tlsstore *, const char *key,
		    const void *der, size_t len, int usage, int64_t expires,
		    int64_t now);

/*
 * 1 with the newest live session copied to der (*len octets, at most
 * TLSSTORE_DER_MAX) and removed from the store; 0 when there is none;
 * -1 on a DB error.
 */
int		 tlsstore_take(struct tlsstore *, const char *key, int64_t now,
		    unsigned char *der, size_t *len, int *usage);

size_t		 tlsstore_keys(const struct tlsstore *);

#endif
