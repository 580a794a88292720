/*
 * check_smtpd_cmd - SMTP command lines to parsed commands or reply codes
 *
 * The first tables hold what RFC 5321 alone defines, checked for verb,
 * path, SIZE and BODY; the extension tables after them check every field
 * a line may fill, and the relay tricks check what the session needs to
 * refuse routing it would otherwise pass on.
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
#define R5(s)		R4(s) s
#define R10(s)		R5(R2(s))
#define X100(s)		R10(R10(s))
#define X500(s)		R5(X100(s))
#define B64_512		R8(R8(R2("QUJD")))	/* 128 groups of four */

/* UTF-8: o-umlaut, and an overlong '/' that no decoder may accept */
#define OU		"\xc3\xb6"
#define OVERLONG	"\xc0\xaf"

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
#define BB	SMTPD_BODY_BINARYMIME

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
	OK(FROM " BODY=BINARYMIME", 0, SMTPD_C_MAIL, "a@b.example", 0, BB),
	OK(FROM " body=binarymime", 0, SMTPD_C_MAIL, "a@b.example", 0, BB),
	NO(FROM " BODY=8BIT", 0, 501, "5.5.4"),
	NO(FROM " BODY=", 0, 501, "5.5.4"),
	NO(FROM " BODY", 0, 501, "5.5.4"),
	NO(FROM " BODY=7BIT BODY=8BITMIME", 0, 501, "5.5.4"),
	OK(FROM " AUTH=<>", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK(FROM " SMTPUTF8", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	OK(FROM " RET=HDRS ENVID=x", 0, SMTPD_C_MAIL, "a@b.example", 0, B7),
	NO(FROM " NOTIFY=NEVER", 0, 555, "5.5.4"),
	NO(FROM " ORCPT=rfc822;a@b.example", 0, 555, "5.5.4"),
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
	NO("MAIL FROM:<a\xc3\xa9@b.example>", 0, 553, "5.6.7"),
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
	OK("RCPT TO:<a@b.example> NOTIFY=NEVER", 0, SMTPD_C_RCPT,
	    "a@b.example", 0, B7),
	OK("RCPT TO:<a@b.example> ORCPT=rfc822;a@b.example", 0, SMTPD_C_RCPT,
	    "a@b.example", 0, B7),
	NO("RCPT TO:<a@b.example> SIZE=1", MAX, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> BODY=8BITMIME", 0, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> SMTPUTF8", 0, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> AUTH=<>", 0, 555, "5.5.4"),
	NO("RCPT TO:<a@b.example> RET=FULL", 0, 555, "5.5.4"),
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
	OK("BDAT 100 LAST", 0, SMTPD_C_BDAT, "", 0, B7),
	OK("STARTTLS", 0, SMTPD_C_STARTTLS, "", 0, B7),
	OK("starttls", 0, SMTPD_C_STARTTLS, "", 0, B7),
	OK("AUTH PLAIN AGFAYg==", 0, SMTPD_C_AUTH, "", 0, B7),
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
	char			 reply[64];	/* what the header promises */
	int			 r;

	memset(reply, 0, sizeof(reply));
	r = smtpd_cmd_parse(c->line, c->max_size, 0, &cmd, reply,
	    sizeof(reply));
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

START_TEST(rcpt_to_reads_the_path_and_refuses_mail_parameters)
{
	check_cmd_row(&rcpt_cases[_i], _i);
}
END_TEST

START_TEST(other_verbs_take_the_arguments_the_rfc_allows)
{
	check_cmd_row(&other_cases[_i], _i);
}
END_TEST

/*
 * The extensions: every field of struct smtpd_cmd is checked, a NULL
 * string meaning "" and an unnamed number 0. A refused row names only the
 * code and the enhanced code.
 */
struct ext_case {
	const char		*line;
	int			 flags;		/* SMTPD_CMD_F_* */
	unsigned long long	 max_size;
	int			 code;		/* 0: accepted */
	const char		*dsn;
	enum smtpd_verb		 verb;
	const char		*addr;
	unsigned int		 addr_info;
	unsigned int		 params;
	unsigned long long	 size;
	int			 body;
	int			 ret;
	const char		*envid, *envid_x, *auth_addr;
	unsigned int		 notify;
	int			 orcpt_type;
	const char		*orcpt, *orcpt_x;
	const char		*mech, *resp;
	unsigned long long	 chunk_size;
	int			 chunk_last;
};

#define XNO(l, f, c, d)		{ .line = l, .flags = f, .code = c, .dsn = d }
#define F8			SMTPD_CMD_F_UTF8
#define IR			ADDR_I_ROUTE
#define IL			ADDR_I_ROUTING
#define IU			ADDR_I_UTF8
#define PSIZE			SMTPD_P_SIZE
#define PBODY			SMTPD_P_BODY
#define PUTF8			SMTPD_P_SMTPUTF8
#define PRET			SMTPD_P_RET
#define PENVID			SMTPD_P_ENVID
#define PAUTH			SMTPD_P_AUTH
#define PNOTIFY			SMTPD_P_NOTIFY
#define PORCPT			SMTPD_P_ORCPT

#define MAILX(l, ...)	{ .line = l, .verb = SMTPD_C_MAIL, __VA_ARGS__ }
#define RCPTX(l, ...)	{ .line = l, .verb = SMTPD_C_RCPT, __VA_ARGS__ }
#define AB		.addr = "a@b.example"

static const struct ext_case verb_ext_cases[] = {
	/* STARTTLS (RFC 3207) takes nothing */
	{ .line = "STARTTLS", .verb = SMTPD_C_STARTTLS },
	{ .line = "StartTLS  ", .verb = SMTPD_C_STARTTLS },
	XNO("STARTTLS now", 0, 501, "5.5.4"),
	XNO("STARTTLS =", 0, 501, "5.5.4"),
	XNO("STARTTLS\t", 0, 500, "5.5.2"),
	XNO("STARTTLSX", 0, 500, "5.5.1"),
	XNO("STARTTLS \xc3\xa9", 0, 500, "5.5.2"),
	/* AUTH mechanism [initial-response] (RFC 4954) */
	{ .line = "AUTH PLAIN", .verb = SMTPD_C_AUTH, .mech = "PLAIN" },
	{ .line = "auth plain", .verb = SMTPD_C_AUTH, .mech = "PLAIN" },
	{ .line = "AUTH login", .verb = SMTPD_C_AUTH, .mech = "LOGIN" },
	{ .line = "AUTH PLAIN AGFsaWNlAHNlY3JldA==", .verb = SMTPD_C_AUTH,
	    .mech = "PLAIN", .resp = "AGFsaWNlAHNlY3JldA==" },
	{ .line = "AUTH  PLAIN   AGFsaWNlAHNlY3JldA==  ", .verb = SMTPD_C_AUTH,
	    .mech = "PLAIN", .resp = "AGFsaWNlAHNlY3JldA==" },
	{ .line = "AUTH PLAIN =", .verb = SMTPD_C_AUTH, .mech = "PLAIN",
	    .resp = "=" },
	{ .line = "AUTH LOGIN dXNlcg==", .verb = SMTPD_C_AUTH, .mech = "LOGIN",
	    .resp = "dXNlcg==" },
	{ .line = "AUTH PLAIN YWJj", .verb = SMTPD_C_AUTH, .mech = "PLAIN",
	    .resp = "YWJj" },
	{ .line = "AUTH PLAIN YWI=", .verb = SMTPD_C_AUTH, .mech = "PLAIN",
	    .resp = "YWI=" },
	{ .line = "AUTH PLAIN a+/9", .verb = SMTPD_C_AUTH, .mech = "PLAIN",
	    .resp = "a+/9" },
	{ .line = "AUTH cram-md5", .verb = SMTPD_C_AUTH, .mech = "CRAM-MD5" },
	{ .line = "AUTH SCRAM-SHA-256-PLUS", .verb = SMTPD_C_AUTH,
	    .mech = "SCRAM-SHA-256-PLUS" },
	{ .line = "AUTH X_9-z", .verb = SMTPD_C_AUTH, .mech = "X_9-Z" },
	{ .line = "AUTH ABCDEFGHIJKLMNOPQRST", .verb = SMTPD_C_AUTH,
	    .mech = "ABCDEFGHIJKLMNOPQRST" },
	{ .line = "AUTH PLAIN " B64_512, .verb = SMTPD_C_AUTH,
	    .mech = "PLAIN", .resp = B64_512 },
	XNO("AUTH PLAIN " B64_512 "QUJD", 0, 500, "5.5.6"),
	XNO("AUTH", 0, 501, "5.5.4"),
	XNO("AUTH ", 0, 501, "5.5.4"),
	XNO("AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 501, "5.5.4"),
	XNO("AUTH PL@IN", 0, 501, "5.5.4"),
	XNO("AUTH PLAIN+", 0, 501, "5.5.4"),
	XNO("AUTH =", 0, 501, "5.5.4"),
	XNO("AUTH PLAIN YWJj extra", 0, 501, "5.5.4"),
	XNO("AUTH PLAIN = =", 0, 501, "5.5.4"),
	XNO("AUTH PLAIN abc", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN ab=c", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN a===", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN ====", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN ab=x", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN ab==YWJj", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN ==", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN *", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN a-b_", 0, 501, "5.5.2"),	/* base64url */
	XNO("AUTH PLAIN YW!j", 0, 501, "5.5.2"),
	XNO("AUTH PLAIN YWJj\xc3\xa9", 0, 500, "5.5.2"),
	XNO("AUTH PLAIN\tYWJj", 0, 500, "5.5.2"),
	/* BDAT chunk-size [LAST] (RFC 3030): every refusal is 521 */
	{ .line = "BDAT 100", .verb = SMTPD_C_BDAT, .chunk_size = 100 },
	{ .line = "BDAT 100 LAST", .verb = SMTPD_C_BDAT, .chunk_size = 100,
	    .chunk_last = 1 },
	{ .line = "bdat 0 last", .verb = SMTPD_C_BDAT, .chunk_last = 1 },
	{ .line = "BDAT 0", .verb = SMTPD_C_BDAT },
	{ .line = "BDAT 00042 Last", .verb = SMTPD_C_BDAT, .chunk_size = 42,
	    .chunk_last = 1 },
	{ .line = "BDAT  7   LAST  ", .verb = SMTPD_C_BDAT, .chunk_size = 7,
	    .chunk_last = 1 },
	{ .line = "BDAT 9223372036854775807", .verb = SMTPD_C_BDAT,
	    .chunk_size = 9223372036854775807ULL },
	XNO("BDAT 9223372036854775808", 0, 521, "5.5.4"),
	XNO("BDAT 18446744073709551616", 0, 521, "5.5.4"),
	XNO("BDAT 99999999999999999999999999", 0, 521, "5.5.4"),
	XNO("BDAT", 0, 521, "5.5.4"),
	XNO("BDAT ", 0, 521, "5.5.4"),
	XNO("BDAT LAST", 0, 521, "5.5.4"),
	XNO("BDAT -1", 0, 521, "5.5.4"),
	XNO("BDAT +1", 0, 521, "5.5.4"),
	XNO("BDAT 1x", 0, 521, "5.5.4"),
	XNO("BDAT 0x10", 0, 521, "5.5.4"),
	XNO("BDAT 1,000", 0, 521, "5.5.4"),
	XNO("BDAT 1 FIRST", 0, 521, "5.5.4"),
	XNO("BDAT 1 LASTX", 0, 521, "5.5.4"),
	XNO("BDAT 1 LAST x", 0, 521, "5.5.4"),
	XNO("BDAT 1 LAST LAST", 0, 521, "5.5.4"),
	XNO("BDAT 1\t", 0, 521, "5.5.4"),
	XNO("BDAT 1 L\xc3\x84ST", 0, 521, "5.5.4"),
	XNO("bdat 1\x7f", 0, 521, "5.5.4"),
	XNO("BDATX 1", 0, 500, "5.5.1"),
};

static const struct ext_case mail_ext_cases[] = {
	/* BODY=BINARYMIME is recorded; the session ties it to BDAT */
	MAILX(FROM " BODY=BINARYMIME", AB, .params = PBODY, .body = BB),
	/* SMTPUTF8 (RFC 6531), and the UTF-8 path it allows */
	MAILX(FROM " SMTPUTF8", AB, .params = PUTF8),
	MAILX(FROM " smtputf8", AB, .params = PUTF8),
	MAILX("MAIL FROM:<> SMTPUTF8", .params = PUTF8),
	MAILX("MAIL FROM:<j" OU "rg@ex" OU "mple.org> SMTPUTF8",
	    .addr = "j" OU "rg@ex" OU "mple.org", .addr_info = IU,
	    .params = PUTF8),
	MAILX("MAIL FROM:<j" OU "rg@Example.ORG> BODY=8BITMIME SMTPUTF8",
	    .addr = "j" OU "rg@example.org", .addr_info = IU,
	    .params = PBODY | PUTF8, .body = B8),
	XNO("MAIL FROM:<j" OU "rg@example.org>", 0, 553, "5.6.7"),
	XNO("MAIL FROM:<a@ex" OU "mple.org>", 0, 553, "5.6.7"),
	XNO("MAIL FROM:<j" OU "rg@example.org> BODY=8BITMIME", 0, 553,
	    "5.6.7"),
	XNO("MAIL FROM:<j" OU "rg@example.org>", F8, 553, "5.6.7"),
	XNO("MAIL FROM:<j" OVERLONG "rg@example.org> SMTPUTF8", 0, 501,
	    "5.1.7"),
	XNO("MAIL FROM:<j" OVERLONG "rg@example.org>", 0, 501, "5.1.7"),
	XNO("MAIL FROM:<a\xc2\x85@example.org> SMTPUTF8", 0, 501, "5.1.7"),
	XNO("MAIL FROM:<a\xed\xa0\x80@example.org> SMTPUTF8", 0, 501, "5.1.7"),
	XNO("MAIL FROM:<a@[" OU "]> SMTPUTF8", 0, 501, "5.1.7"),
	XNO(FROM " SMTPUTF8=yes", 0, 501, "5.5.4"),
	XNO(FROM " SMTPUTF8 SMTPUTF8", 0, 501, "5.5.4"),
	XNO(FROM " SMTPUTF8 smtputf8", 0, 501, "5.5.4"),
	/* a syntax fault wins over 553, and 553 over 552 */
	XNO("MAIL FROM:<j" OU "rg@example.org> FOO=1", 0, 555, "5.5.4"),
	XNO("MAIL FROM:<j" OU "rg@example.org> SIZE=x", 0, 501, "5.5.4"),
	{ .line = "MAIL FROM:<j" OU "rg@example.org> SIZE=20000",
	    .max_size = MAX, .code = 553, .dsn = "5.6.7" },
	{ .line = FROM " SMTPUTF8 SIZE=20000", .max_size = MAX, .code = 552,
	    .dsn = "5.3.4" },
	/* 8-bit octets only in the path */
	XNO(FROM " X=\xc3\xa9", 0, 555, "5.5.4"),
	XNO(FROM " SIZE=1\xc3\xa9", 0, 501, "5.5.4"),
	XNO(FROM " SMTPUTF8 ENVID=\xc3\xa9", 0, 501, "5.5.4"),
	XNO(FROM " SMTPUTF8 AUTH=j" OU "rg@example.org", 0, 501, "5.5.4"),
	XNO(FROM "\xc3\xa9", 0, 501, "5.5.4"),
	XNO(FROM " \xc3\xa9", 0, 501, "5.5.4"),
	XNO("MAIL FR\xc3\x93M:<a@b.example>", 0, 501, "5.5.4"),
	XNO("MAIL\xc3\xa9 FROM:<a@b.example>", 0, 500, "5.5.2"),
	/* RET= (RFC 3461 4.3) */
	MAILX(FROM " RET=FULL", AB, .params = PRET, .ret = SMTPD_RET_FULL),
	MAILX(FROM " ret=hdrs", AB, .params = PRET, .ret = SMTPD_RET_HDRS),
	XNO(FROM " RET=", 0, 501, "5.5.4"),
	XNO(FROM " RET", 0, 501, "5.5.4"),
	XNO(FROM " RET=NONE", 0, 501, "5.5.4"),
	XNO(FROM " RET=FUL", 0, 501, "5.5.4"),
	XNO(FROM " RET=FULLY", 0, 501, "5.5.4"),
	XNO(FROM " RET=FULL RET=HDRS", 0, 501, "5.5.4"),
	XNO(FROM " RET=FULL,HDRS", 0, 501, "5.5.4"),
	/* ENVID=xtext, at most 100 decoded (RFC 3461 4.4) */
	MAILX(FROM " ENVID=QQ314159", AB, .params = PENVID,
	    .envid = "QQ314159", .envid_x = "QQ314159"),
	MAILX(FROM " ENVID=a+2Bb+20c+3D", AB, .params = PENVID,
	    .envid = "a+b c=", .envid_x = "a+2Bb+20c+3D"),
	MAILX(FROM " ENVID=" X100("e"), AB, .params = PENVID,
	    .envid = X100("e"), .envid_x = X100("e")),
	MAILX(FROM " ENVID=" X100("+41"), AB, .params = PENVID,
	    .envid = X100("A"), .envid_x = X100("+41")),
	XNO(FROM " ENVID=" X100("e") "e", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=" X100("+41") "e", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=", 0, 501, "5.5.4"),
	XNO(FROM " ENVID", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=a+0D+0Ab", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=a+0Ab", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=+00", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=+09", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=+7F", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=a+2b", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=a+", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=a+4", 0, 501, "5.5.4"),
	XNO(FROM " SMTPUTF8 ENVID=+C3+A9", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=x ENVID=y", 0, 501, "5.5.4"),
	XNO(FROM " ENVID=x envid=x", 0, 501, "5.5.4"),
	/* AUTH=xtext mailbox or <> (RFC 4954 5) */
	MAILX(FROM " AUTH=<>", AB, .params = PAUTH),
	MAILX(FROM " AUTH=e+3Dmc2@example.com", AB, .params = PAUTH,
	    .auth_addr = "e=mc2@example.com"),
	MAILX(FROM " auth=User@Example.COM", AB, .params = PAUTH,
	    .auth_addr = "User@example.com"),
	MAILX(FROM " AUTH=+22john+20doe+22@example.org", AB, .params = PAUTH,
	    .auth_addr = "\"john doe\"@example.org"),
	MAILX(FROM " AUTH=+3C+3E", AB, .params = PAUTH),
	MAILX(FROM " SMTPUTF8 AUTH=j+C3+B6rg@example.org", AB,
	    .params = PUTF8 | PAUTH, .auth_addr = "j" OU "rg@example.org"),
	MAILX(FROM " AUTH=j+C3+B6rg@example.org SMTPUTF8", AB,
	    .params = PUTF8 | PAUTH, .auth_addr = "j" OU "rg@example.org"),
	XNO(FROM " AUTH=j+C3+B6rg@example.org", 0, 501, "5.5.4"),
	XNO(FROM " SMTPUTF8 AUTH=j+C0+AFrg@example.org", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=", 0, 501, "5.5.4"),
	XNO(FROM " AUTH", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=user", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=postmaster", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=<user@example.org>", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=@r.example:u@example.org", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=u@example.org+3Ex", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=u+0A@example.org", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=u+20v@example.org", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=u@example.org+0D+0AX", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=<> AUTH=<>", 0, 501, "5.5.4"),
	XNO(FROM " AUTH=u@b.example auth=<>", 0, 501, "5.5.4"),
	/* all of them at once */
	MAILX(FROM " SIZE=100 BODY=8BITMIME RET=HDRS ENVID=abc AUTH=<> "
	    "SMTPUTF8", .max_size = MAX, AB,
	    .params = PSIZE | PBODY | PRET | PENVID | PAUTH | PUTF8,
	    .size = 100, .body = B8, .ret = SMTPD_RET_HDRS, .envid = "abc",
	    .envid_x = "abc"),
	/* what the path held besides the mailbox */
	MAILX("MAIL FROM:<@r.example:u@example.org>",
	    .addr = "u@example.org", .addr_info = IR),
	MAILX("MAIL FROM:<u%v@example.org>", .addr = "u%v@example.org",
	    .addr_info = IL),
	XNO(FROM " NOTIFY=NEVER", 0, 555, "5.5.4"),
};

static const struct ext_case rcpt_ext_cases[] = {
	/* NOTIFY= (RFC 3461 4.1) */
	RCPTX("RCPT TO:<a@b.example> NOTIFY=NEVER", AB, .params = PNOTIFY,
	    .notify = SMTPD_NOTIFY_NEVER),
	RCPTX("RCPT TO:<a@b.example> NOTIFY=FAILURE", AB, .params = PNOTIFY,
	    .notify = SMTPD_NOTIFY_FAILURE),
	RCPTX("RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY", AB,
	    .params = PNOTIFY, .notify = SMTPD_NOTIFY_SUCCESS |
	    SMTPD_NOTIFY_FAILURE | SMTPD_NOTIFY_DELAY),
	RCPTX("RCPT TO:<a@b.example> notify=delay,Success", AB,
	    .params = PNOTIFY, .notify = SMTPD_NOTIFY_SUCCESS |
	    SMTPD_NOTIFY_DELAY),
	XNO("RCPT TO:<a@b.example> NOTIFY=", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=DELAY,NEVER", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=NEVER,NEVER", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=SUCCESS,success", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=SUCCESS,", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=,SUCCESS", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=SUCCESS,,DELAY", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=,", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=ALWAYS", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=SUCCESS;FAILURE", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER", 0, 501,
	    "5.5.4"),
	/* ORCPT=addr-type;value (RFC 3461 4.2, RFC 6533) */
	RCPTX("RCPT TO:<a@b.example> ORCPT=rfc822;a@b.example", AB,
	    .params = PORCPT, .orcpt_type = SMTPD_ORCPT_RFC822,
	    .orcpt = "a@b.example", .orcpt_x = "a@b.example"),
	RCPTX("RCPT TO:<a@b.example> orcpt=RFC822;user+2Btag@example.org", AB,
	    .params = PORCPT, .orcpt_type = SMTPD_ORCPT_RFC822,
	    .orcpt = "user+tag@example.org",
	    .orcpt_x = "user+2Btag@example.org"),
	RCPTX("RCPT TO:<a@b.example> ORCPT=rfc822;+22john+20doe+22@b.example",
	    AB, .params = PORCPT, .orcpt_type = SMTPD_ORCPT_RFC822,
	    .orcpt = "\"john doe\"@b.example",
	    .orcpt_x = "+22john+20doe+22@b.example"),
	RCPTX("RCPT TO:<a@b.example> ORCPT=rfc822;a;b", AB, .params = PORCPT,
	    .orcpt_type = SMTPD_ORCPT_RFC822, .orcpt = "a;b",
	    .orcpt_x = "a;b"),
	RCPTX("RCPT TO:<a@b.example> ORCPT=utf-8;j\\x{F6}rg@b.example", AB,
	    .params = PORCPT, .orcpt_type = SMTPD_ORCPT_UTF8,
	    .orcpt = "j" OU "rg@b.example", .orcpt_x = "j\\x{F6}rg@b.example"),
	RCPTX("RCPT TO:<a@b.example> ORCPT=UTF-8;a@b.example", AB,
	    .params = PORCPT, .orcpt_type = SMTPD_ORCPT_UTF8,
	    .orcpt = "a@b.example", .orcpt_x = "a@b.example"),
	RCPTX("RCPT TO:<a@b.example> ORCPT=utf-8;j" OU "rg@b.example", AB,
	    .flags = F8, .params = PORCPT, .orcpt_type = SMTPD_ORCPT_UTF8,
	    .orcpt = "j" OU "rg@b.example", .orcpt_x = "j" OU "rg@b.example"),
	RCPTX("RCPT TO:<a@b.example> ORCPT=rfc822;" X500("x"), AB,
	    .params = PORCPT, .orcpt_type = SMTPD_ORCPT_RFC822,
	    .orcpt = X500("x"), .orcpt_x = X500("x")),
	RCPTX("RCPT TO:<a@b.example> ORCPT=rfc822;" X500("+41"), AB,
	    .params = PORCPT, .orcpt_type = SMTPD_ORCPT_RFC822,
	    .orcpt = X500("A"), .orcpt_x = X500("+41")),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;" X500("x") "x", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;" X500("+41") "x", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=utf-8;j" OU "rg@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;j" OU "rg@b.example", F8, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;+C3+B6@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=;a@b.example", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=x400;a", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc8222;a@b", 0, 501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;a+0D+0A@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;a+00@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;a+2b@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{0A}@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{85}@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=utf-8;a+2B@b.example", 0, 501,
	    "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=utf-8;a" OVERLONG "@b.example", F8,
	    501, "5.5.4"),
	XNO("RCPT TO:<a@b.example> ORCPT=rfc822;a@b ORCPT=rfc822;a@b", 0,
	    501, "5.5.4"),
	/* both, in either order */
	RCPTX("RCPT TO:<a@b.example> ORCPT=rfc822;c@d.example NOTIFY=DELAY",
	    AB, .params = PORCPT | PNOTIFY, .notify = SMTPD_NOTIFY_DELAY,
	    .orcpt_type = SMTPD_ORCPT_RFC822, .orcpt = "c@d.example",
	    .orcpt_x = "c@d.example"),
	/* a UTF-8 path only in an SMTPUTF8 transaction */
	RCPTX("RCPT TO:<j" OU "rg@ex" OU "mple.org>", .flags = F8,
	    .addr = "j" OU "rg@ex" OU "mple.org", .addr_info = IU),
	RCPTX("RCPT TO:<a@b.example>", .flags = F8, AB),
	XNO("RCPT TO:<j" OU "rg@example.org>", 0, 553, "5.6.7"),
	XNO("RCPT TO:<j" OU "rg@example.org> NOTIFY=NEVER", 0, 553, "5.6.7"),
	XNO("RCPT TO:<j" OU "rg@example.org> NOTIFY=NIE", 0, 501, "5.5.4"),
	XNO("RCPT TO:<j" OVERLONG "rg@example.org>", F8, 501, "5.1.3"),
	XNO("RCPT TO:<j" OVERLONG "rg@example.org>", 0, 501, "5.1.3"),
	XNO("RCPT TO:<a@b.example> SMTPUTF8", F8, 555, "5.5.4"),
};

static void
check_ext_str(int i, const char *line, const char *what, const char *got,
    const char *want)
{
	if (want == NULL)
		want = "";
	ck_assert_msg(strcmp(got, want) == 0,
	    "row %d: \"%.60s\": %s \"%s\", want \"%s\"", i, line, what, got,
	    want);
}

static void
check_ext_row(const struct ext_case *c, int i)
{
	struct smtpd_cmd	 cmd;
	char			 reply[64], want[64];
	int			 r;

	memset(reply, 0, sizeof(reply));
	r = smtpd_cmd_parse(c->line, c->max_size, c->flags, &cmd, reply,
	    sizeof(reply));
	if (c->code != 0) {
		ck_assert_msg(r == -1, "row %d: \"%.60s\" accepted", i,
		    c->line);
		snprintf(want, sizeof(want), "%d %s ", c->code, c->dsn);
		ck_assert_msg(strncmp(reply, want, strlen(want)) == 0,
		    "row %d: \"%.60s\" got \"%s\", want \"%s...\"", i,
		    c->line, reply, want);
		return;
	}
	ck_assert_msg(r == 0, "row %d: \"%.60s\" refused: %s", i, c->line,
	    reply);
	ck_assert_msg(cmd.verb == c->verb, "row %d: verb %d", i,
	    (int)cmd.verb);
	check_ext_str(i, c->line, "addr", cmd.addr, c->addr);
	ck_assert_msg(cmd.addr_info == c->addr_info, "row %d: addr_info %#x",
	    i, cmd.addr_info);
	ck_assert_msg(cmd.params == c->params, "row %d: params %#x", i,
	    cmd.params);
	ck_assert_msg(cmd.size == c->size, "row %d: size %llu", i, cmd.size);
	ck_assert_msg(cmd.body == c->body, "row %d: body %d", i, cmd.body);
	ck_assert_msg(cmd.ret == c->ret, "row %d: ret %d", i, cmd.ret);
	check_ext_str(i, c->line, "envid", cmd.envid, c->envid);
	check_ext_str(i, c->line, "envid_x", cmd.envid_x, c->envid_x);
	check_ext_str(i, c->line, "auth_addr", cmd.auth_addr, c->auth_addr);
	ck_assert_msg(cmd.notify == c->notify, "row %d: notify %#x", i,
	    cmd.notify);
	ck_assert_msg(cmd.orcpt_type == c->orcpt_type, "row %d: orcpt_type %d",
	    i, cmd.orcpt_type);
	check_ext_str(i, c->line, "orcpt", cmd.orcpt, c->orcpt);
	check_ext_str(i, c->line, "orcpt_x", cmd.orcpt_x, c->orcpt_x);
	check_ext_str(i, c->line, "sasl_mech", cmd.sasl_mech, c->mech);
	check_ext_str(i, c->line, "sasl_resp", cmd.sasl_resp, c->resp);
	ck_assert_msg(cmd.chunk_size == c->chunk_size,
	    "row %d: chunk_size %llu", i, cmd.chunk_size);
	ck_assert_msg(cmd.chunk_last == c->chunk_last, "row %d: chunk_last %d",
	    i, cmd.chunk_last);
	ck_assert_str_eq(cmd.helo, "");
}

START_TEST(starttls_auth_and_bdat_take_their_arguments)
{
	check_ext_row(&verb_ext_cases[_i], _i);
}
END_TEST

START_TEST(mail_reads_every_esmtp_parameter_a_relay_needs)
{
	check_ext_row(&mail_ext_cases[_i], _i);
}
END_TEST

START_TEST(rcpt_reads_notify_and_orcpt_and_utf8_by_flag)
{
	check_ext_row(&rcpt_ext_cases[_i], _i);
}
END_TEST

/*
 * The classic open-relay tests, with ours.example and [192.0.2.1] our own
 * domain and address and ext.example the victim: each trick either does
 * not parse (code) or is flagged (info), so that a session that does not
 * relay for this client refuses it even though the domain is ours.
 */
struct relay_case {
	const char	*rcpt;		/* the forward-path as sent */
	int		 code;		/* 0: accepted and flagged */
	const char	*dsn;
	unsigned int	 info;		/* ADDR_I_ROUTE, ADDR_I_ROUTING */
};

static const struct relay_case relay_cases[] = {
	{ "<user%ext.example@ours.example>", 0, NULL, IL },
	{ "<user%ext.example@[192.0.2.1]>", 0, NULL, IL },
	{ "<user%ext.example%ours.example@ours.example>", 0, NULL, IL },
	{ "<ext.example!user@ours.example>", 0, NULL, IL },
	{ "<ext.example!user@[192.0.2.1]>", 0, NULL, IL },
	{ "<ours.example!ext.example!user@ours.example>", 0, NULL, IL },
	{ "<\"user@ext.example\"@ours.example>", 0, NULL, IL },
	{ "<\"user@ext.example\"@[192.0.2.1]>", 0, NULL, IL },
	{ "<\"user%ext.example\"@ours.example>", 0, NULL, IL },
	{ "<\"ext.example!user\"@ours.example>", 0, NULL, IL },
	{ "<\"user\\@ext.example\"@ours.example>", 0, NULL, IL },
	{ "<@ours.example:user@ext.example>", 0, NULL, IR },
	{ "<@ours.example,@ext.example:user@ext.example>", 0, NULL, IR },
	{ "<@ours.example:user%ext.example@ours.example>", 0, NULL, IR | IL },
	{ "<@[192.0.2.1]:user@ext.example>", 501, "5.1.3", 0 },
	{ "<user@ext.example@ours.example>", 501, "5.1.3", 0 },
	{ "<user@ext.example@[192.0.2.1]>", 501, "5.1.3", 0 },
	{ "<user\\@ext.example@ours.example>", 501, "5.1.3", 0 },
	{ "<ext.example!user>", 501, "5.1.3", 0 },
	{ "<user%ext.example>", 501, "5.1.3", 0 },
	{ "<\"user@ext.example\">", 501, "5.1.3", 0 },
	{ "user@ext.example", 501, "5.1.3", 0 },
	/* and a few more of the same families */
	{ "<user%ext.example@[IPv6:2001:db8::1]>", 0, NULL, IL },
	{ "<user%ext.example@ours.example.>", 501, "5.1.3", 0 },
	{ "<user@ext.example>@ours.example", 501, "5.5.4", 0 },
	{ "<<user@ext.example>>", 501, "5.1.3", 0 },
	{ "<user@ext.example%ours.example>", 501, "5.1.3", 0 },
	{ "<@ours.example:@ext.example:user@ext.example>", 501, "5.1.3", 0 },
	/* not a trick: plain relaying, which the relay check refuses */
	{ "<user@ext.example>", 0, NULL, 0 },
};

START_TEST(relay_tricks_fail_to_parse_or_are_flagged)
{
	const struct relay_case	*c = &relay_cases[_i];
	struct smtpd_cmd	 cmd;
	char			 line[512], reply[64], want[64];
	int			 r;

	snprintf(line, sizeof(line), "RCPT TO:%s", c->rcpt);
	r = smtpd_cmd_parse(line, 0, 0, &cmd, reply, sizeof(reply));
	if (c->code != 0) {
		ck_assert_msg(r == -1, "row %d: %s accepted as %s", _i,
		    c->rcpt, cmd.addr);
		snprintf(want, sizeof(want), "%d %s ", c->code, c->dsn);
		ck_assert_msg(strncmp(reply, want, strlen(want)) == 0,
		    "row %d: %s got \"%s\", want \"%s...\"", _i, c->rcpt,
		    reply, want);
		return;
	}
	ck_assert_msg(r == 0, "row %d: %s refused: %s", _i, c->rcpt, reply);
	ck_assert_msg((cmd.addr_info & (IR | IL)) == c->info,
	    "row %d: %s info %#x, want %#x", _i, c->rcpt, cmd.addr_info,
	    c->info);
	ck_assert_int_eq(addr_has_routing(cmd.addr), (c->info & IL) != 0);
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
	{ "STARTTLS now", "501 5.5.4 Syntax: STARTTLS" },
	{ "AUTH", "501 5.5.4 Syntax: AUTH mechanism [initial-response]" },
	{ "AUTH PLAIN abc", "501 5.5.2 Cannot Base64-decode initial response" },
	{ "AUTH PLAIN " B64_512 "QUJD",
	    "500 5.5.6 Authentication Exchange line is too long" },
	{ "BDAT x", "521 5.5.4 Syntax: BDAT chunk-size [LAST]" },
	{ "BDAT 1\t", "521 5.5.4 Syntax: BDAT chunk-size [LAST]" },
	{ "MAIL FROM:<" OU "@b.example>",
	    "553 5.6.7 Non-ASCII address requires SMTPUTF8" },
	{ FROM " SIZE=1 SIZE=1", "501 5.5.4 Duplicate parameter" },
	{ FROM " ENVID=+0A", "501 5.5.4 Bad ENVID parameter" },
	{ FROM " AUTH=x", "501 5.5.4 Bad AUTH parameter" },
	{ FROM " RET=x", "501 5.5.4 Bad RET parameter" },
	{ FROM " SMTPUTF8=x", "501 5.5.4 Bad SMTPUTF8 parameter" },
	{ "RCPT TO:<a@b> NOTIFY=x", "501 5.5.4 Bad NOTIFY parameter" },
	{ "RCPT TO:<a@b> ORCPT=x", "501 5.5.4 Bad ORCPT parameter" },
	{ FROM " X=1", "555 5.5.4 Unsupported parameter" },
};

START_TEST(replies_carry_the_documented_text)
{
	const struct reply_case	*c = &reply_cases[_i];
	struct smtpd_cmd	 cmd;
	char			 reply[512];

	ck_assert_int_eq(smtpd_cmd_parse(c->line, MAX, 0, &cmd, reply,
	    sizeof(reply)), -1);
	ck_assert_str_eq(reply, c->reply);
}
END_TEST

START_TEST(a_second_parse_starts_from_a_clean_command)
{
	struct smtpd_cmd	 cmd, zero;
	char			 reply[512];

	ck_assert_int_eq(smtpd_cmd_parse(FROM " SIZE=5 BODY=8BITMIME", MAX, 0,
	    &cmd, reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtpd_cmd_parse("EHLO mx", MAX, 0, &cmd, reply,
	    sizeof(reply)), 0);
	ck_assert_str_eq(cmd.addr, "");
	ck_assert(cmd.size == 0);
	ck_assert_int_eq(cmd.body, SMTPD_BODY_7BIT);
	ck_assert_int_eq(smtpd_cmd_parse(FROM " FOO=1", MAX, 0, &cmd, reply,
	    sizeof(reply)), -1);
	ck_assert_str_eq(cmd.addr, "");

	/* A refusal leaves every field zero, even after a full parse. */
	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(smtpd_cmd_parse("RCPT TO:<u%v@b.example> "
	    "NOTIFY=DELAY ORCPT=rfc822;c@d", MAX, 0, &cmd, reply,
	    sizeof(reply)), 0);
	ck_assert_int_eq(smtpd_cmd_parse(FROM " SMTPUTF8 ENVID=x AUTH=<> "
	    "RET=FULL FOO=1", MAX, 0, &cmd, reply, sizeof(reply)), -1);
	ck_assert(memcmp(&cmd, &zero, sizeof(cmd)) == 0);
	ck_assert_int_eq(smtpd_cmd_parse("AUTH PLAIN YWJj", MAX, 0, &cmd,
	    reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtpd_cmd_parse("BDAT 1 LAST x", MAX, 0, &cmd,
	    reply, sizeof(reply)), -1);
	ck_assert(memcmp(&cmd, &zero, sizeof(cmd)) == 0);

	/* A success fills only its own verb's fields. */
	ck_assert_int_eq(smtpd_cmd_parse(FROM " SMTPUTF8 ENVID=x AUTH=<> "
	    "RET=FULL", MAX, 0, &cmd, reply, sizeof(reply)), 0);
	ck_assert_int_eq(smtpd_cmd_parse("RCPT TO:<a@b.example>", MAX,
	    SMTPD_CMD_F_UTF8, &cmd, reply, sizeof(reply)), 0);
	ck_assert_uint_eq(cmd.params, 0);
	ck_assert_int_eq(cmd.ret, SMTPD_RET_NONE);
	ck_assert_str_eq(cmd.envid, "");
	ck_assert_str_eq(cmd.envid_x, "");
	ck_assert_str_eq(cmd.auth_addr, "");
}
END_TEST

START_TEST(a_reply_buffer_too_small_is_a_bug)
{
	struct smtpd_cmd	 cmd;
	char			 reply[8];

	(void)smtpd_cmd_parse("FOO", MAX, 0, &cmd, reply, sizeof(reply));
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
	    rcpt_to_reads_the_path_and_refuses_mail_parameters, 0,
	    NROWS(rcpt_cases));
	tcase_add_loop_test(tc, other_verbs_take_the_arguments_the_rfc_allows,
	    0, NROWS(other_cases));
	tcase_add_loop_test(tc, replies_carry_the_documented_text, 0,
	    NROWS(reply_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("extensions");
	tcase_add_loop_test(tc, starttls_auth_and_bdat_take_their_arguments,
	    0, NROWS(verb_ext_cases));
	tcase_add_loop_test(tc, mail_reads_every_esmtp_parameter_a_relay_needs,
	    0, NROWS(mail_ext_cases));
	tcase_add_loop_test(tc, rcpt_reads_notify_and_orcpt_and_utf8_by_flag,
	    0, NROWS(rcpt_ext_cases));
	tcase_add_loop_test(tc, relay_tricks_fail_to_parse_or_are_flagged, 0,
	    NROWS(relay_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_test(tc, a_second_parse_starts_from_a_clean_command);
	/* Without fork an exit test would end the whole runner. */
	if (getenv("CK_FORK") == NULL || strcmp(getenv("CK_FORK"), "no") != 0)
		tcase_add_exit_test(tc, a_reply_buffer_too_small_is_a_bug, 1);
	suite_add_tcase(s, tc);
	return s;
}
