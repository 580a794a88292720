/*
 * passwd - the password map for SMTP AUTH: who may log in, and as whom send
 *
 * The password file is text, one user a line, with '#' comments (a whole
 * line whose first non-blank is '#') and blank lines allowed:
 *
 *	user:hash
 *	user:hash:sender,sender,...
 *
 * user is 1 to PASSWD_USER_MAX octets of printable US-ASCII, no space and
 * no ':'. A name with '@' has its domain (after the last '@') lowercased,
 * here and when a client logs in, so "ana@Uni-A.ES" and "ana@uni-a.es"
 * are one user; other names compare exactly.
 *
 * hash is a libcrypt hash of one of three methods: yescrypt ("$y$", what
 * avalctl passwd makes), bcrypt ("$2b$") or sha512crypt ("$6$"). Anything
 * else is refused at load: DES and MD5 crypt, "$2a$", a locked "!..." or
 * "*", an empty hash. Each method's hash is checked for its shape (fields,
 * alphabet, length), not by hashing: loading costs no crypt work.
 *
 * The sender list says which MAIL FROM addresses the user may use: a full
 * mailbox ("ana@uni-a.es": local part exact, domain without regard to
 * case) or "@domain" (every mailbox in that domain, not its subdomains),
 * separated by commas, blanks around them ignored. With no list a user
 * whose name is a mailbox may send as that name and nothing else; any
 * other user may send only the null sender. The list replaces that
 * default: name the user's own address in it if it should stay allowed.
 *
 * The master reads the file (workers run chrooted and see no file) and
 * hands workers its text, or its entries one line each through
 * passwd_items(): passwd_load_text() reads both. A load either succeeds
 * whole, replacing the map's entries, or fails with every error collected
 * as "file:line: message" (the config loader's form) and leaves the map as
 * it was, so a bad reload keeps the last good map.
 *
 * passwd_verify() hashes with crypt_rn() (libxcrypt; never crypt(), which
 * is not reentrant) and compares in constant time. A user who is not in
 * the map costs the same work as one who is: the password is hashed
 * against a yescrypt hash of the cost avalctl passwd uses, so the time of
 * a refusal does not tell which users exist (bcrypt or sha512crypt entries,
 * or yescrypt ones of another cost, take their own time; use one kind).
 * The password is copied only into a buffer that is wiped
 * (OPENSSL_cleanse) before return; nothing here logs or keeps it. Hashing
 * takes tens of milliseconds and runs on the caller's thread.
 *
 * A map is plain data with no globals: one per process (or per reload),
 * never shared between threads while a load runs.
 */
#ifndef AVAL_COMMON_PASSWD_H
#define AVAL_COMMON_PASSWD_H

#include <stddef.h>

#define PASSWD_USER_MAX		255	/* octets of a user name (RFC 4616 minimum) */
#define PASSWD_PASS_MAX		511	/* octets of a password (libxcrypt's limit) */
#define PASSWD_LINE_MAX		4096	/* octets of a line, without its newline */
#define PASSWD_FILE_MAX		(16 * 1024 * 1024)	/* passwd_load_file() reads no more */

/*
 * Errors are collected as the configuration's are (struct conf_errors of
 * common/conf.h, freed with conf_errors_clear()): each line is
 * "file:line: message", and past CONF_ERRORS_MAX one last line says so.
 */
struct conf_errors;

struct passwd;

struct passwd	*passwd_new(void);			/* empty: every verify fails */
void		 passwd_free(struct passwd *);		/* NULL is fine */

/*
 * Loading. text need not be NUL-terminated (len octets; a NUL in it is an
 * error). filename is what the errors name. Returns 0 with the entries
 * replaced, or -1 with every error appended to errs and the map unchanged.
 * The caller clears errs with conf_errors_clear().
 */
int		 passwd_load_text(struct passwd *, const char *text, size_t len,
		    const char *filename, struct conf_errors *errs);
int		 passwd_load_file(struct passwd *, const char *path,
		    struct conf_errors *errs);	/* cannot open: "path:0: ..." */

size_t		 passwd_count(const struct passwd *);	/* users in the map */
typedef void	(*passwd_item_cb)(const char *line, void *);
/* Each entry as one canonical line without newline, in user order. */
void		 passwd_items(const struct passwd *, passwd_item_cb, void *);

/*
 * passwd_verify: 1 the password is the user's, 0 it is not or there is no
 * such user (the two are never told apart), -1 libcrypt failed (answer
 * 454 4.7.0, try later). pass is passlen octets, not NUL-terminated; one
 * holding a NUL, or longer than PASSWD_PASS_MAX, is wrong (after the same
 * work).
 */
int		 passwd_verify(const struct passwd *, const char *user,
		    const char *pass, size_t passlen);

/*
 * passwd_sender_allowed: 1 if user may use mailbox (canonical, as
 * addr_parse_path() writes it: "local@domain"; "" or "<>" for the null
 * sender, which every user may use) as MAIL FROM, 0 if not or if there is
 * no such user (after a reload removed it, say).
 */
int		 passwd_sender_allowed(const struct passwd *, const char *user,
		    const char *mailbox);

#endif
