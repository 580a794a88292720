/*
 * proc - what every worker process shares at start-up
 *
 * A worker is started by avald as "aval-<kind> [-d] [-v]" with its link to
 * the master on fd PROC_MASTER_FD. proc_worker_init() sets up logging, the
 * event_base and that link. The master then sends the config as
 * IPC_MASTER_CONF_ITEM frames closed by IPC_MASTER_CONF_END (at start and
 * on every reload); the worker's dispatch passes those two types to
 * proc_conf_dispatch(). Then come the worker's fds and IPC_MASTER_START,
 * on which the worker calls proc_privdrop() and starts serving.
 *
 * A worker whose master link closes exits: the master is gone or has
 * given up on it, and a new one will be started if needed. SIGINT and
 * SIGHUP are ignored (a Ctrl-C reaches the whole process group, and the
 * master drains the workers in order); SIGTERM, as sent to every process
 * of a service by some supervisors, runs the worker's shutdown hook.
 */
#ifndef AVAL_COMMON_PROC_H
#define AVAL_COMMON_PROC_H

#include "common/ipc.h"

#define PROC_MASTER_FD	3

struct conf;
struct event;
struct event_base;

struct proc_worker {
	struct event_base	*base;
	void			(*shutdown)(void);	/* the worker's drain; SIGTERM calls it too */
	struct ipc_peer		*master;
	struct conf		*conf;		/* current; NULL until the first CONF_END */
	struct conf		*pending;	/* being received */
	unsigned int		 generation;	/* of conf */
	struct event		*sigterm;
};

void	 proc_worker_init(struct proc_worker *, int argc, char **argv,
	    const char *name, ipc_dispatch_cb, void *arg);

/*
 * Handles IPC_MASTER_CONF_ITEM and IPC_MASTER_CONF_END: returns 1 when a new
 * config has just replaced w->conf (the old one is freed), 0 for an item.
 * A malformed item from the master is fatal: the master is trusted.
 */
int	 proc_conf_dispatch(struct proc_worker *, struct ipc_msgin *);

/*
 * Started as root: chroot to dir (if not NULL), drop to conf->user with no
 * supplementary groups and no capabilities left, and forbid regaining any.
 * Started as another user: only forbid gaining privileges. Fatal on any
 * failure; checks the result (no capability, uid not 0) before returning.
 */
void	 proc_privdrop(const struct conf *, const char *dir);
/* The same, to the named user (aval-local runs as local-user). */
void	 proc_privdrop_user(const char *user, const char *dir);

/*
 * runtime-dir/empty, the chroot of the network-facing workers, in out:
 * made when missing, root-owned (when run as root) and mode 0555, and
 * refused (fatal) when anything is in it, since a chroot that holds files
 * is no longer what its users were promised.
 */
void	 proc_empty_dir(const struct conf *, char *out, size_t outlen);

/*
 * Started as root: leave the host's network for a namespace of our own,
 * which has only a loopback interface, down (unshare(CLONE_NEWNET)).
 * 1 done, 0 not root (nothing to do), -1 the kernel refused (logged).
 */
int	 proc_nonet(void);

/* Look up the unprivileged user; 0 and ids filled, or -1 if unknown. */
int	 proc_user(const char *user, uid_t *uid, gid_t *gid);

#endif
