/*
 * addr - RFC 5321 mailbox and path parsing
 *
 * addr_parse_path() reads a reverse-path or forward-path as it follows
 * "MAIL FROM:" or "RCPT TO:": "<local@domain>", the null path "<>" (when
 * allowed), an optional source route "<@a,@b:local@domain>" that is parsed
 * and dropped (RFC 5321 section 4.1.1.3 / appendix C), quoted local parts,
 * and address-literal domains ("[192.0.2.1]", "[IPv6:...]"). It stores the
 * canonical mailbox in out (local@domain, domain lowercased, quotes kept as
 * they were) and points *rest at what follows the closing '>'.
 *
 * Limits (RFC 5321 section 4.5.3.1): local part 64 octets, domain 255,
 * path 256 including the brackets. Nothing outside printable US-ASCII is
 * accepted (SMTPUTF8 comes later). Returns 0, or -1 with a short reason in
 * *why (a static string).
 */
#ifndef AVAL_COMMON_ADDR_H
#define AVAL_COMMON_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX		64
#define ADDR_DOMAIN_MAX		255
#define ADDR_PATH_MAX		256
#define ADDR_MAX		(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX)

#define ADDR_F_NULL_OK		0x01	/* "<>" is allowed (MAIL FROM) */
#define ADDR_F_POSTMASTER_OK	0x02	/* bare "<postmaster>" allowed (RCPT TO) */

int		 addr_parse_path(const char *in, int flags, char *out,
		    size_t outlen, const char **rest, const char **why);

/* addr_domain - the domain part of a canonical mailbox, "" for <> */
const char	*addr_domain(const char *mailbox);

/* addr_is_domain - 1 if s is a syntactically valid domain or address literal */
int		 addr_is_domain(const char *s);

/*
 * addr_local_safe - 1 if the local part of a canonical mailbox may name a
 * directory (no '/', no leading '.', printable ASCII): Maildir delivery
 * refuses anything else.
 */
int		 addr_local_safe(const char *mailbox);

#endif
