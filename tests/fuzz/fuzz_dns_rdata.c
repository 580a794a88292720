/*
 * fuzz_dns_rdata - libFuzzer target for the rdata decoders of deliver_dns
 *
 * The input is one rdata as libunbound hands it over (uncompressed wire
 * format). deliver_dns_rdata_mx() and deliver_dns_wire_name() must never
 * read past it, and what they accept must be canonical: a lowercase name
 * of letters, digits, hyphens and underscores in labels of 1 to 63
 * octets, at most 253 characters, that dnsname_text() takes back
 * unchanged; the preference is the first two octets. The input is also
 * given to dnsname_text() as text. See README.md.
 *
 * link: deliver/deliver_dns_name.c common/dnsname.c
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/dnsname.h"
#include "deliver/deliver_dns.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_dns_canonical - abort unless name is what the decoders promise */
static void
fuzz_dns_canonical(const char *name)
{
	char	 again[DELIVER_DNS_NAMELEN];
	size_t	 n = strlen(name), lab = 0, i;

	if (n > 253)
		abort();
	if (n == 0)
		return;			/* the root: null MX */
	for (i = 0; i < n; i++) {
		if (name[i] == '.') {
			if (lab == 0)
				abort();
			lab = 0;
			continue;
		}
		if (!(islower((unsigned char)name[i]) ||
		    isdigit((unsigned char)name[i]) || name[i] == '-' ||
		    name[i] == '_') || ++lab > 63)
			abort();
	}
	if (lab == 0)
		abort();
	if (dnsname_text(name, again, sizeof(again)) != 0 ||
	    strcmp(again, name) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*p;
	char		*s, name[DELIVER_DNS_NAMELEN], small[8];
	unsigned int	 pref = 0;

	/* A fresh, exact-size copy: ASan sees any read past the end. */
	p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	if (deliver_dns_rdata_mx(p, size, &pref, name, sizeof(name)) == 0) {
		if (size < 3 || pref != ((unsigned int)p[0] << 8 | p[1]))
			abort();
		fuzz_dns_canonical(name);
	}
	if (deliver_dns_wire_name(p, size, name, sizeof(name)) == 0)
		fuzz_dns_canonical(name);
	/* A short output buffer must refuse, never overflow. */
	if (deliver_dns_wire_name(p, size, small, sizeof(small)) == 0 &&
	    strlen(small) >= sizeof(small))
		abort();
	free(p);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (dnsname_text(s, name, sizeof(name)) == 0)
		fuzz_dns_canonical(name);
	free(s);
	return 0;
}
