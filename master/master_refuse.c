/*
 * master_refuse - the master answers the listeners while no smtpd can
 *
 * The master binds every listening socket and keeps it for the life of
 * avald; each smtpd gets copies of them (IPC_MASTER_LISTENER). So when
 * every smtpd is dead and waiting for its restart (master_backoff.h), or
 * has been told to stop for the drain, the kernel still completes the
 * handshakes of new connections and queues them in the backlog, where
 * nobody would serve them: a client would sit there, connected, without
 * a greeting. While no smtpd serves (master_smtpd_serving() is 0) the
 * master therefore accepts on the listeners itself and answers
 *
 *	421 4.3.2 HOSTNAME Service temporarily unavailable
 *
 * and closes, so the client tries again later or another MX (RFC 5321
 * 4.2.2: 421, service not available, closing transmission channel; RFC
 * 3463: 4.3.2, system not accepting network messages). The moment an
 * smtpd is started again the master stops accepting: connections that
 * arrive meanwhile wait in the backlog for the new smtpd, which takes them
 * as soon as it has its fds.
 *
 * On a submissions listener (implicit TLS) the client's first bytes are a
 * TLS ClientHello and it reads ours as a TLS record: a clear-text 421 would
 * only be a decoding error. The master holds no TLS state and makes no
 * handshake, so there it closes the accepted connection without a word
 * (a reset, as the ClientHello is left unread), which a client reports at
 * once as a failed connection and retries; leaving it in the backlog would
 * keep it waiting for as long as smtpd is down. The master reads nothing
 * on plain listeners either: a client that talks before the greeting may
 * get a reset in place of the 421, which it handles the same way.
 *
 * Bounds: per wake-up at most MASTER_REFUSE_PER_WAKE accepts on a
 * listener, and at most MASTER_REFUSE_PER_SEC refusals a second over all
 * listeners. At the cap (or out of fds) the master stops accepting until
 * the second is over: connections then wait in the backlog, and past it
 * the kernel drops new handshakes, which clients retry; not accepted, not
 * left hanging in a session. Sockets are non-blocking, and the reply is
 * one send() of a short line into a fresh socket's empty buffer, so the
 * master never waits on a client.
 *
 * Logging (docs/logging.md): each refusal has its own line, up to
 * MASTER_REFUSE_LOG_PER_SEC a second; beyond that they are counted and
 * summed up in one line at the end of that second; when smtpd is back, one
 * line gives the count of connections refused meanwhile (none when none
 * was: a restart at once usually refuses nobody). Starting and stopping
 * to answer are debug lines: the master's restart line says the rest.
 *
 * Settings read: hostname, listen (the kind of each listener).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "master/master.h"

#define MASTER_REFUSE_PER_WAKE		32	/* per listener, per wake-up */
#define MASTER_REFUSE_PER_SEC		200	/* a second, all listeners */
#define MASTER_REFUSE_LOG_PER_SEC	5	/* of those, logged each */

static struct {
	struct event	**evs;		/* one per listener, or NULL */
	struct event	 *tick;		/* each second while refusing */
	int		  on;		/* refusing */
	int		  paused;	/* at the cap or out of fds */
	unsigned int	  sec;		/* refused in this second */
	unsigned long	  unlogged;	/* of those, not logged one by one */
	unsigned long	  total;	/* since refusing started */
} refuse;

/* master_refuse_listen - watch every listener, or none */
static void
master_refuse_listen(int on)
{
	size_t	 i;

	for (i = 0; i < master->nlisteners; i++) {
		if (on)
			event_add(refuse.evs[i], NULL);
		else
			event_del(refuse.evs[i]);
	}
}

/* master_refuse_summary - the refusals of this second not logged yet */
static void
master_refuse_summary(void)
{
	if (refuse.unlogged > 0)
		log_info("NOQUEUE: dsn=4.3.2, status=reject (421 no smtpd "
		    "running: %lu more connections refused in the last "
		    "second, not logged one by one)", refuse.unlogged);
	refuse.sec = 0;
	refuse.unlogged = 0;
}

static void
master_refuse_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	master_refuse_summary();
	if (refuse.paused && refuse.on) {
		refuse.paused = 0;
		master_refuse_listen(1);
	}
}

/* master_refuse_pause - no more accepts until the next tick */
static void
master_refuse_pause(void)
{
	if (refuse.paused)
		return;
	refuse.paused = 1;
	master_refuse_listen(0);
}

/* master_refuse_one - answer one accepted connection and close it */
static void
master_refuse_one(int s, const struct sockaddr *sa, socklen_t len,
    const struct master_listener *l)
{
	char	 host[64], serv[16], client[96], line[300];
	int	 n, tls = l->kind == CONF_L_SUBMISSIONS;

	if (!tls) {
		n = snprintf(line, sizeof(line), "421 4.3.2 %s Service "
		    "temporarily unavailable\r\n", master->conf->hostname);
		if (n > 0 && (size_t)n < sizeof(line))
			(void)send(s, line, (size_t)n,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	close(s);
	refuse.sec++;
	refuse.total++;
	if (refuse.sec > MASTER_REFUSE_LOG_PER_SEC) {
		refuse.unlogged++;
		return;
	}
	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(client, sizeof(client), "[unknown]");
	else
		snprintf(client, sizeof(client), "[%s]:%s", host, serv);
	if (tls)
		log_info("NOQUEUE: client=%s, dsn=4.3.2, status=reject "
		    "(closed without a reply: no smtpd running; implicit TLS "
		    "on %s:%u)", client, l->addr, l->port);
	else
		log_info("NOQUEUE: client=%s, dsn=4.3.2, status=reject "
		    "(421 no smtpd running)", client);
}

static void
master_refuse_accept(evutil_socket_t fd, short ev, void *arg)
{
	const struct master_listener	*l = arg;
	struct sockaddr_storage		 ss;
	socklen_t			 len;
	int				 i, s;

	(void)ev;
	for (i = 0; i < MASTER_REFUSE_PER_WAKE; i++) {
		if (refuse.sec >= MASTER_REFUSE_PER_SEC) {
			master_refuse_pause();
			return;
		}
		len = sizeof(ss);
		s = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warnx("NOQUEUE: accept on %s:%u: %s; "
				    "pausing", l->addr, l->port,
				    strerror(errno));
				master_refuse_pause();
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("NOQUEUE: accept on %s:%u", l->addr,
				    l->port);
			return;
		}
		master_refuse_one(s, (struct sockaddr *)&ss, len, l);
	}
}

/*
 * master_refuse_update - refuse on the listeners iff no smtpd serves them.
 * Called after every start, exit and stop of a worker; does nothing when
 * that changes nothing.
 */
void
master_refuse_update(void)
{
	struct timeval	 sec = { 1, 0 };
	size_t		 i;
	int		 want;

	/* Until every worker has had its first start, none is missing. */
	if (!master->started || master->nlisteners == 0)
		return;
	want = master_smtpd_serving() == 0;
	if (want == refuse.on)
		return;
	if (refuse.evs == NULL) {
		refuse.evs = xcalloc(master->nlisteners, sizeof(*refuse.evs));
		for (i = 0; i < master->nlisteners; i++)
			refuse.evs[i] = event_new(master->base,
			    master->listeners[i].fd, EV_READ | EV_PERSIST,
			    master_refuse_accept, &master->listeners[i]);
		refuse.tick = event_new(master->base, -1, EV_PERSIST,
		    master_refuse_tick, NULL);
	}
	refuse.on = want;
	if (want) {
		log_debug("no smtpd %s: the master answers new connections "
		    "on %zu listeners", master->shutting_down ? "serving in "
		    "the drain" : "running", master->nlisteners);
		refuse.paused = 0;
		refuse.total = 0;
		master_refuse_listen(1);
		evtimer_add(refuse.tick, &sec);
		return;
	}
	if (!refuse.paused)
		master_refuse_listen(0);
	refuse.paused = 0;
	evtimer_del(refuse.tick);
	master_refuse_summary();
	/* A restart at once refuses nobody: no news then. */
	if (refuse.total > 0)
		log_info("smtpd running again: the master stops answering; "
		    "%lu connections refused meanwhile", refuse.total);
	else
		log_debug("smtpd running again: the master stops answering");
}
