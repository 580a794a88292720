/*
 * check_buf - the bounded buffer
 */
#include <string.h>

#include "common/buf.h"
#include "tests/unit/harness.h"

START_TEST(buf_add_stops_at_cap)
{
	struct buf	*b = buf_new(4, 8);

	ck_assert_int_eq(buf_add(b, "12345678", 8), 0);
	ck_assert_int_eq(buf_add(b, "9", 1), -1);
	ck_assert_uint_eq(buf_len(b), 8);
	ck_assert_str_eq(buf_data(b), "12345678");
	buf_free(b);
}
END_TEST

START_TEST(buf_grows_from_a_small_start_to_its_cap)
{
	struct buf	*b = buf_new(1, 100000);
	char		 chunk[1000];
	int		 i;

	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(buf_add(b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(buf_len(b), 100000);
	ck_assert_int_eq(buf_add(b, "y", 1), -1);
	buf_free(b);
}
END_TEST

START_TEST(buf_printf_refuses_what_would_pass_the_cap)
{
	struct buf	*b = buf_new(4, 10);

	ck_assert_int_eq(buf_printf(b, "%d-%s", 42, "abc"), 0);
	ck_assert_str_eq(buf_data(b), "42-abc");
	ck_assert_int_eq(buf_printf(b, "%s", "12345"), -1);
	ck_assert_str_eq(buf_data(b), "42-abc");
	buf_free(b);
}
END_TEST

START_TEST(buf_drain_keeps_the_rest_terminated)
{
	struct buf	*b = buf_new(16, 16);

	buf_addstr(b, "hello world");
	buf_drain(b, 6);
	ck_assert_str_eq(buf_data(b), "world");
	buf_drain(b, 100);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_str_eq(buf_data(b), "");
	buf_reset(b);
	ck_assert_int_eq(buf_addstr(b, "0123456789abcdef"), 0);
	buf_free(b);
	buf_free(NULL);
}
END_TEST

START_TEST(buf_add_of_a_huge_length_fails_without_overflow)
{
	struct buf	*b = buf_new(4, 8);

	buf_add(b, "ab", 2);
	ck_assert_int_eq(buf_add(b, "x", (size_t)-1), -1);
	ck_assert_uint_eq(buf_len(b), 2);
	buf_free(b);
}
END_TEST

START_TEST(a_secret_buf_grows_drains_and_resets_like_any_other)
{
	struct buf	*b = buf_new_secret(4, 64);
	int		 i;

	for (i = 0; i < 10; i++)
		ck_assert_int_eq(buf_add(b, "key-", 4), 0);
	ck_assert_uint_eq(buf_len(b), 40);
	ck_assert_int_eq(buf_add(b, "x", 25), -1);	/* the cap holds */
	buf_drain(b, 36);
	ck_assert_str_eq(buf_data(b), "key-");
	buf_reset(b);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_str_eq(buf_data(b), "");
	ck_assert_int_eq(buf_printf(b, "%s:%d", "a", 1), 0);
	ck_assert_str_eq(buf_data(b), "a:1");
	buf_free(b);
}
END_TEST

Suite *
buf_suite(void)
{
	Suite	*s = suite_create("buf");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, buf_add_stops_at_cap);
	tcase_add_test(tc, buf_grows_from_a_small_start_to_its_cap);
	tcase_add_test(tc, buf_printf_refuses_what_would_pass_the_cap);
	tcase_add_test(tc, buf_drain_keeps_the_rest_terminated);
	tcase_add_test(tc, buf_add_of_a_huge_length_fails_without_overflow);
	tcase_add_test(tc, a_secret_buf_grows_drains_and_resets_like_any_other);
	suite_add_tcase(s, tc);
	return s;
}
