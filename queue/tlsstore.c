/*
 * tlsstore - the TLS client sessions every deliverer shares (tlsstore.h)
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/tlsstore.h"

#define TLSSTORE_HEAD	13		/* u64 expires, u32 length, u8 usage */
#define TLSSTORE_VAL_MAX (TLSSTORE_PER_KEY * (TLSSTORE_HEAD + TLSSTORE_DER_MAX))

struct tlsstore {
	DB		*db;
	char		*path;
	size_t		 max_keys;
	size_t		 nkeys;
};

/* One session of a record, pointing into the record's bytes. */
struct tlsstore_ent {
	int64_t			 expires;
	int			 usage;
	size_t			 len;
	const unsigned char	*der;
};

static void
tlsstore_put64(unsigned char *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
tlsstore_get64(const unsigned char *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * tlsstore_decode - a record's sessions, oldest first; -1 if it does not
 * decode (a torn write, or a file of some other program)
 */
static int
tlsstore_decode(const unsigned char *p, size_t n, struct tlsstore_ent *e,
    size_t *ne)
{
	size_t	 len;

	for (*ne = 0; n > 0; (*ne)++) {
		if (*ne == TLSSTORE_PER_KEY || n < TLSSTORE_HEAD)
			return -1;
		len = (size_t)p[8] << 24 | (size_t)p[9] << 16 |
		    (size_t)p[10] << 8 | p[11];
		if (len == 0 || len > TLSSTORE_DER_MAX ||
		    len > n - TLSSTORE_HEAD)
			return -1;
		e[*ne].expires = (int64_t)tlsstore_get64(p);
		e[*ne].usage = p[12];
		e[*ne].len = len;
		e[*ne].der = p + TLSSTORE_HEAD;
		p += TLSSTORE_HEAD + len;
		n -= TLSSTORE_HEAD + len;
	}
	return 0;
}

/* tlsstore_encode - the sessions back into bytes; the length */
static size_t
tlsstore_encode(unsigned char *out, const struct tlsstore_ent *e, size_t ne)
{
	size_t	 i, n = 0;

	for (i = 0; i < ne; i++) {
		tlsstore_put64(out + n, (uint64_t)e[i].expires);
		out[n + 8] = (unsigned char)(e[i].len >> 24);
		out[n + 9] = (unsigned char)(e[i].len >> 16);
		out[n + 10] = (unsigned char)(e[i].len >> 8);
		out[n + 11] = (unsigned char)e[i].len;
		out[n + 12] = (unsigned char)e[i].usage;
		memmove(out + n + TLSSTORE_HEAD, e[i].der, e[i].len);
		n += TLSSTORE_HEAD + e[i].len;
	}
	return n;
}

static int
tlsstore_db_open(struct tlsstore *st)
{
	DB	*db;
	int	 rc;

	if ((rc = db_create(&db, NULL, 0)) != 0) {
		log_warnx("tlsstore: db_create: %s", db_strerror(rc));
		return -1;
	}
	if ((rc = db->open(db, NULL, st->path, NULL, DB_HASH, DB_CREATE,
	    0600)) != 0) {
		(void)db->close(db, 0);
		log_warnx("tlsstore: %s: %s", st->path, db_strerror(rc));
		return -1;
	}
	st->db = db;
	return 0;
}

/* tlsstore_count - the keys in the file, once at open */
static size_t
tlsstore_count(DB *db)
{
	DBC	*c;
	DBT	 k, v;
	size_t	 n = 0;

	if (db->cursor(db, NULL, &c, 0) != 0)
		return 0;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	v.flags = DB_DBT_PARTIAL;	/* the keys only */
	while (c->get(c, &k, &v, DB_NEXT) == 0)
		n++;
	(void)c->close(c);
	return n;
}

struct tlsstore *
tlsstore_open(const char *path, size_t max_keys)
{
	struct tlsstore	*st;

	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->max_keys = max_keys != 0 && max_keys < TLSSTORE_MAX_KEYS ?
	    max_keys : TLSSTORE_MAX_KEYS;
	if (tlsstore_db_open(st) == -1) {
		/* A cache: one that cannot be read is made anew. */
		log_warnx("tlsstore: %s unreadable; starting an empty one",
		    path);
		if (unlink(path) == -1 && errno != ENOENT) {
			log_warn("tlsstore: unlink %s", path);
			free(st->path);
			free(st);
			return NULL;
		}
		if (tlsstore_db_open(st) == -1) {
			free(st->path);
			free(st);
			return NULL;
		}
	}
	st->nkeys = tlsstore_count(st->db);
	log_debug("tlsstore: %s: %zu destinations", path, st->nkeys);
	return st;
}

void
tlsstore_close(struct tlsstore *st)
{
	if (st == NULL)
		return;
	(void)st->db->close(st->db, 0);		/* writes it out */
	free(st->path);
	free(st);
}

size_t
tlsstore_keys(const struct tlsstore *st)
{
	return st->nkeys;
}

/*
 * tlsstore_get - key's live sessions, oldest first, in buf (which they
 * point into); 0 none (an undecodable record is dropped), 1 some, -1
 * error. *had says whether the key had a record at all.
 */
static int
tlsstore_get(struct tlsstore *st, DBT *k, int64_t now, unsigned char *buf,
    struct tlsstore_ent *e, size_t *ne, int *had)
{
	struct tlsstore_ent	 all[TLSSTORE_PER_KEY];
	DBT			 v;
	size_t			 n, i;
	int			 rc;

	*ne = 0;
	*had = 0;
	memset(&v, 0, sizeof(v));
	v.data = buf;
	v.ulen = TLSSTORE_VAL_MAX;
	v.flags = DB_DBT_USERMEM;
	if ((rc = st->db->get(st->db, NULL, k, &v, 0)) == DB_NOTFOUND)
		return 0;
	*had = 1;
	if (rc != 0 || tlsstore_decode(buf, v.size, all, &n) == -1) {
		log_warnx("tlsstore: a record that does not decode (%s); "
		    "dropped", rc != 0 ? db_strerror(rc) : "bad length");
		if (st->db->del(st->db, NULL, k, 0) == 0 && st->nkeys > 0)
			st->nkeys--;
		*had = 0;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (all[i].expires > now)
			e[(*ne)++] = all[i];
	return *ne > 0;
}

/* tlsstore_set - write key's sessions back, or delete an empty record */
static int
tlsstore_set(struct tlsstore *st, DBT *k, const struct tlsstore_ent *e,
    size_t ne, unsigned char *buf, int had)
{
	DBT	 v;
	int	 rc;

	if (ne == 0) {
		if (had && st->db->del(st->db, NULL, k, 0) == 0 &&
		    st->nkeys > 0)
			st->nkeys--;
		return 0;
	}
	memset(&v, 0, sizeof(v));
	v.data = buf;
	v.size = (u_int32_t)tlsstore_encode(buf, e, ne);
	if ((rc = st->db->put(st->db, NULL, k, &v, 0)) != 0) {
		log_warnx("tlsstore: put: %s", db_strerror(rc));
		return -1;
	}
	if (!had)
		st->nkeys++;
	return 0;
}

/* tlsstore_evict - room for one more key: drop the first a cursor finds */
static void
tlsstore_evict(struct tlsstore *st)
{
	DBC	*c;
	DBT	 k, v;

	if (st->db->cursor(st->db, NULL, &c, 0) != 0)
		return;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	v.flags = DB_DBT_PARTIAL;
	if (c->get(c, &k, &v, DB_NEXT) == 0 && c->del(c, 0) == 0 &&
	    st->nkeys > 0)
		st->nkeys--;
	(void)c->close(c);
}

static void
tlsstore_key(DBT *k, const char *key)
{
	memset(k, 0, sizeof(*k));
	k->data = (void *)(uintptr_t)key;
	k->size = (u_int32_t)strlen(key);
}

int
tlsstore_put(struct tlsstore *st, const char *key, const void *der,
    size_t len, int usage, int64_t expires, int64_t now)
{
	struct tlsstore_ent	 e[TLSSTORE_PER_KEY + 1];
	unsigned char		*buf;
	DBT			 k;
	size_t			 ne, klen = strlen(key);
	int			 had, rv;

	if (klen == 0 || klen > TLSSTORE_KEY_MAX || usage < 0 ||
	    !tlsstore_session_ok(len, (unsigned int)usage)) {
		log_warnx("tlsstore: a session out of bounds (key %zu bytes, "
		    "session %zu, usage %d); not kept", klen, len, usage);
		return -1;
	}
	if (expires <= now)
		return 0;
	if (expires - now > TLSSTORE_LIFETIME_MAX)
		expires = now + TLSSTORE_LIFETIME_MAX;
	buf = xmalloc(TLSSTORE_VAL_MAX);
	tlsstore_key(&k, key);
	if (tlsstore_get(st, &k, now, buf, e, &ne, &had) == -1) {
		free(buf);
		return -1;
	}
	if (!had && st->nkeys >= st->max_keys)
		tlsstore_evict(st);
	if (ne == TLSSTORE_PER_KEY) {
		memmove(&e[0], &e[1], (ne - 1) * sizeof(e[0]));
		ne--;
	}
	e[ne].expires = expires;
	e[ne].usage = usage;
	e[ne].len = len;
	e[ne].der = der;
	ne++;
	rv = tlsstore_set(st, &k, e, ne, buf, had);
	free(buf);
	return rv;
}

int
tlsstore_take(struct tlsstore *st, const char *key, int64_t now,
    unsigned char *der, size_t *len, int *usage)
{
	struct tlsstore_ent	 e[TLSSTORE_PER_KEY];
	unsigned char		*buf;
	DBT			 k;
	size_t			 ne;
	int			 had, rv;

	*len = 0;
	*usage = 0;
	if (strlen(key) == 0 || strlen(key) > TLSSTORE_KEY_MAX)
		return 0;
	buf = xmalloc(TLSSTORE_VAL_MAX);
	tlsstore_key(&k, key);
	if ((rv = tlsstore_get(st, &k, now, buf, e, &ne, &had)) == 1) {
		memcpy(der, e[ne - 1].der, e[ne - 1].len);
		*len = e[ne - 1].len;
		*usage = e[ne - 1].usage;
		/* The last one stays, to be offered again (tlsstore.h). */
		if (ne > 1)
			ne--;
	}
	/* Write back what is left: the taken one and the expired go. */
	if (had && tlsstore_set(st, &k, e, ne, buf, had) == -1)
		rv = -1;
	free(buf);
	return rv;
}
