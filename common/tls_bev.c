/*
 * tls_bev - what went wrong on an OpenSSL bufferevent, for smtpd and
 * deliver. In a file of its own: the master links common/tls.c but not
 * libevent's OpenSSL bufferevents.
 */
#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "common/tls.h"

/* tls_bev_error - why a TLS bufferevent failed, as text */
const char *
tls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long	 e, why = 0;

	/*
	 * libevent returns the stored errors newest first, and stores
	 * SSL_get_error()'s own code (library 0) among them: the reason is
	 * the first real OpenSSL error.
	 */
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (why == 0 && ERR_GET_LIB(e) != 0)
			why = e;
	if (why == 0)
		snprintf(buf, len, "connection closed");
	else
		ERR_error_string_n(why, buf, len);
	ERR_clear_error();
	return buf;
}
