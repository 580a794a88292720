/*
 * addr - RFC 5321 mailbox and path parsing (RFC 6531 with ADDR_F_UTF8)
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
 * path 256 including the brackets, all counted in octets. Without
 * ADDR_F_UTF8 nothing outside printable US-ASCII is accepted; with it the
 * local part and the domain labels may also hold well-formed UTF-8
 * (RFC 6531 section 3.3), checked by addr_utf8_len(). Returns 0, or -1
 * with a short reason in *why (a static string).
 *
 * What the path held beyond the mailbox goes to *info (when info is not
 * NULL; 0 on failure), so that a caller can refuse what the canonical form
 * no longer shows or shows only to a second look:
 *
 *	ADDR_I_ROUTE	a source route was given (and dropped)
 *	ADDR_I_ROUTING	the local part routes: addr_has_routing() is 1
 *	ADDR_I_UTF8	the mailbox holds non-ASCII octets
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
#define ADDR_F_UTF8		0x04	/* UTF-8 allowed (MAIL ... SMTPUTF8) */

#define ADDR_I_ROUTE		0x01	/* out: "<@a,@b:...>" was dropped */
#define ADDR_I_ROUTING		0x02	/* out: addr_has_routing(out) */
#define ADDR_I_UTF8		0x04	/* out: non-ASCII in the mailbox */

int		 addr_parse_path(const char *in, int flags, char *out,
		    size_t outlen, const char **rest, unsigned int *info,
		    const char **why);

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

/*
 * addr_has_routing - 1 if the local part of a canonical mailbox carries
 * sender-specified routing that some MTA down the line may obey: '%' or
 * '!' anywhere in it, or '@' (which only a quoted local part can hold):
 * u%ext@ours, ext!u@ours, "u@ext"@ours, "u%ext"@ours. Such a mailbox names a
 * local domain but asks to be relayed beyond it; a server that does not
 * relay for the client refuses it (Postfix's allow_untrusted_routing).
 */
int		 addr_has_routing(const char *mailbox);

/*
 * addr_utf8_len - the length (2 to 4) of the well-formed non-ASCII UTF-8
 * character that starts at p, or 0 if none does: ASCII, stray or missing
 * continuation octets, overlong forms, surrogates (U+D800..U+DFFF), code
 * points above U+10FFFF and the C1 controls (U+0080..U+009F) are all 0.
 * Reads at most n octets, and never past a NUL.
 */
size_t		 addr_utf8_len(const char *p, size_t n);

#endif
