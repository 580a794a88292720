/*
 * smtpd_limit - session limits with one owner: a table every smtpd shares
 *
 * max-sessions, its share for local sockets (max-local-sessions), the
 * per-client session cap, the per-client connection rate and the
 * pregreet pass cache are each one number for the whole server, not a copy per process: the master makes one table in shared
 * memory (a memfd, smtpd_limit_create) and hands it to every smtpd with
 * its instance number. Each smtpd counts only its own sessions, in its own
 * column, so a restarted smtpd clears its predecessor's column
 * (smtpd_limit_attach) and no count leaks when a process dies. One
 * process-shared robust mutex guards the table; a holder that dies leaves
 * it consistent-again, not locked.
 *
 * A client is its address: IPv4 whole, IPv6 by its /64 (an attacker gets a
 * /64 as easily as one address). The table has SMTPD_LIMIT_SLOTS slots;
 * a client is looked for among SMTPD_LIMIT_PROBE of them from its hash,
 * and an idle slot there (no sessions) is reused, oldest first. When every
 * slot there holds live sessions the client is not tracked and only
 * max-sessions applies to it (logged once per refusal path by the caller).
 *
 * A session whose address is AF_UNIX is a local one (sendmail on "listen
 * on unix PATH local"): it has no client key, and counts against
 * max-local-sessions as well as max-sessions, so that the users of this
 * host, who are exempt from the per-client caps, can never hold every
 * session and lock out mail from the network.
 *
 * The functions take the table and the time as arguments: they run the
 * same on a malloc'd table in the unit tests.
 */
#ifndef AVAL_SMTPD_SMTPD_LIMIT_H
#define AVAL_SMTPD_SMTPD_LIMIT_H

#include <sys/socket.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SMTPD_LIMIT_SLOTS	8192
#define SMTPD_LIMIT_PROBE	16
#define SMTPD_LIMIT_PROCS	64	/* smtpd processes; conf's maximum */
#define SMTPD_LIMIT_MAGIC	0x6176616cU	/* "aval" */
#define SMTPD_LIMIT_VERSION	3
#define SMTPD_LIMIT_AUTH_SLOTS	4096	/* networks the AUTH throttle tracks */
#define SMTPD_LIMIT_AUTH_BYTES	(SMTPD_LIMIT_AUTH_SLOTS * 64)

struct smtpd_limit_slot {
	uint8_t		 key[16];	/* v4-mapped, or v6 /64 */
	uint32_t	 used;
	uint32_t	 rate_count;
	int64_t		 rate_start;	/* seconds */
	int64_t		 last_seen;
	int64_t		 pregreet_ok;	/* passed; trusted until then */
	uint16_t	 sessions[SMTPD_LIMIT_PROCS];
};

struct smtpd_limit_table {
	uint32_t		 magic;
	uint32_t		 version;
	pthread_mutex_t		 lock;
	uint32_t		 total[SMTPD_LIMIT_PROCS];	/* sessions per smtpd */
	uint32_t		 local[SMTPD_LIMIT_PROCS];	/* of those, AF_UNIX */
	struct smtpd_limit_slot	 slot[SMTPD_LIMIT_SLOTS];
	/* smtpd_auth's failure throttle, under the same lock. */
	uint64_t		 auth_key[2];
	unsigned char		 auth_mem[SMTPD_LIMIT_AUTH_BYTES];
};

enum smtpd_limit_verdict {
	SMTPD_LIMIT_OK = 0,
	SMTPD_LIMIT_TOTAL,		/* max-sessions reached */
	SMTPD_LIMIT_CLIENT,		/* max-client-sessions reached */
	SMTPD_LIMIT_RATE,		/* client-connection-rate passed */
	SMTPD_LIMIT_LOCAL,		/* max-local-sessions reached */
};

struct smtpd_limits {			/* the settings, per call */
	unsigned int	 max_total;
	unsigned int	 max_client;	/* 0: no per-client cap */
	unsigned int	 rate;		/* per minute; 0: none */
	int		 exempt;	/* relay network: only max_total */
	unsigned int	 max_local;	/* AF_UNIX sessions, within max_total */
};

/* smtpd_limit_init - make a table in memory the caller owns */
void	 smtpd_limit_init(struct smtpd_limit_table *);

/*
 * smtpd_limit_create - a table in a new memfd (master); the fd, and the
 * mapping in *out, or -1
 */
int	 smtpd_limit_create(struct smtpd_limit_table **out);

/* smtpd_limit_attach - map the master's table, clear our column; NULL on error */
struct smtpd_limit_table *smtpd_limit_attach(int fd, unsigned int inst);

/*
 * smtpd_limit_connect - count a new session of instance inst from sa, or
 * say which limit it passes (and count nothing)
 */
enum smtpd_limit_verdict smtpd_limit_connect(struct smtpd_limit_table *,
	    unsigned int inst, const struct sockaddr *,
	    const struct smtpd_limits *, int64_t now);
/* smtpd_limit_disconnect - a session counted by smtpd_limit_connect ended */
void	 smtpd_limit_disconnect(struct smtpd_limit_table *, unsigned int inst,
	    const struct sockaddr *);

/* Pregreet: 1 if this client passed within its lifetime, else 0. */
int	 smtpd_limit_pregreet_ok(struct smtpd_limit_table *,
	    const struct sockaddr *, int64_t now);
void	 smtpd_limit_pregreet_pass(struct smtpd_limit_table *,
	    const struct sockaddr *, int64_t now, int64_t until);

/* The table's lock, for users of auth_mem. */
void	 smtpd_limit_lock(struct smtpd_limit_table *);
void	 smtpd_limit_unlock(struct smtpd_limit_table *);

/* smtpd_limit_sessions - sessions in all, or of one client (tests, status) */
unsigned int smtpd_limit_total(struct smtpd_limit_table *);
unsigned int smtpd_limit_local(struct smtpd_limit_table *);	/* AF_UNIX */
unsigned int smtpd_limit_client(struct smtpd_limit_table *,
	    const struct sockaddr *);

#endif
