/*
 * ctlclient - the client side of avald's control socket, for the tools
 *
 * What avalctl and mailq share: finding the configuration avald uses
 * (-f/-C file, else /etc/aval/aval.conf if it exists, else the embedded
 * development default), the control socket in its runtime directory,
 * connecting to it and making sure avald is what answers, and collecting a queue listing (IPC_CTL_QUEUE_LIST's
 * replies) into a list. Frames are checked as strictly as any worker
 * checks its links: a frame that does not parse is an error, not skipped.
 */
#ifndef AVAL_COMMON_CTLCLIENT_H
#define AVAL_COMMON_CTLCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct ipc_msgin;

struct ctlclient_rcpt {
	char			*addr;
	uint32_t		 state;		/* enum rcpt_state, or RCPT_STATE_MAX + 1: active */
	uint32_t		 attempts;
	uint64_t		 next;		/* next try, seconds since the epoch */
	char			*error;		/* last outcome, "" if none */
	struct ctlclient_rcpt	*next_rcpt;
};

struct ctlclient_msg {
	char			*qid;
	char			*sender;	/* "" for <> */
	uint64_t		 arrival;	/* seconds since the epoch */
	uint64_t		 size;
	uint32_t		 flags;		/* IPC_CTL_MSG_* */
	struct ctlclient_rcpt	*rcpts, **rtail;
	struct ctlclient_msg	*next;
};

struct ctlclient_queue {
	struct ctlclient_msg	*msgs, **tail, *last;
	uint32_t		 n;		/* messages, from QUEUE_CTL_END */
	int			 done;		/* QUEUE_CTL_END seen */
};

/*
 * ctlclient_conf - the configuration avald would use, or NULL after
 * every error was printed to stderr under prog's name. File NULL: the
 * installed one if it exists, else the embedded default, whose paths are
 * under the working directory; *dflt (if not NULL) says which. Caller
 * frees.
 */
struct conf	*ctlclient_conf(const char *prog, const char *file, int *dflt);

/* ctlclient_path - runtime-dir/avald.sock into out; -1 if it does not fit */
int		 ctlclient_path(const struct conf *, char *out, size_t outlen);

/* ctlclient_connect - a connected stream socket, or -1 with errno set */
int		 ctlclient_connect(const char *path);

/*
 * ctlclient_peer_check - is the server on the connected UNIX socket fd
 * avald? Only root, the user avald runs its workers as (user, the
 * config's "user"; NULL: none) and the caller's own uid (avald run by
 * hand from a build tree) may serve it: anyone else may have put a socket
 * where a relative path led. 1 yes; 0 no, and why in err; -1 it cannot
 * be told (SO_PEERCRED failed), why in err.
 */
int		 ctlclient_peer_check(int fd, const char *user, char *err,
		    size_t errlen);

enum ctlclient_open {
	CTLCLIENT_O_OK,		/* *fd is avald's */
	CTLCLIENT_O_NOCONN,	/* connect() failed; errno says why */
	CTLCLIENT_O_FOREIGN	/* someone else serves it; said on stderr */
};

/*
 * ctlclient_open - connect to path and check the server with
 * ctlclient_peer_check(). With dflt set (the embedded default is in
 * effect) it first says on stderr, under prog's name, which socket that
 * is, because the path came from the working directory. Nothing else is
 * printed for CTLCLIENT_O_NOCONN: the caller knows what to tell the user.
 */
enum ctlclient_open ctlclient_open(const char *prog, const char *path,
		    const char *user, int dflt, int *fd);

void		 ctlclient_queue_init(struct ctlclient_queue *);
void		 ctlclient_queue_clear(struct ctlclient_queue *);

/*
 * ctlclient_queue_take - file one listing frame (QUEUE_CTL_MSG, _RCPT,
 * _END): 1 taken, 0 not a listing frame, -1 malformed
 */
int		 ctlclient_queue_take(struct ctlclient_queue *,
		    struct ipc_msgin *);

/* ctlclient_state_name - "pending", "deferred", ..., "active" */
const char	*ctlclient_state_name(uint32_t);

#endif
