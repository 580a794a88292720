/*
 * smtpd_received - the Received: trace header (RFC 5321 section 4.4)
 *
 *	Received: from HELO ([ADDR])
 *		(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits)
 *		client certificate sha256:... verified)
 *		by HOSTNAME (aval) with ESMTPS id QID;
 *		Thu, 26 Nov 2026 12:00:00 +0000
 *
 * The protocol is SMTP, ESMTP, ESMTPS (TLS), ESMTPA (AUTH) or ESMTPSA
 * (both), as RFC 3848 names them. Nothing a client sends can add a hop
 * or a clause: the HELO name goes in as it is only when it is a
 * syntactically valid domain or address literal; anything else is shown
 * inside a comment, with every byte that could end the comment or start
 * another clause (parentheses, brackets, quotes, backslash, ';', blanks,
 * controls, non-ASCII) replaced by '?'. There is no reverse DNS yet (it
 * comes with the resolver), so the client is named by its address only.
 * The certificate is named by its fingerprint, never by its subject,
 * which its owner writes.
 */
#include <sys/socket.h>
#include <netdb.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd.h"

/* smtpd_received_safe - a comment-safe copy of an invalid HELO name */
static void
smtpd_received_safe(const char *in, char *out, size_t outlen)
{
	size_t	 i;

	for (i = 0; in[i] != '\0' && i + 1 < outlen && i < 64; i++) {
		unsigned char	 c = (unsigned char)in[i];

		out[i] = c > 0x20 && c < 0x7f && strchr("()[]\"\\;<>", c) ==
		    NULL ? (char)c : '?';
	}
	out[i] = '\0';
}

/* smtpd_received_trace - the Received header alone */
static int
smtpd_received_trace(const struct smtpd_session *s, struct buf *out)
{
	char		 host[NI_MAXHOST], date[64], helo[80], tls[600] = "";
	char		 fed[64];
	const char	*proto;
	struct tm	 tm;
	time_t		 now = time(NULL);

	if (getnameinfo((const struct sockaddr *)&s->ss, sizeof(s->ss), host,
	    sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		strlcpy(host, "unknown", sizeof(host));
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (!s->esmtp)
		proto = "SMTP";
	else if ((s->flags & SMTPD_F_TLS) && (s->flags & SMTPD_F_AUTH))
		proto = "ESMTPSA";
	else if (s->flags & SMTPD_F_TLS)
		proto = "ESMTPS";
	else if (s->flags & SMTPD_F_AUTH)
		proto = "ESMTPA";
	else
		proto = "ESMTP";
	smtpd_fed_received(s, fed, sizeof(fed));
	if ((s->flags & SMTPD_F_TLS) && s->tls != NULL)
		snprintf(tls, sizeof(tls), "\t(using %s with cipher %s (%d "
		    "bits)%s%s%s%s)\r\n", s->tls->version, s->tls->cipher,
		    s->tls->bits, s->tls->peer_cert ? "\r\n\tclient "
		    "certificate " : "", s->tls->peer_cert ? s->tls->fpr : "",
		    s->tls->peer_cert ? (s->tls->verified || s->fed.member[0] ?
		    " verified" : " not verified") : "", fed);
	/*
	 * The local socket: who sent it is the uid the kernel gave, the one
	 * fact worth tracing (Postfix writes "from userid N"); the HELO is
	 * whatever the user's program said and is left out.
	 */
	if (s->flags & SMTPD_F_LOCAL)
		return buf_printf(out, "Received: from local (uid %lu)\r\n"
		    "\tby %s (aval) with %s id %s;\r\n\t%s\r\n",
		    (unsigned long)s->peer_uid, env->w.conf->hostname, proto,
		    s->qid, date);
	if (s->helo[0] != '\0' && addr_is_domain(s->helo))
		return buf_printf(out, "Received: from %s ([%s])\r\n%s"
		    "\tby %s (aval) with %s id %s;\r\n\t%s\r\n", s->helo, host,
		    tls, env->w.conf->hostname, proto, s->qid, date);
	smtpd_received_safe(s->helo, helo, sizeof(helo));
	return buf_printf(out, "Received: from [%s] (%s%s%s)\r\n%s"
	    "\tby %s (aval) with %s id %s;\r\n\t%s\r\n", host,
	    s->helo[0] ? "invalid HELO " : "no HELO", helo,
	    "", tls, env->w.conf->hostname, proto, s->qid, date);
}

/*
 * smtpd_received - append the header for this session's message, and the
 * federation's mark when there is one
 */
int
smtpd_received(const struct smtpd_session *s, struct buf *out)
{
	if (smtpd_received_trace(s, out) == -1)
		return -1;
	return smtpd_fed_header(s, out);
}
