/*
 * tls_gen - development CA and server certificate, with OpenSSL's API
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/tls.h"
#include "common/tls_gen.h"
#include "common/xmalloc.h"

#define TLS_GEN_CA_DAYS		3650
#define TLS_GEN_LEAF_DAYS	825

/* tls_gen_ext - add one extension written in openssl.cnf syntax */
static int
tls_gen_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 rv;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rv = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rv;
}

/* tls_gen_cert - a certificate for key, signed by (ikey, issuer) or itself */
static X509 *
tls_gen_cert(EVP_PKEY *key, const char *cn, int days, X509 *issuer,
    EVP_PKEY *ikey, int ca, const char *san)
{
	X509		*x;
	BIGNUM		*bn = NULL;
	unsigned char	 serial[16];

	if ((x = X509_new()) == NULL)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;			/* positive */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	if (X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    X509_get_subject_name(x)) != 1)
		goto fail;
	if (tls_gen_ext(x, issuer ? issuer : x, NID_subject_key_identifier,
	    "hash") == -1)
		goto fail;
	if (ca) {
		if (tls_gen_ext(x, x, NID_basic_constraints,
		    "critical,CA:TRUE") == -1 ||
		    tls_gen_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign") == -1)
			goto fail;
	} else {
		if (tls_gen_ext(x, issuer, NID_authority_key_identifier,
		    "keyid") == -1 ||
		    tls_gen_ext(x, issuer, NID_basic_constraints,
		    "critical,CA:FALSE") == -1 ||
		    tls_gen_ext(x, issuer, NID_key_usage,
		    "critical,digitalSignature") == -1 ||
		    tls_gen_ext(x, issuer, NID_ext_key_usage,
		    "serverAuth,clientAuth") == -1 ||
		    tls_gen_ext(x, issuer, NID_subject_alt_name, san) == -1)
			goto fail;
	}
	if (X509_sign(x, ikey ? ikey : key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* tls_gen_write - write PEM to a new file; keys 0600, never overwritten */
static int
tls_gen_write(const char *path, X509 *x, EVP_PKEY *k, char *err,
    size_t errlen)
{
	FILE	*fp;
	int	 fd, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    k != NULL ? 0600 : 0644);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (k != NULL)
		ok = PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_X509(fp, x);
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
		ok = 0;
	if (fclose(fp) != 0)
		ok = 0;
	if (!ok) {
		snprintf(err, errlen, "cannot write %s", path);
		return -1;
	}
	return 0;
}

/* tls_gen_mkdirs - make dir and its missing parents; the last 0700 */
static int
tls_gen_mkdirs(const char *dir)
{
	char	 p[4096], *s;

	if (strlcpy(p, dir, sizeof(p)) >= sizeof(p))
		return -1;
	for (s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(p, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* tls_gen_dev - the development CA and server certificate; see tls_gen.h */
int
tls_gen_dev(const char *dir, const char *host, char *err, size_t errlen)
{
	EVP_PKEY	*cakey = NULL, *key = NULL;
	X509		*ca = NULL, *leaf = NULL;
	char		 p[4][4096], cn[300], san[600], e[256];
	int		 rv = -1;

	snprintf(p[0], sizeof(p[0]), "%s/ca.crt", dir);
	snprintf(p[1], sizeof(p[1]), "%s/ca.key", dir);
	snprintf(p[2], sizeof(p[2]), "%s/server.crt", dir);
	snprintf(p[3], sizeof(p[3]), "%s/server.key", dir);
	if (access(p[2], F_OK) == 0)
		return 0;
	if (tls_gen_mkdirs(dir) == -1) {
		snprintf(err, errlen, "cannot make %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	snprintf(cn, sizeof(cn), "aval development CA for %s", host);
	if (strcmp(host, "localhost") == 0)
		snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,"
		    "IP:::1");
	else
		snprintf(san, sizeof(san), "DNS:%s", host);
	if ((cakey = EVP_EC_gen("P-256")) == NULL ||
	    (key = EVP_EC_gen("P-256")) == NULL ||
	    (ca = tls_gen_cert(cakey, cn, TLS_GEN_CA_DAYS, NULL, NULL, 1,
	    NULL)) == NULL ||
	    (leaf = tls_gen_cert(key, host, TLS_GEN_LEAF_DAYS, ca, cakey, 0,
	    san)) == NULL) {
		snprintf(err, errlen, "making the development certificates: "
		    "%s", tls_error(e, sizeof(e)));
		goto fail;
	}
	/* The server certificate last: its presence means "all made". */
	unlink(p[0]);
	unlink(p[1]);
	unlink(p[3]);
	if (tls_gen_write(p[1], NULL, cakey, err, errlen) == -1 ||
	    tls_gen_write(p[0], ca, NULL, err, errlen) == -1 ||
	    tls_gen_write(p[3], NULL, key, err, errlen) == -1 ||
	    tls_gen_write(p[2], leaf, NULL, err, errlen) == -1)
		goto fail;
	rv = 1;
fail:
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rv;
}
