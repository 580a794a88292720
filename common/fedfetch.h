/*
 * fedfetch - the HTTPS fetch of the federation bundle, for avald
 *
 * fedfetch_get() is the fetch, blocking, with libcurl. The federation CA
 * given as PEM text is the only trust anchor: curl's compiled-in CA file
 * and directory are switched off, nothing is read from the system store or
 * from the environment (SSL_CERT_FILE, SSL_CERT_DIR), and the server's
 * certificate must name the URL's host. The rest of the policy: https://
 * only (no other scheme even by redirect, and redirects are not followed:
 * a 3xx is an error that says so), TLS 1.2 or later, HTTP/1.1 (a bundle
 * needs nothing from HTTP/2, and its parser is one more thing facing the
 * network), no proxy (not even from http_proxy and friends), no cookies,
 * no .netrc, no compression (the byte limit is on what crosses the wire),
 * User-Agent "aval/VERSION". The body is at most max bytes: a bigger one
 * is refused as soon as its Content-Length says so, or when its max+1st
 * byte arrives. The server must answer 200, or 304 to a request made with
 * if_modified_since (then: "not modified"). timeout bounds the connection
 * and the whole transfer, each, in seconds.
 *
 * fedfetch_start() runs the same fetch for the master without blocking
 * its loop. It forks a child, which closes every fd it inherited but the
 * result pipe (the master's listeners, control socket and worker links
 * are not for a process that talks to the network), resets the master's
 * signal handlers, unsets SSLKEYLOGFILE (libcurl would write the TLS
 * secrets there), drops to uid/gid when started as root and asked to
 * (no supplementary groups; setresgid, setresuid; checked, and never to
 * uid 0), runs fedfetch_get() and writes one frame to the pipe:
 *
 *	uint32 magic, int32 status, uint64 length, then length bytes
 *
 * in host byte order (a pipe to itself), the bytes being the body (status
 * 0), nothing (1) or the reason as text (-1); then it _exit()s, so
 * neither atexit handlers nor LeakSanitizer run in it. The parent trusts
 * none of it: it reads at most FEDFETCH_HDR_LEN + max(max,
 * FEDFETCH_ERR_MAX) bytes, and fedfetch_frame_parse() checks all of them
 * (magic, status, a length that fits the status and the bytes read
 * exactly, error text without NUL and made printable). The result counts
 * only when the child also exited 0. The parent kills the child (SIGKILL)
 * when it has not finished FEDFETCH_GRACE seconds after timeout, and
 * calls done exactly once, after the child has been reaped.
 *
 * Reaping. The fetch reaps its own child with waitpid(pid) once the pipe
 * closes (or on its timer, or in fedfetch_cancel()): it never installs a
 * SIGCHLD handler. A process whose SIGCHLD handler reaps with
 * waitpid(-1, ...) (avald does) may reap a fetch child first; it must then
 * hand the status over with fedfetch_reaped(pid, status), which returns 1
 * for a fetch child (not a worker: do not restart anything) and 0 for any
 * other pid. Without that a fetch whose child was reaped elsewhere fails,
 * saying so, rather than guess at an exit it did not see. Before the
 * SIGKILL of the timer or of fedfetch_cancel(), the parent checks with
 * waitpid(WNOHANG) that the pid is still its unreaped child, so a kill can
 * never reach a process that reused the pid.
 *
 * curl_global_init() is called by fedfetch_get() itself, once per process,
 * before its first use of libcurl; there is no cleanup (one-shot children
 * _exit, and libcurl's global state is small). So for fedfetch_start() it
 * runs in the child, after the fork and the drop of privileges: the
 * master, which keeps root, never runs libcurl code at all, and the call
 * (not thread-safe before curl 7.84) happens in a process with one thread.
 * OpenSSL, which the master has already initialised, is fork-safe.
 *
 * Ownership: fedfetch_get() empties out first and fills it (the caller's
 * buf; its own cap holds as well). done's data and err are lent for the
 * call only. A struct fedfetch lives from fedfetch_start() until done
 * returns or fedfetch_cancel() does (from inside done, fedfetch_cancel()
 * of that fetch does nothing: it is freed when done returns).
 */
#ifndef AVAL_COMMON_FEDFETCH_H
#define AVAL_COMMON_FEDFETCH_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

struct buf;
struct event_base;

#define FEDFETCH_URL_MAX	1024	/* the longest URL fetched */
#define FEDFETCH_ERR_MAX	256	/* a child's reason, with its NUL */
#define FEDFETCH_GRACE		5	/* s past timeout: then SIGKILL */
#define FEDFETCH_HDR_LEN	16	/* magic, status and length */

/*
 * fedfetch_get - fetch url trusting ca/calen only: 0 with the body in out,
 * 1 not modified (304 to if_modified_since, when not 0), -1 with a reason
 * in plain words in err (printable ASCII, no URL: the caller names it)
 */
int	 fedfetch_get(const char *url, const char *ca, size_t calen,
	    size_t max, long timeout, time_t if_modified_since,
	    struct buf *out, char *err, size_t errlen);

struct fedfetch;

/* status 0 ok (data, len), 1 not modified, -1 failed (err) */
typedef void (*fedfetch_done_cb)(int status, const unsigned char *data,
	    size_t len, const char *err, void *arg);

/*
 * fedfetch_start - fedfetch_get() in a child, done called from base's
 * loop. drop: when running as root, the child becomes uid/gid (not 0).
 * ca is read by the child from its copy of memory: the caller may free it
 * at once. NULL when no child could be started (pipe or fork failed,
 * logged): done will not be called.
 */
struct fedfetch *fedfetch_start(struct event_base *, const char *url,
	    const char *ca, size_t calen, size_t max, long timeout,
	    time_t if_modified_since, uid_t uid, gid_t gid, int drop,
	    fedfetch_done_cb done, void *arg);

/* fedfetch_cancel - kill and reap the child, free it; done is not called */
void	 fedfetch_cancel(struct fedfetch *);		/* NULL is fine */

/* fedfetch_pid - the child's pid, for the caller's log lines */
pid_t	 fedfetch_pid(const struct fedfetch *);

/*
 * fedfetch_reaped - for a SIGCHLD handler that reaps any child: 1 when pid
 * is a running fetch's child (the fetch takes status and finishes when its
 * pipe closes), 0 when it is not
 */
int	 fedfetch_reaped(pid_t pid, int status);

/*
 * fedfetch_frame_parse - the parent's check of all n bytes a child sent
 * (exported for its tests): 0 with *status, and *data, *len (status 0,
 * pointing into p) or the child's reason, made printable, in err (-1);
 * -1 with what is wrong in err when the bytes are not one good frame
 */
int	 fedfetch_frame_parse(const unsigned char *p, size_t n, size_t max,
	    int *status, const unsigned char **data, size_t *len, char *err,
	    size_t errlen);

/*
 * fedfetch_url_valid - 1 if url is an https:// URL fedfetch_get() would
 * fetch, by its syntax alone, else 0: at most FEDFETCH_URL_MAX bytes,
 * "https://", a host name (letters, digits, inner hyphens, dots), an IPv4
 * address or a bracketed IPv6 one, an optional port 1-65535, then nothing
 * or a path (and query) of printable ASCII; no user name or password, no
 * fragment. In common/fedfetch_url.c, which needs no libcurl: the config
 * loader links it into every process, only avald links libcurl.
 */
int	 fedfetch_url_valid(const char *url);

#endif
