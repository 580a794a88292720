/*
 * deliver_intake - the job intake both delivery agents share
 *
 * aval-deliver (SMTP to the network) and aval-local (Maildir) take jobs
 * from the queue in the same way, so that way is written once, here:
 *
 *	the master link: the config (CONF_ITEM ... CONF_END), the queue
 *	link (QUEUE_LINK, held until START), START, SHUTDOWN; any other
 *	master frame goes to the agent's master hook, and an agent without
 *	one, or whose hook does not know the frame, dies (the master is
 *	trusted: a frame it should not send is a bug);
 *
 *	the queue link: JOB_START (with the body file, or the body read a
 *	piece at a time with JOB_READ / JOB_DATA), one JOB_RCPT per
 *	recipient, JOB_GO, every frame checked; a malformed one, an unknown
 *	job, a recipient out of range or twice, a piece nobody asked for, a
 *	size over the limit, addresses that are neither printable ASCII nor
 *	well-formed UTF-8, DSN fields that do not decode: the link is logged and
 *	closed, its jobs dropped, and the agent waits for the next queue;
 *
 *	max-jobs: a job over the agent's limit is swallowed and deferred
 *	4.3.2 without an attempt;
 *
 *	the results: on the transport's callback, one log line per
 *	recipient, queue ID first (deliver_job_log: to, relay, the job's
 *	tlslog, delay, delays, dsn, status), then IPC_DELIVER_RCPT_RESULT per
 *	recipient and IPC_DELIVER_JOB_DONE.
 *
 * The agent gives a struct deliver_intake_ops and calls
 * deliver_intake_main(), which never returns. Its run hook gets each
 * complete job (state DELIVER_J_RUNNING, t_go set, relay "none") and
 * must end it by calling deliver_intake_done(), at once or later, after
 * every recipient has its result (deliver_job_fail() (deliver_job.h) gives the same to
 * all that have none). Its abort hook stops a running job silently: the
 * link it came on is gone, or the agent shuts down, and the queue redoes
 * what has no result.
 */
#ifndef AVAL_DELIVER_DELIVER_INTAKE_H
#define AVAL_DELIVER_DELIVER_INTAKE_H

#include "common/ipc.h"
#include "deliver/deliver.h"

struct conf;
struct event_base;

struct deliver_intake_ops {
	const char	*name;		/* "deliver", "local": for the logs */
	/* A new config: fill the agent's part of dc (max_jobs at least). */
	void		(*configure)(const struct conf *, struct deliver_conf *dc);
	/* START: chroot, drop privileges; the queue link is served after. */
	void		(*start)(void);
	/* A complete job: hand it to a transport (see above). */
	void		(*run)(struct deliver_job *);
	/* Stop a running job, no callback; NULL: nothing to stop. */
	void		(*abort)(struct deliver_job *);
	/* A master frame the intake does not know: 1 handled, 0 unknown. */
	int		(*master)(struct ipc_msgin *);
	/*
	 * A queue frame the intake does not know: NULL handled, or why it
	 * is malformed (the link is closed as for any bad frame); NULL
	 * hook: every such frame is unexpected.
	 */
	const char	*(*queue)(struct ipc_msgin *);
	/* SHUTDOWN or SIGTERM, after every job was dropped; then exit(0). */
	void		(*shutdown)(void);
};

void		 deliver_intake_main(int argc, char **argv,
		    const struct deliver_intake_ops *)
		    __attribute__((noreturn));

/* The current config (NULL before the first CONF_END) and the loop. */
const struct conf *deliver_intake_conf(void);
struct ipc_peer;
struct event_base *deliver_intake_base(void);
struct ipc_peer	*deliver_intake_master(void);
/* The slice the transports read; lives as long as the process. */
const struct deliver_conf *deliver_intake_dconf(void);

/* A deliver_job_cb: every recipient has a result; log, report, free. */
void		 deliver_intake_done(struct deliver_job *, void *);
/* A frame of the agent's own to the queue; -1 (m freed): no link now. */
int		 deliver_intake_queue_send(struct ipc_msg *);

#endif
