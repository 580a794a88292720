/*
 * avalctl - talk to a running avald through its control socket
 *
 *	avalctl [-f file] [-s socket] queue [--json]
 *	avalctl [-f file] [-s socket] flush
 *	avalctl [-f file] [-s socket] status [--json]
 *	avalctl [-f file] [-s socket] federation [show|health] [--json]
 *	avalctl passwd [user]
 *	avalctl passwd --check file
 *
 * passwd needs no avald: it reads a password (from the terminal without
 * echo, asked twice; or one line from stdin when that is not a terminal),
 * hashes it with yescrypt (crypt_gensalt_rn + crypt_rn, libxcrypt's
 * default cost) and prints "user:hash", ready to append to the password
 * file (docs/auth.md); with no user, just the hash. The line it prints is
 * loaded back and the password verified against it before it is shown.
 * passwd --check loads a password file as avald would and prints every
 * error as file:line: message.
 *
 * The socket is runtime-dir/avald.sock of the same configuration avald
 * uses: -f file, else /etc/aval/aval.conf if it exists, else the embedded
 * development default (so in a build tree "avalctl queue" finds the
 * avald started there). Replies are framed IPC (common/ipc.h); avalctl
 * checks each frame as strictly as any worker does.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/ctlclient.h"
#include "common/ipc.h"
#include "common/json.h"
#include "common/log.h"
#include "common/passwd.h"
#include "common/xmalloc.h"

#define AVALCTL_TIMEOUT	15

/*
 * RFC 4616 makes servers take passwords of up to 255 octets; a longer one
 * might not pass some client's PLAIN, or fit our command line limit.
 */
#define AVALCTL_PASS_MAX	255

static struct event_base	*base;
static int			 json;
static int			 status = 0;
static int			 nprocs;
static struct ctlclient_queue	 queue;

static void
avalctl_usage(void)
{
	fprintf(stderr, "usage: avalctl [-f file] [-s socket] command\n"
	    "  queue [--json]             every message and recipient\n"
	    "  show ID [--json]           one message: envelope, outcomes, "
	    "headers\n"
	    "  hold ID|all, release ID|all, requeue ID|all\n"
	    "  delete [--bounce] ID|all   remove (or bounce) a message\n"
	    "  flush [DOMAIN]             everything deferred due now\n"
	    "  pause, resume              stop and restart deliveries (mail "
	    "is still queued)\n"
	    "  stats [--json]             depth, destinations, oldest, "
	    "counts\n"
	    "  status [--json]            avald's processes\n"
	    "  federation [show|health] [--json]\n"
	    "                             the loaded federation bundle, or "
	    "per-member TLS health\n"
	    "  passwd [user] | passwd --check file\n");
	exit(2);
}

/* --- passwd -------------------------------------------------------------- */

static struct termios		 avalctl_tty;
static volatile sig_atomic_t	 avalctl_tty_off;

/* Put echo back before a signal ends us in the middle of a prompt. */
static void
avalctl_passwd_signal(int sig)
{
	if (avalctl_tty_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &avalctl_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * avalctl_passwd_line - one line from stdin into buf, without its newline.
 * read() one octet at a time, so no stdio buffer keeps a copy to wipe.
 * Returns the length, or -1 (too long, or end of input before anything).
 */
static ssize_t
avalctl_passwd_line(char *buf, size_t size)
{
	size_t	 n = 0;
	ssize_t	 r;
	char	 c;
	int	 toolong = 0;

	for (;;) {
		if ((r = read(STDIN_FILENO, &c, 1)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("read");
		}
		if (r == 0) {
			if (n == 0 && !toolong)
				return -1;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 >= size)
			toolong = 1;
		else
			buf[n++] = c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (toolong) {
		OPENSSL_cleanse(buf, size);
		fprintf(stderr, "avalctl: password longer than %d octets\n",
		    AVALCTL_PASS_MAX);
		exit(1);
	}
	return (ssize_t)n;
}

/* avalctl_passwd_ask - prompt on the terminal with echo off */
static ssize_t
avalctl_passwd_ask(const char *prompt, char *buf, size_t size)
{
	struct termios	 t;
	ssize_t		 n;

	fputs(prompt, stderr);
	fflush(stderr);
	t = avalctl_tty;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	avalctl_tty_off = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == -1)
		fatal("tcsetattr");
	n = avalctl_passwd_line(buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &avalctl_tty);
	avalctl_tty_off = 0;
	fputc('\n', stderr);
	return n;
}

/* avalctl_passwd_check - passwd --check: load file as avald would */
static int
avalctl_passwd_check(const char *path)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	struct stat		 st;
	size_t			 i;
	int			 rc = 0;

	if (passwd_load_file(pw, path, &errs) == -1) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
		rc = 1;
	} else {
		if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
			fprintf(stderr, "%s: warning: readable by every user "
			    "(mode %04o): the hashes can be attacked offline\n",
			    path, (unsigned)(st.st_mode & 07777));
		printf("%s: %zu user%s OK\n", path, passwd_count(pw),
		    passwd_count(pw) == 1 ? "" : "s");
	}
	conf_errors_clear(&errs);
	passwd_free(pw);
	return rc;
}

/*
 * avalctl_passwd_user - 0 if user may stand in a password file line: the
 * loader itself decides, with a hash of the right shape standing in.
 */
static int
avalctl_passwd_user(const char *user)
{
	static const char	 placeholder[] = "$y$j9T$"
	    "......................$"
	    "...........................................";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new();
	char			*line;
	const char		*msg;
	int			 rc = 0;

	if (strchr(user, ':') != NULL || strchr(user, '\n') != NULL) {
		fprintf(stderr, "avalctl: user name may not hold ':' or a "
		    "newline\n");
		passwd_free(pw);
		return -1;
	}
	xasprintf(&line, "%s:%s\n", user, placeholder);
	if (passwd_load_text(pw, line, strlen(line), "-", &errs) == -1) {
		msg = errs.lines[0];
		if (strncmp(msg, "-:1: ", 5) == 0)
			msg += 5;
		fprintf(stderr, "avalctl: %s\n", msg);
		rc = -1;
	}
	free(line);
	conf_errors_clear(&errs);
	passwd_free(pw);
	return rc;
}

/* avalctl_passwd - passwd [user] | passwd --check file */
static int
avalctl_passwd(int argc, char **argv)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct crypt_data	*cd;
	struct passwd		*pw;
	char			 pass[AVALCTL_PASS_MAX + 1];
	char			 again[AVALCTL_PASS_MAX + 1];
	char			 setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*user = NULL, *hash;
	char			*line = NULL;
	ssize_t			 n, m;
	int			 tty, rc = 1;

	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return avalctl_passwd_check(argv[2]);
	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		avalctl_usage();
	if (argc == 2) {
		user = argv[1];
		if (avalctl_passwd_user(user) == -1)
			return 1;
	}

	tty = isatty(STDIN_FILENO);
	if (tty) {
		if (tcgetattr(STDIN_FILENO, &avalctl_tty) == -1)
			fatal("tcgetattr");
		signal(SIGINT, avalctl_passwd_signal);
		signal(SIGTERM, avalctl_passwd_signal);
		signal(SIGQUIT, avalctl_passwd_signal);
		signal(SIGHUP, avalctl_passwd_signal);
		n = avalctl_passwd_ask("Password: ", pass, sizeof(pass));
		if (n > 0) {
			m = avalctl_passwd_ask("Again: ", again, sizeof(again));
			if (m != n || memcmp(pass, again, (size_t)n) != 0) {
				fprintf(stderr, "avalctl: the passwords do not "
				    "match\n");
				goto done;
			}
		}
	} else
		n = avalctl_passwd_line(pass, sizeof(pass));
	if (n <= 0) {
		fprintf(stderr, "avalctl: no password given\n");
		goto done;
	}
	if (memchr(pass, '\0', (size_t)n) != NULL) {
		fprintf(stderr, "avalctl: password holds a NUL\n");
		goto done;
	}

	cd = xcalloc(1, sizeof(*cd));
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) ==
	    NULL)
		fatal("crypt_gensalt_rn");
	if ((hash = crypt_rn(pass, setting, cd, sizeof(*cd))) == NULL ||
	    hash[0] == '*')
		fatal("crypt_rn");
	xasprintf(&line, "%s:%s\n", user != NULL ? user : "check", hash);
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);

	/* What is printed must load, and take this password. */
	pw = passwd_new();
	if (passwd_load_text(pw, line, strlen(line), "-", &errs) == -1 ||
	    passwd_verify(pw, user != NULL ? user : "check", pass,
	    (size_t)n) != 1)
		fatalx("the hash made does not verify: libcrypt is broken");
	passwd_free(pw);
	fputs(user != NULL ? line : strchr(line, ':') + 1, stdout);
	if (fflush(stdout) == EOF || ferror(stdout))
		fatal("stdout");
	rc = 0;
done:
	free(line);
	conf_errors_clear(&errs);
	OPENSSL_cleanse(pass, sizeof(pass));
	OPENSSL_cleanse(again, sizeof(again));
	return rc;
}

/* avalctl_json_str - a JSON string literal on stdout (common/json.h) */
static void
avalctl_json_str(const char *s)
{
	struct buf	*b = buf_new(64, 6 * strlen(s) + 2);

	/* Six bytes an input byte at the most: the cap cannot be met. */
	if (json_str(b, s) == -1)
		fatalx("%s: escaped string too long", __func__);
	fputs(buf_data(b), stdout);
	buf_free(b);
}

static void
avalctl_print_queue(uint32_t n)
{
	struct ctlclient_msg	*m;
	struct ctlclient_rcpt	*r;
	char			 when[32];
	time_t			 t;

	if (json) {
		printf("[");
		for (m = queue.msgs; m != NULL; m = m->next) {
			printf("%s\n {\"id\": ", m == queue.msgs ? "" : ",");
			avalctl_json_str(m->qid);
			printf(", \"sender\": ");
			avalctl_json_str(m->sender);
			printf(", \"arrival\": %llu, \"size\": %llu, "
			    "\"held\": %s, \"recipients\": [",
			    (unsigned long long)m->arrival,
			    (unsigned long long)m->size,
			    (m->flags & IPC_CTL_MSG_HELD) ? "true" : "false");
			for (r = m->rcpts; r != NULL; r = r->next_rcpt) {
				printf("%s{\"address\": ", r == m->rcpts ?
				    "" : ", ");
				avalctl_json_str(r->addr);
				printf(", \"state\": \"%s\", \"attempts\": %u, "
				    "\"next_try\": %llu, \"last_error\": ",
				    ctlclient_state_name(r->state), r->attempts,
				    (unsigned long long)r->next);
				avalctl_json_str(r->error);
				printf("}");
			}
			printf("]}");
		}
		printf("%s]\n", queue.msgs ? "\n" : "");
		return;
	}
	if (n == 0) {
		printf("queue is empty\n");
		return;
	}
	printf("%-14s %9s  %-19s  %s\n", "QUEUE ID", "SIZE", "ARRIVAL",
	    "SENDER / RECIPIENTS");
	for (m = queue.msgs; m != NULL; m = m->next) {
		t = (time_t)m->arrival;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
		    localtime(&t));
		printf("%-14s %9llu  %-19s  <%s>%s\n", m->qid,
		    (unsigned long long)m->size, when, m->sender,
		    (m->flags & IPC_CTL_MSG_HELD) ? " (on hold)" : "");
		for (r = m->rcpts; r != NULL; r = r->next_rcpt) {
			printf("%47s<%s> %s", "", r->addr,
			    ctlclient_state_name(r->state));
			if (r->attempts > 0)
				printf(", %u attempts", r->attempts);
			if (r->error[0] != '\0')
				printf(" (%s)", r->error);
			printf("\n");
		}
	}
	printf("-- %u message%s\n", n, n == 1 ? "" : "s");
}

static void
avalctl_done(int rc)
{
	status = rc;
	event_base_loopexit(base, NULL);
}

static void
avalctl_dispatch(struct ipc_peer *p, struct ipc_msgin *r, void *arg)
{
	const char		*s1, *s2;
	uint32_t		 req, u1, u2, u3, n;
	uint64_t		 v1;

	(void)p;
	(void)arg;
	switch (ctlclient_queue_take(&queue, r)) {
	case 1:
		if (queue.done) {
			avalctl_print_queue(queue.n);
			avalctl_done(0);
		}
		return;
	case -1:
		fprintf(stderr, "avalctl: malformed %s from avald\n",
		    ipc_type_name(r->type));
		avalctl_done(1);
		return;
	}
	switch (r->type) {
	case IPC_QUEUE_CTL_FLUSHED:
		if (ipc_get_u32(r, &req) == -1 || ipc_get_u32(r, &n) == -1 ||
		    ipc_end(r) == -1)
			break;
		printf("%u recipient%s scheduled for delivery now\n", n,
		    n == 1 ? "" : "s");
		avalctl_done(0);
		return;
	case IPC_MASTER_CTL_PROC:
		if (ipc_get_str(r, &s1) == -1 || ipc_get_u32(r, &u1) == -1 ||
		    ipc_get_u32(r, &u2) == -1 || ipc_get_u64(r, &v1) == -1 ||
		    ipc_get_u32(r, &u3) == -1 || ipc_get_str(r, &s2) == -1 ||
		    ipc_end(r) == -1)
			break;
		if (json) {
			printf("%s\n {\"kind\": \"%s\", \"instance\": %u, "
			    "\"pid\": %u, \"state\": \"%s\", \"started\": %llu,"
			    " \"restarts\": %u}", nprocs ? "," : "[", s1, u1,
			    u2, s2, (unsigned long long)v1, u3);
		} else {
			if (nprocs == 0)
				printf("%-8s %4s %8s  %-10s  %s\n", "PROCESS",
				    "#", "PID", "STATE", "RESTARTS");
			printf("%-8s %4u %8u  %-10s  %u\n", s1, u1, u2, s2, u3);
		}
		nprocs++;
		return;
	case IPC_QUEUE_CTL_LINE:
		if (ipc_get_u32(r, &req) == -1 || ipc_get_str(r, &s1) == -1 ||
		    ipc_end(r) == -1)
			break;
		printf("%s\n", s1);
		return;
	case IPC_QUEUE_CTL_DONE:
		if (ipc_get_u32(r, &req) == -1 || ipc_get_u32(r, &u1) == -1 ||
		    ipc_get_str(r, &s1) == -1 || ipc_end(r) == -1)
			break;
		if (*s1 != '\0')
			fprintf(u1 == 0 ? stdout : stderr, "%s%s\n",
			    u1 == 0 ? "" : "avalctl: ", s1);
		avalctl_done(u1 == 0 ? 0 : u1 == 2 ? 2 : 1);
		return;
	case IPC_MASTER_CTL_END:
		if (ipc_get_u32(r, &u1) == -1 || ipc_get_str(r, &s1) == -1 ||
		    ipc_end(r) == -1)
			break;
		if (json && nprocs > 0)
			printf("\n]\n");
		if (u1 != 0)
			fprintf(stderr, "avalctl: %s\n", s1);
		avalctl_done(u1 == 0 ? 0 : 1);
		return;
	}
	fprintf(stderr, "avalctl: unexpected %s from avald\n",
	    ipc_type_name(r->type));
	avalctl_done(1);
}

static void
avalctl_closed(struct ipc_peer *p, void *arg)
{
	(void)p;
	(void)arg;
	fprintf(stderr, "avalctl: avald closed the connection\n");
	avalctl_done(1);
}

static void
avalctl_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	fprintf(stderr, "avalctl: no answer from avald in %d s\n",
	    AVALCTL_TIMEOUT);
	avalctl_done(1);
}

/*
 * avalctl_socket_path - the control socket of the config avald would use,
 * the user its workers run as (for ctlclient_open), and whether that was
 * the embedded default
 */
static void
avalctl_socket_path(const char *file, char *out, size_t outlen, char **user,
    int *dflt)
{
	struct conf	*conf;

	if ((conf = ctlclient_conf("avalctl", file, dflt)) == NULL)
		exit(2);
	if (ctlclient_path(conf, out, outlen) == -1)
		fatalx("runtime-dir too long");
	*user = conf->user != NULL ? xstrdup(conf->user) : NULL;
	conf_free(conf);
}

/*
 * avalctl_words - the command line as the frame to send: queue and status
 * as they were, the rest as one IPC_CTL_QUEUE_CMD (verb, argument,
 * flags: 1 --json, 2 --bounce); a wrong line is a usage error
 */
static struct ipc_msg *
avalctl_words(int argc, char **argv, uint32_t *type)
{
	const char	*verb = argv[0], *arg = "";
	struct ipc_msg	*m;
	uint32_t	 flags = 0;
	int		 i, need = 0, may = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			flags |= 1;
		else if (strcmp(argv[i], "--bounce") == 0)
			flags |= 2;
		else if (*arg == '\0' && argv[i][0] != '-')
			arg = argv[i];
		else
			avalctl_usage();
	}
	json = (flags & 1) != 0;
	if (strcmp(verb, "queue") == 0 || strcmp(verb, "status") == 0) {
		if (*arg != '\0' || (flags & 2))
			avalctl_usage();
		*type = strcmp(verb, "queue") == 0 ? IPC_CTL_QUEUE_LIST :
		    IPC_CTL_STATUS;
		return ipc_new(*type);
	}
	if (strcmp(verb, "federation") == 0) {
		if ((flags & 2) || (*arg != '\0' && strcmp(arg, "show") != 0 &&
		    strcmp(arg, "health") != 0))
			avalctl_usage();
		*type = IPC_CTL_FEDERATION;
		m = ipc_new(IPC_CTL_FEDERATION);
		ipc_put_str(m, *arg != '\0' ? arg : "show");
		ipc_put_u32(m, flags);
		return m;
	}
	if (strcmp(verb, "show") == 0)
		need = 1;
	else if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
	    strcmp(verb, "requeue") == 0 || strcmp(verb, "delete") == 0)
		need = 1;
	else if (strcmp(verb, "flush") == 0)
		may = 1;
	else if (strcmp(verb, "stats") != 0 && strcmp(verb, "pause") != 0 &&
	    strcmp(verb, "resume") != 0)
		avalctl_usage();
	if ((need && *arg == '\0') || (!need && !may && *arg != '\0') ||
	    ((flags & 2) && strcmp(verb, "delete") != 0) ||
	    ((flags & 1) && strcmp(verb, "show") != 0 &&
	    strcmp(verb, "stats") != 0) || strlen(arg) > 255)
		avalctl_usage();
	*type = IPC_CTL_QUEUE_CMD;
	m = ipc_new(IPC_CTL_QUEUE_CMD);
	ipc_put_str(m, verb);
	ipc_put_str(m, arg);
	ipc_put_u32(m, flags);
	return m;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { AVALCTL_TIMEOUT, 0 };
	const char		*file = NULL, *sock = NULL;
	char			*user = NULL;	/* -s: only root or you */
	struct ipc_msg		*req;
	uint32_t		 type;
	int			 ch, fd, dflt = 0;

	log_init("avalctl", LOG_TO_STDERR);
	while ((ch = getopt(argc, argv, "+f:s:")) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			avalctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "passwd") == 0)
		return avalctl_passwd(argc, argv);
	if (argc < 1)
		avalctl_usage();
	req = avalctl_words(argc, argv, &type);
	ctlclient_queue_init(&queue);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (sock != NULL) {
		if (strlcpy(sun.sun_path, sock, sizeof(sun.sun_path)) >=
		    sizeof(sun.sun_path))
			fatalx("socket path too long");
	} else
		avalctl_socket_path(file, sun.sun_path, sizeof(sun.sun_path),
		    &user, &dflt);
	switch (ctlclient_open("avalctl", sun.sun_path, user, dflt, &fd)) {
	case CTLCLIENT_O_OK:
		break;
	case CTLCLIENT_O_NOCONN:
		fprintf(stderr, "avalctl: %s: %s (is avald running?)\n",
		    sun.sun_path, strerror(errno));
		return 1;
	case CTLCLIENT_O_FOREIGN:
		return 1;
	}
	free(user);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	ipc_send(ipc_peer_new(base, fd, "avald", avalctl_dispatch,
	    avalctl_closed, NULL), req);
	event_base_once(base, -1, EV_TIMEOUT, avalctl_timeout, NULL, &tv);
	event_base_dispatch(base);
	return status;
}
