/*
 * window - the messages the queue holds in memory, by queue ID
 *
 * The queue keeps a window of its messages in memory, at most a limit of
 * them (queue { active-limit }); the rest wait in the store's due index
 * until they come due and there is room. This is the window's bookkeeping
 * and nothing else: a hash table from queue ID to the caller's object, a
 * count and the limit. Pure: no store, no clock, no globals, so the unit
 * tests drive it directly. Adding, finding and removing are O(1) on
 * average; the table doubles as it fills.
 */
#ifndef AVAL_QUEUE_WINDOW_H
#define AVAL_QUEUE_WINDOW_H

struct window;

struct window	*window_new(unsigned int limit);
void		 window_free(struct window *);		/* NULL is fine */
void		 window_set_limit(struct window *, unsigned int);
/* 0, or -1 when qid is already there (nothing changes then). */
int		 window_add(struct window *, const char *qid, void *obj);
void		*window_find(const struct window *, const char *qid);
/* The object that was there, or NULL. */
void		*window_del(struct window *, const char *qid);
unsigned int	 window_count(const struct window *);
/* How many more fit under the limit (0 when at or over it). */
unsigned int	 window_room(const struct window *);

#endif
