/*
 * tls - OpenSSL 3 helpers shared by the master, smtpd and deliver
 *
 * Key material never touches a worker's file system: the master reads the
 * certificate and key files (tls_pem_load(), which refuses a key that
 * group or others may read), checks that each key matches its
 * certificate, and sends the PEM text to smtpd over IPC. smtpd builds its
 * server contexts from that text with tls_server_new().
 *
 * A tls_server holds one SSL_CTX per distinct set of certificate names.
 * Certificates with the same names but another key type (ECDSA and RSA)
 * share a context, and OpenSSL picks the one the client can use, ECDSA
 * first. SNI picks the context whose certificate names the server name
 * (exact, or "*.parent" for one label); anything else gets the first.
 *
 * Protocol policy, for every context: TLS 1.2 and 1.3 only, security
 * level 2, forward-secret AEAD cipher suites, no renegotiation, no
 * compression, OpenSSL's read/write buffers released while a connection
 * is idle.
 *
 * Session tickets: the keys are made by the master (tls_ticket_keys_make)
 * and handed to every smtpd, so a client may resume on any process. The
 * current key encrypts; the current and the previous decrypt. Every
 * ticket that decrypts is renewed, so a TLS 1.3 client that keeps only its
 * newest ticket resumes on every connection. With tickets off no ticket
 * is sent at all (some large senders hang up when sent TLS 1.3 tickets).
 *
 * Client certificates are asked for (never required) where a listener
 * says so; the verify callback accepts every chain and the verdict is
 * read afterwards with tls_peer_info(): a certificate that does not
 * verify is logged, not refused.
 */
#ifndef AVAL_COMMON_TLS_H
#define AVAL_COMMON_TLS_H

#include <stddef.h>
#include <stdint.h>

struct ssl_st;
struct ssl_ctx_st;

#define TLS_PEM_MAX		(256 * 1024)	/* one certificate or key file */
#define TLS_TICKET_NAME_LEN	16
#define TLS_TICKET_KEY_LEN	80		/* name, HMAC key, AES key */
#define TLS_FPR_LEN		(7 + 64)	/* "sha256:" + hex */

/* One certificate chain and its key, as PEM text. */
struct tls_pem {
	char		*cert;		/* leaf first, then the chain */
	size_t		 certlen;
	char		*key;
	size_t		 keylen;
};

void	 tls_pem_clear(struct tls_pem *);	/* wipes and frees the key */

/*
 * tls_pem_load - read a certificate chain and its key file, check both;
 * 0, or -1 with err. Refuses a key file that group or others may read.
 */
int	 tls_pem_load(struct tls_pem *, const char *certfile,
	    const char *keyfile, char *err, size_t errlen);

/*
 * tls_file_text - the text of path among n files read in paths' order
 * (the master's and deliver's copies of conf_tls_files()): 0 with the
 * text, 0 with NULL for no path or "system" (the system store), -1 when
 * path is not among them
 */
int	 tls_file_text(const char *const *paths, char *const *texts,
	    const size_t *lens, size_t n, const char *path, const char **text,
	    size_t *len);

/* tls_file_load - read a PEM file that is not secret (a CA list) */
int	 tls_file_load(const char *path, char **out, size_t *outlen,
	    char *err, size_t errlen);

/* Ticket keys: current and previous, TLS_TICKET_KEY_LEN bytes each. */
struct tls_ticket_keys {
	uint8_t		 cur[TLS_TICKET_KEY_LEN];
	uint8_t		 prev[TLS_TICKET_KEY_LEN];
	int		 have_prev;
};

void	 tls_ticket_keys_make(uint8_t key[TLS_TICKET_KEY_LEN]);
/* tls_ticket_keys_rotate - the current becomes the previous; a new current */
void	 tls_ticket_keys_rotate(struct tls_ticket_keys *);

struct tls_server;

#define TLS_SRV_TICKETS		0x01	/* send session tickets */

/*
 * tls_server_new - contexts for these certificates (at least one); ca is
 * the client CA list (PEM, may be NULL). NULL with err on failure.
 */
struct tls_server *tls_server_new(const struct tls_pem *, size_t n,
	    const char *ca, size_t calen, int flags, char *err, size_t errlen);
void	 tls_server_free(struct tls_server *);		/* NULL is fine */
/* tls_server_set_keys - install ticket keys (copied) */
void	 tls_server_set_keys(struct tls_server *, const struct tls_ticket_keys *);
int	 tls_server_has_keys(const struct tls_server *);

/*
 * tls_server_ssl - a new server SSL for one connection; ask_cert: send a
 * CertificateRequest. The SSL keeps a reference to its context: the
 * tls_server may be replaced (reload) while connections live.
 */
struct ssl_st *tls_server_ssl(struct tls_server *, int ask_cert);

/*
 * The client side, for deliver: a context per TLS policy. ca and crl are
 * PEM text (NULL: none); system_ca adds the system's store, which no
 * policy gets unless it asks; cert is the client certificate to present,
 * or NULL. NULL with err on failure.
 */
struct tls_client_opts {
	const char		*ca;
	size_t			 calen;
	int			 system_ca;
	const char		*crl;
	size_t			 crllen;
	const struct tls_pem	*cert;
};

struct ssl_ctx_st *tls_client_ctx_new(const struct tls_client_opts *,
	    char *err, size_t errlen);

/* What a finished handshake says about the peer. */
struct tls_info {
	char		 version[16];	/* "TLSv1.3" */
	char		 cipher[64];
	int		 bits;
	int		 resumed;
	int		 peer_cert;	/* the peer sent a certificate */
	int		 verified;	/* and it verified against the CAs */
	char		 fpr[TLS_FPR_LEN + 1];	/* of the peer's certificate */
	char		 verify_err[96];	/* why it did not verify */
	char		 subject[256];	/* RFC 2253, printable ASCII only */
};

void	 tls_info_get(struct ssl_st *, struct tls_info *);

/*
 * tls_verify_first - the first error met verifying the peer (a client
 * context of tls_client_ctx_new), or SSL_get_verify_result()'s when none
 * was kept (a resumed session)
 */
long	 tls_verify_first(const struct ssl_st *);

/* tls_fingerprint - "sha256:HEX" of a DER certificate, or "" */
void	 tls_fingerprint(const void *x509, char *out, size_t outlen);

/* tls_bev_error - why an OpenSSL bufferevent failed (common/tls_bev.c) */
struct bufferevent;
const char *tls_bev_error(struct bufferevent *, char *buf, size_t len);

/* tls_error - the last OpenSSL error as text, clearing the queue */
const char *tls_error(char *buf, size_t len);

/*
 * tls_names_match - 1 if a certificate name (exact, or "*.parent" for
 * exactly one leftmost label) covers host; both compared caselessly.
 */
int	 tls_name_match(const char *pattern, const char *host);

#endif
