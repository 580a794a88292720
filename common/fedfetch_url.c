/*
 * fedfetch_url - the syntax of a federation bundle URL (see fedfetch.h)
 *
 * Apart from fedfetch.c so that what links this (the config loader, in
 * every process) does not link libcurl. The check is narrower than RFC
 * 3986 on purpose: a URL an operator writes for a bundle needs no user
 * name (a password in the config, and "https://good@evil/" is a classic
 * disguise), no fragment, no byte outside printable ASCII, and no host
 * spelling curl might read differently from a person.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/fedfetch.h"

/* fedfetch_url_host - a host name or IPv4 address: labels of [A-Za-z0-9-] */
static int
fedfetch_url_host(const char *s, size_t n)
{
	size_t	 i, label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			/* No empty label, none ending in a hyphen. */
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] == '-' && label > 0)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-';
}

/* fedfetch_url_ip6 - "[v6]" with an address inet_pton() takes */
static int
fedfetch_url_ip6(const char *s, size_t n)
{
	struct in6_addr	 a;
	char		 tmp[INET6_ADDRSTRLEN + 1];

	if (n < 4 || s[0] != '[' || s[n - 1] != ']' ||
	    n - 2 >= sizeof(tmp))
		return 0;
	memcpy(tmp, s + 1, n - 2);
	tmp[n - 2] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* fedfetch_url_port - 1 to 65535, digits only, no leading zero */
static int
fedfetch_url_port(const char *s, size_t n)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (n == 0 || n > 5 || s[0] == '0')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* fedfetch_url_valid - an https:// URL we would fetch, by syntax alone */
int
fedfetch_url_valid(const char *url)
{
	const char	*auth, *end, *colon, *p, *rb;
	size_t		 len;

	if (url == NULL || (len = strlen(url)) > FEDFETCH_URL_MAX ||
	    strncasecmp(url, "https://", 8) != 0)
		return 0;
	auth = url + 8;
	end = auth + strcspn(auth, "/?#");
	/* The path and query: printable ASCII, no space, no fragment. */
	for (p = end; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '#')
			return 0;
	if (*end == '?')
		return 0;	/* a query needs a path before it: "/?" */
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return 0;
	if (auth < end && auth[0] == '[') {
		rb = memchr(auth, ']', (size_t)(end - auth));
		if (rb == NULL ||
		    !fedfetch_url_ip6(auth, (size_t)(rb - auth) + 1))
			return 0;
		if (rb + 1 == end)
			return 1;
		return rb[1] == ':' &&
		    fedfetch_url_port(rb + 2, (size_t)(end - rb - 2));
	}
	colon = memchr(auth, ':', (size_t)(end - auth));
	if (colon == NULL)
		return fedfetch_url_host(auth, (size_t)(end - auth));
	return fedfetch_url_host(auth, (size_t)(colon - auth)) &&
	    fedfetch_url_port(colon + 1, (size_t)(end - colon - 1));
}
