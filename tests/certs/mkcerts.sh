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
#   other-server.crt .key       a server certificate from it, mx.test's names
#   selfsigned.crt .key         self-signed, mx.test's names
#   expired.crt .key            from the test CA, valid only in 2020
#   future.crt .key             from the test CA, valid only from 2040
#   revoked.crt .key            from the test CA, listed in ca.crl
#   ca.crl                      the test CA's CRL (revoked.crt only)
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
leaf mx-route ca ec mx2.route.example "DNS:mx2.route.example" serverAuth
leaf other-server other-ca ec mx.test "$names" serverAuth
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout selfsigned.key -out selfsigned.crt -days 30 -subj /CN=mx.test \
    -addext "subjectAltName=$names" 2>/dev/null

# Dated and revoked certificates need openssl ca(1) and its small database.
mkdir -p ca.db/new
: > ca.db/index.txt
echo 1000 > ca.db/serial
echo 1000 > ca.db/crlnumber
cat > ca.db/ca.cnf <<EOF2
[ ca ]
default_ca = test
[ test ]
database = ca.db/index.txt
new_certs_dir = ca.db/new
serial = ca.db/serial
crlnumber = ca.db/crlnumber
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
[ any ]
commonName = supplied
EOF2
dated() {	# name startdate enddate
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -out "$1.csr" -subj /CN=mx.test 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
	    "$names" > "$1.ext"
	openssl ca -batch -notext -config ca.db/ca.cnf -cert ca.crt \
	    -keyfile ca.key -in "$1.csr" -out "$1.crt" -startdate "$2" \
	    -enddate "$3" -extfile "$1.ext" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
now=$(date -u +%Y%m%d%H%M%SZ)
later=$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
dated expired 20200101000000Z 20200201000000Z
dated future 20400101000000Z 20400201000000Z
dated revoked "$now" "$later"
openssl ca -batch -config ca.db/ca.cnf -cert ca.crt -keyfile ca.key \
    -revoke revoked.crt -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config ca.db/ca.cnf -cert ca.crt -keyfile ca.key \
    -gencrl -out ca.crl 2>/dev/null
rm -rf ca.db
chmod 600 ./*.key
chmod 644 ./*.crt ./*.crl
