/*
 * fuzz_queue_dsn - libFuzzer target for queue_dsn_compose()
 *
 * The composer is not a parser, but everything it writes from outside
 * (addresses, the remote reply, ORCPT, ENVID, the original) is hostile.
 * The first two octets pick the choices (action, RET, ORCPT type, reply
 * or reason, return limit, destination); the rest is cut at NULs into
 * the sender, the recipient, the reply, the remote host, the status, the
 * ORCPT, the ENVID and, last, the original. What must hold whatever they
 * are: the result is OK or a refusal and nothing else (the cap is ample);
 * a notice is CRLF lines of at most 998 octets; the boundary is on four
 * lines (three without an original) and nowhere else; its header and
 * each delivery-status block have only the fields the composer writes
 * (nothing from outside starts a line of its own); and it is 7-bit
 * unless a flag says why not.
 *
 * link: queue/queue_dsn.c common/buf.c common/xtext.c common/addr.c common/log.c common/xmalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/queue_dsn.h"
#include "queue/queue_rec.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_NFIELDS	8

/* fuzz_known - 1 if line starts with one of the names, then ':' */
static int
fuzz_known(const char *line, const char *const *names)
{
	size_t	 n;

	for (; *names != NULL; names++) {
		n = strlen(*names);
		if (strncmp(line, *names, n) == 0 && line[n] == ':')
			return 1;
	}
	return 0;
}

/* fuzz_check_block - each line from p to end is a known field or folded */
static void
fuzz_check_block(const char *p, const char *end, const char *const *names)
{
	while (p < end) {
		const char	*nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			abort();
		if (nl > p + 1 && *p != ' ' && *p != '\t' &&
		    !fuzz_known(p, names))
			abort();
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const top[] = { "From", "To", "Subject", "Date",
	    "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type",
	    "Content-Transfer-Encoding", NULL };
	static const char *const fields[] = { "Original-Envelope-Id",
	    "Reporting-MTA", "Arrival-Date", "X-Aval-Queue-ID",
	    "X-Aval-Sender", "Original-Recipient", "Final-Recipient",
	    "Action", "Status", "Remote-MTA", "Diagnostic-Code",
	    "Last-Attempt-Date", "Will-Retry-Until", NULL };
	struct queue_dsn_rcpt	 r;
	struct queue_dsn_in	 in;
	struct buf		*out;
	enum queue_dsn_result	 res;
	const char		*f[FUZZ_NFIELDS], *s, *p, *e, *hit;
	char			*copy, delim[128];
	unsigned int		 flags, lines;
	size_t			 i, k, len, nf, b_len, count;
	uint8_t			 c0, c1;

	if (size < 2)
		return 0;
	c0 = data[0];
	c1 = data[1];
	copy = malloc(size - 2 + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data + 2, size - 2);
	copy[size - 2] = '\0';
	for (i = 0; i < FUZZ_NFIELDS; i++)
		f[i] = "";
	/* Fields end at NUL; the original is the rest, NULs and all. */
	for (nf = 0, p = copy; nf < FUZZ_NFIELDS - 1 &&
	    p < copy + (size - 2); nf++) {
		f[nf] = p;
		p += strlen(p) + 1;
	}
	f[FUZZ_NFIELDS - 1] = p < copy + (size - 2) ? p : "";
	len = p < copy + (size - 2) ? (size_t)(copy + (size - 2) - p) : 0;

	memset(&r, 0, sizeof(r));
	r.addr = f[1];
	r.action = (enum queue_dsn_kind)(c0 % 5);
	r.diagnostic = (c0 & 0x08) ? f[2] : NULL;
	r.diag_smtp = (c0 & 0x10) != 0;
	r.remote_mta = (c0 & 0x20) ? f[3] : NULL;
	r.status = f[4];
	r.orcpt_type = c1 % 3;
	r.orcpt = f[5];
	r.last_attempt_ms = (c1 & 0x04) ? INT64_C(1767225500000) : 0;
	r.retry_until_ms = (c1 & 0x08) ? INT64_C(1767657600000) : 0;
	memset(&in, 0, sizeof(in));
	in.reporting_mta = "mx.example.org";
	in.qid = "3F2A19C3B7AAAA";
	in.sender = f[0];
	in.to = (c0 & 0x40) ? QUEUE_DSN_TO_POSTMASTER : QUEUE_DSN_TO_SENDER;
	in.postmaster = "postmaster";
	in.envid = (c1 & 0x10) ? f[6] : NULL;
	in.ret = (c1 >> 5) % 3;
	in.arrival_ms = INT64_C(1767200000000);
	in.now_ms = INT64_C(1767225600000);
	in.rcpts = &r;
	in.nrcpt = 1;
	in.orig = len ? f[FUZZ_NFIELDS - 1] : NULL;
	in.orig_len = len;
	in.orig_size = (c0 & 0x80) ? len + 1 : len;
	in.return_limit = (c1 & 0x80) ? 64 : QUEUE_DSN_RETURN_LIMIT;
	in.boundary_seed = "3F2A19C3B7AAAA.1767225600000";

	out = buf_new(4096, 4 * 1024 * 1024);
	res = queue_dsn_compose(&in, out, &flags);
	if (res == QUEUE_DSN_E_SPACE)
		abort();
	if (res != QUEUE_DSN_OK) {
		if (res != QUEUE_DSN_E_INPUT || buf_len(out) != 0)
			abort();
		goto done;
	}
	s = buf_data(out);
	len = buf_len(out);

	/* CRLF lines of at most 998 octets, 7-bit unless flagged. */
	for (i = 0, k = 0; i < len; i++) {
		if (s[i] == '\r') {
			if (i + 1 == len || s[i + 1] != '\n')
				abort();
			i++;
			k = 0;
			continue;
		}
		if (s[i] == '\n' || s[i] == '\0' || ++k > 998)
			abort();
		if ((unsigned char)s[i] >= 0x80 &&
		    (flags & (QUEUE_DSN_O_8BIT | QUEUE_DSN_O_UTF8)) == 0)
			abort();
	}
	if (len < 2 || s[len - 2] != '\r' || s[len - 1] != '\n')
		abort();

	/* The boundary: where it was put, and nowhere else. */
	/* (On the Content-Type line: a To: may hold "boundary=" too.) */
	if ((p = strstr(s, "report-type=delivery-status;\r\n\tboundary=\""))
	    == NULL)
		abort();
	p += strlen("report-type=delivery-status;\r\n\tboundary=\"");
	if ((e = strchr(p, '"')) == NULL || (b_len = (size_t)(e - p)) == 0 ||
	    b_len > 70)
		abort();
	delim[0] = delim[1] = '-';
	memcpy(delim + 2, p, b_len);
	delim[b_len + 2] = '\0';
	for (count = 0, hit = s; (hit = strstr(hit, delim + 2)) != NULL; hit++)
		count++;
	for (lines = 0, p = s; p != NULL; p = (p = strchr(p, '\n')) ?
	    p + 1 : NULL)
		if (strncmp(p, delim, b_len + 2) == 0)
			lines++;
	k = (flags & (QUEUE_DSN_O_FULL | QUEUE_DSN_O_HDRS)) ? 4 : 3;
	if (lines != k || count != lines + 1)
		abort();

	/* The header and the report hold only the composer's fields. */
	if ((e = strstr(s, "\r\n\r\n")) == NULL)
		abort();
	fuzz_check_block(s, e + 2, top);
	if ((p = strstr(s, "Content-Type: message/delivery-status\r\n\r\n")) ==
	    NULL)
		abort();
	p += strlen("Content-Type: message/delivery-status\r\n\r\n");
	if ((e = strstr(p, delim)) == NULL)
		abort();
	fuzz_check_block(p, e, fields);
 done:
	buf_free(out);
	free(copy);
	return 0;
}
