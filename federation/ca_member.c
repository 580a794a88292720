/*
 * ca_member - aval-ca member add|modify|suspend|resume|remove, and list
 *
 * The registry binds a member to its domains, MX host names and networks.
 * Everything is validated here with the checks the bundle reader applies
 * (common/fedbundle.c), and no name or network may belong to two members: the
 * registry is what lets a member's MTA refuse another member's valid
 * certificate on a spoofed MX, so an ambiguous registry is a hole.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "federation/ca.h"

struct ca_member_opts {
	const char	*org;
	const char	*contact;
	struct buf	*domains;	/* each value and a NUL, in order */
	struct buf	*mx;
	struct buf	*nets;
	int		 has_domains, has_mx, has_nets;
};

static void
ca_member_usage(FILE *f)
{
	fprintf(f,
	    "usage: aval-ca member add ID --org ORG --contact CONTACT\n"
	    "           --domain D [--domain D]... --mx HOST [--mx HOST]...\n"
	    "           [--net CIDR]...\n"
	    "       aval-ca member modify ID [--org ORG] [--contact CONTACT]\n"
	    "           [--domain D]... [--mx HOST]... [--net CIDR]...\n"
	    "       aval-ca member suspend|resume|remove ID\n\n"
	    "ID is lowercase letters, digits and inner hyphens (at most %d).\n"
	    "--domain, --mx and --net repeat or take comma-separated lists;\n"
	    "on modify, a list given replaces the member's list of that kind\n"
	    "(\"--net none\" empties the networks). Networks are IPv4 or IPv6\n"
	    "CIDR with no host bits set, /%d or longer for IPv4, /%d or\n"
	    "longer for IPv6. suspend keeps the member in the bundle marked\n"
	    "suspended (its certificates stop making it a verified peer);\n"
	    "remove deletes it and revokes its certificates\n"
	    "(cessationOfOperation).\n", FED_ID_MAX, FED_NET4_MIN_PREFIX,
	    FED_NET6_MIN_PREFIX);
}

/* ca_member_collect - append a comma-separated value to a list buf */
static void
ca_member_collect(struct buf **b, const char *v)
{
	const char	*p = v, *c;

	if (*b == NULL)
		*b = buf_new(256, 1024 * 1024);
	for (;;) {
		c = strchr(p, ',');
		buf_add(*b, p, c ? (size_t)(c - p) : strlen(p));
		buf_add(*b, "", 1);
		if (c == NULL)
			break;
		p = c + 1;
	}
}

/* ca_member_names - the list as validated, lowercased names */
static int
ca_member_names(struct ca_run *run, const struct buf *b, const char *what,
    char ***out, size_t *n, size_t max)
{
	const char	*p, *end;
	char		*s, *q;

	*out = NULL;
	*n = 0;
	if (b == NULL)
		return 0;
	for (p = buf_data(b), end = p + buf_len(b); p < end;
	    p += strlen(p) + 1) {
		s = xstrdup(p);
		for (q = s; *q != '\0'; q++)
			*q = (char)tolower((unsigned char)*q);
		/* A trailing dot is how DNS people write names; drop it. */
		if (q > s && q[-1] == '.')
			q[-1] = '\0';
		if (!fed_name_valid(s)) {
			free(s);
			return ca_error(run, "--%s %s: not a host or domain "
			    "name (letters, digits, hyphens, two labels or "
			    "more)", what, p);
		}
		if (*n >= max) {
			free(s);
			return ca_error(run, "more than %zu --%s values",
			    max, what);
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = s;
	}
	return 0;
}

/* ca_member_nets - the networks, validated */
static int
ca_member_nets(struct ca_run *run, const struct buf *b, struct fed_net **out,
    size_t *n)
{
	const char	*p, *end;

	*out = NULL;
	*n = 0;
	if (b == NULL)
		return 0;
	for (p = buf_data(b), end = p + buf_len(b); p < end;
	    p += strlen(p) + 1) {
		if (strcmp(p, "none") == 0)
			continue;
		if (*n >= FED_NETS_MAX)
			return ca_error(run, "more than %d networks",
			    FED_NETS_MAX);
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		if (fed_net_parse(p, &(*out)[*n]) == -1)
			return ca_error(run, "--net %s: not a network; write "
			    "it as CIDR with the host bits zero, e.g. "
			    "192.0.2.0/24 or 2001:db8::/32 (IPv4 /%d or "
			    "longer, IPv6 /%d or longer)", p,
			    FED_NET4_MIN_PREFIX, FED_NET6_MIN_PREFIX);
		(*n)++;
	}
	return 0;
}

/* ca_member_apply - the options onto m; -1 with the reason said */
static int
ca_member_apply(struct ca_run *run, struct fed_member *m,
    const struct ca_member_opts *o)
{
	struct fed_member	 t = { 0 };
	int			 rv = -1;

	if (o->org != NULL) {
		if (!fed_text_valid(o->org))
			return ca_error(run, "--org: printable ASCII, 1 to %d "
			    "characters, no leading or trailing space",
			    FED_TEXT_MAX);
		free(m->org);
		m->org = xstrdup(o->org);
	}
	if (o->contact != NULL) {
		if (!fed_text_valid(o->contact))
			return ca_error(run, "--contact: printable ASCII, 1 to "
			    "%d characters, no leading or trailing space",
			    FED_TEXT_MAX);
		free(m->contact);
		m->contact = xstrdup(o->contact);
	}
	if (ca_member_names(run, o->domains, "domain", &t.domains,
	    &t.ndomains, FED_DOMAINS_MAX) == -1 ||
	    ca_member_names(run, o->mx, "mx", &t.mx, &t.nmx,
	    FED_MX_MAX) == -1 ||
	    ca_member_nets(run, o->nets, &t.nets, &t.nnets) == -1)
		goto done;
	/* Swap in what was given; t then holds the old lists to free. */
	if (o->has_domains) {
		char	**d = m->domains;
		size_t	 n = m->ndomains;

		m->domains = t.domains, m->ndomains = t.ndomains;
		t.domains = d, t.ndomains = n;
	}
	if (o->has_mx) {
		char	**d = m->mx;
		size_t	 n = m->nmx;

		m->mx = t.mx, m->nmx = t.nmx;
		t.mx = d, t.nmx = n;
	}
	if (o->has_nets) {
		struct fed_net	*d = m->nets;
		size_t		 n = m->nnets;

		m->nets = t.nets, m->nnets = t.nnets;
		t.nets = d, t.nnets = n;
	}
	rv = 0;
 done:
	fed_member_clear(&t);
	return rv;
}

/* ca_member_print - one member, as text or JSON */
static void
ca_member_print(struct ca_run *run, const struct fed_member *m, int certs)
{
	char	 net[64];
	size_t	 i;

	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "id", m->id);
		ca_json_str(&run->js, "org", m->org);
		ca_json_str(&run->js, "contact", m->contact);
		ca_json_str(&run->js, "status", m->status == FED_S_ACTIVE ?
		    "active" : "suspended");
		ca_json_arr(&run->js, "domains");
		for (i = 0; i < m->ndomains; i++)
			ca_json_str(&run->js, NULL, m->domains[i]);
		ca_json_end(&run->js);
		ca_json_arr(&run->js, "mx");
		for (i = 0; i < m->nmx; i++)
			ca_json_str(&run->js, NULL, m->mx[i]);
		ca_json_end(&run->js);
		ca_json_arr(&run->js, "networks");
		for (i = 0; i < m->nnets; i++)
			if (fed_net_format(&m->nets[i], net, sizeof(net)) == 0)
				ca_json_str(&run->js, NULL, net);
		ca_json_end(&run->js);
		if (certs >= 0)
			ca_json_int(&run->js, "valid_certificates", certs);
		ca_json_end(&run->js);
		return;
	}
	printf("%s  %s  (%s)\n", m->id,
	    m->status == FED_S_ACTIVE ? "active" : "SUSPENDED", m->org);
	printf("    contact   %s\n", m->contact);
	printf("    domains  ");
	for (i = 0; i < m->ndomains; i++)
		printf(" %s", m->domains[i]);
	printf("%s\n    mx       ", m->ndomains ? "" : " (none)");
	for (i = 0; i < m->nmx; i++)
		printf(" %s", m->mx[i]);
	printf("%s\n    networks ", m->nmx ? "" : " (none)");
	for (i = 0; i < m->nnets; i++)
		if (fed_net_format(&m->nets[i], net, sizeof(net)) == 0)
			printf(" %s", net);
	printf("%s\n", m->nnets ? "" : " (none)");
	if (certs >= 0)
		printf("    valid certificates: %d\n", certs);
}

/* ca_member_revoke_all - revoke every valid certificate of member id */
static int
ca_member_revoke_all(struct ca_run *run, const char *id, int *count)
{
	struct ca_index	 ix;
	size_t		 i;
	int		 rv;

	*count = 0;
	if (ca_index_load(run, &ix) == -1)
		return -1;
	for (i = 0; i < ix.n; i++)
		if (strcmp(ix.v[i].member, id) == 0 &&
		    ix.v[i].status == CA_C_VALID) {
			ix.v[i].status = CA_C_REVOKED;
			ix.v[i].revoked_at = time(NULL);
			ix.v[i].reason = CRL_REASON_CESSATION_OF_OPERATION;
			(*count)++;
		}
	rv = *count ? ca_index_save(run, &ix) : 0;
	ca_index_clear(&ix);
	return rv;
}

/* ca_cmd_member - the member subcommands */
int
ca_cmd_member(struct ca_run *run, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "org",	required_argument,	NULL, 'o' },
		{ "contact",	required_argument,	NULL, 'c' },
		{ "domain",	required_argument,	NULL, 'D' },
		{ "mx",		required_argument,	NULL, 'm' },
		{ "net",	required_argument,	NULL, 'n' },
		{ NULL,		0,			NULL, 0 }
	};
	struct ca_member_opts	 o = { 0 };
	struct fed_registry	 reg = { 0 };
	struct fed_member	*m, nm;
	const char		*sub, *id;
	char			 err[512];
	size_t			 i;
	int			 ch, rv = -1, revoked = 0;

	if (ca_is_help(argc, argv) || argc < 2) {
		ca_member_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc - 1, argv + 1, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'o':
			o.org = optarg;
			break;
		case 'c':
			o.contact = optarg;
			break;
		case 'D':
			ca_member_collect(&o.domains, optarg);
			o.has_domains = 1;
			break;
		case 'm':
			ca_member_collect(&o.mx, optarg);
			o.has_mx = 1;
			break;
		case 'n':
			ca_member_collect(&o.nets, optarg);
			o.has_nets = 1;
			break;
		default:
			ca_error(run, "member: unknown option or missing value "
			    "(aval-ca member --help)");
			rv = 2;
			goto done;
		}
	}
	if (optind + 1 != argc - 1) {
		ca_error(run, "member %s: give exactly one member ID", sub);
		rv = 2;
		goto done;
	}
	id = argv[optind + 1];
	if (!fed_id_valid(id)) {
		ca_error(run, "member id \"%s\": use lowercase letters, digits "
		    "and inner hyphens, at most %d", id, FED_ID_MAX);
		goto done;
	}
	if (strcmp(sub, "add") != 0 && strcmp(sub, "modify") != 0 &&
	    (o.org || o.contact || o.has_domains || o.has_mx || o.has_nets)) {
		ca_error(run, "member %s takes only the member ID", sub);
		rv = 2;
		goto done;
	}
	if (ca_lock(run, 0) == -1 || ca_registry_load(run, &reg) == -1)
		goto done;
	m = fed_registry_find(&reg, id);
	if (strcmp(sub, "add") == 0) {
		if (m != NULL) {
			ca_error(run, "member %s exists; change it with aval-ca "
			    "member modify %s", id, id);
			goto done;
		}
		if (o.org == NULL || o.contact == NULL || !o.has_domains ||
		    !o.has_mx) {
			ca_error(run, "member add needs --org, --contact, at "
			    "least one --domain and at least one --mx");
			rv = 2;
			goto done;
		}
		memset(&nm, 0, sizeof(nm));
		memcpy(nm.id, id, strlen(id) + 1);
		nm.status = FED_S_ACTIVE;
		if (ca_member_apply(run, &nm, &o) == -1) {
			fed_member_clear(&nm);
			goto done;
		}
		/* Keep the registry sorted by id: the bundle requires it. */
		for (i = 0; i < reg.n; i++)
			if (strcmp(reg.members[i].id, id) > 0)
				break;
		reg.members = xreallocarray(reg.members, reg.n + 1,
		    sizeof(*reg.members));
		memmove(&reg.members[i + 1], &reg.members[i],
		    (reg.n - i) * sizeof(*reg.members));
		reg.members[i] = nm;
		reg.n++;
		m = &reg.members[i];
	} else if (m == NULL) {
		ca_error(run, "no member %s (aval-ca list shows the members)",
		    id);
		goto done;
	} else if (strcmp(sub, "modify") == 0) {
		if (ca_member_apply(run, m, &o) == -1)
			goto done;
		if (m->ndomains == 0 || m->nmx == 0) {
			ca_error(run, "a member keeps at least one domain and "
			    "one MX host; to take it out, use member remove");
			goto done;
		}
	} else if (strcmp(sub, "suspend") == 0)
		m->status = FED_S_SUSPENDED;
	else if (strcmp(sub, "resume") == 0)
		m->status = FED_S_ACTIVE;
	else if (strcmp(sub, "remove") == 0) {
		if (ca_member_revoke_all(run, id, &revoked) == -1)
			goto done;
		fed_member_clear(m);
		memmove(m, m + 1, (size_t)(&reg.members[reg.n] - (m + 1)) *
		    sizeof(*m));
		reg.n--;
		m = NULL;
	} else {
		ca_error(run, "member: no subcommand \"%s\" (add, modify, "
		    "suspend, resume, remove)", sub);
		rv = 2;
		goto done;
	}
	if (fed_registry_check(&reg, err, sizeof(err)) == -1) {
		ca_error(run, "refused: %s; each name and network belongs to "
		    "one member only", err);
		goto done;
	}
	if (ca_registry_save(run, &reg) == -1)
		goto done;
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "action", sub);
		ca_json_str(&run->js, "member", id);
		if (m != NULL) {
			ca_json_arr(&run->js, "registry");
			ca_member_print(run, m, -1);
			ca_json_end(&run->js);
		}
		if (revoked)
			ca_json_int(&run->js, "revoked_certificates", revoked);
		ca_json_end(&run->js);
	} else {
		printf("member %s: %s\n", id, strcmp(sub, "add") == 0 ?
		    "added" : strcmp(sub, "modify") == 0 ? "modified" :
		    strcmp(sub, "suspend") == 0 ? "suspended" :
		    strcmp(sub, "resume") == 0 ? "active again" : "removed");
		if (m != NULL)
			ca_member_print(run, m, -1);
		if (revoked)
			printf("revoked %d certificate%s "
			    "(cessationOfOperation)\n", revoked,
			    revoked == 1 ? "" : "s");
		printf("publish the change: aval-ca publish --out DIR\n");
	}
	rv = 0;
 done:
	fed_registry_clear(&reg);
	buf_free(o.domains);
	buf_free(o.mx);
	buf_free(o.nets);
	return rv;
}

/* ca_cmd_list - the registry, and with --certs the certificates */
int
ca_cmd_list(struct ca_run *run, int argc, char **argv)
{
	struct fed_registry	 reg = { 0 };
	struct ca_index		 ix = { 0 };
	char			 t[32], r[32];
	size_t			 i, j;
	int			 certs = 0, n, rv = -1;

	if (ca_is_help(argc, argv)) {
		printf("usage: aval-ca list [--certs]\n\n"
		    "The members: id, status, organisation, contact, domains, "
		    "MX hosts,\nnetworks, and how many valid certificates each "
		    "holds. --certs lists\nevery certificate issued.\n");
		return 0;
	}
	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--certs") == 0)
			certs = 1;
		else {
			ca_error(run, "list: unknown argument \"%s\"", argv[i]);
			return 2;
		}
	}
	if (ca_lock(run, 0) == -1 || ca_registry_load(run, &reg) == -1 ||
	    ca_index_load(run, &ix) == -1)
		goto done;
	if (run->json) {
		ca_json_obj(&run->js, NULL);
		ca_json_arr(&run->js, "members");
	} else if (reg.n == 0)
		printf("no members yet (aval-ca member add ID ...)\n");
	for (i = 0; i < reg.n; i++) {
		for (j = 0, n = 0; j < ix.n; j++)
			if (strcmp(ix.v[j].member, reg.members[i].id) == 0 &&
			    ix.v[j].status == CA_C_VALID &&
			    ix.v[j].not_after > time(NULL))
				n++;
		ca_member_print(run, &reg.members[i], n);
	}
	if (run->json)
		ca_json_end(&run->js);
	if (certs && run->json)
		ca_json_arr(&run->js, "certificates");
	else if (certs)
		printf("\n%-34s %-12s %-8s %-21s %s\n", "serial", "member",
		    "status", "not after", "names");
	for (i = 0; certs && i < ix.n; i++) {
		const struct ca_cert_rec *c = &ix.v[i];

		fed_time_format(c->not_after, t, sizeof(t));
		if (run->json) {
			ca_json_obj(&run->js, NULL);
			ca_json_str(&run->js, "serial", c->serial);
			ca_json_str(&run->js, "member", c->member);
			ca_json_str(&run->js, "status", c->status ==
			    CA_C_VALID ? "valid" : "revoked");
			ca_json_time(&run->js, "not_after", c->not_after);
			ca_json_time(&run->js, "revoked_at", c->status ==
			    CA_C_REVOKED ? c->revoked_at : 0);
			ca_json_str(&run->js, "reason", c->status ==
			    CA_C_REVOKED ? ca_reason_str(c->reason) : NULL);
			ca_json_str(&run->js, "names", c->names);
			ca_json_end(&run->js);
			continue;
		}
		if (c->status == CA_C_REVOKED)
			fed_time_format(c->revoked_at, r, sizeof(r));
		printf("%-34s %-12s %-8s %-21s %s", c->serial, c->member,
		    c->status == CA_C_VALID ? "valid" : "revoked", t,
		    c->names);
		if (c->status == CA_C_REVOKED)
			printf(" (revoked %s, %s)", r,
			    ca_reason_str(c->reason));
		printf("\n");
	}
	if (certs && run->json)
		ca_json_end(&run->js);
	if (run->json)
		ca_json_end(&run->js);
	rv = 0;
 done:
	fed_registry_clear(&reg);
	ca_index_clear(&ix);
	return rv;
}
