/*
 * harness - what the unit tests share
 *
 * Every suite is declared here and added by check_main.c. harness_log_*
 * capture what the code under test logs (through log_capture_hook), so a
 * test can assert that a line was logged. harness_tmpdir() makes a fresh
 * directory under $TMPDIR for fixtures (a Berkeley DB environment, sockets)
 * and harness_rmtree() removes it.
 */
#ifndef AVAL_TESTS_HARNESS_H
#define AVAL_TESTS_HARNESS_H

#include <check.h>

Suite	*buf_suite(void);
Suite	*ipc_suite(void);
Suite	*qid_suite(void);
Suite	*conf_suite(void);
Suite	*conf_local_suite(void);
Suite	*addr_suite(void);
Suite	*smtpd_cmd_suite(void);
Suite	*queue_rec_suite(void);
Suite	*queue_store_suite(void);
Suite	*queue_dsn_suite(void);
Suite	*deliver_suite(void);
Suite	*smtpd_limit_suite(void);
Suite	*tls_suite(void);
Suite	*passwd_suite(void);
Suite	*smtpd_auth_suite(void);
Suite	*xtext_suite(void);
Suite	*smtpd_data_suite(void);
Suite	*sched_suite(void);
Suite	*master_backoff_suite(void);
Suite	*window_suite(void);
Suite	*sendmail_msg_suite(void);
Suite	*dns_suite(void);
Suite	*deliver_tls_suite(void);
Suite	*route_suite(void);
Suite	*tlsstore_suite(void);
Suite	*fed_bundle_suite(void);
Suite	*json_suite(void);
Suite	*fedhealth_suite(void);
Suite	*fedfetch_suite(void);
Suite	*dnswl_suite(void);

void	 harness_log_start(void);
int	 harness_log_has(const char *needle);	/* 1 if a captured line contains it */
void	 harness_log_stop(void);

char	*harness_tmpdir(void);			/* caller frees, and rmtree()s */
void	 harness_rmtree(const char *);
const char *harness_srcdir(void);		/* $AVAL_TEST_SRCDIR or "." */

#endif
