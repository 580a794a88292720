/*
 * fuzz_sendmail_msg - libFuzzer target for sendmail(1)'s header parsing
 *
 * The input is a message as a user's program might pipe it to sendmail
 * -t: it is cut into lines as sendmail does, gathered into a header by
 * smsg_hdr_add(), and scanned by smsg_hdr_scan() for To, Cc and Bcc. What
 * must hold: every address handed on is a NUL-free, control-free string
 * within SMSG_ADDR_MAX with no unquoted space; the header written out is
 * the header kept minus Bcc fields, never longer, in CRLF lines, with no
 * Bcc field left; and smsg_addr_list() on the whole input neither reads
 * past it nor hands on an address that breaks those rules.
 *
 * link: tools/sendmail_msg.c common/buf.c common/xmalloc.c common/log.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "tools/sendmail_msg.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_addr_cb(const char *a, void *arg)
{
	size_t	 n = strlen(a), i;
	int	 q = 0;

	(void)arg;
	if (n == 0 || n > SMSG_ADDR_MAX)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char	 c = (unsigned char)a[i];

		if (c < 0x20 || c == 0x7f)
			abort();
		if (q && c == '\\') {
			i++;		/* a quoted pair: the next is text */
			continue;
		}
		if (c == '"')
			q = !q;
		if (!q && (c == ' ' || c == ',' || c == '<' || c == '>' ||
		    c == '(' || c == ';'))
			abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	*hdr = buf_new(256, SMSG_HEADER_MAX);
	struct buf	*out = buf_new(256, SMSG_HEADER_MAX);
	char		*s = malloc(size + 1);
	const char	*p, *nl, *end, *o, *oe;
	size_t		 len;
	int		 flags;

	memcpy(s, data, size);
	s[size] = '\0';
	(void)smsg_addr_list(s, size, fuzz_addr_cb, NULL);

	for (p = s, end = s + size; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (smsg_hdr_add(hdr, p, len) != 0)
			break;
	}
	if (smsg_hdr_scan(buf_data(hdr), buf_len(hdr), fuzz_addr_cb, NULL,
	    out, &flags) == 0) {
		if (buf_len(out) > buf_len(hdr))
			abort();
		o = buf_data(out);
		oe = o + buf_len(out);
		if (buf_len(out) > 0 && (buf_len(out) < 2 ||
		    memcmp(oe - 2, "\r\n", 2) != 0))
			abort();
		for (p = o; p < oe; p = nl + 1) {
			nl = memchr(p, '\n', (size_t)(oe - p));
			if (nl == NULL || nl == p || nl[-1] != '\r')
				abort();
			if (p == o || (p[0] != ' ' && p[0] != '\t')) {
				/* A field's first line: never Bcc. */
				if ((size_t)(oe - p) >= 4 &&
				    strncasecmp(p, "bcc", 3) == 0 &&
				    (p[3] == ':' || p[3] == ' ' ||
				    p[3] == '\t'))
					abort();
			}
		}
	}
	buf_free(hdr);
	buf_free(out);
	free(s);
	return 0;
}
