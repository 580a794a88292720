/*
 * master_child - starting, linking, restarting and stopping the workers
 *
 * Every worker gets, on its master link and in this order: the config
 * (items and CONF_END), its fds (listeners for smtpd; a queue link for
 * smtpd, deliver and local when a queue runs), then START. A new queue
 * gets START first and then one PEER_LINK per running smtpd, deliver and
 * local, whose other ends go to those workers as QUEUE_LINK: so after any
 * restart every worker is connected to the one queue. aval-local is a
 * worker like deliver (local { processes } of them), supervised the same
 * way; only deliver gets the TLS client material.
 *
 * A dead worker is restarted at once when it had lived at least 5 s
 * (MASTER_BACKOFF_STABLE_MS), and its back-off starts over; one that died
 * sooner than that after its start waits a back-off that starts at 100 ms
 * and doubles with each such death up to 10 s (master_backoff.h has the
 * policy). Either way the exit gets one line, "smtpd[PID] killed by signal
 * 9; restarting in N ms", N being 0 for the restart at once; a start that
 * fails says "trying again in N ms". During shutdown nothing is restarted.
 *
 * After every change in which smtpd runs, master_refuse_update() decides
 * whether the master answers the listeners itself (master_refuse.c).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/xmalloc.h"
#include "master/master.h"
#include "master/master_backoff.h"

static void	master_child_spawn(struct master_child *);

/* master_kind_name - "smtpd", "queue", ... */
const char *
master_kind_name(enum proc_kind kind)
{
	switch (kind) {
	case PROC_MASTER:	return "master";
	case PROC_SMTPD:	return "smtpd";
	case PROC_QUEUE:	return "queue";
	case PROC_DELIVER:	return "deliver";
	case PROC_LOCAL:	return "local";
	}
	return "?";
}

/* master_queue - the queue child, if it runs */
struct master_child *
master_queue(void)
{
	struct master_child	*c = &master->children[0];

	return c->state == MASTER_C_RUNNING && c->peer != NULL ? c : NULL;
}

/*
 * master_smtpd_serving - how many smtpd processes serve the listeners: those
 * started and not told to stop. One just forked counts, since it takes the
 * connections waiting in the backlog as soon as it has its fds; one that
 * drains has closed its copies of the listeners.
 */
int
master_smtpd_serving(void)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].kind == PROC_SMTPD &&
		    master->children[i].state == MASTER_C_RUNNING &&
		    master->children[i].pid > 0)
			n++;
	return n;
}

static void
master_send_conf_item(const char *key, const char *value, void *arg)
{
	struct ipc_msg	*m;

	m = ipc_new(IPC_MASTER_CONF_ITEM);
	ipc_put_str(m, key);
	ipc_put_str(m, value);
	ipc_send(arg, m);
}

static void
master_send_conf(struct ipc_peer *p)
{
	struct ipc_msg	*m;

	conf_items(master->conf, master_send_conf_item, p);
	m = ipc_new(IPC_MASTER_CONF_END);
	ipc_put_u32(m, master->generation);
	ipc_send(p, m);
}

/* master_children_send_conf - a reloaded config to every running worker */
void
master_children_send_conf(void)
{
	size_t	 i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].state == MASTER_C_RUNNING &&
		    master->children[i].peer != NULL) {
			master_send_conf(master->children[i].peer);
			if (master->children[i].kind == PROC_SMTPD) {
				master_tls_send(master->children[i].peer);
				master_passwd_send(master->children[i].peer);
			}
			if (master->children[i].kind == PROC_DELIVER)
				master_tls_send_client(
				    master->children[i].peer);
		}
}

/* master_link - connect a worker to the running queue */
static void
master_link(struct master_child *q, struct master_child *c)
{
	struct ipc_msg	*m;
	int		 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair for %s %u", master_kind_name(c->kind),
		    c->instance);
		return;
	}
	m = ipc_new(IPC_MASTER_PEER_LINK);
	ipc_put_u32(m, c->kind);
	ipc_put_u32(m, c->instance);
	ipc_set_fd(m, sp[0]);
	ipc_send(q->peer, m);
	m = ipc_new(IPC_MASTER_QUEUE_LINK);
	ipc_set_fd(m, sp[1]);
	ipc_send(c->peer, m);
}

/* master_dispatch_child - what a worker may say to the master */
static void
master_dispatch_child(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	struct master_child	*c = arg;
	uint32_t		 kind, instance;
	size_t			 i;

	switch (r->type) {
	case IPC_QUEUE_PEER_BAD:
		if (c->kind != PROC_QUEUE || ipc_get_u32(r, &kind) == -1 ||
		    ipc_get_u32(r, &instance) == -1 || ipc_end(r) == -1)
			break;
		/* The queue refused a worker's frames: restart that worker. */
		for (i = 1; i < master->nchildren; i++) {
			struct master_child	*w = &master->children[i];

			if (w->kind == kind && w->instance == instance &&
			    w->pid > 0) {
				log_warnx("%s[%ld] sent the queue malformed "
				    "frames; restarting it",
				    master_kind_name(w->kind), (long)w->pid);
				kill(w->pid, SIGKILL);
			}
		}
		return;
	case IPC_SMTPD_FED_SESSION:
		if (c->kind == PROC_SMTPD && master_fed_session(1, r) == 0)
			return;
		break;
	case IPC_DELIVER_FED_SESSION:
		if (c->kind == PROC_DELIVER && master_fed_session(0, r) == 0)
			return;
		break;
	case IPC_QUEUE_CTL_MSG:
	case IPC_QUEUE_CTL_RCPT:
	case IPC_QUEUE_CTL_END:
	case IPC_QUEUE_CTL_FLUSHED:
	case IPC_QUEUE_CTL_LINE:
	case IPC_QUEUE_CTL_DONE:
		if (c->kind == PROC_QUEUE) {
			master_ctl_from_queue(r);
			return;
		}
		break;
	default:
		break;
	}
	log_warnx("malformed %s from %s", ipc_type_name(r->type),
	    ipc_peer_name(p));
	ipc_peer_close(p);
}

static void
master_child_closed(struct ipc_peer *p, void *arg)
{
	struct master_child	*c = arg;

	/* A link replaced by a restart is no news. */
	if (c->peer != p)
		return;
	c->peer = NULL;
	/* The worker exits when its link closes; SIGCHLD does the rest. */
	if (c->pid > 0)
		kill(c->pid, SIGTERM);
}

static void
master_child_restart(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	if (!master->shutting_down)
		master_child_spawn(arg);
}

/* master_child_now_ms - the monotonic clock, which a clock step leaves be */
static long long
master_child_now_ms(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* master_child_backoff - start the worker again after wait_ms (0: at once) */
static void
master_child_backoff(struct master_child *c, long wait_ms)
{
	struct timeval	 tv;

	c->state = MASTER_C_WAITING;
	tv.tv_sec = wait_ms / 1000;
	tv.tv_usec = (wait_ms % 1000) * 1000;
	evtimer_add(c->restart_ev, &tv);
}

/*
 * master_child_retry - a worker could not be started (out of processes or
 * fds for now): try again after the back-off rather than give up on all.
 */
static void
master_child_retry(struct master_child *c, const char *what)
{
	long	 wait;

	wait = master_backoff_next(&c->backoff, 0);
	log_warn("starting %s: %s; trying again in %ld ms",
	    master_kind_name(c->kind), what, wait);
	c->pid = 0;
	master_child_backoff(c, wait);
	master_refuse_update();
}

/* master_child_spawn - fork and exec one worker, then feed it */
static void
master_child_spawn(struct master_child *c)
{
	struct master_child	*q;
	struct ipc_msg		*m;
	char			 path[PATH_MAX + 32], name[48];
	char			*argv[4];
	int			 sp[2], argc = 0, lfd;
	size_t			 i;
	pid_t			 pid;

	snprintf(path, sizeof(path), "%s/aval-%s", master->exedir,
	    master_kind_name(c->kind));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1) {
		master_child_retry(c, "socketpair");
		return;
	}
	switch ((pid = fork())) {
	case -1:
		close(sp[0]);
		close(sp[1]);
		master_child_retry(c, "fork");
		return;
	case 0:
		if (dup2(sp[1], PROC_MASTER_FD) == -1)
			_exit(127);
		closefrom(PROC_MASTER_FD + 1);
		argv[argc++] = path;
		if (master->flags & LOG_TO_STDERR)
			argv[argc++] = xstrdup("-d");
		if (master->flags & LOG_VERBOSE)
			argv[argc++] = xstrdup("-v");
		argv[argc] = NULL;
		execv(path, argv);
		fprintf(stderr, "aval/master: exec %s: %s\n", path,
		    strerror(errno));
		_exit(127);
	}
	close(sp[1]);
	c->pid = pid;
	c->state = MASTER_C_RUNNING;
	c->started = time(NULL);
	c->started_ms = master_child_now_ms();
	snprintf(name, sizeof(name), "%s[%ld]", master_kind_name(c->kind),
	    (long)pid);
	c->peer = ipc_peer_new(master->base, sp[0], name,
	    master_dispatch_child, master_child_closed, c);
	log_debug("started %s", name);

	master_send_conf(c->peer);
	switch (c->kind) {
	case PROC_SMTPD:
		master_tls_send(c->peer);
		master_passwd_send(c->peer);
		if ((lfd = dup(master->limits_fd)) == -1)
			fatal("dup limits table");
		m = ipc_new(IPC_MASTER_LIMITS);
		ipc_put_u32(m, c->instance);
		ipc_set_fd(m, lfd);
		ipc_send(c->peer, m);
		for (i = 0; i < master->nlisteners; i++) {
			int	 fd = dup(master->listeners[i].fd);

			if (fd == -1)
				fatal("dup listener");
			m = ipc_new(IPC_MASTER_LISTENER);
			ipc_put_str(m, master->listeners[i].addr);
			ipc_put_u32(m, master->listeners[i].port);
			ipc_set_fd(m, fd);
			ipc_send(c->peer, m);
		}
		ipc_send(c->peer, ipc_new(IPC_MASTER_START));
		if ((q = master_queue()) != NULL)
			master_link(q, c);
		break;
	case PROC_DELIVER:
		master_tls_send_client(c->peer);
		ipc_send(c->peer, ipc_new(IPC_MASTER_START));
		if ((q = master_queue()) != NULL)
			master_link(q, c);
		break;
	case PROC_LOCAL:
		/* No key, no TLS: the mailboxes are all it needs. */
		ipc_send(c->peer, ipc_new(IPC_MASTER_START));
		if ((q = master_queue()) != NULL)
			master_link(q, c);
		break;
	case PROC_QUEUE:
		ipc_send(c->peer, ipc_new(IPC_MASTER_START));
		for (i = 1; i < master->nchildren; i++)
			if (master->children[i].state == MASTER_C_RUNNING &&
			    master->children[i].peer != NULL)
				master_link(c, &master->children[i]);
		break;
	case PROC_MASTER:
		fatalx("%s: master", __func__);
	}
	master_refuse_update();
}

/* master_children_start - the queue first, then smtpd, deliver, local */
void
master_children_start(void)
{
	struct master_child	*c;
	long long		 i;
	size_t			 n = 0;

	master->nchildren = 1 + master->conf->smtpd_processes +
	    master->conf->deliver_processes + master->conf->local_processes;
	master->children = xcalloc(master->nchildren, sizeof(*c));
	master->children[n++].kind = PROC_QUEUE;
	for (i = 0; i < master->conf->smtpd_processes; i++) {
		master->children[n].kind = PROC_SMTPD;
		master->children[n++].instance = i;
	}
	for (i = 0; i < master->conf->deliver_processes; i++) {
		master->children[n].kind = PROC_DELIVER;
		master->children[n++].instance = i;
	}
	for (i = 0; i < master->conf->local_processes; i++) {
		master->children[n].kind = PROC_LOCAL;
		master->children[n++].instance = i;
	}
	for (n = 0; n < master->nchildren; n++) {
		c = &master->children[n];
		c->restart_ev = evtimer_new(master->base, master_child_restart,
		    c);
		master_child_spawn(c);
	}
	master->started = 1;
	master_refuse_update();
}

static int
master_children_alive(enum proc_kind kind)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].pid > 0 &&
		    (kind == PROC_MASTER || master->children[i].kind == kind))
			n++;
	return n;
}

/* master_child_reaped - a worker has exited: log it, restart it */
void
master_child_reaped(pid_t pid, int status)
{
	struct master_child	*c = NULL;
	char			 why[64];
	long			 wait;
	size_t			 i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].pid == pid)
			c = &master->children[i];
	if (c == NULL)
		return;
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exited with status %d",
		    WEXITSTATUS(status));
	c->pid = 0;
	if (c->peer != NULL) {
		struct ipc_peer	*p = c->peer;

		c->peer = NULL;
		ipc_peer_close(p);
	}

	if (c->kind == PROC_QUEUE)
		master_ctl_queue_gone();
	if (master->shutting_down) {
		c->state = MASTER_C_STOPPED;
		log_info("%s[%ld] %s", master_kind_name(c->kind), (long)pid,
		    why);
		master_children_shutdown();
		return;
	}
	wait = master_backoff_next(&c->backoff,
	    master_child_now_ms() - c->started_ms);
	log_warnx("%s[%ld] %s; restarting in %ld ms",
	    master_kind_name(c->kind), (long)pid, why, wait);
	c->restarts++;
	master_child_backoff(c, wait);
	master_refuse_update();
}

static void
master_child_stop(enum proc_kind kind)
{
	struct master_child	*c;
	size_t			 i;

	for (i = 0; i < master->nchildren; i++) {
		c = &master->children[i];
		evtimer_del(c->restart_ev);
		if (c->kind != kind || c->pid <= 0 || c->peer == NULL)
			continue;
		if (c->state == MASTER_C_RUNNING) {
			c->state = MASTER_C_STOPPED;
			ipc_send(c->peer, ipc_new(IPC_MASTER_SHUTDOWN));
		}
	}
}

/*
 * master_children_shutdown - one step of the drain: smtpd first (open
 * sessions get 421), then deliver and local together, then the queue,
 * which flushes and closes its store last. Called again each time a
 * worker exits.
 */
void
master_children_shutdown(void)
{
	size_t	 i;

	for (i = 0; i < master->nchildren; i++) {
		evtimer_del(master->children[i].restart_ev);
		if (master->children[i].pid <= 0)
			master->children[i].state = MASTER_C_STOPPED;
	}
	if (master_children_alive(PROC_SMTPD) > 0) {
		master_child_stop(PROC_SMTPD);
		master_refuse_update();
		return;
	}
	if (master_children_alive(PROC_DELIVER) > 0 ||
	    master_children_alive(PROC_LOCAL) > 0) {
		master_child_stop(PROC_DELIVER);
		master_child_stop(PROC_LOCAL);
		return;
	}
	if (master_children_alive(PROC_QUEUE) > 0) {
		master_child_stop(PROC_QUEUE);
		return;
	}
	master_exit();
}

/* master_children_kill - the drain took too long: SIGKILL what is left */
void
master_children_kill(void)
{
	size_t	 i;

	for (i = 0; i < master->nchildren; i++)
		if (master->children[i].pid > 0)
			kill(master->children[i].pid, SIGKILL);
}
