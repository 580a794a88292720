/*
 * master_fed - the federation bundle: which one is current, and who has it
 *
 * The master is the one owner of the verdict on a bundle (docs/federation
 * .md): it reads the federation CA and our member certificate when the
 * configuration loads (an unreadable one is a config error, as for tls
 * { }), and then, every federation refresh, looks for a newer bundle in
 * the bundle file (when its size, time or inode changed) or at the
 * bundle URL (master_fed_fetch: over HTTPS with libcurl, the federation
 * CA the only trust anchor, in a child that runs as the workers' user).
 * A bundle is taken only when
 *
 *	its CMS signature verifies against the configured CA, and
 *	its serial is above the current one (a lower one is a rollback:
 *	refused and logged; the same one again changes nothing), and
 *	it has not expired (unless no other is at hand: an expired bundle
 *	still says who the members are, and their mail then waits).
 *
 * Anything else is refused with a log line and the current bundle stays:
 * the last good one is kept. Each bundle taken is copied to the spool
 * (federation-bundle.cms), so a restart starts from it and a rollback
 * stays refused across restarts.
 *
 * smtpd and deliver get the CA and the bundle as bytes (IPC_MASTER_FED_*,
 * ahead of their TLS material), deliver also our certificate and key;
 * each checks the signature again (common/fedtrust.h). smtpd presents our
 * certificate as its first server certificate (master_tls.c).
 *
 * Warnings: as the bundle's expiry, the CRL's next update or our
 * certificate's expiry come within federation expiry-warning, a log line
 * says so, once every few hours while it lasts.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/conf_priv.h"
#include "common/fedbundle.h"
#include "common/fedfetch.h"
#include "common/fedtrust.h"
#include "common/ipc.h"
#include "common/json.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "master/master.h"
#include "master/master_fedhealth.h"

#define MASTER_FED_STORE	"federation-bundle.cms"
#define MASTER_FED_WARN_EVERY	(6 * 60 * 60)	/* seconds between warnings */
#define MASTER_FED_CERT_WARN	(30 * 24 * 60 * 60)	/* our certificate */
#define MASTER_FED_REPORT_MAX	(64 * 1024 * 1024)	/* avalctl's answer */

/* What the config names: loaded with it, committed with it. */
struct master_fed_mat {
	char		*ca;		/* PEM */
	size_t		 calen;
	X509		*cax;
	struct tls_pem	 cert;		/* ours */
	X509		*certx;
};

/* The current bundle. */
struct master_fed_cur {
	unsigned char	*der;
	size_t		 len;
	struct fed_bundle b;		/* parsed; b.serial 0: none */
	int		 expired;	/* when it was taken */
	const char	*source;	/* "file", "url", "spool" */
	time_t		 taken;
	char		 refused[256];	/* the last bundle refused, and why */
	time_t		 refused_at;
	struct stat	 st;		/* the bundle file as last read */
	time_t		 warned[3];	/* bundle, CRL, our certificate */
};

static struct master_fed_mat	*fed_mat, *fed_mat_new;
static struct master_fed_cur	 fed_cur;
static struct event		*fed_timer;
static struct fedhealth		*fed_health;	/* while the federation is on */
static struct fedfetch		*fed_fetch;	/* the fetch in flight */
static time_t			 fed_fetched;	/* the last 200 we took */

#define MASTER_FED_FETCH_TIMEOUT	60	/* seconds, connect and transfer */

static void	master_fed_push(void);
static void	master_fed_health_members(void);

static void
master_fed_mat_free(struct master_fed_mat *m)
{
	if (m == NULL)
		return;
	free(m->ca);
	X509_free(m->cax);
	tls_pem_clear(&m->cert);
	X509_free(m->certx);
	free(m);
}

/*
 * master_fed_load - read and check what federation { } names; 0 (the new
 * material waits for master_fed_commit), or -1 with every error in errs
 */
int
master_fed_load(const struct conf *c, const char *file,
    struct conf_errors *errs)
{
	struct master_fed_mat	*m;
	X509_STORE_CTX		*vctx = NULL;
	X509_STORE		*store = NULL;
	char			 err[512];
	int			 nerr = 0;

	master_fed_mat_free(fed_mat_new);
	fed_mat_new = NULL;
	if (!conf_federation_on(c))
		return 0;
	m = xcalloc(1, sizeof(*m));
	if (tls_file_load(c->fed_ca, &m->ca, &m->calen, err,
	    sizeof(err)) == -1) {
		conf_errors_add(errs, file, 0, "federation ca: %s", err);
		nerr++;
	} else if ((m->cax = fed_trust_ca_load(m->ca, m->calen)) == NULL) {
		conf_errors_add(errs, file, 0, "federation ca: %s holds no "
		    "PEM certificate", c->fed_ca);
		nerr++;
	}
	if (tls_pem_load(&m->cert, c->fed_cert->cert, c->fed_cert->key, err,
	    sizeof(err)) == -1) {
		conf_errors_add(errs, file, 0, "federation certificate: %s",
		    err);
		nerr++;
	} else if ((m->certx = fed_trust_ca_load(m->cert.cert,
	    m->cert.certlen)) == NULL) {
		conf_errors_add(errs, file, 0, "federation certificate: no "
		    "PEM certificate in %s", c->fed_cert->cert);
		nerr++;
	}
	/* Ours must be the federation's: else no member would trust it. */
	if (nerr == 0) {
		if ((store = X509_STORE_new()) == NULL ||
		    X509_STORE_add_cert(store, m->cax) != 1 ||
		    (vctx = X509_STORE_CTX_new()) == NULL ||
		    X509_STORE_CTX_init(vctx, store, m->certx, NULL) != 1)
			fatalx("%s: out of memory", __func__);
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(vctx),
		    X509_V_FLAG_NO_CHECK_TIME);
		if (X509_verify_cert(vctx) != 1) {
			conf_errors_add(errs, file, 0, "federation certificate "
			    "%s was not issued by the federation CA %s: %s",
			    c->fed_cert->cert, c->fed_ca,
			    X509_verify_cert_error_string(
			    X509_STORE_CTX_get_error(vctx)));
			nerr++;
		}
		X509_STORE_CTX_free(vctx);
		X509_STORE_free(store);
	}
	if (nerr > 0) {
		master_fed_mat_free(m);
		return -1;
	}
	fed_mat_new = m;
	return 0;
}

/* master_fed_cur_clear - no bundle */
static void
master_fed_cur_clear(void)
{
	free(fed_cur.der);
	fed_bundle_clear(&fed_cur.b);
	memset(&fed_cur, 0, sizeof(fed_cur));
}

/* master_fed_store_path - the spool's copy of the current bundle */
static void
master_fed_store_path(char *out, size_t len)
{
	snprintf(out, len, "%s/%s", master->conf->spool, MASTER_FED_STORE);
}

/* master_fed_read - a whole file of at most FED_BUNDLE_MAX bytes */
static int
master_fed_read(const char *path, struct buf **out, struct stat *st,
    char *err, size_t errlen)
{
	struct buf	*b;
	char		 chunk[16384];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	b = buf_new(16384, FED_BUNDLE_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_add(b, chunk, (size_t)n) == -1) {
			snprintf(err, errlen, "%s: over %d bytes", path,
			    FED_BUNDLE_MAX);
			n = -2;
			break;
		}
	if (n == -1)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	close(fd);
	if (n < 0) {
		buf_free(b);
		return -1;
	}
	*out = b;
	return 0;
}

/* master_fed_refuse - a bundle not taken: logged, and kept for avalctl */
static void
master_fed_refuse(const char *source, const char *why)
{
	log_warnx("federation: bundle from %s refused: %s; %s%llu", source,
	    why, fed_cur.b.serial != 0 ? "keeping serial " :
	    "no bundle: member mail waits, serial ",
	    (unsigned long long)fed_cur.b.serial);
	snprintf(fed_cur.refused, sizeof(fed_cur.refused), "%s: %s", source,
	    why);
	fed_cur.refused_at = time(NULL);
}

/*
 * master_fed_offer - a bundle's bytes from source: taken (1), or
 * refused or the same as now (0), as the head of this file says
 */
static int
master_fed_offer(const unsigned char *der, size_t len, const char *source)
{
	struct fed_bundle	 nb;
	enum fed_verdict	 v;
	char			 err[256], ts[32];

	if (fed_mat == NULL)
		return 0;
	v = fed_bundle_verify_ex(der, len, fed_mat->cax, time(NULL), 0,
	    FED_VF_KEEP_EXPIRED, &nb, err, sizeof(err));
	if (v != FED_V_OK && v != FED_V_EXPIRED) {
		master_fed_refuse(source, err);
		return 0;
	}
	if (fed_cur.b.serial != 0 && nb.serial < fed_cur.b.serial) {
		snprintf(err, sizeof(err), "serial %llu is older than %llu, "
		    "the current one (rollback)",
		    (unsigned long long)nb.serial,
		    (unsigned long long)fed_cur.b.serial);
		fed_bundle_clear(&nb);
		master_fed_refuse(source, err);
		return 0;
	}
	if (fed_cur.b.serial != 0 && nb.serial == fed_cur.b.serial) {
		if (len != fed_cur.len || memcmp(der, fed_cur.der, len) != 0)
			log_warnx("federation: bundle from %s has serial %llu, "
			    "as the current one, but other bytes; keeping the "
			    "current one", source,
			    (unsigned long long)nb.serial);
		fed_bundle_clear(&nb);
		return 0;
	}
	if (v == FED_V_EXPIRED && fed_cur.b.serial != 0 && !fed_cur.expired) {
		fed_bundle_clear(&nb);
		master_fed_refuse(source, err);
		return 0;
	}
	free(fed_cur.der);
	fed_bundle_clear(&fed_cur.b);
	fed_cur.der = xmalloc(len);
	memcpy(fed_cur.der, der, len);
	fed_cur.len = len;
	fed_cur.b = nb;
	fed_cur.expired = v == FED_V_EXPIRED;
	fed_cur.source = source;
	fed_cur.taken = time(NULL);
	memset(fed_cur.warned, 0, sizeof(fed_cur.warned));
	master_fed_health_members();
	fed_time_format(nb.expires, ts, sizeof(ts));
	if (fed_cur.expired)
		log_warnx("federation: loaded bundle serial %llu from %s, but "
		    "it expired at %s: member mail waits for a newer one",
		    (unsigned long long)nb.serial, source, ts);
	else
		log_info("federation: loaded bundle serial %llu from %s: %zu "
		    "member%s, expires %s", (unsigned long long)nb.serial,
		    source, nb.reg.n, nb.reg.n == 1 ? "" : "s", ts);
	return 1;
}

/* master_fed_store - the spool's copy, written whole or not at all */
static void
master_fed_store(void)
{
	char	 path[PATH_MAX], tmp[PATH_MAX + 8];
	int	 fd;

	master_fed_store_path(path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		if (errno != ENOENT)	/* no spool yet: at the first start */
			log_warn("federation: %s", tmp);
		return;
	}
	if (write(fd, fed_cur.der, fed_cur.len) != (ssize_t)fed_cur.len ||
	    fsync(fd) == -1) {
		log_warn("federation: writing %s", tmp);
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		log_warn("federation: %s", path);
		unlink(tmp);
	}
}

/* master_fed_warn_one - one expiry, warned about while it is near */
static void
master_fed_warn_one(int i, time_t when, time_t now, const char *what,
    time_t ahead)
{
	char	 ts[32];

	if (when - now > ahead ||
	    now - fed_cur.warned[i] < MASTER_FED_WARN_EVERY)
		return;
	fed_cur.warned[i] = now;
	fed_time_format(when, ts, sizeof(ts));
	if (when <= now)
		log_warnx("federation: %s expired at %s", what, ts);
	else
		log_warnx("federation: %s expires at %s, in %lld hour%s", what,
		    ts, (long long)(when - now) / 3600,
		    (when - now) / 3600 == 1 ? "" : "s");
}

/* master_fed_asn1_time - an ASN1_TIME as time_t; 0 if it will not do */
static time_t
master_fed_asn1_time(const ASN1_TIME *a)
{
	struct tm	 tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void
master_fed_warn(time_t now)
{
	time_t	 t, ahead = master->conf->fed_expiry_warning;

	if (fed_cur.b.serial != 0) {
		master_fed_warn_one(0, fed_cur.b.expires, now,
		    "the bundle", ahead);
		if (fed_cur.b.crl != NULL && (t = master_fed_asn1_time(
		    X509_CRL_get0_nextUpdate(fed_cur.b.crl))) != 0)
			master_fed_warn_one(1, t, now, "the CRL (its next "
			    "update)", ahead);
	}
	if (fed_mat != NULL && (t = master_fed_asn1_time(
	    X509_get0_notAfter(fed_mat->certx))) != 0)
		master_fed_warn_one(2, t, now, "our federation certificate",
		    ahead > MASTER_FED_CERT_WARN ? ahead : MASTER_FED_CERT_WARN);
}

/*
 * master_fed_fetched - the bundle URL answered: a bundle to offer, not
 * modified since our last one, or a failure, which keeps what we have
 */
static void
master_fed_fetched(int status, const unsigned char *data, size_t len,
    const char *err, void *arg)
{
	const struct conf	*c = master->conf;

	(void)arg;
	fed_fetch = NULL;
	if (status == 1) {
		log_debug("federation: %s: not modified", c->fed_bundle_url);
		return;
	}
	if (status == -1) {
		char	 why[512];

		snprintf(why, sizeof(why), "fetching %s: %s",
		    c->fed_bundle_url, err);
		master_fed_refuse("url", why);
		return;
	}
	if (master_fed_offer(data, len, "url")) {
		fed_fetched = time(NULL);
		master_fed_store();
		master_fed_push();
	}
}

/* master_fed_fetch - ask the bundle URL, unless a fetch is in flight */
static void
master_fed_fetch(void)
{
	const struct conf	*c = master->conf;

	if (fed_fetch != NULL || c->fed_bundle_url[0] == '\0')
		return;
	/*
	 * In a child of its own, as the workers' user: the master keeps
	 * root and never runs libcurl (common/fedfetch.h).
	 */
	fed_fetch = fedfetch_start(master->base, c->fed_bundle_url,
	    fed_mat->ca, fed_mat->calen, FED_BUNDLE_MAX,
	    MASTER_FED_FETCH_TIMEOUT, fed_cur.b.serial != 0 ? fed_fetched : 0,
	    master->uid, master->gid, geteuid() == 0, master_fed_fetched,
	    NULL);
}

/*
 * master_fed_refresh - look for a newer bundle: the spool's copy while
 * there is none, then the bundle file when it changed, or the URL (its
 * answer comes later, master_fed_fetched). 1 if one was taken now (and
 * is to be sent to the workers).
 */
static int
master_fed_refresh(void)
{
	const struct conf	*c = master->conf;
	struct buf		*b;
	struct stat		 st;
	char			 path[PATH_MAX], err[512];
	int			 taken = 0, from_file = 0;

	if (fed_mat == NULL)
		return 0;
	if (fed_cur.b.serial == 0) {
		master_fed_store_path(path, sizeof(path));
		if (master_fed_read(path, &b, &st, err, sizeof(err)) == 0) {
			taken |= master_fed_offer((const unsigned char *)
			    buf_data(b), buf_len(b), "spool");
			buf_free(b);
		}
	}
	if (c->fed_bundle_file[0] != '\0') {
		if (stat(c->fed_bundle_file, &st) == -1) {
			if (fed_cur.st.st_ino != 0 || fed_cur.refused_at == 0)
				master_fed_refuse("file", strerror(errno));
			fed_cur.st.st_ino = 0;
		} else if (st.st_ino != fed_cur.st.st_ino ||
		    st.st_size != fed_cur.st.st_size ||
		    st.st_mtim.tv_sec != fed_cur.st.st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != fed_cur.st.st_mtim.tv_nsec) {
			if (master_fed_read(c->fed_bundle_file, &b, &st, err,
			    sizeof(err)) == -1)
				master_fed_refuse("file", err);
			else {
				if (master_fed_offer((const unsigned char *)
				    buf_data(b), buf_len(b), "file"))
					taken = from_file = 1;
				buf_free(b);
			}
			fed_cur.st = st;
		}
	}
	if (from_file)
		master_fed_store();
	if (c->fed_bundle_url[0] != '\0')
		master_fed_fetch();
	master_fed_warn(time(NULL));
	return taken;
}

/* master_fed_tick - every federation refresh */
static void
master_fed_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv;

	(void)fd;
	(void)ev;
	(void)arg;
	if (master_fed_refresh())
		master_fed_push();
	tv.tv_sec = master->conf->fed_refresh;
	tv.tv_usec = 0;
	evtimer_add(fed_timer, &tv);
}

/*
 * master_fed_commit - the loaded material replaces the running one; a
 * changed CA starts over (no bundle signed by the old one is current)
 */
void
master_fed_commit(void)
{
	int	 same;

	same = fed_mat != NULL && fed_mat_new != NULL &&
	    X509_cmp(fed_mat->cax, fed_mat_new->cax) == 0;
	master_fed_mat_free(fed_mat);
	fed_mat = fed_mat_new;
	fed_mat_new = NULL;
	if (!same) {
		fedfetch_cancel(fed_fetch);
		fed_fetch = NULL;
		fed_fetched = 0;
		master_fed_cur_clear();
	}
	else
		memset(&fed_cur.st, 0, sizeof(fed_cur.st));	/* reread */
	if (fed_mat == NULL) {
		fedhealth_free(fed_health);
		fed_health = NULL;
	} else if (fed_health == NULL)
		fed_health = fedhealth_new(FEDHEALTH_WINDOW, FEDHEALTH_MEMBERS);
}

/*
 * master_fed_start - after the spool exists: the first look, and the
 * refresh timer; again after a reload (the workers get the result with
 * the reloaded config)
 */
void
master_fed_start(void)
{
	struct timeval	 tv;

	if (fed_timer == NULL && (fed_timer = evtimer_new(master->base,
	    master_fed_tick, NULL)) == NULL)
		fatalx("%s: evtimer", __func__);
	evtimer_del(fed_timer);
	if (fed_mat == NULL)
		return;
	(void)master_fed_refresh();
	tv.tv_sec = master->conf->fed_refresh;
	tv.tv_usec = 0;
	evtimer_add(fed_timer, &tv);
}

/* master_fed_send_part - bytes in chunks that fit a frame */
static void
master_fed_send_part(struct ipc_peer *p, uint32_t part, const void *data,
    size_t len)
{
	const char	*s = data;
	struct ipc_msg	*m;
	size_t		 n, room;

	while (len > 0) {
		m = ipc_new(IPC_MASTER_FED_PART);
		ipc_put_u32(m, part);
		room = ipc_room(m) - 4;
		n = len < room ? len : room;
		ipc_put_data(m, s, n);
		ipc_send(p, m);
		s += n;
		len -= n;
	}
}

/*
 * master_fed_send - the federation to one worker: the CA, the bundle and,
 * for deliver (with_key), our certificate and key; nothing when the
 * federation is off
 */
void
master_fed_send(struct ipc_peer *p, int with_key)
{
	struct ipc_msg	*m;

	if (fed_mat == NULL)
		return;
	master_fed_send_part(p, FED_PART_CA, fed_mat->ca, fed_mat->calen);
	if (fed_cur.b.serial != 0)
		master_fed_send_part(p, FED_PART_BUNDLE, fed_cur.der,
		    fed_cur.len);
	if (with_key) {
		master_fed_send_part(p, FED_PART_CERT, fed_mat->cert.cert,
		    fed_mat->cert.certlen);
		master_fed_send_part(p, FED_PART_KEY, fed_mat->cert.key,
		    fed_mat->cert.keylen);
	}
	m = ipc_new(IPC_MASTER_FED_END);
	ipc_put_u64(m, fed_cur.b.serial);
	ipc_send(p, m);
}

/*
 * master_fed_push - a new bundle to every running smtpd and deliver,
 * with their TLS material after it, so each rebuilds what depends on it
 */
static void
master_fed_push(void)
{
	struct master_child	*c;
	size_t			 i;

	for (i = 0; i < master->nchildren; i++) {
		c = &master->children[i];
		if (c->state != MASTER_C_RUNNING || c->peer == NULL)
			continue;
		if (c->kind == PROC_SMTPD)
			master_tls_send(c->peer);
		else if (c->kind == PROC_DELIVER)
			master_tls_send_client(c->peer);
	}
}

/*
 * master_fed_cert, master_fed_ca - our certificate and the federation CA
 * (PEM) of the configuration being loaded, for master_tls_load(): smtpd
 * presents the one first and names the other to clients. NULL when the
 * federation is off; valid between master_fed_load() and _commit().
 */
const struct tls_pem *
master_fed_cert(void)
{
	return fed_mat_new != NULL ? &fed_mat_new->cert : NULL;
}

const char *
master_fed_ca(size_t *len)
{
	if (fed_mat_new == NULL)
		return NULL;
	*len = fed_mat_new->calen;
	return fed_mat_new->ca;
}

/* --- health ---------------------------------------------------------------- */

/*
 * master_fed_session - IPC_SMTPD_FED_SESSION or IPC_DELIVER_FED_SESSION: one
 * session for the health table, stamped with our clock; every field is
 * checked by the store (master_fedhealth.h). -1 when the frame is malformed.
 */
int
master_fed_session(int inbound, struct ipc_msgin *r)
{
	struct fedhealth_event	 ev;
	const char		*member, *version, *failure;
	uint32_t		 tls, verified, resumed;

	if (ipc_get_str(r, &member) == -1 || ipc_get_u32(r, &tls) == -1 ||
	    ipc_get_u32(r, &verified) == -1 ||
	    ipc_get_str(r, &version) == -1 ||
	    ipc_get_u32(r, &resumed) == -1 ||
	    ipc_get_str(r, &failure) == -1 || ipc_end(r) == -1)
		return -1;
	if (fed_health == NULL)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.member = member;
	ev.dir = inbound ? FEDHEALTH_IN : FEDHEALTH_OUT;
	ev.when = time(NULL);
	ev.tls = tls != 0;
	ev.verified = verified != 0;
	ev.version = version;
	ev.resumed = resumed != 0;
	ev.failure = failure;
	fedhealth_record(fed_health, &ev);
	return 0;
}

/* master_fed_health_members - the bundle's member ids to the store */
static void
master_fed_health_members(void)
{
	const char	**ids;
	size_t		 i, n = fed_cur.b.reg.n;

	if (fed_health == NULL || fed_cur.b.serial == 0)
		return;
	ids = xcalloc(n > 0 ? n : 1, sizeof(*ids));
	for (i = 0; i < n; i++)
		ids[i] = fed_cur.b.reg.members[i].id;
	(void)fedhealth_members_set(fed_health, ids, n);
	free(ids);
}

/* --- avalctl federation --------------------------------------------------- */

/* master_fed_send_text - b's lines as QUEUE_CTL_LINEs, then DONE */
static void
master_fed_send_text(struct ipc_peer *client, const struct buf *b,
    uint32_t status, const char *text)
{
	const char	*p = buf_data(b), *end = p + buf_len(b), *nl;
	struct ipc_msg	*m;
	char		 line[IPC_MAX_PAYLOAD - 64];
	size_t		 n;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;	/* our own text: never so long */
		memcpy(line, p, n);
		line[n] = '\0';
		m = ipc_new(IPC_QUEUE_CTL_LINE);
		ipc_put_u32(m, 0);
		ipc_put_str(m, line);
		ipc_send(client, m);
		p = nl + 1;
	}
	m = ipc_new(IPC_QUEUE_CTL_DONE);
	ipc_put_u32(m, 0);
	ipc_put_u32(m, status);
	ipc_put_str(m, text);
	ipc_send(client, m);
}

/* master_fed_show_json - the loaded bundle, and the members, as JSON */
static void
master_fed_show_json(struct buf *o, time_t now, time_t crl_next,
    time_t crl_last, time_t cert_end)
{
	const struct fed_bundle	*b = &fed_cur.b;
	const struct fed_member	*mb;
	char			 t[32];
	size_t			 i;

	buf_addstr(o, "{\"federation\": ");
	json_str(o, b->federation);
	buf_printf(o, ", \"serial\": %llu, \"source\": ",
	    (unsigned long long)b->serial);
	json_str(o, fed_cur.source);
	fed_time_format(fed_cur.taken, t, sizeof(t));
	buf_addstr(o, ", \"loaded\": ");
	json_str(o, b->serial ? t : NULL);
	fed_time_format(b->expires, t, sizeof(t));
	buf_addstr(o, ", \"expires\": ");
	json_str(o, b->serial ? t : NULL);
	buf_printf(o, ", \"expired\": %s, \"members\": %zu",
	    b->serial && b->expires <= now ? "true" : "false", b->reg.n);
	fed_time_format(crl_next, t, sizeof(t));
	buf_addstr(o, ", \"crl_next_update\": ");
	json_str(o, crl_next ? t : NULL);
	buf_printf(o, ", \"crl_age_seconds\": %lld, \"crl_stale\": %s",
	    crl_last ? (long long)(now - crl_last) : -1LL,
	    crl_next && crl_next <= now ? "true" : "false");
	fed_time_format(cert_end, t, sizeof(t));
	buf_addstr(o, ", \"certificate_expires\": ");
	json_str(o, t);
	buf_printf(o, ", \"certificate_expired\": %s, \"last_refused\": ",
	    cert_end <= now ? "true" : "false");
	json_str(o, fed_cur.refused[0] ? fed_cur.refused : NULL);
	buf_addstr(o, ", \"member_list\": [");
	for (i = 0; i < b->reg.n; i++) {
		mb = &b->reg.members[i];
		buf_printf(o, "%s\n {\"id\": ", i ? "," : "");
		json_str(o, mb->id);
		buf_printf(o, ", \"status\": \"%s\", \"org\": ",
		    mb->status == FED_S_ACTIVE ? "active" : "suspended");
		json_str(o, mb->org);
		buf_printf(o, ", \"domains\": %zu, \"mx\": %zu, "
		    "\"networks\": %zu}", mb->ndomains, mb->nmx, mb->nnets);
	}
	buf_addstr(o, "]}\n");
}

/* master_fed_show - avalctl federation [show] [--json] */
static void
master_fed_show(struct buf *o, int json)
{
	const struct fed_bundle	*b = &fed_cur.b;
	const struct fed_member	*mb;
	time_t			 now = time(NULL), crl_next = 0, crl_last = 0;
	time_t			 cert_end;
	char			 ts[32], te[32], tc[32], tn[32];
	size_t			 i, active = 0;

	if (b->crl != NULL) {
		crl_next = master_fed_asn1_time(X509_CRL_get0_nextUpdate(
		    b->crl));
		crl_last = master_fed_asn1_time(X509_CRL_get0_lastUpdate(
		    b->crl));
	}
	cert_end = master_fed_asn1_time(X509_get0_notAfter(fed_mat->certx));
	if (json) {
		master_fed_show_json(o, now, crl_next, crl_last, cert_end);
		return;
	}
	for (i = 0; i < b->reg.n; i++)
		active += b->reg.members[i].status == FED_S_ACTIVE;
	fed_time_format(b->expires, te, sizeof(te));
	fed_time_format(crl_next, tn, sizeof(tn));
	fed_time_format(cert_end, tc, sizeof(tc));
	fed_time_format(fed_cur.taken, ts, sizeof(ts));
	if (b->serial == 0)
		buf_addstr(o, "bundle:       none loaded yet: member mail "
		    "waits\n");
	else {
		buf_printf(o, "federation:   %s\n", b->federation);
		buf_printf(o, "bundle:       serial %llu, from %s at %s\n",
		    (unsigned long long)b->serial, fed_cur.source, ts);
		buf_printf(o, "expires:      %s%s\n", te, b->expires <= now ?
		    " (EXPIRED: member mail waits)" : "");
		buf_printf(o, "members:      %zu (%zu active)\n", b->reg.n,
		    active);
		if (crl_next != 0)
			buf_printf(o, "crl:          %lld h old, next update "
			    "%s%s\n", (long long)(now - crl_last) / 3600, tn,
			    crl_next <= now ? " (STALE: member mail waits)" :
			    "");
	}
	buf_printf(o, "certificate:  ours expires %s%s\n", tc,
	    cert_end <= now ? " (EXPIRED)" : "");
	if (fed_cur.refused[0] != '\0') {
		fed_time_format(fed_cur.refused_at, ts, sizeof(ts));
		buf_printf(o, "last refused: %s (%s)\n", fed_cur.refused, ts);
	}
	if (b->reg.n > 0)
		buf_printf(o, "%-20s %-10s %7s %4s %5s  %s\n", "MEMBER",
		    "STATUS", "DOMAINS", "MX", "NETS", "ORGANISATION");
	for (i = 0; i < b->reg.n; i++) {
		mb = &b->reg.members[i];
		buf_printf(o, "%-20s %-10s %7zu %4zu %5zu  %s\n", mb->id,
		    mb->status == FED_S_ACTIVE ? "active" : "suspended",
		    mb->ndomains, mb->nmx, mb->nnets, mb->org);
	}
}

/* master_fed_ctl - IPC_CTL_FEDERATION from avalctl */
void
master_fed_ctl(struct ipc_peer *client, const char *verb, uint32_t flags)
{
	struct buf	*o;
	int		 json = (flags & 1) != 0, rv = 0;

	o = buf_new(4096, MASTER_FED_REPORT_MAX);
	if (fed_mat == NULL)
		master_fed_send_text(client, o, 1, "the federation is off: "
		    "federation { ca } is not set");
	else if (strcmp(verb, "show") == 0 || *verb == '\0') {
		master_fed_show(o, json);
		master_fed_send_text(client, o, 0, "");
	} else if (strcmp(verb, "health") == 0) {
		rv = json ? fedhealth_report_json(fed_health, time(NULL), o) :
		    fedhealth_report_text(fed_health, time(NULL), o);
		master_fed_send_text(client, o, rv == 0 ? 0 : 1, rv == 0 ? "" :
		    "the health report is larger than the control socket "
		    "takes");
	} else
		master_fed_send_text(client, o, 2, "federation: unknown "
		    "command (show, health)");
	buf_free(o);
}

/* master_fed_clear - at exit */
void
master_fed_clear(void)
{
	fedfetch_cancel(fed_fetch);
	fed_fetch = NULL;
	master_fed_mat_free(fed_mat);
	master_fed_mat_free(fed_mat_new);
	fed_mat = fed_mat_new = NULL;
	master_fed_cur_clear();
	fedhealth_free(fed_health);
	fed_health = NULL;
	if (fed_timer != NULL)
		event_free(fed_timer);
	fed_timer = NULL;
}
