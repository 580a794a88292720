/*
 * smtpd_session - one inbound SMTP session, as a state machine
 *
 * Input is taken a line at a time from the bufferevent, whose read
 * high-water mark bounds what one wake-up handles. Command lines are at
 * most SMTPD_CMD_MAX octets and text lines SMTPD_TEXT_MAX, CRLF included;
 * an overlong line is dropped as it arrives, so memory per session stays
 * bounded whatever the client sends.
 *
 * Line endings are strict, to close off SMTP smuggling: only CRLF ends a
 * command line, and one holding any other CR or LF is refused whole. In
 * message text a bare CR or LF spoils the message (it is refused with 554
 * at the end, and nothing is queued), and only CRLF "." CRLF ends the
 * text: a "." line counts only when it ends in CRLF and the line before
 * it did too.
 *
 * Each transaction the queue holds for us has a tid. The queue's replies
 * name the tid, so a late reply for a transaction the client has already
 * reset finds nothing and is dropped.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/conf_local.h"
#include "common/log.h"
#include "common/passwd.h"
#include "common/smtpline.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd.h"
#include "smtpd/smtpd_auth.h"
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_data.h"
#include "smtpd/smtpd_limit.h"

static void	smtpd_session_input(struct smtpd_session *);
static void	smtpd_session_free(struct smtpd_session *);
static void	smtpd_session_bev_setup(struct smtpd_session *);
static void	smtpd_session_tls_up(struct smtpd_session *);
static void	smtpd_session_pregreet(struct smtpd_session *);
static int	smtpd_session_auth_ctx(struct smtpd_session *);
static void	smtpd_session_resume(struct smtpd_session *);
static void	smtpd_session_chunk_add(struct smtpd_session *, const char *,
		    size_t);
static void	smtpd_session_header_end(struct smtpd_session *);
static void	smtpd_session_data_end(struct smtpd_session *);
static void	smtpd_session_msg_begin(struct smtpd_session *);
static void	smtpd_session_text(struct smtpd_session *, const char *, size_t);
static void	smtpd_session_bdat(struct smtpd_session *,
		    const struct smtpd_cmd *);
static void	smtpd_session_pregreet_done(evutil_socket_t, short, void *);
static void	smtpd_session_pregreet_fail(struct smtpd_session *);
static void	smtpd_session_greet(struct smtpd_session *, const char *);
static void	smtpd_session_bdat_take(struct smtpd_session *);

#define SMTPD_PREGREET_TTL	86400	/* a pass holds this long */
#define SMTPD_RATE_GRACE	10	/* seconds of DATA before min-data-rate applies */

static const char *smtpd_state_names[] = {
	[SMTPD_S_HELO] = "HELO",
	[SMTPD_S_READY] = "READY",
	[SMTPD_S_MAIL] = "MAIL",
	[SMTPD_S_RCPT] = "RCPT",
	[SMTPD_S_OPENING] = "OPENING",
	[SMTPD_S_DATA] = "DATA",
	[SMTPD_S_COMMIT] = "COMMIT",
	[SMTPD_S_BDAT] = "BDAT",
	[SMTPD_S_CLOSING] = "CLOSING",
};

static const struct conf *
smtpd_conf(void)
{
	return env->w.conf;
}

/* smtpd_session_enter - change state, logged with -v */
static void	smtpd_session_wait_expired(evutil_socket_t, short, void *);

static void
smtpd_session_enter(struct smtpd_session *s, enum smtpd_state state)
{
	struct timeval	 tv;

	log_debug("NOQUEUE: session=%s, %s -> %s", s->idstr,
	    smtpd_state_names[s->state], smtpd_state_names[state]);
	s->state = state;
	/* Waiting on the queue is bounded too: no read timeout runs then. */
	if (state == SMTPD_S_OPENING || state == SMTPD_S_COMMIT) {
		if (s->wait_ev == NULL)
			s->wait_ev = evtimer_new(env->w.base,
			    smtpd_session_wait_expired, s);
		tv.tv_sec = env->w.conf->smtpd_command_timeout;
		tv.tv_usec = 0;
		evtimer_add(s->wait_ev, &tv);
	} else if (s->wait_ev != NULL)
		evtimer_del(s->wait_ev);
}

static void
smtpd_session_reply(struct smtpd_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* smtpd_session_reply - queue one reply line */
static void
smtpd_session_reply(struct smtpd_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
}

/* smtpd_session_close - stop reading; free once the last reply is out */
static void
smtpd_session_close(struct smtpd_session *s)
{
	smtpd_session_enter(s, SMTPD_S_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtpd_session_free(s);
}

static void
smtpd_hash_del(struct smtpd_session *s)
{
	struct smtpd_session	**pp;

	if (s->tid == 0)
		return;
	for (pp = &env->hash[s->tid % SMTPD_HASH]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	s->hnext = NULL;
	s->tid = 0;
}

/* smtpd_session_find - the session whose open transaction is tid */
struct smtpd_session *
smtpd_session_find(uint64_t tid)
{
	struct smtpd_session	*s;

	for (s = env->hash[tid % SMTPD_HASH]; s != NULL; s = s->hnext)
		if (s->tid == tid)
			return s;
	return NULL;
}

/* smtpd_session_abort - drop the queue's transaction, if any */
static void
smtpd_session_abort(struct smtpd_session *s)
{
	struct ipc_msg	*m;

	if (s->tid != 0 && s->opened) {
		m = ipc_new(IPC_SMTPD_MSG_ABORT);
		ipc_put_u64(m, s->tid);
		smtpd_queue_send(m);
	}
	s->opened = 0;
	smtpd_hash_del(s);
}

/* smtpd_session_reset - forget the transaction (RSET, HELO, after DATA) */
static void
smtpd_session_reset(struct smtpd_session *s)
{
	smtpd_session_abort(s);
	s->sender[0] = '\0';
	s->txflags = 0;
	s->ret = SMTPD_RET_NONE;
	free(s->envid);
	s->envid = NULL;
	s->qid[0] = '\0';
	s->nrcpt = 0;
	smtpd_data_init(&s->data, 0, 0);
	if (s->chunk != NULL)
		buf_reset(s->chunk);
	smtpd_session_enter(s, s->helo[0] ? SMTPD_S_READY : SMTPD_S_HELO);
}

static void
smtpd_session_free(struct smtpd_session *s)
{
	smtpd_fed_close(s);
	/*
	 * A message whose COMMIT was sent is the queue's now: aborting it
	 * could lose one the queue is about to acknowledge. Its reply will
	 * find no session and be dropped.
	 */
	if (s->state == SMTPD_S_COMMIT) {
		s->opened = 0;
		smtpd_hash_del(s);
	} else
		smtpd_session_abort(s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		env->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	log_info("NOQUEUE: session=%s, client=%s (disconnect, %u commands, "
	    "%u errors)", s->idstr, s->client, s->ncmds, s->errors);
	if (s->flags & (SMTPD_F_TLS | SMTPD_F_HANDSHAKE)) {
		/* The OpenSSL bufferevent owns the socket and the SSL. */
		smtpd_tls_shutdown(s);
		bufferevent_free(s->bev);
	} else {
		bufferevent_free(s->bev);
		close(s->fd);
	}
	free(s->tls);
	free(s->envid);
	smtpd_auth_free(s->auth);
	if (s->auth_ev != NULL)
		event_free(s->auth_ev);
	if (s->flags & SMTPD_F_COUNTED)
		smtpd_limit_disconnect(env->limits, env->instance,
		    (struct sockaddr *)&s->ss);
	if (s->wait_ev != NULL)
		event_free(s->wait_ev);
	buf_free(s->chunk);
	free(s);
	env->nsessions--;
	smtpd_maybe_exit();
}

/* smtpd_session_error - a 4xx/5xx to a command; too many ends the session */
static void
smtpd_session_error(struct smtpd_session *s, const char *reply)
{
	smtpd_session_reply(s, "%s", reply);
	if (++s->errors >= (unsigned int)smtpd_conf()->smtpd_max_errors) {
		log_info("NOQUEUE: session=%s, client=%s, dsn=4.7.0, "
		    "status=reject (421 too many errors)", s->idstr, s->client);
		smtpd_session_reply(s, "421 4.7.0 %s Error: too many errors",
		    smtpd_conf()->hostname);
		smtpd_session_close(s);
	}
}

/*
 * smtpd_session_tempfail - a 451 for our own trouble (the queue restarting,
 * or failing): not the client's error, so it does not count toward
 * max-errors.
 */
static void
smtpd_session_tempfail(struct smtpd_session *s, const char *reply)
{
	smtpd_session_reply(s, "%s", reply);
}

static void
smtpd_session_timeouts(struct smtpd_session *s, long long secs)
{
	struct timeval	 tv;

	tv.tv_sec = secs;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
smtpd_session_ehlo(struct smtpd_session *s)
{
	const struct conf	*c = smtpd_conf();
	const char		*kw;

	smtpd_session_reply(s, "250-%s", c->hostname);
	smtpd_session_reply(s, "250-PIPELINING");
	if (env->tls != NULL && !(s->flags & (SMTPD_F_TLS | SMTPD_F_LOCAL)))
		smtpd_session_reply(s, "250-STARTTLS");
	if ((kw = smtpd_auth_ehlo(smtpd_session_auth_ctx(s))) != NULL &&
	    !(s->flags & SMTPD_F_AUTH))
		smtpd_session_reply(s, "250-%s", kw);
	smtpd_session_reply(s, "250-SIZE %lld", c->queue_max_message_size);
	smtpd_session_reply(s, "250-8BITMIME");
	smtpd_session_reply(s, "250-SMTPUTF8");
	smtpd_session_reply(s, "250-DSN");
	smtpd_session_reply(s, "250-CHUNKING");
	smtpd_session_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
smtpd_session_rcpt(struct smtpd_session *s, const struct smtpd_cmd *cmd)
{
	const struct conf		*c = smtpd_conf();
	const struct conf_transport	*t;
	struct ipc_msg			*m;
	char				 reply[ADDR_MAX + 128];

	if (s->nrcpt >= (unsigned int)c->smtpd_max_recipients) {
		/* RFC 5321 4.5.3.1.8: not an error, the client sends the rest later. */
		smtpd_session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	/*
	 * Sender-specified routing (u%ext@ours, ext!u@ours, "u@ext"@ours,
	 * @ours:u@ext) would make us relay for a client that may not: only
	 * clients that may relay anyway may use it (Postfix's
	 * allow_untrusted_routing = no).
	 */
	if ((cmd->addr_info & (ADDR_I_ROUTE | ADDR_I_ROUTING) ||
	    addr_has_routing(cmd->addr)) && !SMTPD_TRUSTED(s) &&
	    conf_in_relay_networks(c, (struct sockaddr *)&s->ss) != 1) {
		log_info("NOQUEUE: session=%s, client=%s, cmd=RCPT, "
		    "from=<%s>, to=<%s>, dsn=5.7.1, status=reject "
		    "(550 sender-specified routing)", s->idstr, s->client,
		    s->sender, cmd->addr);
		snprintf(reply, sizeof(reply), "550 5.7.1 <%s>: Recipient "
		    "address rejected: sender-specified routing not allowed",
		    cmd->addr);
		smtpd_session_error(s, reply);
		return;
	}
	if (!smtpd_relay_allowed((struct sockaddr *)&s->ss, cmd->addr) &&
	    !SMTPD_TRUSTED(s) && !smtpd_fed_may_relay(s)) {
		log_info("NOQUEUE: session=%s, client=%s, cmd=RCPT, "
		    "from=<%s>, to=<%s>, dsn=5.7.1, status=reject "
		    "(554 relay access denied)", s->idstr, s->client,
		    s->sender, cmd->addr);
		snprintf(reply, sizeof(reply),
		    "554 5.7.1 <%s>: Relay access denied", cmd->addr);
		smtpd_session_error(s, reply);
		return;
	}
	t = conf_transport_lookup(c, addr_domain(cmd->addr));
	if (t != NULL && t->kind == CONF_T_MAILDIR &&
	    !addr_local_safe(cmd->addr)) {
		snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: Recipient "
		    "address rejected: cannot name a mailbox", cmd->addr);
		smtpd_session_error(s, reply);
		return;
	}
	/*
	 * A local domain knows its users (conf_local.h): a mapped domain only
	 * those of its map and aliases, an unmapped one delivered by maildir
	 * every local part only with catch-all. Refusing here, not bouncing
	 * later, is what keeps us from sending backscatter.
	 */
	if (conf_local_rcpt(c, cmd->addr) == CONF_RCPT_UNKNOWN) {
		log_info("NOQUEUE: session=%s, client=%s, cmd=RCPT, "
		    "from=<%s>, to=<%s>, dsn=5.1.1, status=reject "
		    "(550 unknown user)", s->idstr, s->client, s->sender,
		    cmd->addr);
		snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: Recipient "
		    "address rejected: User unknown in local recipient table",
		    cmd->addr);
		smtpd_session_error(s, reply);
		return;
	}
	/*
	 * The queue lost the transaction that holds the recipients accepted
	 * so far (it restarted): a new one would carry only the rest.
	 */
	if (env->queue == NULL || (!s->opened && s->nrcpt > 0)) {
		smtpd_session_tempfail(s, "451 4.3.0 Error: queue unavailable, "
		    "try again later");
		return;
	}
	if (!s->opened) {
		s->tid = ++env->next_id;
		s->hnext = env->hash[s->tid % SMTPD_HASH];
		env->hash[s->tid % SMTPD_HASH] = s;
		s->opened = 1;
		s->qid[0] = '\0';
		m = ipc_new(IPC_SMTPD_MSG_OPEN);
		ipc_put_u64(m, s->tid);
		ipc_put_str(m, s->sender);
		ipc_put_str(m, s->client);
		ipc_put_str(m, s->helo);
		ipc_put_u32(m, (uint32_t)s->txflags);
		ipc_put_u32(m, (uint32_t)s->ret);
		ipc_put_str(m, s->envid);
		smtpd_queue_send(m);
	}
	m = ipc_new(IPC_SMTPD_MSG_RCPT);
	ipc_put_u64(m, s->tid);
	ipc_put_str(m, cmd->addr);
	ipc_put_u32(m, cmd->notify);
	ipc_put_u32(m, (uint32_t)cmd->orcpt_type);
	ipc_put_str(m, cmd->orcpt_x);
	smtpd_queue_send(m);
	s->nrcpt++;
	smtpd_session_enter(s, SMTPD_S_RCPT);
	smtpd_session_reply(s, "250 2.1.5 Ok");
}

/*
 * smtpd_session_early_text - 1 (and the session ended) if the client sent
 * message text before our 354: DATA must end a pipelined group (RFC 2920
 * 3.1), and a client that does not wait is a bot or an attack, never a
 * client whose text we should take.
 */
static int
smtpd_session_early_text(struct smtpd_session *s)
{
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
		return 0;
	log_info("%s: session=%s, client=%s, cmd=DATA, from=<%s>, dsn=5.5.0, "
	    "status=reject (554 message text before the 354)",
	    s->qid[0] ? s->qid : "NOQUEUE", s->idstr, s->client, s->sender);
	smtpd_session_reset(s);
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	smtpd_session_reply(s, "554 5.5.0 Error: message text sent before "
	    "the 354 reply");
	smtpd_session_close(s);
	return 1;
}

/* smtpd_session_msg_begin - the queue ID is known: the message starts */
static void
smtpd_session_msg_begin(struct smtpd_session *s)
{
	if (s->chunk == NULL)
		s->chunk = buf_new(IPC_CHUNK, IPC_CHUNK);
	buf_reset(s->chunk);
	s->prev_crlf = 1;
	s->at_bol = 1;
	/*
	 * Our Received header does not count against the client's size
	 * limit (the queue allows for it): a client that declared SIZE=max
	 * may send max octets.
	 */
	smtpd_received(s, s->chunk);
	smtpd_data_init(&s->data,
	    (unsigned long long)smtpd_conf()->queue_max_message_size,
	    (unsigned int)smtpd_conf()->smtpd_max_hops);
	s->data_started = time(NULL);
	s->data_bytes = 0;
}

/* smtpd_session_data_begin - the queue ID is known: 354 and go */
static void
smtpd_session_data_begin(struct smtpd_session *s)
{
	if (smtpd_session_early_text(s))
		return;
	smtpd_session_msg_begin(s);
	smtpd_session_enter(s, SMTPD_S_DATA);
	smtpd_session_timeouts(s, smtpd_conf()->smtpd_data_timeout);
	smtpd_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/*
 * smtpd_session_starttls - RFC 3207. The 220 goes out, and nothing more is
 * read as plaintext: the rest of the input buffer (a pipelined command
 * would be an injection) is dropped with the plain bufferevent, and the
 * handshake starts once the 220 is written (smtpd_session_write).
 */
static void
smtpd_session_starttls(struct smtpd_session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 junk;

	if (s->flags & SMTPD_F_TLS) {
		smtpd_session_error(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (env->tls == NULL || (s->flags & SMTPD_F_LOCAL)) {
		smtpd_session_error(s, "502 5.5.1 Error: command not "
		    "implemented");
		return;
	}
	if (s->state > SMTPD_S_READY) {
		smtpd_session_error(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return;
	}
	if ((junk = evbuffer_get_length(in)) > 0) {
		log_warnx("NOQUEUE: session=%s, client=%s, cmd=STARTTLS "
		    "(%zu bytes pipelined after STARTTLS discarded)",
		    s->idstr, s->client, junk);
		evbuffer_drain(in, junk);
	}
	bufferevent_disable(s->bev, EV_READ);
	s->flags |= SMTPD_F_TLS_START;
	smtpd_session_reply(s, "220 2.0.0 Ready to start TLS");
}

/*
 * smtpd_session_tls_begin - the 220 is out (or the listener is implicit
 * TLS): the socket goes to OpenSSL. -1 if TLS cannot start; the caller
 * ends the session.
 */
static int
smtpd_session_tls_begin(struct smtpd_session *s)
{
	if (smtpd_tls_start(s) == -1)
		return -1;
	smtpd_session_bev_setup(s);
	return 0;
}

/* smtpd_session_submission_gate - TLS, then AUTH, before MAIL; 0 to go on */
static int
smtpd_session_submission_gate(struct smtpd_session *s)
{
	/* The local socket is this host's: no TLS, and SO_PEERCRED for AUTH. */
	if (s->listener->kind == CONF_L_MX || s->listener->kind == CONF_L_LOCAL)
		return 0;
	if (!(s->flags & SMTPD_F_TLS)) {
		smtpd_session_error(s, "530 5.7.0 Must issue a STARTTLS "
		    "command first");
		return -1;
	}
	if (!(s->flags & SMTPD_F_AUTH)) {
		smtpd_session_error(s, "530 5.7.0 Authentication required");
		return -1;
	}
	return 0;
}

/* --- BDAT (RFC 3030) ------------------------------------------------- */

/*
 * smtpd_session_bdat - a BDAT command. Its chunk is always read whole,
 * exactly chunk_size octets and nothing more, whatever the answer: a
 * refused chunk is read and dropped (bdat_refuse), so the octets after it
 * are a command again. The first chunk of a message waits for the queue
 * ID, like DATA, before its octets are taken.
 */
static void
smtpd_session_bdat(struct smtpd_session *s, const struct smtpd_cmd *cmd)
{
	s->bdat_left = s->bdat_size = cmd->chunk_size;
	s->bdat_last = cmd->chunk_last;
	s->bdat_refuse = NULL;
	if (s->state == SMTPD_S_HELO || s->state == SMTPD_S_READY)
		s->bdat_refuse = "503 5.5.1 Error: need MAIL command";
	else if (s->state == SMTPD_S_MAIL)
		s->bdat_refuse = "554 5.5.1 Error: no valid recipients";
	else if (!s->opened)
		s->bdat_refuse = "451 4.3.0 Error: queue unavailable, try "
		    "again later";
	if (s->bdat_refuse != NULL) {
		/* The rate of a chunk read only to be dropped is its own. */
		s->data_started = time(NULL);
		s->data_bytes = 0;
		smtpd_session_bdat_take(s);
		return;
	}
	if (!(s->txflags & SMTPD_TX_BDAT)) {
		s->txflags |= SMTPD_TX_BDAT;
		if (s->qid[0] == '\0') {
			smtpd_session_enter(s, SMTPD_S_OPENING);
			return;
		}
		smtpd_session_msg_begin(s);
	}
	smtpd_session_bdat_take(s);
}

/* smtpd_session_bdat_take - read the chunk's octets, on the data timeout */
static void
smtpd_session_bdat_take(struct smtpd_session *s)
{
	smtpd_session_enter(s, SMTPD_S_BDAT);
	smtpd_session_timeouts(s, smtpd_conf()->smtpd_data_timeout);
}

/* smtpd_session_bdat_done - the chunk is read: answer it */
static void
smtpd_session_bdat_done(struct smtpd_session *s)
{
	const char	*refuse = s->bdat_refuse;

	smtpd_session_timeouts(s, smtpd_conf()->smtpd_command_timeout);
	if (refuse != NULL) {
		s->bdat_refuse = NULL;
		log_info("%s: session=%s, client=%s, cmd=BDAT, from=<%s>, "
		    "status=reject (%s)", s->qid[0] ? s->qid : "NOQUEUE",
		    s->idstr, s->client, s->sender, refuse);
		smtpd_session_reset(s);
		if (refuse[0] == '4')
			smtpd_session_tempfail(s, refuse);
		else
			smtpd_session_error(s, refuse);
		return;
	}
	/*
	 * The last chunk, or a fault already (RFC 3030: the transaction
	 * fails at the first chunk that breaks a rule): commit or refuse.
	 */
	if (s->bdat_last || (s->data.err != SMTPD_DE_NONE &&
	    s->data.err != SMTPD_DE_QUEUE)) {
		smtpd_session_data_end(s);
		return;
	}
	smtpd_session_enter(s, SMTPD_S_RCPT);
	smtpd_session_reply(s, "250 2.0.0 %llu octets received",
	    s->bdat_size);
}

/* smtpd_session_bdat_read - take chunk octets; 0 if more input is needed */
static int
smtpd_session_bdat_read(struct smtpd_session *s, struct evbuffer *in)
{
	size_t		 n = evbuffer_get_length(in);
	const char	*p;

	if (s->bdat_left == 0) {
		smtpd_session_bdat_done(s);
		return 1;
	}
	if (n == 0)
		return 0;
	if (n > s->bdat_left)
		n = (size_t)s->bdat_left;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	s->data_bytes += n;
	if (s->bdat_refuse == NULL)
		smtpd_session_text(s, p, n);
	evbuffer_drain(in, n);
	s->bdat_left -= n;
	if (s->bdat_left == 0)
		smtpd_session_bdat_done(s);
	return 1;
}

/* --- AUTH (RFC 4954) ------------------------------------------------- */

/* smtpd_passwd_dispatch - PASSWD_LINE, PASSWD_END from the master */
void
smtpd_passwd_dispatch(struct ipc_msgin *r)
{
	struct conf_errors	 pe = { NULL, 0 };
	struct passwd		*pw;
	const char		*line;
	uint32_t		 n;

	switch (r->type) {
	case IPC_MASTER_PASSWD_LINE:
		if (ipc_get_str(r, &line) == -1 || ipc_end(r) == -1)
			break;
		if (env->passwd_text == NULL)
			env->passwd_text = buf_new_secret(4096,
			    PASSWD_FILE_MAX);
		if (buf_printf(env->passwd_text, "%s\n", line) == -1)
			fatalx("password map over %d bytes", PASSWD_FILE_MAX);
		return;
	case IPC_MASTER_PASSWD_END:
		if (ipc_get_u32(r, &n) == -1 || ipc_end(r) == -1)
			break;
		pw = passwd_new();
		if (env->passwd_text != NULL && passwd_load_text(pw,
		    buf_data(env->passwd_text), buf_len(env->passwd_text),
		    "<master>", &pe) == -1) {
			log_warnx("password map from the master refused (%s); "
			    "keeping the previous one", pe.n ? pe.lines[0] : "?");
			conf_errors_clear(&pe);
			passwd_free(pw);
		} else {
			passwd_free(env->passwd);
			env->passwd = pw;
		}
		buf_free(env->passwd_text);		/* secret: wiped */
		env->passwd_text = NULL;
		return;
	}
	fatalx("malformed %s from master", ipc_type_name(r->type));
}

/* smtpd_session_auth_ctx - what the exchange must know of the session */
static int
smtpd_session_auth_ctx(struct smtpd_session *s)
{
	int	 ctx = 0;

	if ((s->listener->kind == CONF_L_SUBMISSION ||
	    s->listener->kind == CONF_L_SUBMISSIONS) && env->passwd != NULL &&
	    passwd_count(env->passwd) > 0)
		ctx |= SMTPD_AUTH_C_OFFER;
	if (s->esmtp)
		ctx |= SMTPD_AUTH_C_EHLO;
	if (s->flags & SMTPD_F_TLS)
		ctx |= SMTPD_AUTH_C_TLS;
	if (s->state > SMTPD_S_READY)
		ctx |= SMTPD_AUTH_C_MAIL;
	return ctx;
}

static struct timespec
smtpd_session_mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

/* smtpd_session_auth_delayed - a failed AUTH's delay is over: answer it */
static void
smtpd_session_auth_delayed(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_session	*s = arg;

	(void)fd;
	(void)ev;
	s->flags &= ~SMTPD_F_AUTH_WAIT;
	/* The held reply goes out, also if the session ended meanwhile. */
	bufferevent_enable(s->bev, EV_WRITE);
	smtpd_session_resume(s);
}

/*
 * smtpd_session_auth_done - act on what the exchange says. A DENY counts
 * against the client's network in the shared throttle, and its 535 waits
 * the penalty (reading stops meanwhile, so nothing pipelined behind it is
 * answered early); too many in one session end it.
 */
static void
smtpd_session_auth_done(struct smtpd_session *s, enum smtpd_auth_status st,
    const char *reply)
{
	struct smtpd_auth_penalty	 pen;
	struct timeval			 tv;
	char				 user[96];

	switch (st) {
	case SMTPD_AUTH_S_MORE:
		s->flags |= SMTPD_F_SASL;
		smtpd_session_reply(s, "%s", reply);
		return;
	case SMTPD_AUTH_S_CHECK:
		fatalx("%s: CHECK not verified", __func__);
	case SMTPD_AUTH_S_OK:
		s->flags &= ~SMTPD_F_SASL;
		s->flags |= SMTPD_F_AUTH;
		log_printable(smtpd_auth_login(s->auth), user,
		    sizeof(user));
		log_info("NOQUEUE: session=%s, client=%s, sasl_method=%s, "
		    "sasl_username=\"%s\"", s->idstr, s->client,
		    smtpd_auth_mech(s->auth), user);
		smtpd_session_reply(s, "%s", reply);
		return;
	case SMTPD_AUTH_S_FAIL:
		s->flags &= ~SMTPD_F_SASL;
		smtpd_session_error(s, reply);
		return;
	case SMTPD_AUTH_S_DENY:
		break;
	}
	s->flags &= ~SMTPD_F_SASL;
	log_printable(smtpd_auth_user(s->auth), user, sizeof(user));
	smtpd_limit_lock(env->limits);
	smtpd_auth_throttle_fail(env->throttle, (struct sockaddr *)&s->ss,
	    smtpd_session_mono().tv_sec, smtpd_auth_failures(s->auth), &pen);
	smtpd_limit_unlock(env->limits);
	log_info("NOQUEUE: session=%s, client=%s, cmd=AUTH, sasl_method=%s, "
	    "sasl_username=\"%s\", dsn=5.7.8, status=reject (%s; reply "
	    "delayed %us)", s->idstr, s->client, smtpd_auth_mech(s->auth),
	    user, pen.close ? "too many failures, closing" : "authentication "
	    "failed", pen.delay);
	if (pen.close) {
		smtpd_session_reply(s, SMTPD_AUTH_421_FMT,
		    smtpd_conf()->hostname);
		smtpd_session_close(s);
		return;
	}
	smtpd_session_reply(s, "%s", pen.reply ? pen.reply : reply);
	if (pen.delay == 0)
		return;
	/* The reply is queued but the output is held until the delay ends. */
	s->flags |= SMTPD_F_AUTH_WAIT;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	if (s->auth_ev == NULL)
		s->auth_ev = evtimer_new(env->w.base,
		    smtpd_session_auth_delayed, s);
	tv.tv_sec = pen.delay;
	tv.tv_usec = 0;
	evtimer_add(s->auth_ev, &tv);
}

/* smtpd_session_auth_verify - the exchange has a user and a password */
static void
smtpd_session_auth_verify(struct smtpd_session *s)
{
	const char		*pass, *reply;
	enum smtpd_auth_status	 st;
	size_t			 len;
	int			 v;

	pass = smtpd_auth_pass(s->auth, &len);
	v = passwd_verify(env->passwd, smtpd_auth_user(s->auth), pass, len);
	st = smtpd_auth_finish(s->auth, v, &reply);
	smtpd_session_auth_done(s, st, reply);
}

/* smtpd_session_auth - the AUTH command */
static void
smtpd_session_auth(struct smtpd_session *s, const char *args)
{
	const char		*reply;
	enum smtpd_auth_status	 st;
	int			 ctx = smtpd_session_auth_ctx(s);

	if (s->auth == NULL)
		s->auth = smtpd_auth_new();
	smtpd_limit_lock(env->limits);
	if (smtpd_auth_throttle_check(env->throttle, (struct sockaddr *)&s->ss,
	    smtpd_session_mono().tv_sec) == 0)
		ctx |= SMTPD_AUTH_C_BLOCKED;
	smtpd_limit_unlock(env->limits);
	if (ctx & SMTPD_AUTH_C_BLOCKED)
		log_info("NOQUEUE: session=%s, client=%s, cmd=AUTH, dsn=4.7.0, "
		    "status=reject (454 too many failures from this network)",
		    s->idstr, s->client);
	st = smtpd_auth_start(s->auth, args, ctx, &reply);
	if (st == SMTPD_AUTH_S_CHECK)
		smtpd_session_auth_verify(s);
	else
		smtpd_session_auth_done(s, st, reply);
}

/* smtpd_session_auth_line - one response line inside the exchange */
static void
smtpd_session_auth_line(struct smtpd_session *s, const char *line)
{
	const char		*reply;
	enum smtpd_auth_status	 st;

	st = smtpd_auth_step(s->auth, line, &reply);
	if (st == SMTPD_AUTH_S_CHECK)
		smtpd_session_auth_verify(s);
	else
		smtpd_session_auth_done(s, st, reply);
}

/* smtpd_session_sender_ok - may the authenticated user send as addr? */
static int
smtpd_session_sender_ok(struct smtpd_session *s, const char *addr)
{
	char	 user[96], reply[ADDR_MAX + 160];

	if (s->listener->kind == CONF_L_MX || !(s->flags & SMTPD_F_AUTH) ||
	    passwd_sender_allowed(env->passwd, smtpd_auth_login(s->auth),
	    addr) == 1)
		return 1;
	log_printable(smtpd_auth_login(s->auth), user, sizeof(user));
	log_info("NOQUEUE: session=%s, client=%s, cmd=MAIL, from=<%s>, "
	    "sasl_username=\"%s\", dsn=5.7.1, status=reject (553 sender not "
	    "owned by user)", s->idstr, s->client, addr, user);
	snprintf(reply, sizeof(reply), "553 5.7.1 <%s>: Sender address "
	    "rejected: not owned by user %s", addr, user);
	smtpd_session_error(s, reply);
	return 0;
}

static void
smtpd_session_command(struct smtpd_session *s, const char *line)
{
	const struct conf	*c = smtpd_conf();
	struct smtpd_cmd	 cmd;
	char			 reply[256];
	char			 args[SMTPD_SASL_MECH_MAX + SMTPD_SASL_RESP_MAX + 2];

	if (smtpd_cmd_parse(line, (unsigned long long)c->queue_max_message_size,
	    (s->txflags & SMTPD_TX_SMTPUTF8) ? SMTPD_CMD_F_UTF8 : 0, &cmd,
	    reply, sizeof(reply)) == -1) {
		/*
		 * A BDAT we cannot parse leaves no way to tell where its
		 * chunk ends: what follows cannot be read as commands.
		 */
		if (strncmp(reply, "521", 3) == 0) {
			log_info("NOQUEUE: session=%s, client=%s, cmd=BDAT, "
			    "dsn=5.5.4, status=reject (%s)", s->idstr,
			    s->client, reply);
			smtpd_session_reply(s, "%s", reply);
			smtpd_session_close(s);
			return;
		}
		smtpd_session_error(s, reply);
		return;
	}
	switch (cmd.verb) {
	case SMTPD_C_STARTTLS:
		smtpd_session_starttls(s);
		break;
	case SMTPD_C_AUTH:
		snprintf(args, sizeof(args), "%s%s%s", cmd.sasl_mech,
		    cmd.sasl_resp[0] ? " " : "", cmd.sasl_resp);
		smtpd_session_auth(s, args);
		OPENSSL_cleanse(&cmd, sizeof(cmd));
		OPENSSL_cleanse(args, sizeof(args));
		break;
	case SMTPD_C_BDAT:
		smtpd_session_bdat(s, &cmd);
		break;
	case SMTPD_C_HELO:
	case SMTPD_C_EHLO:
		if (s->state > SMTPD_S_READY)
			smtpd_session_reset(s);
		strlcpy(s->helo, cmd.helo, sizeof(s->helo));
		s->esmtp = cmd.verb == SMTPD_C_EHLO;
		smtpd_session_enter(s, SMTPD_S_READY);
		if (s->esmtp)
			smtpd_session_ehlo(s);
		else
			smtpd_session_reply(s, "250 %s", c->hostname);
		break;
	case SMTPD_C_MAIL:
		if (s->state == SMTPD_S_HELO) {
			smtpd_session_error(s, "503 5.5.1 Error: send HELO/EHLO "
			    "first");
			break;
		}
		if (s->state != SMTPD_S_READY) {
			smtpd_session_error(s, "503 5.5.1 Error: nested MAIL "
			    "command");
			break;
		}
		if (smtpd_session_submission_gate(s) == -1 ||
		    !smtpd_session_sender_ok(s, cmd.addr))
			break;
		if (smtpd_fed_mail(s) == -1) {
			smtpd_session_tempfail(s, "451 4.7.1 Error: federation "
			    "members must send with their verified "
			    "certificate; try again later");
			break;
		}
		if (env->queue_low) {
			log_info("NOQUEUE: session=%s, client=%s, cmd=MAIL, "
			    "from=<%s>, dsn=4.3.1, status=reject (452 spool "
			    "short of space)", s->idstr, s->client, cmd.addr);
			smtpd_session_tempfail(s, "452 4.3.1 Error: "
			    "insufficient system storage, try again later");
			break;
		}
		if (cmd.body == SMTPD_BODY_BINARYMIME) {
			smtpd_session_error(s, "555 5.5.4 Error: BODY=BINARYMIME "
			    "is not supported");
			break;
		}
		s->txflags = 0;
		if (cmd.params & SMTPD_P_SMTPUTF8)
			s->txflags |= SMTPD_TX_SMTPUTF8;
		if (cmd.body == SMTPD_BODY_8BITMIME)
			s->txflags |= SMTPD_TX_8BITMIME;
		s->ret = cmd.ret;
		free(s->envid);
		s->envid = (cmd.params & SMTPD_P_ENVID) ?
		    xstrdup(cmd.envid_x) : NULL;
		/* AUTH= (RFC 4954 5) is checked by the parser; as we relay
		 * for nobody by it, it is otherwise ignored. */
		strlcpy(s->sender, cmd.addr, sizeof(s->sender));
		s->nrcpt = 0;
		smtpd_session_enter(s, SMTPD_S_MAIL);
		smtpd_session_reply(s, "250 2.1.0 Ok");
		break;
	case SMTPD_C_RCPT:
		if (s->txflags & SMTPD_TX_BDAT) {
			smtpd_session_error(s, "503 5.5.1 Error: BDAT in "
			    "progress");
			break;
		}
		if (s->state != SMTPD_S_MAIL && s->state != SMTPD_S_RCPT) {
			smtpd_session_error(s, "503 5.5.1 Error: need MAIL "
			    "command");
			break;
		}
		smtpd_session_rcpt(s, &cmd);
		break;
	case SMTPD_C_DATA:
		if (s->txflags & SMTPD_TX_BDAT) {
			smtpd_session_error(s, "503 5.5.1 Error: BDAT in "
			    "progress; DATA cannot follow");
			break;
		}
		if (s->state == SMTPD_S_MAIL) {
			smtpd_session_error(s, "554 5.5.1 Error: no valid "
			    "recipients");
			break;
		}
		if (s->state != SMTPD_S_RCPT) {
			smtpd_session_error(s, "503 5.5.1 Error: need RCPT "
			    "command");
			break;
		}
		if (!s->opened) {
			smtpd_session_reset(s);
			smtpd_session_tempfail(s, "451 4.3.0 Error: queue "
			    "unavailable, try again later");
			break;
		}
		if (smtpd_session_early_text(s))
			break;
		if (s->qid[0] == '\0')
			smtpd_session_enter(s, SMTPD_S_OPENING);
		else
			smtpd_session_data_begin(s);
		break;
	case SMTPD_C_RSET:
		smtpd_session_reset(s);
		smtpd_session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTPD_C_NOOP:
		smtpd_session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTPD_C_QUIT:
		smtpd_session_reply(s, "221 2.0.0 Bye");
		smtpd_session_close(s);
		break;
	case SMTPD_C_VRFY:
		smtpd_session_reply(s, "252 2.5.2 Cannot VRFY user, but will "
		    "accept message and attempt delivery");
		break;
	case SMTPD_C_HELP:
		smtpd_session_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL "
		    "RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
		break;
	}
}

/*
 * smtpd_session_cmdmax - the longest line the next command may be: 512
 * octets (RFC 5321 4.5.3.1.4), more for MAIL and RCPT, whose DSN and
 * AUTH= parameters lengthen them (RFC 3461 5, RFC 4954 5); an AUTH
 * response line keeps the command limit
 */
static size_t
smtpd_session_cmdmax(struct smtpd_session *s, struct evbuffer *in)
{
	char	 verb[5];

	if (s->flags & SMTPD_F_SASL || evbuffer_copyout(in, verb, 5) != 5)
		return SMTPD_CMD_MAX;
	if ((strncasecmp(verb, "MAIL ", 5) == 0 ||
	    strncasecmp(verb, "RCPT ", 5) == 0))
		return SMTPD_CMD_EXT_MAX;
	return SMTPD_CMD_MAX;
}

/*
 * smtpd_session_cmdline - take one command line; 0 if none is complete.
 * Only CRLF ends a command line: a bare LF or CR is part of the line, and
 * spoils it, so nothing after one can pass for a command of its own.
 * Overlong lines are dropped as they come, then answered once.
 */
static int
smtpd_session_cmdline(struct smtpd_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	 eol;
	char			 line[SMTPD_CMD_EXT_MAX + 1];
	size_t			 avail = evbuffer_get_length(in), len, max;

	max = smtpd_session_cmdmax(s, in);
	eol = evbuffer_search(in, "\r\n", 2, NULL);
	if (eol.pos == -1) {
		if (avail > max) {
			/* Keep a last CR: it may start the CRLF. */
			evbuffer_drain(in, avail - 1);
			s->skipping = 1;
		}
		return 0;
	}
	len = (size_t)eol.pos + 2;
	s->ncmds++;
	if (s->skipping || len > max) {
		evbuffer_drain(in, len);
		s->skipping = 0;
		if (s->flags & SMTPD_F_SASL) {
			s->flags &= ~SMTPD_F_SASL;
			smtpd_auth_cancel(s->auth);
			smtpd_session_error(s, "500 5.5.6 Authentication "
			    "Exchange line is too long");
			return 1;
		}
		smtpd_session_error(s, "500 5.5.2 Error: command line too long");
		return 1;
	}
	evbuffer_remove(in, line, len);
	len -= 2;
	line[len] = '\0';
	if (memchr(line, '\n', len) != NULL) {
		smtpd_session_error(s, "500 5.5.2 Error: bare <LF> received");
		return 1;
	}
	if (memchr(line, '\r', len) != NULL) {
		smtpd_session_error(s, "500 5.5.2 Error: bare <CR> received");
		return 1;
	}
	if (memchr(line, '\0', len) != NULL) {
		if (s->flags & SMTPD_F_SASL) {
			s->flags &= ~SMTPD_F_SASL;
			smtpd_auth_cancel(s->auth);
		}
		smtpd_session_error(s, "500 5.5.2 Error: NUL in command");
		return 1;
	}
	if (s->flags & SMTPD_F_SASL)
		smtpd_session_auth_line(s, line);
	else
		smtpd_session_command(s, line);
	OPENSSL_cleanse(line, len);
	return 1;
}

/* smtpd_session_chunk_flush - send the text gathered so far to the queue */
static void
smtpd_session_chunk_flush(struct smtpd_session *s)
{
	struct ipc_msg	*m;

	if (buf_len(s->chunk) == 0)
		return;
	m = ipc_new(IPC_SMTPD_MSG_DATA);
	ipc_put_u64(m, s->tid);
	ipc_put_data(m, buf_data(s->chunk), buf_len(s->chunk));
	smtpd_queue_send(m);
	buf_reset(s->chunk);
}

static void
smtpd_session_data_out(void *arg, const char *p, size_t n)
{
	smtpd_session_chunk_add(arg, p, n);
}

static void
smtpd_session_data_hdr_end(void *arg)
{
	smtpd_session_header_end(arg);
}

/* smtpd_session_text - message octets (unstuffed, or a BDAT chunk's) */
static void
smtpd_session_text(struct smtpd_session *s, const char *p, size_t n)
{
	struct smtpd_data_sink	 sink = { smtpd_session_data_out,
				    smtpd_session_data_hdr_end, s };

	smtpd_data_feed(&s->data, p, n, &sink);
}

/*
 * smtpd_session_chunk_add - bytes for the queue, in IPC_CHUNK pieces; our
 * own header lines come here directly, not counted against the size limit
 */
static void
smtpd_session_chunk_add(struct smtpd_session *s, const char *p, size_t n)
{
	size_t	 room;

	while (n > 0) {
		room = IPC_CHUNK - buf_len(s->chunk);
		if (room > n)
			room = n;
		if (buf_add(s->chunk, p, room) == -1)
			fatalx("%s: chunk overflow", __func__);
		p += room;
		n -= room;
		if (buf_len(s->chunk) == IPC_CHUNK)
			smtpd_session_chunk_flush(s);
	}
}

/*
 * smtpd_session_header_end - the header is over: a submission server adds
 * Message-ID and Date when the client left them out (RFC 6409 8.2, 8.3)
 */
static void
smtpd_session_header_end(struct smtpd_session *s)
{
	char		 line[400], date[64];
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 n;

	if (s->listener->kind == CONF_L_MX || s->data.err != SMTPD_DE_NONE)
		return;
	if (!(s->data.hdr_seen & SMTPD_DATA_H_DATE)) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		n = snprintf(line, sizeof(line), "Date: %s\r\n", date);
		smtpd_session_chunk_add(s, line, (size_t)n);
	}
	if (!(s->data.hdr_seen & SMTPD_DATA_H_MSGID)) {
		n = snprintf(line, sizeof(line), "Message-ID: <%s.%s@%s>\r\n",
		    s->qid, s->idstr, smtpd_conf()->hostname);
		if (n > 0 && (size_t)n < sizeof(line))
			smtpd_session_chunk_add(s, line, (size_t)n);
	}
}

/* smtpd_session_data_end - the final dot: commit, or refuse */
static void
smtpd_session_data_end(struct smtpd_session *s)
{
	const char	*reply = NULL, *dsn = NULL;
	struct ipc_msg	*m;
	int		 ours;
	struct smtpd_data_sink	 sink = { smtpd_session_data_out,
				    smtpd_session_data_hdr_end, s };

	smtpd_session_timeouts(s, smtpd_conf()->smtpd_command_timeout);
	switch (smtpd_data_finish(&s->data, &sink)) {
	case SMTPD_DE_NONE:
		smtpd_session_chunk_flush(s);
		m = ipc_new(IPC_SMTPD_MSG_COMMIT);
		ipc_put_u64(m, s->tid);
		smtpd_queue_send(m);
		smtpd_session_enter(s, SMTPD_S_COMMIT);
		return;
	case SMTPD_DE_BARE:
		dsn = "5.5.2";
		reply = "554 5.5.2 Error: bare CR or LF in message text";
		break;
	case SMTPD_DE_LONG:
		dsn = "5.5.2";
		reply = "554 5.5.2 Error: message text line over 1000 octets";
		break;
	case SMTPD_DE_SIZE:
		dsn = "5.3.4";
		reply = "552 5.3.4 Error: message file too big";
		break;
	case SMTPD_DE_QUEUE:
		dsn = "4.3.0";
		reply = "451 4.3.0 Error: queue unavailable, try again later";
		break;
	case SMTPD_DE_NUL:
		dsn = "5.6.0";
		reply = "554 5.6.0 Error: NUL octet in message text";
		break;
	case SMTPD_DE_LOOP:
		dsn = "5.4.6";
		reply = "554 5.4.6 Error: too many Received headers: mail "
		    "loop?";
		break;
	}
	log_info("%s: session=%s, client=%s, cmd=%s, from=<%s>, dsn=%s, "
	    "status=reject (%s)", s->qid[0] ? s->qid : "NOQUEUE", s->idstr,
	    s->client, (s->txflags & SMTPD_TX_BDAT) ? "BDAT" : "DATA",
	    s->sender, dsn, reply);
	ours = s->data.err == SMTPD_DE_QUEUE;
	smtpd_session_reset(s);
	if (ours)
		smtpd_session_tempfail(s, reply);
	else
		smtpd_session_error(s, reply);
}

/*
 * smtpd_session_textline - take one line of message text; 0 if more input
 * is needed. A line longer than SMTPD_TEXT_MAX is consumed in pieces as it
 * arrives, so it never sits whole in memory.
 */
static int
smtpd_session_textline(struct smtpd_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	 eol;
	const char		*p;
	size_t			 avail = evbuffer_get_length(in), len;
	int			 crlf;

	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		/* One more: a stuffed line may carry an extra leading dot. */
		if (avail <= SMTPD_TEXT_MAX + 1)
			return 0;
		/*
		 * Overlong: take it in pieces as it comes. Keep the last
		 * byte: it may be the CR of a CRLF.
		 */
		len = avail - 1;
		p = (const char *)evbuffer_pullup(in, len);
		s->data_bytes += len;
		if (s->at_bol && p[0] == '.')
			smtpd_session_text(s, p + 1, len - 1);
		else
			smtpd_session_text(s, p, len);
		evbuffer_drain(in, len);
		s->at_bol = 0;
		return 1;
	}
	len = (size_t)eol.pos + 1;
	p = (const char *)evbuffer_pullup(in, len);
	crlf = len >= 2 && p[len - 2] == '\r';
	if (s->at_bol && s->prev_crlf && crlf && len == 3 && p[0] == '.') {
		evbuffer_drain(in, len);
		smtpd_session_data_end(s);
		return 1;
	}
	s->data_bytes += len;
	/*
	 * The dot of transparency goes (RFC 5321 4.5.2); the content rules,
	 * line length among them, apply to what is left.
	 */
	if (s->at_bol && p[0] == '.')
		smtpd_session_text(s, p + 1, len - 1);
	else
		smtpd_session_text(s, p, len);
	evbuffer_drain(in, len);
	s->prev_crlf = crlf;
	s->at_bol = 1;
	return 1;
}

/*
 * smtpd_session_textblock - the whole lines of message text in the first
 * contiguous piece of the input, at once: the rules of
 * smtpd_session_textline() (the dot of transparency, the final dot, what
 * counts as received), in one pass over the octets and one call of the
 * content checks per run of lines rather than per line, which cost a
 * large message more than storing it. A piece that holds no whole line
 * (a line across two pieces, or an overlong one) goes to
 * smtpd_session_textline(). 0 if more input is needed.
 */
static int
smtpd_session_textblock(struct smtpd_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v;
	const char		*p, *end, *line, *nl, *run;
	size_t			 len;
	int			 crlf;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return smtpd_session_textline(s, in);
	p = v.iov_base;
	end = p + v.iov_len;
	run = line = p;
	while (line < end &&
	    (nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
		len = (size_t)(nl + 1 - line);
		crlf = len >= 2 && nl[-1] == '\r';
		if (s->at_bol && s->prev_crlf && crlf && len == 3 &&
		    line[0] == '.') {
			if (line > run)
				smtpd_session_text(s, run, (size_t)(line - run));
			s->data_bytes += (size_t)(line - p);
			evbuffer_drain(in, (size_t)(line - p) + len);
			smtpd_session_data_end(s);
			return 1;
		}
		if (s->at_bol && line[0] == '.') {
			if (line > run)
				smtpd_session_text(s, run, (size_t)(line - run));
			run = line + 1;
		}
		s->prev_crlf = crlf;
		s->at_bol = 1;
		line = nl + 1;
	}
	if (line == p)
		return smtpd_session_textline(s, in);
	if (line > run)
		smtpd_session_text(s, run, (size_t)(line - run));
	s->data_bytes += (size_t)(line - p);
	evbuffer_drain(in, (size_t)(line - p));
	return 1;
}

/* smtpd_session_input - work through what the client has sent */
static void
smtpd_session_input(struct smtpd_session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	struct evbuffer	*out = bufferevent_get_output(s->bev);

	for (;;) {
		/*
		 * Back-pressure: a client that does not read its replies, or
		 * a queue that falls behind, stops this session's reading
		 * until the write side drains (smtpd_session_write,
		 * smtpd_session_queue_drained).
		 */
		if (evbuffer_get_length(out) > SMTPD_OUT_HIWAT)
			s->paused |= SMTPD_P_OUTPUT;
		/*
		 * In every state, not only DATA: MAIL/RCPT/RSET cycles fill
		 * the link too (OPEN, RCPT and ABORT frames).
		 */
		if (env->queue != NULL &&
		    ipc_peer_queued(env->queue) > SMTPD_QUEUE_HIWAT)
			s->paused |= SMTPD_P_QUEUE;
		if (s->paused) {
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (s->flags & SMTPD_F_PREGREET) {
			if (evbuffer_get_length(in) > 0)
				smtpd_session_pregreet_fail(s);
			return;
		}
		/* After STARTTLS not one more plaintext line is taken. */
		if (s->flags & (SMTPD_F_TLS_START | SMTPD_F_HANDSHAKE |
		    SMTPD_F_AUTH_WAIT))
			return;
		switch (s->state) {
		case SMTPD_S_OPENING:
		case SMTPD_S_COMMIT:
			/* Wait for the queue; stop reading (back-pressure). */
			bufferevent_disable(s->bev, EV_READ);
			return;
		case SMTPD_S_CLOSING:
			return;
		case SMTPD_S_DATA:
			if (smtpd_session_textblock(s, in) == 0)
				return;
			break;
		case SMTPD_S_BDAT:
			if (smtpd_session_bdat_read(s, in) == 0)
				return;
			break;
		default:
			if (smtpd_session_cmdline(s, in) == 0)
				return;
			break;
		}
	}
}

/* smtpd_session_resume - the queue answered: read again, catch up */
static void
smtpd_session_resume(struct smtpd_session *s)
{
	if (s->state == SMTPD_S_CLOSING || s->paused ||
	    (s->flags & SMTPD_F_AUTH_WAIT))
		return;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	smtpd_session_input(s);
}

/*
 * smtpd_session_too_slow - the whole-session deadline, and the minimum
 * data rate once a message has run for a grace period: a client sending
 * a byte every few seconds never meets a read timeout, so these are
 * checked whenever it does send. 1 if the session was ended.
 */
static int
smtpd_session_too_slow(struct smtpd_session *s)
{
	const struct conf	*c = smtpd_conf();
	time_t			 now = time(NULL), ran;
	const char		*why = NULL;

	if (now - s->started > c->smtpd_session_timeout)
		why = "session deadline passed";
	else if ((s->state == SMTPD_S_DATA || s->state == SMTPD_S_BDAT) &&
	    c->smtpd_min_data_rate > 0 &&
	    (ran = now - s->data_started) > SMTPD_RATE_GRACE &&
	    s->data_bytes + evbuffer_get_length(bufferevent_get_input(s->bev)) <
	    (unsigned long long)c->smtpd_min_data_rate *
	    (unsigned long long)ran)
		why = "data rate too low";
	if (why == NULL)
		return 0;
	log_info("%s: session=%s, client=%s, dsn=4.4.2, status=reject (421 "
	    "%s)", s->qid[0] ? s->qid : "NOQUEUE", s->idstr, s->client, why);
	if (s->state == SMTPD_S_DATA || s->state == SMTPD_S_BDAT)
		smtpd_session_reset(s);
	smtpd_session_reply(s, "421 4.4.2 %s Error: %s", c->hostname, why);
	smtpd_session_close(s);
	return 1;
}

static void
smtpd_session_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	if (smtpd_session_too_slow(arg))
		return;
	smtpd_session_input(arg);
}

static void
smtpd_session_write(struct bufferevent *bev, void *arg)
{
	struct smtpd_session	*s = arg;

	(void)bev;
	/*
	 * The write callback may be a deferred one, from a write before the
	 * last replies were queued (OpenSSL bufferevents defer them): free
	 * only once everything owed is out.
	 */
	if (s->state == SMTPD_S_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			smtpd_session_free(s);
		return;
	}
	if (s->flags & SMTPD_F_TLS_START) {
		if (smtpd_session_tls_begin(s) == -1)
			smtpd_session_free(s);
		return;
	}
	if (s->paused & SMTPD_P_OUTPUT) {
		s->paused &= ~SMTPD_P_OUTPUT;
		smtpd_session_resume(s);
	}
}

/* smtpd_session_queue_drained - the queue link caught up: read again */
void
smtpd_session_queue_drained(void)
{
	struct smtpd_session	*s, *next;

	for (s = env->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->paused & SMTPD_P_QUEUE) {
			s->paused &= ~SMTPD_P_QUEUE;
			smtpd_session_resume(s);
		}
	}
}

/* smtpd_session_wait_expired - the queue did not answer in time */
static void
smtpd_session_wait_expired(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_session	*s = arg;

	(void)fd;
	(void)ev;
	/* Before COMMIT the queue may drop the transaction; after, it is its. */
	if (s->state == SMTPD_S_OPENING)
		smtpd_session_abort(s);
	smtpd_session_failed(s, "no answer in time");
}

static void
smtpd_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session	*s = arg;
	char			 e[256];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		smtpd_session_tls_up(s);
		return;
	}
	if ((s->flags & SMTPD_F_HANDSHAKE) && !(what & BEV_EVENT_TIMEOUT)) {
		log_info("NOQUEUE: session=%s, client=%s, dsn=4.7.0, "
		    "status=reject (TLS handshake failed: %s)", s->idstr,
		    s->client, smtpd_tls_failure(s, e, sizeof(e)));
		smtpd_session_free(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (s->flags & SMTPD_F_HANDSHAKE)) {
		log_info("NOQUEUE: session=%s, client=%s, dsn=4.4.2, "
		    "status=reject (timeout in the TLS handshake)", s->idstr,
		    s->client);
		smtpd_session_free(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    s->state != SMTPD_S_CLOSING) {
		log_info("%s: session=%s, client=%s, dsn=4.4.2, status=reject "
		    "(421 timeout in state %s)", s->qid[0] ? s->qid : "NOQUEUE",
		    s->idstr, s->client, smtpd_state_names[s->state]);
		smtpd_session_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    smtpd_conf()->hostname);
		bufferevent_enable(s->bev, EV_WRITE);
		smtpd_session_close(s);
		return;
	}
	/*
	 * A client that half-closes after its last command still gets the
	 * replies already queued: among them may be the 250 for a message
	 * now on disk, and losing it would make the client send it again.
	 */
	if ((what & BEV_EVENT_EOF) && s->state != SMTPD_S_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0) {
		smtpd_session_close(s);
		return;
	}
	/* EOF, error or a write timeout: nothing more can be said. */
	smtpd_session_free(s);
}

static void
smtpd_session_fmt_client(const struct sockaddr *sa, socklen_t len,
    char *out, size_t outlen)
{
	char	 host[64], serv[16];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, outlen, "[unknown]");
	else
		snprintf(out, outlen, "[%s]:%s", host, serv);
}

/* smtpd_session_new - a new connection: greet it */
void
smtpd_session_new(int fd, const struct sockaddr *sa, socklen_t len,
    const struct smtpd_listener *l, int exempt)
{
	struct smtpd_session	*s;

	s = xcalloc(1, sizeof(*s));
	s->id = ++env->next_id;
	snprintf(s->idstr, sizeof(s->idstr), "s%llx",
	    (unsigned long long)s->id);
	memcpy(&s->ss, sa, len < sizeof(s->ss) ? len : sizeof(s->ss));
	if (l->kind == CONF_L_LOCAL) {
		struct ucred	 cred;
		socklen_t	 clen = sizeof(cred);

		/* The kernel's word for who connected: nothing else counts. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1 ||
		    clen != sizeof(cred)) {
			log_warn("NOQUEUE: session on %s: SO_PEERCRED", l->addr);
			smtpd_limit_disconnect(env->limits, env->instance, sa);
			smtpd_session_reject(fd, sa, len, "4.3.0",
			    "cannot tell who you are");
			free(s);
			return;
		}
		s->flags |= SMTPD_F_LOCAL;
		s->peer_uid = cred.uid;
		s->peer_pid = cred.pid;
		snprintf(s->client, sizeof(s->client), "local[uid=%lu,pid=%ld]",
		    (unsigned long)cred.uid, (long)cred.pid);
	} else
		smtpd_session_fmt_client(sa, len, s->client, sizeof(s->client));
	s->fd = fd;
	s->started = time(NULL);
	s->listener = l;
	s->flags |= SMTPD_F_COUNTED;
	/* Not BEV_OPT_CLOSE_ON_FREE: the socket outlives it at STARTTLS. */
	s->bev = bufferevent_socket_new(env->w.base, fd, 0);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new");
	s->next = env->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	env->sessions = s;
	env->nsessions++;
	log_info("NOQUEUE: session=%s, client=%s (connect to %s %s)",
	    s->idstr, s->client, conf_listen_kind_name(l->kind), l->addr);
	smtpd_fed_connect(s);
	if (l->kind == CONF_L_SUBMISSIONS) {
		/* RFC 8314: TLS from the first byte; the 220 comes after. */
		if (smtpd_session_tls_begin(s) == -1)
			smtpd_session_free(s);
		return;
	}
	smtpd_session_bev_setup(s);
	if (l->pregreet > 0 && !exempt && !smtpd_limit_pregreet_ok(env->limits,
	    sa, (int64_t)time(NULL))) {
		smtpd_session_pregreet(s);
		return;
	}
	smtpd_session_greet(s, "220 ");
}

/* smtpd_session_greet - the greeting line; "220-" begins the pregreet test */
static void
smtpd_session_greet(struct smtpd_session *s, const char *code)
{
	smtpd_session_reply(s, "%s%s ESMTP aval", code, smtpd_conf()->hostname);
}

/*
 * smtpd_session_pregreet - postscreen's test: "220-" and a pause. A client
 * that speaks before the final "220 " is a bot that does not wait for the
 * greeting (RFC 5321 4.3.1); it gets 554 and is gone. One that waits
 * passes, and its address skips the pause for a day.
 */
static void
smtpd_session_pregreet(struct smtpd_session *s)
{
	struct timeval	 tv;

	s->flags |= SMTPD_F_PREGREET;
	smtpd_session_greet(s, "220-");
	s->wait_ev = evtimer_new(env->w.base, smtpd_session_pregreet_done, s);
	tv.tv_sec = s->listener->pregreet;
	tv.tv_usec = 0;
	evtimer_add(s->wait_ev, &tv);
}

static void
smtpd_session_pregreet_done(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_session	*s = arg;
	int64_t			 now = (int64_t)time(NULL);

	(void)fd;
	(void)ev;
	s->flags &= ~SMTPD_F_PREGREET;
	/* The timer is the queue waits' from now on. */
	event_free(s->wait_ev);
	s->wait_ev = NULL;
	smtpd_limit_pregreet_pass(env->limits, (struct sockaddr *)&s->ss, now,
	    now + SMTPD_PREGREET_TTL);
	log_debug("NOQUEUE: session=%s, client=%s (pregreet passed)",
	    s->idstr, s->client);
	smtpd_session_greet(s, "220 ");
	smtpd_session_input(s);
}

/* smtpd_session_pregreet_fail - input before the final 220 */
static void
smtpd_session_pregreet_fail(struct smtpd_session *s)
{
	log_info("NOQUEUE: session=%s, client=%s, dsn=5.5.0, status=reject "
	    "(554 pregreet: spoke before the greeting)", s->idstr, s->client);
	s->flags &= ~SMTPD_F_PREGREET;
	event_free(s->wait_ev);
	s->wait_ev = NULL;
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	smtpd_session_reply(s, "554 5.5.0 %s Error: you talked before the "
	    "greeting", smtpd_conf()->hostname);
	smtpd_session_close(s);
}

/* smtpd_session_tls_up - the handshake is done: a new session inside TLS */
static void
smtpd_session_tls_up(struct smtpd_session *s)
{
	smtpd_tls_connected(s);
	/* RFC 3207 4.2: forget what the client said before TLS. */
	s->helo[0] = '\0';
	s->esmtp = 0;
	if (s->auth != NULL)
		smtpd_auth_reset(s->auth);
	smtpd_session_reset(s);
	if (s->listener->kind == CONF_L_SUBMISSIONS)
		smtpd_session_greet(s, "220 ");
	smtpd_session_input(s);
}

/* smtpd_session_bev_setup - callbacks, limits and timeouts of s->bev */
static void
smtpd_session_bev_setup(struct smtpd_session *s)
{
	bufferevent_setcb(s->bev, smtpd_session_read, smtpd_session_write,
	    smtpd_session_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_READ_HIWAT);
	smtpd_session_timeouts(s, smtpd_conf()->smtpd_command_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* smtpd_session_reject - a connection over a limit: one 421 and close */
void
smtpd_session_reject(int fd, const struct sockaddr *sa, socklen_t len,
    const char *dsn, const char *text)
{
	struct ucred	 cred;
	socklen_t	 clen = sizeof(cred);
	char		 client[96], line[300];
	int		 n;

	/* A local client is its uid, refused or not: the log says who. */
	if (sa->sa_family == AF_UNIX && getsockopt(fd, SOL_SOCKET,
	    SO_PEERCRED, &cred, &clen) == 0 && clen == sizeof(cred))
		snprintf(client, sizeof(client), "local[uid=%lu,pid=%ld]",
		    (unsigned long)cred.uid, (long)cred.pid);
	else
		smtpd_session_fmt_client(sa, len, client, sizeof(client));
	log_info("NOQUEUE: client=%s, dsn=%s, status=reject (421 %s)", client,
	    dsn, text);
	n = snprintf(line, sizeof(line), "421 %s %s Error: %s\r\n", dsn,
	    smtpd_conf()->hostname, text);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* smtpd_session_opened - the queue named the transaction: DATA may go on */
void
smtpd_session_opened(struct smtpd_session *s, const char *qid)
{
	strlcpy(s->qid, qid, sizeof(s->qid));
	if (s->state == SMTPD_S_OPENING) {
		if (s->txflags & SMTPD_TX_BDAT) {
			smtpd_session_msg_begin(s);
			smtpd_session_bdat_take(s);
		} else
			smtpd_session_data_begin(s);
		smtpd_session_resume(s);
	}
}

/* smtpd_session_durable - the message is on disk: now, and only now, 250 */
void
smtpd_session_durable(struct smtpd_session *s)
{
	if (s->state != SMTPD_S_COMMIT) {
		log_warnx("%s: session=%s, durable in state %s", s->qid,
		    s->idstr, smtpd_state_names[s->state]);
		return;
	}
	log_info("%s: session=%s, client=%s, from=<%s>, size=%llu, nrcpt=%u "
	    "(queued%s)", s->qid, s->idstr, s->client, s->sender, s->data.size,
	    s->nrcpt, s->asking ? ", as the next queue found it stored" : "");
	s->asking = 0;
	smtpd_session_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
	/* The message is the queue's now; there is nothing to abort. */
	s->opened = 0;
	smtpd_session_reset(s);
	if (env->draining) {
		smtpd_session_reply(s, "421 4.3.2 %s Service shutting down",
		    smtpd_conf()->hostname);
		smtpd_session_close(s);
		return;
	}
	smtpd_session_resume(s);
}

/* smtpd_session_failed - the queue could not take the message */
void
smtpd_session_failed(struct smtpd_session *s, const char *why)
{
	log_warnx("%s: session=%s, client=%s, dsn=4.3.0, status=reject "
	    "(451 queue: %s)", s->qid[0] ? s->qid : "NOQUEUE", s->idstr,
	    s->client, why);
	s->opened = 0;
	s->asking = 0;
	switch (s->state) {
	case SMTPD_S_DATA:
	case SMTPD_S_BDAT:
		smtpd_data_fail(&s->data, SMTPD_DE_QUEUE);
		break;
	case SMTPD_S_OPENING:
	case SMTPD_S_COMMIT:
		smtpd_session_reset(s);
		smtpd_session_tempfail(s, "451 4.3.0 Error: queue file write "
		    "error, try again later");
		if (env->draining && s->state != SMTPD_S_CLOSING) {
			smtpd_session_reply(s, "421 4.3.2 %s Service shutting "
			    "down", smtpd_conf()->hostname);
			smtpd_session_close(s);
			break;
		}
		smtpd_session_resume(s);
		break;
	default:
		/* MAIL/RCPT: the DATA command will see !opened. */
		smtpd_hash_del(s);
		break;
	}
}

/* smtpd_session_queue_gone - the queue link closed under every session */
void
smtpd_session_queue_gone(void)
{
	struct smtpd_session	*s, *next;

	for (s = env->sessions; s != NULL; s = next) {
		next = s->next;
		/*
		 * A COMMIT was sent and not answered: the message may be on
		 * disk. A 451 now would make the client send it again, and a
		 * 250 could be a lie. The next queue knows: ask it then (the
		 * wait timer still bounds the wait).
		 */
		if (s->state == SMTPD_S_COMMIT && s->qid[0] != '\0') {
			if (!s->asking)
				log_info("%s: session=%s, queue link lost after "
				    "the message was committed; asking the next "
				    "queue whether it is stored", s->qid,
				    s->idstr);
			s->asking = 1;
			continue;
		}
		if (s->opened || s->state == SMTPD_S_COMMIT)
			smtpd_session_failed(s, "queue link lost");
	}
	/* Nothing will drain now: sessions paused on the link read again. */
	smtpd_session_queue_drained();
}

/* smtpd_session_queue_back - a new queue: ask it about lost COMMITs */
void
smtpd_session_queue_back(void)
{
	struct smtpd_session	*s;
	struct ipc_msg		*m;

	for (s = env->sessions; s != NULL; s = s->next) {
		if (!s->asking || s->state != SMTPD_S_COMMIT)
			continue;
		m = ipc_new(IPC_SMTPD_MSG_ASK);
		ipc_put_u64(m, s->tid);
		ipc_put_str(m, s->qid);
		smtpd_queue_send(m);
	}
}

/* smtpd_session_drain - shutting down: 421 to all but those committing */
void
smtpd_session_drain(void)
{
	struct smtpd_session	*s, *next;

	for (s = env->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SMTPD_S_COMMIT || s->state == SMTPD_S_CLOSING)
			continue;
		smtpd_session_reply(s, "421 4.3.2 %s Service shutting down",
		    smtpd_conf()->hostname);
		smtpd_session_close(s);
	}
}
