/*
 * addr - RFC 5321 mailbox and path parsing
 *
 * The grammar is RFC 5321 section 4.1.2, read strictly where it matters
 * for safety and liberally nowhere: every octet of a path is checked
 * against the production it belongs to, and anything outside printable
 * US-ASCII is refused unless the caller passes ADDR_F_UTF8 (the client
 * said SMTPUTF8, RFC 6531), which adds well-formed UTF-8 to atext, qtext
 * and domain labels as RFC 6531 section 3.3 does.
 *
 * Where the RFC leaves room, this module decides:
 *
 *  - The 256-octet path limit counts the path as written, from '<' to '>'
 *    inclusive, source route included. The 64-octet local-part limit counts
 *    a quoted local part as written, quotes and backslashes included; the
 *    255-octet domain limit counts an address literal with its brackets.
 *  - A source route's domains must be plain domains (At-domain = "@" Domain,
 *    no address literals); the route is checked and then dropped.
 *  - The empty quoted local part ("") is grammatical and is accepted.
 *  - A domain may be a single label ("localhost") and may be all digits;
 *    a trailing dot ("b.") is refused.
 *  - Address literals: IPv4 as inet_pton(AF_INET) reads it (so no leading
 *    zeros: "010" might be octal to someone), and "IPv6:" (tag matched
 *    without regard to case) as inet_pton(AF_INET6) reads it. The general
 *    form "[tag:content]" is refused: no tag is registered that we use.
 *  - Canonical form: the local part exactly as given (quotes kept, case
 *    kept), '@', the domain in lowercase. For an IPv6 literal the tag is
 *    written "IPv6:" as the RFC spells it and the address is lowercased.
 *    "<postmaster>" becomes "postmaster"; "<>" becomes "".
 *  - UTF-8 is strict (RFC 3629): no overlong forms, no surrogates, nothing
 *    above U+10FFFF, and no C1 controls, which are characters to Unicode
 *    but as dangerous in a log line as their C0 cousins. It may stand in
 *    a local part, quoted or not, and in the labels of a domain, not in a
 *    quoted pair, an address literal or a source route.
 *  - A label with non-ASCII in it is a U-label: it is not lowercased (that
 *    needs Unicode tables) and not checked against IDNA2008, only for the
 *    necessary condition that its A-label can fit in 63 octets ("xn--"
 *    and at least one octet per character, so at most 59 characters).
 *    Whoever looks it up in the DNS converts it and may still fail.
 *  - Routing in the local part ('%', '!', a quoted '@') is grammatical
 *    and accepted; ADDR_I_ROUTING tells the caller, who decides.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"

#define ADDR_LABEL_MAX		63
#define ADDR_V6_TAG		"IPv6:"
#define ADDR_V6_TAGLEN		5

static int	 addr_is_alnum(int);
static int	 addr_is_atext(int);
static int	 addr_is_qtext(int);
static int	 addr_is_dcontent(int);
static int	 addr_lower(int);
static size_t	 addr_scan_utf8(const char *, int, const char **);
static int	 addr_scan_domain(const char *, int, const char **,
		    const char **);
static int	 addr_scan_literal(const char *, const char **, const char **);
static int	 addr_scan_any_domain(const char *, int, const char **,
		    const char **);
static int	 addr_scan_local(const char *, int, const char **,
		    const char **);
static int	 addr_scan_route(const char *, const char **, const char **);
static int	 addr_put(char *, size_t, size_t *, const char *, size_t,
		    int);

/* The character classes are written out: <ctype.h> depends on the locale. */
static int
addr_is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* addr_is_atext - RFC 5322 atext, which RFC 5321 borrows for Atom */
static int
addr_is_atext(int c)
{
	return addr_is_alnum(c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* addr_is_qtext - qtextSMTP: printable ASCII and space, without '"' and '\' */
static int
addr_is_qtext(int c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/* addr_is_dcontent - what may stand between the brackets of a literal */
static int
addr_is_dcontent(int c)
{
	return c >= 33 && c <= 126 && c != '[' && c != '\\' && c != ']';
}

static int
addr_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * addr_scan_utf8 - the length of the UTF-8 character at p if flags allow
 * one and it is well-formed; 0 with *why if p starts a non-ASCII octet
 * that may not stand here, and 0 without touching *why for ASCII.
 */
static size_t
addr_scan_utf8(const char *p, int flags, const char **why)
{
	size_t	 n;

	if ((unsigned char)*p < 0x80)
		return 0;
	if ((flags & ADDR_F_UTF8) == 0) {
		*why = "non-ASCII character without SMTPUTF8";
		return 0;
	}
	if ((n = addr_utf8_len(p, 4)) == 0)
		*why = "malformed UTF-8";
	return n;
}

/*
 * addr_scan_domain - read Domain (labels of letters, digits and inner
 * hyphens, 1..63 octets each, 255 in all) starting at p; *end is set to
 * the first octet after it. With ADDR_F_UTF8 a label may also hold UTF-8
 * (a U-label, at most 59 characters). Returns 0 or -1 with *why.
 */
static int
addr_scan_domain(const char *p, int flags, const char **end,
    const char **why)
{
	const char	*start = p;

	for (;;) {
		const char	*label = p;
		size_t		 n, nchar = 0;
		int		 utf8 = 0;

		*why = NULL;
		if (!addr_is_alnum((unsigned char)*p) &&
		    addr_scan_utf8(p, flags, why) == 0) {
			if (*why != NULL)
				return -1;	/* non-ASCII: said why */
			if (*p == '-')
				*why = "domain label starts with '-'";
			else if (p == start && *p != '.')
				*why = "missing domain";
			else
				*why = "empty domain label";
			return -1;
		}
		for (;;) {
			if (addr_is_alnum((unsigned char)*p) || *p == '-')
				p++;
			else if ((n = addr_scan_utf8(p, flags, why)) > 0) {
				p += n;
				utf8 = 1;
			} else if (*why != NULL)
				return -1;
			else
				break;
			nchar++;
		}
		if (p[-1] == '-') {
			*why = "domain label ends with '-'";
			return -1;
		}
		if (p - label > ADDR_LABEL_MAX && !utf8) {
			*why = "domain label longer than 63";
			return -1;
		}
		if (utf8 && nchar + 4 > ADDR_LABEL_MAX) {
			*why = "domain label longer than 63 as an A-label";
			return -1;
		}
		if (p - start > ADDR_DOMAIN_MAX) {
			*why = "domain longer than 255";
			return -1;
		}
		if (*p != '.')
			break;
		p++;
	}
	*end = p;
	return 0;
}

/*
 * addr_scan_literal - read an address literal "[...]" starting at p (which
 * points at '['); *end is set past the ']'.
 */
static int
addr_scan_literal(const char *p, const char **end, const char **why)
{
	const char	*q, *a;
	char		 tmp[INET6_ADDRSTRLEN];
	unsigned char	 bin[sizeof(struct in6_addr)];
	size_t		 n;
	int		 af;

	q = p + 1;
	while (addr_is_dcontent((unsigned char)*q))
		q++;
	if (*q != ']') {
		*why = "bad address literal";
		return -1;
	}
	if ((size_t)(q + 1 - p) > ADDR_DOMAIN_MAX) {
		*why = "domain longer than 255";
		return -1;
	}
	a = p + 1;
	if (strncasecmp(a, ADDR_V6_TAG, ADDR_V6_TAGLEN) == 0) {
		af = AF_INET6;
		a += ADDR_V6_TAGLEN;
	} else if (memchr(a, ':', (size_t)(q - a)) != NULL) {
		*why = "unsupported address literal";
		return -1;
	} else
		af = AF_INET;
	/* Anything longer than the longest text form cannot be valid. */
	n = (size_t)(q - a);
	if (n == 0 || n >= sizeof(tmp)) {
		*why = "bad address literal";
		return -1;
	}
	memcpy(tmp, a, n);
	tmp[n] = '\0';
	if (inet_pton(af, tmp, bin) != 1) {
		*why = af == AF_INET6 ? "bad IPv6 address literal" :
		    "bad IPv4 address literal";
		return -1;
	}
	*end = q + 1;
	return 0;
}

/* addr_scan_any_domain - Domain or address-literal */
static int
addr_scan_any_domain(const char *p, int flags, const char **end,
    const char **why)
{
	if (*p == '[')
		return addr_scan_literal(p, end, why);
	return addr_scan_domain(p, flags, end, why);
}

/*
 * addr_scan_local - read Local-part (Dot-string or Quoted-string) starting
 * at p; *end is set to the first octet after it.
 */
static int
addr_scan_local(const char *p, int flags, const char **end,
    const char **why)
{
	const char	*start = p;
	size_t		 n;

	*why = NULL;
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\') {
				p++;
				if ((unsigned char)*p < 32 ||
				    (unsigned char)*p > 126) {
					*why = "bad quoted pair in local part";
					return -1;
				}
			} else if ((n = addr_scan_utf8(p, flags, why)) > 0)
				p += n - 1;
			else if (*why != NULL)
				return -1;
			else if (!addr_is_qtext((unsigned char)*p)) {
				*why = *p == '\0' ?
				    "unterminated quoted local part" :
				    "bad character in quoted local part";
				return -1;
			}
		}
		p++;
	} else {
		for (;;) {
			/* Here p starts an atom: at the start or after '.'. */
			if (!addr_is_atext((unsigned char)*p) &&
			    addr_scan_utf8(p, flags, why) == 0) {
				if (*why != NULL)
					return -1;	/* non-ASCII */
				if (*p == '.')
					*why = p == start ?
					    "local part starts with '.'" :
					    "'..' in local part";
				else if (*p == '@' || *p == '>')
					*why = p == start ?
					    "missing local part" :
					    "local part ends with '.'";
				else
					*why = "bad character in local part";
				return -1;
			}
			for (;;) {
				if (addr_is_atext((unsigned char)*p))
					p++;
				else if ((n = addr_scan_utf8(p, flags,
				    why)) > 0)
					p += n;
				else if (*why != NULL)
					return -1;
				else
					break;
			}
			if (*p != '.')
				break;
			p++;
		}
	}
	if (p - start > ADDR_LOCAL_MAX) {
		*why = "local part longer than 64";
		return -1;
	}
	*end = p;
	return 0;
}

/*
 * addr_scan_route - read A-d-l ":" (the source route "@a,@b:") starting at
 * p, which points at '@'; *end is set past the ':'.
 */
static int
addr_scan_route(const char *p, const char **end, const char **why)
{
	for (;;) {
		if (*p != '@') {
			*why = "bad source route";
			return -1;
		}
		/* Route domains stay ASCII: they are dropped unread. */
		if (addr_scan_domain(p + 1, 0, &p, why) == -1)
			return -1;
		if (*p == ':')
			break;
		if (*p != ',') {
			*why = "bad source route";
			return -1;
		}
		p++;
	}
	*end = p + 1;
	return 0;
}

/* addr_put - append n octets of s at *off, lowercased if asked */
static int
addr_put(char *out, size_t outlen, size_t *off, const char *s, size_t n,
    int lower)
{
	size_t	 i;

	if (n >= outlen - *off)
		return -1;
	for (i = 0; i < n; i++)
		out[*off + i] = lower ? (char)addr_lower((unsigned char)s[i]) :
		    s[i];
	*off += n;
	out[*off] = '\0';
	return 0;
}

/* addr_parse_path - read a reverse- or forward-path into canonical form */
int
addr_parse_path(const char *in, int flags, char *out, size_t outlen,
    const char **rest, unsigned int *info, const char **why)
{
	const char	*p, *lp, *le, *dp, *de, *dummy;
	unsigned int	 dummyinfo, route = 0;
	size_t		 off = 0, i;

	if (why == NULL)
		why = &dummy;
	if (info == NULL)
		info = &dummyinfo;
	*why = NULL;
	*info = 0;
	if (outlen == 0) {
		*why = "no room for the address";
		return -1;
	}
	out[0] = '\0';

	if (*in != '<') {
		*why = "missing '<'";
		return -1;
	}
	p = in + 1;

	if (*p == '>') {
		if ((flags & ADDR_F_NULL_OK) == 0) {
			*why = "null path not allowed";
			return -1;
		}
		if (rest != NULL)
			*rest = p + 1;
		return 0;
	}

	/* RFC 5321 only knows "<Postmaster>", without route or domain. */
	if (strncasecmp(p, "postmaster>", 11) == 0) {
		if ((flags & ADDR_F_POSTMASTER_OK) == 0) {
			*why = "missing domain";
			return -1;
		}
		if (addr_put(out, outlen, &off, "postmaster", 10, 0) == -1) {
			*why = "no room for the address";
			return -1;
		}
		if (rest != NULL)
			*rest = p + 11;
		return 0;
	}

	if (*p == '@') {
		if (addr_scan_route(p, &p, why) == -1)
			goto fail;
		route = ADDR_I_ROUTE;
	}
	lp = p;
	if (addr_scan_local(lp, flags, &le, why) == -1)
		goto fail;
	if (*le != '@') {
		*why = *le == '>' ? "missing domain" :
		    "bad character in local part";
		goto fail;
	}
	dp = le + 1;
	if (addr_scan_any_domain(dp, flags, &de, why) == -1)
		goto fail;
	if (*de != '>') {
		*why = "bad character in domain";
		goto fail;
	}
	if ((size_t)(de + 1 - in) > ADDR_PATH_MAX) {
		*why = "path longer than 256";
		goto fail;
	}

	if (addr_put(out, outlen, &off, lp, (size_t)(le - lp), 0) == -1 ||
	    addr_put(out, outlen, &off, "@", 1, 0) == -1)
		goto toolong;
	if (*dp == '[' && strncasecmp(dp + 1, ADDR_V6_TAG,
	    ADDR_V6_TAGLEN) == 0) {
		if (addr_put(out, outlen, &off, "[" ADDR_V6_TAG,
		    1 + ADDR_V6_TAGLEN, 0) == -1)
			goto toolong;
		dp += 1 + ADDR_V6_TAGLEN;
	}
	if (addr_put(out, outlen, &off, dp, (size_t)(de - dp), 1) == -1)
		goto toolong;
	*info = route;
	if (addr_has_routing(out))
		*info |= ADDR_I_ROUTING;
	for (i = 0; i < off; i++)
		if ((unsigned char)out[i] >= 0x80) {
			*info |= ADDR_I_UTF8;
			break;
		}
	if (rest != NULL)
		*rest = de + 1;
	return 0;

 toolong:
	*why = "no room for the address";
 fail:
	out[0] = '\0';
	return -1;
}

/* addr_domain - the domain part of a canonical mailbox, "" for <> */
const char *
addr_domain(const char *mailbox)
{
	const char	*at;

	/*
	 * A domain never holds '@' but a quoted local part may, so the last
	 * '@' is the separator. "postmaster" has no domain either.
	 */
	if ((at = strrchr(mailbox, '@')) == NULL)
		return "";
	return at + 1;
}

/* addr_is_domain - 1 if s is a syntactically valid domain or address literal */
int
addr_is_domain(const char *s)
{
	const char	*end, *why;

	if (addr_scan_any_domain(s, 0, &end, &why) == -1)
		return 0;
	return *end == '\0';
}

/* addr_local_safe - 1 if the local part may name a Maildir directory */
int
addr_local_safe(const char *mailbox)
{
	const char	*at, *p;
	size_t		 n;

	if ((at = strrchr(mailbox, '@')) == NULL)
		at = mailbox + strlen(mailbox);
	n = (size_t)(at - mailbox);
	if (n == 0 || n > ADDR_LOCAL_MAX)
		return 0;
	if (mailbox[0] == '.' || mailbox[0] == '"')
		return 0;
	for (p = mailbox; p < at; p++)
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126 ||
		    *p == '/')
			return 0;
	return 1;
}

/* addr_has_routing - 1 if the local part asks for relaying beyond us */
int
addr_has_routing(const char *mailbox)
{
	const char	*at, *p;

	/*
	 * The last '@' separates local part and domain (see addr_domain), so
	 * any '@' before it stands in a quoted local part: "u@ext"@ours, or
	 * "u\@ext"@ours, which a quote-stripping MTA reads as u@ext too.
	 */
	if ((at = strrchr(mailbox, '@')) == NULL)
		at = mailbox + strlen(mailbox);
	for (p = mailbox; p < at; p++)
		if (*p == '%' || *p == '!' || *p == '@')
			return 1;
	return 0;
}

/* addr_utf8_len - length of one strict, non-ASCII UTF-8 character */
size_t
addr_utf8_len(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned int		 cp, min;
	size_t			 len, i;

	if (n == 0)
		return 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;	/* ASCII, a continuation, 0xc0, 0xc1, > 0xf4 */
	if (len > n)
		return 0;
	/* A NUL is no continuation octet: the loop stops at it. */
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp <= 0x9f)
		return 0;
	return len;
}
