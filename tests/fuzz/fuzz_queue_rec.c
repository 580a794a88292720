/*
 * fuzz_queue_rec - libFuzzer target for queue_rec_decode()
 *
 *	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 \
 *	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *	    -o fuzz_queue_rec tests/fuzz/fuzz_queue_rec.c queue/queue_rec.c \
 *	    common/buf.c common/xmalloc.c common/log.c
 *	./fuzz_queue_rec -max_total_time=60 corpus/
 *
 * link: queue/queue_rec.c common/buf.c common/xmalloc.c common/log.c
 *
 * Besides the sanitizers' checks, it asserts the decoder's contract: a
 * failure leaves the envelope all zero, and whatever decodes encodes again
 * into a record that decodes to the same bytes (the encoder's output is
 * canonical, so encode(decode(encode(decode(x)))) == encode(decode(x)),
 * and as long as x).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/queue_rec.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
fuzz_queue_rec_is_zero(const struct queue_env *env)
{
	struct queue_env	 z;

	memset(&z, 0, sizeof(z));
	return memcmp(env, &z, sizeof(z)) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env	 env, again;
	struct buf		*one, *two;

	if (queue_rec_decode(data, size, &env) == -1) {
		if (!fuzz_queue_rec_is_zero(&env))
			abort();
		return 0;
	}
	/* The input held every byte the record needs, so this fits. */
	one = buf_new(size, 64u * 1024 * 1024);
	two = buf_new(size, 64u * 1024 * 1024);
	if (queue_rec_encode(&env, one) == -1)
		abort();
	if (queue_rec_decode(buf_data(one), buf_len(one), &again) == -1)
		abort();
	if (queue_rec_encode(&again, two) == -1)
		abort();
	if (buf_len(one) != buf_len(two) ||
	    memcmp(buf_data(one), buf_data(two), buf_len(one)) != 0)
		abort();
	/*
	 * Every accepted field is encoded once again at its own length, only
	 * perhaps in another order, so the lengths must agree too.
	 */
	if (buf_len(one) != size)
		abort();
	queue_env_clear(&again);
	queue_env_clear(&env);
	buf_free(one);
	buf_free(two);
	return 0;
}
