/*
 * ipc - typed, length-prefixed, versioned messages over Unix sockets
 *
 * The write side keeps a queue of built frames and sends as many as the
 * socket takes with one sendmsg() each time the socket is writable; a frame
 * that carries an fd is sent on its own so the fd arrives with its first
 * byte. The read side keeps a bounded buffer of at most two frames' worth,
 * collects fds from SCM_RIGHTS into a FIFO, and hands complete frames to the
 * dispatch callback; a frame with IPC_F_FD takes the oldest fd received.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define IPC_RBUF_SIZE	(4 * (IPC_HDR_LEN + IPC_MAX_PAYLOAD))
#define IPC_MAX_FDS	32		/* fds received but not yet claimed */
#define IPC_IOV_MAX	64		/* frames per sendmsg() */
#define IPC_FRAMES_PER_WAKE 256		/* fairness between links */

struct ipc_msg {
	struct ipc_hdr	 hdr;
	uint8_t		*data;		/* header copy, then payload */
	size_t		 size;		/* allocated for data */
	size_t		 off;		/* bytes already sent */
	int		 fd;
	struct ipc_msg	*next;
};

#define IPC_MSG_INITIAL	128		/* most frames are small */

struct ipc_peer {
	int		 fd;
	char		 name[48];
	struct event	*rev;
	struct event	*wev;
	struct event	*closeev;	/* runs the closed callback from the loop */
	ipc_dispatch_cb	 dispatch;
	ipc_closed_cb	 closed;
	void		*arg;

	uint8_t		*rbuf;
	size_t		 rlen;
	int		 fds[IPC_MAX_FDS];
	size_t		 nfds;

	struct ipc_msg	*whead, **wtail;
	size_t		 wqueued;

	ipc_drain_cb	 drained;	/* the write queue has emptied */
	void		*drained_arg;

	int		 hello_seen;
	int		 dead;
};

static void	ipc_peer_read(evutil_socket_t, short, void *);
static void	ipc_peer_write(evutil_socket_t, short, void *);
static void	ipc_peer_closing(evutil_socket_t, short, void *);

/* ipc_new - start a frame of the given type */
struct ipc_msg *
ipc_new(uint32_t type)
{
	struct ipc_msg	*m;

	m = xmalloc(sizeof(*m));
	memset(&m->hdr, 0, sizeof(m->hdr));
	m->hdr.type = type;
	m->size = IPC_HDR_LEN + IPC_MSG_INITIAL;
	m->data = xmalloc(m->size);
	m->off = 0;
	m->fd = -1;
	m->next = NULL;
	return m;
}

/* ipc_msg_free - drop an unsent frame and its fd */
void
ipc_msg_free(struct ipc_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	free(m->data);
	free(m);
}

/* ipc_set_peer - set the header's peer word */
void
ipc_set_peer(struct ipc_msg *m, uint32_t peer)
{
	m->hdr.peer = peer;
}

/* ipc_set_fd - attach an fd; the frame owns it from now on */
void
ipc_set_fd(struct ipc_msg *m, int fd)
{
	if (m->fd != -1)
		fatalx("%s: frame already has an fd", __func__);
	m->fd = fd;
	m->hdr.flags |= IPC_F_FD;
}

static void
ipc_put(struct ipc_msg *m, const void *p, size_t n)
{
	size_t	 want;

	if (n > IPC_MAX_PAYLOAD - m->hdr.len)
		fatalx("%s: %s payload over %d bytes", __func__,
		    ipc_type_name(m->hdr.type), IPC_MAX_PAYLOAD);
	want = IPC_HDR_LEN + m->hdr.len + n;
	if (want > m->size) {
		if (want < m->size * 2)
			want = m->size * 2;
		if (want > IPC_HDR_LEN + IPC_MAX_PAYLOAD)
			want = IPC_HDR_LEN + IPC_MAX_PAYLOAD;
		m->data = xreallocarray(m->data, want, 1);
		m->size = want;
	}
	memcpy(m->data + IPC_HDR_LEN + m->hdr.len, p, n);
	m->hdr.len += n;
}

/* ipc_room - payload bytes this frame can still take */
size_t
ipc_room(const struct ipc_msg *m)
{
	return IPC_MAX_PAYLOAD - m->hdr.len;
}

/* ipc_put_u32 - append a u32 in host order */
void
ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	ipc_put(m, &v, sizeof(v));
}

/* ipc_put_u64 - append a u64 in host order */
void
ipc_put_u64(struct ipc_msg *m, uint64_t v)
{
	ipc_put(m, &v, sizeof(v));
}

/* ipc_put_data - append length-prefixed bytes */
void
ipc_put_data(struct ipc_msg *m, const void *p, size_t n)
{
	if (n > IPC_MAX_PAYLOAD)
		fatalx("%s: %zu bytes", __func__, n);
	ipc_put_u32(m, (uint32_t)n);
	ipc_put(m, p, n);
}

/* ipc_put_str - append a string: length, bytes, NUL */
void
ipc_put_str(struct ipc_msg *m, const char *s)
{
	size_t	 n;

	if (s == NULL)
		s = "";
	n = strlen(s);
	if (n >= IPC_MAX_PAYLOAD)
		fatalx("%s: %zu bytes", __func__, n);
	ipc_put_u32(m, (uint32_t)n);
	ipc_put(m, s, n + 1);
}

/* ipc_msgin_init - set up a reader over one frame's payload */
void
ipc_msgin_init(struct ipc_msgin *r, const struct ipc_hdr *h,
    const uint8_t *payload, int fd)
{
	r->type = h->type;
	r->peer = h->peer;
	r->fd = fd;
	r->p = payload;
	r->left = h->len;
	r->err = 0;
}

static int
ipc_get(struct ipc_msgin *r, void *out, size_t n)
{
	if (r->err || r->left < n) {
		r->err = 1;
		return -1;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

/* ipc_get_u32 - take a u32 */
int
ipc_get_u32(struct ipc_msgin *r, uint32_t *v)
{
	return ipc_get(r, v, sizeof(*v));
}

/* ipc_get_u64 - take a u64 */
int
ipc_get_u64(struct ipc_msgin *r, uint64_t *v)
{
	return ipc_get(r, v, sizeof(*v));
}

/* ipc_get_data - take length-prefixed bytes, borrowed from the frame */
int
ipc_get_data(struct ipc_msgin *r, const void **p, size_t *n)
{
	uint32_t	 len;

	if (ipc_get_u32(r, &len) == -1)
		return -1;
	if (len > r->left) {
		r->err = 1;
		return -1;
	}
	*p = r->p;
	*n = len;
	r->p += len;
	r->left -= len;
	return 0;
}

/* ipc_get_str - take a string; it must end in its NUL and hold no other */
int
ipc_get_str(struct ipc_msgin *r, const char **s)
{
	uint32_t	 len;

	if (ipc_get_u32(r, &len) == -1)
		return -1;
	if (len >= r->left || r->p[len] != '\0' ||
	    memchr(r->p, '\0', len) != NULL) {
		r->err = 1;
		return -1;
	}
	*s = (const char *)r->p;
	r->p += len + 1;
	r->left -= len + 1;
	return 0;
}

/* ipc_end - 0 if every field was read and nothing is left over */
int
ipc_end(struct ipc_msgin *r)
{
	if (r->err || r->left != 0) {
		r->err = 1;
		return -1;
	}
	return 0;
}

/* ipc_frame_parse - is there a whole, plausible frame at buf? */
int
ipc_frame_parse(const uint8_t *buf, size_t len, struct ipc_hdr *h)
{
	if (len < IPC_HDR_LEN)
		return 0;
	memcpy(h, buf, sizeof(*h));
	if (h->len > IPC_MAX_PAYLOAD || (h->flags & ~IPC_F_FD) != 0)
		return -1;
	if (len - IPC_HDR_LEN < h->len)
		return 0;
	return 1;
}

/* ipc_peer_new - wrap a connected socket; sends our hello at once */
struct ipc_peer *
ipc_peer_new(struct event_base *base, int fd, const char *name,
    ipc_dispatch_cb dispatch, ipc_closed_cb closed, void *arg)
{
	struct ipc_peer	*p;
	struct ipc_msg	*m;

	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		fatal("%s: %s", __func__, name);
	p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	strlcpy(p->name, name, sizeof(p->name));
	p->dispatch = dispatch;
	p->closed = closed;
	p->arg = arg;
	p->rbuf = xmalloc(IPC_RBUF_SIZE);
	p->wtail = &p->whead;
	p->rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_peer_read, p);
	p->wev = event_new(base, fd, EV_WRITE, ipc_peer_write, p);
	p->closeev = event_new(base, -1, 0, ipc_peer_closing, p);
	if (p->rev == NULL || p->wev == NULL || p->closeev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(p->rev, NULL);

	m = ipc_new(IPC_HELLO);
	ipc_put_u32(m, IPC_VERSION);
	ipc_send(p, m);
	return p;
}

/* ipc_peer_name - the name given at creation, for log lines */
const char *
ipc_peer_name(const struct ipc_peer *p)
{
	return p->name;
}

/* ipc_peer_set_name - rename a link (a worker's pid becomes known later) */
void
ipc_peer_set_name(struct ipc_peer *p, const char *name)
{
	strlcpy(p->name, name, sizeof(p->name));
}

/* ipc_peer_queued - bytes waiting to be sent */
size_t
ipc_peer_queued(const struct ipc_peer *p)
{
	return p->wqueued;
}

/* ipc_send - queue a frame; takes ownership of m */
void
ipc_send(struct ipc_peer *p, struct ipc_msg *m)
{
	if (p->dead) {
		ipc_msg_free(m);
		return;
	}
	memcpy(m->data, &m->hdr, IPC_HDR_LEN);
	*p->wtail = m;
	p->wtail = &m->next;
	p->wqueued += IPC_HDR_LEN + m->hdr.len;
	if (!event_pending(p->wev, EV_WRITE, NULL))
		event_add(p->wev, NULL);
}

/* ipc_forward - relay a frame's unread payload as is */
void
ipc_forward(struct ipc_peer *p, const struct ipc_msgin *r)
{
	struct ipc_msg	*m;

	m = ipc_new(r->type);
	ipc_set_peer(m, r->peer);
	ipc_put(m, r->p, r->left);
	ipc_send(p, m);
}

/* ipc_peer_close - shut a link; the closed callback runs from the loop */
void
ipc_peer_close(struct ipc_peer *p)
{
	if (p->dead)
		return;
	p->dead = 1;
	event_del(p->rev);
	event_del(p->wev);
	event_active(p->closeev, EV_TIMEOUT, 0);
}

static void
ipc_peer_closing(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_peer	*p = arg;
	struct ipc_msg	*m;
	size_t		 i;

	(void)fd;
	(void)ev;
	if (p->closed != NULL)
		p->closed(p, p->arg);
	while ((m = p->whead) != NULL) {
		p->whead = m->next;
		ipc_msg_free(m);
	}
	for (i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	close(p->fd);
	event_free(p->rev);
	event_free(p->wev);
	event_free(p->closeev);
	free(p->rbuf);
	free(p);
}

/*
 * ipc_peer_sendsome - one sendmsg() of as many whole queued frames as fit,
 * or of a single frame that carries an fd. Returns -1 on a dead socket.
 */
static int
ipc_peer_sendsome(struct ipc_peer *p)
{
	struct iovec	 iov[IPC_IOV_MAX];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct ipc_msg	*m;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	int		 niov = 0;

	memset(&msg, 0, sizeof(msg));
	for (m = p->whead; m != NULL && niov < IPC_IOV_MAX; m = m->next) {
		if (m->fd != -1 && m->off == 0) {
			if (niov > 0)
				break;
			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			msg.msg_control = cmsgbuf.buf;
			msg.msg_controllen = sizeof(cmsgbuf.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &m->fd, sizeof(int));
			iov[niov].iov_base = m->data;
			iov[niov].iov_len = IPC_HDR_LEN + m->hdr.len;
			niov++;
			break;
		}
		iov[niov].iov_base = m->data + m->off;
		iov[niov].iov_len = IPC_HDR_LEN + m->hdr.len - m->off;
		niov++;
	}
	msg.msg_iov = iov;
	msg.msg_iovlen = niov;
	n = sendmsg(p->fd, &msg, MSG_NOSIGNAL);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)
			return 0;
		/* The other side has gone: its closing is logged elsewhere. */
		if (errno == EPIPE || errno == ECONNRESET)
			log_debug("ipc: send to %s: %s", p->name,
			    strerror(errno));
		else
			log_warn("ipc: send to %s", p->name);
		return -1;
	}
	p->wqueued -= (size_t)n;
	while (n > 0 && (m = p->whead) != NULL) {
		size_t	 left = IPC_HDR_LEN + m->hdr.len - m->off;

		if (m->fd != -1) {
			/* The fd went with the first byte. */
			close(m->fd);
			m->fd = -1;
		}
		if ((size_t)n < left) {
			m->off += (size_t)n;
			break;
		}
		n -= (ssize_t)left;
		p->whead = m->next;
		if (p->whead == NULL)
			p->wtail = &p->whead;
		ipc_msg_free(m);
	}
	return 0;
}

static void
ipc_peer_write(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_peer	*p = arg;

	(void)fd;
	(void)ev;
	if (ipc_peer_sendsome(p) == -1) {
		ipc_peer_close(p);
		return;
	}
	if (p->whead != NULL)
		event_add(p->wev, NULL);
	else if (p->drained != NULL)
		p->drained(p, p->drained_arg);
}

/* ipc_peer_on_drain - be told when everything queued has been sent */
void
ipc_peer_on_drain(struct ipc_peer *p, ipc_drain_cb cb, void *arg)
{
	p->drained = cb;
	p->drained_arg = arg;
}

/* ipc_peer_flush - send everything queued, blocking; for exit paths */
void
ipc_peer_flush(struct ipc_peer *p)
{
	struct pollfd	 pfd;

	pfd.fd = p->fd;
	pfd.events = POLLOUT;
	while (!p->dead && p->whead != NULL) {
		if (poll(&pfd, 1, 1000) <= 0)
			return;
		if (ipc_peer_sendsome(p) == -1)
			return;
	}
}

/* ipc_peer_recv - read what is there, keep any fds; -1 on EOF or error */
static int
ipc_peer_recv(struct ipc_peer *p)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	size_t		 i, nfd;
	int		 fd;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = p->rbuf + p->rlen;
	iov.iov_len = IPC_RBUF_SIZE - p->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	n = recvmsg(p->fd, &msg, MSG_CMSG_CLOEXEC);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ECONNRESET)
			log_debug("ipc: receive from %s: %s", p->name,
			    strerror(errno));
		else
			log_warn("ipc: receive from %s", p->name);
		return -1;
	}
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (p->nfds == IPC_MAX_FDS) {
				log_warnx("ipc: %s sent too many fds", p->name);
				close(fd);
				continue;
			}
			p->fds[p->nfds++] = fd;
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		log_warnx("ipc: %s: control data truncated", p->name);
		return -1;
	}
	if (n == 0)
		return -1;
	p->rlen += (size_t)n;
	return 0;
}

/* ipc_peer_hello - check the first frame on a link */
static int
ipc_peer_hello(struct ipc_peer *p, struct ipc_msgin *r)
{
	uint32_t	 version;

	if (r->type != IPC_HELLO || ipc_get_u32(r, &version) == -1 ||
	    ipc_end(r) == -1) {
		log_warnx("ipc: %s did not start with a hello", p->name);
		return -1;
	}
	if (version != IPC_VERSION) {
		log_warnx("ipc: %s speaks version %u, we speak %u", p->name,
		    version, IPC_VERSION);
		return -1;
	}
	p->hello_seen = 1;
	return 0;
}

static void
ipc_peer_read(evutil_socket_t sock, short ev, void *arg)
{
	struct ipc_peer	*p = arg;
	struct ipc_hdr	 h;
	struct ipc_msgin r;
	size_t		 off = 0;
	int		 fd, rc, frames = 0, eof = 0;

	(void)sock;
	(void)ev;
	/* A full buffer always holds a whole frame: parse before reading. */
	if (p->rlen < IPC_RBUF_SIZE && ipc_peer_recv(p) == -1)
		eof = 1;
	/* At EOF, still hand on every whole frame that arrived before it. */
	while (!p->dead && (eof || frames++ < IPC_FRAMES_PER_WAKE)) {
		rc = ipc_frame_parse(p->rbuf + off, p->rlen - off, &h);
		if (rc == 0)
			break;
		if (rc == -1) {
			log_warnx("ipc: malformed frame header from %s",
			    p->name);
			ipc_peer_close(p);
			return;
		}
		fd = -1;
		if (h.flags & IPC_F_FD) {
			if (p->nfds == 0) {
				log_warnx("ipc: %s: frame %s lacks its fd",
				    p->name, ipc_type_name(h.type));
				ipc_peer_close(p);
				return;
			}
			fd = p->fds[0];
			memmove(p->fds, p->fds + 1,
			    --p->nfds * sizeof(p->fds[0]));
		}
		ipc_msgin_init(&r, &h, p->rbuf + off + IPC_HDR_LEN, fd);
		off += IPC_HDR_LEN + h.len;
		if (!p->hello_seen) {
			if (ipc_peer_hello(p, &r) == -1)
				ipc_peer_close(p);
		} else
			p->dispatch(p, &r, p->arg);
		if (r.fd != -1)
			close(r.fd);
	}
	if (off > 0 && !p->dead) {
		memmove(p->rbuf, p->rbuf + off, p->rlen - off);
		p->rlen -= off;
	}
	if (eof)
		ipc_peer_close(p);
	/* Frames left over from the budget: come back on the next loop. */
	else if (!p->dead && frames > IPC_FRAMES_PER_WAKE)
		event_active(p->rev, EV_READ, 0);
}

/* ipc_type_name - a message type's name, for log lines */
const char *
ipc_type_name(uint32_t type)
{
	switch (type) {
	case IPC_HELLO:			return "HELLO";
	case IPC_MASTER_CONF_ITEM:	return "MASTER_CONF_ITEM";
	case IPC_MASTER_CONF_END:	return "MASTER_CONF_END";
	case IPC_MASTER_LISTENER:	return "MASTER_LISTENER";
	case IPC_MASTER_QUEUE_LINK:	return "MASTER_QUEUE_LINK";
	case IPC_MASTER_PEER_LINK:	return "MASTER_PEER_LINK";
	case IPC_MASTER_START:		return "MASTER_START";
	case IPC_MASTER_SHUTDOWN:	return "MASTER_SHUTDOWN";
	case IPC_MASTER_CTL_QUEUE_LIST:	return "MASTER_CTL_QUEUE_LIST";
	case IPC_MASTER_CTL_FLUSH:	return "MASTER_CTL_FLUSH";
	case IPC_MASTER_CTL_PROC:	return "MASTER_CTL_PROC";
	case IPC_MASTER_CTL_END:	return "MASTER_CTL_END";
	case IPC_MASTER_TLS_PEM:	return "MASTER_TLS_PEM";
	case IPC_MASTER_TLS_END:	return "MASTER_TLS_END";
	case IPC_MASTER_TLS_KEYS:	return "MASTER_TLS_KEYS";
	case IPC_MASTER_LIMITS:		return "MASTER_LIMITS";
	case IPC_MASTER_PASSWD_LINE:	return "MASTER_PASSWD_LINE";
	case IPC_MASTER_PASSWD_END:	return "MASTER_PASSWD_END";
	case IPC_SMTPD_MSG_OPEN:	return "SMTPD_MSG_OPEN";
	case IPC_SMTPD_MSG_RCPT:	return "SMTPD_MSG_RCPT";
	case IPC_SMTPD_MSG_DATA:	return "SMTPD_MSG_DATA";
	case IPC_SMTPD_MSG_COMMIT:	return "SMTPD_MSG_COMMIT";
	case IPC_SMTPD_MSG_ABORT:	return "SMTPD_MSG_ABORT";
	case IPC_QUEUE_MSG_OPENED:	return "QUEUE_MSG_OPENED";
	case IPC_QUEUE_MSG_DURABLE:	return "QUEUE_MSG_DURABLE";
	case IPC_QUEUE_MSG_FAILED:	return "QUEUE_MSG_FAILED";
	case IPC_QUEUE_JOB_START:	return "QUEUE_JOB_START";
	case IPC_QUEUE_JOB_RCPT:	return "QUEUE_JOB_RCPT";
	case IPC_QUEUE_JOB_DATA:	return "QUEUE_JOB_DATA";
	case IPC_QUEUE_JOB_GO:		return "QUEUE_JOB_GO";
	case IPC_QUEUE_CTL_MSG:		return "QUEUE_CTL_MSG";
	case IPC_QUEUE_CTL_RCPT:	return "QUEUE_CTL_RCPT";
	case IPC_QUEUE_CTL_END:		return "QUEUE_CTL_END";
	case IPC_QUEUE_CTL_FLUSHED:	return "QUEUE_CTL_FLUSHED";
	case IPC_QUEUE_SPACE:		return "QUEUE_SPACE";
	case IPC_QUEUE_PEER_BAD:	return "QUEUE_PEER_BAD";
	case IPC_DELIVER_RCPT_RESULT:	return "DELIVER_RCPT_RESULT";
	case IPC_DELIVER_JOB_DONE:	return "DELIVER_JOB_DONE";
	case IPC_DELIVER_JOB_READ:	return "DELIVER_JOB_READ";
	case IPC_DELIVER_TLS_TAKE:	return "DELIVER_TLS_TAKE";
	case IPC_DELIVER_TLS_PUT:	return "DELIVER_TLS_PUT";
	case IPC_SMTPD_MSG_ASK:		return "SMTPD_MSG_ASK";
	case IPC_SMTPD_FED_SESSION:	return "SMTPD_FED_SESSION";
	case IPC_DELIVER_FED_SESSION:	return "DELIVER_FED_SESSION";
	case IPC_MASTER_FED_PART:	return "MASTER_FED_PART";
	case IPC_MASTER_FED_END:	return "MASTER_FED_END";
	case IPC_CTL_FEDERATION:	return "CTL_FEDERATION";
	case IPC_MASTER_CTL_QUEUE_CMD:	return "MASTER_CTL_QUEUE_CMD";
	case IPC_QUEUE_CTL_LINE:	return "QUEUE_CTL_LINE";
	case IPC_QUEUE_CTL_DONE:	return "QUEUE_CTL_DONE";
	case IPC_QUEUE_TLS_SESSION:	return "QUEUE_TLS_SESSION";
	case IPC_CTL_QUEUE_CMD:		return "CTL_QUEUE_CMD";
	case IPC_CTL_QUEUE_LIST:	return "CTL_QUEUE_LIST";
	case IPC_CTL_FLUSH:		return "CTL_FLUSH";
	case IPC_CTL_STATUS:		return "CTL_STATUS";
	}
	return "unknown";
}
