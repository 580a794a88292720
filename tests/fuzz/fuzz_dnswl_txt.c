/*
 * fuzz_dnswl_txt - libFuzzer target for the whitelist's TXT readers
 *
 * The input is one TXT rdata as libunbound hands it over (strings of a
 * length octet and that many octets). dnswl_txt() must never read past
 * it, must refuse exactly what is not a sequence of strings, and what it
 * gives back is printable ASCII without '"' or '\\', no longer than the
 * buffer, and as long as the strings' octets (up to the buffer). What
 * dnswl_txt_member() accepts from that text, and from the input as text,
 * is a valid member id that the text names in aval-ca's form.
 *
 * link: common/dnswl.c common/dnsctx.c common/dnsname.c common/fedbundle.c common/buf.c common/log.c common/xmalloc.c -lunbound -levent -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/dnswl.h"
#include "common/fedbundle.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_dnswl_member - abort unless an accepted id is what text names */
static void
fuzz_dnswl_member(const char *text)
{
	char	 id[DNSWL_MEMBERLEN], small[4];
	size_t	 n, tl = strlen(text);

	if (dnswl_txt_member(text, id, sizeof(id)) == -1) {
		if (id[0] != '\0')
			abort();
		return;
	}
	n = strlen(id);
	if (!fed_id_valid(id) || strncmp(text, "member ", 7) != 0 ||
	    strncmp(text + 7, id, n) != 0 || strncmp(text + 7 + n, " (", 2) !=
	    0 || tl < 7 + n + 4 || text[tl - 1] != ')')
		abort();
	/* A buffer too small for the id refuses, never overflows. */
	if (dnswl_txt_member(text, small, sizeof(small)) == 0 &&
	    strlen(small) >= sizeof(small))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*p;
	char		*s, out[DNSWL_TEXTLEN], small[8];
	size_t		 i = 0, octets = 0, k;
	int		 ok = size > 0, rc;

	/* A fresh, exact-size copy: ASan sees any read past the end. */
	p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	/* The walk dnswl_txt() must agree with. */
	while (ok && i < size) {
		if (p[i] > size - i - 1)
			ok = 0;
		else {
			octets += p[i];
			i += 1 + p[i];
		}
	}
	rc = dnswl_txt(p, size, out, sizeof(out));
	if (rc != (ok ? 0 : -1))
		abort();
	if (rc == 0) {
		k = strlen(out);
		if (k != (octets < sizeof(out) - 1 ? octets : sizeof(out) - 1))
			abort();
		for (i = 0; i < k; i++)
			if (out[i] < 0x20 || out[i] > 0x7e || out[i] == '"' ||
			    out[i] == '\\')
				abort();
		fuzz_dnswl_member(out);
		if (dnswl_txt(p, size, small, sizeof(small)) != 0 ||
		    strlen(small) >= sizeof(small) ||
		    strncmp(small, out, strlen(small)) != 0)
			abort();
	}
	free(p);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_dnswl_member(s);
	free(s);
	return 0;
}
