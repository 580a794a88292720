/*
 * aval-deliver - outbound delivery: SMTP relay and local Maildir
 *
 * avald starts "aval-deliver [-d] [-v]" with its link on fd 3 and sends the
 * config (IPC_MASTER_CONF_ITEM ... CONF_END, again on every reload), a link
 * to the queue (IPC_MASTER_QUEUE_LINK, again whenever the queue restarts)
 * and IPC_MASTER_START. On START deliver chroots into the maildir root (or
 * changes into it when not root) and drops privileges, so Maildir paths
 * are relative to the working directory from then on. IPC_MASTER_SHUTDOWN
 * and SIGTERM abort the jobs in flight (the queue keeps them) and exit.
 *
 * The queue sends jobs: JOB_START, one JOB_RCPT per recipient, JOB_GO. On
 * GO the job goes to the route of its domain (deliver_job_run(): SMTP and
 * LMTP by deliver_hop.c, which asks DNS for the hosts and tries them in
 * turn; Maildir, discard and error here), which reads the body a
 * piece at a time as it needs it, from the queue (JOB_READ, answered by
 * JOB_DATA) or from the body file that came with JOB_START
 * (deliver_body.h), so no body is ever whole here: deliver_session.c relays it by
 * SMTP, reusing idle connections (deliver_cache.c); deliver_maildir.c
 * writes it into Maildir folders. Each recipient's outcome is logged, one
 * line with the queue ID first, and sent back as IPC_DELIVER_RCPT_RESULT;
 * then IPC_DELIVER_JOB_DONE. Up to deliver max-jobs jobs run at once;
 * more are deferred (4.3.2) without an attempt.
 *
 * Trust: deliver trusts the master (a malformed frame from it is fatal),
 * the queue only for framing (a malformed frame, an unknown job, a
 * recipient index out of range or twice, a piece of body nobody asked
 * for, a size over the limit, addresses that are neither printable ASCII
 * nor well-formed UTF-8, DSN fields that do not decode: the link is logged and
 * closed, and deliver waits for the next queue), and nothing from SMTP
 * servers.
 *
 * RFCs: 5321 (SMTP), 1870 (SIZE), 2920 (PIPELINING), 6152 (8BITMIME),
 * 6531 (SMTPUTF8), 3461 (DSN), 2033 (LMTP), 2034/3463 (enhanced status
 * codes); the Maildir convention. docs/smtp-client.md.
 *
 * Settings: hostname, maildir, user, queue { max-message-size },
 * deliver { max-jobs, connect-timeout, command-timeout, resolver,
 * trust-anchor, dns-timeout } (the DNS ones read at START only),
 * transport, tls-policy.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/qid.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "common/xtext.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "deliver/deliver_dns.h"
#include "deliver/deliver_hop.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_maildir.h"
#include "deliver/deliver_session.h"
#include "deliver/deliver_tls.h"

#define DELIVER_BODY_SLACK	(64 * 1024)	/* over max-message-size */

TAILQ_HEAD(deliver_jobs, deliver_job);

static struct proc_worker	 deliver_w;
static struct deliver_conf	 deliver_conf;
static struct deliver_session_ctx *deliver_smtp;
static struct ipc_peer		*deliver_queue;
static int			 deliver_queue_fd = -1;	/* until START */
static int			 deliver_started;
static long long		 deliver_nactive;	/* receiving, running */
static struct deliver_jobs	 deliver_jobs =
				    TAILQ_HEAD_INITIALIZER(deliver_jobs);
static struct deliver_tls	*deliver_tls;	/* the policy engine */
static struct deliver_dns	*deliver_dns;	/* libunbound, from START */
/* TLS material from the master, until its TLS_END */
static struct buf		*deliver_tls_cert, *deliver_tls_key;
static struct buf		*deliver_tls_files[CONF_TLS_FILES_MAX];

static void	deliver_dispatch_queue(struct ipc_peer *, struct ipc_msgin *,
		    void *);
static void	deliver_job_done(struct deliver_job *, void *);
static void	deliver_body_ask(struct deliver_job *, uint32_t, uint32_t,
		    void *);

/* Bodies come from the queue link, a piece per JOB_READ. */
static const struct deliver_body_src deliver_queue_src = {
	deliver_body_ask, NULL
};

/* --- jobs ---------------------------------------------------------------- */

static struct deliver_job *
deliver_job_find(uint64_t id)
{
	struct deliver_job	*job;

	TAILQ_FOREACH(job, &deliver_jobs, entry)
		if (job->id == id)
			return job;
	return NULL;
}

/* deliver_job_forget - take a job off the table and free it */
static void
deliver_job_forget(struct deliver_job *job)
{
	TAILQ_REMOVE(&deliver_jobs, job, entry);
	if (job->state != DELIVER_J_REFUSED)
		deliver_nactive--;
	deliver_job_free(job);
}

/*
 * deliver_jobs_drop - forget every job, silently: the queue link they came
 * on is gone, and the queue process on the next link redoes whatever has
 * no final result. Running sessions are cut off, before their final dot
 * when there is still time, so that little is delivered twice.
 */
static void
deliver_jobs_drop(void)
{
	struct deliver_job	*job;

	while ((job = TAILQ_FIRST(&deliver_jobs)) != NULL) {
		if (job->hop != NULL)
			deliver_hop_abort(job);
		else if (job->session != NULL)
			deliver_session_abort(job);
		if (job->maildir != NULL)
			deliver_maildir_abort(job);
		deliver_job_forget(job);
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
 * connection setup (connect, greeting, EHLO; zero on a reused connection),
 * transmission.
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

/* deliver_job_done - every recipient has a result: log, report, forget */
static void
deliver_job_done(struct deliver_job *job, void *arg)
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
	if (deliver_queue == NULL)
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
		ipc_send(deliver_queue, m);
	}
	m = ipc_new(IPC_DELIVER_JOB_DONE);
	ipc_put_u64(m, job->id);
	ipc_send(deliver_queue, m);
	deliver_job_forget(job);
}

/*
 * deliver_job_run - hand a complete job to its domain's route: Maildir
 * here, discard and error at once, SMTP and LMTP by deliver_hop.c (DNS,
 * then each host in turn, under the TLS policy engine's level).
 */
static void
deliver_job_run(struct deliver_job *job)
{
	const struct conf_transport	*t;
	struct deliver_hop_env		 env;
	struct deliver_nexthop		 nh;

	job->state = DELIVER_J_RUNNING;
	strlcpy(job->relay, "none", sizeof(job->relay));
	gettimeofday(&job->t_go, NULL);
	t = conf_transport_lookup(deliver_w.conf, job->domain);
	if (t == NULL) {
		/* No route at all: the domain's MX hosts, by SMTP. */
		static const struct conf_transport dflt = {
			.kind = CONF_T_SMTP, .port = 25, .mx = 1,
		};
		t = &dflt;
	}
	switch (t->kind) {
	case CONF_T_MAILDIR:
		/* The copies are synchronous: a few fsync()s per recipient. */
		deliver_maildir_run(job, AT_FDCWD, deliver_conf.hostname,
		    deliver_job_done, NULL);
		return;
	case CONF_T_DISCARD:
		strlcpy(job->relay, "discard", sizeof(job->relay));
		deliver_job_fail(job, DELIVER_SENT, "2.0.0", "discarded by "
		    "the transport table");
		deliver_job_done(job, NULL);
		return;
	case CONF_T_ERROR:
		strlcpy(job->relay, "error", sizeof(job->relay));
		deliver_job_fail(job, t->dsn[0] == '5' ? DELIVER_BOUNCED :
		    DELIVER_DEFERRED, t->dsn, t->text);
		deliver_job_done(job, NULL);
		return;
	case CONF_T_LMTP:
		if (t->port == 0) {
			deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
			    "LMTP over a unix socket is not supported yet");
			deliver_job_done(job, NULL);
			return;
		}
		/* LHLO, and a result per recipient after the dot. */
		job->flags |= DELIVER_JF_LMTP;
		/* FALLTHROUGH */
	case CONF_T_SMTP:
		if (deliver_tls == NULL) {
			deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
			    "no TLS policy from the master yet");
			deliver_job_done(job, NULL);
			return;
		}
		env.base = deliver_w.base;
		env.smtp = deliver_smtp;
		env.dns = deliver_dns;
		env.tls = deliver_tls;
		env.max_addrs = 0;
		deliver_nexthop_set(&nh, t, job->domain);
		deliver_hop_run(&env, job, &nh, deliver_job_done, NULL);
		return;
	}
	fatalx("%s: transport kind %d", __func__, (int)t->kind);
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

	if (deliver_job_find(id) != NULL)
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
	if (size > (uint64_t)deliver_conf.max_message_size + DELIVER_BODY_SLACK)
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
	if (deliver_nactive >= deliver_conf.max_jobs) {
		/* Swallow its frames, then defer it: see deliver_job_go(). */
		job->state = DELIVER_J_REFUSED;
	} else {
		job->state = DELIVER_J_RECEIVING;
		deliver_nactive++;
		/* A body file is read here; else the first piece is coming. */
		if (*fd != -1) {
			job->body = deliver_body_new_file(job, *fd);
			*fd = -1;
		} else
			job->body = deliver_body_new(job, &deliver_queue_src, 1);
	}
	TAILQ_INSERT_TAIL(&deliver_jobs, job, entry);
	return NULL;
}

/* deliver_job_rcpt - JOB_RCPT */
static const char *
deliver_job_rcpt(uint64_t id, uint32_t idx, const char *rcpt,
    uint32_t notify, uint32_t orcpt_type, const char *orcpt)
{
	struct deliver_job	*job;

	if ((job = deliver_job_find(id)) == NULL)
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

/* deliver_body_ask - the body source: JOB_READ to the queue */
static void
deliver_body_ask(struct deliver_job *job, uint32_t chunk, uint32_t off,
    void *arg)
{
	struct ipc_msg	*m;

	(void)arg;
	/* No link: the job is dropped with the link (deliver_jobs_drop). */
	if (deliver_queue == NULL)
		return;
	m = ipc_new(IPC_DELIVER_JOB_READ);
	ipc_put_u64(m, job->id);
	ipc_put_u32(m, chunk);
	ipc_put_u32(m, off);
	ipc_send(deliver_queue, m);
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

	if ((job = deliver_job_find(id)) == NULL) {
		log_debug("deliver: late body piece for job %llu",
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

	if ((job = deliver_job_find(id)) == NULL)
		return "unknown job";
	if (job->state == DELIVER_J_RUNNING)
		return "GO twice";
	if (job->nseen != job->nrcpt)
		return "GO before every recipient";
	if (job->state == DELIVER_J_REFUSED) {
		gettimeofday(&job->t_go, NULL);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.3.2",
		    "too many deliveries in progress");
		deliver_job_done(job, NULL);
		return NULL;
	}
	deliver_job_run(job);
	return NULL;
}

/* deliver_queue_lost - the queue link is no more: drop its jobs */
static void
deliver_queue_lost(void)
{
	deliver_jobs_drop();
	deliver_queue = NULL;
}

static void
deliver_queue_closed(struct ipc_peer *p, void *arg)
{
	(void)arg;
	if (p != deliver_queue)
		return;		/* replaced or punished already */
	log_debug("deliver: queue link closed");
	deliver_queue_lost();
}

/* deliver_dispatch_queue - jobs from the queue, trusted only for framing */
static void
deliver_dispatch_queue(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
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
		why = "unexpected message";
		break;
	}
	if (why == NULL)
		return;
	log_warnx("deliver: malformed %s from queue (%s)",
	    ipc_type_name(r->type), why);
	deliver_queue_lost();
	ipc_peer_close(p);
}

/* deliver_queue_link - a (new) link to the queue */
static void
deliver_queue_link(int fd)
{
	struct ipc_peer	*old = deliver_queue;

	if (old != NULL) {
		deliver_queue_lost();
		ipc_peer_close(old);
	}
	if (!deliver_started) {
		/* Served after START, once we are in the maildir root. */
		if (deliver_queue_fd != -1)
			close(deliver_queue_fd);
		deliver_queue_fd = fd;
		return;
	}
	deliver_queue = ipc_peer_new(deliver_w.base, fd, "queue",
	    deliver_dispatch_queue, deliver_queue_closed, NULL);
}

/* --- the master link ----------------------------------------------------- */

/* deliver_configure - take deliver's slice of a new config */
static void
deliver_configure(void)
{
	const struct conf	*c = deliver_w.conf;

	if (strlcpy(deliver_conf.hostname, c->hostname,
	    sizeof(deliver_conf.hostname)) >= sizeof(deliver_conf.hostname))
		fatalx("deliver: hostname from master too long");
	deliver_conf.connect_timeout = c->deliver_connect_timeout;
	deliver_conf.command_timeout = c->deliver_command_timeout;
	deliver_conf.max_jobs = c->deliver_max_jobs;
	deliver_conf.max_message_size = c->queue_max_message_size;
	if (deliver_smtp != NULL)
		deliver_session_ctx_set_conf(deliver_smtp, &deliver_conf);
}

/* --- TLS material from the master --------------------------------------- */

static void
deliver_tls_material_clear(void)
{
	size_t	 i;

	buf_free(deliver_tls_cert);
	buf_free(deliver_tls_key);	/* secret: wiped */
	deliver_tls_cert = deliver_tls_key = NULL;
	for (i = 0; i < CONF_TLS_FILES_MAX; i++) {
		buf_free(deliver_tls_files[i]);
		deliver_tls_files[i] = NULL;
	}
}

/*
 * deliver_tls_build - a new policy engine from the config and the
 * material received; the old one stays if it cannot be built (sessions
 * that run keep what they started with)
 */
static void
deliver_tls_build(uint32_t nfiles)
{
	struct deliver_tls	*t;
	struct tls_pem		 pem, *client = NULL;
	char			*files[CONF_TLS_FILES_MAX];
	size_t			 lens[CONF_TLS_FILES_MAX];
	char			 err[512];
	uint32_t		 i;

	if (nfiles > CONF_TLS_FILES_MAX)
		fatalx("deliver: TLS_END: %u files", nfiles);
	if ((deliver_tls_cert == NULL) != (deliver_tls_key == NULL))
		fatalx("deliver: TLS_END: client certificate incomplete");
	if (deliver_tls_cert != NULL) {
		memset(&pem, 0, sizeof(pem));
		pem.cert = (char *)(uintptr_t)buf_data(deliver_tls_cert);
		pem.certlen = buf_len(deliver_tls_cert);
		pem.key = (char *)(uintptr_t)buf_data(deliver_tls_key);
		pem.keylen = buf_len(deliver_tls_key);
		client = &pem;
	}
	for (i = 0; i < nfiles; i++) {
		if (deliver_tls_files[i] == NULL)
			fatalx("deliver: TLS_END: file %u missing", i);
		files[i] = (char *)(uintptr_t)buf_data(deliver_tls_files[i]);
		lens[i] = buf_len(deliver_tls_files[i]);
	}
	t = deliver_tls_new(deliver_w.conf, client, files, lens, nfiles, err,
	    sizeof(err));
	if (t == NULL) {
		log_warnx("deliver: TLS policies refused: %s; keeping the %s",
		    err, deliver_tls != NULL ? "previous ones" : "none");
		return;
	}
	deliver_tls_unref(deliver_tls);
	deliver_tls = t;
	log_debug("deliver: TLS policies ready, %u files, client "
	    "certificate %s", nfiles, client != NULL ? "yes" : "no");
}

/* deliver_tls_dispatch - TLS_PEM and TLS_END from the master */
static void
deliver_tls_dispatch(struct ipc_msgin *r)
{
	const void	*p;
	size_t		 n;
	uint32_t	 idx, part;
	struct buf	**b;

	if (r->type == IPC_MASTER_TLS_END) {
		if (ipc_get_u32(r, &idx) == -1 || ipc_end(r) == -1 ||
		    deliver_w.conf == NULL)
			fatalx("deliver: malformed TLS_END from master");
		deliver_tls_build(idx);
		deliver_tls_material_clear();
		return;
	}
	if (ipc_get_u32(r, &idx) == -1 || ipc_get_u32(r, &part) == -1 ||
	    ipc_get_data(r, &p, &n) == -1 || ipc_end(r) == -1)
		fatalx("deliver: malformed TLS_PEM from master");
	if (part == TLS_PART_CLIENT_CERT && idx == 0)
		b = &deliver_tls_cert;
	else if (part == TLS_PART_CLIENT_KEY && idx == 0)
		b = &deliver_tls_key;
	else if (part == TLS_PART_FILE && idx < CONF_TLS_FILES_MAX)
		b = &deliver_tls_files[idx];
	else
		fatalx("deliver: TLS_PEM part %u index %u", part, idx);
	if (*b == NULL)
		*b = part == TLS_PART_CLIENT_KEY ? buf_new_secret(4096,
		    TLS_PEM_MAX) : buf_new(4096, TLS_PEM_MAX);
	if (buf_add(*b, p, n) == -1)
		fatalx("deliver: TLS_PEM: part over %d bytes", TLS_PEM_MAX);
}

/*
 * deliver_dns_start - the resolver, while still root: libunbound reads
 * resolv.conf and the trust anchors now, and no file after the chroot.
 * Settings that change later take effect when the deliverer restarts.
 */
static void
deliver_dns_start(void)
{
	const struct conf	*c = deliver_w.conf;
	struct deliver_dns_conf	 dc;
	char			 err[512];

	memset(&dc, 0, sizeof(dc));
	dc.resolver = c->deliver_resolver;
	dc.trust_anchor_file = c->deliver_trust_anchor;
	dc.timeout_ms = (unsigned int)c->deliver_dns_timeout * 1000;
	if ((deliver_dns = deliver_dns_new(deliver_w.base, &dc, err,
	    sizeof(err))) == NULL)
		fatalx("deliver: DNS: %s", err);
}

static void
deliver_dns_probed(int validates, void *arg)
{
	(void)arg;
	log_debug("deliver: DNSSEC %s", validates ? "validates" :
	    "does not validate");
}

/* deliver_start - into the maildir root, drop privileges, serve */
static void
deliver_start(void)
{
	int	 fd;

	if (deliver_w.conf == NULL)
		fatalx("deliver: START before the config");
	if (deliver_started)
		fatalx("deliver: START twice");
	deliver_dns_start();
	proc_privdrop(deliver_w.conf, deliver_w.conf->maildir);
	/* libunbound forks its helper now: chrooted, unprivileged. */
	deliver_dns_probe(deliver_dns, deliver_dns_probed, NULL);
	deliver_smtp = deliver_session_ctx_new(deliver_w.base, &deliver_conf);
	deliver_started = 1;
	if ((fd = deliver_queue_fd) != -1) {
		deliver_queue_fd = -1;
		deliver_queue_link(fd);
	}
	log_debug("deliver: serving, up to %lld jobs", deliver_conf.max_jobs);
}

/* deliver_shutdown - abort what runs (the queue keeps it) and exit */
static void
deliver_shutdown(void)
{
	log_debug("deliver: shutting down, %lld jobs in flight",
	    deliver_nactive);
	deliver_jobs_drop();
	deliver_session_ctx_free(deliver_smtp);
	deliver_smtp = NULL;
	deliver_dns_free(deliver_dns);
	deliver_dns = NULL;
	deliver_tls_unref(deliver_tls);
	deliver_tls = NULL;
	deliver_tls_material_clear();
	exit(0);
}

/* deliver_dispatch_master - config, the queue link, start and stop */
static void
deliver_dispatch_master(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	int	 fd;

	(void)p;
	(void)arg;
	switch (r->type) {
	case IPC_MASTER_CONF_ITEM:
	case IPC_MASTER_CONF_END:
		if (proc_conf_dispatch(&deliver_w, r) == 1)
			deliver_configure();
		break;
	case IPC_MASTER_TLS_PEM:
	case IPC_MASTER_TLS_END:
		deliver_tls_dispatch(r);
		break;
	case IPC_MASTER_QUEUE_LINK:
		if (ipc_end(r) == -1 || r->fd == -1)
			fatalx("deliver: malformed %s from master",
			    ipc_type_name(r->type));
		fd = r->fd;
		r->fd = -1;
		deliver_queue_link(fd);
		break;
	case IPC_MASTER_START:
		if (ipc_end(r) == -1)
			fatalx("deliver: malformed %s from master",
			    ipc_type_name(r->type));
		deliver_start();
		break;
	case IPC_MASTER_SHUTDOWN:
		if (ipc_end(r) == -1)
			fatalx("deliver: malformed %s from master",
			    ipc_type_name(r->type));
		deliver_shutdown();
		break;
	default:
		fatalx("deliver: unexpected %s from master",
		    ipc_type_name(r->type));
	}
}

static void
deliver_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	(void)sig;
	(void)ev;
	(void)arg;
	deliver_shutdown();
}

int
main(int argc, char *argv[])
{
	struct event	*ev;

	proc_worker_init(&deliver_w, argc, argv, "deliver",
	    deliver_dispatch_master, NULL);
	/*
	 * The master decides when deliver stops: a terminal's ^C or hangup
	 * reaches it too, and it sends SHUTDOWN or closes our link.
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if ((ev = evsignal_new(deliver_w.base, SIGTERM, deliver_sigterm,
	    NULL)) == NULL || evsignal_add(ev, NULL) == -1)
		fatalx("deliver: evsignal");
	event_base_dispatch(deliver_w.base);
	fatalx("deliver: event loop returned");
}
