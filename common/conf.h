/*
 * conf - aval's configuration: parsed by the master, sliced to workers
 *
 * Only avald reads the file (conf_load) or the embedded development default
 * (conf_load_default). Workers never see the file: the master walks the
 * parsed config with conf_items() and sends each (key, value) pair over IPC;
 * a worker rebuilds it with conf_new() and conf_apply_item(). Both sides
 * share one code path for every value, so what a worker holds is exactly
 * what the master checked.
 *
 * Scalar settings are rows of conf_table.c (name, block, type, default,
 * min, max, unit, description); etc/aval.conf and docs/configuration.md are
 * checked against that table by a unit test. Lists (listeners, domains,
 * networks, transports) have their own grammar and item keys.
 *
 * Paths are made absolute at load time, against the working directory, so
 * they stay right after a worker chroots or the master changes directory.
 */
#ifndef AVAL_COMMON_CONF_H
#define AVAL_COMMON_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum conf_listen_kind {
	CONF_L_MX = 0,			/* mail exchange (port 25 in production) */
	CONF_L_SUBMISSION,		/* submission (587): STARTTLS, then AUTH */
	CONF_L_SUBMISSIONS,		/* submissions (465): implicit TLS, then AUTH */
	CONF_L_LOCAL,			/* a UNIX socket for sendmail(1): no TLS, no AUTH */
};

struct conf_listen {
	char			*addr;		/* numeric, "127.0.0.1" or "::1"; CONF_L_LOCAL: the socket's absolute path */
	uint16_t		 port;		/* 0 for CONF_L_LOCAL */
	enum conf_listen_kind	 kind;
	int			 flags;
#define CONF_LF_NO_CLIENT_CERT	0x01		/* do not ask for a client certificate */
	long long		 pregreet;	/* seconds of "220-" before "220 "; 0 off */
	struct conf_listen	*next;
};

struct conf_tls_cert {			/* tls { certificate CERT KEY } */
	char			*cert;		/* PEM chain, leaf first */
	char			*key;		/* PEM private key, mode 0600 */
	struct conf_tls_cert	*next;
};

struct conf_domain {			/* a domain list entry, lowercased */
	char			*name;		/* "example.org", or ".example.org" for subdomains */
	struct conf_domain	*next;
};

struct conf_net {
	int			 family;	/* AF_INET, AF_INET6 */
	uint8_t			 addr[16];	/* network order, masked */
	int			 prefixlen;
	struct conf_net		*next;
};

enum conf_transport_kind {
	CONF_T_SMTP = 0,		/* SMTP to a host, by MX or its address */
	CONF_T_MAILDIR,			/* deliver into the maildir tree */
	CONF_T_LMTP,			/* LMTP to [host]:port or a unix socket */
	CONF_T_DISCARD,			/* accept and drop, with a log line */
	CONF_T_ERROR,			/* bounce (5.x.x) or defer (4.x.x) */
};

/*
 * One route (docs/configuration.md, "Transport"):
 *
 *	smtp			host NULL, mx 1: the domain's own MX records
 *	smtp HOST[:PORT]	host HOST, mx 1: HOST's MX records
 *	smtp [HOST]:PORT	host HOST, mx 0: HOST's addresses (or HOST
 *				itself when numeric), no MX lookup
 *	lmtp [HOST]:PORT	as smtp [HOST]:PORT, speaking LMTP
 *	lmtp unix:/PATH		host PATH, port 0
 *	maildir, discard
 *	error D.D.D TEXT	dsn and text
 */
struct conf_transport {
	char			*domain;	/* lowercased; "*" is the default */
	enum conf_transport_kind kind;
	char			*host;		/* lowercased name, canonical
						   address, socket path, or
						   NULL (see above) */
	uint16_t		 port;		/* 25 unless given */
	int			 mx;		/* smtp: look up MX records */
	int			 numeric;	/* host is an IP address */
	char			 dsn[8];	/* error: "5.1.1" */
	char			*text;		/* error: the reply text */
	char			*arg;		/* the next hop as written
						   canonically, "" if none */
	struct conf_transport	*next;
};

/* TLS policy levels for outbound delivery (DESIGN.md, docs/tls-out.md). */
enum conf_tls_level {
	CONF_TLS_NONE = 0,		/* never STARTTLS */
	CONF_TLS_MAY,			/* STARTTLS when offered; plaintext fallback */
	CONF_TLS_ENCRYPT,		/* TLS required, not verified */
	CONF_TLS_DANE,			/* TLSA records decide; else may */
	CONF_TLS_VERIFY,		/* verified chain, name of the MX host */
	CONF_TLS_SECURE,		/* verified chain, the next-hop domain's names */
	CONF_TLS_FEDERATION,		/* a member's domain: the bundle decides
					   (docs/federation-policy.md); never in
					   the tls-policy table */
};
#define CONF_TLS_LEVEL_MAX	CONF_TLS_FEDERATION

struct conf_tls_policy {		/* tls-policy { DOMAIN LEVEL [options] } */
	char			*domain;	/* lowercased; "*" is the default */
	enum conf_tls_level	 level;
	char			*ca;		/* path, "system", or NULL */
	char			*crl;		/* path or NULL */
	char			*match;		/* names, one space apart, or NULL */
	struct conf_tls_policy	*next;
};

/*
 * An alias, expanded when the file was loaded: name is "local@domain" or a
 * bare "local" (every local domain), lowercased; to holds the final
 * addresses (none of them an alias), each once, in file order.
 */
struct conf_alias {
	char			*name;
	char			**to;
	size_t			 nto;
	struct conf_alias	*next;
};

/* A mailbox map line: "local@domain" or "@domain" (a template with %u). */
struct conf_mailbox {
	char			*addr;		/* lowercased */
	char			*path;		/* relative to the maildir root */
	struct conf_mailbox	*next;
};

struct conf {
	/* Top-level scalars (rows in conf_table.c with block NULL). */
	char		*hostname;		/* "localhost" */
	char		*spool;			/* path; queue's Berkeley DB environment */
	char		*runtime_dir;		/* path; control socket, pid file, empty chroot */
	char		*maildir;		/* path; <maildir>/<domain>/<local>/{tmp,new,cur} */
	char		*user;			/* unprivileged user when started as root */
	char		*local_user;		/* aval-local's user, when started as root */
	char		*postmaster;		/* mailbox, or a bare local part */
	char		*aliases_file;		/* path, "" for none (conf_local.h) */
	char		*mailbox_map;		/* path, "" for none (conf_local.h) */
	long long	 catch_all;		/* bool: unmapped local domains take any local part */

	/* tls { } */
	char		*tls_client_ca;		/* path, "" for none */
	long long	 tls_session_tickets;	/* bool */
	long long	 tls_ticket_rotation;	/* seconds */

	/* smtpd { } */
	char		*smtpd_password_file;	/* path, "" for none */
	long long	 smtpd_max_hops;
	long long	 smtpd_max_client_sessions;
	long long	 smtpd_client_connection_rate;	/* per minute, 0 off */
	long long	 smtpd_session_timeout;	/* seconds, whole session */
	long long	 smtpd_min_data_rate;	/* bytes per second, 0 off */
	long long	 smtpd_processes;
	long long	 smtpd_max_sessions;	/* in all, across processes */
	long long	 smtpd_max_local_sessions;	/* of those, on local sockets */
	long long	 smtpd_max_recipients;
	long long	 smtpd_max_errors;
	long long	 smtpd_command_timeout;	/* seconds */
	long long	 smtpd_data_timeout;	/* seconds */

	/* queue { } */
	long long	 queue_max_message_size;	/* bytes */
	long long	 queue_retry_min;	/* seconds */
	long long	 queue_retry_max;	/* seconds */
	long long	 queue_min_free_space;	/* bytes */
	long long	 queue_max_lifetime;	/* seconds */
	long long	 queue_delay_notice;	/* seconds; 0: none */
	long long	 queue_dest_concurrency;	/* jobs per destination */
	long long	 queue_active_limit;	/* messages in memory */
	long long	 queue_initial_concurrency;	/* ... to start with */
	long long	 queue_cache_size;	/* bytes, Berkeley DB buffer pool */
	long long	 queue_log_buffer;	/* bytes, Berkeley DB log buffer */

	/* deliver { } */
	long long	 deliver_processes;
	long long	 deliver_max_jobs;	/* concurrent, per process */
	long long	 deliver_connect_timeout;	/* seconds */
	long long	 deliver_command_timeout;	/* seconds */
	char		*deliver_resolver;	/* "" or "ADDR[@PORT]" */
	char		*deliver_trust_anchor;	/* path or "" */
	long long	 deliver_dns_timeout;	/* seconds, per lookup */
	long long	 deliver_connection_reuse;	/* bool: park for the next job */

	/* federation { } (docs/federation.md); on when ca is set */
	char		*fed_ca;		/* path: the federation CA, trust anchor */
	char		*fed_bundle_file;	/* path, or "" */
	char		*fed_bundle_url;	/* https:// URL, or "" */
	long long	 fed_refresh;		/* seconds: file check, fetch */
	long long	 fed_expiry_warning;	/* seconds before an expiry */
	char		*fed_whitelist_zone;	/* RFC 5782 zone, or "" */
	long long	 fed_defer_downgrade;	/* bool: 451 instead of a mark */
	long long	 fed_members_may_relay;	/* bool: verified members relay */

	/* local { } */
	long long	 local_processes;
	long long	 local_max_jobs;	/* concurrent, per process */

	/* Lists, each in file order. */
	struct conf_listen	*listeners;
	struct conf_tls_cert	*tls_certs;
	struct conf_domain	*local_domains;
	struct conf_domain	*relay_domains;
	struct conf_net		*relay_networks;
	struct conf_transport	*transports;
	struct conf_tls_policy	*tls_policies;
	struct conf_alias	*aliases;	/* expanded (conf_local.h) */
	struct conf_mailbox	*mailboxes;	/* the mailbox map (conf_local.h) */
	struct conf_local_idx	*local_idx;	/* their indexes (conf_local.c) */

	/* tls { client-certificate CERT KEY }: presented by deliver, or NULL */
	struct conf_tls_cert	*tls_client_cert;
	/* federation { certificate CERT KEY }: our member certificate */
	struct conf_tls_cert	*fed_cert;
};

/* 1 when the config names a federation (federation { ca }) */
#define conf_federation_on(c)	((c)->fed_ca[0] != '\0')

/* Errors collected while loading; each line is "file:line: message". */
struct conf_errors {
	char		**lines;
	size_t		  n;
};

/*
 * Loading (master only). Both return a config, or NULL with every error in
 * errs; the caller frees errs with conf_errors_clear().
 */
struct conf	*conf_load(const char *path, struct conf_errors *errs);
struct conf	*conf_load_default(struct conf_errors *errs);
const char	*conf_default_text(void);	/* the embedded development default */
void		 conf_errors_clear(struct conf_errors *);

/* Building by items (workers, and the loader itself). */
struct conf	*conf_new(void);		/* every scalar at its default */
void		 conf_free(struct conf *);	/* NULL is fine */
int		 conf_apply_item(struct conf *, const char *key, const char *value,
		    char *err, size_t errlen);	/* 0, or -1 with err */
typedef void	(*conf_item_cb)(const char *key, const char *value, void *);
void		 conf_items(const struct conf *, conf_item_cb, void *);

/* Lookups: 1 found, 0 not found. Domains compare case-insensitively. */
int		 conf_is_local_domain(const struct conf *, const char *domain);
/*
 * A path below the maildir root (aval-local's chroot) as relative to it,
 * "x/y" for "<maildir>/x/y"; NULL if path is not below the root.
 */
const char	*conf_maildir_relative(const struct conf *, const char *path);
int		 conf_is_relay_domain(const struct conf *, const char *domain);
/* 1 if domain is in the list (a name, or ".parent" for any under it) */
int		 conf_domain_match(const struct conf_domain *, const char *domain);
int		 conf_in_relay_networks(const struct conf *, const struct sockaddr *);
const struct conf_transport *
		 conf_transport_lookup(const struct conf *, const char *domain);
const char	*conf_transport_kind_name(enum conf_transport_kind);

/*
 * The postmaster: conf_postmaster() writes its mailbox (the setting, a
 * bare local part qualified with the first local domain, else the
 * hostname), 0 or -1 when out is too small. conf_postmaster_rewrite() is 1,
 * with that mailbox in out, for the bare "postmaster" and for postmaster@
 * any local domain (any case) other than that mailbox itself; else 0.
 */
int		 conf_postmaster(const struct conf *, char *out, size_t outlen);
int		 conf_postmaster_rewrite(const struct conf *, const char *rcpt,
		    char *out, size_t outlen);

/*
 * The order every domain table is searched in: find(table, name) is asked
 * for the domain itself, then ".parent" names from the nearest parent up,
 * then "*"; the first entry found, or NULL.
 */
const void	*conf_domain_lookup(const void *table, const char *domain,
		    const void *(*find)(const void *, const char *));

/* The TLS policy for a next-hop domain, looked up as transports are; NULL: none. */
const struct conf_tls_policy *
		 conf_tls_policy_lookup(const struct conf *, const char *domain);
const char	*conf_tls_level_name(enum conf_tls_level);
int		 conf_tls_level_parse(const char *, enum conf_tls_level *);

/*
 * The files the TLS policies name (CA lists, CRLs), each once, in a fixed
 * order: the master sends them to deliver by index in this order, and
 * deliver finds them again by calling this on its own copy of the config.
 * The number of paths, at most max (a config holds no more).
 */
size_t		 conf_tls_files(const struct conf *, const char **out, size_t max);
#define CONF_TLS_POLICIES_MAX	2000	/* tls-policy entries */
#define CONF_TLS_FILES_MAX	64	/* distinct ca and crl files */

/* The first local (UNIX socket) listener, or NULL: where sendmail(1) goes. */
const struct conf_listen *conf_listen_local(const struct conf *);

const char	*conf_listen_kind_name(enum conf_listen_kind);
int		 conf_listen_kind_parse(const char *, enum conf_listen_kind *);

#endif
