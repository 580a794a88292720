/*
 * master_sock - directories and listening sockets, made before any worker
 *
 * The runtime directory holds the control socket, the pid file and
 * "empty", smtpd's chroot: root-owned and empty, so a compromised smtpd
 * finds nothing there. The spool belongs to the worker user (the queue is
 * chrooted to it), and so does the mailbox tree (deliver's chroot).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include "common/xmalloc.h"
#include "master/master.h"

#define MASTER_BACKLOG	512

/* master_mkdirs - mkdir -p, with mode for the last component only */
static void
master_mkdirs(const char *path, mode_t mode, int worker_owned)
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
		if (chown(tmp, worker_owned ? master->uid : 0,
		    worker_owned ? master->gid : 0) == -1)
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
	int	 n;

	master_mkdirs(master->conf->spool, 0700, 1);
	master_mkdirs(master->conf->runtime_dir, 0755, 0);
	master_mkdirs(master->conf->maildir, 0700, 1);
	n = snprintf(empty, sizeof(empty), "%s/empty",
	    master->conf->runtime_dir);
	if (n < 0 || (size_t)n >= sizeof(empty))
		fatalx("runtime-dir too long");
	master_mkdirs(empty, 0555, 0);
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
		ml->fd = master_listen_one(l);
		ml->kind = l->kind;
		ml->port = l->port;
		snprintf(ml->addr, sizeof(ml->addr), "%s", l->addr);
		log_info(strchr(l->addr, ':') ? "listening on [%s]:%u (%s)" :
		    "listening on %s:%u (%s)", l->addr, (unsigned)l->port,
		    conf_listen_kind_name(l->kind));
	}
}
