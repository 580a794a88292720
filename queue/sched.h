/*
 * sched - when, and how many at once, the queue's work goes to deliver
 *
 * Pure state: no IPC, no store, no clock of its own (every call that needs
 * the time is given "now" in milliseconds) and no randomness of its own
 * (sched_backoff() takes the random number), so the unit tests drive it
 * with made-up times and destinations.
 *
 * The unit of work is an entry: what one owner (the queue's message) has
 * to send to one destination. The queue adds entries with the time each is
 * due, asks with sched_next() for the next one to hand to a deliver
 * process, and reports with sched_done() how it went and when the entry is
 * due again. An entry is waiting (its time has not come), ready (due, and
 * waiting for its destination to have room) or in flight (handed out).
 *
 * A destination is a next hop, named by the caller ("[192.0.2.1]:25" for
 * a relay host, a domain otherwise). Each has a concurrency limit: it
 * starts at dest_initial, grows by one with every job that reached the
 * destination (the server answered, whatever it said), up to dest_max, and
 * falls back to one after a job that could not reach it. This is slow
 * start, as Postfix's qmgr does it: a destination that is down holds one
 * deliver slot at most, and every other destination keeps flowing.
 * Ready destinations are served round-robin, so one with a deep backlog
 * does not starve the others.
 *
 * Cost: waiting entries sit in a binary heap by due time, so adding,
 * rescheduling and picking are O(log n) in the number of entries; a
 * destination is found by hashing its name.
 */
#ifndef AVAL_QUEUE_SCHED_H
#define AVAL_QUEUE_SCHED_H

#include <stddef.h>
#include <stdint.h>

struct sched;
struct sched_entry;

struct sched_conf {
	int64_t		 retry_min_ms;	/* first retry delay */
	int64_t		 retry_max_ms;	/* longest retry delay */
	unsigned int	 dest_initial;	/* concurrency a destination starts at */
	unsigned int	 dest_max;	/* most jobs in flight per destination */
};

/* How an entry's job went, for the destination's concurrency. */
enum sched_result {
	SCHED_REACHED = 0,	/* the destination answered */
	SCHED_UNREACHED,	/* it could not be reached: slow down */
	SCHED_NO_ATTEMPT,	/* nothing was tried (nothing due, agent lost) */
};

/* Counts, for logs and avalctl. */
struct sched_stats {
	size_t		 entries;	/* in all */
	size_t		 waiting;
	size_t		 ready;
	size_t		 inflight;
	size_t		 dests;
};

struct sched	*sched_new(const struct sched_conf *);
/* Frees the scheduler and every entry still in it. */
void		 sched_free(struct sched *);
void		 sched_set_conf(struct sched *, const struct sched_conf *);

/* A new waiting entry of owner for dest, due at due_ms (<= now: at once). */
struct sched_entry *sched_add(struct sched *, const char *dest, void *owner,
		    int64_t due_ms);
/* Forget an entry that is not in flight. */
void		 sched_remove(struct sched *, struct sched_entry *);
/* Move a waiting or ready entry to a new due time. */
void		 sched_reschedule(struct sched *, struct sched_entry *,
		    int64_t due_ms);

/*
 * The next entry to hand out: due by now_ms, at a destination with room;
 * NULL when there is none. It is in flight until sched_done().
 */
struct sched_entry *sched_next(struct sched *, int64_t now_ms);
/*
 * The entry's job is over. due_ms is when it is due again, or -1 when the
 * owner has nothing left for that destination: the entry is then freed.
 */
void		 sched_done(struct sched *, struct sched_entry *,
		    enum sched_result, int64_t due_ms);

/* When the earliest waiting entry comes due, or -1 when none waits. */
int64_t		 sched_next_due(const struct sched *);
void		 sched_stats(const struct sched *, struct sched_stats *);

void		*sched_entry_owner(const struct sched_entry *);
const char	*sched_entry_dest(const struct sched_entry *);
int		 sched_entry_inflight(const struct sched_entry *);
/* A destination's state: jobs in flight and its limit now; 0 if unknown. */
int		 sched_dest_state(const struct sched *, const char *dest,
		    unsigned int *inflight, unsigned int *limit);

/*
 * The delay before the next try of something tried `attempts` times
 * (>= 1): retry_min_ms doubled for each attempt after the first, at most
 * retry_max_ms, then spread by up to a tenth either way with rnd and kept
 * between the two, so retries of a crowd do not come back together.
 */
int64_t		 sched_backoff(const struct sched_conf *, uint32_t attempts,
		    uint64_t rnd);

#endif
