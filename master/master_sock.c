/*
 * master_sock - directories and listening sockets, made before any worker
 *
 * The runtime directory holds the control socket, the pid file and
 * "empty", the chroot of smtpd and deliver: root-owned and empty
 * (proc_empty_dir()), so a compromised network-facing worker finds nothing
 * there. The spool belongs to the worker user (the queue is chrooted to
 * it); the mailbox tree belongs to local-user (aval-local's chroot), so no
 * other worker can read or write it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/xmalloc.h"
#include "master/master.h"

#define MASTER_BACKLOG	512

/*
 * master_mkdirs - mkdir -p, with mode for the last component only, which
 * belongs to root, or (when root) to uid:gid when owned
 */
static void
master_mkdirs(const char *path, mode_t mode, int owned, uid_t uid, gid_t gid)
{
	char	 tmp[PATH_MAX];
	char	*p;

	if (strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		fatalx("path too long: %s", path);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			fatal("mkdir %s", tmp);
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", tmp);
	if (geteuid() == 0) {
		if (chown(tmp, owned ? uid : 0, owned ? gid : 0) == -1)
			fatal("chown %s", tmp);
	}
	if (chmod(tmp, mode) == -1)
		fatal("chmod %s", tmp);
}

/* master_dirs_make - spool, runtime, empty chroot, mailboxes */
void
master_dirs_make(void)
{
	char	 empty[PATH_MAX];

	master_mkdirs(master->conf->spool, 0700, 1, master->uid, master->gid);
	master_mkdirs(master->conf->runtime_dir, 0755, 0, 0, 0);
	master_mkdirs(master->conf->maildir, 0700, 1, master->local_uid,
	    master->local_gid);
	/* Made and checked here, so a chroot that is not empty stops us now. */
	proc_empty_dir(master->conf, empty, sizeof(empty));
}

/* master_listen_one - bind one "listen on" line */
static int
master_listen_one(const struct conf_listen *l)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(l->addr, ':') != NULL) {
		struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		if (inet_pton(AF_INET6, l->addr, &sin6->sin6_addr) != 1)
			fatalx("listen: bad address %s", l->addr);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		if (inet_pton(AF_INET, l->addr, &sin->sin_addr) != 1)
			fatalx("listen: bad address %s", l->addr);
		len = sizeof(*sin);
	}
	/*
	 * Non-blocking: the master accepts on it itself while no smtpd runs
	 * (master_refuse.c), and must never wait there for a connection.
	 */
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("setsockopt SO_REUSEADDR");
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("setsockopt IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		fatal("bind %s port %u", l->addr, l->port);
	if (listen(fd, MASTER_BACKLOG) == -1)
		fatal("listen %s port %u", l->addr, l->port);
	return fd;
}

/*
 * master_local_parent_ok - NULL if root may make a socket in path's
 * folder, else why not. The folder (and a symbolic link naming it) must
 * be root's and not writable by group or others: otherwise a worker user
 * could swap the name for a link between the checks below and bind(), and
 * have root make, or later unlink, a name of its choosing. The runtime
 * directory passes: master_dirs_make() made it root's, mode 0755. What is
 * above the folder is the operator's to keep safe, as for the spool.
 */
static const char *
master_local_parent_ok(const char *path, char *why, size_t whylen)
{
	char		 dir[PATH_MAX];
	char		*slash;
	struct stat	 st;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL)
		return "not an absolute path";
	if (slash == dir)
		slash[1] = '\0';		/* "/x.sock": the root itself */
	else
		*slash = '\0';
	if (lstat(dir, &st) == -1) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return why;
	}
	if (S_ISLNK(st.st_mode) && st.st_uid != 0) {
		snprintf(why, whylen, "%s is a symbolic link owned by uid %lu",
		    dir, (unsigned long)st.st_uid);
		return why;
	}
	if (stat(dir, &st) == -1) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return why;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s is not a directory", dir);
		return why;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(why, whylen, "its directory %s is owned by uid %lu, "
		    "mode %04o: it must be root's and writable by root alone",
		    dir, (unsigned long)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		return why;
	}
	return NULL;
}

/*
 * master_listen_local - bind a local submission socket, mode 0666, for
 * sendmail(1): anyone on the host may submit, as with Postfix's maildrop
 * and OpenSMTPD's smtpd.sock. Whatever is at the path must be a socket
 * that nobody answers on (one left by an avald that died), which is
 * removed; anything else, a symbolic link above all, is refused and left
 * alone: lstat() does not follow it, and bind() never follows one either
 * (it fails if the name came back in between). Run as root, the socket's
 * folder must be root's alone (master_local_parent_ok).
 */
static int
master_listen_local(const struct conf_listen *l, struct master_listener *ml)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 why[PATH_MAX + 128];
	const char		*bad;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, l->addr, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("listen on unix: path too long: %s", l->addr);
	if (geteuid() == 0 &&
	    (bad = master_local_parent_ok(l->addr, why, sizeof(why))) != NULL)
		fatalx("listen on unix: %s: refused: %s", l->addr, bad);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		fatal("socket");
	if (lstat(l->addr, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("listen on unix: %s exists and is not a socket; "
			    "not removing it", l->addr);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			fatalx("listen on unix: another avald is serving %s",
			    l->addr);
		/*
		 * Only a refused connection says nobody listens. EAGAIN is
		 * a live server whose backlog is full (the connect is
		 * non-blocking): removing its socket would cut it off.
		 */
		if (errno != ECONNREFUSED && errno != ENOENT)
			fatal("listen on unix: %s may be in use; not removing "
			    "it (connect)", l->addr);
		if (unlink(l->addr) == -1 && errno != ENOENT)
			fatal("listen on unix: unlink %s", l->addr);
		close(fd);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0)) == -1)
			fatal("socket");
	} else if (errno != ENOENT)
		fatal("listen on unix: %s", l->addr);
	/* The mode comes from the umask at bind(): no window at another. */
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("listen on unix: bind %s", l->addr);
	umask(old);
	if (lstat(l->addr, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx("listen on unix: %s is not the socket just made",
		    l->addr);
	ml->dev = st.st_dev;
	ml->ino = st.st_ino;
	if (listen(fd, MASTER_BACKLOG) == -1)
		fatal("listen %s", l->addr);
	return fd;
}

/* master_listeners_unlink - remove the local sockets this avald made */
void
master_listeners_unlink(void)
{
	struct stat	 st;
	size_t		 i;

	for (i = 0; i < master->nlisteners; i++) {
		const struct master_listener	*ml = &master->listeners[i];

		if (ml->kind != CONF_L_LOCAL)
			continue;
		if (lstat(ml->addr, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == ml->dev && st.st_ino == ml->ino)
			unlink(ml->addr);
	}
}

/* master_listeners_open - bind every listener; fatal on any failure */
void
master_listeners_open(void)
{
	const struct conf_listen	*l;
	struct master_listener		*ml;
	size_t				 n = 0;

	for (l = master->conf->listeners; l != NULL; l = l->next)
		n++;
	master->listeners = xcalloc(n ? n : 1, sizeof(*ml));
	for (l = master->conf->listeners; l != NULL; l = l->next) {
		ml = &master->listeners[master->nlisteners++];
		if ((size_t)snprintf(ml->addr, sizeof(ml->addr), "%s",
		    l->addr) >= sizeof(ml->addr))
			fatalx("listen: %s: too long", l->addr);
		ml->kind = l->kind;
		ml->port = l->port;
		if (l->kind == CONF_L_LOCAL) {
			ml->fd = master_listen_local(l, ml);
			log_info("listening on unix:%s (local)", l->addr);
			continue;
		}
		ml->fd = master_listen_one(l);
		log_info(strchr(l->addr, ':') ? "listening on [%s]:%u (%s)" :
		    "listening on %s:%u (%s)", l->addr, (unsigned)l->port,
		    conf_listen_kind_name(l->kind));
	}
}
