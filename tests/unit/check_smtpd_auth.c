/*
 * check_smtpd_auth - AUTH transcripts to outcomes, strict base64, the slow-down
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "smtpd/smtpd_auth.h"
#include "tests/unit/harness.h"

Suite	*smtpd_auth_suite(void);	/* for check_main.c; harness.h does not list it yet */

#define CTX	(SMTPD_AUTH_C_OFFER | SMTPD_AUTH_C_EHLO | SMTPD_AUTH_C_TLS)

/* PLAIN messages and LOGIN fields, base64 */
#define P_OK	"AGFuYQBzZWNyZXQ="	/* \0ana\0secret */
#define P_SELF	"YW5hAGFuYQBzZWNyZXQ="	/* ana\0ana\0secret */
#define P_OTHER	"Ym9iAGFuYQBzZWNyZXQ="	/* bob\0ana\0secret */
#define P_NOID	"AABzZWNyZXQ="		/* \0\0secret */
#define P_NOPW	"AGFuYQA="		/* \0ana\0 */
#define P_3NUL	"AGFuYQBzZWMAcmV0"	/* \0ana\0sec\0ret */
#define P_0NUL	"YW5h"			/* ana */
#define P_1NUL	"AGFuYQ=="		/* \0ana */
#define P_SPACE	"AEFuYUBVbmktQS5lcwBwIHc="	/* \0Ana@Uni-A.es\0p w */
#define L_ANA	"YW5h"			/* ana */
#define L_PW	"c2VjcmV0"		/* secret */
#define L_NULU	"YW4AYQ=="		/* an\0a */
#define L_NULP	"c2UAY3JldA=="		/* se\0cret */
#define C_USER	"334 VXNlcm5hbWU6"
#define C_PASS	"334 UGFzc3dvcmQ6"

#define R64(s)	s s s s s s s s s s s s s s s s s s s s s s s s s s s s s s s s \
		s s s s s s s s s s s s s s s s s s s s s s s s s s s s s s s s
#define LONG512	R64("AAAAAAAA")		/* 512 > SMTPD_AUTH_LINE_MAX */

struct tx_case {
	int			 ctx;
	const char		*lines[5];	/* [0]: what follows "AUTH " */
	int			 verdict;	/* given to finish at CHECK */
	const char		*trace;		/* each reply to its 2nd space, '|' between */
	enum smtpd_auth_status	 last;
	const char		*user;		/* at CHECK; NULL: none expected */
	const char		*pass;
};

#define OK	SMTPD_AUTH_S_OK
#define DENY	SMTPD_AUTH_S_DENY
#define FAIL	SMTPD_AUTH_S_FAIL
#define MORE	SMTPD_AUTH_S_MORE

static const struct tx_case tx_cases[] = {
	/* PLAIN */
	{ CTX, { "PLAIN " P_OK }, 1, "235 2.7.0", OK, "ana", "secret" },
	{ CTX, { "plain " P_OK }, 1, "235 2.7.0", OK, "ana", "secret" },
	{ CTX, { "PLAIN   " P_OK "  " }, 1, "235 2.7.0", OK, "ana", "secret" },
	{ CTX, { "PLAIN", P_OK }, 1, "334 |235 2.7.0", OK, "ana", "secret" },
	{ CTX, { "PLAIN", P_OK }, 0, "334 |535 5.7.8", DENY, "ana", "secret" },
	{ CTX, { "PLAIN " P_OK }, -1, "454 4.7.0", FAIL, "ana", "secret" },
	{ CTX, { "PLAIN " P_SELF }, 1, "235 2.7.0", OK, "ana", "secret" },
	{ CTX, { "PLAIN " P_SPACE }, 1, "235 2.7.0", OK, "Ana@Uni-A.es",
	    "p w" },
	{ CTX, { "PLAIN " P_OTHER }, 1, "535 5.7.8", DENY, NULL, NULL },
	{ CTX, { "PLAIN " P_NOID }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN " P_NOPW }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN " P_3NUL }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN " P_0NUL }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN " P_1NUL }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN =" }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN", "" }, 1, "334 |501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN", "=" }, 1, "334 |501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN", "*" }, 1, "334 |501 5.7.0", FAIL, NULL, NULL },
	{ CTX, { "PLAIN *" }, 1, "501 5.7.0", FAIL, NULL, NULL },
	{ CTX, { "PLAIN", "AGFuYQBzZWNyZXQ" }, 1, "334 |501 5.5.2", FAIL,
	    NULL, NULL },
	{ CTX, { "PLAIN", P_OK " " }, 1, "334 |501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN", " " P_OK }, 1, "334 |501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "PLAIN", LONG512 }, 1, "334 |500 5.5.6", FAIL, NULL, NULL },
	{ CTX, { "PLAIN" }, 1, "334 ", MORE, NULL, NULL },
	/* LOGIN */
	{ CTX, { "LOGIN", L_ANA, L_PW }, 1, C_USER "|" C_PASS "|235 2.7.0",
	    OK, "ana", "secret" },
	{ CTX, { "login " L_ANA, L_PW }, 1, C_PASS "|235 2.7.0", OK, "ana",
	    "secret" },
	{ CTX, { "LOGIN", L_ANA, L_PW }, 0, C_USER "|" C_PASS "|535 5.7.8",
	    DENY, "ana", "secret" },
	{ CTX, { "LOGIN =", L_PW }, 0, C_PASS "|535 5.7.8", DENY, "",
	    "secret" },
	{ CTX, { "LOGIN", "", "" }, 0, C_USER "|" C_PASS "|535 5.7.8", DENY,
	    "", "" },
	{ CTX, { "LOGIN", "*" }, 1, C_USER "|501 5.7.0", FAIL, NULL, NULL },
	{ CTX, { "LOGIN", L_ANA, "*" }, 1, C_USER "|" C_PASS "|501 5.7.0",
	    FAIL, NULL, NULL },
	{ CTX, { "LOGIN", L_NULU }, 1, C_USER "|501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "LOGIN", L_ANA, L_NULP }, 1, C_USER "|" C_PASS "|501 5.5.2",
	    FAIL, NULL, NULL },
	{ CTX, { "LOGIN", "YW5" }, 1, C_USER "|501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "LOGIN " L_NULU }, 1, "501 5.5.2", FAIL, NULL, NULL },
	{ CTX, { "LOGIN", L_ANA }, 1, C_USER "|" C_PASS, MORE, NULL, NULL },
	/* The command itself */
	{ CTX, { "CRAM-MD5" }, 1, "504 5.5.4", FAIL, NULL, NULL },
	{ CTX, { "PLAINX " P_OK }, 1, "504 5.5.4", FAIL, NULL, NULL },
	{ CTX, { "" }, 1, "501 5.5.4", FAIL, NULL, NULL },
	{ CTX, { "   " }, 1, "501 5.5.4", FAIL, NULL, NULL },
	{ CTX, { "PLAIN " P_OK " x" }, 1, "501 5.5.4", FAIL, NULL, NULL },
	/* What the session says about itself */
	{ CTX & ~SMTPD_AUTH_C_TLS, { "PLAIN " P_OK }, 1, "538 5.7.11", FAIL,
	    NULL, NULL },
	{ CTX & ~SMTPD_AUTH_C_TLS, { "LOGIN" }, 1, "538 5.7.11", FAIL, NULL,
	    NULL },
	{ CTX & ~SMTPD_AUTH_C_TLS, { "FOO" }, 1, "504 5.5.4", FAIL, NULL,
	    NULL },
	{ CTX & ~SMTPD_AUTH_C_OFFER, { "PLAIN " P_OK }, 1, "503 5.5.1", FAIL,
	    NULL, NULL },
	{ CTX & ~SMTPD_AUTH_C_EHLO, { "PLAIN " P_OK }, 1, "503 5.5.1", FAIL,
	    NULL, NULL },
	{ CTX | SMTPD_AUTH_C_MAIL, { "PLAIN " P_OK }, 1, "503 5.5.1", FAIL,
	    NULL, NULL },
	{ CTX | SMTPD_AUTH_C_BLOCKED, { "PLAIN " P_OK }, 1, "454 4.7.0", FAIL,
	    NULL, NULL },
	{ CTX | SMTPD_AUTH_C_BLOCKED, { "PLAIN" }, 1, "454 4.7.0", FAIL,
	    NULL, NULL },
};

/* check_smtpd_auth_trace - append reply up to its second space */
static void
check_smtpd_auth_trace(char *trace, size_t len, const char *reply)
{
	const char	*sp;
	size_t		 n;

	ck_assert_ptr_nonnull(reply);
	ck_assert_ptr_null(strpbrk(reply, "\r\n"));
	if ((sp = strchr(reply, ' ')) != NULL && (sp = strchr(sp + 1, ' ')))
		n = (size_t)(sp - reply);
	else
		n = strlen(reply);
	if (trace[0] != '\0')
		strncat(trace, "|", len - strlen(trace) - 1);
	strncat(trace, reply, n < len - strlen(trace) - 1 ? n :
	    len - strlen(trace) - 1);
}

START_TEST(smtpd_auth_transcripts_end_as_expected)
{
	const struct tx_case	*c = &tx_cases[_i];
	struct smtpd_auth	*a = smtpd_auth_new();
	enum smtpd_auth_status	 st;
	const char		*reply, *pass;
	char			 trace[512] = "";
	size_t			 i = 1, passlen;
	int			 checked = 0;

	st = smtpd_auth_start(a, c->lines[0], c->ctx, &reply);
	for (;;) {
		if (st == SMTPD_AUTH_S_CHECK) {
			ck_assert_ptr_null(reply);
			checked = 1;
			ck_assert_ptr_nonnull(c->user);
			ck_assert_str_eq(smtpd_auth_user(a), c->user);
			pass = smtpd_auth_pass(a, &passlen);
			ck_assert_ptr_nonnull(pass);
			ck_assert_uint_eq(passlen, strlen(c->pass));
			ck_assert_mem_eq(pass, c->pass, passlen);
			st = smtpd_auth_finish(a, c->verdict, &reply);
			ck_assert_ptr_null(smtpd_auth_pass(a, &passlen));
			continue;
		}
		check_smtpd_auth_trace(trace, sizeof(trace), reply);
		if (st != SMTPD_AUTH_S_MORE || i == 5 || c->lines[i] == NULL)
			break;
		st = smtpd_auth_step(a, c->lines[i++], &reply);
	}
	ck_assert_msg(strcmp(trace, c->trace) == 0, "case %d: trace \"%s\", "
	    "want \"%s\"", _i, trace, c->trace);
	ck_assert_int_eq(st, c->last);
	ck_assert_msg(i == 5 || c->lines[i] == NULL, "case %d: lines left",
	    _i);
	ck_assert_int_eq(checked, c->user != NULL);
	if (st == SMTPD_AUTH_S_OK) {
		ck_assert_ptr_nonnull(smtpd_auth_login(a));
		ck_assert_str_eq(smtpd_auth_login(a), c->user);
	} else
		ck_assert_ptr_null(smtpd_auth_login(a));
	ck_assert_uint_eq(smtpd_auth_failures(a), st == SMTPD_AUTH_S_DENY);
	if (st != SMTPD_AUTH_S_MORE)
		ck_assert_ptr_null(smtpd_auth_pass(a, &passlen));
	smtpd_auth_free(a);
}
END_TEST

START_TEST(smtpd_auth_refuses_a_second_auth_until_reset)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	const char		*reply;

	ck_assert_int_eq(smtpd_auth_start(a, "PLAIN " P_OK, CTX, &reply),
	    SMTPD_AUTH_S_CHECK);
	ck_assert_int_eq(smtpd_auth_finish(a, 1, &reply), SMTPD_AUTH_S_OK);
	ck_assert_str_eq(smtpd_auth_mech(a), "PLAIN");
	ck_assert_int_eq(smtpd_auth_start(a, "LOGIN", CTX, &reply),
	    SMTPD_AUTH_S_FAIL);
	ck_assert_str_eq(reply, "503 5.5.1 Error: already authenticated");
	ck_assert_str_eq(smtpd_auth_login(a), "ana");
	ck_assert_str_eq(smtpd_auth_mech(a), "PLAIN");
	smtpd_auth_reset(a);
	ck_assert_ptr_null(smtpd_auth_login(a));
	ck_assert_str_eq(smtpd_auth_user(a), "");
	ck_assert_int_eq(smtpd_auth_start(a, "LOGIN", CTX, &reply),
	    SMTPD_AUTH_S_MORE);
	ck_assert_str_eq(smtpd_auth_mech(a), "LOGIN");
	smtpd_auth_free(a);
}
END_TEST

START_TEST(smtpd_auth_counts_denials_across_exchanges)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	const char		*reply;
	unsigned		 i;

	for (i = 1; i <= 3; i++) {
		ck_assert_int_eq(smtpd_auth_start(a, "PLAIN " P_OK, CTX,
		    &reply), SMTPD_AUTH_S_CHECK);
		ck_assert_int_eq(smtpd_auth_finish(a, 0, &reply),
		    SMTPD_AUTH_S_DENY);
		ck_assert_str_eq(reply, "535 5.7.8 Authentication credentials "
		    "invalid");
		ck_assert_str_eq(smtpd_auth_user(a), "ana");
		ck_assert_uint_eq(smtpd_auth_failures(a), i);
	}
	/* A cancelled exchange, a syntax error, a 454: none count. */
	smtpd_auth_start(a, "LOGIN", CTX, &reply);
	smtpd_auth_cancel(a);
	smtpd_auth_start(a, "PLAIN !", CTX, &reply);
	smtpd_auth_start(a, "PLAIN " P_OK, CTX, &reply);
	smtpd_auth_finish(a, -1, &reply);
	ck_assert_uint_eq(smtpd_auth_failures(a), 3);
	/* STARTTLS resets the authentication, not the count. */
	smtpd_auth_reset(a);
	ck_assert_uint_eq(smtpd_auth_failures(a), 3);
	smtpd_auth_free(a);
}
END_TEST

START_TEST(smtpd_auth_cancel_wipes_what_the_exchange_held)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	const char		*reply;
	size_t			 n;

	ck_assert_int_eq(smtpd_auth_start(a, "LOGIN " L_ANA, CTX, &reply),
	    SMTPD_AUTH_S_MORE);
	ck_assert_str_eq(smtpd_auth_user(a), "ana");
	smtpd_auth_cancel(a);
	ck_assert_str_eq(smtpd_auth_user(a), "");
	ck_assert_ptr_null(smtpd_auth_pass(a, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(smtpd_auth_start(a, "PLAIN " P_OK, CTX, &reply),
	    SMTPD_AUTH_S_CHECK);
	smtpd_auth_cancel(a);
	ck_assert_ptr_null(smtpd_auth_pass(a, &n));
	/* Freeing during CHECK is fine too. */
	ck_assert_int_eq(smtpd_auth_start(a, "PLAIN " P_OK, CTX, &reply),
	    SMTPD_AUTH_S_CHECK);
	smtpd_auth_free(a);
	smtpd_auth_free(NULL);
}
END_TEST

START_TEST(smtpd_auth_takes_the_longest_line_there_is)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	unsigned char		 msg[SMTPD_AUTH_DECODED_MAX];
	char			 line[SMTPD_AUTH_LINE_MAX + 5];
	const char		*reply, *pass;
	size_t			 n;

	/* \0 u*100 \0 p*rest: encodes to exactly SMTPD_AUTH_LINE_MAX - 2 */
	memset(msg, 'p', sizeof(msg));
	msg[0] = '\0';
	memset(msg + 1, 'u', 100);
	msg[101] = '\0';
	ck_assert_int_eq(EVP_EncodeBlock((unsigned char *)line, msg,
	    sizeof(msg)), SMTPD_AUTH_LINE_MAX - 2);
	ck_assert_int_eq(smtpd_auth_start(a, "PLAIN", CTX, &reply),
	    SMTPD_AUTH_S_MORE);
	ck_assert_int_eq(smtpd_auth_step(a, line, &reply), SMTPD_AUTH_S_CHECK);
	pass = smtpd_auth_pass(a, &n);
	ck_assert_uint_eq(n, sizeof(msg) - 102);
	ck_assert_int_eq(pass[n], '\0');
	ck_assert_uint_eq(strlen(smtpd_auth_user(a)), 100);
	smtpd_auth_finish(a, 0, &reply);
	smtpd_auth_free(a);
}
END_TEST

START_TEST(smtpd_auth_step_without_an_exchange_is_a_bug)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	const char		*reply;

	smtpd_auth_step(a, L_ANA, &reply);
}
END_TEST

START_TEST(smtpd_auth_start_during_an_exchange_is_a_bug)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	const char		*reply;

	smtpd_auth_start(a, "LOGIN", CTX, &reply);
	smtpd_auth_start(a, "LOGIN", CTX, &reply);
}
END_TEST

START_TEST(smtpd_auth_finish_without_credentials_is_a_bug)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	const char		*reply;

	smtpd_auth_finish(a, 1, &reply);
}
END_TEST

START_TEST(smtpd_auth_is_offered_only_over_tls)
{
	ck_assert_str_eq(smtpd_auth_ehlo(SMTPD_AUTH_C_OFFER | SMTPD_AUTH_C_TLS),
	    "AUTH PLAIN LOGIN");
	ck_assert_str_eq(smtpd_auth_ehlo(CTX), "AUTH PLAIN LOGIN");
	ck_assert_ptr_null(smtpd_auth_ehlo(SMTPD_AUTH_C_OFFER));
	ck_assert_ptr_null(smtpd_auth_ehlo(SMTPD_AUTH_C_TLS));
	ck_assert_ptr_null(smtpd_auth_ehlo(0));
}
END_TEST

/* --- base64 ------------------------------------------------------------ */

struct b64_case {
	const char	*in;
	int		 ok;
	const char	*out;
	size_t		 outlen;
};

static const struct b64_case b64_cases[] = {
	{ "", 1, "", 0 },
	{ "QQ==", 1, "A", 1 },
	{ "QUI=", 1, "AB", 2 },
	{ "QUJD", 1, "ABC", 3 },
	{ "QUJDRA==", 1, "ABCD", 4 },
	{ "AA==", 1, "\0", 1 },
	{ "AAAA", 1, "\0\0\0", 3 },
	{ "////", 1, "\xff\xff\xff", 3 },
	{ "+/+/", 1, "\xfb\xff\xbf", 3 },
	{ "QR==", 0, NULL, 0 },		/* padding bits set */
	{ "QUJ=", 0, NULL, 0 },
	{ "QQ", 0, NULL, 0 },		/* padding left out */
	{ "QQ=", 0, NULL, 0 },
	{ "QUJ", 0, NULL, 0 },
	{ "Q", 0, NULL, 0 },
	{ "Q===", 0, NULL, 0 },
	{ "====", 0, NULL, 0 },
	{ "=QQ=", 0, NULL, 0 },
	{ "Q=Q=", 0, NULL, 0 },
	{ "QQ==QUJD", 0, NULL, 0 },	/* padding in the middle */
	{ " QUJD", 0, NULL, 0 },
	{ "QUJD ", 0, NULL, 0 },
	{ "QU JD", 0, NULL, 0 },
	{ "QUJ\n", 0, NULL, 0 },
	{ "QUJD\r\n", 0, NULL, 0 },
	{ "QU\tD", 0, NULL, 0 },
	{ "QUJ-", 0, NULL, 0 },		/* base64url is another alphabet */
	{ "QUJ_", 0, NULL, 0 },
	{ "QUJ.", 0, NULL, 0 },
	{ "QUJ\x80", 0, NULL, 0 },
	{ "QUJ*", 0, NULL, 0 },
};

START_TEST(smtpd_auth_b64_is_strict)
{
	const struct b64_case	*c = &b64_cases[_i];
	unsigned char		 out[64];
	size_t			 n = 99;
	int			 rc;

	memset(out, 0xaa, sizeof(out));
	rc = smtpd_auth_b64_decode(c->in, strlen(c->in), out, sizeof(out), &n);
	ck_assert_msg(rc == (c->ok ? 0 : -1), "case %d: \"%s\"", _i, c->in);
	if (c->ok) {
		ck_assert_uint_eq(n, c->outlen);
		ck_assert_mem_eq(out, c->out, n);
	} else
		ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(smtpd_auth_b64_stays_inside_its_buffer)
{
	unsigned char	 out[4];
	size_t		 n;

	ck_assert_int_eq(smtpd_auth_b64_decode("QUJD", 4, out, 3, &n), 0);
	ck_assert_int_eq(smtpd_auth_b64_decode("QUJD", 4, out, 2, &n), -1);
	/* The padding octets are written by EVP_DecodeBlock: room for them. */
	ck_assert_int_eq(smtpd_auth_b64_decode("QQ==", 4, out, 1, &n), -1);
	ck_assert_int_eq(smtpd_auth_b64_decode("QUJDQUJD", 4, out, 3, &n), 0);
	ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(smtpd_auth_b64_decodes_what_openssl_encodes)
{
	unsigned char	 in[64], out[66];	/* a whole last quantum */
	char		 enc[100];
	size_t		 len, n, i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (len = 0; len <= sizeof(in); len++) {
		EVP_EncodeBlock((unsigned char *)enc, in, (int)len);
		ck_assert_int_eq(smtpd_auth_b64_decode(enc, strlen(enc), out,
		    sizeof(out), &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(out, in, len);
	}
}
END_TEST

/* --- the slow-down ----------------------------------------------------- */

static struct sockaddr_storage check_smtpd_auth_ss;

static const struct sockaddr *
check_smtpd_auth_sa(const char *addr)
{
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	memset(&check_smtpd_auth_ss, 0, sizeof(check_smtpd_auth_ss));
	sin = (struct sockaddr_in *)&check_smtpd_auth_ss;
	sin6 = (struct sockaddr_in6 *)&check_smtpd_auth_ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(41234);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(41234);
	} else
		ck_abort_msg("bad address %s", addr);
	return (const struct sockaddr *)&check_smtpd_auth_ss;
}

START_TEST(smtpd_auth_delay_grows_to_its_cap)
{
	struct smtpd_auth_limits	 lim = { 0, 0, 0, 5, 0, 8 };
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(&lim);
	struct smtpd_auth_penalty	 pen;
	static const unsigned		 want[] = { 0, 1, 2, 4, 5, 5, 5, 5 };
	unsigned			 i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		smtpd_auth_throttle_fail(t, check_smtpd_auth_sa("192.0.2.1"),
		    1000, i + 1, &pen);
		ck_assert_msg(pen.delay == want[i], "failure %u: %u s", i + 1,
		    pen.delay);
		ck_assert_int_eq(pen.close, 0);
		ck_assert_str_eq(pen.reply,
		    "535 5.7.8 Authentication credentials invalid");
	}
	ck_assert_uint_eq(smtpd_auth_throttle_count(t,
	    check_smtpd_auth_sa("192.0.2.1"), 1000), 8);
	ck_assert_int_eq(smtpd_auth_throttle_check(t,
	    check_smtpd_auth_sa("192.0.2.1"), 1000), 1);
	/* Many failures do not overflow the delay. */
	for (i = 0; i < 100; i++)
		smtpd_auth_throttle_fail(t, check_smtpd_auth_sa("192.0.2.1"),
		    1000, 0, &pen);
	ck_assert_uint_eq(pen.delay, 5);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_blocks_a_network_for_a_while)
{
	struct smtpd_auth_limits	 lim = { 0, 3, 100, 5, 0, 8 };
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(&lim);
	struct smtpd_auth_penalty	 pen;
	const char			*ip = "198.51.100.7";

	ck_assert_int_eq(smtpd_auth_throttle_check(t, check_smtpd_auth_sa(ip),
	    0), 1);
	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa(ip), 10, 1, &pen);
	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa(ip), 10, 2, &pen);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, check_smtpd_auth_sa(ip),
	    10), 1);
	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa(ip), 20, 3, &pen);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, check_smtpd_auth_sa(ip),
	    20), 0);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, check_smtpd_auth_sa(ip),
	    119), 0);
	ck_assert_int_eq(smtpd_auth_throttle_check(t,
	    check_smtpd_auth_sa("198.51.100.8"), 50), 1);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, check_smtpd_auth_sa(ip),
	    120), 1);
	/* The count did not decay (forgive 0): the next failure blocks again. */
	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa(ip), 130, 1, &pen);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, check_smtpd_auth_sa(ip),
	    130), 0);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_forgets_one_failure_per_period)
{
	struct smtpd_auth_limits	 lim = { 0, 0, 0, 5, 60, 8 };
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(&lim);
	struct smtpd_auth_penalty	 pen;
	const struct sockaddr		*sa;
	int				 i;

	for (i = 0; i < 3; i++)
		smtpd_auth_throttle_fail(t, check_smtpd_auth_sa("192.0.2.9"), 0,
		    1, &pen);
	ck_assert_uint_eq(pen.delay, 2);
	sa = check_smtpd_auth_sa("192.0.2.9");
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 59), 3);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 60), 2);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 179), 1);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 180), 0);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 100000), 0);
	/* A clock that steps back counts as no time. */
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, -50), 3);
	/* Forgotten, the next failure starts over at no delay. */
	smtpd_auth_throttle_fail(t, sa, 1000, 1, &pen);
	ck_assert_uint_eq(pen.delay, 0);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_decay_keeps_the_part_of_a_period_run)
{
	struct smtpd_auth_limits	 lim = { 0, 0, 0, 5, 60, 8 };
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(&lim);
	struct smtpd_auth_penalty	 pen;
	const struct sockaddr		*sa = check_smtpd_auth_sa("192.0.2.9");

	smtpd_auth_throttle_fail(t, sa, 0, 1, &pen);
	smtpd_auth_throttle_fail(t, sa, 0, 2, &pen);
	/* At 90 one is forgotten (at 60) and one added: 2, clock at 60. */
	smtpd_auth_throttle_fail(t, sa, 90, 3, &pen);
	ck_assert_uint_eq(pen.delay, 1);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 119), 2);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 120), 1);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, sa, 180), 0);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_ends_the_session_after_session_max)
{
	struct smtpd_auth_limits	 lim = { 3, 0, 0, 5, 0, 8 };
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(&lim);
	struct smtpd_auth_penalty	 pen;
	const struct sockaddr		*sa = check_smtpd_auth_sa("2001:db8::1");
	char				 line[128];

	smtpd_auth_throttle_fail(t, sa, 0, 1, &pen);
	ck_assert_int_eq(pen.close, 0);
	smtpd_auth_throttle_fail(t, sa, 0, 2, &pen);
	ck_assert_int_eq(pen.close, 0);
	smtpd_auth_throttle_fail(t, sa, 0, 3, &pen);
	ck_assert_int_eq(pen.close, 1);
	ck_assert_uint_eq(pen.delay, 2);
	snprintf(line, sizeof(line), SMTPD_AUTH_421_FMT, "mx.example.org");
	ck_assert_str_eq(line, "421 4.7.0 mx.example.org Error: too many "
	    "authentication failures");
	/* A new session from the same network starts at 1 but keeps the delay. */
	smtpd_auth_throttle_fail(t, sa, 0, 1, &pen);
	ck_assert_int_eq(pen.close, 0);
	ck_assert_uint_eq(pen.delay, 4);
	smtpd_auth_throttle_free(t);
}
END_TEST

struct net_case {
	const char	*a, *b;
	int		 same;
};

static const struct net_case net_cases[] = {
	{ "192.0.2.1", "192.0.2.1", 1 },
	{ "192.0.2.1", "192.0.2.2", 0 },
	{ "2001:db8::1", "2001:db8::2", 1 },
	{ "2001:db8::1", "2001:db8:0:0:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8::1", "2001:db8:0:1::1", 0 },
	{ "2001:db8::1", "2001:db9::1", 0 },
	{ "::ffff:192.0.2.1", "192.0.2.1", 1 },
	{ "::ffff:192.0.2.1", "::ffff:192.0.2.2", 0 },
	{ "::1", "::2", 1 },
	{ "192.0.2.1", "c000:201::", 0 },	/* same octets, other family */
};

START_TEST(smtpd_auth_counts_ipv4_hosts_and_ipv6_64s)
{
	const struct net_case		*c = &net_cases[_i];
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(NULL);
	struct smtpd_auth_penalty	 pen;

	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa(c->a), 0, 1, &pen);
	ck_assert_msg(smtpd_auth_throttle_count(t, check_smtpd_auth_sa(c->b),
	    0) == (unsigned)c->same, "case %d: %s %s", _i, c->a, c->b);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_counts_other_families_as_one)
{
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(NULL);
	struct smtpd_auth_penalty	 pen;
	struct sockaddr_un		 a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.sun_family = b.sun_family = AF_UNIX;
	strcpy(a.sun_path, "/a");
	strcpy(b.sun_path, "/b");
	smtpd_auth_throttle_fail(t, (struct sockaddr *)&a, 0, 1, &pen);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t, (struct sockaddr *)&b,
	    0), 1);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_table_evicts_the_least_counted_never_grows)
{
	struct smtpd_auth_limits	 lim = { 0, 5, 3600, 5, 0, 8 };
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(&lim);
	struct smtpd_auth_penalty	 pen;
	char				 ip[64];
	unsigned			 i, known;

	/* One attacker blocked, one legitimate user with two typos. */
	for (i = 0; i < 5; i++)
		smtpd_auth_throttle_fail(t, check_smtpd_auth_sa("203.0.113.9"),
		    10, 1, &pen);
	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa("192.0.2.50"), 10, 1,
	    &pen);
	smtpd_auth_throttle_fail(t, check_smtpd_auth_sa("192.0.2.50"), 10, 2,
	    &pen);
	/* Then a flood of fresh addresses, one failure each. */
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i >> 8, i & 0xff);
		smtpd_auth_throttle_fail(t, check_smtpd_auth_sa(ip), 20, 1,
		    &pen);
	}
	ck_assert_int_eq(smtpd_auth_throttle_check(t,
	    check_smtpd_auth_sa("203.0.113.9"), 30), 0);
	ck_assert_uint_eq(smtpd_auth_throttle_count(t,
	    check_smtpd_auth_sa("192.0.2.50"), 30), 2);
	for (i = 0, known = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i >> 8, i & 0xff);
		known += smtpd_auth_throttle_count(t, check_smtpd_auth_sa(ip),
		    30);
	}
	ck_assert_uint_eq(known, 8 - 2);
	smtpd_auth_throttle_free(t);
}
END_TEST

START_TEST(smtpd_auth_throttle_takes_defaults_and_null)
{
	struct smtpd_auth_throttle	*t = smtpd_auth_throttle_new(NULL);
	struct smtpd_auth_penalty	 pen;
	const struct sockaddr		*sa = check_smtpd_auth_sa("192.0.2.1");
	unsigned			 i;

	for (i = 1; i <= 10; i++) {
		ck_assert_int_eq(smtpd_auth_throttle_check(t, sa, 0), 1);
		smtpd_auth_throttle_fail(t, sa, 0, i, &pen);
		ck_assert_int_eq(pen.close, i >= 3);
	}
	ck_assert_uint_eq(pen.delay, 5);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, sa, 0), 0);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, sa, 899), 0);
	ck_assert_int_eq(smtpd_auth_throttle_check(t, sa, 900), 1);
	smtpd_auth_throttle_free(t);
	smtpd_auth_throttle_free(NULL);
}
END_TEST

Suite *
smtpd_auth_suite(void)
{
	Suite	*s = suite_create("smtpd_auth");
	TCase	*tc;

	tc = tcase_create("exchange");
	tcase_add_loop_test(tc, smtpd_auth_transcripts_end_as_expected, 0,
	    sizeof(tx_cases) / sizeof(tx_cases[0]));
	tcase_add_test(tc, smtpd_auth_refuses_a_second_auth_until_reset);
	tcase_add_test(tc, smtpd_auth_counts_denials_across_exchanges);
	tcase_add_test(tc, smtpd_auth_cancel_wipes_what_the_exchange_held);
	tcase_add_test(tc, smtpd_auth_takes_the_longest_line_there_is);
	tcase_add_test(tc, smtpd_auth_is_offered_only_over_tls);
	tcase_add_exit_test(tc, smtpd_auth_step_without_an_exchange_is_a_bug,
	    1);
	tcase_add_exit_test(tc, smtpd_auth_start_during_an_exchange_is_a_bug,
	    1);
	tcase_add_exit_test(tc, smtpd_auth_finish_without_credentials_is_a_bug,
	    1);
	suite_add_tcase(s, tc);

	tc = tcase_create("base64");
	tcase_add_loop_test(tc, smtpd_auth_b64_is_strict, 0,
	    sizeof(b64_cases) / sizeof(b64_cases[0]));
	tcase_add_test(tc, smtpd_auth_b64_stays_inside_its_buffer);
	tcase_add_test(tc, smtpd_auth_b64_decodes_what_openssl_encodes);
	suite_add_tcase(s, tc);

	tc = tcase_create("throttle");
	tcase_add_test(tc, smtpd_auth_delay_grows_to_its_cap);
	tcase_add_test(tc, smtpd_auth_blocks_a_network_for_a_while);
	tcase_add_test(tc, smtpd_auth_forgets_one_failure_per_period);
	tcase_add_test(tc, smtpd_auth_decay_keeps_the_part_of_a_period_run);
	tcase_add_test(tc, smtpd_auth_ends_the_session_after_session_max);
	tcase_add_loop_test(tc, smtpd_auth_counts_ipv4_hosts_and_ipv6_64s, 0,
	    sizeof(net_cases) / sizeof(net_cases[0]));
	tcase_add_test(tc, smtpd_auth_counts_other_families_as_one);
	tcase_add_test(tc, smtpd_auth_table_evicts_the_least_counted_never_grows);
	tcase_add_test(tc, smtpd_auth_throttle_takes_defaults_and_null);
	suite_add_tcase(s, tc);
	return s;
}
