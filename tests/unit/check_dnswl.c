/*
 * check_dnswl - the federation whitelist lookup's names, TXT readers and
 * loop behaviour
 *
 * The "name" case checks dnswl_name() on a table of addresses and zones
 * and at the 253-character limit; "txt" the TXT rdata reader and the
 * member id parser on good and hostile input. "loop" runs dnswl in an
 * event loop against a resolver that never answers (a UDP socket of the
 * test's own), for what needs no DNS server: a full table answers TEMP
 * from the loop, cancel and free never call back, and what cannot be
 * asked is refused at once. The answers themselves (listed, not listed,
 * SERVFAIL, timeout, DNSSEC) are tests/integ/test_dnswl.py's, against
 * the real DNS server of tests/dns/dnsserver.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/dnswl.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

/* --- names ------------------------------------------------------------- */

struct name_case {
	int		 family;
	const char	*addr;
	const char	*zone;
	int		 rc;
	const char	*want;
};

#define V6_DB8_1 \
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"

static const struct name_case name_cases[] = {
	{ AF_INET, "192.0.2.1", "wl.example", 0, "1.2.0.192.wl.example" },
	{ AF_INET, "127.0.0.2", "wl.example", 0, "2.0.0.127.wl.example" },
	{ AF_INET, "10.0.0.255", "WL.Fed.Example.", 0,
	    "255.0.0.10.wl.fed.example" },
	{ AF_INET6, "2001:db8::1", "wl.example", 0, V6_DB8_1 ".wl.example" },
	{ AF_INET6, "2001:DB8:A:BC::FE", "wl.example", 0,
	    "e.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.0.a.0.0.0.8.b.d.0.1.0.0.2"
	    ".wl.example" },
	/* IPv4-mapped: the IPv4 name, as a dual-stack listener needs. */
	{ AF_INET6, "::ffff:192.0.2.1", "wl.example", 0,
	    "1.2.0.192.wl.example" },
	{ AF_INET6, "::ffff:7f00:2", "wl.example", 0, "2.0.0.127.wl.example" },
	/* Not mapped: IPv4-compatible and plain loopback stay IPv6. */
	{ AF_INET6, "::1", "wl.example", 0,
	    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
	    ".wl.example" },
	/* Zones that are not names. */
	{ AF_INET, "192.0.2.1", "", -1, NULL },
	{ AF_INET, "192.0.2.1", ".", -1, NULL },
	{ AF_INET, "192.0.2.1", "wl..example", -1, NULL },
	{ AF_INET, "192.0.2.1", "wl example", -1, NULL },
	{ AF_INET, "192.0.2.1", "wl.example\n", -1, NULL },
	{ AF_INET6, "2001:db8::1", "wl.ex\"ample", -1, NULL },
};

static void
name_sockaddr(int family, const char *addr, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(25);
		ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(25);
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr),
		    1);
	}
}

START_TEST(names_reverse_octets_and_nibbles_under_the_zone)
{
	const struct name_case	*c = &name_cases[_i];
	struct sockaddr_storage	 ss;
	char			 out[DNSWL_NAMELEN];

	name_sockaddr(c->family, c->addr, &ss);
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&ss, c->zone, out,
	    sizeof(out)), c->rc);
	if (c->rc == 0)
		ck_assert_str_eq(out, c->want);
}
END_TEST

/* A zone of n characters: labels of 63 'a's and the rest, dot-separated. */
static void
name_zone(char *z, size_t n)
{
	size_t	 i, lab = 0;

	for (i = 0; i < n; i++) {
		if (lab == 63 && i + 1 < n) {
			z[i] = '.';
			lab = 0;
		} else {
			z[i] = 'a';
			lab++;
		}
	}
	z[n] = '\0';
}

START_TEST(a_name_over_253_characters_or_the_buffer_is_refused)
{
	struct sockaddr_storage	 v4, v6;
	struct sockaddr_un	 sun;
	char			 z[300], out[DNSWL_NAMELEN], small[21];

	name_sockaddr(AF_INET, "192.0.2.1", &v4);
	name_sockaddr(AF_INET6, "2001:db8::1", &v6);
	/* "1.2.0.192." is 10 characters: a zone of 243 makes 253. */
	name_zone(z, 243);
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v4, z, out,
	    sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 253);
	name_zone(z, 244);
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v4, z, out,
	    sizeof(out)), -1);
	/* 64 characters of nibbles and dots: a zone of 189 makes 253. */
	name_zone(z, 189);
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v6, z, out,
	    sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), 253);
	name_zone(z, 190);
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v6, z, out,
	    sizeof(out)), -1);
	/* A zone that is over 253 by itself. */
	name_zone(z, 260);
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v4, z, out,
	    sizeof(out)), -1);
	/* "1.2.0.192.wl.example" is 20: 21 octets fit it, 20 do not. */
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v4, "wl.example",
	    small, sizeof(small)), 0);
	ck_assert_str_eq(small, "1.2.0.192.wl.example");
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&v4, "wl.example",
	    small, sizeof(small) - 1), -1);
	ck_assert_str_eq(small, "");
	/* Not an IP address. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_int_eq(dnswl_name((struct sockaddr *)&sun, "wl.example",
	    out, sizeof(out)), -1);
	ck_assert_int_eq(dnswl_name(NULL, "wl.example", out, sizeof(out)),
	    -1);
}
END_TEST

/* --- TXT --------------------------------------------------------------- */

struct txt_case {
	const char	*rdata;
	size_t		 len;
	int		 rc;
	const char	*want;
};

#define TXT(s, rc, want)	{ s, sizeof(s) - 1, rc, want }

static const struct txt_case txt_cases[] = {
	TXT("\x1bmember uni-a (University A)", 0,
	    "member uni-a (University A)"),
	TXT("\x0atest entry", 0, "test entry"),
	/* The strings of one record are joined. */
	TXT("\x07member \x0duni-a (Uni A)", 0, "member uni-a (Uni A)"),
	TXT("\x00", 0, ""),
	TXT("\x00\x00\x02ok", 0, "ok"),
	/* Quotes, backslashes, controls, NUL and 8-bit become '?'. */
	TXT("\x1dmember uni-b (University \"B\")", 0,
	    "member uni-b (University ?B?)"),
	TXT("\x08" "a\\b\x01\x7f\xff\x00z", 0, "a?b????z"),
	TXT("\x09line\r\nend", 0, "line??end"),
	/* Not a sequence of strings. */
	TXT("", -1, NULL),
	TXT("\x05" "abc", -1, NULL),
	TXT("\x03" "abc\x02x", -1, NULL),
};

START_TEST(txt_rdata_becomes_bounded_printable_text)
{
	const struct txt_case	*c = &txt_cases[_i];
	char			 out[DNSWL_TEXTLEN];

	ck_assert_int_eq(dnswl_txt((const unsigned char *)c->rdata, c->len,
	    out, sizeof(out)), c->rc);
	if (c->rc == 0)
		ck_assert_str_eq(out, c->want);
}
END_TEST

START_TEST(txt_text_is_cut_at_the_buffer)
{
	unsigned char	 rd[1 + 255 + 1 + 255];
	char		 out[DNSWL_TEXTLEN], small[6];

	/* Two full strings: 510 octets, kept to DNSWL_TEXTLEN - 1. */
	rd[0] = 255;
	memset(rd + 1, 'x', 255);
	rd[256] = 255;
	memset(rd + 257, 'y', 255);
	ck_assert_int_eq(dnswl_txt(rd, sizeof(rd), out, sizeof(out)), 0);
	ck_assert_uint_eq(strlen(out), DNSWL_TEXTLEN - 1);
	ck_assert_int_eq(out[254], 'x');
	ck_assert_int_eq(dnswl_txt((const unsigned char *)"\x08" "abcdefgh",
	    9, small, sizeof(small)), 0);
	ck_assert_str_eq(small, "abcde");
	ck_assert_int_eq(dnswl_txt(rd, sizeof(rd), out, 0), -1);
}
END_TEST

struct member_case {
	const char	*text;
	int		 rc;
	const char	*id;
};

static const struct member_case member_cases[] = {
	{ "member uni-a (University A)", 0, "uni-a" },
	{ "member uni-b (University ?B?)", 0, "uni-b" },
	{ "member x (y)", 0, "x" },
	{ "member 0a9 (Org (with) parens)", 0, "0a9" },
	{ "member abcdefghijklmnopqrstuvwxyz012345 (32)", 0,
	    "abcdefghijklmnopqrstuvwxyz012345" },
	{ "member abcdefghijklmnopqrstuvwxyz0123456 (33)", -1, "" },
	{ "test entry", -1, "" },
	{ "", -1, "" },
	{ "member ", -1, "" },
	{ "member uni-a", -1, "" },
	{ "member uni-a ", -1, "" },
	{ "member uni-a ()", -1, "" },
	{ "member uni-a (x", -1, "" },
	{ "member uni-a  (x)", -1, "" },
	{ "member  uni-a (x)", -1, "" },
	{ "member Uni-A (x)", -1, "" },
	{ "member -a (x)", -1, "" },
	{ "member a- (x)", -1, "" },
	{ "member uni_a (x)", -1, "" },
	{ "member uni?a (x)", -1, "" },
	{ "members uni-a (x)", -1, "" },
	{ "Member uni-a (x)", -1, "" },
	{ " member uni-a (x)", -1, "" },
};

START_TEST(the_member_id_is_read_from_aval_cas_form_only)
{
	const struct member_case *c = &member_cases[_i];
	char			 id[DNSWL_MEMBERLEN];

	memset(id, 'Z', sizeof(id));
	ck_assert_int_eq(dnswl_txt_member(c->text, id, sizeof(id)), c->rc);
	ck_assert_str_eq(id, c->id);
}
END_TEST

START_TEST(a_member_id_that_does_not_fit_the_buffer_is_refused)
{
	char	 id[4];

	ck_assert_int_eq(dnswl_txt_member("member abc (x)", id, sizeof(id)),
	    0);
	ck_assert_str_eq(id, "abc");
	ck_assert_int_eq(dnswl_txt_member("member abcd (x)", id, sizeof(id)),
	    -1);
	ck_assert_str_eq(id, "");
}
END_TEST

/* --- the loop, with a resolver that never answers ---------------------- */

struct wl_t {
	struct event_base	*base;
	struct dnswl		*wl;
	int			 sock;		/* the silent resolver */
};

struct wl_got {
	int			 calls;
	struct dnswl_result	 r;
};

static void
wl_t_open(struct wl_t *t, long timeout_s)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	char			 r[64], err[256];

	memset(t, 0, sizeof(*t));
	ck_assert_int_ge(t->sock = socket(AF_INET, SOCK_DGRAM, 0), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(t->sock, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	ck_assert_int_eq(getsockname(t->sock, (struct sockaddr *)&sin, &len),
	    0);
	snprintf(r, sizeof(r), "127.0.0.1@%d", ntohs(sin.sin_port));
	ck_assert_ptr_nonnull(t->base = event_base_new());
	t->wl = dnswl_new(t->base, r, "", timeout_s, err, sizeof(err));
	ck_assert_msg(t->wl != NULL, "dnswl_new: %s", err);
}

static void
wl_t_close(struct wl_t *t)
{
	dnswl_free(t->wl);
	event_base_free(t->base);
	close(t->sock);
}

static double
wl_now(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* Run the loop for secs, or until g has been called back. */
static void
wl_t_run(struct wl_t *t, struct wl_got *g, double secs)
{
	double	 end = wl_now() + secs;

	while (wl_now() < end && (g == NULL || g->calls == 0)) {
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void
wl_got_cb(const struct dnswl_result *r, void *arg)
{
	struct wl_got	*g = arg;

	g->calls++;
	g->r = *r;
}

START_TEST(a_full_table_answers_temp_from_the_loop_and_asks_nothing)
{
	struct wl_t		 t;
	struct wl_got		 a, b;
	struct sockaddr_storage	 ss;
	struct dnswl_query	*qa, *qb;

	wl_t_open(&t, 30);
	ck_assert_uint_eq(dnswl_max(t.wl), DNSWL_MAX_PENDING);
	dnswl_set_max(t.wl, 1);
	ck_assert_uint_eq(dnswl_max(t.wl), 1);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	name_sockaddr(AF_INET, "192.0.2.1", &ss);
	ck_assert_ptr_nonnull(qa = dnswl_lookup(t.wl, (struct sockaddr *)&ss,
	    "wl.example", wl_got_cb, &a));
	ck_assert_uint_eq(dnswl_pending(t.wl), 1);
	name_sockaddr(AF_INET6, "2001:db8::1", &ss);
	ck_assert_ptr_nonnull(qb = dnswl_lookup(t.wl, (struct sockaddr *)&ss,
	    "wl.example", wl_got_cb, &b));
	/* Not from inside the call, and not counted as in flight. */
	ck_assert_int_eq(b.calls, 0);
	ck_assert_uint_eq(dnswl_pending(t.wl), 1);
	wl_t_run(&t, &b, 2);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.r.status, DNSWL_TEMP);
	ck_assert_uint_eq(b.r.flags, DNSWL_F_FULL);
	ck_assert_int_eq(b.r.secure, 0);
	ck_assert_str_eq(b.r.qname, V6_DB8_1 ".wl.example");
	ck_assert_msg(strstr(b.r.reason, "1 whitelist lookups in flight") !=
	    NULL, "reason: %s", b.r.reason);
	ck_assert_str_eq(b.r.member, "");
	/* The first is still waiting for its (silent) resolver. */
	ck_assert_int_eq(a.calls, 0);
	ck_assert_uint_eq(dnswl_pending(t.wl), 1);
	dnswl_cancel(qa);
	ck_assert_uint_eq(dnswl_pending(t.wl), 0);
	/* With room again, the next one is asked. */
	name_sockaddr(AF_INET, "192.0.2.2", &ss);
	memset(&b, 0, sizeof(b));
	ck_assert_ptr_nonnull(qb = dnswl_lookup(t.wl, (struct sockaddr *)&ss,
	    "wl.example", wl_got_cb, &b));
	ck_assert_uint_eq(dnswl_pending(t.wl), 1);
	wl_t_run(&t, NULL, 0.2);
	ck_assert_int_eq(b.calls, 0);
	wl_t_close(&t);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(b.calls, 0);
}
END_TEST

START_TEST(cancel_and_free_never_call_back)
{
	struct wl_t		 t;
	struct wl_got		 g[3];
	struct sockaddr_storage	 ss;
	struct dnswl_query	*q;
	int			 i;

	wl_t_open(&t, 30);
	memset(g, 0, sizeof(g));
	name_sockaddr(AF_INET, "192.0.2.1", &ss);
	q = dnswl_lookup(t.wl, (struct sockaddr *)&ss, "wl.example",
	    wl_got_cb, &g[0]);
	ck_assert_ptr_nonnull(q);
	dnswl_cancel(q);
	dnswl_cancel(NULL);
	ck_assert_uint_eq(dnswl_pending(t.wl), 0);
	wl_t_run(&t, NULL, 0.3);
	ck_assert_int_eq(g[0].calls, 0);
	/* One asked, one refused for a full table: free forgets both. */
	dnswl_set_max(t.wl, 1);
	ck_assert_ptr_nonnull(dnswl_lookup(t.wl, (struct sockaddr *)&ss,
	    "wl.example", wl_got_cb, &g[1]));
	ck_assert_ptr_nonnull(dnswl_lookup(t.wl, (struct sockaddr *)&ss,
	    "wl.example", wl_got_cb, &g[2]));
	wl_t_close(&t);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(g[i].calls, 0);
}
END_TEST

START_TEST(what_cannot_be_asked_is_refused_at_once)
{
	struct wl_t		 t;
	struct wl_got		 g;
	struct sockaddr_storage	 ss;
	struct sockaddr_un	 sun;

	wl_t_open(&t, 30);
	memset(&g, 0, sizeof(g));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_ptr_null(dnswl_lookup(t.wl, (struct sockaddr *)&sun,
	    "wl.example", wl_got_cb, &g));
	name_sockaddr(AF_INET, "192.0.2.1", &ss);
	ck_assert_ptr_null(dnswl_lookup(t.wl, (struct sockaddr *)&ss,
	    "not a zone", wl_got_cb, &g));
	ck_assert_uint_eq(dnswl_pending(t.wl), 0);
	wl_t_run(&t, NULL, 0.1);
	ck_assert_int_eq(g.calls, 0);
	wl_t_close(&t);
}
END_TEST

START_TEST(bad_settings_are_refused_at_creation)
{
	struct event_base	*base;
	char			 err[256];

	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_null(dnswl_new(base, "127.0.0.1@53", "", 0, err,
	    sizeof(err)));
	ck_assert_msg(strstr(err, "timeout 0 s") != NULL, "err: %s", err);
	ck_assert_ptr_null(dnswl_new(base, "127.0.0.1@53", "",
	    DNSWL_TIMEOUT_MAX + 1, err, sizeof(err)));
	ck_assert_ptr_null(dnswl_new(base, "dns.example.org", "", 5, err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "ADDR@PORT"));
	ck_assert_ptr_null(dnswl_new(base, "127.0.0.1@0", NULL, 5, err,
	    sizeof(err)));
	ck_assert_ptr_null(dnswl_new(base, "::1@53", "/nonexistent/anchors",
	    5, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/anchors"));
	event_base_free(base);
}
END_TEST

Suite *
dnswl_suite(void)
{
	Suite	*s = suite_create("dnswl");
	TCase	*tc;

	tc = tcase_create("name");
	tcase_add_loop_test(tc, names_reverse_octets_and_nibbles_under_the_zone,
	    0, sizeof(name_cases) / sizeof(name_cases[0]));
	tcase_add_test(tc, a_name_over_253_characters_or_the_buffer_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("txt");
	tcase_add_loop_test(tc, txt_rdata_becomes_bounded_printable_text, 0,
	    sizeof(txt_cases) / sizeof(txt_cases[0]));
	tcase_add_test(tc, txt_text_is_cut_at_the_buffer);
	tcase_add_loop_test(tc, the_member_id_is_read_from_aval_cas_form_only,
	    0, sizeof(member_cases) / sizeof(member_cases[0]));
	tcase_add_test(tc, a_member_id_that_does_not_fit_the_buffer_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("loop");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc,
	    a_full_table_answers_temp_from_the_loop_and_asks_nothing);
	tcase_add_test(tc, cancel_and_free_never_call_back);
	tcase_add_test(tc, what_cannot_be_asked_is_refused_at_once);
	tcase_add_test(tc, bad_settings_are_refused_at_creation);
	suite_add_tcase(s, tc);
	return s;
}
