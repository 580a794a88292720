/*
 * xmalloc - allocation that dies on exhaustion
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"

/* xmalloc - malloc or die */
void *
xmalloc(size_t n)
{
	void	*p;

	if (n == 0)
		fatalx("%s: zero size", __func__);
	if ((p = malloc(n)) == NULL)
		fatal("%s: %zu bytes", __func__, n);
	return p;
}

/* xcalloc - calloc or die */
void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("%s: zero size", __func__);
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("%s: %zu * %zu bytes", __func__, nmemb, size);
	return p;
}

/* xreallocarray - reallocarray or die, with overflow check */
void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("%s: zero size", __func__);
	if (nmemb > SIZE_MAX / size)
		fatalx("%s: %zu * %zu overflows", __func__, nmemb, size);
	if ((p = realloc(old, nmemb * size)) == NULL)
		fatal("%s: %zu * %zu bytes", __func__, nmemb, size);
	return p;
}

/* xstrdup - strdup or die */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("%s", __func__);
	return p;
}

/* xstrndup - strndup or die */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("%s", __func__);
	return p;
}

/* xasprintf - vasprintf or die; returns the length */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("%s", __func__);
	return n;
}

/* strlcpy - bounded copy that always terminates */
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	 len = strlen(src);

	if (size > 0) {
		size_t	 n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
