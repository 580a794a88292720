/*
 * queue_rec - the stored form of a message's envelope
 *
 * A record is typed and length-prefixed: a magic and version, then fields
 * each written as (u8 tag, u32 length, bytes), integers in network byte
 * order. queue_rec_decode() treats what it reads as hostile (the database
 * may be damaged or written by another version): any short field, unknown
 * tag, impossible length, missing required field, state out of range, or
 * trailing byte makes it return -1 and leave *env empty.
 */
#ifndef AVAL_QUEUE_QUEUE_REC_H
#define AVAL_QUEUE_QUEUE_REC_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipc_types.h"

struct buf;

#define QUEUE_REC_VERSION	4	/* 1: no DSN fields, 2: no 8BITBODY, 3: no history; still read */
#define QUEUE_REC_MAX_RCPT	10000	/* more than any configuration allows */

/* One earlier attempt's outcome, as the last one is kept (v4). */
struct queue_attempt {
	int64_t		 time_ms;
	char		*status;	/* enhanced status, or NULL */
	char		*remote;	/* the host tried, or NULL */
	char		*text;		/* the reply or reason, or NULL */
};
#define QUEUE_REC_MAX_HISTORY	15	/* earlier outcomes kept, oldest dropped */

struct queue_rcpt {
	char		*addr;		/* canonical mailbox */
	uint8_t		 state;		/* enum rcpt_state */
	uint32_t	 attempts;
	int64_t		 next_try_ms;	/* unix time in ms (v3; s before); 0 = now */
	uint32_t	 flags;		/* QUEUE_RCPT_F_* (v3) */
	/* The last attempt's outcome (v3), each part on its own. */
	int64_t		 last_time_ms;	/* 0: never tried */
	char		*last_status;	/* enhanced status, "4.4.1", or NULL */
	char		*last_remote;	/* the host tried, "[192.0.2.1]:25", or NULL */
	char		*last_error;	/* the reply or reason, NULL or "" when none */
	/* The outcomes before the last, oldest first (v4). */
	struct queue_attempt *history;
	uint32_t	 nhistory;	/* <= QUEUE_REC_MAX_HISTORY */
	/* DSN (RFC 3461), as the client gave them. */
	uint32_t	 notify;	/* QUEUE_NOTIFY_* bits, 0 if not given */
	uint32_t	 orcpt_type;	/* QUEUE_ORCPT_*, with orcpt */
	char		*orcpt;		/* ORCPT= value as sent (xtext), or NULL */
};

#define QUEUE_TX_SMTPUTF8	0x01	/* the same bits as smtpd's txflags */
#define QUEUE_TX_8BITMIME	0x02
#define QUEUE_TX_BDAT		0x04
#define QUEUE_TX_SMTPD_MAX	0x07	/* the bits smtpd may send */
#define QUEUE_TX_8BITBODY	0x08	/* the queue saw an octet over 127 (v3) */
#define QUEUE_TX_PMCOPY		0x10	/* a notice the queue sent the postmaster (v3) */
#define QUEUE_TX_HELD		0x20	/* on hold: avalctl hold (v3) */
#define QUEUE_TXFLAGS_MAX	0x3f
#define QUEUE_RET_FULL		1	/* DSN RET= */
#define QUEUE_RET_HDRS		2
#define QUEUE_RET_MAX		2
#define QUEUE_NOTIFY_NEVER	0x01
#define QUEUE_NOTIFY_SUCCESS	0x02
#define QUEUE_NOTIFY_FAILURE	0x04
#define QUEUE_NOTIFY_DELAY	0x08
#define QUEUE_NOTIFY_MAX	0x0f
#define QUEUE_ORCPT_RFC822	1
#define QUEUE_ORCPT_UTF8	2
#define QUEUE_ORCPT_TYPE_MAX	2
#define QUEUE_RCPT_F_DELAY_SENT	0x01	/* the delay notice has gone out */
#define QUEUE_RCPT_F_DSN_PASSED	0x02	/* delivered to a next hop with DSN,
					   which had NOTIFY: it reports success */
#define QUEUE_RCPT_F_MAX	0x03

struct queue_env {
	int64_t		 arrival_ms;	/* unix time, milliseconds (v3; seconds before) */
	char		*sender;	/* "" for the null sender */
	char		*client;	/* "name[addr]:port" for the log */
	char		*helo;
	uint64_t	 size;		/* body bytes */
	uint32_t	 nrcpt;
	struct queue_rcpt *rcpts;
	uint32_t	 txflags;	/* QUEUE_TX_* */
	uint32_t	 ret;		/* QUEUE_RET_*, 0 if not given */
	char		*envid;		/* ENVID= as sent (xtext), or NULL */
};

/* Appends the encoded record to out; -1 if out's cap is too small. */
int	 queue_rec_encode(const struct queue_env *, struct buf *out);
/* Fills env (owning copies of every string); 0 or -1. */
int	 queue_rec_decode(const void *, size_t, struct queue_env *env);
/* The version a record says it has, or 0 when it is not a record. */
unsigned int queue_rec_version(const void *, size_t);
/*
 * When the message is next due: the earliest next try of its recipients
 * not yet final; QUEUE_DUE_HELD when it is on hold; -1 when every
 * recipient is final (nothing left to do).
 */
#define QUEUE_DUE_HELD		INT64_MAX
int64_t	 queue_env_due(const struct queue_env *);
/*
 * Records an attempt's outcome as r's last (copies of the strings; NULL
 * or "" for none), the one it replaces going to the history, whose
 * oldest entry goes when it is full.
 */
void	 queue_rcpt_outcome(struct queue_rcpt *r, uint32_t keep,
	    int64_t time_ms, const char *status, const char *remote,
	    const char *text);
/*
 * How many earlier outcomes each recipient of a message to nrcpt keeps:
 * QUEUE_REC_MAX_HISTORY for up to 100 recipients, fewer beyond, so that a
 * message to the most recipients allowed still has a record of a few MB.
 * The text of an earlier outcome is cut to QUEUE_REC_HISTORY_TEXT bytes;
 * the last one keeps it whole.
 */
uint32_t queue_rec_history_keep(uint32_t nrcpt);
#define QUEUE_REC_HISTORY_TEXT	200
/* Frees what env owns and zeroes it; env itself is the caller's. */
void	 queue_env_clear(struct queue_env *);

#endif
