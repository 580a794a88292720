/*
 * ctlclient - the client side of avald's control socket (see ctlclient.h)
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/ctlclient.h"
#include "common/ipc.h"
#include "common/xmalloc.h"

#ifndef AVAL_SYSCONFDIR
#define AVAL_SYSCONFDIR	"/etc/aval"
#endif

/* ctlclient_conf - the config avald would read, or NULL (errors printed) */
struct conf *
ctlclient_conf(const char *prog, const char *file, int *dflt)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*conf;
	size_t			 i;

	if (file == NULL && access(AVAL_SYSCONFDIR "/aval.conf", F_OK) == 0)
		file = AVAL_SYSCONFDIR "/aval.conf";
	if (dflt != NULL)
		*dflt = file == NULL;
	conf = file ? conf_load(file, &errs) : conf_load_default(&errs);
	if (conf == NULL)
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s: %s\n", prog, errs.lines[i]);
	conf_errors_clear(&errs);
	return conf;
}

/* ctlclient_path - where the control socket is */
int
ctlclient_path(const struct conf *c, char *out, size_t outlen)
{
	int	 n;

	n = snprintf(out, outlen, "%s/avald.sock", c->runtime_dir);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ctlclient_connect - connect to a UNIX stream socket */
int
ctlclient_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ctlclient_peer_check - root, avald's user or ourselves on the other end */
int
ctlclient_peer_check(int fd, const char *user, char *err, size_t errlen)
{
	struct ucred	 cred;
	struct passwd	*pw;
	socklen_t	 len = sizeof(cred);
	uid_t		 avald_uid = 0;
	int		 have_user = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof(cred)) {
		snprintf(err, errlen, "cannot tell who serves it: "
		    "SO_PEERCRED: %s", strerror(errno));
		return -1;
	}
	if (cred.uid == 0 || cred.uid == getuid())
		return 1;
	if (user != NULL && (pw = getpwnam(user)) != NULL) {
		avald_uid = pw->pw_uid;
		have_user = 1;
	}
	if (have_user && cred.uid == avald_uid)
		return 1;
	snprintf(err, errlen, "it is served by uid %lu (pid %ld), which is "
	    "neither root, nor avald's user %s%s, nor you: not avald's socket; "
	    "refusing to use it", (unsigned long)cred.uid, (long)cred.pid,
	    user != NULL ? user : "(none)", have_user ? "" : " (no such user)");
	return 0;
}

/* ctlclient_open - connect, and make sure it is avald that answers */
enum ctlclient_open
ctlclient_open(const char *prog, const char *path, const char *user,
    int dflt, int *fd)
{
	char	 err[512];

	/*
	 * The embedded default's paths are relative to wherever the tool
	 * was started (a cron job's /tmp, say): say which socket it is.
	 */
	if (dflt)
		fprintf(stderr, "%s: no %s/aval.conf: using the development "
		    "default, socket %s\n", prog, AVAL_SYSCONFDIR, path);
	if ((*fd = ctlclient_connect(path)) == -1)
		return CTLCLIENT_O_NOCONN;
	if (ctlclient_peer_check(*fd, user, err, sizeof(err)) != 1) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, err);
		close(*fd);
		*fd = -1;
		return CTLCLIENT_O_FOREIGN;
	}
	return CTLCLIENT_O_OK;
}

/* ctlclient_queue_init - an empty listing */
void
ctlclient_queue_init(struct ctlclient_queue *q)
{
	memset(q, 0, sizeof(*q));
	q->tail = &q->msgs;
}

/* ctlclient_queue_clear - free what a listing holds; it is empty again */
void
ctlclient_queue_clear(struct ctlclient_queue *q)
{
	struct ctlclient_msg	*m;
	struct ctlclient_rcpt	*r;

	while ((m = q->msgs) != NULL) {
		q->msgs = m->next;
		while ((r = m->rcpts) != NULL) {
			m->rcpts = r->next_rcpt;
			free(r->addr);
			free(r->error);
			free(r);
		}
		free(m->qid);
		free(m->sender);
		free(m);
	}
	ctlclient_queue_init(q);
}

/* ctlclient_queue_take - file one frame of a listing */
int
ctlclient_queue_take(struct ctlclient_queue *q, struct ipc_msgin *r)
{
	const char		*s1, *s2, *s3;
	struct ctlclient_rcpt	*rc;
	struct ctlclient_msg	*m;
	uint32_t		 req, u1, u2, n, flags;
	uint64_t		 v1, v2;

	switch (r->type) {
	case IPC_QUEUE_CTL_MSG:
		if (q->done || ipc_get_u32(r, &req) == -1 ||
		    ipc_get_str(r, &s1) == -1 || ipc_get_str(r, &s2) == -1 ||
		    ipc_get_u64(r, &v1) == -1 || ipc_get_u64(r, &v2) == -1 ||
		    ipc_get_u32(r, &n) == -1 || ipc_get_u32(r, &flags) == -1 ||
		    ipc_end(r) == -1)
			return -1;
		m = xcalloc(1, sizeof(*m));
		m->qid = xstrdup(s1);
		m->sender = xstrdup(s2);
		m->arrival = v1;
		m->size = v2;
		m->flags = flags;
		m->rtail = &m->rcpts;
		*q->tail = m;
		q->tail = &m->next;
		q->last = m;
		return 1;
	case IPC_QUEUE_CTL_RCPT:
		if (q->done || ipc_get_u32(r, &req) == -1 ||
		    ipc_get_str(r, &s1) == -1 || ipc_get_str(r, &s2) == -1 ||
		    ipc_get_u32(r, &u1) == -1 || ipc_get_u32(r, &u2) == -1 ||
		    ipc_get_u64(r, &v1) == -1 || ipc_get_str(r, &s3) == -1 ||
		    ipc_end(r) == -1 || q->last == NULL ||
		    strcmp(q->last->qid, s1) != 0)
			return -1;
		rc = xcalloc(1, sizeof(*rc));
		rc->addr = xstrdup(s2);
		rc->state = u1;
		rc->attempts = u2;
		rc->next = v1;
		rc->error = xstrdup(s3);
		*q->last->rtail = rc;
		q->last->rtail = &rc->next_rcpt;
		return 1;
	case IPC_QUEUE_CTL_END:
		if (q->done || ipc_get_u32(r, &req) == -1 ||
		    ipc_get_u32(r, &n) == -1 || ipc_end(r) == -1)
			return -1;
		q->n = n;
		q->done = 1;
		return 1;
	}
	return 0;
}

/* ctlclient_state_name - a recipient state as avalctl shows it */
const char *
ctlclient_state_name(uint32_t state)
{
	switch (state) {
	case RCPT_PENDING:	return "pending";
	case RCPT_DEFERRED:	return "deferred";
	case RCPT_DELIVERED:	return "delivered";
	case RCPT_BOUNCED:	return "bounced";
	case RCPT_STATE_MAX + 1: return "active";
	}
	return "unknown";
}
