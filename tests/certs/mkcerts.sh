#!/bin/sh
# mkcerts.sh DIR - the certificates the tests use, made fresh with openssl(1)
#
#   ca.crt ca.key               test CA (ECDSA P-256)
#   server.crt server.key       ECDSA P-256, mx.test localhost 127.0.0.1 ::1
#   server-rsa.crt server-rsa.key  RSA 2048, the same names
#   alt.crt alt.key             ECDSA, alt.test (for SNI)
#   client.crt client.key       a client certificate from the test CA
#   other-ca.crt                another CA, and
#   stranger.crt stranger.key   a client certificate from it (unverified)
#
# Keys are mode 0600, as avald demands. Nothing here is a secret: the
# files live in the test's temporary directory and go with it.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
umask 077

ca() {	# name subject
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$1.key" -out "$1.crt" -days 30 -subj "$2" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

leaf() {	# name ca keyalg cn san eku
	case $3 in
	rsa) kopt="-newkey rsa:2048" ;;
	*) kopt="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
	esac
	openssl req -new $kopt -nodes -keyout "$1.key" -out "$1.csr" \
	    -subj "/CN=$4" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
	    "$6" "$5" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
	    -CAcreateserial -days 30 -sha256 -extfile "$1.ext" \
	    -out "$1.crt" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

ca ca "/CN=aval test CA"
ca other-ca "/CN=some other CA"
names="DNS:mx.test,DNS:localhost,IP:127.0.0.1,IP:::1"
leaf server ca ec mx.test "$names" serverAuth,clientAuth
leaf server-rsa ca rsa mx.test "$names" serverAuth,clientAuth
leaf alt ca ec alt.test "DNS:alt.test" serverAuth
leaf client ca ec client.test "DNS:client.test" clientAuth
leaf stranger other-ca ec stranger.test "DNS:stranger.test" clientAuth
chmod 600 ./*.key
chmod 644 ./*.crt
