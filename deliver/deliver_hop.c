/*
 * deliver_hop - from a job's route to the hosts that get it, in order
 *
 * See deliver_hop.h. One struct deliver_hop per running job (job->hop):
 * the route copied, the DNS query in flight, the addresses to try and
 * which is next. The session (deliver_session.c) knows nothing of MX
 * hosts; it relays to one address and reports, and this file decides
 * whether the next address gets a turn.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_dns.h"
#include "deliver/deliver_hop.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_session.h"
#include "deliver/deliver_tls.h"

struct deliver_hop_cand {
	char		 host[DELIVER_DNS_NAMELEN];	/* "" for an address */
	char		 cname[DELIVER_DNS_NAMELEN];	/* host, CNAMEs followed */
	char		 addr[INET6_ADDRSTRLEN];
	int		 secure;			/* DNSSEC all the way */
};

struct deliver_hop {
	struct deliver_hop_env	 env;		/* env.tls: our reference */
	struct deliver_job	*job;
	deliver_job_cb		 cb;
	void			*arg;
	struct deliver_nexthop	 nh;
	struct deliver_dns_query *q;		/* the lookup in flight, or NULL */
	int			 tlsa_orig;	/* asking for the host's own name */
	struct event		*ev;		/* the first try, from the loop */
	size_t			 ncand, next;
	struct deliver_hop_cand	 cand[DELIVER_HOP_MAX_ADDRS];
};

static void	deliver_hop_try(struct deliver_hop *);

/* deliver_nexthop_set - the part of a route a run needs, copied */
void
deliver_nexthop_set(struct deliver_nexthop *nh, const struct conf_transport *t,
    const char *domain)
{
	memset(nh, 0, sizeof(*nh));
	nh->kind = t->kind;
	nh->port = t->port != 0 ? t->port : 25;
	nh->mx = t->mx;
	nh->numeric = t->numeric;
	strlcpy(nh->name, t->host != NULL ? t->host : domain, sizeof(nh->name));
	/* secure checks the next-hop domain: the route's host, if named. */
	strlcpy(nh->nexthop, t->host != NULL && !t->numeric ? t->host : domain,
	    sizeof(nh->nexthop));
}

/* deliver_hop_free - the job lets go of its run */
static void
deliver_hop_free(struct deliver_hop *h)
{
	h->job->hop = NULL;
	deliver_tls_unref(h->env.tls);
	if (h->ev != NULL)
		event_free(h->ev);
	free(h);
}

/* deliver_hop_end - the run is over: hand the job back, last of all */
static void
deliver_hop_end(struct deliver_hop *h)
{
	struct deliver_job	*job = h->job;
	deliver_job_cb		 cb = h->cb;
	void			*arg = h->arg;

	deliver_hop_free(h);
	cb(job, arg);
}

/*
 * deliver_hop_policy - the TLS policy for this host: the engine's answer,
 * with the names a verifying level checks when the policy lists none:
 * verify, the host's name (its address for a numeric route); secure, the
 * next-hop domain
 */
static void
deliver_hop_policy(struct deliver_hop *h, const struct deliver_hop_cand *c)
{
	struct deliver_policy	*p = &h->job->policy;

	deliver_tls_dane_clear(p);		/* the previous host's TLSA */
	deliver_tls_policy(h->env.tls, h->job->domain, p);
	if (p->match[0] != '\0' || !deliver_tls_verifies(p->level))
		return;
	strlcpy(p->match, p->level == CONF_TLS_SECURE ? h->nh.nexthop :
	    c->host[0] != '\0' ? c->host : c->addr, sizeof(p->match));
}

/*
 * deliver_hop_done - the session is through with one address: the next
 * one gets a turn when no MAIL command went out (job->t_conn is set with
 * the first), so nothing happened that another host could not change
 */
static void
deliver_hop_done(struct deliver_job *job, void *arg)
{
	struct deliver_hop		*h = arg;
	const struct deliver_hop_cand	*c = &h->cand[h->next - 1];

	if (c->host[0] != '\0' && strcmp(job->relay, "none") != 0 &&
	    strchr(job->relay, '[') == job->relay) {
		char	relay[DELIVER_RELAY_SIZE];

		snprintf(relay, sizeof(relay), "%s%s", c->host, job->relay);
		strlcpy(job->relay, relay, sizeof(job->relay));
	}
	if (h->next < h->ncand && !timerisset(&job->t_conn)) {
		log_info("%s: relay=%s[%s]:%u, %s; trying the next address",
		    job->qid, c->host, c->addr, (unsigned)h->nh.port,
		    job->rcpts[0].text);
		deliver_job_reset(job);
		deliver_hop_try(h);
		return;
	}
	deliver_hop_end(h);
}

/* deliver_hop_connect - the policy is settled: relay to the address */
static void
deliver_hop_connect(struct deliver_hop *h)
{
	const struct deliver_hop_cand	*c = &h->cand[h->next - 1];

	deliver_session_start(h->env.smtp, h->job, c->addr, h->nh.port,
	    deliver_hop_done, h);
}

/*
 * deliver_hop_tlsa_done - the host's TLSA records are in (RFC 7672 2.2):
 * they make the policy dane or encrypt, or leave it, or (a lookup that
 * failed for a signed zone) keep this host from getting the mail at all
 */
static void
deliver_hop_tlsa_done(const struct deliver_dns_tlsa *tlsa, void *arg)
{
	struct deliver_hop		*h = arg;
	struct deliver_job		*job = h->job;
	const struct deliver_hop_cand	*c = &h->cand[h->next - 1];
	const char			*base;
	enum deliver_dane_verdict	 v;
	char				 text[DELIVER_TEXT_MAX];

	h->q = NULL;
	base = h->tlsa_orig ? c->host : c->cname;
	/* 2.2.2: no records at the expanded name: the original name's. */
	if (tlsa->status == DELIVER_DNS_NONE && !h->tlsa_orig &&
	    strcmp(c->cname, c->host) != 0) {
		h->tlsa_orig = 1;
		h->q = deliver_dns_tlsa(h->env.dns, c->host, h->nh.port,
		    deliver_hop_tlsa_done, h);
		return;
	}
	v = deliver_tls_dane_apply(&job->policy, tlsa, base, c->host,
	    h->nh.nexthop);
	log_debug("%s: %s: TLSA %s: %s", job->qid, c->host,
	    tlsa->qname != NULL ? tlsa->qname : base,
	    deliver_tls_dane_verdict_name(v));
	if (v != DELIVER_DANE_DEFER) {
		deliver_hop_connect(h);
		return;
	}
	snprintf(text, sizeof(text), "TLSA lookup for %s: %s", tlsa->qname,
	    tlsa->reason);
	deliver_job_fail(job, DELIVER_DEFERRED, "4.7.5", text);
	snprintf(job->relay, sizeof(job->relay), "%s[%s]:%u", c->host,
	    c->addr, (unsigned)h->nh.port);
	deliver_hop_done(job, h);
}

/*
 * deliver_hop_federation - a member's domain: its mail waits while the
 * bundle says so (expired, stale CRL, none yet), and goes only to an MX
 * host the member registered, so a spoofed MX record gets no connection
 * at all. 0 to connect, -1 when the job has been given its verdict.
 */
static int
deliver_hop_federation(struct deliver_hop *h, const struct deliver_hop_cand *c)
{
	struct deliver_job	*job = h->job;
	const char		*member = job->policy.member;
	struct deliver_fed_note	 n;
	char			 text[DELIVER_TEXT_MAX];

	snprintf(job->relay, sizeof(job->relay), "%s[%s]:%u", c->host[0] ?
	    c->host : "", c->addr, (unsigned)h->nh.port);
	if (job->policy.hold[0] != '\0') {
		snprintf(text, sizeof(text), "federation: mail for %s waits: %s",
		    member[0] != '\0' ? member : job->domain,
		    job->policy.hold);
		log_info("%s: to domain %s, policy=federation, member=%s, "
		    "reason=%s: %s", job->qid, job->domain, member[0] ?
		    member : "-", job->policy.hold_reason, job->policy.hold);
		if (member[0] != '\0') {
			memset(&n, 0, sizeof(n));
			n.member = member;
			n.version = "";
			n.failure = job->policy.hold_reason;
			deliver_session_fed_note(h->env.smtp, &n);
		}
		deliver_job_fail(job, DELIVER_DEFERRED, "4.7.5", text);
		deliver_hop_end(h);
		return -1;
	}
	if (deliver_tls_fed_mx(h->env.tls, member, c->host))
		return 0;
	if (c->host[0] == '\0')
		snprintf(text, sizeof(text), "federation: %s is a numeric "
		    "route, and member %s's mail goes only to the MX hosts it "
		    "registered", c->addr, member);
	else
		snprintf(text, sizeof(text), "federation: MX host %s is not "
		    "one that member %s registered (a spoofed MX record?); "
		    "not connecting", c->host, member);
	log_info("%s: relay=%s, policy=federation, member=%s, "
	    "reason=not-registered: %s", job->qid, job->relay, member, text);
	memset(&n, 0, sizeof(n));
	n.member = member;
	n.version = "";
	n.failure = "not-registered";
	deliver_session_fed_note(h->env.smtp, &n);
	deliver_job_fail(job, DELIVER_DEFERRED, "4.7.5", text);
	deliver_hop_done(job, h);
	return -1;
}

/*
 * deliver_hop_try - the next address: its TLS policy, with DANE's TLSA
 * lookup first where DNSSEC vouches for the host (RFC 7672 2.2.1), then
 * the connection
 */
static void
deliver_hop_try(struct deliver_hop *h)
{
	const struct deliver_hop_cand	*c = &h->cand[h->next++];

	deliver_hop_policy(h, c);
	if (h->job->policy.level == CONF_TLS_FEDERATION &&
	    deliver_hop_federation(h, c) == -1)
		return;
	if (c->host[0] != '\0' && c->secure && h->env.dns != NULL &&
	    deliver_dns_validates(h->env.dns) == 1 &&
	    deliver_tls_dane_wanted(&h->job->policy)) {
		h->tlsa_orig = 0;
		h->q = deliver_dns_tlsa(h->env.dns, c->cname, h->nh.port,
		    deliver_hop_tlsa_done, h);
		return;
	}
	deliver_hop_connect(h);
}

/* deliver_hop_first - a numeric route starts from the loop */
static void
deliver_hop_first(evutil_socket_t fd, short ev, void *arg)
{
	struct deliver_hop	*h = arg;

	(void)fd;
	(void)ev;
	if (h->ncand == 0) {
		deliver_hop_end(h);
		return;
	}
	deliver_hop_try(h);
}

/* deliver_hop_later - end or start from the loop, never from _run() */
static void
deliver_hop_later(struct deliver_hop *h)
{
	struct timeval	 tv = { 0, 0 };

	if ((h->ev = evtimer_new(h->env.base, deliver_hop_first, h)) == NULL ||
	    evtimer_add(h->ev, &tv) == -1)
		fatalx("%s: evtimer", __func__);
}

/* deliver_hop_routed - DNS has answered: the addresses, or the verdict */
static void
deliver_hop_routed(const struct deliver_dns_route *r, void *arg)
{
	struct deliver_hop		*h = arg;
	struct deliver_job		*job = h->job;
	const struct deliver_dns_host	*dh;
	struct deliver_hop_cand		*c;
	char				 text[DELIVER_TEXT_MAX];
	size_t				 i, j, max;

	h->q = NULL;
	switch (r->status) {
	case DELIVER_DNS_OK:
		break;
	case DELIVER_DNS_NULLMX:
	case DELIVER_DNS_NXDOMAIN:
	case DELIVER_DNS_NOHOST:
		snprintf(text, sizeof(text), "%s", r->reason);
		log_info("%s: %s", job->qid, r->reason);
		deliver_job_fail(job, DELIVER_BOUNCED, r->status ==
		    DELIVER_DNS_NULLMX ? "5.1.10" : "5.1.2", text);
		deliver_hop_end(h);
		return;
	default:
		snprintf(text, sizeof(text), "%s", r->reason);
		log_info("%s: %s; deferred", job->qid, r->reason);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.4.3", text);
		deliver_hop_end(h);
		return;
	}
	if (r->notes != NULL && r->notes[0] != '\0')
		log_info("%s: %s: %s", job->qid, h->nh.name, r->notes);

	max = h->env.max_addrs != 0 && h->env.max_addrs <
	    DELIVER_HOP_MAX_ADDRS ? h->env.max_addrs : DELIVER_HOP_MAX_ADDRS;
	for (i = 0; i < r->nhosts && h->ncand < max; i++) {
		dh = &r->hosts[i];
		for (j = 0; j < dh->naddrs && h->ncand < max; j++) {
			c = &h->cand[h->ncand++];
			strlcpy(c->host, dh->name, sizeof(c->host));
			strlcpy(c->cname, dh->cname[0] != '\0' ? dh->cname :
			    dh->name, sizeof(c->cname));
			strlcpy(c->addr, dh->addrs[j].text, sizeof(c->addr));
			c->secure = dh->secure;
		}
	}
	if (h->ncand == 0) {
		/* deliver_dns.h promises an address with OK: be safe anyway. */
		log_warnx("%s: %s: DNS said OK but gave no address", job->qid,
		    h->nh.name);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.4.3", "no address "
		    "for the next hop");
		deliver_hop_end(h);
		return;
	}
	deliver_hop_try(h);
}

/* deliver_hop_run - find the hosts of job's route, then relay to them */
void
deliver_hop_run(const struct deliver_hop_env *env, struct deliver_job *job,
    const struct deliver_nexthop *nh, deliver_job_cb cb, void *arg)
{
	struct deliver_hop	*h;

	h = xcalloc(1, sizeof(*h));
	h->env = *env;
	deliver_tls_ref(h->env.tls);
	h->job = job;
	h->cb = cb;
	h->arg = arg;
	h->nh = *nh;
	job->hop = h;
	if (nh->numeric) {
		strlcpy(h->cand[0].addr, nh->name, sizeof(h->cand[0].addr));
		h->ncand = 1;
		deliver_hop_later(h);
		return;
	}
	if (env->dns == NULL) {
		deliver_job_fail(job, DELIVER_DEFERRED, "4.4.3", "no DNS "
		    "resolver in this deliverer");
		deliver_hop_later(h);
		return;
	}
	h->q = deliver_dns_route(env->dns, nh->name, nh->mx,
	    deliver_hop_routed, h);
}

/* deliver_hop_abort - stop a run; no callback */
void
deliver_hop_abort(struct deliver_job *job)
{
	struct deliver_hop	*h = job->hop;

	if (h == NULL)
		return;
	deliver_dns_cancel(h->q);
	if (job->session != NULL)
		deliver_session_abort(job);
	deliver_hop_free(h);
}
