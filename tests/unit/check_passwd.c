/*
 * check_passwd - password file lines to entries or errors; verify; sender grants
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/conf_priv.h"
#include "common/passwd.h"
#include "tests/unit/harness.h"

Suite	*passwd_suite(void);	/* for check_main.c; harness.h does not list it yet */

/* Hashes of "correct horse", cheap where the method lets them be. */
#define H_Y	"$y$j75$1KFjcaFbdxmsQx96x.bPb/$pCikkB8gdNIXwD0Q0ATeCW2WefxUxFoYaxIXu0dW6w2"
#define H_Y0	"$y$j9T$id8ReoFqQw/OvrECl1GT2.$cq6wnrnBOp6RwXAl5zQtQI.4lTkkePcwAuiox2Uu4k5"
#define H_B	"$2b$04$K/ShZDpbthqsYNMcPMAu/uRaX1dOBhtkjqfJJgAFda3vy9n12z7Nq"
#define H_6	"$6$rounds=1000$Wr2b0crdL/lLhfE2$n8XoX5UP5oW7FiEJ/y2gtzCAPbukcVXMEdJS0dJG0h9KmsSVciTxmQxBEgKiHhYzSjTS2NfHN1qQSk/Ge5Okg."
#define H_6D	"$6$Ovik0xhMKvfG3TBK$JLWV8OUqJZmAJ8msThxMrCttSH/I7WPI4E2oqB7dyfJyvJ/VKQFo2MOU5jmpx2kAc9VR6UjumgmN29rMef5th."
#define H_MD5	"$1$d8TdVPgC$oO7V6Q9R09kHYBRItDNpg/"
#define H_DES	"abhfCpXqd4GrI"
#define PW	"correct horse"

struct line_case {
	const char	*text;
	size_t		 len;		/* a NUL may be part of the text */
	const char	*error;		/* NULL: loads; else a substring of errs[0] */
};

#define L(text, error)	{ text, sizeof(text) - 1, error }

static const struct line_case line_cases[] = {
	L("ana:" H_Y "\n", NULL),
	L("ana:" H_Y, NULL),				/* no final newline */
	L("ana:" H_Y "\r\n", NULL),
	L("  ana:" H_Y "  \t\n", NULL),
	L("ana@uni-a.es:" H_Y0 "\n", NULL),
	L("ana@UNI-A.ES:" H_B "\n", NULL),
	L("ana:" H_6 "\n", NULL),
	L("ana:" H_6D "\n", NULL),
	L("ana:" H_Y ":ana@uni-a.es\n", NULL),
	L("ana:" H_Y ":ana@uni-a.es,@uni-b.es\n", NULL),
	L("ana:" H_Y ": ana@uni-a.es , @uni-b.es \n", NULL),
	L("ana:" H_Y ":\"a b\"@uni-a.es\n", NULL),
	L("ana:" H_Y ":@[192.0.2.1]\n", NULL),
	L("# a comment\n\n   \n\t# another\nana:" H_Y "\n", NULL),
	L("", NULL),
	L("\n\n", NULL),

	L("ana\n", "t:1: no ':' after the user name"),
	L(":" H_Y "\n", "t:1: empty user name"),
	L("a na:" H_Y "\n", "t:1: user name holds a blank"),
	L("an\x01" "a:" H_Y "\n", "t:1: user name holds a blank"),
	L("an\xc3\xa1:" H_Y "\n", "t:1: user name holds a blank"),
	L("ana:\n", "t:1: empty password hash"),
	L("ana::ana@uni-a.es\n", "t:1: empty password hash"),
	L("ana:" H_DES "\n", "t:1: DES crypt is not accepted"),
	L("ana:" H_MD5 "\n", "t:1: MD5 crypt ($1$) is not accepted"),
	L("ana:$2a$04$K/ShZDpbthqsYNMcPMAu/uRaX1dOBhtkjqfJJgAFda3vy9n12z7Nq\n",
	    "t:1: bcrypt is accepted only as $2b$"),
	L("ana:$5$abc$def\n", "t:1: hash method not accepted"),
	L("ana:!" H_Y "\n", "t:1: locked or disabled hash"),
	L("ana:*\n", "t:1: locked or disabled hash"),
	L("ana:$y$j75$1KFjcaFbdxmsQx96x.bPb/$pCikkB8gdNIXwD0Q0ATeCW2WefxUxFoYaxIXu0dW6w\n",
	    "t:1: malformed yescrypt hash (hash)"),
	L("ana:$y$j75$1KFjcaFbdxmsQx96x.bPb/\n",
	    "t:1: malformed yescrypt hash (salt)"),
	L("ana:$y$j75$1KFjcaFbdxmsQx96x.bPb/$\n",
	    "t:1: malformed yescrypt hash (hash)"),
	L("ana:$y$$1KFjcaFbdxmsQx96x.bPb/$pCikkB8gdNIXwD0Q0ATeCW2WefxUxFoYaxIXu0dW6w2\n",
	    "t:1: malformed yescrypt hash (parameters)"),
	L("ana:$y$j75$$pCikkB8gdNIXwD0Q0ATeCW2WefxUxFoYaxIXu0dW6w2\n",
	    "t:1: malformed yescrypt hash (salt)"),
	L("ana:$2b$4$K/ShZDpbthqsYNMcPMAu/uRaX1dOBhtkjqfJJgAFda3vy9n12z7Nq\n",
	    "t:1: malformed bcrypt hash (cost)"),
	L("ana:$2b$03$K/ShZDpbthqsYNMcPMAu/uRaX1dOBhtkjqfJJgAFda3vy9n12z7Nq\n",
	    "t:1: bcrypt cost out of range"),
	L("ana:$2b$04$K/ShZDpbthqsYNMcPMAu/uRaX1dOBhtkjqfJJgAFda3vy9n12z7N\n",
	    "t:1: malformed bcrypt hash (salt and hash)"),
	L("ana:$6$rounds=$Wr2b0crdL/lLhfE2$x\n",
	    "t:1: malformed sha512crypt hash (rounds)"),
	L("ana:$6$Ovik0xhMKvfG3TBKx$JLWV8OUqJZmAJ8msThxMrCttSH/I7WPI4E2oqB7dyfJyvJ/VKQFo2MOU5jmpx2kAc9VR6UjumgmN29rMef5th.\n",
	    "t:1: malformed sha512crypt hash (salt)"),
	L("ana:$6$Ovik0xhMKvfG3TBK$JLWV8OUqJZmAJ8msThxMrCttSH\n",
	    "t:1: malformed sha512crypt hash (hash)"),
	L("ana:" H_Y ":\n", "t:1: empty sender in the list"),
	L("ana:" H_Y ":a@b.example,,c@d.example\n", "t:1: empty sender"),
	L("ana:" H_Y ":a@b.example,\n", "t:1: empty sender"),
	L("ana:" H_Y ":nobody\n", "t:1: sender \"nobody\" is not a mailbox"),
	L("ana:" H_Y ":<a@b.example>\n", "t:1: sender \"<a@b.example>\""),
	L("ana:" H_Y ":a@b.example x@y\n", "t:1: sender \"a@b.example x@y\""),
	L("ana:" H_Y ":@\n", "t:1: sender \"@\" is not @ and a domain"),
	L("ana:" H_Y ":@bad..example\n", "t:1: sender \"@bad..example\""),
	L("ana:" H_Y ":a@b.example:c@d.example\n",
	    "t:1: more than three ':'-separated fields"),
	L("ana@b@c:" H_Y "\n", "t:1: user name \"ana@b@c\" has '@' but is not"),
	L("ana@b@c:" H_Y ":ana@c.example\n", NULL),
	L("# ok\nana:" H_Y "\nbob:" H_DES "\n", "t:3: DES crypt"),
	L("ana:" H_Y "\nbob:" H_Y "\nana:" H_B "\n",
	    "t:3: duplicate user \"ana\" (first on line 1)"),
	L("ana@uni-a.es:" H_Y "\nana@Uni-A.Es:" H_Y "\n",
	    "t:2: duplicate user \"ana@uni-a.es\" (first on line 1)"),
	L("ana:" H_Y "\nbob\0:" H_Y "\n", "t:2: NUL octet"),
};

START_TEST(passwd_lines_load_or_say_why)
{
	const struct line_case	*c = &line_cases[_i];
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	int			 rc;

	rc = passwd_load_text(pw, c->text, c->len, "t", &errs);
	if (c->error == NULL) {
		if (rc != 0)
			ck_abort_msg("case %d: %s", _i, errs.lines[0]);
		ck_assert_uint_eq(errs.n, 0);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_uint_ge(errs.n, 1);
		if (strstr(errs.lines[0], c->error) == NULL)
			ck_abort_msg("case %d: \"%s\" lacks \"%s\"", _i,
			    errs.lines[0], c->error);
		ck_assert_uint_eq(passwd_count(pw), 0);
	}
	conf_errors_clear(&errs);
	passwd_free(pw);
}
END_TEST

START_TEST(passwd_reports_every_bad_line_and_keeps_the_old_map)
{
	static const char	 good[] = "ana:" H_Y "\nbob:" H_B "\n";
	static const char	 bad[] = "carl:" H_Y "\nx\n\nbob:\n# c\n"
	    "ana:" H_DES "\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();

	ck_assert_int_eq(passwd_load_text(pw, good, strlen(good), "f", &errs),
	    0);
	ck_assert_uint_eq(passwd_count(pw), 2);
	ck_assert_int_eq(passwd_load_text(pw, bad, strlen(bad), "f", &errs),
	    -1);
	ck_assert_uint_eq(errs.n, 3);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "f:2: "));
	ck_assert_ptr_nonnull(strstr(errs.lines[1], "f:4: "));
	ck_assert_ptr_nonnull(strstr(errs.lines[2], "f:6: "));
	ck_assert_uint_eq(passwd_count(pw), 2);
	ck_assert_int_eq(passwd_verify(pw, "bob", PW, strlen(PW)), 1);
	ck_assert_int_eq(passwd_verify(pw, "carl", PW, strlen(PW)), 0);
	conf_errors_clear(&errs);
	ck_assert_uint_eq(errs.n, 0);
	passwd_free(pw);
}
END_TEST

START_TEST(passwd_load_replaces_the_entries)
{
	static const char	 one[] = "ana:" H_Y "\n";
	static const char	 two[] = "bob:" H_Y "\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();

	ck_assert_int_eq(passwd_verify(pw, "ana", PW, strlen(PW)), 0);
	ck_assert_int_eq(passwd_load_text(pw, one, strlen(one), "f", &errs),
	    0);
	ck_assert_int_eq(passwd_verify(pw, "ana", PW, strlen(PW)), 1);
	ck_assert_int_eq(passwd_load_text(pw, two, strlen(two), "f", &errs),
	    0);
	ck_assert_int_eq(passwd_verify(pw, "ana", PW, strlen(PW)), 0);
	ck_assert_int_eq(passwd_verify(pw, "bob", PW, strlen(PW)), 1);
	passwd_free(pw);
}
END_TEST

START_TEST(passwd_load_refuses_overlong_lines_and_names)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	struct buf		*b = buf_new(8192, 16384);
	int			 i;

	for (i = 0; i < PASSWD_USER_MAX; i++)
		buf_add(b, "u", 1);
	buf_addstr(b, ":" H_Y "\n");
	ck_assert_int_eq(passwd_load_text(pw, buf_data(b), buf_len(b), "f",
	    &errs), 0);
	buf_reset(b);
	for (i = 0; i <= PASSWD_USER_MAX; i++)
		buf_add(b, "u", 1);
	buf_addstr(b, ":" H_Y "\n");
	ck_assert_int_eq(passwd_load_text(pw, buf_data(b), buf_len(b), "f",
	    &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "f:1: user name longer"));
	conf_errors_clear(&errs);
	buf_reset(b);
	buf_addstr(b, "ana:" H_Y ":");
	while (buf_len(b) <= PASSWD_LINE_MAX)
		buf_addstr(b, "@uni-a.es,");
	buf_addstr(b, "@uni-a.es\n");
	ck_assert_int_eq(passwd_load_text(pw, buf_data(b), buf_len(b), "f",
	    &errs), -1);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "f:1: line longer than"));
	conf_errors_clear(&errs);
	buf_free(b);
	passwd_free(pw);
}
END_TEST

START_TEST(passwd_stops_reporting_after_the_error_cap)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	struct buf		*b = buf_new(8192, 1 << 20);
	int			 i;

	for (i = 0; i < CONF_ERRORS_MAX + 50; i++)
		buf_addstr(b, "x\n");
	ck_assert_int_eq(passwd_load_text(pw, buf_data(b), buf_len(b), "f",
	    &errs), -1);
	ck_assert_uint_eq(errs.n, CONF_ERRORS_MAX + 1);
	ck_assert_ptr_nonnull(strstr(errs.lines[CONF_ERRORS_MAX],
	    "too many errors"));
	conf_errors_clear(&errs);
	buf_free(b);
	passwd_free(pw);
}
END_TEST

struct verify_case {
	const char	*user;
	const char	*pass;
	size_t		 passlen;	/* 0: strlen */
	int		 want;
};

static const struct verify_case verify_cases[] = {
	{ "ana", PW, 0, 1 },			/* yescrypt */
	{ "bob", PW, 0, 1 },			/* bcrypt */
	{ "carl", PW, 0, 1 },			/* sha512crypt */
	{ "dora@uni-a.es", PW, 0, 1 },
	{ "dora@UNI-A.es", PW, 0, 1 },		/* domain in any case */
	{ "Dora@uni-a.es", PW, 0, 0 },		/* local part exact */
	{ "ANA", PW, 0, 0 },
	{ "ana", "correct horsE", 0, 0 },
	{ "ana", "correct horse ", 0, 0 },
	{ "ana", "correct", 0, 0 },
	{ "ana", "", 0, 0 },
	{ "ana", PW "\0x", sizeof(PW) + 1, 0 },	/* NUL inside */
	{ "ana", PW "\0", sizeof(PW), 0 },	/* NUL at the end */
	{ "bob", "wrong", 0, 0 },
	{ "carl", "wrong", 0, 0 },
	{ "nobody", PW, 0, 0 },
	{ "", PW, 0, 0 },
};

static struct passwd *
check_passwd_map(void)
{
	static const char	 text[] = "ana:" H_Y "\nbob:" H_B "\ncarl:" H_6
	    "\ndora@Uni-A.ES:" H_Y "\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();

	ck_assert_int_eq(passwd_load_text(pw, text, strlen(text), "f", &errs),
	    0);
	return pw;
}

START_TEST(passwd_verify_answers_one_only_for_the_right_password)
{
	const struct verify_case	*c = &verify_cases[_i];
	struct passwd			*pw = check_passwd_map();
	size_t				 n;

	n = c->passlen != 0 ? c->passlen : strlen(c->pass);
	ck_assert_msg(passwd_verify(pw, c->user, c->pass, n) == c->want,
	    "case %d", _i);
	passwd_free(pw);
}
END_TEST

START_TEST(passwd_verify_refuses_passwords_over_the_limit)
{
	struct passwd	*pw = check_passwd_map();
	char		*p = malloc(PASSWD_PASS_MAX + 10);

	memset(p, 'x', PASSWD_PASS_MAX + 10);
	/* Over the limit: wrong, never -1, which would tell users apart. */
	ck_assert_int_eq(passwd_verify(pw, "ana", p, PASSWD_PASS_MAX + 10), 0);
	ck_assert_int_eq(passwd_verify(pw, "ana", p, PASSWD_PASS_MAX + 1), 0);
	ck_assert_int_eq(passwd_verify(pw, "nobody", p, PASSWD_PASS_MAX + 1),
	    0);
	ck_assert_int_eq(passwd_verify(pw, "ana", p, PASSWD_PASS_MAX), 0);
	ck_assert_int_eq(passwd_verify(pw, "bob", p, PASSWD_PASS_MAX), 0);
	ck_assert_int_eq(passwd_verify(pw, "carl", p, PASSWD_PASS_MAX), 0);
	free(p);
	passwd_free(pw);
}
END_TEST

static double
check_passwd_time(const struct passwd *pw, const char *user)
{
	struct timespec	 a, b;
	double		 best = 1e9, t;
	int		 i;

	for (i = 0; i < 3; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		(void)passwd_verify(pw, user, "guess", 5);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t = (double)(b.tv_sec - a.tv_sec) +
		    (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		if (t < best)
			best = t;
	}
	return best;
}

START_TEST(passwd_verify_of_an_unknown_user_costs_a_hash)
{
	static const char	 text[] = "ana:" H_Y0 "\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	double			 known, unknown;

	ck_assert_int_eq(passwd_load_text(pw, text, strlen(text), "f", &errs),
	    0);
	known = check_passwd_time(pw, "ana");
	unknown = check_passwd_time(pw, "nobody");
	/* Same method and cost: generous bounds, the machine is shared. */
	ck_assert_msg(unknown > known / 3 && unknown < known * 3,
	    "known %.4f s, unknown %.4f s", known, unknown);
	passwd_free(pw);
}
END_TEST

struct sender_case {
	const char	*user;
	const char	*mailbox;
	int		 want;
};

static const struct sender_case sender_cases[] = {
	/* No list: the name itself, when it is a mailbox. */
	{ "ana@uni-a.es", "ana@uni-a.es", 1 },
	{ "ana@uni-a.es", "ana@UNI-A.ES", 1 },
	{ "ANA@uni-a.es", "ana@uni-a.es", 0 },	/* not the same user */
	{ "ana@uni-a.es", "Ana@uni-a.es", 0 },
	{ "ana@uni-a.es", "bob@uni-a.es", 0 },
	{ "ana@uni-a.es", "ana@uni-a.es.evil", 0 },
	{ "ana@uni-a.es", "ana@sub.uni-a.es", 0 },
	{ "ana@uni-a.es", "", 1 },
	{ "ana@uni-a.es", "<>", 1 },
	{ "plain", "plain", 0 },
	{ "plain", "plain@uni-a.es", 0 },
	{ "plain", "", 1 },
	/* A list replaces the default. */
	{ "luis@uni-a.es", "luis@uni-a.es", 0 },
	{ "luis@uni-a.es", "l.perez@uni-a.es", 1 },
	{ "luis@uni-a.es", "L.Perez@uni-a.es", 0 },
	{ "luis@uni-a.es", "anyone@uni-b.es", 1 },
	{ "luis@uni-a.es", "anyone@UNI-B.ES", 1 },
	{ "luis@uni-a.es", "uni-b.es", 0 },
	{ "luis@uni-a.es", "x@sub.uni-b.es", 0 },
	{ "luis@uni-a.es", "x@uni-b.es.evil", 0 },
	{ "luis@uni-a.es", "\"a@b\"@uni-b.es", 1 },
	{ "luis@uni-a.es", "", 1 },
	{ "relay", "x@uni-c.es", 1 },
	{ "relay", "x@uni-a.es", 0 },
	/* Nobody. */
	{ "ghost@uni-a.es", "ghost@uni-a.es", 0 },
	{ "ghost@uni-a.es", "", 1 },
};

START_TEST(passwd_grants_senders_by_list_or_name)
{
	static const char	 text[] =
	    "ana@Uni-A.es:" H_Y "\n"
	    "ANA@uni-a.es:" H_Y ":other@uni-a.es\n"
	    "plain:" H_Y "\n"
	    "luis@uni-a.es:" H_Y ":l.perez@Uni-A.es,@Uni-B.es\n"
	    "relay:" H_Y ":@uni-c.es\n";
	const struct sender_case	*c = &sender_cases[_i];
	struct conf_errors		 errs = { NULL, 0 };
	struct passwd			*pw = passwd_new();

	ck_assert_int_eq(passwd_load_text(pw, text, strlen(text), "f", &errs),
	    0);
	ck_assert_msg(passwd_sender_allowed(pw, c->user, c->mailbox) ==
	    c->want, "case %d: %s as <%s>", _i, c->user, c->mailbox);
	passwd_free(pw);
}
END_TEST

static void
check_passwd_collect(const char *line, void *arg)
{
	buf_printf(arg, "%s\n", line);
}

START_TEST(passwd_items_load_back_to_the_same_map)
{
	static const char	 text[] = "# users\nzed:" H_B "\n"
	    "  ana@Uni-A.ES:" H_Y ": ana@Uni-A.ES , @Uni-B.es\r\n"
	    "bob:" H_6 "\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new(), *again = passwd_new();
	struct buf		*b1 = buf_new(1024, 65536);
	struct buf		*b2 = buf_new(1024, 65536);

	ck_assert_int_eq(passwd_load_text(pw, text, strlen(text), "f", &errs),
	    0);
	passwd_items(pw, check_passwd_collect, b1);
	ck_assert_str_eq(buf_data(b1),
	    "ana@uni-a.es:" H_Y ":ana@uni-a.es,@uni-b.es\n"
	    "bob:" H_6 "\n"
	    "zed:" H_B "\n");
	ck_assert_int_eq(passwd_load_text(again, buf_data(b1), buf_len(b1),
	    "items", &errs), 0);
	passwd_items(again, check_passwd_collect, b2);
	ck_assert_str_eq(buf_data(b1), buf_data(b2));
	ck_assert_uint_eq(passwd_count(again), 3);
	buf_free(b1);
	buf_free(b2);
	passwd_free(pw);
	passwd_free(again);
}
END_TEST

START_TEST(passwd_load_file_reads_a_file_or_says_why_not)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	char			*dir = harness_tmpdir(), path[512];
	FILE			*f;

	snprintf(path, sizeof(path), "%s/passwd", dir);
	ck_assert_int_eq(passwd_load_file(pw, path, &errs), -1);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], ":0: cannot open: "));
	conf_errors_clear(&errs);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "ana:%s\nbad\n", H_Y);
	fclose(f);
	ck_assert_int_eq(passwd_load_file(pw, path, &errs), -1);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "/passwd:2: no ':'"));
	conf_errors_clear(&errs);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "ana:%s\n", H_Y);
	fclose(f);
	ck_assert_int_eq(passwd_load_file(pw, path, &errs), 0);
	ck_assert_int_eq(passwd_verify(pw, "ana", PW, strlen(PW)), 1);
	harness_rmtree(dir);
	free(dir);
	passwd_free(pw);
}
END_TEST

START_TEST(passwd_free_takes_null)
{
	passwd_free(NULL);
	conf_errors_clear(NULL);
}
END_TEST

Suite *
passwd_suite(void)
{
	Suite	*s = suite_create("passwd");
	TCase	*tc;

	tc = tcase_create("load");
	tcase_add_loop_test(tc, passwd_lines_load_or_say_why, 0,
	    sizeof(line_cases) / sizeof(line_cases[0]));
	tcase_add_test(tc, passwd_reports_every_bad_line_and_keeps_the_old_map);
	tcase_add_test(tc, passwd_load_replaces_the_entries);
	tcase_add_test(tc, passwd_load_refuses_overlong_lines_and_names);
	tcase_add_test(tc, passwd_stops_reporting_after_the_error_cap);
	tcase_add_test(tc, passwd_items_load_back_to_the_same_map);
	tcase_add_test(tc, passwd_load_file_reads_a_file_or_says_why_not);
	tcase_add_test(tc, passwd_free_takes_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_loop_test(tc, passwd_verify_answers_one_only_for_the_right_password,
	    0, sizeof(verify_cases) / sizeof(verify_cases[0]));
	tcase_add_test(tc, passwd_verify_refuses_passwords_over_the_limit);
	tcase_add_test(tc, passwd_verify_of_an_unknown_user_costs_a_hash);
	suite_add_tcase(s, tc);

	tc = tcase_create("senders");
	tcase_add_loop_test(tc, passwd_grants_senders_by_list_or_name, 0,
	    sizeof(sender_cases) / sizeof(sender_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}
