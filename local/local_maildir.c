/*
 * local_maildir - local delivery into Maildir folders
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
#include "common/conf.h"
#include "common/conf_local.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_body.h"
#include "local/local_maildir.h"

#define LOCAL_MAILDIR_WBUF	(64 * 1024)	/* write() size */
#define LOCAL_MAILDIR_HOST	(DELIVER_HOSTNAME_SIZE * 4)	/* escaped */

static unsigned int	 local_maildir_counter;

struct local_maildir_out {
	int	 fd;
	size_t	 len;
	char	 buf[LOCAL_MAILDIR_WBUF];
};

/* One run: the body spooled as it comes, then one copy per recipient. */
struct local_maildir_run {
	struct deliver_job		*job;
	const struct conf		*conf;
	int				 rootfd;
	char				 host[LOCAL_MAILDIR_HOST];
	int				 spool;	/* unlinked; the body, LF ends */
	int				 cr;	/* a piece ended in CR */
	deliver_job_cb			 cb;
	void				*arg;
	struct local_maildir_out	 out;
};

/* local_maildir_result - one recipient's result */
static void
local_maildir_result(struct deliver_rcpt *r, enum deliver_status status,
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

/* local_maildir_flush - write out what is buffered; -1 with errno */
static int
local_maildir_flush(struct local_maildir_out *o)
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

/* local_maildir_add - buffer bytes, writing when full; -1 with errno */
static int
local_maildir_add(struct local_maildir_out *o, const char *p, size_t n)
{
	size_t	 k;

	while (n > 0) {
		if (o->len == sizeof(o->buf) && local_maildir_flush(o) == -1)
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

/*
 * local_maildir_lf - a piece of body with CRLF made LF; a CR that ends
 * the piece waits in *cr for the next one (a CRLF may span two pieces).
 * -1 with errno.
 */
static int
local_maildir_lf(struct local_maildir_out *o, int *cr, const char *p,
    size_t n)
{
	const char	*q;
	size_t		 len;

	if (*cr && n > 0) {
		*cr = 0;
		if (p[0] == '\n') {
			p++;
			n--;
			if (local_maildir_add(o, "\n", 1) == -1)
				return -1;
		} else if (local_maildir_add(o, "\r", 1) == -1)
			return -1;
	}
	while ((q = memmem(p, n, "\r\n", 2)) != NULL) {
		len = (size_t)(q - p);
		if (local_maildir_add(o, p, len) == -1 ||
		    local_maildir_add(o, "\n", 1) == -1)
			return -1;
		p += len + 2;
		n -= len + 2;
	}
	if (n > 0 && p[n - 1] == '\r') {
		*cr = 1;
		n--;
	}
	return local_maildir_add(o, p, n);
}

/* local_maildir_copy - the spooled body after what o holds; -1, errno */
static int
local_maildir_copy(struct local_maildir_out *o, int spool)
{
	off_t	 off = 0;
	ssize_t	 n;

	if (local_maildir_flush(o) == -1)
		return -1;
	for (;;) {
		n = pread(spool, o->buf, sizeof(o->buf), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		o->len = (size_t)n;
		off += n;
		if (local_maildir_flush(o) == -1)
			return -1;
	}
}

/*
 * local_maildir_name - a lowercased copy of a path component, or -1 if
 * it may not be one: empty, too long, "." or ".." or any leading dot, a
 * '/', or anything outside printable ASCII.
 */
static int
local_maildir_name(char *out, size_t outlen, const char *p, size_t n)
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

/* local_maildir_syncdir - fsync() the directory path names; -1, errno */
static int
local_maildir_syncdir(int rootfd, const char *path)
{
	int	 fd, saved;

	if ((fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * local_maildir_mkdir - make path (mode 0700) unless it is there; a
 * directory made is synced into its parent (parentlen bytes of path, 0:
 * the root), so that the entry the message is renamed into survives a
 * crash as the message does. -1 with errno.
 */
static int
local_maildir_mkdir(int rootfd, char *path, size_t parentlen)
{
	char	 c;
	int	 rv;

	if (mkdirat(rootfd, path, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	if (parentlen == 0)
		return local_maildir_syncdir(rootfd, ".");
	c = path[parentlen];
	path[parentlen] = '\0';
	rv = local_maildir_syncdir(rootfd, path);
	path[parentlen] = c;
	return rv;
}

/*
 * local_maildir_mkdirs - every directory of dir (a relative path, as the
 * mailbox map may give several levels), then tmp, new and cur under it
 */
static int
local_maildir_mkdirs(int rootfd, const char *dir)
{
	static const char	*const sub[] = { "tmp", "new", "cur" };
	char			 path[PATH_MAX];
	size_t			 i, parent = 0, len;

	if ((len = strlcpy(path, dir, sizeof(path))) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (local_maildir_mkdir(rootfd, path, parent) == -1)
			return -1;
		if (i < len)
			path[i] = '/';
		parent = i;
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    sub[i]) >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (local_maildir_mkdir(rootfd, path, len) == -1)
			return -1;
	}
	return 0;
}

/*
 * local_maildir_host - the hostname for unique names, with '/' and ':'
 * written as "\057" and "\072" as the Maildir convention asks.
 */
static void
local_maildir_host(char *out, size_t outlen, const char *hostname)
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

/* local_maildir_one - one recipient's copy */
static void
local_maildir_one(struct deliver_job *job, struct deliver_rcpt *r,
    const struct conf *conf, int rootfd, const char *host,
    struct local_maildir_out *o, int spool)
{
	char		 dom[ADDR_DOMAIN_MAX + 1], local[ADDR_LOCAL_MAX + 1];
	char		 dir[PATH_MAX], name[PATH_MAX], tmp[PATH_MAX];
	char		 dst[PATH_MAX], newdir[PATH_MAX];
	char		 text[DELIVER_TEXT_MAX];
	const char	*domain, *at, *op = "", *path = "";
	struct timeval	 tv;
	int		 fd = -1, made = 0, saved;
	size_t		 n;

	if (!addr_local_safe(r->addr)) {
		local_maildir_result(r, DELIVER_BOUNCED, "5.1.3",
		    "local part cannot name a mailbox");
		return;
	}
	domain = addr_domain(r->addr);
	if (*domain == '\0')
		domain = job->domain;
	at = strrchr(r->addr, '@');
	n = at != NULL ? (size_t)(at - r->addr) : strlen(r->addr);
	if (local_maildir_name(dom, sizeof(dom), domain,
	    strlen(domain)) == -1) {
		local_maildir_result(r, DELIVER_BOUNCED, "5.1.2",
		    "domain cannot name a mail directory");
		return;
	}
	if (local_maildir_name(local, sizeof(local), r->addr, n) == -1) {
		local_maildir_result(r, DELIVER_BOUNCED, "5.1.3",
		    "local part cannot name a mailbox");
		return;
	}

	/*
	 * The mailbox map (conf_local.h) names the Maildir; who is no user
	 * here was refused at RCPT, so one found here came by a reload
	 * between the two, and bounces as smtpd would have refused it.
	 */
	switch (conf == NULL ? 2 : conf_mailbox_path(conf, r->addr, dir,
	    sizeof(dir))) {
	case 1:
		break;
	case 0:
		local_maildir_result(r, DELIVER_BOUNCED, "5.1.1",
		    "no such user here");
		return;
	case -1:
		local_maildir_result(r, DELIVER_BOUNCED, "5.1.3",
		    "local part cannot name a mailbox");
		return;
	default:
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", dom, local) >=
		    sizeof(dir)) {
			local_maildir_result(r, DELIVER_BOUNCED, "5.1.3",
			    "mailbox name too long");
			return;
		}
	}

	gettimeofday(&tv, NULL);
	if ((size_t)snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++local_maildir_counter, host) >= sizeof(name) ||
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
		if (local_maildir_mkdirs(rootfd, dir) == -1)
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
	if (local_maildir_add(o, "Return-Path: <", 14) == -1 ||
	    local_maildir_add(o, job->sender, strlen(job->sender)) == -1 ||
	    local_maildir_add(o, ">\nDelivered-To: ", 16) == -1 ||
	    local_maildir_add(o, r->addr, strlen(r->addr)) == -1 ||
	    local_maildir_add(o, "\n", 1) == -1 ||
	    local_maildir_copy(o, spool) == -1)
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
		    local_maildir_mkdirs(rootfd, dir) == -1 ||
		    renameat(rootfd, tmp, rootfd, dst) == -1)
			goto fail;
	}
	made = 0;

	/* The rename is durable only once the directory is synced. */
	op = "fsync";
	path = newdir;
	if (local_maildir_syncdir(rootfd, newdir) == -1)
		goto fail;
	local_maildir_result(r, DELIVER_SENT, "2.0.0",
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
	local_maildir_result(r, DELIVER_DEFERRED, "4.3.0", text);
}

/* local_maildir_defer - every recipient still open is deferred */
static void
local_maildir_defer(struct deliver_job *job, const char *text)
{
	uint32_t	 i;

	for (i = 0; i < job->nrcpt; i++)
		if (!job->rcpts[i].final)
			local_maildir_result(&job->rcpts[i], DELIVER_DEFERRED,
			    "4.3.0", text);
}

/* local_maildir_end - the run is over: free it, hand the job back */
static void
local_maildir_end(struct local_maildir_run *run)
{
	struct deliver_job	*job = run->job;
	deliver_job_cb		 cb = run->cb;
	void			*arg = run->arg;

	deliver_body_set_wake(job, NULL, NULL);
	job->maildir = NULL;
	if (run->spool != -1)
		close(run->spool);
	free(run);
	if (cb != NULL)
		cb(job, arg);
}

/* local_maildir_abort - the job is being dropped: end its run, silently */
void
local_maildir_abort(struct deliver_job *job)
{
	struct local_maildir_run	*run = job->maildir;

	if (run == NULL)
		return;
	run->cb = NULL;
	local_maildir_end(run);
}

/*
 * local_maildir_pump - spool what has come of the body; once it is all
 * there, one copy per recipient, then the end of the run
 */
static void
local_maildir_pump(struct deliver_job *job, void *arg)
{
	struct local_maildir_run	*run = arg;
	struct local_maildir_out	*o = &run->out;
	const void			*p;
	size_t				 n;
	uint32_t			 i;
	char				 text[DELIVER_TEXT_MAX];

	for (;;) {
		switch (deliver_body_get(job, &p, &n)) {
		case DELIVER_BODY_DATA:
			if (local_maildir_lf(o, &run->cr, p, n) == -1)
				goto fail;
			continue;
		case DELIVER_BODY_WAIT:
			return;
		case DELIVER_BODY_END:
			if ((run->cr && local_maildir_add(o, "\r", 1) == -1) ||
			    local_maildir_flush(o) == -1)
				goto fail;
			for (i = 0; i < job->nrcpt; i++)
				if (!job->rcpts[i].final)
					local_maildir_one(job, &job->rcpts[i],
					    run->conf, run->rootfd, run->host,
					    o, run->spool);
			local_maildir_end(run);
			return;
		case DELIVER_BODY_ERROR:
			local_maildir_defer(job, "stored message unreadable");
			local_maildir_end(run);
			return;
		}
	}
 fail:
	snprintf(text, sizeof(text), "maildir delivery failed: write spool: "
	    "%s", strerror(errno));
	local_maildir_defer(job, text);
	local_maildir_end(run);
}

/*
 * local_maildir_spool - a file for the body, gone from the directory
 * tree from the start (O_TMPFILE), or made, then unlinked at once where
 * the file system has no O_TMPFILE; -1 with errno
 */
static int
local_maildir_spool(int rootfd)
{
	char	 name[64];
	int	 fd;

	fd = openat(rootfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	snprintf(name, sizeof(name), ".aval-spool.%ld.%u", (long)getpid(),
	    ++local_maildir_counter);
	if ((fd = openat(rootfd, name, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return -1;
	unlinkat(rootfd, name, 0);
	return fd;
}

/* local_maildir_run - deliver to every recipient's Maildir */
void
local_maildir_run(struct deliver_job *job, const struct conf *conf,
    int rootfd, const char *hostname, deliver_job_cb cb, void *arg)
{
	struct local_maildir_run	*run;
	char				 text[DELIVER_TEXT_MAX];

	strlcpy(job->relay, "maildir", sizeof(job->relay));
	gettimeofday(&job->t_conn, NULL);
	run = xcalloc(1, sizeof(*run));
	run->job = job;
	job->maildir = run;
	run->conf = conf;
	run->rootfd = rootfd;
	run->cb = cb;
	run->arg = arg;
	local_maildir_host(run->host, sizeof(run->host), hostname);
	if ((run->spool = local_maildir_spool(rootfd)) == -1) {
		snprintf(text, sizeof(text), "maildir delivery failed: "
		    "spool: %s", strerror(errno));
		local_maildir_defer(job, text);
		local_maildir_end(run);
		return;
	}
	run->out.fd = run->spool;
	deliver_body_rewind(job);
	deliver_body_set_wake(job, local_maildir_pump, run);
	local_maildir_pump(job, run);
}
