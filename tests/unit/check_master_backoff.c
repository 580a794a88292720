/*
 * check_master_backoff - the restart policy: at once after a long life,
 * a doubling wait while a worker keeps dying soon after its start
 */
#include <check.h>
#include <stddef.h>

#include "master/master_backoff.h"
#include "tests/unit/harness.h"

#define STABLE	MASTER_BACKOFF_STABLE_MS

/* A worker's lives in order (ms), and the wait the master must choose. */
static const struct {
	const char	*what;
	long long	 lived[12];
	long		 want[12];
	size_t		 n;
} backoff_cases[] = {
	{ "a first death after a long life restarts at once",
	    { STABLE }, { 0 }, 1 },
	{ "every death after a long life restarts at once",
	    { 60000, STABLE, 7000, STABLE + 1, 3600000 },
	    { 0, 0, 0, 0, 0 }, 5 },
	{ "early deaths double the wait from the minimum",
	    { 0, 10, 100, 200, 400 }, { 100, 200, 400, 800, 1600 }, 5 },
	{ "the doubling stops at the cap",
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	    { 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000 },
	    10 },
	{ "a long life after early deaths restarts at once and starts over",
	    { 1, 1, 1, STABLE, 1, 1 }, { 100, 200, 400, 0, 100, 200 }, 6 },
	{ "just under the threshold is early",
	    { STABLE - 1, STABLE - 1, STABLE }, { 100, 200, 0 }, 3 },
	{ "a negative life (a clock step) is early",
	    { -5, -5 }, { 100, 200 }, 2 },
	{ "from the cap a long life restarts at once and starts over",
	    { 0, 0, 0, 0, 0, 0, 0, 0, STABLE, 0 },
	    { 100, 200, 400, 800, 1600, 3200, 6400, 10000, 0, 100 }, 10 },
};

START_TEST(backoff_follows_the_policy)
{
	struct master_backoff	 b = { 0 };
	size_t			 i;

	for (i = 0; i < backoff_cases[_i].n; i++)
		ck_assert_msg(master_backoff_next(&b,
		    backoff_cases[_i].lived[i]) == backoff_cases[_i].want[i],
		    "%s: death %zu (lived %lld ms) wants %ld ms",
		    backoff_cases[_i].what, i + 1, backoff_cases[_i].lived[i],
		    backoff_cases[_i].want[i]);
}
END_TEST

START_TEST(backoff_never_waits_beyond_the_cap)
{
	struct master_backoff	 b = { 0 };
	long			 w, last = 0;
	int			 i;

	for (i = 0; i < 1000; i++) {
		w = master_backoff_next(&b, 0);
		ck_assert_int_ge(w, last);
		ck_assert_int_ge(w, MASTER_BACKOFF_MIN_MS);
		ck_assert_int_le(w, MASTER_BACKOFF_MAX_MS);
		last = w;
	}
	ck_assert_int_eq(last, MASTER_BACKOFF_MAX_MS);
}
END_TEST

START_TEST(backoff_mends_a_wait_out_of_range)
{
	struct master_backoff	 b = { 123456789 };

	ck_assert_int_eq(master_backoff_next(&b, 0), MASTER_BACKOFF_MIN_MS);
	b.next_ms = -1;
	ck_assert_int_eq(master_backoff_next(&b, 0), MASTER_BACKOFF_MIN_MS);
}
END_TEST

Suite *
master_backoff_suite(void)
{
	Suite	*s = suite_create("master_backoff");
	TCase	*tc = tcase_create("policy");

	tcase_add_loop_test(tc, backoff_follows_the_policy, 0,
	    sizeof(backoff_cases) / sizeof(backoff_cases[0]));
	tcase_add_test(tc, backoff_never_waits_beyond_the_cap);
	tcase_add_test(tc, backoff_mends_a_wait_out_of_range);
	suite_add_tcase(s, tc);
	return s;
}
