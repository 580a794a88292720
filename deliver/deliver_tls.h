/*
 * deliver_tls - the TLS policy engine of the SMTP client
 *
 * deliver_tls_new() builds, from a config and the material the master
 * sent (our client certificate, the text of the CA and CRL files the
 * tls-policy table names), one OpenSSL client context per policy that
 * verifies and one shared by the levels that do not. deliver_tls_policy()
 * then says, for a next-hop domain, which level applies and with what:
 * the first source that speaks for the domain decides,
 *
 *	1. the tls-policy table (its own entry, .parent entries, then *);
 *	2. federation membership (the next issue adds it here);
 *	3. DANE, once the resolver has validated TLSA records;
 *	4. the default, may.
 *
 * The answer is a struct deliver_policy, which the session copies and
 * enforces (deliver_session.c). Its id names the level, the entry's
 * content (CAs, CRL, names) and our client identity, so a connection or a
 * TLS session made under one policy is never reused under another: the
 * connection and session caches key on it.
 *
 * An engine is reference counted: a reload builds a new one while
 * sessions still hold the old (deliver_tls_ref/unref). It reads no file:
 * deliver is chrooted to an empty directory.
 */
#ifndef AVAL_DELIVER_DELIVER_TLS_H
#define AVAL_DELIVER_DELIVER_TLS_H

#include <stddef.h>

#include "common/conf.h"

struct ssl_ctx_st;
struct tls_pem;
struct deliver_tls;

#define DELIVER_POLICY_ID_SIZE	48	/* "verify/0123456789abcdef" and room */
#define DELIVER_MATCH_SIZE	1100	/* names to check, one space apart */

struct deliver_policy {
	enum conf_tls_level	 level;
	const char		*source;	/* "tls-policy", "default" */
	struct ssl_ctx_st	*ctx;		/* NULL for none; the engine's */
	char			 id[DELIVER_POLICY_ID_SIZE];
	/* secure, verify: the names to check, "" for the next hop itself */
	char			 match[DELIVER_MATCH_SIZE];
};

/*
 * files[i] is the text of the i-th path of conf_tls_files(c); client is
 * our certificate and key, or NULL. NULL with err when a context cannot
 * be built (the master built each once, so that is a bug or a lack of
 * memory).
 */
struct deliver_tls *deliver_tls_new(const struct conf *c,
		    const struct tls_pem *client, char *const *files,
		    const size_t *filelens, size_t nfiles, char *err,
		    size_t errlen);
void		 deliver_tls_ref(struct deliver_tls *);
void		 deliver_tls_unref(struct deliver_tls *);	/* NULL: fine */

/* The policy for mail to domain; never fails. */
void		 deliver_tls_policy(const struct deliver_tls *,
		    const char *domain, struct deliver_policy *out);

/* 1 if level requires TLS (no plaintext fallback). */
int		 deliver_tls_required(enum conf_tls_level);
/* 1 if level verifies the peer's certificate. */
int		 deliver_tls_verifies(enum conf_tls_level);

#endif
