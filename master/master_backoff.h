/*
 * master_backoff - how long to wait before restarting a worker that died
 *
 * A worker that had lived at least MASTER_BACKOFF_STABLE_MS when it died
 * is restarted at once (a wait of 0 ms) and its back-off starts over: it
 * was serving, so whatever killed it (an operator, the OOM killer, one
 * message that hit a bug) is no reason to leave its work undone. A worker
 * that dies sooner than that after its start is taken to be crashing at
 * start-up: it waits the current back-off, which starts at
 * MASTER_BACKOFF_MIN_MS and doubles with each early death up to
 * MASTER_BACKOFF_MAX_MS, so a worker that cannot run costs at most one
 * start every 10 s. A start that fails outright (no fork) counts as an
 * early death.
 *
 * The policy is pure: the caller measures how long the worker lived (on
 * the monotonic clock) and arms the timer. A zeroed struct is a worker
 * that has not died yet.
 */
#ifndef AVAL_MASTER_MASTER_BACKOFF_H
#define AVAL_MASTER_MASTER_BACKOFF_H

#define MASTER_BACKOFF_STABLE_MS	5000	/* lived this long: at once */
#define MASTER_BACKOFF_MIN_MS		100	/* after a first early death */
#define MASTER_BACKOFF_MAX_MS		10000	/* the doubling stops here */

struct master_backoff {
	long	 next_ms;	/* wait after the next early death; 0: MIN */
};

/* the wait before the restart of a worker that lived lived_ms; updates b */
long	 master_backoff_next(struct master_backoff *b, long long lived_ms);

#endif
