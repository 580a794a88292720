/*
 * aval-sink - an SMTP sink for tests and benchmarks
 *
 * aval-sink accepts SMTP on one address and answers every transaction as
 * fast as it can. It counts the messages it accepts and, when asked, keeps
 * them: with -d DIR each accepted message becomes one file in DIR that
 * starts with "X-Sink-From: <sender>" and one "X-Sink-To: <rcpt>" line per
 * accepted recipient, followed by the message data exactly as received
 * after dot-unstuffing, line endings untouched. A file is written under a
 * name that begins with '.' and renamed to "<seq>.<pid>.msg" once complete,
 * so a reader that skips dot-files never sees half a message.
 *
 * With -c FILE the sink truncates FILE at start-up and appends one line per
 * accepted message: "<seq> <unix time with milliseconds> <token> <nrcpt>",
 * where token is the value of the message's X-Bench-Token header or "-"
 * and nrcpt the number of recipients it was accepted for. The number of
 * lines is the running count of messages, the sum of the last field that
 * of deliveries; the time of line N is when the Nth message was accepted,
 * which is what the bench suites measure end-to-end rates with.
 *
 * Test hooks: a recipient whose local part starts with "defer" is answered
 * "451 4.3.0 deferred by sink", one that starts with "reject" is answered
 * "550 5.1.1 rejected by sink"; everyone else is accepted. A message
 * with a recipient whose local part starts with "close" ends its
 * connection: after the reply to its final dot the sink closes (with
 * close_notify under TLS), so every such message makes the client open a
 * new connection for the next one.
 *
 * TLS (-T CERTFILE, -K KEYFILE): EHLO offers STARTTLS, and after "220"
 * the socket goes to an OpenSSL bufferevent that accepts TLS 1.2 or 1.3.
 * Resumption works both ways a client may ask for it: RFC 5077 session
 * tickets (TLS 1.3 tickets too; the keys are OpenSSL's, made at start)
 * and, for TLS 1.2 session IDs, a server-side session cache. An unexpected
 * EOF does not cost a client its session. After the handshake the SMTP
 * state is reset (RFC 3207 section 4.2): the client must EHLO again, and
 * EHLO no longer offers STARTTLS. Plaintext the client pipelined after
 * STARTTLS is never read as if it came over TLS: the connection is dropped
 * (the CVE-2021-38371 class, server side). With -R, MAIL before STARTTLS
 * gets "530 5.7.0".
 *
 * Statistics (-s FILE): connections, TLS handshakes (full and resumed,
 * by protocol), failed handshakes, messages, messages that went over a
 * connection that had already carried one, and the most messages one
 * connection carried. The file is written whole (a temporary file
 * renamed over it) at start, on SIGUSR1 and on exit, one "key: value" a
 * line, the first line "snapshot: N" counting the writes, so a reader
 * that sent SIGUSR1 knows when the file it reads is the answer.
 *
 * Trust: the sink trusts nothing from the network. Every line is bounded
 * (a line longer than SINK_LINE_MAX drops the connection), every session
 * has an idle timeout (the TLS handshake too), and the output a client
 * refuses to read is bounded by pausing its input.
 *
 * Standards: RFC 5321 (server side: HELO, EHLO, MAIL, RCPT, DATA, RSET,
 * NOOP, VRFY, HELP, QUIT), RFC 2920 (PIPELINING), RFC 1870 (SIZE),
 * RFC 6152 (8BITMIME), RFC 2034 and 3463 (enhanced status codes),
 * RFC 3207 (STARTTLS), RFC 5077 and RFC 8446 (session resumption).
 *
 * Settings: only the command line.
 *
 *	aval-sink [-Rv] [-l addr:port] [-d dir] [-c file] [-n count]
 *	    [-t seconds] [-T certfile [-K keyfile]] [-s statsfile]
 *
 * On exit (after -n messages, after -t seconds, default 600, or on SIGTERM
 * or SIGINT) it prints "sink: N messages, C connections, H TLS handshakes
 * (R resumed), M on reused connections" to stderr.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/smtpline.h"
#include "common/tls.h"
#include "common/xmalloc.h"

#define SINK_LINE_MAX	65536	/* bytes in a line, CRLF included */
#define SINK_CMD_MAX	4096	/* longer commands get 500 */
#define SINK_PATH_MAX	512	/* bytes in one address */
#define SINK_RCPT_MAX	1000	/* recipients per transaction */
#define SINK_SIZE_MAX	104857600 /* advertised SIZE */
#define SINK_OUT_MAX	262144	/* unread reply bytes before pausing */
#define SINK_BUDGET	256	/* lines per read callback */
#define SINK_ERRORS_MAX	20	/* bad commands before 421 */
#define SINK_IDLE	300	/* seconds a session may idle */
#define SINK_GRACE	2	/* seconds to flush when stopping */
#define SINK_TOKEN_MAX	64
#define SINK_TLS_CACHE	20480	/* TLS 1.2 sessions kept by ID */
#define SINK_TLS_LIFE	3600	/* seconds a session may be resumed */

enum sink_state {
	SINK_S_GREETED,		/* waiting for HELO or EHLO */
	SINK_S_IDLE,		/* greeted, no transaction open */
	SINK_S_MAIL,		/* MAIL accepted, taking RCPT */
	SINK_S_DATA,		/* reading message lines */
};

struct sink;

/* What -s writes; nsessions and nmsgs in struct sink are the rest. */
struct sink_stats {
	unsigned long		 nsnap;		/* writes of the file */
	unsigned long		 handshakes;	/* finished, full or resumed */
	unsigned long		 resumed;
	unsigned long		 tls12;
	unsigned long		 tls13;
	unsigned long		 tls_failed;	/* after 220 to STARTTLS */
	unsigned long		 reused_msgs;	/* not the first of their conn */
	unsigned long		 conn_msgs_max;	/* most on one connection */
};

struct sink_session {
	TAILQ_ENTRY(sink_session) entry;
	struct sink		*sink;
	struct bufferevent	*bev;
	unsigned long		 id;
	enum sink_state		 state;
	int			 flags;
#define SINK_F_CLOSING	0x0001	/* flush the output, then free */
#define SINK_F_PAUSED	0x0002	/* input off until output drains */
#define SINK_F_INHDR	0x0004	/* data: still in the header */
#define SINK_F_WERR	0x0008	/* data: writing the file failed */
#define SINK_F_STARTTLS	0x0010	/* 220 to STARTTLS: handshake once flushed */
#define SINK_F_TLS	0x0020	/* the handshake is done */
#define SINK_F_CLOSEMSG	0x0040	/* a "close" recipient: hang up after it */
#define SINK_F_HANDSHAKE 0x0080	/* TLS handshake under way */
	int			 nerrors;
	unsigned long		 nmsgs;	/* messages over this connection */
	char			*from;	/* MAIL path, no brackets */
	struct buf		*rcpts;	/* "X-Sink-To: <a>\r\n" lines */
	size_t			 nrcpt;	/* accepted recipients */
	size_t			 size;	/* data bytes, unstuffed */
	FILE			*fp;	/* -d: the message file */
	char			*tmppath; /* -d: its temporary name */
	char			 token[SINK_TOKEN_MAX];
};

TAILQ_HEAD(sink_sessions, sink_session);

struct sink {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_limit;
	struct event		*ev_grace;
	struct event		*ev_resume; /* accept again after EMFILE */
	struct event		*ev_usr1;   /* write the statistics */
	struct sink_sessions	 sessions;
	const char		*dir;
	const char		*statsfile;
	SSL_CTX			*ssl_ctx;  /* -T: STARTTLS offered */
	int			 require_tls;
	int			 countfd;
	int			 verbose;
	int			 stopping;
	unsigned long		 max_msgs; /* 0: no limit */
	unsigned long		 nmsgs;
	unsigned long		 nsessions;
	struct sink_stats	 st;
	char			 hostname[256];
};

static void	sink_usage(void) __attribute__((noreturn));
static long long sink_parse_num(const char *, long long, long long,
		    const char *);
static void	sink_parse_addr(const char *, struct sockaddr_storage *,
		    socklen_t *);
static void	sink_format_addr(const struct sockaddr *, char *, size_t);
static void	sink_accept(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	sink_accept_error(struct evconnlistener *, void *);
static void	sink_resume(evutil_socket_t, short, void *);
static void	sink_stop(struct sink *, const char *);
static void	sink_on_signal(evutil_socket_t, short, void *);
static void	sink_on_limit(evutil_socket_t, short, void *);
static void	sink_on_grace(evutil_socket_t, short, void *);
static void	sink_session_free(struct sink_session *);
static void	sink_session_close(struct sink_session *);
static void	sink_session_reply(struct sink_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	sink_session_reset(struct sink_session *);
static void	sink_session_read(struct bufferevent *, void *);
static void	sink_session_write(struct bufferevent *, void *);
static void	sink_session_event(struct bufferevent *, short, void *);
static void	sink_session_command(struct sink_session *,
		    const unsigned char *, size_t);
static void	sink_session_helo(struct sink_session *, const char *, int);
static void	sink_session_mail(struct sink_session *, const char *);
static void	sink_session_rcpt(struct sink_session *, const char *);
static void	sink_session_data(struct sink_session *);
static void	sink_session_line(struct sink_session *,
		    const unsigned char *, size_t);
static void	sink_session_header(struct sink_session *, const char *,
		    size_t);
static void	sink_session_done(struct sink_session *);
static int	sink_session_params(struct sink_session *, const char *, int);
static const char *sink_parse_path(const char *, char *, size_t);
static void	sink_count(struct sink *, const char *, size_t);
static SSL_CTX	*sink_tls_new(const char *, const char *);
static int	sink_session_starttls(struct sink_session *, const char *);
static void	sink_session_tls_start(struct sink_session *);
static void	sink_session_tls_done(struct sink_session *);
static void	sink_stats_write(struct sink *);
static void	sink_on_usr1(evutil_socket_t, short, void *);

static void
sink_usage(void)
{
	fprintf(stderr, "usage: aval-sink [-Rv] [-l addr:port] [-d dir] "
	    "[-c file] [-n count] [-t seconds]\n"
	    "           [-T certfile [-K keyfile]] [-s statsfile]\n");
	exit(2);
}

/* sink_parse_num - a decimal option value within [min, max], or die */
static long long
sink_parse_num(const char *s, long long min, long long max, const char *what)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		fatalx("%s: \"%s\" is not a number in [%lld, %lld]", what, s,
		    min, max);
	return v;
}

/*
 * sink_parse_addr - "addr:port" or "[v6addr]:port" to a socket address
 */
static void
sink_parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	const char	*port, *p;
	size_t		 hlen;
	int		 error;

	if (arg[0] == '[') {
		if ((p = strchr(arg, ']')) == NULL || p[1] != ':')
			fatalx("listen address \"%s\": want [addr]:port", arg);
		hlen = (size_t)(p - arg - 1);
		arg++;
		port = p + 2;
	} else {
		if ((p = strrchr(arg, ':')) == NULL)
			fatalx("listen address \"%s\": want addr:port", arg);
		hlen = (size_t)(p - arg);
		port = p + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0')
		fatalx("listen address \"%s\": bad host or port", arg);
	memcpy(host, arg, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0)
		fatalx("listen address %s port %s: %s", host, port,
		    gai_strerror(error));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

/* sink_format_addr - "addr:port" or "[addr]:port" for messages */
static void
sink_format_addr(const struct sockaddr *sa, char *out, size_t outsz)
{
	char	 host[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	    host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outsz, "?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		snprintf(out, outsz, "[%s]:%s", host, port);
	else
		snprintf(out, outsz, "%s:%s", host, port);
}

/* sink_accept - a new client: greet it and start reading */
static void
sink_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct sink		*sk = arg;
	struct sink_session	*s;
	struct timeval		 tv = { SINK_IDLE, 0 };
	int			 on = 1;

	(void)l;
	(void)sa;
	(void)salen;
	if (sk->stopping) {
		close(fd);
		return;
	}
	/*
	 * Replies are written once per read callback; with Nagle on, a
	 * reply that follows an unacknowledged one can sit out a delayed
	 * ACK, which would measure the kernel instead of the MTA.
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_warn("setsockopt TCP_NODELAY");

	s = xcalloc(1, sizeof(*s));
	s->sink = sk;
	s->id = ++sk->nsessions;
	s->state = SINK_S_GREETED;
	s->rcpts = buf_new(256, SINK_RCPT_MAX * (SINK_PATH_MAX + 16));
	if ((s->bev = bufferevent_socket_new(sk->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("session %lu: bufferevent_socket_new failed", s->id);
		close(fd);
		buf_free(s->rcpts);
		free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&sk->sessions, s, entry);
	bufferevent_setcb(s->bev, sink_session_read, sink_session_write,
	    sink_session_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SINK_LINE_MAX + 1);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	sink_session_reply(s, "220 %s ESMTP aval-sink", sk->hostname);
	if (sk->verbose)
		log_info("session %lu: connect", s->id);
}

/*
 * sink_accept_error - out of descriptors: stop accepting for a second
 * instead of spinning on a listener that is always readable
 */
static void
sink_accept_error(struct evconnlistener *l, void *arg)
{
	struct sink	*sk = arg;
	struct timeval	 tv = { 1, 0 };
	int		 saved = EVUTIL_SOCKET_ERROR();

	log_warnx("accept: %s", evutil_socket_error_to_string(saved));
	if (saved == EMFILE || saved == ENFILE || saved == ENOBUFS ||
	    saved == ENOMEM) {
		evconnlistener_disable(l);
		evtimer_add(sk->ev_resume, &tv);
	}
}

/* sink_resume - accept again after a pause */
static void
sink_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct sink	*sk = arg;

	(void)fd;
	(void)ev;
	if (!sk->stopping)
		evconnlistener_enable(sk->listener);
}

/*
 * sink_stop - stop accepting, let every session flush what it was told,
 * then leave the loop (at the latest SINK_GRACE seconds later)
 */
static void
sink_stop(struct sink *sk, const char *why)
{
	struct sink_session	*s;
	struct timeval		 tv = { SINK_GRACE, 0 };

	if (sk->stopping)
		return;
	sk->stopping = 1;
	if (sk->verbose)
		log_info("stopping (%s)", why);
	evconnlistener_disable(sk->listener);
	if (TAILQ_EMPTY(&sk->sessions)) {
		event_base_loopexit(sk->base, NULL);
		return;
	}
	/*
	 * Sessions are not freed here: this may run inside one of their
	 * callbacks. The write callback frees each once its output is empty.
	 */
	TAILQ_FOREACH(s, &sk->sessions, entry)
		sink_session_close(s);
	evtimer_add(sk->ev_grace, &tv);
}

/* sink_on_signal - SIGTERM or SIGINT, delivered by the loop */
static void
sink_on_signal(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	sink_stop(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* sink_on_limit - the -t time limit */
static void
sink_on_limit(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	sink_stop(arg, "time limit");
}

/* sink_on_grace - sessions that did not flush in time are left behind */
static void
sink_on_grace(evutil_socket_t fd, short ev, void *arg)
{
	struct sink	*sk = arg;

	(void)fd;
	(void)ev;
	event_base_loopexit(sk->base, NULL);
}

/* sink_session_free - end a session now, discarding an unfinished message */
static void
sink_session_free(struct sink_session *s)
{
	struct sink	*sk = s->sink;
	SSL		*ssl;

	if (sk->verbose)
		log_info("session %lu: disconnect", s->id);
	TAILQ_REMOVE(&sk->sessions, s, entry);
	sink_session_reset(s);
	/*
	 * close_notify first: OpenSSL drops a session from the server's
	 * cache when its connection is freed without one, and the client's
	 * next connection could not resume by session ID.
	 */
	if ((s->flags & SINK_F_TLS) &&
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	bufferevent_free(s->bev);
	buf_free(s->rcpts);
	free(s);
	if (sk->stopping && TAILQ_EMPTY(&sk->sessions))
		event_base_loopexit(sk->base, NULL);
}

/*
 * sink_session_close - stop reading and free the session once what it was
 * told has been written; the free happens in the write callback
 */
static void
sink_session_close(struct sink_session *s)
{
	s->flags |= SINK_F_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_trigger(s->bev, EV_WRITE,
	    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* sink_session_reply - queue one reply line, CRLF added */
static void
sink_session_reply(struct sink_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
}

/* sink_session_reset - forget the transaction and any half-written file */
static void
sink_session_reset(struct sink_session *s)
{
	if (s->fp != NULL) {
		fclose(s->fp);
		s->fp = NULL;
	}
	if (s->tmppath != NULL) {
		if (unlink(s->tmppath) == -1 && errno != ENOENT)
			log_warn("unlink %s", s->tmppath);
		free(s->tmppath);
		s->tmppath = NULL;
	}
	free(s->from);
	s->from = NULL;
	buf_reset(s->rcpts);
	s->nrcpt = 0;
	s->size = 0;
	s->token[0] = '\0';
	s->flags &= ~(SINK_F_INHDR | SINK_F_WERR | SINK_F_CLOSEMSG);
	if (s->state != SINK_S_GREETED)
		s->state = SINK_S_IDLE;
}

/*
 * sink_session_read - take at most SINK_BUDGET lines, then yield so that
 * one busy client cannot starve the others
 */
static void
sink_session_read(struct bufferevent *bev, void *arg)
{
	struct sink_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer		*out = bufferevent_get_output(bev);
	struct evbuffer_ptr	 eol;
	const unsigned char	*line;
	size_t			 eollen, len;
	int			 budget;

	for (budget = SINK_BUDGET; budget > 0; budget--) {
		/* After STARTTLS nothing more is read in plaintext. */
		if (s->flags & (SINK_F_CLOSING | SINK_F_STARTTLS |
		    SINK_F_HANDSHAKE))
			return;
		if (evbuffer_get_length(out) > SINK_OUT_MAX) {
			/* The client does not read its replies. */
			s->flags |= SINK_F_PAUSED;
			bufferevent_disable(bev, EV_READ);
			return;
		}
		eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > SINK_LINE_MAX)
				goto toolong;
			return;
		}
		len = (size_t)eol.pos + eollen;
		if (len > SINK_LINE_MAX)
			goto toolong;
		line = evbuffer_pullup(in, (ssize_t)len);
		if (s->state == SINK_S_DATA)
			sink_session_line(s, line, len);
		else
			sink_session_command(s, line, len);
		evbuffer_drain(in, len);
	}
	if (evbuffer_get_length(in) > 0)
		bufferevent_trigger(bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return;

toolong:
	log_warnx("session %lu: line longer than %d bytes, dropped", s->id,
	    SINK_LINE_MAX);
	sink_session_reply(s, "500 5.5.0 Line too long");
	sink_session_close(s);
}

/*
 * sink_session_write - output drained: finish closing, start TLS once the
 * 220 to STARTTLS is out, or read again
 */
static void
sink_session_write(struct bufferevent *bev, void *arg)
{
	struct sink_session	*s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (s->flags & SINK_F_CLOSING) {
		sink_session_free(s);
		return;
	}
	if (s->flags & SINK_F_STARTTLS) {
		sink_session_tls_start(s);
		return;
	}
	if (s->flags & SINK_F_PAUSED) {
		s->flags &= ~SINK_F_PAUSED;
		bufferevent_enable(bev, EV_READ);
		bufferevent_trigger(bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}

/* sink_session_event - handshake done, EOF, error or timeout */
static void
sink_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct sink_session	*s = arg;
	char			 why[256];

	if (what & BEV_EVENT_CONNECTED) {
		sink_session_tls_done(s);
		return;
	}
	if (s->flags & SINK_F_HANDSHAKE) {
		s->sink->st.tls_failed++;
		if (s->sink->verbose)
			log_info("session %lu: TLS handshake failed: %s%s",
			    s->id, tls_bev_error(bev, why, sizeof(why)),
			    (what & BEV_EVENT_TIMEOUT) ? " (timeout)" : "");
		sink_session_free(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    !(s->flags & SINK_F_CLOSING)) {
		if (s->sink->verbose)
			log_info("session %lu: idle timeout", s->id);
		sink_session_reply(s, "421 4.4.2 %s Timeout, closing",
		    s->sink->hostname);
		sink_session_close(s);
		return;
	}
	if (s->state == SINK_S_DATA && (what & BEV_EVENT_EOF))
		log_warnx("session %lu: EOF in DATA, message discarded",
		    s->id);
	sink_session_free(s);
}

/*
 * sink_session_command - one command line (CRLF or LF included in len)
 */
static void
sink_session_command(struct sink_session *s, const unsigned char *line,
    size_t len)
{
	char		 cmd[SINK_CMD_MAX + 1];
	const char	*arg;
	size_t		 n;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > SINK_CMD_MAX) {
		sink_session_reply(s, "500 5.5.2 Line too long");
		goto error;
	}
	if (memchr(line, '\0', len) != NULL) {
		sink_session_reply(s, "500 5.5.2 NUL in command");
		goto error;
	}
	memcpy(cmd, line, len);
	cmd[len] = '\0';
	n = strcspn(cmd, " ");
	arg = cmd + n;
	while (*arg == ' ')
		arg++;

#define SINK_IS(verb)	(n == sizeof(verb) - 1 && \
			    strncasecmp(cmd, verb, n) == 0)
	if (SINK_IS("EHLO"))
		sink_session_helo(s, arg, 1);
	else if (SINK_IS("HELO"))
		sink_session_helo(s, arg, 0);
	else if (SINK_IS("MAIL"))
		sink_session_mail(s, arg);
	else if (SINK_IS("RCPT"))
		sink_session_rcpt(s, arg);
	else if (SINK_IS("DATA"))
		sink_session_data(s);
	else if (SINK_IS("RSET")) {
		sink_session_reset(s);
		sink_session_reply(s, "250 2.0.0 Ok");
	} else if (SINK_IS("NOOP"))
		sink_session_reply(s, "250 2.0.0 Ok");
	else if (SINK_IS("VRFY"))
		sink_session_reply(s, "252 2.1.5 Cannot VRFY, send some mail");
	else if (SINK_IS("HELP"))
		sink_session_reply(s, "214 2.0.0 aval-sink: see RFC 5321");
	else if (SINK_IS("QUIT")) {
		sink_session_reply(s, "221 2.0.0 Bye");
		sink_session_close(s);
	} else if (SINK_IS("STARTTLS")) {
		if (sink_session_starttls(s, arg) == -1)
			goto error;
	} else if (SINK_IS("AUTH") ||
	    SINK_IS("BDAT") || SINK_IS("EXPN") || SINK_IS("ETRN")) {
		sink_session_reply(s, "502 5.5.1 Command not implemented");
		goto error;
	} else {
		sink_session_reply(s, "500 5.5.2 Command unrecognized");
		goto error;
	}
#undef SINK_IS
	return;

error:
	if (++s->nerrors >= SINK_ERRORS_MAX) {
		sink_session_reply(s, "421 4.7.0 %s Too many errors",
		    s->sink->hostname);
		sink_session_close(s);
	}
}

/* sink_session_helo - HELO or EHLO; either resets the transaction */
static void
sink_session_helo(struct sink_session *s, const char *arg, int esmtp)
{
	if (*arg == '\0') {
		sink_session_reply(s, "501 5.5.4 %s needs a domain",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	sink_session_reset(s);
	s->state = SINK_S_IDLE;
	if (!esmtp) {
		sink_session_reply(s, "250 %s", s->sink->hostname);
		return;
	}
	sink_session_reply(s, "250-%s", s->sink->hostname);
	sink_session_reply(s, "250-PIPELINING");
	sink_session_reply(s, "250-SIZE %d", SINK_SIZE_MAX);
	if (s->sink->ssl_ctx != NULL && !(s->flags & SINK_F_TLS))
		sink_session_reply(s, "250-STARTTLS");
	sink_session_reply(s, "250-8BITMIME");
	sink_session_reply(s, "250 ENHANCEDSTATUSCODES");
}

/*
 * sink_parse_path - "<addr> params" or "addr params": copy addr (without
 * brackets) to out and return the parameters, or NULL when the path is
 * malformed or does not fit
 */
static const char *
sink_parse_path(const char *p, char *out, size_t outsz)
{
	const char	*end;
	size_t		 len;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		p++;
		if ((end = strchr(p, '>')) == NULL)
			return NULL;
		len = (size_t)(end - p);
		end++;
	} else {
		len = strcspn(p, " ");
		end = p + len;
	}
	if (len >= outsz)
		return NULL;
	memcpy(out, p, len);
	out[len] = '\0';
	for (; *p != '\0' && p < end; p++)
		if (iscntrl((unsigned char)*p))
			return NULL;
	if (*end != '\0' && *end != ' ')
		return NULL;
	while (*end == ' ')
		end++;
	return end;
}

/*
 * sink_session_params - check ESMTP parameters; 0 when all are known and
 * well-formed, -1 after replying with the reason
 */
static int
sink_session_params(struct sink_session *s, const char *p, int mail)
{
	char		 word[256], *end;
	size_t		 n;
	unsigned long long size;

	while (*p != '\0') {
		n = strcspn(p, " ");
		if (n >= sizeof(word)) {
			sink_session_reply(s, "501 5.5.4 Parameter too long");
			return -1;
		}
		memcpy(word, p, n);
		word[n] = '\0';
		p += n;
		while (*p == ' ')
			p++;
		if (mail && strncasecmp(word, "SIZE=", 5) == 0) {
			errno = 0;
			size = strtoull(word + 5, &end, 10);
			if (word[5] == '\0' || *end != '\0' || errno != 0) {
				sink_session_reply(s,
				    "501 5.5.4 Bad SIZE parameter");
				return -1;
			}
			if (size > SINK_SIZE_MAX) {
				sink_session_reply(s, "552 5.3.4 Message size "
				    "exceeds fixed limit");
				return -1;
			}
		} else if (mail && (strcasecmp(word, "BODY=7BIT") == 0 ||
		    strcasecmp(word, "BODY=8BITMIME") == 0)) {
			continue;
		} else {
			sink_session_reply(s, "555 5.5.4 Unsupported option: "
			    "%s", word);
			return -1;
		}
	}
	return 0;
}

/* sink_session_mail - MAIL FROM:<path> [params] */
static void
sink_session_mail(struct sink_session *s, const char *arg)
{
	char		 path[SINK_PATH_MAX];
	const char	*params;

	if (s->state == SINK_S_GREETED) {
		sink_session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->sink->require_tls && !(s->flags & SINK_F_TLS)) {
		sink_session_reply(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first");
		return;
	}
	if (s->state != SINK_S_IDLE) {
		sink_session_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0) {
		sink_session_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if ((params = sink_parse_path(arg + 5, path, sizeof(path))) == NULL) {
		sink_session_reply(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if (sink_session_params(s, params, 1) == -1)
		return;
	s->from = xstrdup(path);
	s->state = SINK_S_MAIL;
	sink_session_reply(s, "250 2.1.0 Ok");
}

/* sink_session_rcpt - RCPT TO:<path>, with the defer and reject hooks */
static void
sink_session_rcpt(struct sink_session *s, const char *arg)
{
	char		 path[SINK_PATH_MAX];
	const char	*params;

	if (s->state != SINK_S_MAIL) {
		sink_session_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (strncasecmp(arg, "TO:", 3) != 0) {
		sink_session_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if ((params = sink_parse_path(arg + 3, path, sizeof(path))) == NULL ||
	    path[0] == '\0') {
		sink_session_reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (sink_session_params(s, params, 0) == -1)
		return;
	if (strncasecmp(path, "defer", 5) == 0) {
		sink_session_reply(s, "451 4.3.0 deferred by sink");
		return;
	}
	if (strncasecmp(path, "reject", 6) == 0) {
		sink_session_reply(s, "550 5.1.1 rejected by sink");
		return;
	}
	if (s->nrcpt >= SINK_RCPT_MAX ||
	    buf_printf(s->rcpts, "X-Sink-To: <%s>\r\n", path) == -1) {
		sink_session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	s->nrcpt++;
	if (strncasecmp(path, "close", 5) == 0)
		s->flags |= SINK_F_CLOSEMSG;
	sink_session_reply(s, "250 2.1.5 Ok");
}

/* sink_session_data - DATA: open the message file when keeping mail */
static void
sink_session_data(struct sink_session *s)
{
	struct sink	*sk = s->sink;
	int		 fd;

	if (s->state != SINK_S_MAIL) {
		sink_session_reply(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (s->nrcpt == 0) {
		sink_session_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (sk->dir != NULL) {
		xasprintf(&s->tmppath, "%s/.tmp.%ld.%lu", sk->dir,
		    (long)getpid(), s->id);
		if ((fd = open(s->tmppath, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0644)) == -1 ||
		    (s->fp = fdopen(fd, "w")) == NULL) {
			log_warn("session %lu: %s", s->id, s->tmppath);
			if (fd != -1)
				close(fd);
			sink_session_reply(s, "451 4.3.0 Cannot store message");
			sink_session_reset(s);
			return;
		}
		if (fprintf(s->fp, "X-Sink-From: <%s>\r\n", s->from) < 0 ||
		    fwrite(buf_data(s->rcpts), 1, buf_len(s->rcpts),
		    s->fp) != buf_len(s->rcpts))
			s->flags |= SINK_F_WERR;
	}
	s->state = SINK_S_DATA;
	s->flags |= SINK_F_INHDR;
	s->size = 0;
	sink_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/*
 * sink_session_line - one line of message data: the end marker, or a line
 * to unstuff, inspect while in the header and keep
 */
static void
sink_session_line(struct sink_session *s, const unsigned char *line,
    size_t len)
{
	if ((len == 3 && memcmp(line, ".\r\n", 3) == 0) ||
	    (len == 2 && memcmp(line, ".\n", 2) == 0)) {
		sink_session_done(s);
		return;
	}
	if (line[0] == '.') {
		line++;
		len--;
	}
	if (s->flags & SINK_F_INHDR)
		sink_session_header(s, (const char *)line, len);
	s->size += len;
	if (s->fp != NULL && s->size <= SINK_SIZE_MAX &&
	    fwrite(line, 1, len, s->fp) != len)
		s->flags |= SINK_F_WERR;
}

/* sink_session_header - a header line: note the bench token, see the end */
static void
sink_session_header(struct sink_session *s, const char *line, size_t len)
{
	static const char	 name[] = "X-Bench-Token:";
	size_t			 i, n;

	if ((len == 2 && line[0] == '\r') || (len == 1 && line[0] == '\n')) {
		s->flags &= ~SINK_F_INHDR;
		return;
	}
	if (len < sizeof(name) - 1 ||
	    strncasecmp(line, name, sizeof(name) - 1) != 0)
		return;
	for (i = sizeof(name) - 1; i < len && line[i] == ' '; i++)
		;
	for (n = 0; i < len && n < sizeof(s->token) - 1; i++) {
		if (!isgraph((unsigned char)line[i]))
			break;
		s->token[n++] = line[i];
	}
	s->token[n] = '\0';
}

/* sink_session_done - the final dot: keep the message, count it, answer */
static void
sink_session_done(struct sink_session *s)
{
	struct sink	*sk = s->sink;
	char		*path = NULL;
	int		 failed, hangup;

	if (s->size > SINK_SIZE_MAX) {
		sink_session_reply(s, "552 5.3.4 Message size exceeds fixed "
		    "limit");
		sink_session_reset(s);
		return;
	}
	if (s->fp != NULL) {
		failed = (s->flags & SINK_F_WERR) != 0;
		if (fclose(s->fp) == EOF)
			failed = 1;
		s->fp = NULL;
		xasprintf(&path, "%s/%08lu.%ld.msg", sk->dir, sk->nmsgs + 1,
		    (long)getpid());
		if (failed || rename(s->tmppath, path) == -1) {
			log_warn("session %lu: store %s", s->id, path);
			sink_session_reply(s, "451 4.3.0 Cannot store message");
			free(path);
			sink_session_reset(s);
			return;
		}
		free(path);
		free(s->tmppath);
		s->tmppath = NULL;
	}
	sk->nmsgs++;
	if (++s->nmsgs > 1)
		sk->st.reused_msgs++;
	if (s->nmsgs > sk->st.conn_msgs_max)
		sk->st.conn_msgs_max = s->nmsgs;
	sink_count(sk, s->token[0] != '\0' ? s->token : "-", s->nrcpt);
	sink_session_reply(s, "250 2.0.0 Ok: queued as S%lu", sk->nmsgs);
	if (sk->verbose)
		log_info("session %lu: message %lu from=<%s>, nrcpt=%zu, "
		    "size=%zu%s", s->id, sk->nmsgs, s->from, s->nrcpt, s->size,
		    (s->flags & SINK_F_TLS) ? ", tls" : "");
	hangup = (s->flags & SINK_F_CLOSEMSG) != 0;
	sink_session_reset(s);
	if (hangup)
		sink_session_close(s);
	if (sk->max_msgs > 0 && sk->nmsgs >= sk->max_msgs)
		sink_stop(sk, "message limit");
}

/* sink_count - append "<seq> <time> <token> <nrcpt>" to the -c file */
static void
sink_count(struct sink *sk, const char *token, size_t nrcpt)
{
	struct timespec	 ts;
	char		 line[SINK_TOKEN_MAX + 96];
	int		 n;

	if (sk->countfd == -1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lu %lld.%03ld %s %zu\n",
	    sk->nmsgs, (long long)ts.tv_sec, ts.tv_nsec / 1000000, token,
	    nrcpt);
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("%s: count line truncated", __func__);
	/* One write on an O_APPEND file: a reader sees whole lines. */
	if (write(sk->countfd, line, (size_t)n) != n)
		log_warn("count file write");
}

/*
 * sink_tls_new - the server context of -T and -K: TLS 1.2 or newer,
 * tickets on, and a session cache for TLS 1.2 clients that resume by ID;
 * dies on any error (start-up only)
 */
static SSL_CTX *
sink_tls_new(const char *certfile, const char *keyfile)
{
	static const unsigned char	 sid_ctx[] = "aval-sink";
	SSL_CTX				*ctx;
	char				 err[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		fatalx("TLS context: %s", tls_error(err, sizeof(err)));
	/*
	 * A client that hangs up without close_notify keeps its session
	 * (IGNORE_UNEXPECTED_EOF): the sink measures resumption, it does
	 * not police shutdowns.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1)
		fatalx("-T %s: %s", certfile, tls_error(err, sizeof(err)));
	if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1)
		fatalx("-K %s: %s", keyfile, tls_error(err, sizeof(err)));
	if (SSL_CTX_check_private_key(ctx) != 1)
		fatalx("-K %s does not match -T %s", keyfile, certfile);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx,
	    sizeof(sid_ctx) - 1) != 1)
		fatalx("TLS session id context: %s",
		    tls_error(err, sizeof(err)));
	SSL_CTX_sess_set_cache_size(ctx, SINK_TLS_CACHE);
	SSL_CTX_set_timeout(ctx, SINK_TLS_LIFE);
	return ctx;
}

/*
 * sink_session_starttls - STARTTLS: 220, then the handshake once the 220
 * is on the wire (sink_session_write). 0, or -1 after an error reply.
 */
static int
sink_session_starttls(struct sink_session *s, const char *arg)
{
	if (s->sink->ssl_ctx == NULL) {
		sink_session_reply(s, "502 5.5.1 Command not implemented");
		return -1;
	}
	if (*arg != '\0') {
		sink_session_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return -1;
	}
	if (s->flags & SINK_F_TLS) {
		sink_session_reply(s, "503 5.5.1 Error: TLS already active");
		return -1;
	}
	if (s->state == SINK_S_GREETED) {
		sink_session_reply(s, "503 5.5.1 Error: send EHLO first");
		return -1;
	}
	if (s->state != SINK_S_IDLE) {
		sink_session_reply(s, "503 5.5.1 Error: MAIL transaction in "
		    "progress");
		return -1;
	}
	sink_session_reply(s, "220 2.0.0 Ready to start TLS");
	s->flags |= SINK_F_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_trigger(s->bev, EV_WRITE,
	    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

/*
 * sink_session_tls_start - the 220 is out: hand the socket to an OpenSSL
 * bufferevent that waits for the ClientHello. Plaintext already read
 * after STARTTLS ends the session: it must never pass for protected.
 */
static void
sink_session_tls_start(struct sink_session *s)
{
	struct sink		*sk = s->sink;
	struct bufferevent	*bev;
	struct timeval		 tv = { SINK_IDLE, 0 };
	evutil_socket_t		 fd;
	SSL			*ssl;
	char			 err[256];

	s->flags &= ~SINK_F_STARTTLS;
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		log_warnx("session %lu: plaintext pipelined after STARTTLS, "
		    "dropped", s->id);
		sk->st.tls_failed++;
		sink_session_free(s);
		return;
	}
	if ((ssl = SSL_new(sk->ssl_ctx)) == NULL) {
		log_warnx("session %lu: SSL_new: %s", s->id,
		    tls_error(err, sizeof(err)));
		sk->st.tls_failed++;
		sink_session_free(s);
		return;
	}
	fd = bufferevent_getfd(s->bev);
	if ((bev = bufferevent_openssl_socket_new(sk->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("session %lu: bufferevent_openssl_socket_new failed",
		    s->id);
		SSL_free(ssl);
		sk->st.tls_failed++;
		sink_session_free(s);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* The plaintext bufferevent lets go of the socket, closing nothing. */
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	s->bev = bev;
	s->flags |= SINK_F_HANDSHAKE;
	bufferevent_setcb(s->bev, sink_session_read, sink_session_write,
	    sink_session_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SINK_LINE_MAX + 1);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/*
 * sink_session_tls_done - the handshake finished: count it, and forget
 * everything said before it (RFC 3207 section 4.2)
 */
static void
sink_session_tls_done(struct sink_session *s)
{
	struct sink	*sk = s->sink;
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);
	int		 resumed;

	if (ssl == NULL || !(s->flags & SINK_F_HANDSHAKE))
		fatalx("%s: session %lu: no handshake under way", __func__,
		    s->id);
	s->flags &= ~SINK_F_HANDSHAKE;
	s->flags |= SINK_F_TLS;
	resumed = SSL_session_reused(ssl);
	sk->st.handshakes++;
	if (resumed)
		sk->st.resumed++;
	if (SSL_version(ssl) >= TLS1_3_VERSION)
		sk->st.tls13++;
	else
		sk->st.tls12++;
	if (sk->verbose)
		log_info("session %lu: tls=%s, cipher=%s, resumed=%s", s->id,
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl),
		    resumed ? "yes" : "no");
	sink_session_reset(s);
	s->state = SINK_S_GREETED;
	s->nerrors = 0;
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		bufferevent_trigger(s->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * sink_stats_write - the -s file, whole: written to FILE.tmp, renamed
 */
static void
sink_stats_write(struct sink *sk)
{
	struct sink_stats	*st = &sk->st;
	char			 tmp[PATH_MAX];
	FILE			*fp;
	int			 n, failed;

	if (sk->statsfile == NULL)
		return;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp", sk->statsfile);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		fatalx("-s %s: name too long", sk->statsfile);
	if ((fp = fopen(tmp, "w")) == NULL) {
		log_warn("stats %s", tmp);
		return;
	}
	st->nsnap++;
	failed = fprintf(fp, "snapshot: %lu\n"
	    "connections: %lu\n"
	    "messages: %lu\n"
	    "reused_messages: %lu\n"
	    "conn_msgs_max: %lu\n"
	    "tls_handshakes: %lu\n"
	    "tls_full: %lu\n"
	    "tls_resumed: %lu\n"
	    "tls12: %lu\n"
	    "tls13: %lu\n"
	    "tls_failed: %lu\n",
	    st->nsnap, sk->nsessions, sk->nmsgs, st->reused_msgs,
	    st->conn_msgs_max, st->handshakes, st->handshakes - st->resumed,
	    st->resumed, st->tls12, st->tls13, st->tls_failed) < 0;
	if (fclose(fp) == EOF)
		failed = 1;
	if (failed || rename(tmp, sk->statsfile) == -1) {
		log_warn("stats %s", sk->statsfile);
		(void)unlink(tmp);
	}
}

/* sink_on_usr1 - SIGUSR1: write the statistics now */
static void
sink_on_usr1(evutil_socket_t sig, short ev, void *arg)
{
	(void)sig;
	(void)ev;
	sink_stats_write(arg);
}

int
main(int argc, char *argv[])
{
	struct sink		 sk;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv;
	const char		*laddr = "127.0.0.1:2526", *countfile = NULL;
	const char		*certfile = NULL, *keyfile = NULL;
	char			 where[NI_MAXHOST + NI_MAXSERV + 4];
	long long		 limit = 600;
	int			 ch;

	memset(&sk, 0, sizeof(sk));
	TAILQ_INIT(&sk.sessions);
	sk.countfd = -1;
	log_init("sink", LOG_TO_STDERR);

	while ((ch = getopt(argc, argv, "c:d:hK:l:n:Rs:t:T:v")) != -1) {
		switch (ch) {
		case 'K':
			keyfile = optarg;
			break;
		case 'R':
			sk.require_tls = 1;
			break;
		case 's':
			sk.statsfile = optarg;
			break;
		case 'T':
			certfile = optarg;
			break;
		case 'c':
			countfile = optarg;
			break;
		case 'd':
			sk.dir = optarg;
			break;
		case 'l':
			laddr = optarg;
			break;
		case 'n':
			sk.max_msgs = (unsigned long)sink_parse_num(optarg, 1,
			    LONG_MAX, "-n");
			break;
		case 't':
			limit = sink_parse_num(optarg, 1, 7 * 86400, "-t");
			break;
		case 'v':
			sk.verbose = 1;
			break;
		default:
			sink_usage();
		}
	}
	if (optind != argc || (certfile == NULL &&
	    (keyfile != NULL || sk.require_tls)))
		sink_usage();
	if (certfile != NULL)
		sk.ssl_ctx = sink_tls_new(certfile,
		    keyfile != NULL ? keyfile : certfile);

	if (gethostname(sk.hostname, sizeof(sk.hostname)) == -1 ||
	    sk.hostname[0] == '\0')
		strlcpy(sk.hostname, "aval-sink", sizeof(sk.hostname));
	sk.hostname[sizeof(sk.hostname) - 1] = '\0';
	if (sk.dir != NULL) {
		struct stat	 st;

		if (stat(sk.dir, &st) == -1 || !S_ISDIR(st.st_mode))
			fatalx("-d %s: not a directory", sk.dir);
	}
	if (countfile != NULL && (sk.countfd = open(countfile,
	    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644)) == -1)
		fatal("-c %s", countfile);
	sink_parse_addr(laddr, &ss, &sslen);
	signal(SIGPIPE, SIG_IGN);

	if ((sk.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((sk.listener = evconnlistener_new_bind(sk.base, sink_accept, &sk,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, (int)sslen)) == NULL)
		fatal("listen on %s", laddr);
	evconnlistener_set_error_cb(sk.listener, sink_accept_error);
	sslen = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(sk.listener),
	    (struct sockaddr *)&ss, &sslen) == -1)
		fatal("getsockname");
	sink_format_addr((struct sockaddr *)&ss, where, sizeof(where));
	fprintf(stderr, "sink: listening on %s\n", where);

	sk.ev_term = evsignal_new(sk.base, SIGTERM, sink_on_signal, &sk);
	sk.ev_int = evsignal_new(sk.base, SIGINT, sink_on_signal, &sk);
	sk.ev_limit = evtimer_new(sk.base, sink_on_limit, &sk);
	sk.ev_grace = evtimer_new(sk.base, sink_on_grace, &sk);
	sk.ev_resume = evtimer_new(sk.base, sink_resume, &sk);
	sk.ev_usr1 = evsignal_new(sk.base, SIGUSR1, sink_on_usr1, &sk);
	if (sk.ev_term == NULL || sk.ev_int == NULL || sk.ev_limit == NULL ||
	    sk.ev_grace == NULL || sk.ev_resume == NULL || sk.ev_usr1 == NULL)
		fatalx("cannot create events");
	evsignal_add(sk.ev_term, NULL);
	evsignal_add(sk.ev_int, NULL);
	evsignal_add(sk.ev_usr1, NULL);
	sink_stats_write(&sk);
	tv.tv_sec = (time_t)limit;
	tv.tv_usec = 0;
	evtimer_add(sk.ev_limit, &tv);

	if (event_base_dispatch(sk.base) == -1)
		fatalx("event_base_dispatch failed");

	/* Whatever did not flush within the grace period is cut off. */
	while (!TAILQ_EMPTY(&sk.sessions))
		sink_session_free(TAILQ_FIRST(&sk.sessions));
	sink_stats_write(&sk);
	fprintf(stderr, "sink: %lu messages, %lu connections, %lu TLS "
	    "handshakes (%lu resumed), %lu on reused connections\n",
	    sk.nmsgs, sk.nsessions, sk.st.handshakes, sk.st.resumed,
	    sk.st.reused_msgs);

	event_free(sk.ev_term);
	event_free(sk.ev_int);
	event_free(sk.ev_limit);
	event_free(sk.ev_grace);
	event_free(sk.ev_resume);
	event_free(sk.ev_usr1);
	evconnlistener_free(sk.listener);
	event_base_free(sk.base);
	if (sk.countfd != -1)
		close(sk.countfd);
	SSL_CTX_free(sk.ssl_ctx);
	return 0;
}
