/*
 * deliver_tls - the TLS policy engine: which level, with which context
 *
 * Trust: the config and the files come from the master, which checked
 * them and built every context once; a context that fails here anyway is
 * reported to the caller, which keeps the engine it had.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common/conf.h"
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
};

int
deliver_tls_required(enum conf_tls_level level)
{
	return level == CONF_TLS_ENCRYPT || level == CONF_TLS_VERIFY ||
	    level == CONF_TLS_SECURE;
}

int
deliver_tls_verifies(enum conf_tls_level level)
{
	return level == CONF_TLS_VERIFY || level == CONF_TLS_SECURE;
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
	size_t	 i;

	*text = NULL;
	*len = 0;
	if (path == NULL || strcmp(path, "system") == 0)
		return;
	for (i = 0; i < npaths; i++)
		if (strcmp(paths[i], path) == 0) {
			*text = files[i];
			*len = lens[i];
			return;
		}
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

struct deliver_tls *
deliver_tls_new(const struct conf *c, const struct tls_pem *client,
    char *const *files, const size_t *filelens, size_t nfiles, char *err,
    size_t errlen)
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
	size_t	 i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->e[i].domain);
		SSL_CTX_free(t->e[i].p.ctx);
	}
	free(t->e);
	SSL_CTX_free(t->plain);
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

void
deliver_tls_policy(const struct deliver_tls *t, const char *domain,
    struct deliver_policy *out)
{
	const struct deliver_tls_entry	*e;

	if ((e = conf_domain_lookup(t, domain, deliver_tls_find)) != NULL) {
		*out = e->p;
		return;
	}
	/* Federation membership and DANE come here, before the default. */
	memset(out, 0, sizeof(*out));
	out->level = CONF_TLS_MAY;
	out->source = "default";
	out->ctx = t->plain;
	snprintf(out->id, sizeof(out->id), "may/%s", t->client);
}
