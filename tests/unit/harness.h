/*
 * harness - what the unit tests share
 *
 * Every suite is declared here and added by check_main.c. harness_log_*
 * capture what the code under test logs (through log_capture_hook), so a
 * test can assert that a line was logged. harness_tmpdir() makes a fresh
 * directory under $TMPDIR for fixtures (a Berkeley DB environment, sockets)
 * and harness_rmtree() removes it.
 *
 * harness_ca_* and harness_cert_make() make a federation CA, its CRL and
 * certificates with OpenSSL's API; harness_fed_text() and
 * harness_fed_sign() write and sign a bundle as aval-ca publish does. They
 * fail the test (ck_assert) when OpenSSL refuses, so a caller need not
 * check.
 */
#ifndef AVAL_TESTS_HARNESS_H
#define AVAL_TESTS_HARNESS_H

#include <stddef.h>
#include <time.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct buf;

Suite	*buf_suite(void);
Suite	*ipc_suite(void);
Suite	*qid_suite(void);
Suite	*conf_suite(void);
Suite	*conf_local_suite(void);
Suite	*addr_suite(void);
Suite	*smtpd_cmd_suite(void);
Suite	*queue_rec_suite(void);
Suite	*queue_store_suite(void);
Suite	*queue_dsn_suite(void);
Suite	*deliver_suite(void);
Suite	*smtpd_limit_suite(void);
Suite	*tls_suite(void);
Suite	*passwd_suite(void);
Suite	*smtpd_auth_suite(void);
Suite	*xtext_suite(void);
Suite	*smtpd_data_suite(void);
Suite	*sched_suite(void);
Suite	*master_backoff_suite(void);
Suite	*window_suite(void);
Suite	*sendmail_msg_suite(void);
Suite	*dns_suite(void);
Suite	*deliver_tls_suite(void);
Suite	*route_suite(void);
Suite	*tlsstore_suite(void);
Suite	*fed_bundle_suite(void);
Suite	*json_suite(void);
Suite	*fedhealth_suite(void);
Suite	*fedfetch_suite(void);
Suite	*dnswl_suite(void);
Suite	*fedtrust_suite(void);

void	 harness_log_start(void);
int	 harness_log_has(const char *needle);	/* 1 if a captured line contains it */
void	 harness_log_stop(void);

char	*harness_tmpdir(void);			/* caller frees, and rmtree()s */
void	 harness_rmtree(const char *);
const char *harness_srcdir(void);		/* $AVAL_TEST_SRCDIR or "." */

/* A test CA: its key, its self-signed certificate, a CRL it signed. */
struct harness_ca {
	EVP_PKEY	*key;
	X509		*cert;
	X509_CRL	*crl;
};

/* harness_ca_make - a P-256 CA named cn, its CRL empty and due in 7 days */
void	 harness_ca_make(struct harness_ca *, const char *cn);
void	 harness_ca_free(struct harness_ca *);
/*
 * harness_ca_crl - replace ca's CRL with one issued a minute ago, due at
 * next, revoking the n serial numbers in revoked
 */
void	 harness_ca_crl(struct harness_ca *, time_t next,
	    const long *revoked, size_t n);
/* harness_ext - add an extension to x as the config text v says */
void	 harness_ext(X509 *issuer, X509 *x, int nid, const char *v);
/*
 * harness_cert_make - an end-entity certificate (P-256, CN "leaf",
 * serverAuth and clientAuth) valid from nb to na, with san (as
 * "DNS:a.example,IP:192.0.2.1"; NULL for none), issued by issuer, or
 * self-signed when issuer is NULL. The caller frees it; its key goes to
 * *key when key is not NULL (the caller's to free), else it is freed.
 */
X509	*harness_cert_make(const struct harness_ca *issuer, long serial,
	    time_t nb, time_t na, const char *san, EVP_PKEY **key);
/* harness_pem - the PEM text of a certificate (crl 0) or CRL onto b */
void	 harness_pem(struct buf *, int crl, void *obj);
/*
 * harness_fed_text - bundle text with ca's certificate and CRL; members
 * is the member blocks as written. Issued a minute ago.
 */
struct buf *harness_fed_text(const struct harness_ca *, unsigned serial,
	    time_t expires, const char *members);
/* harness_fed_sign - text signed by (key, cert) as CMS SignedData, DER */
struct buf *harness_fed_sign(const struct buf *text, EVP_PKEY *key,
	    X509 *cert);

#endif
