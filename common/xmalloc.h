/*
 * xmalloc - allocation that dies on exhaustion
 *
 * Every allocation in aval goes through these. Running out of memory is an
 * environment failure a process cannot answer sensibly, so each of these
 * calls fatal() rather than return NULL. Growth driven by the network never
 * calls these directly with a peer-chosen size: it goes through a capped buf.
 */
#ifndef AVAL_COMMON_XMALLOC_H
#define AVAL_COMMON_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* strlcpy - copy with truncation; returns strlen(src) (glibc 2.36 lacks it) */
size_t	 strlcpy(char *, const char *, size_t);

#endif
