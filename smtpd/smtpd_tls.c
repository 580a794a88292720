/*
 * smtpd_tls - the server half of TLS: contexts from the master, STARTTLS
 * and implicit TLS on a session's socket
 *
 * The master sends each certificate's chain and key as PEM chunks, then
 * TLS_END, then the ticket keys; a reload sends them all again. smtpd
 * builds a new tls_server at TLS_END and keeps the old one if that fails
 * (the master has already built the same one, so it should not).
 *
 * A session's socket starts under a plain socket bufferevent. At
 * STARTTLS (after the 220 has been written out) or at once on an
 * implicit-TLS listener, that bufferevent is freed without closing the
 * socket, and an OpenSSL bufferevent takes the socket over: whatever the
 * client pipelined after STARTTLS was dropped with the old bufferevent,
 * so no plaintext can be taken as if it came inside TLS (CVE-2011-0411).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd.h"

#define SMTPD_TLS_NPEM	16

static void
smtpd_tls_pem_reset(void)
{
	size_t	 i, j;

	for (i = 0; i < SMTPD_TLS_NPEM; i++)
		for (j = 0; j < 2; j++) {
			buf_free(env->pem[i][j]);	/* secret: wiped */
			env->pem[i][j] = NULL;
		}
	buf_free(env->pem_ca);
	env->pem_ca = NULL;
}

/* smtpd_tls_build - the contexts from the PEM text received */
static void
smtpd_tls_build(uint32_t n)
{
	const struct conf	*c = env->w.conf;
	struct tls_server	*ts;
	struct tls_pem		 pem[SMTPD_TLS_NPEM];
	char			 err[512];
	uint32_t		 i;

	if (n == 0) {
		tls_server_free(env->tls);
		env->tls = NULL;
		return;
	}
	memset(pem, 0, sizeof(pem));
	for (i = 0; i < n; i++) {
		if (env->pem[i][TLS_PART_CERT] == NULL ||
		    env->pem[i][TLS_PART_KEY] == NULL)
			fatalx("TLS_END: certificate %u incomplete", i);
		pem[i].cert = (char *)(uintptr_t)buf_data(
		    env->pem[i][TLS_PART_CERT]);
		pem[i].certlen = buf_len(env->pem[i][TLS_PART_CERT]);
		pem[i].key = (char *)(uintptr_t)buf_data(
		    env->pem[i][TLS_PART_KEY]);
		pem[i].keylen = buf_len(env->pem[i][TLS_PART_KEY]);
	}
	ts = tls_server_new(pem, n, env->pem_ca ? buf_data(env->pem_ca) :
	    NULL, env->pem_ca ? buf_len(env->pem_ca) : 0,
	    c->tls_session_tickets ? TLS_SRV_TICKETS : 0, err, sizeof(err));
	if (ts == NULL) {
		log_warnx("TLS configuration refused: %s; keeping the %s", err,
		    env->tls ? "previous one" : "server without TLS");
		return;
	}
	if (env->keys != NULL)
		tls_server_set_keys(ts, env->keys);
	/* Live SSLs keep their own references to the old contexts. */
	tls_server_free(env->tls);
	env->tls = ts;
	log_debug("TLS ready: %u certificates, tickets %s", n,
	    c->tls_session_tickets ? "on" : "off");
}

/*
 * smtpd_tls_fed - FED_END: the federation the master sent replaces ours;
 * one that does not verify leaves ours as it was
 */
static void
smtpd_tls_fed(uint64_t serial)
{
	struct fed_trust	*t;
	struct tls_pem		 none;
	char			 err[256];
	int			 have_cert;

	memset(&none, 0, sizeof(none));
	if (fed_recv_end(&env->fed_recv, serial, time(NULL), &t, &none,
	    &have_cert, err, sizeof(err)) == -1) {
		log_warnx("federation: bundle from the master refused: %s; "
		    "keeping serial %llu", err, env->fed != NULL ?
		    (unsigned long long)env->fed->b.serial : 0ULL);
		return;
	}
	tls_pem_clear(&none);
	fed_trust_unref(env->fed);
	env->fed = t;
	log_debug("federation: bundle serial %llu", (unsigned long long)serial);
}

/* smtpd_tls_dispatch - TLS_PEM, TLS_END, TLS_KEYS from the master */
void
smtpd_tls_dispatch(struct ipc_msgin *r)
{
	const void	*p, *q;
	size_t		 n, m;
	uint32_t	 idx, part;
	uint64_t	 serial;
	struct buf	**b;

	switch (r->type) {
	case IPC_MASTER_TLS_PEM:
		if (ipc_get_u32(r, &idx) == -1 || ipc_get_u32(r, &part) == -1 ||
		    ipc_get_data(r, &p, &n) == -1 || ipc_end(r) == -1 ||
		    idx >= SMTPD_TLS_NPEM || part > TLS_PART_SERVER_MAX)
			break;
		b = part == TLS_PART_CA ? &env->pem_ca : &env->pem[idx][part];
		if (*b == NULL)
			*b = part == TLS_PART_KEY ? buf_new_secret(4096,
			    TLS_PEM_MAX) : buf_new(4096, TLS_PEM_MAX);
		if (buf_add(*b, p, n) == -1)
			fatalx("TLS_PEM: part over %d bytes", TLS_PEM_MAX);
		return;
	case IPC_MASTER_TLS_END:
		if (ipc_get_u32(r, &idx) == -1 || ipc_end(r) == -1 ||
		    idx > SMTPD_TLS_NPEM || env->w.conf == NULL)
			break;
		smtpd_tls_build(idx);
		smtpd_tls_pem_reset();
		return;
	case IPC_MASTER_FED_PART:
		if (ipc_get_u32(r, &part) == -1 ||
		    ipc_get_data(r, &p, &n) == -1 || ipc_end(r) == -1 ||
		    part > FED_PART_BUNDLE ||
		    fed_recv_add(&env->fed_recv, part, p, n) == -1)
			break;
		return;
	case IPC_MASTER_FED_END:
		if (ipc_get_u64(r, &serial) == -1 || ipc_end(r) == -1)
			break;
		smtpd_tls_fed(serial);
		return;
	case IPC_MASTER_TLS_KEYS:
		if (ipc_get_data(r, &p, &n) == -1 ||
		    ipc_get_data(r, &q, &m) == -1 || ipc_end(r) == -1 ||
		    n != TLS_TICKET_KEY_LEN ||
		    (m != 0 && m != TLS_TICKET_KEY_LEN))
			break;
		if (env->keys == NULL)
			env->keys = xcalloc(1, sizeof(*env->keys));
		memcpy(env->keys->cur, p, n);
		memcpy(env->keys->prev, q, m);
		env->keys->have_prev = m != 0;
		if (env->tls != NULL)
			tls_server_set_keys(env->tls, env->keys);
		return;
	}
	fatalx("malformed %s from master", ipc_type_name(r->type));
}

/*
 * smtpd_tls_start - hand the session's socket to an OpenSSL bufferevent
 * in the accepting state; the caller sets its callbacks. 0, or -1 (no
 * TLS configured, or OpenSSL failed) with the session left as it was.
 */
int
smtpd_tls_start(struct smtpd_session *s)
{
	struct bufferevent	*bev;
	SSL			*ssl;
	char			 e[256];

	ssl = tls_server_ssl(env->tls,
	    !(s->listener->flags & CONF_LF_NO_CLIENT_CERT));
	if (ssl == NULL) {
		log_warnx("NOQUEUE: session=%s, client=%s, cannot start TLS "
		    "(%s)", s->idstr, s->client, env->tls == NULL ?
		    "no certificate configured" : tls_error(e, sizeof(e)));
		return -1;
	}
	bev = bufferevent_openssl_socket_new(env->w.base, s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		log_warnx("NOQUEUE: session=%s, client=%s, cannot start TLS "
		    "(bufferevent)", s->idstr, s->client);
		return -1;
	}
	/* A client that closes without close_notify has still ended. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* The old bufferevent does not own the socket: nothing is closed. */
	bufferevent_free(s->bev);
	s->bev = bev;
	s->flags |= SMTPD_F_HANDSHAKE;
	s->flags &= ~SMTPD_F_TLS_START;
	return 0;
}

/* smtpd_tls_connected - the handshake is done: record it and log it */
void
smtpd_tls_connected(struct smtpd_session *s)
{
	struct tls_info	*ti;
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);
	char		 cert[512] = "";
	char		 fed[FED_WHY_LEN + 64];

	s->flags &= ~SMTPD_F_HANDSHAKE;
	s->flags |= SMTPD_F_TLS;
	if (s->tls == NULL)
		s->tls = xcalloc(1, sizeof(*s->tls));
	ti = s->tls;
	tls_info_get(ssl, ti);
	smtpd_fed_tls(s, ssl, fed, sizeof(fed));
	if (ti->peer_cert && ti->verified)
		snprintf(cert, sizeof(cert), ", client-cert=verified, "
		    "fingerprint=%s, subject=\"%s\"", ti->fpr, ti->subject);
	else if (ti->peer_cert)
		snprintf(cert, sizeof(cert), ", client-cert=unverified, "
		    "fingerprint=%s (%s)", ti->fpr, ti->verify_err);
	log_info("NOQUEUE: session=%s, client=%s, tls=%s, cipher=%s, "
	    "resumed=%s%s%s", s->idstr, s->client, ti->version, ti->cipher,
	    ti->resumed ? "yes" : "no", cert, fed);
}

/*
 * smtpd_tls_shutdown - send close_notify before the socket closes. The
 * OpenSSL bufferevent does not: its SSL writes straight to the socket,
 * so one SSL_shutdown() call queues the alert there (a full socket
 * buffer only loses the alert, never a reply, which is already out).
 */
void
smtpd_tls_shutdown(struct smtpd_session *s)
{
	SSL	*ssl;

	if (!(s->flags & SMTPD_F_TLS) ||
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) == NULL)
		return;
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

/* smtpd_tls_failure - why a TLS bufferevent failed, as text */
const char *
smtpd_tls_failure(struct smtpd_session *s, char *buf, size_t len)
{
	return tls_bev_error(s->bev, buf, len);
}
