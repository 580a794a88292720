/*
 * deliver_intake - the job intake both delivery agents share
 *
 * Trust: the master fully (a malformed frame from it is fatal), the queue
 * only for framing (deliver_intake.h lists what closes its link), nothing
 * that the jobs carry beyond what is checked here.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/conf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/qid.h"
#include "common/xmalloc.h"
#include "common/xtext.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "deliver/deliver_intake.h"
#include "deliver/deliver_job.h"

#define DELIVER_BODY_SLACK	(64 * 1024)	/* over max-message-size */

TAILQ_HEAD(deliver_jobs, deliver_job);

static const struct deliver_intake_ops *intake_ops;
static struct proc_worker	 intake_w;
static struct deliver_conf	 intake_conf;
static struct ipc_peer		*intake_queue;
static int			 intake_queue_fd = -1;	/* until START */
static int			 intake_started;
static long long		 intake_nactive;	/* receiving, running */
static struct deliver_jobs	 intake_jobs =
				    TAILQ_HEAD_INITIALIZER(intake_jobs);

static void	deliver_intake_body_ask(struct deliver_job *, uint32_t,
		    uint32_t, void *);

/* Bodies come from the queue link, a piece per JOB_READ. */
static const struct deliver_body_src deliver_intake_queue_src = {
	deliver_intake_body_ask, NULL
};

/* deliver_intake_conf - the current config, NULL before the first */
const struct conf *
deliver_intake_conf(void)
{
	return intake_w.conf;
}

/* deliver_intake_base - the process's event loop */
struct event_base *
deliver_intake_base(void)
{
	return intake_w.base;
}

/* deliver_intake_master - the link to the master */
struct ipc_peer *
deliver_intake_master(void)
{
	return intake_w.master;
}

/* deliver_intake_dconf - the transports' slice of the config */
const struct deliver_conf *
deliver_intake_dconf(void)
{
	return &intake_conf;
}

/* --- jobs ---------------------------------------------------------------- */

static struct deliver_job *
deliver_intake_find(uint64_t id)
{
	struct deliver_job	*job;

	TAILQ_FOREACH(job, &intake_jobs, entry)
		if (job->id == id)
			return job;
	return NULL;
}

/* deliver_intake_forget - take a job off the table and free it */
static void
deliver_intake_forget(struct deliver_job *job)
{
	TAILQ_REMOVE(&intake_jobs, job, entry);
	if (job->state != DELIVER_J_REFUSED)
		intake_nactive--;
	deliver_job_free(job);
}

/*
 * deliver_intake_drop - forget every job, silently: the queue link they
 * came on is gone, and the queue process on the next link redoes whatever
 * has no final result. Running jobs are cut off by the agent (an SMTP
 * session before its final dot when there is still time), so that little
 * is delivered twice.
 */
static void
deliver_intake_drop(void)
{
	struct deliver_job	*job;

	while ((job = TAILQ_FIRST(&intake_jobs)) != NULL) {
		if (job->state == DELIVER_J_RUNNING &&
		    intake_ops->abort != NULL)
			intake_ops->abort(job);
		deliver_intake_forget(job);
	}
}

static const char *
deliver_status_name(enum deliver_status status)
{
	switch (status) {
	case DELIVER_SENT:	return "sent";
	case DELIVER_DEFERRED:	return "deferred";
	case DELIVER_BOUNCED:	return "bounced";
	}
	return "unknown";
}

static double
deliver_tv_sub(const struct timeval *a, const struct timeval *b)
{
	double	 d;

	d = (double)(a->tv_sec - b->tv_sec) +
	    (double)(a->tv_usec - b->tv_usec) / 1e6;
	return d < 0 ? 0 : d;
}

/* deliver_secs - seconds with two decimals, "0" when less than that */
static const char *
deliver_secs(char *out, size_t len, double d)
{
	if (d < 0.005)
		return "0";
	snprintf(out, len, "%.2f", d);
	return out;
}

/*
 * deliver_job_log - one line per recipient. delay is the whole time since
 * the message arrived; delays splits it: waiting before this attempt,
 * connection setup (connect, greeting, EHLO; zero on a reused connection
 * and for Maildir), transmission.
 */
static void
deliver_job_log(const struct deliver_job *job, const struct timeval *now)
{
	const struct deliver_rcpt	*r;
	struct timeval			 arrival, conn;
	char				 delay[32], a[32], b[32], c[32];
	const char			*sd, *sa, *sb, *sc;
	uint32_t			 i;

	arrival.tv_sec = (time_t)(job->arrival_ms / 1000);
	arrival.tv_usec = (suseconds_t)(job->arrival_ms % 1000) * 1000;
	conn = job->t_conn;
	if (!timerisset(&conn))
		conn = *now;
	sd = deliver_secs(delay, sizeof(delay), deliver_tv_sub(now, &arrival));
	sa = deliver_secs(a, sizeof(a), deliver_tv_sub(&job->t_go, &arrival));
	sb = deliver_secs(b, sizeof(b), deliver_tv_sub(&conn, &job->t_go));
	sc = deliver_secs(c, sizeof(c), deliver_tv_sub(now, &conn));
	for (i = 0; i < job->nrcpt; i++) {
		r = &job->rcpts[i];
		log_info("%s: to=<%s>, relay=%s%s, delay=%s, delays=%s/%s/%s, "
		    "dsn=%s, status=%s (%s)", job->qid, r->addr, job->relay,
		    job->tlslog, sd, sa, sb, sc, r->dsn,
		    deliver_status_name(r->status), r->text);
	}
}

/* deliver_intake_done - every recipient has a result: log, report, forget */
void
deliver_intake_done(struct deliver_job *job, void *arg)
{
	struct timeval	 now;
	struct ipc_msg	*m;
	uint32_t	 i;

	(void)arg;
	gettimeofday(&now, NULL);
	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpts[i].final)
			fatalx("%s: %s: recipient %u has no result", __func__,
			    job->qid, i);
	deliver_job_log(job, &now);
	/* Jobs of a queue link that went away were dropped, not finished. */
	if (intake_queue == NULL)
		fatalx("%s: %s: no queue link", __func__, job->qid);
	for (i = 0; i < job->nrcpt; i++) {
		m = ipc_new(IPC_DELIVER_RCPT_RESULT);
		ipc_put_u64(m, job->id);
		ipc_put_u32(m, i);
		ipc_put_u32(m, (uint32_t)job->rcpts[i].status);
		ipc_put_str(m, job->rcpts[i].dsn);
		ipc_put_str(m, job->rcpts[i].text);
		ipc_put_str(m, job->relay);
		ipc_put_u32(m, job->rcpts[i].status == DELIVER_SENT &&
		    job->rcpts[i].dsn_passed ? IPC_RESULT_F_DSN_PASSED : 0);
		ipc_send(intake_queue, m);
	}
	m = ipc_new(IPC_DELIVER_JOB_DONE);
	ipc_put_u64(m, job->id);
	ipc_send(intake_queue, m);
	deliver_intake_forget(job);
}

/* deliver_intake_run - a complete job to the agent */
static void
deliver_intake_run(struct deliver_job *job)
{
	job->state = DELIVER_J_RUNNING;
	strlcpy(job->relay, "none", sizeof(job->relay));
	gettimeofday(&job->t_go, NULL);
	intake_ops->run(job);
}

/* --- the queue link ------------------------------------------------------ */

/*
 * deliver_addr_ok - 1 if s is an address the session may put in a
 * command: printable ASCII and well-formed UTF-8 (RFC 6531: the session
 * needs the server's SMTPUTF8 for the latter), no controls, at most max
 * octets
 */
static int
deliver_addr_ok(const char *s, size_t max)
{
	size_t	 i, n;

	for (i = 0; s[i] != '\0'; i += n) {
		if (i >= max)
			return 0;
		n = 1;
		if ((unsigned char)s[i] > 0x7e) {
			if ((n = addr_utf8_len(s + i, max - i)) == 0)
				return 0;
		} else if ((unsigned char)s[i] < 0x20)
			return 0;
	}
	return i <= max;
}

/*
 * deliver_xtext_ok - 1 if s, at most max octets, is xtext as RFC 3461
 * has it (an ENVID, an rfc822 ORCPT), or with utf8 RFC 6533's utf-8
 * address forms (a utf-8 ORCPT; raw UTF-8 only when the client said
 * SMTPUTF8): what a session passes on as it came must decode here
 */
static int
deliver_xtext_ok(const char *s, size_t max, int utf8, int smtputf8)
{
	char	 out[DELIVER_ORCPT_XMAX + 1];
	size_t	 n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	if (utf8)
		return xtext_decode_utf8(s, n, smtputf8 ? XTEXT_F_UTF8 : 0,
		    out, sizeof(out)) == 0;
	return xtext_decode(s, n, 0, out, sizeof(out)) == 0;
}

/* deliver_job_start - JOB_START; NULL, or why it is malformed */
static const char *
deliver_job_start(uint64_t id, const char *qid, const char *sender,
    const char *domain, uint64_t size, uint64_t arrival, uint32_t nrcpt,
    uint32_t flags, uint32_t ret, const char *envid, int *fd)
{
	struct deliver_job	*job;

	if (deliver_intake_find(id) != NULL)
		return "job number in use";
	if (nrcpt == 0 || nrcpt > DELIVER_MAX_RCPT)
		return "recipient count out of range";
	if (!qid_valid(qid))
		return "bad queue ID";
	if (!deliver_addr_ok(sender, ADDR_MAX))
		return "bad sender";
	if (!deliver_addr_ok(domain, ADDR_DOMAIN_MAX))
		return "bad domain";
	if (arrival > INT64_MAX)
		return "bad arrival time";
	if (size > (uint64_t)intake_conf.max_message_size + DELIVER_BODY_SLACK)
		return "body over the size limit";
	if (flags & ~(uint32_t)(DELIVER_JF_8BIT | DELIVER_JF_BODYFD |
	    DELIVER_JF_SMTPUTF8))
		return "unknown flags";
	if (ret > DELIVER_RET_HDRS)
		return "bad RET";
	if (*envid != '\0' && !deliver_xtext_ok(envid, DELIVER_ENVID_XMAX, 0, 0))
		return "bad ENVID";
	if (!(flags & DELIVER_JF_BODYFD) != (*fd == -1))
		return *fd == -1 ? "body file missing" : "a file nobody asked for";

	job = xcalloc(1, sizeof(*job));
	job->id = id;
	job->qid = xstrdup(qid);
	job->sender = xstrdup(sender);
	job->domain = xstrdup(domain);
	job->size = size;
	job->flags = flags;
	job->ret = ret;
	job->envid = *envid != '\0' ? xstrdup(envid) : NULL;
	job->arrival_ms = (int64_t)arrival;
	job->nrcpt = nrcpt;
	job->rcpts = xcalloc(nrcpt, sizeof(*job->rcpts));
	strlcpy(job->relay, "none", sizeof(job->relay));
	if (intake_nactive >= intake_conf.max_jobs) {
		/* Swallow its frames, then defer it: see deliver_job_go(). */
		job->state = DELIVER_J_REFUSED;
	} else {
		job->state = DELIVER_J_RECEIVING;
		intake_nactive++;
		/* A body file is read here; else the first piece is coming. */
		if (*fd != -1) {
			job->body = deliver_body_new_file(job, *fd);
			*fd = -1;
		} else
			job->body = deliver_body_new(job,
			    &deliver_intake_queue_src, 1);
	}
	TAILQ_INSERT_TAIL(&intake_jobs, job, entry);
	return NULL;
}

/* deliver_job_rcpt - JOB_RCPT */
static const char *
deliver_job_rcpt(uint64_t id, uint32_t idx, const char *rcpt,
    uint32_t notify, uint32_t orcpt_type, const char *orcpt)
{
	struct deliver_job	*job;

	if ((job = deliver_intake_find(id)) == NULL)
		return "unknown job";
	if (job->state == DELIVER_J_RUNNING)
		return "recipient after GO";
	if (idx >= job->nrcpt)
		return "recipient index out of range";
	if (job->rcpts[idx].addr != NULL)
		return "recipient sent twice";
	if (*rcpt == '\0' || !deliver_addr_ok(rcpt, ADDR_MAX))
		return "bad recipient";
	/* NEVER stands alone (RFC 3461 section 4.1). */
	if (notify > IPC_NOTIFY_MAX || ((notify & IPC_NOTIFY_NEVER) &&
	    notify != IPC_NOTIFY_NEVER))
		return "bad NOTIFY";
	if (orcpt_type > DELIVER_ORCPT_UTF8 ||
	    (orcpt_type == 0) != (*orcpt == '\0') ||
	    (orcpt_type != 0 && !deliver_xtext_ok(orcpt, DELIVER_ORCPT_XMAX,
	    orcpt_type == DELIVER_ORCPT_UTF8,
	    (job->flags & DELIVER_JF_SMTPUTF8) != 0)))
		return "bad ORCPT";
	job->rcpts[idx].addr = xstrdup(rcpt);
	job->rcpts[idx].notify = notify;
	job->rcpts[idx].orcpt_type = orcpt_type;
	job->rcpts[idx].orcpt = orcpt_type != 0 ? xstrdup(orcpt) : NULL;
	job->nseen++;
	return NULL;
}

/* deliver_intake_queue_send - the agent's own frame to the queue */
int
deliver_intake_queue_send(struct ipc_msg *m)
{
	if (intake_queue == NULL) {
		ipc_msg_free(m);
		return -1;
	}
	ipc_send(intake_queue, m);
	return 0;
}

/* deliver_intake_body_ask - the body source: JOB_READ to the queue */
static void
deliver_intake_body_ask(struct deliver_job *job, uint32_t chunk,
    uint32_t off, void *arg)
{
	struct ipc_msg	*m;

	(void)arg;
	/* No link: the job is dropped with the link (deliver_intake_drop). */
	if (intake_queue == NULL)
		return;
	m = ipc_new(IPC_DELIVER_JOB_READ);
	ipc_put_u64(m, job->id);
	ipc_put_u32(m, chunk);
	ipc_put_u32(m, off);
	ipc_send(intake_queue, m);
}

/*
 * deliver_job_data - JOB_DATA: the queue's answer to a JOB_READ. An answer
 * for a job no longer here is late, not wrong: the job ended (the server
 * refused it, the connection broke) while its read was out.
 */
static const char *
deliver_job_data(uint64_t id, uint32_t status, uint32_t chunk, uint32_t off,
    const void *p, size_t len)
{
	struct deliver_job	*job;

	if ((job = deliver_intake_find(id)) == NULL) {
		log_debug("%s: late body piece for job %llu", intake_ops->name,
		    (unsigned long long)id);
		return NULL;
	}
	if (job->state != DELIVER_J_RUNNING || job->body == NULL ||
	    status > DELIVER_PIECE_STATUS_MAX)
		return "body piece out of turn";
	if (deliver_body_piece(job, (enum deliver_piece_status)status, chunk,
	    off, p, len) == -1)
		return "body piece not asked for";
	return NULL;
}

/* deliver_job_go - JOB_GO: the job is complete, deliver it */
static const char *
deliver_job_go(uint64_t id)
{
	struct deliver_job	*job;

	if ((job = deliver_intake_find(id)) == NULL)
		return "unknown job";
	if (job->state == DELIVER_J_RUNNING)
		return "GO twice";
	if (job->nseen != job->nrcpt)
		return "GO before every recipient";
	if (job->state == DELIVER_J_REFUSED) {
		gettimeofday(&job->t_go, NULL);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.3.2",
		    "too many deliveries in progress");
		deliver_intake_done(job, NULL);
		return NULL;
	}
	deliver_intake_run(job);
	return NULL;
}

/* deliver_intake_queue_lost - the queue link is no more: drop its jobs */
static void
deliver_intake_queue_lost(void)
{
	deliver_intake_drop();
	intake_queue = NULL;
}

static void
deliver_intake_queue_closed(struct ipc_peer *p, void *arg)
{
	(void)arg;
	if (p != intake_queue)
		return;		/* replaced or punished already */
	log_debug("%s: queue link closed", intake_ops->name);
	deliver_intake_queue_lost();
}

/* deliver_intake_dispatch_queue - jobs, trusted only for framing */
static void
deliver_intake_dispatch_queue(struct ipc_peer *p, struct ipc_msgin *r,
    void *arg)
{
	const char	*qid, *sender, *domain, *rcpt, *why, *envid, *orcpt;
	const void	*data;
	uint64_t	 id, size, arrival;
	uint32_t	 nrcpt, idx, flags, status, chunk, off, ret, notify;
	uint32_t	 orcpt_type;
	size_t		 len;

	(void)arg;
	why = "bad payload";
	switch (r->type) {
	case IPC_QUEUE_JOB_START:
		if (ipc_get_u64(r, &id) == -1 || ipc_get_str(r, &qid) == -1 ||
		    ipc_get_str(r, &sender) == -1 ||
		    ipc_get_str(r, &domain) == -1 ||
		    ipc_get_u64(r, &size) == -1 ||
		    ipc_get_u64(r, &arrival) == -1 ||
		    ipc_get_u32(r, &nrcpt) == -1 ||
		    ipc_get_u32(r, &flags) == -1 ||
		    ipc_get_u32(r, &ret) == -1 ||
		    ipc_get_str(r, &envid) == -1 || ipc_end(r) == -1)
			break;
		why = deliver_job_start(id, qid, sender, domain, size, arrival,
		    nrcpt, flags, ret, envid, &r->fd);
		break;
	case IPC_QUEUE_JOB_RCPT:
		if (ipc_get_u64(r, &id) == -1 || ipc_get_u32(r, &idx) == -1 ||
		    ipc_get_str(r, &rcpt) == -1 ||
		    ipc_get_u32(r, &notify) == -1 ||
		    ipc_get_u32(r, &orcpt_type) == -1 ||
		    ipc_get_str(r, &orcpt) == -1 || ipc_end(r) == -1)
			break;
		why = deliver_job_rcpt(id, idx, rcpt, notify, orcpt_type,
		    orcpt);
		break;
	case IPC_QUEUE_JOB_DATA:
		if (ipc_get_u64(r, &id) == -1 ||
		    ipc_get_u32(r, &status) == -1 ||
		    ipc_get_u32(r, &chunk) == -1 ||
		    ipc_get_u32(r, &off) == -1 ||
		    ipc_get_data(r, &data, &len) == -1 || ipc_end(r) == -1)
			break;
		why = deliver_job_data(id, status, chunk, off, data, len);
		break;
	case IPC_QUEUE_JOB_GO:
		if (ipc_get_u64(r, &id) == -1 || ipc_end(r) == -1)
			break;
		why = deliver_job_go(id);
		break;
	default:
		why = intake_ops->queue != NULL ? intake_ops->queue(r) :
		    "unexpected message";
		break;
	}
	if (why == NULL)
		return;
	log_warnx("%s: malformed %s from queue (%s)", intake_ops->name,
	    ipc_type_name(r->type), why);
	deliver_intake_queue_lost();
	ipc_peer_close(p);
}

/* deliver_intake_queue_link - a (new) link to the queue */
static void
deliver_intake_queue_link(int fd)
{
	struct ipc_peer	*old = intake_queue;

	if (old != NULL) {
		deliver_intake_queue_lost();
		ipc_peer_close(old);
	}
	if (!intake_started) {
		/* Served after START, once the agent is in its chroot. */
		if (intake_queue_fd != -1)
			close(intake_queue_fd);
		intake_queue_fd = fd;
		return;
	}
	intake_queue = ipc_peer_new(intake_w.base, fd, "queue",
	    deliver_intake_dispatch_queue, deliver_intake_queue_closed, NULL);
}

/* --- the master link ----------------------------------------------------- */

/* deliver_intake_configure - take the agent's slice of a new config */
static void
deliver_intake_configure(void)
{
	const struct conf	*c = intake_w.conf;

	if (strlcpy(intake_conf.hostname, c->hostname,
	    sizeof(intake_conf.hostname)) >= sizeof(intake_conf.hostname))
		fatalx("%s: hostname from master too long", intake_ops->name);
	intake_conf.max_message_size = c->queue_max_message_size;
	intake_ops->configure(c, &intake_conf);
	if (intake_conf.max_jobs < 1)
		fatalx("%s: max-jobs %lld", intake_ops->name,
		    intake_conf.max_jobs);
}

/* deliver_intake_start - the agent's chroot and privileges, then serve */
static void
deliver_intake_start(void)
{
	int	 fd;

	if (intake_w.conf == NULL)
		fatalx("%s: START before the config", intake_ops->name);
	if (intake_started)
		fatalx("%s: START twice", intake_ops->name);
	intake_ops->start();
	intake_started = 1;
	if ((fd = intake_queue_fd) != -1) {
		intake_queue_fd = -1;
		deliver_intake_queue_link(fd);
	}
	log_debug("%s: serving, up to %lld jobs", intake_ops->name,
	    intake_conf.max_jobs);
}

/* deliver_intake_shutdown - abort what runs (the queue keeps it) and exit */
static void
deliver_intake_shutdown(void)
{
	log_debug("%s: shutting down, %lld jobs in flight", intake_ops->name,
	    intake_nactive);
	deliver_intake_drop();
	if (intake_ops->shutdown != NULL)
		intake_ops->shutdown();
	exit(0);
}

/* deliver_intake_dispatch_master - config, the queue link, start, stop */
static void
deliver_intake_dispatch_master(struct ipc_peer *p, struct ipc_msgin *r,
    void *arg)
{
	int	 fd;

	(void)p;
	(void)arg;
	switch (r->type) {
	case IPC_MASTER_CONF_ITEM:
	case IPC_MASTER_CONF_END:
		if (proc_conf_dispatch(&intake_w, r) == 1)
			deliver_intake_configure();
		return;
	case IPC_MASTER_QUEUE_LINK:
		if (ipc_end(r) == -1 || r->fd == -1)
			break;
		fd = r->fd;
		r->fd = -1;
		deliver_intake_queue_link(fd);
		return;
	case IPC_MASTER_START:
		if (ipc_end(r) == -1)
			break;
		deliver_intake_start();
		return;
	case IPC_MASTER_SHUTDOWN:
		if (ipc_end(r) == -1)
			break;
		deliver_intake_shutdown();
		return;
	default:
		if (intake_ops->master != NULL && intake_ops->master(r) == 1)
			return;
		fatalx("%s: unexpected %s from master", intake_ops->name,
		    ipc_type_name(r->type));
	}
	fatalx("%s: malformed %s from master", intake_ops->name,
	    ipc_type_name(r->type));
}

/* deliver_intake_main - set up the links and run the loop; no return */
void
deliver_intake_main(int argc, char **argv,
    const struct deliver_intake_ops *ops)
{
	intake_ops = ops;
	proc_worker_init(&intake_w, argc, argv, ops->name,
	    deliver_intake_dispatch_master, NULL);
	/*
	 * The master decides when an agent stops: a terminal's ^C or hangup
	 * reaches it too, and it sends SHUTDOWN or closes our link. SIGTERM
	 * (proc_worker_init's handler) drains as SHUTDOWN does.
	 */
	intake_w.shutdown = deliver_intake_shutdown;
	event_base_dispatch(intake_w.base);
	fatalx("%s: event loop returned", ops->name);
}
