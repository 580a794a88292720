/*
 * smtpline - write one SMTP line into an output buffer
 */
#include <event2/buffer.h>

#include "common/log.h"
#include "common/smtpline.h"

/* smtp_vline - append a formatted line and its CRLF */
void
smtp_vline(struct evbuffer *out, const char *fmt, va_list ap)
{
	if (evbuffer_add_vprintf(out, fmt, ap) < 0 ||
	    evbuffer_add(out, "\r\n", 2) == -1)
		fatalx("%s: evbuffer", __func__);
}

/* smtp_line - append a formatted line and its CRLF */
void
smtp_line(struct evbuffer *out, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vline(out, fmt, ap);
	va_end(ap);
}
