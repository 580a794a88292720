/*
 * aval-ca - the federation operator's tool, and the member's side of it
 *
 * aval-ca keeps a federation's trust in one folder (-d DIR, default
 * /var/lib/aval-ca): the CA key and certificate, the registry of members,
 * the index of issued certificates, the CRL and bundle counters. From it,
 * it issues member certificates, revokes them, makes CRLs, and publishes
 * the signed federation bundle and the DNS whitelist zone that every
 * member's MTA loads. "aval-ca request" is the one command a member runs,
 * on its own machine: it makes the MTA's key, which never leaves there,
 * and the CSR the member sends to the operator.
 *
 * Trust: aval-ca trusts its state folder (it is the CA) and the operator
 * at the keyboard; it trusts nothing in a CSR but its own signature, and
 * issues only names the registry gives to the member named on the command
 * line. It uses OpenSSL's API for everything cryptographic and runs no
 * other program. Every command holds the folder's lock for its whole run
 * and replaces files whole (ca_state.c), so two runs at once cannot tear
 * the state.
 *
 * Standards: RFC 5280 (certificates, CRLs), RFC 5652 (CMS), RFC 5782
 * (DNS whitelist conventions), RFC 3339 (times), RFC 8259 (JSON output).
 * Documents: docs/federation-ca.md, docs/federation-bundle.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "federation/ca.h"

static const struct {
	const char	*name;
	int		(*fn)(struct ca_run *, int, char **);
	const char	*what;
} ca_cmds[] = {
	{ "init",	ca_cmd_init,	"make the federation CA" },
	{ "member",	ca_cmd_member,	"add, modify, suspend, resume or remove "
					"a member" },
	{ "list",	ca_cmd_list,	"show the registry (and --certs the "
					"certificates)" },
	{ "request",	ca_cmd_request,	"(member side) make the MTA key and "
					"its CSR" },
	{ "sign",	ca_cmd_sign,	"issue a certificate from a member's "
					"CSR" },
	{ "revoke",	ca_cmd_revoke,	"revoke a certificate, or all of a "
					"member's" },
	{ "crl",	ca_cmd_crl,	"make a new CRL" },
	{ "publish",	ca_cmd_publish,	"write the signed bundle and the DNS "
					"whitelist zone" },
	{ "status",	ca_cmd_status,	"what expires soon, what is revoked, "
					"what to republish" },
};


/*
 * ca_error - say what went wrong and what to do, on stderr (and as
 * {"error": ...} on stdout under --json, so a script reading stdout sees
 * it too). Returns -1 for "return ca_error(...)".
 */
int
ca_error(struct ca_run *run, const char *fmt, ...)
{
	char	 msg[2048];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "aval-ca: %s\n", msg);
	if (run != NULL && run->json && run->js.depth == 0) {
		ca_json_obj(&run->js, NULL);
		ca_json_str(&run->js, "error", msg);
		ca_json_end(&run->js);
	}
	return -1;
}

/* ca_days - a number of days for option opt, 1 to CA_MAX_DAYS */
int
ca_days(struct ca_run *run, const char *opt, const char *s, int *days)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < 1 ||
	    n > CA_MAX_DAYS)
		return ca_error(run, "%s %s: give a whole number of days from "
		    "1 to %d", opt, s, CA_MAX_DAYS);
	*days = (int)n;
	return 0;
}

/* ca_is_help - 1 if --help or -h is among the arguments */
int
ca_is_help(int argc, char **argv)
{
	int	 i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static void
ca_usage(FILE *f)
{
	size_t	 i;

	fprintf(f, "usage: aval-ca [-d DIR] [--json] COMMAND [ARGS]\n\n"
	    "The federation CA and registry live in DIR (default %s).\n"
	    "Every command takes --help.\n\n", CA_DEFAULT_DIR);
	for (i = 0; i < sizeof(ca_cmds) / sizeof(ca_cmds[0]); i++)
		fprintf(f, "  %-9s %s\n", ca_cmds[i].name, ca_cmds[i].what);
	fprintf(f, "\nSee docs/federation-ca.md for the issuance protocol.\n");
}

int
main(int argc, char **argv)
{
	struct ca_run	 run = { .dir = CA_DEFAULT_DIR, .lockfd = -1 };
	char		**av;
	const char	*env;
	int		 ac = 0, i, rv;
	size_t		 c;

	log_init("aval-ca", LOG_TO_STDERR);
	if ((env = getenv("AVAL_CA_DIR")) != NULL && *env != '\0')
		run.dir = env;
	/*
	 * -d DIR and --json are taken from anywhere on the line, so that
	 * "aval-ca sign x.csr --member a --json" works as readily as
	 * "aval-ca --json sign ...". What is left goes to the command.
	 */
	av = calloc((size_t)argc + 1, sizeof(*av));
	if (av == NULL)
		return 1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			run.json = 1;
		else if ((strcmp(argv[i], "-d") == 0 ||
		    strcmp(argv[i], "--dir") == 0) && i + 1 < argc)
			run.dir = argv[++i];
		else if (strncmp(argv[i], "--dir=", 6) == 0)
			run.dir = argv[i] + 6;
		else
			av[ac++] = argv[i];
	}
	ca_json_init(&run.js, stdout);
	if (ac == 0) {
		ca_usage(stderr);
		return 2;
	}
	if (strcmp(av[0], "--help") == 0 || strcmp(av[0], "-h") == 0 ||
	    strcmp(av[0], "help") == 0) {
		ca_usage(stdout);
		return 0;
	}
	for (c = 0; c < sizeof(ca_cmds) / sizeof(ca_cmds[0]); c++)
		if (strcmp(av[0], ca_cmds[c].name) == 0)
			break;
	if (c == sizeof(ca_cmds) / sizeof(ca_cmds[0])) {
		ca_error(&run, "no command \"%s\" (aval-ca --help lists them)",
		    av[0]);
		return 2;
	}
	rv = ca_cmds[c].fn(&run, ac, av);
	free(av);
	if (fflush(stdout) == EOF)
		return 1;
	return rv == 0 ? 0 : rv == 2 ? 2 : 1;
}
