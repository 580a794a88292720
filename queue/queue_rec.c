/*
 * queue_rec - the stored form of a message's envelope
 *
 * Layout (all integers big-endian):
 *
 *	"AVQE"  u16 version
 *	field*			field = u8 tag, u32 len, len bytes
 *
 * Top-level fields:
 *
 *   tag name      value                                  presence
 *   1   ARRIVAL   8 bytes, int64 (two's complement)      required
 *                 milliseconds since the epoch from v3 on, seconds before
 *   2   SENDER    string, address rules                  required
 *   3   CLIENT    string                                 optional
 *   4   HELO      string                                 optional
 *   5   SIZE      8 bytes, uint64                        required
 *   6   NRCPT     4 bytes, uint32, <= QUEUE_REC_MAX_RCPT required
 *   7   RCPT      a nested field sequence, below         nrcpt times
 *   8   TXFLAGS   4 bytes, uint32, QUEUE_TX_*            optional (v2), not 0
 *                 (QUEUE_TX_8BITBODY from v3 on)
 *   9   RET       4 bytes, uint32, QUEUE_RET_*           optional (v2), not 0
 *   10  ENVID     string, address rules (DSN xtext)      optional (v2)
 *
 * The bytes of a RCPT field are themselves fields, read by the same
 * bounded reader:
 *
 *   1   ADDR       string, address rules                 required
 *   2   STATE      1 byte, <= RCPT_STATE_MAX             required
 *   3   ATTEMPTS   4 bytes, uint32                       required
 *   4   NEXT_TRY   8 bytes, int64                        required
 *   5   LAST_ERROR string                                optional
 *   6   NOTIFY     4 bytes, uint32, QUEUE_NOTIFY_* bits  optional (v2), not 0
 *   7   ORCPT_TYPE 4 bytes, uint32, QUEUE_ORCPT_*        with ORCPT (v2)
 *   8   ORCPT      string, address rules (DSN xtext)     with ORCPT_TYPE (v2)
 *   9   FLAGS      4 bytes, uint32, QUEUE_RCPT_F_*       optional (v3), not 0
 *   10  LAST_TIME  8 bytes, int64, ms                    optional (v3)
 *   11  LAST_STATUS string (an enhanced status code)     optional (v3)
 *   12  LAST_REMOTE string (the host last tried)         optional (v3)
 *   13  ATTEMPT    a nested field sequence, below        up to
 *                  QUEUE_REC_MAX_HISTORY times, oldest first (v4)
 *
 * An ATTEMPT holds an earlier outcome, the last one being LAST_*:
 *
 *   1   TIME       8 bytes, int64, ms                    required
 *   2   STATUS     string                                optional
 *   3   REMOTE     string                                optional
 *   4   TEXT       string                                optional
 *
 * NEXT_TRY is in milliseconds from version 3 on, in seconds before; so is
 * ARRIVAL. LAST_ERROR is the text of the last outcome; before version 3
 * it held the status code and the text in one string.
 *
 * The encoder writes the fields in the order above. The decoder accepts
 * scalar fields in any order, but each at most once, and every RCPT must
 * come after NRCPT (so the recipient array is sized before it is filled).
 * An absent optional string decodes as NULL; a present empty one as "".
 *
 * Unknown tags are rejected, not skipped: there is no "optional" bit. A
 * record with a new field is a new QUEUE_REC_VERSION, and a version this
 * code does not know is rejected too; every older version is read (1 has
 * no DSN fields, 2 no QUEUE_TX_8BITBODY bit and arrival in seconds). That keeps the reader small and
 * means a record is either understood completely or not at all.
 *
 * Strings hold no NUL and at most QUEUE_REC_MAX_STR bytes. Addresses
 * (sender, recipient) also hold no C0 control character and no DEL: they
 * end up in SMTP commands, where RFC 5321 allows none, and a CR LF there
 * would be command injection. The encoder applies the same rules as the
 * decoder, so a record that was stored can always be read back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue_rec.h"

#define QUEUE_REC_MAGIC		"AVQE"
#define QUEUE_REC_MAGIC_LEN	4
#define QUEUE_REC_HDR_LEN	(QUEUE_REC_MAGIC_LEN + 2)
#define QUEUE_REC_FIELD_HDR	5	/* u8 tag, u32 len */
#define QUEUE_REC_MAX_STR	1024	/* any string field but the DSN ones, in bytes */
#define QUEUE_REC_MAX_DSN	2048	/* ENVID, ORCPT (xtext; ORCPT up to 1500) */
#define QUEUE_REC_S_DSN		2	/* is_addr: address rules, the DSN cap */

/* Top-level tags. */
enum queue_rec_tag {
	QUEUE_REC_T_ARRIVAL = 1,
	QUEUE_REC_T_SENDER,
	QUEUE_REC_T_CLIENT,
	QUEUE_REC_T_HELO,
	QUEUE_REC_T_SIZE,
	QUEUE_REC_T_NRCPT,
	QUEUE_REC_T_RCPT,
	QUEUE_REC_T_TXFLAGS,		/* version 2 on */
	QUEUE_REC_T_RET,
	QUEUE_REC_T_ENVID,
};
#define QUEUE_REC_T_REQUIRED	((1u << QUEUE_REC_T_ARRIVAL) | \
				 (1u << QUEUE_REC_T_SENDER) | \
				 (1u << QUEUE_REC_T_SIZE) | \
				 (1u << QUEUE_REC_T_NRCPT))

/* Tags inside a RCPT field. */
enum queue_rec_rtag {
	QUEUE_REC_R_ADDR = 1,
	QUEUE_REC_R_STATE,
	QUEUE_REC_R_ATTEMPTS,
	QUEUE_REC_R_NEXT_TRY,
	QUEUE_REC_R_LAST_ERROR,
	QUEUE_REC_R_NOTIFY,		/* version 2 on */
	QUEUE_REC_R_ORCPT_TYPE,
	QUEUE_REC_R_ORCPT,
	QUEUE_REC_R_FLAGS,		/* version 3 on */
	QUEUE_REC_R_LAST_TIME,
	QUEUE_REC_R_LAST_STATUS,
	QUEUE_REC_R_LAST_REMOTE,
	QUEUE_REC_R_ATTEMPT,		/* version 4 on, repeated */
};

/* Tags inside an ATTEMPT field. */
enum queue_rec_atag {
	QUEUE_REC_A_TIME = 1,
	QUEUE_REC_A_STATUS,
	QUEUE_REC_A_REMOTE,
	QUEUE_REC_A_TEXT,
};
#define QUEUE_REC_R_REQUIRED	((1u << QUEUE_REC_R_ADDR) | \
				 (1u << QUEUE_REC_R_STATE) | \
				 (1u << QUEUE_REC_R_ATTEMPTS) | \
				 (1u << QUEUE_REC_R_NEXT_TRY))

/*
 * The smallest RCPT field that can decode: its own header, an empty ADDR,
 * STATE, ATTEMPTS and NEXT_TRY. Used to refuse an NRCPT the rest of the
 * record could not possibly hold before allocating for it.
 */
#define QUEUE_REC_MIN_RCPT	(QUEUE_REC_FIELD_HDR + \
				 QUEUE_REC_FIELD_HDR + \
				 QUEUE_REC_FIELD_HDR + 1 + \
				 QUEUE_REC_FIELD_HDR + 4 + \
				 QUEUE_REC_FIELD_HDR + 8)

/* A bounded reader over one field sequence; off never exceeds len. */
struct queue_rec_reader {
	const unsigned char	*p;
	size_t			 len;
	size_t			 off;
};

/* queue_rec_str_ok - whether s (n bytes) may be stored as a string field */
static int
queue_rec_str_ok(const unsigned char *s, size_t n, int is_addr)
{
	size_t	 i;

	if (n > (is_addr == QUEUE_REC_S_DSN ? QUEUE_REC_MAX_DSN :
	    QUEUE_REC_MAX_STR))
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0')
			return 0;
		if (is_addr && (s[i] < 0x20 || s[i] == 0x7f))
			return 0;
	}
	return 1;
}

/* queue_rec_cstr_ok - the same for a C string, which may not be NULL */
static int
queue_rec_cstr_ok(const char *s, int is_addr)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	n = strnlen(s, QUEUE_REC_MAX_DSN + 1);
	return queue_rec_str_ok((const unsigned char *)s, n, is_addr);
}

/* queue_rec_attempt_len - bytes of one encoded ATTEMPT field's value */
static size_t
queue_rec_attempt_len(const struct queue_attempt *a)
{
	size_t	 n = QUEUE_REC_FIELD_HDR + 8;

	if (a->status != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(a->status);
	if (a->remote != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(a->remote);
	if (a->text != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(a->text);
	return n;
}

/* queue_rec_attempt_ok - an earlier outcome may be stored as it is */
static int
queue_rec_attempt_ok(const struct queue_attempt *a)
{
	return (a->status == NULL || queue_rec_cstr_ok(a->status, 0)) &&
	    (a->remote == NULL || queue_rec_cstr_ok(a->remote, 0)) &&
	    (a->text == NULL || queue_rec_cstr_ok(a->text, 0));
}

/* queue_rec_rcpt_len - bytes of one encoded RCPT field's value */
static size_t
queue_rec_rcpt_len(const struct queue_rcpt *r)
{
	size_t		 n;
	uint32_t	 i;

	n = QUEUE_REC_FIELD_HDR + strlen(r->addr) +
	    QUEUE_REC_FIELD_HDR + 1 +
	    QUEUE_REC_FIELD_HDR + 4 +
	    QUEUE_REC_FIELD_HDR + 8;
	if (r->last_error != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(r->last_error);
	if (r->notify != 0)
		n += QUEUE_REC_FIELD_HDR + 4;
	if (r->flags != 0)
		n += QUEUE_REC_FIELD_HDR + 4;
	if (r->last_time_ms != 0)
		n += QUEUE_REC_FIELD_HDR + 8;
	if (r->last_status != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(r->last_status);
	if (r->last_remote != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(r->last_remote);
	if (r->orcpt != NULL)
		n += QUEUE_REC_FIELD_HDR + 4 + QUEUE_REC_FIELD_HDR +
		    strlen(r->orcpt);
	for (i = 0; i < r->nhistory; i++)
		n += QUEUE_REC_FIELD_HDR + queue_rec_attempt_len(&r->history[i]);
	return n;
}

/*
 * queue_rec_check_len - validate env as the decoder would and return the
 * encoded length, or 0 if env cannot be stored. The lengths are bounded by
 * the caps (at most QUEUE_REC_MAX_RCPT recipients of a few KB), so the sum
 * cannot overflow a size_t.
 */
static size_t
queue_rec_check_len(const struct queue_env *env)
{
	const struct queue_rcpt	*r;
	size_t			 n;
	uint32_t		 i, j;

	if (!queue_rec_cstr_ok(env->sender, 1))
		return 0;
	if (env->client != NULL && !queue_rec_cstr_ok(env->client, 0))
		return 0;
	if (env->helo != NULL && !queue_rec_cstr_ok(env->helo, 0))
		return 0;
	if (env->nrcpt > QUEUE_REC_MAX_RCPT ||
	    (env->nrcpt > 0 && env->rcpts == NULL))
		return 0;

	n = QUEUE_REC_HDR_LEN +
	    QUEUE_REC_FIELD_HDR + 8 +
	    QUEUE_REC_FIELD_HDR + strlen(env->sender) +
	    QUEUE_REC_FIELD_HDR + 8 +
	    QUEUE_REC_FIELD_HDR + 4;
	if (env->client != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(env->client);
	if (env->helo != NULL)
		n += QUEUE_REC_FIELD_HDR + strlen(env->helo);
	if (env->txflags != 0)
		n += QUEUE_REC_FIELD_HDR + 4;
	if (env->ret != 0)
		n += QUEUE_REC_FIELD_HDR + 4;
	if (env->envid != NULL) {
		if (!queue_rec_cstr_ok(env->envid, QUEUE_REC_S_DSN))
			return 0;
		n += QUEUE_REC_FIELD_HDR + strlen(env->envid);
	}
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		if (!queue_rec_cstr_ok(r->addr, 1) ||
		    r->state > RCPT_STATE_MAX ||
		    (r->last_error != NULL &&
		    !queue_rec_cstr_ok(r->last_error, 0)) ||
		    (r->last_status != NULL &&
		    !queue_rec_cstr_ok(r->last_status, 0)) ||
		    (r->last_remote != NULL &&
		    !queue_rec_cstr_ok(r->last_remote, 0)) ||
		    r->flags > QUEUE_RCPT_F_MAX ||
		    (r->orcpt != NULL &&
		    !queue_rec_cstr_ok(r->orcpt, QUEUE_REC_S_DSN)) ||
		    r->nhistory > QUEUE_REC_MAX_HISTORY ||
		    (r->nhistory > 0 && r->history == NULL))
			return 0;
		for (j = 0; j < r->nhistory; j++)
			if (!queue_rec_attempt_ok(&r->history[j]))
				return 0;
		n += QUEUE_REC_FIELD_HDR + queue_rec_rcpt_len(r);
	}
	return n;
}

/* queue_rec_put - append, after queue_rec_encode() made room */
static void
queue_rec_put(struct buf *out, const void *p, size_t n)
{
	if (buf_add(out, p, n) == -1)
		fatalx("%s: buf full after the size check", __func__);
}

/* queue_rec_put_hdr - append a field header */
static void
queue_rec_put_hdr(struct buf *out, unsigned int tag, size_t len)
{
	unsigned char	 h[QUEUE_REC_FIELD_HDR];

	h[0] = (unsigned char)tag;
	h[1] = (unsigned char)(len >> 24);
	h[2] = (unsigned char)(len >> 16);
	h[3] = (unsigned char)(len >> 8);
	h[4] = (unsigned char)len;
	queue_rec_put(out, h, sizeof(h));
}

/* queue_rec_put_u64 - append a whole 8-byte integer field */
static void
queue_rec_put_u64(struct buf *out, unsigned int tag, uint64_t v)
{
	unsigned char	 b[8];
	int		 i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)v;
		v >>= 8;
	}
	queue_rec_put_hdr(out, tag, sizeof(b));
	queue_rec_put(out, b, sizeof(b));
}

/* queue_rec_put_u32 - append a whole 4-byte integer field */
static void
queue_rec_put_u32(struct buf *out, unsigned int tag, uint32_t v)
{
	unsigned char	 b[4];

	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
	queue_rec_put_hdr(out, tag, sizeof(b));
	queue_rec_put(out, b, sizeof(b));
}

/* queue_rec_put_str - append a whole string field */
static void
queue_rec_put_str(struct buf *out, unsigned int tag, const char *s)
{
	size_t	 n = strlen(s);

	queue_rec_put_hdr(out, tag, n);
	queue_rec_put(out, s, n);
}

/* queue_rec_encode - append env's record to out, all or nothing */
int
queue_rec_encode(const struct queue_env *env, struct buf *out)
{
	const struct queue_rcpt	*r;
	unsigned char		 v[2];
	size_t			 need;
	uint32_t		 i, j;

	if ((need = queue_rec_check_len(env)) == 0)
		return -1;
	/* Check the room once, so a failure leaves out as it was. */
	if (need > buf_cap(out) - buf_len(out))
		return -1;

	queue_rec_put(out, QUEUE_REC_MAGIC, QUEUE_REC_MAGIC_LEN);
	v[0] = (unsigned char)(QUEUE_REC_VERSION >> 8);
	v[1] = (unsigned char)QUEUE_REC_VERSION;
	queue_rec_put(out, v, sizeof(v));

	queue_rec_put_u64(out, QUEUE_REC_T_ARRIVAL, (uint64_t)env->arrival_ms);
	queue_rec_put_str(out, QUEUE_REC_T_SENDER, env->sender);
	if (env->client != NULL)
		queue_rec_put_str(out, QUEUE_REC_T_CLIENT, env->client);
	if (env->helo != NULL)
		queue_rec_put_str(out, QUEUE_REC_T_HELO, env->helo);
	queue_rec_put_u64(out, QUEUE_REC_T_SIZE, env->size);
	if (env->txflags != 0)
		queue_rec_put_u32(out, QUEUE_REC_T_TXFLAGS, env->txflags);
	if (env->ret != 0)
		queue_rec_put_u32(out, QUEUE_REC_T_RET, env->ret);
	if (env->envid != NULL)
		queue_rec_put_str(out, QUEUE_REC_T_ENVID, env->envid);
	queue_rec_put_u32(out, QUEUE_REC_T_NRCPT, env->nrcpt);
	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpts[i];
		queue_rec_put_hdr(out, QUEUE_REC_T_RCPT, queue_rec_rcpt_len(r));
		queue_rec_put_str(out, QUEUE_REC_R_ADDR, r->addr);
		v[0] = r->state;
		queue_rec_put_hdr(out, QUEUE_REC_R_STATE, 1);
		queue_rec_put(out, v, 1);
		queue_rec_put_u32(out, QUEUE_REC_R_ATTEMPTS, r->attempts);
		queue_rec_put_u64(out, QUEUE_REC_R_NEXT_TRY,
		    (uint64_t)r->next_try_ms);
		if (r->last_error != NULL)
			queue_rec_put_str(out, QUEUE_REC_R_LAST_ERROR,
			    r->last_error);
		if (r->notify != 0)
			queue_rec_put_u32(out, QUEUE_REC_R_NOTIFY, r->notify);
		if (r->orcpt != NULL) {
			queue_rec_put_u32(out, QUEUE_REC_R_ORCPT_TYPE,
			    r->orcpt_type);
			queue_rec_put_str(out, QUEUE_REC_R_ORCPT, r->orcpt);
		}
		if (r->flags != 0)
			queue_rec_put_u32(out, QUEUE_REC_R_FLAGS, r->flags);
		if (r->last_time_ms != 0)
			queue_rec_put_u64(out, QUEUE_REC_R_LAST_TIME,
			    (uint64_t)r->last_time_ms);
		if (r->last_status != NULL)
			queue_rec_put_str(out, QUEUE_REC_R_LAST_STATUS,
			    r->last_status);
		if (r->last_remote != NULL)
			queue_rec_put_str(out, QUEUE_REC_R_LAST_REMOTE,
			    r->last_remote);
		for (j = 0; j < r->nhistory; j++) {
			const struct queue_attempt	*a = &r->history[j];

			queue_rec_put_hdr(out, QUEUE_REC_R_ATTEMPT,
			    queue_rec_attempt_len(a));
			queue_rec_put_u64(out, QUEUE_REC_A_TIME,
			    (uint64_t)a->time_ms);
			if (a->status != NULL)
				queue_rec_put_str(out, QUEUE_REC_A_STATUS,
				    a->status);
			if (a->remote != NULL)
				queue_rec_put_str(out, QUEUE_REC_A_REMOTE,
				    a->remote);
			if (a->text != NULL)
				queue_rec_put_str(out, QUEUE_REC_A_TEXT, a->text);
		}
	}
	return 0;
}

/*
 * queue_rec_next - the next field: 1 and its tag and value, 0 at the clean
 * end of the sequence, -1 if the header or the value runs past the end.
 */
static int
queue_rec_next(struct queue_rec_reader *rd, unsigned int *tag,
    const unsigned char **val, size_t *vlen)
{
	const unsigned char	*h;
	uint32_t		 n;

	if (rd->off == rd->len)
		return 0;
	if (rd->len - rd->off < QUEUE_REC_FIELD_HDR)
		return -1;
	h = rd->p + rd->off;
	n = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
	    (uint32_t)h[3] << 8 | (uint32_t)h[4];
	rd->off += QUEUE_REC_FIELD_HDR;
	if (n > rd->len - rd->off)
		return -1;
	*tag = h[0];
	*val = rd->p + rd->off;
	*vlen = n;
	rd->off += n;
	return 1;
}

/* queue_rec_get_u64 - an 8-byte integer value; -1 on any other length */
static int
queue_rec_get_u64(const unsigned char *val, size_t vlen, uint64_t *v)
{
	size_t	 i;

	if (vlen != 8)
		return -1;
	*v = 0;
	for (i = 0; i < 8; i++)
		*v = *v << 8 | val[i];
	return 0;
}

/* queue_rec_get_i64 - the same, read as two's complement without UB */
static int
queue_rec_get_i64(const unsigned char *val, size_t vlen, int64_t *v)
{
	uint64_t	 u;

	if (queue_rec_get_u64(val, vlen, &u) == -1)
		return -1;
	if (u <= INT64_MAX)
		*v = (int64_t)u;
	else
		*v = -(int64_t)(UINT64_MAX - u) - 1;
	return 0;
}

/* queue_rec_get_u32 - a 4-byte integer value; -1 on any other length */
static int
queue_rec_get_u32(const unsigned char *val, size_t vlen, uint32_t *v)
{
	if (vlen != 4)
		return -1;
	*v = (uint32_t)val[0] << 24 | (uint32_t)val[1] << 16 |
	    (uint32_t)val[2] << 8 | (uint32_t)val[3];
	return 0;
}

/* queue_rec_get_str - an owned copy of a string value that passes the rules */
static int
queue_rec_get_str(const unsigned char *val, size_t vlen, int is_addr,
    char **out)
{
	char	*s;

	if (!queue_rec_str_ok(val, vlen, is_addr))
		return -1;
	s = xmalloc(vlen + 1);
	if (vlen > 0)
		memcpy(s, val, vlen);
	s[vlen] = '\0';
	*out = s;
	return 0;
}

/* queue_rec_seen - mark tag as seen; -1 if it was already */
static int
queue_rec_seen(unsigned int *seen, unsigned int tag)
{
	if (*seen & (1u << tag))
		return -1;
	*seen |= 1u << tag;
	return 0;
}

/* queue_rec_decode_attempt - fill a from the value of one ATTEMPT field */
static int
queue_rec_decode_attempt(const unsigned char *p, size_t len,
    struct queue_attempt *a)
{
	struct queue_rec_reader	 rd = { p, len, 0 };
	const unsigned char	*val;
	size_t			 vlen;
	unsigned int		 tag, seen = 0;
	int			 rc;

	while ((rc = queue_rec_next(&rd, &tag, &val, &vlen)) == 1) {
		if (tag < QUEUE_REC_A_TIME || tag > QUEUE_REC_A_TEXT ||
		    queue_rec_seen(&seen, tag) == -1)
			return -1;
		switch (tag) {
		case QUEUE_REC_A_TIME:
			if (queue_rec_get_i64(val, vlen, &a->time_ms) == -1)
				return -1;
			break;
		case QUEUE_REC_A_STATUS:
			if (queue_rec_get_str(val, vlen, 0, &a->status) == -1)
				return -1;
			break;
		case QUEUE_REC_A_REMOTE:
			if (queue_rec_get_str(val, vlen, 0, &a->remote) == -1)
				return -1;
			break;
		case QUEUE_REC_A_TEXT:
			if (queue_rec_get_str(val, vlen, 0, &a->text) == -1)
				return -1;
			break;
		}
	}
	if (rc == -1 || (seen & (1u << QUEUE_REC_A_TIME)) == 0)
		return -1;
	return 0;
}

/* queue_rec_decode_rcpt - fill r from the value of one RCPT field */
static int
queue_rec_decode_rcpt(const unsigned char *p, size_t len,
    struct queue_rcpt *r)
{
	struct queue_rec_reader	 rd = { p, len, 0 };
	const unsigned char	*val;
	size_t			 vlen;
	unsigned int		 tag, seen = 0;
	int			 rc;

	while ((rc = queue_rec_next(&rd, &tag, &val, &vlen)) == 1) {
		if (tag < QUEUE_REC_R_ADDR || tag > QUEUE_REC_R_ATTEMPT ||
		    (tag != QUEUE_REC_R_ATTEMPT &&
		    queue_rec_seen(&seen, tag) == -1))
			return -1;
		switch (tag) {
		case QUEUE_REC_R_ATTEMPT:
			if (r->nhistory >= QUEUE_REC_MAX_HISTORY)
				return -1;
			if (r->history == NULL)
				r->history = xcalloc(QUEUE_REC_MAX_HISTORY,
				    sizeof(*r->history));
			/* Counted first: a half-read one is freed too. */
			if (queue_rec_decode_attempt(val, vlen,
			    &r->history[r->nhistory++]) == -1)
				return -1;
			break;
		case QUEUE_REC_R_ADDR:
			if (queue_rec_get_str(val, vlen, 1, &r->addr) == -1)
				return -1;
			break;
		case QUEUE_REC_R_STATE:
			if (vlen != 1 || val[0] > RCPT_STATE_MAX)
				return -1;
			r->state = val[0];
			break;
		case QUEUE_REC_R_ATTEMPTS:
			if (queue_rec_get_u32(val, vlen, &r->attempts) == -1)
				return -1;
			break;
		case QUEUE_REC_R_NEXT_TRY:
			if (queue_rec_get_i64(val, vlen, &r->next_try_ms) == -1)
				return -1;
			break;
		case QUEUE_REC_R_LAST_ERROR:
			if (queue_rec_get_str(val, vlen, 0,
			    &r->last_error) == -1)
				return -1;
			break;
		case QUEUE_REC_R_NOTIFY:
			if (queue_rec_get_u32(val, vlen, &r->notify) == -1 ||
			    r->notify == 0 || r->notify > QUEUE_NOTIFY_MAX)
				return -1;
			break;
		case QUEUE_REC_R_ORCPT_TYPE:
			if (queue_rec_get_u32(val, vlen, &r->orcpt_type) == -1 ||
			    r->orcpt_type > QUEUE_ORCPT_TYPE_MAX)
				return -1;
			break;
		case QUEUE_REC_R_ORCPT:
			if (queue_rec_get_str(val, vlen, QUEUE_REC_S_DSN,
			    &r->orcpt) == -1)
				return -1;
			break;
		case QUEUE_REC_R_FLAGS:
			if (queue_rec_get_u32(val, vlen, &r->flags) == -1 ||
			    r->flags == 0 || r->flags > QUEUE_RCPT_F_MAX)
				return -1;
			break;
		case QUEUE_REC_R_LAST_TIME:
			if (queue_rec_get_i64(val, vlen, &r->last_time_ms) == -1)
				return -1;
			break;
		case QUEUE_REC_R_LAST_STATUS:
			if (queue_rec_get_str(val, vlen, 0,
			    &r->last_status) == -1)
				return -1;
			break;
		case QUEUE_REC_R_LAST_REMOTE:
			if (queue_rec_get_str(val, vlen, 0,
			    &r->last_remote) == -1)
				return -1;
			break;
		}
	}
	if (rc == -1 || (seen & QUEUE_REC_R_REQUIRED) != QUEUE_REC_R_REQUIRED)
		return -1;
	/* An ORCPT has its type, and a type its ORCPT. */
	if (((seen >> QUEUE_REC_R_ORCPT) & 1) !=
	    ((seen >> QUEUE_REC_R_ORCPT_TYPE) & 1))
		return -1;
	return 0;
}

/*
 * queue_rec_decode_fields - fill env from the field sequence. On -1, env
 * may be partly filled; every pointer in it is owned or NULL, and the
 * recipient array always has env->nrcpt slots, so queue_env_clear() frees
 * it all.
 */
static int
queue_rec_decode_fields(struct queue_rec_reader *rd, struct queue_env *env)
{
	const unsigned char	*val;
	size_t			 vlen;
	uint32_t		 n, nfilled = 0;
	unsigned int		 tag, seen = 0;
	int			 rc;

	while ((rc = queue_rec_next(rd, &tag, &val, &vlen)) == 1) {
		if (tag < QUEUE_REC_T_ARRIVAL || tag > QUEUE_REC_T_ENVID)
			return -1;
		if (tag != QUEUE_REC_T_RCPT &&
		    queue_rec_seen(&seen, tag) == -1)
			return -1;
		switch (tag) {
		case QUEUE_REC_T_ARRIVAL:
			if (queue_rec_get_i64(val, vlen, &env->arrival_ms) == -1)
				return -1;
			break;
		case QUEUE_REC_T_SENDER:
			if (queue_rec_get_str(val, vlen, 1, &env->sender) == -1)
				return -1;
			break;
		case QUEUE_REC_T_CLIENT:
			if (queue_rec_get_str(val, vlen, 0, &env->client) == -1)
				return -1;
			break;
		case QUEUE_REC_T_HELO:
			if (queue_rec_get_str(val, vlen, 0, &env->helo) == -1)
				return -1;
			break;
		case QUEUE_REC_T_SIZE:
			if (queue_rec_get_u64(val, vlen, &env->size) == -1)
				return -1;
			break;
		case QUEUE_REC_T_NRCPT:
			if (queue_rec_get_u32(val, vlen, &n) == -1 ||
			    n > QUEUE_REC_MAX_RCPT)
				return -1;
			/*
			 * Every recipient still has to follow, so a count
			 * the remaining bytes cannot hold is a lie: refuse
			 * it before allocating for it.
			 */
			if (n > (rd->len - rd->off) / QUEUE_REC_MIN_RCPT)
				return -1;
			if (n > 0)
				env->rcpts = xcalloc(n, sizeof(*env->rcpts));
			env->nrcpt = n;
			break;
		case QUEUE_REC_T_TXFLAGS:
			if (queue_rec_get_u32(val, vlen, &env->txflags) == -1 ||
			    env->txflags > QUEUE_TXFLAGS_MAX)
				return -1;
			break;
		case QUEUE_REC_T_RET:
			if (queue_rec_get_u32(val, vlen, &env->ret) == -1 ||
			    env->ret == 0 || env->ret > QUEUE_RET_MAX)
				return -1;
			break;
		case QUEUE_REC_T_ENVID:
			if (queue_rec_get_str(val, vlen, QUEUE_REC_S_DSN,
			    &env->envid) == -1)
				return -1;
			break;
		case QUEUE_REC_T_RCPT:
			if ((seen & (1u << QUEUE_REC_T_NRCPT)) == 0 ||
			    nfilled >= env->nrcpt)
				return -1;
			if (queue_rec_decode_rcpt(val, vlen,
			    &env->rcpts[nfilled++]) == -1)
				return -1;
			break;
		}
	}
	if (rc == -1 || (seen & QUEUE_REC_T_REQUIRED) != QUEUE_REC_T_REQUIRED ||
	    nfilled != env->nrcpt)
		return -1;
	return 0;
}

/* queue_rec_s_to_ms - seconds to milliseconds; -1 when it cannot be */
static int
queue_rec_s_to_ms(int64_t *t)
{
	if (*t > INT64_MAX / 1000 || *t < INT64_MIN / 1000)
		return -1;
	*t *= 1000;
	return 0;
}

/* queue_rec_decode - read a record, treating every byte as hostile */
int
queue_rec_decode(const void *p, size_t len, struct queue_env *env)
{
	struct queue_rec_reader	 rd;
	const unsigned char	*b = p;

	memset(env, 0, sizeof(*env));
	/* Version 1 records (no DSN fields) read as version 2 ones. */
	if (len < QUEUE_REC_HDR_LEN ||
	    memcmp(b, QUEUE_REC_MAGIC, QUEUE_REC_MAGIC_LEN) != 0 ||
	    b[4] != 0 || b[5] < 1 || b[5] > QUEUE_REC_VERSION)
		return -1;
	rd.p = b + QUEUE_REC_HDR_LEN;
	rd.len = len - QUEUE_REC_HDR_LEN;
	rd.off = 0;
	if (queue_rec_decode_fields(&rd, env) == -1) {
		queue_env_clear(env);
		return -1;
	}
	/* Before version 3 times were in seconds. */
	if (b[5] < 3) {
		uint32_t	 i;

		if (queue_rec_s_to_ms(&env->arrival_ms) == -1) {
			queue_env_clear(env);
			return -1;
		}
		for (i = 0; i < env->nrcpt; i++)
			if (queue_rec_s_to_ms(&env->rcpts[i].next_try_ms) ==
			    -1) {
				queue_env_clear(env);
				return -1;
			}
	}
	return 0;
}

/* queue_rec_version - the version in a record's header, 0 if none */
unsigned int
queue_rec_version(const void *p, size_t len)
{
	const unsigned char	*b = p;

	if (len < QUEUE_REC_HDR_LEN ||
	    memcmp(b, QUEUE_REC_MAGIC, QUEUE_REC_MAGIC_LEN) != 0)
		return 0;
	return (unsigned int)b[4] << 8 | b[5];
}

/* queue_env_due - when env is next due (see queue_rec.h) */
int64_t
queue_env_due(const struct queue_env *env)
{
	int64_t		 due = -1;
	uint32_t	 i;

	for (i = 0; i < env->nrcpt; i++) {
		const struct queue_rcpt	*r = &env->rcpts[i];

		int64_t			 t = r->next_try_ms > 0 ?
					    r->next_try_ms : 0;

		if (r->state == RCPT_DELIVERED || r->state == RCPT_BOUNCED)
			continue;
		if (due == -1 || t < due)
			due = t;
	}
	if (due != -1 && (env->txflags & QUEUE_TX_HELD))
		return QUEUE_DUE_HELD;
	return due;
}

static void
queue_attempt_clear(struct queue_attempt *a)
{
	free(a->status);
	free(a->remote);
	free(a->text);
	memset(a, 0, sizeof(*a));
}

static void
queue_rcpt_history_clear(struct queue_rcpt *r)
{
	uint32_t	 i;

	for (i = 0; i < r->nhistory; i++)
		queue_attempt_clear(&r->history[i]);
	free(r->history);
	r->history = NULL;
	r->nhistory = 0;
}

static char *
queue_rec_dup(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* queue_rec_history_keep - earlier outcomes kept per recipient */
uint32_t
queue_rec_history_keep(uint32_t nrcpt)
{
	if (nrcpt <= 100)
		return QUEUE_REC_MAX_HISTORY;
	return 1500 / nrcpt > 0 ? 1500 / nrcpt : 1;
}

/* queue_rcpt_outcome - a new last outcome; the one before to the history */
void
queue_rcpt_outcome(struct queue_rcpt *r, uint32_t keep, int64_t time_ms,
    const char *status, const char *remote, const char *text)
{
	struct queue_attempt	*a;

	if (keep > QUEUE_REC_MAX_HISTORY)
		keep = QUEUE_REC_MAX_HISTORY;
	/* The oldest go first, down to room for one more. */
	while (r->nhistory > 0 && r->nhistory >= keep) {
		queue_attempt_clear(&r->history[0]);
		memmove(&r->history[0], &r->history[1],
		    (r->nhistory - 1) * sizeof(*r->history));
		memset(&r->history[r->nhistory - 1], 0, sizeof(*r->history));
		r->nhistory--;
	}
	if (r->last_time_ms != 0 && keep > 0) {
		if (r->history == NULL)
			r->history = xcalloc(QUEUE_REC_MAX_HISTORY,
			    sizeof(*r->history));
		a = &r->history[r->nhistory++];
		a->time_ms = r->last_time_ms;
		/* The strings move over as they are, the text cut short. */
		a->status = r->last_status;
		a->remote = r->last_remote;
		a->text = r->last_error;
		if (a->text != NULL && strlen(a->text) > QUEUE_REC_HISTORY_TEXT)
			a->text[QUEUE_REC_HISTORY_TEXT] = '\0';
		r->last_status = r->last_remote = r->last_error = NULL;
	} else {
		free(r->last_status);
		free(r->last_remote);
		free(r->last_error);
	}
	r->last_time_ms = time_ms;
	r->last_status = queue_rec_dup(status);
	r->last_remote = remote != NULL && strcmp(remote, "none") == 0 ? NULL :
	    queue_rec_dup(remote);
	r->last_error = text != NULL ? xstrdup(text) : NULL;
}

/* queue_env_clear - free what env owns and zero it */
void
queue_env_clear(struct queue_env *env)
{
	uint32_t	 i;

	if (env->rcpts != NULL) {
		for (i = 0; i < env->nrcpt; i++) {
			queue_rcpt_history_clear(&env->rcpts[i]);
			free(env->rcpts[i].addr);
			free(env->rcpts[i].last_error);
			free(env->rcpts[i].last_status);
			free(env->rcpts[i].last_remote);
			free(env->rcpts[i].orcpt);
		}
		free(env->rcpts);
	}
	free(env->sender);
	free(env->client);
	free(env->helo);
	free(env->envid);
	memset(env, 0, sizeof(*env));
}
