/*
 * check_queue_rec - the envelope record: round trips, and hostile input
 *
 * The corrupt records are built by hand, field by field, by rec_build(),
 * so each case says in words what is wrong with it; the reference record
 * (no defect) is checked against the encoder byte for byte, which pins
 * the layout documented at the top of queue/queue_rec.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "queue/queue_rec.h"
#include "tests/unit/harness.h"

#define REC_CAP		(64u * 1024 * 1024)

/* Tags, as documented in queue/queue_rec.c. */
#define T_ARRIVAL	1
#define T_SENDER	2
#define T_CLIENT	3
#define T_HELO		4
#define T_SIZE		5
#define T_NRCPT		6
#define T_RCPT		7
#define R_ADDR		1
#define R_STATE		2
#define R_ATTEMPTS	3
#define R_NEXT_TRY	4
#define R_LAST_ERROR	5

/* --- helpers -------------------------------------------------------------- */

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
env_assert_eq(const struct queue_env *a, const struct queue_env *b)
{
	uint32_t	 i, j;

	ck_assert(a->arrival_ms == b->arrival_ms);
	ck_assert(str_eq(a->sender, b->sender));
	ck_assert(str_eq(a->client, b->client));
	ck_assert(str_eq(a->helo, b->helo));
	ck_assert(a->size == b->size);
	ck_assert_uint_eq(a->nrcpt, b->nrcpt);
	for (i = 0; i < a->nrcpt; i++) {
		ck_assert(str_eq(a->rcpts[i].addr, b->rcpts[i].addr));
		ck_assert_uint_eq(a->rcpts[i].state, b->rcpts[i].state);
		ck_assert_uint_eq(a->rcpts[i].attempts, b->rcpts[i].attempts);
		ck_assert(a->rcpts[i].next_try_ms == b->rcpts[i].next_try_ms);
		ck_assert(str_eq(a->rcpts[i].last_error,
		    b->rcpts[i].last_error));
		ck_assert_uint_eq(a->rcpts[i].notify, b->rcpts[i].notify);
		ck_assert_uint_eq(a->rcpts[i].orcpt_type,
		    b->rcpts[i].orcpt_type);
		ck_assert(str_eq(a->rcpts[i].orcpt, b->rcpts[i].orcpt));
		ck_assert_uint_eq(a->rcpts[i].flags, b->rcpts[i].flags);
		ck_assert(a->rcpts[i].last_time_ms == b->rcpts[i].last_time_ms);
		ck_assert(str_eq(a->rcpts[i].last_status,
		    b->rcpts[i].last_status));
		ck_assert(str_eq(a->rcpts[i].last_remote,
		    b->rcpts[i].last_remote));
		ck_assert_uint_eq(a->rcpts[i].nhistory, b->rcpts[i].nhistory);
		for (j = 0; j < a->rcpts[i].nhistory; j++) {
			const struct queue_attempt *ha = &a->rcpts[i].history[j];
			const struct queue_attempt *hb = &b->rcpts[i].history[j];

			ck_assert(ha->time_ms == hb->time_ms);
			ck_assert(str_eq(ha->status, hb->status));
			ck_assert(str_eq(ha->remote, hb->remote));
			ck_assert(str_eq(ha->text, hb->text));
		}
	}
	ck_assert_uint_eq(a->txflags, b->txflags);
	ck_assert_uint_eq(a->ret, b->ret);
	ck_assert(str_eq(a->envid, b->envid));
}

static int
env_is_zero(const struct queue_env *e)
{
	struct queue_env	 z;

	memset(&z, 0, sizeof(z));
	return memcmp(e, &z, sizeof(z)) == 0;
}

/* An envelope with n recipients, states cycling; the caller clears it. */
static void
env_make(struct queue_env *e, uint32_t n)
{
	uint32_t	 i;

	memset(e, 0, sizeof(*e));
	e->arrival_ms = 1700000000;
	e->sender = xstrdup("ana@uni-a.es");
	e->client = xstrdup("mx.uni-a.es[192.0.2.10]:41234");
	e->helo = xstrdup("mx.uni-a.es");
	e->size = 4212;
	e->nrcpt = n;
	if (n > 0)
		e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	for (i = 0; i < n; i++) {
		xasprintf(&e->rcpts[i].addr, "user%u@uni-b.es", i);
		e->rcpts[i].state = i % (RCPT_STATE_MAX + 1);
		e->rcpts[i].attempts = i;
		e->rcpts[i].next_try_ms = 1700000000 + (int64_t)i * 60;
		if (i % 3 == 1)
			xasprintf(&e->rcpts[i].last_error,
			    "451 4.7.5 try %u later", i);
		else if (i % 3 == 2)
			e->rcpts[i].last_error = xstrdup("");
	}
}

/* Encode e, decode the result, and check that what comes back is e. */
static void
env_round_trip(const struct queue_env *e)
{
	struct queue_env	 back;
	struct buf		*b = buf_new(256, REC_CAP);

	ck_assert_int_eq(queue_rec_encode(e, b), 0);
	ck_assert_int_eq(queue_rec_decode(buf_data(b), buf_len(b), &back), 0);
	env_assert_eq(e, &back);
	queue_env_clear(&back);
	buf_free(b);
}

/* --- a hand-made record, with one defect at a time ------------------------ */

enum rec_defect {
	D_NONE = 0,
	D_EMPTY_INPUT,
	D_BAD_MAGIC,
	D_BAD_VERSION,
	D_NO_ARRIVAL,
	D_DUP_ARRIVAL,
	D_ARRIVAL_7_BYTES,
	D_NO_SENDER,
	D_DUP_SENDER,
	D_SENDER_NUL,
	D_SENDER_CRLF,
	D_SENDER_1025,
	D_CLIENT_NUL,
	D_CLIENT_1025,
	D_DUP_CLIENT,
	D_HELO_1025,
	D_NO_SIZE,
	D_SIZE_9_BYTES,
	D_NO_NRCPT,
	D_DUP_NRCPT,
	D_NRCPT_MORE,
	D_NRCPT_FEWER,
	D_NRCPT_OVER_MAX,
	D_NRCPT_HUGE,
	D_RCPT_BEFORE_NRCPT,
	D_TOP_TAG_UNKNOWN,
	D_TOP_TAG_ZERO,
	D_TOP_TAG_FLIPPED,
	D_LEN_PAST_END,
	D_LEN_HUGE,
	D_TRAILING_BYTE,
	D_TRAILING_HEADER,
	D_STATE_TOO_BIG,
	D_STATE_255,
	D_STATE_2_BYTES,
	D_NO_ADDR,
	D_NO_STATE,
	D_NO_ATTEMPTS,
	D_NO_NEXT_TRY,
	D_DUP_STATE,
	D_DUP_LAST_ERROR,
	D_ADDR_NUL,
	D_ADDR_TAB,
	D_ADDR_DEL,
	D_ADDR_1025,
	D_ERROR_NUL,
	D_ERROR_1025,
	D_RCPT_TAG_UNKNOWN,
	D_RCPT_TAG_FLIPPED,
	D_RCPT_INNER_PAST_END,
	D_RCPT_TRAILING_BYTE,
	D_RCPT_EMPTY,
	D_NESTED_RCPT,
};

struct rec_case {
	const char	*what;
	enum rec_defect	 defect;
};

static const struct rec_case rec_bad_cases[] = {
	{ "empty input", D_EMPTY_INPUT },
	{ "wrong magic", D_BAD_MAGIC },
	{ "unknown version", D_BAD_VERSION },
	{ "no arrival", D_NO_ARRIVAL },
	{ "arrival twice", D_DUP_ARRIVAL },
	{ "arrival of 7 bytes", D_ARRIVAL_7_BYTES },
	{ "no sender", D_NO_SENDER },
	{ "sender twice", D_DUP_SENDER },
	{ "NUL inside the sender", D_SENDER_NUL },
	{ "CR LF inside the sender", D_SENDER_CRLF },
	{ "sender of 1025 bytes", D_SENDER_1025 },
	{ "NUL inside the client", D_CLIENT_NUL },
	{ "client of 1025 bytes", D_CLIENT_1025 },
	{ "client twice", D_DUP_CLIENT },
	{ "helo of 1025 bytes", D_HELO_1025 },
	{ "no size", D_NO_SIZE },
	{ "size of 9 bytes", D_SIZE_9_BYTES },
	{ "no nrcpt", D_NO_NRCPT },
	{ "nrcpt twice", D_DUP_NRCPT },
	{ "nrcpt one more than the recipients", D_NRCPT_MORE },
	{ "nrcpt one fewer than the recipients", D_NRCPT_FEWER },
	{ "nrcpt above QUEUE_REC_MAX_RCPT", D_NRCPT_OVER_MAX },
	{ "nrcpt of 2^32-1", D_NRCPT_HUGE },
	{ "a recipient before nrcpt", D_RCPT_BEFORE_NRCPT },
	{ "an unknown top-level tag", D_TOP_TAG_UNKNOWN },
	{ "top-level tag 0", D_TOP_TAG_ZERO },
	{ "a top-level tag with its high bit flipped", D_TOP_TAG_FLIPPED },
	{ "last field's length one past the end", D_LEN_PAST_END },
	{ "a field length of 2^32-1", D_LEN_HUGE },
	{ "one trailing byte", D_TRAILING_BYTE },
	{ "a trailing partial field header", D_TRAILING_HEADER },
	{ "state RCPT_STATE_MAX + 1", D_STATE_TOO_BIG },
	{ "state 255", D_STATE_255 },
	{ "state of 2 bytes", D_STATE_2_BYTES },
	{ "recipient without addr", D_NO_ADDR },
	{ "recipient without state", D_NO_STATE },
	{ "recipient without attempts", D_NO_ATTEMPTS },
	{ "recipient without next_try", D_NO_NEXT_TRY },
	{ "recipient with state twice", D_DUP_STATE },
	{ "recipient with last_error twice", D_DUP_LAST_ERROR },
	{ "NUL inside an address", D_ADDR_NUL },
	{ "TAB inside an address", D_ADDR_TAB },
	{ "DEL inside an address", D_ADDR_DEL },
	{ "address of 1025 bytes", D_ADDR_1025 },
	{ "NUL inside last_error", D_ERROR_NUL },
	{ "last_error of 1025 bytes", D_ERROR_1025 },
	{ "an unknown recipient tag", D_RCPT_TAG_UNKNOWN },
	{ "a recipient tag with its high bit flipped", D_RCPT_TAG_FLIPPED },
	{ "recipient field shorter than its inner field",
	    D_RCPT_INNER_PAST_END },
	{ "one trailing byte inside a recipient", D_RCPT_TRAILING_BYTE },
	{ "an empty recipient field", D_RCPT_EMPTY },
	{ "a recipient nested inside a recipient", D_NESTED_RCPT },
};
#define REC_NBAD	(sizeof(rec_bad_cases) / sizeof(rec_bad_cases[0]))

static void
tb_hdr(struct buf *b, unsigned int tag, uint32_t len)
{
	unsigned char	 h[5];

	h[0] = (unsigned char)tag;
	h[1] = (unsigned char)(len >> 24);
	h[2] = (unsigned char)(len >> 16);
	h[3] = (unsigned char)(len >> 8);
	h[4] = (unsigned char)len;
	ck_assert_int_eq(buf_add(b, h, sizeof(h)), 0);
}

static void
tb_raw(struct buf *b, unsigned int tag, const void *p, size_t len)
{
	tb_hdr(b, tag, (uint32_t)len);
	ck_assert_int_eq(buf_add(b, p, len), 0);
}

static void
tb_str(struct buf *b, unsigned int tag, const char *s)
{
	tb_raw(b, tag, s, strlen(s));
}

static void
tb_uint(struct buf *b, unsigned int tag, uint64_t v, size_t width)
{
	unsigned char	 x[9];
	size_t		 i;

	for (i = width; i > 0; i--) {
		x[i - 1] = (unsigned char)v;
		v >>= 8;
	}
	tb_raw(b, tag, x, width);
}

static void
tb_long(struct buf *b, unsigned int tag, char c, size_t n)
{
	char	*s = xmalloc(n);

	memset(s, c, n);
	tb_raw(b, tag, s, n);
	free(s);
}

/* The value of recipient i of the reference record, with the defect. */
static void
rec_build_rcpt(struct buf *r, unsigned int i, enum rec_defect d)
{
	/* Defects of a recipient go to the second one, i == 1. */
	if (i != 1)
		d = D_NONE;

	if (d == D_RCPT_EMPTY)
		return;
	if (d == D_RCPT_TAG_FLIPPED)
		tb_str(r, R_ADDR | 0x80, "eva@uni-c.es");
	else if (d == D_ADDR_NUL)
		tb_raw(r, R_ADDR, "eva\0@uni-c.es", 13);
	else if (d == D_ADDR_TAB)
		tb_str(r, R_ADDR, "eva\t@uni-c.es");
	else if (d == D_ADDR_DEL)
		tb_str(r, R_ADDR, "eva\x7f@uni-c.es");
	else if (d == D_ADDR_1025)
		tb_long(r, R_ADDR, 'e', 1025);
	else if (d != D_NO_ADDR)
		tb_str(r, R_ADDR, i == 0 ? "luis@uni-b.es" : "eva@uni-c.es");

	if (d == D_STATE_TOO_BIG)
		tb_uint(r, R_STATE, RCPT_STATE_MAX + 1, 1);
	else if (d == D_STATE_255)
		tb_uint(r, R_STATE, 255, 1);
	else if (d == D_STATE_2_BYTES)
		tb_uint(r, R_STATE, RCPT_DEFERRED, 2);
	else if (d != D_NO_STATE)
		tb_uint(r, R_STATE, i == 0 ? RCPT_PENDING : RCPT_DEFERRED, 1);
	if (d == D_DUP_STATE)
		tb_uint(r, R_STATE, RCPT_DEFERRED, 1);

	if (d != D_NO_ATTEMPTS)
		tb_uint(r, R_ATTEMPTS, i == 0 ? 0 : 3, 4);
	if (d != D_NO_NEXT_TRY)
		tb_uint(r, R_NEXT_TRY, i == 0 ? 0 : 1700003600, 8);

	if (i == 1) {
		if (d == D_ERROR_NUL)
			tb_raw(r, R_LAST_ERROR, "451\0 later", 10);
		else if (d == D_ERROR_1025)
			tb_long(r, R_LAST_ERROR, 'x', 1025);
		else
			tb_str(r, R_LAST_ERROR, "451 4.7.5 try later");
		if (d == D_DUP_LAST_ERROR)
			tb_str(r, R_LAST_ERROR, "again");
	}
	if (d == D_RCPT_TAG_UNKNOWN)
		tb_str(r, 0x3f, "x");
	if (d == D_RCPT_INNER_PAST_END)
		tb_hdr(r, R_LAST_ERROR, 10);	/* and no bytes follow */
	if (d == D_RCPT_TRAILING_BYTE)
		ck_assert_int_eq(buf_add(r, "", 1), 0);
	if (d == D_NESTED_RCPT) {
		struct buf	*inner = buf_new(64, REC_CAP);

		rec_build_rcpt(inner, 0, D_NONE);
		tb_raw(r, T_RCPT, buf_data(inner), buf_len(inner));
		buf_free(inner);
	}
}

static void
rec_build_rcpts(struct buf *b, enum rec_defect d)
{
	struct buf	*r;
	unsigned int	 i;

	for (i = 0; i < 2; i++) {
		r = buf_new(64, REC_CAP);
		rec_build_rcpt(r, i, d);
		tb_raw(b, T_RCPT, buf_data(r), buf_len(r));
		buf_free(r);
	}
}

/*
 * The reference record: the envelope of env_make_reference(), field by
 * field, except for the one defect d.
 */
static void
rec_build(struct buf *b, enum rec_defect d)
{
	uint64_t	 nrcpt = 2;

	if (d == D_EMPTY_INPUT)
		return;
	ck_assert_int_eq(buf_add(b, d == D_BAD_MAGIC ? "AVQF" : "AVQE", 4), 0);
	ck_assert_int_eq(buf_add(b, d == D_BAD_VERSION ? "\0\5" : "\0\4", 2),
	    0);

	if (d == D_ARRIVAL_7_BYTES)
		tb_uint(b, T_ARRIVAL, 1700000000, 7);
	else if (d == D_TOP_TAG_FLIPPED)
		tb_uint(b, T_ARRIVAL | 0x80, 1700000000, 8);
	else if (d != D_NO_ARRIVAL)
		tb_uint(b, T_ARRIVAL, 1700000000, 8);
	if (d == D_DUP_ARRIVAL)
		tb_uint(b, T_ARRIVAL, 1700000000, 8);

	if (d == D_SENDER_NUL)
		tb_raw(b, T_SENDER, "ana@uni-a.es\0", 13);
	else if (d == D_SENDER_CRLF)
		tb_str(b, T_SENDER, "ana@uni-a.es\r\nRSET");
	else if (d == D_SENDER_1025)
		tb_long(b, T_SENDER, 'a', 1025);
	else if (d != D_NO_SENDER)
		tb_str(b, T_SENDER, "ana@uni-a.es");
	if (d == D_DUP_SENDER)
		tb_str(b, T_SENDER, "eve@evil.example");

	if (d == D_CLIENT_NUL)
		tb_raw(b, T_CLIENT, "mx\0", 3);
	else if (d == D_CLIENT_1025)
		tb_long(b, T_CLIENT, 'c', 1025);
	else
		tb_str(b, T_CLIENT, "mx.uni-a.es[192.0.2.10]:41234");
	if (d == D_DUP_CLIENT)
		tb_str(b, T_CLIENT, "other");

	if (d == D_HELO_1025)
		tb_long(b, T_HELO, 'h', 1025);
	else
		tb_str(b, T_HELO, "mx.uni-a.es");

	if (d == D_SIZE_9_BYTES)
		tb_uint(b, T_SIZE, 4212, 9);
	else if (d != D_NO_SIZE)
		tb_uint(b, T_SIZE, 4212, 8);

	if (d == D_TOP_TAG_UNKNOWN)
		tb_str(b, 0x55, "from the future");
	if (d == D_TOP_TAG_ZERO)
		tb_str(b, 0, "");

	if (d == D_NRCPT_MORE)
		nrcpt = 3;
	else if (d == D_NRCPT_FEWER)
		nrcpt = 1;
	else if (d == D_NRCPT_OVER_MAX)
		nrcpt = QUEUE_REC_MAX_RCPT + 1;
	else if (d == D_NRCPT_HUGE)
		nrcpt = UINT32_MAX;
	if (d == D_RCPT_BEFORE_NRCPT)
		rec_build_rcpts(b, d);
	if (d != D_NO_NRCPT)
		tb_uint(b, T_NRCPT, nrcpt, 4);
	if (d == D_DUP_NRCPT)
		tb_uint(b, T_NRCPT, nrcpt, 4);
	if (d != D_RCPT_BEFORE_NRCPT)
		rec_build_rcpts(b, d);

	if (d == D_LEN_PAST_END) {
		tb_hdr(b, T_HELO, 5);
		ck_assert_int_eq(buf_add(b, "abcd", 4), 0);
	}
	if (d == D_LEN_HUGE)
		tb_hdr(b, T_HELO, UINT32_MAX);
	if (d == D_TRAILING_BYTE)
		ck_assert_int_eq(buf_add(b, "\1", 1), 0);
	if (d == D_TRAILING_HEADER)
		ck_assert_int_eq(buf_add(b, "\1\0\0\0", 4), 0);
}

/* The envelope the reference record holds. */
static void
env_make_reference(struct queue_env *e)
{
	memset(e, 0, sizeof(*e));
	e->arrival_ms = 1700000000;
	e->sender = xstrdup("ana@uni-a.es");
	e->client = xstrdup("mx.uni-a.es[192.0.2.10]:41234");
	e->helo = xstrdup("mx.uni-a.es");
	e->size = 4212;
	e->nrcpt = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("luis@uni-b.es");
	e->rcpts[0].state = RCPT_PENDING;
	e->rcpts[1].addr = xstrdup("eva@uni-c.es");
	e->rcpts[1].state = RCPT_DEFERRED;
	e->rcpts[1].attempts = 3;
	e->rcpts[1].next_try_ms = 1700003600;
	e->rcpts[1].last_error = xstrdup("451 4.7.5 try later");
}

/* The reference record as the encoder writes it; the caller frees it. */
static struct buf *
rec_reference(void)
{
	struct queue_env	 e;
	struct buf		*b = buf_new(256, REC_CAP);

	env_make_reference(&e);
	if (queue_rec_encode(&e, b) == -1)
		abort();
	queue_env_clear(&e);
	return b;
}

/*
 * Offsets of every tag byte in the reference record, top-level and inside
 * recipients, found by walking it as the layout says.
 */
static size_t	 rec_tag_offsets[64];
static size_t	 rec_ntags;

static void
rec_find_tags(const unsigned char *p, size_t start, size_t end)
{
	uint32_t	 len;
	size_t		 off = start;

	while (off + 5 <= end) {
		len = (uint32_t)p[off + 1] << 24 | (uint32_t)p[off + 2] << 16 |
		    (uint32_t)p[off + 3] << 8 | p[off + 4];
		if (rec_ntags < sizeof(rec_tag_offsets) / sizeof(size_t))
			rec_tag_offsets[rec_ntags++] = off;
		if (start == 6 && p[off] == T_RCPT)
			rec_find_tags(p, off + 5, off + 5 + len);
		off += 5 + len;
	}
}

/* --- round trips ---------------------------------------------------------- */

START_TEST(round_trip_keeps_an_envelope_without_recipients)
{
	struct queue_env	 e;

	env_make(&e, 0);
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_keeps_an_envelope_with_one_recipient)
{
	struct queue_env	 e;

	env_make(&e, 1);
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_keeps_many_recipients_in_order)
{
	struct queue_env	 e;

	env_make(&e, 250);
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_keeps_the_most_recipients_allowed)
{
	struct queue_env	 e;

	env_make(&e, QUEUE_REC_MAX_RCPT);
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

/* Loop test: _i is each recipient state. */
START_TEST(round_trip_keeps_each_recipient_state)
{
	struct queue_env	 e;

	env_make(&e, 3);
	e.rcpts[1].state = (uint8_t)_i;
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_keeps_the_null_sender_and_absent_client_and_helo)
{
	struct queue_env	 e, back;
	struct buf		*b = buf_new(256, REC_CAP);

	env_make(&e, 1);
	free(e.sender);
	e.sender = xstrdup("");
	free(e.client);
	e.client = NULL;
	free(e.helo);
	e.helo = NULL;
	env_round_trip(&e);

	ck_assert_int_eq(queue_rec_encode(&e, b), 0);
	ck_assert_int_eq(queue_rec_decode(buf_data(b), buf_len(b), &back), 0);
	ck_assert_str_eq(back.sender, "");
	ck_assert_ptr_null(back.client);
	ck_assert_ptr_null(back.helo);
	queue_env_clear(&back);
	buf_free(b);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_tells_an_absent_last_error_from_an_empty_one)
{
	struct queue_env	 e, back;
	struct buf		*b = buf_new(256, REC_CAP);

	env_make(&e, 3);
	ck_assert_ptr_null(e.rcpts[0].last_error);
	ck_assert_str_eq(e.rcpts[2].last_error, "");
	ck_assert_int_eq(queue_rec_encode(&e, b), 0);
	ck_assert_int_eq(queue_rec_decode(buf_data(b), buf_len(b), &back), 0);
	ck_assert_ptr_null(back.rcpts[0].last_error);
	ck_assert_str_eq(back.rcpts[2].last_error, "");
	queue_env_clear(&back);
	buf_free(b);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_keeps_extreme_integers)
{
	struct queue_env	 e;

	env_make(&e, 2);
	e.arrival_ms = INT64_MIN;
	e.size = UINT64_MAX;
	e.rcpts[0].attempts = UINT32_MAX;
	e.rcpts[0].next_try_ms = INT64_MAX;
	e.rcpts[1].next_try_ms = -1;
	env_round_trip(&e);
	e.arrival_ms = -1;
	e.size = 0;
	e.rcpts[1].next_try_ms = INT64_MIN;
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(round_trip_keeps_strings_of_exactly_1024_bytes)
{
	struct queue_env	 e;
	char			*s = xmalloc(1025);

	memset(s, 'a', 1024);
	s[1024] = '\0';
	env_make(&e, 1);
	free(e.sender);
	e.sender = xstrdup(s);
	free(e.client);
	e.client = xstrdup(s);
	free(e.helo);
	e.helo = xstrdup(s);
	free(e.rcpts[0].addr);
	e.rcpts[0].addr = xstrdup(s);
	e.rcpts[0].last_error = xstrdup(s);
	env_round_trip(&e);
	queue_env_clear(&e);
	free(s);
}
END_TEST

START_TEST(round_trip_keeps_the_dsn_fields)
{
	struct queue_env	 e;
	char			*big = xcalloc(1, 1501);

	env_make(&e, 2);
	e.txflags = QUEUE_TX_SMTPUTF8 | QUEUE_TX_BDAT;
	e.ret = QUEUE_RET_HDRS;
	e.envid = xstrdup("abc+2Bdef");
	e.rcpts[0].notify = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE;
	e.rcpts[0].orcpt_type = QUEUE_ORCPT_RFC822;
	e.rcpts[0].orcpt = xstrdup("b+40relay.example");
	/* The longest ORCPT smtpd passes: 500 octets, each as +XX. */
	memset(big, 'A', 1500);
	e.rcpts[1].notify = QUEUE_NOTIFY_NEVER;
	e.rcpts[1].orcpt_type = QUEUE_ORCPT_UTF8;
	e.rcpts[1].orcpt = big;
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(a_version_1_record_reads_with_no_dsn_fields)
{
	struct buf		*b = buf_new(256, REC_CAP);
	struct queue_env	 e;

	ck_assert_int_eq(buf_add(b, "AVQE\0\1", 6), 0);
	tb_uint(b, T_ARRIVAL, 5, 8);
	tb_str(b, T_SENDER, "a@b.example");
	tb_uint(b, T_SIZE, 7, 8);
	tb_uint(b, T_NRCPT, 0, 4);
	ck_assert_int_eq(queue_rec_decode(buf_data(b), buf_len(b), &e), 0);
	ck_assert_uint_eq(e.txflags, 0);
	ck_assert_uint_eq(e.ret, 0);
	ck_assert_ptr_null(e.envid);
	queue_env_clear(&e);
	buf_free(b);
}
END_TEST

/* A version 2 record (no 8BITBODY bit) is the same bytes under 2. */
START_TEST(a_version_2_record_still_reads)
{
	struct buf		*b = buf_new(256, REC_CAP);
	struct queue_env	 e;
	unsigned char		*raw;

	rec_build(b, D_NONE);
	raw = xmalloc(buf_len(b));
	memcpy(raw, buf_data(b), buf_len(b));
	raw[5] = 2;
	ck_assert_int_eq(queue_rec_decode(raw, buf_len(b), &e), 0);
	ck_assert_uint_eq(e.nrcpt, 2);
	queue_env_clear(&e);
	free(raw);
	buf_free(b);
}
END_TEST

START_TEST(the_8bit_body_flag_round_trips)
{
	struct queue_env	 e;

	env_make(&e, 1);
	e.txflags = QUEUE_TX_8BITMIME | QUEUE_TX_8BITBODY;
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

START_TEST(the_last_outcome_round_trips_in_its_parts)
{
	struct queue_env	 e;

	env_make(&e, 2);
	e.rcpts[0].flags = QUEUE_RCPT_F_DELAY_SENT;
	e.rcpts[0].last_time_ms = 1700000000456LL;
	e.rcpts[0].last_status = xstrdup("4.4.1");
	e.rcpts[0].last_remote = xstrdup("[192.0.2.1]:25");
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

/* Each outcome pushes the one before it into the history, bounded. */
START_TEST(every_attempt_is_kept_up_to_the_history_bound)
{
	struct queue_env	 e;
	struct queue_rcpt	*r;
	char			 text[64];
	unsigned int		 i;

	env_make(&e, 1);
	r = &e.rcpts[0];
	for (i = 1; i <= QUEUE_REC_MAX_HISTORY + 4; i++) {
		snprintf(text, sizeof(text), "try %u: 451 busy", i);
		queue_rcpt_outcome(r, QUEUE_REC_MAX_HISTORY,
		    1700000000000LL + i, "4.3.2",
		    i % 2 ? "[192.0.2.1]:25" : "none", text);
		if (i == 3) {
			ck_assert_uint_eq(r->nhistory, 2);
			ck_assert_str_eq(r->history[0].text, "try 1: 451 busy");
			ck_assert_str_eq(r->history[0].remote,
			    "[192.0.2.1]:25");
			ck_assert_ptr_null(r->history[1].remote);
			env_round_trip(&e);
		}
	}
	ck_assert_uint_eq(r->nhistory, QUEUE_REC_MAX_HISTORY);
	/* Nineteen outcomes: the last is try 19, the fifteen before it 4 to 18. */
	ck_assert_str_eq(r->history[0].text, "try 4: 451 busy");
	ck_assert_str_eq(r->history[QUEUE_REC_MAX_HISTORY - 1].text,
	    "try 18: 451 busy");
	ck_assert_str_eq(r->last_error, "try 19: 451 busy");
	ck_assert(r->last_time_ms == 1700000000019LL);
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

/* More history than the bound cannot be stored (nor read: see the decoder). */
START_TEST(the_encoder_refuses_more_history_than_the_bound)
{
	struct queue_env	 e, back;
	struct buf		*b = buf_new(256, REC_CAP);
	unsigned int		 i;

	env_make(&e, 1);
	for (i = 0; i <= QUEUE_REC_MAX_HISTORY; i++)
		queue_rcpt_outcome(&e.rcpts[0], QUEUE_REC_MAX_HISTORY, 1000 + i,
		    "4.4.1", NULL, "x");
	ck_assert_uint_eq(e.rcpts[0].nhistory, QUEUE_REC_MAX_HISTORY);
	/* One more than the bound, by hand: the encoder refuses it. */
	e.rcpts[0].nhistory = QUEUE_REC_MAX_HISTORY + 1;
	ck_assert_int_eq(queue_rec_encode(&e, b), -1);
	e.rcpts[0].nhistory = QUEUE_REC_MAX_HISTORY;
	ck_assert_int_eq(queue_rec_encode(&e, b), 0);
	ck_assert_int_eq(queue_rec_decode(buf_data(b), buf_len(b), &back), 0);
	queue_env_clear(&back);
	queue_env_clear(&e);
	buf_free(b);
}
END_TEST

/* A message to many keeps less of each; an earlier text is cut short. */
START_TEST(the_history_shrinks_with_the_recipients_and_cuts_long_texts)
{
	struct queue_rcpt	 r;
	char			 longtext[1001];
	unsigned int		 i;

	ck_assert_uint_eq(queue_rec_history_keep(1), QUEUE_REC_MAX_HISTORY);
	ck_assert_uint_eq(queue_rec_history_keep(100), QUEUE_REC_MAX_HISTORY);
	ck_assert_uint_eq(queue_rec_history_keep(1000), 1);
	ck_assert_uint_eq(queue_rec_history_keep(QUEUE_REC_MAX_RCPT), 1);
	ck_assert_uint_eq(queue_rec_history_keep(300), 5);
	memset(&r, 0, sizeof(r));
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	for (i = 1; i <= 6; i++)
		queue_rcpt_outcome(&r, QUEUE_REC_MAX_HISTORY, i, "4.4.1",
		    "[192.0.2.7]:25", longtext);
	ck_assert_uint_eq(r.nhistory, 5);
	ck_assert_uint_eq(strlen(r.history[0].text), QUEUE_REC_HISTORY_TEXT);
	ck_assert_uint_eq(strlen(r.last_error), 1000);
	/* Fewer to keep now (say the limit fell): the oldest go. */
	queue_rcpt_outcome(&r, 2, 7, "4.4.1", NULL, "short");
	ck_assert_uint_eq(r.nhistory, 2);
	ck_assert(r.history[0].time_ms == 5 && r.history[1].time_ms == 6);
	queue_rcpt_outcome(&r, 0, 8, NULL, NULL, NULL);
	ck_assert_uint_eq(r.nhistory, 0);
	ck_assert_ptr_null(r.last_error);
	free(r.history);
	free(r.last_status);
	free(r.last_remote);
	free(r.last_error);
}
END_TEST

/* Version 2 times are seconds: they read as milliseconds. */
START_TEST(a_version_2_record_reads_its_times_as_milliseconds)
{
	struct buf		*b = buf_new(256, REC_CAP);
	struct queue_env	 e, want;
	unsigned char		*raw;

	env_make_reference(&want);
	rec_build(b, D_NONE);
	raw = xmalloc(buf_len(b));
	memcpy(raw, buf_data(b), buf_len(b));
	raw[5] = 2;
	ck_assert_int_eq(queue_rec_decode(raw, buf_len(b), &e), 0);
	ck_assert(e.arrival_ms == want.arrival_ms * 1000);
	ck_assert(e.rcpts[0].next_try_ms == want.rcpts[0].next_try_ms * 1000);
	queue_env_clear(&e);
	queue_env_clear(&want);
	free(raw);
	buf_free(b);
}
END_TEST

START_TEST(round_trip_keeps_utf8_addresses)
{
	struct queue_env	 e;

	env_make(&e, 1);
	free(e.rcpts[0].addr);
	e.rcpts[0].addr = xstrdup("jos\xc3\xa9@universidad.example");
	env_round_trip(&e);
	queue_env_clear(&e);
}
END_TEST

/* --- the layout ----------------------------------------------------------- */

START_TEST(the_hand_built_reference_record_matches_the_encoder_byte_for_byte)
{
	struct buf		*enc = rec_reference();
	struct buf		*hand = buf_new(256, REC_CAP);
	struct queue_env	 want, got;

	rec_build(hand, D_NONE);
	ck_assert_uint_eq(buf_len(hand), buf_len(enc));
	ck_assert(memcmp(buf_data(hand), buf_data(enc), buf_len(enc)) == 0);

	env_make_reference(&want);
	ck_assert_int_eq(queue_rec_decode(buf_data(hand), buf_len(hand),
	    &got), 0);
	env_assert_eq(&want, &got);
	queue_env_clear(&got);
	queue_env_clear(&want);
	buf_free(hand);
	buf_free(enc);
}
END_TEST

START_TEST(decode_accepts_scalar_fields_in_any_order)
{
	struct buf		*b = buf_new(256, REC_CAP);
	struct queue_env	 e;

	ck_assert_int_eq(buf_add(b, "AVQE\0\1", 6), 0);
	tb_uint(b, T_NRCPT, 0, 4);
	tb_uint(b, T_SIZE, 7, 8);
	tb_str(b, T_HELO, "h");
	tb_str(b, T_SENDER, "");
	tb_uint(b, T_ARRIVAL, 5, 8);
	ck_assert_int_eq(queue_rec_decode(buf_data(b), buf_len(b), &e), 0);
	ck_assert(e.arrival_ms == 5000 && e.size == 7 && e.nrcpt == 0);
	ck_assert_str_eq(e.helo, "h");
	ck_assert_ptr_null(e.client);
	ck_assert_ptr_null(e.rcpts);
	queue_env_clear(&e);
	buf_free(b);
}
END_TEST

START_TEST(encode_appends_to_what_the_buffer_already_holds)
{
	struct queue_env	 e, back;
	struct buf		*b = buf_new(8, REC_CAP);

	env_make(&e, 2);
	ck_assert_int_eq(buf_add(b, "prefix", 6), 0);
	ck_assert_int_eq(queue_rec_encode(&e, b), 0);
	ck_assert(memcmp(buf_data(b), "prefixAVQE", 10) == 0);
	ck_assert_int_eq(queue_rec_decode(buf_data(b) + 6, buf_len(b) - 6,
	    &back), 0);
	env_assert_eq(&e, &back);
	queue_env_clear(&back);
	queue_env_clear(&e);
	buf_free(b);
}
END_TEST

START_TEST(encode_into_a_too_small_buffer_fails_and_leaves_it_unchanged)
{
	struct queue_env	 e;
	struct buf		*full = buf_new(256, REC_CAP);
	struct buf		*b;

	env_make(&e, 3);
	ck_assert_int_eq(queue_rec_encode(&e, full), 0);
	b = buf_new(8, buf_len(full) + 2);
	ck_assert_int_eq(buf_add(b, "abc", 3), 0);
	ck_assert_int_eq(queue_rec_encode(&e, b), -1);
	ck_assert_uint_eq(buf_len(b), 3);
	ck_assert_str_eq(buf_data(b), "abc");
	buf_free(b);

	/* Exactly enough room succeeds. */
	b = buf_new(8, buf_len(full) + 3);
	ck_assert_int_eq(buf_add(b, "abc", 3), 0);
	ck_assert_int_eq(queue_rec_encode(&e, b), 0);
	buf_free(b);
	buf_free(full);
	queue_env_clear(&e);
}
END_TEST

/* Envelopes the encoder refuses, because the decoder would refuse them. */
enum enc_defect {
	E_STATE_TOO_BIG,
	E_SENDER_NULL,
	E_SENDER_1025,
	E_SENDER_CRLF,
	E_ADDR_NULL,
	E_ADDR_CONTROL,
	E_ERROR_1025,
	E_HELO_1025,
	E_CLIENT_1025,
	E_RCPTS_NULL,
	E_TOO_MANY_RCPTS,
	E_NDEFECTS
};

/* Loop test: _i is an enum enc_defect. */
START_TEST(encode_refuses_an_envelope_that_could_not_be_read_back)
{
	struct queue_env	 e;
	struct buf		*b = buf_new(256, REC_CAP);
	char			*s = xmalloc(1026);
	struct queue_rcpt	*saved = NULL;

	memset(s, 'x', 1025);
	s[1025] = '\0';
	env_make(&e, 2);
	switch (_i) {
	case E_STATE_TOO_BIG:
		e.rcpts[1].state = RCPT_STATE_MAX + 1;
		break;
	case E_SENDER_NULL:
		free(e.sender);
		e.sender = NULL;
		break;
	case E_SENDER_1025:
		free(e.sender);
		e.sender = xstrdup(s);
		break;
	case E_SENDER_CRLF:
		free(e.sender);
		e.sender = xstrdup("a@b\r\nDATA");
		break;
	case E_ADDR_NULL:
		free(e.rcpts[1].addr);
		e.rcpts[1].addr = NULL;
		break;
	case E_ADDR_CONTROL:
		free(e.rcpts[1].addr);
		e.rcpts[1].addr = xstrdup("a\x01@b");
		break;
	case E_ERROR_1025:
		free(e.rcpts[1].last_error);
		e.rcpts[1].last_error = xstrdup(s);
		break;
	case E_HELO_1025:
		free(e.helo);
		e.helo = xstrdup(s);
		break;
	case E_CLIENT_1025:
		free(e.client);
		e.client = xstrdup(s);
		break;
	case E_RCPTS_NULL:
		saved = e.rcpts;
		e.rcpts = NULL;
		break;
	case E_TOO_MANY_RCPTS:
		e.nrcpt = QUEUE_REC_MAX_RCPT + 1;	/* rcpts is not read */
		break;
	}
	ck_assert_int_eq(queue_rec_encode(&e, b), -1);
	ck_assert_uint_eq(buf_len(b), 0);
	if (_i == E_RCPTS_NULL)
		e.rcpts = saved;
	if (_i == E_TOO_MANY_RCPTS)
		e.nrcpt = 2;
	queue_env_clear(&e);
	buf_free(b);
	free(s);
}
END_TEST

/* --- hostile input -------------------------------------------------------- */

/* Loop test: _i indexes rec_bad_cases. */
START_TEST(decode_rejects_a_corrupt_record_and_leaves_env_empty)
{
	const struct rec_case	*c = &rec_bad_cases[_i];
	struct buf		*b = buf_new(256, REC_CAP);
	struct queue_env	 e;

	rec_build(b, c->defect);
	memset(&e, 0xa5, sizeof(e));
	if (queue_rec_decode(buf_data(b), buf_len(b), &e) != -1)
		ck_abort_msg("decoded a record with %s", c->what);
	ck_assert_msg(env_is_zero(&e), "env not empty after %s", c->what);
	buf_free(b);
}
END_TEST

/* Loop test: _i is the length of the prefix, every one short of the whole. */
START_TEST(decode_rejects_every_truncation_of_a_valid_record)
{
	struct buf		*b = rec_reference();
	struct queue_env	 e;
	unsigned char		*copy;
	size_t			 n = (size_t)_i;

	ck_assert_uint_lt(n, buf_len(b));
	/* An exact-size copy, so ASan sees any read past the prefix. */
	copy = xmalloc(n > 0 ? n : 1);
	memcpy(copy, buf_data(b), n);
	ck_assert_int_eq(queue_rec_decode(copy, n, &e), -1);
	ck_assert(env_is_zero(&e));
	free(copy);
	buf_free(b);
}
END_TEST

/* Loop test: _i indexes rec_tag_offsets. */
START_TEST(decode_rejects_a_record_with_any_tag_flipped)
{
	struct buf		*b = rec_reference();
	struct queue_env	 e;
	unsigned char		*copy;

	copy = xmalloc(buf_len(b));
	memcpy(copy, buf_data(b), buf_len(b));
	copy[rec_tag_offsets[_i]] ^= 0x80;
	ck_assert_int_eq(queue_rec_decode(copy, buf_len(b), &e), -1);
	ck_assert(env_is_zero(&e));
	free(copy);
	buf_free(b);
}
END_TEST

START_TEST(decode_survives_every_single_byte_change)
{
	struct buf		*b = rec_reference();
	struct queue_env	 e;
	unsigned char		*copy;
	size_t			 i, len = buf_len(b);
	unsigned int		 v, ok = 0;

	copy = xmalloc(len);
	for (i = 0; i < len; i++) {
		for (v = 0; v < 256; v += 51) {
			memcpy(copy, buf_data(b), len);
			copy[i] = (unsigned char)v;
			if (queue_rec_decode(copy, len, &e) == 0) {
				ok++;
				queue_env_clear(&e);
			} else
				ck_assert(env_is_zero(&e));
		}
	}
	/* Some changes (inside a string, an integer) are still valid. */
	ck_assert_uint_gt(ok, 0);
	free(copy);
	buf_free(b);
}
END_TEST

START_TEST(clearing_an_empty_env_twice_is_harmless)
{
	struct queue_env	 e;

	memset(&e, 0, sizeof(e));
	queue_env_clear(&e);
	queue_env_clear(&e);
	ck_assert(env_is_zero(&e));
}
END_TEST

Suite *
queue_rec_suite(void)
{
	Suite		*s = suite_create("queue_rec");
	TCase		*tc;
	struct buf	*ref;
	size_t		 reflen;

	ref = rec_reference();
	reflen = buf_len(ref);
	rec_ntags = 0;
	rec_find_tags((const unsigned char *)buf_data(ref), 6, reflen);
	buf_free(ref);

	tc = tcase_create("round trip");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, round_trip_keeps_an_envelope_without_recipients);
	tcase_add_test(tc, round_trip_keeps_an_envelope_with_one_recipient);
	tcase_add_test(tc, round_trip_keeps_many_recipients_in_order);
	tcase_add_test(tc, round_trip_keeps_the_most_recipients_allowed);
	tcase_add_loop_test(tc, round_trip_keeps_each_recipient_state, 0,
	    RCPT_STATE_MAX + 1);
	tcase_add_test(tc,
	    round_trip_keeps_the_null_sender_and_absent_client_and_helo);
	tcase_add_test(tc,
	    round_trip_tells_an_absent_last_error_from_an_empty_one);
	tcase_add_test(tc, round_trip_keeps_extreme_integers);
	tcase_add_test(tc, round_trip_keeps_strings_of_exactly_1024_bytes);
	tcase_add_test(tc, round_trip_keeps_utf8_addresses);
	tcase_add_test(tc, round_trip_keeps_the_dsn_fields);
	tcase_add_test(tc, a_version_1_record_reads_with_no_dsn_fields);
	tcase_add_test(tc, a_version_2_record_still_reads);
	tcase_add_test(tc, every_attempt_is_kept_up_to_the_history_bound);
	tcase_add_test(tc,
	    the_history_shrinks_with_the_recipients_and_cuts_long_texts);
	tcase_add_test(tc, the_encoder_refuses_more_history_than_the_bound);
	tcase_add_test(tc, the_8bit_body_flag_round_trips);
	tcase_add_test(tc, the_last_outcome_round_trips_in_its_parts);
	tcase_add_test(tc, a_version_2_record_reads_its_times_as_milliseconds);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_add_test(tc,
	    the_hand_built_reference_record_matches_the_encoder_byte_for_byte);
	tcase_add_test(tc, decode_accepts_scalar_fields_in_any_order);
	tcase_add_test(tc, encode_appends_to_what_the_buffer_already_holds);
	tcase_add_test(tc,
	    encode_into_a_too_small_buffer_fails_and_leaves_it_unchanged);
	tcase_add_loop_test(tc,
	    encode_refuses_an_envelope_that_could_not_be_read_back, 0,
	    E_NDEFECTS);
	tcase_add_test(tc, clearing_an_empty_env_twice_is_harmless);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile input");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc,
	    decode_rejects_a_corrupt_record_and_leaves_env_empty, 0,
	    (int)REC_NBAD);
	tcase_add_loop_test(tc,
	    decode_rejects_every_truncation_of_a_valid_record, 0, (int)reflen);
	tcase_add_loop_test(tc, decode_rejects_a_record_with_any_tag_flipped,
	    0, (int)rec_ntags);
	tcase_add_test(tc, decode_survives_every_single_byte_change);
	suite_add_tcase(s, tc);
	return s;
}
