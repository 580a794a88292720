/*
 * bodyfile - message bodies kept as files of their own (bodyfile.h)
 *
 * Every name is a queue ID, checked before use, opened relative to the
 * folder's descriptor with O_NOFOLLOW: nothing here follows a link or
 * leaves the folder. Files are 0600 and only ever appended to while the
 * body arrives; after that they are read, synced and removed.
 */
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
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
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

int
bodyfile_append(int dirfd, const char *qid, int create, const void *p,
    size_t len)
{
	const unsigned char	*q = p;
	ssize_t			 n;
	int			 fd, saved;

	fd = bodyfile_open(dirfd, qid, O_WRONLY | O_APPEND |
	    (create ? O_CREAT | O_EXCL : 0));
	if (fd == -1) {
		log_warn("%s: body file: %s", qid, create ? "create" : "open");
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

ssize_t
bodyfile_read(int dirfd, const char *qid, uint64_t off, void *dst,
    size_t max)
{
	ssize_t	 n;
	int	 fd;

	if (off > (uint64_t)INT64_MAX)
		return 0;
	if ((fd = bodyfile_open(dirfd, qid, O_RDONLY)) == -1) {
		if (errno == ENOENT)
			return -2;
		log_warn("%s: body file: open to read", qid);
		return -1;
	}
	do
		n = pread(fd, dst, max, (off_t)off);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		log_warn("%s: body file: read", qid);
	close(fd);
	return n;
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

int
bodyfile_size(int dirfd, const char *qid, uint64_t *size)
{
	struct stat	 st;

	if (!qid_valid(qid))
		return -1;
	if (fstatat(dirfd, qid, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return -2;
		log_warn("%s: body file: stat", qid);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: body file: not a regular file", qid);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

long
bodyfile_scan(int dirfd, bodyfile_cb cb, void *arg)
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
		if (!qid_valid(de->d_name)) {
			log_warnx("queue: body folder: \"%s\" is not a queue "
			    "ID; left in place", de->d_name);
			continue;
		}
		cb(de->d_name, arg);
		n++;
	}
	if (errno != 0) {
		log_warn("queue: body folder: readdir");
		n = -1;
	}
	closedir(d);
	return n;
}
