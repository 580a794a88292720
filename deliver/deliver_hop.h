/*
 * deliver_hop - from a job's route to the hosts that get it, in order
 *
 * deliver_hop_run() takes a job whose route is SMTP or LMTP over TCP and
 * finds where it goes:
 *
 *	route				hosts tried
 *	smtp (no next hop)		the domain's MX hosts (RFC 5321 5.1)
 *	smtp HOST[:PORT]		HOST's MX hosts
 *	smtp [HOST]:PORT, lmtp ...	HOST's own addresses, no MX lookup
 *	smtp [ADDRESS]:PORT		that address, no DNS at all
 *
 * then tries the addresses one after another (each MX host's IPv4, then
 * IPv6, hosts by preference; at most max_addrs in all, as Postfix's
 * smtp_mx_address_limit) until one takes the transaction. The next address
 * is tried only while nothing has happened that the next host could not
 * change: no MAIL command sent on this attempt (a refused or lost
 * connection, a 4xx or 5xx greeting or EHLO reply, a TLS policy that
 * failed at this host: Postfix's smtp_skip_5xx_greeting too). A recipient
 * refused at RCPT, or anything after MAIL, is final for this attempt: the
 * queue retries what is deferred later, with the whole list again. The
 * last host's results are the attempt's.
 *
 * What DNS says decides without a connection (docs/dns.md):
 *
 *	NXDOMAIN, no host with an address	bounced, 5.1.2
 *	null MX (RFC 7505)			bounced, 5.1.10
 *	SERVFAIL, timeout, bogus DNSSEC		deferred, 4.4.3
 *
 * The TLS policy is asked per host, because verify checks the MX host's
 * own name (its name as the MX record gave it, as Postfix's "verify").
 *
 * Every decision logs: a lookup that fails (with the queue ID), each
 * address given up on ("trying the next"). The job's relay becomes
 * "host[address]:port" for a named host. The route is copied into the run
 * (struct deliver_nexthop), since a reload frees the config it came from.
 * The callback is never called from inside deliver_hop_run().
 */
#ifndef AVAL_DELIVER_DELIVER_HOP_H
#define AVAL_DELIVER_DELIVER_HOP_H

#include <stdint.h>

#include "common/conf.h"
#include "deliver/deliver.h"

#define DELIVER_HOP_MAX_ADDRS	5	/* Postfix's smtp_mx_address_limit */

struct event_base;
struct deliver_dns;
struct deliver_session_ctx;
struct deliver_tls;

struct deliver_hop_env {
	struct event_base		*base;
	struct deliver_session_ctx	*smtp;
	struct deliver_dns		*dns;	/* NULL: numeric routes only */
	struct deliver_tls		*tls;	/* borrowed; each run refs it */
	unsigned int			 max_addrs; /* 0: DELIVER_HOP_MAX_ADDRS */
};

struct deliver_nexthop {
	enum conf_transport_kind kind;		/* CONF_T_SMTP or CONF_T_LMTP */
	char			 name[DELIVER_HOSTNAME_SIZE]; /* looked up */
	uint16_t		 port;
	int			 mx;		/* look up name's MX records */
	int			 numeric;	/* name is an address */
	char			 nexthop[DELIVER_HOSTNAME_SIZE]; /* secure's name */
};

/* The next hop of a job to domain by route t (smtp or lmtp, TCP). */
void	 deliver_nexthop_set(struct deliver_nexthop *,
	    const struct conf_transport *t, const char *domain);

void	 deliver_hop_run(const struct deliver_hop_env *, struct deliver_job *,
	    const struct deliver_nexthop *, deliver_job_cb, void *);
/* Stops a run: lookups cancelled, session aborted, no callback. */
void	 deliver_hop_abort(struct deliver_job *);

#endif
