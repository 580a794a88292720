/*
 * check_sched - the queue's scheduler, with made-up times and destinations
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/sched.h"
#include "tests/unit/harness.h"

static const struct sched_conf conf = {
	.retry_min_ms = 1000,
	.retry_max_ms = 60000,
	.dest_initial = 2,
	.dest_max = 5,
};

START_TEST(entries_come_out_in_due_order_and_only_when_due)
{
	struct sched		*s = sched_new(&conf);
	struct sched_entry	*e;
	int			 owners[5] = { 0, 1, 2, 3, 4 };
	int64_t			 due[5] = { 500, 100, 400, 200, 300 };
	int			 i;

	/* One destination each, so concurrency does not get in the way. */
	for (i = 0; i < 5; i++) {
		char	 dest[16];

		snprintf(dest, sizeof(dest), "d%d.example", i);
		sched_add(s, dest, &owners[i], due[i]);
	}
	ck_assert_int_eq(sched_next_due(s), 100);
	ck_assert_ptr_null(sched_next(s, 99));
	for (i = 1; i <= 5; i++) {
		e = sched_next(s, 1000);
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(*(int *)sched_entry_owner(e), i == 1 ? 1 :
		    i == 2 ? 3 : i == 3 ? 4 : i == 4 ? 2 : 0);
		sched_done(s, e, SCHED_REACHED, -1);
	}
	ck_assert_ptr_null(sched_next(s, 1000));
	ck_assert_int_eq(sched_next_due(s), -1);
	sched_free(s);
}
END_TEST

START_TEST(a_destination_starts_slow_grows_with_success_and_drops_on_failure)
{
	struct sched		*s = sched_new(&conf);
	struct sched_entry	*e[20];
	struct sched_stats	 st;
	unsigned int		 inflight, limit;
	int			 i, n;

	for (i = 0; i < 20; i++)
		sched_add(s, "busy.example", NULL, 0);
	/* Two at first. */
	for (n = 0; (e[n] = sched_next(s, 10)) != NULL; n++)
		;
	ck_assert_int_eq(n, 2);
	ck_assert(sched_dest_state(s, "busy.example", &inflight, &limit));
	ck_assert_uint_eq(inflight, 2);
	ck_assert_uint_eq(limit, 2);
	/* Each success lets one more in, up to five. */
	sched_done(s, e[0], SCHED_REACHED, -1);
	sched_done(s, e[1], SCHED_REACHED, -1);
	for (n = 0; (e[n] = sched_next(s, 10)) != NULL; n++)
		;
	ck_assert_int_eq(n, 4);
	for (i = 0; i < n; i++)
		sched_done(s, e[i], SCHED_REACHED, -1);
	for (n = 0; (e[n] = sched_next(s, 10)) != NULL; n++)
		;
	ck_assert_int_eq(n, 5);
	/* One that could not reach it: back to one at a time. */
	sched_done(s, e[0], SCHED_UNREACHED, 5000);
	ck_assert(sched_dest_state(s, "busy.example", &inflight, &limit));
	ck_assert_uint_eq(limit, 1);
	for (i = 1; i < 5; i++)
		sched_done(s, e[i], SCHED_NO_ATTEMPT, 5000);
	for (n = 0; (e[n] = sched_next(s, 10)) != NULL; n++)
		;
	ck_assert_int_eq(n, 1);
	sched_done(s, e[0], SCHED_REACHED, -1);
	sched_stats(s, &st);
	ck_assert_uint_eq(st.entries, 20 - 2 - 4 - 1);
	ck_assert_uint_eq(st.waiting, 5);
	ck_assert_uint_eq(st.inflight, 0);
	sched_free(s);
}
END_TEST

/* One dead destination beside a healthy one: the healthy one keeps going. */
START_TEST(a_dead_destination_holds_one_slot_and_the_others_flow)
{
	struct sched		*s = sched_new(&conf);
	struct sched_entry	*e;
	int			 dead = 0, live = 0, i, round;
	int64_t			 now = 0;

	for (i = 0; i < 50; i++) {
		sched_add(s, "dead.example", &dead, 0);
		sched_add(s, "live.example", &live, 0);
	}
	for (round = 0; round < 200; round++) {
		struct sched_entry	*out[16];
		int			 n = 0, nd = 0;

		while (n < 16 && (e = sched_next(s, now)) != NULL)
			out[n++] = e;
		for (i = 0; i < n; i++) {
			if (sched_entry_owner(out[i]) == &dead) {
				nd++;
				sched_done(s, out[i], SCHED_UNREACHED,
				    now + 10000);
			} else {
				live++;
				sched_done(s, out[i], SCHED_REACHED, -1);
			}
		}
		/* Never more than the slow-start two at the dead one. */
		ck_assert_int_le(nd, 2);
		now += 100;
	}
	ck_assert_int_eq(live, 50);
	sched_free(s);
}
END_TEST

START_TEST(ready_destinations_take_turns)
{
	struct sched		*s = sched_new(&conf);
	struct sched_entry	*e;
	char			 seen[64] = "";
	int			 i;

	for (i = 0; i < 3; i++) {
		sched_add(s, "a", NULL, 0);
		sched_add(s, "b", NULL, 0);
		sched_add(s, "c", NULL, 0);
	}
	for (i = 0; i < 6; i++) {
		e = sched_next(s, 0);
		ck_assert_ptr_nonnull(e);
		seen[i] = sched_entry_dest(e)[0];
		seen[i + 1] = '\0';
		sched_done(s, e, SCHED_REACHED, -1);
	}
	ck_assert_str_eq(seen, "abcabc");
	sched_free(s);
}
END_TEST

START_TEST(reschedule_and_remove_keep_the_heap_in_order)
{
	struct sched		*s = sched_new(&conf);
	struct sched_entry	*e[200], *x;
	int			 owners[200], i;
	int64_t			 last = -1;
	uint64_t		 r = 88172645463325252ULL;

	for (i = 0; i < 200; i++) {
		char	 dest[16];

		owners[i] = i;
		snprintf(dest, sizeof(dest), "d%d", i);
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		e[i] = sched_add(s, dest, &owners[i], (int64_t)(r % 100000));
	}
	for (i = 0; i < 200; i += 3)
		sched_reschedule(s, e[i], 200000 + i);
	for (i = 1; i < 200; i += 7)
		sched_remove(s, e[i]);
	while ((x = sched_next(s, INT64_MAX)) != NULL) {
		int64_t	 due;

		i = *(int *)sched_entry_owner(x);
		ck_assert_int_ne(i % 7, 1);
		due = i % 3 == 0 ? 200000 + i : -2;
		if (due != -2) {
			ck_assert_int_ge(due, last);
			last = due;
		}
		sched_done(s, x, SCHED_REACHED, -1);
	}
	sched_free(s);
}
END_TEST

START_TEST(an_entry_done_with_a_due_time_comes_back_then)
{
	struct sched		*s = sched_new(&conf);
	struct sched_entry	*e;
	int			 o = 7;

	sched_add(s, "x", &o, 0);
	e = sched_next(s, 0);
	ck_assert(sched_entry_inflight(e));
	sched_done(s, e, SCHED_REACHED, 3000);
	ck_assert(!sched_entry_inflight(e));
	ck_assert_ptr_null(sched_next(s, 2999));
	ck_assert_ptr_eq(sched_next(s, 3000), e);
	/* Freed with the scheduler, in flight or not. */
	sched_free(s);
}
END_TEST

START_TEST(backoff_doubles_from_min_to_max_with_a_tenth_of_jitter)
{
	struct sched_conf	 c = conf;
	uint64_t		 r;
	uint32_t		 a;
	int64_t			 want, d;

	/* Without jitter (rnd at the middle) the sequence is exact. */
	for (a = 1; a <= 12; a++) {
		want = 1000LL << (a - 1);
		if (want > 60000)
			want = 60000;
		d = sched_backoff(&c, a, (uint64_t)(want / 10));
		ck_assert_int_eq(d, want);
		for (r = 0; r < 1000; r += 37) {
			d = sched_backoff(&c, a, r * 7919);
			ck_assert_int_ge(d, want - want / 10 < 1000 ? 1000 :
			    want - want / 10);
			ck_assert_int_le(d, want + want / 10 > 60000 ? 60000 :
			    want + want / 10);
		}
	}
	/* A huge attempt count neither overflows nor passes the max. */
	ck_assert_int_le(sched_backoff(&c, UINT32_MAX, 12345), 60000);
	ck_assert_int_ge(sched_backoff(&c, UINT32_MAX, 12345), 54000);
}
END_TEST

Suite *
sched_suite(void)
{
	Suite	*s = suite_create("sched");
	TCase	*tc;

	tc = tcase_create("sched");
	tcase_add_test(tc, entries_come_out_in_due_order_and_only_when_due);
	tcase_add_test(tc,
	    a_destination_starts_slow_grows_with_success_and_drops_on_failure);
	tcase_add_test(tc, a_dead_destination_holds_one_slot_and_the_others_flow);
	tcase_add_test(tc, ready_destinations_take_turns);
	tcase_add_test(tc, reschedule_and_remove_keep_the_heap_in_order);
	tcase_add_test(tc, an_entry_done_with_a_due_time_comes_back_then);
	tcase_add_test(tc, backoff_doubles_from_min_to_max_with_a_tenth_of_jitter);
	suite_add_tcase(s, tc);
	return s;
}
