/*
 * queue_dsn - the bounces and notices the queue sends
 *
 * The message is built in a scratch buf in one pass, then checked and
 * only then appended to the caller's: so a failure leaves out as it was,
 * and the boundary check can look at the finished bytes. Every write goes
 * through queue_dsn_put(), which records the first failure (the cap)
 * instead of making each caller check; the pass ends by looking once.
 *
 * Values from outside reach the output only through queue_dsn_clean(),
 * which is where CR, LF and the other controls are taken out, so no
 * other code here has to think about them. Lines are made only by
 * queue_dsn_field() (header fields, folded) and queue_dsn_wrap() (the
 * plain-words text, wrapped), which are where the 998-octet limit is kept.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/xtext.h"
#include "queue/queue_dsn.h"
#include "queue/queue_rec.h"

#define QUEUE_DSN_LINE_MAX	998	/* octets before CRLF (RFC 5322) */
#define QUEUE_DSN_FOLD		78	/* fields fold here when they can */
#define QUEUE_DSN_WRAP		76	/* the plain-words text */
#define QUEUE_DSN_TEXT_HARD	900	/* a word longer than this is split */
#define QUEUE_DSN_ADDR_MAX	512	/* octets of an address kept */
#define QUEUE_DSN_TOKEN_MAX	255	/* host names, queue ID, status */
#define QUEUE_DSN_SEED_MAX	32	/* octets of the seed in the boundary */
#define QUEUE_DSN_TRIES		8	/* boundaries tried before giving up */
#define QUEUE_DSN_SCRATCH	4096	/* one cleaned value, at most */

/* queue_dsn_clean() modes. */
#define QUEUE_DSN_C_ADDR	1	/* SP kept, UTF-8 kept, others '?' */
#define QUEUE_DSN_C_TEXT	2	/* controls to SP, SP runs to one */
#define QUEUE_DSN_C_TOKEN	3	/* printable ASCII, no SP; others '?' */
#define QUEUE_DSN_C_HOST	4	/* letters, digits, . - _; others '-' */

/* Why the original is not enclosed whole. */
enum queue_dsn_why {
	QUEUE_DSN_W_NONE,		/* it is */
	QUEUE_DSN_W_NOTICE,		/* no failure reported: headers only */
	QUEUE_DSN_W_RET,		/* RET=HDRS */
	QUEUE_DSN_W_SIZE,		/* over return_limit */
	QUEUE_DSN_W_UNREADABLE,		/* not all there, or unfit to enclose */
};

struct queue_dsn_ctx {
	const struct queue_dsn_in *in;
	struct buf	*b;		/* the message being made */
	struct buf	*tmp;		/* one cleaned value */
	int		 err;		/* a write failed: the cap */
	const char	*enc;		/* what is enclosed, or NULL */
	size_t		 enc_len;
	unsigned int	 enc_what;	/* QUEUE_DSN_O_FULL, _HDRS or 0 */
	enum queue_dsn_why why;
	int		 hdrs_cut;	/* the header block is incomplete */
	int		 enc_8bit;
	int		 text_utf8;	/* the text names a UTF-8 address */
	int		 to_utf8;	/* so does To: */
	int		 pm;		/* to the postmaster */
	int		 nkind[QUEUE_DSN_EXPANDED + 1];
	char		 host[QUEUE_DSN_TOKEN_MAX + 1];	/* reporting MTA */
	char		 qid[QUEUE_DSN_TOKEN_MAX + 1];
	char		 boundary[96];
	uint64_t	 hash;
	unsigned int	 nboundary;	/* times it was written */
};

static const char *const queue_dsn_action[] = {
	[QUEUE_DSN_FAILED] = "failed",
	[QUEUE_DSN_DELAYED] = "delayed",
	[QUEUE_DSN_DELIVERED] = "delivered",
	[QUEUE_DSN_RELAYED] = "relayed",
	[QUEUE_DSN_EXPANDED] = "expanded",
};

static void	 queue_dsn_put(struct queue_dsn_ctx *, const void *, size_t);
static void	 queue_dsn_puts(struct queue_dsn_ctx *, const char *);
static void	 queue_dsn_printf(struct queue_dsn_ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static const char *queue_dsn_clean(struct queue_dsn_ctx *, const char *,
		    size_t, int);
static void	 queue_dsn_clean_into(const char *, int, char *, size_t);
static int	 queue_dsn_utf8_in(const char *);
static void	 queue_dsn_date(int64_t, char *, size_t);
static void	 queue_dsn_field(struct queue_dsn_ctx *, const char *,
		    const char *);
static void	 queue_dsn_wrap(struct queue_dsn_ctx *, size_t, const char *);
static void	 queue_dsn_put_xtext8(struct buf *, const char *);
static const char *queue_dsn_addr_value(struct queue_dsn_ctx *,
		    const char *);
static const char *queue_dsn_orcpt_value(struct queue_dsn_ctx *,
		    const struct queue_dsn_rcpt *);
static const char *queue_dsn_status(const struct queue_dsn_rcpt *);
static size_t	 queue_dsn_header_end(const char *, size_t, int, int *);
static int	 queue_dsn_lines_ok(const char *, size_t);
static void	 queue_dsn_enclosure(struct queue_dsn_ctx *);
static void	 queue_dsn_make_boundary(struct queue_dsn_ctx *, unsigned int);
static void	 queue_dsn_delimiter(struct queue_dsn_ctx *, int);
static void	 queue_dsn_headers(struct queue_dsn_ctx *);
static void	 queue_dsn_text(struct queue_dsn_ctx *);
static void	 queue_dsn_report(struct queue_dsn_ctx *);
static void	 queue_dsn_original(struct queue_dsn_ctx *);
static size_t	 queue_dsn_count(const char *, size_t, const char *);

/* queue_dsn_wanted - 1 if NOTIFY asks for a notice of this kind */
int
queue_dsn_wanted(uint32_t notify, enum queue_dsn_kind kind)
{
	/* RFC 3461 section 4.1: no NOTIFY is taken as FAILURE,DELAY. */
	if (notify == 0)
		notify = QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;
	if (notify & QUEUE_NOTIFY_NEVER)
		return 0;
	switch (kind) {
	case QUEUE_DSN_FAILED:
		return (notify & QUEUE_NOTIFY_FAILURE) != 0;
	case QUEUE_DSN_DELAYED:
		return (notify & QUEUE_NOTIFY_DELAY) != 0;
	case QUEUE_DSN_DELIVERED:
	case QUEUE_DSN_RELAYED:
	case QUEUE_DSN_EXPANDED:
		return (notify & QUEUE_NOTIFY_SUCCESS) != 0;
	}
	return 0;
}

/* queue_dsn_to - where a notice of this kind about a message goes */
enum queue_dsn_to
queue_dsn_to(const char *sender, enum queue_dsn_kind kind,
    int postmaster_copy)
{
	/*
	 * A notice the queue sent the postmaster is the end of the line:
	 * whatever becomes of it, nothing more is said. A message from the
	 * null sender was itself a bounce or notice: answering its sender
	 * is impossible (RFC 5321 section 4.5.5), so a failure is told to
	 * the postmaster, once, and a delay or success to no one.
	 */
	if (postmaster_copy)
		return QUEUE_DSN_TO_NONE;
	if (sender == NULL || sender[0] == '\0')
		return kind == QUEUE_DSN_FAILED ? QUEUE_DSN_TO_POSTMASTER :
		    QUEUE_DSN_TO_NONE;
	return QUEUE_DSN_TO_SENDER;
}

/* --- writing -------------------------------------------------------------- */

/* queue_dsn_put - append n bytes to the message, or note that it is full */
static void
queue_dsn_put(struct queue_dsn_ctx *c, const void *p, size_t n)
{
	if (c->err == 0 && buf_add(c->b, p, n) == -1)
		c->err = 1;
}

/* queue_dsn_puts - append a C string */
static void
queue_dsn_puts(struct queue_dsn_ctx *c, const char *s)
{
	queue_dsn_put(c, s, strlen(s));
}

/* queue_dsn_printf - append formatted text; only our own values go here */
static void
queue_dsn_printf(struct queue_dsn_ctx *c, const char *fmt, ...)
{
	char	 line[QUEUE_DSN_LINE_MAX + 3];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Every caller formats one short line; longer would be a bug here. */
	if (n < 0 || (size_t)n >= sizeof(line)) {
		c->err = 1;
		return;
	}
	queue_dsn_put(c, line, (size_t)n);
}

/*
 * queue_dsn_clean_into - s made safe to write, into out (outlen > 0),
 * by mode: see the QUEUE_DSN_C_* modes above. Cut short at outlen - 1.
 */
static void
queue_dsn_clean_into(const char *s, int mode, char *out, size_t outlen)
{
	size_t	 i, o = 0, n = strlen(s), len;

	for (i = 0; i < n && o + 1 < outlen; i += len) {
		unsigned char	 ch = (unsigned char)s[i];
		char		 put = (char)ch;

		len = 1;
		switch (mode) {
		case QUEUE_DSN_C_ADDR:
			if (ch >= 0x80 && (len = addr_utf8_len(s + i,
			    n - i)) > 0) {
				if (o + len >= outlen)
					goto done;
				memcpy(out + o, s + i, len);
				o += len;
				continue;
			}
			len = 1;
			if (ch < 0x20 || ch >= 0x7f)
				put = '?';
			break;
		case QUEUE_DSN_C_TOKEN:
			if (ch <= 0x20 || ch >= 0x7f)
				put = '?';
			break;
		case QUEUE_DSN_C_HOST:
			if (!((ch >= 'a' && ch <= 'z') ||
			    (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') ||
			    ch == '.' || ch == '-' || ch == '_'))
				put = '-';
			break;
		}
		out[o++] = put;
	}
 done:
	out[o] = '\0';
}

/*
 * queue_dsn_clean - s made safe to write, in c->tmp (valid until the next
 * call), at most max octets of it. Free text (QUEUE_DSN_C_TEXT) has each
 * control, CR and LF among them, turned into a space, runs of spaces made
 * one, no space at either end, and "..." where it was cut.
 */
static const char *
queue_dsn_clean(struct queue_dsn_ctx *c, const char *s, size_t max, int mode)
{
	char	 small[QUEUE_DSN_SCRATCH];
	size_t	 i, n;
	int	 space = 0;

	buf_reset(c->tmp);
	if (max >= sizeof(small))
		max = sizeof(small) - 1;
	if (mode != QUEUE_DSN_C_TEXT) {
		queue_dsn_clean_into(s, mode, small, max + 1);
		buf_addstr(c->tmp, small);
		return buf_data(c->tmp);
	}
	for (i = 0, n = 0; s[i] != '\0'; i++) {
		unsigned char	 ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch == 0x7f) {
			space = n > 0;
			continue;
		}
		if (n + (space ? 1 : 0) + 1 > max) {
			buf_addstr(c->tmp, "...");
			break;
		}
		if (space) {
			buf_add(c->tmp, " ", 1);
			n++;
			space = 0;
		}
		/* The report is 7-bit: an octet of UTF-8 becomes '?'. */
		buf_add(c->tmp, ch >= 0x80 ? "?" : &s[i], 1);
		n++;
	}
	return buf_data(c->tmp);
}

/* queue_dsn_utf8_in - 1 if s holds a well-formed non-ASCII character */
static int
queue_dsn_utf8_in(const char *s)
{
	size_t	 n = strlen(s), i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 && addr_utf8_len(s + i, n - i))
			return 1;
	return 0;
}

/* queue_dsn_date - RFC 5322 date-time of unix ms, in UTC, locale-free */
static void
queue_dsn_date(int64_t ms, char *out, size_t outlen)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm	 tm;
	time_t		 t;

	/* Keep the year at four digits: 253402300799 is 9999-12-31 23:59:59. */
	if (ms < 0 || ms / 1000 > INT64_C(253402300799))
		ms = 0;
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * queue_dsn_field - "name: value" CRLF, folded (RFC 5322 section 2.2.3):
 * before a space once the line passes QUEUE_DSN_FOLD columns, so that
 * unfolding gives the value back; and, where QUEUE_DSN_LINE_MAX octets go
 * by without a space, by inserting one, which is all that can be done.
 * value must be clean (queue_dsn_clean). No line is made of spaces alone:
 * spaces at the end of a value stay on its last line.
 */
static void
queue_dsn_field(struct queue_dsn_ctx *c, const char *name, const char *value)
{
	const char	*p = value, *q;
	size_t		 col, n, k, first;

	queue_dsn_puts(c, name);
	queue_dsn_put(c, ":", 1);
	col = first = strlen(name) + 1;
	if (*p != '\0') {
		queue_dsn_put(c, " ", 1);
		col++;
	}
	while (*p != '\0') {
		/* One chunk: the spaces before a word, and the word. */
		for (q = p; *q == ' '; q++)
			;
		while (*q != '\0' && *q != ' ')
			q++;
		n = (size_t)(q - p);
		/* Fold before a word, never before trailing spaces alone. */
		if (*p == ' ' && q[-1] != ' ' && col > first + 1 &&
		    col + n > QUEUE_DSN_FOLD) {
			queue_dsn_put(c, "\r\n", 2);
			col = 0;
		}
		while (col + n > QUEUE_DSN_LINE_MAX) {
			k = QUEUE_DSN_LINE_MAX - col;
			/* Never inside a UTF-8 character (To: may hold one). */
			while (k > 0 && ((unsigned char)p[k] & 0xc0) == 0x80)
				k--;
			if (k == 0)
				k = QUEUE_DSN_LINE_MAX - col;
			queue_dsn_put(c, p, k);
			queue_dsn_put(c, "\r\n ", 3);
			col = 1;
			p += k;
			n -= k;
		}
		queue_dsn_put(c, p, n);
		col += n;
		p = q;
	}
	queue_dsn_put(c, "\r\n", 2);
}

/*
 * queue_dsn_wrap - text as lines of at most QUEUE_DSN_WRAP columns, each
 * indented by indent spaces; a word too long for a line has one of its
 * own, and one over QUEUE_DSN_TEXT_HARD octets is split. The text is
 * split at spaces and must hold no control.
 */
static void
queue_dsn_wrap(struct queue_dsn_ctx *c, size_t indent, const char *text)
{
	static const char	 spaces[] = "                ";
	const char		*p = text, *w;
	size_t			 col = 0, n, k;

	if (indent > sizeof(spaces) - 1)
		indent = sizeof(spaces) - 1;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (w = p; *p != '\0' && *p != ' '; p++)
			;
		n = (size_t)(p - w);
		if (col > 0 && col + 1 + n > QUEUE_DSN_WRAP) {
			queue_dsn_put(c, "\r\n", 2);
			col = 0;
		}
		if (col == 0) {
			queue_dsn_put(c, spaces, indent);
			col = indent;
		} else {
			queue_dsn_put(c, " ", 1);
			col++;
		}
		while (col + n > QUEUE_DSN_TEXT_HARD) {
			k = QUEUE_DSN_TEXT_HARD - col;
			while (k > 0 && ((unsigned char)w[k] & 0xc0) == 0x80)
				k--;
			if (k == 0)
				k = QUEUE_DSN_TEXT_HARD - col;
			queue_dsn_put(c, w, k);
			queue_dsn_put(c, "\r\n", 2);
			queue_dsn_put(c, spaces, indent);
			col = indent;
			w += k;
			n -= k;
		}
		queue_dsn_put(c, w, n);
		col += n;
	}
	if (col > 0)
		queue_dsn_put(c, "\r\n", 2);
}

/* --- the report's values -------------------------------------------------- */

/*
 * queue_dsn_put_xtext8 - UTF-8 s as RFC 6533 utf-8-addr-xtext: QCHARs as
 * themselves, every other character as "\x{HEX}". s is well-formed
 * (queue_dsn_clean, or xtext_decode_utf8 made it), and any octet that is
 * not is written as its own escape rather than passed on.
 */
static void
queue_dsn_put_xtext8(struct buf *b, const char *s)
{
	size_t	 n = strlen(s), i, len;

	for (i = 0; i < n; i += len) {
		unsigned char	 ch = (unsigned char)s[i];
		unsigned long	 cp;

		len = 1;
		if (ch > 0x20 && ch < 0x7f && ch != '+' && ch != '=' &&
		    ch != '\\') {
			buf_add(b, &s[i], 1);
			continue;
		}
		cp = ch;
		if (ch >= 0x80 && (len = addr_utf8_len(s + i, n - i)) > 0) {
			size_t	 j;

			cp = ch & (0xff >> (len + 1));
			for (j = 1; j < len; j++)
				cp = cp << 6 | ((unsigned char)s[i + j] & 0x3f);
		} else
			len = 1;
		buf_printf(b, cp < 0x100 ? "\\x{%02lX}" : "\\x{%lX}", cp);
	}
}

/*
 * queue_dsn_addr_value - "rfc822; addr" for Final-Recipient and the like,
 * or "utf-8; " and its utf-8-addr-xtext when it holds UTF-8 (RFC 6533
 * section 3: the 7-bit form is the one message/delivery-status takes).
 */
static const char *
queue_dsn_addr_value(struct queue_dsn_ctx *c, const char *addr)
{
	char	 clean[QUEUE_DSN_ADDR_MAX + 1];

	queue_dsn_clean_into(addr, QUEUE_DSN_C_ADDR, clean, sizeof(clean));
	buf_reset(c->tmp);
	if (queue_dsn_utf8_in(clean)) {
		buf_addstr(c->tmp, "utf-8; ");
		queue_dsn_put_xtext8(c->tmp, clean);
	} else {
		buf_addstr(c->tmp, "rfc822; ");
		buf_addstr(c->tmp, clean);
	}
	return buf_data(c->tmp);
}

/*
 * queue_dsn_orcpt_value - the Original-Recipient value from ORCPT as
 * stored, or NULL for none: rfc822 decoded from xtext, utf-8 decoded from
 * either RFC 6533 form and written again as utf-8-addr-xtext. smtpd took
 * only values that decode; one that does not (a damaged store) is shown
 * as stored, cleaned, since RFC 3461 section 6.3 wants the field whenever
 * ORCPT was given.
 */
static const char *
queue_dsn_orcpt_value(struct queue_dsn_ctx *c, const struct queue_dsn_rcpt *r)
{
	char	 dec[QUEUE_DSN_SCRATCH], raw[QUEUE_DSN_SCRATCH];
	size_t	 n;
	int	 ok;

	if (r->orcpt == NULL || r->orcpt[0] == '\0')
		return NULL;
	n = strlen(r->orcpt);
	if (r->orcpt_type == QUEUE_ORCPT_RFC822)
		ok = xtext_decode(r->orcpt, n, 0, dec, sizeof(dec)) == 0;
	else if (r->orcpt_type == QUEUE_ORCPT_UTF8)
		ok = xtext_decode_utf8(r->orcpt, n, XTEXT_F_UTF8, dec,
		    sizeof(dec)) == 0;
	else
		return NULL;
	buf_reset(c->tmp);
	if (!ok) {
		queue_dsn_clean_into(r->orcpt, QUEUE_DSN_C_TOKEN, raw,
		    sizeof(raw));
		buf_printf(c->tmp, "%s; %s", r->orcpt_type ==
		    QUEUE_ORCPT_RFC822 ? "rfc822" : "utf-8", raw);
	} else if (r->orcpt_type == QUEUE_ORCPT_UTF8) {
		buf_addstr(c->tmp, "utf-8; ");
		queue_dsn_put_xtext8(c->tmp, dec);
	} else
		buf_printf(c->tmp, "rfc822; %s", dec);
	return buf_data(c->tmp);
}

/*
 * queue_dsn_status - r's status if it has the RFC 3463 form (class 2, 4
 * or 5, then two numbers of 1 to 3 digits), else the X.0.0 of its action
 */
static const char *
queue_dsn_status(const struct queue_dsn_rcpt *r)
{
	const char	*s = r->status;
	int		 part, digits;

	if (s != NULL && (s[0] == '2' || s[0] == '4' || s[0] == '5') &&
	    s[1] == '.') {
		s += 2;
		for (part = 0; part < 2; part++) {
			for (digits = 0; *s >= '0' && *s <= '9'; s++)
				digits++;
			if (digits < 1 || digits > 3)
				break;
			if (part == 0 && *s++ != '.')
				break;
		}
		if (part == 2 && *s == '\0')
			return r->status;
	}
	switch (r->action) {
	case QUEUE_DSN_FAILED:
		return "5.0.0";
	case QUEUE_DSN_DELAYED:
		return "4.0.0";
	default:
		return "2.0.0";
	}
}

/* --- the original --------------------------------------------------------- */

/*
 * queue_dsn_header_end - the length of the header block at the start of
 * the n octets at p: up to the empty line, not counting it. When there is
 * none, all of it if whole, else the complete lines, and *cut is set.
 */
static size_t
queue_dsn_header_end(const char *p, size_t n, int whole, int *cut)
{
	const char	*nl;
	size_t		 i = 0;

	*cut = 0;
	while (i < n) {
		if ((nl = memchr(p + i, '\n', n - i)) == NULL) {
			if (whole)
				return n;
			break;
		}
		if (nl == p + i || (nl == p + i + 1 && p[i] == '\r'))
			return i;
		i = (size_t)(nl - p) + 1;
	}
	*cut = !whole;
	return i;
}

/*
 * queue_dsn_lines_ok - 1 if the n octets at p are lines we may enclose
 * as they are: CRLF at each end (the last may have none), no other CR or
 * LF, no NUL, at most QUEUE_DSN_LINE_MAX octets before each CRLF.
 */
static int
queue_dsn_lines_ok(const char *p, size_t n)
{
	size_t	 i, col = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 == n || p[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (p[i] == '\n' || p[i] == '\0' || ++col > QUEUE_DSN_LINE_MAX)
			return 0;
	}
	return 1;
}

/* queue_dsn_enclosure - decide what of the original goes in, and why */
static void
queue_dsn_enclosure(struct queue_dsn_ctx *c)
{
	const struct queue_dsn_in	*in = c->in;
	size_t				 hlen, i;
	int				 whole;

	c->enc = NULL;
	c->enc_len = 0;
	c->enc_what = 0;
	c->why = QUEUE_DSN_W_UNREADABLE;
	if (in->orig == NULL || in->orig_len == 0)
		return;
	whole = (uint64_t)in->orig_len == in->orig_size;

	/*
	 * RFC 3461 section 4.3 has RET=FULL ask for the whole message in a
	 * "failed" DSN, and section 6.2 only the headers in one that reports
	 * no failure. With no RET, this queue returns it whole (as Postfix
	 * does) when it is small enough: the return_limit is what keeps a
	 * bounce from doubling a big message's trip.
	 */
	if (c->nkind[QUEUE_DSN_FAILED] == 0)
		c->why = QUEUE_DSN_W_NOTICE;
	else if (in->ret == QUEUE_RET_HDRS)
		c->why = QUEUE_DSN_W_RET;
	else if (in->orig_size > in->return_limit)
		c->why = QUEUE_DSN_W_SIZE;
	else if (whole && queue_dsn_lines_ok(in->orig, in->orig_len)) {
		c->why = QUEUE_DSN_W_NONE;
		c->enc = in->orig;
		c->enc_len = in->orig_len;
		c->enc_what = QUEUE_DSN_O_FULL;
	}
	if (c->enc == NULL) {
		hlen = queue_dsn_header_end(in->orig, in->orig_len, whole,
		    &c->hdrs_cut);
		if (hlen > 0 && queue_dsn_lines_ok(in->orig, hlen)) {
			c->enc = in->orig;
			c->enc_len = hlen;
			c->enc_what = QUEUE_DSN_O_HDRS;
		} else
			c->why = QUEUE_DSN_W_UNREADABLE;
	}
	for (i = 0; i < c->enc_len; i++)
		if ((unsigned char)c->enc[i] >= 0x80) {
			c->enc_8bit = 1;
			break;
		}
}

/* --- the boundary --------------------------------------------------------- */

/*
 * queue_dsn_make_boundary - the boundary for try number attempt: the seed
 * (as much of it as RFC 2046's bchars allow) and a 64-bit FNV-1a hash of
 * the attempt, the seed and the enclosed text. "=_" cannot start a line
 * of quoted-printable or base64; the hash is there so that an original
 * cannot be written to hold the boundary its own bounce will use, since
 * the seed (a queue ID, a time) can be guessed.
 */
static void
queue_dsn_make_boundary(struct queue_dsn_ctx *c, unsigned int attempt)
{
	char		 seed[QUEUE_DSN_SEED_MAX + 1];
	const char	*s = c->in->boundary_seed ? c->in->boundary_seed : "";
	uint64_t	 h = UINT64_C(14695981039346656037);
	size_t		 i;

#define QUEUE_DSN_FNV(h, ch)	((h) = ((h) ^ (unsigned char)(ch)) * \
				    UINT64_C(1099511628211))
	QUEUE_DSN_FNV(h, attempt);
	for (i = 0; s[i] != '\0'; i++)
		QUEUE_DSN_FNV(h, s[i]);
	for (i = 0; i < c->enc_len; i++)
		QUEUE_DSN_FNV(h, c->enc[i]);
#undef QUEUE_DSN_FNV
	queue_dsn_clean_into(s, QUEUE_DSN_C_HOST, seed, sizeof(seed));
	c->hash = h;
	snprintf(c->boundary, sizeof(c->boundary), "=_aval_%s%s%016llX",
	    seed, seed[0] != '\0' ? "_" : "", (unsigned long long)h);
}

/* queue_dsn_delimiter - a boundary line: "--b" CRLF, or the close */
static void
queue_dsn_delimiter(struct queue_dsn_ctx *c, int close)
{
	/* The CRLF before the delimiter belongs to it (RFC 2046 5.1.1). */
	queue_dsn_puts(c, "\r\n--");
	queue_dsn_puts(c, c->boundary);
	queue_dsn_puts(c, close ? "--\r\n" : "\r\n");
	c->nboundary++;
}

/* queue_dsn_count - how many times needle occurs in the n octets at p */
static size_t
queue_dsn_count(const char *p, size_t n, const char *needle)
{
	size_t		 k = strlen(needle), count = 0;
	const char	*hit, *end = p + n;

	while ((hit = memmem(p, (size_t)(end - p), needle, k)) != NULL) {
		count++;
		p = hit + 1;
	}
	return count;
}

/* --- the parts ------------------------------------------------------------ */

/* queue_dsn_headers - the notice's own header */
static void
queue_dsn_headers(struct queue_dsn_ctx *c)
{
	const struct queue_dsn_in	*in = c->in;
	const char			*to, *subject;
	char				 date[64], stamp[16];
	char				 addr[QUEUE_DSN_ADDR_MAX + 1];
	time_t				 t;
	struct tm			 tm;

	to = in->to == QUEUE_DSN_TO_POSTMASTER ? in->postmaster : in->sender;
	if (c->pm)
		subject = "Postmaster Copy: Undelivered Mail";
	else if (c->nkind[QUEUE_DSN_FAILED] > 0)
		subject = "Undelivered Mail Returned to Sender";
	else if (c->nkind[QUEUE_DSN_DELAYED] > 0)
		subject = "Delayed Mail (still being retried)";
	else if (c->nkind[QUEUE_DSN_DELIVERED] > 0 ||
	    c->nkind[QUEUE_DSN_EXPANDED] > 0)
		subject = "Successful Mail Delivery Report";
	else
		subject = "Relayed Mail Report";

	queue_dsn_printf(c, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    c->host);
	queue_dsn_clean_into(to, QUEUE_DSN_C_ADDR, addr, sizeof(addr));
	c->to_utf8 = queue_dsn_utf8_in(addr);
	buf_reset(c->tmp);
	/* A postmaster given as a bare local part gets our domain. */
	if (in->to == QUEUE_DSN_TO_POSTMASTER && strchr(addr, '@') == NULL)
		buf_printf(c->tmp, "<%s@%s>", addr, c->host);
	else
		buf_printf(c->tmp, "<%s>", addr);
	queue_dsn_field(c, "To", buf_data(c->tmp));
	queue_dsn_printf(c, "Subject: %s\r\n", subject);
	queue_dsn_date(in->now_ms, date, sizeof(date));
	queue_dsn_printf(c, "Date: %s\r\n", date);
	t = (time_t)((in->now_ms > 0 ? in->now_ms : 0) / 1000);
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "0");
	queue_dsn_printf(c, "Message-ID: <%s.%s.%08llX@%s>\r\n", stamp, c->qid,
	    (unsigned long long)(c->hash & 0xffffffffu), c->host);
	queue_dsn_puts(c, "Auto-Submitted: auto-replied\r\n");
	queue_dsn_puts(c, "MIME-Version: 1.0\r\n");
	queue_dsn_puts(c, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n");
	queue_dsn_printf(c, "\tboundary=\"%s\"\r\n", c->boundary);
	c->nboundary++;
	/* A multipart holding an 8bit part is 8bit itself (RFC 2045 6.4). */
	if (c->enc_8bit || c->text_utf8)
		queue_dsn_puts(c, "Content-Transfer-Encoding: 8bit\r\n");
	queue_dsn_puts(c, "\r\nThis is a MIME-encapsulated message.\r\n");
}

/* queue_dsn_text - the first part, in plain words */
static void
queue_dsn_text(struct queue_dsn_ctx *c)
{
	static const struct {
		enum queue_dsn_kind	 kind;
		const char		*sender;	/* to the sender */
		const char		*pm;		/* to the postmaster */
	} groups[] = {
		{ QUEUE_DSN_FAILED,
		  "Your message could not be delivered to the recipients "
		  "below. The mail system has given up on them and will not "
		  "try again.",
		  "A message could not be delivered to the recipients below. "
		  "It had no sender to return it to (it was itself a delivery "
		  "report or a notice), so it comes to you as postmaster. It "
		  "will not be returned again." },
		{ QUEUE_DSN_DELAYED,
		  "Your message has not yet been delivered to the recipients "
		  "below.",
		  "A message has not yet been delivered to the recipients "
		  "below." },
		{ QUEUE_DSN_DELIVERED,
		  "Your message was delivered to the recipients below.",
		  "A message was delivered to the recipients below." },
		{ QUEUE_DSN_EXPANDED,
		  "Your message reached the addresses below, which are "
		  "aliases or mailing lists, and was passed on to their "
		  "members. This system sends no further reports about "
		  "those members.",
		  "A message reached the addresses below, which are aliases "
		  "or mailing lists, and was passed on to their members." },
		{ QUEUE_DSN_RELAYED,
		  "Your message was passed on to the mail systems of the "
		  "recipients below. Those systems do not send delivery "
		  "reports, so this is the last report you will get about "
		  "these recipients.",
		  "A message was passed on to the mail systems of the "
		  "recipients below, which do not send delivery reports." },
	};
	const struct queue_dsn_in	*in = c->in;
	const char			*msg_upper, *msg_lower;
	char				 line[QUEUE_DSN_SCRATCH], date[64];
	char				 addr[QUEUE_DSN_ADDR_MAX + 1];
	char				 host[QUEUE_DSN_TOKEN_MAX + 1];
	size_t				 g, i;
	int64_t				 until;

	msg_upper = c->pm ? "The message" : "Your message";
	msg_lower = c->pm ? "the message" : "your message";
	queue_dsn_puts(c, "Content-Description: Notification\r\n");
	if (c->text_utf8)
		queue_dsn_puts(c, "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n\r\n");
	else
		queue_dsn_puts(c,
		    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	snprintf(line, sizeof(line), "This is the mail delivery system at %s.",
	    c->host);
	queue_dsn_wrap(c, 0, line);

	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		if (c->nkind[groups[g].kind] == 0)
			continue;
		queue_dsn_puts(c, "\r\n");
		queue_dsn_wrap(c, 0, c->pm ? groups[g].pm : groups[g].sender);
		if (groups[g].kind == QUEUE_DSN_DELAYED) {
			for (i = 0, until = 0; i < in->nrcpt; i++)
				if (in->rcpts[i].action == QUEUE_DSN_DELAYED &&
				    in->rcpts[i].retry_until_ms > until)
					until = in->rcpts[i].retry_until_ms;
			if (until > 0) {
				queue_dsn_date(until, date, sizeof(date));
				snprintf(line, sizeof(line), "The mail system "
				    "will keep trying until %s; it need not "
				    "be sent again. If it cannot be delivered "
				    "by then, a further notice will follow.",
				    date);
			} else
				snprintf(line, sizeof(line), "The mail system "
				    "will keep trying; it need not be sent "
				    "again. If it cannot be delivered in the "
				    "end, a further notice will follow.");
			queue_dsn_wrap(c, 0, line);
		}
		queue_dsn_puts(c, "\r\n");
		for (i = 0; i < in->nrcpt; i++) {
			const struct queue_dsn_rcpt	*r = &in->rcpts[i];
			const char			*diag;

			if (r->action != groups[g].kind)
				continue;
			queue_dsn_clean_into(r->addr, QUEUE_DSN_C_ADDR, addr,
			    sizeof(addr));
			snprintf(line, sizeof(line), "<%s>", addr);
			queue_dsn_wrap(c, 2, line);
			diag = r->diagnostic != NULL ? queue_dsn_clean(c,
			    r->diagnostic, QUEUE_DSN_DIAG_MAX,
			    QUEUE_DSN_C_TEXT) : "";
			host[0] = '\0';
			if (r->remote_mta != NULL)
				queue_dsn_clean_into(r->remote_mta,
				    QUEUE_DSN_C_TOKEN, host, sizeof(host));
			if (diag[0] != '\0' && r->diag_smtp && host[0] != '\0')
				snprintf(line, sizeof(line), "%s said: %s",
				    host, diag);
			else if (diag[0] != '\0' && r->diag_smtp)
				snprintf(line, sizeof(line), "The remote "
				    "server said: %s", diag);
			else if (diag[0] != '\0')
				snprintf(line, sizeof(line), "%s", diag);
			else if (r->action == QUEUE_DSN_FAILED ||
			    r->action == QUEUE_DSN_DELAYED)
				snprintf(line, sizeof(line), "No reason was "
				    "given (status %s).", queue_dsn_status(r));
			else
				line[0] = '\0';
			queue_dsn_wrap(c, 4, line);
		}
	}

	queue_dsn_puts(c, "\r\n");
	switch (c->enc_what) {
	case QUEUE_DSN_O_FULL:
		snprintf(line, sizeof(line), "%s is attached below the "
		    "delivery report.", msg_upper);
		break;
	case QUEUE_DSN_O_HDRS:
		switch (c->why) {
		case QUEUE_DSN_W_RET:
			snprintf(line, sizeof(line), "The headers of %s are "
			    "attached below the delivery report; only the "
			    "headers were asked for when it was sent.",
			    msg_lower);
			break;
		case QUEUE_DSN_W_SIZE:
			snprintf(line, sizeof(line), "%s was too large to "
			    "return whole (%llu bytes, over the %zu this "
			    "system returns), so only its headers are "
			    "attached below the delivery report.", msg_upper,
			    (unsigned long long)in->orig_size,
			    in->return_limit);
			break;
		case QUEUE_DSN_W_UNREADABLE:
			snprintf(line, sizeof(line), "Only the headers of %s "
			    "are attached below the delivery report: the rest "
			    "could not be read back.",
			    msg_lower);
			break;
		default:
			snprintf(line, sizeof(line), "The headers of %s are "
			    "attached below the delivery report.",
			    msg_lower);
			break;
		}
		break;
	default:
		snprintf(line, sizeof(line), "%s itself could not be read "
		    "back, so it is not attached.", msg_upper);
		break;
	}
	queue_dsn_wrap(c, 0, line);
	if (c->hdrs_cut && c->enc_what == QUEUE_DSN_O_HDRS)
		queue_dsn_wrap(c, 0, "Its headers were too long to be "
		    "returned whole; the first of them are.");
	queue_dsn_puts(c, "\r\n");
	snprintf(line, sizeof(line), "If you write to the postmaster of %s "
	    "about this message, please quote its queue ID: %s.", c->host,
	    c->qid);
	queue_dsn_wrap(c, 0, line);
}

/* queue_dsn_report - the message/delivery-status part (RFC 3464) */
static void
queue_dsn_report(struct queue_dsn_ctx *c)
{
	const struct queue_dsn_in	*in = c->in;
	char				 date[64], dec[QUEUE_DSN_SCRATCH];
	char				 tok[QUEUE_DSN_TOKEN_MAX + 1];
	const char			*v;
	size_t				 i;

	queue_dsn_puts(c, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");

	/* Per-message fields, in RFC 3464's order (2.2). */
	if (in->envid != NULL && in->envid[0] != '\0') {
		if (xtext_decode(in->envid, strlen(in->envid), 0, dec,
		    sizeof(dec)) == 0)
			v = queue_dsn_clean(c, dec, QUEUE_DSN_SCRATCH - 1,
			    QUEUE_DSN_C_ADDR);
		else
			v = queue_dsn_clean(c, in->envid, QUEUE_DSN_SCRATCH - 1,
			    QUEUE_DSN_C_TOKEN);
		queue_dsn_field(c, "Original-Envelope-Id", v);
	}
	queue_dsn_printf(c, "Reporting-MTA: dns; %s\r\n", c->host);
	if (in->arrival_ms > 0) {
		queue_dsn_date(in->arrival_ms, date, sizeof(date));
		queue_dsn_printf(c, "Arrival-Date: %s\r\n", date);
	}
	queue_dsn_printf(c, "X-Aval-Queue-ID: %s\r\n", c->qid);
	if (in->sender[0] != '\0')
		queue_dsn_field(c, "X-Aval-Sender",
		    queue_dsn_addr_value(c, in->sender));

	/* Per-recipient fields (2.3), a blank line before each group. */
	for (i = 0; i < in->nrcpt; i++) {
		const struct queue_dsn_rcpt	*r = &in->rcpts[i];

		queue_dsn_puts(c, "\r\n");
		if ((v = queue_dsn_orcpt_value(c, r)) != NULL)
			queue_dsn_field(c, "Original-Recipient", v);
		queue_dsn_field(c, "Final-Recipient",
		    queue_dsn_addr_value(c, r->addr));
		queue_dsn_printf(c, "Action: %s\r\n",
		    queue_dsn_action[r->action]);
		queue_dsn_printf(c, "Status: %s\r\n", queue_dsn_status(r));
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			queue_dsn_clean_into(r->remote_mta, QUEUE_DSN_C_TOKEN,
			    tok, sizeof(tok));
			buf_reset(c->tmp);
			buf_printf(c->tmp, "dns; %s", tok);
			queue_dsn_field(c, "Remote-MTA", buf_data(c->tmp));
		}
		if (r->diagnostic != NULL && (v = queue_dsn_clean(c,
		    r->diagnostic, QUEUE_DSN_DIAG_MAX,
		    QUEUE_DSN_C_TEXT))[0] != '\0') {
			char	 text[QUEUE_DSN_DIAG_MAX + 16];

			snprintf(text, sizeof(text), "%s; %s",
			    r->diag_smtp ? "smtp" : "X-Aval", v);
			queue_dsn_field(c, "Diagnostic-Code", text);
		}
		if (r->last_attempt_ms > 0) {
			queue_dsn_date(r->last_attempt_ms, date, sizeof(date));
			queue_dsn_printf(c, "Last-Attempt-Date: %s\r\n", date);
		}
		if (r->action == QUEUE_DSN_DELAYED && r->retry_until_ms > 0) {
			queue_dsn_date(r->retry_until_ms, date, sizeof(date));
			queue_dsn_printf(c, "Will-Retry-Until: %s\r\n", date);
		}
	}
}

/* queue_dsn_original - the third part: the original or its headers */
static void
queue_dsn_original(struct queue_dsn_ctx *c)
{
	const char	*what;

	if (c->enc_what == QUEUE_DSN_O_FULL)
		what = c->nkind[QUEUE_DSN_FAILED] ? "Undelivered Message" :
		    "Message";
	else
		what = c->nkind[QUEUE_DSN_FAILED] ?
		    "Undelivered Message Headers" : "Message Headers";
	queue_dsn_printf(c, "Content-Description: %s\r\n", what);
	queue_dsn_puts(c, c->enc_what == QUEUE_DSN_O_FULL ?
	    "Content-Type: message/rfc822\r\n" :
	    "Content-Type: text/rfc822-headers\r\n");
	/*
	 * 8-bit text is enclosed as it came, labelled 8bit. Whether the
	 * notice may then travel as it is (BODY=8BITMIME) or the original
	 * was SMTPUTF8 mail that wants message/global (RFC 6533) is for the
	 * caller to weigh, with QUEUE_DSN_O_8BIT.
	 */
	if (c->enc_8bit)
		queue_dsn_puts(c, "Content-Transfer-Encoding: 8bit\r\n");
	queue_dsn_puts(c, "\r\n");
	/* The delimiter's own CRLF ends a last line that has none. */
	queue_dsn_put(c, c->enc, c->enc_len);
}

/* queue_dsn_compose - the notice as one multipart/report, appended to out */
enum queue_dsn_result
queue_dsn_compose(const struct queue_dsn_in *in, struct buf *out,
    unsigned int *flags)
{
	struct queue_dsn_ctx	 c;
	enum queue_dsn_result	 res = QUEUE_DSN_E_INPUT;
	const char		*to;
	size_t			 i, room;
	unsigned int		 attempt;

	if (flags != NULL)
		*flags = 0;
	if (in == NULL || in->reporting_mta == NULL || in->qid == NULL ||
	    in->sender == NULL || in->rcpts == NULL || in->nrcpt == 0)
		return QUEUE_DSN_E_INPUT;
	switch (in->to) {
	case QUEUE_DSN_TO_SENDER:
		to = in->sender;
		break;
	case QUEUE_DSN_TO_POSTMASTER:
		to = in->postmaster;
		break;
	default:
		return QUEUE_DSN_E_INPUT;
	}
	/* Never a notice to the null sender: that is how bounces loop. */
	if (to == NULL || to[0] == '\0')
		return QUEUE_DSN_E_INPUT;

	memset(&c, 0, sizeof(c));
	c.in = in;
	c.pm = in->to == QUEUE_DSN_TO_POSTMASTER;
	for (i = 0; i < in->nrcpt; i++) {
		if (in->rcpts[i].addr == NULL ||
		    (unsigned int)in->rcpts[i].action > QUEUE_DSN_EXPANDED)
			return QUEUE_DSN_E_INPUT;
		c.nkind[in->rcpts[i].action]++;
		if (queue_dsn_utf8_in(in->rcpts[i].addr))
			c.text_utf8 = 1;
	}
	queue_dsn_clean_into(in->reporting_mta, QUEUE_DSN_C_HOST, c.host,
	    sizeof(c.host));
	queue_dsn_clean_into(in->qid, QUEUE_DSN_C_TOKEN, c.qid, sizeof(c.qid));
	if (c.host[0] == '\0')
		return QUEUE_DSN_E_INPUT;
	queue_dsn_enclosure(&c);

	room = buf_cap(out) - buf_len(out);
	c.tmp = buf_new(256, QUEUE_DSN_SCRATCH * 2);
	c.b = buf_new(room < 16384 ? room : 16384, room);
	for (attempt = 0; attempt < QUEUE_DSN_TRIES; attempt++) {
		buf_reset(c.b);
		c.err = 0;
		c.nboundary = 0;
		queue_dsn_make_boundary(&c, attempt);
		queue_dsn_headers(&c);
		queue_dsn_delimiter(&c, 0);
		queue_dsn_text(&c);
		queue_dsn_delimiter(&c, 0);
		queue_dsn_report(&c);
		if (c.enc_what != 0) {
			queue_dsn_delimiter(&c, 0);
			queue_dsn_original(&c);
		}
		queue_dsn_delimiter(&c, 1);
		if (c.err) {
			res = QUEUE_DSN_E_SPACE;
			break;
		}
		/*
		 * The boundary must be found where it was put and nowhere
		 * else: not in the original, not in a value from outside.
		 */
		if (queue_dsn_count(buf_data(c.b), buf_len(c.b), c.boundary) ==
		    c.nboundary) {
			if (buf_add(out, buf_data(c.b), buf_len(c.b)) == -1) {
				res = QUEUE_DSN_E_SPACE;
				break;
			}
			if (flags != NULL)
				*flags = c.enc_what |
				    (c.enc_8bit || c.text_utf8 ?
				    QUEUE_DSN_O_8BIT : 0) |
				    (c.to_utf8 ? QUEUE_DSN_O_UTF8 : 0);
			res = QUEUE_DSN_OK;
			break;
		}
	}
	buf_free(c.b);
	buf_free(c.tmp);
	return res;
}
