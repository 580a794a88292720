/*
 * check_queue_store - the Berkeley DB store, in real environments
 *
 * Every test gets a fresh directory from harness_tmpdir(). The crash
 * tests fork a child that opens the store, writes, and is SIGKILLed
 * without closing anything; the parent then opens the same directory,
 * which runs recovery, and checks what is there: everything that was
 * flushed (acknowledged), and nothing half-stored.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/qid.h"
#include "common/xmalloc.h"
#include "queue/queue_rec.h"
#include "queue/queue_store.h"
#include "tests/unit/harness.h"

#define BODY_CAP	(64u * 1024 * 1024)

static char			*dir;
static struct queue_store	*qs;

/* --- fixtures ------------------------------------------------------------- */

static void
store_dir_setup(void)
{
	dir = harness_tmpdir();
}

static void
store_dir_teardown(void)
{
	harness_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void
store_setup(void)
{
	store_dir_setup();
	qs = queue_store_open(dir);
}

static void
store_teardown(void)
{
	queue_store_close(qs);
	qs = NULL;
	store_dir_teardown();
	harness_log_stop();
}

/* --- helpers -------------------------------------------------------------- */

/* An envelope for a body of size bytes, with one recipient per name. */
static void
env_make(struct queue_env *e, size_t size, uint32_t nrcpt)
{
	uint32_t	 i;

	memset(e, 0, sizeof(*e));
	e->arrival_ms = 1700000000123LL;
	e->sender = xstrdup("ana@uni-a.es");
	e->client = xstrdup("mx.uni-a.es[192.0.2.10]:41234");
	e->size = size;
	e->nrcpt = nrcpt;
	if (nrcpt > 0)
		e->rcpts = xcalloc(nrcpt, sizeof(*e->rcpts));
	for (i = 0; i < nrcpt; i++)
		xasprintf(&e->rcpts[i].addr, "user%u@uni-b.es", i);
}

/* The byte at offset i of the test body of message qid. */
static unsigned char
body_byte(const char *qid, size_t i)
{
	unsigned int	 h = 0;
	size_t		 j;

	for (j = 0; j < QID_LEN; j++)
		h = h * 31 + (unsigned char)qid[j];
	return (unsigned char)(h + i * 131 + (i >> 9));
}

static unsigned char *
body_make(const char *qid, size_t len)
{
	unsigned char	*b = xmalloc(len > 0 ? len : 1);
	size_t		 i;

	for (i = 0; i < len; i++)
		b[i] = body_byte(qid, i);
	return b;
}

/* Add a message whose body is len bytes of qid's pattern. */
static int
msg_add(struct queue_store *s, const char *qid, size_t len)
{
	struct queue_env	 e;
	unsigned char		*body = body_make(qid, len);
	int			 rc;

	env_make(&e, len, 1);
	rc = queue_store_add(s, qid, &e, body, len);
	queue_env_clear(&e);
	free(body);
	return rc;
}

/*
 * 1 if qid's body is complete: chunks 0, 1, ... hold exactly len bytes of
 * its pattern, every chunk but the last is full, and no chunk follows.
 */
static int
body_is_complete(struct queue_store *s, const char *qid, size_t len)
{
	struct buf	*b = buf_new(QUEUE_STORE_CHUNK, BODY_CAP);
	size_t		 i, before;
	unsigned int	 n;
	int		 rc, ok = 1;

	for (n = 0;; n++) {
		before = buf_len(b);
		if ((rc = queue_store_body_chunk(s, qid, n, b)) != 1)
			break;
		if (buf_len(b) - before != QUEUE_STORE_CHUNK &&
		    buf_len(b) != len)
			ok = 0;	/* a short chunk before the last */
	}
	if (rc == -1 || n == 0 || buf_len(b) != len)
		ok = 0;
	for (i = 0; ok && i < len; i++)
		if ((unsigned char)buf_data(b)[i] != body_byte(qid, i))
			ok = 0;
	buf_free(b);
	return ok;
}

/* What a walk saw. */
struct seen {
	struct queue_store	*store;
	size_t			 n, size;
	char			(*qid)[QID_SIZE];
	struct queue_env	*env;
	int			 remove;	/* each one as it is seen */
};

static void
seen_cb(const char *qid, struct queue_env *env, void *arg)
{
	struct seen	*s = arg;

	if (s->remove)
		ck_assert_int_eq(queue_store_remove(s->store, qid), 0);
	if (s->n == s->size) {
		s->size = s->size ? s->size * 2 : 16;
		s->qid = xreallocarray(s->qid, s->size, sizeof(*s->qid));
		s->env = xreallocarray(s->env, s->size, sizeof(*s->env));
	}
	strlcpy(s->qid[s->n], qid, QID_SIZE);
	s->env[s->n] = *env;		/* takes what env owns */
	s->n++;
}

static long
seen_walk(struct queue_store *store, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->store = store;
	return queue_store_walk(store, seen_cb, s);
}

static void
seen_clear(struct seen *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		queue_env_clear(&s->env[i]);
	free(s->qid);
	free(s->env);
	memset(s, 0, sizeof(*s));
}

/* The index of qid among what the walk saw, or -1. */
static long
seen_find(const struct seen *s, const char *qid)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->qid[i], qid) == 0)
			return (long)i;
	return -1;
}

/* Wait for child and check that SIGKILL, not an error, ended it. */
static void
child_assert_killed(pid_t pid)
{
	int	 status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status))
		ck_abort_msg("child exited %d before it was killed",
		    WEXITSTATUS(status));
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Run queue_store_open(path) in a child; its exit status, 0 if it opened. */
static int
open_in_child(const char *path, int as_nobody)
{
	struct queue_store	*child;
	pid_t			 pid;
	int			 status;

	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		if (as_nobody && geteuid() == 0) {
			if (setgid(65534) == -1 || setuid(65534) == -1)
				_exit(3);
			/* Keep the sanitizers able to inspect this process. */
			prctl(PR_SET_DUMPABLE, 1);
		}
		child = queue_store_open(path);
		(void)child;
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void	raw_put(const char *, const char *, const void *, size_t,
		    const void *, size_t);

/* Put one raw envelope record, bypassing the store, as damage would. */
static void
raw_envelope_put(const char *home, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	raw_put(home, "envelopes.db", key, klen, val, vlen);
}

/* Put one raw record into one of the store's databases. */
static void
raw_put(const char *home, const char *file, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	DB_ENV	*env;
	DB	*db;
	DBT	 k, d;

	ck_assert_int_eq(db_env_create(&env, 0), 0);
	ck_assert_int_eq(env->open(env, home, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER, 0600), 0);
	ck_assert_int_eq(db_create(&db, env, 0), 0);
	ck_assert_int_eq(db->open(db, NULL, file, NULL, DB_BTREE,
	    DB_AUTO_COMMIT | DB_CREATE, 0600), 0);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = xmalloc(klen);
	memcpy(k.data, key, klen);
	k.size = (u_int32_t)klen;
	d.data = xmalloc(vlen > 0 ? vlen : 1);
	if (vlen > 0)
		memcpy(d.data, val, vlen);
	d.size = (u_int32_t)vlen;
	ck_assert_int_eq(db->put(db, NULL, &k, &d, DB_AUTO_COMMIT), 0);
	free(k.data);
	free(d.data);
	ck_assert_int_eq(db->close(db, 0), 0);
	ck_assert_int_eq(env->close(env, 0), 0);
}

/* --- the store ------------------------------------------------------------ */

START_TEST(add_then_walk_finds_the_message_and_its_envelope)
{
	char		 qid[QID_SIZE];
	struct seen	 s;

	qid_new(qid);
	ck_assert_int_eq(msg_add(qs, qid, 2048), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(seen_walk(qs, &s), 1);
	ck_assert_str_eq(s.qid[0], qid);
	ck_assert_str_eq(s.env[0].sender, "ana@uni-a.es");
	ck_assert_str_eq(s.env[0].client, "mx.uni-a.es[192.0.2.10]:41234");
	ck_assert(s.env[0].size == 2048);
	ck_assert_uint_eq(s.env[0].nrcpt, 1);
	ck_assert_str_eq(s.env[0].rcpts[0].addr, "user0@uni-b.es");
	ck_assert(body_is_complete(qs, qid, 2048));
	seen_clear(&s);
}
END_TEST

START_TEST(walk_of_an_empty_store_finds_nothing)
{
	struct seen	 s;

	ck_assert_int_eq(seen_walk(qs, &s), 0);
	seen_clear(&s);
}
END_TEST

START_TEST(walk_returns_messages_in_queue_id_order)
{
	char		 qid[5][QID_SIZE];
	struct seen	 s;
	int		 i;

	for (i = 0; i < 5; i++)
		qid_new(qid[i]);
	for (i = 4; i >= 0; i--)
		ck_assert_int_eq(msg_add(qs, qid[i], 10), 0);
	ck_assert_int_eq(seen_walk(qs, &s), 5);
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(s.qid[i], qid[i]);
	seen_clear(&s);
}
END_TEST

START_TEST(add_refuses_a_queue_id_that_exists_and_keeps_the_first)
{
	char			 qid[QID_SIZE];
	char			 line[64];
	struct queue_env	 e;
	struct seen		 s;

	qid_new(qid);
	ck_assert_int_eq(msg_add(qs, qid, 100000), 0);
	harness_log_start();
	env_make(&e, 3, 2);
	ck_assert_int_eq(queue_store_add(qs, qid, &e, "new", 3), -1);
	queue_env_clear(&e);
	snprintf(line, sizeof(line), "%s: store add failed: queue ID exists",
	    qid);
	ck_assert(harness_log_has(line));

	ck_assert_int_eq(seen_walk(qs, &s), 1);
	ck_assert_uint_eq(s.env[0].nrcpt, 1);
	ck_assert(body_is_complete(qs, qid, 100000));
	seen_clear(&s);
}
END_TEST

START_TEST(add_refuses_an_invalid_queue_id)
{
	struct queue_env	 e;
	struct seen		 s;

	env_make(&e, 1, 1);
	ck_assert_int_eq(queue_store_add(qs, "3f2a19c3b70000", &e, "x", 1), -1);
	ck_assert_int_eq(queue_store_add(qs, "3F2A19C3B7", &e, "x", 1), -1);
	ck_assert_int_eq(queue_store_add(qs, "", &e, "x", 1), -1);
	queue_env_clear(&e);
	ck_assert_int_eq(seen_walk(qs, &s), 0);
	seen_clear(&s);
}
END_TEST

START_TEST(add_refuses_an_envelope_that_cannot_be_encoded_and_stores_nothing)
{
	char			 qid[QID_SIZE];
	struct queue_env	 e;
	struct buf		*b = buf_new(16, 1024);
	struct seen		 s;

	qid_new(qid);
	env_make(&e, 1, 1);
	e.rcpts[0].state = RCPT_STATE_MAX + 1;
	ck_assert_int_eq(queue_store_add(qs, qid, &e, "x", 1), -1);
	queue_env_clear(&e);
	ck_assert_int_eq(seen_walk(qs, &s), 0);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 0, b), 0);
	seen_clear(&s);
	buf_free(b);
}
END_TEST

START_TEST(a_body_of_three_and_a_half_chunks_reads_back_in_four_chunks)
{
	char		 qid[QID_SIZE];
	size_t		 len = 7 * (QUEUE_STORE_CHUNK / 2);
	struct buf	*b = buf_new(QUEUE_STORE_CHUNK, BODY_CAP);
	unsigned char	*want;
	unsigned int	 n;

	qid_new(qid);
	want = body_make(qid, len);
	ck_assert_int_eq(msg_add(qs, qid, len), 0);
	for (n = 0; n < 4; n++) {
		ck_assert_int_eq(queue_store_body_chunk(qs, qid, n, b), 1);
		ck_assert_uint_eq(buf_len(b), n < 3 ?
		    (n + 1) * QUEUE_STORE_CHUNK : len);
	}
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 4, b), 0);
	ck_assert_uint_eq(buf_len(b), len);
	ck_assert(memcmp(buf_data(b), want, len) == 0);
	free(want);
	buf_free(b);
}
END_TEST

START_TEST(a_body_of_exactly_two_chunks_has_no_empty_third)
{
	char		 qid[QID_SIZE];
	struct buf	*b = buf_new(16, BODY_CAP);

	qid_new(qid);
	ck_assert_int_eq(msg_add(qs, qid, 2 * QUEUE_STORE_CHUNK), 0);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 1, b), 1);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 2, b), 0);
	ck_assert(body_is_complete(qs, qid, 2 * QUEUE_STORE_CHUNK));
	buf_free(b);
}
END_TEST

START_TEST(an_empty_body_reads_back_as_one_empty_chunk)
{
	char		 qid[QID_SIZE];
	struct buf	*b = buf_new(16, 1024);

	qid_new(qid);
	ck_assert_int_eq(msg_add(qs, qid, 0), 0);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 0, b), 1);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 1, b), 0);
	buf_free(b);
}
END_TEST

START_TEST(reading_a_chunk_into_a_too_small_buffer_fails)
{
	char		 qid[QID_SIZE];
	struct buf	*b = buf_new(16, 100);

	qid_new(qid);
	ck_assert_int_eq(msg_add(qs, qid, 5000), 0);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 0, b), -1);
	ck_assert_uint_eq(buf_len(b), 0);
	buf_free(b);
}
END_TEST

START_TEST(reading_a_chunk_of_an_unknown_message_finds_nothing)
{
	char		 qid[QID_SIZE];
	struct buf	*b = buf_new(16, 100);

	qid_new(qid);
	ck_assert_int_eq(queue_store_body_chunk(qs, qid, 0, b), 0);
	buf_free(b);
}
END_TEST

START_TEST(remove_deletes_the_envelope_and_every_chunk_of_that_message_only)
{
	/* Neighbours in key order: a prefix scan must stop at the next one. */
	const char	*a = "0000000000AB10", *b = "0000000000AB11";
	const char	*c = "0000000000AB0F";
	size_t		 alen = 7 * (QUEUE_STORE_CHUNK / 2);
	struct buf	*out = buf_new(16, BODY_CAP);
	struct seen	 s;
	unsigned int	 n;

	ck_assert_int_eq(msg_add(qs, c, QUEUE_STORE_CHUNK + 1), 0);
	ck_assert_int_eq(msg_add(qs, a, alen), 0);
	ck_assert_int_eq(msg_add(qs, b, 2 * QUEUE_STORE_CHUNK + 7), 0);
	ck_assert_int_eq(queue_store_remove(qs, a), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);

	for (n = 0; n < 5; n++)
		ck_assert_int_eq(queue_store_body_chunk(qs, a, n, out), 0);
	ck_assert_int_eq(seen_walk(qs, &s), 2);
	ck_assert_str_eq(s.qid[0], c);
	ck_assert_str_eq(s.qid[1], b);
	ck_assert(body_is_complete(qs, b, 2 * QUEUE_STORE_CHUNK + 7));
	ck_assert(body_is_complete(qs, c, QUEUE_STORE_CHUNK + 1));
	seen_clear(&s);

	/* The queue ID is free again. */
	ck_assert_int_eq(msg_add(qs, a, 10), 0);
	ck_assert(body_is_complete(qs, a, 10));
	buf_free(out);
}
END_TEST

START_TEST(remove_of_an_unknown_message_fails)
{
	char	 qid[QID_SIZE];
	char	 line[64];

	qid_new(qid);
	harness_log_start();
	ck_assert_int_eq(queue_store_remove(qs, qid), -1);
	snprintf(line, sizeof(line), "%s: store remove failed", qid);
	ck_assert(harness_log_has(line));
	ck_assert_int_eq(queue_store_remove(qs, "not a qid"), -1);
}
END_TEST

START_TEST(update_persists_across_close_and_reopen)
{
	char			 qid[QID_SIZE];
	struct queue_env	 e;
	struct seen		 s;

	qid_new(qid);
	env_make(&e, 4, 2);
	ck_assert_int_eq(queue_store_add(qs, qid, &e, "body", 4), 0);
	e.rcpts[0].state = RCPT_DELIVERED;
	e.rcpts[1].state = RCPT_DEFERRED;
	e.rcpts[1].attempts = 2;
	e.rcpts[1].next_try_ms = 1700007200;
	e.rcpts[1].last_error = xstrdup("421 4.3.2 shutting down");
	ck_assert_int_eq(queue_store_update(qs, qid, &e), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	queue_env_clear(&e);

	queue_store_close(qs);
	qs = queue_store_open(dir);
	ck_assert_int_eq(seen_walk(qs, &s), 1);
	ck_assert_uint_eq(s.env[0].rcpts[0].state, RCPT_DELIVERED);
	ck_assert_uint_eq(s.env[0].rcpts[1].state, RCPT_DEFERRED);
	ck_assert_uint_eq(s.env[0].rcpts[1].attempts, 2);
	ck_assert(s.env[0].rcpts[1].next_try_ms == 1700007200);
	ck_assert_str_eq(s.env[0].rcpts[1].last_error,
	    "421 4.3.2 shutting down");
	seen_clear(&s);

	/* The body is untouched by an update. */
	{
		struct buf	*b = buf_new(16, 1024);

		ck_assert_int_eq(queue_store_body_chunk(qs, qid, 0, b), 1);
		ck_assert_str_eq(buf_data(b), "body");
		buf_free(b);
	}
}
END_TEST

START_TEST(update_of_an_unknown_message_fails_and_creates_nothing)
{
	char			 qid[QID_SIZE];
	struct queue_env	 e;
	struct seen		 s;

	qid_new(qid);
	env_make(&e, 4, 1);
	ck_assert_int_eq(queue_store_update(qs, qid, &e), -1);
	queue_env_clear(&e);
	ck_assert_int_eq(seen_walk(qs, &s), 0);
	seen_clear(&s);
}
END_TEST

START_TEST(walk_skips_and_keeps_records_that_do_not_decode)
{
	char		 good[QID_SIZE], bad[QID_SIZE];
	char		 line[80];
	struct seen	 s;
	int		 round;

	qid_new(good);
	qid_new(bad);
	ck_assert_int_eq(msg_add(qs, good, 10), 0);
	queue_store_close(qs);
	raw_envelope_put(dir, bad, QID_LEN, "AVQE\0\1garbage", 13);
	raw_envelope_put(dir, "not-a-qid", 9, "AVQE", 4);
	raw_envelope_put(dir, "zzzzzzzzzzzzzz", QID_LEN, "AVQE", 4);
	qs = queue_store_open(dir);

	/* Twice: the first walk must not have deleted anything. */
	for (round = 0; round < 2; round++) {
		harness_log_start();
		ck_assert_int_eq(seen_walk(qs, &s), 1);
		ck_assert_str_eq(s.qid[0], good);
		seen_clear(&s);
		snprintf(line, sizeof(line), "%s: envelope does not decode",
		    bad);
		ck_assert(harness_log_has(line));
		ck_assert(harness_log_has("not a queue ID"));
	}
}
END_TEST

START_TEST(walk_lets_the_callback_remove_each_message_as_it_goes)
{
	char		 qid[QID_SIZE];
	struct seen	 s;
	int		 i;

	for (i = 0; i < 20; i++) {
		qid_new(qid);
		ck_assert_int_eq(msg_add(qs, qid, (size_t)i * 9000), 0);
	}
	memset(&s, 0, sizeof(s));
	s.store = qs;
	s.remove = 1;
	ck_assert_int_eq(queue_store_walk(qs, seen_cb, &s), 20);
	seen_clear(&s);
	ck_assert_int_eq(seen_walk(qs, &s), 0);
	seen_clear(&s);
}
END_TEST

START_TEST(a_body_of_forty_megabytes_adds_and_removes_in_one_transaction)
{
	char	 qid[QID_SIZE];
	size_t	 len = 40u * 1024 * 1024 + 3;

	qid_new(qid);
	ck_assert_int_eq(msg_add(qs, qid, len), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert(body_is_complete(qs, qid, len));
	ck_assert_int_eq(queue_store_remove(qs, qid), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	queue_store_checkpoint(qs);
	ck_assert(!body_is_complete(qs, qid, len));
}
END_TEST

START_TEST(close_of_null_is_harmless)
{
	queue_store_close(NULL);
}
END_TEST

/* --- opening -------------------------------------------------------------- */

START_TEST(opening_a_missing_directory_is_fatal)
{
	queue_store_open("/nonexistent/aval-spool");
}
END_TEST

START_TEST(opening_a_path_that_is_not_a_directory_is_fatal)
{
	char	*path;
	int	 fd;

	xasprintf(&path, "%s/file", dir);
	ck_assert_int_ne(fd = open(path, O_CREAT | O_WRONLY, 0600), -1);
	close(fd);
	ck_assert_int_eq(open_in_child(path, 0), 1);
	free(path);
}
END_TEST

START_TEST(opening_a_directory_the_user_cannot_write_is_fatal)
{
	ck_assert_int_eq(chmod(dir, 0555), 0);
	ck_assert_int_eq(open_in_child(dir, 1), 1);
	ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

START_TEST(opening_a_store_another_process_holds_is_fatal)
{
	struct queue_store	*mine = queue_store_open(dir);
	char			 qid[QID_SIZE];

	ck_assert_int_eq(open_in_child(dir, 0), 1);
	/* And the holder is undisturbed. */
	qid_new(qid);
	ck_assert_int_eq(msg_add(mine, qid, 10), 0);
	ck_assert_int_eq(queue_store_flush(mine), 0);
	queue_store_close(mine);
	ck_assert_int_eq(open_in_child(dir, 0), 0);
}
END_TEST

START_TEST(a_store_from_a_newer_aval_is_refused)
{
	struct queue_store	*s;

	/* A new store gets our format; we open it again without a word. */
	s = queue_store_open(dir);
	queue_store_close(s);
	ck_assert_int_eq(open_in_child(dir, 0), 0);
	raw_put(dir, "meta.db", "format", 6, "99", 2);
	harness_log_start();
	ck_assert_int_ne(open_in_child(dir, 0), 0);
	harness_log_stop();
	/* An older format: it opens (and is upgraded). */
	raw_put(dir, "meta.db", "format", 6, "1", 1);
	ck_assert_int_eq(open_in_child(dir, 0), 0);
}
END_TEST

/* --- the due index ------------------------------------------------------- */

/* Add qid with one recipient due at due_ms (and flags for the message). */
static void
due_add(struct queue_store *s, const char *qid, int64_t due_ms,
    uint32_t txflags)
{
	struct queue_env	 e;

	env_make(&e, 5, 2);
	e.rcpts[0].next_try_ms = due_ms;
	e.rcpts[1].next_try_ms = due_ms + 1000;
	e.txflags = txflags;
	ck_assert_int_eq(queue_store_add(s, qid, &e, "body\n", 5), 0);
	queue_env_clear(&e);
}

struct due_seen {
	unsigned int	 n, stop_at;
	char		 qid[16][QID_SIZE];
	int64_t		 due[16];
};

static int
due_cb(const char *qid, int64_t due, void *arg)
{
	struct due_seen	*ds = arg;

	if (ds->stop_at != 0 && ds->n + 1 == ds->stop_at)
		return 1;
	ck_assert_uint_lt(ds->n, 16);
	strlcpy(ds->qid[ds->n], qid, QID_SIZE);
	ds->due[ds->n] = due;
	ds->n++;
	return 0;
}

START_TEST(due_scan_orders_by_due_time_then_queue_id_and_moves_on)
{
	struct queue_due_pos	 pos = { -1, "" };
	struct due_seen		 ds;
	char			 a[QID_SIZE], b[QID_SIZE], c[QID_SIZE];
	int64_t			 next;

	qid_new(a);
	qid_new(b);
	qid_new(c);
	due_add(qs, a, 3000, 0);
	due_add(qs, b, 1000, 0);
	due_add(qs, c, 1000, 0);
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 5000, 10, due_cb, &ds,
	    &next), 3);
	ck_assert_str_eq(ds.qid[0], b);
	ck_assert_str_eq(ds.qid[1], c);
	ck_assert_str_eq(ds.qid[2], a);
	ck_assert_int_eq(ds.due[0], 1000);
	ck_assert_int_eq(ds.due[2], 3000);
	ck_assert_int_eq(next, -1);
	/* From where it stopped: nothing more, until something is due later. */
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 5000, 10, due_cb, &ds,
	    &next), 0);
	due_add(qs, "0000000000000A", 4000, 0);
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 5000, 10, due_cb, &ds,
	    &next), 1);
	ck_assert_str_eq(ds.qid[3], "0000000000000A");
}
END_TEST

START_TEST(due_scan_stops_at_until_at_max_and_where_the_callback_says)
{
	struct queue_due_pos	 pos = { -1, "" };
	struct due_seen		 ds;
	char			 q[4][QID_SIZE];
	int64_t			 next;
	int			 i;

	for (i = 0; i < 4; i++) {
		qid_new(q[i]);
		due_add(qs, q[i], 1000 * (i + 1), 0);
	}
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 2500, 10, due_cb, &ds,
	    &next), 2);
	ck_assert_int_eq(next, 3000);
	ck_assert_int_eq(pos.due, 2000);
	ck_assert_str_eq(pos.qid, q[1]);
	/* max: one, and the next one's time */
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 9000, 1, due_cb, &ds,
	    &next), 1);
	ck_assert_str_eq(ds.qid[2], q[2]);
	ck_assert_int_eq(next, 4000);
	/* The callback refuses the next: the position stays before it. */
	ds.stop_at = ds.n + 1;
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 9000, 10, due_cb, &ds,
	    &next), 0);
	ck_assert_str_eq(pos.qid, q[2]);
	ds.stop_at = 0;
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 9000, 10, due_cb, &ds,
	    &next), 1);
	ck_assert_str_eq(ds.qid[3], q[3]);
}
END_TEST

START_TEST(due_index_follows_updates_holds_and_removes)
{
	struct queue_due_pos	 pos = { -1, "" };
	struct queue_env	 e;
	struct due_seen		 ds;
	char			 a[QID_SIZE], b[QID_SIZE];
	unsigned long		 total, held;
	int64_t			 next;

	qid_new(a);
	qid_new(b);
	due_add(qs, a, 1000, 0);
	due_add(qs, b, 2000, 0);
	/* a is tried and deferred to later than b; its first recipient final */
	ck_assert_int_eq(queue_store_get(qs, a, &e), 1);
	e.rcpts[0].state = RCPT_DELIVERED;
	e.rcpts[1].next_try_ms = 7000;
	ck_assert_int_eq(queue_store_update(qs, a, &e), 0);
	queue_env_clear(&e);
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 9000, 10, due_cb, &ds,
	    &next), 2);
	ck_assert_str_eq(ds.qid[0], b);
	ck_assert_str_eq(ds.qid[1], a);
	ck_assert_int_eq(ds.due[1], 7000);
	/* Held: last, at QUEUE_DUE_HELD, and counted. */
	ck_assert_int_eq(queue_store_get(qs, b, &e), 1);
	e.txflags |= QUEUE_TX_HELD;
	ck_assert_int_eq(queue_store_update(qs, b, &e), 0);
	queue_env_clear(&e);
	ck_assert_int_eq(queue_store_count(qs, &total, &held), 0);
	ck_assert_uint_eq(total, 2);
	ck_assert_uint_eq(held, 1);
	pos.due = -1;
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, 9000, 10, due_cb, &ds,
	    &next), 1);
	ck_assert_str_eq(ds.qid[0], a);
	ck_assert_int_eq(next, QUEUE_DUE_HELD);
	/* Removed: gone from the index in the same transaction. */
	ck_assert_int_eq(queue_store_remove(qs, a), 0);
	ck_assert_int_eq(queue_store_remove(qs, b), 0);
	ck_assert_int_eq(queue_store_count(qs, &total, &held), 0);
	ck_assert_uint_eq(total, 0);
	ck_assert_uint_eq(held, 0);
	pos.due = -1;
	ck_assert_int_eq(queue_store_due_scan(qs, &pos, QUEUE_DUE_HELD, 10,
	    due_cb, &ds, &next), 0);
	ck_assert_int_eq(next, -1);
}
END_TEST

START_TEST(edges_and_batches_walk_in_queue_id_order)
{
	char			 q[5][QID_SIZE], pos[QID_SIZE] = "", out[QID_SIZE];
	struct seen		 s;
	int			 i;

	ck_assert_int_eq(queue_store_edge(qs, 0, out), 0);
	ck_assert_str_eq(out, "");
	for (i = 0; i < 5; i++) {
		qid_new(q[i]);
		ck_assert_int_eq(msg_add(qs, q[i], 10), 0);
	}
	ck_assert_int_eq(queue_store_edge(qs, 0, out), 0);
	ck_assert_str_eq(out, q[0]);
	ck_assert_int_eq(queue_store_edge(qs, 1, out), 0);
	ck_assert_str_eq(out, q[4]);
	memset(&s, 0, sizeof(s));
	s.store = qs;
	ck_assert_int_eq(queue_store_walk_batch(qs, pos, 2, seen_cb, &s, NULL), 2);
	ck_assert_str_eq(pos, q[1]);
	ck_assert_int_eq(queue_store_walk_batch(qs, pos, 2, seen_cb, &s, NULL), 2);
	ck_assert_int_eq(queue_store_walk_batch(qs, pos, 2, seen_cb, &s, NULL), 1);
	ck_assert_int_eq(queue_store_walk_batch(qs, pos, 2, seen_cb, &s, NULL), 0);
	ck_assert_uint_eq(s.n, 5);
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(s.qid[i], q[i]);
	seen_clear(&s);
}
END_TEST

/*
 * The largest envelope the queue can make: the most recipients, every
 * string at its longest, each with the history it may keep. It must fit
 * the store's record cap, or its outcomes could never be written.
 */
START_TEST(the_largest_envelope_with_its_history_is_stored)
{
	struct queue_env	 e, back;
	char			 qid[QID_SIZE], big[1025], addr[300];
	uint32_t		 i, j, keep;

	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	env_make(&e, 5, QUEUE_REC_MAX_RCPT);
	keep = queue_rec_history_keep(e.nrcpt);
	for (i = 0; i < e.nrcpt; i++) {
		struct queue_rcpt	*r = &e.rcpts[i];

		free(r->addr);
		snprintf(addr, sizeof(addr), "%0250u@d%u.example", i, i);
		r->addr = xstrdup(addr);
		for (j = 0; j <= keep; j++)
			queue_rcpt_outcome(r, keep, 1000 + j, "4.4.1",
			    "[2001:db8::1234:5678:9abc:def0]:25", big);
	}
	qid_new(qid);
	ck_assert_int_eq(queue_store_add(qs, qid, &e, "body\n", 5), 0);
	ck_assert_int_eq(queue_store_get(qs, qid, &back), 1);
	ck_assert_uint_eq(back.rcpts[QUEUE_REC_MAX_RCPT - 1].nhistory, keep);
	queue_env_clear(&back);
	queue_env_clear(&e);
}
END_TEST

/* A spool of format 1 has no due index: the open builds it. */
START_TEST(a_format_1_store_gets_its_due_index_built_at_open)
{
	struct queue_store	*s;
	struct queue_due_pos	 pos = { -1, "" };
	struct due_seen		 ds;
	char			 a[QID_SIZE], b[QID_SIZE], path[PATH_MAX];
	unsigned long		 total, held;
	int64_t			 next;

	qid_new(a);
	qid_new(b);
	s = queue_store_open(dir);
	due_add(s, a, 5000, 0);
	due_add(s, b, 4000, QUEUE_TX_HELD);
	queue_store_close(s);
	/* Make it as format 1 left it: no due.db, "1" in meta. */
	snprintf(path, sizeof(path), "%s/due.db", dir);
	ck_assert_int_eq(unlink(path), 0);
	raw_put(dir, "meta.db", "format", 6, "1", 1);
	harness_log_start();
	s = queue_store_open(dir);
	ck_assert(harness_log_has("upgraded from format 1 to 3"));
	harness_log_stop();
	ck_assert_int_eq(queue_store_count(s, &total, &held), 0);
	ck_assert_uint_eq(total, 2);
	ck_assert_uint_eq(held, 1);
	memset(&ds, 0, sizeof(ds));
	ck_assert_int_eq(queue_store_due_scan(s, &pos, 9000, 10, due_cb, &ds,
	    &next), 1);
	ck_assert_str_eq(ds.qid[0], a);
	queue_store_close(s);
}
END_TEST

/* A page write cut short (a full disk) leaves part of a page at the end. */
START_TEST(a_database_ending_in_part_of_a_page_is_cut_back_and_opens)
{
	struct queue_store	*s;
	char			 qid[QID_SIZE], path[PATH_MAX], junk[100];
	struct seen		 seen;
	struct stat		 st;
	int			 fd;

	qid_new(qid);
	s = queue_store_open(dir);
	ck_assert_int_eq(msg_add(s, qid, 3 * QUEUE_STORE_CHUNK), 0);
	ck_assert_int_eq(queue_store_flush(s), 0);
	queue_store_close(s);
	snprintf(path, sizeof(path), "%s/bodies.db", dir);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_APPEND), -1);
	memset(junk, 'j', sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	harness_log_start();
	s = queue_store_open(dir);
	ck_assert(harness_log_has("ends in part of a page"));
	harness_log_stop();
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size % (64 * 1024), 0);
	ck_assert_int_eq(seen_walk(s, &seen), 1);
	ck_assert(body_is_complete(s, qid, 3 * QUEUE_STORE_CHUNK));
	seen_clear(&seen);
	/* And it takes new mail. */
	qid_new(qid);
	ck_assert_int_eq(msg_add(s, qid, 100000), 0);
	ck_assert_int_eq(queue_store_flush(s), 0);
	queue_store_close(s);
}
END_TEST

START_TEST(opening_the_same_store_again_after_close_keeps_its_messages)
{
	struct queue_store	*s;
	char			 qid[QID_SIZE];
	struct seen		 seen;
	int			 i;

	qid_new(qid);
	for (i = 0; i < 3; i++) {
		s = queue_store_open(dir);
		if (i == 0)
			ck_assert_int_eq(msg_add(s, qid, 70000), 0);
		ck_assert_int_eq(seen_walk(s, &seen), 1);
		ck_assert(body_is_complete(s, qid, 70000));
		seen_clear(&seen);
		queue_store_close(s);
	}
}
END_TEST

/* --- bodies stored as they arrive ----------------------------------------- */

/*
 * Store qid's body of len bytes as a receipt does: pieces of step bytes
 * put as chunks while they come, the rest (tail bytes) with the envelope.
 * Returns the number of chunks put before the commit.
 */
static uint32_t
msg_stream(struct queue_store *s, const char *qid, size_t len, size_t step,
    size_t tail, int commit)
{
	struct queue_env	 e;
	unsigned char		*body = body_make(qid, len);
	size_t			 off = 0;
	uint32_t		 n = 0;

	while (len - off > tail) {
		size_t	 k = len - off - tail < step ? len - off - tail : step;

		ck_assert_int_eq(queue_store_chunk_put(s, qid, n++, body + off,
		    k), 0);
		off += k;
	}
	if (commit) {
		env_make(&e, len, 1);
		ck_assert_int_eq(queue_store_commit_env(s, qid, &e, n,
		    body + off, len - off), 0);
		queue_env_clear(&e);
	}
	free(body);
	return n;
}

/* The size of qid's body file, -1 when there is none. */
static long long
body_file_size(const char *qid)
{
	struct stat	 st;
	char		 path[4096];

	snprintf(path, sizeof(path), "%s/body/%s", dir, qid);
	if (stat(path, &st) == -1)
		return -1;
	return (long long)st.st_size;
}

/* 1 if reading qid's body max bytes at a time gives its len bytes. */
static int
body_reads_back(struct queue_store *s, const char *qid, size_t len,
    size_t max)
{
	unsigned char	*p = xmalloc(max);
	uint32_t	 chunk = 0, off = 0;
	size_t		 got, at = 0, i;
	int		 rc, ok = 1, rounds = 0;

	while ((rc = queue_store_body_read(s, qid, &chunk, &off, p, max,
	    &got)) == 1) {
		if (got > max || at + got > len)
			ok = 0;
		for (i = 0; ok && i < got; i++)
			if (p[i] != body_byte(qid, at + i))
				ok = 0;
		at += got;
		if (++rounds > 100000)
			break;
	}
	free(p);
	return ok && rc == 0 && at == len;
}

START_TEST(a_body_put_in_chunks_then_committed_reads_back_whole)
{
	char		 qid[QID_SIZE];
	struct seen	 seen;
	size_t		 len = 5 * QUEUE_STORE_CHUNK + 777;

	qid_new(qid);
	/* Uneven chunks, as the memory budget can make them. */
	ck_assert_uint_eq(msg_stream(qs, qid, len, QUEUE_STORE_CHUNK + 5000,
	    3000, 1), 5);
	/* A body in a file: its envelope waits for the flush that syncs it. */
	ck_assert_int_eq(body_file_size(qid), (long long)len);
	ck_assert_int_eq(queue_store_exists(qs, qid), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(queue_store_exists(qs, qid), 1);
	ck_assert_int_eq(seen_walk(qs, &seen), 1);
	ck_assert(seen.env[0].size == len);
	seen_clear(&seen);
	ck_assert(body_reads_back(qs, qid, len, 16320));
	ck_assert(body_reads_back(qs, qid, len, 7));
	ck_assert(body_reads_back(qs, qid, len, 100000));
	/* Nothing was left behind in "incoming": a sweep finds nothing. */
	ck_assert_int_eq(queue_store_sweep(qs), 0);
	ck_assert(body_reads_back(qs, qid, len, 4096));
	ck_assert_int_eq(queue_store_remove(qs, qid), 0);
	ck_assert_int_eq(seen_walk(qs, &seen), 0);
	seen_clear(&seen);
	/* The file goes only once the removal is durable. */
	ck_assert_int_eq(body_file_size(qid), (long long)len);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(body_file_size(qid), -1);
}
END_TEST

START_TEST(a_removed_body_file_is_emptied_kept_and_taken_over_by_the_next)
{
	char		 a[QID_SIZE], b[QID_SIZE], path[4096];
	struct stat	 st;
	size_t		 big = 3 * QUEUE_STORE_CHUNK + 99;

	qid_new(a);
	ck_assert_uint_eq(msg_stream(qs, a, big, QUEUE_STORE_CHUNK, 99, 1), 3);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(queue_store_remove(qs, a), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	/* Gone under its name, kept empty as a spare. */
	ck_assert_int_eq(body_file_size(a), -1);
	snprintf(path, sizeof(path), "%s/body/spare-0", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	/* A smaller body takes it over and reads back as itself alone. */
	qid_new(b);
	ck_assert_uint_eq(msg_stream(qs, b, QUEUE_STORE_CHUNK + 5,
	    QUEUE_STORE_CHUNK, 5, 1), 1);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(body_file_size(b), (long long)QUEUE_STORE_CHUNK + 5);
	ck_assert(body_reads_back(qs, b, QUEUE_STORE_CHUNK + 5, 4096));
	/* A spare left at close is gone at the next open. */
	ck_assert_int_eq(queue_store_remove(qs, b), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	snprintf(path, sizeof(path), "%s/body/spare-1", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	queue_store_close(qs);
	qs = queue_store_open(dir);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(queue_store_sweep(qs), 0);
}
END_TEST

START_TEST(a_body_file_given_out_is_never_reused_while_it_is_open)
{
	char		 a[QID_SIZE], b[QID_SIZE], c[QID_SIZE], path[4096];
	unsigned char	 p[64];
	struct stat	 st;
	size_t		 big = 2 * QUEUE_STORE_CHUNK + 7;
	int		 fd;

	qid_new(a);
	qid_new(b);
	ck_assert_uint_eq(msg_stream(qs, a, big, QUEUE_STORE_CHUNK, 7, 1), 2);
	ck_assert_int_eq(msg_add(qs, b, 100), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	/* A body kept whole has no file to give out. */
	ck_assert_int_eq(queue_store_body_open(qs, b), -2);
	fd = queue_store_body_open(qs, a);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, p, sizeof(p), 0), (ssize_t)sizeof(p));
	ck_assert_int_eq(p[0], body_byte(a, 0));
	/* Removed while a reader has it: unlinked, not kept as a spare. */
	ck_assert_int_eq(queue_store_remove(qs, a), 0);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(body_file_size(a), -1);
	snprintf(path, sizeof(path), "%s/body/spare-0", dir);
	ck_assert_int_eq(stat(path, &st), -1);
	/* A new body gets a file of its own; the reader still reads a. */
	qid_new(c);
	ck_assert_uint_eq(msg_stream(qs, c, big, QUEUE_STORE_CHUNK, 7, 1), 2);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(pread(fd, p, sizeof(p), QUEUE_STORE_CHUNK),
	    (ssize_t)sizeof(p));
	ck_assert_int_eq(p[0], body_byte(a, QUEUE_STORE_CHUNK));
	close(fd);
	ck_assert_int_eq(queue_store_body_open(qs, a), -1);
}
END_TEST

START_TEST(a_queue_id_in_use_fails_its_commit_not_the_flush)
{
	struct queue_env	 e;
	char			 a[QID_SIZE], b[QID_SIZE];
	unsigned char		 p[QUEUE_STORE_CHUNK];

	qid_new(a);
	qid_new(b);
	ck_assert_int_eq(msg_add(qs, a, 100), 0);
	ck_assert_uint_eq(msg_stream(qs, b, QUEUE_STORE_CHUNK + 1,
	    QUEUE_STORE_CHUNK, 1, 1), 1);
	/* a again, in chunks: refused at its commit, the file dropped. */
	memset(p, 'x', sizeof(p));
	ck_assert_int_eq(queue_store_chunk_put(qs, a, 0, p, sizeof(p)), 0);
	env_make(&e, sizeof(p), 1);
	ck_assert_int_eq(queue_store_commit_env(qs, a, &e, 1, NULL, 0), -1);
	queue_env_clear(&e);
	ck_assert_int_eq(queue_store_drop(qs, a), 0);
	ck_assert_int_eq(body_file_size(a), -1);
	/* The others are flushed as if nothing had happened. */
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(queue_store_exists(qs, b), 1);
	ck_assert(body_reads_back(qs, a, 100, 64));
}
END_TEST

START_TEST(a_body_file_that_cannot_be_synced_never_gets_its_envelope)
{
	char		 a[QID_SIZE], b[QID_SIZE], path[4096];

	qid_new(a);
	qid_new(b);
	ck_assert_uint_eq(msg_stream(qs, a, 2 * QUEUE_STORE_CHUNK + 10,
	    QUEUE_STORE_CHUNK, 10, 1), 2);
	ck_assert_int_eq(msg_add(qs, b, 100), 0);
	/* The file vanishes before the flush: nothing to sync. */
	snprintf(path, sizeof(path), "%s/body/%s", dir, a);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(queue_store_flush(qs), -1);
	ck_assert_int_eq(queue_store_exists(qs, a), 0);
	/* What was committed whole is there; the next flush is clean. */
	ck_assert_int_eq(queue_store_flush(qs), 0);
	ck_assert_int_eq(queue_store_exists(qs, a), 0);
	ck_assert_int_eq(queue_store_exists(qs, b), 1);
}
END_TEST

START_TEST(the_sweep_leaves_what_is_not_a_queue_id_and_what_a_message_names)
{
	char	 a[QID_SIZE], b[QID_SIZE], path[4096];
	FILE	*f;

	qid_new(a);
	qid_new(b);
	ck_assert_uint_eq(msg_stream(qs, a, QUEUE_STORE_CHUNK + 1,
	    QUEUE_STORE_CHUNK, 1, 1), 1);
	ck_assert_int_eq(queue_store_flush(qs), 0);
	/* b: a file no message names; and a stranger in the folder. */
	ck_assert_uint_eq(msg_stream(qs, b, QUEUE_STORE_CHUNK,
	    QUEUE_STORE_CHUNK, 0, 0), 1);
	snprintf(path, sizeof(path), "%s/body/not-a-qid", dir);
	ck_assert((f = fopen(path, "w")) != NULL);
	fclose(f);
	harness_log_start();
	ck_assert_int_eq(queue_store_sweep(qs), 1);
	ck_assert(harness_log_has("left in place"));
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(body_file_size(b), -1);
	ck_assert(body_reads_back(qs, a, QUEUE_STORE_CHUNK + 1, 5000));
}
END_TEST

START_TEST(a_body_file_committed_but_not_flushed_is_gone_after_sigkill)
{
	struct queue_store	*child;
	char			 a[QID_SIZE], b[QID_SIZE];
	pid_t			 pid;

	qid_new(a);
	qid_new(b);
	if ((pid = fork()) == 0) {
		child = queue_store_open(dir);
		/* b in a file and flushed; a committed, never flushed. */
		(void)msg_stream(child, b, 2 * QUEUE_STORE_CHUNK,
		    QUEUE_STORE_CHUNK, 0, 1);
		if (queue_store_flush(child) == -1)
			_exit(2);
		(void)msg_stream(child, a, 2 * QUEUE_STORE_CHUNK,
		    QUEUE_STORE_CHUNK, 0, 1);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_ne(pid, -1);
	child_assert_killed(pid);

	qs = queue_store_open(dir);
	ck_assert_int_eq(queue_store_exists(qs, a), 0);
	ck_assert_int_eq(queue_store_sweep(qs), 1);
	ck_assert_int_eq(body_file_size(a), -1);
	ck_assert_int_eq(queue_store_exists(qs, b), 1);
	ck_assert(body_reads_back(qs, b, 2 * QUEUE_STORE_CHUNK, 65536));
}
END_TEST

START_TEST(reading_empty_and_whole_bodies_ends_where_they_end)
{
	char		 a[QID_SIZE], b[QID_SIZE], c[QID_SIZE];
	unsigned char	 p[10];
	uint32_t	 chunk = 0, off = 0;
	size_t		 got;

	qid_new(a);
	ck_assert_int_eq(msg_add(qs, a, 0), 0);
	ck_assert_int_eq(queue_store_body_read(qs, a, &chunk, &off, p,
	    sizeof(p), &got), 0);
	ck_assert_uint_eq(got, 0);
	qid_new(b);
	ck_assert_int_eq(msg_add(qs, b, 2 * QUEUE_STORE_CHUNK), 0);
	ck_assert(body_reads_back(qs, b, 2 * QUEUE_STORE_CHUNK, 16320));
	/* A message that is not there has no chunk 0: an error, not an end. */
	qid_new(c);
	chunk = 0;
	off = 0;
	ck_assert_int_eq(queue_store_body_read(qs, c, &chunk, &off, p,
	    sizeof(p), &got), -1);
}
END_TEST

START_TEST(a_dropped_receipt_leaves_nothing)
{
	char		 a[QID_SIZE], b[QID_SIZE];
	struct seen	 seen;
	unsigned char	 p[10];
	uint32_t	 chunk = 0, off = 0;
	size_t		 got;

	qid_new(a);
	qid_new(b);
	ck_assert_int_eq(msg_add(qs, b, 1000), 0);
	ck_assert_uint_eq(msg_stream(qs, a, 3 * QUEUE_STORE_CHUNK,
	    QUEUE_STORE_CHUNK, 0, 0), 3);
	ck_assert_int_eq(queue_store_drop(qs, a), 0);
	ck_assert_int_eq(queue_store_body_read(qs, a, &chunk, &off, p,
	    sizeof(p), &got), -1);
	ck_assert_int_eq(queue_store_sweep(qs), 0);
	ck_assert_int_eq(seen_walk(qs, &seen), 1);
	ck_assert_str_eq(seen.qid[0], b);
	seen_clear(&seen);
	ck_assert(body_reads_back(qs, b, 1000, 333));
}
END_TEST

START_TEST(a_receipt_cut_off_by_sigkill_is_swept_at_the_next_open)
{
	struct queue_store	*child;
	char			 a[QID_SIZE], b[QID_SIZE];
	struct seen		 seen;
	unsigned char		 p[10];
	uint32_t		 chunk = 0, off = 0;
	size_t			 got;
	pid_t			 pid;

	qid_new(a);
	qid_new(b);
	if ((pid = fork()) == 0) {
		child = queue_store_open(dir);
		/* b committed and flushed; a halfway in, flushed too. */
		if (msg_add(child, b, 5000) == -1)
			_exit(2);
		(void)msg_stream(child, a, 4 * QUEUE_STORE_CHUNK,
		    QUEUE_STORE_CHUNK, 0, 0);
		if (queue_store_flush(child) == -1)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_ne(pid, -1);
	child_assert_killed(pid);

	qs = queue_store_open(dir);
	ck_assert_int_eq(queue_store_sweep(qs), 1);
	ck_assert_int_eq(queue_store_body_read(qs, a, &chunk, &off, p,
	    sizeof(p), &got), -1);
	ck_assert_int_eq(seen_walk(qs, &seen), 1);
	ck_assert_str_eq(seen.qid[0], b);
	seen_clear(&seen);
	ck_assert(body_reads_back(qs, b, 5000, 4096));
	ck_assert_int_eq(queue_store_sweep(qs), 0);
}
END_TEST

/* --- crashes -------------------------------------------------------------- */

START_TEST(a_flushed_message_survives_sigkill_before_close)
{
	struct queue_store	*child;
	char			 qid[QID_SIZE];
	size_t			 len = 3 * QUEUE_STORE_CHUNK + 1234;
	struct seen		 s;
	pid_t			 pid;

	qid_new(qid);
	if ((pid = fork()) == 0) {
		child = queue_store_open(dir);
		if (msg_add(child, qid, len) == -1 ||
		    queue_store_flush(child) == -1)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_ne(pid, -1);
	child_assert_killed(pid);

	qs = queue_store_open(dir);
	ck_assert_int_eq(seen_walk(qs, &s), 1);
	ck_assert_str_eq(s.qid[0], qid);
	ck_assert(s.env[0].size == len);
	ck_assert_str_eq(s.env[0].rcpts[0].addr, "user0@uni-b.es");
	ck_assert(body_is_complete(qs, qid, len));
	seen_clear(&s);
}
END_TEST

START_TEST(a_flushed_remove_survives_sigkill_before_close)
{
	struct queue_store	*child;
	char			 a[QID_SIZE], b[QID_SIZE];
	struct buf		*out = buf_new(16, BODY_CAP);
	struct seen		 s;
	pid_t			 pid;

	qid_new(a);
	qid_new(b);
	if ((pid = fork()) == 0) {
		child = queue_store_open(dir);
		if (msg_add(child, a, 200000) == -1 ||
		    msg_add(child, b, 200000) == -1 ||
		    queue_store_flush(child) == -1 ||
		    queue_store_remove(child, a) == -1 ||
		    queue_store_flush(child) == -1)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_ne(pid, -1);
	child_assert_killed(pid);

	qs = queue_store_open(dir);
	ck_assert_int_eq(seen_walk(qs, &s), 1);
	ck_assert_str_eq(s.qid[0], b);
	ck_assert_int_eq(queue_store_body_chunk(qs, a, 0, out), 0);
	ck_assert(body_is_complete(qs, b, 200000));
	seen_clear(&s);
	buf_free(out);
}
END_TEST

/*
 * Loop test: _i picks a pattern of body sizes. Unflushed messages may or
 * may not be there, but each one that is has its whole body. 60 messages
 * of 100 to 500 KB overflow the 4 MB log buffer, so the commits that fit
 * reach the log file without a flush and are recovered, and the log ends
 * wherever the buffer was last written, which with these sizes is in the
 * middle of some message's records: that message must be absent.
 */
#define UNFLUSHED_N	60

static size_t
unflushed_len(int pattern, size_t i)
{
	static const size_t	 base[] = {
		150000, 250000, 100003, 3 * 65536
	};

	return base[pattern] + i * (size_t)(4099 + pattern * 1000);
}

START_TEST(unflushed_messages_are_whole_or_absent_after_sigkill)
{
	struct queue_store	*child;
	char			 qid[UNFLUSHED_N][QID_SIZE];
	struct seen		 s;
	size_t			 i;
	pid_t			 pid;

	for (i = 0; i < UNFLUSHED_N; i++)
		qid_new(qid[i]);
	if ((pid = fork()) == 0) {
		child = queue_store_open(dir);
		for (i = 0; i < UNFLUSHED_N; i++)
			if (msg_add(child, qid[i], unflushed_len(_i, i)) == -1)
				_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_ne(pid, -1);
	child_assert_killed(pid);

	qs = queue_store_open(dir);
	ck_assert_int_ge(seen_walk(qs, &s), 0);
	ck_assert_uint_le(s.n, UNFLUSHED_N);
	for (i = 0; i < UNFLUSHED_N; i++) {
		long	 j = seen_find(&s, qid[i]);
		struct buf	*b = buf_new(16, BODY_CAP);

		if (j >= 0) {
			ck_assert(s.env[j].size == unflushed_len(_i, i));
			ck_assert_msg(body_is_complete(qs, qid[i],
			    unflushed_len(_i, i)), "%s is half-stored",
			    qid[i]);
		} else
			ck_assert_msg(queue_store_body_chunk(qs, qid[i], 0,
			    b) == 0, "%s has a body but no envelope", qid[i]);
		buf_free(b);
	}
	seen_clear(&s);
}
END_TEST

/*
 * Loop test: _i picks how long after the first acknowledgement the child
 * dies. The child adds messages of varied sizes forever, removes some of
 * them again, flushes after every third, and then reports the ones it
 * kept down a pipe: those are the acknowledged ones. After the kill,
 * every acknowledged message must be there whole, and every other one
 * whole or absent.
 */
START_TEST(a_kill_at_any_instant_loses_no_acknowledged_message)
{
	struct queue_store	*child;
	char			 pending[3][QID_SIZE];
	int			 removed[3];
	char			 line[QID_SIZE + 1];
	struct seen		 s;
	FILE			*acks;
	size_t			 len, i, nacked = 0;
	int			 p[2];
	long			 j;
	pid_t			 pid;
	unsigned int		 k;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		child = queue_store_open(dir);
		for (k = 0;; k++) {
			qid_new(pending[k % 3]);
			removed[k % 3] = 0;
			len = (k * 37813u) % (3 * QUEUE_STORE_CHUNK);
			if (msg_add(child, pending[k % 3], len) == -1)
				_exit(2);
			if (k % 7 == 3) {
				if (queue_store_remove(child,
				    pending[k % 3]) == -1)
					_exit(2);
				removed[k % 3] = 1;
			}
			if (k % 3 != 2)
				continue;
			if (queue_store_flush(child) == -1)
				_exit(2);
			for (i = 0; i < 3; i++) {
				if (removed[i])
					continue;
				memcpy(line, pending[i], QID_LEN);
				line[QID_LEN] = '\n';
				if (write(p[1], line, QID_SIZE) != QID_SIZE)
					_exit(2);
			}
		}
	}
	ck_assert_int_ne(pid, -1);
	close(p[1]);
	acks = fdopen(p[0], "r");
	ck_assert_ptr_nonnull(acks);

	/* Wait for the first acknowledgement, then let it run a while. */
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), acks));
	usleep(20000 + (useconds_t)_i * 90000);
	kill(pid, SIGKILL);
	child_assert_killed(pid);

	qs = queue_store_open(dir);
	ck_assert_int_ge(seen_walk(qs, &s), 0);
	for (i = 0; i < s.n; i++)
		ck_assert_msg(body_is_complete(qs, s.qid[i], s.env[i].size),
		    "%s is half-stored", s.qid[i]);
	do {
		ck_assert_uint_eq(strlen(line), QID_LEN + 1);
		line[QID_LEN] = '\0';
		j = seen_find(&s, line);
		ck_assert_msg(j >= 0, "acknowledged %s is lost", line);
		nacked++;
	} while (fgets(line, sizeof(line), acks) != NULL);
	ck_assert_uint_gt(nacked, 0);
	ck_assert_uint_ge(s.n, nacked);
	fclose(acks);
	seen_clear(&s);
}
END_TEST

Suite *
queue_store_suite(void)
{
	Suite	*s = suite_create("queue_store");
	TCase	*tc;

	tc = tcase_create("store");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_add_test(tc, add_then_walk_finds_the_message_and_its_envelope);
	tcase_add_test(tc, walk_of_an_empty_store_finds_nothing);
	tcase_add_test(tc, walk_returns_messages_in_queue_id_order);
	tcase_add_test(tc,
	    add_refuses_a_queue_id_that_exists_and_keeps_the_first);
	tcase_add_test(tc, add_refuses_an_invalid_queue_id);
	tcase_add_test(tc,
	    add_refuses_an_envelope_that_cannot_be_encoded_and_stores_nothing);
	tcase_add_test(tc,
	    a_body_of_three_and_a_half_chunks_reads_back_in_four_chunks);
	tcase_add_test(tc, a_body_of_exactly_two_chunks_has_no_empty_third);
	tcase_add_test(tc, an_empty_body_reads_back_as_one_empty_chunk);
	tcase_add_test(tc, reading_a_chunk_into_a_too_small_buffer_fails);
	tcase_add_test(tc, reading_a_chunk_of_an_unknown_message_finds_nothing);
	tcase_add_test(tc,
	    remove_deletes_the_envelope_and_every_chunk_of_that_message_only);
	tcase_add_test(tc, remove_of_an_unknown_message_fails);
	tcase_add_test(tc, update_persists_across_close_and_reopen);
	tcase_add_test(tc,
	    update_of_an_unknown_message_fails_and_creates_nothing);
	tcase_add_test(tc, walk_skips_and_keeps_records_that_do_not_decode);
	tcase_add_test(tc,
	    walk_lets_the_callback_remove_each_message_as_it_goes);
	tcase_add_test(tc,
	    a_body_of_forty_megabytes_adds_and_removes_in_one_transaction);
	tcase_add_test(tc, close_of_null_is_harmless);
	tcase_add_test(tc,
	    a_body_put_in_chunks_then_committed_reads_back_whole);
	tcase_add_test(tc, reading_empty_and_whole_bodies_ends_where_they_end);
	tcase_add_test(tc, a_dropped_receipt_leaves_nothing);
	tcase_add_test(tc,
	    a_removed_body_file_is_emptied_kept_and_taken_over_by_the_next);
	tcase_add_test(tc,
	    a_body_file_given_out_is_never_reused_while_it_is_open);
	tcase_add_test(tc,
	    a_queue_id_in_use_fails_its_commit_not_the_flush);
	tcase_add_test(tc,
	    a_body_file_that_cannot_be_synced_never_gets_its_envelope);
	tcase_add_test(tc,
	    the_sweep_leaves_what_is_not_a_queue_id_and_what_a_message_names);
	tcase_add_test(tc,
	    due_scan_orders_by_due_time_then_queue_id_and_moves_on);
	tcase_add_test(tc,
	    due_scan_stops_at_until_at_max_and_where_the_callback_says);
	tcase_add_test(tc, due_index_follows_updates_holds_and_removes);
	tcase_add_test(tc, edges_and_batches_walk_in_queue_id_order);
	tcase_add_test(tc, the_largest_envelope_with_its_history_is_stored);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_set_timeout(tc, 60);
	tcase_add_exit_test(tc, opening_a_missing_directory_is_fatal, 1);
	suite_add_tcase(s, tc);

	tc = tcase_create("open in a directory");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, store_dir_setup, store_teardown);
	tcase_add_test(tc, opening_a_path_that_is_not_a_directory_is_fatal);
	tcase_add_test(tc, opening_a_directory_the_user_cannot_write_is_fatal);
	tcase_add_test(tc, opening_a_store_another_process_holds_is_fatal);
	tcase_add_test(tc, a_store_from_a_newer_aval_is_refused);
	tcase_add_test(tc, a_format_1_store_gets_its_due_index_built_at_open);
	tcase_add_test(tc,
	    a_database_ending_in_part_of_a_page_is_cut_back_and_opens);
	tcase_add_test(tc,
	    opening_the_same_store_again_after_close_keeps_its_messages);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, store_dir_setup, store_teardown);
	tcase_add_test(tc, a_flushed_message_survives_sigkill_before_close);
	tcase_add_test(tc, a_flushed_remove_survives_sigkill_before_close);
	tcase_add_test(tc,
	    a_receipt_cut_off_by_sigkill_is_swept_at_the_next_open);
	tcase_add_test(tc,
	    a_body_file_committed_but_not_flushed_is_gone_after_sigkill);
	tcase_add_loop_test(tc,
	    unflushed_messages_are_whole_or_absent_after_sigkill, 0, 4);
	tcase_add_loop_test(tc,
	    a_kill_at_any_instant_loses_no_acknowledged_message, 0, 5);
	suite_add_tcase(s, tc);
	return s;
}
