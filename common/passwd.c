/*
 * passwd - the password map for SMTP AUTH
 *
 * Entries live in one array sorted by user name, so a lookup is a binary
 * search and a duplicate is two neighbours. A load builds a whole new
 * array and swaps it in only when the text had no error.
 */
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/conf_priv.h"
#include "common/passwd.h"
#include "common/xmalloc.h"

#define PASSWD_ERR_MAX		512	/* one message, before file:line */

/*
 * crypt_rn() fails on a longer passphrase; it must never fail for a known
 * user where it would not for an unknown one, or a 454 would tell them
 * apart.
 */
_Static_assert(PASSWD_PASS_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
    "PASSWD_PASS_MAX over libxcrypt's limit");

/*
 * What an unknown user's password is hashed against: a yescrypt hash made
 * by crypt_gensalt_rn("$y$", 0, ...) (the cost avalctl passwd uses) of 64
 * random hex digits that were thrown away. No password matches it, and the
 * result is never compared to anything that could succeed.
 */
#define PASSWD_DUMMY \
	"$y$j9T$0JGSAIflJQRVPktjeJ5S2/$am9Jke5YTGoItG4MZzNKhlj3gBwS0ZHvcJiCOOCTSC2"

struct passwd_entry {
	char		 *user;		/* canonical: domain after the last '@' lowercased */
	char		 *hash;
	char		**senders;	/* canonical mailboxes and "@domain"s */
	size_t		  nsenders;	/* 0: the default (the name, if a mailbox) */
	int		  line;		/* in the text it was loaded from */
};

struct passwd {
	struct passwd_entry	*e;
	size_t			 n;
};

static void	 passwd_entry_clear(struct passwd_entry *);
static void	 passwd_entries_free(struct passwd_entry *, size_t);
static int	 passwd_is_b64(int);
static int	 passwd_b64_run(const char *, size_t);
static const char *passwd_check_hash(const char *);
static void	 passwd_lower_domain(char *);
static int	 passwd_check_user(const char *, size_t, char *, size_t);
static int	 passwd_add_sender(struct passwd_entry *, const char *, size_t,
		    char *, size_t);
static int	 passwd_parse_line(struct passwd_entry *, char *, char *,
		    size_t);
static int	 passwd_cmp(const void *, const void *);
static const struct passwd_entry *passwd_lookup(const struct passwd *,
		    const char *);
static int	 passwd_mailbox_eq(const char *, const char *);

/* passwd_new - an empty map */
struct passwd *
passwd_new(void)
{
	return xcalloc(1, sizeof(struct passwd));
}

static void
passwd_entry_clear(struct passwd_entry *e)
{
	size_t	 i;

	free(e->user);
	free(e->hash);
	for (i = 0; i < e->nsenders; i++)
		free(e->senders[i]);
	free(e->senders);
	memset(e, 0, sizeof(*e));
}

static void
passwd_entries_free(struct passwd_entry *e, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		passwd_entry_clear(&e[i]);
	free(e);
}

/* passwd_free - free the map and every entry */
void
passwd_free(struct passwd *pw)
{
	if (pw == NULL)
		return;
	passwd_entries_free(pw->e, pw->n);
	free(pw);
}

/* The crypt alphabet ("./0-9A-Za-z"); bcrypt orders it otherwise, same set. */
static int
passwd_is_b64(int c)
{
	return c == '.' || c == '/' || (c >= '0' && c <= '9') ||
	    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* How many leading octets of s, at most n, are of the crypt alphabet. */
static int
passwd_b64_run(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && s[i] != '\0' && passwd_is_b64((unsigned char)s[i]);
	    i++)
		;
	return (int)i;
}

/*
 * passwd_check_hash - NULL if hash has the shape of an accepted method,
 * else why not. The shapes are those libxcrypt writes:
 *
 *	$y$<params>$<salt>$<43>		yescrypt
 *	$2b$<cost 04..31>$<53>		bcrypt (22 of salt, 31 of hash)
 *	$6$[rounds=<n>$]<salt>$<86>	sha512crypt, salt 1 to 16
 *
 * A hash that has the shape but not the content (a salt libcrypt cannot
 * read) makes passwd_verify() return -1, which the session answers with a
 * temporary failure: loud in the logs, never a way in.
 */
static const char *
passwd_check_hash(const char *h)
{
	const char	*p;
	size_t		 n;
	int		 cost;

	if (*h == '\0')
		return "empty password hash (a user without a password "
		    "cannot log in: remove the line)";
	if (strncmp(h, "$y$", 3) == 0) {
		p = h + 3;
		if ((n = passwd_b64_run(p, SIZE_MAX)) == 0 || p[n] != '$')
			return "malformed yescrypt hash (parameters)";
		p += n + 1;
		if ((n = passwd_b64_run(p, SIZE_MAX)) == 0 || p[n] != '$')
			return "malformed yescrypt hash (salt)";
		p += n + 1;
		if (passwd_b64_run(p, SIZE_MAX) != 43 || p[43] != '\0')
			return "malformed yescrypt hash (hash)";
		return NULL;
	}
	if (strncmp(h, "$2b$", 4) == 0) {
		p = h + 4;
		if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' ||
		    p[2] != '$')
			return "malformed bcrypt hash (cost)";
		cost = (p[0] - '0') * 10 + (p[1] - '0');
		if (cost < 4 || cost > 31)
			return "bcrypt cost out of range (04 to 31)";
		p += 3;
		if (passwd_b64_run(p, SIZE_MAX) != 53 || p[53] != '\0')
			return "malformed bcrypt hash (salt and hash)";
		return NULL;
	}
	if (strncmp(h, "$6$", 3) == 0) {
		p = h + 3;
		if (strncmp(p, "rounds=", 7) == 0) {
			p += 7;
			for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
				;
			if (n == 0 || n > 9 || p[n] != '$' || p[0] == '0')
				return "malformed sha512crypt hash (rounds)";
			p += n + 1;
		}
		if ((n = passwd_b64_run(p, 17)) == 0 || n > 16 || p[n] != '$')
			return "malformed sha512crypt hash (salt)";
		p += n + 1;
		if (passwd_b64_run(p, SIZE_MAX) != 86 || p[86] != '\0')
			return "malformed sha512crypt hash (hash)";
		return NULL;
	}
	if (h[0] == '!' || h[0] == '*')
		return "locked or disabled hash is not accepted: remove the "
		    "line to stop the user logging in";
	if (strncmp(h, "$1$", 3) == 0)
		return "MD5 crypt ($1$) is not accepted: make a yescrypt "
		    "hash with avalctl passwd";
	if (strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$2y$", 4) == 0 ||
	    strncmp(h, "$2x$", 4) == 0)
		return "bcrypt is accepted only as $2b$: make a yescrypt "
		    "hash with avalctl passwd";
	if (h[0] != '$')
		return "DES crypt is not accepted: make a yescrypt hash with "
		    "avalctl passwd";
	return "hash method not accepted (yescrypt $y$, bcrypt $2b$ or "
	    "sha512crypt $6$ are): make one with avalctl passwd";
}

/* passwd_lower_domain - lowercase what follows the last '@', in place */
static void
passwd_lower_domain(char *s)
{
	char	*p;

	if ((p = strrchr(s, '@')) == NULL)
		return;
	for (p++; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* passwd_check_user - 0 if the n octets at s may be a user name */
static int
passwd_check_user(const char *s, size_t n, char *err, size_t errlen)
{
	size_t	 i;

	if (n == 0) {
		snprintf(err, errlen, "empty user name");
		return -1;
	}
	if (n > PASSWD_USER_MAX) {
		snprintf(err, errlen, "user name longer than %d octets",
		    PASSWD_USER_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) {
			snprintf(err, errlen, "user name holds a blank, a "
			    "control character or non-ASCII octet "
			    "(at %zu)", i + 1);
			return -1;
		}
	return 0;
}

/* passwd_add_sender - check one list element and append its canonical form */
static int
passwd_add_sender(struct passwd_entry *e, const char *s, size_t n,
    char *err, size_t errlen)
{
	char		 path[ADDR_PATH_MAX + 3], canon[ADDR_MAX + 1];
	const char	*rest, *why;
	char		*v;

	if (n == 0) {
		snprintf(err, errlen, "empty sender in the list");
		return -1;
	}
	if (s[0] == '@') {
		v = xstrndup(s, n);
		if (!addr_is_domain(v + 1)) {
			snprintf(err, errlen, "sender \"%s\" is not @ and a "
			    "domain", v);
			free(v);
			return -1;
		}
		passwd_lower_domain(v);
	} else {
		if (n > ADDR_PATH_MAX || memchr(s, '<', n) != NULL ||
		    memchr(s, '>', n) != NULL ||
		    snprintf(path, sizeof(path), "<%.*s>", (int)n, s) >=
		    (int)sizeof(path) || addr_parse_path(path, 0, canon,
		    sizeof(canon), &rest, NULL, &why) == -1 || *rest != '\0') {
			snprintf(err, errlen, "sender \"%.*s\" is not a "
			    "mailbox or @domain", (int)(n > 80 ? 80 : n), s);
			return -1;
		}
		v = xstrdup(canon);
	}
	e->senders = xreallocarray(e->senders, e->nsenders + 1,
	    sizeof(*e->senders));
	e->senders[e->nsenders++] = v;
	return 0;
}

/*
 * passwd_parse_line - fill e from one line (NUL-terminated, trimmed, not a
 * comment). Returns 0, or -1 with err and e holding what must be freed.
 */
static int
passwd_parse_line(struct passwd_entry *e, char *line, char *err,
    size_t errlen)
{
	char		 path[ADDR_PATH_MAX + 3], canon[ADDR_MAX + 1];
	const char	*rest, *why, *why_hash;
	char		*hash, *list, *p, *q, *end;

	if ((hash = strchr(line, ':')) == NULL) {
		snprintf(err, errlen, "no ':' after the user name "
		    "(want user:hash[:senders])");
		return -1;
	}
	*hash++ = '\0';
	if (passwd_check_user(line, strlen(line), err, errlen) == -1)
		return -1;
	if ((list = strchr(hash, ':')) != NULL)
		*list++ = '\0';
	if ((why_hash = passwd_check_hash(hash)) != NULL) {
		snprintf(err, errlen, "%s", why_hash);
		return -1;
	}
	e->user = xstrdup(line);
	passwd_lower_domain(e->user);
	e->hash = xstrdup(hash);

	if (list == NULL) {
		/* The default: the name itself, so it must be a mailbox. */
		if (strchr(e->user, '@') == NULL)
			return 0;
		if (snprintf(path, sizeof(path), "<%s>", e->user) >=
		    (int)sizeof(path) || addr_parse_path(path, 0, canon,
		    sizeof(canon), &rest, NULL, &why) == -1 || *rest != '\0' ||
		    strcmp(canon, e->user) != 0) {
			snprintf(err, errlen, "user name \"%s\" has '@' but is "
			    "not a mailbox: give a sender list", e->user);
			return -1;
		}
		return 0;
	}
	if (strchr(list, ':') != NULL) {
		snprintf(err, errlen, "more than three ':'-separated fields");
		return -1;
	}
	for (p = list;; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		while (*p == ' ' || *p == '\t')
			p++;
		for (q = end; q > p && (q[-1] == ' ' || q[-1] == '\t'); q--)
			;
		if (passwd_add_sender(e, p, (size_t)(q - p), err,
		    errlen) == -1)
			return -1;
		if (*end == '\0')
			break;
	}
	return 0;
}

static int
passwd_cmp(const void *a, const void *b)
{
	const struct passwd_entry	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->user, y->user)) != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* passwd_load_text - replace the entries with those of text, or change nothing */
int
passwd_load_text(struct passwd *pw, const char *text, size_t len,
    const char *filename, struct conf_errors *errs)
{
	struct passwd_entry	*e = NULL, ent;
	const char		*p, *nl, *end = text + len;
	char			 line[PASSWD_LINE_MAX + 1], err[PASSWD_ERR_MAX];
	char			*s;
	size_t			 n = 0, i, llen;
	int			 lineno = 0, bad = 0;

	for (p = text; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		llen = (size_t)(nl - p);
		if (llen > PASSWD_LINE_MAX) {
			conf_errors_add(errs, filename, lineno, "line longer "
			    "than %d octets", PASSWD_LINE_MAX);
			bad = 1;
			continue;
		}
		if (memchr(p, '\0', llen) != NULL) {
			conf_errors_add(errs, filename, lineno, "NUL octet in "
			    "the line");
			bad = 1;
			continue;
		}
		memcpy(line, p, llen);
		line[llen] = '\0';
		while (llen > 0 && (line[llen - 1] == '\r' ||
		    line[llen - 1] == ' ' || line[llen - 1] == '\t'))
			line[--llen] = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (*s == '\0' || *s == '#')
			continue;

		memset(&ent, 0, sizeof(ent));
		ent.line = lineno;
		if (passwd_parse_line(&ent, s, err, sizeof(err)) == -1) {
			conf_errors_add(errs, filename, lineno, "%s", err);
			passwd_entry_clear(&ent);
			bad = 1;
			continue;
		}
		e = xreallocarray(e, n + 1, sizeof(*e));
		e[n++] = ent;
	}
	/* The line buffer held hashes only, but it costs nothing to wipe. */
	OPENSSL_cleanse(line, sizeof(line));

	if (n > 1)
		qsort(e, n, sizeof(*e), passwd_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(e[i - 1].user, e[i].user) == 0) {
			conf_errors_add(errs, filename, e[i].line, "duplicate "
			    "user \"%s\" (first on line %d)", e[i].user,
			    e[i - 1].line);
			bad = 1;
		}
	if (bad) {
		passwd_entries_free(e, n);
		return -1;
	}
	passwd_entries_free(pw->e, pw->n);
	pw->e = e;
	pw->n = n;
	return 0;
}

/* passwd_load_file - read path (at most PASSWD_FILE_MAX) and load its text */
int
passwd_load_file(struct passwd *pw, const char *path,
    struct conf_errors *errs)
{
	struct buf	*b;
	char		 chunk[8192];
	ssize_t		 r;
	int		 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		conf_errors_add(errs, path, 0, "cannot open: %s",
		    strerror(errno));
		return -1;
	}
	b = buf_new(sizeof(chunk), PASSWD_FILE_MAX);
	for (;;) {
		if ((r = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			conf_errors_add(errs, path, 0, "cannot read: %s",
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		if (buf_add(b, chunk, (size_t)r) == -1) {
			conf_errors_add(errs, path, 0, "larger than %d bytes",
			    PASSWD_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	rc = passwd_load_text(pw, buf_data(b), buf_len(b), path, errs);
	buf_free(b);
	return rc;
fail:
	buf_free(b);
	close(fd);
	return -1;
}

/* passwd_count - how many users */
size_t
passwd_count(const struct passwd *pw)
{
	return pw->n;
}

/* passwd_items - every entry as a canonical line, in user order */
void
passwd_items(const struct passwd *pw, passwd_item_cb cb, void *arg)
{
	struct buf	*b;
	size_t		 i, j;
	int		 rc;

	b = buf_new(256, PASSWD_LINE_MAX + 1);
	for (i = 0; i < pw->n; i++) {
		buf_reset(b);
		rc = buf_printf(b, "%s:%s", pw->e[i].user, pw->e[i].hash);
		for (j = 0; rc == 0 && j < pw->e[i].nsenders; j++)
			rc = buf_printf(b, "%c%s", j == 0 ? ':' : ',',
			    pw->e[i].senders[j]);
		/* Canonical forms are never longer than what was loaded. */
		if (rc == -1 || buf_len(b) > PASSWD_LINE_MAX)
			fatalx("%s: line for \"%s\" too long", __func__,
			    pw->e[i].user);
		cb(buf_data(b), arg);
	}
	buf_free(b);
}

/* passwd_lookup - the entry of user (any case of its domain), or NULL */
static const struct passwd_entry *
passwd_lookup(const struct passwd *pw, const char *user)
{
	char	 name[PASSWD_USER_MAX + 1];
	size_t	 lo, hi, mid;
	int	 c;

	if (strlcpy(name, user, sizeof(name)) >= sizeof(name))
		return NULL;
	passwd_lower_domain(name);
	lo = 0;
	hi = pw->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(name, pw->e[mid].user)) == 0)
			return &pw->e[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* passwd_verify - 1 right password, 0 wrong or no such user, -1 libcrypt failed */
int
passwd_verify(const struct passwd *pw, const char *user, const char *pass,
    size_t passlen)
{
	const struct passwd_entry	*e;
	struct crypt_data		*cd;
	char				 phrase[PASSWD_PASS_MAX + 1];
	const char			*out;
	size_t				 hlen;
	int				 usable = 1, rc;

	/*
	 * Whatever is wrong with the input, hash something: the time of the
	 * answer must not depend on which check failed.
	 */
	if (passlen > PASSWD_PASS_MAX) {
		usable = 0;
		passlen = PASSWD_PASS_MAX;
	}
	memcpy(phrase, pass, passlen);
	phrase[passlen] = '\0';
	if (memchr(phrase, '\0', passlen) != NULL)
		usable = 0;
	e = passwd_lookup(pw, user);

	cd = xcalloc(1, sizeof(*cd));
	out = crypt_rn(phrase, e != NULL ? e->hash : PASSWD_DUMMY, cd,
	    sizeof(*cd));
	if (out == NULL || out[0] == '*')
		rc = e != NULL ? -1 : 0;
	else if (e == NULL || !usable)
		rc = 0;
	else {
		hlen = strlen(e->hash);
		rc = strlen(out) == hlen &&
		    CRYPTO_memcmp(out, e->hash, hlen) == 0;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	OPENSSL_cleanse(phrase, sizeof(phrase));
	return rc;
}

/*
 * passwd_mailbox_eq - 1 if canonical mailboxes a and b are one: local
 * parts exact (RFC 5321 leaves their case to the receiving host, and the
 * stricter reading is the safe one for a sender grant), domains without
 * regard to case.
 */
static int
passwd_mailbox_eq(const char *a, const char *b)
{
	const char	*da, *db;

	da = strrchr(a, '@');
	db = strrchr(b, '@');
	if (da == NULL || db == NULL || da - a != db - b)
		return 0;
	return memcmp(a, b, (size_t)(da - a)) == 0 &&
	    strcasecmp(da + 1, db + 1) == 0;
}

/* passwd_sender_allowed - 1 if user may send as mailbox */
int
passwd_sender_allowed(const struct passwd *pw, const char *user,
    const char *mailbox)
{
	const struct passwd_entry	*e;
	const char			*dom;
	size_t				 i;

	if (mailbox[0] == '\0' || strcmp(mailbox, "<>") == 0)
		return 1;
	if ((e = passwd_lookup(pw, user)) == NULL)
		return 0;
	if (e->nsenders == 0)
		return strchr(e->user, '@') != NULL &&
		    passwd_mailbox_eq(e->user, mailbox);
	if ((dom = strrchr(mailbox, '@')) == NULL)
		return 0;
	for (i = 0; i < e->nsenders; i++) {
		if (e->senders[i][0] == '@') {
			if (strcasecmp(e->senders[i] + 1, dom + 1) == 0)
				return 1;
		} else if (passwd_mailbox_eq(e->senders[i], mailbox))
			return 1;
	}
	return 0;
}
