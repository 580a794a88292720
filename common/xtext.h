/*
 * xtext - RFC 3461 xtext and RFC 6533 utf-8-addr-xtext, decoded strictly
 *
 * xtext is how ESMTP parameters (ENVID=, ORCPT=, AUTH=) carry values that
 * may hold SP, '+' or '=': "+" and two uppercase hex digits stand for one
 * octet, and every other octet from '!' to '~' except '+' and '=' stands
 * for itself (RFC 3461 section 4).
 *
 * Every decoder here refuses, rather than passes on, a value that could
 * split a line or fool a reader downstream: what it writes is printable
 * US-ASCII and SP (0x20..0x7e), plus strict UTF-8 (addr_utf8_len) where
 * UTF-8 is allowed. NUL, CR, LF, TAB and every other C0 or C1 control
 * are refused however they were encoded. out always holds a NUL-terminated
 * string afterwards ("" on failure); a value that would not fit outlen with
 * its NUL is refused, never cut. An empty value is refused: each grammar
 * here wants at least one character.
 *
 * xtext_decode() reads the n octets of xtext at in. Lowercase hex ("+2b"),
 * a '+' without two hex digits after it, and any octet outside '!'..'~' or
 * equal to '=' are refused. With XTEXT_F_UTF8 the decoded octets may also
 * form UTF-8 (an AUTH= mailbox under SMTPUTF8); without it they are ASCII.
 *
 * xtext_decode_utf8() reads the value of an ORCPT of type "utf-8" (RFC 6533
 * section 3): QCHARs ('!'..'~' except '+', '=' and '\') stand for
 * themselves and "\x{HEX}" for one Unicode code point, HEX being 2 to 6
 * hex digits of either case without a leading zero beyond the second
 * (RFC 6533's HEXPOINT). That is utf-8-addr-xtext, which is ASCII; with
 * XTEXT_F_UTF8 (the transaction is SMTPUTF8) raw UTF-8 is also allowed
 * (utf-8-addr-unitext). The result is UTF-8 either way.
 *
 * xtext_encode() writes the xtext form of n octets at in: '+', '=' and
 * every octet outside '!'..'~' become "+XX". It is the inverse of
 * xtext_decode() for anything that one accepts.
 *
 * Each returns 0, or -1.
 */
#ifndef AVAL_COMMON_XTEXT_H
#define AVAL_COMMON_XTEXT_H

#include <stddef.h>

#define XTEXT_F_UTF8	0x01	/* UTF-8 may appear (see above) */

int	 xtext_decode(const char *in, size_t n, int flags, char *out,
	    size_t outlen);
int	 xtext_decode_utf8(const char *in, size_t n, int flags, char *out,
	    size_t outlen);
int	 xtext_encode(const char *in, size_t n, char *out, size_t outlen);

#endif
