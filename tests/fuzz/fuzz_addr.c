/*
 * fuzz_addr - libFuzzer target for addr_parse_path() and its helpers
 *
 * The input, NUL-terminated, is parsed as a path under every combination
 * of flags. Whatever is accepted must be canonical: it fits the limits,
 * parses again to itself, and its domain is a domain. See README.md.
 *
 * link: common/addr.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_addr_check(const char *in, int flags)
{
	char		 out[ADDR_MAX + 1], again[ADDR_MAX + 1];
	char		 path[ADDR_MAX + 3];
	const char	*rest, *why;
	const char	*dom;
	size_t		 n;

	if (addr_parse_path(in, flags, out, sizeof(out), &rest, &why) == -1) {
		if (why == NULL || out[0] != '\0')
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

	/* The canonical form is a fixed point of the parser. */
	memcpy(path, "<", 1);
	memcpy(path + 1, out, n);
	memcpy(path + 1 + n, ">", 2);
	if (addr_parse_path(path, flags, again, sizeof(again), &rest,
	    &why) == -1 || strcmp(out, again) != 0 || *rest != '\0')
		abort();

	dom = addr_domain(out);
	if (*dom != '\0' && !addr_is_domain(dom))
		abort();
	(void)addr_local_safe(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	fuzz_addr_check(s, 0);
	fuzz_addr_check(s, ADDR_F_NULL_OK);
	fuzz_addr_check(s, ADDR_F_POSTMASTER_OK);
	fuzz_addr_check(s, ADDR_F_NULL_OK | ADDR_F_POSTMASTER_OK);
	(void)addr_is_domain(s);
	(void)addr_local_safe(s);
	(void)addr_domain(s);

	free(s);
	return 0;
}
