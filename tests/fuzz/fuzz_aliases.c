/*
 * fuzz_aliases - libFuzzer target for the alias file and mailbox map
 * parsers (common/conf_local.h)
 *
 * The input is read as an alias file, then as a mailbox map, into a
 * config with two local domains. Whatever parses must expand without a
 * cycle: no final address is itself an alias, no alias has more than
 * CONF_ALIAS_TARGETS_MAX addresses, and the tables survive the trip
 * through items unchanged in size. See README.md.
 *
 * link: build/common/conf_parse.c common/conf.c common/conf_local.c common/conf_errors.c common/conf_table.c common/fedfetch_url.c common/addr.c common/buf.c common/log.c common/xmalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_local.h"
#include "common/conf_priv.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t	 fuzz_aliases_n;

static void
fuzz_aliases_apply(const char *key, const char *value, void *arg)
{
	char	 err[512];

	if (strcmp(key, "alias") != 0 && strcmp(key, "mailbox") != 0)
		return;
	if (conf_local_apply_item(arg, key, value, err, sizeof(err)) != 0)
		abort();
	fuzz_aliases_n++;
}

static struct conf *
fuzz_aliases_conf(void)
{
	struct conf	*c = conf_new();
	char		 err[256];

	if (conf_apply_item(c, "local-domain", "a.test", err,
	    sizeof(err)) != 0 || conf_apply_item(c, "local-domain", "b.test",
	    err, sizeof(err)) != 0)
		abort();
	c->catch_all = 1;
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf		*c = fuzz_aliases_conf(), *w;
	struct conf_errors	 e = { NULL, 0 };
	const struct conf_alias	*a;
	size_t			 i, n = 0;

	if (conf_aliases_parse(c, "f", (const char *)data, size, &e) == 0) {
		for (a = c->aliases; a != NULL; a = a->next) {
			if (a->nto == 0 || a->nto > CONF_ALIAS_TARGETS_MAX)
				abort();
			for (i = 0; i < a->nto; i++)
				if (conf_alias_lookup(c, a->to[i]) != NULL)
					abort();
			n += a->nto;
		}
		w = fuzz_aliases_conf();
		fuzz_aliases_n = 0;
		conf_local_items(c, fuzz_aliases_apply, w);
		if (fuzz_aliases_n != n)
			abort();
		conf_free(w);
	}
	conf_errors_clear(&e);
	conf_free(c);

	c = fuzz_aliases_conf();
	(void)conf_mailbox_map_parse(c, "f", (const char *)data, size, &e);
	conf_errors_clear(&e);
	conf_free(c);
	return 0;
}
