/*
 * ipc_types - the catalogue of messages between aval processes
 *
 * Numbers come in ranges by sender: 100 master, 200 smtpd, 300 queue,
 * 400 deliver, 500 avalctl. aval-local speaks the delivery agents' job
 * protocol: the queue's JOB_* frames to it, DELIVER_* frames from it.
 * Each entry says its payload, in order, and its
 * reply. Types: u32, u64, str (length-prefixed, NUL-checked), data (raw
 * length-prefixed bytes), fd (passed alongside with SCM_RIGHTS).
 *
 * Bump IPC_VERSION whenever any message here changes shape or meaning:
 * a worker built from another tree is refused at IPC_HELLO.
 */
#ifndef AVAL_COMMON_IPC_TYPES_H
#define AVAL_COMMON_IPC_TYPES_H

#define IPC_VERSION	11

enum ipc_type {
	IPC_HELLO = 1,			/* any: u32 version; first on every link */

	/* master -> workers */
	IPC_MASTER_CONF_ITEM = 100,	/* str key, str value; one setting */
	IPC_MASTER_CONF_END,		/* u32 generation; the items so far are the config */
	IPC_MASTER_LISTENER,		/* ->smtpd: fd, str kind ("mx"|"submission"), str addr */
	IPC_MASTER_QUEUE_LINK,		/* ->smtpd, deliver, local: fd; a new link to the queue */
	IPC_MASTER_PEER_LINK,		/* ->queue: fd, u32 proc kind, u32 instance; a new worker link */
	IPC_MASTER_START,		/* ->worker: config and fds complete; chroot, drop, run */
	IPC_MASTER_SHUTDOWN,		/* ->worker: drain and exit */
	IPC_MASTER_CTL_QUEUE_LIST,	/* ->queue: u32 req; reply QUEUE_CTL_MSG*, QUEUE_CTL_RCPT*, QUEUE_CTL_END */
	IPC_MASTER_CTL_FLUSH,		/* ->queue: u32 req; reply QUEUE_CTL_FLUSHED */
	IPC_MASTER_CTL_PROC,		/* ->avalctl: str kind, u32 instance, u32 pid, u64 started, u32 restarts, str state */
	IPC_MASTER_CTL_END,		/* ->avalctl: u32 status (0 ok), str text */
	IPC_MASTER_TLS_PEM,		/* ->smtpd, deliver: u32 cert index, u32 part (enum tls_part), data chunk; PEM text in order */
	IPC_MASTER_TLS_END,		/* ->smtpd: u32 certificates, ->deliver: u32 files; the PEM so far is the TLS config */
	IPC_MASTER_TLS_KEYS,		/* ->smtpd: data current ticket key, data previous (empty if none) */
	IPC_MASTER_PASSWD_LINE,		/* ->smtpd: str "user:hash[:senders]"; one password map entry */
	IPC_MASTER_PASSWD_END,		/* ->smtpd: u32 entries; the lines so far are the map */
	IPC_MASTER_LIMITS,		/* ->smtpd: fd (memfd of smtpd_limit.h's table), u32 instance */
	IPC_MASTER_CTL_QUEUE_CMD,	/* ->queue: u32 req, str verb, str arg, u32 flags (1 json, 2 bounce);
					   reply QUEUE_CTL_LINE*, QUEUE_CTL_DONE */
	IPC_MASTER_FED_PART,		/* ->smtpd, deliver: u32 part (enum fed_part), data chunk; in order, before TLS_PEM */
	IPC_MASTER_FED_END,		/* ->smtpd, deliver: u64 serial (0: on, no bundle yet); the parts so far are the federation
					   (common/fedtrust.h); sent only when federation { ca } is set */

	/* smtpd -> queue */
	IPC_SMTPD_MSG_OPEN = 200,	/* u64 sid, str sender, str client, str helo, u32 txflags (SMTPUTF8 1, 8BITMIME 2, BDAT 4),
					   u32 ret (DSN RET: 0 none, 1 FULL, 2 HDRS), str envid (xtext, "" none); reply QUEUE_MSG_OPENED */
	IPC_SMTPD_MSG_RCPT,		/* u64 sid, str rcpt, u32 notify (NEVER 1 SUCCESS 2 FAILURE 4 DELAY 8),
					   u32 orcpt type (0 none, 1 rfc822, 2 utf-8), str orcpt (xtext); no reply */
	IPC_SMTPD_MSG_DATA,		/* u64 sid, data chunk (<= IPC_CHUNK); no reply */
	IPC_SMTPD_MSG_COMMIT,		/* u64 sid; reply QUEUE_MSG_DURABLE | QUEUE_MSG_FAILED */
	IPC_SMTPD_MSG_ABORT,		/* u64 sid; no reply */
	IPC_SMTPD_FED_SESSION,		/* ->master: str member, u32 tls, u32 verified, str version, u32 resumed, str failure
					   ("" ok); one inbound session the federation placed at a member (master_fedhealth.h) */
	IPC_SMTPD_MSG_ASK,		/* u64 sid, str qid; a COMMIT the last queue never answered: is it stored?
					   reply QUEUE_MSG_DURABLE (it is, on disk) | QUEUE_MSG_FAILED (it is not) */

	/* queue -> smtpd, deliver, master */
	IPC_QUEUE_MSG_OPENED = 300,	/* ->smtpd: u64 sid, str qid; the ID this message will have */
	IPC_QUEUE_MSG_DURABLE,		/* ->smtpd: u64 sid; on disk */
	IPC_QUEUE_MSG_FAILED,		/* ->smtpd: u64 sid, str reason; not stored */
	IPC_QUEUE_JOB_START,		/* ->deliver, local: u64 job, str qid, str sender, str domain, u64 size, u64 arrival (ms), u32 nrcpt,
					   u32 flags (IPC_JOB_F_*: 1 the body has 8-bit octets; 2 the body is the file, read-only, that
					   comes with this frame, and deliver reads it itself; 4 the client asked for SMTPUTF8),
					   u32 ret (DSN RET: 0 none, 1 FULL, 2 HDRS), str envid (xtext as the client sent it, "" none) */
	IPC_QUEUE_JOB_RCPT,		/* ->deliver, local: u64 job, u32 index, str rcpt, u32 notify (IPC_NOTIFY_*, 0 not given),
					   u32 orcpt type (0 none, 1 rfc822, 2 utf-8), str orcpt (xtext as sent, "" none) */
	IPC_QUEUE_JOB_DATA,		/* ->deliver, local: u64 job, u32 status (0 data, 1 end, 2 unreadable, 3 the last data), u32 next chunk,
					   u32 next offset, data (<= IPC_CHUNK; empty for 1 and 2); answers DELIVER_JOB_READ, and
					   comes unasked once after GO with the piece at (0, 0) when the body is not a file */
	IPC_QUEUE_JOB_GO,		/* ->deliver, local: u64 job; every recipient sent, deliver it */
	IPC_QUEUE_CTL_MSG,		/* ->master: u32 req, str qid, str sender, u64 arrival (s), u64 size, u32 nrcpt, u32 flags (IPC_CTL_MSG_*) */
	IPC_QUEUE_CTL_RCPT,		/* ->master: u32 req, str qid, str rcpt, u32 state, u32 attempts, u64 next, str error */
	IPC_QUEUE_CTL_END,		/* ->master: u32 req, u32 messages */
	IPC_QUEUE_CTL_FLUSHED,		/* ->master: u32 req, u32 recipients made due */
	IPC_QUEUE_PEER_BAD,		/* ->master: u32 proc kind, u32 instance; I closed its link, restart it */
	IPC_QUEUE_SPACE,		/* ->smtpd: u32 low (1: spool below min-free-space, refuse MAIL 452 4.3.1) */
	IPC_QUEUE_CTL_LINE,		/* ->master: u32 req, str line; one line of a command's output */
	IPC_QUEUE_CTL_DONE,		/* ->master: u32 req, u32 status (0 ok), str text; a command's end */
	IPC_QUEUE_TLS_SESSION,		/* ->deliver: u64 req, data DER ("": none), u32 DANE usage; answers DELIVER_TLS_TAKE */

	/* deliver, local -> queue */
	IPC_DELIVER_RCPT_RESULT = 400,	/* u64 job, u32 index, u32 status, str dsn, str text, str remote host ("none"),
					   u32 flags (IPC_RESULT_F_*) */
	IPC_DELIVER_JOB_DONE,		/* u64 job; every recipient has a result */
	IPC_DELIVER_JOB_READ,		/* u64 job, u32 chunk, u32 offset ((0, 0): the start); reply QUEUE_JOB_DATA */
	IPC_DELIVER_TLS_TAKE,		/* u64 req, str cache key; reply QUEUE_TLS_SESSION (queue/tlsstore.h) */
	IPC_DELIVER_TLS_PUT,		/* str cache key, data DER, u32 DANE usage (0, 2, 3), u64 expires (unix s) */
	IPC_DELIVER_FED_SESSION,	/* ->master: as SMTPD_FED_SESSION, outbound: one connection to a member's MX */

	/* avalctl -> master (control socket) */
	IPC_CTL_QUEUE_LIST = 500,	/* reply QUEUE_CTL_MSG*, QUEUE_CTL_RCPT*, QUEUE_CTL_END */
	IPC_CTL_FLUSH,			/* reply QUEUE_CTL_FLUSHED */
	IPC_CTL_STATUS,			/* reply MASTER_CTL_PROC*, MASTER_CTL_END */
	IPC_CTL_QUEUE_CMD,		/* str verb, str arg, u32 flags; reply QUEUE_CTL_LINE*, QUEUE_CTL_DONE */
	IPC_CTL_FEDERATION,		/* str verb ("show", "health"), u32 flags (1 json); reply QUEUE_CTL_LINE*, QUEUE_CTL_DONE
					   (from the master itself, req 0) */
};

/* What an IPC_MASTER_FED_PART chunk belongs to. */
enum fed_part {
	FED_PART_CA = 0,		/* the configured federation CA (PEM) */
	FED_PART_BUNDLE,		/* the current bundle (CMS, DER) */
	/* ->deliver only: */
	FED_PART_CERT,			/* our federation certificate chain (PEM) */
	FED_PART_KEY,			/* its key */
};
#define FED_PART_MAX		FED_PART_KEY

/* Largest message-body piece in IPC_SMTPD_MSG_DATA and IPC_QUEUE_JOB_DATA. */
#define IPC_CHUNK	(16 * 1024 - 64)

/* What an IPC_MASTER_TLS_PEM chunk belongs to. */
enum tls_part {
	TLS_PART_CERT = 0,		/* certificate chain of cert index */
	TLS_PART_KEY,			/* private key of cert index */
	TLS_PART_CA,			/* client CA list (index 0) */
	/* ->deliver only: */
	TLS_PART_CLIENT_CERT,		/* our client certificate chain (index 0) */
	TLS_PART_CLIENT_KEY,		/* its key (index 0) */
	TLS_PART_FILE,			/* a CA or CRL file: index in conf_tls_files() order */
};
#define TLS_PART_SERVER_MAX	TLS_PART_CA	/* what smtpd takes */
#define TLS_PART_MAX		TLS_PART_FILE

/* Worker kinds, in IPC_MASTER_PEER_LINK and IPC_MASTER_CTL_PROC. */
enum proc_kind {
	PROC_MASTER = 0,
	PROC_SMTPD,
	PROC_QUEUE,
	PROC_DELIVER,
	PROC_LOCAL,			/* aval-local (IPC_VERSION 8) */
};

/* A recipient's queue state, stored and shown by avalctl. */
enum rcpt_state {
	RCPT_PENDING = 0,		/* never tried */
	RCPT_DEFERRED,			/* tried, will retry at next */
	RCPT_DELIVERED,			/* final */
	RCPT_BOUNCED,			/* final (the DSN comes in a later issue) */
};
#define RCPT_STATE_MAX	RCPT_BOUNCED

/* The flags of IPC_QUEUE_JOB_START. */
#define IPC_JOB_F_8BIT		0x01	/* the body has octets over 127 */
#define IPC_JOB_F_BODYFD	0x02	/* the body is the file sent with it */
#define IPC_JOB_F_SMTPUTF8	0x04	/* the client said SMTPUTF8 (RFC 6531) */

/* The DSN NOTIFY= bits (RFC 3461) of IPC_SMTPD_MSG_RCPT and IPC_QUEUE_JOB_RCPT. */
#define IPC_NOTIFY_NEVER	0x01
#define IPC_NOTIFY_SUCCESS	0x02
#define IPC_NOTIFY_FAILURE	0x04
#define IPC_NOTIFY_DELAY	0x08
#define IPC_NOTIFY_MAX		0x0f

/* The flags of IPC_DELIVER_RCPT_RESULT. */
#define IPC_RESULT_F_DSN_PASSED	0x01	/* sent: NOTIFY went on to a peer with DSN,
					   which reports success from here on */

/* The flags of IPC_QUEUE_CTL_MSG. */
#define IPC_CTL_MSG_HELD	0x01	/* on hold (avalctl hold) */

/* One delivery attempt's outcome for one recipient. */
enum deliver_status {
	DELIVER_SENT = 0,
	DELIVER_DEFERRED,
	DELIVER_BOUNCED,
};
#define DELIVER_STATUS_MAX	DELIVER_BOUNCED

#endif
