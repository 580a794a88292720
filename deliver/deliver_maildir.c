/*
 * deliver_maildir - local delivery into Maildir folders
 *
 * Trust: the recipient came through smtpd's address parser and the queue,
 * but it still names a directory here, so addr_local_safe() decides
 * whether its local part may, and the domain gets the same checks before
 * either becomes a path. Paths are relative to rootfd and built with
 * snprintf, checked for truncation.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_maildir.h"

#define DELIVER_MAILDIR_WBUF	(64 * 1024)	/* write() size */
#define DELIVER_MAILDIR_HOST	(DELIVER_HOSTNAME_SIZE * 4)	/* escaped */

static unsigned int	 deliver_maildir_counter;

struct deliver_maildir_out {
	int	 fd;
	size_t	 len;
	char	 buf[DELIVER_MAILDIR_WBUF];
};

/* deliver_maildir_result - one recipient's result */
static void
deliver_maildir_result(struct deliver_rcpt *r, enum deliver_status status,
    const char *dsn, const char *text)
{
	if (r->final)
		fatalx("%s: recipient <%s> already final", __func__, r->addr);
	r->final = 1;
	r->status = status;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	free(r->text);
	r->text = xstrdup(text);
}

/* deliver_maildir_flush - write out what is buffered; -1 with errno */
static int
deliver_maildir_flush(struct deliver_maildir_out *o)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < o->len) {
		n = write(o->fd, o->buf + off, o->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)n;
	}
	o->len = 0;
	return 0;
}

/* deliver_maildir_add - buffer bytes, writing when full; -1 with errno */
static int
deliver_maildir_add(struct deliver_maildir_out *o, const char *p, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (o->len == sizeof(o->buf) && deliver_maildir_flush(o) == -1)
			return -1;
		k = sizeof(o->buf) - o->len;
		if (k > n)
			k = n;
		memcpy(o->buf + o->len, p, k);
		o->len += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* deliver_maildir_body - the body with CRLF made LF; -1 with errno */
static int
deliver_maildir_body(struct deliver_maildir_out *o, const struct buf *body)
{
	const char	*p = buf_data(body), *q;
	size_t		 n = buf_len(body), len;

	while ((q = memmem(p, n, "\r\n", 2)) != NULL) {
		len = (size_t)(q - p);
		if (deliver_maildir_add(o, p, len) == -1 ||
		    deliver_maildir_add(o, "\n", 1) == -1)
			return -1;
		p += len + 2;
		n -= len + 2;
	}
	if (deliver_maildir_add(o, p, n) == -1)
		return -1;
	return deliver_maildir_flush(o);
}

/*
 * deliver_maildir_name - a lowercased copy of a path component, or -1 if
 * it may not be one: empty, too long, "." or ".." or any leading dot, a
 * '/', or anything outside printable ASCII.
 */
static int
deliver_maildir_name(char *out, size_t outlen, const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || n >= outlen || p[0] == '.')
		return -1;
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126 ||
		    p[i] == '/')
			return -1;
		out[i] = (char)tolower((unsigned char)p[i]);
	}
	out[n] = '\0';
	return 0;
}

/* deliver_maildir_mkdirs - dir, its parent, and tmp, new, cur under it */
static int
deliver_maildir_mkdirs(int rootfd, const char *dom, const char *dir)
{
	static const char	*const sub[] = { "tmp", "new", "cur" };
	char			 path[PATH_MAX];
	size_t			 i;

	if (mkdirat(rootfd, dom, 0700) == -1 && errno != EEXIST)
		return -1;
	if (mkdirat(rootfd, dir, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    sub[i]) >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdirat(rootfd, path, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/*
 * deliver_maildir_host - the hostname for unique names, with '/' and ':'
 * written as "\057" and "\072" as the Maildir convention asks.
 */
static void
deliver_maildir_host(char *out, size_t outlen, const char *hostname)
{
	size_t	 o = 0;
	const char *p;

	for (p = hostname; *p != '\0' && o + 5 < outlen; p++) {
		if (*p == '/') {
			memcpy(out + o, "\\057", 4);
			o += 4;
		} else if (*p == ':') {
			memcpy(out + o, "\\072", 4);
			o += 4;
		} else
			out[o++] = *p;
	}
	out[o] = '\0';
}

/* deliver_maildir_one - one recipient's copy */
static void
deliver_maildir_one(struct deliver_job *job, struct deliver_rcpt *r,
    int rootfd, const char *host, struct deliver_maildir_out *o)
{
	char		 dom[ADDR_DOMAIN_MAX + 1], local[ADDR_LOCAL_MAX + 1];
	char		 dir[PATH_MAX], name[PATH_MAX], tmp[PATH_MAX];
	char		 dst[PATH_MAX], newdir[PATH_MAX];
	char		 text[DELIVER_TEXT_MAX];
	const char	*domain, *at, *op = "", *path = "";
	struct timeval	 tv;
	int		 fd = -1, dfd, made = 0, saved;
	size_t		 n;

	if (!addr_local_safe(r->addr)) {
		deliver_maildir_result(r, DELIVER_BOUNCED, "5.1.3",
		    "local part cannot name a mailbox");
		return;
	}
	domain = addr_domain(r->addr);
	if (*domain == '\0')
		domain = job->domain;
	at = strrchr(r->addr, '@');
	n = at != NULL ? (size_t)(at - r->addr) : strlen(r->addr);
	if (deliver_maildir_name(dom, sizeof(dom), domain,
	    strlen(domain)) == -1) {
		deliver_maildir_result(r, DELIVER_BOUNCED, "5.1.2",
		    "domain cannot name a mail directory");
		return;
	}
	if (deliver_maildir_name(local, sizeof(local), r->addr, n) == -1) {
		deliver_maildir_result(r, DELIVER_BOUNCED, "5.1.3",
		    "local part cannot name a mailbox");
		return;
	}

	gettimeofday(&tv, NULL);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", dom, local) >=
	    sizeof(dir) ||
	    (size_t)snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++deliver_maildir_counter, host) >= sizeof(name) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name) >=
	    sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/new/%s", dir, name) >=
	    sizeof(dst) ||
	    (size_t)snprintf(newdir, sizeof(newdir), "%s/new", dir) >=
	    sizeof(newdir)) {
		errno = ENAMETOOLONG;
		op = "name";
		path = dir;
		goto fail;
	}

	op = "create";
	path = tmp;
	fd = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1 && errno == ENOENT) {
		op = "mkdir";
		path = dir;
		if (deliver_maildir_mkdirs(rootfd, dom, dir) == -1)
			goto fail;
		op = "create";
		path = tmp;
		fd = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd == -1)
		goto fail;
	made = 1;

	op = "write";
	o->fd = fd;
	o->len = 0;
	if (deliver_maildir_add(o, "Return-Path: <", 14) == -1 ||
	    deliver_maildir_add(o, job->sender, strlen(job->sender)) == -1 ||
	    deliver_maildir_add(o, ">\nDelivered-To: ", 16) == -1 ||
	    deliver_maildir_add(o, r->addr, strlen(r->addr)) == -1 ||
	    deliver_maildir_add(o, "\n", 1) == -1 ||
	    deliver_maildir_body(o, job->body) == -1)
		goto fail;
	op = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	op = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;

	/*
	 * The name is unique (time, pid, counter) and the file was made with
	 * O_EXCL, so rename() cannot replace another message.
	 */
	op = "rename";
	path = dst;
	if (renameat(rootfd, tmp, rootfd, dst) == -1) {
		/* Someone removed new/ since tmp/ was there: make it again. */
		if (errno != ENOENT ||
		    deliver_maildir_mkdirs(rootfd, dom, dir) == -1 ||
		    renameat(rootfd, tmp, rootfd, dst) == -1)
			goto fail;
	}
	made = 0;

	/* The rename is durable only once the directory is synced. */
	op = "fsync";
	path = newdir;
	if ((dfd = openat(rootfd, newdir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		goto fail;
	if (fsync(dfd) == -1) {
		saved = errno;
		close(dfd);
		errno = saved;
		goto fail;
	}
	close(dfd);
	deliver_maildir_result(r, DELIVER_SENT, "2.0.0",
	    "delivered to maildir");
	return;

fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (made)
		unlinkat(rootfd, tmp, 0);
	/* A long path is cut short: the text is for people. */
	if (snprintf(text, sizeof(text), "maildir delivery failed: %s %s: %s",
	    op, path, strerror(saved)) < 0)
		strlcpy(text, "maildir delivery failed", sizeof(text));
	deliver_maildir_result(r, DELIVER_DEFERRED, "4.3.0", text);
}

/* deliver_maildir_run - deliver to every recipient's Maildir */
void
deliver_maildir_run(struct deliver_job *job, int rootfd, const char *hostname)
{
	struct deliver_maildir_out	*o;
	char				 host[DELIVER_MAILDIR_HOST];
	uint32_t			 i;

	strlcpy(job->relay, "maildir", sizeof(job->relay));
	gettimeofday(&job->t_conn, NULL);
	deliver_maildir_host(host, sizeof(host), hostname);
	o = xmalloc(sizeof(*o));
	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpts[i].final)
			deliver_maildir_one(job, &job->rcpts[i], rootfd, host,
			    o);
	free(o);
}
