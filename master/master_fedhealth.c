/*
 * master_fedhealth - per-member TLS health of the federation
 *
 * The store is a sorted array of member rows, each with a ring of time
 * buckets per direction. A bucket knows which slot of time (when / width)
 * it holds; an event for a later slot at the same place in the ring
 * empties it first, which is how old counts leave without a sweep.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fedbundle.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "master/master_fedhealth.h"

struct fedhealth_bucket {
	int64_t		 slot;		/* when / width; -1: never used */
	uint32_t	 sessions;
	uint32_t	 verified;
	uint32_t	 tls;
	uint32_t	 resumed;
	uint32_t	 version[FEDHEALTH_V_N];
	uint32_t	 failure[FEDHEALTH_R_N];
};

struct fedhealth_side {
	struct fedhealth_bucket	 b[FEDHEALTH_BUCKETS];
	time_t			 last_ok;
	time_t			 last_fail;
	enum fedhealth_reason	 last_reason;
};

struct fedhealth_member {
	char			 id[FED_ID_MAX + 1];
	struct fedhealth_side	 side[2];
};

struct fedhealth {
	time_t			  window;
	time_t			  width;	/* of a bucket, seconds */
	size_t			  nbuckets;	/* <= FEDHEALTH_BUCKETS */
	size_t			  max;		/* rows at the most */
	struct fedhealth_member	**m;		/* sorted by id */
	size_t			  n;
	size_t			  alloc;
	char			(*spill)[FED_ID_MAX + 1];	/* no room */
	size_t			  nspill;
	int			  bundle;	/* members_set has spoken */
	struct fedhealth_counts	  c;
};

static const char *const fedhealth_reasons[FEDHEALTH_R_N] = {
	[FEDHEALTH_R_EXPIRED] =			"expired",
	[FEDHEALTH_R_NOT_YET_VALID] =		"not-yet-valid",
	[FEDHEALTH_R_REVOKED] =			"revoked",
	[FEDHEALTH_R_UNTRUSTED_CA] =		"untrusted-ca",
	[FEDHEALTH_R_SELF_SIGNED] =		"self-signed",
	[FEDHEALTH_R_NAME_MISMATCH] =		"name-mismatch",
	[FEDHEALTH_R_NOT_REGISTERED] =		"not-registered",
	[FEDHEALTH_R_NO_CERTIFICATE] =		"no-certificate",
	[FEDHEALTH_R_NO_STARTTLS] =		"no-starttls",
	[FEDHEALTH_R_STARTTLS_REFUSED] =	"starttls-refused",
	[FEDHEALTH_R_HANDSHAKE] =		"handshake",
	[FEDHEALTH_R_CRL_STALE] =		"crl-stale",
	[FEDHEALTH_R_BUNDLE_EXPIRED] =		"bundle-expired",
	[FEDHEALTH_R_DNS] =			"dns",
	[FEDHEALTH_R_CONNECT] =			"connect",
	[FEDHEALTH_R_DOWNGRADE] =		"downgrade",
	[FEDHEALTH_R_OTHER] =			"other",
};

static const char *const fedhealth_versions[FEDHEALTH_V_N] = {
	[FEDHEALTH_V_TLS13] =	"TLSv1.3",
	[FEDHEALTH_V_TLS12] =	"TLSv1.2",
	[FEDHEALTH_V_NONE] =	"none",
	[FEDHEALTH_V_OTHER] =	"other",
};

/* fedhealth_reason_name - the word of a reason class */
const char *
fedhealth_reason_name(enum fedhealth_reason r)
{
	if ((unsigned)r >= FEDHEALTH_R_N)
		return "other";
	return fedhealth_reasons[r];
}

/* fedhealth_version_name - TLSv1.3, TLSv1.2, none or other */
const char *
fedhealth_version_name(enum fedhealth_version v)
{
	if ((unsigned)v >= FEDHEALTH_V_N)
		return "other";
	return fedhealth_versions[v];
}

/* fedhealth_new - an empty store */
struct fedhealth *
fedhealth_new(time_t window, size_t max_members)
{
	struct fedhealth	*h;

	if (window <= 0)
		fatalx("%s: window %lld", __func__, (long long)window);
	h = xcalloc(1, sizeof(*h));
	h->window = window;
	h->nbuckets = window < FEDHEALTH_BUCKETS ? (size_t)window :
	    FEDHEALTH_BUCKETS;
	/* Rounded down: nbuckets buckets never span more than window. */
	h->width = window / (time_t)h->nbuckets;
	h->max = max_members;
	return h;
}

/* fedhealth_free - the store and every row */
void
fedhealth_free(struct fedhealth *h)
{
	size_t	 i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		free(h->m[i]);
	free(h->m);
	free(h->spill);
	free(h);
}

/* fedhealth_row_new - a row for id with no sessions */
static struct fedhealth_member *
fedhealth_row_new(const char *id)
{
	struct fedhealth_member	*m = xcalloc(1, sizeof(*m));
	size_t			 d, i;

	strlcpy(m->id, id, sizeof(m->id));
	for (d = 0; d < 2; d++)
		for (i = 0; i < FEDHEALTH_BUCKETS; i++)
			m->side[d].b[i].slot = -1;
	return m;
}

/*
 * fedhealth_find - the index of id's row, or where it would go; *found
 * says which
 */
static size_t
fedhealth_find(const struct fedhealth *h, const char *id, int *found)
{
	size_t	 lo = 0, hi = h->n, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(h->m[mid]->id, id)) == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static int
fedhealth_spill_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* fedhealth_row - id's row, made if it may be; NULL (and counted) if not */
static struct fedhealth_member *
fedhealth_row(struct fedhealth *h, const char *id)
{
	size_t	 i;
	int	 found;

	i = fedhealth_find(h, id, &found);
	if (found)
		return h->m[i];
	if (h->bundle) {
		if (h->nspill > 0 && bsearch(id, h->spill, h->nspill,
		    sizeof(h->spill[0]), fedhealth_spill_cmp) != NULL)
			h->c.no_room++;
		else
			h->c.not_member++;
		return NULL;
	}
	if (h->n >= h->max) {
		h->c.no_room++;
		return NULL;
	}
	if (h->n == h->alloc) {
		h->alloc = h->alloc == 0 ? 16 : h->alloc * 2;
		if (h->alloc > h->max)
			h->alloc = h->max;
		h->m = xreallocarray(h->m, h->alloc, sizeof(h->m[0]));
	}
	memmove(h->m + i + 1, h->m + i, (h->n - i) * sizeof(h->m[0]));
	h->m[i] = fedhealth_row_new(id);
	h->n++;
	return h->m[i];
}

/* fedhealth_version - the version's index; *bad when it is not known */
static enum fedhealth_version
fedhealth_version(const char *v, int *bad)
{
	if (v == NULL || *v == '\0')
		return FEDHEALTH_V_NONE;
	if (strcmp(v, "TLSv1.3") == 0)
		return FEDHEALTH_V_TLS13;
	if (strcmp(v, "TLSv1.2") == 0)
		return FEDHEALTH_V_TLS12;
	*bad = 1;
	return FEDHEALTH_V_OTHER;
}

/* fedhealth_reason - the failure's class; *bad when the word is not one */
static enum fedhealth_reason
fedhealth_reason(const char *f, int *bad)
{
	size_t	 i;

	for (i = 0; i < FEDHEALTH_R_N; i++)
		if (strcmp(f, fedhealth_reasons[i]) == 0)
			return (enum fedhealth_reason)i;
	*bad = 1;
	return FEDHEALTH_R_OTHER;
}

static void
fedhealth_inc(uint32_t *c)
{
	/* A flood saturates a count; it never wraps to look healthy. */
	if (*c < UINT32_MAX)
		(*c)++;
}

/* fedhealth_record - one finished session, every field checked */
void
fedhealth_record(struct fedhealth *h, const struct fedhealth_event *ev)
{
	struct fedhealth_member	*m;
	struct fedhealth_side	*s;
	struct fedhealth_bucket	*b;
	enum fedhealth_version	 v;
	enum fedhealth_reason	 r = FEDHEALTH_R_OTHER;
	int			 tls, verified, resumed, failed, bad = 0;
	int64_t			 slot;

	if (ev->member == NULL ||
	    strnlen(ev->member, FED_ID_MAX + 1) > FED_ID_MAX ||
	    !fed_id_valid(ev->member) ||
	    (ev->dir != FEDHEALTH_IN && ev->dir != FEDHEALTH_OUT) ||
	    ev->when <= 0) {
		h->c.rejected_events++;
		return;
	}

	/* Flags are taken as booleans, then made to agree with tls. */
	tls = ev->tls != 0;
	verified = ev->verified != 0;
	resumed = ev->resumed != 0;
	v = fedhealth_version(ev->version, &bad);
	if (!tls) {
		if (verified || resumed || v != FEDHEALTH_V_NONE)
			bad = 1;
		verified = resumed = 0;
		v = FEDHEALTH_V_NONE;
	} else if (v == FEDHEALTH_V_NONE) {
		bad = 1;
		v = FEDHEALTH_V_OTHER;
	}
	failed = ev->failure != NULL && *ev->failure != '\0';
	if (failed)
		r = fedhealth_reason(ev->failure, &bad);

	if ((m = fedhealth_row(h, ev->member)) == NULL)
		return;
	s = &m->side[ev->dir];
	slot = (int64_t)(ev->when / h->width);
	b = &s->b[slot % (int64_t)h->nbuckets];
	if (b->slot > slot) {
		/* The ring has moved on a whole window past this session. */
		h->c.late++;
		return;
	}
	if (bad)
		h->c.rejected_fields++;
	if (b->slot < slot) {
		memset(b, 0, sizeof(*b));
		b->slot = slot;
	}
	fedhealth_inc(&b->sessions);
	if (verified)
		fedhealth_inc(&b->verified);
	if (tls)
		fedhealth_inc(&b->tls);
	if (resumed)
		fedhealth_inc(&b->resumed);
	fedhealth_inc(&b->version[v]);
	if (failed) {
		fedhealth_inc(&b->failure[r]);
		if (ev->when >= s->last_fail) {
			s->last_fail = ev->when;
			s->last_reason = r;
		}
	} else if (ev->when > s->last_ok)
		s->last_ok = ev->when;
}

static int
fedhealth_id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* fedhealth_members_set - the bundle's ids become the table */
size_t
fedhealth_members_set(struct fedhealth *h, const char *const *ids, size_t n)
{
	const char		**v;
	struct fedhealth_member	**m;
	size_t			  i, nv = 0, nm = 0, j, rows;

	/* The valid ids, sorted, each once. */
	v = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++)
		if (ids[i] != NULL &&
		    strnlen(ids[i], FED_ID_MAX + 1) <= FED_ID_MAX &&
		    fed_id_valid(ids[i]))
			v[nv++] = ids[i];
	qsort(v, nv, sizeof(*v), fedhealth_id_cmp);
	for (i = j = 0; i < nv; i++)
		if (j == 0 || strcmp(v[j - 1], v[i]) != 0)
			v[j++] = v[i];
	nv = j;

	/*
	 * Rows for the first max of them, the ones there already kept with
	 * their history: both lists are sorted, so one walk merges them.
	 */
	rows = nv < h->max ? nv : h->max;
	m = xreallocarray(NULL, rows > 0 ? rows : 1, sizeof(*m));
	for (i = j = 0; i < rows; i++) {
		while (j < h->n && strcmp(h->m[j]->id, v[i]) < 0)
			free(h->m[j++]);
		if (j < h->n && strcmp(h->m[j]->id, v[i]) == 0)
			m[nm++] = h->m[j++];
		else
			m[nm++] = fedhealth_row_new(v[i]);
	}
	while (j < h->n)
		free(h->m[j++]);
	free(h->m);
	h->m = m;
	h->n = h->alloc = nm;

	/* The rest are members too, with no row: their events say no room. */
	free(h->spill);
	h->spill = NULL;
	h->nspill = nv - nm;
	if (h->nspill > 0) {
		h->spill = xreallocarray(NULL, h->nspill, sizeof(h->spill[0]));
		for (j = 0; j < h->nspill; j++)
			strlcpy(h->spill[j], v[nm + j], sizeof(h->spill[j]));
	}
	h->bundle = 1;
	free(v);
	return h->nspill;
}

/* fedhealth_side_sum - one side over the buckets younger than window */
static void
fedhealth_side_sum(const struct fedhealth *h, const struct fedhealth_side *s,
    time_t now, struct fedhealth_sum *out)
{
	const struct fedhealth_bucket	*b;
	int64_t				 cur;
	size_t				 i, k;

	memset(out, 0, sizeof(*out));
	out->last_ok = s->last_ok;
	out->last_fail = s->last_fail;
	out->last_reason = s->last_reason;
	cur = now < 0 ? -1 : (int64_t)(now / h->width);
	for (i = 0; i < h->nbuckets; i++) {
		b = &s->b[i];
		/* Slots cur - nbuckets + 1 .. cur; later is the future. */
		if (b->slot < 0 || b->slot > cur ||
		    b->slot <= cur - (int64_t)h->nbuckets)
			continue;
		out->sessions += b->sessions;
		out->verified += b->verified;
		out->tls += b->tls;
		out->resumed += b->resumed;
		for (k = 0; k < FEDHEALTH_V_N; k++)
			out->version[k] += b->version[k];
		for (k = 0; k < FEDHEALTH_R_N; k++) {
			out->failure[k] += b->failure[k];
			out->failed += b->failure[k];
		}
	}
}

/* fedhealth_sum - one member in one direction over the window */
int
fedhealth_sum(const struct fedhealth *h, const char *member,
    enum fedhealth_dir dir, time_t now, struct fedhealth_sum *out)
{
	size_t	 i;
	int	 found;

	memset(out, 0, sizeof(*out));
	if (member == NULL || (dir != FEDHEALTH_IN && dir != FEDHEALTH_OUT))
		return 0;
	i = fedhealth_find(h, member, &found);
	if (!found)
		return 0;
	fedhealth_side_sum(h, &h->m[i]->side[dir], now, out);
	return 1;
}

/* fedhealth_counts - the store's counters */
void
fedhealth_counts(const struct fedhealth *h, struct fedhealth_counts *c)
{
	*c = h->c;
	c->members = h->n;
	c->members_no_room = h->nspill;
}

/* --- reports ------------------------------------------------------------ */

/* fedhealth_time - RFC 3339 UTC, or "-" for none */
static const char *
fedhealth_time(time_t t, char *out, size_t len)
{
	if (t <= 0)
		snprintf(out, len, "-");
	else
		fed_time_format(t, out, len);
	return out;
}

/* fedhealth_span - a length of time as 24h, 90m or 45s */
static const char *
fedhealth_span(time_t t, char *out, size_t len)
{
	if (t % 3600 == 0)
		snprintf(out, len, "%lldh", (long long)(t / 3600));
	else if (t % 60 == 0)
		snprintf(out, len, "%lldm", (long long)(t / 60));
	else
		snprintf(out, len, "%llds", (long long)t);
	return out;
}

/* fedhealth_pct - part of whole as a whole percentage, rounded down */
static const char *
fedhealth_pct(uint64_t part, uint64_t whole, char *out, size_t len)
{
	if (whole == 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%llu%%",
		    (unsigned long long)(part * 100 / whole));
	return out;
}

static const char *const fedhealth_dirs[2] = { "in", "out" };

/* fedhealth_text_row - one member in one direction */
static int
fedhealth_text_row(struct buf *b, int w, const char *id, const char *dir,
    const struct fedhealth_sum *s)
{
	char	 vp[8], rp[8], ok[32], fail[32], last[64];
	size_t	 k;
	int	 err = 0, n = 0;

	if (s->last_fail > 0)
		snprintf(last, sizeof(last), "%s %s",
		    fedhealth_time(s->last_fail, fail, sizeof(fail)),
		    fedhealth_reason_name(s->last_reason));
	else
		snprintf(last, sizeof(last), "-");
	err |= buf_printf(b, "%-*s %-3s %8llu %8s %7s %7llu %7llu %6llu %5llu"
	    "  %-20s  %-37s ", w, id, dir, (unsigned long long)s->sessions,
	    fedhealth_pct(s->verified, s->sessions, vp, sizeof(vp)),
	    fedhealth_pct(s->resumed, s->tls, rp, sizeof(rp)),
	    (unsigned long long)s->version[FEDHEALTH_V_TLS13],
	    (unsigned long long)s->version[FEDHEALTH_V_TLS12],
	    (unsigned long long)s->version[FEDHEALTH_V_NONE],
	    (unsigned long long)s->version[FEDHEALTH_V_OTHER],
	    fedhealth_time(s->last_ok, ok, sizeof(ok)), last);
	for (k = 0; k < FEDHEALTH_R_N; k++)
		if (s->failure[k] > 0)
			err |= buf_printf(b, "%s%s %llu", n++ ? ", " : "",
			    fedhealth_reasons[k],
			    (unsigned long long)s->failure[k]);
	err |= buf_addstr(b, n ? "\n" : "-\n");
	return err;
}

/* fedhealth_report_text - the table avalctl prints */
int
fedhealth_report_text(const struct fedhealth *h, time_t now, struct buf *b)
{
	struct fedhealth_sum	 s;
	char			 t[32], win[32], bw[32];
	size_t			 i, len;
	int			 d, w = (int)strlen("MEMBER"), err = 0;

	for (i = 0; i < h->n; i++)
		if ((len = strlen(h->m[i]->id)) > (size_t)w)
			w = (int)len;
	if (h->n == 0)
		err |= buf_addstr(b, h->bundle ? "no federation members\n" :
		    "no federation members known yet\n");
	else
		err |= buf_printf(b, "%-*s %-3s %8s %8s %7s %7s %7s %6s %5s"
		    "  %-20s  %-37s %s\n", w, "MEMBER", "DIR", "SESSIONS",
		    "VERIFIED", "RESUMED", "TLSv1.3", "TLSv1.2", "NO-TLS",
		    "OTHER", "LAST SUCCESS", "LAST FAILURE", "FAILURES");
	for (i = 0; i < h->n; i++)
		for (d = FEDHEALTH_IN; d <= FEDHEALTH_OUT; d++) {
			fedhealth_side_sum(h, &h->m[i]->side[d], now, &s);
			err |= fedhealth_text_row(b, w, h->m[i]->id,
			    fedhealth_dirs[d], &s);
		}
	err |= buf_printf(b, "-- %zu member%s over the last %s (buckets of "
	    "%s) at %s\n", h->n, h->n == 1 ? "" : "s",
	    fedhealth_span(h->width * (time_t)h->nbuckets, win, sizeof(win)),
	    fedhealth_span(h->width, bw, sizeof(bw)),
	    fedhealth_time(now, t, sizeof(t)));
	if (h->nspill > 0 || h->c.no_room > 0)
		err |= buf_printf(b, "-- no room: %zu bundle member%s without "
		    "a row (at most %zu); %llu event%s dropped\n", h->nspill,
		    h->nspill == 1 ? "" : "s", h->max,
		    (unsigned long long)h->c.no_room,
		    h->c.no_room == 1 ? "" : "s");
	if (h->c.not_member > 0)
		err |= buf_printf(b, "-- not members: %llu event%s dropped "
		    "for ids not in the bundle\n",
		    (unsigned long long)h->c.not_member,
		    h->c.not_member == 1 ? "" : "s");
	if (h->c.late > 0)
		err |= buf_printf(b, "-- late: %llu event%s dropped, older "
		    "than the window when they arrived\n",
		    (unsigned long long)h->c.late, h->c.late == 1 ? "" : "s");
	if (h->c.rejected_events > 0 || h->c.rejected_fields > 0)
		err |= buf_printf(b, "-- rejected: %llu event%s (member id, "
		    "direction or time not valid), %llu field%s (counted as "
		    "other)\n", (unsigned long long)h->c.rejected_events,
		    h->c.rejected_events == 1 ? "" : "s",
		    (unsigned long long)h->c.rejected_fields,
		    h->c.rejected_fields == 1 ? "" : "s");
	return err ? -1 : 0;
}

/* fedhealth_json_time - a quoted RFC 3339 time, or null */
static int
fedhealth_json_time(struct buf *b, time_t t)
{
	char	 s[32];

	if (t <= 0)
		return buf_addstr(b, "null");
	fed_time_format(t, s, sizeof(s));
	return json_str(b, s);
}

/* fedhealth_json_share - part / whole with three decimals, or null */
static int
fedhealth_json_share(struct buf *b, uint64_t part, uint64_t whole)
{
	uint64_t	 pm;

	if (whole == 0)
		return buf_addstr(b, "null");
	/* Integers only: a locale cannot turn the point into a comma. */
	pm = part >= whole ? 1000 : part * 1000 / whole;
	return buf_printf(b, "%llu.%03llu", (unsigned long long)(pm / 1000),
	    (unsigned long long)(pm % 1000));
}

/* fedhealth_json_side - one direction's object */
static int
fedhealth_json_side(struct buf *b, const struct fedhealth_sum *s)
{
	size_t	 k;
	int	 err = 0, n = 0;

	err |= buf_printf(b, "{\"sessions\": %llu, \"verified\": %llu, "
	    "\"verified_share\": ", (unsigned long long)s->sessions,
	    (unsigned long long)s->verified);
	err |= fedhealth_json_share(b, s->verified, s->sessions);
	err |= buf_printf(b, ", \"tls\": %llu, \"resumed\": %llu, "
	    "\"resumed_share\": ", (unsigned long long)s->tls,
	    (unsigned long long)s->resumed);
	err |= fedhealth_json_share(b, s->resumed, s->tls);
	err |= buf_addstr(b, ", \"versions\": {");
	for (k = 0; k < FEDHEALTH_V_N; k++) {
		err |= buf_addstr(b, k ? ", " : "");
		err |= json_str(b, fedhealth_versions[k]);
		err |= buf_printf(b, ": %llu",
		    (unsigned long long)s->version[k]);
	}
	err |= buf_printf(b, "}, \"failed\": %llu, \"failures\": {",
	    (unsigned long long)s->failed);
	for (k = 0; k < FEDHEALTH_R_N; k++) {
		if (s->failure[k] == 0)
			continue;
		err |= buf_addstr(b, n++ ? ", " : "");
		err |= json_str(b, fedhealth_reasons[k]);
		err |= buf_printf(b, ": %llu",
		    (unsigned long long)s->failure[k]);
	}
	err |= buf_addstr(b, "}, \"last_success\": ");
	err |= fedhealth_json_time(b, s->last_ok);
	err |= buf_addstr(b, ", \"last_failure\": ");
	if (s->last_fail > 0) {
		err |= buf_addstr(b, "{\"time\": ");
		err |= fedhealth_json_time(b, s->last_fail);
		err |= buf_addstr(b, ", \"reason\": ");
		err |= json_str(b, fedhealth_reason_name(s->last_reason));
		err |= buf_addstr(b, "}");
	} else
		err |= buf_addstr(b, "null");
	err |= buf_addstr(b, "}");
	return err;
}

/* fedhealth_report_json - the same report as one JSON object */
int
fedhealth_report_json(const struct fedhealth *h, time_t now, struct buf *b)
{
	struct fedhealth_sum	 s;
	size_t			 i;
	int			 d, err = 0;

	err |= buf_addstr(b, "{\"generated\": ");
	err |= fedhealth_json_time(b, now);
	err |= buf_printf(b, ", \"window_s\": %lld, \"bucket_s\": %lld, "
	    "\"max_members\": %zu, \"members\": [",
	    (long long)(h->width * (time_t)h->nbuckets), (long long)h->width,
	    h->max);
	for (i = 0; i < h->n; i++) {
		err |= buf_addstr(b, i ? ",\n {\"id\": " : "\n {\"id\": ");
		err |= json_str(b, h->m[i]->id);
		for (d = FEDHEALTH_IN; d <= FEDHEALTH_OUT; d++) {
			fedhealth_side_sum(h, &h->m[i]->side[d], now, &s);
			err |= buf_printf(b, ", \"%s\": ", fedhealth_dirs[d]);
			err |= fedhealth_json_side(b, &s);
		}
		err |= buf_addstr(b, "}");
	}
	err |= buf_printf(b, "%s], \"rejected\": {\"events\": %llu, "
	    "\"fields\": %llu}, \"dropped\": {\"no_room\": %llu, "
	    "\"not_member\": %llu, \"late\": %llu}, "
	    "\"members_no_room\": %zu}\n",
	    h->n ? "\n" : "", (unsigned long long)h->c.rejected_events,
	    (unsigned long long)h->c.rejected_fields,
	    (unsigned long long)h->c.no_room,
	    (unsigned long long)h->c.not_member,
	    (unsigned long long)h->c.late, h->nspill);
	return err ? -1 : 0;
}
