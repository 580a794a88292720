/*
 * route - which delivery agent takes a domain's mail, and where to
 *
 * route_lookup() is pure: the config and the domain in, the answer out,
 * no IPC, no clock, so the unit tests call it with configs of their own.
 * The answer is the agent (aval-deliver for the network, aval-local for
 * the mailboxes) and the destination, the name the agent's scheduler
 * keeps a concurrency limit for (queue/sched.h): the next hop a route
 * names, "local" for Maildir, the domain itself for its own MX hosts.
 *
 *	transport kind		agent		destination
 *	smtp			deliver		the domain
 *	smtp HOST:PORT		deliver		"HOST:PORT" (its MX hosts)
 *	smtp [HOST]:PORT	deliver		"[HOST]:PORT"
 *	lmtp [HOST]:PORT	deliver		"lmtp:[HOST]:PORT"
 *	lmtp unix:/PATH		local		"lmtp:unix:/PATH"
 *	discard, error		deliver		"discard", "error" (no connection)
 *	maildir			local		"local"
 *	(none)			deliver		the domain (its MX hosts)
 *
 * A new transport kind is one more case in route_lookup(): the compiler
 * names the switch that lacks it.
 *
 * Returns 1 routed by a transport, 0 no transport (agent and destination
 * still set, as above), -1 when dest is too small (nothing usable).
 */
#ifndef AVAL_QUEUE_ROUTE_H
#define AVAL_QUEUE_ROUTE_H

#include <stddef.h>

#include "common/ipc_types.h"

struct conf;

enum route_agent {
	ROUTE_DELIVER = 0,		/* aval-deliver: SMTP to the network */
	ROUTE_LOCAL,			/* aval-local: the mailboxes */
};
#define ROUTE_AGENTS	2		/* one scheduler each */

#define ROUTE_DEST_MAX	300		/* "[v6 address]:port", a domain */

int		 route_lookup(const struct conf *, const char *domain,
		    enum route_agent *, char *dest, size_t destlen);
const char	*route_agent_name(enum route_agent);	/* "deliver", "local" */
enum proc_kind	 route_agent_proc(enum route_agent);	/* its process kind */

#endif
