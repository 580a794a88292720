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

#define N	ADDR_F_NULL_OK
#define P	ADDR_F_POSTMASTER_OK

struct addr_case {
	const char	*in;
	int		 flags;
	const char	*out;		/* canonical mailbox, NULL if refused */
	const char	*rest;		/* what follows '>' when accepted */
};

#define OK(in, flags, out, rest)	{ in, flags, out, rest }
#define NO(in, flags)			{ in, flags, NULL, NULL }

static const struct addr_case addr_cases[] = {
	/* plain mailboxes */
	OK("<user@example.org>", 0, "user@example.org", ""),
	OK("<User@Example.ORG>", 0, "User@example.org", ""),
	OK("<a@B.EXAMPLE>", N | P, "a@b.example", ""),
	OK("<a.b.c@example.org>", 0, "a.b.c@example.org", ""),
	OK("<a+tag@example.org>", 0, "a+tag@example.org", ""),
	OK("<!#$%&'*+-/=?^_`{|}~@example.org>", 0,
	    "!#$%&'*+-/=?^_`{|}~@example.org", ""),
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
	OK("<@a.example,@b.example:u@c.example>", 0, "u@c.example", ""),
	OK("<@route:a@b>", 0, "a@b", ""),
	NO("<@a.example:>", N),
	NO("<@a.example u@c.example>", 0),
	NO("<@a.example,u@c.example>", 0),
	NO("<@[192.0.2.1]:u@c.example>", 0),
	NO("<@:u@c.example>", 0),
	NO("<@example.org>", 0),
	NO("<@a.example,:u@c.example>", 0),
	/* quoted local parts */
	OK("<\"john doe\"@example.org>", 0, "\"john doe\"@example.org", ""),
	OK("<\"a@b\"@Example.org>", 0, "\"a@b\"@example.org", ""),
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
	/* non-ASCII, for SMTPUTF8 later */
	NO("<a\xc3\xa9@example.org>", 0),
	NO("<a@ex\xc3\xa9mple.org>", 0),
	NO("<\"\xc3\xa9\"@example.org>", 0),
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
	int			 r;

	memset(out, 'X', sizeof(out));
	r = addr_parse_path(c->in, c->flags, out, sizeof(out), &rest, &why);
	if (c->out == NULL) {
		ck_assert_msg(r == -1, "row %d: %s accepted as %s", _i, c->in,
		    out);
		ck_assert_msg(why != NULL && *why != '\0',
		    "row %d: no reason given", _i);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_msg(r == 0, "row %d: %s refused (%s)", _i, c->in,
		    why ? why : "?");
		ck_assert_str_eq(out, c->out);
		ck_assert_str_eq(rest, c->rest);
	}
}
END_TEST

START_TEST(a_short_output_buffer_refuses_instead_of_truncating)
{
	char		 out[8];
	const char	*rest, *why;

	ck_assert_int_eq(addr_parse_path("<abcd@example.org>", 0, out,
	    sizeof(out), &rest, &why), -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(addr_parse_path("<abc@d.e>", 0, out, sizeof(out),
	    &rest, &why), 0);
	ck_assert_str_eq(out, "abc@d.e");
	ck_assert_int_eq(addr_parse_path("<a@b>", 0, out, 0, &rest, &why),
	    -1);
}
END_TEST

START_TEST(rest_and_why_may_be_null)
{
	char	 out[ADDR_MAX + 1];

	ck_assert_int_eq(addr_parse_path("<a@b>", 0, out, sizeof(out), NULL,
	    NULL), 0);
	ck_assert_int_eq(addr_parse_path("<a@>", 0, out, sizeof(out), NULL,
	    NULL), -1);
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
	{ "ex\xc3\xa9mple.org", 0 },
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
	tcase_add_test(tc, rest_and_why_may_be_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_loop_test(tc, the_domain_is_what_follows_the_last_at, 0,
	    NROWS(addr_domain_cases));
	tcase_add_loop_test(tc, only_valid_domains_and_literals_are_domains, 0,
	    NROWS(addr_is_domain_cases));
	tcase_add_loop_test(tc, only_plain_local_parts_may_name_a_maildir, 0,
	    NROWS(addr_local_safe_cases));
	suite_add_tcase(s, tc);
	return s;
}
