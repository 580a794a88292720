/*
 * fuzz_smtpd_data - libFuzzer target for the DATA/BDAT content checks
 *
 * The first octet picks how the rest is cut into pieces (BDAT chunks and
 * TCP reads come in any size); the rest is fed to smtpd_data_feed() in
 * those pieces. What must hold: the verdict does not depend on the cut
 * (fed whole gives the same); a message that passes comes out exactly as
 * it went in, with the header's end announced once and at an empty line;
 * one that fails never passes on more than it was given.
 *
 * link: smtpd/smtpd_data.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd_data.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_out {
	uint8_t		*buf;
	size_t		 len, cap;
	int		 hdr_ends;
	size_t		 hdr_at;
};

static void
fuzz_out(void *arg, const char *p, size_t n)
{
	struct fuzz_out	*o = arg;

	if (o->len + n > o->cap)
		abort();
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
fuzz_hdr_end(void *arg)
{
	struct fuzz_out	*o = arg;

	o->hdr_ends++;
	o->hdr_at = o->len;
}

static enum smtpd_data_err
fuzz_run(const uint8_t *p, size_t n, unsigned int cut, struct fuzz_out *o)
{
	struct smtpd_data	 d;
	struct smtpd_data_sink	 sink = { fuzz_out, fuzz_hdr_end, o };
	size_t			 off = 0, piece;

	smtpd_data_init(&d, 4096, 3);
	while (off < n) {
		piece = cut == 0 ? n - off : 1 + (off * 7 + cut) % (cut + 1);
		if (piece > n - off)
			piece = n - off;
		smtpd_data_feed(&d, (const char *)p + off, piece, &sink);
		off += piece;
	}
	return smtpd_data_finish(&d, &sink);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_out		 a, b;
	enum smtpd_data_err	 ea, eb;

	if (size < 1)
		return 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.cap = b.cap = size;
	a.buf = malloc(size);
	b.buf = malloc(size);
	ea = fuzz_run(data + 1, size - 1, data[0], &a);
	eb = fuzz_run(data + 1, size - 1, 0, &b);
	if (ea != eb)
		abort();
	if (ea == SMTPD_DE_NONE) {
		if (a.len != size - 1 || memcmp(a.buf, data + 1, a.len) != 0)
			abort();
		if (a.hdr_ends != 1)
			abort();
		/* At an empty line (CRLF), or at the very end. */
		if (a.hdr_at != a.len && !(a.buf[a.hdr_at] == '\r' &&
		    (a.hdr_at == 0 || a.buf[a.hdr_at - 1] == '\n')))
			abort();
	}
	free(a.buf);
	free(b.buf);
	return 0;
}
