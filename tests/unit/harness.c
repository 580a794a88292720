/*
 * harness - what the unit tests share
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/fedbundle.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

#define HARNESS_LOG_MAX	256

static char	*harness_lines[HARNESS_LOG_MAX];
static size_t	 harness_nlines;

static void
harness_log_hook(int pri, const char *line)
{
	(void)pri;
	if (harness_nlines < HARNESS_LOG_MAX)
		harness_lines[harness_nlines++] = xstrdup(line);
}

/* harness_log_start - capture every log line from now on */
void
harness_log_start(void)
{
	harness_log_stop();
	log_capture_hook = harness_log_hook;
}

/* harness_log_has - 1 if a captured line contains needle */
int
harness_log_has(const char *needle)
{
	size_t	 i;

	for (i = 0; i < harness_nlines; i++)
		if (strstr(harness_lines[i], needle) != NULL)
			return 1;
	return 0;
}

/* harness_log_stop - stop capturing and forget what was captured */
void
harness_log_stop(void)
{
	size_t	 i;

	log_capture_hook = NULL;
	for (i = 0; i < harness_nlines; i++)
		free(harness_lines[i]);
	harness_nlines = 0;
}

/* harness_tmpdir - a fresh directory for one test's fixtures */
char *
harness_tmpdir(void)
{
	const char	*t = getenv("TMPDIR");
	char		*path;

	xasprintf(&path, "%s/aval-unit.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(path) == NULL)
		fatal("mkdtemp %s", path);
	return path;
}

static int
harness_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* harness_rmtree - remove a fixture directory and all below it */
void
harness_rmtree(const char *path)
{
	nftw(path, harness_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* harness_srcdir - the source tree, for tests that read etc/ or docs/ */
const char *
harness_srcdir(void)
{
	const char	*s = getenv("AVAL_TEST_SRCDIR");

	return s ? s : ".";
}

/* --- certificates and bundles ------------------------------------------ */

/* harness_ext - one extension, from its config text */
void
harness_ext(X509 *issuer, X509 *x, int nid, const char *v)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*e;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* harness_ca_make - a self-signed federation CA and an empty CRL of it */
void
harness_ca_make(struct harness_ca *ca, const char *cn)
{
	ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(ca->key);
	ca->cert = X509_new();
	X509_set_version(ca->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(ca->cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(ca->cert), 86400L * 365);
	X509_set_pubkey(ca->cert, ca->key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(ca->cert), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert));
	harness_ext(ca->cert, ca->cert, NID_basic_constraints,
	    "critical,CA:TRUE");
	harness_ext(ca->cert, ca->cert, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature");
	harness_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash");
	ck_assert_int_ne(X509_sign(ca->cert, ca->key, EVP_sha256()), 0);
	ca->crl = NULL;
	harness_ca_crl(ca, time(NULL) + 7 * 86400, NULL, 0);
}

/* harness_ca_crl - a new CRL of ca: due at next, revoking those serials */
void
harness_ca_crl(struct harness_ca *ca, time_t next, const long *revoked,
    size_t n)
{
	X509_REVOKED	*r;
	ASN1_INTEGER	*sn;
	ASN1_TIME	*t;
	size_t		 i;

	X509_CRL_free(ca->crl);
	ca->crl = X509_CRL_new();
	ck_assert_ptr_nonnull(ca->crl);
	X509_CRL_set_version(ca->crl, 1);
	X509_CRL_set_issuer_name(ca->crl, X509_get_subject_name(ca->cert));
	t = ASN1_TIME_set(NULL, time(NULL) - 60);
	X509_CRL_set1_lastUpdate(ca->crl, t);
	ASN1_TIME_set(t, next);
	X509_CRL_set1_nextUpdate(ca->crl, t);
	for (i = 0; i < n; i++) {
		r = X509_REVOKED_new();
		sn = ASN1_INTEGER_new();
		ASN1_INTEGER_set(sn, revoked[i]);
		X509_REVOKED_set_serialNumber(r, sn);
		ASN1_TIME_set(t, time(NULL) - 60);
		X509_REVOKED_set_revocationDate(r, t);
		ck_assert_int_eq(X509_CRL_add0_revoked(ca->crl, r), 1);
		ASN1_INTEGER_free(sn);
	}
	ASN1_TIME_free(t);
	X509_CRL_sort(ca->crl);
	ck_assert_int_ne(X509_CRL_sign(ca->crl, ca->key, EVP_sha256()), 0);
}

/* harness_ca_free - the key, the certificate and the CRL */
void
harness_ca_free(struct harness_ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	X509_CRL_free(ca->crl);
	memset(ca, 0, sizeof(*ca));
}

/* harness_cert_make - an end-entity certificate of issuer, or of itself */
X509 *
harness_cert_make(const struct harness_ca *issuer, long serial, time_t nb,
    time_t na, const char *san, EVP_PKEY **keyp)
{
	EVP_PKEY	*key;
	X509		*x;

	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(key);
	x = X509_new();
	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	ASN1_TIME_set(X509_getm_notBefore(x), nb);
	ASN1_TIME_set(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"leaf", -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer->cert) : X509_get_subject_name(x));
	harness_ext(NULL, x, NID_basic_constraints, "critical,CA:FALSE");
	harness_ext(NULL, x, NID_key_usage, "critical,digitalSignature");
	harness_ext(NULL, x, NID_ext_key_usage, "serverAuth,clientAuth");
	harness_ext(NULL, x, NID_subject_key_identifier, "hash");
	harness_ext(issuer != NULL ? issuer->cert : x, x,
	    NID_authority_key_identifier, "keyid:always");
	if (san != NULL)
		harness_ext(NULL, x, NID_subject_alt_name, san);
	ck_assert_int_ne(X509_sign(x, issuer != NULL ? issuer->key : key,
	    EVP_sha256()), 0);
	if (keyp != NULL)
		*keyp = key;
	else
		EVP_PKEY_free(key);
	return x;
}

/* harness_pem - PEM text of a certificate or a CRL */
void
harness_pem(struct buf *b, int crl, void *obj)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*p;
	long	 n;

	ck_assert_ptr_nonnull(bio);
	if (crl)
		ck_assert_int_eq(PEM_write_bio_X509_CRL(bio, obj), 1);
	else
		ck_assert_int_eq(PEM_write_bio_X509(bio, obj), 1);
	n = BIO_get_mem_data(bio, &p);
	ck_assert_int_eq(buf_add(b, p, (size_t)n), 0);
	BIO_free(bio);
}

/* harness_fed_text - bundle text; members is the member blocks as written */
struct buf *
harness_fed_text(const struct harness_ca *ca, unsigned serial,
    time_t expires, const char *members)
{
	struct buf	*b = buf_new(8192, FED_CONTENT_MAX + 1024);
	char		 ti[32], te[32];

	fed_time_format(time(NULL) - 60, ti, sizeof(ti));
	fed_time_format(expires, te, sizeof(te));
	buf_printf(b, "aval-federation-bundle 1\nfederation Test Fed\n"
	    "serial %u\nissued %s\nexpires %s\n%s", serial, ti, te, members);
	harness_pem(b, 0, ca->cert);
	harness_pem(b, 1, ca->crl);
	return b;
}

/* harness_fed_sign - text signed by (key, cert) as CMS SignedData, DER */
struct buf *
harness_fed_sign(const struct buf *text, EVP_PKEY *key, X509 *cert)
{
	BIO		*in, *out;
	CMS_ContentInfo	*cms;
	struct buf	*b = buf_new(8192, FED_BUNDLE_MAX);
	char		*p;
	long		 n;

	in = BIO_new_mem_buf(buf_data(text), (int)buf_len(text));
	out = BIO_new(BIO_s_mem());
	ck_assert(in != NULL && out != NULL);
	cms = CMS_sign(cert, key, NULL, in, CMS_BINARY);
	ck_assert_ptr_nonnull(cms);
	ck_assert_int_eq(i2d_CMS_bio(out, cms), 1);
	n = BIO_get_mem_data(out, &p);
	ck_assert_int_eq(buf_add(b, p, (size_t)n), 0);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return b;
}
