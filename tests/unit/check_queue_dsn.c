/*
 * check_queue_dsn - bounces and notices: who gets one, and what it says
 *
 * Each test composes a notice from a base input (one failed recipient,
 * a small 7-bit original) changed in one way, and reads the result back
 * with the small readers below: a field's unfolded value, a line, the
 * boundary. tests/integ/test_dsn.py parses the same messages with
 * Python's email package, independently of these readers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "queue/queue_dsn.h"
#include "queue/queue_rec.h"
#include "tests/unit/harness.h"

#define OUT_CAP		(1024 * 1024)
#define E		"\xc3\xa9"		/* U+00E9 in UTF-8 */

static const char orig7[] =
	"Received: from client.test by mx.example.org\r\n"
	"From: Ana <ana@uni-a.es>\r\n"
	"To: luis@uni-b.es\r\n"
	"Subject: lunch\r\n"
	"Message-ID: <m1@uni-a.es>\r\n"
	"\r\n"
	"See you at one.\r\n";

/* --- helpers -------------------------------------------------------------- */

static struct queue_dsn_rcpt	 base_rcpt;
static struct queue_dsn_in	 base;

/* dsn_base - one failed recipient, the whole 7-bit original, RET unset */
static void
dsn_base(void)
{
	memset(&base_rcpt, 0, sizeof(base_rcpt));
	base_rcpt.addr = "luis@uni-b.es";
	base_rcpt.action = QUEUE_DSN_FAILED;
	base_rcpt.status = "5.1.1";
	base_rcpt.remote_mta = "mx1.uni-b.es";
	base_rcpt.diagnostic = "550 5.1.1 <luis@uni-b.es>: no such user";
	base_rcpt.diag_smtp = 1;
	base_rcpt.last_attempt_ms = INT64_C(1767225500000);
	memset(&base, 0, sizeof(base));
	base.reporting_mta = "mx.example.org";
	base.qid = "3F2A19C3B7AAAA";
	base.sender = "ana@uni-a.es";
	base.to = QUEUE_DSN_TO_SENDER;
	base.arrival_ms = INT64_C(1767200000000);
	base.now_ms = INT64_C(1767225600000);	/* 2026-01-01 00:00:00 UTC */
	base.rcpts = &base_rcpt;
	base.nrcpt = 1;
	base.orig = orig7;
	base.orig_len = sizeof(orig7) - 1;
	base.orig_size = sizeof(orig7) - 1;
	base.return_limit = QUEUE_DSN_RETURN_LIMIT;
	base.boundary_seed = "3F2A19C3B7AAAA.1767225600000";
}

/* dsn_make - compose in, which must succeed; the caller frees */
static char *
dsn_make(const struct queue_dsn_in *in, unsigned int *flags)
{
	struct buf		*b = buf_new(4096, OUT_CAP);
	unsigned int		 f;
	enum queue_dsn_result	 r;

	r = queue_dsn_compose(in, b, &f);
	ck_assert_msg(r == QUEUE_DSN_OK, "compose returned %d", (int)r);
	if (flags != NULL)
		*flags = f;
	return buf_release(b);
}

/*
 * dsn_lines_ok - every line of s ends in CRLF, holds no other CR or LF,
 * and at most 998 octets; and, unless eight is set, s is 7-bit.
 */
static void
dsn_lines_ok(const char *s, int eight)
{
	size_t	 i, col = 0, line = 1;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\r') {
			ck_assert_msg(s[i + 1] == '\n', "bare CR on line %zu",
			    line);
			i++;
			line++;
			col = 0;
			continue;
		}
		ck_assert_msg(s[i] != '\n', "bare LF on line %zu", line);
		ck_assert_msg(++col <= 998, "line %zu is over 998 octets",
		    line);
		if (!eight)
			ck_assert_msg((unsigned char)s[i] < 0x80,
			    "8-bit octet on line %zu", line);
	}
	ck_assert_msg(i >= 2 && s[i - 2] == '\r' && s[i - 1] == '\n',
	    "the message does not end in CRLF");
}

/* dsn_has_line - 1 if s has a line that is exactly line */
static int
dsn_has_line(const char *s, const char *line)
{
	size_t		 n = strlen(line);
	const char	*p;

	for (p = s; (p = strstr(p, line)) != NULL; p++)
		if ((p == s || p[-1] == '\n') && strncmp(p + n, "\r\n", 2) == 0)
			return 1;
	return 0;
}

/* dsn_line_starts - how many lines of s start with prefix */
static int
dsn_line_starts(const char *s, const char *prefix)
{
	size_t		 n = strlen(prefix);
	const char	*p = s;
	int		 count = 0;

	for (;;) {
		if (strncmp(p, prefix, n) == 0)
			count++;
		if ((p = strchr(p, '\n')) == NULL)
			return count;
		p++;
	}
}

/*
 * dsn_field - the unfolded value of the first field called name at the
 * start of a line after from (NULL if none), in buf
 */
static const char *
dsn_field(const char *s, const char *name, char *buf, size_t len)
{
	const char	*p;
	size_t		 n = strlen(name), o = 0;

	for (p = s; (p = strstr(p, name)) != NULL; p++)
		if ((p == s || p[-1] == '\n') && p[n] == ':')
			break;
	if (p == NULL)
		return NULL;
	p += n + 1;
	if (*p == ' ')
		p++;
	for (; *p != '\0' && o + 1 < len; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			if (p[2] != ' ' && p[2] != '\t')
				break;
			p++;
			continue;
		}
		buf[o++] = *p;
	}
	buf[o] = '\0';
	return buf;
}

/* dsn_boundary - the boundary parameter of the top Content-Type */
static const char *
dsn_boundary(const char *s, char *buf, size_t len)
{
	const char	*p = strstr(s, "boundary=\""), *q;

	ck_assert_ptr_nonnull(p);
	p += strlen("boundary=\"");
	q = strchr(p, '"');
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_lt((size_t)(q - p), len);
	memcpy(buf, p, (size_t)(q - p));
	buf[q - p] = '\0';
	return buf;
}

/* dsn_report - the message/delivery-status part, from its blank line */
static const char *
dsn_report(const char *s)
{
	const char	*p;

	p = strstr(s, "Content-Type: message/delivery-status\r\n");

	ck_assert_ptr_nonnull(p);
	return p;
}

/*
 * dsn_says - 1 if s holds words, where any run of spaces and line ends
 * counts as one space (the plain-words text is wrapped)
 */
static int
dsn_says(const char *s, const char *words)
{
	char	*flat = xmalloc(strlen(s) + 1);
	size_t	 i, o = 0;
	int	 found;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == ' ' || s[i] == '\r' || s[i] == '\n') {
			if (o > 0 && flat[o - 1] == ' ')
				continue;
			flat[o++] = ' ';
		} else
			flat[o++] = s[i];
	}
	flat[o] = '\0';
	found = strstr(flat, words) != NULL;
	free(flat);
	return found;
}

/* dsn_7bit_between - no 8-bit octet from s up to the string end */
static void
dsn_7bit_between(const char *s, const char *end)
{
	const char	*e = strstr(s, end), *p;

	ck_assert_ptr_nonnull(e);
	for (p = s; p < e; p++)
		ck_assert_msg((unsigned char)*p < 0x80, "8-bit octet at %s", p);
}

/* --- the shape ------------------------------------------------------------ */

START_TEST(a_failure_notice_is_a_multipart_report_of_three_parts)
{
	char		*s, b[128], v[1024], delim[512];
	unsigned int	 flags;

	dsn_base();
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 0);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_FULL);
	ck_assert(dsn_has_line(s,
	    "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>"));
	ck_assert(dsn_has_line(s, "To: <ana@uni-a.es>"));
	ck_assert(dsn_has_line(s,
	    "Subject: Undelivered Mail Returned to Sender"));
	ck_assert(dsn_has_line(s, "Date: Thu, 01 Jan 2026 00:00:00 +0000"));
	ck_assert(dsn_has_line(s, "Auto-Submitted: auto-replied"));
	ck_assert(dsn_has_line(s, "MIME-Version: 1.0"));
	ck_assert_ptr_nonnull(dsn_field(s, "Message-ID", v, sizeof(v)));
	ck_assert_msg(strncmp(v, "<20260101000000.3F2A19C3B7AAAA.", 31) == 0 &&
	    strstr(v, "@mx.example.org>") != NULL, "Message-ID %s", v);
	ck_assert_ptr_nonnull(dsn_field(s, "Content-Type", v, sizeof(v)));
	ck_assert_msg(strncmp(v, "multipart/report; "
	    "report-type=delivery-status;", 46) == 0, "Content-Type %s", v);
	dsn_boundary(s, b, sizeof(b));
	ck_assert_msg(strncmp(b, "=_aval_3F2A19C3B7AAAA.1767225600000_", 36) ==
	    0, "boundary %s", b);
	ck_assert_uint_le(strlen(b), 70);
	snprintf(delim, sizeof(delim), "--%s", b);
	ck_assert_int_eq(dsn_line_starts(s, "--"), 4);
	ck_assert_int_eq(dsn_line_starts(s, delim), 4);
	snprintf(delim, sizeof(delim), "--%s--", b);
	ck_assert(dsn_has_line(s, delim));
	ck_assert_msg(strstr(s, delim)[strlen(delim) + 2] == '\0',
	    "something after the close delimiter");
	/* The parts, in RFC 6522's order. */
	ck_assert_ptr_nonnull(strstr(s, "Content-Type: text/plain; "
	    "charset=us-ascii\r\n"));
	ck_assert(strstr(s, "text/plain") < strstr(s,
	    "message/delivery-status"));
	ck_assert(strstr(s, "message/delivery-status") < strstr(s,
	    "Content-Type: message/rfc822"));
	ck_assert_ptr_null(strstr(s, "Content-Transfer-Encoding"));
	/* The original, byte for byte, ended by the delimiter's CRLF. */
	ck_assert_ptr_nonnull(strstr(s, orig7));
	snprintf(delim, sizeof(delim), "%s\r\n--%s--\r\n", orig7, b);
	ck_assert_ptr_nonnull(strstr(s, delim));
	free(s);
}
END_TEST

START_TEST(the_report_carries_every_field_for_a_failure)
{
	char		*s, v[1024];
	const char	*r;

	dsn_base();
	base.envid = "QQ+2B314";
	s = dsn_make(&base, NULL);
	r = dsn_report(s);
	ck_assert_str_eq(dsn_field(r, "Original-Envelope-Id", v, sizeof(v)),
	    "QQ+314");
	ck_assert_str_eq(dsn_field(r, "Reporting-MTA", v, sizeof(v)),
	    "dns; mx.example.org");
	ck_assert_str_eq(dsn_field(r, "Arrival-Date", v, sizeof(v)),
	    "Wed, 31 Dec 2025 16:53:20 +0000");
	ck_assert_str_eq(dsn_field(r, "X-Aval-Queue-ID", v, sizeof(v)),
	    "3F2A19C3B7AAAA");
	ck_assert_str_eq(dsn_field(r, "X-Aval-Sender", v, sizeof(v)),
	    "rfc822; ana@uni-a.es");
	ck_assert_str_eq(dsn_field(r, "Final-Recipient", v, sizeof(v)),
	    "rfc822; luis@uni-b.es");
	ck_assert_str_eq(dsn_field(r, "Action", v, sizeof(v)), "failed");
	ck_assert_str_eq(dsn_field(r, "Status", v, sizeof(v)), "5.1.1");
	ck_assert_str_eq(dsn_field(r, "Remote-MTA", v, sizeof(v)),
	    "dns; mx1.uni-b.es");
	ck_assert_str_eq(dsn_field(r, "Diagnostic-Code", v, sizeof(v)),
	    "smtp; 550 5.1.1 <luis@uni-b.es>: no such user");
	ck_assert_str_eq(dsn_field(r, "Last-Attempt-Date", v, sizeof(v)),
	    "Wed, 31 Dec 2025 23:58:20 +0000");
	ck_assert_ptr_null(dsn_field(r, "Will-Retry-Until", v, sizeof(v)));
	ck_assert_ptr_null(dsn_field(r, "Original-Recipient", v, sizeof(v)));
	/* The per-message block, a blank line, then the recipient's. */
	ck_assert_ptr_nonnull(strstr(r, "X-Aval-Sender: rfc822; ana@uni-a.es"
	    "\r\n\r\nFinal-Recipient: "));
	/* And the plain words name the recipient and the reply. */
	ck_assert(dsn_has_line(s, "  <luis@uni-b.es>"));
	ck_assert(dsn_has_line(s, "    mx1.uni-b.es said: 550 5.1.1 "
	    "<luis@uni-b.es>: no such user"));
	ck_assert(dsn_says(s, "quote its queue ID: "
	    "3F2A19C3B7AAAA."));
	free(s);
}
END_TEST

START_TEST(without_envid_or_arrival_those_fields_are_left_out)
{
	char	*s, v[64];

	dsn_base();
	base.arrival_ms = 0;
	base_rcpt.last_attempt_ms = 0;
	base_rcpt.remote_mta = NULL;
	base_rcpt.diagnostic = NULL;
	s = dsn_make(&base, NULL);
	ck_assert_ptr_null(dsn_field(s, "Original-Envelope-Id", v, sizeof(v)));
	ck_assert_ptr_null(dsn_field(s, "Arrival-Date", v, sizeof(v)));
	ck_assert_ptr_null(dsn_field(s, "Last-Attempt-Date", v, sizeof(v)));
	ck_assert_ptr_null(dsn_field(s, "Remote-MTA", v, sizeof(v)));
	ck_assert_ptr_null(dsn_field(s, "Diagnostic-Code", v, sizeof(v)));
	ck_assert(dsn_has_line(s, "    No reason was given (status 5.1.1)."));
	free(s);
}
END_TEST

struct dsn_date_case {
	int64_t		 ms;
	const char	*date;
};

static const struct dsn_date_case dsn_date_cases[] = {
	{ 0, "Thu, 01 Jan 1970 00:00:00 +0000" },
	{ INT64_C(1767225600000), "Thu, 01 Jan 2026 00:00:00 +0000" },
	{ INT64_C(951782400999), "Tue, 29 Feb 2000 00:00:00 +0000" },
	{ INT64_C(1700000000123), "Tue, 14 Nov 2023 22:13:20 +0000" },
	{ -5, "Thu, 01 Jan 1970 00:00:00 +0000" },
	{ INT64_MAX, "Thu, 01 Jan 1970 00:00:00 +0000" },
};

START_TEST(dates_are_rfc5322_in_utc_whatever_the_locale)
{
	const struct dsn_date_case	*c = &dsn_date_cases[_i];
	char				*s, v[128];

	dsn_base();
	base.now_ms = c->ms;
	s = dsn_make(&base, NULL);
	ck_assert_str_eq(dsn_field(s, "Date", v, sizeof(v)), c->date);
	free(s);
}
END_TEST

/* --- values from outside -------------------------------------------------- */

START_TEST(a_hostile_reply_cannot_add_lines_or_end_a_part)
{
	char		*s, b0[128], b[128], v[4096], delim[1024], diag[1024];
	const char	*r;

	dsn_base();
	s = dsn_make(&base, NULL);
	dsn_boundary(s, b0, sizeof(b0));
	free(s);

	/* The reply holds the very boundary this notice would use. */
	snprintf(diag, sizeof(diag), "550 5.1.1 no\r\nSubject: injected\r\n"
	    "\r\n--%s\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n"
	    "--%s--\r\n\tX-Tab: \x01\x1b[31m\x7f" E "end\r\n", b0, b0);
	base_rcpt.diagnostic = diag;
	base_rcpt.remote_mta = "mx1.uni-b.es\r\nX-Host: evil";
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	dsn_boundary(s, b, sizeof(b));
	ck_assert_str_ne(b, b0);
	snprintf(delim, sizeof(delim), "--%s", b);
	ck_assert_int_eq(dsn_line_starts(s, "--"), 4);
	ck_assert_int_eq(dsn_line_starts(s, delim), 4);
	/* Ours and the original's. */
	ck_assert_int_eq(dsn_line_starts(s, "Subject:"), 2);
	ck_assert_int_eq(dsn_line_starts(s, "X-Host"), 0);
	ck_assert_int_eq(dsn_line_starts(s, "X-Tab"), 0);
	ck_assert_int_eq(dsn_line_starts(s, "Content-Type: text/html"), 0);
	ck_assert_int_eq(dsn_line_starts(s, "<b>"), 0);
	r = dsn_report(s);
	ck_assert_str_eq(dsn_field(r, "Remote-MTA", v, sizeof(v)),
	    "dns; mx1.uni-b.es??X-Host:?evil");
	snprintf(delim, sizeof(delim), "smtp; 550 5.1.1 no Subject: injected "
	    "--%s Content-Type: text/html <b>hi</b> --%s-- X-Tab: [31m ??end",
	    b0, b0);
	ck_assert_str_eq(dsn_field(r, "Diagnostic-Code", v, sizeof(v)), delim);
	free(s);
}
END_TEST

START_TEST(an_address_cannot_add_a_header_line)
{
	char		*s, v[512];

	dsn_base();
	base.sender = "ana@uni-a.es>\r\nBcc: <all@example.org";
	base_rcpt.addr = "luis@uni-b.es\r\nX-Evil: 1";
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	ck_assert_int_eq(dsn_line_starts(s, "Bcc"), 0);
	ck_assert_int_eq(dsn_line_starts(s, "X-Evil"), 0);
	ck_assert_str_eq(dsn_field(s, "To", v, sizeof(v)),
	    "<ana@uni-a.es>??Bcc: <all@example.org>");
	ck_assert_str_eq(dsn_field(dsn_report(s), "Final-Recipient", v,
	    sizeof(v)), "rfc822; luis@uni-b.es??X-Evil: 1");
	ck_assert(dsn_has_line(s, "  <luis@uni-b.es??X-Evil: 1>"));
	free(s);
}
END_TEST

START_TEST(the_boundary_is_made_again_while_the_content_holds_it)
{
	char		 seen[8][128], addr[1200], *s;
	size_t		 k, j, o;
	struct buf	*b;

	/*
	 * The recipient address is not part of the hash the boundary
	 * carries, so each round can learn the next try's boundary and put
	 * it in the address: after eight, no boundary is left to try.
	 */
	dsn_base();
	addr[0] = '\0';
	for (k = 0; k < 8; k++) {
		base_rcpt.addr = addr;
		s = dsn_make(&base, NULL);
		dsn_boundary(s, seen[k], sizeof(seen[k]));
		for (j = 0; j < k; j++)
			ck_assert_str_ne(seen[k], seen[j]);
		free(s);
		o = strlen(addr);
		snprintf(addr + o, sizeof(addr) - o, "%s%s", o ? "." : "",
		    seen[k]);
	}
	strncat(addr, "@uni-b.es", sizeof(addr) - strlen(addr) - 1);
	base_rcpt.addr = addr;
	b = buf_new(16, OUT_CAP);
	buf_addstr(b, "kept");
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	ck_assert_str_eq(buf_data(b), "kept");
	buf_free(b);
}
END_TEST

START_TEST(an_original_that_guesses_the_seed_does_not_break_the_mime)
{
	char		*s, b0[128], b[128], delim[160], *o;
	size_t		 n;

	/* The body holds what the boundary would be without the hash. */
	dsn_base();
	n = strlen(orig7) + 256;
	o = xmalloc(n);
	snprintf(o, n, "%s--=_aval_3F2A19C3B7AAAA.1767225600000_\r\n"
	    "--=_aval_3F2A19C3B7AAAA.1767225600000\r\n", orig7);
	base.orig = o;
	base.orig_len = base.orig_size = strlen(o);
	s = dsn_make(&base, NULL);
	dsn_boundary(s, b0, sizeof(b0));
	free(s);
	/* And the same with a different body holds a different boundary. */
	o[strlen(orig7) - 3] = '!';
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	dsn_boundary(s, b, sizeof(b));
	ck_assert_str_ne(b, b0);
	snprintf(delim, sizeof(delim), "--%s", b);
	ck_assert_int_eq(dsn_line_starts(s, delim), 4);
	free(s);
	free(o);
}
END_TEST

START_TEST(a_long_diagnostic_is_folded_at_spaces_and_cut)
{
	char		*s, *diag, v[8192], want[4096];
	const char	*r, *p;
	size_t		 i;

	dsn_base();
	diag = xmalloc(6001);
	for (i = 0; i < 6000; i++)
		diag[i] = "550 lorem ipsum dolor sit amet "[i % 31];
	diag[6000] = '\0';
	base_rcpt.diagnostic = diag;
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	r = dsn_report(s);
	/* Cut to QUEUE_DSN_DIAG_MAX at most, and marked. */
	ck_assert_ptr_nonnull(dsn_field(r, "Diagnostic-Code", v, sizeof(v)));
	ck_assert_uint_le(strlen(v), strlen("smtp; ") + QUEUE_DSN_DIAG_MAX +
	    3);
	ck_assert_uint_gt(strlen(v), strlen("smtp; ") + QUEUE_DSN_DIAG_MAX -
	    40);
	ck_assert_str_eq(v + strlen(v) - 3, "...");
	/* What it holds is the reply, unchanged up to the cut. */
	snprintf(want, sizeof(want), "smtp; %s", diag);
	ck_assert(strncmp(v, want, strlen(v) - 3) == 0);
	/* Folded: no line of the field is over 78 octets. */
	p = strstr(r, "Diagnostic-Code:");
	for (i = 0; p[i] != '\0'; ) {
		size_t	 len = strcspn(p + i, "\r");

		ck_assert_uint_le(len, 78);
		i += len + 2;
		if (p[i] != ' ')
			break;
	}
	free(s);
	free(diag);
}
END_TEST

START_TEST(a_long_word_is_broken_under_998_octets)
{
	char		*s, *diag, v[8192], *w;
	const char	*r;
	size_t		 i, o;

	dsn_base();
	diag = xmalloc(1901);
	for (i = 0; i < 1900; i++)
		diag[i] = (char)('a' + i % 26);
	diag[1900] = '\0';
	base_rcpt.diagnostic = diag;
	base_rcpt.addr = "x@y";
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	r = dsn_report(s);
	ck_assert_ptr_nonnull(dsn_field(r, "Diagnostic-Code", v, sizeof(v)));
	/* Unfolded, it is the reply with a space put in at each break. */
	w = xmalloc(strlen(v) + 1);
	for (i = 0, o = 0; v[i] != '\0'; i++)
		if (i < 6 || v[i] != ' ')
			w[o++] = v[i];
	w[o] = '\0';
	ck_assert_str_eq(w + 6, diag);
	ck_assert_uint_ge(strlen(v) - strlen(w), 1);
	/* The plain-words text breaks it too. */
	ck_assert_ptr_nonnull(strstr(s, "    mx1.uni-b.es said:\r\n    abcd"));
	free(w);
	free(s);
	free(diag);
}
END_TEST

/* --- ORCPT, ENVID, UTF-8 -------------------------------------------------- */

struct dsn_orcpt_case {
	uint32_t	 type;
	const char	*orcpt;		/* as stored */
	const char	*field;		/* Original-Recipient, or NULL */
};

static const struct dsn_orcpt_case dsn_orcpt_cases[] = {
	{ 0, NULL, NULL },
	{ QUEUE_ORCPT_RFC822, NULL, NULL },
	{ QUEUE_ORCPT_RFC822, "", NULL },
	{ QUEUE_ORCPT_RFC822, "Luis@Uni-B.es", "rfc822; Luis@Uni-B.es" },
	{ QUEUE_ORCPT_RFC822, "luis+2Btag@uni-b.es",
	    "rfc822; luis+tag@uni-b.es" },
	{ QUEUE_ORCPT_RFC822, "+22luis+20m+22@uni-b.es",
	    "rfc822; \"luis m\"@uni-b.es" },
	/* Damaged in the store: shown as it is, cleaned. */
	{ QUEUE_ORCPT_RFC822, "a+0D+0Ab@c", "rfc822; a+0D+0Ab@c" },
	{ QUEUE_ORCPT_RFC822, "a\r\nb@c", "rfc822; a??b@c" },
	/* utf-8 (RFC 6533): either form in, utf-8-addr-xtext out. */
	{ QUEUE_ORCPT_UTF8, "jos\\x{E9}@uni-b.es",
	    "utf-8; jos\\x{E9}@uni-b.es" },
	{ QUEUE_ORCPT_UTF8, "jos\\x{e9}@uni-b.es",
	    "utf-8; jos\\x{E9}@uni-b.es" },
	{ QUEUE_ORCPT_UTF8, "jos" E "@uni-b.es", "utf-8; jos\\x{E9}@uni-b.es" },
	{ QUEUE_ORCPT_UTF8, "\xe4\xb8\xad@\xe4\xbe\x8b.cn",
	    "utf-8; \\x{4E2D}@\\x{4F8B}.cn" },
	{ QUEUE_ORCPT_UTF8, "\\x{1F600}@x", "utf-8; \\x{1F600}@x" },
	{ QUEUE_ORCPT_UTF8, "ascii@x", "utf-8; ascii@x" },
	{ 9, "luis@uni-b.es", NULL },		/* a type we do not know */
};

START_TEST(original_recipient_is_the_orcpt_decoded)
{
	const struct dsn_orcpt_case	*c = &dsn_orcpt_cases[_i];
	char				*s, v[512];
	const char			*got;

	dsn_base();
	base_rcpt.orcpt_type = c->type;
	base_rcpt.orcpt = c->orcpt;
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	got = dsn_field(dsn_report(s), "Original-Recipient", v, sizeof(v));
	if (c->field == NULL)
		ck_assert_msg(got == NULL, "row %d: %s", _i, got);
	else {
		ck_assert_msg(got != NULL, "row %d: none", _i);
		ck_assert_str_eq(got, c->field);
		/* RFC 3464's order: Original-Recipient before Final-. */
		ck_assert(strstr(s, "Original-Recipient:") < strstr(s,
		    "Final-Recipient:"));
	}
	free(s);
}
END_TEST

START_TEST(envid_is_written_decoded_or_as_stored_when_damaged)
{
	char	*s, v[512];

	dsn_base();
	base.envid = "a+20b+2Bc+3Dd";
	s = dsn_make(&base, NULL);
	ck_assert_str_eq(dsn_field(s, "Original-Envelope-Id", v, sizeof(v)),
	    "a b+c=d");
	free(s);
	base.envid = "abc+2b";			/* lowercase hex: not xtext */
	s = dsn_make(&base, NULL);
	ck_assert_str_eq(dsn_field(s, "Original-Envelope-Id", v, sizeof(v)),
	    "abc+2b");
	free(s);
	base.envid = "";
	s = dsn_make(&base, NULL);
	ck_assert_ptr_null(dsn_field(s, "Original-Envelope-Id", v, sizeof(v)));
	free(s);
}
END_TEST

START_TEST(a_utf8_recipient_is_xtext_in_the_report_and_utf8_in_the_text)
{
	char		*s, v[512];
	unsigned int	 flags;

	dsn_base();
	base_rcpt.addr = "jos" E "@uni-b.es";
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 1);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_FULL | QUEUE_DSN_O_8BIT);
	ck_assert_str_eq(dsn_field(dsn_report(s), "Final-Recipient", v,
	    sizeof(v)), "utf-8; jos\\x{E9}@uni-b.es");
	ck_assert_ptr_nonnull(strstr(s, "Content-Type: text/plain; "
	    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"));
	ck_assert(dsn_has_line(s, "  <jos" E "@uni-b.es>"));
	/* The whole is 8bit, as it holds an 8bit part. */
	ck_assert(dsn_has_line(s, "Content-Transfer-Encoding: 8bit"));
	ck_assert(strstr(s, "Content-Transfer-Encoding: 8bit") <
	    strstr(s, "This is a MIME-encapsulated message."));
	/* The report stays 7-bit. */
	dsn_7bit_between(dsn_report(s), "Content-Type: message/rfc822");
	free(s);

	/* Invalid UTF-8 is not passed on, and does not make the text 8-bit. */
	base_rcpt.addr = "jos\xc3(@uni-b.es";
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 0);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_FULL);
	ck_assert_str_eq(dsn_field(dsn_report(s), "Final-Recipient", v,
	    sizeof(v)), "rfc822; jos?(@uni-b.es");
	free(s);
}
END_TEST

START_TEST(a_utf8_sender_needs_smtputf8_for_the_to_field)
{
	char		*s, v[512];
	unsigned int	 flags;

	dsn_base();
	base.sender = "an" E "@uni-a.es";
	s = dsn_make(&base, &flags);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_FULL | QUEUE_DSN_O_UTF8);
	ck_assert_str_eq(dsn_field(s, "To", v, sizeof(v)),
	    "<an" E "@uni-a.es>");
	ck_assert_str_eq(dsn_field(dsn_report(s), "X-Aval-Sender", v,
	    sizeof(v)), "utf-8; an\\x{E9}@uni-a.es");
	free(s);
}
END_TEST

/* --- NOTIFY, and who gets a notice ---------------------------------------- */

#define F	(1u << QUEUE_DSN_FAILED)
#define D	(1u << QUEUE_DSN_DELAYED)
#define S	((1u << QUEUE_DSN_DELIVERED) | (1u << QUEUE_DSN_RELAYED) | \
		    (1u << QUEUE_DSN_EXPANDED))

struct dsn_notify_case {
	uint32_t	 notify;
	unsigned int	 kinds;		/* 1 << kind for each one wanted */
};

static const struct dsn_notify_case dsn_notify_cases[] = {
	{ 0, F | D },			/* RFC 3461 4.1: FAILURE,DELAY */
	{ QUEUE_NOTIFY_NEVER, 0 },
	{ QUEUE_NOTIFY_SUCCESS, S },
	{ QUEUE_NOTIFY_FAILURE, F },
	{ QUEUE_NOTIFY_DELAY, D },
	{ QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE, S | F },
	{ QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY, S | D },
	{ QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY, F | D },
	{ QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY,
	    S | F | D },
	/* NEVER with others is refused by smtpd; NEVER wins here. */
	{ QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_FAILURE, 0 },
	{ QUEUE_NOTIFY_MAX, 0 },
};

START_TEST(notify_picks_the_kinds_of_notice)
{
	const struct dsn_notify_case	*c = &dsn_notify_cases[_i];
	int				 k;

	for (k = QUEUE_DSN_FAILED; k <= QUEUE_DSN_EXPANDED; k++)
		ck_assert_msg(queue_dsn_wanted(c->notify,
		    (enum queue_dsn_kind)k) == (int)((c->kinds >> k) & 1),
		    "notify 0x%x, kind %d", c->notify, k);
}
END_TEST

#undef F
#undef D
#undef S

struct dsn_to_case {
	const char		*sender;
	enum queue_dsn_kind	 kind;
	int			 pm_copy;
	enum queue_dsn_to	 to;
};

static const struct dsn_to_case dsn_to_cases[] = {
	{ "ana@uni-a.es", QUEUE_DSN_FAILED, 0, QUEUE_DSN_TO_SENDER },
	{ "ana@uni-a.es", QUEUE_DSN_DELAYED, 0, QUEUE_DSN_TO_SENDER },
	{ "ana@uni-a.es", QUEUE_DSN_DELIVERED, 0, QUEUE_DSN_TO_SENDER },
	{ "ana@uni-a.es", QUEUE_DSN_RELAYED, 0, QUEUE_DSN_TO_SENDER },
	/* A bounce that fails goes to the postmaster, once... */
	{ "", QUEUE_DSN_FAILED, 0, QUEUE_DSN_TO_POSTMASTER },
	{ NULL, QUEUE_DSN_FAILED, 0, QUEUE_DSN_TO_POSTMASTER },
	{ "", QUEUE_DSN_DELAYED, 0, QUEUE_DSN_TO_NONE },
	{ "", QUEUE_DSN_DELIVERED, 0, QUEUE_DSN_TO_NONE },
	{ "", QUEUE_DSN_EXPANDED, 0, QUEUE_DSN_TO_NONE },
	/* ...and that copy, failing in turn, goes nowhere. */
	{ "", QUEUE_DSN_FAILED, 1, QUEUE_DSN_TO_NONE },
	{ "ana@uni-a.es", QUEUE_DSN_FAILED, 1, QUEUE_DSN_TO_NONE },
	{ "", QUEUE_DSN_DELAYED, 1, QUEUE_DSN_TO_NONE },
};

START_TEST(a_bounce_never_bounces)
{
	const struct dsn_to_case	*c = &dsn_to_cases[_i];

	ck_assert_int_eq(queue_dsn_to(c->sender, c->kind, c->pm_copy), c->to);
}
END_TEST

START_TEST(no_notice_is_made_for_the_null_sender)
{
	struct buf	*b = buf_new(16, OUT_CAP);

	dsn_base();
	base.sender = "";
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	base.to = QUEUE_DSN_TO_NONE;
	base.sender = "ana@uni-a.es";
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	base.to = QUEUE_DSN_TO_POSTMASTER;
	base.postmaster = NULL;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	base.postmaster = "";
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	ck_assert_uint_eq(buf_len(b), 0);
	buf_free(b);
}
END_TEST

START_TEST(the_postmaster_copy_says_whose_it_is)
{
	char	*s, v[256];

	dsn_base();
	base.sender = "";
	base.to = QUEUE_DSN_TO_POSTMASTER;
	base.postmaster = "postmaster";
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	ck_assert_str_eq(dsn_field(s, "To", v, sizeof(v)),
	    "<postmaster@mx.example.org>");
	ck_assert_str_eq(dsn_field(s, "Subject", v, sizeof(v)),
	    "Postmaster Copy: Undelivered Mail");
	ck_assert_ptr_null(dsn_field(s, "X-Aval-Sender", v, sizeof(v)));
	ck_assert(dsn_says(s, "it comes to you as postmaster. It will not be "
	    "returned again."));
	ck_assert(dsn_says(s, "The message is attached"));
	free(s);
	base.postmaster = "hostmaster@example.org";
	s = dsn_make(&base, NULL);
	ck_assert_str_eq(dsn_field(s, "To", v, sizeof(v)),
	    "<hostmaster@example.org>");
	free(s);
}
END_TEST

/* --- what is returned ----------------------------------------------------- */

enum dsn_shape { SHAPE_FULL, SHAPE_HDRS, SHAPE_NONE };

struct dsn_ret_case {
	const char		*what;
	uint32_t		 ret;
	enum queue_dsn_kind	 action;
	size_t			 orig_len;	/* (size_t)-1: all of orig7 */
	uint64_t		 orig_size;	/* 0: orig_len */
	size_t			 limit;
	enum dsn_shape		 shape;
	const char		*words;		/* in the text part */
};

#define ALL	((size_t)-1)
#define LIM	QUEUE_DSN_RETURN_LIMIT

static const struct dsn_ret_case dsn_ret_cases[] = {
	{ "no RET, small", 0, QUEUE_DSN_FAILED, ALL, 0, LIM, SHAPE_FULL,
	    "Your message is attached below the delivery report." },
	{ "RET=FULL", QUEUE_RET_FULL, QUEUE_DSN_FAILED, ALL, 0, LIM,
	    SHAPE_FULL, "Your message is attached" },
	{ "RET=HDRS", QUEUE_RET_HDRS, QUEUE_DSN_FAILED, ALL, 0, LIM,
	    SHAPE_HDRS, "only the headers were asked for" },
	{ "RET=FULL, over the limit", QUEUE_RET_FULL, QUEUE_DSN_FAILED,
	    ALL, 0, 100, SHAPE_HDRS, "(153 bytes, over the 100 this system" },
	{ "no RET, over the limit", 0, QUEUE_DSN_FAILED, ALL, 900000, LIM,
	    SHAPE_HDRS, "(900000 bytes, over the 50000 this system" },
	{ "limit 0", 0, QUEUE_DSN_FAILED, ALL, 0, 0, SHAPE_HDRS,
	    "too large to return whole" },
	{ "only a prefix given", QUEUE_RET_FULL, QUEUE_DSN_FAILED, 150, 0, LIM,
	    SHAPE_HDRS, "the rest could not be read back" },
	{ "delay, RET=FULL", QUEUE_RET_FULL, QUEUE_DSN_DELAYED, ALL, 0, LIM,
	    SHAPE_HDRS, "The headers of your message are attached" },
	{ "success, RET=FULL", QUEUE_RET_FULL, QUEUE_DSN_DELIVERED, ALL, 0,
	    LIM, SHAPE_HDRS, "The headers of your message are attached" },
	{ "relayed", 0, QUEUE_DSN_RELAYED, ALL, 0, LIM, SHAPE_HDRS,
	    "The headers of your message are attached" },
	{ "nothing readable", 0, QUEUE_DSN_FAILED, 0, 0, LIM, SHAPE_NONE,
	    "could not be read back, so it is not attached" },
};

START_TEST(ret_and_the_limit_decide_what_is_returned)
{
	const struct dsn_ret_case	*c = &dsn_ret_cases[_i];
	static const char		 hdrs[] =
		"Received: from client.test by mx.example.org\r\n"
		"From: Ana <ana@uni-a.es>\r\n"
		"To: luis@uni-b.es\r\n"
		"Subject: lunch\r\n"
		"Message-ID: <m1@uni-a.es>\r\n";
	char				*s, b[128], v[256], want[512];
	unsigned int			 flags;

	ck_assert_uint_eq(sizeof(orig7) - 1, 153);
	dsn_base();
	base.ret = c->ret;
	base_rcpt.action = c->action;
	base_rcpt.status = NULL;
	base.orig_len = c->orig_len == ALL ? sizeof(orig7) - 1 : c->orig_len;
	base.orig_size = c->orig_size ? c->orig_size : sizeof(orig7) - 1;
	if (c->orig_len == 0)
		base.orig = NULL;
	base.return_limit = c->limit;
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 0);
	dsn_boundary(s, b, sizeof(b));
	ck_assert_msg(dsn_says(s, c->words), "%s: no \"%s\" in\n%s",
	    c->what, c->words, s);
	switch (c->shape) {
	case SHAPE_FULL:
		ck_assert_uint_eq(flags, QUEUE_DSN_O_FULL);
		snprintf(want, sizeof(want), "Content-Type: message/rfc822\r\n"
		    "\r\n%s\r\n--%s--\r\n", orig7, b);
		ck_assert_ptr_nonnull(strstr(s, want));
		break;
	case SHAPE_HDRS:
		ck_assert_msg(flags == QUEUE_DSN_O_HDRS, "%s: flags %u",
		    c->what, flags);
		snprintf(want, sizeof(want), "Content-Type: text/rfc822-headers"
		    "\r\n\r\n%s\r\n--%s--\r\n", hdrs, b);
		ck_assert_msg(strstr(s, want) != NULL, "%s:\n%s", c->what, s);
		ck_assert_ptr_null(strstr(s, "See you at one."));
		ck_assert_ptr_null(strstr(s, "message/rfc822"));
		ck_assert_str_eq(dsn_field(s, "Content-Description",
		    v, sizeof(v)), "Notification");
		break;
	case SHAPE_NONE:
		ck_assert_uint_eq(flags, 0);
		ck_assert_ptr_null(strstr(s, "rfc822-headers"));
		ck_assert_ptr_null(strstr(s, "message/rfc822"));
		snprintf(want, sizeof(want), "--%s", b);
		ck_assert_int_eq(dsn_line_starts(s, want), 3);
		break;
	}
	free(s);
}
END_TEST

#undef ALL
#undef LIM

START_TEST(an_8bit_original_is_labelled_8bit)
{
	static const char	 o8[] = "From: jos" E "@uni-b.es\r\n"
				    "Subject: caf" E "\r\n\r\nol" E "\r\n";
	char			*s;
	unsigned int		 flags;

	dsn_base();
	base.orig = o8;
	base.orig_len = base.orig_size = sizeof(o8) - 1;
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 1);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_FULL | QUEUE_DSN_O_8BIT);
	ck_assert_ptr_nonnull(strstr(s, "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"));
	ck_assert(strstr(s, "Content-Transfer-Encoding: 8bit") <
	    strstr(s, "This is a MIME-encapsulated message."));
	/* Only the original is 8-bit: the rest stays 7-bit. */
	ck_assert_ptr_null(memchr(s, '\xc3', (size_t)(strstr(s, o8) - s)));
	ck_assert_ptr_nonnull(strstr(s, o8));
	free(s);
	/* Its headers alone, 8-bit too. */
	base.ret = QUEUE_RET_HDRS;
	s = dsn_make(&base, &flags);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_HDRS | QUEUE_DSN_O_8BIT);
	ck_assert_ptr_nonnull(strstr(s, "Content-Type: text/rfc822-headers\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"));
	free(s);
}
END_TEST

struct dsn_bad_orig_case {
	const char	*what;
	const char	*orig;
	size_t		 len;
	int		 hdrs;		/* its headers still go in */
};

static char dsn_long_line[1200];

#define ORIG(s)	s, sizeof(s) - 1

static const struct dsn_bad_orig_case dsn_bad_orig_cases[] = {
	{ "NUL in the body", ORIG("Subject: x\r\n\r\na\0b\r\n"), 1 },
	{ "bare LF in the body", ORIG("Subject: x\r\n\r\na\nb\r\n"), 1 },
	{ "bare CR in the body", ORIG("Subject: x\r\n\r\na\rb\r\n"), 1 },
	{ "bare LF in the headers", ORIG("Subject: x\nTo: y\r\n\r\nab\r\n"),
	    0 },
	{ "a long line in the body", dsn_long_line, 0, 1 },
};

#undef ORIG

START_TEST(an_original_we_cannot_enclose_as_is_is_left_out)
{
	const struct dsn_bad_orig_case	*c = &dsn_bad_orig_cases[_i];
	char				*s;
	unsigned int			 flags;

	memset(dsn_long_line, 'x', sizeof(dsn_long_line) - 1);
	memcpy(dsn_long_line, "Subject: x\r\n\r\n", 14);
	memcpy(dsn_long_line + sizeof(dsn_long_line) - 3, "\r\n", 2);
	dsn_base();
	base.orig = c->orig;
	base.orig_len = base.orig_size = c->len ? c->len :
	    strlen(dsn_long_line);
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 0);
	ck_assert_msg(flags == (c->hdrs ? QUEUE_DSN_O_HDRS : 0u),
	    "%s: flags %u", c->what, flags);
	if (c->hdrs) {
		ck_assert_ptr_nonnull(strstr(s, "text/rfc822-headers\r\n\r\n"
		    "Subject: x\r\n\r\n--"));
		ck_assert(dsn_says(s, "could not be read back."));
	} else
		ck_assert(dsn_says(s, "could not be read back, so "
		    "it is not attached."));
	free(s);
}
END_TEST

START_TEST(headers_cut_short_are_returned_as_far_as_they_go)
{
	static const char	 o[] = "Subject: x\r\nTo: y\r\nX-Lo";
	char			*s;
	unsigned int		 flags;

	dsn_base();
	base.orig = o;
	base.orig_len = sizeof(o) - 1;
	base.orig_size = 100000;
	s = dsn_make(&base, &flags);
	dsn_lines_ok(s, 0);
	ck_assert_uint_eq(flags, QUEUE_DSN_O_HDRS);
	ck_assert_ptr_nonnull(strstr(s, "text/rfc822-headers\r\n\r\n"
	    "Subject: x\r\nTo: y\r\n\r\n--"));
	ck_assert(dsn_says(s, "Its headers were too long"));
	free(s);
	/* A whole message of headers alone is all headers. */
	base.orig_size = base.orig_len;
	base.ret = QUEUE_RET_HDRS;
	s = dsn_make(&base, &flags);
	ck_assert_ptr_nonnull(strstr(s, "text/rfc822-headers\r\n\r\n"
	    "Subject: x\r\nTo: y\r\nX-Lo\r\n--"));
	ck_assert(!dsn_says(s, "Its headers were too long"));
	free(s);
}
END_TEST

/* --- kinds of notice ------------------------------------------------------ */

START_TEST(a_delay_notice_says_until_when)
{
	char		*s, v[256];
	const char	*r;

	dsn_base();
	base_rcpt.action = QUEUE_DSN_DELAYED;
	base_rcpt.status = "4.4.1";
	base_rcpt.diagnostic = "connect to mx1.uni-b.es: timed out";
	base_rcpt.diag_smtp = 0;
	base_rcpt.retry_until_ms = INT64_C(1767657600000);	/* +5 days */
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	ck_assert_str_eq(dsn_field(s, "Subject", v, sizeof(v)),
	    "Delayed Mail (still being retried)");
	r = dsn_report(s);
	ck_assert_str_eq(dsn_field(r, "Action", v, sizeof(v)), "delayed");
	ck_assert_str_eq(dsn_field(r, "Status", v, sizeof(v)), "4.4.1");
	ck_assert_str_eq(dsn_field(r, "Diagnostic-Code", v, sizeof(v)),
	    "X-Aval; connect to mx1.uni-b.es: timed out");
	ck_assert_str_eq(dsn_field(r, "Will-Retry-Until", v, sizeof(v)),
	    "Tue, 06 Jan 2026 00:00:00 +0000");
	ck_assert(dsn_says(s, "has not yet been delivered"));
	ck_assert(dsn_says(s, "will keep trying until Tue, 06 Jan "
	    "2026"));
	ck_assert(dsn_has_line(s, "    connect to mx1.uni-b.es: timed out"));
	free(s);
	/* A failed recipient never says when it will be retried. */
	base_rcpt.action = QUEUE_DSN_FAILED;
	s = dsn_make(&base, NULL);
	ck_assert_ptr_null(dsn_field(s, "Will-Retry-Until", v, sizeof(v)));
	free(s);
}
END_TEST

struct dsn_subject_case {
	enum queue_dsn_kind	 action;
	const char		*subject;
	const char		*words;
};

static const struct dsn_subject_case dsn_subject_cases[] = {
	{ QUEUE_DSN_FAILED, "Undelivered Mail Returned to Sender",
	    "could not be delivered" },
	{ QUEUE_DSN_DELAYED, "Delayed Mail (still being retried)",
	    "has not yet been delivered" },
	{ QUEUE_DSN_DELIVERED, "Successful Mail Delivery Report",
	    "was delivered to the recipients below" },
	{ QUEUE_DSN_EXPANDED, "Successful Mail Delivery Report",
	    "aliases or mailing lists" },
	{ QUEUE_DSN_RELAYED, "Relayed Mail Report",
	    "do not send delivery reports" },
};

START_TEST(each_kind_has_its_subject_action_and_words)
{
	const struct dsn_subject_case	*c = &dsn_subject_cases[_i];
	static const char *const	 actions[] = { "failed", "delayed",
	    "delivered", "relayed", "expanded" };
	char				*s, v[256];

	dsn_base();
	base_rcpt.action = c->action;
	base_rcpt.status = NULL;
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	ck_assert_str_eq(dsn_field(s, "Subject", v, sizeof(v)), c->subject);
	ck_assert_str_eq(dsn_field(dsn_report(s), "Action", v, sizeof(v)),
	    actions[c->action]);
	ck_assert(dsn_says(s, c->words));
	free(s);
}
END_TEST

START_TEST(a_mixed_notice_lists_each_recipient_under_its_action)
{
	struct queue_dsn_rcpt	 r[3];
	char			*s, v[256];
	const char		*p;

	dsn_base();
	r[0] = base_rcpt;
	r[1] = base_rcpt;
	r[1].addr = "eva@uni-c.es";
	r[1].action = QUEUE_DSN_DELAYED;
	r[1].status = "4.4.1";
	r[2] = base_rcpt;
	r[2].addr = "pau@uni-d.es";
	r[2].status = "5.7.1";
	base.rcpts = r;
	base.nrcpt = 3;
	s = dsn_make(&base, NULL);
	dsn_lines_ok(s, 0);
	ck_assert_str_eq(dsn_field(s, "Subject", v, sizeof(v)),
	    "Undelivered Mail Returned to Sender");
	/* Failures first, then delays, in the text... */
	ck_assert(strstr(s, "  <luis@uni-b.es>") <
	    strstr(s, "  <pau@uni-d.es>"));
	ck_assert(strstr(s, "  <pau@uni-d.es>") < strstr(s, "has not yet"));
	ck_assert(strstr(s, "has not yet") < strstr(s, "  <eva@uni-c.es>"));
	/* ...and each in its own block of the report, in order. */
	p = dsn_report(s);
	p = strstr(p, "\r\n\r\nFinal-Recipient: rfc822; luis@uni-b.es\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n");
	ck_assert_ptr_nonnull(p);
	p = strstr(p, "\r\n\r\nFinal-Recipient: rfc822; eva@uni-c.es\r\n"
	    "Action: delayed\r\nStatus: 4.4.1\r\n");
	ck_assert_ptr_nonnull(p);
	p = strstr(p, "\r\n\r\nFinal-Recipient: rfc822; pau@uni-d.es\r\n"
	    "Action: failed\r\nStatus: 5.7.1\r\n");
	ck_assert_ptr_nonnull(p);
	free(s);
}
END_TEST

struct dsn_status_case {
	enum queue_dsn_kind	 action;
	const char		*status;
	const char		*want;
};

static const struct dsn_status_case dsn_status_cases[] = {
	{ QUEUE_DSN_FAILED, "5.1.1", "5.1.1" },
	{ QUEUE_DSN_FAILED, "4.4.7", "4.4.7" },		/* expired */
	{ QUEUE_DSN_FAILED, "5.123.456", "5.123.456" },
	{ QUEUE_DSN_FAILED, NULL, "5.0.0" },
	{ QUEUE_DSN_FAILED, "", "5.0.0" },
	{ QUEUE_DSN_FAILED, "5.1", "5.0.0" },
	{ QUEUE_DSN_FAILED, "6.1.1", "5.0.0" },
	{ QUEUE_DSN_FAILED, "5.1.1 ", "5.0.0" },
	{ QUEUE_DSN_FAILED, "5.1.1\r\nX: y", "5.0.0" },
	{ QUEUE_DSN_FAILED, "5.1234.1", "5.0.0" },
	{ QUEUE_DSN_FAILED, "5..1", "5.0.0" },
	{ QUEUE_DSN_DELAYED, NULL, "4.0.0" },
	{ QUEUE_DSN_DELIVERED, "bogus", "2.0.0" },
	{ QUEUE_DSN_RELAYED, NULL, "2.0.0" },
};

START_TEST(a_malformed_status_becomes_the_actions_own)
{
	const struct dsn_status_case	*c = &dsn_status_cases[_i];
	char				*s, v[64];

	dsn_base();
	base_rcpt.action = c->action;
	base_rcpt.status = c->status;
	s = dsn_make(&base, NULL);
	ck_assert_str_eq(dsn_field(dsn_report(s), "Status", v, sizeof(v)),
	    c->want);
	free(s);
}
END_TEST

/* --- refusals ------------------------------------------------------------- */

START_TEST(a_small_cap_leaves_out_as_it_was)
{
	struct buf	*b;
	char		*s, *big;
	size_t		 n, i;

	dsn_base();
	s = dsn_make(&base, NULL);
	n = strlen(s);
	free(s);
	b = buf_new(16, 3 + n - 1);
	buf_addstr(b, "abc");
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_SPACE);
	ck_assert_str_eq(buf_data(b), "abc");
	buf_free(b);
	/* Exactly enough is enough, and appends. */
	b = buf_new(16, 3 + n);
	buf_addstr(b, "abc");
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_OK);
	ck_assert_uint_eq(buf_len(b), 3 + n);
	ck_assert(strncmp(buf_data(b), "abcFrom: ", 9) == 0);
	buf_free(b);
	/* Too big whole, it fits with the headers only. */
	big = xmalloc(sizeof(orig7) + 4000);
	memcpy(big, orig7, sizeof(orig7) - 1);
	for (i = 0; i < 4000; i += 40)
		memcpy(big + sizeof(orig7) - 1 + i,
		    "thirty-eight octets of body, and CRLF.\r\n", 40);
	base.orig = big;
	base.orig_len = base.orig_size = sizeof(orig7) - 1 + 4000;
	b = buf_new(16, n + 2000);
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_SPACE);
	ck_assert_uint_eq(buf_len(b), 0);
	base.return_limit = 0;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_OK);
	buf_free(b);
	free(big);
}
END_TEST

START_TEST(a_notice_about_nothing_is_refused)
{
	struct buf		*b = buf_new(16, OUT_CAP);
	struct queue_dsn_rcpt	 r;

	dsn_base();
	ck_assert_int_eq(queue_dsn_compose(NULL, b, NULL), QUEUE_DSN_E_INPUT);
	base.nrcpt = 0;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	dsn_base();
	base.rcpts = NULL;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	dsn_base();
	r = base_rcpt;
	r.addr = NULL;
	base.rcpts = &r;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	r = base_rcpt;
	r.action = (enum queue_dsn_kind)7;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	dsn_base();
	base.reporting_mta = "";
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	base.reporting_mta = NULL;
	ck_assert_int_eq(queue_dsn_compose(&base, b, NULL), QUEUE_DSN_E_INPUT);
	ck_assert_uint_eq(buf_len(b), 0);
	buf_free(b);
}
END_TEST

START_TEST(the_same_input_gives_the_same_bytes)
{
	char	*a, *b;

	dsn_base();
	a = dsn_make(&base, NULL);
	b = dsn_make(&base, NULL);
	ck_assert_str_eq(a, b);
	free(b);
	base.boundary_seed = NULL;
	b = dsn_make(&base, NULL);
	ck_assert_str_ne(a, b);
	ck_assert_ptr_nonnull(strstr(b, "boundary=\"=_aval_"));
	free(b);
	free(a);
}
END_TEST

Suite *
queue_dsn_suite(void)
{
	Suite	*s = suite_create("queue_dsn");
	TCase	*tc;

	tc = tcase_create("shape");
	tcase_add_test(tc,
	    a_failure_notice_is_a_multipart_report_of_three_parts);
	tcase_add_test(tc, the_report_carries_every_field_for_a_failure);
	tcase_add_test(tc, without_envid_or_arrival_those_fields_are_left_out);
	tcase_add_loop_test(tc, dates_are_rfc5322_in_utc_whatever_the_locale,
	    0, sizeof(dsn_date_cases) / sizeof(dsn_date_cases[0]));
	tcase_add_test(tc, the_same_input_gives_the_same_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_test(tc, a_hostile_reply_cannot_add_lines_or_end_a_part);
	tcase_add_test(tc, an_address_cannot_add_a_header_line);
	tcase_add_test(tc,
	    the_boundary_is_made_again_while_the_content_holds_it);
	tcase_add_test(tc,
	    an_original_that_guesses_the_seed_does_not_break_the_mime);
	tcase_add_test(tc, a_long_diagnostic_is_folded_at_spaces_and_cut);
	tcase_add_test(tc, a_long_word_is_broken_under_998_octets);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_loop_test(tc, original_recipient_is_the_orcpt_decoded, 0,
	    sizeof(dsn_orcpt_cases) / sizeof(dsn_orcpt_cases[0]));
	tcase_add_test(tc, envid_is_written_decoded_or_as_stored_when_damaged);
	tcase_add_test(tc,
	    a_utf8_recipient_is_xtext_in_the_report_and_utf8_in_the_text);
	tcase_add_test(tc, a_utf8_sender_needs_smtputf8_for_the_to_field);
	tcase_add_loop_test(tc, a_malformed_status_becomes_the_actions_own, 0,
	    sizeof(dsn_status_cases) / sizeof(dsn_status_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("who");
	tcase_add_loop_test(tc, notify_picks_the_kinds_of_notice, 0,
	    sizeof(dsn_notify_cases) / sizeof(dsn_notify_cases[0]));
	tcase_add_loop_test(tc, a_bounce_never_bounces, 0,
	    sizeof(dsn_to_cases) / sizeof(dsn_to_cases[0]));
	tcase_add_test(tc, no_notice_is_made_for_the_null_sender);
	tcase_add_test(tc, the_postmaster_copy_says_whose_it_is);
	suite_add_tcase(s, tc);

	tc = tcase_create("returned");
	tcase_add_loop_test(tc, ret_and_the_limit_decide_what_is_returned, 0,
	    sizeof(dsn_ret_cases) / sizeof(dsn_ret_cases[0]));
	tcase_add_test(tc, an_8bit_original_is_labelled_8bit);
	tcase_add_loop_test(tc, an_original_we_cannot_enclose_as_is_is_left_out,
	    0, sizeof(dsn_bad_orig_cases) / sizeof(dsn_bad_orig_cases[0]));
	tcase_add_test(tc, headers_cut_short_are_returned_as_far_as_they_go);
	suite_add_tcase(s, tc);

	tc = tcase_create("kinds");
	tcase_add_test(tc, a_delay_notice_says_until_when);
	tcase_add_loop_test(tc, each_kind_has_its_subject_action_and_words, 0,
	    sizeof(dsn_subject_cases) / sizeof(dsn_subject_cases[0]));
	tcase_add_test(tc,
	    a_mixed_notice_lists_each_recipient_under_its_action);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_test(tc, a_small_cap_leaves_out_as_it_was);
	tcase_add_test(tc, a_notice_about_nothing_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
