/*
 * fuzz_ipc - libFuzzer target for the IPC frame reader
 *
 * The input is a byte stream as a hostile worker might write it. Frames
 * are cut with ipc_frame_parse() exactly as ipc_peer does, and each
 * payload is read with every kind of ipc_get_*() in an order picked by the
 * frame's type. Properties: a frame the parser accepts lies within the
 * input and within IPC_MAX_PAYLOAD; a string read back is NUL-terminated
 * where its length says; a reader that failed once keeps failing.
 *
 * link: common/ipc.c common/log.c common/xmalloc.c -levent
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_ipc_read(struct ipc_msgin *r)
{
	const char	*s;
	const void	*d;
	uint64_t	 v64;
	uint32_t	 v32;
	size_t		 n;
	int		 i, failed = 0;

	for (i = 0; i < 8; i++) {
		int	 rc;

		switch ((r->type + i) % 4) {
		case 0:
			rc = ipc_get_u32(r, &v32);
			break;
		case 1:
			rc = ipc_get_u64(r, &v64);
			break;
		case 2:
			rc = ipc_get_str(r, &s);
			if (rc == 0 && s[strlen(s)] != '\0')
				abort();
			break;
		default:
			rc = ipc_get_data(r, &d, &n);
			if (rc == 0 && n > IPC_MAX_PAYLOAD)
				abort();
			break;
		}
		if (failed && rc == 0)
			abort();
		if (rc == -1)
			failed = 1;
	}
	if (failed && ipc_end(r) == 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ipc_hdr	 h;
	struct ipc_msgin r;
	uint8_t		*buf;
	size_t		 off = 0;
	int		 rc;

	/* A private copy, so ASan sees any read past the end. */
	if ((buf = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(buf, data, len);
	while ((rc = ipc_frame_parse(buf + off, len - off, &h)) == 1) {
		if (h.len > IPC_MAX_PAYLOAD || IPC_HDR_LEN + h.len > len - off)
			abort();
		ipc_msgin_init(&r, &h, buf + off + IPC_HDR_LEN, -1);
		fuzz_ipc_read(&r);
		off += IPC_HDR_LEN + h.len;
	}
	free(buf);
	return 0;
}
