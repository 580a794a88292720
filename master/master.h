/*
 * master - avald's shared types
 *
 * avald owns the config, the listening sockets, the control socket and the
 * children. Children are started by fork+exec of aval's own worker binaries
 * (never any other program) with their master link on fd 3, and restarted
 * when they die (at once, or with a back-off while one keeps dying soon
 * after its start: master_backoff.h). While no smtpd runs, the master
 * answers the listeners itself (master_refuse.c). See avald.c for the
 * process's manual.
 */
#ifndef AVAL_MASTER_MASTER_H
#define AVAL_MASTER_MASTER_H

#include <sys/types.h>
#include <sys/time.h>

#include <limits.h>
#include <time.h>

#include "common/ipc.h"
#include "master/master_backoff.h"

struct conf;
struct event;
struct event_base;

enum master_child_state {
	MASTER_C_RUNNING = 0,
	MASTER_C_WAITING,		/* dead, restart scheduled */
	MASTER_C_STOPPED,		/* dead, not to be restarted */
};

struct master_child {
	enum proc_kind		 kind;
	unsigned int		 instance;
	enum master_child_state	 state;
	pid_t			 pid;
	struct ipc_peer		*peer;
	time_t			 started;	/* wall clock, for avalctl */
	long long		 started_ms;	/* monotonic, for back-off */
	unsigned int		 restarts;
	struct master_backoff	 backoff;
	struct event		*restart_ev;
};

struct master_listener {
	int			 fd;
	int			 kind;		/* enum conf_listen_kind */
	char			 addr[112];	/* numeric; or the socket's path (CONF_L_LOCAL) */
	unsigned int		 port;		/* 0 for CONF_L_LOCAL */
	dev_t			 dev;		/* CONF_L_LOCAL: the socket file we made, */
	ino_t			 ino;		/* so only that one is removed at exit */
};

struct master {
	struct event_base	*base;
	struct conf		*conf;
	const char		*conffile;	/* NULL: embedded default */
	unsigned int		 generation;
	int			 flags;		/* log flags, passed to children */
	char			 exedir[PATH_MAX];
	uid_t			 uid;		/* of the workers */
	gid_t			 gid;
	uid_t			 local_uid;	/* of aval-local: owns the mailboxes */
	gid_t			 local_gid;

	struct master_listener	*listeners;
	size_t			 nlisteners;

	struct master_child	*children;
	size_t			 nchildren;
	int			 started;	/* every worker started once */

	int			 limits_fd;	/* smtpd_limit.h's shared table */

	int			 ctl_fd;
	char			 ctl_path[PATH_MAX];
	char			 pid_path[PATH_MAX];
	struct event		*ctl_ev;

	int			 shutting_down;
	struct event		*shutdown_timer;
};

extern struct master	*master;

void	 master_exit(void) __attribute__((noreturn));

/* master_child.c */
void	 master_children_start(void);
void	 master_child_reaped(pid_t, int status);
void	 master_children_send_conf(void);
void	 master_children_shutdown(void);
void	 master_children_kill(void);
struct master_child *master_queue(void);	/* the running queue, or NULL */
int	 master_smtpd_serving(void);	/* smtpds serving listeners */
const char *master_kind_name(enum proc_kind);

/* master_refuse.c */
void	 master_refuse_update(void);	/* after any smtpd starts or stops */

/* master_sock.c */
void	 master_dirs_make(void);
void	 master_listeners_open(void);
void	 master_listeners_unlink(void);	/* local sockets, at exit */

/* master_tls.c */
struct conf_errors;
int	 master_tls_load(const struct conf *, const char *file,
	    struct conf_errors *);
void	 master_tls_commit(void);
void	 master_tls_send_client(struct ipc_peer *);
void	 master_tls_send(struct ipc_peer *);
void	 master_tls_send_keys(struct ipc_peer *);
void	 master_tls_start(void);
void	 master_tls_clear(void);

/* master_passwd.c */
/* master_fed.c */
struct tls_pem;
int	 master_fed_load(const struct conf *, const char *file,
	    struct conf_errors *);
void	 master_fed_commit(void);
void	 master_fed_start(void);
void	 master_fed_send(struct ipc_peer *, int with_key);
const struct tls_pem *master_fed_cert(void);
const char *master_fed_ca(size_t *);
void	 master_fed_ctl(struct ipc_peer *, const char *verb, uint32_t flags);
int	 master_fed_session(int inbound, struct ipc_msgin *);
void	 master_fed_clear(void);

int	 master_passwd_load(const struct conf *, struct conf_errors *);
void	 master_passwd_commit(void);
void	 master_passwd_send(struct ipc_peer *);

/* master_ctl.c */
void	 master_ctl_open(void);
void	 master_ctl_start(void);
void	 master_ctl_close(void);
void	 master_ctl_from_queue(struct ipc_msgin *);
void	 master_ctl_queue_gone(void);

#endif
