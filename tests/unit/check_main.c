/*
 * check_main - the unit test runner: every module's suite, TAP and a summary
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/harness.h"


int
main(void)
{
	SRunner		*sr;
	FILE		*f;
	const char	*summary;
	int		 failed, run;

	sr = srunner_create(buf_suite());
	srunner_add_suite(sr, ipc_suite());
	srunner_add_suite(sr, qid_suite());
	srunner_add_suite(sr, conf_suite());
	srunner_add_suite(sr, conf_local_suite());
	srunner_add_suite(sr, addr_suite());
	srunner_add_suite(sr, xtext_suite());
	srunner_add_suite(sr, smtpd_cmd_suite());
	srunner_add_suite(sr, passwd_suite());
	srunner_add_suite(sr, smtpd_auth_suite());
	srunner_add_suite(sr, queue_rec_suite());
	srunner_add_suite(sr, queue_store_suite());
	srunner_add_suite(sr, queue_dsn_suite());
	srunner_add_suite(sr, deliver_suite());
	srunner_add_suite(sr, smtpd_limit_suite());
	srunner_add_suite(sr, tls_suite());
	srunner_add_suite(sr, smtpd_data_suite());
	srunner_add_suite(sr, sched_suite());
	srunner_add_suite(sr, master_backoff_suite());
	srunner_add_suite(sr, window_suite());
	srunner_add_suite(sr, sendmail_msg_suite());
	srunner_add_suite(sr, dns_suite());
	srunner_add_suite(sr, deliver_tls_suite());
	srunner_add_suite(sr, route_suite());
	srunner_add_suite(sr, tlsstore_suite());
	srunner_add_suite(sr, fed_bundle_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, fedhealth_suite());
	srunner_add_suite(sr, fedfetch_suite());
	srunner_add_suite(sr, dnswl_suite());
	srunner_add_suite(sr, fedtrust_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	printf("unit: %d passed, %d failed\n", run - failed, failed);
	/* make check adds up every runner's line from this file. */
	if ((summary = getenv("AVAL_SUMMARY")) != NULL &&
	    (f = fopen(summary, "a")) != NULL) {
		fprintf(f, "%d %d\n", run - failed, failed);
		fclose(f);
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
