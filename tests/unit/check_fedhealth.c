/*
 * check_fedhealth - the federation health store: counts and shares over a
 * window of buckets, the member cap, hostile events, the bundle's list,
 * and the two reports (the JSON goes through python3's parser)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/buf.h"
#include "master/master_fedhealth.h"
#include "tests/unit/harness.h"

#define T0	((time_t)1714564800)	/* 2024-05-01T12:00:00Z, on the hour */
#define HOUR	((time_t)3600)
#define DAY	(24 * HOUR)

static void
fh_event(struct fedhealth *h, const char *member, enum fedhealth_dir dir,
    time_t when, int tls, int verified, const char *version, int resumed,
    const char *failure)
{
	struct fedhealth_event	 ev = {
		.member = member, .dir = dir, .when = when, .tls = tls,
		.verified = verified, .version = version, .resumed = resumed,
		.failure = failure,
	};

	fedhealth_record(h, &ev);
}

/* A verified TLSv1.3 session that worked. */
static void
fh_ok(struct fedhealth *h, const char *member, enum fedhealth_dir dir,
    time_t when)
{
	fh_event(h, member, dir, when, 1, 1, "TLSv1.3", 0, NULL);
}

static uint64_t
fh_sessions(struct fedhealth *h, const char *member, enum fedhealth_dir dir,
    time_t now)
{
	struct fedhealth_sum	 s;

	ck_assert_int_eq(fedhealth_sum(h, member, dir, now, &s), 1);
	return s.sessions;
}

static struct fedhealth_counts
fh_counts(struct fedhealth *h)
{
	struct fedhealth_counts	 c;

	fedhealth_counts(h, &c);
	return c;
}

static char *
fh_text(struct fedhealth *h, time_t now)
{
	struct buf	*b = buf_new(256, 1 << 20);

	ck_assert_int_eq(fedhealth_report_text(h, now, b), 0);
	return buf_release(b);
}

static char *
fh_json(struct fedhealth *h, time_t now)
{
	struct buf	*b = buf_new(256, 1 << 20);

	ck_assert_int_eq(fedhealth_report_json(h, now, b), 0);
	return buf_release(b);
}

/*
 * fh_python - run a python3 program with text on its stdin; its exit
 * status (0 when the program's asserts held)
 */
static int
fh_python(const char *prog, const char *text)
{
	char	 cmd[4096];
	FILE	*p;
	int	 st;

	ck_assert_int_lt(snprintf(cmd, sizeof(cmd), "python3 -c '%s'", prog),
	    (int)sizeof(cmd));
	ck_assert_ptr_nonnull(p = popen(cmd, "w"));
	fputs(text, p);
	st = pclose(p);
	ck_assert_msg(st != -1 && WIFEXITED(st), "python3 did not run");
	return WEXITSTATUS(st);
}

/* --- counting ------------------------------------------------------------ */

START_TEST(fedhealth_counts_sessions_versions_failures_and_shares)
{
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	struct fedhealth_sum	 s;

	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 10, 1, 1, "TLSv1.3", 1, NULL);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 20, 1, 1, "TLSv1.3", 1, "");
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 30, 1, 1, "TLSv1.3", 0, NULL);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 40, 1, 0, "TLSv1.2", 0,
	    "name-mismatch");
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 50, 0, 0, "", 0, "connect");
	fh_event(h, "uni-a", FEDHEALTH_IN, T0 + 60, 0, 0, "", 0, "downgrade");

	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_OUT, T0 + 100,
	    &s), 1);
	ck_assert_uint_eq(s.sessions, 5);
	ck_assert_uint_eq(s.verified, 3);
	ck_assert_uint_eq(s.tls, 4);
	ck_assert_uint_eq(s.resumed, 2);
	ck_assert_uint_eq(s.failed, 2);
	ck_assert_uint_eq(s.version[FEDHEALTH_V_TLS13], 3);
	ck_assert_uint_eq(s.version[FEDHEALTH_V_TLS12], 1);
	ck_assert_uint_eq(s.version[FEDHEALTH_V_NONE], 1);
	ck_assert_uint_eq(s.version[FEDHEALTH_V_OTHER], 0);
	ck_assert_uint_eq(s.failure[FEDHEALTH_R_NAME_MISMATCH], 1);
	ck_assert_uint_eq(s.failure[FEDHEALTH_R_CONNECT], 1);
	ck_assert_uint_eq(s.failure[FEDHEALTH_R_OTHER], 0);
	ck_assert_int_eq(s.last_ok, T0 + 30);
	ck_assert_int_eq(s.last_fail, T0 + 50);
	ck_assert_int_eq(s.last_reason, FEDHEALTH_R_CONNECT);

	/* The other direction is its own. */
	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_IN, T0 + 100,
	    &s), 1);
	ck_assert_uint_eq(s.sessions, 1);
	ck_assert_uint_eq(s.failure[FEDHEALTH_R_DOWNGRADE], 1);
	ck_assert_int_eq(s.last_ok, 0);

	ck_assert_uint_eq(fh_counts(h).rejected_events, 0);
	ck_assert_uint_eq(fh_counts(h).rejected_fields, 0);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_shares_round_down_and_resumed_is_of_tls_sessions)
{
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	char			*j, *t;
	int			 i;

	/* 2 of 3 verified (0.666), 1 of 2 TLS resumed (0.500). */
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0, 1, 1, "TLSv1.3", 1, NULL);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0, 1, 1, "TLSv1.3", 0, NULL);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0, 0, 0, "", 0, "no-starttls");
	/* 999 of 1000: not 100%. */
	for (i = 0; i < 1000; i++)
		fh_event(h, "uni-b", FEDHEALTH_IN, T0, 1, i != 0, "TLSv1.2", 0,
		    NULL);
	j = fh_json(h, T0 + 1);
	ck_assert_int_eq(fh_python("import json,sys\n"
	    "d = json.load(sys.stdin)\n"
	    "a, b = d[\"members\"]\n"
	    "assert a[\"out\"][\"verified_share\"] == 0.666, a\n"
	    "assert a[\"out\"][\"resumed_share\"] == 0.5, a\n"
	    "assert a[\"in\"][\"verified_share\"] is None, a\n"
	    "assert b[\"in\"][\"verified_share\"] == 0.999, b\n", j), 0);
	t = fh_text(h, T0 + 1);
	ck_assert_ptr_nonnull(strstr(t, "uni-b  in      1000      99%"));
	ck_assert_ptr_nonnull(strstr(t,
	    "uni-a  out        3      66%     50%"));
	free(j);
	free(t);
	fedhealth_free(h);
}
END_TEST

/* --- the window ---------------------------------------------------------- */

START_TEST(fedhealth_sessions_fall_out_of_the_window_bucket_by_bucket)
{
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	time_t			 i;

	/* One session in each of 24 hours, at half past. */
	for (i = 0; i < 24; i++)
		fh_ok(h, "uni-a", FEDHEALTH_OUT, T0 + i * HOUR + HOUR / 2);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + DAY - 1), 24);
	/* At T0 + 24 h the first hour's bucket is a whole window old. */
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT, T0 + DAY),
	    23);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + DAY + 5 * HOUR), 18);
	/* The last, at T0 + 23 h 30, goes with its bucket at T0 + 47 h. */
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + DAY + 23 * HOUR - 1), 1);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + DAY + 23 * HOUR), 0);
	/* Nothing counted is older than the window. */
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + DAY + HOUR / 2 + 1), 23);
	/* A report of the past leaves out the buckets after its own. */
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + 3 * HOUR - 1), 3);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_a_bucket_is_emptied_when_its_place_comes_round)
{
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	struct fedhealth_sum	 s;

	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0 + 10);
	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0 + 20);
	/* The same place in the ring, a day later. */
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + DAY + 10, 1, 0, "TLSv1.2", 0,
	    "expired");
	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_OUT, T0 + DAY + 60,
	    &s), 1);
	ck_assert_uint_eq(s.sessions, 1);
	ck_assert_uint_eq(s.verified, 0);
	ck_assert_uint_eq(s.failure[FEDHEALTH_R_EXPIRED], 1);
	ck_assert_uint_eq(s.version[FEDHEALTH_V_TLS13], 0);
	/* The last success stays, however old. */
	ck_assert_int_eq(s.last_ok, T0 + 20);
	ck_assert_int_eq(s.last_fail, T0 + DAY + 10);

	/* A session from the old day arriving now is late, and dropped. */
	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0 + 30);
	ck_assert_uint_eq(fh_counts(h).late, 1);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + DAY + 60), 1);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_memory_does_not_grow_with_traffic)
{
	struct fedhealth	*h = fedhealth_new(DAY, 4);
	time_t			 t;

	/* A week of a session a minute: the last day's are what counts. */
	for (t = T0; t < T0 + 7 * DAY; t += 60)
		fh_ok(h, "uni-a", FEDHEALTH_OUT, t);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT,
	    T0 + 7 * DAY - 1), 24 * 60);
	ck_assert_uint_eq(fh_counts(h).members, 1);
	ck_assert_uint_eq(fh_counts(h).late, 0);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_a_short_window_has_second_buckets)
{
	struct fedhealth	*h = fedhealth_new(10, 4);
	char			*j;

	fh_ok(h, "uni-a", FEDHEALTH_IN, T0);
	fh_ok(h, "uni-a", FEDHEALTH_IN, T0 + 9);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_IN, T0 + 9), 2);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_IN, T0 + 10), 1);
	j = fh_json(h, T0 + 10);
	ck_assert_ptr_nonnull(strstr(j, "\"window_s\": 10, \"bucket_s\": 1,"));
	free(j);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_a_window_not_divisible_never_counts_beyond_it)
{
	struct fedhealth	*h = fedhealth_new(100, 4);

	/* 24 buckets of 4 s: 96 s, never more than the 100 asked for. */
	fh_ok(h, "uni-a", FEDHEALTH_IN, T0);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_IN, T0 + 95), 1);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_IN, T0 + 96), 0);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_a_session_from_the_future_waits_for_its_time)
{
	struct fedhealth	*h = fedhealth_new(DAY, 4);

	fh_ok(h, "uni-a", FEDHEALTH_IN, T0 + 2 * HOUR);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_IN, T0), 0);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_IN,
	    T0 + 2 * HOUR), 1);
	fedhealth_free(h);
}
END_TEST

/* --- the member cap ---------------------------------------------------- */

START_TEST(fedhealth_members_beyond_the_cap_are_dropped_and_counted)
{
	struct fedhealth	*h = fedhealth_new(DAY, 3);
	struct fedhealth_sum	 s;
	char			*t, *j;

	fh_ok(h, "uni-c", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-b", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-d", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-e", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-d", FEDHEALTH_IN, T0);
	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0);
	ck_assert_uint_eq(fh_counts(h).members, 3);
	ck_assert_uint_eq(fh_counts(h).no_room, 3);
	ck_assert_int_eq(fedhealth_sum(h, "uni-d", FEDHEALTH_OUT, T0, &s), 0);
	ck_assert_uint_eq(fh_sessions(h, "uni-a", FEDHEALTH_OUT, T0), 2);
	t = fh_text(h, T0);
	ck_assert_ptr_nonnull(strstr(t, "-- no room: 0 bundle members without "
	    "a row (at most 3); 3 events dropped\n"));
	j = fh_json(h, T0);
	ck_assert_ptr_nonnull(strstr(j, "\"no_room\": 3,"));
	free(t);
	free(j);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_a_bundle_larger_than_the_cap_keeps_the_first_ids)
{
	static const char *const ids[] = {
		"uni-e", "uni-b", "uni-d", "uni-a", "uni-c",
	};
	struct fedhealth	*h = fedhealth_new(DAY, 3);
	struct fedhealth_sum	 s;
	char			*t;

	ck_assert_uint_eq(fedhealth_members_set(h, ids, 5), 2);
	ck_assert_uint_eq(fh_counts(h).members, 3);
	ck_assert_uint_eq(fh_counts(h).members_no_room, 2);
	ck_assert_int_eq(fedhealth_sum(h, "uni-c", FEDHEALTH_IN, T0, &s), 1);
	ck_assert_int_eq(fedhealth_sum(h, "uni-d", FEDHEALTH_IN, T0, &s), 0);
	/* A member with no row: no room; an id not in the bundle: no member. */
	fh_ok(h, "uni-d", FEDHEALTH_IN, T0);
	fh_ok(h, "uni-e", FEDHEALTH_IN, T0);
	fh_ok(h, "uni-z", FEDHEALTH_IN, T0);
	ck_assert_uint_eq(fh_counts(h).no_room, 2);
	ck_assert_uint_eq(fh_counts(h).not_member, 1);
	t = fh_text(h, T0);
	ck_assert_ptr_nonnull(strstr(t, "-- no room: 2 bundle members without "
	    "a row (at most 3); 2 events dropped\n"));
	ck_assert_ptr_nonnull(strstr(t, "-- not members: 1 event dropped for "
	    "ids not in the bundle\n"));
	free(t);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_a_cap_of_zero_keeps_nothing)
{
	static const char *const ids[] = { "uni-a" };
	struct fedhealth	*h = fedhealth_new(DAY, 0);

	fh_ok(h, "uni-a", FEDHEALTH_IN, T0);
	ck_assert_uint_eq(fh_counts(h).no_room, 1);
	ck_assert_uint_eq(fedhealth_members_set(h, ids, 1), 1);
	fh_ok(h, "uni-a", FEDHEALTH_IN, T0);
	ck_assert_uint_eq(fh_counts(h).no_room, 2);
	ck_assert_uint_eq(fh_counts(h).members, 0);
	fedhealth_free(h);
}
END_TEST

/* --- hostile events ------------------------------------------------------ */

#define ID33	"abcdefghijklmnopqrstuvwxyz0123456"

/*
 * Each event is recorded into an empty store with a row for every valid
 * id; what must come of it.
 */
static const struct {
	const char	*what;
	struct fedhealth_event ev;
	int		 rejected_events;
	int		 rejected_fields;
	int		 version;	/* where the session is counted */
	int		 reason;	/* -1: a success */
	int		 verified, resumed, tls;
} hostile_cases[] = {
	{ "a NULL member", { NULL, FEDHEALTH_IN, T0, 1, 1, "TLSv1.3", 0,
	    NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "an empty member", { "", FEDHEALTH_IN, T0, 1, 1, "TLSv1.3", 0,
	    NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "an uppercase member", { "Uni-a", FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member with a leading hyphen", { "-uni", FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member with a trailing hyphen", { "uni-", FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member of 33 characters", { ID33, FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member with a newline", { "uni-a\nuni-b", FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member with a quote", { "uni\"a", FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member with an underscore", { "uni_a", FEDHEALTH_IN, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member with a high byte", { "uni-\xc3\xa1", FEDHEALTH_IN, T0, 1,
	    1, "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a direction out of range", { "uni-a", (enum fedhealth_dir)2, T0, 1,
	    1, "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a negative direction", { "uni-a", (enum fedhealth_dir)-1, T0, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a time of 0", { "uni-a", FEDHEALTH_IN, 0, 1, 1, "TLSv1.3", 0,
	    NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a time before 1970", { "uni-a", FEDHEALTH_IN, -86400, 1, 1,
	    "TLSv1.3", 0, NULL }, 1, 0, 0, 0, 0, 0, 0 },
	{ "a member of 32 characters is fine", { ID33 + 1, FEDHEALTH_IN, T0, 1,
	    1, "TLSv1.3", 0, NULL }, 0, 0, FEDHEALTH_V_TLS13, -1, 1, 0, 1 },
	{ "an unknown reason is other", { "uni-a", FEDHEALTH_OUT, T0, 1, 0,
	    "TLSv1.2", 0, "exploded" }, 0, 1, FEDHEALTH_V_TLS12,
	    FEDHEALTH_R_OTHER, 0, 0, 1 },
	{ "a reason with a newline is other", { "uni-a", FEDHEALTH_OUT, T0, 1,
	    0, "TLSv1.2", 0, "expired\nuni-b out 9" }, 0, 1,
	    FEDHEALTH_V_TLS12, FEDHEALTH_R_OTHER, 0, 0, 1 },
	{ "a reason in capitals is other", { "uni-a", FEDHEALTH_OUT, T0, 1, 0,
	    "TLSv1.2", 0, "EXPIRED" }, 0, 1, FEDHEALTH_V_TLS12,
	    FEDHEALTH_R_OTHER, 0, 0, 1 },
	{ "other is a reason of its own", { "uni-a", FEDHEALTH_OUT, T0, 0, 0,
	    "", 0, "other" }, 0, 0, FEDHEALTH_V_NONE, FEDHEALTH_R_OTHER, 0, 0,
	    0 },
	{ "an unknown version is other", { "uni-a", FEDHEALTH_OUT, T0, 1, 1,
	    "SSLv3", 0, NULL }, 0, 1, FEDHEALTH_V_OTHER, -1, 1, 0, 1 },
	{ "a version with a trailing space is other", { "uni-a",
	    FEDHEALTH_OUT, T0, 1, 1, "TLSv1.3 ", 0, NULL }, 0, 1,
	    FEDHEALTH_V_OTHER, -1, 1, 0, 1 },
	{ "TLSv1.1 is other", { "uni-a", FEDHEALTH_OUT, T0, 1, 1, "TLSv1.1",
	    0, NULL }, 0, 1, FEDHEALTH_V_OTHER, -1, 1, 0, 1 },
	{ "TLS with no version is other", { "uni-a", FEDHEALTH_OUT, T0, 1, 1,
	    "", 0, NULL }, 0, 1, FEDHEALTH_V_OTHER, -1, 1, 0, 1 },
	{ "TLS with a NULL version is other", { "uni-a", FEDHEALTH_OUT, T0, 1,
	    1, NULL, 1, NULL }, 0, 1, FEDHEALTH_V_OTHER, -1, 1, 1, 1 },
	{ "no TLS with a NULL version is none", { "uni-a", FEDHEALTH_OUT, T0,
	    0, 0, NULL, 0, "no-starttls" }, 0, 0, FEDHEALTH_V_NONE,
	    FEDHEALTH_R_NO_STARTTLS, 0, 0, 0 },
	{ "verified without TLS is not verified", { "uni-a", FEDHEALTH_IN, T0,
	    0, 1, "", 0, NULL }, 0, 1, FEDHEALTH_V_NONE, -1, 0, 0, 0 },
	{ "resumed without TLS is not resumed", { "uni-a", FEDHEALTH_IN, T0,
	    0, 0, "", 1, NULL }, 0, 1, FEDHEALTH_V_NONE, -1, 0, 0, 0 },
	{ "a version without TLS is none", { "uni-a", FEDHEALTH_IN, T0, 0, 0,
	    "TLSv1.3", 0, "handshake" }, 0, 1, FEDHEALTH_V_NONE,
	    FEDHEALTH_R_HANDSHAKE, 0, 0, 0 },
	{ "flags other than 1 are true", { "uni-a", FEDHEALTH_IN, T0, 7, -1,
	    "TLSv1.3", 42, NULL }, 0, 0, FEDHEALTH_V_TLS13, -1, 1, 1, 1 },
	{ "several bad fields count once", { "uni-a", FEDHEALTH_IN, T0, 0, 1,
	    "SSLv2", 1, "boom" }, 0, 1, FEDHEALTH_V_NONE, FEDHEALTH_R_OTHER, 0,
	    0, 0 },
};

START_TEST(fedhealth_takes_every_field_as_hostile)
{
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	struct fedhealth_counts	 c;
	struct fedhealth_sum	 s;
	size_t			 k;
	const char		*v;
	int			 dir;
	char			*t, *j;

	fh_ok(h, "uni-b", FEDHEALTH_IN, T0);
	fedhealth_record(h, &hostile_cases[_i].ev);
	fedhealth_counts(h, &c);
	ck_assert_msg(c.rejected_events ==
	    (uint64_t)hostile_cases[_i].rejected_events &&
	    c.rejected_fields == (uint64_t)hostile_cases[_i].rejected_fields,
	    "%s: %llu events, %llu fields rejected", hostile_cases[_i].what,
	    (unsigned long long)c.rejected_events,
	    (unsigned long long)c.rejected_fields);
	if (hostile_cases[_i].rejected_events) {
		/* Nothing was stored: only uni-b's row and session. */
		ck_assert_uint_eq(c.members, 1);
		ck_assert_uint_eq(fh_sessions(h, "uni-b", FEDHEALTH_IN, T0),
		    1);
	} else {
		dir = hostile_cases[_i].ev.dir;
		ck_assert_int_eq(fedhealth_sum(h, hostile_cases[_i].ev.member,
		    dir, T0, &s), 1);
		ck_assert_uint_eq(s.sessions, 1);
		ck_assert_uint_eq(s.version[hostile_cases[_i].version], 1);
		ck_assert_uint_eq(s.verified,
		    (uint64_t)hostile_cases[_i].verified);
		ck_assert_uint_eq(s.resumed,
		    (uint64_t)hostile_cases[_i].resumed);
		ck_assert_uint_eq(s.tls, (uint64_t)hostile_cases[_i].tls);
		if (hostile_cases[_i].reason == -1) {
			ck_assert_uint_eq(s.failed, 0);
			ck_assert_int_eq(s.last_ok, T0);
		} else {
			ck_assert_uint_eq(s.failed, 1);
			ck_assert_uint_eq(s.failure[hostile_cases[_i].reason],
			    1);
			ck_assert_int_eq(s.last_reason,
			    hostile_cases[_i].reason);
		}
		for (k = 0; k < FEDHEALTH_V_N; k++)
			if ((int)k != hostile_cases[_i].version)
				ck_assert_uint_eq(s.version[k], 0);
	}
	/* What a worker sent is never printed, but a valid member id. */
	t = fh_text(h, T0);
	j = fh_json(h, T0);
	if (hostile_cases[_i].ev.failure != NULL &&
	    strcmp(hostile_cases[_i].ev.failure, "other") != 0 &&
	    hostile_cases[_i].reason == FEDHEALTH_R_OTHER) {
		ck_assert_ptr_null(strstr(t, hostile_cases[_i].ev.failure));
		ck_assert_ptr_null(strstr(j, hostile_cases[_i].ev.failure));
	}
	v = hostile_cases[_i].ev.version;
	if (v != NULL && *v != '\0' && strstr("TLSv1.3 TLSv1.2", v) == NULL) {
		ck_assert_ptr_null(strstr(t, v));
		ck_assert_ptr_null(strstr(j, v));
	}
	ck_assert_ptr_null(strstr(t, "\nuni-b out 9"));
	ck_assert_int_eq(fh_python("import json,sys; json.load(sys.stdin)",
	    j), 0);
	free(t);
	free(j);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_many_sessions_in_one_bucket_add_up)
{
	struct fedhealth	*h = fedhealth_new(DAY, 4);
	struct fedhealth_sum	 s;
	int			 i;

	/* Every one counted, in one row's one bucket. */
	for (i = 0; i < 100000; i++)
		fh_event(h, "uni-a", FEDHEALTH_IN, T0 + i % 3600, 1, 1,
		    "TLSv1.3", 1, "revoked");
	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_IN, T0 + 3600,
	    &s), 1);
	ck_assert_uint_eq(s.sessions, 100000);
	ck_assert_uint_eq(s.failure[FEDHEALTH_R_REVOKED], 100000);
	ck_assert_uint_eq(fh_counts(h).members, 1);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_knows_every_reason_class_word)
{
	static const char *const words[] = {
		"expired", "not-yet-valid", "revoked", "untrusted-ca",
		"self-signed", "name-mismatch", "not-registered",
		"no-certificate", "no-starttls", "starttls-refused",
		"handshake", "crl-stale", "bundle-expired", "dns", "connect",
		"downgrade", "other",
	};
	struct fedhealth	*h = fedhealth_new(DAY, 4);
	struct fedhealth_sum	 s;
	size_t			 i;

	ck_assert_uint_eq(sizeof(words) / sizeof(words[0]), FEDHEALTH_R_N);
	for (i = 0; i < FEDHEALTH_R_N; i++) {
		ck_assert_str_eq(fedhealth_reason_name(
		    (enum fedhealth_reason)i), words[i]);
		fh_event(h, "uni-a", FEDHEALTH_OUT, T0, 0, 0, "", 0, words[i]);
	}
	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_OUT, T0, &s), 1);
	for (i = 0; i < FEDHEALTH_R_N; i++)
		ck_assert_uint_eq(s.failure[i], 1);
	ck_assert_uint_eq(fh_counts(h).rejected_fields, 0);
	ck_assert_str_eq(fedhealth_reason_name(FEDHEALTH_R_N), "other");
	ck_assert_str_eq(fedhealth_version_name(FEDHEALTH_V_N), "other");
	fedhealth_free(h);
}
END_TEST

/* --- the bundle's list --------------------------------------------------- */

START_TEST(fedhealth_members_set_adds_keeps_and_removes)
{
	static const char *const first[] = { "uni-b", "uni-c" };
	static const char *const second[] = {
		"uni-d", "uni-c", "uni-d", "Not-An-Id", NULL, "uni-b",
	};
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	struct fedhealth_sum	 s;
	char			*t;

	/* Before any bundle, rows come with sessions. */
	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-b", FEDHEALTH_OUT, T0);
	fh_ok(h, "uni-b", FEDHEALTH_IN, T0);
	ck_assert_uint_eq(fh_counts(h).members, 2);

	ck_assert_uint_eq(fedhealth_members_set(h, first, 2), 0);
	ck_assert_uint_eq(fh_counts(h).members, 2);
	/* uni-a dropped out, uni-b kept its history, uni-c has none yet. */
	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_OUT, T0, &s), 0);
	ck_assert_uint_eq(fh_sessions(h, "uni-b", FEDHEALTH_OUT, T0), 1);
	ck_assert_uint_eq(fh_sessions(h, "uni-b", FEDHEALTH_IN, T0), 1);
	ck_assert_uint_eq(fh_sessions(h, "uni-c", FEDHEALTH_OUT, T0), 0);
	t = fh_text(h, T0);
	ck_assert_ptr_null(strstr(t, "uni-a"));
	ck_assert_ptr_nonnull(strstr(t, "\nuni-c  in         0        -       -"
	    "       0       0      0     0  -                     -"
	    "                                     -\n"));
	free(t);

	/* It stays out: its sessions are not members' any more. */
	fh_ok(h, "uni-a", FEDHEALTH_OUT, T0);
	ck_assert_int_eq(fedhealth_sum(h, "uni-a", FEDHEALTH_OUT, T0, &s), 0);
	ck_assert_uint_eq(fh_counts(h).not_member, 1);

	/* Repeats and what is no id are skipped; sorted whatever the order. */
	fh_ok(h, "uni-c", FEDHEALTH_IN, T0);
	ck_assert_uint_eq(fedhealth_members_set(h, second, 6), 0);
	ck_assert_uint_eq(fh_counts(h).members, 3);
	ck_assert_uint_eq(fh_sessions(h, "uni-c", FEDHEALTH_IN, T0), 1);
	ck_assert_uint_eq(fh_sessions(h, "uni-d", FEDHEALTH_IN, T0), 0);
	t = fh_text(h, T0);
	ck_assert_ptr_nonnull(strstr(t, "\nuni-b  in "));
	ck_assert_ptr_nonnull(strstr(strstr(t, "\nuni-b  in "),
	    "\nuni-c  in "));
	ck_assert_ptr_nonnull(strstr(strstr(t, "\nuni-c  in "),
	    "\nuni-d  out"));
	free(t);

	/* A bundle with no members leaves nothing. */
	ck_assert_uint_eq(fedhealth_members_set(h, NULL, 0), 0);
	ck_assert_uint_eq(fh_counts(h).members, 0);
	t = fh_text(h, T0);
	ck_assert_ptr_nonnull(strstr(t, "no federation members\n"));
	free(t);
	fedhealth_free(h);
}
END_TEST

/* --- reports ------------------------------------------------------------- */

/* Three members, a day of varied sessions. */
static struct fedhealth *
fh_sample(void)
{
	static const char *const ids[] = {
		"uni-a", "rediris-long-member-name-32chars", "uni-quiet",
	};
	struct fedhealth	*h = fedhealth_new(DAY, 16);

	fedhealth_members_set(h, ids, 3);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 10, 1, 1, "TLSv1.3", 0, NULL);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 20, 1, 1, "TLSv1.3", 1, NULL);
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 30, 1, 0, "TLSv1.2", 0,
	    "expired");
	fh_event(h, "uni-a", FEDHEALTH_OUT, T0 + 40, 0, 0, "", 0, "dns");
	fh_event(h, "uni-a", FEDHEALTH_IN, T0 + 50, 1, 1, "TLSv1.3", 1, NULL);
	fh_event(h, "rediris-long-member-name-32chars", FEDHEALTH_IN, T0 + 60,
	    1, 0, "TLSv1.2", 0, "downgrade");
	fh_event(h, "rediris-long-member-name-32chars", FEDHEALTH_IN, T0 + 70,
	    1, 0, "TLSv1.2", 0, "downgrade");
	fh_event(h, "uni-zz", FEDHEALTH_IN, T0, 1, 1, "TLSv1.3", 0, NULL);
	fh_event(h, "Bad!", FEDHEALTH_IN, T0, 1, 1, "TLSv1.3", 0, NULL);
	fh_event(h, "uni-a", FEDHEALTH_IN, T0 + 80, 1, 1, "SSLv3", 0, NULL);
	return h;
}

/* The sample's table as avalctl prints it, line by line. */
static const char *const fh_sample_table[] = {
	"MEMBER                           DIR SESSIONS VERIFIED R"
	    "ESUMED TLSv1.3 TLSv1.2 NO-TLS OTHER  LAST SUCCESS       "
	    "   LAST FAILURE                          FAILURES\n",
	"rediris-long-member-name-32chars in         2       0%  "
	    "    0%       0       2      0     0  -                  "
	    "   2024-05-01T12:01:10Z downgrade        downgrade 2\n",
	"rediris-long-member-name-32chars out        0        -  "
	    "     -       0       0      0     0  -                  "
	    "   -                                     -\n",
	"uni-a                            in         2     100%  "
	    "   50%       1       0      0     1  2024-05-01T12:01:20"
	    "Z  -                                     -\n",
	"uni-a                            out        4      50%  "
	    "   33%       2       1      1     0  2024-05-01T12:00:20"
	    "Z  2024-05-01T12:00:40Z dns              expired 1, dns "
	    "1\n",
	"uni-quiet                        in         0        -  "
	    "     -       0       0      0     0  -                  "
	    "   -                                     -\n",
	"uni-quiet                        out        0        -  "
	    "     -       0       0      0     0  -                  "
	    "   -                                     -\n",
	"-- 3 members over the last 24h (buckets of 1h) at 2024-0"
	    "5-01T13:00:00Z\n",
	"-- not members: 1 event dropped for ids not in the bundl"
	    "e\n",
	"-- rejected: 1 event (member id, direction or time not v"
	    "alid), 1 field (counted as other)\n",
};

START_TEST(fedhealth_report_text_has_a_row_per_member_and_direction)
{
	struct fedhealth	*h = fh_sample();
	char			*t;
	const char		*p;
	size_t			 i, len;

	t = fh_text(h, T0 + HOUR);
	if (getenv("FEDHEALTH_SHOW") != NULL)
		fputs(t, stderr);
	p = t;
	for (i = 0; i < sizeof(fh_sample_table) / sizeof(fh_sample_table[0]);
	    i++) {
		len = strlen(fh_sample_table[i]);
		ck_assert_msg(strncmp(p, fh_sample_table[i], len) == 0,
		    "line %zu: want\n%s got\n%.*s", i + 1, fh_sample_table[i],
		    (int)(strchrnul(p, '\n') - p + 1), p);
		p += len;
	}
	ck_assert_str_eq(p, "");
	ck_assert_ptr_null(strstr(t, "no room"));
	ck_assert_ptr_null(strstr(t, "late"));
	free(t);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_report_json_parses_and_says_what_the_table_says)
{
	struct fedhealth	*h = fh_sample();
	char			*j;

	j = fh_json(h, T0 + HOUR);
	ck_assert_int_eq(j[strlen(j) - 1], '\n');
	ck_assert_int_eq(fh_python("import json,sys\n"
	    "d = json.load(sys.stdin)\n"
	    "assert d[\"generated\"] == \"2024-05-01T13:00:00Z\", d\n"
	    "assert d[\"window_s\"] == 86400 and d[\"bucket_s\"] == 3600, d\n"
	    "assert d[\"max_members\"] == 16, d\n"
	    "ids = [m[\"id\"] for m in d[\"members\"]]\n"
	    "assert ids == [\"rediris-long-member-name-32chars\", \"uni-a\", "
	    "\"uni-quiet\"], ids\n"
	    "r, a, q = d[\"members\"]\n"
	    "o = a[\"out\"]\n"
	    "assert o[\"sessions\"] == 4 and o[\"verified\"] == 2, o\n"
	    "assert o[\"verified_share\"] == 0.5, o\n"
	    "assert o[\"tls\"] == 3 and o[\"resumed\"] == 1, o\n"
	    "assert o[\"resumed_share\"] == 0.333, o\n"
	    "assert o[\"versions\"] == {\"TLSv1.3\": 2, \"TLSv1.2\": 1, "
	    "\"none\": 1, \"other\": 0}, o\n"
	    "assert o[\"failed\"] == 2, o\n"
	    "assert o[\"failures\"] == {\"expired\": 1, \"dns\": 1}, o\n"
	    "assert o[\"last_success\"] == \"2024-05-01T12:00:20Z\", o\n"
	    "assert o[\"last_failure\"] == "
	    "{\"time\": \"2024-05-01T12:00:40Z\", \"reason\": \"dns\"}, o\n"
	    "assert a[\"in\"][\"versions\"][\"other\"] == 1, a\n"
	    "assert a[\"in\"][\"last_failure\"] is None, a\n"
	    "assert r[\"in\"][\"failures\"] == {\"downgrade\": 2}, r\n"
	    "assert r[\"in\"][\"last_success\"] is None, r\n"
	    "assert r[\"out\"][\"sessions\"] == 0, r\n"
	    "assert r[\"out\"][\"verified_share\"] is None, r\n"
	    "for m in d[\"members\"]:\n"
	    "    assert set(m) == {\"id\", \"in\", \"out\"}, m\n"
	    "assert q[\"in\"][\"sessions\"] == 0 and q[\"in\"][\"failures\"] "
	    "== {}, q\n"
	    "assert d[\"rejected\"] == {\"events\": 1, \"fields\": 1}, d\n"
	    "assert d[\"dropped\"] == {\"no_room\": 0, \"not_member\": 1, "
	    "\"late\": 0}, d\n"
	    "assert d[\"members_no_room\"] == 0, d\n", j), 0);
	free(j);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_report_json_of_an_empty_store_parses)
{
	struct fedhealth	*h = fedhealth_new(DAY, 16);
	char			*j, *t;

	j = fh_json(h, T0);
	ck_assert_int_eq(fh_python("import json,sys\n"
	    "d = json.load(sys.stdin)\n"
	    "assert d[\"members\"] == [], d\n", j), 0);
	t = fh_text(h, T0);
	ck_assert_ptr_nonnull(strstr(t, "no federation members known yet\n"));
	free(j);
	free(t);
	fedhealth_free(h);
}
END_TEST

START_TEST(fedhealth_reports_fail_at_the_buf_cap)
{
	struct fedhealth	*h = fh_sample();
	struct buf		*b = buf_new(16, 300);

	ck_assert_int_eq(fedhealth_report_text(h, T0, b), -1);
	buf_reset(b);
	ck_assert_int_eq(fedhealth_report_json(h, T0, b), -1);
	buf_free(b);
	fedhealth_free(h);
}
END_TEST

Suite *
fedhealth_suite(void)
{
	Suite	*s = suite_create("fedhealth");
	TCase	*tc = tcase_create("store");
	TCase	*tr = tcase_create("report");

	tcase_add_test(tc,
	    fedhealth_counts_sessions_versions_failures_and_shares);
	tcase_add_test(tc,
	    fedhealth_sessions_fall_out_of_the_window_bucket_by_bucket);
	tcase_add_test(tc,
	    fedhealth_a_bucket_is_emptied_when_its_place_comes_round);
	tcase_add_test(tc, fedhealth_memory_does_not_grow_with_traffic);
	tcase_add_test(tc, fedhealth_a_short_window_has_second_buckets);
	tcase_add_test(tc,
	    fedhealth_a_window_not_divisible_never_counts_beyond_it);
	tcase_add_test(tc,
	    fedhealth_a_session_from_the_future_waits_for_its_time);
	tcase_add_test(tc,
	    fedhealth_members_beyond_the_cap_are_dropped_and_counted);
	tcase_add_test(tc,
	    fedhealth_a_bundle_larger_than_the_cap_keeps_the_first_ids);
	tcase_add_test(tc, fedhealth_a_cap_of_zero_keeps_nothing);
	tcase_add_loop_test(tc, fedhealth_takes_every_field_as_hostile, 0,
	    sizeof(hostile_cases) / sizeof(hostile_cases[0]));
	tcase_add_test(tc, fedhealth_many_sessions_in_one_bucket_add_up);
	tcase_add_test(tc, fedhealth_knows_every_reason_class_word);
	tcase_add_test(tc, fedhealth_members_set_adds_keeps_and_removes);
	suite_add_tcase(s, tc);
	tcase_add_test(tr,
	    fedhealth_shares_round_down_and_resumed_is_of_tls_sessions);
	tcase_add_test(tr,
	    fedhealth_report_text_has_a_row_per_member_and_direction);
	tcase_add_test(tr,
	    fedhealth_report_json_parses_and_says_what_the_table_says);
	tcase_add_test(tr, fedhealth_report_json_of_an_empty_store_parses);
	tcase_add_test(tr, fedhealth_reports_fail_at_the_buf_cap);
	suite_add_tcase(s, tr);
	return s;
}
