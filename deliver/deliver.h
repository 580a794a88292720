/*
 * deliver - the types the delivery agents share between their modules
 *
 * A struct deliver_job is one delivery attempt of one message to the
 * recipients of one domain, as the queue hands it over (IPC_QUEUE_JOB_*).
 * deliver_intake.c, the job intake of both agents (aval-deliver and
 * aval-local), builds it from IPC, hands it to one transport, and reports
 * each recipient's result back to the queue once the transport calls the
 * job's completion callback. The transports are deliver_session.c (SMTP,
 * with the connection cache of deliver_cache.c) in aval-deliver and
 * local/local_maildir.c in aval-local; none knows about IPC, so the unit
 * tests drive them with jobs of their own.
 *
 * A transport fills in, for every recipient, exactly one result (status,
 * dsn, text) and the job's relay and timing fields that the log line needs.
 *
 * struct deliver_conf is deliver's slice of struct conf, copied by value:
 * a config reload frees the old struct conf while sessions still run.
 */
#ifndef AVAL_DELIVER_DELIVER_H
#define AVAL_DELIVER_DELIVER_H

#include <sys/queue.h>
#include <sys/time.h>

#include <stddef.h>
#include <stdint.h>

#include "common/ipc_types.h"
#include "deliver/deliver_tls.h"

#define DELIVER_MAX_RCPT	10000	/* most recipients in one job */
#define DELIVER_DSN_SIZE	16	/* "5.7.1" and its NUL, with room */
#define DELIVER_TEXT_MAX	1024	/* result text, NUL included */
#define DELIVER_DEST_SIZE	120	/* "[ffff:...:ffff]:65535", "unix:" + a socket path */
#define DELIVER_SOCKPATH_MAX	108	/* sun_path, NUL included */
#define DELIVER_RELAY_SIZE	320	/* "host[ffff:...:ffff]:65535" */
#define DELIVER_HOSTNAME_SIZE	256
#define DELIVER_TLSLOG_SIZE	256

struct deliver_body;
struct deliver_hop;
struct local_maildir_run;
struct deliver_session;

struct deliver_conf {
	char		 hostname[DELIVER_HOSTNAME_SIZE]; /* EHLO, Maildir */
	long long	 connect_timeout;	/* seconds */
	long long	 command_timeout;	/* seconds, per reply */
	long long	 max_jobs;		/* concurrent jobs */
	long long	 max_message_size;	/* bytes */
	/*
	 * Idle connections kept per destination: the queue's
	 * destination-concurrency (the most that can be busy at once), so
	 * that the end of a burst does not close what the next one needs;
	 * 0: DELIVER_SESSION_IDLE_PER_DEST.
	 */
	long long	 idle_per_dest;
	int		 no_reuse;	/* deliver connection-reuse no: QUIT */
	/*
	 * The length of one second of the two timeouts above, in ms: 0 is
	 * 1000. Only tests set it, so a slow server can be played fast.
	 */
	long long	 timeout_unit_ms;
};

struct deliver_rcpt {
	char			*addr;		/* canonical mailbox; owned */
	int			 final;		/* the result below is set */
	enum deliver_status	 status;
	char			 dsn[DELIVER_DSN_SIZE];
	char			*text;		/* reply or reason; owned */
	/* DSN (RFC 3461) as the client gave them, checked by deliver.c. */
	uint32_t		 notify;	/* IPC_NOTIFY_*, 0 if not given */
	uint32_t		 orcpt_type;	/* 0 none, 1 rfc822, 2 utf-8 */
	char			*orcpt;		/* xtext after "type;", or NULL */
	int			 dsn_passed;	/* result: NOTIFY went on */
};

#define DELIVER_ORCPT_RFC822	1
#define DELIVER_ORCPT_UTF8	2
#define DELIVER_RET_FULL	1
#define DELIVER_RET_HDRS	2
#define DELIVER_ENVID_XMAX	300	/* 100 octets (RFC 3461), xtext */
#define DELIVER_ORCPT_XMAX	1500	/* 500 octets (RFC 3461), xtext */

struct deliver_job;
typedef void	(*deliver_job_cb)(struct deliver_job *, void *);

struct deliver_job {
	uint64_t		 id;		/* the queue's job number */
	char			*qid;		/* owned, as all strings here */
	char			*sender;	/* "" for the null sender */
	char			*domain;
	uint64_t		 size;		/* as the queue announced it */
	int64_t			 arrival_ms;	/* unix time, milliseconds */
	uint32_t		 nrcpt;
	struct deliver_rcpt	*rcpts;		/* nrcpt of them */
	uint32_t		 flags;		/* DELIVER_JF_* */
#define DELIVER_JF_8BIT		IPC_JOB_F_8BIT	/* octets over 127 */
#define DELIVER_JF_BODYFD	IPC_JOB_F_BODYFD /* a file, with JOB_START */
#define DELIVER_JF_SMTPUTF8	IPC_JOB_F_SMTPUTF8 /* the client said SMTPUTF8 */
#define DELIVER_JF_LMTP		0x0100	/* speak LMTP (RFC 2033), not SMTP */
	uint32_t		 ret;		/* DSN RET=: DELIVER_RET_*, 0 none */
	char			*envid;		/* DSN ENVID= (xtext), or NULL */
	struct deliver_body	*body;		/* read a piece at a time */

	/*
	 * The TLS policy the SMTP session enforces (deliver_tls.h), set by
	 * the caller; all zero is "none", no TLS. Its ctx is borrowed; its
	 * TLSA set (dane) is the job's, dropped by deliver_job_free().
	 */
	struct deliver_policy	 policy;

	/* Filled by the transport, for the log line. */
	char			 relay[DELIVER_RELAY_SIZE];	/* or "none" */
	/* ", policy=may, tls=TLSv1.3, ..." for SMTP, or "" */
	char			 tlslog[DELIVER_TLSLOG_SIZE];
	struct timeval		 t_go;		/* attempt began (caller) */
	struct timeval		 t_conn;	/* connection ready, or zero */

	/* The next-hop walk of this job, or NULL (deliver_hop.c). */
	struct deliver_hop	*hop;
	/* The SMTP session running this job, or NULL (deliver_session.c). */
	struct deliver_session	*session;
	/* The Maildir run of this job, or NULL (local/local_maildir.c). */
	struct local_maildir_run *maildir;

	/* deliver_intake.c's bookkeeping; the transports leave these alone. */
	int			 state;
#define DELIVER_J_RECEIVING	0	/* between JOB_START and JOB_GO */
#define DELIVER_J_REFUSED	1	/* over max-jobs: swallow, then defer */
#define DELIVER_J_RUNNING	2	/* handed to a transport */
	uint32_t		 nseen;		/* JOB_RCPT frames so far */
	TAILQ_ENTRY(deliver_job) entry;
};

#endif
