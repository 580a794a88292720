/*
 * dsn-compose - queue_dsn_compose() from the command line, for
 * tests/integ/test_dsn.py
 *
 * Reads "key HEX" lines on standard input, HEX being the value's octets
 * in hex (so a value may hold CR, LF or anything else), and writes the
 * composed notice to standard output, exactly. Keys, for the message:
 * reporting_mta qid sender to (sender|postmaster|none) postmaster envid
 * ret arrival_ms now_ms orig orig_size return_limit boundary_seed cap;
 * "rcpt" (any value) starts a recipient, whose keys follow: addr
 * orcpt_type orcpt action (failed|delayed|delivered|relayed|expanded)
 * status remote_mta diagnostic diag_smtp last_attempt_ms retry_until_ms.
 * Numbers are decimal text (hex-encoded like the rest). orig_size
 * defaults to the length of orig.
 *
 * It prints "result=R flags=F" on standard error and exits 0 when R is
 * QUEUE_DSN_OK, 1 for another result, 2 for bad input. Not installed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "queue/queue_dsn.h"

#define DSN_COMPOSE_MAX_RCPT	64

static char	*dsn_compose_unhex(const char *, size_t *);
static int64_t	 dsn_compose_num(const char *);

/* dsn_compose_unhex - the octets of hex text, NUL-terminated; NULL if bad */
static char *
dsn_compose_unhex(const char *h, size_t *lenp)
{
	size_t	 n = strlen(h), i;
	char	*out;

	if (n % 2 != 0)
		return NULL;
	out = xmalloc(n / 2 + 1);
	for (i = 0; i < n / 2; i++) {
		unsigned int	 v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1) {
			free(out);
			return NULL;
		}
		out[i] = (char)v;
	}
	out[n / 2] = '\0';
	*lenp = n / 2;
	return out;
}

/* dsn_compose_num - a decimal number */
static int64_t
dsn_compose_num(const char *s)
{
	return (int64_t)strtoll(s, NULL, 10);
}

int
main(void)
{
	static struct queue_dsn_rcpt	 rcpts[DSN_COMPOSE_MAX_RCPT];
	struct queue_dsn_in		 in;
	struct queue_dsn_rcpt		*r = NULL;
	struct buf			*out;
	enum queue_dsn_result		 res;
	unsigned int			 flags;
	char				*line = NULL, *sp, *v;
	size_t				 linesz = 0, vlen, cap = 1024 * 1024;
	ssize_t				 n;
	int				 have_size = 0;

	memset(&in, 0, sizeof(in));
	in.reporting_mta = "mx.example.org";
	in.qid = "0123456789ABCD";
	in.sender = "";
	in.to = QUEUE_DSN_TO_SENDER;
	in.return_limit = QUEUE_DSN_RETURN_LIMIT;
	in.rcpts = rcpts;
	while ((n = getline(&line, &linesz, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		if ((sp = strchr(line, ' ')) == NULL)
			sp = line + n;
		else
			*sp++ = '\0';
		if ((v = dsn_compose_unhex(sp, &vlen)) == NULL) {
			fprintf(stderr, "dsn-compose: bad hex for %s\n", line);
			return 2;
		}
		/* The values live until exit: nothing here is freed. */
#define KEY(k)	(strcmp(line, (k)) == 0)
		if (KEY("rcpt")) {
			if (in.nrcpt == DSN_COMPOSE_MAX_RCPT)
				return 2;
			r = &rcpts[in.nrcpt++];
		} else if (r != NULL && KEY("addr"))
			r->addr = v;
		else if (r != NULL && KEY("orcpt_type"))
			r->orcpt_type = (uint32_t)dsn_compose_num(v);
		else if (r != NULL && KEY("orcpt"))
			r->orcpt = v;
		else if (r != NULL && KEY("action")) {
			static const char *const names[] = { "failed",
			    "delayed", "delivered", "relayed", "expanded" };
			unsigned int	 i;

			for (i = 0; i < 5 && strcmp(v, names[i]) != 0; i++)
				;
			if (i == 5)
				return 2;
			r->action = (enum queue_dsn_kind)i;
		} else if (r != NULL && KEY("status"))
			r->status = v;
		else if (r != NULL && KEY("remote_mta"))
			r->remote_mta = v;
		else if (r != NULL && KEY("diagnostic"))
			r->diagnostic = v;
		else if (r != NULL && KEY("diag_smtp"))
			r->diag_smtp = (int)dsn_compose_num(v);
		else if (r != NULL && KEY("last_attempt_ms"))
			r->last_attempt_ms = dsn_compose_num(v);
		else if (r != NULL && KEY("retry_until_ms"))
			r->retry_until_ms = dsn_compose_num(v);
		else if (KEY("reporting_mta"))
			in.reporting_mta = v;
		else if (KEY("qid"))
			in.qid = v;
		else if (KEY("sender"))
			in.sender = v;
		else if (KEY("to"))
			in.to = strcmp(v, "postmaster") == 0 ?
			    QUEUE_DSN_TO_POSTMASTER : strcmp(v, "none") == 0 ?
			    QUEUE_DSN_TO_NONE : QUEUE_DSN_TO_SENDER;
		else if (KEY("postmaster"))
			in.postmaster = v;
		else if (KEY("envid"))
			in.envid = v;
		else if (KEY("ret"))
			in.ret = (uint32_t)dsn_compose_num(v);
		else if (KEY("arrival_ms"))
			in.arrival_ms = dsn_compose_num(v);
		else if (KEY("now_ms"))
			in.now_ms = dsn_compose_num(v);
		else if (KEY("orig")) {
			in.orig = v;
			in.orig_len = vlen;
		} else if (KEY("orig_size")) {
			in.orig_size = (uint64_t)dsn_compose_num(v);
			have_size = 1;
		} else if (KEY("return_limit"))
			in.return_limit = (size_t)dsn_compose_num(v);
		else if (KEY("boundary_seed"))
			in.boundary_seed = v;
		else if (KEY("cap"))
			cap = (size_t)dsn_compose_num(v);
		else {
			fprintf(stderr, "dsn-compose: unknown key %s\n", line);
			return 2;
		}
#undef KEY
	}
	free(line);
	if (!have_size)
		in.orig_size = in.orig_len;
	out = buf_new(4096, cap);
	res = queue_dsn_compose(&in, out, &flags);
	fwrite(buf_data(out), 1, buf_len(out), stdout);
	fprintf(stderr, "result=%d flags=%u\n", (int)res, flags);
	buf_free(out);
	return res == QUEUE_DSN_OK ? 0 : 1;
}
