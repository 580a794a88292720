/*
 * smtpd_cmd - parse one SMTP command line (RFC 5321, 1870, 6152)
 *
 * smtpd_cmd_parse() takes one command line without its CRLF (the session
 * has already checked length and bare CR/LF) and fills a struct smtpd_cmd,
 * or returns the reply to send: a complete "code x.y.z text" line without
 * CRLF. It knows the grammar of each verb and its parameters, not the
 * session state: "MAIL before EHLO" is the session's 503, not the parser's.
 *
 *	verb unknown				500 5.5.1
 *	syntax error in arguments		501 5.5.4 (5.1.7 sender, 5.1.3 recipient)
 *	unknown MAIL/RCPT parameter		555 5.5.4
 *	SIZE= over limit			552 5.3.4
 *	not implemented (EXPN, TURN, ...)	502 5.5.1
 */
#ifndef AVAL_SMTPD_SMTPD_CMD_H
#define AVAL_SMTPD_SMTPD_CMD_H

#include <stddef.h>

#include "common/addr.h"

enum smtpd_verb {
	SMTPD_C_HELO = 0,
	SMTPD_C_EHLO,
	SMTPD_C_MAIL,
	SMTPD_C_RCPT,
	SMTPD_C_DATA,
	SMTPD_C_RSET,
	SMTPD_C_NOOP,
	SMTPD_C_QUIT,
	SMTPD_C_VRFY,
	SMTPD_C_HELP,
};

#define SMTPD_BODY_7BIT		0
#define SMTPD_BODY_8BITMIME	1

struct smtpd_cmd {
	enum smtpd_verb	 verb;
	char		 addr[ADDR_MAX + 1];	/* MAIL, RCPT: canonical mailbox, "" for <> */
	char		 helo[ADDR_DOMAIN_MAX + 1];	/* HELO, EHLO: the name as given */
	unsigned long long size;		/* MAIL SIZE=, 0 if absent */
	int		 body;			/* MAIL BODY=, SMTPD_BODY_* */
};

/*
 * Returns 0 with cmd filled, or -1 with the reply written to reply (at most
 * replylen bytes, NUL-terminated). max_size is the message size limit for
 * checking SIZE=.
 */
int		 smtpd_cmd_parse(const char *line, unsigned long long max_size,
		    struct smtpd_cmd *cmd, char *reply, size_t replylen);

#endif
