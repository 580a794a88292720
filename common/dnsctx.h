/*
 * dnsctx - one libunbound context, set up as aval's processes want it and
 * answering in the caller's libevent loop
 *
 * aval-deliver (deliver/deliver_dns.h) and aval-smtpd (common/dnswl.h)
 * each hold one: a validating stub resolver that forwards every query to
 * the configured resolver, or to /etc/resolv.conf's nameservers, and
 * checks DNSSEC itself against the trust anchors of a file. dnsctx_new()
 * watches ub_fd() with a persistent read event in the given event_base
 * that calls ub_process(), so the callbacks given to ub_resolve_async()
 * on dnsctx_ub() run from the caller's loop, never from the call that
 * asked. What to ask, and the bounds and timers of each question, are the
 * caller's.
 *
 * Settings (deliver { resolver trust-anchor }, docs/dns.md):
 *
 *	resolver	"" or NULL: the nameservers of resolv_conf
 *			("/etc/resolv.conf" unless a test names another);
 *			else "ADDR" or "ADDR@PORT", numeric IPv4 or IPv6 (a
 *			name would need a resolver to resolve it)
 *	trust_anchor_file "" or NULL: none, nothing is ever secure; else
 *			DS or DNSKEY records, one a line, in zone-file
 *			syntax (unbound's trust-anchor-file format; an
 *			unbound-anchor root.key reads too), at most 64
 *
 * Options: loopback forwarders are allowed (do-not-query-localhost no),
 * an anchored zone whose answers lack signatures is bogus, and the rest
 * of dnsctx.c's table. Errors are one line in err, naming the setting.
 *
 * Privileges: dnsctx_new() reads every file it needs (resolv.conf, the
 * trust anchor file) and hands the contents to libunbound, so the caller
 * may chroot to an empty directory and drop privileges right after; no
 * lookup opens a file. libunbound's asynchronous mode (ub_ctx_async(ctx,
 * 0)) forks one helper process at the first ub_resolve_async(), which
 * does the network work and sends the answers back over the pipe that
 * ub_fd() reads. The helper inherits the caller's root, user, memory and
 * every descriptor open at that moment: make the first lookup after the
 * chroot and the privilege drop, and before anything the helper should
 * not hold (a key, a client's socket: a descriptor the helper holds stays
 * open when the caller closes its own). dnsctx_free() stops and reaps it.
 *
 * Answers: dnsctx_classify() sorts one answer of libunbound into the four
 * outcomes below, the same for every caller, so that "try later" is never
 * confused with "does not exist" anywhere in aval:
 *
 *	DNSCTX_O_DATA		NOERROR with records
 *	DNSCTX_O_NODATA		NOERROR, no records of the type
 *	DNSCTX_O_NXDOMAIN	the name does not exist
 *	DNSCTX_O_TEMP		SERVFAIL, REFUSED, any other rcode, a
 *				resolver error, or DNSSEC bogus (a signed
 *				zone whose answer does not validate may
 *				well hold what was asked)
 *
 * "secure" is only ever libunbound's own verdict: validated, not bogus.
 */
#ifndef AVAL_COMMON_DNSCTX_H
#define AVAL_COMMON_DNSCTX_H

#include <stddef.h>

struct event_base;
struct ub_ctx;
struct ub_result;
struct dnsctx;

struct dnsctx_conf {
	const char	*resolver;		/* see above */
	const char	*trust_anchor_file;	/* see above */
	const char	*resolv_conf;		/* NULL: "/etc/resolv.conf" */
};

enum dnsctx_outcome {
	DNSCTX_O_DATA,
	DNSCTX_O_NODATA,
	DNSCTX_O_NXDOMAIN,
	DNSCTX_O_TEMP
};

#define DNSCTX_RESOLVERLEN	128	/* dnsctx_resolver(), NUL included */

struct dnsctx	*dnsctx_new(struct event_base *, const struct dnsctx_conf *,
		    char *err, size_t errlen);
/* Cancels nothing: free the callers' queries first. NULL is fine. */
void		 dnsctx_free(struct dnsctx *);

/* The context to ask (ub_resolve_async, ub_cancel); lent, until free. */
struct ub_ctx	*dnsctx_ub(const struct dnsctx *);
/* For logs: "ADDR@PORT" as set, or the resolv.conf path read. */
const char	*dnsctx_resolver(const struct dnsctx *);
/*
 * The owner name of the first trust anchor record that has a canonical
 * one (dnsname.h; "." for the root), "" without anchors: the name whose
 * DNSKEY RRset shows whether validation works.
 */
const char	*dnsctx_anchor_owner(const struct dnsctx *);

/* 1 if r is "ADDR" or "ADDR@PORT" with a numeric address, else 0. */
int		 dnsctx_resolver_ok(const char *r);

/*
 * dnsctx_classify - the outcome of one answer (err and res as libunbound
 * gave them to the callback; res may be NULL). *secure is set to 1 only
 * for an answer that validated secure and is not bogus, else 0. For TEMP,
 * why says what happened, naming the lookup as "<type> lookup for <name>"
 * ("MX lookup for example.org: SERVFAIL"); otherwise why is untouched.
 */
enum dnsctx_outcome dnsctx_classify(int err, const struct ub_result *res,
		    const char *type, const char *name, int *secure,
		    char *why, size_t whylen);

#endif
