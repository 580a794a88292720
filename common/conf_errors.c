/*
 * conf_errors - the list of "file:line: message" errors a loader collects
 *
 * Shared by the configuration loader and the password map loader, which
 * report their errors the same way. Declared in conf.h (the list) and
 * conf_priv.h (adding to it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/conf.h"
#include "common/conf_priv.h"
#include "common/xmalloc.h"

/* conf_errors_add - append "file:line: message" */
void
conf_errors_add(struct conf_errors *errs, const char *file, int line,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[CONF_ERR_MAX];
	char	*s;

	if (errs == NULL || errs->n > CONF_ERRORS_MAX)
		return;
	if (errs->n == CONF_ERRORS_MAX) {
		xasprintf(&s, "%s:%d: too many errors; not reporting more",
		    file, line);
	} else {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		xasprintf(&s, "%s:%d: %s", file, line, msg);
	}
	errs->lines = xreallocarray(errs->lines, errs->n + 1,
	    sizeof(*errs->lines));
	errs->lines[errs->n++] = s;
}

/* conf_errors_clear - free the collected lines; errs may be reused */
void
conf_errors_clear(struct conf_errors *errs)
{
	size_t	 i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->lines[i]);
	free(errs->lines);
	errs->lines = NULL;
	errs->n = 0;
}

