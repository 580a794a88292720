/*
 * ipc - typed, length-prefixed, versioned messages over Unix sockets
 *
 * A frame is a header of four u32 in host byte order (type, len, peer,
 * flags) and a payload of at most IPC_MAX_PAYLOAD bytes. With IPC_F_FD in
 * flags, one file descriptor travels alongside (SCM_RIGHTS). The first frame
 * each side sends is IPC_HELLO with IPC_VERSION; ipc_peer does that itself
 * and closes a link whose hello is missing or of another version.
 *
 * Building: ipc_new(type), ipc_put_*(), ipc_send(peer, m), which takes
 * ownership of m (and of any fd set on it). Putting more than the payload
 * cap is our own bug and fatalx()es.
 *
 * Reading: the dispatch callback gets a struct ipc_msgin; ipc_get_*() take
 * fields in order and return -1 once anything is short or malformed (and
 * every later get fails too), ipc_end() fails on trailing bytes. Strings are
 * returned NUL-terminated and borrowed until the callback returns. The
 * callback may take m->fd (set it to -1); otherwise it is closed after.
 *
 * When a frame is wrong, the receiver punishes the sender: log, then
 * ipc_peer_close(). The closed callback runs once per peer, for EOF, errors
 * and ipc_peer_close() alike, from the event loop rather than from inside a
 * dispatch. The peer is freed after the closed callback returns.
 */
#ifndef AVAL_COMMON_IPC_H
#define AVAL_COMMON_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipc_types.h"

#define IPC_HDR_LEN		16
#define IPC_MAX_PAYLOAD		(16 * 1024)
#define IPC_F_FD		0x0001		/* an fd travels with this frame */

struct event_base;
struct ipc_peer;

struct ipc_hdr {
	uint32_t	 type;
	uint32_t	 len;		/* payload bytes */
	uint32_t	 peer;		/* free for the sender: instance, request id */
	uint32_t	 flags;
};

struct ipc_msg;				/* a frame being built */

struct ipc_msgin {			/* a frame being read */
	uint32_t	 type;
	uint32_t	 peer;
	int		 fd;		/* -1 unless IPC_F_FD */
	const uint8_t	*p;
	size_t		 left;
	int		 err;
};

typedef void	(*ipc_dispatch_cb)(struct ipc_peer *, struct ipc_msgin *, void *);
typedef void	(*ipc_closed_cb)(struct ipc_peer *, void *);
typedef void	(*ipc_drain_cb)(struct ipc_peer *, void *);

/* Building and sending. */
struct ipc_msg	*ipc_new(uint32_t type);
void		 ipc_msg_free(struct ipc_msg *);	/* NULL is fine */
void		 ipc_set_peer(struct ipc_msg *, uint32_t);
void		 ipc_set_fd(struct ipc_msg *, int);	/* takes the fd */
void		 ipc_put_u32(struct ipc_msg *, uint32_t);
void		 ipc_put_u64(struct ipc_msg *, uint64_t);
void		 ipc_put_str(struct ipc_msg *, const char *);	/* NULL sends "" */
void		 ipc_put_data(struct ipc_msg *, const void *, size_t);
size_t		 ipc_room(const struct ipc_msg *);	/* payload bytes left */
void		 ipc_send(struct ipc_peer *, struct ipc_msg *);	/* takes m */
/* Send r's type and unread payload on to another link, unchanged. */
void		 ipc_forward(struct ipc_peer *, const struct ipc_msgin *);

/* Reading. */
int		 ipc_get_u32(struct ipc_msgin *, uint32_t *);
int		 ipc_get_u64(struct ipc_msgin *, uint64_t *);
int		 ipc_get_str(struct ipc_msgin *, const char **);
int		 ipc_get_data(struct ipc_msgin *, const void **, size_t *);
int		 ipc_end(struct ipc_msgin *);

/*
 * Framing, exposed for tests and fuzzing: 1 and *h filled when buf starts
 * with a whole frame (IPC_HDR_LEN + h->len bytes), 0 when more bytes are
 * needed, -1 when the header is impossible (oversized, unknown flags).
 */
int		 ipc_frame_parse(const uint8_t *, size_t, struct ipc_hdr *);
void		 ipc_msgin_init(struct ipc_msgin *, const struct ipc_hdr *,
		    const uint8_t *payload, int fd);

/* Links. */
struct ipc_peer	*ipc_peer_new(struct event_base *, int fd, const char *name,
		    ipc_dispatch_cb, ipc_closed_cb, void *arg);
void		 ipc_peer_close(struct ipc_peer *);
const char	*ipc_peer_name(const struct ipc_peer *);
void		 ipc_peer_set_name(struct ipc_peer *, const char *);
size_t		 ipc_peer_queued(const struct ipc_peer *);	/* bytes not yet sent */
void		 ipc_peer_on_drain(struct ipc_peer *, ipc_drain_cb, void *);
void		 ipc_peer_flush(struct ipc_peer *);		/* blocking, for shutdown */
const char	*ipc_type_name(uint32_t);

#endif
