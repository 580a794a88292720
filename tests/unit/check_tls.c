/*
 * check_tls - common/tls.c with real OpenSSL handshakes in memory
 *
 * Certificates come from tls_gen_dev() in a temporary directory; client
 * and server talk over a BIO pair, so every handshake is real and no
 * socket is involved.
 */
#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/tls.h"
#include "common/tls_gen.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

static char		*tdir;
static struct tls_pem	 pem;
static SSL_SESSION	*last_session;	/* the client's newest ticket */

static void
tls_test_setup(void)
{
	char	 err[256], crt[600], key[600];

	tdir = harness_tmpdir();
	ck_assert_int_eq(tls_gen_dev(tdir, "mx.test", err, sizeof(err)), 1);
	snprintf(crt, sizeof(crt), "%s/server.crt", tdir);
	snprintf(key, sizeof(key), "%s/server.key", tdir);
	ck_assert_msg(tls_pem_load(&pem, crt, key, err, sizeof(err)) == 0,
	    "%s", err);
}

static void
tls_test_teardown(void)
{
	tls_pem_clear(&pem);
	SSL_SESSION_free(last_session);
	last_session = NULL;
	harness_rmtree(tdir);
	free(tdir);
}

static SSL_CTX *
tls_test_client_ctx(int maxver)
{
	SSL_CTX	*ctx = SSL_CTX_new(TLS_client_method());

	ck_assert_ptr_nonnull(ctx);
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(ctx, maxver);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	return ctx;
}

/*
 * tls_test_connect - one handshake over a BIO pair; 1 done, 0 failed.
 * *reused says whether the offered session was taken.
 */
static int
tls_test_connect(struct tls_server *ts, SSL_CTX *cctx, SSL_SESSION *offer,
    const char *sni, int *reused)
{
	SSL	*c, *s;
	BIO	*cb, *sb;
	char	 buf[64];
	int	 i, cd = 0, sd = 0, ok = 0;

	ck_assert_ptr_nonnull(s = tls_server_ssl(ts, 0));
	ck_assert_ptr_nonnull(c = SSL_new(cctx));
	ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (sni != NULL)
		SSL_set_tlsext_host_name(c, sni);
	if (offer != NULL)
		SSL_set_session(c, offer);
	for (i = 0; i < 50 && (!cd || !sd); i++) {
		if (!cd && SSL_do_handshake(c) == 1)
			cd = 1;
		if (!sd && SSL_do_handshake(s) == 1)
			sd = 1;
		if (SSL_get_error(c, -1) == SSL_ERROR_SSL ||
		    SSL_get_error(s, -1) == SSL_ERROR_SSL)
			break;
	}
	if (cd && sd) {
		ok = 1;
		/* TLS 1.3 tickets come after the handshake: read them. */
		for (i = 0; i < 4; i++) {
			(void)SSL_read(c, buf, sizeof(buf));
			(void)SSL_read(s, buf, sizeof(buf));
		}
		*reused = SSL_session_reused(c);
		/* The session as it stands now, with its newest ticket. */
		SSL_SESSION_free(last_session);
		last_session = SSL_get1_session(c);
	}
	ERR_clear_error();
	/* A clean close: OpenSSL marks the session of a dirty one unusable. */
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c);
	SSL_free(s);
	return ok;
}

static struct tls_server *
tls_test_server(int flags, struct tls_ticket_keys *k)
{
	struct tls_server	*ts;
	char			 err[256];

	ts = tls_server_new(&pem, 1, NULL, 0, flags, err, sizeof(err));
	ck_assert_msg(ts != NULL, "%s", err);
	if (k != NULL)
		tls_server_set_keys(ts, k);
	return ts;
}

static const struct {
	const char	*pattern, *host;
	int		 want;
} name_cases[] = {
	{ "mx.test", "mx.test", 1 },
	{ "mx.test", "MX.Test", 1 },
	{ "*.test", "mx.test", 1 },
	{ "*.test", "a.mx.test", 0 },
	{ "*.test", "test", 0 },
	{ "*.test", ".test", 0 },
	{ "mx*.test", "mx1.test", 0 },
	{ "mx.test", "mx.test.evil", 0 },
};

START_TEST(certificate_names_match_exactly_or_by_one_wildcard_label)
{
	ck_assert_int_eq(tls_name_match(name_cases[_i].pattern,
	    name_cases[_i].host), name_cases[_i].want);
}
END_TEST

START_TEST(a_key_that_others_may_read_is_refused)
{
	struct tls_pem	 p;
	char		 crt[600], key[600], err[256];

	snprintf(crt, sizeof(crt), "%s/server.crt", tdir);
	snprintf(key, sizeof(key), "%s/server.key", tdir);
	ck_assert_int_eq(chmod(key, 0640), 0);
	ck_assert_int_eq(tls_pem_load(&p, crt, key, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "may be read by group or others"));
	ck_assert_int_eq(chmod(key, 0600), 0);
	/* The CA's key is not the server certificate's. */
	snprintf(key, sizeof(key), "%s/ca.key", tdir);
	ck_assert_int_eq(tls_pem_load(&p, crt, key, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));
}
END_TEST

START_TEST(tls_1_0_and_1_1_are_refused_1_2_and_1_3_work)
{
	struct tls_ticket_keys	 k;
	struct tls_server	*ts;
	SSL_CTX			*c10, *c11, *c12, *c13;
	int			 r;

	memset(&k, 0, sizeof(k));
	tls_ticket_keys_make(k.cur);
	ts = tls_test_server(TLS_SRV_TICKETS, &k);
	c10 = tls_test_client_ctx(TLS1_VERSION);
	c11 = tls_test_client_ctx(TLS1_1_VERSION);
	c12 = tls_test_client_ctx(TLS1_2_VERSION);
	c13 = tls_test_client_ctx(TLS1_3_VERSION);
	ck_assert_int_eq(tls_test_connect(ts, c10, NULL, NULL, &r), 0);
	ck_assert_int_eq(tls_test_connect(ts, c11, NULL, NULL, &r), 0);
	ck_assert_int_eq(tls_test_connect(ts, c12, NULL, NULL, &r), 1);
	ck_assert_int_eq(tls_test_connect(ts, c13, NULL, NULL, &r), 1);
	SSL_CTX_free(c10);
	SSL_CTX_free(c11);
	SSL_CTX_free(c12);
	SSL_CTX_free(c13);
	tls_server_free(ts);
}
END_TEST

/*
 * Every resumption renews the ticket, a rotated key still decrypts, and a
 * key rotated out twice does not: over TLS 1.3 and 1.2.
 */
START_TEST(tickets_renew_on_every_resumption_and_survive_one_rotation)
{
	static const int	 vers[] = { TLS1_3_VERSION, TLS1_2_VERSION };
	struct tls_ticket_keys	 k;
	struct tls_server	*ts;
	SSL_CTX			*cctx;
	SSL_SESSION		*prev;
	const unsigned char	*tick;
	unsigned char		 old[4096];
	size_t			 ticklen, oldlen;
	int			 r, i;

	memset(&k, 0, sizeof(k));
	tls_ticket_keys_make(k.cur);
	ts = tls_test_server(TLS_SRV_TICKETS, &k);
	cctx = tls_test_client_ctx(vers[_i]);
	ck_assert_int_eq(tls_test_connect(ts, cctx, NULL, NULL, &r), 1);
	ck_assert_int_eq(r, 0);
	for (i = 0; i < 5; i++) {
		prev = last_session;
		ck_assert_ptr_nonnull(prev);
		SSL_SESSION_up_ref(prev);
		SSL_SESSION_get0_ticket(prev, &tick, &ticklen);
		ck_assert_uint_le(ticklen, sizeof(old));
		memcpy(old, tick, ticklen);
		oldlen = ticklen;
		ck_assert_int_eq(tls_test_connect(ts, cctx, prev, NULL, &r), 1);
		ck_assert_msg(r == 1, "connection %d not resumed (resumable %d, "
		    "ticket %d)", i + 2, SSL_SESSION_is_resumable(prev),
		    SSL_SESSION_has_ticket(prev));
		/*
		 * A fresh ticket came back (TLS 1.2 puts it into the same
		 * session object, TLS 1.3 into a new one).
		 */
		SSL_SESSION_get0_ticket(last_session, &tick, &ticklen);
		ck_assert(ticklen != oldlen || memcmp(tick, old, ticklen) != 0);
		SSL_SESSION_free(prev);
	}
	tls_ticket_keys_rotate(&k);
	tls_server_set_keys(ts, &k);
	prev = last_session;
	SSL_SESSION_up_ref(prev);
	ck_assert_int_eq(tls_test_connect(ts, cctx, prev, NULL, &r), 1);
	ck_assert_msg(r == 1, "the previous key no longer decrypts");
	SSL_SESSION_free(prev);
	/* Two rotations: the ticket's key is gone; a full handshake. */
	prev = last_session;
	SSL_SESSION_up_ref(prev);
	tls_ticket_keys_rotate(&k);
	tls_ticket_keys_rotate(&k);
	tls_server_set_keys(ts, &k);
	ck_assert_int_eq(tls_test_connect(ts, cctx, prev, NULL, &r), 1);
	ck_assert_int_eq(r, 0);
	SSL_SESSION_free(prev);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}
END_TEST

START_TEST(with_tickets_off_no_tls13_ticket_is_sent)
{
	struct tls_server	*ts;
	SSL_CTX			*cctx;
	int			 r;

	ts = tls_test_server(0, NULL);
	cctx = tls_test_client_ctx(TLS1_3_VERSION);
	ck_assert_int_eq(tls_test_connect(ts, cctx, NULL, NULL, &r), 1);
	ck_assert_int_eq(SSL_SESSION_has_ticket(last_session), 0);
	ck_assert_int_eq(SSL_SESSION_is_resumable(last_session), 0);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}
END_TEST

START_TEST(a_server_without_ticket_keys_still_handshakes)
{
	struct tls_server	*ts;
	SSL_CTX			*cctx;
	int			 r;

	ts = tls_test_server(TLS_SRV_TICKETS, NULL);
	cctx = tls_test_client_ctx(TLS1_3_VERSION);
	ck_assert_int_eq(tls_test_connect(ts, cctx, NULL, NULL, &r), 1);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}
END_TEST

Suite *
tls_suite(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tc = tcase_create("server");

	tcase_add_checked_fixture(tc, tls_test_setup, tls_test_teardown);
	tcase_add_loop_test(tc,
	    certificate_names_match_exactly_or_by_one_wildcard_label, 0,
	    (int)(sizeof(name_cases) / sizeof(name_cases[0])));
	tcase_add_test(tc, a_key_that_others_may_read_is_refused);
	tcase_add_test(tc, tls_1_0_and_1_1_are_refused_1_2_and_1_3_work);
	tcase_add_loop_test(tc,
	    tickets_renew_on_every_resumption_and_survive_one_rotation, 0, 2);
	tcase_add_test(tc, with_tickets_off_no_tls13_ticket_is_sent);
	tcase_add_test(tc, a_server_without_ticket_keys_still_handshakes);
	suite_add_tcase(s, tc);
	return s;
}
