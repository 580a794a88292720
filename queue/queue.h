/*
 * queue - the queue process's shared types
 *
 * Four kinds of object live here. A queue_incoming is a message being
 * received from an smtpd: its envelope in memory, its body stored chunk
 * by chunk as it arrives (queue_store_chunk_put()), until its COMMIT. A
 * queue_msg is a stored message with its recipients' states. Its
 * recipients fall in groups, one per recipient domain (queue_group); each
 * group with something left to do has an entry in the scheduler
 * (queue/sched.h) under the group's destination, the next hop, in the
 * scheduler of the agent that delivers it (queue/route.h: aval-deliver
 * or aval-local, one scheduler each). A queue_job is one delivery attempt
 * of one group's due recipients, handed to one process of that agent,
 * which reads the body from the store through the queue a piece at a time
 * (IPC_DELIVER_JOB_READ).
 */
#ifndef AVAL_QUEUE_QUEUE_H
#define AVAL_QUEUE_QUEUE_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include "common/ipc.h"
#include "common/proc.h"
#include "common/qid.h"
#include "queue/queue_rec.h"
#include "queue/queue_store.h"
#include "queue/route.h"

struct buf;
struct event;
struct queue_msg;
struct window;
struct queue_job;
struct sched;
struct sched_entry;
struct sched_stats;

/* The recipients of one message in one domain. */
struct queue_group {
	struct queue_msg	*msg;
	char			*domain;
	struct sched_entry	*entry;		/* NULL: nothing left to do */
	enum route_agent	 agent;		/* whose scheduler entry is in */
	struct queue_job	*job;		/* in flight, or NULL */
};

struct queue_msg {
	char			 qid[QID_SIZE];
	struct queue_env	 env;
	uint8_t			*busy;		/* per recipient: with deliver */
	uint8_t			*lost;		/* per recipient: jobs lost in a row */
	uint32_t		*group;		/* per recipient: its group */
	struct queue_group	*groups;
	uint32_t		 ngroups;
	unsigned int		 inflight;	/* jobs out */
	int			 pending;	/* committed, its flush not yet done */
	TAILQ_ENTRY(queue_msg)	 entry;		/* all */
};
TAILQ_HEAD(queue_msgs, queue_msg);

struct queue_link;

struct queue_incoming {
	uint64_t		 tid;
	char			 qid[QID_SIZE];
	struct queue_env	 env;
	uint32_t		 rcpt_alloc;
	uint32_t		 nclient;	/* RCPTs the client gave */
	struct buf		*pend;		/* body bytes not yet stored, or NULL */
	uint32_t		 nchunks;	/* body chunks stored so far */
	uint64_t		 size;		/* body bytes received */
	const char		*refused;	/* why COMMIT will fail, or NULL */
	TAILQ_ENTRY(queue_incoming) entry;
};
TAILQ_HEAD(queue_incomings, queue_incoming);

struct queue_job {
	uint64_t		 id;
	struct queue_msg	*msg;
	struct queue_group	*group;
	struct queue_link	*link;
	uint32_t		 nrcpt;
	uint32_t		*idx;		/* into msg->env.rcpts */
	uint8_t			*answered;
	time_t			 started;
	uint64_t		 served;	/* body bytes sent this pass */
	TAILQ_ENTRY(queue_job)	 entry;
};
TAILQ_HEAD(queue_jobs, queue_job);

/* A commit made but not yet flushed: acknowledge after the flush. */
struct queue_pending {
	uint64_t		 tid;
	struct queue_link	*link;		/* NULL once the smtpd is gone */
	struct queue_msg	*msg;
	TAILQ_ENTRY(queue_pending) entry;
};
TAILQ_HEAD(queue_pendings, queue_pending);

/* An smtpd's question about a COMMIT the last queue never answered. */
struct queue_ask {
	uint64_t		 tid;
	char			 qid[QID_SIZE];
	TAILQ_ENTRY(queue_ask)	 entry;
};
TAILQ_HEAD(queue_asks, queue_ask);

struct queue_link {
	enum proc_kind		 kind;
	unsigned int		 instance;
	struct ipc_peer		*peer;
	struct queue_incomings	 incoming;	/* smtpd */
	unsigned int		 nincoming;
	struct queue_asks	 asks;		/* smtpd, until the store is open */
	unsigned int		 nasks;
	struct queue_jobs	 jobs;		/* deliver, local */
	unsigned int		 njobs;
	TAILQ_ENTRY(queue_link)	 entry;
};
TAILQ_HEAD(queue_links, queue_link);

struct queue_state {
	struct proc_worker	 w;
	struct queue_store	*store;
	int			 started;
	int			 space_low;	/* spool below min-free-space */

	struct queue_links	 links;
	struct queue_msgs	 all;		/* in memory: the window */
	unsigned long		 nmsgs;		/* in memory */
	struct window		*window;	/* the same, by queue ID */
	struct queue_due_pos	 due_pos;	/* where the fill reads on */
	int			 backlog;	/* due in the store, not in memory */
	struct event		*fill_ev;
	unsigned long		 nstored;	/* messages in the store */
	int			 paused;	/* avalctl pause: no deliveries */
	uint64_t		 nreceived;	/* made durable since start */
	uint64_t		 nremoved;	/* removed since start */
	int64_t			 started_at;	/* unix seconds */
	struct sched		*sched[ROUTE_AGENTS];	/* one per agent */
	struct event		*due_ev;	/* the scheduler's next due time */
	struct queue_pendings	 pending;
	int			 dirty;		/* commits not yet flushed */
	size_t			 incoming_bytes;	/* body bytes held, not yet stored */

	struct event		*flush_ev;
	struct event		*later_ev;	/* flushes outcomes within QUEUE_LATER_MS */
	struct event		*tick_ev;
	uint64_t		 next_job;
	time_t			 last_checkpoint;
};

extern struct queue_state	*queue;

/* queue.c */
void	 queue_flush_soon(void);
void	 queue_removed_note(const char *qid);
int64_t	 queue_now_ms(void);
struct buf *queue_body_head(const struct queue_msg *, size_t max);
void	 queue_flush_later(void);

/* queue_sched.c */
struct queue_msg *queue_msg_new(const char *qid, struct queue_env *);
void	 queue_sched_add(struct queue_msg *);
void	 queue_sched_init(void);
void	 queue_sched_run(void);
void	 queue_sched_tick(void);
void	 queue_sched_free(void);
void	 queue_sched_arm(struct queue_msg *);		/* entries for what is due */
void	 queue_sched_disarm(struct queue_msg *);	/* none (held) */
void	 queue_sched_remove(struct queue_msg *);	/* gone from store and memory */
unsigned int queue_sched_flush(const char *domain);	/* NULL: all */
void	 queue_sched_stats(struct sched_stats *);
unsigned int queue_sched_flush_all(void);
void	 queue_sched_link_gone(struct queue_link *);
int	 queue_sched_result(struct queue_link *, struct ipc_msgin *);
int	 queue_sched_done(struct queue_link *, struct ipc_msgin *);
int	 queue_sched_read(struct queue_link *, struct ipc_msgin *);

/* queue_tls.c: the deliverers' TLS sessions (tlsstore.h) */
void	 queue_tls_open(void);
void	 queue_tls_close(void);
int	 queue_tls_take(struct queue_link *, struct ipc_msgin *);
int	 queue_tls_put(struct queue_link *, struct ipc_msgin *);
const char *queue_rcpt_state_name(unsigned int);

/* queue_window.c */
void	 queue_window_init(void);
void	 queue_window_free(void);
void	 queue_window_admit(struct queue_msg *);
void	 queue_window_fill(void);
void	 queue_window_kick(void);
void	 queue_window_rewind(void);
int	 queue_window_evictable(const struct queue_msg *, int64_t now);
void	 queue_window_evict(struct queue_msg *);
int	 queue_msg_busy(const struct queue_msg *);	/* not to be touched now */

/* queue_notice.c */
int	 queue_notice_final(struct queue_msg *);
int	 queue_notice_delay(struct queue_msg *, int64_t now_ms);

/* queue_ctl.c */
void	 queue_ctl_list(uint32_t req);
void	 queue_ctl_flush(uint32_t req);
void	 queue_ctl_cmd(uint32_t req, const char *verb, const char *arg,
	    uint32_t flags);

#endif
