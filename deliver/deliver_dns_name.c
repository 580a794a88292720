/*
 * deliver_dns_name - the decoders of deliver_dns.h that need no resolver:
 * wire-format names and MX rdata from the network (text names from the
 * config are common/dnsname.h's). A file of their own so that what links
 * them (aval-local, by way of the TLS policy engine; the fuzz target)
 * links no libunbound.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "common/dnsname.h"
#include "deliver/deliver_dns.h"

/* deliver_dns_wire_name - an uncompressed wire name, whole, as text */
int
deliver_dns_wire_name(const unsigned char *p, size_t len, char *out,
    size_t outlen)
{
	size_t	 i = 0, o = 0, l, j;

	if (outlen == 0)
		return -1;
	for (;;) {
		if (i >= len)
			return -1;
		l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || len - i < l || i + l > 255)
			return -1;	/* also catches 0xC0 pointers */
		if (o != 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (j = 0; j < l; j++) {
			if (!dnsname_label_ok(p[i + j]) || o + 1 >= outlen)
				return -1;
			out[o++] = (char)tolower(p[i + j]);
		}
		i += l;
	}
	if (i != len || i > 255)
		return -1;
	out[o] = '\0';
	return 0;
}

/* deliver_dns_rdata_mx - preference and exchange of one MX rdata */
int
deliver_dns_rdata_mx(const unsigned char *p, size_t len, unsigned int *pref,
    char *out, size_t outlen)
{
	if (len < 3)
		return -1;
	*pref = (unsigned int)p[0] << 8 | p[1];
	return deliver_dns_wire_name(p + 2, len - 2, out, outlen);
}
