/*
 * log - one line per event, to syslog or stderr
 *
 * log_init() names the process ("smtpd" becomes "aval/smtpd[pid]: ") and
 * picks the sink: stderr when debug is set (avald -d), syslog(LOG_MAIL)
 * otherwise. Lines follow docs/logging.md: queue ID (or NOQUEUE) first,
 * then "key=value" pairs separated by ", ", free text last in parentheses.
 * The caller writes the line; this module only adds the prefix.
 *
 * fatal() and fatalx() are for broken invariants and start-up failures:
 * they log and exit(1) (fatal adds strerror(errno)). A test may set
 * log_capture_hook to see every formatted line (harness.h uses it).
 */
#ifndef AVAL_COMMON_LOG_H
#define AVAL_COMMON_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_TO_STDERR	0x01
#define LOG_VERBOSE	0x02

void	 log_init(const char *proc, int flags);
void	 log_procname(const char *);
const char *log_getproc(void);
int	 log_getflags(void);

void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_printable - a string someone else chose (a SASL user name, a
 * certificate subject) made fit to stand inside quotes in a log line:
 * printable ASCII only, no quote or backslash (each other byte becomes
 * '?'), at most outlen - 1 bytes. in and out may be the same buffer.
 */
void	 log_printable(const char *in, char *out, size_t outlen);

/* Called with the priority and the line (no prefix) before it is written. */
extern void (*log_capture_hook)(int, const char *);

#endif
