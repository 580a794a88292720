/*
 * sendmail_msg - what sendmail(1) does to a message (see sendmail_msg.h)
 */
#include <sys/types.h>

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "tools/sendmail_msg.h"

/* smsg_reader_init - read fd from its start */
void
smsg_reader_init(struct smsg_reader *r, int fd)
{
	r->fd = fd;
	r->start = r->end = 0;
	r->eof = 0;
	r->bol = 1;
}

/* smsg_read_line - the next line, or piece of a long one */
int
smsg_read_line(struct smsg_reader *r, const char **p, size_t *len, int *bol,
    int *eol)
{
	char	*nl;
	size_t	 n;
	ssize_t	 got;

	for (;;) {
		nl = r->start < r->end ? memchr(r->buf + r->start, '\n',
		    r->end - r->start) : NULL;
		if (nl != NULL) {
			n = (size_t)(nl - (r->buf + r->start));
			*p = r->buf + r->start;
			*len = n > 0 && nl[-1] == '\r' ? n - 1 : n;
			*bol = r->bol;
			*eol = 1;
			r->start += n + 1;
			r->bol = 1;
			return 1;
		}
		if (r->eof) {
			if (r->start == r->end)
				return 0;
			/* The last line had no newline: it ends here. */
			n = r->end - r->start;
			*p = r->buf + r->start;
			*len = r->buf[r->end - 1] == '\r' ? n - 1 : n;
			*bol = r->bol;
			*eol = 1;
			r->start = r->end;
			r->bol = 1;
			return 1;
		}
		if (r->start == 0 && r->end == sizeof(r->buf)) {
			/*
			 * A line longer than the buffer goes on in pieces;
			 * a CR at the end stays for the LF that may follow.
			 */
			n = r->end;
			if (r->buf[n - 1] == '\r')
				n--;
			*p = r->buf;
			*len = n;
			*bol = r->bol;
			*eol = 0;
			r->start = n;
			r->bol = 0;
			return 1;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		got = read(r->fd, r->buf + r->end, sizeof(r->buf) - r->end);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
	}
}

/* smsg_put - one piece as DATA text, dot-stuffed */
int
smsg_put(struct buf *out, const char *p, size_t len, int bol, int eol)
{
	if (bol && len > 0 && p[0] == '.' && buf_add(out, ".", 1) == -1)
		return -1;
	if (len > 0 && buf_add(out, p, len) == -1)
		return -1;
	if (eol && buf_add(out, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* smsg_field_name - the length of a field name followed by ':', or 0 */
static size_t
smsg_field_name(const char *line, size_t len, size_t *colon)
{
	size_t	 i, n;

	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)line[i];

		if (c == ':' || c == ' ' || c == '\t' || c < 33 || c > 126)
			break;
	}
	if ((n = i) == 0)
		return 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;			/* RFC 5322 4.5.3: obsolete, but seen */
	if (i == len || line[i] != ':')
		return 0;
	*colon = i;
	return n;
}

/* smsg_hdr_add - one more header line */
int
smsg_hdr_add(struct buf *hdr, const char *line, size_t len)
{
	size_t	 colon;

	if (len == 0)
		return 1;
	if (line[0] == ' ' || line[0] == '\t') {
		if (buf_len(hdr) == 0)
			return 1;
	} else if (smsg_field_name(line, len, &colon) == 0)
		return 1;
	if (len > SMSG_HEADER_MAX || buf_len(hdr) + len + 2 > SMSG_HEADER_MAX)
		return -1;
	if (buf_add(hdr, line, len) == -1 || buf_add(hdr, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* --- address-list (RFC 5322 3.4) ------------------------------------- */

struct smsg_member {
	char	 cur[SMSG_ADDR_MAX + 1];	/* outside <>: addr-spec or phrase */
	size_t	 ncur;
	char	 ang[SMSG_ADDR_MAX + 1];	/* inside <> */
	size_t	 nang;
	int	 in_angle, had_angle;
	int	 space, multiword;		/* CFWS between two words */
};

static int
smsg_member_add(struct smsg_member *m, char c)
{
	if (m->in_angle) {
		if (m->nang >= SMSG_ADDR_MAX)
			return -1;
		m->ang[m->nang++] = c;
		return 0;
	}
	if (m->had_angle)
		return -1;		/* text after the '>' */
	if (m->ncur >= SMSG_ADDR_MAX)
		return -1;
	if (m->space && m->ncur > 0 && strchr(".@", m->cur[m->ncur - 1]) ==
	    NULL && strchr(".@", c) == NULL)
		m->multiword = 1;
	m->space = 0;
	m->cur[m->ncur++] = c;
	return 0;
}

/* smsg_member_end - hand the member's address on; 0, 1 if one, -1 */
static int
smsg_member_end(struct smsg_member *m, smsg_addr_cb cb, void *arg)
{
	char	*a;
	size_t	 n, i;
	int	 rv = 0, q;

	if (m->in_angle)
		return -1;
	if (m->had_angle) {
		a = m->ang;
		n = m->nang;
		/* A source route "@a,@b:" is dropped (RFC 5322 4.4). */
		if (n > 0 && a[0] == '@') {
			char	*c = memchr(a, ':', n);

			/* A route is domains: no quotes in it. */
			if (c == NULL || memchr(a, '"', (size_t)(c - a)) != NULL)
				return -1;
			n -= (size_t)(c + 1 - a);
			a = c + 1;
		}
	} else {
		if (m->multiword)
			return -1;	/* a phrase without an address */
		a = m->cur;
		n = m->ncur;
	}
	/* Only a route may hold a comma or colon outside quotes. */
	for (i = 0, q = 0; i < n; i++) {
		if (a[i] == '\\' && q)
			i++;
		else if (a[i] == '"')
			q = !q;
		else if (!q && (a[i] == ',' || a[i] == ':'))
			return -1;
	}
	if (n > 0) {
		a[n] = '\0';
		if (cb != NULL && cb(a, arg) == -1)
			return -1;
		rv = 1;
	}
	memset(m, 0, sizeof(*m));
	return rv;
}

/* smsg_addr_list - every address of an address-list */
int
smsg_addr_list(const char *s, size_t len, smsg_addr_cb cb, void *arg)
{
	struct smsg_member	 m;
	size_t			 i;
	int			 depth, group = 0, count = 0, r;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)s[i];

		switch (c) {
		case ' ': case '\t': case '\r': case '\n':
			m.space = 1;
			continue;
		case '(':
			for (depth = 1, i++; i < len && depth > 0; i++) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')')
					depth--;
			}
			if (depth > 0)
				return -1;
			i--;
			m.space = 1;
			continue;
		case '"':
			if (smsg_member_add(&m, '"') == -1)
				return -1;
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\') {
					if (smsg_member_add(&m, s[i++]) == -1 ||
					    i == len || (unsigned char)s[i] <
					    0x20 || s[i] == 0x7f)
						return -1;
					if (smsg_member_add(&m, s[i]) == -1)
						return -1;
					continue;
				}
				if (s[i] == '\r' || s[i] == '\n')
					continue;	/* folded inside */
				if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
					return -1;	/* no controls in an address */
				if (smsg_member_add(&m, s[i]) == -1)
					return -1;
			}
			if (i == len || smsg_member_add(&m, '"') == -1)
				return -1;
			continue;
		case '<':
			if (m.in_angle || m.had_angle)
				return -1;
			m.in_angle = 1;		/* what came before was a name */
			continue;
		case '>':
			if (!m.in_angle)
				return -1;
			m.in_angle = 0;
			m.had_angle = 1;
			continue;
		case ',':
			if (m.in_angle)
				break;		/* a source route's comma */
			if ((r = smsg_member_end(&m, cb, arg)) == -1)
				return -1;
			count += r;
			continue;
		case ':':
			if (m.in_angle)
				break;
			/* A group: what came before is its name. */
			if (group || m.had_angle)
				return -1;
			group = 1;
			memset(&m, 0, sizeof(m));
			continue;
		case ';':
			if (m.in_angle || !group)
				return -1;
			if ((r = smsg_member_end(&m, cb, arg)) == -1)
				return -1;
			count += r;
			group = 0;
			continue;
		case '\\':
			return -1;		/* quoted-pair outside quotes */
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (smsg_member_add(&m, (char)c) == -1)
			return -1;
	}
	if (group)
		return -1;
	if ((r = smsg_member_end(&m, cb, arg)) == -1)
		return -1;
	return count + r;
}

/* smsg_hdr_put - a field's lines as DATA text: a leading '.' doubled */
static int
smsg_hdr_put(struct buf *out, const char *f, size_t len)
{
	const char	*end = f + len, *nl;

	while (f < end) {
		nl = memchr(f, '\n', (size_t)(end - f));
		nl = nl != NULL ? nl + 1 : end;
		if (*f == '.' && buf_add(out, ".", 1) == -1)
			return -1;
		if (buf_add(out, f, (size_t)(nl - f)) == -1)
			return -1;
		f = nl;
	}
	return 0;
}

/* smsg_field_is - does the field name f (n octets) equal name? */
static int
smsg_field_is(const char *f, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(f, name, n) == 0;
}

/* smsg_field_next - the end of the field at p: its line and continuations */
static const char *
smsg_field_next(const char *p, const char *end)
{
	const char	*nl;

	do {
		nl = memchr(p, '\n', (size_t)(end - p));
		p = nl != NULL ? nl + 1 : end;
	} while (p < end && (*p == ' ' || *p == '\t'));
	return p;
}

/*
 * smsg_hdr_scan - the recipients of To, Cc, Bcc (Resent-To, -Cc, -Bcc
 * when any Resent- field is there); the header without Bcc or Resent-Bcc
 */
int
smsg_hdr_scan(const char *hdr, size_t len, smsg_addr_cb cb, void *arg,
    struct buf *out, int *flags)
{
	const char	*p, *end = hdr + len, *f;
	size_t		 n, colon;
	int		 bcc, addrs;

	/*
	 * A message with Resent- fields is being sent on again: its
	 * recipients are the Resent- ones, as sendmail and Postfix take
	 * them, and the original To and Cc are history. So look first.
	 */
	*flags = 0;
	for (p = hdr; p < end; p = smsg_field_next(p, end))
		if ((size_t)(end - p) > 7 && strncasecmp(p, "resent-", 7) == 0)
			*flags |= SMSG_HAS_RESENT;
	p = hdr;
	while (p < end) {
		f = p;
		p = smsg_field_next(p, end);
		if ((n = smsg_field_name(f, (size_t)(p - f), &colon)) == 0)
			return -1;	/* smsg_hdr_add let no such line in */
		bcc = smsg_field_is(f, n, "bcc") ||
		    smsg_field_is(f, n, "resent-bcc");
		if (*flags & SMSG_HAS_RESENT)
			addrs = smsg_field_is(f, n, "resent-to") ||
			    smsg_field_is(f, n, "resent-cc") ||
			    smsg_field_is(f, n, "resent-bcc");
		else
			addrs = smsg_field_is(f, n, "to") ||
			    smsg_field_is(f, n, "cc") ||
			    smsg_field_is(f, n, "bcc");
		if (smsg_field_is(f, n, "from"))
			*flags |= SMSG_HAS_FROM;
		if (smsg_field_is(f, n, "sender"))
			*flags |= SMSG_HAS_SENDER;
		if (addrs && cb != NULL && smsg_addr_list(f + colon + 1,
		    (size_t)(p - f) - colon - 1, cb, arg) == -1)
			return -1;
		if (!bcc && out != NULL && smsg_hdr_put(out, f,
		    (size_t)(p - f)) == -1)
			return -1;
	}
	return 0;
}

/* smsg_from_line - a From field for a message that has none */
int
smsg_from_line(struct buf *out, const char *name, const char *addr)
{
	const unsigned char	*p;
	unsigned char		 enc[4 * 48 / 3 + 4];
	size_t			 n, len, i, take;
	int			 ascii = 1, plain = 1;

	if (name == NULL || *name == '\0')
		return buf_printf(out, "From: <%s>\r\n", addr);
	len = strlen(name);
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return -1;
		if (*p >= 0x80)
			ascii = 0;
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' &&
		    *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == ' ' ||
		    strchr("!#$%&'*+-/=?^_`{|}~", *p) != NULL))
			plain = 0;	/* a special: quote the phrase */
	}
	if (buf_addstr(out, "From: ") == -1)
		return -1;
	if (!ascii) {
		/*
		 * RFC 2047 encoded-words of at most 45 octets each (75
		 * characters), cut between UTF-8 characters, one per line.
		 */
		for (i = 0; i < len; i += take) {
			take = len - i < 45 ? len - i : 45;
			while (take < len - i && take > 0 &&
			    ((unsigned char)name[i + take] & 0xc0) == 0x80)
				take--;
			if (take == 0)
				take = len - i < 45 ? len - i : 45;
			n = (size_t)EVP_EncodeBlock(enc,
			    (const unsigned char *)name + i, (int)take);
			if (buf_printf(out, "%s=?UTF-8?B?%.*s?=", i ? "\r\n " :
			    "", (int)n, enc) == -1)
				return -1;
		}
	} else if (plain) {
		if (buf_addstr(out, name) == -1)
			return -1;
	} else {
		if (buf_add(out, "\"", 1) == -1)
			return -1;
		for (p = (const unsigned char *)name; *p != '\0'; p++)
			if (((*p == '"' || *p == '\\') &&
			    buf_add(out, "\\", 1) == -1) ||
			    buf_add(out, p, 1) == -1)
				return -1;
		if (buf_add(out, "\"", 1) == -1)
			return -1;
	}
	return buf_printf(out, " <%s>\r\n", addr);
}
