/*
 * sendmail_msg - what sendmail(1) does to a message before it goes out
 *
 * Pure functions over bytes, with no I/O of their own, so the unit tests
 * and the fuzz target reach all of it:
 *
 * smsg_read_line() splits standard input at LF (a CR before the LF goes
 * with it: bare LF and CRLF are both a line end). A line longer than the
 * reader's buffer comes in pieces; only the last says it is complete, so
 * nothing here holds more than SMSG_READ_MAX of one line. The server
 * enforces the real line limit.
 *
 * smsg_put() writes one piece as DATA text: a '.' that begins a line is
 * doubled (RFC 5321 4.5.2), a complete line ends in CRLF.
 *
 * smsg_hdr_add() gathers the header, a field at a time, up to
 * SMSG_HEADER_MAX; smsg_hdr_scan() walks it, hands every address of
 * To, Cc and Bcc to a callback (for -t; Resent-To, Resent-Cc and
 * Resent-Bcc instead when any Resent- field is there, as sendmail does)
 * and writes the header out as DATA text (dot-stuffed like the body)
 * without its Bcc and Resent-Bcc fields. smsg_addr_list() parses one field's address-list
 * (RFC 5322 3.4: display names, angle addresses, groups, comments,
 * quoted strings); it trusts nothing in the bytes it reads.
 */
#ifndef AVAL_TOOLS_SENDMAIL_MSG_H
#define AVAL_TOOLS_SENDMAIL_MSG_H

#include <stddef.h>

struct buf;

#define SMSG_READ_MAX		(64 * 1024)	/* one read piece */
#define SMSG_HEADER_MAX		(256 * 1024)	/* the header kept for -t and Bcc */
#define SMSG_ADDR_MAX		512		/* one address as written */

struct smsg_reader {
	int		 fd;
	char		 buf[SMSG_READ_MAX];
	size_t		 start, end;
	int		 eof;
	int		 bol;		/* the next piece begins a line */
};

void	 smsg_reader_init(struct smsg_reader *, int fd);

/*
 * smsg_read_line - the next piece of input: 1 with *p, *len (borrowed
 * until the next call), *bol (it begins a line) and *eol (it ends one; the
 * line end itself is not in it); 0 at end of input; -1 on a read error.
 * A last line without a newline comes with *eol set.
 */
int	 smsg_read_line(struct smsg_reader *, const char **p, size_t *len,
	    int *bol, int *eol);

/* smsg_put - append a piece as DATA text; -1 if out is full */
int	 smsg_put(struct buf *out, const char *p, size_t len, int bol,
	    int eol);

/*
 * smsg_hdr_add - add one complete input line to the header in hdr (kept
 * with CRLF line ends): 0 added; 1 the line is not part of a header (the
 * empty line, or one that is neither a field nor a continuation), which
 * ends it; -1 the header would pass SMSG_HEADER_MAX. A continuation before
 * any field is not a header.
 */
int	 smsg_hdr_add(struct buf *hdr, const char *line, size_t len);

typedef int	(*smsg_addr_cb)(const char *addr, void *);	/* -1 stops */

/*
 * smsg_addr_list - every address in an address-list, as addr-spec text
 * without comments or surrounding space (what goes between RCPT's
 * brackets); empty members and empty groups are fine. The count, or -1
 * for a list that does not parse (or a callback that said -1).
 */
int	 smsg_addr_list(const char *s, size_t len, smsg_addr_cb, void *);

#define SMSG_HAS_FROM		0x01	/* out: a From field is there */
#define SMSG_HAS_SENDER		0x02	/* out: a Sender field is there */
#define SMSG_HAS_RESENT		0x04	/* out: a Resent-* field is there */

/*
 * smsg_hdr_scan - walk the header: if cb is not NULL, the addresses of To,
 * Cc and Bcc go to it, or with SMSG_HAS_RESENT those of Resent-To,
 * Resent-Cc and Resent-Bcc only; the fields but Bcc and Resent-Bcc are
 * appended to out (when not NULL), every line that begins with '.' with
 * the dot doubled; *flags says what was seen. 0, or -1 if an address field
 * that gives recipients does not parse or out is full.
 */
int	 smsg_hdr_scan(const char *hdr, size_t len, smsg_addr_cb, void *,
	    struct buf *out, int *flags);

/*
 * smsg_from_line - "From: NAME <addr>\r\n" into out, the name a quoted
 * string when it needs one, or RFC 2047 encoded-words when it is not
 * ASCII; name NULL or "" gives "From: <addr>". -1 if out is full or the
 * name holds a control character.
 */
int	 smsg_from_line(struct buf *out, const char *name, const char *addr);

#endif
