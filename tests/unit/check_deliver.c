/*
 * check_deliver - SMTP replies, dot-stuffing, the connection cache, Maildir
 * delivery, and SMTP sessions against a scripted server on loopback
 *
 * The scripted server runs in the test's own event loop (an evconnlistener
 * on 127.0.0.1, port chosen by the kernel) and answers each command from a
 * small script: RCPT replies depend on the recipient's local part ("ok",
 * "later", "no", "long"), the rest on the test's settings.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_cache.h"
#include "local/local_maildir.h"
#include "deliver/deliver_reply.h"
#include "deliver/deliver_session.h"
#include "tests/unit/harness.h"

/* --- the reply parser --------------------------------------------------- */

struct reply_case {
	const char		*lines[4];
	size_t			 longlen;	/* >0: pad lines[0] to this */
	size_t			 repeat;	/* >0: lines[0] n times */
	enum deliver_reply_rc	 rc;
	int			 code;
	const char		*dsn;
	const char		*text;		/* NULL: not checked */
	const char		*why;
};

/* The lines come last, as the braces hold commas. */
#define DONE(code, dsn, text, ...) \
	{ { __VA_ARGS__ }, 0, 0, DELIVER_R_DONE, code, dsn, text, NULL }
#define ERR(why, ...) \
	{ { __VA_ARGS__ }, 0, 0, DELIVER_R_ERROR, 0, NULL, NULL, why }

static const struct reply_case reply_cases[] = {
	DONE(250, "2.0.0",
	    "250 2.0.0 Ok: queued as 4F1A",
	    "250 2.0.0 Ok: queued as 4F1A"),
	DONE(250, "2.0.0", "250-mx.example 250-PIPELINING 250 SIZE 1000",
	    "250-mx.example", "250-PIPELINING", "250 SIZE 1000"),
	DONE(550, "5.1.1",
	    "550-5.1.1 no such user 550 5.1.1 here",
	    "550-5.1.1 no such user", "550 5.1.1 here"),
	DONE(550, "5.0.0", "550 no enhanced code",
	    "550 no enhanced code"),
	DONE(451, "4.7.1", NULL,
	    "451 4.7.1 greylisted"),
	DONE(250, "2.0.0", "250",
	    "250"),
	DONE(250, "2.1.5", "250 2.1.5",
	    "250 2.1.5"),
	DONE(250, "2.0.0", NULL,
	    "250 2.1.5x ok"),
	DONE(250, "2.0.0", NULL,
	    "250 2.1234.5 ok"),
	DONE(550, "5.0.0", NULL,
	    "550 4.1.1 class disagrees"),
	DONE(552, "5.3.4", NULL,
	    "552 5.3.4 too big"),
	DONE(421, "4.4.2", NULL,
	    "421 4.4.2 bye"),
	DONE(354, "3.0.0", NULL,
	    "354 End data with <CR><LF>.<CR><LF>"),
	DONE(250, "2.0.0", "250 ok??? bad",
	    "250 ok\x01\x7f\xff bad"),
	{ { "250-first", "250-second" }, 0, 0, DELIVER_R_MORE, 250, NULL,
	    NULL, NULL },
	ERR("inconsistent reply codes",
	    "451-4.3.0 one", "452 4.3.0 two"),
	ERR("malformed reply",
	    "hello there"),
	ERR("malformed reply",
	    "25"),
	ERR("malformed reply",
	    ""),
	ERR("malformed reply",
	    "250x ok"),
	ERR("malformed reply",
	    "150 early"),
	ERR("malformed reply",
	    "650 late"),
	ERR("malformed reply",
	    "2a0 ok"),
	ERR("malformed reply",
	    "250-ok", "garbage"),
	{ { "250 " }, DELIVER_REPLY_LINE_MAX, 0, DELIVER_R_DONE, 250, "2.0.0",
	    NULL, NULL },
	{ { "250 " }, DELIVER_REPLY_LINE_MAX + 1, 0, DELIVER_R_ERROR, 0, NULL,
	    NULL, "reply line too long" },
	{ { "250-" }, 2000, 40, DELIVER_R_ERROR, 0, NULL, NULL,
	    "reply too long" },
	{ { "250-a", "250 b" }, 0, 100, DELIVER_R_DONE, 250, "2.0.0", NULL,
	    NULL },
};

START_TEST(reply_parses_as_the_table_says)
{
	const struct reply_case	*c = &reply_cases[_i];
	struct deliver_reply	 r;
	enum deliver_reply_rc	 rc = DELIVER_R_MORE;
	char			 line[DELIVER_REPLY_LINE_MAX + 16];
	char			 text[DELIVER_TEXT_MAX];
	size_t			 i, n;

	deliver_reply_init(&r);
	if (c->longlen > 0 || c->repeat > 0) {
		n = c->longlen > 0 ? c->longlen : strlen(c->lines[0]);
		memset(line, 'x', n);
		memcpy(line, c->lines[0], strlen(c->lines[0]));
		for (i = 0; i < (c->repeat ? c->repeat : 1); i++)
			if ((rc = deliver_reply_feed(&r, line, n)) !=
			    DELIVER_R_MORE)
				break;
		if (rc == DELIVER_R_MORE && c->lines[1] != NULL)
			rc = deliver_reply_feed(&r, c->lines[1],
			    strlen(c->lines[1]));
	} else {
		for (i = 0; i < 4 && c->lines[i] != NULL; i++)
			if ((rc = deliver_reply_feed(&r, c->lines[i],
			    strlen(c->lines[i]))) != DELIVER_R_MORE)
				break;
	}
	ck_assert_int_eq(rc, c->rc);
	if (c->rc == DELIVER_R_ERROR) {
		ck_assert_str_eq(r.why, c->why);
	} else {
		ck_assert_int_eq(r.code, c->code);
		if (c->dsn != NULL)
			ck_assert_str_eq(r.dsn, c->dsn);
		if (c->text != NULL) {
			deliver_reply_text(&r, text, sizeof(text));
			ck_assert_str_eq(text, c->text);
		}
	}
	deliver_reply_clear(&r);
}
END_TEST

START_TEST(reply_starts_afresh_after_each_reply_and_cuts_long_texts)
{
	struct deliver_reply	 r;
	char			 text[12];

	deliver_reply_init(&r);
	ck_assert_int_eq(deliver_reply_feed(&r, "550 5.1.1 first", 15),
	    DELIVER_R_DONE);
	/* No reset needed: the next line starts the next reply. */
	ck_assert_int_eq(deliver_reply_feed(&r, "250-second", 10),
	    DELIVER_R_MORE);
	ck_assert_int_eq(deliver_reply_feed(&r, "250 ok", 6), DELIVER_R_DONE);
	ck_assert_int_eq(r.code, 250);
	ck_assert_str_eq(r.dsn, "2.0.0");
	ck_assert_uint_eq(r.nlines, 2);
	deliver_reply_text(&r, text, sizeof(text));
	ck_assert_str_eq(text, "250-seco...");
	deliver_reply_reset(&r);
	ck_assert_uint_eq(r.nlines, 0);
	ck_assert_int_eq(deliver_reply_feed(&r, "421-a", 5), DELIVER_R_MORE);
	deliver_reply_reset(&r);
	ck_assert_int_eq(deliver_reply_feed(&r, "250 b", 5), DELIVER_R_DONE);
	deliver_reply_clear(&r);
}
END_TEST

struct ehlo_case {
	const char		*lines[6];
	int			 flags;
	unsigned long long	 size;
};

static const struct ehlo_case ehlo_cases[] = {
	{ { "250-mx.example hello", "250-PIPELINING", "250-SIZE 10240000",
	    "250-8BITMIME", "250 STARTTLS" },
	    DELIVER_EHLO_PIPELINING | DELIVER_EHLO_SIZE |
	    DELIVER_EHLO_8BITMIME | DELIVER_EHLO_STARTTLS, 10240000 },
	{ { "250-mx", "250-size", "250 pipelining" },
	    DELIVER_EHLO_SIZE | DELIVER_EHLO_PIPELINING, 0 },
	{ { "250-mx", "250-SIZE abc", "250 PIPELININGX" },
	    DELIVER_EHLO_SIZE, 0 },
	{ { "250-mx", "250 SIZE 99999999999999999999999999" },
	    DELIVER_EHLO_SIZE, 0 },
	{ { "250 mx PIPELINING" }, 0, 0 },
	{ { "250-PIPELINING", "250 AUTH PLAIN" }, 0, 0 },
	{ { "250-mx", "250-AUTH PLAIN LOGIN", "250 8BITMIME" },
	    DELIVER_EHLO_8BITMIME, 0 },
};

START_TEST(ehlo_extensions_are_read)
{
	const struct ehlo_case	*c = &ehlo_cases[_i];
	struct deliver_reply	 r;
	struct deliver_ehlo	 e;
	size_t			 i;

	deliver_reply_init(&r);
	for (i = 0; c->lines[i] != NULL; i++)
		deliver_reply_feed(&r, c->lines[i], strlen(c->lines[i]));
	deliver_reply_ehlo(&r, &e);
	ck_assert_int_eq(e.flags, c->flags);
	ck_assert_uint_eq(e.size, c->size);
	deliver_reply_clear(&r);
}
END_TEST

/* --- dot-stuffing --------------------------------------------------------- */

struct stuff_case {
	const char	*pieces[4];
	const char	*out;
};

static const struct stuff_case stuff_cases[] = {
	{ { "a\r\nb\r\n" }, "a\r\nb\r\n.\r\n" },
	{ { ".a\r\n" }, "..a\r\n.\r\n" },
	{ { "a\r\n.b\r\n..c\r\n" }, "a\r\n..b\r\n...c\r\n.\r\n" },
	{ { "a\r\n", ".b\r\n" }, "a\r\n..b\r\n.\r\n" },
	{ { "a\r", "\n.b" }, "a\r\n..b\r\n.\r\n" },
	{ { "abc" }, "abc\r\n.\r\n" },
	{ { "" }, ".\r\n" },
	{ { "x.\r\n.\r\n" }, "x.\r\n..\r\n.\r\n" },
	{ { "a\r\n." }, "a\r\n..\r\n.\r\n" },
	{ { "a.b", "", ".c\r\n" }, "a.b.c\r\n.\r\n" },
	{ { ".", ".", ".\r\n" }, "....\r\n.\r\n" },
	{ { "\r\n.\r\n" }, "\r\n..\r\n.\r\n" },
};

START_TEST(body_is_dot_stuffed)
{
	const struct stuff_case	*c = &stuff_cases[_i];
	struct evbuffer		*out = evbuffer_new();
	size_t			 i, n;
	int			 bol = 1;
	char			*got;

	for (i = 0; i < 4 && c->pieces[i] != NULL; i++)
		deliver_session_dotstuff(out, c->pieces[i],
		    strlen(c->pieces[i]), &bol);
	deliver_session_dotend(out, bol);
	n = evbuffer_get_length(out);
	got = xmalloc(n + 1);
	evbuffer_remove(out, got, n);
	got[n] = '\0';
	ck_assert_str_eq(got, c->out);
	free(got);
	evbuffer_free(out);
}
END_TEST

/* --- the connection cache ------------------------------------------------- */

static int	cache_evicted;
static void	*cache_evicted_conn;

static void
cache_evict(void *conn, void *arg)
{
	(void)arg;
	cache_evicted++;
	cache_evicted_conn = conn;
}

START_TEST(cache_keeps_a_few_per_destination)
{
	struct event_base	*base = event_base_new();
	struct deliver_cache	*c;
	int			 a, b, d, e, f;

	c = deliver_cache_new(base, 2, 3, 5000, cache_evict, NULL);
	ck_assert_int_eq(deliver_cache_put(c, "[127.0.0.1]:25", &a), 1);
	ck_assert_int_eq(deliver_cache_put(c, "[127.0.0.1]:25", &b), 1);
	ck_assert_int_eq(deliver_cache_put(c, "[127.0.0.1]:25", &d), 0);
	ck_assert_int_eq(deliver_cache_put(c, "[::1]:25", &d), 1);
	ck_assert_int_eq(deliver_cache_put(c, "[127.0.0.2]:25", &e), 0);
	ck_assert_uint_eq(deliver_cache_count(c, NULL), 3);
	ck_assert_uint_eq(deliver_cache_count(c, "[127.0.0.1]:25"), 2);
	/* Newest first. */
	ck_assert_ptr_eq(deliver_cache_take(c, "[127.0.0.1]:25"), &b);
	ck_assert_int_eq(deliver_cache_remove(c, &a), 1);
	ck_assert_int_eq(deliver_cache_remove(c, &a), 0);
	ck_assert_ptr_null(deliver_cache_take(c, "[127.0.0.1]:25"));
	ck_assert_ptr_null(deliver_cache_take(c, "[127.0.0.1]:26"));
	ck_assert_int_eq(deliver_cache_put(c, "[127.0.0.2]:25", &f), 1);
	ck_assert_int_eq(cache_evicted, 0);
	deliver_cache_free(c);
	event_base_free(base);
}
END_TEST

START_TEST(cache_evicts_connections_idle_too_long)
{
	struct event_base	*base = event_base_new();
	struct deliver_cache	*c;
	struct timeval		 tv = { 0, 300 * 1000 };
	int			 a;

	cache_evicted = 0;
	c = deliver_cache_new(base, 4, 4, 50, cache_evict, NULL);
	ck_assert_int_eq(deliver_cache_put(c, "[127.0.0.1]:25", &a), 1);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(cache_evicted, 1);
	ck_assert_ptr_eq(cache_evicted_conn, &a);
	ck_assert_uint_eq(deliver_cache_count(c, NULL), 0);
	deliver_cache_free(c);
	event_base_free(base);
}
END_TEST

/* --- jobs for the transports ---------------------------------------------- */

/*
 * The body source of the test jobs: a copy of the body, served from
 * memory test_piece bytes at a time (an odd size, so CRLFs and line-start
 * dots fall across pieces), at once, or from the event loop when
 * test_async is set (as the queue link answers), or failing ("unreadable")
 * at byte test_fail_at when that is set.
 */
struct test_body {
	struct deliver_body_src	 src;
	struct deliver_job	*job;
	char			*data;
	size_t			 len;
	TAILQ_ENTRY(test_body)	 entry;
};
static TAILQ_HEAD(, test_body)	 test_bodies =
				    TAILQ_HEAD_INITIALIZER(test_bodies);
static size_t			 test_piece = 7;
static struct event_base	*test_async;
static long			 test_fail_at = -1;
static unsigned int		 test_reads;

struct test_answer {
	struct deliver_job	*job;
	uint32_t		 off;
};

static void
test_body_answer(struct test_body *tb, uint32_t off)
{
	size_t	 n;

	if (test_fail_at >= 0 && off >= (size_t)test_fail_at) {
		ck_assert_int_eq(deliver_body_piece(tb->job,
		    DELIVER_PIECE_ERROR, 0, 0, NULL, 0), 0);
		return;
	}
	if (off >= tb->len) {
		ck_assert_int_eq(deliver_body_piece(tb->job, DELIVER_PIECE_END,
		    0, 0, NULL, 0), 0);
		return;
	}
	n = tb->len - off < test_piece ? tb->len - off : test_piece;
	ck_assert_int_eq(deliver_body_piece(tb->job, DELIVER_PIECE_DATA, 0,
	    off + (uint32_t)n, tb->data + off, n), 0);
}

static void
test_body_later(evutil_socket_t fd, short ev, void *arg)
{
	struct test_answer	*a = arg;
	struct test_body	*tb;

	(void)fd;
	(void)ev;
	TAILQ_FOREACH(tb, &test_bodies, entry)
		if (tb->job == a->job)
			test_body_answer(tb, a->off);
	free(a);
}

static void
test_body_read(struct deliver_job *job, uint32_t chunk, uint32_t off,
    void *arg)
{
	struct test_body	*tb = arg;
	struct test_answer	*a;

	ck_assert_uint_eq(chunk, 0);
	test_reads++;
	if (test_async == NULL) {
		test_body_answer(tb, off);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->job = job;
	a->off = off;
	ck_assert_int_eq(event_base_once(test_async, -1, EV_TIMEOUT,
	    test_body_later, a, NULL), 0);
}

static void
test_job_free(struct deliver_job *job)
{
	struct test_body	*tb, *next;

	for (tb = TAILQ_FIRST(&test_bodies); tb != NULL; tb = next) {
		next = TAILQ_NEXT(tb, entry);
		if (tb->job != job)
			continue;
		TAILQ_REMOVE(&test_bodies, tb, entry);
		free(tb->data);
		free(tb);
	}
	deliver_job_free(job);
}

static struct deliver_job *
test_job(const char *sender, const char *domain, const char *body,
    const char *const *rcpts, uint32_t n)
{
	struct deliver_job	*job;
	struct test_body	*tb;
	const unsigned char	*p;
	uint32_t		 i;

	job = xcalloc(1, sizeof(*job));
	job->id = 1;
	job->qid = xstrdup("0661ED2C3B79FC");
	job->sender = xstrdup(sender);
	job->domain = xstrdup(domain);
	job->nrcpt = n;
	job->rcpts = xcalloc(n, sizeof(*job->rcpts));
	for (i = 0; i < n; i++)
		job->rcpts[i].addr = xstrdup(rcpts[i]);
	tb = xcalloc(1, sizeof(*tb));
	tb->src.read = test_body_read;
	tb->src.arg = tb;
	tb->job = job;
	tb->data = xstrdup(body);
	tb->len = strlen(body);
	TAILQ_INSERT_TAIL(&test_bodies, tb, entry);
	job->body = deliver_body_new(job, &tb->src, 0);
	job->size = tb->len;
	/* As the queue sees it arrive. */
	for (p = (const unsigned char *)body; *p != '\0'; p++)
		if (*p & 0x80)
			job->flags |= DELIVER_JF_8BIT;
	job->arrival_ms = (int64_t)time(NULL) * 1000;
	strlcpy(job->relay, "none", sizeof(job->relay));
	gettimeofday(&job->t_go, NULL);
	return job;
}

#define ck_assert_rcpt(job, i, st, d) do {				\
	ck_assert_int_eq((job)->rcpts[i].final, 1);			\
	ck_assert_int_eq((job)->rcpts[i].status, (st));			\
	ck_assert_str_eq((job)->rcpts[i].dsn, (d));			\
} while (0)

/* --- Maildir -------------------------------------------------------------- */

static char *
test_slurp(int dirfd, const char *path)
{
	struct buf	*b = buf_new(256, 1 << 20);
	char		 chunk[512];
	ssize_t		 n;
	int		 fd;

	fd = openat(dirfd, path, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, (size_t)n);
	close(fd);
	return buf_release(b);
}

/* test_only_file - the name of the one file in dir, or NULL if not one */
static char *
test_only_file(int rootfd, const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		*name = NULL;
	int		 fd, n = 0;

	if ((fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY)) == -1)
		return NULL;
	d = fdopendir(fd);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		free(name);
		name = xstrdup(de->d_name);
	}
	closedir(d);
	if (n != 1) {
		free(name);
		return NULL;
	}
	return name;
}

static int
test_count_files(int rootfd, const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, n = 0;

	if ((fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY)) == -1)
		return -1;
	d = fdopendir(fd);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

START_TEST(maildir_delivers_into_new_with_lf_endings)
{
	static const char *const rcpts[] = {
		"Bob@aval.test", ".hidden@aval.test", "carol@aval.test",
	};
	struct deliver_job	*job;
	char			*dir = harness_tmpdir(), *name, *path, *got;
	struct stat		 st;
	int			 rootfd;

	rootfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(rootfd, -1);
	job = test_job("ana@uni-a.es", "aval.test",
	    "Subject: hi\r\n\r\nline one\r\n.dot\r\nbare\rcr\r\nend", rcpts, 3);
	local_maildir_run(job, NULL, rootfd, "mx.aval/test:1", NULL, NULL);

	ck_assert_str_eq(job->relay, "maildir");
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_rcpt(job, 1, DELIVER_BOUNCED, "5.1.3");
	ck_assert_str_eq(job->rcpts[1].text,
	    "local part cannot name a mailbox");
	ck_assert_rcpt(job, 2, DELIVER_SENT, "2.0.0");

	/* The local part is lowercased; tmp/ and cur/ exist, tmp/ empty. */
	name = test_only_file(rootfd, "aval.test/bob/new");
	ck_assert_ptr_nonnull(name);
	ck_assert_ptr_nonnull(strstr(name, ".mx.aval\\057test\\0721"));
	ck_assert_ptr_nonnull(strchr(name, 'M'));
	ck_assert_int_eq(test_count_files(rootfd, "aval.test/bob/tmp"), 0);
	ck_assert_int_eq(test_count_files(rootfd, "aval.test/bob/cur"), 0);
	ck_assert_int_eq(fstatat(rootfd, "aval.test/bob", &st, 0), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);

	xasprintf(&path, "aval.test/bob/new/%s", name);
	got = test_slurp(rootfd, path);
	ck_assert_str_eq(got, "Return-Path: <ana@uni-a.es>\n"
	    "Delivered-To: Bob@aval.test\n"
	    "Subject: hi\n\nline one\n.dot\nbare\rcr\nend");
	free(got);
	free(path);
	free(name);

	/* The unsafe local part made no directory at all. */
	ck_assert_int_eq(test_count_files(rootfd, "aval.test"), 2);
	name = test_only_file(rootfd, "aval.test/carol/new");
	ck_assert_ptr_nonnull(name);
	free(name);

	test_job_free(job);
	close(rootfd);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(maildir_gives_unique_names_and_null_sender)
{
	static const char *const rcpts[] = { "eva@aval.test" };
	struct deliver_job	*job;
	char			*dir = harness_tmpdir(), *path, *got;
	int			 rootfd, i;
	DIR			*d;
	struct dirent		*de;

	rootfd = open(dir, O_RDONLY | O_DIRECTORY);
	for (i = 0; i < 3; i++) {
		job = test_job("", "aval.test", "x\r\n", rcpts, 1);
		local_maildir_run(job, NULL, rootfd, "localhost", NULL, NULL);
		ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
		test_job_free(job);
	}
	ck_assert_int_eq(test_count_files(rootfd, "aval.test/eva/new"), 3);
	d = fdopendir(openat(rootfd, "aval.test/eva/new", O_RDONLY));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&path, "aval.test/eva/new/%s", de->d_name);
		got = test_slurp(rootfd, path);
		ck_assert_str_eq(got, "Return-Path: <>\n"
		    "Delivered-To: eva@aval.test\nx\n");
		free(got);
		free(path);
	}
	closedir(d);
	close(rootfd);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(maildir_defers_when_the_tree_is_broken)
{
	static const char *const rcpts[] = { "bob@aval.test" };
	struct deliver_job	*job;
	char			*dir = harness_tmpdir();
	int			 rootfd, fd;

	rootfd = open(dir, O_RDONLY | O_DIRECTORY);
	/* A file where the domain's directory should be. */
	fd = openat(rootfd, "aval.test", O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	job = test_job("ana@uni-a.es", "aval.test", "x\r\n", rcpts, 1);
	local_maildir_run(job, NULL, rootfd, "localhost", NULL, NULL);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.3.0");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text, "Not a directory"));
	test_job_free(job);
	close(rootfd);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* --- a scripted SMTP server ----------------------------------------------- */

#define TSRV_MAXCONN	16

struct tsrv;

#define TCONN_LATER	64

struct tconn {
	struct tsrv		*srv;
	struct bufferevent	*bev;
	int			 indata;
	int			 naccepted;
	int			 closing;
	/* Replies held back (rcpt_delay_ms), sent one per tick, in order. */
	char			*later[TCONN_LATER];
	int			 nlater;
	struct event		*tick;
	/* LMTP: per accepted recipient, 1 if its reply after the dot is 250. */
	char			 lmtp_ok[TCONN_LATER];
};

struct tsrv {
	struct event_base	*base;
	struct evconnlistener	*lis;
	uint16_t		 port;
	const char		*greeting;	/* NULL: say nothing */
	const char		*ehlo;		/* whole EHLO reply */
	const char		*mail;		/* MAIL reply */
	const char		*dot;		/* final reply */
	int			 close_after_dot;
	int			 rcpt_delay_ms;	/* >0: RCPT replies this far apart */
	const char		*data_reply;	/* NULL: 354, or 554 with none */
	int			 lmtp;		/* LHLO; a reply per rcpt after "." */
	int			 nlhlo;
	struct buf		*rcptlines;	/* every RCPT line, '\n' after each */
	int			 nconn, nmail, nrcpt, ndata, nrset, nquit;
	int			 ndot;		/* messages ended by "." */
	int			 nhelo;
	char			 mailline[512];
	struct buf		*body;		/* last body, as on the wire */
	struct tconn		*conns[TSRV_MAXCONN];
};

static void
tconn_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct tconn	*c = arg;
	struct timeval	 tv;

	(void)fd;
	(void)ev;
	if (c->nlater == 0)
		return;
	evbuffer_add(bufferevent_get_output(c->bev), c->later[0],
	    strlen(c->later[0]));
	free(c->later[0]);
	memmove(c->later, c->later + 1, (size_t)--c->nlater * sizeof(char *));
	if (c->nlater > 0) {
		tv.tv_sec = c->srv->rcpt_delay_ms / 1000;
		tv.tv_usec = (c->srv->rcpt_delay_ms % 1000) * 1000;
		evtimer_add(c->tick, &tv);
	}
}

/* tconn_later - hold a reply back for a tick, after those held already */
static void
tconn_later(struct tconn *c, const char *s)
{
	struct timeval	 tv;

	ck_assert_int_lt(c->nlater, TCONN_LATER);
	c->later[c->nlater++] = xstrdup(s);
	if (c->tick == NULL)
		c->tick = evtimer_new(c->srv->base, tconn_tick, c);
	if (!evtimer_pending(c->tick, NULL)) {
		tv.tv_sec = c->srv->rcpt_delay_ms / 1000;
		tv.tv_usec = (c->srv->rcpt_delay_ms % 1000) * 1000;
		evtimer_add(c->tick, &tv);
	}
}

static void
tconn_reply(struct tconn *c, const char *s)
{
	if (c->nlater > 0) {
		tconn_later(c, s);
		return;
	}
	evbuffer_add(bufferevent_get_output(c->bev), s, strlen(s));
}

static void
tconn_free(struct tconn *c)
{
	int	 i;

	for (i = 0; i < TSRV_MAXCONN; i++)
		if (c->srv->conns[i] == c)
			c->srv->conns[i] = NULL;
	for (i = 0; i < c->nlater; i++)
		free(c->later[i]);
	if (c->tick != NULL)
		event_free(c->tick);
	bufferevent_free(c->bev);
	free(c);
}

static void
tconn_rcpt(struct tconn *c, const char *line)
{
	const char	*p = strchr(line, '<');
	char		 big[3200];

	if (p == NULL)
		p = "<";
	p++;
	buf_add(c->srv->rcptlines, line, strlen(line));
	buf_add(c->srv->rcptlines, "\n", 1);
	if (c->srv->rcpt_delay_ms > 0 && strncmp(p, "ok", 2) == 0) {
		c->naccepted++;
		tconn_later(c, "250 2.1.5 Ok\r\n");
	} else if (strncmp(p, "okfull", 6) == 0) {
		/* LMTP: accepted now, refused after the dot. */
		c->lmtp_ok[c->naccepted++] = 0;
		tconn_reply(c, "250 2.1.5 Ok\r\n");
	} else if (strncmp(p, "ok", 2) == 0) {
		c->lmtp_ok[c->naccepted++] = 1;
		tconn_reply(c, "250 2.1.5 Ok\r\n");
	} else if (strncmp(p, "bye", 3) == 0) {
		tconn_reply(c, "421 4.3.2 Service shutting down\r\n");
		c->closing = 1;
	} else if (strncmp(p, "later", 5) == 0)
		tconn_reply(c, "451 4.3.0 <later@x> try again later\r\n");
	else if (strncmp(p, "no", 2) == 0)
		tconn_reply(c,
		    "550-5.1.1 <no@x>: Recipient address rejected:\r\n"
		    "550 5.1.1 User unknown in local recipient table\r\n");
	else if (strncmp(p, "long", 4) == 0) {
		memset(big, 'x', sizeof(big) - 3);
		memcpy(big, "250 ", 4);
		memcpy(big + sizeof(big) - 3, "\r\n", 3);
		tconn_reply(c, big);
	} else
		tconn_reply(c, "550 5.1.1 unknown\r\n");
}

static void
tconn_read(struct bufferevent *bev, void *arg)
{
	struct tconn	*c = arg;
	struct tsrv	*s = c->srv;
	char		*line;
	size_t		 len;

	while (!c->closing && (line = evbuffer_readln(
	    bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		if (c->indata) {
			if (strcmp(line, ".") == 0) {
				int	 i;

				s->ndot++;
				c->indata = 0;
				if (s->dot == NULL) {
					/* Gone before the final reply. */
					free(line);
					tconn_free(c);
					return;
				}
				for (i = 0; s->lmtp && i < c->naccepted; i++)
					tconn_reply(c, c->lmtp_ok[i] ? s->dot :
					    "452 4.2.2 Mailbox full\r\n");
				if (!s->lmtp)
					tconn_reply(c, s->dot);
				c->naccepted = 0;
				if (s->close_after_dot)
					c->closing = 1;
			} else {
				buf_add(s->body, line, len);
				buf_add(s->body, "\r\n", 2);
			}
		} else if (strncasecmp(line, "EHLO ", 5) == 0)
			tconn_reply(c, s->lmtp ? "500 5.5.1 This is LMTP\r\n" :
			    s->ehlo);
		else if (strncasecmp(line, "LHLO ", 5) == 0) {
			s->nlhlo++;
			tconn_reply(c, s->lmtp ? s->ehlo :
			    "502 5.5.2 Error: command not recognized\r\n");
		}
		else if (strncasecmp(line, "HELO ", 5) == 0) {
			s->nhelo++;
			tconn_reply(c, "250 test.local\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			s->nmail++;
			strlcpy(s->mailline, line, sizeof(s->mailline));
			c->naccepted = 0;
			tconn_reply(c, s->mail);
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			s->nrcpt++;
			tconn_rcpt(c, line);
		} else if (strcasecmp(line, "DATA") == 0) {
			s->ndata++;
			if (s->data_reply != NULL) {
				tconn_reply(c, s->data_reply);
				if (strncmp(s->data_reply, "421", 3) == 0)
					c->closing = 1;
			} else if (c->naccepted > 0) {
				c->indata = 1;
				buf_reset(s->body);
				tconn_reply(c, "354 End data with "
				    "<CR><LF>.<CR><LF>\r\n");
			} else
				tconn_reply(c, "554 5.5.1 Error: "
				    "no valid recipients\r\n");
		} else if (strcasecmp(line, "RSET") == 0) {
			s->nrset++;
			c->naccepted = 0;
			tconn_reply(c, "250 2.0.0 Ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			s->nquit++;
			tconn_reply(c, "221 2.0.0 Bye\r\n");
			c->closing = 1;
		} else
			tconn_reply(c,
			    "502 5.5.2 Error: command not recognized\r\n");
		free(line);
	}
}

static void
tconn_write(struct bufferevent *bev, void *arg)
{
	struct tconn	*c = arg;

	if (c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		tconn_free(c);
}

static void
tconn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		tconn_free(arg);
}

static void
tsrv_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tsrv	*s = arg;
	struct tconn	*c;
	int		 i;

	(void)lis;
	(void)sa;
	(void)salen;
	s->nconn++;
	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, tconn_read, tconn_write, tconn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	for (i = 0; i < TSRV_MAXCONN; i++)
		if (s->conns[i] == NULL) {
			s->conns[i] = c;
			break;
		}
	ck_assert_int_lt(i, TSRV_MAXCONN);
	if (s->greeting != NULL)
		tconn_reply(c, s->greeting);
}

#define EHLO_PIPE	"250-test.local\r\n250-PIPELINING\r\n" \
			"250-SIZE 10240000\r\n250 8BITMIME\r\n"
#define EHLO_PLAIN	"250-test.local\r\n250 SIZE 10240000\r\n"
#define EHLO_PLAIN8	"250-test.local\r\n250-SIZE 10240000\r\n" \
			"250 8BITMIME\r\n"
#define EHLO_ALL	"250-test.local\r\n250-PIPELINING\r\n" \
			"250-SIZE 10240000\r\n250-8BITMIME\r\n" \
			"250-SMTPUTF8\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n"

static void
tsrv_start(struct tsrv *s, struct event_base *base)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->greeting = "220 test.local ESMTP\r\n";
	s->ehlo = EHLO_PIPE;
	s->mail = "250 2.1.0 Ok\r\n";
	s->dot = "250 2.0.0 Ok: queued as 4F1A\r\n";
	/* Room for the largest test body: no growth while receiving. */
	s->body = buf_new(1 << 20, 1 << 20);
	s->rcptlines = buf_new(1024, 1 << 20);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, tsrv_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(s->lis);
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin,
	    &len);
	s->port = ntohs(sin.sin_port);
}

static void
tsrv_stop(struct tsrv *s)
{
	int	 i;

	for (i = 0; i < TSRV_MAXCONN; i++)
		if (s->conns[i] != NULL)
			tconn_free(s->conns[i]);
	evconnlistener_free(s->lis);
	buf_free(s->body);
	buf_free(s->rcptlines);
}

/* --- sessions ------------------------------------------------------------- */

struct sess {
	struct event_base		*base;
	struct deliver_session_ctx	*smtp;
	struct tsrv			 srv;
	int				 ndone;
	struct deliver_job		*next;	/* started from the callback */
};

static void
sess_done(struct deliver_job *job, void *arg)
{
	struct sess	*t = arg;

	(void)job;
	t->ndone++;
	if (t->next != NULL) {
		struct deliver_job	*next = t->next;

		t->next = NULL;
		deliver_session_start(t->smtp, next, "127.0.0.1", t->srv.port,
		    sess_done, t);
	}
}

static void
sess_init(struct sess *t, long long command_timeout)
{
	struct deliver_conf	 conf;

	signal(SIGPIPE, SIG_IGN);
	memset(t, 0, sizeof(*t));
	memset(&conf, 0, sizeof(conf));
	strlcpy(conf.hostname, "mx.aval.test", sizeof(conf.hostname));
	conf.connect_timeout = 5;
	conf.command_timeout = command_timeout;
	conf.max_jobs = 10;
	conf.max_message_size = 1 << 20;
	t->base = event_base_new();
	t->smtp = deliver_session_ctx_new(t->base, &conf);
	tsrv_start(&t->srv, t->base);
}

/* sess_run - run the loop until n jobs are done, at most ten seconds */
static void
sess_run(struct sess *t, int n)
{
	struct timeval	 start, now;

	gettimeofday(&start, NULL);
	while (t->ndone < n) {
		event_base_loop(t->base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
		ck_assert_int_lt(now.tv_sec - start.tv_sec, 10);
	}
}

/* sess_settle - let the loop run a little (QUIT, RSET, parking) */
static void
sess_settle(struct sess *t)
{
	struct timeval	 tv = { 0, 100 * 1000 };

	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

static void
sess_fini(struct sess *t)
{
	deliver_session_ctx_free(t->smtp);
	tsrv_stop(&t->srv);
	event_base_free(t->base);
}

#define BODY8	"Subject: caf\xc3\xa9\r\n\r\n.leading dot\r\nbody\r\n" \
		"..two\r\nlast"

START_TEST(session_reports_sent_deferred_bounced)
{
	static const char *const rcpts[] = {
		"ok@uni-b.es", "later@uni-b.es", "no@uni-b.es",
	};
	struct sess		 t;
	struct deliver_job	*job;
	int			 pipelining = _i;

	sess_init(&t, 10);
	t.srv.ehlo = pipelining ? EHLO_PIPE : EHLO_PLAIN8;
	job = test_job("ana@uni-a.es", "uni-b.es", BODY8, rcpts, 3);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	ck_assert_int_eq(t.ndone, 0);
	sess_run(&t, 1);

	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_str_eq(job->rcpts[0].text, "250 2.0.0 Ok: queued as 4F1A");
	ck_assert_rcpt(job, 1, DELIVER_DEFERRED, "4.3.0");
	ck_assert_ptr_nonnull(strstr(job->rcpts[1].text, "host [127.0.0.1]:"));
	ck_assert_ptr_nonnull(strstr(job->rcpts[1].text,
	    "said: 451 4.3.0 <later@x> try again later "
	    "(in reply to RCPT TO command)"));
	ck_assert_rcpt(job, 2, DELIVER_BOUNCED, "5.1.1");
	ck_assert_ptr_nonnull(strstr(job->rcpts[2].text,
	    "550-5.1.1 <no@x>: Recipient address rejected: 550 5.1.1 User "
	    "unknown"));
	ck_assert_ptr_nonnull(strstr(job->relay, "[127.0.0.1]:"));
	ck_assert_int_ne(job->t_conn.tv_sec, 0);
	ck_assert_ptr_null(job->session);

	/* SIZE and 8BITMIME offered by both, DSN by neither. */
	ck_assert_str_eq(t.srv.mailline,
	    "MAIL FROM:<ana@uni-a.es> SIZE=49 BODY=8BITMIME");
	ck_assert_str_eq(buf_data(t.srv.body), "Subject: caf\xc3\xa9\r\n\r\n"
	    "..leading dot\r\nbody\r\n...two\r\nlast\r\n");

	/* The connection waits in the cache for the next job. */
	sess_settle(&t);
	ck_assert_uint_eq(deliver_session_ctx_idle(t.smtp, "127.0.0.1",
	    t.srv.port), 1);
	ck_assert_int_eq(t.srv.nquit, 0);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_defers_everyone_when_the_connection_is_refused)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "ok2@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	uint16_t		 port;
	int			 fd;

	sess_init(&t, 10);
	/* A port that was just free: nobody listens there. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	close(fd);

	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", port, sess_done, &t);
	ck_assert_int_eq(t.ndone, 0);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.4.1");
	ck_assert_rcpt(job, 1, DELIVER_DEFERRED, "4.4.1");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
	    "connect to [127.0.0.1]:"));
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text, "Connection refused"));
	ck_assert_str_eq(job->relay, "none");
	test_job_free(job);

	/* Not a numeric address: deferred the same way, from the loop. */
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "mx.uni-b.es", 25, sess_done, &t);
	ck_assert_int_eq(t.ndone, 1);
	sess_run(&t, 2);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.4.1");
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_reuses_an_idle_connection)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*a, *b;

	sess_init(&t, 10);
	a = test_job("ana@uni-a.es", "uni-b.es", "one\r\n", rcpts, 1);
	b = test_job("ana@uni-a.es", "uni-b.es", "two\r\n", rcpts, 1);
	deliver_session_start(t.smtp, a, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	sess_settle(&t);
	deliver_session_start(t.smtp, b, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_rcpt(a, 0, DELIVER_SENT, "2.0.0");
	ck_assert_rcpt(b, 0, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nconn, 1);
	ck_assert_int_eq(t.srv.nmail, 2);
	ck_assert_str_eq(buf_data(t.srv.body), "two\r\n");
	test_job_free(a);
	test_job_free(b);
	sess_fini(&t);
}
END_TEST

START_TEST(session_quits_after_max_transactions)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	int			 i;

	sess_init(&t, 10);
	for (i = 0; i < DELIVER_SESSION_MAX_TRANS + 1; i++) {
		job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
		deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port,
		    sess_done, &t);
		sess_run(&t, i + 1);
		ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
		test_job_free(job);
	}
	sess_settle(&t);
	ck_assert_int_eq(t.srv.nmail, DELIVER_SESSION_MAX_TRANS + 1);
	ck_assert_int_eq(t.srv.nconn, 2);
	ck_assert_int_eq(t.srv.nquit, 1);
	sess_fini(&t);
}
END_TEST

START_TEST(session_retries_a_dead_reused_connection_once)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*a, *b;

	sess_init(&t, 10);
	/* The server hangs up after each message, but says nothing. */
	t.srv.close_after_dot = 1;
	a = test_job("ana@uni-a.es", "uni-b.es", "one\r\n", rcpts, 1);
	b = test_job("ana@uni-a.es", "uni-b.es", "two\r\n", rcpts, 1);
	/* b starts from a's callback, before the EOF is seen. */
	t.next = b;
	deliver_session_start(t.smtp, a, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_rcpt(a, 0, DELIVER_SENT, "2.0.0");
	ck_assert_rcpt(b, 0, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nconn, 2);
	ck_assert_str_eq(buf_data(t.srv.body), "two\r\n");
	test_job_free(a);
	test_job_free(b);
	sess_fini(&t);
}
END_TEST

START_TEST(session_sends_no_body_when_no_recipient_is_accepted)
{
	static const char *const rcpts[] = { "no@uni-b.es", "later@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	int			 pipelining = _i;

	sess_init(&t, 10);
	t.srv.ehlo = pipelining ? EHLO_PIPE : EHLO_PLAIN;
	job = test_job("", "uni-b.es", "x\r\n", rcpts, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	sess_settle(&t);
	ck_assert_rcpt(job, 0, DELIVER_BOUNCED, "5.1.1");
	ck_assert_rcpt(job, 1, DELIVER_DEFERRED, "4.3.0");
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<> SIZE=3");
	/* Pipelined DATA is refused by the server; lock-step never sends it. */
	ck_assert_int_eq(t.srv.ndata, pipelining ? 1 : 0);
	ck_assert_uint_eq(buf_len(t.srv.body), 0);
	ck_assert_int_eq(t.srv.nrset, 1);
	ck_assert_uint_eq(deliver_session_ctx_idle(t.smtp, "127.0.0.1",
	    t.srv.port), 1);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

struct refusal_case {
	const char		*greeting;
	const char		*ehlo;
	const char		*mail;
	const char		*dot;
	enum deliver_status	 status;
	const char		*dsn;
	const char		*text;
	int			 nhelo;
};

static const struct refusal_case refusal_cases[] = {
	{ "554 5.7.1 go away\r\n", EHLO_PIPE, "250 ok\r\n", "250 ok\r\n",
	    DELIVER_BOUNCED, "5.7.1",
	    "refused to talk to me: 554 5.7.1 go away", 0 },
	{ "421 4.3.2 busy\r\n", EHLO_PIPE, "250 ok\r\n", "250 ok\r\n",
	    DELIVER_DEFERRED, "4.3.2", "refused to talk to me: 421 4.3.2 busy",
	    0 },
	{ "220 hi\r\n", "502 5.5.2 no EHLO\r\n", "250 ok\r\n",
	    "250 2.0.0 fine\r\n", DELIVER_SENT, "2.0.0", "250 2.0.0 fine", 1 },
	{ "220 hi\r\n", "451 4.3.0 later\r\n", "250 ok\r\n", "250 ok\r\n",
	    DELIVER_DEFERRED, "4.3.0", "(in reply to EHLO command)", 0 },
	{ "220 hi\r\n", EHLO_PIPE, "553 5.1.8 bad sender\r\n", "250 ok\r\n",
	    DELIVER_BOUNCED, "5.1.8", "(in reply to MAIL FROM command)", 0 },
	{ "220 hi\r\n", EHLO_PLAIN, "452 4.3.1 full\r\n", "250 ok\r\n",
	    DELIVER_DEFERRED, "4.3.1", "said: 452 4.3.1 full", 0 },
	{ "220 hi\r\n", EHLO_PIPE, "250 ok\r\n", "552 5.3.4 too big\r\n",
	    DELIVER_BOUNCED, "5.3.4", "(in reply to end of DATA command)", 0 },
	{ "220 hi\r\n", EHLO_PLAIN, "250 ok\r\n", "451 4.3.0 oops\r\n",
	    DELIVER_DEFERRED, "4.3.0", "said: 451 4.3.0 oops", 0 },
	{ "220 hi\r\n", EHLO_PLAIN, "250 ok\r\n", "250 queued\r\n",
	    DELIVER_SENT, "2.0.0", "250 queued", 0 },
	{ "220 hi\r\n", EHLO_PLAIN, "250 ok\r\n", "hello\r\n",
	    DELIVER_DEFERRED, "4.5.0", "protocol error with [127.0.0.1]:", 0 },
	{ "220-a\r\n221 b\r\n", EHLO_PLAIN, "250 ok\r\n", "250 ok\r\n",
	    DELIVER_DEFERRED, "4.5.0", "inconsistent reply codes", 0 },
};

START_TEST(session_follows_the_reply_class)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "ok2@uni-b.es" };
	const struct refusal_case	*c = &refusal_cases[_i];
	struct sess			 t;
	struct deliver_job		*job;

	sess_init(&t, 10);
	t.srv.greeting = c->greeting;
	t.srv.ehlo = c->ehlo;
	t.srv.mail = c->mail;
	t.srv.dot = c->dot;
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, c->status, c->dsn);
	ck_assert_rcpt(job, 1, c->status, c->dsn);
	ck_assert_msg(strstr(job->rcpts[0].text, c->text) != NULL,
	    "text \"%s\" lacks \"%s\"", job->rcpts[0].text, c->text);
	ck_assert_int_eq(t.srv.nhelo, c->nhelo);
	sess_settle(&t);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_reads_a_greeting_that_came_with_the_connect)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	struct pollfd		 pfd;
	int			 fd;

	sess_init(&t, 10);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	/*
	 * Accept and greet outside the loop, so the client's first look at
	 * its socket finds it connected and the greeting waiting, together.
	 */
	evconnlistener_disable(t.srv.lis);
	pfd.fd = evconnlistener_get_fd(t.srv.lis);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	fd = accept(pfd.fd, NULL, NULL);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "220 hi\r\n", 8), 8);
	usleep(50 * 1000);
	t.srv.greeting = NULL;
	tsrv_accept(t.srv.lis, fd, NULL, 0, &t.srv);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_defers_on_an_overlong_reply_line)
{
	static const char *const rcpts[] = { "long@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	t.srv.ehlo = EHLO_PLAIN;
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.5.0");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
	    "while sending RCPT TO: reply line too long"));
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_defers_on_an_endless_greeting)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	struct buf		*greeting;

	sess_init(&t, 10);
	/* 100 KiB of continuation lines: over the 64 KiB reply limit. */
	greeting = buf_new(128 * 1024, 128 * 1024);
	while (buf_len(greeting) < 100 * 1024)
		buf_addstr(greeting, "220-Welcome, this goes on and on\r\n");
	buf_addstr(greeting, "220 at last\r\n");
	t.srv.greeting = buf_data(greeting);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.5.0");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text, "while receiving "
	    "the initial server greeting: reply too long"));
	test_job_free(job);
	sess_fini(&t);
	buf_free(greeting);
}
END_TEST

START_TEST(session_times_out_a_silent_server)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 1);
	t.srv.greeting = NULL;
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.4.2");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text, "timed out while "
	    "receiving the initial server greeting"));
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_abort_calls_nobody)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	ck_assert_ptr_nonnull(job->session);
	deliver_session_abort(job);
	ck_assert_ptr_null(job->session);
	sess_settle(&t);
	ck_assert_int_eq(t.ndone, 0);
	ck_assert_int_eq(t.srv.nmail, 0);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

START_TEST(session_streams_a_large_body)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	struct buf		*body, *want;
	size_t			 i;

	sess_init(&t, 10);
	body = buf_new(1 << 20, 1 << 20);
	want = buf_new(1 << 20, 1 << 20);
	for (i = 0; buf_len(body) < 700 * 1024; i++) {
		buf_printf(body, i % 7 == 0 ? ".line %zu\r\n" : "line %zu\r\n",
		    i);
		buf_printf(want, i % 7 == 0 ? "..line %zu\r\n" :
		    "line %zu\r\n", i);
	}
	job = test_job("ana@uni-a.es", "uni-b.es", buf_data(body), rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_uint_eq(buf_len(t.srv.body), buf_len(want));
	ck_assert_int_eq(memcmp(buf_data(t.srv.body), buf_data(want),
	    buf_len(want)), 0);
	buf_free(body);
	buf_free(want);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/* A body of about len bytes of numbered lines, every 7th starting with a dot. */
static void
test_big_body(struct buf *body, struct buf *want, size_t len)
{
	size_t	 i;

	for (i = 0; buf_len(body) < len; i++) {
		buf_printf(body, i % 7 == 0 ? ".line %zu\r\n" : "line %zu\r\n",
		    i);
		if (want != NULL)
			buf_printf(want, i % 7 == 0 ? "..line %zu\r\n" :
			    "line %zu\r\n", i);
	}
}

/* As the queue link serves it: 16 KB pieces, each from a later loop pass. */
START_TEST(session_streams_a_body_that_comes_in_pieces_from_the_loop)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	struct buf		*body, *want;

	sess_init(&t, 10);
	body = buf_new(1 << 20, 1 << 20);
	want = buf_new(1 << 20, 1 << 20);
	test_big_body(body, want, 600 * 1024);
	test_async = t.base;
	test_piece = 16320;
	test_reads = 0;
	job = test_job("ana@uni-a.es", "uni-b.es", buf_data(body), rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_uint_eq(buf_len(t.srv.body), buf_len(want));
	ck_assert_int_eq(memcmp(buf_data(t.srv.body), buf_data(want),
	    buf_len(want)), 0);
	/* One read per piece, and one more for the end. */
	ck_assert_uint_eq(test_reads, (buf_len(body) + 16319) / 16320 + 1);
	test_async = NULL;
	test_piece = 7;
	buf_free(body);
	buf_free(want);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/* The queue cannot read the rest: hang up before the dot, defer. */
START_TEST(session_hangs_up_before_the_dot_when_the_body_is_unreadable)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "ok2@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	struct buf		*body;

	sess_init(&t, 10);
	body = buf_new(1 << 20, 1 << 20);
	test_big_body(body, NULL, 100 * 1024);
	test_async = t.base;
	test_piece = 4096;
	test_fail_at = 50000;
	job = test_job("ana@uni-a.es", "uni-b.es", buf_data(body), rcpts, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.3.0");
	ck_assert_rcpt(job, 1, DELIVER_DEFERRED, "4.3.0");
	ck_assert_str_eq(job->rcpts[0].text, "stored message unreadable");
	sess_settle(&t);
	ck_assert_int_eq(t.srv.ndata, 1);
	ck_assert_int_eq(t.srv.ndot, 0);
	test_async = NULL;
	test_piece = 7;
	test_fail_at = -1;
	buf_free(body);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

static void
test_maildir_done(struct deliver_job *job, void *arg)
{
	(void)job;
	(*(int *)arg)++;
}

/* Pieces from the loop, CRs at their ends: the copies are still exact. */
START_TEST(maildir_spools_a_body_that_comes_in_pieces_from_the_loop)
{
	static const char *const rcpts[] = { "bob@aval.test", "eva@aval.test" };
	struct event_base	*base = event_base_new();
	struct deliver_job	*job;
	struct timeval		 start, now;
	struct buf		*body, *want;
	char			*dir = harness_tmpdir(), *name, *path, *got;
	int			 rootfd, done = 0, i;

	body = buf_new(1 << 20, 1 << 20);
	want = buf_new(1 << 20, 1 << 20);
	buf_printf(want, "Return-Path: <ana@uni-a.es>\nDelivered-To: "
	    "eva@aval.test\n");
	for (i = 0; i < 3000; i++) {
		buf_printf(body, "line %d\r\n%s", i, i % 5 == 0 ? "cr\r" : "");
		buf_printf(want, "line %d\n%s", i, i % 5 == 0 ? "cr\r" : "");
	}
	rootfd = open(dir, O_RDONLY | O_DIRECTORY);
	test_async = base;
	test_piece = 10;
	job = test_job("ana@uni-a.es", "aval.test", buf_data(body), rcpts, 2);
	local_maildir_run(job, NULL, rootfd, "localhost", test_maildir_done,
	    &done);
	ck_assert_int_eq(done, 0);
	gettimeofday(&start, NULL);
	while (!done) {
		event_base_loop(base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
		ck_assert_int_lt(now.tv_sec - start.tv_sec, 10);
	}
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_rcpt(job, 1, DELIVER_SENT, "2.0.0");
	name = test_only_file(rootfd, "aval.test/eva/new");
	ck_assert_ptr_nonnull(name);
	xasprintf(&path, "aval.test/eva/new/%s", name);
	got = test_slurp(rootfd, path);
	ck_assert_str_eq(got, buf_data(want));
	free(got);
	free(path);
	free(name);
	/* The spool is gone from the tree: only the domain is there. */
	ck_assert_int_eq(test_count_files(rootfd, "."), 1);
	test_async = NULL;
	test_piece = 7;
	test_job_free(job);
	buf_free(body);
	buf_free(want);
	close(rootfd);
	harness_rmtree(dir);
	free(dir);
	event_base_free(base);
}
END_TEST

START_TEST(maildir_defers_and_writes_nothing_when_the_body_is_unreadable)
{
	static const char *const rcpts[] = { "bob@aval.test" };
	struct deliver_job	*job;
	char			*dir = harness_tmpdir();
	int			 rootfd;

	rootfd = open(dir, O_RDONLY | O_DIRECTORY);
	test_fail_at = 3;
	job = test_job("ana@uni-a.es", "aval.test", "Subject: x\r\n\r\nx\r\n",
	    rcpts, 1);
	local_maildir_run(job, NULL, rootfd, "localhost", NULL, NULL);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.3.0");
	ck_assert_str_eq(job->rcpts[0].text, "stored message unreadable");
	ck_assert_int_eq(test_count_files(rootfd, "."), 0);
	test_fail_at = -1;
	test_job_free(job);
	close(rootfd);
	harness_rmtree(dir);
	free(dir);
}
END_TEST

/* The reader's rules, with a source that only records what it is asked. */
static uint32_t	 tr_chunk, tr_off;
static int	 tr_asked, tr_woken;

static void
tr_read(struct deliver_job *job, uint32_t chunk, uint32_t off, void *arg)
{
	(void)job;
	(void)arg;
	tr_chunk = chunk;
	tr_off = off;
	tr_asked++;
}

static void
tr_wake(struct deliver_job *job, void *arg)
{
	(void)job;
	(void)arg;
	tr_woken++;
}

/* A body of len bytes in an unlinked temporary file: its descriptor. */
static int
body_tmpfile(size_t len)
{
	char	 path[] = "/tmp/aval-unit-body.XXXXXX";
	size_t	 i;
	int	 fd;

	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
	for (i = 0; i < len; i++) {
		char	 c = (char)('a' + i % 26);

		ck_assert_int_eq(write(fd, &c, 1), 1);
	}
	return fd;
}

START_TEST(body_reader_of_a_file_reads_it_all_at_once_and_again)
{
	struct deliver_job	 job;
	char			 qid[] = "0661ED2C3B79FC";
	const void		*p;
	size_t			 n, got, len = 3 * IPC_CHUNK + 100;
	int			 pass, ok;

	memset(&job, 0, sizeof(job));
	job.qid = qid;
	job.size = len;
	job.body = deliver_body_new_file(&job, body_tmpfile(len));
	for (pass = 0; pass < 2; pass++) {
		got = 0;
		ok = 1;
		/* Every get answers now: no WAIT, no round trip. */
		while (deliver_body_get(&job, &p, &n) == DELIVER_BODY_DATA) {
			ck_assert_uint_le(n, IPC_CHUNK);
			for (size_t i = 0; i < n; i++)
				if (((const char *)p)[i] !=
				    (char)('a' + (got + i) % 26))
					ok = 0;
			got += n;
		}
		ck_assert(ok);
		ck_assert_uint_eq(got, len);
		ck_assert_int_eq(deliver_body_get(&job, &p, &n),
		    DELIVER_BODY_END);
		deliver_body_rewind(&job);
	}
	deliver_body_free(job.body);
	/* A file shorter than the size the queue said: an error. */
	job.size = 500;
	job.body = deliver_body_new_file(&job, body_tmpfile(200));
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_DATA);
	ck_assert_uint_eq(n, 200);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_ERROR);
	deliver_body_free(job.body);
	/* Longer than the size: a damaged store as well. */
	job.size = 100;
	job.body = deliver_body_new_file(&job, body_tmpfile(300));
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_ERROR);
	deliver_body_free(job.body);
}
END_TEST

START_TEST(body_reader_keeps_to_one_read_and_spots_a_lying_source)
{
	static const struct deliver_body_src src = { tr_read, NULL };
	struct deliver_job	 job;
	char			 qid[] = "0661ED2C3B79FC";
	const void		*p;
	size_t			 n;

	memset(&job, 0, sizeof(job));
	job.qid = qid;
	job.size = 10;
	job.body = deliver_body_new(&job, &src, 0);
	deliver_body_set_wake(&job, tr_wake, NULL);
	tr_asked = tr_woken = 0;
	/* Nothing asked: an answer is a lie. */
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 0, 4,
	    "abcd", 4), -1);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(tr_asked, 1);
	ck_assert_uint_eq(tr_chunk, 0);
	ck_assert_uint_eq(tr_off, 0);
	/* An empty data piece and a data-carrying end are lies too. */
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 0, 0,
	    "", 0), -1);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_END, 0, 0,
	    "x", 1), -1);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 7, 9,
	    "abcd", 4), 0);
	ck_assert_int_eq(tr_woken, 1);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_DATA);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(memcmp(p, "abcd", 4), 0);
	/* The next read starts where the source said. */
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_uint_eq(tr_chunk, 7);
	ck_assert_uint_eq(tr_off, 9);
	/* Ending short of the announced size: a damaged store. */
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_END, 0, 0,
	    NULL, 0), 0);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_ERROR);
	/* A rewind starts over from the start. */
	deliver_body_rewind(&job);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_uint_eq(tr_chunk, 0);
	ck_assert_uint_eq(tr_off, 0);
	/* Rewound before anything was taken: nothing to start over. */
	deliver_body_rewind(&job);
	ck_assert_int_eq(deliver_body_asked(&job), 1);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 0, 5,
	    "01234", 5), 0);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_DATA);
	ck_assert_uint_eq(n, 5);
	/* Rewound while a read is out: its answer is dropped, asked again. */
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_uint_eq(tr_off, 5);
	deliver_body_rewind(&job);
	tr_asked = 0;
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(tr_asked, 0);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 0, 10,
	    "56789", 5), 0);
	ck_assert_int_eq(tr_asked, 1);
	ck_assert_uint_eq(tr_chunk, 0);
	ck_assert_uint_eq(tr_off, 0);
	/* The last piece ends the body without another read. */
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_LAST, 0, 10,
	    "0123456789", 10), 0);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_DATA);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(memcmp(p, "0123456789", 10), 0);
	tr_asked = 0;
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_END);
	ck_assert_int_eq(tr_asked, 0);
	/* More than announced: damaged too. */
	deliver_body_rewind(&job);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 1, 0,
	    "0123456789", 10), 0);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_DATA);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_DATA, 2, 0,
	    "x", 1), 0);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_ERROR);
	/* The first piece on its way with the job: the first get waits. */
	deliver_body_free(job.body);
	job.body = deliver_body_new(&job, &src, 1);
	tr_asked = 0;
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_WAIT);
	ck_assert_int_eq(tr_asked, 0);
	ck_assert_int_eq(deliver_body_piece(&job, DELIVER_PIECE_LAST, 0, 10,
	    "0123456789", 10), 0);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_DATA);
	ck_assert_int_eq(deliver_body_get(&job, &p, &n), DELIVER_BODY_END);
	deliver_body_free(job.body);
}
END_TEST

/* sess_timeunit - a "second" of the session's timeouts lasts ms */
static void
sess_timeunit(struct sess *t, long long command_timeout, long long ms)
{
	struct deliver_conf	 conf;

	memset(&conf, 0, sizeof(conf));
	strlcpy(conf.hostname, "mx.aval.test", sizeof(conf.hostname));
	conf.connect_timeout = 5;
	conf.command_timeout = command_timeout;
	conf.max_jobs = 10;
	conf.max_message_size = 1 << 20;
	conf.timeout_unit_ms = ms;
	deliver_session_ctx_set_conf(t->smtp, &conf);
}

/* 20 recipients, "ok0@uni-b.es" ... */
static const char *const rcpts20[] = {
	"ok0@uni-b.es", "ok1@uni-b.es", "ok2@uni-b.es", "ok3@uni-b.es",
	"ok4@uni-b.es", "ok5@uni-b.es", "ok6@uni-b.es", "ok7@uni-b.es",
	"ok8@uni-b.es", "ok9@uni-b.es", "ok10@uni-b.es", "ok11@uni-b.es",
	"ok12@uni-b.es", "ok13@uni-b.es", "ok14@uni-b.es", "ok15@uni-b.es",
	"ok16@uni-b.es", "ok17@uni-b.es", "ok18@uni-b.es", "ok19@uni-b.es",
};

/*
 * The case, at a twentieth of the scale: 20 RCPTs, each answered
 * 75 ms after the one before (1.5 s), command-timeout 3 "s" of 50 ms
 * (3 s). The whole RCPT phase takes 1.5 s, ten timeouts; each reply
 * comes well within its own.
 */
START_TEST(session_gives_each_rcpt_reply_its_own_timeout)
{
	struct sess		 t;
	struct deliver_job	*job;
	int			 pipelining = _i;
	uint32_t		 i;

	sess_init(&t, 3);
	sess_timeunit(&t, 3, 50);
	t.srv.ehlo = pipelining ? EHLO_PIPE : EHLO_PLAIN;
	t.srv.rcpt_delay_ms = 75;
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts20, 20);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	for (i = 0; i < 20; i++)
		ck_assert_rcpt(job, i, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nrcpt, 20);
	ck_assert_int_eq(t.srv.ndot, 1);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/* A reply slower than command-timeout still times out: 300 ms > 150 ms. */
START_TEST(session_times_out_one_slow_rcpt_reply)
{
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 3);
	sess_timeunit(&t, 3, 50);
	t.srv.rcpt_delay_ms = 300;
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts20, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_DEFERRED, "4.4.2");
	ck_assert_rcpt(job, 1, DELIVER_DEFERRED, "4.4.2");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text, "timed out while "
	    "sending RCPT TO"));
	ck_assert_int_eq(t.srv.ndot, 0);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/*
 * SIZE 10 at the server, 40 octets of message: bounced 5.3.4 with both
 * sizes in the text, no MAIL sent, and the clean connection serves the
 * next job, which fits.
 */
START_TEST(session_bounces_a_message_over_the_servers_size)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "ok2@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*big, *small;
	int			 reused = _i;

	sess_init(&t, 10);
	t.srv.ehlo = "250-test.local\r\n250-PIPELINING\r\n250 SIZE 10\r\n";
	big = test_job("ana@uni-a.es", "uni-b.es",
	    "0123456789012345678901234567890123456789", rcpts, 2);
	small = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	if (reused) {
		/* The refusal comes on a cached connection too. */
		deliver_session_start(t.smtp, small, "127.0.0.1", t.srv.port,
		    sess_done, &t);
		sess_run(&t, 1);
		sess_settle(&t);
		t.ndone = 0;
	}
	deliver_session_start(t.smtp, big, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	ck_assert_int_eq(t.ndone, 0);
	sess_run(&t, 1);
	ck_assert_rcpt(big, 0, DELIVER_BOUNCED, "5.3.4");
	ck_assert_rcpt(big, 1, DELIVER_BOUNCED, "5.3.4");
	ck_assert_ptr_eq(strstr(big->rcpts[0].text, "message size 40 exceeds "
	    "the next hop's limit 10 (SIZE of host [127.0.0.1]:"),
	    big->rcpts[0].text);
	ck_assert_int_eq(t.srv.nmail, reused ? 1 : 0);
	ck_assert_ptr_nonnull(strstr(big->relay, "[127.0.0.1]:"));
	sess_settle(&t);
	ck_assert_uint_eq(deliver_session_ctx_idle(t.smtp, "127.0.0.1",
	    t.srv.port), 1);
	if (!reused) {
		deliver_session_start(t.smtp, small, "127.0.0.1", t.srv.port,
		    sess_done, &t);
		sess_run(&t, 2);
	}
	ck_assert_rcpt(small, 0, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nconn, 1);
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<ana@uni-a.es> SIZE=3");
	test_job_free(big);
	test_job_free(small);
	sess_fini(&t);
}
END_TEST

/* SIZE without a number, or SIZE 0, is no limit (RFC 1870). */
START_TEST(session_takes_size_without_a_limit_as_none)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	t.srv.ehlo = _i ? "250-test.local\r\n250 SIZE 0\r\n" :
	    "250-test.local\r\n250 SIZE\r\n";
	job = test_job("ana@uni-a.es", "uni-b.es", "0123456789\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<ana@uni-a.es> SIZE=12");
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/*
 * A non-ASCII sender or recipient needs SMTPUTF8: without it at the
 * server, every recipient bounces 5.6.7 and no MAIL goes out; with it,
 * MAIL says SMTPUTF8. An ASCII envelope whose client said SMTPUTF8 gets
 * it where offered and goes without it elsewhere.
 */
START_TEST(session_needs_smtputf8_for_a_utf8_envelope)
{
	static const char *const utf8[] = { "ok@uni-b.es",
	    "ok-j\xc3\xbcrgen@uni-b.es" };
	static const char *const ascii[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	t.srv.ehlo = EHLO_PIPE;
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", utf8, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_BOUNCED, "5.6.7");
	ck_assert_rcpt(job, 1, DELIVER_BOUNCED, "5.6.7");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
	    "does not offer SMTPUTF8"));
	ck_assert_int_eq(t.srv.nmail, 0);
	test_job_free(job);

	/* The sender alone is enough. */
	job = test_job("jos\xc3\xa9@uni-a.es", "uni-b.es", "x\r\n", ascii, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_rcpt(job, 0, DELIVER_BOUNCED, "5.6.7");
	ck_assert_int_eq(t.srv.nmail, 0);
	test_job_free(job);

	/* An ASCII envelope of an SMTPUTF8 client goes, without it. */
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", ascii, 1);
	job->flags |= DELIVER_JF_SMTPUTF8;
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 3);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<ana@uni-a.es> SIZE=3");
	test_job_free(job);
	sess_fini(&t);

	sess_init(&t, 10);
	t.srv.ehlo = EHLO_ALL;
	job = test_job("jos\xc3\xa9@uni-a.es", "uni-b.es", "x\r\n", utf8, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_rcpt(job, 1, DELIVER_SENT, "2.0.0");
	ck_assert_str_eq(t.srv.mailline,
	    "MAIL FROM:<jos\xc3\xa9@uni-a.es> SIZE=3 SMTPUTF8");
	test_job_free(job);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", ascii, 1);
	job->flags |= DELIVER_JF_SMTPUTF8;
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_str_eq(t.srv.mailline,
	    "MAIL FROM:<ana@uni-a.es> SIZE=3 SMTPUTF8");
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/*
 * An 8-bit body goes only to a server that offers 8BITMIME, with
 * BODY=8BITMIME (RFC 6152); elsewhere it bounces 5.6.3 unsent. A 7-bit
 * body goes anywhere, with no BODY=.
 */
START_TEST(session_sends_an_8bit_body_only_with_8bitmime)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	t.srv.ehlo = EHLO_PLAIN;
	job = test_job("ana@uni-a.es", "uni-b.es", BODY8, rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_BOUNCED, "5.6.3");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
	    "8-bit content, and host [127.0.0.1]:"));
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
	    "does not offer 8BITMIME"));
	ck_assert_int_eq(t.srv.nmail, 0);
	test_job_free(job);
	job = test_job("ana@uni-a.es", "uni-b.es", "plain\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<ana@uni-a.es> SIZE=7");
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/* test_dsn - a job with every DSN field set */
static struct deliver_job *
test_dsn(void)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "ok2@uni-b.es",
	    "ok3@uni-b.es", "ok4@uni-b.es" };
	struct deliver_job	*job;

	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 4);
	job->ret = DELIVER_RET_HDRS;
	job->envid = xstrdup("abc+2Bdef");
	job->rcpts[0].notify = IPC_NOTIFY_SUCCESS | IPC_NOTIFY_FAILURE;
	job->rcpts[0].orcpt_type = DELIVER_ORCPT_RFC822;
	job->rcpts[0].orcpt = xstrdup("ok+40uni-b.es");
	job->rcpts[1].notify = IPC_NOTIFY_NEVER;
	job->rcpts[2].notify = IPC_NOTIFY_SUCCESS | IPC_NOTIFY_FAILURE |
	    IPC_NOTIFY_DELAY;
	job->rcpts[2].orcpt_type = DELIVER_ORCPT_UTF8;
	job->rcpts[2].orcpt = xstrdup("j\\x{FC}rgen@uni-b.es");
	job->rcpts[3].notify = IPC_NOTIFY_DELAY;
	return job;
}

/*
 * DSN parameters go on to a server that offers DSN (RFC 3461 section 4):
 * RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, as the client gave
 * them, and each result says so; to one that does not, none of them.
 */
START_TEST(session_passes_dsn_parameters_on_where_offered)
{
	struct sess		 t;
	struct deliver_job	*job;
	uint32_t		 i;

	sess_init(&t, 10);
	t.srv.ehlo = EHLO_ALL;
	job = test_dsn();
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	for (i = 0; i < 4; i++) {
		ck_assert_rcpt(job, i, DELIVER_SENT, "2.0.0");
		ck_assert_int_eq(job->rcpts[i].dsn_passed, 1);
	}
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<ana@uni-a.es> SIZE=3 "
	    "RET=HDRS ENVID=abc+2Bdef");
	ck_assert_str_eq(buf_data(t.srv.rcptlines),
	    "RCPT TO:<ok@uni-b.es> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;ok+40uni-b.es\n"
	    "RCPT TO:<ok2@uni-b.es> NOTIFY=NEVER\n"
	    "RCPT TO:<ok3@uni-b.es> NOTIFY=SUCCESS,FAILURE,DELAY "
	    "ORCPT=utf-8;j\\x{FC}rgen@uni-b.es\n"
	    "RCPT TO:<ok4@uni-b.es> NOTIFY=DELAY\n");
	test_job_free(job);
	sess_fini(&t);

	sess_init(&t, 10);
	t.srv.ehlo = EHLO_PLAIN;
	job = test_dsn();
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	for (i = 0; i < 4; i++) {
		ck_assert_rcpt(job, i, DELIVER_SENT, "2.0.0");
		ck_assert_int_eq(job->rcpts[i].dsn_passed, 0);
	}
	ck_assert_str_eq(t.srv.mailline, "MAIL FROM:<ana@uni-a.es> SIZE=3");
	ck_assert_str_eq(buf_data(t.srv.rcptlines),
	    "RCPT TO:<ok@uni-b.es>\nRCPT TO:<ok2@uni-b.es>\n"
	    "RCPT TO:<ok3@uni-b.es>\nRCPT TO:<ok4@uni-b.es>\n");
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/*
 * The server goes away mid-transaction: a 421 to a RCPT, a 421 to DATA,
 * or the connection closed after the dot before the final reply. Every
 * recipient defers, even one whose RCPT was accepted, nothing is marked
 * sent, and the next attempt, on a new connection, delivers.
 */
START_TEST(session_defers_all_when_the_server_goes_mid_transaction)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "ok2@uni-b.es",
	    "bye@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;
	uint32_t		 i, n = 2;
	const char		*want = NULL;

	sess_init(&t, 10);
	t.srv.ehlo = _i % 2 ? EHLO_PLAIN : EHLO_PIPE;
	switch (_i / 2) {
	case 0:		/* 421 to the third RCPT */
		n = 3;
		want = "said: 421 4.3.2 Service shutting down (in reply to "
		    "RCPT TO command)";
		break;
	case 1:
		t.srv.data_reply = "421 4.3.2 Service shutting down\r\n";
		want = "(in reply to DATA command)";
		break;
	case 2:
		t.srv.dot = NULL;
		want = "lost connection with [127.0.0.1]:";
		break;
	}
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, n);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(job->rcpts[i].final, 1);
		ck_assert_int_eq(job->rcpts[i].status, DELIVER_DEFERRED);
		ck_assert_int_eq(job->rcpts[i].dsn[0], '4');
		ck_assert_ptr_nonnull(strstr(job->rcpts[i].text, want));
	}
	if (_i / 2 == 2)
		ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
		    "while sending end of data"));
	ck_assert_int_eq(t.srv.ndot, _i / 2 == 2 ? 1 : 0);
	sess_settle(&t);
	ck_assert_uint_eq(deliver_session_ctx_idle(t.smtp, "127.0.0.1",
	    t.srv.port), 0);
	test_job_free(job);

	/* The next attempt: the server is itself again. */
	t.srv.data_reply = NULL;
	t.srv.dot = "250 2.0.0 Ok: queued as 4F1A\r\n";
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 2);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_rcpt(job, 1, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nconn, 2);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

#define LHLO_REPLY	"250-test.local\r\n250-PIPELINING\r\n250-8BITMIME\r\n" \
			"250 ENHANCEDSTATUSCODES\r\n"

/*
 * LMTP (RFC 2033): LHLO, never EHLO or HELO; after the dot one reply per
 * recipient the RCPTs accepted, in order, each that recipient's result.
 * The connection is kept for the next LMTP job, and only for that.
 */
START_TEST(lmtp_gives_each_accepted_recipient_its_own_final_reply)
{
	static const char *const rcpts[] = { "ok@uni-b.es", "no@uni-b.es",
	    "okfull@uni-b.es", "ok2@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	t.srv.lmtp = 1;
	t.srv.ehlo = _i ? LHLO_REPLY : "250-test.local\r\n250 8BITMIME\r\n";
	job = test_job("ana@uni-a.es", "uni-b.es", BODY8, rcpts, 4);
	job->flags |= DELIVER_JF_LMTP;
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_str_eq(job->rcpts[0].text, "250 2.0.0 Ok: queued as 4F1A");
	ck_assert_rcpt(job, 1, DELIVER_BOUNCED, "5.1.1");
	ck_assert_rcpt(job, 2, DELIVER_DEFERRED, "4.2.2");
	ck_assert_ptr_nonnull(strstr(job->rcpts[2].text, "said: 452 4.2.2 "
	    "Mailbox full (in reply to end of DATA command)"));
	ck_assert_rcpt(job, 3, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nlhlo, 1);
	ck_assert_int_eq(t.srv.nhelo, 0);
	ck_assert_int_eq(t.srv.ndot, 1);
	ck_assert_str_eq(t.srv.mailline,
	    "MAIL FROM:<ana@uni-a.es> BODY=8BITMIME");
	test_job_free(job);

	/* The next LMTP job takes the connection; it was clean. */
	sess_settle(&t);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	job->flags |= DELIVER_JF_LMTP;
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 2);
	ck_assert_rcpt(job, 0, DELIVER_SENT, "2.0.0");
	ck_assert_int_eq(t.srv.nconn, 1);
	ck_assert_int_eq(t.srv.nlhlo, 1);
	test_job_free(job);

	/* An SMTP job to the same address does not: it says EHLO anew. */
	sess_settle(&t);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 3);
	ck_assert_int_eq(t.srv.nconn, 2);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

/* An LMTP server that refuses LHLO gets no HELO: the reply decides. */
START_TEST(lmtp_does_not_fall_back_to_helo)
{
	static const char *const rcpts[] = { "ok@uni-b.es" };
	struct sess		 t;
	struct deliver_job	*job;

	sess_init(&t, 10);
	job = test_job("ana@uni-a.es", "uni-b.es", "x\r\n", rcpts, 1);
	job->flags |= DELIVER_JF_LMTP;
	deliver_session_start(t.smtp, job, "127.0.0.1", t.srv.port, sess_done,
	    &t);
	sess_run(&t, 1);
	ck_assert_rcpt(job, 0, DELIVER_BOUNCED, "5.5.2");
	ck_assert_ptr_nonnull(strstr(job->rcpts[0].text,
	    "(in reply to LHLO command)"));
	ck_assert_int_eq(t.srv.nhelo, 0);
	ck_assert_int_eq(t.srv.nmail, 0);
	test_job_free(job);
	sess_fini(&t);
}
END_TEST

Suite *
deliver_suite(void)
{
	Suite	*s = suite_create("deliver");
	TCase	*tc;

	tc = tcase_create("reply");
	tcase_add_loop_test(tc, reply_parses_as_the_table_says, 0,
	    sizeof(reply_cases) / sizeof(reply_cases[0]));
	tcase_add_test(tc,
	    reply_starts_afresh_after_each_reply_and_cuts_long_texts);
	tcase_add_loop_test(tc, ehlo_extensions_are_read, 0,
	    sizeof(ehlo_cases) / sizeof(ehlo_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("dotstuff");
	tcase_add_loop_test(tc, body_is_dot_stuffed, 0,
	    sizeof(stuff_cases) / sizeof(stuff_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_test(tc, cache_keeps_a_few_per_destination);
	tcase_add_test(tc, cache_evicts_connections_idle_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("maildir");
	tcase_add_test(tc, maildir_delivers_into_new_with_lf_endings);
	tcase_add_test(tc, maildir_gives_unique_names_and_null_sender);
	tcase_add_test(tc, maildir_defers_when_the_tree_is_broken);
	tcase_add_test(tc,
	    maildir_spools_a_body_that_comes_in_pieces_from_the_loop);
	tcase_add_test(tc,
	    maildir_defers_and_writes_nothing_when_the_body_is_unreadable);
	tcase_add_test(tc,
	    body_reader_keeps_to_one_read_and_spots_a_lying_source);
	tcase_add_test(tc,
	    body_reader_of_a_file_reads_it_all_at_once_and_again);
	suite_add_tcase(s, tc);

	tc = tcase_create("session");
	tcase_add_loop_test(tc, session_reports_sent_deferred_bounced, 0, 2);
	tcase_add_test(tc,
	    session_defers_everyone_when_the_connection_is_refused);
	tcase_add_test(tc, session_reuses_an_idle_connection);
	tcase_add_test(tc, session_quits_after_max_transactions);
	tcase_add_test(tc, session_retries_a_dead_reused_connection_once);
	tcase_add_loop_test(tc,
	    session_sends_no_body_when_no_recipient_is_accepted, 0, 2);
	tcase_add_loop_test(tc, session_follows_the_reply_class, 0,
	    sizeof(refusal_cases) / sizeof(refusal_cases[0]));
	tcase_add_test(tc, session_reads_a_greeting_that_came_with_the_connect);
	tcase_add_test(tc, session_defers_on_an_overlong_reply_line);
	tcase_add_test(tc, session_defers_on_an_endless_greeting);
	tcase_add_test(tc, session_times_out_a_silent_server);
	tcase_add_test(tc, session_abort_calls_nobody);
	tcase_add_test(tc, session_streams_a_large_body);
	tcase_add_test(tc,
	    session_streams_a_body_that_comes_in_pieces_from_the_loop);
	tcase_add_test(tc,
	    session_hangs_up_before_the_dot_when_the_body_is_unreadable);
	tcase_add_loop_test(tc, session_gives_each_rcpt_reply_its_own_timeout,
	    0, 2);
	tcase_add_test(tc, session_times_out_one_slow_rcpt_reply);
	tcase_add_loop_test(tc, session_bounces_a_message_over_the_servers_size,
	    0, 2);
	tcase_add_loop_test(tc, session_takes_size_without_a_limit_as_none,
	    0, 2);
	tcase_add_test(tc, session_needs_smtputf8_for_a_utf8_envelope);
	tcase_add_test(tc, session_sends_an_8bit_body_only_with_8bitmime);
	tcase_add_test(tc, session_passes_dsn_parameters_on_where_offered);
	tcase_add_loop_test(tc,
	    session_defers_all_when_the_server_goes_mid_transaction, 0, 6);
	suite_add_tcase(s, tc);

	tc = tcase_create("lmtp");
	tcase_add_loop_test(tc,
	    lmtp_gives_each_accepted_recipient_its_own_final_reply, 0, 2);
	tcase_add_test(tc, lmtp_does_not_fall_back_to_helo);
	suite_add_tcase(s, tc);
	return s;
}
