/*
 * deliver_reply - parse SMTP replies from an untrusted server
 *
 * Everything here reads bytes a remote server chose: lengths are checked
 * before any copy, the lines are kept in a capped buf, and nothing is
 * logged from here.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "deliver/deliver_reply.h"

/* deliver_reply_init - an empty reply, ready for its first line */
void
deliver_reply_init(struct deliver_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->lines = buf_new(256, DELIVER_REPLY_MAX);
}

/* deliver_reply_reset - forget the last reply, keep the allocation */
void
deliver_reply_reset(struct deliver_reply *r)
{
	r->code = 0;
	r->dsn[0] = '\0';
	r->nlines = 0;
	r->why = NULL;
	r->done = 0;
	buf_reset(r->lines);
}

/* deliver_reply_clear - free what the reply holds */
void
deliver_reply_clear(struct deliver_reply *r)
{
	buf_free(r->lines);
	memset(r, 0, sizeof(*r));
}

static enum deliver_reply_rc
deliver_reply_fail(struct deliver_reply *r, const char *why)
{
	r->why = why;
	return DELIVER_R_ERROR;
}

/*
 * deliver_reply_digits - 1 to 3 digits at p (at most n octets); returns
 * how many, 0 if none or more than three.
 */
static size_t
deliver_reply_digits(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && i < 4 && isdigit((unsigned char)p[i]); i++)
		;
	return i >= 1 && i <= 3 ? i : 0;
}

/*
 * deliver_reply_dsn - the enhanced status code "class.subject.detail" at
 * the start of text (RFC 3463: class 2, 4 or 5, then one to three digits
 * twice), followed by a space or the end. Copied to dsn and 1, or 0.
 */
static int
deliver_reply_dsn(const char *text, size_t n, char cls, char *dsn)
{
	size_t	 i = 0, d;

	if (n < 5 || text[0] != cls || text[1] != '.')
		return 0;
	i = 2;
	if ((d = deliver_reply_digits(text + i, n - i)) == 0)
		return 0;
	i += d;
	if (i >= n || text[i] != '.')
		return 0;
	i++;
	if ((d = deliver_reply_digits(text + i, n - i)) == 0)
		return 0;
	i += d;
	if (i < n && text[i] != ' ')
		return 0;
	/* At most 1 + 1 + 3 + 1 + 3 octets: always fits DELIVER_DSN_SIZE. */
	memcpy(dsn, text, i);
	dsn[i] = '\0';
	return 1;
}

/* deliver_reply_feed - take one line, CRLF removed */
enum deliver_reply_rc
deliver_reply_feed(struct deliver_reply *r, const char *line, size_t len)
{
	char	 clean[DELIVER_REPLY_LINE_MAX];
	size_t	 i;
	int	 code, last;

	if (r->done)
		deliver_reply_reset(r);
	if (len > DELIVER_REPLY_LINE_MAX)
		return deliver_reply_fail(r, "reply line too long");
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return deliver_reply_fail(r, "malformed reply");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3 || line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return deliver_reply_fail(r, "malformed reply");
	if (r->nlines > 0 && code != r->code)
		return deliver_reply_fail(r, "inconsistent reply codes");

	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)line[i];

		clean[i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	if (r->nlines > 0 && buf_add(r->lines, "\n", 1) == -1)
		return deliver_reply_fail(r, "reply too long");
	if (buf_add(r->lines, clean, len) == -1)
		return deliver_reply_fail(r, "reply too long");
	if (r->nlines++ == 0) {
		r->code = code;
		if (len < 4 || !deliver_reply_dsn(clean + 4, len - 4, clean[0],
		    r->dsn)) {
			r->dsn[0] = clean[0];
			memcpy(r->dsn + 1, ".0.0", 5);
		}
	}
	if (!last)
		return DELIVER_R_MORE;
	r->done = 1;
	return DELIVER_R_DONE;
}

/* deliver_reply_text - the reply on one line, for a result text */
void
deliver_reply_text(const struct deliver_reply *r, char *out, size_t outlen)
{
	const char	*p = buf_data(r->lines);
	size_t		 n = buf_len(r->lines), i;

	if (outlen == 0)
		return;
	if (n >= outlen) {
		/* Cut short: keep what fits and mark the cut. */
		n = outlen - 1;
		for (i = 0; i < n; i++)
			out[i] = p[i] == '\n' ? ' ' : p[i];
		out[n] = '\0';
		if (outlen > 4)
			memcpy(out + n - 3, "...", 3);
		return;
	}
	for (i = 0; i < n; i++)
		out[i] = p[i] == '\n' ? ' ' : p[i];
	out[n] = '\0';
}

/*
 * deliver_reply_keyword - 1 if the line's text (after "250-") starts with
 * keyword, case-insensitively, followed by a space or the end; *arg then
 * points after that space ("" at the end).
 */
static int
deliver_reply_keyword(const char *text, size_t n, const char *keyword,
    const char **arg)
{
	size_t	 k = strlen(keyword);

	if (n < k || strncasecmp(text, keyword, k) != 0)
		return 0;
	if (n == k) {
		*arg = text + n;
		return 1;
	}
	if (text[k] != ' ')
		return 0;
	*arg = text + k + 1;
	return 1;
}

/* deliver_reply_ehlo - the service extensions of an EHLO reply */
void
deliver_reply_ehlo(const struct deliver_reply *r, struct deliver_ehlo *e)
{
	const char		*p = buf_data(r->lines), *end, *nl, *arg;
	char			 num[24];
	size_t			 n, i;
	unsigned long long	 v;
	char			*ep;
	int			 first = 1;

	memset(e, 0, sizeof(*e));
	end = p + buf_len(r->lines);
	for (; p < end; p = nl + 1, first = 0) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* The first line names the server, not an extension. */
		if (first || nl - p <= 4)
			continue;
		n = (size_t)(nl - p) - 4;
		if (deliver_reply_keyword(p + 4, n, "PIPELINING", &arg))
			e->flags |= DELIVER_EHLO_PIPELINING;
		else if (deliver_reply_keyword(p + 4, n, "8BITMIME", &arg))
			e->flags |= DELIVER_EHLO_8BITMIME;
		else if (deliver_reply_keyword(p + 4, n, "STARTTLS", &arg))
			e->flags |= DELIVER_EHLO_STARTTLS;
		else if (deliver_reply_keyword(p + 4, n, "SMTPUTF8", &arg))
			e->flags |= DELIVER_EHLO_SMTPUTF8;
		else if (deliver_reply_keyword(p + 4, n, "DSN", &arg))
			e->flags |= DELIVER_EHLO_DSN;
		else if (deliver_reply_keyword(p + 4, n, "SIZE", &arg)) {
			e->flags |= DELIVER_EHLO_SIZE;
			e->size = 0;
			/* Only a plain number counts; else: no limit. */
			for (i = 0; arg + i < nl && i < sizeof(num) - 1 &&
			    isdigit((unsigned char)arg[i]); i++)
				num[i] = arg[i];
			num[i] = '\0';
			if (i == 0 || arg + i != nl)
				continue;
			errno = 0;
			v = strtoull(num, &ep, 10);
			if (errno == 0 && *ep == '\0')
				e->size = v;
		}
	}
}
