/*
 * check_fed_bundle - the federation bundle reader, on bundles made here
 *
 * Each test makes a CA (and where it needs one, a second key) with
 * OpenSSL's API, writes bundle text, signs it as aval-ca publish does
 * (CMS_sign, content attached, DER), and checks what fed_bundle_verify()
 * says about it. The CA and bundle makers are the harness's (harness.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "common/fedbundle.h"
#include "tests/unit/harness.h"

static const char fb_members[] =
    "member uni-a\norg University A\ncontact postmaster@a.example\n"
    "status active\ndomain a.example\nmx mx1.a.example\nmx mx2.a.example\n"
    "net 192.0.2.0/24\nnet 2001:db8:a::/48\nend\n"
    "member uni-b\norg University B\ncontact pm@b.example\n"
    "status suspended\ndomain b.example\nmx mx.b.example\nend\n";

static enum fed_verdict
fb_verify(const struct buf *der, X509 *ca, uint64_t min,
    struct fed_bundle *out, char *err, size_t errlen)
{
	return fed_bundle_verify((const unsigned char *)buf_data(der),
	    buf_len(der), ca, time(NULL), min, out, err, errlen);
}

START_TEST(bundle_round_trip_gives_back_every_field)
{
	struct harness_ca		 ca;
	struct fed_bundle	 b;
	struct buf		*t, *d;
	char			 err[256] = "", net[64];
	time_t			 exp = time(NULL) + 86400;

	harness_ca_make(&ca, "Test Fed");
	t = harness_fed_text(&ca, 5, exp, fb_members);
	d = harness_fed_sign(t, ca.key, ca.cert);
	ck_assert_msg(fb_verify(d, ca.cert, 5, &b, err, sizeof(err)) ==
	    FED_V_OK, "%s", err);
	ck_assert_uint_eq(b.serial, 5);
	ck_assert_int_eq(b.expires, exp);
	ck_assert_str_eq(b.federation, "Test Fed");
	ck_assert_uint_eq(b.reg.n, 2);
	ck_assert_str_eq(b.reg.members[0].id, "uni-a");
	ck_assert_int_eq(b.reg.members[0].status, FED_S_ACTIVE);
	ck_assert_uint_eq(b.reg.members[0].nmx, 2);
	ck_assert_str_eq(b.reg.members[0].mx[1], "mx2.a.example");
	ck_assert_uint_eq(b.reg.members[0].nnets, 2);
	fed_net_format(&b.reg.members[0].nets[1], net, sizeof(net));
	ck_assert_str_eq(net, "2001:db8:a::/48");
	ck_assert_int_eq(b.reg.members[1].status, FED_S_SUSPENDED);
	ck_assert_int_eq(X509_cmp(b.ca, ca.cert), 0);
	ck_assert_ptr_nonnull(b.crl);
	fed_bundle_clear(&b);
	buf_free(t);
	buf_free(d);
	harness_ca_free(&ca);
}
END_TEST

START_TEST(bundle_with_one_content_byte_changed_is_refused)
{
	struct harness_ca		 ca;
	struct fed_bundle	 b;
	struct buf		*t, *d;
	char			 err[256], *p, *q;
	size_t			 n;

	harness_ca_make(&ca, "Test Fed");
	t = harness_fed_text(&ca, 1, time(NULL) + 86400, fb_members);
	d = harness_fed_sign(t, ca.key, ca.cert);
	/* Make mx1.a.example read mx1.b.example inside the signed DER. */
	n = buf_len(d);
	p = malloc(n);
	memcpy(p, buf_data(d), n);
	q = memmem(p, n, "mx1.a.example", 13);
	ck_assert_ptr_nonnull(q);
	q[4] = 'b';
	ck_assert_int_eq(fed_bundle_verify((unsigned char *)p, n, ca.cert,
	    time(NULL), 0, &b, err, sizeof(err)), FED_V_BADSIG);
	ck_assert_ptr_null(b.ca);
	free(p);
	buf_free(t);
	buf_free(d);
	harness_ca_free(&ca);
}
END_TEST

START_TEST(bundle_signed_by_another_key_is_refused)
{
	struct harness_ca		 ca, other;
	struct fed_bundle	 b;
	struct buf		*t, *d;
	char			 err[256];

	harness_ca_make(&ca, "Test Fed");
	/* Same name, other key: a look-alike CA must not pass. */
	harness_ca_make(&other, "Test Fed");
	t = harness_fed_text(&ca, 1, time(NULL) + 86400, fb_members);
	d = harness_fed_sign(t, other.key, other.cert);
	ck_assert_int_eq(fb_verify(d, ca.cert, 0, &b, err, sizeof(err)),
	    FED_V_BADSIG);
	buf_free(d);
	/* And signed by the right CA, but carrying another CA inside. */
	buf_free(t);
	t = harness_fed_text(&other, 1, time(NULL) + 86400, fb_members);
	d = harness_fed_sign(t, ca.key, ca.cert);
	ck_assert_int_eq(fb_verify(d, ca.cert, 0, &b, err, sizeof(err)),
	    FED_V_MALFORMED);
	buf_free(t);
	buf_free(d);
	harness_ca_free(&ca);
	harness_ca_free(&other);
}
END_TEST

START_TEST(bundle_with_older_serial_is_rollback)
{
	struct harness_ca		 ca;
	struct fed_bundle	 b;
	struct buf		*t, *d;
	char			 err[256];

	harness_ca_make(&ca, "Test Fed");
	t = harness_fed_text(&ca, 7, time(NULL) + 86400, fb_members);
	d = harness_fed_sign(t, ca.key, ca.cert);
	ck_assert_int_eq(fb_verify(d, ca.cert, 8, &b, err, sizeof(err)),
	    FED_V_ROLLBACK);
	ck_assert_ptr_nonnull(strstr(err, "rollback"));
	ck_assert_ptr_null(b.ca);
	/* The same serial again is a reload, not a rollback. */
	ck_assert_int_eq(fb_verify(d, ca.cert, 7, &b, err, sizeof(err)),
	    FED_V_OK);
	fed_bundle_clear(&b);
	buf_free(t);
	buf_free(d);
	harness_ca_free(&ca);
}
END_TEST

START_TEST(expired_bundle_is_refused)
{
	struct harness_ca		 ca;
	struct fed_bundle	 b;
	struct buf		*t, *d;
	char			 err[256];

	harness_ca_make(&ca, "Test Fed");
	t = harness_fed_text(&ca, 1, time(NULL) - 1, fb_members);
	d = harness_fed_sign(t, ca.key, ca.cert);
	ck_assert_int_eq(fb_verify(d, ca.cert, 0, &b, err, sizeof(err)),
	    FED_V_EXPIRED);
	buf_free(t);
	buf_free(d);
	harness_ca_free(&ca);
}
END_TEST

/* Signed, yet not a bundle: each must come back MALFORMED. */
static const char *fb_bad_members[] = {
	"member uni-b\norg B\ncontact b\nstatus active\nend\n"
	    "member uni-a\norg A\ncontact a\nstatus active\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\nmx mx.x.example\nend\n"
	    "member uni-b\norg B\ncontact b\nstatus active\nmx mx.x.example\n"
	    "end\n",
	"member uni-a\norg A\ncontact a\nstatus active\nnet 10.0.0.0/8\nend\n"
	    "member uni-b\norg B\ncontact b\nstatus active\nnet 10.1.0.0/16\n"
	    "end\n",
	"member uni-a\norg A\ncontact a\nstatus maybe\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\nnet 10.0.0.1/8\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\nmx MX.a.example\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\nmx a..example\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\nnet 2001:db8::/15\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\nmx a.example\n"
	    "domain a.example\nend\n",
	"member uni-a\norg A\r\ncontact a\nstatus active\nend\n",
	"member UNI\norg A\ncontact a\nstatus active\nend\n",
	"member uni-a\norg A\ncontact a\nstatus active\n",
	"member uni-a\norg A\ncontact a\nstatus active\nend\ngarbage\n",
	"member uni-a\norg A\ncontact a\nstatus active\nmx 192.0.2.1\nend\n",
};

START_TEST(malformed_content_is_refused)
{
	struct harness_ca		 ca;
	struct fed_bundle	 b;
	struct buf		*t, *d;
	char			 err[256] = "";

	harness_ca_make(&ca, "Test Fed");
	t = harness_fed_text(&ca, 1, time(NULL) + 86400, fb_bad_members[_i]);
	d = harness_fed_sign(t, ca.key, ca.cert);
	ck_assert_msg(fb_verify(d, ca.cert, 0, &b, err, sizeof(err)) ==
	    FED_V_MALFORMED, "case %d accepted", _i);
	ck_assert_ptr_null(b.ca);
	buf_free(t);
	buf_free(d);
	harness_ca_free(&ca);
}
END_TEST

START_TEST(oversize_or_broken_input_is_refused_before_parsing)
{
	struct harness_ca		 ca;
	struct fed_bundle	 b;
	struct buf		*t, *big;
	char			 err[256], line[FED_LINE_MAX + 8];
	unsigned char		 junk[64] = { 0x30, 0x82 };

	harness_ca_make(&ca, "Test Fed");
	ck_assert_int_eq(fed_bundle_verify(junk, sizeof(junk), ca.cert,
	    time(NULL), 0, &b, err, sizeof(err)), FED_V_BADSIG);
	ck_assert_int_eq(fed_bundle_verify(junk, FED_BUNDLE_MAX + 1, ca.cert,
	    time(NULL), 0, &b, err, sizeof(err)), FED_V_MALFORMED);
	/* A line over the limit in otherwise good text. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "org ", 4);
	line[FED_LINE_MAX + 6] = '\0';
	big = buf_new(4096, 65536);
	buf_printf(big, "member uni-a\n%s\ncontact a\nstatus active\nend\n",
	    line);
	t = harness_fed_text(&ca, 1, time(NULL) + 86400, buf_data(big));
	ck_assert_int_eq(fed_bundle_parse(buf_data(t), buf_len(t), &b, err,
	    sizeof(err)), -1);
	buf_free(t);
	/* More MX hosts than a member may have. */
	buf_reset(big);
	buf_addstr(big, "member uni-a\norg A\ncontact a\nstatus active\n");
	for (int i = 0; i <= FED_MX_MAX; i++)
		buf_printf(big, "mx mx%d.a.example\n", i);
	buf_addstr(big, "end\n");
	t = harness_fed_text(&ca, 1, time(NULL) + 86400, buf_data(big));
	ck_assert_int_eq(fed_bundle_parse(buf_data(t), buf_len(t), &b, err,
	    sizeof(err)), -1);
	/* Content over the size limit. */
	ck_assert_int_eq(fed_bundle_parse(buf_data(t), FED_CONTENT_MAX + 1,
	    &b, err, sizeof(err)), -1);
	buf_free(t);
	buf_free(big);
	harness_ca_free(&ca);
}
END_TEST

static const struct {
	const char	*net;
	int		 ok;
} fb_nets[] = {
	{ "192.0.2.0/24", 1 }, { "192.0.2.1/32", 1 }, { "10.0.0.0/8", 1 },
	{ "2001:db8::/32", 1 }, { "2001:db8::1/128", 1 },
	{ "192.0.2.1/24", 0 }, { "10.0.0.0/7", 0 }, { "192.0.2.0/33", 0 },
	{ "192.0.2.0", 0 }, { "192.0.2.0/024", 0 }, { "2001:DB8::/32", 0 },
	{ "2001:0db8::/32", 0 }, { "::/0", 0 }, { "192.0.2.0/-1", 0 },
	{ "192.0.2.0/", 0 }, { "/24", 0 },
};

START_TEST(networks_must_be_canonical_cidr)
{
	struct fed_net	 n;
	char		 back[64];
	int		 ok = fed_net_parse(fb_nets[_i].net, &n) == 0;

	ck_assert_msg(ok == fb_nets[_i].ok, "%s", fb_nets[_i].net);
	if (ok) {
		ck_assert_int_eq(fed_net_format(&n, back, sizeof(back)), 0);
		ck_assert_str_eq(back, fb_nets[_i].net);
	}
}
END_TEST

Suite *
fed_bundle_suite(void)
{
	Suite	*s = suite_create("fed_bundle");
	TCase	*tc = tcase_create("verify");

	tcase_add_test(tc, bundle_round_trip_gives_back_every_field);
	tcase_add_test(tc, bundle_with_one_content_byte_changed_is_refused);
	tcase_add_test(tc, bundle_signed_by_another_key_is_refused);
	tcase_add_test(tc, bundle_with_older_serial_is_rollback);
	tcase_add_test(tc, expired_bundle_is_refused);
	tcase_add_loop_test(tc, malformed_content_is_refused, 0,
	    (int)(sizeof(fb_bad_members) / sizeof(fb_bad_members[0])));
	tcase_add_test(tc, oversize_or_broken_input_is_refused_before_parsing);
	tcase_add_loop_test(tc, networks_must_be_canonical_cidr, 0,
	    (int)(sizeof(fb_nets) / sizeof(fb_nets[0])));
	suite_add_tcase(s, tc);
	return s;
}
