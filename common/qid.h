/*
 * qid - queue IDs
 *
 * A queue ID is QID_LEN upper-case hex digits: the microseconds since the
 * epoch, made strictly increasing within the process. The queue process is
 * the only one that makes them, and the store refuses a duplicate, so they
 * are unique; they are short enough to read in a log line.
 */
#ifndef AVAL_COMMON_QID_H
#define AVAL_COMMON_QID_H

#define QID_LEN		14
#define QID_SIZE	(QID_LEN + 1)

void	 qid_new(char out[QID_SIZE]);
int	 qid_valid(const char *);	/* 1 if s has the form of a queue ID */

#endif
