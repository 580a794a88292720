/*
 * json - the JSON string literal (RFC 8259)
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"

#define JSON_ESC_MAX	7	/* \u00XX (or 4 bytes of UTF-8) and a NUL */

/*
 * json_utf8_len - the length of the well-formed UTF-8 sequence of two or
 * more bytes at p, or 0 when p does not start one (a NUL ends it early,
 * as it is no continuation byte)
 */
static size_t
json_utf8_len(const unsigned char *p)
{
	unsigned long	 cp;
	size_t		 n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * json_escape - the escaped form of the byte(s) at p into out (room for
 * JSON_ESC_MAX), its length in *outlen; returns how many input bytes it
 * took
 */
static size_t
json_escape(const unsigned char *p, char *out, size_t *outlen)
{
	size_t	 n;

	if (*p == '"' || *p == '\\') {
		out[0] = '\\';
		out[1] = (char)*p;
		*outlen = 2;
		return 1;
	}
	if (*p == '\n' || *p == '\r' || *p == '\t') {
		out[0] = '\\';
		out[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		*outlen = 2;
		return 1;
	}
	if (*p < 0x20 || *p == 0x7f) {
		snprintf(out, JSON_ESC_MAX, "\\u%04x", *p);
		*outlen = 6;
		return 1;
	}
	if (*p < 0x80) {
		out[0] = (char)*p;
		*outlen = 1;
		return 1;
	}
	if ((n = json_utf8_len(p)) == 0) {
		memcpy(out, "\\ufffd", 6);
		*outlen = 6;
		return 1;
	}
	memcpy(out, p, n);
	*outlen = n;
	return n;
}

/* json_str - append s as a JSON string literal, all of it or nothing */
int
json_str(struct buf *b, const char *s)
{
	const unsigned char	*p;
	char			 chunk[256], one[JSON_ESC_MAX];
	size_t			 need = 2, n, len, used = 0;

	if (s == NULL)
		return buf_addstr(b, "null");
	/* Measure first, so that the cap is met before anything is added. */
	for (p = (const unsigned char *)s; *p != '\0'; p += n) {
		n = json_escape(p, one, &len);
		need += len;
	}
	if (need > buf_cap(b) - buf_len(b))
		return -1;
	chunk[used++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p += n) {
		/* Room for the longest escape, and the closing quote. */
		if (used + JSON_ESC_MAX + 1 > sizeof(chunk)) {
			buf_add(b, chunk, used);
			used = 0;
		}
		n = json_escape(p, chunk + used, &len);
		used += len;
	}
	chunk[used++] = '"';
	buf_add(b, chunk, used);
	return 0;
}
