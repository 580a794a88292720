/*
 * smtpd_limit - the session limits table shared by every smtpd
 */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "smtpd/smtpd_limit.h"

/* smtpd_limit_key - a client's key: v4 mapped into v6, v6 by its /64 */
static void
smtpd_limit_key(const struct sockaddr *sa, uint8_t key[16])
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(key, &sin6->sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			memset(key + 8, 0, 8);
	}
}

/* FNV-1a: the table is sized by us, the keys by clients; good enough. */
static uint32_t
smtpd_limit_hash(const uint8_t key[16])
{
	uint32_t	 h = 2166136261U;
	int		 i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619U;
	return h;
}

/* smtpd_limit_lock - take the table's lock (robust: a dead holder frees it) */
void
smtpd_limit_lock(struct smtpd_limit_table *t)
{
	int	 rc = pthread_mutex_lock(&t->lock);

	/* A holder died: what it left is counts, consistent enough. */
	if (rc == EOWNERDEAD)
		pthread_mutex_consistent(&t->lock);
	else if (rc != 0)
		fatalx("limit table lock: %s", strerror(rc));
}

void
smtpd_limit_unlock(struct smtpd_limit_table *t)
{
	pthread_mutex_unlock(&t->lock);
}

static unsigned int
smtpd_limit_slot_sessions(const struct smtpd_limit_slot *s)
{
	unsigned int	 n = 0, i;

	for (i = 0; i < SMTPD_LIMIT_PROCS; i++)
		n += s->sessions[i];
	return n;
}

/*
 * smtpd_limit_find - the client's slot; with make, a free or idle one is
 * taken for it. NULL when not there (or no room).
 */
static struct smtpd_limit_slot *
smtpd_limit_find(struct smtpd_limit_table *t, const struct sockaddr *sa,
    int make, int64_t now)
{
	struct smtpd_limit_slot	*s, *victim = NULL;
	uint8_t			 key[16];
	uint32_t		 h;
	int			 i;

	smtpd_limit_key(sa, key);
	h = smtpd_limit_hash(key);
	for (i = 0; i < SMTPD_LIMIT_PROBE; i++) {
		s = &t->slot[(h + (uint32_t)i) % SMTPD_LIMIT_SLOTS];
		if (s->used && memcmp(s->key, key, 16) == 0)
			return s;
		if (!make)
			continue;
		if (!s->used) {
			if (victim == NULL || victim->used)
				victim = s;
		} else if (smtpd_limit_slot_sessions(s) == 0 &&
		    (victim == NULL || (victim->used &&
		    s->last_seen < victim->last_seen)))
			victim = s;
	}
	if (victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, 16);
	victim->used = 1;
	victim->last_seen = now;
	return victim;
}

/* smtpd_limit_init - an empty table, its lock process-shared and robust */
void
smtpd_limit_init(struct smtpd_limit_table *t)
{
	pthread_mutexattr_t	 a;

	memset(t, 0, sizeof(*t));
	/* The throttle's set index is keyed: nobody outside can crowd a set. */
	if (getrandom(t->auth_key, sizeof(t->auth_key), 0) !=
	    (ssize_t)sizeof(t->auth_key))
		fatal("getrandom");
	t->magic = SMTPD_LIMIT_MAGIC;
	t->version = SMTPD_LIMIT_VERSION;
	if (pthread_mutexattr_init(&a) != 0 ||
	    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&t->lock, &a) != 0)
		fatalx("limit table: mutex init");
	pthread_mutexattr_destroy(&a);
}

/* smtpd_limit_create - a table in a memfd; its fd, or -1 */
int
smtpd_limit_create(struct smtpd_limit_table **out)
{
	void	*p;
	int	 fd;

	if ((fd = memfd_create("aval-limits", MFD_CLOEXEC)) == -1)
		return -1;
	if (ftruncate(fd, sizeof(**out)) == -1 ||
	    (p = mmap(NULL, sizeof(**out), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		close(fd);
		return -1;
	}
	smtpd_limit_init(p);
	*out = p;
	return fd;
}

/* smtpd_limit_attach - map it; our column starts from zero */
struct smtpd_limit_table *
smtpd_limit_attach(int fd, unsigned int inst)
{
	struct smtpd_limit_table	*t;
	size_t				 i;
	void				*p;

	if (inst >= SMTPD_LIMIT_PROCS)
		return NULL;
	p = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	t = p;
	if (t->magic != SMTPD_LIMIT_MAGIC ||
	    t->version != SMTPD_LIMIT_VERSION) {
		munmap(p, sizeof(*t));
		return NULL;
	}
	smtpd_limit_lock(t);
	t->total[inst] = 0;
	t->local[inst] = 0;
	for (i = 0; i < SMTPD_LIMIT_SLOTS; i++)
		t->slot[i].sessions[inst] = 0;
	smtpd_limit_unlock(t);
	return t;
}

static unsigned int
smtpd_limit_total_locked(const struct smtpd_limit_table *t)
{
	unsigned int	 n = 0, i;

	for (i = 0; i < SMTPD_LIMIT_PROCS; i++)
		n += t->total[i];
	return n;
}

static unsigned int
smtpd_limit_local_locked(const struct smtpd_limit_table *t)
{
	unsigned int	 n = 0, i;

	for (i = 0; i < SMTPD_LIMIT_PROCS; i++)
		n += t->local[i];
	return n;
}

/* smtpd_limit_connect - count the session, or name the limit it passes */
enum smtpd_limit_verdict
smtpd_limit_connect(struct smtpd_limit_table *t, unsigned int inst,
    const struct sockaddr *sa, const struct smtpd_limits *lim, int64_t now)
{
	struct smtpd_limit_slot		*s;
	enum smtpd_limit_verdict	 v = SMTPD_LIMIT_OK;

	if (inst >= SMTPD_LIMIT_PROCS)
		fatalx("%s: instance %u", __func__, inst);
	smtpd_limit_lock(t);
	if (smtpd_limit_total_locked(t) >= lim->max_total) {
		v = SMTPD_LIMIT_TOTAL;
		goto out;
	}
	if (sa->sa_family == AF_UNIX) {
		if (smtpd_limit_local_locked(t) >= lim->max_local) {
			v = SMTPD_LIMIT_LOCAL;
			goto out;
		}
		t->local[inst]++;
		t->total[inst]++;
		goto out;	/* no client key: nothing per client */
	}
	s = smtpd_limit_find(t, sa, 1, now);
	if (s != NULL) {
		s->last_seen = now;
		if (!lim->exempt && lim->rate > 0) {
			if (now - s->rate_start >= 60 || now < s->rate_start) {
				s->rate_start = now;
				s->rate_count = 0;
			}
			/* Refused attempts count: hammering stays refused. */
			if (s->rate_count < UINT32_MAX)
				s->rate_count++;
			if (s->rate_count > lim->rate) {
				v = SMTPD_LIMIT_RATE;
				goto out;
			}
		}
		if (!lim->exempt && lim->max_client > 0 &&
		    smtpd_limit_slot_sessions(s) >= lim->max_client) {
			v = SMTPD_LIMIT_CLIENT;
			goto out;
		}
		if (s->sessions[inst] < UINT16_MAX)
			s->sessions[inst]++;
	}
	t->total[inst]++;
out:
	smtpd_limit_unlock(t);
	return v;
}

/* smtpd_limit_disconnect - uncount a session */
void
smtpd_limit_disconnect(struct smtpd_limit_table *t, unsigned int inst,
    const struct sockaddr *sa)
{
	struct smtpd_limit_slot	*s;

	if (inst >= SMTPD_LIMIT_PROCS)
		fatalx("%s: instance %u", __func__, inst);
	smtpd_limit_lock(t);
	if (t->total[inst] > 0)
		t->total[inst]--;
	if (sa->sa_family == AF_UNIX) {
		if (t->local[inst] > 0)
			t->local[inst]--;
	} else if ((s = smtpd_limit_find(t, sa, 0, 0)) != NULL &&
	    s->sessions[inst] > 0)
		s->sessions[inst]--;
	smtpd_limit_unlock(t);
}

/* smtpd_limit_pregreet_ok - 1 if the client passed and it still holds */
int
smtpd_limit_pregreet_ok(struct smtpd_limit_table *t, const struct sockaddr *sa,
    int64_t now)
{
	struct smtpd_limit_slot	*s;
	int			 ok = 0;

	smtpd_limit_lock(t);
	if ((s = smtpd_limit_find(t, sa, 0, 0)) != NULL)
		ok = s->pregreet_ok > now;
	smtpd_limit_unlock(t);
	return ok;
}

/* smtpd_limit_pregreet_pass - remember a pass until then */
void
smtpd_limit_pregreet_pass(struct smtpd_limit_table *t,
    const struct sockaddr *sa, int64_t now, int64_t until)
{
	struct smtpd_limit_slot	*s;

	smtpd_limit_lock(t);
	if ((s = smtpd_limit_find(t, sa, 1, now)) != NULL)
		s->pregreet_ok = until;
	smtpd_limit_unlock(t);
}

unsigned int
smtpd_limit_total(struct smtpd_limit_table *t)
{
	unsigned int	 n;

	smtpd_limit_lock(t);
	n = smtpd_limit_total_locked(t);
	smtpd_limit_unlock(t);
	return n;
}

unsigned int
smtpd_limit_local(struct smtpd_limit_table *t)
{
	unsigned int	 n;

	smtpd_limit_lock(t);
	n = smtpd_limit_local_locked(t);
	smtpd_limit_unlock(t);
	return n;
}

unsigned int
smtpd_limit_client(struct smtpd_limit_table *t, const struct sockaddr *sa)
{
	struct smtpd_limit_slot	*s;
	unsigned int		 n = 0;

	smtpd_limit_lock(t);
	if ((s = smtpd_limit_find(t, sa, 0, 0)) != NULL)
		n = smtpd_limit_slot_sessions(s);
	smtpd_limit_unlock(t);
	return n;
}
