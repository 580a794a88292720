/*
 * deliver_session - the SMTP client: one job over one connection
 *
 * deliver_session_start() relays a job to a numeric address and port
 * (RFC 5321, with SIZE of RFC 1870, PIPELINING of RFC 2920, 8BITMIME of
 * RFC 6152, SMTPUTF8 of RFC 6531, DSN of RFC 3461; LMTP of RFC 2033 for a
 * job with DELIVER_JF_LMTP) and calls the completion callback once every
 * recipient has a result. docs/smtp-client.md is the user's account. The callback never runs from inside deliver_session_start(); it
 * may free the job and start other jobs. A recipient's result follows the
 * server's replies:
 *
 *	RCPT 2xx and final reply 2xx		DELIVER_SENT
 *	any 4xx, connect failure, timeout,
 *	lost connection, protocol error		DELIVER_DEFERRED
 *	any 5xx					DELIVER_BOUNCED
 *	larger than the server's SIZE		DELIVER_BOUNCED 5.3.4
 *	non-ASCII envelope, no SMTPUTF8		DELIVER_BOUNCED 5.6.7
 *	8-bit body, no 8BITMIME			DELIVER_BOUNCED 5.6.3
 *
 * (the last three without a byte of the message sent). In LMTP each
 * accepted recipient's result is its own reply after the final dot. A
 * sent recipient's dsn_passed says the server offered DSN and so had
 * NOTIFY. Every reply waited for has its own command-timeout.
 *
 * The text is the server's reply: "250 2.0.0 Ok: queued as X" when sent,
 * "host [192.0.2.1]:25 said: 550 5.1.1 ... (in reply to RCPT TO command)"
 * otherwise, or our own reason ("connect to [192.0.2.1]:25: Connection
 * refused"). The server is untrusted: its lines and replies are bounded
 * (deliver_reply.h) and every wait has a timeout.
 *
 * A session is a state machine over a bufferevent:
 *
 *	CONNECT -> GREETING -> EHLO [-> HELO when EHLO gets 5xx] -> MAIL
 *	    (LHLO in the EHLO state for LMTP, and never HELO)
 *	MAIL -> REFUSED when the job cannot go (SIZE, SMTPUTF8, 8BITMIME)
 *	    -> IDLE, from the loop
 *	MAIL -> RCPT (one reply per recipient) -> DATA -> BODY -> DOT
 *	DOT, or RSET after a transaction without an accepted recipient,
 *	    -> IDLE in the connection cache (deliver_cache.h) -> MAIL
 *	any state -> QUIT -> closed
 *
 * With PIPELINING, MAIL, every RCPT and DATA go out in one write and the
 * replies are read in order; without it, one command per reply. A job that
 * finds an idle connection to its destination starts at MAIL. If that
 * reused connection turns out dead (EOF, error or 421 before the MAIL
 * reply) the job moves once to a fresh connection, not counting it as a
 * failure. A connection serves at most DELIVER_SESSION_MAX_TRANS
 * transactions and idles at most DELIVER_SESSION_IDLE_MS.
 *
 * Later issues slot in here: STARTTLS (the TLS policy engine decides after
 * EHLO; the extension is already noted), a destination given as the MX
 * hosts' address list rather than one address, a TLS session cache beside
 * the connection cache.
 */
#ifndef AVAL_DELIVER_DELIVER_SESSION_H
#define AVAL_DELIVER_DELIVER_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "deliver/deliver.h"

#define DELIVER_SESSION_MAX_TRANS	100	/* per connection */
#define DELIVER_SESSION_IDLE_MS		5000	/* idle time in the cache */
#define DELIVER_SESSION_IDLE_PER_DEST	4	/* idle, per destination */
#define DELIVER_SESSION_IDLE_PER_DEST_MAX 64	/* ... whatever the conf says */
#define DELIVER_SESSION_IDLE_TOTAL	256	/* idle, in all */

enum deliver_session_state {
	DELIVER_S_CONNECT = 0,	/* TCP connect in flight; connect-timeout */
	DELIVER_S_GREETING,	/* waiting for the 220 greeting */
	DELIVER_S_EHLO,		/* EHLO sent */
	DELIVER_S_HELO,		/* EHLO got 5xx; HELO sent */
	DELIVER_S_STARTTLS,	/* STARTTLS sent, waiting for 220 */
	DELIVER_S_TLSWAIT,	/* 220 in; asking the store for a session */
	DELIVER_S_HANDSHAKE,	/* TLS handshake; then EHLO again */
	DELIVER_S_MAIL,		/* MAIL sent (with RCPTs, DATA if pipelining) */
	DELIVER_S_RCPT,		/* reading one reply per recipient */
	DELIVER_S_DATA,		/* DATA sent, waiting for 354 */
	DELIVER_S_BODY,		/* writing the body, dot-stuffed */
	DELIVER_S_DOT,		/* "." sent, waiting for the final reply */
	DELIVER_S_RSET,		/* no recipient accepted; RSET sent */
	DELIVER_S_REFUSED,	/* not sent (SIZE, SMTPUTF8, 8BITMIME): the
				   results are set, handed back from the loop */
	DELIVER_S_IDLE,		/* no job, parked in the connection cache */
	DELIVER_S_QUIT,		/* QUIT sent; closing on its reply or EOF */
};

struct event_base;
struct evbuffer;
struct deliver_session_ctx;

/* What the client has done, for tests and the status display. */
struct deliver_session_stats {
	unsigned long long	 connects;	/* TCP connections opened */
	unsigned long long	 reused;	/* jobs on a cached connection */
	unsigned long long	 handshakes;	/* TLS handshakes completed */
	unsigned long long	 resumed;	/* of those, resumed sessions */
	unsigned long long	 tls_failed;	/* STARTTLS or handshake failed */
};

/*
 * The client's shared state: the event base, a copy of the settings and
 * the connection cache. deliver_session_ctx_free() closes idle connections
 * and drops running jobs without calling their callbacks (the caller owns
 * those jobs).
 */
struct deliver_session_ctx *
	 deliver_session_ctx_new(struct event_base *,
	    const struct deliver_conf *);
void	 deliver_session_ctx_set_conf(struct deliver_session_ctx *,
	    const struct deliver_conf *);
void	 deliver_session_ctx_free(struct deliver_session_ctx *); /* NULL: ok */

/*
 * The federation's health notes (master/master_fedhealth.h): one per
 * connection made under the federation level, when it closes, and one
 * per host the hop would not connect to (deliver_session_fed_note). cb
 * sends it to the master; none is set in aval-local and the unit runner.
 */
struct deliver_fed_note {
	const char	*member;
	int		 tls, verified, resumed;
	const char	*version;	/* "" without TLS */
	const char	*failure;	/* NULL: worked; else a reason class */
};
typedef void	(*deliver_fed_note_cb)(const struct deliver_fed_note *,
		    void *);
void	 deliver_session_ctx_set_fednote(struct deliver_session_ctx *,
	    deliver_fed_note_cb, void *);
void	 deliver_session_fed_note(struct deliver_session_ctx *,
	    const struct deliver_fed_note *);
/* Idle connections to host:port (for tests and the status display). */
size_t	 deliver_session_ctx_idle(const struct deliver_session_ctx *,
	    const char *host, uint16_t port);
const struct deliver_session_stats *
	 deliver_session_ctx_stats(const struct deliver_session_ctx *);
/* TLS sessions kept for resumption, in all. */
size_t	 deliver_session_ctx_tls_sessions(const struct deliver_session_ctx *);

/*
 * Where TLS sessions are kept. By default in the context's own cache
 * (deliver_tlscache.h). With a store (aval-deliver's is the queue, so
 * every deliverer shares the sessions and they outlive restarts: queue/
 * tlsstore.h), a session asks take() after the server's 220 to STARTTLS
 * and waits, reading nothing, for deliver_session_ctx_tls_answer() with
 * the same req (at most DELIVER_SESSION_STORE_WAIT seconds, then it goes
 * on without), and gives every new session to put(). take() returns -1
 * when it cannot ask (no queue link): the handshake goes on at once.
 * der is a session as i2d_SSL_SESSION() writes it; usage is how DANE
 * verified the connection that made it (0, 2 or 3), which a resumption
 * cannot show; expires is in unix seconds.
 */
#define DELIVER_SESSION_STORE_WAIT	5

struct deliver_tlsstore {
	int	(*take)(void *arg, uint64_t req, const char *key);
	void	(*put)(void *arg, const char *key, const unsigned char *der,
		    size_t len, int usage, int64_t expires);
	void	*arg;
};

void	 deliver_session_ctx_set_store(struct deliver_session_ctx *,
	    const struct deliver_tlsstore *);		/* NULL: own cache */
void	 deliver_session_ctx_tls_answer(struct deliver_session_ctx *,
	    uint64_t req, const void *der, size_t len, int usage);

/*
 * Relays job to host (a numeric IPv4 or IPv6 address) and port. The job
 * needs at least one recipient and a body; its addresses go into commands
 * as they are, so they must be printable ASCII (deliver.c checks what the
 * queue sends). The job and its body must stay as they are until the
 * callback, or until deliver_session_abort(). Sets job->relay and
 * job->t_conn.
 */
void	 deliver_session_start(struct deliver_session_ctx *,
	    struct deliver_job *, const char *host, uint16_t port,
	    deliver_job_cb, void *arg);

/* Stops a running job: no callback, connection closed, results undefined. */
void	 deliver_session_abort(struct deliver_job *);

/*
 * Dot-stuffing (RFC 5321 section 4.5.2) of a body given in pieces: appends
 * p to out with a '.' doubled at the start of each line; *bol carries
 * "at the start of a line" from one piece to the next and starts at 1.
 * deliver_session_dotend() closes the body: CRLF if the last line lacked
 * one, then ".\r\n".
 */
void	 deliver_session_dotstuff(struct evbuffer *out, const void *p, size_t n,
	    int *bol);
void	 deliver_session_dotend(struct evbuffer *out, int bol);

#endif
