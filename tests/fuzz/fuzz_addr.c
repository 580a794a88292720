/*
 * fuzz_addr - libFuzzer target for addr_parse_path() and its helpers
 *
 * The input, NUL-terminated, is parsed as a path under every combination
 * of flags, ADDR_F_UTF8 (SMTPUTF8) included. Whatever is accepted must be
 * canonical: it fits the limits, parses again to itself with the same
 * info, holds non-ASCII only when the flag allowed it and then only strict
 * UTF-8, and its domain is a domain. See README.md.
 *
 * link: common/addr.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_addr_utf8 - 1 if s is ASCII without controls, or strict UTF-8 */
static int
fuzz_addr_utf8(const char *s, int *nonascii)
{
	size_t	 n;

	*nonascii = 0;
	while (*s != '\0') {
		if ((unsigned char)*s < 0x80) {
			if ((unsigned char)*s < 32 || *s == 127)
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

static void
fuzz_addr_check(const char *in, int flags)
{
	char		 out[ADDR_MAX + 1], again[ADDR_MAX + 1];
	char		 path[ADDR_MAX + 3];
	const char	*rest, *why;
	const char	*dom;
	unsigned int	 info, info2;
	size_t		 n;
	int		 nonascii;

	info = 0xff;
	if (addr_parse_path(in, flags, out, sizeof(out), &rest, &info,
	    &why) == -1) {
		if (why == NULL || out[0] != '\0' || info != 0)
			abort();
		return;
	}
	n = strlen(out);
	if (n > ADDR_PATH_MAX - 2 || rest < in || rest > in + strlen(in))
		abort();
	if (rest[-1] != '>')
		abort();
	if (n == 0 && (flags & ADDR_F_NULL_OK) == 0)
		abort();
	if (strchr(out, '@') == NULL && n != 0 &&
	    strcmp(out, "postmaster") != 0)
		abort();

	/* Non-ASCII only with the flag, only strict UTF-8, and said so. */
	if (!fuzz_addr_utf8(out, &nonascii))
		abort();
	if (nonascii != ((info & ADDR_I_UTF8) != 0))
		abort();
	if (nonascii && (flags & ADDR_F_UTF8) == 0)
		abort();
	if (((info & ADDR_I_ROUTING) != 0) != addr_has_routing(out))
		abort();
	if ((info & ADDR_I_ROUTE) != 0 && in[1] != '@')
		abort();

	/* The canonical form is a fixed point of the parser. */
	memcpy(path, "<", 1);
	memcpy(path + 1, out, n);
	memcpy(path + 1 + n, ">", 2);
	if (addr_parse_path(path, flags, again, sizeof(again), &rest, &info2,
	    &why) == -1 || strcmp(out, again) != 0 || *rest != '\0' ||
	    info2 != (info & ~(unsigned int)ADDR_I_ROUTE))
		abort();

	dom = addr_domain(out);
	if (*dom != '\0' && !nonascii && !addr_is_domain(dom))
		abort();
	(void)addr_local_safe(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	int	 flags;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	for (flags = 0; flags <= (ADDR_F_NULL_OK | ADDR_F_POSTMASTER_OK |
	    ADDR_F_UTF8); flags++)
		fuzz_addr_check(s, flags);
	(void)addr_is_domain(s);
	(void)addr_local_safe(s);
	(void)addr_domain(s);
	(void)addr_has_routing(s);
	(void)addr_utf8_len(s, size);

	free(s);
	return 0;
}
