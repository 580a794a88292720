/*
 * dnswl - federation DNS whitelist lookups (RFC 5782); see dnswl.h
 *
 * Inside: a query asks two libunbound requests, A and TXT, and has one
 * timer, its deadline. The A answer decides: NXDOMAIN or NODATA ends the
 * query as NOTLISTED and a temporary failure as TEMP, whatever the TXT
 * does; a listing waits for the TXT (or the deadline). A query decided
 * before anything was asked (too many in flight, a request libunbound
 * refused) ends from its timer set to zero, so that no callback runs
 * inside dnswl_lookup().
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "common/dnsctx.h"
#include "common/dnsname.h"
#include "common/dnswl.h"
#include "common/fedbundle.h"
#include "common/log.h"
#include "common/xmalloc.h"

_Static_assert(DNSWL_MEMBERLEN == FED_ID_MAX + 1,
    "dnswl: a member id is the bundle's");
_Static_assert(DNSWL_NAMELEN == DNSNAME_MAX + 1,
    "dnswl: a query name is a DNS name");

#define DNS_T_A		1
#define DNS_T_TXT	16
#define DNS_C_IN	1

enum dnswl_rr { DNSWL_RR_A, DNSWL_RR_TXT };

struct dnswl_query;

/* One libunbound request of a query. */
struct dnswl_req {
	struct dnswl_query	*q;
	int			 rrtype;
	int			 id;		/* libunbound's async id */
	int			 inflight;	/* id is live in libunbound */
	int			 done;		/* outcome is set */
	enum dnsctx_outcome	 outcome;
	int			 secure;
	char			 why[DNSWL_REASONLEN];
};

struct dnswl_query {
	TAILQ_ENTRY(dnswl_query) entry;
	struct dnswl		*wl;
	struct event		*timer;
	int			 counted;	/* in wl->pending */
	int			 decided;	/* r final: the timer ends q */
	struct dnswl_req	 req[2];	/* DNSWL_RR_A, DNSWL_RR_TXT */
	int			 listed;	/* the A answer has a listing */
	int			 has_text;	/* r.text is from the TXT */
	dnswl_cb		 cb;
	void			*arg;
	struct dnswl_result	 r;
};

struct dnswl {
	struct event_base	*base;
	struct dnsctx		*dc;
	struct ub_ctx		*ctx;		/* dc's */
	long			 timeout_s;
	size_t			 max;
	size_t			 pending;
	TAILQ_HEAD(, dnswl_query) queries;
};

/* dnswl_status_name - for logs and tests */
const char *
dnswl_status_name(enum dnswl_status s)
{
	switch (s) {
	case DNSWL_LISTED:	return "LISTED";
	case DNSWL_NOTLISTED:	return "NOTLISTED";
	case DNSWL_TEMP:	return "TEMP";
	}
	return "?";
}

/* --- names and TXT ----------------------------------------------------- */

/* dnswl_name - reversed octets or nibbles under the zone */
int
dnswl_name(const struct sockaddr *sa, const char *zone, char *out,
    size_t outlen)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	const unsigned char	*b = NULL;
	char			 z[DNSNAME_MAX + 1], rev[65];
	size_t			 o = 0;
	int			 i, n;

	if (sa == NULL || zone == NULL || outlen == 0 ||
	    dnsname_text(zone, z, sizeof(z)) == -1)
		return -1;
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		b = (const unsigned char *)&sin.sin_addr;
		break;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
			b = sin6.sin6_addr.s6_addr + 12;
		break;
	default:
		return -1;
	}
	if (b != NULL)
		snprintf(rev, sizeof(rev), "%u.%u.%u.%u", b[3], b[2], b[1],
		    b[0]);
	else {
		for (i = 15; i >= 0; i--) {
			rev[o++] = "0123456789abcdef"[sin6.sin6_addr.s6_addr[i]
			    & 0x0f];
			rev[o++] = '.';
			rev[o++] = "0123456789abcdef"[sin6.sin6_addr.s6_addr[i]
			    >> 4];
			if (i > 0)
				rev[o++] = '.';
		}
		rev[o] = '\0';
	}
	n = snprintf(out, outlen, "%s.%s", rev, z);
	if (n < 0 || (size_t)n >= outlen || n > DNSNAME_MAX) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* dnswl_txt - one TXT rdata as bounded, printable text */
int
dnswl_txt(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t	 i = 0, o = 0, l, j;
	int	 c;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (len == 0)
		return -1;
	while (i < len) {
		l = p[i++];
		if (l > len - i)
			return -1;
		for (j = 0; j < l; j++) {
			c = p[i + j];
			if (o + 1 < outlen)
				out[o++] = c >= 0x20 && c < 0x7f && c != '"' &&
				    c != '\\' ? (char)c : '?';
		}
		i += l;
	}
	out[o] = '\0';
	return 0;
}

/* dnswl_txt_member - the ID of aval-ca's "member ID (ORG)" */
int
dnswl_txt_member(const char *text, char *id, size_t idlen)
{
	static const char	 pre[] = "member ";
	const char		*p, *sp;
	char			 cand[DNSWL_MEMBERLEN];
	size_t			 n, tl;

	if (idlen > 0)
		id[0] = '\0';
	if (strncmp(text, pre, sizeof(pre) - 1) != 0)
		return -1;
	p = text + sizeof(pre) - 1;
	if ((sp = strchr(p, ' ')) == NULL)
		return -1;
	n = (size_t)(sp - p);
	if (n >= sizeof(cand) || n >= idlen)
		return -1;
	memcpy(cand, p, n);
	cand[n] = '\0';
	/* " (" ORG ")": ORG not empty, the parenthesis last. */
	tl = strlen(sp);
	if (!fed_id_valid(cand) || tl < 4 || sp[1] != '(' ||
	    sp[tl - 1] != ')')
		return -1;
	memcpy(id, cand, n + 1);
	return 0;
}

/* --- set-up ------------------------------------------------------------ */

/* dnswl_new - a resolver context; reads every file it will need */
struct dnswl *
dnswl_new(struct event_base *base, const char *resolver,
    const char *trust_anchor, long timeout_s, char *err, size_t errlen)
{
	struct dnswl		*wl;
	struct dnsctx_conf	 dc;

	if (timeout_s < 1 || timeout_s > DNSWL_TIMEOUT_MAX) {
		snprintf(err, errlen, "whitelist lookup timeout %ld s: not 1 "
		    "to %d s", timeout_s, DNSWL_TIMEOUT_MAX);
		return NULL;
	}
	wl = xcalloc(1, sizeof(*wl));
	wl->base = base;
	wl->timeout_s = timeout_s;
	wl->max = DNSWL_MAX_PENDING;
	TAILQ_INIT(&wl->queries);
	memset(&dc, 0, sizeof(dc));
	dc.resolver = resolver;
	dc.trust_anchor_file = trust_anchor;
	if ((wl->dc = dnsctx_new(base, &dc, err, errlen)) == NULL) {
		free(wl);
		return NULL;
	}
	wl->ctx = dnsctx_ub(wl->dc);
	return wl;
}

/* dnswl_free - cancel every lookup without calling back, stop libunbound */
void
dnswl_free(struct dnswl *wl)
{
	struct dnswl_query	*q;

	if (wl == NULL)
		return;
	while ((q = TAILQ_FIRST(&wl->queries)) != NULL)
		dnswl_cancel(q);
	dnsctx_free(wl->dc);
	free(wl);
}

/* dnswl_set_max - lookups in flight at once; one more is TEMP at once */
void
dnswl_set_max(struct dnswl *wl, size_t max)
{
	wl->max = max > 0 ? max : 1;
}

/* dnswl_max - the bound dnswl_set_max() set */
size_t
dnswl_max(const struct dnswl *wl)
{
	return wl->max;
}

/* dnswl_pending - lookups asked and not yet answered */
size_t
dnswl_pending(const struct dnswl *wl)
{
	return wl->pending;
}

/* --- lookups ----------------------------------------------------------- */

static const char *
dnswl_type_name(int rrtype)
{
	return rrtype == DNS_T_A ? "A" : "TXT";
}

/* Take a query out of the books: its requests, its timer, its place. */
static void
dnswl_query_unlink(struct dnswl_query *q)
{
	struct dnswl	*wl = q->wl;
	int		 i;

	for (i = 0; i < 2; i++)
		if (q->req[i].inflight) {
			(void)ub_cancel(wl->ctx, q->req[i].id);
			q->req[i].inflight = 0;
		}
	evtimer_del(q->timer);
	TAILQ_REMOVE(&wl->queries, q, entry);
	if (q->counted) {
		wl->pending--;
		q->counted = 0;
	}
}

/* dnswl_cancel - forget a lookup; its callback is never called */
void
dnswl_cancel(struct dnswl_query *q)
{
	if (q == NULL)
		return;
	dnswl_query_unlink(q);
	event_free(q->timer);
	free(q);
}

/*
 * The result is final: out of the books first, so that the callback may
 * start and cancel other lookups (and find room for one more), then call
 * back and free.
 */
static void
dnswl_finish(struct dnswl_query *q)
{
	struct dnswl_result	*r = &q->r;

	dnswl_query_unlink(q);
	if (r->status != DNSWL_LISTED) {
		if (r->status == DNSWL_TEMP)
			r->secure = 0;
		r->a.s_addr = 0;
		r->a_text[0] = r->text[0] = r->member[0] = '\0';
		r->flags &= ~DNSWL_F_MEMBERS;
	}
	log_debug("dnswl: %s: %s%s (%s)", r->qname,
	    dnswl_status_name(r->status), r->secure ? ", secure" : "",
	    r->status == DNSWL_LISTED ? r->a_text : r->reason);
	q->cb(r, q->arg);
	event_free(q->timer);
	free(q);
}

/* Whether the answers in so far decide; finish the query if they do. */
static void
dnswl_decide(struct dnswl_query *q)
{
	struct dnswl_req	*a = &q->req[DNSWL_RR_A];
	struct dnswl_req	*t = &q->req[DNSWL_RR_TXT];
	struct dnswl_result	*r = &q->r;

	if (!a->done)
		return;
	switch (a->outcome) {
	case DNSCTX_O_NXDOMAIN:
		r->status = DNSWL_NOTLISTED;
		r->secure = a->secure;
		snprintf(r->reason, sizeof(r->reason), "%s: not listed "
		    "(NXDOMAIN)", r->qname);
		break;
	case DNSCTX_O_NODATA:
		r->status = DNSWL_NOTLISTED;
		r->secure = a->secure;
		snprintf(r->reason, sizeof(r->reason), "%s: not listed (no A "
		    "record)", r->qname);
		break;
	case DNSCTX_O_TEMP:
		r->status = DNSWL_TEMP;
		strlcpy(r->reason, a->why, sizeof(r->reason));
		break;
	case DNSCTX_O_DATA:
		/* dnswl_answer() made an A answer without a listing TEMP. */
		if (!t->done)
			return;
		r->status = DNSWL_LISTED;
		r->secure = a->secure && (!q->has_text || t->secure);
		r->reason[0] = '\0';
		break;
	}
	dnswl_finish(q);
}

/* The A answer: the first record in 127.0.0.0/8, or TEMP for none. */
static void
dnswl_answer_a(struct dnswl_query *q, struct dnswl_req *a,
    const struct ub_result *res)
{
	struct dnswl_result	*r = &q->r;
	struct in_addr		 in;
	char			 first[INET_ADDRSTRLEN] = "";
	size_t			 i;

	for (i = 0; res->data[i] != NULL && i < DNSWL_MAX_RECORDS; i++) {
		if (res->len[i] != 4)
			continue;
		memcpy(&in, res->data[i], 4);
		if (first[0] == '\0')
			inet_ntop(AF_INET, &in, first, sizeof(first));
		if ((ntohl(in.s_addr) >> 24) == 127) {
			r->a = in;
			inet_ntop(AF_INET, &in, r->a_text, sizeof(r->a_text));
			q->listed = 1;
			return;
		}
	}
	/*
	 * RFC 5782 section 2: the A record is a code, not an address, and by
	 * convention in 127.0.0.0/8 (aval-ca writes 127.0.0.2). Anything
	 * else is a resolver that rewrites NXDOMAIN or a list gone wrong:
	 * not a listing, and not a denial either.
	 */
	a->outcome = DNSCTX_O_TEMP;
	snprintf(a->why, sizeof(a->why), "A lookup for %s: %s is not a "
	    "DNSxL answer (not in 127.0.0.0/8)", r->qname,
	    first[0] != '\0' ? first : "no IPv4 address");
}

/* The TXT answer: the first of aval-ca's form, else the first at all. */
static void
dnswl_answer_txt(struct dnswl_query *q, const struct ub_result *res)
{
	struct dnswl_result	*r = &q->r;
	char			 text[DNSWL_TEXTLEN], id[DNSWL_MEMBERLEN];
	size_t			 i;
	int			 have_member = 0;

	for (i = 0; res->data[i] != NULL && i < DNSWL_MAX_RECORDS; i++) {
		if (dnswl_txt((const unsigned char *)res->data[i],
		    (size_t)res->len[i], text, sizeof(text)) == -1)
			continue;
		if (!q->has_text) {
			strlcpy(r->text, text, sizeof(r->text));
			q->has_text = 1;
		}
		if (dnswl_txt_member(text, id, sizeof(id)) == -1)
			continue;
		if (!have_member) {
			have_member = 1;
			strlcpy(r->text, text, sizeof(r->text));
			strlcpy(r->member, id, sizeof(r->member));
		} else if (strcmp(id, r->member) != 0)
			r->flags |= DNSWL_F_MEMBERS;
	}
	if (r->flags & DNSWL_F_MEMBERS)
		r->member[0] = '\0';
}

/* libunbound's callback, from ub_process() in the loop */
static void
dnswl_answer(void *arg, int err, struct ub_result *res)
{
	struct dnswl_req	*rq = arg;
	struct dnswl_query	*q = rq->q;

	rq->inflight = 0;
	rq->done = 1;
	rq->outcome = dnsctx_classify(err, res, dnswl_type_name(rq->rrtype),
	    q->r.qname, &rq->secure, rq->why, sizeof(rq->why));
	if (rq->outcome == DNSCTX_O_DATA) {
		if (rq->rrtype == DNS_T_A)
			dnswl_answer_a(q, rq, res);
		else
			dnswl_answer_txt(q, res);
	}
	if (res != NULL)
		ub_resolve_free(res);
	dnswl_decide(q);
}

/* The query's timer: a result decided at the start, or the deadline. */
static void
dnswl_expired(evutil_socket_t fd, short what, void *arg)
{
	struct dnswl_query	*q = arg;
	struct dnswl_result	*r = &q->r;
	struct dnswl_req	*a = &q->req[DNSWL_RR_A];

	(void)fd;
	(void)what;
	if (q->decided) {
		dnswl_finish(q);
		return;
	}
	r->flags |= DNSWL_F_TIMEOUT;
	if (a->done && q->listed) {
		/* Listed; the TXT did not come: no text, no member. */
		r->status = DNSWL_LISTED;
		r->secure = a->secure;
		r->reason[0] = '\0';
	} else {
		r->status = DNSWL_TEMP;
		snprintf(r->reason, sizeof(r->reason), "A lookup for %s: "
		    "timed out after %ld s", r->qname, q->wl->timeout_s);
	}
	dnswl_finish(q);
}

/* Ask one type; a request libunbound refuses is done and TEMP at once. */
static void
dnswl_ask(struct dnswl_query *q, enum dnswl_rr which, int rrtype)
{
	struct dnswl_req	*rq = &q->req[which];
	int			 rc;

	rq->q = q;
	rq->rrtype = rrtype;
	rc = ub_resolve_async(q->wl->ctx, q->r.qname, rrtype, DNS_C_IN, rq,
	    dnswl_answer, &rq->id);
	if (rc == 0) {
		rq->inflight = 1;
		return;
	}
	rq->done = 1;
	rq->outcome = DNSCTX_O_TEMP;
	snprintf(rq->why, sizeof(rq->why), "%s lookup for %s: resolver "
	    "error: %s", dnswl_type_name(rrtype), q->r.qname, ub_strerror(rc));
}

/* dnswl_lookup - ask A and TXT of sa's name in zone; answer from the loop */
struct dnswl_query *
dnswl_lookup(struct dnswl *wl, const struct sockaddr *sa, const char *zone,
    dnswl_cb cb, void *arg)
{
	struct dnswl_query	*q;
	struct timeval		 tv = { 0, 0 };
	char			 name[DNSWL_NAMELEN];

	if (dnswl_name(sa, zone, name, sizeof(name)) == -1)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->wl = wl;
	q->cb = cb;
	q->arg = arg;
	strlcpy(q->r.qname, name, sizeof(q->r.qname));
	if ((q->timer = evtimer_new(wl->base, dnswl_expired, q)) == NULL)
		fatalx("dnswl: evtimer_new");
	TAILQ_INSERT_TAIL(&wl->queries, q, entry);
	if (wl->pending >= wl->max) {
		q->decided = 1;
		q->r.status = DNSWL_TEMP;
		q->r.flags |= DNSWL_F_FULL;
		snprintf(q->r.reason, sizeof(q->r.reason), "%s: not asked: "
		    "%zu whitelist lookups in flight already", name, wl->max);
		evtimer_add(q->timer, &tv);
		return q;
	}
	q->counted = 1;
	wl->pending++;
	dnswl_ask(q, DNSWL_RR_A, DNS_T_A);
	if (q->req[DNSWL_RR_A].done) {
		/* Nothing asked that decides: report it from the loop. */
		q->decided = 1;
		q->r.status = DNSWL_TEMP;
		strlcpy(q->r.reason, q->req[DNSWL_RR_A].why,
		    sizeof(q->r.reason));
		evtimer_add(q->timer, &tv);
		return q;
	}
	dnswl_ask(q, DNSWL_RR_TXT, DNS_T_TXT);
	tv.tv_sec = wl->timeout_s;
	evtimer_add(q->timer, &tv);
	return q;
}
