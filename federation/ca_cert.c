/*
 * ca_cert - aval-ca init, request, sign, revoke and crl
 *
 * The member certificate profile is one for both ends of an SMTP
 * connection (public CAs are dropping clientAuth): serverAuth and
 * clientAuth, names in SAN dNSNames only, a random positive 128-bit serial,
 * a short life. The names come from the CSR but are issued only if the
 * registry gives every one of them to the member as an MX host; nothing
 * else in a CSR (its subject, its extensions) is copied.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "federation/ca.h"

/* ca_ossl_err - the last OpenSSL error, for a message */
static const char *
ca_ossl_err(void)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown OpenSSL error";
}

/* ca_keygen - a P-256 key, or RSA 3072 (member keys: --rsa) */
static EVP_PKEY *
ca_keygen(int rsa)
{
	return rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072) :
	    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* ca_ext - one extension in openssl.cnf syntax, as common/tls_gen.c does */
static int
ca_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 rv;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rv = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rv;
}

/* ca_serial - a random positive 128-bit serial onto x, its hex into out */
static int
ca_serial(X509 *x, char *out, size_t outlen)
{
	unsigned char	 r[16];
	BIGNUM		*bn;
	char		*hex;
	int		 rv = -1;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	/* Top bit clear keeps it positive; next bit set keeps it 128 bits. */
	r[0] = (unsigned char)((r[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(r, sizeof(r), NULL)) == NULL)
		return -1;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	    (hex = BN_bn2hex(bn)) != NULL) {
		snprintf(out, outlen, "%s", hex);
		OPENSSL_free(hex);
		rv = 0;
	}
	BN_free(bn);
	return rv;
}

/* ca_write_pem_out - a PEM buf to --out FILE (whole, atomically) */
static int
ca_write_out(struct ca_run *run, const char *path, const struct buf *b,
    int mode)
{
	char	*d = xstrdup(path), *slash, *name;
	int	 rv;

	if ((slash = strrchr(d, '/')) != NULL) {
		*slash = '\0';
		name = slash + 1;
		rv = ca_write_file(run, *d ? d : "/", name, buf_data(b),
		    buf_len(b), mode);
	} else
		rv = ca_write_file(run, ".", d, buf_data(b), buf_len(b), mode);
	free(d);
	return rv;
}

/* ca_cmd_init - the federation CA */
int
ca_cmd_init(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name",	required_argument,	NULL, 'n' },
		{ "rsa",	no_argument,		NULL, 'r' },
		{ "days",	required_argument,	NULL, 'D' },
		{ "crl-days",	required_argument,	NULL, 'c' },
		{ NULL,		0,			NULL, 0 }
	};
	struct ca_state	 st = { 0 };
	struct buf	*b = NULL, *kb = NULL;
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	char		 path[4096], serial[64], na[32];
	const char	*name = NULL;
	struct stat	 sb;
	int		 ch, rsa = 0, days = CA_DEFAULT_CA_DAYS, rv = -1;

	st.crl_days = CA_DEFAULT_CRL_DAYS;
	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca [-d DIR] init --name NAME [--rsa] "
		    "[--days N] [--crl-days N]\n\n"
		    "Makes the federation CA in DIR: an ECDSA P-256 key (RSA "
		    "3072 with --rsa),\nmode 0600, and a self-signed "
		    "certificate with subject CN=NAME valid for\nN days "
		    "(default %d). CRLs will be good for --crl-days "
		    "(default %d).\nRefuses a folder that already holds a "
		    "CA.\n", CA_DEFAULT_CA_DAYS, CA_DEFAULT_CRL_DAYS);
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			name = optarg;
			break;
		case 'r':
			rsa = 1;
			break;
		case 'D':
			if (ca_days(run, "--days", optarg, &days) == -1)
				return 2;
			break;
		case 'c':
			if (ca_days(run, "--crl-days", optarg,
			    &st.crl_days) == -1)
				return 2;
			break;
		default:
			ca_error(run, "init: unknown option or missing value "
			    "(aval-ca init --help)");
			return 2;
		}
	}
	if (name == NULL || optind != argc) {
		ca_error(run, "init needs --name NAME and nothing else");
		return 2;
	}
	if (!fed_text_valid(name)) {
		ca_error(run, "--name: printable ASCII, 1 to %d characters",
		    FED_TEXT_MAX);
		return 2;
	}
	if (ca_lock(run, 1) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/ca.key", run->dir);
	if (stat(path, &sb) == 0)
		return ca_error(run, "%s already holds a CA; use another "
		    "folder (-d DIR)", run->dir);
	if ((key = ca_keygen(rsa)) == NULL ||
	    (x = X509_new()) == NULL) {
		ca_error(run, "key generation failed: %s", ca_ossl_err());
		goto done;
	}
	if (ca_serial(x, serial, sizeof(serial)) == -1 ||
	    X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    ca_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") == -1 ||
	    /*
	     * digitalSignature beside the CA usages: this key also signs the
	     * federation bundle (CMS), and S/MIME verifiers, OpenSSL's
	     * included, refuse a signer whose keyUsage does not allow it.
	     */
	    ca_ext(x, x, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature") == -1 ||
	    ca_ext(x, x, NID_subject_key_identifier, "hash") == -1 ||
	    ca_ext(x, x, NID_authority_key_identifier, "keyid:always") == -1 ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		ca_error(run, "making the CA certificate failed: %s",
		    ca_ossl_err());
		goto done;
	}
	kb = buf_new_secret(4096, 65536);
	b = buf_new(4096, 65536);
	st.name = xstrdup(name);
	if (ca_pem_key(kb, key) == -1 || ca_pem_x509(b, x) == -1) {
		ca_error(run, "PEM encoding failed: %s", ca_ossl_err());
		goto done;
	}
	/* The key first: a certificate without its key is useless. */
	if (ca_write_file(run, run->dir, "ca.key", buf_data(kb), buf_len(kb),
	    0600) == -1 ||
	    ca_write_file(run, run->dir, "ca.crt", buf_data(b), buf_len(b),
	    0644) == -1 ||
	    ca_write_file(run, run->dir, "registry",
	    "aval-federation-registry 1\n", 27, 0644) == -1 ||
	    ca_write_file(run, run->dir, "index", "aval-ca-index 1\n", 16,
	    0644) == -1 ||
	    ca_state_save(run, &st) == -1)
		goto done;
	snprintf(path, sizeof(path), "%s/certs", run->dir);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		ca_error(run, "cannot make %s: %s", path, strerror(errno));
		goto done;
	}
	fed_time_format(ca_asn1_time(X509_get0_notAfter(x)), na, sizeof(na));
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "name", name);
		ca_json_str(&run->js, "dir", run->dir);
		ca_json_str(&run->js, "key", rsa ? "RSA 3072" : "ECDSA P-256");
		ca_json_str(&run->js, "serial", serial);
		ca_json_str(&run->js, "not_after", na);
		ca_json_int(&run->js, "crl_days", st.crl_days);
		ca_json_end(&run->js);
	} else
		printf("federation CA \"%s\" made in %s\n"
		    "    key        %s (ca.key, mode 0600: back it up, keep it "
		    "offline if you can)\n"
		    "    not after  %s\n    CRLs good for %d days\n"
		    "next: aval-ca member add ID --org ... --contact ... "
		    "--domain ... --mx ...\n", name, run->dir,
		    rsa ? "RSA 3072" : "ECDSA P-256", na, st.crl_days);
	rv = 0;
 done:
	ca_state_clear(&st);
	buf_free(kb);
	buf_free(b);
	X509_free(x);
	EVP_PKEY_free(key);
	return rv;
}

/* ca_cmd_request - the member's key and CSR, made on the member's side */
int
ca_cmd_request(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mx",		required_argument,	NULL, 'm' },
		{ "out",	required_argument,	NULL, 'o' },
		{ "rsa",	no_argument,		NULL, 'r' },
		{ NULL,		0,			NULL, 0 }
	};
	struct buf		*names = buf_new(256, 65536), *kb = NULL, *b = NULL;
	const char		*out = NULL, *p, *first = NULL;
	char			*s, *c, *q, *tok, *save = NULL, path[4096];
	EVP_PKEY		*key = NULL;
	X509_REQ		*req = NULL;
	X509_EXTENSION		*ext = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509V3_CTX		 ctx;
	struct stat		 sb;
	int			 ch, rsa = 0, rv = -1, n = 0;

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca request --mx HOST [--mx HOST]... --out "
		    "DIR [--rsa]\n\n"
		    "Run by a member on its own machine (no CA folder is "
		    "needed). Makes the\nMTA's key in DIR/mta.key (ECDSA P-256, "
		    "RSA 3072 with --rsa; mode 0600;\nit never leaves DIR) and "
		    "DIR/mta.csr naming every HOST in its SAN\ndNSNames. Send "
		    "mta.csr to the federation operator.\n");
		buf_free(names);
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			buf_printf(names, "%s%s", buf_len(names) ? "," : "",
			    optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			rsa = 1;
			break;
		default:
			ca_error(run, "request: unknown option or missing "
			    "value (aval-ca request --help)");
			rv = 2;
			goto done;
		}
	}
	if (out == NULL || buf_len(names) == 0 || optind != argc) {
		ca_error(run, "request needs --mx HOST (one or more) and --out "
		    "DIR");
		rv = 2;
		goto done;
	}
	/* Lowercase and check every name, build "DNS:a,DNS:b" for the SAN. */
	b = buf_new(256, 65536);
	s = xstrdup(buf_data(names));
	for (q = s; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (!fed_name_valid(tok)) {
			ca_error(run, "--mx %s: not a host name", tok);
			free(s);
			goto done;
		}
		if (n++ >= FED_MX_MAX) {
			ca_error(run, "more than %d --mx names", FED_MX_MAX);
			free(s);
			goto done;
		}
		buf_printf(b, "%sDNS:%s", buf_len(b) ? "," : "", tok);
	}
	free(s);
	p = buf_data(b) + 4;
	c = xstrndup(p, strcspn(p, ","));
	first = c;
	if (mkdir(out, 0700) == -1 && errno != EEXIST) {
		ca_error(run, "cannot make %s: %s", out, strerror(errno));
		free(c);
		goto done;
	}
	snprintf(path, sizeof(path), "%s/mta.key", out);
	if (stat(path, &sb) == 0) {
		ca_error(run, "%s exists; to renew with a new key use another "
		    "--out folder (or move the old key away first)", path);
		free(c);
		goto done;
	}
	if ((key = ca_keygen(rsa)) == NULL || (req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_ASC, (const unsigned char *)first, -1, -1, 0) != 1) {
		ca_error(run, "making the key or CSR failed: %s",
		    ca_ossl_err());
		free(c);
		goto done;
	}
	free(c);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
	if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
	    buf_data(b))) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) == 0 ||
	    (ext = NULL, X509_REQ_add_extensions(req, exts) != 1) ||
	    X509_REQ_sign(req, key, EVP_sha256()) == 0) {
		ca_error(run, "making the CSR failed: %s", ca_ossl_err());
		goto done;
	}
	kb = buf_new_secret(4096, 65536);
	buf_free(names);
	names = buf_new(4096, 65536);
	{
		BIO	*bio = BIO_new(BIO_s_mem());
		char	*d;
		long	 l;

		if (bio == NULL || PEM_write_bio_X509_REQ(bio, req) != 1 ||
		    (l = BIO_get_mem_data(bio, &d)) <= 0 ||
		    buf_add(names, d, (size_t)l) == -1) {
			BIO_free(bio);
			ca_error(run, "PEM encoding failed");
			goto done;
		}
		BIO_free(bio);
	}
	if (ca_pem_key(kb, key) == -1 ||
	    ca_write_file(run, out, "mta.key", buf_data(kb), buf_len(kb),
	    0600) == -1 ||
	    ca_write_file(run, out, "mta.csr", buf_data(names),
	    buf_len(names), 0644) == -1)
		goto done;
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "key", path);
		snprintf(path, sizeof(path), "%s/mta.csr", out);
		ca_json_str(&run->js, "csr", path);
		ca_json_str(&run->js, "names", buf_data(b));
		ca_json_end(&run->js);
	} else
		printf("key %s (mode 0600; it stays here)\ncsr %s/mta.csr for "
		    "%s\nsend the CSR to the federation operator\n", path, out,
		    buf_data(b));
	rv = 0;
 done:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	buf_free(kb);
	buf_free(b);
	buf_free(names);
	return rv;
}

/*
 * ca_csr_names - the dNSNames a CSR asks for, lowercased, as a list; -1
 * (said) if it asks for anything else: an IP address, a mail address, or
 * a subject CN that is not among its SAN names.
 */
static int
ca_csr_names(struct ca_run *run, X509_REQ *req, char ***out, size_t *n)
{
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES		*gens = NULL;
	X509_NAME		*subj;
	char			 cn[FED_NAME_MAX + 2], *s, *q;
	int			 i, rv = -1, found, pos;
	size_t			 k;

	*out = NULL;
	*n = 0;
	exts = X509_REQ_get_extensions(req);
	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL) {
		ca_error(run, "the CSR names no host in subjectAltName; make "
		    "it with aval-ca request --mx HOST");
		goto done;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME		*g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char	*d;
		int			 len;

		if (g->type != GEN_DNS) {
			ca_error(run, "the CSR asks for a subjectAltName that "
			    "is not a host name (an IP or mail address?); "
			    "only dNSNames are issued");
			goto done;
		}
		d = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len > FED_NAME_MAX ||
		    memchr(d, '\0', (size_t)len) != NULL) {
			ca_error(run, "the CSR holds a malformed dNSName");
			goto done;
		}
		s = xstrndup((const char *)d, (size_t)len);
		for (q = s; *q != '\0'; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		if (!fed_name_valid(s) || *n >= FED_MX_MAX) {
			ca_error(run, "the CSR's name \"%.64s\" is not a host "
			    "name we issue (no wildcards, LDH only)", s);
			free(s);
			goto done;
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = s;
	}
	/* A CN the SAN does not repeat would be a name issued unchecked. */
	subj = X509_REQ_get_subject_name(req);
	for (pos = -1; (pos = X509_NAME_get_index_by_NID(subj, NID_commonName,
	    pos)) >= 0;) {
		ASN1_STRING	*e = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, pos));
		int		 l = ASN1_STRING_length(e);

		if (l <= 0 || l > FED_NAME_MAX) {
			ca_error(run, "the CSR's subject CN is not a host name");
			goto done;
		}
		memcpy(cn, ASN1_STRING_get0_data(e), (size_t)l);
		cn[l] = '\0';
		for (q = cn; *q != '\0'; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		for (k = 0, found = 0; k < *n; k++)
			found |= strcmp((*out)[k], cn) == 0;
		if (!found) {
			ca_error(run, "the CSR's subject CN %s is not among its "
			    "subjectAltName dNSNames", cn);
			goto done;
		}
	}
	rv = 0;
 done:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rv;
}

/* ca_csr_key_ok - a key type and size we issue for */
static int
ca_csr_key_ok(EVP_PKEY *pk, int *rsa)
{
	char	 group[64];
	size_t	 gl;

	*rsa = 0;
	if (EVP_PKEY_is_a(pk, "RSA")) {
		*rsa = 1;
		return EVP_PKEY_get_bits(pk) >= 2048;
	}
	if (EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_utf8_string_param(pk,
	    "group", group, sizeof(group), &gl) == 1)
		return strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "secp384r1") == 0;
	return 0;
}

/* ca_cmd_sign - issue from a member's CSR */
int
ca_cmd_sign(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "member",	required_argument,	NULL, 'm' },
		{ "days",	required_argument,	NULL, 'D' },
		{ "out",	required_argument,	NULL, 'o' },
		{ NULL,		0,			NULL, 0 }
	};
	struct fed_registry	 reg = { 0 };
	struct ca_index		 ix = { 0 };
	struct ca_cert_rec	 rec;
	const struct fed_member	*m, *owner;
	struct buf		*b = NULL, *names = NULL;
	const char		*id = NULL, *out = NULL, *csrpath;
	char			**want = NULL, path[4096], na[32];
	size_t			 nwant = 0, i, j;
	EVP_PKEY		*cakey = NULL, *pk;
	X509			*cacert = NULL, *x = NULL;
	X509_REQ		*req = NULL;
	BIO			*bio;
	int			 ch, days = CA_DEFAULT_CERT_DAYS, rv = -1, rsa, ok;
	int			 is_mx;

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca sign CSR --member ID [--days N] [--out "
		    "FILE]\n\n"
		    "Checks the CSR's signature, then that every name in it is "
		    "an MX host\nthe registry gives to member ID and that the "
		    "member is active; then\nissues a certificate for serverAuth "
		    "and clientAuth with those names\n(SAN dNSNames), valid N "
		    "days (default %d), records it in the index\nand writes it "
		    "to FILE (default: standard output, or the JSON).\n",
		    CA_DEFAULT_CERT_DAYS);
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			id = optarg;
			break;
		case 'D':
			if (ca_days(run, "--days", optarg, &days) == -1)
				return 2;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			ca_error(run, "sign: unknown option or missing value "
			    "(aval-ca sign --help)");
			return 2;
		}
	}
	if (id == NULL || optind + 1 != argc) {
		ca_error(run, "sign needs the CSR file and --member ID");
		return 2;
	}
	csrpath = argv[optind];
	if ((bio = BIO_new_file(csrpath, "r")) == NULL)
		return ca_error(run, "cannot read %s", csrpath);
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (req == NULL)
		return ca_error(run, "%s is not a PEM certificate request",
		    csrpath);
	/* Proof that the requester holds the key it asks us to certify. */
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pk) != 1) {
		ca_error(run, "%s: the CSR's signature does not verify; ask the "
		    "member for a new one", csrpath);
		goto done;
	}
	if (!ca_csr_key_ok(pk, &rsa)) {
		ca_error(run, "%s: key type or size not issued (ECDSA P-256 or "
		    "P-384, or RSA of 2048 bits or more)", csrpath);
		goto done;
	}
	if (ca_csr_names(run, req, &want, &nwant) == -1)
		goto done;
	if (ca_lock(run, 0) == -1 || ca_registry_load(run, &reg) == -1 ||
	    ca_index_load(run, &ix) == -1 ||
	    ca_key_load(run, &cakey, &cacert) == -1)
		goto done;
	if ((m = fed_registry_find(&reg, id)) == NULL) {
		ca_error(run, "no member %s (aval-ca list shows the members)",
		    id);
		goto done;
	}
	if (m->status != FED_S_ACTIVE) {
		ca_error(run, "member %s is suspended; resume it (aval-ca "
		    "member resume %s) before issuing", id, id);
		goto done;
	}
	for (i = 0; i < nwant; i++) {
		for (j = 0, ok = 0; j < m->nmx; j++)
			ok |= strcmp(m->mx[j], want[i]) == 0;
		if (ok)
			continue;
		if ((owner = fed_registry_owner(&reg, want[i], &is_mx)) != NULL &&
		    strcmp(owner->id, id) != 0)
			ca_error(run, "refused: the CSR names %s, which is "
			    "registered to member %s, not to %s", want[i],
			    owner->id, id);
		else if (owner != NULL)
			ca_error(run, "refused: %s is a domain of member %s "
			    "but not one of its MX hosts; add it with aval-ca "
			    "member modify %s --mx ...", want[i], id, id);
		else
			ca_error(run, "refused: %s is not registered to any "
			    "member; if it is %s's MX host, add it with "
			    "aval-ca member modify %s --mx ...", want[i], id,
			    id);
		goto done;
	}
	memset(&rec, 0, sizeof(rec));
	names = buf_new(256, 65536);
	b = buf_new(256, 65536);
	for (i = 0; i < nwant; i++) {
		buf_printf(names, "%s%s", i ? "," : "", want[i]);
		buf_printf(b, "%sDNS:%s", i ? "," : "", want[i]);
	}
	if ((x = X509_new()) == NULL ||
	    ca_serial(x, rec.serial, sizeof(rec.serial)) == -1 ||
	    X509_set_version(x, 2) != 1 ||
	    /* A few minutes back, for members whose clocks run late. */
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, pk) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O",
	    MBSTRING_ASC, (const unsigned char *)id, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)want[0], -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(cacert)) != 1 ||
	    ca_ext(x, cacert, NID_basic_constraints, "critical,CA:FALSE") ==
	    -1 ||
	    ca_ext(x, cacert, NID_key_usage, rsa ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature") == -1 ||
	    ca_ext(x, cacert, NID_ext_key_usage, "serverAuth,clientAuth") ==
	    -1 ||
	    ca_ext(x, cacert, NID_subject_key_identifier, "hash") == -1 ||
	    ca_ext(x, cacert, NID_authority_key_identifier, "keyid:always") ==
	    -1 ||
	    ca_ext(x, cacert, NID_subject_alt_name, buf_data(b)) == -1 ||
	    X509_sign(x, cakey, EVP_sha256()) == 0) {
		ca_error(run, "issuing failed: %s", ca_ossl_err());
		goto done;
	}
	buf_reset(b);
	if (ca_pem_x509(b, x) == -1) {
		ca_error(run, "PEM encoding failed");
		goto done;
	}
	snprintf(rec.member, sizeof(rec.member), "%s", id);
	rec.status = CA_C_VALID;
	rec.not_after = ca_asn1_time(X509_get0_notAfter(x));
	rec.reason = -1;
	rec.names = xstrdup(buf_data(names));
	ix.v = xreallocarray(ix.v, ix.n + 1, sizeof(*ix.v));
	ix.v[ix.n++] = rec;
	/* The copy in certs/ first, the index then: the index is the truth. */
	snprintf(path, sizeof(path), "%s/certs", run->dir);
	{
		char	 fn[80];

		snprintf(fn, sizeof(fn), "%s.pem", rec.serial);
		if (ca_write_file(run, path, fn, buf_data(b), buf_len(b),
		    0644) == -1)
			goto done;
	}
	if (ca_index_save(run, &ix) == -1)
		goto done;
	if (out != NULL && ca_write_out(run, out, b, 0644) == -1)
		goto done;
	fed_time_format(rec.not_after, na, sizeof(na));
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "serial", rec.serial);
		ca_json_str(&run->js, "member", id);
		ca_json_str(&run->js, "names", buf_data(names));
		ca_json_str(&run->js, "not_after", na);
		ca_json_str(&run->js, "file", out);
		if (out == NULL)
			ca_json_str(&run->js, "certificate", buf_data(b));
		ca_json_end(&run->js);
	} else if (out == NULL)
		fwrite(buf_data(b), 1, buf_len(b), stdout);
	else
		printf("issued %s to member %s for %s, not after %s\n"
		    "certificate %s\n", rec.serial, id, buf_data(names), na,
		    out);
	rv = 0;
 done:
	for (i = 0; i < nwant; i++)
		free(want[i]);
	free(want);
	buf_free(b);
	buf_free(names);
	X509_free(x);
	X509_REQ_free(req);
	X509_free(cacert);
	EVP_PKEY_free(cakey);
	ca_index_clear(&ix);
	fed_registry_clear(&reg);
	return rv;
}

/* ca_serial_norm - a serial as the index writes it (BN_bn2hex) */
static int
ca_serial_norm(const char *in, char *out, size_t outlen)
{
	BIGNUM		*bn = NULL;
	char		*hex, tmp[80];
	size_t		 i, k = 0;

	if (strncmp(in, "0x", 2) == 0 || strncmp(in, "0X", 2) == 0)
		in += 2;
	/* openssl x509 -serial prints "serial=..."; colons are common too. */
	if (strncmp(in, "serial=", 7) == 0)
		in += 7;
	for (i = 0; in[i] != '\0' && k + 1 < sizeof(tmp); i++)
		if (in[i] != ':')
			tmp[k++] = in[i];
	tmp[k] = '\0';
	if (k == 0 || strspn(tmp, "0123456789abcdefABCDEF") != k ||
	    BN_hex2bn(&bn, tmp) != (int)k)
		return -1;
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (hex == NULL)
		return -1;
	snprintf(out, outlen, "%s", hex);
	OPENSSL_free(hex);
	return 0;
}

/* ca_cmd_revoke - mark certificates revoked in the index */
int
ca_cmd_revoke(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "member",	required_argument,	NULL, 'm' },
		{ "reason",	required_argument,	NULL, 'r' },
		{ NULL,		0,			NULL, 0 }
	};
	struct ca_index	 ix = { 0 };
	const char	*id = NULL;
	char		 serial[80];
	size_t		 i;
	int		 ch, reason = CRL_REASON_UNSPECIFIED, rv = -1, n = 0;
	int		 found = 0;

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca revoke SERIAL|--member ID [--reason "
		    "R]\n\n"
		    "R is keyCompromise, superseded, cessationOfOperation, "
		    "affiliationChanged\nor unspecified (the default). SERIAL "
		    "is hex as aval-ca list --certs shows\nit. --member "
		    "revokes every valid certificate of the member. Then run\n"
		    "aval-ca publish (or aval-ca crl) so members learn of "
		    "it.\n");
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			id = optarg;
			break;
		case 'r':
			if ((reason = ca_reason_parse(optarg)) == -1) {
				ca_error(run, "--reason %s: use keyCompromise, "
				    "superseded, cessationOfOperation, "
				    "affiliationChanged or unspecified",
				    optarg);
				return 2;
			}
			break;
		default:
			ca_error(run, "revoke: unknown option or missing value "
			    "(aval-ca revoke --help)");
			return 2;
		}
	}
	if ((id == NULL) == (optind + 1 != argc) || optind + 1 < argc) {
		ca_error(run, "revoke takes a SERIAL or --member ID, not both");
		return 2;
	}
	if (id == NULL && ca_serial_norm(argv[optind], serial,
	    sizeof(serial)) == -1) {
		ca_error(run, "%s is not a serial number (hex)", argv[optind]);
		return 2;
	}
	if (ca_lock(run, 0) == -1 || ca_index_load(run, &ix) == -1)
		goto done;
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_arr(&run->js, "revoked");
	}
	for (i = 0; i < ix.n; i++) {
		struct ca_cert_rec *r = &ix.v[i];

		if (id != NULL ? strcmp(r->member, id) != 0 :
		    strcmp(r->serial, serial) != 0)
			continue;
		found++;
		if (r->status == CA_C_REVOKED)
			continue;
		r->status = CA_C_REVOKED;
		r->revoked_at = time(NULL);
		r->reason = reason;
		n++;
		if (run->json)
			ca_json_str(&run->js, NULL, r->serial);
		else
			printf("revoked %s (member %s, %s), reason %s\n",
			    r->serial, r->member, r->names,
			    ca_reason_str(reason));
	}
	if (run->json) {
		ca_json_end(&run->js);
		ca_json_int(&run->js, "count", n);
		ca_json_end(&run->js);
	}
	if (found == 0) {
		run->js.depth = 0;
		ca_error(run, id ? "member %s holds no certificate" :
		    "no certificate with serial %s in the index",
		    id ? id : serial);
		goto done;
	}
	if (n > 0 && ca_index_save(run, &ix) == -1)
		goto done;
	if (!run->json)
		printf(n ? "now run aval-ca publish --out DIR (or aval-ca crl) "
		    "so members see it\n" : "already revoked; nothing "
		    "changed\n");
	rv = 0;
 done:
	ca_index_clear(&ix);
	return rv;
}

/*
 * ca_crl_make - a new CRL from the index, numbered one past the last and
 * saved as crl.pem with the state; NULL (said) on failure.
 */
X509_CRL *
ca_crl_make(struct ca_run *run, struct ca_state *st, EVP_PKEY *key,
    X509 *cacert, const struct ca_index *ix, int days)
{
	X509_CRL	*crl = NULL;
	X509_REVOKED	*rv = NULL;
	ASN1_TIME	*t = NULL;
	ASN1_INTEGER	*num = NULL;
	ASN1_ENUMERATED	*reason = NULL;
	BIGNUM		*bn = NULL;
	struct buf	*b = NULL;
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	time_t		 now = time(NULL);
	size_t		 i;

	if ((crl = X509_CRL_new()) == NULL || X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(cacert)) != 1 ||
	    (t = ASN1_TIME_set(NULL, now)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    ASN1_TIME_adj(t, now, days, 0) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1)
		goto fail;
	for (i = 0; i < ix->n; i++) {
		const struct ca_cert_rec *r = &ix->v[i];

		/*
		 * Expired certificates stay listed: they are few (short
		 * lives, few members), and dropping them is an optimisation
		 * that relies on every verifier checking expiry first.
		 */
		if (r->status != CA_C_REVOKED)
			continue;
		if ((rv = X509_REVOKED_new()) == NULL ||
		    BN_hex2bn(&bn, r->serial) == 0 ||
		    (num = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
		    X509_REVOKED_set_serialNumber(rv, num) != 1 ||
		    ASN1_TIME_set(t, r->revoked_at) == NULL ||
		    X509_REVOKED_set_revocationDate(rv, t) != 1 ||
		    (reason = ASN1_ENUMERATED_new()) == NULL ||
		    ASN1_ENUMERATED_set(reason, r->reason) != 1 ||
		    X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, reason, 0,
		    0) != 1 || X509_CRL_add0_revoked(crl, rv) != 1)
			goto fail;
		rv = NULL;
		ASN1_INTEGER_free(num);
		num = NULL;
		ASN1_ENUMERATED_free(reason);
		reason = NULL;
		BN_free(bn);
		bn = NULL;
	}
	if ((num = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_uint64(num, st->crl_number + 1) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		goto fail;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cacert, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx,
	    NID_authority_key_identifier, "keyid:always")) == NULL)
		goto fail;
	if (X509_CRL_add_ext(crl, ext, -1) != 1) {
		X509_EXTENSION_free(ext);
		goto fail;
	}
	X509_EXTENSION_free(ext);
	if (X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, key, EVP_sha256()) == 0)
		goto fail;
	b = buf_new(4096, CA_FILE_MAX);
	if (ca_pem_crl(b, crl) == -1)
		goto fail;
	st->crl_number++;
	if (ca_write_file(run, run->dir, "crl.pem", buf_data(b), buf_len(b),
	    0644) == -1 || ca_state_save(run, st) == -1) {
		buf_free(b);
		X509_CRL_free(crl);
		ASN1_INTEGER_free(num);
		ASN1_TIME_free(t);
		return NULL;
	}
	buf_free(b);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	return crl;
 fail:
	ca_error(run, "making the CRL failed: %s", ca_ossl_err());
	buf_free(b);
	BN_free(bn);
	ASN1_ENUMERATED_free(reason);
	ASN1_INTEGER_free(num);
	X509_REVOKED_free(rv);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return NULL;
}

/* ca_cmd_crl - a new CRL into DIR/crl.pem (and --out FILE) */
int
ca_cmd_crl(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "days",	required_argument,	NULL, 'D' },
		{ "out",	required_argument,	NULL, 'o' },
		{ NULL,		0,			NULL, 0 }
	};
	struct ca_state	 st = { 0 };
	struct ca_index	 ix = { 0 };
	EVP_PKEY	*key = NULL;
	X509		*cacert = NULL;
	X509_CRL	*crl = NULL;
	struct buf	*b = NULL;
	const char	*out = NULL;
	char		 nu[32];
	int		 ch, days = 0, rv = -1, nrev;

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca crl [--days N] [--out FILE]\n\n"
		    "Makes a new CRL (v2, the next CRL number, a reason code "
		    "per entry) of\nevery revoked certificate, good for N days "
		    "(default: init's --crl-days),\ninto DIR/crl.pem and FILE. "
		    "aval-ca publish makes one itself.\n");
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			if (ca_days(run, "--days", optarg, &days) == -1)
				return 2;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			ca_error(run, "crl: unknown option or missing value "
			    "(aval-ca crl --help)");
			return 2;
		}
	}
	if (optind != argc) {
		ca_error(run, "crl takes no arguments but options");
		return 2;
	}
	if (ca_lock(run, 0) == -1 || ca_state_load(run, &st) == -1 ||
	    ca_index_load(run, &ix) == -1 ||
	    ca_key_load(run, &key, &cacert) == -1)
		goto done;
	if ((crl = ca_crl_make(run, &st, key, cacert, &ix,
	    days ? days : st.crl_days)) == NULL)
		goto done;
	if (out != NULL) {
		b = buf_new(4096, CA_FILE_MAX);
		if (ca_pem_crl(b, crl) == -1 || ca_write_out(run, out, b,
		    0644) == -1)
			goto done;
	}
	nrev = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
	fed_time_format(ca_asn1_time(X509_CRL_get0_nextUpdate(crl)), nu,
	    sizeof(nu));
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_int(&run->js, "crl_number", (long long)st.crl_number);
		ca_json_int(&run->js, "revoked", nrev);
		ca_json_str(&run->js, "next_update", nu);
		ca_json_str(&run->js, "file", out);
		ca_json_end(&run->js);
	} else
		printf("CRL number %llu: %d revoked, next update %s\n"
		    "written to %s/crl.pem%s%s\n",
		    (unsigned long long)st.crl_number, nrev, nu, run->dir,
		    out ? " and " : "", out ? out : "");
	rv = 0;
 done:
	buf_free(b);
	X509_CRL_free(crl);
	X509_free(cacert);
	EVP_PKEY_free(key);
	ca_index_clear(&ix);
	ca_state_clear(&st);
	return rv;
}
