/*
 * avald - the aval master process
 *
 * avald reads and checks the configuration (or the embedded development
 * default), makes the spool, runtime and mailbox directories, binds the
 * listening sockets, opens the control socket, and starts one queue, N
 * smtpd, M deliver and L local processes, connected by socketpairs. It
 * restarts a worker that dies (at once after a life of 5 s or more, else
 * with a back-off; logged), answers new connections 421 4.3.2 itself while
 * no smtpd runs (master_refuse.c), drains on SIGTERM (smtpd answers open
 * sessions 421 4.3.2, then deliver and local stop, then the queue), and
 * reloads the configuration on SIGHUP, keeping the old one if the new one
 * fails.
 *
 * Trust: avald trusts its configuration file and nothing else. From a
 * worker it accepts only well-formed frames of the types that worker may
 * send; anything else closes the link, which ends the worker, which is then
 * restarted. From avalctl it accepts only the control requests.
 *
 * Privileges: started as root, avald binds the ports, then every worker
 * drops to the "user" setting in its own chroot (smtpd and deliver: the
 * empty directory, queue: the spool), except aval-local, which drops to
 * "local-user" in the mailbox tree, in a network namespace of its own
 * (docs/local.md). avald itself keeps root to bind, reload and restart.
 * Started as another user, everything runs as that user. Workers are
 * aval's own binaries, found next to avald (a build tree) or in the
 * libexec directory; no other program is ever run.
 *
 * Settings read: every one; avald sends each worker the whole config.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/fedfetch.h"
#include "common/conf_priv.h"
#include "common/log.h"
#include "common/tls_gen.h"
#include "common/proc.h"
#include "common/xmalloc.h"
#include "master/master.h"
#include "smtpd/smtpd_limit.h"

struct master	*master;

static void
avald_usage(void)
{
	fprintf(stderr, "usage: avald [-dnv] [-f file]\n");
	exit(1);
}

/*
 * avald_conf_load - the file given, the system file, or the default; then
 * the TLS material it names, which must load too. The embedded default's
 * development certificates are made here at first start (not by -n).
 */
static struct conf *
avald_conf_load(const char *file, struct conf_errors *errs, int checkonly)
{
	struct conf	*c;
	char		 dir[PATH_MAX + 8], err[512];
	int		 rv;

	c = file != NULL ? conf_load(file, errs) : conf_load_default(errs);
	if (c == NULL)
		return NULL;
	if (file == NULL) {
		strlcpy(dir, c->tls_certs->cert, sizeof(dir));
		*strrchr(dir, '/') = '\0';	/* absolute: there is one */
		if (checkonly && access(c->tls_certs->cert, F_OK) == -1)
			return c;	/* made at first start */
		if ((rv = tls_gen_dev(dir, c->hostname, err,
		    sizeof(err))) == -1) {
			conf_errors_add(errs, "<default>", 0, "%s", err);
			conf_free(c);
			return NULL;
		}
		if (rv == 1)
			log_info("made a development CA and a certificate for "
			    "%s in %s (trust ca.crt there in test clients)",
			    c->hostname, c->tls_certs->cert);
	}
	/*
	 * All load, or none replaces what runs. The federation first: its
	 * certificate joins smtpd's list in master_tls_load().
	 */
	if (master_fed_load(c, file ? file : "<default>", errs) == -1 ||
	    master_tls_load(c, file ? file : "<default>", errs) == -1 ||
	    master_passwd_load(c, errs) == -1) {
		conf_free(c);
		return NULL;
	}
	if (checkonly)
		return c;
	master_fed_commit();
	master_tls_commit();
	master_passwd_commit();
	return c;
}

static void
avald_conf_errors(struct conf_errors *errs, int to_stderr)
{
	size_t	 i;

	for (i = 0; i < errs->n; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", errs->lines[i]);
		else
			log_warnx("%s", errs->lines[i]);
	}
	conf_errors_clear(errs);
}

/* avald_find_exedir - workers next to avald (build tree) or in libexec */
static void
avald_find_exedir(void)
{
	char	 self[PATH_MAX], probe[PATH_MAX + 16];
	ssize_t	 n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(master->exedir, sizeof(master->exedir), "%s",
		    dirname(self));
		snprintf(probe, sizeof(probe), "%s/aval-queue", master->exedir);
		if (access(probe, X_OK) == 0)
			return;
	}
	strlcpy(master->exedir, AVAL_LIBEXECDIR, sizeof(master->exedir));
}

static void
avald_reload(void)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*conf;

	log_info("reloading configuration%s%s",
	    master->conffile ? " from " : " (embedded default)",
	    master->conffile ? master->conffile : "");
	if ((conf = avald_conf_load(master->conffile, &errs, 0)) == NULL) {
		avald_conf_errors(&errs, 0);
		log_warnx("reload failed; keeping the current configuration");
		return;
	}
	if (conf->smtpd_processes != master->conf->smtpd_processes ||
	    conf->deliver_processes != master->conf->deliver_processes)
		log_warnx("process counts change only at restart");
	conf_free(master->conf);
	master->conf = conf;
	master->generation++;
	master_fed_start();
	master_children_send_conf();
	log_info("configuration generation %u loaded", master->generation);
}

static void
avald_shutdown_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	log_warnx("workers did not stop in time; killing them");
	master_children_kill();
}

static void
avald_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct timeval	 tv = { 20, 0 };
	pid_t		 pid;
	int		 status;

	(void)ev;
	(void)arg;
	switch (sig) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (!fedfetch_reaped(pid, status))
				master_child_reaped(pid, status);
		break;
	case SIGHUP:
		if (!master->shutting_down)
			avald_reload();
		break;
	case SIGTERM:
	case SIGINT:
		if (master->shutting_down)
			break;
		log_info("shutting down: draining sessions");
		master->shutting_down = 1;
		master_ctl_close();
		master->shutdown_timer = evtimer_new(master->base,
		    avald_shutdown_timeout, NULL);
		evtimer_add(master->shutdown_timer, &tv);
		master_children_shutdown();
		break;
	}
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct event		*sigev[5];
	int			 sigs[5] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, 0 };
	int			 ch, checkonly = 0, flags = 0, i;
	const char		*file = NULL;

	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':
			flags |= LOG_TO_STDERR;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'v':
			flags |= LOG_VERBOSE;
			break;
		default:
			avald_usage();
		}
	}
	if (optind != argc)
		avald_usage();
	if (file == NULL && access(AVAL_SYSCONFDIR "/aval.conf", F_OK) == 0)
		file = AVAL_SYSCONFDIR "/aval.conf";

	log_init("master", checkonly ? LOG_TO_STDERR : flags);
	master = xcalloc(1, sizeof(*master));
	master->conffile = file;
	master->flags = flags;
	master->ctl_fd = -1;
	if ((master->conf = avald_conf_load(file, &errs, checkonly)) == NULL) {
		avald_conf_errors(&errs, 1);
		return 1;
	}
	if (checkonly) {
		printf("configuration OK\n");
		return 0;
	}
	if (file == NULL)
		log_info("no %s/aval.conf; using the embedded development "
		    "default", AVAL_SYSCONFDIR);

	if (geteuid() == 0) {
		if (proc_user(master->conf->user, &master->uid,
		    &master->gid) == -1)
			fatalx("unknown user \"%s\": create it (useradd "
			    "--system %s) or set \"user\"", master->conf->user,
			    master->conf->user);
		if (master->uid == 0)
			fatalx("user \"%s\" is root; workers never run as root",
			    master->conf->user);
		if (proc_user(master->conf->local_user, &master->local_uid,
		    &master->local_gid) == -1)
			fatalx("unknown local-user \"%s\": create it (useradd "
			    "--system %s) or set \"local-user\"",
			    master->conf->local_user, master->conf->local_user);
		if (master->local_uid == 0)
			fatalx("local-user \"%s\" is root; workers never run "
			    "as root", master->conf->local_user);
		/*
		 * One user for both would let a compromised smtpd or deliver
		 * write the mailboxes: the split would be in name only.
		 */
		if (master->local_uid == master->uid)
			log_warnx("local-user \"%s\" has the uid of user "
			    "\"%s\": aval-local is not kept apart from the "
			    "network-facing workers", master->conf->local_user,
			    master->conf->user);
	} else {
		master->uid = master->local_uid = geteuid();
		master->gid = master->local_gid = getegid();
	}
	avald_find_exedir();
	master_dirs_make();
	master_listeners_open();
	master_ctl_open();

	if ((flags & LOG_TO_STDERR) == 0 && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	if ((master->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (i = 0; sigs[i] != 0; i++) {
		sigev[i] = evsignal_new(master->base, sigs[i], avald_signal,
		    NULL);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("evsignal_add");
	}
	master_ctl_start();
	master_tls_start();
	master_fed_start();
	{
		struct smtpd_limit_table	*lt;

		/* smtpd's limits have one owner: this table, shared by all. */
		if ((master->limits_fd = smtpd_limit_create(&lt)) == -1)
			fatal("limits table");
		munmap(lt, sizeof(*lt));
	}
	master_children_start();
	log_info("started, version %s, %zu listeners, config %s",
	    AVAL_VERSION, master->nlisteners,
	    file ? file : "(embedded default)");

	event_base_dispatch(master->base);
	fatalx("event loop returned");
}

/* master_exit - every child is gone after a shutdown: clean up and leave */
void
master_exit(void)
{
	master_ctl_close();
	master_listeners_unlink();
	master_tls_clear();
	master_fed_clear();
	unlink(master->pid_path);
	log_info("stopped");
	exit(0);
}
