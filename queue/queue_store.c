/*
 * queue_store - the queue's Berkeley DB store
 *
 * Durability. Every change is one Berkeley DB transaction, committed with
 * DB_TXN_NOSYNC, which puts its commit record in the log buffer (in the
 * environment's region) and syncs nothing. queue_store_flush() calls
 * DB_ENV->log_flush(NULL), which writes the whole buffer to the log file
 * and fsyncs it, so every commit before the flush is on disk at once: one
 * fsync for many messages (group commit). The queue acknowledges a
 * message only after such a flush.
 *
 * Bodies. One that came whole (up to a chunk, QUEUE_STORE_CHUNK) is put in
 * "bodies" in its envelope's transaction: small mail shares the log's
 * fsync. One that came in chunks is a file of its own in the folder
 * "body" (bodyfile.h), appended to as it arrives and never logged: in the
 * log, a body is written once when it is put and once more when it is
 * deleted (Berkeley DB logs the bytes a delete removes, to undo it), and
 * each log record is checksummed, which cost a large body about three
 * times what writing it once to a file does. Such a message's envelope
 * is held back by queue_store_commit_env() until the flush, which
 * fdatasync()s each new body file, fsyncs the folder, and only then puts
 * the envelopes: the log buffer may reach the disk at any moment, and an
 * envelope must never be there before its body. A body file is removed
 * only after the flush that made its envelope's removal durable. A body
 * with no chunk 0 in "bodies" is a file; a store of format 2 may still
 * hold bodies in chunks there, and those are read and removed as before.
 *
 * What a crash leaves:
 *  - Killed between commit and flush: the commit record may or may not
 *    have reached the log file (the buffer is written early when it
 *    fills). At the next open, DB_RECOVER replays the log: a transaction
 *    whose commit record is in the log is redone whole, any other is
 *    undone whole. The message is there completely or not at all, and it
 *    was never acknowledged, so either is right.
 *  - Killed (or the machine lost) after the flush: the commit record is on
 *    disk, recovery redoes the transaction, and the message survives; its
 *    body file, if it has one, was synced before the envelope was put.
 *  - Killed while a body was arriving, or before the envelope of a body
 *    file was put, or between a removal and its file's unlink: a body
 *    file no envelope names. queue_store_sweep() removes those at the
 *    next start (and the chunks of a format-2 store's receipt whose
 *    queue ID is still in "incoming").
 *  - Database pages: the buffer pool never writes a page before the log
 *    records that changed it are on disk (write-ahead logging), so the
 *    database files never hold a change the log cannot undo or redo.
 *
 * Recovery runs at every open (DB_RECOVER), in regions that are this
 * process's own memory (DB_PRIVATE); that is only safe when no other
 * process has the environment open, so the open takes an exclusive lock
 * on "queue.lock" first and is fatal when it cannot. Everything (logs,
 * databases, temporary files, the lock) stays inside the directory given
 * to queue_store_open(), which is often "/" inside the queue's chroot.
 *
 * Reads of bodies and the walk use no transaction: the queue process is
 * the only user and is single-threaded, so nothing can change underneath.
 * The walk closes its cursor before each callback, so the callback may
 * update or remove records (including the current one) without waiting on
 * a lock the walk holds.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/qid.h"
#include "common/xmalloc.h"
#include "queue/bodyfile.h"
#include "queue/queue_rec.h"
#include "queue/queue_store.h"

#define QUEUE_STORE_LOCKFILE	"queue.lock"
#define QUEUE_STORE_ENVELOPES	"envelopes.db"
#define QUEUE_STORE_BODIES	"bodies.db"
#define QUEUE_STORE_INCOMING	"incoming.db"
#define QUEUE_STORE_META	"meta.db"
#define QUEUE_STORE_DUE		"due.db"
#define QUEUE_STORE_DUE_KEY	(8 + QID_LEN)	/* big-endian due ms, qid */
#define QUEUE_STORE_MODE	0600
#define QUEUE_STORE_CACHE	(32u * 1024 * 1024)
#define QUEUE_STORE_LG_BSIZE	(4u * 1024 * 1024)
#define QUEUE_STORE_LG_MAX	(16u * 1024 * 1024)	/* >= 4 * BSIZE */
#define QUEUE_STORE_LK_MAX	20000	/* locks, lockers, objects */
#define QUEUE_STORE_ENV_CAP	(32u * 1024 * 1024)	/* > any record */
#define QUEUE_STORE_BODY_KEY	(QID_LEN + 4)
/*
 * Bodies get the largest page. An item over a quarter page goes to its own
 * overflow pages, so with the default 4 KB page every body of 1 KB to 4 KB
 * took a whole page to itself (bodies.db twice the size of the mail);
 * with 64 KB pages small bodies share pages, and full 64 KB chunks are
 * overflow items either way.
 */
#define QUEUE_STORE_BODY_PAGE	(64u * 1024)

/*
 * A message whose body is a file, committed but not yet in the store: its
 * envelope waits for the flush that syncs the file first.
 */
struct queue_store_defer {
	char		 qid[QID_SIZE];
	struct buf	*rec;
};

struct queue_store {
	DB_ENV	*env;
	DB	*envelopes;
	DB	*bodies;
	DB	*incoming;	/* qid -> "": bodies still arriving */
	DB	*meta;		/* "format" -> decimal QUEUE_STORE_FORMAT */
	DB	*due;		/* secondary of envelopes: (due, qid) -> qid */
	DB	*due_raw;	/* the same file, unassociated: key-only reads */
	int	 lockfd;
	int	 bodydir;	/* the folder of bodies kept as files */
	struct bodyfile_pool pool;	/* its spare files */
	struct queue_store_defer *defer;	/* envelopes for the next flush */
	size_t	 ndefer, defercap;
	char	(*unlink)[QID_SIZE];	/* body files to remove after it */
	size_t	 nunlink, unlinkcap;
};

/* queue_store_errcall - route Berkeley DB's messages to our log */
static void
queue_store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_warnx("queue: db: %s", msg);
}

/*
 * queue_store_lock - take the directory for this process, or die. Nothing
 * is allocated before a failure, so the fatal paths leave nothing behind.
 */
static int
queue_store_lock(const char *dir)
{
	struct stat	 st;
	char		 path[PATH_MAX];
	int		 fd, n;

	if (stat(dir, &st) == -1)
		fatal("queue: store %s", dir);
	if (!S_ISDIR(st.st_mode))
		fatalx("queue: store %s: not a directory", dir);
	if (access(dir, R_OK | W_OK | X_OK) == -1)
		fatal("queue: store %s", dir);

	n = snprintf(path, sizeof(path), "%s/%s", dir, QUEUE_STORE_LOCKFILE);
	if (n < 0 || (size_t)n >= sizeof(path))
		fatalx("queue: store %s: path too long", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    QUEUE_STORE_MODE)) == -1)
		fatal("queue: store lock %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			fatalx("queue: store %s is in use by another process",
			    dir);
		fatal("queue: store lock %s", path);
	}
	return fd;
}

/*
 * queue_store_db_open - open (creating) one btree inside a transaction.
 * pagesize 0 keeps Berkeley DB's default; it only matters at creation.
 */
static DB *
queue_store_db_open(DB_ENV *env, const char *dir, const char *name,
    u_int32_t pagesize)
{
	DB	*db;
	int	 rc;

	if ((rc = db_create(&db, env, 0)) != 0)
		fatalx("queue: db create %s/%s: %s", dir, name,
		    db_strerror(rc));
	if (pagesize != 0 && (rc = db->set_pagesize(db, pagesize)) != 0)
		fatalx("queue: db pagesize %s/%s: %s", dir, name,
		    db_strerror(rc));
	if ((rc = db->open(db, NULL, name, NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT, QUEUE_STORE_MODE)) != 0)
		fatalx("queue: db open %s/%s: %s", dir, name, db_strerror(rc));
	return db;
}

/* queue_store_format_put - write our format number into "meta", or die */
static void
queue_store_format_put(struct queue_store *qs, const char *dir)
{
	char	 buf[16];
	DBT	 k, d;
	int	 rc;

	snprintf(buf, sizeof(buf), "%u", QUEUE_STORE_FORMAT);
	memset(&k, 0, sizeof(k));
	k.data = (void *)(uintptr_t)"format";
	k.size = 6;
	memset(&d, 0, sizeof(d));
	d.data = buf;
	d.size = (u_int32_t)strlen(buf);
	if ((rc = qs->meta->put(qs->meta, NULL, &k, &d, 0)) != 0)
		fatalx("queue: store %s: cannot write its format: %s", dir,
		    db_strerror(rc));
}

/*
 * queue_store_format - check the store's format number, or write ours in a
 * new store; fatal for a store from a newer aval, which may hold records
 * this one would misread
 */
static void
queue_store_format(struct queue_store *qs, const char *dir)
{
	char		 buf[16];
	DBT		 k, d;
	unsigned long	 v;
	char		*end;
	int		 rc;

	memset(&k, 0, sizeof(k));
	k.data = (void *)(uintptr_t)"format";
	k.size = 6;
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_USERMEM;
	d.data = buf;
	d.ulen = sizeof(buf) - 1;
	rc = qs->meta->get(qs->meta, NULL, &k, &d, 0);
	if (rc == DB_NOTFOUND) {
		queue_store_format_put(qs, dir);
		return;
	}
	if (rc != 0)
		fatalx("queue: store %s: cannot read its format: %s", dir,
		    db_strerror(rc));
	buf[d.size] = '\0';
	v = strtoul(buf, &end, 10);
	if (end == buf || *end != '\0')
		fatalx("queue: store %s: its format \"%s\" is not a number",
		    dir, buf);
	if (v > QUEUE_STORE_FORMAT)
		fatalx("queue: the spool %s was written by a newer aval (store "
		    "format %lu; this aval reads up to %u): run that version, "
		    "or move the spool aside", dir, v, QUEUE_STORE_FORMAT);
	if (v == QUEUE_STORE_FORMAT)
		return;
	/*
	 * Older: what it lacked was made at the open (the due index, the
	 * folder of body files); its bodies stay where they are and are
	 * read there.
	 */
	log_info("queue: store %s upgraded from format %lu to %u", dir, v,
	    QUEUE_STORE_FORMAT);
	queue_store_format_put(qs, dir);
}

/* queue_store_due_put - the due index key for (due, qid) */
static void
queue_store_due_put(unsigned char key[QUEUE_STORE_DUE_KEY], int64_t due,
    const char *qid)
{
	uint64_t	 u = (uint64_t)due;
	int		 i;

	for (i = 7; i >= 0; i--) {
		key[i] = (unsigned char)u;
		u >>= 8;
	}
	memcpy(key + 8, qid, QID_LEN);
}

static int64_t
queue_store_due_get(const unsigned char *key)
{
	uint64_t	 u = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		u = u << 8 | key[i];
	return (int64_t)u;
}

/*
 * queue_store_due_key - Berkeley DB's callback for the due index: the
 * secondary key of an envelope is when it is next due (queue_env_due())
 * and its queue ID. A record that does not decode, or has nothing left to
 * do, is not indexed; Berkeley DB calls this on every write and delete of
 * an envelope, in the same transaction, so the index never disagrees with
 * the envelopes.
 */
static int
queue_store_due_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	struct queue_env	 env;
	unsigned char		*key;
	int64_t			 due;

	(void)sdb;
	if (pkey->size != QID_LEN ||
	    queue_rec_decode(pdata->data, pdata->size, &env) == -1)
		return DB_DONOTINDEX;
	due = queue_env_due(&env);
	queue_env_clear(&env);
	if (due < 0)
		return DB_DONOTINDEX;
	key = malloc(QUEUE_STORE_DUE_KEY);
	if (key == NULL)
		return ENOMEM;
	queue_store_due_put(key, due, pkey->data);
	memset(skey, 0, sizeof(*skey));
	skey->data = key;
	skey->size = QUEUE_STORE_DUE_KEY;
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

/*
 * queue_store_trim - a database file that ends in part of a page (a page
 * write cut short: the disk filled) is cut back to its last whole page
 * before recovery, which redoes from the log whatever that page held. Left
 * as it is, Berkeley DB refuses every later write to the file ("file size
 * not a multiple of the pagesize") and the queue never comes back. The
 * page size is the file's own, from its metadata page.
 */
static void
queue_store_trim(const char *dir, const char *name)
{
	char		 path[PATH_MAX];
	unsigned char	 meta[24];
	struct stat	 st;
	uint32_t	 pgsz;
	int		 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) ||
	    (fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    pread(fd, meta, sizeof(meta), 0) != (ssize_t)sizeof(meta)) {
		close(fd);
		return;
	}
	/* DBMETA: lsn, pgno, magic, version, then pagesize, host order. */
	memcpy(&pgsz, meta + 20, sizeof(pgsz));
	if (pgsz >= 512 && pgsz <= 65536 && (pgsz & (pgsz - 1)) == 0 &&
	    st.st_size % pgsz != 0) {
		off_t	 keep = st.st_size - st.st_size % pgsz;

		log_warnx("queue: store %s ends in part of a page (a write cut "
		    "short, a full disk?): cut to %lld bytes for recovery",
		    path, (long long)keep);
		if (ftruncate(fd, keep) == -1)
			log_warn("queue: store %s: ftruncate", path);
	}
	close(fd);
}

/* queue_store_open - open and recover the environment in dir, or die */
struct queue_store *
queue_store_open(const char *dir)
{
	return queue_store_open_conf(dir, NULL);
}

struct queue_store *
queue_store_open_conf(const char *dir, const struct queue_store_conf *sc)
{
	struct queue_store	*qs;
	DB_ENV			*env;
	size_t			 cache = QUEUE_STORE_CACHE;
	size_t			 lbuf = QUEUE_STORE_LG_BSIZE, lmax;
	int			 lockfd, rc;

	if (sc != NULL && sc->cache > 0)
		cache = sc->cache;
	if (sc != NULL && sc->log_buffer > 0)
		lbuf = sc->log_buffer;
	/* Berkeley DB wants a log file at least four buffers long. */
	lmax = lbuf * 4 > QUEUE_STORE_LG_MAX ? lbuf * 4 : QUEUE_STORE_LG_MAX;
	if (cache > UINT32_MAX || lmax > UINT32_MAX)
		fatalx("queue: store %s: cache or log buffer too large", dir);
	lockfd = queue_store_lock(dir);
	queue_store_trim(dir, QUEUE_STORE_ENVELOPES);
	queue_store_trim(dir, QUEUE_STORE_BODIES);
	queue_store_trim(dir, QUEUE_STORE_INCOMING);
	queue_store_trim(dir, QUEUE_STORE_META);
	queue_store_trim(dir, QUEUE_STORE_DUE);

	if ((rc = db_env_create(&env, 0)) != 0)
		fatalx("queue: db env create: %s", db_strerror(rc));
	env->set_errcall(env, queue_store_errcall);
	if ((rc = env->set_cachesize(env, 0, (u_int32_t)cache, 1)) != 0 ||
	    (rc = env->set_lg_bsize(env, (u_int32_t)lbuf)) != 0 ||
	    (rc = env->set_lg_max(env, (u_int32_t)lmax)) != 0 ||
	    (rc = env->set_lk_max_locks(env, QUEUE_STORE_LK_MAX)) != 0 ||
	    (rc = env->set_lk_max_lockers(env, QUEUE_STORE_LK_MAX)) != 0 ||
	    (rc = env->set_lk_max_objects(env, QUEUE_STORE_LK_MAX)) != 0 ||
	    (rc = env->set_tmp_dir(env, dir)) != 0 ||
	    (rc = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		fatalx("queue: db env config %s: %s", dir, db_strerror(rc));
	/*
	 * No DB_USE_ENVIRON: $DB_HOME must not move the store. No DB_THREAD:
	 * one thread. DB_PRIVATE: the regions (cache, log buffer, locks) are
	 * this process's memory, not files in dir. Only this process ever
	 * opens the environment (the lock file sees to it), and recovery
	 * rebuilt file regions at every open anyway; file regions are
	 * mmap()ed, and on a full disk a page that has no block behind it
	 * killed the queue with SIGBUS, then left regions no later queue
	 * could join.
	 */
	if ((rc = env->open(env, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOG |
	    DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE,
	    QUEUE_STORE_MODE)) != 0)
		fatalx("queue: db env open %s: %s", dir, db_strerror(rc));
	qs = xcalloc(1, sizeof(*qs));
	qs->lockfd = lockfd;
	qs->env = env;
	qs->envelopes = queue_store_db_open(env, dir, QUEUE_STORE_ENVELOPES, 0);
	qs->bodies = queue_store_db_open(env, dir, QUEUE_STORE_BODIES,
	    QUEUE_STORE_BODY_PAGE);
	qs->incoming = queue_store_db_open(env, dir, QUEUE_STORE_INCOMING, 0);
	qs->meta = queue_store_db_open(env, dir, QUEUE_STORE_META, 0);
	qs->due = queue_store_db_open(env, dir, QUEUE_STORE_DUE, 0);
	/* DB_CREATE: an empty index (a store of format 1) is built now. */
	if ((rc = qs->envelopes->associate(qs->envelopes, NULL, qs->due,
	    queue_store_due_key, DB_CREATE | DB_AUTO_COMMIT)) != 0)
		fatalx("queue: store %s: due index: %s", dir, db_strerror(rc));
	qs->due_raw = queue_store_db_open(env, dir, QUEUE_STORE_DUE, 0);
	if ((qs->bodydir = bodyfile_open_dir(dir)) == -1 ||
	    bodyfile_spares_clear(qs->bodydir, &qs->pool) == -1)
		fatalx("queue: store %s: no folder for body files", dir);
	queue_store_format(qs, dir);
	return qs;
}

/* queue_store_defer_clear - forget the envelopes waiting for a flush */
static void
queue_store_defer_clear(struct queue_store *qs)
{
	size_t	 i;

	for (i = 0; i < qs->ndefer; i++)
		buf_free(qs->defer[i].rec);
	qs->ndefer = 0;
}

/* queue_store_unlink_later - qid's body file goes after the next flush */
static void
queue_store_unlink_later(struct queue_store *qs, const char *qid)
{
	if (qs->nunlink == qs->unlinkcap) {
		qs->unlinkcap = qs->unlinkcap ? qs->unlinkcap * 2 : 64;
		qs->unlink = xreallocarray(qs->unlink, qs->unlinkcap,
		    sizeof(*qs->unlink));
	}
	strlcpy(qs->unlink[qs->nunlink++], qid, QID_SIZE);
}

/* queue_store_close - checkpoint and close everything; NULL is fine */
void
queue_store_close(struct queue_store *qs)
{
	int	 rc;

	if (qs == NULL)
		return;
	queue_store_checkpoint(qs);
	if ((rc = qs->due_raw->close(qs->due_raw, 0)) != 0 ||
	    (rc = qs->due->close(qs->due, 0)) != 0)
		log_warnx("queue: db close %s: %s", QUEUE_STORE_DUE,
		    db_strerror(rc));
	if ((rc = qs->meta->close(qs->meta, 0)) != 0)
		log_warnx("queue: db close %s: %s", QUEUE_STORE_META,
		    db_strerror(rc));
	if ((rc = qs->incoming->close(qs->incoming, 0)) != 0)
		log_warnx("queue: db close %s: %s", QUEUE_STORE_INCOMING,
		    db_strerror(rc));
	if ((rc = qs->bodies->close(qs->bodies, 0)) != 0)
		log_warnx("queue: db close %s: %s", QUEUE_STORE_BODIES,
		    db_strerror(rc));
	if ((rc = qs->envelopes->close(qs->envelopes, 0)) != 0)
		log_warnx("queue: db close %s: %s", QUEUE_STORE_ENVELOPES,
		    db_strerror(rc));
	if ((rc = qs->env->close(qs->env, 0)) != 0)
		log_warnx("queue: db env close: %s", db_strerror(rc));
	/* Never flushed, never acknowledged: the next start sweeps them. */
	queue_store_defer_clear(qs);
	free(qs->defer);
	free(qs->unlink);
	close(qs->bodydir);
	close(qs->lockfd);
	free(qs);
}

/* queue_store_body_key - the key of chunk n of qid's body */
static void
queue_store_body_key(const char *qid, uint32_t n,
    unsigned char key[QUEUE_STORE_BODY_KEY])
{
	memcpy(key, qid, QID_LEN);
	key[QID_LEN] = (unsigned char)(n >> 24);
	key[QID_LEN + 1] = (unsigned char)(n >> 16);
	key[QID_LEN + 2] = (unsigned char)(n >> 8);
	key[QID_LEN + 3] = (unsigned char)n;
}

/*
 * queue_store_dbt_key - a cursor key DBT holding its own copy of p (a
 * cursor writes the keys it moves to into it: DB_DBT_REALLOC; the caller
 * frees d->data)
 */
static void
queue_store_dbt_key(DBT *d, const void *p, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->data = xmalloc(len > 0 ? len : 1);
	memcpy(d->data, p, len);
	d->size = (u_int32_t)len;
	d->flags = DB_DBT_REALLOC;
}

/* queue_store_dbt - a DBT over caller memory */
static void
queue_store_dbt(DBT *d, const void *p, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)(uintptr_t)p;	/* BDB does not write it */
	d->size = (u_int32_t)len;
}

/*
 * queue_store_flag - a yes/no setting of the spool's own in "meta" (the
 * postmaster's pause): its value, 0 when it was never set or on error
 */
int
queue_store_flag(struct queue_store *qs, const char *name)
{
	char	 buf[4] = "";
	DBT	 k, d;

	queue_store_dbt(&k, name, strlen(name));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_USERMEM;
	d.data = buf;
	d.ulen = sizeof(buf);
	if (qs->meta->get(qs->meta, NULL, &k, &d, 0) != 0)
		return 0;
	return d.size == 1 && buf[0] == '1';
}

/* queue_store_set_flag - set it, committed (the next flush makes it durable) */
int
queue_store_set_flag(struct queue_store *qs, const char *name, int on)
{
	DBT	 k, d;
	int	 rc;

	queue_store_dbt(&k, name, strlen(name));
	queue_store_dbt(&d, on ? "1" : "0", 1);
	if ((rc = qs->meta->put(qs->meta, NULL, &k, &d, 0)) != 0) {
		log_warnx("queue: store: cannot write %s: %s", name,
		    db_strerror(rc));
		return -1;
	}
	return 0;
}

/* queue_store_commit - commit without syncing the log (see the top) */
static int
queue_store_commit(DB_TXN *txn, const char *qid, const char *what)
{
	int	 rc;

	/* A failed commit has freed the handle: never abort it after. */
	if ((rc = txn->commit(txn, DB_TXN_NOSYNC)) != 0) {
		log_warnx("%s: store %s failed: commit: %s", qid, what,
		    db_strerror(rc));
		return -1;
	}
	return 0;
}

/* queue_store_encode - the envelope's record in a new buf, or NULL */
static struct buf *
queue_store_encode(const char *qid, const struct queue_env *env,
    const char *what)
{
	struct buf	*b;

	b = buf_new(512, QUEUE_STORE_ENV_CAP);
	if (queue_rec_encode(env, b) == -1) {
		log_warnx("%s: store %s failed: envelope cannot be encoded",
		    qid, what);
		buf_free(b);
		return NULL;
	}
	return b;
}


/* queue_store_chunk - put body chunk n of qid under txn; 0 or a DB error */
static int
queue_store_chunk(struct queue_store *qs, DB_TXN *txn, const char *qid,
    uint32_t n, const void *p, size_t len)
{
	unsigned char	 bkey[QUEUE_STORE_BODY_KEY];
	DBT		 k, d;

	/*
	 * DB_NOOVERWRITE: a stray chunk under a fresh queue ID is damage to
	 * report, not something to mix into this body. An empty piece has
	 * no bytes to point into (p may be NULL).
	 */
	queue_store_body_key(qid, n, bkey);
	queue_store_dbt(&k, bkey, sizeof(bkey));
	queue_store_dbt(&d, len > 0 ? p : (const void *)"", len);
	return qs->bodies->put(qs->bodies, txn, &k, &d, DB_NOOVERWRITE);
}

/*
 * queue_store_put_body - a whole body p[0..len) as chunks 0, 1, ... of at
 * most QUEUE_STORE_CHUNK bytes each, under txn; an empty body makes one
 * empty chunk 0. 0 or a DB error.
 */
static int
queue_store_put_body(struct queue_store *qs, DB_TXN *txn, const char *qid,
    const unsigned char *p, size_t len)
{
	size_t		 off = 0, n;
	uint32_t	 chunk = 0;
	int		 rc;

	/*
	 * Chunk 0 is always written, empty for an empty body: a message
	 * without chunk 0 has its body in a file.
	 */
	do {
		n = len - off < QUEUE_STORE_CHUNK ? len - off :
		    QUEUE_STORE_CHUNK;
		if ((rc = queue_store_chunk(qs, txn, qid, chunk, p + (len ?
		    off : 0), n)) != 0)
			return rc;
		off += n;
		chunk++;
	} while (off < len);
	return 0;
}

/*
 * queue_store_commit_file - the end of a body that is a file, and its
 * envelope kept for the next flush: the envelope must not reach the log
 * before the file is on disk (the log buffer may be written out at any
 * moment), so queue_store_flush() syncs the file first and only then puts
 * the envelope.
 */
static int
queue_store_commit_file(struct queue_store *qs, const char *qid,
    const struct queue_env *env, const void *tail, size_t len)
{
	struct buf	*rec;
	int		 rc;

	/* Checked now, not by the flush, where it would fail every message. */
	if ((rc = queue_store_exists(qs, qid)) != 0) {
		if (rc == 1)
			log_warnx("%s: store add failed: queue ID exists", qid);
		return -1;
	}
	if (bodyfile_append(qs->bodydir, qid, tail, len, 1) == -1) {
		log_warnx("%s: store add failed: body file", qid);
		return -1;
	}
	if ((rec = queue_store_encode(qid, env, "add")) == NULL)
		return -1;
	if (qs->ndefer == qs->defercap) {
		qs->defercap = qs->defercap ? qs->defercap * 2 : 64;
		qs->defer = xreallocarray(qs->defer, qs->defercap,
		    sizeof(*qs->defer));
	}
	strlcpy(qs->defer[qs->ndefer].qid, qid, QID_SIZE);
	qs->defer[qs->ndefer++].rec = rec;
	return 0;
}

/*
 * queue_store_commit_env - what makes a message exist: its envelope and
 * the body bytes not yet stored. A body that came whole (first 0) goes
 * into "bodies" in the envelope's transaction; one whose first chunks are
 * a file (first > 0) ends there, and its envelope is put by the flush.
 */
int
queue_store_commit_env(struct queue_store *qs, const char *qid,
    const struct queue_env *env, uint32_t first, const void *tail,
    size_t len)
{
	struct buf		*rec = NULL;
	DB_TXN			*txn = NULL;
	const char		*why;
	DBT			 k, d;
	int			 rc;

	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store add failed: invalid queue ID");
		return -1;
	}
	if (len / QUEUE_STORE_CHUNK >= UINT32_MAX - first) {
		log_warnx("%s: store add failed: body too large", qid);
		return -1;
	}
	if (first > 0)
		return queue_store_commit_file(qs, qid, env, tail, len);
	if ((rec = queue_store_encode(qid, env, "add")) == NULL)
		return -1;
	why = "begin";
	if ((rc = qs->env->txn_begin(qs->env, NULL, &txn, 0)) != 0) {
		txn = NULL;
		goto fail;
	}
	why = "envelope";
	queue_store_dbt(&k, qid, QID_LEN);
	queue_store_dbt(&d, buf_data(rec), buf_len(rec));
	if ((rc = qs->envelopes->put(qs->envelopes, txn, &k, &d,
	    DB_NOOVERWRITE)) != 0)
		goto fail;
	why = "body";
	if ((rc = queue_store_put_body(qs, txn, qid, tail, len)) != 0)
		goto fail;
	buf_free(rec);
	return queue_store_commit(txn, qid, "add");

 fail:
	if (rc == DB_KEYEXIST && strcmp(why, "envelope") == 0)
		log_warnx("%s: store add failed: queue ID exists", qid);
	else
		log_warnx("%s: store add failed: %s: %s", qid, why,
		    db_strerror(rc));
	if (txn != NULL)
		txn->abort(txn);
	buf_free(rec);
	return -1;
}

static int	queue_store_del_body(struct queue_store *, DB_TXN *,
		    const char *, int *);

/* queue_store_add_notice - a notice added, its original updated or gone */
int
queue_store_add_notice(struct queue_store *qs, const char *nqid,
    const struct queue_env *nenv, const void *body, size_t len,
    const char *oqid, const struct queue_env *oenv)
{
	struct buf	*nrec = NULL, *orec = NULL;
	DB_TXN		*txn = NULL;
	const char	*why = "begin";
	DBT		 k, d;
	int		 rc, found = 1;

	if (!qid_valid(nqid) || !qid_valid(oqid)) {
		log_warnx("NOQUEUE: store notice failed: invalid queue ID");
		return -1;
	}
	if ((nrec = queue_store_encode(nqid, nenv, "notice")) == NULL ||
	    (oenv != NULL &&
	    (orec = queue_store_encode(oqid, oenv, "notice")) == NULL)) {
		buf_free(nrec);
		return -1;
	}
	if ((rc = qs->env->txn_begin(qs->env, NULL, &txn, 0)) != 0) {
		txn = NULL;
		goto fail;
	}
	why = "envelope";
	queue_store_dbt(&k, nqid, QID_LEN);
	queue_store_dbt(&d, buf_data(nrec), buf_len(nrec));
	if ((rc = qs->envelopes->put(qs->envelopes, txn, &k, &d,
	    DB_NOOVERWRITE)) != 0)
		goto fail;
	why = "body";
	if ((rc = queue_store_put_body(qs, txn, nqid, body, len)) != 0)
		goto fail;
	why = "original";
	queue_store_dbt(&k, oqid, QID_LEN);
	if (orec != NULL) {
		if ((rc = qs->envelopes->exists(qs->envelopes, txn, &k, 0))
		    != 0)
			goto fail;
		queue_store_dbt(&d, buf_data(orec), buf_len(orec));
		rc = qs->envelopes->put(qs->envelopes, txn, &k, &d, 0);
	} else if ((rc = qs->envelopes->del(qs->envelopes, txn, &k, 0)) == 0)
		rc = queue_store_del_body(qs, txn, oqid, &found);
	if (rc != 0)
		goto fail;
	buf_free(nrec);
	buf_free(orec);
	if (queue_store_commit(txn, nqid, "notice") == -1)
		return -1;
	if (orec == NULL && !found)
		queue_store_unlink_later(qs, oqid);
	return 0;

 fail:
	log_warnx("%s: store notice failed: %s: %s", nqid, why,
	    db_strerror(rc));
	if (txn != NULL)
		txn->abort(txn);
	buf_free(nrec);
	buf_free(orec);
	return -1;
}

/* queue_store_add - envelope and whole body in one transaction */
int
queue_store_add(struct queue_store *qs, const char *qid,
    const struct queue_env *env, const void *body, size_t len)
{
	return queue_store_commit_env(qs, qid, env, 0, body, len);
}

/*
 * queue_store_chunk_put - chunk n of a body still arriving: a body that
 * comes in chunks is a file (bodyfile.h), made by chunk 0 and appended to
 * by the others. It is synced only by the flush after its commit; a
 * receipt that never commits leaves a file with no envelope, which
 * queue_store_sweep() removes at the next start.
 */
int
queue_store_chunk_put(struct queue_store *qs, const char *qid, uint32_t n,
    const void *p, size_t len)
{
	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store chunk failed: invalid queue ID");
		return -1;
	}
	if (n == 0 && bodyfile_create(qs->bodydir, &qs->pool, qid) == -1) {
		log_warnx("%s: store chunk 0 failed", qid);
		return -1;
	}
	if (bodyfile_append(qs->bodydir, qid, p, len, 0) == -1) {
		log_warnx("%s: store chunk %u failed", qid, n);
		/* The caller drops only what chunk 0 made; this is chunk 0. */
		if (n == 0)
			(void)bodyfile_unlink(qs->bodydir, qid);
		return -1;
	}
	return 0;
}

/* queue_store_update - rewrite an existing envelope */
int
queue_store_update(struct queue_store *qs, const char *qid,
    const struct queue_env *env)
{
	struct buf	*rec;
	DB_TXN		*txn = NULL;
	DBT		 k, d;
	int		 rc;

	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store update failed: invalid queue ID");
		return -1;
	}
	if ((rec = queue_store_encode(qid, env, "update")) == NULL)
		return -1;
	if ((rc = qs->env->txn_begin(qs->env, NULL, &txn, 0)) != 0) {
		txn = NULL;
		goto fail;
	}
	/* An update never creates: a missing envelope is the caller's bug. */
	queue_store_dbt(&k, qid, QID_LEN);
	if ((rc = qs->envelopes->exists(qs->envelopes, txn, &k, 0)) != 0)
		goto fail;
	queue_store_dbt(&d, buf_data(rec), buf_len(rec));
	if ((rc = qs->envelopes->put(qs->envelopes, txn, &k, &d, 0)) != 0)
		goto fail;
	buf_free(rec);
	return queue_store_commit(txn, qid, "update");

 fail:
	log_warnx("%s: store update failed: %s", qid,
	    rc == DB_NOTFOUND ? "no such message" : db_strerror(rc));
	if (txn != NULL)
		txn->abort(txn);
	buf_free(rec);
	return -1;
}

/*
 * queue_store_del_body - delete every body chunk of qid under txn; 0 or a
 * DB error, and *found 0 when there was none: the body is a file.
 *
 * The body keys are the queue ID then a big-endian chunk number, and
 * queue IDs have one length, so a message's chunks are exactly the keys
 * from DB_SET_RANGE(qid) that still start with qid. Any key under that
 * prefix goes, even a malformed one: it can belong to no other message.
 * The data is not needed, so none is read.
 */
static int
queue_store_del_body(struct queue_store *qs, DB_TXN *txn, const char *qid,
    int *found)
{
	DBC	*c;
	DBT	 k, d;
	int	 rc, crc;

	*found = 0;
	if ((rc = qs->bodies->cursor(qs->bodies, txn, &c, 0)) != 0)
		return rc;
	queue_store_dbt_key(&k, qid, QID_LEN);
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_PARTIAL;
	rc = c->get(c, &k, &d, DB_SET_RANGE);
	while (rc == 0 && k.size >= QID_LEN &&
	    memcmp(k.data, qid, QID_LEN) == 0) {
		if ((rc = c->del(c, 0)) != 0)
			break;
		*found = 1;
		rc = c->get(c, &k, &d, DB_NEXT);
	}
	if (rc == DB_NOTFOUND)
		rc = 0;
	free(k.data);
	if ((crc = c->close(c)) != 0 && rc == 0)
		rc = crc;
	return rc;
}

/*
 * queue_store_remove - delete the envelope and every body chunk; a body
 * file goes after the flush that makes the removal durable, so a crash
 * before it never leaves an envelope without its body.
 */
int
queue_store_remove(struct queue_store *qs, const char *qid)
{
	DB_TXN	*txn = NULL;
	DBT	 k;
	int	 rc, found;

	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store remove failed: invalid queue ID");
		return -1;
	}
	if ((rc = qs->env->txn_begin(qs->env, NULL, &txn, 0)) != 0) {
		txn = NULL;
		goto fail;
	}
	queue_store_dbt(&k, qid, QID_LEN);
	if ((rc = qs->envelopes->del(qs->envelopes, txn, &k, 0)) != 0 ||
	    (rc = queue_store_del_body(qs, txn, qid, &found)) != 0)
		goto fail;
	if (queue_store_commit(txn, qid, "remove") == -1)
		return -1;
	if (!found)
		queue_store_unlink_later(qs, qid);
	return 0;

 fail:
	log_warnx("%s: store remove failed: %s", qid,
	    rc == DB_NOTFOUND ? "no such message" : db_strerror(rc));
	if (txn != NULL)
		txn->abort(txn);
	return -1;
}

/*
 * queue_store_drop - forget a body that never became a message: its file
 * at once (no envelope names it), and the chunks and "incoming" entry a
 * store of format 2 kept for it, in one transaction
 */
int
queue_store_drop(struct queue_store *qs, const char *qid)
{
	DB_TXN	*txn = NULL;
	DBT	 k;
	int	 rc, found;

	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store drop failed: invalid queue ID");
		return -1;
	}
	if (bodyfile_recycle(qs->bodydir, &qs->pool, qid) == -1)
		return -1;
	/*
	 * A receipt refused because its queue ID was in use: the chunks
	 * under that ID are the stored message's, never this receipt's.
	 */
	if ((rc = queue_store_exists(qs, qid)) != 0)
		return rc == 1 ? 0 : -1;
	if ((rc = qs->env->txn_begin(qs->env, NULL, &txn, 0)) != 0) {
		txn = NULL;
		goto fail;
	}
	queue_store_dbt(&k, qid, QID_LEN);
	if ((rc = qs->incoming->del(qs->incoming, txn, &k, 0)) != 0 &&
	    rc != DB_NOTFOUND)
		goto fail;
	if ((rc = queue_store_del_body(qs, txn, qid, &found)) != 0)
		goto fail;
	return queue_store_commit(txn, qid, "drop");

 fail:
	log_warnx("%s: store drop failed: %s", qid, db_strerror(rc));
	if (txn != NULL)
		txn->abort(txn);
	return -1;
}

struct queue_store_sweep_arg {
	struct queue_store	*qs;
	long			 n;
	int			 failed;
};

/* queue_store_sweep_file - one body file: kept only if a message names it */
static void
queue_store_sweep_file(const char *qid, void *arg)
{
	struct queue_store_sweep_arg	*a = arg;
	size_t				 i;
	int				 rc;

	for (i = 0; i < a->qs->ndefer; i++)
		if (strcmp(a->qs->defer[i].qid, qid) == 0)
			return;
	if ((rc = queue_store_exists(a->qs, qid)) != 0) {
		if (rc == -1)
			a->failed = 1;
		return;
	}
	if (bodyfile_unlink(a->qs->bodydir, qid) == -1) {
		a->failed = 1;
		return;
	}
	log_info("%s: removed a body file no message names (a receipt that "
	    "never completed, or a removal cut short)", qid);
	a->n++;
}

/*
 * queue_store_sweep - at start, before anything arrives: drop every body
 * whose receipt never committed. Those are the body files no envelope
 * names (bodyfile.h), and the chunks a store of format 2 kept under a
 * queue ID still in "incoming". An "incoming" entry beside an envelope
 * cannot come from this code (the envelope's transaction deletes it); the
 * message is kept and only the entry goes. Returns the number of bodies
 * dropped, or -1.
 */
long
queue_store_sweep(struct queue_store *qs)
{
	struct queue_store_sweep_arg	 a;
	char	 qid[QID_SIZE];
	DBC	*c;
	DBT	 k, d;
	long	 n = 0;
	int	 rc, crc, bad = 0;

	for (;;) {
		if ((rc = qs->incoming->cursor(qs->incoming, NULL, &c, 0))
		    != 0)
			break;
		memset(&k, 0, sizeof(k));
		memset(&d, 0, sizeof(d));
		d.flags = DB_DBT_PARTIAL;
		k.flags = DB_DBT_USERMEM;
		k.data = qid;
		k.ulen = QID_LEN;
		rc = c->get(c, &k, &d, DB_FIRST);
		if ((crc = c->close(c)) != 0 && rc == 0)
			rc = crc;
		if (rc == DB_BUFFER_SMALL || (rc == 0 && k.size != QID_LEN)) {
			/* Not ours: nothing to sweep it with; stop here. */
			log_warnx("queue: store sweep: an incoming key that "
			    "is not a queue ID; left in place");
			bad = 1;
			break;
		}
		if (rc != 0)
			break;
		qid[QID_LEN] = '\0';
		queue_store_dbt(&k, qid, QID_LEN);
		if ((rc = qs->envelopes->exists(qs->envelopes, NULL, &k, 0))
		    == 0) {
			log_warnx("%s: store sweep: an envelope beside its "
			    "incoming entry; message kept", qid);
			if ((rc = qs->incoming->del(qs->incoming, NULL, &k,
			    0)) != 0)
				break;
			continue;
		}
		if (rc != DB_NOTFOUND)
			break;
		if (queue_store_drop(qs, qid) == -1)
			return -1;
		log_info("%s: removed a body whose receipt never completed",
		    qid);
		n++;
	}
	if (rc != 0 && rc != DB_NOTFOUND && !bad) {
		log_warnx("queue: store sweep failed: %s", db_strerror(rc));
		return -1;
	}
	a.qs = qs;
	a.n = 0;
	a.failed = 0;
	if (bodyfile_scan(qs->bodydir, queue_store_sweep_file, &a) == -1 ||
	    a.failed) {
		log_warnx("queue: store sweep of body files failed");
		return -1;
	}
	return n + a.n;
}

/* queue_store_exists - is qid's envelope there? 1, 0, or -1 */
int
queue_store_exists(struct queue_store *qs, const char *qid)
{
	DBT	 k;
	int	 rc;

	if (!qid_valid(qid))
		return 0;
	queue_store_dbt(&k, qid, QID_LEN);
	rc = qs->envelopes->exists(qs->envelopes, NULL, &k, 0);
	if (rc == 0)
		return 1;
	if (rc == DB_NOTFOUND)
		return 0;
	log_warnx("%s: store lookup failed: %s", qid, db_strerror(rc));
	return -1;
}

/*
 * queue_store_put_deferred - the envelopes of bodies that are files, now
 * that the files are on disk; 0 or -1
 */
static int
queue_store_put_deferred(struct queue_store *qs)
{
	struct queue_store_defer	*df;
	DB_TXN				*txn;
	DBT				 k, d;
	size_t				 i;
	int				 rc;

	for (i = 0; i < qs->ndefer; i++) {
		df = &qs->defer[i];
		if ((rc = qs->env->txn_begin(qs->env, NULL, &txn, 0)) != 0) {
			log_warnx("%s: store add failed: begin: %s", df->qid,
			    db_strerror(rc));
			return -1;
		}
		queue_store_dbt(&k, df->qid, QID_LEN);
		queue_store_dbt(&d, buf_data(df->rec), buf_len(df->rec));
		if ((rc = qs->envelopes->put(qs->envelopes, txn, &k, &d,
		    DB_NOOVERWRITE)) != 0) {
			log_warnx("%s: store add failed: envelope: %s",
			    df->qid, rc == DB_KEYEXIST ? "queue ID exists" :
			    db_strerror(rc));
			txn->abort(txn);
			return -1;
		}
		if (queue_store_commit(txn, df->qid, "add") == -1)
			return -1;
	}
	return 0;
}

/*
 * queue_store_flush - every commit so far made durable. In this order:
 * the body files committed since the last flush are synced with the
 * folder that names them, their envelopes are put, the log is written
 * and synced (group commit), and only then do the files of removed
 * messages go. Any failure is -1 and leaves the truth to recovery: an
 * envelope whose file could not be synced was never put.
 */
int
queue_store_flush(struct queue_store *qs)
{
	size_t	 i;
	int	 rc, ret = 0;

	for (i = 0; i < qs->ndefer; i++)
		if (bodyfile_sync(qs->bodydir, qs->defer[i].qid) == -1)
			ret = -1;
	if (qs->ndefer > 0 && ret == 0 && bodyfile_sync_dir(qs->bodydir) == -1)
		ret = -1;
	if (ret == 0)
		ret = queue_store_put_deferred(qs);
	queue_store_defer_clear(qs);
	if (ret == -1) {
		log_warnx("queue: store flush failed: a body file");
		return -1;
	}
	if ((rc = qs->env->log_flush(qs->env, NULL)) != 0) {
		log_warnx("queue: store flush failed: %s", db_strerror(rc));
		return -1;
	}
	for (i = 0; i < qs->nunlink; i++)
		(void)bodyfile_recycle(qs->bodydir, &qs->pool, qs->unlink[i]);
	qs->nunlink = 0;
	return 0;
}

/*
 * queue_store_file_read - body_read of a body that is a file: a message
 * with no chunk 0 in "bodies" has its body in the file, and a position
 * in it is chunk 0 and the offset. Neither there: damage, -1.
 */
static int
queue_store_file_read(struct queue_store *qs, const char *qid,
    uint32_t *off, void *dst, size_t max, size_t *got)
{
	ssize_t	 n;

	if (max > UINT32_MAX - *off)
		max = UINT32_MAX - *off;
	n = bodyfile_read(qs->bodydir, qid, *off, dst, max);
	if (n == -2) {
		log_warnx("%s: store read failed: no chunk 0 and no body file",
		    qid);
		return -1;
	}
	if (n < 0)
		return -1;
	*got = (size_t)n;
	*off += (uint32_t)n;
	return n > 0;
}

/*
 * queue_store_body_read - up to max bytes of qid's body from position
 * (*chunk, *off) into dst; *got bytes and the position moved past them.
 * 1 when *got > 0, 0 at the end of the body, -1 on error (logged). Only
 * the bytes asked for are read (DB_DBT_PARTIAL, or pread of a body
 * file), so a reader never holds more than max of a body.
 */
int
queue_store_body_read(struct queue_store *qs, const char *qid,
    uint32_t *chunk, uint32_t *off, void *dst, size_t max, size_t *got)
{
	unsigned char	 bkey[QUEUE_STORE_BODY_KEY];
	DBT		 k, d;
	int		 rc, tries;

	*got = 0;
	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store read failed: invalid queue ID");
		return -1;
	}
	if (max == 0 || max > UINT32_MAX)
		return -1;
	/*
	 * Past a chunk's end the next one starts; only the first chunk of
	 * an empty body is empty, so two steps always find bytes or the
	 * end. The bound is for a damaged store.
	 */
	for (tries = 0; tries < 3; tries++) {
		queue_store_body_key(qid, *chunk, bkey);
		queue_store_dbt(&k, bkey, sizeof(bkey));
		memset(&d, 0, sizeof(d));
		d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		d.data = dst;
		d.ulen = (u_int32_t)max;
		d.doff = *off;
		d.dlen = (u_int32_t)max;
		rc = qs->bodies->get(qs->bodies, NULL, &k, &d, 0);
		if (rc == DB_NOTFOUND) {
			if (*chunk == 0)
				return queue_store_file_read(qs, qid, off,
				    dst, max, got);
			return 0;
		}
		if (rc != 0) {
			log_warnx("%s: store read failed: chunk %u: %s", qid,
			    *chunk, db_strerror(rc));
			return -1;
		}
		if (d.size > 0) {
			*got = d.size;
			*off += d.size;
			return 1;
		}
		(*chunk)++;
		*off = 0;
	}
	log_warnx("%s: store read failed: empty chunks at %u", qid, *chunk);
	return -1;
}

/* queue_store_body_open - qid's body file for deliver, or -2 / -1 */
int
queue_store_body_open(struct queue_store *qs, const char *qid)
{
	unsigned char	 bkey[QUEUE_STORE_BODY_KEY];
	DBT		 k;
	int		 rc, fd;

	if (!qid_valid(qid))
		return -1;
	queue_store_body_key(qid, 0, bkey);
	queue_store_dbt(&k, bkey, sizeof(bkey));
	if ((rc = qs->bodies->exists(qs->bodies, NULL, &k, 0)) == 0)
		return -2;
	if (rc != DB_NOTFOUND) {
		log_warnx("%s: store read failed: chunk 0: %s", qid,
		    db_strerror(rc));
		return -1;
	}
	if ((fd = bodyfile_open_read(qs->bodydir, qid)) == -2) {
		log_warnx("%s: store read failed: no chunk 0 and no body file",
		    qid);
		return -1;
	}
	return fd;
}

/* queue_store_body_chunk - append chunk n of qid's body to out */
int
queue_store_body_chunk(struct queue_store *qs, const char *qid,
    unsigned int n, struct buf *out)
{
	unsigned char	 bkey[QUEUE_STORE_BODY_KEY];
	DBT		 k, d;
	int		 rc, ret;

	if (!qid_valid(qid)) {
		log_warnx("NOQUEUE: store read failed: invalid queue ID");
		return -1;
	}
	queue_store_body_key(qid, n, bkey);
	queue_store_dbt(&k, bkey, sizeof(bkey));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	rc = qs->bodies->get(qs->bodies, NULL, &k, &d, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_warnx("%s: store read failed: chunk %u: %s", qid, n,
		    db_strerror(rc));
		return -1;
	}
	ret = 1;
	if (buf_add(out, d.data, d.size) == -1) {
		log_warnx("%s: store read failed: chunk %u does not fit",
		    qid, n);
		ret = -1;
	}
	free(d.data);
	return ret;
}

/*
 * queue_store_walk_next - the first envelope whose key sorts after prev
 * (or the first of all when prev is NULL), into k and d (DB_DBT_REALLOC,
 * owned by the caller). The cursor is closed again before returning, so no
 * lock is held while the caller's callback runs. 0, DB_NOTFOUND or an error.
 */
static int
queue_store_walk_next(struct queue_store *qs, const void *prev,
    size_t prevlen, DBT *k, DBT *d)
{
	DBC	*c;
	int	 rc, crc;

	if ((rc = qs->envelopes->cursor(qs->envelopes, NULL, &c, 0)) != 0)
		return rc;
	if (prev == NULL)
		rc = c->get(c, k, d, DB_FIRST);
	else {
		k->data = xreallocarray(k->data, prevlen > 0 ? prevlen : 1, 1);
		if (prevlen > 0)
			memcpy(k->data, prev, prevlen);
		k->size = (u_int32_t)prevlen;
		rc = c->get(c, k, d, DB_SET_RANGE);
		/* Still there (the callback did not remove it): step past. */
		if (rc == 0 && k->size == prevlen &&
		    memcmp(k->data, prev, prevlen) == 0)
			rc = c->get(c, k, d, DB_NEXT);
	}
	if ((crc = c->close(c)) != 0 && rc == 0)
		rc = crc;
	return rc;
}

/*
 * queue_store_walk_batch - cb for up to max envelopes whose keys sort
 * after pos ("" for the first), in queue ID order; pos moves to the last
 * key visited. Returns how many keys were visited (those that do not
 * decode are logged, left in place and skipped, but counted, so 0 means
 * the end), or -1 on error. When stop is given, a cb that sets *stop ends
 * the batch after its message.
 */
long
queue_store_walk_batch(struct queue_store *qs, char pos[QID_SIZE],
    unsigned int max, queue_store_walk_cb cb, void *arg, const int *stop)
{
	struct queue_env	 env;
	char			 qid[QID_SIZE];
	DBT			 k, d;
	long			 visited = 0;
	int			 rc;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = DB_DBT_REALLOC;
	d.flags = DB_DBT_REALLOC;
	while ((unsigned int)visited < max) {
		size_t	 plen = strlen(pos);

		rc = queue_store_walk_next(qs, plen > 0 ? pos : NULL, plen,
		    &k, &d);
		/*
		 * A key that is not a queue ID (damage: none is written so)
		 * is stepped past by its own bytes, so pos only ever holds
		 * a queue ID.
		 */
		while (rc == 0 && k.size != QID_LEN) {
			void	*bad = xmalloc(k.size > 0 ? k.size : 1);
			size_t	 blen = k.size;

			log_warnx("queue: store walk: skipped an envelope "
			    "whose key is not a queue ID");
			memcpy(bad, k.data, blen);
			visited++;
			rc = queue_store_walk_next(qs, bad, blen, &k, &d);
			free(bad);
		}
		if (rc == DB_NOTFOUND)
			break;
		if (rc != 0) {
			log_warnx("queue: store walk failed: %s",
			    db_strerror(rc));
			visited = -1;
			break;
		}
		visited++;
		/* Remember where we are before cb can change the database. */
		memcpy(qid, k.data, QID_LEN);
		qid[QID_LEN] = '\0';
		memcpy(pos, qid, QID_SIZE);
		if (!qid_valid(qid)) {
			log_warnx("queue: store walk: skipped an envelope "
			    "whose key is not a queue ID");
			continue;
		}
		if (queue_rec_decode(d.data, d.size, &env) == -1) {
			unsigned int	 v = queue_rec_version(d.data, d.size);

			if (v > QUEUE_REC_VERSION)
				log_warnx("%s: envelope record version %u is "
				    "newer than this aval reads (%u); left in "
				    "place", qid, v, QUEUE_REC_VERSION);
			else
				log_warnx("%s: envelope does not decode, left "
				    "in place", qid);
			continue;
		}
		cb(qid, &env, arg);
		if (stop != NULL && *stop)
			break;
	}
	free(k.data);
	free(d.data);
	return visited;
}

struct queue_store_counted {
	queue_store_walk_cb	 cb;
	void			*arg;
	long			 n;
};

static void
queue_store_count_cb(const char *qid, struct queue_env *env, void *arg)
{
	struct queue_store_counted	*c = arg;

	c->n++;
	c->cb(qid, env, c->arg);
}

/* queue_store_walk - call cb for every envelope that decodes; their count */
long
queue_store_walk(struct queue_store *qs, queue_store_walk_cb cb, void *arg)
{
	struct queue_store_counted	 c = { cb, arg, 0 };
	char				 pos[QID_SIZE] = "";
	long				 n;

	while ((n = queue_store_walk_batch(qs, pos, 1024,
	    queue_store_count_cb, &c, NULL)) > 0)
		;
	return n == -1 ? -1 : c.n;
}

/*
 * queue_store_get - qid's envelope into env: 1, 0 when absent, -1 when
 * the read failed, -2 when the record does not decode (logged)
 */
int
queue_store_get(struct queue_store *qs, const char *qid,
    struct queue_env *env)
{
	DBT	 k, d;
	int	 rc;

	memset(env, 0, sizeof(*env));
	if (!qid_valid(qid))
		return 0;
	queue_store_dbt(&k, qid, QID_LEN);
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	rc = qs->envelopes->get(qs->envelopes, NULL, &k, &d, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_warnx("%s: store read failed: %s", qid, db_strerror(rc));
		return -1;
	}
	rc = queue_rec_decode(d.data, d.size, env);
	free(d.data);
	if (rc == -1) {
		log_warnx("%s: envelope does not decode, left in place", qid);
		return -2;
	}
	return 1;
}

/*
 * queue_store_due_scan - the entries of the due index after *pos, in
 * order of due time then queue ID, while due <= until, at most max: their
 * queue IDs and due times go to cb after the cursor is closed (cb may
 * write). *pos moves to the last entry visited. *next is the due time of
 * the first entry left (past until, or past max), -1 when none is left.
 * Only keys are read: the index holds the due time and the queue ID, so
 * no envelope is touched. Returns the count visited, or -1.
 */
long
queue_store_due_scan(struct queue_store *qs, struct queue_due_pos *pos,
    int64_t until, unsigned int max, queue_store_due_cb cb, void *arg,
    int64_t *next)
{
	unsigned char	 key[QUEUE_STORE_DUE_KEY];
	char		(*ids)[QID_SIZE];
	int64_t		*dues;
	DBC		*c;
	DBT		 k, d;
	unsigned int	 n = 0, i;
	int		 rc, crc;

	*next = -1;
	if (max == 0)
		return 0;
	if ((rc = qs->due_raw->cursor(qs->due_raw, NULL, &c, 0)) != 0) {
		log_warnx("queue: due index: %s", db_strerror(rc));
		return -1;
	}
	ids = xcalloc(max, sizeof(*ids));
	dues = xcalloc(max, sizeof(*dues));
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_PARTIAL;	/* the data is the qid again: skip it */
	if (pos->due < 0) {
		k.flags = DB_DBT_MALLOC;
		rc = c->get(c, &k, &d, DB_FIRST);
	} else {
		queue_store_due_put(key, pos->due, pos->qid);
		queue_store_dbt_key(&k, key, sizeof(key));
		rc = c->get(c, &k, &d, DB_SET_RANGE);
		if (rc == 0 && k.size == sizeof(key) &&
		    memcmp(k.data, key, sizeof(key)) == 0)
			rc = c->get(c, &k, &d, DB_NEXT);
	}
	k.flags = DB_DBT_REALLOC;
	for (; rc == 0; rc = c->get(c, &k, &d, DB_NEXT)) {
		int64_t	 due;

		if (k.size != QUEUE_STORE_DUE_KEY)
			continue;	/* not ours: never written so */
		due = queue_store_due_get(k.data);
		if (due > until || n == max) {
			*next = due;
			break;
		}
		dues[n] = due;
		memcpy(ids[n], (unsigned char *)k.data + 8, QID_LEN);
		ids[n][QID_LEN] = '\0';
		n++;
	}
	free(k.data);
	if ((crc = c->close(c)) != 0 && (rc == 0 || rc == DB_NOTFOUND))
		rc = crc;
	if (rc != 0 && rc != DB_NOTFOUND) {
		log_warnx("queue: due index: %s", db_strerror(rc));
		free(ids);
		free(dues);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (qid_valid(ids[i]) && cb(ids[i], dues[i], arg) != 0) {
			*next = dues[i];
			break;
		}
		pos->due = dues[i];
		memcpy(pos->qid, ids[i], QID_SIZE);
	}
	free(ids);
	free(dues);
	return (long)i;
}

/*
 * queue_store_count - how many messages the store holds (a traversal of
 * the due index's pages by Berkeley DB, no key copied: for the start),
 * and how many are held (a walk of the held entries only, which sort
 * last: cheap unless many are held)
 */
int
queue_store_count(struct queue_store *qs, unsigned long *total,
    unsigned long *held)
{
	DB_BTREE_STAT	*st;
	int		 rc;

	*total = 0;
	if ((rc = qs->due_raw->stat(qs->due_raw, NULL, &st, 0)) != 0) {
		log_warnx("queue: due index stat: %s", db_strerror(rc));
		return -1;
	}
	*total = st->bt_nkeys;
	free(st);
	return queue_store_count_held(qs, held);
}

int
queue_store_count_held(struct queue_store *qs, unsigned long *held)
{
	unsigned char	 key[QUEUE_STORE_DUE_KEY];
	DBC		*c;
	DBT		 k, d;
	int		 rc, crc;

	*held = 0;
	if ((rc = qs->due_raw->cursor(qs->due_raw, NULL, &c, 0)) != 0)
		return -1;
	queue_store_due_put(key, QUEUE_DUE_HELD, "00000000000000");
	queue_store_dbt_key(&k, key, sizeof(key));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_PARTIAL;
	for (rc = c->get(c, &k, &d, DB_SET_RANGE); rc == 0;
	    rc = c->get(c, &k, &d, DB_NEXT))
		if (k.size == QUEUE_STORE_DUE_KEY &&
		    queue_store_due_get(k.data) == QUEUE_DUE_HELD)
			(*held)++;
	free(k.data);
	if ((crc = c->close(c)) != 0 && rc == DB_NOTFOUND)
		rc = crc;
	if (rc != DB_NOTFOUND) {
		log_warnx("queue: due index: %s", db_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * queue_store_edge - the first (oldest: queue IDs grow with time) or the
 * last queue ID into out, "" when the store is empty
 */
int
queue_store_edge(struct queue_store *qs, int last, char out[QID_SIZE])
{
	DBC	*c;
	DBT	 k, d;
	int	 rc, crc;

	out[0] = '\0';
	if ((rc = qs->envelopes->cursor(qs->envelopes, NULL, &c, 0)) != 0)
		return -1;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = DB_DBT_MALLOC;
	d.flags = DB_DBT_PARTIAL;
	rc = c->get(c, &k, &d, last ? DB_LAST : DB_FIRST);
	if (rc == 0 && k.size == QID_LEN) {
		memcpy(out, k.data, QID_LEN);
		out[QID_LEN] = '\0';
	}
	if (rc == 0)
		free(k.data);
	if ((crc = c->close(c)) != 0 && rc == 0)
		rc = crc;
	return rc == 0 || rc == DB_NOTFOUND ? 0 : -1;
}

/* queue_store_checkpoint - checkpoint; old logs then go by themselves */
void
queue_store_checkpoint(struct queue_store *qs)
{
	int	 rc;

	if ((rc = qs->env->txn_checkpoint(qs->env, 0, 0, 0)) != 0)
		log_warnx("queue: store checkpoint failed: %s",
		    db_strerror(rc));
}
