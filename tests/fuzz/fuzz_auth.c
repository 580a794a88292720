/*
 * fuzz_auth - libFuzzer target for the AUTH decoder and what stands beside it
 *
 * The first input byte picks what the rest is fed to:
 *
 *  0  smtpd_auth_b64_decode(): an accepted input is the canonical
 *     encoding of what it decoded to (EVP_EncodeBlock gives it back).
 *  1  the exchange: lines (cut at LF or NUL) as one session sends them,
 *     AUTH arguments first, then responses, then another AUTH when an
 *     exchange ends. Every reply is one well-formed line whose code
 *     matches the status; at CHECK the credentials are bounded, NUL-free,
 *     and re-encode to the response they came from; the password is
 *     readable only at CHECK; failures count exactly the DENYs.
 *  2  the slow-down: a sequence of checks and failures from a few
 *     networks; the delay is the documented one, a network over the block
 *     threshold is refused, no count exceeds the failures sent.
 *  3  passwd_load_text(): a map that loads gives back entries that load
 *     to the same entries; a refusal leaves the map as it was and every
 *     error names the file.
 *
 * link: smtpd/smtpd_auth.c common/passwd.c common/conf_errors.c common/addr.c common/buf.c common/log.c common/xmalloc.c -lcrypt -lcrypto
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/passwd.h"
#include "smtpd/smtpd_auth.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_AUTH_LINES	16

/* --- 0: base64 --------------------------------------------------------- */

static void
fuzz_auth_b64(const char *s, size_t n)
{
	unsigned char	*out;
	char		*enc;
	size_t		 outlen;

	out = malloc(n / 4 * 3 + 3);
	enc = malloc(n + 8);
	if (out == NULL || enc == NULL)
		abort();
	if (smtpd_auth_b64_decode(s, n, out, n / 4 * 3 + 3, &outlen) == 0) {
		if (outlen > n / 4 * 3)
			abort();
		if ((size_t)EVP_EncodeBlock((unsigned char *)enc, out,
		    (int)outlen) != n || memcmp(enc, s, n) != 0)
			abort();
	} else if (outlen != 0)
		abort();
	free(out);
	free(enc);
}

/* --- 1: the exchange --------------------------------------------------- */

static int
fuzz_auth_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One reply line, checked against the status it came with. */
static void
fuzz_auth_reply(enum smtpd_auth_status st, const char *r)
{
	unsigned char	 dec[SMTPD_AUTH_DECODED_MAX + 3];
	size_t		 n;

	if (st == SMTPD_AUTH_S_CHECK) {
		if (r != NULL)
			abort();
		return;
	}
	if (r == NULL || strpbrk(r, "\r\n") != NULL || strlen(r) < 4 ||
	    !fuzz_auth_digit(r[0]) || !fuzz_auth_digit(r[1]) ||
	    !fuzz_auth_digit(r[2]) || r[3] != ' ')
		abort();
	switch (st) {
	case SMTPD_AUTH_S_MORE:
		if (strncmp(r, "334 ", 4) != 0 || smtpd_auth_b64_decode(r + 4,
		    strlen(r + 4), dec, sizeof(dec), &n) == -1)
			abort();
		return;
	case SMTPD_AUTH_S_OK:
		if (strncmp(r, "235 2.7.0 ", 10) != 0)
			abort();
		return;
	case SMTPD_AUTH_S_DENY:
		if (strncmp(r, "535 5.7.8 ", 10) != 0)
			abort();
		return;
	case SMTPD_AUTH_S_FAIL:
		if ((r[0] != '4' && r[0] != '5') || r[4] != r[0] ||
		    r[5] != '.' || strncmp(r, "535", 3) == 0)
			abort();
		return;
	default:
		abort();
	}
}

/* encode(a NUL b NUL c) == line, or for LOGIN encode(field) == line */
static int
fuzz_auth_encodes_to(const char *line, const char *a, const char *b,
    const char *c, size_t clen)
{
	unsigned char	 msg[3 * SMTPD_AUTH_DECODED_MAX + 3];
	char		 enc[4 * sizeof(msg) / 3 + 8];
	size_t		 n = 0;

	if (a != NULL) {
		memcpy(msg, a, strlen(a));
		n = strlen(a);
		msg[n++] = '\0';
		memcpy(msg + n, b, strlen(b));
		n += strlen(b);
		msg[n++] = '\0';
	}
	memcpy(msg + n, c, clen);
	n += clen;
	EVP_EncodeBlock((unsigned char *)enc, msg, (int)n);
	return strcmp(enc, line) == 0;
}

static void
fuzz_auth_exchange(char *s, size_t len, int ctx, unsigned verdicts)
{
	struct smtpd_auth	*a = smtpd_auth_new();
	enum smtpd_auth_status	 st;
	const char		*lines[FUZZ_AUTH_LINES], *reply, *pass, *u;
	const char		*userline = NULL;
	size_t			 nlines = 0, i, plen;
	unsigned		 denies = 0, oks = 0;
	int			 verdict, mid = 0;
	char			*p, *end = s + len;

	/* Cut at LF or NUL: the session passes NUL-free lines, no CRLF. */
	for (p = s; nlines < FUZZ_AUTH_LINES; p++) {
		lines[nlines++] = p;
		while (p < end && *p != '\n' && *p != '\0')
			p++;
		if (p >= end)
			break;
		*p = '\0';
	}
	for (i = 0; i < nlines; i++) {
		if (!mid) {
			st = smtpd_auth_start(a, lines[i], ctx, &reply);
			userline = NULL;
		} else
			st = smtpd_auth_step(a, lines[i], &reply);
		fuzz_auth_reply(st, reply);
		/* The LOGIN user came in this response (not the AUTH line). */
		if (mid && st == SMTPD_AUTH_S_MORE)
			userline = lines[i];
		if (st == SMTPD_AUTH_S_CHECK) {
			pass = smtpd_auth_pass(a, &plen);
			u = smtpd_auth_user(a);
			if (pass == NULL || plen > SMTPD_AUTH_DECODED_MAX ||
			    pass[plen] != '\0' || strlen(pass) != plen ||
			    strlen(u) > SMTPD_AUTH_DECODED_MAX)
				abort();
			/* What came out is what went in (responses only). */
			if (mid && strcmp(smtpd_auth_mech(a), "PLAIN") == 0 &&
			    !fuzz_auth_encodes_to(lines[i], "", u, pass,
			    plen) && !fuzz_auth_encodes_to(lines[i], u, u,
			    pass, plen))
				abort();
			if (mid && strcmp(smtpd_auth_mech(a), "LOGIN") == 0 &&
			    (!fuzz_auth_encodes_to(lines[i], NULL, NULL, pass,
			    plen) || (userline != NULL &&
			    !fuzz_auth_encodes_to(userline, NULL, NULL, u,
			    strlen(u)))))
				abort();
			verdict = (int)(verdicts % 3) - 1;
			verdicts /= 3;
			st = smtpd_auth_finish(a, verdict, &reply);
			fuzz_auth_reply(st, reply);
			if (st != (verdict == 1 ? SMTPD_AUTH_S_OK : verdict == 0 ?
			    SMTPD_AUTH_S_DENY : SMTPD_AUTH_S_FAIL))
				abort();
		}
		if (st != SMTPD_AUTH_S_MORE && smtpd_auth_pass(a, &plen) !=
		    NULL)
			abort();
		if (st == SMTPD_AUTH_S_OK)
			oks++;
		if (st == SMTPD_AUTH_S_DENY)
			denies++;
		if (smtpd_auth_failures(a) != denies ||
		    (smtpd_auth_login(a) != NULL) != (oks > 0) || oks > 1)
			abort();
		mid = st == SMTPD_AUTH_S_MORE;
	}
	smtpd_auth_free(a);
}

/* --- 2: the slow-down -------------------------------------------------- */

static const struct sockaddr *
fuzz_auth_net(unsigned which, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	/* Eight IPv4 hosts and eight IPv6 /64s, each its own network. */
	memset(ss, 0, sizeof(*ss));
	if (which < 8) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(0xc0000200U + which);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr.s6_addr[0] = 0x20;
		sin6->sin6_addr.s6_addr[1] = 0x01;
		sin6->sin6_addr.s6_addr[7] = (uint8_t)which;
		sin6->sin6_addr.s6_addr[15] = (uint8_t)(which * 7);
	}
	return (const struct sockaddr *)ss;
}

static void
fuzz_auth_throttle(const uint8_t *d, size_t n)
{
	struct smtpd_auth_limits	 lim;
	struct smtpd_auth_throttle	*t;
	struct smtpd_auth_penalty	 pen;
	struct sockaddr_storage		 ss;
	const struct sockaddr		*sa;
	unsigned			 sent[16] = { 0 }, c, want, w;
	time_t				 now = 1000;
	size_t				 i;

	if (n < 6)
		return;
	lim.session_max = d[0] % 8;
	lim.block_after = d[1] % 16;
	lim.block_time = d[2];
	lim.delay_max = d[3] % 8;
	lim.forgive = d[4] % 4 == 0 ? 0 : d[4];
	lim.slots = d[5] % 24;
	t = smtpd_auth_throttle_new(&lim);
	for (i = 6; i + 1 < n; i += 2) {
		w = d[i] & 0x0f;
		sa = fuzz_auth_net(w, &ss);
		now += d[i + 1] >> 2;
		if ((d[i] & 0x10) == 0) {
			(void)smtpd_auth_throttle_check(t, sa, now);
			continue;
		}
		smtpd_auth_throttle_fail(t, sa, now, d[i] >> 5, &pen);
		sent[w]++;
		c = smtpd_auth_throttle_count(t, sa, now);
		want = c <= 1 ? 0 : c - 2 >= 31 ? lim.delay_max : 1U << (c - 2);
		if (want > lim.delay_max)
			want = lim.delay_max;
		if (c == 0 || c > sent[w] || pen.delay != want ||
		    pen.reply == NULL || strncmp(pen.reply, "535 ", 4) != 0 ||
		    pen.close != (lim.session_max != 0 &&
		    (unsigned)(d[i] >> 5) >= lim.session_max))
			abort();
		if (lim.block_after != 0 && c >= lim.block_after &&
		    lim.block_time > 0 && smtpd_auth_throttle_check(t, sa,
		    now) != 0)
			abort();
	}
	for (w = 0; w < 16; w++)
		if (smtpd_auth_throttle_count(t, fuzz_auth_net(w, &ss), now) >
		    sent[w])
			abort();
	smtpd_auth_throttle_free(t);
}

/* --- 3: the password file ---------------------------------------------- */

static void
fuzz_auth_collect(const char *line, void *arg)
{
	if (buf_printf(arg, "%s\n", line) == -1)
		abort();
}

static void
fuzz_auth_passwd(const char *s, size_t n)
{
	static const char	 seed[] = "seed:$2b$04$K/ShZDpbthqsYNMcPMAu/"
	    "uRaX1dOBhtkjqfJJgAFda3vy9n12z7Nq\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct passwd		*pw = passwd_new(), *again = passwd_new();
	struct buf		*b1 = buf_new(256, 64 * 1024 * 1024);
	struct buf		*b2 = buf_new(256, 64 * 1024 * 1024);
	size_t			 i;

	if (passwd_load_text(pw, seed, sizeof(seed) - 1, "f", &errs) != 0)
		abort();
	if (passwd_load_text(pw, s, n, "f", &errs) == -1) {
		if (errs.n == 0 || passwd_count(pw) != 1)
			abort();
		for (i = 0; i < errs.n; i++)
			if (strncmp(errs.lines[i], "f:", 2) != 0)
				abort();
	} else {
		if (errs.n != 0)
			abort();
		passwd_items(pw, fuzz_auth_collect, b1);
		if (passwd_load_text(again, buf_data(b1), buf_len(b1), "f",
		    &errs) != 0 || passwd_count(again) != passwd_count(pw))
			abort();
		passwd_items(again, fuzz_auth_collect, b2);
		if (buf_len(b1) != buf_len(b2) ||
		    memcmp(buf_data(b1), buf_data(b2), buf_len(b1)) != 0)
			abort();
	}
	conf_errors_clear(&errs);
	buf_free(b1);
	buf_free(b2);
	passwd_free(pw);
	passwd_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	size_t	 n;

	if (size < 1)
		return 0;
	n = size - 1;
	if ((s = malloc(n + 1)) == NULL)
		return 0;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	switch (data[0] % 4) {
	case 0:
		fuzz_auth_b64(s, n);
		break;
	case 1:
		if (n >= 2)
			fuzz_auth_exchange(s + 2, n - 2,
			    (unsigned char)s[0] & 0x1f,
			    (unsigned char)s[1] * 7u + 5u);
		break;
	case 2:
		fuzz_auth_throttle(data + 1, n);
		break;
	case 3:
		fuzz_auth_passwd(s, n);
		break;
	}
	free(s);
	return 0;
}
