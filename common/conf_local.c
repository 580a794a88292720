/*
 * conf_local - aliases, the mailbox map and catch-all
 *
 * Trust: the files are the operator's, but read as hostile input all the
 * same: every line is bounded (CONF_LOCAL_LINE_MAX), every count is
 * bounded, and every address goes through addr_parse_path(). Expansion is
 * done here, once, with memoised depth-first search: each alias is
 * expanded at most once, a cycle is found the moment the search meets an
 * alias it is still expanding, and the depth and set bounds stop a file
 * that would make the table huge.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/conf.h"
#include "common/conf_local.h"
#include "common/conf_priv.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define CONF_LOCAL_PATH_MAX	1024	/* a mailbox path, before %u */

/* --- a string index: open addressing, power-of-two sized ----------------- */

struct conf_local_ix {
	const char	**keys;		/* borrowed; NULL: empty slot */
	void		**vals;
	size_t		  size;		/* slots */
	size_t		  n;
};

/* conf_local_hash - FNV-1a of the lowercased string */
static uint64_t
conf_local_hash(const char *s)
{
	uint64_t	 h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return h;
}

/* conf_local_ix_find - the value for key (any case), or NULL */
static void *
conf_local_ix_find(const struct conf_local_ix *ix, const char *key)
{
	size_t	 i;

	if (ix->size == 0)
		return NULL;
	for (i = conf_local_hash(key) & (ix->size - 1); ix->keys[i] != NULL;
	    i = (i + 1) & (ix->size - 1))
		if (strcasecmp(ix->keys[i], key) == 0)
			return ix->vals[i];
	return NULL;
}

/* conf_local_ix_put - add key (not there yet), growing at half full */
static void
conf_local_ix_put(struct conf_local_ix *ix, const char *key, void *val)
{
	struct conf_local_ix	 big;
	size_t			 i;

	if (2 * (ix->n + 1) > ix->size) {
		big.size = ix->size ? ix->size * 2 : 64;
		big.n = 0;
		big.keys = xcalloc(big.size, sizeof(*big.keys));
		big.vals = xcalloc(big.size, sizeof(*big.vals));
		for (i = 0; i < ix->size; i++)
			if (ix->keys[i] != NULL)
				conf_local_ix_put(&big, ix->keys[i],
				    ix->vals[i]);
		free(ix->keys);
		free(ix->vals);
		*ix = big;
	}
	for (i = conf_local_hash(key) & (ix->size - 1); ix->keys[i] != NULL;
	    i = (i + 1) & (ix->size - 1))
		;
	ix->keys[i] = key;
	ix->vals[i] = val;
	ix->n++;
}

static void
conf_local_ix_clear(struct conf_local_ix *ix)
{
	free(ix->keys);
	free(ix->vals);
	memset(ix, 0, sizeof(*ix));
}

/* What a config holds besides its lists: the indexes and list tails. */
struct conf_local_idx {
	struct conf_local_ix	 aliases;	/* name -> struct conf_alias */
	struct conf_local_ix	 mailboxes;	/* addr -> struct conf_mailbox */
	struct conf_local_ix	 domains;	/* mapped domain -> (void *)1 */
	struct conf_alias	*alias_tail;
	struct conf_mailbox	*mailbox_tail;
	size_t			 npairs;	/* alias targets in all */
	size_t			 nmailboxes;
	size_t			 naliases;
};

static struct conf_local_idx *
conf_local_idx(struct conf *c)
{
	if (c->local_idx == NULL)
		c->local_idx = xcalloc(1, sizeof(*c->local_idx));
	return c->local_idx;
}

/* conf_local_free - free the alias and mailbox tables of c */
void
conf_local_free(struct conf *c)
{
	struct conf_alias	*a;
	struct conf_mailbox	*m;
	size_t			 i;

	while ((a = c->aliases) != NULL) {
		c->aliases = a->next;
		for (i = 0; i < a->nto; i++)
			free(a->to[i]);
		free(a->to);
		free(a->name);
		free(a);
	}
	while ((m = c->mailboxes) != NULL) {
		c->mailboxes = m->next;
		free(m->addr);
		free(m->path);
		free(m);
	}
	if (c->local_idx != NULL) {
		conf_local_ix_clear(&c->local_idx->aliases);
		conf_local_ix_clear(&c->local_idx->mailboxes);
		conf_local_ix_clear(&c->local_idx->domains);
		free(c->local_idx);
		c->local_idx = NULL;
	}
}

/* --- names and addresses ------------------------------------------------- */

static void
conf_local_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* conf_local_first_domain - where bare local parts live (as the postmaster) */
static const char *
conf_local_first_domain(const struct conf *c)
{
	return c->local_domains != NULL && c->local_domains->name[0] != '.' ?
	    c->local_domains->name : c->hostname;
}

/*
 * conf_local_addr - s as a canonical mailbox in out: "local@domain" as
 * addr_parse_path() writes it, or a bare local part qualified with dom
 * (NULL: a bare local part is returned bare). Local parts of local domains
 * are lowercased, as Maildir delivery lowercases them. Quoted local parts
 * and sender-specified routing are refused. 0, or -1 with why.
 */
static int
conf_local_addr(const struct conf *c, const char *s, const char *dom,
    char *out, size_t outlen, const char **why)
{
	char		 path[ADDR_PATH_MAX + 8], tmp[ADDR_MAX + 1];
	const char	*rest, *at;
	int		 n, bare;

	*why = "not an address";
	if (strchr(s, '"') != NULL || strchr(s, '\\') != NULL) {
		*why = "quoted local parts are not supported";
		return -1;
	}
	bare = strchr(s, '@') == NULL;
	if (!bare)
		n = snprintf(path, sizeof(path), "<%s>", s);
	else
		n = snprintf(path, sizeof(path), "<%s@%s>", s,
		    dom != NULL ? dom : "localhost");
	if (n < 0 || (size_t)n >= sizeof(path)) {
		*why = "address too long";
		return -1;
	}
	if (addr_parse_path(path, 0, tmp, sizeof(tmp), &rest, NULL,
	    why) == -1 || *rest != '\0' || tmp[0] == '\0')
		return -1;
	if (addr_has_routing(tmp)) {
		*why = "address carries sender-specified routing";
		return -1;
	}
	if (bare && dom == NULL) {
		if ((at = strrchr(tmp, '@')) == NULL)
			return -1;
		n = snprintf(out, outlen, "%.*s", (int)(at - tmp), tmp);
	} else
		n = snprintf(out, outlen, "%s", tmp);
	if (n < 0 || (size_t)n >= outlen) {
		*why = "address too long";
		return -1;
	}
	if (strchr(out, '@') == NULL ||
	    conf_is_local_domain(c, addr_domain(out)) == 1)
		conf_local_lower(out);
	return 0;
}

/* conf_local_name - an alias name: a bare local part or local@ a local domain */
static int
conf_local_name(const struct conf *c, const char *s, char *out,
    size_t outlen, const char **why)
{
	if (conf_local_addr(c, s, NULL, out, outlen, why) == -1)
		return -1;
	if (strchr(out, '@') != NULL &&
	    conf_is_local_domain(c, addr_domain(out)) != 1) {
		*why = "alias for a domain that is not a local domain";
		return -1;
	}
	return 0;
}

/*
 * conf_local_target - an alias target as it is stored: canonical, bare
 * local parts in the first local domain, postmaster@ a local domain made
 * the postmaster's mailbox. 0, or -1 with why.
 */
static int
conf_local_target(const struct conf *c, const char *s, char *out,
    size_t outlen, const char **why)
{
	char	 pm[ADDR_MAX + 1];

	if (conf_local_addr(c, s, conf_local_first_domain(c), out, outlen,
	    why) == -1)
		return -1;
	if (conf_postmaster_rewrite(c, out, pm, sizeof(pm)) == 1) {
		if (strlen(pm) >= outlen) {
			*why = "address too long";
			return -1;
		}
		memcpy(out, pm, strlen(pm) + 1);
		if (conf_is_local_domain(c, addr_domain(out)) == 1)
			conf_local_lower(out);
	}
	return 0;
}

/*
 * conf_local_path_valid - a mailbox map path: relative, components of
 * printable ASCII without blanks, none empty, none starting with '.'
 * (so no "." or ".."), '%' only as "%u" and only when template. 0, or -1
 * with why.
 */
int
conf_local_path_valid(const char *p, int template, const char **why)
{
	size_t	 len = strlen(p);
	int	 start = 1;

	if (len == 0 || len > CONF_LOCAL_PATH_MAX) {
		*why = "mailbox path empty or too long";
		return -1;
	}
	if (p[0] == '/') {
		*why = "mailbox path must be relative to the maildir root";
		return -1;
	}
	for (; *p != '\0'; p++) {
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126) {
			*why = "mailbox path holds a blank or a byte outside "
			    "printable ASCII";
			return -1;
		}
		if (*p == '/') {
			if (start) {
				*why = "mailbox path has an empty component";
				return -1;
			}
			start = 1;
			continue;
		}
		if (start && *p == '.') {
			*why = "mailbox path component starts with '.' "
			    "(\".\", \"..\" and hidden names are refused)";
			return -1;
		}
		start = 0;
		if (*p == '%') {
			if (!template || p[1] != 'u') {
				*why = template ? "only %u may follow '%' in "
				    "a template" : "'%' only in an @domain "
				    "template";
				return -1;
			}
			p++;
		}
	}
	if (start) {
		*why = "mailbox path ends with '/'";
		return -1;
	}
	return 0;
}

/* --- the tables, as items build them ------------------------------------ */

/* conf_local_mark_domain - the domain of addr ("@dom" or "l@dom") is mapped */
static void
conf_local_mark_domain(struct conf *c, const char *addr)
{
	struct conf_local_idx	*ix = conf_local_idx(c);
	const char		*dom = strrchr(addr, '@');

	if (dom == NULL || conf_local_ix_find(&ix->domains, dom + 1) != NULL)
		return;
	conf_local_ix_put(&ix->domains, dom + 1, (void *)1);
}

/* conf_local_add_mailbox - a checked map entry; -1 with err */
static int
conf_local_add_mailbox(struct conf *c, const char *addr, const char *path,
    char *err, size_t errlen)
{
	struct conf_local_idx	*ix = conf_local_idx(c);
	struct conf_mailbox	*m;
	char			 a[ADDR_MAX + 2];
	const char		*why;

	if (addr[0] == '@') {
		if (strlen(addr) > sizeof(a) - 1 ||
		    addr_is_domain(addr + 1) != 1 ||
		    conf_is_local_domain(c, addr + 1) != 1) {
			snprintf(err, errlen, "\"%s\" is not @ a local domain",
			    addr);
			return -1;
		}
		snprintf(a, sizeof(a), "%s", addr);
		conf_local_lower(a);
	} else {
		if (conf_local_addr(c, addr, NULL, a, sizeof(a), &why) == -1) {
			snprintf(err, errlen, "\"%s\": %s", addr, why);
			return -1;
		}
		if (strchr(a, '@') == NULL ||
		    conf_is_local_domain(c, addr_domain(a)) != 1) {
			snprintf(err, errlen, "\"%s\" is not an address in a "
			    "local domain", addr);
			return -1;
		}
	}
	if (conf_local_path_valid(path, a[0] == '@', &why) == -1) {
		snprintf(err, errlen, "\"%s\": %s", path, why);
		return -1;
	}
	if (conf_local_ix_find(&ix->mailboxes, a) != NULL) {
		snprintf(err, errlen, "\"%s\" is mapped twice", a);
		return -1;
	}
	if (ix->nmailboxes >= CONF_MAILBOXES_MAX) {
		snprintf(err, errlen, "more than %d mailbox map entries",
		    CONF_MAILBOXES_MAX);
		return -1;
	}
	m = xcalloc(1, sizeof(*m));
	m->addr = xstrdup(a);
	m->path = xstrdup(path);
	if (ix->mailbox_tail == NULL)
		c->mailboxes = m;
	else
		ix->mailbox_tail->next = m;
	ix->mailbox_tail = m;
	ix->nmailboxes++;
	conf_local_ix_put(&ix->mailboxes, m->addr, m);
	conf_local_mark_domain(c, m->addr);
	return 0;
}

/*
 * conf_local_add_alias_target - one final target of alias name (a new
 * alias unless it is the last one added); both already canonical. -1
 * with err.
 */
static int
conf_local_add_alias_target(struct conf *c, const char *name,
    const char *target, char *err, size_t errlen)
{
	struct conf_local_idx	*ix = conf_local_idx(c);
	struct conf_alias	*a = ix->alias_tail;

	if (a == NULL || strcmp(a->name, name) != 0) {
		if (conf_local_ix_find(&ix->aliases, name) != NULL) {
			snprintf(err, errlen, "alias \"%s\" given twice", name);
			return -1;
		}
		if (ix->naliases >= CONF_ALIASES_MAX) {
			snprintf(err, errlen, "more than %d aliases",
			    CONF_ALIASES_MAX);
			return -1;
		}
		a = xcalloc(1, sizeof(*a));
		a->name = xstrdup(name);
		if (ix->alias_tail == NULL)
			c->aliases = a;
		else
			ix->alias_tail->next = a;
		ix->alias_tail = a;
		ix->naliases++;
		conf_local_ix_put(&ix->aliases, a->name, a);
		if (strchr(a->name, '@') != NULL)
			conf_local_mark_domain(c, a->name);
	}
	if (a->nto >= CONF_ALIAS_TARGETS_MAX ||
	    ix->npairs >= CONF_ALIAS_PAIRS_MAX) {
		snprintf(err, errlen, "alias \"%s\": too many addresses", name);
		return -1;
	}
	a->to = xreallocarray(a->to, a->nto + 1, sizeof(*a->to));
	a->to[a->nto++] = xstrdup(target);
	ix->npairs++;
	return 0;
}

/* conf_local_apply_item - "alias" NAME<tab>TARGET, "mailbox" ADDR<tab>PATH */
int
conf_local_apply_item(struct conf *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	char		 name[ADDR_MAX + 2], target[ADDR_MAX + 1];
	char		*copy, *tab;
	const char	*why;
	int		 rv = -1;

	copy = xstrdup(value);
	if ((tab = strchr(copy, '\t')) == NULL || strchr(tab + 1, '\t')) {
		snprintf(err, errlen, "%s: item is not \"%s\"", key,
		    strcmp(key, "alias") == 0 ? "NAME<tab>TARGET" :
		    "ADDRESS<tab>PATH");
		goto done;
	}
	*tab++ = '\0';
	if (strcmp(key, "mailbox") == 0)
		rv = conf_local_add_mailbox(c, copy, tab, err, errlen);
	else if (conf_local_name(c, copy, name, sizeof(name), &why) == -1 ||
	    conf_local_target(c, tab, target, sizeof(target), &why) == -1)
		snprintf(err, errlen, "alias: %s", why);
	else
		rv = conf_local_add_alias_target(c, name, target, err, errlen);
 done:
	free(copy);
	return rv;
}

/* conf_local_items - every mailbox map entry, then every alias target */
void
conf_local_items(const struct conf *c, conf_item_cb cb, void *arg)
{
	const struct conf_mailbox	*m;
	const struct conf_alias		*a;
	char				 val[ADDR_MAX + CONF_LOCAL_PATH_MAX + 8];
	size_t				 i;

	for (m = c->mailboxes; m != NULL; m = m->next) {
		snprintf(val, sizeof(val), "%s\t%s", m->addr, m->path);
		cb("mailbox", val, arg);
	}
	for (a = c->aliases; a != NULL; a = a->next)
		for (i = 0; i < a->nto; i++) {
			snprintf(val, sizeof(val), "%s\t%s", a->name, a->to[i]);
			cb("alias", val, arg);
		}
}

/* --- lookups ------------------------------------------------------------- */

/* conf_alias_lookup - the alias of addr: exact, then its bare local part */
const struct conf_alias *
conf_alias_lookup(const struct conf *c, const char *addr)
{
	const struct conf_alias	*a;
	const char		*at;
	char			 local[ADDR_LOCAL_MAX + 1];

	if (c->local_idx == NULL || c->aliases == NULL)
		return NULL;
	if ((a = conf_local_ix_find(&c->local_idx->aliases, addr)) != NULL)
		return a;
	if ((at = strrchr(addr, '@')) == NULL ||
	    (size_t)(at - addr) >= sizeof(local) ||
	    conf_is_local_domain(c, at + 1) != 1)
		return NULL;
	memcpy(local, addr, (size_t)(at - addr));
	local[at - addr] = '\0';
	return conf_local_ix_find(&c->local_idx->aliases, local);
}

/* conf_domain_mapped - 1 if the map or an alias@domain names the domain */
int
conf_domain_mapped(const struct conf *c, const char *domain)
{
	if (c->local_idx == NULL)
		return 0;
	return conf_local_ix_find(&c->local_idx->domains, domain) != NULL;
}

/* conf_local_map_find - the map entry for addr, else its @domain, or NULL */
static const struct conf_mailbox *
conf_local_map_find(const struct conf *c, const char *addr)
{
	const struct conf_mailbox	*m;
	const char			*at;

	if (c->local_idx == NULL)
		return NULL;
	if ((m = conf_local_ix_find(&c->local_idx->mailboxes, addr)) != NULL)
		return m;
	if ((at = strrchr(addr, '@')) == NULL)
		return NULL;
	return conf_local_ix_find(&c->local_idx->mailboxes, at);
}

/* conf_local_is_postmaster - 1 if addr is the postmaster's mailbox */
static int
conf_local_is_postmaster(const struct conf *c, const char *addr)
{
	char	 pm[ADDR_MAX + 1];

	if (conf_postmaster(c, pm, sizeof(pm)) == -1)
		return 0;
	return strcasecmp(pm, addr) == 0;
}

/* conf_local_rcpt - is addr a user here? (conf_local.h) */
enum conf_rcpt
conf_local_rcpt(const struct conf *c, const char *addr)
{
	const struct conf_transport	*t;
	const char			*dom = addr_domain(addr);
	char				 pm[ADDR_MAX + 1];

	if (*dom == '\0')	/* <postmaster>, the only bare recipient */
		return CONF_RCPT_KNOWN;
	if (conf_is_local_domain(c, dom) != 1)
		return CONF_RCPT_NOT_LOCAL;
	if (conf_postmaster_rewrite(c, addr, pm, sizeof(pm)) == 1 ||
	    conf_local_is_postmaster(c, addr) ||
	    conf_alias_lookup(c, addr) != NULL ||
	    conf_local_map_find(c, addr) != NULL)
		return CONF_RCPT_KNOWN;
	t = conf_transport_lookup(c, dom);
	/* "maildir PATH" with %u: every local part has its mailbox. */
	if (t != NULL && t->kind == CONF_T_MAILDIR && t->host != NULL)
		return CONF_RCPT_KNOWN;
	if (conf_domain_mapped(c, dom))
		return CONF_RCPT_UNKNOWN;
	if (t != NULL && t->kind != CONF_T_MAILDIR)
		return CONF_RCPT_KNOWN;
	return c->catch_all ? CONF_RCPT_KNOWN : CONF_RCPT_UNKNOWN;
}

/* conf_mailbox_path - the Maildir of addr (conf_local.h) */
int
conf_mailbox_path(const struct conf *c, const char *addr, char *out,
    size_t outlen)
{
	const struct conf_mailbox	*m;
	const struct conf_transport	*t;
	const char			*at = strrchr(addr, '@'), *p;
	char				 local[ADDR_LOCAL_MAX + 1];
	char				 dom[ADDR_DOMAIN_MAX + 1];
	size_t				 o = 0, n;

	if (at == NULL || !addr_local_safe(addr) ||
	    (size_t)(at - addr) >= sizeof(local) ||
	    strlen(at + 1) >= sizeof(dom) || at[1] == '\0' || at[1] == '.')
		return -1;
	memcpy(local, addr, (size_t)(at - addr));
	local[at - addr] = '\0';
	conf_local_lower(local);
	snprintf(dom, sizeof(dom), "%s", at + 1);
	conf_local_lower(dom);
	if (strchr(dom, '/') != NULL)
		return -1;

	if ((m = conf_local_map_find(c, addr)) != NULL)
		p = m->path;
	else if ((t = conf_transport_lookup(c, dom)) != NULL &&
	    t->kind == CONF_T_MAILDIR && t->host != NULL)
		p = t->host;		/* "maildir PATH": a template */
	else {
		if (!conf_local_is_postmaster(c, addr) &&
		    conf_local_rcpt(c, addr) != CONF_RCPT_KNOWN)
			return 0;
		n = (size_t)snprintf(out, outlen, "%s/%s", dom, local);
		return n >= outlen ? -1 : 1;
	}
	for (; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			n = strlen(local);
			if (o + n >= outlen)
				return -1;
			memcpy(out + o, local, n);
			o += n;
			p++;
			continue;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *p;
	}
	out[o] = '\0';
	return 1;
}

/* --- the files ----------------------------------------------------------- */

/*
 * conf_local_line - the next physical line of text: its start and length
 * (without "\n", and without the "\r" of CRLF); 0 at the end. -1 when it
 * is too long or holds a control character other than a tab (the caller
 * reports it, and the reader goes on with the next line).
 */
static int
conf_local_line(const char **pp, const char *end, const char **line,
    size_t *len)
{
	const char	*p = *pp, *nl;
	size_t		 i;
	int		 bad = 0;

	if (p >= end)
		return 0;
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		nl = end;
	*line = p;
	*len = (size_t)(nl - p);
	*pp = nl < end ? nl + 1 : end;
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	if (*len > CONF_LOCAL_LINE_MAX)
		return -1;
	for (i = 0; i < *len; i++)
		if (((unsigned char)p[i] < 32 && p[i] != '\t') ||
		    p[i] == 127)
			bad = 1;
	return bad ? -1 : 1;
}

/* conf_local_blank_or_comment - 1 if the line is all blank or a comment */
static int
conf_local_blank_or_comment(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	return n == 0 || *p == '#';
}

/* conf_local_line_error - the reason a line was refused */
static void
conf_local_line_error(struct conf_errors *errs, const char *name, int line,
    size_t len)
{
	if (len > CONF_LOCAL_LINE_MAX)
		conf_errors_add(errs, name, line, "line longer than %d bytes",
		    CONF_LOCAL_LINE_MAX);
	else
		conf_errors_add(errs, name, line, "control character in line");
}

/* conf_mailbox_map_parse - "address path" lines into c (conf_local.h) */
int
conf_mailbox_map_parse(struct conf *c, const char *name, const char *text,
    size_t len, struct conf_errors *errs)
{
	const char	*p = text, *end = text + len, *l;
	char		 buf[CONF_LOCAL_LINE_MAX + 1], err[CONF_ERR_MAX];
	char		*f[3], *s;
	size_t		 n;
	int		 line = 0, nerr = 0, rc, nf;

	if (memchr(text, '\0', len) != NULL) {
		conf_errors_add(errs, name, 0, "file holds a NUL byte");
		return 1;
	}
	while ((rc = conf_local_line(&p, end, &l, &n)) != 0) {
		line++;
		if (rc == -1) {
			conf_local_line_error(errs, name, line, n);
			nerr++;
			continue;
		}
		if (conf_local_blank_or_comment(l, n))
			continue;
		memcpy(buf, l, n);
		buf[n] = '\0';
		for (nf = 0, s = buf; nf < 3; nf++) {
			s += strspn(s, " \t");
			if (*s == '\0')
				break;
			f[nf] = s;
			s += strcspn(s, " \t");
			if (*s != '\0')
				*s++ = '\0';
		}
		if (nf != 2) {
			conf_errors_add(errs, name, line, "expected \"ADDRESS "
			    "PATH\" or \"@DOMAIN TEMPLATE\"");
			nerr++;
			continue;
		}
		if (conf_local_add_mailbox(c, f[0], f[1], err,
		    sizeof(err)) == -1) {
			conf_errors_add(errs, name, line, "%s", err);
			nerr++;
		}
	}
	return nerr;
}

/* One alias as the file gave it, while the table is expanded. */
struct conf_alias_raw {
	char		*name;
	char		**to;		/* canonical targets, each once */
	size_t		 nto;
	int		 line;
	int		 state;		/* 0 new, 1 being expanded, 2 done */
	int		 failed;	/* an error was reported on the way */
	int		 height;	/* 1: no target is an alias */
	char		**out;		/* the final addresses */
	size_t		 nout;
	struct conf_local_ix outix;	/* out, for duplicates */
};

struct conf_alias_ctx {
	struct conf		*c;
	const char		*file;
	struct conf_errors	*errs;
	struct conf_alias_raw	*raw;
	size_t			 nraw;
	struct conf_local_ix	 ix;		/* name -> raw index + 1 */
	size_t			 stack[CONF_ALIAS_DEPTH_MAX + 1];
	size_t			 npairs;
	int			 nerr;
};

/* conf_alias_find - the raw alias a target is, or -1 (a final address) */
static long
conf_alias_find(const struct conf_alias_ctx *x, const char *t)
{
	const char	*at;
	char		 local[ADDR_LOCAL_MAX + 1];
	uintptr_t	 v;

	if ((v = (uintptr_t)conf_local_ix_find(&x->ix, t)) != 0)
		return (long)v - 1;
	if ((at = strrchr(t, '@')) == NULL ||
	    (size_t)(at - t) >= sizeof(local) ||
	    conf_is_local_domain(x->c, at + 1) != 1)
		return -1;
	memcpy(local, t, (size_t)(at - t));
	local[at - t] = '\0';
	if ((v = (uintptr_t)conf_local_ix_find(&x->ix, local)) != 0)
		return (long)v - 1;
	return -1;
}

/* conf_alias_chain - "a -> b -> c" of the stack from index from, then last */
static void
conf_alias_chain(const struct conf_alias_ctx *x, size_t from, size_t depth,
    const char *last, char *out, size_t outlen)
{
	size_t	 i, o = 0;
	int	 n;

	out[0] = '\0';
	for (i = from; i <= depth; i++) {
		n = snprintf(out + o, outlen - o, "%s -> ",
		    x->raw[x->stack[i]].name);
		if (n < 0 || (size_t)n >= outlen - o)
			return;
		o += (size_t)n;
	}
	snprintf(out + o, outlen - o, "%s", last);
}

/* conf_alias_add_out - add a final address to a, once; -1 when too many */
static int
conf_alias_add_out(struct conf_alias_ctx *x, struct conf_alias_raw *a,
    char *t)
{
	if (conf_local_ix_find(&a->outix, t) != NULL)
		return 0;
	if (a->nout >= CONF_ALIAS_TARGETS_MAX) {
		conf_errors_add(x->errs, x->file, a->line, "alias %s expands "
		    "to more than %d addresses", a->name,
		    CONF_ALIAS_TARGETS_MAX);
		x->nerr++;
		return -1;
	}
	a->out = xreallocarray(a->out, a->nout + 1, sizeof(*a->out));
	a->out[a->nout++] = t;		/* borrowed from a raw target */
	conf_local_ix_put(&a->outix, t, (void *)1);
	return 0;
}

/*
 * conf_alias_expand - the final addresses of raw alias i, reached at this
 * depth of the search; -1 when it failed (reported once, where it was
 * found). Memoised: each alias is expanded once, and an alias met again
 * while still being expanded closes a cycle.
 */
static int
conf_alias_expand(struct conf_alias_ctx *x, size_t i, size_t depth)
{
	struct conf_alias_raw	*a = &x->raw[i], *b;
	char			 chain[1024];
	size_t			 k, m, d;
	long			 j;

	if (a->state == 2)
		return a->failed ? -1 : 0;
	a->state = 1;
	a->height = 1;
	x->stack[depth] = i;
	for (k = 0; k < a->nto && !a->failed; k++) {
		if ((j = conf_alias_find(x, a->to[k])) == -1) {
			if (conf_alias_add_out(x, a, a->to[k]) == -1)
				a->failed = 1;
			continue;
		}
		b = &x->raw[j];
		if (b->state == 1) {
			for (d = 0; d < depth && x->stack[d] != (size_t)j; d++)
				;
			conf_alias_chain(x, d, depth, b->name, chain,
			    sizeof(chain));
			conf_errors_add(x->errs, x->file, b->line,
			    "alias loop: %s", chain);
			x->nerr++;
			for (; d <= depth; d++)
				x->raw[x->stack[d]].failed = 1;
			break;
		}
		if (b->state == 0 && depth + 1 >= CONF_ALIAS_DEPTH_MAX) {
			conf_alias_chain(x, 0, depth, b->name, chain,
			    sizeof(chain));
			conf_errors_add(x->errs, x->file, x->raw[x->stack[0]].line,
			    "aliases nested deeper than %d: %s",
			    CONF_ALIAS_DEPTH_MAX, chain);
			x->nerr++;
			a->failed = 1;
			break;
		}
		if (conf_alias_expand(x, (size_t)j, depth + 1) == -1) {
			a->failed = 1;
			break;
		}
		if (b->height + 1 > a->height)
			a->height = b->height + 1;
		if (a->height > CONF_ALIAS_DEPTH_MAX) {
			conf_errors_add(x->errs, x->file, a->line, "alias %s: "
			    "aliases nested deeper than %d", a->name,
			    CONF_ALIAS_DEPTH_MAX);
			x->nerr++;
			a->failed = 1;
			break;
		}
		for (m = 0; m < b->nout; m++)
			if (conf_alias_add_out(x, a, b->out[m]) == -1) {
				a->failed = 1;
				break;
			}
	}
	/* Duplicates mattered only while a was being expanded. */
	conf_local_ix_clear(&a->outix);
	x->npairs += a->nout;
	a->state = 2;
	return a->failed ? -1 : 0;
}

/*
 * conf_alias_entry - one logical entry, "name: target, ...", into the raw
 * table; the number of errors
 */
static int
conf_alias_entry(struct conf_alias_ctx *x, char *e, int line)
{
	struct conf_alias_raw	*a;
	char			*colon, *t, *next, *end;
	char			 name[ADDR_MAX + 2], tgt[ADDR_MAX + 1];
	const char		*why;
	uintptr_t		 prev;
	size_t			 k;

	if ((colon = strchr(e, ':')) == NULL) {
		conf_errors_add(x->errs, x->file, line, "expected "
		    "\"name: address, ...\"");
		return 1;
	}
	*colon = '\0';
	for (end = colon; end > e && (end[-1] == ' ' || end[-1] == '\t'); )
		*--end = '\0';
	if (conf_local_name(x->c, e, name, sizeof(name), &why) == -1) {
		conf_errors_add(x->errs, x->file, line, "alias name \"%s\": %s",
		    e, why);
		return 1;
	}
	if ((prev = (uintptr_t)conf_local_ix_find(&x->ix, name)) != 0) {
		conf_errors_add(x->errs, x->file, line, "alias %s already "
		    "given on line %d", name, x->raw[prev - 1].line);
		return 1;
	}
	if (x->nraw >= CONF_ALIASES_MAX) {
		conf_errors_add(x->errs, x->file, line, "more than %d aliases",
		    CONF_ALIASES_MAX);
		return 1;
	}
	x->raw = xreallocarray(x->raw, x->nraw + 1, sizeof(*x->raw));
	a = &x->raw[x->nraw];
	memset(a, 0, sizeof(*a));
	a->name = xstrdup(name);
	a->line = line;
	x->nraw++;
	conf_local_ix_put(&x->ix, a->name, (void *)(uintptr_t)x->nraw);

	/* Addresses hold no blank or comma (no quoted local parts). */
	for (t = colon + 1 + strspn(colon + 1, ", \t"); *t != '\0';
	    t = next + strspn(next, ", \t")) {
		next = t + strcspn(t, ", \t");
		end = next;
		if (*next != '\0')
			*next++ = '\0';
		if (*t == '|' || *t == '/' || strncasecmp(t, ":include:",
		    9) == 0) {
			conf_errors_add(x->errs, x->file, line, "alias %s: "
			    "\"%s\": commands, files and includes are not "
			    "supported", name, t);
			return 1;
		}
		if (*t == '<' && end > t + 1 && end[-1] == '>') {
			end[-1] = '\0';
			t++;
		}
		if (conf_local_target(x->c, t, tgt, sizeof(tgt), &why) == -1) {
			conf_errors_add(x->errs, x->file, line, "alias %s: "
			    "\"%s\": %s", name, t, why);
			return 1;
		}
		for (k = 0; k < a->nto; k++)
			if (strcasecmp(a->to[k], tgt) == 0)
				break;
		if (k < a->nto)
			continue;
		if (a->nto >= CONF_ALIAS_TARGETS_MAX) {
			conf_errors_add(x->errs, x->file, line, "alias %s: "
			    "more than %d addresses", name,
			    CONF_ALIAS_TARGETS_MAX);
			return 1;
		}
		a->to = xreallocarray(a->to, a->nto + 1, sizeof(*a->to));
		a->to[a->nto++] = xstrdup(tgt);
	}
	if (a->nto == 0) {
		conf_errors_add(x->errs, x->file, line, "alias %s: no address",
		    name);
		return 1;
	}
	return 0;
}

/* conf_aliases_parse - read, check and expand an alias file (conf_local.h) */
int
conf_aliases_parse(struct conf *c, const char *name, const char *text,
    size_t len, struct conf_errors *errs)
{
	struct conf_alias_ctx	 x;
	struct buf		*e = NULL;
	const char		*p = text, *end = text + len, *l;
	char			 err[CONF_ERR_MAX];
	size_t			 n, i, k;
	int			 line = 0, eline = 0, rc, skip = 0;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.file = name;
	x.errs = errs;
	if (memchr(text, '\0', len) != NULL) {
		conf_errors_add(errs, name, 0, "file holds a NUL byte");
		return 1;
	}
	e = buf_new(256, CONF_ALIAS_ENTRY_MAX);
	for (;;) {
		rc = conf_local_line(&p, end, &l, &n);
		if (rc != 0)
			line++;
		if (rc == -1) {
			conf_local_line_error(errs, name, line, n);
			x.nerr++;
			skip = 1;	/* the entry it belongs to is lost */
			continue;
		}
		if (rc == 1 && conf_local_blank_or_comment(l, n))
			continue;
		if (rc == 1 && (l[0] == ' ' || l[0] == '\t')) {
			if (eline == 0 && !skip) {
				conf_errors_add(errs, name, line, "continuation "
				    "line with no alias before it");
				x.nerr++;
				skip = 1;
			} else if (!skip && (buf_add(e, " ", 1) == -1 ||
			    buf_add(e, l, n) == -1)) {
				conf_errors_add(errs, name, eline, "alias "
				    "entry longer than %d bytes",
				    CONF_ALIAS_ENTRY_MAX);
				x.nerr++;
				skip = 1;
			}
			continue;
		}
		/* A new entry, or the end: the one before is complete. */
		if (eline != 0 && !skip) {
			char	*s = xstrdup(buf_data(e));

			x.nerr += conf_alias_entry(&x, s, eline);
			free(s);
		}
		buf_free(e);
		e = buf_new(256, CONF_ALIAS_ENTRY_MAX);
		eline = 0;
		skip = 0;
		if (rc == 0)
			break;
		eline = line;
		buf_add(e, l, n);
	}
	buf_free(e);

	/* Each failure is reported (and counted) once, where it is found. */
	for (i = 0; i < x.nraw; i++) {
		if (x.raw[i].state == 0)
			conf_alias_expand(&x, i, 0);
		if (x.npairs > CONF_ALIAS_PAIRS_MAX) {
			conf_errors_add(errs, name, x.raw[i].line, "aliases "
			    "expand to more than %d addresses in all",
			    CONF_ALIAS_PAIRS_MAX);
			x.nerr++;
			break;
		}
	}
	if (x.nerr == 0)
		for (i = 0; i < x.nraw; i++)
			for (k = 0; k < x.raw[i].nout; k++)
				if (conf_local_add_alias_target(c,
				    x.raw[i].name, x.raw[i].out[k], err,
				    sizeof(err)) == -1) {
					conf_errors_add(errs, name,
					    x.raw[i].line, "%s", err);
					x.nerr++;
					goto free;
				}
	/*
	 * Every local address an alias ends in must be a user here, now that
	 * the aliases (which map their domains) are known: else the mail
	 * would be accepted and then bounce.
	 */
	if (x.nerr == 0)
		for (i = 0; i < x.nraw; i++)
			for (k = 0; k < x.raw[i].nout; k++)
				if (conf_local_rcpt(c, x.raw[i].out[k]) ==
				    CONF_RCPT_UNKNOWN) {
					conf_errors_add(errs, name,
					    x.raw[i].line, "alias %s: <%s> is "
					    "no user here (not in the mailbox "
					    "map, not an alias, and catch-all "
					    "is off for its domain)",
					    x.raw[i].name, x.raw[i].out[k]);
					x.nerr++;
				}
 free:
	for (i = 0; i < x.nraw; i++) {
		for (k = 0; k < x.raw[i].nto; k++)
			free(x.raw[i].to[k]);
		free(x.raw[i].to);
		free(x.raw[i].out);
		conf_local_ix_clear(&x.raw[i].outix);
		free(x.raw[i].name);
	}
	free(x.raw);
	conf_local_ix_clear(&x.ix);
	return x.nerr;
}

/* conf_local_read - a whole file into a buf; NULL with the error reported */
static struct buf *
conf_local_read(const char *path, const char *conffile, int line,
    const char *what, struct conf_errors *errs)
{
	struct buf	*b;
	FILE		*fp;
	char		 chunk[8192];
	size_t		 n;

	if ((fp = fopen(path, "r")) == NULL) {
		conf_errors_add(errs, conffile, line, "%s \"%s\": cannot "
		    "open: %s", what, path, strerror(errno));
		return NULL;
	}
	b = buf_new(sizeof(chunk), CONF_LOCAL_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_add(b, chunk, n) == -1) {
			conf_errors_add(errs, conffile, line, "%s \"%s\": "
			    "larger than %d bytes", what, path,
			    CONF_LOCAL_FILE_MAX);
			goto fail;
		}
	if (ferror(fp)) {
		conf_errors_add(errs, conffile, line, "%s \"%s\": cannot "
		    "read: %s", what, path, strerror(errno));
		goto fail;
	}
	fclose(fp);
	return b;
 fail:
	fclose(fp);
	buf_free(b);
	return NULL;
}

/* conf_local_load - the mailbox map, then the aliases (conf_local.h) */
int
conf_local_load(struct conf *c, const char *conffile, int aliases_line,
    int map_line, struct conf_errors *errs)
{
	struct buf	*b;
	int		 nerr = 0;

	if (c->mailbox_map[0] != '\0') {
		if ((b = conf_local_read(c->mailbox_map, conffile, map_line,
		    "mailbox-map", errs)) == NULL)
			return 1;
		nerr += conf_mailbox_map_parse(c, c->mailbox_map,
		    buf_data(b), buf_len(b), errs);
		buf_free(b);
	}
	if (nerr == 0 && c->aliases_file[0] != '\0') {
		if ((b = conf_local_read(c->aliases_file, conffile,
		    aliases_line, "aliases", errs)) == NULL)
			return 1;
		nerr += conf_aliases_parse(c, c->aliases_file, buf_data(b),
		    buf_len(b), errs);
		buf_free(b);
	}
	return nerr;
}
