/*
 * smtpd_auth - SMTP AUTH (RFC 4954): the SASL exchange and the failure slow-down
 *
 * Two pure parts the session drives; neither does I/O, reads a clock or
 * keeps a global.
 *
 * 1. struct smtpd_auth: one per session, the exchange as a state machine.
 *    Mechanisms PLAIN (RFC 4616) and LOGIN (the de-facto one: prompts
 *    "Username:" and "Password:"), both plaintext, so both only over TLS.
 *    The session hands it the AUTH arguments and then each response line;
 *    it answers with a status and the reply line to send (no CRLF, a
 *    static string that stays valid for the life of the process):
 *
 *	st = smtpd_auth_start(a, args, ctx, &reply)
 *	while st == SMTPD_AUTH_S_MORE:		send reply (334 ...), read a line
 *		st = smtpd_auth_step(a, line, &reply)
 *	if st == SMTPD_AUTH_S_CHECK:		verify, e.g. with passwd_verify()
 *		st = smtpd_auth_finish(a, verdict, &reply)
 *	OK: send reply (235); DENY: smtpd_auth_throttle_fail(), wait, send;
 *	FAIL: send reply
 *
 *    Responses are strict base64 (RFC 4648 section 4: the alphabet only,
 *    length a multiple of 4, '=' only as final padding, padding bits zero;
 *    an empty line is an empty response). An initial response of "=" is
 *    the empty one (RFC 4954 section 4); a line "*" cancels. The password
 *    lives only inside struct smtpd_auth, from the response that brings it
 *    to smtpd_auth_finish() (or cancel, reset, free), and is wiped with
 *    OPENSSL_cleanse. The user name is NUL-free but may hold any other
 *    octet: quote it before logging it; never log the password or the
 *    base64 lines.
 *
 * 2. struct smtpd_auth_throttle: one per process, the failure slow-down.
 *    It counts credential failures (DENY) per client network (IPv4 /32,
 *    IPv6 /64; an IPv4-mapped IPv6 address counts as its IPv4 address).
 *    Counts decay: one failure is forgotten every limits.forgive seconds.
 *    After the n-th counted failure the 535 waits 0 s (n = 1), then 1, 2,
 *    4 ... s up to limits.delay_max; once a network reaches
 *    limits.block_after its AUTH commands get 454 4.7.0 for
 *    limits.block_time seconds; a session with limits.session_max
 *    failures ends with 421 4.7.0. A success does not clear the count:
 *    a client holding one account could otherwise clear it between
 *    guesses at others. The table is fixed at new() (limits.slots
 *    networks, 8-way set-associative under a random key), so an attacker
 *    cycling addresses evicts entries, never grows memory; the entry
 *    evicted is the least counted (a blocked one last), so flooding the
 *    table with fresh addresses does not free a blocked one. smtpd keeps
 *    the table inside the limits table every smtpd process shares
 *    (smtpd_auth_throttle_on), so a client spread over several processes
 *    has one budget. now is any clock in seconds that does not jump
 *    (CLOCK_MONOTONIC); going backwards counts as no time.
 *
 * The replies (the session sends those it makes itself, marked *):
 *
 *	334 <base64 challenge>	more: "334 " (PLAIN), VXNlcm5hbWU6, UGFzc3dvcmQ6
 *	235 2.7.0		authenticated
 *	535 5.7.8		credentials invalid (wrong password, unknown
 *				user, PLAIN authzid not the authcid)
 *	501 5.5.2		a response is not strict base64, or decodes to
 *				something malformed (PLAIN without its two NULs,
 *				empty authcid or password; NUL in a LOGIN field)
 *	501 5.7.0		the client cancelled with "*"
 *	501 5.5.4		AUTH without a mechanism, or with more than one argument
 *	504 5.5.4		mechanism not supported
 *	538 5.7.11		AUTH before TLS (every mechanism here is plaintext)
 *	503 5.5.1		AUTH not offered here, before EHLO, during a mail
 *				transaction, or after a successful AUTH (RFC 4954
 *				section 4)
 *	454 4.7.0		libcrypt failed (passwd_verify() -1), or the
 *				client's network is blocked (SMTPD_AUTH_C_BLOCKED)
 *	500 5.5.6		a response line over SMTPD_AUTH_LINE_MAX (also *
 *				when the session drops an overlong line itself:
 *				then it calls smtpd_auth_cancel())
 *	421 4.7.0 *		after a DENY whose penalty says close:
 *				SMTPD_AUTH_421_FMT with the hostname, then close
 *	530 5.7.0 *		"Authentication required": MAIL (and anything
 *				but EHLO HELO NOOP RSET QUIT AUTH STARTTLS) on a
 *				listener that requires AUTH, before AUTH
 *	530 5.7.0 *		"Must issue a STARTTLS command first" (RFC 3207):
 *				commands other than EHLO NOOP QUIT STARTTLS on a
 *				listener that requires TLS, before TLS
 */
#ifndef AVAL_SMTPD_SMTPD_AUTH_H
#define AVAL_SMTPD_SMTPD_AUTH_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <time.h>

/* A response line, CRLF excluded: the session's command line limit. */
#define SMTPD_AUTH_LINE_MAX	510
#define SMTPD_AUTH_DECODED_MAX	(SMTPD_AUTH_LINE_MAX / 4 * 3)

/* What the session tells smtpd_auth_start() about itself. */
#define SMTPD_AUTH_C_OFFER	0x01	/* the listener offers AUTH (submission, password-file set) */
#define SMTPD_AUTH_C_EHLO	0x02	/* EHLO was given (not HELO) */
#define SMTPD_AUTH_C_TLS	0x04	/* the connection is encrypted */
#define SMTPD_AUTH_C_MAIL	0x08	/* a mail transaction is open (MAIL given) */
#define SMTPD_AUTH_C_BLOCKED	0x10	/* smtpd_auth_throttle_check() said 0 */

#define SMTPD_AUTH_421_FMT \
	"421 4.7.0 %s Error: too many authentication failures"

enum smtpd_auth_status {
	SMTPD_AUTH_S_MORE = 0,	/* send reply (334); the next line goes to step */
	SMTPD_AUTH_S_CHECK,	/* verify smtpd_auth_user/pass, then finish; reply NULL */
	SMTPD_AUTH_S_OK,	/* send reply (235); authenticated as smtpd_auth_login() */
	SMTPD_AUTH_S_DENY,	/* credentials invalid: throttle, then send reply (535) */
	SMTPD_AUTH_S_FAIL,	/* any other refusal: send reply; not counted */
};

struct smtpd_auth;

struct smtpd_auth *smtpd_auth_new(void);
void		 smtpd_auth_free(struct smtpd_auth *);	/* wipes; NULL is fine */

/*
 * args is what follows "AUTH " on the command line: "MECHANISM" or
 * "MECHANISM initial-response", the mechanism in any case. ctx is
 * SMTPD_AUTH_C_* bits. A call while an exchange is under way (after MORE
 * or CHECK) is a bug (fatalx): the session sends those lines to step or
 * calls finish.
 */
enum smtpd_auth_status smtpd_auth_start(struct smtpd_auth *, const char *args,
		    int ctx, const char **reply);
/* line is one client line without CRLF; only after MORE. */
enum smtpd_auth_status smtpd_auth_step(struct smtpd_auth *, const char *line,
		    const char **reply);
/*
 * verdict is passwd_verify()'s: 1 OK (235), 0 DENY (535), -1 FAIL (454).
 * Only after CHECK. Wipes the password whatever the verdict.
 */
enum smtpd_auth_status smtpd_auth_finish(struct smtpd_auth *, int verdict,
		    const char **reply);
/* End an exchange the session gave up on (timeout, overlong line, close). */
void		 smtpd_auth_cancel(struct smtpd_auth *);
/* Forget the authentication too (after STARTTLS); the failure count stays. */
void		 smtpd_auth_reset(struct smtpd_auth *);

/*
 * Borrowed, valid until the next start, cancel, reset or free.
 * smtpd_auth_user: the authcid of the last exchange that got that far
 * (for CHECK and for the log line of a DENY), "" if none.
 * smtpd_auth_pass: the password, *len octets (no NUL in them; a NUL
 * follows), only while CHECK: NULL at any other time.
 * smtpd_auth_login: the authenticated user, NULL until OK.
 */
const char	*smtpd_auth_user(const struct smtpd_auth *);
const char	*smtpd_auth_pass(const struct smtpd_auth *, size_t *len);
const char	*smtpd_auth_login(const struct smtpd_auth *);
const char	*smtpd_auth_mech(const struct smtpd_auth *);	/* "PLAIN", "LOGIN"; "" */
unsigned	 smtpd_auth_failures(const struct smtpd_auth *);	/* DENYs in this session */

/* The EHLO keyword line for ctx, or NULL: AUTH is offered only over TLS. */
const char	*smtpd_auth_ehlo(int ctx);

/*
 * smtpd_auth_b64_decode: strict base64 (see above) of inlen octets to
 * out, which holds outsize; 0 with *outlen set, or -1. Decodes with
 * OpenSSL's EVP_DecodeBlock after checking what it does not.
 */
int		 smtpd_auth_b64_decode(const char *in, size_t inlen,
		    unsigned char *out, size_t outsize, size_t *outlen);

/* --- failure slow-down ------------------------------------------------- */

struct smtpd_auth_limits {
	unsigned	 session_max;	/* DENYs in one session, then 421; 0: no limit */
	unsigned	 block_after;	/* counted DENYs of a network, then 454; 0: never */
	unsigned	 block_time;	/* seconds a network gets 454 */
	unsigned	 delay_max;	/* seconds, cap of the wait before a 535 */
	unsigned	 forgive;	/* seconds to forget one counted DENY; 0: never */
	unsigned	 slots;		/* networks remembered (rounded up to 8) */
};

#define SMTPD_AUTH_LIMITS_DEFAULT	{ 3, 10, 900, 5, 300, 4096 }
#define SMTPD_AUTH_SLOTS_MAX		(1U << 20)

struct smtpd_auth_penalty {
	unsigned	 delay;		/* seconds to wait, reading nothing, before replying */
	int		 close;		/* 1: reply SMTPD_AUTH_421_FMT and close, not reply */
	const char	*reply;		/* the 535 line */
};

struct smtpd_auth_throttle;

/* NULL limits: the defaults. Slots beyond SMTPD_AUTH_SLOTS_MAX are a bug. */
struct smtpd_auth_throttle *smtpd_auth_throttle_new(const struct smtpd_auth_limits *);
/*
 * The same over storage shared between processes (smtpd's limits table):
 * every sharer passes the same key; calls must be serialised by the
 * caller. smtpd_auth_throttle_size() says how many bytes slots need.
 */
size_t	 smtpd_auth_throttle_size(unsigned slots);
struct smtpd_auth_throttle *smtpd_auth_throttle_on(void *mem, size_t len,
	    const struct smtpd_auth_limits *, const uint64_t key[2]);
void		 smtpd_auth_throttle_free(struct smtpd_auth_throttle *);	/* NULL is fine */

/* 1: client may start AUTH; 0: blocked, pass SMTPD_AUTH_C_BLOCKED (454). */
int		 smtpd_auth_throttle_check(struct smtpd_auth_throttle *,
		    const struct sockaddr *client, time_t now);
/*
 * After a DENY: count it against client's network and say how to answer.
 * session_failures is smtpd_auth_failures() of the session (this DENY
 * included).
 */
void		 smtpd_auth_throttle_fail(struct smtpd_auth_throttle *,
		    const struct sockaddr *client, time_t now,
		    unsigned session_failures, struct smtpd_auth_penalty *);
/* The network's count as of now (decayed), 0 if not in the table. */
unsigned	 smtpd_auth_throttle_count(const struct smtpd_auth_throttle *,
		    const struct sockaddr *client, time_t now);

#endif
