/*
 * smtpd - the inbound SMTP server's shared types
 *
 * One smtpd process serves many sessions on one event_base. Sessions are
 * found by id when the queue answers; see smtpd_session.c for the state
 * machine and smtpd.c for the process.
 */
#ifndef AVAL_SMTPD_SMTPD_H
#define AVAL_SMTPD_SMTPD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/fedtrust.h"
#include "common/proc.h"
#include "common/qid.h"
#include "smtpd/smtpd_data.h"

#define SMTPD_CMD_MAX		512	/* command line, CRLF included (RFC 5321 4.5.3.1.4) */
#define SMTPD_CMD_EXT_MAX	2048	/* MAIL and RCPT, which DSN and AUTH= lengthen */
#define SMTPD_TEXT_MAX		SMTPD_DATA_LINE_MAX	/* text line, CRLF included (4.5.3.1.6) */
#define SMTPD_READ_HIWAT	(64 * 1024)	/* input taken per wake-up */
#define SMTPD_OUT_HIWAT		(64 * 1024)	/* replies a client has not read */
#define SMTPD_QUEUE_HIWAT	(4 * 1024 * 1024)	/* text not yet sent to the queue */
#define SMTPD_HASH		1024

struct bufferevent;
struct buf;
struct event;
struct ssl_st;
struct tls_info;
struct tls_server;
struct smtpd_listener;
struct tls_ticket_keys;
struct smtpd_limit_table;
struct smtpd_auth;
struct smtpd_auth_throttle;
struct dnswl;
struct dnswl_query;
struct passwd;

/*
 * Session states. A session waits on the queue twice: for the queue ID
 * before it answers DATA (OPENING), and for durability before it answers
 * the final dot (COMMIT). It reads nothing from the client while waiting.
 */
enum smtpd_state {
	SMTPD_S_HELO = 0,	/* greeted; no HELO/EHLO yet */
	SMTPD_S_READY,		/* HELO/EHLO done, no transaction */
	SMTPD_S_MAIL,		/* MAIL accepted */
	SMTPD_S_RCPT,		/* at least one RCPT accepted */
	SMTPD_S_OPENING,	/* DATA given, waiting for the queue ID */
	SMTPD_S_DATA,		/* reading message text */
	SMTPD_S_COMMIT,		/* final dot seen, waiting for durability */
	SMTPD_S_BDAT,		/* reading a BDAT chunk's octets */
	SMTPD_S_CLOSING,	/* last reply queued; close when written */
};

/*
 * What the federation says of a session (smtpd_fed.c): placed, when the
 * bundle's registry or the DNS whitelist puts the client's address at a
 * member; member, when its certificate verified against the federation
 * CA and CRL and names hosts of an active member: a verified peer.
 */
struct smtpd_fed {
	char			 member[FED_ID_MAX + 1];	/* verified: "" */
	char			 placed[FED_ID_MAX + 1];	/* "" none */
	const char		*placed_by;	/* "registry", "whitelist" */
	char			 reason[FED_REASON_LEN];	/* not verified */
	char			 why[FED_WHY_LEN];
	int			 downgrade;	/* placed, not verified, at MAIL */
	int			 mailed;	/* MAIL was given once */
	struct dnswl_query	*wlq;		/* the whitelist lookup in flight */
};

struct smtpd_session {
	uint64_t		 id;
	char			 idstr[24];	/* "s" + hex, for log lines */
	uint64_t		 tid;		/* current queue transaction, 0 if none */
	int			 fd;
	struct bufferevent	*bev;		/* socket, or OpenSSL once TLS starts */
	const struct smtpd_listener *listener;
	int			 flags;
#define SMTPD_F_TLS		0x0001	/* TLS is up (handshake done) */
#define SMTPD_F_TLS_START	0x0002	/* 220 to STARTTLS queued; handshake next */
#define SMTPD_F_HANDSHAKE	0x0004	/* TLS handshake running */
#define SMTPD_F_AUTH		0x0008	/* AUTH succeeded */
#define SMTPD_F_COUNTED		0x0010	/* in the limits table */
#define SMTPD_F_PREGREET	0x0020	/* "220-" sent, waiting to send "220 " */
#define SMTPD_F_SASL		0x0080	/* in an AUTH exchange: lines are responses */
#define SMTPD_F_AUTH_WAIT	0x0100	/* a failed AUTH's reply is being delayed */
#define SMTPD_F_LOCAL		0x0200	/* on the local socket: a user of this host */
	uid_t			 peer_uid;	/* SMTPD_F_LOCAL: SO_PEERCRED of the client */
	pid_t			 peer_pid;
	struct smtpd_auth	*auth;		/* NULL until the first AUTH */
	struct event		*auth_ev;	/* the delay of a failed AUTH */
	struct tls_info		*tls;		/* NULL until TLS is up */
	struct smtpd_fed	 fed;		/* the federation's view (smtpd_fed.c) */
	struct sockaddr_storage	 ss;
	char			 client[96];	/* "[addr]:port" */
	enum smtpd_state	 state;

	char			 helo[ADDR_DOMAIN_MAX + 1];
	int			 esmtp;
	char			 sender[ADDR_MAX + 1];
	int			 txflags;	/* of this transaction */
#define SMTPD_TX_SMTPUTF8	0x01	/* MAIL said SMTPUTF8 */
#define SMTPD_TX_8BITMIME	0x02	/* MAIL said BODY=8BITMIME */
#define SMTPD_TX_BDAT		0x04	/* the message comes in BDAT chunks */
	int			 ret;		/* DSN RET=, SMTPD_RET_* */
	char			*envid;		/* DSN ENVID= as sent (xtext), or NULL */
	/* BDAT: the chunk being read. */
	unsigned long long	 bdat_left;	/* octets still to read */
	unsigned long long	 bdat_size;	/* of the chunk, for the reply */
	int			 bdat_last;
	const char		*bdat_refuse;	/* read and drop the chunk, then this */
	unsigned int		 nrcpt;
	char			 qid[QID_SIZE];	/* "" until the queue says */
	int			 opened;	/* the queue holds a transaction for us */
	int			 asking;	/* COMMIT unanswered, the queue gone: ask the next */

	/* Message text. */
	struct buf		*chunk;		/* unsent part, < IPC_CHUNK */
	struct smtpd_data	 data;		/* the content checks */
	int			 at_bol;	/* next byte starts a line */
	int			 prev_crlf;	/* last line ended in CRLF */
	time_t			 started;	/* the session's connect time */
	time_t			 data_started;	/* 354 sent */
	unsigned long long	 data_bytes;	/* read since the 354 */

	int			 skipping;	/* dropping an overlong command */
	int			 paused;	/* reading stopped for back-pressure */
#define SMTPD_P_OUTPUT		0x01	/* the client is not reading its replies */
#define SMTPD_P_QUEUE		0x02	/* the queue link is backed up */
	struct event		*wait_ev;	/* bounds OPENING and COMMIT, and the pregreet pause */
	unsigned int		 errors;
	unsigned int		 ncmds;

	struct smtpd_session	*hnext;		/* tid hash chain */
	struct smtpd_session	*next, *prev;	/* all sessions */
};

struct smtpd_listener {
	int			 fd;
	int			 kind;		/* enum conf_listen_kind */
	int			 flags;		/* CONF_LF_* */
	long long		 pregreet;	/* seconds */
	char			 addr[128];	/* "127.0.0.1:25" or "unix:/path", for logs */
	struct event		*ev;
	struct event		*pause_ev;	/* EMFILE back-off */
};

struct smtpd_env {
	struct proc_worker	 w;
	struct ipc_peer		*queue;
	int			 queue_low;	/* the spool is short of space */
	struct smtpd_listener	*listeners;
	size_t			 nlisteners;
	int			 started;
	int			 draining;

	struct smtpd_limit_table *limits;	/* shared by every smtpd */
	struct smtpd_auth_throttle *throttle;	/* AUTH failures, in limits */
	struct passwd		*passwd;	/* AUTH's map, from the master */
	struct buf		*passwd_text;	/* being received */
	unsigned int		 instance;

	/* TLS: the contexts, and the PEM text the master is sending. */
	struct tls_server	*tls;
	struct buf		*pem[16][2];	/* [cert index][TLS_PART_CERT|KEY] */
	struct buf		*pem_ca;
	struct tls_ticket_keys	*keys;
	/* the federation (common/fedtrust.h): NULL while off or no bundle */
	struct fed_trust	*fed;
	struct fed_recv		 fed_recv;
	struct dnswl		*dnswl;		/* the whitelist lookups, or NULL */

	struct smtpd_session	*sessions;
	struct smtpd_session	*hash[SMTPD_HASH];
	unsigned int		 nsessions;
	uint64_t		 next_id;
};

extern struct smtpd_env	*env;

/* smtpd.c */
void	 smtpd_queue_send(struct ipc_msg *);	/* NULL queue drops it */
void	 smtpd_maybe_exit(void);

/* smtpd_session.c */
void	 smtpd_session_new(int fd, const struct sockaddr *, socklen_t,
	    const struct smtpd_listener *, int exempt);
struct smtpd_session *smtpd_session_find(uint64_t tid);
void	 smtpd_session_opened(struct smtpd_session *, const char *qid);
void	 smtpd_session_durable(struct smtpd_session *);
void	 smtpd_session_failed(struct smtpd_session *, const char *why);
void	 smtpd_session_queue_gone(void);
void	 smtpd_session_queue_back(void);
void	 smtpd_session_drain(void);
void	 smtpd_session_queue_drained(void);
void	 smtpd_session_reject(int fd, const struct sockaddr *, socklen_t,
	    const char *dsn, const char *text);

/* smtpd_tls.c */
void	 smtpd_tls_dispatch(struct ipc_msgin *);
int	 smtpd_tls_start(struct smtpd_session *);
void	 smtpd_tls_connected(struct smtpd_session *);
void	 smtpd_tls_shutdown(struct smtpd_session *);
const char *smtpd_tls_failure(struct smtpd_session *, char *, size_t);

/* smtpd_session.c, AUTH */
void	 smtpd_passwd_dispatch(struct ipc_msgin *);

/*
 * SMTPD_TRUSTED - may this session relay and use sender routing: it
 * authenticated, or it is a local user on the local socket
 */
#define SMTPD_TRUSTED(s)	(((s)->flags & (SMTPD_F_AUTH | SMTPD_F_LOCAL)) != 0)

/* smtpd_fed.c */
struct ssl_st;
void	 smtpd_fed_connect(struct smtpd_session *);
void	 smtpd_fed_tls(struct smtpd_session *, struct ssl_st *, char *log,
	    size_t loglen);
int	 smtpd_fed_mail(struct smtpd_session *);
void	 smtpd_fed_received(const struct smtpd_session *, char *comment,
	    size_t commentlen);
int	 smtpd_fed_header(const struct smtpd_session *, struct buf *);
int	 smtpd_fed_may_relay(const struct smtpd_session *);
void	 smtpd_fed_close(struct smtpd_session *);
void	 smtpd_fed_start(void);
void	 smtpd_fed_probe(void);

/* smtpd_relay.c */
int	 smtpd_relay_allowed(const struct sockaddr *, const char *rcpt);

/* smtpd_received.c */
int	 smtpd_received(const struct smtpd_session *, struct buf *);

#endif
