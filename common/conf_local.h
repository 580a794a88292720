/*
 * conf_local - aliases, the mailbox map and catch-all: who is a user here
 *
 * The master reads the files the "aliases" and "mailbox-map" settings
 * name when it loads the configuration (conf_local_load(), from the
 * loader's checks); every error is "file:line: message" of that file, and
 * any error fails the load. Workers never read them: the checked,
 * expanded tables travel as items (conf_local_items(): "mailbox" is
 * "ADDRESS<tab>PATH", "alias" is "NAME<tab>TARGET", one item per final
 * target) and are rebuilt with conf_local_apply_item(), which runs the
 * same syntax checks.
 *
 * Alias file (aliases(5) without commands, files and includes):
 *
 *	# comment
 *	name: target, target, ...
 *	    target, ...		(a line that starts with a blank continues)
 *
 * name is "local@domain" (domain a local domain) or a bare local part,
 * which is that local part at every local domain; a target is an address
 * (local or remote, "<>" brackets optional) or a bare local part, which is
 * in the first local domain (as the postmaster is). Targets that are
 * postmaster@ a local domain become the postmaster's mailbox first. The
 * loader expands every alias to its final addresses: a cycle (a -> b -> a,
 * a -> a) is an error that names it, as is a chain deeper than
 * CONF_ALIAS_DEPTH_MAX or a set larger than CONF_ALIAS_TARGETS_MAX. Nothing
 * is expanded at run time but by one table lookup.
 *
 * Mailbox map:
 *
 *	ana@example.org		example.org/ana
 *	@example.org		users/%u	(every other local part)
 *
 * The path is relative to the maildir root: components of printable
 * ASCII, none empty or starting with '.', no "..", '%u' (the lowercased
 * local part) only in an @domain template.
 *
 * A local domain is "mapped" when the map names it (an address in it or
 * @domain) or an alias names it explicitly (alias@domain). Who is a user:
 *
 *	the postmaster's mailbox, an alias	always
 *	a mapped domain				the map's entries (and @domain)
 *	an unmapped domain delivered by maildir	every local part if
 *						catch-all, else nobody
 *	an unmapped domain routed elsewhere	every local part (the next
 *						hop, an LMTP store, decides)
 */
#ifndef AVAL_COMMON_CONF_LOCAL_H
#define AVAL_COMMON_CONF_LOCAL_H

#include <stddef.h>

#include "common/conf.h"

#define CONF_LOCAL_FILE_MAX	(4 * 1024 * 1024)	/* bytes in either file */
#define CONF_LOCAL_LINE_MAX	4096	/* bytes in one line */
#define CONF_ALIAS_ENTRY_MAX	(64 * 1024)	/* one entry, continued */
#define CONF_ALIASES_MAX	10000	/* aliases in the file */
#define CONF_ALIAS_DEPTH_MAX	16	/* alias -> alias -> ... */
#define CONF_ALIAS_TARGETS_MAX	1000	/* final addresses of one alias */
#define CONF_ALIAS_PAIRS_MAX	100000	/* final addresses of all, in all */
#define CONF_MAILBOXES_MAX	100000	/* mailbox map lines */

struct conf_errors;

/*
 * conf_local_load - read and check the files c names (the master, once the
 * rest of the file is read); conffile and the lines the settings were on
 * are for "cannot open" errors. The number of errors.
 */
int		 conf_local_load(struct conf *c, const char *conffile,
		    int aliases_line, int map_line, struct conf_errors *errs);

/* The parsers of the two files, on text in memory (also for tests). */
int		 conf_mailbox_map_parse(struct conf *, const char *name,
		    const char *text, size_t len, struct conf_errors *);
int		 conf_aliases_parse(struct conf *, const char *name,
		    const char *text, size_t len, struct conf_errors *);

/* Items: key "alias" or "mailbox"; 0, or -1 with err. */
int		 conf_local_apply_item(struct conf *, const char *key,
		    const char *value, char *err, size_t errlen);
void		 conf_local_items(const struct conf *, conf_item_cb, void *);
void		 conf_local_free(struct conf *);	/* the tables only */

/* The alias for a canonical mailbox (exact, then bare local part), or NULL. */
const struct conf_alias *
		 conf_alias_lookup(const struct conf *, const char *addr);

/* 1 if the local domain is mapped (above). */
int		 conf_domain_mapped(const struct conf *, const char *domain);

enum conf_rcpt {
	CONF_RCPT_NOT_LOCAL = 0,	/* not in a local domain: not ours to say */
	CONF_RCPT_KNOWN,		/* a user, an alias or the postmaster */
	CONF_RCPT_UNKNOWN,		/* 550 5.1.1 */
};
enum conf_rcpt	 conf_local_rcpt(const struct conf *, const char *addr);

/*
 * conf_mailbox_path - the Maildir of a canonical mailbox in a local domain,
 * relative to the maildir root: the map's path, the @domain template, or
 * "domain/local" (the postmaster, catch-all), lowercased. 1 with the path
 * in out; 0 when it is no user (conf_local_rcpt() says unknown); -1 when
 * the local part cannot name a directory or out is too small.
 */
/*
 * conf_local_path_valid - a mailbox path relative to the maildir root
 * (components of printable ASCII, none empty or starting with '.'; "%u"
 * only when template); 0, or -1 with why. For map lines and "maildir
 * PATH" transports alike.
 */
int		 conf_local_path_valid(const char *, int template,
		    const char **why);
int		 conf_mailbox_path(const struct conf *, const char *addr,
		    char *out, size_t outlen);

#endif
