/*
 * aval-local - local delivery: the mailboxes, and nothing else
 *
 * avald starts "aval-local [-d] [-v]" with its link on fd 3. The job
 * intake it shares with aval-deliver (deliver/deliver_intake.h) takes the
 * config, the queue link and the jobs the queue routes here
 * (queue/route.c: every domain whose transport is maildir), logs each
 * recipient's outcome (one line, queue ID first, from aval/local) and
 * reports it to the queue. local_maildir.c writes each message into
 * <domain>/<local part>/ below the maildir root, tmp then new, fsync()ed.
 *
 * Privileges. On START, when run as root, aval-local first leaves the
 * host's network for a network namespace of its own (unshare
 * CLONE_NEWNET: a loopback interface, down, and nothing else), then
 * chroots into the maildir root and drops to "local-user", a user no
 * other aval process runs as. So a compromised aval-local can reach
 * neither the network nor the client key (which only aval-deliver holds)
 * nor the spool, and a compromised aval-deliver or smtpd cannot read or
 * write a mailbox. Started as another user it only changes into the
 * maildir root (development and tests).
 *
 * Trust: the master fully, the queue only for framing (deliver_intake.h);
 * the recipients' local parts still name directories, so local_maildir.c
 * checks them again (addr_local_safe()).
 *
 * Settings: hostname (unique file names), maildir, local-user,
 * queue { max-message-size }, local { max-jobs }, transport, and who is a
 * user (the mailbox map's paths, catch-all, postmaster: conf_local.h).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include <unistd.h>
#include "common/log.h"
#include "common/proc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_intake.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_session.h"
#include "local/local_maildir.h"

static struct deliver_session_ctx *local_lmtp;	/* LMTP over unix sockets */
static int			 local_chrooted;	/* paths are below "/" */

/*
 * local_lmtp_path - the path of a socket under the maildir root as this
 * process sees it: chrooted there, "/x/lmtp"; not root (tests), changed
 * into it, "./x/lmtp". -1 if the socket is not under the root (conf.c
 * refuses such a config, but a reload may race).
 */
static int
local_lmtp_path(const struct conf *c, const char *path, char *out, size_t len)
{
	const char	*rel;
	int		 w;

	if ((rel = conf_maildir_relative(c, path)) == NULL)
		return -1;
	w = snprintf(out, len, "%s/%s", local_chrooted ? "" : ".", rel);
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* local_lmtp_run - LMTP (RFC 2033) to a local store over a unix socket */
static void
local_lmtp_run(struct deliver_job *job, const struct conf_transport *t)
{
	char	 path[DELIVER_SOCKPATH_MAX];

	if (local_lmtp_path(deliver_intake_conf(), t->host, path,
	    sizeof(path)) == -1) {
		log_warnx("%s: local: LMTP socket %s is not under the maildir "
		    "root %s", job->qid, t->host, deliver_intake_conf()->maildir);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5", "LMTP socket "
		    "out of aval-local's reach");
		deliver_intake_done(job, NULL);
		return;
	}
	/* No TLS on a local socket: the policy stays all zero, "none". */
	memset(&job->policy, 0, sizeof(job->policy));
	job->flags |= DELIVER_JF_LMTP;
	deliver_session_start(local_lmtp, job, path, 0, deliver_intake_done,
	    NULL);
}

/*
 * local_job_run - a complete job to its domain's local transport. A
 * domain routed to the network here was routed by an older config (a
 * reload came between the queue's choice and this) or wrongly: it is
 * deferred, and the queue routes it again on the next try.
 */
static void
local_job_run(struct deliver_job *job)
{
	const struct conf_transport	*t;

	t = conf_transport_lookup(deliver_intake_conf(), job->domain);
	if (t == NULL) {
		deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
		    "no transport for domain");
		deliver_intake_done(job, NULL);
		return;
	}
	switch (t->kind) {
	case CONF_T_MAILDIR:
		/* The copies are synchronous: a few fsync()s per recipient. */
		local_maildir_run(job, deliver_intake_conf(), AT_FDCWD,
		    deliver_intake_dconf()->hostname,
		    deliver_intake_done, NULL);
		return;
	case CONF_T_LMTP:
		if (t->port == 0) {
			local_lmtp_run(job, t);
			return;
		}
		/* FALLTHROUGH */
	case CONF_T_SMTP:
	case CONF_T_DISCARD:
	case CONF_T_ERROR:
		log_warnx("%s: local: domain %s is routed by aval-deliver, "
		    "not here", job->qid, job->domain);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
		    "network delivery is aval-deliver's");
		deliver_intake_done(job, NULL);
		return;
	}
	fatalx("%s: transport kind %d", __func__, (int)t->kind);
}

/* local_job_abort - the intake drops a running job: end its run */
static void
local_job_abort(struct deliver_job *job)
{
	if (job->maildir != NULL)
		local_maildir_abort(job);
	if (job->session != NULL)
		deliver_session_abort(job);
}

/* local_configure - local's part of the slice of a new config */
static void
local_configure(const struct conf *c, struct deliver_conf *dc)
{
	dc->max_jobs = c->local_max_jobs;
	dc->connect_timeout = c->deliver_connect_timeout;
	dc->command_timeout = c->deliver_command_timeout;
	if (local_lmtp != NULL)
		deliver_session_ctx_set_conf(local_lmtp, dc);
}

/* local_start - no network, into the maildir root, drop privileges */
static void
local_start(void)
{
	const struct conf	*c = deliver_intake_conf();

	switch (proc_nonet()) {
	case 1:
		log_debug("local: in a network namespace of its own");
		break;
	case -1:
		/*
		 * A container may forbid namespaces: delivery goes on, but
		 * the operator must know this process could reach the network.
		 */
		log_warnx("local: no network namespace of its own; aval-local "
		    "keeps the host's network");
		break;
	}
	local_chrooted = geteuid() == 0;
	proc_privdrop_user(c->local_user, c->maildir);
	local_lmtp = deliver_session_ctx_new(deliver_intake_base(),
	    deliver_intake_dconf());
}

/* local_shutdown - after the intake dropped every job */
static void
local_shutdown(void)
{
	deliver_session_ctx_free(local_lmtp);
	local_lmtp = NULL;
}

static const struct deliver_intake_ops local_ops = {
	.name = "local",
	.configure = local_configure,
	.start = local_start,
	.run = local_job_run,
	.abort = local_job_abort,
	.master = NULL,
	.shutdown = local_shutdown,
};

int
main(int argc, char *argv[])
{
	deliver_intake_main(argc, argv, &local_ops);
}
