/*
 * check_smtpd_data - the content rules of DATA and BDAT, as a table
 */
#include <check.h>
#include <string.h>

#include "smtpd/smtpd_data.h"
#include "tests/unit/harness.h"

struct data_out {
	char	 buf[4096];
	size_t	 len;
	size_t	 hdr_at;
	int	 hdr_ends;
};

static void
data_out(void *arg, const char *p, size_t n)
{
	struct data_out	*o = arg;

	ck_assert_uint_le(o->len + n, sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
data_hdr(void *arg)
{
	struct data_out	*o = arg;

	o->hdr_ends++;
	o->hdr_at = o->len;
}

static const struct {
	const char		*in;
	enum smtpd_data_err	 want;
} cases[] = {
	{ "Subject: x\r\n\r\nbody\r\n", SMTPD_DE_NONE },
	{ "", SMTPD_DE_NONE },
	{ "Subject: x\r\n\r\nbare\nlf\r\n", SMTPD_DE_BARE },
	{ "Subject: x\r\n\r\nbare\rcr\r\n", SMTPD_DE_BARE },
	{ "Subject: x\r\n\r\nno end", SMTPD_DE_BARE },
	{ "Subject: x\r\n\r\nends in cr\r", SMTPD_DE_BARE },
	{ "Received: a\r\nReceived: b\r\nReceived: c\r\n\r\n", SMTPD_DE_NONE },
	{ "Received: a\r\nreceived: b\r\nRECEIVED: c\r\nReceived: d\r\n\r\n",
	    SMTPD_DE_LOOP },
	{ "Subject: x\r\n\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\n"
	    "Received: d\r\n", SMTPD_DE_NONE },
	{ "Subject: x\r\n X-Received: folded\r\n\r\n", SMTPD_DE_NONE },
};

START_TEST(content_rules_table)
{
	struct smtpd_data	 d;
	struct data_out		 o;
	struct smtpd_data_sink	 sink = { data_out, data_hdr, &o };
	const char		*in = cases[_i].in;
	size_t			 i;

	/* Byte by byte: the verdict cannot depend on where pieces end. */
	memset(&o, 0, sizeof(o));
	smtpd_data_init(&d, 4096, 3);
	for (i = 0; in[i] != '\0'; i++)
		smtpd_data_feed(&d, in + i, 1, &sink);
	ck_assert_int_eq(smtpd_data_finish(&d, &sink), cases[_i].want);
	if (cases[_i].want == SMTPD_DE_NONE) {
		ck_assert_uint_eq(o.len, strlen(in));
		ck_assert_int_eq(memcmp(o.buf, in, o.len), 0);
		ck_assert_int_eq(o.hdr_ends, 1);
	}
}
END_TEST

START_TEST(a_line_of_1000_octets_passes_and_1001_does_not)
{
	struct smtpd_data	 d;
	struct data_out		 o;
	struct smtpd_data_sink	 sink = { data_out, NULL, &o };
	char			 line[1002];

	memset(line, 'x', sizeof(line));
	memcpy(line + 998, "\r\n", 2);
	memset(&o, 0, sizeof(o));
	smtpd_data_init(&d, 1 << 20, 50);
	smtpd_data_feed(&d, line, 1000, &sink);
	ck_assert_int_eq(smtpd_data_finish(&d, &sink), SMTPD_DE_NONE);
	memcpy(line + 999, "\r\n", 2);
	line[998] = 'x';
	smtpd_data_init(&d, 1 << 20, 50);
	smtpd_data_feed(&d, line, 1001, &sink);
	ck_assert_int_eq(smtpd_data_finish(&d, &sink), SMTPD_DE_LONG);
}
END_TEST

START_TEST(the_size_limit_counts_every_octet_and_nothing_passes_after_it)
{
	struct smtpd_data	 d;
	struct data_out		 o;
	struct smtpd_data_sink	 sink = { data_out, NULL, &o };

	memset(&o, 0, sizeof(o));
	smtpd_data_init(&d, 10, 50);
	smtpd_data_feed(&d, "abcdefgh\r\n", 10, &sink);
	ck_assert_int_eq(d.err, SMTPD_DE_NONE);
	smtpd_data_feed(&d, "x", 1, &sink);
	ck_assert_int_eq(smtpd_data_finish(&d, &sink), SMTPD_DE_SIZE);
	ck_assert_uint_eq(o.len, 10);
	ck_assert_uint_eq(d.size, 11);
}
END_TEST

START_TEST(headers_seen_and_the_header_end_is_announced_before_the_empty_line)
{
	static const char	 msg[] = "Date: now\r\nMessage-ID: <a@b>\r\n\r\nx\r\n";
	struct smtpd_data	 d;
	struct data_out		 o;
	struct smtpd_data_sink	 sink = { data_out, data_hdr, &o };

	memset(&o, 0, sizeof(o));
	smtpd_data_init(&d, 4096, 50);
	smtpd_data_feed(&d, msg, sizeof(msg) - 1, &sink);
	ck_assert_int_eq(smtpd_data_finish(&d, &sink), SMTPD_DE_NONE);
	ck_assert_int_eq(d.hdr_seen, SMTPD_DATA_H_DATE | SMTPD_DATA_H_MSGID);
	ck_assert_uint_eq(o.hdr_at, strlen("Date: now\r\nMessage-ID: <a@b>\r\n"));
}
END_TEST

Suite *
smtpd_data_suite(void)
{
	Suite	*s = suite_create("smtpd_data");
	TCase	*tc = tcase_create("rules");

	tcase_add_loop_test(tc, content_rules_table, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, a_line_of_1000_octets_passes_and_1001_does_not);
	tcase_add_test(tc,
	    the_size_limit_counts_every_octet_and_nothing_passes_after_it);
	tcase_add_test(tc,
	    headers_seen_and_the_header_end_is_announced_before_the_empty_line);
	suite_add_tcase(s, tc);
	return s;
}
