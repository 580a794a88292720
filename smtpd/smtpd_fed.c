/*
 * smtpd_fed - inbound federation: verified peers, and possible downgrades
 *
 * Nobody is ever refused for being outside the federation. What the
 * federation adds to a session (docs/federation.md):
 *
 *	at connect	the client's address is looked up in the bundle's
 *			registry: an address in a member's networks is
 *			"placed" at that member, and logged; and, with
 *			federation { whitelist-zone }, in the federation's
 *			DNS whitelist (RFC 5782, common/dnswl.h): a listed
 *			address of an active member the registry did not
 *			place is placed "by whitelist". The lookup never
 *			holds the session up; a result after MAIL still
 *			marks the message (the mark is written at DATA)
 *	after TLS	a client certificate that verifies against the
 *			federation CA and its CRL (checked here, on every
 *			session, resumed ones too) and names only MX hosts
 *			of one active member makes the session a verified
 *			federation peer: trust=federation:<member> in the
 *			log, the member and the certificate's fingerprint
 *			in the Received header, and the grants of the
 *			config (members-may-relay)
 *	at MAIL		a session placed at a member that is not a verified
 *			peer of that member is a possible downgrade: logged,
 *			marked with an X-Aval-Federation header, or with
 *			defer-downgrade answered 451 4.7.1 (by registry
 *			only: a DNS answer alone never makes anyone wait,
 *			docs/federation-policy.md)
 *
 * A certificate that does not verify is logged with the precise reason
 * (revoked, expired, another CA, ...); the session goes on as any other.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/dnswl.h"
#include "common/fedtrust.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd.h"

static void	smtpd_fed_listed(const struct dnswl_result *, void *);

/*
 * smtpd_fed_start - the whitelist's resolver, as root before the chroot
 * (it reads resolv.conf and the trust anchors): deliver's resolver
 * settings, one owner for "which resolver"
 */
void
smtpd_fed_start(void)
{
	const struct conf	*c = env->w.conf;
	char			 err[256];

	if (!conf_federation_on(c) || c->fed_whitelist_zone[0] == '\0')
		return;
	if ((env->dnswl = dnswl_new(env->w.base, c->deliver_resolver,
	    c->deliver_trust_anchor, c->deliver_dns_timeout, err,
	    sizeof(err))) == NULL)
		fatalx("federation whitelist: %s", err);
	/* No more lookups in flight than sessions: one each at most. */
	dnswl_set_max(env->dnswl, (size_t)c->smtpd_max_sessions);
}

/* smtpd_fed_probe_done - what the whitelist says of its test entry */
static void
smtpd_fed_probe_done(const struct dnswl_result *r, void *arg)
{
	(void)arg;
	if (r->status == DNSWL_LISTED)
		log_info("federation: whitelist %s answers its test entry "
		    "(%s, %s)", env->w.conf->fed_whitelist_zone, r->a_text,
		    r->secure ? "DNSSEC-secure" : "not DNSSEC-signed");
	else
		log_warnx("federation: whitelist %s does not answer its test "
		    "entry 127.0.0.2 (%s): lookups may all fail",
		    env->w.conf->fed_whitelist_zone, r->reason);
}

/*
 * smtpd_fed_probe - after the privilege drop, before any session: the
 * first lookup forks libunbound's helper, which must not inherit a
 * client's socket (common/dnswl.h)
 */
void
smtpd_fed_probe(void)
{
	struct sockaddr_in	 sin;

	if (env->dnswl == NULL)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000002);
	(void)dnswl_lookup(env->dnswl, (struct sockaddr *)&sin,
	    env->w.conf->fed_whitelist_zone, smtpd_fed_probe_done, NULL);
}

/* smtpd_fed_connect - place the client's address, if the registry does */
void
smtpd_fed_connect(struct smtpd_session *s)
{
	const struct fed_member	*m;

	memset(&s->fed, 0, sizeof(s->fed));
	if (env->fed == NULL || (s->flags & SMTPD_F_LOCAL))
		return;
	if (env->dnswl != NULL)
		s->fed.wlq = dnswl_lookup(env->dnswl, (struct sockaddr *)&s->ss,
		    env->w.conf->fed_whitelist_zone, smtpd_fed_listed, s);
	/*
	 * Our own clients (relay-networks) are ours, whatever the registry
	 * says of their addresses: no member's MTA is placed for them.
	 */
	if (conf_in_relay_networks(env->w.conf, (struct sockaddr *)&s->ss) == 1)
		return;
	/* A suspended member is a stranger (docs/federation-policy.md). */
	if ((m = fed_trust_addr(env->fed, (struct sockaddr *)&s->ss)) == NULL ||
	    m->status != FED_S_ACTIVE)
		return;
	strlcpy(s->fed.placed, m->id, sizeof(s->fed.placed));
	s->fed.placed_by = "registry";
	log_info("NOQUEUE: session=%s, client=%s, federation=placed, "
	    "member=%s, by=registry", s->idstr, s->client, m->id);
}

/*
 * smtpd_fed_is_downgrade - placed at a member, not its verified peer, and
 * not for want of a bundle of our own that can verify anyone
 */
static int
smtpd_fed_is_downgrade(const struct smtpd_session *s)
{
	return s->fed.placed[0] != '\0' &&
	    strcmp(s->fed.member, s->fed.placed) != 0 &&
	    strcmp(s->fed.reason, "bundle-expired") != 0 &&
	    strcmp(s->fed.reason, "crl-stale") != 0;
}

/* smtpd_fed_why - the reason class of a possible downgrade */
static const char *
smtpd_fed_why(const struct smtpd_session *s)
{
	return s->fed.member[0] != '\0' ? "another-member" :
	    !(s->flags & SMTPD_F_TLS) ? "no-tls" : s->fed.reason[0] != '\0' ?
	    s->fed.reason : "no-certificate";
}

/*
 * smtpd_fed_listed - the whitelist's answer: logged; a listed address of
 * an active member places the session, unless the registry already did
 */
static void
smtpd_fed_listed(const struct dnswl_result *r, void *arg)
{
	struct smtpd_session	*s = arg;
	const struct fed_member	*m;

	s->fed.wlq = NULL;
	if (r->status == DNSWL_NOTLISTED) {
		log_debug("NOQUEUE: session=%s, client=%s, federation=whitelist, "
		    "listed=no", s->idstr, s->client);
		return;
	}
	if (r->status == DNSWL_TEMP) {
		log_info("NOQUEUE: session=%s, client=%s, federation=whitelist, "
		    "listed=unknown, why=\"%s\"", s->idstr, s->client,
		    r->reason);
		return;
	}
	m = env->fed != NULL && r->member[0] != '\0' ?
	    fed_registry_find(&env->fed->b.reg, r->member) : NULL;
	log_info("NOQUEUE: session=%s, client=%s, federation=whitelist, "
	    "listed=yes, member=%s, secure=%s, text=\"%s\"%s", s->idstr,
	    s->client, r->member[0] ? r->member : "-", r->secure ? "yes" : "no",
	    r->text, m == NULL ? " (no member of the bundle)" :
	    m->status != FED_S_ACTIVE ? " (a suspended member)" : "");
	if (m == NULL || m->status != FED_S_ACTIVE || s->fed.placed[0] != '\0' ||
	    conf_in_relay_networks(env->w.conf, (struct sockaddr *)&s->ss) == 1)
		return;
	strlcpy(s->fed.placed, m->id, sizeof(s->fed.placed));
	s->fed.placed_by = "whitelist";
	/* MAIL has gone by: the mark still goes on the message at DATA. */
	if (s->fed.mailed && smtpd_fed_is_downgrade(s)) {
		s->fed.downgrade = 1;
		log_info("NOQUEUE: session=%s, client=%s, "
		    "federation=downgrade, member=%s, by=whitelist, "
		    "reason=%s, status=marked", s->idstr, s->client,
		    s->fed.placed, smtpd_fed_why(s));
	}
}

/*
 * smtpd_fed_tls - the handshake is done: is the client a verified peer?
 * What the TLS log line should add goes into log.
 */
void
smtpd_fed_tls(struct smtpd_session *s, SSL *ssl, char *log, size_t loglen)
{
	X509	*leaf;

	log[0] = '\0';
	if (env->fed == NULL)
		return;
	leaf = SSL_get0_peer_certificate(ssl);
	if (fed_trust_peer(env->fed, leaf, SSL_get_peer_cert_chain(ssl),
	    X509_PURPOSE_SSL_CLIENT, time(NULL), s->fed.member, s->fed.reason,
	    s->fed.why, sizeof(s->fed.why))) {
		snprintf(log, loglen, ", trust=federation:%s", s->fed.member);
		return;
	}
	/*
	 * A stranger's certificate is its own affair; a member's is not. One
	 * the federation CA issued that does not pass here (revoked, say) is
	 * not "verified" anywhere, though the handshake's own check (the CA
	 * names, tls client-ca) has no CRL and may have passed it.
	 */
	if (leaf == NULL)
		return;
	if (X509_check_issued(env->fed->b.ca, leaf) == X509_V_OK &&
	    s->tls != NULL && s->tls->verified) {
		s->tls->verified = 0;
		strlcpy(s->tls->verify_err, s->fed.reason,
		    sizeof(s->tls->verify_err));
	}
	if (s->fed.placed[0] != '\0' || s->tls == NULL || !s->tls->verified)
		snprintf(log, loglen, ", federation=not-verified, reason=%s, "
		    "why=\"%s\"", s->fed.reason, s->fed.why);
}

/*
 * smtpd_fed_mail - MAIL from a session the federation placed at a
 * member: 0 to go on, -1 when it must be answered 451 (defer-downgrade)
 */
int
smtpd_fed_mail(struct smtpd_session *s)
{
	s->fed.mailed = 1;
	s->fed.downgrade = 0;
	/* A user who logged in is ours, not a member's MTA. */
	if (s->fed.placed[0] == '\0' || SMTPD_TRUSTED(s) ||
	    strcmp(s->fed.member, s->fed.placed) == 0)
		return 0;
	/*
	 * While our bundle has expired or its CRL is stale no member can be
	 * verified: that is our trouble, not a downgrade by the sender, and
	 * its mail comes in as a stranger's (docs/federation-policy.md).
	 */
	if (!smtpd_fed_is_downgrade(s)) {
		log_info("NOQUEUE: session=%s, client=%s, cmd=MAIL, "
		    "federation=unverifiable, member=%s, reason=%s", s->idstr,
		    s->client, s->fed.placed, s->fed.reason);
		return 0;
	}
	s->fed.downgrade = 1;
	/* A DNS answer alone never makes anyone wait: the registry does. */
	if (env->w.conf->fed_defer_downgrade &&
	    strcmp(s->fed.placed_by, "registry") == 0) {
		log_info("NOQUEUE: session=%s, client=%s, cmd=MAIL, "
		    "federation=downgrade, member=%s, by=%s, reason=%s, "
		    "dsn=4.7.1, status=defer (451 defer-downgrade)", s->idstr,
		    s->client, s->fed.placed, s->fed.placed_by,
		    smtpd_fed_why(s));
		return -1;
	}
	log_info("NOQUEUE: session=%s, client=%s, cmd=MAIL, "
	    "federation=downgrade, member=%s, by=%s, reason=%s, "
	    "status=marked", s->idstr, s->client, s->fed.placed,
	    s->fed.placed_by, smtpd_fed_why(s));
	return 0;
}

/*
 * smtpd_fed_received - the Received header's words for a verified peer
 * (its member; the fingerprint is there already), "" for anyone else
 */
void
smtpd_fed_received(const struct smtpd_session *s, char *comment,
    size_t commentlen)
{
	comment[0] = '\0';
	if (s->fed.member[0] != '\0')
		snprintf(comment, commentlen, "\r\n\tfederation member %s",
		    s->fed.member);
}

/*
 * smtpd_fed_header - after the Received header: the mark of a possible
 * downgrade (a header only this host's own Received vouches for: a
 * client may have written one too, so it names this host)
 */
int
smtpd_fed_header(const struct smtpd_session *s, struct buf *out)
{
	if (!s->fed.downgrade)
		return 0;
	return buf_printf(out, "X-Aval-Federation: possible downgrade; "
	    "member=%s; by=%s; host=%s\r\n", s->fed.placed, s->fed.placed_by,
	    env->w.conf->hostname);
}

/* smtpd_fed_may_relay - a verified peer, and the config grants relaying */
int
smtpd_fed_may_relay(const struct smtpd_session *s)
{
	return s->fed.member[0] != '\0' &&
	    env->w.conf->fed_members_may_relay;
}

/*
 * smtpd_fed_close - a session ends: one the federation placed at a member,
 * or a verified peer, is a health note for the master
 */
void
smtpd_fed_close(struct smtpd_session *s)
{
	const char	*member, *failure = NULL;
	struct ipc_msg	*m;
	int		 tls = (s->flags & SMTPD_F_TLS) && s->tls != NULL;

	dnswl_cancel(s->fed.wlq);
	s->fed.wlq = NULL;
	member = s->fed.member[0] != '\0' ? s->fed.member : s->fed.placed;
	if (member[0] == '\0' || env->w.master == NULL)
		return;
	if (s->fed.member[0] == '\0' || strcmp(s->fed.member, member) != 0)
		failure = tls && s->tls->peer_cert && s->fed.reason[0] != '\0' &&
		    strcmp(s->fed.reason, "no-certificate") != 0 ?
		    s->fed.reason : "downgrade";
	m = ipc_new(IPC_SMTPD_FED_SESSION);
	ipc_put_str(m, member);
	ipc_put_u32(m, (uint32_t)tls);
	ipc_put_u32(m, s->fed.member[0] != '\0');
	ipc_put_str(m, tls ? s->tls->version : "");
	ipc_put_u32(m, (uint32_t)(tls && s->tls->resumed));
	ipc_put_str(m, failure != NULL ? failure : "");
	ipc_send(env->w.master, m);
}
