/*
 * smtpd_cmd - parse one SMTP command line (RFC 5321 and its extensions)
 *
 * smtpd_cmd_parse() takes one command line without its CRLF (the session
 * has already checked length and bare CR/LF) and fills a struct smtpd_cmd,
 * or returns the reply to send: a complete "code x.y.z text" line without
 * CRLF. It knows the grammar of each verb and its parameters, not the
 * session state: "MAIL before EHLO" is the session's 503, not the parser's,
 * and so are AUTH twice, STARTTLS under TLS, BDAT mixed with DATA, and
 * BODY=BINARYMIME followed by DATA. Extensions whose grammar it reads:
 * SIZE (RFC 1870), 8BITMIME (6152), STARTTLS (3207), AUTH and MAIL AUTH=
 * (4954), CHUNKING and BINARYMIME (3030), DSN (3461) and SMTPUTF8 (6531,
 * 6533). Whether each was offered in the EHLO reply is again the session's
 * business: the parser reads them all.
 *
 * flags carries the one fact from earlier commands that the grammar
 * depends on:
 *
 *	SMTPD_CMD_F_UTF8	RCPT: this transaction's MAIL said SMTPUTF8,
 *				so the path may be UTF-8 and ORCPT=utf-8 may
 *				hold raw UTF-8. MAIL decides for itself from
 *				its own SMTPUTF8 parameter; other verbs
 *				ignore the flag.
 *
 * Replies, by case (each with a fixed text, which the tests pin down):
 *
 *	verb unknown				500 5.5.1
 *	control octet anywhere, or 8-bit	500 5.5.2
 *	    outside a MAIL or RCPT line
 *	syntax error in arguments		501 5.5.4 (5.1.7 sender,
 *						    5.1.3 recipient)
 *	parameter given twice			501 5.5.4
 *	bad value of a known parameter		501 5.5.4
 *	unknown MAIL/RCPT parameter		555 5.5.4
 *	non-ASCII path without SMTPUTF8		553 5.6.7
 *	SIZE= over limit			552 5.3.4
 *	AUTH initial response not base64	501 5.5.2
 *	AUTH initial response too long		500 5.5.6
 *	BDAT refused, for any reason		521 5.5.4
 *	not implemented (EXPN, TURN, ...)	502 5.5.1
 *
 * A refused BDAT leaves the session unable to tell where the chunk ends,
 * so the session sends that 521 and closes the connection (as Postfix
 * does). Within one MAIL or RCPT line the first syntax fault from the left
 * wins, then an AUTH= mailbox in UTF-8 without SMTPUTF8 (501 5.5.4), then
 * 553 5.6.7, then 552 5.3.4.
 *
 * Decoded parameter values are kept in fixed arrays with the RFC limits
 * below, NUL-terminated, and hold no NUL, CR, LF or other control octet
 * (see xtext.h); values that would not fit are refused, never cut.
 */
#ifndef AVAL_SMTPD_SMTPD_CMD_H
#define AVAL_SMTPD_SMTPD_CMD_H

#include <stddef.h>
#include <stdint.h>

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
	SMTPD_C_STARTTLS,
	SMTPD_C_AUTH,
	SMTPD_C_BDAT,
};

#define SMTPD_CMD_F_UTF8	0x01	/* RCPT in an SMTPUTF8 transaction */

/* Limits of the decoded values, and of the forms kept as sent. */
#define SMTPD_ENVID_MAX		100	/* RFC 3461 section 4.4 */
#define SMTPD_ENVID_XMAX	(3 * SMTPD_ENVID_MAX)
#define SMTPD_ORCPT_MAX		500	/* RFC 3461 section 4.2 */
#define SMTPD_ORCPT_XMAX	(3 * SMTPD_ORCPT_MAX)
#define SMTPD_SASL_MECH_MAX	20	/* RFC 4422 section 3.1 */
#define SMTPD_SASL_RESP_MAX	512	/* no 512-octet line holds more */
#define SMTPD_BDAT_MAX		((unsigned long long)INT64_MAX)	/* an off_t */

/*
 * Fields that the verb parsed does not fill are zero (""), so each verb's
 * fields can be read without looking at which parameters were given; the
 * params bits tell "absent" from "given as the default".
 */
struct smtpd_cmd {
	enum smtpd_verb	 verb;

	/* HELO, EHLO: the name as given */
	char		 helo[ADDR_DOMAIN_MAX + 1];

	/* MAIL, RCPT: the canonical mailbox ("" for <>) and the path's info */
	char		 addr[ADDR_MAX + 1];
	unsigned int	 addr_info;		/* ADDR_I_* */
	unsigned int	 params;		/* the parameters given */
#define SMTPD_P_SIZE		0x0001
#define SMTPD_P_BODY		0x0002
#define SMTPD_P_SMTPUTF8	0x0004		/* RFC 6531 */
#define SMTPD_P_RET		0x0008
#define SMTPD_P_ENVID		0x0010
#define SMTPD_P_AUTH		0x0020		/* MAIL AUTH=, RFC 4954 5 */
#define SMTPD_P_NOTIFY		0x0040
#define SMTPD_P_ORCPT		0x0080

	/* MAIL parameters */
	unsigned long long size;		/* SIZE=, 0 if absent */
	int		 body;			/* BODY=, SMTPD_BODY_* */
#define SMTPD_BODY_7BIT		0		/* also when BODY= is absent */
#define SMTPD_BODY_8BITMIME	1
#define SMTPD_BODY_BINARYMIME	2		/* RFC 3030: only with BDAT */
	int		 ret;			/* RET=, SMTPD_RET_* */
#define SMTPD_RET_NONE		0		/* RET= absent */
#define SMTPD_RET_FULL		1
#define SMTPD_RET_HDRS		2
	char		 envid[SMTPD_ENVID_MAX + 1];	/* ENVID= decoded */
	char		 envid_x[SMTPD_ENVID_XMAX + 1];	/* ... as sent */
	char		 auth_addr[ADDR_MAX + 1];	/* AUTH=: canonical
							   mailbox, "" for <> */

	/* RCPT parameters */
	unsigned int	 notify;		/* NOTIFY=, 0 if absent */
#define SMTPD_NOTIFY_NEVER	0x01		/* then alone */
#define SMTPD_NOTIFY_SUCCESS	0x02
#define SMTPD_NOTIFY_FAILURE	0x04
#define SMTPD_NOTIFY_DELAY	0x08
	int		 orcpt_type;		/* ORCPT= address type */
#define SMTPD_ORCPT_NONE	0		/* ORCPT= absent */
#define SMTPD_ORCPT_RFC822	1		/* "rfc822": orcpt is ASCII */
#define SMTPD_ORCPT_UTF8	2		/* "utf-8" (RFC 6533): UTF-8 */
	char		 orcpt[SMTPD_ORCPT_MAX + 1];	/* decoded address */
	char		 orcpt_x[SMTPD_ORCPT_XMAX + 1];	/* after "type;",
							   as sent */

	/*
	 * AUTH: the mechanism, uppercased, and the initial response as sent
	 * (base64; "=" stands for an empty one; "" when none was given)
	 */
	char		 sasl_mech[SMTPD_SASL_MECH_MAX + 1];
	char		 sasl_resp[SMTPD_SASL_RESP_MAX + 1];

	/* BDAT */
	unsigned long long chunk_size;		/* octets that follow */
	int		 chunk_last;		/* 1 after LAST */
};

/*
 * Returns 0 with cmd filled, or -1 with the reply written to reply (at most
 * replylen bytes, NUL-terminated) and cmd zeroed. max_size is the message
 * size limit for checking SIZE= (0: none); flags is SMTPD_CMD_F_*. A reply
 * buffer too small for the reply is a bug (fatalx); 64 octets are enough.
 */
int		 smtpd_cmd_parse(const char *line, unsigned long long max_size,
		    int flags, struct smtpd_cmd *cmd, char *reply,
		    size_t replylen);

#endif
