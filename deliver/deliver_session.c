/*
 * deliver_session - the SMTP client: one job over one connection
 *
 * Trust: the server at the other end is untrusted. Its replies go through
 * deliver_reply (bounded lines, bounded replies, sanitised text); the read
 * high-water mark keeps at most one reply line buffered beyond what has
 * been parsed; every state that waits for the server has a timeout. The
 * job comes from deliver.c, which has validated it.
 *
 * Re-entrancy: the completion callback may free the job and start other
 * jobs, which may take this very connection from the cache. So a session
 * hands its job back only as the last thing it does in any callback
 * (deliver_session_finish), and the reply loop stops as soon as a handler
 * says the session may have changed hands.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/fedtrust.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "deliver/deliver_cache.h"
#include "deliver/deliver_reply.h"
#include "deliver/deliver_session.h"
#include "deliver/deliver_tlscache.h"

#define DELIVER_SESSION_READ_HIGH	(DELIVER_REPLY_LINE_MAX + 2)
#define DELIVER_SESSION_BODY_LOW	(64 * 1024)	/* refill below this */
#define DELIVER_SESSION_BODY_HIGH	(256 * 1024)	/* most body queued */
#define DELIVER_SESSION_QUIT_TIMEOUT	10		/* seconds */
#define DELIVER_SESSION_KEY_SIZE	(DELIVER_DEST_SIZE + \
					 DELIVER_POLICY_ID_SIZE + \
					 DELIVER_MATCH_SIZE + 2)
#define DELIVER_SESSION_TLS_SESSIONS	1024	/* TLS sessions kept */

struct deliver_session {
	struct deliver_session_ctx	*ctx;
	enum deliver_session_state	 state;
	struct bufferevent		*bev;
	struct event			*timer;
	char				 host[DELIVER_SOCKPATH_MAX]; /* address, path */
	uint16_t			 port;		/* 0: a unix socket */
	/* "[addr]:port" or "unix:PATH": the log's relay= */
	char				 dest[DELIVER_DEST_SIZE];
	/*
	 * The connection and TLS session cache key: dest, and for a TLS
	 * policy its id and the names checked, so nothing made under one
	 * policy serves another.
	 */
	char				 key[DELIVER_SESSION_KEY_SIZE];
	struct deliver_policy		 policy;	/* ctx: our reference */
	const char			*fedfail;	/* federation: why not */
	int				 fednoted;	/* the note is sent */
	struct tls_info			 tls;		/* once SF_TLS */
	int				 dane_usage;	/* matched: 2, 3 */
	int				 flags;
#define DELIVER_SF_REUSED	0x0001	/* this job took it from the cache */
#define DELIVER_SF_8BIT		0x0002	/* this job's body has 8-bit octets */
#define DELIVER_SF_TLS		0x0004	/* TLS is up */
#define DELIVER_SF_NOTLS	0x0008	/* may: the plaintext retry */
#define DELIVER_SF_LMTP		0x0010	/* LMTP (RFC 2033): LHLO, a reply per
					   accepted recipient after the dot */
#define DELIVER_SF_UTF8TX	0x0020	/* this MAIL said SMTPUTF8 */
#define DELIVER_SF_REFUSED	0x0040	/* may: STARTTLS refused, plaintext */
	int				 err;	/* connect() failed at once */
	uint64_t			 tls_req;	/* TLSWAIT: the store's */
	struct deliver_ehlo		 ehlo;	/* what the server announced */
	unsigned int			 ntrans;	/* MAIL commands sent */
	struct deliver_reply		 reply;

	/* The job being run; NULL while idle, resetting or quitting. */
	struct deliver_job		*job;
	deliver_job_cb			 cb;
	void				*arg;
	uint8_t				*accepted;	/* per rcpt: RCPT 2xx */
	uint32_t			 nreplied;	/* RCPT replies read */
	uint32_t			 naccepted;
	uint32_t			 ndot;	/* LMTP: replies after the dot */
	int				 body_bol;	/* dot-stuffing state */

	TAILQ_ENTRY(deliver_session)	 entry;
};

TAILQ_HEAD(deliver_sessions, deliver_session);

struct deliver_session_ctx {
	struct event_base		*base;
	struct deliver_conf		 conf;
	struct deliver_cache		*cache;
	struct deliver_tlscache		*tlscache;	/* without a store */
	struct deliver_tlsstore		 store;		/* take NULL: none */
	uint64_t			 store_req;	/* the last asked */
	struct deliver_sessions		 sessions;	/* idle ones too */
	struct deliver_session_stats	 stats;
	deliver_fed_note_cb		 fednote;	/* NULL: none */
	void				*fednote_arg;
};

static int	deliver_session_exidx = -1;	/* SSL ex_data: the session */
/* SSL_SESSION ex_data: the DANE usage (2, 3) the session was verified by */
static int	deliver_session_sessidx = -1;

/* What a session does once its job has every result. */
enum deliver_session_next {
	DELIVER_SESSION_KEEP,		/* clean: park in the cache, or QUIT */
	DELIVER_SESSION_RESET,		/* RSET, then park */
	DELIVER_SESSION_QUIT,		/* QUIT and close */
	DELIVER_SESSION_CLOSE,		/* close now: peer gone or confused */
};

static void	deliver_session_open(struct deliver_session_ctx *,
		    struct deliver_job *, const char *, uint16_t, int,
		    deliver_job_cb, void *);
static void	deliver_session_free(struct deliver_session *);
static void	deliver_session_readcb(struct bufferevent *, void *);
static void	deliver_session_writecb(struct bufferevent *, void *);
static void	deliver_session_eventcb(struct bufferevent *, short, void *);
static void	deliver_session_timeout(evutil_socket_t, short, void *);
static void	deliver_session_evict(void *, void *);
static void	deliver_session_body_wake(struct deliver_job *, void *);
static void	deliver_session_broken(struct deliver_session *, const char *,
		    const char *);
static void	deliver_session_retry(struct deliver_session *, int);
static int	deliver_session_dane_usage(SSL *);
static int	deliver_session_tls_go(struct deliver_session *, SSL_SESSION *);
static void	deliver_session_mail(struct deliver_session *);
static void	deliver_session_tlslog(struct deliver_session *);
static enum deliver_session_next
		deliver_session_close_next(const struct deliver_session *);
static void	deliver_session_fail(struct deliver_session *,
		    enum deliver_status, const char *, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

static const char *
deliver_session_state_name(enum deliver_session_state state)
{
	switch (state) {
	case DELIVER_S_CONNECT:		return "CONNECT";
	case DELIVER_S_GREETING:	return "GREETING";
	case DELIVER_S_EHLO:		return "EHLO";
	case DELIVER_S_HELO:		return "HELO";
	case DELIVER_S_STARTTLS:	return "STARTTLS";
	case DELIVER_S_TLSWAIT:		return "TLSWAIT";
	case DELIVER_S_HANDSHAKE:	return "HANDSHAKE";
	case DELIVER_S_MAIL:		return "MAIL";
	case DELIVER_S_RCPT:		return "RCPT";
	case DELIVER_S_DATA:		return "DATA";
	case DELIVER_S_BODY:		return "BODY";
	case DELIVER_S_DOT:		return "DOT";
	case DELIVER_S_RSET:		return "RSET";
	case DELIVER_S_REFUSED:		return "REFUSED";
	case DELIVER_S_IDLE:		return "IDLE";
	case DELIVER_S_QUIT:		return "QUIT";
	}
	return "unknown";
}

/* deliver_session_doing - what a state is doing, for "while ..." texts */
static const char *
deliver_session_doing(enum deliver_session_state state)
{
	switch (state) {
	case DELIVER_S_CONNECT:		return "connecting";
	case DELIVER_S_GREETING:
		return "receiving the initial server greeting";
	case DELIVER_S_EHLO:		return "performing the EHLO handshake";
	case DELIVER_S_HELO:		return "performing the HELO handshake";
	case DELIVER_S_STARTTLS:	return "sending STARTTLS";
	case DELIVER_S_TLSWAIT:
		return "looking up a TLS session to resume";
	case DELIVER_S_HANDSHAKE:	return "performing the TLS handshake";
	case DELIVER_S_MAIL:		return "sending MAIL FROM";
	case DELIVER_S_RCPT:		return "sending RCPT TO";
	case DELIVER_S_DATA:		return "sending DATA command";
	case DELIVER_S_BODY:		return "sending message body";
	case DELIVER_S_DOT:
		return "sending end of data -- "
		    "message may be sent more than once";
	case DELIVER_S_RSET:		return "sending RSET";
	case DELIVER_S_REFUSED:		return "refusing the message";
	case DELIVER_S_IDLE:		return "idle";
	case DELIVER_S_QUIT:		return "sending QUIT";
	}
	return "unknown";
}

/* deliver_session_waiting - 1 if the state reads a reply from the server */
static int
deliver_session_waiting(enum deliver_session_state state)
{
	switch (state) {
	case DELIVER_S_CONNECT:
	case DELIVER_S_TLSWAIT:
	case DELIVER_S_HANDSHAKE:
	case DELIVER_S_BODY:
	case DELIVER_S_REFUSED:
	case DELIVER_S_IDLE:
		return 0;
	default:
		return 1;
	}
}

/*
 * deliver_session_arm - the timer that belongs to the current state. It is
 * armed on entering a state, on each complete reply (so every reply,
 * each pipelined RCPT's too, gets a whole command-timeout) and on each
 * piece of body written.
 */
static void
deliver_session_arm(struct deliver_session *s)
{
	const struct deliver_conf	*c = &s->ctx->conf;
	struct timeval			 tv;
	long long			 secs, unit, ms;

	unit = c->timeout_unit_ms > 0 ? c->timeout_unit_ms : 1000;
	switch (s->state) {
	case DELIVER_S_CONNECT:
		secs = s->err != 0 ? 0 : c->connect_timeout;
		break;
	case DELIVER_S_REFUSED:
		secs = 0;
		break;
	case DELIVER_S_TLSWAIT:
		secs = DELIVER_SESSION_STORE_WAIT;
		unit = 1000;
		break;
	case DELIVER_S_IDLE:
		/* The cache times idle connections out. */
		evtimer_del(s->timer);
		return;
	case DELIVER_S_QUIT:
		secs = c->command_timeout < DELIVER_SESSION_QUIT_TIMEOUT ?
		    c->command_timeout : DELIVER_SESSION_QUIT_TIMEOUT;
		break;
	default:
		secs = c->command_timeout;
		break;
	}
	ms = secs * unit;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/* deliver_session_enter - change state, log it, arm its timer */
static void
deliver_session_enter(struct deliver_session *s,
    enum deliver_session_state state)
{
	log_debug("%s: relay=%s, state %s -> %s",
	    s->job != NULL ? s->job->qid : "NOQUEUE", s->dest,
	    deliver_session_state_name(s->state),
	    deliver_session_state_name(state));
	s->state = state;
	deliver_session_arm(s);
}

/* deliver_session_send - queue one formatted command */
static void
deliver_session_send(struct deliver_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
deliver_session_send(struct deliver_session *s, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = evbuffer_add_vprintf(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("%s: evbuffer_add_vprintf", __func__);
}

/* --- results ------------------------------------------------------------- */

/* deliver_session_result - one recipient's result, set exactly once */
static void
deliver_session_result(struct deliver_session *s, uint32_t i,
    enum deliver_status status, const char *dsn, const char *text)
{
	struct deliver_rcpt	*r = &s->job->rcpts[i];

	if (r->final)
		fatalx("%s: %s: recipient %u already final", __func__,
		    s->job->qid, i);
	r->final = 1;
	r->status = status;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	free(r->text);
	r->text = xstrdup(text);
}

/* deliver_session_fail - a result for every recipient still without one */
static void
deliver_session_fail(struct deliver_session *s, enum deliver_status status,
    const char *dsn, const char *fmt, ...)
{
	char		 text[DELIVER_TEXT_MAX];
	va_list		 ap;
	uint32_t	 i;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; i < s->job->nrcpt; i++)
		if (!s->job->rcpts[i].final)
			deliver_session_result(s, i, status, dsn, text);
}

/*
 * deliver_session_said - the server refused: the reply decides. 5xx
 * bounces, anything else defers; a reply whose class is neither 4 nor 5
 * (a 2xx or 3xx where it makes no sense) defers as a protocol error.
 * rcpt is one recipient, or -1 for all still without a result. cmd names
 * the command for "(in reply to ... command)", NULL for the greeting.
 */
static void
deliver_session_said(struct deliver_session *s, long rcpt, const char *cmd)
{
	char			 reply[DELIVER_TEXT_MAX - 200];
	char			 text[DELIVER_TEXT_MAX];
	enum deliver_status	 status;
	const char		*dsn;
	int			 cls = s->reply.code / 100;
	uint32_t		 i;

	deliver_reply_text(&s->reply, reply, sizeof(reply));
	if (cmd == NULL)
		snprintf(text, sizeof(text),
		    "host %s refused to talk to me: %s", s->dest, reply);
	else
		snprintf(text, sizeof(text),
		    "host %s said: %s (in reply to %s command)", s->dest, reply,
		    cmd);
	status = cls == 5 ? DELIVER_BOUNCED : DELIVER_DEFERRED;
	dsn = cls == 4 || cls == 5 ? s->reply.dsn : "4.5.0";
	if (rcpt >= 0) {
		deliver_session_result(s, (uint32_t)rcpt, status, dsn, text);
		return;
	}
	for (i = 0; i < s->job->nrcpt; i++)
		if (!s->job->rcpts[i].final)
			deliver_session_result(s, i, status, dsn, text);
}

/* --- life cycle ---------------------------------------------------------- */

/* deliver_session_idle_per_dest - the cache's bound from the settings */
static size_t
deliver_session_idle_per_dest(const struct deliver_conf *conf)
{
	if (conf->idle_per_dest <= 0)
		return DELIVER_SESSION_IDLE_PER_DEST;
	return conf->idle_per_dest > DELIVER_SESSION_IDLE_PER_DEST_MAX ?
	    DELIVER_SESSION_IDLE_PER_DEST_MAX : (size_t)conf->idle_per_dest;
}

/* deliver_session_ctx_new - the client's shared state */
struct deliver_session_ctx *
deliver_session_ctx_new(struct event_base *base,
    const struct deliver_conf *conf)
{
	struct deliver_session_ctx	*ctx;

	ctx = xcalloc(1, sizeof(*ctx));
	ctx->base = base;
	ctx->conf = *conf;
	ctx->cache = deliver_cache_new(base, deliver_session_idle_per_dest(conf),
	    DELIVER_SESSION_IDLE_TOTAL, DELIVER_SESSION_IDLE_MS,
	    deliver_session_evict, ctx);
	ctx->tlscache = deliver_tlscache_new(DELIVER_SESSION_TLS_SESSIONS);
	TAILQ_INIT(&ctx->sessions);
	if (deliver_session_sessidx == -1 && (deliver_session_sessidx =
	    SSL_SESSION_get_ex_new_index(0, NULL, NULL, NULL, NULL)) == -1)
		fatalx("%s: SSL_SESSION_get_ex_new_index", __func__);
	if (deliver_session_exidx == -1 && (deliver_session_exidx =
	    SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) == -1)
		fatalx("%s: SSL_get_ex_new_index", __func__);
	return ctx;
}

/* deliver_session_ctx_set_conf - new settings, for the next state change */
void
deliver_session_ctx_set_conf(struct deliver_session_ctx *ctx,
    const struct deliver_conf *conf)
{
	ctx->conf = *conf;
	deliver_cache_set_per_dest(ctx->cache,
	    deliver_session_idle_per_dest(conf));
}

/* deliver_session_ctx_free - close everything, call no callback */
void
deliver_session_ctx_free(struct deliver_session_ctx *ctx)
{
	struct deliver_session	*s;

	if (ctx == NULL)
		return;
	deliver_cache_free(ctx->cache);
	while ((s = TAILQ_FIRST(&ctx->sessions)) != NULL)
		deliver_session_free(s);
	deliver_tlscache_free(ctx->tlscache);
	free(ctx);
}

static void
deliver_session_dest(char *dest, size_t len, const char *host, uint16_t port)
{
	if (port == 0)
		snprintf(dest, len, "unix:%s", host);
	else
		snprintf(dest, len, "[%s]:%u", host, (unsigned int)port);
}

const struct deliver_session_stats *
deliver_session_ctx_stats(const struct deliver_session_ctx *ctx)
{
	return &ctx->stats;
}

size_t
deliver_session_ctx_tls_sessions(const struct deliver_session_ctx *ctx)
{
	return deliver_tlscache_count(ctx->tlscache, NULL);
}

/*
 * deliver_session_key - the cache key of a connection to dest under a
 * policy: dest alone for "none" without an id (no TLS at all); an LMTP
 * connection's key says so, and never serves an SMTP job, nor the reverse
 */
static void
deliver_session_key(char *key, size_t len, const char *dest,
    const struct deliver_policy *p, int lmtp)
{
	if (p->id[0] == '\0')
		snprintf(key, len, "%s%s", lmtp ? "lmtp:" : "", dest);
	else
		snprintf(key, len, "%s%s %s %s", lmtp ? "lmtp:" : "", dest,
		    p->id, p->match);
}

/* deliver_session_ctx_idle - idle connections to host:port */
size_t
deliver_session_ctx_idle(const struct deliver_session_ctx *ctx,
    const char *host, uint16_t port)
{
	char	 dest[DELIVER_DEST_SIZE];

	deliver_session_dest(dest, sizeof(dest), host, port);
	return deliver_cache_count(ctx->cache, dest);
}

/* deliver_session_new - a session with no connection yet */
static struct deliver_session *
deliver_session_new(struct deliver_session_ctx *ctx, const char *host,
    uint16_t port, const struct deliver_policy *policy, int lmtp)
{
	struct deliver_session	*s;

	s = xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	s->state = DELIVER_S_CONNECT;
	strlcpy(s->host, host, sizeof(s->host));
	s->port = port;
	deliver_session_dest(s->dest, sizeof(s->dest), host, port);
	s->policy = *policy;
	if (s->policy.ctx != NULL)
		SSL_CTX_up_ref(s->policy.ctx);
	deliver_dane_ref(s->policy.dane);
	if (lmtp)
		s->flags |= DELIVER_SF_LMTP;
	deliver_session_key(s->key, sizeof(s->key), s->dest, &s->policy, lmtp);
	if ((s->timer = evtimer_new(ctx->base, deliver_session_timeout,
	    s)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	deliver_reply_init(&s->reply);
	TAILQ_INSERT_TAIL(&ctx->sessions, s, entry);
	return s;
}

/* deliver_session_detach - the job and the session part ways */
static void
deliver_session_detach(struct deliver_session *s)
{
	if (s->job != NULL)
		s->job->session = NULL;
	s->job = NULL;
	s->cb = NULL;
	s->arg = NULL;
	free(s->accepted);
	s->accepted = NULL;
}

/*
 * deliver_session_tls_close - close_notify before the socket closes, and
 * the SSL forgets this session: a ticket that comes in later has nowhere
 * to go
 */
static void
deliver_session_tls_close(struct deliver_session *s)
{
	SSL	*ssl;

	if ((ssl = bufferevent_openssl_get_ssl(s->bev)) == NULL)
		return;
	SSL_set_ex_data(ssl, deliver_session_exidx, NULL);
	if (s->flags & DELIVER_SF_TLS)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

void
deliver_session_ctx_set_fednote(struct deliver_session_ctx *ctx,
    deliver_fed_note_cb cb, void *arg)
{
	ctx->fednote = cb;
	ctx->fednote_arg = arg;
}

void
deliver_session_fed_note(struct deliver_session_ctx *ctx,
    const struct deliver_fed_note *n)
{
	if (ctx->fednote != NULL)
		ctx->fednote(n, ctx->fednote_arg);
}

/*
 * deliver_session_fed_noted - a federation connection has verified TLS,
 * or closes without: what it had (TLS, verified, resumed) or why it had
 * not (set where it failed; without TLS and without a reason, the
 * connection itself failed). Once per connection.
 */
static void
deliver_session_fed_noted(struct deliver_session *s)
{
	struct deliver_fed_note	 n;
	int			 tls = (s->flags & DELIVER_SF_TLS) != 0;

	if (s->policy.level != CONF_TLS_FEDERATION ||
	    s->policy.member[0] == '\0' || s->fednoted)
		return;
	s->fednoted = 1;
	memset(&n, 0, sizeof(n));
	n.member = s->policy.member;
	n.tls = tls;
	n.verified = tls && s->tls.verified;
	n.resumed = tls && s->tls.resumed;
	n.version = tls ? s->tls.version : "";
	n.failure = s->fedfail != NULL ? s->fedfail : tls ? NULL : "connect";
	deliver_session_fed_note(s->ctx, &n);
}

static void
deliver_session_free(struct deliver_session *s)
{
	log_debug("%s: relay=%s, closed in state %s",
	    s->job != NULL ? s->job->qid : "NOQUEUE", s->dest,
	    deliver_session_state_name(s->state));
	deliver_session_fed_noted(s);
	deliver_session_detach(s);
	TAILQ_REMOVE(&s->ctx->sessions, s, entry);
	if (s->bev != NULL) {
		deliver_session_tls_close(s);
		bufferevent_free(s->bev);
	}
	SSL_CTX_free(s->policy.ctx);
	deliver_dane_unref(s->policy.dane);
	event_free(s->timer);
	deliver_reply_clear(&s->reply);
	free(s);
}

/* deliver_session_attach - take on a job */
static void
deliver_session_attach(struct deliver_session *s, struct deliver_job *job,
    deliver_job_cb cb, void *arg)
{
	s->job = job;
	s->cb = cb;
	s->arg = arg;
	job->session = s;
	s->accepted = xcalloc(job->nrcpt, 1);
	s->nreplied = 0;
	s->naccepted = 0;
	s->ndot = 0;
	s->body_bol = 1;
	s->flags &= ~(DELIVER_SF_REUSED | DELIVER_SF_8BIT);
	/* The queue saw the whole body arrive: it knows. */
	if (job->flags & DELIVER_JF_8BIT)
		s->flags |= DELIVER_SF_8BIT;
	deliver_body_rewind(job);
	deliver_body_set_wake(job, deliver_session_body_wake, s);
	memset(&job->t_conn, 0, sizeof(job->t_conn));
}

/* deliver_session_quit - say goodbye; the session ends on the reply */
static void
deliver_session_quit(struct deliver_session *s)
{
	deliver_session_send(s, "QUIT\r\n");
	deliver_session_enter(s, DELIVER_S_QUIT);
}

/*
 * deliver_session_park - offer a clean, job-less connection to the cache.
 * It is not kept when it has served its transactions, when the cache is
 * full, or when the server sent something nobody asked for (a reply we
 * would otherwise take for the next job's).
 */
static void
deliver_session_park(struct deliver_session *s)
{
	if (s->ntrans >= DELIVER_SESSION_MAX_TRANS ||
	    evbuffer_get_length(bufferevent_get_input(s->bev)) != 0 ||
	    !deliver_cache_put(s->ctx->cache, s->key, s)) {
		deliver_session_quit(s);
		return;
	}
	deliver_session_enter(s, DELIVER_S_IDLE);
}

/* deliver_session_evict - the cache is done with an idle connection */
static void
deliver_session_evict(void *conn, void *arg)
{
	struct deliver_session	*s = conn;

	(void)arg;
	deliver_session_quit(s);
}

/*
 * deliver_session_finish - every recipient has a result: move the session
 * on, then hand the job back. The callback is the last thing done: after
 * it, the caller must not touch s.
 */
static void
deliver_session_finish(struct deliver_session *s,
    enum deliver_session_next next)
{
	struct deliver_job	*job = s->job;
	deliver_job_cb		 cb = s->cb;
	void			*arg = s->arg;
	uint32_t		 i;

	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpts[i].final)
			fatalx("%s: %s: recipient %u has no result", __func__,
			    job->qid, i);
	deliver_session_tlslog(s);
	deliver_session_detach(s);
	switch (next) {
	case DELIVER_SESSION_KEEP:
		if (s->ctx->conf.no_reuse)
			deliver_session_quit(s);
		else
			deliver_session_park(s);
		break;
	case DELIVER_SESSION_RESET:
		deliver_session_send(s, "RSET\r\n");
		deliver_session_enter(s, DELIVER_S_RSET);
		break;
	case DELIVER_SESSION_QUIT:
		deliver_session_quit(s);
		break;
	case DELIVER_SESSION_CLOSE:
		deliver_session_free(s);
		break;
	}
	cb(job, arg);
}

/*
 * deliver_session_retry - a reused connection was dead before it answered
 * MAIL, or (plaintext) TLS failed under may: the job starts over on a
 * fresh connection. Nothing was final yet, so nothing is lost and nothing
 * counts as a failure; a fresh connection is never "reused" and a
 * plaintext one never tries TLS, so each happens at most once per job.
 */
static void
deliver_session_retry(struct deliver_session *s, int plaintext)
{
	struct deliver_session_ctx	*ctx = s->ctx;
	struct deliver_job		*job = s->job;
	deliver_job_cb			 cb = s->cb;
	void				*arg = s->arg;
	char				 host[DELIVER_SOCKPATH_MAX];
	uint16_t			 port = s->port;

	if (!plaintext)
		log_debug("%s: relay=%s, cached connection was dead, "
		    "reconnecting", job->qid, s->dest);
	strlcpy(host, s->host, sizeof(host));
	deliver_session_detach(s);
	deliver_session_free(s);
	deliver_session_open(ctx, job, host, port, plaintext, cb, arg);
}

/* --- commands ------------------------------------------------------------ */

/*
 * deliver_session_verified - the log's verified=: yes (verify, secure),
 * dane-ee or dane-ta (the usage of the record that matched, RFC 7218's
 * names), or no
 */
static const char *
deliver_session_verified(const struct deliver_session *s)
{
	if (s->policy.level == CONF_TLS_FEDERATION && s->tls.verified)
		return "federation";
	if (s->policy.dane != NULL)
		return s->dane_usage == 3 ? "dane-ee" : s->dane_usage == 2 ?
		    "dane-ta" : "dane";
	return deliver_policy_verifies(&s->policy) ? "yes" : "no";
}

/*
 * deliver_session_tlslog - what the job's log line says about TLS: the
 * policy, where it came from, and what the connection has
 */
static void
deliver_session_tlslog(struct deliver_session *s)
{
	const char	*lv = conf_tls_level_name(s->policy.level);

	if (s->policy.id[0] == '\0') {
		s->job->tlslog[0] = '\0';
		return;
	}
	if (!(s->flags & DELIVER_SF_TLS)) {
		snprintf(s->job->tlslog, sizeof(s->job->tlslog),
		    ", policy=%s, tls=none%s", lv,
		    s->flags & DELIVER_SF_REFUSED ? " (STARTTLS refused)" :
		    s->flags & DELIVER_SF_NOTLS ? " (plaintext retry)" : "");
		return;
	}
	snprintf(s->job->tlslog, sizeof(s->job->tlslog), ", policy=%s, "
	    "tls=%s, cipher=%s, verified=%s, resumed=%s%s%s", lv,
	    s->tls.version, s->tls.cipher, deliver_session_verified(s),
	    s->tls.resumed ? "yes" : "no",
	    s->policy.member[0] != '\0' ? ", trust=federation:" : "",
	    s->policy.member);
}

/* deliver_session_high - 1 if p has an octet over 127 */
static int
deliver_session_high(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p & 0x80)
			return 1;
	return 0;
}

/* deliver_session_utf8 - 1 if the sender or a recipient is not ASCII */
static int
deliver_session_utf8(const struct deliver_job *job)
{
	uint32_t	 i;

	if (deliver_session_high(job->sender))
		return 1;
	for (i = 0; i < job->nrcpt; i++)
		if (deliver_session_high(job->rcpts[i].addr))
			return 1;
	return 0;
}

/*
 * deliver_session_refuse - the job cannot go over this connection as the
 * server described itself: every recipient bounces with dsn and the
 * reason, nothing of the message is sent, and the connection (still
 * clean: no MAIL went out) is handed back from the loop, never from
 * inside deliver_session_start()
 */
static void
deliver_session_refuse(struct deliver_session *s, const char *dsn,
    const char *fmt, ...)
{
	char		 text[DELIVER_TEXT_MAX];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_debug("%s: relay=%s, not sent: %s", s->job->qid, s->dest, text);
	deliver_session_fail(s, DELIVER_BOUNCED, dsn, "%s", text);
	deliver_session_enter(s, DELIVER_S_REFUSED);
}

/*
 * deliver_session_rcpt - one RCPT TO, with the DSN parameters when the
 * server offers DSN (RFC 3461 section 4): NOTIFY as the client asked,
 * ORCPT as it sent it (xtext, checked by deliver.c). A utf-8 ORCPT that
 * holds raw UTF-8 goes only into an SMTPUTF8 transaction.
 */
static void
deliver_session_rcpt(struct deliver_session *s, uint32_t i)
{
	const struct deliver_rcpt	*r = &s->job->rcpts[i];
	uint32_t			 n = r->notify;

	deliver_session_send(s, "RCPT TO:<%s>", r->addr);
	if (s->ehlo.flags & DELIVER_EHLO_DSN) {
		if (n & IPC_NOTIFY_NEVER)
			deliver_session_send(s, " NOTIFY=NEVER");
		else if (n != 0)
			deliver_session_send(s, " NOTIFY=%s%s%s%s%s",
			    n & IPC_NOTIFY_SUCCESS ? "SUCCESS" : "",
			    (n & IPC_NOTIFY_SUCCESS) &&
			    (n & (IPC_NOTIFY_FAILURE | IPC_NOTIFY_DELAY)) ?
			    "," : "",
			    n & IPC_NOTIFY_FAILURE ? "FAILURE" : "",
			    (n & IPC_NOTIFY_FAILURE) && (n & IPC_NOTIFY_DELAY) ?
			    "," : "",
			    n & IPC_NOTIFY_DELAY ? "DELAY" : "");
		if (r->orcpt != NULL && r->orcpt_type != 0 &&
		    ((s->flags & DELIVER_SF_UTF8TX) ||
		    !deliver_session_high(r->orcpt)))
			deliver_session_send(s, " ORCPT=%s;%s",
			    r->orcpt_type == DELIVER_ORCPT_UTF8 ? "utf-8" :
			    "rfc822", r->orcpt);
	}
	deliver_session_send(s, "\r\n");
}

/*
 * deliver_session_mail - start the transaction: MAIL, and with PIPELINING
 * every RCPT and DATA in the same write (RFC 2920 section 3.1: DATA is the
 * last command of a group). First what the server said of itself decides
 * whether the message may go at all; each refusal bounces every
 * recipient without a byte of the message sent:
 *
 *	SIZE n, n > 0, and the message is larger	5.3.4 (RFC 1870)
 *	a non-ASCII sender or recipient, no SMTPUTF8	5.6.7 (RFC 6531)
 *	an 8-bit body, no 8BITMIME			5.6.3 (RFC 6152
 *		forbids sending it; aval does not convert to 7 bits)
 *
 * MAIL carries SIZE= when offered, BODY=8BITMIME for an 8-bit body,
 * SMTPUTF8 when offered and the envelope is not ASCII or the client
 * asked for it, and RET=, ENVID= when the server offers DSN.
 */
static void
deliver_session_mail(struct deliver_session *s)
{
	struct deliver_job	*job = s->job;
	int			 utf8 = deliver_session_utf8(job);
	uint32_t		 i;

	gettimeofday(&job->t_conn, NULL);
	strlcpy(job->relay, s->dest, sizeof(job->relay));
	s->flags &= ~DELIVER_SF_UTF8TX;
	if ((s->ehlo.flags & DELIVER_EHLO_SIZE) && s->ehlo.size > 0 &&
	    job->size > s->ehlo.size) {
		deliver_session_refuse(s, "5.3.4", "message size %llu exceeds "
		    "the next hop's limit %llu (SIZE of host %s)",
		    (unsigned long long)job->size,
		    (unsigned long long)s->ehlo.size, s->dest);
		return;
	}
	if (utf8 && !(s->ehlo.flags & DELIVER_EHLO_SMTPUTF8)) {
		deliver_session_refuse(s, "5.6.7", "the envelope has a "
		    "non-ASCII address, and host %s does not offer SMTPUTF8",
		    s->dest);
		return;
	}
	if ((s->flags & DELIVER_SF_8BIT) &&
	    !(s->ehlo.flags & DELIVER_EHLO_8BITMIME)) {
		deliver_session_refuse(s, "5.6.3", "the message has 8-bit "
		    "content, and host %s does not offer 8BITMIME", s->dest);
		return;
	}
	s->ntrans++;
	deliver_session_send(s, "MAIL FROM:<%s>", job->sender);
	if (s->ehlo.flags & DELIVER_EHLO_SIZE)
		deliver_session_send(s, " SIZE=%llu",
		    (unsigned long long)job->size);
	if (s->flags & DELIVER_SF_8BIT)
		deliver_session_send(s, " BODY=8BITMIME");
	if ((s->ehlo.flags & DELIVER_EHLO_SMTPUTF8) &&
	    (utf8 || (job->flags & DELIVER_JF_SMTPUTF8))) {
		s->flags |= DELIVER_SF_UTF8TX;
		deliver_session_send(s, " SMTPUTF8");
	}
	if (s->ehlo.flags & DELIVER_EHLO_DSN) {
		if (job->ret != 0)
			deliver_session_send(s, " RET=%s",
			    job->ret == DELIVER_RET_HDRS ? "HDRS" : "FULL");
		if (job->envid != NULL)
			deliver_session_send(s, " ENVID=%s", job->envid);
	}
	deliver_session_send(s, "\r\n");
	if (s->ehlo.flags & DELIVER_EHLO_PIPELINING) {
		for (i = 0; i < job->nrcpt; i++)
			deliver_session_rcpt(s, i);
		deliver_session_send(s, "DATA\r\n");
	}
	deliver_session_enter(s, DELIVER_S_MAIL);
}

/* deliver_session_dotstuff - append a piece of body, dots doubled */
void
deliver_session_dotstuff(struct evbuffer *out, const void *data, size_t n,
    int *bol)
{
	const char	*p = data, *q, *end = p + n;
	int		 last;

	if (n == 0)
		return;
	last = p[n - 1] == '\n';
	if (*bol && p[0] == '.' && evbuffer_add(out, ".", 1) == -1)
		fatalx("%s: evbuffer_add", __func__);
	/*
	 * Copy whole runs; stop only where a line starts with a dot. The
	 * line ends are found with memchr(), which is many times faster
	 * than memmem() with a two-octet needle (that went octet by octet,
	 * and cost more than the rest of sending a large body).
	 */
	for (q = p; q < end &&
	    (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++) {
		if (q + 1 == end || q[1] != '.')
			continue;
		if (evbuffer_add(out, p, (size_t)(q + 1 - p)) == -1 ||
		    evbuffer_add(out, ".", 1) == -1)
			fatalx("%s: evbuffer_add", __func__);
		p = q + 1;
	}
	if (end > p && evbuffer_add(out, p, (size_t)(end - p)) == -1)
		fatalx("%s: evbuffer_add", __func__);
	*bol = last;
}

/* deliver_session_dotend - end the body: finish the last line, then "." */
void
deliver_session_dotend(struct evbuffer *out, int bol)
{
	if (evbuffer_add(out, bol ? ".\r\n" : "\r\n.\r\n", bol ? 3 : 5) == -1)
		fatalx("%s: evbuffer_add", __func__);
}

/*
 * deliver_session_pump - keep the output fed with body, a piece at a time
 * as the queue hands them over (deliver_body.h), so a large message is
 * never whole in deliver: at most one piece and the output buffer's high
 * mark. Each call is progress, so it re-arms the timer. A body the queue
 * cannot read ends the connection before the final dot, so the server
 * discards what it has; then the session is gone and -1 says so (the
 * caller must not touch s), else 0.
 */
static int
deliver_session_pump(struct deliver_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	const void	*p;
	size_t		 n;

	while (evbuffer_get_length(out) < DELIVER_SESSION_BODY_HIGH) {
		switch (deliver_body_get(s->job, &p, &n)) {
		case DELIVER_BODY_DATA:
			deliver_session_dotstuff(out, p, n, &s->body_bol);
			continue;
		case DELIVER_BODY_WAIT:
			deliver_session_arm(s);
			return 0;
		case DELIVER_BODY_END:
			deliver_session_dotend(out, s->body_bol);
			bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
			deliver_session_enter(s, DELIVER_S_DOT);
			return 0;
		case DELIVER_BODY_ERROR:
			deliver_session_broken(s, "4.3.0",
			    "stored message unreadable");
			return -1;
		}
	}
	deliver_session_arm(s);
	return 0;
}

/* deliver_session_body_wake - the next piece of body is in */
static void
deliver_session_body_wake(struct deliver_job *job, void *arg)
{
	struct deliver_session	*s = arg;

	if (s->job != job || s->state != DELIVER_S_BODY)
		return;
	if (deliver_session_pump(s) == -1)
		return;
	/* A server that answered early has its reply waiting: read it. */
	if (s->state == DELIVER_S_DOT &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		deliver_session_readcb(s->bev, s);
}

/* --- TLS ----------------------------------------------------------------- */

/*
 * deliver_session_keep - a session for the next connection under this
 * key: into the store (serialised; OpenSSL keeps its reference: 0), or
 * the context's own cache (which takes the reference: 1)
 */
static int
deliver_session_keep(struct deliver_session *s, SSL_SESSION *sess, int usage)
{
	struct deliver_session_ctx	*ctx = s->ctx;
	unsigned char			*der = NULL;
	int				 len;

	if (ctx->store.take == NULL) {
		deliver_tlscache_put(ctx->tlscache, s->key, sess);
		return 1;
	}
	if ((len = i2d_SSL_SESSION(sess, &der)) > 0)
		ctx->store.put(ctx->store.arg, s->key, der, (size_t)len, usage,
		    (int64_t)SSL_SESSION_get_time(sess) +
		    (int64_t)SSL_SESSION_get_timeout(sess));
	OPENSSL_free(der);
	return 0;
}

/*
 * deliver_session_newsess - OpenSSL has a session (or a TLS 1.3 ticket)
 * for the connection: keep it under the connection's key. Never one from
 * a connection whose policy verifies and whose peer did not verify: that
 * connection is closed unused, and its session must not come back.
 * 1: the cache took the reference.
 */
static int
deliver_session_newsess(SSL *ssl, SSL_SESSION *sess)
{
	struct deliver_session	*s;

	int			 usage = 0;

	if ((s = SSL_get_ex_data(ssl, deliver_session_exidx)) == NULL)
		return 0;
	if (deliver_policy_verifies(&s->policy) &&
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	/* A resumption shows no certificate: the session says how. */
	if (s->policy.dane != NULL && (usage = deliver_session_dane_usage(ssl))
	    != 0)
		SSL_SESSION_set_ex_data(sess, deliver_session_sessidx,
		    (void *)(uintptr_t)usage);
	return deliver_session_keep(s, sess, usage);
}

/*
 * deliver_session_dane_usage - the usage of the TLSA record that matched
 * (2 DANE-TA, 3 DANE-EE), or for a resumed session the one its first
 * connection matched; 0 if none did
 */
static int
deliver_session_dane_usage(SSL *ssl)
{
	SSL_SESSION	*sess;
	uint8_t		 usage;

	if (SSL_get0_dane_tlsa(ssl, &usage, NULL, NULL, NULL, NULL) >= 0)
		return usage;
	if ((sess = SSL_get0_session(ssl)) != NULL)
		return (int)(uintptr_t)SSL_SESSION_get_ex_data(sess,
		    deliver_session_sessidx);
	return 0;
}

/*
 * deliver_session_dane_nomatch - 1 if a failed DANE verification means no
 * record matched: OpenSSL says so (DANE-EE, or DANE-TA's digests checked
 * against a chain) or could not build a chain to a DANE-TA anchor. Any
 * other error came after a DANE-TA match (names, dates, signatures).
 */
static int
deliver_session_dane_nomatch(long vr)
{
	switch (vr) {
	case X509_V_ERR_DANE_NO_MATCH:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return 1;
	default:
		return 0;
	}
}

/*
 * deliver_session_tls_dane - hand the TLSA records to OpenSSL (RFC 7672
 * 3.2): the base domain is the SNI and the first reference name, the
 * host and next hop more names for DANE-TA; DANE-EE checks no name
 */
static int
deliver_session_tls_dane(struct deliver_session *s, SSL *ssl)
{
	const struct deliver_dane	*d = s->policy.dane;
	const struct deliver_dane_rec	*r;
	size_t				 i, n = 0;

	if (SSL_set_tlsext_host_name(ssl, d->names[0]) != 1 ||
	    SSL_dane_enable(ssl, d->names[0]) <= 0)
		return -1;
	for (i = 1; i < d->nnames; i++)
		if (SSL_add1_host(ssl, d->names[i]) != 1)
			return -1;
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < d->nrecs; i++) {
		r = &d->recs[i];
		switch (SSL_dane_tlsa_add(ssl, r->usage, r->selector, r->mtype,
		    r->data, r->len)) {
		case 1:
			n++;
			break;
		case 0:
			/* deliver_tls_dane_usable() let it through: odd. */
			log_warnx("%s: relay=%s, OpenSSL finds TLSA record %u "
			    "%u %u unusable", s->job != NULL ? s->job->qid :
			    "NOQUEUE", s->dest, r->usage, r->selector,
			    r->mtype);
			ERR_clear_error();
			break;
		default:
			return -1;
		}
	}
	/* With no record, OpenSSL would fall back to its (empty) CA store. */
	return n > 0 ? 0 : -1;
}

/*
 * deliver_session_tls_names - what the peer's certificate must name: each
 * of the policy's names (a host name, ".domain" for any name under it,
 * or one numeric address); the first host name is also sent as SNI
 */
static int
deliver_session_tls_names(struct deliver_session *s, SSL *ssl)
{
	char		 name[DELIVER_MATCH_SIZE];
	const char	*p = s->policy.match;
	unsigned char	 a[16];
	size_t		 n;
	int		 sni = 0;

	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	while (*p != '\0') {
		n = strcspn(p, " ");
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (*p == ' ')
			p++;
		if (inet_pton(AF_INET, name, a) == 1 ||
		    inet_pton(AF_INET6, name, a) == 1) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    name) != 1)
				return -1;
			continue;
		}
		if (!deliver_tls_verifies(s->policy.level))
			continue;
		if (SSL_add1_host(ssl, name) != 1)
			return -1;
		if (!sni && name[0] != '.') {
			if (SSL_set_tlsext_host_name(ssl, name) != 1)
				return -1;
			sni = 1;
		}
	}
	return 0;
}

/*
 * deliver_session_tls_start - the server said 220 to STARTTLS: hand the
 * socket to an OpenSSL bufferevent, offering a cached session if there
 * is one (with a store: offer, or NULL; the caller frees it). 0, or -1
 * with the session left as it was.
 */
static int
deliver_session_tls_start(struct deliver_session *s, SSL_SESSION *offer)
{
	struct bufferevent	*bev;
	SSL_SESSION		*sess;
	SSL			*ssl;
	int			 fd;

	SSL_CTX_set_session_cache_mode(s->policy.ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(s->policy.ctx, deliver_session_newsess);
	/* Once per context, and idempotent: DANE's digests and its state. */
	if (s->policy.dane != NULL && SSL_CTX_dane_enable(s->policy.ctx) <= 0)
		return -1;
	if ((ssl = SSL_new(s->policy.ctx)) == NULL)
		return -1;
	if (deliver_session_tls_names(s, ssl) == -1 ||
	    (s->policy.dane != NULL &&
	    deliver_session_tls_dane(s, ssl) == -1) ||
	    !SSL_set_ex_data(ssl, deliver_session_exidx, s)) {
		SSL_free(ssl);
		return -1;
	}
	if (s->ctx->store.take != NULL) {
		if (offer != NULL)
			SSL_set_session(ssl, offer);	/* its own reference */
	} else if ((sess = deliver_tlscache_take(s->ctx->tlscache,
	    s->key)) != NULL) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess);
	}
	fd = bufferevent_getfd(s->bev);
	bev = bufferevent_openssl_socket_new(s->ctx->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* The old bufferevent lets go of the socket, and closes nothing. */
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	s->bev = bev;
	bufferevent_setcb(s->bev, deliver_session_readcb,
	    deliver_session_writecb, deliver_session_eventcb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, DELIVER_SESSION_READ_HIGH);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	deliver_session_enter(s, DELIVER_S_HANDSHAKE);
	return 0;
}

/* deliver_session_tls_why - why the TLS bufferevent failed, printable */
static void
deliver_session_tls_why(struct deliver_session *s, char *buf, size_t len)
{
	tls_bev_error(s->bev, buf, len);
	log_printable(buf, buf, len);
}

/*
 * deliver_session_tls_failed - STARTTLS did not give us TLS. Where TLS is
 * required, the message waits (4.7.5, or 4.7.4 when the server would
 * not): no byte of it has gone out. Under may, the job tries once more,
 * on a fresh connection, in plaintext, as Postfix does. Returns -1: s is
 * gone or in other hands.
 */
static int
deliver_session_tls_failed(struct deliver_session *s, const char *dsn,
    const char *why)
{
	s->ctx->stats.tls_failed++;
	if (s->fedfail == NULL)
		s->fedfail = "handshake";
	if (s->job == NULL) {
		deliver_session_free(s);
		return -1;
	}
	if (!deliver_policy_required(&s->policy) &&
	    !(s->flags & DELIVER_SF_NOTLS)) {
		log_info("%s: relay=%s, policy=%s, TLS failed (%s); trying "
		    "again in plaintext", s->job->qid, s->dest,
		    conf_tls_level_name(s->policy.level), why);
		deliver_session_retry(s, 1);
		return -1;
	}
	deliver_session_fail(s, DELIVER_DEFERRED, dsn, "TLS is required "
	    "(policy %s), but %s", conf_tls_level_name(s->policy.level), why);
	/* Nothing more is said over a connection we do not trust. */
	deliver_session_finish(s, DELIVER_SESSION_CLOSE);
	return -1;
}

/*
 * deliver_session_tls_done - the handshake finished: check the peer as
 * the policy says, then EHLO again (RFC 3207 section 4.2: forget what
 * the server said before TLS)
 */
static void
deliver_session_tls_done(struct deliver_session *s)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);
	SSL_SESSION	*sess;
	char		 why[DELIVER_TEXT_MAX - 128];

	tls_info_get(ssl, &s->tls);
	s->ctx->stats.handshakes++;
	if (s->tls.resumed)
		s->ctx->stats.resumed++;
	if (s->policy.dane != NULL)
		s->dane_usage = deliver_session_dane_usage(ssl);
	if (deliver_policy_verifies(&s->policy) &&
	    (!s->tls.peer_cert || !s->tls.verified)) {
		if (s->policy.level == CONF_TLS_FEDERATION && s->tls.peer_cert)
			strlcpy(s->tls.verify_err, X509_verify_cert_error_string(
			    tls_verify_first(ssl)), sizeof(s->tls.verify_err));
		s->fedfail = !s->tls.peer_cert ? "no-certificate" :
		    fed_reason_class(tls_verify_first(ssl));
		if (s->policy.dane == NULL || !s->tls.peer_cert)
			snprintf(why, sizeof(why), "the certificate of %s did "
			    "not verify: %s", s->dest, !s->tls.peer_cert ?
			    "no certificate" : s->tls.verify_err);
		else if (deliver_session_dane_nomatch(
		    SSL_get_verify_result(ssl)))
			snprintf(why, sizeof(why), "DANE: no TLSA record "
			    "matched the certificate chain of %s (%s, %zu "
			    "record%s: %s)", s->dest, s->policy.dane->names[0],
			    s->policy.dane->nrecs, s->policy.dane->nrecs == 1 ?
			    "" : "s", s->tls.verify_err);
		else
			/* A DANE-TA record matched; the leaf did not do. */
			snprintf(why, sizeof(why), "DANE: the certificate of "
			    "%s did not verify for %s: %s", s->dest,
			    s->policy.dane->names[0], s->tls.verify_err);
		(void)deliver_session_tls_failed(s, "4.7.5", why);
		return;
	}
	/* A TLS 1.2 session may serve again; a 1.3 ticket may not. */
	if (s->tls.resumed && SSL_version(ssl) < TLS1_3_VERSION &&
	    (sess = SSL_get1_session(ssl)) != NULL &&
	    deliver_session_keep(s, sess, deliver_session_dane_usage(ssl)) == 0)
		SSL_SESSION_free(sess);
	s->flags |= DELIVER_SF_TLS;
	deliver_session_fed_noted(s);
	log_debug("%s: relay=%s, policy=%s, tls=%s, cipher=%s, verified=%s, "
	    "resumed=%s%s%s", s->job != NULL ? s->job->qid : "NOQUEUE",
	    s->dest, conf_tls_level_name(s->policy.level), s->tls.version,
	    s->tls.cipher, deliver_session_verified(s),
	    s->tls.resumed ? "yes" : "no",
	    s->tls.peer_cert ? ", peer=" : "",
	    s->tls.peer_cert ? s->tls.subject : "");
	memset(&s->ehlo, 0, sizeof(s->ehlo));
	deliver_session_send(s, "EHLO %s\r\n", s->ctx->conf.hostname);
	deliver_session_enter(s, DELIVER_S_EHLO);
}

/*
 * deliver_session_after_ehlo - the server has told its extensions: say
 * STARTTLS where the policy wants TLS and there is none yet, or go on to
 * MAIL. 0 to go on reading, -1 when s may be gone.
 */
static int
deliver_session_after_ehlo(struct deliver_session *s)
{
	enum conf_tls_level	 lv = s->policy.level;
	char			 why[DELIVER_TEXT_MAX - 128];

	if ((s->flags & DELIVER_SF_TLS) || lv == CONF_TLS_NONE ||
	    s->policy.ctx == NULL || (s->flags & DELIVER_SF_NOTLS)) {
		deliver_session_mail(s);
		return 0;
	}
	if (!(s->ehlo.flags & DELIVER_EHLO_STARTTLS)) {
		if (!deliver_policy_required(&s->policy)) {
			deliver_session_mail(s);
			return 0;
		}
		s->ctx->stats.tls_failed++;
		s->fedfail = "no-starttls";
		snprintf(why, sizeof(why), "host %s did not offer STARTTLS",
		    s->dest);
		deliver_session_fail(s, DELIVER_DEFERRED, "4.7.4", "TLS is "
		    "required (policy %s), but %s", conf_tls_level_name(lv),
		    why);
		deliver_session_finish(s, DELIVER_SESSION_QUIT);
		return -1;
	}
	deliver_session_send(s, "STARTTLS\r\n");
	deliver_session_enter(s, DELIVER_S_STARTTLS);
	return 0;
}

/*
 * deliver_session_tls_go - start the handshake, offering sess (with a
 * store; freed here). -1: the reply loop must stop (the bufferevent
 * changed, or the session failed and may be gone).
 */
static int
deliver_session_tls_go(struct deliver_session *s, SSL_SESSION *sess)
{
	char	 why[DELIVER_TEXT_MAX - 128], e[256];
	int	 rv;

	rv = deliver_session_tls_start(s, sess);
	SSL_SESSION_free(sess);
	if (rv == -1) {
		snprintf(why, sizeof(why), "cannot start TLS with %s: %s",
		    s->dest, tls_error(e, sizeof(e)));
		return deliver_session_tls_failed(s, "4.7.5", why);
	}
	return -1;
}

/* deliver_session_ctx_set_store - where TLS sessions are kept */
void
deliver_session_ctx_set_store(struct deliver_session_ctx *ctx,
    const struct deliver_tlsstore *store)
{
	if (store != NULL)
		ctx->store = *store;
	else
		memset(&ctx->store, 0, sizeof(ctx->store));
}

/*
 * deliver_session_ctx_tls_answer - the store's answer to take(): the
 * session that asked starts its handshake, offering what came (an answer
 * nobody waits for any more is dropped; DER that does not decode is no
 * session)
 */
void
deliver_session_ctx_tls_answer(struct deliver_session_ctx *ctx, uint64_t req,
    const void *der, size_t len, int usage)
{
	struct deliver_session	*s;
	SSL_SESSION		*sess = NULL;
	const unsigned char	*p = der;

	TAILQ_FOREACH(s, &ctx->sessions, entry)
		if (s->state == DELIVER_S_TLSWAIT && s->tls_req == req)
			break;
	if (s == NULL)
		return;
	if (len > 0 && len <= LONG_MAX &&
	    (sess = d2i_SSL_SESSION(NULL, &p, (long)len)) == NULL) {
		log_warnx("%s: relay=%s, a stored TLS session that does not "
		    "decode; handshake without it", s->job != NULL ?
		    s->job->qid : "NOQUEUE", s->dest);
		ERR_clear_error();
	}
	if (sess != NULL && (usage == 2 || usage == 3))
		SSL_SESSION_set_ex_data(sess, deliver_session_sessidx,
		    (void *)(uintptr_t)usage);
	(void)deliver_session_tls_go(s, sess);
}

/*
 * deliver_session_starttls_reply - the server's answer to STARTTLS. A 220
 * followed by anything at all is refused: those bytes came before TLS and
 * would be read as if protected by it (the CVE-2021-38371 class). Under
 * may, a refusal leaves the session in plaintext, as RFC 3207 allows.
 */
static int
deliver_session_starttls_reply(struct deliver_session *s)
{
	char	 reply[DELIVER_TEXT_MAX - 256], why[DELIVER_TEXT_MAX - 128];

	if (s->reply.code == 220) {
		if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
			snprintf(why, sizeof(why), "host %s sent data after "
			    "its 220 to STARTTLS, before the TLS handshake",
			    s->dest);
			return deliver_session_tls_failed(s, "4.7.5", why);
		}
		if (s->ctx->store.take != NULL &&
		    s->ctx->store.take(s->ctx->store.arg,
		    s->tls_req = ++s->ctx->store_req, s->key) == 0) {
			/* Nothing is read until the handshake. */
			bufferevent_disable(s->bev, EV_READ);
			deliver_session_enter(s, DELIVER_S_TLSWAIT);
			return -1;
		}
		return deliver_session_tls_go(s, NULL);
	}
	deliver_reply_text(&s->reply, reply, sizeof(reply));
	if (s->reply.code == 421 || deliver_policy_required(&s->policy)) {
		s->ctx->stats.tls_failed++;
		s->fedfail = "starttls-refused";
		deliver_session_fail(s, DELIVER_DEFERRED, "4.7.4", "TLS is "
		    "required (policy %s), but host %s said: %s (in reply to "
		    "STARTTLS command)", conf_tls_level_name(s->policy.level),
		    s->dest, reply);
		deliver_session_finish(s, deliver_session_close_next(s));
		return -1;
	}
	log_info("%s: relay=%s, policy=%s, STARTTLS refused (%s); going on "
	    "in plaintext", s->job->qid, s->dest,
	    conf_tls_level_name(s->policy.level), reply);
	s->flags |= DELIVER_SF_NOTLS | DELIVER_SF_REFUSED;
	deliver_session_mail(s);
	return 0;
}

/* --- replies ------------------------------------------------------------- */

/* deliver_session_close_next - after a refusal: 421 means it is closing */
static enum deliver_session_next
deliver_session_close_next(const struct deliver_session *s)
{
	return s->reply.code == 421 ? DELIVER_SESSION_CLOSE :
	    DELIVER_SESSION_QUIT;
}

/*
 * deliver_session_sent - recipient i was accepted for good; with DSN at
 * the server its NOTIFY went on, and the next hop reports from here on
 */
static void
deliver_session_sent(struct deliver_session *s, uint32_t i, const char *text)
{
	deliver_session_result(s, i, DELIVER_SENT, s->reply.dsn, text);
	s->job->rcpts[i].dsn_passed = (s->ehlo.flags & DELIVER_EHLO_DSN) != 0;
}

/*
 * deliver_session_lmtp_dot - one of the replies after the dot, in LMTP
 * (RFC 2033 section 4.2): one per accepted recipient, in the order of
 * their RCPTs, each that recipient's result. A 421 is the server going
 * away: that recipient and every later one defer. 0 to read the next
 * reply, -1 once the job is handed back.
 */
static int
deliver_session_lmtp_dot(struct deliver_session *s)
{
	struct deliver_job	*job = s->job;
	char			 text[DELIVER_TEXT_MAX];
	uint32_t		 i, n;

	/* The ndot-th accepted recipient is the one this reply is for. */
	for (i = 0, n = 0; i < job->nrcpt; i++)
		if (s->accepted[i] && n++ == s->ndot)
			break;
	if (i == job->nrcpt)
		fatalx("%s: %s: reply %u after the dot for %u accepted",
		    __func__, job->qid, s->ndot, s->naccepted);
	s->ndot++;
	if (s->reply.code == 421) {
		deliver_session_said(s, -1, "end of DATA");
		deliver_session_finish(s, DELIVER_SESSION_CLOSE);
		return -1;
	}
	if (s->reply.code / 100 == 2) {
		deliver_reply_text(&s->reply, text, sizeof(text));
		deliver_session_sent(s, i, text);
	} else
		deliver_session_said(s, (long)i, "end of DATA");
	if (s->ndot < s->naccepted)
		return 0;
	deliver_session_finish(s, DELIVER_SESSION_KEEP);
	return -1;
}

/*
 * deliver_session_reply - act on one complete reply. Returns 0 to go on
 * reading, -1 when s may be gone or in other hands.
 */
static int
deliver_session_reply(struct deliver_session *s)
{
	struct deliver_job	*job = s->job;
	char			 text[DELIVER_TEXT_MAX];
	int			 code = s->reply.code, cls = code / 100;
	uint32_t		 i;

	switch (s->state) {
	case DELIVER_S_GREETING:
		if (cls == 2) {
			deliver_session_send(s, "%s %s\r\n",
			    s->flags & DELIVER_SF_LMTP ? "LHLO" : "EHLO",
			    s->ctx->conf.hostname);
			deliver_session_enter(s, DELIVER_S_EHLO);
			return 0;
		}
		deliver_session_said(s, -1, NULL);
		deliver_session_finish(s, deliver_session_close_next(s));
		return -1;

	case DELIVER_S_EHLO:
		if (cls == 2) {
			deliver_reply_ehlo(&s->reply, &s->ehlo);
			log_debug("%s: relay=%s, extensions%s%s%s%s%s%s",
			    job->qid, s->dest,
			    s->ehlo.flags & DELIVER_EHLO_PIPELINING ?
			    " PIPELINING" : "",
			    s->ehlo.flags & DELIVER_EHLO_SIZE ? " SIZE" : "",
			    s->ehlo.flags & DELIVER_EHLO_8BITMIME ?
			    " 8BITMIME" : "",
			    s->ehlo.flags & DELIVER_EHLO_STARTTLS ?
			    " STARTTLS" : "",
			    s->ehlo.flags & DELIVER_EHLO_SMTPUTF8 ?
			    " SMTPUTF8" : "",
			    s->ehlo.flags & DELIVER_EHLO_DSN ? " DSN" : "");
			return deliver_session_after_ehlo(s);
		}
		/* LMTP has no HELO to fall back on (RFC 2033 section 4.1). */
		if (cls == 5 && code != 421 && !(s->flags & DELIVER_SF_LMTP)) {
			deliver_session_send(s, "HELO %s\r\n",
			    s->ctx->conf.hostname);
			deliver_session_enter(s, DELIVER_S_HELO);
			return 0;
		}
		deliver_session_said(s, -1,
		    s->flags & DELIVER_SF_LMTP ? "LHLO" : "EHLO");
		deliver_session_finish(s, deliver_session_close_next(s));
		return -1;

	case DELIVER_S_HELO:
		if (cls == 2) {
			memset(&s->ehlo, 0, sizeof(s->ehlo));
			return deliver_session_after_ehlo(s);
		}
		deliver_session_said(s, -1, "HELO");
		deliver_session_finish(s, deliver_session_close_next(s));
		return -1;

	case DELIVER_S_STARTTLS:
		return deliver_session_starttls_reply(s);

	case DELIVER_S_MAIL:
		if (code == 421 && (s->flags & DELIVER_SF_REUSED)) {
			/* The server timed the idle connection out. */
			deliver_session_retry(s, 0);
			return -1;
		}
		if (cls == 2) {
			if (!(s->ehlo.flags & DELIVER_EHLO_PIPELINING))
				deliver_session_rcpt(s, 0);
			deliver_session_enter(s, DELIVER_S_RCPT);
			return 0;
		}
		/*
		 * Pipelined RCPTs and DATA may still be answered (503):
		 * QUIT ends the session on the first of those replies.
		 */
		deliver_session_said(s, -1, "MAIL FROM");
		deliver_session_finish(s, deliver_session_close_next(s));
		return -1;

	case DELIVER_S_RCPT:
		i = s->nreplied++;
		if (code == 421) {
			deliver_session_said(s, -1, "RCPT TO");
			deliver_session_finish(s, DELIVER_SESSION_CLOSE);
			return -1;
		}
		if (cls == 2) {
			s->accepted[i] = 1;
			s->naccepted++;
		} else
			deliver_session_said(s, (long)i, "RCPT TO");
		if (s->nreplied < job->nrcpt) {
			if (!(s->ehlo.flags & DELIVER_EHLO_PIPELINING))
				deliver_session_rcpt(s, s->nreplied);
			return 0;
		}
		if (s->ehlo.flags & DELIVER_EHLO_PIPELINING) {
			/* DATA went out with the group; its reply is next. */
			deliver_session_enter(s, DELIVER_S_DATA);
			return 0;
		}
		if (s->naccepted > 0) {
			deliver_session_send(s, "DATA\r\n");
			deliver_session_enter(s, DELIVER_S_DATA);
			return 0;
		}
		/* Nobody accepted: no body, and the connection stays good. */
		deliver_session_finish(s, DELIVER_SESSION_RESET);
		return -1;

	case DELIVER_S_DATA:
		if (code == 354 && s->naccepted > 0) {
			bufferevent_setwatermark(s->bev, EV_WRITE,
			    DELIVER_SESSION_BODY_LOW, 0);
			deliver_session_enter(s, DELIVER_S_BODY);
			return deliver_session_pump(s);
		}
		if (code == 354) {
			/*
			 * Pipelined DATA accepted though every RCPT failed:
			 * the server waits for a body we will not send, and
			 * hanging up is the one way out that delivers nothing.
			 */
			deliver_session_finish(s, DELIVER_SESSION_CLOSE);
			return -1;
		}
		if (s->naccepted > 0)
			deliver_session_said(s, -1, "DATA");
		deliver_session_finish(s, code == 421 || cls == 2 ?
		    DELIVER_SESSION_CLOSE : DELIVER_SESSION_RESET);
		return -1;

	case DELIVER_S_DOT:
		if (s->flags & DELIVER_SF_LMTP)
			return deliver_session_lmtp_dot(s);
		if (cls == 2) {
			deliver_reply_text(&s->reply, text, sizeof(text));
			for (i = 0; i < job->nrcpt; i++)
				if (!job->rcpts[i].final)
					deliver_session_sent(s, i, text);
			deliver_session_finish(s, DELIVER_SESSION_KEEP);
			return -1;
		}
		deliver_session_said(s, -1, "end of DATA");
		deliver_session_finish(s, code == 421 ? DELIVER_SESSION_CLOSE :
		    DELIVER_SESSION_KEEP);
		return -1;

	case DELIVER_S_RSET:
		if (cls == 2)
			deliver_session_park(s);
		else
			deliver_session_quit(s);
		return -1;

	case DELIVER_S_QUIT:
		deliver_session_free(s);
		return -1;

	case DELIVER_S_CONNECT:
	case DELIVER_S_TLSWAIT:
	case DELIVER_S_HANDSHAKE:
	case DELIVER_S_BODY:
	case DELIVER_S_REFUSED:
	case DELIVER_S_IDLE:
		break;
	}
	fatalx("%s: reply in state %s", __func__,
	    deliver_session_state_name(s->state));
}

/*
 * deliver_session_broken - the connection cannot go on (protocol error,
 * lost connection, timeout): defer what is left and close.
 */
static void
deliver_session_broken(struct deliver_session *s, const char *dsn,
    const char *text)
{
	if (s->job == NULL) {
		deliver_session_free(s);
		return;
	}
	deliver_session_fail(s, DELIVER_DEFERRED, dsn, "%s", text);
	deliver_session_finish(s, DELIVER_SESSION_CLOSE);
}

/* deliver_session_readcb - take whole reply lines while a reply is due */
static void
deliver_session_readcb(struct bufferevent *bev, void *arg)
{
	struct deliver_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	char			 line[DELIVER_REPLY_LINE_MAX + 1];
	char			 text[DELIVER_TEXT_MAX];
	size_t			 eol_len, len;

	if (s->state == DELIVER_S_IDLE) {
		/* Unasked-for words on an idle connection: a goodbye. */
		deliver_cache_remove(s->ctx->cache, s);
		deliver_session_free(s);
		return;
	}
	/*
	 * The high-water mark bounds what is buffered, and so the lines
	 * handled in one call.
	 */
	while (deliver_session_waiting(s->state)) {
		eol = evbuffer_search_eol(in, NULL, &eol_len,
		    EVBUFFER_EOL_CRLF);
		if (eol.pos == -1 ?
		    evbuffer_get_length(in) > DELIVER_REPLY_LINE_MAX :
		    (size_t)eol.pos > DELIVER_REPLY_LINE_MAX) {
			snprintf(text, sizeof(text), "protocol error with %s "
			    "while %s: reply line too long", s->dest,
			    deliver_session_doing(s->state));
			deliver_session_broken(s, "4.5.0", text);
			return;
		}
		if (eol.pos == -1)
			return;
		len = (size_t)eol.pos;
		if (evbuffer_remove(in, line, len) != (int)len ||
		    evbuffer_drain(in, eol_len) == -1)
			fatalx("%s: evbuffer_remove", __func__);
		switch (deliver_reply_feed(&s->reply, line, len)) {
		case DELIVER_R_MORE:
			continue;
		case DELIVER_R_ERROR:
			snprintf(text, sizeof(text), "protocol error with %s "
			    "while %s: %s", s->dest,
			    deliver_session_doing(s->state), s->reply.why);
			deliver_session_broken(s, "4.5.0", text);
			return;
		case DELIVER_R_DONE:
			break;
		}
		/*
		 * A reply is in: the next one has a command-timeout of its
		 * own, whether it answers a command still to be sent or
		 * one of a pipelined group (so 20 RCPTs answered 1.5 s
		 * apart pass a 3 s timeout). The next line fed starts the
		 * next reply.
		 */
		deliver_session_arm(s);
		if (deliver_session_reply(s) == -1)
			return;
	}
}

/* deliver_session_writecb - the output drained: more body, if sending it */
static void
deliver_session_writecb(struct bufferevent *bev, void *arg)
{
	struct deliver_session	*s = arg;

	if (s->state != DELIVER_S_BODY)
		return;
	if (deliver_session_pump(s) == -1)
		return;
	/* A server that answered early has its reply waiting: read it. */
	if (s->state == DELIVER_S_DOT &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		deliver_session_readcb(bev, s);
}

/* deliver_session_eventcb - connected, or the connection ended */
static void
deliver_session_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct deliver_session	*s = arg;
	char			 text[DELIVER_TEXT_MAX];
	char			 why[DELIVER_TEXT_MAX - 128], e[256];
	int			 err = EVUTIL_SOCKET_ERROR();

	if ((what & BEV_EVENT_CONNECTED) && s->state == DELIVER_S_HANDSHAKE) {
		deliver_session_tls_done(s);
		return;
	}
	if (s->state == DELIVER_S_STARTTLS && s->job != NULL) {
		snprintf(why, sizeof(why), "the connection with %s was lost "
		    "while sending STARTTLS", s->dest);
		(void)deliver_session_tls_failed(s, "4.7.5", why);
		return;
	}
	if (s->state == DELIVER_S_HANDSHAKE) {
		deliver_session_tls_why(s, e, sizeof(e));
		snprintf(why, sizeof(why), "the TLS handshake with %s failed: "
		    "%s", s->dest, e);
		(void)deliver_session_tls_failed(s, "4.7.5", why);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		s->ctx->stats.connects++;
		strlcpy(s->job->relay, s->dest, sizeof(s->job->relay));
		deliver_session_enter(s, DELIVER_S_GREETING);
		/*
		 * The greeting may have been read in the same loop pass,
		 * before this event, while no reply was due: take it now.
		 */
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			deliver_session_readcb(bev, s);
		return;
	}
	switch (s->state) {
	case DELIVER_S_IDLE:
		deliver_cache_remove(s->ctx->cache, s);
		deliver_session_free(s);
		return;
	case DELIVER_S_CONNECT:
		if (err == 0)
			err = ECONNREFUSED;
		snprintf(text, sizeof(text), "connect to %s: %s", s->dest,
		    strerror(err));
		deliver_session_broken(s, "4.4.1", text);
		return;
	case DELIVER_S_MAIL:
		if (s->job != NULL && (s->flags & DELIVER_SF_REUSED)) {
			deliver_session_retry(s, 0);
			return;
		}
		break;
	default:
		break;
	}
	if ((what & BEV_EVENT_ERROR) && err != 0)
		snprintf(text, sizeof(text), "lost connection with %s while "
		    "%s: %s", s->dest, deliver_session_doing(s->state),
		    strerror(err));
	else
		snprintf(text, sizeof(text), "lost connection with %s while "
		    "%s", s->dest, deliver_session_doing(s->state));
	deliver_session_broken(s, "4.4.2", text);
}

/* deliver_session_timeout - the state's time ran out */
static void
deliver_session_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct deliver_session	*s = arg;
	char			 text[DELIVER_TEXT_MAX];

	(void)fd;
	(void)ev;
	if (s->state == DELIVER_S_REFUSED) {
		/* deliver_session_refuse(): the results are in. */
		deliver_session_finish(s, DELIVER_SESSION_KEEP);
		return;
	}
	if (s->state == DELIVER_S_TLSWAIT) {
		/* The store did not answer: a full handshake, then. */
		log_warnx("%s: relay=%s, no answer from the TLS session store "
		    "in %d s; handshake without a session", s->job != NULL ?
		    s->job->qid : "NOQUEUE", s->dest, DELIVER_SESSION_STORE_WAIT);
		(void)deliver_session_tls_go(s, NULL);
		return;
	}
	if (s->state == DELIVER_S_CONNECT) {
		snprintf(text, sizeof(text), "connect to %s: %s", s->dest,
		    strerror(s->err != 0 ? s->err : ETIMEDOUT));
		deliver_session_broken(s, "4.4.1", text);
		return;
	}
	snprintf(text, sizeof(text), "conversation with %s timed out while %s",
	    s->dest, deliver_session_doing(s->state));
	if (s->state == DELIVER_S_STARTTLS || s->state == DELIVER_S_HANDSHAKE) {
		(void)deliver_session_tls_failed(s, "4.7.5", text);
		return;
	}
	deliver_session_broken(s, "4.4.2", text);
}

/* --- starting ------------------------------------------------------------ */

/*
 * deliver_session_sockaddr - a numeric address and port, or with port 0 a
 * unix socket's path (aval-local's LMTP); -1 if not one
 */
static int
deliver_session_sockaddr(const char *host, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;

	memset(ss, 0, sizeof(*ss));
	if (port == 0) {
		if (strlcpy(sun->sun_path, host, sizeof(sun->sun_path)) >=
		    sizeof(sun->sun_path) || host[0] == '\0')
			return -1;
		sun->sun_family = AF_UNIX;
		*len = sizeof(*sun);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/*
 * deliver_session_open - a fresh connection for job. A connect() that
 * fails at once is reported from the loop (a zero timeout), like one that
 * fails later, so the callback never runs from inside the caller.
 */
static void
deliver_session_open(struct deliver_session_ctx *ctx, struct deliver_job *job,
    const char *host, uint16_t port, int plaintext, deliver_job_cb cb,
    void *arg)
{
	struct deliver_session	*s;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;

	s = deliver_session_new(ctx, host, port, &job->policy,
	    (job->flags & DELIVER_JF_LMTP) != 0);
	if (plaintext)
		s->flags |= DELIVER_SF_NOTLS;
	deliver_session_attach(s, job, cb, arg);
	strlcpy(job->relay, "none", sizeof(job->relay));
	if ((s->bev = bufferevent_socket_new(ctx->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	bufferevent_setcb(s->bev, deliver_session_readcb,
	    deliver_session_writecb, deliver_session_eventcb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, DELIVER_SESSION_READ_HIGH);
	if (strlen(host) >= sizeof(s->host) ||
	    deliver_session_sockaddr(host, port, &ss, &sslen) == -1)
		s->err = EAFNOSUPPORT;
	else if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss,
	    (int)sslen) == -1)
		s->err = errno != 0 ? errno : ECONNREFUSED;
	else {
		/*
		 * Commands are small and each waits for its reply: under TLS
		 * the last record of a write (the final dot) would otherwise
		 * wait for the peer's delayed ACK, 40 ms, on every message
		 * (Nagle, RFC 896). smtpd sets the same.
		 */
		(void)setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP,
		    TCP_NODELAY, &(int){ 1 }, sizeof(int));
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	}
	log_debug("%s: relay=%s, connecting", job->qid, s->dest);
	deliver_session_arm(s);
}

/* deliver_session_start - relay a job, on a cached connection if any */
void
deliver_session_start(struct deliver_session_ctx *ctx, struct deliver_job *job,
    const char *host, uint16_t port, deliver_job_cb cb, void *arg)
{
	struct deliver_session	*s;
	char			 dest[DELIVER_DEST_SIZE];
	char			 key[DELIVER_SESSION_KEY_SIZE];

	if (job->nrcpt == 0 || job->session != NULL)
		fatalx("%s: %s: no recipients or already running", __func__,
		    job->qid);
	deliver_session_dest(dest, sizeof(dest), host, port);
	deliver_session_key(key, sizeof(key), dest, &job->policy,
	    (job->flags & DELIVER_JF_LMTP) != 0);
	if ((s = deliver_cache_take(ctx->cache, key)) == NULL) {
		deliver_session_open(ctx, job, host, port, 0, cb, arg);
		return;
	}
	deliver_session_attach(s, job, cb, arg);
	s->flags |= DELIVER_SF_REUSED;
	ctx->stats.reused++;
	log_debug("%s: relay=%s, reusing connection (transaction %u)",
	    job->qid, s->dest, s->ntrans + 1);
	deliver_session_mail(s);
}

/* deliver_session_abort - drop a running job, no callback */
void
deliver_session_abort(struct deliver_job *job)
{
	struct deliver_session	*s = job->session;

	if (s == NULL)
		return;
	log_debug("%s: relay=%s, aborted", job->qid, s->dest);
	deliver_session_free(s);
}
