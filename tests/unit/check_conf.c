/*
 * check_conf - the configuration: parsing, errors, items, lookups, drift
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/conf.h"
#include "common/conf_table.h"
#include "common/xmalloc.h"
#include "tests/unit/harness.h"

#define LISTEN		"listen on 127.0.0.1 port 25\n"

/* The example of every statement, as the issue gives it. */
static const char full_conf[] =
    "hostname\t\"mx.example.org\"\n"
    "spool\t\t\"/var/spool/aval\"\n"
    "runtime-dir\t\"/run/aval\"\n"
    "maildir\t\t\"/var/mail/aval\"\n"
    "user\t\t\"aval\"\n"
    "\n"
    "listen on 0.0.0.0 port 25 pregreet 2s\n"
    "listen on ::1 port 587 submission client-cert off\n"
    "\n"
    "tls {\n"
    "\tcertificate\t\"/etc/aval/tls/mx.crt\" \"/etc/aval/tls/mx.key\"\n"
    "\tsession-tickets\tno\n"
    "}\n"
    "\n"
    "local-domains\t{ example.org mail.example.org }\n"
    "relay-domains\t{ partner.example .sub.example }\n"
    "relay-networks\t{ 127.0.0.0/8 ::1/128 192.0.2.0/24 }\n"
    "\n"
    "transport {\n"
    "\tpartner.example\t\tsmtp [192.0.2.25]:25\n"
    "\texample.org\t\tmaildir\n"
    "\t*\t\t\tsmtp [127.0.0.1]:10025\n"
    "}\n"
    "\n"
    "smtpd {\n"
    "\tprocesses\t\t2\n"
    "\tmax-sessions\t\t1000\n"
    "\tmax-recipients\t\t100\n"
    "\tmax-errors\t\t10\n"
    "\tcommand-timeout\t\t5m\n"
    "\tdata-timeout\t\t10m\n"
    "}\n"
    "\n"
    "queue {\n"
    "\tmax-message-size\t35M\n"
    "\tretry-min\t\t5m\n"
    "\tretry-max\t\t4h\n"
    "}\n"
    "\n"
    "deliver {\n"
    "\tprocesses\t\t2\n"
    "\tmax-jobs\t\t100\n"
    "\tconnect-timeout\t\t30s\n"
    "\tcommand-timeout\t\t5m\n"
    "}\n";

static char	*tdir;

static void
conf_test_setup(void)
{
	tdir = harness_tmpdir();
}

static void
conf_test_teardown(void)
{
	harness_rmtree(tdir);
	free(tdir);
	tdir = NULL;
}

/* conf_test_write - write text (len bytes) to a file in tdir; caller frees */
static char *
conf_test_write(const char *name, const char *text, size_t len)
{
	char	*path;
	FILE	*fp;

	xasprintf(&path, "%s/%s", tdir, name);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
	return path;
}

/* conf_test_load - load text as the file tdir/aval.conf */
static struct conf *
conf_test_load(const char *text, struct conf_errors *errs)
{
	struct conf	*c;
	char		*path;

	path = conf_test_write("aval.conf", text, strlen(text));
	c = conf_load(path, errs);
	free(path);
	return c;
}

/* conf_test_slurp - a whole file from the source tree; caller frees */
static char *
conf_test_slurp(const char *rel)
{
	char	*path, *s;
	FILE	*fp;
	long	 n;

	xasprintf(&path, "%s/%s", harness_srcdir(), rel);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	ck_assert_int_ge(n = ftell(fp), 0);
	rewind(fp);
	s = xcalloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	free(path);
	return s;
}

/* conf_test_has - 1 if some error is on line and contains needle */
static int
conf_test_has(const struct conf_errors *errs, int line, const char *needle)
{
	char	 at[32];
	size_t	 i;

	snprintf(at, sizeof(at), ":%d: ", line);
	for (i = 0; i < errs->n; i++)
		if (strstr(errs->lines[i], at) != NULL &&
		    strstr(errs->lines[i], needle) != NULL)
			return 1;
	return 0;
}

/* conf_test_dump - every error, one per line, for failure messages */
static const char *
conf_test_dump(const struct conf_errors *errs)
{
	static char	 out[4096];
	size_t		 i;

	out[0] = '\0';
	for (i = 0; i < errs->n; i++) {
		strncat(out, "\n  ", sizeof(out) - strlen(out) - 1);
		strncat(out, errs->lines[i], sizeof(out) - strlen(out) - 1);
	}
	return out;
}

/* A list of items, "key=value", in the order conf_items() gave them. */
struct conf_test_items {
	char	**kv;
	size_t	  n;
};

static void
conf_test_item_cb(const char *key, const char *value, void *arg)
{
	struct conf_test_items	*it = arg;

	it->kv = xreallocarray(it->kv, it->n + 1, sizeof(*it->kv));
	xasprintf(&it->kv[it->n++], "%s=%s", key, value);
}

static void
conf_test_items_get(const struct conf *c, struct conf_test_items *it)
{
	memset(it, 0, sizeof(*it));
	conf_items(c, conf_test_item_cb, it);
}

static void
conf_test_items_free(struct conf_test_items *it)
{
	size_t	 i;

	for (i = 0; i < it->n; i++)
		free(it->kv[i]);
	free(it->kv);
	memset(it, 0, sizeof(*it));
}

/* conf_test_items_has - 1 if "key=value" is among the items */
static int
conf_test_items_has(const struct conf_test_items *it, const char *kv)
{
	size_t	 i;

	for (i = 0; i < it->n; i++)
		if (strcmp(it->kv[i], kv) == 0)
			return 1;
	return 0;
}

/* conf_test_apply - apply "key=value" items to c, asserting each works */
static void
conf_test_apply(struct conf *c, const char *const *kv)
{
	char	 key[64], err[512];
	size_t	 i;

	for (i = 0; kv[i] != NULL; i++) {
		const char	*eq = strchr(kv[i], '=');

		ck_assert_ptr_nonnull(eq);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv[i]), kv[i]);
		ck_assert_msg(conf_apply_item(c, key, eq + 1, err,
		    sizeof(err)) == 0, "%s: %s", kv[i], err);
	}
}

/* --- defaults ------------------------------------------------------------ */

START_TEST(a_new_config_has_every_scalar_at_its_default)
{
	struct conf	*c = conf_new();

	ck_assert_str_eq(c->hostname, "localhost");
	ck_assert_str_eq(c->spool, "/var/spool/aval");
	ck_assert_str_eq(c->runtime_dir, "/run/aval");
	ck_assert_str_eq(c->maildir, "/var/mail/aval");
	ck_assert_str_eq(c->user, "aval");
	ck_assert_int_eq(c->smtpd_processes, 2);
	ck_assert_int_eq(c->smtpd_max_sessions, 1000);
	ck_assert_int_eq(c->smtpd_max_recipients, 100);
	ck_assert_int_eq(c->smtpd_max_errors, 10);
	ck_assert_int_eq(c->smtpd_command_timeout, 300);
	ck_assert_int_eq(c->smtpd_data_timeout, 600);
	ck_assert_int_eq(c->queue_max_message_size, 35 * 1024 * 1024);
	ck_assert_int_eq(c->queue_retry_min, 300);
	ck_assert_int_eq(c->queue_retry_max, 4 * 3600);
	ck_assert_int_eq(c->deliver_processes, 2);
	ck_assert_int_eq(c->deliver_max_jobs, 100);
	ck_assert_int_eq(c->deliver_connect_timeout, 30);
	ck_assert_int_eq(c->deliver_command_timeout, 300);
	ck_assert_str_eq(c->local_user, "aval-local");
	ck_assert_str_eq(c->postmaster, "postmaster");
	ck_assert_int_eq(c->local_processes, 1);
	ck_assert_int_eq(c->local_max_jobs, 20);
	ck_assert_ptr_null(c->listeners);
	ck_assert_ptr_null(c->local_domains);
	ck_assert_ptr_null(c->relay_domains);
	ck_assert_ptr_null(c->relay_networks);
	ck_assert_ptr_null(c->transports);
	conf_free(c);
	conf_free(NULL);
}
END_TEST

/* The postmaster rule: which recipients are rewritten, and to what. */
static const struct {
	const char	*setting;	/* postmaster */
	const char	*rcpt;
	const char	*want;		/* NULL: left alone */
} postmaster_cases[] = {
	{ "postmaster", "postmaster", "postmaster@a.example" },
	{ "postmaster", "PostMaster", "postmaster@a.example" },
	{ "postmaster", "postmaster@b.example", "postmaster@a.example" },
	{ "postmaster", "POSTMASTER@b.example", "postmaster@a.example" },
	{ "postmaster", "postmaster@a.example", NULL },
	{ "postmaster", "postmaster@remote.example", NULL },
	{ "postmaster", "postmasters@b.example", NULL },
	{ "postmaster", "ana@b.example", NULL },
	{ "root", "postmaster@a.example", "root@a.example" },
	{ "ops@remote.example", "postmaster", "ops@remote.example" },
	{ "ops@remote.example", "postmaster@b.example", "ops@remote.example" },
};

START_TEST(postmaster_and_postmaster_at_a_local_domain_are_rewritten_once)
{
	struct conf	*c = conf_new();
	char		 err[256], out[ADDR_MAX + 1];
	int		 rv;

	ck_assert_int_eq(conf_apply_item(c, "local-domain", "a.example", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(conf_apply_item(c, "local-domain", "b.example", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(conf_apply_item(c, "postmaster",
	    postmaster_cases[_i].setting, err, sizeof(err)), 0);
	rv = conf_postmaster_rewrite(c, postmaster_cases[_i].rcpt, out,
	    sizeof(out));
	if (postmaster_cases[_i].want == NULL)
		ck_assert_msg(rv == 0, "%s was rewritten to %s",
		    postmaster_cases[_i].rcpt, out);
	else {
		ck_assert_msg(rv == 1, "%s was not rewritten",
		    postmaster_cases[_i].rcpt);
		ck_assert_str_eq(out, postmaster_cases[_i].want);
	}
	conf_free(c);
}
END_TEST

START_TEST(a_bare_postmaster_without_local_domains_gets_the_hostname)
{
	struct conf	*c = conf_new();
	char		 out[ADDR_MAX + 1];

	ck_assert_int_eq(conf_postmaster(c, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "postmaster@localhost");
	ck_assert_int_eq(conf_postmaster(c, out, 5), -1);
	conf_free(c);
}
END_TEST

START_TEST(every_row_has_a_default_inside_its_range)
{
	struct conf	*c = conf_new();
	size_t		 i;

	ck_assert_uint_eq(conf_table_len, 55);
	for (i = 0; i < conf_table_len; i++) {
		const struct conf_row	*r = &conf_table[i];
		long long		 v;

		ck_assert_msg(r->desc != NULL && strlen(r->desc) > 0 &&
		    strchr(r->desc, '|') == NULL, "%s: description", r->name);
		if (r->type == CONF_STRING || r->type == CONF_PATH)
			continue;
		v = *(const long long *)(const void *)
		    ((const char *)c + r->offset);
		ck_assert_msg(r->min <= v && v <= r->max,
		    "%s: default %lld outside %lld..%lld", r->name, v, r->min,
		    r->max);
	}
	conf_free(c);
}
END_TEST

START_TEST(items_of_a_new_config_are_the_table_in_base_units)
{
	struct conf		*c = conf_new();
	struct conf_test_items	 it;
	size_t			 i;

	conf_test_items_get(c, &it);
	ck_assert_uint_eq(it.n, conf_table_len);
	for (i = 0; i < conf_table_len; i++) {
		char	 key[64];

		if (conf_table[i].block == NULL)
			snprintf(key, sizeof(key), "%s=", conf_table[i].name);
		else
			snprintf(key, sizeof(key), "%s.%s=",
			    conf_table[i].block, conf_table[i].name);
		ck_assert_msg(strncmp(it.kv[i], key, strlen(key)) == 0,
		    "item %zu is %s, not %s...", i, it.kv[i], key);
	}
	ck_assert(conf_test_items_has(&it, "queue.max-message-size=36700160"));
	ck_assert(conf_test_items_has(&it, "queue.retry-max=14400"));
	ck_assert(conf_test_items_has(&it, "smtpd.max-recipients=100"));
	ck_assert(conf_test_items_has(&it, "deliver.connect-timeout=30"));
	ck_assert(conf_test_items_has(&it, "spool=/var/spool/aval"));
	conf_test_items_free(&it);
	conf_free(c);
}
END_TEST

/* --- units and ranges ---------------------------------------------------- */

static const struct {
	const char	*key;
	const char	*value;
	long long	 want;		/* -1: rejected */
	const char	*why;		/* substring of the error */
} value_cases[] = {
	{ "queue.max-message-size", "1024", 1024, NULL },
	{ "queue.max-message-size", "1K", 1024, NULL },
	{ "queue.max-message-size", "64K", 65536, NULL },
	{ "queue.max-message-size", "35M", 36700160, NULL },
	{ "queue.max-message-size", "1G", 1073741824, NULL },
	{ "queue.max-message-size", "1023", -1, "less than the minimum, 1K" },
	{ "queue.max-message-size", "1025M", -1,
	    "more than the maximum, 1G" },
	{ "queue.max-message-size", "35m", -1, "is not a size" },
	{ "queue.max-message-size", "35MB", -1, "is not a size" },
	{ "queue.max-message-size", "1.5M", -1, "is not a size" },
	{ "queue.max-message-size", "0x100000", -1, "is not a size" },
	{ "queue.max-message-size", "-1K", -1, "is negative" },
	{ "queue.max-message-size", "+1K", -1, "is not a size" },
	{ "queue.max-message-size", " 1K", -1, "is not a size" },
	{ "queue.max-message-size", "1K ", -1, "is not a size" },
	{ "queue.max-message-size", "", -1, "is not a size" },
	{ "queue.max-message-size", "9007199254740992G", -1, "too large" },
	{ "queue.max-message-size", "9223372036854775808", -1, "too large" },
	{ "queue.max-message-size", "99999999999999999999999", -1,
	    "too large" },
	{ "queue.retry-min", "1", 1, NULL },
	{ "queue.retry-min", "30s", 30, NULL },
	{ "queue.retry-min", "5m", 300, NULL },
	{ "queue.retry-min", "2h", 7200, NULL },
	{ "queue.retry-min", "1d", 86400, NULL },
	{ "queue.retry-min", "0", -1, "less than the minimum, 1s" },
	{ "queue.retry-min", "2d", -1, "more than the maximum, 1d" },
	{ "queue.retry-min", "5M", -1, "is not a duration" },
	{ "queue.retry-min", "5w", -1, "is not a duration" },
	{ "queue.retry-min", "1h30m", -1, "is not a duration" },
	{ "queue.retry-max", "7d", 7 * 86400, NULL },
	{ "queue.retry-max", "106751991167300d", -1, "more than the maximum" },
	{ "queue.retry-max", "106751991167301d", -1, "too large" },
	{ "smtpd.max-recipients", "1", 1, NULL },
	{ "smtpd.max-recipients", "10000", 10000, NULL },
	{ "smtpd.max-recipients", "0", -1, "less than the minimum, 1" },
	{ "smtpd.max-recipients", "10001", -1, "more than the maximum, 10000" },
	{ "smtpd.max-recipients", "100K", -1, "is not a whole number" },
	{ "smtpd.max-recipients", "9223372036854775807", -1,
	    "more than the maximum" },
	{ "smtpd.processes", "64", 64, NULL },
	{ "smtpd.processes", "65", -1, "smtpd processes: 65 is more than" },
	{ "deliver.connect-timeout", "10m", 600, NULL },
	{ "deliver.connect-timeout", "11m", -1, "more than the maximum, 10m" },
};

START_TEST(numbers_take_their_units_and_stay_in_range)
{
	const char	*key = value_cases[_i].key;
	const char	*value = value_cases[_i].value;
	struct conf	*c = conf_new(), *d = conf_new();
	struct conf_test_items a, b;
	char		 err[512] = "";
	size_t		 i;
	int		 rv;

	rv = conf_apply_item(c, key, value, err, sizeof(err));
	if (value_cases[_i].want == -1) {
		ck_assert_msg(rv == -1, "%s=\"%s\" was accepted", key, value);
		ck_assert_msg(strstr(err, value_cases[_i].why) != NULL,
		    "%s=\"%s\": \"%s\" lacks \"%s\"", key, value, err,
		    value_cases[_i].why);
		/* A rejected value changes nothing. */
		conf_test_items_get(c, &a);
		conf_test_items_get(d, &b);
		ck_assert_uint_eq(a.n, b.n);
		for (i = 0; i < a.n; i++)
			ck_assert_str_eq(a.kv[i], b.kv[i]);
		conf_test_items_free(&a);
		conf_test_items_free(&b);
	} else {
		char	 want[64];

		ck_assert_msg(rv == 0, "%s=\"%s\": %s", key, value, err);
		snprintf(want, sizeof(want), "%s=%lld", key,
		    value_cases[_i].want);
		conf_test_items_get(c, &a);
		ck_assert_msg(conf_test_items_has(&a, want), "no item %s",
		    want);
		conf_test_items_free(&a);
	}
	conf_free(c);
	conf_free(d);
}
END_TEST

START_TEST(items_that_are_not_items_are_refused)
{
	static const char *const bad[][2] = {
		{ "processes", "2" },
		{ "smtpd.nope", "2" },
		{ "nope", "x" },
		{ "listen", "127.0.0.1 25" },
		{ "listen", "127.0.0.1  25 mx" },
		{ "listen", "127.0.0.1 25 mx extra" },
		{ "listen", "localhost 25 mx" },
		{ "transport", "a.example smtp 192.0.2.1" },
		{ "transport", "a.example\tsmtp\t192.0.2.1" },
		{ "transport", "a.example\tmaildir\t[192.0.2.1]:25" },
		{ "transport", "a.example\tsmtp\t[mx.a.example]:25\tx" },
		{ "transport", "a.example\tlmtp\tmx.a.example:24" },
		{ "transport", "a.example\terror\t5.1 gone" },
		{ "transport", "a.example\tsmtp\t[2001:db8::1:25" },
		{ "local-domain", "not a domain" },
		{ "relay-network", "192.0.2.1/24" },
		{ "hostname", "" },
		{ "user", "no body" },
	};
	struct conf	*c = conf_new();
	char		 err[512];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(conf_apply_item(c, bad[i][0], bad[i][1], err,
		    sizeof(err)) == -1, "%s=%s accepted", bad[i][0], bad[i][1]);
		ck_assert_msg(err[0] != '\0', "%s: no message", bad[i][0]);
	}
	ck_assert_ptr_null(c->listeners);
	ck_assert_ptr_null(c->transports);
	ck_assert_int_eq(conf_apply_item(c, NULL, "x", err, sizeof(err)), -1);
	conf_free(c);
}
END_TEST

/* --- errors from the file ------------------------------------------------ */

static const struct {
	const char	*text;
	int		 line;
	const char	*why;
	size_t		 nerr;		/* errors in all: no cascades */
} bad_cases[] = {
	{ "", 0, "no listen statement", 1 },
	{ "# only a comment\n", 0, "no listen statement", 1 },
	{ "hostname\n" LISTEN, 1, "hostname: missing value", 1 },
	{ LISTEN "hostname a b\n", 2, "one value expected", 1 },
	{ LISTEN "hostname \"mx example\"\n", 2, "is not a host name", 1 },
	{ LISTEN "hostname -mx.example\n", 2, "is not a host name", 1 },
	{ LISTEN "user \"root:x\"\n", 2, "is not a user name", 1 },
	{ LISTEN "spool \"\"\n", 2, "spool: the path is empty", 1 },
	{ LISTEN "frobnicate 1\n", 2, "unknown statement \"frobnicate\"", 1 },
	{ LISTEN "max-recipients 5\n", 2,
	    "max-recipients is a setting of smtpd { }, not of the top level",
	    1 },
	{ LISTEN "smtpd {\n\thostname x\n}\n", 3,
	    "hostname is a top-level setting, not part of smtpd { }", 1 },
	{ LISTEN "queue {\n\tprocesses 2\n}\n", 3,
	    "processes is a setting of smtpd { } or deliver { } or local { }",
	    1 },
	{ LISTEN "local-user \"a b\"\n", 2, "is not a user name", 1 },
	{ LISTEN "postmaster \"a%b@x.example\"\n", 2, "is not a mailbox", 1 },
	{ LISTEN "postmaster \"ops@X.example\"\n", 2, "is not a mailbox", 1 },
	{ LISTEN "smtpd {\n\tfoo 1\n}\n", 3, "unknown smtpd setting \"foo\"",
	    1 },
	{ LISTEN "smtpd {\n\tmax-recipients 0\n}\n", 3,
	    "smtpd max-recipients: 0 is less than the minimum, 1", 1 },
	{ LISTEN "smtpd { max-errors 10x }\n", 2,
	    "smtpd max-errors: \"10x\" is not a whole number", 1 },
	{ LISTEN "smtpd {\n\tprocesses 2\n}\nsmtpd {\n\tprocesses 3\n}\n", 6,
	    "smtpd processes is already set on line 3", 1 },
	{ LISTEN "queue {\n\tretry-min 2h\n\tretry-max 1h\n}\n", 4,
	    "retry-min (2h) is more than retry-max (1h)", 1 },
	{ LISTEN "queue {\n\tretry-max 1m\n}\n", 3,
	    "retry-min (5m) is more than retry-max (1m)", 1 },
	{ "listen on no-such-host.invalid port 25\n", 1,
	    "cannot look up \"no-such-host.invalid\"", 1 },
	{ "listen on 127.0.0.1 port 65536\n", 1, "port \"65536\"", 1 },
	{ "listen on 127.0.0.1 port 25 smtps\n", 1,
	    "unknown option \"smtps\"", 1 },
	{ "listen 127.0.0.1 25\n", 1,
	    "expected \"listen on ADDRESS port PORT [mx|submission|submissions]", 1 },
	{ "listen on 127.0.0.1 port 25 client-cert maybe\n", 1,
	    "client-cert \"maybe\" is neither request nor off", 1 },
	{ "listen on 127.0.0.1 port 25 pregreet 2m\n", 1,
	    "pregreet 2m is more than the maximum", 1 },
	{ "listen on 127.0.0.1 port 25 submissions\n", 1,
	    "a submissions listener needs a certificate", 1 },
	{ LISTEN "tls {\n\tcertificate a.crt\n}\n", 3,
	    "expected \"certificate CERTFILE KEYFILE\"", 1 },
	{ LISTEN "tls {\n\tsession-tickets maybe\n}\n", 3,
	    "\"maybe\" is neither yes nor no", 1 },
	{ "listen on 127.0.0.1 port 25 { }\n", 1, "listen takes no { } block",
	    1 },
	{ LISTEN "smtpd {\n\tprocesses 3\n}}\n", 4, "unexpected '}'", 1 },
	{ LISTEN "listen on 127.0.0.1 port 25 submission\n", 2,
	    "listen: 127.0.0.1 port 25 is given twice", 1 },
	{ LISTEN "listen on ::1 port 25\nlisten on 0:0:0:0:0:0:0:1 port 25\n",
	    3, "listen: ::1 port 25 is given twice", 1 },
	{ LISTEN "local-domains example.org\n", 2,
	    "local-domains needs a { } block", 1 },
	{ LISTEN "local-domains {\n\ta.example\n\tbad_name\n}\n", 4,
	    "local-domains: \"bad_name\" is not a domain name", 1 },
	{ LISTEN "relay-domains { a.example A.EXAMPLE }\n", 2,
	    "relay-domains: A.EXAMPLE is listed twice", 1 },
	{ LISTEN "relay-domains { 192.0.2.1 }\n", 2, "is not a domain name",
	    1 },
	{ LISTEN "relay-networks { 192.0.2.1/24 }\n", 2,
	    "192.0.2.1/24 has host bits set; the network is 192.0.2.0/24", 1 },
	{ LISTEN "relay-networks { 2001:db8::1/32 }\n", 2,
	    "the network is 2001:db8::/32", 1 },
	{ LISTEN "relay-networks { 10.0.0.0/33 }\n", 2,
	    "prefix length must be a number from 0 to 32", 1 },
	{ LISTEN "relay-networks { ::/129 }\n", 2,
	    "prefix length must be a number from 0 to 128", 1 },
	{ LISTEN "relay-networks { example.org }\n", 2,
	    "\"example.org\" is not an IPv4 or IPv6 address or network", 1 },
	{ LISTEN "relay-networks { 10.0.0.0/8 10.0.0.0/8 }\n", 2,
	    "10.0.0.0/8 is listed twice", 1 },
	{ LISTEN "transport {\n\tp.example smtp [mx_p.example]:25\n}\n", 3,
	    "\"mx_p.example\" is neither a host name nor a numeric", 1 },
	{ LISTEN "transport {\n\tp.example smtp mx.p.example:25:1\n}\n", 3,
	    "put the address in brackets", 1 },
	{ LISTEN "transport {\n\tp.example smtp 192.0.2.25:25\n}\n", 3,
	    "put the address in brackets, as [192.0.2.25]:25", 1 },
	{ LISTEN "transport {\n\tp.example smtp [192.0.2.25\n}\n", 3,
	    "\"[192.0.2.25\" is not [HOST] or [HOST]:PORT", 1 },
	{ LISTEN "transport {\n\tp.example smtp [192.0.2.25]:0\n}\n", 3,
	    "port \"0\"", 1 },
	{ LISTEN "transport {\n\tp.example maildir\n"
	    "\tP.example smtp [::1]\n}\n", 4,
	    "transport: P.example is listed twice", 1 },
	{ LISTEN "transport {\n\t* maildir\n\t* maildir\n}\n", 4,
	    "transport: * is listed twice", 1 },
	{ LISTEN "transport {\n\tp.example lmtp mx.p.example:24\n}\n", 3,
	    "lmtp needs [HOST]:PORT or unix:/PATH", 1 },
	{ LISTEN "transport {\n\tp.example frob [192.0.2.25]:24\n}\n", 3,
	    "unknown method \"frob\" (smtp, lmtp, maildir, discard or error)",
	    1 },
	{ LISTEN "transport {\n\tp.example\n}\n", 3,
	    "expected \"DOMAIN METHOD [NEXTHOP]\"", 1 },
	{ LISTEN "transport {\n\tp.example maildir now\n}\n", 3,
	    "transport: p.example: maildir now: not one path with %u", 1 },
	{ LISTEN "transport {\n\tp.example maildir /srv/mail/%u\n}\n", 0,
	    "maildir /srv/mail/%u must be under the maildir root", 1 },
	{ LISTEN "transport {\n\tp.example maildir a/../%u\n}\n", 3,
	    "maildir a/../%u: not one path with %u", 1 },
	{ LISTEN "transport {\n\tp.example maildir /var/mail/aval/../%u\n}\n",
	    0, "mailbox path component starts with '.'", 1 },
	{ LISTEN "transport {\n\tp.example discard now\n}\n", 3,
	    "p.example: discard takes no next hop", 1 },
	{ LISTEN "transport {\n\tp.example smtp a.example b.example\n}\n", 3,
	    "smtp takes one next hop", 1 },
	{ LISTEN "transport {\n\tp.example error\n}\n", 3,
	    "error needs a status code, 4.x.x or 5.x.x, and a text", 1 },
	{ LISTEN "transport {\n\tp.example error 2.0.0 fine\n}\n", 3,
	    "error needs a status code", 1 },
	{ LISTEN "transport {\n\tp.example error 5.1.1000 x\n}\n", 3,
	    "does not start with a status code and a text", 1 },
	{ LISTEN "transport {\n\tp.example error 5.1.1\n}\n", 3,
	    "does not start with a status code and a text", 1 },
	{ LISTEN "transport {\n\tp.example lmtp unix:/run/lmtp\n}\n", 0,
	    "the LMTP socket /run/lmtp must be under the maildir root", 1 },
	{ LISTEN "transport {\n\t-p.example maildir\n}\n", 3,
	    "\"-p.example\" is not a domain name, .domain or *", 1 },
	{ LISTEN "transport\n", 2, "transport needs a { } block", 1 },
	{ LISTEN "hostname { x }\n", 2, "hostname takes no { } block", 1 },
	{ LISTEN "frob {\n\tx\n}\n", 2, "unknown block \"frob\"", 1 },
	{ LISTEN "smtpd fast {\n\tprocesses 2\n}\n", 2,
	    "nothing goes between smtpd and its {", 1 },
	{ LISTEN "smtpd\n", 2, "smtpd needs a { } block", 1 },
	{ LISTEN "smtpd {\n\tprocesses 2 {\n}\n", 3, "syntax error", 1 },
	{ LISTEN "}\n", 2, "syntax error, unexpected '}'", 1 },
	{ LISTEN "smtpd {\n\tprocesses 2\n", 3, "unexpected end of file", 1 },
	{ LISTEN "smtpd {\n\tprocesses 2", 3, "unexpected end of file", 1 },
	{ LISTEN "hostname \"unterminated\n", 2, "unterminated quoted string",
	    1 },
	{ LISTEN "hostname \"a\\qb\"\n", 2, "unknown escape \\q", 1 },
	{ LISTEN "hostname a\001b\n", 2, "control character 0x01", 1 },
	{ LISTEN "hostname \"a\033b\"\n", 2, "control character 0x1b", 1 },
	{ LISTEN "hostname\fa\n", 2, "control character 0x0c", 1 },
};

START_TEST(a_bad_snippet_is_reported_once_at_its_line)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;

	c = conf_test_load(bad_cases[_i].text, &errs);
	ck_assert_msg(c == NULL, "case %d loaded", _i);
	ck_assert_msg(conf_test_has(&errs, bad_cases[_i].line,
	    bad_cases[_i].why), "case %d: no \"%d: ...%s\" in:%s", _i,
	    bad_cases[_i].line, bad_cases[_i].why, conf_test_dump(&errs));
	ck_assert_msg(errs.n == bad_cases[_i].nerr,
	    "case %d: %zu errors, not %zu:%s", _i, errs.n, bad_cases[_i].nerr,
	    conf_test_dump(&errs));
	ck_assert_msg(strncmp(errs.lines[0], tdir, strlen(tdir)) == 0,
	    "error does not start with the file name: %s", errs.lines[0]);
	conf_errors_clear(&errs);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_null(errs.lines);
}
END_TEST

START_TEST(every_error_in_a_file_is_collected_in_file_order)
{
	static const char text[] =
	    "hostname \"bad host\"\n"		/* 1 */
	    "listen on 127.0.0.1 port 25\n"
	    "smtpd {\n"
	    "\tmax-recipients 0\n"		/* 4 */
	    "\tprocesses 2 {\n"			/* 5: grammar */
	    "\tmax-errors 5\n"
	    "}\n"
	    "relay-networks { 192.0.2.1/24 10.0.0.0/8 ::1/200 }\n" /* 8, 8 */
	    "bogus\n"				/* 9 */
	    "queue { retry-min 1d\n"
	    "\tretry-max 1h }\n";		/* 11: cross-check */
	struct conf_errors	 errs = { NULL, 0 };
	static const int	 lines[] = { 1, 4, 5, 8, 8, 9, 11 };
	size_t			 i;
	char			 at[32];

	ck_assert_ptr_null(conf_test_load(text, &errs));
	ck_assert_msg(errs.n == 7, "%zu errors:%s", errs.n,
	    conf_test_dump(&errs));
	for (i = 0; i < errs.n; i++) {
		snprintf(at, sizeof(at), ":%d: ", lines[i]);
		ck_assert_msg(strstr(errs.lines[i], at) != NULL,
		    "error %zu is not on line %d:%s", i, lines[i],
		    conf_test_dump(&errs));
	}
	conf_errors_clear(&errs);
}
END_TEST

START_TEST(a_missing_file_is_one_error_at_line_zero)
{
	struct conf_errors	 errs = { NULL, 0 };
	char			*path;

	xasprintf(&path, "%s/nope.conf", tdir);
	ck_assert_ptr_null(conf_load(path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert(conf_test_has(&errs, 0, "nope.conf:0: cannot open"));
	conf_errors_clear(&errs);
	free(path);
	/* errs is optional. */
	ck_assert_ptr_null(conf_test_load("bogus\n", NULL));
}
END_TEST

START_TEST(a_word_longer_than_1024_bytes_is_an_error)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	char			*text, path[1100];

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[1024] = '\0';
	xasprintf(&text, LISTEN "spool %s\n", path);
	c = conf_test_load(text, &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_uint_eq(strlen(c->spool), 1024);
	conf_free(c);
	free(text);

	path[1024] = 'a';
	path[1099] = '\0';
	xasprintf(&text, LISTEN "spool \"%s\"\nspool x\n", path);
	ck_assert_ptr_null(conf_test_load(text, &errs));
	ck_assert_msg(errs.n == 1 && conf_test_has(&errs, 2,
	    "longer than 1024 bytes"), "%s", conf_test_dump(&errs));
	conf_errors_clear(&errs);
	free(text);
}
END_TEST

START_TEST(a_flood_of_errors_stops_after_a_thousand)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	size_t			 i, len = 0;
	char			*text = xcalloc(3000, 4);

	for (i = 0; i < 2500; i++)
		len += (size_t)snprintf(text + len, 12000 - len, "x%zu\n",
		    i % 10);
	c = conf_test_load(text, &errs);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 1001);
	ck_assert(strstr(errs.lines[1000], "too many errors") != NULL);
	conf_errors_clear(&errs);
	free(text);
}
END_TEST

START_TEST(nul_bytes_and_crlf_lines_are_handled)
{
	static const char	 nul[] = LISTEN "hostname a\0b\n";
	static const char	 crlf[] =
	    "listen on 127.0.0.1 port 25\r\n"
	    "local-domains { a.example }\r\n"
	    "smtpd {\r\n\tprocesses 3\r\n}\r\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	char			*path;

	path = conf_test_write("nul.conf", nul, sizeof(nul) - 1);
	ck_assert_ptr_null(conf_load(path, &errs));
	ck_assert_msg(errs.n == 1 && conf_test_has(&errs, 2,
	    "control character 0x00"), "%s", conf_test_dump(&errs));
	conf_errors_clear(&errs);
	free(path);

	c = conf_test_load(crlf, &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_int_eq(c->smtpd_processes, 3);
	ck_assert(conf_is_local_domain(c, "a.example"));
	conf_free(c);
}
END_TEST

/* --- what a good file gives ---------------------------------------------- */

START_TEST(the_full_example_loads_as_written)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	const struct conf_listen *l;

	c = conf_test_load(full_conf, &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_str_eq(c->hostname, "mx.example.org");
	ck_assert_ptr_nonnull(l = c->listeners);
	ck_assert_str_eq(l->addr, "0.0.0.0");
	ck_assert_uint_eq(l->port, 25);
	ck_assert_int_eq(l->kind, CONF_L_MX);
	ck_assert_int_eq(l->pregreet, 2);
	ck_assert_int_eq(l->flags, 0);
	ck_assert_ptr_nonnull(l = l->next);
	ck_assert_str_eq(l->addr, "::1");
	ck_assert_uint_eq(l->port, 587);
	ck_assert_int_eq(l->kind, CONF_L_SUBMISSION);
	ck_assert_int_eq(l->flags, CONF_LF_NO_CLIENT_CERT);
	ck_assert_ptr_null(l->next);
	ck_assert_ptr_nonnull(c->tls_certs);
	ck_assert_str_eq(c->tls_certs->cert, "/etc/aval/tls/mx.crt");
	ck_assert_str_eq(c->tls_certs->key, "/etc/aval/tls/mx.key");
	ck_assert_int_eq(c->tls_session_tickets, 0);
	ck_assert_int_eq(c->queue_max_message_size, 36700160);
	ck_assert_int_eq(c->queue_retry_max, 14400);
	ck_assert(conf_is_relay_domain(c, "x.sub.example"));
	ck_assert(!conf_is_relay_domain(c, "sub.example"));
	ck_assert_int_eq(conf_transport_lookup(c, "example.org")->kind,
	    CONF_T_MAILDIR);
	ck_assert_int_eq(conf_transport_lookup(c, "mail.example.org")->kind,
	    CONF_T_MAILDIR);
	ck_assert_str_eq(conf_transport_lookup(c, "partner.example")->host,
	    "192.0.2.25");
	ck_assert_uint_eq(conf_transport_lookup(c, "elsewhere.net")->port,
	    10025);
	conf_free(c);
}
END_TEST

START_TEST(relative_paths_are_made_absolute_against_the_working_directory)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	char			 old[4096], cwd[4096], want[4200];

	ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
	ck_assert_int_eq(chdir(tdir), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	c = conf_test_load(LISTEN "spool q\nruntime-dir \"./run/\"\n"
	    "maildir /abs/mail/\n", &errs);
	ck_assert_int_eq(chdir(old), 0);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	snprintf(want, sizeof(want), "%s/q", cwd);
	ck_assert_str_eq(c->spool, want);
	snprintf(want, sizeof(want), "%s/run", cwd);
	ck_assert_str_eq(c->runtime_dir, want);
	ck_assert_str_eq(c->maildir, "/abs/mail");
	conf_free(c);
}
END_TEST

START_TEST(the_default_text_is_the_documented_one)
{
	ck_assert_str_eq(conf_default_text(),
	    "# aval embedded development default: unprivileged ports, "
	    "everything under\n"
	    "# the working directory, mail for localhost and aval.test into "
	    "var/mail.\n"
	    "hostname\t\"localhost\"\n"
	    "spool\t\t\"var/spool\"\n"
	    "runtime-dir\t\"var/run\"\n"
	    "maildir\t\t\"var/mail\"\n"
	    "listen on 127.0.0.1 port 2525\n"
	    "listen on 127.0.0.1 port 2587 submission\n"
	    "listen on 127.0.0.1 port 2465 submissions\n"
	    "# sendmail(1) and build/sendmail submit here (mode 0666).\n"
	    "listen on unix \"var/run/submit.sock\" local\n"
	    "# Made by avald at first start: a development CA and a "
	    "certificate\n"
	    "# for localhost (var/tls/ca.crt is the CA to trust in clients).\n"
	    "tls {\n"
	    "\tcertificate\t\"var/tls/server.crt\" \"var/tls/server.key\"\n"
	    "}\n"
	    "local-domains\t{ localhost aval.test }\n"
	    "# Development: every local part of them gets a Maildir (the "
	    "default\n"
	    "# is no: only the postmaster, aliases and mailbox map users).\n"
	    "catch-all\tyes\n"
	    "relay-networks\t{ 127.0.0.0/8 ::1/128 }\n");
}
END_TEST

START_TEST(the_default_config_loads_with_its_listeners)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	const struct conf_listen *l;
	char			 cwd[4096], want[4200];

	c = conf_load_default(&errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_nonnull(l = c->listeners);
	ck_assert_str_eq(l->addr, "127.0.0.1");
	ck_assert_uint_eq(l->port, 2525);
	ck_assert_int_eq(l->kind, CONF_L_MX);
	ck_assert_ptr_nonnull(l = l->next);
	ck_assert_str_eq(l->addr, "127.0.0.1");
	ck_assert_uint_eq(l->port, 2587);
	ck_assert_int_eq(l->kind, CONF_L_SUBMISSION);
	ck_assert_ptr_nonnull(l = l->next);
	ck_assert_uint_eq(l->port, 2465);
	ck_assert_int_eq(l->kind, CONF_L_SUBMISSIONS);
	ck_assert_ptr_nonnull(l = l->next);
	ck_assert_int_eq(l->kind, CONF_L_LOCAL);
	ck_assert_ptr_null(l->next);
	ck_assert_ptr_nonnull(c->tls_certs);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/var/spool", cwd);
	ck_assert_str_eq(c->spool, want);
	snprintf(want, sizeof(want), "%s/var/mail", cwd);
	ck_assert_str_eq(c->maildir, want);
	ck_assert_str_eq(c->user, "aval");
	ck_assert(conf_is_local_domain(c, "aval.test"));
	ck_assert(conf_is_local_domain(c, "LOCALHOST"));
	ck_assert_int_eq(conf_transport_lookup(c, "aval.test")->kind,
	    CONF_T_MAILDIR);
	ck_assert_ptr_null(conf_transport_lookup(c, "example.org"));
	conf_free(c);
}
END_TEST

START_TEST(loading_twice_in_one_process_gives_the_same_config)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*a, *b;
	struct conf_test_items	 ia, ib;
	size_t			 i;

	a = conf_test_load(full_conf, &errs);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(conf_test_load(LISTEN "smtpd {\n\tx {\n", &errs));
	ck_assert_uint_gt(errs.n, 0);
	conf_errors_clear(&errs);
	b = conf_test_load(full_conf, &errs);
	ck_assert_msg(b != NULL, "%s", conf_test_dump(&errs));
	conf_test_items_get(a, &ia);
	conf_test_items_get(b, &ib);
	ck_assert_uint_eq(ia.n, ib.n);
	for (i = 0; i < ia.n; i++)
		ck_assert_str_eq(ia.kv[i], ib.kv[i]);
	conf_test_items_free(&ia);
	conf_test_items_free(&ib);
	conf_free(a);
	conf_free(b);
}
END_TEST

/* --- the local listener ------------------------------------------------ */

static void	conf_test_roundtrip(struct conf *);

START_TEST(listen_on_unix_is_a_local_listener_with_an_absolute_path)
{
	struct conf_errors		 errs = { NULL, 0 };
	const struct conf_listen	*l;
	struct conf			*c;
	struct conf_test_items		 it;
	char				*want;

	c = conf_test_load("listen on unix \"run/with space.sock\" local\n"
	    "listen on unix \"/run/b.sock\"\n", &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_ptr_nonnull(l = conf_listen_local(c));
	ck_assert_int_eq(l->kind, CONF_L_LOCAL);
	ck_assert_uint_eq(l->port, 0);
	ck_assert(l->addr[0] == '/');
	ck_assert_ptr_nonnull(strstr(l->addr, "/run/with space.sock"));
	conf_test_items_get(c, &it);
	xasprintf(&want, "listen-local=%s", l->addr);
	ck_assert(conf_test_items_has(&it, want));
	ck_assert(conf_test_items_has(&it, "listen-local=/run/b.sock"));
	free(want);
	conf_test_items_free(&it);
	conf_test_roundtrip(c);
	conf_free(c);
	/* The default has one, next to the control socket. */
	ck_assert_ptr_nonnull(c = conf_load_default(&errs));
	ck_assert_ptr_nonnull(l = conf_listen_local(c));
	ck_assert_ptr_nonnull(strstr(l->addr, "/var/run/submit.sock"));
	conf_free(c);
}
END_TEST

static const char *const local_bad[] = {
	"listen on unix\n",
	"listen on unix \"/a.sock\" mx\n",
	"listen on unix \"/a.sock\" local extra\n",
	"listen on 127.0.0.1 port 25 local\n",
	"listen on unix \"/a.sock\"\nlisten on unix \"/a.sock\"\n",
	"listen on unix \"/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
};

START_TEST(bad_local_listeners_are_refused)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;

	c = conf_test_load(local_bad[_i], &errs);
	ck_assert_msg(c == NULL, "accepted: %s", local_bad[_i]);
	conf_errors_clear(&errs);
}
END_TEST

/* --- items round trip ---------------------------------------------------- */

/* conf_test_roundtrip - load, items, apply to a new config, items again */
static void
conf_test_roundtrip(struct conf *c)
{
	struct conf_test_items	 a, b;
	struct conf		*w = conf_new();
	char			 key[64], err[512];
	size_t			 i;

	conf_test_items_get(c, &a);
	for (i = 0; i < a.n; i++) {
		const char	*eq = strchr(a.kv[i], '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - a.kv[i]),
		    a.kv[i]);
		ck_assert_msg(conf_apply_item(w, key, eq + 1, err,
		    sizeof(err)) == 0, "%s: %s", a.kv[i], err);
	}
	conf_test_items_get(w, &b);
	ck_assert_uint_eq(a.n, b.n);
	for (i = 0; i < a.n; i++)
		ck_assert_str_eq(a.kv[i], b.kv[i]);
	conf_test_items_free(&a);
	conf_test_items_free(&b);
	conf_free(w);
}

START_TEST(items_rebuild_the_same_config_in_a_worker)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	struct conf_test_items	 it;

	c = conf_test_load(full_conf, &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	conf_test_items_get(c, &it);
	ck_assert(conf_test_items_has(&it, "listen=0.0.0.0 25 mx request 2"));
	ck_assert(conf_test_items_has(&it,
	    "listen=::1 587 submission off 0"));
	ck_assert(conf_test_items_has(&it, "tls-certificate="
	    "/etc/aval/tls/mx.crt\t/etc/aval/tls/mx.key"));
	ck_assert(conf_test_items_has(&it, "tls.session-tickets=no"));
	ck_assert(conf_test_items_has(&it, "relay-domain=.sub.example"));
	ck_assert(conf_test_items_has(&it, "relay-network=192.0.2.0/24"));
	ck_assert(conf_test_items_has(&it, "relay-network=::1/128"));
	ck_assert(conf_test_items_has(&it,
	    "transport=partner.example\tsmtp\t[192.0.2.25]:25"));
	ck_assert(conf_test_items_has(&it,
	    "transport=example.org\tmaildir\t"));
	ck_assert(conf_test_items_has(&it,
	    "transport=mail.example.org\tmaildir\t"));
	ck_assert(conf_test_items_has(&it, "smtpd.data-timeout=600"));
	conf_test_items_free(&it);
	conf_test_roundtrip(c);
	conf_free(c);

	ck_assert_ptr_nonnull(c = conf_load_default(&errs));
	conf_test_roundtrip(c);
	conf_free(c);

	c = conf_test_load(LISTEN "relay-networks { 0.0.0.0/0 ::/0 "
	    "2001:DB8:0:0::0/64 ::ffff:192.0.2.0/120 10.1.2.3 }\n"
	    "transport {\n\t.Sub.Example smtp [2001:db8::0001]\n}\n", &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	conf_test_items_get(c, &it);
	ck_assert(conf_test_items_has(&it, "relay-network=2001:db8::/64"));
	ck_assert(conf_test_items_has(&it, "relay-network=10.1.2.3/32"));
	ck_assert(conf_test_items_has(&it,
	    "transport=.sub.example\tsmtp\t[2001:db8::1]:25"));
	conf_test_items_free(&it);
	conf_test_roundtrip(c);
	conf_free(c);
}
END_TEST

START_TEST(items_accept_the_units_of_the_file_too)
{
	static const char *const kv[] = {
		"queue.max-message-size=35M", "smtpd.command-timeout=2m",
		NULL
	};
	struct conf	*c = conf_new();

	conf_test_apply(c, kv);
	ck_assert_int_eq(c->queue_max_message_size, 36700160);
	ck_assert_int_eq(c->smtpd_command_timeout, 120);
	conf_free(c);
}
END_TEST

/* --- lookups ------------------------------------------------------------- */

START_TEST(domain_lists_match_exactly_or_by_subdomain_ignoring_case)
{
	static const char *const kv[] = {
		"local-domain=Example.ORG", "local-domain=.sub.example",
		"relay-domain=partner.example", NULL
	};
	struct conf	*c = conf_new();

	conf_test_apply(c, kv);
	ck_assert_str_eq(c->local_domains->name, "example.org");
	ck_assert_int_eq(conf_is_local_domain(c, "example.org"), 1);
	ck_assert_int_eq(conf_is_local_domain(c, "EXAMPLE.org"), 1);
	ck_assert_int_eq(conf_is_local_domain(c, "mail.example.org"), 0);
	ck_assert_int_eq(conf_is_local_domain(c, "badexample.org"), 0);
	ck_assert_int_eq(conf_is_local_domain(c, "a.sub.example"), 1);
	ck_assert_int_eq(conf_is_local_domain(c, "B.A.SUB.EXAMPLE"), 1);
	ck_assert_int_eq(conf_is_local_domain(c, "sub.example"), 0);
	ck_assert_int_eq(conf_is_local_domain(c, "notsub.example"), 0);
	ck_assert_int_eq(conf_is_local_domain(c, ".sub.example"), 0);
	ck_assert_int_eq(conf_is_local_domain(c, "partner.example"), 0);
	ck_assert_int_eq(conf_is_relay_domain(c, "Partner.Example"), 1);
	ck_assert_int_eq(conf_is_relay_domain(c, "x.partner.example"), 0);
	ck_assert_int_eq(conf_is_relay_domain(c, "example.org"), 0);
	ck_assert_int_eq(conf_is_relay_domain(c, NULL), 0);
	conf_free(c);
}
END_TEST

/* conf_test_in - 1 if the textual address is in the relay networks */
static int
conf_test_in(const struct conf *c, const char *addr)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return conf_in_relay_networks(c, (struct sockaddr *)&sin);
	}
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
	sin6.sin6_family = AF_INET6;
	return conf_in_relay_networks(c, (struct sockaddr *)&sin6);
}

START_TEST(relay_networks_match_ipv4_ipv6_and_mapped_addresses)
{
	static const char *const kv[] = {
		"relay-network=192.0.2.0/24", "relay-network=10.0.0.0/9",
		"relay-network=198.51.100.7", "relay-network=2001:db8::/33",
		"relay-network=::1/128", NULL
	};
	static const char *const everything[] = {
		"relay-network=0.0.0.0/0", NULL
	};
	struct conf		*c = conf_new(), *all = conf_new();
	struct sockaddr		 sa;

	conf_test_apply(c, kv);
	ck_assert_int_eq(conf_test_in(c, "192.0.2.0"), 1);
	ck_assert_int_eq(conf_test_in(c, "192.0.2.255"), 1);
	ck_assert_int_eq(conf_test_in(c, "192.0.3.1"), 0);
	ck_assert_int_eq(conf_test_in(c, "10.127.255.255"), 1);
	ck_assert_int_eq(conf_test_in(c, "10.128.0.0"), 0);
	ck_assert_int_eq(conf_test_in(c, "198.51.100.7"), 1);
	ck_assert_int_eq(conf_test_in(c, "198.51.100.8"), 0);
	ck_assert_int_eq(conf_test_in(c, "2001:db8:7fff::1"), 1);
	ck_assert_int_eq(conf_test_in(c, "2001:db8:8000::1"), 0);
	ck_assert_int_eq(conf_test_in(c, "::1"), 1);
	ck_assert_int_eq(conf_test_in(c, "::2"), 0);
	ck_assert_int_eq(conf_test_in(c, "::ffff:192.0.2.77"), 1);
	ck_assert_int_eq(conf_test_in(c, "::ffff:10.200.0.1"), 0);
	/* Only the mapped form counts: ::192.0.2.77 is not IPv4. */
	ck_assert_int_eq(conf_test_in(c, "::192.0.2.77"), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(conf_in_relay_networks(c, &sa), 0);
	ck_assert_int_eq(conf_in_relay_networks(c, NULL), 0);

	ck_assert_int_eq(conf_test_in(all, "127.0.0.1"), 0);
	conf_test_apply(all, everything);
	ck_assert_int_eq(conf_test_in(all, "203.0.113.9"), 1);
	ck_assert_int_eq(conf_test_in(all, "::ffff:203.0.113.9"), 1);
	ck_assert_int_eq(conf_test_in(all, "2001:db8::1"), 0);
	conf_free(c);
	conf_free(all);
}
END_TEST

START_TEST(transport_lookup_tries_domain_then_parents_then_star)
{
	static const char *const kv[] = {
		"transport=example.org\tsmtp\t[192.0.2.1]:25",
		"transport=.example.org\tsmtp\t[192.0.2.2]:25",
		"transport=.org\tsmtp\t[192.0.2.3]:25",
		"transport=b.example.org\tmaildir\t",
		"transport=*\tsmtp\t[192.0.2.4]:2525",
		NULL
	};
	static const char *const subs[] = {
		"transport=.example.org\tsmtp\t[192.0.2.2]:25", NULL
	};
	struct conf			*c = conf_new(), *nostar = conf_new();
	const struct conf_transport	*t;

	conf_test_apply(c, kv);
	ck_assert_str_eq(conf_transport_lookup(c, "example.org")->host,
	    "192.0.2.1");
	ck_assert_str_eq(conf_transport_lookup(c, "EXAMPLE.ORG")->host,
	    "192.0.2.1");
	ck_assert_str_eq(conf_transport_lookup(c, "a.example.org")->host,
	    "192.0.2.2");
	ck_assert_int_eq(conf_transport_lookup(c, "b.example.org")->kind,
	    CONF_T_MAILDIR);
	ck_assert_str_eq(conf_transport_lookup(c, "c.b.example.org")->host,
	    "192.0.2.2");
	ck_assert_str_eq(conf_transport_lookup(c, "x.org")->host,
	    "192.0.2.3");
	ck_assert_str_eq(conf_transport_lookup(c, "org")->host, "192.0.2.4");
	t = conf_transport_lookup(c, "example.net");
	ck_assert_str_eq(t->domain, "*");
	ck_assert_str_eq(t->host, "192.0.2.4");
	ck_assert_uint_eq(t->port, 2525);

	conf_test_apply(nostar, subs);
	ck_assert_ptr_null(conf_transport_lookup(nostar, "example.net"));
	ck_assert_ptr_null(conf_transport_lookup(nostar, "example.org"));
	ck_assert_str_eq(conf_transport_lookup(nostar, "a.example.org")->host,
	    "192.0.2.2");
	conf_free(c);
	conf_free(nostar);
}
END_TEST

START_TEST(transport_methods_read_as_documented)
{
	struct conf_errors		 errs = { NULL, 0 };
	struct conf			*c;
	const struct conf_transport	*t;
	struct conf_test_items		 it;

	c = conf_test_load(LISTEN
	    "transport {\n"
	    "\ta.example\tsmtp\n"
	    "\tb.example\tsmtp Relay.B.Example\n"
	    "\tc.example\tsmtp relay.c.example:2525\n"
	    "\td.example\tsmtp [relay.d.example]\n"
	    "\te.example\tsmtp:[192.0.2.5]:26\n"
	    "\tf.example\tlmtp [::1]:24\n"
	    "\tg.example\tlmtp unix:/var/mail/aval/.lmtp/dovecot\n"
	    "\th.example\tdiscard\n"
	    "\ti.example\terror 5.1.1 \"no such domain here\"\n"
	    "\tj.example\terror:4.3.2 back soon\n"
	    "\tk.example\tmaildir:/var/mail/aval/k/%u\n"
	    "}\n", &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));

	t = conf_transport_lookup(c, "a.example");
	ck_assert_int_eq(t->kind, CONF_T_SMTP);
	ck_assert_ptr_null(t->host);
	ck_assert_int_eq(t->mx, 1);
	t = conf_transport_lookup(c, "b.example");
	ck_assert_str_eq(t->host, "relay.b.example");
	ck_assert_int_eq(t->mx, 1);
	ck_assert_uint_eq(t->port, 25);
	t = conf_transport_lookup(c, "c.example");
	ck_assert_int_eq(t->mx, 1);
	ck_assert_uint_eq(t->port, 2525);
	t = conf_transport_lookup(c, "d.example");
	ck_assert_int_eq(t->mx, 0);
	ck_assert_int_eq(t->numeric, 0);
	t = conf_transport_lookup(c, "e.example");
	ck_assert_str_eq(t->host, "192.0.2.5");
	ck_assert_int_eq(t->numeric, 1);
	ck_assert_uint_eq(t->port, 26);
	t = conf_transport_lookup(c, "f.example");
	ck_assert_int_eq(t->kind, CONF_T_LMTP);
	ck_assert_uint_eq(t->port, 24);
	t = conf_transport_lookup(c, "g.example");
	ck_assert_int_eq(t->kind, CONF_T_LMTP);
	ck_assert_str_eq(t->host, "/var/mail/aval/.lmtp/dovecot");
	ck_assert_uint_eq(t->port, 0);
	ck_assert_int_eq(conf_transport_lookup(c, "h.example")->kind,
	    CONF_T_DISCARD);
	t = conf_transport_lookup(c, "i.example");
	ck_assert_int_eq(t->kind, CONF_T_ERROR);
	ck_assert_str_eq(t->dsn, "5.1.1");
	ck_assert_str_eq(t->text, "no such domain here");
	ck_assert_str_eq(conf_transport_lookup(c, "j.example")->dsn, "4.3.2");
	t = conf_transport_lookup(c, "k.example");
	ck_assert_int_eq(t->kind, CONF_T_MAILDIR);
	ck_assert_str_eq(t->host, "k/%u");

	conf_test_items_get(c, &it);
	ck_assert(conf_test_items_has(&it, "transport=a.example\tsmtp\t"));
	ck_assert(conf_test_items_has(&it,
	    "transport=b.example\tsmtp\trelay.b.example:25"));
	ck_assert(conf_test_items_has(&it,
	    "transport=d.example\tsmtp\t[relay.d.example]:25"));
	ck_assert(conf_test_items_has(&it,
	    "transport=g.example\tlmtp\tunix:/var/mail/aval/.lmtp/dovecot"));
	ck_assert(conf_test_items_has(&it,
	    "transport=i.example\terror\t5.1.1 no such domain here"));
	ck_assert(conf_test_items_has(&it,
	    "transport=k.example\tmaildir\tk/%u"));
	conf_test_items_free(&it);
	conf_test_roundtrip(c);
	conf_free(c);
}
END_TEST

START_TEST(local_domains_without_a_route_get_maildir)
{
	struct conf_errors		 errs = { NULL, 0 };
	struct conf			*c;
	const struct conf_transport	*t;

	c = conf_test_load(LISTEN
	    "local-domains { example.org .sub.example other.example }\n"
	    "transport {\n"
	    "\tother.example\tsmtp [192.0.2.9]:25\n"
	    "\t*\t\tsmtp [192.0.2.1]:25\n"
	    "}\n", &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_int_eq(conf_transport_lookup(c, "example.org")->kind,
	    CONF_T_MAILDIR);
	ck_assert_int_eq(conf_transport_lookup(c, "a.sub.example")->kind,
	    CONF_T_MAILDIR);
	ck_assert_str_eq(conf_transport_lookup(c, "other.example")->host,
	    "192.0.2.9");
	ck_assert_str_eq(conf_transport_lookup(c, "example.net")->host,
	    "192.0.2.1");
	/* The added routes follow the file's, in local-domains order. */
	t = c->transports;
	ck_assert_str_eq(t->domain, "other.example");
	ck_assert_str_eq((t = t->next)->domain, "*");
	ck_assert_str_eq((t = t->next)->domain, "example.org");
	ck_assert_str_eq((t = t->next)->domain, ".sub.example");
	ck_assert_ptr_null(t->next);
	conf_free(c);
}
END_TEST

/* --- drift between the table, etc/aval.conf and docs --------------------- */

static const char *
conf_test_type(enum conf_type t)
{
	switch (t) {
	case CONF_STRING:
		return "string";
	case CONF_PATH:
		return "path";
	case CONF_COUNT:
		return "count";
	case CONF_SIZE:
		return "size";
	case CONF_DURATION:
		return "duration";
	case CONF_BOOL:
		return "yes/no";
	}
	return "?";
}

/* conf_test_num - a limit as docs/configuration.md writes it */
static const char *
conf_test_num(enum conf_type t, long long v, char *buf, size_t len)
{
	static const struct {
		enum conf_type	 t;
		long long	 m;
		const char	*u;
	} u[] = {
		{ CONF_SIZE, 1LL << 30, "G" }, { CONF_SIZE, 1LL << 20, "M" },
		{ CONF_SIZE, 1LL << 10, "K" }, { CONF_DURATION, 86400, "d" },
		{ CONF_DURATION, 3600, "h" }, { CONF_DURATION, 60, "m" },
		{ CONF_DURATION, 1, "s" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (u[i].t == t && v % u[i].m == 0) {
			snprintf(buf, len, "%lld%s", v / u[i].m, u[i].u);
			return buf;
		}
	snprintf(buf, len, "%lld", v);
	return buf;
}

/* conf_test_trim - s without leading blanks */
static const char *
conf_test_trim(const char *s)
{
	return s + strspn(s, " \t");
}

START_TEST(etc_aval_conf_shows_every_setting_with_default_and_description)
{
	char	*text = conf_test_slurp("etc/aval.conf");
	size_t	 i;

	for (i = 0; i < conf_table_len; i++) {
		const struct conf_row	*r = &conf_table[i];
		char			*copy = xstrdup(text), *line, *save;
		char			 block[64] = "", prev[512] = "";
		char			 want[512], desc[512];
		int			 found = 0;

		/* "#name<blanks>default", or the default in quotes. */
		snprintf(desc, sizeof(desc), "# %s", r->desc);
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			const char	*t = conf_test_trim(line);
			char		 name[64], value[256];
			size_t		 n = strlen(t);

			/* A block opens on "name {" and closes on "}". */
			while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
				n--;
			if (t[0] == '}') {
				block[0] = '\0';
			} else if (t[0] != '#' && n > 0 && t[n - 1] == '{' &&
			    sscanf(t, "%63[a-z-]", name) == 1) {
				snprintf(block, sizeof(block), "%s", name);
			} else if (t[0] == '#' &&
			    sscanf(t + 1, "%63[a-z-]%*[ \t]%255s", name,
			    value) == 2 && strcmp(name, r->name) == 0 &&
			    strcmp(block, r->block ? r->block : "") == 0) {
				n = strlen(value);
				if (n >= 2 && value[0] == '"' &&
				    value[n - 1] == '"') {
					memmove(value, value + 1, n - 2);
					value[n - 2] = '\0';
				}
				if (strcmp(value, r->def) == 0 &&
				    strcmp(prev, desc) == 0)
					found = 1;
			}
			snprintf(prev, sizeof(prev), "%s", t);
		}
		if (r->block != NULL)
			snprintf(want, sizeof(want), "inside %s { }", r->block);
		else
			snprintf(want, sizeof(want), "at the top level");
		ck_assert_msg(found, "etc/aval.conf: expected, %s, the line "
		    "\"%s\" and under it \"#%s\t%s\"", want, desc, r->name,
		    r->def);
		free(copy);
	}
	free(text);
}
END_TEST

START_TEST(docs_configuration_md_has_a_row_for_every_setting)
{
	char	*text = conf_test_slurp("docs/configuration.md");
	size_t	 i;

	for (i = 0; i < conf_table_len; i++) {
		const struct conf_row	*r = &conf_table[i];
		char			 key[64], lo[32], hi[32], want[512];
		int			 str;

		str = r->type == CONF_STRING || r->type == CONF_PATH;
		if (r->block == NULL)
			snprintf(key, sizeof(key), "%s", r->name);
		else
			snprintf(key, sizeof(key), "%s.%s", r->block, r->name);
		snprintf(want, sizeof(want),
		    "\n| `%s` | %s | `%s` | %s | %s | %s |\n", key,
		    conf_test_type(r->type), r->def,
		    str ? "-" : conf_test_num(r->type, r->min, lo, sizeof(lo)),
		    str ? "-" : conf_test_num(r->type, r->max, hi, sizeof(hi)),
		    r->desc);
		ck_assert_msg(strstr(text, want) != NULL,
		    "docs/configuration.md lacks the line%s", want);
	}
	ck_assert_msg(strstr(text, conf_default_text()) != NULL,
	    "docs/configuration.md does not show the embedded default");
	free(text);
}
END_TEST

START_TEST(etc_aval_conf_loads_without_errors)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	char			*path;

	xasprintf(&path, "%s/etc/aval.conf", harness_srcdir());
	c = conf_load(path, &errs);
	ck_assert_msg(c != NULL, "%s", conf_test_dump(&errs));
	ck_assert_ptr_nonnull(c->listeners);
	ck_assert(conf_is_local_domain(c, "localhost"));
	conf_test_roundtrip(c);
	conf_free(c);
	free(path);
}
END_TEST

Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc;

	tc = tcase_create("values");
	tcase_add_test(tc, a_new_config_has_every_scalar_at_its_default);
	tcase_add_loop_test(tc,
	    postmaster_and_postmaster_at_a_local_domain_are_rewritten_once, 0,
	    sizeof(postmaster_cases) / sizeof(postmaster_cases[0]));
	tcase_add_test(tc,
	    a_bare_postmaster_without_local_domains_gets_the_hostname);
	tcase_add_test(tc, every_row_has_a_default_inside_its_range);
	tcase_add_test(tc, items_of_a_new_config_are_the_table_in_base_units);
	tcase_add_loop_test(tc, numbers_take_their_units_and_stay_in_range, 0,
	    sizeof(value_cases) / sizeof(value_cases[0]));
	tcase_add_test(tc, items_that_are_not_items_are_refused);
	tcase_add_test(tc, items_accept_the_units_of_the_file_too);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, conf_test_setup, conf_test_teardown);
	tcase_add_loop_test(tc, a_bad_snippet_is_reported_once_at_its_line, 0,
	    sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, every_error_in_a_file_is_collected_in_file_order);
	tcase_add_test(tc, a_missing_file_is_one_error_at_line_zero);
	tcase_add_test(tc, a_word_longer_than_1024_bytes_is_an_error);
	tcase_add_test(tc, a_flood_of_errors_stops_after_a_thousand);
	tcase_add_test(tc, nul_bytes_and_crlf_lines_are_handled);
	tcase_add_test(tc, the_full_example_loads_as_written);
	tcase_add_test(tc,
	    relative_paths_are_made_absolute_against_the_working_directory);
	tcase_add_test(tc, the_default_text_is_the_documented_one);
	tcase_add_test(tc, the_default_config_loads_with_its_listeners);
	tcase_add_test(tc, loading_twice_in_one_process_gives_the_same_config);
	tcase_add_test(tc, items_rebuild_the_same_config_in_a_worker);
	tcase_add_test(tc, transport_methods_read_as_documented);
	tcase_add_test(tc, local_domains_without_a_route_get_maildir);
	tcase_add_test(tc, listen_on_unix_is_a_local_listener_with_an_absolute_path);
	tcase_add_loop_test(tc, bad_local_listeners_are_refused, 0,
	    sizeof(local_bad) / sizeof(local_bad[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("lookups");
	tcase_add_test(tc,
	    domain_lists_match_exactly_or_by_subdomain_ignoring_case);
	tcase_add_test(tc, relay_networks_match_ipv4_ipv6_and_mapped_addresses);
	tcase_add_test(tc,
	    transport_lookup_tries_domain_then_parents_then_star);
	suite_add_tcase(s, tc);

	tc = tcase_create("drift");
	tcase_add_test(tc,
	    etc_aval_conf_shows_every_setting_with_default_and_description);
	tcase_add_test(tc, docs_configuration_md_has_a_row_for_every_setting);
	tcase_add_test(tc, etc_aval_conf_loads_without_errors);
	suite_add_tcase(s, tc);
	return s;
}
