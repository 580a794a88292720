/*
 * check_route - which agent and destination each domain's mail goes to
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "queue/route.h"
#include "tests/unit/harness.h"

/* The transport table every case below is looked up in. */
static const char *const route_transports[] = {
	"relay.example\tsmtp\t[192.0.2.25]:25",
	"v6.example\tsmtp\t[2001:db8::1]:2525",
	".sub.example\tsmtp\t[192.0.2.26]:587",
	"mail.example\tmaildir\t",
	"local.example\tmaildir\t",
	"smart.example\tsmtp\tsmarthost.example.net:587",
	"mx.example\tsmtp\t",
	"store.example\tlmtp\t[192.0.2.40]:24",
	"sock.example\tlmtp\tunix:/run/lmtp",
	"null.example\tdiscard\t",
	"gone.example\terror\t5.1.2 moved away",
	"*\tsmtp\t[127.0.0.1]:10025",
};

static const struct {
	const char		*domain;
	enum route_agent	 agent;
	const char		*dest;
	int			 rv;
} route_cases[] = {
	{ "relay.example", ROUTE_DELIVER, "[192.0.2.25]:25", 1 },
	{ "v6.example", ROUTE_DELIVER, "[2001:db8::1]:2525", 1 },
	{ "a.sub.example", ROUTE_DELIVER, "[192.0.2.26]:587", 1 },
	{ "mail.example", ROUTE_LOCAL, "local", 1 },
	{ "MAIL.Example", ROUTE_LOCAL, "local", 1 },
	{ "local.example", ROUTE_LOCAL, "local", 1 },
	{ "other.example", ROUTE_DELIVER, "[127.0.0.1]:10025", 1 },
	{ "sub.example", ROUTE_DELIVER, "[127.0.0.1]:10025", 1 },
	{ "smart.example", ROUTE_DELIVER, "smarthost.example.net:587", 1 },
	{ "mx.example", ROUTE_DELIVER, "mx.example", 1 },
	{ "store.example", ROUTE_DELIVER, "lmtp:[192.0.2.40]:24", 1 },
	{ "sock.example", ROUTE_LOCAL, "lmtp:unix:/run/lmtp", 1 },
	{ "null.example", ROUTE_DELIVER, "discard", 1 },
	{ "gone.example", ROUTE_DELIVER, "error", 1 },
};

static struct conf *
route_test_conf(int with_default)
{
	struct conf	*c = conf_new();
	char		 err[256];
	size_t		 i, n;

	n = sizeof(route_transports) / sizeof(route_transports[0]);
	for (i = 0; i < n; i++) {
		if (!with_default && route_transports[i][0] == '*')
			continue;
		ck_assert_msg(conf_apply_item(c, "transport",
		    route_transports[i], err, sizeof(err)) == 0, "%s: %s",
		    route_transports[i], err);
	}
	return c;
}

START_TEST(each_transport_kind_routes_to_its_agent_and_next_hop)
{
	struct conf		*c = route_test_conf(1);
	enum route_agent	 agent = ROUTE_LOCAL + 1;
	char			 dest[ROUTE_DEST_MAX];
	int			 rv;

	rv = route_lookup(c, route_cases[_i].domain, &agent, dest,
	    sizeof(dest));
	ck_assert_int_eq(rv, route_cases[_i].rv);
	ck_assert_msg(agent == route_cases[_i].agent, "%s went to %s",
	    route_cases[_i].domain, route_agent_name(agent));
	ck_assert_str_eq(dest, route_cases[_i].dest);
	conf_free(c);
}
END_TEST

START_TEST(a_domain_without_transport_goes_to_deliver_under_its_own_name)
{
	struct conf		*c = route_test_conf(0);
	enum route_agent	 agent = ROUTE_LOCAL;
	char			 dest[ROUTE_DEST_MAX];

	ck_assert_int_eq(route_lookup(c, "nowhere.example", &agent, dest,
	    sizeof(dest)), 0);
	ck_assert_int_eq(agent, ROUTE_DELIVER);
	ck_assert_str_eq(dest, "nowhere.example");
	conf_free(c);
}
END_TEST

START_TEST(a_destination_that_does_not_fit_is_an_error_not_a_cut_name)
{
	struct conf		*c = route_test_conf(1);
	enum route_agent	 agent;
	char			 dest[8];

	ck_assert_int_eq(route_lookup(c, "relay.example", &agent, dest,
	    sizeof(dest)), -1);
	ck_assert_int_eq(route_lookup(c, "mail.example", &agent, dest,
	    sizeof(dest)), 1);
	ck_assert_str_eq(dest, "local");
	conf_free(c);
}
END_TEST

START_TEST(each_agent_is_its_own_process_kind)
{
	ck_assert_int_eq(route_agent_proc(ROUTE_DELIVER), PROC_DELIVER);
	ck_assert_int_eq(route_agent_proc(ROUTE_LOCAL), PROC_LOCAL);
	ck_assert_str_eq(route_agent_name(ROUTE_DELIVER), "deliver");
	ck_assert_str_eq(route_agent_name(ROUTE_LOCAL), "local");
}
END_TEST

Suite *
route_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc = tcase_create("lookup");

	tcase_add_loop_test(tc,
	    each_transport_kind_routes_to_its_agent_and_next_hop, 0,
	    sizeof(route_cases) / sizeof(route_cases[0]));
	tcase_add_test(tc,
	    a_domain_without_transport_goes_to_deliver_under_its_own_name);
	tcase_add_test(tc,
	    a_destination_that_does_not_fit_is_an_error_not_a_cut_name);
	tcase_add_test(tc, each_agent_is_its_own_process_kind);
	suite_add_tcase(s, tc);
	return s;
}
