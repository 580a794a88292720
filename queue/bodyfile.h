/*
 * bodyfile - message bodies kept as files of their own
 *
 * A body larger than one store chunk is written once, to the file
 * QID in the spool's folder "body", instead of passing through the
 * Berkeley DB log twice (once when it is put, once more when it is
 * deleted, which logs the bytes it deletes). queue_store.c decides which
 * bodies are files and orders their syncs against the log; this module
 * only does the file operations, on the folder's descriptor, and logs
 * what fails. It touches no process globals.
 */
#ifndef AVAL_QUEUE_BODYFILE_H
#define AVAL_QUEUE_BODYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BODYFILE_DIR	"body"

/* The folder dir/body, made (0700) when missing: its descriptor, or -1. */
int	 bodyfile_open_dir(const char *dir);
/*
 * Appends p[0..len) to qid's file; create makes the file, and fails when
 * one is already there (a queue ID is used once). 0 or -1.
 */
int	 bodyfile_append(int dirfd, const char *qid, int create,
	    const void *p, size_t len);
/* Data and size of qid's file on disk (fdatasync); 0 or -1. */
int	 bodyfile_sync(int dirfd, const char *qid);
/* The folder's entries on disk (fsync of the folder); 0 or -1. */
int	 bodyfile_sync_dir(int dirfd);
/*
 * Up to max bytes of qid's file from off into dst: the count (0 at the
 * end), -1 on error, -2 when there is no such file.
 */
ssize_t	 bodyfile_read(int dirfd, const char *qid, uint64_t off, void *dst,
	    size_t max);
/* Removes qid's file; 0 also when there was none, -1 on error. */
int	 bodyfile_unlink(int dirfd, const char *qid);
/* Size of qid's file: 0, -1 on error, -2 when there is no such file. */
int	 bodyfile_size(int dirfd, const char *qid, uint64_t *size);
/*
 * cb for every file of the folder whose name is a queue ID (other names
 * are logged and left); cb may remove the file. The count, or -1.
 */
typedef void	(*bodyfile_cb)(const char *qid, void *);
long	 bodyfile_scan(int dirfd, bodyfile_cb, void *);

#endif
