/*
 * check_ipc - framing, typed reading, and links over real socketpairs
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

static size_t
ipc_test_frame(uint8_t *out, uint32_t type, uint32_t flags,
    const void *payload, uint32_t len)
{
	struct ipc_hdr	 h = { type, len, 0, flags };

	memcpy(out, &h, sizeof(h));
	memcpy(out + IPC_HDR_LEN, payload, len);
	return IPC_HDR_LEN + len;
}

START_TEST(ipc_frame_parse_waits_for_a_whole_frame)
{
	uint8_t		 f[64];
	struct ipc_hdr	 h;
	size_t		 n, i;

	n = ipc_test_frame(f, IPC_HELLO, 0, "abcdefgh", 8);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(ipc_frame_parse(f, i, &h), 0);
	ck_assert_int_eq(ipc_frame_parse(f, n, &h), 1);
	ck_assert_uint_eq(h.len, 8);
	ck_assert_uint_eq(h.type, IPC_HELLO);
}
END_TEST

START_TEST(ipc_frame_parse_refuses_oversized_and_unknown_flags)
{
	uint8_t		 f[IPC_HDR_LEN];
	struct ipc_hdr	 h = { IPC_HELLO, IPC_MAX_PAYLOAD + 1, 0, 0 };

	memcpy(f, &h, sizeof(h));
	ck_assert_int_eq(ipc_frame_parse(f, sizeof(f), &h), -1);
	h.len = 0;
	h.flags = 0x80;
	memcpy(f, &h, sizeof(h));
	ck_assert_int_eq(ipc_frame_parse(f, sizeof(f), &h), -1);
	h.flags = 0;
	h.len = IPC_MAX_PAYLOAD;
	memcpy(f, &h, sizeof(h));
	ck_assert_int_eq(ipc_frame_parse(f, sizeof(f), &h), 0);
}
END_TEST

/* Payloads that a reader must refuse. */
static const struct {
	const char	*name;
	uint8_t		 bytes[16];
	size_t		 len;
} ipc_bad_str[] = {
	{ "length past the end", { 9, 0, 0, 0, 'a', 'b', 0 }, 7 },
	{ "no NUL at the end", { 2, 0, 0, 0, 'a', 'b', 'c' }, 7 },
	{ "NUL inside", { 3, 0, 0, 0, 'a', 0, 'c', 0 }, 8 },
	{ "short length", { 2, 0 }, 2 },
	{ "empty", { 0 }, 0 },
};

START_TEST(ipc_get_str_refuses_malformed_strings)
{
	struct ipc_hdr	 h = { IPC_HELLO, 0, 0, 0 };
	struct ipc_msgin r;
	const char	*s;

	h.len = ipc_bad_str[_i].len;
	ipc_msgin_init(&r, &h, ipc_bad_str[_i].bytes, -1);
	ck_assert_msg(ipc_get_str(&r, &s) == -1, "%s", ipc_bad_str[_i].name);
	ck_assert_int_eq(ipc_end(&r), -1);
}
END_TEST

START_TEST(ipc_end_refuses_trailing_bytes)
{
	uint8_t		 p[8] = { 7, 0, 0, 0, 1 };
	struct ipc_hdr	 h = { IPC_HELLO, 5, 0, 0 };
	struct ipc_msgin r;
	uint32_t	 v;

	ipc_msgin_init(&r, &h, p, -1);
	ck_assert_int_eq(ipc_get_u32(&r, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(ipc_end(&r), -1);
	/* Once failed, every later get fails too. */
	ck_assert_int_eq(ipc_get_u32(&r, &v), -1);
}
END_TEST

START_TEST(ipc_get_refuses_truncated_fields)
{
	uint8_t		 p[8] = { 0 };
	struct ipc_hdr	 h = { IPC_HELLO, 7, 0, 0 };
	struct ipc_msgin r;
	uint64_t	 v;
	const void	*d;
	size_t		 n;

	ipc_msgin_init(&r, &h, p, -1);
	ck_assert_int_eq(ipc_get_u64(&r, &v), -1);
	p[0] = 200;
	h.len = 8;
	ipc_msgin_init(&r, &h, p, -1);
	ck_assert_int_eq(ipc_get_data(&r, &d, &n), -1);
}
END_TEST

/* A receiving side that records what it got. */
struct ipc_rx {
	struct event_base	*base;
	int			 frames;
	int			 closed;
	uint32_t		 last_u32;
	uint64_t		 last_u64;
	char			 str[64];
	char			 data[64];
	size_t			 datalen;
	int			 fd;
	int			 expect;
};

static void
ipc_rx_dispatch(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	struct ipc_rx	*rx = arg;
	const char	*s;
	const void	*d;

	(void)p;
	if (r->type == IPC_MASTER_CONF_ITEM) {
		ck_assert_int_eq(ipc_get_u32(r, &rx->last_u32), 0);
		ck_assert_int_eq(ipc_get_u64(r, &rx->last_u64), 0);
		ck_assert_int_eq(ipc_get_str(r, &s), 0);
		strlcpy(rx->str, s, sizeof(rx->str));
		ck_assert_int_eq(ipc_get_data(r, &d, &rx->datalen), 0);
		memcpy(rx->data, d, rx->datalen);
		ck_assert_int_eq(ipc_end(r), 0);
		rx->fd = r->fd;
		r->fd = -1;
	} else {
		ck_assert_int_eq(ipc_get_u32(r, &rx->last_u32), 0);
		ck_assert_uint_eq(rx->last_u32, (uint32_t)rx->frames);
	}
	if (++rx->frames == rx->expect)
		event_base_loopexit(rx->base, NULL);
}

static void
ipc_rx_closed(struct ipc_peer *p, void *arg)
{
	struct ipc_rx	*rx = arg;

	(void)p;
	rx->closed = 1;
	event_base_loopexit(rx->base, NULL);
}

static void
ipc_ignore(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	(void)p;
	(void)r;
	(void)arg;
}

START_TEST(ipc_link_carries_typed_fields_and_an_fd)
{
	struct event_base	*base = event_base_new();
	struct timeval		 tv = { 5, 0 };
	struct ipc_rx		 rx;
	struct ipc_peer		*a, *b;
	struct ipc_msg		*m;
	int			 sp[2], pp[2];
	char			 got[8] = { 0 };

	memset(&rx, 0, sizeof(rx));
	rx.base = base;
	rx.fd = -1;
	rx.expect = 1;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	ck_assert_int_eq(pipe(pp), 0);
	a = ipc_peer_new(base, sp[0], "a", ipc_ignore, NULL, NULL);
	b = ipc_peer_new(base, sp[1], "b", ipc_rx_dispatch, ipc_rx_closed,
	    &rx);
	m = ipc_new(IPC_MASTER_CONF_ITEM);
	ipc_put_u32(m, 0xdeadbeef);
	ipc_put_u64(m, 0x0123456789abcdefULL);
	ipc_put_str(m, "hello");
	ipc_put_data(m, "\0\1\2", 3);
	ipc_set_fd(m, pp[1]);
	ipc_send(a, m);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);

	ck_assert_int_eq(rx.frames, 1);
	ck_assert_uint_eq(rx.last_u32, 0xdeadbeef);
	ck_assert(rx.last_u64 == 0x0123456789abcdefULL);
	ck_assert_str_eq(rx.str, "hello");
	ck_assert_uint_eq(rx.datalen, 3);
	ck_assert_int_eq(memcmp(rx.data, "\0\1\2", 3), 0);
	ck_assert_int_ne(rx.fd, -1);
	ck_assert_int_eq(write(rx.fd, "fd!", 3), 3);
	ck_assert_int_eq(read(pp[0], got, 3), 3);
	ck_assert_str_eq(got, "fd!");
	close(rx.fd);
	close(pp[0]);
	ipc_peer_close(a);
	ipc_peer_close(b);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}
END_TEST

START_TEST(ipc_link_delivers_a_burst_in_order)
{
	struct event_base	*base = event_base_new();
	struct timeval		 tv = { 10, 0 };
	struct ipc_rx		 rx;
	struct ipc_peer		*a, *b;
	struct ipc_msg		*m;
	int			 sp[2], i;

	memset(&rx, 0, sizeof(rx));
	rx.base = base;
	rx.expect = 5000;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	a = ipc_peer_new(base, sp[0], "a", ipc_ignore, NULL, NULL);
	b = ipc_peer_new(base, sp[1], "b", ipc_rx_dispatch, ipc_rx_closed,
	    &rx);
	for (i = 0; i < rx.expect; i++) {
		m = ipc_new(IPC_SMTPD_MSG_DATA);
		ipc_put_u32(m, (uint32_t)i);
		ipc_send(a, m);
	}
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(rx.frames, rx.expect);
	ck_assert_int_eq(rx.closed, 0);
	ipc_peer_close(a);
	ipc_peer_close(b);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}
END_TEST

/* Raw bytes a hostile peer might send; each must close the link. */
static void
ipc_raw_closes(const uint8_t *bytes, size_t len, const char *logged)
{
	struct event_base	*base = event_base_new();
	struct timeval		 tv = { 5, 0 };
	struct ipc_rx		 rx;
	int			 sp[2];

	memset(&rx, 0, sizeof(rx));
	rx.base = base;
	rx.expect = 1000;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	harness_log_start();
	ipc_peer_new(base, sp[1], "victim", ipc_rx_dispatch, ipc_rx_closed,
	    &rx);
	ck_assert_int_eq(write(sp[0], bytes, len), (ssize_t)len);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(rx.closed, 1);
	ck_assert_int_eq(rx.frames, 0);
	ck_assert_msg(harness_log_has(logged), "no log line with \"%s\"",
	    logged);
	harness_log_stop();
	close(sp[0]);
	event_base_free(base);
}

START_TEST(ipc_link_closes_on_a_wrong_version)
{
	uint8_t		 f[64];
	uint32_t	 v = IPC_VERSION + 1;
	size_t		 n;

	n = ipc_test_frame(f, IPC_HELLO, 0, &v, sizeof(v));
	ipc_raw_closes(f, n, "speaks version");
}
END_TEST

START_TEST(ipc_link_closes_when_hello_is_missing)
{
	uint8_t		 f[64];
	uint32_t	 v = 0;
	size_t		 n;

	n = ipc_test_frame(f, IPC_SMTPD_MSG_DATA, 0, &v, sizeof(v));
	ipc_raw_closes(f, n, "did not start with a hello");
}
END_TEST

START_TEST(ipc_link_closes_on_an_oversized_frame)
{
	uint8_t		 f[128];
	uint32_t	 v = IPC_VERSION;
	struct ipc_hdr	 h = { IPC_SMTPD_MSG_DATA, IPC_MAX_PAYLOAD + 1, 0, 0 };
	size_t		 n;

	n = ipc_test_frame(f, IPC_HELLO, 0, &v, sizeof(v));
	memcpy(f + n, &h, sizeof(h));
	ipc_raw_closes(f, n + sizeof(h), "malformed frame header");
}
END_TEST

START_TEST(ipc_link_closes_on_a_frame_missing_its_fd)
{
	uint8_t		 f[128];
	uint32_t	 v = IPC_VERSION;
	size_t		 n;

	n = ipc_test_frame(f, IPC_HELLO, 0, &v, sizeof(v));
	n += ipc_test_frame(f + n, IPC_MASTER_QUEUE_LINK, IPC_F_FD, "", 0);
	ipc_raw_closes(f, n, "lacks its fd");
}
END_TEST

Suite *
ipc_suite(void)
{
	Suite	*s = suite_create("ipc");
	TCase	*tc = tcase_create("framing");
	TCase	*tl = tcase_create("links");

	tcase_add_test(tc, ipc_frame_parse_waits_for_a_whole_frame);
	tcase_add_test(tc, ipc_frame_parse_refuses_oversized_and_unknown_flags);
	tcase_add_loop_test(tc, ipc_get_str_refuses_malformed_strings, 0,
	    sizeof(ipc_bad_str) / sizeof(ipc_bad_str[0]));
	tcase_add_test(tc, ipc_end_refuses_trailing_bytes);
	tcase_add_test(tc, ipc_get_refuses_truncated_fields);
	suite_add_tcase(s, tc);
	tcase_add_test(tl, ipc_link_carries_typed_fields_and_an_fd);
	tcase_add_test(tl, ipc_link_delivers_a_burst_in_order);
	tcase_add_test(tl, ipc_link_closes_on_a_wrong_version);
	tcase_add_test(tl, ipc_link_closes_when_hello_is_missing);
	tcase_add_test(tl, ipc_link_closes_on_an_oversized_frame);
	tcase_add_test(tl, ipc_link_closes_on_a_frame_missing_its_fd);
	suite_add_tcase(s, tl);
	return s;
}
