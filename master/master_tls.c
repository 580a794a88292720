/*
 * master_tls - certificates, keys and ticket keys, for smtpd and deliver
 *
 * avald reads every certificate and key file named by tls { } (as root,
 * before any worker exists) and checks them; smtpd gets the PEM text over
 * its master link, never a path, so nothing in its chroot holds a key.
 * A reload that names unreadable or mismatched files fails whole and the
 * running TLS configuration stays, as with any other config error.
 *
 * deliver gets, the same way, the client certificate of tls {
 * client-certificate } and the text of every CA and CRL file the
 * tls-policy table names: it is chrooted to an empty directory and reads
 * no file after start, and a reload must reach it too.
 *
 * Session ticket keys are made here, so every smtpd process encrypts and
 * decrypts with the same ones and a client resumes on whichever process
 * accepts it. They are rotated every tls ticket-rotation, the previous
 * key still decrypting; they live only in memory (a restart of avald
 * makes new ones, and clients fall back to one full handshake).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "common/conf.h"
#include "common/conf_priv.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "master/master.h"

struct master_tls {
	struct tls_pem		 pem[CONF_TLS_CERTS_MAX];
	size_t			 n;
	char			*ca;
	size_t			 calen;

	/* deliver's: the client certificate, and the policies' files */
	struct tls_pem		 client;
	int			 have_client;
	char			*file[CONF_TLS_FILES_MAX];
	size_t			 filelen[CONF_TLS_FILES_MAX];
	size_t			 nfiles;
};

static struct master_tls	*master_tls_cur, *master_tls_new;
static struct tls_ticket_keys	 master_tls_keys;
static struct event		*master_tls_rotate_ev;

static void
master_tls_free(struct master_tls *t)
{
	size_t	 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		tls_pem_clear(&t->pem[i]);
	free(t->ca);
	if (t->have_client)
		tls_pem_clear(&t->client);
	for (i = 0; i < t->nfiles; i++)
		free(t->file[i]);
	free(t);
}

/*
 * master_tls_load_client - deliver's material: the client certificate and
 * every CA and CRL file the TLS policies name, each policy's context built
 * once here so that deliver never meets one it cannot build. The number
 * of errors added to errs.
 */
static int
master_tls_load_client(const struct conf *c, struct master_tls *t,
    const char *file, struct conf_errors *errs)
{
	const struct conf_tls_policy	*p;
	const char			*paths[CONF_TLS_FILES_MAX];
	struct tls_client_opts		 o;
	char				 err[512];
	size_t				 i;
	int				 nerr = 0;
	SSL_CTX				*ctx;

	if (c->tls_client_cert != NULL) {
		if (tls_pem_load(&t->client, c->tls_client_cert->cert,
		    c->tls_client_cert->key, err, sizeof(err)) == -1) {
			conf_errors_add(errs, file, 0, "tls client-certificate: "
			    "%s", err);
			nerr++;
		} else
			t->have_client = 1;
	}
	t->nfiles = conf_tls_files(c, paths, CONF_TLS_FILES_MAX);
	for (i = 0; i < t->nfiles; i++)
		if (tls_file_load(paths[i], &t->file[i], &t->filelen[i], err,
		    sizeof(err)) == -1) {
			conf_errors_add(errs, file, 0, "tls-policy: %s", err);
			nerr++;
		}
	if (nerr > 0)
		return nerr;
	for (p = c->tls_policies; p != NULL; p = p->next) {
		if (p->level != CONF_TLS_VERIFY && p->level != CONF_TLS_SECURE)
			continue;
		memset(&o, 0, sizeof(o));
		o.system_ca = p->ca != NULL && strcmp(p->ca, "system") == 0;
		if (tls_file_text(paths, t->file, t->filelen, t->nfiles, p->ca,
		    &o.ca, &o.calen) == -1 || tls_file_text(paths, t->file,
		    t->filelen, t->nfiles, p->crl, &o.crl, &o.crllen) == -1)
			fatalx("%s: %s: a file not in the list", __func__,
			    p->domain);
		o.cert = t->have_client ? &t->client : NULL;
		if ((ctx = tls_client_ctx_new(&o, err, sizeof(err))) == NULL) {
			conf_errors_add(errs, file, 0, "tls-policy %s: %s",
			    p->domain, err);
			nerr++;
		}
		SSL_CTX_free(ctx);
	}
	return nerr;
}

/*
 * master_tls_load - read and check what c names; 0 (the new material
 * waits for master_tls_commit), or -1 with every error in errs
 */
int
master_tls_load(const struct conf *c, const char *file,
    struct conf_errors *errs)
{
	const struct conf_tls_cert	*tc;
	struct master_tls		*t;
	const struct tls_pem		*fc;
	const char			*fca;
	char				 err[512];
	size_t				 fcalen;
	int				 nerr = 0;

	t = xcalloc(1, sizeof(*t));
	/*
	 * Our federation certificate comes first: it is what a client gets
	 * that names no other certificate's host by SNI, so a member
	 * connecting to our MX host finds the certificate it verifies.
	 */
	if ((fc = master_fed_cert()) != NULL) {
		t->pem[0].cert = xmalloc(fc->certlen);
		memcpy(t->pem[0].cert, fc->cert, fc->certlen);
		t->pem[0].certlen = fc->certlen;
		t->pem[0].key = xmalloc(fc->keylen);
		memcpy(t->pem[0].key, fc->key, fc->keylen);
		t->pem[0].keylen = fc->keylen;
		t->n = 1;
	}
	for (tc = c->tls_certs; tc != NULL; tc = tc->next) {
		if (t->n == CONF_TLS_CERTS_MAX) {
			conf_errors_add(errs, file, 0, "tls: more than %d "
			    "certificates with the federation's",
			    CONF_TLS_CERTS_MAX);
			nerr++;
			break;
		}
		if (tls_pem_load(&t->pem[t->n], tc->cert, tc->key, err,
		    sizeof(err)) == -1) {
			conf_errors_add(errs, file, 0, "tls: %s", err);
			nerr++;
			continue;
		}
		t->n++;
	}
	if (c->tls_client_ca[0] != '\0' && tls_file_load(c->tls_client_ca,
	    &t->ca, &t->calen, err, sizeof(err)) == -1) {
		conf_errors_add(errs, file, 0, "tls client-ca: %s", err);
		nerr++;
	}
	/* Members learn from the CA names which certificate to send. */
	if ((fca = master_fed_ca(&fcalen)) != NULL) {
		t->ca = xreallocarray(t->ca, 1, t->calen + fcalen + 1);
		memcpy(t->ca + t->calen, fca, fcalen);
		t->calen += fcalen;
		t->ca[t->calen] = '\0';
	}
	/* Build once here, so smtpd never meets a config it cannot use. */
	if (nerr == 0 && t->n > 0) {
		struct tls_server	*ts;

		ts = tls_server_new(t->pem, t->n, t->ca, t->calen,
		    TLS_SRV_TICKETS, err, sizeof(err));
		if (ts == NULL) {
			conf_errors_add(errs, file, 0, "tls: %s", err);
			nerr++;
		}
		tls_server_free(ts);
	}
	nerr += master_tls_load_client(c, t, file, errs);
	if (nerr > 0) {
		master_tls_free(t);
		return -1;
	}
	master_tls_free(master_tls_new);
	master_tls_new = t;
	return 0;
}

/* master_tls_commit - the loaded material replaces the running one */
void
master_tls_commit(void)
{
	if (master_tls_new == NULL)
		return;
	master_tls_free(master_tls_cur);
	master_tls_cur = master_tls_new;
	master_tls_new = NULL;
}

/* master_tls_send_part - PEM text in chunks that fit a frame */
static void
master_tls_send_part(struct ipc_peer *p, uint32_t idx, uint32_t part,
    const char *text, size_t len)
{
	struct ipc_msg	*m;
	size_t		 n, room;

	while (len > 0) {
		m = ipc_new(IPC_MASTER_TLS_PEM);
		ipc_put_u32(m, idx);
		ipc_put_u32(m, part);
		room = ipc_room(m) - 4;		/* the data length */
		n = len < room ? len : room;
		ipc_put_data(m, text, n);
		ipc_send(p, m);
		text += n;
		len -= n;
	}
}

/*
 * master_tls_send_client - deliver's material: the client certificate
 * and key, each policy file by its conf_tls_files() index, then TLS_END
 * with the number of files
 */
void
master_tls_send_client(struct ipc_peer *p)
{
	struct master_tls	*t = master_tls_cur;
	struct ipc_msg		*m;
	size_t			 i;

	master_fed_send(p, 1);
	if (t != NULL && t->have_client) {
		master_tls_send_part(p, 0, TLS_PART_CLIENT_CERT,
		    t->client.cert, t->client.certlen);
		master_tls_send_part(p, 0, TLS_PART_CLIENT_KEY,
		    t->client.key, t->client.keylen);
	}
	for (i = 0; t != NULL && i < t->nfiles; i++)
		master_tls_send_part(p, (uint32_t)i, TLS_PART_FILE,
		    t->file[i], t->filelen[i]);
	m = ipc_new(IPC_MASTER_TLS_END);
	ipc_put_u32(m, t != NULL ? (uint32_t)t->nfiles : 0);
	ipc_send(p, m);
}

/* master_tls_send_keys - the current ticket keys to one smtpd */
void
master_tls_send_keys(struct ipc_peer *p)
{
	struct ipc_msg	*m;

	m = ipc_new(IPC_MASTER_TLS_KEYS);
	ipc_put_data(m, master_tls_keys.cur, TLS_TICKET_KEY_LEN);
	ipc_put_data(m, master_tls_keys.prev,
	    master_tls_keys.have_prev ? TLS_TICKET_KEY_LEN : 0);
	ipc_send(p, m);
}

/* master_tls_send - every certificate, the CA list, then the keys */
void
master_tls_send(struct ipc_peer *p)
{
	struct master_tls	*t = master_tls_cur;
	struct ipc_msg		*m;
	size_t			 i;

	master_fed_send(p, 0);
	for (i = 0; t != NULL && i < t->n; i++) {
		master_tls_send_part(p, (uint32_t)i, TLS_PART_CERT,
		    t->pem[i].cert, t->pem[i].certlen);
		master_tls_send_part(p, (uint32_t)i, TLS_PART_KEY,
		    t->pem[i].key, t->pem[i].keylen);
	}
	if (t != NULL && t->ca != NULL)
		master_tls_send_part(p, 0, TLS_PART_CA, t->ca, t->calen);
	m = ipc_new(IPC_MASTER_TLS_END);
	ipc_put_u32(m, t != NULL ? (uint32_t)t->n : 0);
	ipc_send(p, m);
	master_tls_send_keys(p);
}

static void
master_tls_rotate(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv;
	size_t		 i;

	(void)fd;
	(void)ev;
	(void)arg;
	tls_ticket_keys_rotate(&master_tls_keys);
	log_info("rotated the TLS session ticket key");
	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].kind == PROC_SMTPD &&
		    master->children[i].state == MASTER_C_RUNNING &&
		    master->children[i].peer != NULL)
			master_tls_send_keys(master->children[i].peer);
	tv.tv_sec = master->conf->tls_ticket_rotation;
	tv.tv_usec = 0;
	evtimer_add(master_tls_rotate_ev, &tv);
}

/* master_tls_start - the first ticket key, and its rotation */
void
master_tls_start(void)
{
	struct timeval	 tv;

	tls_ticket_keys_make(master_tls_keys.cur);
	master_tls_rotate_ev = evtimer_new(master->base, master_tls_rotate,
	    NULL);
	tv.tv_sec = master->conf->tls_ticket_rotation;
	tv.tv_usec = 0;
	evtimer_add(master_tls_rotate_ev, &tv);
}

/* master_tls_clear - wipe key material at exit */
void
master_tls_clear(void)
{
	master_tls_free(master_tls_cur);
	master_tls_free(master_tls_new);
	master_tls_cur = master_tls_new = NULL;
	OPENSSL_cleanse(&master_tls_keys, sizeof(master_tls_keys));
}
