/*
 * smtpd_received - the Received: trace header (RFC 5321 section 4.4)
 *
 *	Received: from HELO ([ADDR])
 *		by HOSTNAME (aval) with ESMTP id QID;
 *		Thu, 26 Nov 2026 12:00:00 +0000
 *
 * There is no reverse DNS yet (it comes with the resolver), so the client
 * is named by its address only. TLS and the federation trust of the
 * session will be added as comments here when they exist.
 */
#include <sys/socket.h>
#include <netdb.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd.h"

/* smtpd_received - append the header for this session's message */
int
smtpd_received(const struct smtpd_session *s, struct buf *out)
{
	char		 host[NI_MAXHOST], date[64];
	struct tm	 tm;
	time_t		 now = time(NULL);

	if (getnameinfo((const struct sockaddr *)&s->ss, sizeof(s->ss), host,
	    sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		strlcpy(host, "unknown", sizeof(host));
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	return buf_printf(out, "Received: from %s ([%s])\r\n"
	    "\tby %s (aval) with %s id %s;\r\n\t%s\r\n",
	    s->helo[0] ? s->helo : "unknown", host, env->w.conf->hostname,
	    s->esmtp ? "ESMTP" : "SMTP", s->qid, date);
}
