/*
 * xtext - RFC 3461 xtext and RFC 6533 utf-8-addr-xtext, decoded strictly
 *
 * The values decoded here come from the network and go into the queue
 * and, from there, into DSNs and the next hop's RCPT and MAIL commands.
 * So the decoders check the result, not only the encoding: a "+0D+0A" or
 * a "\x{A}" is grammatical xtext and still refused, because the octet it
 * stands for is a control.
 *
 * Where the RFCs leave room:
 *
 *  - RFC 3461 says "two upper case hexadecimal digits" in prose; its ABNF
 *    would allow either case. The prose wins: "+2b" is refused, and the
 *    encoder writes uppercase only.
 *  - RFC 6533 HEXDIG is ABNF and so of either case: "\x{e9}" is read.
 *    Its HEXPOINT also forbids "\x{41}" (ASCII that needs no escape); this
 *    decoder reads it, since the result is checked anyway.
 *  - SP (0x20) is printable enough: ENVID may hold it (RFC 3461 section
 *    4.4), and so may a quoted local part. TAB is not: it is a control.
 */
#include <string.h>

#include "common/addr.h"
#include "common/xtext.h"

static int	 xtext_hex(int, int);
static int	 xtext_check(const char *, size_t, int);
static int	 xtext_put_cp(char *, size_t, size_t *, unsigned long);

/* xtext_hex - the value of one hex digit, uppercase only unless anycase */
static int
xtext_hex(int c, int anycase)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (anycase && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * xtext_check - 0 if the n decoded octets at s are SP, printable ASCII,
 * or (with XTEXT_F_UTF8) strict UTF-8 characters; -1 otherwise.
 */
static int
xtext_check(const char *s, size_t n, int flags)
{
	size_t	 i, len;

	for (i = 0; i < n; i += len) {
		if ((unsigned char)s[i] < 0x80) {
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return -1;
			len = 1;
		} else if ((flags & XTEXT_F_UTF8) == 0 ||
		    (len = addr_utf8_len(s + i, n - i)) == 0)
			return -1;
	}
	return 0;
}

/* xtext_put_cp - append code point cp as UTF-8 at *off, if it fits */
static int
xtext_put_cp(char *out, size_t outlen, size_t *off, unsigned long cp)
{
	unsigned char	 b[4];
	size_t		 n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (n >= outlen - *off)
		return -1;
	memcpy(out + *off, b, n);
	*off += n;
	return 0;
}

/* xtext_decode - RFC 3461 xtext to octets, refusing controls */
int
xtext_decode(const char *in, size_t n, int flags, char *out, size_t outlen)
{
	size_t	 i, off = 0;

	if (outlen == 0)
		return -1;
	if (n == 0)
		goto fail;
	for (i = 0; i < n; i++) {
		int	 c = (unsigned char)in[i], hi, lo;

		if (c == '+') {
			if (n - i < 3 || (hi = xtext_hex(in[i + 1], 0)) < 0 ||
			    (lo = xtext_hex(in[i + 2], 0)) < 0)
				goto fail;
			c = hi << 4 | lo;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=')
			goto fail;
		if (off + 1 >= outlen)
			goto fail;
		out[off++] = (char)c;
	}
	if (xtext_check(out, off, flags) == -1)
		goto fail;
	out[off] = '\0';
	return 0;

 fail:
	out[0] = '\0';
	return -1;
}

/* xtext_decode_utf8 - RFC 6533 utf-8-addr-xtext (or -unitext) to UTF-8 */
int
xtext_decode_utf8(const char *in, size_t n, int flags, char *out,
    size_t outlen)
{
	size_t	 i = 0, off = 0, len;

	if (outlen == 0)
		return -1;
	if (n == 0)
		goto fail;
	while (i < n) {
		int	 c = (unsigned char)in[i];

		if (c == '\\') {
			unsigned long	 cp = 0;
			size_t		 j, ndig;
			int		 d;

			/* EmbeddedUnicodeChar = %x5C.78 "{" HEXPOINT "}" */
			if (n - i < 3 || in[i + 1] != 'x' || in[i + 2] != '{')
				goto fail;
			for (j = i + 3, ndig = 0; j < n && ndig < 6 &&
			    (d = xtext_hex(in[j], 1)) >= 0; j++, ndig++)
				cp = cp << 4 | (unsigned long)d;
			if (j == n || in[j] != '}' || ndig < 2 ||
			    (ndig > 2 && in[i + 3] == '0'))
				goto fail;
			/* The code point must be a character we pass on. */
			if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
			    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
				goto fail;
			if (xtext_put_cp(out, outlen, &off, cp) == -1)
				goto fail;
			i = j + 1;
			continue;
		}
		if (c >= 0x80) {
			if ((flags & XTEXT_F_UTF8) == 0 ||
			    (len = addr_utf8_len(in + i, n - i)) == 0)
				goto fail;
		} else if (c < '!' || c > '~' || c == '+' || c == '=')
			goto fail;
		else
			len = 1;
		if (len >= outlen - off)
			goto fail;
		memcpy(out + off, in + i, len);
		off += len;
		i += len;
	}
	/* Belt and braces: what was built must pass the common check. */
	if (xtext_check(out, off, XTEXT_F_UTF8) == -1)
		goto fail;
	out[off] = '\0';
	return 0;

 fail:
	out[0] = '\0';
	return -1;
}

/* xtext_encode - octets to RFC 3461 xtext, uppercase hex */
int
xtext_encode(const char *in, size_t n, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 i, off = 0;

	if (outlen == 0)
		return -1;
	for (i = 0; i < n; i++) {
		int	 c = (unsigned char)in[i];

		if (c >= '!' && c <= '~' && c != '+' && c != '=') {
			if (off + 1 >= outlen)
				goto fail;
			out[off++] = (char)c;
		} else {
			if (off + 3 >= outlen)
				goto fail;
			out[off++] = '+';
			out[off++] = hex[c >> 4];
			out[off++] = hex[c & 0x0f];
		}
	}
	out[off] = '\0';
	return 0;

 fail:
	out[0] = '\0';
	return -1;
}
