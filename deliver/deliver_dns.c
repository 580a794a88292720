/*
 * deliver_dns - asynchronous, validating DNS for aval-deliver (libunbound)
 *
 * See deliver_dns.h for the contract. Inside: a query (route, TLSA or
 * probe) owns a list of lookups, one per libunbound request, each with its
 * own timer. A lookup ends by its answer (from ub_process(), called by the
 * ub_fd read event) or by its timer; when a query's last lookup ends, the
 * query builds its result, calls back once and is freed. A route's MX
 * answer starts the address lookups of its hosts. The libunbound context
 * itself (options, resolver, trust anchors, the ub_fd event) and the
 * sorting of an answer into data, NODATA, NXDOMAIN or temporary are
 * common/dnsctx.h's, shared with smtpd's whitelist lookups.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "common/dnsctx.h"
#include "common/dnsname.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver_dns.h"

#define DNS_T_A		1
#define DNS_T_MX	15
#define DNS_T_AAAA	28
#define DNS_T_DNSKEY	48
#define DNS_T_TLSA	52
#define DNS_C_IN	1

#define DNS_DEFAULT_TIMEOUT_MS	10000
#define DNS_NOTES_MAX		1024

enum dns_kind { DNS_Q_ROUTE, DNS_Q_TLSA, DNS_Q_PROBE };

/* dns_lookup.host: a route's host index, or one of these. */
#define DNS_L_MAIN	(-1)	/* the MX, TLSA or probe lookup itself */
#define DNS_L_BADNAME	(-2)	/* never asked: the name is not one */
#define DNS_L_NOANCHOR	(-3)	/* never asked: no trust anchor to probe */

/* What one lookup came to. */
enum dns_outcome { DNS_O_PENDING, DNS_O_DATA, DNS_O_NODATA, DNS_O_NXDOMAIN,
	DNS_O_TEMP };

struct deliver_dns_query;

struct dns_lookup {
	TAILQ_ENTRY(dns_lookup)	 entry;
	struct deliver_dns_query *q;
	struct event		*timer;
	int			 id;		/* libunbound's async id */
	int			 inflight;	/* id is live in libunbound */
	int			 rrtype;
	int			 host;		/* route: index, -1: the MX */
	char			 name[DELIVER_DNS_NAMELEN];
	enum dns_outcome	 outcome;
	int			 secure;
	struct ub_result	*res;		/* kept until the query ends */
	char			 why[DELIVER_DNS_REASONLEN];
};

struct deliver_dns_query {
	TAILQ_ENTRY(deliver_dns_query) entry;
	struct deliver_dns	*dns;
	enum dns_kind		 kind;
	TAILQ_HEAD(, dns_lookup) lookups;
	size_t			 pending;
	int			 mx;		/* route: the caller asked MX */
	char			 name[DELIVER_DNS_NAMELEN];
	char			 cname[DELIVER_DNS_NAMELEN]; /* route */
	union {
		deliver_dns_route_cb	 route;
		deliver_dns_tlsa_cb	 tlsa;
		deliver_dns_probe_cb	 probe;
	} cb;
	void			*arg;
	struct deliver_dns_route *route;	/* route: the result built */
	char			 reason[DELIVER_DNS_REASONLEN];
	char			 notes[DNS_NOTES_MAX];
};

struct deliver_dns {
	struct event_base	*base;
	struct dnsctx		*dc;
	struct ub_ctx		*ctx;		/* dc's */
	unsigned int		 timeout_ms;
	int			 validates;
	uint32_t		(*random)(void *);
	void			*random_arg;
	TAILQ_HEAD(, deliver_dns_query) queries;
};

static void	 deliver_dns_lookup_done(struct dns_lookup *);
static void	 deliver_dns_query_end(struct deliver_dns_query *);

/* The names and rdata decoders are in deliver_dns_name.c. */

/* deliver_dns_status_name - for logs and tests */
const char *
deliver_dns_status_name(enum deliver_dns_status s)
{
	switch (s) {
	case DELIVER_DNS_OK:		return "OK";
	case DELIVER_DNS_NXDOMAIN:	return "NXDOMAIN";
	case DELIVER_DNS_NULLMX:	return "NULLMX";
	case DELIVER_DNS_NOHOST:	return "NOHOST";
	case DELIVER_DNS_NONE:		return "NONE";
	case DELIVER_DNS_TEMP:		return "TEMP";
	}
	return "?";
}

static const char *
deliver_dns_type_name(int t)
{
	switch (t) {
	case DNS_T_A:		return "A";
	case DNS_T_MX:		return "MX";
	case DNS_T_AAAA:	return "AAAA";
	case DNS_T_DNSKEY:	return "DNSKEY";
	case DNS_T_TLSA:	return "TLSA";
	}
	return "?";
}

/* Append one "; "-separated note, truncating quietly (notes are for logs). */
static void
deliver_dns_note(struct deliver_dns_query *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
deliver_dns_note(struct deliver_dns_query *q, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 n = strlen(q->notes);

	if (n + 3 >= sizeof(q->notes))
		return;
	if (n > 0) {
		memcpy(q->notes + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(q->notes + n, sizeof(q->notes) - n, fmt, ap);
	va_end(ap);
	log_debug("dns: %s", q->notes + n);
}

/* --- set-up ------------------------------------------------------------ */

static uint32_t
deliver_dns_arc4random(void *arg)
{
	(void)arg;
	return arc4random();
}

/* deliver_dns_new - a resolver context; reads every file it will need */
struct deliver_dns *
deliver_dns_new(struct event_base *base, const struct deliver_dns_conf *conf,
    char *err, size_t errlen)
{
	struct deliver_dns	*dns;
	struct dnsctx_conf	 dc;

	dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	dns->validates = -1;
	dns->timeout_ms = conf->timeout_ms ? conf->timeout_ms :
	    DNS_DEFAULT_TIMEOUT_MS;
	dns->random = conf->random ? conf->random : deliver_dns_arc4random;
	dns->random_arg = conf->random_arg;
	TAILQ_INIT(&dns->queries);
	memset(&dc, 0, sizeof(dc));
	dc.resolver = conf->resolver;
	dc.trust_anchor_file = conf->trust_anchor_file;
	dc.resolv_conf = conf->resolv_conf;
	if ((dns->dc = dnsctx_new(base, &dc, err, errlen)) == NULL) {
		free(dns);
		return NULL;
	}
	dns->ctx = dnsctx_ub(dns->dc);
	return dns;
}

/* deliver_dns_free - cancel every query without calling back, stop libunbound */
void
deliver_dns_free(struct deliver_dns *dns)
{
	struct deliver_dns_query	*q;

	if (dns == NULL)
		return;
	while ((q = TAILQ_FIRST(&dns->queries)) != NULL)
		deliver_dns_cancel(q);
	dnsctx_free(dns->dc);
	free(dns);
}

/* deliver_dns_pending - queries in flight */
size_t
deliver_dns_pending(const struct deliver_dns *dns)
{
	const struct deliver_dns_query	*q;
	size_t				 n = 0;

	TAILQ_FOREACH(q, &dns->queries, entry)
		n++;
	return n;
}

/* deliver_dns_validates - the last probe's answer, -1 before one */
int
deliver_dns_validates(const struct deliver_dns *dns)
{
	return dns->validates;
}

/* --- lookups ----------------------------------------------------------- */

static void
deliver_dns_timeout_text(unsigned int ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%u s", ms / 1000);
	else
		snprintf(buf, len, "%u.%03u s", ms / 1000, ms % 1000);
}

/* Sort one libunbound answer into the outcomes that matter. */
static void
deliver_dns_classify(struct dns_lookup *l, int err, struct ub_result *res)
{
	switch (dnsctx_classify(err, res, deliver_dns_type_name(l->rrtype),
	    l->name, &l->secure, l->why, sizeof(l->why))) {
	case DNSCTX_O_DATA:
		l->outcome = DNS_O_DATA;
		break;
	case DNSCTX_O_NODATA:
		l->outcome = DNS_O_NODATA;
		break;
	case DNSCTX_O_NXDOMAIN:
		l->outcome = DNS_O_NXDOMAIN;
		break;
	case DNSCTX_O_TEMP:
		l->outcome = DNS_O_TEMP;
		break;
	}
}

static void
deliver_dns_answer(void *arg, int err, struct ub_result *res)
{
	struct dns_lookup	*l = arg;

	l->inflight = 0;
	deliver_dns_classify(l, err, res);
	l->res = res;
	deliver_dns_lookup_done(l);
}

static void
deliver_dns_expired(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup	*l = arg;
	char			 t[32];

	(void)fd;
	(void)what;
	if (l->outcome != DNS_O_PENDING) {
		/* ub_resolve_async() failed at once: report it from here. */
		deliver_dns_lookup_done(l);
		return;
	}
	if (l->inflight)
		(void)ub_cancel(l->q->dns->ctx, l->id);
	l->inflight = 0;
	deliver_dns_timeout_text(l->q->dns->timeout_ms, t, sizeof(t));
	l->outcome = DNS_O_TEMP;
	snprintf(l->why, sizeof(l->why), "%s lookup for %s: timed out after %s",
	    deliver_dns_type_name(l->rrtype), l->name, t);
	deliver_dns_lookup_done(l);
}

static struct dns_lookup *
deliver_dns_lookup_new(struct deliver_dns_query *q, const char *name,
    int rrtype, int host)
{
	struct dns_lookup	*l;

	l = xcalloc(1, sizeof(*l));
	l->q = q;
	l->rrtype = rrtype;
	l->host = host;
	strlcpy(l->name, name, sizeof(l->name));
	TAILQ_INSERT_TAIL(&q->lookups, l, entry);
	q->pending++;
	if ((l->timer = evtimer_new(q->dns->base, deliver_dns_expired, l)) ==
	    NULL)
		fatalx("dns: evtimer_new");
	return l;
}

/*
 * A lookup that fails without asking (a name that cannot be asked, a probe
 * without anchor): it ends from its timer at once, so that no callback
 * runs inside the caller's call.
 */
static void
deliver_dns_lookup_fail(struct deliver_dns_query *q, int rrtype, int host,
    const char *why)
{
	struct dns_lookup	*l;
	struct timeval		 tv = { 0, 0 };

	l = deliver_dns_lookup_new(q, ".", rrtype, host);
	l->outcome = DNS_O_TEMP;
	strlcpy(l->why, why, sizeof(l->why));
	evtimer_add(l->timer, &tv);
}

/* Start one libunbound request for q; its answer or timer ends it. */
static void
deliver_dns_lookup(struct deliver_dns_query *q, const char *name, int rrtype,
    int host)
{
	struct dns_lookup	*l;
	struct timeval		 tv;
	int			 rc;

	l = deliver_dns_lookup_new(q, name, rrtype, host);
	rc = ub_resolve_async(q->dns->ctx, name, rrtype, DNS_C_IN, l,
	    deliver_dns_answer, &l->id);
	if (rc != 0) {
		/* Never call back from inside the caller's call. */
		l->outcome = DNS_O_TEMP;
		snprintf(l->why, sizeof(l->why), "%s lookup for %s: resolver "
		    "error: %s", deliver_dns_type_name(rrtype), name,
		    ub_strerror(rc));
		tv.tv_sec = 0;
		tv.tv_usec = 0;
	} else {
		l->inflight = 1;
		tv.tv_sec = q->dns->timeout_ms / 1000;
		tv.tv_usec = (q->dns->timeout_ms % 1000) * 1000;
	}
	evtimer_add(l->timer, &tv);
}

static struct deliver_dns_query *
deliver_dns_query_new(struct deliver_dns *dns, enum dns_kind kind,
    const char *name, void *arg)
{
	struct deliver_dns_query	*q;

	q = xcalloc(1, sizeof(*q));
	q->dns = dns;
	q->kind = kind;
	q->arg = arg;
	strlcpy(q->name, name, sizeof(q->name));
	TAILQ_INIT(&q->lookups);
	TAILQ_INSERT_TAIL(&dns->queries, q, entry);
	return q;
}

static void
deliver_dns_query_free(struct deliver_dns_query *q)
{
	struct dns_lookup	*l;

	while ((l = TAILQ_FIRST(&q->lookups)) != NULL) {
		TAILQ_REMOVE(&q->lookups, l, entry);
		if (l->inflight)
			(void)ub_cancel(q->dns->ctx, l->id);
		event_free(l->timer);
		if (l->res != NULL)
			ub_resolve_free(l->res);
		free(l);
	}
	TAILQ_REMOVE(&q->dns->queries, q, entry);
	free(q->route);
	free(q);
}

/* deliver_dns_cancel - forget a query; its callback is never called */
void
deliver_dns_cancel(struct deliver_dns_query *q)
{
	if (q != NULL)
		deliver_dns_query_free(q);
}

/* --- routes ------------------------------------------------------------ */

struct dns_mx {
	unsigned int	 pref;
	uint32_t	 key;		/* random order among equals */
	char		 name[DELIVER_DNS_NAMELEN];
};

static int
deliver_dns_mx_before(const struct dns_mx *a, const struct dns_mx *b)
{
	return a->pref < b->pref || (a->pref == b->pref && a->key < b->key);
}

static int
deliver_dns_is_ip(const char *s)
{
	unsigned char	 bin[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, bin) == 1 ||
	    inet_pton(AF_INET6, s, bin) == 1;
}

static void
deliver_dns_host_start(struct deliver_dns_query *q, size_t i)
{
	deliver_dns_lookup(q, q->route->hosts[i].name, DNS_T_A, (int)i);
	deliver_dns_lookup(q, q->route->hosts[i].name, DNS_T_AAAA, (int)i);
}

/*
 * The MX answer: pick the DELIVER_DNS_MAX_HOSTS most preferred of however
 * many records came (an insertion into a sorted array of ten), then start
 * their address lookups. A null MX alone is NULLMX; "." or an IP address
 * beside others is skipped.
 */
static void
deliver_dns_route_mx(struct deliver_dns_query *q, struct dns_lookup *l)
{
	struct deliver_dns_route *r = q->route;
	struct dns_mx		 best[DELIVER_DNS_MAX_HOSTS], mx;
	size_t			 nbest = 0, nrec, i, j;
	char			 canon[DELIVER_DNS_NAMELEN];

	if (l->res->canonname == NULL ||
	    dnsname_text(l->res->canonname, canon, sizeof(canon)) == -1)
		strlcpy(canon, q->name, sizeof(canon));
	strlcpy(q->cname, canon, sizeof(q->cname));
	r->mx_secure = l->secure;
	if (l->outcome == DNS_O_NODATA) {
		/* RFC 5321 5.1: no MX, the domain is its own host. */
		r->from_mx = 0;
		strlcpy(r->hosts[0].name, canon, sizeof(r->hosts[0].name));
		r->hosts[0].pref = 0;
		r->nhosts = 1;
		deliver_dns_host_start(q, 0);
		return;
	}
	r->from_mx = 1;
	for (nrec = 0; l->res->data[nrec] != NULL; nrec++)
		;
	for (i = 0; i < nrec; i++) {
		if (deliver_dns_rdata_mx((const unsigned char *)
		    l->res->data[i], (size_t)l->res->len[i], &mx.pref, mx.name,
		    sizeof(mx.name)) == -1) {
			deliver_dns_note(q, "MX record %zu of %s: not a host "
			    "name, skipped", i + 1, q->name);
			continue;
		}
		if (mx.name[0] == '\0') {
			if (nrec == 1) {
				r->status = DELIVER_DNS_NULLMX;
				snprintf(q->reason, sizeof(q->reason), "%s "
				    "accepts no mail (null MX, RFC 7505)",
				    q->name);
				return;
			}
			deliver_dns_note(q, "MX \".\" of %s beside other MX "
			    "records, skipped", q->name);
			continue;
		}
		if (deliver_dns_is_ip(mx.name)) {
			deliver_dns_note(q, "MX %s of %s is an IP address, "
			    "not a host name, skipped", mx.name, q->name);
			continue;
		}
		mx.key = q->dns->random(q->dns->random_arg);
		if (nbest == DELIVER_DNS_MAX_HOSTS) {
			r->ncapped++;
			if (!deliver_dns_mx_before(&mx, &best[nbest - 1]))
				continue;
			nbest--;
		}
		for (j = nbest; j > 0 && deliver_dns_mx_before(&mx,
		    &best[j - 1]); j--)
			best[j] = best[j - 1];
		best[j] = mx;
		nbest++;
	}
	if (r->ncapped > 0)
		deliver_dns_note(q, "%s has %zu MX records, kept the %d most "
		    "preferred", q->name, nrec, DELIVER_DNS_MAX_HOSTS);
	if (nbest == 0) {
		r->status = DELIVER_DNS_NOHOST;
		snprintf(q->reason, sizeof(q->reason), "MX lookup for %s: no "
		    "usable MX host", q->name);
		return;
	}
	for (i = 0; i < nbest; i++) {
		strlcpy(r->hosts[i].name, best[i].name,
		    sizeof(r->hosts[i].name));
		r->hosts[i].pref = best[i].pref;
	}
	r->nhosts = nbest;
	for (i = 0; i < nbest; i++)
		deliver_dns_host_start(q, i);
}

static void
deliver_dns_host_addrs(struct deliver_dns_host *h, const struct dns_lookup *l)
{
	struct deliver_dns_addr	*a;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	size_t			 i, n = 0, want;
	int			 af = l->rrtype == DNS_T_A ? AF_INET : AF_INET6;

	want = af == AF_INET ? 4 : 16;
	for (i = 0; l->res->data[i] != NULL; i++) {
		if ((size_t)l->res->len[i] != want)
			continue;
		if (n == DELIVER_DNS_MAX_ADDRS)
			break;
		a = &h->addrs[h->naddrs];
		memset(a, 0, sizeof(*a));
		a->family = af;
		if (af == AF_INET) {
			sin = (struct sockaddr_in *)&a->sa;
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, l->res->data[i], 4);
			a->salen = sizeof(*sin);
			inet_ntop(AF_INET, &sin->sin_addr, a->text,
			    sizeof(a->text));
		} else {
			sin6 = (struct sockaddr_in6 *)&a->sa;
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, l->res->data[i], 16);
			a->salen = sizeof(*sin6);
			inet_ntop(AF_INET6, &sin6->sin6_addr, a->text,
			    sizeof(a->text));
		}
		h->naddrs++;
		n++;
	}
}

/* All address lookups are in: keep the hosts that resolved, in order. */
static void
deliver_dns_route_finish(struct deliver_dns_query *q)
{
	struct deliver_dns_route *r = q->route;
	struct dns_lookup	*l, *a[2];
	struct deliver_dns_host	*h;
	char			 canon[DELIVER_DNS_NAMELEN];
	const char		*temp = NULL;
	size_t			 i, k, keep = 0;
	int			 nx = 0, secure, tmp;

	for (i = 0; i < r->nhosts; i++) {
		h = &r->hosts[i];
		a[0] = a[1] = NULL;
		TAILQ_FOREACH(l, &q->lookups, entry)
			if (l->host == (int)i)
				a[l->rrtype == DNS_T_A ? 0 : 1] = l;
		strlcpy(h->cname, h->name, sizeof(h->cname));
		/* With an MX lookup, its answer (records or NODATA) counts. */
		secure = q->mx ? r->mx_secure : 1;
		tmp = 0;
		h->naddrs = 0;
		for (k = 0; k < 2; k++) {
			l = a[k];
			if (l == NULL)
				continue;
			secure = secure && l->secure;
			if (l->outcome == DNS_O_TEMP) {
				tmp = 1;
				if (temp == NULL)
					temp = l->why;
				continue;
			}
			if (l->outcome == DNS_O_NXDOMAIN)
				nx = 1;
			if (l->res != NULL && l->res->canonname != NULL &&
			    dnsname_text(l->res->canonname, canon,
			    sizeof(canon)) == 0)
				strlcpy(h->cname, canon, sizeof(h->cname));
			if (l->outcome == DNS_O_DATA)
				deliver_dns_host_addrs(h, l);
		}
		h->secure = secure;
		if (h->naddrs == 0) {
			if (tmp)
				r->ntemp++;
			deliver_dns_note(q, "host %s: %s, skipped", h->name,
			    tmp ? (a[0] && a[0]->outcome == DNS_O_TEMP ?
			    a[0]->why : a[1]->why) : "no address");
			continue;
		}
		if (tmp)
			deliver_dns_note(q, "host %s: %s (kept with the other "
			    "family)", h->name, a[0]->outcome == DNS_O_TEMP ?
			    a[0]->why : a[1]->why);
		if (keep != i)
			r->hosts[keep] = *h;
		keep++;
	}
	r->nhosts = keep;
	if (keep > 0) {
		if (r->ntemp > 0)
			deliver_dns_note(q, "%zu host(s) of %s dropped for now",
			    r->ntemp, q->name);
		r->status = DELIVER_DNS_OK;
	} else if (temp != NULL) {
		r->status = DELIVER_DNS_TEMP;
		strlcpy(q->reason, temp, sizeof(q->reason));
	} else if (!q->mx && nx) {
		r->status = DELIVER_DNS_NXDOMAIN;
		snprintf(q->reason, sizeof(q->reason), "%s: no such domain "
		    "(NXDOMAIN)", q->name);
	} else if (r->from_mx) {
		r->status = DELIVER_DNS_NOHOST;
		snprintf(q->reason, sizeof(q->reason), "no MX host of %s has "
		    "an address", q->name);
	} else {
		r->status = DELIVER_DNS_NOHOST;
		snprintf(q->reason, sizeof(q->reason), "%s has no MX and no "
		    "address records", q->name);
	}
}

/* deliver_dns_route - the hosts to try for a next-hop domain, in order */
struct deliver_dns_query *
deliver_dns_route(struct deliver_dns *dns, const char *domain, int mx,
    deliver_dns_route_cb cb, void *arg)
{
	struct deliver_dns_query	*q;
	char				 name[DELIVER_DNS_NAMELEN];
	int				 bad;

	bad = dnsname_text(domain, name, sizeof(name)) == -1;
	q = deliver_dns_query_new(dns, DNS_Q_ROUTE, bad ? "" : name, arg);
	q->cb.route = cb;
	q->mx = mx;
	q->route = xcalloc(1, sizeof(*q->route));
	q->route->domain = q->name;
	if (bad) {
		deliver_dns_lookup_fail(q, DNS_T_MX, DNS_L_BADNAME,
		    "next hop is not a valid domain name");
		return q;
	}
	if (mx)
		deliver_dns_lookup(q, name, DNS_T_MX, DNS_L_MAIN);
	else {
		strlcpy(q->cname, name, sizeof(q->cname));
		strlcpy(q->route->hosts[0].name, name,
		    sizeof(q->route->hosts[0].name));
		q->route->nhosts = 1;
		deliver_dns_host_start(q, 0);
	}
	return q;
}

/* --- TLSA and the probe ------------------------------------------------ */

static void
deliver_dns_tlsa_finish(struct deliver_dns_query *q)
{
	struct deliver_dns_tlsa	 t;
	struct dns_lookup	*l = TAILQ_FIRST(&q->lookups);
	const unsigned char	*p;
	size_t			 i, len;

	memset(&t, 0, sizeof(t));
	t.qname = q->name;
	t.secure = l->secure;
	switch (l->outcome) {
	case DNS_O_DATA:
		t.status = DELIVER_DNS_OK;
		for (i = 0; l->res->data[i] != NULL; i++) {
			p = (const unsigned char *)l->res->data[i];
			len = (size_t)l->res->len[i];
			if (len < 3 || len - 3 > DELIVER_DNS_MAX_TLSA_DATA) {
				deliver_dns_note(q, "TLSA record %zu of %s: %zu "
				    "octets, skipped", i + 1, q->name, len);
				continue;
			}
			if (t.nrecs == DELIVER_DNS_MAX_TLSA) {
				deliver_dns_note(q, "%s: over %d TLSA records, "
				    "the rest skipped", q->name,
				    DELIVER_DNS_MAX_TLSA);
				break;
			}
			t.recs[t.nrecs].usage = p[0];
			t.recs[t.nrecs].selector = p[1];
			t.recs[t.nrecs].mtype = p[2];
			t.recs[t.nrecs].data = p + 3;
			t.recs[t.nrecs].len = len - 3;
			t.nrecs++;
		}
		break;
	case DNS_O_NODATA:
	case DNS_O_NXDOMAIN:
		t.status = DELIVER_DNS_NONE;
		snprintf(q->reason, sizeof(q->reason), "TLSA lookup for %s: %s",
		    q->name, l->outcome == DNS_O_NXDOMAIN ? "NXDOMAIN" :
		    "no records");
		break;
	default:
		t.status = DELIVER_DNS_TEMP;
		strlcpy(q->reason, l->why, sizeof(q->reason));
		break;
	}
	t.reason = t.status == DELIVER_DNS_OK ? "" : q->reason;
	t.notes = q->notes;
	q->cb.tlsa(&t, q->arg);
}

/* deliver_dns_tlsa - the TLSA RRset of _port._tcp.host */
struct deliver_dns_query *
deliver_dns_tlsa(struct deliver_dns *dns, const char *host, unsigned int port,
    deliver_dns_tlsa_cb cb, void *arg)
{
	struct deliver_dns_query	*q;
	char				 name[DELIVER_DNS_NAMELEN];
	char				 qname[DELIVER_DNS_NAMELEN + 16];
	int				 bad;

	bad = dnsname_text(host, name, sizeof(name)) == -1 ||
	    port == 0 || port > 65535;
	if (!bad)
		bad = snprintf(qname, sizeof(qname), "_%u._tcp.%s", port,
		    name) >= DELIVER_DNS_NAMELEN;
	q = deliver_dns_query_new(dns, DNS_Q_TLSA, bad ? "" : qname, arg);
	q->cb.tlsa = cb;
	if (bad)
		deliver_dns_lookup_fail(q, DNS_T_TLSA, DNS_L_BADNAME,
		    "TLSA lookup: not a valid host name or port");
	else
		deliver_dns_lookup(q, qname, DNS_T_TLSA, DNS_L_MAIN);
	return q;
}

static void
deliver_dns_probe_finish(struct deliver_dns_query *q)
{
	struct deliver_dns	*dns = q->dns;
	struct dns_lookup	*l = TAILQ_FIRST(&q->lookups);
	const char		*r = dnsctx_resolver(dns->dc);

	if (l->host == DNS_L_NOANCHOR) {
		dns->validates = 0;
		log_warnx("dns: resolver %s: no trust anchor configured, "
		    "nothing validates: DANE is off", r);
	} else if (l->outcome == DNS_O_DATA && l->secure) {
		dns->validates = 1;
		log_info("dns: resolver %s: DNSSEC validates (%s DNSKEY is "
		    "secure)", r, l->name);
	} else {
		dns->validates = 0;
		log_warnx("dns: resolver %s: DNSSEC does not validate (%s): "
		    "DANE is off", r, l->outcome == DNS_O_TEMP ?
		    l->why : l->outcome == DNS_O_DATA ? "DNSKEY answer is "
		    "insecure" : "no DNSKEY for the trust anchor");
	}
	q->cb.probe(dns->validates, q->arg);
}

/* deliver_dns_probe - does the resolver validate: DNSKEY of the anchor */
void
deliver_dns_probe(struct deliver_dns *dns, deliver_dns_probe_cb cb, void *arg)
{
	struct deliver_dns_query	*q;
	const char			*owner = dnsctx_anchor_owner(dns->dc);

	q = deliver_dns_query_new(dns, DNS_Q_PROBE, owner, arg);
	q->cb.probe = cb;
	if (owner[0] != '\0')
		deliver_dns_lookup(q, owner, DNS_T_DNSKEY, DNS_L_MAIN);
	else
		deliver_dns_lookup_fail(q, DNS_T_DNSKEY, DNS_L_NOANCHOR,
		    "no trust anchor");
}

/* --- the end of a lookup and of a query -------------------------------- */

static void
deliver_dns_query_end(struct deliver_dns_query *q)
{
	struct deliver_dns_route	*r;

	switch (q->kind) {
	case DNS_Q_ROUTE:
		r = q->route;
		if (r->status == DELIVER_DNS_OK && q->reason[0] == '\0' &&
		    r->nhosts > 0)
			deliver_dns_route_finish(q);
		if (q->cname[0] == '\0')
			strlcpy(q->cname, q->name, sizeof(q->cname));
		r->cname = q->cname;
		r->reason = r->status == DELIVER_DNS_OK ? "" : q->reason;
		r->notes = q->notes;
		q->cb.route(r, q->arg);
		break;
	case DNS_Q_TLSA:
		deliver_dns_tlsa_finish(q);
		break;
	case DNS_Q_PROBE:
		deliver_dns_probe_finish(q);
		break;
	}
	deliver_dns_query_free(q);
}

static void
deliver_dns_lookup_done(struct dns_lookup *l)
{
	struct deliver_dns_query	*q = l->q;
	struct deliver_dns_route	*r = q->route;

	evtimer_del(l->timer);
	q->pending--;
	if (l->host == DNS_L_BADNAME) {
		if (r != NULL) {
			r->status = DELIVER_DNS_TEMP;
			strlcpy(q->reason, l->why, sizeof(q->reason));
		}
	} else if (q->kind == DNS_Q_ROUTE && l->host == DNS_L_MAIN) {
		switch (l->outcome) {
		case DNS_O_DATA:
		case DNS_O_NODATA:
			deliver_dns_route_mx(q, l);
			break;
		case DNS_O_NXDOMAIN:
			r->status = DELIVER_DNS_NXDOMAIN;
			snprintf(q->reason, sizeof(q->reason), "MX lookup for "
			    "%s: no such domain (NXDOMAIN)", q->name);
			break;
		default:
			r->status = DELIVER_DNS_TEMP;
			strlcpy(q->reason, l->why, sizeof(q->reason));
			break;
		}
	}
	if (q->pending == 0)
		deliver_dns_query_end(q);
}
