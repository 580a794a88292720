/*
 * smtpd_cmd - parse one SMTP command line (RFC 5321 and its extensions)
 *
 * This parser trusts nothing in the line: it comes from the network. It
 * relies on the session only for framing (no CRLF, no NUL, length already
 * bounded) and still reads any length safely.
 *
 * Where RFC 5321 leaves room, or where the parser is kinder than the
 * grammar because Postfix is and clients rely on it:
 *
 *  - Only printable US-ASCII and SP are accepted in most lines. Any other
 *    octet, TAB included, is "500 5.5.2": the RFC separates with SP only,
 *    and a lone TAB is more often an attack on a parser than an honest
 *    client. MAIL and RCPT lines may also hold 8-bit octets, because
 *    SMTPUTF8 (RFC 6531) puts UTF-8 in the path; where the grammar has no
 *    room for them they are a syntax error like any other stray octet.
 *  - Trailing SPs are ignored, and runs of SP separate the verb from its
 *    argument and one parameter from the next (and the AUTH and BDAT
 *    arguments from each other).
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
 *  - Parameter keywords and the words of BODY=, RET= and NOTIFY= are read
 *    without regard to case, as RFC 5321 section 2.4 asks. Each parameter
 *    may appear once: the RFCs define no meaning for a second one.
 *  - SMTPUTF8 on MAIL decides what that same MAIL's path may hold, so the
 *    path is first read as UTF-8 and refused with 553 5.6.7 only after
 *    the parameters have parsed without it. UTF-8 that is not well-formed
 *    is bad syntax (501), SMTPUTF8 or not.
 *  - ENVID= and ORCPT=rfc822 decode to printable ASCII and SP only (RFC
 *    3461 sections 4.2 and 4.4 say US-ASCII); ORCPT=utf-8 (RFC 6533) and
 *    AUTH= under SMTPUTF8 decode to UTF-8. Nothing decoded may hold a
 *    control. Other ORCPT address types (x400 and the like) are refused:
 *    nothing here could use them. The decoded ORCPT is not checked to be
 *    an address: it is the client's own record, reported back in DSNs.
 *  - AUTH=<mailbox> must decode to an addr-spec that parses as a path
 *    does (no source route), or to "<>".
 *  - AUTH takes a SASL mechanism name (1 to 20 of A-Z, 0-9, '-', '_',
 *    lowercase accepted and raised) and an optional initial response that
 *    is "=" or base64 with its padding (RFC 4648 section 4, length a
 *    multiple of 4). The response is kept as sent; decoding is the
 *    session's, which also knows "=" means an empty response.
 *  - BDAT takes 1*DIGIT, leading zeros allowed, up to SMTPD_BDAT_MAX (so
 *    a chunk size always fits an off_t and the sum of two always fits an
 *    unsigned long long), then an optional LAST of any case. BDAT 0
 *    without LAST is grammatical: whether it is abuse is the session's
 *    call. Any refusal of a BDAT line, bad octets included, is 521 5.5.4.
 *  - VRFY needs an argument but its content is not parsed or returned.
 *
 * Not implemented, answered "502 5.5.1": EXPN, TURN, ETRN, SEND, SOML and
 * SAML, which stay refused until an issue asks for them (RFC 5321 section
 * 7.3 lets a server refuse EXPN; TURN is unsafe without authentication;
 * SEND, SOML and SAML are obsolete).
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "common/xtext.h"
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
#define R_BADUTF8	"501 5.5.4 Bad SMTPUTF8 parameter"
#define R_BADRET	"501 5.5.4 Bad RET parameter"
#define R_BADENVID	"501 5.5.4 Bad ENVID parameter"
#define R_BADAUTH	"501 5.5.4 Bad AUTH parameter"
#define R_BADNOTIFY	"501 5.5.4 Bad NOTIFY parameter"
#define R_BADORCPT	"501 5.5.4 Bad ORCPT parameter"
#define R_PARAMUNK	"555 5.5.4 Unsupported parameter"
#define R_NEEDUTF8	"553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define R_TOOBIG	"552 5.3.4 Message size exceeds fixed limit"
#define R_SASLB64	"501 5.5.2 Cannot Base64-decode initial response"
#define R_SASLLONG	"500 5.5.6 Authentication Exchange line is too long"

struct smtpd_cmd_args {
	const char		*arg;		/* after the verb and its SPs */
	const char		*end;		/* before trailing SPs */
	unsigned long long	 max_size;
	int			 flags;		/* SMTPD_CMD_F_* */
};

struct smtpd_cmd_verb {
	const char	*name;
	int		 verb;		/* enum smtpd_verb, or -1 */
	const char	*syntax;	/* the reply for a bad argument */
	const char	*(*parse)(const struct smtpd_cmd_verb *,
			    const struct smtpd_cmd_args *, struct smtpd_cmd *);
};

/*
 * One MAIL or RCPT parameter: val is NULL when no '=' followed the
 * keyword, else it points at n octets (no SP, no '='). parse returns 0, or
 * -1 for the reply in bad.
 */
struct smtpd_cmd_param {
	const char	*name;
	enum smtpd_verb	 verb;		/* SMTPD_C_MAIL or SMTPD_C_RCPT */
	unsigned int	 bit;		/* SMTPD_P_* */
	const char	*bad;
	int		(*parse)(const char *val, size_t n,
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
static const char *smtpd_cmd_parse_auth(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_bdat(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static const char *smtpd_cmd_parse_path(const struct smtpd_cmd_verb *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *,
		    const char *, int, const char *);
static const char *smtpd_cmd_parse_params(const char *,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_size(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_body(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_smtputf8(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_ret(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_envid(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_auth(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_notify(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_param_orcpt(const char *, size_t,
		    const struct smtpd_cmd_args *, struct smtpd_cmd *);
static int	 smtpd_cmd_parse_ull(const char *, const char *,
		    unsigned long long *);
static int	 smtpd_cmd_is_alnum(int);
static int	 smtpd_cmd_is_base64(const char *, size_t);
static int	 smtpd_cmd_is_ascii(const char *);
static int	 smtpd_cmd_word(const char *, size_t, const char *);
static const char *smtpd_cmd_token(const char **, const char *, size_t *);

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
	{ "STARTTLS", SMTPD_C_STARTTLS, "501 5.5.4 Syntax: STARTTLS",
	    smtpd_cmd_parse_none },
	{ "AUTH", SMTPD_C_AUTH,
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]",
	    smtpd_cmd_parse_auth },
	{ "BDAT", SMTPD_C_BDAT, "521 5.5.4 Syntax: BDAT chunk-size [LAST]",
	    smtpd_cmd_parse_bdat },
	{ "EXPN", -1, NULL, NULL },
	{ "TURN", -1, NULL, NULL },
	{ "ETRN", -1, NULL, NULL },
	{ "SEND", -1, NULL, NULL },
	{ "SOML", -1, NULL, NULL },
	{ "SAML", -1, NULL, NULL },
};

static const struct smtpd_cmd_param smtpd_cmd_params[] = {
	{ "SIZE", SMTPD_C_MAIL, SMTPD_P_SIZE, R_BADSIZE,
	    smtpd_cmd_param_size },
	{ "BODY", SMTPD_C_MAIL, SMTPD_P_BODY, R_BADBODY,
	    smtpd_cmd_param_body },
	{ "SMTPUTF8", SMTPD_C_MAIL, SMTPD_P_SMTPUTF8, R_BADUTF8,
	    smtpd_cmd_param_smtputf8 },
	{ "RET", SMTPD_C_MAIL, SMTPD_P_RET, R_BADRET, smtpd_cmd_param_ret },
	{ "ENVID", SMTPD_C_MAIL, SMTPD_P_ENVID, R_BADENVID,
	    smtpd_cmd_param_envid },
	{ "AUTH", SMTPD_C_MAIL, SMTPD_P_AUTH, R_BADAUTH,
	    smtpd_cmd_param_auth },
	{ "NOTIFY", SMTPD_C_RCPT, SMTPD_P_NOTIFY, R_BADNOTIFY,
	    smtpd_cmd_param_notify },
	{ "ORCPT", SMTPD_C_RCPT, SMTPD_P_ORCPT, R_BADORCPT,
	    smtpd_cmd_param_orcpt },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
smtpd_cmd_is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* smtpd_cmd_is_ascii - 1 if s holds no octet above 127 */
static int
smtpd_cmd_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 127)
			return 0;
	return 1;
}

/* smtpd_cmd_word - 1 if the n octets at p are word, without regard to case */
static int
smtpd_cmd_word(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/*
 * smtpd_cmd_token - the next SP-separated token at *p before end, its
 * length in *n, and *p moved past it and the SPs after it; NULL at end.
 */
static const char *
smtpd_cmd_token(const char **p, const char *end, size_t *n)
{
	const char	*t = *p, *q;

	if (t >= end)
		return NULL;
	for (q = t; q < end && *q != ' '; q++)
		;
	*n = (size_t)(q - t);
	while (q < end && *q == ' ')
		q++;
	*p = q;
	return t;
}

/*
 * smtpd_cmd_is_base64 - 1 if the n octets at p are base64 with its
 * padding: groups of four from A-Z a-z 0-9 + /, the last of which may end
 * in "=" or "==".
 */
static int
smtpd_cmd_is_base64(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || n % 4 != 0)
		return 0;
	for (i = 0; i < n; i++) {
		int	 c = (unsigned char)p[i];

		if (c == '=') {
			/* Only the last two may pad, and no data after. */
			if (i < n - 2 || (i == n - 2 && p[n - 1] != '='))
				return 0;
		} else if (!smtpd_cmd_is_alnum(c) && c != '+' && c != '/')
			return 0;
	}
	return 1;
}

/* smtpd_cmd_parse_ull - 1*DIGIT from p to end, in an unsigned long long */
static int
smtpd_cmd_parse_ull(const char *p, const char *end, unsigned long long *n)
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

/* smtpd_cmd_param_size - SIZE=1*DIGIT (RFC 1870) */
static int
smtpd_cmd_param_size(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)a;
	if (val == NULL)
		return -1;
	return smtpd_cmd_parse_ull(val, val + n, &cmd->size);
}

/* smtpd_cmd_param_body - BODY=7BIT / 8BITMIME (RFC 6152) / BINARYMIME */
static int
smtpd_cmd_param_body(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)a;
	if (val == NULL)
		return -1;
	if (smtpd_cmd_word(val, n, "7BIT"))
		cmd->body = SMTPD_BODY_7BIT;
	else if (smtpd_cmd_word(val, n, "8BITMIME"))
		cmd->body = SMTPD_BODY_8BITMIME;
	else if (smtpd_cmd_word(val, n, "BINARYMIME"))
		cmd->body = SMTPD_BODY_BINARYMIME;
	else
		return -1;
	return 0;
}

/* smtpd_cmd_param_smtputf8 - SMTPUTF8, which takes no value (RFC 6531) */
static int
smtpd_cmd_param_smtputf8(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)n;
	(void)a;
	(void)cmd;
	return val == NULL ? 0 : -1;
}

/* smtpd_cmd_param_ret - RET=FULL / HDRS (RFC 3461 section 4.3) */
static int
smtpd_cmd_param_ret(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)a;
	if (val == NULL)
		return -1;
	if (smtpd_cmd_word(val, n, "FULL"))
		cmd->ret = SMTPD_RET_FULL;
	else if (smtpd_cmd_word(val, n, "HDRS"))
		cmd->ret = SMTPD_RET_HDRS;
	else
		return -1;
	return 0;
}

/* smtpd_cmd_param_envid - ENVID=xtext, at most 100 decoded (RFC 3461 4.4) */
static int
smtpd_cmd_param_envid(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	(void)a;
	if (val == NULL || n > SMTPD_ENVID_XMAX ||
	    xtext_decode(val, n, 0, cmd->envid, sizeof(cmd->envid)) == -1)
		return -1;
	memcpy(cmd->envid_x, val, n);
	cmd->envid_x[n] = '\0';
	return 0;
}

/*
 * smtpd_cmd_param_auth - AUTH=xtext of an addr-spec, or of "<>" (RFC 4954
 * section 5). UTF-8 is decoded here and refused later unless the same
 * MAIL says SMTPUTF8.
 */
static int
smtpd_cmd_param_auth(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	char		 path[ADDR_MAX + 3];
	const char	*rest;
	unsigned int	 info;
	size_t		 len;

	(void)a;
	if (val == NULL || xtext_decode(val, n, XTEXT_F_UTF8, path + 1,
	    sizeof(path) - 2) == -1)
		return -1;
	if (strcmp(path + 1, "<>") == 0) {
		cmd->auth_addr[0] = '\0';
		return 0;
	}
	len = strlen(path + 1);
	path[0] = '<';
	path[len + 1] = '>';
	path[len + 2] = '\0';
	if (addr_parse_path(path, ADDR_F_UTF8, cmd->auth_addr,
	    sizeof(cmd->auth_addr), &rest, &info, NULL) == -1 ||
	    *rest != '\0' || (info & ADDR_I_ROUTE) != 0) {
		cmd->auth_addr[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * smtpd_cmd_param_notify - NOTIFY=NEVER, or a comma list of SUCCESS,
 * FAILURE and DELAY, each at most once (RFC 3461 section 4.1)
 */
static int
smtpd_cmd_param_notify(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	static const struct {
		const char	*word;
		unsigned int	 bit;
	} words[] = {
		{ "NEVER", SMTPD_NOTIFY_NEVER },
		{ "SUCCESS", SMTPD_NOTIFY_SUCCESS },
		{ "FAILURE", SMTPD_NOTIFY_FAILURE },
		{ "DELAY", SMTPD_NOTIFY_DELAY },
	};
	const char	*p, *end, *comma;
	size_t		 i;

	(void)a;
	if (val == NULL)
		return -1;
	for (p = val, end = val + n; ; p = comma + 1) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		for (i = 0; i < NELEM(words); i++)
			if (smtpd_cmd_word(p, (size_t)(comma - p),
			    words[i].word))
				break;
		if (i == NELEM(words) || (cmd->notify & words[i].bit) != 0)
			return -1;
		cmd->notify |= words[i].bit;
		if (comma == end)
			break;
	}
	if ((cmd->notify & SMTPD_NOTIFY_NEVER) != 0 &&
	    cmd->notify != SMTPD_NOTIFY_NEVER)
		return -1;
	return 0;
}

/*
 * smtpd_cmd_param_orcpt - ORCPT=addr-type;value (RFC 3461 section 4.2):
 * "rfc822" and xtext, or "utf-8" and RFC 6533's utf-8-addr-xtext (or,
 * in an SMTPUTF8 transaction, utf-8-addr-unitext)
 */
static int
smtpd_cmd_param_orcpt(const char *val, size_t n,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	const char	*semi, *x;
	size_t		 xn;
	int		 r;

	if (val == NULL || (semi = memchr(val, ';', n)) == NULL)
		return -1;
	x = semi + 1;
	xn = n - (size_t)(x - val);
	if (xn > SMTPD_ORCPT_XMAX)
		return -1;
	if (smtpd_cmd_word(val, (size_t)(semi - val), "rfc822")) {
		cmd->orcpt_type = SMTPD_ORCPT_RFC822;
		r = xtext_decode(x, xn, 0, cmd->orcpt, sizeof(cmd->orcpt));
	} else if (smtpd_cmd_word(val, (size_t)(semi - val), "utf-8")) {
		cmd->orcpt_type = SMTPD_ORCPT_UTF8;
		r = xtext_decode_utf8(x, xn, (a->flags & SMTPD_CMD_F_UTF8) ?
		    XTEXT_F_UTF8 : 0, cmd->orcpt, sizeof(cmd->orcpt));
	} else
		return -1;
	if (r == -1)
		return -1;
	memcpy(cmd->orcpt_x, x, xn);
	cmd->orcpt_x[xn] = '\0';
	return 0;
}

/*
 * smtpd_cmd_parse_params - read "SP esmtp-param" pairs from p to a->end
 * for the verb in cmd, each known one at most once.
 */
static const char *
smtpd_cmd_parse_params(const char *p, const struct smtpd_cmd_args *a,
    struct smtpd_cmd *cmd)
{
	const char	*end = a->end;

	while (p < end) {
		const struct smtpd_cmd_param	*pm;
		const char			*kw, *kwend, *val, *tokend;
		size_t				 i;

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
		/*
		 * esmtp-value = 1*(%d33-60 / %d62-126): no SP gets here, and
		 * no '=' may. Each parser checks the rest of its value.
		 */
		val = NULL;
		if (kwend < tokend) {
			val = kwend + 1;
			if (val == tokend || memchr(val, '=',
			    (size_t)(tokend - val)) != NULL)
				return R_PARAMSYN;
		}

		for (i = 0, pm = NULL; i < NELEM(smtpd_cmd_params); i++)
			if (smtpd_cmd_params[i].verb == cmd->verb &&
			    smtpd_cmd_word(kw, (size_t)(kwend - kw),
			    smtpd_cmd_params[i].name)) {
				pm = &smtpd_cmd_params[i];
				break;
			}
		if (pm == NULL)
			return R_PARAMUNK;
		if ((cmd->params & pm->bit) != 0)
			return R_PARAMDUP;
		cmd->params |= pm->bit;
		if (pm->parse(val, val == NULL ? 0 : (size_t)(tokend - val), a,
		    cmd) == -1)
			return pm->bad;
	}
	return NULL;
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
	const char	*p, *rest, *err;
	size_t		 kwlen = strlen(kw);
	int		 utf8;

	if ((size_t)(a->end - a->arg) < kwlen ||
	    strncasecmp(a->arg, kw, kwlen) != 0)
		return v->syntax;
	p = a->arg + kwlen;
	if (p < a->end && *p == ' ')
		p++;
	if (p == a->end)
		return v->syntax;
	/* Read UTF-8 first: on MAIL only the parameters say if it may be. */
	if (addr_parse_path(p, flags | ADDR_F_UTF8, cmd->addr,
	    sizeof(cmd->addr), &rest, &cmd->addr_info, NULL) == -1)
		return badaddr;
	/* The path's '>' is before a->end: trailing SPs follow no '>'. */
	if ((err = smtpd_cmd_parse_params(rest, a, cmd)) != NULL)
		return err;

	if (cmd->verb == SMTPD_C_MAIL)
		utf8 = (cmd->params & SMTPD_P_SMTPUTF8) != 0;
	else
		utf8 = (a->flags & SMTPD_CMD_F_UTF8) != 0;
	if (!utf8 && !smtpd_cmd_is_ascii(cmd->auth_addr))
		return R_BADAUTH;
	if (!utf8 && (cmd->addr_info & ADDR_I_UTF8) != 0)
		return R_NEEDUTF8;
	if ((cmd->params & SMTPD_P_SIZE) != 0 && a->max_size != 0 &&
	    cmd->size > a->max_size)
		return R_TOOBIG;
	return NULL;
}

/* smtpd_cmd_parse_mail - MAIL FROM:<reverse-path> [parameters] */
static const char *
smtpd_cmd_parse_mail(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	return smtpd_cmd_parse_path(v, a, cmd, "FROM:", ADDR_F_NULL_OK,
	    R_BADSENDER);
}

/* smtpd_cmd_parse_rcpt - RCPT TO:<forward-path> [NOTIFY=] [ORCPT=] */
static const char *
smtpd_cmd_parse_rcpt(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	return smtpd_cmd_parse_path(v, a, cmd, "TO:", ADDR_F_POSTMASTER_OK,
	    R_BADRCPT);
}

/* smtpd_cmd_parse_none - DATA, RSET, QUIT, STARTTLS: no argument */
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

/* smtpd_cmd_parse_auth - AUTH mechanism [initial-response] (RFC 4954) */
static const char *
smtpd_cmd_parse_auth(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	const char	*p = a->arg, *mech, *resp;
	size_t		 mn, rn, i;

	/* sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_") */
	if ((mech = smtpd_cmd_token(&p, a->end, &mn)) == NULL ||
	    mn > SMTPD_SASL_MECH_MAX)
		return v->syntax;
	for (i = 0; i < mn; i++) {
		int	 c = (unsigned char)mech[i];

		if (!smtpd_cmd_is_alnum(c) && c != '-' && c != '_')
			return v->syntax;
		cmd->sasl_mech[i] = (char)(c >= 'a' && c <= 'z' ?
		    c - 'a' + 'A' : c);
	}
	cmd->sasl_mech[mn] = '\0';
	if ((resp = smtpd_cmd_token(&p, a->end, &rn)) == NULL)
		return NULL;
	if (p != a->end)
		return v->syntax;
	if (rn > SMTPD_SASL_RESP_MAX)
		return R_SASLLONG;
	if (!(rn == 1 && *resp == '=') && !smtpd_cmd_is_base64(resp, rn))
		return R_SASLB64;
	memcpy(cmd->sasl_resp, resp, rn);
	cmd->sasl_resp[rn] = '\0';
	return NULL;
}

/* smtpd_cmd_parse_bdat - BDAT chunk-size [LAST] (RFC 3030) */
static const char *
smtpd_cmd_parse_bdat(const struct smtpd_cmd_verb *v,
    const struct smtpd_cmd_args *a, struct smtpd_cmd *cmd)
{
	const char	*p = a->arg, *size, *last;
	size_t		 sn, ln;

	if ((size = smtpd_cmd_token(&p, a->end, &sn)) == NULL ||
	    smtpd_cmd_parse_ull(size, size + sn, &cmd->chunk_size) == -1 ||
	    cmd->chunk_size > SMTPD_BDAT_MAX)
		return v->syntax;
	if ((last = smtpd_cmd_token(&p, a->end, &ln)) == NULL)
		return NULL;
	if (p != a->end || !smtpd_cmd_word(last, ln, "LAST"))
		return v->syntax;
	cmd->chunk_last = 1;
	return NULL;
}

/* smtpd_cmd_parse - one command line into cmd, or the reply to send */
int
smtpd_cmd_parse(const char *line, unsigned long long max_size, int flags,
    struct smtpd_cmd *cmd, char *reply, size_t replylen)
{
	const struct smtpd_cmd_verb	*v = NULL;
	struct smtpd_cmd_args		 a;
	const char			*p, *verbend, *err;
	size_t				 i, n;
	int				 ctl = 0, high = 0;

	if (line == NULL || cmd == NULL || reply == NULL)
		fatalx("%s: NULL argument", __func__);
	memset(cmd, 0, sizeof(*cmd));
	cmd->body = SMTPD_BODY_7BIT;

	for (p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 32 || (unsigned char)*p == 127)
			ctl = 1;
		else if ((unsigned char)*p > 127)
			high = 1;
	}
	a.end = p;
	while (a.end > line && a.end[-1] == ' ')
		a.end--;
	a.max_size = max_size;
	a.flags = flags;

	for (verbend = line; verbend < a.end && *verbend != ' '; verbend++)
		;
	n = (size_t)(verbend - line);
	for (i = 0; n > 0 && i < NELEM(smtpd_cmd_verbs); i++) {
		if (smtpd_cmd_word(line, n, smtpd_cmd_verbs[i].name)) {
			v = &smtpd_cmd_verbs[i];
			break;
		}
	}

	/*
	 * Bad octets first, as before there were verbs that allow 8-bit:
	 * only MAIL and RCPT do, for SMTPUTF8 paths. A BDAT line refused for
	 * any reason gets BDAT's own reply, which tells the session to close.
	 */
	if (ctl || (high && (v == NULL || (v->verb != SMTPD_C_MAIL &&
	    v->verb != SMTPD_C_RCPT)))) {
		err = v != NULL && v->verb == SMTPD_C_BDAT ? v->syntax :
		    R_BADCHAR;
		goto fail;
	}
	if (n == 0) {
		err = R_EMPTY;
		goto fail;
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
