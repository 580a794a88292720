/*
 * check_xtext - RFC 3461 xtext and RFC 6533 utf-8-addr-xtext, both ways
 */
#include <string.h>

#include "common/xtext.h"
#include "tests/unit/harness.h"

/*
 * harness.h declares every other suite; this one is declared here and in
 * check_main.c until harness.h lists it too.
 */
Suite	*xtext_suite(void);

#define E	"\xc3\xa9"		/* U+00E9, 2 octets of UTF-8 */
#define UF	XTEXT_F_UTF8

struct xtext_case {
	const char	*in;
	int		 flags;
	const char	*out;		/* decoded, NULL if refused */
};

#define OK(in, flags, out)	{ in, flags, out }
#define NO(in, flags)		{ in, flags, NULL }

static const struct xtext_case xtext_cases[] = {
	OK("abc", 0, "abc"),
	OK("!\"#$%&'()*,-./09:;<>?@AZ[\\]^_`az{|}~", 0,
	    "!\"#$%&'()*,-./09:;<>?@AZ[\\]^_`az{|}~"),
	OK("a+2Bb", 0, "a+b"),
	OK("+3D", 0, "="),
	OK("+2B+3D+2B", 0, "+=+"),
	OK("john+20doe", 0, "john doe"),
	OK("+41+7E", 0, "A~"),
	OK("+7E", 0, "~"),
	OK("user+2Btag@example.org", 0, "user+tag@example.org"),
	OK("+C3+A9", UF, E),
	OK("caf+C3+A9@example.org", UF, "caf" E "@example.org"),
	NO("+C3+A9", 0),			/* 8-bit without the flag */
	NO("", 0),
	NO("+", 0),
	NO("+2", 0),
	NO("a+2", 0),
	NO("+2b", 0),				/* lowercase hex */
	NO("+e9", UF),
	NO("+G0", 0),
	NO("++2B", 0),
	NO("+ 20", 0),
	NO("a=b", 0),				/* '=' is never itself */
	NO("a b", 0),				/* nor is SP */
	NO("a\tb", 0),
	NO("a\x7f", 0),
	NO("a" E, UF),				/* raw 8-bit is no xchar */
	NO("+00", 0),				/* NUL */
	NO("a+0D+0Ab", 0),			/* CR LF */
	NO("+0A", UF),
	NO("+0D", 0),
	NO("+09", 0),				/* TAB */
	NO("+1B", 0),				/* ESC */
	NO("+7F", 0),				/* DEL */
	NO("+80", UF),				/* stray continuation */
	NO("+C2+85", UF),			/* C1 NEL */
	NO("+C2+9F", UF),
	NO("+C0+AF", UF),			/* overlong */
	NO("+ED+A0+80", UF),			/* surrogate */
	NO("+F4+90+80+80", UF),			/* above U+10FFFF */
	NO("+C3", UF),				/* cut short */
	NO("+FF", UF),
};

START_TEST(xtext_decodes_strictly_and_never_to_a_control)
{
	const struct xtext_case	*c = &xtext_cases[_i];
	char			 out[64];
	int			 r;

	memset(out, 'X', sizeof(out));
	r = xtext_decode(c->in, strlen(c->in), c->flags, out, sizeof(out));
	if (c->out == NULL) {
		ck_assert_msg(r == -1, "row %d: \"%s\" accepted as \"%s\"", _i,
		    c->in, out);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_msg(r == 0, "row %d: \"%s\" refused", _i, c->in);
		ck_assert_str_eq(out, c->out);
	}
}
END_TEST

static const struct xtext_case xtext_utf8_cases[] = {
	OK("user@example.org", 0, "user@example.org"),
	OK("caf\\x{E9}@example.org", 0, "caf" E "@example.org"),
	OK("caf\\x{e9}@example.org", 0, "caf" E "@example.org"),
	OK("\\x{4F8B}@\\x{4F8B}.example", 0,
	    "\xe4\xbe\x8b@\xe4\xbe\x8b.example"),
	OK("\\x{1F600}", 0, "\xf0\x9f\x98\x80"),
	OK("\\x{10FFFF}", 0, "\xf4\x8f\xbf\xbf"),
	OK("a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e", 0, "a+b=c\\d e"),
	OK("\\x{41}", 0, "A"),			/* needless, still read */
	OK("\\x{A0}", 0, "\xc2\xa0"),
	OK("caf" E "@example.org", UF, "caf" E "@example.org"),
	OK("caf" E "\\x{E9}", UF, "caf" E E),
	NO("caf" E "@example.org", 0),		/* unitext needs SMTPUTF8 */
	NO("", 0),
	NO("a+b", 0),				/* QCHAR has no '+' */
	NO("a=b", 0),
	NO("a b", 0),
	NO("a\\b", 0),				/* nor a lone '\' */
	NO("\\x", 0),
	NO("\\x{", 0),
	NO("\\x{}", 0),
	NO("\\x{E}", 0),			/* at least two digits */
	NO("\\x{0E9}", 0),			/* no leading zero */
	NO("\\x{00E9}", 0),
	NO("\\x{110000}", 0),
	NO("\\x{1000000}", 0),
	NO("\\x{E9", 0),
	NO("\\x{E9 }", 0),
	NO("\\X{E9}", 0),
	NO("\\x(E9)", 0),
	NO("\\x{G9}", 0),
	NO("\\x{0A}", 0),			/* LF */
	NO("\\x{0D}", 0),			/* CR */
	NO("\\x{00}", 0),
	NO("\\x{09}", 0),
	NO("\\x{1F}", 0),
	NO("\\x{7F}", 0),
	NO("\\x{85}", 0),			/* C1 */
	NO("\\x{9F}", 0),
	NO("\\x{D800}", 0),			/* surrogates */
	NO("\\x{DFFF}", 0),
	NO("\xc2\x85", UF),
	NO("\xc0\xaf", UF),
	NO("\xc3", UF),
	NO("a\tb", UF),
};

START_TEST(utf8_addr_xtext_decodes_to_utf8_without_controls)
{
	const struct xtext_case	*c = &xtext_utf8_cases[_i];
	char			 out[64];
	int			 r;

	memset(out, 'X', sizeof(out));
	r = xtext_decode_utf8(c->in, strlen(c->in), c->flags, out,
	    sizeof(out));
	if (c->out == NULL) {
		ck_assert_msg(r == -1, "row %d: \"%s\" accepted as \"%s\"", _i,
		    c->in, out);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_msg(r == 0, "row %d: \"%s\" refused", _i, c->in);
		ck_assert_str_eq(out, c->out);
	}
}
END_TEST

START_TEST(decoding_reads_only_n_octets)
{
	char	 out[16];

	ck_assert_int_eq(xtext_decode("ab+2Bcd", 5, 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "ab+");
	ck_assert_int_eq(xtext_decode("ab+2Bcd", 4, 0, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode_utf8("a\\x{E9}b", 7, 0, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "a" E);
	ck_assert_int_eq(xtext_decode_utf8("a\\x{E9}b", 6, 0, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode_utf8("a" E, 2, UF, out,
	    sizeof(out)), -1);
}
END_TEST

START_TEST(a_value_that_does_not_fit_is_refused_not_cut)
{
	char	 out[4];

	ck_assert_int_eq(xtext_decode("abc", 3, 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "abc");
	ck_assert_int_eq(xtext_decode("abcd", 4, 0, out, sizeof(out)), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(xtext_decode("ab+2B", 5, 0, out, sizeof(out)), 0);
	ck_assert_int_eq(xtext_decode("abc", 3, 0, out, 0), -1);
	ck_assert_int_eq(xtext_decode_utf8("a\\x{E9}", 7, 0, out,
	    sizeof(out)), 0);
	ck_assert_int_eq(xtext_decode_utf8("ab\\x{E9}", 8, 0, out,
	    sizeof(out)), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(xtext_decode_utf8("\\x{1F600}", 9, 0, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(xtext_encode("a b", 3, out, sizeof(out)), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(xtext_encode("a", 1, out, 0), -1);
}
END_TEST

struct xtext_enc_case {
	const char	*in;
	const char	*out;
};

static const struct xtext_enc_case xtext_enc_cases[] = {
	{ "", "" },
	{ "abc", "abc" },
	{ "a+b=c", "a+2Bb+3Dc" },
	{ "john doe", "john+20doe" },
	{ "caf" E, "caf+C3+A9" },
	{ "a\r\nb", "a+0D+0Ab" },
	{ "~!", "~!" },
	{ "\x7f\xff", "+7F+FF" },
};

START_TEST(encoding_writes_uppercase_hex_for_what_needs_it)
{
	const struct xtext_enc_case	*c = &xtext_enc_cases[_i];
	char				 out[64], back[64];

	ck_assert_int_eq(xtext_encode(c->in, strlen(c->in), out, sizeof(out)),
	    0);
	ck_assert_str_eq(out, c->out);
	/* Whatever decodes (no control in it) decodes back to the input. */
	if (*c->in != '\0' && xtext_decode(out, strlen(out), UF, back,
	    sizeof(back)) == 0)
		ck_assert_str_eq(back, c->in);
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

Suite *
xtext_suite(void)
{
	Suite	*s = suite_create("xtext");
	TCase	*tc;

	tc = tcase_create("decode");
	tcase_add_loop_test(tc, xtext_decodes_strictly_and_never_to_a_control,
	    0, NROWS(xtext_cases));
	tcase_add_loop_test(tc,
	    utf8_addr_xtext_decodes_to_utf8_without_controls, 0,
	    NROWS(xtext_utf8_cases));
	tcase_add_test(tc, decoding_reads_only_n_octets);
	tcase_add_test(tc, a_value_that_does_not_fit_is_refused_not_cut);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_loop_test(tc, encoding_writes_uppercase_hex_for_what_needs_it,
	    0, NROWS(xtext_enc_cases));
	suite_add_tcase(s, tc);
	return s;
}
