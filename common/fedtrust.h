/*
 * fedtrust - the federation as smtpd and deliver use it
 *
 * The master reads the federation CA (federation { ca }) and the bundle,
 * decides which bundle is current (signature, no rollback, the last good
 * one kept: master/master_fed.c is the one owner of that verdict) and
 * sends both to smtpd and deliver as bytes. Each builds a struct
 * fed_trust from them with fed_trust_new(), which checks the signature
 * again (a frame from another process is hostile) and makes the one
 * X509_STORE that member certificates are verified against: the
 * federation CA and the bundle's CRL, nothing else, CRLs checked.
 *
 * What it answers:
 *
 *	fed_trust_domain()	the active member a domain belongs to:
 *				mail to it gets the federation level
 *	fed_trust_has_mx()	is this MX host one that member registered
 *	fed_trust_addr()	the member whose networks hold an address
 *	fed_trust_peer()	does a certificate chain verify to the
 *				federation CA, unrevoked, and whose is it
 *	fed_trust_hold()	must member mail wait now (bundle expired,
 *				CRL past its next update)
 *
 * A bundle that has expired is still loaded (it says who the members
 * are); fed_trust_hold() then says why their mail waits, and
 * fed_trust_peer() finds no verified peer: an expired bundle or a stale
 * CRL never makes mail go out, or come in, less protected, and never
 * makes a member a stranger.
 *
 * Counted references: a reload builds a new one while sessions hold the
 * old (fed_trust_ref/unref).
 */
#ifndef AVAL_COMMON_FEDTRUST_H
#define AVAL_COMMON_FEDTRUST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/fedbundle.h"

struct sockaddr;

#define FED_REASON_LEN	20	/* "not-yet-valid" and room */
#define FED_WHY_LEN	200

struct fed_trust {
	int		 refs;
	struct fed_bundle b;		/* b.ca is the configured CA */
	X509_STORE	*store;		/* b.ca and b.crl, CRLs checked */
	int		 expired;	/* at fed_trust_new() */
	char		 id[17];	/* 16 hex digits of the bundle's digest */
};

/*
 * fed_trust_new - ca is the configured CA certificate (PEM), der the
 * bundle; verified at now, an expired bundle kept (fed_trust_hold()
 * says so). NULL with err when the bundle does not verify.
 */
struct fed_trust *fed_trust_new(const char *ca, size_t calen,
	    const unsigned char *der, size_t len, time_t now, char *err,
	    size_t errlen);
void	 fed_trust_ref(struct fed_trust *);
void	 fed_trust_unref(struct fed_trust *);	/* NULL is fine */

/* fed_trust_ca_load - the PEM text of one CA certificate; NULL if not */
X509	*fed_trust_ca_load(const char *pem, size_t len);

/*
 * fed_trust_hold - why member mail must wait at now: the bundle has
 * expired, or the CRL is past its next update (a reason class in
 * reason, "bundle-expired" or "crl-stale", and a sentence in why); 0 when
 * neither, 1 when one is so.
 */
int	 fed_trust_hold(const struct fed_trust *, time_t now,
	    char reason[FED_REASON_LEN], char *why, size_t whylen);

/* The active member that registered domain as a domain; NULL if none. */
const struct fed_member *fed_trust_domain(const struct fed_trust *,
	    const char *domain);
/* 1 if host (any case) is one of m's registered MX host names. */
int	 fed_trust_has_mx(const struct fed_member *, const char *host);
/* The member (active or not) whose networks hold sa; NULL if none. */
const struct fed_member *fed_trust_addr(const struct fed_trust *,
	    const struct sockaddr *sa);

/*
 * fed_trust_peer - the peer's leaf and the chain it sent (untrusted; may
 * be NULL), verified at now against the federation CA and CRL for the
 * purpose given (X509_PURPOSE_SSL_CLIENT inbound, _SSL_SERVER for a
 * server), then placed: every DNS name in the certificate's
 * subjectAltName must be an MX host registered to one member, and that
 * member active. On success 1 with member filled; else 0 with reason (a
 * class word: expired, revoked, untrusted-ca, not-registered, ...) and
 * why. member and reason are FED_ID_MAX + 1 and FED_REASON_LEN bytes.
 */
int	 fed_trust_peer(const struct fed_trust *, X509 *leaf,
	    STACK_OF(X509) *chain, int purpose, time_t now, char *member,
	    char *reason, char *why, size_t whylen);

/*
 * fed_reason_class - the class word of an X509_V_ERR_* code, as the
 * health table and the log use it: expired, not-yet-valid, revoked,
 * untrusted-ca, self-signed, name-mismatch, crl-stale, handshake
 */
const char *fed_reason_class(long verify_result);

/*
 * Receiving what the master sends (IPC_MASTER_FED_PART ... FED_END):
 * fed_recv_add() keeps each part, bounded (-1: unknown part or over its
 * cap, a broken master); fed_recv_end() builds the trust from them (NULL
 * in *out when serial is 0: no bundle yet) and our certificate when it
 * came (deliver), and clears r. -1 with err when the bundle does not
 * verify: the caller keeps what it had.
 */
struct buf;
struct tls_pem;
struct fed_recv {
	struct buf	*part[4];	/* by enum fed_part */
};

int	 fed_recv_add(struct fed_recv *, uint32_t part, const void *,
	    size_t);
int	 fed_recv_end(struct fed_recv *, uint64_t serial, time_t now,
	    struct fed_trust **out, struct tls_pem *cert, int *have_cert,
	    char *err, size_t errlen);
void	 fed_recv_clear(struct fed_recv *);

#endif
