/*
 * fuzz_conf - libFuzzer target for the configuration parser
 *
 * The input is written to a scratch file and loaded with conf_load(), the
 * way avald reads aval.conf (conf.h has no load-from-memory entry point,
 * and this target does not add one). Whatever the input:
 *
 * - a refusal comes with at least one error, and every error reads
 *   "file:line: message" with a line inside the file (0: the whole file);
 * - an accepted config has a listener, retry-min <= retry-max, every
 *   scalar within its row's range, a maildir or explicit route for every
 *   local domain, and items that rebuild the same config in a worker.
 *
 * See README.md.
 *
 * link: build/common/conf_parse.c common/conf.c common/conf_local.c common/conf_errors.c common/conf_table.c common/fedfetch_url.c common/addr.c common/buf.c common/log.c common/xmalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/conf_table.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 fuzz_conf_path[] = "/tmp/fuzz_conf.XXXXXX";
static int	 fuzz_conf_fd = -1;

struct fuzz_conf_items {
	char	**kv;
	size_t	  n;
};

static void
fuzz_conf_unlink(void)
{
	unlink(fuzz_conf_path);
}

static void
fuzz_conf_item_cb(const char *key, const char *value, void *arg)
{
	struct fuzz_conf_items	*it = arg;
	char			*s;

	if (asprintf(&s, "%s=%s", key, value) == -1)
		abort();
	if ((it->kv = realloc(it->kv, (it->n + 1) * sizeof(*it->kv))) == NULL)
		abort();
	it->kv[it->n++] = s;
}

static void
fuzz_conf_items_free(struct fuzz_conf_items *it)
{
	size_t	 i;

	for (i = 0; i < it->n; i++)
		free(it->kv[i]);
	free(it->kv);
}

/* fuzz_conf_errors - every error is "path:line: message", line in range */
static void
fuzz_conf_errors(const struct conf_errors *errs, size_t nlines)
{
	size_t		 i, plen = strlen(fuzz_conf_path);
	const char	*p;
	char		*end;
	unsigned long	 line;

	if (errs->n == 0)
		abort();
	for (i = 0; i < errs->n; i++) {
		p = errs->lines[i];
		if (strncmp(p, fuzz_conf_path, plen) != 0 || p[plen] != ':')
			abort();
		line = strtoul(p + plen + 1, &end, 10);
		if (end == p + plen + 1 || strncmp(end, ": ", 2) != 0 ||
		    end[2] == '\0' || line > nlines)
			abort();
	}
}

/* fuzz_conf_accepted - what holds for every config that loads */
static void
fuzz_conf_accepted(const struct conf *c)
{
	struct fuzz_conf_items		 a = { NULL, 0 }, b = { NULL, 0 };
	const struct conf_domain	*d;
	const struct conf_transport	*t;
	struct conf			*w;
	char				 key[128], err[512];
	size_t				 i;

	if (c->listeners == NULL || c->queue_retry_min > c->queue_retry_max)
		abort();
	for (i = 0; i < conf_table_len; i++) {
		const struct conf_row	*r = &conf_table[i];
		long long		 v;

		if (r->type == CONF_STRING || r->type == CONF_PATH) {
			if (*(char *const *)(const void *)
			    ((const char *)c + r->offset) == NULL)
				abort();
			continue;
		}
		v = *(const long long *)(const void *)
		    ((const char *)c + r->offset);
		if (v < r->min || v > r->max)
			abort();
	}
	for (d = c->local_domains; d != NULL; d = d->next) {
		for (t = c->transports; t != NULL; t = t->next)
			if (strcmp(t->domain, d->name) == 0)
				break;
		if (t == NULL)
			abort();
	}

	conf_items(c, fuzz_conf_item_cb, &a);
	if ((w = conf_new()) == NULL)
		abort();
	for (i = 0; i < a.n; i++) {
		const char	*eq = strchr(a.kv[i], '=');

		if (eq == NULL || (size_t)(eq - a.kv[i]) >= sizeof(key))
			abort();
		memcpy(key, a.kv[i], eq - a.kv[i]);
		key[eq - a.kv[i]] = '\0';
		if (conf_apply_item(w, key, eq + 1, err, sizeof(err)) == -1)
			abort();
	}
	conf_items(w, fuzz_conf_item_cb, &b);
	if (a.n != b.n)
		abort();
	for (i = 0; i < a.n; i++)
		if (strcmp(a.kv[i], b.kv[i]) != 0)
			abort();
	fuzz_conf_items_free(&a);
	fuzz_conf_items_free(&b);

	/* Lookups on names that are not in the file must not fail. */
	(void)conf_is_local_domain(c, "a.b.example.org");
	(void)conf_is_relay_domain(c, "");
	(void)conf_transport_lookup(c, "x.y.z");
	(void)conf_transport_lookup(c, ".");
	conf_free(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	size_t			 i, nlines = 1;

	if (fuzz_conf_fd == -1) {
		if ((fuzz_conf_fd = mkstemp(fuzz_conf_path)) == -1)
			abort();
		atexit(fuzz_conf_unlink);
	}
	if (ftruncate(fuzz_conf_fd, 0) == -1 ||
	    pwrite(fuzz_conf_fd, data, size, 0) != (ssize_t)size)
		abort();
	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			nlines++;

	c = conf_load(fuzz_conf_path, &errs);
	if (c == NULL)
		fuzz_conf_errors(&errs, nlines);
	else if (errs.n != 0)
		abort();
	else
		fuzz_conf_accepted(c);
	conf_free(c);
	conf_errors_clear(&errs);
	return 0;
}
