/*
 * check_tlsstore - the queue's store of TLS client sessions: a real
 * Berkeley DB file in a temporary directory, reopened as a restart would
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "queue/tlsstore.h"
#include "tests/unit/harness.h"

#define NOW	1800000000LL

static char	*dir;
static char	 path[512];

static void
setup(void)
{
	dir = harness_tmpdir();
	snprintf(path, sizeof(path), "%s/tls-sessions.db", dir);
}

static void
teardown(void)
{
	harness_rmtree(dir);
	free(dir);
}

/* A session of n octets, each the byte b: enough to tell them apart. */
static void
fill(unsigned char *p, size_t n, int b)
{
	memset(p, b, n);
}

static int
take_byte(struct tlsstore *st, const char *key, int64_t now, int *usage)
{
	unsigned char	 der[TLSSTORE_DER_MAX];
	size_t		 len;
	int		 u, rv;

	rv = tlsstore_take(st, key, now, der, &len, usage != NULL ? usage : &u);
	if (rv != 1)
		return -1;
	return der[0];
}

START_TEST(take_gives_the_newest_once_and_a_restart_keeps_the_rest)
{
	struct tlsstore	*st;
	unsigned char	 s[300];
	int		 usage;

	ck_assert_ptr_nonnull(st = tlsstore_open(path, 0));
	fill(s, sizeof(s), 'a');
	ck_assert_int_eq(tlsstore_put(st, "[192.0.2.1]:25 may", s, sizeof(s),
	    0, NOW + 300, NOW), 0);
	fill(s, sizeof(s), 'b');
	ck_assert_int_eq(tlsstore_put(st, "[192.0.2.1]:25 may", s, sizeof(s),
	    3, NOW + 300, NOW), 0);
	ck_assert_uint_eq(tlsstore_keys(st), 1);
	ck_assert_int_eq(take_byte(st, "[192.0.2.1]:25 may", NOW, &usage), 'b');
	ck_assert_int_eq(usage, 3);
	tlsstore_close(st);

	/* a restart: the other session is still there, and as the last
	 * one it is offered again rather than leave nothing */
	ck_assert_ptr_nonnull(st = tlsstore_open(path, 0));
	ck_assert_uint_eq(tlsstore_keys(st), 1);
	ck_assert_int_eq(take_byte(st, "[192.0.2.1]:25 may", NOW, NULL), 'a');
	ck_assert_int_eq(take_byte(st, "[192.0.2.1]:25 may", NOW, NULL), 'a');
	ck_assert_uint_eq(tlsstore_keys(st), 1);
	/* another policy's key is another entry */
	ck_assert_int_eq(take_byte(st, "[192.0.2.1]:25 verify/ab", NOW, NULL),
	    -1);
	tlsstore_close(st);
}
END_TEST

START_TEST(a_key_keeps_four_and_expired_ones_are_never_handed_out)
{
	struct tlsstore	*st;
	unsigned char	 s[64];
	int		 i;

	ck_assert_ptr_nonnull(st = tlsstore_open(path, 0));
	for (i = 0; i < 6; i++) {
		fill(s, sizeof(s), '0' + i);
		ck_assert_int_eq(tlsstore_put(st, "k", s, sizeof(s), 0,
		    NOW + 100 + i, NOW), 0);
	}
	/* the newest four, newest first; the last one again */
	for (i = 5; i >= 2; i--)
		ck_assert_int_eq(take_byte(st, "k", NOW, NULL), '0' + i);
	ck_assert_int_eq(take_byte(st, "k", NOW, NULL), '2');
	/* it expires like any */
	ck_assert_int_eq(take_byte(st, "k", NOW + 102, NULL), -1);
	ck_assert_uint_eq(tlsstore_keys(st), 0);

	fill(s, sizeof(s), 'x');
	ck_assert_int_eq(tlsstore_put(st, "k", s, sizeof(s), 0, NOW + 10,
	    NOW), 0);
	ck_assert_int_eq(take_byte(st, "k", NOW + 10, NULL), -1);
	ck_assert_uint_eq(tlsstore_keys(st), 0);
	/* already expired, or a lifetime past 7 days, clamped */
	ck_assert_int_eq(tlsstore_put(st, "k", s, sizeof(s), 0, NOW, NOW), 0);
	ck_assert_uint_eq(tlsstore_keys(st), 0);
	ck_assert_int_eq(tlsstore_put(st, "k", s, sizeof(s), 0,
	    NOW + 365 * 86400LL, NOW), 0);
	ck_assert_int_eq(take_byte(st, "k", NOW + TLSSTORE_LIFETIME_MAX + 1,
	    NULL), -1);
	tlsstore_close(st);
}
END_TEST

START_TEST(out_of_bounds_is_refused_and_the_key_count_is_capped)
{
	struct tlsstore	*st;
	unsigned char	*big;
	char		 key[TLSSTORE_KEY_MAX + 2];
	int		 i;

	ck_assert_ptr_nonnull(st = tlsstore_open(path, 8));
	big = calloc(1, TLSSTORE_DER_MAX + 1);
	harness_log_start();
	ck_assert_int_eq(tlsstore_put(st, "k", big, TLSSTORE_DER_MAX + 1, 0,
	    NOW + 60, NOW), -1);
	ck_assert(harness_log_has("out of bounds"));
	harness_log_stop();
	ck_assert_int_eq(tlsstore_put(st, "k", big, 0, 0, NOW + 60, NOW), -1);
	ck_assert_int_eq(tlsstore_put(st, "k", big, 10, 1, NOW + 60, NOW), -1);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	ck_assert_int_eq(tlsstore_put(st, key, big, 10, 0, NOW + 60, NOW), -1);
	ck_assert_int_eq(tlsstore_put(st, "", big, 10, 0, NOW + 60, NOW), -1);
	ck_assert_int_eq(tlsstore_put(st, "k", big, TLSSTORE_DER_MAX, 0,
	    NOW + 60, NOW), 0);

	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		ck_assert_int_eq(tlsstore_put(st, key, big, 100, 0, NOW + 60,
		    NOW), 0);
	}
	ck_assert_uint_le(tlsstore_keys(st), 8);
	/* the newest key is always kept */
	ck_assert_int_eq(take_byte(st, "key-49", NOW, NULL), 0);
	free(big);
	tlsstore_close(st);
}
END_TEST

START_TEST(a_broken_file_or_record_is_dropped_not_fatal)
{
	struct tlsstore	*st;
	unsigned char	 s[32];
	static char	 badkey[] = "bad";
	/* expires 0..0ff, then a length of 0xffffffff: more than there is */
	static char	 badval[] = "\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\0zz";
	DB		*db;
	DBT		 k, v;
	int		 fd;

	/* a file that is not a Berkeley DB at all */
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0600), 0);
	ck_assert_int_eq(write(fd, "this is not a database\n", 23), 23);
	close(fd);
	harness_log_start();
	ck_assert_ptr_nonnull(st = tlsstore_open(path, 0));
	ck_assert(harness_log_has("starting an empty one"));
	harness_log_stop();
	fill(s, sizeof(s), 'g');
	ck_assert_int_eq(tlsstore_put(st, "good", s, sizeof(s), 0, NOW + 60,
	    NOW), 0);
	tlsstore_close(st);

	/* a record that lies about its length */
	ck_assert_int_eq(db_create(&db, NULL, 0), 0);
	ck_assert_int_eq(db->open(db, NULL, path, NULL, DB_HASH, 0, 0600), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = badkey;
	k.size = 3;
	v.data = badval;
	v.size = 16;
	ck_assert_int_eq(db->put(db, NULL, &k, &v, 0), 0);
	db->close(db, 0);

	ck_assert_ptr_nonnull(st = tlsstore_open(path, 0));
	ck_assert_uint_eq(tlsstore_keys(st), 2);
	harness_log_start();
	ck_assert_int_eq(take_byte(st, "bad", NOW, NULL), -1);
	ck_assert(harness_log_has("does not decode"));
	harness_log_stop();
	ck_assert_uint_eq(tlsstore_keys(st), 1);
	ck_assert_int_eq(take_byte(st, "good", NOW, NULL), 'g');
	tlsstore_close(st);
}
END_TEST

Suite *
tlsstore_suite(void)
{
	Suite	*s = suite_create("tlsstore");
	TCase	*tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, take_gives_the_newest_once_and_a_restart_keeps_the_rest);
	tcase_add_test(tc, a_key_keeps_four_and_expired_ones_are_never_handed_out);
	tcase_add_test(tc, out_of_bounds_is_refused_and_the_key_count_is_capped);
	tcase_add_test(tc, a_broken_file_or_record_is_dropped_not_fatal);
	suite_add_tcase(s, tc);
	return s;
}
