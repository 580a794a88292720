/*
 * fuzz_smtpd_cmd - libFuzzer target for smtpd_cmd_parse() and xtext
 *
 * The input, NUL-terminated, is parsed as one command line with a size
 * limit and without one, in a plain and in an SMTPUTF8 transaction. Every
 * refusal must be a single "ddd d.d.d text" line; every acceptance must
 * leave a command the session can trust: each field NUL-terminated and
 * within its RFC limit, no control octet in any of them, decoded values
 * that decode again from the form kept as sent, non-ASCII only where
 * SMTPUTF8 allowed it, and only the fields of the verb that was parsed.
 * The raw input is also run through the xtext decoders and encoder. Seed
 * lines are in README.md.
 *
 * link: smtpd/smtpd_cmd.c common/addr.c common/xtext.c common/log.c common/xmalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/xtext.h"
#include "smtpd/smtpd_cmd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_TERMINATED(a)	(memchr((a), '\0', sizeof(a)) != NULL)

static int
fuzz_smtpd_cmd_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * fuzz_smtpd_cmd_clean - 1 if s holds no control octet and only strict
 * UTF-8 beyond ASCII; *nonascii says whether there was any
 */
static int
fuzz_smtpd_cmd_clean(const char *s, int *nonascii)
{
	size_t	 n;

	*nonascii = 0;
	while (*s != '\0') {
		if ((unsigned char)*s < 0x80) {
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				return 0;
			s++;
			continue;
		}
		if ((n = addr_utf8_len(s, strlen(s))) == 0)
			return 0;
		*nonascii = 1;
		s += n;
	}
	return 1;
}

/* fuzz_smtpd_cmd_ascii - clean and ASCII only */
static int
fuzz_smtpd_cmd_ascii(const char *s)
{
	int	 nonascii;

	return fuzz_smtpd_cmd_clean(s, &nonascii) && !nonascii;
}

/* fuzz_smtpd_cmd_reparse - what the parser hands on parses to itself */
static void
fuzz_smtpd_cmd_reparse(const char *mbox, unsigned int want_info)
{
	char		 path[ADDR_MAX + 3], again[ADDR_MAX + 1];
	unsigned int	 info;
	size_t		 n = strlen(mbox);

	path[0] = '<';
	memcpy(path + 1, mbox, n);
	memcpy(path + 1 + n, ">", 2);
	if (addr_parse_path(path, ADDR_F_NULL_OK | ADDR_F_POSTMASTER_OK |
	    ADDR_F_UTF8, again, sizeof(again), NULL, &info, NULL) == -1 ||
	    strcmp(again, mbox) != 0 || info != want_info)
		abort();
}

static void
fuzz_smtpd_cmd_check(const char *line, unsigned long long max_size,
    int flags)
{
	struct smtpd_cmd	 cmd;
	char			 reply[512], dec[SMTPD_ORCPT_MAX + 1];
	unsigned int		 mail_p, rcpt_p;
	size_t			 i;
	int			 nonascii, utf8;

	memset(reply, 0, sizeof(reply));
	if (smtpd_cmd_parse(line, max_size, flags, &cmd, reply,
	    sizeof(reply)) == -1) {
		if (!fuzz_smtpd_cmd_digit(reply[0]) ||
		    (reply[0] != '5' && reply[0] != '4') ||
		    !fuzz_smtpd_cmd_digit(reply[1]) ||
		    !fuzz_smtpd_cmd_digit(reply[2]) || reply[3] != ' ' ||
		    reply[4] != reply[0] || reply[5] != '.' ||
		    strlen(reply) >= 64 || !fuzz_smtpd_cmd_ascii(reply))
			abort();
		/* A BDAT line is refused only with the reply that closes. */
		if (strncasecmp(line, "BDAT", 4) == 0 &&
		    (line[4] == ' ' || line[4] == '\0') &&
		    strncmp(reply, "521 ", 4) != 0)
			abort();
		return;
	}
	if (!FUZZ_TERMINATED(cmd.helo) || !FUZZ_TERMINATED(cmd.addr) ||
	    !FUZZ_TERMINATED(cmd.envid) || !FUZZ_TERMINATED(cmd.envid_x) ||
	    !FUZZ_TERMINATED(cmd.auth_addr) || !FUZZ_TERMINATED(cmd.orcpt) ||
	    !FUZZ_TERMINATED(cmd.orcpt_x) || !FUZZ_TERMINATED(cmd.sasl_mech) ||
	    !FUZZ_TERMINATED(cmd.sasl_resp))
		abort();
	/* Nothing handed on holds a control, decoded or not. */
	if (!fuzz_smtpd_cmd_ascii(cmd.helo) ||
	    !fuzz_smtpd_cmd_ascii(cmd.envid) ||
	    !fuzz_smtpd_cmd_ascii(cmd.envid_x) ||
	    !fuzz_smtpd_cmd_clean(cmd.orcpt, &nonascii) ||
	    !fuzz_smtpd_cmd_clean(cmd.orcpt_x, &nonascii) ||
	    !fuzz_smtpd_cmd_ascii(cmd.sasl_mech) ||
	    !fuzz_smtpd_cmd_ascii(cmd.sasl_resp))
		abort();

	mail_p = SMTPD_P_SIZE | SMTPD_P_BODY | SMTPD_P_SMTPUTF8 |
	    SMTPD_P_RET | SMTPD_P_ENVID | SMTPD_P_AUTH;
	rcpt_p = SMTPD_P_NOTIFY | SMTPD_P_ORCPT;
	switch (cmd.verb) {
	case SMTPD_C_HELO:
	case SMTPD_C_EHLO:
		if (cmd.helo[0] == '\0' || cmd.addr[0] != '\0')
			abort();
		break;
	case SMTPD_C_MAIL:
	case SMTPD_C_RCPT:
		if (cmd.helo[0] != '\0')
			abort();
		if (cmd.verb == SMTPD_C_RCPT && cmd.addr[0] == '\0')
			abort();
		if ((cmd.params & ~(cmd.verb == SMTPD_C_MAIL ? mail_p :
		    rcpt_p)) != 0)
			abort();
		if (max_size != 0 && cmd.size > max_size)
			abort();
		if (!fuzz_smtpd_cmd_clean(cmd.addr, &nonascii) ||
		    nonascii != ((cmd.addr_info & ADDR_I_UTF8) != 0))
			abort();
		utf8 = cmd.verb == SMTPD_C_MAIL ?
		    (cmd.params & SMTPD_P_SMTPUTF8) != 0 :
		    (flags & SMTPD_CMD_F_UTF8) != 0;
		if (nonascii && !utf8)
			abort();
		if (((cmd.addr_info & ADDR_I_ROUTING) != 0) !=
		    addr_has_routing(cmd.addr))
			abort();
		if (cmd.addr[0] != '\0')
			fuzz_smtpd_cmd_reparse(cmd.addr,
			    cmd.addr_info & ~(unsigned int)ADDR_I_ROUTE);

		/* MAIL: ENVID= decodes again from what was kept as sent */
		if ((cmd.params & SMTPD_P_ENVID) == 0) {
			if (cmd.envid[0] != '\0' || cmd.envid_x[0] != '\0')
				abort();
		} else if (strlen(cmd.envid) > SMTPD_ENVID_MAX ||
		    xtext_decode(cmd.envid_x, strlen(cmd.envid_x), 0, dec,
		    sizeof(dec)) == -1 || strcmp(dec, cmd.envid) != 0)
			abort();
		if ((cmd.params & SMTPD_P_RET) == 0 ?
		    cmd.ret != SMTPD_RET_NONE :
		    cmd.ret != SMTPD_RET_FULL && cmd.ret != SMTPD_RET_HDRS)
			abort();
		if ((cmd.params & SMTPD_P_BODY) == 0 &&
		    cmd.body != SMTPD_BODY_7BIT)
			abort();
		if ((cmd.params & SMTPD_P_SIZE) == 0 && cmd.size != 0)
			abort();

		/* MAIL: AUTH= is a mailbox, UTF-8 only under SMTPUTF8 */
		if (!fuzz_smtpd_cmd_clean(cmd.auth_addr, &nonascii) ||
		    (nonascii && !utf8))
			abort();
		if ((cmd.params & SMTPD_P_AUTH) == 0 &&
		    cmd.auth_addr[0] != '\0')
			abort();
		if (cmd.auth_addr[0] != '\0')
			fuzz_smtpd_cmd_reparse(cmd.auth_addr,
			    (nonascii ? ADDR_I_UTF8 : 0) |
			    (addr_has_routing(cmd.auth_addr) ?
			    ADDR_I_ROUTING : 0));

		/* RCPT: NOTIFY=NEVER stands alone */
		if (((cmd.params & SMTPD_P_NOTIFY) != 0) != (cmd.notify != 0))
			abort();
		if ((cmd.notify & ~0x0fU) != 0 ||
		    ((cmd.notify & SMTPD_NOTIFY_NEVER) != 0 &&
		    cmd.notify != SMTPD_NOTIFY_NEVER))
			abort();

		/* RCPT: ORCPT= decodes again, and rfc822 stays ASCII */
		switch (cmd.orcpt_type) {
		case SMTPD_ORCPT_NONE:
			if ((cmd.params & SMTPD_P_ORCPT) != 0 ||
			    cmd.orcpt[0] != '\0' || cmd.orcpt_x[0] != '\0')
				abort();
			break;
		case SMTPD_ORCPT_RFC822:
			if (!fuzz_smtpd_cmd_ascii(cmd.orcpt) ||
			    xtext_decode(cmd.orcpt_x, strlen(cmd.orcpt_x), 0,
			    dec, sizeof(dec)) == -1 ||
			    strcmp(dec, cmd.orcpt) != 0)
				abort();
			break;
		case SMTPD_ORCPT_UTF8:
			if (xtext_decode_utf8(cmd.orcpt_x, strlen(cmd.orcpt_x),
			    (flags & SMTPD_CMD_F_UTF8) ? XTEXT_F_UTF8 : 0, dec,
			    sizeof(dec)) == -1 || strcmp(dec, cmd.orcpt) != 0)
				abort();
			break;
		default:
			abort();
		}
		if (cmd.orcpt_type != SMTPD_ORCPT_NONE &&
		    ((cmd.params & SMTPD_P_ORCPT) == 0 || cmd.orcpt[0] == '\0'))
			abort();
		break;
	case SMTPD_C_AUTH:
		if (cmd.sasl_mech[0] == '\0' ||
		    strlen(cmd.sasl_mech) > SMTPD_SASL_MECH_MAX)
			abort();
		for (i = 0; cmd.sasl_mech[i] != '\0'; i++)
			if (!(cmd.sasl_mech[i] >= 'A' &&
			    cmd.sasl_mech[i] <= 'Z') &&
			    !fuzz_smtpd_cmd_digit(cmd.sasl_mech[i]) &&
			    cmd.sasl_mech[i] != '-' && cmd.sasl_mech[i] != '_')
				abort();
		if (cmd.sasl_resp[0] != '\0' &&
		    strcmp(cmd.sasl_resp, "=") != 0 &&
		    (strlen(cmd.sasl_resp) % 4 != 0 ||
		    strspn(cmd.sasl_resp, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789+/=") !=
		    strlen(cmd.sasl_resp)))
			abort();
		break;
	case SMTPD_C_BDAT:
		if (cmd.chunk_size > SMTPD_BDAT_MAX ||
		    (cmd.chunk_last != 0 && cmd.chunk_last != 1))
			abort();
		break;
	default:
		if (cmd.helo[0] != '\0' || cmd.addr[0] != '\0')
			abort();
		break;
	}
	if (cmd.verb != SMTPD_C_MAIL && cmd.verb != SMTPD_C_RCPT &&
	    (cmd.params != 0 || cmd.addr_info != 0 || cmd.size != 0 ||
	    cmd.body != SMTPD_BODY_7BIT))
		abort();
	if (cmd.verb != SMTPD_C_AUTH &&
	    (cmd.sasl_mech[0] != '\0' || cmd.sasl_resp[0] != '\0'))
		abort();
	if (cmd.verb != SMTPD_C_BDAT &&
	    (cmd.chunk_size != 0 || cmd.chunk_last != 0))
		abort();
}

/*
 * fuzz_smtpd_cmd_xtext - the decoders yield no control, and what xtext
 * decodes encodes and decodes back to itself
 */
static void
fuzz_smtpd_cmd_xtext(const char *s, size_t n)
{
	char	 dec[1024], enc[3 * sizeof(dec)], again[sizeof(dec)];
	int	 flags, nonascii;

	for (flags = 0; flags <= XTEXT_F_UTF8; flags++) {
		if (xtext_decode(s, n, flags, dec, sizeof(dec)) == 0) {
			if (!fuzz_smtpd_cmd_clean(dec, &nonascii) ||
			    (nonascii && flags == 0) || dec[0] == '\0')
				abort();
			if (xtext_encode(dec, strlen(dec), enc,
			    sizeof(enc)) == -1 ||
			    xtext_decode(enc, strlen(enc), flags, again,
			    sizeof(again)) == -1 || strcmp(dec, again) != 0)
				abort();
		} else if (dec[0] != '\0')
			abort();
		if (xtext_decode_utf8(s, n, flags, dec, sizeof(dec)) == 0) {
			if (!fuzz_smtpd_cmd_clean(dec, &nonascii) ||
			    dec[0] == '\0')
				abort();
		} else if (dec[0] != '\0')
			abort();
	}
	if (xtext_encode(s, n, enc, sizeof(enc)) == 0 &&
	    (strlen(enc) < n || !fuzz_smtpd_cmd_ascii(enc) ||
	    strpbrk(enc, " =") != NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	fuzz_smtpd_cmd_check(s, 0, 0);
	fuzz_smtpd_cmd_check(s, 10240, 0);
	fuzz_smtpd_cmd_check(s, 0, SMTPD_CMD_F_UTF8);
	fuzz_smtpd_cmd_check(s, 10240, SMTPD_CMD_F_UTF8);
	fuzz_smtpd_cmd_xtext(s, strlen(s));

	free(s);
	return 0;
}
