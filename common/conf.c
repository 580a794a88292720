/*
 * conf - aval's configuration: values, items, lookups and the loader
 *
 * Every value enters a struct conf through one of five functions:
 * conf_set_row() for a scalar (a row of conf_table.c) and conf_add_listen(),
 * conf_add_domain(), conf_add_net() and conf_add_transport() for list
 * entries. The file parser (conf_parse.y) and conf_apply_item() both call
 * them, so the master and a worker run the same checks on the same text:
 * items are written in a form those functions accept (numbers in base units
 * parse as bare numbers, addresses in their canonical spelling).
 *
 * The loader adds what only a whole file can tell: that there is at least
 * one listener, that retry-min is not above retry-max, and an explicit
 * "DOMAIN maildir" transport for every local domain the transport table
 * does not name, so conf_transport_lookup() needs no special case.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/fedfetch.h"
#include "common/conf_local.h"
#include "common/conf_priv.h"
#include "common/conf_table.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define CONF_STRING_MAX		255	/* bytes in a CONF_STRING value */
#define CONF_DOMAIN_MAX		253	/* RFC 1035, without the final dot */
#define CONF_LABEL_MAX		63
#define CONF_USER_MAX		32	/* useradd's limit */
#define CONF_ITEM_FIELDS	5	/* most fields in a list item */

static const char conf_default[] =
    "# aval embedded development default: unprivileged ports, everything "
    "under\n"
    "# the working directory, mail for localhost and aval.test into var/mail.\n"
    "hostname\t\"localhost\"\n"
    "spool\t\t\"var/spool\"\n"
    "runtime-dir\t\"var/run\"\n"
    "maildir\t\t\"var/mail\"\n"
    "listen on 127.0.0.1 port 2525\n"
    "listen on 127.0.0.1 port 2587 submission\n"
    "listen on 127.0.0.1 port 2465 submissions\n"
    "# sendmail(1) and build/sendmail submit here (mode 0666).\n"
    "listen on unix \"var/run/submit.sock\" local\n"
    "# Made by avald at first start: a development CA and a certificate\n"
    "# for localhost (var/tls/ca.crt is the CA to trust in clients).\n"
    "tls {\n"
    "\tcertificate\t\"var/tls/server.crt\" \"var/tls/server.key\"\n"
    "}\n"
    "local-domains\t{ localhost aval.test }\n"
    "# Development: every local part of them gets a Maildir (the default\n"
    "# is no: only the postmaster, aliases and mailbox map users).\n"
    "catch-all\tyes\n"
    "relay-networks\t{ 127.0.0.0/8 ::1/128 }\n";

static int	 conf_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* conf_err - write a message into a caller's buffer; always -1 */
static int
conf_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* --- rows ---------------------------------------------------------------- */

/* conf_row_find - the row named name in block (NULL: top level) */
const struct conf_row *
conf_row_find(const char *block, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_table_len; i++) {
		const struct conf_row	*r = &conf_table[i];

		if (strcmp(r->name, name) != 0)
			continue;
		if (block == NULL ? r->block == NULL :
		    r->block != NULL && strcmp(r->block, block) == 0)
			return r;
	}
	return NULL;
}

/* conf_row_index - the position of a row in conf_table */
int
conf_row_index(const struct conf_row *r)
{
	return (int)(r - conf_table);
}

/* conf_is_block - 1 if some row lives in a block of that name */
int
conf_is_block(const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_table_len; i++)
		if (conf_table[i].block != NULL &&
		    strcmp(conf_table[i].block, name) == 0)
			return 1;
	return 0;
}

/* conf_row_by_key - the row of an item key: "name" or "block.name" */
static const struct conf_row *
conf_row_by_key(const char *key)
{
	const char	*dot;
	char		 block[64];

	if ((dot = strchr(key, '.')) == NULL)
		return conf_row_find(NULL, key);
	if ((size_t)(dot - key) >= sizeof(block))
		return NULL;
	memcpy(block, key, dot - key);
	block[dot - key] = '\0';
	return conf_row_find(block, dot + 1);
}

/* conf_row_label - "smtpd max-recipients", or "hostname", as in the file */
static const char *
conf_row_label(const struct conf_row *r, char *lbl, size_t len)
{
	if (r->block == NULL)
		snprintf(lbl, len, "%s", r->name);
	else
		snprintf(lbl, len, "%s %s", r->block, r->name);
	return lbl;
}

/* conf_row_num - the numeric field a row describes */
static long long *
conf_row_num(struct conf *c, const struct conf_row *r)
{
	return (long long *)(void *)((char *)c + r->offset);
}

/* conf_row_str - the string field a row describes */
static char **
conf_row_str(struct conf *c, const struct conf_row *r)
{
	return (char **)(void *)((char *)c + r->offset);
}

/* --- values -------------------------------------------------------------- */

/*
 * conf_fmt_num - a number in the largest unit that divides it exactly, as
 * it would be written in the file ("1G", "4h"), for messages.
 */
static const char *
conf_fmt_num(enum conf_type type, long long v, char *buf, size_t len)
{
	static const struct {
		enum conf_type	 type;
		long long	 mult;
		char		 unit;
	} units[] = {
		{ CONF_SIZE, 1024LL * 1024 * 1024, 'G' },
		{ CONF_SIZE, 1024LL * 1024, 'M' },
		{ CONF_SIZE, 1024LL, 'K' },
		{ CONF_DURATION, 86400, 'd' },
		{ CONF_DURATION, 3600, 'h' },
		{ CONF_DURATION, 60, 'm' },
		{ CONF_DURATION, 1, 's' },
	};
	size_t	 i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].type == type && v != 0 &&
		    v % units[i].mult == 0) {
			snprintf(buf, len, "%lld%c", v / units[i].mult,
			    units[i].unit);
			return buf;
		}
	snprintf(buf, len, "%lld", v);
	return buf;
}

/*
 * conf_value_number - a count, size or duration in base units. Only
 * digits, then at most one unit letter: no sign, no spaces, no hex, and
 * nothing that overflows a long long on the way.
 */
static int
conf_value_number(const char *s, enum conf_type type, long long *out,
    char *err, size_t errlen)
{
	const char	*p = s, *what;
	long long	 v = 0, mult = 1;

	switch (type) {
	case CONF_SIZE:
		what = "is not a size: a number of bytes, or a number "
		    "followed by K, M or G";
		break;
	case CONF_DURATION:
		what = "is not a duration: a number of seconds, or a number "
		    "followed by s, m, h or d";
		break;
	default:
		what = "is not a whole number";
		break;
	}
	if (*p == '-')
		return conf_err(err, errlen, "\"%s\" is negative", s);
	if (!isdigit((unsigned char)*p))
		return conf_err(err, errlen, "\"%s\" %s", s, what);
	for (; isdigit((unsigned char)*p); p++) {
		int	 d = *p - '0';

		if (v > (LLONG_MAX - d) / 10)
			return conf_err(err, errlen, "\"%s\" is too large", s);
		v = v * 10 + d;
	}
	if (*p != '\0' && type == CONF_SIZE) {
		switch (*p++) {
		case 'K':
			mult = 1024LL;
			break;
		case 'M':
			mult = 1024LL * 1024;
			break;
		case 'G':
			mult = 1024LL * 1024 * 1024;
			break;
		default:
			mult = 0;
			break;
		}
	} else if (*p != '\0' && type == CONF_DURATION) {
		switch (*p++) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		default:
			mult = 0;
			break;
		}
	}
	if (*p != '\0' || mult == 0)
		return conf_err(err, errlen, "\"%s\" %s", s, what);
	if (v > LLONG_MAX / mult)
		return conf_err(err, errlen, "\"%s\" is too large", s);
	*out = v * mult;
	return 0;
}

/* conf_value_printable - 1 if s is non-empty printable ASCII */
static int
conf_value_printable(const char *s, int spaces)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e || (*s == ' ' && !spaces))
			return 0;
	return 1;
}

/*
 * conf_domain_valid - 1 if s is a host or domain name: dot-separated
 * labels of letters, digits and inner hyphens (RFC 1123), at most 253
 * bytes, no final dot, and a last label that is not all digits (that
 * would be an address, which aval does not take where a name belongs).
 */
static int
conf_domain_valid(const char *s)
{
	const char	*label = s, *p;
	int		 digits = 1;

	if (*s == '\0' || strlen(s) > CONF_DOMAIN_MAX)
		return 0;
	for (p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > CONF_LABEL_MAX ||
			    *label == '-' || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = p + 1;
			digits = 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
		if (!isdigit((unsigned char)*p))
			digits = 0;
	}
	return !digits;
}

/* conf_domain_lower - a lowercased copy of a domain */
static char *
conf_domain_lower(const char *s)
{
	char	*d = xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* conf_user_valid - 1 if s may be a POSIX user name */
static int
conf_user_valid(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > CONF_USER_MAX || *s == '-')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("._-", *s) == NULL)
			return 0;
	return 1;
}

/*
 * conf_postmaster_valid - 1 if s is a canonical mailbox (local@domain, as
 * addr_parse_path() writes it), or a local part that makes one, and names
 * no routing: the postmaster's mail must not be relayed by its address.
 */
static int
conf_postmaster_valid(const char *s)
{
	char		 path[ADDR_PATH_MAX + 16], out[ADDR_MAX + 1];
	const char	*rest, *why;
	int		 n;

	if (strchr(s, '@') != NULL)
		n = snprintf(path, sizeof(path), "<%s>", s);
	else
		n = snprintf(path, sizeof(path), "<%s@localhost>", s);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    addr_parse_path(path, 0, out, sizeof(out), &rest, NULL,
	    &why) == -1 || *rest != '\0' || addr_has_routing(out))
		return 0;
	/* The canonical spelling only: what is stored is what is compared. */
	return strchr(s, '@') == NULL || strcmp(out, s) == 0;
}

/*
 * conf_value_addr - a numeric IPv4 or IPv6 address, in its canonical
 * spelling (so "::0001" and "::1" are the same listener). Sets *family and
 * the bytes when asked. 0, or -1 if it is not an address.
 */
static int
conf_value_addr(const char *s, char *canon, size_t canonlen, int *family,
    uint8_t *bytes)
{
	uint8_t	 a[16];
	int	 af;

	if (inet_pton(AF_INET, s, a) == 1)
		af = AF_INET;
	else if (inet_pton(AF_INET6, s, a) == 1)
		af = AF_INET6;
	else
		return -1;
	if (canon != NULL && inet_ntop(af, a, canon, canonlen) == NULL)
		return -1;
	if (family != NULL)
		*family = af;
	if (bytes != NULL)
		memcpy(bytes, a, af == AF_INET ? 4 : 16);
	return 0;
}

/* conf_value_port - a TCP port, 1 to 65535, in decimal */
static int
conf_value_port(const char *s, uint16_t *port)
{
	long long	 v;

	if (strlen(s) > 5 ||
	    conf_value_number(s, CONF_COUNT, &v, NULL, 0) == -1 ||
	    v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* conf_value_resolver - "", "ADDRESS" or "ADDRESS@PORT", numeric */
static int
conf_value_resolver(const char *s)
{
	char		 a[INET6_ADDRSTRLEN];
	const char	*at;
	uint16_t	 port;
	size_t		 n;

	if (*s == '\0')
		return 0;
	n = (at = strchr(s, '@')) != NULL ? (size_t)(at - s) : strlen(s);
	if (n >= sizeof(a))
		return -1;
	memcpy(a, s, n);
	a[n] = '\0';
	if (conf_value_addr(a, NULL, 0, NULL, NULL) == -1)
		return -1;
	return at == NULL ? 0 : conf_value_port(at + 1, &port);
}

/*
 * conf_value_path - an absolute copy of a path. A relative path is taken
 * against the working directory now, because the master may chdir and
 * workers chroot; leading "./" and trailing slashes are dropped.
 */
static int
conf_value_path(const char *s, char **out, char *err, size_t errlen)
{
	char		 cwd[PATH_MAX];
	char		*p;
	const char	*q;
	size_t		 n;

	if (*s == '\0')
		return conf_err(err, errlen, "the path is empty");
	for (q = s; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return conf_err(err, errlen,
			    "the path contains a control character");
	if (*s == '/') {
		p = xstrdup(s);
	} else {
		while (s[0] == '.' && s[1] == '/') {
			s += 2;
			while (*s == '/')
				s++;
		}
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return conf_err(err, errlen, "cannot make \"%s\" "
			    "absolute: working directory: %s", s,
			    strerror(errno));
		if (*s == '\0' || strcmp(s, ".") == 0)
			p = xstrdup(cwd);
		else
			xasprintf(&p, "%s%s%s", cwd,
			    strcmp(cwd, "/") == 0 ? "" : "/", s);
	}
	for (n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	if (strlen(p) >= PATH_MAX) {
		free(p);
		return conf_err(err, errlen, "the path is longer than %d bytes",
		    PATH_MAX - 1);
	}
	*out = p;
	return 0;
}

/* conf_set_row - check a value against its row and store it */
int
conf_set_row(struct conf *c, const struct conf_row *r, const char *value,
    char *err, size_t errlen)
{
	char		 lbl[64], lim[32], msg[CONF_ERR_MAX];
	char		*s = NULL;
	long long	 v;

	conf_row_label(r, lbl, sizeof(lbl));
	switch (r->type) {
	case CONF_STRING:
		if (r->offset == offsetof(struct conf, deliver_resolver)) {
			if (conf_value_resolver(value) == -1)
				return conf_err(err, errlen, "%s: \"%s\" is "
				    "not \"\", ADDRESS or ADDRESS@PORT, with a "
				    "numeric address", lbl, value);
			s = xstrdup(value);
			break;
		}
		/* An optional string ("" by default) may be set to "". */
		if (*value == '\0' && r->def[0] == '\0') {
			s = xstrdup("");
			break;
		}
		if (!conf_value_printable(value, 1) ||
		    strlen(value) > CONF_STRING_MAX)
			return conf_err(err, errlen, "%s: \"%s\" is not a "
			    "printable string of 1 to %d bytes", lbl, value,
			    CONF_STRING_MAX);
		if (r->offset == offsetof(struct conf, hostname) &&
		    !conf_domain_valid(value))
			return conf_err(err, errlen,
			    "%s: \"%s\" is not a host name", lbl, value);
		if ((r->offset == offsetof(struct conf, user) ||
		    r->offset == offsetof(struct conf, local_user)) &&
		    !conf_user_valid(value))
			return conf_err(err, errlen,
			    "%s: \"%s\" is not a user name", lbl, value);
		if (r->offset == offsetof(struct conf, fed_bundle_url) &&
		    !fedfetch_url_valid(value))
			return conf_err(err, errlen, "%s: \"%s\" is not an "
			    "https:// URL", lbl, value);
		if (r->offset == offsetof(struct conf, fed_whitelist_zone) &&
		    !conf_domain_valid(value))
			return conf_err(err, errlen, "%s: \"%s\" is not a "
			    "domain name", lbl, value);
		if (r->offset == offsetof(struct conf, postmaster) &&
		    !conf_postmaster_valid(value))
			return conf_err(err, errlen, "%s: \"%s\" is not a "
			    "mailbox (local@domain) or a local part", lbl,
			    value);
		s = xstrdup(value);
		break;
	case CONF_PATH:
		/* An optional path ("" by default) may be set back to "". */
		if (*value == '\0' && r->def[0] == '\0') {
			s = xstrdup("");
			break;
		}
		if (conf_value_path(value, &s, msg, sizeof(msg)) == -1)
			return conf_err(err, errlen, "%s: %s", lbl, msg);
		break;
	case CONF_BOOL:
		if (strcmp(value, "yes") == 0)
			v = 1;
		else if (strcmp(value, "no") == 0)
			v = 0;
		else
			return conf_err(err, errlen, "%s: \"%s\" is neither "
			    "yes nor no", lbl, value);
		*conf_row_num(c, r) = v;
		return 0;
	case CONF_COUNT:
	case CONF_SIZE:
	case CONF_DURATION:
		if (conf_value_number(value, r->type, &v, msg,
		    sizeof(msg)) == -1)
			return conf_err(err, errlen, "%s: %s", lbl, msg);
		if (v < r->min)
			return conf_err(err, errlen, "%s: %s is less than the "
			    "minimum, %s", lbl, value,
			    conf_fmt_num(r->type, r->min, lim, sizeof(lim)));
		if (v > r->max)
			return conf_err(err, errlen, "%s: %s is more than the "
			    "maximum, %s", lbl, value,
			    conf_fmt_num(r->type, r->max, lim, sizeof(lim)));
		*conf_row_num(c, r) = v;
		return 0;
	default:
		fatalx("%s: row %s has type %d", __func__, lbl, r->type);
	}
	free(*conf_row_str(c, r));
	*conf_row_str(c, r) = s;
	return 0;
}

/* --- lists --------------------------------------------------------------- */

/* conf_listen_kind_name - "mx", "submission", "submissions" or "local" */
const char *
conf_listen_kind_name(enum conf_listen_kind k)
{
	switch (k) {
	case CONF_L_MX:
		return "mx";
	case CONF_L_SUBMISSION:
		return "submission";
	case CONF_L_SUBMISSIONS:
		return "submissions";
	case CONF_L_LOCAL:
		return "local";
	}
	return "?";
}

/* conf_listen_kind_parse - 0 and *k, or -1 for an unknown kind */
int
conf_listen_kind_parse(const char *s, enum conf_listen_kind *k)
{
	if (strcmp(s, "mx") == 0)
		*k = CONF_L_MX;
	else if (strcmp(s, "submission") == 0)
		*k = CONF_L_SUBMISSION;
	else if (strcmp(s, "submissions") == 0)
		*k = CONF_L_SUBMISSIONS;
	else if (strcmp(s, "local") == 0)
		*k = CONF_L_LOCAL;
	else
		return -1;
	return 0;
}

/*
 * conf_add_listen - append a listener; the address must be numeric.
 * clientcert is "request" or "off"; pregreet a duration ("0" off).
 */
int
conf_add_listen(struct conf *c, const char *addr, const char *port,
    const char *kind, const char *clientcert, const char *pregreet,
    char *err, size_t errlen)
{
	struct conf_listen	*l, **tail;
	char			 canon[INET6_ADDRSTRLEN], msg[CONF_ERR_MAX];
	enum conf_listen_kind	 k;
	long long		 pg;
	uint16_t		 p;
	int			 flags = 0;

	if (conf_value_addr(addr, canon, sizeof(canon), NULL, NULL) == -1)
		return conf_err(err, errlen, "listen: \"%s\" is not a numeric "
		    "IPv4 or IPv6 address, a host name or *", addr);
	if (conf_value_port(port, &p) == -1)
		return conf_err(err, errlen, "listen: port \"%s\" is not a "
		    "number from 1 to 65535", port);
	if (conf_listen_kind_parse(kind, &k) == -1 || k == CONF_L_LOCAL)
		return conf_err(err, errlen, "listen: unknown kind \"%s\" "
		    "(mx, submission or submissions; local is for \"listen "
		    "on unix PATH\")", kind);
	if (strcmp(clientcert, "off") == 0)
		flags |= CONF_LF_NO_CLIENT_CERT;
	else if (strcmp(clientcert, "request") != 0)
		return conf_err(err, errlen, "listen: client-cert \"%s\" is "
		    "neither request nor off", clientcert);
	if (conf_value_number(pregreet, CONF_DURATION, &pg, msg,
	    sizeof(msg)) == -1)
		return conf_err(err, errlen, "listen: pregreet %s", msg);
	if (pg > 60)
		return conf_err(err, errlen, "listen: pregreet %s is more "
		    "than the maximum, 1m", pregreet);
	for (tail = &c->listeners; *tail != NULL; tail = &(*tail)->next)
		if ((*tail)->kind != CONF_L_LOCAL &&
		    strcmp((*tail)->addr, canon) == 0 && (*tail)->port == p)
			return conf_err(err, errlen, "listen: %s port %u is "
			    "given twice", canon, (unsigned)p);
	l = xcalloc(1, sizeof(*l));
	l->addr = xstrdup(canon);
	l->port = p;
	l->kind = k;
	l->flags = flags;
	l->pregreet = pg;
	*tail = l;
	return 0;
}

/*
 * conf_add_listen_local - append a local submission listener on the UNIX
 * socket path (made absolute; it must fit in sun_path). What may or may
 * not be at that path is the master's business when it binds.
 */
int
conf_add_listen_local(struct conf *c, const char *path, char *err,
    size_t errlen)
{
	struct sockaddr_un	 sun;
	struct conf_listen	*l, **tail;
	char			 msg[CONF_ERR_MAX], *p;

	if (conf_value_path(path, &p, msg, sizeof(msg)) == -1)
		return conf_err(err, errlen, "listen on unix: %s", msg);
	if (strlen(p) >= sizeof(sun.sun_path)) {
		conf_err(err, errlen, "listen on unix: \"%s\" is longer than "
		    "a socket path may be (%zu bytes)", p,
		    sizeof(sun.sun_path) - 1);
		free(p);
		return -1;
	}
	for (tail = &c->listeners; *tail != NULL; tail = &(*tail)->next)
		if ((*tail)->kind == CONF_L_LOCAL &&
		    strcmp((*tail)->addr, p) == 0) {
			conf_err(err, errlen, "listen on unix: %s is given "
			    "twice", p);
			free(p);
			return -1;
		}
	l = xcalloc(1, sizeof(*l));
	l->addr = p;
	l->port = 0;
	l->kind = CONF_L_LOCAL;
	l->flags = CONF_LF_NO_CLIENT_CERT;
	*tail = l;
	return 0;
}

/* conf_listen_local - the first local listener, or NULL */
const struct conf_listen *
conf_listen_local(const struct conf *c)
{
	const struct conf_listen	*l;

	for (l = c->listeners; l != NULL; l = l->next)
		if (l->kind == CONF_L_LOCAL)
			return l;
	return NULL;
}

/*
 * conf_add_tls_cert - append a certificate chain and its key (paths).
 * The files are read and checked by the master (tls_pem_load), not here:
 * a worker never sees them.
 */
int
conf_add_tls_cert(struct conf *c, const char *cert, const char *key,
    char *err, size_t errlen)
{
	struct conf_tls_cert	*t, **tail;
	char			 msg[CONF_ERR_MAX], *cp, *kp;
	size_t			 n = 0;

	if (conf_value_path(cert, &cp, msg, sizeof(msg)) == -1)
		return conf_err(err, errlen, "tls certificate: %s", msg);
	if (conf_value_path(key, &kp, msg, sizeof(msg)) == -1) {
		free(cp);
		return conf_err(err, errlen, "tls certificate key: %s", msg);
	}
	for (tail = &c->tls_certs; *tail != NULL; tail = &(*tail)->next)
		n++;
	if (n >= CONF_TLS_CERTS_MAX) {
		free(cp);
		free(kp);
		return conf_err(err, errlen, "tls: more than %d certificates",
		    CONF_TLS_CERTS_MAX);
	}
	t = xcalloc(1, sizeof(*t));
	t->cert = cp;
	t->key = kp;
	*tail = t;
	return 0;
}

/*
 * conf_add_domain - append "example.org" or ".example.org" (its
 * subdomains), lowercased; what names the list in messages.
 */
int
conf_add_domain(struct conf_domain **list, const char *what,
    const char *name, char *err, size_t errlen)
{
	struct conf_domain	*d, **tail;
	char			*lower;

	if (!conf_domain_valid(name[0] == '.' ? name + 1 : name))
		return conf_err(err, errlen, "%s: \"%s\" is not a domain name",
		    what, name);
	lower = conf_domain_lower(name);
	for (tail = list; *tail != NULL; tail = &(*tail)->next)
		if (strcmp((*tail)->name, lower) == 0) {
			free(lower);
			return conf_err(err, errlen, "%s: %s is listed twice",
			    what, name);
		}
	d = xcalloc(1, sizeof(*d));
	d->name = lower;
	*tail = d;
	return 0;
}

/*
 * conf_add_net - append a network, "192.0.2.0/24" or "2001:db8::/32"; a
 * bare address is a /32 or /128. Host bits must be zero: "192.0.2.1/24"
 * is more likely a typo than a wish for 192.0.2.0/24, so it is refused
 * with the network it would have meant.
 */
int
conf_add_net(struct conf *c, const char *s, char *err, size_t errlen)
{
	struct conf_net	*n, **tail;
	char		 addr[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	const char	*slash;
	uint8_t		 bytes[16];
	long long	 plen;
	int		 af, max, i, changed = 0;
	size_t		 alen;

	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		goto bad;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(bytes, 0, sizeof(bytes));
	if (conf_value_addr(addr, NULL, 0, &af, bytes) == -1)
		goto bad;
	max = af == AF_INET ? 32 : 128;
	plen = max;
	if (slash != NULL && (strlen(slash + 1) > 3 ||
	    conf_value_number(slash + 1, CONF_COUNT, &plen, NULL, 0) == -1 ||
	    plen > max))
		return conf_err(err, errlen, "relay-networks: \"%s\": the "
		    "prefix length must be a number from 0 to %d", s, max);
	for (i = 0; i < 16; i++) {
		int	 keep = (int)plen - 8 * i;
		uint8_t	 mask;

		mask = keep >= 8 ? 0xff : keep <= 0 ? 0 :
		    (uint8_t)(0xff << (8 - keep));
		if ((bytes[i] & mask) != bytes[i])
			changed = 1;
		bytes[i] &= mask;
	}
	inet_ntop(af, bytes, canon, sizeof(canon));
	if (changed)
		return conf_err(err, errlen, "relay-networks: %s has host "
		    "bits set; the network is %s/%lld", s, canon, plen);
	for (tail = &c->relay_networks; *tail != NULL; tail = &(*tail)->next)
		if ((*tail)->family == af && (*tail)->prefixlen == plen &&
		    memcmp((*tail)->addr, bytes, 16) == 0)
			return conf_err(err, errlen, "relay-networks: %s/%lld "
			    "is listed twice", canon, plen);
	n = xcalloc(1, sizeof(*n));
	n->family = af;
	memcpy(n->addr, bytes, sizeof(n->addr));
	n->prefixlen = (int)plen;
	*tail = n;
	return 0;

 bad:
	return conf_err(err, errlen, "relay-networks: \"%s\" is not an IPv4 or "
	    "IPv6 address or network", s);
}

/*
 * conf_transport_hop - "HOST", "HOST:PORT", "[HOST]" or "[HOST]:PORT" into
 * t: brackets mean no MX lookup (as in Postfix), and a numeric address
 * must be in them so that "2001:db8::1" cannot be read as a port.
 */
static int
conf_transport_hop(struct conf_transport *t, const char *arg, char *err,
    size_t errlen)
{
	char		 host[CONF_STRING_MAX + 1], canon[INET6_ADDRSTRLEN];
	const char	*port = NULL, *close;
	size_t		 hlen;

	if (arg[0] == '[') {
		if ((close = strchr(arg, ']')) == NULL ||
		    (close[1] != '\0' && close[1] != ':'))
			return conf_err(err, errlen, "transport: \"%s\" is not "
			    "[HOST] or [HOST]:PORT", arg);
		hlen = (size_t)(close - arg - 1);
		if (close[1] == ':')
			port = close + 2;
		t->mx = 0;
		arg++;
	} else {
		if ((close = strrchr(arg, ':')) != NULL && strchr(arg, ':') !=
		    close)
			return conf_err(err, errlen, "transport: put the "
			    "address in brackets, as [%s]:25", arg);
		hlen = close != NULL ? (size_t)(close - arg) : strlen(arg);
		if (close != NULL)
			port = close + 1;
		t->mx = 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return conf_err(err, errlen, "transport: \"%s\" names no host "
		    "or too long a one", arg);
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	if (conf_value_addr(host, canon, sizeof(canon), NULL, NULL) == 0) {
		if (t->mx)
			return conf_err(err, errlen, "transport: put the "
			    "address in brackets, as [%s]:25", host);
		t->numeric = 1;
		t->host = xstrdup(canon);
	} else if (conf_domain_valid(host) && strchr(host, '_') == NULL)
		t->host = conf_domain_lower(host);
	else
		return conf_err(err, errlen, "transport: \"%s\" is neither a "
		    "host name nor a numeric IPv4 or IPv6 address", host);
	t->port = 25;
	if (port != NULL && conf_value_port(port, &t->port) == -1)
		return conf_err(err, errlen, "transport: port \"%s\" is not a "
		    "number from 1 to 65535", port);
	return 0;
}

/*
 * conf_transport_error - "D.D.D TEXT" (RFC 3463: class 4 defers, 5
 * bounces; subject and detail of at most three digits), TEXT printable
 */
static int
conf_transport_error(struct conf_transport *t, const char *arg, char *err,
    size_t errlen)
{
	const char	*p = arg;
	size_t		 n;
	int		 part;

	if (arg == NULL || (arg[0] != '4' && arg[0] != '5') || arg[1] != '.')
		return conf_err(err, errlen, "transport: error needs a status "
		    "code, 4.x.x or 5.x.x, and a text");
	for (p = arg + 2, part = 0; part < 2; part++) {
		for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
			;
		if (n == 0 || n > 3 || p[n] != (part == 0 ? '.' : ' '))
			return conf_err(err, errlen, "transport: error: \"%s\" "
			    "does not start with a status code and a text, "
			    "as 5.1.1 no such user", arg);
		p += n + 1;
	}
	n = (size_t)(p - arg - 1);
	if (n >= sizeof(t->dsn) || *p == '\0' || strlen(p) > 200 ||
	    !conf_value_printable(p, 1))
		return conf_err(err, errlen, "transport: error: the text after "
		    "%.*s must be printable, 1 to 200 bytes", (int)n, arg);
	memcpy(t->dsn, arg, n);
	t->dsn[n] = '\0';
	t->text = xstrdup(p);
	return 0;
}

static void
conf_transport_free(struct conf_transport *t)
{
	free(t->domain);
	free(t->host);
	free(t->text);
	free(t->arg);
	free(t);
}

/*
 * conf_add_transport - append a route for a domain, ".parent" (its
 * subdomains) or "*" (everything else); struct conf_transport says what
 * each method and next hop mean.
 */
int
conf_add_transport(struct conf *c, const char *domain, const char *method,
    const char *arg, char *err, size_t errlen)
{
	struct conf_transport	*t, **tail;
	const char		*why;
	char			*path;
	int			 rv = 0;

	if (strcmp(domain, "*") != 0 &&
	    !conf_domain_valid(domain[0] == '.' ? domain + 1 : domain))
		return conf_err(err, errlen, "transport: \"%s\" is not a "
		    "domain name, .domain or *", domain);
	t = xcalloc(1, sizeof(*t));
	t->port = 25;
	if (strcmp(method, "smtp") == 0) {
		t->kind = CONF_T_SMTP;
		if (arg == NULL)
			t->mx = 1;
		else
			rv = conf_transport_hop(t, arg, err, errlen);
	} else if (strcmp(method, "lmtp") == 0) {
		t->kind = CONF_T_LMTP;
		if (arg != NULL && strncmp(arg, "unix:", 5) == 0) {
			if ((rv = conf_value_path(arg + 5, &path, err,
			    errlen)) == 0) {
				if (strlen(path) >= 108) /* sun_path */
					rv = conf_err(err, errlen, "transport: "
					    "socket path %s is too long", path);
				t->host = path;
				t->port = 0;
			}
		} else if (arg == NULL || arg[0] != '[')
			rv = conf_err(err, errlen, "transport: lmtp needs "
			    "[HOST]:PORT or unix:/PATH (LMTP is never routed by "
			    "MX)");
		else
			rv = conf_transport_hop(t, arg, err, errlen);
	} else if (strcmp(method, "maildir") == 0) {
		/* A template below the root; conf_check() reads it whole. */
		t->kind = CONF_T_MAILDIR;
		if (arg != NULL && (strchr(arg, ' ') != NULL ||
		    strstr(arg, "%u") == NULL || (arg[0] != '/' &&
		    conf_local_path_valid(arg, 1, &why) == -1)))
			rv = conf_err(err, errlen, "transport: %s: maildir %s: "
			    "not one path with %%u below the maildir root",
			    domain, arg);
		else if (arg != NULL)
			t->host = xstrdup(arg);
	} else if (strcmp(method, "discard") == 0) {
		t->kind = CONF_T_DISCARD;
		if (arg != NULL)
			rv = conf_err(err, errlen, "transport: %s: %s takes "
			    "no next hop", domain, method);
	} else if (strcmp(method, "error") == 0) {
		t->kind = CONF_T_ERROR;
		rv = conf_transport_error(t, arg, err, errlen);
	} else
		rv = conf_err(err, errlen, "transport: unknown method \"%s\" "
		    "(smtp, lmtp, maildir, discard or error)", method);
	if (rv == -1) {
		conf_transport_free(t);
		return -1;
	}

	t->domain = conf_domain_lower(domain);
	for (tail = &c->transports; *tail != NULL; tail = &(*tail)->next)
		if (strcmp((*tail)->domain, t->domain) == 0) {
			conf_transport_free(t);
			return conf_err(err, errlen, "transport: %s is "
			    "listed twice", domain);
		}
	/* The canonical spelling, for items and avalctl. */
	if (t->kind == CONF_T_ERROR)
		xasprintf(&t->arg, "%s %s", t->dsn, t->text);
	else if ((t->kind == CONF_T_LMTP && t->port == 0) ||
	    t->kind == CONF_T_MAILDIR)
		xasprintf(&t->arg, "%s%s", t->kind == CONF_T_LMTP ? "unix:" :
		    "", t->host != NULL ? t->host : "");
	else if (t->host != NULL && t->mx)
		xasprintf(&t->arg, "%s:%u", t->host, (unsigned)t->port);
	else if (t->host != NULL)
		xasprintf(&t->arg, "[%s]:%u", t->host, (unsigned)t->port);
	else
		t->arg = xstrdup("");
	*tail = t;
	return 0;
}

/* conf_transport_kind_name - the method as the config spells it */
const char *
conf_transport_kind_name(enum conf_transport_kind kind)
{
	switch (kind) {
	case CONF_T_SMTP:
		return "smtp";
	case CONF_T_MAILDIR:
		return "maildir";
	case CONF_T_LMTP:
		return "lmtp";
	case CONF_T_DISCARD:
		return "discard";
	case CONF_T_ERROR:
		return "error";
	}
	return "?";
}

static const char *const conf_tls_levels[] = {
	[CONF_TLS_NONE] = "none",
	[CONF_TLS_MAY] = "may",
	[CONF_TLS_ENCRYPT] = "encrypt",
	[CONF_TLS_DANE] = "dane",
	[CONF_TLS_VERIFY] = "verify",
	[CONF_TLS_SECURE] = "secure",
	[CONF_TLS_FEDERATION] = "federation",
};

const char *
conf_tls_level_name(enum conf_tls_level level)
{
	if ((unsigned int)level > CONF_TLS_LEVEL_MAX)
		return "unknown";
	return conf_tls_levels[level];
}

int
conf_tls_level_parse(const char *s, enum conf_tls_level *level)
{
	unsigned int	 i;

	for (i = 0; i <= CONF_TLS_LEVEL_MAX; i++)
		if (strcmp(s, conf_tls_levels[i]) == 0) {
			*level = (enum conf_tls_level)i;
			return 0;
		}
	return -1;
}

/*
 * conf_tls_match_valid - the names of "match": host names, ".parent" (any
 * subdomain, as OpenSSL's X509_check_host() takes it), one space apart
 */
static int
conf_tls_match_valid(const char *s, char *err, size_t errlen)
{
	char	 name[CONF_TOKEN_MAX + 1];
	size_t	 n, count = 0;

	while (*s != '\0') {
		n = strcspn(s, " ");
		if (n == 0 || n >= sizeof(name))
			return conf_err(err, errlen, "tls-policy: match: "
			    "names are one space apart");
		memcpy(name, s, n);
		name[n] = '\0';
		if (!conf_domain_valid(name[0] == '.' ? name + 1 : name))
			return conf_err(err, errlen, "tls-policy: match: "
			    "\"%s\" is not a host name or .domain", name);
		if (++count > CONF_TLS_MATCH_MAX)
			return conf_err(err, errlen, "tls-policy: match: "
			    "more than %d names", CONF_TLS_MATCH_MAX);
		s += n;
		if (*s == ' ')
			s++;
	}
	return 0;
}

/*
 * conf_add_tls_policy - append a tls-policy entry. verify and secure need
 * a CA ("system" only when asked for: never by default); none and may
 * take no options, since they check nothing.
 */
int
conf_add_tls_policy(struct conf *c, const char *domain, const char *level,
    const char *ca, const char *crl, const char *match, char *err,
    size_t errlen)
{
	struct conf_tls_policy	*t, **tail;
	enum conf_tls_level	 lv;
	char			 msg[CONF_ERR_MAX], *cap = NULL, *crlp = NULL;
	char			*lower;
	const char		*files[CONF_TLS_FILES_MAX];
	size_t			 n;

	if (strcmp(domain, "*") != 0 &&
	    !conf_domain_valid(domain[0] == '.' ? domain + 1 : domain))
		return conf_err(err, errlen, "tls-policy: \"%s\" is not a "
		    "domain name, .domain or *", domain);
	if (conf_tls_level_parse(level, &lv) == -1)
		return conf_err(err, errlen, "tls-policy: %s: unknown level "
		    "\"%s\" (none, may, encrypt, dane, verify, secure)",
		    domain, level);
	if (lv == CONF_TLS_FEDERATION)
		return conf_err(err, errlen, "tls-policy: %s: federation is "
		    "not a level to set: the bundle gives it to the domains "
		    "of its members (docs/federation.md)", domain);
	if (lv != CONF_TLS_VERIFY && lv != CONF_TLS_SECURE &&
	    (ca != NULL || crl != NULL || match != NULL))
		return conf_err(err, errlen, "tls-policy: %s: %s checks no "
		    "certificate, so it takes no ca, crl or match", domain,
		    level);
	if ((lv == CONF_TLS_VERIFY || lv == CONF_TLS_SECURE) && ca == NULL)
		return conf_err(err, errlen, "tls-policy: %s: %s needs the "
		    "CAs to verify against: ca FILE (or ca system for the "
		    "system's store)", domain, level);
	if (match != NULL && conf_tls_match_valid(match, err, errlen) == -1)
		return -1;
	if (ca != NULL && strcmp(ca, "system") != 0 &&
	    conf_value_path(ca, &cap, msg, sizeof(msg)) == -1)
		return conf_err(err, errlen, "tls-policy: %s: ca: %s", domain,
		    msg);
	if (crl != NULL && conf_value_path(crl, &crlp, msg,
	    sizeof(msg)) == -1) {
		free(cap);
		return conf_err(err, errlen, "tls-policy: %s: crl: %s", domain,
		    msg);
	}
	lower = conf_domain_lower(domain);
	n = 0;
	for (tail = &c->tls_policies; *tail != NULL; tail = &(*tail)->next) {
		if (++n >= CONF_TLS_POLICIES_MAX) {
			free(lower);
			free(cap);
			free(crlp);
			return conf_err(err, errlen, "tls-policy: more than %d "
			    "entries", CONF_TLS_POLICIES_MAX);
		}
		if (strcmp((*tail)->domain, lower) == 0) {
			free(lower);
			free(cap);
			free(crlp);
			return conf_err(err, errlen, "tls-policy: %s is listed "
			    "twice", domain);
		}
	}
	t = xcalloc(1, sizeof(*t));
	t->domain = lower;
	t->level = lv;
	t->ca = cap != NULL ? cap : ca != NULL ? xstrdup(ca) : NULL;
	t->crl = crlp;
	t->match = match != NULL ? xstrdup(match) : NULL;
	*tail = t;
	if (conf_tls_files(c, files, CONF_TLS_FILES_MAX) > CONF_TLS_FILES_MAX) {
		*tail = NULL;
		free(t->domain);
		free(t->ca);
		free(t->crl);
		free(t->match);
		free(t);
		return conf_err(err, errlen, "tls-policy: more than %d "
		    "distinct ca and crl files", CONF_TLS_FILES_MAX);
	}
	return 0;
}

/*
 * conf_set_cert_pair - a one-of certificate and key: tls { client-
 * certificate } or federation { certificate }, named what in messages
 */
static int
conf_set_cert_pair(struct conf_tls_cert **slot, const char *what,
    const char *cert, const char *key, char *err, size_t errlen)
{
	struct conf_tls_cert	*t;
	char			 msg[CONF_ERR_MAX], *cp, *kp;

	if (*slot != NULL)
		return conf_err(err, errlen, "%s is already set", what);
	if (conf_value_path(cert, &cp, msg, sizeof(msg)) == -1)
		return conf_err(err, errlen, "%s: %s", what, msg);
	if (conf_value_path(key, &kp, msg, sizeof(msg)) == -1) {
		free(cp);
		return conf_err(err, errlen, "%s key: %s", what, msg);
	}
	t = xcalloc(1, sizeof(*t));
	t->cert = cp;
	t->key = kp;
	*slot = t;
	return 0;
}

/* conf_set_tls_client_cert - the one certificate deliver presents */
int
conf_set_tls_client_cert(struct conf *c, const char *cert, const char *key,
    char *err, size_t errlen)
{
	return conf_set_cert_pair(&c->tls_client_cert,
	    "tls client-certificate", cert, key, err, errlen);
}

/* conf_set_fed_cert - our federation certificate, both ends of SMTP */
int
conf_set_fed_cert(struct conf *c, const char *cert, const char *key,
    char *err, size_t errlen)
{
	return conf_set_cert_pair(&c->fed_cert, "federation certificate",
	    cert, key, err, errlen);
}

static void
conf_cert_pair_free(struct conf_tls_cert *tc)
{
	if (tc == NULL)
		return;
	free(tc->cert);
	free(tc->key);
	free(tc);
}

/* --- building ------------------------------------------------------------ */

/* conf_new - a config with every scalar at its default and empty lists */
struct conf *
conf_new(void)
{
	struct conf	*c = xcalloc(1, sizeof(*c));
	char		 err[CONF_ERR_MAX];
	size_t		 i;

	for (i = 0; i < conf_table_len; i++)
		if (conf_set_row(c, &conf_table[i], conf_table[i].def, err,
		    sizeof(err)) == -1)
			fatalx("%s: bad default in conf_table: %s", __func__,
			    err);
	return c;
}

/* conf_free - free a config and all it holds */
void
conf_free(struct conf *c)
{
	struct conf_listen	*l;
	struct conf_domain	*d;
	struct conf_net		*n;
	struct conf_transport	*t;
	struct conf_tls_policy	*tp;
	struct conf_tls_cert	*tc;
	size_t			 i;

	if (c == NULL)
		return;
	for (i = 0; i < conf_table_len; i++)
		if (conf_table[i].type == CONF_STRING ||
		    conf_table[i].type == CONF_PATH)
			free(*conf_row_str(c, &conf_table[i]));
	while ((l = c->listeners) != NULL) {
		c->listeners = l->next;
		free(l->addr);
		free(l);
	}
	while ((tc = c->tls_certs) != NULL) {
		c->tls_certs = tc->next;
		free(tc->cert);
		free(tc->key);
		free(tc);
	}
	while ((d = c->local_domains) != NULL) {
		c->local_domains = d->next;
		free(d->name);
		free(d);
	}
	while ((d = c->relay_domains) != NULL) {
		c->relay_domains = d->next;
		free(d->name);
		free(d);
	}
	while ((n = c->relay_networks) != NULL) {
		c->relay_networks = n->next;
		free(n);
	}
	while ((t = c->transports) != NULL) {
		c->transports = t->next;
		conf_transport_free(t);
	}
	while ((tp = c->tls_policies) != NULL) {
		c->tls_policies = tp->next;
		free(tp->domain);
		free(tp->ca);
		free(tp->crl);
		free(tp->match);
		free(tp);
	}
	conf_cert_pair_free(c->tls_client_cert);
	conf_cert_pair_free(c->fed_cert);
	conf_local_free(c);
	free(c);
}

/*
 * conf_split - split s in place at single spaces into at most max fields;
 * the count, or -1 if there are more or a field is empty
 */
static int
conf_split(char *s, char **f, int max)
{
	int	 n = 0;

	for (;;) {
		if (n == max || *s == '\0' || *s == ' ')
			return -1;
		f[n++] = s;
		if ((s = strchr(s, ' ')) == NULL)
			return n;
		*s++ = '\0';
	}
}

/*
 * conf_apply_tabbed - an item whose fields may hold spaces (paths, name
 * lists), so a tab separates them and an empty field means "not given":
 * "CERT<tab>KEY" for tls-client-certificate and federation-certificate,
 * "DOMAIN<tab>METHOD<tab>ARG"
 * for transport,
 * "DOMAIN<tab>LEVEL<tab>CA<tab>CRL<tab>MATCH" for tls-policy.
 */
static int
conf_apply_tabbed(struct conf *c, const char *key, const char *value,
    int nfields, char *err, size_t errlen)
{
	char		*copy, *f[CONF_ITEM_FIELDS], *p;
	const char	*o[CONF_ITEM_FIELDS];
	int		 n = 0, i, rv = -1;

	copy = xstrdup(value);
	for (p = copy; n < CONF_ITEM_FIELDS; n++) {
		f[n] = p;
		if ((p = strchr(p, '\t')) == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n != nfields || p != NULL) {
		free(copy);
		return conf_err(err, errlen, "%s: item has %s fields than %d",
		    key, p != NULL || n > nfields ? "more" : "fewer", nfields);
	}
	for (i = 0; i < n; i++)
		o[i] = f[i][0] != '\0' ? f[i] : NULL;
	if (nfields == 2 && strcmp(key, "federation-certificate") == 0)
		rv = conf_set_fed_cert(c, f[0], f[1], err, errlen);
	else if (nfields == 2)
		rv = conf_set_tls_client_cert(c, f[0], f[1], err, errlen);
	else if (nfields == 3)
		rv = conf_add_transport(c, f[0], f[1], o[2], err, errlen);
	else
		rv = conf_add_tls_policy(c, f[0], f[1], o[2], o[3], o[4], err,
		    errlen);
	free(copy);
	return rv;
}

/* conf_apply_item - apply one (key, value) pair as conf_items() wrote it */
int
conf_apply_item(struct conf *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct conf_row	*r;
	char			*copy, *f[CONF_ITEM_FIELDS];
	int			 n, rv = -1;

	if (c == NULL || key == NULL || value == NULL)
		return conf_err(err, errlen, "conf_apply_item: NULL argument");
	if ((r = conf_row_by_key(key)) != NULL)
		return conf_set_row(c, r, value, err, errlen);
	if (strcmp(key, "local-domain") == 0)
		return conf_add_domain(&c->local_domains, "local-domains",
		    value, err, errlen);
	if (strcmp(key, "relay-domain") == 0)
		return conf_add_domain(&c->relay_domains, "relay-domains",
		    value, err, errlen);
	if (strcmp(key, "relay-network") == 0)
		return conf_add_net(c, value, err, errlen);
	if (strcmp(key, "listen-local") == 0)
		return conf_add_listen_local(c, value, err, errlen);
	if (strcmp(key, "tls-certificate") == 0) {
		/* Paths hold no control character: a tab separates them. */
		copy = xstrdup(value);
		if ((f[0] = strchr(copy, '\t')) != NULL) {
			*f[0]++ = '\0';
			rv = conf_add_tls_cert(c, copy, f[0], err, errlen);
		} else
			conf_err(err, errlen, "tls-certificate: item is not "
			    "\"CERT<tab>KEY\"");
		free(copy);
		return rv;
	}
	if (strcmp(key, "tls-client-certificate") == 0 ||
	    strcmp(key, "federation-certificate") == 0)
		return conf_apply_tabbed(c, key, value, 2, err, errlen);
	if (strcmp(key, "tls-policy") == 0)
		return conf_apply_tabbed(c, key, value, 5, err, errlen);
	if (strcmp(key, "transport") == 0)
		return conf_apply_tabbed(c, key, value, 3, err, errlen);
	if (strcmp(key, "alias") == 0 || strcmp(key, "mailbox") == 0)
		return conf_local_apply_item(c, key, value, err, errlen);
	if (strcmp(key, "listen") != 0)
		return conf_err(err, errlen, "unknown item \"%s\"", key);

	copy = xstrdup(value);
	n = conf_split(copy, f, CONF_ITEM_FIELDS);
	if (n == 5)
		rv = conf_add_listen(c, f[0], f[1], f[2], f[3], f[4], err,
		    errlen);
	else
		conf_err(err, errlen, "listen: item \"%s\" is not "
		    "\"ADDRESS PORT KIND CLIENT-CERT PREGREET\"", value);
	free(copy);
	return rv;
}

/* conf_items - call cb for every setting and list entry, in a fixed order */
void
conf_items(const struct conf *c, conf_item_cb cb, void *arg)
{
	const struct conf_listen	*l;
	const struct conf_domain	*d;
	const struct conf_net		*n;
	const struct conf_transport	*t;
	const struct conf_tls_policy	*tp;
	const struct conf_tls_cert	*tc;
	char				 key[64], val[3 * PATH_MAX + 2048];
	char				 addr[INET6_ADDRSTRLEN];
	size_t				 i;

	for (i = 0; i < conf_table_len; i++) {
		const struct conf_row	*r = &conf_table[i];
		const char		*p = (const char *)c + r->offset;

		if (r->block == NULL)
			snprintf(key, sizeof(key), "%s", r->name);
		else
			snprintf(key, sizeof(key), "%s.%s", r->block, r->name);
		if (r->type == CONF_STRING || r->type == CONF_PATH) {
			cb(key, *(char *const *)(const void *)p, arg);
			continue;
		}
		if (r->type == CONF_BOOL) {
			cb(key, *(const long long *)(const void *)p ? "yes" :
			    "no", arg);
			continue;
		}
		snprintf(val, sizeof(val), "%lld",
		    *(const long long *)(const void *)p);
		cb(key, val, arg);
	}
	for (l = c->listeners; l != NULL; l = l->next) {
		if (l->kind == CONF_L_LOCAL) {
			/* A path may hold spaces: it is the whole value. */
			cb("listen-local", l->addr, arg);
			continue;
		}
		snprintf(val, sizeof(val), "%s %u %s %s %lld", l->addr,
		    (unsigned)l->port, conf_listen_kind_name(l->kind),
		    l->flags & CONF_LF_NO_CLIENT_CERT ? "off" : "request",
		    l->pregreet);
		cb("listen", val, arg);
	}
	for (tc = c->tls_certs; tc != NULL; tc = tc->next) {
		snprintf(val, sizeof(val), "%s\t%s", tc->cert, tc->key);
		cb("tls-certificate", val, arg);
	}
	for (d = c->local_domains; d != NULL; d = d->next)
		cb("local-domain", d->name, arg);
	for (d = c->relay_domains; d != NULL; d = d->next)
		cb("relay-domain", d->name, arg);
	for (n = c->relay_networks; n != NULL; n = n->next) {
		inet_ntop(n->family, n->addr, addr, sizeof(addr));
		snprintf(val, sizeof(val), "%s/%d", addr, n->prefixlen);
		cb("relay-network", val, arg);
	}
	if ((tc = c->tls_client_cert) != NULL) {
		snprintf(val, sizeof(val), "%s\t%s", tc->cert, tc->key);
		cb("tls-client-certificate", val, arg);
	}
	if ((tc = c->fed_cert) != NULL) {
		snprintf(val, sizeof(val), "%s\t%s", tc->cert, tc->key);
		cb("federation-certificate", val, arg);
	}
	for (tp = c->tls_policies; tp != NULL; tp = tp->next) {
		snprintf(val, sizeof(val), "%s\t%s\t%s\t%s\t%s", tp->domain,
		    conf_tls_level_name(tp->level), tp->ca ? tp->ca : "",
		    tp->crl ? tp->crl : "", tp->match ? tp->match : "");
		cb("tls-policy", val, arg);
	}
	for (t = c->transports; t != NULL; t = t->next) {
		snprintf(val, sizeof(val), "%s\t%s\t%s", t->domain,
		    conf_transport_kind_name(t->kind), t->arg);
		cb("transport", val, arg);
	}
	conf_local_items(c, cb, arg);
}

/* --- lookups ------------------------------------------------------------- */

/*
 * conf_domain_match - 1 if domain is in the list: an entry matches itself,
 * and an entry ".example.org" matches every name ending in it (but not
 * example.org itself).
 */
int
conf_domain_match(const struct conf_domain *d, const char *domain)
{
	size_t	 len, elen;

	if (domain == NULL)
		return 0;
	len = strlen(domain);
	for (; d != NULL; d = d->next) {
		if (d->name[0] != '.') {
			if (strcasecmp(d->name, domain) == 0)
				return 1;
			continue;
		}
		elen = strlen(d->name);
		if (len > elen &&
		    strcasecmp(domain + len - elen, d->name) == 0)
			return 1;
	}
	return 0;
}

/*
 * conf_postmaster - the postmaster's mailbox: the setting, a bare local
 * part qualified with the first local domain (the hostname when there is
 * none). 0, or -1 when out is too small.
 */
int
conf_postmaster(const struct conf *c, char *out, size_t outlen)
{
	const char	*dom;
	int		 n;

	if (strchr(c->postmaster, '@') != NULL)
		n = snprintf(out, outlen, "%s", c->postmaster);
	else {
		dom = c->local_domains != NULL &&
		    c->local_domains->name[0] != '.' ?
		    c->local_domains->name : c->hostname;
		n = snprintf(out, outlen, "%s@%s", c->postmaster, dom);
	}
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/*
 * conf_postmaster_rewrite - 1 and the postmaster's mailbox in out when
 * rcpt is the bare "postmaster" (RFC 5321 4.5.1) or postmaster@ a local
 * domain, any case, and is not that mailbox already; else 0. One step
 * only: the result is never rewritten again, so no setting makes a loop.
 */
int
conf_postmaster_rewrite(const struct conf *c, const char *rcpt, char *out,
    size_t outlen)
{
	const char	*at = strchr(rcpt, '@');

	if (at == NULL) {
		if (strcasecmp(rcpt, "postmaster") != 0)
			return 0;
	} else if ((size_t)(at - rcpt) != strlen("postmaster") ||
	    strncasecmp(rcpt, "postmaster", at - rcpt) != 0 ||
	    conf_is_local_domain(c, at + 1) != 1)
		return 0;
	if (conf_postmaster(c, out, outlen) == -1)
		return 0;
	return strcmp(out, rcpt) != 0;
}

/* conf_is_local_domain - 1 if mail for domain is delivered here */
int
conf_is_local_domain(const struct conf *c, const char *domain)
{
	return conf_domain_match(c->local_domains, domain);
}

/* conf_maildir_relative - path below the maildir root, relative to it */
const char *
conf_maildir_relative(const struct conf *c, const char *path)
{
	size_t	 n = strlen(c->maildir);

	if (strncmp(path, c->maildir, n) != 0 || path[n] != '/' ||
	    path[n + 1] == '\0')
		return NULL;
	return path + n + 1;
}

/* conf_is_relay_domain - 1 if mail for domain is accepted and relayed */
int
conf_is_relay_domain(const struct conf *c, const char *domain)
{
	return conf_domain_match(c->relay_domains, domain);
}

/* conf_net_match - 1 if the address bytes fall in the network */
static int
conf_net_match(const struct conf_net *n, int af, const uint8_t *a)
{
	int	 full, rest;

	if (n->family != af)
		return 0;
	full = n->prefixlen / 8;
	rest = n->prefixlen % 8;
	if (memcmp(n->addr, a, full) != 0)
		return 0;
	if (rest != 0 &&
	    ((a[full] ^ n->addr[full]) & (uint8_t)(0xff << (8 - rest))) != 0)
		return 0;
	return 1;
}

/*
 * conf_in_relay_networks - 1 if the client address is in a relay network.
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1, as a dual-stack socket
 * reports IPv4 clients) is tried against the IPv4 networks as well.
 */
int
conf_in_relay_networks(const struct conf *c, const struct sockaddr *sa)
{
	const struct conf_net	*n;
	const uint8_t		*a, *mapped = NULL;
	int			 af;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		af = AF_INET;
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr	*in6;

		in6 = &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr;
		af = AF_INET6;
		a = (const uint8_t *)in6;
		if (IN6_IS_ADDR_V4MAPPED(in6))
			mapped = a + 12;
	} else
		return 0;
	for (n = c->relay_networks; n != NULL; n = n->next)
		if (conf_net_match(n, af, a) ||
		    (mapped != NULL && conf_net_match(n, AF_INET, mapped)))
			return 1;
	return 0;
}

/*
 * conf_find_*() - the entry of a table whose domain is exactly name; the
 * lookups below try them in the one order every domain table uses.
 */
static const void *
conf_find_transport(const void *arg, const char *name)
{
	const struct conf		*c = arg;
	const struct conf_transport	*t;

	for (t = c->transports; t != NULL; t = t->next)
		if (strcasecmp(t->domain, name) == 0)
			return t;
	return NULL;
}

static const void *
conf_find_tls_policy(const void *arg, const char *name)
{
	const struct conf		*c = arg;
	const struct conf_tls_policy	*t;

	for (t = c->tls_policies; t != NULL; t = t->next)
		if (strcasecmp(t->domain, name) == 0)
			return t;
	return NULL;
}

/*
 * conf_domain_lookup - the entry for a domain: its own, then ".parent"
 * entries from the nearest parent up ("a.b.example.org" tries
 * ".b.example.org", ".example.org", ".org"), then "*"; NULL if none.
 */
const void *
conf_domain_lookup(const void *c, const char *domain,
    const void *(*find)(const void *, const char *))
{
	const void	*t;
	const char	*p;

	if (domain == NULL || *domain == '\0')
		return find(c, "*");
	if ((t = find(c, domain)) != NULL)
		return t;
	for (p = strchr(domain, '.'); p != NULL; p = strchr(p + 1, '.'))
		if ((t = find(c, p)) != NULL)
			return t;
	return find(c, "*");
}

/* conf_transport_lookup - the route for a domain; borrowed from c */
const struct conf_transport *
conf_transport_lookup(const struct conf *c, const char *domain)
{
	return conf_domain_lookup(c, domain, conf_find_transport);
}

/* conf_tls_policy_lookup - the TLS policy entry for a domain, or NULL */
const struct conf_tls_policy *
conf_tls_policy_lookup(const struct conf *c, const char *domain)
{
	return conf_domain_lookup(c, domain, conf_find_tls_policy);
}

/*
 * conf_tls_files - the CA and CRL files of the policies, each once; max
 * + 1 when there are more (conf_add_tls_policy() keeps a config within
 * CONF_TLS_FILES_MAX).
 */
size_t
conf_tls_files(const struct conf *c, const char **out, size_t max)
{
	const struct conf_tls_policy	*t;
	const char			*f[2];
	size_t				 n = 0, i, k;

	for (t = c->tls_policies; t != NULL; t = t->next) {
		f[0] = t->ca != NULL && strcmp(t->ca, "system") != 0 ?
		    t->ca : NULL;
		f[1] = t->crl;
		for (k = 0; k < 2; k++) {
			if (f[k] == NULL)
				continue;
			for (i = 0; i < n; i++)
				if (strcmp(out[i], f[k]) == 0)
					break;
			if (i < n)
				continue;
			if (n == max)
				return max + 1;
			out[n++] = f[k];
		}
	}
	return n;
}

/* --- loading ------------------------------------------------------------- */

/*
 * conf_check_federation - federation { } is whole or absent: the CA, one
 * bundle source, our certificate. The number of errors.
 */
static int
conf_check_federation(const struct conf *c, const char *file,
    const struct conf_parse_info *info, struct conf_errors *errs)
{
	const char	*u = c->fed_bundle_url;
	int		 line, nerr = 0;

	line = info->row_line[conf_row_index(conf_row_find("federation",
	    "ca"))];
	if (!conf_federation_on(c)) {
		if (c->fed_bundle_file[0] == '\0' && u[0] == '\0' &&
		    c->fed_cert == NULL)
			return 0;
		conf_errors_add(errs, file, line, "federation: a bundle or "
		    "certificate without ca: name the federation CA "
		    "certificate (ca FILE), the only trust anchor for members");
		return 1;
	}
	if ((c->fed_bundle_file[0] != '\0') == (u[0] != '\0')) {
		conf_errors_add(errs, file, line, "federation: give exactly "
		    "one of bundle-file and bundle-url");
		nerr++;
	}
	if (c->fed_cert == NULL) {
		conf_errors_add(errs, file, line, "federation: no certificate: "
		    "add certificate CERTFILE KEYFILE (made with aval-ca "
		    "request and sign)");
		nerr++;
	}
	return nerr;
}

/*
 * conf_check - what only the whole file can tell. Returns the number of
 * errors. Errors about the file as a whole are reported on line 0.
 */
static int
conf_check(struct conf *c, const char *file,
    const struct conf_parse_info *info, struct conf_errors *errs)
{
	const struct conf_row	*rmin, *rmax;
	const struct conf_domain *d;
	const struct conf_listen *l;
	struct conf_transport	*t;
	char			 a[32], b[32], err[CONF_ERR_MAX];
	int			 nerr = 0, line;

	if (info->nlisten == 0) {
		conf_errors_add(errs, file, 0, "no listen statement: aval "
		    "needs at least one listener");
		nerr++;
	}

	rmin = conf_row_find("queue", "retry-min");
	rmax = conf_row_find("queue", "retry-max");
	if (c->queue_retry_min > c->queue_retry_max) {
		line = info->row_line[conf_row_index(rmin)];
		if (info->row_line[conf_row_index(rmax)] > line)
			line = info->row_line[conf_row_index(rmax)];
		conf_errors_add(errs, file, line, "queue retry-min (%s) is "
		    "more than retry-max (%s)",
		    conf_fmt_num(CONF_DURATION, c->queue_retry_min, a,
		    sizeof(a)),
		    conf_fmt_num(CONF_DURATION, c->queue_retry_max, b,
		    sizeof(b)));
		nerr++;
	}

	for (l = c->listeners; l != NULL; l = l->next)
		if ((l->kind == CONF_L_SUBMISSION ||
		    l->kind == CONF_L_SUBMISSIONS) && c->tls_certs == NULL) {
			conf_errors_add(errs, file, info->listen_line,
			    "a %s listener needs a certificate: add tls { "
			    "certificate CERTFILE KEYFILE }",
			    conf_listen_kind_name(l->kind));
			nerr++;
			break;
		}

	/*
	 * "maildir PATH": below the maildir root (aval-local's chroot), an
	 * absolute PATH there made relative, every local part's mailbox
	 * named by %u; items carry the relative form.
	 */
	for (t = c->transports; t != NULL; t = t->next) {
		const char	*why = NULL, *rel;

		if (t->kind != CONF_T_MAILDIR || t->host == NULL)
			continue;
		rel = t->host[0] == '/' ? conf_maildir_relative(c, t->host) :
		    t->host;
		if (rel == NULL) {
			conf_errors_add(errs, file, 0, "transport %s: maildir "
			    "%s must be under the maildir root %s", t->domain,
			    t->host, c->maildir);
			nerr++;
			continue;
		}
		if (conf_local_path_valid(rel, 1, &why) == -1 ||
		    strstr(rel, "%u") == NULL) {
			conf_errors_add(errs, file, 0, "transport %s: maildir "
			    "%s: %s", t->domain, t->host, why != NULL ? why :
			    "the path needs %u, the local part");
			nerr++;
			continue;
		}
		free(t->arg);
		t->arg = xstrdup(rel);
		free(t->host);
		t->host = xstrdup(t->arg);
	}

	/*
	 * aval-local is chrooted to the maildir root: a local store's LMTP
	 * socket must be below it to be reachable at all.
	 */
	for (t = c->transports; t != NULL; t = t->next) {
		if (t->kind != CONF_T_LMTP || t->port != 0)
			continue;
		if (conf_maildir_relative(c, t->host) == NULL) {
			conf_errors_add(errs, file, 0, "transport %s: the LMTP "
			    "socket %s must be under the maildir root %s: "
			    "aval-local is chrooted there (docs/local.md)",
			    t->domain, t->host, c->maildir);
			nerr++;
		}
	}

	nerr += conf_check_federation(c, file, info, errs);

	/* Local domains are delivered by maildir unless routed explicitly. */
	for (d = c->local_domains; d != NULL; d = d->next) {
		if (conf_find_transport(c, d->name) != NULL)
			continue;
		if (conf_add_transport(c, d->name, "maildir", NULL, err,
		    sizeof(err)) == -1)
			fatalx("%s: %s", __func__, err);
	}

	/*
	 * The mailbox map and the aliases last: they need the local domains,
	 * the routes and the postmaster, and only a file without other errors
	 * is worth their reading.
	 */
	if (nerr == 0 && errs->n == 0)
		nerr += conf_local_load(c, file,
		    info->row_line[conf_row_index(conf_row_find(NULL,
		    "aliases"))],
		    info->row_line[conf_row_index(conf_row_find(NULL,
		    "mailbox-map"))], errs);
	return nerr;
}

/* conf_load_text - parse text as file name, check it, and build a config */
static struct conf *
conf_load_text(const char *name, const char *text, size_t len,
    struct conf_errors *errs)
{
	struct conf_parse_info	 info;
	struct conf_errors	 local = { NULL, 0 };
	struct conf		*c;
	int			 nerr;

	if (errs == NULL)
		errs = &local;
	c = conf_new();
	memset(&info, 0, sizeof(info));
	info.row_line = xcalloc(conf_table_len, sizeof(*info.row_line));
	nerr = conf_parse_text(c, name, text, len, errs, &info);
	nerr += conf_check(c, name, &info, errs);
	free(info.row_line);
	conf_errors_clear(&local);
	if (nerr > 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

/* conf_load - read and check a config file */
struct conf *
conf_load(const char *path, struct conf_errors *errs)
{
	struct conf	*c = NULL;
	struct buf	*b;
	FILE		*fp;
	char		 chunk[8192];
	size_t		 n;
	int		 toobig = 0;

	if (path == NULL) {
		conf_errors_add(errs, "(null)", 0, "no file name");
		return NULL;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		conf_errors_add(errs, path, 0, "cannot open: %s",
		    strerror(errno));
		return NULL;
	}
	b = buf_new(sizeof(chunk), CONF_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_add(b, chunk, n) == -1) {
			toobig = 1;
			break;
		}
	if (ferror(fp))
		conf_errors_add(errs, path, 0, "cannot read: %s",
		    strerror(errno));
	else if (toobig)
		conf_errors_add(errs, path, 0, "larger than %d bytes; is "
		    "this really the configuration?", CONF_FILE_MAX);
	else
		c = conf_load_text(path, buf_data(b), buf_len(b), errs);
	fclose(fp);
	buf_free(b);
	return c;
}

/* conf_load_default - the embedded development default, as "<default>" */
struct conf *
conf_load_default(struct conf_errors *errs)
{
	return conf_load_text("<default>", conf_default,
	    sizeof(conf_default) - 1, errs);
}

/* conf_default_text - the embedded development default, as text */
const char *
conf_default_text(void)
{
	return conf_default;
}
