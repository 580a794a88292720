/*
 * check_deliver_tls - DANE in the TLS policy engine: which TLSA records
 * are usable, what a TLSA answer does to a policy, and SMTP sessions
 * that enforce it with real handshakes against a STARTTLS server on
 * loopback
 *
 * The certificates come from tests/certs/mkcerts.sh, made once per test
 * case in a temporary directory; the TLSA data is computed from them
 * (3 1 1: SHA-256 of the server's SubjectPublicKeyInfo; 2 0 1: SHA-256
 * of the CA certificate). The server runs in the test's event loop and
 * sends its chain (leaf, then the CA), as DANE-TA needs.
 *
 * The last test case takes the TLSA records through DNS, as deliver.c
 * will: zones served by tests/dns/dnsserver (signed with ldns-signzone,
 * one signed with expired signatures, one not signed at all), looked up
 * with deliver_dns_tlsa() and applied in its callback.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/tls.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "deliver/deliver_dns.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_session.h"
#include "deliver/deliver_tls.h"
#include "tests/unit/harness.h"

/* --- the certificates and their TLSA data --------------------------------- */

static char		*cdir;
static unsigned char	 ee_spki[32];	/* 3 1 1 of server.crt */
static unsigned char	 ee_cert[32];	/* 3 0 1 of server.crt */
static unsigned char	 ta_cert[32];	/* 2 0 1 of ca.crt */
static unsigned char	 ta_other[32];	/* 2 0 1 of other-ca.crt */
static unsigned char	 xp_spki[32];	/* 3 1 1 of expired.crt */
static unsigned char	 wrong[32];	/* matches nothing */

static X509 *
cert_read(const char *name)
{
	char	 path[600];
	FILE	*f;
	X509	*x;

	snprintf(path, sizeof(path), "%s/%s", cdir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(x = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	return x;
}

/* cert_spki_sha256 - selector 1, matching type 1 */
static void
cert_spki_sha256(const char *name, unsigned char out[32])
{
	X509		*x = cert_read(name);
	unsigned char	*der = NULL;
	unsigned int	 n = 0;
	int		 len;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(),
	    NULL), 1);
	ck_assert_uint_eq(n, 32);
	OPENSSL_free(der);
	X509_free(x);
}

/* cert_sha256 - selector 0, matching type 1 */
static void
cert_sha256(const char *name, unsigned char out[32])
{
	X509		*x = cert_read(name);
	unsigned int	 n = 0;

	ck_assert_int_eq(X509_digest(x, EVP_sha256(), out, &n), 1);
	ck_assert_uint_eq(n, 32);
	X509_free(x);
}

static void
certs_setup(void)
{
	char	 cmd[1200];

	cdir = harness_tmpdir();
	snprintf(cmd, sizeof(cmd), "sh %s/tests/certs/mkcerts.sh %s",
	    harness_srcdir(), cdir);
	ck_assert_int_eq(system(cmd), 0);
	cert_spki_sha256("server.crt", ee_spki);
	cert_sha256("server.crt", ee_cert);
	cert_sha256("ca.crt", ta_cert);
	cert_sha256("other-ca.crt", ta_other);
	cert_spki_sha256("expired.crt", xp_spki);
	memcpy(wrong, ee_spki, sizeof(wrong));
	wrong[0] ^= 0xff;
}

static void
certs_teardown(void)
{
	harness_rmtree(cdir);
	free(cdir);
}

/* --- TLSA answers, as deliver_dns hands them over ------------------------- */

#define REC(u, s, m, d, l)	{ (u), (s), (m), (l), (d) }

static void
tlsa_answer(struct deliver_dns_tlsa *t, enum deliver_dns_status st,
    int secure, const struct deliver_dns_tlsa_rec *recs, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->status = st;
	t->qname = "_25._tcp.mx.test";
	t->secure = secure;
	t->nrecs = n;
	if (n > 0)
		memcpy(t->recs, recs, n * sizeof(*recs));
	t->reason = st == DELIVER_DNS_TEMP ? "SERVFAIL" : "";
	t->notes = "";
}

/* policy_default - what the engine answers for a domain not in the table */
static void
policy_default(struct deliver_policy *p, SSL_CTX *ctx)
{
	memset(p, 0, sizeof(*p));
	p->level = CONF_TLS_MAY;
	p->source = "default";
	p->ctx = ctx;
	strlcpy(p->id, "may/-", sizeof(p->id));
}

/* --- which records are usable --------------------------------------------- */

static const unsigned char	d32[32] = { 1, 2, 3 };
static const unsigned char	d64[64] = { 4, 5, 6 };
static const unsigned char	junk[40] = { 0x30, 0x03, 1, 2 };

static const struct {
	struct deliver_dns_tlsa_rec	 r;
	int				 usable;
} usable_cases[] = {
	{ REC(3, 1, 1, d32, 32), 1 },	/* DANE-EE SPKI SHA2-256 */
	{ REC(3, 0, 1, d32, 32), 1 },	/* DANE-EE certificate */
	{ REC(2, 0, 1, d32, 32), 1 },	/* DANE-TA certificate */
	{ REC(2, 1, 2, d64, 64), 1 },	/* DANE-TA SPKI SHA2-512 */
	{ REC(3, 1, 2, d64, 64), 1 },
	{ REC(0, 0, 1, d32, 32), 0 },	/* PKIX-TA: unusable for SMTP */
	{ REC(1, 1, 1, d32, 32), 0 },	/* PKIX-EE: unusable for SMTP */
	{ REC(4, 1, 1, d32, 32), 0 },	/* unknown usage */
	{ REC(255, 1, 1, d32, 32), 0 },
	{ REC(3, 2, 1, d32, 32), 0 },	/* unknown selector */
	{ REC(3, 1, 3, d32, 32), 0 },	/* unknown matching type */
	{ REC(3, 1, 1, d32, 31), 0 },	/* SHA2-256 one octet short */
	{ REC(3, 1, 1, d64, 33), 0 },	/* and one too long */
	{ REC(3, 1, 1, d64, 64), 0 },	/* SHA2-512's length, SHA2-256 */
	{ REC(3, 1, 2, d32, 32), 0 },	/* SHA2-256's length, SHA2-512 */
	{ REC(3, 1, 2, d64, 63), 0 },
	{ REC(3, 1, 1, d32, 0), 0 },	/* empty */
	{ REC(3, 0, 0, junk, 40), 0 },	/* "full certificate": not one */
	{ REC(3, 1, 0, junk, 40), 0 },	/* "full key": not one */
};

START_TEST(tlsa_records_are_usable_as_rfc_7672_says)
{
	ck_assert_int_eq(deliver_tls_dane_usable(&usable_cases[_i].r),
	    usable_cases[_i].usable);
}
END_TEST

START_TEST(full_certificate_and_key_records_are_usable_when_they_parse)
{
	struct deliver_dns_tlsa_rec	 r;
	X509				*x = cert_read("server.crt");
	unsigned char			*der = NULL;
	int				 len;

	len = i2d_X509(x, &der);
	ck_assert_int_gt(len, 0);
	r = (struct deliver_dns_tlsa_rec)REC(3, 0, 0, der, (size_t)len);
	ck_assert_int_eq(deliver_tls_dane_usable(&r), 1);
	r.len--;	/* cut short: no longer a certificate */
	ck_assert_int_eq(deliver_tls_dane_usable(&r), 0);
	OPENSSL_free(der);
	der = NULL;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	ck_assert_int_gt(len, 0);
	r = (struct deliver_dns_tlsa_rec)REC(3, 1, 0, der, (size_t)len);
	ck_assert_int_eq(deliver_tls_dane_usable(&r), 1);
	r.selector = 0;		/* a key is no certificate */
	ck_assert_int_eq(deliver_tls_dane_usable(&r), 0);
	OPENSSL_free(der);
	X509_free(x);
}
END_TEST

/* --- what an answer does to the policy ------------------------------------ */

static const struct deliver_dns_tlsa_rec good[] = {
	REC(3, 1, 1, d32, 32),
	REC(1, 1, 1, d32, 32),
	REC(2, 0, 2, d64, 64),
};
static const struct deliver_dns_tlsa_rec unusable[] = {
	REC(1, 1, 1, d32, 32),
	REC(0, 0, 1, d32, 32),
	REC(3, 1, 1, d32, 20),
};

static const struct {
	const char				*what;
	enum conf_tls_level			 level;	/* before */
	const char				*source;
	enum deliver_dns_status			 status;
	int					 secure;
	const struct deliver_dns_tlsa_rec	*recs;
	size_t					 nrecs;
	enum deliver_dane_verdict		 verdict;
	enum conf_tls_level			 after;
	size_t					 kept;	/* in the set */
	const char				*id;	/* prefix */
} apply_cases[] = {
	{ "usable records", CONF_TLS_MAY, "default", DELIVER_DNS_OK, 1,
	    good, 3, DELIVER_DANE_ON, CONF_TLS_DANE, 2, "dane/" },
	{ "usable records, table dane", CONF_TLS_DANE, "tls-policy",
	    DELIVER_DNS_OK, 1, good, 3, DELIVER_DANE_ON, CONF_TLS_DANE, 2,
	    "dane/" },
	{ "none usable", CONF_TLS_MAY, "default", DELIVER_DNS_OK, 1,
	    unusable, 3, DELIVER_DANE_ENCRYPT, CONF_TLS_ENCRYPT, 0,
	    "encrypt/-" },
	{ "none usable, table dane", CONF_TLS_DANE, "tls-policy",
	    DELIVER_DNS_OK, 1, unusable, 3, DELIVER_DANE_ENCRYPT,
	    CONF_TLS_ENCRYPT, 0, "encrypt/-" },
	{ "insecure records", CONF_TLS_MAY, "default", DELIVER_DNS_OK, 0,
	    good, 3, DELIVER_DANE_OFF, CONF_TLS_MAY, 0, "may/-" },
	{ "insecure records, table dane", CONF_TLS_DANE, "tls-policy",
	    DELIVER_DNS_OK, 0, good, 3, DELIVER_DANE_OFF, CONF_TLS_DANE, 0,
	    "dane/-" },
	{ "no records (NXDOMAIN, NODATA)", CONF_TLS_MAY, "default",
	    DELIVER_DNS_NONE, 1, NULL, 0, DELIVER_DANE_OFF, CONF_TLS_MAY, 0,
	    "may/-" },
	{ "lookup failed", CONF_TLS_MAY, "default", DELIVER_DNS_TEMP, 0,
	    NULL, 0, DELIVER_DANE_DEFER, CONF_TLS_MAY, 0, "may/-" },
	{ "lookup failed, table dane", CONF_TLS_DANE, "tls-policy",
	    DELIVER_DNS_TEMP, 0, NULL, 0, DELIVER_DANE_DEFER, CONF_TLS_DANE,
	    0, "dane/-" },
	/* The table speaks first: DANE does not override its levels. */
	{ "table verify", CONF_TLS_VERIFY, "tls-policy", DELIVER_DNS_OK, 1,
	    good, 3, DELIVER_DANE_OFF, CONF_TLS_VERIFY, 0, "may/-" },
	{ "table may", CONF_TLS_MAY, "tls-policy", DELIVER_DNS_OK, 1,
	    good, 3, DELIVER_DANE_OFF, CONF_TLS_MAY, 0, "may/-" },
	{ "table none, lookup failed", CONF_TLS_NONE, "tls-policy",
	    DELIVER_DNS_TEMP, 0, NULL, 0, DELIVER_DANE_OFF, CONF_TLS_NONE, 0,
	    "may/-" },
};

START_TEST(a_tlsa_answer_sets_the_policy_as_the_table_says)
{
	struct deliver_policy	 p;
	struct deliver_dns_tlsa	 t;
	enum deliver_dane_verdict v;

	policy_default(&p, NULL);
	p.level = apply_cases[_i].level;
	p.source = apply_cases[_i].source;
	if (p.level == CONF_TLS_DANE)
		strlcpy(p.id, "dane/-", sizeof(p.id));
	tlsa_answer(&t, apply_cases[_i].status, apply_cases[_i].secure,
	    apply_cases[_i].recs, apply_cases[_i].nrecs);
	v = deliver_tls_dane_apply(&p, &t, "mx.test", "mx.test", "uni-b.es");
	ck_assert_msg(v == apply_cases[_i].verdict, "%s: %s",
	    apply_cases[_i].what, deliver_tls_dane_verdict_name(v));
	ck_assert_int_eq(p.level, apply_cases[_i].after);
	ck_assert_msg(strncmp(p.id, apply_cases[_i].id,
	    strlen(apply_cases[_i].id)) == 0, "%s: id %s",
	    apply_cases[_i].what, p.id);
	if (apply_cases[_i].kept == 0)
		ck_assert_ptr_null(p.dane);
	else {
		ck_assert_ptr_nonnull(p.dane);
		ck_assert_uint_eq(p.dane->nrecs, apply_cases[_i].kept);
		ck_assert_uint_eq(p.dane->nunusable,
		    apply_cases[_i].nrecs - apply_cases[_i].kept);
		ck_assert_int_eq(deliver_policy_required(&p), 1);
		ck_assert_int_eq(deliver_policy_verifies(&p), 1);
	}
	if (v == DELIVER_DANE_ENCRYPT) {
		ck_assert_int_eq(deliver_policy_required(&p), 1);
		ck_assert_int_eq(deliver_policy_verifies(&p), 0);
	}
	if (p.level == CONF_TLS_DANE && p.dane == NULL)
		/* Table dane without records acts as may. */
		ck_assert_int_eq(deliver_policy_required(&p), 0);
	deliver_tls_dane_clear(&p);
	ck_assert_ptr_null(p.dane);
}
END_TEST

START_TEST(the_set_is_a_copy_with_the_names_in_order)
{
	struct deliver_policy	 p;
	struct deliver_dns_tlsa	 t;
	unsigned char		 data[32];

	memcpy(data, d32, sizeof(data));
	policy_default(&p, NULL);
	tlsa_answer(&t, DELIVER_DNS_OK, 1, good, 1);
	t.recs[0].data = data;
	ck_assert_int_eq(deliver_tls_dane_apply(&p, &t, "Mx1.Example.",
	    "mx.alias.example", "mx1.example"), DELIVER_DANE_ON);
	/* The DNS answer lives only during its callback. */
	memset(data, 0, sizeof(data));
	ck_assert_int_eq(memcmp(p.dane->recs[0].data, d32, 32), 0);
	ck_assert_uint_eq(p.dane->nnames, 2);
	ck_assert_str_eq(p.dane->names[0], "mx1.example");
	ck_assert_str_eq(p.dane->names[1], "mx.alias.example");
	ck_assert_str_eq(p.source, "dane");
	/* One more holder (a session), and the set outlives the policy. */
	deliver_dane_ref(p.dane);
	ck_assert_int_eq(p.dane->refs, 2);
	deliver_dane_unref(p.dane);
	deliver_tls_dane_clear(&p);
}
END_TEST

/* dane_id - the id a TLSA set gives a default policy */
static void
dane_id(char *out, size_t len, const struct deliver_dns_tlsa_rec *recs,
    size_t n, const char *base, const char *nexthop)
{
	struct deliver_policy	 p;
	struct deliver_dns_tlsa	 t;

	policy_default(&p, NULL);
	tlsa_answer(&t, DELIVER_DNS_OK, 1, recs, n);
	ck_assert_int_eq(deliver_tls_dane_apply(&p, &t, base, NULL, nexthop),
	    DELIVER_DANE_ON);
	strlcpy(out, p.id, len);
	deliver_tls_dane_clear(&p);
}

START_TEST(the_id_differs_with_every_record_and_name)
{
	static const struct deliver_dns_tlsa_rec a[] = {
		REC(3, 1, 1, d32, 32) };
	static const struct deliver_dns_tlsa_rec b[] = {
		REC(3, 0, 1, d32, 32) };
	static const struct deliver_dns_tlsa_rec c[] = {
		REC(3, 1, 1, d32, 32), REC(2, 0, 1, d32, 32) };
	static const unsigned char e32[32] = { 1, 2, 4 };
	static const struct deliver_dns_tlsa_rec d[] = {
		REC(3, 1, 1, e32, 32) };
	char	 ids[6][DELIVER_POLICY_ID_SIZE];
	int	 i, j;

	dane_id(ids[0], sizeof(ids[0]), a, 1, "mx.test", "uni-b.es");
	dane_id(ids[1], sizeof(ids[1]), b, 1, "mx.test", "uni-b.es");
	dane_id(ids[2], sizeof(ids[2]), c, 2, "mx.test", "uni-b.es");
	dane_id(ids[3], sizeof(ids[3]), d, 1, "mx.test", "uni-b.es");
	dane_id(ids[4], sizeof(ids[4]), a, 1, "mx2.test", "uni-b.es");
	dane_id(ids[5], sizeof(ids[5]), a, 1, "mx.test", "uni-c.es");
	for (i = 0; i < 6; i++)
		for (j = i + 1; j < 6; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	/* And the same set gives the same id: its sessions come back. */
	dane_id(ids[1], sizeof(ids[1]), a, 1, "mx.test", "uni-b.es");
	ck_assert_str_eq(ids[0], ids[1]);
}
END_TEST

/* --- a STARTTLS server on loopback ---------------------------------------- */

#define TLSRV_MAXCONN	8

struct tlsrv;

struct tlconn {
	struct tlsrv		*srv;
	struct bufferevent	*bev;
	int			 tls, indata, closing;
};

struct tlsrv {
	struct event_base	*base;
	struct evconnlistener	*lis;
	struct tls_server	*ts;
	uint16_t		 port;
	int			 starttls;	/* offer it */
	int			 nconn, nstarttls, nhandshake, nmail, ndot;
	struct tlconn		*conns[TLSRV_MAXCONN];
};

static void	tlconn_read(struct bufferevent *, void *);
static void	tlconn_write(struct bufferevent *, void *);
static void	tlconn_event(struct bufferevent *, short, void *);

static void
tlconn_reply(struct tlconn *c, const char *s)
{
	evbuffer_add(bufferevent_get_output(c->bev), s, strlen(s));
}

static void
tlconn_free(struct tlconn *c)
{
	SSL	*ssl;
	int	 i;

	for (i = 0; i < TLSRV_MAXCONN; i++)
		if (c->srv->conns[i] == c)
			c->srv->conns[i] = NULL;
	/*
	 * close_notify first: the client's OpenSSL takes a bare EOF for a
	 * fatal error and marks the session it would resume unusable.
	 */
	if (c->tls && (ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL &&
	    SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	bufferevent_free(c->bev);
	free(c);
}

/* tlconn_starttls - 220, then the same socket under an accepting SSL */
static void
tlconn_starttls(struct tlconn *c)
{
	static const char	 ok[] = "220 2.0.0 Ready to start TLS\r\n";
	evutil_socket_t		 fd = bufferevent_getfd(c->bev);
	SSL			*ssl;

	ck_assert_int_eq(write(fd, ok, sizeof(ok) - 1), sizeof(ok) - 1);
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	ck_assert_ptr_nonnull(ssl = tls_server_ssl(c->srv->ts, 0));
	c->bev = bufferevent_openssl_socket_new(c->srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(c->bev);
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, tlconn_read, tlconn_write, tlconn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->tls = 1;
}

static void
tlconn_read(struct bufferevent *bev, void *arg)
{
	struct tlconn	*c = arg;
	struct tlsrv	*s = c->srv;
	char		*line;
	size_t		 len;

	while (!c->closing && (line = evbuffer_readln(
	    bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		if (c->indata) {
			if (strcmp(line, ".") == 0) {
				s->ndot++;
				c->indata = 0;
				tlconn_reply(c, "250 2.0.0 Ok: queued\r\n");
				/* Each job on a fresh connection. */
				c->closing = 1;
			}
		} else if (strncasecmp(line, "EHLO ", 5) == 0)
			tlconn_reply(c, s->starttls && !c->tls ?
			    "250-test.local\r\n250-PIPELINING\r\n"
			    "250 STARTTLS\r\n" :
			    "250-test.local\r\n250 PIPELINING\r\n");
		else if (strcasecmp(line, "STARTTLS") == 0 && s->starttls &&
		    !c->tls) {
			s->nstarttls++;
			free(line);
			tlconn_starttls(c);
			return;		/* bev is another one now */
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			s->nmail++;
			tlconn_reply(c, "250 2.1.0 Ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0)
			tlconn_reply(c, "250 2.1.5 Ok\r\n");
		else if (strcasecmp(line, "DATA") == 0) {
			c->indata = 1;
			tlconn_reply(c, "354 go ahead\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			tlconn_reply(c, "221 2.0.0 Bye\r\n");
			c->closing = 1;
		} else
			tlconn_reply(c, "502 5.5.2 not recognized\r\n");
		free(line);
	}
}

static void
tlconn_write(struct bufferevent *bev, void *arg)
{
	struct tlconn	*c = arg;

	if (c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		tlconn_free(c);
}

static void
tlconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct tlconn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->srv->nhandshake++;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		tlconn_free(c);
}

static void
tlsrv_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tlsrv	*s = arg;
	struct tlconn	*c;
	int		 i;

	(void)lis;
	(void)sa;
	(void)salen;
	s->nconn++;
	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, tlconn_read, tlconn_write, tlconn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	for (i = 0; i < TLSRV_MAXCONN; i++)
		if (s->conns[i] == NULL) {
			s->conns[i] = c;
			break;
		}
	ck_assert_int_lt(i, TLSRV_MAXCONN);
	tlconn_reply(c, "220 test.local ESMTP\r\n");
}

/* tlsrv_text - a file of the certificate directory, as text */
static char *
tlsrv_text(const char *name, size_t *len)
{
	char	 path[600], err[256], *t;

	snprintf(path, sizeof(path), "%s/%s", cdir, name);
	ck_assert_msg(tls_file_load(path, &t, len, err, sizeof(err)) == 0,
	    "%s", err);
	return t;
}

/* tlsrv_start - a server presenting leaf (NAME.crt, NAME.key) and ca.crt */
static void
tlsrv_start(struct tlsrv *s, struct event_base *base, const char *leaf)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct tls_ticket_keys	 k;
	struct tls_pem		 pem;
	char			 crt[600], key[600], err[256], *ca, *chain;
	size_t			 calen, n;

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->starttls = 1;
	snprintf(crt, sizeof(crt), "%s/%s.crt", cdir, leaf);
	snprintf(key, sizeof(key), "%s/%s.key", cdir, leaf);
	ck_assert_msg(tls_pem_load(&pem, crt, key, err, sizeof(err)) == 0,
	    "%s", err);
	ca = tlsrv_text("ca.crt", &calen);
	n = pem.certlen + calen;
	chain = xmalloc(n + 1);
	memcpy(chain, pem.cert, pem.certlen);
	memcpy(chain + pem.certlen, ca, calen);
	chain[n] = '\0';
	free(pem.cert);
	free(ca);
	pem.cert = chain;
	pem.certlen = n;
	s->ts = tls_server_new(&pem, 1, NULL, 0, TLS_SRV_TICKETS, err,
	    sizeof(err));
	ck_assert_msg(s->ts != NULL, "%s", err);
	tls_pem_clear(&pem);
	memset(&k, 0, sizeof(k));
	tls_ticket_keys_make(k.cur);
	tls_server_set_keys(s->ts, &k);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, tlsrv_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(s->lis);
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin,
	    &len);
	s->port = ntohs(sin.sin_port);
}

static void
tlsrv_stop(struct tlsrv *s)
{
	int	 i;

	for (i = 0; i < TLSRV_MAXCONN; i++)
		if (s->conns[i] != NULL)
			tlconn_free(s->conns[i]);
	evconnlistener_free(s->lis);
	tls_server_free(s->ts);
}

/* --- sessions under DANE ------------------------------------------------- */

struct dt {
	struct event_base		*base;
	struct deliver_session_ctx	*smtp;
	struct tlsrv			 srv;
	SSL_CTX				*ctx;	/* as the engine's plain */
	int				 ndone;
};

static void
dt_done(struct deliver_job *job, void *arg)
{
	struct dt	*t = arg;

	(void)job;
	t->ndone++;
}

static void
dt_init(struct dt *t, const char *leaf)
{
	struct deliver_conf	 conf;
	struct tls_client_opts	 o;
	char			 err[256];

	signal(SIGPIPE, SIG_IGN);
	memset(t, 0, sizeof(*t));
	memset(&conf, 0, sizeof(conf));
	strlcpy(conf.hostname, "mx.aval.test", sizeof(conf.hostname));
	conf.connect_timeout = 5;
	conf.command_timeout = 5;
	conf.max_jobs = 10;
	conf.max_message_size = 1 << 20;
	t->base = event_base_new();
	t->smtp = deliver_session_ctx_new(t->base, &conf);
	memset(&o, 0, sizeof(o));
	t->ctx = tls_client_ctx_new(&o, err, sizeof(err));
	ck_assert_msg(t->ctx != NULL, "%s", err);
	tlsrv_start(&t->srv, t->base, leaf);
}

static void
dt_fini(struct dt *t)
{
	deliver_session_ctx_free(t->smtp);
	tlsrv_stop(&t->srv);
	SSL_CTX_free(t->ctx);
	event_base_free(t->base);
}

/* dt_job - a job for one recipient at uni-b.es, with the default policy */
static struct deliver_job *
dt_job(struct dt *t)
{
	static const char	 body[] = "Subject: dane\r\n\r\nhello\r\n";
	struct deliver_job	*job;
	FILE			*f;
	int			 fd;

	job = xcalloc(1, sizeof(*job));
	job->id = 1;
	job->qid = xstrdup("0661ED2C3B79FC");
	job->sender = xstrdup("ana@uni-a.es");
	job->domain = xstrdup("uni-b.es");
	job->nrcpt = 1;
	job->rcpts = xcalloc(1, sizeof(*job->rcpts));
	job->rcpts[0].addr = xstrdup("luis@uni-b.es");
	ck_assert_ptr_nonnull(f = tmpfile());
	ck_assert_uint_eq(fwrite(body, 1, sizeof(body) - 1, f),
	    sizeof(body) - 1);
	fflush(f);
	ck_assert_int_ne(fd = dup(fileno(f)), -1);
	fclose(f);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	job->body = deliver_body_new_file(job, fd);
	job->size = sizeof(body) - 1;
	job->arrival_ms = (int64_t)time(NULL) * 1000;
	strlcpy(job->relay, "none", sizeof(job->relay));
	gettimeofday(&job->t_go, NULL);
	policy_default(&job->policy, t->ctx);
	return job;
}

/* dt_dane - apply a secure TLSA answer to the job's policy */
static enum deliver_dane_verdict
dt_dane(struct deliver_job *job, const struct deliver_dns_tlsa_rec *recs,
    size_t n, const char *base, const char *nexthop)
{
	struct deliver_dns_tlsa	 t;

	tlsa_answer(&t, DELIVER_DNS_OK, 1, recs, n);
	return deliver_tls_dane_apply(&job->policy, &t, base, NULL, nexthop);
}

/* dt_run - run job to its end, at most ten seconds */
static void
dt_run(struct dt *t, struct deliver_job *job)
{
	struct timeval	 start, now;
	int		 want = t->ndone + 1;

	deliver_session_start(t->smtp, job, "127.0.0.1", t->srv.port, dt_done,
	    t);
	gettimeofday(&start, NULL);
	while (t->ndone < want) {
		event_base_loop(t->base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
		ck_assert_int_lt(now.tv_sec - start.tv_sec, 10);
	}
}

/* dt_settle - let the loop run a little (the server's closes) */
static void
dt_settle(struct dt *t)
{
	struct timeval	 tv = { 0, 100 * 1000 };

	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

#define ck_assert_result(job, st, d) do {				\
	ck_assert_int_eq((job)->rcpts[0].final, 1);			\
	ck_assert_msg((job)->rcpts[0].status == (st) &&			\
	    strcmp((job)->rcpts[0].dsn, (d)) == 0, "%s %s",		\
	    (job)->rcpts[0].dsn, (job)->rcpts[0].text);			\
} while (0)

#define ck_assert_has(s, needle) \
	ck_assert_msg(strstr((s), (needle)) != NULL, "no \"%s\" in \"%s\"", \
	    (needle), (s))

START_TEST(dane_ee_match_delivers_verified_dane_ee)
{
	struct deliver_dns_tlsa_rec	 r[] = {
		REC(3, 1, 1, wrong, 32), REC(3, 1, 1, ee_spki, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	dt_init(&t, "server");
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 2, "mx.test", "uni-b.es"),
	    DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "policy=dane");
	ck_assert_has(job->tlslog, "verified=dane-ee");
	ck_assert_int_eq(t.srv.nmail, 1);
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(dane_ee_checks_neither_names_nor_dates)
{
	struct deliver_dns_tlsa_rec	 r[] = {
		REC(3, 1, 1, xp_spki, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	/* Valid only in 2020, and naming mx.test, not the base domain. */
	dt_init(&t, "expired");
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 1, "mx.elsewhere.example",
	    "uni-b.es"), DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "verified=dane-ee");
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(dane_ta_match_with_the_right_name_delivers)
{
	struct deliver_dns_tlsa_rec	 r[] = {
		REC(2, 0, 1, ta_other, 32), REC(2, 0, 1, ta_cert, 32) };
	struct deliver_job		*job;
	struct dt			 t;
	int				 by_nexthop = _i;

	dt_init(&t, "server");
	job = dt_job(&t);
	/* The base domain, or else the next-hop domain, is named. */
	ck_assert_int_eq(dt_dane(job, r, 2, by_nexthop ? "mx9.uni-b.es" :
	    "mx.test", by_nexthop ? "mx.test" : "uni-b.es"), DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "verified=dane-ta");
	ck_assert_int_eq(t.srv.nmail, 1);
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(dane_ta_match_with_the_wrong_name_defers)
{
	struct deliver_dns_tlsa_rec	 r[] = { REC(2, 0, 1, ta_cert, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	dt_init(&t, "server");
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 1, "mx.uni-b.es", "uni-b.es"),
	    DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_DEFERRED, "4.7.5");
	ck_assert_has(job->rcpts[0].text, "DANE: the certificate of");
	ck_assert_has(job->rcpts[0].text, "did not verify for mx.uni-b.es: "
	    "hostname mismatch");
	ck_assert_int_eq(t.srv.nstarttls, 1);
	ck_assert_int_eq(t.srv.nmail, 0);
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(dane_ta_still_checks_the_dates_of_the_leaf)
{
	struct deliver_dns_tlsa_rec	 r[] = { REC(2, 0, 1, ta_cert, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	dt_init(&t, "expired");
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 1, "mx.test", "uni-b.es"),
	    DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_DEFERRED, "4.7.5");
	ck_assert_has(job->rcpts[0].text, "did not verify for mx.test: "
	    "certificate has expired");
	ck_assert_int_eq(t.srv.nmail, 0);
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(wrong_digest_defers_and_no_mail_reaches_the_server)
{
	struct deliver_dns_tlsa_rec	 r[] = {
		REC(3, 1, 1, wrong, 32), REC(2, 0, 1, ta_other, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	dt_init(&t, "server");
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 2, "mx.test", "uni-b.es"),
	    DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_DEFERRED, "4.7.5");
	ck_assert_has(job->rcpts[0].text, "DANE: no TLSA record matched");
	ck_assert_has(job->rcpts[0].text, "(mx.test, 2 records: ");
	ck_assert_int_eq(t.srv.nstarttls, 1);
	ck_assert_int_eq(t.srv.nmail, 0);
	/* And no plaintext retry: one connection, and nothing kept. */
	dt_settle(&t);
	ck_assert_int_eq(t.srv.nconn, 1);
	ck_assert_uint_eq(deliver_session_ctx_tls_sessions(t.smtp), 0);
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(all_unusable_records_give_encrypted_unauthenticated_delivery)
{
	/* The right digests, under PKIX usages: unusable for SMTP. */
	struct deliver_dns_tlsa_rec	 r[] = {
		REC(1, 1, 1, ee_spki, 32), REC(0, 0, 1, ta_cert, 32) };
	struct deliver_job		*job;
	struct dt			 t;
	int				 offered = _i;

	dt_init(&t, "server");
	t.srv.starttls = offered;
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 2, "mx.test", "uni-b.es"),
	    DELIVER_DANE_ENCRYPT);
	dt_run(&t, job);
	if (offered) {
		ck_assert_result(job, DELIVER_SENT, "2.0.0");
		ck_assert_has(job->tlslog, "policy=encrypt");
		ck_assert_has(job->tlslog, "verified=no");
		ck_assert_int_eq(t.srv.nhandshake, 1);
	} else {
		/* TLS is a must all the same. */
		ck_assert_result(job, DELIVER_DEFERRED, "4.7.4");
		ck_assert_int_eq(t.srv.nmail, 0);
	}
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(dane_without_starttls_at_the_server_defers)
{
	struct deliver_dns_tlsa_rec	 r[] = { REC(3, 1, 1, ee_spki, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	dt_init(&t, "server");
	t.srv.starttls = 0;
	job = dt_job(&t);
	ck_assert_int_eq(dt_dane(job, r, 1, "mx.test", "uni-b.es"),
	    DELIVER_DANE_ON);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_DEFERRED, "4.7.4");
	ck_assert_has(job->rcpts[0].text, "TLS is required (policy dane)");
	ck_assert_has(job->rcpts[0].text, "did not offer STARTTLS");
	ck_assert_int_eq(t.srv.nmail, 0);
	deliver_job_free(job);
	dt_fini(&t);
}
END_TEST

START_TEST(a_session_resumes_only_under_the_same_tlsa_set)
{
	struct deliver_dns_tlsa_rec	 a[] = { REC(3, 1, 1, ee_spki, 32) };
	struct deliver_dns_tlsa_rec	 b[] = { REC(3, 0, 1, ee_cert, 32) };
	struct deliver_job		*job;
	struct dt			 t;

	dt_init(&t, "server");
	/* First: a full handshake, and the session is kept. */
	job = dt_job(&t);
	dt_dane(job, a, 1, "mx.test", "uni-b.es");
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "resumed=no");
	deliver_job_free(job);
	dt_settle(&t);
	ck_assert_uint_eq(deliver_session_ctx_tls_sessions(t.smtp), 1);

	/* The same set: resumed, and still verified by DANE-EE. */
	job = dt_job(&t);
	dt_dane(job, a, 1, "mx.test", "uni-b.es");
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "resumed=yes");
	ck_assert_has(job->tlslog, "verified=dane-ee");
	deliver_job_free(job);
	dt_settle(&t);

	/* Another set (it matches too): never the first set's session. */
	job = dt_job(&t);
	dt_dane(job, b, 1, "mx.test", "uni-b.es");
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "resumed=no");
	ck_assert_has(job->tlslog, "verified=dane-ee");
	deliver_job_free(job);
	dt_settle(&t);

	/* Nor the policy without DANE, nor that set's under DANE. */
	job = dt_job(&t);
	dt_run(&t, job);
	ck_assert_result(job, DELIVER_SENT, "2.0.0");
	ck_assert_has(job->tlslog, "policy=may");
	ck_assert_has(job->tlslog, "resumed=no");
	deliver_job_free(job);
	ck_assert_int_eq(t.srv.nconn, 4);
	dt_fini(&t);
}
END_TEST

/* --- the TLSA records through validated DNS ------------------------------ */

static char	*dns_dir;
static int	 dns_port, dns_skip;
static char	 dns_anchors[1024];

/* dns_fixture - run tests/dns/dnsserver; its exit status, or -1 */
static int
dns_fixture(const char *cmd, const char *a1, const char *a2)
{
	char	 path[1024];
	pid_t	 pid;
	int	 st;

	snprintf(path, sizeof(path), "%s/tests/dns/dnsserver",
	    harness_srcdir());
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* start prints the port, which is in DIR/port too. */
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execl(path, path, cmd, a1, a2, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
dns_hex(FILE *f, const unsigned char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
}

/*
 * dns_setup - the certificates, then zones publishing their TLSA data:
 * mx.good (DANE-EE, right), mx.wrong (a wrong digest), mx.pkix (only a
 * PKIX-EE record) in dane.example, signed; the right record in the
 * unsigned plain.example and in bad.example, whose signatures expired
 */
static void
dns_setup(void)
{
	static const char *const zones[] = {
		"zone dane.example signed", "zone plain.example",
		"zone bad.example signed expired",
	};
	char	 spec[1024], portf[1024];
	FILE	*f;
	size_t	 i;

	certs_setup();
	if (dns_fixture("check", NULL, NULL) != 0) {
		printf("deliver_tls: unbound or ldns tools missing: DANE over "
		    "DNS skipped (tools/setup installs them)\n");
		dns_skip = 1;
		return;
	}
	dns_dir = harness_tmpdir();
	snprintf(spec, sizeof(spec), "%s/spec", dns_dir);
	ck_assert_ptr_nonnull(f = fopen(spec, "w"));
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		fprintf(f, "%s\nmx.good A 127.0.0.1\n"
		    "_25._tcp.mx.good TLSA 3 1 1 ", zones[i]);
		dns_hex(f, ee_spki, sizeof(ee_spki));
	}
	fputs("zone dane.example signed\n_25._tcp.mx.wrong TLSA 3 1 1 ", f);
	dns_hex(f, wrong, sizeof(wrong));
	fputs("_25._tcp.mx.pkix TLSA 1 1 1 ", f);
	dns_hex(f, ee_spki, sizeof(ee_spki));
	fclose(f);
	ck_assert_int_eq(dns_fixture("start", dns_dir, spec), 0);
	snprintf(portf, sizeof(portf), "%s/port", dns_dir);
	ck_assert_ptr_nonnull(f = fopen(portf, "r"));
	ck_assert_int_eq(fscanf(f, "%d", &dns_port), 1);
	fclose(f);
	snprintf(dns_anchors, sizeof(dns_anchors), "%s/trust-anchors",
	    dns_dir);
}

static void
dns_teardown(void)
{
	if (dns_dir != NULL) {
		dns_fixture("stop", dns_dir, NULL);
		harness_rmtree(dns_dir);
		free(dns_dir);
		dns_dir = NULL;
	}
	certs_teardown();
}

struct dns_apply {
	struct deliver_job		*job;
	const char			*base;
	int				 done;
	enum deliver_dane_verdict	 v;
	char				 qname[DELIVER_DNS_NAMELEN + 16];
};

/* dns_tlsa_done - as deliver.c's callback will: apply, while it lives */
static void
dns_tlsa_done(const struct deliver_dns_tlsa *tlsa, void *arg)
{
	struct dns_apply	*a = arg;

	a->v = deliver_tls_dane_apply(&a->job->policy, tlsa, a->base, NULL,
	    a->job->domain);
	strlcpy(a->qname, tlsa->qname, sizeof(a->qname));
	a->done = 1;
}

static const struct {
	const char			*host;
	enum deliver_dane_verdict	 v;
	enum deliver_status		 st;
	const char			*dsn;
	const char			*log;	/* tlslog or text */
} dns_cases[] = {
	{ "mx.good.dane.example", DELIVER_DANE_ON, DELIVER_SENT, "2.0.0",
	    "policy=dane, tls=TLSv1.3" },
	{ "mx.wrong.dane.example", DELIVER_DANE_ON, DELIVER_DEFERRED, "4.7.5",
	    "DANE: no TLSA record matched" },
	{ "mx.pkix.dane.example", DELIVER_DANE_ENCRYPT, DELIVER_SENT, "2.0.0",
	    "policy=encrypt, tls=TLSv1.3" },
	{ "mx.good.plain.example", DELIVER_DANE_OFF, DELIVER_SENT, "2.0.0",
	    "policy=may, tls=TLSv1.3" },
	{ "mx.none.dane.example", DELIVER_DANE_OFF, DELIVER_SENT, "2.0.0",
	    "policy=may, tls=TLSv1.3" },
	{ "mx.good.bad.example", DELIVER_DANE_DEFER, 0, NULL, NULL },
};

START_TEST(tlsa_records_from_validated_dns_decide_the_delivery)
{
	struct deliver_dns_conf	 conf;
	struct deliver_dns	*dns;
	struct dns_apply	 a;
	struct deliver_job	*job;
	struct dt		 t;
	struct timeval		 start, now;
	char			 r[64], err[256];

	if (dns_skip)
		return;
	dt_init(&t, "server");
	snprintf(r, sizeof(r), "127.0.0.1@%d", dns_port);
	memset(&conf, 0, sizeof(conf));
	conf.resolver = r;
	conf.trust_anchor_file = dns_anchors;
	dns = deliver_dns_new(t.base, &conf, err, sizeof(err));
	ck_assert_msg(dns != NULL, "%s", err);
	job = dt_job(&t);
	ck_assert_int_eq(deliver_tls_dane_wanted(&job->policy), 1);
	memset(&a, 0, sizeof(a));
	a.job = job;
	a.base = dns_cases[_i].host;
	ck_assert_ptr_nonnull(deliver_dns_tlsa(dns, a.base, 25, dns_tlsa_done,
	    &a));
	gettimeofday(&start, NULL);
	while (!a.done) {
		event_base_loop(t.base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
		ck_assert_int_lt(now.tv_sec - start.tv_sec, 20);
	}
	ck_assert_msg(a.v == dns_cases[_i].v, "%s: %s", a.qname,
	    deliver_tls_dane_verdict_name(a.v));
	if (dns_cases[_i].dsn != NULL) {
		dt_run(&t, job);
		ck_assert_result(job, dns_cases[_i].st, dns_cases[_i].dsn);
		ck_assert_has(dns_cases[_i].st == DELIVER_SENT ? job->tlslog :
		    job->rcpts[0].text, dns_cases[_i].log);
	}
	deliver_job_free(job);
	deliver_dns_free(dns);
	dt_fini(&t);
}
END_TEST

Suite *
deliver_tls_suite(void)
{
	Suite	*s = suite_create("deliver_tls");
	TCase	*tc;

	tc = tcase_create("dane");
	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	tcase_add_loop_test(tc, tlsa_records_are_usable_as_rfc_7672_says, 0,
	    (int)(sizeof(usable_cases) / sizeof(usable_cases[0])));
	tcase_add_test(tc,
	    full_certificate_and_key_records_are_usable_when_they_parse);
	tcase_add_loop_test(tc, a_tlsa_answer_sets_the_policy_as_the_table_says,
	    0, (int)(sizeof(apply_cases) / sizeof(apply_cases[0])));
	tcase_add_test(tc, the_set_is_a_copy_with_the_names_in_order);
	tcase_add_test(tc, the_id_differs_with_every_record_and_name);
	tcase_add_test(tc, dane_ee_match_delivers_verified_dane_ee);
	tcase_add_test(tc, dane_ee_checks_neither_names_nor_dates);
	tcase_add_loop_test(tc, dane_ta_match_with_the_right_name_delivers,
	    0, 2);
	tcase_add_test(tc, dane_ta_match_with_the_wrong_name_defers);
	tcase_add_test(tc, dane_ta_still_checks_the_dates_of_the_leaf);
	tcase_add_test(tc, wrong_digest_defers_and_no_mail_reaches_the_server);
	tcase_add_loop_test(tc,
	    all_unusable_records_give_encrypted_unauthenticated_delivery, 0, 2);
	tcase_add_test(tc, dane_without_starttls_at_the_server_defers);
	tcase_add_test(tc, a_session_resumes_only_under_the_same_tlsa_set);
	suite_add_tcase(s, tc);

	tc = tcase_create("dane_dns");
	tcase_add_unchecked_fixture(tc, dns_setup, dns_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc,
	    tlsa_records_from_validated_dns_decide_the_delivery, 0,
	    (int)(sizeof(dns_cases) / sizeof(dns_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}
