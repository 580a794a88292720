/*
 * master_tls - certificates, keys and ticket keys, for smtpd
 *
 * avald reads every certificate and key file named by tls { } (as root,
 * before any worker exists) and checks them; smtpd gets the PEM text over
 * its master link, never a path, so nothing in its chroot holds a key.
 * A reload that names unreadable or mismatched files fails whole and the
 * running TLS configuration stays, as with any other config error.
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
	free(t);
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
	char				 err[512];
	int				 nerr = 0;

	t = xcalloc(1, sizeof(*t));
	for (tc = c->tls_certs; tc != NULL; tc = tc->next) {
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
