/*
 * fedbundle - the federation bundle: its registry, its text, its signature
 *
 * The federation operator (aval-ca publish) signs one file that every
 * member loads: the federation CA certificate, its CRL, and the registry of
 * members (id, status, domains, MX host names, IP networks), with a serial
 * that only grows and an expiry. The format is docs/federation-bundle.md.
 *
 * fed_bundle_verify() is what an MTA calls. It trusts nothing in the file
 * until the CMS signature checks out against exactly the CA certificate it
 * is given (no system store, no certificate carried in the file), and even
 * then parses the content as hostile: every size and count is bounded and
 * every field is validated, because a signing key can leak and a bundle
 * that crashes every member is an attack on all of them.
 *
 * The same strict reader parses the operator's registry file, and the name
 * and network checks here are the ones aval-ca applies on registration, so
 * nothing the tool accepts can be refused by a member, and the reverse.
 *
 * Ownership: a struct fed_registry or fed_bundle filled by a function here
 * owns everything it points to; fed_registry_clear() / fed_bundle_clear()
 * free it (and are fine on a zeroed struct).
 */
#ifndef AVAL_COMMON_FEDBUNDLE_H
#define AVAL_COMMON_FEDBUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

struct buf;

#define FED_ID_MAX		32	/* member id: [a-z0-9][a-z0-9-]* */
#define FED_NAME_MAX		253	/* a domain or host name */
#define FED_TEXT_MAX		200	/* organisation, contact, federation name */
#define FED_LINE_MAX		1024
#define FED_MEMBERS_MAX		10000
#define FED_DOMAINS_MAX		256	/* per member */
#define FED_MX_MAX		64	/* per member */
#define FED_NETS_MAX		256	/* per member */
#define FED_PEM_MAX		(4 * 1024 * 1024)	/* one PEM block (a CRL) */
#define FED_CONTENT_MAX		(16 * 1024 * 1024)	/* the signed text */
#define FED_BUNDLE_MAX		(FED_CONTENT_MAX + 64 * 1024)	/* the CMS */
#define FED_NET4_MIN_PREFIX	8	/* shorter would list a sizeable internet */
#define FED_NET6_MIN_PREFIX	16

enum fed_status {
	FED_S_ACTIVE,
	FED_S_SUSPENDED
};

struct fed_net {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network order; host bits zero */
	int		 prefix;
};

struct fed_member {
	char		 id[FED_ID_MAX + 1];
	enum fed_status	 status;
	char		*org;
	char		*contact;
	char		**domains;
	size_t		 ndomains;
	char		**mx;
	size_t		 nmx;
	struct fed_net	*nets;
	size_t		 nnets;
};

struct fed_registry {
	struct fed_member *members;	/* sorted by id, ids unique */
	size_t		 n;
};

struct fed_bundle {
	char		*federation;	/* the CA's name */
	uint64_t	 serial;
	time_t		 issued;
	time_t		 expires;
	struct fed_registry reg;
	X509		*ca;
	X509_CRL	*crl;		/* verified against ca */
};

enum fed_verdict {
	FED_V_OK,
	FED_V_BADSIG,		/* not a CMS signed by exactly that CA */
	FED_V_ROLLBACK,		/* serial below min_serial */
	FED_V_EXPIRED,		/* expires at or before now */
	FED_V_MALFORMED		/* signed, but the content is not a bundle */
};

/* Field checks, shared by aval-ca and the reader: 1 valid, 0 not. */
int	 fed_id_valid(const char *);
int	 fed_name_valid(const char *);	/* lowercase LDH, two labels or more */
int	 fed_text_valid(const char *);	/* printable ASCII, 1..FED_TEXT_MAX */

/*
 * fed_net_parse - "192.0.2.0/24" or "2001:db8::/32" into net; -1 when it
 * is not canonical (host bits set, prefix missing or out of range, shorter
 * than FED_NET*_MIN_PREFIX). fed_net_format writes it back canonically.
 */
int	 fed_net_parse(const char *, struct fed_net *);
int	 fed_net_format(const struct fed_net *, char *, size_t);
int	 fed_net_overlap(const struct fed_net *, const struct fed_net *);
int	 fed_net_contains(const struct fed_net *, int family,
	    const unsigned char *addr);

/* fed_time_parse - strict RFC 3339 UTC "2024-05-01T12:00:00Z"; -1 if not */
int	 fed_time_parse(const char *, time_t *);
void	 fed_time_format(time_t, char *, size_t);	/* 21 bytes is enough */

/*
 * fed_registry_check - 0 when no name or network is registered twice
 * (within a member or across two); otherwise -1 with err naming the name
 * or network and the members that hold it.
 */
int	 fed_registry_check(const struct fed_registry *, char *err, size_t);
struct fed_member *fed_registry_find(const struct fed_registry *,
	    const char *id);
/* fed_registry_owner - the member that registered name (as domain or mx) */
const struct fed_member *fed_registry_owner(const struct fed_registry *,
	    const char *name, int *is_mx);
void	 fed_member_clear(struct fed_member *);
void	 fed_registry_clear(struct fed_registry *);

/* The registry file of aval-ca: "aval-federation-registry 1", members. */
int	 fed_registry_parse(const char *, size_t, struct fed_registry *,
	    char *err, size_t);
/* fed_registry_write - the member blocks, as both files hold them */
void	 fed_registry_write(struct buf *, const struct fed_registry *);

/*
 * fed_bundle_parse - the signed content, already verified, into b. It does
 * not check expiry or serial (fed_bundle_verify does); it does check that
 * the CRL is signed by the CA in the content. 0, or -1 with err.
 */
int	 fed_bundle_parse(const char *, size_t, struct fed_bundle *,
	    char *err, size_t);

/*
 * fed_bundle_verify - a bundle file (CMS SignedData, DER) checked against
 * the federation CA certificate ca at time now, refusing a serial below
 * min_serial; on FED_V_OK, out is filled (and owned by the caller), on
 * anything else out is left zeroed and err says why in plain words.
 */
enum fed_verdict fed_bundle_verify(const unsigned char *der, size_t len,
	    X509 *ca, time_t now, uint64_t min_serial, struct fed_bundle *out,
	    char *err, size_t errlen);
/*
 * fed_bundle_verify_ex - the same, and with FED_VF_KEEP_EXPIRED an
 * expired bundle is still FED_V_EXPIRED but out stays filled (the
 * caller's to clear): a worker that holds an expired bundle still knows
 * who the members are, and makes their mail wait (common/fedtrust.h).
 */
#define FED_VF_KEEP_EXPIRED	0x01
enum fed_verdict fed_bundle_verify_ex(const unsigned char *der, size_t len,
	    X509 *ca, time_t now, uint64_t min_serial, int flags,
	    struct fed_bundle *out, char *err, size_t errlen);
void	 fed_bundle_clear(struct fed_bundle *);
const char *fed_verdict_str(enum fed_verdict);

#endif
