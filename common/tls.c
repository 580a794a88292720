/*
 * tls - OpenSSL 3 helpers: key material, server contexts, ticket keys
 *
 * See tls.h for the policy. Everything here is state passed in: a
 * tls_server is an object, its contexts carry a pointer back to it (ex
 * data), and nothing lives in globals but the ex-data index.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"

#define TLS_MAX_CTX		16

/* TLS 1.2: forward-secret AEAD only; TLS 1.3 keeps OpenSSL's suites. */
#define TLS_CIPHERS_12	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
			"ECDHE-RSA-AES128-GCM-SHA256:" \
			"ECDHE-ECDSA-AES256-GCM-SHA384:" \
			"ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:" \
			"ECDHE-RSA-CHACHA20-POLY1305:" \
			"DHE-RSA-AES128-GCM-SHA256:" \
			"DHE-RSA-AES256-GCM-SHA384"
/*
 * TLS 1.3: AES-128-GCM-SHA256 first (with the server's preference). Its
 * key schedule and transcript hash are SHA-256, which CPUs with SHA
 * extensions compute several times faster than the SHA-384 of the
 * AES-256 suite, and a handshake is mostly hashing once the key share
 * is done.
 */
#define TLS_SUITES_13	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384:ffdhe2048"
#define TLS_SID_CTX	"aval-smtpd"

struct tls_server_ctx {
	SSL_CTX		*ctx;
	char		*names;		/* "a.example,b.example", sorted, lowercase */
	char		**name;		/* each, for SNI */
	size_t		 nname;
};

struct tls_server {
	struct tls_server_ctx	 c[TLS_MAX_CTX];
	size_t			 n;
	int			 flags;
	struct tls_ticket_keys	 keys;
	int			 have_keys;
	EVP_CIPHER		*aes;		/* fetched once, not per ticket */
};

static int	tls_ex_server = -1;

/* tls_error - the last OpenSSL error as text, clearing the queue */
const char *
tls_error(char *buf, size_t len)
{
	unsigned long	 e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

/* tls_pem_clear - wipe the key, free both */
void
tls_pem_clear(struct tls_pem *p)
{
	if (p == NULL)
		return;
	if (p->key != NULL) {
		OPENSSL_cleanse(p->key, p->keylen);
		free(p->key);
	}
	free(p->cert);
	memset(p, 0, sizeof(*p));
}

/* tls_read_file - the whole of a small file; 0, or -1 with err */
static int
tls_read_file(const char *path, int secret, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct stat	 st;
	struct buf	*b;
	char		 chunk[4096];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (secret && (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "key file %s may be read by group or "
		    "others (mode %04o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	b = secret ? buf_new_secret(sizeof(chunk), TLS_PEM_MAX) :
	    buf_new(sizeof(chunk), TLS_PEM_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_add(b, chunk, (size_t)n) == -1) {
			snprintf(err, errlen, "%s is larger than %d bytes",
			    path, TLS_PEM_MAX);
			n = -2;
			break;
		}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fd);
	if (n == -1)
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
	if (n < 0) {
		buf_free(b);
		return -1;
	}
	*outlen = buf_len(b);
	*out = buf_release(b);
	return 0;
}

/* tls_file_text - a file's text by its path; see tls.h */
int
tls_file_text(const char *const *paths, char *const *texts,
    const size_t *lens, size_t n, const char *path, const char **text,
    size_t *len)
{
	size_t	 i;

	*text = NULL;
	*len = 0;
	if (path == NULL || strcmp(path, "system") == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(paths[i], path) == 0) {
			*text = texts[i];
			*len = lens[i];
			return 0;
		}
	return -1;
}

/* tls_file_load - read a PEM file that is not secret */
int
tls_file_load(const char *path, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	return tls_read_file(path, 0, out, outlen, err, errlen);
}

/* tls_chain_parse - every certificate in PEM text; NULL if none */
static STACK_OF(X509) *
tls_chain_parse(const char *pem, size_t len)
{
	STACK_OF(X509)	*sk;
	BIO		*bio;
	X509		*x;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	sk = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (sk == NULL || !sk_X509_push(sk, x)) {
			X509_free(x);
			break;
		}
	ERR_clear_error();	/* the read past the last one */
	BIO_free(bio);
	if (sk != NULL && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return sk;
}

static EVP_PKEY *
tls_key_parse(const char *pem, size_t len)
{
	EVP_PKEY	*k;
	BIO		*bio;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return k;
}

/*
 * tls_pem_load - read and check a chain and its key. The key must match
 * the first certificate; the key file must be private to its owner.
 */
int
tls_pem_load(struct tls_pem *p, const char *certfile, const char *keyfile,
    char *err, size_t errlen)
{
	STACK_OF(X509)	*sk = NULL;
	EVP_PKEY	*k = NULL;
	char		 e[256];
	int		 rv = -1;

	memset(p, 0, sizeof(*p));
	if (tls_read_file(keyfile, 1, &p->key, &p->keylen, err, errlen) == -1)
		goto fail;
	if (tls_read_file(certfile, 0, &p->cert, &p->certlen, err,
	    errlen) == -1)
		goto fail;
	if ((sk = tls_chain_parse(p->cert, p->certlen)) == NULL) {
		snprintf(err, errlen, "%s holds no PEM certificate", certfile);
		goto fail;
	}
	if ((k = tls_key_parse(p->key, p->keylen)) == NULL) {
		snprintf(err, errlen, "%s holds no PEM private key (%s)",
		    keyfile, tls_error(e, sizeof(e)));
		goto fail;
	}
	if (X509_check_private_key(sk_X509_value(sk, 0), k) != 1) {
		snprintf(err, errlen, "key %s does not match certificate %s",
		    keyfile, certfile);
		ERR_clear_error();
		goto fail;
	}
	rv = 0;
fail:
	EVP_PKEY_free(k);
	sk_X509_pop_free(sk, X509_free);
	if (rv == -1)
		tls_pem_clear(p);
	return rv;
}

/* tls_ticket_keys_make - a fresh random ticket key */
void
tls_ticket_keys_make(uint8_t key[TLS_TICKET_KEY_LEN])
{
	if (RAND_bytes(key, TLS_TICKET_KEY_LEN) != 1)
		fatalx("RAND_bytes for a ticket key");
}

/* tls_ticket_keys_rotate - the current becomes the previous; a new current */
void
tls_ticket_keys_rotate(struct tls_ticket_keys *k)
{
	memcpy(k->prev, k->cur, sizeof(k->prev));
	k->have_prev = 1;
	tls_ticket_keys_make(k->cur);
}

/* tls_name_match - exact, or "*.parent" covering exactly one label */
int
tls_name_match(const char *pattern, const char *host)
{
	const char	*dot;

	if (strcasecmp(pattern, host) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	if ((dot = strchr(host, '.')) == NULL || dot == host)
		return 0;
	return strcasecmp(pattern + 2, dot + 1) == 0;
}

static int
tls_names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* tls_cert_names - the DNS names of a certificate (SAN, else CN), sorted */
static void
tls_cert_names(X509 *x, struct tls_server_ctx *c)
{
	GENERAL_NAMES	*gens;
	X509_NAME	*subj;
	struct buf	*b;
	char		 cn[256];
	int		 i;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME	*g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *s;
		int		 len;

		if (g->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len > 253 || memchr(s, '\0', (size_t)len))
			continue;
		c->name = xreallocarray(c->name, c->nname + 1,
		    sizeof(*c->name));
		c->name[c->nname++] = xstrndup((const char *)s, (size_t)len);
	}
	GENERAL_NAMES_free(gens);
	if (c->nname == 0 && (subj = X509_get_subject_name(x)) != NULL &&
	    X509_NAME_get_text_by_NID(subj, NID_commonName, cn,
	    sizeof(cn)) > 0) {
		c->name = xcalloc(1, sizeof(*c->name));
		c->name[c->nname++] = xstrdup(cn);
	}
	for (i = 0; i < (int)c->nname; i++) {
		char	*p;

		for (p = c->name[i]; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	if (c->nname > 1)
		qsort(c->name, c->nname, sizeof(*c->name), tls_names_cmp);
	b = buf_new(64, 64 * 1024);
	for (i = 0; i < (int)c->nname; i++)
		if (buf_printf(b, "%s%s", i ? "," : "", c->name[i]) == -1)
			break;
	c->names = buf_release(b);
}

static void
tls_server_ctx_clear(struct tls_server_ctx *c)
{
	size_t	 i;

	SSL_CTX_free(c->ctx);
	for (i = 0; i < c->nname; i++)
		free(c->name[i]);
	free(c->name);
	free(c->names);
	memset(c, 0, sizeof(*c));
}

static int	tls_ex_first = -1;	/* SSL ex_data: the first verify error + 1 */

/*
 * tls_verify_accept - ask, never require: the verdict is read later. The
 * first error is kept: going on past it, OpenSSL's own result is the
 * last one, which for a chain from another CA under CRL checks is only
 * that no CRL of that CA is at hand (tls_verify_first).
 */
static int
tls_verify_accept(int ok, X509_STORE_CTX *x)
{
	SSL	*ssl;

	if (!ok && tls_ex_first != -1 && (ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx())) != NULL &&
	    SSL_get_ex_data(ssl, tls_ex_first) == NULL)
		(void)SSL_set_ex_data(ssl, tls_ex_first,
		    (void *)(intptr_t)(X509_STORE_CTX_get_error(x) + 1));
	return 1;
}

long
tls_verify_first(const SSL *ssl)
{
	intptr_t	 e;

	if (tls_ex_first != -1 &&
	    (e = (intptr_t)SSL_get_ex_data(ssl, tls_ex_first)) != 0)
		return (long)(e - 1);
	return SSL_get_verify_result(ssl);
}

/* tls_sni - pick the context whose certificate names the server name */
static int
tls_sni(SSL *ssl, int *alert, void *arg)
{
	struct tls_server	*ts = arg;
	const char		*host;
	size_t			 i, j;

	(void)alert;
	host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (host == NULL || ts == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < ts->n; i++)
		for (j = 0; j < ts->c[i].nname; j++)
			if (tls_name_match(ts->c[i].name[j], host)) {
				if (SSL_get_SSL_CTX(ssl) != ts->c[i].ctx)
					SSL_set_SSL_CTX(ssl, ts->c[i].ctx);
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_OK;
}

/*
 * tls_ticket_cb - encrypt with the current key; decrypt with the current
 * or the previous, and renew every ticket that decrypts (return 2), so a
 * client that keeps only its newest ticket always holds a good one.
 */
static int
tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server	*ts;
	OSSL_PARAM		 params[2];
	const uint8_t		*k;

	ts = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_ex_server);
	/* No keys (yet): no ticket, and none decrypts; never a failure. */
	if (ts == NULL || !ts->have_keys)
		return 0;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (enc) {
		k = ts->keys.cur;
		memcpy(name, k, TLS_TICKET_NAME_LEN);
		if (RAND_bytes(iv, 16) != 1)
			return -1;
	} else if (memcmp(name, ts->keys.cur, TLS_TICKET_NAME_LEN) == 0)
		k = ts->keys.cur;
	else if (ts->keys.have_prev &&
	    memcmp(name, ts->keys.prev, TLS_TICKET_NAME_LEN) == 0)
		k = ts->keys.prev;
	else
		return 0;			/* unknown key: full handshake */
	if (EVP_MAC_init(hctx, k + 16, 32, params) != 1)
		return -1;
	if (enc) {
		if (EVP_EncryptInit_ex(cctx, ts->aes, NULL, k + 48, iv) != 1)
			return -1;
		return 1;
	}
	if (EVP_DecryptInit_ex(cctx, ts->aes, NULL, k + 48, iv) != 1)
		return -1;
	return 2;
}

/* tls_server_ctx_new - a context with aval's protocol policy */
static SSL_CTX *
tls_server_ctx_new(struct tls_server *ts, X509_STORE *store,
    STACK_OF(X509_NAME) *canames)
{
	SSL_CTX		*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_SUITES_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		goto fail;
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SID_CTX,
	    sizeof(TLS_SID_CTX) - 1);
	if (ts->flags & TLS_SRV_TICKETS) {
		/*
		 * Stateless tickets only: a per-process cache cannot help a
		 * client that lands on another smtpd. One ticket per
		 * handshake is enough, as each resumption renews it.
		 */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 1);
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni);
	SSL_CTX_set_tlsext_servername_arg(ctx, ts);
	SSL_CTX_set_ex_data(ctx, tls_ex_server, ts);
	if (store != NULL) {
		X509_STORE_up_ref(store);
		SSL_CTX_set_cert_store(ctx, store);
	}
	if (canames != NULL)
		SSL_CTX_set_client_CA_list(ctx, SSL_dup_CA_list(canames));
	SSL_CTX_set_verify_depth(ctx, 8);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_server_new - one context per distinct name set; see tls.h */
struct tls_server *
tls_server_new(const struct tls_pem *pems, size_t n, const char *ca,
    size_t calen, int flags, char *err, size_t errlen)
{
	struct tls_server	*ts;
	struct tls_server_ctx	 tmp;
	STACK_OF(X509)		*sk = NULL, *cas = NULL;
	STACK_OF(X509_NAME)	*canames = NULL;
	X509_STORE		*store = NULL;
	EVP_PKEY		*k = NULL;
	char			 e[256];
	size_t			 i, j;
	int			 x;

	if (tls_ex_server == -1)
		tls_ex_server = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    NULL);
	ts = xcalloc(1, sizeof(*ts));
	ts->flags = flags;
	if ((ts->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		snprintf(err, errlen, "AES-256-CBC: %s", tls_error(e,
		    sizeof(e)));
		goto fail;
	}
	if (n == 0 || n > TLS_MAX_CTX) {
		snprintf(err, errlen, "between 1 and %d certificates, not %zu",
		    TLS_MAX_CTX, n);
		goto fail;
	}
	if (ca != NULL && calen > 0) {
		if ((cas = tls_chain_parse(ca, calen)) == NULL) {
			snprintf(err, errlen, "client-ca: no PEM certificate");
			goto fail;
		}
		store = X509_STORE_new();
		canames = sk_X509_NAME_new_null();
		for (x = 0; x < sk_X509_num(cas); x++) {
			X509	*c = sk_X509_value(cas, x);

			if (X509_STORE_add_cert(store, c) != 1) {
				snprintf(err, errlen, "client-ca: %s",
				    tls_error(e, sizeof(e)));
				goto fail;
			}
			sk_X509_NAME_push(canames,
			    X509_NAME_dup(X509_get_subject_name(c)));
		}
	}
	for (i = 0; i < n; i++) {
		if ((sk = tls_chain_parse(pems[i].cert, pems[i].certlen)) ==
		    NULL || (k = tls_key_parse(pems[i].key, pems[i].keylen)) ==
		    NULL) {
			snprintf(err, errlen, "certificate %zu: cannot parse "
			    "(%s)", i + 1, tls_error(e, sizeof(e)));
			goto fail;
		}
		memset(&tmp, 0, sizeof(tmp));
		tls_cert_names(sk_X509_value(sk, 0), &tmp);
		for (j = 0; j < ts->n; j++)
			if (strcmp(ts->c[j].names, tmp.names) == 0)
				break;
		if (j == ts->n) {
			tmp.ctx = tls_server_ctx_new(ts, store, canames);
			if (tmp.ctx == NULL) {
				tls_server_ctx_clear(&tmp);
				snprintf(err, errlen, "SSL_CTX: %s",
				    tls_error(e, sizeof(e)));
				goto fail;
			}
			ts->c[ts->n++] = tmp;
		} else
			tls_server_ctx_clear(&tmp);
		/* Leaf, key and chain; override 0: one per key type. */
		{
			X509		*leaf = sk_X509_shift(sk);

			x = SSL_CTX_use_cert_and_key(ts->c[j].ctx, leaf, k, sk,
			    0);
			X509_free(leaf);
		}
		if (x != 1) {
			snprintf(err, errlen, "certificate %zu: %s (two "
			    "certificates of one key type for the same "
			    "names?)", i + 1, tls_error(e, sizeof(e)));
			goto fail;
		}
		EVP_PKEY_free(k);
		k = NULL;
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	X509_STORE_free(store);
	sk_X509_pop_free(cas, X509_free);
	sk_X509_NAME_pop_free(canames, X509_NAME_free);
	return ts;
fail:
	EVP_PKEY_free(k);
	sk_X509_pop_free(sk, X509_free);
	X509_STORE_free(store);
	sk_X509_pop_free(cas, X509_free);
	sk_X509_NAME_pop_free(canames, X509_NAME_free);
	tls_server_free(ts);
	return NULL;
}

/* tls_server_free - NULL is fine; live SSLs keep their contexts */
void
tls_server_free(struct tls_server *ts)
{
	size_t	 i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->n; i++) {
		/* A live SSL may still reach this context's ex data. */
		SSL_CTX_set_ex_data(ts->c[i].ctx, tls_ex_server, NULL);
		SSL_CTX_set_tlsext_servername_arg(ts->c[i].ctx, NULL);
		tls_server_ctx_clear(&ts->c[i]);
	}
	OPENSSL_cleanse(&ts->keys, sizeof(ts->keys));
	EVP_CIPHER_free(ts->aes);
	free(ts);
}

/* tls_server_set_keys - install ticket keys (copied) */
void
tls_server_set_keys(struct tls_server *ts, const struct tls_ticket_keys *k)
{
	memcpy(&ts->keys, k, sizeof(ts->keys));
	ts->have_keys = 1;
}

int
tls_server_has_keys(const struct tls_server *ts)
{
	return ts != NULL && ts->have_keys;
}

/* tls_server_ssl - a server SSL on the first context */
SSL *
tls_server_ssl(struct tls_server *ts, int ask_cert)
{
	SSL	*ssl;

	if (ts == NULL || ts->n == 0 || (ssl = SSL_new(ts->c[0].ctx)) == NULL)
		return NULL;
	if (ask_cert)
		SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
		    tls_verify_accept);
	else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	return ssl;
}

/* tls_fingerprint - "sha256:HEX" of a certificate */
void
tls_fingerprint(const void *x509, char *out, size_t outlen)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	size_t		 off;

	if (outlen > 0)
		out[0] = '\0';
	if (x509 == NULL || outlen < TLS_FPR_LEN + 1 ||
	    X509_digest(x509, EVP_sha256(), md, &mdlen) != 1)
		return;
	off = (size_t)snprintf(out, outlen, "sha256:");
	for (i = 0; i < mdlen && off + 2 < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%02X",
		    md[i]);
}

/* tls_info_get - version, cipher, resumption and the peer's certificate */
void
tls_info_get(SSL *ssl, struct tls_info *ti)
{
	X509		*peer;
	BIO		*bio;
	long		 vr;
	int		 n;

	memset(ti, 0, sizeof(*ti));
	strlcpy(ti->version, SSL_get_version(ssl), sizeof(ti->version));
	strlcpy(ti->cipher, SSL_get_cipher_name(ssl), sizeof(ti->cipher));
	ti->bits = SSL_get_cipher_bits(ssl, NULL);
	ti->resumed = SSL_session_reused(ssl);
	if ((peer = SSL_get0_peer_certificate(ssl)) == NULL)
		return;
	ti->peer_cert = 1;
	tls_fingerprint(peer, ti->fpr, sizeof(ti->fpr));
	vr = SSL_get_verify_result(ssl);
	ti->verified = vr == X509_V_OK;
	if (!ti->verified)
		strlcpy(ti->verify_err, X509_verify_cert_error_string(vr),
		    sizeof(ti->verify_err));
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0,
		    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
		n = BIO_read(bio, ti->subject, sizeof(ti->subject) - 1);
		ti->subject[n > 0 ? n : 0] = '\0';
		BIO_free(bio);
	}
	log_printable(ti->subject, ti->subject, sizeof(ti->subject));
	log_printable(ti->verify_err, ti->verify_err, sizeof(ti->verify_err));
}

/* --- the client side (deliver) ---------------------------------------- */

/* tls_crl_add - every CRL in PEM text into store; the count, -1 on error */
static int
tls_crl_add(X509_STORE *store, const char *pem, size_t len)
{
	X509_CRL	*crl;
	BIO		*bio;
	int		 n = 0;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return -1;
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_crl(store, crl) != 1) {
			X509_CRL_free(crl);
			BIO_free(bio);
			return -1;
		}
		X509_CRL_free(crl);
		n++;
	}
	ERR_clear_error();	/* the read past the last one */
	BIO_free(bio);
	return n;
}

/*
 * tls_client_ctx_new - a client context. The protocol policy is the
 * server's (TLS 1.2 and 1.3, forward-secret AEAD suites, security level
 * 2): a peer that offers less gets no TLS from aval, and under "may" the
 * message goes in plaintext, as it would to a server without STARTTLS.
 * The verify callback accepts every chain; the caller reads the verdict
 * with SSL_get_verify_result() once the handshake is done, so a failure
 * is reported with its reason instead of as a handshake alert.
 */
SSL_CTX *
tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen)
{
	STACK_OF(X509)	*sk = NULL;
	X509_STORE	*store;
	EVP_PKEY	*k = NULL;
	SSL_CTX		*ctx;
	X509		*leaf;
	char		 e[256];
	int		 i, rv;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX: %s", tls_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_SUITES_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		snprintf(err, errlen, "ciphers: %s", tls_error(e, sizeof(e)));
		goto fail;
	}
	if (tls_ex_first == -1)
		tls_ex_first = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_accept);
	SSL_CTX_set_verify_depth(ctx, 8);
	store = SSL_CTX_get_cert_store(ctx);
	if (o->system_ca && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "system CA store: %s", tls_error(e,
		    sizeof(e)));
		goto fail;
	}
	if (o->ca != NULL) {
		if ((sk = tls_chain_parse(o->ca, o->calen)) == NULL) {
			snprintf(err, errlen, "ca: no PEM certificate");
			goto fail;
		}
		for (i = 0; i < sk_X509_num(sk); i++)
			if (X509_STORE_add_cert(store, sk_X509_value(sk, i)) !=
			    1) {
				snprintf(err, errlen, "ca: %s", tls_error(e,
				    sizeof(e)));
				goto fail;
			}
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	if (o->crl != NULL) {
		if ((rv = tls_crl_add(store, o->crl, o->crllen)) <= 0) {
			snprintf(err, errlen, "crl: %s", rv == 0 ?
			    "no PEM CRL" : tls_error(e, sizeof(e)));
			goto fail;
		}
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
		    X509_V_FLAG_CRL_CHECK_ALL);
	}
	if (o->cert != NULL) {
		if ((sk = tls_chain_parse(o->cert->cert, o->cert->certlen)) ==
		    NULL || (k = tls_key_parse(o->cert->key,
		    o->cert->keylen)) == NULL) {
			snprintf(err, errlen, "client certificate: cannot "
			    "parse (%s)", tls_error(e, sizeof(e)));
			goto fail;
		}
		leaf = sk_X509_shift(sk);
		rv = SSL_CTX_use_cert_and_key(ctx, leaf, k, sk, 1);
		X509_free(leaf);
		if (rv != 1) {
			snprintf(err, errlen, "client certificate: %s",
			    tls_error(e, sizeof(e)));
			goto fail;
		}
		EVP_PKEY_free(k);
		sk_X509_pop_free(sk, X509_free);
	}
	return ctx;
fail:
	EVP_PKEY_free(k);
	sk_X509_pop_free(sk, X509_free);
	SSL_CTX_free(ctx);
	return NULL;
}
