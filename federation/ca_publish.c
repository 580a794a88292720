/*
 * ca_publish - aval-ca publish (the signed bundle, the DNS whitelist zone)
 * and aval-ca status
 *
 * publish makes a fresh CRL, writes the bundle text (common/fedbundle.h's
 * format), reads it back with the very parser members use, signs it as
 * CMS SignedData with the content attached, verifies the result as a
 * member would, and only then advances the bundle serial. A bundle the
 * members would refuse is never written.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "federation/ca.h"

/* ca_zone_txt - a TXT string naming the member, quotes escaped */
static void
ca_zone_txt(struct buf *z, const struct fed_member *m)
{
	const char	*p;

	buf_printf(z, "\"member %s (", m->id);
	for (p = m->org; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_add(z, "\\", 1);
		buf_add(z, p, 1);
	}
	buf_addstr(z, ")\"");
}

/* ca_addr_add - addr (len bytes, big-endian) += i << shift */
static void
ca_addr_add(unsigned char *addr, int len, unsigned long i, int shift)
{
	unsigned int	 carry = 0, v;
	int		 byte = len - 1 - shift / 8, k;
	unsigned long long add = (unsigned long long)i << (shift % 8);

	for (k = byte; k >= 0 && (add != 0 || carry != 0); k--) {
		v = addr[k] + (unsigned int)(add & 0xff) + carry;
		addr[k] = (unsigned char)v;
		carry = v >> 8;
		add >>= 8;
	}
}

/* ca_zone_owner - the owner name of one entry: reversed octets/nibbles */
static void
ca_zone_owner(struct buf *z, int family, const unsigned char *a, int labels,
    int wildcard)
{
	int	 k;

	if (wildcard)
		buf_addstr(z, "*.");
	for (k = labels - 1; k >= 0; k--) {
		if (family == AF_INET)
			buf_printf(z, "%u", a[k]);
		else
			buf_printf(z, "%x", (k % 2) ? a[k / 2] & 0x0f :
			    a[k / 2] >> 4);
		if (k > 0)
			buf_add(z, ".", 1);
	}
}

/*
 * ca_zone_net - the entries for one network, per RFC 5782: an IPv4 /24 or
 * longer is listed address by address (at most 256 names); a shorter one by
 * wildcards at the next octet boundary (a /16 is "*.b.a", a /20 sixteen
 * "*.c.b.a"), at most 128 of them. IPv6 the same at nibble boundaries: a
 * /48 is one "*.<12 nibbles>", a /126 four full names.
 */
static void
ca_zone_net(struct buf *z, const struct fed_member *m, const struct fed_net *n)
{
	unsigned char	 a[16];
	int		 bits = n->family == AF_INET ? 32 : 128;
	int		 unit = n->family == AF_INET ? 8 : 4, q, wild;
	unsigned long	 i, count;

	if (n->family == AF_INET && n->prefix >= 24)
		q = 32;
	else
		q = (n->prefix + unit - 1) / unit * unit;
	wild = q < bits;
	count = 1UL << (q - n->prefix);
	for (i = 0; i < count; i++) {
		memcpy(a, n->addr, 16);
		ca_addr_add(a, bits / 8, i, bits - q);
		ca_zone_owner(z, n->family, a, q / unit, wild);
		buf_addstr(z, "\tIN\tA\t127.0.0.2\n");
		ca_zone_owner(z, n->family, a, q / unit, wild);
		buf_addstr(z, "\tIN\tTXT\t");
		ca_zone_txt(z, m);
		buf_addstr(z, "\n");
	}
}

/* ca_zone - the whole zone text */
static void
ca_zone(struct buf *z, const char *zone, const char *ns, const char *hm,
    uint64_t serial, const struct fed_registry *reg)
{
	char	 net[64];
	size_t	 i, j;

	buf_printf(z, "; aval-ca federation DNS whitelist (RFC 5782), bundle "
	    "serial %llu\n; active members' networks: A 127.0.0.2 and a TXT "
	    "naming the member\n$ORIGIN %s.\n$TTL 3600\n"
	    "@\tIN\tSOA\t%s. %s. ( %llu 3600 600 604800 300 )\n"
	    "@\tIN\tNS\t%s.\n"
	    "; RFC 5782 section 5: the test entries\n"
	    "2.0.0.127\tIN\tA\t127.0.0.2\n"
	    "2.0.0.127\tIN\tTXT\t\"test entry\"\n"
	    "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
	    "\tIN\tA\t127.0.0.2\n"
	    "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
	    "\tIN\tTXT\t\"test entry\"\n",
	    (unsigned long long)serial, zone, ns, hm,
	    (unsigned long long)serial, ns);
	for (i = 0; i < reg->n; i++) {
		const struct fed_member *m = &reg->members[i];

		/* A suspended member is not vouched for: not listed. */
		if (m->status != FED_S_ACTIVE)
			continue;
		for (j = 0; j < m->nnets; j++) {
			fed_net_format(&m->nets[j], net, sizeof(net));
			buf_printf(z, "; %s %s\n", m->id, net);
			ca_zone_net(z, m, &m->nets[j]);
		}
	}
}

/* ca_cmd_publish - the bundle (and the zone) into --out DIR */
int
ca_cmd_publish(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out",	required_argument,	NULL, 'o' },
		{ "days",	required_argument,	NULL, 'D' },
		{ "zone",	required_argument,	NULL, 'z' },
		{ "ns",		required_argument,	NULL, 'n' },
		{ "hostmaster",	required_argument,	NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct ca_state		 st = { 0 };
	struct ca_index		 ix = { 0 };
	struct fed_registry	 reg = { 0 };
	struct fed_bundle	 check = { 0 };
	struct buf		*text = NULL, *der = NULL, *z = NULL;
	const char		*out = NULL, *zone = NULL, *ns = NULL, *hm = NULL;
	char			 ti[32], te[32], err[512], nsb[300], hmb[300];
	char			 zfile[300];
	EVP_PKEY		*key = NULL;
	X509			*cacert = NULL;
	X509_CRL		*crl = NULL;
	CMS_ContentInfo		*cms = NULL;
	BIO			*in = NULL, *ob = NULL;
	time_t			 now = time(NULL), expires, crlnext;
	uint64_t		 serial;
	enum fed_verdict	 v;
	char			*p;
	long			 l;
	int			 ch, days = CA_DEFAULT_BUNDLE_DAYS, rv = -1;

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca publish --out DIR [--days N] [--zone "
		    "ZONE [--ns HOST]\n           [--hostmaster MAILBOX]]\n\n"
		    "Makes a fresh CRL and writes DIR/bundle.cms: the "
		    "federation bundle (CA\ncertificate, CRL, registry, the "
		    "next serial, expiring in N days, default\n%d), signed "
		    "with the federation key as CMS SignedData (DER). Also\n"
		    "DIR/ca.crt and DIR/crl.pem. With --zone, DIR/ZONE.zone: "
		    "the DNS\nwhitelist of the active members' networks (RFC "
		    "5782), with SOA and NS\n(default ns1.ZONE, "
		    "hostmaster.ZONE). The bundle must not outlive its\nCRL: "
		    "N is at most the CRL days given to init.\n",
		    CA_DEFAULT_BUNDLE_DAYS);
		return 0;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'D':
			if (ca_days(run, "--days", optarg, &days) == -1)
				return 2;
			break;
		case 'z':
			zone = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 'h':
			hm = optarg;
			break;
		default:
			ca_error(run, "publish: unknown option or missing value "
			    "(aval-ca publish --help)");
			return 2;
		}
	}
	if (out == NULL || optind != argc) {
		ca_error(run, "publish needs --out DIR");
		return 2;
	}
	if (zone != NULL) {
		snprintf(nsb, sizeof(nsb), "ns1.%s", zone);
		snprintf(hmb, sizeof(hmb), "hostmaster.%s", zone);
		if (ns == NULL)
			ns = nsb;
		if (hm == NULL)
			hm = hmb;
		if (!fed_name_valid(zone) || !fed_name_valid(ns) ||
		    !fed_name_valid(hm) || strlen(zone) > 180) {
			ca_error(run, "--zone, --ns and --hostmaster are "
			    "lowercase DNS names without the trailing dot");
			return 2;
		}
	} else if (ns != NULL || hm != NULL) {
		ca_error(run, "--ns and --hostmaster go with --zone");
		return 2;
	}
	if (ca_lock(run, 0) == -1 || ca_state_load(run, &st) == -1 ||
	    ca_registry_load(run, &reg) == -1 ||
	    ca_index_load(run, &ix) == -1 ||
	    ca_key_load(run, &key, &cacert) == -1)
		goto done;
	expires = now + (time_t)days * 86400;
	if (days > st.crl_days) {
		ca_error(run, "a bundle of %d days would outlive its CRL (%d "
		    "days); use --days %d or less", days, st.crl_days,
		    st.crl_days);
		goto done;
	}
	if (ca_asn1_time(X509_get0_notAfter(cacert)) < expires) {
		ca_error(run, "the CA certificate expires before the bundle "
		    "would; the federation needs a new CA (see "
		    "docs/federation-ca.md)");
		goto done;
	}
	if ((crl = ca_crl_make(run, &st, key, cacert, &ix, st.crl_days)) ==
	    NULL)
		goto done;
	crlnext = ca_asn1_time(X509_CRL_get0_nextUpdate(crl));
	serial = st.bundle_serial + 1;
	fed_time_format(now, ti, sizeof(ti));
	fed_time_format(expires, te, sizeof(te));
	text = buf_new(65536, FED_CONTENT_MAX);
	buf_printf(text, "aval-federation-bundle 1\nfederation %s\n"
	    "serial %llu\nissued %s\nexpires %s\n", st.name,
	    (unsigned long long)serial, ti, te);
	fed_registry_write(text, &reg);
	if (ca_pem_x509(text, cacert) == -1 || ca_pem_crl(text, crl) == -1) {
		ca_error(run, "the bundle would exceed %d bytes",
		    FED_CONTENT_MAX);
		goto done;
	}
	/* Read it back as a member will, before anyone else does. */
	if (fed_bundle_parse(buf_data(text), buf_len(text), &check, err,
	    sizeof(err)) == -1) {
		ca_error(run, "bug: the bundle made does not parse: %s", err);
		goto done;
	}
	fed_bundle_clear(&check);
	if ((in = BIO_new_mem_buf(buf_data(text), (int)buf_len(text))) ==
	    NULL || (cms = CMS_sign(cacert, key, NULL, in, CMS_BINARY)) ==
	    NULL || (ob = BIO_new(BIO_s_mem())) == NULL ||
	    i2d_CMS_bio(ob, cms) != 1 || (l = BIO_get_mem_data(ob, &p)) <= 0) {
		unsigned long e = ERR_peek_last_error();

		ca_error(run, "signing the bundle failed: %s",
		    e ? ERR_reason_error_string(e) : "?");
		goto done;
	}
	der = buf_new((size_t)l, (size_t)l);
	buf_add(der, p, (size_t)l);
	v = fed_bundle_verify((const unsigned char *)buf_data(der),
	    buf_len(der), cacert, now, serial, &check, err, sizeof(err));
	fed_bundle_clear(&check);
	if (v != FED_V_OK) {
		ca_error(run, "bug: the signed bundle does not verify: %s", err);
		goto done;
	}
	if (mkdir(out, 0755) == -1 && errno != EEXIST) {
		ca_error(run, "cannot make %s: %s", out, strerror(errno));
		goto done;
	}
	buf_reset(text);
	ca_pem_x509(text, cacert);
	if (ca_write_file(run, out, "ca.crt", buf_data(text), buf_len(text),
	    0644) == -1)
		goto done;
	buf_reset(text);
	ca_pem_crl(text, crl);
	if (ca_write_file(run, out, "crl.pem", buf_data(text), buf_len(text),
	    0644) == -1)
		goto done;
	if (zone != NULL) {
		z = buf_new(65536, CA_FILE_MAX);
		ca_zone(z, zone, ns, hm, serial, &reg);
		snprintf(zfile, sizeof(zfile), "%s.zone", zone);
		if (ca_write_file(run, out, zfile, buf_data(z), buf_len(z),
		    0644) == -1)
			goto done;
	}
	/* The bundle last, and the serial after it: it only grows. */
	if (ca_write_file(run, out, "bundle.cms", buf_data(der), buf_len(der),
	    0644) == -1)
		goto done;
	st.bundle_serial = serial;
	st.bundle_expires = expires;
	if (ca_state_save(run, &st) == -1)
		goto done;
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_int(&run->js, "serial", (long long)serial);
		ca_json_str(&run->js, "issued", ti);
		ca_json_str(&run->js, "expires", te);
		ca_json_int(&run->js, "members", (long long)reg.n);
		ca_json_int(&run->js, "crl_number", (long long)st.crl_number);
		ca_json_time(&run->js, "crl_next_update", crlnext);
		ca_json_str(&run->js, "dir", out);
		ca_json_str(&run->js, "zone", zone);
		ca_json_end(&run->js);
	} else {
		printf("bundle serial %llu, %zu member%s, expires %s\n"
		    "    %s/bundle.cms (CMS SignedData, DER), %s/ca.crt, "
		    "%s/crl.pem (CRL %llu)\n", (unsigned long long)serial,
		    reg.n, reg.n == 1 ? "" : "s", te, out, out, out,
		    (unsigned long long)st.crl_number);
		if (zone != NULL)
			printf("    %s/%s (DNS whitelist, SOA serial %llu)\n",
			    out, zfile, (unsigned long long)serial);
		printf("publish again before %s\n", te);
	}
	rv = 0;
 done:
	BIO_free(ob);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	buf_free(z);
	buf_free(der);
	buf_free(text);
	X509_CRL_free(crl);
	X509_free(cacert);
	EVP_PKEY_free(key);
	fed_registry_clear(&reg);
	ca_index_clear(&ix);
	ca_state_clear(&st);
	return rv;
}

/* ca_status_item - one thing with a date, as text or JSON */
static void
ca_status_item(struct ca_run *run, const char *what, const char *id,
    time_t when, time_t now)
{
	char	 t[32];
	long	 d = (long)((when - now) / 86400);

	fed_time_format(when, t, sizeof(t));
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "what", what);
		ca_json_str(&run->js, "id", id);
		ca_json_str(&run->js, "when", t);
		ca_json_bool(&run->js, "past", when <= now);
		ca_json_end(&run->js);
	} else if (when <= now)
		printf("  %-22s %-34s EXPIRED %s\n", what, id ? id : "", t);
	else
		printf("  %-22s %-34s %s (in %ld day%s)\n", what, id ? id : "",
		    t, d, d == 1 ? "" : "s");
}

/* ca_cmd_status - what needs the operator's attention */
int
ca_cmd_status(struct ca_run *run, int argc, char **argv)
{
	struct ca_state	 st = { 0 };
	struct ca_index	 ix = { 0 };
	EVP_PKEY	*key = NULL;
	X509		*cacert = NULL;
	X509_CRL	*crl = NULL;
	time_t		 now = time(NULL), horizon, t, crlnext = 0, by = 0;
	int		 within = 30, rv = -1, n = 0, i;
	size_t		 k;
	char		 s[32];

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca status [--within DAYS]\n\n"
		    "What expires within DAYS (default 30): member "
		    "certificates, the CA, the\nCRL's next update, the "
		    "bundle; what is revoked; and by when the bundle\nand CRL "
		    "must be published again.\n");
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--within") == 0 && i + 1 < argc) {
			if (ca_days(run, "--within", argv[++i], &within) == -1)
				return 2;
		} else {
			ca_error(run, "status: unknown argument \"%s\"",
			    argv[i]);
			return 2;
		}
	}
	horizon = now + (time_t)within * 86400;
	if (ca_lock(run, 0) == -1 || ca_state_load(run, &st) == -1 ||
	    ca_index_load(run, &ix) == -1 ||
	    ca_key_load(run, &key, &cacert) == -1)
		goto done;
	crl = ca_crl_load(run);
	if (crl != NULL)
		crlnext = ca_asn1_time(X509_CRL_get0_nextUpdate(crl));
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "federation", st.name);
		ca_json_int(&run->js, "within_days", within);
		ca_json_arr(&run->js, "expiring");
	} else
		printf("federation \"%s\": expiring within %d days\n", st.name,
		    within);
	if ((t = ca_asn1_time(X509_get0_notAfter(cacert))) < horizon) {
		ca_status_item(run, "federation CA", NULL, t, now);
		n++;
	}
	if (crl == NULL || crlnext < horizon) {
		if (crl == NULL && !run->json)
			printf("  %-22s %-34s none made yet\n", "CRL", "");
		else if (crl != NULL)
			ca_status_item(run, "CRL next update", NULL, crlnext,
			    now);
		n++;
	}
	if (st.bundle_expires == 0 || st.bundle_expires < horizon) {
		if (st.bundle_expires == 0 && !run->json)
			printf("  %-22s %-34s none published yet\n", "bundle",
			    "");
		else if (st.bundle_expires != 0)
			ca_status_item(run, "bundle", NULL, st.bundle_expires,
			    now);
		n++;
	}
	for (k = 0; k < ix.n; k++)
		if (ix.v[k].status == CA_C_VALID &&
		    ix.v[k].not_after < horizon &&
		    ix.v[k].not_after > now - 30 * 86400) {
			char	 what[64];

			snprintf(what, sizeof(what), "certificate of %s",
			    ix.v[k].member);
			ca_status_item(run, what, ix.v[k].serial,
			    ix.v[k].not_after, now);
			n++;
		}
	if (!run->json && n == 0)
		printf("  nothing\n");
	if (run->json) {
		ca_json_end(&run->js);
		ca_json_arr(&run->js, "revoked");
	} else
		printf("revoked:\n");
	for (k = 0, i = 0; k < ix.n; k++) {
		if (ix.v[k].status != CA_C_REVOKED)
			continue;
		i++;
		fed_time_format(ix.v[k].revoked_at, s, sizeof(s));
		if (run->json) {
			ca_json_obj(&run->js, NULL);
			ca_json_str(&run->js, "serial", ix.v[k].serial);
			ca_json_str(&run->js, "member", ix.v[k].member);
			ca_json_str(&run->js, "revoked_at", s);
			ca_json_str(&run->js, "reason",
			    ca_reason_str(ix.v[k].reason));
			ca_json_end(&run->js);
		} else
			printf("  %-34s %-12s %s %s\n", ix.v[k].serial,
			    ix.v[k].member, s, ca_reason_str(ix.v[k].reason));
	}
	if (!run->json && i == 0)
		printf("  none\n");
	/* Republish before the first of the bundle and the CRL runs out. */
	by = st.bundle_expires;
	if (crlnext != 0 && (by == 0 || crlnext < by))
		by = crlnext;
	if (run->json) {
		ca_json_end(&run->js);
		ca_json_int(&run->js, "bundle_serial",
		    (long long)st.bundle_serial);
		ca_json_int(&run->js, "crl_number", (long long)st.crl_number);
		ca_json_time(&run->js, "republish_by", by);
		ca_json_end(&run->js);
	} else if (by == 0)
		printf("nothing published yet: aval-ca publish --out DIR\n");
	else {
		fed_time_format(by, s, sizeof(s));
		printf("bundle serial %llu, CRL number %llu: publish again "
		    "before %s%s\n", (unsigned long long)st.bundle_serial,
		    (unsigned long long)st.crl_number, s,
		    by <= now ? " (OVERDUE: members are deferring mail)" : "");
	}
	rv = 0;
 done:
	X509_CRL_free(crl);
	X509_free(cacert);
	EVP_PKEY_free(key);
	ca_index_clear(&ix);
	ca_state_clear(&st);
	return rv;
}
