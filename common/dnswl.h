/*
 * dnswl - is a client address on the federation's DNS whitelist (RFC 5782),
 * asked with libunbound in the caller's libevent loop
 *
 * The zone is the one "aval-ca publish --zone ZONE" writes
 * (docs/federation-ca.md): for every address of an active member's
 * networks, "d.c.b.a.ZONE A 127.0.0.2" and "TXT "member ID (ORG)""
 * (wildcards at the next octet or nibble boundary for short prefixes),
 * IPv6 as 32 reversed nibbles, and the test entries of RFC 5782 section 5
 * (127.0.0.2 and ::ffff:7f00:2, TXT "test entry"). dnswl_name() makes the
 * name to ask; dnswl_lookup() asks its A and TXT records at once and calls
 * back once with a three-valued answer, as Postfix's lookups: "cannot
 * tell" is never confused with "not listed".
 *
 *	status		when				for a session
 *	DNSWL_LISTED	an A record in 127.0.0.0/8	a member's address: it
 *							should come with the
 *							member's certificate
 *	DNSWL_NOTLISTED	NXDOMAIN, or no A record	not a member's address
 *			(NODATA, even beside a TXT)
 *	DNSWL_TEMP	SERVFAIL, REFUSED, timeout,	unknown: never read as
 *			bogus DNSSEC, resolver error,	NOTLISTED
 *			A records all outside
 *			127.0.0.0/8 (a resolver that
 *			rewrites NXDOMAIN, a broken
 *			list), too many lookups
 *
 * A LISTED result keeps the first A record in 127.0.0.0/8 (a, a_text) and
 * the TXT: text is the record's strings joined, every octet outside
 * printable ASCII and every '"' and '\' made '?' (fit for a quoted log
 * value), cut at DNSWL_TEXTLEN - 1; member is the ID of a text of exactly
 * aval-ca's form "member ID (ORG)" with a valid member id, else "". Of
 * several TXT records the first of that form is kept; if two name
 * different members, member is "" and DNSWL_F_MEMBERS says why. The A
 * record decides alone: a TXT that fails or does not come within the
 * timeout leaves text and member "" (DNSWL_F_TIMEOUT when it timed out).
 *
 * "secure" is 1 only when every answer the result reports validated as
 * DNSSEC-secure (libunbound's verdict against the trust anchors given to
 * dnswl_new()): LISTED, the A answer and, when text is set, the TXT
 * answer; NOTLISTED, the denial (NXDOMAIN or NODATA). Without a trust
 * anchor, or for an unsigned zone, nothing is secure. A bogus answer is
 * TEMP, never an insecure answer.
 *
 * Time: each lookup has a timer of its own, the timeout_s of dnswl_new();
 * when it fires, what is still in flight is cancelled in libunbound
 * (whose own retries may take far longer) and the lookup is TEMP with
 * DNSWL_F_TIMEOUT, unless the A record had already listed the address.
 * So a session waits at most timeout_s for its answer.
 *
 * Bounds: at most dnswl_max() lookups are in flight at once
 * (DNSWL_MAX_PENDING unless dnswl_set_max() said otherwise); one more is
 * not asked but answered TEMP with DNSWL_F_FULL, from the loop as every
 * answer is. Of an answer at most DNSWL_MAX_RECORDS A and TXT records
 * each are read.
 *
 * Callbacks: never called from inside dnswl_lookup(), always from the
 * loop. The result lives until the callback returns; it holds no
 * pointer, so a copy of the struct keeps all of it. A callback may start
 * new lookups and cancel others, but must not cancel its own nor call
 * dnswl_free(). dnswl_cancel() and dnswl_free() never call back.
 *
 * Privileges and libunbound's helper: as common/dnsctx.h says.
 * dnswl_new() reads resolv.conf (when resolver is "") and the trust
 * anchor file, so call it before the chroot. The first lookup forks
 * libunbound's helper, which inherits every descriptor open at that
 * moment and a copy of the process's memory: make it after the chroot and
 * privilege drop and before the first session, or the helper keeps that
 * session's socket open after smtpd closes it (the client never sees the
 * connection end until the helper exits).
 *
 * How smtpd is meant to use it:
 *
 *	wl = dnswl_new(base, resolver, anchor, timeout_s, err, sizeof(err));
 *	    (as root, before the chroot; NULL: fatalx("smtpd: %s", err))
 *	chroot, drop privileges; then, before the listeners are enabled,
 *	    ask the test entry: sin.sin_addr = 127.0.0.2,
 *	    dnswl_lookup(wl, &sin, zone, probe_done, NULL): forks the
 *	    helper while no session exists; probe_done logs loudly unless
 *	    it is LISTED (and whether it is secure)
 *	per connection (not for local, AF_UNIX, sessions):
 *	    s->wlq = dnswl_lookup(wl, (struct sockaddr *)&s->ss, zone,
 *	        session_wl_done, s);
 *	    NULL means nothing could be asked (not IPv4 or IPv6, or the name
 *	    does not fit): treat as DNSWL_TEMP, and no callback will come
 *	session_wl_done(r, s): s->wlq = NULL; keep r->status, r->member,
 *	    r->secure (or copy *r); LISTED without a verified certificate of
 *	    that member is the possible downgrade DESIGN.md speaks of;
 *	    TEMP is "do not know", logged with r->reason
 *	when the session ends first: dnswl_cancel(s->wlq)
 *	at exit: dnswl_free(wl)
 */
#ifndef AVAL_COMMON_DNSWL_H
#define AVAL_COMMON_DNSWL_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>

#define DNSWL_NAMELEN		254	/* a query name as text, NUL */
#define DNSWL_TEXTLEN		256	/* TXT text kept: one full string */
#define DNSWL_MEMBERLEN		33	/* a member id, NUL (FED_ID_MAX + 1) */
#define DNSWL_REASONLEN		640
#define DNSWL_MAX_PENDING	256	/* lookups in flight, by default */
#define DNSWL_MAX_RECORDS	16	/* A and TXT records read, each */
#define DNSWL_TIMEOUT_MAX	3600	/* seconds */

struct event_base;
struct dnswl;
struct dnswl_query;

enum dnswl_status {
	DNSWL_LISTED,
	DNSWL_NOTLISTED,
	DNSWL_TEMP
};

struct dnswl_result {
	enum dnswl_status	 status;
	unsigned int		 flags;
#define DNSWL_F_FULL		0x01	/* TEMP: table full, not asked */
#define DNSWL_F_TIMEOUT		0x02	/* no answer (A: TEMP; TXT: no text) */
#define DNSWL_F_MEMBERS		0x04	/* TXTs name two members: member "" */
	int			 secure;
	char			 qname[DNSWL_NAMELEN];	/* as asked */
	struct in_addr		 a;		/* LISTED: in 127.0.0.0/8 */
	char			 a_text[INET_ADDRSTRLEN]; /* "127.0.0.2"; "" */
	char			 text[DNSWL_TEXTLEN];	/* LISTED; "" none */
	char			 member[DNSWL_MEMBERLEN]; /* LISTED; "" none */
	char			 reason[DNSWL_REASONLEN]; /* not LISTED: why */
};

typedef void	(*dnswl_cb)(const struct dnswl_result *, void *arg);

/*
 * dnswl_new - a resolver for whitelist lookups in base's loop. resolver:
 * "" (or NULL) for /etc/resolv.conf's nameservers, else numeric "ADDR" or
 * "ADDR@PORT"; trust_anchor: "" (or NULL) for none, else a file of DS or
 * DNSKEY records (common/dnsctx.h); timeout_s: 1 to DNSWL_TIMEOUT_MAX,
 * each lookup's limit. NULL and one line in err when a setting is wrong.
 */
struct dnswl	*dnswl_new(struct event_base *, const char *resolver,
		    const char *trust_anchor, long timeout_s, char *err,
		    size_t errlen);
void		 dnswl_free(struct dnswl *);	/* cancels all; NULL: fine */

void		 dnswl_set_max(struct dnswl *, size_t);	/* 0 is taken as 1 */
size_t		 dnswl_max(const struct dnswl *);
size_t		 dnswl_pending(const struct dnswl *);	/* asked, in flight */

/*
 * dnswl_lookup - ask whether sa (AF_INET or AF_INET6; an IPv4-mapped
 * IPv6 address as its IPv4 address) is listed in zone; the port is not
 * looked at. The query is the caller's to cancel until the callback
 * runs, and is gone after it. NULL when nothing can be asked: sa is of
 * another family, or dnswl_name() fails; then cb is never called.
 */
struct dnswl_query *dnswl_lookup(struct dnswl *, const struct sockaddr *sa,
		    const char *zone, dnswl_cb, void *arg);
void		 dnswl_cancel(struct dnswl_query *);	/* NULL: fine */

/*
 * dnswl_name - the name to ask for sa in zone: "4.3.2.1.zone" for
 * 1.2.3.4 (and for ::ffff:1.2.3.4), the 32 nibbles of an IPv6 address in
 * reverse, lowercase hex, for others (RFC 5782 section 2.4); zone made
 * canonical (lowercase, no trailing dot; dnsname.h). 0, or -1 when sa is
 * of another family, zone is not a name, or the whole is over 253
 * characters or does not fit outlen.
 */
int		 dnswl_name(const struct sockaddr *sa, const char *zone,
		    char *out, size_t outlen);

/*
 * The TXT readers, exported for tests. dnswl_txt() turns one TXT rdata
 * (strings of a length octet and that many octets) into text as above:
 * 0, or -1 when the rdata is empty or a length runs past its end.
 * dnswl_txt_member() copies the ID of "member ID (ORG)" to id (idlen of
 * DNSWL_MEMBERLEN is enough): 0, or -1 when text is not of that form
 * (ID a valid member id, ORG not empty) and then id is "".
 */
int		 dnswl_txt(const unsigned char *rdata, size_t len, char *out,
		    size_t outlen);
int		 dnswl_txt_member(const char *text, char *id, size_t idlen);

const char	*dnswl_status_name(enum dnswl_status);	/* "LISTED", ... */

#endif
