/*
 * tls_gen - make keys and certificates with OpenSSL's API
 *
 * For the embedded development default: at first start avald makes a
 * development CA and a server certificate for the host name, so that
 * STARTTLS and implicit TLS work out of the box. The federation CA tool
 * will build on the same functions. Key files are created 0600 and never
 * overwritten.
 */
#ifndef AVAL_COMMON_TLS_GEN_H
#define AVAL_COMMON_TLS_GEN_H

#include <stddef.h>

/*
 * tls_gen_dev - make DIR/ca.crt, DIR/ca.key, DIR/server.crt and
 * DIR/server.key (ECDSA P-256; the server certificate names host, and the
 * loopback addresses when host is "localhost") unless DIR/server.crt
 * exists. 1 when made, 0 when there already, -1 with err.
 */
int	 tls_gen_dev(const char *dir, const char *host, char *err,
	    size_t errlen);

#endif
