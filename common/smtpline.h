/*
 * smtpline - write one SMTP line into an output buffer
 *
 * smtp_line() formats one command or reply line and adds the CRLF, so no
 * caller writes a bare LF by mistake. Running out of memory in libevent's
 * buffer is fatal, as every allocation in aval is.
 */
#ifndef AVAL_COMMON_SMTPLINE_H
#define AVAL_COMMON_SMTPLINE_H

#include <stdarg.h>

struct evbuffer;

void	 smtp_line(struct evbuffer *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 smtp_vline(struct evbuffer *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

#endif
