/*
 * check_sendmail_msg - sendmail(1)'s header recipients and message text
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "tools/sendmail_msg.h"
#include "tests/unit/harness.h"

/* --- address-list ---------------------------------------------------- */

struct list_case {
	const char	*in;
	int		 n;		/* -1: refused */
	const char	*out;		/* the addresses joined by " " */
};

static const struct list_case list_cases[] = {
	{ "a@x", 1, "a@x" },
	{ " a@x , b@y ", 2, "a@x b@y" },
	{ "Ann <a@x>, \"Bob, Jr.\" <b@y>", 2, "a@x b@y" },
	{ "a@x (Ann, with a comma)", 1, "a@x" },
	{ "(c (nested) ) a@x", 1, "a@x" },
	{ "Friends: a@x, B <b@y>;, c@z", 3, "a@x b@y c@z" },
	{ "undisclosed-recipients:;", 0, "" },
	{ "", 0, "" },
	{ " , ,", 0, "" },
	{ "<@r1,@r2:a@x>", 1, "a@x" },
	{ "\"odd local\"@x", 1, "\"odd local\"@x" },
	{ "a@x,\r\n\tb@y", 2, "a@x b@y" },
	{ "bare", 1, "bare" },
	{ "Ann Smith", -1, NULL },		/* a phrase, no address */
	{ "a@x <b@y>", 1, "b@y" },		/* what precedes <> is a name */
	{ "<a@x> junk", -1, NULL },
	{ "<a@x", -1, NULL },
	{ "a@x>", -1, NULL },
	{ "\"unterminated@x", -1, NULL },
	{ "(unterminated a@x", -1, NULL },
	{ "G: a@x", -1, NULL },			/* group without ';' */
	{ "a@x;", -1, NULL },
	{ "a\001b@x", -1, NULL },
	{ "a\\b@x", -1, NULL },
};

static int
list_collect(const char *a, void *arg)
{
	struct buf	*b = arg;

	if (buf_len(b) > 0)
		buf_add(b, " ", 1);
	return buf_addstr(b, a);
}

START_TEST(address_lists_give_their_addr_specs)
{
	const struct list_case	*c = &list_cases[_i];
	struct buf		*b = buf_new(64, 4096);
	int			 n;

	n = smsg_addr_list(c->in, strlen(c->in), list_collect, b);
	if (c->n == -1)
		ck_assert_msg(n == -1, "\"%s\" parsed (%d: %s)", c->in, n,
		    buf_data(b));
	else {
		ck_assert_msg(n == c->n, "\"%s\": %d addresses, want %d",
		    c->in, n, c->n);
		ck_assert_str_eq(buf_data(b), c->out);
	}
	buf_free(b);
}
END_TEST

START_TEST(an_overlong_address_is_refused)
{
	char	 s[SMSG_ADDR_MAX + 10];

	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	ck_assert_int_eq(smsg_addr_list(s, strlen(s), NULL, NULL), -1);
}
END_TEST

/* --- the header -------------------------------------------------------- */

static struct buf *
hdr_of(const char *const *lines, int *stopped)
{
	struct buf	*h = buf_new(256, SMSG_HEADER_MAX);
	int		 i, r = 0;

	*stopped = -1;
	for (i = 0; lines[i] != NULL; i++) {
		r = smsg_hdr_add(h, lines[i], strlen(lines[i]));
		if (r != 0) {
			*stopped = i;
			break;
		}
	}
	return h;
}

START_TEST(header_gives_to_cc_bcc_and_drops_bcc)
{
	static const char *const lines[] = {
		"From: me@h", "To: a@x,", "\tb@y", "Subject: s",
		"bcc: Hidden <c@z>", " , d@w", "CC: e@v", "", "body", NULL,
	};
	struct buf	*h, *rc = buf_new(64, 4096), *out;
	int		 stop, flags;

	h = hdr_of(lines, &stop);
	ck_assert_int_eq(stop, 7);
	out = buf_new(256, 8192);
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), list_collect,
	    rc, out, &flags), 0);
	ck_assert_str_eq(buf_data(rc), "a@x b@y c@z d@w e@v");
	ck_assert_str_eq(buf_data(out), "From: me@h\r\nTo: a@x,\r\n\tb@y\r\n"
	    "Subject: s\r\nCC: e@v\r\n");
	ck_assert(flags & SMSG_HAS_FROM);
	buf_free(h);
	buf_free(rc);
	buf_free(out);
}
END_TEST

START_TEST(resent_fields_give_the_recipients_and_no_bcc_is_kept)
{
	static const char *const lines[] = {
		"To: old@x", "Cc: old2@x", "Bcc: oldhidden@x",
		"Resent-From: me@h", "Resent-To: a@y,", " b@y",
		"Resent-Cc: Group: c@y;", "RESENT-BCC: Hidden <d@y>",
		"Subject: s", "", NULL,
	};
	struct buf	*h, *rc = buf_new(64, 4096), *out;
	int		 stop, flags;

	h = hdr_of(lines, &stop);
	ck_assert_int_eq(stop, 9);
	out = buf_new(256, 8192);
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), list_collect,
	    rc, out, &flags), 0);
	ck_assert_str_eq(buf_data(rc), "a@y b@y c@y d@y");
	ck_assert_str_eq(buf_data(out), "To: old@x\r\nCc: old2@x\r\n"
	    "Resent-From: me@h\r\nResent-To: a@y,\r\n b@y\r\n"
	    "Resent-Cc: Group: c@y;\r\nSubject: s\r\n");
	ck_assert(flags & SMSG_HAS_RESENT);
	ck_assert(!(flags & SMSG_HAS_FROM));
	buf_free(h);
	buf_free(rc);
	buf_free(out);
}
END_TEST

START_TEST(resent_bcc_goes_even_without_other_resent_recipients)
{
	static const char *const lines[] = {
		"From: me@h", "To: a@x", "Resent-Bcc: b@y", NULL,
	};
	struct buf	*h, *rc = buf_new(64, 4096), *out;
	int		 stop, flags;

	h = hdr_of(lines, &stop);
	out = buf_new(256, 8192);
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), list_collect,
	    rc, out, &flags), 0);
	/* A Resent- field is there: the To is history, b@y the recipient. */
	ck_assert_str_eq(buf_data(rc), "b@y");
	ck_assert_str_eq(buf_data(out), "From: me@h\r\nTo: a@x\r\n");
	buf_free(h);
	buf_free(rc);
	buf_free(out);
}
END_TEST

START_TEST(header_lines_that_begin_with_a_dot_are_stuffed)
{
	static const char *const lines[] = {
		".Hidden: x", "X-Dots: a", " .continued", "..Two: y", "", NULL,
	};
	struct buf	*h, *out;
	int		 stop, flags;

	h = hdr_of(lines, &stop);
	ck_assert_int_eq(stop, 4);
	out = buf_new(256, 8192);
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), NULL, NULL,
	    out, &flags), 0);
	ck_assert_str_eq(buf_data(out), "..Hidden: x\r\nX-Dots: a\r\n"
	    " .continued\r\n...Two: y\r\n");
	buf_free(h);
	buf_free(out);
}
END_TEST

START_TEST(a_line_that_is_no_field_ends_the_header)
{
	static const char *const a[] = { "To: a@x", "no colon here", NULL };
	static const char *const b[] = { " starts with space", NULL };
	static const char *const c[] = { "Subject : obsolete space", "", NULL };
	struct buf	*h;
	int		 stop, flags;

	h = hdr_of(a, &stop);
	ck_assert_int_eq(stop, 1);
	buf_free(h);
	h = hdr_of(b, &stop);
	ck_assert_int_eq(stop, 0);
	ck_assert_uint_eq(buf_len(h), 0);
	buf_free(h);
	h = hdr_of(c, &stop);
	ck_assert_int_eq(stop, 1);
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), NULL, NULL,
	    NULL, &flags), 0);
	ck_assert_int_eq(flags, 0);
	buf_free(h);
}
END_TEST

START_TEST(a_bad_to_field_fails_the_scan)
{
	static const char *const lines[] = { "To: Ann Smith", NULL };
	struct buf	*h;
	int		 stop, flags;

	h = hdr_of(lines, &stop);
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), list_collect,
	    NULL, NULL, &flags), -1);
	/* Without -t the field is only copied. */
	ck_assert_int_eq(smsg_hdr_scan(buf_data(h), buf_len(h), NULL, NULL,
	    NULL, &flags), 0);
	buf_free(h);
}
END_TEST

START_TEST(the_header_is_capped)
{
	struct buf	*h = buf_new(256, SMSG_HEADER_MAX);
	char		 line[1000];
	int		 i, r = 0;

	memset(line, 'x', sizeof(line));
	memcpy(line, "X-Long: ", 8);
	for (i = 0; i < 1000 && (r = smsg_hdr_add(h, line, sizeof(line))) ==
	    0; i++)
		;
	ck_assert_int_eq(r, -1);
	ck_assert_uint_le(buf_len(h), SMSG_HEADER_MAX);
	buf_free(h);
}
END_TEST

/* --- From ------------------------------------------------------------- */

struct from_case {
	const char	*name;
	const char	*out;		/* NULL: refused */
};

static const struct from_case from_cases[] = {
	{ NULL, "From: <u@h>\r\n" },
	{ "", "From: <u@h>\r\n" },
	{ "Ann Smith", "From: Ann Smith <u@h>\r\n" },
	{ "Smith, Ann", "From: \"Smith, Ann\" <u@h>\r\n" },
	{ "a \"q\" \\b", "From: \"a \\\"q\\\" \\\\b\" <u@h>\r\n" },
	{ "Jos\xc3\xa9", "From: =?UTF-8?B?Sm9zw6k=?= <u@h>\r\n" },
	{ "evil\r\nBcc: x@y", NULL },
};

START_TEST(from_names_are_quoted_or_encoded)
{
	const struct from_case	*c = &from_cases[_i];
	struct buf		*b = buf_new(64, 4096);
	int			 r;

	r = smsg_from_line(b, c->name, "u@h");
	if (c->out == NULL)
		ck_assert_int_eq(r, -1);
	else {
		ck_assert_int_eq(r, 0);
		ck_assert_str_eq(buf_data(b), c->out);
	}
	buf_free(b);
}
END_TEST

START_TEST(a_long_utf8_name_is_cut_between_characters)
{
	char		 name[200];
	struct buf	*b = buf_new(64, 4096);
	const char	*p, *q;
	size_t		 i;

	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[i] = '\0';
	ck_assert_int_eq(smsg_from_line(b, name, "u@h"), 0);
	/* Every encoded-word is at most 75 characters. */
	for (p = buf_data(b); (p = strstr(p, "=?UTF-8?B?")) != NULL; p = q) {
		q = strstr(p, "?=");
		ck_assert_ptr_nonnull(q);
		q += 2;
		ck_assert_int_le(q - p, 75);
	}
	buf_free(b);
}
END_TEST

/* --- reading and writing text ----------------------------------------- */

/* text_through - what the reader and smsg_put make of input */
static char *
text_through(const char *in, size_t len, int stop_at_dot)
{
	struct smsg_reader	*r = calloc(1, sizeof(*r));
	struct buf		*out = buf_new(256, 4 * 1024 * 1024);
	const char		*p;
	size_t			 n;
	int			 fds[2], bol, eol, rv;
	char			 tmpl[] = "/tmp/check_smsg.XXXXXX";

	(void)fds;
	fds[0] = mkstemp(tmpl);
	ck_assert_int_ne(fds[0], -1);
	unlink(tmpl);
	ck_assert_int_eq(write(fds[0], in, len), (ssize_t)len);
	lseek(fds[0], 0, SEEK_SET);
	smsg_reader_init(r, fds[0]);
	while ((rv = smsg_read_line(r, &p, &n, &bol, &eol)) == 1) {
		if (stop_at_dot && bol && eol && n == 1 && p[0] == '.')
			break;
		ck_assert_int_eq(smsg_put(out, p, n, bol, eol), 0);
	}
	ck_assert_int_ne(rv, -1);
	close(fds[0]);
	free(r);
	return buf_release(out);
}

START_TEST(lf_becomes_crlf_and_dots_are_doubled)
{
	char	*s;

	s = text_through("a\nb\r\n.c\n..\n", 12, 0);
	ck_assert_str_eq(s, "a\r\nb\r\n..c\r\n...\r\n");
	free(s);
	s = text_through("no newline", 10, 0);
	ck_assert_str_eq(s, "no newline\r\n");
	free(s);
	s = text_through("x\n.\ny\n", 6, 0);	/* -i: the dot is text */
	ck_assert_str_eq(s, "x\r\n..\r\ny\r\n");
	free(s);
	s = text_through("x\n.\ny\n", 6, 1);	/* without -i: the end */
	ck_assert_str_eq(s, "x\r\n");
	free(s);
	s = text_through("", 0, 0);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(a_huge_line_passes_in_pieces_unchanged)
{
	size_t	 len = 3 * SMSG_READ_MAX + 17;
	char	*in = malloc(len + 2), *s;

	memset(in, 'y', len);
	in[0] = '.';
	/* A CR where the first piece would end stays with its LF. */
	in[SMSG_READ_MAX - 1] = '\r';
	in[SMSG_READ_MAX] = '\n';
	in[len] = '\n';
	s = text_through(in, len + 1, 0);
	ck_assert_uint_eq(strlen(s), len + 1 + 2);	/* '.' doubled, CRLF x2 - LF */
	ck_assert(s[0] == '.' && s[1] == '.');
	ck_assert(memcmp(s + SMSG_READ_MAX, "\r\n", 2) == 0);
	ck_assert(memcmp(s + strlen(s) - 2, "\r\n", 2) == 0);
	free(s);
	free(in);
}
END_TEST

Suite *
sendmail_msg_suite(void)
{
	Suite	*s = suite_create("sendmail_msg");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, address_lists_give_their_addr_specs, 0,
	    sizeof(list_cases) / sizeof(list_cases[0]));
	tcase_add_test(tc, an_overlong_address_is_refused);
	tcase_add_test(tc, header_gives_to_cc_bcc_and_drops_bcc);
	tcase_add_test(tc, resent_fields_give_the_recipients_and_no_bcc_is_kept);
	tcase_add_test(tc, resent_bcc_goes_even_without_other_resent_recipients);
	tcase_add_test(tc, header_lines_that_begin_with_a_dot_are_stuffed);
	tcase_add_test(tc, a_line_that_is_no_field_ends_the_header);
	tcase_add_test(tc, a_bad_to_field_fails_the_scan);
	tcase_add_test(tc, the_header_is_capped);
	tcase_add_loop_test(tc, from_names_are_quoted_or_encoded, 0,
	    sizeof(from_cases) / sizeof(from_cases[0]));
	tcase_add_test(tc, a_long_utf8_name_is_cut_between_characters);
	tcase_add_test(tc, lf_becomes_crlf_and_dots_are_doubled);
	tcase_add_test(tc, a_huge_line_passes_in_pieces_unchanged);
	suite_add_tcase(s, tc);
	return s;
}
