/*
 * local_maildir - local delivery into Maildir folders
 *
 * local_maildir_run() writes the job's message once per recipient into
 * its Maildir below the directory rootfd (AT_FDCWD in the aval-local
 * process, which has chrooted or changed into the maildir root): the path
 * conf_mailbox_path() gives (the mailbox map, or <domain>/<local part>/),
 * or with conf NULL (unit tests) always <domain>/<local part>/,
 * following the Maildir convention: the file is written under tmp/,
 * fsync()ed, renamed into new/, and new/ is fsync()ed, so a message is
 * either whole in new/ or not there at all. The directories are made on
 * demand, mode 0700, each synced into its parent when made; the domain and
 * the local part are lowercased.
 *
 * The file holds "Return-Path: <sender>" and "Delivered-To: <rcpt>" lines,
 * then the body with each CRLF turned into LF (a bare CR stays). Its name
 * is "<sec>.M<usec>P<pid>Q<n>.<hostname>", unique within this host.
 *
 *	local part unsafe as a directory name	bounced, 5.1.3
 *	no user here (conf_mailbox_path() 0)	bounced, 5.1.1
 *	any system call fails			deferred, 4.3.0, strerror text
 *	written and synced			sent, 2.0.0
 *
 * The body comes a piece at a time (deliver_body.h): it is spooled, with
 * LF line ends, to an unlinked file in the maildir root as it comes, and
 * once it is all there each recipient's copy is made from that file, so
 * no body is whole in memory. The run sets every recipient's result,
 * job->relay ("maildir") and job->t_conn, then calls cb (NULL: none),
 * which may free the job. When every piece is at hand at once (the unit
 * tests' source), the whole run happens inside local_maildir_run().
 *
 *	the body cannot be read from the queue	deferred, 4.3.0
 */
#ifndef AVAL_LOCAL_LOCAL_MAILDIR_H
#define AVAL_LOCAL_LOCAL_MAILDIR_H

#include "deliver/deliver.h"

struct conf;

void	 local_maildir_run(struct deliver_job *, const struct conf *,
	    int rootfd, const char *hostname, deliver_job_cb cb, void *arg);
/* The job is dropped while its body is still coming: end the run, no cb. */
void	 local_maildir_abort(struct deliver_job *);

#endif
