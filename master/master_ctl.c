/*
 * master_ctl - the control socket that avalctl talks to
 *
 * A Unix socket in the runtime directory, mode 0600: only the user avald
 * runs as may use it. Each connection speaks the same framed IPC as the
 * workers. STATUS is answered here from the child table; QUEUE_LIST and
 * FLUSH are passed to the queue with a request id, and the queue's
 * replies, which carry that id first, are passed back unchanged.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "master/master.h"

#define MASTER_CTL_MAX_REQS	64
#define MASTER_CTL_BACKLOG	(8 * 1024 * 1024)	/* replies unread by a client */

struct master_ctl_req {
	uint32_t	 id;
	struct ipc_peer	*client;	/* NULL when free or gone */
};

static struct master_ctl_req	 ctl_reqs[MASTER_CTL_MAX_REQS];
static uint32_t			 ctl_next_id = 1;

static void
master_ctl_end(struct ipc_peer *client, uint32_t status, const char *text)
{
	struct ipc_msg	*m;

	m = ipc_new(IPC_MASTER_CTL_END);
	ipc_put_u32(m, status);
	ipc_put_str(m, text);
	ipc_send(client, m);
}

static void
master_ctl_status(struct ipc_peer *client)
{
	struct master_child	*c;
	struct ipc_msg		*m;
	size_t			 i;
	const char		*state;

	for (i = 0; i < master->nchildren; i++) {
		c = &master->children[i];
		switch (c->state) {
		case MASTER_C_RUNNING:	state = "running"; break;
		case MASTER_C_WAITING:	state = "restarting"; break;
		default:		state = "stopped"; break;
		}
		m = ipc_new(IPC_MASTER_CTL_PROC);
		ipc_put_str(m, master_kind_name(c->kind));
		ipc_put_u32(m, c->instance);
		ipc_put_u32(m, (uint32_t)c->pid);
		ipc_put_u64(m, (uint64_t)c->started);
		ipc_put_u32(m, c->restarts);
		ipc_put_str(m, state);
		ipc_send(client, m);
	}
	master_ctl_end(client, 0, "");
}

/*
 * master_ctl_to_queue_msg - a request of type for the queue, with the id of a
 * slot that remembers who asked, or NULL (the client has been answered
 * why). The caller adds the words of its request and sends it.
 */
static struct ipc_msg *
master_ctl_to_queue_msg(struct ipc_peer *client, uint32_t type)
{
	struct ipc_msg	*m;
	size_t		 i;

	if (master_queue() == NULL) {
		master_ctl_end(client, 1, "the queue is not running");
		return NULL;
	}
	for (i = 0; i < MASTER_CTL_MAX_REQS; i++)
		if (ctl_reqs[i].client == NULL)
			break;
	if (i == MASTER_CTL_MAX_REQS) {
		master_ctl_end(client, 1, "too many requests in progress");
		return NULL;
	}
	ctl_reqs[i].id = ctl_next_id++;
	ctl_reqs[i].client = client;
	m = ipc_new(type);
	ipc_put_u32(m, ctl_reqs[i].id);
	return m;
}

/* master_ctl_to_queue - pass a request without words on */
static void
master_ctl_to_queue(struct ipc_peer *client, uint32_t type)
{
	struct ipc_msg	*m;

	if ((m = master_ctl_to_queue_msg(client, type)) != NULL)
		ipc_send(master_queue()->peer, m);
}

/* master_ctl_cmd - a queue command from avalctl, passed on with its words */
static void
master_ctl_cmd(struct ipc_peer *client, const char *verb, const char *arg,
    uint32_t flags)
{
	struct ipc_msg	*m;

	if ((m = master_ctl_to_queue_msg(client,
	    IPC_MASTER_CTL_QUEUE_CMD)) == NULL)
		return;
	ipc_put_str(m, verb);
	ipc_put_str(m, arg);
	ipc_put_u32(m, flags);
	ipc_send(master_queue()->peer, m);
}

static void
master_ctl_dispatch(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	const char	*verb, *cmdarg;
	uint32_t	 flags;

	(void)arg;
	if (r->type == IPC_CTL_QUEUE_CMD) {
		/* The queue checks the words; here only their size. */
		if (ipc_get_str(r, &verb) == -1 ||
		    ipc_get_str(r, &cmdarg) == -1 ||
		    ipc_get_u32(r, &flags) == -1 || ipc_end(r) == -1 ||
		    strlen(verb) > 32 || strlen(cmdarg) > 255)
			goto bad;
		master_ctl_cmd(p, verb, cmdarg, flags);
		return;
	}
	if (r->type == IPC_CTL_FEDERATION) {
		if (ipc_get_str(r, &verb) == -1 ||
		    ipc_get_u32(r, &flags) == -1 || ipc_end(r) == -1 ||
		    strlen(verb) > 32)
			goto bad;
		master_fed_ctl(p, verb, flags);
		return;
	}
	if (ipc_end(r) == -1)
		goto bad;
	switch (r->type) {
	case IPC_CTL_STATUS:
		master_ctl_status(p);
		return;
	case IPC_CTL_QUEUE_LIST:
		master_ctl_to_queue(p, IPC_MASTER_CTL_QUEUE_LIST);
		return;
	case IPC_CTL_FLUSH:
		master_ctl_to_queue(p, IPC_MASTER_CTL_FLUSH);
		return;
	}
 bad:
	log_warnx("malformed %s from avalctl", ipc_type_name(r->type));
	ipc_peer_close(p);
}

static void
master_ctl_closed(struct ipc_peer *p, void *arg)
{
	size_t	 i;

	(void)arg;
	for (i = 0; i < MASTER_CTL_MAX_REQS; i++)
		if (ctl_reqs[i].client == p)
			ctl_reqs[i].client = NULL;
}

/* master_ctl_from_queue - a reply to some avalctl's request */
void
master_ctl_from_queue(struct ipc_msgin *r)
{
	struct ipc_msgin	 peek = *r;
	uint32_t		 id;
	size_t			 i;

	if (ipc_get_u32(&peek, &id) == -1)
		return;
	for (i = 0; i < MASTER_CTL_MAX_REQS; i++) {
		if (ctl_reqs[i].client == NULL || ctl_reqs[i].id != id)
			continue;
		/*
		 * The queue paces a long listing by its link to us; a
		 * client that reads slower than that is cut off here, so
		 * the master never holds a listing in memory for it.
		 */
		if (ipc_peer_queued(ctl_reqs[i].client) > MASTER_CTL_BACKLOG) {
			log_warnx("control: a client reads its answer too "
			    "slowly; closed");
			ipc_peer_close(ctl_reqs[i].client);
			ctl_reqs[i].client = NULL;
			return;
		}
		ipc_forward(ctl_reqs[i].client, r);
		if (r->type == IPC_QUEUE_CTL_END ||
		    r->type == IPC_QUEUE_CTL_FLUSHED ||
		    r->type == IPC_QUEUE_CTL_DONE)
			ctl_reqs[i].client = NULL;
		return;
	}
}

/* master_ctl_queue_gone - fail what the dead queue will never answer */
void
master_ctl_queue_gone(void)
{
	size_t	 i;

	for (i = 0; i < MASTER_CTL_MAX_REQS; i++) {
		if (ctl_reqs[i].client == NULL)
			continue;
		master_ctl_end(ctl_reqs[i].client, 1,
		    "the queue restarted; try again");
		ctl_reqs[i].client = NULL;
	}
}

static void
master_ctl_accept(evutil_socket_t fd, short ev, void *arg)
{
	int	 s;

	(void)ev;
	(void)arg;
	if ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket accept");
		return;
	}
	ipc_peer_new(master->base, s, "avalctl", master_ctl_dispatch,
	    master_ctl_closed, NULL);
}

/*
 * master_ctl_open - bind the control socket and write the pid file;
 * refuses to start when another avald answers on the socket.
 */
void
master_ctl_open(void)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/avald.sock", master->conf->runtime_dir) >= sizeof(sun.sun_path))
		fatalx("runtime-dir too long for a socket path");
	strlcpy(master->ctl_path, sun.sun_path, sizeof(master->ctl_path));
	snprintf(master->pid_path, sizeof(master->pid_path), "%s/avald.pid",
	    master->conf->runtime_dir);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("another avald is running on %s", sun.sun_path);
	unlink(sun.sun_path);
	old = umask(0077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", sun.sun_path);
	umask(old);
	if (listen(fd, 16) == -1)
		fatal("listen %s", sun.sun_path);
	master->ctl_fd = fd;
}

/* master_ctl_start - serve the control socket; the pid is final now */
void
master_ctl_start(void)
{
	FILE	*f;

	if ((f = fopen(master->pid_path, "w")) == NULL)
		fatal("%s", master->pid_path);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	if (evutil_make_socket_nonblocking(master->ctl_fd) == -1)
		fatal("control socket");
	master->ctl_ev = event_new(master->base, master->ctl_fd,
	    EV_READ | EV_PERSIST, master_ctl_accept, NULL);
	event_add(master->ctl_ev, NULL);
}

/* master_ctl_close - stop answering; removes the socket (idempotent) */
void
master_ctl_close(void)
{
	if (master->ctl_fd == -1)
		return;
	if (master->ctl_ev != NULL) {
		event_free(master->ctl_ev);
		master->ctl_ev = NULL;
	}
	close(master->ctl_fd);
	master->ctl_fd = -1;
	unlink(master->ctl_path);
}
