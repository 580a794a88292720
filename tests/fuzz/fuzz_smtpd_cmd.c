/*
 * fuzz_smtpd_cmd - libFuzzer target for smtpd_cmd_parse()
 *
 * The input, NUL-terminated, is parsed as one command line with a size
 * limit and without one. Every refusal must be a single "ddd d.d.d text"
 * line; every acceptance must leave a command the session can trust. See
 * README.md.
 *
 * link: smtpd/smtpd_cmd.c common/addr.c common/log.c common/xmalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "smtpd/smtpd_cmd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_smtpd_cmd_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void
fuzz_smtpd_cmd_check(const char *line, unsigned long long max_size)
{
	struct smtpd_cmd	 cmd;
	char			 reply[512], path[ADDR_MAX + 3];
	char			 again[ADDR_MAX + 1];
	size_t			 n;

	memset(reply, 0, sizeof(reply));
	if (smtpd_cmd_parse(line, max_size, &cmd, reply, sizeof(reply)) == -1) {
		if (!fuzz_smtpd_cmd_digit(reply[0]) ||
		    (reply[0] != '5' && reply[0] != '4') ||
		    !fuzz_smtpd_cmd_digit(reply[1]) ||
		    !fuzz_smtpd_cmd_digit(reply[2]) || reply[3] != ' ' ||
		    reply[4] != reply[0] || reply[5] != '.' ||
		    strpbrk(reply, "\r\n") != NULL)
			abort();
		return;
	}
	if (memchr(cmd.helo, '\0', sizeof(cmd.helo)) == NULL ||
	    memchr(cmd.addr, '\0', sizeof(cmd.addr)) == NULL)
		abort();
	switch (cmd.verb) {
	case SMTPD_C_HELO:
	case SMTPD_C_EHLO:
		if (cmd.helo[0] == '\0' || cmd.addr[0] != '\0')
			abort();
		break;
	case SMTPD_C_MAIL:
	case SMTPD_C_RCPT:
		if (cmd.verb == SMTPD_C_RCPT && cmd.addr[0] == '\0')
			abort();
		if (max_size != 0 && cmd.size > max_size)
			abort();
		/* What the parser hands on must parse again to itself. */
		n = strlen(cmd.addr);
		path[0] = '<';
		memcpy(path + 1, cmd.addr, n);
		memcpy(path + 1 + n, ">", 2);
		if (addr_parse_path(path, ADDR_F_NULL_OK |
		    ADDR_F_POSTMASTER_OK, again, sizeof(again), NULL,
		    NULL, NULL) == -1 || strcmp(again, cmd.addr) != 0)
			abort();
		break;
	default:
		if (cmd.helo[0] != '\0' || cmd.addr[0] != '\0')
			abort();
		break;
	}
	if (cmd.verb != SMTPD_C_MAIL &&
	    (cmd.size != 0 || cmd.body != SMTPD_BODY_7BIT))
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

	fuzz_smtpd_cmd_check(s, 0);
	fuzz_smtpd_cmd_check(s, 10240);

	free(s);
	return 0;
}
