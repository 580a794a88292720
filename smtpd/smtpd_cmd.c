/*
 * smtpd_cmd - parse one SMTP command line (RFC 5321, 1870, 6152)
 *
 * This parser trusts nothing in the line: it comes from the network. It
 * relies on the session only for framing (no CRLF, no NUL, length already
 * bounded) and still reads any length safely.
 *
 * Where RFC 5321 leaves room, or where the parser is kinder than the
 * grammar because Postfix is and clients rely on it:
 *
 *  - Only printable US-ASCII and SP are accepted anywhere in the line. Any
 *    other octet, TAB and 8-bit octets included, is "500 5.5.2": the RFC
 *    separates with SP only, and a lone TAB is more often an attack on a
 *    parser than an honest client.
 *  - Trailing SPs are ignored, and runs of SP separate the verb from its
 *    argument and one parameter from the next.
 *  - "MAIL FROM:" and "RCPT TO:" may be followed by one SP before the path
 *    (common, and Postfix accepts it), not more. The keyword must be
 *    written without a space before the colon.
 *  - HELO and EHLO take any non-empty argument of at most 255 octets, spaces
 *    included, as Postfix does: the name is only logged and put in the
 *    Received header, never trusted.
 *  - SIZE=n is read as an unsigned long long, leading zeros allowed; more
 *    than that holds is a syntax error. A max_size of 0 means no limit
 *    (Postfix's message_size_limit = 0). SIZE over the limit is 552 only
 *    once every parameter has parsed, so a syntax error wins over 552.
 *  - BODY= takes 7BIT or 8BITMIME, case-insensitive; BINARYMIME (RFC 3030)
 *    is a bad value until BDAT exists.
 *  - VRFY needs an argument but its content is not parsed or returned.
 *
 * Not implemented, answered "502 5.5.1": STARTTLS (RFC 3207), AUTH
 * (RFC 4954) and BDAT (RFC 3030), each of which a later issue implements,
 * and EXPN, TURN, ETRN, SEND, SOML and SAML, which stay refused until an
 * issue asks for them (RFC 5321 section 7.3 lets a server refuse EXPN;
 * TURN is unsafe without authentication; SEND, SOML and SAML are obsolete).
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd_cmd.h"

#define SMTPD_CMD_HELO_MAX	ADDR_DOMAIN_MAX

#define R_UNKNOWN	"500 5.5.1 Command unrecognized"
#define R_BADCHAR	"500 5.5.2 Invalid character in command"
#define R_EMPTY		"500 5.5.2 Syntax error, empty command"
#define R_NOTIMPL	"502 5.5.1 Command not implemented"
#define R_BADSENDER	"501 5.1.7 Bad sender address syntax"
#define R_BADRCPT	"501 5.1.3 Bad recipient address syntax"
#define R_PARAMSYN	"501 5.5.4 Syntax error in parameters"
#define R_PARAMDUP	"501 5.5.4 Duplicate parameter"
#define R_BADSIZE	"501 5.5.4 Bad SIZE parameter"
#define R_BADBODY	"501 5.5.4 Bad BODY parameter"
#define R_PARAMUNK	"555 5.5.4 Unsupported parameter"
#define R_TOOBIG	"552 5.3.4 Message size exceeds fixed limit"

struct smtpd_cmd_args {
	const char		*arg;		/* after the verb and its SPs */
	const char		*end;		/* before trailing SPs */
	unsigned long long	 max_size;
};

struct smtpd_cmd_verb {
	const char	*name;
	int		 verb;		/* enum smtpd_verb, or -1 */
	const char	*syntax;	/* the 501 reply for a bad argument */
	const char	*(*parse)(const struct smtpd_cmd_verb *,
			    const struct smtpd_cmd_args *, struct smtpd_cmd *);
};

static const char *smtpd_cmd_parse_helo(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_mail(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_rcpt(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_none(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_any(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_some(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_path(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *,
		    const char *, int, const char *);
static const char *smtpd_cmd_parse_params(const char *, const char *,
		    unsigned long long, struct smtpd_cmd *, int);
static int	 smtpd_cmd_parse_size(const char *, const char *,
		    unsigned long long *);
static int	 smtpd_cmd_is_alnum(int);

static const struct smtpd_cmd_verb smtpd_cmd_verbs[] = {
	{ "HELO", SMTPD_C_HELO, "501 5.5.4 Syntax: HELO hostname",
	    smtpd_cmd_parse_helo },
	{ "EHLO", SMTPD_C_EHLO, "501 5.5.4 Syntax: EHLO hostname",
	    smtpd_cmd_parse_helo },
	{ "MAIL", SMTPD_C_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>",
	    smtpd_cmd_parse_mail },
	{ "RCPT", SMTPD_C_RCPT, "501 5.5.4 Syntax: RCPT TO:<address>",
	    smtpd_cmd_parse_rcpt },
	{ "DATA", SMTPD_C_DATA, "501 5.5.4 Syntax: DATA",
	    smtpd_cmd_parse_none },
	{ "RSET", SMTPD_C_RSET, "501 5.5.4 Syntax: RSET",
	    smtpd_cmd_parse_none },
	{ "NOOP", SMTPD_C_NOOP, NULL, smtpd_cmd_parse_any },
	{ "QUIT", SMTPD_C_QUIT, "501 5.5.4 Syntax: QUIT",
	    smtpd_cmd_parse_none },
	{ "VRFY", SMTPD_C_VRFY, "501 5.5.4 Syntax: VRFY address",
	    smtpd_cmd_parse_some },
	{ "HELP", SMTPD_C_HELP, NULL, smtpd_cmd_parse_any },
	{ "EXPN", -1, NULL, NULL },
	{ "TURN", -1, NULL, NULL },
	{ "ETRN", -1, NULL, NULL },
	{ "SEND", -1, NULL, NULL },
	{ "SOML", -1, NULL, NULL },
	{ "SAML", -1, NULL, NULL },
	{ "BDAT", -1, NULL, NULL },
	{ "STARTTLS", -1, NULL, NULL },
	{ "AUTH", -1, NULL, NULL },
};

static int
smtpd_cmd_is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* smtpd_cmd_parse_helo - HELO and EHLO: any name up to 255 octets */
static const char *
smtpd_cmd_parse_helo(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	size_t	 n = (size_t)(a->end - a->arg);

	if (n == 0 || n > SMTPD_CMD_HELO_MAX)
		return v->syntax;
	memcpy(cmd->helo, a->arg, n);
	cmd->helo[n] = '\0';
	return NULL;
}

/*
 * smtpd_cmd_parse_params - read "SP esmtp-param" pairs from p to end. With
 * mail set, SIZE and BODY are known; otherwise (RCPT) none is.
 */
static const char *
smtpd_cmd_parse_params(const char *p, const char *end,
    unsigned long long max_size, struct smtpd_cmd *cmd, int mail)
{
	int		 seen_size = 0, seen_body = 0;

	while (p < end) {
		const char	*kw, *kwend, *val, *tokend;

		/* The path or the last parameter must end at a SP. */
		if (*p != ' ')
			return R_PARAMSYN;
		while (p < end && *p == ' ')
			p++;
		kw = p;
		while (p < end && *p != ' ')
			p++;
		tokend = p;

		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		for (kwend = kw; kwend < tokend && (smtpd_cmd_is_alnum(
		    (unsigned char)*kwend) || (*kwend == '-' && kwend > kw));
		    kwend++)
			;
		if (kwend == kw || (kwend < tokend && *kwend != '='))
			return R_PARAMSYN;
		/* esmtp-value = 1*(%d33-60 / %d62-126); no SP gets here. */
		val = NULL;
		if (kwend < tokend) {
			val = kwend + 1;
			if (val == tokend || memchr(val, '=',
			    (size_t)(tokend - val)) != NULL)
				return R_PARAMSYN;
		}

		if (mail && kwend - kw == 4 &&
		    strncasecmp(kw, "SIZE", 4) == 0) {
			if (seen_size++)
				return R_PARAMDUP;
			if (val == NULL ||
			    smtpd_cmd_parse_size(val, tokend, &cmd->size) == -1)
				return R_BADSIZE;
		} else if (mail && kwend - kw == 4 &&
		    strncasecmp(kw, "BODY", 4) == 0) {
			if (seen_body++)
				return R_PARAMDUP;
			if (val == NULL)
				return R_BADBODY;
			if (tokend - val == 4 &&
			    strncasecmp(val, "7BIT", 4) == 0)
				cmd->body = SMTPD_BODY_7BIT;
			else if (tokend - val == 8 &&
			    strncasecmp(val, "8BITMIME", 8) == 0)
				cmd->body = SMTPD_BODY_8BITMIME;
			else
				return R_BADBODY;
		} else
			return R_PARAMUNK;
	}
	if (seen_size && max_size != 0 && cmd->size > max_size)
		return R_TOOBIG;
	return NULL;
}

/* smtpd_cmd_parse_size - 1*DIGIT that fits an unsigned long long */
static int
smtpd_cmd_parse_size(const char *p, const char *end, unsigned long long *n)
{
	unsigned long long	 v = 0;

	if (p == end)
		return -1;
	for (; p < end; p++) {
		unsigned int	 d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned int)(*p - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*n = v;
	return 0;
}

/*
 * smtpd_cmd_parse_path - "FROM:" or "TO:", an optional SP, the path, and
 * the parameters. Shared by MAIL and RCPT.
 */
static const char *
smtpd_cmd_parse_path(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd, const char *kw,
    int flags, const char *badaddr)
{
	const char	*p, *rest;
	size_t		 kwlen = strlen(kw);

	if ((size_t)(a->end - a->arg) < kwlen ||
	    strncasecmp(a->arg, kw, kwlen) != 0)
		return v->syntax;
	p = a->arg + kwlen;
	if (p < a->end && *p == ' ')
		p++;
	if (p == a->end)
		return v->syntax;
	if (addr_parse_path(p, flags, cmd->addr, sizeof(cmd->addr), &rest,
	    NULL, NULL) == -1)
		return badaddr;
	return smtpd_cmd_parse_params(rest, a->end, a->max_size, cmd,
	    cmd->verb == SMTPD_C_MAIL);
}

/* smtpd_cmd_parse_mail - MAIL FROM:<reverse-path> [SIZE=n] [BODY=x] */
static const char *
smtpd_cmd_parse_mail(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	return smtpd_cmd_parse_path(v, a, cmd, "FROM:", ADDR_F_NULL_OK,
	    R_BADSENDER);
}

/* smtpd_cmd_parse_rcpt - RCPT TO:<forward-path>, no parameters yet */
static const char *
smtpd_cmd_parse_rcpt(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	return smtpd_cmd_parse_path(v, a, cmd, "TO:", ADDR_F_POSTMASTER_OK,
	    R_BADRCPT);
}

/* smtpd_cmd_parse_none - DATA, RSET, QUIT: no argument */
static const char *
smtpd_cmd_parse_none(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)cmd;
	return a->arg == a->end ? NULL : v->syntax;
}

/* smtpd_cmd_parse_any - NOOP, HELP: an argument is allowed and ignored */
static const char *
smtpd_cmd_parse_any(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)v;
	(void)a;
	(void)cmd;
	return NULL;
}

/* smtpd_cmd_parse_some - VRFY: an argument is required, and not read */
static const char *
smtpd_cmd_parse_some(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)cmd;
	return a->arg == a->end ? v->syntax : NULL;
}

/* smtpd_cmd_parse - one command line into cmd, or the reply to send */
int
smtpd_cmd_parse(const char *line, unsigned long long max_size,
    struct smtpd_cmd *cmd, char *reply, size_t replylen)
{
	const struct smtpd_cmd_verb	*v = NULL;
	struct smtpd_cmd_args		 a;
	const char			*p, *verbend, *err;
	size_t				 i, n;

	if (line == NULL || cmd == NULL || reply == NULL)
		fatalx("%s: NULL argument", __func__);
	memset(cmd, 0, sizeof(*cmd));
	cmd->body = SMTPD_BODY_7BIT;

	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || (unsigned char)*p > 126) {
			err = R_BADCHAR;
			goto fail;
		}
	a.end = p;
	while (a.end > line && a.end[-1] == ' ')
		a.end--;
	a.max_size = max_size;

	for (verbend = line; verbend < a.end && *verbend != ' '; verbend++)
		;
	if (verbend == line) {
		err = R_EMPTY;
		goto fail;
	}
	n = (size_t)(verbend - line);
	for (i = 0; i < sizeof(smtpd_cmd_verbs) / sizeof(smtpd_cmd_verbs[0]);
	    i++) {
		if (strlen(smtpd_cmd_verbs[i].name) == n &&
		    strncasecmp(smtpd_cmd_verbs[i].name, line, n) == 0) {
			v = &smtpd_cmd_verbs[i];
			break;
		}
	}
	if (v == NULL) {
		err = R_UNKNOWN;
		goto fail;
	}
	if (v->parse == NULL) {
		err = R_NOTIMPL;
		goto fail;
	}
	for (a.arg = verbend; a.arg < a.end && *a.arg == ' '; a.arg++)
		;
	cmd->verb = (enum smtpd_verb)v->verb;
	if ((err = v->parse(v, &a, cmd)) != NULL)
		goto fail;
	return 0;

 fail:
	/* Leave nothing half-parsed behind for a careless caller. */
	memset(cmd, 0, sizeof(*cmd));
	if (strlcpy(reply, err, replylen) >= replylen)
		fatalx("%s: reply buffer of %zu too small", __func__, replylen);
	return -1;
}
