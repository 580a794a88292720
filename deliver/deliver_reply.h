/*
 * deliver_reply - parse SMTP replies from an untrusted server (RFC 5321
 * section 4.2, enhanced status codes of RFC 2034 and 3463)
 *
 * The session feeds one line at a time, without its CRLF, to
 * deliver_reply_feed(), which answers DELIVER_R_MORE until the last line of
 * a reply ("250 ..." after any "250-..." lines) and then DELIVER_R_DONE.
 * Anything else is DELIVER_R_ERROR with a static reason in r->why, and the
 * session treats the connection as broken (a protocol error defers):
 *
 *	code not three digits, or not 2xx-5xx	"malformed reply"
 *	fourth octet not space, '-' or the end	"malformed reply"
 *	a continuation with another code	"inconsistent reply codes"
 *	a line over DELIVER_REPLY_LINE_MAX	"reply line too long"
 *	the reply over DELIVER_REPLY_MAX	"reply too long"
 *
 * The first line fed after DELIVER_R_DONE starts the next reply, so a
 * caller need not reset between replies.
 *
 * When the reply is done, r->code holds its code and r->dsn the enhanced
 * status code of the first line ("5.1.1") when that line carries one whose
 * class matches the code, else one derived from the class ("2.0.0",
 * "4.0.0", "5.0.0"). The lines are kept as received except that any octet
 * outside printable ASCII becomes '?', so the text is safe to log and to
 * pass on; deliver_reply_text() joins them with spaces for a result text.
 *
 * deliver_reply_ehlo() reads the service extensions of an EHLO reply.
 */
#ifndef AVAL_DELIVER_DELIVER_REPLY_H
#define AVAL_DELIVER_DELIVER_REPLY_H

#include <stddef.h>

#include "deliver/deliver.h"

#define DELIVER_REPLY_LINE_MAX	2048		/* octets, CRLF not counted */
#define DELIVER_REPLY_MAX	(64 * 1024)	/* octets in one reply */

enum deliver_reply_rc {
	DELIVER_R_MORE = 0,		/* a continuation line: feed the next */
	DELIVER_R_DONE,			/* the reply is complete */
	DELIVER_R_ERROR,		/* protocol error; see why */
};

struct deliver_reply {
	int		 code;		/* 200..599 once the first line is in */
	char		 dsn[DELIVER_DSN_SIZE];	/* set when done */
	size_t		 nlines;
	struct buf	*lines;		/* sanitised lines, joined by '\n' */
	const char	*why;		/* after DELIVER_R_ERROR */
	int		 done;		/* the last line is in */
};

/* The flags of deliver_ehlo.flags. */
#define DELIVER_EHLO_PIPELINING	0x0001	/* RFC 2920 */
#define DELIVER_EHLO_SIZE	0x0002	/* RFC 1870; limit in size */
#define DELIVER_EHLO_8BITMIME	0x0004	/* RFC 6152 */
#define DELIVER_EHLO_STARTTLS	0x0008	/* RFC 3207; for TLS policy, later */
#define DELIVER_EHLO_SMTPUTF8	0x0010	/* RFC 6531 */
#define DELIVER_EHLO_DSN	0x0020	/* RFC 3461 */

struct deliver_ehlo {
	int			 flags;
	unsigned long long	 size;	/* "SIZE n": n; 0 when no limit given */
};

void	 deliver_reply_init(struct deliver_reply *);
void	 deliver_reply_reset(struct deliver_reply *);	/* empty again */
void	 deliver_reply_clear(struct deliver_reply *);	/* frees its lines */
enum deliver_reply_rc
	 deliver_reply_feed(struct deliver_reply *, const char *line,
	    size_t len);

/*
 * The complete reply on one line, its lines joined by a space, written to
 * out (NUL-terminated; cut short with "..." when it does not fit).
 */
void	 deliver_reply_text(const struct deliver_reply *, char *out,
	    size_t outlen);

/* The extensions a complete 2xx EHLO reply announces; unknown ones ignored. */
void	 deliver_reply_ehlo(const struct deliver_reply *,
	    struct deliver_ehlo *);

#endif
