/*
 * bodyfile - message bodies kept as files of their own (bodyfile.h)
 *
 * Every name is a queue ID, checked before use, opened relative to the
 * folder's descriptor with O_NOFOLLOW: nothing here follows a link or
 * leaves the folder. Files are 0600 and only ever appended to while the
 * body arrives; after that they are read, synced and removed.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/qid.h"
#include "queue/bodyfile.h"

#define BODYFILE_MODE	0600

int
bodyfile_open_dir(const char *dir)
{
	char	 path[PATH_MAX];
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, BODYFILE_DIR)
	    >= sizeof(path)) {
		log_warnx("queue: body folder: %s: path too long", dir);
		return -1;
	}
	if (mkdir(path, 0700) == 0) {
		/* The new folder's own name, on disk before any file in it. */
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
		    fsync(fd) == -1) {
			log_warn("queue: body folder: sync %s", dir);
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
	} else if (errno != EEXIST) {
		log_warn("queue: body folder: mkdir %s", path);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		log_warn("queue: body folder: open %s", path);
		return -1;
	}
	return fd;
}

/* bodyfile_open - qid's file with flags, or -1 (errno kept) */
static int
bodyfile_open(int dirfd, const char *qid, int flags)
{
	if (!qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	return openat(dirfd, qid, flags | O_CLOEXEC | O_NOFOLLOW,
	    BODYFILE_MODE);
}

/* bodyfile_spare_name - the name of spare number n */
static void
bodyfile_spare_name(char *out, size_t len, unsigned int n)
{
	snprintf(out, len, "%s%u", BODYFILE_SPARE_PREFIX, n);
}

static int
bodyfile_is_spare(const char *name)
{
	return strncmp(name, BODYFILE_SPARE_PREFIX,
	    sizeof(BODYFILE_SPARE_PREFIX) - 1) == 0;
}

int
bodyfile_create(int dirfd, struct bodyfile_pool *pool, const char *qid)
{
	char	 name[32];
	int	 fd;

	if (!qid_valid(qid))
		return -1;
	while (pool != NULL && pool->n > 0) {
		bodyfile_spare_name(name, sizeof(name),
		    pool->names[--pool->n]);
		/* Never over a file that is there: a queue ID is used once. */
		if (renameat2(dirfd, name, dirfd, qid, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST) {
			log_warnx("%s: body file: one is already there", qid);
			pool->n++;
			return -1;
		}
		log_warn("%s: body file: taking over %s", qid, name);
		(void)unlinkat(dirfd, name, 0);
	}
	if ((fd = bodyfile_open(dirfd, qid, O_WRONLY | O_CREAT | O_EXCL))
	    == -1) {
		log_warn("%s: body file: create", qid);
		return -1;
	}
	close(fd);
	return 0;
}

int
bodyfile_recycle(int dirfd, struct bodyfile_pool *pool, const char *qid)
{
	char	 name[32];
	int	 fd;

	if (pool == NULL || pool->n >= BODYFILE_SPARE_MAX)
		return bodyfile_unlink(dirfd, qid);
	if ((fd = bodyfile_open(dirfd, qid, O_WRONLY)) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s: body file: open to recycle", qid);
		return bodyfile_unlink(dirfd, qid);
	}
	/*
	 * A file some process may still read (a deliver that was given it
	 * and has not closed it: one whose job was lost but who lives on)
	 * is only unlinked, so that what it reads stays this body's; a
	 * spare taken over by another message would give it that
	 * message's bytes. bodyfile_open_read() locks every file it gives
	 * out, until the last descriptor of it is closed.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return bodyfile_unlink(dirfd, qid);
	}
	/* Only an empty file becomes a spare: appends start at 0. */
	if (ftruncate(fd, 0) == -1) {
		log_warn("%s: body file: truncate", qid);
		close(fd);
		return bodyfile_unlink(dirfd, qid);
	}
	close(fd);
	bodyfile_spare_name(name, sizeof(name), pool->next);
	if (renameat2(dirfd, qid, dirfd, name, RENAME_NOREPLACE) == -1) {
		log_warn("%s: body file: keeping it as %s", qid, name);
		return bodyfile_unlink(dirfd, qid);
	}
	pool->names[pool->n++] = pool->next++;
	return 0;
}

int
bodyfile_append(int dirfd, const char *qid, const void *p, size_t len,
    int last)
{
	const unsigned char	*q = p;
	ssize_t			 n;
	int			 fd, saved;

	if ((fd = bodyfile_open(dirfd, qid, O_WRONLY | O_APPEND)) == -1) {
		log_warn("%s: body file: open", qid);
		return -1;
	}
	while (len > 0) {
		if ((n = write(fd, q, len)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			log_warn("%s: body file: write", qid);
			return -1;
		}
		q += n;
		len -= (size_t)n;
	}
	/* Only a head start: the flush's fdatasync() is what counts. */
	if (last && sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == -1)
		log_warn("%s: body file: sync_file_range", qid);
	if (close(fd) == -1) {
		log_warn("%s: body file: close", qid);
		return -1;
	}
	return 0;
}

int
bodyfile_sync(int dirfd, const char *qid)
{
	int	 fd, rc;

	if ((fd = bodyfile_open(dirfd, qid, O_RDONLY)) == -1) {
		log_warn("%s: body file: open to sync", qid);
		return -1;
	}
	if ((rc = fdatasync(fd)) == -1)
		log_warn("%s: body file: fdatasync", qid);
	close(fd);
	return rc;
}

int
bodyfile_sync_dir(int dirfd)
{
	if (fsync(dirfd) == -1) {
		log_warn("queue: body folder: fsync");
		return -1;
	}
	return 0;
}

/* bodyfile_open_ro - qid's file read-only: fd, -1 (logged), -2 if none */
static int
bodyfile_open_ro(int dirfd, const char *qid)
{
	int	 fd;

	if ((fd = bodyfile_open(dirfd, qid, O_RDONLY)) == -1) {
		if (errno == ENOENT)
			return -2;
		log_warn("%s: body file: open to read", qid);
		return -1;
	}
	return fd;
}

ssize_t
bodyfile_read(int dirfd, const char *qid, uint64_t off, void *dst,
    size_t max)
{
	ssize_t	 n;
	int	 fd;

	if (off > (uint64_t)INT64_MAX)
		return 0;
	if ((fd = bodyfile_open_ro(dirfd, qid)) < 0)
		return fd;
	do
		n = pread(fd, dst, max, (off_t)off);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		log_warn("%s: body file: read", qid);
	close(fd);
	return n;
}

int
bodyfile_open_read(int dirfd, const char *qid)
{
	int	 fd;

	if ((fd = bodyfile_open_ro(dirfd, qid)) < 0)
		return fd;
	/*
	 * Held for as long as any process has this open file: see recycle.
	 * Never waited for: only a recycle takes it exclusively, in this
	 * process, and briefly.
	 */
	if (flock(fd, LOCK_SH | LOCK_NB) == -1) {
		log_warn("%s: body file: lock", qid);
		close(fd);
		return -1;
	}
	return fd;
}

int
bodyfile_unlink(int dirfd, const char *qid)
{
	if (!qid_valid(qid))
		return -1;
	if (unlinkat(dirfd, qid, 0) == -1 && errno != ENOENT) {
		log_warn("%s: body file: unlink", qid);
		return -1;
	}
	return 0;
}

/*
 * bodyfile_each - fn for every entry of the folder but "." and ".."; fn
 * may remove it. The count fn returned 1 for, or -1.
 */
static long
bodyfile_each(int dirfd, int (*fn)(int, const char *, void *), void *arg)
{
	struct dirent	*de;
	DIR		*d;
	long		 n = 0;
	int		 fd;

	/* A duplicate: closedir() closes what fdopendir() was given. */
	if ((fd = dup(dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("queue: body folder: scan");
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n += fn(dirfd, de->d_name, arg);
	}
	if (errno != 0) {
		log_warn("queue: body folder: readdir");
		n = -1;
	}
	closedir(d);
	return n;
}

struct bodyfile_scan_arg {
	bodyfile_cb	 cb;
	void		*arg;
};

static int
bodyfile_scan_one(int dirfd, const char *name, void *arg)
{
	struct bodyfile_scan_arg	*a = arg;

	(void)dirfd;
	if (bodyfile_is_spare(name))
		return 0;
	if (!qid_valid(name)) {
		log_warnx("queue: body folder: \"%s\" is not a queue ID; left "
		    "in place", name);
		return 0;
	}
	a->cb(name, a->arg);
	return 1;
}

long
bodyfile_scan(int dirfd, bodyfile_cb cb, void *arg)
{
	struct bodyfile_scan_arg	 a = { cb, arg };

	return bodyfile_each(dirfd, bodyfile_scan_one, &a);
}

static int
bodyfile_spare_drop(int dirfd, const char *name, void *arg)
{
	(void)arg;
	if (!bodyfile_is_spare(name))
		return 0;
	if (unlinkat(dirfd, name, 0) == -1) {
		log_warn("queue: body folder: unlink %s", name);
		return 0;
	}
	return 1;
}

long
bodyfile_spares_clear(int dirfd, struct bodyfile_pool *pool)
{
	pool->n = 0;
	pool->next = 0;
	return bodyfile_each(dirfd, bodyfile_spare_drop, NULL);
}
