/*
 * smtpd - the aval inbound SMTP server process
 *
 * Serves many ESMTP sessions at once on every listener the master passes
 * it, and streams each message to the queue; answers 250 to the final dot
 * only after the queue says the message is on disk. Runs chrooted to an
 * empty directory as the unprivileged user.
 *
 * Trust: smtpd trusts nothing from the network, only framing from the
 * queue (a malformed frame closes the queue link), and the master fully.
 *
 * Standards: RFC 5321 (SMTP), 1870 (SIZE), 2920 (PIPELINING), 6152
 * (8BITMIME), 2034/3463 (enhanced status codes), 3207 (STARTTLS), 8314
 * (implicit TLS on submissions listeners), 4954 (AUTH), 4616 (PLAIN),
 * 6409 (submission), 3030 (CHUNKING), 6531 (SMTPUTF8), 3461 (DSN
 * parameters), 3848 (ESMTPS/ESMTPSA in Received).
 *
 * Keys: smtpd never opens a key file. The master sends the PEM text of
 * each certificate and key (smtpd_tls.c) and the shared session ticket
 * keys; smtpd builds its OpenSSL contexts from them.
 *
 * Limits have one owner: the session counts, per-client counts and
 * rates, pregreet passes and AUTH failures live in the table the master
 * shares with every smtpd (smtpd_limit.h); the content rules of DATA and
 * BDAT are smtpd_data's.
 *
 * Local submission (listen on unix PATH local): the client is a user of
 * this host, known by SO_PEERCRED; no TLS and no AUTH, and relaying as
 * an authenticated user may; every other limit holds (docs/sendmail.md).
 *
 * Settings read: hostname, listen (kind, client-cert, pregreet),
 * local-domains, relay-domains, relay-networks, transport (to refuse local
 * parts Maildir cannot hold), tls { session-tickets } (the certificates
 * come as PEM from the master), smtpd { processes max-sessions
 * max-local-sessions max-client-sessions client-connection-rate
 * max-recipients max-errors max-hops command-timeout data-timeout
 * session-timeout min-data-rate password-file (its entries come from the
 * master) }, queue { max-message-size }.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd.h"
#include "smtpd/smtpd_auth.h"
#include "smtpd/smtpd_limit.h"

#define SMTPD_ACCEPTS_PER_WAKE	64

struct smtpd_env	*env;

static void	smtpd_accept(evutil_socket_t, short, void *);

/* smtpd_queue_send - send to the queue, or drop when there is none */
void
smtpd_queue_send(struct ipc_msg *m)
{
	if (env->queue == NULL) {
		ipc_msg_free(m);
		return;
	}
	ipc_send(env->queue, m);
}

/*
 * smtpd_admit - the shared limits say whether a new connection may have a
 * session; 1 and counted, or 0 after a 421 and a log line
 */
static int
smtpd_admit(int fd, const struct sockaddr *sa, socklen_t len,
    const struct smtpd_listener *l, int *exempt)
{
	const struct conf	*c = env->w.conf;
	struct smtpd_limits	 lim;

	lim.max_total = (unsigned int)c->smtpd_max_sessions;
	lim.max_local = (unsigned int)c->smtpd_max_local_sessions;
	lim.max_client = (unsigned int)c->smtpd_max_client_sessions;
	lim.rate = (unsigned int)c->smtpd_client_connection_rate;
	/*
	 * Local users share one key (AF_UNIX has no address): like the
	 * relay networks they are exempt from the per-client caps, or one
	 * user's batch job would lock out the rest. They have a cap of their
	 * own instead, max-local-sessions, so that together they cannot
	 * hold every one of max-sessions and lock out inbound mail.
	 */
	lim.exempt = *exempt = l->kind == CONF_L_LOCAL ||
	    conf_in_relay_networks(c, sa) == 1;
	switch (smtpd_limit_connect(env->limits, env->instance, sa, &lim,
	    (int64_t)time(NULL))) {
	case SMTPD_LIMIT_OK:
		return 1;
	case SMTPD_LIMIT_TOTAL:
		smtpd_session_reject(fd, sa, len, "4.3.2",
		    "too many sessions, try again later");
		break;
	case SMTPD_LIMIT_CLIENT:
		smtpd_session_reject(fd, sa, len, "4.7.0",
		    "too many sessions from your address");
		break;
	case SMTPD_LIMIT_RATE:
		smtpd_session_reject(fd, sa, len, "4.7.0",
		    "too many connections per minute from your address");
		break;
	case SMTPD_LIMIT_LOCAL:
		smtpd_session_reject(fd, sa, len, "4.3.2",
		    "too many local sessions, try again later");
		break;
	}
	return 0;
}

static void
smtpd_accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_listener	*l = arg;

	(void)fd;
	(void)ev;
	if (!env->draining)
		event_add(l->ev, NULL);
}

static void
smtpd_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpd_listener	*l = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	socklen_t		 len;
	int			 s, i, on = 1, exempt;

	(void)ev;
	for (i = 0; i < SMTPD_ACCEPTS_PER_WAKE; i++) {
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of fds: stop accepting for a second. */
				log_warnx("NOQUEUE: accept on %s: %s; pausing",
				    l->addr, strerror(errno));
				event_del(l->ev);
				evtimer_add(l->pause_ev, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("NOQUEUE: accept on %s", l->addr);
			return;
		}
		/*
		 * Replies are small and often follow one another (PIPELINING
		 * batches, 354 then 250): Nagle would hold them for the
		 * client's delayed ACK.
		 */
		if (ss.ss_family != AF_UNIX)
			(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on,
			    sizeof(on));
		if (smtpd_admit(s, (struct sockaddr *)&ss, len, l, &exempt))
			smtpd_session_new(s, (struct sockaddr *)&ss, len, l,
			    exempt);
	}
}

/*
 * smtpd_listener_add - a listening socket from the master; what kind it is
 * and its options come from the config line for its address and port
 * (listeners change only at restart, so the first config says it all)
 */
static void
smtpd_listener_add(int fd, const char *addr, uint32_t port)
{
	const struct conf_listen	*cl;
	struct smtpd_listener		*l;

	for (cl = env->w.conf->listeners; cl != NULL; cl = cl->next)
		if (strcmp(cl->addr, addr) == 0 && cl->port == port)
			break;
	if (cl == NULL)
		fatalx("listener %s port %u is not in the config", addr, port);
	env->listeners = xreallocarray(env->listeners, env->nlisteners + 1,
	    sizeof(*l));
	l = &env->listeners[env->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->kind = cl->kind;
	l->flags = cl->flags;
	l->pregreet = cl->pregreet;
	if (cl->kind == CONF_L_LOCAL)
		snprintf(l->addr, sizeof(l->addr), "unix:%s", addr);
	else
		snprintf(l->addr, sizeof(l->addr), strchr(addr, ':') ?
		    "[%s]:%u" : "%s:%u", addr, port);
	if (evutil_make_socket_nonblocking(fd) == -1)
		fatal("listener %s", l->addr);
}

static void
smtpd_start(void)
{
	struct smtpd_listener	*l;
	char			 empty[PATH_MAX];
	size_t			 i;

	if (env->w.conf == NULL)
		fatalx("START before config");
	if (env->started)
		fatalx("START twice");
	if (env->limits == NULL)
		fatalx("START before the limits table");
	/* runtime-dir/empty: root-owned, nothing in it (checked). */
	proc_empty_dir(env->w.conf, empty, sizeof(empty));
	smtpd_fed_start();		/* reads resolv.conf, anchors: root */
	proc_privdrop(env->w.conf, empty);
	smtpd_fed_probe();		/* libunbound's helper: no session yet */
	env->started = 1;
	for (i = 0; i < env->nlisteners; i++) {
		l = &env->listeners[i];
		l->ev = event_new(env->w.base, l->fd, EV_READ | EV_PERSIST,
		    smtpd_accept, l);
		l->pause_ev = evtimer_new(env->w.base, smtpd_accept_resume, l);
		event_add(l->ev, NULL);
	}
	log_debug("serving %zu listeners", env->nlisteners);
}

/* smtpd_maybe_exit - a draining smtpd leaves with its last session */
void
smtpd_maybe_exit(void)
{
	if (env->draining && env->nsessions == 0) {
		log_debug("drained; exiting");
		exit(0);
	}
}

static void
smtpd_drain(void)
{
	size_t	 i;

	if (env->draining)
		return;
	env->draining = 1;
	for (i = 0; i < env->nlisteners; i++) {
		if (env->listeners[i].ev != NULL)
			event_del(env->listeners[i].ev);
		if (env->listeners[i].pause_ev != NULL)
			evtimer_del(env->listeners[i].pause_ev);
		close(env->listeners[i].fd);
	}
	smtpd_session_drain();
	smtpd_maybe_exit();
}

static void
smtpd_dispatch_queue(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	struct smtpd_session	*s;
	const char		*str;
	uint64_t		 sid;
	uint32_t		 low;

	(void)arg;
	switch (r->type) {
	case IPC_QUEUE_MSG_OPENED:
		if (ipc_get_u64(r, &sid) == -1 || ipc_get_str(r, &str) == -1 ||
		    ipc_end(r) == -1 || !qid_valid(str))
			break;
		if ((s = smtpd_session_find(sid)) != NULL)
			smtpd_session_opened(s, str);
		return;
	case IPC_QUEUE_MSG_DURABLE:
		if (ipc_get_u64(r, &sid) == -1 || ipc_end(r) == -1)
			break;
		if ((s = smtpd_session_find(sid)) != NULL)
			smtpd_session_durable(s);
		return;
	case IPC_QUEUE_SPACE:
		if (ipc_get_u32(r, &low) == -1 || ipc_end(r) == -1 || low > 1)
			break;
		env->queue_low = (int)low;
		return;
	case IPC_QUEUE_MSG_FAILED:
		if (ipc_get_u64(r, &sid) == -1 || ipc_get_str(r, &str) == -1 ||
		    ipc_end(r) == -1)
			break;
		if ((s = smtpd_session_find(sid)) != NULL)
			smtpd_session_failed(s, str);
		return;
	}
	log_warnx("smtpd: malformed %s from queue", ipc_type_name(r->type));
	ipc_peer_close(p);
}

static void
smtpd_queue_drained(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	smtpd_session_queue_drained();
}

static void
smtpd_queue_closed(struct ipc_peer *p, void *arg)
{
	(void)arg;
	if (env->queue != p)
		return;
	log_warnx("queue link closed");
	env->queue = NULL;
	env->queue_low = 0;	/* the next queue says */
	smtpd_session_queue_gone();
}

static void
smtpd_dispatch_master(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	const char	*addr;
	struct ipc_peer	*old;
	uint32_t	 port;

	(void)p;
	(void)arg;
	switch (r->type) {
	case IPC_MASTER_CONF_ITEM:
	case IPC_MASTER_CONF_END:
		proc_conf_dispatch(&env->w, r);
		return;
	case IPC_MASTER_LISTENER:
		if (r->fd == -1 || ipc_get_str(r, &addr) == -1 ||
		    ipc_get_u32(r, &port) == -1 || ipc_end(r) == -1 ||
		    env->started || env->w.conf == NULL)
			break;
		smtpd_listener_add(r->fd, addr, port);
		r->fd = -1;
		return;
	case IPC_MASTER_LIMITS:
		if (r->fd == -1 || ipc_get_u32(r, &port) == -1 ||
		    ipc_end(r) == -1 || env->limits != NULL)
			break;
		if ((env->limits = smtpd_limit_attach(r->fd, port)) == NULL)
			fatalx("cannot map the limits table");
		env->instance = port;
		env->throttle = smtpd_auth_throttle_on(env->limits->auth_mem,
		    sizeof(env->limits->auth_mem), NULL, env->limits->auth_key);
		if (env->throttle == NULL)
			fatalx("AUTH throttle does not fit the limits table");
		close(r->fd);
		r->fd = -1;
		return;
	case IPC_MASTER_PASSWD_LINE:
	case IPC_MASTER_PASSWD_END:
		smtpd_passwd_dispatch(r);
		return;
	case IPC_MASTER_TLS_PEM:
	case IPC_MASTER_TLS_END:
	case IPC_MASTER_TLS_KEYS:
	case IPC_MASTER_FED_PART:
	case IPC_MASTER_FED_END:
		smtpd_tls_dispatch(r);
		return;
	case IPC_MASTER_QUEUE_LINK:
		if (r->fd == -1 || ipc_end(r) == -1)
			break;
		if ((old = env->queue) != NULL) {
			env->queue = NULL;
			ipc_peer_close(old);
			smtpd_session_queue_gone();
		}
		env->queue = ipc_peer_new(env->w.base, r->fd, "queue",
		    smtpd_dispatch_queue, smtpd_queue_closed, NULL);
		ipc_peer_on_drain(env->queue, smtpd_queue_drained, NULL);
		r->fd = -1;
		smtpd_session_queue_back();
		return;
	case IPC_MASTER_START:
		if (ipc_end(r) == -1)
			break;
		smtpd_start();
		return;
	case IPC_MASTER_SHUTDOWN:
		if (ipc_end(r) == -1)
			break;
		smtpd_drain();
		return;
	}
	fatalx("malformed %s from master", ipc_type_name(r->type));
}

int
main(int argc, char **argv)
{
	env = xcalloc(1, sizeof(*env));
	env->next_id = (uint64_t)getpid() << 32;
	proc_worker_init(&env->w, argc, argv, "smtpd", smtpd_dispatch_master,
	    NULL);
	env->w.shutdown = smtpd_drain;
	event_base_dispatch(env->w.base);
	fatalx("event loop returned");
}
