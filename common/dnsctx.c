/*
 * dnsctx - a libunbound context answering in a libevent loop; see dnsctx.h
 *
 * Taken out of deliver_dns.c when smtpd needed the same resolver for the
 * federation's DNS whitelist: one set of options, one resolver check, one
 * anchor reader and one sorting of answers for both processes.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "common/dnsctx.h"
#include "common/dnsname.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NXDOMAIN	3
#define DNS_RCODE_REFUSED	5

#define DNSCTX_ANCHOR_MAX	64	/* records read from the anchor file */
#define DNSCTX_ANCHOR_LINE	4096

struct dnsctx {
	struct ub_ctx	*ctx;
	struct event	*ev;
	char		 anchor_owner[DNSNAME_MAX + 1];	/* "" none */
	char		 resolver[DNSCTX_RESOLVERLEN];
};

/*
 * Read the trust anchor file now (before any chroot) and give its records
 * to libunbound as strings: ub_ctx_add_ta_file() only notes the name and
 * reads the file at the first lookup, which may be inside an empty chroot.
 */
static int
dnsctx_load_anchors(struct dnsctx *dc, const char *path, char *err,
    size_t errlen)
{
	FILE	*f;
	char	 line[DNSCTX_ANCHOR_LINE], owner[DNSNAME_MAX + 1], *p, *e;
	int	 n = 0, rc;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "trust anchor file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((e = strchr(line, '\n')) == NULL && !feof(f)) {
			snprintf(err, errlen, "trust anchor file %s: line too "
			    "long", path);
			fclose(f);
			return -1;
		}
		/* Comments: unbound-anchor's root.key has ";;state=2" ones. */
		if ((e = strchr(line, ';')) != NULL)
			*e = '\0';
		p = line + strspn(line, " \t\r\n");
		if (*p == '\0')
			continue;
		if (strstr(p, "DS") == NULL && strstr(p, "DNSKEY") == NULL) {
			snprintf(err, errlen, "trust anchor file %s: not a DS "
			    "or DNSKEY record: %.60s", path, p);
			fclose(f);
			return -1;
		}
		if (++n > DNSCTX_ANCHOR_MAX) {
			snprintf(err, errlen, "trust anchor file %s: over %d "
			    "records", path, DNSCTX_ANCHOR_MAX);
			fclose(f);
			return -1;
		}
		if ((rc = ub_ctx_add_ta(dc->ctx, p)) != 0) {
			snprintf(err, errlen, "trust anchor file %s: %s: %.60s",
			    path, ub_strerror(rc), p);
			fclose(f);
			return -1;
		}
		if (dc->anchor_owner[0] == '\0') {
			e = p + strcspn(p, " \t");
			*e = '\0';
			if (strcmp(p, ".") == 0)
				strlcpy(dc->anchor_owner, ".",
				    sizeof(dc->anchor_owner));
			else if (dnsname_text(p, owner, sizeof(owner)) == 0)
				strlcpy(dc->anchor_owner, owner,
				    sizeof(dc->anchor_owner));
		}
	}
	fclose(f);
	if (n == 0) {
		snprintf(err, errlen, "trust anchor file %s: no record", path);
		return -1;
	}
	return 0;
}

/* Options for a stub resolver that validates and forwards. */
static int
dnsctx_options(struct dnsctx *dc, char *err, size_t errlen)
{
	static const char *const opts[][2] = {
		/* Our forwarder may well be on 127.0.0.1 or ::1. */
		{ "do-not-query-localhost:", "no" },
		/* An anchored zone whose answers lack signatures is bogus. */
		{ "harden-dnssec-stripped:", "yes" },
		{ "harden-glue:", "yes" },
		{ "harden-below-nxdomain:", "yes" },
		{ "harden-algo-downgrade:", "no" },
		{ "val-permissive-mode:", "no" },
		{ "edns-buffer-size:", "1232" },
		/* Nothing to write back (RFC 5011 state) after a chroot. */
		{ "use-syslog:", "no" },
	};
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if ((rc = ub_ctx_set_option(dc->ctx, opts[i][0],
		    opts[i][1])) != 0) {
			snprintf(err, errlen, "libunbound option %s %s: %s",
			    opts[i][0], opts[i][1], ub_strerror(rc));
			return -1;
		}
	return 0;
}

/* dnsctx_resolver_ok - numeric "ADDR" or "ADDR@PORT", for ub_ctx_set_fwd() */
int
dnsctx_resolver_ok(const char *r)
{
	char			 a[INET6_ADDRSTRLEN + 8], *at, *end;
	unsigned char		 bin[sizeof(struct in6_addr)];
	long			 port;

	if (strlcpy(a, r, sizeof(a)) >= sizeof(a))
		return 0;
	if ((at = strchr(a, '@')) != NULL) {
		*at++ = '\0';
		errno = 0;
		port = strtol(at, &end, 10);
		if (*at == '\0' || *end != '\0' || errno != 0 || port < 1 ||
		    port > 65535)
			return 0;
	}
	return inet_pton(AF_INET, a, bin) == 1 ||
	    inet_pton(AF_INET6, a, bin) == 1;
}

/* The pipe from libunbound's helper is readable: run the callbacks. */
static void
dnsctx_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dnsctx	*dc = arg;
	int		 rc;

	(void)fd;
	(void)what;
	if ((rc = ub_process(dc->ctx)) != 0)
		log_warnx("dns: libunbound: %s", ub_strerror(rc));
}

/* dnsctx_new - a resolver context; reads every file it will need */
struct dnsctx *
dnsctx_new(struct event_base *base, const struct dnsctx_conf *conf, char *err,
    size_t errlen)
{
	struct dnsctx	*dc;
	const char	*r = conf->resolver ? conf->resolver : "";
	const char	*ta = conf->trust_anchor_file ?
			    conf->trust_anchor_file : "";
	const char	*rc_path = conf->resolv_conf ? conf->resolv_conf :
			    "/etc/resolv.conf";
	int		 rc;

	dc = xcalloc(1, sizeof(*dc));
	if ((dc->ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "libunbound: cannot create a context");
		free(dc);
		return NULL;
	}
	/* libunbound's own messages would go to stderr; ours say enough. */
	ub_ctx_debugout(dc->ctx, NULL);
	ub_ctx_debuglevel(dc->ctx, 0);
	if (dnsctx_options(dc, err, errlen) == -1)
		goto fail;
	if (*r == '\0') {
		/* Reads the file now; libunbound keeps only the addresses. */
		if ((rc = ub_ctx_resolvconf(dc->ctx, rc_path)) != 0) {
			snprintf(err, errlen, "resolver: %s: %s", rc_path,
			    rc == UB_READFILE ? strerror(errno) :
			    ub_strerror(rc));
			goto fail;
		}
		snprintf(dc->resolver, sizeof(dc->resolver), "%s", rc_path);
	} else {
		if (!dnsctx_resolver_ok(r)) {
			snprintf(err, errlen, "resolver \"%.64s\": not ADDR or "
			    "ADDR@PORT (numeric IPv4 or IPv6)", r);
			goto fail;
		}
		if ((rc = ub_ctx_set_fwd(dc->ctx, r)) != 0) {
			snprintf(err, errlen, "resolver %s: %s", r,
			    ub_strerror(rc));
			goto fail;
		}
		strlcpy(dc->resolver, r, sizeof(dc->resolver));
	}
	if (*ta != '\0' && dnsctx_load_anchors(dc, ta, err, errlen) == -1)
		goto fail;
	if ((rc = ub_ctx_async(dc->ctx, 0)) != 0) {
		snprintf(err, errlen, "libunbound async: %s", ub_strerror(rc));
		goto fail;
	}
	dc->ev = event_new(base, ub_fd(dc->ctx), EV_READ | EV_PERSIST,
	    dnsctx_readable, dc);
	if (dc->ev == NULL || event_add(dc->ev, NULL) == -1) {
		snprintf(err, errlen, "libunbound: cannot watch its "
		    "descriptor");
		goto fail;
	}
	return dc;
fail:
	if (dc->ev != NULL)
		event_free(dc->ev);
	ub_ctx_delete(dc->ctx);
	free(dc);
	return NULL;
}

/* dnsctx_free - stop watching, stop and reap libunbound's helper */
void
dnsctx_free(struct dnsctx *dc)
{
	if (dc == NULL)
		return;
	event_free(dc->ev);
	ub_ctx_delete(dc->ctx);
	free(dc);
}

/* dnsctx_ub - the libunbound context to ask */
struct ub_ctx *
dnsctx_ub(const struct dnsctx *dc)
{
	return dc->ctx;
}

/* dnsctx_resolver - what the context forwards to, for logs */
const char *
dnsctx_resolver(const struct dnsctx *dc)
{
	return dc->resolver;
}

/* dnsctx_anchor_owner - the first trust anchor's owner name, "" none */
const char *
dnsctx_anchor_owner(const struct dnsctx *dc)
{
	return dc->anchor_owner;
}

/* dnsctx_classify - one libunbound answer into the outcomes that matter */
enum dnsctx_outcome
dnsctx_classify(int err, const struct ub_result *res, const char *type,
    const char *name, int *secure, char *why, size_t whylen)
{
	char	 w[256];

	*secure = 0;
	if (err != 0 || res == NULL) {
		snprintf(why, whylen, "%s lookup for %s: resolver error: %s",
		    type, name, ub_strerror(err));
		return DNSCTX_O_TEMP;
	}
	*secure = res->secure && !res->bogus;
	if (res->bogus) {
		log_printable(res->why_bogus ? res->why_bogus : "no reason",
		    w, sizeof(w));
		snprintf(why, whylen, "%s lookup for %s: DNSSEC validation "
		    "failed (bogus): %s", type, name, w);
		return DNSCTX_O_TEMP;
	}
	switch (res->rcode) {
	case DNS_RCODE_NOERROR:
		return res->havedata ? DNSCTX_O_DATA : DNSCTX_O_NODATA;
	case DNS_RCODE_NXDOMAIN:
		return DNSCTX_O_NXDOMAIN;
	case DNS_RCODE_SERVFAIL:
		snprintf(w, sizeof(w), "SERVFAIL");
		break;
	case DNS_RCODE_REFUSED:
		snprintf(w, sizeof(w), "REFUSED");
		break;
	default:
		snprintf(w, sizeof(w), "rcode %d", res->rcode);
		break;
	}
	snprintf(why, whylen, "%s lookup for %s: %s", type, name, w);
	return DNSCTX_O_TEMP;
}
