/*
 * queue_dsn - the bounces and notices the queue sends: who gets one, and
 * the message itself
 *
 * A pure module: plain inputs in, bytes out. No IPC, no store, no clock,
 * no configuration, no logging; the caller reads the original from the
 * store, decides when, and queues what comes back as a message of its own
 * (null sender). docs/bounces.md describes the format and the choices.
 *
 * queue_dsn_wanted() says whether a recipient's NOTIFY= (RFC 3461 section
 * 4.1) asks for a notice of the given kind: NEVER for none, SUCCESS for
 * delivered, relayed and expanded, FAILURE for failed, DELAY for delayed;
 * no NOTIFY at all counts as FAILURE,DELAY. 1 or 0.
 *
 * queue_dsn_to() says where a notice about a message goes, so that a
 * bounce never bounces: to its sender; for a message with the null sender
 * (itself a bounce or notice), a failure goes once to the postmaster and
 * nothing else goes anywhere; a message the queue itself sent to the
 * postmaster (postmaster_copy) gets nothing at all, whatever happens to
 * it. NOTIFY is the sender's wish and is applied with queue_dsn_wanted()
 * to what goes to the sender only; the postmaster copy of a failed bounce
 * is the operator's, and NOTIFY does not silence it.
 *
 * queue_dsn_compose() appends one RFC 6522 multipart/report with an
 * RFC 3464 message/delivery-status to out: a plain-words part, the report
 * with one group of fields per recipient in in->rcpts (each with its own
 * action; the caller picks which to include, with queue_dsn_wanted()),
 * and the original, whole (message/rfc822) or its header block
 * (text/rfc822-headers), or nothing when it could not be read:
 *
 *  - whole only when the notice reports a failure, RET= was not HDRS, all
 *    orig_size octets are at orig, and orig_size <= return_limit; headers
 *    only otherwise (delay and success notices always: RFC 3461 section
 *    6.2), and the text says why;
 *  - the original is taken as stored: CRLF lines of at most 998 octets,
 *    no NUL. A body that breaks that is not enclosed (headers only), nor
 *    are headers that break it (nothing).
 *
 * Every line it writes ends in CRLF and holds at most 998 octets: long
 * fields (diagnostics) are folded at spaces near 78 columns, and a run of
 * 998 octets without a space is broken with an inserted one. Every value
 * from outside (addresses, the ORCPT and ENVID values, host names, the
 * remote reply, the queue ID) loses its controls (CR, LF, NUL, TAB, DEL,
 * C1) on the way in: a space in free text, '?' elsewhere. The report is
 * 7-bit; a UTF-8 address goes in as RFC 6533 utf-8-addr-xtext. Raw 8-bit
 * text can appear only in the enclosed original (Content-Transfer-
 * Encoding: 8bit on that part and on the whole), in the plain-words part
 * when it names a UTF-8 address (charset=utf-8, 8bit), and in To: when
 * the recipient of the notice is a UTF-8 address; *flags says which, and
 * sending it that way (BODY=8BITMIME, SMTPUTF8, or a downgrade) is the
 * caller's business. The MIME boundary carries boundary_seed and a hash
 * of the enclosed text, and the finished message is checked to hold it
 * only where it was put; failing that it is made again, a few times.
 *
 * ENVID and ORCPT are passed as stored (xtext, as the client sent them)
 * and written decoded: RFC 3461 sections 4.2 and 4.4 keep the decoded
 * values printable US-ASCII "due to limitations in the Delivery Status
 * Notification format", so it is the decoded value that the DSN carries.
 *
 * Returns QUEUE_DSN_OK; QUEUE_DSN_E_SPACE when out's cap is too small
 * (try again with return_limit 0, which leaves the headers only);
 * QUEUE_DSN_E_INPUT when there is nothing to send or no one to send it to
 * (no recipients, a missing string, to == QUEUE_DSN_TO_NONE, the null
 * sender or an empty postmaster address as the destination, or no
 * boundary that the content does not hold). On error out is unchanged.
 * *flags (when flags is not NULL) gets the QUEUE_DSN_O_* bits on success,
 * 0 otherwise. Nothing in in is kept.
 */
#ifndef AVAL_QUEUE_QUEUE_DSN_H
#define AVAL_QUEUE_QUEUE_DSN_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define QUEUE_DSN_RETURN_LIMIT	50000	/* octets: the default return_limit */
#define QUEUE_DSN_DIAG_MAX	2000	/* octets of a diagnostic kept */

enum queue_dsn_kind {
	QUEUE_DSN_FAILED,	/* Action: failed (and expired) */
	QUEUE_DSN_DELAYED,	/* Action: delayed */
	QUEUE_DSN_DELIVERED,	/* Action: delivered */
	QUEUE_DSN_RELAYED,	/* Action: relayed, to a next hop without DSN */
	QUEUE_DSN_EXPANDED,	/* Action: expanded, an alias or list */
};

enum queue_dsn_to {
	QUEUE_DSN_TO_NONE,	/* no notice */
	QUEUE_DSN_TO_SENDER,	/* to the original's envelope sender */
	QUEUE_DSN_TO_POSTMASTER, /* once, to the postmaster */
};

enum queue_dsn_result {
	QUEUE_DSN_OK = 0,
	QUEUE_DSN_E_SPACE = -1,	/* out's cap is too small */
	QUEUE_DSN_E_INPUT = -2,	/* nothing to report, or no one to report to */
};

struct queue_dsn_rcpt {
	const char	*addr;		/* final recipient, canonical mailbox */
	uint32_t	 orcpt_type;	/* QUEUE_ORCPT_*, with orcpt */
	const char	*orcpt;		/* ORCPT= as stored (xtext), or NULL */
	enum queue_dsn_kind action;
	const char	*status;	/* "5.1.1"; NULL or malformed: X.0.0 */
	const char	*remote_mta;	/* the next hop's host name, or NULL */
	const char	*diagnostic;	/* why, or NULL */
	int		 diag_smtp;	/* diagnostic is that host's reply */
	int64_t		 last_attempt_ms; /* unix ms; 0 = none */
	int64_t		 retry_until_ms; /* delayed: tried until; 0 = unsaid */
};

struct queue_dsn_in {
	const char	*reporting_mta;	/* our host name */
	const char	*qid;
	const char	*sender;	/* the original's, "" for <> */
	enum queue_dsn_to to;		/* from queue_dsn_to() */
	const char	*postmaster;	/* with QUEUE_DSN_TO_POSTMASTER */
	const char	*envid;		/* ENVID= as stored (xtext), or NULL */
	uint32_t	 ret;		/* QUEUE_RET_*, 0 if not given */
	int64_t		 arrival_ms;	/* unix ms */
	int64_t		 now_ms;	/* Date:, Message-ID */
	const struct queue_dsn_rcpt *rcpts;
	size_t		 nrcpt;
	const char	*orig;		/* the original as stored, or NULL */
	size_t		 orig_len;	/* octets at orig: all, or the first */
	uint64_t	 orig_size;	/* octets in all */
	size_t		 return_limit;	/* QUEUE_DSN_RETURN_LIMIT */
	const char	*boundary_seed;	/* e.g. qid and now_ms; NULL is "" */
};

#define QUEUE_DSN_O_8BIT	0x01	/* 8-bit text inside: BODY=8BITMIME */
#define QUEUE_DSN_O_UTF8	0x02	/* UTF-8 in To:: needs SMTPUTF8 */
#define QUEUE_DSN_O_FULL	0x04	/* the original is enclosed whole */
#define QUEUE_DSN_O_HDRS	0x08	/* its headers only */

int		 queue_dsn_wanted(uint32_t notify, enum queue_dsn_kind);
enum queue_dsn_to queue_dsn_to(const char *sender, enum queue_dsn_kind,
		    int postmaster_copy);
enum queue_dsn_result queue_dsn_compose(const struct queue_dsn_in *,
		    struct buf *out, unsigned int *flags);

#endif
