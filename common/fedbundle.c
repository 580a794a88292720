/*
 * fedbundle - the federation bundle: its registry, its text, its signature
 *
 * See fedbundle.h and docs/federation-bundle.md. The reader is strict on
 * purpose: one spelling of every line, fields in one order, members sorted
 * by id. A second accepted spelling would be a second thing to get right in
 * every member's MTA, and a bundle is read by all of them.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "common/fedbundle.h"

/* A cursor over the text, one LF-terminated line at a time. */
struct fed_rd {
	const char	*p;
	const char	*end;
	size_t		 lineno;
	char		 line[FED_LINE_MAX + 1];
	int		 pushed;	/* line holds a line given back */
};

static void
fed_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fed_err - fill the caller's error buffer */
static void
fed_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* fed_id_valid - a member id: lowercase letters, digits, inner hyphens */
int
fed_id_valid(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > FED_ID_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * fed_name_valid - a host or domain name as the registry keeps it:
 * lowercase LDH labels of 1-63 octets, at least two of them, no trailing
 * dot, at most 253 octets, a last label that is not all digits (so no
 * address can pass for a name). Lowercase only, so that comparing names is
 * comparing bytes everywhere.
 */
int
fed_name_valid(const char *s)
{
	size_t		 n = strlen(s), lab = 0, labels = 1, i;
	const char	*last = s;
	int		 digits = 1;

	if (n == 0 || n > FED_NAME_MAX)
		return 0;
	for (i = 0; i <= n; i++) {
		char	 c = s[i];

		if (c == '.' || c == '\0') {
			if (lab == 0 || lab > 63 || s[i - 1] == '-')
				return 0;
			if (c == '.') {
				labels++;
				lab = 0;
				last = s + i + 1;
			}
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return 0;
		if (lab == 0 && c == '-')
			return 0;
		lab++;
	}
	for (; *last != '\0'; last++)
		if (*last < '0' || *last > '9')
			digits = 0;
	return labels >= 2 && !digits;
}

/* fed_text_valid - free text: printable ASCII, no edge spaces */
int
fed_text_valid(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > FED_TEXT_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* fed_net_parse - a canonical CIDR network */
int
fed_net_parse(const char *s, struct fed_net *net)
{
	char		 a[INET6_ADDRSTRLEN + 1], *slash, *end;
	const char	*ps;
	long		 p;
	int		 bits, i;
	size_t		 alen;

	memset(net, 0, sizeof(*net));
	if ((slash = strchr(s, '/')) == NULL)
		return -1;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(a))
		return -1;
	memcpy(a, s, alen);
	a[alen] = '\0';
	ps = slash + 1;
	if (*ps < '0' || *ps > '9' || (ps[0] == '0' && ps[1] != '\0'))
		return -1;
	errno = 0;
	p = strtol(ps, &end, 10);
	if (*end != '\0' || errno != 0)
		return -1;
	if (inet_pton(AF_INET, a, net->addr) == 1) {
		net->family = AF_INET;
		bits = 32;
		if (p < FED_NET4_MIN_PREFIX)
			return -1;
	} else if (inet_pton(AF_INET6, a, net->addr) == 1) {
		net->family = AF_INET6;
		bits = 128;
		if (p < FED_NET6_MIN_PREFIX)
			return -1;
	} else
		return -1;
	if (p > bits)
		return -1;
	net->prefix = (int)p;
	/* Host bits set means the operator meant something else: refuse. */
	for (i = net->prefix; i < bits; i++)
		if (net->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	/* And the address must be written as inet_ntop writes it. */
	if (inet_ntop(net->family, net->addr, a, sizeof(a)) == NULL ||
	    strlen(a) != alen || memcmp(a, s, alen) != 0)
		return -1;
	return 0;
}

/* fed_net_format - the canonical text of a network */
int
fed_net_format(const struct fed_net *net, char *out, size_t outlen)
{
	char	 a[INET6_ADDRSTRLEN];
	int	 n;

	if (inet_ntop(net->family, net->addr, a, sizeof(a)) == NULL)
		return -1;
	n = snprintf(out, outlen, "%s/%d", a, net->prefix);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* fed_net_contains - 1 if addr (of family) lies in net */
int
fed_net_contains(const struct fed_net *net, int family,
    const unsigned char *addr)
{
	int	 i;

	if (family != net->family)
		return 0;
	for (i = 0; i < net->prefix; i++)
		if ((net->addr[i / 8] ^ addr[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

/* fed_net_overlap - 1 if the networks share an address */
int
fed_net_overlap(const struct fed_net *a, const struct fed_net *b)
{
	/* CIDR networks overlap only when one contains the other. */
	return a->prefix <= b->prefix ? fed_net_contains(a, b->family,
	    b->addr) : fed_net_contains(b, a->family, a->addr);
}

/* fed_time_parse - strict "YYYY-MM-DDTHH:MM:SSZ" */
int
fed_time_parse(const char *s, time_t *t)
{
	struct tm	 tm;
	char		 back[32];
	int		 n = 0;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &n) != 6 || n != 20)
		return -1;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm);
	/* timegm normalises 02-31 into March; the round trip refuses it. */
	fed_time_format(*t, back, sizeof(back));
	return strcmp(back, s) == 0 ? 0 : -1;
}

/* fed_time_format - RFC 3339 UTC */
void
fed_time_format(time_t t, char *out, size_t outlen)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "?");
}

/* --- the registry ------------------------------------------------------ */

/* fed_member_clear - free what a member points to */
void
fed_member_clear(struct fed_member *m)
{
	size_t	 i;

	free(m->org);
	free(m->contact);
	for (i = 0; i < m->ndomains; i++)
		free(m->domains[i]);
	free(m->domains);
	for (i = 0; i < m->nmx; i++)
		free(m->mx[i]);
	free(m->mx);
	free(m->nets);
	memset(m, 0, sizeof(*m));
}

/* fed_registry_clear - free every member */
void
fed_registry_clear(struct fed_registry *r)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		fed_member_clear(&r->members[i]);
	free(r->members);
	r->members = NULL;
	r->n = 0;
}

/* fed_registry_find - the member with that id, or NULL */
struct fed_member *
fed_registry_find(const struct fed_registry *r, const char *id)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->members[i].id, id) == 0)
			return &r->members[i];
	return NULL;
}

/* fed_registry_owner - who registered name, as a domain or an MX host */
const struct fed_member *
fed_registry_owner(const struct fed_registry *r, const char *name,
    int *is_mx)
{
	size_t	 i, j;

	for (i = 0; i < r->n; i++) {
		for (j = 0; j < r->members[i].nmx; j++)
			if (strcmp(r->members[i].mx[j], name) == 0) {
				if (is_mx != NULL)
					*is_mx = 1;
				return &r->members[i];
			}
		for (j = 0; j < r->members[i].ndomains; j++)
			if (strcmp(r->members[i].domains[j], name) == 0) {
				if (is_mx != NULL)
					*is_mx = 0;
				return &r->members[i];
			}
	}
	return NULL;
}

struct fed_name_ref {
	const char	*name;
	size_t		 member;
	int		 mx;
};

struct fed_net_ref {
	const struct fed_net *net;
	size_t		 member;
};

static int
fed_name_ref_cmp(const void *a, const void *b)
{
	const struct fed_name_ref *x = a, *y = b;
	int	 c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return x->member < y->member ? -1 : x->member > y->member;
}

static int
fed_net_ref_cmp(const void *a, const void *b)
{
	const struct fed_net_ref *x = a, *y = b;
	int	 c;

	if (x->net->family != y->net->family)
		return x->net->family < y->net->family ? -1 : 1;
	if ((c = memcmp(x->net->addr, y->net->addr, 16)) != 0)
		return c;
	return x->net->prefix - y->net->prefix;
}

/*
 * fed_registry_check - no name or network twice. Sorting first keeps this
 * n log n: a hostile (or just large) signed bundle may hold millions of
 * names, and a quadratic check would stall every member loading it.
 */
int
fed_registry_check(const struct fed_registry *r, char *err, size_t errlen)
{
	struct fed_name_ref	*names = NULL;
	struct fed_net_ref	*nets = NULL;
	size_t			 nn = 0, nt = 0, i, j;
	char			 a[64], b[64];
	int			 rv = -1;

	for (i = 0; i < r->n; i++) {
		nn += r->members[i].ndomains + r->members[i].nmx;
		nt += r->members[i].nnets;
	}
	names = xcalloc(nn + 1, sizeof(*names));
	nets = xcalloc(nt + 1, sizeof(*nets));
	nn = nt = 0;
	for (i = 0; i < r->n; i++) {
		const struct fed_member *m = &r->members[i];

		if (i > 0 && strcmp(r->members[i - 1].id, m->id) >= 0) {
			fed_err(err, errlen, "member %s is listed twice or "
			    "out of order", m->id);
			goto done;
		}
		for (j = 0; j < m->ndomains; j++)
			names[nn++] = (struct fed_name_ref){ m->domains[j], i, 0 };
		for (j = 0; j < m->nmx; j++)
			names[nn++] = (struct fed_name_ref){ m->mx[j], i, 1 };
		for (j = 0; j < m->nnets; j++)
			nets[nt++] = (struct fed_net_ref){ &m->nets[j], i };
	}
	qsort(names, nn, sizeof(*names), fed_name_ref_cmp);
	for (i = 1; i < nn; i++) {
		const struct fed_name_ref *x = &names[i - 1], *y = &names[i];

		if (strcmp(x->name, y->name) != 0)
			continue;
		/* A member may name one host as its domain and its MX. */
		if (x->member == y->member && x->mx != y->mx)
			continue;
		if (x->member == y->member)
			fed_err(err, errlen, "%s is listed twice for member %s",
			    x->name, r->members[x->member].id);
		else
			fed_err(err, errlen, "%s is registered to both member "
			    "%s and member %s", x->name,
			    r->members[x->member].id, r->members[y->member].id);
		goto done;
	}
	qsort(nets, nt, sizeof(*nets), fed_net_ref_cmp);
	for (i = 1; i < nt; i++) {
		if (!fed_net_overlap(nets[i - 1].net, nets[i].net))
			continue;
		fed_net_format(nets[i - 1].net, a, sizeof(a));
		fed_net_format(nets[i].net, b, sizeof(b));
		fed_err(err, errlen, "network %s (member %s) overlaps %s "
		    "(member %s)", a, r->members[nets[i - 1].member].id, b,
		    r->members[nets[i].member].id);
		goto done;
	}
	rv = 0;
 done:
	free(names);
	free(nets);
	return rv;
}

/* --- the line reader --------------------------------------------------- */

/* fed_rd_next - the next line into r->line: 1, 0 at the end, -1 bad */
static int
fed_rd_next(struct fed_rd *r, char *err, size_t errlen)
{
	const char	*nl;
	size_t		 n, i;

	if (r->pushed) {
		r->pushed = 0;
		return 1;
	}
	if (r->p >= r->end)
		return 0;
	r->lineno++;
	if ((nl = memchr(r->p, '\n', (size_t)(r->end - r->p))) == NULL) {
		fed_err(err, errlen, "line %zu: no newline at the end",
		    r->lineno);
		return -1;
	}
	n = (size_t)(nl - r->p);
	if (n > FED_LINE_MAX) {
		fed_err(err, errlen, "line %zu: longer than %d bytes",
		    r->lineno, FED_LINE_MAX);
		return -1;
	}
	/* Only printable ASCII: no NUL, CR, tab or byte above 126. */
	for (i = 0; i < n; i++)
		if ((unsigned char)r->p[i] < 0x20 ||
		    (unsigned char)r->p[i] > 0x7e) {
			fed_err(err, errlen, "line %zu: a control or non-ASCII "
			    "byte", r->lineno);
			return -1;
		}
	memcpy(r->line, r->p, n);
	r->line[n] = '\0';
	r->p = nl + 1;
	return 1;
}

/* fed_rd_kw - the value after "kw " in the current line, or NULL */
static const char *
fed_rd_kw(const struct fed_rd *r, const char *kw)
{
	size_t	 n = strlen(kw);

	if (strncmp(r->line, kw, n) != 0 || r->line[n] != ' ' ||
	    r->line[n + 1] == '\0')
		return NULL;
	return r->line + n + 1;
}

/* fed_rd_expect - the next line must be "kw value"; the value, or NULL */
static const char *
fed_rd_expect(struct fed_rd *r, const char *kw, char *err, size_t errlen)
{
	const char	*v;
	int		 rv;

	if ((rv = fed_rd_next(r, err, errlen)) == -1)
		return NULL;
	if (rv == 0 || (v = fed_rd_kw(r, kw)) == NULL) {
		fed_err(err, errlen, "line %zu: expected \"%s ...\"",
		    r->lineno, kw);
		return NULL;
	}
	return v;
}

/* fed_list_add - one string onto a bounded list */
static int
fed_list_add(char ***list, size_t *n, size_t max, const char *s)
{
	if (*n >= max)
		return -1;
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = xstrdup(s);
	return 0;
}

/*
 * fed_member_read - one member block, its "member ID" line already read:
 * org, contact, status, then domains, MX hosts and networks, then "end".
 */
static int
fed_member_read(struct fed_rd *r, const char *id, struct fed_member *m,
    char *err, size_t errlen)
{
	const char	*v;
	int		 rv, stage = 0;

	memset(m, 0, sizeof(*m));
	if (!fed_id_valid(id)) {
		fed_err(err, errlen, "line %zu: bad member id", r->lineno);
		return -1;
	}
	memcpy(m->id, id, strlen(id) + 1);
	if ((v = fed_rd_expect(r, "org", err, errlen)) == NULL)
		return -1;
	if (!fed_text_valid(v))
		goto bad;
	m->org = xstrdup(v);
	if ((v = fed_rd_expect(r, "contact", err, errlen)) == NULL)
		return -1;
	if (!fed_text_valid(v))
		goto bad;
	m->contact = xstrdup(v);
	if ((v = fed_rd_expect(r, "status", err, errlen)) == NULL)
		return -1;
	if (strcmp(v, "active") == 0)
		m->status = FED_S_ACTIVE;
	else if (strcmp(v, "suspended") == 0)
		m->status = FED_S_SUSPENDED;
	else
		goto bad;
	for (;;) {
		if ((rv = fed_rd_next(r, err, errlen)) == -1)
			return -1;
		if (rv == 0) {
			fed_err(err, errlen, "member %s: no \"end\" line",
			    m->id);
			return -1;
		}
		if (strcmp(r->line, "end") == 0)
			return 0;
		/* The order is fixed: domains, then MX hosts, then networks. */
		if ((v = fed_rd_kw(r, "domain")) != NULL && stage <= 0) {
			if (!fed_name_valid(v) || fed_list_add(&m->domains,
			    &m->ndomains, FED_DOMAINS_MAX, v) == -1)
				goto bad;
		} else if ((v = fed_rd_kw(r, "mx")) != NULL && stage <= 1) {
			stage = 1;
			if (!fed_name_valid(v) || fed_list_add(&m->mx, &m->nmx,
			    FED_MX_MAX, v) == -1)
				goto bad;
		} else if ((v = fed_rd_kw(r, "net")) != NULL) {
			stage = 2;
			if (m->nnets >= FED_NETS_MAX)
				goto bad;
			m->nets = xreallocarray(m->nets, m->nnets + 1,
			    sizeof(*m->nets));
			if (fed_net_parse(v, &m->nets[m->nnets]) == -1)
				goto bad;
			m->nnets++;
		} else
			goto bad;
	}
 bad:
	fed_err(err, errlen, "line %zu: member %s: bad, misplaced or one too "
	    "many: \"%.60s\"", r->lineno, m->id, r->line);
	return -1;
}

/* fed_members_read - member blocks up to the end or a line not "member" */
static int
fed_members_read(struct fed_rd *r, struct fed_registry *reg, char *err,
    size_t errlen)
{
	const char	*id;
	int		 rv;

	for (;;) {
		if ((rv = fed_rd_next(r, err, errlen)) <= 0)
			return rv;
		if ((id = fed_rd_kw(r, "member")) == NULL) {
			r->pushed = 1;
			return 0;
		}
		if (reg->n >= FED_MEMBERS_MAX) {
			fed_err(err, errlen, "more than %d members",
			    FED_MEMBERS_MAX);
			return -1;
		}
		reg->members = xreallocarray(reg->members, reg->n + 1,
		    sizeof(*reg->members));
		if (fed_member_read(r, id, &reg->members[reg->n], err,
		    errlen) == -1) {
			fed_member_clear(&reg->members[reg->n]);
			return -1;
		}
		reg->n++;
	}
}

/* fed_registry_parse - the operator's registry file */
int
fed_registry_parse(const char *text, size_t len, struct fed_registry *reg,
    char *err, size_t errlen)
{
	struct fed_rd	 r = { .p = text, .end = text + len };

	memset(reg, 0, sizeof(*reg));
	if (fed_rd_next(&r, err, errlen) != 1 ||
	    strcmp(r.line, "aval-federation-registry 1") != 0) {
		fed_err(err, errlen, "not an aval registry (first line)");
		return -1;
	}
	if (fed_members_read(&r, reg, err, errlen) == -1)
		goto fail;
	if (fed_rd_next(&r, err, errlen) != 0) {
		fed_err(err, errlen, "line %zu: not a member block", r.lineno);
		goto fail;
	}
	if (fed_registry_check(reg, err, errlen) == -1)
		goto fail;
	return 0;
 fail:
	fed_registry_clear(reg);
	return -1;
}

/* fed_registry_write - every member block */
void
fed_registry_write(struct buf *b, const struct fed_registry *reg)
{
	char	 net[64];
	size_t	 i, j;

	for (i = 0; i < reg->n; i++) {
		const struct fed_member *m = &reg->members[i];

		buf_printf(b, "member %s\norg %s\ncontact %s\nstatus %s\n",
		    m->id, m->org, m->contact,
		    m->status == FED_S_ACTIVE ? "active" : "suspended");
		for (j = 0; j < m->ndomains; j++)
			buf_printf(b, "domain %s\n", m->domains[j]);
		for (j = 0; j < m->nmx; j++)
			buf_printf(b, "mx %s\n", m->mx[j]);
		for (j = 0; j < m->nnets; j++)
			if (fed_net_format(&m->nets[j], net, sizeof(net)) == 0)
				buf_printf(b, "net %s\n", net);
		buf_addstr(b, "end\n");
	}
}

/* --- the bundle -------------------------------------------------------- */

/* fed_b64_line - 1 if s is a line of PEM body: base64 alphabet, 1-76 */
static int
fed_b64_line(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 76)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") == n;
}

/*
 * fed_pem_read - one PEM block of the given label into a memory BIO: the
 * BEGIN line, base64 lines (no headers: an encrypted or annotated block is
 * not ours), the END line. OpenSSL then decodes it; no base64 here.
 */
static BIO *
fed_pem_read(struct fed_rd *r, const char *label, char *err, size_t errlen)
{
	struct buf	*b;
	char		 begin[64], end[64];
	BIO		*bio = NULL;
	int		 rv;

	snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	snprintf(end, sizeof(end), "-----END %s-----", label);
	if ((rv = fed_rd_next(r, err, errlen)) == -1)
		return NULL;
	if (rv == 0 || strcmp(r->line, begin) != 0) {
		fed_err(err, errlen, "line %zu: expected %s", r->lineno, begin);
		return NULL;
	}
	b = buf_new(4096, FED_PEM_MAX);
	buf_printf(b, "%s\n", begin);
	for (;;) {
		if ((rv = fed_rd_next(r, err, errlen)) == -1)
			goto fail;
		if (rv == 0) {
			fed_err(err, errlen, "%s: no END line", label);
			goto fail;
		}
		if (strcmp(r->line, end) == 0)
			break;
		if (!fed_b64_line(r->line) || buf_printf(b, "%s\n",
		    r->line) == -1) {
			fed_err(err, errlen, "line %zu: bad or too much %s "
			    "data", r->lineno, label);
			goto fail;
		}
	}
	if (buf_printf(b, "%s\n", end) == -1) {
		fed_err(err, errlen, "%s: too large", label);
		goto fail;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || BIO_write(bio, buf_data(b), (int)buf_len(b)) !=
	    (int)buf_len(b)) {
		BIO_free(bio);
		bio = NULL;
		fed_err(err, errlen, "out of memory");
	}
 fail:
	buf_free(b);
	return bio;
}

/* fed_serial_parse - decimal, 1 to 2^63-1, no leading zero or sign */
static int
fed_serial_parse(const char *s, uint64_t *v)
{
	uint64_t	 n = 0;

	if (*s < '1' || *s > '9')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

/* fed_bundle_clear - free a bundle's contents */
void
fed_bundle_clear(struct fed_bundle *b)
{
	free(b->federation);
	fed_registry_clear(&b->reg);
	X509_free(b->ca);
	X509_CRL_free(b->crl);
	memset(b, 0, sizeof(*b));
}

/* fed_bundle_parse - the signed text into b */
int
fed_bundle_parse(const char *text, size_t len, struct fed_bundle *b,
    char *err, size_t errlen)
{
	struct fed_rd	 r = { .p = text, .end = text + len };
	const char	*v;
	BIO		*bio;
	EVP_PKEY	*pk;

	memset(b, 0, sizeof(*b));
	if (len > FED_CONTENT_MAX) {
		fed_err(err, errlen, "content of %zu bytes is over the limit",
		    len);
		return -1;
	}
	if (fed_rd_next(&r, err, errlen) != 1 ||
	    strcmp(r.line, "aval-federation-bundle 1") != 0) {
		fed_err(err, errlen, "not an aval federation bundle, or not "
		    "version 1 (first line)");
		return -1;
	}
	if ((v = fed_rd_expect(&r, "federation", err, errlen)) == NULL)
		goto fail;
	if (!fed_text_valid(v)) {
		fed_err(err, errlen, "line %zu: bad federation name", r.lineno);
		goto fail;
	}
	b->federation = xstrdup(v);
	if ((v = fed_rd_expect(&r, "serial", err, errlen)) == NULL)
		goto fail;
	if (fed_serial_parse(v, &b->serial) == -1) {
		fed_err(err, errlen, "line %zu: bad serial", r.lineno);
		goto fail;
	}
	if ((v = fed_rd_expect(&r, "issued", err, errlen)) == NULL)
		goto fail;
	if (fed_time_parse(v, &b->issued) == -1) {
		fed_err(err, errlen, "line %zu: bad time", r.lineno);
		goto fail;
	}
	if ((v = fed_rd_expect(&r, "expires", err, errlen)) == NULL)
		goto fail;
	if (fed_time_parse(v, &b->expires) == -1) {
		fed_err(err, errlen, "line %zu: bad time", r.lineno);
		goto fail;
	}
	if (b->expires <= b->issued) {
		fed_err(err, errlen, "expires before it was issued");
		goto fail;
	}
	if (fed_members_read(&r, &b->reg, err, errlen) == -1)
		goto fail;
	if (fed_registry_check(&b->reg, err, errlen) == -1)
		goto fail;
	if ((bio = fed_pem_read(&r, "CERTIFICATE", err, errlen)) == NULL)
		goto fail;
	b->ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (b->ca == NULL) {
		fed_err(err, errlen, "the CA certificate does not decode");
		goto fail;
	}
	if ((bio = fed_pem_read(&r, "X509 CRL", err, errlen)) == NULL)
		goto fail;
	b->crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (b->crl == NULL) {
		fed_err(err, errlen, "the CRL does not decode");
		goto fail;
	}
	if (fed_rd_next(&r, err, errlen) != 0) {
		fed_err(err, errlen, "line %zu: text after the CRL", r.lineno);
		goto fail;
	}
	/* A CRL not signed by this CA would revoke nothing that matters. */
	if ((pk = X509_get0_pubkey(b->ca)) == NULL ||
	    X509_NAME_cmp(X509_CRL_get_issuer(b->crl),
	    X509_get_subject_name(b->ca)) != 0 ||
	    X509_CRL_verify(b->crl, pk) != 1) {
		fed_err(err, errlen, "the CRL is not signed by the bundle's CA");
		goto fail;
	}
	ERR_clear_error();
	return 0;
 fail:
	ERR_clear_error();
	fed_bundle_clear(b);
	return -1;
}

/* fed_verdict_str - a word for the log */
const char *
fed_verdict_str(enum fed_verdict v)
{
	switch (v) {
	case FED_V_OK:
		return "ok";
	case FED_V_BADSIG:
		return "bad signature";
	case FED_V_ROLLBACK:
		return "rolled back";
	case FED_V_EXPIRED:
		return "expired";
	case FED_V_MALFORMED:
		return "malformed";
	}
	return "?";
}

/* fed_bundle_verify - signature, signer, content, serial, expiry */
enum fed_verdict
fed_bundle_verify(const unsigned char *der, size_t len, X509 *ca, time_t now,
    uint64_t min_serial, struct fed_bundle *out, char *err, size_t errlen)
{
	return fed_bundle_verify_ex(der, len, ca, now, min_serial, 0, out,
	    err, errlen);
}

enum fed_verdict
fed_bundle_verify_ex(const unsigned char *der, size_t len, X509 *ca,
    time_t now, uint64_t min_serial, int flags, struct fed_bundle *out,
    char *err, size_t errlen)
{
	enum fed_verdict	 v = FED_V_BADSIG;
	BIO			*in = NULL, *content = NULL;
	CMS_ContentInfo		*cms = NULL;
	X509_STORE		*store = NULL;
	STACK_OF(X509)		*certs = NULL, *signers = NULL;
	const ASN1_OBJECT	*ctype;
	char			*text, t[32];
	long			 tlen;
	unsigned long		 e;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > FED_BUNDLE_MAX) {
		fed_err(err, errlen, "bundle of %zu bytes: empty or over the "
		    "%d-byte limit", len, FED_BUNDLE_MAX);
		return FED_V_MALFORMED;
	}
	if ((in = BIO_new_mem_buf(der, (int)len)) == NULL ||
	    (cms = d2i_CMS_bio(in, NULL)) == NULL) {
		fed_err(err, errlen, "not a CMS structure in DER");
		goto done;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    (ctype = CMS_get0_eContentType(cms)) == NULL ||
	    OBJ_obj2nid(ctype) != NID_pkcs7_data ||
	    sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
		fed_err(err, errlen, "not CMS SignedData of data with one "
		    "signer");
		goto done;
	}
	/*
	 * Only the configured CA anchors the chain, and CMS_NOINTERN with
	 * that CA as the only certificate offered means the signer must be
	 * the CA itself: a certificate the CA issued to a member, carried in
	 * the file, cannot sign a bundle.
	 */
	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_add_cert(store, ca) != 1 ||
	    (certs = sk_X509_new_null()) == NULL ||
	    sk_X509_push(certs, ca) == 0 ||
	    (content = BIO_new(BIO_s_mem())) == NULL) {
		fed_err(err, errlen, "out of memory");
		goto done;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), now);
	if (CMS_verify(cms, certs, store, NULL, content,
	    CMS_BINARY | CMS_NOINTERN) != 1) {
		e = ERR_peek_last_error();
		fed_err(err, errlen, "signature does not verify against the "
		    "federation CA (%s)", e ? ERR_reason_error_string(e) : "?");
		goto done;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1 ||
	    X509_cmp(sk_X509_value(signers, 0), ca) != 0) {
		fed_err(err, errlen, "not signed by the federation CA itself");
		goto done;
	}
	v = FED_V_MALFORMED;
	if ((tlen = BIO_get_mem_data(content, &text)) < 0 ||
	    fed_bundle_parse(text, (size_t)tlen, out, err, errlen) == -1)
		goto done;
	if (X509_cmp(out->ca, ca) != 0) {
		fed_err(err, errlen, "the bundle carries another CA "
		    "certificate than the one configured");
		goto clear;
	}
	if (out->serial < min_serial) {
		fed_err(err, errlen, "serial %llu is older than %llu, the "
		    "last one accepted (rollback)",
		    (unsigned long long)out->serial,
		    (unsigned long long)min_serial);
		v = FED_V_ROLLBACK;
		goto clear;
	}
	if (out->expires <= now) {
		fed_time_format(out->expires, t, sizeof(t));
		fed_err(err, errlen, "expired at %s", t);
		v = FED_V_EXPIRED;
		if (flags & FED_VF_KEEP_EXPIRED)
			goto done;
		goto clear;
	}
	v = FED_V_OK;
	goto done;
 clear:
	fed_bundle_clear(out);
 done:
	ERR_clear_error();
	sk_X509_free(signers);
	sk_X509_free(certs);
	X509_STORE_free(store);
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return v;
}
