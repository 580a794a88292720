/*
 * check_fedtrust - the federation as smtpd and deliver use it, on a CA,
 * a CRL, certificates and bundles made here (harness.h)
 *
 * The fixture is one federation CA whose CRL revokes serial 66 and falls
 * due in 7 days, a look-alike of another CA, three members (uni-a active,
 * uni-b suspended, uni-c active) in a bundle due in 30 days, the trust
 * built from it, and a second trust from a bundle that expired a second
 * ago. Certificates are checked with fed_trust_peer() for both purposes,
 * client (smtpd) and server (deliver).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/fedbundle.h"
#include "common/fedtrust.h"
#include "common/ipc_types.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

#define FT_DAY		86400L
#define FT_REVOKED	66

static const char ft_members[] =
    "member uni-a\norg University A\ncontact postmaster@a.example\n"
    "status active\ndomain a.example\nmx mx1.a.example\nmx mx2.a.example\n"
    "net 192.0.2.0/24\nnet 2001:db8:a::/48\nend\n"
    "member uni-b\norg University B\ncontact pm@b.example\n"
    "status suspended\ndomain b.example\nmx mx.b.example\n"
    "net 198.51.100.0/24\nend\n"
    "member uni-c\norg University C\ncontact pm@c.example\n"
    "status active\ndomain c.example\ndomain c-alt.example\n"
    "mx mx.c.example\nnet 203.0.113.0/24\nend\n";

static struct {
	time_t			 now;
	struct harness_ca	 ca;		/* the federation's */
	struct harness_ca	 other;		/* a stranger's */
	struct buf		*pem;		/* ca.cert as PEM */
	struct buf		*der;		/* serial 3, due in 30 days */
	struct buf		*der_expired;	/* serial 2, expired */
	struct fed_trust	*t;
	struct fed_trust	*t_expired;
} ft;

/* ft_bundle - a bundle of the fixture's members, signed by key/cert */
static struct buf *
ft_bundle(const struct harness_ca *content, EVP_PKEY *key, X509 *cert,
    unsigned serial, time_t expires)
{
	struct buf	*text, *der;

	text = harness_fed_text(content, serial, expires, ft_members);
	der = harness_fed_sign(text, key, cert);
	buf_free(text);
	return der;
}

/* ft_trust - the trust of der under the fixture's CA, at ft.now */
static struct fed_trust *
ft_trust(const struct buf *der, char *err, size_t errlen)
{
	err[0] = '\0';
	return fed_trust_new(buf_data(ft.pem), buf_len(ft.pem),
	    (const unsigned char *)buf_data(der), buf_len(der), ft.now, err,
	    errlen);
}

static void
ft_setup(void)
{
	static const long	 revoked[] = { FT_REVOKED };
	char			 err[256];

	ft.now = time(NULL);
	harness_ca_make(&ft.ca, "Test Fed");
	harness_ca_crl(&ft.ca, ft.now + 7 * FT_DAY, revoked, 1);
	harness_ca_make(&ft.other, "Other CA");
	ft.pem = buf_new(4096, FED_PEM_MAX);
	harness_pem(ft.pem, 0, ft.ca.cert);
	ft.der = ft_bundle(&ft.ca, ft.ca.key, ft.ca.cert, 3,
	    ft.now + 30 * FT_DAY);
	ft.der_expired = ft_bundle(&ft.ca, ft.ca.key, ft.ca.cert, 2,
	    ft.now - 1);
	ft.t = ft_trust(ft.der, err, sizeof(err));
	ck_assert_msg(ft.t != NULL, "%s", err);
	ft.t_expired = ft_trust(ft.der_expired, err, sizeof(err));
	ck_assert_msg(ft.t_expired != NULL, "%s", err);
}

static void
ft_teardown(void)
{
	fed_trust_unref(ft.t);
	fed_trust_unref(ft.t_expired);
	buf_free(ft.der);
	buf_free(ft.der_expired);
	buf_free(ft.pem);
	harness_ca_free(&ft.ca);
	harness_ca_free(&ft.other);
	memset(&ft, 0, sizeof(ft));
}

/* ft_member - the fixture's member with that id */
static const struct fed_member *
ft_member(const char *id)
{
	const struct fed_member	*m = fed_registry_find(&ft.t->b.reg, id);

	ck_assert_ptr_nonnull(m);
	return m;
}

/* --- fed_trust_new -------------------------------------------------------- */

START_TEST(trust_from_a_good_bundle_knows_its_members)
{
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];

	ck_assert_int_eq(ft.t->refs, 1);
	ck_assert_int_eq(ft.t->expired, 0);
	ck_assert_ptr_nonnull(ft.t->store);
	ck_assert_uint_eq(ft.t->b.serial, 3);
	ck_assert_uint_eq(ft.t->b.reg.n, 3);
	ck_assert_int_eq(X509_cmp(ft.t->b.ca, ft.ca.cert), 0);
	ck_assert_int_eq(fed_trust_hold(ft.t, ft.now, reason, why,
	    sizeof(why)), 0);
}
END_TEST

START_TEST(expired_bundle_is_kept_and_holds_member_mail)
{
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];

	ck_assert_int_eq(ft.t_expired->expired, 1);
	ck_assert_uint_eq(ft.t_expired->b.serial, 2);
	/* It still says who the members are: their mail waits, it is not
	 * a stranger's. */
	ck_assert_uint_eq(ft.t_expired->b.reg.n, 3);
	ck_assert_ptr_nonnull(fed_trust_domain(ft.t_expired, "a.example"));
	ck_assert_int_eq(fed_trust_hold(ft.t_expired, ft.now, reason, why,
	    sizeof(why)), 1);
	ck_assert_str_eq(reason, "bundle-expired");
	ck_assert_ptr_nonnull(strstr(why, "serial 2"));
}
END_TEST

START_TEST(bundle_signed_by_another_ca_is_refused)
{
	struct fed_trust	*t;
	struct buf		*der;
	char			 err[256];

	/* Our CA's content, the other CA's signature. */
	der = ft_bundle(&ft.ca, ft.other.key, ft.other.cert, 9,
	    ft.now + FT_DAY);
	t = ft_trust(der, err, sizeof(err));
	ck_assert_ptr_null(t);
	ck_assert_str_ne(err, "");
	buf_free(der);
	/* The other CA's bundle, whole and good, under ours. */
	der = ft_bundle(&ft.other, ft.other.key, ft.other.cert, 9,
	    ft.now + FT_DAY);
	t = ft_trust(der, err, sizeof(err));
	ck_assert_ptr_null(t);
	ck_assert_str_ne(err, "");
	buf_free(der);
}
END_TEST

START_TEST(bundle_that_is_not_cms_is_refused)
{
	static const unsigned char	 junk[] = {
	    0x30, 0x03, 0x02, 0x01, 0x01 };
	char				 err[256] = "";

	ck_assert_ptr_null(fed_trust_new(buf_data(ft.pem), buf_len(ft.pem),
	    junk, sizeof(junk), ft.now, err, sizeof(err)));
	ck_assert_str_ne(err, "");
	ck_assert_ptr_null(fed_trust_new(buf_data(ft.pem), buf_len(ft.pem),
	    junk, 0, ft.now, err, sizeof(err)));
}
END_TEST

START_TEST(ca_pem_that_is_not_a_certificate_is_refused)
{
	struct buf	*crl = buf_new(4096, FED_PEM_MAX);
	struct buf	*cut = buf_new(4096, FED_PEM_MAX);
	const char	*in[4];
	size_t		 inlen[4], i;
	char		 err[256];

	harness_pem(crl, 1, ft.ca.crl);
	/* A certificate cut short before its END line. */
	buf_add(cut, buf_data(ft.pem), buf_len(ft.pem) / 2);
	in[0] = "";
	inlen[0] = 0;
	in[1] = "not a certificate\n";
	inlen[1] = strlen(in[1]);
	in[2] = buf_data(crl);
	inlen[2] = buf_len(crl);
	in[3] = buf_data(cut);
	inlen[3] = buf_len(cut);
	for (i = 0; i < 4; i++) {
		err[0] = '\0';
		ERR_clear_error();
		ck_assert_msg(fed_trust_new(in[i], inlen[i],
		    (const unsigned char *)buf_data(ft.der), buf_len(ft.der),
		    ft.now, err, sizeof(err)) == NULL, "input %zu taken", i);
		ck_assert_msg(strstr(err, "not a PEM certificate") != NULL,
		    "input %zu: %s", i, err);
		/* The refusal is in err, not left in OpenSSL's queue. */
		ck_assert_int_eq(ERR_peek_error(), 0);
	}
	ck_assert_ptr_null(fed_trust_ca_load(NULL, 0));
	buf_free(crl);
	buf_free(cut);
}
END_TEST

START_TEST(trust_id_is_16_hex_digits_and_differs_between_bundles)
{
	struct fed_trust	*again;
	char			 err[256];
	size_t			 i;

	ck_assert_uint_eq(strlen(ft.t->id), 16);
	for (i = 0; i < 16; i++)
		ck_assert_msg(isdigit((unsigned char)ft.t->id[i]) ||
		    (ft.t->id[i] >= 'a' && ft.t->id[i] <= 'f'), "%s",
		    ft.t->id);
	ck_assert_uint_eq(strlen(ft.t_expired->id), 16);
	ck_assert_str_ne(ft.t->id, ft.t_expired->id);
	/* The id is of the bytes: the same bundle again, the same id. */
	again = ft_trust(ft.der, err, sizeof(err));
	ck_assert_ptr_nonnull(again);
	ck_assert_str_eq(again->id, ft.t->id);
	fed_trust_unref(again);
}
END_TEST

START_TEST(trust_lives_while_a_reference_is_held)
{
	struct fed_trust	*t;
	char			 err[256];

	t = ft_trust(ft.der, err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	fed_trust_ref(t);
	ck_assert_int_eq(t->refs, 2);
	fed_trust_unref(t);
	/* Still whole: ASan would see a use after free. */
	ck_assert_ptr_nonnull(fed_trust_domain(t, "a.example"));
	fed_trust_unref(t);
	fed_trust_unref(NULL);
}
END_TEST

/* --- fed_trust_hold ------------------------------------------------------- */

START_TEST(hold_is_clear_while_bundle_and_crl_are_fresh)
{
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];

	ck_assert_int_eq(fed_trust_hold(ft.t, ft.now, reason, why,
	    sizeof(why)), 0);
	ck_assert_int_eq(fed_trust_hold(ft.t, ft.now + 7 * FT_DAY - 1,
	    reason, why, sizeof(why)), 0);
}
END_TEST

START_TEST(hold_says_crl_stale_from_the_crls_next_update)
{
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];

	ck_assert_int_eq(fed_trust_hold(ft.t, ft.now + 7 * FT_DAY, reason,
	    why, sizeof(why)), 1);
	ck_assert_str_eq(reason, "crl-stale");
	ck_assert_str_ne(why, "");
	ck_assert_int_eq(fed_trust_hold(ft.t, ft.now + 8 * FT_DAY, reason,
	    why, sizeof(why)), 1);
	ck_assert_str_eq(reason, "crl-stale");
}
END_TEST

START_TEST(hold_names_a_stale_crl_before_an_expired_bundle)
{
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];

	/* Past both the CRL's next update and the bundle's expiry. */
	ck_assert_int_eq(fed_trust_hold(ft.t, ft.now + 31 * FT_DAY, reason,
	    why, sizeof(why)), 1);
	ck_assert_str_eq(reason, "crl-stale");
	ck_assert_int_eq(fed_trust_hold(ft.t_expired, ft.now + 8 * FT_DAY,
	    reason, why, sizeof(why)), 1);
	ck_assert_str_eq(reason, "crl-stale");
}
END_TEST

START_TEST(hold_says_bundle_expired_from_the_expiry_second)
{
	struct fed_trust	*t;
	struct buf		*der;
	char			 err[256], reason[FED_REASON_LEN];
	char			 why[FED_WHY_LEN], ts[32];

	der = ft_bundle(&ft.ca, ft.ca.key, ft.ca.cert, 4, ft.now + FT_DAY);
	t = ft_trust(der, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_int_eq(fed_trust_hold(t, ft.now + FT_DAY - 1, reason, why,
	    sizeof(why)), 0);
	ck_assert_int_eq(fed_trust_hold(t, ft.now + FT_DAY, reason, why,
	    sizeof(why)), 1);
	ck_assert_str_eq(reason, "bundle-expired");
	fed_time_format(ft.now + FT_DAY, ts, sizeof(ts));
	ck_assert_ptr_nonnull(strstr(why, "serial 4"));
	ck_assert_ptr_nonnull(strstr(why, ts));
	fed_trust_unref(t);
	buf_free(der);
}
END_TEST

/* --- fed_trust_domain, fed_trust_has_mx ---------------------------------- */

START_TEST(domain_of_an_active_member_is_found_in_any_case)
{
	const struct fed_member	*m;

	ck_assert_ptr_nonnull(m = fed_trust_domain(ft.t, "a.example"));
	ck_assert_str_eq(m->id, "uni-a");
	ck_assert_ptr_nonnull(m = fed_trust_domain(ft.t, "A.Example"));
	ck_assert_str_eq(m->id, "uni-a");
	ck_assert_ptr_nonnull(m = fed_trust_domain(ft.t, "C-ALT.EXAMPLE"));
	ck_assert_str_eq(m->id, "uni-c");
}
END_TEST

START_TEST(domain_of_a_suspended_member_is_not_found)
{
	ck_assert_ptr_null(fed_trust_domain(ft.t, "b.example"));
	ck_assert_ptr_null(fed_trust_domain(ft.t, "B.EXAMPLE"));
}
END_TEST

START_TEST(mx_name_or_unknown_domain_is_no_member_domain)
{
	ck_assert_ptr_null(fed_trust_domain(ft.t, "mx1.a.example"));
	ck_assert_ptr_null(fed_trust_domain(ft.t, "mx.c.example"));
	ck_assert_ptr_null(fed_trust_domain(ft.t, "z.example"));
	ck_assert_ptr_null(fed_trust_domain(ft.t, "sub.a.example"));
	ck_assert_ptr_null(fed_trust_domain(ft.t, "a.example."));
	ck_assert_ptr_null(fed_trust_domain(ft.t, ""));
}
END_TEST

START_TEST(has_mx_compares_without_case)
{
	const struct fed_member	*a = ft_member("uni-a");

	ck_assert_int_eq(fed_trust_has_mx(a, "mx1.a.example"), 1);
	ck_assert_int_eq(fed_trust_has_mx(a, "MX2.A.Example"), 1);
	ck_assert_int_eq(fed_trust_has_mx(a, "a.example"), 0);
	ck_assert_int_eq(fed_trust_has_mx(a, "mx.c.example"), 0);
	ck_assert_int_eq(fed_trust_has_mx(a, "mx1.a.example."), 0);
	ck_assert_int_eq(fed_trust_has_mx(a, ""), 0);
	/* Whether the member is active is not has_mx's question. */
	ck_assert_int_eq(fed_trust_has_mx(ft_member("uni-b"),
	    "MX.B.EXAMPLE"), 1);
}
END_TEST

/* --- fed_trust_addr ------------------------------------------------------ */

static const struct {
	int		 family;
	const char	*addr;
	const char	*member;	/* NULL: none */
} ft_addrs[] = {
	{ AF_INET, "192.0.2.1", "uni-a" },
	{ AF_INET, "192.0.2.255", "uni-a" },
	{ AF_INET, "192.0.3.1", NULL },
	{ AF_INET, "192.0.1.255", NULL },
	{ AF_INET, "203.0.113.7", "uni-c" },
	/* Active or not: the caller decides what a suspended member is. */
	{ AF_INET, "198.51.100.9", "uni-b" },
	{ AF_INET, "10.0.0.1", NULL },
	{ AF_INET6, "2001:db8:a::25", "uni-a" },
	{ AF_INET6, "2001:db8:a:ffff:ffff:ffff:ffff:ffff", "uni-a" },
	{ AF_INET6, "2001:db8:b::1", NULL },
	{ AF_INET6, "2001:db8::1", NULL },
	{ AF_INET6, "::ffff:192.0.2.5", "uni-a" },
	{ AF_INET6, "::ffff:203.0.113.200", "uni-c" },
	{ AF_INET6, "::ffff:10.1.2.3", NULL },
	/* Only the mapped form is IPv4: not ::192.0.2.5, nor 64:ff9b::/96. */
	{ AF_INET6, "::c000:205", NULL },
	{ AF_INET6, "64:ff9b::c000:205", NULL },
};

START_TEST(addr_finds_the_member_whose_networks_hold_it)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	const struct fed_member	*m;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)ft_addrs[_i].family;
	ck_assert_int_eq(inet_pton(ft_addrs[_i].family, ft_addrs[_i].addr,
	    ft_addrs[_i].family == AF_INET ? (void *)&s4->sin_addr :
	    (void *)&s6->sin6_addr), 1);
	m = fed_trust_addr(ft.t, (struct sockaddr *)&ss);
	if (ft_addrs[_i].member == NULL)
		ck_assert_msg(m == NULL, "%s: %s", ft_addrs[_i].addr, m->id);
	else {
		ck_assert_msg(m != NULL, "%s: none", ft_addrs[_i].addr);
		ck_assert_str_eq(m->id, ft_addrs[_i].member);
	}
}
END_TEST

START_TEST(addr_of_a_unix_socket_is_no_member)
{
	struct sockaddr_un	 su;

	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	strlcpy(su.sun_path, "/var/run/aval.sock", sizeof(su.sun_path));
	ck_assert_ptr_null(fed_trust_addr(ft.t, (struct sockaddr *)&su));
}
END_TEST

/* --- fed_trust_peer ------------------------------------------------------ */

enum ft_issuer {
	FT_FED,		/* the federation CA */
	FT_OTHER,	/* another CA */
	FT_SELF,	/* self-signed */
	FT_NONE		/* no certificate at all */
};

static const struct ft_peer_case {
	const char	*what;
	enum ft_issuer	 issuer;
	long		 serial;
	long		 nb, na;	/* validity, from ft.now */
	const char	*san;		/* NULL: no subjectAltName */
	int		 expired;	/* under the expired bundle */
	long		 at;		/* verified at ft.now + at */
	int		 rv;
	const char	*member;	/* on success */
	const char	*reason;	/* on failure */
	const char	*why;		/* on failure, a part of why */
} ft_peers[] = {
	{ "member's certificate", FT_FED, 10, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example,DNS:mx2.a.example", 0, 0, 1, "uni-a", "", "" },
	{ "one MX host", FT_FED, 11, -3600, 30 * FT_DAY,
	    "DNS:mx.c.example", 0, 0, 1, "uni-c", "", "" },
	{ "name in capitals", FT_FED, 12, -3600, 30 * FT_DAY,
	    "DNS:MX1.A.EXAMPLE", 0, 0, 1, "uni-a", "", "" },
	{ "IP and email names beside", FT_FED, 13, -3600, 30 * FT_DAY,
	    "IP:192.0.2.1,DNS:mx2.a.example,email:pm@a.example", 0, 0, 1,
	    "uni-a", "", "" },
	{ "no certificate", FT_NONE, 0, 0, 0, NULL, 0, 0, 0, NULL,
	    "no-certificate", "no client certificate" },
	{ "revoked", FT_FED, FT_REVOKED, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example", 0, 0, 0, NULL, "revoked", "revoked" },
	{ "expired", FT_FED, 14, -2 * FT_DAY, -FT_DAY,
	    "DNS:mx1.a.example", 0, 0, 0, NULL, "expired", "expired" },
	{ "not yet valid", FT_FED, 15, FT_DAY, 30 * FT_DAY,
	    "DNS:mx1.a.example", 0, 0, 0, NULL, "not-yet-valid",
	    "not yet valid" },
	{ "another CA", FT_OTHER, 16, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example", 0, 0, 0, NULL, "untrusted-ca",
	    "federation CA" },
	{ "self-signed", FT_SELF, 17, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example", 0, 0, 0, NULL, "self-signed",
	    "self-signed" },
	{ "no member's host", FT_FED, 18, -3600, 30 * FT_DAY,
	    "DNS:mx.unknown.example", 0, 0, 0, NULL, "not-registered",
	    "mx.unknown.example, which no member registered" },
	{ "hosts of two members", FT_FED, 19, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example,DNS:mx.c.example", 0, 0, 0, NULL,
	    "not-registered", "two members, uni-a and uni-c" },
	{ "hosts of an active and a suspended member", FT_FED, 20, -3600,
	    30 * FT_DAY, "DNS:mx.b.example,DNS:mx2.a.example", 0, 0, 0, NULL,
	    "not-registered", "two members, uni-b and uni-a" },
	{ "a member's domain, not an MX host", FT_FED, 21, -3600,
	    30 * FT_DAY, "DNS:a.example", 0, 0, 0, NULL, "not-registered",
	    "a.example, which no member registered" },
	{ "a registered and an unregistered host", FT_FED, 22, -3600,
	    30 * FT_DAY, "DNS:mx1.a.example,DNS:mx3.a.example", 0, 0, 0, NULL,
	    "not-registered", "mx3.a.example" },
	{ "suspended member", FT_FED, 23, -3600, 30 * FT_DAY,
	    "DNS:mx.b.example", 0, 0, 0, NULL, "suspended",
	    "uni-b is suspended" },
	{ "wildcard", FT_FED, 24, -3600, 30 * FT_DAY, "DNS:*.a.example",
	    0, 0, 0, NULL, "not-registered", "wildcard" },
	{ "no subjectAltName", FT_FED, 25, -3600, 30 * FT_DAY, NULL, 0, 0, 0,
	    NULL, "not-registered", "no subjectAltName" },
	{ "no DNS name", FT_FED, 26, -3600, 30 * FT_DAY,
	    "IP:192.0.2.1,email:pm@a.example", 0, 0, 0, NULL,
	    "not-registered", "no DNS name" },
	{ "bundle expired", FT_FED, 27, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example", 1, 0, 0, NULL, "bundle-expired", "serial 2" },
	{ "revoked, bundle expired", FT_FED, FT_REVOKED, -3600, 30 * FT_DAY,
	    "DNS:mx1.a.example", 1, 0, 0, NULL, "bundle-expired", "serial 2" },
	{ "CRL stale", FT_FED, 28, -3600, 30 * FT_DAY, "DNS:mx1.a.example",
	    0, 8 * FT_DAY, 0, NULL, "crl-stale", "CRL is stale" },
};

#define FT_NPEERS	(int)(sizeof(ft_peers) / sizeof(ft_peers[0]))

static int
ft_purpose(int i)
{
	return i % 2 == 0 ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER;
}

/*
 * ft_peer_check - fed_trust_peer() and what must hold of any answer:
 * member set exactly on success, reason a class word exactly on failure,
 * why a sentence on failure, and OpenSSL's error queue left empty (smtpd
 * and deliver call SSL_get_error() after it, which reads that queue).
 */
static int
ft_peer_check(const struct fed_trust *t, X509 *leaf, STACK_OF(X509) *chain,
    int purpose, time_t now, char *member, char *reason, char *why)
{
	int	 rv;

	memset(member, 'x', FED_ID_MAX + 1);
	memset(reason, 'x', FED_REASON_LEN);
	memset(why, 'x', FED_WHY_LEN);
	ERR_clear_error();
	rv = fed_trust_peer(t, leaf, chain, purpose, now, member, reason,
	    why, FED_WHY_LEN);
	ck_assert_ptr_nonnull(memchr(member, '\0', FED_ID_MAX + 1));
	ck_assert_ptr_nonnull(memchr(reason, '\0', FED_REASON_LEN));
	ck_assert_int_eq(ERR_peek_error(), 0);
	if (rv == 1) {
		ck_assert(fed_id_valid(member));
		ck_assert_str_eq(reason, "");
	} else {
		ck_assert_int_eq(rv, 0);
		ck_assert_str_eq(member, "");
		ck_assert_str_ne(reason, "");
		ck_assert_ptr_nonnull(memchr(why, '\0', FED_WHY_LEN));
		ck_assert_str_ne(why, "");
	}
	return rv;
}

START_TEST(peer_certificate_is_placed_or_refused_with_its_reason)
{
	const struct ft_peer_case	*c = &ft_peers[_i / 2];
	const struct harness_ca		*issuer;
	char				 member[FED_ID_MAX + 1];
	char				 reason[FED_REASON_LEN];
	char				 why[FED_WHY_LEN];
	X509				*x = NULL;
	int				 rv;

	if (c->issuer != FT_NONE) {
		issuer = c->issuer == FT_FED ? &ft.ca : c->issuer == FT_OTHER ?
		    &ft.other : NULL;
		x = harness_cert_make(issuer, c->serial, ft.now + c->nb,
		    ft.now + c->na, c->san, NULL);
	}
	rv = ft_peer_check(c->expired ? ft.t_expired : ft.t, x, NULL,
	    ft_purpose(_i), ft.now + c->at, member, reason, why);
	ck_assert_msg(rv == c->rv, "%s: %d (%s: %s)", c->what, rv, reason,
	    why);
	if (rv == 1)
		ck_assert_str_eq(member, c->member);
	else {
		ck_assert_msg(strcmp(reason, c->reason) == 0, "%s: %s (%s)",
		    c->what, reason, why);
		ck_assert_msg(strstr(why, c->why) != NULL, "%s: %s", c->what,
		    why);
	}
	X509_free(x);
}
END_TEST

/* ft_cert_dns - a federation certificate whose dNSNames are these bytes */
static X509 *
ft_cert_dns(long serial, const char *const *names, const int *lens, int n)
{
	GENERAL_NAMES	*gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME	*g;
	ASN1_IA5STRING	*s;
	X509		*x;
	int		 i;

	x = harness_cert_make(&ft.ca, serial, ft.now - 3600,
	    ft.now + 30 * FT_DAY, NULL, NULL);
	ck_assert_ptr_nonnull(gens);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(g = GENERAL_NAME_new());
		ck_assert_ptr_nonnull(s = ASN1_IA5STRING_new());
		ck_assert_int_eq(ASN1_STRING_set(s, names[i], lens[i]), 1);
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		ck_assert_int_ne(sk_GENERAL_NAME_push(gens, g), 0);
	}
	ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_APPEND), 1);
	GENERAL_NAMES_free(gens);
	ck_assert_int_ne(X509_sign(x, ft.ca.key, EVP_sha256()), 0);
	return x;
}

static const char ft_long_name[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example";

/* dNSNames that must never place a certificate; len -1 is strlen. */
static const struct {
	const char	*name;
	int		 len;
	const char	*why;
} ft_bad_names[] = {
	{ "*.a.example", -1, "not a plain host name" },
	{ "mx1.a.example.", -1, "not a plain host name" },
	{ "mx1..a.example", -1, "not a plain host name" },
	{ "mx_1.a.example", -1, "not a plain host name" },
	{ "-mx1.a.example", -1, "not a plain host name" },
	{ "mx1-.a.example", -1, "not a plain host name" },
	{ "localhost", -1, "not a plain host name" },
	{ "192.0.2.1", -1, "not a plain host name" },
	{ "", 0, "malformed" },
	{ "mx1.a.example\0.evil.example", 27, "malformed" },
	{ "mx1 .a.example", -1, "malformed" },
	{ "mx1.a.example\n", -1, "malformed" },
	{ "mx1.a.example\x7f", -1, "malformed" },
	{ "mx1.a.\xc3\xa9xample", -1, "malformed" },
	{ ft_long_name, -1, "malformed" },
};

START_TEST(peer_with_a_malformed_or_wildcard_dns_name_is_not_registered)
{
	const char	*names[2];
	int		 lens[2], n = 0;
	char		 member[FED_ID_MAX + 1];
	char		 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509		*x;

	/* Odd cases carry a registered name first: it rescues nothing. */
	if (_i % 2 == 1) {
		names[n] = "mx1.a.example";
		lens[n++] = 13;
	}
	names[n] = ft_bad_names[_i / 2].name;
	lens[n] = ft_bad_names[_i / 2].len >= 0 ? ft_bad_names[_i / 2].len :
	    (int)strlen(names[n]);
	n++;
	ck_assert_uint_gt(strlen(ft_long_name), FED_NAME_MAX);
	x = ft_cert_dns(30 + _i, names, lens, n);
	ck_assert_int_eq(ft_peer_check(ft.t, x, NULL, X509_PURPOSE_SSL_CLIENT,
	    ft.now, member, reason, why), 0);
	ck_assert_msg(strcmp(reason, "not-registered") == 0, "%d: %s (%s)",
	    _i, reason, why);
	ck_assert_msg(strstr(why, ft_bad_names[_i / 2].why) != NULL, "%d: %s",
	    _i, why);
	X509_free(x);
}
END_TEST

START_TEST(peer_name_of_the_longest_length_reaches_the_registry)
{
	char		 name[FED_NAME_MAX + 1];
	const char	*names[1] = { name };
	int		 lens[1] = { FED_NAME_MAX };
	char		 member[FED_ID_MAX + 1];
	char		 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509		*x;

	/* 253 octets, valid but unregistered: not "malformed". */
	memcpy(name, ft_long_name, FED_NAME_MAX);
	name[FED_NAME_MAX - 8] = '.';
	memcpy(name + FED_NAME_MAX - 7, "example", 7);
	name[FED_NAME_MAX] = '\0';
	ck_assert(fed_name_valid(name));
	x = ft_cert_dns(60, names, lens, 1);
	ck_assert_int_eq(ft_peer_check(ft.t, x, NULL, X509_PURPOSE_SSL_CLIENT,
	    ft.now, member, reason, why), 0);
	ck_assert_str_eq(reason, "not-registered");
	/* why is cut at FED_WHY_LEN, inside the name: cut, not overrun. */
	ck_assert_int_eq(strncmp(why, "the certificate names aaa", 25), 0);
	ck_assert_uint_eq(strlen(why), FED_WHY_LEN - 1);
	X509_free(x);
}
END_TEST

START_TEST(peer_chain_of_extra_certificates_adds_no_trust)
{
	STACK_OF(X509)	*chain = sk_X509_new_null();
	char		 member[FED_ID_MAX + 1];
	char		 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509		*x, *self;

	/* Another CA's leaf, with that CA's self-signed certificate. */
	x = harness_cert_make(&ft.other, 40, ft.now - 3600,
	    ft.now + 30 * FT_DAY, "DNS:mx1.a.example", NULL);
	sk_X509_push(chain, ft.other.cert);
	ck_assert_int_eq(ft_peer_check(ft.t, x, chain, ft_purpose(_i), ft.now,
	    member, reason, why), 0);
	ck_assert_msg(strcmp(reason, "self-signed") == 0 ||
	    strcmp(reason, "untrusted-ca") == 0, "%s (%s)", reason, why);
	/* And with the federation CA in the chain too: it is not its issuer. */
	sk_X509_push(chain, ft.ca.cert);
	ck_assert_int_eq(ft_peer_check(ft.t, x, chain, ft_purpose(_i), ft.now,
	    member, reason, why), 0);
	X509_free(x);
	/* A self-signed leaf with a self-signed "issuer" beside it. */
	self = harness_cert_make(NULL, 41, ft.now - 3600,
	    ft.now + 30 * FT_DAY, "DNS:mx1.a.example", NULL);
	ck_assert_int_eq(ft_peer_check(ft.t, self, chain, ft_purpose(_i),
	    ft.now, member, reason, why), 0);
	ck_assert_str_eq(reason, "self-signed");
	X509_free(self);
	sk_X509_free(chain);
}
END_TEST

START_TEST(peer_signed_by_a_look_alike_ca_is_refused)
{
	struct harness_ca	 fake;
	STACK_OF(X509)		*chain = sk_X509_new_null();
	char			 member[FED_ID_MAX + 1];
	char			 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509			*x;

	/* The federation CA's name, another key. */
	harness_ca_make(&fake, "Test Fed");
	x = harness_cert_make(&fake, 42, ft.now - 3600, ft.now + 30 * FT_DAY,
	    "DNS:mx1.a.example", NULL);
	ck_assert_int_eq(ft_peer_check(ft.t, x, NULL, ft_purpose(_i), ft.now,
	    member, reason, why), 0);
	ck_assert_str_eq(reason, "untrusted-ca");
	sk_X509_push(chain, fake.cert);
	ck_assert_int_eq(ft_peer_check(ft.t, x, chain, ft_purpose(_i), ft.now,
	    member, reason, why), 0);
	ck_assert_msg(strcmp(reason, "self-signed") == 0 ||
	    strcmp(reason, "untrusted-ca") == 0, "%s (%s)", reason, why);
	X509_free(x);
	sk_X509_free(chain);
	harness_ca_free(&fake);
}
END_TEST

START_TEST(peer_with_the_federation_cas_name_but_not_its_signature_is_refused)
{
	char	 member[FED_ID_MAX + 1];
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509	*x;

	/*
	 * Issuer name and key identifier of the federation CA, signed by
	 * another key: OpenSSL checks this signature (and fails it), unlike
	 * a look-alike's, whose key identifier already rules the CA out.
	 */
	x = harness_cert_make(&ft.ca, 47, ft.now - 3600, ft.now + 30 * FT_DAY,
	    "DNS:mx1.a.example", NULL);
	ck_assert_int_ne(X509_sign(x, ft.other.key, EVP_sha256()), 0);
	ck_assert_int_eq(ft_peer_check(ft.t, x, NULL, ft_purpose(_i), ft.now,
	    member, reason, why), 0);
	ck_assert_msg(strcmp(reason, "untrusted-ca") == 0, "%s (%s)", reason,
	    why);
	ck_assert_ptr_nonnull(strstr(why, "signature"));
	X509_free(x);
}
END_TEST

START_TEST(peer_issued_by_a_member_certificate_is_refused)
{
	struct harness_ca	 member_ca;
	STACK_OF(X509)		*chain = sk_X509_new_null();
	X509_NAME		*name = X509_NAME_new();
	char			 member[FED_ID_MAX + 1];
	char			 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509			*x;

	/* A member's real certificate and key, used as if it were a CA. */
	memset(&member_ca, 0, sizeof(member_ca));
	member_ca.cert = harness_cert_make(&ft.ca, 43, ft.now - 3600,
	    ft.now + 30 * FT_DAY, "DNS:mx1.a.example", &member_ca.key);
	x = harness_cert_make(&member_ca, 44, ft.now - 3600,
	    ft.now + 30 * FT_DAY, "DNS:mx2.a.example", NULL);
	/* Its own subject, so that it is not self-issued. */
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"sub", -1, -1, 0);
	X509_set_subject_name(x, name);
	ck_assert_int_ne(X509_sign(x, member_ca.key, EVP_sha256()), 0);
	sk_X509_push(chain, member_ca.cert);
	ck_assert_int_eq(ft_peer_check(ft.t, x, chain, ft_purpose(_i), ft.now,
	    member, reason, why), 0);
	/* The member's certificate itself still verifies. */
	ck_assert_int_eq(ft_peer_check(ft.t, member_ca.cert, NULL,
	    ft_purpose(_i), ft.now, member, reason, why), 1);
	ck_assert_str_eq(member, "uni-a");
	X509_NAME_free(name);
	X509_free(x);
	sk_X509_free(chain);
	harness_ca_free(&member_ca);
}
END_TEST

START_TEST(peer_with_extra_certificates_still_verifies_by_its_own_chain)
{
	STACK_OF(X509)	*chain = sk_X509_new_null();
	char		 member[FED_ID_MAX + 1];
	char		 reason[FED_REASON_LEN], why[FED_WHY_LEN];
	X509		*x, *self;

	x = harness_cert_make(&ft.ca, 45, ft.now - 3600, ft.now + 30 * FT_DAY,
	    "DNS:mx.c.example", NULL);
	self = harness_cert_make(NULL, 46, ft.now - 3600,
	    ft.now + 30 * FT_DAY, "DNS:mx.c.example", NULL);
	sk_X509_push(chain, ft.other.cert);
	sk_X509_push(chain, self);
	sk_X509_push(chain, ft.ca.cert);
	ck_assert_int_eq(ft_peer_check(ft.t, x, chain, ft_purpose(_i), ft.now,
	    member, reason, why), 1);
	ck_assert_str_eq(member, "uni-c");
	X509_free(x);
	X509_free(self);
	sk_X509_free(chain);
}
END_TEST

START_TEST(peer_that_is_the_federation_ca_itself_is_no_member)
{
	char	 member[FED_ID_MAX + 1];
	char	 reason[FED_REASON_LEN], why[FED_WHY_LEN];

	ck_assert_int_eq(ft_peer_check(ft.t, ft.ca.cert, NULL, ft_purpose(_i),
	    ft.now, member, reason, why), 0);
	ck_assert_msg(strcmp(reason, "not-registered") == 0, "%s (%s)",
	    reason, why);
}
END_TEST

/* --- fed_reason_class ---------------------------------------------------- */

static const struct {
	long		 code;
	const char	*class;
} ft_classes[] = {
	{ X509_V_ERR_CERT_HAS_EXPIRED, "expired" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "not-yet-valid" },
	{ X509_V_ERR_CERT_REVOKED, "revoked" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self-signed" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "self-signed" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "untrusted-ca" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "untrusted-ca" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "untrusted-ca" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, "untrusted-ca" },
	{ X509_V_ERR_CERT_UNTRUSTED, "untrusted-ca" },
	{ X509_V_ERR_HOSTNAME_MISMATCH, "name-mismatch" },
	{ X509_V_ERR_CRL_HAS_EXPIRED, "crl-stale" },
	{ X509_V_ERR_CRL_NOT_YET_VALID, "crl-stale" },
	{ X509_V_ERR_UNABLE_TO_GET_CRL, "crl-stale" },
	{ X509_V_OK, "other" },
	{ X509_V_ERR_INVALID_CA, "other" },
	{ X509_V_ERR_INVALID_PURPOSE, "other" },
	{ X509_V_ERR_CRL_SIGNATURE_FAILURE, "other" },
	{ -1, "other" },
	{ 100000, "other" },
};

START_TEST(reason_class_of_each_verify_error)
{
	ck_assert_msg(strcmp(fed_reason_class(ft_classes[_i].code),
	    ft_classes[_i].class) == 0, "%ld: %s", ft_classes[_i].code,
	    fed_reason_class(ft_classes[_i].code));
	ck_assert_uint_lt(strlen(ft_classes[_i].class), FED_REASON_LEN);
}
END_TEST

/* --- fed_recv_add, fed_recv_end ------------------------------------------ */

/* ft_recv_add - n bytes of p as part, in chunks of at most chunk */
static void
ft_recv_add(struct fed_recv *r, uint32_t part, const char *p, size_t n,
    size_t chunk)
{
	size_t	 k;

	for (; n > 0; p += k, n -= k) {
		k = n < chunk ? n : chunk;
		ck_assert_int_eq(fed_recv_add(r, part, p, k), 0);
	}
}

/* What *out holds before fed_recv_end(): it must be set, even to NULL. */
static struct fed_trust	 ft_sentinel;

static const char ft_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\nnot really a key\n"
    "-----END PRIVATE KEY-----\n";

/* ft_recv_cert - what the master sends deliver: our certificate and key */
static void
ft_recv_cert(struct fed_recv *r, int cert, int key)
{
	if (cert)
		ft_recv_add(r, FED_PART_CERT, buf_data(ft.pem),
		    buf_len(ft.pem), 100);
	if (key)
		ft_recv_add(r, FED_PART_KEY, ft_key_pem, strlen(ft_key_pem),
		    16);
}

static void
ft_recv_empty(const struct fed_recv *r)
{
	size_t	 i;

	for (i = 0; i < sizeof(r->part) / sizeof(r->part[0]); i++)
		ck_assert_ptr_null(r->part[i]);
}

START_TEST(recv_parts_in_order_build_the_trust)
{
	struct fed_recv		 r;
	struct fed_trust	*t;
	struct tls_pem		 cert;
	char			 err[256] = "";
	int			 have;

	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 300);
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(ft.der), buf_len(ft.der),
	    IPC_CHUNK);
	ft_recv_cert(&r, 1, 1);
	ck_assert_msg(fed_recv_end(&r, 3, ft.now, &t, &cert, &have, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->b.serial, 3);
	ck_assert_str_eq(t->id, ft.t->id);
	ck_assert_ptr_nonnull(fed_trust_domain(t, "c.example"));
	ck_assert_int_eq(have, 1);
	ck_assert_uint_eq(cert.certlen, buf_len(ft.pem));
	ck_assert_int_eq(memcmp(cert.cert, buf_data(ft.pem), cert.certlen), 0);
	ck_assert_uint_eq(cert.keylen, strlen(ft_key_pem));
	ck_assert_int_eq(memcmp(cert.key, ft_key_pem, cert.keylen), 0);
	ft_recv_empty(&r);
	tls_pem_clear(&cert);
	fed_trust_unref(t);
}
END_TEST

START_TEST(recv_of_smtpd_without_a_certificate_builds_the_trust)
{
	struct fed_recv		 r;
	struct fed_trust	*t;
	struct tls_pem		 cert;
	char			 err[256] = "";
	int			 have = -1;

	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(ft.der_expired),
	    buf_len(ft.der_expired), 1000);
	ck_assert_msg(fed_recv_end(&r, 2, ft.now, &t, &cert, &have, err,
	    sizeof(err)) == 0, "%s", err);
	/* An expired bundle is taken: it still names the members. */
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->expired, 1);
	ck_assert_int_eq(have, 0);
	ck_assert_ptr_null(cert.cert);
	fed_trust_unref(t);
}
END_TEST

START_TEST(recv_with_another_serial_than_the_bundles_is_refused)
{
	struct fed_recv		 r;
	struct fed_trust	*t = &ft_sentinel;
	struct tls_pem		 cert;
	char			 err[256] = "";
	int			 have;

	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(ft.der), buf_len(ft.der),
	    4096);
	ft_recv_cert(&r, 1, 1);
	ck_assert_int_eq(fed_recv_end(&r, 4, ft.now, &t, &cert, &have, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(have, 0);
	ck_assert_ptr_nonnull(strstr(err, "serial 4"));
	ck_assert_ptr_nonnull(strstr(err, "says 3"));
	ft_recv_empty(&r);
}
END_TEST

START_TEST(recv_of_a_bundle_that_does_not_verify_is_refused)
{
	struct fed_recv		 r;
	struct fed_trust	*t;
	struct tls_pem		 cert;
	struct buf		*der;
	char			 err[256] = "";
	int			 have;

	der = ft_bundle(&ft.ca, ft.other.key, ft.other.cert, 5,
	    ft.now + FT_DAY);
	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(der), buf_len(der), 4096);
	ck_assert_int_eq(fed_recv_end(&r, 5, ft.now, &t, &cert, &have, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_str_ne(err, "");
	ft_recv_empty(&r);
	buf_free(der);
}
END_TEST

START_TEST(recv_with_a_serial_but_no_ca_or_bundle_is_refused)
{
	struct fed_recv		 r;
	struct fed_trust	*t;
	struct tls_pem		 cert;
	char			 err[256] = "";
	int			 have;

	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(ft.der), buf_len(ft.der),
	    4096);
	ck_assert_int_eq(fed_recv_end(&r, 3, ft.now, &t, &cert, &have, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(err, "no CA or no bundle"));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ck_assert_int_eq(fed_recv_end(&r, 3, ft.now, &t, &cert, &have, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ft_recv_empty(&r);
}
END_TEST

START_TEST(recv_part_over_its_cap_is_refused)
{
	static const uint32_t	 parts[] = { FED_PART_CA, FED_PART_BUNDLE,
	    FED_PART_CERT, FED_PART_KEY };
	static const size_t	 caps[] = { TLS_PEM_MAX, FED_BUNDLE_MAX,
	    TLS_PEM_MAX, TLS_PEM_MAX };
	struct fed_recv		 r;
	char			*big;
	size_t			 i;

	big = calloc(1, FED_BUNDLE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < 4; i++) {
		memset(&r, 0, sizeof(r));
		/* Over the cap in one go, then up to it, then one more. */
		ck_assert_int_eq(fed_recv_add(&r, parts[i], big, caps[i] + 1),
		    -1);
		ck_assert_int_eq(fed_recv_add(&r, parts[i], big, caps[i] - 1),
		    0);
		ck_assert_int_eq(fed_recv_add(&r, parts[i], big, 1), 0);
		ck_assert_int_eq(fed_recv_add(&r, parts[i], big, 1), -1);
		ck_assert_uint_eq(buf_len(r.part[parts[i]]), caps[i]);
		fed_recv_clear(&r);
	}
	free(big);
}
END_TEST

START_TEST(recv_unknown_part_is_refused)
{
	struct fed_recv	 r;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(fed_recv_add(&r, FED_PART_MAX + 1, "x", 1), -1);
	ck_assert_int_eq(fed_recv_add(&r, 4, "x", 1), -1);
	ck_assert_int_eq(fed_recv_add(&r, UINT32_MAX, "x", 1), -1);
	ft_recv_empty(&r);
}
END_TEST

START_TEST(recv_certificate_without_its_key_is_refused)
{
	struct fed_recv		 r;
	struct fed_trust	*t;
	struct tls_pem		 cert;
	char			 err[256] = "";
	int			 have;

	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(ft.der), buf_len(ft.der),
	    4096);
	ft_recv_cert(&r, 1, 0);
	ck_assert_int_eq(fed_recv_end(&r, 3, ft.now, &t, &cert, &have, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(have, 0);
	ck_assert_ptr_null(cert.cert);
	ck_assert_ptr_nonnull(strstr(err, "without its key"));
	ft_recv_empty(&r);
	/* Nor a key without its certificate. */
	ft_recv_cert(&r, 0, 1);
	ck_assert_int_eq(fed_recv_end(&r, 0, ft.now, &t, &cert, &have, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(have, 0);
	ft_recv_empty(&r);
}
END_TEST

START_TEST(recv_serial_0_is_no_bundle_yet_and_keeps_our_certificate)
{
	struct fed_recv		 r;
	struct fed_trust	*t = &ft_sentinel;
	struct tls_pem		 cert;
	char			 err[256] = "";
	int			 have;

	memset(&r, 0, sizeof(r));
	memset(&cert, 0, sizeof(cert));
	/* The CA came, no bundle yet (the first start, none fetched). */
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ft_recv_cert(&r, 1, 1);
	ck_assert_msg(fed_recv_end(&r, 0, ft.now, &t, &cert, &have, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(have, 1);
	ck_assert_uint_eq(cert.certlen, buf_len(ft.pem));
	ck_assert_int_eq(memcmp(cert.cert, buf_data(ft.pem), cert.certlen), 0);
	ck_assert_uint_eq(cert.keylen, strlen(ft_key_pem));
	ft_recv_empty(&r);
	tls_pem_clear(&cert);
	/* And nothing at all: no trust, no certificate, no error. */
	t = &ft_sentinel;
	ck_assert_int_eq(fed_recv_end(&r, 0, ft.now, &t, &cert, &have, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(have, 0);
}
END_TEST

START_TEST(recv_clear_frees_every_part)
{
	struct fed_recv	 r;

	memset(&r, 0, sizeof(r));
	ft_recv_add(&r, FED_PART_CA, buf_data(ft.pem), buf_len(ft.pem), 4096);
	ft_recv_add(&r, FED_PART_BUNDLE, buf_data(ft.der), buf_len(ft.der),
	    4096);
	ft_recv_cert(&r, 1, 1);
	fed_recv_clear(&r);
	ft_recv_empty(&r);
	/* Twice is fine; LeakSanitizer says whether anything was kept. */
	fed_recv_clear(&r);
	ft_recv_empty(&r);
}
END_TEST

Suite *
fedtrust_suite(void)
{
	Suite	*s = suite_create("fedtrust");
	TCase	*tc;

	tc = tcase_create("new");
	tcase_add_checked_fixture(tc, ft_setup, ft_teardown);
	tcase_add_test(tc, trust_from_a_good_bundle_knows_its_members);
	tcase_add_test(tc, expired_bundle_is_kept_and_holds_member_mail);
	tcase_add_test(tc, bundle_signed_by_another_ca_is_refused);
	tcase_add_test(tc, bundle_that_is_not_cms_is_refused);
	tcase_add_test(tc, ca_pem_that_is_not_a_certificate_is_refused);
	tcase_add_test(tc,
	    trust_id_is_16_hex_digits_and_differs_between_bundles);
	tcase_add_test(tc, trust_lives_while_a_reference_is_held);
	suite_add_tcase(s, tc);

	tc = tcase_create("hold");
	tcase_add_checked_fixture(tc, ft_setup, ft_teardown);
	tcase_add_test(tc, hold_is_clear_while_bundle_and_crl_are_fresh);
	tcase_add_test(tc, hold_says_crl_stale_from_the_crls_next_update);
	tcase_add_test(tc, hold_names_a_stale_crl_before_an_expired_bundle);
	tcase_add_test(tc, hold_says_bundle_expired_from_the_expiry_second);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_add_checked_fixture(tc, ft_setup, ft_teardown);
	tcase_add_test(tc, domain_of_an_active_member_is_found_in_any_case);
	tcase_add_test(tc, domain_of_a_suspended_member_is_not_found);
	tcase_add_test(tc, mx_name_or_unknown_domain_is_no_member_domain);
	tcase_add_test(tc, has_mx_compares_without_case);
	tcase_add_loop_test(tc, addr_finds_the_member_whose_networks_hold_it,
	    0, (int)(sizeof(ft_addrs) / sizeof(ft_addrs[0])));
	tcase_add_test(tc, addr_of_a_unix_socket_is_no_member);
	suite_add_tcase(s, tc);

	/* Each loop runs every case for a client (even) and a server. */
	tc = tcase_create("peer");
	tcase_add_checked_fixture(tc, ft_setup, ft_teardown);
	tcase_add_loop_test(tc,
	    peer_certificate_is_placed_or_refused_with_its_reason, 0,
	    2 * FT_NPEERS);
	tcase_add_loop_test(tc,
	    peer_with_a_malformed_or_wildcard_dns_name_is_not_registered, 0,
	    2 * (int)(sizeof(ft_bad_names) / sizeof(ft_bad_names[0])));
	tcase_add_test(tc,
	    peer_name_of_the_longest_length_reaches_the_registry);
	tcase_add_loop_test(tc, peer_chain_of_extra_certificates_adds_no_trust,
	    0, 2);
	tcase_add_loop_test(tc, peer_signed_by_a_look_alike_ca_is_refused, 0,
	    2);
	tcase_add_loop_test(tc,
	    peer_with_the_federation_cas_name_but_not_its_signature_is_refused,
	    0, 2);
	tcase_add_loop_test(tc, peer_issued_by_a_member_certificate_is_refused,
	    0, 2);
	tcase_add_loop_test(tc,
	    peer_with_extra_certificates_still_verifies_by_its_own_chain, 0, 2);
	tcase_add_loop_test(tc,
	    peer_that_is_the_federation_ca_itself_is_no_member, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("reason");
	tcase_add_loop_test(tc, reason_class_of_each_verify_error, 0,
	    (int)(sizeof(ft_classes) / sizeof(ft_classes[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("recv");
	tcase_add_checked_fixture(tc, ft_setup, ft_teardown);
	tcase_add_test(tc, recv_parts_in_order_build_the_trust);
	tcase_add_test(tc,
	    recv_of_smtpd_without_a_certificate_builds_the_trust);
	tcase_add_test(tc,
	    recv_with_another_serial_than_the_bundles_is_refused);
	tcase_add_test(tc, recv_of_a_bundle_that_does_not_verify_is_refused);
	tcase_add_test(tc, recv_with_a_serial_but_no_ca_or_bundle_is_refused);
	tcase_add_test(tc, recv_part_over_its_cap_is_refused);
	tcase_add_test(tc, recv_unknown_part_is_refused);
	tcase_add_test(tc, recv_certificate_without_its_key_is_refused);
	tcase_add_test(tc,
	    recv_serial_0_is_no_bundle_yet_and_keeps_our_certificate);
	tcase_add_test(tc, recv_clear_frees_every_part);
	suite_add_tcase(s, tc);
	return s;
}
