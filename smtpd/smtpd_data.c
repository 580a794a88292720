/*
 * smtpd_data - the checks on message content; see smtpd_data.h
 */
#include <string.h>
#include <strings.h>

#include "smtpd/smtpd_data.h"

/* smtpd_data_init - a new message */
void
smtpd_data_init(struct smtpd_data *d, unsigned long long max_size,
    unsigned int max_hops)
{
	memset(d, 0, sizeof(*d));
	d->max_size = max_size;
	d->max_hops = max_hops;
	d->in_header = 1;
}

/* smtpd_data_fail - the first fault wins */
void
smtpd_data_fail(struct smtpd_data *d, enum smtpd_data_err e)
{
	if (d->err == SMTPD_DE_NONE)
		d->err = e;
}

/* smtpd_data_header - the line's first octets may name a header */
static void
smtpd_data_header(struct smtpd_data *d, char c)
{
	if (d->headlen >= sizeof(d->head))
		return;
	d->head[d->headlen++] = c;
	if (d->headlen == 9 && strncasecmp(d->head, "Received:", 9) == 0 &&
	    ++d->hops > d->max_hops)
		smtpd_data_fail(d, SMTPD_DE_LOOP);
	else if (d->headlen == 11 && strncasecmp(d->head, "Message-ID:",
	    11) == 0)
		d->hdr_seen |= SMTPD_DATA_H_MSGID;
	else if (d->headlen == 5 && strncasecmp(d->head, "Date:", 5) == 0)
		d->hdr_seen |= SMTPD_DATA_H_DATE;
}

/*
 * smtpd_data_feed - check octets and pass on what may be kept. The loop
 * looks at each octet once; runs between events go out whole.
 */
void
smtpd_data_feed(struct smtpd_data *d, const char *p, size_t n,
    const struct smtpd_data_sink *sink)
{
	const char	*run = p;
	size_t		 i, room;
	int		 over = 0;

	/*
	 * Octets up to the limit are checked as any others, so the first
	 * fault is the same however the message was cut into pieces.
	 */
	room = d->size >= d->max_size ? 0 : (size_t)(d->max_size - d->size) <
	    n ? (size_t)(d->max_size - d->size) : n;
	if (room < n)
		over = 1;
	d->size += n;
	if (d->err != SMTPD_DE_NONE)
		return;
	n = room;
	for (i = 0; i < n; i++) {
		char	 c;

		/*
		 * In the body, a run of octets that are none of CR, LF and
		 * NUL does nothing but lengthen the line: find its end with
		 * memchr() rather than look at each octet. A run that holds
		 * an LF or NUL, or would pass the line limit, goes the slow
		 * way, so every fault is found where it always was.
		 */
		if (!d->in_header && !d->cr) {
			const char	*q = memchr(p + i, '\r', n - i);
			size_t		 seg = q != NULL ? (size_t)(q - (p + i)) :
					    n - i;

			if (seg > 1 && d->linelen + seg <=
			    SMTPD_DATA_LINE_MAX &&
			    memchr(p + i, '\n', seg) == NULL &&
			    memchr(p + i, '\0', seg) == NULL) {
				d->linelen += seg;
				i += seg - 1;
				continue;
			}
		}
		c = p[i];

		if (d->cr && c != '\n')
			smtpd_data_fail(d, SMTPD_DE_BARE);
		if (c == '\0')
			smtpd_data_fail(d, SMTPD_DE_NUL);
		if (c == '\n' && !d->cr)
			smtpd_data_fail(d, SMTPD_DE_BARE);
		if (d->err != SMTPD_DE_NONE)
			return;
		/* An empty line ends the header: the caller may add to it. */
		if (d->in_header && d->linelen == 0 && c == '\r') {
			d->in_header = 0;
			if (sink->hdr_end != NULL) {
				if (&p[i] > run)
					sink->out(sink->arg, run,
					    (size_t)(&p[i] - run));
				run = &p[i];
				sink->hdr_end(sink->arg);
			}
		}
		if (++d->linelen > SMTPD_DATA_LINE_MAX) {
			smtpd_data_fail(d, SMTPD_DE_LONG);
			return;
		}
		if (d->in_header && c != '\r' && c != '\n')
			smtpd_data_header(d, c);
		d->cr = c == '\r';
		if (c == '\n') {
			d->linelen = 0;
			d->headlen = 0;
		}
	}
	if (d->err == SMTPD_DE_NONE && &p[n] > run)
		sink->out(sink->arg, run, (size_t)(&p[n] - run));
	if (over)
		smtpd_data_fail(d, SMTPD_DE_SIZE);
}

/* smtpd_data_finish - the end: a trailing CR or unfinished line is bare */
enum smtpd_data_err
smtpd_data_finish(struct smtpd_data *d, const struct smtpd_data_sink *sink)
{
	if (d->cr || d->linelen != 0)
		smtpd_data_fail(d, SMTPD_DE_BARE);
	if (d->err == SMTPD_DE_NONE && d->in_header) {
		d->in_header = 0;
		if (sink->hdr_end != NULL)
			sink->hdr_end(sink->arg);
	}
	return d->err;
}
