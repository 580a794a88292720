/*
 * deliver_tls - the TLS policy engine: which level, with which context
 *
 * Trust: the config and the files come from the master, which checked
 * them and built every context once; a context that fails here anyway is
 * reported to the caller, which keeps the engine it had.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/dnsname.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "deliver/deliver_tls.h"

struct deliver_tls_entry {
	char			*domain;	/* as in the table */
	struct deliver_policy	 p;
};

struct deliver_tls {
	int			 refs;
	SSL_CTX			*plain;		/* may, encrypt: no verification */
	struct deliver_tls_entry *e;
	size_t			 n;
	char			 client[17];	/* our identity, for the ids */
	int			 fed_on;
	struct fed_trust	*fed;		/* our reference, or NULL */
	SSL_CTX			*fedctx;	/* its store; our certificate */
	char			 fed_id[17];	/* bundle and our certificate */
	/* local-domains and relay-domains, copied: we are their MX */
	struct conf_domain	*ours;
};

int
deliver_tls_required(enum conf_tls_level level)
{
	return level == CONF_TLS_ENCRYPT || deliver_tls_verifies(level);
}

int
deliver_tls_verifies(enum conf_tls_level level)
{
	return level == CONF_TLS_VERIFY || level == CONF_TLS_SECURE ||
	    level == CONF_TLS_FEDERATION;
}

/* deliver_policy_required - the level, or dane with TLSA records */
int
deliver_policy_required(const struct deliver_policy *p)
{
	return deliver_tls_required(p->level) ||
	    (p->level == CONF_TLS_DANE && p->dane != NULL);
}

/* deliver_policy_verifies - the level, or dane with TLSA records */
int
deliver_policy_verifies(const struct deliver_policy *p)
{
	return deliver_tls_verifies(p->level) ||
	    (p->level == CONF_TLS_DANE && p->dane != NULL);
}

/* deliver_tls_digest - 16 hex digits of SHA-256 over the parts */
static void
deliver_tls_digest(char out[17], const void *const *parts,
    const size_t *lens, size_t n)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	EVP_MD_CTX	*ctx;
	size_t		 k;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatalx("%s: EVP", __func__);
	for (k = 0; k < n; k++) {
		/* The length first: ("ab", "c") and ("a", "bc") differ. */
		if (EVP_DigestUpdate(ctx, &lens[k], sizeof(lens[k])) != 1 ||
		    EVP_DigestUpdate(ctx, parts[k], lens[k]) != 1)
			fatalx("%s: EVP", __func__);
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		fatalx("%s: EVP", __func__);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 8 && i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* deliver_tls_file - the text of path, as the master sent it */
static void
deliver_tls_file(const char **paths, size_t npaths, char *const *files,
    const size_t *lens, const char *path, const char **text, size_t *len)
{
	if (tls_file_text(paths, files, lens, npaths, path, text, len) == -1)
		fatalx("%s: no text for %s", __func__, path);
}

/*
 * deliver_tls_entry_build - the context and id of one table entry: the
 * id digests the level, the names, the files' text and our identity
 */
static int
deliver_tls_entry_build(struct deliver_tls *t, struct deliver_tls_entry *e,
    const struct conf_tls_policy *cp, const struct tls_pem *client,
    const char **paths, size_t npaths, char *const *files,
    const size_t *lens, char *err, size_t errlen)
{
	struct tls_client_opts	 o;
	const void		*parts[6];
	size_t			 plens[6];
	char			 d[17];
	const char		*lv = conf_tls_level_name(cp->level);

	e->domain = xstrdup(cp->domain);
	e->p.level = cp->level;
	e->p.source = "tls-policy";
	if (cp->match != NULL)
		strlcpy(e->p.match, cp->match, sizeof(e->p.match));
	if (!deliver_tls_verifies(cp->level)) {
		if (cp->level != CONF_TLS_NONE) {
			e->p.ctx = t->plain;
			SSL_CTX_up_ref(t->plain);
		}
		snprintf(e->p.id, sizeof(e->p.id), "%s/%s", lv, t->client);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.system_ca = cp->ca != NULL && strcmp(cp->ca, "system") == 0;
	deliver_tls_file(paths, npaths, files, lens, cp->ca, &o.ca, &o.calen);
	deliver_tls_file(paths, npaths, files, lens, cp->crl, &o.crl,
	    &o.crllen);
	o.cert = client;
	if ((e->p.ctx = tls_client_ctx_new(&o, err, errlen)) == NULL)
		return -1;
	parts[0] = lv;
	plens[0] = strlen(lv);
	parts[1] = e->p.match;
	plens[1] = strlen(e->p.match);
	parts[2] = o.ca != NULL ? o.ca : "";
	plens[2] = o.calen;
	parts[3] = o.crl != NULL ? o.crl : "";
	plens[3] = o.crllen;
	parts[4] = o.system_ca ? "system" : "";
	plens[4] = strlen(parts[4]);
	parts[5] = t->client;
	plens[5] = strlen(t->client);
	deliver_tls_digest(d, parts, plens, 6);
	snprintf(e->p.id, sizeof(e->p.id), "%s/%s", lv, d);
	return 0;
}

/*
 * deliver_tls_fed_build - the federation's context: the bundle's store
 * (the federation CA and its CRL, nothing else; CRLs checked), our
 * federation certificate; its id digests the bundle and that certificate
 */
static void
deliver_tls_ours(struct deliver_tls *t, const char *name)
{
	struct conf_domain	*d = xcalloc(1, sizeof(*d));

	d->name = xstrdup(name);
	d->next = t->ours;
	t->ours = d;
}

static int
deliver_tls_fed_build(struct deliver_tls *t, const struct conf *c,
    const struct deliver_tls_fed *f, char *err, size_t errlen)
{
	const struct conf_domain *d;
	struct tls_client_opts	 o;
	const void		*parts[2];
	size_t			 lens[2];

	t->fed_on = 1;
	if (f->trust == NULL)
		return 0;
	for (d = c->local_domains; d != NULL; d = d->next)
		deliver_tls_ours(t, d->name);
	for (d = c->relay_domains; d != NULL; d = d->next)
		deliver_tls_ours(t, d->name);
	memset(&o, 0, sizeof(o));
	o.cert = f->cert;
	if ((t->fedctx = tls_client_ctx_new(&o, err, errlen)) == NULL)
		return -1;
	if (X509_STORE_up_ref(f->trust->store) != 1)
		fatalx("%s: X509_STORE_up_ref", __func__);
	SSL_CTX_set_cert_store(t->fedctx, f->trust->store);
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(t->fedctx),
	    X509_V_FLAG_CRL_CHECK);
	SSL_CTX_set_purpose(t->fedctx, X509_PURPOSE_SSL_SERVER);
	fed_trust_ref(f->trust);
	t->fed = f->trust;
	parts[0] = t->fed->id;
	lens[0] = strlen(t->fed->id);
	parts[1] = f->cert != NULL ? f->cert->cert : "";
	lens[1] = f->cert != NULL ? f->cert->certlen : 0;
	deliver_tls_digest(t->fed_id, parts, lens, 2);
	return 0;
}

struct deliver_tls *
deliver_tls_new(const struct conf *c, const struct tls_pem *client,
    char *const *files, const size_t *filelens, size_t nfiles,
    const struct deliver_tls_fed *fed, char *err, size_t errlen)
{
	const struct conf_tls_policy	*cp;
	const char			*paths[CONF_TLS_FILES_MAX];
	struct tls_client_opts		 o;
	struct deliver_tls		*t;
	const void			*part;
	size_t				 npaths, n = 0, len;

	npaths = conf_tls_files(c, paths, CONF_TLS_FILES_MAX);
	if (npaths != nfiles) {
		snprintf(err, errlen, "%zu policy files, but the config names "
		    "%zu", nfiles, npaths);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->refs = 1;
	strlcpy(t->client, "-", sizeof(t->client));
	if (client != NULL) {
		part = client->cert;
		len = client->certlen;
		deliver_tls_digest(t->client, &part, &len, 1);
	}
	memset(&o, 0, sizeof(o));
	o.cert = client;
	if ((t->plain = tls_client_ctx_new(&o, err, errlen)) == NULL) {
		free(t);
		return NULL;
	}
	for (cp = c->tls_policies; cp != NULL; cp = cp->next)
		n++;
	if (fed != NULL && fed->on && deliver_tls_fed_build(t, c, fed, err,
	    errlen) == -1) {
		deliver_tls_unref(t);
		return NULL;
	}
	t->e = xcalloc(n > 0 ? n : 1, sizeof(*t->e));
	for (cp = c->tls_policies; cp != NULL; cp = cp->next) {
		if (deliver_tls_entry_build(t, &t->e[t->n++], cp, client,
		    paths, npaths, files, filelens, err, errlen) == -1) {
			deliver_tls_unref(t);
			return NULL;
		}
	}
	return t;
}

void
deliver_tls_ref(struct deliver_tls *t)
{
	t->refs++;
}

void
deliver_tls_unref(struct deliver_tls *t)
{
	struct conf_domain	*d;
	size_t			 i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->e[i].domain);
		SSL_CTX_free(t->e[i].p.ctx);
	}
	free(t->e);
	SSL_CTX_free(t->plain);
	SSL_CTX_free(t->fedctx);
	fed_trust_unref(t->fed);
	while ((d = t->ours) != NULL) {
		t->ours = d->next;
		free(d->name);
		free(d);
	}
	free(t);
}

/* deliver_tls_find - the entry for exactly name (conf_domain_lookup) */
static const void *
deliver_tls_find(const void *arg, const char *name)
{
	const struct deliver_tls	*t = arg;
	size_t				 i;

	for (i = 0; i < t->n; i++)
		if (strcasecmp(t->e[i].domain, name) == 0)
			return &t->e[i];
	return NULL;
}

/*
 * deliver_tls_fed_policy - 1 with out filled when the federation speaks
 * for domain: an active member's, or any while no bundle has come (who
 * is a member cannot be known then, and a member's mail must not go out
 * less protected: everything waits for the bundle)
 */
static int
deliver_tls_fed_policy(const struct deliver_tls *t, const char *domain,
    struct deliver_policy *out)
{
	const struct fed_member	*m = NULL;

	/*
	 * A domain we are the MX of (local-domains, relay-domains) goes on
	 * to our own hosts, by our own routes: that is no member's MX.
	 */
	if (t->fed != NULL && ((m = fed_trust_domain(t->fed, domain)) == NULL ||
	    conf_domain_match(t->ours, domain)))
		return 0;
	memset(out, 0, sizeof(*out));
	out->level = CONF_TLS_FEDERATION;
	out->source = "federation";
	if (t->fed == NULL) {
		strlcpy(out->hold_reason, "bundle-expired",
		    sizeof(out->hold_reason));
		snprintf(out->hold, sizeof(out->hold), "no federation bundle "
		    "has been loaded yet, so the federation's members are not "
		    "known");
		snprintf(out->id, sizeof(out->id), "federation/-");
		return 1;
	}
	strlcpy(out->member, m->id, sizeof(out->member));
	(void)fed_trust_hold(t->fed, time(NULL), out->hold_reason, out->hold,
	    sizeof(out->hold));
	out->ctx = t->fedctx;
	snprintf(out->id, sizeof(out->id), "federation/%s", t->fed_id);
	return 1;
}

int
deliver_tls_fed_mx(const struct deliver_tls *t, const char *member,
    const char *host)
{
	const struct fed_member	*m;

	if (t->fed == NULL || host[0] == '\0' ||
	    (m = fed_registry_find(&t->fed->b.reg, member)) == NULL)
		return 0;
	return fed_trust_has_mx(m, host);
}

void
deliver_tls_policy(const struct deliver_tls *t, const char *domain,
    struct deliver_policy *out)
{
	const struct deliver_tls_entry	*e;

	/*
	 * Only a line for the domain itself outranks the federation: a
	 * ".parent" or "*" line is a default for strangers, and must never
	 * let a member's mail go out less protected.
	 */
	if ((e = deliver_tls_find(t, domain)) != NULL) {
		*out = e->p;
		return;
	}
	if (t->fed_on && deliver_tls_fed_policy(t, domain, out))
		return;
	if ((e = conf_domain_lookup(t, domain, deliver_tls_find)) != NULL) {
		*out = e->p;
		return;
	}
	/* DANE comes here (the caller asks), before the default. */
	memset(out, 0, sizeof(*out));
	out->level = CONF_TLS_MAY;
	out->source = "default";
	out->ctx = t->plain;
	snprintf(out->id, sizeof(out->id), "may/%s", t->client);
}

/* --- DANE (RFC 7672) ------------------------------------------------------ */

/* deliver_tls_dane_wanted - would TLSA records decide for p */
int
deliver_tls_dane_wanted(const struct deliver_policy *p)
{
	/*
	 * The table speaks first: an entry with another level is the
	 * operator's word for the domain and DANE does not override it (a
	 * "*" entry included). Only the default and a dane entry listen.
	 */
	if (p->dane != NULL)
		return 0;
	return p->level == CONF_TLS_DANE || (p->level == CONF_TLS_MAY &&
	    p->source != NULL && strcmp(p->source, "default") == 0);
}

/*
 * deliver_tls_dane_usable - RFC 7672 3.1 and RFC 6698 2.1: DANE-TA or
 * DANE-EE, a known selector, a known matching type with its length
 */
int
deliver_tls_dane_usable(const struct deliver_dns_tlsa_rec *r)
{
	const unsigned char	*p = r->data;
	X509			*x;
	EVP_PKEY		*k;
	int			 ok;

	if (r->usage != 2 && r->usage != 3)
		return 0;		/* PKIX-TA, PKIX-EE (3.1.3), unknown */
	if (r->selector > 1 || r->data == NULL || r->len == 0)
		return 0;
	switch (r->mtype) {
	case 1:
		return r->len == 32;
	case 2:
		return r->len == 64;
	case 0:
		/*
		 * The whole object: it must parse, to the last octet, or
		 * OpenSSL would refuse it at SSL_dane_tlsa_add() and the
		 * record would count as usable here and not there.
		 */
		if (r->len > LONG_MAX)
			return 0;
		if (r->selector == 0) {
			x = d2i_X509(NULL, &p, (long)r->len);
			ok = x != NULL && p == r->data + r->len;
			X509_free(x);
		} else {
			k = d2i_PUBKEY(NULL, &p, (long)r->len);
			ok = k != NULL && p == r->data + r->len;
			EVP_PKEY_free(k);
		}
		ERR_clear_error();
		return ok;
	default:
		return 0;
	}
}

const char *
deliver_tls_dane_verdict_name(enum deliver_dane_verdict v)
{
	switch (v) {
	case DELIVER_DANE_OFF:		return "off";
	case DELIVER_DANE_ON:		return "on";
	case DELIVER_DANE_ENCRYPT:	return "encrypt";
	case DELIVER_DANE_DEFER:	return "defer";
	}
	return "?";
}

/* deliver_tls_dane_name - add a reference name unless empty or known */
static void
deliver_tls_dane_name(struct deliver_dane *d, const char *name)
{
	char	 n[DELIVER_DNS_NAMELEN];
	size_t	 i;

	if (name == NULL || dnsname_text(name, n, sizeof(n)) == -1 ||
	    n[0] == '\0')
		return;
	for (i = 0; i < d->nnames; i++)
		if (strcmp(d->names[i], n) == 0)
			return;
	if (d->nnames < DELIVER_DANE_NAMES)
		strlcpy(d->names[d->nnames++], n, sizeof(d->names[0]));
}

/* deliver_tls_id_client - our identity, as the engine put it in the id */
static void
deliver_tls_id_client(const struct deliver_policy *p, char out[17])
{
	const char	*c = strchr(p->id, '/');

	strlcpy(out, c != NULL ? c + 1 : "-", 17);
}

/*
 * deliver_tls_dane_id - "dane/DIGEST": the digest covers what the engine
 * put in the id before (our client identity), the names and every
 * record, so two TLSA sets never share a connection or a session
 */
static void
deliver_tls_dane_id(struct deliver_policy *p, const struct deliver_dane *d)
{
#define DELIVER_TLS_DANE_PARTS	\
	(2 + DELIVER_DANE_NAMES + 2 * DELIVER_DNS_MAX_TLSA)
	const void	*parts[DELIVER_TLS_DANE_PARTS];
	size_t		 lens[DELIVER_TLS_DANE_PARTS];
	unsigned char	 hdr[DELIVER_DNS_MAX_TLSA][3];
	char		 client[17], dg[17];
	size_t		 i, n = 0;

	deliver_tls_id_client(p, client);
	parts[n] = "dane";
	lens[n++] = 4;
	parts[n] = client;
	lens[n++] = strlen(client);
	for (i = 0; i < d->nnames; i++) {
		parts[n] = d->names[i];
		lens[n++] = strlen(d->names[i]);
	}
	for (i = 0; i < d->nrecs; i++) {
		hdr[i][0] = d->recs[i].usage;
		hdr[i][1] = d->recs[i].selector;
		hdr[i][2] = d->recs[i].mtype;
		parts[n] = hdr[i];
		lens[n++] = 3;
		parts[n] = d->recs[i].data;
		lens[n++] = d->recs[i].len;
	}
	deliver_tls_digest(dg, parts, lens, n);
	snprintf(p->id, sizeof(p->id), "dane/%s", dg);
}

/* deliver_tls_dane_apply - what a TLSA answer does to p (see the header) */
enum deliver_dane_verdict
deliver_tls_dane_apply(struct deliver_policy *p,
    const struct deliver_dns_tlsa *tlsa, const char *base, const char *host,
    const char *nexthop)
{
	const struct deliver_dns_tlsa_rec	*r;
	struct deliver_dane			*d;
	char					 client[17];
	size_t					 i, n;

	if (p->dane != NULL)
		fatalx("%s: the policy has a TLSA set already", __func__);
	if (!deliver_tls_dane_wanted(p))
		return DELIVER_DANE_OFF;
	switch (tlsa->status) {
	case DELIVER_DNS_OK:
		break;
	case DELIVER_DNS_TEMP:
		return DELIVER_DANE_DEFER;
	default:
		return DELIVER_DANE_OFF;
	}
	/* Records from an unsigned zone are no records (RFC 7672 2.2). */
	if (!tlsa->secure)
		return DELIVER_DANE_OFF;
	n = tlsa->nrecs < DELIVER_DNS_MAX_TLSA ? tlsa->nrecs :
	    DELIVER_DNS_MAX_TLSA;
	for (i = 0; i < n; i++)
		if (deliver_tls_dane_usable(&tlsa->recs[i]))
			break;
	p->source = "dane";
	if (i == n) {
		/*
		 * Published, validated and all unusable: the server meant
		 * to have DANE, so TLS is a must, but nothing can
		 * authenticate it (RFC 7672 2.2).
		 */
		deliver_tls_id_client(p, client);
		p->level = CONF_TLS_ENCRYPT;
		snprintf(p->id, sizeof(p->id), "encrypt/%s", client);
		return DELIVER_DANE_ENCRYPT;
	}
	d = xcalloc(1, sizeof(*d));
	d->refs = 1;
	deliver_tls_dane_name(d, base);
	deliver_tls_dane_name(d, host);
	deliver_tls_dane_name(d, nexthop);
	if (d->nnames == 0)
		fatalx("%s: no TLSA base domain", __func__);
	for (i = 0; i < n; i++) {
		r = &tlsa->recs[i];
		if (!deliver_tls_dane_usable(r)) {
			d->nunusable++;
			continue;
		}
		d->recs[d->nrecs].usage = r->usage;
		d->recs[d->nrecs].selector = r->selector;
		d->recs[d->nrecs].mtype = r->mtype;
		d->recs[d->nrecs].len = r->len;
		d->recs[d->nrecs].data = xmalloc(r->len);
		memcpy(d->recs[d->nrecs].data, r->data, r->len);
		d->nrecs++;
	}
	p->level = CONF_TLS_DANE;
	p->dane = d;
	p->match[0] = '\0';
	deliver_tls_dane_id(p, d);
	return DELIVER_DANE_ON;
}
