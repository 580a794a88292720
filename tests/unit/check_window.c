/*
 * check_window - the queue's in-memory window by queue ID
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "common/qid.h"
#include "queue/window.h"
#include "tests/unit/harness.h"

#define MANY	20000

static void
qid_of(unsigned int i, char out[QID_SIZE])
{
	snprintf(out, QID_SIZE, "%014X", i * 7919u);
}

START_TEST(add_find_and_remove_many_as_it_grows)
{
	struct window	*w = window_new(MANY);
	char		 q[QID_SIZE];
	unsigned int	 i;

	for (i = 0; i < MANY; i++) {
		qid_of(i, q);
		ck_assert_int_eq(window_add(w, q, (void *)(uintptr_t)(i + 1)), 0);
	}
	ck_assert_uint_eq(window_count(w), MANY);
	ck_assert_uint_eq(window_room(w), 0);
	for (i = 0; i < MANY; i++) {
		qid_of(i, q);
		ck_assert_ptr_eq(window_find(w, q), (void *)(uintptr_t)(i + 1));
	}
	ck_assert_ptr_null(window_find(w, "FFFFFFFFFFFFFF"));
	for (i = 0; i < MANY; i += 2) {
		qid_of(i, q);
		ck_assert_ptr_eq(window_del(w, q), (void *)(uintptr_t)(i + 1));
	}
	ck_assert_uint_eq(window_count(w), MANY / 2);
	ck_assert_uint_eq(window_room(w), MANY / 2);
	for (i = 0; i < MANY; i++) {
		qid_of(i, q);
		if (i % 2 == 0)
			ck_assert_ptr_null(window_find(w, q));
		else
			ck_assert_ptr_nonnull(window_find(w, q));
	}
	ck_assert_ptr_null(window_del(w, "FFFFFFFFFFFFFF"));
	window_free(w);
}
END_TEST

START_TEST(a_queue_id_is_there_once_and_the_limit_is_the_room)
{
	struct window	*w = window_new(2);
	int		 a, b;

	ck_assert_int_eq(window_add(w, "00000000000001", &a), 0);
	ck_assert_int_eq(window_add(w, "00000000000001", &b), -1);
	ck_assert_ptr_eq(window_find(w, "00000000000001"), &a);
	ck_assert_uint_eq(window_room(w), 1);
	ck_assert_int_eq(window_add(w, "00000000000002", &b), 0);
	ck_assert_uint_eq(window_room(w), 0);
	/* Over the limit is allowed (the queue decides), room stays 0. */
	ck_assert_int_eq(window_add(w, "00000000000003", &b), 0);
	ck_assert_uint_eq(window_room(w), 0);
	window_set_limit(w, 10);
	ck_assert_uint_eq(window_room(w), 7);
	window_free(w);
	window_free(NULL);
}
END_TEST

Suite *
window_suite(void)
{
	Suite	*s = suite_create("window");
	TCase	*tc = tcase_create("window");

	tcase_add_test(tc, add_find_and_remove_many_as_it_grows);
	tcase_add_test(tc, a_queue_id_is_there_once_and_the_limit_is_the_room);
	suite_add_tcase(s, tc);
	return s;
}
