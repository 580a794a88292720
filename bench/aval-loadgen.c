/*
 * aval-loadgen - an SMTP load generator for benchmarks
 *
 * aval-loadgen sends N messages of about S bytes to one SMTP server over
 * C concurrent sessions, M messages per connection, and reports how many
 * the server accepted, how fast, and how long each took. It stops by
 * itself: after N attempts, or after the -w time limit (default 300 s),
 * or on SIGTERM or SIGINT.
 *
 * With -r R every message goes to R recipients, each in a domain of its
 * own: the -t address LOCAL@DOMAIN becomes LOCAL1@d1.DOMAIN ...
 * LOCALR@dR.DOMAIN (with R = 1, the default, it is used as it is). A
 * message is accepted only when every RCPT and the final dot got 2xx.
 *
 * Each message carries a token unique to the run ("<start>.<pid>.<seq>")
 * in "Message-ID: <TOKEN@aval-loadgen>" and "X-Bench-Token: TOKEN", so a
 * sink can say which messages arrived. With -L FILE the token of every
 * message that got a 2xx final reply after DATA is written to FILE, one a
 * line.
 *
 * A message is accepted when the reply after its final dot is 2xx. A 4xx or
 * 5xx at any step, a timeout, or a lost connection fails the message that
 * session was carrying; the run goes on until N messages were attempted.
 * The latency of an accepted message is the time from writing its MAIL
 * command to reading the final reply after DATA. The rate is accepted
 * messages over the seconds from the first connection attempt to the last
 * final reply.
 *
 * With -T every session runs STARTTLS. -V pins the protocol version (1.2
 * or 1.3) and -A the signature algorithms the client accepts, which is how
 * a run picks the ECDSA or the RSA certificate of a server that has both.
 * With -R the client keeps the newest session it was given (with TLS 1.3
 * the ticket arrives after the handshake, so it is taken from the
 * new-session callback) and offers it on the next connection; the report
 * says how many handshakes were full and how many resumed.
 *
 * Idle mode (-I S): no mail at all. Each of the N sessions connects, greets
 * (and runs STARTTLS with -T), then holds the connection idle for S seconds
 * and quits; at most LOADGEN_SETUP_MAX sessions are being set up at once,
 * so that C sessions do not arrive as one burst of C SYNs. When C sessions
 * (or N, if fewer) are idle at the same moment, "all C sessions idle" goes
 * to stderr, even with -q: a benchmark script waits for that line. -I 0
 * makes a session a bare handshake benchmark: connect, EHLO, STARTTLS,
 * EHLO, QUIT.
 *
 * On stdout, one "key: value" a line: sent, accepted, failed, seconds,
 * msgs_per_sec, latency_ms_p50, latency_ms_p90, latency_ms_p99,
 * latency_ms_max; then, with -T, tls_full, tls_resumed, tls_offered (with
 * -R), tls_protocol and tls_peer_key; then, in idle mode, idle_peak. In
 * idle mode a "message" is a session: accepted means it held for S seconds
 * and its latency is from the connection attempt to the reply to the last
 * EHLO. Exit status 0 when every message (session) was accepted, 1 when
 * not, 2 on a usage error.
 *
 * Trust: the server is the system under test, not an adversary, but its
 * replies are still bounded (LOADGEN_LINE_MAX) and every session has a
 * timeout. With -T the server's certificate is not verified.
 *
 * Standards: RFC 5321 (client side), RFC 5322 (the generated messages),
 * RFC 2920 (PIPELINING: MAIL, RCPT and DATA in one write when offered,
 * lock-step otherwise), RFC 3207 (STARTTLS, TLS 1.2 or newer), RFC 8446
 * 4.6.1 and RFC 5077 (resumption with tickets).
 *
 * Settings: only the command line.
 *
 *	aval-loadgen [-qRT] [-s host:port] [-c sessions] [-n messages]
 *	    [-S bytes] [-m per-connection] [-f sender] [-t rcpt]
 *	    [-r recipients] [-L file] [-w seconds] [-V 1.2|1.3] [-A ecdsa|rsa|sigalgs]
 *	    [-I seconds]
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
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

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/smtpline.h"
#include "common/xmalloc.h"

#define LOADGEN_LINE_MAX	65536	/* bytes in a reply line */
#define LOADGEN_TIMEOUT		60	/* seconds without progress */
#define LOADGEN_GRACE		3	/* seconds to wait for the last 221 */
#define LOADGEN_ERRORS_SHOWN	10	/* failures described on stderr */
#define LOADGEN_TEXT_WIDTH	76	/* body line length, CRLF excluded */
#define LOADGEN_TOKEN_MAX	64
#define LOADGEN_SETUP_MAX	128	/* idle mode: sessions connecting */
#define LOADGEN_SESSIONS_MAX	100000	/* -c */
#define LOADGEN_FD_SPARE	64	/* descriptors beyond one a session */
#define LOADGEN_RCPTS_MAX	10000	/* -r */

/* -A shorthands: what a client that takes only one key type offers. */
#define LOADGEN_SIGALGS_ECDSA	"ECDSA+SHA256"
#define LOADGEN_SIGALGS_RSA	"RSA-PSS+SHA256:RSA+SHA256"

enum loadgen_state {
	LOADGEN_S_CONNECT,	/* connecting */
	LOADGEN_S_GREETING,	/* waiting for 220 */
	LOADGEN_S_EHLO,		/* EHLO sent */
	LOADGEN_S_HELO,		/* EHLO refused, HELO sent */
	LOADGEN_S_STARTTLS,	/* STARTTLS sent */
	LOADGEN_S_MAIL,		/* waiting for the reply to MAIL */
	LOADGEN_S_RCPT,		/* waiting for the replies to RCPT */
	LOADGEN_S_DATA,		/* waiting for 354 */
	LOADGEN_S_DOT,		/* body sent, waiting for the final reply */
	LOADGEN_S_RSET,		/* RSET sent after a failed transaction */
	LOADGEN_S_IDLE,		/* idle mode: greeted, holding the link */
	LOADGEN_S_QUIT,		/* QUIT sent, waiting for 221 or EOF */
};

struct loadgen;

struct loadgen_session {
	TAILQ_ENTRY(loadgen_session) entry;
	struct loadgen		*lg;
	struct bufferevent	*bev;
	struct event		*ev_hold;	/* idle mode: end of the hold */
	enum loadgen_state	 state;
	int			 flags;
#define LOADGEN_F_PIPELINING	0x0001	/* server offered PIPELINING */
#define LOADGEN_F_STARTTLS	0x0002	/* server offered STARTTLS */
#define LOADGEN_F_TLS		0x0004	/* TLS is running */
#define LOADGEN_F_HASMSG	0x0008	/* carrying message seq */
#define LOADGEN_F_MSGFAIL	0x0010	/* a step of seq already failed */
#define LOADGEN_F_SETUP		0x0020	/* idle mode: counted in nsetup */
#define LOADGEN_F_IDLE		0x0040	/* idle mode: counted in nidle */
#define LOADGEN_F_HANDSHAKEN	0x0080	/* TLS handshake counted */
#define LOADGEN_F_CORKED	0x0100	/* TLS writes held back */
	unsigned long		 seq;		/* the message being carried */
	unsigned long		 nsent;		/* messages on this link */
	int			 nrcpt_done;	/* RCPT replies read */
	struct timespec		 t_mail;	/* when MAIL was written */
	char			 token[LOADGEN_TOKEN_MAX];
};

TAILQ_HEAD(loadgen_sessions, loadgen_session);

struct loadgen {
	struct event_base	*base;
	struct loadgen_sessions	 sessions;
	struct event		*ev_limit;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_grace;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 host[256];	/* for SNI */
	SSL_CTX			*ssl_ctx;	/* -T */
	SSL_SESSION		*tls_sess;	/* -R: the newest one given */
	int			 resume;	/* -R */
	int			 idle;		/* -I given */
	int			 hold;		/* -I seconds */
	int			 nsetup;	/* idle mode: not idle yet */
	int			 nidle;		/* idle mode: holding now */
	int			 idle_peak;
	int			 idle_told;	/* "all idle" was said */
	unsigned long		 tls_full;	/* handshakes done */
	unsigned long		 tls_resumed;
	unsigned long		 tls_offered;	/* sessions offered (-R) */
	char			 tls_protocol[32];	/* of the handshakes */
	char			 tls_peer_key[32];
	const char		*from;
	const char		*rcpt;		/* -t */
	char			**rcpts;	/* the nrcpt recipients */
	int			 nrcpt;		/* -r */
	FILE			*logfp;		/* -L */
	int			 quiet;
	int			 concurrency;
	int			 active;	/* sessions carrying messages */
	unsigned long		 total;		/* -n */
	unsigned long		 per_conn;	/* -m */
	unsigned long		 next;		/* messages attempted */
	unsigned long		 accepted;
	unsigned long		 failed;
	unsigned long		 nerrors;	/* failures described */
	int			 stopping;
	int			 finished;	/* t_end is set */
	char			 token_prefix[32];
	char			*body;		/* shared, ends ".\r\n" */
	size_t			 bodylen;
	double			*latency;	/* ms, one per accepted one */
	size_t			 nlatency;
	struct timespec		 t_start;
	struct timespec		 t_end;
};

static void	loadgen_usage(void) __attribute__((noreturn));
static long long loadgen_parse_num(const char *, long long, long long,
		    const char *);
static void	loadgen_parse_target(struct loadgen *, const char *);
static void	loadgen_make_rcpts(struct loadgen *);
static void	loadgen_build_body(struct loadgen *, size_t);
static size_t	loadgen_headers(struct loadgen *, struct evbuffer *,
		    const char *);
static double	loadgen_ms(const struct timespec *, const struct timespec *);
static void	loadgen_fill(struct loadgen *);
static void	loadgen_check_done(struct loadgen *);
static void	loadgen_stop(struct loadgen *, const char *);
static void	loadgen_on_limit(evutil_socket_t, short, void *);
static void	loadgen_on_signal(evutil_socket_t, short, void *);
static void	loadgen_on_grace(evutil_socket_t, short, void *);
static void	loadgen_report(struct loadgen *);
static void	loadgen_raise_nofile(int);
static void	loadgen_tls_setup(struct loadgen *, int, const char *);
static int	loadgen_tls_new_session(SSL *, SSL_SESSION *);
static void	loadgen_tls_describe(SSL *, char *, size_t, char *, size_t);
static int	loadgen_cmp_double(const void *, const void *);
static double	loadgen_percentile(const double *, size_t, double);
static int	loadgen_session_new(struct loadgen *);
static void	loadgen_session_free(struct loadgen_session *);
static void	loadgen_session_abort(struct loadgen_session *, const char *,
		    ...) __attribute__((format(printf, 2, 3)));
static void	loadgen_session_fail(struct loadgen_session *, const char *,
		    ...) __attribute__((format(printf, 2, 3)));
static void	loadgen_session_send(struct loadgen_session *, const char *,
		    ...) __attribute__((format(printf, 2, 3)));
static void	loadgen_session_read(struct bufferevent *, void *);
static void	loadgen_session_cork(struct loadgen_session *);
static void	loadgen_session_uncork(struct loadgen_session *);
static void	loadgen_session_event(struct bufferevent *, short, void *);
static int	loadgen_session_reply(struct loadgen_session *, int,
		    const char *);
static void	loadgen_session_capa(struct loadgen_session *, const char *);
static void	loadgen_session_ehlo(struct loadgen_session *);
static int	loadgen_session_starttls(struct loadgen_session *);
static int	loadgen_session_ready(struct loadgen_session *);
static void	loadgen_session_handshaken(struct loadgen_session *);
static int	loadgen_session_hold(struct loadgen_session *);
static void	loadgen_on_hold(evutil_socket_t, short, void *);
static void	loadgen_session_mail(struct loadgen_session *);
static void	loadgen_session_body(struct loadgen_session *);
static int	loadgen_session_finish(struct loadgen_session *, int,
		    const char *);
static int	loadgen_session_next(struct loadgen_session *);
static void	loadgen_session_quit(struct loadgen_session *);

static void
loadgen_usage(void)
{
	fprintf(stderr, "usage: aval-loadgen [-qRT] [-s host:port] "
	    "[-c sessions] [-n messages] [-S bytes]\n"
	    "\t[-m per-connection] [-f sender] [-t rcpt] [-r recipients]\n"
	    "\t[-L file] [-w seconds] [-V 1.2|1.3] "
	    "[-A ecdsa|rsa|sigalgs] [-I seconds]\n"
	    "  -r R  R recipients per message, each in a domain of its own: "
	    "-t LOCAL@DOMAIN\n"
	    "        becomes LOCAL1@d1.DOMAIN ... LOCALR@dR.DOMAIN "
	    "(default 1: -t as it is)\n");
	exit(2);
}

/* loadgen_parse_num - a decimal option value within [min, max], or die */
static long long
loadgen_parse_num(const char *s, long long min, long long max,
    const char *what)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr, "aval-loadgen: %s: \"%s\" is not a number in "
		    "[%lld, %lld]\n", what, s, min, max);
		exit(2);
	}
	return v;
}

/* loadgen_parse_target - "host:port" or "[v6addr]:port", resolved once */
static void
loadgen_parse_target(struct loadgen *lg, const char *arg)
{
	struct addrinfo	 hints, *res;
	const char	*port, *p;
	size_t		 hlen;
	int		 error;

	if (arg[0] == '[') {
		if ((p = strchr(arg, ']')) == NULL || p[1] != ':')
			fatalx("target \"%s\": want [addr]:port", arg);
		hlen = (size_t)(p - arg - 1);
		arg++;
		port = p + 2;
	} else {
		if ((p = strrchr(arg, ':')) == NULL)
			fatalx("target \"%s\": want host:port", arg);
		hlen = (size_t)(p - arg);
		port = p + 1;
	}
	if (hlen == 0 || hlen >= sizeof(lg->host) || *port == '\0')
		fatalx("target \"%s\": bad host or port", arg);
	memcpy(lg->host, arg, hlen);
	lg->host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((error = getaddrinfo(lg->host, port, &hints, &res)) != 0)
		fatalx("target %s port %s: %s", lg->host, port,
		    gai_strerror(error));
	memcpy(&lg->ss, res->ai_addr, res->ai_addrlen);
	lg->sslen = res->ai_addrlen;
	freeaddrinfo(res);
}

/*
 * loadgen_make_rcpts - the recipients of every message: -t itself, or with
 * -r R > 1, LOCALi@di.DOMAIN for i = 1..R, so that each one is in a
 * domain of its own
 */
static void
loadgen_make_rcpts(struct loadgen *lg)
{
	const char	*at;
	int		 i;

	lg->rcpts = xcalloc((size_t)lg->nrcpt, sizeof(*lg->rcpts));
	if (lg->nrcpt == 1) {
		lg->rcpts[0] = xstrdup(lg->rcpt);
		return;
	}
	if ((at = strchr(lg->rcpt, '@')) == NULL || at == lg->rcpt ||
	    at[1] == '\0')
		fatalx("-r: -t \"%s\" must be LOCAL@DOMAIN", lg->rcpt);
	for (i = 0; i < lg->nrcpt; i++)
		xasprintf(&lg->rcpts[i], "%.*s%d@d%d.%s",
		    (int)(at - lg->rcpt), lg->rcpt, i + 1, i + 1, at + 1);
}

/*
 * loadgen_build_body - the text after the header, shared by every message:
 * printable lines of LOADGEN_TEXT_WIDTH characters (the last one shorter)
 * until the message is about "size" bytes, every 16th line starting with
 * a dot so that the server's unstuffing is exercised, dot-stuffed here and
 * followed by the final ".\r\n"
 */
static void
loadgen_build_body(struct loadgen *lg, size_t size)
{
	static const char	 words[] = "the quick brown fox jumps over "
	    "the lazy dog while aval relays mail between federated "
	    "institutions and postfix keeps its fsync on ";
	struct evbuffer		*probe;
	char			 line[LOADGEN_TEXT_WIDTH + 1];
	char			 token[LOADGEN_TOKEN_MAX];
	size_t			 hdrlen, want, have, n, i, k, w, nlines;
	char			*p;

	/* The header of a typical message of this run, token included. */
	if ((probe = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	snprintf(token, sizeof(token), "%s%lu", lg->token_prefix,
	    lg->total / 2 + 1);
	hdrlen = loadgen_headers(lg, probe, token);
	evbuffer_free(probe);
	want = size > hdrlen ? size - hdrlen : 0;

	/*
	 * Room for: the text, one stuffed dot per line, the last line's
	 * overshoot (at most 2 bytes) and the final ".\r\n".
	 */
	nlines = want / (LOADGEN_TEXT_WIDTH + 2) + 2;
	lg->body = xmalloc(want + nlines + 2 + 3);
	p = lg->body;
	w = 0;
	for (have = 0, i = 0; have < want; i++) {
		n = want - have;
		if (n > LOADGEN_TEXT_WIDTH + 2)
			n = LOADGEN_TEXT_WIDTH + 2;
		if (n < 3)
			n = 3;		/* at least one character and CRLF */
		n -= 2;
		for (k = 0; k < n; k++) {
			line[k] = words[w];
			w = (w + 1) % (sizeof(words) - 1);
		}
		if (i % 16 == 15)
			line[0] = '.';
		if (line[0] == ' ')
			line[0] = '-';
		if (line[n - 1] == ' ')
			line[n - 1] = '-';
		if (line[0] == '.')
			*p++ = '.';
		memcpy(p, line, n);
		p += n;
		*p++ = '\r';
		*p++ = '\n';
		have += n + 2;
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	lg->bodylen = (size_t)(p - lg->body);
}

/*
 * loadgen_headers - add the RFC 5322 header of message "token" (and the
 * empty line after it) to out; returns how many bytes that was
 */
static size_t
loadgen_headers(struct loadgen *lg, struct evbuffer *out, const char *token)
{
	char		 date[64];
	struct tm	 tm;
	time_t		 now;
	int		 n;

	now = time(NULL);
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		fatalx("%s: cannot format the date", __func__);
	/* Many recipients: an empty group rather than a 2,000-byte line. */
	n = evbuffer_add_printf(out,
	    "From: <%s>\r\n"
	    "To: %s%s%s\r\n"
	    "Subject: aval-loadgen %s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s@aval-loadgen>\r\n"
	    "X-Bench-Token: %s\r\n"
	    "\r\n",
	    lg->from, lg->nrcpt > 1 ? "undisclosed-recipients:;" : "<",
	    lg->nrcpt > 1 ? "" : lg->rcpt, lg->nrcpt > 1 ? "" : ">",
	    token, date, token, token);
	if (n < 0)
		fatalx("%s: evbuffer_add_printf failed", __func__);
	return (size_t)n;
}

/* loadgen_ms - milliseconds from a to b */
static double
loadgen_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * loadgen_fill - keep "concurrency" sessions busy while messages remain;
 * a session that cannot even start fails its message here, in this loop,
 * so that a dead target cannot recurse
 */
static void
loadgen_fill(struct loadgen *lg)
{
	while (!lg->stopping && lg->active < lg->concurrency &&
	    lg->next < lg->total &&
	    (!lg->idle || lg->nsetup < LOADGEN_SETUP_MAX)) {
		if (loadgen_session_new(lg) == -1) {
			lg->failed++;
			loadgen_check_done(lg);
		}
	}
}

/*
 * loadgen_check_done - when every message has an outcome, note the time and
 * leave the loop once the last QUIT is answered (or after a grace period)
 */
static void
loadgen_check_done(struct loadgen *lg)
{
	struct timeval	 tv = { LOADGEN_GRACE, 0 };

	if (lg->finished || lg->accepted + lg->failed < lg->total)
		return;
	lg->finished = 1;
	clock_gettime(CLOCK_MONOTONIC, &lg->t_end);
	if (TAILQ_EMPTY(&lg->sessions))
		event_base_loopexit(lg->base, NULL);
	else
		evtimer_add(lg->ev_grace, &tv);
}

/*
 * loadgen_stop - time limit or signal: every message in flight fails, no
 * new one starts
 */
static void
loadgen_stop(struct loadgen *lg, const char *why)
{
	struct loadgen_session	*s;

	if (lg->stopping)
		return;
	lg->stopping = 1;
	if (!lg->quiet)
		log_warnx("stopping: %s", why);
	while ((s = TAILQ_FIRST(&lg->sessions)) != NULL) {
		if (s->flags & LOADGEN_F_HASMSG) {
			s->flags &= ~LOADGEN_F_HASMSG;
			lg->failed++;
		}
		loadgen_session_free(s);
	}
	if (!lg->finished) {
		lg->finished = 1;
		clock_gettime(CLOCK_MONOTONIC, &lg->t_end);
	}
	event_base_loopexit(lg->base, NULL);
}

/* loadgen_on_limit - the -w time limit */
static void
loadgen_on_limit(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	loadgen_stop(arg, "time limit reached");
}

/* loadgen_on_signal - SIGTERM or SIGINT, delivered by the loop */
static void
loadgen_on_signal(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	loadgen_stop(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* loadgen_on_grace - sessions still waiting for 221 are dropped */
static void
loadgen_on_grace(evutil_socket_t fd, short ev, void *arg)
{
	struct loadgen	*lg = arg;

	(void)fd;
	(void)ev;
	event_base_loopexit(lg->base, NULL);
}

static int
loadgen_cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* loadgen_percentile - nearest rank of q (0..1] in sorted v */
static double
loadgen_percentile(const double *v, size_t n, double q)
{
	size_t	 rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* loadgen_report - the figures, on stdout */
static void
loadgen_report(struct loadgen *lg)
{
	double	 secs, rate;

	if (!lg->finished)
		clock_gettime(CLOCK_MONOTONIC, &lg->t_end);
	secs = loadgen_ms(&lg->t_start, &lg->t_end) / 1e3;
	rate = secs > 0 ? (double)lg->accepted / secs : 0.0;
	qsort(lg->latency, lg->nlatency, sizeof(double), loadgen_cmp_double);
	printf("sent: %lu\n", lg->next);
	printf("accepted: %lu\n", lg->accepted);
	printf("failed: %lu\n", lg->failed);
	printf("seconds: %.3f\n", secs);
	printf("msgs_per_sec: %.2f\n", rate);
	printf("latency_ms_p50: %.3f\n",
	    loadgen_percentile(lg->latency, lg->nlatency, 0.50));
	printf("latency_ms_p90: %.3f\n",
	    loadgen_percentile(lg->latency, lg->nlatency, 0.90));
	printf("latency_ms_p99: %.3f\n",
	    loadgen_percentile(lg->latency, lg->nlatency, 0.99));
	printf("latency_ms_max: %.3f\n", lg->nlatency > 0 ?
	    lg->latency[lg->nlatency - 1] : 0.0);
	if (lg->ssl_ctx != NULL) {
		printf("tls_full: %lu\n", lg->tls_full);
		printf("tls_resumed: %lu\n", lg->tls_resumed);
		if (lg->resume)
			printf("tls_offered: %lu\n", lg->tls_offered);
		printf("tls_protocol: %s\n", lg->tls_protocol[0] != '\0' ?
		    lg->tls_protocol : "none");
		printf("tls_peer_key: %s\n", lg->tls_peer_key[0] != '\0' ?
		    lg->tls_peer_key : "none");
	}
	if (lg->idle)
		printf("idle_peak: %d\n", lg->idle_peak);
	fflush(stdout);
}

/*
 * loadgen_raise_nofile - make room for "sessions" sockets: raise the soft
 * descriptor limit toward the hard one when it is too low (a warning, not
 * an error, when even the hard limit is too low: the run then shows the
 * failed connections)
 */
static void
loadgen_raise_nofile(int sessions)
{
	struct rlimit	 rl;
	rlim_t		 want = (rlim_t)sessions + LOADGEN_FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
	else if (rl.rlim_cur < want)
		log_warnx("%d sessions need %llu descriptors, the hard limit "
		    "is %llu (raise it with ulimit -n)", sessions,
		    (unsigned long long)want,
		    (unsigned long long)rl.rlim_cur);
}

/*
 * loadgen_tls_setup - the client context of -T: TLS 1.2 or newer (exactly
 * "version" when not 0), no certificate checks, "sigalgs" when given, and
 * with -R a client-side session cache of one entry that we keep ourselves
 */
static void
loadgen_tls_setup(struct loadgen *lg, int version, const char *sigalgs)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, version != 0 ? version :
	    TLS1_2_VERSION) != 1 ||
	    (version != 0 && SSL_CTX_set_max_proto_version(ctx,
	    version) != 1))
		fatalx("cannot set up a TLS context");
	/* A benchmark, not a delivery: no certificate checks. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (sigalgs != NULL && SSL_CTX_set1_sigalgs_list(ctx, sigalgs) != 1)
		fatalx("-A %s: not a signature algorithm list OpenSSL takes",
		    sigalgs);
	/*
	 * Thousands of idle sessions would otherwise hold two 16 KiB record
	 * buffers each on this side; the server's memory is what is
	 * measured, not ours.
	 */
	if (lg->idle)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (lg->resume) {
		/*
		 * OpenSSL's own client cache is keyed by nothing useful here,
		 * so we store nothing there and keep the newest session from
		 * the callback instead. With TLS 1.3 that is the only way to
		 * get one: the tickets arrive after the handshake.
		 */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, loadgen_tls_new_session);
	}
	SSL_CTX_set_app_data(ctx, lg);
	lg->ssl_ctx = ctx;
}

/*
 * loadgen_tls_new_session - OpenSSL has a new session (TLS 1.2: at the end
 * of the handshake; TLS 1.3: a ticket, any time after it): keep it as the
 * one to offer next, and take its reference (return 1)
 */
static int
loadgen_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct loadgen	*lg = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (lg == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	SSL_SESSION_free(lg->tls_sess);
	lg->tls_sess = sess;
	return 1;
}

/*
 * loadgen_tls_describe - the protocol ("TLSv1.3") and the server's key
 * ("EC-256", "RSA-2048") of a finished handshake, for the report
 */
static void
loadgen_tls_describe(SSL *ssl, char *proto, size_t protolen, char *key,
    size_t keylen)
{
	X509		*x;
	EVP_PKEY	*pk;
	const char	*type;
	int		 id;

	snprintf(proto, protolen, "%s", SSL_get_version(ssl));
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL ||
	    (pk = X509_get0_pubkey(x)) == NULL) {
		snprintf(key, keylen, "none");
		return;
	}
	switch ((id = EVP_PKEY_get_base_id(pk))) {
	case EVP_PKEY_EC:
		type = "EC";
		break;
	case EVP_PKEY_RSA:
		type = "RSA";
		break;
	default:
		type = OBJ_nid2sn(id);
		break;
	}
	snprintf(key, keylen, "%s-%d", type != NULL ? type : "?",
	    EVP_PKEY_get_bits(pk));
}

/*
 * loadgen_session_new - take the next message and start connecting for it;
 * -1 (message not taken) when the connection cannot even be started
 */
static int
loadgen_session_new(struct loadgen *lg)
{
	struct loadgen_session	*s;
	struct timeval		 tv = { LOADGEN_TIMEOUT, 0 };

	s = xcalloc(1, sizeof(*s));
	s->lg = lg;
	s->state = LOADGEN_S_CONNECT;
	if ((s->bev = bufferevent_socket_new(lg->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(s);
		lg->next++;
		return -1;
	}
	bufferevent_setcb(s->bev, loadgen_session_read, NULL,
	    loadgen_session_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, LOADGEN_LINE_MAX + 1);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&lg->ss,
	    (int)lg->sslen) == -1) {
		if (!lg->quiet && lg->nerrors++ < LOADGEN_ERRORS_SHOWN)
			log_warn("connect");
		bufferevent_free(s->bev);
		free(s);
		lg->next++;
		return -1;
	}
	s->seq = lg->next++;
	s->flags |= LOADGEN_F_HASMSG;
	if (lg->idle) {
		/* The latency of a session is its set-up time. */
		clock_gettime(CLOCK_MONOTONIC, &s->t_mail);
		s->flags |= LOADGEN_F_SETUP;
		lg->nsetup++;
	}
	TAILQ_INSERT_TAIL(&lg->sessions, s, entry);
	lg->active++;
	return 0;
}

/* loadgen_session_free - close now; the message carried must be settled */
static void
loadgen_session_free(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;
	SSL		*ssl;

	/*
	 * A TLS link that ends after QUIT ends cleanly: say close_notify.
	 * Freed without it, OpenSSL marks the link's session as not
	 * resumable, and with TLS 1.3 that is the very session the newest
	 * ticket came in, the one -R keeps to offer next.
	 */
	if ((s->flags & LOADGEN_F_TLS) && s->state == LOADGEN_S_QUIT &&
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL) {
		SSL_shutdown(ssl);
		ERR_clear_error();
	}
	if (s->flags & LOADGEN_F_HASMSG)
		fatalx("%s: message %lu not settled", __func__, s->seq);
	if (s->state != LOADGEN_S_QUIT)
		lg->active--;
	if (s->flags & LOADGEN_F_SETUP)
		lg->nsetup--;
	if (s->flags & LOADGEN_F_IDLE)
		lg->nidle--;
	if (s->ev_hold != NULL)
		event_free(s->ev_hold);
	TAILQ_REMOVE(&lg->sessions, s, entry);
	bufferevent_free(s->bev);
	free(s);
}

/*
 * loadgen_session_abort - the connection is unusable: fail the message it
 * carries, close it and let another session take over
 */
static void
loadgen_session_abort(struct loadgen_session *s, const char *fmt, ...)
{
	struct loadgen	*lg = s->lg;
	char		 why[512];
	va_list		 ap;
	int		 quitting = s->state == LOADGEN_S_QUIT;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (s->flags & LOADGEN_F_HASMSG) {
		s->flags &= ~LOADGEN_F_HASMSG;
		lg->failed++;
		if (!lg->quiet && lg->nerrors++ < LOADGEN_ERRORS_SHOWN)
			log_warnx("message %lu failed: %s", s->seq + 1, why);
	} else if (!quitting && !lg->quiet &&
	    lg->nerrors++ < LOADGEN_ERRORS_SHOWN)
		log_warnx("session lost: %s", why);
	loadgen_session_free(s);
	if (lg->finished && TAILQ_EMPTY(&lg->sessions))
		event_base_loopexit(lg->base, NULL);
	loadgen_check_done(lg);
	loadgen_fill(lg);
}

/* loadgen_session_fail - one step of the current message failed */
static void
loadgen_session_fail(struct loadgen_session *s, const char *fmt, ...)
{
	struct loadgen	*lg = s->lg;
	char		 why[512];
	va_list		 ap;

	if (s->flags & LOADGEN_F_MSGFAIL)
		return;
	s->flags |= LOADGEN_F_MSGFAIL;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!lg->quiet && lg->nerrors++ < LOADGEN_ERRORS_SHOWN)
		log_warnx("message %lu failed: %s", s->seq + 1, why);
}

/* loadgen_session_send - one command line, CRLF added */
static void
loadgen_session_send(struct loadgen_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
}


/*
 * loadgen_session_read - split the input into reply lines and hand each
 * complete reply (the last line of a multi-line one) on; stops as soon as
 * the handler has freed the session
 */
static void
loadgen_session_read(struct bufferevent *bev, void *arg)
{
	struct loadgen_session	*s = arg;
	struct evbuffer		*in;
	char			*line;
	size_t			 len;
	int			 code, alive;

	(void)bev;
	loadgen_session_cork(s);
	for (;;) {
		/* STARTTLS replaces s->bev, so look it up every time. */
		in = bufferevent_get_input(s->bev);
		if ((line = evbuffer_readln(in, &len,
		    EVBUFFER_EOL_CRLF)) == NULL) {
			if (evbuffer_get_length(in) > LOADGEN_LINE_MAX) {
				loadgen_session_abort(s, "reply line too long");
				return;
			}
			break;
		}
		if (len < 3 || !isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (len > 3 && line[3] != ' ' && line[3] != '-')) {
			loadgen_session_abort(s, "malformed reply \"%.60s\"",
			    line);
			free(line);
			return;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (s->state == LOADGEN_S_EHLO && code == 250)
			loadgen_session_capa(s, len > 4 ? line + 4 : "");
		if (len > 3 && line[3] == '-') {
			free(line);
			continue;
		}
		alive = loadgen_session_reply(s, code, line);
		free(line);
		if (alive == -1)
			return;
	}
	loadgen_session_uncork(s);
}

/*
 * loadgen_session_cork - over TLS, hold back what the reply handlers write
 * until every reply read so far is handled, so that pipelined commands
 * leave in one TLS record as they do from a client that writes through a
 * stream buffer: a TLS filter bufferevent writes a record for every
 * evbuffer_add() as it happens (a command line and its CRLF would be two),
 * where a socket bufferevent waits for the loop. Servers that read one
 * record at a time would otherwise see the pipelined group piecemeal.
 */
static void
loadgen_session_cork(struct loadgen_session *s)
{
	if ((s->flags & LOADGEN_F_HANDSHAKEN) &&
	    !(s->flags & LOADGEN_F_CORKED)) {
		s->flags |= LOADGEN_F_CORKED;
		bufferevent_disable(s->bev, EV_WRITE);
	}
}

/*
 * loadgen_session_uncork - write what was held back; the session may be
 * gone when this returns (a failed write reports through the event
 * callback at once)
 */
static void
loadgen_session_uncork(struct loadgen_session *s)
{
	if (s->flags & LOADGEN_F_CORKED) {
		s->flags &= ~LOADGEN_F_CORKED;
		bufferevent_enable(s->bev, EV_WRITE);
	}
}

/* loadgen_session_capa - note the EHLO keywords this run cares about */
static void
loadgen_session_capa(struct loadgen_session *s, const char *kw)
{
	size_t	 n = strcspn(kw, " ");

	if (n == 10 && strncasecmp(kw, "PIPELINING", n) == 0)
		s->flags |= LOADGEN_F_PIPELINING;
	else if (n == 8 && strncasecmp(kw, "STARTTLS", n) == 0)
		s->flags |= LOADGEN_F_STARTTLS;
}

/* loadgen_session_event - connected, or the connection is gone */
static void
loadgen_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct loadgen_session	*s = arg;
	unsigned long		 sslerr;
	char			 buf[256];
	int			 on = 1, saved = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state != LOADGEN_S_CONNECT) {
			/* The TLS handshake is done. */
			loadgen_session_handshaken(s);
			return;
		}
		if (setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &on, sizeof(on)) == -1)
			log_warn("setsockopt TCP_NODELAY");
		s->state = LOADGEN_S_GREETING;
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		return;
	}
	if (s->state == LOADGEN_S_QUIT) {
		loadgen_session_abort(s, "closed after QUIT");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		loadgen_session_abort(s, "timeout after %d s",
		    LOADGEN_TIMEOUT);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		loadgen_session_abort(s, "connection closed by server");
		return;
	}
	if ((s->flags & LOADGEN_F_TLS) &&
	    (sslerr = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(sslerr, buf, sizeof(buf));
		loadgen_session_abort(s, "TLS: %s", buf);
		return;
	}
	loadgen_session_abort(s, "%s", saved != 0 ?
	    evutil_socket_error_to_string(saved) : "connection error");
}

/*
 * loadgen_session_reply - act on one complete reply; returns -1 when the
 * session was freed, 0 when it lives on
 */
static int
loadgen_session_reply(struct loadgen_session *s, int code, const char *text)
{
	struct loadgen	*lg = s->lg;
	int		 ok = code >= 200 && code < 300;

	/* 421: the server is closing the connection, whatever was asked. */
	if (code == 421 && s->state != LOADGEN_S_QUIT) {
		loadgen_session_abort(s, "%s", text);
		return -1;
	}
	switch (s->state) {
	case LOADGEN_S_GREETING:
		if (code != 220) {
			loadgen_session_abort(s, "greeting: %s", text);
			return -1;
		}
		loadgen_session_ehlo(s);
		return 0;
	case LOADGEN_S_EHLO:
		if (ok && lg->ssl_ctx != NULL &&
		    !(s->flags & LOADGEN_F_TLS)) {
			if (!(s->flags & LOADGEN_F_STARTTLS)) {
				loadgen_session_abort(s, "STARTTLS not "
				    "offered");
				return -1;
			}
			loadgen_session_send(s, "STARTTLS");
			s->state = LOADGEN_S_STARTTLS;
			return 0;
		}
		if (ok)
			return loadgen_session_ready(s);
		if (lg->ssl_ctx != NULL) {
			loadgen_session_abort(s, "EHLO: %s", text);
			return -1;
		}
		loadgen_session_send(s, "HELO aval-loadgen.test");
		s->state = LOADGEN_S_HELO;
		return 0;
	case LOADGEN_S_HELO:
		if (!ok) {
			loadgen_session_abort(s, "HELO: %s", text);
			return -1;
		}
		return loadgen_session_ready(s);
	case LOADGEN_S_STARTTLS:
		if (code != 220) {
			loadgen_session_abort(s, "STARTTLS: %s", text);
			return -1;
		}
		return loadgen_session_starttls(s);
	case LOADGEN_S_MAIL:
		if (!ok)
			loadgen_session_fail(s, "MAIL: %s", text);
		if (s->flags & LOADGEN_F_PIPELINING) {
			s->state = LOADGEN_S_RCPT;
			return 0;
		}
		if (!ok)
			return loadgen_session_finish(s, 0, NULL);
		loadgen_session_send(s, "RCPT TO:<%s>", lg->rcpts[0]);
		s->state = LOADGEN_S_RCPT;
		return 0;
	case LOADGEN_S_RCPT:
		/* One reply per recipient, in the order they were sent. */
		s->nrcpt_done++;
		if (!ok)
			loadgen_session_fail(s, "RCPT %s: %s",
			    lg->rcpts[s->nrcpt_done - 1], text);
		if (s->flags & LOADGEN_F_PIPELINING) {
			if (s->nrcpt_done == lg->nrcpt)
				s->state = LOADGEN_S_DATA;
			return 0;
		}
		if (!ok)
			return loadgen_session_finish(s, 0, NULL);
		if (s->nrcpt_done < lg->nrcpt) {
			loadgen_session_send(s, "RCPT TO:<%s>",
			    lg->rcpts[s->nrcpt_done]);
			return 0;
		}
		loadgen_session_send(s, "DATA");
		s->state = LOADGEN_S_DATA;
		return 0;
	case LOADGEN_S_DATA:
		/*
		 * After 354 the body must follow even if an earlier step of
		 * a pipelined group failed: the server is in DATA now.
		 */
		if (code == 354) {
			loadgen_session_body(s);
			return 0;
		}
		loadgen_session_fail(s, "DATA: %s", text);
		return loadgen_session_finish(s, 0, NULL);
	case LOADGEN_S_DOT:
		if (!ok)
			loadgen_session_fail(s, "after DATA: %s", text);
		return loadgen_session_finish(s, ok, text);
	case LOADGEN_S_RSET:
		if (!ok) {
			loadgen_session_abort(s, "RSET: %s", text);
			return -1;
		}
		return loadgen_session_next(s);
	case LOADGEN_S_QUIT:
		loadgen_session_abort(s, "closed after QUIT");
		return -1;
	case LOADGEN_S_IDLE:
	case LOADGEN_S_CONNECT:
		break;
	}
	loadgen_session_abort(s, "unexpected reply \"%.60s\"", text);
	return -1;
}

/* loadgen_session_ehlo - greet, and forget what an earlier EHLO offered */
static void
loadgen_session_ehlo(struct loadgen_session *s)
{
	s->flags &= ~(LOADGEN_F_PIPELINING | LOADGEN_F_STARTTLS);
	loadgen_session_send(s, "EHLO aval-loadgen.test");
	s->state = LOADGEN_S_EHLO;
}

/*
 * loadgen_session_starttls - put a TLS filter over the socket and greet
 * again; -1 when the session was freed
 */
static int
loadgen_session_starttls(struct loadgen_session *s)
{
	struct loadgen		*lg = s->lg;
	struct bufferevent	*tls;
	struct timeval		 tv = { LOADGEN_TIMEOUT, 0 };
	struct in6_addr		 a6;
	SSL			*ssl;
	SSL_SESSION		*copy = NULL;

	/* Anything after the 220 was sent in clear text: refuse it. */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		loadgen_session_abort(s, "data after STARTTLS reply");
		return -1;
	}
	if ((ssl = SSL_new(lg->ssl_ctx)) == NULL) {
		loadgen_session_abort(s, "SSL_new failed");
		return -1;
	}
	/*
	 * Each link gets a copy: a TLS 1.3 client marks the session it
	 * resumed with as used up, and the kept one must stay fresh until a
	 * newer ticket replaces it (a server that issues none after a
	 * resumption sees the same ticket again, as it would from Postfix's
	 * client with its session cache).
	 */
	if (lg->resume && lg->tls_sess != NULL) {
		if ((copy = SSL_SESSION_dup(lg->tls_sess)) == NULL ||
		    SSL_set_session(ssl, copy) != 1) {
			SSL_SESSION_free(copy);
			SSL_free(ssl);
			loadgen_session_abort(s, "cannot offer the session");
			return -1;
		}
		SSL_SESSION_free(copy);
		lg->tls_offered++;
	}
	/* SNI carries host names, never address literals. */
	if (inet_pton(AF_INET, lg->host, &a6) != 1 &&
	    inet_pton(AF_INET6, lg->host, &a6) != 1)
		SSL_set_tlsext_host_name(ssl, lg->host);
	if ((tls = bufferevent_openssl_filter_new(lg->base, s->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		SSL_free(ssl);
		loadgen_session_abort(s, "cannot start TLS");
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	s->flags |= LOADGEN_F_TLS;
	bufferevent_setcb(tls, loadgen_session_read, NULL,
	    loadgen_session_event, s);
	bufferevent_setwatermark(tls, EV_READ, 0, LOADGEN_LINE_MAX + 1);
	bufferevent_set_timeouts(tls, &tv, &tv);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	loadgen_session_ehlo(s);
	return 0;
}

/*
 * loadgen_session_handshaken - count a finished TLS handshake as full or
 * resumed, once, and note what it negotiated ("mixed" when handshakes of
 * one run differ)
 */
static void
loadgen_session_handshaken(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;
	SSL		*ssl;
	char		 proto[sizeof(lg->tls_protocol)];
	char		 key[sizeof(lg->tls_peer_key)];

	if (!(s->flags & LOADGEN_F_TLS) || (s->flags & LOADGEN_F_HANDSHAKEN) ||
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) == NULL)
		return;
	s->flags |= LOADGEN_F_HANDSHAKEN;
	if (SSL_session_reused(ssl))
		lg->tls_resumed++;
	else
		lg->tls_full++;
	loadgen_tls_describe(ssl, proto, sizeof(proto), key, sizeof(key));
	if (lg->tls_protocol[0] == '\0')
		snprintf(lg->tls_protocol, sizeof(lg->tls_protocol), "%s",
		    proto);
	else if (strcmp(lg->tls_protocol, proto) != 0)
		snprintf(lg->tls_protocol, sizeof(lg->tls_protocol), "mixed");
	if (lg->tls_peer_key[0] == '\0')
		snprintf(lg->tls_peer_key, sizeof(lg->tls_peer_key), "%s",
		    key);
	else if (strcmp(lg->tls_peer_key, key) != 0)
		snprintf(lg->tls_peer_key, sizeof(lg->tls_peer_key), "mixed");
}

/*
 * loadgen_session_ready - greeted: start the message taken at connect, or
 * in idle mode start holding the connection
 */
static int
loadgen_session_ready(struct loadgen_session *s)
{
	if (s->lg->idle)
		return loadgen_session_hold(s);
	if (!(s->flags & LOADGEN_F_HASMSG))
		return loadgen_session_next(s);
	loadgen_session_mail(s);
	return 0;
}

/*
 * loadgen_session_hold - idle mode: the session is set up; note its set-up
 * time, keep it open and silent for -I seconds, and let the next one start
 * setting up
 */
static int
loadgen_session_hold(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;
	struct timeval	 tv = { lg->hold, 0 };
	struct timeval	 to = { lg->hold + LOADGEN_TIMEOUT, 0 };
	struct timespec	 now;
	int		 want;

	/* A session that lost TLS before its EHLO is not a full one. */
	if (lg->ssl_ctx != NULL && !(s->flags & LOADGEN_F_HANDSHAKEN))
		loadgen_session_handshaken(s);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (lg->nlatency < lg->total)
		lg->latency[lg->nlatency++] = loadgen_ms(&s->t_mail, &now);
	if ((s->ev_hold = evtimer_new(lg->base, loadgen_on_hold, s)) == NULL)
		fatalx("%s: evtimer_new failed", __func__);
	s->flags &= ~LOADGEN_F_SETUP;
	lg->nsetup--;
	s->flags |= LOADGEN_F_IDLE;
	s->state = LOADGEN_S_IDLE;
	if (++lg->nidle > lg->idle_peak)
		lg->idle_peak = lg->nidle;
	want = (unsigned long)lg->concurrency < lg->total ?
	    lg->concurrency : (int)lg->total;
	if (!lg->idle_told && lg->nidle >= want) {
		lg->idle_told = 1;
		/* Said even with -q: a benchmark script waits for it. */
		log_info("all %d sessions idle", lg->nidle);
	}
	/* The server may close an idle link; our own timeout waits longer. */
	bufferevent_set_timeouts(s->bev, &to, &to);
	evtimer_add(s->ev_hold, &tv);
	loadgen_fill(lg);
	return 0;
}

/*
 * loadgen_on_hold - the hold is over: the session counts as accepted, and
 * says QUIT
 */
static void
loadgen_on_hold(evutil_socket_t fd, short ev, void *arg)
{
	struct loadgen_session	*s = arg;
	struct loadgen		*lg = s->lg;

	(void)fd;
	(void)ev;
	s->flags &= ~(LOADGEN_F_IDLE | LOADGEN_F_HASMSG);
	lg->nidle--;
	lg->accepted++;
	loadgen_check_done(lg);
	loadgen_session_cork(s);
	loadgen_session_quit(s);
	loadgen_session_uncork(s);
}

/*
 * loadgen_session_mail - open the transaction of message s->seq: MAIL,
 * RCPT and DATA in one write when the server pipelines, MAIL alone if not
 */
static void
loadgen_session_mail(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;
	int		 i, n;

	n = snprintf(s->token, sizeof(s->token), "%s%lu", lg->token_prefix,
	    s->seq + 1);
	if (n < 0 || (size_t)n >= sizeof(s->token))
		fatalx("%s: token truncated", __func__);
	s->flags &= ~LOADGEN_F_MSGFAIL;
	s->nsent++;
	s->nrcpt_done = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->t_mail);
	loadgen_session_send(s, "MAIL FROM:<%s>", lg->from);
	if (s->flags & LOADGEN_F_PIPELINING) {
		for (i = 0; i < lg->nrcpt; i++)
			loadgen_session_send(s, "RCPT TO:<%s>", lg->rcpts[i]);
		loadgen_session_send(s, "DATA");
	}
	s->state = LOADGEN_S_MAIL;
}

/* loadgen_session_body - after 354: header, shared body, final dot */
static void
loadgen_session_body(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;
	struct evbuffer	*out = bufferevent_get_output(s->bev);

	loadgen_headers(lg, out, s->token);
	/* The body is built once and outlives every session. */
	if (evbuffer_add_reference(out, lg->body, lg->bodylen, NULL,
	    NULL) == -1)
		fatalx("%s: evbuffer_add_reference failed", __func__);
	s->state = LOADGEN_S_DOT;
}

/*
 * loadgen_session_finish - settle message s->seq (accepted only when ok and
 * no earlier step failed), then go on: RSET after a failure, else the next
 * message or QUIT; -1 when the session was freed
 */
static int
loadgen_session_finish(struct loadgen_session *s, int ok, const char *text)
{
	struct loadgen	*lg = s->lg;
	struct timespec	 now;

	(void)text;
	if (!(s->flags & LOADGEN_F_HASMSG))
		fatalx("%s: no message to settle", __func__);
	s->flags &= ~LOADGEN_F_HASMSG;
	if (ok && !(s->flags & LOADGEN_F_MSGFAIL)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		lg->accepted++;
		if (lg->nlatency < lg->total)
			lg->latency[lg->nlatency++] =
			    loadgen_ms(&s->t_mail, &now);
		if (lg->logfp != NULL)
			fprintf(lg->logfp, "%s\n", s->token);
	} else {
		lg->failed++;
		ok = 0;
	}
	loadgen_check_done(lg);
	if (!ok) {
		loadgen_session_send(s, "RSET");
		s->state = LOADGEN_S_RSET;
		return 0;
	}
	return loadgen_session_next(s);
}

/*
 * loadgen_session_next - another message on this connection, if -m and
 * the total allow; else QUIT
 */
static int
loadgen_session_next(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;

	if (!lg->stopping && s->nsent < lg->per_conn &&
	    lg->next < lg->total) {
		s->seq = lg->next++;
		s->flags |= LOADGEN_F_HASMSG;
		loadgen_session_mail(s);
		return 0;
	}
	loadgen_session_quit(s);
	return 0;
}

/*
 * loadgen_session_quit - say goodbye; the slot is free from now on, so a
 * new session may start while this one waits for its 221
 */
static void
loadgen_session_quit(struct loadgen_session *s)
{
	struct loadgen	*lg = s->lg;

	loadgen_session_send(s, "QUIT");
	s->state = LOADGEN_S_QUIT;
	lg->active--;
	loadgen_fill(lg);
}

int
main(int argc, char *argv[])
{
	struct loadgen	 lg;
	struct timeval	 tv;
	const char	*target = "127.0.0.1:25", *logfile = NULL;
	const char	*sigalgs = NULL;
	long long	 limit = 300, size = 2048;
	int		 ch, tls = 0, version = 0, n;

	memset(&lg, 0, sizeof(lg));
	TAILQ_INIT(&lg.sessions);
	lg.concurrency = 20;
	lg.total = 1000;
	lg.per_conn = 1;
	lg.from = "loadgen@example.test";
	lg.rcpt = "bench@example.test";
	lg.nrcpt = 1;
	log_init("loadgen", LOG_TO_STDERR);

	while ((ch = getopt(argc, argv,
	    "A:c:f:hI:L:m:n:qRr:S:s:Tt:V:w:")) != -1) {
		switch (ch) {
		case 'A':
			if (strcmp(optarg, "ecdsa") == 0)
				sigalgs = LOADGEN_SIGALGS_ECDSA;
			else if (strcmp(optarg, "rsa") == 0)
				sigalgs = LOADGEN_SIGALGS_RSA;
			else
				sigalgs = optarg;
			break;
		case 'c':
			lg.concurrency = (int)loadgen_parse_num(optarg, 1,
			    LOADGEN_SESSIONS_MAX, "-c");
			break;
		case 'I':
			lg.idle = 1;
			lg.hold = (int)loadgen_parse_num(optarg, 0, 86400,
			    "-I");
			break;
		case 'f':
			lg.from = optarg;
			break;
		case 'L':
			logfile = optarg;
			break;
		case 'm':
			lg.per_conn = (unsigned long)loadgen_parse_num(optarg,
			    1, 1000000000, "-m");
			break;
		case 'n':
			lg.total = (unsigned long)loadgen_parse_num(optarg, 1,
			    100000000, "-n");
			break;
		case 'q':
			lg.quiet = 1;
			break;
		case 'R':
			lg.resume = 1;
			break;
		case 'r':
			lg.nrcpt = (int)loadgen_parse_num(optarg, 1,
			    LOADGEN_RCPTS_MAX, "-r");
			break;
		case 'S':
			size = loadgen_parse_num(optarg, 0, 64 << 20, "-S");
			break;
		case 's':
			target = optarg;
			break;
		case 'T':
			tls = 1;
			break;
		case 't':
			lg.rcpt = optarg;
			break;
		case 'V':
			if (strcmp(optarg, "1.2") == 0)
				version = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				version = TLS1_3_VERSION;
			else {
				fprintf(stderr, "aval-loadgen: -V: want 1.2 "
				    "or 1.3\n");
				exit(2);
			}
			break;
		case 'w':
			limit = loadgen_parse_num(optarg, 1, 86400, "-w");
			break;
		default:
			loadgen_usage();
		}
	}
	if (optind != argc)
		loadgen_usage();
	if (!tls && (lg.resume || version != 0 || sigalgs != NULL)) {
		fprintf(stderr, "aval-loadgen: -R, -V and -A need -T\n");
		exit(2);
	}
	if (strpbrk(lg.from, "<> \r\n") != NULL ||
	    strpbrk(lg.rcpt, "<> \r\n") != NULL || lg.rcpt[0] == '\0')
		fatalx("sender and recipient must be bare addresses");

	loadgen_parse_target(&lg, target);
	loadgen_make_rcpts(&lg);
	n = snprintf(lg.token_prefix, sizeof(lg.token_prefix), "%lld.%ld.",
	    (long long)time(NULL), (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(lg.token_prefix))
		fatalx("token prefix truncated");
	loadgen_build_body(&lg, (size_t)size);
	lg.latency = xcalloc(lg.total, sizeof(double));
	if (logfile != NULL && (lg.logfp = fopen(logfile, "w")) == NULL)
		fatal("-L %s", logfile);
	if (tls)
		loadgen_tls_setup(&lg, version, sigalgs);
	loadgen_raise_nofile(lg.concurrency);
	signal(SIGPIPE, SIG_IGN);

	if ((lg.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	lg.ev_limit = evtimer_new(lg.base, loadgen_on_limit, &lg);
	lg.ev_grace = evtimer_new(lg.base, loadgen_on_grace, &lg);
	lg.ev_term = evsignal_new(lg.base, SIGTERM, loadgen_on_signal, &lg);
	lg.ev_int = evsignal_new(lg.base, SIGINT, loadgen_on_signal, &lg);
	if (lg.ev_limit == NULL || lg.ev_grace == NULL ||
	    lg.ev_term == NULL || lg.ev_int == NULL)
		fatalx("cannot create events");
	tv.tv_sec = (time_t)limit;
	tv.tv_usec = 0;
	evtimer_add(lg.ev_limit, &tv);
	evsignal_add(lg.ev_term, NULL);
	evsignal_add(lg.ev_int, NULL);

	clock_gettime(CLOCK_MONOTONIC, &lg.t_start);
	loadgen_fill(&lg);
	if (!lg.finished && event_base_dispatch(lg.base) == -1)
		fatalx("event_base_dispatch failed");

	/* Sessions still waiting for a 221 after the grace period. */
	while (!TAILQ_EMPTY(&lg.sessions)) {
		struct loadgen_session	*s = TAILQ_FIRST(&lg.sessions);

		if (s->flags & LOADGEN_F_HASMSG) {
			s->flags &= ~LOADGEN_F_HASMSG;
			lg.failed++;
		}
		loadgen_session_free(s);
	}
	loadgen_report(&lg);
	if (lg.logfp != NULL && fclose(lg.logfp) == EOF)
		fatal("-L %s", logfile);

	event_free(lg.ev_limit);
	event_free(lg.ev_grace);
	event_free(lg.ev_term);
	event_free(lg.ev_int);
	event_base_free(lg.base);
	SSL_SESSION_free(lg.tls_sess);
	SSL_CTX_free(lg.ssl_ctx);
	free(lg.latency);
	free(lg.body);
	for (n = 0; n < lg.nrcpt; n++)
		free(lg.rcpts[n]);
	free(lg.rcpts);
	return lg.accepted == lg.total ? 0 : 1;
}
