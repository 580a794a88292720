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
 *	1. the tls-policy table's entry for the domain itself;
 *	2. federation membership: a domain the bundle gives to an active
 *	   member gets the federation level (common/fedtrust.h): the
 *	   federation CA and CRL only, the MX host's name, an MX host the
 *	   member registered (deliver_tls_fed_mx, asked by the hop), our
 *	   federation certificate presented; while the bundle has expired,
 *	   its CRL is stale or no bundle came yet, hold says why and no
 *	   connection is made;
 *	   then the table's .parent entries and *;
 *	3. DANE: validated TLSA records of the MX host, applied by the
 *	   caller with deliver_tls_dane_apply() (below), host by host;
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
#include <stdint.h>

#include "common/conf.h"
#include "common/fedtrust.h"
#include "deliver/deliver_dns.h"

struct ssl_ctx_st;
struct tls_pem;
struct deliver_tls;
struct deliver_dane;

#define DELIVER_POLICY_ID_SIZE	48	/* "verify/0123456789abcdef" and room */
#define DELIVER_MATCH_SIZE	1100	/* names to check, one space apart */

struct deliver_policy {
	enum conf_tls_level	 level;
	const char		*source;	/* "tls-policy", "federation",
						   "default" */
	struct ssl_ctx_st	*ctx;		/* NULL for none; the engine's */
	char			 id[DELIVER_POLICY_ID_SIZE];
	/* secure, verify: the names to check, "" for the next hop itself */
	char			 match[DELIVER_MATCH_SIZE];
	/*
	 * dane: the host's usable TLSA records, or NULL. A counted
	 * reference that belongs to this copy of the policy: whoever
	 * copies the struct takes one (deliver_dane_ref) and drops it
	 * when done (deliver_dane_unref); deliver_job_free() drops the
	 * job's.
	 */
	struct deliver_dane	*dane;
	/* federation: the member, and why its mail must wait now ("": go) */
	char			 member[FED_ID_MAX + 1];
	char			 hold[FED_WHY_LEN];
	char			 hold_reason[FED_REASON_LEN];
};

/* The federation as deliver got it from the master (deliver.c). */
struct deliver_tls_fed {
	int			 on;		/* federation { ca } is set */
	struct fed_trust	*trust;		/* NULL: no bundle yet */
	const struct tls_pem	*cert;		/* ours */
};

/*
 * files[i] is the text of the i-th path of conf_tls_files(c); client is
 * our certificate and key, or NULL. NULL with err when a context cannot
 * be built (the master built each once, so that is a bug or a lack of
 * memory).
 */
struct deliver_tls *deliver_tls_new(const struct conf *c,
		    const struct tls_pem *client, char *const *files,
		    const size_t *filelens, size_t nfiles,
		    const struct deliver_tls_fed *fed, char *err,
		    size_t errlen);

/*
 * deliver_tls_fed_mx - 1 if host is an MX host that member registered
 * (the hop asks before it connects: a spoofed MX gets no connection)
 */
int		 deliver_tls_fed_mx(const struct deliver_tls *,
		    const char *member, const char *host);
void		 deliver_tls_ref(struct deliver_tls *);
void		 deliver_tls_unref(struct deliver_tls *);	/* NULL: fine */

/*
 * The policy for mail to domain; never fails. out is overwritten: drop
 * a TLSA set it holds first (deliver_tls_dane_clear).
 */
void		 deliver_tls_policy(const struct deliver_tls *,
		    const char *domain, struct deliver_policy *out);

/*
 * 1 if level requires TLS (no plaintext fallback); 1 if it verifies the
 * peer's certificate. For the level alone: dane is neither, as it is
 * without records. With records it is both: ask about the policy.
 */
int		 deliver_tls_required(enum conf_tls_level);
int		 deliver_tls_verifies(enum conf_tls_level);
int		 deliver_policy_required(const struct deliver_policy *);
int		 deliver_policy_verifies(const struct deliver_policy *);

/*
 * DANE for SMTP (RFC 7672), the TLSA part. The deliverer, for each MX
 * host it is about to try, in this order:
 *
 *	deliver_tls_dane_clear(&job->policy);	(the previous host's set)
 *	deliver_tls_policy(t, job->domain, &job->policy);
 *	if deliver_tls_dane_wanted(&job->policy)
 *	    and deliver_dns_validates(dns) == 1	(DANE is off otherwise)
 *	    and host->secure			(MX and A/AAAA validated):
 *		deliver_dns_tlsa(dns, base, 25, tlsa_done, job)
 *	tlsa_done(tlsa):
 *		v = deliver_tls_dane_apply(&job->policy, tlsa, base,
 *		    host->name, job->domain);
 *
 * where base, the TLSA base domain (RFC 7672 2.2.2), is host->cname
 * when the host name is an alias (CNAME expanded, secure), else
 * host->name. (2.2.2 also says: when the expanded name has no TLSA
 * records, look up the original name's, and use that as base.)
 *
 * What the answer does (v, and the policy afterwards):
 *
 *	TLSA answer		v		policy
 *	OK, secure, records,	DANE_ON		dane, with the usable records
 *	  >= 1 usable
 *	OK, secure, records,	DANE_ENCRYPT	encrypt (2.2: TLS mandatory,
 *	  none usable				not authenticated)
 *	OK, insecure		DANE_OFF	as it was
 *	NONE (NXDOMAIN, NODATA)	DANE_OFF	as it was
 *	TEMP (SERVFAIL, bogus,	DANE_DEFER	as it was; do not connect
 *	  timeout)				to this host
 *
 * "As it was" is the table's dane (without records it acts as may) or
 * the default may. DANE_DEFER (2.2: the records may exist, so this host
 * gets neither plaintext nor unauthenticated TLS): skip the host and try
 * the next; when no host is left, defer the recipients with dsn 4.7.5
 * and "TLSA lookup for <tlsa->qname>: <tlsa->reason>".
 *
 * With DANE_ON, the session (deliver_session.c) hands the records to
 * OpenSSL (SSL_dane_enable, SSL_dane_tlsa_add), sends base as SNI and,
 * for DANE-TA, checks the certificate names base, host or nexthop (RFC
 * 7672 3.2.2; wildcards only as the whole first label); DANE-EE checks
 * no name and no dates (3.2.1). A mismatch defers 4.7.5, "DANE: no TLSA
 * record matched". host and nexthop may be NULL (not checked). The
 * policy's id digests the records and the names, so neither a
 * connection nor a TLS session made under one TLSA set serves another.
 *
 * Usable (RFC 7672 3.1, RFC 6698 2.1): usage 2 (DANE-TA) or 3 (DANE-EE)
 * (0 and 1, PKIX-TA and PKIX-EE, are unusable for SMTP, 3.1.3), selector
 * 0 (certificate) or 1 (SubjectPublicKeyInfo), matching type 0 (the
 * whole object, which must then parse as one), 1 (SHA2-256, 32 octets)
 * or 2 (SHA2-512, 64 octets). Anything else is unusable and ignored.
 *
 * p must be a deliver_tls_policy() answer without a TLSA set
 * (p->dane == NULL: a bug otherwise), and tlsa the answer for base.
 */
#define DELIVER_DANE_NAMES	3	/* base, host, next hop */

struct deliver_dane_rec {
	uint8_t			 usage, selector, mtype;
	size_t			 len;
	unsigned char		*data;
};

struct deliver_dane {
	int			 refs;
	/* base first (SNI); then host and next hop unless "" or dup */
	char		 names[DELIVER_DANE_NAMES][DELIVER_DNS_NAMELEN];
	size_t			 nnames;
	size_t			 nrecs;		/* usable, at least 1 */
	struct deliver_dane_rec	 recs[DELIVER_DNS_MAX_TLSA];
	size_t			 nunusable;	/* records left out */
};

enum deliver_dane_verdict {
	DELIVER_DANE_OFF = 0,	/* no DANE: the policy as it was */
	DELIVER_DANE_ON,	/* level dane, records to match */
	DELIVER_DANE_ENCRYPT,	/* TLSA published, none usable: encrypt */
	DELIVER_DANE_DEFER,	/* lookup failed: not this host */
};

/* 1 if TLSA records would decide for p (default may, or table dane). */
int		 deliver_tls_dane_wanted(const struct deliver_policy *);
/* 1 if the record is usable for SMTP (above), else 0. */
int		 deliver_tls_dane_usable(
		    const struct deliver_dns_tlsa_rec *);
enum deliver_dane_verdict
		 deliver_tls_dane_apply(struct deliver_policy *,
		    const struct deliver_dns_tlsa *, const char *base,
		    const char *host, const char *nexthop);
/* Drops p's TLSA set, if any; the level stays: re-ask the engine. */
void		 deliver_tls_dane_clear(struct deliver_policy *);
const char	*deliver_tls_dane_verdict_name(enum deliver_dane_verdict);

/* One more holder of the set, and one fewer; NULL is fine for both. */
void		 deliver_dane_ref(struct deliver_dane *);
void		 deliver_dane_unref(struct deliver_dane *);

#endif
