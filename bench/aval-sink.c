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
 * "550 5.1.1 rejected by sink"; everyone else is accepted.
 *
 * Trust: the sink trusts nothing from the network. Every line is bounded
 * (a line longer than SINK_LINE_MAX drops the connection), every session
 * has an idle timeout, and the output a client refuses to read is bounded
 * by pausing its input.
 *
 * Standards: RFC 5321 (server side: HELO, EHLO, MAIL, RCPT, DATA, RSET,
 * NOOP, VRFY, HELP, QUIT), RFC 2920 (PIPELINING), RFC 1870 (SIZE),
 * RFC 6152 (8BITMIME), RFC 2034 and 3463 (enhanced status codes).
 *
 * Settings: only the command line.
 *
 *	aval-sink [-v] [-l addr:port] [-d dir] [-c file] [-n count]
 *	    [-t seconds]
 *
 * On exit (after -n messages, after -t seconds, default 600, or on SIGTERM
 * or SIGINT) it prints "sink: N messages" to stderr.
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
#include <event2/event.h>
#include <event2/listener.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/smtpline.h"
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

enum sink_state {
	SINK_S_GREETED,		/* waiting for HELO or EHLO */
	SINK_S_IDLE,		/* greeted, no transaction open */
	SINK_S_MAIL,		/* MAIL accepted, taking RCPT */
	SINK_S_DATA,		/* reading message lines */
};

struct sink;

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
	int			 nerrors;
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
	struct sink_sessions	 sessions;
	const char		*dir;
	int			 countfd;
	int			 verbose;
	int			 stopping;
	unsigned long		 max_msgs; /* 0: no limit */
	unsigned long		 nmsgs;
	unsigned long		 nsessions;
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

static void
sink_usage(void)
{
	fprintf(stderr, "usage: aval-sink [-v] [-l addr:port] [-d dir] "
	    "[-c file] [-n count] [-t seconds]\n");
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

	if (sk->verbose)
		log_info("session %lu: disconnect", s->id);
	TAILQ_REMOVE(&sk->sessions, s, entry);
	sink_session_reset(s);
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
	s->flags &= ~(SINK_F_INHDR | SINK_F_WERR);
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
		if (s->flags & SINK_F_CLOSING)
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

/* sink_session_write - output drained: finish closing, or read again */
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
	if (s->flags & SINK_F_PAUSED) {
		s->flags &= ~SINK_F_PAUSED;
		bufferevent_enable(bev, EV_READ);
		bufferevent_trigger(bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}

/* sink_session_event - EOF, error or timeout */
static void
sink_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct sink_session	*s = arg;

	(void)bev;
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
	} else if (SINK_IS("STARTTLS") || SINK_IS("AUTH") ||
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
	int		 failed;

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
	sink_count(sk, s->token[0] != '\0' ? s->token : "-", s->nrcpt);
	sink_session_reply(s, "250 2.0.0 Ok: queued as S%lu", sk->nmsgs);
	if (sk->verbose)
		log_info("session %lu: message %lu from=<%s>, nrcpt=%zu, "
		    "size=%zu", s->id, sk->nmsgs, s->from, s->nrcpt, s->size);
	sink_session_reset(s);
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

int
main(int argc, char *argv[])
{
	struct sink		 sk;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv;
	const char		*laddr = "127.0.0.1:2526", *countfile = NULL;
	char			 where[NI_MAXHOST + NI_MAXSERV + 4];
	long long		 limit = 600;
	int			 ch;

	memset(&sk, 0, sizeof(sk));
	TAILQ_INIT(&sk.sessions);
	sk.countfd = -1;
	log_init("sink", LOG_TO_STDERR);

	while ((ch = getopt(argc, argv, "c:d:hl:n:t:v")) != -1) {
		switch (ch) {
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
	if (optind != argc)
		sink_usage();

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
	if (sk.ev_term == NULL || sk.ev_int == NULL || sk.ev_limit == NULL ||
	    sk.ev_grace == NULL || sk.ev_resume == NULL)
		fatalx("cannot create events");
	evsignal_add(sk.ev_term, NULL);
	evsignal_add(sk.ev_int, NULL);
	tv.tv_sec = (time_t)limit;
	tv.tv_usec = 0;
	evtimer_add(sk.ev_limit, &tv);

	if (event_base_dispatch(sk.base) == -1)
		fatalx("event_base_dispatch failed");

	/* Whatever did not flush within the grace period is cut off. */
	while (!TAILQ_EMPTY(&sk.sessions))
		sink_session_free(TAILQ_FIRST(&sk.sessions));
	fprintf(stderr, "sink: %lu messages\n", sk.nmsgs);

	event_free(sk.ev_term);
	event_free(sk.ev_int);
	event_free(sk.ev_limit);
	event_free(sk.ev_grace);
	event_free(sk.ev_resume);
	evconnlistener_free(sk.listener);
	event_base_free(sk.base);
	if (sk.countfd != -1)
		close(sk.countfd);
	return 0;
}
