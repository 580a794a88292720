/*
 * conf_table - one row per scalar setting
 *
 * Keep each description to one line of plain text without '|': it is
 * copied verbatim into etc/aval.conf (as the comment above the setting) and
 * into the table of docs/configuration.md, and check_conf.c compares them.
 * Defaults are written as they would be in the file; min and max are in
 * base units (bytes, seconds) and unused (0) for strings and paths.
 */
#include <stddef.h>

#include "common/conf.h"
#include "common/conf_table.h"

#define CONF_OFF(f)	offsetof(struct conf, f)

#define CONF_KB		1024LL
#define CONF_MB		(1024LL * CONF_KB)
#define CONF_GB		(1024LL * CONF_MB)
#define CONF_MINUTE	60LL
#define CONF_HOUR	(60LL * CONF_MINUTE)
#define CONF_DAY	(24LL * CONF_HOUR)

const struct conf_row conf_table[] = {
	{ NULL, "hostname", CONF_STRING, CONF_OFF(hostname), "localhost",
	    0, 0,
	    "Name this host gives in its greeting, EHLO and Received "
	    "headers." },
	{ NULL, "spool", CONF_PATH, CONF_OFF(spool), "/var/spool/aval",
	    0, 0,
	    "Queue directory: the Berkeley DB environment lives here." },
	{ NULL, "runtime-dir", CONF_PATH, CONF_OFF(runtime_dir), "/run/aval",
	    0, 0,
	    "Control socket, pid file and the empty chroot directory." },
	{ NULL, "maildir", CONF_PATH, CONF_OFF(maildir), "/var/mail/aval",
	    0, 0,
	    "Root of local delivery: one Maildir per user, as DOMAIN/USER/." },
	{ NULL, "user", CONF_STRING, CONF_OFF(user), "aval",
	    0, 0,
	    "Unprivileged user the workers run as when avald starts as root." },
	{ NULL, "local-user", CONF_STRING, CONF_OFF(local_user), "aval-local",
	    0, 0,
	    "Unprivileged user of aval-local, the only one that owns the "
	    "mailboxes." },
	{ NULL, "postmaster", CONF_STRING, CONF_OFF(postmaster), "postmaster",
	    0, 0,
	    "Where postmaster mail goes; a bare local part is in the first "
	    "local domain." },
	{ NULL, "aliases", CONF_PATH, CONF_OFF(aliases_file), "",
	    0, 0,
	    "Alias file (name: address, ...), expanded once at load; \"\": "
	    "none." },
	{ NULL, "mailbox-map", CONF_PATH, CONF_OFF(mailbox_map), "",
	    0, 0,
	    "Mailbox map (address path lines) that lists the users of its "
	    "domains." },
	{ NULL, "catch-all", CONF_BOOL, CONF_OFF(catch_all), "no",
	    0, 1,
	    "Local domains without map or aliases take every local part as "
	    "a Maildir." },

	{ "tls", "client-ca", CONF_PATH, CONF_OFF(tls_client_ca), "",
	    0, 0,
	    "CA certificates (PEM) that client certificates are verified "
	    "against." },
	{ "tls", "session-tickets", CONF_BOOL, CONF_OFF(tls_session_tickets),
	    "yes", 0, 1,
	    "Send TLS session tickets so clients resume on any smtpd process." },
	{ "tls", "ticket-rotation", CONF_DURATION,
	    CONF_OFF(tls_ticket_rotation), "12h", CONF_MINUTE, 7 * CONF_DAY,
	    "Age at which the ticket key is replaced; the old one still "
	    "decrypts." },

	{ "smtpd", "password-file", CONF_PATH, CONF_OFF(smtpd_password_file),
	    "", 0, 0,
	    "user:hash[:addresses] lines for AUTH on submission listeners." },
	{ "smtpd", "max-hops", CONF_COUNT, CONF_OFF(smtpd_max_hops), "50",
	    1, 1000,
	    "Received headers a message may carry before it is refused as a "
	    "loop." },
	{ "smtpd", "max-client-sessions", CONF_COUNT,
	    CONF_OFF(smtpd_max_client_sessions), "20", 1, 100000,
	    "Concurrent sessions from one client address (relay-networks "
	    "exempt)." },
	{ "smtpd", "client-connection-rate", CONF_COUNT,
	    CONF_OFF(smtpd_client_connection_rate), "60", 0, 1000000,
	    "New sessions per minute from one client address; 0 for no "
	    "limit." },
	{ "smtpd", "session-timeout", CONF_DURATION,
	    CONF_OFF(smtpd_session_timeout), "1h", 10, CONF_DAY,
	    "Longest a whole session may last, however busy it is." },
	{ "smtpd", "min-data-rate", CONF_COUNT, CONF_OFF(smtpd_min_data_rate),
	    "256", 0, 1000000000,
	    "Bytes per second a client must keep up while sending a message; "
	    "0 off." },
	{ "smtpd", "processes", CONF_COUNT, CONF_OFF(smtpd_processes), "2",
	    1, 64,
	    "smtpd worker processes sharing the listening sockets." },
	{ "smtpd", "max-sessions", CONF_COUNT, CONF_OFF(smtpd_max_sessions),
	    "1000", 1, 100000,
	    "Concurrent SMTP sessions in all, across smtpd processes." },
	{ "smtpd", "max-local-sessions", CONF_COUNT,
	    CONF_OFF(smtpd_max_local_sessions), "50", 1, 100000,
	    "Of those, sessions on local sockets, so local users cannot take "
	    "them all." },
	{ "smtpd", "max-recipients", CONF_COUNT,
	    CONF_OFF(smtpd_max_recipients), "100", 1, 10000,
	    "RCPT TO commands accepted per message (RFC 5321 asks for 100)." },
	{ "smtpd", "max-errors", CONF_COUNT, CONF_OFF(smtpd_max_errors), "10",
	    1, 1000,
	    "Failed commands in one session before it is disconnected." },
	{ "smtpd", "command-timeout", CONF_DURATION,
	    CONF_OFF(smtpd_command_timeout), "5m", 1, CONF_HOUR,
	    "Idle time allowed while waiting for the next SMTP command." },
	{ "smtpd", "data-timeout", CONF_DURATION, CONF_OFF(smtpd_data_timeout),
	    "10m", 1, CONF_HOUR,
	    "Idle time allowed between chunks of message data." },

	{ "queue", "max-message-size", CONF_SIZE,
	    CONF_OFF(queue_max_message_size), "35M", CONF_KB, CONF_GB,
	    "Largest message accepted, announced with the SIZE extension." },
	{ "queue", "retry-min", CONF_DURATION, CONF_OFF(queue_retry_min), "5m",
	    1, CONF_DAY,
	    "First retry delay after a temporary failure; later ones grow." },
	{ "queue", "retry-max", CONF_DURATION, CONF_OFF(queue_retry_max), "4h",
	    1, 7 * CONF_DAY,
	    "Longest delay between retries; must not be below retry-min." },

	{ "queue", "min-free-space", CONF_SIZE,
	    CONF_OFF(queue_min_free_space), "100M", 0, 1024 * CONF_GB,
	    "Free space the spool must keep; below it MAIL gets 452 4.3.1." },
	{ "queue", "max-lifetime", CONF_DURATION, CONF_OFF(queue_max_lifetime),
	    "5d", 1, 100 * CONF_DAY,
	    "How long a message is retried before it bounces as expired." },
	{ "queue", "delay-notice", CONF_DURATION, CONF_OFF(queue_delay_notice),
	    "4h", 0, 100 * CONF_DAY,
	    "Still undelivered after this long: tell the sender once; 0: never." },
	{ "queue", "destination-concurrency", CONF_COUNT,
	    CONF_OFF(queue_dest_concurrency), "20", 1, 1000,
	    "Most deliveries in flight to one destination at once." },
	{ "queue", "initial-concurrency", CONF_COUNT,
	    CONF_OFF(queue_initial_concurrency), "5", 1, 1000,
	    "Deliveries a destination starts at; each success allows one more." },
	{ "queue", "active-limit", CONF_COUNT, CONF_OFF(queue_active_limit),
	    "20000", 100, 1000000,
	    "Messages the queue keeps in memory; the rest wait in the spool." },
	{ "queue", "cache-size", CONF_SIZE, CONF_OFF(queue_cache_size), "32M",
	    CONF_MB, 4 * CONF_GB - CONF_MB,
	    "Berkeley DB cache of the spool; read at the queue's start." },
	{ "queue", "log-buffer-size", CONF_SIZE, CONF_OFF(queue_log_buffer),
	    "4M", 256 * CONF_KB, CONF_GB,
	    "Log held in memory before a write; bounds one unflushed batch." },

	{ "deliver", "processes", CONF_COUNT, CONF_OFF(deliver_processes), "2",
	    1, 64,
	    "deliver worker processes making outbound deliveries." },
	{ "deliver", "max-jobs", CONF_COUNT, CONF_OFF(deliver_max_jobs), "100",
	    1, 10000,
	    "Concurrent deliveries per deliver process." },
	{ "deliver", "connect-timeout", CONF_DURATION,
	    CONF_OFF(deliver_connect_timeout), "30s", 1, 10 * CONF_MINUTE,
	    "Time allowed to open a connection to the next hop." },
	{ "deliver", "command-timeout", CONF_DURATION,
	    CONF_OFF(deliver_command_timeout), "5m", 1, CONF_HOUR,
	    "Time allowed for each reply from the next hop." },
	{ "deliver", "resolver", CONF_STRING, CONF_OFF(deliver_resolver), "",
	    0, 0,
	    "DNS resolver, ADDR or ADDR@PORT; \"\": /etc/resolv.conf's." },
	{ "deliver", "trust-anchor", CONF_PATH, CONF_OFF(deliver_trust_anchor),
	    "", 0, 0,
	    "DNSSEC trust anchors (DS or DNSKEY lines); \"\": DANE is off." },
	{ "deliver", "dns-timeout", CONF_DURATION,
	    CONF_OFF(deliver_dns_timeout), "10s", 1, CONF_MINUTE,
	    "Time allowed for each DNS lookup." },

	{ "deliver", "connection-reuse", CONF_BOOL,
	    CONF_OFF(deliver_connection_reuse), "yes", 0, 1,
	    "Keep a connection open after a delivery for the next one to the "
	    "same place." },

	{ "federation", "ca", CONF_PATH, CONF_OFF(fed_ca), "", 0, 0,
	    "The federation CA certificate (PEM): the only anchor for members; "
	    "\"\": off." },
	{ "federation", "bundle-file", CONF_PATH, CONF_OFF(fed_bundle_file),
	    "", 0, 0,
	    "The signed federation bundle as a file (aval-ca publish's "
	    "bundle.cms)." },
	{ "federation", "bundle-url", CONF_STRING, CONF_OFF(fed_bundle_url),
	    "", 0, 0,
	    "Or an https:// URL to fetch it from, the federation CA the only "
	    "anchor." },
	{ "federation", "refresh", CONF_DURATION, CONF_OFF(fed_refresh), "5m",
	    10, CONF_DAY,
	    "How often the bundle file is checked, or the URL fetched, for a "
	    "new bundle." },
	{ "federation", "expiry-warning", CONF_DURATION,
	    CONF_OFF(fed_expiry_warning), "3d", CONF_HOUR, 90 * CONF_DAY,
	    "Warn this long before the bundle or CRL expires (our certificate: "
	    "30d or more)." },
	{ "federation", "whitelist-zone", CONF_STRING,
	    CONF_OFF(fed_whitelist_zone), "", 0, 0,
	    "The federation's DNS whitelist zone, looked up per client; \"\": "
	    "none." },
	{ "federation", "defer-downgrade", CONF_BOOL,
	    CONF_OFF(fed_defer_downgrade), "no", 0, 1,
	    "A member's address without its verified certificate gets 451 at "
	    "MAIL." },
	{ "federation", "members-may-relay", CONF_BOOL,
	    CONF_OFF(fed_members_may_relay), "no", 0, 1,
	    "Verified federation peers may relay to any domain, as "
	    "relay-networks." },

	{ "local", "processes", CONF_COUNT, CONF_OFF(local_processes), "1",
	    1, 64,
	    "aval-local processes writing mail into the mailboxes." },
	{ "local", "max-jobs", CONF_COUNT, CONF_OFF(local_max_jobs), "20",
	    1, 10000,
	    "Concurrent deliveries per aval-local process." },
};

const size_t conf_table_len = sizeof(conf_table) / sizeof(conf_table[0]);
