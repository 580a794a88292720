/*
 * check_dns - deliver_dns against a real DNS server on a loopback port
 *
 * The "resolve" case starts tests/dns/dnsserver once (an unbound daemon,
 * authoritative for the zones of SPEC below, two of them signed with
 * ldns-signzone, one with expired signatures) and every test makes its own
 * event loop and deliver_dns forwarding to it, with the signed zones' DS
 * records as trust anchors. A test's own UDP socket that never answers
 * stands for a dead resolver. When unbound or the ldns tools are missing
 * (tools/setup installs them) the tests say so on one line and pass.
 *
 * The "rdata" case feeds the wire-name decoder a table of good and
 * hostile rdata; tests/fuzz/fuzz_dns_rdata.c does the same at random.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "deliver/deliver_dns.h"
#include "tests/unit/harness.h"

static const char dns_spec[] =
    "zone plain.example\n"
    "order MX 10 mx1\n"
    "order MX 20 mx2a\n"
    "order MX 20 mx2b\n"
    "order MX 30 mx3\n"
    "mx1 A 127.0.0.11\n"
    "mx1 AAAA 2001:db8::11\n"
    "mx2a A 127.0.0.12\n"
    "mx2b A 127.0.0.13\n"
    "mx3 A 127.0.0.14\n"
    "_25._tcp.mx1 TLSA 3 1 1 "
    "0101010101010101010101010101010101010101010101010101010101010101\n"
    "nomx A 127.0.0.20\n"
    "nomx AAAA 2001:db8::20\n"
    "nullmx MX 0 .\n"
    "nodata TXT \"nothing to route to\"\n"
    "alias CNAME order\n"
    "viacname MX 10 mxalias\n"
    "mxalias CNAME mx1\n"
    "partial MX 10 mx1\n"
    "partial MX 20 h.slow.example.\n"
    "allslow MX 10 h.slow.example.\n"
    "noaddr MX 10 nothere\n"
    "noaddr MX 20 mx3\n"
    "deadmx MX 10 nothere\n"
    "weird MX 10 .\n"
    "weird MX 20 mx1\n"
    "weird MX 30 127.0.0.1.\n"
    "manyaddr MX 10 fat\n"
    "zone signed.example signed\n"
    "@ MX 10 mx\n"
    "mx A 127.0.0.30\n"
    "mx AAAA 2001:db8::30\n"
    "_25._tcp.mx TLSA 3 1 1 "
    "0202020202020202020202020202020202020202020202020202020202020202\n"
    "mixed MX 10 mx1.plain.example.\n"
    "zone bad.example signed expired\n"
    "@ MX 10 mx\n"
    "mx A 127.0.0.40\n"
    "_25._tcp.mx TLSA 3 1 1 "
    "0303030303030303030303030303030303030303030303030303030303030303\n"
    "deny slow.example\n"
    "servfail broken.example\n";

#define DNS_MANY	40	/* MX records of many.plain.example */
#define DNS_FAT		20	/* A records of fat.plain.example */

static char	*dns_dir;
static int	 dns_port;
static int	 dns_skip;
static char	 dns_anchors[1024];

/* Run tests/dns/dnsserver with args; its exit status, or -1. */
static int
dns_fixture(const char *cmd, const char *a1, const char *a2)
{
	char		 path[1024];
	pid_t		 pid;
	int		 st;

	snprintf(path, sizeof(path), "%s/tests/dns/dnsserver",
	    harness_srcdir());
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		execl(path, path, cmd, a1, a2, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
dns_server_start(void)
{
	char	 spec[1024], portf[1024];
	FILE	*f;
	int	 i;

	if (dns_fixture("check", NULL, NULL) != 0) {
		printf("dns: unbound or ldns tools missing: DNS tests skipped "
		    "(tools/setup installs them)\n");
		dns_skip = 1;
		return;
	}
	dns_dir = harness_tmpdir();
	snprintf(spec, sizeof(spec), "%s/spec", dns_dir);
	if ((f = fopen(spec, "w")) == NULL)
		ck_abort_msg("fopen %s", spec);
	fputs(dns_spec, f);
	/* Appended to the first zone, plain.example: a hostile RRset size. */
	fputs("zone plain.example\n", f);
	for (i = 0; i < DNS_MANY; i++)
		fprintf(f, "many MX %d h%d\nh%d A 127.0.1.%d\n", 100 - i, i,
		    i, i + 1);
	for (i = 0; i < DNS_FAT; i++)
		fprintf(f, "fat A 127.0.2.%d\n", i + 1);
	fclose(f);
	ck_assert_int_eq(dns_fixture("start", dns_dir, spec), 0);
	snprintf(portf, sizeof(portf), "%s/port", dns_dir);
	ck_assert_ptr_nonnull(f = fopen(portf, "r"));
	ck_assert_int_eq(fscanf(f, "%d", &dns_port), 1);
	fclose(f);
	snprintf(dns_anchors, sizeof(dns_anchors), "%s/trust-anchors",
	    dns_dir);
}

static void
dns_server_stop(void)
{
	if (dns_skip || dns_dir == NULL)
		return;
	dns_fixture("stop", dns_dir, NULL);
	harness_rmtree(dns_dir);
	free(dns_dir);
	dns_dir = NULL;
}

#define DNS_SKIP()	do { if (dns_skip) return; } while (0)

/* --- one loop and one context per test --------------------------------- */

struct dns_t {
	struct event_base	*base;
	struct deliver_dns	*dns;
	uint32_t		 seed;
};

static uint32_t
dns_t_random(void *arg)
{
	struct dns_t	*t = arg;

	/* xorshift32: the same seed, the same order. */
	t->seed ^= t->seed << 13;
	t->seed ^= t->seed >> 17;
	t->seed ^= t->seed << 5;
	return t->seed;
}

static void
dns_t_open(struct dns_t *t, const char *resolver, int anchors,
    unsigned int timeout_ms)
{
	struct deliver_dns_conf	 conf;
	char			 r[64], err[256];

	memset(t, 0, sizeof(*t));
	t->seed = 2463534242u;
	if (resolver == NULL) {
		snprintf(r, sizeof(r), "127.0.0.1@%d", dns_port);
		resolver = r;
	}
	memset(&conf, 0, sizeof(conf));
	conf.resolver = resolver;
	conf.trust_anchor_file = anchors ? dns_anchors : "";
	conf.timeout_ms = timeout_ms;
	conf.random = dns_t_random;
	conf.random_arg = t;
	ck_assert_ptr_nonnull(t->base = event_base_new());
	t->dns = deliver_dns_new(t->base, &conf, err, sizeof(err));
	ck_assert_msg(t->dns != NULL, "deliver_dns_new: %s", err);
}

static void
dns_t_close(struct dns_t *t)
{
	deliver_dns_free(t->dns);
	event_base_free(t->base);
}

static double
dns_now(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* What a route callback saw, copied. */
struct dns_got {
	int			 done;
	double			 at;
	struct deliver_dns_route r;
	char			 cname[DELIVER_DNS_NAMELEN];
	char			 domain[DELIVER_DNS_NAMELEN]; /* or qname */
	char			 reason[DELIVER_DNS_REASONLEN];
	char			 notes[1024];
	struct deliver_dns_tlsa	 t;
	unsigned char		 tdata[DELIVER_DNS_MAX_TLSA][64];
	int			 validates;
};

static void
dns_got_route(const struct deliver_dns_route *r, void *arg)
{
	struct dns_got	*g = arg;

	ck_assert_int_eq(g->done, 0);
	g->done = 1;
	g->at = dns_now();
	g->r = *r;
	/* The result's strings die with the callback: copy them. */
	strlcpy(g->cname, r->cname, sizeof(g->cname));
	strlcpy(g->domain, r->domain, sizeof(g->domain));
	strlcpy(g->reason, r->reason, sizeof(g->reason));
	strlcpy(g->notes, r->notes, sizeof(g->notes));
}

static void
dns_got_tlsa(const struct deliver_dns_tlsa *t, void *arg)
{
	struct dns_got	*g = arg;
	size_t		 i;

	g->done = 1;
	g->at = dns_now();
	g->t = *t;
	strlcpy(g->domain, t->qname, sizeof(g->domain));
	for (i = 0; i < t->nrecs; i++)
		memcpy(g->tdata[i], t->recs[i].data,
		    t->recs[i].len < 64 ? t->recs[i].len : 64);
	strlcpy(g->reason, t->reason, sizeof(g->reason));
	strlcpy(g->notes, t->notes, sizeof(g->notes));
}

static void
dns_got_probe(int validates, void *arg)
{
	struct dns_got	*g = arg;

	g->done = 1;
	g->validates = validates;
}

/* Run the loop until every g is done or secs pass. */
static void
dns_t_wait(struct dns_t *t, struct dns_got **g, size_t n, double secs)
{
	double	 end = dns_now() + secs;
	size_t	 i, left;

	for (;;) {
		for (i = 0, left = 0; i < n; i++)
			left += !g[i]->done;
		if (left == 0)
			return;
		ck_assert_msg(dns_now() < end, "no answer within %.1f s", secs);
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void
dns_route(struct dns_t *t, const char *domain, int mx, struct dns_got *g)
{
	memset(g, 0, sizeof(*g));
	ck_assert_ptr_nonnull(deliver_dns_route(t->dns, domain, mx,
	    dns_got_route, g));
	ck_assert_int_eq(g->done, 0);	/* never from inside the call */
	dns_t_wait(t, &g, 1, 10);
}

static void
dns_tlsa(struct dns_t *t, const char *host, struct dns_got *g)
{
	memset(g, 0, sizeof(*g));
	ck_assert_ptr_nonnull(deliver_dns_tlsa(t->dns, host, 25, dns_got_tlsa,
	    g));
	dns_t_wait(t, &g, 1, 10);
}

#define ck_status(g, s) \
	ck_assert_msg((g)->r.status == (s), "status %s, want %s (%s)", \
	    deliver_dns_status_name((g)->r.status), \
	    deliver_dns_status_name(s), (g)->reason)

/* --- routes ------------------------------------------------------------ */

START_TEST(mx_hosts_come_by_preference_and_equals_in_both_orders)
{
	struct dns_t	 t;
	struct dns_got	 g;
	int		 ab = 0, ba = 0, i;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	for (i = 0; i < 20 && !(ab && ba); i++) {
		dns_route(&t, "Order.Plain.Example.", 1, &g);
		ck_status(&g, DELIVER_DNS_OK);
		ck_assert_int_eq(g.r.from_mx, 1);
		ck_assert_uint_eq(g.r.nhosts, 4);
		ck_assert_str_eq(g.domain, "order.plain.example");
		ck_assert_str_eq(g.r.hosts[0].name, "mx1.plain.example");
		ck_assert_uint_eq(g.r.hosts[0].pref, 10);
		ck_assert_uint_eq(g.r.hosts[1].pref, 20);
		ck_assert_uint_eq(g.r.hosts[2].pref, 20);
		ck_assert_str_eq(g.r.hosts[3].name, "mx3.plain.example");
		if (strcmp(g.r.hosts[1].name, "mx2a.plain.example") == 0)
			ab = 1;
		else {
			ck_assert_str_eq(g.r.hosts[1].name,
			    "mx2b.plain.example");
			ba = 1;
		}
		/* An unsigned zone under no anchor is insecure, not bogus. */
		ck_assert_int_eq(g.r.mx_secure, 0);
		ck_assert_int_eq(g.r.hosts[0].secure, 0);
	}
	ck_assert_msg(ab && ba, "equal preferences always in one order");
	dns_t_close(&t);
}
END_TEST

START_TEST(both_address_families_are_reported)
{
	struct dns_t		 t;
	struct dns_got		 g;
	struct deliver_dns_host	*h;
	const struct sockaddr_in6 *sin6;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "order.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	h = &g.r.hosts[0];
	ck_assert_uint_eq(h->naddrs, 2);
	ck_assert_int_eq(h->addrs[0].family, AF_INET);
	ck_assert_str_eq(h->addrs[0].text, "127.0.0.11");
	ck_assert_int_eq(h->addrs[1].family, AF_INET6);
	ck_assert_str_eq(h->addrs[1].text, "2001:db8::11");
	sin6 = (const struct sockaddr_in6 *)&h->addrs[1].sa;
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(h->addrs[1].salen, sizeof(*sin6));
	dns_t_close(&t);
}
END_TEST

START_TEST(no_mx_falls_back_to_the_domains_addresses)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "nomx.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_int_eq(g.r.from_mx, 0);
	ck_assert_uint_eq(g.r.nhosts, 1);
	ck_assert_str_eq(g.r.hosts[0].name, "nomx.plain.example");
	ck_assert_uint_eq(g.r.hosts[0].pref, 0);
	ck_assert_uint_eq(g.r.hosts[0].naddrs, 2);
	ck_assert_str_eq(g.r.hosts[0].addrs[0].text, "127.0.0.20");
	ck_assert_str_eq(g.r.hosts[0].addrs[1].text, "2001:db8::20");
	dns_t_close(&t);
}
END_TEST

START_TEST(mx_zero_asks_only_the_hosts_own_addresses)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	/* order.plain.example has MX records but no address: [host] form. */
	dns_route(&t, "order.plain.example", 0, &g);
	ck_status(&g, DELIVER_DNS_NOHOST);
	dns_route(&t, "mx1.plain.example", 0, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_uint_eq(g.r.nhosts, 1);
	ck_assert_uint_eq(g.r.hosts[0].naddrs, 2);
	dns_route(&t, "nothere.plain.example", 0, &g);
	ck_status(&g, DELIVER_DNS_NXDOMAIN);
	dns_t_close(&t);
}
END_TEST

START_TEST(null_mx_nxdomain_and_nodata_are_permanent)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "nullmx.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_NULLMX);
	ck_assert_ptr_nonnull(strstr(g.reason, "null MX"));
	dns_route(&t, "nothere.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_NXDOMAIN);
	ck_assert_ptr_nonnull(strstr(g.reason, "NXDOMAIN"));
	dns_route(&t, "nodata.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_NOHOST);
	ck_assert_ptr_nonnull(strstr(g.reason, "no MX and no address"));
	dns_route(&t, "deadmx.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_NOHOST);
	ck_assert_ptr_nonnull(strstr(g.reason, "no MX host"));
	dns_t_close(&t);
}
END_TEST

START_TEST(cnames_are_followed_and_reported)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "alias.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_str_eq(g.cname, "order.plain.example");
	ck_assert_uint_eq(g.r.nhosts, 4);
	ck_assert_str_eq(g.r.hosts[0].name, "mx1.plain.example");
	dns_route(&t, "viacname.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_str_eq(g.cname, "viacname.plain.example");
	ck_assert_str_eq(g.r.hosts[0].name, "mxalias.plain.example");
	ck_assert_str_eq(g.r.hosts[0].cname, "mx1.plain.example");
	ck_assert_str_eq(g.r.hosts[0].addrs[0].text, "127.0.0.11");
	dns_t_close(&t);
}
END_TEST

START_TEST(hosts_without_address_and_odd_targets_are_skipped)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "noaddr.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_uint_eq(g.r.nhosts, 1);
	ck_assert_str_eq(g.r.hosts[0].name, "mx3.plain.example");
	ck_assert_ptr_nonnull(strstr(g.notes,
	    "nothere.plain.example: no address"));
	dns_route(&t, "weird.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_uint_eq(g.r.nhosts, 1);
	ck_assert_str_eq(g.r.hosts[0].name, "mx1.plain.example");
	ck_assert_ptr_nonnull(strstr(g.notes, "MX \".\""));
	ck_assert_ptr_nonnull(strstr(g.notes, "IP address"));
	dns_t_close(&t);
}
END_TEST

START_TEST(a_hostile_number_of_records_is_capped)
{
	struct dns_t	 t;
	struct dns_got	 g;
	size_t		 i;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "many.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_uint_eq(g.r.nhosts, DELIVER_DNS_MAX_HOSTS);
	ck_assert_uint_eq(g.r.ncapped, DNS_MANY - DELIVER_DNS_MAX_HOSTS);
	/* The most preferred: h39 has MX 61, h30 MX 70. */
	for (i = 0; i < g.r.nhosts; i++)
		ck_assert_uint_eq(g.r.hosts[i].pref,
		    100 - DNS_MANY + 1 + i);
	ck_assert_str_eq(g.r.hosts[0].name, "h39.plain.example");
	dns_route(&t, "manyaddr.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_uint_eq(g.r.hosts[0].naddrs, DELIVER_DNS_MAX_ADDRS);
	dns_t_close(&t);
}
END_TEST

START_TEST(a_host_that_times_out_is_dropped_beside_a_good_one)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 700);
	dns_route(&t, "partial.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_uint_eq(g.r.nhosts, 1);
	ck_assert_str_eq(g.r.hosts[0].name, "mx1.plain.example");
	ck_assert_uint_eq(g.r.ntemp, 1);
	ck_assert_ptr_nonnull(strstr(g.notes, "timed out after 0.700 s"));
	dns_route(&t, "allslow.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_TEMP);
	ck_assert_ptr_nonnull(strstr(g.reason,
	    "A lookup for h.slow.example: timed out"));
	dns_t_close(&t);
}
END_TEST

START_TEST(servfail_and_a_dead_resolver_are_temporary)
{
	struct dns_t	 t;
	struct dns_got	 g;
	char		 r[64];
	int		 s;
	struct sockaddr_in sin;
	socklen_t	 len = sizeof(sin);

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "x.broken.example", 1, &g);
	ck_status(&g, DELIVER_DNS_TEMP);
	ck_assert_msg(strstr(g.reason, "MX lookup for x.broken.example: "
	    "SERVFAIL") != NULL, "reason: %s", g.reason);
	dns_t_close(&t);

	/* A port where nothing listens: ICMP unreachable, SERVFAIL. */
	ck_assert_int_ge(s = socket(AF_INET, SOCK_DGRAM, 0), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	snprintf(r, sizeof(r), "127.0.0.1@%d", ntohs(sin.sin_port));
	dns_t_open(&t, r, 0, 3000);
	dns_route(&t, "order.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_TEMP);
	dns_t_close(&t);
}
END_TEST

START_TEST(a_resolver_that_never_answers_times_out)
{
	struct dns_t	 t;
	struct dns_got	 g;
	struct sockaddr_in sin;
	socklen_t	 len = sizeof(sin);
	char		 r[64];
	double		 t0;
	int		 s;

	DNS_SKIP();
	ck_assert_int_ge(s = socket(AF_INET, SOCK_DGRAM, 0), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	snprintf(r, sizeof(r), "127.0.0.1@%d", ntohs(sin.sin_port));
	dns_t_open(&t, r, 0, 300);
	t0 = dns_now();
	dns_route(&t, "order.plain.example", 1, &g);
	ck_status(&g, DELIVER_DNS_TEMP);
	ck_assert_str_eq(g.reason,
	    "MX lookup for order.plain.example: timed out after 0.300 s");
	ck_assert(g.at - t0 >= 0.29 && g.at - t0 < 2);
	dns_t_close(&t);
	close(s);
}
END_TEST

START_TEST(a_slow_domain_does_not_hold_up_a_fast_one)
{
	struct dns_t	 t;
	struct dns_got	 slow, fast, *both[2] = { &slow, &fast };
	double		 t0;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 2000);
	memset(&slow, 0, sizeof(slow));
	memset(&fast, 0, sizeof(fast));
	t0 = dns_now();
	ck_assert_ptr_nonnull(deliver_dns_route(t.dns, "slow.example", 1,
	    dns_got_route, &slow));
	ck_assert_ptr_nonnull(deliver_dns_route(t.dns, "order.plain.example",
	    1, dns_got_route, &fast));
	dns_t_wait(&t, both, 2, 10);
	ck_assert_int_eq(fast.r.status, DELIVER_DNS_OK);
	ck_assert_int_eq(slow.r.status, DELIVER_DNS_TEMP);
	ck_assert(fast.at < slow.at);
	ck_assert_msg(fast.at - t0 < 1, "fast answer after %.2f s",
	    fast.at - t0);
	ck_assert(slow.at - t0 >= 1.9);
	dns_t_close(&t);
}
END_TEST

START_TEST(cancel_and_free_never_call_back)
{
	struct dns_t			 t;
	struct dns_got			 a, b;
	struct deliver_dns_query	*q;
	double				 end;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	q = deliver_dns_route(t.dns, "order.plain.example", 1, dns_got_route,
	    &a);
	deliver_dns_cancel(q);
	ck_assert_uint_eq(deliver_dns_pending(t.dns), 0);
	end = dns_now() + 0.5;
	while (dns_now() < end) {
		event_base_loop(t.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_int_eq(a.done, 0);
	(void)deliver_dns_route(t.dns, "slow.example", 1, dns_got_route, &b);
	(void)deliver_dns_tlsa(t.dns, "mx.signed.example", 25, dns_got_tlsa,
	    &b);
	ck_assert_uint_eq(deliver_dns_pending(t.dns), 2);
	dns_t_close(&t);
	ck_assert_int_eq(b.done, 0);
}
END_TEST

/* --- DNSSEC ------------------------------------------------------------ */

START_TEST(a_signed_zone_validates_as_secure)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "signed.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_int_eq(g.r.mx_secure, 1);
	ck_assert_str_eq(g.r.hosts[0].name, "mx.signed.example");
	ck_assert_int_eq(g.r.hosts[0].secure, 1);
	ck_assert_uint_eq(g.r.hosts[0].naddrs, 2);
	/* A secure MX RRset whose host sits in an unsigned zone. */
	dns_route(&t, "mixed.signed.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_int_eq(g.r.mx_secure, 1);
	ck_assert_int_eq(g.r.hosts[0].secure, 0);
	dns_t_close(&t);

	/* The same zone without the trust anchor: insecure. */
	dns_t_open(&t, NULL, 0, 5000);
	dns_route(&t, "signed.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_int_eq(g.r.mx_secure, 0);
	ck_assert_int_eq(g.r.hosts[0].secure, 0);
	dns_t_close(&t);
}
END_TEST

START_TEST(expired_signatures_are_bogus_and_temporary)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_route(&t, "bad.example", 1, &g);
	ck_status(&g, DELIVER_DNS_TEMP);
	ck_assert_msg(strstr(g.reason, "MX lookup for bad.example: DNSSEC "
	    "validation failed (bogus): ") != NULL, "reason: %s", g.reason);
	dns_tlsa(&t, "mx.bad.example", &g);
	ck_assert_int_eq(g.t.status, DELIVER_DNS_TEMP);
	ck_assert_int_eq(g.t.secure, 0);
	ck_assert_ptr_nonnull(strstr(g.reason, "bogus"));
	dns_t_close(&t);

	/* Without its anchor the same zone is merely insecure. */
	dns_t_open(&t, NULL, 0, 5000);
	dns_route(&t, "bad.example", 1, &g);
	ck_status(&g, DELIVER_DNS_OK);
	ck_assert_int_eq(g.r.mx_secure, 0);
	dns_t_close(&t);
}
END_TEST

START_TEST(tlsa_records_secure_insecure_and_none)
{
	struct dns_t	 t;
	struct dns_got	 g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	dns_tlsa(&t, "MX.signed.example.", &g);
	ck_assert_int_eq(g.t.status, DELIVER_DNS_OK);
	ck_assert_int_eq(g.t.secure, 1);
	ck_assert_str_eq(g.domain, "_25._tcp.mx.signed.example");
	ck_assert_uint_eq(g.t.nrecs, 1);
	ck_assert_uint_eq(g.t.recs[0].usage, 3);
	ck_assert_uint_eq(g.t.recs[0].selector, 1);
	ck_assert_uint_eq(g.t.recs[0].mtype, 1);
	ck_assert_uint_eq(g.t.recs[0].len, 32);
	ck_assert_uint_eq(g.tdata[0][0], 2);
	ck_assert_uint_eq(g.tdata[0][31], 2);

	dns_tlsa(&t, "mx1.plain.example", &g);
	ck_assert_int_eq(g.t.status, DELIVER_DNS_OK);
	ck_assert_int_eq(g.t.secure, 0);

	dns_tlsa(&t, "nope.signed.example", &g);
	ck_assert_int_eq(g.t.status, DELIVER_DNS_NONE);
	ck_assert_int_eq(g.t.secure, 1);	/* a validated denial */
	dns_tlsa(&t, "mx3.plain.example", &g);
	ck_assert_int_eq(g.t.status, DELIVER_DNS_NONE);
	ck_assert_int_eq(g.t.secure, 0);
	dns_t_close(&t);
}
END_TEST

START_TEST(the_probe_says_whether_dnssec_validates)
{
	struct dns_t	 t;
	struct dns_got	 g;
	struct dns_got	*gp = &g;

	DNS_SKIP();
	dns_t_open(&t, NULL, 1, 5000);
	ck_assert_int_eq(deliver_dns_validates(t.dns), -1);
	memset(&g, 0, sizeof(g));
	deliver_dns_probe(t.dns, dns_got_probe, &g);
	ck_assert_int_eq(g.done, 0);
	dns_t_wait(&t, &gp, 1, 10);
	ck_assert_int_eq(g.validates, 1);
	ck_assert_int_eq(deliver_dns_validates(t.dns), 1);
	dns_t_close(&t);

	harness_log_start();
	dns_t_open(&t, NULL, 0, 5000);
	memset(&g, 0, sizeof(g));
	deliver_dns_probe(t.dns, dns_got_probe, &g);
	ck_assert_int_eq(g.done, 0);
	dns_t_wait(&t, &gp, 1, 10);
	ck_assert_int_eq(g.validates, 0);
	ck_assert_int_eq(deliver_dns_validates(t.dns), 0);
	ck_assert(harness_log_has("DANE is off"));
	dns_t_close(&t);
	harness_log_stop();
}
END_TEST

START_TEST(bad_settings_are_refused_at_creation)
{
	struct deliver_dns_conf	 conf;
	struct event_base	*base;
	char			 err[256], path[1024];
	FILE			*f;

	ck_assert_ptr_nonnull(base = event_base_new());
	memset(&conf, 0, sizeof(conf));
	conf.resolver = "dns.example.org";
	ck_assert_ptr_null(deliver_dns_new(base, &conf, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "ADDR@PORT"));
	conf.resolver = "127.0.0.1@99999";
	ck_assert_ptr_null(deliver_dns_new(base, &conf, err, sizeof(err)));
	conf.resolver = "::1@53";
	conf.trust_anchor_file = "/nonexistent/anchors";
	ck_assert_ptr_null(deliver_dns_new(base, &conf, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/anchors"));
	snprintf(path, sizeof(path), "%s/junk-anchor.%d", "/tmp", getpid());
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("example. IN A 192.0.2.1\n", f);
	fclose(f);
	conf.trust_anchor_file = path;
	ck_assert_ptr_null(deliver_dns_new(base, &conf, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not a DS or DNSKEY"));
	unlink(path);
	event_base_free(base);
}
END_TEST

/* --- the rdata decoder ------------------------------------------------- */

struct rdata_case {
	const char	*wire;
	size_t		 len;
	int		 rc;
	unsigned int	 pref;
	const char	*name;
};

#define RD(s, rc, pref, name)	{ s, sizeof(s) - 1, rc, pref, name }

static const struct rdata_case rdata_cases[] = {
	RD("\x00\x0a\x02mx\x07""example\x03org\x00", 0, 10, "mx.example.org"),
	RD("\xff\xff\x02MX\x03Org\x00", 0, 65535, "mx.org"),
	RD("\x00\x00\x00", 0, 0, ""),			/* null MX */
	RD("\x00\x0a\xc0\x0c", -1, 0, NULL),		/* compression */
	RD("\x00\x0a\x02mx", -1, 0, NULL),		/* no root label */
	RD("\x00\x0a\x02mx\x00\x00", -1, 0, NULL),	/* trailing octet */
	RD("\x00\x0a\x05mx", -1, 0, NULL),		/* label past end */
	RD("\x00\x0a\x03m.x\x00", -1, 0, NULL),		/* dot in a label */
	RD("\x00\x0a\x03m x\x00", -1, 0, NULL),		/* space */
	RD("\x00\x0a\x02m\x00\x00", -1, 0, NULL),	/* NUL in a label */
	RD("\x00\x0a\x40xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxx\x00", -1, 0, NULL),		/* label of 64 */
	RD("\x00", -1, 0, NULL),			/* short */
	RD("", -1, 0, NULL),
};

START_TEST(rdata_decodes_strictly)
{
	const struct rdata_case	*c = &rdata_cases[_i];
	unsigned int		 pref = 99;
	char			 out[DELIVER_DNS_NAMELEN];

	ck_assert_int_eq(deliver_dns_rdata_mx((const unsigned char *)c->wire,
	    c->len, &pref, out, sizeof(out)), c->rc);
	if (c->rc == 0) {
		ck_assert_uint_eq(pref, c->pref);
		ck_assert_str_eq(out, c->name);
	}
}
END_TEST

START_TEST(rdata_long_names_stop_at_255_octets)
{
	unsigned char	 w[300];
	char		 out[DELIVER_DNS_NAMELEN];
	size_t		 i, n = 0;

	/* 4 labels of 63: 4 * 64 + 1 = 257 octets, over the limit. */
	for (i = 0; i < 4; i++) {
		w[n++] = 63;
		memset(w + n, 'a', 63);
		n += 63;
	}
	w[n++] = 0;
	ck_assert_int_eq(deliver_dns_wire_name(w, n, out, sizeof(out)), -1);
	/* Three of 63 and one of 61: 255 octets, the longest name. */
	w[3 * 64] = 61;
	w[3 * 64 + 62] = 0;
	ck_assert_int_eq(deliver_dns_wire_name(w, 255, out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 253);
	/* The same into a buffer one too small. */
	ck_assert_int_eq(deliver_dns_wire_name(w, 255, out, 253), -1);
}
END_TEST

Suite *
dns_suite(void)
{
	Suite	*s = suite_create("dns");
	TCase	*tc;

	tc = tcase_create("rdata");
	tcase_add_loop_test(tc, rdata_decodes_strictly, 0,
	    sizeof(rdata_cases) / sizeof(rdata_cases[0]));
	tcase_add_test(tc, rdata_long_names_stop_at_255_octets);
	tcase_add_test(tc, bad_settings_are_refused_at_creation);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolve");
	tcase_add_unchecked_fixture(tc, dns_server_start, dns_server_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, mx_hosts_come_by_preference_and_equals_in_both_orders);
	tcase_add_test(tc, both_address_families_are_reported);
	tcase_add_test(tc, no_mx_falls_back_to_the_domains_addresses);
	tcase_add_test(tc, mx_zero_asks_only_the_hosts_own_addresses);
	tcase_add_test(tc, null_mx_nxdomain_and_nodata_are_permanent);
	tcase_add_test(tc, cnames_are_followed_and_reported);
	tcase_add_test(tc, hosts_without_address_and_odd_targets_are_skipped);
	tcase_add_test(tc, a_hostile_number_of_records_is_capped);
	tcase_add_test(tc, a_host_that_times_out_is_dropped_beside_a_good_one);
	tcase_add_test(tc, servfail_and_a_dead_resolver_are_temporary);
	tcase_add_test(tc, a_resolver_that_never_answers_times_out);
	tcase_add_test(tc, a_slow_domain_does_not_hold_up_a_fast_one);
	tcase_add_test(tc, cancel_and_free_never_call_back);
	tcase_add_test(tc, a_signed_zone_validates_as_secure);
	tcase_add_test(tc, expired_signatures_are_bogus_and_temporary);
	tcase_add_test(tc, tlsa_records_secure_insecure_and_none);
	tcase_add_test(tc, the_probe_says_whether_dnssec_validates);
	suite_add_tcase(s, tc);
	return s;
}
