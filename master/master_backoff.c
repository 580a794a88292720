/*
 * master_backoff - how long to wait before restarting a worker that died
 *
 * See master_backoff.h for the policy.
 */
#include "master/master_backoff.h"

/* master_backoff_next - 0 after a long life, else the doubling back-off */
long
master_backoff_next(struct master_backoff *b, long long lived_ms)
{
	long	 wait;

	if (b->next_ms < MASTER_BACKOFF_MIN_MS ||
	    b->next_ms > MASTER_BACKOFF_MAX_MS)
		b->next_ms = MASTER_BACKOFF_MIN_MS;
	if (lived_ms >= MASTER_BACKOFF_STABLE_MS) {
		b->next_ms = MASTER_BACKOFF_MIN_MS;
		return 0;
	}
	wait = b->next_ms;
	b->next_ms = wait > MASTER_BACKOFF_MAX_MS / 2 ?
	    MASTER_BACKOFF_MAX_MS : wait * 2;
	return wait;
}
