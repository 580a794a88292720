/*
 * check_conf_local - the alias file and mailbox map parsers, loop
 * detection, and who is a user here (common/conf_local.h)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_local.h"
#include "common/conf_priv.h"
#include "tests/unit/harness.h"

/* conf_local_test_conf - two local domains, one relay, catch-all as given */
static struct conf *
conf_local_test_conf(int catch_all)
{
	struct conf	*c = conf_new();
	char		 err[256];

	ck_assert_int_eq(conf_apply_item(c, "local-domain", "aval.test", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(conf_apply_item(c, "local-domain", "other.test", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(conf_apply_item(c, "transport",
	    "aval.test\tmaildir\t", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_apply_item(c, "transport",
	    "other.test\tmaildir\t", err, sizeof(err)), 0);
	c->catch_all = catch_all;
	return c;
}

/* conf_local_test_has - 1 if one of the errors contains s */
static int
conf_local_test_has(const struct conf_errors *e, const char *s)
{
	size_t	 i;

	for (i = 0; i < e->n; i++)
		if (strstr(e->lines[i], s) != NULL)
			return 1;
	return 0;
}

START_TEST(an_alias_expands_through_nested_aliases_once_each)
{
	struct conf		*c = conf_local_test_conf(1);
	struct conf_errors	 e = { NULL, 0 };
	const struct conf_alias	*a;
	const char		*text =
	    "# comment\n"
	    "team@aval.test: ana, <Luis@Aval.Test>,\n"
	    "\teva@Remote.Example, ops\n"
	    "\n"
	    "ops: root@other.test ana@aval.test\n";
	const char		*map = "ana@aval.test a\nluis@aval.test l\n";

	/* team@aval.test maps aval.test: its users must be in the map. */
	ck_assert_int_eq(conf_mailbox_map_parse(c, "mm", map, strlen(map), &e),
	    0);
	ck_assert_int_eq(conf_aliases_parse(c, "al", text, strlen(text), &e),
	    0);
	a = conf_alias_lookup(c, "team@aval.test");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->nto, 4);
	ck_assert_str_eq(a->to[0], "ana@aval.test");
	ck_assert_str_eq(a->to[1], "luis@aval.test");
	ck_assert_str_eq(a->to[2], "eva@remote.example");
	ck_assert_str_eq(a->to[3], "root@other.test");
	/* A bare name is at every local domain, not at others. */
	ck_assert_ptr_nonnull(conf_alias_lookup(c, "OPS@other.test"));
	ck_assert_ptr_null(conf_alias_lookup(c, "ops@remote.example"));
	ck_assert_int_eq(conf_domain_mapped(c, "aval.test"), 1);
	ck_assert_int_eq(conf_domain_mapped(c, "other.test"), 0);
	conf_errors_clear(&e);
	conf_free(c);
}
END_TEST

static const struct {
	const char	*text;
	const char	*error;
} conf_local_bad_aliases[] = {
	{ "a@aval.test: b@aval.test\nb@aval.test: a@aval.test\n",
	    "al:1: alias loop: a@aval.test -> b@aval.test -> a@aval.test" },
	{ "me: me\n", "al:1: alias loop: me -> me" },
	{ "x: y\ny: z\nz: y\n", "al:2: alias loop: y -> z -> y" },
	{ "a: |/bin/sh\n", "commands, files and includes" },
	{ "a: /tmp/file\n", "commands, files and includes" },
	{ "a: :include:/etc/list\n", "commands, files and includes" },
	{ "a: \"x y\"@aval.test\n", "quoted local parts" },
	{ "a@remote.example: b\n", "not a local domain" },
	{ "a: b\na: c\n", "al:2: alias a already given on line 1" },
	{ "  b, c\n", "al:1: continuation line with no alias" },
	{ "a b c\n", "al:1: expected \"name: address, ...\"" },
	{ "a:\n", "al:1: alias a: no address" },
	{ "a: b\x01\n", "al:1: control character" },
	{ "a: u%x@remote.example\n", "sender-specified routing" },
};

START_TEST(bad_alias_files_are_errors_at_their_line)
{
	struct conf		*c = conf_local_test_conf(1);
	struct conf_errors	 e = { NULL, 0 };
	const char		*t = conf_local_bad_aliases[_i].text;

	ck_assert_int_gt(conf_aliases_parse(c, "al", t, strlen(t), &e), 0);
	ck_assert_msg(conf_local_test_has(&e, conf_local_bad_aliases[_i].error),
	    "%s: want \"%s\", got \"%s\"", t, conf_local_bad_aliases[_i].error,
	    e.n > 0 ? e.lines[0] : "(none)");
	conf_errors_clear(&e);
	conf_free(c);
}
END_TEST

START_TEST(alias_chains_deeper_than_sixteen_are_refused)
{
	struct conf		*c = conf_local_test_conf(1);
	struct conf_errors	 e = { NULL, 0 };
	char			 text[4096];
	size_t			 o = 0;
	int			 i;

	for (i = 0; i < 20; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "a%d: a%d\n", i, i + 1);
	ck_assert_int_gt(conf_aliases_parse(c, "al", text, o, &e), 0);
	ck_assert(conf_local_test_has(&e, "nested deeper than 16"));
	conf_errors_clear(&e);
	conf_free(c);
}
END_TEST

START_TEST(a_long_line_is_an_error_and_the_rest_is_read)
{
	struct conf		*c = conf_local_test_conf(1);
	struct conf_errors	 e = { NULL, 0 };
	char			*text = malloc(CONF_LOCAL_LINE_MAX + 64);
	size_t			 n;

	memset(text, 'x', CONF_LOCAL_LINE_MAX + 1);
	n = CONF_LOCAL_LINE_MAX + 1;
	memcpy(text + n, "\nb: c@aval.test\nb: d\n", 21);
	n += 21;
	ck_assert_int_eq(conf_aliases_parse(c, "al", text, n, &e), 2);
	ck_assert(conf_local_test_has(&e, "al:1: line longer than 4096"));
	ck_assert(conf_local_test_has(&e, "al:3: alias b already given"));
	conf_errors_clear(&e);
	conf_free(c);
	free(text);
}
END_TEST

START_TEST(the_mailbox_map_gives_paths_and_templates)
{
	struct conf		*c = conf_local_test_conf(0);
	struct conf_errors	 e = { NULL, 0 };
	char			 p[256];
	const char		*text =
	    "ana@aval.test\tusers/ana\n"
	    "# the rest of other.test\n"
	    "@other.test  o/%u/box\n";

	ck_assert_int_eq(conf_mailbox_map_parse(c, "mm", text, strlen(text),
	    &e), 0);
	ck_assert_int_eq(conf_mailbox_path(c, "Ana@aval.test", p, sizeof(p)),
	    1);
	ck_assert_str_eq(p, "users/ana");
	ck_assert_int_eq(conf_mailbox_path(c, "Eva@other.test", p, sizeof(p)),
	    1);
	ck_assert_str_eq(p, "o/eva/box");
	ck_assert_int_eq(conf_mailbox_path(c, "luis@aval.test", p, sizeof(p)),
	    0);
	ck_assert_int_eq(conf_local_rcpt(c, "luis@aval.test"),
	    CONF_RCPT_UNKNOWN);
	ck_assert_int_eq(conf_local_rcpt(c, "ana@aval.test"), CONF_RCPT_KNOWN);
	ck_assert_int_eq(conf_local_rcpt(c, "x@remote.example"),
	    CONF_RCPT_NOT_LOCAL);
	/* The postmaster always; postmaster@ a local domain is rewritten. */
	ck_assert_int_eq(conf_local_rcpt(c, "postmaster@aval.test"),
	    CONF_RCPT_KNOWN);
	ck_assert_int_eq(conf_local_rcpt(c, "postmaster"), CONF_RCPT_KNOWN);
	ck_assert_int_eq(conf_mailbox_path(c, "postmaster@aval.test", p,
	    sizeof(p)), 1);
	ck_assert_str_eq(p, "aval.test/postmaster");
	ck_assert_int_eq(conf_mailbox_path(c, ".x@other.test", p, sizeof(p)),
	    -1);
	conf_errors_clear(&e);
	conf_free(c);
}
END_TEST

START_TEST(catch_all_decides_for_unmapped_domains_only)
{
	struct conf		*c = conf_local_test_conf(1);
	struct conf_errors	 e = { NULL, 0 };
	char			 p[256];
	const char		*text = "ana@aval.test aval.test/ana\n";

	ck_assert_int_eq(conf_local_rcpt(c, "luis@aval.test"), CONF_RCPT_KNOWN);
	ck_assert_int_eq(conf_mailbox_map_parse(c, "mm", text, strlen(text),
	    &e), 0);
	ck_assert_int_eq(conf_local_rcpt(c, "luis@aval.test"),
	    CONF_RCPT_UNKNOWN);
	ck_assert_int_eq(conf_local_rcpt(c, "luis@other.test"),
	    CONF_RCPT_KNOWN);
	ck_assert_int_eq(conf_mailbox_path(c, "Luis@Other.Test", p, sizeof(p)),
	    1);
	ck_assert_str_eq(p, "other.test/luis");
	c->catch_all = 0;
	ck_assert_int_eq(conf_local_rcpt(c, "luis@other.test"),
	    CONF_RCPT_UNKNOWN);
	conf_errors_clear(&e);
	conf_free(c);
}
END_TEST

static const struct {
	const char	*text;
	const char	*error;
} conf_local_bad_maps[] = {
	{ "ana@aval.test /abs\n", "relative to the maildir root" },
	{ "ana@aval.test a/../b\n", "starts with '.'" },
	{ "ana@aval.test a//b\n", "empty component" },
	{ "ana@aval.test a/%u\n", "only in an @domain template" },
	{ "@aval.test a/%d\n", "only %u may follow" },
	{ "ana@remote.example a\n", "not an address in a local domain" },
	{ "@remote.example a\n", "is not @ a local domain" },
	{ "ana@aval.test a\nANA@aval.test b\n", "mm:2: \"ana@aval.test\" is "
	    "mapped twice" },
	{ "ana@aval.test\n", "mm:1: expected \"ADDRESS PATH\"" },
	{ "ana@aval.test a b\n", "mm:1: expected" },
	{ "ana@aval.test a/\n", "ends with '/'" },
};

START_TEST(bad_mailbox_maps_are_errors_at_their_line)
{
	struct conf		*c = conf_local_test_conf(0);
	struct conf_errors	 e = { NULL, 0 };
	const char		*t = conf_local_bad_maps[_i].text;

	ck_assert_int_gt(conf_mailbox_map_parse(c, "mm", t, strlen(t), &e), 0);
	ck_assert_msg(conf_local_test_has(&e, conf_local_bad_maps[_i].error),
	    "%s: want \"%s\", got \"%s\"", t, conf_local_bad_maps[_i].error,
	    e.n > 0 ? e.lines[0] : "(none)");
	conf_errors_clear(&e);
	conf_free(c);
}
END_TEST

static void
conf_local_test_collect(const char *key, const char *value, void *arg)
{
	struct conf	*w = arg;
	char		 err[256];

	if (strcmp(key, "alias") == 0 || strcmp(key, "mailbox") == 0)
		ck_assert_msg(conf_local_apply_item(w, key, value, err,
		    sizeof(err)) == 0, "%s %s: %s", key, value, err);
}

START_TEST(the_tables_travel_as_items_and_come_back_the_same)
{
	struct conf		*c = conf_local_test_conf(0);
	struct conf		*w = conf_local_test_conf(0);
	struct conf_errors	 e = { NULL, 0 };
	const struct conf_alias	*a;
	char			 p[64];
	const char		*map = "ana@aval.test a\n@other.test o/%u\n";
	const char		*al = "t@aval.test: ana@aval.test, x@r.example, "
	    "z@other.test\n";

	ck_assert_int_eq(conf_mailbox_map_parse(c, "mm", map, strlen(map), &e),
	    0);
	ck_assert_int_eq(conf_aliases_parse(c, "al", al, strlen(al), &e), 0);
	conf_local_items(c, conf_local_test_collect, w);
	a = conf_alias_lookup(w, "t@aval.test");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->nto, 3);
	ck_assert_str_eq(a->to[1], "x@r.example");
	ck_assert_int_eq(conf_mailbox_path(w, "z@other.test", p, sizeof(p)), 1);
	ck_assert_str_eq(p, "o/z");
	conf_errors_clear(&e);
	conf_free(c);
	conf_free(w);
}
END_TEST

Suite *
conf_local_suite(void)
{
	Suite	*s = suite_create("conf_local");
	TCase	*tc = tcase_create("aliases");

	tcase_add_test(tc, an_alias_expands_through_nested_aliases_once_each);
	tcase_add_loop_test(tc, bad_alias_files_are_errors_at_their_line, 0,
	    sizeof(conf_local_bad_aliases) / sizeof(conf_local_bad_aliases[0]));
	tcase_add_test(tc, alias_chains_deeper_than_sixteen_are_refused);
	tcase_add_test(tc, a_long_line_is_an_error_and_the_rest_is_read);
	suite_add_tcase(s, tc);
	tc = tcase_create("maps");
	tcase_add_test(tc, the_mailbox_map_gives_paths_and_templates);
	tcase_add_test(tc, catch_all_decides_for_unmapped_domains_only);
	tcase_add_loop_test(tc, bad_mailbox_maps_are_errors_at_their_line, 0,
	    sizeof(conf_local_bad_maps) / sizeof(conf_local_bad_maps[0]));
	tcase_add_test(tc, the_tables_travel_as_items_and_come_back_the_same);
	suite_add_tcase(s, tc);
	return s;
}
