/*
 * check_fedfetch - the federation bundle fetch, against a real HTTPS
 * server on loopback
 *
 * The certificates come from tls_gen_dev() (OpenSSL's API), made once per
 * test case in three temporary directories: the federation's CA and a
 * server certificate for localhost, 127.0.0.1 and ::1; another CA with a
 * server certificate for the same names; and a third CA whose server
 * certificate names mx.test only. The server is a child forked by the
 * test that speaks OpenSSL directly: on 127.0.0.1 and a free port it
 * handshakes with each client, reads the request head, appends it to a
 * file the test reads, waits if told to, sends one canned response and
 * closes. It dies with the test (PR_SET_PDEATHSIG) and after 30 s at the
 * latest, whatever a failed test left behind.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/fedfetch.h"
#include "common/tls.h"
#include "common/tls_gen.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

#define FF_MAX		(1024 * 1024)	/* max, where a test sets none */
#define FF_BIG		(200 * 1024)	/* a body bigger than a pipe's buffer */

/* --- certificates --------------------------------------------------------- */

static char	*fed_dir;	/* the federation CA; server for localhost */
static char	*other_dir;	/* another CA; server for the same names */
static char	*name_dir;	/* a third CA; server for mx.test only */
static char	*fed_ca;	/* PEM text of fed_dir/ca.crt */
static size_t	 fed_ca_len;
static char	*name_ca;	/* PEM text of name_dir/ca.crt */
static size_t	 name_ca_len;

static char *
ff_certs(const char *host)
{
	char	*d, err[256];

	d = harness_tmpdir();
	ck_assert_msg(tls_gen_dev(d, host, err, sizeof(err)) == 1, "%s", err);
	return d;
}

static void
ff_ca_read(const char *dir, char **text, size_t *len)
{
	char	 path[600], err[256];

	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	ck_assert_msg(tls_file_load(path, text, len, err, sizeof(err)) == 0,
	    "%s", err);
}

static void
ff_certs_setup(void)
{
	fed_dir = ff_certs("localhost");
	other_dir = ff_certs("localhost");
	name_dir = ff_certs("mx.test");
	ff_ca_read(fed_dir, &fed_ca, &fed_ca_len);
	ff_ca_read(name_dir, &name_ca, &name_ca_len);
}

static void
ff_certs_teardown(void)
{
	harness_rmtree(fed_dir);
	harness_rmtree(other_dir);
	harness_rmtree(name_dir);
	free(fed_dir);
	free(other_dir);
	free(name_dir);
	free(fed_ca);
	free(name_ca);
}

/* --- the server ----------------------------------------------------------- */

struct ff_srv {
	pid_t		 pid;
	int		 port;
	char		*dir;		/* its request log lives here */
	char		 log[600];
	char		 url[128];	/* https://127.0.0.1:port/bundle */
};

static struct ff_srv	 srv;

/* ff_srv_serve - one connection: handshake, request, wait, response */
static void
ff_srv_serve(SSL_CTX *ctx, int c, const char *resp, size_t resplen,
    unsigned int delay_ms)
{
	struct timespec	 ts;
	SSL		*ssl;
	char		 head[8192];
	size_t		 n = 0, off;
	int		 r, fd;

	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, c) != 1 ||
	    SSL_accept(ssl) != 1)
		goto done;
	while (n < sizeof(head) - 1) {
		r = SSL_read(ssl, head + n, (int)(sizeof(head) - 1 - n));
		if (r <= 0)
			goto done;
		n += (size_t)r;
		head[n] = '\0';
		if (strstr(head, "\r\n\r\n") != NULL)
			break;
	}
	if ((fd = open(srv.log, O_WRONLY | O_APPEND | O_CREAT, 0600)) != -1) {
		if (write(fd, head, n) != (ssize_t)n)
			_exit(1);
		close(fd);
	}
	if (delay_ms > 0) {
		ts.tv_sec = delay_ms / 1000;
		ts.tv_nsec = (long)(delay_ms % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
	for (off = 0; off < resplen; off += (size_t)r)
		if ((r = SSL_write(ssl, resp + off, (int)(resplen - off))) <= 0)
			goto done;
	SSL_shutdown(ssl);
done:
	SSL_free(ssl);
	close(c);
}

/* ff_srv_child - the server's life: connections until killed */
static void __attribute__((noreturn))
ff_srv_child(int lfd, const char *certdir, const char *resp, size_t resplen,
    unsigned int delay_ms)
{
	SSL_CTX		*ctx;
	char		 crt[600], key[600];
	int		 c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	alarm(30);
	snprintf(crt, sizeof(crt), "%s/server.crt", certdir);
	snprintf(key, sizeof(key), "%s/server.key", certdir);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		_exit(1);
	for (;;) {
		if ((c = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		ff_srv_serve(ctx, c, resp, resplen, delay_ms);
	}
}

/* ff_srv_start - a server with this certificate and this response */
static void
ff_srv_start(const char *certdir, const char *resp, size_t resplen,
    unsigned int delay_ms)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	int			 lfd;

	memset(&srv, 0, sizeof(srv));
	srv.dir = harness_tmpdir();
	snprintf(srv.log, sizeof(srv.log), "%s/requests", srv.dir);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	srv.port = ntohs(sin.sin_port);
	snprintf(srv.url, sizeof(srv.url), "https://127.0.0.1:%d/bundle",
	    srv.port);
	ck_assert_int_ne(srv.pid = fork(), -1);
	if (srv.pid == 0)
		ff_srv_child(lfd, certdir, resp, resplen, delay_ms);
	close(lfd);
}

static void
ff_srv_stop(void)
{
	if (srv.pid > 0) {
		kill(srv.pid, SIGKILL);
		waitpid(srv.pid, NULL, 0);
	}
	harness_rmtree(srv.dir);
	free(srv.dir);
	memset(&srv, 0, sizeof(srv));
}

/* ff_srv_requests - what the server was asked, "" for nothing yet */
static char *
ff_srv_requests(void)
{
	char	*text = NULL, err[256];
	size_t	 len;

	if (access(srv.log, F_OK) == -1)
		return xstrdup("");
	ck_assert_msg(tls_file_load(srv.log, &text, &len, err,
	    sizeof(err)) == 0, "%s", err);
	return text;
}

/* ff_resp - status line, headers, body: a response the server sends */
static char *
ff_resp(const char *status, const char *headers, const char *body,
    size_t bodylen, size_t *len)
{
	struct buf	*b = buf_new(256, bodylen + 4096);

	ck_assert_int_eq(buf_printf(b, "HTTP/1.1 %s\r\n%sConnection: close"
	    "\r\n\r\n", status, headers), 0);
	ck_assert_int_eq(buf_add(b, body, bodylen), 0);
	*len = buf_len(b);
	return buf_release(b);
}

/* ff_body - n bytes of text that differ along the way */
static char *
ff_body(size_t n)
{
	char	*p = xmalloc(n + 1);
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
	p[n] = '\0';
	return p;
}

/* ff_ok - start a server that answers 200 with this body */
static void
ff_ok(const char *certdir, const char *body, size_t n, unsigned int delay)
{
	char	*resp, hdr[64];
	size_t	 len;

	snprintf(hdr, sizeof(hdr), "Content-Length: %zu\r\n", n);
	resp = ff_resp("200 OK", hdr, body, n, &len);
	ff_srv_start(certdir, resp, len, delay);
	free(resp);
}

/* --- fedfetch_get --------------------------------------------------------- */

START_TEST(a_good_fetch_gives_the_body_and_sends_our_user_agent)
{
	static const char	 body[] = "federation bundle\n";
	struct buf		*out = buf_new(64, FF_MAX);
	char			 err[FEDFETCH_ERR_MAX], *req;

	/* Proxies the environment names are not used: these go nowhere. */
	setenv("https_proxy", "http://127.0.0.1:9", 1);
	setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
	ff_ok(fed_dir, body, strlen(body), 0);
	ck_assert_msg(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5, 0,
	    out, err, sizeof(err)) == 0, "%s", err);
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	ck_assert_uint_eq(buf_len(out), strlen(body));
	ck_assert_str_eq(buf_data(out), body);
	req = ff_srv_requests();
	ck_assert_msg(strncmp(req, "GET /bundle HTTP/1.1\r\n", 22) == 0, "%s",
	    req);
	ck_assert_msg(strstr(req, "\r\nUser-Agent: aval/") != NULL, "%s", req);
	ck_assert_ptr_null(strstr(req, "If-Modified-Since"));
	ck_assert_ptr_null(strstr(req, "Cookie"));
	ck_assert_ptr_null(strstr(req, "Accept-Encoding"));
	free(req);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

/*
 * With the other CA where OpenSSL's default paths and the environment
 * point: a fetch that read either would accept the server.
 */
START_TEST(a_server_certificate_from_another_ca_is_refused)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], path[600];

	snprintf(path, sizeof(path), "%s/ca.crt", other_dir);
	setenv("SSL_CERT_FILE", path, 1);
	setenv("SSL_CERT_DIR", other_dir, 1);
	setenv("CURL_CA_BUNDLE", path, 1);
	ff_ok(other_dir, "x", 1, 0);
	ck_assert_int_eq(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    0, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not from the federation CA") != NULL, "%s",
	    err);
	ck_assert_uint_eq(buf_len(out), 0);
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	unsetenv("CURL_CA_BUNDLE");
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(a_certificate_that_does_not_name_the_host_is_refused)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX];

	/* Its CA is trusted: only the name (mx.test, not 127.0.0.1) fails. */
	ff_ok(name_dir, "x", 1, 0);
	ck_assert_int_eq(fedfetch_get(srv.url, name_ca, name_ca_len, FF_MAX,
	    5, 0, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "does not name the URL's host") != NULL,
	    "%s", err);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(an_http_url_is_refused_without_a_connection)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], url[128], *req;

	ff_ok(fed_dir, "x", 1, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/bundle", srv.port);
	ck_assert_int_eq(fedfetch_get(url, fed_ca, fed_ca_len, FF_MAX, 5, 0,
	    out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "only https://") != NULL, "%s", err);
	req = ff_srv_requests();
	ck_assert_str_eq(req, "");
	free(req);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

/* A body at max, over it with a Content-Length, over it without one. */
static const struct {
	size_t		 len;
	int		 content_length;
	int		 rv;
} ff_sizes[] = {
	{ 1000, 1, 0 }, { 1000, 0, 0 }, { 1001, 1, -1 }, { 1001, 0, -1 },
	{ FF_BIG, 1, -1 }, { FF_BIG, 0, -1 },
};

START_TEST(a_body_over_max_is_refused)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], hdr[64], *body, *resp;
	size_t		 len, n = ff_sizes[_i].len;

	body = ff_body(n);
	snprintf(hdr, sizeof(hdr), "Content-Length: %zu\r\n", n);
	resp = ff_resp("200 OK", ff_sizes[_i].content_length ? hdr : "", body,
	    n, &len);
	ff_srv_start(fed_dir, resp, len, 0);
	err[0] = '\0';
	ck_assert_msg(fedfetch_get(srv.url, fed_ca, fed_ca_len, 1000, 5, 0,
	    out, err, sizeof(err)) == ff_sizes[_i].rv, "%zu: %s", n, err);
	if (ff_sizes[_i].rv == 0) {
		ck_assert_uint_eq(buf_len(out), n);
		ck_assert_int_eq(memcmp(buf_data(out), body, n), 0);
	} else {
		ck_assert_msg(strstr(err, "larger than 1000 bytes") != NULL,
		    "%s", err);
		ck_assert_uint_eq(buf_len(out), 0);
	}
	free(resp);
	free(body);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(a_body_cut_short_is_refused)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], *resp;
	size_t		 len;

	resp = ff_resp("200 OK", "Content-Length: 10\r\n", "12345", 5, &len);
	ff_srv_start(fed_dir, resp, len, 0);
	ck_assert_int_eq(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    0, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "the connection broke off") != NULL, "%s",
	    err);
	ck_assert_uint_eq(buf_len(out), 0);
	free(resp);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(a_404_is_refused_with_the_status_in_err)
{
	static const char	 page[] = "not here";
	struct buf		*out = buf_new(64, FF_MAX);
	char			 err[FEDFETCH_ERR_MAX], *resp;
	size_t			 len;

	resp = ff_resp("404 Not Found", "Content-Length: 8\r\n", page, 8, &len);
	ff_srv_start(fed_dir, resp, len, 0);
	ck_assert_int_eq(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    0, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "HTTP status 404") != NULL, "%s", err);
	ck_assert_uint_eq(buf_len(out), 0);
	free(resp);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(a_redirect_is_not_followed)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], *resp, *req;
	size_t		 len;

	/* To the same server, which would log a second request. */
	resp = ff_resp("302 Found", "Location: /other\r\nContent-Length: 0"
	    "\r\n", "", 0, &len);
	ff_srv_start(fed_dir, resp, len, 0);
	ck_assert_int_eq(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    0, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "HTTP status 302 (redirects are not "
	    "followed") != NULL, "%s", err);
	req = ff_srv_requests();
	ck_assert_ptr_null(strstr(req, "/other"));
	free(req);
	free(resp);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(a_slow_server_hits_the_timeout)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX];
	time_t		 t0;

	ff_ok(fed_dir, "late", 4, 4000);
	t0 = time(NULL);
	ck_assert_int_eq(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 1,
	    0, out, err, sizeof(err)), -1);
	ck_assert_int_le(time(NULL) - t0, 3);
	ck_assert_msg(strstr(err, "no complete answer within 1 s") != NULL,
	    "%s", err);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(not_modified_returns_1)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], *resp, *req;
	size_t		 len;

	resp = ff_resp("304 Not Modified", "", "", 0, &len);
	ff_srv_start(fed_dir, resp, len, 0);
	ck_assert_msg(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    1700000000, out, err, sizeof(err)) == 1, "%s", err);
	ck_assert_uint_eq(buf_len(out), 0);
	req = ff_srv_requests();
	ck_assert_msg(strstr(req, "\r\nIf-Modified-Since: Tue, 14 Nov 2023 "
	    "22:13:20 GMT\r\n") != NULL, "%s", req);
	free(req);
	/* A 304 to a request that asked for none is an error. */
	ck_assert_int_eq(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    0, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "HTTP status 304") != NULL, "%s", err);
	free(resp);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

START_TEST(a_200_no_newer_than_if_modified_since_is_not_modified)
{
	struct buf	*out = buf_new(64, FF_MAX);
	char		 err[FEDFETCH_ERR_MAX], *resp;
	size_t		 len;

	/* A server that ignores the condition but says how old it is. */
	resp = ff_resp("200 OK", "Last-Modified: Tue, 14 Nov 2023 22:13:20 "
	    "GMT\r\nContent-Length: 3\r\n", "old", 3, &len);
	ff_srv_start(fed_dir, resp, len, 0);
	ck_assert_msg(fedfetch_get(srv.url, fed_ca, fed_ca_len, FF_MAX, 5,
	    1700000000, out, err, sizeof(err)) == 1, "%s", err);
	ck_assert_uint_eq(buf_len(out), 0);
	free(resp);
	buf_free(out);
	ff_srv_stop();
}
END_TEST

static const struct {
	const char	*url;
	int		 ok;
} ff_urls[] = {
	{ "https://fed.example.org/bundle", 1 },
	{ "HTTPS://fed.example.org/bundle", 1 },
	{ "https://fed.example.org", 1 },
	{ "https://fed.example.org:8443/b?v=1", 1 },
	{ "https://127.0.0.1:1/", 1 },
	{ "https://[::1]:443/bundle", 1 },
	{ "https://[2001:db8::1]/", 1 },
	{ "https://a-b.example/%7Efed/bundle", 1 },
	{ "http://fed.example.org/bundle", 0 },
	{ "ftp://fed.example.org/bundle", 0 },
	{ "fed.example.org/bundle", 0 },
	{ "https://", 0 },
	{ "https:///bundle", 0 },
	{ "https://user:pw@fed.example.org/", 0 },
	{ "https://good.example@evil.example/", 0 },
	{ "https://fed.example.org/bundle#frag", 0 },
	{ "https://fed.example.org/a b", 0 },
	{ "https://fed.example.org/\x01", 0 },
	{ "https://fed.example.org/\xc3\xa9", 0 },
	{ "https://fed.example.org:0/", 0 },
	{ "https://fed.example.org:65536/", 0 },
	{ "https://fed.example.org:08443/", 0 },
	{ "https://fed.example.org:/", 0 },
	{ "https://fed.example.org:x/", 0 },
	{ "https://-fed.example.org/", 0 },
	{ "https://fed-.example.org/", 0 },
	{ "https://fed..example.org/", 0 },
	{ "https://fed.example.org./", 0 },
	{ "https://fed_x.example.org/", 0 },
	{ "https://[::1/", 0 },
	{ "https://[zz::1]/", 0 },
	{ "https://[::1]x/", 0 },
	{ "https://fed.example.org?x", 0 },
};

START_TEST(url_syntax_is_https_host_port_path_only)
{
	ck_assert_msg(fedfetch_url_valid(ff_urls[_i].url) == ff_urls[_i].ok,
	    "%s", ff_urls[_i].url);
}
END_TEST

START_TEST(a_url_longer_than_the_limit_is_refused)
{
	char	*url = xmalloc(FEDFETCH_URL_MAX + 2);

	memset(url, 'a', FEDFETCH_URL_MAX + 1);
	memcpy(url, "https://x.example/", 18);
	url[FEDFETCH_URL_MAX] = '\0';
	ck_assert_int_eq(fedfetch_url_valid(url), 1);
	url[FEDFETCH_URL_MAX] = 'a';
	url[FEDFETCH_URL_MAX + 1] = '\0';
	ck_assert_int_eq(fedfetch_url_valid(url), 0);
	free(url);
}
END_TEST

/* --- the child's frame ---------------------------------------------------- */

struct ff_frame {
	const char	*what;
	uint32_t	 magic;
	int32_t		 status;
	uint64_t	 len;		/* announced */
	const char	*data;		/* sent */
	size_t		 datalen;
	int		 rv;
	int		 status_out;
	const char	*err;		/* in err, when not NULL */
};

static const struct ff_frame ff_frames[] = {
	{ "body", 0x61766631, 0, 4, "abcd", 4, 0, 0, NULL },
	{ "empty body", 0x61766631, 0, 0, "", 0, 0, 0, NULL },
	{ "body at max", 0x61766631, 0, 8, "abcdefgh", 8, 0, 0, NULL },
	{ "not modified", 0x61766631, 1, 0, "", 0, 0, 1, NULL },
	{ "reason", 0x61766631, -1, 5, "nope\x7f", 5, 0, -1, "nope?" },
	{ "short header", 0x61766631, 0, 0, NULL, 0, -1, -1, "less than" },
	{ "bad magic", 0x61766632, 0, 4, "abcd", 4, -1, -1, "magic" },
	{ "trailing bytes", 0x61766631, 0, 3, "abcd", 4, -1, -1,
	    "announces 3" },
	{ "cut short", 0x61766631, 0, 5, "abcd", 4, -1, -1, "announces 5" },
	{ "huge length", 0x61766631, 0, UINT64_MAX, "abcd", 4, -1, -1,
	    "announces" },
	{ "over max", 0x61766631, 0, 9, "abcdefghi", 9, -1, -1, "more than 8" },
	{ "data with 1", 0x61766631, 1, 1, "a", 1, -1, -1, "not modified" },
	{ "empty reason", 0x61766631, -1, 0, "", 0, -1, -1, "malformed" },
	{ "NUL in reason", 0x61766631, -1, 3, "a\0b", 3, -1, -1, "malformed" },
	{ "other status", 0x61766631, 2, 0, "", 0, -1, -1, "status 2" },
};

START_TEST(frame_parse_takes_only_one_good_frame)
{
	const struct ff_frame	*t = &ff_frames[_i];
	const unsigned char	*data;
	unsigned char		 p[FEDFETCH_ERR_MAX + 64];
	char			 err[FEDFETCH_ERR_MAX];
	size_t			 n = 0, len;
	int			 status;

	memcpy(p, &t->magic, 4);
	memcpy(p + 4, &t->status, 4);
	memcpy(p + 8, &t->len, 8);
	n = t->data == NULL ? 10 : FEDFETCH_HDR_LEN;
	memcpy(p + n, t->data == NULL ? "" : t->data, t->datalen);
	n += t->datalen;
	err[0] = '\0';
	ck_assert_msg(fedfetch_frame_parse(p, n, 8, &status, &data, &len, err,
	    sizeof(err)) == t->rv, "%s: %s", t->what, err);
	ck_assert_int_eq(status, t->status_out);
	if (t->err != NULL)
		ck_assert_msg(strstr(err, t->err) != NULL, "%s: %s", t->what,
		    err);
	if (t->rv == 0 && t->status_out == 0) {
		ck_assert_uint_eq(len, t->datalen);
		ck_assert_int_eq(memcmp(data, t->data, len), 0);
	}
}
END_TEST

START_TEST(a_reason_as_long_as_the_limit_is_refused)
{
	unsigned char	 p[FEDFETCH_HDR_LEN + FEDFETCH_ERR_MAX];
	const unsigned char *data;
	uint32_t	 magic = 0x61766631;
	int32_t		 st = -1;
	uint64_t	 l;
	char		 err[FEDFETCH_ERR_MAX];
	size_t		 len;
	int		 status;

	memcpy(p, &magic, 4);
	memcpy(p + 4, &st, 4);
	memset(p + FEDFETCH_HDR_LEN, 'e', FEDFETCH_ERR_MAX);
	l = FEDFETCH_ERR_MAX - 1;
	memcpy(p + 8, &l, 8);
	ck_assert_int_eq(fedfetch_frame_parse(p, FEDFETCH_HDR_LEN + l, 0,
	    &status, &data, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(status, -1);
	ck_assert_uint_eq(strlen(err), FEDFETCH_ERR_MAX - 1);
	l = FEDFETCH_ERR_MAX;
	memcpy(p + 8, &l, 8);
	ck_assert_int_eq(fedfetch_frame_parse(p, FEDFETCH_HDR_LEN + l, 0,
	    &status, &data, &len, err, sizeof(err)), -1);
}
END_TEST

/* --- fedfetch_start ------------------------------------------------------- */

struct ff_run {
	struct event_base	*base;
	struct fedfetch		*f;
	pid_t			 pid;
	int			 ncalls;
	int			 status;
	unsigned char		*data;
	size_t			 len;
	char			 err[FEDFETCH_ERR_MAX + 64];
	int			 cancelled;
	int			 saw_request;
	char			 proc_status[4096];	/* the child's */
	int			 canary;	/* an fd it must not have */
	int			 canary_in_child;
};

static void
ff_run_done(int status, const unsigned char *data, size_t len,
    const char *err, void *arg)
{
	struct ff_run	*r = arg;

	r->ncalls++;
	r->status = status;
	if (data != NULL) {
		r->data = xmalloc(len + 1);
		memcpy(r->data, data, len);
		r->len = len;
	}
	if (err != NULL)
		snprintf(r->err, sizeof(r->err), "%s", err);
	event_base_loopbreak(r->base);
}

static void
ff_run_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	event_base_loopbreak(((struct ff_run *)arg)->base);
}

/* ff_run - start a fetch; run the loop until done, or max_s seconds */
static void
ff_run(struct ff_run *r, const char *url, const char *ca, size_t calen,
    long timeout, uid_t uid, gid_t gid, int drop, int max_s)
{
	struct timeval	 tv = { max_s, 0 };
	struct event	*guard;

	r->f = fedfetch_start(r->base, url, ca, calen, FF_MAX, timeout, 0,
	    uid, gid, drop, ff_run_done, r);
	ck_assert_ptr_nonnull(r->f);
	r->pid = fedfetch_pid(r->f);
	ck_assert_int_gt(r->pid, 0);
	guard = evtimer_new(r->base, ff_run_timeout, r);
	evtimer_add(guard, &tv);
	event_base_dispatch(r->base);
	event_free(guard);
}

static void
ff_run_init(struct ff_run *r)
{
	memset(r, 0, sizeof(*r));
	ck_assert_ptr_nonnull(r->base = event_base_new());
	r->canary = -1;
}

static void
ff_run_fini(struct ff_run *r)
{
	free(r->data);
	event_base_free(r->base);
}

/* ff_gone - pid is neither running nor a zombie left to reap */
static void
ff_gone(pid_t pid)
{
	errno = 0;
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(kill(pid, 0), -1);
}

START_TEST(fedfetch_start_delivers_the_bytes_and_reaps_the_child)
{
	struct ff_run	 r;
	char		*body = ff_body(FF_BIG);

	ff_ok(fed_dir, body, FF_BIG, 0);
	ff_run_init(&r);
	ff_run(&r, srv.url, fed_ca, fed_ca_len, 5, 0, 0, 0, 20);
	ck_assert_int_eq(r.ncalls, 1);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_uint_eq(r.len, FF_BIG);
	ck_assert_int_eq(memcmp(r.data, body, FF_BIG), 0);
	ff_gone(r.pid);
	ck_assert_int_eq(fedfetch_reaped(r.pid, 0), 0);
	ff_run_fini(&r);
	free(body);
	ff_srv_stop();
}
END_TEST

START_TEST(fedfetch_start_hands_on_the_childs_reason)
{
	struct ff_run	 r;

	ff_ok(other_dir, "x", 1, 0);
	ff_run_init(&r);
	ff_run(&r, srv.url, fed_ca, fed_ca_len, 5, 0, 0, 0, 20);
	ck_assert_int_eq(r.ncalls, 1);
	ck_assert_int_eq(r.status, -1);
	ck_assert_msg(strstr(r.err, "not from the federation CA") != NULL,
	    "%s", r.err);
	ck_assert_ptr_null(r.data);
	ff_gone(r.pid);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

/*
 * The master's SIGCHLD handler reaps with waitpid(-1) and may get the
 * fetch child before the fetch sees its pipe close: the status handed
 * over with fedfetch_reaped() finishes the fetch.
 */
START_TEST(a_child_reaped_by_the_masters_handler_is_handed_back)
{
	static const char	 body[] = "small enough for the pipe\n";
	struct ff_run		 r;
	int			 st;

	ff_ok(fed_dir, body, strlen(body), 0);
	ff_run_init(&r);
	r.f = fedfetch_start(r.base, srv.url, fed_ca, fed_ca_len, FF_MAX, 5, 0,
	    0, 0, 0, ff_run_done, &r);
	ck_assert_ptr_nonnull(r.f);
	r.pid = fedfetch_pid(r.f);
	ck_assert_int_eq(waitpid(r.pid, &st, 0), r.pid);
	ck_assert_int_eq(fedfetch_reaped(getpid(), 0), 0);
	ck_assert_int_eq(fedfetch_reaped(r.pid, st), 1);
	ck_assert_int_eq(fedfetch_reaped(r.pid, st), 0);	/* once */
	event_base_dispatch(r.base);
	ck_assert_int_eq(r.ncalls, 1);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_uint_eq(r.len, strlen(body));
	ck_assert_int_eq(memcmp(r.data, body, r.len), 0);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

/* ff_watch - mid-fetch (the server has the request): look, then cancel */
static void
ff_watch(evutil_socket_t fd, short ev, void *arg)
{
	struct ff_run	*r = arg;
	char		 path[64], *req;
	FILE		*f;
	size_t		 n;

	(void)fd;
	(void)ev;
	req = ff_srv_requests();
	r->saw_request = req[0] != '\0';
	free(req);
	if (!r->saw_request)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)r->pid);
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(r->proc_status, 1, sizeof(r->proc_status) - 1, f);
		r->proc_status[n] = '\0';
		fclose(f);
	}
	if (r->canary != -1) {
		snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)r->pid,
		    r->canary);
		r->canary_in_child = access(path, F_OK) == 0;
	}
	fedfetch_cancel(r->f);
	r->cancelled = 1;
	event_base_loopbreak(r->base);
}

/* ff_cancel_run - a fetch from a server that waits 10 s, watched */
static void
ff_cancel_run(struct ff_run *r, uid_t uid, gid_t gid, int drop)
{
	struct timeval	 every = { 0, 20000 };
	struct event	*watch;

	ff_ok(fed_dir, "late", 4, 10000);
	watch = event_new(r->base, -1, EV_PERSIST, ff_watch, r);
	evtimer_add(watch, &every);
	ff_run(r, srv.url, fed_ca, fed_ca_len, 8, uid, gid, drop, 5);
	event_free(watch);
	ck_assert_int_eq(r->saw_request, 1);
	ck_assert_int_eq(r->cancelled, 1);
	ck_assert_int_eq(r->ncalls, 0);
}

START_TEST(fedfetch_cancel_leaves_no_child)
{
	struct ff_run	 r;

	ff_run_init(&r);
	ff_cancel_run(&r, 0, 0, 0);
	ff_gone(r.pid);
	ck_assert_int_eq(fedfetch_reaped(r.pid, 0), 0);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

START_TEST(the_fetch_child_keeps_no_fd_it_inherited)
{
	struct ff_run	 r;
	int		 fd;

	ff_run_init(&r);
	ck_assert_int_ne(fd = open("/dev/null", O_RDONLY), -1);
	ck_assert_int_ge(r.canary = fcntl(fd, F_DUPFD, 50), 50);
	close(fd);
	ff_cancel_run(&r, 0, 0, 0);
	ck_assert_int_eq(r.canary_in_child, 0);
	ck_assert_ptr_nonnull(strstr(r.proc_status, "\nNoNewPrivs:\t1\n"));
	close(r.canary);
	ff_gone(r.pid);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

/*
 * A child that stops making progress (stopped here, as a wedged one would
 * be) is killed FEDFETCH_GRACE seconds after its own timeout, and reaped.
 */
START_TEST(a_child_that_hangs_is_killed_after_timeout_and_grace)
{
	struct ff_run	 r;
	char		 want[64];

	ff_ok(fed_dir, "late", 4, 10000);
	ff_run_init(&r);
	r.f = fedfetch_start(r.base, srv.url, fed_ca, fed_ca_len, FF_MAX, 1, 0,
	    0, 0, 0, ff_run_done, &r);
	ck_assert_ptr_nonnull(r.f);
	r.pid = fedfetch_pid(r.f);
	ck_assert_int_eq(kill(r.pid, SIGSTOP), 0);
	event_base_dispatch(r.base);
	ck_assert_int_eq(r.ncalls, 1);
	ck_assert_int_eq(r.status, -1);
	snprintf(want, sizeof(want), "did not finish within %d s; killed",
	    1 + FEDFETCH_GRACE);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	ff_gone(r.pid);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

START_TEST(started_as_root_the_fetch_child_drops_to_the_uid_given)
{
	struct ff_run	 r;

	if (geteuid() != 0)
		return;		/* nothing to drop */
	ff_run_init(&r);
	ff_cancel_run(&r, 65534, 65534, 1);
	ck_assert_msg(strstr(r.proc_status, "\nUid:\t65534\t65534\t65534\t"
	    "65534\n") != NULL, "%s", r.proc_status);
	ck_assert_msg(strstr(r.proc_status, "\nGid:\t65534\t65534\t65534\t"
	    "65534\n") != NULL, "%s", r.proc_status);
	/* The kernel writes each group followed by a space: none, one. */
	ck_assert_msg(strstr(r.proc_status, "\nGroups:\t \n") != NULL ||
	    strstr(r.proc_status, "\nGroups:\t\n") != NULL, "%s",
	    r.proc_status);
	ck_assert_msg(strstr(r.proc_status, "\nCapEff:\t0000000000000000\n") !=
	    NULL, "%s", r.proc_status);
	ff_gone(r.pid);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

START_TEST(started_as_root_a_drop_to_uid_0_is_refused)
{
	struct ff_run	 r;

	if (geteuid() != 0)
		return;
	ff_ok(fed_dir, "x", 1, 0);
	ff_run_init(&r);
	ff_run(&r, srv.url, fed_ca, fed_ca_len, 5, 0, 0, 1, 20);
	ck_assert_int_eq(r.ncalls, 1);
	ck_assert_int_eq(r.status, -1);
	ck_assert_msg(strstr(r.err, "as root; refused") != NULL, "%s", r.err);
	ff_gone(r.pid);
	ff_run_fini(&r);
	ff_srv_stop();
}
END_TEST

Suite *
fedfetch_suite(void)
{
	Suite	*s = suite_create("fedfetch");
	TCase	*tc;

	tc = tcase_create("get");
	tcase_add_unchecked_fixture(tc, ff_certs_setup, ff_certs_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc,
	    a_good_fetch_gives_the_body_and_sends_our_user_agent);
	tcase_add_test(tc, a_server_certificate_from_another_ca_is_refused);
	tcase_add_test(tc,
	    a_certificate_that_does_not_name_the_host_is_refused);
	tcase_add_test(tc, an_http_url_is_refused_without_a_connection);
	tcase_add_loop_test(tc, a_body_over_max_is_refused, 0,
	    (int)(sizeof(ff_sizes) / sizeof(ff_sizes[0])));
	tcase_add_test(tc, a_body_cut_short_is_refused);
	tcase_add_test(tc, a_404_is_refused_with_the_status_in_err);
	tcase_add_test(tc, a_redirect_is_not_followed);
	tcase_add_test(tc, a_slow_server_hits_the_timeout);
	tcase_add_test(tc, not_modified_returns_1);
	tcase_add_test(tc,
	    a_200_no_newer_than_if_modified_since_is_not_modified);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_add_loop_test(tc, url_syntax_is_https_host_port_path_only, 0,
	    (int)(sizeof(ff_urls) / sizeof(ff_urls[0])));
	tcase_add_test(tc, a_url_longer_than_the_limit_is_refused);
	tcase_add_loop_test(tc, frame_parse_takes_only_one_good_frame, 0,
	    (int)(sizeof(ff_frames) / sizeof(ff_frames[0])));
	tcase_add_test(tc, a_reason_as_long_as_the_limit_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("start");
	tcase_add_unchecked_fixture(tc, ff_certs_setup, ff_certs_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc,
	    fedfetch_start_delivers_the_bytes_and_reaps_the_child);
	tcase_add_test(tc, fedfetch_start_hands_on_the_childs_reason);
	tcase_add_test(tc,
	    a_child_reaped_by_the_masters_handler_is_handed_back);
	tcase_add_test(tc, fedfetch_cancel_leaves_no_child);
	tcase_add_test(tc, the_fetch_child_keeps_no_fd_it_inherited);
	tcase_add_test(tc,
	    a_child_that_hangs_is_killed_after_timeout_and_grace);
	tcase_add_test(tc,
	    started_as_root_the_fetch_child_drops_to_the_uid_given);
	tcase_add_test(tc, started_as_root_a_drop_to_uid_0_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
