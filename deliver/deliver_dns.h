/*
 * deliver_dns - asynchronous, validating DNS for aval-deliver (libunbound)
 *
 * One struct deliver_dns per deliverer: a libunbound context whose answers
 * arrive in the deliverer's own event loop (ub_fd() watched by a read
 * event that calls ub_process()). It answers three questions:
 *
 *	deliver_dns_route()	where does mail for a next-hop domain go
 *				(RFC 5321 section 5.1, RFC 7505 null MX)
 *	deliver_dns_tlsa()	which TLSA records does an MX host publish
 *				(RFC 7672 section 2.2)
 *	deliver_dns_probe()	does our resolver validate DNSSEC at all
 *
 * Trust: everything from the network is hostile. libunbound validates
 * DNSSEC against the trust anchors given to deliver_dns_new(); this module
 * decodes the rdata libunbound hands over (uncompressed wire format) with
 * strict bounds, keeps at most the counts below, and accepts only host
 * names made of letters, digits and hyphens. "secure" is only ever set
 * from libunbound's own validation verdict.
 *
 * Three-valued, as Postfix's lookups: a name that does not exist (bounce)
 * is never confused with a lookup that could not be answered (defer):
 *
 *	status			meaning				caller does
 *	DELIVER_DNS_OK		hosts[] (route) or recs[] (tlsa)
 *	DELIVER_DNS_NXDOMAIN	the domain does not exist	bounce 5.1.2
 *	DELIVER_DNS_NULLMX	"MX 0 ." only (RFC 7505)	bounce 5.1.10
 *	DELIVER_DNS_NOHOST	no MX and no address, or no MX	bounce 5.1.2
 *				host has an address
 *	DELIVER_DNS_NONE	(tlsa) NXDOMAIN or NODATA:	no DANE for host
 *				no TLSA records
 *	DELIVER_DNS_TEMP	SERVFAIL, REFUSED, timeout, 	defer 4.4.3
 *				bogus DNSSEC, resolver error
 *
 * (Postfix bounces both NXDOMAIN and NOHOST too, with 5.4.4 "Host or
 * domain name not found"; issue 7 asks for 5.1.2. See docs/dns.md.)
 *
 * Routing (mx = 1, "example.org" and transport "smtp:host"): the MX RRset,
 * sorted by preference, equal preferences in random order (conf->random,
 * so a test can fix it), at most DELIVER_DNS_MAX_HOSTS hosts, then the
 * A and AAAA records of each host in parallel. No MX records (NODATA):
 * the domain itself is the one host, preference 0 (RFC 5321 5.1). A "."
 * target beside other MX records, and a target that is an IP address, are
 * skipped with a note (RFC 7505 3.3, RFC 5321 5.1). A host whose address
 * lookups fail temporarily while another host resolves is dropped and
 * noted; if no host resolves and one failed temporarily, TEMP; if none has
 * an address, NOHOST. With mx = 0 ("[host]" and transport "smtp:[host]")
 * there is no MX lookup: the name's own A/AAAA, preference 0.
 *
 * CNAMEs are followed (by libunbound); route->cname and host->cname give
 * the canonical names, needed for DANE's TLSA base domain (RFC 7672 2.2.2).
 * "secure": route->mx_secure says the MX RRset (or its absence) was
 * validated secure (0 when mx = 0: nothing was asked); host->secure says
 * that (with mx = 1) and this host's A and AAAA answers were too. Only then may the caller look up TLSA records for the
 * host (RFC 7672 2.2.1 and 2.2.2), and only a tlsa->secure answer may be
 * used.
 *
 * Results belong to this module and live until the callback returns; copy
 * what you keep. A callback is never called from inside the call that
 * started the query, may start new queries and cancel others, but must not
 * call deliver_dns_cancel() on its own query nor deliver_dns_free().
 * deliver_dns_cancel() and deliver_dns_free() never call back.
 *
 * Timeouts: each DNS lookup (MX, each A, each AAAA, TLSA) has its own
 * libevent timer of conf->timeout_ms; on expiry the lookup is cancelled in
 * libunbound and counts as a temporary failure ("timed out after 10 s").
 * A route calls back when all its hosts' lookups are in, so a dead
 * secondary MX delays it by at most one more timeout.
 *
 * Privileges: deliver_dns_new() reads every file it needs (resolv.conf
 * for the system's resolver, the trust anchor file) and hands the
 * contents to libunbound, so the deliverer may chroot to an empty
 * directory and drop privileges right after; no lookup opens a file.
 * libunbound's asynchronous mode (ub_ctx_async(ctx, 0)) forks one helper
 * process at the first lookup, which does the network work and sends
 * answers back over a pipe. That helper inherits the deliverer's root,
 * user, memory and open descriptors at that moment: start the first lookup
 * (normally deliver_dns_probe()) only after chroot and the privilege
 * drop, and before loading secrets such as the federation client key,
 * which the helper then never holds. deliver_dns_free() stops and reaps it.
 *
 * How the deliverer is meant to use it:
 *
 *	dns = deliver_dns_new(base, &conf, err, sizeof(err));	(as root)
 *	chroot, drop privileges
 *	deliver_dns_probe(dns, probe_done, NULL);	logs "DANE is off" if 0
 *	load the client key, serve jobs; per next-hop domain:
 *	q = deliver_dns_route(dns, domain, 1, route_done, job);
 *	route_done: OK -> try hosts[] in order, each addrs[] in order;
 *	    for policy dane, if host->secure and deliver_dns_validates(dns)
 *	    == 1, deliver_dns_tlsa(dns, host->name, 25, tlsa_done, job);
 *	    NXDOMAIN/NOHOST/NULLMX -> bounce; TEMP -> defer with reason
 *	on job abort: deliver_dns_cancel(q)
 */
#ifndef AVAL_DELIVER_DELIVER_DNS_H
#define AVAL_DELIVER_DELIVER_DNS_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

/*
 * Bounds. Postfix tries at most smtp_mx_address_limit = 5 addresses and
 * smtp_mx_session_limit = 2 sessions per delivery; 10 hosts leave the
 * deliverer room for its own limits while a hostile answer of hundreds of
 * MX records costs at most 10 hosts' worth of A/AAAA lookups (20). The MX
 * RRset is read whole (libunbound holds it, bounded by a 64 KiB message)
 * to pick the 10 most preferred.
 */
#define DELIVER_DNS_MAX_HOSTS	10	/* MX hosts kept, the most preferred */
#define DELIVER_DNS_MAX_ADDRS	8	/* addresses kept per host and family */
#define DELIVER_DNS_MAX_TLSA	16	/* TLSA records kept */
#define DELIVER_DNS_MAX_TLSA_DATA 2048	/* data octets of one TLSA record:
					   a whole certificate (mtype 0) */
#define DELIVER_DNS_NAMELEN	254	/* a name as text, no trailing dot, NUL */
#define DELIVER_DNS_REASONLEN	640

struct event_base;
struct deliver_dns;
struct deliver_dns_query;

struct deliver_dns_conf {
	const char	*resolver;	/* "" or NULL: /etc/resolv.conf's
					   nameservers; else "ADDR" or
					   "ADDR@PORT", numeric IPv4 or IPv6 */
	const char	*trust_anchor_file; /* "" or NULL: none (nothing is
					   secure, the probe says 0); else DS
					   or DNSKEY records, one a line, in
					   zone-file syntax (unbound's
					   trust-anchor-file format; an
					   unbound-anchor root.key reads too) */
	const char	*resolv_conf;	/* NULL: "/etc/resolv.conf" (tests) */
	unsigned int	 timeout_ms;	/* per lookup; 0: 10000 */
	/* Shuffles equal MX preferences; NULL: arc4random(). */
	uint32_t	(*random)(void *);
	void		*random_arg;
};

enum deliver_dns_status {
	DELIVER_DNS_OK = 0,
	DELIVER_DNS_NXDOMAIN,
	DELIVER_DNS_NULLMX,
	DELIVER_DNS_NOHOST,
	DELIVER_DNS_NONE,
	DELIVER_DNS_TEMP
};

struct deliver_dns_addr {
	int			 family;	/* AF_INET or AF_INET6 */
	char			 text[INET6_ADDRSTRLEN];
	struct sockaddr_storage	 sa;		/* port 0: the caller sets it */
	socklen_t		 salen;
};

struct deliver_dns_host {
	char			 name[DELIVER_DNS_NAMELEN]; /* lowercase */
	char			 cname[DELIVER_DNS_NAMELEN]; /* after CNAMEs */
	unsigned int		 pref;
	int			 secure;
	size_t			 naddrs;	/* IPv4 first, then IPv6 */
	struct deliver_dns_addr	 addrs[2 * DELIVER_DNS_MAX_ADDRS];
};

struct deliver_dns_route {
	enum deliver_dns_status	 status;
	const char		*domain;	/* as asked, lowercase */
	const char		*cname;		/* canonical name of domain */
	int			 from_mx;	/* hosts are MX targets */
	int			 mx_secure;
	size_t			 nhosts;
	struct deliver_dns_host	 hosts[DELIVER_DNS_MAX_HOSTS];
	size_t			 ntemp;		/* hosts dropped: temp failure */
	size_t			 ncapped;	/* MX records over the cap */
	const char		*reason;	/* why not OK; "" when OK */
	const char		*notes;		/* what was skipped; "" if none */
};

struct deliver_dns_tlsa_rec {
	uint8_t			 usage, selector, mtype;
	size_t			 len;
	const unsigned char	*data;
};

struct deliver_dns_tlsa {
	enum deliver_dns_status	 status;	/* OK, NONE or TEMP */
	const char		*qname;		/* "_25._tcp.mx.example.org" */
	int			 secure;
	size_t			 nrecs;
	struct deliver_dns_tlsa_rec recs[DELIVER_DNS_MAX_TLSA];
	const char		*reason;
	const char		*notes;
};

typedef void	(*deliver_dns_route_cb)(const struct deliver_dns_route *,
		    void *);
typedef void	(*deliver_dns_tlsa_cb)(const struct deliver_dns_tlsa *,
		    void *);
typedef void	(*deliver_dns_probe_cb)(int validates, void *);

struct deliver_dns *deliver_dns_new(struct event_base *,
		    const struct deliver_dns_conf *, char *err, size_t errlen);
void		 deliver_dns_free(struct deliver_dns *);	/* NULL: fine */

/*
 * The start-up probe: asks for the DNSKEY RRset of the first trust
 * anchor's owner name and calls back with 1 when it validates as secure,
 * else 0 (no anchor, insecure, bogus, or no answer), logging loudly why
 * and that DANE is off. A later probe may change the answer.
 */
void		 deliver_dns_probe(struct deliver_dns *, deliver_dns_probe_cb,
		    void *);
int		 deliver_dns_validates(const struct deliver_dns *); /* -1: not yet */

struct deliver_dns_query *deliver_dns_route(struct deliver_dns *,
		    const char *domain, int mx, deliver_dns_route_cb, void *);
struct deliver_dns_query *deliver_dns_tlsa(struct deliver_dns *,
		    const char *host, unsigned int port, deliver_dns_tlsa_cb,
		    void *);
void		 deliver_dns_cancel(struct deliver_dns_query *); /* NULL: fine */
size_t		 deliver_dns_pending(const struct deliver_dns *);

const char	*deliver_dns_status_name(enum deliver_dns_status);

/*
 * The rdata decoders, exported for tests and tests/fuzz/fuzz_dns_rdata.c.
 * deliver_dns_wire_name() decodes an uncompressed wire-format name that
 * must fill exactly len octets into lowercase text without the trailing
 * dot ("" for the root); it returns 0, or -1 for a compression pointer, a
 * label over 63 octets, a name over 255, a byte other than a letter,
 * digit, hyphen or underscore, trailing octets, or a short buffer.
 * deliver_dns_rdata_mx() does the same after the 2-octet preference.
 */
int		 deliver_dns_wire_name(const unsigned char *, size_t,
		    char *out, size_t outlen);
int		 deliver_dns_rdata_mx(const unsigned char *, size_t,
		    unsigned int *pref, char *out, size_t outlen);
/* Text names (the config's, libunbound's canonname) are dnsname_text()'s. */

#endif
