/*
 * dnswl-lookup - common/dnswl.h from the command line, for
 * tests/integ/test_dnswl.py
 *
 *	dnswl-lookup [-v] [-a ANCHORS] [-t TIMEOUT] [-m MAX] RESOLVER ZONE
 *	    ADDR...
 *
 * Starts a lookup of every ADDR (numeric IPv4 or IPv6) in ZONE at once,
 * in argument order, in one event loop, as smtpd would with that many
 * sessions; RESOLVER is dnswl_new()'s ("" or ADDR[@PORT]), ANCHORS the
 * trust anchor file (default none), TIMEOUT each lookup's in seconds
 * (default 5), MAX dnswl_set_max()'s (default DNSWL_MAX_PENDING). When
 * all have called back, it prints one JSON object a line per ADDR, in
 * argument order:
 *
 *	{"addr": "192.0.2.1", "status": "LISTED", "flags": ["timeout"],
 *	 "secure": 1, "qname": "1.2.0.192.wl.example", "a": "127.0.0.2",
 *	 "text": "member uni-a (University A)", "member": "uni-a",
 *	 "reason": "", "seconds": 0.004}
 *
 * ("status": "NONE" when dnswl_lookup() asked nothing: NULL). -v logs
 * dnswl's debug lines to stderr. Exit 0; 1 when the lookups did not all
 * answer within TIMEOUT + 10 s; 2 for bad arguments or settings (the
 * reason on stderr); 3 when a callback broke the contract (called inside
 * dnswl_lookup(), twice, or after dnswl_lookup() returned NULL). Not
 * installed.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/dnswl.h"
#include "common/log.h"
#include "common/xmalloc.h"

struct dnswl_lookup_one {
	const char		*addr;
	struct sockaddr_storage	 ss;
	struct dnswl_query	*q;
	int			 asking;	/* inside dnswl_lookup() */
	int			 none;		/* dnswl_lookup() was NULL */
	int			 calls;
	double			 start, end;
	struct dnswl_result	 r;
};

static struct event_base *dnswl_lookup_base;
static int	 dnswl_lookup_broken;
static size_t	 dnswl_lookup_left;

static double
dnswl_lookup_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
dnswl_lookup_done(const struct dnswl_result *r, void *arg)
{
	struct dnswl_lookup_one	*o = arg;

	if (o->asking || o->none || o->calls > 0) {
		fprintf(stderr, "dnswl-lookup: %s: callback %s\n", o->addr,
		    o->asking ? "inside dnswl_lookup()" : o->none ?
		    "after a NULL query" : "called twice");
		dnswl_lookup_broken = 1;
	}
	o->calls++;
	o->end = dnswl_lookup_now();
	o->r = *r;
	o->q = NULL;
	if (dnswl_lookup_left > 0 && --dnswl_lookup_left == 0)
		event_base_loopbreak(dnswl_lookup_base);
}

static void
dnswl_lookup_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(dnswl_lookup_base);
}

/* A JSON string: quotes, backslashes and controls escaped. */
static void
dnswl_lookup_json_str(const char *key, const char *s, int comma)
{
	printf("\"%s\": \"", key);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	printf("\"%s", comma ? ", " : "");
}

/* One flag of the list, with a comma after any flag before it. */
static void
dnswl_lookup_flag(unsigned int flags, unsigned int f, const char *name)
{
	if (flags & f)
		printf("%s\"%s\"", flags & (f - 1) ? ", " : "", name);
}

static void
dnswl_lookup_print(const struct dnswl_lookup_one *o)
{
	const struct dnswl_result	*r = &o->r;

	printf("{");
	dnswl_lookup_json_str("addr", o->addr, 1);
	if (o->none) {
		printf("\"status\": \"NONE\"}\n");
		return;
	}
	dnswl_lookup_json_str("status", dnswl_status_name(r->status), 1);
	printf("\"flags\": [");
	dnswl_lookup_flag(r->flags, DNSWL_F_FULL, "full");
	dnswl_lookup_flag(r->flags, DNSWL_F_TIMEOUT, "timeout");
	dnswl_lookup_flag(r->flags, DNSWL_F_MEMBERS, "members");
	printf("], ");
	printf("\"secure\": %d, ", r->secure);
	dnswl_lookup_json_str("qname", r->qname, 1);
	dnswl_lookup_json_str("a", r->a_text, 1);
	dnswl_lookup_json_str("text", r->text, 1);
	dnswl_lookup_json_str("member", r->member, 1);
	dnswl_lookup_json_str("reason", r->reason, 1);
	printf("\"seconds\": %.3f}\n", o->end - o->start);
}

static int
dnswl_lookup_addr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

static long
dnswl_lookup_num(const char *s)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0)
		return -1;
	return v;
}

static void
dnswl_lookup_usage(void)
{
	fprintf(stderr, "usage: dnswl-lookup [-v] [-a ANCHORS] [-t TIMEOUT] "
	    "[-m MAX] RESOLVER ZONE ADDR...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct event		*deadline;
	struct dnswl		*wl;
	struct dnswl_lookup_one	*all;
	const char		*anchors = "", *zone;
	char			 err[512];
	long			 timeout = 5, max = -1;
	struct timeval		 tv;
	int			 ch, i, n, verbose = 0;

	while ((ch = getopt(argc, argv, "a:m:t:v")) != -1) {
		switch (ch) {
		case 'a':
			anchors = optarg;
			break;
		case 'm':
			if ((max = dnswl_lookup_num(optarg)) < 1)
				dnswl_lookup_usage();
			break;
		case 't':
			if ((timeout = dnswl_lookup_num(optarg)) == -1)
				dnswl_lookup_usage();
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			dnswl_lookup_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3)
		dnswl_lookup_usage();
	log_init("dnswl-lookup", LOG_TO_STDERR | (verbose ? LOG_VERBOSE : 0));
	zone = argv[1];
	n = argc - 2;
	all = xcalloc((size_t)n, sizeof(*all));
	for (i = 0; i < n; i++) {
		all[i].addr = argv[i + 2];
		if (dnswl_lookup_addr(all[i].addr, &all[i].ss) == -1) {
			fprintf(stderr, "dnswl-lookup: %s: not an IP address\n",
			    all[i].addr);
			return 2;
		}
	}
	if ((base = dnswl_lookup_base = event_base_new()) == NULL) {
		fprintf(stderr, "dnswl-lookup: event_base_new failed\n");
		return 2;
	}
	if ((wl = dnswl_new(base, argv[0], anchors, timeout, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "dnswl-lookup: %s\n", err);
		return 2;
	}
	if (max > 0)
		dnswl_set_max(wl, (size_t)max);
	for (i = 0; i < n; i++) {
		all[i].start = dnswl_lookup_now();
		all[i].asking = 1;
		all[i].q = dnswl_lookup(wl, (struct sockaddr *)&all[i].ss,
		    zone, dnswl_lookup_done, &all[i]);
		all[i].asking = 0;
		if (all[i].q == NULL && all[i].calls == 0)
			all[i].none = 1;
		else if (all[i].calls == 0)
			dnswl_lookup_left++;
	}
	/* Every lookup has its own timer; this one is for a broken one. */
	tv.tv_sec = timeout + 10;
	tv.tv_usec = 0;
	deadline = evtimer_new(base, dnswl_lookup_deadline, NULL);
	evtimer_add(deadline, &tv);
	if (dnswl_lookup_left > 0 && !dnswl_lookup_broken)
		event_base_dispatch(base);
	event_free(deadline);
	for (i = 0; i < n; i++)
		if (all[i].none || all[i].calls > 0)
			dnswl_lookup_print(&all[i]);
	fflush(stdout);
	dnswl_free(wl);
	event_base_free(base);
	free(all);
	if (dnswl_lookup_broken)
		return 3;
	if (dnswl_lookup_left > 0) {
		fprintf(stderr, "dnswl-lookup: %zu lookup(s) did not answer\n",
		    dnswl_lookup_left);
		return 1;
	}
	return 0;
}
