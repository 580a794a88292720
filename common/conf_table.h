/*
 * conf_table - one row per scalar setting
 *
 * The row is the single source of a setting's name, type, default, range,
 * unit and description. conf.c applies defaults and range checks from it,
 * and tests/unit/check_conf.c fails when etc/aval.conf or
 * docs/configuration.md drift from it.
 */
#ifndef AVAL_COMMON_CONF_TABLE_H
#define AVAL_COMMON_CONF_TABLE_H

#include <stddef.h>

enum conf_type {
	CONF_STRING,			/* quoted or bare word */
	CONF_PATH,			/* string, made absolute at load */
	CONF_COUNT,			/* plain integer */
	CONF_SIZE,			/* bytes: 512, 64K, 35M, 1G */
	CONF_DURATION,			/* seconds: 30s, 5m, 4h, 5d */
	CONF_BOOL,			/* yes or no; stored as 1 or 0 */
};

struct conf_row {
	const char	*block;		/* NULL for top level, else "tls", "smtpd", "queue", "deliver", "local" */
	const char	*name;		/* "max-recipients" */
	enum conf_type	 type;
	size_t		 offset;	/* into struct conf */
	const char	*def;		/* default, as written in the file */
	long long	 min, max;	/* for numeric types, in base units */
	const char	*desc;		/* one line */
};

extern const struct conf_row	conf_table[];
extern const size_t		conf_table_len;

#endif
