/*
 * ca_state - aval-ca's state folder: the lock, whole-file writes, the files
 *
 * See ca.h for what lives where. Readers here are strict like the bundle
 * reader: the folder is ours, so anything unexpected in it is damage the
 * operator must hear about, not something to guess around.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "federation/ca.h"

/* ca_lock - the folder's lock, held until exit; create makes the folder */
int
ca_lock(struct ca_run *run, int create)
{
	char	 path[4096];
	int	 fd;

	if (create && mkdir(run->dir, 0700) == -1 && errno != EEXIST)
		return ca_error(run, "cannot make %s: %s", run->dir,
		    strerror(errno));
	snprintf(path, sizeof(path), "%s/lock", run->dir);
	if ((fd = open(path, (create ? O_CREAT : 0) | O_RDWR | O_CLOEXEC,
	    0600)) == -1) {
		if (errno == ENOENT)
			return ca_error(run, "%s is not an aval-ca folder "
			    "(run aval-ca -d %s init --name NAME first)",
			    run->dir, run->dir);
		return ca_error(run, "cannot open %s: %s", path,
		    strerror(errno));
	}
	/* Say why we wait, so a stuck run is not taken for a hang. */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK) {
			close(fd);
			return ca_error(run, "cannot lock %s: %s", path,
			    strerror(errno));
		}
		fprintf(stderr, "aval-ca: waiting for another aval-ca run to "
		    "finish with %s\n", run->dir);
		if (flock(fd, LOCK_EX) == -1) {
			close(fd);
			return ca_error(run, "cannot lock %s: %s", path,
			    strerror(errno));
		}
	}
	run->lockfd = fd;
	return 0;
}

/*
 * ca_write_file - dir/name replaced whole by data: a temporary file in the
 * same folder, fsync, rename, fsync of the folder (the rename itself must
 * reach the disk before we say it is done).
 */
int
ca_write_file(struct ca_run *run, const char *dir, const char *name,
    const void *data, size_t len, int mode)
{
	char		 path[4096], tmp[4096];
	const char	*p = data;
	ssize_t		 n;
	int		 fd, dfd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (size_t)snprintf(tmp, sizeof(tmp),
	    "%s/.%s.tmp.%ld", dir, name, (long)getpid()) >= sizeof(tmp))
		return ca_error(run, "path too long: %s/%s", dir, name);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) == -1)
		return ca_error(run, "cannot create %s: %s", tmp,
		    strerror(errno));
	/* The umask must not widen or narrow what we asked for. */
	if (fchmod(fd, (mode_t)mode) == -1)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
 fail:
	ca_error(run, "cannot write %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	return -1;
}

/* ca_read_file - a whole file into a buf, NULL with errno */
struct buf *
ca_read_file(const char *path, size_t cap)
{
	struct buf	*b;
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	b = buf_new(sizeof(chunk), cap);
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_add(b, chunk, (size_t)n) == -1) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	return b;
 fail:
	saved = errno;
	close(fd);
	buf_free(b);
	errno = saved;
	return NULL;
}

/* ca_read_state_file - a file of the state folder, errors said */
static struct buf *
ca_read_state_file(struct ca_run *run, const char *name)
{
	struct buf	*b;
	char		 path[4096];

	snprintf(path, sizeof(path), "%s/%s", run->dir, name);
	if ((b = ca_read_file(path, CA_FILE_MAX)) == NULL)
		ca_error(run, "cannot read %s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (is this folder made by aval-ca init?)"
		    : "");
	return b;
}

/* ca_u64 - a decimal counter */
static int
ca_u64(const char *s, uint64_t *v)
{
	char			*end;
	unsigned long long	 n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return -1;
	*v = n;
	return 0;
}

/* ca_state_clear - free the name */
void
ca_state_clear(struct ca_state *st)
{
	free(st->name);
	memset(st, 0, sizeof(*st));
}

/* ca_state_load - the state file */
int
ca_state_load(struct ca_run *run, struct ca_state *st)
{
	struct buf	*b;
	char		*text, *line, *save = NULL, *v;
	uint64_t	 n;
	int		 first = 1, bad = 0;

	memset(st, 0, sizeof(*st));
	if ((b = ca_read_state_file(run, "state")) == NULL)
		return -1;
	text = buf_release(b);
	for (line = strtok_r(text, "\n", &save); line != NULL && !bad;
	    line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			bad = strcmp(line, "aval-ca-state 1") != 0;
			first = 0;
			continue;
		}
		if ((v = strchr(line, ' ')) == NULL) {
			bad = 1;
			break;
		}
		*v++ = '\0';
		if (strcmp(line, "name") == 0 && st->name == NULL)
			st->name = xstrdup(v);
		else if (strcmp(line, "crl-days") == 0 && ca_u64(v, &n) == 0 &&
		    n >= 1 && n <= CA_MAX_DAYS)
			st->crl_days = (int)n;
		else if (strcmp(line, "crl-number") == 0)
			bad = ca_u64(v, &st->crl_number) == -1;
		else if (strcmp(line, "bundle-serial") == 0)
			bad = ca_u64(v, &st->bundle_serial) == -1;
		else if (strcmp(line, "bundle-expires") == 0)
			bad = strcmp(v, "-") != 0 &&
			    fed_time_parse(v, &st->bundle_expires) == -1;
		else
			bad = 1;
	}
	free(text);
	if (bad || first || st->name == NULL || st->crl_days == 0) {
		ca_state_clear(st);
		return ca_error(run, "%s/state is damaged; restore it from "
		    "your backup", run->dir);
	}
	return 0;
}

/* ca_state_save - the state file, replaced whole */
int
ca_state_save(struct ca_run *run, const struct ca_state *st)
{
	struct buf	*b = buf_new(256, 4096);
	char		 t[32] = "-";
	int		 rv;

	if (st->bundle_expires != 0)
		fed_time_format(st->bundle_expires, t, sizeof(t));
	buf_printf(b, "aval-ca-state 1\nname %s\ncrl-days %d\n"
	    "crl-number %llu\nbundle-serial %llu\nbundle-expires %s\n",
	    st->name, st->crl_days, (unsigned long long)st->crl_number,
	    (unsigned long long)st->bundle_serial, t);
	rv = ca_write_file(run, run->dir, "state", buf_data(b), buf_len(b),
	    0600);
	buf_free(b);
	return rv;
}

/* ca_registry_load - the members */
int
ca_registry_load(struct ca_run *run, struct fed_registry *reg)
{
	struct buf	*b;
	char		 err[256];
	int		 rv;

	if ((b = ca_read_state_file(run, "registry")) == NULL)
		return -1;
	rv = fed_registry_parse(buf_data(b), buf_len(b), reg, err,
	    sizeof(err));
	buf_free(b);
	if (rv == -1)
		return ca_error(run, "%s/registry: %s; restore it from your "
		    "backup", run->dir, err);
	return 0;
}

/* ca_registry_save - the members, replaced whole */
int
ca_registry_save(struct ca_run *run, const struct fed_registry *reg)
{
	struct buf	*b = buf_new(4096, CA_FILE_MAX);
	int		 rv;

	buf_addstr(b, "aval-federation-registry 1\n");
	fed_registry_write(b, reg);
	rv = ca_write_file(run, run->dir, "registry", buf_data(b), buf_len(b),
	    0644);
	buf_free(b);
	return rv;
}

static const struct {
	const char	*name;
	int		 code;
} ca_reasons[] = {
	{ "unspecified",		CRL_REASON_UNSPECIFIED },
	{ "keyCompromise",		CRL_REASON_KEY_COMPROMISE },
	{ "affiliationChanged",		CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded",			CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation",	CRL_REASON_CESSATION_OF_OPERATION },
};

/* ca_reason_str - the RFC 5280 name of a reason code */
const char *
ca_reason_str(int code)
{
	size_t	 i;

	for (i = 0; i < sizeof(ca_reasons) / sizeof(ca_reasons[0]); i++)
		if (ca_reasons[i].code == code)
			return ca_reasons[i].name;
	return "-";
}

/* ca_reason_parse - a reason name to its code, -1 unknown */
int
ca_reason_parse(const char *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(ca_reasons) / sizeof(ca_reasons[0]); i++)
		if (strcmp(ca_reasons[i].name, s) == 0)
			return ca_reasons[i].code;
	return -1;
}

/* ca_index_clear - free the records */
void
ca_index_clear(struct ca_index *ix)
{
	size_t	 i;

	for (i = 0; i < ix->n; i++)
		free(ix->v[i].names);
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

/*
 * ca_index_load - "SERIAL MEMBER valid|revoked NOT-AFTER REVOKED-AT|-
 * REASON|- NAME,NAME..." per line after the "aval-ca-index 1" line.
 */
int
ca_index_load(struct ca_run *run, struct ca_index *ix)
{
	struct buf		*b;
	char			*text, *line, *save = NULL, *f[8], *fs;
	struct ca_cert_rec	 r;
	int			 first = 1, bad = 0, k;

	memset(ix, 0, sizeof(*ix));
	if ((b = ca_read_state_file(run, "index")) == NULL)
		return -1;
	text = buf_release(b);
	for (line = strtok_r(text, "\n", &save); line != NULL && !bad;
	    line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			bad = strcmp(line, "aval-ca-index 1") != 0;
			first = 0;
			continue;
		}
		for (k = 0, fs = NULL; k < 8; k++)
			if ((f[k] = strtok_r(k == 0 ? line : NULL, " ",
			    &fs)) == NULL)
				break;
		memset(&r, 0, sizeof(r));
		if (k != 7 || strlen(f[0]) >= sizeof(r.serial) ||
		    !fed_id_valid(f[1]) ||
		    fed_time_parse(f[3], &r.not_after) == -1) {
			bad = 1;
			break;
		}
		snprintf(r.serial, sizeof(r.serial), "%s", f[0]);
		snprintf(r.member, sizeof(r.member), "%s", f[1]);
		r.reason = -1;
		if (strcmp(f[2], "valid") == 0)
			r.status = CA_C_VALID;
		else if (strcmp(f[2], "revoked") == 0 &&
		    fed_time_parse(f[4], &r.revoked_at) == 0 &&
		    (r.reason = ca_reason_parse(f[5])) != -1)
			r.status = CA_C_REVOKED;
		else {
			bad = 1;
			break;
		}
		r.names = xstrdup(f[6]);
		ix->v = xreallocarray(ix->v, ix->n + 1, sizeof(*ix->v));
		ix->v[ix->n++] = r;
	}
	free(text);
	if (bad || first) {
		ca_index_clear(ix);
		return ca_error(run, "%s/index is damaged; restore it from "
		    "your backup", run->dir);
	}
	return 0;
}

/* ca_index_save - the records, replaced whole */
int
ca_index_save(struct ca_run *run, const struct ca_index *ix)
{
	struct buf	*b = buf_new(4096, CA_FILE_MAX);
	char		 na[32], ra[32];
	size_t		 i;
	int		 rv;

	buf_addstr(b, "aval-ca-index 1\n");
	for (i = 0; i < ix->n; i++) {
		const struct ca_cert_rec *r = &ix->v[i];

		fed_time_format(r->not_after, na, sizeof(na));
		if (r->status == CA_C_REVOKED)
			fed_time_format(r->revoked_at, ra, sizeof(ra));
		else
			snprintf(ra, sizeof(ra), "-");
		buf_printf(b, "%s %s %s %s %s %s %s\n", r->serial, r->member,
		    r->status == CA_C_VALID ? "valid" : "revoked", na, ra,
		    r->status == CA_C_REVOKED ? ca_reason_str(r->reason) : "-",
		    r->names);
	}
	rv = ca_write_file(run, run->dir, "index", buf_data(b), buf_len(b),
	    0644);
	buf_free(b);
	return rv;
}

/* ca_key_load - the federation key and certificate, checked to match */
int
ca_key_load(struct ca_run *run, EVP_PKEY **key, X509 **cert)
{
	char	 path[4096];
	BIO	*bio;

	*key = NULL;
	*cert = NULL;
	snprintf(path, sizeof(path), "%s/ca.key", run->dir);
	if ((bio = BIO_new_file(path, "r")) == NULL)
		return ca_error(run, "cannot read %s (is this folder made by "
		    "aval-ca init?)", path);
	*key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	snprintf(path, sizeof(path), "%s/ca.crt", run->dir);
	if ((bio = BIO_new_file(path, "r")) != NULL) {
		*cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (*key == NULL || *cert == NULL ||
	    X509_check_private_key(*cert, *key) != 1) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
		return ca_error(run, "%s/ca.key and ca.crt are unreadable or "
		    "do not match; restore them from your backup", run->dir);
	}
	return 0;
}

/* ca_crl_load - the last CRL made, or NULL */
X509_CRL *
ca_crl_load(struct ca_run *run)
{
	char		 path[4096];
	BIO		*bio;
	X509_CRL	*crl;

	snprintf(path, sizeof(path), "%s/crl.pem", run->dir);
	if ((bio = BIO_new_file(path, "r")) == NULL)
		return NULL;
	crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return crl;
}

/* ca_pem_bio - what a memory BIO holds, appended to b */
static int
ca_pem_bio(struct buf *b, BIO *bio, int ok)
{
	char	*p;
	long	 n;

	if (ok != 1 || (n = BIO_get_mem_data(bio, &p)) <= 0 ||
	    buf_add(b, p, (size_t)n) == -1) {
		BIO_free(bio);
		return -1;
	}
	BIO_free(bio);
	return 0;
}

/* ca_pem_x509 - a certificate as PEM onto b */
int
ca_pem_x509(struct buf *b, X509 *x)
{
	BIO	*bio = BIO_new(BIO_s_mem());

	return bio == NULL ? -1 : ca_pem_bio(b, bio, PEM_write_bio_X509(bio, x));
}

/* ca_pem_crl - a CRL as PEM onto b */
int
ca_pem_crl(struct buf *b, X509_CRL *c)
{
	BIO	*bio = BIO_new(BIO_s_mem());

	return bio == NULL ? -1 :
	    ca_pem_bio(b, bio, PEM_write_bio_X509_CRL(bio, c));
}

/* ca_pem_key - a private key as PKCS#8 PEM onto b (a secret buf) */
int
ca_pem_key(struct buf *b, EVP_PKEY *k)
{
	BIO	*bio = BIO_new(BIO_s_secmem());

	return bio == NULL ? -1 : ca_pem_bio(b, bio,
	    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL));
}

/* ca_asn1_time - an ASN1_TIME as time_t */
time_t
ca_asn1_time(const ASN1_TIME *a)
{
	struct tm	 tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}
