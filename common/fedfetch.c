/*
 * fedfetch - the HTTPS fetch of the federation bundle (see fedfetch.h)
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/fedfetch.h"
#include "common/log.h"
#include "common/xmalloc.h"

#ifndef AVAL_VERSION
#define AVAL_VERSION		"dev"
#endif

#define FEDFETCH_MAGIC		0x61766631u	/* "avf1" */
#define FEDFETCH_CHUNK		(64 * 1024)	/* one read of the pipe */
#define FEDFETCH_CHILD_FD	3		/* the pipe, in the child */

/* --- the fetch ------------------------------------------------------------ */

/* What the write callback needs: where the body goes, and why it stopped. */
struct fedfetch_body {
	CURL		*h;
	struct buf	*out;
	size_t		 max;
	int		 over;		/* the body passed max */
	int		 not_ok;	/* a body of a status other than 200 */
};

/*
 * fedfetch_write - take body bytes up to max. Returning less than was
 * given ends the transfer with CURLE_WRITE_ERROR; the flags say why.
 */
static size_t
fedfetch_write(char *p, size_t size, size_t n, void *arg)
{
	struct fedfetch_body	*b = arg;
	long			 code = 0;

	(void)size;		/* always 1 for the write callback */
	if (n == 0)
		return 0;
	/* The body of an error page is not wanted, only its status. */
	if (curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &code) !=
	    CURLE_OK || code != 200) {
		b->not_ok = 1;
		return 0;
	}
	if (n > b->max - buf_len(b->out) || buf_add(b->out, p, n) == -1) {
		b->over = 1;
		return 0;
	}
	return n;
}

/* fedfetch_curl_err - a failed transfer in plain words */
static void
fedfetch_curl_err(CURL *h, CURLcode rc, const char *ebuf, long timeout,
    char *err, size_t errlen)
{
	long	 vr = 0;
	char	 why[CURL_ERROR_SIZE + 64];

	snprintf(why, sizeof(why), "%s", ebuf[0] != '\0' ? ebuf :
	    curl_easy_strerror(rc));
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(err, errlen, "only https:// URLs are fetched");
		break;
	case CURLE_URL_MALFORMAT:
		snprintf(err, errlen, "the URL is malformed (%s)", why);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(err, errlen, "cannot resolve the host name (%s)",
		    why);
		break;
	case CURLE_COULDNT_CONNECT:
		snprintf(err, errlen, "cannot connect (%s)", why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "no complete answer within %ld s (%s)",
		    timeout, why);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		/*
		 * One code for both checks; the chain's verdict tells them
		 * apart. curl checks the name first and reads the verdict
		 * after, so a name that fails leaves it at "unspecified"
		 * (1); a chain that fails stops the handshake with its own
		 * code. curl's text, in the message either way, has the
		 * last word.
		 */
		if (curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &vr) ==
		    CURLE_OK && vr != X509_V_OK && vr != X509_V_ERR_UNSPECIFIED)
			snprintf(err, errlen, "the server's certificate is not "
			    "from the federation CA (%s)", why);
		else
			snprintf(err, errlen, "the server's certificate does "
			    "not name the URL's host (%s)", why);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(err, errlen, "the TLS handshake failed (%s)", why);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(err, errlen, "the federation CA certificate cannot "
		    "be read (%s)", why);
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		snprintf(err, errlen, "the connection broke off (%s)", why);
		break;
	default:
		snprintf(err, errlen, "%s", why);
		break;
	}
}

/* fedfetch_curl_init - curl_global_init() once in this process */
static int
fedfetch_curl_init(void)
{
	static int	 inited;

	if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	inited = 1;
	return 0;
}

/* fedfetch_get - one HTTPS GET under the federation's policy */
int
fedfetch_get(const char *url, const char *ca, size_t calen, size_t max,
    long timeout, time_t if_modified_since, struct buf *out, char *err,
    size_t errlen)
{
	struct fedfetch_body	 body;
	struct curl_blob	 blob;
	CURL			*h = NULL;
	CURLcode		 rc;
	long			 code = 0, unmet = 0;
	char			 ebuf[CURL_ERROR_SIZE];
	int			 rv = -1;

	buf_reset(out);
	ebuf[0] = '\0';
	if (url == NULL || strncasecmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "only https:// URLs are fetched");
		return -1;
	}
	if (!fedfetch_url_valid(url)) {
		snprintf(err, errlen, "the URL is not one aval fetches "
		    "(https://host[:port]/path, printable ASCII, no user "
		    "name)");
		return -1;
	}
	if (ca == NULL || calen == 0) {
		snprintf(err, errlen, "no federation CA to verify the server "
		    "with");
		return -1;
	}
	if (timeout < 1) {
		snprintf(err, errlen, "no timeout (%ld s)", timeout);
		return -1;
	}
	if (fedfetch_curl_init() == -1 || (h = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "libcurl cannot be initialised");
		return -1;
	}
	memset(&body, 0, sizeof(body));
	body.h = h;
	body.out = out;
	body.max = max;
	blob.data = (void *)(uintptr_t)ca;	/* copied: CURL_BLOB_COPY */
	blob.len = calen;
	blob.flags = CURL_BLOB_COPY;

	/*
	 * Every option that carries policy is checked: a libcurl that would
	 * not take one (an old version, another TLS backend) must not fetch
	 * with its default in its place. CAINFO and CAPATH go to NULL so the
	 * CA file and directory compiled into libcurl (Debian's name the
	 * system store) are not read; the blob replaces the file, and no
	 * OpenSSL default path is loaded when a CA is given.
	 */
	if ((rc = curl_easy_setopt(h, CURLOPT_URL, url)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https")) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https")) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAINFO, NULL)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_PROXY, "")) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_NETRC,
	    (long)CURL_NETRC_IGNORED)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "aval/" AVAL_VERSION)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)(max > INT64_MAX ? INT64_MAX : max))) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fedfetch_write)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &body)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf)) != CURLE_OK)
		goto setopt;
	if (if_modified_since != 0 &&
	    ((rc = curl_easy_setopt(h, CURLOPT_TIMECONDITION,
	    (long)CURL_TIMECOND_IFMODSINCE)) != CURLE_OK ||
	    (rc = curl_easy_setopt(h, CURLOPT_TIMEVALUE_LARGE,
	    (curl_off_t)if_modified_since)) != CURLE_OK))
		goto setopt;

	rc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	if (rc == CURLE_FILESIZE_EXCEEDED || (rc == CURLE_WRITE_ERROR &&
	    body.over)) {
		snprintf(err, errlen, "the body is larger than %zu bytes, the "
		    "most that is fetched", max);
		goto done;
	}
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && body.not_ok)) {
		fedfetch_curl_err(h, rc, ebuf, timeout, err, errlen);
		goto done;
	}
	/*
	 * curl reports a 200 whose Last-Modified is not newer than the
	 * condition as unmet (and says 304) rather than pass on the body.
	 */
	if (curl_easy_getinfo(h, CURLINFO_CONDITION_UNMET, &unmet) !=
	    CURLE_OK)
		unmet = 0;
	if (if_modified_since != 0 && (code == 304 || unmet)) {
		buf_reset(out);
		rv = 1;
		goto done;
	}
	if (code != 200) {
		buf_reset(out);
		snprintf(err, errlen, "the server answered HTTP status %ld%s",
		    code, code >= 300 && code < 400 && code != 304 ?
		    " (redirects are not followed: give the final URL)" :
		    code == 304 ? " to a request that was not conditional" :
		    ", not 200");
		goto done;
	}
	rv = 0;
	goto done;

setopt:
	snprintf(err, errlen, "libcurl refused a setting it must take (%s)",
	    curl_easy_strerror(rc));
done:
	curl_easy_cleanup(h);
	if (rv == -1) {
		buf_reset(out);
		/* curl's text can quote the server's certificate. */
		log_printable(err, err, errlen);
	}
	return rv;
}

/* --- the frame ------------------------------------------------------------ */

/* fedfetch_frame_parse - check a child's bytes; see fedfetch.h */
int
fedfetch_frame_parse(const unsigned char *p, size_t n, size_t max,
    int *status, const unsigned char **data, size_t *len, char *err,
    size_t errlen)
{
	uint32_t	 magic;
	int32_t		 st;
	uint64_t	 l;
	char		 text[FEDFETCH_ERR_MAX];

	*status = -1;
	*data = NULL;
	*len = 0;
	if (n < FEDFETCH_HDR_LEN) {
		snprintf(err, errlen, "the fetch process sent %zu bytes, "
		    "less than a result", n);
		return -1;
	}
	memcpy(&magic, p, 4);
	memcpy(&st, p + 4, 4);
	memcpy(&l, p + 8, 8);
	if (magic != FEDFETCH_MAGIC) {
		snprintf(err, errlen, "the fetch process sent a result "
		    "without its magic");
		return -1;
	}
	if (l != n - FEDFETCH_HDR_LEN) {
		snprintf(err, errlen, "the fetch process sent %zu bytes after "
		    "a header that announces %llu", n - FEDFETCH_HDR_LEN,
		    (unsigned long long)l);
		return -1;
	}
	switch (st) {
	case 0:
		if (l > max) {
			snprintf(err, errlen, "the fetch process sent a body "
			    "of %llu bytes, more than %zu",
			    (unsigned long long)l, max);
			return -1;
		}
		*status = 0;
		*data = p + FEDFETCH_HDR_LEN;
		*len = (size_t)l;
		return 0;
	case 1:
		if (l != 0) {
			snprintf(err, errlen, "the fetch process sent data "
			    "with \"not modified\"");
			return -1;
		}
		*status = 1;
		return 0;
	case -1:
		if (l == 0 || l >= sizeof(text) ||
		    memchr(p + FEDFETCH_HDR_LEN, '\0', (size_t)l) != NULL) {
			snprintf(err, errlen, "the fetch process sent a "
			    "malformed reason for its failure");
			return -1;
		}
		memcpy(text, p + FEDFETCH_HDR_LEN, (size_t)l);
		text[l] = '\0';
		log_printable(text, err, errlen);
		return 0;
	default:
		snprintf(err, errlen, "the fetch process sent status %ld",
		    (long)st);
		return -1;
	}
}

/* --- the child ------------------------------------------------------------ */

/* fedfetch_child_write - all of it, or _exit */
static void
fedfetch_child_write(const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(FEDFETCH_CHILD_FD, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		c += w;
		n -= (size_t)w;
	}
}

/* fedfetch_child_send - the frame, then _exit */
static void __attribute__((noreturn))
fedfetch_child_send(int status, const void *p, size_t n)
{
	unsigned char	 hdr[FEDFETCH_HDR_LEN];
	uint32_t	 magic = FEDFETCH_MAGIC;
	int32_t		 st = status;
	uint64_t	 l = n;

	memcpy(hdr, &magic, 4);
	memcpy(hdr + 4, &st, 4);
	memcpy(hdr + 8, &l, 8);
	fedfetch_child_write(hdr, sizeof(hdr));
	fedfetch_child_write(p, n);
	/* No atexit handlers, no stdio flush of the parent's buffers. */
	_exit(0);
}

/*
 * fedfetch_child_drop - become uid/gid when root and asked to: -1 with
 * err when that fails or does not stick. Never stays or becomes uid 0.
 */
static int
fedfetch_child_drop(uid_t uid, gid_t gid, int drop, char *err,
    size_t errlen)
{
	if (drop && geteuid() == 0) {
		if (uid == 0) {
			snprintf(err, errlen, "the fetch would run as root; "
			    "refused");
			return -1;
		}
		if (setgroups(0, NULL) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1) {
			snprintf(err, errlen, "cannot drop privileges to uid "
			    "%ld: %s", (long)uid, strerror(errno));
			return -1;
		}
		if (getuid() != uid || geteuid() != uid || getgid() != gid ||
		    getegid() != gid || getgroups(0, NULL) != 0 ||
		    setuid(0) != -1) {
			snprintf(err, errlen, "privileges were not dropped");
			return -1;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * fedfetch_child_signals - the master's handlers are libevent's, which
 * write to a socketpair the child has closed (and whose fd number a curl
 * socket may take): back to the defaults, nothing blocked, SIGPIPE off.
 */
static void
fedfetch_child_signals(void)
{
	static const int	 sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGCHLD,
	    SIGUSR1, SIGUSR2, SIGALRM };
	sigset_t		 none;
	size_t			 i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

struct fedfetch_req {
	const char	*url;
	const char	*ca;
	size_t		 calen;
	size_t		 max;
	long		 timeout;
	time_t		 ims;
	uid_t		 uid;
	gid_t		 gid;
	int		 drop;
};

/* fedfetch_child - what the forked child does, to its _exit */
static void __attribute__((noreturn))
fedfetch_child(int wfd, const struct fedfetch_req *r)
{
	struct buf	*out;
	char		 err[FEDFETCH_ERR_MAX];
	int		 rv;

	fedfetch_child_signals();
	if (wfd != FEDFETCH_CHILD_FD &&
	    dup2(wfd, FEDFETCH_CHILD_FD) == -1)
		_exit(1);
	closefrom(FEDFETCH_CHILD_FD + 1);
	/* libcurl would write the TLS secrets where this names. */
	unsetenv("SSLKEYLOGFILE");
	if (fedfetch_child_drop(r->uid, r->gid, r->drop, err,
	    sizeof(err)) == -1)
		fedfetch_child_send(-1, err, strlen(err));
	out = buf_new(r->max < FEDFETCH_CHUNK ? r->max : FEDFETCH_CHUNK,
	    r->max);
	rv = fedfetch_get(r->url, r->ca, r->calen, r->max, r->timeout,
	    r->ims, out, err, sizeof(err));
	if (rv == 0)
		fedfetch_child_send(0, buf_data(out), buf_len(out));
	if (rv == 1)
		fedfetch_child_send(1, NULL, 0);
	fedfetch_child_send(-1, err, strlen(err));
}

/* --- the parent ----------------------------------------------------------- */

struct fedfetch {
	LIST_ENTRY(fedfetch)	 entry;
	pid_t			 pid;
	int			 fd;		/* the pipe's read end */
	struct event		*rev;
	struct event		*timer;
	struct buf		*in;		/* what the child sent */
	size_t			 max;
	long			 timeout;
	int			 reaped;	/* wstatus is its exit */
	int			 wstatus;
	int			 lost;		/* reaped, not reported */
	int			 calling;	/* in done: no cancel */
	fedfetch_done_cb	 done;
	void			*arg;
};

static LIST_HEAD(, fedfetch) fedfetch_live =
    LIST_HEAD_INITIALIZER(fedfetch_live);

/* fedfetch_pid - the child's pid */
pid_t
fedfetch_pid(const struct fedfetch *f)
{
	return f->pid;
}

/* fedfetch_reaped - a SIGCHLD handler reaped pid: is it a fetch child? */
int
fedfetch_reaped(pid_t pid, int status)
{
	struct fedfetch	*f;

	LIST_FOREACH(f, &fedfetch_live, entry)
		if (f->pid == pid && !f->reaped) {
			f->reaped = 1;
			f->wstatus = status;
			return 1;
		}
	return 0;
}

/*
 * fedfetch_reap - the child waited for, killed first if it is still
 * there. waitpid(WNOHANG) first: while it says 0 the pid is our child and
 * not yet reaped, so it cannot have been reused, and the SIGKILL reaches
 * that child alone. A child that has closed the pipe is already exiting:
 * the kill then changes nothing in its exit status.
 */
static void
fedfetch_reap(struct fedfetch *f)
{
	pid_t	 r;

	if (f->reaped)
		return;
	while ((r = waitpid(f->pid, &f->wstatus, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (r == 0) {
		kill(f->pid, SIGKILL);
		while ((r = waitpid(f->pid, &f->wstatus, 0)) == -1 &&
		    errno == EINTR)
			;
	}
	if (r == -1) {
		/* Reaped by a handler that did not call fedfetch_reaped(). */
		log_warnx("fetch process %ld was reaped elsewhere: its exit "
		    "is unknown", (long)f->pid);
		f->lost = 1;
	}
	f->reaped = 1;
}

/* fedfetch_free - events, pipe and child gone; off the list */
static void
fedfetch_free(struct fedfetch *f)
{
	event_free(f->rev);
	event_free(f->timer);
	close(f->fd);
	fedfetch_reap(f);
	LIST_REMOVE(f, entry);
	buf_free(f->in);
	free(f);
}

/* fedfetch_finish - reap, judge, call done once, free */
static void
fedfetch_finish(struct fedfetch *f, const char *failed)
{
	const unsigned char	*data = NULL;
	size_t			 len = 0;
	char			 err[FEDFETCH_ERR_MAX + 64];
	int			 status = -1;

	event_del(f->rev);
	event_del(f->timer);
	fedfetch_reap(f);
	if (failed != NULL)
		snprintf(err, sizeof(err), "%s", failed);
	else if (f->lost)
		snprintf(err, sizeof(err), "the fetch process was reaped "
		    "without fedfetch_reaped(); its result is not trusted");
	else if (WIFSIGNALED(f->wstatus))
		snprintf(err, sizeof(err), "the fetch process was killed by "
		    "signal %d", WTERMSIG(f->wstatus));
	else if (!WIFEXITED(f->wstatus) || WEXITSTATUS(f->wstatus) != 0)
		snprintf(err, sizeof(err), "the fetch process exited with "
		    "status %d", WEXITSTATUS(f->wstatus));
	else if (fedfetch_frame_parse((const unsigned char *)buf_data(f->in),
	    buf_len(f->in), f->max, &status, &data, &len, err,
	    sizeof(err)) == -1)
		status = -1;
	f->calling = 1;
	f->done(status, data, len, status == -1 ? err : NULL, f->arg);
	fedfetch_free(f);
}

/* fedfetch_read - the child's bytes, bounded, until the pipe closes */
static void
fedfetch_read(evutil_socket_t fd, short ev, void *arg)
{
	struct fedfetch	*f = arg;
	char		 chunk[FEDFETCH_CHUNK], why[128];
	ssize_t		 n;

	(void)ev;
	if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		snprintf(why, sizeof(why), "reading the fetch process: %s",
		    strerror(errno));
		fedfetch_finish(f, why);
		return;
	}
	if (n == 0) {
		fedfetch_finish(f, NULL);
		return;
	}
	if (buf_add(f->in, chunk, (size_t)n) == -1) {
		snprintf(why, sizeof(why), "the fetch process sent more than "
		    "%zu bytes", buf_cap(f->in));
		fedfetch_finish(f, why);
	}
}

/* fedfetch_timeout - the child outlived its own timeout and the grace */
static void
fedfetch_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct fedfetch	*f = arg;
	char		 why[128];

	(void)fd;
	(void)ev;
	snprintf(why, sizeof(why), "the fetch process did not finish within "
	    "%ld s; killed", f->timeout + FEDFETCH_GRACE);
	fedfetch_finish(f, why);
}

/* fedfetch_start - fedfetch_get() in a child; see fedfetch.h */
struct fedfetch *
fedfetch_start(struct event_base *base, const char *url, const char *ca,
    size_t calen, size_t max, long timeout, time_t if_modified_since,
    uid_t uid, gid_t gid, int drop, fedfetch_done_cb done, void *arg)
{
	struct fedfetch_req	 r;
	struct fedfetch		*f;
	struct timeval		 tv;
	int			 p[2];
	pid_t			 pid;

	if (max > SIZE_MAX / 2)
		fatalx("%s: max %zu", __func__, max);
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("fedfetch: pipe");
		return NULL;
	}
	r.url = url;
	r.ca = ca;
	r.calen = calen;
	r.max = max;
	r.timeout = timeout;
	r.ims = if_modified_since;
	r.uid = uid;
	r.gid = gid;
	r.drop = drop;
	switch ((pid = fork())) {
	case -1:
		log_warn("fedfetch: fork");
		close(p[0]);
		close(p[1]);
		return NULL;
	case 0:
		close(p[0]);
		fedfetch_child(p[1], &r);
	}
	close(p[1]);
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("fedfetch: O_NONBLOCK");

	f = xcalloc(1, sizeof(*f));
	f->pid = pid;
	f->fd = p[0];
	f->max = max;
	/* A timeout below 1 s is refused by the child, which says so. */
	f->timeout = timeout < 1 ? 1 : timeout;
	f->done = done;
	f->arg = arg;
	f->in = buf_new(FEDFETCH_CHUNK, FEDFETCH_HDR_LEN +
	    (max > FEDFETCH_ERR_MAX ? max : FEDFETCH_ERR_MAX));
	LIST_INSERT_HEAD(&fedfetch_live, f, entry);
	f->rev = event_new(base, f->fd, EV_READ | EV_PERSIST, fedfetch_read,
	    f);
	f->timer = evtimer_new(base, fedfetch_timeout, f);
	if (f->rev == NULL || f->timer == NULL)
		fatalx("fedfetch: event_new");
	tv.tv_sec = f->timeout + FEDFETCH_GRACE;
	tv.tv_usec = 0;
	if (event_add(f->rev, NULL) == -1 || evtimer_add(f->timer, &tv) == -1)
		fatalx("fedfetch: event_add");
	return f;
}

/* fedfetch_cancel - kill and reap the child; done is not called */
void
fedfetch_cancel(struct fedfetch *f)
{
	if (f == NULL || f->calling)
		return;
	fedfetch_free(f);
}
