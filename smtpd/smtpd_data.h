/*
 * smtpd_data - the checks on message content, for DATA and BDAT alike
 *
 * The session takes the wire format apart (dot-stuffing and the final dot
 * for DATA, chunk sizes for BDAT) and feeds the message octets themselves
 * here, in pieces of any size. This module holds the rules the content
 * must keep, whichever way it came:
 *
 *	every line ends in CRLF: a bare CR or LF spoils the message	SMTPD_DE_BARE
 *	no line over SMTPD_DATA_LINE_MAX octets, CRLF included		SMTPD_DE_LONG
 *	no NUL octet							SMTPD_DE_NUL
 *	at most max_size octets						SMTPD_DE_SIZE
 *	at most max_hops Received: headers (a mail loop otherwise)	SMTPD_DE_LOOP
 *
 * The first fault wins and nothing more is passed on after it: the
 * message will be refused at its end, so the queue need not see the rest.
 * What passes goes to the sink's out callback in runs. The header ends at
 * the first empty line; just before that line is passed on, hdr_end is
 * called, so the caller may add header lines of its own (a submission
 * server's Message-ID and Date). smtpd_data_finish() calls it at the end
 * of a message that has no empty line.
 *
 * Nothing here allocates, and the state is a plain struct: the fuzz
 * target and the unit tests drive it without a session.
 */
#ifndef AVAL_SMTPD_SMTPD_DATA_H
#define AVAL_SMTPD_SMTPD_DATA_H

#include <stddef.h>

#define SMTPD_DATA_LINE_MAX	1000	/* RFC 5321 4.5.3.1.6 */

/* Why a message is refused at its end; the first one wins. */
enum smtpd_data_err {
	SMTPD_DE_NONE = 0,
	SMTPD_DE_BARE,		/* bare CR or LF in the text */
	SMTPD_DE_LONG,		/* a text line over SMTPD_DATA_LINE_MAX */
	SMTPD_DE_SIZE,		/* over max-message-size */
	SMTPD_DE_QUEUE,		/* the queue went away (set by the session) */
	SMTPD_DE_NUL,		/* a NUL octet in the text */
	SMTPD_DE_LOOP,		/* more than max-hops Received headers */
};

#define SMTPD_DATA_H_MSGID	0x01	/* a Message-ID: header was seen */
#define SMTPD_DATA_H_DATE	0x02	/* a Date: header was seen */

struct smtpd_data {
	unsigned long long	 size;		/* octets fed */
	unsigned long long	 max_size;
	unsigned int		 max_hops;
	unsigned int		 hops;
	enum smtpd_data_err	 err;
	size_t			 linelen;	/* of the current line so far */
	int			 cr;		/* the last octet was a CR */
	int			 in_header;
	int			 hdr_seen;	/* SMTPD_DATA_H_* */
	char			 head[12];	/* the line's first octets */
	size_t			 headlen;
};

struct smtpd_data_sink {
	void	(*out)(void *arg, const char *, size_t);
	void	(*hdr_end)(void *arg);		/* may be NULL */
	void	*arg;
};

void	 smtpd_data_init(struct smtpd_data *, unsigned long long max_size,
	    unsigned int max_hops);
void	 smtpd_data_feed(struct smtpd_data *, const char *, size_t,
	    const struct smtpd_data_sink *);
/* smtpd_data_err - set a fault from outside (the queue went away) */
void	 smtpd_data_fail(struct smtpd_data *, enum smtpd_data_err);
/* smtpd_data_finish - the message is over: the verdict */
enum smtpd_data_err smtpd_data_finish(struct smtpd_data *,
	    const struct smtpd_data_sink *);

#endif
