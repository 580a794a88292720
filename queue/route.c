/*
 * route - which delivery agent takes a domain's mail, and where to
 */
#include <stdio.h>

#include "common/conf.h"
#include "common/log.h"
#include "queue/route.h"

/* route_lookup - the agent and destination of a domain's mail */
int
route_lookup(const struct conf *c, const char *domain,
    enum route_agent *agent, char *dest, size_t destlen)
{
	const struct conf_transport	*t;
	int				 n;

	if ((t = conf_transport_lookup(c, domain)) == NULL) {
		*agent = ROUTE_DELIVER;
		n = snprintf(dest, destlen, "%s", domain);
		return n < 0 || (size_t)n >= destlen ? -1 : 0;
	}
	switch (t->kind) {
	case CONF_T_SMTP:
		*agent = ROUTE_DELIVER;
		if (t->host != NULL)
			n = snprintf(dest, destlen, "%s", t->arg);
		else
			n = snprintf(dest, destlen, "%s", domain);
		return n < 0 || (size_t)n >= destlen ? -1 : 1;
	case CONF_T_LMTP:
		/* A unix socket is a local store's: aval-local has no network. */
		*agent = t->port == 0 ? ROUTE_LOCAL : ROUTE_DELIVER;
		n = snprintf(dest, destlen, "lmtp:%s", t->arg);
		return n < 0 || (size_t)n >= destlen ? -1 : 1;
	case CONF_T_DISCARD:
	case CONF_T_ERROR:
		/* deliver answers these itself, without a connection. */
		*agent = ROUTE_DELIVER;
		n = snprintf(dest, destlen, "%s",
		    conf_transport_kind_name(t->kind));
		return n < 0 || (size_t)n >= destlen ? -1 : 1;
	case CONF_T_MAILDIR:
		*agent = ROUTE_LOCAL;
		n = snprintf(dest, destlen, "local");
		return n < 0 || (size_t)n >= destlen ? -1 : 1;
	}
	/* No default above: -Wswitch names a kind this does not route. */
	fatalx("%s: transport kind %d", __func__, (int)t->kind);
}

/* route_agent_name - for logs and avalctl */
const char *
route_agent_name(enum route_agent a)
{
	switch (a) {
	case ROUTE_DELIVER:	return "deliver";
	case ROUTE_LOCAL:	return "local";
	}
	return "?";
}

/* route_agent_proc - the process kind that is the agent */
enum proc_kind
route_agent_proc(enum route_agent a)
{
	switch (a) {
	case ROUTE_DELIVER:	return PROC_DELIVER;
	case ROUTE_LOCAL:	return PROC_LOCAL;
	}
	fatalx("%s: agent %d", __func__, (int)a);
}
