/*
 * fedtrust - the federation as smtpd and deliver use it
 *
 * See fedtrust.h. Trust: the CA and the bundle come from the master, which
 * checked them; the bundle's signature is checked again here all the
 * same, and everything a peer sends (its certificate chain) is hostile.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/fedtrust.h"
#include "common/ipc_types.h"
#include "common/tls.h"
#include "common/xmalloc.h"

X509 *
fed_trust_ca_load(const char *pem, size_t len)
{
	BIO	*bio;
	X509	*x;

	if (pem == NULL || len == 0 || len > FED_PEM_MAX ||
	    (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	/* NULL says it all; leave no "no start line" in the queue. */
	ERR_clear_error();
	return x;
}

struct fed_trust *
fed_trust_new(const char *ca, size_t calen, const unsigned char *der,
    size_t len, time_t now, char *err, size_t errlen)
{
	struct fed_trust	*t;
	enum fed_verdict	 v;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;
	X509			*x;

	if ((x = fed_trust_ca_load(ca, calen)) == NULL) {
		snprintf(err, errlen, "the federation CA is not a PEM "
		    "certificate");
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->refs = 1;
	v = fed_bundle_verify_ex(der, len, x, now, 0, FED_VF_KEEP_EXPIRED,
	    &t->b, err, errlen);
	X509_free(x);
	if (v != FED_V_OK && v != FED_V_EXPIRED) {
		free(t);
		return NULL;
	}
	t->expired = v == FED_V_EXPIRED;
	/*
	 * The anchor and its CRL only: no system store, no intermediate
	 * from anywhere but the peer's own chain, and the leaf checked
	 * against the CRL.
	 */
	if ((t->store = X509_STORE_new()) == NULL ||
	    X509_STORE_add_cert(t->store, t->b.ca) != 1 ||
	    (t->b.crl != NULL && X509_STORE_add_crl(t->store, t->b.crl) != 1))
		goto fail;
	X509_STORE_set_flags(t->store, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_X509_STRICT);
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		goto fail;
	for (i = 0; i < 8 && i < mdlen; i++)
		snprintf(t->id + 2 * i, 3, "%02x", md[i]);
	return t;
 fail:
	snprintf(err, errlen, "out of memory building the federation store");
	X509_STORE_free(t->store);
	fed_bundle_clear(&t->b);
	free(t);
	return NULL;
}

void
fed_trust_ref(struct fed_trust *t)
{
	t->refs++;
}

void
fed_trust_unref(struct fed_trust *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	X509_STORE_free(t->store);
	fed_bundle_clear(&t->b);
	free(t);
}

int
fed_trust_hold(const struct fed_trust *t, time_t now,
    char reason[FED_REASON_LEN], char *why, size_t whylen)
{
	const ASN1_TIME	*next;
	char		 ts[32];

	if (t->b.crl != NULL &&
	    (next = X509_CRL_get0_nextUpdate(t->b.crl)) != NULL &&
	    X509_cmp_time(next, &now) <= 0) {
		strlcpy(reason, "crl-stale", FED_REASON_LEN);
		snprintf(why, whylen, "the federation CRL is stale: it was "
		    "due for renewal before now, and revocations since "
		    "cannot be known");
		return 1;
	}
	if (now >= t->b.expires) {
		fed_time_format(t->b.expires, ts, sizeof(ts));
		strlcpy(reason, "bundle-expired", FED_REASON_LEN);
		snprintf(why, whylen, "the federation bundle (serial %llu) "
		    "expired at %s and no newer one has verified",
		    (unsigned long long)t->b.serial, ts);
		return 1;
	}
	return 0;
}

const struct fed_member *
fed_trust_domain(const struct fed_trust *t, const char *domain)
{
	const struct fed_member	*m;
	size_t			 i, j;

	for (i = 0; i < t->b.reg.n; i++) {
		m = &t->b.reg.members[i];
		for (j = 0; j < m->ndomains; j++)
			if (strcasecmp(m->domains[j], domain) == 0)
				return m->status == FED_S_ACTIVE ? m : NULL;
	}
	return NULL;
}

int
fed_trust_has_mx(const struct fed_member *m, const char *host)
{
	size_t	 j;

	for (j = 0; j < m->nmx; j++)
		if (strcasecmp(m->mx[j], host) == 0)
			return 1;
	return 0;
}

const struct fed_member *
fed_trust_addr(const struct fed_trust *t, const struct sockaddr *sa)
{
	const struct sockaddr_in6	*s6;
	const struct fed_member		*m;
	const unsigned char		*a;
	int				 af;
	size_t				 i, j;

	if (sa->sa_family == AF_INET) {
		af = AF_INET;
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		a = s6->sin6_addr.s6_addr;
		af = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			af = AF_INET;
			a += 12;
		}
	} else
		return NULL;
	for (i = 0; i < t->b.reg.n; i++) {
		m = &t->b.reg.members[i];
		for (j = 0; j < m->nnets; j++)
			if (fed_net_contains(&m->nets[j], af, a))
				return m;
	}
	return NULL;
}

const char *
fed_reason_class(long vr)
{
	switch (vr) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "not-yet-valid";
	case X509_V_ERR_CERT_REVOKED:
		return "revoked";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "self-signed";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "untrusted-ca";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "name-mismatch";
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return "crl-stale";
	default:
		return "other";
	}
}

/*
 * fed_trust_names_member - the member every subjectAltName DNS name of x
 * is an MX host of; NULL with why (and not-registered) otherwise
 */
static const struct fed_member *
fed_trust_names_member(const struct fed_trust *t, X509 *x, char *why,
    size_t whylen)
{
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*g;
	const struct fed_member	*m, *owner = NULL;
	char			 name[FED_NAME_MAX + 1];
	const unsigned char	*p;
	int			 i, n, len, k, is_mx;

	if ((gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL)) == NULL) {
		snprintf(why, whylen, "the certificate names no host "
		    "(no subjectAltName)");
		return NULL;
	}
	n = sk_GENERAL_NAME_num(gens);
	for (i = 0; i < n; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		p = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len > FED_NAME_MAX)
			goto bad;
		for (k = 0; k < len; k++) {
			if (p[k] <= ' ' || p[k] > '~')
				goto bad;
			name[k] = (char)tolower(p[k]);
		}
		name[len] = '\0';
		/* LDH only from here: the name goes into log lines. */
		if (!fed_name_valid(name)) {
			snprintf(why, whylen, "the certificate names a host "
			    "that is not a plain host name (a wildcard?), and "
			    "no member registers such names");
			goto fail;
		}
		if ((m = fed_registry_owner(&t->b.reg, name, &is_mx)) == NULL ||
		    !fed_trust_has_mx(m, name)) {
			snprintf(why, whylen, "the certificate names %s, which "
			    "no member registered as an MX host", name);
			goto fail;
		}
		if (owner != NULL && owner != m) {
			snprintf(why, whylen, "the certificate names hosts of "
			    "two members, %s and %s", owner->id, m->id);
			goto fail;
		}
		owner = m;
	}
	if (owner == NULL)
		snprintf(why, whylen, "the certificate names no host (no DNS "
		    "name in its subjectAltName)");
	GENERAL_NAMES_free(gens);
	return owner;
 bad:
	snprintf(why, whylen, "the certificate carries a malformed DNS name");
 fail:
	GENERAL_NAMES_free(gens);
	return NULL;
}

int
fed_trust_peer(const struct fed_trust *t, X509 *leaf, STACK_OF(X509) *chain,
    int purpose, time_t now, char *member, char *reason, char *why,
    size_t whylen)
{
	const struct fed_member	*m;
	X509_STORE_CTX		*ctx;
	int			 ok;
	long			 vr;

	member[0] = '\0';
	if (leaf == NULL) {
		strlcpy(reason, "no-certificate", FED_REASON_LEN);
		snprintf(why, whylen, "no client certificate");
		return 0;
	}
	if (fed_trust_hold(t, now, reason, why, whylen))
		return 0;
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, t->store, leaf, chain) != 1) {
		X509_STORE_CTX_free(ctx);
		strlcpy(reason, "other", FED_REASON_LEN);
		snprintf(why, whylen, "out of memory verifying");
		return 0;
	}
	X509_STORE_CTX_set_purpose(ctx, purpose);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
	ok = X509_verify_cert(ctx);
	vr = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	/*
	 * The verdict is vr. What X509_verify_cert() queued besides (a
	 * signature that fails queues an EVP error) must not outlive it:
	 * the caller's next SSL_get_error() reads the queue first and would
	 * take a WANT_READ for a failure of that session.
	 */
	ERR_clear_error();
	if (ok != 1) {
		strlcpy(reason, fed_reason_class(vr), FED_REASON_LEN);
		snprintf(why, whylen, "the certificate did not verify against "
		    "the federation CA: %s", X509_verify_cert_error_string(vr));
		return 0;
	}
	if ((m = fed_trust_names_member(t, leaf, why, whylen)) == NULL) {
		strlcpy(reason, "not-registered", FED_REASON_LEN);
		return 0;
	}
	if (m->status != FED_S_ACTIVE) {
		strlcpy(reason, "suspended", FED_REASON_LEN);
		snprintf(why, whylen, "member %s is suspended", m->id);
		return 0;
	}
	strlcpy(member, m->id, FED_ID_MAX + 1);
	reason[0] = '\0';
	return 1;
}

/* --- from the master ------------------------------------------------------ */

int
fed_recv_add(struct fed_recv *r, uint32_t part, const void *p, size_t n)
{
	struct buf	**b;
	size_t		 cap;

	if (part > FED_PART_MAX)
		return -1;
	cap = part == FED_PART_BUNDLE ? FED_BUNDLE_MAX : TLS_PEM_MAX;
	b = &r->part[part];
	if (*b == NULL)
		*b = part == FED_PART_KEY ? buf_new_secret(4096, cap) :
		    buf_new(4096, cap);
	return buf_add(*b, p, n);
}

void
fed_recv_clear(struct fed_recv *r)
{
	size_t	 i;

	for (i = 0; i < sizeof(r->part) / sizeof(r->part[0]); i++) {
		buf_free(r->part[i]);
		r->part[i] = NULL;
	}
}

int
fed_recv_end(struct fed_recv *r, uint64_t serial, time_t now,
    struct fed_trust **out, struct tls_pem *cert, int *have_cert, char *err,
    size_t errlen)
{
	struct buf	*ca = r->part[FED_PART_CA], *bu = r->part[FED_PART_BUNDLE];
	struct buf	*c = r->part[FED_PART_CERT], *k = r->part[FED_PART_KEY];
	int		 rv = -1;

	*out = NULL;
	*have_cert = 0;
	if ((c == NULL) != (k == NULL)) {
		snprintf(err, errlen, "a federation certificate without its "
		    "key, or the reverse");
		goto done;
	}
	if (serial != 0) {
		if (ca == NULL || bu == NULL) {
			snprintf(err, errlen, "serial %llu, but no CA or no "
			    "bundle came", (unsigned long long)serial);
			goto done;
		}
		if ((*out = fed_trust_new(buf_data(ca), buf_len(ca),
		    (const unsigned char *)buf_data(bu), buf_len(bu), now,
		    err, errlen)) == NULL)
			goto done;
		if ((*out)->b.serial != serial) {
			snprintf(err, errlen, "the master said serial %llu, "
			    "the bundle says %llu", (unsigned long long)serial,
			    (unsigned long long)(*out)->b.serial);
			fed_trust_unref(*out);
			*out = NULL;
			goto done;
		}
	}
	if (c != NULL) {
		cert->certlen = buf_len(c);
		cert->keylen = buf_len(k);
		cert->cert = buf_release(c);
		cert->key = buf_release(k);
		r->part[FED_PART_CERT] = r->part[FED_PART_KEY] = NULL;
		*have_cert = 1;
	}
	rv = 0;
 done:
	fed_recv_clear(r);
	return rv;
}
