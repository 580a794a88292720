/*
 * log - one line per event, to syslog or stderr
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static char	 log_proc[32] = "aval";
static char	 log_ident[40] = "aval";
static int	 log_flags = LOG_TO_STDERR;

void	(*log_capture_hook)(int, const char *);

/* log_init - name this process and choose stderr or syslog */
void
log_init(const char *proc, int flags)
{
	log_flags = flags;
	log_procname(proc);
	if ((flags & LOG_TO_STDERR) == 0)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

/* log_procname - change the process name used in the prefix */
void
log_procname(const char *proc)
{
	snprintf(log_proc, sizeof(log_proc), "%s", proc);
	snprintf(log_ident, sizeof(log_ident), "aval/%s", proc);
}

/* log_getproc - the name given to log_init() */
const char *
log_getproc(void)
{
	return log_proc;
}

/* log_getflags - the flags given to log_init(), for passing to children */
int
log_getflags(void)
{
	return log_flags;
}

static void	log_vwrite(int, const char *, va_list, const char *)
		    __attribute__((format(printf, 2, 0)));

static void
log_vwrite(int pri, const char *fmt, va_list ap, const char *err)
{
	char	 line[4096];
	int	 n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (err != NULL && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ": %s", err);
	if (log_capture_hook != NULL)
		log_capture_hook(pri, line);
	if (log_flags & LOG_TO_STDERR)
		fprintf(stderr, "%s[%ld]: %s\n", log_ident, (long)getpid(),
		    line);
	else
		syslog(pri, "%s", line);
}

/* log_info - an event */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

/* log_warnx - an anomaly */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

/* log_warn - an anomaly, with errno's text */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

/* log_debug - a state transition, only with -v */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if ((log_flags & LOG_VERBOSE) == 0)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

/* fatal - log with errno's text and exit */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, saved ? strerror(saved) : NULL);
	va_end(ap);
	exit(1);
}

/* fatalx - log and exit */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

/* log_printable - a foreign string safe inside a quoted log value */
void
log_printable(const char *in, char *out, size_t outlen)
{
	size_t	 i;

	if (outlen == 0)
		return;
	if (in == NULL)
		in = "";
	for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (unsigned char)in[i] >= 0x20 &&
		    (unsigned char)in[i] < 0x7f && in[i] != '"' &&
		    in[i] != '\\' ? in[i] : '?';
	out[i] = '\0';
}
