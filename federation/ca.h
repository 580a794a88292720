/*
 * ca - what the files of aval-ca share: the run, the state folder, output
 *
 * One run of aval-ca is one struct ca_run: the state folder, whether the
 * output is JSON, the lock once taken. The state folder holds
 *
 *	lock		flock()ed by every command for its whole run
 *	state		name, CRL days, CRL number, bundle serial and expiry
 *	ca.key		the federation key (PEM, mode 0600)
 *	ca.crt		the federation CA certificate (PEM)
 *	registry	the members (common/fedbundle.h's registry format)
 *	index		one line per issued certificate
 *	certs/SERIAL.pem every certificate issued
 *	crl.pem		the last CRL made
 *
 * and every file in it is replaced whole: written to a temporary name,
 * fsync()ed, renamed over the old one, the folder fsync()ed, so a crash
 * leaves the old file or the new one, never half of either.
 */
#ifndef AVAL_FEDERATION_CA_H
#define AVAL_FEDERATION_CA_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/fedbundle.h"

struct buf;

#define CA_DEFAULT_DIR		"/var/lib/aval-ca"
#define CA_DEFAULT_CA_DAYS	3650
#define CA_DEFAULT_CRL_DAYS	7
#define CA_DEFAULT_CERT_DAYS	90
#define CA_DEFAULT_BUNDLE_DAYS	7
#define CA_MAX_DAYS		36500
#define CA_FILE_MAX		(64 * 1024 * 1024)

/* A small JSON writer: output only, strings escaped, nesting tracked. */
#define CA_JSON_DEPTH	16
struct ca_json {
	FILE	*f;
	int	 depth;
	int	 first[CA_JSON_DEPTH];
	char	 close[CA_JSON_DEPTH];	/* '}' or ']' */
};

struct ca_run {
	const char	*dir;
	int		 json;
	int		 lockfd;
	struct ca_json	 js;
};

struct ca_state {
	char		*name;
	int		 crl_days;
	uint64_t	 crl_number;	/* of the last CRL made; 0 none yet */
	uint64_t	 bundle_serial;	/* of the last bundle published */
	time_t		 bundle_expires;	/* 0 none yet */
};

enum ca_cert_status {
	CA_C_VALID,
	CA_C_REVOKED
};

struct ca_cert_rec {
	char		 serial[64];	/* uppercase hex, as BN_bn2hex */
	char		 member[FED_ID_MAX + 1];
	enum ca_cert_status status;
	time_t		 not_after;
	time_t		 revoked_at;
	int		 reason;	/* CRL_REASON_*, -1 none */
	char		*names;		/* comma-separated */
};

struct ca_index {
	struct ca_cert_rec *v;
	size_t		 n;
};

/* aval-ca.c */
int	 ca_error(struct ca_run *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));	/* returns -1 */
int	 ca_days(struct ca_run *, const char *opt, const char *, int *);
int	 ca_is_help(int, char **);

/* ca_json.c */
void	 ca_json_init(struct ca_json *, FILE *);
void	 ca_json_obj(struct ca_json *, const char *key);
void	 ca_json_arr(struct ca_json *, const char *key);
void	 ca_json_end(struct ca_json *);		/* object or array */
void	 ca_json_str(struct ca_json *, const char *key, const char *);
void	 ca_json_int(struct ca_json *, const char *key, long long);
void	 ca_json_bool(struct ca_json *, const char *key, int);
void	 ca_json_time(struct ca_json *, const char *key, time_t);  /* 0: null */

/* ca_state.c */
int	 ca_lock(struct ca_run *, int create);
int	 ca_write_file(struct ca_run *, const char *dir, const char *name,
	    const void *, size_t, int mode);
struct buf *ca_read_file(const char *path, size_t cap);
int	 ca_state_load(struct ca_run *, struct ca_state *);
int	 ca_state_save(struct ca_run *, const struct ca_state *);
void	 ca_state_clear(struct ca_state *);
int	 ca_registry_load(struct ca_run *, struct fed_registry *);
int	 ca_registry_save(struct ca_run *, const struct fed_registry *);
int	 ca_index_load(struct ca_run *, struct ca_index *);
int	 ca_index_save(struct ca_run *, const struct ca_index *);
void	 ca_index_clear(struct ca_index *);
int	 ca_key_load(struct ca_run *, EVP_PKEY **, X509 **);
X509_CRL *ca_crl_load(struct ca_run *);		/* NULL when none yet */
int	 ca_pem_x509(struct buf *, X509 *);
int	 ca_pem_crl(struct buf *, X509_CRL *);
int	 ca_pem_key(struct buf *, EVP_PKEY *);
const char *ca_reason_str(int);
int	 ca_reason_parse(const char *);
time_t	 ca_asn1_time(const ASN1_TIME *);

/* The commands, each taking argv from its own name on. */
int	 ca_cmd_init(struct ca_run *, int, char **);
int	 ca_cmd_member(struct ca_run *, int, char **);
int	 ca_cmd_list(struct ca_run *, int, char **);
int	 ca_cmd_request(struct ca_run *, int, char **);
int	 ca_cmd_sign(struct ca_run *, int, char **);
int	 ca_cmd_revoke(struct ca_run *, int, char **);
int	 ca_cmd_crl(struct ca_run *, int, char **);
int	 ca_cmd_publish(struct ca_run *, int, char **);
int	 ca_cmd_status(struct ca_run *, int, char **);

/* ca_cert.c, for publish */
X509_CRL *ca_crl_make(struct ca_run *, struct ca_state *, EVP_PKEY *,
	    X509 *, const struct ca_index *, int days);

#endif
