/*
 * master_fedhealth - per-member TLS health of the federation, as
 * "avalctl federation health" shows it
 *
 * How the master uses it. avald makes one store when the configuration
 * names a federation, fedhealth_new(FEDHEALTH_WINDOW, FEDHEALTH_MEMBERS),
 * and hands it the bundle's member ids with fedhealth_members_set() each
 * time a bundle verifies (at start-up and on every reload that takes; a
 * reload that fails keeps the old list, as it keeps the old bundle).
 * smtpd and deliver send the master one message for each finished session
 * that concerns a member: inbound, an SMTP client that the bundle, the DNS
 * whitelist or its certificate places at a member; outbound, a connection
 * to a member's MX. The master's dispatch unpacks that message into a
 * struct fedhealth_event, sets when from its own clock (time(NULL) as the
 * message arrives: a time from a worker is neither needed nor trusted), and
 * calls fedhealth_record(). It checks nothing itself: this module takes
 * every field as hostile. When avalctl asks, the master writes
 * fedhealth_report_text() or fedhealth_report_json() at time(NULL) into a
 * capped buf and sends it in frames below the IPC payload limit, one line
 * or a few to a frame. The /status page can show the same JSON.
 *
 * What it keeps, for each member and direction: counts in FEDHEALTH_BUCKETS
 * time buckets of window / FEDHEALTH_BUCKETS each (fewer, of 1 s, for a
 * window shorter than that), so memory does not grow with traffic, about
 * 5.5 KB a member. A report at now adds up the buckets younger than the
 * window: a session is counted for at least window - window/24 and never
 * longer than window after it happened. The last success and the last
 * failure (with its reason) are kept beyond the window: a member that last
 * worked a week ago says so. A bucket holds
 *
 *	sessions	every session recorded
 *	verified	the member's federation certificate verified (a share
 *			of sessions)
 *	tls, resumed	TLS negotiated, and of those, resumed (a share of tls)
 *	version		by TLS version: TLSv1.3, TLSv1.2, none, other
 *	failure		by reason class (below); sessions - failed succeeded
 *
 * Reason classes, the words a worker sends in failure: expired,
 * not-yet-valid, revoked, untrusted-ca, self-signed, name-mismatch,
 * not-registered (the MX host or the certificate's name is not registered
 * to that member), no-certificate, no-starttls, starttls-refused,
 * handshake, crl-stale, bundle-expired, dns, connect, downgrade (inbound:
 * a member's address without a verified certificate), other. Any other
 * word is counted as other.
 *
 * Hostile input. fedhealth_record() reads an event as coming from a
 * process that may have been taken over. An event whose member id is not
 * a registry id (common/fedbundle.h: fed_id_valid), whose direction is
 * neither, or whose time is not after 1970 is not recorded and counts as
 * a rejected event. A field outside its known set is recorded as other and
 * counts as a rejected field: a version other than "TLSv1.2", "TLSv1.3" or
 * "" (none), a failure word not in the table; so is a flag that contradicts
 * tls (verified, resumed or a version without TLS; TLS without a version),
 * which is then recorded as what tls allows. Nothing a worker sends is
 * ever stored or printed as it was sent but a valid member id. The strings
 * of an event are only read during the call.
 *
 * Membership. Until the first fedhealth_members_set() a member is added by
 * its first event, up to max_members. From then on the bundle is the
 * table: a member with no sessions appears with 0, a member dropped from
 * the bundle drops out (its history with it) and stays out, and an event
 * for an id not in the bundle is dropped and counted (not a member). When
 * the bundle lists more than max_members, the first max_members ids in
 * sorted order get a row; events for the others are dropped and counted
 * (no room), and the report says how many members have no row.
 *
 * A session older than the window when it arrives, whose bucket already
 * holds a later hour, is dropped and counted (late). One from the future
 * is kept but not counted until its time comes; since it holds its bucket
 * for that hour, the master must stamp when with its own clock.
 *
 * A bucket's counts stop at 2^32 - 1 rather than wrap. The counters of
 * rejected and dropped events run from fedhealth_new().
 * The store has no globals; one store is used by one thread.
 */
#ifndef AVAL_MASTER_MASTER_FEDHEALTH_H
#define AVAL_MASTER_MASTER_FEDHEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;

#define FEDHEALTH_WINDOW	(24 * 3600)	/* what the master asks for */
#define FEDHEALTH_MEMBERS	1024		/* rows; about 5.5 MB */
#define FEDHEALTH_BUCKETS	24

enum fedhealth_dir { FEDHEALTH_IN = 0, FEDHEALTH_OUT };

/*
 * One finished session (inbound: an SMTP client that the bundle, the
 * whitelist or its certificate places at a member; outbound: a connection
 * to a member's MX).
 */
struct fedhealth_event {
	const char		*member;	/* id, [a-z0-9-], <= 32 */
	enum fedhealth_dir	 dir;
	time_t			 when;		/* the master's clock */
	int			 tls;		/* TLS was negotiated */
	int			 verified;	/* the peer's federation
						   certificate verified and
						   belongs to member */
	const char		*version;	/* "TLSv1.3", "TLSv1.2", "" */
	int			 resumed;
	const char		*failure;	/* NULL/"" on success; else a
						   reason class word */
};

enum fedhealth_version {
	FEDHEALTH_V_TLS13,
	FEDHEALTH_V_TLS12,
	FEDHEALTH_V_NONE,
	FEDHEALTH_V_OTHER,
	FEDHEALTH_V_N
};

enum fedhealth_reason {
	FEDHEALTH_R_EXPIRED,
	FEDHEALTH_R_NOT_YET_VALID,
	FEDHEALTH_R_REVOKED,
	FEDHEALTH_R_UNTRUSTED_CA,
	FEDHEALTH_R_SELF_SIGNED,
	FEDHEALTH_R_NAME_MISMATCH,
	FEDHEALTH_R_NOT_REGISTERED,
	FEDHEALTH_R_NO_CERTIFICATE,
	FEDHEALTH_R_NO_STARTTLS,
	FEDHEALTH_R_STARTTLS_REFUSED,
	FEDHEALTH_R_HANDSHAKE,
	FEDHEALTH_R_CRL_STALE,
	FEDHEALTH_R_BUNDLE_EXPIRED,
	FEDHEALTH_R_DNS,
	FEDHEALTH_R_CONNECT,
	FEDHEALTH_R_DOWNGRADE,
	FEDHEALTH_R_OTHER,
	FEDHEALTH_R_N
};

/* One member in one direction, over the window at some now. */
struct fedhealth_sum {
	uint64_t		 sessions;
	uint64_t		 verified;
	uint64_t		 tls;
	uint64_t		 resumed;
	uint64_t		 failed;
	uint64_t		 version[FEDHEALTH_V_N];
	uint64_t		 failure[FEDHEALTH_R_N];
	time_t			 last_ok;	/* 0: none yet; any age */
	time_t			 last_fail;	/* 0: none yet; any age */
	enum fedhealth_reason	 last_reason;	/* of last_fail */
};

/* The store's own counters, since fedhealth_new(). */
struct fedhealth_counts {
	uint64_t		 rejected_events;	/* not recorded */
	uint64_t		 rejected_fields;	/* recorded as other */
	uint64_t		 no_room;	/* dropped: cap reached */
	uint64_t		 not_member;	/* dropped: not in bundle */
	uint64_t		 late;		/* dropped: older than the
						   window on arrival */
	size_t			 members;	/* rows */
	size_t			 members_no_room; /* in the bundle, no row */
};

struct fedhealth;

/* window in seconds (> 0, else fatalx); max_members rows at the most */
struct fedhealth *fedhealth_new(time_t window, size_t max_members);
void		 fedhealth_free(struct fedhealth *);	/* NULL is fine */

/* fedhealth_record - one finished session; checks every field (above) */
void		 fedhealth_record(struct fedhealth *,
		    const struct fedhealth_event *);

/*
 * fedhealth_members_set - the bundle's member ids (n of them; invalid ids
 * and repeats are skipped). Members that stay keep their history. Returns
 * how many members have no row for want of room.
 */
size_t		 fedhealth_members_set(struct fedhealth *,
		    const char *const *ids, size_t n);

/* fedhealth_sum - 1 and *s for a member with a row, 0 for none */
int		 fedhealth_sum(const struct fedhealth *, const char *member,
		    enum fedhealth_dir, time_t now, struct fedhealth_sum *);
void		 fedhealth_counts(const struct fedhealth *,
		    struct fedhealth_counts *);

/*
 * fedhealth_report_text - a table, one row per member and direction:
 * MEMBER DIR SESSIONS VERIFIED (% of sessions) RESUMED (% of those with
 * TLS) TLSv1.3 TLSv1.2 NO-TLS OTHER (sessions by version), LAST SUCCESS,
 * LAST FAILURE (time and reason), FAILURES ("expired 2, dns 1"); then a
 * line with the window and, only when there were any, lines that say what
 * was dropped or rejected and why.
 * fedhealth_report_json - the same as one JSON object (RFC 8259), ending
 * in a newline. Times are RFC 3339 UTC. Both append to b and return 0, or
 * -1 when b's cap was reached: b then holds no usable report.
 *
 * The JSON: {"generated": T, "window_s": N, "bucket_s": N,
 * "max_members": N, "members": [{"id": ID, "in": D, "out": D}, ...],
 * "rejected": {"events": N, "fields": N}, "dropped": {"no_room": N,
 * "not_member": N, "late": N}, "members_no_room": N}, with members sorted
 * by id and each D {"sessions": N, "verified": N, "verified_share": F,
 * "tls": N, "resumed": N, "resumed_share": F, "versions": {"TLSv1.3": N,
 * "TLSv1.2": N, "none": N, "other": N}, "failed": N, "failures":
 * {REASON: N, ...}, "last_success": T, "last_failure": {"time": T,
 * "reason": REASON}}. window_s is what the buckets span (window rounded
 * down to whole buckets); failures lists only the reasons seen; a share is a
 * fraction with three decimals, rounded down (so 1.000 is every one), or
 * null when there is nothing to share; last_success and last_failure are
 * null when there has been none.
 */
int		 fedhealth_report_text(const struct fedhealth *, time_t now,
		    struct buf *);
int		 fedhealth_report_json(const struct fedhealth *, time_t now,
		    struct buf *);

const char	*fedhealth_reason_name(enum fedhealth_reason);
const char	*fedhealth_version_name(enum fedhealth_version);

#endif
