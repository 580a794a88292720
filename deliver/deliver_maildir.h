/*
 * deliver_maildir - local delivery into Maildir folders
 *
 * deliver_maildir_run() writes the job's message once per recipient into
 * <domain>/<local part>/ below the directory rootfd (AT_FDCWD in the
 * deliver process, which has chrooted or changed into the maildir root),
 * following the Maildir convention: the file is written under tmp/,
 * fsync()ed, renamed into new/, and new/ is fsync()ed, so a message is
 * either whole in new/ or not there at all. The directories are made on
 * demand, mode 0700; the domain and the local part are lowercased.
 *
 * The file holds "Return-Path: <sender>" and "Delivered-To: <rcpt>" lines,
 * then the body with each CRLF turned into LF (a bare CR stays). Its name
 * is "<sec>.M<usec>P<pid>Q<n>.<hostname>", unique within this host.
 *
 *	local part unsafe as a directory name	bounced, 5.1.3
 *	any system call fails			deferred, 4.3.0, strerror text
 *	written and synced			sent, 2.0.0
 *
 * It runs synchronously and sets every recipient's result, job->relay
 * ("maildir") and job->t_conn; it calls no callback.
 */
#ifndef AVAL_DELIVER_DELIVER_MAILDIR_H
#define AVAL_DELIVER_DELIVER_MAILDIR_H

#include "deliver/deliver.h"

void	 deliver_maildir_run(struct deliver_job *, int rootfd,
	    const char *hostname);

#endif
