/*
 * check_smtpd_cmd - SMTP command lines to parsed commands or reply codes
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd_cmd.h"
#include "tests/unit/harness.h"

#define R2(s)		s s
#define R4(s)		R2(s) R2(s)
#define R7(s)		R4(s) R2(s) s
#define R8(s)		R4(s) R4(s)
#define R9(s)		R8(s) s
#define LABEL63(c)	R7(R9(c))
#define LABEL61(c)	R7(R8(c)) R4(c) c
#define LOCAL64		R8(R8("l"))
#define DOMAIN189	LABEL63("b") "." LABEL63("c") "." LABEL61("d")
#define HELO255		LABEL63("h") LABEL63("h") LABEL63("h") LABEL63("h") \
			"hhh"

#define FROM		"MAIL FROM:<a@b.example>"
#define MAX		10000ULL

struct cmd_case {
	const char		*line;
	unsigned long long	 max_size;
	int			 code;		/* 0: accepted */
	const char		*dsn;		/* enhanced code when refused */
	enum smtpd_verb		 verb;
	const char		*arg;		/* addr (MAIL, RCPT) or helo */
	unsigned long long	 size;
	int			 body;
};

#define OK(line, max, verb, arg, size, body) \
	{ line, max, 0, NULL, verb, arg, size, body }
#define NO(line, max, code, dsn) \
	{ line, max, code, dsn, SMTPD_C_HELO, NULL, 0, 0 }
#define B7	SMTPD_BODY_7BIT
#define B8	SMTPD_BODY_8BITMIME

static const struct cmd_case helo_cases[] = {
	OK("HELO mx.example.org", 0, SMTPD_C_HELO, "mx.example.org", 0, B7),
	OK("helo mx.example.org", 0, SMTPD_C_HELO, "mx.example.org", 0, B7),
	OK("HeLo mx", 0, SMTPD_C_HELO, "mx", 0, B7),
	OK("HELO  mx.example.org", 0, SMTPD_C_HELO, "mx.example.org", 0, B7),
	OK("HELO mx.example.org  ", 0, SMTPD_C_HELO, "mx.example.org", 0, B7),
	OK("HELO foo bar", 0, SMTPD_C_HELO, "foo bar", 0, B7),
	OK("HELO under_score!", 0, SMTPD_C_HELO, "under_score!", 0, B7),
	OK("EHLO mx.example.org", 0, SMTPD_C_EHLO, "mx.example.org", 0, B7),
	OK("ehlo MX.Example.Org", 0, SMTPD_C_EHLO, "MX.Example.Org", 0, B7),
	OK("EHLO [192.0.2.1]", 0, SMTPD_C_EHLO, "[192.0.2.1]", 0, B7),
	OK("EHLO [IPv6:2001:db8::1]", 0, SMTPD_C_EHLO, "[IPv6:2001:db8::1]",
	    0, B7),
	OK("EHLO " HELO255, 0, SMTPD_C_EHLO, HELO255, 0, B7),
	NO("EHLO " HELO255 "h", 0, 501, "5.5.4"),
	NO("HELO", 0, 501, "5.5.4"),
	NO("HELO ", 0, 501, "5.5.4"),
	NO("HELO    ", 0, 501, "5.5.4"),
	NO("EHLO", 0, 501, "5.5.4"),
	NO("EHLO\tmx.example.org", 0, 500, "5.5.2"),
	NO("EHLO mx.ex\xc3\xa9mple.org", 0, 500, "5.5.2"),
	NO("EHLO mx\r", 0, 500, "5.5.2"),
	NO("HELOmx.example.org", 0, 500, "5.5.1"),
	NO("EHLO: mx", 0, 500, "5.5.1"),
};

static const struct cmd_case mail_cases[] = {
	OK(FROM, 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK("mail from:<a@b.example>", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK("Mail From:<A@B.Example>", 0, SMTPD_C_MAIL, "A@b.example", 0, B7),
	OK("MAIL FROM: <a@b.example>", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK("MAIL  FROM:<a@b.example>", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK("MAIL FROM:<>", 0, SMTPD_C_MAIL, "", 0, B7),
	OK("MAIL FROM: <>", 0, SMTPD_C_MAIL, "", 0, B7),
	OK("MAIL FROM:<> SIZE=10", MAX, SMTPD_C_MAIL, "", 10, B7),
	OK("MAIL FROM:<@a.example:u@b.example>", 0, SMTPD_C_MAIL,
	    "u@b.example", 0, B7),
	OK("MAIL FROM:<\"john doe\"@example.org>", 0, SMTPD_C_MAIL,
	    "\"john doe\"@example.org", 0, B7),
	OK(FROM " ", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK(FROM " SIZE=1000", MAX, SMTPD_C_MAIL, "a@b.example", 1000, B7),
	OK(FROM " size=1000", MAX, SMTPD_C_MAIL, "a@b.example", 1000, B7),
	OK(FROM " SIZE=0", MAX, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK(FROM " SIZE=00000000000000000000000042", MAX, SMTPD_C_MAIL,
	    "a@b.example", 42, B7),
	OK(FROM " SIZE=10000", MAX, SMTPD_C_MAIL, "a@b.example", 10000, B7),
	OK(FROM " SIZE=18446744073709551615", 0, SMTPD_C_MAIL, "a@b.example",
	    ULLONG_MAX, B7),
	OK(FROM " BODY=8BITMIME", 0, SMTPD_C_MAIL, "a@b.example", 0, B8),
	OK(FROM " body=8bitmime", 0, SMTPD_C_MAIL, "a@b.example", 0, B8),
	OK(FROM " BODY=7BIT", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK(FROM " SIZE=100 BODY=8BITMIME", MAX, SMTPD_C_MAIL, "a@b.example",
	    100, B8),
	OK(FROM " BODY=8BITMIME SIZE=100", MAX, SMTPD_C_MAIL, "a@b.example",
	    100, B8),
	OK(FROM "  SIZE=100   BODY=8BITMIME  ", MAX, SMTPD_C_MAIL,
	    "a@b.example", 100, B8),
	NO(FROM " SIZE=10001", MAX, 552, "5.3.4"),
	NO(FROM " SIZE=18446744073709551615", MAX, 552, "5.3.4"),
	NO(FROM " SIZE=99999999999999999999999", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=18446744073709551616", 0, 501, "5.5.4"),
	NO(FROM " SIZE=", MAX, 501, "5.5.4"),
	NO(FROM " SIZE", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=12a", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=-1", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=+1", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=1 SIZE=2", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=20000 SIZE=1", MAX, 501, "5.5.4"),
	NO(FROM " SIZE=20000 FOO=1", MAX, 555, "5.5.4"),
	NO(FROM " SIZE=20000 =1", MAX, 501, "5.5.4"),
	NO(FROM " BODY=BINARYMIME", 0, 501, "5.5.4"),
	NO(FROM " BODY=8BIT", 0, 501, "5.5.4"),
	NO(FROM " BODY=", 0, 501, "5.5.4"),
	NO(FROM " BODY", 0, 501, "5.5.4"),
	NO(FROM " BODY=7BIT BODY=8BITMIME", 0, 501, "5.5.4"),
	NO(FROM " AUTH=<>", 0, 555, "5.5.4"),
	NO(FROM " SMTPUTF8", 0, 555, "5.5.4"),
	NO(FROM " RET=HDRS ENVID=x", 0, 555, "5.5.4"),
	NO(FROM " X-FOO=1", 0, 555, "5.5.4"),
	NO(FROM " =x", 0, 501, "5.5.4"),
	NO(FROM " -X=1", 0, 501, "5.5.4"),
	NO(FROM " X==1", 0, 501, "5.5.4"),
	NO(FROM " X_Y=1", 0, 501, "5.5.4"),
	NO(FROM "SIZE=1", 0, 501, "5.5.4"),
	NO(FROM ">", 0, 501, "5.5.4"),
	NO(FROM "\t", 0, 500, "5.5.2"),
	NO(FROM "\tSIZE=1", 0, 500, "5.5.2"),
	NO("MAIL FROM:  <a@b.example>", 0, 501, "5.1.7"),
	NO("MAIL FROM:a@b.example", 0, 501, "5.1.7"),
	NO("MAIL FROM:<a@b.example", 0, 501, "5.1.7"),
	NO("MAIL FROM:<a@b.>", 0, 501, "5.1.7"),
	NO("MAIL FROM:<postmaster>", 0, 501, "5.1.7"),
	NO("MAIL FROM:<a@[300.1.1.1]>", 0, 501, "5.1.7"),
	NO("MAIL FROM:<" LOCAL64 "l@b.example>", 0, 501, "5.1.7"),
	NO("MAIL FROM:<a\xc3\xa9@b.example>", 0, 500, "5.5.2"),
	NO("MAIL FROM:", 0, 501, "5.5.4"),
	NO("MAIL FROM: ", 0, 501, "5.5.4"),
	NO("MAIL", 0, 501, "5.5.4"),
	NO("MAIL ", 0, 501, "5.5.4"),
	NO("MAIL TO:<a@b.example>", 0, 501, "5.5.4"),
	NO("MAIL FROM <a@b.example>", 0, 501, "5.5.4"),
	NO("MAIL FROM :<a@b.example>", 0, 501, "5.5.4"),
	NO("MAIL FRO:<a@b.example>", 0, 501, "5.5.4"),
	NO("MAILFROM:<a@b.example>", 0, 500, "5.5.1"),
};

static const struct cmd_case rcpt_cases[] = {
	OK("RCPT TO:<a@b.example>", 0, SMTPD_C_RCPT, "a@b.example", 0, B7),
	OK("rcpt to:<A@B.Example>", 0, SMTPD_C_RCPT, "A@b.example", 0, B7),
	OK("RCPT TO: <a@b.example>", 0, SMTPD_C_RCPT, "a@b.example", 0, B7),
	OK("RCPT TO:<a@b.example> ", 0, SMTPD_C_RCPT, "a@b.example", 0, B7),
	OK("RCPT TO:<postmaster>", 0, SMTPD_C_RCPT, "postmaster", 0, B7),
	OK("RCPT TO:<Postmaster>", 0, SMTPD_C_RCPT, "postmaster", 0, B7),
	OK("RCPT TO:<@route:a@b>", 0, SMTPD_C_RCPT, "a@b", 0, B7),
	OK("RCPT TO:<a@[IPv6:::1]>", 0, SMTPD_C_RCPT, "a@[IPv6:::1]", 0, B7),
	OK("RCPT TO:<a@[192.0.2.1]>", 0, SMTPD_C_RCPT, "a@[192.0.2.1]", 0,
	    B7),
	OK("RCPT TO:<" LOCAL64 "@" DOMAIN189 ">", 0, SMTPD_C_RCPT,
	    LOCAL64 "@" DOMAIN189, 0, B7),
	NO("RCPT TO:<" LOCAL64 "@" DOMAIN189 "d>", 0, 501, "5.1.3"),
	NO("RCPT TO:<" LOCAL64 "l@b.example>", 0, 501, "5.1.3"),
	NO("RCPT TO:<a@" LABEL63("x") "x.example>", 0, 501, "5.1.3"),
	NO("RCPT TO:<>", 0, 501, "5.1.3"),
	NO("RCPT TO:a@b.example", 0, 501, "5.1.3"),
	NO("RCPT TO:<a@b.>", 0, 501, "5.1.3"),
	NO("RCPT TO:<a@[300.1.1.1]>", 0, 501, "5.1.3"),
	NO("RCPT TO:<a..b@b.example>", 0, 501, "5.1.3"),
	NO("RCPT TO:<a@b.example> NOTIFY=NEVER", 0, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> SIZE=1", MAX, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> ORCPT=rfc822;a@b.example", 0, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> =1", 0, 501, "5.5.4"),
	NO("RCPT TO:<a@b.example>x", 0, 501, "5.5.4"),
	NO("RCPT TO:", 0, 501, "5.5.4"),
	NO("RCPT", 0, 501, "5.5.4"),
	NO("RCPT FROM:<a@b.example>", 0, 501, "5.5.4"),
	NO("RCPT TO :<a@b.example>", 0, 501, "5.5.4"),
};

static const struct cmd_case other_cases[] = {
	OK("DATA", 0, SMTPD_C_DATA, "", 0, B7),
	OK("data", 0, SMTPD_C_DATA, "", 0, B7),
	OK("DATA ", 0, SMTPD_C_DATA, "", 0, B7),
	NO("DATA x", 0, 501, "5.5.4"),
	NO("DATAX", 0, 500, "5.5.1"),
	OK("RSET", 0, SMTPD_C_RSET, "", 0, B7),
	OK("rset", 0, SMTPD_C_RSET, "", 0, B7),
	NO("RSET now", 0, 501, "5.5.4"),
	OK("QUIT", 0, SMTPD_C_QUIT, "", 0, B7),
	OK("Quit", 0, SMTPD_C_QUIT, "", 0, B7),
	NO("QUIT now", 0, 501, "5.5.4"),
	OK("NOOP", 0, SMTPD_C_NOOP, "", 0, B7),
	OK("noop anything at all", 0, SMTPD_C_NOOP, "", 0, B7),
	OK("VRFY user", 0, SMTPD_C_VRFY, "", 0, B7),
	OK("VRFY <a@b.example>", 0, SMTPD_C_VRFY, "", 0, B7),
	NO("VRFY", 0, 501, "5.5.4"),
	NO("VRFY ", 0, 501, "5.5.4"),
	OK("HELP", 0, SMTPD_C_HELP, "", 0, B7),
	OK("help mail", 0, SMTPD_C_HELP, "", 0, B7),
	NO("EXPN staff", 0, 502, "5.5.1"),
	NO("TURN", 0, 502, "5.5.1"),
	NO("ETRN example.org", 0, 502, "5.5.1"),
	NO("SEND FROM:<a@b.example>", 0, 502, "5.5.1"),
	NO("SOML FROM:<a@b.example>", 0, 502, "5.5.1"),
	NO("SAML FROM:<a@b.example>", 0, 502, "5.5.1"),
	NO("BDAT 100 LAST", 0, 502, "5.5.1"),
	NO("STARTTLS", 0, 502, "5.5.1"),
	NO("starttls", 0, 502, "5.5.1"),
	NO("AUTH PLAIN AGFAYg==", 0, 502, "5.5.1"),
	NO("FOO", 0, 500, "5.5.1"),
	NO("XCLIENT ADDR=192.0.2.1", 0, 500, "5.5.1"),
	NO("GET / HTTP/1.1", 0, 500, "5.5.1"),
	NO("HEL", 0, 500, "5.5.1"),
	NO("HELLO x", 0, 500, "5.5.1"),
	NO("", 0, 500, "5.5.2"),
	NO("   ", 0, 500, "5.5.2"),
	NO(" HELO mx.example.org", 0, 500, "5.5.2"),
	NO("\x80", 0, 500, "5.5.2"),
	NO("NOOP \xff", 0, 500, "5.5.2"),
	NO("QUIT\x7f", 0, 500, "5.5.2"),
	NO("QUIT\x1b[0m", 0, 500, "5.5.2"),
	NO("DATA\n", 0, 500, "5.5.2"),
};

static void
check_cmd_row(const struct cmd_case *c, int i)
{
	struct smtpd_cmd	 cmd;
	char			 reply[512];
	int			 r;

	memset(reply, 0, sizeof(reply));
	r = smtpd_cmd_parse(c->line, c->max_size, &cmd, reply, sizeof(reply));
	if (c->code == 0) {
		ck_assert_msg(r == 0, "row %d: \"%s\" refused: %s", i, c->line,
		    reply);
		ck_assert_msg(cmd.verb == c->verb, "row %d: verb %d, want %d",
		    i, (int)cmd.verb, (int)c->verb);
		if (c->verb == SMTPD_C_HELO || c->verb == SMTPD_C_EHLO) {
			ck_assert_str_eq(cmd.helo, c->arg);
			ck_assert_str_eq(cmd.addr, "");
		} else {
			ck_assert_str_eq(cmd.addr, c->arg);
			ck_assert_str_eq(cmd.helo, "");
		}
		ck_assert_msg(cmd.size == c->size, "row %d: size %llu", i,
		    cmd.size);
		ck_assert_int_eq(cmd.body, c->body);
	} else {
		char	 want[64];

		ck_assert_msg(r == -1, "row %d: \"%s\" accepted", i, c->line);
		snprintf(want, sizeof(want), "%d %s ", c->code, c->dsn);
		ck_assert_msg(strncmp(reply, want, strlen(want)) == 0,
		    "row %d: \"%s\" got \"%s\", want \"%s...\"", i, c->line,
		    reply, want);
		ck_assert_msg(strchr(reply, '\r') == NULL &&
		    strchr(reply, '\n') == NULL, "row %d: CRLF in reply", i);
	}
}

START_TEST(helo_and_ehlo_take_any_printable_name_up_to_255)
{
	check_cmd_row(&helo_cases[_i], _i);
}
END_TEST

START_TEST(mail_from_reads_the_path_size_and_body)
{
	check_cmd_row(&mail_cases[_i], _i);
}
END_TEST

START_TEST(rcpt_to_reads_the_path_and_refuses_every_parameter)
{
	check_cmd_row(&rcpt_cases[_i], _i);
}
END_TEST

START_TEST(other_verbs_take_the_arguments_the_rfc_allows)
{
	check_cmd_row(&other_cases[_i], _i);
}
END_TEST

struct reply_case {
	const char	*line;
	const char	*reply;
};

static const struct reply_case reply_cases[] = {
	{ "EHLO", "501 5.5.4 Syntax: EHLO hostname" },
	{ "HELO", "501 5.5.4 Syntax: HELO hostname" },
	{ "DATA now", "501 5.5.4 Syntax: DATA" },
	{ "RSET now", "501 5.5.4 Syntax: RSET" },
	{ "QUIT now", "501 5.5.4 Syntax: QUIT" },
	{ "MAIL FROM:<a@b.>", "501 5.1.7 Bad sender address syntax" },
	{ "RCPT TO:<>", "501 5.1.3 Bad recipient address syntax" },
	{ FROM " SIZE=10001", "552 5.3.4 Message size exceeds fixed limit" },
	{ "EXPN staff", "502 5.5.1 Command not implemented" },
	{ "FOO", "500 5.5.1 Command unrecognized" },
};

START_TEST(replies_carry_the_documented_text)
{
	const struct reply_case	*c = &reply_cases[_i];
	struct smtpd_cmd	 cmd;
	char			 reply[512];

	ck_assert_int_eq(smtpd_cmd_parse(c->line, MAX, &cmd, reply,
	    sizeof(reply)), -1);
	ck_assert_str_eq(reply, c->reply);
}
END_TEST

START_TEST(a_second_parse_starts_from_a_clean_command)
{
	struct smtpd_cmd	 cmd;
	char			 reply[512];

	ck_assert_int_eq(smtpd_cmd_parse(FROM " SIZE=5 BODY=8BITMIME", MAX,
	    &cmd, reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtpd_cmd_parse("EHLO mx", MAX, &cmd, reply,
	    sizeof(reply)), 0);
	ck_assert_str_eq(cmd.addr, "");
	ck_assert(cmd.size == 0);
	ck_assert_int_eq(cmd.body, SMTPD_BODY_7BIT);
	ck_assert_int_eq(smtpd_cmd_parse(FROM " FOO=1", MAX, &cmd, reply,
	    sizeof(reply)), -1);
	ck_assert_str_eq(cmd.addr, "");
}
END_TEST

START_TEST(a_reply_buffer_too_small_is_a_bug)
{
	struct smtpd_cmd	 cmd;
	char			 reply[8];

	(void)smtpd_cmd_parse("FOO", MAX, &cmd, reply, sizeof(reply));
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

Suite *
smtpd_cmd_suite(void)
{
	Suite	*s = suite_create("smtpd_cmd");
	TCase	*tc;

	tc = tcase_create("table");
	tcase_add_loop_test(tc, helo_and_ehlo_take_any_printable_name_up_to_255,
	    0, NROWS(helo_cases));
	tcase_add_loop_test(tc, mail_from_reads_the_path_size_and_body, 0,
	    NROWS(mail_cases));
	tcase_add_loop_test(tc,
	    rcpt_to_reads_the_path_and_refuses_every_parameter, 0,
	    NROWS(rcpt_cases));
	tcase_add_loop_test(tc, other_verbs_take_the_arguments_the_rfc_allows,
	    0, NROWS(other_cases));
	tcase_add_loop_test(tc, replies_carry_the_documented_text, 0,
	    NROWS(reply_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_test(tc, a_second_parse_starts_from_a_clean_command);
	/* Without fork an exit test would end the whole runner. */
	if (getenv("CK_FORK") == NULL || strcmp(getenv("CK_FORK"), "no") != 0)
		tcase_add_exit_test(tc, a_reply_buffer_too_small_is_a_bug, 1);
	suite_add_tcase(s, tc);
	return s;
}
