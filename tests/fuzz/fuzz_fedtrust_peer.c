/*
 * fuzz_fedtrust_peer - libFuzzer target for fed_trust_peer(): a peer's
 * certificate against the federation
 *
 * The input is one DER certificate (d2i_X509; anything else is skipped).
 * A fixed trust is made once, before the first input: a P-256 federation
 * CA, a CRL of it that revokes serial 66, an active member fuzz-a (MX
 * mx1.a.example, mx2.a.example) and a suspended one fuzz-b (MX
 * mx.b.example), signed into a bundle as aval-ca publish does. Each input
 * is then checked for a client or a server (the input's length says):
 *
 *  - as it came. The CA's key is made at start-up, so no input carries
 *    its signature: this runs the verifier over hostile ASN.1, and the
 *    answer must be a refusal;
 *  - re-issued by the CA (its issuer name and key identifier, a validity
 *    around now, the CA's signature over everything else, subjectAltName
 *    included), alone and with the input as an untrusted chain. This
 *    reaches the placement by subjectAltName, which is checked against a
 *    second reading of the names written here, apart from fedtrust.c.
 *
 * What must hold, whatever the input: a verdict of 0 or 1; on 1 a member
 * id that fed_id_valid() takes, fuzz-a's, and no reason; on 0 no member,
 * a reason among the class words and a why, each NUL-terminated in its
 * buffer; a placement (1, not-registered, suspended) that agrees with the
 * second reading; and OpenSSL's error queue left empty. See README.md.
 *
 * link: common/fedtrust.c common/fedbundle.c common/buf.c common/xmalloc.c common/log.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/fedbundle.h"
#include "common/fedtrust.h"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char fuzz_members[] =
    "member fuzz-a\norg Fuzz A\ncontact pm@a.example\nstatus active\n"
    "domain a.example\nmx mx1.a.example\nmx mx2.a.example\n"
    "net 192.0.2.0/24\nend\n"
    "member fuzz-b\norg Fuzz B\ncontact pm@b.example\nstatus suspended\n"
    "domain b.example\nmx mx.b.example\nend\n";

/* The MX hosts above, by member: the second reading's registry. */
static const char *const fuzz_mx_a[] = { "mx1.a.example", "mx2.a.example" };
static const char *const fuzz_mx_b[] = { "mx.b.example" };

enum fuzz_place {
	FUZZ_P_NONE,		/* not-registered */
	FUZZ_P_A,		/* placed at fuzz-a */
	FUZZ_P_B		/* fuzz-b's, which is suspended */
};

static const char *const fuzz_reasons[] = {
	"no-certificate", "bundle-expired", "crl-stale", "expired",
	"not-yet-valid", "revoked", "untrusted-ca", "self-signed",
	"name-mismatch", "other", "not-registered", "suspended",
};

static struct fed_trust	*fuzz_trust;
static EVP_PKEY		*fuzz_ca_key;
static X509		*fuzz_ca;
static time_t		 fuzz_now;

/* fuzz_need - the fixed trust must build; a failure here is no finding */
static void
fuzz_need(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_fedtrust_peer: setup: %s\n", what);
		abort();
	}
}

static void
fuzz_ext(X509 *issuer, X509 *x, int nid, const char *v)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*e;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	fuzz_need(e != NULL && X509_add_ext(x, e, -1) == 1, "extension");
	X509_EXTENSION_free(e);
}

static void
fuzz_pem(struct buf *b, int crl, void *obj)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*p;
	long	 n;

	fuzz_need(bio != NULL && (crl ? PEM_write_bio_X509_CRL(bio, obj) :
	    PEM_write_bio_X509(bio, obj)) == 1, "PEM");
	n = BIO_get_mem_data(bio, &p);
	fuzz_need(buf_add(b, p, (size_t)n) == 0, "PEM size");
	BIO_free(bio);
}

/* fuzz_setup - the CA, its CRL, the bundle, and the trust made of them */
static void
fuzz_setup(void)
{
	X509_CRL	*crl;
	X509_REVOKED	*rev;
	ASN1_INTEGER	*sn;
	ASN1_TIME	*t;
	CMS_ContentInfo	*cms;
	BIO		*in, *out;
	struct buf	*text, *pem;
	char		 ti[32], te[32], err[256], *p;
	long		 n;

	fuzz_now = time(NULL);
	fuzz_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	fuzz_need(fuzz_ca_key != NULL, "key");
	fuzz_ca = X509_new();
	X509_set_version(fuzz_ca, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(fuzz_ca), 1);
	ASN1_TIME_set(X509_getm_notBefore(fuzz_ca), fuzz_now - 86400);
	ASN1_TIME_set(X509_getm_notAfter(fuzz_ca), fuzz_now + 86400L * 3650);
	X509_set_pubkey(fuzz_ca, fuzz_ca_key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(fuzz_ca), "CN",
	    MBSTRING_ASC, (const unsigned char *)"Fuzz Fed", -1, -1, 0);
	X509_set_issuer_name(fuzz_ca, X509_get_subject_name(fuzz_ca));
	fuzz_ext(fuzz_ca, fuzz_ca, NID_basic_constraints, "critical,CA:TRUE");
	fuzz_ext(fuzz_ca, fuzz_ca, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature");
	fuzz_ext(fuzz_ca, fuzz_ca, NID_subject_key_identifier, "hash");
	fuzz_need(X509_sign(fuzz_ca, fuzz_ca_key, EVP_sha256()) != 0, "CA");

	crl = X509_CRL_new();
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(fuzz_ca));
	t = ASN1_TIME_set(NULL, fuzz_now - 60);
	X509_CRL_set1_lastUpdate(crl, t);
	rev = X509_REVOKED_new();
	sn = ASN1_INTEGER_new();
	ASN1_INTEGER_set(sn, 66);
	X509_REVOKED_set_serialNumber(rev, sn);
	X509_REVOKED_set_revocationDate(rev, t);
	X509_CRL_add0_revoked(crl, rev);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_set(t, fuzz_now + 86400L * 365);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	X509_CRL_sort(crl);
	fuzz_need(X509_CRL_sign(crl, fuzz_ca_key, EVP_sha256()) != 0, "CRL");

	text = buf_new(8192, FED_CONTENT_MAX);
	fed_time_format(fuzz_now - 60, ti, sizeof(ti));
	fed_time_format(fuzz_now + 86400L * 365, te, sizeof(te));
	buf_printf(text, "aval-federation-bundle 1\nfederation Fuzz Fed\n"
	    "serial 1\nissued %s\nexpires %s\n%s", ti, te, fuzz_members);
	fuzz_pem(text, 0, fuzz_ca);
	fuzz_pem(text, 1, crl);
	in = BIO_new_mem_buf(buf_data(text), (int)buf_len(text));
	out = BIO_new(BIO_s_mem());
	cms = CMS_sign(fuzz_ca, fuzz_ca_key, NULL, in, CMS_BINARY);
	fuzz_need(cms != NULL && i2d_CMS_bio(out, cms) == 1, "CMS");
	n = BIO_get_mem_data(out, &p);

	pem = buf_new(4096, FED_PEM_MAX);
	fuzz_pem(pem, 0, fuzz_ca);
	fuzz_trust = fed_trust_new(buf_data(pem), buf_len(pem),
	    (const unsigned char *)p, (size_t)n, fuzz_now, err, sizeof(err));
	if (fuzz_trust == NULL)
		fprintf(stderr, "fuzz_fedtrust_peer: %s\n", err);
	fuzz_need(fuzz_trust != NULL && !fuzz_trust->expired, "trust");
	buf_free(pem);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	buf_free(text);
	X509_CRL_free(crl);
	ERR_clear_error();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* fuzz_is_mx - 1 if the len bytes at p are mx in any case */
static int
fuzz_is_mx(const unsigned char *p, int len, const char *mx)
{
	int	 k;

	if (len < 0 || (size_t)len != strlen(mx))
		return 0;
	for (k = 0; k < len; k++) {
		unsigned char	 c = p[k];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)mx[k])
			return 0;
	}
	return 1;
}

/*
 * fuzz_place - the placement by subjectAltName alone: every DNS name an
 * MX host of one member, and at least one such name
 */
static enum fuzz_place
fuzz_place(X509 *x)
{
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*g;
	enum fuzz_place		 owner = FUZZ_P_NONE, who;
	const unsigned char	*p;
	size_t			 j;
	int			 i, len;

	if ((gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL)) == NULL) {
		ERR_clear_error();
		return FUZZ_P_NONE;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		p = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		who = FUZZ_P_NONE;
		for (j = 0; j < sizeof(fuzz_mx_a) / sizeof(fuzz_mx_a[0]); j++)
			if (fuzz_is_mx(p, len, fuzz_mx_a[j]))
				who = FUZZ_P_A;
		for (j = 0; j < sizeof(fuzz_mx_b) / sizeof(fuzz_mx_b[0]); j++)
			if (fuzz_is_mx(p, len, fuzz_mx_b[j]))
				who = FUZZ_P_B;
		if (who == FUZZ_P_NONE ||
		    (owner != FUZZ_P_NONE && owner != who)) {
			owner = FUZZ_P_NONE;
			break;
		}
		owner = who;
	}
	GENERAL_NAMES_free(gens);
	return owner;
}

/*
 * fuzz_peer - one fed_trust_peer() call and every rule its answer keeps;
 * signed says whether x carries the CA's signature (else it must fail)
 */
static void
fuzz_peer(X509 *x, STACK_OF(X509) *chain, int purpose, int signed_by_ca)
{
	char		 member[FED_ID_MAX + 1], reason[FED_REASON_LEN];
	char		 why[FED_WHY_LEN];
	enum fuzz_place	 place;
	size_t		 i;
	int		 rv, known = 0;

	memset(member, 'x', sizeof(member));
	memset(reason, 'x', sizeof(reason));
	memset(why, 'x', sizeof(why));
	ERR_clear_error();
	rv = fed_trust_peer(fuzz_trust, x, chain, purpose, fuzz_now, member,
	    reason, why, sizeof(why));
	if (ERR_peek_error() != 0)
		abort();
	if (memchr(member, '\0', sizeof(member)) == NULL ||
	    memchr(reason, '\0', sizeof(reason)) == NULL)
		abort();
	if (rv == 1) {
		if (!signed_by_ca || !fed_id_valid(member) ||
		    strcmp(member, "fuzz-a") != 0 || reason[0] != '\0' ||
		    fuzz_place(x) != FUZZ_P_A)
			abort();
		return;
	}
	if (rv != 0 || member[0] != '\0' ||
	    memchr(why, '\0', sizeof(why)) == NULL || why[0] == '\0')
		abort();
	for (i = 0; i < sizeof(fuzz_reasons) / sizeof(fuzz_reasons[0]); i++)
		if (strcmp(reason, fuzz_reasons[i]) == 0)
			known = 1;
	if (!known)
		abort();
	/* Past the verifier, the placement must be the second reading's. */
	place = fuzz_place(x);
	if ((strcmp(reason, "not-registered") == 0 && place != FUZZ_P_NONE) ||
	    (strcmp(reason, "suspended") == 0 && place != FUZZ_P_B))
		abort();
	if (!signed_by_ca && (strcmp(reason, "not-registered") == 0 ||
	    strcmp(reason, "suspended") == 0))
		abort();
}

/*
 * fuzz_reissue - the input as the CA would have issued it: issuer, key
 * identifier and validity replaced, the CA's signature; read back from
 * DER so that nothing OpenSSL cached of the input survives. NULL if the
 * input cannot be re-encoded.
 */
static X509 *
fuzz_reissue(const uint8_t *data, size_t size)
{
	const unsigned char	*p = data;
	unsigned char		*der = NULL;
	X509V3_CTX		 ctx;
	X509_EXTENSION		*e;
	X509			*x, *back = NULL;
	int			 i, n;

	if ((x = d2i_X509(NULL, &p, (long)size)) == NULL)
		return NULL;
	while ((i = X509_get_ext_by_NID(x, NID_authority_key_identifier,
	    -1)) >= 0)
		X509_EXTENSION_free(X509_delete_ext(x, i));
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, fuzz_ca, x, NULL, NULL, 0);
	if (X509_set_issuer_name(x, X509_get_subject_name(fuzz_ca)) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), fuzz_now - 3600) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), fuzz_now + 86400) == NULL ||
	    (e = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always")) == NULL)
		goto done;
	i = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (i != 1 || X509_sign(x, fuzz_ca_key, EVP_sha256()) == 0 ||
	    (n = i2d_X509(x, &der)) <= 0)
		goto done;
	p = der;
	back = d2i_X509(NULL, &p, n);
 done:
	OPENSSL_free(der);
	X509_free(x);
	return back;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char	*p = data;
	STACK_OF(X509)		*chain;
	X509			*x, *re;
	int			 purpose;

	if (fuzz_trust == NULL)
		fuzz_setup();
	if ((x = d2i_X509(NULL, &p, (long)size)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	purpose = size % 2 == 0 ? X509_PURPOSE_SSL_CLIENT :
	    X509_PURPOSE_SSL_SERVER;
	fuzz_peer(x, NULL, purpose, 0);
	if ((re = fuzz_reissue(data, size)) != NULL) {
		fuzz_peer(re, NULL, purpose, 1);
		/* The input beside it, as an untrusted chain, changes nothing
		 * that the CA signed. */
		if ((chain = sk_X509_new_null()) != NULL &&
		    sk_X509_push(chain, x) > 0)
			fuzz_peer(re, chain, purpose, 1);
		sk_X509_free(chain);
		X509_free(re);
	}
	ERR_clear_error();
	X509_free(x);
	return 0;
}
