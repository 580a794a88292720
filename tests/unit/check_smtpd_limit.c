/*
 * check_smtpd_limit - the shared session limits table, without processes
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd/smtpd_limit.h"
#include "tests/unit/harness.h"

static struct sockaddr_storage
lim_addr(const char *s)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static struct smtpd_limit_table *
lim_new(void)
{
	struct smtpd_limit_table	*t = malloc(sizeof(*t));

	ck_assert_ptr_nonnull(t);
	smtpd_limit_init(t);
	return t;
}

#define SA(x)	((struct sockaddr *)&(x))

START_TEST(per_client_cap_counts_every_process)
{
	struct smtpd_limit_table	*t = lim_new();
	struct smtpd_limits		 lim = { 100, 3, 0, 0, 0 };
	struct sockaddr_storage		 a = lim_addr("192.0.2.7");
	struct sockaddr_storage		 b = lim_addr("192.0.2.8");

	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 1, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 2, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1),
	    SMTPD_LIMIT_CLIENT);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(b), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_uint_eq(smtpd_limit_client(t, SA(a)), 3);
	ck_assert_uint_eq(smtpd_limit_total(t), 4);
	smtpd_limit_disconnect(t, 1, SA(a));
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	free(t);
}
END_TEST

START_TEST(total_cap_applies_to_exempt_clients_too)
{
	struct smtpd_limit_table	*t = lim_new();
	struct smtpd_limits		 lim = { 2, 1, 1, 1, 0 };
	struct sockaddr_storage		 a = lim_addr("127.0.0.1");

	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 1, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1),
	    SMTPD_LIMIT_TOTAL);
	free(t);
}
END_TEST

START_TEST(local_sessions_have_a_cap_of_their_own)
{
	struct smtpd_limit_table	*t = lim_new();
	struct smtpd_limits		 lim = { 5, 1, 1, 1, 2 };
	struct sockaddr_un		 u;
	struct sockaddr_storage		 a = lim_addr("192.0.2.9");
	struct sockaddr_storage		 b = lim_addr("192.0.2.10");

	memset(&u, 0, sizeof(u));
	u.sun_family = AF_UNIX;
	/* Exempt from the per-client caps, held to max_local in all. */
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(u), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 1, SA(u), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(u), &lim, 1),
	    SMTPD_LIMIT_LOCAL);
	ck_assert_uint_eq(smtpd_limit_local(t), 2);
	ck_assert_uint_eq(smtpd_limit_total(t), 2);
	/* The network still gets in: the rest of max_total is its. */
	lim.exempt = 0;
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 1, SA(b), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_uint_eq(smtpd_limit_total(t), 4);
	/* A local session that ends frees a local place, in any column. */
	smtpd_limit_disconnect(t, 1, SA(u));
	ck_assert_uint_eq(smtpd_limit_local(t), 1);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(u), &lim, 1), SMTPD_LIMIT_OK);
	/* max_total still binds local sessions too. */
	lim.max_local = 10;
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(u), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(u), &lim, 1),
	    SMTPD_LIMIT_TOTAL);
	ck_assert_uint_eq(smtpd_limit_local(t), 3);
	free(t);
}
END_TEST

START_TEST(ipv6_clients_are_counted_by_their_64)
{
	struct smtpd_limit_table	*t = lim_new();
	struct smtpd_limits		 lim = { 100, 2, 0, 0, 0 };
	struct sockaddr_storage		 a = lim_addr("2001:db8:1:2::1");
	struct sockaddr_storage		 b = lim_addr("2001:db8:1:2:ffff::9");
	struct sockaddr_storage		 c = lim_addr("2001:db8:1:3::1");

	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(b), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(b), &lim, 1),
	    SMTPD_LIMIT_CLIENT);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(c), &lim, 1), SMTPD_LIMIT_OK);
	free(t);
}
END_TEST

START_TEST(the_rate_window_is_a_minute_and_refusals_count)
{
	struct smtpd_limit_table	*t = lim_new();
	struct smtpd_limits		 lim = { 100, 0, 3, 0, 0 };
	struct sockaddr_storage		 a = lim_addr("198.51.100.1");
	int				 i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 100),
		    SMTPD_LIMIT_OK);
		smtpd_limit_disconnect(t, 0, SA(a));
	}
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 130),
	    SMTPD_LIMIT_RATE);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 159),
	    SMTPD_LIMIT_RATE);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 160),
	    SMTPD_LIMIT_OK);
	ck_assert_uint_eq(smtpd_limit_total(t), 1);
	free(t);
}
END_TEST

START_TEST(a_crowd_of_addresses_cannot_grow_the_table)
{
	struct smtpd_limit_table	*t = lim_new();
	struct smtpd_limits		 lim = { 1000000, 5, 0, 0, 0 };
	struct sockaddr_storage		 a;
	char				 s[32];
	int				 i;

	/* Ten times the slots, each connecting and leaving. */
	for (i = 0; i < 10 * SMTPD_LIMIT_SLOTS; i++) {
		snprintf(s, sizeof(s), "10.%d.%d.%d", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		a = lim_addr(s);
		ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, i),
		    SMTPD_LIMIT_OK);
		smtpd_limit_disconnect(t, 0, SA(a));
	}
	ck_assert_uint_eq(smtpd_limit_total(t), 0);
	free(t);
}
END_TEST

START_TEST(a_restarted_process_clears_only_its_own_column)
{
	struct smtpd_limit_table	*t, *t2;
	struct smtpd_limits		 lim = { 100, 10, 0, 0, 0 };
	struct sockaddr_storage		 a = lim_addr("192.0.2.1");
	int				 fd;

	ck_assert_int_ge(fd = smtpd_limit_create(&t), 0);
	ck_assert_int_eq(smtpd_limit_connect(t, 0, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 1, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	ck_assert_int_eq(smtpd_limit_connect(t, 1, SA(a), &lim, 1), SMTPD_LIMIT_OK);
	/* Instance 1 dies; its successor maps the same table. */
	ck_assert_ptr_nonnull(t2 = smtpd_limit_attach(fd, 1));
	ck_assert_uint_eq(smtpd_limit_total(t), 1);
	ck_assert_uint_eq(smtpd_limit_client(t2, SA(a)), 1);
	ck_assert_ptr_null(smtpd_limit_attach(fd, SMTPD_LIMIT_PROCS));
	munmap(t2, sizeof(*t2));
	munmap(t, sizeof(*t));
	close(fd);
}
END_TEST

START_TEST(a_pregreet_pass_is_remembered_until_it_expires)
{
	struct smtpd_limit_table	*t = lim_new();
	struct sockaddr_storage		 a = lim_addr("203.0.113.5");

	ck_assert_int_eq(smtpd_limit_pregreet_ok(t, SA(a), 10), 0);
	smtpd_limit_pregreet_pass(t, SA(a), 10, 100);
	ck_assert_int_eq(smtpd_limit_pregreet_ok(t, SA(a), 99), 1);
	ck_assert_int_eq(smtpd_limit_pregreet_ok(t, SA(a), 100), 0);
	free(t);
}
END_TEST

Suite *
smtpd_limit_suite(void)
{
	Suite	*s = suite_create("smtpd_limit");
	TCase	*tc = tcase_create("limits");

	tcase_add_test(tc, per_client_cap_counts_every_process);
	tcase_add_test(tc, total_cap_applies_to_exempt_clients_too);
	tcase_add_test(tc, local_sessions_have_a_cap_of_their_own);
	tcase_add_test(tc, ipv6_clients_are_counted_by_their_64);
	tcase_add_test(tc, the_rate_window_is_a_minute_and_refusals_count);
	tcase_add_test(tc, a_crowd_of_addresses_cannot_grow_the_table);
	tcase_add_test(tc, a_restarted_process_clears_only_its_own_column);
	tcase_add_test(tc, a_pregreet_pass_is_remembered_until_it_expires);
	suite_add_tcase(s, tc);
	return s;
}
