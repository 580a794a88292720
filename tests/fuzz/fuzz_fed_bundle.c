/*
 * fuzz_fed_bundle - libFuzzer target for the federation bundle's content
 * parser and the registry parser
 *
 * The input is parsed as bundle content (fed_bundle_parse()) and as a
 * registry file (fed_registry_parse()). What is accepted must hold to the
 * rules a member's MTA relies on: counts within the limits, every id,
 * name and network valid by the same checks aval-ca applies, no name or
 * network twice; and a registry written back with fed_registry_write()
 * must parse again to the same text. See README.md.
 *
 * link: common/fedbundle.c common/buf.c common/xmalloc.c common/log.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fedbundle.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_fed_reg_ok - every rule an accepted registry must keep */
static void
fuzz_fed_reg_ok(const struct fed_registry *r)
{
	char	 err[256], net[64];
	size_t	 i, j;

	if (r->n > FED_MEMBERS_MAX || fed_registry_check(r, err,
	    sizeof(err)) != 0)
		abort();
	for (i = 0; i < r->n; i++) {
		const struct fed_member *m = &r->members[i];

		if (!fed_id_valid(m->id) || !fed_text_valid(m->org) ||
		    !fed_text_valid(m->contact) ||
		    m->ndomains > FED_DOMAINS_MAX || m->nmx > FED_MX_MAX ||
		    m->nnets > FED_NETS_MAX)
			abort();
		for (j = 0; j < m->ndomains; j++)
			if (!fed_name_valid(m->domains[j]))
				abort();
		for (j = 0; j < m->nmx; j++)
			if (!fed_name_valid(m->mx[j]))
				abort();
		for (j = 0; j < m->nnets; j++)
			if (fed_net_format(&m->nets[j], net, sizeof(net)) != 0)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fed_bundle	 b;
	struct fed_registry	 r, r2;
	struct buf		*w;
	char			*in, err[256];

	in = malloc(size + 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (fed_bundle_parse(in, size, &b, err, sizeof(err)) == 0) {
		if (b.ca == NULL || b.crl == NULL || b.expires <= b.issued ||
		    b.serial == 0)
			abort();
		fuzz_fed_reg_ok(&b.reg);
		fed_bundle_clear(&b);
	}
	if (fed_registry_parse(in, size, &r, err, sizeof(err)) == 0) {
		fuzz_fed_reg_ok(&r);
		w = buf_new(4096, FED_CONTENT_MAX);
		buf_addstr(w, "aval-federation-registry 1\n");
		fed_registry_write(w, &r);
		if (fed_registry_parse(buf_data(w), buf_len(w), &r2, err,
		    sizeof(err)) != 0 || r2.n != r.n)
			abort();
		/* Canonical: what was accepted is exactly what is written. */
		if (buf_len(w) != size || memcmp(buf_data(w), in, size) != 0)
			abort();
		fed_registry_clear(&r2);
		buf_free(w);
		fed_registry_clear(&r);
	}
	free(in);
	return 0;
}
