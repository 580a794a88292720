/*
 * dnsname - DNS names as text; see dnsname.h
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "common/dnsname.h"

/* dnsname_label_ok - a letter, digit, hyphen or underscore */
int
dnsname_label_ok(int c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* dnsname_text - lowercase, no trailing dot, LDH labels only */
int
dnsname_text(const char *in, char *out, size_t outlen)
{
	size_t	 n = strlen(in), i, lab = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen || n > DNSNAME_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (in[i] == '.') {
			if (lab == 0)
				return -1;
			lab = 0;
		} else if (!dnsname_label_ok((unsigned char)in[i]) ||
		    ++lab > 63)
			return -1;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	if (lab == 0)
		return -1;
	out[n] = '\0';
	return 0;
}
