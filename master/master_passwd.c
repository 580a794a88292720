/*
 * master_passwd - the AUTH password map, read by avald and sent to smtpd
 *
 * smtpd is chrooted to an empty directory and never opens the password
 * file: avald reads it (smtpd { password-file }) with every check of
 * common/passwd.c, reports its errors as config errors (a reload with a
 * broken file keeps the running map), and sends smtpd the entries, one
 * canonical line per frame, closed by PASSWD_END.
 */
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/conf_priv.h"
#include "common/log.h"
#include "common/passwd.h"
#include "master/master.h"

static struct passwd	*master_passwd_cur, *master_passwd_new;

/*
 * master_passwd_load - the map c names (none if ""); 0 (it waits for
 * master_passwd_commit), or -1 with errs
 */
int
master_passwd_load(const struct conf *c, struct conf_errors *errs)
{
	struct passwd		*pw;

	pw = passwd_new();
	/* Its errors are "passwordfile:line: message", like the config's. */
	if (c->smtpd_password_file[0] != '\0' &&
	    passwd_load_file(pw, c->smtpd_password_file, errs) == -1) {
		passwd_free(pw);
		return -1;
	}
	passwd_free(master_passwd_new);
	master_passwd_new = pw;
	return 0;
}

/* master_passwd_commit - the loaded map replaces the running one */
void
master_passwd_commit(void)
{
	if (master_passwd_new == NULL)
		return;
	passwd_free(master_passwd_cur);
	master_passwd_cur = master_passwd_new;
	master_passwd_new = NULL;
}

static void
master_passwd_line(const char *line, void *arg)
{
	struct ipc_msg	*m;

	m = ipc_new(IPC_MASTER_PASSWD_LINE);
	ipc_put_str(m, line);
	ipc_send(arg, m);
}

/* master_passwd_send - the map to one smtpd */
void
master_passwd_send(struct ipc_peer *p)
{
	struct ipc_msg	*m;

	if (master_passwd_cur != NULL)
		passwd_items(master_passwd_cur, master_passwd_line, p);
	m = ipc_new(IPC_MASTER_PASSWD_END);
	ipc_put_u32(m, master_passwd_cur ?
	    (uint32_t)passwd_count(master_passwd_cur) : 0);
	ipc_send(p, m);
}
