/*
 * sendmail, mailq - the compatibility commands, without set-uid
 *
 *	sendmail [-t] [-i|-oi] [-f sender] [-F name] [-C file] [-bm] [addr ...]
 *	sendmail -bs [-C file]		SMTP on stdin/stdout
 *	sendmail -bp [-C file], mailq [-C file]
 *
 * sendmail reads a message on standard input and submits it by SMTP on
 * avald's local socket ("listen on unix PATH local"), where smtpd knows
 * the user by SO_PEERCRED: this program holds no privilege and is trusted
 * with nothing; the server applies every limit. It answers only after
 * the server said 250, that is after the message is on disk.
 *
 * What it does to the message (tools/sendmail_msg.h): LF or CRLF line
 * ends become CRLF, a last line without a newline gets one, lines that
 * begin with '.' are doubled, in the header as in the body; without
 * -i/-oi a line of a single '.' ends the input (traditional sendmail).
 * Bcc and Resent-Bcc fields are always removed. With -t the recipients
 * are the addresses of To, Cc and Bcc (of Resent-To, Resent-Cc and
 * Resent-Bcc if any Resent- field is there), and those on the command
 * line are added to them (as Postfix does). A message without
 * From gets "From: NAME <sender>", NAME from -F or the user's GECOS field.
 * The sender is -f, else the user's login name at the configured
 * hostname; a bare name gets "@hostname". An address the server refuses
 * sends nothing: the submission is all or none.
 *
 * mailq (or -bp) lists the queue as Postfix's mailq does, from avald's
 * control socket, which only the user avald runs as may open.
 *
 * Exit status (sysexits.h): 0 queued; EX_USAGE a bad command line or no
 * recipient; EX_NOUSER a recipient refused (5xx); EX_DATAERR the message
 * or sender refused, or a header that cannot be read; EX_TEMPFAIL a 4xx or
 * no avald to talk to (a socket served by anyone but root, avald's user
 * or the caller is none: ctlclient_open); EX_NOPERM mailq without access
 * to the control socket, or one served by another user; EX_UNAVAILABLE
 * mailq with no avald; EX_CONFIG no usable config; EX_IOERR standard
 * input unreadable; EX_PROTOCOL a server that does not
 * speak SMTP as expected; EX_SOFTWARE a bug. Every failure says what
 * went wrong on stderr. See docs/sendmail.md.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/ctlclient.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "tools/sendmail_msg.h"

#define SM_TIMEOUT	600		/* seconds for any one read or write */
#define SM_REPLY_MAX	1024		/* one reply line kept */
#define SM_OUT_FLUSH	(32 * 1024)
#define SM_RCPT_MAX	10000

enum sm_mode { SM_DELIVER, SM_LIST, SM_SMTP };

static const char	*prog = "sendmail";
static struct {
	enum sm_mode	 mode;
	int		 t, i;
	const char	*from, *fullname, *conf;
} opt;

static char		**rcpts;
static size_t		  nrcpts;
static int		  utf8;
static int		  conf_is_default;	/* the embedded one: cwd paths */

static void __attribute__((noreturn))
sm_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "%s: %s\n", prog, why);
	fprintf(stderr, "usage: sendmail [-t] [-i] [-f sender] [-F name] "
	    "[-C config] [-bm|-bs|-bp] [address ...]\n"
	    "       mailq [-C config]\n");
	exit(EX_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
sm_die(int code, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* --- the command line ------------------------------------------------ */

/* sm_arg - the value of an option: the rest of the word, or the next */
static const char *
sm_arg(char **argv, int *i, const char *rest, char o)
{
	if (*rest != '\0')
		return rest;
	if (argv[*i + 1] == NULL) {
		fprintf(stderr, "%s: -%c needs a value\n", prog, o);
		sm_usage(NULL);
	}
	return argv[++*i];
}

/*
 * sm_options - sendmail's options: flags may share a word (-ti), values
 * follow at once or in the next word (-fuser, -f user), -oX is one word.
 * Returns the index of the first address.
 */
static int
sm_options(int argc, char **argv)
{
	const char	*w;
	int		 i;

	(void)argc;
	for (i = 1; argv[i] != NULL && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1;
		for (w = argv[i] + 1; *w != '\0'; w++) {
			switch (*w) {
			case 't':
				opt.t = 1;
				continue;
			case 'i':
				opt.i = 1;
				continue;
			case 'v': case 'm': case 'n': case 'U':
				continue;		/* harmless, ignored */
			case 'f':
				opt.from = sm_arg(argv, &i, w + 1, 'f');
				break;
			case 'F':
				opt.fullname = sm_arg(argv, &i, w + 1, 'F');
				break;
			case 'C':
				opt.conf = sm_arg(argv, &i, w + 1, 'C');
				break;
			case 'B': case 'L': case 'N': case 'R': case 'V':
			case 'X': case 'O': case 'h':
				/* body type, label, DSN: taken and ignored */
				(void)sm_arg(argv, &i, w + 1, *w);
				break;
			case 'o':
				/* -oi as -i; -odi, -oem and the rest: ignored */
				if (strcmp(w + 1, "i") == 0)
					opt.i = 1;
				else if (w[1] == '\0')
					sm_usage("-o needs an option letter");
				break;
			case 'b':
				if (strcmp(w + 1, "m") == 0)
					opt.mode = SM_DELIVER;
				else if (strcmp(w + 1, "p") == 0)
					opt.mode = SM_LIST;
				else if (strcmp(w + 1, "s") == 0)
					opt.mode = SM_SMTP;
				else {
					fprintf(stderr, "%s: -b%s is not "
					    "supported (-bm, -bp, -bs are)\n",
					    prog, w + 1);
					sm_usage(NULL);
				}
				break;
			default:
				fprintf(stderr, "%s: unknown option -%c\n",
				    prog, *w);
				sm_usage(NULL);
			}
			break;		/* the rest of the word was taken */
		}
	}
	return i;
}

/* --- addresses ------------------------------------------------------- */

/*
 * sm_canon - an address as given (no brackets), checked by the server's
 * own parser and completed with "@domain" when bare; -1 if unusable
 */
static int
sm_canon(const char *in, const char *domain, char *out, size_t outlen,
    int null_ok)
{
	char		 path[SMSG_ADDR_MAX + 300];
	const char	*rest, *why;
	unsigned int	 info;
	int		 n;

	if (*in == '\0' && null_ok) {
		out[0] = '\0';
		return 0;
	}
	if (strchr(in, '@') != NULL || strcasecmp(in, "postmaster") == 0)
		n = snprintf(path, sizeof(path), "<%s>", in);
	else
		n = snprintf(path, sizeof(path), "<%s@%s>", in, domain);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if (addr_parse_path(path, ADDR_F_UTF8 | ADDR_F_POSTMASTER_OK |
	    (null_ok ? ADDR_F_NULL_OK : 0), out, outlen, &rest, &info,
	    &why) == -1 || *rest != '\0') {
		fprintf(stderr, "%s: <%s>: %s\n", prog, in,
		    why != NULL ? why : "not an address");
		return -1;
	}
	if (info & ADDR_I_UTF8)
		utf8 = 1;
	return 0;
}

struct sm_rcpt_ctx {
	const char	*domain;
	int		 bad;
};

/* sm_rcpt_add - one recipient, once */
static int
sm_rcpt_add(const char *addr, void *arg)
{
	struct sm_rcpt_ctx	*ctx = arg;
	char			 canon[ADDR_MAX + 1];
	size_t			 i;

	if (sm_canon(addr, ctx->domain, canon, sizeof(canon), 0) == -1) {
		ctx->bad = 1;
		return 0;
	}
	for (i = 0; i < nrcpts; i++)
		if (strcmp(rcpts[i], canon) == 0)
			return 0;
	if (nrcpts >= SM_RCPT_MAX)
		sm_die(EX_USAGE, "more than %d recipients", SM_RCPT_MAX);
	rcpts = xreallocarray(rcpts, nrcpts + 1, sizeof(*rcpts));
	rcpts[nrcpts++] = xstrdup(canon);
	return 0;
}

/* --- the SMTP client ------------------------------------------------- */

struct sm_conn {
	int		 fd;
	char		 in[4096];
	size_t		 start, end;
	char		 last[SM_REPLY_MAX];	/* the reply's last line */
};

static int
sm_write(struct sm_conn *c, const void *p, size_t len)
{
	const char	*q = p;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(c->fd, q, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		q += n;
		len -= (size_t)n;
	}
	return 0;
}

static int __attribute__((format(printf, 2, 3)))
sm_cmd(struct sm_conn *c, const char *fmt, ...)
{
	char	 line[2 * ADDR_MAX + 64];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		sm_die(EX_SOFTWARE, "command too long");
	memcpy(line + n, "\r\n", 2);
	return sm_write(c, line, (size_t)n + 2);
}

/* sm_getc - one octet of the server's reply; -1 at its end or an error */
static int
sm_getc(struct sm_conn *c)
{
	ssize_t	 n;

	if (c->start == c->end) {
		do
			n = read(c->fd, c->in, sizeof(c->in));
		while (n == -1 && errno == EINTR);
		if (n <= 0)
			return -1;
		c->start = 0;
		c->end = (size_t)n;
	}
	return (unsigned char)c->in[c->start++];
}

/*
 * sm_reply - the server's next reply code (multi-line replies read to
 * their last line, kept in c->last without its code), or -1 if the
 * connection ended or the reply is not SMTP
 */
static int
sm_reply(struct sm_conn *c)
{
	char	 line[SM_REPLY_MAX];
	size_t	 n;
	int	 ch;

	for (;;) {
		n = 0;
		while ((ch = sm_getc(c)) != -1 && ch != '\n')
			if (n < sizeof(line) - 1 && ch != '\r')
				line[n++] = (char)ch;
		if (ch == -1) {
			snprintf(c->last, sizeof(c->last), "the server closed "
			    "the connection");
			return -1;
		}
		line[n] = '\0';
		if (n < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (n > 3 && line[3] != ' ' &&
		    line[3] != '-')) {
			snprintf(c->last, sizeof(c->last), "not an SMTP reply: "
			    "%.200s", line);
			return -1;
		}
		if (n == 3 || line[3] == ' ') {
			snprintf(c->last, sizeof(c->last), "%s", line);
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			    (line[2] - '0');
		}
	}
}

/* sm_code_exit - the exit status for a failed step's reply */
static int
sm_code_exit(int code, int perm)
{
	if (code == -1)
		return EX_TEMPFAIL;
	if (code >= 400 && code < 500)
		return EX_TEMPFAIL;
	if (code >= 500)
		return perm;
	return EX_PROTOCOL;
}

static void __attribute__((noreturn))
sm_fail(struct sm_conn *c, int code, int perm, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, c->last);
	if (code != -1)
		(void)sm_cmd(c, "QUIT");
	if (code >= 400 && code < 500)
		fprintf(stderr, "%s: nothing was sent; try again later\n",
		    prog);
	exit(sm_code_exit(code, perm));
}

/*
 * sm_connect - the local socket of the config, or exit EX_TEMPFAIL; a
 * socket that is not avald's is as good as none (ctlclient_open)
 */
static int
sm_connect(const struct conf *conf)
{
	const struct conf_listen	*l;
	struct timeval			 tv = { SM_TIMEOUT, 0 };
	int				 fd;

	if ((l = conf_listen_local(conf)) == NULL)
		sm_die(EX_CONFIG, "the configuration has no local listener "
		    "(add \"listen on unix PATH local\" and restart avald)");
	switch (ctlclient_open(prog, l->addr, conf->user, conf_is_default,
	    &fd)) {
	case CTLCLIENT_O_OK:
		break;
	case CTLCLIENT_O_NOCONN:
		sm_die(EX_TEMPFAIL, "cannot connect to %s: %s (is avald "
		    "running?); nothing was sent", l->addr, strerror(errno));
	case CTLCLIENT_O_FOREIGN:
		sm_die(EX_TEMPFAIL, "nothing was sent");
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* --- -bs: SMTP on stdin/stdout, passed to the socket as it is -------- */

static int
sm_smtp(const struct conf *conf)
{
	struct pollfd	 pfd[2];
	char		 b[16384];
	ssize_t		 n;
	int		 fd = sm_connect(conf), in_open = 1;

	for (;;) {
		pfd[0].fd = in_open ? STDIN_FILENO : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, SM_TIMEOUT * 1000) <= 0) {
			if (errno == EINTR)
				continue;
			sm_die(EX_TEMPFAIL, "-bs: no traffic for %d s",
			    SM_TIMEOUT);
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = read(fd, b, sizeof(b))) <= 0)
				return EX_OK;	/* the server hung up */
			if (write(STDOUT_FILENO, b, (size_t)n) != n)
				return EX_IOERR;
		}
		if (in_open && (pfd[0].revents & (POLLIN | POLLHUP |
		    POLLERR))) {
			if ((n = read(STDIN_FILENO, b, sizeof(b))) <= 0) {
				in_open = 0;
				(void)shutdown(fd, SHUT_WR);
			} else {
				struct sm_conn	 c = { .fd = fd };

				if (sm_write(&c, b, (size_t)n) == -1)
					return EX_TEMPFAIL;
			}
		}
	}
}

/* --- -bm: one message from stdin ------------------------------------- */

enum sm_hdr_end { SM_H_EOF, SM_H_EMPTY, SM_H_BODY };

static int
sm_deliver(const struct conf *conf, char **args)
{
	struct smsg_reader	*r = xcalloc(1, sizeof(*r));
	struct sm_rcpt_ctx	 ctx = { conf->hostname, 0 };
	struct buf		*hdr = buf_new(4096, SMSG_HEADER_MAX);
	struct buf		*out = buf_new(8192, SMSG_HEADER_MAX +
				    4 * SMSG_READ_MAX);
	struct buf		*pending = buf_new(256, SMSG_READ_MAX + 4);
	struct sm_conn		 c;
	enum sm_hdr_end		 how = SM_H_EOF;
	struct passwd		*pw;
	char			 sender[ADDR_MAX + 1], user[ADDR_MAX + 1];
	char			 gecos[256] = "";
	const char		*p;
	size_t			 len, i;
	int			 bol, eol, rv, first = 1, flags, code, refused;
	int			 pend_eol = 1, ended = 0;

	if ((pw = getpwuid(getuid())) == NULL)
		sm_die(EX_NOUSER, "uid %lu has no passwd entry: who are you?",
		    (unsigned long)getuid());
	if (sm_canon(pw->pw_name, conf->hostname, user, sizeof(user), 0) ==
	    -1)
		sm_die(EX_NOUSER, "user name %s makes no address",
		    pw->pw_name);
	if (pw->pw_gecos != NULL) {
		snprintf(gecos, sizeof(gecos), "%s", pw->pw_gecos);
		gecos[strcspn(gecos, ",")] = '\0';
	}
	if (opt.from != NULL) {
		char	 f[SMSG_ADDR_MAX + 1];

		/* "-f <user@x>" and "-f <>" as well as "-f user@x". */
		len = strlen(opt.from);
		if (len >= sizeof(f))
			sm_die(EX_USAGE, "-f: address too long");
		memcpy(f, opt.from, len + 1);
		if (len >= 2 && f[0] == '<' && f[len - 1] == '>') {
			f[len - 1] = '\0';
			memmove(f, f + 1, len - 1);
		}
		if (sm_canon(f, conf->hostname, sender, sizeof(sender), 1) ==
		    -1)
			sm_die(EX_USAGE, "-f %s: not a usable sender address",
			    opt.from);
	} else
		memcpy(sender, user, sizeof(sender));
	if (opt.fullname != NULL) {
		for (p = opt.fullname; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				sm_die(EX_USAGE, "-F: the name holds a control "
				    "character");
	}

	/* Addresses on the command line may be lists: "a, B <b@x>". */
	for (i = 0; args[i] != NULL; i++)
		if (smsg_addr_list(args[i], strlen(args[i]), sm_rcpt_add,
		    &ctx) == -1 || ctx.bad)
			sm_die(EX_USAGE, "%s: not an address", args[i]);

	/* The header, whole, before anything is sent. */
	smsg_reader_init(r, STDIN_FILENO);
	for (;;) {
		if ((rv = smsg_read_line(r, &p, &len, &bol, &eol)) == -1)
			sm_die(EX_IOERR, "reading the message: %s; nothing "
			    "was sent", strerror(errno));
		if (rv == 0)
			break;
		if (!eol) {
			/* Longer than any header line may be: the body. */
			buf_add(pending, p, len);
			pend_eol = 0;
			how = SM_H_BODY;
			break;
		}
		if (!opt.i && len == 1 && p[0] == '.') {
			ended = 1;
			break;
		}
		/* An mbox "From " line first is not the message's. */
		if (first && len >= 5 && memcmp(p, "From ", 5) == 0) {
			first = 0;
			continue;
		}
		first = 0;
		if ((rv = smsg_hdr_add(hdr, p, len)) == -1)
			sm_die(EX_DATAERR, "the header is longer than %d "
			    "octets; nothing was sent", SMSG_HEADER_MAX);
		if (rv == 1) {
			if (len == 0)
				how = SM_H_EMPTY;
			else {
				how = SM_H_BODY;
				buf_add(pending, p, len);
			}
			break;
		}
	}
	if (opt.t && smsg_hdr_scan(buf_data(hdr), buf_len(hdr), sm_rcpt_add,
	    &ctx, NULL, &flags) == -1)
		sm_die(EX_DATAERR, "-t: an address field of the header does "
		    "not parse; nothing was sent");
	if (ctx.bad)
		sm_die(EX_DATAERR, "-t: a header address is not usable; "
		    "nothing was sent");
	if (nrcpts == 0)
		sm_die(EX_USAGE, "no recipients (give addresses, or -t to "
		    "take them from To, Cc and Bcc)");
	if (smsg_hdr_scan(buf_data(hdr), buf_len(hdr), NULL, NULL, out,
	    &flags) == -1)
		sm_die(EX_DATAERR, "the header does not parse");
	if (!(flags & SMSG_HAS_FROM) && smsg_from_line(out,
	    opt.fullname != NULL ? opt.fullname : gecos,
	    *sender != '\0' ? sender : user) == -1)
		sm_die(EX_USAGE, "-F: the name cannot go in a From field");

	/* The transaction: every recipient, or nothing. */
	memset(&c, 0, sizeof(c));
	c.fd = sm_connect(conf);
	if ((code = sm_reply(&c)) != 220)
		sm_fail(&c, code, EX_UNAVAILABLE, "greeting");
	if (sm_cmd(&c, "EHLO %s", conf->hostname) == -1 ||
	    (code = sm_reply(&c)) != 250)
		sm_fail(&c, code, EX_PROTOCOL, "EHLO");
	if (sm_cmd(&c, "MAIL FROM:<%s>%s", sender, utf8 ? " SMTPUTF8" : "") ==
	    -1 || (code = sm_reply(&c)) != 250)
		sm_fail(&c, code, EX_DATAERR, "sender refused");
	for (i = 0, refused = 0; i < nrcpts; i++) {
		if (sm_cmd(&c, "RCPT TO:<%s>", rcpts[i]) == -1 ||
		    (code = sm_reply(&c)) == -1)
			sm_fail(&c, -1, EX_TEMPFAIL, "RCPT");
		if (code / 100 == 2)
			continue;
		fprintf(stderr, "%s: <%s>: %s\n", prog, rcpts[i], c.last);
		if (code / 100 == 5 && refused != EX_TEMPFAIL)
			refused = EX_NOUSER;
		else
			refused = EX_TEMPFAIL;
	}
	if (refused) {
		(void)sm_cmd(&c, "QUIT");
		fprintf(stderr, "%s: nothing was sent%s\n", prog,
		    refused == EX_TEMPFAIL ? "; try again later" : "");
		return refused;
	}
	if (sm_cmd(&c, "DATA") == -1 || (code = sm_reply(&c)) != 354)
		sm_fail(&c, code, EX_DATAERR, "DATA");

	if (how == SM_H_EMPTY || how == SM_H_BODY)
		buf_add(out, "\r\n", 2);
	if (how == SM_H_BODY)
		smsg_put(out, buf_data(pending), buf_len(pending), 1,
		    pend_eol);
	while (!ended && how != SM_H_EOF) {
		if (buf_len(out) >= SM_OUT_FLUSH) {
			if (sm_write(&c, buf_data(out), buf_len(out)) == -1)
				break;
			buf_reset(out);
		}
		if ((rv = smsg_read_line(r, &p, &len, &bol, &eol)) == -1) {
			/* No final dot: the server drops what it has. */
			sm_die(EX_IOERR, "reading the message: %s; nothing "
			    "was sent", strerror(errno));
		}
		if (rv == 0)
			break;
		if (!opt.i && bol && eol && len == 1 && p[0] == '.')
			break;
		if (smsg_put(out, p, len, bol, eol) == -1)
			sm_die(EX_SOFTWARE, "output buffer full");
	}
	buf_add(out, ".\r\n", 3);
	if (sm_write(&c, buf_data(out), buf_len(out)) == -1) {
		/* The server may have said why before it closed. */
		code = sm_reply(&c);
		sm_fail(&c, code == 250 ? -1 : code, EX_DATAERR,
		    "message not accepted");
	}
	if ((code = sm_reply(&c)) != 250)
		sm_fail(&c, code, EX_DATAERR, "message refused");
	(void)sm_cmd(&c, "QUIT");
	(void)sm_reply(&c);
	close(c.fd);
	buf_free(hdr);
	buf_free(out);
	buf_free(pending);
	free(r);
	return EX_OK;
}

/* --- mailq ----------------------------------------------------------- */

static struct event_base	*base;
static struct ctlclient_queue	 queue;
static int			 mq_status = EX_SOFTWARE;

/* sm_mailq_print - Postfix's mailq shape, for the undelivered recipients */
static void
sm_mailq_print(void)
{
	const struct ctlclient_msg	*m;
	const struct ctlclient_rcpt	*rc;
	unsigned long long		 kb = 0;
	char				 when[32], id[32];
	unsigned int			 n = 0;
	time_t				 t;
	char				 st;

	for (m = queue.msgs; m != NULL; m = m->next) {
		if (n++ == 0)
			printf("%-15s %8s %-20s %s\n", "-Queue ID-",
			    "--Size--", "----Arrival Time----",
			    "-Sender/Recipient-------");
		st = ' ';
		for (rc = m->rcpts; rc != NULL; rc = rc->next_rcpt)
			if (rc->state == RCPT_STATE_MAX + 1)
				st = '*';
		if (m->flags & IPC_CTL_MSG_HELD)
			st = '!';
		snprintf(id, sizeof(id), "%s%c", m->qid, st);
		t = (time_t)m->arrival;
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S",
		    localtime(&t));
		printf("%-15s %8llu %-20s %s\n", id,
		    (unsigned long long)m->size, when,
		    *m->sender != '\0' ? m->sender : "MAILER-DAEMON");
		for (rc = m->rcpts; rc != NULL; rc = rc->next_rcpt) {
			if (rc->state == RCPT_DELIVERED ||
			    rc->state == RCPT_BOUNCED)
				continue;
			if (rc->state == RCPT_DEFERRED && *rc->error != '\0')
				printf("(%s)\n", rc->error);
			printf("%46s%s\n", "", rc->addr);
		}
		printf("\n");
		kb += (m->size + 1023) / 1024;
	}
	if (n == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %llu Kbytes in %u Request%s.\n", kb, n,
		    n == 1 ? "" : "s");
}

static void
sm_mailq_dispatch(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	(void)p;
	(void)arg;
	switch (ctlclient_queue_take(&queue, r)) {
	case 1:
		if (!queue.done)
			return;
		sm_mailq_print();
		mq_status = fflush(stdout) == EOF ? EX_IOERR : EX_OK;
		break;
	case 0:
		fprintf(stderr, "%s: unexpected %s from avald\n", prog,
		    ipc_type_name(r->type));
		mq_status = EX_PROTOCOL;
		break;
	default:
		fprintf(stderr, "%s: malformed %s from avald\n", prog,
		    ipc_type_name(r->type));
		mq_status = EX_PROTOCOL;
		break;
	}
	event_base_loopexit(base, NULL);
}

static void
sm_mailq_closed(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	fprintf(stderr, "%s: avald closed the connection\n", prog);
	mq_status = EX_UNAVAILABLE;
	event_base_loopexit(base, NULL);
}

static void
sm_mailq_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	fprintf(stderr, "%s: no answer from avald in 30 s\n", prog);
	mq_status = EX_TEMPFAIL;
	event_base_loopexit(base, NULL);
}

static int
sm_mailq(const struct conf *conf)
{
	struct timeval	 tv = { 30, 0 };
	char		 path[PATH_MAX];
	int		 fd;

	if (ctlclient_path(conf, path, sizeof(path)) == -1)
		sm_die(EX_CONFIG, "runtime-dir too long");
	switch (ctlclient_open(prog, path, conf->user, conf_is_default, &fd)) {
	case CTLCLIENT_O_OK:
		break;
	case CTLCLIENT_O_NOCONN:
		if (errno == EACCES || errno == EPERM)
			sm_die(EX_NOPERM, "cannot open %s: %s: the queue "
			    "listing is for root and the user avald runs as "
			    "(it shows every user's mail; see "
			    "docs/sendmail.md)", path, strerror(errno));
		sm_die(EX_UNAVAILABLE, "cannot connect to %s: %s (is avald "
		    "running?)", path, strerror(errno));
	case CTLCLIENT_O_FOREIGN:
		exit(EX_NOPERM);
	}
	ctlclient_queue_init(&queue);
	if ((base = event_base_new()) == NULL)
		sm_die(EX_OSERR, "event_base_new failed");
	ipc_send(ipc_peer_new(base, fd, "avald", sm_mailq_dispatch,
	    sm_mailq_closed, NULL), ipc_new(IPC_CTL_QUEUE_LIST));
	event_base_once(base, -1, EV_TIMEOUT, sm_mailq_timeout, NULL, &tv);
	event_base_dispatch(base);
	ctlclient_queue_clear(&queue);
	return mq_status;
}

int
main(int argc, char **argv)
{
	struct conf	*conf;
	const char	*b;
	int		 first;

	b = strrchr(argv[0], '/');
	b = b != NULL ? b + 1 : argv[0];
	log_init(strcmp(b, "mailq") == 0 ? "mailq" : "sendmail",
	    LOG_TO_STDERR);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(b, "mailq") == 0) {
		prog = "mailq";
		opt.mode = SM_LIST;
	}
	first = sm_options(argc, argv);
	if (strcmp(b, "mailq") == 0 && opt.mode != SM_LIST)
		sm_usage("mailq takes no -b mode");
	if (opt.mode != SM_DELIVER && argv[first] != NULL)
		sm_usage("-bs and -bp take no addresses");
	if ((conf = ctlclient_conf(prog, opt.conf, &conf_is_default)) == NULL)
		sm_die(EX_CONFIG, "no usable configuration%s%s",
		    opt.conf ? " in " : "", opt.conf ? opt.conf : "");
	switch (opt.mode) {
	case SM_LIST:
		return sm_mailq(conf);
	case SM_SMTP:
		return sm_smtp(conf);
	case SM_DELIVER:
		break;
	}
	return sm_deliver(conf, argv + first);
}
