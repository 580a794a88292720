/*
 * proc - what every worker process shares at start-up
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <dirent.h>
#include <sched.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/xmalloc.h"

static void
proc_master_closed(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	log_debug("master link closed; exiting");
	exit(0);
}

static void
proc_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	struct proc_worker	*w = arg;

	(void)sig;
	(void)ev;
	log_debug("SIGTERM");
	if (w->shutdown != NULL)
		w->shutdown();
	else
		exit(0);
}

/* proc_worker_init - logging, event base and the master link */
void
proc_worker_init(struct proc_worker *w, int argc, char **argv,
    const char *name, ipc_dispatch_cb dispatch, void *arg)
{
	int	 ch, flags = 0;

	while ((ch = getopt(argc, argv, "dv")) != -1) {
		switch (ch) {
		case 'd':
			flags |= LOG_TO_STDERR;
			break;
		case 'v':
			flags |= LOG_VERBOSE;
			break;
		default:
			fprintf(stderr, "usage: aval-%s [-dv] (started by avald)\n",
			    name);
			exit(1);
		}
	}
	log_init(name, flags);
	if (fcntl(PROC_MASTER_FD, F_GETFD) == -1)
		fatalx("aval-%s is started by avald, not by hand", name);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	memset(w, 0, sizeof(*w));
	if ((w->base = event_base_new()) == NULL)
		fatalx("%s: event_base_new", name);
	w->sigterm = evsignal_new(w->base, SIGTERM, proc_sigterm, w);
	if (w->sigterm == NULL || evsignal_add(w->sigterm, NULL) == -1)
		fatalx("%s: evsignal_add", name);
	w->master = ipc_peer_new(w->base, PROC_MASTER_FD, "master", dispatch,
	    proc_master_closed, arg);
}

/* proc_conf_dispatch - collect config items, swap on CONF_END */
int
proc_conf_dispatch(struct proc_worker *w, struct ipc_msgin *r)
{
	const char	*key, *value;
	char		 err[256];
	uint32_t	 gen;

	switch (r->type) {
	case IPC_MASTER_CONF_ITEM:
		if (ipc_get_str(r, &key) == -1 ||
		    ipc_get_str(r, &value) == -1 || ipc_end(r) == -1)
			fatalx("malformed %s from master", ipc_type_name(r->type));
		if (w->pending == NULL)
			w->pending = conf_new();
		if (conf_apply_item(w->pending, key, value, err,
		    sizeof(err)) == -1)
			fatalx("config item %s from master: %s", key, err);
		return 0;
	case IPC_MASTER_CONF_END:
		if (ipc_get_u32(r, &gen) == -1 || ipc_end(r) == -1 ||
		    w->pending == NULL)
			fatalx("malformed %s from master", ipc_type_name(r->type));
		conf_free(w->conf);
		w->conf = w->pending;
		w->pending = NULL;
		w->generation = gen;
		log_debug("config generation %u", gen);
		return 1;
	default:
		fatalx("%s: %s", __func__, ipc_type_name(r->type));
	}
}

/* proc_user - the unprivileged user's ids */
int
proc_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* proc_nocaps - 1 if this process holds no capability at all */
static int
proc_nocaps(void)
{
	FILE	*f;
	char	 line[256];
	int	 ok = 0;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return 1;	/* no /proc in a chroot: the uid check stands */
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "CapEff:", 7) == 0 ||
		    strncmp(line, "CapPrm:", 7) == 0) {
			if (strtoull(line + 7, NULL, 16) != 0) {
				fclose(f);
				return 0;
			}
			ok++;
		}
	}
	fclose(f);
	return ok == 2;
}

/* proc_privdrop - chroot and become the unprivileged user */
void
proc_privdrop(const struct conf *conf, const char *dir)
{
	proc_privdrop_user(conf->user, dir);
}

/* proc_privdrop_user - chroot and become user */
void
proc_privdrop_user(const char *user, const char *dir)
{
	uid_t	 uid;
	gid_t	 gid;
	int	 caps_ok;

	if (geteuid() == 0) {
		if (proc_user(user, &uid, &gid) == -1)
			fatalx("unknown user \"%s\" (create it, or set it in "
			    "the config)", user);
		if (uid == 0)
			fatalx("user \"%s\" is root; aval workers never run "
			    "as root", user);
		if (dir != NULL) {
			if (chroot(dir) == -1)
				fatal("chroot %s", dir);
			if (chdir("/") == -1)
				fatal("chdir /");
		}
		if (setgroups(1, &gid) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			fatal("dropping privileges to %s", user);
	} else if (dir != NULL) {
		/* Not root: no chroot, but keep the same working directory. */
		if (chdir(dir) == -1)
			fatal("chdir %s", dir);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
	caps_ok = proc_nocaps();
	if (geteuid() == 0 || getuid() == 0 || !caps_ok)
		fatalx("privileges were not dropped");
	log_debug("running as uid %ld%s%s", (long)geteuid(),
	    dir ? ", in " : "", dir ? dir : "");
}

/* proc_empty_dir - runtime-dir/empty, made and checked */
void
proc_empty_dir(const struct conf *conf, char *out, size_t outlen)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	int		 n;

	n = snprintf(out, outlen, "%s/empty", conf->runtime_dir);
	if (n < 0 || (size_t)n >= outlen)
		fatalx("runtime-dir too long");
	if (mkdir(out, 0555) == -1 && errno != EEXIST)
		fatal("mkdir %s", out);
	if (lstat(out, &st) == -1)
		fatal("%s", out);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s is not a directory", out);
	if (geteuid() == 0 && st.st_uid != 0 && chown(out, 0, 0) == -1)
		fatal("chown %s", out);
	if ((st.st_mode & 07777) != 0555 && chmod(out, 0555) == -1)
		fatal("chmod %s", out);
	if ((d = opendir(out)) == NULL)
		fatal("opendir %s", out);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		fatalx("%s is not empty (it holds \"%s\"); a chroot must "
		    "hold nothing: empty it", out, de->d_name);
	}
	closedir(d);
}

/* proc_nonet - a network namespace of our own, with nothing in it */
int
proc_nonet(void)
{
	if (geteuid() != 0)
		return 0;
	if (unshare(CLONE_NEWNET) == -1) {
		log_warn("unshare(CLONE_NEWNET)");
		return -1;
	}
	return 1;
}
