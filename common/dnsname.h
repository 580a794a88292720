/*
 * dnsname - DNS names as text, in the one form aval compares and asks
 *
 * A name is canonical when it is lowercase, has no trailing dot, and its
 * labels (1 to 63 octets, at most 253 characters in all) hold only
 * letters, digits, hyphens and underscores (LDH, plus the underscore of
 * _25._tcp and of SRV-style owners). Names from the network and from the
 * config go through dnsname_text() before they are compared or asked, so
 * that "MX1.Example.ORG." and "mx1.example.org" are one name and a name
 * with a space, a NUL or an escape never reaches a log line or libunbound.
 *
 * No resolver here: aval-local and the fuzz targets link this without
 * libunbound.
 */
#ifndef AVAL_COMMON_DNSNAME_H
#define AVAL_COMMON_DNSNAME_H

#include <stddef.h>

#define DNSNAME_MAX	253	/* characters of a name as text, no dot */

/* dnsname_label_ok - 1 if c may stand in a label (letter, digit, - or _) */
int	 dnsname_label_ok(int c);

/*
 * dnsname_text - in made canonical into out (outlen > strlen(in) needed):
 * 0, or -1 for an empty name, an empty label, a label over 63, a name
 * over DNSNAME_MAX, a byte outside the label set, or a short buffer. The
 * root "." is -1: no caller asks it as text.
 */
int	 dnsname_text(const char *in, char *out, size_t outlen);

#endif
