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
 * Appends p[0..len) to qid's file, made by bodyfile_create(); 0 or -1.
 * last: the body is complete, and its writing out starts now, without
 * waiting (sync_file_range()): by the flush every new file has its blocks,
 * so the first fdatasync() commits the journal for all of them and the
 * others only wait for their data, one journal commit per flush and not
 * one per file.
 */
int	 bodyfile_append(int dirfd, const char *qid, const void *p,
	    size_t len, int last);
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
/*
 * qid's file opened read-only, to give to another process: the
 * descriptor, -1 (logged), -2 if none. It holds a shared lock for as long
 * as the open file lives, so bodyfile_recycle() never reuses a file
 * someone still reads.
 */
int	 bodyfile_open_read(int dirfd, const char *qid);
/* Removes qid's file; 0 also when there was none, -1 on error. */
int	 bodyfile_unlink(int dirfd, const char *qid);
/*
 * Spare files. A file made and removed for every large message cost ext4
 * more than writing its bytes: each new inode is found by skipping every
 * inode deleted in the last seconds, and at a thousand messages a second
 * that was most of the queue's CPU. So a removed body's file is emptied
 * and kept under a spare name (up to a pool's size), and the next body
 * takes it over by renaming. Spares are in the same folder, so the
 * folder's fsync covers the renames; they hold no mail.
 *
 * bodyfile_create() makes qid's file, from a spare when pool has one:
 * 0, or -1 (also when qid's file exists). bodyfile_recycle() empties qid's
 * file and keeps it as a spare while pool has room, else removes it; 0
 * also when there was none, -1 on error.
 */
#define BODYFILE_SPARE_PREFIX	"spare-"
#define BODYFILE_SPARE_MAX	256

struct bodyfile_pool {
	unsigned int	 n;			/* spares kept */
	unsigned int	 names[BODYFILE_SPARE_MAX];	/* their numbers */
	unsigned int	 next;			/* the next number to use */
};
int	 bodyfile_create(int dirfd, struct bodyfile_pool *, const char *qid);
int	 bodyfile_recycle(int dirfd, struct bodyfile_pool *, const char *qid);
/* At start: remove every spare the folder holds; the count, or -1. */
long	 bodyfile_spares_clear(int dirfd, struct bodyfile_pool *);
/*
 * cb for every file of the folder whose name is a queue ID (spares are
 * passed over, other names logged and left); cb may remove the file. The
 * count, or -1.
 */
typedef void	(*bodyfile_cb)(const char *qid, void *);
long	 bodyfile_scan(int dirfd, bodyfile_cb, void *);

#endif
