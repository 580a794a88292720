/*
 * aval-deliver - outbound delivery: SMTP relay to the network
 *
 * avald starts "aval-deliver [-d] [-v]" with its link on fd 3. The job
 * intake (deliver_intake.h, shared with aval-local) takes the config, the
 * queue link and the jobs; this file is what is SMTP's own: the TLS
 * material from the master (IPC_MASTER_TLS_PEM ... TLS_END, again on
 * every reload), from which the policy engine (deliver_tls.h) is built,
 * and the run of a complete job by its domain's network route
 * (deliver_job_run(): SMTP and LMTP by deliver_hop.c, which asks DNS for
 * the hosts and tries them in turn, each by deliver_session.c, reusing
 * idle connections (deliver_cache.c); discard and error answered here). On START deliver chroots into runtime-dir/empty
 * (proc_empty_dir(): root-owned, mode 0555, nothing in it) and drops to
 * "user": it has no access to the mailboxes, which belong to aval-local's
 * user, and is the only process that holds the client key. Mail for a
 * Maildir is aval-local's: the queue routes it there (queue/route.c), and
 * one that comes here all the same is deferred.
 *
 * Trust: deliver trusts the master (a malformed frame from it is fatal),
 * the queue only for framing (deliver_intake.h), and nothing from SMTP
 * servers.
 *
 * RFCs: 5321 (SMTP), 1870 (SIZE), 2920 (PIPELINING), 6152 (8BITMIME),
 * 6531 (SMTPUTF8), 3461 (DSN), 2033 (LMTP), 2034/3463 (enhanced status
 * codes). docs/smtp-client.md.
 *
 * Settings: hostname, runtime-dir, user, queue { max-message-size },
 * deliver { max-jobs, connect-timeout, command-timeout, resolver,
 * trust-anchor, dns-timeout } (the DNS ones read at START only),
 * transport, tls-policy, tls { client-certificate }.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/fedtrust.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_dns.h"
#include "deliver/deliver_hop.h"
#include "deliver/deliver_intake.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_session.h"
#include "deliver/deliver_tls.h"
#include "queue/tlsstore.h"

static struct deliver_session_ctx *deliver_smtp;
static struct deliver_tls	*deliver_tls;	/* the policy engine */
static struct deliver_dns	*deliver_dns;	/* libunbound, from START */
/* TLS material from the master, until its TLS_END */
static struct buf		*deliver_tls_cert, *deliver_tls_key;
static struct buf		*deliver_tls_files[CONF_TLS_FILES_MAX];
/* The federation from the master (FED_PART ... FED_END), kept across TLS_ENDs */
static struct fed_recv		 deliver_fed_recv;
static struct fed_trust		*deliver_fed;
static struct tls_pem		 deliver_fed_cert;
static int			 deliver_fed_have_cert;

/*
 * deliver_job_run - hand a complete job to its domain's network route:
 * SMTP and LMTP by deliver_hop.c (DNS, then each host in turn, under the
 * TLS policy engine's level), discard and error at once.
 */
static void
deliver_job_run(struct deliver_job *job)
{
	static const struct conf_transport dflt = {
		.kind = CONF_T_SMTP, .port = 25, .mx = 1,
	};
	const struct conf_transport	*t;
	struct deliver_hop_env		 env;
	struct deliver_nexthop		 nh;

	/* No route at all: the domain's MX hosts, by SMTP. */
	if ((t = conf_transport_lookup(deliver_intake_conf(),
	    job->domain)) == NULL)
		t = &dflt;
	switch (t->kind) {
	case CONF_T_MAILDIR:
		/*
		 * The queue routed by an older config, or is wrong: the
		 * mailboxes are out of reach here by design.
		 */
		log_warnx("%s: deliver: domain %s is delivered by aval-local, "
		    "not here", job->qid, job->domain);
		deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
		    "local delivery is aval-local's");
		deliver_intake_done(job, NULL);
		return;
	case CONF_T_DISCARD:
		strlcpy(job->relay, "discard", sizeof(job->relay));
		deliver_job_fail(job, DELIVER_SENT, "2.0.0", "discarded by "
		    "the transport table");
		deliver_intake_done(job, NULL);
		return;
	case CONF_T_ERROR:
		strlcpy(job->relay, "error", sizeof(job->relay));
		deliver_job_fail(job, t->dsn[0] == '5' ? DELIVER_BOUNCED :
		    DELIVER_DEFERRED, t->dsn, t->text);
		deliver_intake_done(job, NULL);
		return;
	case CONF_T_LMTP:
		if (t->port == 0) {
			/* As for Maildir: a local store is aval-local's. */
			log_warnx("%s: deliver: domain %s is delivered by "
			    "aval-local, not here", job->qid, job->domain);
			deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
			    "local delivery is aval-local's");
			deliver_intake_done(job, NULL);
			return;
		}
		/* LHLO, and a result per recipient after the dot. */
		job->flags |= DELIVER_JF_LMTP;
		/* FALLTHROUGH */
	case CONF_T_SMTP:
		if (deliver_tls == NULL) {
			deliver_job_fail(job, DELIVER_DEFERRED, "4.3.5",
			    "no TLS policy from the master yet");
			deliver_intake_done(job, NULL);
			return;
		}
		env.base = deliver_intake_base();
		env.smtp = deliver_smtp;
		env.dns = deliver_dns;
		env.tls = deliver_tls;
		env.max_addrs = 0;
		deliver_nexthop_set(&nh, t, job->domain);
		deliver_hop_run(&env, job, &nh, deliver_intake_done, NULL);
		return;
	}
	fatalx("%s: transport kind %d", __func__, (int)t->kind);
}

/* deliver_job_abort - the intake drops a running job: its lookups, session */
static void
deliver_job_abort(struct deliver_job *job)
{
	if (job->hop != NULL)
		deliver_hop_abort(job);
	else if (job->session != NULL)
		deliver_session_abort(job);
}

/* --- TLS sessions kept by the queue (queue/tlsstore.h) ------------------ */

static int
deliver_store_take(void *arg, uint64_t req, const char *key)
{
	struct ipc_msg	*m;

	(void)arg;
	m = ipc_new(IPC_DELIVER_TLS_TAKE);
	ipc_put_u64(m, req);
	ipc_put_str(m, key);
	return deliver_intake_queue_send(m);
}

static void
deliver_store_put(void *arg, const char *key, const unsigned char *der,
    size_t len, int usage, int64_t expires)
{
	struct ipc_msg	*m;

	(void)arg;
	if (usage < 0 || !tlsstore_session_ok(len, (unsigned int)usage) ||
	    expires <= 0)
		return;		/* the queue would refuse it: keep the link */
	m = ipc_new(IPC_DELIVER_TLS_PUT);
	ipc_put_str(m, key);
	ipc_put_data(m, der, len);
	ipc_put_u32(m, (uint32_t)usage);
	ipc_put_u64(m, (uint64_t)expires);
	(void)deliver_intake_queue_send(m);
}

static const struct deliver_tlsstore deliver_store = {
	deliver_store_take, deliver_store_put, NULL
};

/* deliver_queue_frame - QUEUE_TLS_SESSION; NULL, or why it is malformed */
static const char *
deliver_queue_frame(struct ipc_msgin *r)
{
	const void	*der;
	size_t		 len;
	uint64_t	 req;
	uint32_t	 usage;

	if (r->type != IPC_QUEUE_TLS_SESSION)
		return "unexpected message";
	if (ipc_get_u64(r, &req) == -1 || ipc_get_data(r, &der, &len) == -1 ||
	    ipc_get_u32(r, &usage) == -1 || ipc_end(r) == -1 ||
	    len > TLSSTORE_DER_MAX || !tlsstore_usage_ok(usage))
		return "bad payload";
	if (deliver_smtp != NULL)
		deliver_session_ctx_tls_answer(deliver_smtp, req, der, len,
		    (int)usage);
	return NULL;
}

/* deliver_configure - deliver's part of the slice of a new config */
static void
deliver_configure(const struct conf *c, struct deliver_conf *dc)
{
	dc->connect_timeout = c->deliver_connect_timeout;
	dc->command_timeout = c->deliver_command_timeout;
	dc->max_jobs = c->deliver_max_jobs;
	dc->idle_per_dest = c->queue_dest_concurrency;
	dc->no_reuse = !c->deliver_connection_reuse;
	if (deliver_smtp != NULL)
		deliver_session_ctx_set_conf(deliver_smtp, dc);
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
	struct deliver_tls_fed	 fed;
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
	/*
	 * The config alone says whether the federation is on: until its
	 * bundle has come, member mail waits (fails closed).
	 */
	fed.on = conf_federation_on(deliver_intake_conf());
	fed.trust = deliver_fed;
	fed.cert = deliver_fed_have_cert ? &deliver_fed_cert : NULL;
	t = deliver_tls_new(deliver_intake_conf(), client, files, lens, nfiles,
	    &fed, err, sizeof(err));
	if (t == NULL) {
		log_warnx("deliver: TLS policies refused: %s; keeping the %s",
		    err, deliver_tls != NULL ? "previous ones" : "none");
		return;
	}
	deliver_tls_unref(deliver_tls);
	deliver_tls = t;
	log_debug("deliver: TLS policies ready, %u files, client "
	    "certificate %s, federation %s", nfiles, client != NULL ? "yes" :
	    "no", !fed.on ? "off" : fed.trust == NULL ? "on, no bundle yet" :
	    "on");
}

/*
 * deliver_fed_take - FED_END: the federation the master sent, for the
 * engine that the TLS_END after it builds; one that does not verify
 * leaves the one we had
 */
static void
deliver_fed_take(uint64_t serial)
{
	struct fed_trust	*t;
	struct tls_pem		 cert;
	char			 err[256];
	int			 have_cert;

	memset(&cert, 0, sizeof(cert));
	if (fed_recv_end(&deliver_fed_recv, serial, time(NULL), &t, &cert,
	    &have_cert, err, sizeof(err)) == -1) {
		log_warnx("deliver: federation bundle from the master refused: "
		    "%s; keeping serial %llu", err, deliver_fed != NULL ?
		    (unsigned long long)deliver_fed->b.serial : 0ULL);
		tls_pem_clear(&cert);
		return;
	}
	fed_trust_unref(deliver_fed);
	deliver_fed = t;
	tls_pem_clear(&deliver_fed_cert);
	deliver_fed_cert = cert;
	deliver_fed_have_cert = have_cert;
}

/*
 * deliver_tls_dispatch - TLS_PEM and TLS_END from the master, the master
 * frames the intake leaves to deliver; 0 for any other
 */
static int
deliver_tls_dispatch(struct ipc_msgin *r)
{
	const void	*p;
	size_t		 n;
	uint32_t	 idx, part;
	uint64_t	 serial;
	struct buf	**b;

	if (r->type == IPC_MASTER_TLS_END) {
		if (ipc_get_u32(r, &idx) == -1 || ipc_end(r) == -1 ||
		    deliver_intake_conf() == NULL)
			fatalx("deliver: malformed TLS_END from master");
		deliver_tls_build(idx);
		deliver_tls_material_clear();
		return 1;
	}
	if (r->type == IPC_MASTER_FED_PART) {
		if (ipc_get_u32(r, &part) == -1 ||
		    ipc_get_data(r, &p, &n) == -1 || ipc_end(r) == -1 ||
		    fed_recv_add(&deliver_fed_recv, part, p, n) == -1)
			fatalx("deliver: malformed FED_PART from master");
		return 1;
	}
	if (r->type == IPC_MASTER_FED_END) {
		if (ipc_get_u64(r, &serial) == -1 || ipc_end(r) == -1)
			fatalx("deliver: malformed FED_END from master");
		deliver_fed_take(serial);
		return 1;
	}
	if (r->type != IPC_MASTER_TLS_PEM)
		return 0;
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
	return 1;
}

/*
 * deliver_dns_start - the resolver, while still root: libunbound reads
 * resolv.conf and the trust anchors now, and no file after the chroot.
 * Settings that change later take effect when the deliverer restarts.
 */
static void
deliver_dns_start(const struct conf *c)
{
	struct deliver_dns_conf	 dc;
	char			 err[512];

	memset(&dc, 0, sizeof(dc));
	dc.resolver = c->deliver_resolver;
	dc.trust_anchor_file = c->deliver_trust_anchor;
	dc.timeout_ms = (unsigned int)c->deliver_dns_timeout * 1000;
	if ((deliver_dns = deliver_dns_new(deliver_intake_base(), &dc, err,
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

/* deliver_fed_note - one federation connection, for the master's health */
static void
deliver_fed_note(const struct deliver_fed_note *n, void *arg)
{
	struct ipc_peer	*p = deliver_intake_master();
	struct ipc_msg	*m;

	(void)arg;
	if (p == NULL)
		return;
	m = ipc_new(IPC_DELIVER_FED_SESSION);
	ipc_put_str(m, n->member);
	ipc_put_u32(m, (uint32_t)n->tls);
	ipc_put_u32(m, (uint32_t)n->verified);
	ipc_put_str(m, n->version);
	ipc_put_u32(m, (uint32_t)n->resumed);
	ipc_put_str(m, n->failure != NULL ? n->failure : "");
	ipc_send(p, m);
}

/* deliver_start - the resolver, into the empty chroot, drop privileges */
static void
deliver_start(void)
{
	char	 empty[PATH_MAX];

	deliver_dns_start(deliver_intake_conf());
	proc_empty_dir(deliver_intake_conf(), empty, sizeof(empty));
	proc_privdrop(deliver_intake_conf(), empty);
	/* libunbound forks its helper now: chrooted, unprivileged. */
	deliver_dns_probe(deliver_dns, deliver_dns_probed, NULL);
	deliver_smtp = deliver_session_ctx_new(deliver_intake_base(),
	    deliver_intake_dconf());
	deliver_session_ctx_set_store(deliver_smtp, &deliver_store);
	deliver_session_ctx_set_fednote(deliver_smtp, deliver_fed_note, NULL);
}

/* deliver_shutdown - after the intake dropped every job */
static void
deliver_shutdown(void)
{
	deliver_session_ctx_free(deliver_smtp);
	deliver_smtp = NULL;
	deliver_dns_free(deliver_dns);
	deliver_dns = NULL;
	deliver_tls_unref(deliver_tls);
	deliver_tls = NULL;
	deliver_tls_material_clear();
}

static const struct deliver_intake_ops deliver_ops = {
	.name = "deliver",
	.configure = deliver_configure,
	.start = deliver_start,
	.run = deliver_job_run,
	.abort = deliver_job_abort,
	.master = deliver_tls_dispatch,
	.queue = deliver_queue_frame,
	.shutdown = deliver_shutdown,
};

int
main(int argc, char *argv[])
{
	deliver_intake_main(argc, argv, &deliver_ops);
}
