/*
 * check_addr - RFC 5321 path parsing, domains and Maildir-safe local parts
 */
#include <string.h>

#include "common/addr.h"
#include "tests/unit/harness.h"

/* Long strings, built by the preprocessor so the tables stay readable. */
#define R2(s)		s s
#define R4(s)		R2(s) R2(s)
#define R7(s)		R4(s) R2(s) s
#define R8(s)		R4(s) R4(s)
#define R9(s)		R8(s) s
#define LABEL63(c)	R7(R9(c))
#define LABEL62(c)	R7(R8(c)) R4(c) R2(c)
#define LABEL61(c)	R7(R8(c)) R4(c) c
#define LOCAL64		R8(R8("l"))
#define DOMAIN189	LABEL63("b") "." LABEL63("c") "." LABEL61("d")
#define DOMAIN255	LABEL63("a") "." LABEL63("b") "." LABEL63("c") "." \
			LABEL63("d")
#define DOMAIN256	LABEL63("a") "." LABEL63("b") "." LABEL63("c") "." \
			LABEL62("d") ".y"

/* UTF-8: e-acute (2 octets), a CJK character (3), an emoji (4). */
#define E		"\xc3\xa9"
#define CJK		"\xe4\xbe\x8b"
#define EMOJI		"\xf0\x9f\x98\x80"
#define ULABEL59	R7(R8(E)) R2(E) E
#define ULOCAL64	R8(R4(E))

#define N	ADDR_F_NULL_OK
#define P	ADDR_F_POSTMASTER_OK
#define U	ADDR_F_UTF8
#define IR	ADDR_I_ROUTE
#define IL	ADDR_I_ROUTING
#define IU	ADDR_I_UTF8

struct addr_case {
	const char	*in;
	int		 flags;
	const char	*out;		/* canonical mailbox, NULL if refused */
	const char	*rest;		/* what follows '>' when accepted */
	unsigned int	 info;		/* ADDR_I_* when accepted */
};

#define OK(in, flags, out, rest)	{ in, flags, out, rest, 0 }
#define OKI(in, flags, out, rest, info)	{ in, flags, out, rest, info }
#define NO(in, flags)			{ in, flags, NULL, NULL, 0 }

static const struct addr_case addr_cases[] = {
	/* plain mailboxes */
	OK("<user@example.org>", 0, "user@example.org", ""),
	OK("<User@Example.ORG>", 0, "User@example.org", ""),
	OK("<a@B.EXAMPLE>", N | P, "a@b.example", ""),
	OK("<a.b.c@example.org>", 0, "a.b.c@example.org", ""),
	OK("<a+tag@example.org>", 0, "a+tag@example.org", ""),
	OKI("<!#$%&'*+-/=?^_`{|}~@example.org>", 0,
	    "!#$%&'*+-/=?^_`{|}~@example.org", "", IL),
	OK("<a@localhost>", 0, "a@localhost", ""),
	OK("<a@b--c.example>", 0, "a@b--c.example", ""),
	OK("<a@123.example>", 0, "a@123.example", ""),
	OK("<a@1.2.3.4>", 0, "a@1.2.3.4", ""),
	OK("<user@example.org> SIZE=1", 0, "user@example.org", " SIZE=1"),
	OK("<a@b>>", 0, "a@b", ">"),
	/* the null path and postmaster */
	OK("<>", N, "", ""),
	OK("<> BODY=8BITMIME", N, "", " BODY=8BITMIME"),
	NO("<>", 0),
	NO("<>", P),
	OK("<postmaster>", P, "postmaster", ""),
	OK("<PostMaster>", P, "postmaster", ""),
	NO("<postmaster>", 0),
	NO("<postmaster>", N),
	NO("<@a.example:postmaster>", P),
	OK("<postmaster@Example.org>", 0, "postmaster@example.org", ""),
	/* brackets */
	NO("", 0),
	NO("<", 0),
	NO("user@example.org", 0),
	NO("<user@example.org", 0),
	NO("user@example.org>", 0),
	NO("<<a@b>>", 0),
	NO("< a@b.example>", 0),
	NO("<a@b.example >", 0),
	/* source routes */
	OKI("<@a.example,@b.example:u@c.example>", 0, "u@c.example", "",
	    IR),
	OKI("<@route:a@b>", 0, "a@b", "", IR),
	OKI("<@ours.example:u%ext.example@ours.example>", U,
	    "u%ext.example@ours.example", "", IR | IL),
	NO("<@a.example:>", N),
	NO("<@a.example u@c.example>", 0),
	NO("<@a.example,u@c.example>", 0),
	NO("<@[192.0.2.1]:u@c.example>", 0),
	NO("<@:u@c.example>", 0),
	NO("<@example.org>", 0),
	NO("<@a.example,:u@c.example>", 0),
	/* quoted local parts */
	OK("<\"john doe\"@example.org>", 0, "\"john doe\"@example.org", ""),
	OKI("<\"a@b\"@Example.org>", 0, "\"a@b\"@example.org", "", IL),
	OK("<\"\"@example.org>", 0, "\"\"@example.org", ""),
	OK("<\"a\\\"b\"@example.org>", 0, "\"a\\\"b\"@example.org", ""),
	OK("<\"a\\ b\"@example.org>", 0, "\"a\\ b\"@example.org", ""),
	NO("<\"a\\\x01\"@example.org>", 0),
	NO("<\"a\\\x7f\"@example.org>", 0),
	NO("<\"a\x7f\"@example.org>", 0),
	NO("<\"a\tb\"@example.org>", 0),
	NO("<\"abc@example.org>", 0),
	NO("<\"a\\", 0),
	NO("<\"a\"b@example.org>", 0),
	/* dot-atoms */
	NO("<.a@example.org>", 0),
	NO("<a.@example.org>", 0),
	NO("<a..b@example.org>", 0),
	NO("<a b@example.org>", 0),
	NO("<a(b)@example.org>", 0),
	NO("<a\t@example.org>", 0),
	NO("<a>", 0),
	NO("<a@b@c>", 0),
	/* non-ASCII: only with ADDR_F_UTF8 (SMTPUTF8), and only UTF-8 */
	NO("<a" E "@example.org>", 0),
	NO("<a" E "@example.org>", N | P),
	NO("<a@ex" E "mple.org>", 0),
	NO("<\"" E "\"@example.org>", 0),
	OKI("<a" E "@example.org>", U, "a" E "@example.org", "", IU),
	OKI("<j" E "r" E "me@ex" E "mple.org> SMTPUTF8", U | N,
	    "j" E "r" E "me@ex" E "mple.org", " SMTPUTF8", IU),
	OKI("<" E "@" E ">", U, E "@" E, "", IU),
	OKI("<\"" E " x\"@example.org>", U, "\"" E " x\"@example.org", "",
	    IU),
	OKI("<" CJK CJK "@" CJK "." CJK CJK ">", U,
	    CJK CJK "@" CJK "." CJK CJK, "", IU),
	OKI("<" EMOJI "@example.org>", U, EMOJI "@example.org", "", IU),
	OKI("<a@M" E "NCHEN.Example>", U, "a@m" E "nchen.example", "", IU),
	OKI("<a." E ".b@example.org>", U, "a." E ".b@example.org", "", IU),
	OKI("<" E "%ext@example.org>", U, E "%ext@example.org", "",
	    IU | IL),
	OK("<ascii@example.org>", U, "ascii@example.org", ""),
	OK("<>", U | N, "", ""),
	OKI("<\xc2\xa0@example.org>", U, "\xc2\xa0@example.org", "", IU),
	OKI("<\xed\x9f\xbf@example.org>", U, "\xed\x9f\xbf@example.org",
	    "", IU),
	OKI("<\xee\x80\x80@example.org>", U, "\xee\x80\x80@example.org",
	    "", IU),
	OKI("<\xf4\x8f\xbf\xbf@example.org>", U,
	    "\xf4\x8f\xbf\xbf@example.org", "", IU),
	NO("<\xc0\xaf@example.org>", U),		/* overlong '/' */
	NO("<\xc1\xbf@example.org>", U),		/* overlong DEL */
	NO("<\xe0\x80\xaf@example.org>", U),	/* overlong, 3 octets */
	NO("<\xe0\x9f\xbf@example.org>", U),	/* overlong U+07FF */
	NO("<\xf0\x80\x80\xaf@example.org>", U),	/* overlong, 4 octets */
	NO("<\xf0\x8f\xbf\xbf@example.org>", U),	/* overlong U+FFFF */
	NO("<\xed\xa0\x80@example.org>", U),	/* surrogate U+D800 */
	NO("<\xed\xbf\xbf@example.org>", U),	/* surrogate U+DFFF */
	NO("<\xf4\x90\x80\x80@example.org>", U),	/* U+110000 */
	NO("<\xf5\x80\x80\x80@example.org>", U),
	NO("<\xf8\x88\x80\x80\x80@example.org>", U),
	NO("<\xff@example.org>", U),
	NO("<\xc2\x80@example.org>", U),		/* C1 control U+0080 */
	NO("<\xc2\x85@example.org>", U),		/* NEL */
	NO("<\xc2\x9f@example.org>", U),		/* C1 control U+009F */
	NO("<a\x80@example.org>", U),		/* stray continuation */
	NO("<a\xc3@example.org>", U),		/* cut short */
	NO("<a\xe4\xbe@example.org>", U),
	NO("<a\xf0\x9f\x98@example.org>", U),
	NO("<a\xc3\xc3\xa9@example.org>", U),
	NO("<\"a\\" E "\"@example.org>", U),	/* quoted pair stays ASCII */
	NO("<a@[" E "]>", U),			/* so do address literals */
	NO("<a@[192.0.2.1" E "]>", U),
	NO("<@ex" E "mple.org:a@example.org>", U),	/* and source routes */
	NO("<a@-" E ".example>", U),
	NO("<a@" E "-.example>", U),
	OKI("<a@" E "-" E ".example>", U, "a@" E "-" E ".example", "", IU),
	NO("<a@" E ".>", U),
	NO("<a" E ".@example.org>", U),
	NO("<a@b." E "\xc3>", U),
	/* limits count octets; a U-label's A-label must fit in 63 */
	OKI("<" ULOCAL64 "@example.org>", U, ULOCAL64 "@example.org", "", IU),
	NO("<" ULOCAL64 "l@example.org>", U),
	OKI("<a@" ULABEL59 ".example>", U, "a@" ULABEL59 ".example", "", IU),
	NO("<a@" ULABEL59 E ".example>", U),
	NO("<a@" ULABEL59 "x.example>", U),
	/* domains */
	NO("<a@>", 0),
	NO("<a@b.>", 0),
	NO("<a@.b>", 0),
	NO("<a@b..c>", 0),
	NO("<a@-b.example>", 0),
	NO("<a@b-.example>", 0),
	NO("<a@b_c.example>", 0),
	NO("<a@b.example.->", 0),
	/* address literals */
	OK("<a@[192.0.2.1]>", 0, "a@[192.0.2.1]", ""),
	OK("<a@[IPv6:::1]>", 0, "a@[IPv6:::1]", ""),
	OK("<a@[ipv6:2001:DB8::1]>", 0, "a@[IPv6:2001:db8::1]", ""),
	OK("<a@[IPv6:::ffff:192.0.2.1]>", 0, "a@[IPv6:::ffff:192.0.2.1]", ""),
	NO("<a@[300.1.1.1]>", 0),
	NO("<a@[192.0.2]>", 0),
	NO("<a@[010.0.0.1]>", 0),
	NO("<a@[IPv6:2001:db8::g]>", 0),
	NO("<a@[IPv6:192.0.2.1]>", 0),
	NO("<a@[IPv6:]>", 0),
	NO("<a@[x-tag:stuff]>", 0),
	NO("<a@[]>", 0),
	NO("<a@[192.0.2.1>", 0),
	NO("<a@[192.0.2.1]x>", 0),
	NO("<a@[192.0.2.1 ]>", 0),
	NO("<a@[IPv6:" R8("1111:") ":1]>", 0),
	/* limits: local 64, label 63, path 256 */
	OK("<" LOCAL64 "@example.org>", 0, LOCAL64 "@example.org", ""),
	NO("<" LOCAL64 "l@example.org>", 0),
	NO("<\"" R8(R8("q")) "\"@example.org>", 0),
	OK("<a@" LABEL63("x") ".example>", 0, "a@" LABEL63("x") ".example",
	    ""),
	NO("<a@" LABEL63("x") "x.example>", 0),
	OK("<" LOCAL64 "@" DOMAIN189 ">", 0, LOCAL64 "@" DOMAIN189, ""),
	NO("<" LOCAL64 "@" DOMAIN189 "d>", 0),
	NO("<@" DOMAIN189 ":" LOCAL64 "@example.org>", 0),
	NO("<a@" DOMAIN256 ">", 0),
};

START_TEST(paths_parse_to_their_canonical_mailbox_or_are_refused)
{
	const struct addr_case	*c = &addr_cases[_i];
	char			 out[ADDR_MAX + 1];
	const char		*rest = NULL, *why = NULL;
	unsigned int		 info = 0xff;
	int			 r;

	memset(out, 'X', sizeof(out));
	r = addr_parse_path(c->in, c->flags, out, sizeof(out), &rest, &info,
	    &why);
	if (c->out == NULL) {
		ck_assert_msg(r == -1, "row %d: %s accepted as %s", _i, c->in,
		    out);
		ck_assert_msg(why != NULL && *why != '\0',
		    "row %d: no reason given", _i);
		ck_assert_str_eq(out, "");
		ck_assert_msg(info == 0, "row %d: info %#x on failure", _i,
		    info);
	} else {
		ck_assert_msg(r == 0, "row %d: %s refused (%s)", _i, c->in,
		    why ? why : "?");
		ck_assert_str_eq(out, c->out);
		ck_assert_str_eq(rest, c->rest);
		ck_assert_msg(info == c->info, "row %d: %s info %#x, want %#x",
		    _i, c->in, info, c->info);
	}
}
END_TEST

START_TEST(a_short_output_buffer_refuses_instead_of_truncating)
{
	char		 out[8];
	const char	*rest, *why;

	ck_assert_int_eq(addr_parse_path("<abcd@example.org>", 0, out,
	    sizeof(out), &rest, NULL, &why), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(addr_parse_path("<abc@d.e>", 0, out, sizeof(out),
	    &rest, NULL, &why), 0);
	ck_assert_str_eq(out, "abc@d.e");
	ck_assert_int_eq(addr_parse_path("<a@b>", 0, out, 0, &rest, NULL,
	    &why), -1);
}
END_TEST

START_TEST(rest_info_and_why_may_be_null)
{
	char	 out[ADDR_MAX + 1];

	ck_assert_int_eq(addr_parse_path("<@r:a%b@c>", 0, out, sizeof(out),
	    NULL, NULL, NULL), 0);
	ck_assert_int_eq(addr_parse_path("<a@>", 0, out, sizeof(out), NULL,
	    NULL, NULL), -1);
}
END_TEST

START_TEST(non_ascii_without_the_flag_is_refused_for_want_of_smtputf8)
{
	char		 out[ADDR_MAX + 1];
	const char	*why = NULL;

	ck_assert_int_eq(addr_parse_path("<a" E "@example.org>", 0, out,
	    sizeof(out), NULL, NULL, &why), -1);
	ck_assert_str_eq(why, "non-ASCII character without SMTPUTF8");
	ck_assert_int_eq(addr_parse_path("<a\xc0\xaf@example.org>", U, out,
	    sizeof(out), NULL, NULL, &why), -1);
	ck_assert_str_eq(why, "malformed UTF-8");
}
END_TEST

struct addr_domain_case {
	const char	*mailbox;
	const char	*domain;
};

static const struct addr_domain_case addr_domain_cases[] = {
	{ "user@example.org", "example.org" },
	{ "\"a@b\"@example.org", "example.org" },
	{ "a@[IPv6:::1]", "[IPv6:::1]" },
	{ "", "" },
	{ "postmaster", "" },
};

START_TEST(the_domain_is_what_follows_the_last_at)
{
	const struct addr_domain_case	*c = &addr_domain_cases[_i];

	ck_assert_str_eq(addr_domain(c->mailbox), c->domain);
}
END_TEST

struct addr_flag_case {
	const char	*s;
	int		 want;
};

static const struct addr_flag_case addr_is_domain_cases[] = {
	{ "example.org", 1 },
	{ "Example.ORG", 1 },
	{ "localhost", 1 },
	{ "a-b.example", 1 },
	{ "[192.0.2.1]", 1 },
	{ "[IPv6:2001:db8::1]", 1 },
	{ DOMAIN255, 1 },
	{ DOMAIN256, 0 },
	{ LABEL63("x") "x.example", 0 },
	{ "", 0 },
	{ ".", 0 },
	{ "example.org.", 0 },
	{ ".example.org", 0 },
	{ "a..b", 0 },
	{ "-a.example", 0 },
	{ "a-.example", 0 },
	{ "a_b.example", 0 },
	{ "example.org ", 0 },
	{ "[300.1.1.1]", 0 },
	{ "[IPv6:::1]x", 0 },
	{ "ex\xc3\xa9mple.org", 0 },		/* HELO names stay ASCII */
};

START_TEST(only_valid_domains_and_literals_are_domains)
{
	const struct addr_flag_case	*c = &addr_is_domain_cases[_i];

	ck_assert_msg(addr_is_domain(c->s) == c->want, "row %d: %s", _i, c->s);
}
END_TEST

static const struct addr_flag_case addr_local_safe_cases[] = {
	{ "user@example.org", 1 },
	{ "User.Name+tag@example.org", 1 },
	{ "postmaster", 1 },
	{ LOCAL64 "@example.org", 1 },
	{ LOCAL64 "l@example.org", 0 },
	{ "", 0 },
	{ "@example.org", 0 },
	{ ".hidden@example.org", 0 },
	{ "..@example.org", 0 },
	{ "a/b@example.org", 0 },
	{ "a/../b@example.org", 0 },
	{ "\"john doe\"@example.org", 0 },
	{ "\"a\"@example.org", 0 },
	{ "a b@example.org", 0 },
	{ "a\tb@example.org", 0 },
	{ "a\xc3\xa9@example.org", 0 },
};

START_TEST(only_plain_local_parts_may_name_a_maildir)
{
	const struct addr_flag_case	*c = &addr_local_safe_cases[_i];

	ck_assert_msg(addr_local_safe(c->s) == c->want, "row %d: %s", _i,
	    c->s);
}
END_TEST

/*
 * The relay tricks of the classic open-relay tests, as canonical mailboxes
 * that name our domain (ours.example, [192.0.2.1]) and route elsewhere.
 */
static const struct addr_flag_case addr_has_routing_cases[] = {
	{ "user%ext.example@ours.example", 1 },
	{ "user%ext.example@[192.0.2.1]", 1 },
	{ "user%ext.example%ours.example@ours.example", 1 },
	{ "ext.example!user@ours.example", 1 },
	{ "ours.example!ext.example!user@ours.example", 1 },
	{ "\"user@ext.example\"@ours.example", 1 },
	{ "\"user%ext.example\"@ours.example", 1 },
	{ "\"ext.example!user\"@ours.example", 1 },
	{ "\"user\\@ext.example\"@ours.example", 1 },
	{ "\"@ext.example:user\"@ours.example", 1 },
	{ "%@ours.example", 1 },
	{ "!@ours.example", 1 },
	{ "a%b", 1 },
	{ "user@ours.example", 0 },
	{ "user@ext.example", 0 },		/* plain relaying: not here */
	{ "user+tag@ours.example", 0 },
	{ "\"john doe\"@ours.example", 0 },
	{ "u" E "@ours.example", 0 },
	{ "postmaster", 0 },
	{ "", 0 },
};

START_TEST(a_local_part_that_routes_is_seen)
{
	const struct addr_flag_case	*c = &addr_has_routing_cases[_i];

	ck_assert_msg(addr_has_routing(c->s) == c->want, "row %d: %s", _i,
	    c->s);
}
END_TEST

struct addr_utf8_case {
	const char	*s;
	size_t		 n;		/* octets available */
	size_t		 want;
};

static const struct addr_utf8_case addr_utf8_cases[] = {
	{ E, 2, 2 },
	{ CJK, 3, 3 },
	{ EMOJI, 4, 4 },
	{ EMOJI, 3, 0 },		/* n cuts it short */
	{ E, 1, 0 },
	{ E, 0, 0 },
	{ "\xc2\xa0", 2, 2 },		/* U+00A0, the first after C1 */
	{ "\xdf\xbf", 2, 2 },		/* U+07FF */
	{ "\xe0\xa0\x80", 3, 3 },	/* U+0800 */
	{ "\xed\x9f\xbf", 3, 3 },	/* U+D7FF */
	{ "\xee\x80\x80", 3, 3 },	/* U+E000 */
	{ "\xef\xbf\xbf", 3, 3 },	/* U+FFFF */
	{ "\xf0\x90\x80\x80", 4, 4 },	/* U+10000 */
	{ "\xf4\x8f\xbf\xbf", 4, 4 },	/* U+10FFFF */
	{ "a", 1, 0 },
	{ "", 1, 0 },
	{ "\x7f", 1, 0 },
	{ "\x80", 1, 0 },
	{ "\xbf", 1, 0 },
	{ "\xc0\x80", 2, 0 },		/* overlong NUL */
	{ "\xc1\xbf", 2, 0 },
	{ "\xc2\x80", 2, 0 },		/* C1 */
	{ "\xc2\x9f", 2, 0 },
	{ "\xc3", 2, 0 },		/* stops at the NUL */
	{ "\xc3\x28", 2, 0 },
	{ "\xc3\xc3", 2, 0 },
	{ "\xe0\x80\x80", 3, 0 },
	{ "\xe0\x9f\xbf", 3, 0 },
	{ "\xed\xa0\x80", 3, 0 },	/* surrogates */
	{ "\xed\xbf\xbf", 3, 0 },
	{ "\xe4\xbe", 3, 0 },
	{ "\xf0\x8f\xbf\xbf", 4, 0 },
	{ "\xf4\x90\x80\x80", 4, 0 },
	{ "\xf5\x80\x80\x80", 4, 0 },
	{ "\xf8\x88\x80\x80", 4, 0 },
	{ "\xfe", 1, 0 },
	{ "\xff", 1, 0 },
};

START_TEST(only_strict_utf8_characters_have_a_length)
{
	const struct addr_utf8_case	*c = &addr_utf8_cases[_i];

	ck_assert_msg(addr_utf8_len(c->s, c->n) == c->want,
	    "row %d: got %zu, want %zu", _i, addr_utf8_len(c->s, c->n),
	    c->want);
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

Suite *
addr_suite(void)
{
	Suite	*s = suite_create("addr");
	TCase	*tc;

	tc = tcase_create("path");
	tcase_add_loop_test(tc,
	    paths_parse_to_their_canonical_mailbox_or_are_refused, 0,
	    NROWS(addr_cases));
	tcase_add_test(tc, a_short_output_buffer_refuses_instead_of_truncating);
	tcase_add_test(tc, rest_info_and_why_may_be_null);
	tcase_add_test(tc,
	    non_ascii_without_the_flag_is_refused_for_want_of_smtputf8);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_loop_test(tc, the_domain_is_what_follows_the_last_at, 0,
	    NROWS(addr_domain_cases));
	tcase_add_loop_test(tc, only_valid_domains_and_literals_are_domains, 0,
	    NROWS(addr_is_domain_cases));
	tcase_add_loop_test(tc, only_plain_local_parts_may_name_a_maildir, 0,
	    NROWS(addr_local_safe_cases));
	tcase_add_loop_test(tc, a_local_part_that_routes_is_seen, 0,
	    NROWS(addr_has_routing_cases));
	tcase_add_loop_test(tc, only_strict_utf8_characters_have_a_length, 0,
	    NROWS(addr_utf8_cases));
	suite_add_tcase(s, tc);
	return s;
}
