/*
 * conf_priv - what conf.c and conf_parse.y share; nothing else includes it
 *
 * The file loader is only a front end. conf_parse_text() (conf_parse.y)
 * reads statements and hands every value to the same functions that
 * conf_apply_item() calls for a worker: conf_set_row() for a scalar and
 * conf_add_*() for a list entry. So a value the master accepted from the
 * file is, byte for byte, one that a worker accepts as an item.
 *
 * Each of those returns 0, or -1 with a one-line message in err (which
 * names the setting, never the file or the line: the caller adds those)
 * and the config unchanged.
 */
#ifndef AVAL_COMMON_CONF_PRIV_H
#define AVAL_COMMON_CONF_PRIV_H

#include <stddef.h>

#include "common/conf.h"
#include "common/conf_table.h"

#define CONF_TOKEN_MAX	1024		/* bytes in one word or quoted string */
#define CONF_FILE_MAX	(1024 * 1024)	/* bytes in one config file */
#define CONF_ERRORS_MAX	1000		/* then one "too many errors" line */
#define CONF_ERR_MAX	512		/* one message, before file:line */

/* The row of a scalar; block is NULL for the top level. NULL if none. */
const struct conf_row *conf_row_find(const char *block, const char *name);
int		 conf_row_index(const struct conf_row *);
int		 conf_is_block(const char *);	/* 1 if rows live in it */

int		 conf_set_row(struct conf *, const struct conf_row *,
		    const char *value, char *err, size_t errlen);
#define CONF_TLS_CERTS_MAX	16
#define CONF_TLS_MATCH_MAX	16	/* names in a tls-policy match */

int		 conf_add_listen(struct conf *, const char *addr,
		    const char *port, const char *kind, const char *clientcert,
		    const char *pregreet, char *err, size_t errlen);
int		 conf_add_listen_local(struct conf *, const char *path,
		    char *err, size_t errlen);
int		 conf_add_tls_cert(struct conf *, const char *cert,
		    const char *key, char *err, size_t errlen);
int		 conf_add_domain(struct conf_domain **, const char *what,
		    const char *name, char *err, size_t errlen);
int		 conf_add_net(struct conf *, const char *net, char *err,
		    size_t errlen);
/* arg: the next hop or error reply as written after the method, or NULL */
int		 conf_add_transport(struct conf *, const char *domain,
		    const char *method, const char *arg, char *err,
		    size_t errlen);

/*
 * A tls-policy entry: level by name; ca is a path, "system" or NULL; crl a
 * path or NULL; match the names to check, one space apart, or NULL.
 */
int		 conf_add_tls_policy(struct conf *, const char *domain,
		    const char *level, const char *ca, const char *crl,
		    const char *match, char *err, size_t errlen);
int		 conf_set_tls_client_cert(struct conf *, const char *cert,
		    const char *key, char *err, size_t errlen);
int		 conf_set_fed_cert(struct conf *, const char *cert,
		    const char *key, char *err, size_t errlen);

/* Append "file:line: message"; past CONF_ERRORS_MAX only a final note. */
void		 conf_errors_add(struct conf_errors *, const char *file,
		    int line, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));

/*
 * What the parser learned besides the values, for the loader's
 * cross-checks: the line each row was set on (0: left at its default) and
 * how many listen statements it saw, valid or not.
 */
struct conf_parse_info {
	int		*row_line;		/* conf_table_len entries */
	int		 nlisten;
	int		 listen_line;		/* of the first listen statement */
};

/*
 * conf_parse_text - parse len bytes of text (NULs are errors) into c,
 * adding every error to errs under the name file. Returns the number of
 * errors added. Keeps no state between calls.
 */
int		 conf_parse_text(struct conf *c, const char *file,
		    const char *text, size_t len, struct conf_errors *errs,
		    struct conf_parse_info *info);

#endif
