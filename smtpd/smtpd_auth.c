/*
 * smtpd_auth - SMTP AUTH (RFC 4954, 4616): the SASL exchange and the
 * failure slow-down
 *
 * The exchange trusts nothing in a response line: it is bounded to
 * SMTPD_AUTH_LINE_MAX before it is decoded, decoded strictly into a fixed
 * buffer on the stack, and that buffer is wiped before return whatever
 * happened. The user and password are copied into the struct only once
 * they have passed every check.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "smtpd/smtpd_auth.h"

#define SMTPD_AUTH_MECH_MAX	20	/* RFC 4422 section 3.1 */
#define SMTPD_AUTH_WAYS		8	/* throttle entries per set */

#define R_MORE_PLAIN	"334 "
#define R_MORE_USER	"334 VXNlcm5hbWU6"	/* "Username:" */
#define R_MORE_PASS	"334 UGFzc3dvcmQ6"	/* "Password:" */
#define R_OK		"235 2.7.0 Authentication successful"
#define R_DENY		"535 5.7.8 Authentication credentials invalid"
#define R_BADB64	"501 5.5.2 Error: response is not valid base64"
#define R_BADMSG	"501 5.5.2 Error: malformed authentication response"
#define R_CANCEL	"501 5.7.0 Authentication cancelled"
#define R_SYNTAX	"501 5.5.4 Syntax: AUTH mechanism [initial-response]"
#define R_MECH		"504 5.5.4 Unrecognized authentication type"
#define R_NOTLS		"538 5.7.11 Encryption required for requested " \
			    "authentication mechanism"
#define R_NOAUTH	"503 5.5.1 Error: authentication not enabled"
#define R_NOEHLO	"503 5.5.1 Error: send EHLO first"
#define R_INMAIL	"503 5.5.1 Error: AUTH not permitted during a mail " \
			    "transaction"
#define R_AGAIN		"503 5.5.1 Error: already authenticated"
#define R_TEMP		"454 4.7.0 Temporary authentication failure"
#define R_BLOCKED	"454 4.7.0 Too many authentication failures; try " \
			    "again later"
#define R_LONG		"500 5.5.6 Authentication Exchange line is too long"

enum smtpd_auth_state {
	SMTPD_AUTH_IDLE = 0,		/* no exchange; maybe authenticated */
	SMTPD_AUTH_PLAIN,		/* 334 sent, waiting for the PLAIN message */
	SMTPD_AUTH_LOGIN_USER,		/* 334 Username: sent */
	SMTPD_AUTH_LOGIN_PASS,		/* 334 Password: sent */
	SMTPD_AUTH_CHECKING,		/* credentials with the caller */
};

enum smtpd_auth_mechanism {
	SMTPD_AUTH_M_NONE = 0,
	SMTPD_AUTH_M_PLAIN,
	SMTPD_AUTH_M_LOGIN,
};

struct smtpd_auth {
	enum smtpd_auth_state	 state;
	enum smtpd_auth_mechanism mech;
	int			 authed;		/* user is the login */
	unsigned		 failures;
	size_t			 passlen;
	char			 user[SMTPD_AUTH_DECODED_MAX + 1];
	char			 pass[SMTPD_AUTH_DECODED_MAX + 1];
};

struct smtpd_auth_net {
	int		 used;
	int		 family;		/* AF_INET, AF_INET6, 0 other */
	uint8_t		 addr[8];		/* IPv4 in the first 4; IPv6 /64 */
	unsigned	 count;
	time_t		 last;			/* the decay clock */
	time_t		 until;			/* blocked before this; 0 never */
};

struct smtpd_auth_throttle {
	struct smtpd_auth_limits lim;
	uint64_t		 key[2];
	size_t			 nsets;
	struct smtpd_auth_net	*net;		/* nsets * SMTPD_AUTH_WAYS */
	int			 shared;	/* net is the caller's memory */
};

static int	 smtpd_auth_b64_value(int);
static void	 smtpd_auth_wipe(struct smtpd_auth *);
static enum smtpd_auth_status smtpd_auth_fail(struct smtpd_auth *,
		    const char *, const char **);
static enum smtpd_auth_status smtpd_auth_plain(struct smtpd_auth *,
		    const unsigned char *, size_t, const char **);
static enum smtpd_auth_status smtpd_auth_response(struct smtpd_auth *,
		    const char *, size_t, const char **);
static void	 smtpd_auth_net_key(const struct sockaddr *,
		    struct smtpd_auth_net *);
static uint64_t	 smtpd_auth_mix(uint64_t);
static struct smtpd_auth_net *smtpd_auth_net_find(
		    const struct smtpd_auth_throttle *,
		    const struct smtpd_auth_net *, size_t *);
static unsigned	 smtpd_auth_net_decayed(const struct smtpd_auth_throttle *,
		    const struct smtpd_auth_net *, time_t, time_t *);

/* --- the exchange ---------------------------------------------------------- */

/* smtpd_auth_new - per-session state, no exchange, not authenticated */
struct smtpd_auth *
smtpd_auth_new(void)
{
	return xcalloc(1, sizeof(struct smtpd_auth));
}

/* smtpd_auth_free - wipe and free */
void
smtpd_auth_free(struct smtpd_auth *a)
{
	if (a == NULL)
		return;
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

/* smtpd_auth_wipe - end the exchange; the password goes, the user too */
static void
smtpd_auth_wipe(struct smtpd_auth *a)
{
	OPENSSL_cleanse(a->pass, sizeof(a->pass));
	a->passlen = 0;
	if (!a->authed) {
		OPENSSL_cleanse(a->user, sizeof(a->user));
		a->mech = SMTPD_AUTH_M_NONE;
	}
	a->state = SMTPD_AUTH_IDLE;
}

/* smtpd_auth_cancel - drop the exchange under way, if any */
void
smtpd_auth_cancel(struct smtpd_auth *a)
{
	smtpd_auth_wipe(a);
}

/* smtpd_auth_reset - drop the exchange and the authentication */
void
smtpd_auth_reset(struct smtpd_auth *a)
{
	a->authed = 0;
	smtpd_auth_wipe(a);
}

static enum smtpd_auth_status
smtpd_auth_fail(struct smtpd_auth *a, const char *why, const char **reply)
{
	smtpd_auth_wipe(a);
	*reply = why;
	return SMTPD_AUTH_S_FAIL;
}

/* The value of a base64 digit (RFC 4648 table 1), -1 for anything else. */
static int
smtpd_auth_b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * smtpd_auth_b64_decode - strict base64 to octets.
 *
 * EVP_DecodeBlock alone would accept too much: it skips leading and
 * trailing blanks, takes '=' anywhere, and ignores padding bits. So every
 * octet is checked here first, and EVP_DecodeBlock only does the
 * arithmetic; its output counts the padding as zero octets, taken off.
 * Non-zero padding bits are refused (RFC 4648 section 3.5 allows it), so
 * each octet string has exactly one accepted encoding.
 */
int
smtpd_auth_b64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outsize, size_t *outlen)
{
	size_t	 i, pad = 0;
	int	 v;

	*outlen = 0;
	if (inlen == 0)
		return 0;
	if (inlen % 4 != 0 || inlen > INT_MAX || inlen / 4 * 3 > outsize)
		return -1;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	for (i = 0; i < inlen - pad; i++)
		if (smtpd_auth_b64_value((unsigned char)in[i]) == -1)
			return -1;
	/* The last digit before the padding may not carry dropped bits. */
	if (pad > 0) {
		v = smtpd_auth_b64_value((unsigned char)in[inlen - pad - 1]);
		if ((pad == 2 && (v & 0x0f) != 0) ||
		    (pad == 1 && (v & 0x03) != 0))
			return -1;
	}
	if (EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen) !=
	    (int)(inlen / 4 * 3))
		return -1;
	*outlen = inlen / 4 * 3 - pad;
	return 0;
}

/*
 * smtpd_auth_plain - RFC 4616: [authzid] NUL authcid NUL passwd, each part
 * free of NUL, authcid and passwd not empty. An authzid is allowed only as
 * the authcid itself: nobody here may act for another user.
 */
static enum smtpd_auth_status
smtpd_auth_plain(struct smtpd_auth *a, const unsigned char *m, size_t n,
    const char **reply)
{
	const unsigned char	*z1, *z2;
	size_t			 zlen, ulen, plen;

	if ((z1 = memchr(m, '\0', n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - m))) == NULL ||
	    memchr(z2 + 1, '\0', n - (size_t)(z2 + 1 - m)) != NULL)
		return smtpd_auth_fail(a, R_BADMSG, reply);
	zlen = (size_t)(z1 - m);
	ulen = (size_t)(z2 - z1 - 1);
	plen = n - (size_t)(z2 + 1 - m);
	if (ulen == 0 || plen == 0)
		return smtpd_auth_fail(a, R_BADMSG, reply);
	memcpy(a->user, z1 + 1, ulen);
	a->user[ulen] = '\0';
	if (zlen != 0 && (zlen != ulen || memcmp(m, z1 + 1, ulen) != 0)) {
		/* Counted like a wrong password; the user stays for the log. */
		OPENSSL_cleanse(a->pass, sizeof(a->pass));
		a->passlen = 0;
		a->state = SMTPD_AUTH_IDLE;
		a->failures++;
		*reply = R_DENY;
		return SMTPD_AUTH_S_DENY;
	}
	memcpy(a->pass, z2 + 1, plen);
	a->pass[plen] = '\0';
	a->passlen = plen;
	a->state = SMTPD_AUTH_CHECKING;
	*reply = NULL;
	return SMTPD_AUTH_S_CHECK;
}

/* smtpd_auth_response - one base64 response, in the current state */
static enum smtpd_auth_status
smtpd_auth_response(struct smtpd_auth *a, const char *line, size_t len,
    const char **reply)
{
	unsigned char		 dec[SMTPD_AUTH_DECODED_MAX + 1];
	size_t			 n;
	enum smtpd_auth_status	 st;

	if (len > SMTPD_AUTH_LINE_MAX)
		return smtpd_auth_fail(a, R_LONG, reply);
	if (len == 1 && line[0] == '*')
		return smtpd_auth_fail(a, R_CANCEL, reply);
	if (smtpd_auth_b64_decode(line, len, dec, sizeof(dec), &n) == -1) {
		OPENSSL_cleanse(dec, sizeof(dec));
		return smtpd_auth_fail(a, R_BADB64, reply);
	}
	switch (a->state) {
	case SMTPD_AUTH_PLAIN:
		st = smtpd_auth_plain(a, dec, n, reply);
		break;
	case SMTPD_AUTH_LOGIN_USER:
		if (memchr(dec, '\0', n) != NULL) {
			st = smtpd_auth_fail(a, R_BADMSG, reply);
			break;
		}
		memcpy(a->user, dec, n);
		a->user[n] = '\0';
		a->state = SMTPD_AUTH_LOGIN_PASS;
		*reply = R_MORE_PASS;
		st = SMTPD_AUTH_S_MORE;
		break;
	case SMTPD_AUTH_LOGIN_PASS:
		if (memchr(dec, '\0', n) != NULL) {
			st = smtpd_auth_fail(a, R_BADMSG, reply);
			break;
		}
		memcpy(a->pass, dec, n);
		a->pass[n] = '\0';
		a->passlen = n;
		a->state = SMTPD_AUTH_CHECKING;
		*reply = NULL;
		st = SMTPD_AUTH_S_CHECK;
		break;
	default:
		fatalx("%s: response in state %d", __func__, a->state);
	}
	OPENSSL_cleanse(dec, sizeof(dec));
	return st;
}

/* smtpd_auth_start - the AUTH command; see the header for the order of refusals */
enum smtpd_auth_status
smtpd_auth_start(struct smtpd_auth *a, const char *args, int ctx,
    const char **reply)
{
	const char	*p, *ir, *end;
	size_t		 mlen, irlen;

	if (a->state != SMTPD_AUTH_IDLE)
		fatalx("%s: exchange under way (state %d)", __func__,
		    a->state);
	if (a->authed) {
		*reply = R_AGAIN;
		return SMTPD_AUTH_S_FAIL;
	}
	smtpd_auth_wipe(a);
	if (!(ctx & SMTPD_AUTH_C_OFFER))
		return smtpd_auth_fail(a, R_NOAUTH, reply);
	if (!(ctx & SMTPD_AUTH_C_EHLO))
		return smtpd_auth_fail(a, R_NOEHLO, reply);
	if (ctx & SMTPD_AUTH_C_MAIL)
		return smtpd_auth_fail(a, R_INMAIL, reply);

	/*
	 * mechanism [SP initial-response] (RFC 4954 section 4); blanks
	 * between and after are forgiven, a third word is not.
	 */
	for (end = args + strlen(args); end > args && end[-1] == ' '; end--)
		;
	for (p = args; p < end && *p != ' '; p++)
		;
	mlen = (size_t)(p - args);
	while (p < end && *p == ' ')
		p++;
	ir = p;
	irlen = (size_t)(end - p);
	if (mlen == 0 || memchr(ir, ' ', irlen) != NULL)
		return smtpd_auth_fail(a, R_SYNTAX, reply);
	if (mlen == 5 && strncasecmp(args, "PLAIN", 5) == 0)
		a->mech = SMTPD_AUTH_M_PLAIN;
	else if (mlen == 5 && strncasecmp(args, "LOGIN", 5) == 0)
		a->mech = SMTPD_AUTH_M_LOGIN;
	else
		return smtpd_auth_fail(a, R_MECH, reply);
	if (!(ctx & SMTPD_AUTH_C_TLS))
		return smtpd_auth_fail(a, R_NOTLS, reply);
	if (ctx & SMTPD_AUTH_C_BLOCKED)
		return smtpd_auth_fail(a, R_BLOCKED, reply);

	a->state = a->mech == SMTPD_AUTH_M_PLAIN ? SMTPD_AUTH_PLAIN :
	    SMTPD_AUTH_LOGIN_USER;
	if (irlen == 0) {
		*reply = a->mech == SMTPD_AUTH_M_PLAIN ? R_MORE_PLAIN :
		    R_MORE_USER;
		return SMTPD_AUTH_S_MORE;
	}
	/* "=" is the empty initial response; elsewhere it is bad base64. */
	if (irlen == 1 && ir[0] == '=')
		return smtpd_auth_response(a, "", 0, reply);
	return smtpd_auth_response(a, ir, irlen, reply);
}

/* smtpd_auth_step - one response line after a 334 */
enum smtpd_auth_status
smtpd_auth_step(struct smtpd_auth *a, const char *line, const char **reply)
{
	if (a->state != SMTPD_AUTH_PLAIN && a->state != SMTPD_AUTH_LOGIN_USER &&
	    a->state != SMTPD_AUTH_LOGIN_PASS)
		fatalx("%s: no exchange under way (state %d)", __func__,
		    a->state);
	return smtpd_auth_response(a, line, strnlen(line,
	    SMTPD_AUTH_LINE_MAX + 1), reply);
}

/* smtpd_auth_finish - the caller's verdict on the credentials */
enum smtpd_auth_status
smtpd_auth_finish(struct smtpd_auth *a, int verdict, const char **reply)
{
	if (a->state != SMTPD_AUTH_CHECKING)
		fatalx("%s: nothing to check (state %d)", __func__, a->state);
	OPENSSL_cleanse(a->pass, sizeof(a->pass));
	a->passlen = 0;
	a->state = SMTPD_AUTH_IDLE;
	if (verdict == 1) {
		a->authed = 1;
		*reply = R_OK;
		return SMTPD_AUTH_S_OK;
	}
	if (verdict == 0) {
		a->failures++;
		*reply = R_DENY;
		return SMTPD_AUTH_S_DENY;
	}
	return smtpd_auth_fail(a, R_TEMP, reply);
}

/* smtpd_auth_user - the authcid of the last exchange, "" if none */
const char *
smtpd_auth_user(const struct smtpd_auth *a)
{
	return a->user;
}

/* smtpd_auth_pass - the password while CHECK, else NULL */
const char *
smtpd_auth_pass(const struct smtpd_auth *a, size_t *len)
{
	if (a->state != SMTPD_AUTH_CHECKING) {
		*len = 0;
		return NULL;
	}
	*len = a->passlen;
	return a->pass;
}

/* smtpd_auth_login - the authenticated user, or NULL */
const char *
smtpd_auth_login(const struct smtpd_auth *a)
{
	return a->authed ? a->user : NULL;
}

/* smtpd_auth_mech - the mechanism of the last exchange, for the log */
const char *
smtpd_auth_mech(const struct smtpd_auth *a)
{
	switch (a->mech) {
	case SMTPD_AUTH_M_PLAIN:
		return "PLAIN";
	case SMTPD_AUTH_M_LOGIN:
		return "LOGIN";
	default:
		return "";
	}
}

/* smtpd_auth_failures - DENYs in this session */
unsigned
smtpd_auth_failures(const struct smtpd_auth *a)
{
	return a->failures;
}

/* smtpd_auth_ehlo - the EHLO keyword line, offered only over TLS */
const char *
smtpd_auth_ehlo(int ctx)
{
	if ((ctx & (SMTPD_AUTH_C_OFFER | SMTPD_AUTH_C_TLS)) !=
	    (SMTPD_AUTH_C_OFFER | SMTPD_AUTH_C_TLS))
		return NULL;
	return "AUTH PLAIN LOGIN";
}

/* --- failure slow-down ----------------------------------------------------- */

/* smtpd_auth_throttle_new - a fixed table of limits.slots networks */
struct smtpd_auth_throttle *
smtpd_auth_throttle_new(const struct smtpd_auth_limits *lim)
{
	static const struct smtpd_auth_limits	 def =
	    SMTPD_AUTH_LIMITS_DEFAULT;
	struct smtpd_auth_throttle		*t;
	size_t					 slots;

	t = xcalloc(1, sizeof(*t));
	t->lim = lim != NULL ? *lim : def;
	if (t->lim.slots > SMTPD_AUTH_SLOTS_MAX)
		fatalx("%s: %u slots", __func__, t->lim.slots);
	slots = t->lim.slots < SMTPD_AUTH_WAYS ? SMTPD_AUTH_WAYS :
	    t->lim.slots;
	t->nsets = (slots + SMTPD_AUTH_WAYS - 1) / SMTPD_AUTH_WAYS;
	t->lim.slots = (unsigned)(t->nsets * SMTPD_AUTH_WAYS);
	t->net = xcalloc(t->nsets * SMTPD_AUTH_WAYS, sizeof(*t->net));
	/*
	 * The set a network lands in depends on a key nobody outside knows,
	 * so addresses cannot be picked to crowd one set.
	 */
	if (RAND_bytes((unsigned char *)t->key, sizeof(t->key)) != 1)
		fatalx("%s: RAND_bytes failed", __func__);
	return t;
}

/* smtpd_auth_throttle_size - bytes of storage for slots networks */
size_t
smtpd_auth_throttle_size(unsigned slots)
{
	size_t	 nsets = ((slots < SMTPD_AUTH_WAYS ? SMTPD_AUTH_WAYS : slots) +
		    SMTPD_AUTH_WAYS - 1) / SMTPD_AUTH_WAYS;

	return nsets * SMTPD_AUTH_WAYS * sizeof(struct smtpd_auth_net);
}

/*
 * smtpd_auth_throttle_on - a throttle whose table lives in mem (len
 * bytes, zeroed by whoever made it), shared with every process that maps
 * it and uses the same key; NULL if mem is too small. The caller
 * serialises calls across processes (smtpd holds the limits table's lock).
 */
struct smtpd_auth_throttle *
smtpd_auth_throttle_on(void *mem, size_t len,
    const struct smtpd_auth_limits *lim, const uint64_t key[2])
{
	static const struct smtpd_auth_limits	 def =
	    SMTPD_AUTH_LIMITS_DEFAULT;
	struct smtpd_auth_throttle		*t;

	t = xcalloc(1, sizeof(*t));
	t->lim = lim != NULL ? *lim : def;
	if (t->lim.slots < SMTPD_AUTH_WAYS)
		t->lim.slots = SMTPD_AUTH_WAYS;
	t->nsets = (t->lim.slots + SMTPD_AUTH_WAYS - 1) / SMTPD_AUTH_WAYS;
	t->lim.slots = (unsigned)(t->nsets * SMTPD_AUTH_WAYS);
	if (smtpd_auth_throttle_size(t->lim.slots) > len) {
		free(t);
		return NULL;
	}
	t->net = mem;
	t->shared = 1;
	memcpy(t->key, key, sizeof(t->key));
	return t;
}

/* smtpd_auth_throttle_free - free the table (not shared storage) */
void
smtpd_auth_throttle_free(struct smtpd_auth_throttle *t)
{
	if (t == NULL)
		return;
	if (!t->shared)
		free(t->net);
	free(t);
}

/* smtpd_auth_net_key - the network a client address counts against */
static void
smtpd_auth_net_key(const struct sockaddr *sa, struct smtpd_auth_net *k)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(k, 0, sizeof(*k));
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		k->family = AF_INET;
		memcpy(k->addr, &sin->sin_addr, 4);
		break;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			k->family = AF_INET;
			memcpy(k->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->addr, sin6->sin6_addr.s6_addr, 8);
		}
		break;
	default:
		/* Unix sockets and the like: all one "network". */
		break;
	}
}

/* A 64-bit finaliser (MurmurHash3's): every input bit moves every output bit. */
static uint64_t
smtpd_auth_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * smtpd_auth_net_find - the entry of k, or NULL; *set is the first slot of
 * its set either way.
 */
static struct smtpd_auth_net *
smtpd_auth_net_find(const struct smtpd_auth_throttle *t,
    const struct smtpd_auth_net *k, size_t *set)
{
	struct smtpd_auth_net	*e;
	uint64_t		 w, h;
	size_t			 i;

	memcpy(&w, k->addr, sizeof(w));
	h = smtpd_auth_mix(t->key[0] ^ (uint64_t)k->family);
	h = smtpd_auth_mix(h ^ w ^ t->key[1]);
	*set = (size_t)(h % t->nsets) * SMTPD_AUTH_WAYS;
	for (i = 0; i < SMTPD_AUTH_WAYS; i++) {
		e = &t->net[*set + i];
		if (e->used && e->family == k->family &&
		    memcmp(e->addr, k->addr, sizeof(k->addr)) == 0)
			return e;
	}
	return NULL;
}

/*
 * smtpd_auth_net_decayed - e's count as of now: one failure forgotten per
 * forgive seconds since the clock in e->last. *last gets where that clock
 * then stands, so the part of a period already run is not lost.
 */
static unsigned
smtpd_auth_net_decayed(const struct smtpd_auth_throttle *t,
    const struct smtpd_auth_net *e, time_t now, time_t *last)
{
	time_t		 k;

	*last = e->last;
	if (t->lim.forgive == 0 || now <= e->last || e->count == 0)
		return e->count;
	k = (now - e->last) / (time_t)t->lim.forgive;
	if (k >= (time_t)e->count) {
		*last = now;
		return 0;
	}
	*last = e->last + k * (time_t)t->lim.forgive;
	return e->count - (unsigned)k;
}

/* smtpd_auth_throttle_check - 1 may AUTH, 0 blocked (454) */
int
smtpd_auth_throttle_check(struct smtpd_auth_throttle *t,
    const struct sockaddr *client, time_t now)
{
	struct smtpd_auth_net	 k, *e;
	size_t			 set;

	smtpd_auth_net_key(client, &k);
	if ((e = smtpd_auth_net_find(t, &k, &set)) == NULL)
		return 1;
	if (e->until != 0 && now < e->until)
		return 0;
	e->until = 0;
	return 1;
}

/* smtpd_auth_throttle_fail - count a DENY; the delay, and whether to close */
void
smtpd_auth_throttle_fail(struct smtpd_auth_throttle *t,
    const struct sockaddr *client, time_t now, unsigned session_failures,
    struct smtpd_auth_penalty *pen)
{
	struct smtpd_auth_net	 k, *e, *v;
	time_t			 last, vlast;
	size_t			 set, i;
	unsigned		 c, vc, ec;
	int			 vb, eb;

	smtpd_auth_net_key(client, &k);
	if ((e = smtpd_auth_net_find(t, &k, &set)) == NULL) {
		/*
		 * A free slot, else the victim least worth keeping: not
		 * blocked before blocked, then the lowest count, then the
		 * oldest. To push out a network with count c an attacker
		 * must fill its set with networks counted at least as high.
		 */
		for (i = 0; i < SMTPD_AUTH_WAYS; i++) {
			v = &t->net[set + i];
			if (!v->used) {
				e = v;
				break;
			}
			vc = smtpd_auth_net_decayed(t, v, now, &vlast);
			vb = v->until != 0 && now < v->until;
			if (e != NULL) {
				ec = smtpd_auth_net_decayed(t, e, now, &last);
				eb = e->until != 0 && now < e->until;
				if (vb > eb || (vb == eb && (vc > ec ||
				    (vc == ec && v->last >= e->last))))
					continue;
			}
			e = v;
		}
		*e = k;
		e->used = 1;
		e->last = now;
	}
	c = smtpd_auth_net_decayed(t, e, now, &last);
	e->last = c == 0 ? now : last;
	if (c < UINT_MAX)
		c++;
	e->count = c;
	if (t->lim.block_after != 0 && c >= t->lim.block_after)
		e->until = now + (time_t)t->lim.block_time;

	pen->reply = R_DENY;
	if (c <= 1)
		pen->delay = 0;
	else if (c - 2 >= 31)
		pen->delay = t->lim.delay_max;
	else
		pen->delay = 1U << (c - 2);
	if (pen->delay > t->lim.delay_max)
		pen->delay = t->lim.delay_max;
	pen->close = t->lim.session_max != 0 &&
	    session_failures >= t->lim.session_max;
}

/* smtpd_auth_throttle_count - the network's decayed count, 0 if unknown */
unsigned
smtpd_auth_throttle_count(const struct smtpd_auth_throttle *t,
    const struct sockaddr *client, time_t now)
{
	struct smtpd_auth_net	 k, *e;
	time_t			 last;
	size_t			 set;

	smtpd_auth_net_key(client, &k);
	if ((e = smtpd_auth_net_find(t, &k, &set)) == NULL)
		return 0;
	return smtpd_auth_net_decayed(t, e, now, &last);
}
